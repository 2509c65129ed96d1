/*
 * NAME
 *	replica-index - the replica's decision tables in memory
 * DESCRIPTION
 *	See replica-index.h. Layout, chosen for the heap it takes at
 *	100,000 users and 200,000 shares (bench-policy.py prints it):
 *	every text lives once in one arena and is named by its offset;
 *	logins, addresses and domains are found through open-addressing
 *	hash tables of 32-bit slots (a seeded hash: probe chains do not
 *	depend on values chosen elsewhere); group members and grants are
 *	sorted arrays searched by halving; a share's DN, nearly always
 *	"cn=NAME," followed by its mailbox's DN, keeps only the part
 *	before its mailbox's. Grants are (user, mailbox, share) triples
 *	in that order, the shares numbered in the order of their DNs,
 *	which is the order the SQL statement returns them in.
 *
 *	The copy is read in one read transaction, so that it is one
 *	generation of the file, never a mix.
 */

#include "replica-index.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "xalloc.h"

#define IX_NONE UINT32_MAX

/* Records in the arena, 8-byte aligned, each with its text after it,
   so that a lookup reaches the key and the fields in one or two cache
   lines. A reference (ix_ref) is a record's offset in 8-byte units. */
typedef uint32_t ix_ref;

struct ix_user {
	int64_t id, company_id;
	bool employee;
	char login[];
};

struct ix_mailbox {
	int64_t id, company_id, owner_id, group_id;
	uint32_t rights;		/* text offset */
	uint16_t dn_at;			/* the DN follows the address */
	int8_t kind;
	int8_t sent_copies;		/* -1: NULL */
	char address[];
};

struct ix_addr {
	ix_ref mailbox;
	char address[];
};


struct ix_pair {
	int64_t a, b;
};

struct ix_grant {
	uint32_t user, mailbox, share;	/* ids, ids, share number */
};

/* A slot: the key's hash's upper 32 bits, then the record's reference
   + 1 (0: empty); a probe reads the record only when the hash bits
   agree. The key is the text at key_at in the record. */
struct ix_hash {
	uint64_t *slots;
	uint32_t mask;
	size_t key_at;
};

struct replica_index {
	char generation[REPLICA_GENERATION_MAX];
	bool cross_company, sent_copies_default;
	uint64_t seed;

	char *text;			/* the arena */
	size_t text_len, text_alloc;

	size_t nusers;
	struct ix_hash user_hash;

	ix_ref *mailboxes;		/* in id order */
	size_t nmailboxes;

	size_t naddrs;
	struct ix_hash addr_hash;

	size_t ndomains;
	struct ix_hash domain_hash;

	struct ix_pair *members;	/* (group, user), sorted */
	size_t nmembers;

	struct replica_index_share *shares;	/* in DN order */
	size_t nshares;
	struct ix_grant *grants;	/* sorted */
	size_t ngrants;
	/* The first grant of each user with any: user id in the upper
	   32 bits, grant number + 1 in the lower (0: empty). */
	uint64_t *grant_slots;
	uint32_t grant_mask;

	size_t bytes;
};

/* The builder's state, and where its error goes. */
struct ix_build {
	struct replica_index *ix;
	sqlite3 *db;
	char *error;
	size_t error_size;
	uint32_t interned[32];		/* rights texts seen, offsets */
	size_t ninterned;
};

#define IX_HASH_START 0xcbf29ce484222325ULL	/* FNV-1a's */
#define IX_HASH_PRIME 0x100000001b3ULL

/* ix_hash_spread - spread the low bits the table uses (MurmurHash3's
   finaliser) */
static inline uint64_t ix_hash_spread(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* ix_hash_text - a seeded 64-bit hash of a string */
static uint64_t ix_hash_text(uint64_t seed, const char *s)
{
	uint64_t h = IX_HASH_START ^ seed;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= IX_HASH_PRIME;
	}
	return ix_hash_spread(h);
}

/* ix_fail - the build's error, formatted; always -1 */
static int __attribute__((format(printf, 2, 3)))
ix_fail(struct ix_build *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->error, b->error_size, fmt, ap);
	va_end(ap);
	return -1;
}

/* ix_sql_fail - an SQLite error of the build */
static int ix_sql_fail(struct ix_build *b, const char *what)
{
	return ix_fail(b, "indexing the replica: %s: %s", what,
		       sqlite3_errmsg(b->db));
}

/* ix_text - copy a text into the arena; its offset */
static uint32_t ix_text(struct replica_index *ix, const char *s, size_t len)
{
	uint32_t off;

	ix->text = xgrow(ix->text, &ix->text_alloc, ix->text_len + len + 1, 1,
			 1 << 20);
	off = (uint32_t)ix->text_len;
	memcpy(ix->text + ix->text_len, s, len);
	ix->text[ix->text_len + len] = '\0';
	ix->text_len += len + 1;
	return off;
}

/* ix_at - the record a reference names */
static inline void *ix_at(const struct replica_index *ix, ix_ref ref)
{
	return ix->text + (size_t)ref * 8;
}

