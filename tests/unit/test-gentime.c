/*
 * NAME
 *	test-gentime - unit tests of GeneralizedTime and the command
 *	line's dates
 * DESCRIPTION
 *	Table-driven tests of gentime_parse(), gentime_parse_date() (the
 *	forms of mailgrants share --from and --until) and
 *	gentime_format().
 */

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "gentime.h"
#include "test.h"

/* test_generalized_time - valid and invalid GeneralizedTime strings */
static void test_generalized_time(void)
{
	static const struct {
		const char *in;
		int ret;
		long long t;
	} tests[] = {
		{ "19700101000000Z", 0, 0 },
		{ "20250101000000Z", 0, 1735689600 },
		{ "20351231235959Z", 0, 2082758399 },
		{ "202501010000Z", 0, 1735689600 },		/* no seconds */
		{ "2025010112Z", 0, 1735732800 },		/* no minutes */
		{ "20250101000000.5Z", 0, 1735689600 },		/* fraction */
		{ "20250101000000,999999999999Z", 0, 1735689600 },
		{ "202501010000.5Z", 0, 1735689630 },		/* half a min */
		{ "2025010100.25Z", 0, 1735690500 },		/* 1/4 hour */
		{ "20250101010000+0100", 0, 1735689600 },
		{ "20241231230000-0100", 0, 1735689600 },
		{ "20250101053000+0530", 0, 1735689600 },
		{ "20250101020000+02", 0, 1735689600 },		/* +hh only */
		{ "20240229120000Z", 0, 1709208000 },		/* leap day */
		{ "20000229000000Z", 0, 951782400 },
		{ "20161231235960Z", 0, 1483228800 },		/* leap sec */
		{ "99991231235959Z", 0, 253402300799LL },
		{ "19691231235959Z", 0, -1 },

		{ "", -1, 0 },
		{ "2025", -1, 0 },
		{ "20250101000000", -1, 0 },			/* no zone */
		{ "20250101000000z", -1, 0 },
		{ "20250101000000 Z", -1, 0 },
		{ "20250101000000ZZ", -1, 0 },
		{ "20250101000000Z ", -1, 0 },
		{ "20251301000000Z", -1, 0 },			/* month 13 */
		{ "20250001000000Z", -1, 0 },
		{ "20250100000000Z", -1, 0 },			/* day 0 */
		{ "20250230000000Z", -1, 0 },			/* Feb 30 */
		{ "20230229000000Z", -1, 0 },			/* not leap */
		{ "19000229000000Z", -1, 0 },
		{ "00000229000000Z", 0, -62162121600LL },	/* leap */
		{ "20250101240000Z", -1, 0 },			/* hour 24 */
		{ "20250101006000Z", -1, 0 },
		{ "20250101000061Z", -1, 0 },
		{ "20250101000000.Z", -1, 0 },			/* no digits */
		{ "20250101000000+2400", -1, 0 },
		{ "20250101000000+0160", -1, 0 },
		{ "20250101000000+1", -1, 0 },
		{ "20250101000000+01000", -1, 0 },
		{ "2025010100000Z", -1, 0 },			/* odd digits */
		{ "00000101000000Z", 0, -62167219200LL },	/* year 0 */
		{ "yesterday", -1, 0 },
		{ "-2025010100Z", -1, 0 },
		{ "20250101000000Z\n", -1, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		time_t t = 12345;
		int ret = gentime_parse(tests[i].in, &t);

		if (ret != tests[i].ret ||
		    (ret == 0 && (long long)t != tests[i].t)) {
			fprintf(stderr, "generalized time \"%s\": got %d/%lld, "
				"want %d/%lld\n", tests[i].in, ret,
				(long long)t, tests[i].ret, tests[i].t);
		}
		TEST_ASSERT(ret == tests[i].ret);
		if (ret == 0 && tests[i].ret == 0)
			TEST_ASSERT((long long)t == tests[i].t);
		if (ret < 0)
			TEST_ASSERT(t == 12345);	/* untouched */
	}
	TEST_ASSERT(gentime_parse(NULL, &(time_t){0}) < 0);
}

/* test_parse_date - the time forms of --from and --until */
static void test_parse_date(void)
{
	static const struct {
		const char *in;
		bool end_of_day;
		int ret;
		long long t;
	} tests[] = {
		{ "2026-01-01", false, 0, 1767225600 },
		{ "2026-01-01", true, 0, 1767225600 + 86399 },
		{ "2035-12-31", true, 0, 2082758399 },
		{ "2026-01-01T12:30:00Z", false, 0, 1767270600 },
		{ "2026-01-01T12:30:00Z", true, 0, 1767270600 },
		{ "20260101123000Z", false, 0, 1767270600 },
		{ "20260101133000+0100", false, 0, 1767270600 },
		{ "1970-01-01", false, 0, 0 },
		{ "2026-02-29", false, -1, 0 },		/* no such day */
		{ "2024-02-29", false, 0, 1709164800 },
		{ "2026-13-01", false, -1, 0 },
		{ "2026-1-01", false, -1, 0 },
		{ "2026-01-01T12:30Z", false, -1, 0 },
		{ "2026-01-01T25:00:00Z", false, -1, 0 },
		{ "2026-01-01 ", false, -1, 0 },
		{ "tomorrow", false, -1, 0 },
		{ "", false, -1, 0 },
		{ "@1767225600", false, -1, 0 },
	};

	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		time_t t = 12345;
		int ret = gentime_parse_date(tests[i].in,
					       tests[i].end_of_day, &t);

		TEST_ASSERT(ret == tests[i].ret);
		if (ret != tests[i].ret)
			fprintf(stderr, "  input \"%s\"\n", tests[i].in);
		if (ret == 0 && tests[i].ret == 0) {
			TEST_ASSERT((long long)t == tests[i].t);
			if ((long long)t != tests[i].t)
				fprintf(stderr, "  input \"%s\": %lld\n",
					tests[i].in, (long long)t);
		}
	}
	TEST_ASSERT(gentime_parse_date(NULL, false, &(time_t){ 0 }) < 0);
}

/* test_format_time - GeneralizedTime out */
static void test_format_time(void)
{
	char buf[32];

	TEST_ASSERT(gentime_format(1767225600, buf, sizeof(buf)) == 0);
	TEST_STREQ(buf, "20260101000000Z");
	TEST_ASSERT(gentime_format(2082758399, buf, sizeof(buf)) == 0);
	TEST_STREQ(buf, "20351231235959Z");
	TEST_ASSERT(gentime_format(0, buf, 10) < 0);	/* too small */
}

int main(void)
{
	test_generalized_time();
	test_parse_date();
	test_format_time();
	return test_exit("test-gentime");
}
