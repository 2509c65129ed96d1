/*
 * NAME
 *	test-text - text_printable(), table-driven
 */

#include <string.h>

#include "test.h"
#include "text.h"

struct text_case {
	const char *in;
	size_t len;		/* 0: strlen(in) */
	size_t size;
	enum text_style style;
	const char *out;
};

static const struct text_case cases[] = {
	{ "plain@abc.com", 0, 64, TEXT_ESCAPE, "plain@abc.com" },
	{ "J\xc3\xbcrgen \xe2\x82\xac \xf0\x9f\x93\xa7", 0, 64, TEXT_ESCAPE,
	  "J\xc3\xbcrgen \xe2\x82\xac \xf0\x9f\x93\xa7" },
	{ "a\nb\rc\td", 0, 64, TEXT_ESCAPE, "a\\x0ab\\x0dc\\x09d" },
	{ "a\nb\rc\td", 0, 64, TEXT_MARK, "a?b?c?d" },
	{ "back\\slash", 0, 64, TEXT_ESCAPE, "back\\x5cslash" },
	{ "back\\slash", 0, 64, TEXT_MARK, "back\\slash" },
	{ "del\x7f", 0, 64, TEXT_ESCAPE, "del\\x7f" },
	{ "del\x7f", 0, 64, TEXT_MARK, "del?" },
	/* Invalid UTF-8: a bad lead byte, a cut sequence, a surrogate,
	   an overlong form; each byte on its own. */
	{ "bad\xff\xc3", 0, 64, TEXT_ESCAPE, "bad\\xff\\xc3" },
	{ "bad\xff\xc3", 0, 64, TEXT_MARK, "bad??" },
	{ "\xc3(", 0, 64, TEXT_MARK, "?(" },
	{ "\xed\xa0\x80", 0, 64, TEXT_ESCAPE, "\\xed\\xa0\\x80" },
	{ "\xc0\xaf", 0, 64, TEXT_MARK, "??" },
	/* A NUL inside a counted value is a control character. */
	{ "a\0b", 3, 64, TEXT_MARK, "a?b" },
	{ "a\0b", 3, 64, TEXT_ESCAPE, "a\\x00b" },
	/* Too long: "..." and never half a character. */
	{ "abcdefghij", 0, 8, TEXT_ESCAPE, "abcd..." },
	{ "abcdefghij", 0, 8, TEXT_MARK, "abcd..." },
	{ "\n\n\n", 0, 9, TEXT_ESCAPE, "\\x0a..." },
	{ "ab\xc3\xbc" "cd", 0, 7, TEXT_MARK, "ab..." },
	{ "ab\xc3\xbc" "cd", 0, 8, TEXT_MARK, "ab\xc3\xbc..." },
	{ "abcd", 0, 9, TEXT_MARK, "abcd" },
	/* Too small for anything. */
	{ "", 0, 4, TEXT_ESCAPE, "" },
	{ "abc", 0, 3, TEXT_ESCAPE, "" },
};

/* test_copy - text_copy() is snprintf("%s") without the formatting */
static void test_copy(void)
{
	static const char *const in[] = {
		"", "a", "sandra.schuster@abc.com", "\xc3\xbc\xc3\xbc",
	};

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		for (size_t size = 0; size < 30; size++) {
			char got[32], want[32];
			size_t n;

			memset(got, 'Z', sizeof(got));
			memset(want, 'Z', sizeof(want));
			n = text_copy(got, size, in[i]);
			(void)snprintf(want, size, "%s", in[i]);
			TEST_ASSERT(memcmp(got, want, sizeof(got)) == 0);
			TEST_ASSERT(size == 0 ? n == 0 : n == strlen(got));
		}
	}
}

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct text_case *c = &cases[i];
		size_t len = c->len != 0 ? c->len : strlen(c->in);
		char out[64];
		const char *r;

		memset(out, 'Z', sizeof(out));
		r = text_printable(out, c->size, c->in, len, c->style);
		test_begin_row("cases", i);
		TEST_ASSERT(r == out);
		TEST_STREQ(out, c->out);
		TEST_ASSERT(strlen(out) < c->size);
		test_end();
	}
	{
		char out[8] = "ZZZ";

		TEST_STREQ(text_printable(out, sizeof(out), NULL, 0,
					  TEXT_MARK), "");
		text_printable(out, 0, "abc", 3, TEXT_MARK);
		TEST_ASSERT(out[0] == '\0');
	}
	TEST_RUN(test_copy());
	return test_exit("test-text");
}
