/*
 * NAME
 *	rights - the one function that decides who may do what
 * DESCRIPTION
 *	See rights.h. The rules, in the order they are tried:
 *
 *	  the login owns the mailbox            -> private, owner rights,
 *	                                           may send
 *	  company mailbox of the login's company, the login an employee,
 *	  and a member of the mailbox's group if it has one
 *	                                        -> company, its rights,
 *	                                           may send
 *	  an active share of the (private) mailbox names the login,
 *	  directly or through a group, and the login is of the
 *	  mailbox's company (or cross_company_shares is on)
 *	                                        -> shared, the union of
 *	                                           the active shares'
 *	                                           rights, may not send
 *	                                           (on behalf, From: with
 *	                                           Sender: its own, if one
 *	                                           of them says so)
 *	  anything else                          -> none, with the reason
 *
 *	Each call runs in one read transaction, so it sees one sync.
 */

#include "rights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "replica-index.h"
#include "replica-private.h"
#include "text.h"
#include "xalloc.h"

/* The order Dovecot and the defaults write rights in; "c" and "d" are
   the obsolete RFC 2086 letters. */
#define RIGHTS_ORDER "lrwstipekxacd"

struct rights_user {
	sqlite3_int64 id;
	sqlite3_int64 company_id;	/* 0: none */
	bool employee;
};

struct rights_mailbox {
	sqlite3_int64 id;
	int kind;
	char address[ADDR_MAX];
	char dn[REPLICA_DN_MAX];
	sqlite3_int64 company_id, owner_id, group_id;
	char rights[RIGHTS_MAX];
	bool sent_copies;		/* the entry's, or the site default */
	bool sent_copies_default;	/* ... the site default's */
};

/* rights_kind_name - the JSON/text name of a kind */
const char *rights_kind_name(enum rights_kind kind)
{
	switch (kind) {
	case RIGHTS_KIND_PRIVATE:
		return "private";
	case RIGHTS_KIND_COMPANY:
		return "company";
	case RIGHTS_KIND_SHARED:
		return "shared";
	case RIGHTS_KIND_NONE:
		break;
	}
	return "none";
}

/* rights_share_letters - what a client asks a share to carry, as a
   share stores it */
int rights_share_letters(const char *in, char *out, size_t size,
			 const char **error_r)
{
	bool want[256] = { false };
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p != '\0';
	     p++) {
		if (*p == 'a') {
			*error_r = "a share cannot carry \"a\" (administer): "
				   "only the owner decides who sees the "
				   "mailbox";
			return -1;
		}
		if (*p == 'c') {
			want['k'] = want['x'] = true;
		} else if (*p == 'd') {
			want['t'] = want['e'] = true;
		} else if (*p < 0x80 &&
			   strchr(RIGHTS_SHARE_LETTERS, *p) != NULL) {
			want[*p] = true;
		} else {
			*error_r = error_printf(
				"a share carries only the RFC 4314 rights %s, "
				"not \"%c\"", RIGHTS_SHARE_LETTERS,
				*p >= 0x20 && *p < 0x7f ? *p : '?');
			return -1;
		}
	}
	for (const char *l = RIGHTS_SHARE_LETTERS; *l != '\0'; l++) {
		if (!want[(unsigned char)*l])
			continue;
		if (n + 1 >= size) {
			*error_r = "rights: no room";
			return -1;
		}
		out[n++] = *l;
	}
	if (size > 0)
		out[n] = '\0';
	return 0;
}

