/*
 * NAME
 *	test-socketmap - the socketmap request framing
 * DESCRIPTION
 *	Complete netstrings, netstrings still coming (at every byte), and
 *	the bad input that closes a connection: no length, a length of
 *	seven digits, no colon, a length above the caller's buffer, no
 *	comma.
 */

#include <string.h>

#include "socketmap.h"
#include "test.h"

struct socketmap_case {
	const char *in;
	int ret;		/* for the whole input */
	const char *query;	/* ret 1: the text */
	size_t used;		/* ret 1: bytes of the netstring */
};

static const struct socketmap_case cases[] = {
	{ "20:mailbox info@abc.com,", 1, "mailbox info@abc.com", 24 },
	{ "5:alias,", 1, "alias", 8 },
	{ "0:,", 1, "", 3 },
	{ "000005:alias,", 1, "alias", 13 },
	/* A pipelined second request is left for the next call. */
	{ "5:alias,7:mailbox,", 1, "alias", 8 },
	/* Not yet complete. */
	{ "", 0, NULL, 0 },
	{ "2", 0, NULL, 0 },
	{ "123456", 0, NULL, 0 },
	{ "5:ali", 0, NULL, 0 },
	{ "5:alias", 0, NULL, 0 },
	/* Bad. */
	{ ":alias,", -1, NULL, 0 },
	{ "1234567:x,", -1, NULL, 0 },
	{ "0000001:x,", -1, NULL, 0 },	/* seven digits, however small */
	{ "5;alias,", -1, NULL, 0 },
	{ "x:alias,", -1, NULL, 0 },
	{ "101:x", -1, NULL, 0 },	/* above max (100) */
	{ "5:alias;", -1, NULL, 0 },
	{ "5:aliasX,", -1, NULL, 0 },
};

/* test_table - each case whole, and every proper prefix of it */
static void test_table(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct socketmap_case *c = &cases[i];
		const char *query = NULL, *error = NULL;
		size_t len = 0, used = 0, in_len = strlen(c->in);
		int ret;

		test_begin_row("cases", i);
		ret = socketmap_request(c->in, in_len, 100, &query, &len,
					&used, &error);
		TEST_ASSERT(ret == c->ret);
		if (ret == 1 && c->ret == 1) {
			TEST_ASSERT(len == strlen(c->query) &&
				    memcmp(query, c->query, len) == 0);
			TEST_ASSERT(used == c->used);
		}
		if (c->ret < 0)
			TEST_ASSERT(error != NULL);
		/* A complete request is incomplete at every shorter
		   length: never answered early, never refused early. */
		for (size_t n = 0; c->ret == 1 && n < c->used; n++)
			TEST_ASSERT(socketmap_request(c->in, n, 100, &query,
						      &len, &used,
						      &error) == 0);
		test_end();
	}
}

int main(void)
{
	test_table();
	return test_exit("test-socketmap");
}
