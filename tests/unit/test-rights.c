/*
 * NAME
 *	test-rights - the rule table of DESIGN §1 and §6, row by row
 * DESCRIPTION
 *	Builds the abc.com story replica (story.h) and asks the one rights
 *	function for every row of the tables, at times before, inside and
 *	after the share windows; then checks that rights_access() and
 *	rights_who() agree with rights_decide() for every pair, and a
 *	second replica with group grantees, open and one-sided windows.
 */

#include <stdlib.h>
#include <unistd.h>

#include <sqlite3.h>

#include "replica-index.h"
#include "rights.h"
#include "story.h"
#include "test.h"
#include "xalloc.h"

#define T2026 ((time_t)1780272000)	/* 2026-06-01 */
#define T2024 ((time_t)1717200000)	/* 2024-06-01 */
#define T2036 ((time_t)2085000000)	/* 2036-01-26 */

/* Every test runs twice: the decisions read the file, then the
   replica's index in memory (replica-index.h), as the policy daemon's
   do. The same rows must hold both ways. */
static bool use_index;
static struct replica_index *test_index;

/* open_rep - open the replica; in the second round, lend it an index
   and check that a read really uses it */
static int open_rep(const char *path, struct replica **rep_r)
{
	const char *error;
	char ix_error[512];
	bool in_use;

	if (replica_open(path, rep_r, &error) < 0) {
		fprintf(stderr, "open %s: %s\n", path, error);
		return -1;
	}
	if (!use_index)
		return 0;
	replica_index_free(&test_index);
	if (replica_index_build(path, &test_index, ix_error,
				sizeof(ix_error)) < 0) {
		fprintf(stderr, "index %s: %s\n", path, ix_error);
		replica_close(rep_r);
		return -1;
	}
	replica_set_index(*rep_r, test_index);
	if (replica_read_begin(*rep_r, &error) < 0) {
		replica_close(rep_r);
		return -1;
	}
	in_use = replica_index_in_use(*rep_r);
	(void)replica_read_end(*rep_r, &error);
	if (!in_use) {
		fprintf(stderr, "index %s: not in use\n", path);
		replica_close(rep_r);
		return -1;
	}
	return 0;
}

/* close_rep - close it and drop the index */
static void close_rep(struct replica **repp)
{
	replica_close(repp);
	replica_index_free(&test_index);
}

struct row {
	const char *login, *address;
	time_t now;
	enum rights_kind kind;
	bool visible, may_send;
	const char *rights;
	enum rights_reason reason;
};

#define PRIV RIGHTS_KIND_PRIVATE
#define COMP RIGHTS_KIND_COMPANY
#define SHRD RIGHTS_KIND_SHARED
#define NONE RIGHTS_KIND_NONE

