/*
 * NAME
 *	test-ldapdir - unit tests of the LDAP directory reader's helpers
 * DESCRIPTION
 *	Table-driven tests of ldapdir_parse_generalized_time(),
 *	ldapdir_dn_normalize() and ldapdir_read_password_file(). Reading
 *	a real directory is tested against slapd in
 *	tests/integration/test_sync.py.
 */

#include <ldap.h>

#include "ldapdir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int test_failures;

#define TEST_ASSERT(cond) \
	test_assert((cond), #cond, __FILE__, __LINE__)

/* test_assert - count and report one failed check */
static void test_assert(int ok, const char *what, const char *file, int line)
{
	if (!ok) {
		fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what);
		test_failures++;
	}
}

/* test_exit - the exit status of the test run */
static int test_exit(void)
{
	if (test_failures > 0)
		fprintf(stderr, "test-ldapdir: %d failure(s)\n", test_failures);
	return test_failures == 0 ? 0 : 1;
}

/* test_generalized_time - valid and invalid GeneralizedTime strings */
static void test_generalized_time(void)
{
	static const struct {
		const char *in;
		int ret;
		long long t;
	} tests[] = {
		{ "19700101000000Z", 0, 0 },
		{ "20250101000000Z", 0, 1735689600 },
		{ "20351231235959Z", 0, 2082758399 },
		{ "202501010000Z", 0, 1735689600 },		/* no seconds */
		{ "2025010112Z", 0, 1735732800 },		/* no minutes */
		{ "20250101000000.5Z", 0, 1735689600 },		/* fraction */
		{ "20250101000000,999999999999Z", 0, 1735689600 },
		{ "202501010000.5Z", 0, 1735689630 },		/* half a min */
		{ "2025010100.25Z", 0, 1735690500 },		/* 1/4 hour */
		{ "20250101010000+0100", 0, 1735689600 },
		{ "20241231230000-0100", 0, 1735689600 },
		{ "20250101053000+0530", 0, 1735689600 },
		{ "20250101020000+02", 0, 1735689600 },		/* +hh only */
		{ "20240229120000Z", 0, 1709208000 },		/* leap day */
		{ "20000229000000Z", 0, 951782400 },
		{ "20161231235960Z", 0, 1483228800 },		/* leap sec */
		{ "99991231235959Z", 0, 253402300799LL },
		{ "19691231235959Z", 0, -1 },

		{ "", -1, 0 },
		{ "2025", -1, 0 },
		{ "20250101000000", -1, 0 },			/* no zone */
		{ "20250101000000z", -1, 0 },
		{ "20250101000000 Z", -1, 0 },
		{ "20250101000000ZZ", -1, 0 },
		{ "20250101000000Z ", -1, 0 },
		{ "20251301000000Z", -1, 0 },			/* month 13 */
		{ "20250001000000Z", -1, 0 },
		{ "20250100000000Z", -1, 0 },			/* day 0 */
		{ "20250230000000Z", -1, 0 },			/* Feb 30 */
		{ "20230229000000Z", -1, 0 },			/* not leap */
		{ "19000229000000Z", -1, 0 },
		{ "00000229000000Z", 0, -62162121600LL },	/* leap */
		{ "20250101240000Z", -1, 0 },			/* hour 24 */
		{ "20250101006000Z", -1, 0 },
		{ "20250101000061Z", -1, 0 },
		{ "20250101000000.Z", -1, 0 },			/* no digits */
		{ "20250101000000+2400", -1, 0 },
		{ "20250101000000+0160", -1, 0 },
		{ "20250101000000+1", -1, 0 },
		{ "20250101000000+01000", -1, 0 },
		{ "2025010100000Z", -1, 0 },			/* odd digits */
		{ "00000101000000Z", 0, -62167219200LL },	/* year 0 */
		{ "yesterday", -1, 0 },
		{ "-2025010100Z", -1, 0 },
		{ "20250101000000Z\n", -1, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		time_t t = 12345;
		int ret = ldapdir_parse_generalized_time(tests[i].in, &t);

		if (ret != tests[i].ret ||
		    (ret == 0 && (long long)t != tests[i].t)) {
			fprintf(stderr, "generalized time \"%s\": got %d/%lld, "
				"want %d/%lld\n", tests[i].in, ret,
				(long long)t, tests[i].ret, tests[i].t);
		}
		TEST_ASSERT(ret == tests[i].ret);
		if (ret == 0 && tests[i].ret == 0)
			TEST_ASSERT((long long)t == tests[i].t);
		if (ret < 0)
			TEST_ASSERT(t == 12345);	/* untouched */
	}
	TEST_ASSERT(ldapdir_parse_generalized_time(NULL, &(time_t){0}) < 0);
}

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

/* test_write_file - a temporary file with given bytes */
static void test_write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");

	TEST_ASSERT(f != NULL);
	if (f == NULL)
		return;
	TEST_ASSERT(fwrite(data, 1, len, f) == len);
	TEST_ASSERT(fclose(f) == 0);
}

