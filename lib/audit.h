#ifndef MAILGRANTS_AUDIT_H
#define MAILGRANTS_AUDIT_H

/*
 * NAME
 *	audit - one structured log line per send decision or share change
 * SYNOPSIS
 *	#include "audit.h"
 *
 *	int audit_format_parse(const char *name, enum audit_format *r);
 *	void audit_begin(struct audit_line *a, enum audit_format format,
 *			 const char *event, const struct timespec *when);
 *	void audit_add(struct audit_line *a, const char *key,
 *		       const char *value);
 *	const char *audit_end(struct audit_line *a);
 *
 *	int audit_parse(const char *line, struct audit_event *ev);
 *	const char *audit_get(const struct audit_event *ev,
 *			      const char *key);
 *	int audit_time_parse(const char *s, struct timespec *ts_r);
 * DESCRIPTION
 *	The policy daemon, the milter, "mailgrants share" and "mailgrants
 *	share-service" write their audit lines through this one
 *	formatter, so that "mailgrants audit" reads them all alike. The
 *	core writes no log itself: the caller logs the line it gets.
 *
 *	audit_begin() starts a line with the fields event (send or share)
 *	and time (when, or now for NULL; UTC, YYYY-MM-DDTHH:MM:SS.mmmZ: a
 *	syslog timestamp has no year and no zone, the audit filters on
 *	exact seconds, and lines of several logs sort by it);
 *	audit_add() adds one field; audit_end() ends it and returns it
 *	(valid as long as a). Keys are the caller's constants.
 *
 *	AUDIT_FORMAT_TEXT writes "key=value" separated by single spaces,
 *	as Postfix logs: a value of printable characters without space,
 *	'"' or '\' is written as it is (valid UTF-8 included); any other
 *	value is written in double quotes with '"' and '\' as \" and \\
 *	and control characters, DEL and bytes that are not valid UTF-8
 *	as \xHH, so no value can end the line or start a field of its
 *	own. NULL or "" is written "-" (a value "-" is quoted).
 *	AUDIT_FORMAT_JSON writes one JSON object of strings: NULL or ""
 *	is null; '"', '\' and control characters are JSON escapes; bytes
 *	that are not valid UTF-8 become the text \xHH (so the object is
 *	valid UTF-8 JSON and reads back as in the text form).
 *
 *	Bounds: a value takes at most AUDIT_VALUE_MAX bytes written
 *	(longer ones end in "...", never inside an escape or a
 *	character); a line at most AUDIT_LINE_MAX bytes. A field that no
 *	longer fits is left out and the line ends with truncated=yes
 *	("truncated":"yes"): the line stays valid.
 *
 *	audit_parse() finds an audit line in a log line (after any
 *	syslog or journal prefix: the first "event=" that begins a word,
 *	or the first "{\"event\":"), in either format, and decodes its
 *	fields into ev: 1 found, 0 not an audit line (unrelated or
 *	malformed: the reader skips it). Keys are lower case letters,
 *	digits and '_' in both forms. Up to AUDIT_FIELDS_MAX fields
 *	are kept. audit_get() gives a field's decoded value, or NULL
 *	when absent or "-" / null. audit_time_parse() reads the time
 *	field back, with or without the milliseconds (years from 1970):
 *	0 or -1.
 * SEE ALSO
 *	mailgrants(1) "audit", mailgrants-policyd(8), mailgrants-milter(8)
 */

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define AUDIT_LINE_MAX 4096	/* bytes of one line, NUL included */
#define AUDIT_VALUE_MAX 1100	/* bytes one value may take, escaped */
#define AUDIT_FIELDS_MAX 24	/* fields audit_parse() keeps */

enum audit_format {
	AUDIT_FORMAT_TEXT,
	AUDIT_FORMAT_JSON,
};

struct audit_line {
	enum audit_format format;
	bool truncated;
	size_t len;
	char buf[AUDIT_LINE_MAX];
};

struct audit_field {
	char *key, *value;	/* into audit_event.buf */
};

struct audit_event {
	size_t count;
	struct audit_field fields[AUDIT_FIELDS_MAX];
	char buf[AUDIT_LINE_MAX * 2];
};

int audit_format_parse(const char *name, enum audit_format *r);
void audit_begin(struct audit_line *a, enum audit_format format,
		 const char *event, const struct timespec *when);
void audit_add(struct audit_line *a, const char *key, const char *value);
const char *audit_end(struct audit_line *a);

int audit_parse(const char *line, struct audit_event *ev);
const char *audit_get(const struct audit_event *ev, const char *key);
int audit_time_parse(const char *s, struct timespec *ts_r);

#endif
