#ifndef MAILGRANTS_ADDR_H
#define MAILGRANTS_ADDR_H

/*
 * NAME
 *	addr - the one normal form of a mail address
 * SYNOPSIS
 *	#include "addr.h"
 *
 *	int addr_normalize(const char *in, const char *delimiters,
 *			   unsigned int flags, char *out, size_t outsize,
 *			   const char **error_r);
 *	int addr_domain_normalize(const char *in, char *out, size_t outsize,
 *				  const char **error_r);
 * DESCRIPTION
 *	addr_normalize() turns an address as a client, Postfix or the
 *	directory writes it into the form the replica stores and looks
 *	up: surrounding "<>" and blanks removed; the local part lower
 *	case (full Unicode case folding for UTF-8, NFC); everything from
 *	the first character of "delimiters" on removed from the local
 *	part, unless flags has ADDR_KEEP_EXTENSION (logins, stored
 *	addresses) or the local part would become empty; the domain in
 *	A-label form, lower case ("peter.müller@ABC.com" and
 *	"peter.müller@abc.com" meet; "info@bücher.de" is stored as
 *	"info@xn--bcher-kva.de").
 *
 *	A string without "@" is accepted only with ADDR_ALLOW_BARE (a
 *	login that is not an address): it is case-folded and kept.
 *
 *	With ADDR_MAILBOX the address must also be usable as the name of
 *	a mailbox: the sync stores addresses that Dovecot shows as
 *	"Shared/ADDRESS/" and that, through %n and %d, end up in paths.
 *	The normal form is refused when it is ADDR_MAILBOX_MAX bytes or
 *	longer (a file name), contains "/", "\\", "%", "*", "~", a
 *	double quote or a control character, or when its local part or
 *	domain starts with "." (".." and ".x" would be directories).
 *	Without the flag such addresses stay valid: a foreign sender
 *	may well be "a/b@example.net" or "user%host@example.net".
 *
 *	Returns 0 on success, -1 with a static error text on bad input:
 *	empty, over ADDR_MAX bytes, control characters, invalid UTF-8,
 *	an invalid domain. Nothing is written to out on error.
 */

#include <stddef.h>

#define ADDR_MAX 512		/* bytes, normal form included */

#define ADDR_KEEP_EXTENSION	0x01
#define ADDR_ALLOW_BARE		0x02
#define ADDR_MAILBOX		0x04

#define ADDR_MAILBOX_MAX 256	/* bytes: a file name (NAME_MAX 255) */

int addr_normalize(const char *in, const char *delimiters, unsigned int flags,
		   char *out, size_t outsize, const char **error_r);
int addr_domain_normalize(const char *in, char *out, size_t outsize,
			  const char **error_r);

#endif
