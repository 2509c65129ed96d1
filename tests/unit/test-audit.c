/*
 * NAME
 *	test-audit - the audit line: escaping, both forms, bounds, reading
 */

#include <string.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistr.h>

#include "audit.h"
#include "test.h"

#define T0 1796472000	/* 2026-12-05T12:00:00Z */

static const struct timespec t0 = { T0, 7000000 };	/* .007 */

struct audit_case {
	const char *value;
	const char *text;	/* the text form of "v=value" */
	const char *json;	/* the JSON form of "v":value */
	const char *back;	/* what audit_get() reads from both; NULL:
				   value itself */
};

static const struct audit_case cases[] = {
	{ "tom.berger@abc.com", "v=tom.berger@abc.com",
	  "\"v\":\"tom.berger@abc.com\"", NULL },
	{ "peter.m\xc3\xbcller@abc.com", "v=peter.m\xc3\xbcller@abc.com",
	  "\"v\":\"peter.m\xc3\xbcller@abc.com\"", NULL },
	{ "", "v=-", "\"v\":null", NULL },
	{ "-", "v=\"-\"", "\"v\":\"-\"", NULL },
	/* a forged field: the space makes the value quoted */
	{ "x reason=own_mailbox", "v=\"x reason=own_mailbox\"",
	  "\"v\":\"x reason=own_mailbox\"", NULL },
	{ "a\"b\\c", "v=\"a\\\"b\\\\c\"", "\"v\":\"a\\\"b\\\\c\"", NULL },
	/* a forged line: the newline never reaches the log */
	{ "x\nevent=send time=2026-12-05T12:00:00Z action=dunno",
	  "v=\"x\\x0aevent=send time=2026-12-05T12:00:00Z action=dunno\"",
	  "\"v\":\"x\\u000aevent=send time=2026-12-05T12:00:00Z "
	  "action=dunno\"", NULL },
	{ "del\x7f\ttab", "v=\"del\\x7f\\x09tab\"",
	  "\"v\":\"del\\u007f\\u0009tab\"", NULL },
	/* not UTF-8: the JSON object stays valid, the text reads back */
	{ "bad\xff", "v=\"bad\\xff\"", "\"v\":\"bad\\\\xff\"", NULL },
	{ "cn=Peter M\xc3\xbcller,o=abc", "v=\"cn=Peter M\xc3\xbcller,o=abc\"",
	  "\"v\":\"cn=Peter M\xc3\xbcller,o=abc\"", NULL },
	{ "{\"event\":\"send\"}", "v=\"{\\\"event\\\":\\\"send\\\"}\"",
	  "\"v\":\"{\\\"event\\\":\\\"send\\\"}\"", NULL },
};

/* test_case_row - one value in both forms, and back */
static void test_case_row(const struct audit_case *c)
{
	struct audit_line a;
	struct audit_event ev;
	char want[512];
	const char *line;

	audit_begin(&a, AUDIT_FORMAT_TEXT, "send", &t0);
	audit_add(&a, "v", c->value);
	line = audit_end(&a);
	snprintf(want, sizeof(want), "event=send time=2026-12-05T12:00:00.007Z %s",
		 c->text);
	TEST_STREQ(line, want);
	TEST_ASSERT(strchr(line, '\n') == NULL);
	TEST_ASSERT(audit_parse(line, &ev) == 1);
	TEST_ASSERT(ev.count == 3);
	if (c->value[0] == '\0')
		TEST_ASSERT(audit_get(&ev, "v") == NULL);
	else
		TEST_STREQ(audit_get(&ev, "v"), c->value);

	audit_begin(&a, AUDIT_FORMAT_JSON, "send", &t0);
	audit_add(&a, "v", c->value);
	line = audit_end(&a);
	snprintf(want, sizeof(want),
		 "{\"event\":\"send\",\"time\":\"2026-12-05T12:00:00.007Z\",%s}",
		 c->json);
	TEST_STREQ(line, want);
	TEST_ASSERT(audit_parse(line, &ev) == 1);
	TEST_ASSERT(ev.count == 3);
	if (c->value[0] == '\0')
		TEST_ASSERT(audit_get(&ev, "v") == NULL);
	else if (strchr(c->value, '\xff') != NULL)
		TEST_STREQ(audit_get(&ev, "v"), "bad\\xff");
	else
		TEST_STREQ(audit_get(&ev, "v"), c->value);
}

