/*
 * NAME
 *	replica - the local SQLite copy of the directory's grants
 * DESCRIPTION
 *	See replica.h for the contract. The file is in WAL mode with a
 *	persistent WAL, so that readers without write access to the
 *	directory can open it read-only, and a sync's single write
 *	transaction never blocks them: they keep seeing the previous
 *	sync until it commits. A new file (first sync, or a corrupt or
 *	foreign one being rebuilt) is written under a temporary name and
 *	renamed into place only after the whole sync committed.
 *
 *	Schema version 3 (1 had no view, 2 neither mailboxes.sent_copies
 *	nor shares.on_behalf; a reader refuses them and the sync rebuilds
 *	the file):
 *	  meta(key, value)            source, last_success, counts,
 *	                              cross_company_shares (yes/no),
 *	                              sent_copies (yes/no: the site
 *	                              default)
 *	  companies(id, dn, group_id) group_id -1: required group missing
 *	  domains(domain, company_id) every local domain, A-label
 *	  users(id, dn, login, company_id, employee)
 *	  mailboxes(id, dn, kind, address, company_id, owner_id,
 *	            group_id, rights, sent_copies)  a user's primary
 *	                               mailbox has the user's DN;
 *	                               sent_copies 1/0, NULL: the site
 *	                               default (0 for a user's primary)
 *	  addresses(address, mailbox_id)  normal form, unique
 *	  groups(id, dn), group_members(group_id, user_id)  flattened
 *	  shares(id, dn, mailbox_id, rights, not_before, not_after,
 *	         description, on_behalf), share_grantees(share_id,
 *	         user_id) flattened; on_behalf 1: the grantees may send
 *	         on behalf of the owner (From: with their own Sender:)
 *	  view recipients(address, mailbox, kind, person)  for the site's
 *	         lookup tables: address (normal form) -> its mailbox's
 *	         primary address; kind 'private'/'company'; person 1 for a
 *	         user's primary mailbox. Its columns stay as they are.
 * DIAGNOSTICS
 *	Errors name the replica file and what failed; the caller prints
 *	them.
 */

#include "replica.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "error.h"
#include "replica-index.h"
#include "replica-private.h"
#include "text.h"
#include "xalloc.h"

struct replica {
	char *path;
	sqlite3 *db;
	unsigned int read_depth;	/* nested replica_read_begin() */
	struct replica_info info;	/* replica_info() of this read */
	bool info_cached;		/* ... valid inside read_depth > 0 */
	dev_t dev;
	ino_t ino;
	sqlite3_stmt *stmts[REPLICA_STMT_COUNT];
	unsigned int cache_kib;		/* SQLite's page cache */
	const struct replica_index *index;	/* lent, replica_set_index() */
	bool index_in_use;		/* ... and current in this read */
	/* With an index lent: inotify(7) on the file, its WAL and their
	   directory (replica_watch_arm). */
	int watch_fd;			/* -1: none yet */
	bool watch_failed;		/* cannot watch: every read checks */
	bool quiet;			/* nothing written since a read that
					   found the index current */
	bool read_free;			/* this read has no transaction */
};

/* What the watch hears: any write, truncation, replacement or removal
   of the file or its WAL, and any name coming or going beside them. */
#define REPLICA_WATCH_FILE (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | \
			    IN_DELETE_SELF | IN_MOVE_SELF)
#define REPLICA_WATCH_DIR (IN_CREATE | IN_DELETE | IN_MOVED_FROM | \
			   IN_MOVED_TO)