/* rights_reason_name - the log/JSON name of a reason */
const char *rights_reason_name(enum rights_reason reason)
{
	static const char *const names[] = {
		[RIGHTS_REASON_OWNER] = "own_mailbox",
		[RIGHTS_REASON_COMPANY] = "company_mailbox",
		[RIGHTS_REASON_SHARED] = "shared_read_only",
		[RIGHTS_REASON_SHARE_INACTIVE] = "share_not_active",
		[RIGHTS_REASON_NOT_IN_GROUP] = "not_in_group",
		[RIGHTS_REASON_OTHER_COMPANY] = "other_company",
		[RIGHTS_REASON_NOT_YOURS] = "not_yours",
		[RIGHTS_REASON_UNKNOWN_ADDRESS] = "unknown_address",
		[RIGHTS_REASON_FOREIGN_DOMAIN] = "foreign_domain",
		[RIGHTS_REASON_UNKNOWN_LOGIN] = "unknown_login",
		[RIGHTS_REASON_BAD_ADDRESS] = "bad_address",
	};

	if ((size_t)reason < sizeof(names) / sizeof(names[0]) &&
	    names[reason] != NULL)
		return names[reason];
	return "unknown";
}

/* rights_union - add the letters of b to a, in RFC 4314 order */
static void rights_union(char *a, const char *b)
{
	char out[RIGHTS_MAX];
	size_t n = 0;

	for (const char *p = RIGHTS_ORDER; *p != '\0' && n + 1 < sizeof(out);
	     p++)
		if (strchr(a, *p) != NULL || strchr(b, *p) != NULL)
			out[n++] = *p;
	out[n] = '\0';
	memcpy(a, out, n + 1);
}

/* rights_time - a time as ISO 8601 UTC, or "open" for 0 */
static const char *rights_time(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL)
		return "open";
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

/* rights_copy - bounded copy of a column or string */
static void rights_copy(char *dst, size_t size, const unsigned char *src)
{
	(void)text_copy(dst, size, src != NULL ? (const char *)src : "");
}

/* rights_done - reset a statement; -1 with error_r unless rc is fine */
static int rights_done(struct replica *rep, sqlite3_stmt *st, int rc,
		       const char **error_r)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		*error_r = replica_error(rep, "query failed");
		return -1;
	}
	return 0;
}

/* rights_find_user - 1 found, 0 unknown, -1 error */
static int rights_find_user(struct replica *rep, const char *login,
			    struct rights_user *u_r, const char **error_r)
{
	const struct replica_index *ix = replica_index_active(rep);
	sqlite3_stmt *st;
	int rc;

	if (ix != NULL) {
		struct replica_index_user iu;

		if ((rc = replica_index_user(ix, login, &iu)) > 0) {
			u_r->id = iu.id;
			u_r->company_id = iu.company_id;
			u_r->employee = iu.employee;
		}
		return rc;
	}
	if ((st = replica_stmt(rep, REPLICA_STMT_USER, error_r)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, login, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		u_r->id = sqlite3_column_int64(st, 0);
		u_r->company_id = sqlite3_column_int64(st, 1);
		u_r->employee = sqlite3_column_int(st, 2) != 0;
	}
	if (rights_done(rep, st, rc, error_r) < 0)
		return -1;
	return rc == SQLITE_ROW ? 1 : 0;
}

/* rights_find_mailbox - 1 found, 0 no such address, -1 error */
static int rights_find_mailbox(struct replica *rep, const char *address,
			       struct rights_mailbox *m_r,
			       const char **error_r)
{
	const struct replica_index *ix = replica_index_active(rep);
	sqlite3_stmt *st;
	int rc;

	if (ix != NULL) {
		struct replica_index_mailbox im;

		if ((rc = replica_index_mailbox(ix, address, &im)) > 0) {
			m_r->id = im.id;
			m_r->kind = im.kind;
			rights_copy(m_r->address, sizeof(m_r->address),
				    (const unsigned char *)im.address);
			rights_copy(m_r->dn, sizeof(m_r->dn),
				    (const unsigned char *)im.dn);
			m_r->company_id = im.company_id;
			m_r->owner_id = im.owner_id;
			m_r->group_id = im.group_id;
			rights_copy(m_r->rights, sizeof(m_r->rights),
				    (const unsigned char *)im.rights);
			m_r->sent_copies_default = im.sent_copies < 0;
			m_r->sent_copies = m_r->sent_copies_default ?
				replica_index_sent_copies_default(ix) :
				im.sent_copies != 0;
		}
		return rc;
	}
	st = replica_stmt(rep, REPLICA_STMT_MAILBOX_BY_ADDRESS, error_r);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, address, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		m_r->id = sqlite3_column_int64(st, 0);
		m_r->kind = sqlite3_column_int(st, 1);
		rights_copy(m_r->address, sizeof(m_r->address),
			    sqlite3_column_text(st, 2));
		rights_copy(m_r->dn, sizeof(m_r->dn),
			    sqlite3_column_text(st, 3));
		m_r->company_id = sqlite3_column_int64(st, 4);
		m_r->owner_id = sqlite3_column_int64(st, 5);
		m_r->group_id = sqlite3_column_int64(st, 6);
		rights_copy(m_r->rights, sizeof(m_r->rights),
			    sqlite3_column_text(st, 7));
		m_r->sent_copies_default =
			sqlite3_column_type(st, 8) == SQLITE_NULL;
		m_r->sent_copies = m_r->sent_copies_default ?
			sqlite3_column_int(st, 9) != 0 :
			sqlite3_column_int(st, 8) != 0;
	}
	if (rights_done(rep, st, rc, error_r) < 0)
		return -1;
	return rc == SQLITE_ROW ? 1 : 0;
}

