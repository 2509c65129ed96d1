/*
 * NAME
 *	audit - one structured log line per send decision or share change
 * DESCRIPTION
 *	See audit.h. The writer and the reader live together so that the
 *	unit test can prove that every line written reads back as it was
 *	meant, whatever a login or an address holds.
 * SEE ALSO
 *	audit.h, text.h
 */

#include "audit.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <unistr.h>

/* Room kept at the end of a line for the truncated marker and the end. */
#define AUDIT_RESERVE 32

/* audit_format_parse - "text" or "json": 0, else -1 */
int audit_format_parse(const char *name, enum audit_format *r)
{
	if (strcmp(name, "text") == 0)
		*r = AUDIT_FORMAT_TEXT;
	else if (strcmp(name, "json") == 0)
		*r = AUDIT_FORMAT_JSON;
	else
		return -1;
	return 0;
}

/* audit_unit - length of the valid UTF-8 character at s (of n bytes
   left), or 0 when s starts with a byte that is not one */
static size_t audit_unit(const unsigned char *s, size_t n)
{
	ucs4_t uc;
	int len;

	if (*s < 0x80)
		return 1;
	len = u8_mbtoucr(&uc, s, n);
	return len > 0 ? (size_t)len : 0;
}

/* audit_plain - a byte that stands for itself, bare, in either form */
static inline bool audit_plain(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* audit_needs_quotes - may this value stand bare in the text form? */
static bool audit_needs_quotes(const char *value)
{
	const unsigned char *s = (const unsigned char *)value;
	const unsigned char *end = s + strlen(value);
	size_t n;

	if (value[0] == '-' && value[1] == '\0')
		return true;
	for (;;) {
		while (audit_plain(*s))
			s++;
		if (*s == '\0')
			return false;
		if (*s < 0x80)
			return true;
		if ((n = audit_unit(s, (size_t)(end - s))) == 0)
			return true;
		s += n;
	}
}

/* audit_escape - value as the format writes it, into out (size bytes,
   at most AUDIT_VALUE_MAX + 1); the length written */
static size_t audit_escape(enum audit_format format, const char *value,
			   char *out, size_t size)
{
	const unsigned char *s = (const unsigned char *)value;
	size_t n, len = 0;
	bool quote;
	char unit[8];

	/* Most values (addresses, names, codes) stand bare: one look. */
	if (format == AUDIT_FORMAT_TEXT) {
		for (n = 0; audit_plain(s[n]); n++)
			;
		if (s[n] == '\0' && n + 5 <= size &&
		    !(n == 1 && s[0] == '-')) {
			memcpy(out, s, n);
			out[n] = '\0';
			return n;
		}
	}
	n = strlen(value);
	quote = format == AUDIT_FORMAT_JSON || audit_needs_quotes(value);
	if (quote)
		out[len++] = '"';
	while (n > 0) {
		size_t clen, ulen, run, room;

		/* A run of bytes that stand for themselves, at once: each
		   would fit while len <= size - 6 (below). */
		for (run = 0; run < n && audit_plain(s[run]); run++)
			;
		if (run > 0) {
			room = size >= len + 5 ? size - 5 - len : 0;
			memcpy(out + len, s, run < room ? run : room);
			if (run > room) {
				len += room;
				memcpy(out + len, "...", 3);
				len += 3;
				break;
			}
			len += run;
			s += run;
			n -= run;
			continue;
		}
		clen = audit_unit(s, n);

		if (clen == 0) {
			/* not UTF-8: \xHH, and in JSON its backslash
			   escaped, so that the object stays valid */
			(void)snprintf(unit, sizeof(unit), "%s%02x",
				       format == AUDIT_FORMAT_JSON ? "\\\\x"
								   : "\\x",
				       *s);
			ulen = strlen(unit);
			clen = 1;
		} else if (*s == '"' || *s == '\\') {
			unit[0] = '\\';
			unit[1] = (char)*s;
			ulen = 2;
		} else if (*s < 0x20 || *s == 0x7f) {
			(void)snprintf(unit, sizeof(unit),
				       format == AUDIT_FORMAT_JSON ? "\\u%04x"
								   : "\\x%02x",
				       *s);
			ulen = strlen(unit);
		} else {
			memcpy(unit, s, clen);
			ulen = clen;
		}
		/* room for this, "..." and the closing quote */
		if (len + ulen + 3 + 1 + 1 > size) {
			memcpy(out + len, "...", 3);
			len += 3;
			break;
		}
		memcpy(out + len, unit, ulen);
		len += ulen;
		s += clen;
		n -= clen;
	}
	if (quote)
		out[len++] = '"';
	out[len] = '\0';
	return len;
}

/* audit_append - raw bytes onto the line if they fit (with the reserve) */
static bool audit_append(struct audit_line *a, const char *s, size_t n,
			 bool reserve)
{
	size_t room = sizeof(a->buf) - (reserve ? AUDIT_RESERVE : 1);

	if (a->len + n > room)
		return false;
	memcpy(a->buf + a->len, s, n);
	a->len += n;
	a->buf[a->len] = '\0';
	return true;
}

/* audit_begin - a new line: event and time (NULL: now) */
/* The last second audit_begin() wrote, as text, per thread. */
static _Thread_local time_t audit_stamp_sec;
static _Thread_local bool audit_stamp_valid;
static _Thread_local size_t audit_stamp_len;
static _Thread_local char audit_stamp[40];

void audit_begin(struct audit_line *a, enum audit_format format,
		 const char *event, const struct timespec *when)
{
	struct timespec now;
	char stamp[48];
	struct tm tm;
	size_t n;

	a->format = format;
	a->truncated = false;
	a->len = 0;
	a->buf[0] = '\0';
	if (format == AUDIT_FORMAT_JSON)
		(void)audit_append(a, "{", 1, true);
	if (when == NULL) {
		if (clock_gettime(CLOCK_REALTIME, &now) < 0)
			now.tv_sec = time(NULL), now.tv_nsec = 0;
		when = &now;
	}
	/* milliseconds: the lines of two logs (a command's and the share
	   service's, say) fall in one second and must still sort. The
	   second's text is kept: a daemon logs many lines a second. */
	if (!audit_stamp_valid || when->tv_sec != audit_stamp_sec) {
		audit_stamp_valid = false;
		if (gmtime_r(&when->tv_sec, &tm) != NULL &&
		    (n = strftime(audit_stamp, sizeof(audit_stamp),
				  "%Y-%m-%dT%H:%M:%S", &tm)) != 0) {
			audit_stamp_len = n;
			audit_stamp_sec = when->tv_sec;
			audit_stamp_valid = true;
		}
	}
	if (!audit_stamp_valid) {
		stamp[0] = '\0';
	} else {
		long ms = (long)(when->tv_nsec / 1000000) % 1000;

		memcpy(stamp, audit_stamp, audit_stamp_len);
		n = audit_stamp_len;
		stamp[n++] = '.';
		stamp[n++] = (char)('0' + ms / 100);
		stamp[n++] = (char)('0' + ms / 10 % 10);
		stamp[n++] = (char)('0' + ms % 10);
		stamp[n++] = 'Z';
		stamp[n] = '\0';
	}
	audit_add(a, "event", event);
	audit_add(a, "time", stamp);
}

/* audit_add - one field; left out (and the line marked) if it no
   longer fits */
void audit_add(struct audit_line *a, const char *key, const char *value)
{
	char esc[AUDIT_VALUE_MAX + 1], field[AUDIT_VALUE_MAX + 128];
	bool first = a->format == AUDIT_FORMAT_JSON ? a->len == 1
						     : a->len == 0;
	bool json = a->format == AUDIT_FORMAT_JSON;
	size_t klen = strnlen(key, 64), room = sizeof(a->buf) - AUDIT_RESERVE;
	size_t n;
	char *p;

	if (value == NULL || value[0] == '\0')
		value = NULL;
	/* The field is written in place when it fits whatever the value
	   (a separator, a quoted key, "=" or ":", an escaped value);
	   near the end of the line it is put together apart first, and
	   added whole or not at all. */
	if (a->len + 1 + klen + 3 + sizeof(esc) <= room) {
		p = a->buf + a->len;
		if (!first)
			*p++ = json ? ',' : ' ';
		if (json)
			*p++ = '"';
		memcpy(p, key, klen);
		p += klen;
		if (json)
			*p++ = '"';
		*p++ = json ? ':' : '=';
		if (value == NULL) {
			n = json ? 4 : 1;
			memcpy(p, json ? "null" : "-", n + 1);
		} else {
			n = audit_escape(a->format, value, p, sizeof(esc));
		}
		a->len = (size_t)(p - a->buf) + n;
		return;
	}
	if (value == NULL)
		(void)snprintf(esc, sizeof(esc), "%s", json ? "null" : "-");
	else
		(void)audit_escape(a->format, value, esc, sizeof(esc));
	n = (size_t)snprintf(field, sizeof(field), json ? "%s\"%.64s\":%s" :
			     "%s%.64s=%s", first ? "" : json ? "," : " ", key,
			     esc);
	if (n >= sizeof(field) || !audit_append(a, field, n, true))
		a->truncated = true;
}

const char *audit_end(struct audit_line *a)
{
	if (a->format == AUDIT_FORMAT_JSON) {
		if (a->truncated)
			(void)audit_append(a, ",\"truncated\":\"yes\"", 18,
					   false);
		(void)audit_append(a, "}", 1, false);
	} else if (a->truncated) {
		(void)audit_append(a, " truncated=yes", 14, false);
	}
	return a->buf;
}

/* audit_hex - the value of one hex digit, or -1 */
static int audit_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* audit_is_key_char - of a key: lower case letters, digits and '_' */
static bool audit_is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* audit_is_key - a whole key, as the text form allows it */
static bool audit_is_key(const char *key)
{
	if (*key == '\0')
		return false;
	for (; *key != '\0'; key++)
		if (!audit_is_key_char(*key))
			return false;
	return true;
}

/* audit_put - one decoded byte into the event's buffer */
static bool audit_put(struct audit_event *ev, size_t *used, char c)
{
	if (*used + 1 >= sizeof(ev->buf))
		return false;
	ev->buf[(*used)++] = c;
	return true;
}

/* audit_parse_text - the key=value form from p: 1, or 0 malformed */
static int audit_parse_text(const char *p, struct audit_event *ev)
{
	size_t used = 0;

	while (*p != '\0' && *p != '\n' && *p != '\r') {
		struct audit_field *f;

		if (ev->count == AUDIT_FIELDS_MAX)
			return 0;
		f = &ev->fields[ev->count++];
		f->key = ev->buf + used;
		if (!audit_is_key_char(*p))
			return 0;
		while (audit_is_key_char(*p))
			if (!audit_put(ev, &used, *p++))
				return 0;
		if (*p++ != '=' || !audit_put(ev, &used, '\0'))
			return 0;
		f->value = ev->buf + used;
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				char c = *p;

				if (c == '\0' || c == '\n')
					return 0;
				if (c == '\\') {
					int hi, lo;

					p++;
					if (*p == '"' || *p == '\\') {
						c = *p;
					} else if (*p == 'x' &&
						   (hi = audit_hex(p[1])) >= 0 &&
						   (lo = audit_hex(p[2])) >= 0) {
						c = (char)(hi * 16 + lo);
						p += 2;
					} else {
						return 0;
					}
				}
				if (!audit_put(ev, &used, c))
					return 0;
			}
			p++;
		} else {
			while (*p != ' ' && *p != '\0' && *p != '\n' &&
			       *p != '\r') {
				/* the writer quotes all of these */
				if (*p == '"' || *p == '\\' ||
				    (unsigned char)*p < 0x20 || *p == 0x7f ||
				    !audit_put(ev, &used, *p++))
					return 0;
			}
			/* "-" alone is the empty value */
			if (used > 0 && ev->buf[used - 1] == '-' &&
			    ev->buf + used - 1 == f->value)
				used--;
		}
		if (!audit_put(ev, &used, '\0'))
			return 0;
		if (*p == ' ')
			p++;
		else if (*p != '\0' && *p != '\n' && *p != '\r')
			return 0;
	}
	return 1;
}