static const char *const replica_stmt_sql[REPLICA_STMT_COUNT] = {
	[REPLICA_STMT_USER] =
		"SELECT id, company_id, employee, dn FROM users WHERE login = ?1",
	[REPLICA_STMT_MAILBOX_BY_ADDRESS] =
		"SELECT m.id, m.kind, m.address, m.dn, m.company_id,"
		" m.owner_id, m.group_id, m.rights, m.sent_copies,"
		" EXISTS (SELECT 1 FROM meta WHERE key = 'sent_copies'"
		" AND value = 'yes') FROM addresses a"
		" JOIN mailboxes m ON m.id = a.mailbox_id WHERE a.address = ?1",
	[REPLICA_STMT_DOMAIN] =
		"SELECT 1 FROM domains WHERE domain = ?1",
	[REPLICA_STMT_SHARES_OF] =
		"SELECT s.dn, s.rights, s.not_before, s.not_after,"
		" EXISTS (SELECT 1 FROM meta WHERE key = 'cross_company_shares'"
		" AND value = 'yes'), s.on_behalf"
		" FROM share_grantees g JOIN shares s ON s.id = g.share_id"
		" WHERE g.user_id = ?2 AND s.mailbox_id = ?1 ORDER BY s.dn",
	[REPLICA_STMT_IN_GROUP] =
		"SELECT 1 FROM group_members WHERE group_id = ?1"
		" AND user_id = ?2",
	/* Every mailbox a login sees now, in one statement: owned ones,
	   company ones of the user's company (and group), active shares
	   of the user's company (of any, with cross_company_shares).
	   Columns: kind of grant (1 owner, 2 company, 3 share), mailbox
	   kind, primary address, mailbox dn, granting dn, rights,
	   not_before, not_after, on_behalf. */
	[REPLICA_STMT_ACCESS] =
		"WITH u AS (SELECT id, company_id, employee FROM users"
		" WHERE login = ?1)"
		" SELECT 1, m.kind, m.address, m.dn, m.dn, m.rights, NULL, NULL, 0"
		" FROM u JOIN mailboxes m ON m.owner_id = u.id"
		" UNION ALL"
		" SELECT 2, m.kind, m.address, m.dn, m.dn, m.rights, NULL, NULL, 0"
		" FROM u JOIN mailboxes m ON m.company_id = u.company_id"
		" AND m.kind = 2 WHERE u.employee AND (m.group_id IS NULL OR"
		" EXISTS (SELECT 1 FROM group_members gm WHERE"
		" gm.group_id = m.group_id AND gm.user_id = u.id))"
		" UNION ALL"
		" SELECT 3, m.kind, m.address, m.dn, s.dn, s.rights,"
		" s.not_before, s.not_after, s.on_behalf FROM u"
		" JOIN share_grantees g ON g.user_id = u.id"
		" JOIN shares s ON s.id = g.share_id"
		" JOIN mailboxes m ON m.id = s.mailbox_id"
		" WHERE m.owner_id IS NOT u.id"
		" AND (m.company_id IS u.company_id OR EXISTS (SELECT 1"
		" FROM meta WHERE key = 'cross_company_shares'"
		" AND value = 'yes'))"
		" AND (s.not_before IS NULL OR s.not_before <= ?2)"
		" AND (s.not_after IS NULL OR s.not_after >= ?2)"
		" ORDER BY 1, 3, 5",
	/* Every login that may see a mailbox: its owner, employees for a
	   company mailbox, grantees of any share (windows checked by the
	   caller through rights_decide). */
	[REPLICA_STMT_WHO] =
		"SELECT u.login FROM mailboxes m JOIN users u"
		" ON u.id = m.owner_id WHERE m.id = ?1"
		" UNION"
		" SELECT u.login FROM mailboxes m JOIN users u"
		" ON u.company_id = m.company_id AND u.employee"
		" WHERE m.id = ?1 AND m.kind = 2"
		" UNION"
		" SELECT u.login FROM shares s JOIN share_grantees g"
		" ON g.share_id = s.id JOIN users u ON u.id = g.user_id"
		" WHERE s.mailbox_id = ?1 ORDER BY 1",
	/* recipient.c: through the view the site's own tables use. */
	[REPLICA_STMT_RECIPIENT] =
		"SELECT mailbox, person FROM recipients WHERE address = ?1",
	/* rights_share(): one share entry, whoever it names */
	[REPLICA_STMT_SHARE] = "SELECT rights FROM shares WHERE dn = ?1",
	/* replica_info(), at every read transaction of a daemon */
	[REPLICA_STMT_META] = "SELECT key, value FROM meta",
	[REPLICA_STMT_BEGIN] = "BEGIN",
	[REPLICA_STMT_COMMIT] = "COMMIT",
};

/* replica_error - format an SQLite error for the replica */
const char *replica_error(struct replica *rep, const char *what)
{
	return error_printf("replica %s: %s: %s", rep->path, what,
			    rep->db != NULL ? sqlite3_errmsg(rep->db) :
			    "not open");
}

/* replica_watch_close - stop watching (the file is closed or replaced) */
static void replica_watch_close(struct replica *rep)
{
	if (rep->watch_fd >= 0)
		close(rep->watch_fd);
	rep->watch_fd = -1;
	rep->quiet = false;
}

/* replica_watch_arm - before a read that checks the index: watch the
   file, its WAL (it may come and go: added again each time) and the
   directory, and forget what was heard so far (this read sees its
   result). Only when every watch holds can a later read trust the
   silence; otherwise watch_failed, and every read checks. */
