/*
 * NAME
 *	replica-write - the sync's side of the replica
 * DESCRIPTION
 *	See replica.h. Staged entries go straight into the tables inside
 *	one write transaction; references by DN wait in TEMP tables and
 *	are resolved with a few set-based statements at commit, so the
 *	writer's memory does not grow with the directory (only the list
 *	of company DNs is kept in memory, to place users and mailboxes
 *	in their company by DN ancestry).
 */

#include "replica.h"
#include "replica-queue.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "error.h"
#include "xalloc.h"

static const char *const replica_schema_sql =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
	"CREATE TABLE companies(id INTEGER PRIMARY KEY, dn TEXT NOT NULL"
	" UNIQUE, group_id INTEGER);"
	"CREATE TABLE domains(domain TEXT PRIMARY KEY, company_id INTEGER)"
	" WITHOUT ROWID;"
	"CREATE TABLE users(id INTEGER PRIMARY KEY, dn TEXT NOT NULL UNIQUE,"
	" login TEXT NOT NULL UNIQUE, company_id INTEGER,"
	" employee INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE mailboxes(id INTEGER PRIMARY KEY, dn TEXT NOT NULL"
	" UNIQUE, kind INTEGER NOT NULL, address TEXT NOT NULL,"
	" company_id INTEGER, owner_id INTEGER, group_id INTEGER,"
	" rights TEXT NOT NULL, sent_copies INTEGER);"
	"CREATE TABLE addresses(address TEXT PRIMARY KEY,"
	" mailbox_id INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE groups(id INTEGER PRIMARY KEY, dn TEXT NOT NULL UNIQUE);"
	"CREATE TABLE group_members(group_id INTEGER NOT NULL,"
	" user_id INTEGER NOT NULL, PRIMARY KEY(group_id, user_id))"
	" WITHOUT ROWID;"
	"CREATE TABLE shares(id INTEGER PRIMARY KEY, dn TEXT NOT NULL UNIQUE,"
	" mailbox_id INTEGER NOT NULL, rights TEXT NOT NULL,"
	" not_before INTEGER, not_after INTEGER, description TEXT,"
	" on_behalf INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE share_grantees(share_id INTEGER NOT NULL,"
	" user_id INTEGER NOT NULL, PRIMARY KEY(share_id, user_id))"
	" WITHOUT ROWID;"
	/* The stable face of the replica for the MTA's and Dovecot's own
	   lookup tables (README "Delivery"): every granted address in its
	   normal form, the primary address of its mailbox, the mailbox's
	   kind, and whether it is a person's primary mailbox (people
	   resolve through the site's own userdb). Tables may change
	   between versions; these columns do not. */
	"CREATE VIEW recipients(address, mailbox, kind, person) AS"
	" SELECT a.address, m.address,"
	" CASE m.kind WHEN 2 THEN 'company' ELSE 'private' END,"
	" EXISTS (SELECT 1 FROM users u WHERE u.dn = m.dn)"
	" FROM addresses a JOIN mailboxes m ON m.id = a.mailbox_id;"
	"PRAGMA user_version = 3;";

/* Secondary indexes are built after the bulk load of a new file, not
   row by row: nothing the staging looks up needs them. A sync of an
   existing file keeps them: dropping and building them again would
   change the schema, and every reader's prepared statement with it;
   Dovecot's sqlite driver (sql userdb on the replica) does not prepare
   again by itself, and each of its processes would fail one lookup
   (a 451) after every sync. */
static const char *const replica_index_sql =
	"CREATE INDEX IF NOT EXISTS mailboxes_owner ON mailboxes(owner_id);"
	"CREATE INDEX IF NOT EXISTS mailboxes_company"
	" ON mailboxes(company_id, kind);"
	"CREATE INDEX IF NOT EXISTS addresses_mailbox ON addresses(mailbox_id);"
	"CREATE INDEX IF NOT EXISTS shares_mailbox ON shares(mailbox_id);"
	"CREATE INDEX IF NOT EXISTS share_grantees_user"
	" ON share_grantees(user_id, share_id);";

_Static_assert(REPLICA_SCHEMA_VERSION == 3,
	       "replica_schema_sql writes user_version 3");

static const char *const replica_temp_sql =
	"CREATE TEMP TABLE t_company_group(company_id INTEGER, group_dn TEXT);"
	"CREATE TEMP TABLE t_group_member(group_id INTEGER, member_dn TEXT);"
	"CREATE INDEX temp.t_group_member_group ON t_group_member(group_id);"
	"CREATE TEMP TABLE t_mailbox_ref(mailbox_id INTEGER, owner_dn TEXT,"
	" group_dn TEXT);"
	"CREATE TEMP TABLE t_share_grantee(share_id INTEGER, dn TEXT);";

enum writer_stmt {
	W_COMPANY,
	W_DOMAIN,
	W_COMPANY_GROUP,
	W_GROUP,
	W_GROUP_MEMBER,
	W_LOGIN_OWNER,
	W_ADDRESS_OWNER,
	W_USER,
	W_MAILBOX,
	W_ADDRESS,
	W_MAILBOX_REF,
	W_MAILBOX_BY_DN,
	W_SHARE,
	W_SHARE_GRANTEE,
	W_COUNT
};

static const char *const writer_sql[W_COUNT] = {
	[W_COMPANY] = "INSERT INTO companies(dn) VALUES (?1)",
	[W_DOMAIN] = "INSERT OR IGNORE INTO domains(domain, company_id)"
		" VALUES (?1, ?2)",
	[W_COMPANY_GROUP] = "INSERT INTO t_company_group VALUES (?1, ?2)",
	[W_GROUP] = "INSERT OR IGNORE INTO groups(dn) VALUES (?1)",
	[W_GROUP_MEMBER] = "INSERT INTO t_group_member VALUES (?1, ?2)",
	[W_LOGIN_OWNER] = "SELECT dn FROM users WHERE login = ?1",
	[W_ADDRESS_OWNER] = "SELECT m.dn FROM addresses a JOIN mailboxes m"
		" ON m.id = a.mailbox_id WHERE a.address = ?1",
	[W_USER] = "INSERT INTO users(dn, login, company_id) VALUES (?1, ?2, ?3)",
	[W_MAILBOX] = "INSERT INTO mailboxes(dn, kind, address, company_id,"
		" owner_id, rights, sent_copies)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[W_ADDRESS] = "INSERT OR IGNORE INTO addresses(address, mailbox_id)"
		" VALUES (?1, ?2)",
	[W_MAILBOX_REF] = "INSERT INTO t_mailbox_ref VALUES (?1, ?2, ?3)",
	[W_MAILBOX_BY_DN] = "SELECT id, kind FROM mailboxes WHERE dn = ?1",
	[W_SHARE] = "INSERT INTO shares(dn, mailbox_id, rights, not_before,"
		" not_after, description, on_behalf)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[W_SHARE_GRANTEE] = "INSERT INTO t_share_grantee VALUES (?1, ?2)",
};

struct writer_company {
	char *dn;
	sqlite3_int64 id;
};

