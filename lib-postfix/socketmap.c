/*
 * NAME
 *	socketmap - the framing of Postfix socketmap(5) requests
 * DESCRIPTION
 *	Apart from the event loop, as the policy delegation parser is
 *	(policy-proto.c): the loop buffers, this reads.
 * SEE ALSO
 *	socketmap.h
 */

#include "socketmap.h"

/* socketmap_request - the next netstring: 1 complete, 0 more, -1 bad */
int socketmap_request(const char *data, size_t size, size_t max,
		      const char **query_r, size_t *len_r, size_t *used_r,
		      const char **error_r)
{
	size_t i = 0, len = 0;

	while (i < size && i < 6 && data[i] >= '0' && data[i] <= '9')
		len = len * 10 + (size_t)(data[i++] - '0');
	if (i == size)
		return 0;		/* the length is still coming */
	if (i == 0 || data[i] != ':' || len > max) {
		*error_r = "not a socketmap netstring";
		return -1;
	}
	if (size - (i + 1) < len + 1)
		return 0;		/* the rest is still coming */
	if (data[i + 1 + len] != ',') {
		*error_r = "socketmap netstring without its comma";
		return -1;
	}
	*query_r = data + i + 1;
	*len_r = len;
	*used_r = i + 1 + len + 1;
	return 1;
}
