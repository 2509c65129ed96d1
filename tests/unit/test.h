#ifndef MAILGRANTS_TEST_H
#define MAILGRANTS_TEST_H

/*
 * NAME
 *	test - the smallest test helper that says what failed
 * SYNOPSIS
 *	test_begin("name");
 *	test_begin_row("table", i);
 *	TEST_ASSERT(cond);
 *	TEST_STREQ(a, b);
 *	test_end();
 *
 *	TEST_RUN(test_function(args));
 *
 *	return test_exit("name");
 * DESCRIPTION
 *	Every failed check prints file:line, the case it belongs to and
 *	the expression (and both strings for TEST_STREQ) and is counted.
 *	A case runs from test_begin(name) to test_end() (Dovecot's
 *	lib-test model); test_end() names a case that failed once more,
 *	"FAILED: name (N checks)". TEST_RUN(call) runs one case function
 *	as the case named by the call's own text; test_begin_row() begins
 *	the case "table[i]", a row of a table-driven test. A check outside any
 *	case is reported by file:line alone. test_exit() prints
 *	"<name>: N passed, M failed" and returns the exit status.
 */

#include <stdio.h>
#include <string.h>

static unsigned int test_passed, test_failed;
static const char *test_case;		/* NULL: outside a case */
static unsigned int test_case_failed;	/* test_failed at test_begin() */

/* test_begin - the checks up to test_end() are case "name" */
static inline void test_begin(const char *name)
{
	test_case = name;
	test_case_failed = test_failed;
}

/* test_begin_row - the checks up to test_end() are row i of a table */
static inline void test_begin_row(const char *table, size_t i)
{
	static char name[128];

	snprintf(name, sizeof(name), "%s[%zu]", table, i);
	test_begin(name);
}

/* test_end - the case is over; say so once more if it failed */
static inline void test_end(void)
{
	if (test_case != NULL && test_failed != test_case_failed)
		fprintf(stderr, "FAILED: %s (%u checks)\n", test_case,
			test_failed - test_case_failed);
	test_case = NULL;
}

/* test_fail - count and report one failed check */
static inline void test_fail(const char *file, int line)
{
	test_failed++;
	fprintf(stderr, "%s:%d: FAILED%s%s: ", file, line,
		test_case != NULL ? " in " : "",
		test_case != NULL ? test_case : "");
}

#define TEST_RUN(call)                                                      \
	do {                                                                \
		test_begin(#call);                                          \
		call;                                                       \
		test_end();                                                 \
	} while (0)

#define TEST_ASSERT(cond)                                                   \
	do {                                                                \
		if (cond) {                                                 \
			test_passed++;                                      \
		} else {                                                    \
			test_fail(__FILE__, __LINE__);                      \
			fprintf(stderr, "%s\n", #cond);                     \
		}                                                           \
	} while (0)

#define TEST_STREQ(a, b)                                                    \
	do {                                                                \
		const char *test_a_ = (a), *test_b_ = (b);                  \
		if (test_a_ != NULL && test_b_ != NULL &&                   \
		    strcmp(test_a_, test_b_) == 0) {                        \
			test_passed++;                                      \
		} else {                                                    \
			test_fail(__FILE__, __LINE__);                      \
			fprintf(stderr, "%s == %s: \"%s\" != \"%s\"\n", #a, \
				#b, test_a_ ? test_a_ : "(null)",           \
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