static void replica_watch_arm(struct replica *rep)
{
	char buf[sizeof(struct inotify_event) + NAME_MAX + 1]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	char wal[PATH_MAX], dir[PATH_MAX];
	const char *slash = strrchr(rep->path, '/');
	size_t dir_len;
	int n;

	if (rep->watch_failed)
		return;
	n = snprintf(wal, sizeof(wal), "%s-wal", rep->path);
	/* "grants.db": "."; "/grants.db": "/"; "/a/grants.db": "/a" */
	dir_len = slash == NULL ? 0 : slash == rep->path ? 1 :
		(size_t)(slash - rep->path);
	if (n < 0 || (size_t)n >= sizeof(wal) || dir_len >= sizeof(dir)) {
		rep->watch_failed = true;
		return;
	}
	if (dir_len == 0) {
		memcpy(dir, ".", 2);
	} else {
		memcpy(dir, rep->path, dir_len);
		dir[dir_len] = '\0';
	}
	if (rep->watch_fd < 0) {
		rep->watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (rep->watch_fd < 0 ||
		    inotify_add_watch(rep->watch_fd, rep->path,
				      REPLICA_WATCH_FILE) < 0 ||
		    inotify_add_watch(rep->watch_fd, dir,
				      REPLICA_WATCH_DIR) < 0) {
			replica_watch_close(rep);
			rep->watch_failed = true;
			return;
		}
	}
	while (read(rep->watch_fd, buf, sizeof(buf)) > 0)
		;
	/* No WAL now: its creation is heard in the directory. */
	if (inotify_add_watch(rep->watch_fd, wal, REPLICA_WATCH_FILE) < 0 &&
	    errno != ENOENT) {
		replica_watch_close(rep);
		rep->watch_failed = true;
	}
}

/* replica_watch_silent - nothing heard since the last arming? */
static bool replica_watch_silent(struct replica *rep)
{
	char buf[sizeof(struct inotify_event) + NAME_MAX + 1]
		__attribute__((aligned(__alignof__(struct inotify_event))));

	return rep->watch_fd >= 0 &&
		read(rep->watch_fd, buf, sizeof(buf)) < 0 && errno == EAGAIN;
}

/* replica_drop_db - finalize statements and close the file */
static void replica_drop_db(struct replica *rep)
{
	for (int i = 0; i < REPLICA_STMT_COUNT; i++) {
		sqlite3_finalize(rep->stmts[i]);
		rep->stmts[i] = NULL;
	}
	if (rep->db != NULL)
		sqlite3_close_v2(rep->db);
	rep->db = NULL;
	rep->read_depth = 0;
	rep->info_cached = false;
	rep->index_in_use = false;
	rep->read_free = false;
	replica_watch_close(rep);
}

/* replica_apply_cache - set the open file's page cache to cache_kib */
static void replica_apply_cache(struct replica *rep)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%u", rep->cache_kib);
	(void)sqlite3_exec(rep->db, sql, NULL, NULL, NULL);
}

/* replica_set_cache - the page cache in KiB, now and after a reopen */
void replica_set_cache(struct replica *rep, unsigned int kib)
{
	if (rep->cache_kib == kib)
		return;
	rep->cache_kib = kib;
	if (rep->db != NULL)
		replica_apply_cache(rep);
}

