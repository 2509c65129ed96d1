#ifndef MAILGRANTS_HEADER_H
#define MAILGRANTS_HEADER_H

/*
 * NAME
 *	header - the addresses of a From: or Sender: header field
 * SYNOPSIS
 *	#include "header.h"
 *
 *	int header_addresses_parse(const char *value, size_t len,
 *				   struct header_addresses *list_r,
 *				   const char **error_r);
 * DESCRIPTION
 *	header_addresses_parse() reads the value of an address header
 *	field (RFC 5322 address-list, with RFC 6532 UTF-8 and the
 *	obsolete forms that real mail still carries) and returns every
 *	mailbox address in it, in order, in list_r. No I/O, no
 *	allocation: the addresses point into list_r->buf.
 *
 *	Understood: folded lines (CR, LF and tabs are white space),
 *	comments (nested, with quoted pairs) anywhere white space may be,
 *	display names with quoted strings (commas, "<", "@" inside
 *	quotes), RFC 2047 encoded words in display names (an encoded
 *	word is one word even when its text holds a comma, as mail
 *	clients decode it; one with "<", ">", "@", quotes, parentheses,
 *	brackets or a backslash in its text is read as the plain text a
 *	client without RFC 2047 would see), "Name <addr>", bare "addr" and
 *	"addr (Name)", groups ("Team: a@x, b@y;" and the empty
 *	"undisclosed:;"), several mailboxes separated by "," (and ";",
 *	which some clients write), source routes "<@relay:addr>",
 *	"local . part @ domain" with white space around the dots, UTF-8
 *	in local parts and domains.
 *
 *	A quoted local part is returned without quotes when its text is
 *	a dot-atom ('"peter.mueller"@abc.com' is peter.mueller@abc.com),
 *	quoted otherwise. An empty "<>" is not an address and is left
 *	out. A mailbox without "@" ("From: peter") is returned as it is,
 *	so that the caller's address check rejects it.
 *
 *	A value the parser cannot read with certainty is an error, never
 *	a shorter list: an unterminated quote, comment, "<" or domain
 *	literal, a display name with an unquoted "@" or without an
 *	address, text after "<addr>", two "@", a nested group, a NUL or
 *	control character, more than HEADER_FIELD_MAX bytes, more than
 *	HEADER_ADDRESSES_MAX addresses, an address over HEADER_ADDRESS_MAX
 *	bytes. The caller decides what an unreadable header means (the
 *	milter rejects it).
 *
 *	Returns 0 (list_r->count may be 0: no mailbox, or only an empty
 *	group) or -1 with a static error text in error_r.
 */

#include <stddef.h>

#define HEADER_FIELD_MAX 16384		/* bytes of one field value */
#define HEADER_ADDRESSES_MAX 64		/* addresses in one field */
#define HEADER_ADDRESS_MAX 512		/* bytes of one address */

struct header_addresses {
	unsigned int count;
	const char *addr[HEADER_ADDRESSES_MAX];
	/* Addresses are never longer than the text they came from. */
	char buf[HEADER_FIELD_MAX + HEADER_ADDRESSES_MAX + 4];
};

int header_addresses_parse(const char *value, size_t len,
			   struct header_addresses *list_r,
			   const char **error_r);

#endif