/* test_prefixes - a line as syslog, stderr and the journal show it */
static void test_prefixes(void)
{
	static const char *const lines[] = {
		"Dec  5 12:00:00 mx mailgrants-policyd[42]: event=send "
		"time=2026-12-05T12:00:00Z action=dunno login=x",
		"2026-12-05T12:00:00.123456+00:00 mx mailgrants-milter[7]: "
		"{\"event\":\"send\",\"time\":\"2026-12-05T12:00:00Z\","
		"\"action\":\"dunno\",\"login\":\"x\"}",
		"mailgrants: share-service: event=send "
		"time=2026-12-05T12:00:00Z action=dunno login=x\n",
	};
	struct audit_event ev;
	struct timespec t;

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		TEST_ASSERT(audit_parse(lines[i], &ev) == 1);
		TEST_STREQ(audit_get(&ev, "login"), "x");
		TEST_STREQ(audit_get(&ev, "action"), "dunno");
		TEST_ASSERT(audit_time_parse(audit_get(&ev, "time"), &t) == 0);
		TEST_ASSERT(t.tv_sec == T0 && t.tv_nsec == 0);
	}
}

/* test_malformed - lines that are not ours, or broken, are skipped */
static void test_malformed(void)
{
	static const char *const lines[] = {
		"",
		"Dec  5 12:00:00 mx postfix/smtpd[1]: connect from x",
		"mailgrants-policyd[1]: action=dunno login=x reason=own_mailbox",
		"mailgrants-policyd[1]: event=send",
		"mailgrants-policyd[1]: event=send time=x login=\"open",
		"mailgrants-policyd[1]: event=send time=x login=\"a\\q\"",
		"mailgrants-policyd[1]: event=send time=x login=a\"b",
		"mailgrants-policyd[1]: event=send time=x  login=a",
		"mailgrants-policyd[1]: event=send time=x Login=a",
		"mailgrants-policyd[1]: time=x event=send",
		"mailgrants-policyd[1]: xevent=send time=x",
		"m: {\"event\":\"send\",\"time\":\"x\"",
		"m: {\"event\":\"send\",\"time\":1}",
		"m: {\"event\":\"send\",\"time\":\"x\"} trailing",
		"m: {\"event\":\"send\",\"time\":\"\\ud800\"}",
		"m: {\"event\":\"send\",\"time\":\"a\\u0000\"}",
	};
	struct audit_event ev;
	struct timespec t;

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		test_begin_row("malformed", i);
		TEST_ASSERT(audit_parse(lines[i], &ev) == 0);
		TEST_ASSERT(ev.count == 0);
		test_end();
	}
	TEST_ASSERT(audit_time_parse("2026-12-05", &t) < 0);
	TEST_ASSERT(audit_time_parse("2026-12-05T12:00:00", &t) < 0);
	TEST_ASSERT(audit_time_parse(NULL, &t) < 0);
	TEST_ASSERT(audit_time_parse("2026-02-31T12:00:00Z", &t) < 0);
	TEST_ASSERT(audit_time_parse("2026-12-05T12:00:60Z", &t) < 0);
	TEST_ASSERT(audit_time_parse("2026-12-05T 2:00:00Z", &t) < 0);
	TEST_ASSERT(audit_time_parse("0671-12-05T12:00:00Z", &t) < 0);
	TEST_ASSERT(audit_time_parse("2026-12-05T12:00:00.5Z", &t) < 0);
	TEST_ASSERT(audit_time_parse("2026-12-05T12:00:00.123", &t) < 0);
	TEST_ASSERT(audit_time_parse("2026-12-05T12:00:00Z", &t) == 0 &&
		    t.tv_sec == T0 && t.tv_nsec == 0);
	TEST_ASSERT(audit_time_parse("2026-12-05T12:00:00.999Z", &t) == 0 &&
		    t.tv_sec == T0 && t.tv_nsec == 999000000);
}

