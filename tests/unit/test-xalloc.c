/*
 * NAME
 *	test-xalloc - xgrow(), the growth rule of the growable arrays
 */

#include <stdlib.h>

#include "test.h"
#include "xalloc.h"

struct grow_case {
	size_t alloc, need, first;
	size_t alloc_after;
};

static const struct grow_case cases[] = {
	{ 0, 1, 16, 16 },
	{ 0, 16, 16, 16 },
	{ 0, 17, 16, 32 },
	{ 16, 16, 16, 16 },	/* room enough: unchanged */
	{ 16, 17, 16, 32 },
	{ 256, 1000, 256, 1024 },
	{ 1024, 5000, 256, 8192 },
};

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct grow_case *c = &cases[i];
		size_t alloc = c->alloc;
		int *v = c->alloc != 0 ? xcalloc(c->alloc, sizeof(*v)) : NULL;

		v = xgrow(v, &alloc, c->need, sizeof(*v), c->first);
		test_begin_row("cases", i);
		TEST_ASSERT(alloc == c->alloc_after);
		TEST_ASSERT(v != NULL);
		test_end();
		/* The whole new size is writable (ASan checks). */
		v[alloc - 1] = 1;
		free(v);
	}
	return test_exit("test-xalloc");
}
