/*
 * NAME
 *	test-aclmerge - unit tests of the access rule merge
 * DESCRIPTION
 *	aclmerge_merge() on Debian's default rules, a site's rules for
 *	other subtrees and attributes, clauses for named identities that
 *	move into mailgrants' rules, earlier runs' output (nothing
 *	changes), quoted "by" and broken rules; aclmerge_fold() and
 *	aclmerge_strip_index(). "mailgrants setup-directory" against a
 *	real slapd is tests/integration/test_setup_directory.py.
 */

#include <stdlib.h>
#include <string.h>

#include "aclmerge.h"
#include "test.h"

/* A small stand-in for access.ldif: the root's rule, userPassword
   (carry), a pass-on rule, the readers' rule (carry), a rule scoped by
   filter, and the two rules for everything else. */
static const struct aclmerge_rule mg[] = {
	{ (char *)"to * by dn.exact=uid0 manage by * break",
	  (char *)"root", false },
	{ (char *)"to attrs=userPassword by self =w by anonymous auth "
	  "by * none", (char *)"mg0", true },
	{ (char *)"to attrs=children by group.exact=\"cn=a\" write "
	  "by * break", (char *)"mg1", false },
	{ (char *)"to * by dn.exact=\"cn=sync\" read by * break",
	  (char *)"mg2", true },
	{ (char *)"to filter=(objectClass=mailgrantsMailbox) "
	  "by group.exact=\"cn=a\" write by * none", (char *)"mg3", false },
	{ (char *)"to attrs=entry by self read by * none",
	  (char *)"mg4", false },
	{ (char *)"to * by self read by * none", (char *)"mg5", false },
};
#define MG_COUNT (sizeof(mg) / sizeof(mg[0]))

/* texts - the result's rule texts, for comparing in one go */
static char *texts(const struct aclmerge_result *r)
{
	size_t len = 1;
	char *out;

	for (size_t i = 0; i < r->count; i++)
		len += strlen(r->rules[i].text) + 1;
	out = calloc(1, len);
	for (size_t i = 0; i < r->count; i++) {
		strcat(out, r->rules[i].text);
		strcat(out, "\n");
	}
	return out;
}

/* test_debian - Debian's three rules */
static void test_debian(void)
{
	static const char *const site[] = {
		("{0}to attrs=userPassword by self write by anonymous auth "
		 "by * none"),
		"{1}to attrs=shadowLastChange by self write by * read",
		"{2}to * by * read",
	};
	struct aclmerge_result r;
	const char *error;
	char *t;

	TEST_ASSERT(aclmerge_merge(site, 3, mg, MG_COUNT, &r, &error) == 0);
	t = texts(&r);
	/* The site's attribute rule is kept, before the two rules for
	   everything else; its userPassword and catch-all rules are
	   replaced, nothing of them carried (only generic clauses). */
	TEST_STREQ(t,
		   "to * by dn.exact=uid0 manage by * break\n"
		   "to attrs=userPassword by self =w by anonymous auth "
		   "by * none\n"
		   "to attrs=children by group.exact=\"cn=a\" write "
		   "by * break\n"
		   "to * by dn.exact=\"cn=sync\" read by * break\n"
		   "to filter=(objectClass=mailgrantsMailbox) "
		   "by group.exact=\"cn=a\" write by * none\n"
		   "to attrs=shadowLastChange by self write by * read\n"
		   "to attrs=entry by self read by * none\n"
		   "to * by self read by * none\n");
	free(t);
	TEST_ASSERT(r.count == 8);
	TEST_STREQ(r.rules[5].origin, "the site's rule {1}, kept before "
		   "mailgrants' rules for everything else");
	TEST_STREQ(r.rules[1].origin, "mg0");
	TEST_ASSERT(r.rules[3].carry);
	TEST_ASSERT(r.note_count == 2);
	TEST_ASSERT(r.note_count == 2 &&
		    strstr(r.notes[0], "{0}") != NULL &&
		    strstr(r.notes[0], "replaced by mg0") != NULL &&
		    strstr(r.notes[1], "\"to * by * read\" is replaced by "
			   "mg2") != NULL);
	aclmerge_result_free(&r);
}

/* test_carry - clauses for named identities move into the rule that
   carries for that <what>; generic ones are dropped; twice is once */