/* ix_record - room for a record of size bytes in the arena, zeroed and
   8-byte aligned; its reference, or IX_NONE when the arena would pass
   32 GiB (the references' reach) */
static ix_ref ix_record(struct replica_index *ix, size_t size)
{
	size_t at = (ix->text_len + 7) & ~(size_t)7;

	if ((at + size) / 8 >= IX_NONE)
		return IX_NONE;
	ix->text = xgrow(ix->text, &ix->text_alloc, at + size, 1, 1 << 20);
	memset(ix->text + ix->text_len, 0, at + size - ix->text_len);
	ix->text_len = at + size;
	return (ix_ref)(at / 8);
}

/* ix_column - a text column ("" for NULL) and its length; NULL, with
   the build's error, when it holds a NUL byte */
static const char *ix_column(struct ix_build *b, sqlite3_stmt *st, int col,
			     size_t *len_r)
{
	const char *s = (const char *)sqlite3_column_text(st, col);

	*len_r = (size_t)sqlite3_column_bytes(st, col);
	if (s == NULL) {
		*len_r = 0;
		return "";
	}
	if (memchr(s, '\0', *len_r) != NULL) {
		ix_fail(b, "indexing the replica: a text with a NUL byte");
		return NULL;
	}
	return s;
}

/* ix_record_text - a record of fixed bytes with a column's text after
   it; its reference, or IX_NONE */
static ix_ref ix_record_text(struct ix_build *b, sqlite3_stmt *st, int col,
			     size_t fixed)
{
	size_t len;
	const char *s = ix_column(b, st, col, &len);
	ix_ref ref;

	if (s == NULL)
		return IX_NONE;
	if ((ref = ix_record(b->ix, fixed + len + 1)) == IX_NONE) {
		ix_fail(b, "indexing the replica: more than 32 GiB");
		return IX_NONE;
	}
	memcpy((char *)ix_at(b->ix, ref) + fixed, s, len);
	return ref;
}

/* ix_column_text - a text column into the arena ("" for NULL) */
static int ix_column_text(struct ix_build *b, sqlite3_stmt *st, int col,
			  uint32_t *off_r)
{
	size_t len;
	const char *s = ix_column(b, st, col, &len);

	if (s == NULL)
		return -1;
	/* Offsets are 32 bits: a replica this big is left to SQLite. */
	if (b->ix->text_len + len + 1 > UINT32_MAX)
		return ix_fail(b, "indexing the replica: more than 4 GiB of "
			       "text");
	*off_r = ix_text(b->ix, s, len);
	return 0;
}

/* ix_rights - a rights text, kept once for all the entries with it */
static int ix_rights(struct ix_build *b, sqlite3_stmt *st, int col,
		     uint32_t *off_r)
{
	const char *s = (const char *)sqlite3_column_text(st, col);

	for (size_t i = 0; s != NULL && i < b->ninterned; i++)
		if (strcmp(b->ix->text + b->interned[i], s) == 0) {
			*off_r = b->interned[i];
			return 0;
		}
	if (ix_column_text(b, st, col, off_r) < 0)
		return -1;
	if (b->ninterned < sizeof(b->interned) / sizeof(b->interned[0]))
		b->interned[b->ninterned++] = *off_r;
	return 0;
}

/* ix_hash_init - an empty table for n records keyed at key_at */
static void ix_hash_init(struct ix_hash *h, size_t n, size_t key_at)
{
	size_t size = 16;

	while (size < 2 * n)
		size *= 2;
	h->slots = xcalloc(size, sizeof(*h->slots));
	h->mask = (uint32_t)(size - 1);
	h->key_at = key_at;
}

/* ix_hash_key - the key text of a record of the table */
static inline const char *ix_hash_key(const struct replica_index *ix,
				      const struct ix_hash *h, ix_ref ref)
{
	return (const char *)ix_at(ix, ref) + h->key_at;
}

/* ix_hash_add - put a record in the table (keys are unique) */
static void ix_hash_add(struct replica_index *ix, struct ix_hash *h,
			ix_ref ref)
{
	uint64_t hash = ix_hash_text(ix->seed, ix_hash_key(ix, h, ref));
	uint32_t i = (uint32_t)hash & h->mask;

	while (h->slots[i] != 0)
		i = (i + 1) & h->mask;
	h->slots[i] = (hash & 0xffffffff00000000ULL) | (ref + 1ULL);
}

/* ix_hash_find - the record whose key is s, or IX_NONE */
static ix_ref ix_hash_find(const struct replica_index *ix,
			   const struct ix_hash *h, const char *s)
{
	uint64_t hash, slot;
	uint32_t i;

	if (h->slots == NULL)
		return IX_NONE;
	hash = ix_hash_text(ix->seed, s);
	i = (uint32_t)hash & h->mask;
	while ((slot = h->slots[i]) != 0) {
		ix_ref ref = (ix_ref)slot - 1;

		if ((slot >> 32) == (hash >> 32) &&
		    strcmp(ix_hash_key(ix, h, ref), s) == 0)
			return ref;
		i = (i + 1) & h->mask;
	}
	return IX_NONE;
}

