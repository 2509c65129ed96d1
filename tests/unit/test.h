#ifndef MAILGRANTS_TEST_H
#define MAILGRANTS_TEST_H

/*
 * NAME
 *	test - the smallest test helper that says what failed
 * SYNOPSIS
 *	TEST_ASSERT(cond);
 *	TEST_STREQ(a, b);
 *	return test_exit("name");
 * DESCRIPTION
 *	Every failed check prints file:line and the expression (and both
 *	strings for TEST_STREQ) and is counted; test_exit() prints
 *	"<name>: N passed, M failed" and returns the exit status.
 */

#include <stdio.h>
#include <string.h>

static unsigned int test_passed, test_failed;

#define TEST_ASSERT(cond)                                                   \
	do {                                                                \
		if (cond) {                                                 \
			test_passed++;                                      \
		} else {                                                    \
			test_failed++;                                      \
			fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__,    \
				__LINE__, #cond);                           \
		}                                                           \
	} while (0)

#define TEST_STREQ(a, b)                                                    \
	do {                                                                \
		const char *test_a_ = (a), *test_b_ = (b);                  \
		if (test_a_ != NULL && test_b_ != NULL &&                   \
		    strcmp(test_a_, test_b_) == 0) {                        \
			test_passed++;                                      \
		} else {                                                    \
			test_failed++;                                      \
			fprintf(stderr, "%s:%d: FAILED: %s == %s: "         \
				"\"%s\" != \"%s\"\n", __FILE__, __LINE__,   \
				#a, #b, test_a_ ? test_a_ : "(null)",       \
				test_b_ ? test_b_ : "(null)");              \
		}                                                           \
	} while (0)

/* test_exit - print the tally; 0 when nothing failed */
static inline int test_exit(const char *name)
{
	printf("%s: %u passed, %u failed\n", name, test_passed, test_failed);
	return test_failed == 0 ? 0 : 1;
}

#endif