struct replica_writer {
	char *path;
	char *tmp_path;			/* building a new file */
	sqlite3 *db;
	sqlite3_stmt *st[W_COUNT];
	char *owner_rights, *company_rights, *share_rights;
	bool cross_company_shares;
	bool sent_copies;		/* the site default */
	replica_warn_fn *warn;
	void *warn_context;
	gid_t gid;
	enum writer_stage stage;
	bool began;
	struct writer_company *companies;
	size_t ncompanies, companies_size;
	bool companies_sorted;
	bool failed;			/* in the staging thread, if any */
	struct replica_queue *q;	/* staging in a thread of its own */
	struct writer_meta_value {
		char *key, *value;
	} *meta;			/* replica_writer_meta() */
	size_t nmeta, meta_alloc;
	struct replica_counts counts;
	char *owner_name, *not_before_name, *not_after_name;
	char error[1024];
};

#define RIGHTS_LETTERS "lrswipkxteacd"

static int writer_begin(struct replica_writer *w);

static pthread_mutex_t writer_warn_lock = PTHREAD_MUTEX_INITIALIZER;

/* writer_warn - report a skipped entry or value through the callback */
static void __attribute__((format(printf, 3, 4)))
writer_warn(struct replica_writer *w, const char *dn, const char *fmt, ...)
{
	char reason[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	/* The staging thread and its caller may both warn. */
	pthread_mutex_lock(&writer_warn_lock);
	if (w->warn != NULL)
		w->warn(w->warn_context, dn, reason);
	pthread_mutex_unlock(&writer_warn_lock);
}

/* writer_fail - remember an SQLite failure; the commit reports it */
static int writer_fail(struct replica_writer *w, const char *what)
{
	if (!w->failed)
		snprintf(w->error, sizeof(w->error), "replica %s: %s: %s",
			 w->path, what, sqlite3_errmsg(w->db));
	w->failed = true;
	return -1;
}

/* writer_exec - run SQL without results */
static int writer_exec(struct replica_writer *w, const char *sql,
		       const char *what)
{
	if (sqlite3_exec(w->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return writer_fail(w, what);
	return 0;
}

/* writer_step - run a prepared insert and reset it */
static int writer_step(struct replica_writer *w, enum writer_stmt which)
{
	int rc = sqlite3_step(w->st[which]);

	sqlite3_reset(w->st[which]);
	sqlite3_clear_bindings(w->st[which]);
	if (rc != SQLITE_DONE)
		return writer_fail(w, "cannot write");
	return 0;
}

/* writer_text - bind a text or NULL */
static void writer_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/* writer_lookup_text - the first column of a one-row query, or "" */
static int writer_lookup_text(struct replica_writer *w,
			      enum writer_stmt which, const char *key,
			      char *out, size_t outsize)
{
	sqlite3_stmt *st = w->st[which];
	int rc;

	writer_text(st, 1, key);
	rc = sqlite3_step(st);
	out[0] = '\0';
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);

		snprintf(out, outsize, "%s", v != NULL ? v : "");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return writer_fail(w, "cannot read back");
	return rc == SQLITE_ROW ? 1 : 0;
}

/* writer_order - enforce the staging order of replica.h */
static int writer_order(struct replica_writer *w, enum writer_stage stage)
{
	if (w->failed)
		return -1;
	if (!w->began && writer_begin(w) < 0)
		return -1;
	if (stage < w->stage) {
		snprintf(w->error, sizeof(w->error),
			 "replica %s: entries staged out of order", w->path);
		w->failed = true;
		return -1;
	}
	w->stage = stage;
	return 0;
}

/* writer_rights_ok - whether a string is a set of RFC 4314 letters */
static bool writer_rights_ok(const char *r)
{
	size_t len = strlen(r);

	return len > 0 && len < 32 && strspn(r, RIGHTS_LETTERS) == len;
}

/* company_cmp - order companies by DN for bsearch */
static int company_cmp(const void *a, const void *b)
{
	const struct writer_company *x = a, *y = b;

	return strcmp(x->dn, y->dn);
}

/* writer_company_of - the company whose subtree holds dn, or 0 */
static sqlite3_int64 writer_company_of(struct replica_writer *w,
				       const char *dn)
{
	/* No companies, no array: qsort() and bsearch() want one. */
	if (w->ncompanies == 0)
		return 0;
	if (!w->companies_sorted) {
		qsort(w->companies, w->ncompanies, sizeof(*w->companies),
		      company_cmp);
		w->companies_sorted = true;
	}
	for (const char *p = dn_parent(dn); p != NULL; p = dn_parent(p)) {
		struct writer_company key = { .dn = (char *)p };
		struct writer_company *c =
			bsearch(&key, w->companies, w->ncompanies,
				sizeof(*w->companies), company_cmp);

		if (c != NULL)
			return c->id;
	}
	return 0;
}

/* The replica's files: the sync's to write, the readers' group's to read
   (replica_group), nobody else's. -wal and -shm get it too: a reader
   without write access to -shm reads the WAL in SQLite's read-only
   mode, which needs both files to exist (sqlite.org/wal.html). */
#define WRITER_FILE_MODE 0640

/* writer_group_hint - how a sync that is not root gets a group */
static const char *writer_group_hint(int err)
{
	return err == EPERM ? " (make the replica's directory set-group-ID"
	       " and give it to that group: chgrp GROUP DIR; chmod g+s DIR;"
	       " or make the sync's user a member of it)" : "";
}

/* writer_create_file - an empty file for SQLite, with the readers' group */
static int writer_create_file(struct replica_writer *w, const char *path)
{
	struct stat st;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  WRITER_FILE_MODE);
	if (fd < 0) {
		snprintf(w->error, sizeof(w->error), "replica %s: cannot"
			 " open for writing: %s", path, strerror(errno));
		return -1;
	}
	/* The umask may have taken the group's read bit; the setgid bit
	   of the directory may have given the group already. */
	if (fstat(fd, &st) < 0 ||
	    (w->gid != (gid_t)-1 && st.st_gid != w->gid &&
	     fchown(fd, (uid_t)-1, w->gid) < 0) ||
	    fchmod(fd, WRITER_FILE_MODE) < 0) {
		int err = errno;

		snprintf(w->error, sizeof(w->error), "replica %s: cannot give"
			 " it to group %ld, mode %04o: %s%s", path,
			 (long)w->gid, WRITER_FILE_MODE, strerror(err),
			 writer_group_hint(err));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

/* writer_check_group - an existing replica's files keep the readers'
   group; one that lost it (an older layout) is given it, or reported */
static void writer_check_group(struct replica_writer *w)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	struct stat st;

	if (w->gid == (gid_t)-1)
		return;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(*suffixes); i++) {
		char *file = xasprintf("%s%s", w->path, suffixes[i]);

		if (stat(file, &st) == 0 && st.st_gid != w->gid &&
		    chown(file, (uid_t)-1, w->gid) < 0) {
			int err = errno;

			writer_warn(w, file, "group %ld, not replica_group"
				    " %ld: readers in that group cannot read"
				    " it; cannot change it: %s%s",
				    (long)st.st_gid, (long)w->gid,
				    strerror(err), writer_group_hint(err));
		}
		free(file);
	}
}

/* writer_prepare - open the file, start the transaction, prepare */
static int writer_prepare(struct replica_writer *w, bool fresh)
{
	const char *file = fresh ? w->tmp_path : w->path;
	int flags = SQLITE_OPEN_READWRITE | (fresh ? SQLITE_OPEN_CREATE : 0);
	int one = 1;

	if (sqlite3_open_v2(file, &w->db, flags, NULL) != SQLITE_OK)
		return writer_fail(w, "cannot open for writing");
	sqlite3_busy_timeout(w->db, 10000);
	if (fresh) {
		/* Renamed into place whole, so no journal is needed. */
		if (writer_exec(w, "PRAGMA journal_mode = OFF;"
				"PRAGMA synchronous = OFF;", "cannot set up") < 0)
			return -1;
	} else {
		/* Readers keep -wal and -shm: without write access to
		   the directory they could not recreate them. */
		sqlite3_file_control(w->db, "main", SQLITE_FCNTL_PERSIST_WAL,
				     &one);
		if (writer_exec(w, "PRAGMA journal_mode = WAL;"
				"PRAGMA synchronous = NORMAL;",
				"cannot set up") < 0)
			return -1;
	}
	/* Large enough that a 100,000-user sync never spills pages into
	   the WAL twice before its commit (RSS stays far below 256 MiB). */
	if (writer_exec(w, "PRAGMA cache_size = -196608;"
			"PRAGMA temp_store = FILE;", "cannot set up") < 0)
		return -1;
	return 0;
}

/* writer_begin - start the one write transaction, at the first entry */
static int writer_begin(struct replica_writer *w)
{
	bool fresh = w->tmp_path != NULL;

	/* Not at open: a sync that cannot reach the directory must not
	   touch the replica at all. */
	if (writer_exec(w, "BEGIN IMMEDIATE", "cannot begin") < 0)
		return -1;
	w->began = true;
	if (fresh) {
		if (writer_exec(w, replica_schema_sql, "cannot create") < 0)
			return -1;
	} else if (writer_exec(w,
			       "DELETE FROM meta; DELETE FROM companies;"
			       "DELETE FROM domains; DELETE FROM users;"
			       "DELETE FROM mailboxes; DELETE FROM addresses;"
			       "DELETE FROM groups; DELETE FROM group_members;"
			       "DELETE FROM shares; DELETE FROM share_grantees;",
			       "cannot clear") < 0) {
		return -1;
	}
	if (writer_exec(w, replica_temp_sql, "cannot create staging") < 0)
		return -1;
	for (int i = 0; i < W_COUNT; i++) {
		if (sqlite3_prepare_v2(w->db, writer_sql[i], -1, &w->st[i],
				       NULL) != SQLITE_OK)
			return writer_fail(w, "cannot prepare");
	}
	return 0;
}

/* writer_usable - whether an existing file is a replica of our version */
static bool writer_usable(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	bool ok = false;
	int one = 1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) ==
	    SQLITE_OK &&
	    /* The last connection to close would delete -wal and -shm,
	       which readers cannot create again. */
	    sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL,
				 &one) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT (SELECT user_version FROM"
			       " pragma_user_version), count(*) FROM meta",
			       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_int(st, 0) == REPLICA_SCHEMA_VERSION)
		ok = true;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ok;
}