/* ix_prepare - a statement of the build */
static sqlite3_stmt *ix_prepare(struct ix_build *b, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(b->db, sql, -1, &st, NULL) != SQLITE_OK) {
		ix_sql_fail(b, "cannot prepare a query");
		return NULL;
	}
	return st;
}

/* ix_done - finish a statement: 0 when it ran to its end */
static int ix_done(struct ix_build *b, sqlite3_stmt *st, int rc,
		   const char *what)
{
	int ret = rc == SQLITE_DONE ? 0 : ix_sql_fail(b, what);

	sqlite3_finalize(st);
	return ret;
}

/* ix_count - rows of a table, to size the arrays */
static int ix_count(struct ix_build *b, const char *sql, size_t *n_r)
{
	sqlite3_stmt *st = ix_prepare(b, sql);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*n_r = (size_t)sqlite3_column_int64(st, 0);
		rc = SQLITE_DONE;
	}
	return ix_done(b, st, rc, "cannot count rows");
}

/* ix_meta - version, generation and the site-wide switches */
static int ix_meta(struct ix_build *b)
{
	struct replica_index *ix = b->ix;
	sqlite3_stmt *st = ix_prepare(b, "SELECT key, value FROM meta");
	int rc, version = -1;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		const char *v = (const char *)sqlite3_column_text(st, 1);

		if (k == NULL || v == NULL)
			continue;
		if (strcmp(k, "generation") == 0)
			snprintf(ix->generation, sizeof(ix->generation), "%s",
				 v);
		else if (strcmp(k, "cross_company_shares") == 0)
			ix->cross_company = strcmp(v, "yes") == 0;
		else if (strcmp(k, "sent_copies") == 0)
			ix->sent_copies_default = strcmp(v, "yes") == 0;
	}
	if (ix_done(b, st, rc, "cannot read meta data") < 0)
		return -1;
	if ((st = ix_prepare(b, "PRAGMA user_version")) == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		version = sqlite3_column_int(st, 0);
		rc = SQLITE_DONE;
	}
	if (ix_done(b, st, rc, "cannot read the schema version") < 0)
		return -1;
	if (version != REPLICA_SCHEMA_VERSION)
		return ix_fail(b, "indexing the replica: schema version %d, "
			       "not %d", version, REPLICA_SCHEMA_VERSION);
	if (ix->generation[0] == '\0')
		return ix_fail(b, "indexing the replica: it has no generation "
			       "yet (written by an older mailgrants sync; the "
			       "next sync adds it)");
	return 0;
}

/* ix_users - users by login */
static int ix_users(struct ix_build *b)
{
	struct replica_index *ix = b->ix;
	sqlite3_stmt *st;
	size_t n;
	int rc;

	if (ix_count(b, "SELECT count(*) FROM users", &n) < 0 ||
	    (st = ix_prepare(b, "SELECT id, company_id, employee, login"
			     " FROM users")) == NULL)
		return -1;
	ix_hash_init(&ix->user_hash, n, offsetof(struct ix_user, login));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && ix->nusers < n) {
		ix_ref ref = ix_record_text(b, st, 3,
					    offsetof(struct ix_user, login));
		struct ix_user *u;

		if (ref == IX_NONE) {
			sqlite3_finalize(st);
			return -1;
		}
		u = ix_at(ix, ref);
		u->id = sqlite3_column_int64(st, 0);
		u->company_id = sqlite3_column_int64(st, 1);
		u->employee = sqlite3_column_int(st, 2) != 0;
		ix_hash_add(ix, &ix->user_hash, ref);
		ix->nusers++;
	}
	if (rc == SQLITE_ROW)	/* more rows than counted: cannot be */
		rc = SQLITE_CORRUPT;
	return ix_done(b, st, rc, "cannot read the users");
}

/* ix_mailbox - a mailbox record */
static inline const struct ix_mailbox *
ix_mailbox(const struct replica_index *ix, ix_ref ref)
{
	return ix_at(ix, ref);
}

/* ix_mailbox_by_id - the mailbox's record, or IX_NONE */
static ix_ref ix_mailbox_by_id(const struct replica_index *ix, int64_t id)
{
	size_t lo = 0, hi = ix->nmailboxes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ix_mailbox(ix, ix->mailboxes[mid])->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ix->nmailboxes &&
		ix_mailbox(ix, ix->mailboxes[lo])->id == id ?
		ix->mailboxes[lo] : IX_NONE;
}