/* rights_exists - 1 if a one-parameter-pair query has a row */
static int rights_exists(struct replica *rep, enum replica_stmt which,
			 sqlite3_int64 a, const char *text,
			 sqlite3_int64 b, const char **error_r)
{
	const struct replica_index *ix = replica_index_active(rep);
	sqlite3_stmt *st;
	int rc;

	if (ix != NULL && which == REPLICA_STMT_DOMAIN && text != NULL)
		return replica_index_domain(ix, text);
	if (ix != NULL && which == REPLICA_STMT_IN_GROUP)
		return replica_index_in_group(ix, a, b);
	if ((st = replica_stmt(rep, which, error_r)) == NULL)
		return -1;
	if (text != NULL)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, a);
	if (b != 0)
		sqlite3_bind_int64(st, 2, b);
	rc = sqlite3_step(st);
	if (rights_done(rep, st, rc, error_r) < 0)
		return -1;
	return rc == SQLITE_ROW ? 1 : 0;
}

/* rights_lookup_address - the mailbox of an address, extension or not */
static int rights_lookup_address(struct replica *rep, const char *address,
				 const char *delimiters,
				 struct rights_decision *d,
				 struct rights_mailbox *m_r,
				 const char **error_r)
{
	char stripped[ADDR_MAX];
	const char *why;
	int rc;

	if (addr_normalize(address, NULL, ADDR_KEEP_EXTENSION, d->address,
			   sizeof(d->address), &why) < 0) {
		snprintf(d->address, sizeof(d->address), "%s", address);
		d->reason = RIGHTS_REASON_BAD_ADDRESS;
		snprintf(d->detail, sizeof(d->detail),
			 "not a valid address: %s", why);
		return 0;
	}
	/* An address that exists with its "+ext" wins, as in Postfix. */
	rc = rights_find_mailbox(rep, d->address, m_r, error_r);
	if (rc != 0)
		return rc;
	if (addr_normalize(address, delimiters, 0, stripped, sizeof(stripped),
			   &why) == 0 && strcmp(stripped, d->address) != 0) {
		rc = rights_find_mailbox(rep, stripped, m_r, error_r);
		if (rc != 0) {
			if (rc > 0)
				memcpy(d->address, stripped,
				       strlen(stripped) + 1);
			return rc;
		}
	}
	const char *domain = strrchr(d->address, '@');
	rc = rights_exists(rep, REPLICA_STMT_DOMAIN, 0,
			   domain != NULL ? domain + 1 : "", 0, error_r);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		d->reason = RIGHTS_REASON_UNKNOWN_ADDRESS;
		snprintf(d->detail, sizeof(d->detail),
			 "no mailbox has this address in local domain %s",
			 domain + 1);
	} else {
		d->reason = RIGHTS_REASON_FOREIGN_DOMAIN;
		snprintf(d->detail, sizeof(d->detail),
			 "%s is not a local domain",
			 domain != NULL ? domain + 1 : "(none)");
	}
	return 0;
}