/* replica_writer_open - start a sync of the replica at path */
int replica_writer_open(const char *path,
			const struct replica_writer_settings *set,
			struct replica_writer **w_r, const char **error_r)
{
	struct replica_writer *w = xcalloc(1, sizeof(*w));
	struct stat st;
	bool fresh;

	w->path = xstrdup(path);
	w->owner_rights = xstrdup(set->owner_rights != NULL ?
				  set->owner_rights : "lrwstipekx");
	w->company_rights = xstrdup(set->company_rights != NULL ?
				    set->company_rights : "lrwstipek");
	w->share_rights = xstrdup(set->share_rights != NULL ?
				  set->share_rights : "lrwstiek");
	w->cross_company_shares = set->cross_company_shares;
	w->sent_copies = set->sent_copies;
	w->warn = set->warn;
	w->warn_context = set->warn_context;
	w->gid = set->group_set ? set->group : (gid_t)-1;
	if (!writer_rights_ok(w->owner_rights) ||
	    !writer_rights_ok(w->company_rights) ||
	    !writer_rights_ok(w->share_rights)) {
		*error_r = error_printf("default rights must be RFC 4314 "
					"letters (%s)", RIGHTS_LETTERS);
		replica_writer_abort(&w);
		return -1;
	}
	fresh = stat(path, &st) < 0;
	if (!fresh && !S_ISREG(st.st_mode)) {
		/* A directory, FIFO or device (or a link to one) is a
		   mistake in the configuration, not a replica to rebuild:
		   neither read it nor put a file in its place. */
		*error_r = error_printf("replica %s: not a regular file; not"
					" replacing it", path);
		replica_writer_abort(&w);
		return -1;
	}
	if (!fresh && !writer_usable(path)) {
		writer_warn(w, path, "not a replica of schema version %d or"
			    " corrupt; building a new one",
			    REPLICA_SCHEMA_VERSION);
		fresh = true;
	}
	if (fresh) {
		w->tmp_path = xasprintf("%s.new.%ld", path, (long)getpid());
		unlink(w->tmp_path);
		/* Its group and mode before there is anything in it. */
		if (writer_create_file(w, w->tmp_path) < 0) {
			*error_r = error_printf("%s", w->error);
			free(w->tmp_path);
			w->tmp_path = NULL;	/* not ours to unlink */
			replica_writer_abort(&w);
			return -1;
		}
	}
	if (writer_prepare(w, fresh) < 0) {
		*error_r = error_printf("%s", w->error);
		replica_writer_abort(&w);
		return -1;
	}
	if (!fresh)
		writer_check_group(w);
	*w_r = w;
	return 0;
}

/* writer_address - normalise a stored address (extensions kept); it
   must be usable as a mailbox name: Dovecot shows a mailbox as
   "Shared/ADDRESS/", and its mail lives below a path made from it */
static int writer_address(const char *in, char *out, size_t outsize,
			  const char **error_r)
{
	return addr_normalize(in, NULL, ADDR_KEEP_EXTENSION | ADDR_MAILBOX,
			      out, outsize, error_r);
}

