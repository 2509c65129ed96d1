#ifndef MAILGRANTS_REPLICA_H
#define MAILGRANTS_REPLICA_H

/*
 * NAME
 *	replica - the local SQLite copy of the directory's grants
 * SYNOPSIS
 *	#include "replica.h"
 *
 *	int replica_open(const char *path, struct replica **rep_r,
 *			 const char **error_r);
 *	int replica_refresh(struct replica *rep, const char **error_r);
 *	int replica_info(struct replica *rep, struct replica_info *info_r,
 *			 const char **error_r);
 *	void replica_close(struct replica **repp);
void replica_set_cache(struct replica *rep, unsigned int kib);
 *	void replica_set_cache(struct replica *rep, unsigned int kib);
 *	int replica_read_begin(struct replica *rep, const char **error_r);
 *	int replica_read_end(struct replica *rep, const char **error_r);
 *
 *	int replica_writer_open(const char *path,
 *				const struct replica_writer_settings *set,
 *				struct replica_writer **w_r,
 *				const char **error_r);
 *	void replica_writer_names(struct replica_writer *w,
 *				  const struct replica_names *names);
 *	int replica_writer_async(struct replica_writer *w,
 *				 const char **error_r);
 *	int replica_stage_company(struct replica_writer *w,
 *				  const struct replica_company *c);
 *	int replica_stage_group(...);
 *	int replica_stage_user(...);
 *	int replica_stage_mailbox(...);
 *	int replica_stage_share(...);
 *	int replica_writer_commit(struct replica_writer **wp,
 *				  const char *source,
 *				  struct replica_counts *counts_r,
 *				  const char **error_r);
 *	void replica_writer_abort(struct replica_writer **wp);
 *	int replica_writer_async(struct replica_writer *w,
 *				 const char **error_r);
 *	void replica_writer_meta(struct replica_writer *w, const char *key,
 *				 const char *value);
 *	int replica_meta_write(const char *path, const char *const *keys,
 *			       const char *const *values,
 *			       const char **error_r);
 *
 *	const char *dn_parent(const char *dn);
 * DESCRIPTION
 *	Readers open the replica read-only (replica_open) and check its
 *	schema version; a missing file, a file that is not a replica, a
 *	corrupt one or one of another version is an error (-1) that the
 *	caller turns into a temporary failure. Every query runs in its
 *	own read transaction, so a reader sees either the last sync or
 *	the one before, never a mix. replica_refresh() is cheap (one
 *	stat) and reopens the file when it was replaced.
 *	replica_set_cache() sets SQLite's page cache of the open file,
 *	and of any reopened one, in KiB (REPLICA_CACHE_KIB by default).
 *
 *	The one writer (mailgrants sync) stages a whole directory, in the
 *	order companies, groups, users, mailboxes, shares, then commits:
 *	references by DN (owners, groups, grantees, the mailbox a share
 *	sits below, the company a user or mailbox sits below) are
 *	resolved at commit, nested groups flattened with a cycle guard,
 *	and the result replaces the previous content in one transaction.
 *	Until the commit, readers see the previous replica; a writer that
 *	fails or dies leaves it as it was.
 *
 *	DNs handed to the writer must be in one normal form (the LDAP
 *	source lowercases and normalises them), since they are compared
 *	as strings. Addresses are normalised by the writer (addr.h).
 *
 *	A staged entry that cannot be used (a bad address, a duplicate
 *	login, an owner that does not exist, a private mailbox without
 *	owner, a share that ends before it starts, rights that are not
 *	RFC 4314 letters) is skipped; the writer calls the warning
 *	callback with its DN and the reason, and goes on: the writer is
 *	where these rules are checked. replica_writer_names() gives it
 *	the source's names of the fields, for those reasons (the LDAP
 *	source: its attribute names).
 *	stage functions return 0 (staged), 1 (skipped, warned) or -1
 *	(the replica itself failed; error in the writer, see commit).
 * DIAGNOSTICS
 *	A reader's error texts (error_r of replica_open, replica_refresh,
 *	replica_info, replica_read_begin/end and the queries above them)
 *	are error_printf()'s (error.h): they stay valid after
 *	replica_close(), so a caller may close first and log after.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define REPLICA_SCHEMA_VERSION 3
#define REPLICA_DN_MAX 1024
#define REPLICA_CACHE_KIB 16384	/* SQLite's page cache of a reader */

/* A mailbox entry's own sent-copies setting (README "Sent copies"):
   DEFAULT means the entry says nothing, and the site default, which
   the sync writes to meta sent_copies, applies. */
enum replica_sent_copies {
	REPLICA_SENT_COPIES_DEFAULT = 0,
	REPLICA_SENT_COPIES_NO,
	REPLICA_SENT_COPIES_YES,
};

enum replica_mailbox_kind {
	REPLICA_MAILBOX_PRIVATE = 1,
	REPLICA_MAILBOX_COMPANY = 2,
};

struct replica;
struct replica_writer;

struct replica_counts {
	unsigned long companies, domains, users, mailboxes, addresses;
	unsigned long groups, shares, grants, skipped;
};