static void test_carry(void)
{
	static const char *const site[] = {
		"to * by dn.exact=\"cn=postfix,dc=x\" read by users read "
		"by * none",
		"to attrs=userPassword by dn.base=\"cn=repl\" read "
		"by self write by * none",
		"to dn.subtree=\"ou=hosts,dc=x\" by users read",
		"to * by peername.ip=10.0.0.1 read by * break",
	};
	struct aclmerge_result r, again;
	const char *error;
	char *t, *t2;

	TEST_ASSERT(aclmerge_merge(site, 4, mg, MG_COUNT, &r, &error) == 0);
	t = texts(&r);
	TEST_STREQ(t,
		   "to * by dn.exact=uid0 manage by * break\n"
		   "to attrs=userPassword by self =w by anonymous auth "
		   "by dn.base=\"cn=repl\" read by * none\n"
		   "to attrs=children by group.exact=\"cn=a\" write "
		   "by * break\n"
		   "to * by dn.exact=\"cn=sync\" read "
		   "by dn.exact=\"cn=postfix,dc=x\" read "
		   "by peername.ip=10.0.0.1 read by * break\n"
		   "to filter=(objectClass=mailgrantsMailbox) "
		   "by group.exact=\"cn=a\" write by * none\n"
		   "to dn.subtree=\"ou=hosts,dc=x\" by users read\n"
		   "to attrs=entry by self read by * none\n"
		   "to * by self read by * none\n");
	TEST_ASSERT(strstr(r.rules[3].origin, "mg2; with clauses of the "
			   "site's rule {0}; with clauses of the site's rule "
			   "{3}") == r.rules[3].origin);
	/* The result as the site's rules: nothing changes. */
	{
		const char **again_site = calloc(r.count, sizeof(char *));

		for (size_t i = 0; i < r.count; i++)
			again_site[i] = r.rules[i].text;
		TEST_ASSERT(aclmerge_merge(again_site, r.count, mg, MG_COUNT,
					   &again, &error) == 0);
		t2 = texts(&again);
		TEST_STREQ(t2, t);
		free(t2);
		free(again_site);
		aclmerge_result_free(&again);
	}
	free(t);
	aclmerge_result_free(&r);
}

/* test_broad - "by dn.regex" and the like are not carried: named */
static void test_broad(void)
{
	static const char *const site[] = {
		"to * by dn.regex=\".*,dc=x\" write by dn.subtree=\"dc=x\" "
		"read by dn.base=\"cn=backup\" read by * read",
	};
	struct aclmerge_result r;
	const char *error;

	TEST_ASSERT(aclmerge_merge(site, 1, mg, MG_COUNT, &r, &error) == 0);
	TEST_STREQ(r.rules[3].text, "to * by dn.exact=\"cn=sync\" read "
		   "by dn.base=\"cn=backup\" read by * break");
	TEST_ASSERT(r.note_count == 3);
	TEST_ASSERT(r.note_count == 3 &&
		    strstr(r.notes[0], "\"by dn.regex=\".*,dc=x\" write\" is "
			   "dropped") != NULL &&
		    strstr(r.notes[1], "\"by dn.subtree=\"dc=x\" read\" is "
			   "dropped") != NULL);
	aclmerge_result_free(&r);
}

/* test_same - an earlier run's rules, written otherwise, are dropped */
static void test_same(void)
{
	static const char *const site[] = {
		"{0}to *  BY dn.exact=\"UID0\" manage by * break",
		"{1}to attrs=userPassword\n by self =w by anonymous auth "
		"by * none",
	};
	struct aclmerge_result r;
	const char *error;

	TEST_ASSERT(aclmerge_merge(site, 2, mg, MG_COUNT, &r, &error) == 0);
	TEST_ASSERT(r.count == MG_COUNT);
	TEST_ASSERT(r.note_count == 0);
	TEST_ASSERT(aclmerge_same(site[0], mg[0].text));
	TEST_ASSERT(!aclmerge_same(site[0], mg[1].text));
	aclmerge_result_free(&r);
}

/* test_quoted - "by" in quotes is not a clause; broken rules fail */
static void test_quoted(void)
{
	static const char *const site[] = {
		"to dn.regex=\"^cn=a by b\" by * read",
	};
	static const char *const bad1[] = { "by * read" };
	static const char *const bad2[] = { "to *" };
	struct aclmerge_result r;
	const char *error;
	char *f;

	TEST_ASSERT(aclmerge_merge(site, 1, mg, MG_COUNT, &r, &error) == 0);
	TEST_ASSERT(r.count == MG_COUNT + 1);
	TEST_STREQ(r.rules[5].text, "to dn.regex=\"^cn=a by b\" by * read");
	aclmerge_result_free(&r);
	f = aclmerge_fold("to dn.regex=\"^cn=a by b\" by * read by x none");
	TEST_STREQ(f, "to dn.regex=\"^cn=a by b\"\n  by * read\n  by x none");
	free(f);
	error = NULL;
	TEST_ASSERT(aclmerge_merge(bad1, 1, mg, MG_COUNT, &r, &error) < 0);
	TEST_ASSERT(error != NULL && strstr(error, "{0}") != NULL);
	TEST_ASSERT(aclmerge_merge(bad2, 1, mg, MG_COUNT, &r, &error) < 0);
	TEST_ASSERT(r.count == 0 && r.rules == NULL);
}

/* test_strip - the {N} prefix */
static void test_strip(void)
{
	TEST_STREQ(aclmerge_strip_index("{12}to *"), "to *");
	TEST_STREQ(aclmerge_strip_index("{}to *"), "{}to *");
	TEST_STREQ(aclmerge_strip_index("{1x}to *"), "{1x}to *");
	TEST_STREQ(aclmerge_strip_index("to *"), "to *");
}

int main(void)
{
	test_debian();
	test_carry();
	test_broad();
	test_same();
	test_quoted();
	test_strip();
	return test_exit("test-aclmerge");
}