static const struct row rows[] = {
	/* Private: the owner only, every address of the mailbox. */
	{ "sandra.schuster@abc.com", "sandra.schuster@abc.com", T2026, PRIV,
	  true, true, "lrwstipekx", RIGHTS_REASON_OWNER },
	{ "sandra.schuster@abc.com", "makler@abc.com", T2026, PRIV, true,
	  true, "lrwstipekx", RIGHTS_REASON_OWNER },
	{ "SANDRA.Schuster@ABC.com", "Makler@abc.COM", T2026, PRIV, true,
	  true, "lrwstipekx", RIGHTS_REASON_OWNER },
	{ "sandra.schuster@abc.com", "SANDRA.Schuster+x@ABC.com", T2026, PRIV,
	  true, true, "lrwstipekx", RIGHTS_REASON_OWNER },
	{ "peter.mueller@abc.com", "peter.m\xc3\xbcller@abc.com", T2026, PRIV,
	  true, true, "lrwstipekx", RIGHTS_REASON_OWNER },
	{ "jana.meier@abc.com", "makler@abc.com", T2026, NONE, false, false,
	  "", RIGHTS_REASON_NOT_YOURS },
	{ "sandra.schuster@abc.com", "buchhaltung@abc.com", T2026, NONE, false,
	  false, "", RIGHTS_REASON_NOT_YOURS },
	{ "peter.mueller@abc.com", "sandra.schuster@abc.com", T2026, NONE,
	  false, false, "", RIGHTS_REASON_NOT_YOURS },
	/* Company: every employee, sending included. */
	{ "sandra.schuster@abc.com", "info@abc.com", T2026, COMP, true, true,
	  "lrwstipek", RIGHTS_REASON_COMPANY },
	{ "tom.berger@abc.com", "info@abc.com", T2026, COMP, true, true,
	  "lrwstipek", RIGHTS_REASON_COMPANY },
	{ "anna.schmidt@xyz.org", "info@abc.com", T2026, NONE, false, false,
	  "", RIGHTS_REASON_NOT_YOURS },
	{ "sandra.schuster@abc.com", "info@xyz.org", T2026, NONE, false,
	  false, "", RIGHTS_REASON_NOT_YOURS },
	/* A company mailbox limited to a group: members yes, other
	   employees no, other companies no. */
	{ "jana.meier@abc.com", "vertrieb@abc.com", T2026, COMP, true, true,
	  "lrwstipek", RIGHTS_REASON_COMPANY },
	{ "peter.mueller@abc.com", "Vertrieb+x@ABC.com", T2026, COMP, true,
	  true, "lrwstipek", RIGHTS_REASON_COMPANY },
	{ "sandra.schuster@abc.com", "vertrieb@abc.com", T2026, NONE, false,
	  false, "", RIGHTS_REASON_NOT_IN_GROUP },
	{ "tom.berger@abc.com", "vertrieb@abc.com", T2026, NONE, false, false,
	  "", RIGHTS_REASON_NOT_IN_GROUP },
	{ "anna.schmidt@xyz.org", "vertrieb@abc.com", T2026, NONE, false,
	  false, "", RIGHTS_REASON_NOT_YOURS },
	/* xyz.org: employees are cn=staff, which nests cn=devs (a cycle). */
	{ "anna.schmidt@xyz.org", "info@xyz.org", T2026, COMP, true, true,
	  "lrwstipek", RIGHTS_REASON_COMPANY },
	{ "max.wolf@xyz.org", "info@xyz.org", T2026, COMP, true, true,
	  "lrwstipek", RIGHTS_REASON_COMPANY },
	/* Lena is in xyz.org's subtree, not in cn=staff: her own mailbox,
	   no company mailbox of any company. */
	{ "lena.wagner@xyz.org", "info@xyz.org", T2026, NONE, false, false,
	  "", RIGHTS_REASON_NOT_YOURS },
	{ "lena.wagner@xyz.org", "lena.wagner@xyz.org", T2026, PRIV, true,
	  true, "lrwstipekx", RIGHTS_REASON_OWNER },
	{ "lena.wagner@xyz.org", "info@abc.com", T2026, NONE, false, false,
	  "", RIGHTS_REASON_NOT_YOURS },
	/* Shared: read and process, never send; windows on time. */
	{ "sandra.schuster@abc.com", "peter.mueller@abc.com", T2026, SHRD,
	  true, false, "lrwstiek", RIGHTS_REASON_SHARED },
	{ "sandra.schuster@abc.com", "peter.m\xc3\xbcller@abc.com", T2026,
	  SHRD, true, false, "lrwstiek", RIGHTS_REASON_SHARED },
	{ "sandra.schuster@abc.com", "PETER.M\xc3\x9cLLER@ABC.COM", T2026,
	  SHRD, true, false, "lrwstiek", RIGHTS_REASON_SHARED },
	{ "jana.meier@abc.com", "peter.mueller+case@abc.com", T2026, SHRD,
	  true, false, "lrwstiek", RIGHTS_REASON_SHARED },
	{ "sandra.schuster@abc.com", "peter.mueller@abc.com", T2024, NONE,
	  false, false, "", RIGHTS_REASON_SHARE_INACTIVE },
	{ "sandra.schuster@abc.com", "peter.mueller@abc.com", T2036, NONE,
	  false, false, "", RIGHTS_REASON_SHARE_INACTIVE },
	{ "sandra.schuster@abc.com", "peter.mueller@abc.com", STORY_2025_START,
	  SHRD, true, false, "lrwstiek", RIGHTS_REASON_SHARED },
	{ "sandra.schuster@abc.com", "peter.mueller@abc.com", STORY_2035_END,
	  SHRD, true, false, "lrwstiek", RIGHTS_REASON_SHARED },
	{ "sandra.schuster@abc.com", "peter.mueller@abc.com",
	  STORY_2035_END + 1, NONE, false, false, "",
	  RIGHTS_REASON_SHARE_INACTIVE },
	{ "tom.berger@abc.com", "peter.mueller@abc.com", T2026, NONE, false,
	  false, "", RIGHTS_REASON_SHARE_INACTIVE },
	{ "tom.berger@abc.com", "peter.mueller@abc.com", T2024, SHRD, true,
	  false, "lrwstiek", RIGHTS_REASON_SHARED },
	{ "tom.berger@abc.com", "peter.mueller@abc.com", STORY_2024_START,
	  SHRD, true, false, "lrwstiek", RIGHTS_REASON_SHARED },
	{ "tom.berger@abc.com", "peter.mueller@abc.com", STORY_2024_START - 1,
	  NONE, false, false, "", RIGHTS_REASON_SHARE_INACTIVE },
	{ "tom.berger@abc.com", "peter.mueller@abc.com", STORY_2024_END, SHRD,
	  true, false, "lrwstiek", RIGHTS_REASON_SHARED },
	{ "tom.berger@abc.com", "peter.mueller@abc.com", STORY_2024_END + 1,
	  NONE, false, false, "", RIGHTS_REASON_SHARE_INACTIVE },
	{ "anna.schmidt@xyz.org", "peter.mueller@abc.com", T2026, NONE, false,
	  false, "", RIGHTS_REASON_NOT_YOURS },
	/* Addresses that are nobody's. */
	{ "sandra.schuster@abc.com", "nobody@abc.com", T2026, NONE, false,
	  false, "", RIGHTS_REASON_UNKNOWN_ADDRESS },
	{ "sandra.schuster@abc.com", "someone@example.net", T2026, NONE, false,
	  false, "", RIGHTS_REASON_FOREIGN_DOMAIN },
	{ "sandra.schuster@abc.com", "no-at-sign", T2026, NONE, false, false,
	  "", RIGHTS_REASON_BAD_ADDRESS },
	/* Logins that are nobody, however they are spelt. */
	{ "unknown@abc.com", "info@abc.com", T2026, NONE, false, false, "",
	  RIGHTS_REASON_UNKNOWN_LOGIN },
	{ "*)(uid=*", "info@abc.com", T2026, NONE, false, false, "",
	  RIGHTS_REASON_UNKNOWN_LOGIN },
	{ "sandra.schuster@abc.com)(mail=*", "info@abc.com", T2026, NONE,
	  false, false, "", RIGHTS_REASON_UNKNOWN_LOGIN },
	{ "%", "info@abc.com", T2026, NONE, false, false, "",
	  RIGHTS_REASON_UNKNOWN_LOGIN },
	{ "sandra.schuster", "info@abc.com", T2026, NONE, false, false, "",
	  RIGHTS_REASON_UNKNOWN_LOGIN },
	/* A login with an extension is another login: unknown, never
	   the base login's rights (addresses lose it, logins do not). */
	{ "sandra.schuster+x@abc.com", "sandra.schuster@abc.com", T2026,
	  NONE, false, false, "", RIGHTS_REASON_UNKNOWN_LOGIN },
	{ "sandra.schuster+x@abc.com", "info@abc.com", T2026, NONE, false,
	  false, "", RIGHTS_REASON_UNKNOWN_LOGIN },
	{ "jana.meier+x@abc.com", "peter.mueller@abc.com", T2026, NONE, false,
	  false, "", RIGHTS_REASON_UNKNOWN_LOGIN },
	/* No login: only where the address lives. */
	{ NULL, "info@abc.com", T2026, NONE, false, false, "",
	  RIGHTS_REASON_NOT_YOURS },
	{ "", "nobody@abc.com", T2026, NONE, false, false, "",
	  RIGHTS_REASON_UNKNOWN_ADDRESS },
	{ NULL, "x@example.net", T2026, NONE, false, false, "",
	  RIGHTS_REASON_FOREIGN_DOMAIN },
};

/* check_row - one row of the table */
static void check_row(struct replica *rep, const struct row *r)
{
	struct rights_decision d;
	const char *error;

	if (rights_decide(rep, r->login, r->address, r->now, "+", &d,
			  &error) < 0) {
		fprintf(stderr, "decide: %s\n", error);
		TEST_ASSERT(0);
		return;
	}
	if (d.kind != r->kind || d.visible != r->visible ||
	    d.may_send != r->may_send || d.reason != r->reason ||
	    strcmp(d.rights, r->rights) != 0)
		fprintf(stderr, "row %s / %s at %lld: got %s %s %s rights=%s"
			" (%s)\n", r->login ? r->login : "(null)", r->address,
			(long long)r->now, rights_kind_name(d.kind),
			rights_reason_name(d.reason),
			d.may_send ? "send" : "nosend", d.rights, d.detail);
	TEST_ASSERT(d.kind == r->kind);
	TEST_ASSERT(d.visible == r->visible);
	TEST_ASSERT(d.may_send == r->may_send);
	TEST_ASSERT(d.reason == r->reason);
	TEST_STREQ(d.rights, r->rights);
	/* The story has no share with the right to send on behalf: every
	   row is as before the right existed. */
	TEST_ASSERT(!d.may_send_on_behalf && d.on_behalf_dn[0] == '\0');
}

