#ifndef MAILGRANTS_POLICY_PROTO_H
#define MAILGRANTS_POLICY_PROTO_H

/*
 * NAME
 *	policy-proto - the Postfix policy delegation request parser
 * SYNOPSIS
 *	#include "policy-proto.h"
 *
 *	void policy_parser_init(struct policy_parser *p);
 *	void policy_parser_deinit(struct policy_parser *p);
 *	int policy_parser_feed(struct policy_parser *p, const char *data,
 *			       size_t size, size_t *used_r,
 *			       const char **error_r);
 *	bool policy_parser_busy(const struct policy_parser *p);
 * DESCRIPTION
 *	A request is "name=value" lines ended by one empty line
 *	(Postfix's SMTPD_POLICY_README). The parser does no I/O: the
 *	caller hands it the bytes it has buffered, and it consumes whole
 *	lines only.
 *
 *	policy_parser_feed() returns 1 when a complete request was read
 *	(its attributes are in p->req until the next feed; *used_r says
 *	how many bytes it took, the rest may hold the next pipelined
 *	request), 0 when it needs more bytes (*used_r complete lines were
 *	consumed; the caller keeps the remainder, a partial line, and
 *	calls again with more appended), and -1 on bad input: a line of
 *	more than POLICY_LINE_MAX bytes (also while it is still
 *	incomplete), a NUL byte, a line without "=" or with an empty
 *	name, more than POLICY_ATTR_MAX attributes, an empty request, a
 *	missing "request" attribute or one other than
 *	"smtpd_access_policy", and an attribute the decision reads
 *	("request", "protocol_state", "sender", "sasl_username") missing
 *	or repeated. After -1 the caller must drop the connection without
 *	replying; the parser is reset by the next feed or by deinit.
 *
 *	One trailing CR is removed from each line, so a person can test
 *	the daemon with telnet; Postfix itself sends bare LF.
 *
 *	The attributes the decision reads must come exactly once: a
 *	request without "sender" is not one with the null sender (that
 *	is "sender=" with an empty value, as "sasl_username=" empty is a
 *	client that did not log in), and of two "sender" or two
 *	"sasl_username" lines neither is the right one. Postfix sends
 *	each attribute once. Of the attributes kept only for the log
 *	(client_address, client_name, queue_id, instance) a repeated one
 *	keeps its last value. Unknown attributes are counted and ignored.
 *
 *	policy_parser_busy() tells whether a request has begun (at least
 *	one attribute line consumed); together with the caller's own
 *	partial line, this tells an idle connection from one in the
 *	middle of a request.
 */

#include <stdbool.h>
#include <stddef.h>

#define POLICY_LINE_MAX 4096	/* bytes per line, newline excluded */
#define POLICY_ATTR_MAX 100	/* attribute lines per request */

/* The attributes the daemon uses; NULL when not sent. */
struct policy_request {
	char *request;
	char *protocol_state;
	char *sasl_username;
	char *sender;
	char *client_address;
	char *client_name;
	char *queue_id;
	char *instance;
	unsigned int attr_count;
	unsigned int seen;	/* bit n: policy-proto.c's attribute n came */
};

#define POLICY_KEPT_MAX 8	/* the char * fields of policy_request */

struct policy_parser {
	struct policy_request req;
	bool done;		/* req holds a complete request */
	/* The values' storage, kept from request to request. */
	char *value[POLICY_KEPT_MAX];
	size_t value_size[POLICY_KEPT_MAX];
};

void policy_parser_init(struct policy_parser *p);
void policy_parser_deinit(struct policy_parser *p);
int policy_parser_feed(struct policy_parser *p, const char *data, size_t size,
		       size_t *used_r, const char **error_r);
bool policy_parser_busy(const struct policy_parser *p);

#endif
