/*
 * NAME
 *	fuzz-addr - libFuzzer harness of the address normal form
 * DESCRIPTION
 *	The first byte of the input chooses the recipient delimiter set
 *	(its low three bits: none, "", "+", "-", "+-", "+-_=.", "-+" or
 *	up to four bytes taken from the input after it) and a small
 *	output size (the other bits); the rest is the address, cut at a
 *	NUL as a C string would be. It goes through addr_normalize() with
 *	every combination of ADDR_KEEP_EXTENSION and ADDR_ALLOW_BARE, with
 *	ADDR_KEEP_EXTENSION | ADDR_MAILBOX (what the sync stores), and
 *	through addr_domain_normalize().
 *
 *	Checks the promises of addr.h: an output is NUL-terminated inside
 *	the buffer (exact-size heap buffers, so ASan sees any write past
 *	it), at most ADDR_MAX bytes, valid UTF-8 without control
 *	characters, with an "@" exactly when it is not a bare login and
 *	a domain in lower case; nothing is written to the buffer on
 *	error; a buffer too small for the result gives an error, never a
 *	cut result; the normal form is idempotent (the output normalised
 *	again is itself) with ADDR_KEEP_EXTENSION, and without it for the
 *	usual delimiter sets (punctuation: what Postfix's
 *	recipient_delimiter holds in practice). What ADDR_MAILBOX lets
 *	through is what the call without it gives, and a mailbox name:
 *	under ADDR_MAILBOX_MAX bytes, no "/", "\\", "%", "*", "~", double
 *	quote, and neither local part nor domain starting with ".".
 *
 *	make fuzz  (build-fuzz/fuzz-addr, clang, ASan, UBSan)
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unistr.h>

#include "addr.h"

#define FUZZ_CANARY 0xa5
#define FUZZ_BIG (2 * ADDR_MAX + 1)	/* more than any normal form */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The delimiter sets; "usual" ones are checked for idempotence too. */
static const struct {
	const char *set;
	bool usual;
} fuzz_delims[8] = {
	{ NULL, true }, { "", true }, { "+", true }, { "-", true },
	{ "+-", true }, { "+-_=.", true }, { "-+", true },
	{ NULL, false },		/* from the input */
};

/* fuzz_buf - an exact-size heap buffer filled with the canary */
static char *fuzz_buf(size_t size)
{
	char *buf = malloc(size);

	if (buf == NULL)
		abort();
	memset(buf, FUZZ_CANARY, size);
	return buf;
}

/* fuzz_untouched - whether a buffer still holds only the canary */
static bool fuzz_untouched(const char *buf, size_t size)
{
	for (size_t i = 0; i < size; i++)
		if ((unsigned char)buf[i] != FUZZ_CANARY)
			return false;
	return true;
}

/* fuzz_check_text - a result: terminated, at most max bytes, valid
   UTF-8, no controls */
static size_t fuzz_check_text(const char *out, size_t outsize, size_t max)
{
	size_t len = strnlen(out, outsize);

	if (len == 0 || len >= outsize || len > max)
		abort();
	if (u8_check((const uint8_t *)out, len) != NULL)
		abort();
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c < 0x20 || c == 0x7f)
			abort();
	}
	return len;
}