/* writer_stage_company - a company and its domains */
static int writer_stage_company(struct replica_writer *w,
			  const struct replica_company *c)
{
	char dom[256];
	const char *why;
	sqlite3_int64 id;
	unsigned int ndomains = 0;

	if (writer_order(w, STAGE_COMPANY) < 0)
		return -1;
	for (size_t i = 0; c->domains != NULL && c->domains[i] != NULL; i++)
		if (addr_domain_normalize(c->domains[i], dom, sizeof(dom),
					  &why) == 0)
			ndomains++;
	if (ndomains == 0) {
		writer_warn(w, c->dn, "company without a valid mail domain;"
			    " skipped");
		w->counts.skipped++;
		return 1;
	}
	writer_text(w->st[W_COMPANY], 1, c->dn);
	if (writer_step(w, W_COMPANY) < 0)
		return -1;
	id = sqlite3_last_insert_rowid(w->db);
	for (size_t i = 0; c->domains[i] != NULL; i++) {
		if (addr_domain_normalize(c->domains[i], dom, sizeof(dom),
					  &why) < 0) {
			writer_warn(w, c->dn, "domain ignored: %s", why);
			continue;
		}
		writer_text(w->st[W_DOMAIN], 1, dom);
		sqlite3_bind_int64(w->st[W_DOMAIN], 2, id);
		if (writer_step(w, W_DOMAIN) < 0)
			return -1;
		if (sqlite3_changes(w->db) == 0)
			writer_warn(w, c->dn, "domain %s belongs to another"
				    " company already; ignored here", dom);
	}
	if (c->group_dn != NULL) {
		sqlite3_bind_int64(w->st[W_COMPANY_GROUP], 1, id);
		writer_text(w->st[W_COMPANY_GROUP], 2, c->group_dn);
		if (writer_step(w, W_COMPANY_GROUP) < 0)
			return -1;
	}
	w->companies = xgrow(w->companies, &w->companies_size,
			     w->ncompanies + 1, sizeof(*w->companies), 64);
	w->companies[w->ncompanies].dn = xstrdup(c->dn);
	w->companies[w->ncompanies].id = id;
	w->ncompanies++;
	w->companies_sorted = false;
	return 0;
}

/* writer_stage_group - a group and its direct members */
static int writer_stage_group(struct replica_writer *w, const struct replica_group *g)
{
	sqlite3_int64 id;

	if (writer_order(w, STAGE_GROUP) < 0)
		return -1;
	writer_text(w->st[W_GROUP], 1, g->dn);
	if (writer_step(w, W_GROUP) < 0)
		return -1;
	if (sqlite3_changes(w->db) == 0)
		return 1;	/* the same DN twice: the first one counts */
	id = sqlite3_last_insert_rowid(w->db);
	for (size_t i = 0; g->member_dns != NULL && g->member_dns[i] != NULL;
	     i++) {
		sqlite3_bind_int64(w->st[W_GROUP_MEMBER], 1, id);
		writer_text(w->st[W_GROUP_MEMBER], 2, g->member_dns[i]);
		if (writer_step(w, W_GROUP_MEMBER) < 0)
			return -1;
	}
	return 0;
}

/* writer_addresses - the mailbox's addresses; 1 if the entry is unusable */
static int writer_addresses(struct replica_writer *w, const char *dn,
			    const char *const *addresses,
			    sqlite3_int64 mailbox_id)
{
	char norm[ADDR_MAX], other[REPLICA_DN_MAX];
	const char *why;

	for (size_t i = 0; addresses[i] != NULL; i++) {
		if (writer_address(addresses[i], norm, sizeof(norm), &why) < 0) {
			/* The primary was checked before; aliases may go. */
			writer_warn(w, dn, "address ignored: %s", why);
			continue;
		}
		writer_text(w->st[W_ADDRESS], 1, norm);
		sqlite3_bind_int64(w->st[W_ADDRESS], 2, mailbox_id);
		if (writer_step(w, W_ADDRESS) < 0)
			return -1;
		if (sqlite3_changes(w->db) == 0 &&
		    writer_lookup_text(w, W_ADDRESS_OWNER, norm, other,
				       sizeof(other)) >= 0 &&
		    strcmp(other, dn) != 0)
			writer_warn(w, dn, "address %s belongs to %s already;"
				    " ignored here", norm, other);
	}
	return 0;
}

/* writer_primary - check the primary address; 1 and a warning if bad */
static int writer_primary(struct replica_writer *w, const char *dn,
			  const char *const *addresses, char *norm,
			  size_t normsize)
{
	char other[REPLICA_DN_MAX];
	const char *why;
	int rc;

	if (addresses == NULL || addresses[0] == NULL) {
		writer_warn(w, dn, "no mail address; skipped");
		return 1;
	}
	if (writer_address(addresses[0], norm, normsize, &why) < 0) {
		writer_warn(w, dn, "primary address: %s; skipped", why);
		return 1;
	}
	rc = writer_lookup_text(w, W_ADDRESS_OWNER, norm, other, sizeof(other));
	if (rc < 0)
		return -1;
	if (rc > 0) {
		writer_warn(w, dn, "address %s belongs to %s already; skipped",
			    norm, other);
		return 1;
	}
	return 0;
}

/* writer_stage_user - a mail user with their primary private mailbox */
static int writer_stage_user(struct replica_writer *w, const struct replica_user *u)
{
	char login[ADDR_MAX], primary[ADDR_MAX], other[REPLICA_DN_MAX];
	const char *why;
	sqlite3_int64 company, uid, mid;
	int rc;

	if (writer_order(w, STAGE_USER) < 0)
		return -1;
	if (u->login == NULL ||
	    addr_normalize(u->login, NULL, ADDR_KEEP_EXTENSION | ADDR_ALLOW_BARE,
			   login, sizeof(login), &why) < 0) {
		writer_warn(w, u->dn, "login: %s; skipped",
			    u->login == NULL ? "missing" : why);
		w->counts.skipped++;
		return 1;
	}
	rc = writer_lookup_text(w, W_LOGIN_OWNER, login, other, sizeof(other));
	if (rc < 0)
		return -1;
	if (rc > 0) {
		writer_warn(w, u->dn, "login %s is used by %s already; skipped",
			    login, other);
		w->counts.skipped++;
		return 1;
	}
	rc = writer_primary(w, u->dn, u->addresses, primary, sizeof(primary));
	if (rc != 0) {
		if (rc > 0)
			w->counts.skipped++;
		return rc;
	}
	company = writer_company_of(w, u->dn);
	writer_text(w->st[W_USER], 1, u->dn);
	writer_text(w->st[W_USER], 2, login);
	if (company != 0)
		sqlite3_bind_int64(w->st[W_USER], 3, company);
	if (writer_step(w, W_USER) < 0)
		return -1;
	uid = sqlite3_last_insert_rowid(w->db);

	sqlite3_stmt *st = w->st[W_MAILBOX];
	writer_text(st, 1, u->dn);
	sqlite3_bind_int(st, 2, REPLICA_MAILBOX_PRIVATE);
	writer_text(st, 3, primary);
	if (company != 0)
		sqlite3_bind_int64(st, 4, company);
	sqlite3_bind_int64(st, 5, uid);
	writer_text(st, 6, w->owner_rights);
	/* Mail sent as oneself is never copied: the client's copy in
	   one's own Sent is the copy (README "Sent copies"). */
	sqlite3_bind_int(st, 7, 0);
	if (writer_step(w, W_MAILBOX) < 0)
		return -1;
	mid = sqlite3_last_insert_rowid(w->db);
	return writer_addresses(w, u->dn, u->addresses, mid);
}

