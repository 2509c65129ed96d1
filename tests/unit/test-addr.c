/*
 * NAME
 *	test-addr - address normalisation, table-driven
 */

#include <string.h>

#include "addr.h"
#include "test.h"

struct addr_case {
	const char *in;
	const char *delimiters;
	unsigned int flags;
	const char *out;	/* NULL: must be rejected */
};

static const struct addr_case cases[] = {
	/* Case, brackets, blanks. */
	{ "Sandra.Schuster@ABC.com", "+", 0, "sandra.schuster@abc.com" },
	{ "<sandra.schuster@abc.com>", "+", 0, "sandra.schuster@abc.com" },
	{ "  sandra.schuster@abc.com\t", "+", 0, "sandra.schuster@abc.com" },
	{ "abc.com.@abc.com.", "+", 0, "abc.com.@abc.com" },
	/* Extensions: stripped for lookups, kept where asked. */
	{ "SANDRA.Schuster+x@ABC.com", "+", 0, "sandra.schuster@abc.com" },
	{ "sandra.schuster+x+y@abc.com", "+", 0, "sandra.schuster@abc.com" },
	{ "sandra.schuster+x@abc.com", "+", ADDR_KEEP_EXTENSION,
	  "sandra.schuster+x@abc.com" },
	{ "sandra.schuster+x@abc.com", "", 0, "sandra.schuster+x@abc.com" },
	{ "sandra.schuster+x@abc.com", NULL, 0, "sandra.schuster+x@abc.com" },
	{ "a-b@x.org", "+-", 0, "a@x.org" },
	{ "+x@abc.com", "+", 0, "+x@abc.com" },
	/* UTF-8 local parts: Unicode lower case. */
	{ "peter.m\xc3\xbcller@abc.com", "+", 0, "peter.m\xc3\xbcller@abc.com" },
	{ "PETER.M\xc3\x9cLLER@ABC.COM", "+", 0, "peter.m\xc3\xbcller@abc.com" },
	/* NFD u + combining diaeresis becomes the NFC form. */
	{ "peter.mu\xcc\x88ller@abc.com", "+", 0,
	  "peter.m\xc3\xbcller@abc.com" },
	/* IDN domains meet in A-label form. */
	{ "info@b\xc3\xbc" "cher.de", "+", 0, "info@xn--bcher-kva.de" },
	{ "info@B\xc3\x9c" "CHER.DE", "+", 0, "info@xn--bcher-kva.de" },
	{ "info@XN--BCHER-KVA.de", "+", 0, "info@xn--bcher-kva.de" },
	{ "info@xn--bcher-kva.de", "+", 0, "info@xn--bcher-kva.de" },
	{ "user@[127.0.0.1]", "+", 0, "user@[127.0.0.1]" },
	/* IDNA 2008: "ß" is a letter of its own, faß.de is not fass.de
	   (the transitional IDNA 2003 mapping would make it so). */
	{ "info@fa\xc3\x9f.de", "+", 0, "info@xn--fa-hia.de" },
	{ "info@FA\xc3\x9f.DE", "+", 0, "info@xn--fa-hia.de" },
	{ "info@xn--fa-hia.de", "+", 0, "info@xn--fa-hia.de" },
	{ "info@fass.de", "+", 0, "info@fass.de" },
	/* Names that can never be a Dovecot mailbox name: refused with
	   ADDR_MAILBOX (what the sync stores), kept without it (a
	   foreign sender may look like this). */
	{ "a/../b@abc.com", "+", ADDR_MAILBOX, NULL },
	{ "a/../b@abc.com", "+", ADDR_KEEP_EXTENSION | ADDR_MAILBOX, NULL },
	{ "a/../b@abc.com", NULL, ADDR_KEEP_EXTENSION, "a/../b@abc.com" },
	{ "..@abc.com", NULL, ADDR_KEEP_EXTENSION | ADDR_MAILBOX, NULL },
	{ "..@abc.com", NULL, ADDR_KEEP_EXTENSION, "..@abc.com" },
	{ ".hidden@abc.com", NULL, ADDR_MAILBOX, NULL },
	{ "a/b@abc.com", NULL, ADDR_MAILBOX, NULL },
	{ "a\\b@abc.com", NULL, ADDR_MAILBOX, NULL },
	{ "user%host@abc.com", NULL, ADDR_MAILBOX, NULL },
	{ "user%host@abc.com", NULL, 0, "user%host@abc.com" },
	{ "a*@abc.com", NULL, ADDR_MAILBOX, NULL },
	{ "~root@abc.com", NULL, ADDR_MAILBOX, NULL },
	{ "\"a\"@abc.com", NULL, ADDR_MAILBOX, NULL },
	{ "a\tb@abc.com", NULL, ADDR_MAILBOX, NULL },
	{ "a\x7f@abc.com", NULL, ADDR_MAILBOX, NULL },
	{ "a\x1b@abc.com", NULL, ADDR_KEEP_EXTENSION, NULL },
	/* What may stay: dots inside or at the end, extensions, UTF-8. */
	{ "a..b@abc.com", NULL, ADDR_MAILBOX, "a..b@abc.com" },
	{ "a.@abc.com", NULL, ADDR_MAILBOX, "a.@abc.com" },
	{ "Info+Box@ABC.com", NULL, ADDR_KEEP_EXTENSION | ADDR_MAILBOX,
	  "info+box@abc.com" },
	{ "Peter.M\xc3\x9cller@abc.com", NULL, ADDR_MAILBOX,
	  "peter.m\xc3\xbcller@abc.com" },
	/* Bare logins only where allowed. */
	{ "Admin", "+", ADDR_ALLOW_BARE, "admin" },
	{ "Admin", "+", 0, NULL },
	/* Rejected. */
	{ "", "+", 0, NULL },
	{ "<>", "+", 0, NULL },
	{ "@abc.com", "+", 0, NULL },
	{ "user@", "+", 0, NULL },
	{ "user\n@abc.com", "+", 0, NULL },
	{ "user@abc.com\r", "+", 0, NULL },
	{ "\xff\xfe@abc.com", "+", 0, NULL },
	{ "user@exa mple.com", "+", 0, NULL },
	{ "user@exa*mple.com", "+", 0, NULL },
	{ "user@\xff.com", "+", 0, NULL },
	{ "*)(uid=*", "+", 0, NULL },
	/* Found by tests/fuzz/fuzz-addr.c: every normal form normalises
	   to itself, and nothing else gets through. */
	{ "x@..", "+", 0, NULL },
	{ "x@a..b", "+", 0, NULL },
	{ "x@.a", "+", 0, NULL },
	{ "x@[\xac", "+", 0, NULL },
	{ "x@[192.0.2.1", "+", 0, NULL },
	{ "x@[192.0.2.1].", "+", 0, "x@[192.0.2.1]" },
	{ "x@-Xn--", "+", 0, NULL },
	{ "<<x@abc.com>>", "+", 0, NULL },
	{ "< X@abc.com >", "+", 0, "x@abc.com" },
	{ "x@<::<.>.?/\xc3\x9f", "+", 0, NULL },
	{ "x@\xcd\x8f", "+", 0, NULL },
	{ "x@a.\xcd\x8f", "+", 0, NULL },
};