/* fuzz_check_domain - a normalised domain has no ASCII upper case */
static void fuzz_check_domain(const char *domain)
{
	for (const char *p = domain; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			abort();
}

/* fuzz_small - the same call into a small buffer: the same result
   when it fits, an error and an untouched buffer when it does not */
static void fuzz_small(const char *in, const char *delims, unsigned int flags,
		       size_t small, int big_ret, const char *big_out)
{
	char *out = fuzz_buf(small);
	const char *error = NULL;
	int ret;

	ret = addr_normalize(in, delims, flags, out, small, &error);
	if (ret == 0) {
		if (big_ret != 0 || strnlen(out, small) >= small ||
		    strcmp(out, big_out) != 0)
			abort();
	} else {
		if (error == NULL || *error == '\0' ||
		    !fuzz_untouched(out, small))
			abort();
		/* Only a result that does not fit may fail here alone. */
		if (big_ret == 0 && strlen(big_out) < small)
			abort();
	}
	free(out);
}

/* fuzz_check_mailbox - an ADDR_MAILBOX result is the plain normal form
   and can name a mailbox */
static void fuzz_check_mailbox(const char *in, const char *delims,
			       unsigned int flags, const char *out)
{
	char *plain = fuzz_buf(FUZZ_BIG);
	const char *error = NULL, *at = strrchr(out, '@');

	if (addr_normalize(in, delims, flags & ~(unsigned int)ADDR_MAILBOX,
			   plain, FUZZ_BIG, &error) != 0 ||
	    strcmp(plain, out) != 0)
		abort();
	free(plain);
	if (strlen(out) >= ADDR_MAILBOX_MAX || strpbrk(out, "/\\%*~\"") != NULL ||
	    out[0] == '.' || at == NULL || at[1] == '.')
		abort();
}

/* fuzz_normalize - one address, one delimiter set, one flag set */
static void fuzz_normalize(const char *in, const char *delims, bool usual,
			   unsigned int flags, size_t small)
{
	char *out = fuzz_buf(FUZZ_BIG), *again = NULL;
	const char *error = NULL, *at;
	int ret;

	ret = addr_normalize(in, delims, flags, out, FUZZ_BIG, &error);
	if (ret < 0) {
		if (ret != -1 || error == NULL || *error == '\0' ||
		    !fuzz_untouched(out, FUZZ_BIG))
			abort();
	} else {
		if (ret != 0)
			abort();
		(void)fuzz_check_text(out, FUZZ_BIG, ADDR_MAX);
		at = strrchr(out, '@');
		if (at == NULL && (flags & ADDR_ALLOW_BARE) == 0)
			abort();
		if (at != NULL)
			fuzz_check_domain(at + 1);
		if ((flags & ADDR_MAILBOX) != 0)
			fuzz_check_mailbox(in, delims, flags, out);
		if ((flags & ADDR_KEEP_EXTENSION) != 0 || usual) {
			again = fuzz_buf(FUZZ_BIG);
			if (addr_normalize(out, delims, flags, again, FUZZ_BIG,
					   &error) != 0 ||
			    strcmp(out, again) != 0)
				abort();
			free(again);
		}
	}
	fuzz_small(in, delims, flags, small, ret, out);
	free(out);
}

/* fuzz_domain - addr_domain_normalize() alone, and idempotent */
static void fuzz_domain(const char *in, size_t small)
{
	char *out = fuzz_buf(FUZZ_BIG), *again, *tiny;
	const char *error = NULL;
	int ret;

	ret = addr_domain_normalize(in, out, FUZZ_BIG, &error);
	if (ret < 0) {
		if (error == NULL || *error == '\0' ||
		    !fuzz_untouched(out, FUZZ_BIG))
			abort();
	} else {
		/* Only the buffer bounds a domain literal. */
		(void)fuzz_check_text(out, FUZZ_BIG, FUZZ_BIG);
		fuzz_check_domain(out);
		if (strchr(out, '@') != NULL)
			abort();
		again = fuzz_buf(FUZZ_BIG);
		if (addr_domain_normalize(out, again, FUZZ_BIG, &error) != 0 ||
		    strcmp(out, again) != 0)
			abort();
		free(again);
	}
	tiny = fuzz_buf(small);
	if (addr_domain_normalize(in, tiny, small, &error) == 0) {
		if (ret != 0 || strcmp(tiny, out) != 0)
			abort();
	} else if (!fuzz_untouched(tiny, small) ||
		   (ret == 0 && strlen(out) < small)) {
		abort();
	}
	free(tiny);
	free(out);
}

/* LLVMFuzzerTestOneInput - one input through both functions */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned int flag_sets[] = {
		0, ADDR_KEEP_EXTENSION, ADDR_ALLOW_BARE,
		ADDR_KEEP_EXTENSION | ADDR_ALLOW_BARE,
		ADDR_KEEP_EXTENSION | ADDR_MAILBOX,
	};
	char own[5];
	const char *delims;
	unsigned int choice;
	size_t small, n;
	char *in;

	if (size == 0)
		return 0;
	choice = data[0] & 7;
	small = 1 + (size_t)(data[0] >> 3) * 3;	/* 1 .. 94 bytes */
	data++;
	size--;
	delims = fuzz_delims[choice].set;
	if (choice == 7) {
		n = size > 0 ? data[0] % 5 : 0;
		if (n + 1 > size)
			return 0;
		memcpy(own, data + 1, n);
		own[n] = '\0';
		delims = own;
		data += n + 1;
		size -= n + 1;
	}
	/* The callers hand C strings: the address ends at a NUL. */
	in = malloc(size + 1);
	if (in == NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++)
		fuzz_normalize(in, delims, fuzz_delims[choice].usual,
			       flag_sets[i], small);
	fuzz_domain(in, small);
	free(in);
	return 0;
}
