/*
 * NAME
 *	test-header - unit tests of the From:/Sender: address parser
 * DESCRIPTION
 *	A table of header field values as real mail clients and lists
 *	write them (Thunderbird, Outlook, Apple Mail, mutt, mailing list
 *	software, RFC 5322 appendix A and its obsolete forms), each with
 *	the addresses header_addresses_parse() must find, or the error
 *	it must give. The milter that uses it is tested black-box in
 *	tests/integration/test_milter.py.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "header.h"
#include "test.h"

struct header_case {
	const char *value;
	const char *want;	/* addresses joined with " | ", or NULL */
	const char *error;	/* part of the error text when want is NULL */
};

static const struct header_case cases[] = {
	/* Plain forms. */
	{ "sandra.schuster@abc.com", "sandra.schuster@abc.com", NULL },
	{ " sandra.schuster@abc.com ", "sandra.schuster@abc.com", NULL },
	{ "<sandra.schuster@abc.com>", "sandra.schuster@abc.com", NULL },
	{ "Sandra Schuster <sandra.schuster@abc.com>",
	  "sandra.schuster@abc.com", NULL },
	{ "Peter M\xc3\xbcller <peter.mueller@abc.com>",
	  "peter.mueller@abc.com", NULL },
	{ "info@abc.com", "info@abc.com", NULL },
	{ "INFO@ABC.COM", "INFO@ABC.COM", NULL },

	/* Quoted display names with specials in them. */
	{ "\"M\xc3\xbcller, Peter\" <peter.mueller@abc.com>",
	  "peter.mueller@abc.com", NULL },
	{ "\"peter.mueller@abc.com\" <sandra.schuster@abc.com>",
	  "sandra.schuster@abc.com", NULL },
	{ "\"Sandra <Vertrieb>; abc: \\\"Makler\\\"\" <makler@abc.com>",
	  "makler@abc.com", NULL },
	{ "\"\" <sandra.schuster@abc.com>", "sandra.schuster@abc.com", NULL },
	{ "Peter J. M\xc3\xbcller <peter.mueller@abc.com>",
	  "peter.mueller@abc.com", NULL },
	{ "\"Schuster, Sandra (ABC)\"<sandra.schuster@abc.com>",
	  "sandra.schuster@abc.com", NULL },

	/* Comments. */
	{ "sandra.schuster@abc.com (Sandra Schuster)",
	  "sandra.schuster@abc.com", NULL },
	{ "(Sandra) sandra.schuster@abc.com", "sandra.schuster@abc.com",
	  NULL },
	{ "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
	  "pete@silly.test", NULL },
	{ "sandra.schuster@abc.com (nested (comment) here)",
	  "sandra.schuster@abc.com", NULL },
	{ "Sandra <sandra.schuster@abc.com> (Vertrieb)",
	  "sandra.schuster@abc.com", NULL },

	/* Folded lines (CRLF or LF as Postfix hands them, then WSP). */
	{ "Peter =?UTF-8?Q?M=C3=BCller?=\r\n <peter.mueller@abc.com>",
	  "peter.mueller@abc.com", NULL },
	{ "\"Sandra Schuster\"\n\t<sandra.schuster@abc.com>",
	  "sandra.schuster@abc.com", NULL },
	{ "a@abc.com,\r\n b@abc.com,\r\n\tc@abc.com",
	  "a@abc.com | b@abc.com | c@abc.com", NULL },
	{ "\"Folded\r\n name\" <info@abc.com>", "info@abc.com", NULL },

	/* RFC 2047 encoded words in display names. */
	{ "=?UTF-8?Q?Peter_M=C3=BCller?= <peter.mueller@abc.com>",
	  "peter.mueller@abc.com", NULL },
	{ "=?utf-8?B?UGV0ZXIgTcO8bGxlcg==?= <peter.mueller@abc.com>",
	  "peter.mueller@abc.com", NULL },
	{ "=?ISO-8859-1?Q?Peter_M=FCller?= =?ISO-8859-1?Q?_(ABC)?= "
	  "<peter.mueller@abc.com>", "peter.mueller@abc.com", NULL },
	/* Unquoted specials inside encoded text, as some clients write. */
	{ "=?UTF-8?Q?M=C3=BCller,_Peter?= <peter.mueller@abc.com>",
	  "peter.mueller@abc.com", NULL },
	{ "=?utf-8*de?q?Sandra_/_Vertrieb;_ABC:?= <sandra.schuster@abc.com>",
	  "sandra.schuster@abc.com", NULL },
	/* "<", ">", "@", quotes, parentheses, brackets and backslash end
	   an encoded word's claim to be one: what a client that does not
	   know RFC 2047 would see as an address is seen here too. */
	{ "=?utf-8?q?Peter_<peter.mueller@abc.com>?= <sandra.schuster@abc.com>",
	  NULL, "text after <address>" },
	{ "=?utf-8?q?x,peter.mueller@abc.com?= <sandra.schuster@abc.com>",
	  NULL, "in a display name" },
	{ "=?utf-8?q?x,peter.mueller@abc.com?=",
	  "=?utf-8?q?x | peter.mueller@abc.com?=", NULL },
	{ "\"=?UTF-8?Q?Peter_M=C3=BCller?=\" <peter.mueller@abc.com>",
	  "peter.mueller@abc.com", NULL },
	/* Not an encoded word (a space inside): the comma separates, and
	   the first "mailbox" has no domain, which the check rejects. */
	{ "=?UTF-8?Q?M=C3=BCller, Peter?= <peter.mueller@abc.com>",
	  "=?UTF-8?Q?M=C3=BCller | peter.mueller@abc.com", NULL },

	/* Several addresses; group syntax (RFC 6854 allows it in From:). */
	{ "sandra.schuster@abc.com, peter.mueller@abc.com",
	  "sandra.schuster@abc.com | peter.mueller@abc.com", NULL },
	{ "Sandra <sandra.schuster@abc.com>, \"M\xc3\xbcller, Peter\" "
	  "<peter.mueller@abc.com>",
	  "sandra.schuster@abc.com | peter.mueller@abc.com", NULL },
	{ "sandra.schuster@abc.com; peter.mueller@abc.com",
	  "sandra.schuster@abc.com | peter.mueller@abc.com", NULL },
	{ "a@abc.com,, ,b@abc.com,", "a@abc.com | b@abc.com", NULL },
	{ "Vertrieb: sandra.schuster@abc.com, Peter <peter.mueller@abc.com>;",
	  "sandra.schuster@abc.com | peter.mueller@abc.com", NULL },
	{ "undisclosed-recipients:;", "", NULL },
	{ "Team:;, info@abc.com", "info@abc.com", NULL },
	{ "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
	  "c@a.test | joe@where.test | jdoe@one.test", NULL },
	{ "Team: a@abc.com", "a@abc.com", NULL },
	{ "Team: a@abc.com; b@abc.com", "a@abc.com | b@abc.com", NULL },

	/* Local parts and domains in other forms. */
	{ "\"sandra.schuster\"@abc.com", "sandra.schuster@abc.com", NULL },
	{ "\"sandra\".\"schuster\"@abc.com", "sandra.schuster@abc.com", NULL },
	{ "\"peter mueller\"@abc.com", "\"peter mueller\"@abc.com", NULL },
	{ "\"a\\\"b\\\\c\"@abc.com", "\"a\\\"b\\\\c\"@abc.com", NULL },
	{ "sandra . schuster @ abc . com", "sandra.schuster@abc.com", NULL },
	{ "<sandra.schuster @ abc.com>", "sandra.schuster@abc.com", NULL },
	{ "sandra@[192.0.2.1]", "sandra@[192.0.2.1]", NULL },
	{ "<@relay.example:sandra.schuster@abc.com>",
	  "sandra.schuster@abc.com", NULL },
	{ "Sandra <@r1.example,@r2.example:sandra.schuster@abc.com>",
	  "sandra.schuster@abc.com", NULL },
	{ "sandra.schuster+news@abc.com", "sandra.schuster+news@abc.com",
	  NULL },

	/* UTF-8 addresses (SMTPUTF8, RFC 6532). */
	{ "peter.m\xc3\xbcller@abc.com", "peter.m\xc3\xbcller@abc.com", NULL },
	{ "Peter M\xc3\xbcller <peter.m\xc3\xbcller@abc.com>",
	  "peter.m\xc3\xbcller@abc.com", NULL },
	{ "info@b\xc3\xbc" "cher.de", "info@b\xc3\xbc" "cher.de", NULL },
	{ "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf"
	  "\xe5\x91\x8a", "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90."
	  "\xe5\xb9\xbf\xe5\x91\x8a", NULL },

	/* Nothing to check: left to other checks. */
	{ "", "", NULL },
	{ "   ", "", NULL },
	{ "<>", "", NULL },
	{ "(only a comment)", "", NULL },
	{ "Mailer Daemon <>", "", NULL },

	/* No "@": returned, so that the address check rejects it. */
	{ "peter.mueller", "peter.mueller", NULL },
	{ "Peter <peter.mueller>", "peter.mueller", NULL },
	{ "M\xc3\xbcller, Peter <peter.mueller@abc.com>",
	  "M\xc3\xbcller | peter.mueller@abc.com", NULL },
	{ "peter.mueller@", "peter.mueller@", NULL },

	/* Unreadable: an error, never a shorter list. */
	{ "Peter M\xc3\xbcller", NULL, "display name without <address>" },
	{ "peter.mueller@abc.com <sandra.schuster@abc.com>", NULL,
	  "in a display name" },
	{ "Sandra <sandra.schuster@abc.com", NULL, "\"<\" without \">\"" },
	{ "Sandra sandra.schuster@abc.com>", NULL, "\">\" without \"<\"" },
	{ "<sandra.schuster@abc.com> <peter.mueller@abc.com>", NULL,
	  "text after <address>" },
	{ "Sandra <sandra.schuster@abc.com> peter.mueller@abc.com", NULL,
	  "text after <address>" },
	{ "\"Sandra <sandra.schuster@abc.com>", NULL,
	  "unterminated quoted string" },
	{ "sandra.schuster@abc.com (Sandra", NULL, "unterminated comment" },
	{ "sandra.schuster@abc.com (a (b)", NULL, "unterminated comment" },
	{ "sandra@[192.0.2.1", NULL, "unterminated domain literal" },
	{ "sandra@abc.com@peter.mueller@abc.com", NULL, "two \"@\"" },
	{ "<sandra@abc.com, peter.mueller@abc.com>", NULL,
	  "unexpected special character" },
	{ "A: B: peter.mueller@abc.com;;", NULL, "group inside a group" },
	{ "sandra\x01@abc.com", NULL, "control character" },
	{ "Sandra\x1b[31m <sandra.schuster@abc.com>", NULL,
	  "control character" },
	{ "sandra.schuster@abc.com) x", NULL, "\")\" without \"(\"" },
	{ "\\sandra@abc.com", NULL, "backslash outside quotes" },
	{ "\"a\"@\"b\".com", NULL, "quoted string in a domain" },
	{ "[192.0.2.1]@abc.com", NULL, "domain literal outside a domain" },
	{ "<@relay.example sandra@abc.com>", NULL, "bad source route" },
};