/* test_bounds - long values are cut, a full line stays a line */
static void test_bounds(void)
{
	static char big[8192], nl[3000];
	struct audit_line a;
	struct audit_event ev;
	const char *line, *v;

	memset(big, 'a', sizeof(big) - 1);
	memset(nl, '\n', sizeof(nl) - 1);
	for (int f = 0; f < 2; f++) {
		enum audit_format format = f == 0 ? AUDIT_FORMAT_TEXT
						  : AUDIT_FORMAT_JSON;

		audit_begin(&a, format, "send", &t0);
		audit_add(&a, "login", big);
		audit_add(&a, "sender", nl);
		line = audit_end(&a);
		TEST_ASSERT(strlen(line) < AUDIT_LINE_MAX);
		TEST_ASSERT(audit_parse(line, &ev) == 1);
		v = audit_get(&ev, "login");
		TEST_ASSERT(v != NULL && strlen(v) <= AUDIT_VALUE_MAX);
		TEST_ASSERT(v != NULL && strcmp(v + strlen(v) - 3, "...") == 0);
		/* an escape is never cut in half */
		v = audit_get(&ev, "sender");
		TEST_ASSERT(v != NULL && strcmp(v + strlen(v) - 3, "...") == 0);
		TEST_ASSERT(v != NULL && strspn(v, "\n") == strlen(v) - 3);
		TEST_ASSERT(audit_get(&ev, "truncated") == NULL);

		/* more fields than a line holds: left out, and marked */
		audit_begin(&a, format, "send", &t0);
		for (int i = 0; i < 10; i++)
			audit_add(&a, "login", big);
		audit_add(&a, "reason", "own_mailbox");
		line = audit_end(&a);
		TEST_ASSERT(strlen(line) < AUDIT_LINE_MAX);
		TEST_ASSERT(audit_parse(line, &ev) == 1);
		TEST_STREQ(audit_get(&ev, "truncated"), "yes");
		TEST_ASSERT(line[strlen(line) - 1] ==
			    (format == AUDIT_FORMAT_JSON ? '}' : 's'));
	}
}

/* The line as audit.c wrote it before it was made fast (one character
   at a time, every field put together apart and then appended): the
   oracle of test_same_as_reference(). */
static size_t ref_unit(const unsigned char *s, size_t n)
{
	ucs4_t uc;
	int len;

	if (*s < 0x80)
		return 1;
	len = u8_mbtoucr(&uc, s, n);
	return len > 0 ? (size_t)len : 0;
}

static bool ref_needs_quotes(const char *value)
{
	const unsigned char *s = (const unsigned char *)value;
	size_t n = strlen(value);

	if (strcmp(value, "-") == 0)
		return true;
	while (n > 0) {
		size_t len = ref_unit(s, n);

		if (len == 0 || *s <= 0x20 || *s == 0x7f || *s == '"' ||
		    *s == '\\')
			return true;
		s += len;
		n -= len;
	}
	return false;
}

static size_t ref_escape(bool json, const char *value, char *out,
			 size_t size)
{
	const unsigned char *s = (const unsigned char *)value;
	size_t n = strlen(value), len = 0;
	bool quote = json || ref_needs_quotes(value);
	char unit[8];

	if (quote)
		out[len++] = '"';
	while (n > 0) {
		size_t clen = ref_unit(s, n), ulen;

		if (clen == 0) {
			(void)snprintf(unit, sizeof(unit), "%s%02x",
				       json ? "\\\\x" : "\\x", *s);
			ulen = strlen(unit);
			clen = 1;
		} else if (*s == '"' || *s == '\\') {
			unit[0] = '\\';
			unit[1] = (char)*s;
			ulen = 2;
		} else if (*s < 0x20 || *s == 0x7f) {
			(void)snprintf(unit, sizeof(unit),
				       json ? "\\u%04x" : "\\x%02x", *s);
			ulen = strlen(unit);
		} else {
			memcpy(unit, s, clen);
			ulen = clen;
		}
		if (len + ulen + 3 + 1 + 1 > size) {
			memcpy(out + len, "...", 3);
			len += 3;
			break;
		}
		memcpy(out + len, unit, ulen);
		len += ulen;
		s += clen;
		n -= clen;
	}
	if (quote)
		out[len++] = '"';
	out[len] = '\0';
	return len;
}

struct ref_line {
	bool json, truncated;
	size_t len;
	char buf[AUDIT_LINE_MAX];
};

static void ref_add(struct ref_line *a, const char *key, const char *value)
{
	char esc[AUDIT_VALUE_MAX + 1], field[AUDIT_VALUE_MAX + 128];
	bool first = a->json ? a->len == 1 : a->len == 0;
	int n;

	if (value == NULL || value[0] == '\0')
		(void)snprintf(esc, sizeof(esc), "%s", a->json ? "null" : "-");
	else
		(void)ref_escape(a->json, value, esc, sizeof(esc));
	if (a->json)
		n = snprintf(field, sizeof(field), "%s\"%.64s\":%s",
			     first ? "" : ",", key, esc);
	else
		n = snprintf(field, sizeof(field), "%s%.64s=%s",
			     first ? "" : " ", key, esc);
	if (n < 0 || (size_t)n >= sizeof(field) ||
	    a->len + (size_t)n > sizeof(a->buf) - 32) {
		a->truncated = true;
		return;
	}
	memcpy(a->buf + a->len, field, (size_t)n);
	a->len += (size_t)n;
	a->buf[a->len] = '\0';
}

