#ifndef MAILGRANTS_SOCKETMAP_H
#define MAILGRANTS_SOCKETMAP_H

/*
 * NAME
 *	socketmap - the framing of Postfix socketmap(5) requests
 * SYNOPSIS
 *	#include "socketmap.h"
 *
 *	int socketmap_request(const char *data, size_t size, size_t max,
 *			      const char **query_r, size_t *len_r,
 *			      size_t *used_r, const char **error_r);
 * DESCRIPTION
 *	A socketmap request is a netstring, "LEN:NAME KEY,": the length
 *	in decimal (at most six digits), a colon, LEN bytes, a comma.
 *	Replies are netstrings too. The parser does no I/O, as
 *	policy-proto.h's: the caller hands it what it has buffered.
 *
 *	socketmap_request() returns 1 when data begins with a complete
 *	request: *query_r points at its LEN bytes inside data (not
 *	terminated), *len_r is LEN and *used_r the bytes of the whole
 *	netstring; 0 when the request is not complete yet (the caller
 *	keeps the bytes and calls again with more); -1 on bad input: no
 *	digits, more than six, something other than a colon after them,
 *	LEN above max (what the caller could ever buffer), or no comma
 *	after the text. After -1 the caller drops the connection
 *	without a reply.
 * SEE ALSO
 *	Postfix socketmap_table(5), http://cr.yp.to/proto/netstrings.txt
 */

#include <stddef.h>

int socketmap_request(const char *data, size_t size, size_t max,
		      const char **query_r, size_t *len_r, size_t *used_r,
		      const char **error_r);

#endif
