/*
 * NAME
 *	test-policy - unit tests of the policy request parser and table
 * DESCRIPTION
 *	Table-driven tests of policy_parser_feed() (good requests, every
 *	kind of bad input, the same bytes fed all at once and one at a
 *	time), of policy_printable(), and of policy_decide() on the
 *	abc.com story replica (tests/unit/story.h), with the configurable
 *	rows in both settings. The daemon around them is tested black-box
 *	in tests/integration/test_policyd.py.
 */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "policy-proto.h"
#include "policy.h"
#include "replica.h"
#include "story.h"
#include "test.h"
#include "xalloc.h"

/* A Postfix 3.7 request as its smtpd sends it: 29 attributes. */
#define REAL_REQUEST \
	"request=smtpd_access_policy\n" \
	"protocol_state=RCPT\n" \
	"protocol_name=ESMTP\n" \
	"client_address=192.0.2.10\n" \
	"client_name=client.example.net\n" \
	"client_port=45678\n" \
	"reverse_client_name=client.example.net\n" \
	"server_address=192.0.2.1\n" \
	"server_port=587\n" \
	"helo_name=[192.0.2.10]\n" \
	"sender=peter.mueller@abc.com\n" \
	"recipient=kunde@example.net\n" \
	"recipient_count=0\n" \
	"queue_id=\n" \
	"instance=3f1.6650a1b2.c3d4e.0\n" \
	"size=0\n" \
	"etrn_domain=\n" \
	"stress=\n" \
	"sasl_method=PLAIN\n" \
	"sasl_username=sandra.schuster@abc.com\n" \
	"sasl_sender=\n" \
	"ccert_subject=\n" \
	"ccert_issuer=\n" \
	"ccert_fingerprint=\n" \
	"ccert_pubkey_fingerprint=\n" \
	"encryption_protocol=TLSv1.3\n" \
	"encryption_cipher=TLS_AES_256_GCM_SHA384\n" \
	"encryption_keysize=256\n" \
	"policy_context=\n" \
	"\n"

/* A string literal and its length, NUL bytes included. */
#define LIT(s) s, sizeof(s) - 1

/* What the decision reads, each once (sasl_username empty: no login). */
#define HEAD "request=smtpd_access_policy\nprotocol_state=RCPT\n" \
	"sasl_username=\n"
#define MINIMAL HEAD "sender=a@b.c\n\n"

struct parse_case {
	const char *name;
	const char *data;
	size_t len;		/* 0: strlen(data) */
	unsigned int requests;	/* complete requests before the end */
	int last;		/* 0: needs more at the end, -1: error */
	const char *error;	/* part of the error text */
	const char *sender;	/* of the last complete request */
	const char *login;
};

/* test_repeat - n copies of s, allocated */
static char *test_repeat(const char *s, size_t n)
{
	size_t len = strlen(s);
	char *buf = xmalloc(len * n + 1);

	for (size_t i = 0; i < n; i++)
		memcpy(buf + i * len, s, len);
	buf[len * n] = '\0';
	return buf;
}

/* test_parse_run - feed data in pieces of step bytes, as a daemon would */
static void test_parse_run(const struct parse_case *t, size_t len,
			   size_t step)
{
	struct policy_parser p;
	char *buf = xmalloc(len + 1);
	size_t have = 0, fed = 0, used;
	unsigned int requests = 0;
	const char *error = NULL;
	char last_sender[POLICY_LINE_MAX + 1] = "(none)";
	char last_login[POLICY_LINE_MAX + 1] = "(none)";
	int ret = 0;

	policy_parser_init(&p);
	while (fed < len && ret >= 0) {
		size_t n = len - fed < step ? len - fed : step;

		memcpy(buf + have, t->data + fed, n);
		have += n;
		fed += n;
		while ((ret = policy_parser_feed(&p, buf, have, &used,
						 &error)) == 1) {
			requests++;
			snprintf(last_sender, sizeof(last_sender), "%s",
				 p.req.sender != NULL ? p.req.sender :
				 "(null)");
			snprintf(last_login, sizeof(last_login), "%s",
				 p.req.sasl_username != NULL ?
				 p.req.sasl_username : "(null)");
			memmove(buf, buf + used, have - used);
			have -= used;
		}
		if (ret == 0) {
			memmove(buf, buf + used, have - used);
			have -= used;
		}
	}
	if (requests != t->requests || ret != t->last)
		fprintf(stderr, "parse case \"%s\" step %zu: %u requests, "
			"ret %d (%s)\n", t->name, step, requests, ret,
			ret < 0 ? error : "");
	TEST_ASSERT(requests == t->requests);
	TEST_ASSERT(ret == t->last);
	if (t->last < 0 && ret < 0 && t->error != NULL)
		TEST_ASSERT(strstr(error, t->error) != NULL);
	if (t->sender != NULL)
		TEST_STREQ(last_sender, t->sender);
	if (t->login != NULL)
		TEST_STREQ(last_login, t->login);
	/* The partial state is never visible as a complete request. */
	if (ret < 0)
		TEST_ASSERT(!p.done);
	policy_parser_deinit(&p);
	free(buf);
}