/* ref_value - a random value: plain text, spaces, quotes, backslashes,
   control bytes, UTF-8, bytes that are not UTF-8; short or long */
static void ref_value(unsigned int *seed, char *out, size_t size)
{
	static const char *const pieces[] = {
		"a", "sandra.schuster@abc.com", " ", "\"", "\\", "\t", "\x7f",
		"\xc3\xbc", "\xe2\x82\xac", "\xf0\x9f\x93\xa7", "\xff",
		"\xc3", "-", "=", "<>", "cn=vacation,uid=peter.mueller",
	};
	size_t len = 0, want = (size_t)(rand_r(seed) % 8 == 0 ?
					rand_r(seed) % 1400 :
					rand_r(seed) % 40);

	while (len < want) {
		const char *p = pieces[(size_t)rand_r(seed) %
				       (sizeof(pieces) / sizeof(pieces[0]))];
		size_t n = strlen(p);

		if (len + n + 1 > size)
			break;
		memcpy(out + len, p, n);
		len += n;
	}
	out[len] = '\0';
}

/* test_same_as_reference - the fast line is the one the plain algorithm
   writes, byte for byte, for 20,000 random lines in both formats */
static void test_same_as_reference(void)
{
	static const char *const keys[] = {
		"dn", "action", "login", "sender", "client", "queue_id",
		"reason",
		("a_key_longer_than_sixty_four_characters_is_cut_"
		 "where_the_format_says"),
	};
	unsigned int seed = 18;
	struct timespec when = { 1764892800, 123456789 };
	int bad = 0;

	for (int i = 0; i < 20000 && bad < 5; i++) {
		bool json = i % 2 == 1;
		struct audit_line a;
		struct ref_line r = { .json = json };
		char value[1600];
		int fields = 1 + rand_r(&seed) % 12;

		audit_begin(&a, json ? AUDIT_FORMAT_JSON : AUDIT_FORMAT_TEXT,
			    "send", &when);
		if (json) {
			r.buf[0] = '{';
			r.len = 1;
		}
		ref_add(&r, "event", "send");
		ref_add(&r, "time", "2025-12-05T00:00:00.123Z");
		for (int f = 0; f < fields; f++) {
			const char *key = keys[(size_t)rand_r(&seed) %
					       (sizeof(keys) / sizeof(keys[0]))];

			const char *v = value;

			ref_value(&seed, value, sizeof(value));
			if (rand_r(&seed) % 10 == 0)
				v = NULL;
			audit_add(&a, key, v);
			ref_add(&r, key, v);
		}
		(void)audit_end(&a);
		if (r.json) {
			if (r.truncated) {
				memcpy(r.buf + r.len, ",\"truncated\":\"yes\"",
				       18);
				r.len += 18;
			}
			r.buf[r.len++] = '}';
		} else if (r.truncated) {
			memcpy(r.buf + r.len, " truncated=yes", 14);
			r.len += 14;
		}
		r.buf[r.len] = '\0';
		if (strcmp(a.buf, r.buf) != 0) {
			fprintf(stderr, "line %d differs:\n  %s\n  %s\n", i,
				a.buf, r.buf);
			bad++;
		}
	}
	TEST_ASSERT(bad == 0);
}

int main(void)
{
	enum audit_format f;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		test_begin_row("cases", i);
		test_case_row(&cases[i]);
		test_end();
	}
	TEST_RUN(test_prefixes());
	TEST_RUN(test_malformed());
	TEST_RUN(test_bounds());
	TEST_RUN(test_same_as_reference());
	TEST_ASSERT(audit_format_parse("json", &f) == 0 &&
		    f == AUDIT_FORMAT_JSON);
	TEST_ASSERT(audit_format_parse("text", &f) == 0 &&
		    f == AUDIT_FORMAT_TEXT);
	TEST_ASSERT(audit_format_parse("JSON", &f) < 0);
	return test_exit("test-audit");
}