/* One row of the shares of a mailbox that name a user, from either
   source, and what the rows before it left to say. */
struct rights_share_row {
	const unsigned char *dn;
	const char *rights;
	time_t not_before, not_after;
	bool cross_ok, on_behalf;
};

struct rights_shares_seen {
	char inactive_dn[REPLICA_DN_MAX], cross_dn[REPLICA_DN_MAX];
	time_t inactive_nb, inactive_na;
};

/* rights_share_row - add one share naming the login (rows in DN order) */
static void rights_share_row(const struct rights_user *u,
			     const struct rights_mailbox *m, time_t now,
			     const struct rights_share_row *r,
			     struct rights_decision *d,
			     struct rights_shares_seen *seen)
{
	time_t nb = r->not_before, na = r->not_after;

	/* Checked before the window: such a share never counts. */
	if (u->company_id != m->company_id && !r->cross_ok) {
		if (seen->cross_dn[0] == '\0')
			rights_copy(seen->cross_dn, sizeof(seen->cross_dn),
				    r->dn);
		return;
	}
	if ((nb != 0 && now < nb) || (na != 0 && now > na)) {
		if (seen->inactive_dn[0] == '\0') {
			rights_copy(seen->inactive_dn,
				    sizeof(seen->inactive_dn), r->dn);
			seen->inactive_nb = nb;
			seen->inactive_na = na;
		}
		return;
	}
	if (d->kind != RIGHTS_KIND_SHARED) {
		d->kind = RIGHTS_KIND_SHARED;
		rights_copy(d->entry_dn, sizeof(d->entry_dn), r->dn);
		d->not_before = nb;
		d->not_after = na;
	}
	/* The first active share with the right names it (rows come
	   ordered by DN); the right itself is one bit. */
	if (r->on_behalf && !d->may_send_on_behalf) {
		d->may_send_on_behalf = true;
		rights_copy(d->on_behalf_dn, sizeof(d->on_behalf_dn), r->dn);
		d->on_behalf_not_before = nb;
		d->on_behalf_not_after = na;
	}
	rights_union(d->rights, r->rights);
}

