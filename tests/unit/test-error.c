/*
 * NAME
 *	test-error - error_printf(): lifetime and bounds
 */

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "test.h"

/* test_thread - a text of another thread */
static void *test_thread(void *arg)
{
	*(const char **)arg = error_printf("thread %d", 2);
	return NULL;
}

int main(void)
{
	const char *texts[ERROR_RING], *other = NULL;
	char expect[32], longfmt[ERROR_MAX + 100];
	pthread_t t;

	/* Each of the last ERROR_RING texts stays as it was written. */
	for (int i = 0; i < ERROR_RING; i++)
		texts[i] = error_printf("error %d: %s", i, "x");
	for (int i = 0; i < ERROR_RING; i++) {
		snprintf(expect, sizeof(expect), "error %d: x", i);
		TEST_STREQ(texts[i], expect);
	}
	/* An earlier text as an argument of the next one. */
	texts[0] = error_printf("outer: %s", texts[ERROR_RING - 1]);
	TEST_STREQ(texts[0], "outer: error 7: x");

	/* Another thread writes into its own ring. */
	texts[1] = error_printf("thread %d", 1);
	TEST_ASSERT(pthread_create(&t, NULL, test_thread, &other) == 0);
	TEST_ASSERT(pthread_join(t, NULL) == 0);
	TEST_STREQ(texts[1], "thread 1");

	/* Too long: cut, terminated. */
	memset(longfmt, 'a', sizeof(longfmt) - 1);
	longfmt[sizeof(longfmt) - 1] = '\0';
	texts[2] = error_printf("%s", longfmt);
	TEST_ASSERT(strlen(texts[2]) == ERROR_MAX - 1);
	return test_exit("test-error");
}
