/*
 * NAME
 *	test-ldapshare - unit tests of the share writer's value checks
 * DESCRIPTION
 *	Table-driven tests of ldapshare_name_check() and
 *	ldapshare_rdn_dn(), and the window checks ldapshare_add() makes
 *	first. The rights letters and the times of the command line are
 *	checked by cli/share.c: tests/integration/test_share.py
 *	(test_bad_values), tests/unit/test-gentime.c. Adding and removing
 *	shares in a real directory, with its access rules, is tested in
 *	tests/integration/test_share.py.
 */

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ldap.h>

#include "ldapshare.h"
#include "test.h"

/* test_name_and_dn - share names and the DNs built from them */
static void test_name_and_dn(void)
{
	static const struct {
		const char *name;
		const char *parent;
		const char *dn;		/* NULL: refused */
	} tests[] = {
		{ "vacation", "uid=peter,dc=example,dc=org",
		  "cn=vacation,uid=peter,dc=example,dc=org" },
		{ "a,b", "dc=x", "cn=a\\2Cb,dc=x" },
		{ "a+b=c", "dc=x", "cn=a\\2Bb\\3Dc,dc=x" },
		{ "\"q\"\\", "dc=x", "cn=\\22q\\22\\5C,dc=x" },
		{ "#x", "dc=x", "cn=\\23x,dc=x" },
		{ " x ", "dc=x", "cn=\\20x\\20,dc=x" },
		{ "müller", "dc=x", "cn=müller,dc=x" },
		{ "a<b>;c", "dc=x", "cn=a\\3Cb\\3E\\3Bc,dc=x" },
		{ "", "dc=x", NULL },
		{ "a\nb", "dc=x", NULL },
		{ "0123456789012345678901234567890123456789012345678901234567890123",
		  "dc=x",
		  "cn=0123456789012345678901234567890123456789012345678901234567890123,dc=x" },
		{ "01234567890123456789012345678901234567890123456789012345678901234",
		  "dc=x", NULL },
	};
	const char *error;

	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		char *dn = NULL;
		int ret = ldapshare_rdn_dn(tests[i].name, tests[i].parent, &dn,
					   &error);

		TEST_ASSERT((ret == 0) == (tests[i].dn != NULL));
		TEST_ASSERT((ldapshare_name_check(tests[i].name, &error) ==
			     0) == (tests[i].dn != NULL));
		if (ret == 0 && tests[i].dn != NULL) {
			LDAPDN parsed = NULL;

			TEST_STREQ(dn, tests[i].dn);
			/* What we build, libldap reads back as the name. */
			TEST_ASSERT(ldap_str2dn(dn, &parsed,
						LDAP_DN_FORMAT_LDAPV3) ==
				    LDAP_SUCCESS);
			if (parsed != NULL) {
				struct berval *v = &parsed[0][0]->la_value;

				TEST_ASSERT(v->bv_len ==
						    strlen(tests[i].name) &&
					    memcmp(v->bv_val, tests[i].name,
						   v->bv_len) == 0);
			}
			ldap_dnfree(parsed);
		}
		free(dn);
	}
}

/* settings_refused - ldapshare_add() refuses set before it touches the
   directory, with the error text want; asked in a child process, so
   that a mistake that does reach for the (NULL) connection is a failed
   check here, not a crash of the whole test */
static bool settings_refused(const struct ldapshare_settings *set,
			     const char *want)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		const char *error = NULL;
		int rc = ldapshare_add(NULL, set, NULL, NULL, &error);

		_exit(rc == 1 && error != NULL &&
		      (want == NULL || strcmp(error, want) == 0) ? 0 : 1);
	}
	return pid > 0 && waitpid(pid, &status, 0) == pid &&
		WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* test_settings - a new share's values are refused before the
   directory is asked (no connection needed) */
static void test_settings(void)
{
	struct ldapshare_settings set = { .owner = "peter.mueller@abc.com",
					  .grantee = "tom.berger@abc.com" };

	set.not_before = 2224483200;	/* 2040-06-29T00:00:00Z */
	set.not_after = set.not_before - 1;
	TEST_ASSERT(settings_refused(&set,
				     "the share would end before it begins"));
	/* Both ends count: the same second is a share of one second. */
	set.not_after = set.not_before;
	TEST_ASSERT(settings_refused(&set,
				     "the share would end the second it "
				     "begins"));
	set.not_after = set.not_before + 1;
	set.description = "line\nbreak";
	TEST_ASSERT(settings_refused(&set, "description: at most 1024 bytes, "
				     "no control characters"));
}

int main(void)
{
	test_name_and_dn();
	test_settings();
	return test_exit("test-ldapshare");
}
