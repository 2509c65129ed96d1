/*
 * NAME
 *	text - untrusted text made printable
 * DESCRIPTION
 *	The one place that decides what of an untrusted value reaches a
 *	log line, a reply or a message (text.h). It replaces four copies
 *	with three conventions and three hand-written UTF-8 decoders;
 *	the decoding is libunistring's.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <unistr.h>

#include "text.h"

/* text_printable - copy untrusted bytes so that they are safe to show */
const char *text_printable(char *dst, size_t dstsize, const char *src,
			   size_t len, enum text_style style)
{
	const uint8_t *s = (const uint8_t *)src;
	size_t i = 0, o = 0;

	if (dstsize == 0)
		return dst;
	/* The loop keeps room for "..." and the NUL: below that, nothing. */
	if (dstsize < 4 || src == NULL) {
		dst[0] = '\0';
		return dst;
	}
	while (i < len) {
		char esc[5];
		const char *piece;
		size_t n;
		ucs4_t uc;
		int seq;

		/* Printable ASCII, nearly all of what daemons log, is copied
		   as it is, without the decoder and a memcpy per byte. */
		if (s[i] >= 0x20 && s[i] < 0x7f &&
		    (style != TEXT_ESCAPE || s[i] != '\\')) {
			if (o + 1 + 4 > dstsize) {
				memcpy(dst + o, "...", 3);
				o += 3;
				break;
			}
			dst[o++] = (char)s[i++];
			continue;
		}
		seq = u8_mbtoucr(&uc, s + i, len - i);

		if (seq < 1 || uc < 0x20 || uc == 0x7f ||
		    (style == TEXT_ESCAPE && uc == '\\')) {
			/* One byte at a time: the next may start a character. */
			if (style == TEXT_ESCAPE) {
				snprintf(esc, sizeof(esc), "\\x%02x", s[i]);
				n = 4;
			} else {
				esc[0] = '?';
				n = 1;
			}
			piece = esc;
			seq = 1;
		} else {
			piece = (const char *)s + i;
			n = (size_t)seq;
		}
		if (o + n + 4 > dstsize) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(dst + o, piece, n);
		o += n;
		i += (size_t)seq;
	}
	dst[o] = '\0';
	return dst;
}

/* text_printable_str - text_printable() of a string, NULL as "" */
const char *text_printable_str(char *dst, size_t dstsize, const char *src,
			       enum text_style style)
{
	return text_printable(dst, dstsize, src, src != NULL ? strlen(src) : 0,
			      style);
}

/* text_copy - snprintf(dst, dstsize, "%s", src), without the formatting */
size_t text_copy(char *dst, size_t dstsize, const char *src)
{
	size_t n;

	if (dstsize == 0)
		return 0;
	n = strnlen(src, dstsize - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
	return n;
}