/* test_entries - the mailbox and the entry a decision names (explain's
   "mailbox" and "via"), and the window it reports: each read from its
   own column */
static void test_entries(struct replica *rep)
{
	static const struct {
		const char *login, *address, *mailbox, *dn;
		time_t not_before, not_after;
	} cases[] = {
		{ "sandra.schuster@abc.com", "info@abc.com", "info@abc.com",
		  "cn=info@abc.com,ou=mailboxes," STORY_ABC, 0, 0 },
		{ "sandra.schuster@abc.com", "Makler+x@ABC.com",
		  "makler@abc.com", "cn=makler@abc.com,ou=mailboxes," STORY_ABC,
		  0, 0 },
		/* An alias decides as its mailbox, through the share. */
		{ "jana.meier@abc.com", "peter.m\xc3\xbcller@abc.com",
		  "peter.mueller@abc.com", "cn=vacation," STORY_PETER,
		  STORY_2025_START, STORY_2035_END },
		{ "jana.meier@abc.com", "vertrieb@abc.com", "vertrieb@abc.com",
		  "cn=vertrieb@abc.com,ou=mailboxes," STORY_ABC, 0, 0 },
		{ "peter.mueller@abc.com", "peter.m\xc3\xbcller@abc.com",
		  "peter.mueller@abc.com", STORY_PETER, 0, 0 },
	};
	const char *error;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rights_decision d;

		TEST_ASSERT(rights_decide(rep, cases[i].login,
					  cases[i].address, T2026, "+", &d,
					  &error) == 0);
		TEST_ASSERT(d.visible);
		TEST_STREQ(d.mailbox, cases[i].mailbox);
		if (strcasecmp(d.entry_dn, cases[i].dn) != 0)
			fprintf(stderr, "%s / %s: entry %s, not %s\n",
				cases[i].login, cases[i].address, d.entry_dn,
				cases[i].dn);
		TEST_ASSERT(strcasecmp(d.entry_dn, cases[i].dn) == 0);
		TEST_ASSERT(d.not_before == cases[i].not_before);
		TEST_ASSERT(d.not_after == cases[i].not_after);
	}
}

/* count_logins - how many items of a list have the login */
static int has_login(const struct rights_list *l, const char *login)
{
	for (size_t i = 0; i < l->count; i++)
		if (strcmp(l->items[i].login, login) == 0)
			return 1;
	return 0;
}

/* test_access_agrees - access() lists exactly what decide() makes visible */
static void test_access_agrees(struct replica *rep)
{
	static const char *logins[] = {
		"sandra.schuster@abc.com", "jana.meier@abc.com",
		"peter.mueller@abc.com", "tom.berger@abc.com",
		"anna.schmidt@xyz.org", "max.wolf@xyz.org",
		"lena.wagner@xyz.org", "sandra.schuster+x@abc.com",
	};
	static const char *mailboxes[] = {
		"sandra.schuster@abc.com", "jana.meier@abc.com",
		"peter.mueller@abc.com", "tom.berger@abc.com",
		"anna.schmidt@xyz.org", "max.wolf@xyz.org",
		"lena.wagner@xyz.org", "makler@abc.com",
		"buchhaltung@abc.com", "info@abc.com", "vertrieb@abc.com",
		"info@xyz.org",
	};
	/* Both ends of every window are inside it (rights.h): the
	   IMAP list and the decision must agree at the very second. */
	static const time_t times[] = {
		T2024, T2026, T2036,
		STORY_2024_START - 1, STORY_2024_START, STORY_2024_START + 1,
		STORY_2024_END - 1, STORY_2024_END, STORY_2024_END + 1,
		STORY_2035_END - 1, STORY_2035_END, STORY_2035_END + 1,
	};
	const size_t nlogins = sizeof(logins) / sizeof(logins[0]);
	const size_t nmailboxes = sizeof(mailboxes) / sizeof(mailboxes[0]);
	const char *error;

	for (size_t t = 0; t < sizeof(times) / sizeof(times[0]); t++) {
		for (size_t i = 0; i < nlogins; i++) {
			struct rights_list list;
			size_t visible = 0;

			TEST_ASSERT(rights_access(rep, logins[i], times[t],
						  &list, &error) ==
				    (strchr(logins[i], '+') != NULL ? 1 : 0));
			for (size_t j = 0; j < nmailboxes; j++) {
				struct rights_decision d;
				int found = 0;

				TEST_ASSERT(rights_decide(rep, logins[i],
							  mailboxes[j],
							  times[t], "+", &d,
							  &error) == 0);
				visible += d.visible;
				for (size_t k = 0; k < list.count; k++) {
					if (strcmp(list.items[k].mailbox,
						   mailboxes[j]) != 0)
						continue;
					found = 1;
					TEST_ASSERT(list.items[k].kind ==
						    d.kind);
					TEST_STREQ(list.items[k].rights,
						   d.rights);
					TEST_ASSERT(list.items[k].may_send ==
						    d.may_send);
					TEST_ASSERT(list.items[k].
						    may_send_on_behalf ==
						    d.may_send_on_behalf);
				}
				TEST_ASSERT(found == d.visible);
				/* who() agrees as well. */
				struct rights_list who;
				TEST_ASSERT(rights_who(rep, mailboxes[j],
						       times[t], "+", &who,
						       &error) == 0);
				TEST_ASSERT(has_login(&who, logins[i]) ==
					    d.visible);
				rights_list_free(&who);
			}
			TEST_ASSERT(list.count == visible);
			rights_list_free(&list);
		}
	}
}

/* check_list - rights_who() (who) or rights_access() of name: rc, and
   count entries */
static void check_list(struct replica *rep, bool who, const char *name,
		       time_t now, int rc, size_t count)
{
	struct rights_list l;
	const char *error;

	TEST_ASSERT((who ? rights_who(rep, name, now, "+", &l, &error) :
		     rights_access(rep, name, now, &l, &error)) == rc);
	TEST_ASSERT(l.count == count);
	rights_list_free(&l);
}

#define check_access(rep, login, now, rc, count) \
	check_list(rep, false, login, now, rc, count)
#define check_who(rep, mailbox, now, rc, count) \
	check_list(rep, true, mailbox, now, rc, count)

