/*
 * NAME
 *	test-ldapdir - unit tests of the LDAP directory reader's helpers
 * DESCRIPTION
 *	Table-driven tests of ldapdir_dn_normalize(). Reading
 *	a real directory is tested against slapd in
 *	tests/integration/test_sync.py.
 */

#include <ldap.h>

#include "ldapdir.h"
#include "test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* test_dn_normalize - the one DN form of the replica */
static void test_dn_normalize(void)
{
	static const struct {
		const char *in;
		const char *out;	/* NULL: error */
	} tests[] = {
		{ "uid=peter.mueller,ou=people,o=abc.com,dc=example,dc=org",
		  "uid=peter.mueller,ou=people,o=abc.com,dc=example,dc=org" },
		{ "UID=Peter.Mueller, OU=People,O=ABC.com , DC=Example,DC=Org",
		  "uid=peter.mueller,ou=people,o=abc.com,dc=example,dc=org" },
		{ "cn=Staff,ou=groups;o=xyz.org",		/* ";" (v2) */
		  "cn=staff,ou=groups,o=xyz.org" },
		{ "cn= lead and trail ,dc=x",
		  "cn=lead and trail,dc=x" },
		{ "cn=Doe\\, John,dc=x", "cn=doe\\2c john,dc=x" },
		{ "cn=Doe\\2C John,dc=x", "cn=doe\\2c john,dc=x" },
		{ "cn=Doe\\2c John,dc=x", "cn=doe\\2c john,dc=x" },
		{ "cn=\"Doe, John\",dc=x", "cn=doe\\2c john,dc=x" },
		{ "cn=peter.m\xc3\xbcller,dc=x", "cn=peter.m\\c3\\bcller,dc=x" },
		{ "cn=peter.m\\C3\\BCller,dc=x", "cn=peter.m\\c3\\bcller,dc=x" },
		{ "cn=peter.m\\c3\\bcller,dc=x", "cn=peter.m\\c3\\bcller,dc=x" },
		{ "cn=a+sn=b,dc=x", "cn=a+sn=b,dc=x" },
		{ "cn=a\\+b,dc=x", "cn=a\\2bb,dc=x" },

		{ "", NULL },
		{ "garbage", NULL },
		{ "cn=peter.m\\C3,dc=x", NULL },		/* bad UTF-8 */
		{ "cn=a,,dc=x", NULL },
		{ "=a,dc=x", NULL },
		/* libldap reads "uid=# x" as an empty BER value and
		   writes "uid=#", which it cannot read back: no normal
		   form (the fuzzer's fixed-point check found it). */
		{ "uid=# x", NULL },
	};
	char out[REPLICA_DN_MAX], small[8];
	const char *error;
	size_t i;

	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		int ret = ldapdir_dn_normalize(tests[i].in, out, sizeof(out),
					       &error);

		if (tests[i].out == NULL) {
			if (ret == 0)
				fprintf(stderr, "dn \"%s\": got \"%s\", "
					"want an error\n", tests[i].in, out);
			TEST_ASSERT(ret < 0);
			continue;
		}
		if (ret < 0 || strcmp(out, tests[i].out) != 0)
			fprintf(stderr, "dn \"%s\": got %d \"%s\", "
				"want \"%s\"\n", tests[i].in, ret,
				ret == 0 ? out : error, tests[i].out);
		TEST_ASSERT(ret == 0);
		TEST_ASSERT(ret == 0 && strcmp(out, tests[i].out) == 0);
	}

	/* Plain DNs take a fast path: it must agree with libldap's
	   normalisation (lower-cased) for every one of them. */
	static const char *const plain[] = {
		"uid=Peter.Mueller,ou=People,o=abc.com,dc=example,dc=org",
		"cn=info@abc.com,ou=mailboxes,o=abc.com,dc=example,dc=org",
		"cn=share-tom-20260101,uid=peter.mueller,ou=people,dc=x",
		"CN=Staff_2,OU=Groups,DC=Example,DC=Org",
		"uid=u00042,ou=people,o=c0001.example,dc=example,dc=org",
		"dc=org", "cn=a-b,dc=x-y",
	};
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		char *ref = NULL;

		TEST_ASSERT(ldap_dn_normalize(plain[i], LDAP_DN_FORMAT_LDAP,
					      &ref, LDAP_DN_FORMAT_LDAPV3) ==
			    LDAP_SUCCESS);
		for (char *p = ref; p != NULL && *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		TEST_ASSERT(ldapdir_dn_normalize(plain[i], out, sizeof(out),
						 &error) == 0);
		TEST_ASSERT(ref != NULL && strcmp(out, ref) == 0);
		ldap_memfree(ref);
	}

	/* NULL-safe. */
	TEST_ASSERT(ldapdir_dn_normalize(NULL, out, sizeof(out), &error) < 0);
	TEST_ASSERT(ldapdir_dn_normalize("cn=x", NULL, 10, &error) < 0);
	TEST_ASSERT(ldapdir_dn_normalize("cn=x", out, 0, &error) < 0);

	/* Bounded: an output that does not fit is an error, not cut. */
	TEST_ASSERT(ldapdir_dn_normalize("cn=x,dc=y", small, sizeof(small),
					 &error) < 0);
	TEST_ASSERT(strcmp(error, "DN too long") == 0);
	TEST_ASSERT(ldapdir_dn_normalize("cn=x,dc=y", out, 10, &error) == 0);
	TEST_ASSERT(ldapdir_dn_normalize("cn=x,dc=y", out, 9, &error) < 0);
	{
		/* Just too long for the replica, and far too long. */
		size_t n = REPLICA_DN_MAX + 20, big = 100000;
		char *dn = malloc(big + 1);

		TEST_ASSERT(dn != NULL);
		if (dn != NULL) {
			memcpy(dn, "cn=", 3);
			memset(dn + 3, 'a', n - 3);
			dn[n] = '\0';
			TEST_ASSERT(ldapdir_dn_normalize(dn, out, sizeof(out),
							 &error) < 0);
			TEST_ASSERT(strcmp(error, "DN too long") == 0);
			memset(dn + 3, 'a', big - 3);
			dn[big] = '\0';
			TEST_ASSERT(ldapdir_dn_normalize(dn, out, sizeof(out),
							 &error) < 0);
			free(dn);
		}
	}
}

int main(void)
{
	test_dn_normalize();
	return test_exit("test-ldapdir");
}