/* ix_mailboxes - mailboxes in id order, and their addresses */
static int ix_mailboxes(struct ix_build *b)
{
	struct replica_index *ix = b->ix;
	sqlite3_stmt *st;
	size_t n;
	int rc;

	if (ix_count(b, "SELECT count(*) FROM mailboxes", &n) < 0 ||
	    (st = ix_prepare(b, "SELECT id, kind, address, dn, company_id,"
			     " owner_id, group_id, rights, sent_copies"
			     " FROM mailboxes ORDER BY id")) == NULL)
		return -1;
	ix->mailboxes = xcalloc(n + 1, sizeof(*ix->mailboxes));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && ix->nmailboxes < n) {
		size_t alen, dlen;
		const char *address = ix_column(b, st, 2, &alen);
		const char *dn = ix_column(b, st, 3, &dlen);
		uint32_t rights;
		struct ix_mailbox *m;
		ix_ref ref;

		if (address == NULL || dn == NULL || alen >= UINT16_MAX) {
			sqlite3_finalize(st);
			return address == NULL || dn == NULL ? -1 :
				ix_fail(b, "indexing the replica: a mailbox "
					"address too long");
		}
		if (ix_rights(b, st, 7, &rights) < 0 ||
		    (ref = ix_record(ix, offsetof(struct ix_mailbox, address) +
				     alen + 1 + dlen + 1)) == IX_NONE) {
			sqlite3_finalize(st);
			return ix_fail(b, "indexing the replica: more than "
				       "32 GiB");
		}
		m = ix_at(ix, ref);
		m->id = sqlite3_column_int64(st, 0);
		m->kind = (int8_t)sqlite3_column_int(st, 1);
		m->company_id = sqlite3_column_int64(st, 4);
		m->owner_id = sqlite3_column_int64(st, 5);
		m->group_id = sqlite3_column_int64(st, 6);
		m->sent_copies = sqlite3_column_type(st, 8) == SQLITE_NULL ?
			-1 : sqlite3_column_int(st, 8) != 0;
		m->rights = rights;
		m->dn_at = (uint16_t)(alen + 1);
		memcpy(m->address, address, alen);
		memcpy(m->address + alen + 1, dn, dlen);
		ix->mailboxes[ix->nmailboxes++] = ref;
	}
	if (rc == SQLITE_ROW)
		rc = SQLITE_CORRUPT;
	if (ix_done(b, st, rc, "cannot read the mailboxes") < 0)
		return -1;

	if (ix_count(b, "SELECT count(*) FROM addresses", &n) < 0 ||
	    (st = ix_prepare(b, "SELECT address, mailbox_id"
			     " FROM addresses")) == NULL)
		return -1;
	ix_hash_init(&ix->addr_hash, n, offsetof(struct ix_addr, address));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && ix->naddrs < n) {
		ix_ref m = ix_mailbox_by_id(ix, sqlite3_column_int64(st, 1));
		ix_ref ref;

		/* The statement joins: an address of no mailbox is none. */
		if (m == IX_NONE)
			continue;
		ref = ix_record_text(b, st, 0, offsetof(struct ix_addr,
							address));
		if (ref == IX_NONE) {
			sqlite3_finalize(st);
			return -1;
		}
		((struct ix_addr *)ix_at(ix, ref))->mailbox = m;
		ix_hash_add(ix, &ix->addr_hash, ref);
		ix->naddrs++;
	}
	if (rc == SQLITE_ROW)
		rc = SQLITE_CORRUPT;
	return ix_done(b, st, rc, "cannot read the addresses");
}

/* ix_domains - the local domains */
static int ix_domains(struct ix_build *b)
{
	struct replica_index *ix = b->ix;
	sqlite3_stmt *st;
	size_t n;
	int rc;

	if (ix_count(b, "SELECT count(*) FROM domains", &n) < 0 ||
	    (st = ix_prepare(b, "SELECT domain FROM domains")) == NULL)
		return -1;
	ix_hash_init(&ix->domain_hash, n, 0);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && ix->ndomains < n) {
		ix_ref ref = ix_record_text(b, st, 0, 0);

		if (ref == IX_NONE) {
			sqlite3_finalize(st);
			return -1;
		}
		ix_hash_add(ix, &ix->domain_hash, ref);
		ix->ndomains++;
	}
	if (rc == SQLITE_ROW)
		rc = SQLITE_CORRUPT;
	return ix_done(b, st, rc, "cannot read the domains");
}

/* ix_members - (group, user) pairs, in key order */
static int ix_members(struct ix_build *b)
{
	struct replica_index *ix = b->ix;
	sqlite3_stmt *st;
	size_t n;
	int rc;

	if (ix_count(b, "SELECT count(*) FROM group_members", &n) < 0 ||
	    (st = ix_prepare(b, "SELECT group_id, user_id FROM group_members"
			     " ORDER BY group_id, user_id")) == NULL)
		return -1;
	ix->members = xcalloc(n + 1, sizeof(*ix->members));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && ix->nmembers < n) {
		ix->members[ix->nmembers].a = sqlite3_column_int64(st, 0);
		ix->members[ix->nmembers].b = sqlite3_column_int64(st, 1);
		ix->nmembers++;
	}
	if (rc == SQLITE_ROW)
		rc = SQLITE_CORRUPT;
	return ix_done(b, st, rc, "cannot read the group members");
}

