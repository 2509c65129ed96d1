/*
 * NAME
 *	policy-proto - the Postfix policy delegation request parser
 * DESCRIPTION
 *	Everything that arrives on a policy connection is untrusted
 *	until it has passed through here: lengths are checked before
 *	anything is stored, and every way a request can be malformed is
 *	an error with a short reason for the log, never a guess.
 * SEE ALSO
 *	policy-proto.h, Postfix SMTPD_POLICY_README
 */

#include "policy-proto.h"
#include "error.h"
#include "xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_REQUEST_TYPE "smtpd_access_policy"

/* The attributes kept, by name. "decides": the daemon's answer depends
   on it, so it must come exactly once: a missing sender would read as
   the null sender, and of two senders or two logins no reading is
   right (Postfix sends each attribute once). The others only go into
   the log line. */
#define POLICY_KEPT(X) \
	X(request, true) \
	X(protocol_state, true) \
	X(sasl_username, true) \
	X(sender, true) \
	X(client_address, false) \
	X(client_name, false) \
	X(queue_id, false) \
	X(instance, false)

#define POLICY_ATTR(name, decides) \
	{ #name, sizeof(#name) - 1, \
	  offsetof(struct policy_request, name), decides },

static const struct {
	const char *name;
	size_t name_len;
	size_t offset;
	bool decides;
} policy_attrs[] = {
	POLICY_KEPT(POLICY_ATTR)
};

#define POLICY_ATTR_COUNT (sizeof(policy_attrs) / sizeof(policy_attrs[0]))

/* The lengths of the kept names, one bit each: a line whose name has
   none of them is not looked up. */
#define POLICY_LEN_BIT(name, decides) | (1ULL << (sizeof(#name) - 1))
#define POLICY_KEPT_LENGTHS (0 POLICY_KEPT(POLICY_LEN_BIT))

_Static_assert(POLICY_ATTR_COUNT <= sizeof(unsigned int) * 8,
	       "one bit of policy_request.seen per attribute kept");
_Static_assert(POLICY_ATTR_COUNT == POLICY_KEPT_MAX,
	       "one value buffer per attribute kept");

/* policy_attr_slot - where the value of attribute n is kept */
static char **policy_attr_slot(struct policy_request *req, size_t n)
{
	return (char **)((char *)req + policy_attrs[n].offset);
}

/* policy_request_clear - forget the request (the storage stays) */
static void policy_request_clear(struct policy_request *req)
{
	size_t n;

	for (n = 0; n < POLICY_ATTR_COUNT; n++)
		*policy_attr_slot(req, n) = NULL;
	req->attr_count = 0;
	req->seen = 0;
}

/* policy_parser_init - an empty parser */
void policy_parser_init(struct policy_parser *p)
{
	memset(p, 0, sizeof(*p));
}

/* policy_parser_deinit - free what the parser holds */
void policy_parser_deinit(struct policy_parser *p)
{
	policy_request_clear(&p->req);
	p->done = false;
	for (size_t n = 0; n < POLICY_ATTR_COUNT; n++) {
		free(p->value[n]);
		p->value[n] = NULL;
		p->value_size[n] = 0;
	}
}

/* policy_parser_busy - has a request begun? */
bool policy_parser_busy(const struct policy_parser *p)
{
	return !p->done && p->req.attr_count > 0;
}

/* policy_parser_fail - forget the request, give the reason for -1 (a
   constant, or error_printf()'s text) */
static int policy_parser_fail(struct policy_parser *p, const char **error_r,
			      const char *reason)
{
	policy_request_clear(&p->req);
	p->done = false;
	*error_r = reason;
	return -1;
}

