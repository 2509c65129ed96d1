/*
 * NAME
 *	fuzz-policy-request - libFuzzer harness of the policy request parser
 * DESCRIPTION
 *	Feeds the input to policy_parser_feed() the way the daemon does:
 *	in pieces (the first byte of the input chooses the piece size),
 *	into a buffer of the daemon's size, consuming what the parser
 *	took. Checks the parser's promises: it never takes more than it
 *	was given, a partial remainder never exceeds POLICY_LINE_MAX,
 *	and a complete request is always an smtpd_access_policy request
 *	with at most POLICY_ATTR_MAX attributes, in which each attribute
 *	the decision reads (protocol_state, sender, sasl_username) came
 *	exactly once: present, never a guess. Each value of a complete
 *	request also goes through policy_printable(), whose output must
 *	hold no control characters.
 *
 *	make fuzz  (build-fuzz/fuzz-policy-request, clang, ASan, UBSan)
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy-proto.h"
#include "policy.h"

#define FUZZ_BUF_SIZE 16384	/* as the daemon's connection buffer */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_check_printable - policy_printable() output is one clean line */
static void fuzz_check_printable(const char *value)
{
	char out[300];

	if (value == NULL)
		return;
	policy_printable(value, out, sizeof(out));
	if (strlen(out) >= sizeof(out))
		abort();
	for (const unsigned char *p = (const unsigned char *)out; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			abort();
}

/* The attributes the decision reads: each exactly once per request. */
static const char *const fuzz_decisive[] = {
	"request=", "protocol_state=", "sender=", "sasl_username=",
};
#define FUZZ_DECISIVE (sizeof(fuzz_decisive) / sizeof(fuzz_decisive[0]))

/* fuzz_count - count the decisive lines among the bytes the parser took */
static void fuzz_count(const char *buf, size_t len, unsigned int *counts)
{
	size_t pos = 0;

	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - buf) : len;

		for (size_t i = 0; i < FUZZ_DECISIVE; i++) {
			size_t n = strlen(fuzz_decisive[i]);

			if (end - pos >= n &&
			    memcmp(buf + pos, fuzz_decisive[i], n) == 0)
				counts[i]++;
		}
		pos = end + 1;
	}
}

/* LLVMFuzzerTestOneInput - one input through the parser */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[FUZZ_BUF_SIZE];
	struct policy_parser p;
	size_t have = 0, pos = 0, step;
	const char *error;
	unsigned int counts[FUZZ_DECISIVE] = { 0 };

	if (size == 0)
		return 0;
	step = (size_t)data[0] * 37 + 1;
	data++;
	size--;
	policy_parser_init(&p);
	while (pos < size) {
		size_t n = size - pos < step ? size - pos : step;
		size_t used;
		int ret;

		if (n > sizeof(buf) - have)
			n = sizeof(buf) - have;
		memcpy(buf + have, data + pos, n);
		have += n;
		pos += n;
		while ((ret = policy_parser_feed(&p, buf, have, &used,
						 &error)) == 1) {
			if (used > have || p.req.request == NULL ||
			    strcmp(p.req.request, "smtpd_access_policy") != 0 ||
			    p.req.attr_count > POLICY_ATTR_MAX ||
			    p.req.protocol_state == NULL ||
			    p.req.sender == NULL || p.req.sasl_username == NULL)
				abort();
			fuzz_count(buf, used, counts);
			for (size_t i = 0; i < FUZZ_DECISIVE; i++)
				if (counts[i] != 1)
					abort();
			memset(counts, 0, sizeof(counts));
			fuzz_check_printable(p.req.sender);
			fuzz_check_printable(p.req.sasl_username);
			fuzz_check_printable(p.req.client_address);
			memmove(buf, buf + used, have - used);
			have -= used;
		}
		if (ret < 0)
			break;
		if (used > have)
			abort();
		fuzz_count(buf, used, counts);
		memmove(buf, buf + used, have - used);
		have -= used;
		if (have > POLICY_LINE_MAX)
			abort();
	}
	policy_parser_deinit(&p);
	return 0;
}
