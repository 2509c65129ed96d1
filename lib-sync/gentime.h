#ifndef MAILGRANTS_GENTIME_H
#define MAILGRANTS_GENTIME_H

/*
 * NAME
 *	gentime - LDAP GeneralizedTime and the command line's dates
 * SYNOPSIS
 *	#include "gentime.h"
 *
 *	int gentime_parse(const char *s, time_t *t_r);
 *	int gentime_format(time_t t, char *buf, size_t size);
 *	int gentime_parse_date(const char *s, bool end_of_day,
 *			       time_t *t_r);
 * DESCRIPTION
 *	gentime_parse() parses an LDAP GeneralizedTime (RFC 4517:
 *	YYYYMMDDHH[MM[SS]][(.|,)fraction](Z|+hh[mm]|-hh[mm])) into
 *	seconds since the epoch, UTC; fractions are truncated to whole
 *	seconds. At most GENTIME_MAX bytes are read.
 *
 *	gentime_format() writes the GeneralizedTime YYYYMMDDHHMMSSZ of t
 *	(a buffer of GENTIME_FORMAT_SIZE bytes is enough).
 *
 *	gentime_parse_date() accepts what a person types: YYYY-MM-DD (the
 *	start of that day, UTC, or with end_of_day its last second),
 *	YYYY-MM-DDTHH:MM:SSZ, and a GeneralizedTime.
 * DIAGNOSTICS
 *	All three return 0 on success and -1 on bad input (or a buffer
 *	too small, a year outside 0..9999, a time that time_t cannot
 *	hold); nothing is stored then.
 * SEE ALSO
 *	ldapdir-private.h, ldapshare.h, RFC 4517 (GeneralizedTime)
 */

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define GENTIME_MAX 64			/* bytes of a value parsed */
#define GENTIME_FORMAT_SIZE 16		/* YYYYMMDDHHMMSSZ and NUL */

int gentime_parse(const char *s, time_t *t_r);
int gentime_format(time_t t, char *buf, size_t size);
int gentime_parse_date(const char *s, bool end_of_day, time_t *t_r);

#endif