/* writer_stage_mailbox - a private (not primary) or company mailbox */
static int writer_stage_mailbox(struct replica_writer *w,
			  const struct replica_mailbox *m)
{
	char primary[ADDR_MAX];
	sqlite3_int64 company, mid;
	const char *rights;
	int rc;

	if (writer_order(w, STAGE_MAILBOX) < 0)
		return -1;
	if (m->kind != REPLICA_MAILBOX_PRIVATE &&
	    m->kind != REPLICA_MAILBOX_COMPANY) {
		writer_warn(w, m->dn, "unknown mailbox kind; skipped");
		w->counts.skipped++;
		return 1;
	}
	if (m->kind == REPLICA_MAILBOX_PRIVATE && m->owner_dn == NULL) {
		writer_warn(w, m->dn, "private mailbox without %s; skipped",
			    w->owner_name != NULL ? w->owner_name : "owner");
		w->counts.skipped++;
		return 1;
	}
	rights = m->kind == REPLICA_MAILBOX_PRIVATE ? w->owner_rights :
		m->rights != NULL ? m->rights : w->company_rights;
	if (!writer_rights_ok(rights)) {
		writer_warn(w, m->dn, "rights \"%.40s\" are not RFC 4314"
			    " letters (%s); skipped", rights, RIGHTS_LETTERS);
		w->counts.skipped++;
		return 1;
	}
	/* mailgrantsUser is auxiliary: a mailbox entry may be a mail user
	   too, whose primary mailbox holds the DN already. */
	char taken[32];
	rc = writer_lookup_text(w, W_MAILBOX_BY_DN, m->dn, taken,
				sizeof(taken));
	if (rc < 0)
		return -1;
	if (rc > 0) {
		writer_warn(w, m->dn, "a mail user and a mailbox at once;"
			    " the mailbox is skipped");
		w->counts.skipped++;
		return 1;
	}
	company = writer_company_of(w, m->dn);
	if (m->kind == REPLICA_MAILBOX_COMPANY && company == 0) {
		writer_warn(w, m->dn, "company mailbox outside every company;"
			    " skipped");
		w->counts.skipped++;
		return 1;
	}
	rc = writer_primary(w, m->dn, m->addresses, primary, sizeof(primary));
	if (rc != 0) {
		if (rc > 0)
			w->counts.skipped++;
		return rc;
	}
	sqlite3_stmt *st = w->st[W_MAILBOX];
	writer_text(st, 1, m->dn);
	sqlite3_bind_int(st, 2, m->kind);
	writer_text(st, 3, primary);
	if (company != 0)
		sqlite3_bind_int64(st, 4, company);
	writer_text(st, 6, rights);
	/* NULL: the site default, applied by the readers (meta). */
	if (m->sent_copies != REPLICA_SENT_COPIES_DEFAULT)
		sqlite3_bind_int(st, 7, m->sent_copies ==
				 REPLICA_SENT_COPIES_YES);
	if (writer_step(w, W_MAILBOX) < 0)
		return -1;
	mid = sqlite3_last_insert_rowid(w->db);
	if (m->owner_dn != NULL || m->group_dn != NULL) {
		sqlite3_bind_int64(w->st[W_MAILBOX_REF], 1, mid);
		writer_text(w->st[W_MAILBOX_REF], 2,
			    m->kind == REPLICA_MAILBOX_PRIVATE ? m->owner_dn :
			    NULL);
		writer_text(w->st[W_MAILBOX_REF], 3,
			    m->kind == REPLICA_MAILBOX_COMPANY ? m->group_dn :
			    NULL);
		if (writer_step(w, W_MAILBOX_REF) < 0)
			return -1;
	}
	return writer_addresses(w, m->dn, m->addresses, mid);
}

/* writer_stage_share - a share below the mailbox it shares */
static int writer_stage_share(struct replica_writer *w, const struct replica_share *s)
{
	const char *parent = dn_parent(s->dn);
	const char *rights = s->rights != NULL ? s->rights : w->share_rights;
	sqlite3_stmt *st;
	sqlite3_int64 mid = 0, sid;
	int kind = 0, rc;

	if (writer_order(w, STAGE_SHARE) < 0)
		return -1;
	if (s->grantee_dns == NULL || s->grantee_dns[0] == NULL) {
		writer_warn(w, s->dn, "share without grantee; skipped");
		w->counts.skipped++;
		return 1;
	}
	if (!writer_rights_ok(rights)) {
		writer_warn(w, s->dn, "rights \"%.40s\" are not RFC 4314"
			    " letters (%s); skipped", rights, RIGHTS_LETTERS);
		w->counts.skipped++;
		return 1;
	}
	if (s->not_before != 0 && s->not_after != 0 &&
	    s->not_after < s->not_before) {
		writer_warn(w, s->dn, "share ends before it starts (%s is before"
			    " %s); skipped", w->not_after_name != NULL ?
			    w->not_after_name : "its end", w->not_before_name !=
			    NULL ? w->not_before_name : "its start");
		w->counts.skipped++;
		return 1;
	}
	st = w->st[W_MAILBOX_BY_DN];
	writer_text(st, 1, parent);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		mid = sqlite3_column_int64(st, 0);
		kind = sqlite3_column_int(st, 1);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return writer_fail(w, "cannot read back");
	if (mid == 0) {
		writer_warn(w, s->dn, "share is not directly below a mailbox"
			    " or mail user; skipped");
		w->counts.skipped++;
		return 1;
	}
	if (kind != REPLICA_MAILBOX_PRIVATE) {
		writer_warn(w, s->dn, "company mailboxes are not shared one by"
			    " one (every employee sees them); skipped");
		w->counts.skipped++;
		return 1;
	}
	st = w->st[W_SHARE];
	writer_text(st, 1, s->dn);
	sqlite3_bind_int64(st, 2, mid);
	writer_text(st, 3, rights);
	if (s->not_before != 0)
		sqlite3_bind_int64(st, 4, (sqlite3_int64)s->not_before);
	if (s->not_after != 0)
		sqlite3_bind_int64(st, 5, (sqlite3_int64)s->not_after);
	writer_text(st, 6, s->description);
	sqlite3_bind_int(st, 7, s->on_behalf ? 1 : 0);
	if (writer_step(w, W_SHARE) < 0)
		return -1;
	sid = sqlite3_last_insert_rowid(w->db);
	for (size_t i = 0; s->grantee_dns[i] != NULL; i++) {
		sqlite3_bind_int64(w->st[W_SHARE_GRANTEE], 1, sid);
		writer_text(w->st[W_SHARE_GRANTEE], 2, s->grantee_dns[i]);
		if (writer_step(w, W_SHARE_GRANTEE) < 0)
			return -1;
	}
	return 0;
}