/* audit_utf8 - the code point cp as UTF-8 into the event's buffer */
static bool audit_put_utf8(struct audit_event *ev, size_t *used,
			   unsigned int cp)
{
	uint8_t buf[8];
	int n = u8_uctomb(buf, (ucs4_t)cp, (int)sizeof(buf));

	if (n <= 0)
		return false;
	for (int i = 0; i < n; i++)
		if (!audit_put(ev, used, (char)buf[i]))
			return false;
	return true;
}

/* audit_json_string - a JSON string at *pp into the buffer: true */
static bool audit_json_string(const char **pp, struct audit_event *ev,
			      size_t *used)
{
	const char *p = *pp;

	if (*p++ != '"')
		return false;
	for (; *p != '"'; p++) {
		char c = *p;

		if (c == '\0' || (unsigned char)c < 0x20)
			return false;
		if (c == '\\') {
			unsigned int cp = 0;

			switch (*++p) {
			case '"': case '\\': case '/':
				c = *p;
				break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'u':
				for (int i = 1; i <= 4; i++) {
					int h = audit_hex(p[i]);

					if (h < 0)
						return false;
					cp = cp * 16 + (unsigned int)h;
				}
				p += 4;
				/* the writer never splits a character into
				   surrogates: one alone is not ours */
				if ((cp >= 0xd800 && cp <= 0xdfff) || cp == 0 ||
				    !audit_put_utf8(ev, used, cp))
					return false;
				continue;
			default:
				return false;
			}
		}
		if (!audit_put(ev, used, c))
			return false;
	}
	*pp = p + 1;
	return audit_put(ev, used, '\0');
}