/* replica_attach - open the file read-only and check it is a replica */
static int replica_attach(struct replica *rep, const char **error_r)
{
	struct stat st;
	sqlite3_stmt *st_ver = NULL;
	int rc, version;

	if (stat(rep->path, &st) < 0) {
		*error_r = error_printf("replica %s: %s (has mailgrants sync "
					"run?)", rep->path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		*error_r = error_printf("replica %s: not a regular file",
					rep->path);
		return -1;
	}
	rc = sqlite3_open_v2(rep->path, &rep->db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		*error_r = replica_error(rep, "cannot open");
		replica_drop_db(rep);
		return -1;
	}
	sqlite3_busy_timeout(rep->db, 2000);
	/* Up to 16 MiB of pages by default: the upper levels of every
	   index stay in memory; a page leaves only when the replica
	   changes. */
	replica_apply_cache(rep);
	rc = sqlite3_prepare_v2(rep->db, "PRAGMA user_version", -1, &st_ver,
				NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st_ver);
	if (rc != SQLITE_ROW) {
		*error_r = replica_error(rep, "not a replica or corrupt");
		sqlite3_finalize(st_ver);
		replica_drop_db(rep);
		return -1;
	}
	version = sqlite3_column_int(st_ver, 0);
	sqlite3_finalize(st_ver);
	if (version != REPLICA_SCHEMA_VERSION) {
		*error_r = error_printf("replica %s: schema version %d, this "
					"mailgrants reads version %d (run "
					"mailgrants sync to rebuild it)",
					rep->path, version,
					REPLICA_SCHEMA_VERSION);
		replica_drop_db(rep);
		return -1;
	}
	/* A header can survive truncation: read a row to be sure. */
	rc = sqlite3_prepare_v2(rep->db,
				"SELECT value FROM meta WHERE key = 'last_success'",
				-1, &st_ver, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st_ver);
	sqlite3_finalize(st_ver);
	if (rc == SQLITE_DONE) {
		/* No SQLite error to add ("not an error"). */
		*error_r = error_printf("replica %s: no completed sync",
					rep->path);
		replica_drop_db(rep);
		return -1;
	}
	if (rc != SQLITE_ROW) {
		*error_r = replica_error(rep, "not a replica or corrupt");
		replica_drop_db(rep);
		return -1;
	}
	rep->dev = st.st_dev;
	rep->ino = st.st_ino;
	return 0;
}

/* replica_open - open the replica read-only */
int replica_open(const char *path, struct replica **rep_r,
		 const char **error_r)
{
	struct replica *rep = xcalloc(1, sizeof(*rep));

	rep->path = xstrdup(path);
	rep->cache_kib = REPLICA_CACHE_KIB;
	rep->watch_fd = -1;
	if (replica_attach(rep, error_r) < 0) {
		/* The text is error_printf()'s: it outlives rep. */
		replica_close(&rep);
		return -1;
	}
	*rep_r = rep;
	return 0;
}

/* replica_refresh - reopen when the file was replaced */
int replica_refresh(struct replica *rep, const char **error_r)
{
	struct stat st;

	if (rep->db != NULL && stat(rep->path, &st) == 0 &&
	    st.st_dev == rep->dev && st.st_ino == rep->ino)
		return 0;
	replica_drop_db(rep);
	return replica_attach(rep, error_r);
}

/* replica_stmt - a prepared statement of the open replica */
sqlite3_stmt *replica_stmt(struct replica *rep, enum replica_stmt which,
			   const char **error_r)
{
	if (rep->db == NULL) {
		if (replica_attach(rep, error_r) < 0)
			return NULL;
	}
	if (rep->stmts[which] == NULL &&
	    sqlite3_prepare_v2(rep->db, replica_stmt_sql[which], -1,
			       &rep->stmts[which], NULL) != SQLITE_OK) {
		*error_r = replica_error(rep, "cannot prepare a query");
		return NULL;
	}
	return rep->stmts[which];
}

/* replica_step - run BEGIN or COMMIT; what names it in the error */
static int replica_step(struct replica *rep, enum replica_stmt which,
			const char *what, const char **error_r)
{
	sqlite3_stmt *st = replica_stmt(rep, which, error_r);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		*error_r = replica_error(rep, what);
		return -1;
	}
	return 0;
}

/* replica_read_begin - one read transaction for several decisions */
int replica_read_begin(struct replica *rep, const char **error_r)
{
	if (rep->read_depth > 0) {
		rep->read_depth++;
		return 0;
	}
	/* Nothing was written to the file since a read found the index
	   current: it still is, and this read needs no transaction. */
	if (rep->quiet && rep->index != NULL && rep->db != NULL &&
	    replica_watch_silent(rep)) {
		rep->read_depth = 1;
		rep->read_free = true;
		rep->index_in_use = true;
		return 0;
	}
	rep->quiet = false;
	if (rep->index != NULL && rep->db != NULL)
		replica_watch_arm(rep);
	if (replica_step(rep, REPLICA_STMT_BEGIN, "cannot begin a read",
			 error_r) < 0)
		return -1;
	rep->read_depth = 1;
	rep->info_cached = false;	/* a new snapshot */
	rep->index_in_use = false;
	if (rep->index != NULL) {
		struct replica_info info;
		const char *error;

		/* A failure here is the queries' to meet: they read the
		   file, and fail the same way. */
		rep->index_in_use = replica_info(rep, &info, &error) == 0 &&
		    info.generation[0] != '\0' &&
		    strcmp(info.generation,
			   replica_index_generation(rep->index)) == 0;
		rep->quiet = rep->index_in_use && rep->watch_fd >= 0 &&
			!rep->watch_failed;
	}
	return 0;
}