/* ix_share_dn - keep a share's DN, short when it ends in its mailbox's */
static int ix_share_dn(struct ix_build *b, sqlite3_stmt *st, int col,
		       struct replica_index_share *s, int64_t mailbox_id)
{
	struct replica_index *ix = b->ix;
	size_t len, mlen;
	const char *dn = ix_column(b, st, col, &len);
	ix_ref m = ix_mailbox_by_id(ix, mailbox_id);

	if (dn == NULL)
		return -1;
	s->mailbox = IX_NONE;
	if (m != IX_NONE) {
		const struct ix_mailbox *mb = ix_mailbox(ix, m);
		const char *mdn = mb->address + mb->dn_at;

		mlen = strlen(mdn);
		if (mlen > 0 && len > mlen + 1 && dn[len - mlen - 1] == ',' &&
		    memcmp(dn + len - mlen, mdn, mlen) == 0) {
			s->mailbox = m;
			s->dn_off = ix_text(ix, dn, len - mlen - 1);
			return 0;
		}
	}
	return ix_column_text(b, st, col, &s->dn_off);
}

/* ix_grant_cmp - order of the grants: user, mailbox, share */
static int ix_grant_cmp(const void *a, const void *b)
{
	const struct ix_grant *x = a, *y = b;

	if (x->user != y->user)
		return x->user < y->user ? -1 : 1;
	if (x->mailbox != y->mailbox)
		return x->mailbox < y->mailbox ? -1 : 1;
	return x->share < y->share ? -1 : x->share > y->share;
}

/* ix_pair_cmp - order of (id, number) pairs by id */
static int ix_pair_cmp(const void *a, const void *b)
{
	const struct ix_pair *x = a, *y = b;

	return x->a < y->a ? -1 : x->a > y->a;
}

/* ix_id32 - may an id stand in a 32-bit grant triple? */
static bool ix_id32(int64_t id)
{
	return id >= 0 && id <= (int64_t)UINT32_MAX;
}

/* ix_user_home - where a user id's probe for its first grant begins */
static uint32_t ix_user_home(const struct replica_index *ix, uint32_t user)
{
	return (uint32_t)(((uint64_t)user * 0x9e3779b97f4a7c15ULL ^
			   ix->seed) >> 32) & ix->grant_mask;
}

/* ix_user_slot - where a user id's first grant is, or would go */
static uint32_t ix_user_slot(const struct replica_index *ix, uint32_t user)
{
	uint32_t i = ix_user_home(ix, user);

	while (ix->grant_slots[i] != 0 &&
	       (uint32_t)(ix->grant_slots[i] >> 32) != user)
		i = (i + 1) & ix->grant_mask;
	return i;
}

/* ix_grant_users - a table of each user's first grant */
static void ix_grant_users(struct replica_index *ix)
{
	size_t users = 0, size = 16;

	for (size_t g = 0; g < ix->ngrants; g++)
		users += g == 0 || ix->grants[g].user != ix->grants[g - 1].user;
	while (size < 2 * users)
		size *= 2;
	ix->grant_slots = xcalloc(size, sizeof(*ix->grant_slots));
	ix->grant_mask = (uint32_t)(size - 1);
	for (size_t g = 0; g < ix->ngrants; g++)
		if (g == 0 || ix->grants[g].user != ix->grants[g - 1].user)
			ix->grant_slots[ix_user_slot(ix, ix->grants[g].user)] =
				(uint64_t)ix->grants[g].user << 32 | (g + 1);
}