/* rights_share_rows - the shares of m naming u, through rights_share_row */
static int rights_share_rows(struct replica *rep, const struct rights_user *u,
			     const struct rights_mailbox *m, time_t now,
			     struct rights_decision *d,
			     struct rights_shares_seen *seen,
			     const char **error_r)
{
	const struct replica_index *ix = replica_index_active(rep);
	struct rights_share_row r;
	sqlite3_stmt *st;
	int rc;

	if (ix != NULL) {
		char dn[REPLICA_DN_MAX];
		size_t first, n = replica_index_shares(ix, m->id, u->id,
						       &first);

		for (size_t i = first; i < first + n; i++) {
			const struct replica_index_share *s =
				replica_index_share_at(ix, i);

			replica_index_share_dn(ix, s, dn, sizeof(dn));
			r.dn = (const unsigned char *)dn;
			r.rights = replica_index_share_rights(ix, s);
			r.not_before = s->not_before;
			r.not_after = s->not_after;
			r.cross_ok = replica_index_cross_company(ix);
			r.on_behalf = s->on_behalf;
			rights_share_row(u, m, now, &r, d, seen);
		}
		return 0;
	}
	if ((st = replica_stmt(rep, REPLICA_STMT_SHARES_OF, error_r)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, m->id);
	sqlite3_bind_int64(st, 2, u->id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r.dn = sqlite3_column_text(st, 0);
		r.rights = (const char *)sqlite3_column_text(st, 1);
		r.not_before = (time_t)sqlite3_column_int64(st, 2);
		r.not_after = (time_t)sqlite3_column_int64(st, 3);
		r.cross_ok = sqlite3_column_int(st, 4) != 0;
		r.on_behalf = sqlite3_column_int(st, 5) != 0;
		rights_share_row(u, m, now, &r, d, seen);
	}
	return rights_done(rep, st, rc, error_r);
}

/* rights_shares - decide a private mailbox of someone else by its shares */
static int rights_shares(struct replica *rep, const struct rights_user *u,
			 const struct rights_mailbox *m, time_t now,
			 struct rights_decision *d, const char **error_r)
{
	struct rights_shares_seen seen;
	char b1[32], b2[32];

	seen.inactive_dn[0] = seen.cross_dn[0] = '\0';
	seen.inactive_nb = seen.inactive_na = 0;
	if (rights_share_rows(rep, u, m, now, d, &seen, error_r) < 0)
		return -1;
	if (d->kind == RIGHTS_KIND_SHARED && d->may_send_on_behalf) {
		d->visible = true;
		d->reason = RIGHTS_REASON_SHARED;
		snprintf(d->detail, sizeof(d->detail),
			 "private mailbox of another user, shared with this"
			 " login (from %s until %s); may send on behalf"
			 " (From: %.254s with Sender: the login's own"
			 " address), never as it",
			 rights_time(d->not_before, b1, sizeof(b1)),
			 rights_time(d->not_after, b2, sizeof(b2)),
			 m->address);
	} else if (d->kind == RIGHTS_KIND_SHARED) {
		d->visible = true;
		d->reason = RIGHTS_REASON_SHARED;
		snprintf(d->detail, sizeof(d->detail),
			 "private mailbox of another user, shared with this"
			 " login (from %s until %s); read and process"
			 " only, sending as it is the owner's",
			 rights_time(d->not_before, b1, sizeof(b1)),
			 rights_time(d->not_after, b2, sizeof(b2)));
	} else if (seen.inactive_dn[0] != '\0') {
		d->reason = RIGHTS_REASON_SHARE_INACTIVE;
		snprintf(d->entry_dn, sizeof(d->entry_dn), "%s",
			 seen.inactive_dn);
		d->not_before = seen.inactive_nb;
		d->not_after = seen.inactive_na;
		snprintf(d->detail, sizeof(d->detail),
			 "private mailbox of another user; its share with"
			 " this login is not active now (from %s until %s)",
			 rights_time(seen.inactive_nb, b1, sizeof(b1)),
			 rights_time(seen.inactive_na, b2, sizeof(b2)));
	} else if (seen.cross_dn[0] != '\0') {
		d->reason = RIGHTS_REASON_OTHER_COMPANY;
		snprintf(d->entry_dn, sizeof(d->entry_dn), "%s",
			 seen.cross_dn);
		snprintf(d->detail, sizeof(d->detail),
			 "private mailbox of another company; its share names"
			 " this login, but shares across companies grant"
			 " nothing (cross_company_shares = no)");
	} else {
		d->reason = RIGHTS_REASON_NOT_YOURS;
		snprintf(d->detail, sizeof(d->detail),
			 "private mailbox of another user, not shared with"
			 " this login");
	}
	return 0;
}

/* rights_decide_locked - rights_decide inside an open read transaction */
static int rights_decide_locked(struct replica *rep, const char *login,
				const char *address, time_t now,
				const char *delimiters,
				struct rights_decision *d,
				const char **error_r)
{
	struct rights_user u = { 0 };
	struct rights_mailbox m;
	const char *why;
	int rc;

	memset(d, 0, sizeof(*d));
	d->kind = RIGHTS_KIND_NONE;
	if (login != NULL && *login != '\0') {
		if (addr_normalize(login, NULL,
				   ADDR_KEEP_EXTENSION | ADDR_ALLOW_BARE,
				   d->login, sizeof(d->login), &why) < 0) {
			snprintf(d->login, sizeof(d->login), "%s", login);
			rc = 0;
		} else {
			rc = rights_find_user(rep, d->login, &u, error_r);
			if (rc < 0)
				return -1;
		}
		if (rc == 0) {
			snprintf(d->address, sizeof(d->address), "%s",
				 address != NULL ? address : "");
			d->reason = RIGHTS_REASON_UNKNOWN_LOGIN;
			snprintf(d->detail, sizeof(d->detail),
				 "the login is not a mail user in the replica");
			return 0;
		}
	}
	rc = rights_lookup_address(rep, address != NULL ? address : "",
				   delimiters, d, &m, error_r);
	if (rc <= 0)
		return rc;
	(void)text_copy(d->mailbox, sizeof(d->mailbox), m.address);
	(void)text_copy(d->entry_dn, sizeof(d->entry_dn), m.dn);
	d->sent_copies = m.sent_copies;
	d->sent_copies_default = m.sent_copies_default;
	if (u.id == 0) {
		/* No login: only where the address lives. */
		d->reason = RIGHTS_REASON_NOT_YOURS;
		snprintf(d->detail, sizeof(d->detail),
			 "a mailbox of a local domain; no login given");
		return 0;
	}
	if (m.kind == REPLICA_MAILBOX_PRIVATE) {
		if (m.owner_id == u.id) {
			d->kind = RIGHTS_KIND_PRIVATE;
			d->reason = RIGHTS_REASON_OWNER;
			d->visible = d->may_send = true;
			(void)text_copy(d->rights, sizeof(d->rights), m.rights);
			(void)text_copy(d->detail, sizeof(d->detail),
					"the login owns this private mailbox");
			return 0;
		}
		return rights_shares(rep, &u, &m, now, d, error_r);
	}
	if (m.company_id == 0 || m.company_id != u.company_id ||
	    !u.employee) {
		d->reason = RIGHTS_REASON_NOT_YOURS;
		snprintf(d->detail, sizeof(d->detail), "%s",
			 m.company_id == u.company_id && u.company_id != 0 ?
			 "company mailbox; the login is not counted as an"
			 " employee (company group)" :
			 "company mailbox of another company");
		return 0;
	}
	if (m.group_id != 0) {
		rc = m.group_id < 0 ? 0 :
			rights_exists(rep, REPLICA_STMT_IN_GROUP, m.group_id,
				      NULL, u.id, error_r);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			d->reason = RIGHTS_REASON_NOT_IN_GROUP;
			snprintf(d->detail, sizeof(d->detail),
				 "company mailbox limited to a group the login"
				 " is not a member of");
			return 0;
		}
	}
	d->kind = RIGHTS_KIND_COMPANY;
	d->reason = RIGHTS_REASON_COMPANY;
	d->visible = d->may_send = true;
	(void)text_copy(d->rights, sizeof(d->rights), m.rights);
	snprintf(d->detail, sizeof(d->detail),
		 "company mailbox of the login's company%s",
		 m.group_id != 0 ? ", and the login is in its group" : "");
	return 0;
}

