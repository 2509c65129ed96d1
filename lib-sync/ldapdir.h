#ifndef MAILGRANTS_LDAPDIR_H
#define MAILGRANTS_LDAPDIR_H

/*
 * NAME
 *	ldapdir - read the directory from LDAP into the replica writer
 * SYNOPSIS
 *	#include "ldapdir.h"
 *
 *	int ldapdir_read(const struct config *cfg,
 *			 struct replica_writer *w,
 *			 replica_warn_fn *warn, void *warn_context,
 *			 struct ldapdir_stats *stats_r,
 *			 const char **error_r);
 *	int ldapdir_read_with_password(const struct config *cfg,
 *			 const char *password,
 *			 struct replica_writer *w,
 *			 replica_warn_fn *warn, void *warn_context,
 *			 struct ldapdir_stats *stats_r,
 *			 const char **error_r);
 *	int ldapdir_ping(const struct config *cfg, const char **error_r);
 *	int ldapdir_dn_normalize(const char *dn, char *out, size_t outsize,
 *				 const char **error_r);
 * DESCRIPTION
 *	ldapdir_read() connects and binds as configured
 *	(ldapconn_open() with bind_dn NULL) and reads companies, groups, users, mailboxes and shares, in that
 *	order, each with one paged (RFC 2696) subtree search below
 *	cfg->ldap_base using the configured filter and attribute names.
 *	Every entry is staged into w as it arrives, so memory does not
 *	grow with the size of the directory.
 *
 *	ldapdir_read_with_password() is the same with the bind password
 *	already read (by ldapconn_password_read(), before privileges
 *	were dropped); NULL means "read cfg->ldap_bind_password_file now".
 *	The password is never logged or put into an error text.
 *
 *	ldapdir_ping() connects and binds exactly as ldapdir_read() does
 *	(reading the password file itself) and reads nothing: "is the
 *	directory reachable with this configuration".
 *
 *	An entry that cannot be used (a user without login, a mailbox
 *	of unknown kind, a share with an unparseable time, a value over
 *	its length limit, ...) is skipped: warn() gets its DN and the
 *	reason, and the rest is read. The stats count entries received,
 *	result pages and skipped entries (skipped here or by the writer).
 *
 *	ldapdir_dn_normalize() turns a DN into the one form the replica
 *	compares: ldap_dn_normalize() to the LDAPv3 string form (blanks
 *	around separators removed, special and non-ASCII characters hex
 *	escaped), then ASCII lower case.
 * DIAGNOSTICS
 *	ldapdir_read() returns 0 when the whole directory was read (some
 *	entries may have been skipped with a warning), -1 when it could
 *	not be read: the caller aborts the writer, so the previous replica
 *	stays. The other functions return 0 on success and -1 on error.
 *	Error texts are one line (error_printf() storage).
 * SEE ALSO
 *	ldapconn.h, ldapdir-private.h, gentime.h, replica.h, config.h,
 *	ldap-schema/README.md
 */

#include <stddef.h>

#include "config.h"
#include "replica.h"

struct ldapdir_stats {
	unsigned long entries, pages, skipped;
};

int ldapdir_read(const struct config *cfg, struct replica_writer *w,
		 replica_warn_fn *warn, void *warn_context,
		 struct ldapdir_stats *stats_r, const char **error_r);
int ldapdir_read_with_password(const struct config *cfg,
			       const char *password,
			       struct replica_writer *w,
			       replica_warn_fn *warn, void *warn_context,
			       struct ldapdir_stats *stats_r,
			       const char **error_r);
int ldapdir_ping(const struct config *cfg, const char **error_r);
int ldapdir_dn_normalize(const char *dn, char *out, size_t outsize,
			 const char **error_r);

#endif
