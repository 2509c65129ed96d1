/*
 * NAME
 *	test-ldapconn - unit tests of the bind password file
 * DESCRIPTION
 *	Tests of ldapconn_password_read() and ldapconn_password_free().
 *	Connecting and binding are tested against slapd in
 *	tests/integration (test_sync.py, test_messages.py).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ldapconn.h"
#include "test.h"

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
		ret = ldapconn_password_read(path, &password, &error);
		if (tests[i].password != NULL) {
			TEST_ASSERT(ret == 0);
			TEST_ASSERT(password != NULL &&
				    strcmp(password, tests[i].password) == 0);
			ldapconn_password_free(&password);
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
	buf = malloc(LDAPCONN_PASSWORD_MAX + 10);
	TEST_ASSERT(buf != NULL);
	if (buf != NULL) {
		memset(buf, 'p', LDAPCONN_PASSWORD_MAX + 10);
		buf[LDAPCONN_PASSWORD_MAX] = '\n';
		test_write_file(path, buf, LDAPCONN_PASSWORD_MAX + 1);
		TEST_ASSERT(ldapconn_password_read(path, &password,
						       &error) == 0);
		TEST_ASSERT(password != NULL &&
			    strlen(password) == LDAPCONN_PASSWORD_MAX);
		ldapconn_password_free(&password);

		memset(buf, 'p', LDAPCONN_PASSWORD_MAX + 10);
		buf[LDAPCONN_PASSWORD_MAX + 1] = '\n';
		test_write_file(path, buf, LDAPCONN_PASSWORD_MAX + 2);
		password = NULL;
		TEST_ASSERT(ldapconn_password_read(path, &password,
						       &error) < 0);
		TEST_ASSERT(password == NULL);
		TEST_ASSERT(strstr(error, "longer than") != NULL);

		memset(buf, 'p', LDAPCONN_PASSWORD_MAX + 10);
		test_write_file(path, buf, LDAPCONN_PASSWORD_MAX + 10);
		TEST_ASSERT(ldapconn_password_read(path, &password,
						       &error) < 0);
		TEST_ASSERT(strstr(error, "longer than") != NULL);
		free(buf);
	}

	/* The error names the file, never the content. */
	test_write_file(path, "topsecret\n", 10);
	TEST_ASSERT(unlink(path) == 0);
	password = NULL;
	TEST_ASSERT(ldapconn_password_read(path, &password, &error) < 0);
	TEST_ASSERT(password == NULL);
	TEST_ASSERT(strstr(error, path) != NULL);
	TEST_ASSERT(strstr(error, strerror(ENOENT)) != NULL);
	TEST_ASSERT(ldapconn_password_read("", &password, &error) < 0);
	TEST_ASSERT(ldapconn_password_read(NULL, &password, &error) < 0);
	/* A directory is not a password file. */
	TEST_ASSERT(ldapconn_password_read(dir, &password, &error) < 0);
	TEST_ASSERT(password == NULL);
	TEST_ASSERT(rmdir(dir) == 0);

	ldapconn_password_free(&password);	/* NULL is fine */
}

int main(void)
{
	test_password_file();
	return test_exit("test-ldapconn");
}