/* test_lists - the story's lists, spelt out */
static void test_lists(struct replica *rep)
{
	struct rights_list l;
	const char *error;

	check_access(rep, "Sandra.Schuster@abc.com", T2026, 0, 4);
	check_access(rep, "tom.berger@abc.com", T2026, 0, 2);
	check_access(rep, "*)(uid=*", T2026, 1, 0);
	TEST_ASSERT(rights_who(rep, "peter.mueller@abc.com", T2026, "+", &l,
			       &error) == 0);
	TEST_ASSERT(l.count == 3);
	TEST_ASSERT(has_login(&l, "sandra.schuster@abc.com"));
	TEST_ASSERT(has_login(&l, "jana.meier@abc.com"));
	TEST_ASSERT(has_login(&l, "peter.mueller@abc.com"));
	TEST_ASSERT(!has_login(&l, "tom.berger@abc.com"));
	rights_list_free(&l);
	check_who(rep, "info@abc.com", T2026, 0, 4);
	TEST_ASSERT(rights_who(rep, "nobody@abc.com", T2026, "+", &l,
			       &error) == 1);
}

/* test_groups_and_windows - group grantees, nesting, open windows */
static void test_groups_and_windows(const char *path)
{
	struct replica_writer_settings set = { 0 };
	struct replica_writer *w;
	struct replica *rep;
	const char *error;

	unlink(path);
	TEST_ASSERT(replica_writer_open(path, &set, &w, &error) == 0);
	const char *doms[] = { "t.example", NULL };
	struct replica_company c = { "o=t,dc=x", doms, NULL };
	TEST_ASSERT(replica_stage_company(w, &c) == 0);
	const char *g1m[] = { "uid=b,o=t,dc=x", "cn=g2,o=t,dc=x", NULL };
	const char *g2m[] = { "uid=c,o=t,dc=x", "cn=g1,o=t,dc=x", NULL };
	struct replica_group g1 = { "cn=g1,o=t,dc=x", g1m };
	struct replica_group g2 = { "cn=g2,o=t,dc=x", g2m };
	TEST_ASSERT(replica_stage_group(w, &g1) == 0);
	TEST_ASSERT(replica_stage_group(w, &g2) == 0);
	const char *a[] = { "a@t.example", NULL }, *b[] = { "b@t.example", NULL };
	const char *cc[] = { "c@t.example", NULL }, *d[] = { "d@t.example", NULL };
	struct replica_user users[] = {
		{ "uid=a,o=t,dc=x", "a@t.example", a },
		{ "uid=b,o=t,dc=x", "b@t.example", b },
		{ "uid=c,o=t,dc=x", "c@t.example", cc },
		{ "uid=d,o=t,dc=x", "d@t.example", d },
	};
	for (int i = 0; i < 4; i++)
		TEST_ASSERT(replica_stage_user(w, &users[i]) == 0);
	const char *to_g1[] = { "cn=g1,o=t,dc=x", NULL };
	const char *to_d[] = { "uid=d,o=t,dc=x", NULL };
	struct replica_share open = { "cn=s1,uid=a,o=t,dc=x", to_g1, "lr", 0,
				      0, NULL, false };
	struct replica_share from = { "cn=s2,uid=a,o=t,dc=x", to_d, "lrs",
				      T2026, 0, NULL, false };
	struct replica_share more = { "cn=s3,uid=a,o=t,dc=x", to_g1, "lrws", 0,
				      T2026, NULL, false };
	TEST_ASSERT(replica_stage_share(w, &open) == 0);
	TEST_ASSERT(replica_stage_share(w, &from) == 0);
	TEST_ASSERT(replica_stage_share(w, &more) == 0);
	TEST_ASSERT(replica_writer_commit(&w, "groups", NULL, &error) == 0);
	TEST_ASSERT(open_rep(path, &rep) == 0);

	struct rights_decision dd;
	/* b directly in g1, c through g2; the cycle ends. Two active
	   shares give the union of their rights. */
	TEST_ASSERT(rights_decide(rep, "b@t.example", "a@t.example", T2024,
				  "+", &dd, &error) == 0);
	TEST_ASSERT(dd.kind == RIGHTS_KIND_SHARED);
	TEST_STREQ(dd.rights, "lrws");
	/* Of two active shares, the first by DN names the grant. */
	TEST_STREQ(dd.entry_dn, "cn=s1,uid=a,o=t,dc=x");
	TEST_ASSERT(rights_decide(rep, "c@t.example", "a@t.example", T2036,
				  "+", &dd, &error) == 0);
	TEST_ASSERT(dd.kind == RIGHTS_KIND_SHARED);
	TEST_STREQ(dd.rights, "lr");
	/* Open end, starts in 2026. */
	TEST_ASSERT(rights_decide(rep, "d@t.example", "a@t.example", T2024,
				  "+", &dd, &error) == 0);
	TEST_ASSERT(dd.reason == RIGHTS_REASON_SHARE_INACTIVE);
	TEST_ASSERT(rights_decide(rep, "d@t.example", "a@t.example", T2036,
				  "+", &dd, &error) == 0);
	TEST_ASSERT(dd.kind == RIGHTS_KIND_SHARED);
	TEST_STREQ(dd.rights, "lrs");
	struct rights_list l;
	TEST_ASSERT(rights_access(rep, "b@t.example", T2024, &l, &error) == 0);
	TEST_ASSERT(l.count == 2);	/* own + one merged share entry */
	if (l.count == 2)
		TEST_STREQ(l.items[1].rights, "lrws");
	rights_list_free(&l);
	close_rep(&rep);
}

/* cross_build - Sandra (abc) shares her mailbox with Anna (xyz) and
   with a group of Jana (abc) and Max (xyz) */
static int cross_build(const char *path, bool allow,
		       struct story_warnings *warns)
{
	struct replica_writer_settings set = { .warn = story_collect,
					       .warn_context = warns,
					       .cross_company_shares = allow };
	struct replica_writer *w;
	const char *error;

	unlink(path);
	if (replica_writer_open(path, &set, &w, &error) < 0)
		return -1;
	const char *abc_d[] = { "abc.com", NULL }, *xyz_d[] = { "xyz.org", NULL };
	struct replica_company abc = { STORY_ABC, abc_d, NULL };
	struct replica_company xyz = { STORY_XYZ, xyz_d, NULL };
	replica_stage_company(w, &abc);
	replica_stage_company(w, &xyz);
	const char *mixed_m[] = { STORY_JANA, STORY_MAX, NULL };
	struct replica_group mixed = { "cn=mixed," STORY_BASE, mixed_m };
	replica_stage_group(w, &mixed);
	const char *s[] = { "sandra.schuster@abc.com", NULL };
	const char *j[] = { "jana.meier@abc.com", NULL };
	const char *a[] = { "anna.schmidt@xyz.org", NULL };
	const char *m[] = { "max.wolf@xyz.org", NULL };
	struct replica_user users[] = {
		{ STORY_SANDRA, s[0], s }, { STORY_JANA, j[0], j },
		{ STORY_ANNA, a[0], a }, { STORY_MAX, m[0], m },
	};
	for (size_t i = 0; i < 4; i++)
		replica_stage_user(w, &users[i]);
	const char *to_anna[] = { STORY_ANNA, NULL };
	const char *to_mixed[] = { "cn=mixed," STORY_BASE, NULL };
	struct replica_share anna = { "cn=anna," STORY_SANDRA, to_anna, "lr",
				      0, 0, NULL, false };
	struct replica_share group = { "cn=team," STORY_SANDRA, to_mixed,
				       "lrs", 0, 0, NULL, false };
	replica_stage_share(w, &anna);
	replica_stage_share(w, &group);
	return replica_writer_commit(&w, "cross", NULL, &error);
}