/* rights_begin - start a read transaction (or join the caller's) */
static int rights_begin(struct replica *rep, const char **error_r)
{
	return replica_read_begin(rep, error_r);
}

/* rights_end - end the read transaction, keeping the first error */
static int rights_end(struct replica *rep, int ret, const char **error_r)
{
	const char *err2;

	if (replica_read_end(rep, &err2) < 0 && ret == 0) {
		*error_r = err2;
		ret = -1;
	}
	return ret;
}

/* rights_decide - (login, address, now) -> decision */
int rights_decide(struct replica *rep, const char *login, const char *address,
		  time_t now, const char *delimiters,
		  struct rights_decision *d_r, const char **error_r)
{
	int ret;

	if (rights_begin(rep, error_r) < 0)
		return -1;
	ret = rights_decide_locked(rep, login, address, now, delimiters, d_r,
				   error_r);
	return rights_end(rep, ret, error_r);
}

/* rights_list_add - append a zeroed decision */
static struct rights_decision *rights_list_add(struct rights_list *list,
					       size_t *size)
{
	list->items = xgrow(list->items, size, list->count + 1,
			    sizeof(*list->items), 16);
	memset(&list->items[list->count], 0, sizeof(list->items[0]));
	return &list->items[list->count++];
}

/* rights_access_on_behalf - an ACCESS row of a share with the right to
   send on behalf, into d (the first such row names it, as in
   rights_shares) */