#define REPLICA_COOKIE_MAX 1024	/* hex text of an RFC 4533 cookie */
#define REPLICA_GENERATION_MAX 33	/* 32 hex digits and a NUL */

struct replica_info {
	char source[REPLICA_DN_MAX];	/* where the last sync read from */
	time_t last_success;		/* end of the last good sync */
	time_t heartbeat;		/* a live sync last confirmed it, or 0 */
	time_t current_at;		/* max(last_success, heartbeat) */
	char sync_mode[16];		/* "persist", "poll" or "" (once) */
	char sync_cookie[REPLICA_COOKIE_MAX];
	char generation[REPLICA_GENERATION_MAX];	/* of the grants */
	struct replica_counts counts;
};

/* The entries a directory source hands the writer. NULL-terminated
   arrays; optional pointers may be NULL. */
struct replica_company {
	const char *dn;
	const char *const *domains;
	const char *group_dn;		/* limits who counts as employee */
};

struct replica_group {
	const char *dn;
	const char *const *member_dns;	/* users or groups */
};

struct replica_user {
	const char *dn;
	const char *login;
	const char *const *addresses;	/* first = primary */
};

struct replica_mailbox {
	const char *dn;
	enum replica_mailbox_kind kind;
	const char *const *addresses;	/* first = primary */
	const char *owner_dn;		/* private: required */
	const char *group_dn;		/* company: optional */
	const char *rights;		/* company: optional */
	enum replica_sent_copies sent_copies;
};

struct replica_share {
	const char *dn;			/* its parent is the shared mailbox */
	const char *const *grantee_dns;	/* users or groups */
	const char *rights;		/* optional */
	time_t not_before, not_after;	/* 0 = open */
	const char *description;	/* optional */
	bool on_behalf;			/* grantees may send on behalf of
					   the owner (From: + Sender:) */
};

typedef void replica_warn_fn(void *context, const char *dn,
			     const char *reason);

/* The source's names of fields, in the reasons of skipped entries;
   NULL: the writer's own word. */
struct replica_names {
	const char *owner;		/* of a private mailbox */
	const char *not_before, *not_after;	/* of a share */
};

struct replica_writer_settings {
	const char *owner_rights;	/* defaults if NULL: lrwstipekx */
	const char *company_rights;	/* lrwstipek */
	const char *share_rights;	/* lrwstiek */
	bool cross_company_shares;	/* grantees of other companies
					   count (meta cross_company_shares) */
	bool sent_copies;		/* site default (meta sent_copies) */
	replica_warn_fn *warn;
	void *warn_context;
	bool group_set;			/* a new file goes to this group */
	gid_t group;
};

int replica_open(const char *path, struct replica **rep_r,
		 const char **error_r);
int replica_refresh(struct replica *rep, const char **error_r);
int replica_info(struct replica *rep, struct replica_info *info_r,
		 const char **error_r);
void replica_close(struct replica **repp);
void replica_set_cache(struct replica *rep, unsigned int kib);
/* replica_read_begin/end - decisions between them share one read
   transaction (one sync's view, and the locking paid once); they nest,
   and rights_* calls join an open one */
int replica_read_begin(struct replica *rep, const char **error_r);
int replica_read_end(struct replica *rep, const char **error_r);

int replica_writer_open(const char *path,
			const struct replica_writer_settings *set,
			struct replica_writer **w_r, const char **error_r);
int replica_stage_company(struct replica_writer *w,
			  const struct replica_company *c);
int replica_stage_group(struct replica_writer *w,
			const struct replica_group *g);
int replica_stage_user(struct replica_writer *w, const struct replica_user *u);
int replica_stage_mailbox(struct replica_writer *w,
			  const struct replica_mailbox *m);
int replica_stage_share(struct replica_writer *w,
			const struct replica_share *s);
int replica_writer_commit(struct replica_writer **wp, const char *source,
			  struct replica_counts *counts_r,
			  const char **error_r);
void replica_writer_abort(struct replica_writer **wp);
/* replica_writer_names - name fields as the source does (copied) */
void replica_writer_names(struct replica_writer *w,
			  const struct replica_names *names);
/* replica_writer_async - stage in a thread of its own from now on: the
   stage functions copy each entry and return at once (0, or -1 once
   the replica failed; skipped entries are warned by the thread, through
   a lock, so the warning callback is never called twice at once) */
int replica_writer_async(struct replica_writer *w, const char **error_r);
/* replica_writer_meta - one more meta value, written with the commit */
void replica_writer_meta(struct replica_writer *w, const char *key,
			 const char *value);
/* replica_meta_write - set meta values of an existing replica in one
   small transaction (the live sync's heartbeat and cookie); keys and
   values are NULL-terminated arrays of the same length; -1 also when
   the file is not a replica of our version with a completed sync */
int replica_meta_write(const char *path, const char *const *keys,
		       const char *const *values, const char **error_r);

/* dn_parent - the DN one level up, or NULL at the top; skips escapes */
const char *dn_parent(const char *dn);

#endif