/* ix_shares - shares in DN order, and who each one names */
static int ix_shares(struct ix_build *b)
{
	struct replica_index *ix = b->ix;
	struct ix_pair *by_id = NULL;	/* (share id, number) */
	int64_t *share_mailbox = NULL;
	sqlite3_stmt *st;
	size_t n, ngrants = 0;
	int rc, ret = -1;

	if (ix_count(b, "SELECT count(*) FROM shares", &n) < 0 ||
	    (st = ix_prepare(b, "SELECT id, dn, mailbox_id, rights,"
			     " not_before, not_after, on_behalf"
			     " FROM shares ORDER BY dn")) == NULL)
		return -1;
	ix->shares = xcalloc(n + 1, sizeof(*ix->shares));
	by_id = xcalloc(n + 1, sizeof(*by_id));
	share_mailbox = xcalloc(n + 1, sizeof(*share_mailbox));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && ix->nshares < n) {
		struct replica_index_share *s = &ix->shares[ix->nshares];
		int64_t mailbox_id = sqlite3_column_int64(st, 2);

		s->not_before = (time_t)sqlite3_column_int64(st, 4);
		s->not_after = (time_t)sqlite3_column_int64(st, 5);
		s->on_behalf = sqlite3_column_int(st, 6) != 0;
		if (ix_share_dn(b, st, 1, s, mailbox_id) < 0 ||
		    ix_rights(b, st, 3, &s->rights_off) < 0) {
			sqlite3_finalize(st);
			goto out;
		}
		by_id[ix->nshares].a = sqlite3_column_int64(st, 0);
		by_id[ix->nshares].b = (int64_t)ix->nshares;
		share_mailbox[ix->nshares] = mailbox_id;
		ix->nshares++;
	}
	if (rc == SQLITE_ROW)
		rc = SQLITE_CORRUPT;
	if (ix_done(b, st, rc, "cannot read the shares") < 0)
		goto out;
	qsort(by_id, ix->nshares, sizeof(*by_id), ix_pair_cmp);

	if (ix_count(b, "SELECT count(*) FROM share_grantees", &n) < 0 ||
	    (st = ix_prepare(b, "SELECT share_id, user_id"
			     " FROM share_grantees")) == NULL)
		goto out;
	ix->grants = xcalloc(n + 1, sizeof(*ix->grants));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && ngrants < n) {
		struct ix_pair key = { sqlite3_column_int64(st, 0), 0 };
		int64_t user = sqlite3_column_int64(st, 1);
		const struct ix_pair *hit =
			bsearch(&key, by_id, ix->nshares, sizeof(*by_id),
				ix_pair_cmp);

		/* The statement joins: a grant of no share is none. */
		if (hit == NULL)
			continue;
		if (!ix_id32(user) || !ix_id32(share_mailbox[hit->b])) {
			sqlite3_finalize(st);
			ix_fail(b, "indexing the replica: an id beyond 32 bits");
			goto out;
		}
		ix->grants[ngrants].user = (uint32_t)user;
		ix->grants[ngrants].mailbox = (uint32_t)share_mailbox[hit->b];
		ix->grants[ngrants].share = (uint32_t)hit->b;
		ngrants++;
	}
	if (rc == SQLITE_ROW)
		rc = SQLITE_CORRUPT;
	if (ix_done(b, st, rc, "cannot read the share grantees") < 0)
		goto out;
	ix->ngrants = ngrants;
	qsort(ix->grants, ix->ngrants, sizeof(*ix->grants), ix_grant_cmp);
	ix_grant_users(ix);
	ret = 0;
out:
	free(by_id);
	free(share_mailbox);
	return ret;
}

/* ix_seed - a hash seed nobody else chose */
static uint64_t ix_seed(void)
{
	uint64_t seed;
	struct timespec ts;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == sizeof(seed))
		return seed;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^
		(uint64_t)ts.tv_sec ^ (uint64_t)getpid() << 32;
}

/* ix_bytes - the heap the index holds */
static size_t ix_bytes(const struct replica_index *ix)
{
	return sizeof(*ix) + ix->text_alloc +
		(ix->user_hash.mask + 1UL) * sizeof(uint64_t) +
		(ix->nmailboxes + 1) * sizeof(*ix->mailboxes) +
		(ix->addr_hash.mask + 1UL) * sizeof(uint64_t) +
		(ix->domain_hash.mask + 1UL) * sizeof(uint64_t) +
		(ix->nmembers + 1) * sizeof(*ix->members) +
		(ix->nshares + 1) * sizeof(*ix->shares) +
		(ix->ngrants + 1) * sizeof(*ix->grants) +
		(ix->grant_mask + 1UL) * sizeof(*ix->grant_slots);
}