/* test_join - the list as one string, " | " between addresses */
static void test_join(const struct header_addresses *list, char *out,
		      size_t size)
{
	size_t len = 0;
	unsigned int i;

	out[0] = '\0';
	for (i = 0; i < list->count; i++) {
		int n = snprintf(out + len, size - len, "%s%s",
				 i > 0 ? " | " : "", list->addr[i]);

		if (n < 0 || (size_t)n >= size - len)
			abort();
		len += (size_t)n;
	}
}

/* test_table - every row of the table */
static void test_table(void)
{
	static struct header_addresses list;
	char got[HEADER_FIELD_MAX * 2];
	const char *error;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct header_case *c = &cases[i];
		int ret;

		error = NULL;
		ret = header_addresses_parse(c->value, strlen(c->value),
					     &list, &error);
		if (c->want != NULL) {
			if (ret != 0)
				fprintf(stderr, "case %zu [%s]: %s\n", i,
					c->value, error);
			TEST_ASSERT(ret == 0);
			test_join(&list, got, sizeof(got));
			TEST_STREQ(got, c->want);
		} else {
			TEST_ASSERT(ret == -1);
			TEST_ASSERT(list.count == 0);
			if (ret != -1 || error == NULL ||
			    strstr(error, c->error) == NULL)
				fprintf(stderr, "case %zu [%s]: error \"%s\", "
					"want \"%s\"\n", i, c->value,
					error ? error : "(none)", c->error);
			TEST_ASSERT(error != NULL &&
				    strstr(error, c->error) != NULL);
		}
	}
}

