/*
 * NAME
 *	fuzz-header - libFuzzer harness of the From:/Sender: parser
 * DESCRIPTION
 *	Feeds the input as one header field value (not terminated: the
 *	parser must read only len bytes) to header_addresses_parse() and
 *	checks its promises: at most HEADER_ADDRESSES_MAX addresses, each
 *	non-empty, shorter than HEADER_ADDRESS_MAX, inside the list's
 *	buffer and free of line breaks and control characters; on error
 *	an empty list and an error text. A list whose addresses hold no
 *	"=?" (where an encoded word could form across a former space) is
 *	written out again, ", " between the addresses, and must parse to
 *	the same list.
 *
 *	make fuzz  (build-fuzz/fuzz-header, clang, ASan, UBSan)
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "header.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_check_list - the promises a successful parse makes */
static void fuzz_check_list(const struct header_addresses *list)
{
	const char *buf_end = list->buf + sizeof(list->buf);
	unsigned int i;

	if (list->count > HEADER_ADDRESSES_MAX)
		abort();
	for (i = 0; i < list->count; i++) {
		const char *a = list->addr[i];
		size_t len;

		if (a < list->buf || a >= buf_end)
			abort();
		len = strnlen(a, (size_t)(buf_end - a));
		if (len == 0 || len >= HEADER_ADDRESS_MAX || a + len >= buf_end)
			abort();
		for (const unsigned char *p = (const unsigned char *)a; *p;
		     p++)
			if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
				abort();
	}
}

/* fuzz_round_trip - the addresses written out parse to themselves */
static void fuzz_round_trip(const struct header_addresses *list)
{
	static char text[HEADER_FIELD_MAX + 1];
	static struct header_addresses again;
	const char *error;
	size_t len = 0, n;
	unsigned int i;

	for (i = 0; i < list->count; i++) {
		if (strstr(list->addr[i], "=?") != NULL)
			return;
		n = strlen(list->addr[i]);
		if (len + n + 2 > sizeof(text))
			return;
		if (i > 0) {
			memcpy(text + len, ", ", 2);
			len += 2;
		}
		memcpy(text + len, list->addr[i], n);
		len += n;
	}
	if (len > HEADER_FIELD_MAX)
		return;
	if (header_addresses_parse(text, len, &again, &error) < 0)
		abort();
	if (again.count != list->count)
		abort();
	for (i = 0; i < list->count; i++)
		if (strcmp(again.addr[i], list->addr[i]) != 0)
			abort();
}

/* LLVMFuzzerTestOneInput - one input through the parser */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct header_addresses list;
	const char *error = NULL;
	char *copy;

	/* An exact-size heap copy, so that ASan sees any read past len. */
	copy = malloc(size > 0 ? size : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	if (header_addresses_parse(copy, size, &list, &error) < 0) {
		if (error == NULL || error[0] == '\0' || list.count != 0)
			abort();
	} else {
		fuzz_check_list(&list);
		fuzz_round_trip(&list);
	}
	free(copy);
	return 0;
}