/* writer_warn_rows - warn for each (dn, other) row of a query */
static int writer_warn_rows(struct replica_writer *w, const char *sql,
			    const char *before, const char *after)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(w->db, sql, -1, &st, NULL) != SQLITE_OK)
		return writer_fail(w, "cannot check references");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *dn = (const char *)sqlite3_column_text(st, 0);
		const char *other = (const char *)sqlite3_column_text(st, 1);

		writer_warn(w, dn != NULL ? dn : "", "%s%s%s", before,
			    other != NULL ? other : "", after);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return writer_fail(w, "cannot check references");
	return 0;
}

/* writer_count - one count(*) */
static unsigned long writer_count(struct replica_writer *w, const char *table)
{
	char sql[128];
	sqlite3_stmt *st;
	unsigned long n = 0;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	if (sqlite3_prepare_v2(w->db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = (unsigned long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* writer_resolve - turn staged DN references into ids, flatten groups */
static int writer_resolve(struct replica_writer *w)
{
	/* Groups a company or mailbox needs but the directory lacks:
	   -1, so that nobody is a member (fail closed). */
	if (writer_warn_rows(w,
		"SELECT c.dn, t.group_dn FROM t_company_group t"
		" JOIN companies c ON c.id = t.company_id"
		" WHERE NOT EXISTS (SELECT 1 FROM groups g"
		" WHERE g.dn = t.group_dn)",
		"employee group ", " not found: nobody counts as employee") < 0 ||
	    writer_exec(w,
		"UPDATE companies SET group_id = coalesce((SELECT g.id"
		" FROM t_company_group t JOIN groups g ON g.dn = t.group_dn"
		" WHERE t.company_id = companies.id), -1)"
		" WHERE id IN (SELECT company_id FROM t_company_group)",
		"cannot resolve company groups") < 0)
		return -1;

	/* Nested groups: UNION (not UNION ALL) stops at cycles. */
	if (writer_exec(w,
		"WITH RECURSIVE closure(top, sub) AS ("
		" SELECT id, id FROM groups"
		" UNION"
		" SELECT c.top, g.id FROM closure c"
		" JOIN t_group_member m ON m.group_id = c.sub"
		" JOIN groups g ON g.dn = m.member_dn)"
		" INSERT OR IGNORE INTO group_members(group_id, user_id)"
		" SELECT c.top, u.id FROM closure c"
		" JOIN t_group_member m ON m.group_id = c.sub"
		" JOIN users u ON u.dn = m.member_dn",
		"cannot flatten groups") < 0)
		return -1;

	if (writer_exec(w,
		"UPDATE users SET employee = 1 WHERE company_id IS NOT NULL"
		" AND (SELECT CASE WHEN c.group_id IS NULL THEN 1"
		" ELSE EXISTS (SELECT 1 FROM group_members gm"
		" WHERE gm.group_id = c.group_id AND gm.user_id = users.id)"
		" END FROM companies c WHERE c.id = users.company_id)",
		"cannot resolve employees") < 0)
		return -1;

	/* Owners of private mailboxes; a mailbox without one goes. */
	if (writer_exec(w,
		"UPDATE mailboxes SET owner_id = u.id FROM t_mailbox_ref r"
		" JOIN users u ON u.dn = r.owner_dn"
		" WHERE r.mailbox_id = mailboxes.id AND mailboxes.kind = 1",
		"cannot resolve owners") < 0 ||
	    writer_warn_rows(w,
		"SELECT m.dn, r.owner_dn FROM mailboxes m JOIN t_mailbox_ref r"
		" ON r.mailbox_id = m.id WHERE m.kind = 1"
		" AND m.owner_id IS NULL",
		"owner ", " is not a mail user; mailbox skipped") < 0 ||
	    writer_exec(w,
		"CREATE TEMP TABLE t_orphan AS SELECT id FROM mailboxes"
		" WHERE kind = 1 AND owner_id IS NULL;"
		"DELETE FROM addresses WHERE mailbox_id IN"
		" (SELECT id FROM t_orphan);"
		"DELETE FROM shares WHERE mailbox_id IN"
		" (SELECT id FROM t_orphan);"
		"DELETE FROM mailboxes WHERE id IN (SELECT id FROM t_orphan);",
		"cannot drop orphans") < 0)
		return -1;

	if (writer_warn_rows(w,
		"SELECT m.dn, r.group_dn FROM mailboxes m JOIN t_mailbox_ref r"
		" ON r.mailbox_id = m.id WHERE r.group_dn IS NOT NULL"
		" AND NOT EXISTS (SELECT 1 FROM groups g"
		" WHERE g.dn = r.group_dn)",
		"group ", " not found: nobody sees this mailbox") < 0 ||
	    writer_exec(w,
		"UPDATE mailboxes SET group_id = coalesce((SELECT g.id FROM"
		" t_mailbox_ref r JOIN groups g ON g.dn = r.group_dn"
		" WHERE r.mailbox_id = mailboxes.id), -1)"
		" WHERE id IN (SELECT mailbox_id FROM t_mailbox_ref"
		" WHERE group_dn IS NOT NULL)",
		"cannot resolve mailbox groups") < 0)
		return -1;

	/* Grantees: users directly, groups through their members. */
	if (writer_warn_rows(w,
		"SELECT s.dn, t.dn FROM t_share_grantee t JOIN shares s"
		" ON s.id = t.share_id WHERE NOT EXISTS (SELECT 1 FROM users u"
		" WHERE u.dn = t.dn) AND NOT EXISTS (SELECT 1 FROM groups g"
		" WHERE g.dn = t.dn)",
		"grantee ", " is not a mail user or group; ignored") < 0 ||
	    writer_exec(w,
		"INSERT OR IGNORE INTO share_grantees(share_id, user_id)"
		" SELECT t.share_id, u.id FROM t_share_grantee t"
		" JOIN shares s ON s.id = t.share_id"
		" JOIN users u ON u.dn = t.dn;"
		"INSERT OR IGNORE INTO share_grantees(share_id, user_id)"
		" SELECT t.share_id, gm.user_id FROM t_share_grantee t"
		" JOIN shares s ON s.id = t.share_id"
		" JOIN groups g ON g.dn = t.dn"
		" JOIN group_members gm ON gm.group_id = g.id",
		"cannot resolve grantees") < 0)
		return -1;

	/* Grantees of another company than the mailbox's get nothing
	   unless the site allows it (the readers check, at every
	   decision, against meta cross_company_shares); say so here,
	   naming the share, so that its owner or an admin can act. */
	/* Each group's companies first: one pass over the memberships,
	   not one per share that names the group. */
	if (!w->cross_company_shares &&
	    (writer_warn_rows(w,
		"SELECT s.dn, u.dn FROM t_share_grantee t"
		" JOIN users u ON u.dn = t.dn"
		" JOIN shares s ON s.id = t.share_id"
		" JOIN mailboxes m ON m.id = s.mailbox_id"
		" WHERE u.company_id IS NOT m.company_id ORDER BY s.dn, u.dn",
		"grantee ", " is not of the mailbox's company: it gets"
		" nothing (cross_company_shares = no)") < 0 ||
	     writer_exec(w,
		"CREATE TEMP TABLE t_group_company AS"
		" SELECT DISTINCT gm.group_id, u.company_id"
		" FROM group_members gm JOIN users u ON u.id = gm.user_id",
		"cannot check group grantees") < 0 ||
	     writer_warn_rows(w,
		"SELECT s.dn, g.dn FROM t_share_grantee t"
		" JOIN groups g ON g.dn = t.dn"
		" JOIN shares s ON s.id = t.share_id"
		" JOIN mailboxes m ON m.id = s.mailbox_id"
		" WHERE EXISTS (SELECT 1 FROM t_group_company gc"
		" WHERE gc.group_id = g.id"
		" AND gc.company_id IS NOT m.company_id) ORDER BY s.dn, g.dn",
		"group grantee ", " has members of other companies: only"
		" those of the mailbox's company get the share"
		" (cross_company_shares = no)") < 0))
		return -1;

	/* Every domain with an address is local, company or not. */
	if (writer_exec(w,
		"INSERT OR IGNORE INTO domains(domain, company_id)"
		" SELECT DISTINCT substr(address, instr(address, '@') + 1),"
		" NULL FROM addresses",
		"cannot collect domains") < 0 ||
	    writer_exec(w, replica_index_sql, "cannot build indexes") < 0)
		return -1;
	return 0;
}

/* meta_put - one key and value into the meta table */
static int meta_put(struct replica_writer *w, sqlite3_stmt *st,
		    const char *key, const char *value)
{
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		return writer_fail(w, "cannot write meta data");
	sqlite3_reset(st);
	return 0;
}

/* writer_generation - a new value for meta "generation": random, so that
   no two commits of any file share one (replica-index.h: a reader's
   index of the grants is current while the generation is its own) */
static const char *writer_generation(char *buf, size_t size)
{
	unsigned char r[16];
	struct timespec ts;
	size_t n = 0;

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		/* No entropy yet (early boot): unique enough in time. */
		(void)clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(buf, size, "%016llx%08lx%08lx",
			 (unsigned long long)ts.tv_sec,
			 (unsigned long)ts.tv_nsec, (unsigned long)getpid());
		return buf;
	}
	for (size_t i = 0; i < sizeof(r) && n + 3 <= size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%02x", r[i]);
	return buf;
}

/* writer_meta - record the sync in the meta table */
static int writer_meta(struct replica_writer *w, const char *source)
{
	sqlite3_stmt *st;
	char value[64];
	struct {
		const char *key, *table;
		unsigned long *n;
	} counts[] = {
		{ "companies", "companies", &w->counts.companies },
		{ "domains", "domains", &w->counts.domains },
		{ "users", "users", &w->counts.users },
		{ "mailboxes", "mailboxes", &w->counts.mailboxes },
		{ "addresses", "addresses", &w->counts.addresses },
		{ "groups", "groups", &w->counts.groups },
		{ "shares", "shares", &w->counts.shares },
		{ "grants", "share_grantees", &w->counts.grants },
		{ "skipped", NULL, &w->counts.skipped },	/* counted */
	};
	int ret = 0;

	if (sqlite3_prepare_v2(w->db, "INSERT OR REPLACE INTO meta(key, value)"
			       " VALUES (?1, ?2)", -1, &st, NULL) != SQLITE_OK)
		return writer_fail(w, "cannot write meta data");
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]) && ret == 0;
	     i++) {
		if (counts[i].table != NULL)
			*counts[i].n = writer_count(w, counts[i].table);
		snprintf(value, sizeof(value), "%lu", *counts[i].n);
		ret = meta_put(w, st, counts[i].key, value);
	}
	snprintf(value, sizeof(value), "%lld", (long long)time(NULL));
	/* The readers decide by cross_company_shares: a replica without
	   the key allows no cross-company share. */
	if (ret == 0 &&
	    (meta_put(w, st, "source", source) < 0 ||
	     meta_put(w, st, "cross_company_shares",
		      w->cross_company_shares ? "yes" : "no") < 0 ||
	     meta_put(w, st, "sent_copies",
		      w->sent_copies ? "yes" : "no") < 0 ||
	     meta_put(w, st, "last_success", value) < 0 ||
	     meta_put(w, st, "generation", writer_generation(value,
							    sizeof(value)))
	     < 0))
		ret = -1;
	for (size_t i = 0; i < w->nmeta && ret == 0; i++)
		ret = meta_put(w, st, w->meta[i].key, w->meta[i].value);
	sqlite3_finalize(st);
	return ret;
}

/* replica_writer_meta - remember a meta value for the commit */
void replica_writer_meta(struct replica_writer *w, const char *key,
			 const char *value)
{
	w->meta = xgrow(w->meta, &w->meta_alloc, w->nmeta + 1,
			sizeof(*w->meta), 4);
	w->meta[w->nmeta].key = xstrdup(key);
	w->meta[w->nmeta].value = xstrdup(value);
	w->nmeta++;
}

/* replica_meta_write - a few meta values, in one small transaction */
int replica_meta_write(const char *path, const char *const *keys,
		       const char *const *values, const char **error_r)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int one = 1, rc = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK)
		goto out;
	sqlite3_busy_timeout(db, 10000);
	sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	/* Only into a replica of ours with a completed sync: a heartbeat
	   must not confirm a file truncated or overwritten in place (the
	   caller rebuilds it instead). */
	if (sqlite3_prepare_v2(db, "SELECT (SELECT user_version FROM"
			       " pragma_user_version), (SELECT count(*) FROM"
			       " meta WHERE key = 'last_success')", -1, &st,
			       NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto out;
	if (sqlite3_column_int(st, 0) != REPLICA_SCHEMA_VERSION ||
	    sqlite3_column_int(st, 1) != 1) {
		*error_r = error_printf("replica %s: cannot write meta data:"
					" not a replica of schema version %d"
					" with a completed sync", path,
					REPLICA_SCHEMA_VERSION);
		sqlite3_finalize(st);
		sqlite3_close(db);
		return -1;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(key, value)"
			       " VALUES (?1, ?2)", -1, &st, NULL) != SQLITE_OK)
		goto out;
	for (size_t i = 0; keys[i] != NULL; i++) {
		sqlite3_bind_text(st, 1, keys[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, values[i], -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto out;
		sqlite3_reset(st);
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		rc = 0;
out:
	if (rc < 0) {
		*error_r = error_printf("replica %s: cannot write meta data: %s",
					path, db != NULL ? sqlite3_errmsg(db) :
					"out of memory");
	}
	sqlite3_finalize(st);
	sqlite3_close(db);	/* an open transaction rolls back */
	return rc;
}

/* writer_fsync_path - flush a file or directory to disk */
static int writer_fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* writer_install - move a freshly built file into place, in WAL mode */
static int writer_install(struct replica_writer *w)
{
	char *wal = xasprintf("%s-wal", w->path);
	char *shm = xasprintf("%s-shm", w->path);
	char *dir = xstrdup(w->path);
	char *slash = strrchr(dir, '/');
	sqlite3 *db = NULL;
	int one = 1, rc = -1;

	if (writer_fsync_path(w->tmp_path) < 0) {
		snprintf(w->error, sizeof(w->error), "replica %s: fsync: %s",
			 w->tmp_path, strerror(errno));
		goto out;
	}
	/* Leftovers of a corrupt predecessor must not meet the new file;
	   empty ones with the readers' group take their place before the
	   file does, so that no reader ever meets one it cannot open. */
	unlink(wal);
	unlink(shm);
	if (writer_create_file(w, wal) < 0 || writer_create_file(w, shm) < 0)
		goto out;
	if (rename(w->tmp_path, w->path) < 0) {
		snprintf(w->error, sizeof(w->error), "replica %s: rename: %s",
			 w->path, strerror(errno));
		goto out;
	}
	if (slash != NULL) {
		*slash = '\0';
		writer_fsync_path(*dir != '\0' ? dir : "/");
	}
	/* Switch to WAL now, so readers find -wal and -shm in place. */
	if (sqlite3_open_v2(w->path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		snprintf(w->error, sizeof(w->error), "replica %s: reopen: %s",
			 w->path, sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
	/* SQLite creates -wal and -shm at the first transaction in WAL
	   mode, not at the switch: write once so that they exist. */
	if (sqlite3_exec(db, "PRAGMA journal_mode = WAL;"
			 "BEGIN IMMEDIATE;"
			 "UPDATE meta SET value = value WHERE key = 'source';"
			 "COMMIT;", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(w->error, sizeof(w->error), "replica %s: WAL: %s",
			 w->path, sqlite3_errmsg(db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_close(db);
	free(wal);
	free(shm);
	free(dir);
	return rc;
}

/* writer_release - close everything without committing */
static void writer_release(struct replica_writer *w)
{
	for (int i = 0; i < W_COUNT; i++) {
		sqlite3_finalize(w->st[i]);
		w->st[i] = NULL;
	}
	if (w->db != NULL)
		sqlite3_close(w->db);	/* an open transaction rolls back */
	w->db = NULL;
}

/* replica_writer_commit - resolve, replace the previous content, close */
int replica_writer_commit(struct replica_writer **wp, const char *source,
			  struct replica_counts *counts_r, const char **error_r)
{
	struct replica_writer *w = *wp;
	int one = 1;

	replica_queue_stop(&w->q, false);
	if (w->failed || (!w->began && writer_begin(w) < 0) ||
	    writer_resolve(w) < 0 || writer_meta(w, source) < 0 ||
	    writer_exec(w, "COMMIT", "cannot commit") < 0)
		goto fail;
	if (w->tmp_path != NULL) {
		writer_release(w);
		if (writer_install(w) < 0)
			goto fail;
	} else {
		sqlite3_file_control(w->db, "main", SQLITE_FCNTL_PERSIST_WAL,
				     &one);
		/* Copy the sync into the main file and empty the WAL: a
		   reader that opens a replica with a large WAL pays for
		   indexing it, every time. Readers in the middle of a
		   query hold it back only for the busy timeout. */
		sqlite3_exec(w->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL,
			     NULL, NULL);
	}
	if (counts_r != NULL)
		*counts_r = w->counts;
	replica_writer_abort(wp);
	return 0;
fail:
	*error_r = error_printf("%s", w->error);
	replica_writer_abort(wp);
	return -1;
}

/* replica_writer_names - the source's names of fields, for warnings */
void replica_writer_names(struct replica_writer *w,
			  const struct replica_names *names)
{
	free(w->owner_name);
	free(w->not_before_name);
	free(w->not_after_name);
	w->owner_name = names->owner != NULL ? xstrdup(names->owner) : NULL;
	w->not_before_name = names->not_before != NULL ?
		xstrdup(names->not_before) : NULL;
	w->not_after_name = names->not_after != NULL ?
		xstrdup(names->not_after) : NULL;
}

/* replica_writer_abort - give up; the previous replica stays */
void replica_writer_abort(struct replica_writer **wp)
{
	struct replica_writer *w = *wp;

	if (w == NULL)
		return;
	replica_queue_stop(&w->q, true);
	writer_release(w);
	if (w->tmp_path != NULL)
		unlink(w->tmp_path);
	for (size_t i = 0; i < w->ncompanies; i++)
		free(w->companies[i].dn);
	for (size_t i = 0; i < w->nmeta; i++) {
		free(w->meta[i].key);
		free(w->meta[i].value);
	}
	free(w->meta);
	free(w->companies);
	free(w->owner_rights);
	free(w->company_rights);
	free(w->share_rights);
	free(w->owner_name);
	free(w->not_before_name);
	free(w->not_after_name);
	free(w->tmp_path);
	free(w->path);
	free(w);
	*wp = NULL;
}

/* writer_stage_entry - stage one entry of a kind (the queue's stage
   function too) */
static int writer_stage_entry(void *context, enum writer_stage kind,
			      const void *entry)
{
	struct replica_writer *w = context;

	switch (kind) {
	case STAGE_COMPANY:
		return writer_stage_company(w, entry);
	case STAGE_GROUP:
		return writer_stage_group(w, entry);
	case STAGE_USER:
		return writer_stage_user(w, entry);
	case STAGE_MAILBOX:
		return writer_stage_mailbox(w, entry);
	case STAGE_SHARE:
		return writer_stage_share(w, entry);
	case STAGE_NONE:
		break;
	}
	return 0;
}

/* writer_stage - stage now, or through the staging thread */
static int writer_stage(struct replica_writer *w, enum writer_stage kind,
			const void *entry)
{
	if (w->q != NULL)
		return replica_queue_put(w->q, kind, entry);
	return writer_stage_entry(w, kind, entry);
}

/* replica_writer_async - from now on, stage in a thread of its own */
int replica_writer_async(struct replica_writer *w, const char **error_r)
{
	if (w->q == NULL)
		w->q = replica_queue_start(writer_stage_entry, w, error_r);
	return w->q != NULL ? 0 : -1;
}

/* replica_stage_company - a company and its domains */
int replica_stage_company(struct replica_writer *w,
			  const struct replica_company *c)
{
	return writer_stage(w, STAGE_COMPANY, c);
}

/* replica_stage_group - a group and its direct members */
int replica_stage_group(struct replica_writer *w, const struct replica_group *g)
{
	return writer_stage(w, STAGE_GROUP, g);
}

/* replica_stage_user - a mail user with their primary private mailbox */
int replica_stage_user(struct replica_writer *w, const struct replica_user *u)
{
	return writer_stage(w, STAGE_USER, u);
}

/* replica_stage_mailbox - a private (not primary) or company mailbox */
int replica_stage_mailbox(struct replica_writer *w,
			  const struct replica_mailbox *m)
{
	return writer_stage(w, STAGE_MAILBOX, m);
}

/* replica_stage_share - a share below the mailbox it shares */
int replica_stage_share(struct replica_writer *w, const struct replica_share *s)
{
	return writer_stage(w, STAGE_SHARE, s);
}