/* test_cross_company - a share names a grantee of another company: by
   default nothing for them (reason other_company, the sync warns naming
   the share); with cross_company_shares = yes, as any share */
static void test_cross_company(const char *path)
{
	struct story_warnings warns = { .count = 0 };
	struct replica *rep;
	struct rights_decision d;
	struct rights_list l;
	const char *error;

	warns.text[0] = '\0';
	TEST_ASSERT(cross_build(path, false, &warns) == 0);
	TEST_ASSERT(strstr(warns.text, "cn=anna," STORY_SANDRA ": grantee "
			   STORY_ANNA " is not of the mailbox's company: it"
			   " gets nothing (cross_company_shares = no)") != NULL);
	TEST_ASSERT(strstr(warns.text, "cn=team," STORY_SANDRA ": group "
			   "grantee cn=mixed," STORY_BASE " has members of"
			   " other companies") != NULL);
	if (warns.count != 2)
		fprintf(stderr, "%s", warns.text);
	TEST_ASSERT(warns.count == 2);
	TEST_ASSERT(open_rep(path, &rep) == 0);
	if (rep == NULL)
		return;
	TEST_ASSERT(rights_decide(rep, "anna.schmidt@xyz.org",
				  "sandra.schuster@abc.com", T2026, "+", &d,
				  &error) == 0);
	TEST_ASSERT(d.reason == RIGHTS_REASON_OTHER_COMPANY);
	TEST_ASSERT(!d.visible && !d.may_send && d.rights[0] == '\0');
	TEST_STREQ(d.entry_dn, "cn=anna," STORY_SANDRA);
	TEST_STREQ(rights_reason_name(d.reason), "other_company");
	/* Through the mixed group: Max (xyz) nothing, Jana (abc) yes. */
	TEST_ASSERT(rights_decide(rep, "max.wolf@xyz.org",
				  "sandra.schuster@abc.com", T2026, "+", &d,
				  &error) == 0);
	TEST_ASSERT(d.reason == RIGHTS_REASON_OTHER_COMPANY && !d.visible);
	TEST_ASSERT(rights_decide(rep, "jana.meier@abc.com",
				  "sandra.schuster@abc.com", T2026, "+", &d,
				  &error) == 0);
	TEST_ASSERT(d.reason == RIGHTS_REASON_SHARED);
	TEST_STREQ(d.rights, "lrs");
	/* The IMAP list and who() say the same. */
	check_access(rep, "anna.schmidt@xyz.org", T2026, 0, 1);	/* her own mailbox only */
	check_access(rep, "max.wolf@xyz.org", T2026, 0, 1);
	check_access(rep, "jana.meier@abc.com", T2026, 0, 2);
	TEST_ASSERT(rights_who(rep, "sandra.schuster@abc.com", T2026, "+", &l,
			       &error) == 0);
	TEST_ASSERT(l.count == 2);	/* Sandra and Jana */
	TEST_ASSERT(!has_login(&l, "anna.schmidt@xyz.org"));
	TEST_ASSERT(!has_login(&l, "max.wolf@xyz.org"));
	rights_list_free(&l);
	close_rep(&rep);

	/* Allowed by the site: the sync says nothing, everyone counts. */
	warns.text[0] = '\0';
	warns.count = 0;
	TEST_ASSERT(cross_build(path, true, &warns) == 0);
	TEST_ASSERT(warns.count == 0);
	TEST_ASSERT(open_rep(path, &rep) == 0);
	if (rep == NULL)
		return;
	TEST_ASSERT(rights_decide(rep, "anna.schmidt@xyz.org",
				  "sandra.schuster@abc.com", T2026, "+", &d,
				  &error) == 0);
	TEST_ASSERT(d.reason == RIGHTS_REASON_SHARED && d.visible &&
		    !d.may_send);
	TEST_STREQ(d.rights, "lr");
	TEST_ASSERT(rights_decide(rep, "max.wolf@xyz.org",
				  "sandra.schuster@abc.com", T2026, "+", &d,
				  &error) == 0);
	TEST_ASSERT(d.reason == RIGHTS_REASON_SHARED);
	check_access(rep, "anna.schmidt@xyz.org", T2026, 0, 2);
	check_who(rep, "sandra.schuster@abc.com", T2026, 0, 4);
	close_rep(&rep);
}

/* on_behalf_decide - rights_decide() of login on a@t.example */
static void on_behalf_decide(struct replica *rep, const char *login,
			     time_t now, struct rights_decision *d)
{
	const char *error;

	TEST_ASSERT(rights_decide(rep, login, "a@t.example", now, "+", d,
				  &error) == 0);
}

/* test_on_behalf - the send-on-behalf right of a share: only with the
   share active (window, company), through a group too, never send-as,
   never without the flag; access() says the same */