/* test_parser - good and bad requests, whole and byte by byte */
static void test_parser(void)
{
	char *long_line = test_repeat("x", POLICY_LINE_MAX + 1);
	char *max_line = test_repeat("y", POLICY_LINE_MAX - 7);
	char *too_many = test_repeat("a=b\n", POLICY_ATTR_MAX + 1);
	char *exactly_max = test_repeat("a=b\n", POLICY_ATTR_MAX - 4);
	char *hundred = test_repeat(MINIMAL, 100);
	char *buf1 = xasprintf(HEAD "sender=%s\n\n", long_line);
	char *buf2 = xasprintf(HEAD "sender=%s\n\n", max_line);
	char *buf3 = xasprintf("%s" MINIMAL, too_many);
	char *buf4 = xasprintf("%s" MINIMAL, exactly_max);
	char *buf5 = xasprintf("request=smtpd_access_policy\n%s", long_line);
	const struct parse_case cases[] = {
		{ "real postfix request", REAL_REQUEST, 0, 1, 0, NULL,
		  "peter.mueller@abc.com", "sandra.schuster@abc.com" },
		{ "minimal", MINIMAL, 0, 1, 0, NULL, "a@b.c", "" },
		{ "100 pipelined", hundred, 0, 100, 0, NULL, "a@b.c", NULL },
		{ "crlf", "request=smtpd_access_policy\r\nsender=x@y.z\r\n"
		  "protocol_state=RCPT\r\nsasl_username=\r\n\r\n", 0, 1, 0,
		  NULL, "x@y.z", "" },
		{ "empty sender", HEAD "sender=\n\n", 0, 1, 0, NULL, "",
		  "" },
		{ "login", "request=smtpd_access_policy\nprotocol_state=RCPT\n"
		  "sasl_username=u@b.c\nsender=a@b.c\n\n", 0, 1, 0, NULL,
		  "a@b.c", "u@b.c" },
		{ "value with =", HEAD "sender=a=b@c.d\n\n", 0, 1, 0, NULL,
		  "a=b@c.d", NULL },
		{ "log-only attribute repeated: last value",
		  HEAD "client_address=192.0.2.1\nclient_address=192.0.2.2\n"
		  "sender=a@b.c\n\n", 0, 1, 0, NULL, "a@b.c", "" },
		/* What the decision reads: exactly once, or no answer. */
		{ "no sender", HEAD "\n", 0, 0, -1,
		  "without \"sender\" attribute", NULL, NULL },
		{ "no sasl_username", "request=smtpd_access_policy\n"
		  "protocol_state=RCPT\nsender=a@b.c\n\n", 0, 0, -1,
		  "without \"sasl_username\" attribute", NULL, NULL },
		{ "no protocol_state", "request=smtpd_access_policy\n"
		  "sasl_username=\nsender=a@b.c\n\n", 0, 0, -1,
		  "without \"protocol_state\" attribute", NULL, NULL },
		{ "sender twice", HEAD "sender=a@b.c\nsender=d@e.f\n\n", 0, 0,
		  -1, "attribute \"sender\" repeated", NULL, NULL },
		{ "sender twice, one empty", HEAD "sender=\nsender=d@e.f\n\n",
		  0, 0, -1, "attribute \"sender\" repeated", NULL, NULL },
		{ "sasl_username twice", "request=smtpd_access_policy\n"
		  "protocol_state=RCPT\nsasl_username=u@b.c\n"
		  "sasl_username=v@b.c\nsender=a@b.c\n\n", 0, 0, -1,
		  "attribute \"sasl_username\" repeated", NULL, NULL },
		{ "sasl_username empty then set", HEAD "sasl_username=v@b.c\n"
		  "sender=a@b.c\n\n", 0, 0, -1,
		  "attribute \"sasl_username\" repeated", NULL, NULL },
		{ "protocol_state twice", HEAD "protocol_state=CONNECT\n"
		  "sender=a@b.c\n\n", 0, 0, -1,
		  "attribute \"protocol_state\" repeated", NULL, NULL },
		{ "request twice", "request=smtpd_access_policy\n" MINIMAL, 0,
		  0, -1, "attribute \"request\" repeated", NULL, NULL },
		{ "good, then one without sender", MINIMAL HEAD "\n", 0, 1, -1,
		  "without \"sender\"", "a@b.c", "" },
		{ "partial request", "request=smtpd_access_policy\nsend", 0,
		  0, 0, NULL, NULL, NULL },
		{ "line of exactly the limit", buf2, 0, 1, 0, NULL, max_line,
		  NULL },
		{ "100 attributes", buf4, 0, 1, 0, NULL, NULL, NULL },
		{ "over-long line", buf1, 0, 0, -1, "too long", NULL, NULL },
		{ "over-long partial line", buf5, 0, 0, -1, "too long", NULL,
		  NULL },
		{ "too many attributes", buf3, 0, 0, -1, "too many", NULL,
		  NULL },
		{ "NUL in value",
		  LIT("request=smtpd_access_policy\nsender=a\0b\n\n"), 0, -1, "NUL", NULL, NULL },
		{ "NUL in partial line",
		  LIT("request=smtpd_access_policy\nse\0"), 0, -1, "NUL", NULL, NULL },
		{ "line without =", "request=smtpd_access_policy\ngarbage\n\n",
		  0, 0, -1, "without", NULL, NULL },
		{ "empty name", "request=smtpd_access_policy\n=x\n\n", 0, 0,
		  -1, "empty name", NULL, NULL },
		{ "empty request", "\n", 0, 0, -1, "empty request", NULL,
		  NULL },
		{ "no request attribute", "protocol_state=RCPT\n"
		  "sasl_username=\nsender=a@b.c\n\n", 0, 0, -1,
		  "without \"request\"", NULL, NULL },
		{ "other request type", "request=junk\nsender=a@b.c\n\n", 0, 0,
		  -1, "unsupported", NULL, NULL },
		{ "good then bad", MINIMAL "GET / HTTP/1.0\n\n", 0, 1, -1,
		  "without", "a@b.c", NULL },
		{ "http", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, 0, -1,
		  "without", NULL, NULL },
		{ "binary",
		  LIT("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n"), 0, -1, "NUL", NULL, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len :
			strlen(cases[i].data);

		test_parse_run(&cases[i], len, len);
		test_parse_run(&cases[i], len, 1);
		test_parse_run(&cases[i], len, 7);
	}
	free(long_line);
	free(max_line);
	free(too_many);
	free(exactly_max);
	free(hundred);
	free(buf1);
	free(buf2);
	free(buf3);
	free(buf4);
	free(buf5);
}

/* test_parser_scan - a NUL byte or the line's end at every place of the
   eight-byte words the line scanner reads, and a NUL inside a line too
   long: the checks keep their order ("too long" first) */
static void test_parser_scan(void)
{
	char buf[POLICY_LINE_MAX + 64];

	for (size_t k = 0; k < 24; k++) {
		size_t head = strlen(HEAD "sender="), n;
		struct parse_case t = { "NUL at k", buf, 0, 0, -1, "NUL",
					NULL, NULL };
		struct parse_case good = { "end at k", buf, 0, 1, 0, NULL,
					   NULL, NULL };

		memcpy(buf, HEAD "sender=", head);
		memset(buf + head, 'a', k);
		n = head + k;
		buf[n++] = '\0';
		memcpy(buf + n, "b\n\n", 3);
		test_parse_run(&t, n + 3, n + 3);
		test_parse_run(&t, n + 3, 5);
		/* The same place, the end of a good line. */
		buf[head + k] = '\n';
		buf[head + k + 1] = '\n';
		test_parse_run(&good, head + k + 2, head + k + 2);
		test_parse_run(&good, head + k + 2, 3);
	}
	{
		struct parse_case t = { "NUL in a line too long", buf, 0, 0,
					-1, "too long", NULL, NULL };
		size_t head = strlen("sender=");

		memcpy(buf, "sender=", head);
		memset(buf + head, 'x', POLICY_LINE_MAX);
		buf[head + 10] = '\0';
		buf[head + POLICY_LINE_MAX] = '\n';
		test_parse_run(&t, head + POLICY_LINE_MAX + 1,
			       head + POLICY_LINE_MAX + 1);
	}
}

/* test_parser_reuse - after a request, the next starts clean */
static void test_parser_reuse(void)
{
	struct policy_parser p;
	const char *error;
	size_t used;
	const char *two = "request=smtpd_access_policy\nsender=a@b.c\n"
		"protocol_state=RCPT\nsasl_username=u\n\n" HEAD "sender=\n\n";

	policy_parser_init(&p);
	TEST_ASSERT(!policy_parser_busy(&p));
	TEST_ASSERT(policy_parser_feed(&p, two, strlen(two), &used,
				       &error) == 1);
	TEST_STREQ(p.req.sasl_username, "u");
	TEST_ASSERT(policy_parser_feed(&p, two + used, strlen(two) - used,
				       &used, &error) == 1);
	/* Nothing of the first request leaks into the second (which
	   would otherwise see its own attributes as repeated). */
	TEST_STREQ(p.req.sasl_username, "");
	TEST_STREQ(p.req.sender, "");
	TEST_ASSERT(p.req.attr_count == 4);
	TEST_ASSERT(policy_parser_feed(&p, "request=x", 9, &used,
				       &error) == 0);
	TEST_ASSERT(used == 0);
	TEST_ASSERT(policy_parser_feed(&p, "request=x\n", 10, &used,
				       &error) == 0);
	TEST_ASSERT(used == 10);
	TEST_ASSERT(policy_parser_busy(&p));
	TEST_ASSERT(policy_parser_feed(&p, "oops\n", 5, &used, &error) < 0);
	TEST_ASSERT(!policy_parser_busy(&p));
	policy_parser_deinit(&p);
}

/* test_printable - what reaches a log line or a reply */
static void test_printable(void)
{
	static const struct {
		const char *in;
		size_t size;
		const char *out;
	} cases[] = {
		{ "sandra@abc.com", 64, "sandra@abc.com" },
		{ "peter.m\xc3\xbcller@abc.com", 64,
		  "peter.m\xc3\xbcller@abc.com" },
		{ "a\nb\rc\td", 64, "a\\x0ab\\x0dc\\x09d" },
		{ "back\\slash", 64, "back\\x5cslash" },
		{ "del\x7f", 64, "del\\x7f" },
		{ "bad\xff\xc3", 64, "bad\\xff\\xc3" },
		{ "\xed\xa0\x80", 64, "\\xed\\xa0\\x80" },	/* surrogate */
		{ "\xc0\xaf", 64, "\\xc0\\xaf" },		/* overlong */
		{ "abcdefghij", 8, "abcd..." },
		{ "\n\n\n", 9, "\\x0a..." },
		{ "", 4, "" },
		{ "abc", 3, "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];

		memset(out, 'Z', sizeof(out));
		policy_printable(cases[i].in, out, cases[i].size);
		TEST_STREQ(out, cases[i].out);
		TEST_ASSERT(strlen(out) < cases[i].size);
	}
}

struct decide_case {
	const char *login;
	const char *sender;
	enum policy_action action;
	const char *reason;
	const char *reply;	/* prefix of the reply */
};

#define DUNNO POLICY_ACTION_DUNNO
#define REJECT POLICY_ACTION_REJECT
#define DEFER POLICY_ACTION_DEFER_IF_PERMIT

#define SANDRA "sandra.schuster@abc.com"
#define JANA "jana.meier@abc.com"
#define PETER "peter.mueller@abc.com"
#define TOM "tom.berger@abc.com"
#define ANNA "anna.schmidt@xyz.org"
#define MAX "max.wolf@xyz.org"
#define LENA "lena.wagner@xyz.org"

#define NOW ((time_t)1780000000)	/* 2026-05-28, in Peter's vacation */

/* test_decide_run - one table against one replica and config */
static void test_decide_run(struct replica *rep, const struct config *cfg,
			    const struct decide_case *cases, size_t count,
			    time_t now)
{
	for (size_t i = 0; i < count; i++) {
		const struct decide_case *t = &cases[i];
		struct policy_decision d;

		(void)policy_decide(rep, cfg, t->login, t->sender, now, &d);
		if (d.action != t->action ||
		    strcmp(policy_reason_name(d.reason), t->reason) != 0 ||
		    strncmp(d.reply, t->reply, strlen(t->reply)) != 0)
			fprintf(stderr, "decide %s as <%s>: got %s %s \"%s\" "
				"(%s)\n", t->login ? t->login : "(none)",
				t->sender ? t->sender : "(null)",
				policy_action_name(d.action),
				policy_reason_name(d.reason), d.reply,
				d.detail);
		TEST_ASSERT(d.action == t->action);
		TEST_STREQ(policy_reason_name(d.reason), t->reason);
		TEST_ASSERT(strncmp(d.reply, t->reply, strlen(t->reply)) == 0);
		/* A reply is one line of printable text. */
		TEST_ASSERT(strpbrk(d.reply, "\r\n") == NULL);
		TEST_ASSERT((d.action == DUNNO) ==
			    (strcmp(d.reply, "DUNNO") == 0));
	}
}

/* test_decide - DESIGN §6 on the story replica */
static void test_decide(const char *dir)
{
	static const struct decide_case story[] = {
		/* Own private mailboxes, also with case and extension. */
		{ SANDRA, SANDRA, DUNNO, "own_mailbox", "DUNNO" },
		{ SANDRA, "makler@abc.com", DUNNO, "own_mailbox", "DUNNO" },
		{ SANDRA, "SANDRA.Schuster+x@ABC.com", DUNNO, "own_mailbox",
		  "DUNNO" },
		{ SANDRA, "<makler@abc.com>", DUNNO, "own_mailbox", "DUNNO" },
		{ "SANDRA.SCHUSTER@abc.com", SANDRA, DUNNO, "own_mailbox",
		  "DUNNO" },
		{ JANA, "buchhaltung@abc.com", DUNNO, "own_mailbox", "DUNNO" },
		{ PETER, "peter.m\xc3\xbcller@abc.com", DUNNO, "own_mailbox",
		  "DUNNO" },
		{ PETER, "peter.m\xc3\xbcller@ABC.COM", DUNNO, "own_mailbox",
		  "DUNNO" },
		/* The company mailbox, for every employee. */
		{ SANDRA, "info@abc.com", DUNNO, "company_mailbox", "DUNNO" },
		{ TOM, "info@abc.com", DUNNO, "company_mailbox", "DUNNO" },
		{ PETER, "info@abc.com", DUNNO, "company_mailbox", "DUNNO" },
		{ ANNA, "info@xyz.org", DUNNO, "company_mailbox", "DUNNO" },
		{ MAX, "info@xyz.org", DUNNO, "company_mailbox", "DUNNO" },
		/* A company mailbox limited to a group: its members only. */
		{ JANA, "vertrieb@abc.com", DUNNO, "company_mailbox", "DUNNO" },
		{ PETER, "Vertrieb@abc.com", DUNNO, "company_mailbox",
		  "DUNNO" },
		{ SANDRA, "vertrieb@abc.com", REJECT, "not_yours",
		  "REJECT 5.7.1 <vertrieb@abc.com>: you may not send" },
		{ TOM, "vertrieb+x@abc.com", REJECT, "not_yours",
		  "REJECT 5.7.1 " },
		/* In xyz.org's subtree, not in its employee group: her own
		   address only. */
		{ LENA, LENA, DUNNO, "own_mailbox", "DUNNO" },
		{ LENA, "info@xyz.org", REJECT, "not_yours",
		  "REJECT 5.7.1 <info@xyz.org>: you may not send" },
		/* Shared for reading only. */
		{ SANDRA, PETER, REJECT, "shared_read_only",
		  "REJECT 5.7.1 <peter.mueller@abc.com>: mailbox shared with "
		  "you for reading only; send from your own address" },
		{ JANA, PETER, REJECT, "shared_read_only", "REJECT 5.7.1 " },
		{ SANDRA, "peter.m\xc3\xbcller@abc.com", REJECT,
		  "shared_read_only",
		  "REJECT 5.7.1 <peter.m\xc3\xbcller@abc.com>: mailbox shared" },
		{ JANA, "Peter.Mueller+urlaub@abc.com", REJECT,
		  "shared_read_only", "REJECT 5.7.1 " },
		/* Not theirs. */
		{ TOM, PETER, REJECT, "not_yours",
		  "REJECT 5.7.1 <peter.mueller@abc.com>: you may not send" },
		{ TOM, SANDRA, REJECT, "not_yours", "REJECT 5.7.1 " },
		{ SANDRA, "buchhaltung@abc.com", REJECT, "not_yours",
		  "REJECT 5.7.1 " },
		{ SANDRA, "nobody@abc.com", REJECT, "not_yours",
		  "REJECT 5.7.1 " },
		{ ANNA, "info@abc.com", REJECT, "not_yours", "REJECT 5.7.1 " },
		{ SANDRA, "info@xyz.org", REJECT, "not_yours",
		  "REJECT 5.7.1 " },
		{ ANNA, MAX, REJECT, "not_yours", "REJECT 5.7.1 " },
		/* Foreign domains. */
		{ SANDRA, "sandra@gmail.com", REJECT, "foreign_sender",
		  "REJECT 5.7.1 <sandra@gmail.com>: sending as an address "
		  "of another domain" },
		/* The null sender. */
		{ SANDRA, "", DUNNO, "null_sender", "DUNNO" },
		{ SANDRA, NULL, DUNNO, "null_sender", "DUNNO" },
		/* No login. */
		{ NULL, SANDRA, REJECT, "auth_required",
		  "REJECT 5.7.1 <sandra.schuster@abc.com>: authentication "
		  "required" },
		{ "", "nobody@abc.com", REJECT, "auth_required",
		  "REJECT 5.7.1 " },
		{ "", "info@xyz.org", REJECT, "auth_required",
		  "REJECT 5.7.1 " },
		{ "", "someone@example.net", DUNNO,
		  "unauthenticated_foreign", "DUNNO" },
		{ NULL, "", DUNNO, "null_sender", "DUNNO" },
		/* Unknown logins, whatever the sender. */
		{ "nobody@abc.com", SANDRA, DEFER, "unknown_login",
		  "DEFER_IF_PERMIT 4.7.1 " },
		{ "nobody@abc.com", "x@example.net", DEFER, "unknown_login",
		  "DEFER_IF_PERMIT 4.7.1 " },
		{ "bad\x01login", SANDRA, DEFER, "unknown_login",
		  "DEFER_IF_PERMIT 4.7.1 " },
		/* A login with an extension is not the base login. */
		{ "sandra.schuster+x@abc.com", SANDRA, DEFER, "unknown_login",
		  "DEFER_IF_PERMIT 4.7.1 " },
		{ "sandra.schuster+x@abc.com", "info@abc.com", DEFER,
		  "unknown_login", "DEFER_IF_PERMIT 4.7.1 " },
		/* Senders that are not addresses. */
		{ SANDRA, "sandra.schuster", REJECT, "bad_sender",
		  "REJECT 5.1.7 <sandra.schuster>: invalid sender" },
		{ "", "peter", REJECT, "bad_sender", "REJECT 5.1.7 " },
		{ SANDRA, "a\x01@abc.com", REJECT, "bad_sender",
		  "REJECT 5.1.7 <a\\x01@abc.com>: " },
	};
	static const struct decide_case lenient[] = {
		{ SANDRA, "sandra@gmail.com", DUNNO, "foreign_sender",
		  "DUNNO" },
		{ SANDRA, "", REJECT, "null_sender", "REJECT 5.7.1 <>: " },
		{ NULL, SANDRA, DUNNO, "unauthenticated_local", "DUNNO" },
		/* The fixed rows stay as they are. */
		{ SANDRA, PETER, REJECT, "shared_read_only", "REJECT 5.7.1 " },
		{ TOM, PETER, REJECT, "not_yours", "REJECT 5.7.1 " },
		{ "nobody@abc.com", "x@example.net", DEFER, "unknown_login",
		  "DEFER_IF_PERMIT 4.7.1 " },
	};
	static const struct decide_case no_replica[] = {
		{ SANDRA, SANDRA, DEFER, "replica_unavailable",
		  "DEFER_IF_PERMIT 4.3.0 " },
		{ NULL, SANDRA, DEFER, "replica_unavailable",
		  "DEFER_IF_PERMIT 4.3.0 " },
		{ "nobody@abc.com", SANDRA, DEFER, "replica_unavailable",
		  "DEFER_IF_PERMIT 4.3.0 " },
		/* The null sender needs no replica. */
		{ SANDRA, "", DUNNO, "null_sender", "DUNNO" },
	};
	static const struct decide_case too_old[] = {
		{ SANDRA, SANDRA, DEFER, "replica_too_old",
		  "DEFER_IF_PERMIT 4.3.0 " },
		{ SANDRA, "", DUNNO, "null_sender", "DUNNO" },
	};
	/* Peter's vacation share with the right to send on behalf: the
	   envelope is still the grantee's own, never Peter's. */
	static const struct decide_case on_behalf[] = {
		{ SANDRA, PETER, REJECT, "on_behalf_only",
		  "REJECT 5.7.1 <peter.mueller@abc.com>: you may send on "
		  "behalf of this address, not as it; send from your own "
		  "address with From: <peter.mueller@abc.com> and Sender: "
		  "your own address" },
		{ JANA, "peter.m\xc3\xbcller@abc.com", REJECT,
		  "on_behalf_only", "REJECT 5.7.1 " },
		{ SANDRA, SANDRA, DUNNO, "own_mailbox", "DUNNO" },
		{ SANDRA, "info@abc.com", DUNNO, "company_mailbox", "DUNNO" },
		{ TOM, PETER, REJECT, "not_yours", "REJECT 5.7.1 " },
		{ PETER, PETER, DUNNO, "own_mailbox", "DUNNO" },
	};
	static const struct decide_case before_vacation[] = {
		{ SANDRA, PETER, REJECT, "not_yours", "REJECT 5.7.1 " },
		{ TOM, PETER, REJECT, "shared_read_only", "REJECT 5.7.1 " },
	};
	struct config *cfg = config_defaults();
	struct replica *rep;
	struct policy_decision d;
	const char *error;
	char *path = xasprintf("%s/grants.db", dir);

	/* The story's decisions at its own fixed times, whatever the
	   replica's age; the age has its own rows below. */
	cfg->replica_max_age = 0;
	TEST_ASSERT(story_build(path, NULL, NULL) == 0);
	TEST_ASSERT(replica_open(path, &rep, &error) == 0);
	if (rep == NULL) {
		fprintf(stderr, "replica_open: %s\n", error);
		free(path);
		config_free(&cfg);
		return;
	}
	test_decide_run(rep, cfg, story, sizeof(story) / sizeof(story[0]),
			NOW);
	test_decide_run(rep, cfg, before_vacation,
			sizeof(before_vacation) / sizeof(before_vacation[0]),
			(time_t)1720000000);	/* 2024-07-03 */
	test_decide_run(NULL, cfg, no_replica,
			sizeof(no_replica) / sizeof(no_replica[0]), NOW);
	{
		char *path2 = xasprintf("%s/on-behalf.db", dir);
		struct replica *rep2;

		TEST_ASSERT(story_build_on_behalf(path2, NULL, NULL,
						  true) == 0);
		TEST_ASSERT(replica_open(path2, &rep2, &error) == 0);
		if (rep2 != NULL) {
			test_decide_run(rep2, cfg, on_behalf,
					sizeof(on_behalf) /
					sizeof(on_behalf[0]), NOW);
			/* The audit names the share with the right; a
			   mailbox that keeps sent copies gets one once the
			   milter saw the Sender:, a person's own never. */
			TEST_ASSERT(policy_decide(rep2, cfg, TOM,
						  "makler@abc.com", NOW,
						  &d) == 0);
			TEST_ASSERT(d.reason == POLICY_REASON_ON_BEHALF_ONLY);
			TEST_ASSERT(strcmp(d.entry_dn, "cn=tom,cn=makler@"
					   "abc.com,ou=mailboxes,"
					   STORY_ABC) == 0);
			TEST_ASSERT(strcmp(d.sent_copy,
					   "makler@abc.com") == 0);
			TEST_ASSERT(policy_decide(rep2, cfg, SANDRA, PETER,
						  NOW, &d) == 0);
			TEST_ASSERT(d.reason == POLICY_REASON_ON_BEHALF_ONLY);
			TEST_ASSERT(strcmp(d.entry_dn, "cn=vacation,"
					   STORY_PETER) == 0);
			TEST_ASSERT(d.sent_copy[0] == '\0');
			replica_close(&rep2);
		}
		story_cleanup(path2);
		free(path2);
	}

	/* The configurable rows, the other way. */
	cfg->policy_foreign_sender = CONFIG_POLICY_DUNNO;
	cfg->policy_null_sender = CONFIG_POLICY_REJECT;
	cfg->policy_unauthenticated_local = CONFIG_POLICY_DUNNO;
	test_decide_run(rep, cfg, lenient, sizeof(lenient) / sizeof(lenient[0]),
			NOW);
	cfg->policy_foreign_sender = CONFIG_POLICY_REJECT;
	cfg->policy_null_sender = CONFIG_POLICY_DUNNO;
	cfg->policy_unauthenticated_local = CONFIG_POLICY_REJECT;

	/* replica_max_age against the story's sync time (just now). */
	cfg->replica_max_age = 3600;
	test_decide_run(rep, cfg, &story[0], 1, time(NULL));
	test_decide_run(rep, cfg, too_old, sizeof(too_old) / sizeof(too_old[0]),
			time(NULL) + 7200);
	/* At the second: exactly replica_max_age old is current, one
	   more is too old; a sync up to POLICY_CLOCK_SKEW_MAX seconds
	   ahead is the clock's jitter, further ahead its age is unknown
	   (policy.h). */
	struct replica_info info;
	TEST_ASSERT(replica_info(rep, &info, &error) == 0);
	TEST_ASSERT(info.current_at > 0);
	test_decide_run(rep, cfg, &story[0], 1, info.current_at + 3600);
	test_decide_run(rep, cfg, too_old, 1, info.current_at + 3601);
	test_decide_run(rep, cfg, &story[0], 1, info.current_at);
	test_decide_run(rep, cfg, &story[0], 1,
			info.current_at - POLICY_CLOCK_SKEW_MAX);
	test_decide_run(rep, cfg, too_old, sizeof(too_old) / sizeof(too_old[0]),
			info.current_at - POLICY_CLOCK_SKEW_MAX - 1);
	TEST_ASSERT(policy_decide(rep, cfg, SANDRA, SANDRA,
				  info.current_at - 3600, &d) == 0);
	TEST_ASSERT(strstr(d.detail, "3600 seconds in the future") != NULL);
	/* Off, the replica's age does not count at all. */
	cfg->replica_max_age = 0;
	test_decide_run(rep, cfg, &story[0], 1, info.current_at - 3600);
	test_decide_run(rep, cfg, &story[0], 1, info.current_at + 86400 * 365);

	/* An over-long sender is shown cut, never overflows. */
	char *huge = test_repeat("x", 3000);
	char *huge_addr = xasprintf("%s@abc.com", huge);
	TEST_ASSERT(policy_decide(rep, cfg, SANDRA, huge_addr, NOW, &d) == 0);
	TEST_ASSERT(d.action == REJECT);
	TEST_ASSERT(strlen(d.reply) < sizeof(d.reply));
	TEST_ASSERT(strstr(d.reply, "...") != NULL);
	free(huge);
	free(huge_addr);

	/* A replica that breaks under a running reader: -1, DEFER. */
	replica_close(&rep);
	TEST_ASSERT(unlink(path) == 0);
	TEST_ASSERT(replica_open(path, &rep, &error) < 0);
	free(path);
	config_free(&cfg);
}

/* test_sent_copies - which DUNNO carries a sent copy, and for whom */
static void test_sent_copies(const char *dir)
{
	static const struct {
		const char *login, *sender;
		const char *copy_default_no, *copy_default_yes;
	} cases[] = {
		/* Oneself: never, whatever the default. */
		{ SANDRA, SANDRA, "", "" },
		{ SANDRA, "Sandra.Schuster+x@abc.com", "", "" },
		/* The entry says yes (makler@, info@abc.com) or no
		   (buchhaltung@); the others follow the site default. */
		{ SANDRA, "makler@abc.com", "makler@abc.com",
		  "makler@abc.com" },
		{ SANDRA, "Info+x@ABC.com", "info@abc.com", "info@abc.com" },
		{ TOM, "info@abc.com", "info@abc.com", "info@abc.com" },
		{ JANA, "buchhaltung@abc.com", "", "" },
		{ JANA, "vertrieb@abc.com", "", "vertrieb@abc.com" },
		{ ANNA, "info@xyz.org", "", "info@xyz.org" },
		/* No copy without the right to send. */
		{ SANDRA, "vertrieb@abc.com", "", "" },
		{ SANDRA, PETER, "", "" },
		{ LENA, "info@xyz.org", "", "" },
		{ NULL, "info@abc.com", "", "" },
	};
	struct replica_writer_settings set = { 0 };
	struct config *cfg = config_defaults();
	struct policy_decision d;
	struct replica *rep;
	const char *error;
	char *path = xasprintf("%s/sent.db", dir);
	char rcpt[ADDR_MAX + 32];

	cfg->replica_max_age = 0;
	for (int yes = 0; yes <= 1; yes++) {
		set.sent_copies = yes != 0;
		story_cleanup(path);
		TEST_ASSERT(story_build_set(path, &set) == 0);
		TEST_ASSERT(replica_open(path, &rep, &error) == 0);
		if (rep == NULL)
			break;
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]);
		     i++) {
			const char *want = yes ? cases[i].copy_default_yes :
				cases[i].copy_default_no;

			TEST_ASSERT(policy_decide(rep, cfg, cases[i].login,
						  cases[i].sender, NOW,
						  &d) == 0);
			if (strcmp(d.sent_copy, want) != 0)
				fprintf(stderr, "default %s: %s as %s: sent "
					"copy \"%s\", want \"%s\"\n",
					yes ? "yes" : "no",
					cases[i].login ? cases[i].login : "-",
					cases[i].sender, d.sent_copy, want);
			TEST_ASSERT(strcmp(d.sent_copy, want) == 0);
			TEST_ASSERT(want[0] == '\0' ||
				    d.action == POLICY_ACTION_DUNNO);
		}
		replica_close(&rep);
	}
	story_cleanup(path);

	/* The recipient that files it, and one that does not fit. */
	TEST_ASSERT(policy_sent_copy_rcpt("info@abc.com", rcpt,
					  sizeof(rcpt)) == 0);
	TEST_ASSERT(strcmp(rcpt,
			   "info@abc.com.sent.mailgrants.invalid") == 0);
	TEST_ASSERT(policy_sent_copy_rcpt("info@abc.com", rcpt, 20) < 0);
	TEST_ASSERT(policy_sent_copy_rcpt("no-domain", rcpt,
					  sizeof(rcpt)) < 0);
	free(path);
	config_free(&cfg);
}

/* main - run every group */
int main(void)
{
	char dir[] = "/tmp/test-policy.XXXXXX";

	TEST_RUN(test_parser());
	TEST_RUN(test_parser_scan());
	TEST_RUN(test_parser_reuse());
	TEST_RUN(test_printable());
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	TEST_RUN(test_decide(dir));
	TEST_RUN(test_sent_copies(dir));
	{
		char *cmd = xasprintf("rm -rf '%s'", dir);

		TEST_ASSERT(system(cmd) == 0);
		free(cmd);
	}
	return test_exit("test-policy");
}