/* audit_parse_json - the JSON form from p: 1, or 0 malformed */
static int audit_parse_json(const char *p, struct audit_event *ev)
{
	size_t used = 0;

	if (*p++ != '{')
		return 0;
	for (;;) {
		struct audit_field *f;

		if (ev->count == AUDIT_FIELDS_MAX)
			return 0;
		f = &ev->fields[ev->count++];
		f->key = ev->buf + used;
		if (!audit_json_string(&p, ev, &used) || *p++ != ':' ||
		    !audit_is_key(f->key))
			return 0;
		f->value = ev->buf + used;
		if (strncmp(p, "null", 4) == 0) {
			p += 4;
			if (!audit_put(ev, &used, '\0'))
				return 0;
		} else if (!audit_json_string(&p, ev, &used)) {
			return 0;
		}
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p++ != '}')
			return 0;
		break;
	}
	while (*p == ' ' || *p == '\n' || *p == '\r')
		p++;
	return *p == '\0';
}

/* audit_parse - the audit fields of one log line: 1, or 0 */
int audit_parse(const char *line, struct audit_event *ev)
{
	const char *json = strstr(line, "{\"event\":");
	const char *text = line;
	int ret;

	ev->count = 0;
	/* the first "event=" that begins a word: a value cannot hold one
	   (a space in it is quoted), so what comes before is a prefix */
	while ((text = strstr(text, "event=")) != NULL &&
	       text != line && text[-1] != ' ')
		text++;
	if (json != NULL && (text == NULL || json < text))
		ret = strlen(json) < AUDIT_LINE_MAX * 2 ?
			audit_parse_json(json, ev) : 0;
	else if (text != NULL)
		ret = strlen(text) < AUDIT_LINE_MAX * 2 ?
			audit_parse_text(text, ev) : 0;
	else
		ret = 0;
	if (ret == 1 && (ev->count < 2 || strcmp(ev->fields[0].key,
						 "event") != 0 ||
			 strcmp(ev->fields[1].key, "time") != 0))
		ret = 0;
	if (ret == 0)
		ev->count = 0;
	return ret;
}