static void test_on_behalf(const char *path)
{
	struct replica_writer_settings set = { .warn = NULL };
	struct replica_writer *w;
	struct replica *rep;
	struct rights_decision d;
	struct rights_list l;
	const char *error;

	unlink(path);
	TEST_ASSERT(replica_writer_open(path, &set, &w, &error) == 0);
	const char *tdoms[] = { "t.example", NULL };
	const char *odoms[] = { "o.example", NULL };
	struct replica_company t = { "o=t,dc=x", tdoms, NULL };
	struct replica_company o = { "o=o,dc=x", odoms, NULL };
	TEST_ASSERT(replica_stage_company(w, &t) == 0);
	TEST_ASSERT(replica_stage_company(w, &o) == 0);
	const char *gm[] = { "uid=b,o=t,dc=x", NULL };
	struct replica_group g = { "cn=g,o=t,dc=x", gm };
	TEST_ASSERT(replica_stage_group(w, &g) == 0);
	static const char *const names[] = { "a", "b", "c", "d", "e" };
	char dn[5][32], login[5][32];
	const char *addrs[5][2];
	for (int i = 0; i < 5; i++) {
		snprintf(dn[i], sizeof(dn[i]), "uid=%s,o=t,dc=x", names[i]);
		snprintf(login[i], sizeof(login[i]), "%s@t.example",
			 names[i]);
		addrs[i][0] = login[i];
		addrs[i][1] = NULL;
		struct replica_user u = { dn[i], login[i], addrs[i] };
		TEST_ASSERT(replica_stage_user(w, &u) == 0);
	}
	const char *xa[] = { "x@o.example", NULL };
	struct replica_user x = { "uid=x,o=o,dc=x", "x@o.example", xa };
	TEST_ASSERT(replica_stage_user(w, &x) == 0);
	const char *to_g[] = { "cn=g,o=t,dc=x", NULL };
	const char *to_c[] = { "uid=c,o=t,dc=x", NULL };
	const char *to_d[] = { "uid=d,o=t,dc=x", NULL };
	const char *to_e[] = { "uid=e,o=t,dc=x", NULL };
	const char *to_x[] = { "uid=x,o=o,dc=x", NULL };
	struct replica_share shares[] = {
		/* b through the group, open */
		{ "cn=team,uid=a,o=t,dc=x", to_g, "lr", 0, 0, NULL, true },
		/* c from 2026 on */
		{ "cn=c,uid=a,o=t,dc=x", to_c, "lrs", T2026, 0, NULL, true },
		/* d without the right */
		{ "cn=d,uid=a,o=t,dc=x", to_d, "lrs", 0, 0, NULL, false },
		/* e: an open share without, one with that ends in 2026 */
		{ "cn=e1,uid=a,o=t,dc=x", to_e, "lr", 0, 0, NULL, false },
		{ "cn=e2,uid=a,o=t,dc=x", to_e, "lrw", 0, T2026, NULL, true },
		/* x of another company */
		{ "cn=x,uid=a,o=t,dc=x", to_x, "lr", 0, 0, NULL, true },
	};
	for (size_t i = 0; i < sizeof(shares) / sizeof(shares[0]); i++)
		TEST_ASSERT(replica_stage_share(w, &shares[i]) == 0);
	TEST_ASSERT(replica_writer_commit(&w, "on-behalf", NULL, &error) == 0);
	TEST_ASSERT(open_rep(path, &rep) == 0);
	if (rep == NULL)
		return;

	/* Through the group: on behalf, never as; the rest as before. */
	on_behalf_decide(rep, "b@t.example", T2026, &d);
	TEST_ASSERT(d.kind == RIGHTS_KIND_SHARED && d.visible);
	TEST_ASSERT(d.reason == RIGHTS_REASON_SHARED);
	TEST_ASSERT(!d.may_send && d.may_send_on_behalf);
	TEST_STREQ(d.rights, "lr");
	TEST_STREQ(d.on_behalf_dn, "cn=team,uid=a,o=t,dc=x");
	TEST_ASSERT(d.on_behalf_not_before == 0 && d.on_behalf_not_after == 0);
	TEST_ASSERT(strstr(d.detail, "may send on behalf (From: a@t.example"
			   " with Sender: the login's own address)") != NULL);
	/* The owner sends as herself: the right is not hers to use. */
	on_behalf_decide(rep, "a@t.example", T2026, &d);
	TEST_ASSERT(d.may_send && !d.may_send_on_behalf);
	/* The window counts, both ends included. */
	on_behalf_decide(rep, "c@t.example", T2026 - 1, &d);
	TEST_ASSERT(d.reason == RIGHTS_REASON_SHARE_INACTIVE);
	TEST_ASSERT(!d.may_send_on_behalf && !d.may_send && !d.visible);
	on_behalf_decide(rep, "c@t.example", T2026, &d);
	TEST_ASSERT(d.may_send_on_behalf && !d.may_send);
	TEST_ASSERT(d.on_behalf_not_before == T2026);
	/* Without the flag: exactly as before. */
	on_behalf_decide(rep, "d@t.example", T2026, &d);
	TEST_ASSERT(d.reason == RIGHTS_REASON_SHARED && d.visible);
	TEST_ASSERT(!d.may_send && !d.may_send_on_behalf);
	TEST_ASSERT(d.on_behalf_dn[0] == '\0');
	TEST_ASSERT(strstr(d.detail, "read and process only") != NULL);
	/* Two shares: the right while the one with it is active, named;
	   the IMAP rights the union, as always. */
	on_behalf_decide(rep, "e@t.example", T2024, &d);
	TEST_ASSERT(d.may_send_on_behalf && !d.may_send);
	TEST_STREQ(d.rights, "lrw");
	TEST_STREQ(d.on_behalf_dn, "cn=e2,uid=a,o=t,dc=x");
	TEST_ASSERT(d.on_behalf_not_after == T2026);
	on_behalf_decide(rep, "e@t.example", T2026 + 1, &d);
	TEST_ASSERT(d.visible && !d.may_send_on_behalf);
	TEST_STREQ(d.rights, "lr");
	/* Another company: nothing at all, the right included. */
	on_behalf_decide(rep, "x@o.example", T2026, &d);
	TEST_ASSERT(d.reason == RIGHTS_REASON_OTHER_COMPANY);
	TEST_ASSERT(!d.visible && !d.may_send_on_behalf);
	/* access() agrees, merged entries included. */
	static const struct {
		const char *login;
		time_t now;
		bool on_behalf;
	} lists[] = {
		{ "b@t.example", T2026, true },
		{ "c@t.example", T2036, true },
		{ "d@t.example", T2026, false },
		{ "e@t.example", T2024, true },
		{ "e@t.example", T2036, false },
	};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		TEST_ASSERT(rights_access(rep, lists[i].login, lists[i].now,
					  &l, &error) == 0);
		TEST_ASSERT(l.count == 2);	/* own + the shared one */
		if (l.count == 2) {
			TEST_ASSERT(!l.items[1].may_send);
			TEST_ASSERT(l.items[1].may_send_on_behalf ==
				    lists[i].on_behalf);
		}
		rights_list_free(&l);
	}
	/* who() takes the decision as it is. */
	TEST_ASSERT(rights_who(rep, "a@t.example", T2024, "+", &l,
			       &error) == 0);
	for (size_t i = 0; i < l.count; i++)
		TEST_ASSERT(l.items[i].may_send_on_behalf ==
			    (strcmp(l.items[i].login, "d@t.example") != 0 &&
			     strcmp(l.items[i].login, "a@t.example") != 0 &&
			     strcmp(l.items[i].login, "c@t.example") != 0));
	rights_list_free(&l);
	close_rep(&rep);
}

/* test_share_letters - what a client may ask a share to carry */
static void test_share_letters(void)
{
	static const struct {
		const char *in, *out;	/* out NULL: refused */
	} cases[] = {
		{ "lr", "lr" },
		{ "rl", "lr" },
		{ "lrswipkxte", "lrswipkxte" },
		{ "lrcd", "lrkxte" },		/* RFC 2086 letters */
		{ "llr", "lr" },
		{ "", "" },
		{ "lra", NULL },		/* administer */
		{ "lrz", NULL },
		{ "l\xc3\xa4", NULL },
	};
	char out[RIGHTS_MAX];
	const char *error;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = rights_share_letters(cases[i].in, out, sizeof(out),
					       &error);

		if (cases[i].out == NULL) {
			TEST_ASSERT(ret < 0);
		} else {
			TEST_ASSERT(ret == 0);
			TEST_ASSERT(ret == 0 && strcmp(out, cases[i].out) == 0);
		}
	}
	TEST_ASSERT(rights_share_letters("lra", out, sizeof(out), &error) < 0 &&
		    strstr(error, "administer") != NULL);
	TEST_ASSERT(rights_share_letters("lr", out, 2, &error) < 0);
}

