/*
 * NAME
 *	addr - the one normal form of a mail address
 * DESCRIPTION
 *	See addr.h. Case folding of UTF-8 local parts uses libunistring
 *	(full Unicode lower case, NFC); domains go through libidn2
 *	(IDNA2008 with the UTS #46 mapping, non-transitional first, as
 *	browsers and Postfix's smtputf8 support do).
 * DIAGNOSTICS
 *	The error texts are static and name what is wrong, never the
 *	input (the caller decides how to print untrusted input).
 */

#include "addr.h"

#include <ctype.h>
#include <idn2.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <uninorm.h>
#include <unistr.h>

/* addr_has_controls - whether the bytes contain ASCII controls or DEL */
static bool addr_has_controls(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return true;
	}
	return false;
}

/* addr_is_ascii - whether the bytes are all 7-bit */
static bool addr_is_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/* addr_fold - lower-case (and NFC) a local part or bare login into out */
static int addr_fold(const char *s, size_t len, char *out, size_t outsize,
		     size_t *outlen_r, const char **error_r)
{
	if (addr_is_ascii(s, len)) {
		if (len >= outsize) {
			*error_r = "address too long";
			return -1;
		}
		for (size_t i = 0; i < len; i++)
			out[i] = (char)tolower((unsigned char)s[i]);
		*outlen_r = len;
		return 0;
	}
	if (u8_check((const uint8_t *)s, len) != NULL) {
		*error_r = "invalid UTF-8";
		return -1;
	}
	/* Folded apart first: nothing goes to out on error (addr.h). */
	uint8_t folded[ADDR_MAX + 1];
	size_t flen = sizeof(folded);
	uint8_t *r = u8_tolower((const uint8_t *)s, len, NULL, UNINORM_NFC,
				folded, &flen);
	if (r == NULL) {
		*error_r = "cannot case-fold the local part";
		return -1;
	}
	if (r != folded) {
		/* Did not fit: libunistring allocated a larger result. */
		free(r);
		*error_r = "address too long";
		return -1;
	}
	if (flen >= outsize) {
		*error_r = "address too long";
		return -1;
	}
	memcpy(out, folded, flen);
	*outlen_r = flen;
	return 0;
}

/* addr_ascii_domain_check - letters, digits, "-", "_", and dots between
   labels that are not empty */
static int addr_ascii_domain_check(const char *s, size_t len,
				   const char **error_r)
{
	/* libidn2 maps some characters to nothing. */
	if (len == 0) {
		*error_r = "empty domain";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(isalnum(c) || c == '-' || c == '.' || c == '_')) {
			*error_r = "invalid character in domain";
			return -1;
		}
		/* An empty label would not survive normalising again
		   (one trailing dot goes). */
		if (c == '.' && (i == 0 || s[i - 1] == '.' || i == len - 1)) {
			*error_r = "empty label in domain";
			return -1;
		}
	}
	return 0;
}

/* addr_domain_normalize - a domain in lower-case A-label form */
int addr_domain_normalize(const char *in, char *out, size_t outsize,
			  const char **error_r)
{
	size_t len = strlen(in);
	char *ascii = NULL;
	int rc;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0) {
		*error_r = "empty domain";
		return -1;
	}
	if (len > 253 && in[0] != '[') {
		*error_r = "domain too long";
		return -1;
	}
	if (addr_has_controls(in, len) || memchr(in, '@', len) != NULL) {
		*error_r = "invalid character in domain";
		return -1;
	}
	if (in[0] == '[') {
		/* An address literal: compared as written, lower case;
		   ASCII in brackets (RFC 5321), never unchecked UTF-8. */
		if (!addr_is_ascii(in, len) || len < 2 || in[len - 1] != ']') {
			*error_r = "invalid address literal";
			return -1;
		}
		if (len >= outsize) {
			*error_r = "domain too long";
			return -1;
		}
		for (size_t i = 0; i < len; i++)
			out[i] = (char)tolower((unsigned char)in[i]);
		out[len] = '\0';
		return 0;
	}
	char buf[256];
	memcpy(buf, in, len);
	buf[len] = '\0';
	/* An A-label in any case ("Xn--") goes to libidn2 for checking,
	   as its lower case form would. */
	if (addr_is_ascii(buf, len) && strcasestr(buf, "xn--") == NULL) {
		/* Plain ASCII: lower case is the whole normal form. */
		if (addr_ascii_domain_check(buf, len, error_r) < 0)
			return -1;
		for (size_t i = 0; i < len; i++)
			buf[i] = (char)tolower((unsigned char)buf[i]);
		if (len >= outsize) {
			*error_r = "domain too long";
			return -1;
		}
		memcpy(out, buf, len + 1);
		return 0;
	}
	if (!addr_is_ascii(buf, len) &&
	    u8_check((const uint8_t *)buf, len) != NULL) {
		*error_r = "invalid UTF-8 in domain";
		return -1;
	}
	rc = idn2_to_ascii_8z(buf, &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK)
		rc = idn2_to_ascii_8z(buf, &ascii,
				      IDN2_NFC_INPUT | IDN2_TRANSITIONAL);
	if (rc != IDN2_OK) {
		*error_r = "invalid international domain name";
		return -1;
	}
	/* libidn2 lets ASCII punctuation through (no STD3 rules), and the
	   transitional mapping may leave only ASCII: the result must pass
	   the plain ASCII path unchanged. */
	size_t alen = strlen(ascii);
	if (addr_ascii_domain_check(ascii, alen, error_r) < 0) {
		idn2_free(ascii);
		return -1;
	}
	if (alen >= outsize) {
		idn2_free(ascii);
		*error_r = "domain too long";
		return -1;
	}
	for (size_t i = 0; i <= alen; i++)
		out[i] = (char)tolower((unsigned char)ascii[i]);
	idn2_free(ascii);
	return 0;
}

