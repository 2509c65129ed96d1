#ifndef MAILGRANTS_LDAPDIR_PRIVATE_H
#define MAILGRANTS_LDAPDIR_PRIVATE_H

/*
 * NAME
 *	ldapdir-private - the directory entry to replica conversion, apart
 *	from libldap's message access
 * SYNOPSIS
 *	#include "ldapdir-private.h"
 *
 *	int ldapdir_conv_create(const struct config *cfg,
 *				struct replica_writer *w,
 *				replica_warn_fn *warn, void *warn_context,
 *				struct ldapdir_stats *stats,
 *				struct ldapdir_ctx **ctx_r,
 *				const char **error_r);
 *	void ldapdir_conv_attrs(const struct ldapdir_ctx *ctx,
 *				enum ldapdir_kind kind, char **attrs,
 *				size_t size);
 *	int ldapdir_conv_entry(struct ldapdir_ctx *ctx,
 *			       enum ldapdir_kind kind,
 *			       const struct ldapdir_entry *entry,
 *			       const char **error_r);
 *	void ldapdir_conv_free(struct ldapdir_ctx **ctxp);
 * DESCRIPTION
 *	Not an interface for front ends: the fuzz target of the entry
 *	conversion (tests/fuzz/fuzz-ldap-entry.c) and ldapdir.c use it;
 *	ldapdir-conv.c implements it. ldapdir_read() fills a struct ldapdir_entry from each search
 *	result entry (names and values referenced in place in the
 *	message) and hands it to the same conversion.
 *
 *	An entry view is its DN (NULL when the entry had none usable:
 *	undecodable, or with a NUL byte) and its attributes in the order
 *	the server sent them. A name is a C string; values are counted
 *	bytes, not NUL-terminated. Names compare case-insensitively; of
 *	two attributes with the same name the first counts, as with
 *	ldap_get_values_len().
 *
 *	ldapdir_conv_create() splits the configured attribute lists
 *	(errors as ldapdir_read() reports them); the stats are counted
 *	into *stats, which the caller zeroes; it gives w the attribute
 *	names for the reasons of the entries it skips
 *	(replica_writer_names()). ldapdir_conv_attrs()
 *	fills attrs (size elements, LDAPDIR_CONV_ATTRS_MAX are enough)
 *	with the names of the attributes the conversion of kind reads,
 *	each once, NULL-terminated: what a search asks for.
 *	ldapdir_conv_entry()
 *	converts one entry of the given kind and stages it: 0 when it was
 *	staged or skipped (warned), -1 when the replica failed (error_r
 *	set). ldapdir_conv_free() releases the state and sets the
 *	pointer to NULL.
 * SEE ALSO
 *	ldapdir.h, replica.h
 */

#include <stddef.h>

#include <lber.h>

#include "config.h"
#include "ldapdir.h"
#include "replica.h"

/* Names in one configured attribute list; what one search asks for. */
#define LDAPDIR_ATTRS_MAX	16
#define LDAPDIR_CONV_ATTRS_MAX	(3 * LDAPDIR_ATTRS_MAX + 8)

/* In the staging order of replica.h. */
enum ldapdir_kind {
	LDAPDIR_KIND_COMPANY,
	LDAPDIR_KIND_GROUP,
	LDAPDIR_KIND_USER,
	LDAPDIR_KIND_MAILBOX,
	LDAPDIR_KIND_SHARE,
};
#define LDAPDIR_KIND_COUNT 5

struct ldapdir_attr {
	const char *name;
	const struct berval *values;	/* count of them */
	size_t count;
};

struct ldapdir_entry {
	const char *dn;			/* NULL: no usable DN */
	const struct ldapdir_attr *attrs;
	size_t count;
};

struct ldapdir_ctx;

int ldapdir_conv_create(const struct config *cfg, struct replica_writer *w,
			replica_warn_fn *warn, void *warn_context,
			struct ldapdir_stats *stats, struct ldapdir_ctx **ctx_r,
			const char **error_r);
void ldapdir_conv_attrs(const struct ldapdir_ctx *ctx, enum ldapdir_kind kind,
			char **attrs, size_t size);
int ldapdir_conv_entry(struct ldapdir_ctx *ctx, enum ldapdir_kind kind,
		       const struct ldapdir_entry *entry,
		       const char **error_r);
void ldapdir_conv_free(struct ldapdir_ctx **ctxp);

#endif