/* audit_get - a field's value; NULL when absent or empty */
const char *audit_get(const struct audit_event *ev, const char *key)
{
	for (size_t i = 0; i < ev->count; i++)
		if (strcmp(ev->fields[i].key, key) == 0)
			return ev->fields[i].value[0] != '\0' ?
				ev->fields[i].value : NULL;
	return NULL;
}

/* audit_time_parse - YYYY-MM-DDTHH:MM:SS[.mmm]Z as audit_begin()
   writes it */
int audit_time_parse(const char *s, struct timespec *ts_r)
{
	static const char *const forms[] = {
		"dddd-dd-ddTdd:dd:ddZ", "dddd-dd-ddTdd:dd:dd.dddZ",
	};
	struct tm tm, want;
	const char *form = NULL;
	char *end;
	time_t t;
	long ms = 0;

	for (size_t f = 0; s != NULL && f < 2; f++)
		if (strlen(s) == strlen(forms[f]))
			form = forms[f];
	if (form == NULL)
		return -1;
	/* exactly as written: strptime() alone would take blanks */
	for (size_t i = 0; form[i] != '\0'; i++) {
		if (form[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != form[i])
			return -1;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end != NULL && *end == '.') {
		ms = (end[1] - '0') * 100 + (end[2] - '0') * 10 + (end[3] - '0');
		end += 4;
	}
	/* no log line is older than the epoch: audit_begin() writes
	   four-digit years from 1970 on, and reads back only those */
	if (end == NULL || strcmp(end, "Z") != 0 || tm.tm_year < 70)
		return -1;
	want = tm;
	t = timegm(&tm);
	/* a date that does not exist (February 31st, second 60) would
	   become another one: not a time the writer wrote */
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year != want.tm_year ||
	    tm.tm_mon != want.tm_mon || tm.tm_mday != want.tm_mday ||
	    tm.tm_hour != want.tm_hour || tm.tm_min != want.tm_min ||
	    tm.tm_sec != want.tm_sec)
		return -1;
	ts_r->tv_sec = t;
	ts_r->tv_nsec = ms * 1000000;
	return 0;
}