/* replica_index_build - copy the decision tables of the file at path */
int replica_index_build(const char *path, struct replica_index **ix_r,
			char *error, size_t error_size)
{
	struct ix_build b = { .error = error, .error_size = error_size };
	int ret = -1;

	*ix_r = NULL;
	b.ix = xcalloc(1, sizeof(*b.ix));
	b.ix->seed = ix_seed();
	if (sqlite3_open_v2(path, &b.db, SQLITE_OPEN_READONLY |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		ix_fail(&b, "indexing replica %s: cannot open: %s", path,
			b.db != NULL ? sqlite3_errmsg(b.db) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(b.db, 2000);
	/* Every page is read once, in order: no cache worth keeping. */
	sqlite3_exec(b.db, "PRAGMA cache_size = -2048", NULL, NULL, NULL);
	if (sqlite3_exec(b.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		ix_sql_fail(&b, "cannot begin a read");
		goto out;
	}
	if (ix_meta(&b) < 0 || ix_users(&b) < 0 || ix_mailboxes(&b) < 0 ||
	    ix_domains(&b) < 0 || ix_members(&b) < 0 || ix_shares(&b) < 0)
		goto out;
	/* One snapshot: the generation read first is the tables'. */
	if (sqlite3_exec(b.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		ix_sql_fail(&b, "cannot end the read");
		goto out;
	}
	/* The arena grew by doubling: give back what it did not use. */
	if (b.ix->text_alloc > b.ix->text_len && b.ix->text_len > 0) {
		b.ix->text = xrealloc(b.ix->text, b.ix->text_len);
		b.ix->text_alloc = b.ix->text_len;
	}
	b.ix->bytes = ix_bytes(b.ix);
	*ix_r = b.ix;
	b.ix = NULL;
	ret = 0;
out:
	if (b.db != NULL)
		sqlite3_close_v2(b.db);
	replica_index_free(&b.ix);
	return ret;
}

/* replica_index_free - free it and NULL the caller's pointer */
void replica_index_free(struct replica_index **ixp)
{
	struct replica_index *ix = *ixp;

	if (ix == NULL)
		return;
	*ixp = NULL;
	free(ix->text);
	free(ix->user_hash.slots);
	free(ix->mailboxes);
	free(ix->addr_hash.slots);
	free(ix->domain_hash.slots);
	free(ix->members);
	free(ix->shares);
	free(ix->grants);
	free(ix->grant_slots);
	free(ix);
}

/* replica_index_generation - the generation it copies */
const char *replica_index_generation(const struct replica_index *ix)
{
	return ix->generation;
}

/* replica_index_bytes - its heap */
size_t replica_index_bytes(const struct replica_index *ix)
{
	return ix->bytes;
}

/* replica_index_user - a user by login: 1 found, 0 not */
int replica_index_user(const struct replica_index *ix, const char *login,
		       struct replica_index_user *u_r)
{
	ix_ref ref = ix_hash_find(ix, &ix->user_hash, login);
	const struct ix_user *u;

	if (ref == IX_NONE)
		return 0;
	u = ix_at(ix, ref);
	u_r->id = u->id;
	u_r->company_id = u->company_id;
	u_r->employee = u->employee;
	return 1;
}

/* replica_index_mailbox - a mailbox by (normalised) address: 1 or 0 */
int replica_index_mailbox(const struct replica_index *ix,
			  const char *address,
			  struct replica_index_mailbox *m_r)
{
	ix_ref ref = ix_hash_find(ix, &ix->addr_hash, address);
	const struct ix_mailbox *m;

	if (ref == IX_NONE)
		return 0;
	m = ix_mailbox(ix, ((const struct ix_addr *)ix_at(ix, ref))->mailbox);
	m_r->id = m->id;
	m_r->kind = m->kind;
	m_r->company_id = m->company_id;
	m_r->owner_id = m->owner_id;
	m_r->group_id = m->group_id;
	m_r->sent_copies = m->sent_copies;
	m_r->address = m->address;
	m_r->dn = m->address + m->dn_at;
	m_r->rights = ix->text + m->rights;
	return 1;
}

/* replica_index_domain - is it a local domain? 1 or 0 */
int replica_index_domain(const struct replica_index *ix, const char *domain)
{
	return ix_hash_find(ix, &ix->domain_hash, domain) != IX_NONE;
}

/* replica_index_in_group - is the user a member of the group? 1 or 0 */
int replica_index_in_group(const struct replica_index *ix, int64_t group_id,
			   int64_t user_id)
{
	size_t lo = 0, hi = ix->nmembers;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct ix_pair *p = &ix->members[mid];

		if (p->a < group_id || (p->a == group_id && p->b < user_id))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ix->nmembers && ix->members[lo].a == group_id &&
		ix->members[lo].b == user_id;
}

/* ix_hash_folded - ix_hash_text() of s with ASCII letters in lower
   case: a request's address as the normal form most likely reads */
static uint64_t ix_hash_folded(uint64_t seed, const char *s)
{
	uint64_t h = IX_HASH_START ^ seed;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		h ^= c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
		h *= IX_HASH_PRIME;
	}
	return ix_hash_spread(h);
}

/* ix_probe_ref - the record a slot chain names for hash, or IX_NONE;
   without reading any record (a hint may name the wrong one) */
static ix_ref ix_probe_ref(const struct ix_hash *h, uint64_t hash)
{
	uint32_t i = (uint32_t)hash & h->mask;
	uint64_t slot;

	while ((slot = h->slots[i]) != 0) {
		if ((slot >> 32) == (hash >> 32))
			return (ix_ref)slot - 1;
		i = (i + 1) & h->mask;
	}
	return IX_NONE;
}

/* One request's way through the tables, for replica_index_prefetch(). */
struct ix_probe {
	uint64_t user_hash, addr_hash;
	ix_ref user, addr;
	bool has_user, has_addr;
};

#define IX_PREFETCH_MAX 64

/* replica_index_prefetch - fetch into the cache what deciding these
   (login, address) pairs will read, all of them side by side. A hint:
   it reads nothing the decision relies on, and keys that normalise to
   another text are only fetched in vain. NULL entries are skipped. */
void replica_index_prefetch(const struct replica_index *ix,
			    const char *const *logins,
			    const char *const *addresses, size_t n)
{
	struct ix_probe p[IX_PREFETCH_MAX];
	size_t i;

	if (ix->user_hash.slots == NULL || ix->addr_hash.slots == NULL)
		return;
	for (; n > IX_PREFETCH_MAX; n -= IX_PREFETCH_MAX) {
		replica_index_prefetch(ix, logins, addresses,
				       IX_PREFETCH_MAX);
		logins += IX_PREFETCH_MAX;
		addresses += IX_PREFETCH_MAX;
	}
	/* Each step reads what the one before fetched: the slots, the
	   records they name, then what the records point to. */
	for (i = 0; i < n; i++) {
		p[i].has_user = logins[i] != NULL && logins[i][0] != '\0';
		p[i].has_addr = addresses[i] != NULL &&
			addresses[i][0] != '\0';
		p[i].user = p[i].addr = IX_NONE;
		if (p[i].has_user) {
			p[i].user_hash = ix_hash_folded(ix->seed, logins[i]);
			__builtin_prefetch(&ix->user_hash.slots[
				(uint32_t)p[i].user_hash & ix->user_hash.mask]);
		}
		if (p[i].has_addr) {
			p[i].addr_hash = ix_hash_folded(ix->seed,
							addresses[i]);
			__builtin_prefetch(&ix->addr_hash.slots[
				(uint32_t)p[i].addr_hash & ix->addr_hash.mask]);
		}
	}
	for (i = 0; i < n; i++) {
		if (p[i].has_user &&
		    (p[i].user = ix_probe_ref(&ix->user_hash,
					      p[i].user_hash)) != IX_NONE)
			__builtin_prefetch(ix_at(ix, p[i].user));
		if (p[i].has_addr &&
		    (p[i].addr = ix_probe_ref(&ix->addr_hash,
					      p[i].addr_hash)) != IX_NONE)
			__builtin_prefetch(ix_at(ix, p[i].addr));
	}
	for (i = 0; i < n; i++) {
		if (p[i].user != IX_NONE && ix->grant_slots != NULL) {
			const struct ix_user *u = ix_at(ix, p[i].user);

			if (ix_id32(u->id))
				__builtin_prefetch(&ix->grant_slots[
					ix_user_home(ix, (uint32_t)u->id)]);
		}
		if (p[i].addr != IX_NONE)
			__builtin_prefetch(ix_at(ix, ((const struct ix_addr *)
				ix_at(ix, p[i].addr))->mailbox));
	}
	for (i = 0; i < n; i++) {
		const struct ix_user *u;
		uint64_t slot;

		if (p[i].user == IX_NONE || ix->grant_slots == NULL)
			continue;
		u = ix_at(ix, p[i].user);
		if (!ix_id32(u->id))
			continue;
		slot = ix->grant_slots[ix_user_slot(ix, (uint32_t)u->id)];
		if (slot != 0 && (uint32_t)slot - 1 < ix->ngrants)
			__builtin_prefetch(&ix->grants[(uint32_t)slot - 1]);
	}
}

/* replica_index_sent_copies_default - meta sent_copies = yes? */
bool replica_index_sent_copies_default(const struct replica_index *ix)
{
	return ix->sent_copies_default;
}

/* replica_index_cross_company - meta cross_company_shares = yes? */
bool replica_index_cross_company(const struct replica_index *ix)
{
	return ix->cross_company;
}

/* replica_index_shares - the grants of a mailbox's shares to a user:
   how many, from *first_r on, in the order of the shares' DNs */
size_t replica_index_shares(const struct replica_index *ix,
			    int64_t mailbox_id, int64_t user_id,
			    size_t *first_r)
{
	size_t g, end;
	uint64_t slot;

	*first_r = 0;
	if (!ix_id32(mailbox_id) || !ix_id32(user_id) ||
	    ix->grant_slots == NULL)
		return 0;
	slot = ix->grant_slots[ix_user_slot(ix, (uint32_t)user_id)];
	if (slot == 0)
		return 0;
	/* The user's grants, ordered by mailbox: a few, scanned. */
	for (g = (uint32_t)slot - 1; g < ix->ngrants &&
	     ix->grants[g].user == user_id &&
	     ix->grants[g].mailbox < mailbox_id; g++)
		;
	for (end = g; end < ix->ngrants && ix->grants[end].user == user_id &&
	     ix->grants[end].mailbox == mailbox_id; end++)
		;
	*first_r = g;
	return end - g;
}

/* replica_index_share_at - the share of a grant */
const struct replica_index_share *
replica_index_share_at(const struct replica_index *ix, size_t grant)
{
	return &ix->shares[ix->grants[grant].share];
}

/* replica_index_share_dn - the share's whole DN, bounded */
void replica_index_share_dn(const struct replica_index *ix,
			    const struct replica_index_share *s, char *out,
			    size_t size)
{
	const struct ix_mailbox *m;

	if (s->mailbox == IX_NONE) {
		snprintf(out, size, "%s", ix->text + s->dn_off);
		return;
	}
	m = ix_mailbox(ix, s->mailbox);
	snprintf(out, size, "%s,%s", ix->text + s->dn_off,
		 m->address + m->dn_at);
}

/* replica_index_share_rights - the share's rights letters */
const char *replica_index_share_rights(const struct replica_index *ix,
				       const struct replica_index_share *s)
{
	return ix->text + s->rights_off;
}