/* test_limits - field length, address count, address length, NUL */
static void test_limits(void)
{
	static struct header_addresses list;
	static char value[HEADER_FIELD_MAX * 2];
	const char *error;
	size_t len = 0;
	unsigned int i;

	/* Exactly HEADER_ADDRESSES_MAX addresses, then one more. */
	for (i = 0; i < HEADER_ADDRESSES_MAX; i++)
		len += (size_t)snprintf(value + len, sizeof(value) - len,
					"%su%u@abc.com", i ? ", " : "", i);
	TEST_ASSERT(header_addresses_parse(value, len, &list, &error) == 0);
	TEST_ASSERT(list.count == HEADER_ADDRESSES_MAX);
	TEST_STREQ(list.addr[HEADER_ADDRESSES_MAX - 1], "u63@abc.com");
	len += (size_t)snprintf(value + len, sizeof(value) - len,
				", one.more@abc.com");
	TEST_ASSERT(header_addresses_parse(value, len, &list, &error) == -1);
	TEST_STREQ(error, "too many addresses");

	/* An address of HEADER_ADDRESS_MAX - 1 bytes, then one byte more. */
	memset(value, 'a', HEADER_ADDRESS_MAX);
	memcpy(value + HEADER_ADDRESS_MAX - 1 - 8, "@abc.com", 8);
	TEST_ASSERT(header_addresses_parse(value, HEADER_ADDRESS_MAX - 1,
					   &list, &error) == 0);
	TEST_ASSERT(list.count == 1 &&
		    strlen(list.addr[0]) == HEADER_ADDRESS_MAX - 1);
	memset(value, 'a', HEADER_ADDRESS_MAX);
	memcpy(value + HEADER_ADDRESS_MAX - 8, "@abc.com", 8);
	TEST_ASSERT(header_addresses_parse(value, HEADER_ADDRESS_MAX,
					   &list, &error) == -1);
	TEST_STREQ(error, "address too long");

	/* The field limit: a long comment fits, one byte more does not. */
	memset(value, ' ', sizeof(value));
	memcpy(value, "info@abc.com (", 14);
	value[HEADER_FIELD_MAX - 1] = ')';
	TEST_ASSERT(header_addresses_parse(value, HEADER_FIELD_MAX, &list,
					   &error) == 0);
	TEST_ASSERT(list.count == 1);
	TEST_ASSERT(header_addresses_parse(value, HEADER_FIELD_MAX + 1,
					   &list, &error) == -1);
	TEST_STREQ(error, "header field too long");

	/* A NUL byte is never part of a value. */
	TEST_ASSERT(header_addresses_parse("info@abc.com\0, x@y", 18,
					   &list, &error) == -1);
	TEST_STREQ(error, "NUL byte in header field");

	/* The value need not be terminated: only len bytes are read. */
	TEST_ASSERT(header_addresses_parse("info@abc.comXYZ", 12, &list,
					   &error) == 0);
	TEST_ASSERT(list.count == 1);
	TEST_STREQ(list.addr[0], "info@abc.com");
	TEST_ASSERT(header_addresses_parse("\"open", 1, &list,
					   &error) == -1);

	/* Deep comment nesting costs no stack. */
	len = 0;
	len += (size_t)snprintf(value, sizeof(value), "info@abc.com ");
	for (i = 0; i < 5000; i++)
		value[len++] = '(';
	for (i = 0; i < 5000; i++)
		value[len++] = ')';
	TEST_ASSERT(header_addresses_parse(value, len, &list, &error) == 0);
	TEST_ASSERT(list.count == 1);
}

/* main - run the tests */
int main(void)
{
	TEST_RUN(test_table());
	TEST_RUN(test_limits());
	return test_exit("test-header");
}