/* policy_parser_attr - one "name=value" line */
static int policy_parser_attr(struct policy_parser *p, const char *line,
			      size_t len, const char **error_r)
{
	const char *eq = memchr(line, '=', len);
	size_t name_len, n;

	if (eq == NULL)
		return policy_parser_fail(p, error_r,
					  "request line without \"=\"");
	name_len = (size_t)(eq - line);
	if (name_len == 0)
		return policy_parser_fail(p, error_r,
					  "request line with an empty name");
	if (++p->req.attr_count > POLICY_ATTR_MAX)
		return policy_parser_fail(p, error_r,
					  "too many attributes in request");
	/* Most of Postfix's attributes are not kept: a name of no kept
	   length is not looked for. */
	if (name_len >= 64 || (POLICY_KEPT_LENGTHS >> name_len & 1) == 0)
		return 0;
	for (n = 0; n < POLICY_ATTR_COUNT; n++) {
		const char *name = policy_attrs[n].name;
		size_t value_len = len - name_len - 1;

		if (policy_attrs[n].name_len == name_len &&
		    name[0] == line[0] && memcmp(name, line, name_len) == 0) {
			if ((p->req.seen & (1u << n)) != 0 &&
			    policy_attrs[n].decides) {
				return policy_parser_fail(p, error_r,
					error_printf("attribute \"%s\" "
						     "repeated in request",
						     name));
			}
			p->req.seen |= 1u << n;
			p->value[n] = xgrow(p->value[n], &p->value_size[n],
					    value_len + 1, 1, 64);
			memcpy(p->value[n], eq + 1, value_len);
			p->value[n][value_len] = '\0';
			*policy_attr_slot(&p->req, n) = p->value[n];
			break;
		}
	}
	return 0;
}

/* policy_parser_end - the empty line: is the request complete and valid? */
static int policy_parser_end(struct policy_parser *p, const char **error_r)
{
	size_t n;

	if (p->req.attr_count == 0)
		return policy_parser_fail(p, error_r, "empty request");
	if (p->req.request == NULL)
		return policy_parser_fail(p, error_r,
					  "request without \"request\" attribute");
	if (strcmp(p->req.request, POLICY_REQUEST_TYPE) != 0)
		return policy_parser_fail(p, error_r,
					  "unsupported request type");
	for (n = 0; n < POLICY_ATTR_COUNT; n++) {
		if (policy_attrs[n].decides &&
		    (p->req.seen & (1u << n)) == 0) {
			return policy_parser_fail(p, error_r,
				error_printf("request without \"%s\" "
					     "attribute",
					     policy_attrs[n].name));
		}
	}
	p->done = true;
	return 1;
}

/* policy_line_scan - the offset of the first '\n' or NUL byte in s[0..n),
   or n: eight bytes at a time, a byte of w that is zero, or zero after
   an exclusive or with '\n' (Hacker's Delight's "haszero") */
static size_t policy_line_scan(const char *s, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t highs = 0x8080808080808080ULL;
	const uint64_t newlines = 0x0a0a0a0a0a0a0a0aULL;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w, x, hit;

		memcpy(&w, s + i, 8);
		x = w ^ newlines;
		hit = (((w - ones) & ~w) | ((x - ones) & ~x)) & highs;
		if (hit != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			/* The lowest mark is exact (a borrow only runs up). */
			return i + ((size_t)__builtin_ctzll(hit) >> 3);
#else
			break;
#endif
		}
	}
	while (i < n && s[i] != '\n' && s[i] != '\0')
		i++;
	return i;
}

/* policy_parser_feed - consume whole lines until a request is complete */
int policy_parser_feed(struct policy_parser *p, const char *data, size_t size,
		       size_t *used_r, const char **error_r)
{
	size_t pos = 0;

	*used_r = 0;
	if (p->done) {
		policy_request_clear(&p->req);
		p->done = false;
	}
	while (pos < size) {
		const char *line = data + pos;
		size_t end = policy_line_scan(line, size - pos);
		const char *nl;
		size_t len, raw_len;
		int ret;

		if (end < size - pos && line[end] == '\n') {
			/* A whole line without a NUL byte: the usual. */
			nl = line + end;
		} else {
			/* A NUL, or no end yet: the checks in their order. */
			nl = memchr(line, '\n', size - pos);
		}
		if (nl == NULL) {
			/* A partial line: refuse it as soon as it is too long,
			   so a client cannot make us buffer without limit. */
			if (size - pos > POLICY_LINE_MAX)
				return policy_parser_fail(p, error_r,
							  "request line too long");
			if (end < size - pos)
				return policy_parser_fail(p, error_r,
							  "NUL byte in request");
			break;
		}
		raw_len = len = (size_t)(nl - line);
		if (raw_len > POLICY_LINE_MAX)
			return policy_parser_fail(p, error_r,
						  "request line too long");
		if (end < len)
			return policy_parser_fail(p, error_r,
						  "NUL byte in request");
		if (len > 0 && line[len - 1] == '\r')
			len--;
		pos += raw_len + 1;
		*used_r = pos;
		if (len == 0)
			return policy_parser_end(p, error_r);
		if ((ret = policy_parser_attr(p, line, len, error_r)) < 0)
			return ret;
	}
	return 0;
}