/* test_long - over-long input is refused, never truncated */
static void test_long(void)
{
	char in[ADDR_MAX + 64], out[ADDR_MAX];
	const char *error;

	memset(in, 'a', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	memcpy(in + 100, "@abc.com", 8);
	TEST_ASSERT(addr_normalize(in, "+", 0, out, sizeof(out), &error) < 0);

	char dom[300];
	memset(dom, 'a', sizeof(dom) - 1);
	dom[sizeof(dom) - 1] = '\0';
	dom[0] = 'x';
	char addr[400];
	snprintf(addr, sizeof(addr), "u@%s.com", dom);
	TEST_ASSERT(addr_normalize(addr, "+", 0, out, sizeof(out), &error) < 0);

	/* A small output buffer is an error, not a cut address. */
	char small[8];
	TEST_ASSERT(addr_normalize("sandra@abc.com", "+", 0, small,
				   sizeof(small), &error) < 0);

	/* A mailbox name is a file name: under ADDR_MAILBOX_MAX bytes
	   in normal form, though an address may be longer. */
	char name[ADDR_MAILBOX_MAX + 8];
	memset(name, 'b', sizeof(name));
	memcpy(name + ADDR_MAILBOX_MAX - 1 - 8, "@abc.com", 9);
	TEST_ASSERT(strlen(name) == ADDR_MAILBOX_MAX - 1);
	TEST_ASSERT(addr_normalize(name, NULL, ADDR_MAILBOX, out,
				   sizeof(out), &error) == 0);
	TEST_ASSERT(strlen(out) == ADDR_MAILBOX_MAX - 1);
	memset(name, 'b', sizeof(name));
	memcpy(name + ADDR_MAILBOX_MAX - 8, "@abc.com", 9);
	TEST_ASSERT(addr_normalize(name, NULL, ADDR_MAILBOX, out,
				   sizeof(out), &error) < 0);
	TEST_ASSERT(addr_normalize(name, NULL, 0, out, sizeof(out),
				   &error) == 0);
	/* Refused with the flag: nothing is written either. */
	memset(small, 'Z', sizeof(small));
	TEST_ASSERT(addr_normalize("a/b@c.de", NULL, ADDR_MAILBOX, small,
				   sizeof(small), &error) < 0);
	TEST_ASSERT(memcmp(small, "ZZZZZZZZ", sizeof(small)) == 0);

	/* Nor is anything written to it (case-folded UTF-8 that fills
	   the buffer without room for the NUL; found by fuzz-addr). */
	memset(small, 'Z', sizeof(small));
	TEST_ASSERT(addr_normalize("\xd3\x9f" "abcdef", "+", ADDR_ALLOW_BARE,
				   small, sizeof(small), &error) < 0);
	TEST_ASSERT(memcmp(small, "ZZZZZZZZ", sizeof(small)) == 0);
}

int main(void)
{
	char out[ADDR_MAX];
	const char *error;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct addr_case *c = &cases[i];
		int rc = addr_normalize(c->in, c->delimiters, c->flags, out,
					sizeof(out), &error);

		test_begin_row("cases", i);
		if (c->out == NULL) {
			if (rc == 0)
				fprintf(stderr, "accepted: %s\n", out);
			TEST_ASSERT(rc < 0);
		} else {
			if (rc < 0)
				fprintf(stderr, "refused: %s\n", error);
			TEST_ASSERT(rc == 0);
			if (rc == 0)
				TEST_STREQ(out, c->out);
		}
		test_end();
	}
	TEST_RUN(test_long());
	TEST_ASSERT(addr_domain_normalize("B\xc3\xbc" "cher.DE.", out,
					  sizeof(out), &error) == 0);
	TEST_STREQ(out, "xn--bcher-kva.de");
	TEST_ASSERT(addr_domain_normalize("", out, sizeof(out), &error) < 0);
	return test_exit("test-addr");
}