/* replica_set_index - lend an index (replica-index.h); NULL: none */
void replica_set_index(struct replica *rep, const struct replica_index *ix)
{
	if (ix != rep->index)
		rep->quiet = false;
	/* Inside a read the choice is made: it holds until its end. */
	if (rep->read_depth == 0)
		rep->index = ix;
	else if (ix != rep->index) {
		rep->index = ix;
		rep->index_in_use = false;
	}
}

/* replica_index_in_use - do this read's decisions read the index? */
bool replica_index_in_use(struct replica *rep)
{
	return rep->read_depth > 0 && rep->index_in_use;
}

/* replica_index_trusted - does this read use the index without a
   transaction of the file (nothing written since one found it current)? */
bool replica_index_trusted(struct replica *rep)
{
	return replica_index_in_use(rep) && rep->read_free;
}

/* replica_index_active - the index for this read, or NULL */
const struct replica_index *replica_index_active(struct replica *rep)
{
	return replica_index_in_use(rep) ? rep->index : NULL;
}

/* replica_read_end - end the read transaction of the outermost begin */
int replica_read_end(struct replica *rep, const char **error_r)
{
	if (rep->read_depth == 0 || --rep->read_depth > 0)
		return 0;
	rep->index_in_use = false;
	if (rep->read_free) {
		rep->read_free = false;
		return 0;
	}
	return replica_step(rep, REPLICA_STMT_COMMIT, "cannot end a read",
			    error_r);
}

/* replica_info - source, last sync and counts from the meta table */
int replica_info(struct replica *rep, struct replica_info *info_r,
		 const char **error_r)
{
	/* The daemons ask for every request (replica_max_age); inside
	   one read transaction the answer cannot change. */
	if (rep->db != NULL && rep->read_depth > 0 && rep->info_cached) {
		*info_r = rep->info;
		return 0;
	}
	sqlite3_stmt *st;
	int rc;

	memset(info_r, 0, sizeof(*info_r));
	if (rep->db == NULL && replica_attach(rep, error_r) < 0)
		return -1;
	if ((st = replica_stmt(rep, REPLICA_STMT_META, error_r)) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		const char *v = (const char *)sqlite3_column_text(st, 1);
		unsigned long n;

		if (k == NULL || v == NULL)
			continue;
		/* Read at every read transaction of a daemon: no
		   formatting. */
		n = v[0] >= '0' && v[0] <= '9' ? strtoul(v, NULL, 10) : 0;
		if (strcmp(k, "source") == 0)
			(void)text_copy(info_r->source,
					sizeof(info_r->source), v);
		else if (strcmp(k, "sync_mode") == 0)
			(void)text_copy(info_r->sync_mode,
					sizeof(info_r->sync_mode), v);
		else if (strcmp(k, "sync_cookie") == 0)
			(void)text_copy(info_r->sync_cookie,
					sizeof(info_r->sync_cookie), v);
		else if (strcmp(k, "generation") == 0)
			(void)text_copy(info_r->generation,
					sizeof(info_r->generation), v);
		else if (strcmp(k, "heartbeat") == 0)
			info_r->heartbeat = (time_t)strtoll(v, NULL, 10);
		else if (strcmp(k, "last_success") == 0)
			info_r->last_success = (time_t)strtoll(v, NULL, 10);
#define C(name) else if (strcmp(k, #name) == 0) info_r->counts.name = n
		C(companies); C(domains); C(users); C(mailboxes);
		C(addresses); C(groups); C(shares); C(grants); C(skipped);
#undef C
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		*error_r = replica_error(rep, "cannot read meta data");
		return -1;
	}
	info_r->current_at = info_r->heartbeat > info_r->last_success ?
		info_r->heartbeat : info_r->last_success;
	rep->info = *info_r;
	rep->info_cached = rep->read_depth > 0;
	return 0;
}

/* replica_close - close and NULL the caller's pointer */
void replica_close(struct replica **repp)
{
	struct replica *rep = *repp;

	if (rep == NULL)
		return;
	replica_drop_db(rep);
	free(rep->path);
	free(rep);
	*repp = NULL;
}

/* dn_parent - the DN one level up, or NULL at the top */
const char *dn_parent(const char *dn)
{
	for (const char *p = dn; *p != '\0'; p++) {
		if (*p == '\\') {
			if (p[1] == '\0')
				return NULL;
			p++;
		} else if (*p == ',') {
			return p[1] != '\0' ? p + 1 : NULL;
		}
	}
	return NULL;
}