static void rights_access_on_behalf(struct rights_decision *d,
				    sqlite3_stmt *st)
{
	if (sqlite3_column_int(st, 8) == 0 || d->may_send_on_behalf)
		return;
	d->may_send_on_behalf = true;
	rights_copy(d->on_behalf_dn, sizeof(d->on_behalf_dn),
		    sqlite3_column_text(st, 4));
	d->on_behalf_not_before = (time_t)sqlite3_column_int64(st, 6);
	d->on_behalf_not_after = (time_t)sqlite3_column_int64(st, 7);
	snprintf(d->detail, sizeof(d->detail),
		 "private mailbox of another user, shared with this login;"
		 " may send on behalf (From: it with Sender: the login's"
		 " own address), never as it");
}

/* rights_access_rows - the ACCESS statement into a list */
static int rights_access_rows(struct replica *rep, const char *login,
			      time_t now, struct rights_list *list,
			      const char **error_r)
{
	sqlite3_stmt *st = replica_stmt(rep, REPLICA_STMT_ACCESS, error_r);
	size_t size = 0;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, login, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int how = sqlite3_column_int(st, 0);
		const char *mbox = (const char *)sqlite3_column_text(st, 2);
		const char *rights = (const char *)sqlite3_column_text(st, 5);
		struct rights_decision *d = NULL;

		/* Two active shares of one mailbox: one entry, both
		   rights (rows come ordered by grant kind and address). */
		if (how == 3 && list->count > 0) {
			struct rights_decision *prev =
				&list->items[list->count - 1];

			if (prev->kind == RIGHTS_KIND_SHARED && mbox != NULL &&
			    strcmp(prev->mailbox, mbox) == 0) {
				rights_union(prev->rights, rights);
				rights_access_on_behalf(prev, st);
				continue;
			}
		}
		d = rights_list_add(list, &size);
		d->kind = how == 1 ? RIGHTS_KIND_PRIVATE :
			how == 2 ? RIGHTS_KIND_COMPANY : RIGHTS_KIND_SHARED;
		d->reason = how == 1 ? RIGHTS_REASON_OWNER :
			how == 2 ? RIGHTS_REASON_COMPANY : RIGHTS_REASON_SHARED;
		d->visible = true;
		d->may_send = how != 3;
		snprintf(d->login, sizeof(d->login), "%s", login);
		rights_copy(d->mailbox, sizeof(d->mailbox),
			    (const unsigned char *)mbox);
		memcpy(d->address, d->mailbox, sizeof(d->address));
		rights_copy(d->entry_dn, sizeof(d->entry_dn),
			    sqlite3_column_text(st, 4));
		rights_copy(d->rights, sizeof(d->rights),
			    (const unsigned char *)rights);
		d->not_before = (time_t)sqlite3_column_int64(st, 6);
		d->not_after = (time_t)sqlite3_column_int64(st, 7);
		snprintf(d->detail, sizeof(d->detail), "%s",
			 how == 1 ? "the login owns this private mailbox" :
			 how == 2 ? "company mailbox of the login's company" :
			 "private mailbox of another user, shared with this"
			 " login; read and process only");
		rights_access_on_behalf(d, st);
	}
	return rights_done(rep, st, rc, error_r);
}