/* test_password_file - the bind password file */
static void test_password_file(void)
{
	static const struct {
		const char *data;
		size_t len;
		const char *password;	/* NULL: error */
		const char *error_part;
	} tests[] = {
		{ "secret", 6, "secret", NULL },
		{ "secret\n", 7, "secret", NULL },
		{ "secret\r\n", 8, "secret", NULL },
		{ "secret\nsecond line\n", 19, "secret", NULL },
		{ " spaced pass ", 13, " spaced pass ", NULL },
		{ "", 0, NULL, "empty password" },
		{ "\n", 1, NULL, "empty password" },
		{ "\r\n", 2, NULL, "empty password" },
		{ "\nsecret\n", 8, NULL, "empty password" },
		{ "se\0cret\n", 8, NULL, "NUL" },
	};
	char dir[] = "/tmp/test-ldapdir.XXXXXX";
	char path[256], *buf, *password;
	const char *error;
	size_t i;

	TEST_ASSERT(mkdtemp(dir) != NULL);
	TEST_ASSERT(snprintf(path, sizeof(path), "%s/pw", dir) <
		    (int)sizeof(path));

	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		int ret;

		test_write_file(path, tests[i].data, tests[i].len);
		password = NULL;
		ret = ldapdir_read_password_file(path, &password, &error);
		if (tests[i].password != NULL) {
			TEST_ASSERT(ret == 0);
			TEST_ASSERT(password != NULL &&
				    strcmp(password, tests[i].password) == 0);
			ldapdir_password_free(&password);
			TEST_ASSERT(password == NULL);
		} else {
			TEST_ASSERT(ret < 0);
			TEST_ASSERT(password == NULL);
			TEST_ASSERT(ret == 0 ||
				    strstr(error, tests[i].error_part) != NULL);
			TEST_ASSERT(ret == 0 || strstr(error, path) != NULL);
		}
	}

	/* Exactly the limit, and one byte over it (with and without a
	   newline after it). */
	buf = malloc(LDAPDIR_PASSWORD_MAX + 10);
	TEST_ASSERT(buf != NULL);
	if (buf != NULL) {
		memset(buf, 'p', LDAPDIR_PASSWORD_MAX + 10);
		buf[LDAPDIR_PASSWORD_MAX] = '\n';
		test_write_file(path, buf, LDAPDIR_PASSWORD_MAX + 1);
		TEST_ASSERT(ldapdir_read_password_file(path, &password,
						       &error) == 0);
		TEST_ASSERT(password != NULL &&
			    strlen(password) == LDAPDIR_PASSWORD_MAX);
		ldapdir_password_free(&password);

		memset(buf, 'p', LDAPDIR_PASSWORD_MAX + 10);
		buf[LDAPDIR_PASSWORD_MAX + 1] = '\n';
		test_write_file(path, buf, LDAPDIR_PASSWORD_MAX + 2);
		password = NULL;
		TEST_ASSERT(ldapdir_read_password_file(path, &password,
						       &error) < 0);
		TEST_ASSERT(password == NULL);
		TEST_ASSERT(strstr(error, "longer than") != NULL);

		memset(buf, 'p', LDAPDIR_PASSWORD_MAX + 10);
		test_write_file(path, buf, LDAPDIR_PASSWORD_MAX + 10);
		TEST_ASSERT(ldapdir_read_password_file(path, &password,
						       &error) < 0);
		TEST_ASSERT(strstr(error, "longer than") != NULL);
		free(buf);
	}

	/* The error names the file, never the content. */
	test_write_file(path, "topsecret\n", 10);
	TEST_ASSERT(unlink(path) == 0);
	password = NULL;
	TEST_ASSERT(ldapdir_read_password_file(path, &password, &error) < 0);
	TEST_ASSERT(password == NULL);
	TEST_ASSERT(strstr(error, path) != NULL);
	TEST_ASSERT(strstr(error, strerror(ENOENT)) != NULL);
	TEST_ASSERT(ldapdir_read_password_file("", &password, &error) < 0);
	TEST_ASSERT(ldapdir_read_password_file(NULL, &password, &error) < 0);
	/* A directory is not a password file. */
	TEST_ASSERT(ldapdir_read_password_file(dir, &password, &error) < 0);
	TEST_ASSERT(password == NULL);
	TEST_ASSERT(rmdir(dir) == 0);

	ldapdir_password_free(&password);	/* NULL is fine */
}

int main(void)
{
	test_generalized_time();
	test_dn_normalize();
	test_password_file();
	return test_exit();
}
