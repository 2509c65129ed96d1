/*
 * NAME
 *	fuzz-audit - libFuzzer harness of the audit line reader
 * DESCRIPTION
 *	Feeds the input as one log line (cut at its first NUL, as getline
 *	and strlen see it) to audit_parse() and checks its promises: 0
 *	with no fields, or 1 with at most AUDIT_FIELDS_MAX fields, the
 *	first two "event" and "time", every key and value inside the
 *	event's buffer. A line of short fields is written out again by
 *	the text writer and must read back to the same fields: what
 *	"mailgrants audit" reads is what the daemons meant.
 *
 *	make fuzz-audit  (build-fuzz/fuzz-audit, clang, ASan, UBSan)
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

#define FUZZ_SHORT 200		/* bytes of a value written out again */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_inside - is s a string inside the event's buffer? */
static void fuzz_inside(const struct audit_event *ev, const char *s)
{
	const char *end = ev->buf + sizeof(ev->buf);

	if (s < ev->buf || s >= end || memchr(s, '\0', (size_t)(end - s)) ==
	    NULL)
		abort();
}

/* fuzz_round_trip - the fields written as text read back the same */
static void fuzz_round_trip(const struct audit_event *ev)
{
	static struct audit_line a;
	static struct audit_event again;
	struct timespec when, back;

	for (size_t i = 0; i < ev->count; i++)
		if (strlen(ev->fields[i].key) > 64 ||
		    strlen(ev->fields[i].value) > FUZZ_SHORT)
			return;
	/* the writer makes the time itself, always with milliseconds */
	if (audit_time_parse(ev->fields[1].value, &when) < 0)
		return;
	audit_begin(&a, AUDIT_FORMAT_TEXT, ev->fields[0].value, &when);
	for (size_t i = 2; i < ev->count; i++)
		audit_add(&a, ev->fields[i].key, ev->fields[i].value);
	if (audit_parse(audit_end(&a), &again) != 1 ||
	    again.count != ev->count ||
	    audit_time_parse(again.fields[1].value, &back) < 0 ||
	    back.tv_sec != when.tv_sec || back.tv_nsec != when.tv_nsec)
		abort();
	for (size_t i = 0; i < ev->count; i++)
		if (i != 1 &&
		    (strcmp(again.fields[i].key, ev->fields[i].key) != 0 ||
		     strcmp(again.fields[i].value, ev->fields[i].value) != 0))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct audit_event ev;
	char *line = malloc(size + 1);
	int ret;

	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	ret = audit_parse(line, &ev);
	if (ret != 0 && ret != 1)
		abort();
	if (ret == 0 && ev.count != 0)
		abort();
	if (ret == 1) {
		if (ev.count < 2 || ev.count > AUDIT_FIELDS_MAX ||
		    strcmp(ev.fields[0].key, "event") != 0 ||
		    strcmp(ev.fields[1].key, "time") != 0)
			abort();
		for (size_t i = 0; i < ev.count; i++) {
			fuzz_inside(&ev, ev.fields[i].key);
			fuzz_inside(&ev, ev.fields[i].value);
		}
		fuzz_round_trip(&ev);
	}
	free(line);
	return 0;
}
