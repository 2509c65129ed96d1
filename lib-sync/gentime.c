/*
 * NAME
 *	gentime - LDAP GeneralizedTime and the command line's dates
 * DESCRIPTION
 *	The directory holds share windows as GeneralizedTime: the sync
 *	reads them (ldapdir-conv.c), mailgrants share writes them
 *	(ldapshare.c) from the dates a person types (cli/share.c). The
 *	calendar is computed here, in UTC, whatever the time zone.
 * SEE ALSO
 *	gentime.h, RFC 4517 (GeneralizedTime)
 */

#include "gentime.h"

#include <stdio.h>
#include <string.h>

/* gentime_digits - n decimal digits */
static int gentime_digits(const char **sp, int n, int *v_r)
{
	const char *s = *sp;
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*sp = s + n;
	*v_r = v;
	return 0;
}

/* gentime_is_digit - an ASCII digit, locale-independent */
static bool gentime_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* gentime_days_from_civil - days since 1970-01-01 of a proleptic
   Gregorian date */
static long long gentime_days_from_civil(long long y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* gentime_month_days - days in a month */
static int gentime_month_days(int year, int month)
{
	static const int days[] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* gentime_parse - RFC 4517 GeneralizedTime to UTC */
int gentime_parse(const char *s, time_t *t_r)
{
	int year, mon, day, hour, min = 0, sec = 0, oh = 0, om = 0;
	long long unit = 3600, num = 0, den = 1, frac = 0, offset = 0, t;
	int ndigits = 0;

	if (s == NULL || strnlen(s, GENTIME_MAX + 1) > GENTIME_MAX)
		return -1;
	if (gentime_digits(&s, 4, &year) < 0 ||
	    gentime_digits(&s, 2, &mon) < 0 ||
	    gentime_digits(&s, 2, &day) < 0 ||
	    gentime_digits(&s, 2, &hour) < 0)
		return -1;
	if (gentime_is_digit(*s)) {
		if (gentime_digits(&s, 2, &min) < 0)
			return -1;
		unit = 60;
		if (gentime_is_digit(*s)) {
			if (gentime_digits(&s, 2, &sec) < 0)
				return -1;
			unit = 1;
		}
	}
	if (*s == '.' || *s == ',') {
		s++;
		if (!gentime_is_digit(*s))
			return -1;
		for (; gentime_is_digit(*s); s++) {
			/* Digits beyond a nanosecond do not change the
			   whole seconds we keep. */
			if (ndigits++ < 9) {
				num = num * 10 + (*s - '0');
				den *= 10;
			}
		}
		frac = unit * num / den;
	}
	if (*s == 'Z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		int sign = *s == '-' ? -1 : 1;

		s++;
		if (gentime_digits(&s, 2, &oh) < 0)
			return -1;
		if (gentime_is_digit(*s) && gentime_digits(&s, 2, &om) < 0)
			return -1;
		if (oh > 23 || om > 59)
			return -1;
		offset = sign * (oh * 3600LL + om * 60LL);
	} else {
		return -1;
	}
	if (*s != '\0')
		return -1;
	if (mon < 1 || mon > 12 || day < 1 ||
	    day > gentime_month_days(year, mon) || hour > 23 || min > 59 ||
	    sec > 60)
		return -1;
	t = gentime_days_from_civil(year, mon, day) * 86400LL +
	    hour * 3600LL + min * 60LL + sec + frac - offset;
	if ((long long)(time_t)t != t)
		return -1;
	*t_r = (time_t)t;
	return 0;
}

/* gentime_format - YYYYMMDDHHMMSSZ */
int gentime_format(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 0 ||
	    tm.tm_year + 1900 > 9999)
		return -1;
	if (strftime(buf, size, "%Y%m%d%H%M%SZ", &tm) == 0)
		return -1;
	return 0;
}

/* gentime_pattern - s has the shape of pat ('d' a digit, else literal) */
static bool gentime_pattern(const char *s, const char *pat)
{
	for (; *pat != '\0'; s++, pat++) {
		if (*pat == 'd' ? !(*s >= '0' && *s <= '9') : *s != *pat)
			return false;
	}
	return *s == '\0';
}

/* gentime_parse_date - a date or time from the command line */
int gentime_parse_date(const char *s, bool end_of_day, time_t *t_r)
{
	char gt[32];
	time_t t;

	if (s == NULL)
		return -1;
	if (gentime_pattern(s, "dddd-dd-dd")) {
		(void)snprintf(gt, sizeof(gt), "%.4s%.2s%.2s000000Z", s, s + 5,
			       s + 8);
		if (gentime_parse(gt, &t) < 0)
			return -1;
		*t_r = end_of_day ? t + 86399 : t;
		return 0;
	}
	if (gentime_pattern(s, "dddd-dd-ddTdd:dd:ddZ")) {
		(void)snprintf(gt, sizeof(gt), "%.4s%.2s%.2s%.2s%.2s%.2sZ", s,
			       s + 5, s + 8, s + 11, s + 14, s + 17);
		s = gt;
	}
	return gentime_parse(s, t_r);
}