/* test_share_rows - rights_share() finds a share entry by its DN,
   whatever its window (Tom's ended with 2024) */
static void test_share_rows(struct replica *rep)
{
	char rights[RIGHTS_MAX];
	const char *error;

	TEST_ASSERT(rights_share(rep, "cn=2024," STORY_PETER, rights,
				 sizeof(rights), &error) == 1);
	TEST_ASSERT(rights[0] != '\0');
	TEST_ASSERT(rights_share(rep, "cn=vacation," STORY_PETER, rights,
				 sizeof(rights), &error) == 1);
	TEST_ASSERT(rights_share(rep, "cn=nothing," STORY_PETER, rights,
				 sizeof(rights), &error) == 0);
	TEST_ASSERT(rights_share(rep, STORY_PETER, rights, sizeof(rights),
				 &error) == 0);
}

/* story_with_index - the story replica, opened, its index lent */
static int story_with_index(const char *path, struct replica **rep_r,
			    struct replica_index **ix_r)
{
	const char *error;
	char ix_error[512];

	TEST_ASSERT(story_build(path, NULL, NULL) == 0);
	TEST_ASSERT(replica_open(path, rep_r, &error) == 0);
	TEST_ASSERT(replica_index_build(path, ix_r, ix_error,
					sizeof(ix_error)) == 0);
	if (*rep_r == NULL || *ix_r == NULL)
		return -1;
	replica_set_index(*rep_r, *ix_r);
	return 0;
}

/* test_index_stale - a sync's commit makes the index stale at once: the
   next read decides from the file, never from the old copy; a new
   copy is current again */
static void test_index_stale(const char *path)
{
	struct replica *rep = NULL;
	struct replica_index *ix = NULL, *ix2 = NULL;
	struct rights_decision d;
	const char *error;
	char ix_error[512];

	if (story_with_index(path, &rep, &ix) < 0)
		goto out;
	TEST_ASSERT(rights_decide(rep, "jana.meier@abc.com",
				  "peter.mueller@abc.com", T2026, "+", &d,
				  &error) == 0);
	TEST_ASSERT(d.kind == RIGHTS_KIND_SHARED && !d.may_send_on_behalf);

	/* The sync commits Peter's share with the right to send on
	   behalf, in place: the open connection sees it. */
	TEST_ASSERT(story_build_on_behalf(path, NULL, NULL, true) == 0);
	TEST_ASSERT(replica_read_begin(rep, &error) == 0);
	TEST_ASSERT(!replica_index_in_use(rep));
	TEST_ASSERT(rights_decide(rep, "jana.meier@abc.com",
				  "peter.mueller@abc.com", T2026, "+", &d,
				  &error) == 0);
	TEST_ASSERT(d.kind == RIGHTS_KIND_SHARED && d.may_send_on_behalf);
	TEST_ASSERT(replica_read_end(rep, &error) == 0);

	/* A copy of the new state is current, and says the same. */
	TEST_ASSERT(replica_index_build(path, &ix2, ix_error,
					sizeof(ix_error)) == 0);
	TEST_ASSERT(ix2 != NULL &&
		    strcmp(replica_index_generation(ix),
			   replica_index_generation(ix2)) != 0);
	replica_set_index(rep, ix2);
	TEST_ASSERT(replica_read_begin(rep, &error) == 0);
	TEST_ASSERT(replica_index_in_use(rep));
	TEST_ASSERT(rights_decide(rep, "jana.meier@abc.com",
				  "peter.mueller@abc.com", T2026, "+", &d,
				  &error) == 0);
	TEST_ASSERT(d.kind == RIGHTS_KIND_SHARED && d.may_send_on_behalf);
	TEST_ASSERT(replica_read_end(rep, &error) == 0);

	/* Lent and taken back inside a read: the file decides. */
	TEST_ASSERT(replica_read_begin(rep, &error) == 0);
	replica_set_index(rep, NULL);
	TEST_ASSERT(!replica_index_in_use(rep));
	TEST_ASSERT(replica_read_end(rep, &error) == 0);
out:
	replica_close(&rep);
	replica_index_free(&ix);
	replica_index_free(&ix2);
}

/* test_prefetch - the index's prefetch hint changes no decision: every
   row's pairs, again in upper case, missing, empty and unknown, more
   than one batch of them, fetched before the rows are decided (under
   the sanitizers: it reads nothing outside the index) */
static void test_prefetch(struct replica *rep)
{
	enum { N = 3 * (sizeof(rows) / sizeof(rows[0])) + 4 };
	const char *logins[N], *addresses[N];
	char upper[sizeof(rows) / sizeof(rows[0])][2][256];
	const struct replica_index *ix;
	const char *error;
	size_t n = 0;

	TEST_ASSERT(replica_read_begin(rep, &error) == 0);
	ix = replica_index_active(rep);
	TEST_ASSERT(ix != NULL);
	if (ix == NULL) {
		(void)replica_read_end(rep, &error);
		return;
	}
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		logins[n] = rows[i].login;
		addresses[n++] = rows[i].address;
		for (int k = 0; k < 2; k++) {
			const char *from = k == 0 ? rows[i].login :
				rows[i].address;
			size_t j;

			for (j = 0; from != NULL && from[j] != '\0' && j < 255; j++)
				upper[i][k][j] = (char)(from[j] >= 'a' &&
					from[j] <= 'z' ? from[j] - 32 :
					from[j]);
			upper[i][k][j] = '\0';
		}
		logins[n] = rows[i].login != NULL ? upper[i][0] : NULL;
		addresses[n++] = rows[i].address != NULL ? upper[i][1] : NULL;
		logins[n] = rows[i].address;	/* not a login, mostly */
		addresses[n++] = "nobody@nowhere.example";
	}
	logins[n] = NULL;
	addresses[n++] = NULL;
	logins[n] = "";
	addresses[n++] = "";
	logins[n] = "sandra.schuster@abc.com";
	addresses[n++] = NULL;
	logins[n] = NULL;
	addresses[n++] = "info@abc.com";
	TEST_ASSERT(n == N && n > 64);
	replica_index_prefetch(ix, logins, addresses, n);
	replica_index_prefetch(ix, logins, addresses, 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		check_row(rep, &rows[i]);
	TEST_ASSERT(replica_read_end(rep, &error) == 0);
}

/* watch_read - one outermost read of rep: is the index in use, and was
   it trusted without a transaction? */
