#ifndef MAILGRANTS_TEXT_H
#define MAILGRANTS_TEXT_H

/*
 * NAME
 *	text - untrusted text made printable
 * SYNOPSIS
 *	#include "text.h"
 *
 *	const char *text_printable(char *dst, size_t dstsize,
 *				   const char *src, size_t len,
 *				   enum text_style style);
 *	const char *text_printable_str(char *dst, size_t dstsize,
 *				       const char *src, enum text_style style);
 *	bool text_empty(const char *s);
 *	size_t text_copy(char *dst, size_t dstsize, const char *src);
 * DESCRIPTION
 *	text_printable() copies len bytes of untrusted text (from the
 *	network, the directory, the command line) into dst so that it is
 *	safe on one log line or in one reply: valid UTF-8 passes whole;
 *	control characters, DEL and invalid UTF-8 (overlong forms and
 *	surrogates included; libunistring decides) do not. TEXT_ESCAPE
 *	writes each such byte, and the backslash, as \xNN, so the
 *	original can be read back; TEXT_MARK writes '?' for it. A value
 *	that does not fit ends in "..." and is never cut inside a
 *	character. dst is always terminated when dstsize > 0 (empty when
 *	dstsize < 4); the result is dst, for use in an argument list.
 *	text_printable_str() does the same for a string; NULL is "".
 *
 *	text_empty() is true for NULL and "": a setting or an argument
 *	that is not given.
 *
 *	text_copy() copies src into dst as snprintf(dst, dstsize, "%s",
 *	src) does (cut to dstsize - 1 bytes, always terminated when
 *	dstsize > 0), without the formatting machinery; the bytes
 *	copied. For the copies of a decision, many a second.
 * SEE ALSO
 *	Postfix printable(3), Dovecot str_sanitize()
 */

#include <stdbool.h>
#include <stddef.h>

enum text_style {
	TEXT_ESCAPE,		/* \xNN, backslash included */
	TEXT_MARK,		/* '?' */
};

const char *text_printable(char *dst, size_t dstsize, const char *src,
			   size_t len, enum text_style style);
const char *text_printable_str(char *dst, size_t dstsize, const char *src,
			       enum text_style style);

/* text_empty - NULL or "" */
size_t text_copy(char *dst, size_t dstsize, const char *src);

static inline bool text_empty(const char *s)
{
	return s == NULL || *s == '\0';
}

#endif