/* addr_mailbox_check - whether a normal form can name a mailbox (see
   addr.h); the same rule as the Dovecot plugin's guard, applied first,
   so that the sync refuses the entry with a warning that names it */
static int addr_mailbox_check(const char *norm, const char **error_r)
{
	const char *at = strrchr(norm, '@');

	if (strlen(norm) >= ADDR_MAILBOX_MAX) {
		*error_r = "address too long for a mailbox name";
		return -1;
	}
	for (const char *p = norm; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f || strchr("/\\%*~\"", c) != NULL) {
			*error_r = "character not allowed in a mailbox name"
				" (/ \\ % * ~ \" or a control character)";
			return -1;
		}
	}
	if (norm[0] == '.' || (at != NULL && at[1] == '.')) {
		*error_r = "a mailbox name may not start with \".\"";
		return -1;
	}
	return 0;
}

/* addr_trim - drop blanks at both ends of in[0..len) */
static void addr_trim(const char **inp, size_t *lenp)
{
	const char *in = *inp;
	size_t len = *lenp;

	while (len > 0 && (*in == ' ' || *in == '\t')) {
		in++;
		len--;
	}
	while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\t'))
		len--;
	*inp = in;
	*lenp = len;
}

/* addr_normalize - the normal form of an address (see addr.h) */
int addr_normalize(const char *in, const char *delimiters, unsigned int flags,
		   char *out, size_t outsize, const char **error_r)
{
	char local[ADDR_MAX], domain[256];
	size_t len, llen, flen;
	const char *at;

	if (in == NULL) {
		*error_r = "no address";
		return -1;
	}
	len = strnlen(in, ADDR_MAX + 1);
	if (len > ADDR_MAX) {
		*error_r = "address too long";
		return -1;
	}
	/* Surrounding blanks and one pair of angle brackets, with blanks
	   inside them: the normal form must come out the same when
	   normalised again, so nothing bracketed may be left. */
	addr_trim(&in, &len);
	if (len >= 2 && in[0] == '<' && in[len - 1] == '>') {
		in++;
		len -= 2;
		addr_trim(&in, &len);
		if (len >= 2 && in[0] == '<' && in[len - 1] == '>') {
			*error_r = "nested angle brackets in address";
			return -1;
		}
	}
	if (len == 0) {
		*error_r = "empty address";
		return -1;
	}
	if (addr_has_controls(in, len)) {
		*error_r = "control character in address";
		return -1;
	}
	at = NULL;
	for (size_t i = len; i > 0; i--) {
		if (in[i - 1] == '@') {
			at = in + i - 1;
			break;
		}
	}
	if (at == NULL) {
		if ((flags & ADDR_ALLOW_BARE) == 0) {
			*error_r = "address has no domain";
			return -1;
		}
		if (addr_fold(in, len, out, outsize, &flen, error_r) < 0)
			return -1;
		out[flen] = '\0';
		return 0;
	}
	llen = (size_t)(at - in);
	if (llen == 0) {
		*error_r = "address has an empty local part";
		return -1;
	}
	if ((flags & ADDR_KEEP_EXTENSION) == 0 && delimiters != NULL &&
	    *delimiters != '\0') {
		size_t cut = strcspn(in, delimiters);

		/* "+foo@x" keeps its local part: nothing would be left. */
		if (cut > 0 && cut < llen)
			llen = cut;
	}
	const char *dstart = at + 1;
	size_t dlen = (size_t)(in + len - dstart);
	if (dlen == 0 || dlen >= sizeof(domain)) {
		*error_r = dlen == 0 ? "address has no domain" :
			"domain too long";
		return -1;
	}
	memcpy(domain, dstart, dlen);
	domain[dlen] = '\0';
	if (addr_fold(in, llen, local, sizeof(local), &flen, error_r) < 0)
		return -1;
	local[flen] = '\0';
	char dnorm[256];
	if (addr_domain_normalize(domain, dnorm, sizeof(dnorm), error_r) < 0)
		return -1;
	size_t dnlen = strlen(dnorm);
	if (flen + 1 + dnlen >= outsize || flen + 1 + dnlen > ADDR_MAX) {
		*error_r = "address too long";
		return -1;
	}
	/* Checked in a copy: nothing goes to out on error (addr.h). */
	char whole[ADDR_MAX + 1];
	memcpy(whole, local, flen);
	whole[flen] = '@';
	memcpy(whole + flen + 1, dnorm, dnlen + 1);
	if ((flags & ADDR_MAILBOX) != 0 &&
	    addr_mailbox_check(whole, error_r) < 0)
		return -1;
	memcpy(out, whole, flen + 1 + dnlen + 1);
	return 0;
}