static void watch_read(struct replica *rep, bool in_use, bool trusted)
{
	const char *error;

	TEST_ASSERT(replica_read_begin(rep, &error) == 0);
	TEST_ASSERT(replica_index_in_use(rep) == in_use);
	TEST_ASSERT(replica_index_trusted(rep) == trusted);
	TEST_ASSERT(replica_read_end(rep, &error) == 0);
}

/* test_index_watch - a read trusts the index only while nothing was
   written to the replica since one found it current: a sync's commit,
   a write that changes no generation (a heartbeat) and a checkpoint
   each make the next read check */
static void test_index_watch(const char *path)
{
	struct replica *rep = NULL;
	struct replica_index *ix = NULL, *ix2 = NULL;
	struct rights_decision d;
	char ix_error[512];
	const char *error;
	sqlite3 *db = NULL;

	if (story_with_index(path, &rep, &ix) < 0)
		goto out;
	watch_read(rep, true, false);	/* checks, and arms the watch */
	watch_read(rep, true, true);
	watch_read(rep, true, true);
	/* Nested reads join the outer one. */
	TEST_ASSERT(replica_read_begin(rep, &error) == 0);
	TEST_ASSERT(replica_read_begin(rep, &error) == 0);
	TEST_ASSERT(replica_index_trusted(rep));
	TEST_ASSERT(replica_read_end(rep, &error) == 0);
	TEST_ASSERT(replica_index_trusted(rep));
	TEST_ASSERT(replica_read_end(rep, &error) == 0);
	TEST_ASSERT(!replica_index_trusted(rep));

	/* A sync commits Peter's share with the right to send on behalf:
	   the next read checks, finds the index stale and reads the file. */
	TEST_ASSERT(story_build_on_behalf(path, NULL, NULL, true) == 0);
	watch_read(rep, false, false);
	TEST_ASSERT(rights_decide(rep, "jana.meier@abc.com",
				  "peter.mueller@abc.com", T2026, "+", &d,
				  &error) == 0);
	TEST_ASSERT(d.kind == RIGHTS_KIND_SHARED && d.may_send_on_behalf);
	watch_read(rep, false, false);

	/* The new state's index: checked once, then trusted. */
	TEST_ASSERT(replica_index_build(path, &ix2, ix_error,
					sizeof(ix_error)) == 0);
	if (ix2 == NULL)
		goto out;
	replica_set_index(rep, ix2);
	watch_read(rep, true, false);
	watch_read(rep, true, true);

	/* A write that leaves the generation alone (a heartbeat): one
	   check, the index still current, then trusted again. */
	TEST_ASSERT(sqlite3_open(path, &db) == SQLITE_OK);
	TEST_ASSERT(sqlite3_exec(db, "INSERT OR REPLACE INTO meta(key, value)"
				 " VALUES ('heartbeat', '1780272000')", NULL,
				 NULL, NULL) == SQLITE_OK);
	watch_read(rep, true, false);
	watch_read(rep, true, true);

	/* A checkpoint empties the WAL, the writer goes; the next one
	   writes it again: each is heard. */
	TEST_ASSERT(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL,
				 NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	db = NULL;
	watch_read(rep, true, false);
	watch_read(rep, true, true);
	TEST_ASSERT(sqlite3_open(path, &db) == SQLITE_OK);
	TEST_ASSERT(sqlite3_exec(db, "INSERT OR REPLACE INTO meta(key, value)"
				 " VALUES ('heartbeat', '1780272001')", NULL,
				 NULL, NULL) == SQLITE_OK);
	watch_read(rep, true, false);
	watch_read(rep, true, true);
	TEST_ASSERT(sqlite3_exec(db, "UPDATE meta SET value = 'moved-on'"
				 " WHERE key = 'generation'", NULL, NULL,
				 NULL) == SQLITE_OK);
	watch_read(rep, false, false);

	/* Taken back and lent again: checked first. */
	replica_set_index(rep, NULL);
	watch_read(rep, false, false);
out:
	sqlite3_close(db);
	replica_close(&rep);
	replica_index_free(&ix);
	replica_index_free(&ix2);
}

/* test_sent_copies_default - a mailbox without its own setting
   (vertrieb@abc.com) follows the site's (meta sent_copies); one with
   its own (info@ yes, buchhaltung@ no) and a user's own mailbox never
   do */
static void test_sent_copies_default(const char *path)
{
	static const struct {
		const char *login, *address;
		int copies;		/* -1: the site default */
	} cases[] = {
		{ "jana.meier@abc.com", "vertrieb@abc.com", -1 },
		{ "jana.meier@abc.com", "info@abc.com", 1 },
		{ "jana.meier@abc.com", "buchhaltung@abc.com", 0 },
		{ "jana.meier@abc.com", "jana.meier@abc.com", 0 },
	};

	for (int yes = 0; yes < 2; yes++) {
		struct replica_writer_settings set = { .sent_copies = yes };
		struct replica *rep = NULL;
		struct rights_decision d;
		const char *error;

		TEST_ASSERT(story_build_with(path, &set, false) == 0);
		TEST_ASSERT(open_rep(path, &rep) == 0);
		if (rep == NULL)
			return;
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]);
		     i++) {
			TEST_ASSERT(rights_decide(rep, cases[i].login,
						  cases[i].address, T2026, "+",
						  &d, &error) == 0);
			TEST_ASSERT(d.may_send);
			TEST_ASSERT(d.sent_copies_default ==
				    (cases[i].copies < 0));
			TEST_ASSERT(d.sent_copies == (cases[i].copies < 0 ?
						      yes != 0 :
						      cases[i].copies != 0));
		}
		close_rep(&rep);
	}
}

int main(void)
{
	char path[] = "/tmp/test-rights-XXXXXX";
	int fd = mkstemp(path);
	struct replica *rep;

	if (fd < 0)
		return 2;
	close(fd);
	unlink(path);
	for (int round = 0; round < 2; round++) {
		use_index = round == 1;
		TEST_ASSERT(story_build(path, NULL, NULL) == 0);
		TEST_ASSERT(open_rep(path, &rep) == 0);
		if (rep == NULL)
			return test_exit("test-rights");
		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
			check_row(rep, &rows[i]);
		TEST_RUN(test_lists(rep));
		TEST_RUN(test_entries(rep));
		TEST_RUN(test_access_agrees(rep));
		TEST_RUN(test_share_rows(rep));
		if (use_index)
			TEST_RUN(test_prefetch(rep));
		close_rep(&rep);
		TEST_RUN(test_groups_and_windows(path));
		TEST_RUN(test_cross_company(path));
		TEST_RUN(test_on_behalf(path));
		TEST_RUN(test_sent_copies_default(path));
	}
	TEST_RUN(test_share_letters());
	TEST_RUN(test_index_stale(path));
	TEST_RUN(test_index_watch(path));

	story_cleanup(path);
	return test_exit("test-rights");
}