/* rights_access - every mailbox the login sees now */
int rights_access(struct replica *rep, const char *login, time_t now,
		  struct rights_list *list_r, const char **error_r)
{
	char norm[ADDR_MAX];
	struct rights_user u;
	const char *why;
	int ret = 0;

	memset(list_r, 0, sizeof(*list_r));
	if (login == NULL ||
	    addr_normalize(login, NULL, ADDR_KEEP_EXTENSION | ADDR_ALLOW_BARE,
			   norm, sizeof(norm), &why) < 0)
		return 1;
	if (rights_begin(rep, error_r) < 0)
		return -1;
	if (rights_access_rows(rep, norm, now, list_r, error_r) < 0)
		ret = -1;
	else if (list_r->count == 0) {
		/* Every user owns a mailbox: nothing means unknown. */
		ret = rights_find_user(rep, norm, &u, error_r);
		ret = ret < 0 ? -1 : ret == 0 ? 1 : 0;
	}
	ret = rights_end(rep, ret, error_r);
	if (ret < 0)
		rights_list_free(list_r);
	return ret;
}

/* rights_who - every login that sees the mailbox of an address now */
int rights_who(struct replica *rep, const char *address, time_t now,
	       const char *delimiters, struct rights_list *list_r,
	       const char **error_r)
{
	struct rights_decision probe;
	struct rights_mailbox m;
	sqlite3_stmt *st;
	size_t size = 0;
	char **logins = NULL;
	size_t nlogins = 0, lsize = 0;
	int rc, ret = 0;

	memset(list_r, 0, sizeof(*list_r));
	if (rights_begin(rep, error_r) < 0)
		return -1;
	memset(&probe, 0, sizeof(probe));
	rc = rights_lookup_address(rep, address != NULL ? address : "",
				   delimiters, &probe, &m, error_r);
	if (rc <= 0) {
		ret = rc < 0 ? -1 : 1;
		goto out;
	}
	st = replica_stmt(rep, REPLICA_STMT_WHO, error_r);
	if (st == NULL) {
		ret = -1;
		goto out;
	}
	sqlite3_bind_int64(st, 1, m.id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		logins = xgrow(logins, &lsize, nlogins + 1, sizeof(*logins),
			       16);
		logins[nlogins++] = xstrdup(
			(const char *)sqlite3_column_text(st, 0));
	}
	if (rights_done(rep, st, rc, error_r) < 0) {
		ret = -1;
		goto out;
	}
	/* The candidates go through the one rule function. */
	for (size_t i = 0; i < nlogins; i++) {
		struct rights_decision d;

		if (rights_decide_locked(rep, logins[i], probe.address, now,
					 delimiters, &d, error_r) < 0) {
			ret = -1;
			goto out;
		}
		if (d.visible)
			*rights_list_add(list_r, &size) = d;
	}
out:
	for (size_t i = 0; i < nlogins; i++)
		free(logins[i]);
	free(logins);
	ret = rights_end(rep, ret, error_r);
	if (ret < 0)
		rights_list_free(list_r);
	return ret;
}

/* rights_list_free - release a list's items */
void rights_list_free(struct rights_list *list)
{
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

/* rights_share - the rights of the share entry dn, if the replica has it */
int rights_share(struct replica *rep, const char *dn, char *rights,
		 size_t size, const char **error_r)
{
	sqlite3_stmt *st;
	int rc;

	if (rights_begin(rep, error_r) < 0)
		return -1;
	if ((st = replica_stmt(rep, REPLICA_STMT_SHARE, error_r)) == NULL)
		return rights_end(rep, -1, error_r);
	sqlite3_bind_text(st, 1, dn, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rights_copy(rights, size, sqlite3_column_text(st, 0));
	if (rights_done(rep, st, rc, error_r) < 0)
		return rights_end(rep, -1, error_r);
	return rights_end(rep, rc == SQLITE_ROW ? 1 : 0, error_r);
}
