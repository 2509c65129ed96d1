/*
 * NAME
 *	msg - the policy daemon's log, Postfix style
 * SEE ALSO
 *	msg.h
 */

#include "msg.h"
#include "audit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define MSG_BATCH_SIZE 65536	/* lines held back until msg_batch_end() */
#define MSG_LINE_MAX (AUDIT_LINE_MAX + 640)	/* an audit line fits whole */

static bool msg_to_stderr = true;
/* "name[pid]: ", made once: stderr mode never forks after msg_init() */
#define MSG_HEAD_DEFAULT "mailgrants-policyd[0]: "
static char msg_head[128] = MSG_HEAD_DEFAULT;
static size_t msg_head_len = sizeof(MSG_HEAD_DEFAULT) - 1;

/* Standard error's lines of one pass of the event loop (msg_batch_*). */
static struct {
	bool on;
	size_t len;
	char text[MSG_BATCH_SIZE];
} msg_batch;

/* msg_init - choose where the log goes */
void msg_init(const char *name, bool to_stderr)
{
	int n;

	msg_to_stderr = to_stderr;
	n = snprintf(msg_head, sizeof(msg_head), "%.96s[%ld]: ", name,
		     (long)getpid());
	msg_head_len = n > 0 && (size_t)n < sizeof(msg_head) ? (size_t)n : 0;
	if (!to_stderr)
		openlog(name, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* msg_write - all of a buffer to standard error; a log that cannot be
   written is lost, as with fprintf() */
static void msg_write(const char *text, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, text, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		text += n;
		len -= (size_t)n;
	}
}

/* msg_batch_flush - write the lines held back */
static void msg_batch_flush(void)
{
	msg_write(msg_batch.text, msg_batch.len);
	msg_batch.len = 0;
}

/* msg_batch_begin - hold back standard error's lines */
void msg_batch_begin(void)
{
	msg_batch.on = msg_to_stderr;
}

/* msg_batch_end - write them, in one write() */
void msg_batch_end(void)
{
	if (!msg_batch.on)
		return;
	msg_batch_flush();
	msg_batch.on = false;
}

/* msg_emit - one line of text, with the name, pid and prefix */
static void msg_emit(int priority, const char *prefix, const char *text)
{
	char line[MSG_LINE_MAX];
	size_t head, len, n, plen;
	char *out;

	if (!msg_to_stderr) {
		syslog(priority, "%s%s", prefix, text);
		return;
	}
	plen = strlen(prefix);
	if (msg_head_len + plen >= sizeof(line) - 1)
		return;
	head = msg_head_len + plen;
	/* A cut log line is still a log line: truncation is accepted. */
	len = strnlen(text, sizeof(line) - head - 2);
	n = head + len + 1;
	/* Warnings and fatal errors go out at once, after what came
	   before them; the pass's other lines are put together where
	   they wait. Only a batch touches msg_batch: the milter's
	   threads never do. */
	if (msg_batch.on && priority == LOG_INFO) {
		if (msg_batch.len + n > sizeof(msg_batch.text))
			msg_batch_flush();
		out = msg_batch.text + msg_batch.len;
		msg_batch.len += n;
	} else {
		if (msg_batch.on)
			msg_batch_flush();
		out = line;
	}
	memcpy(out, msg_head, msg_head_len);
	memcpy(out + msg_head_len, prefix, plen);
	memcpy(out + head, text, len);
	out[n - 1] = '\n';
	if (out == line)
		msg_write(line, n);
}

/* msg_vlog - format one line */
static void __attribute__((format(printf, 3, 0)))
msg_vlog(int priority, const char *prefix, const char *fmt, va_list ap)
{
	char text[AUDIT_LINE_MAX + 512];

	vsnprintf(text, sizeof(text), fmt, ap);
	msg_emit(priority, prefix, text);
}

/* msg_info_text - log a line that is ready (an audit line) */
void msg_info_text(const char *text)
{
	msg_emit(LOG_INFO, "", text);
}

/* msg_info - log an event */
void msg_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_vlog(LOG_INFO, "", fmt, ap);
	va_end(ap);
}

/* msg_warn - log a problem that the daemon survives */
void msg_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_vlog(LOG_WARNING, "warning: ", fmt, ap);
	va_end(ap);
}

/* msg_fatal - log a problem that ends the daemon, and exit */
void msg_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_vlog(LOG_CRIT, "fatal: ", fmt, ap);
	va_end(ap);
	exit(1);
}

/* msg_replica_news - say what changed about the replica, if anything */
void msg_replica_news(struct replica_handle *h, const char *meanwhile)
{
	const char *text;

	switch (replica_handle_news(h, time(NULL), &text)) {
	case REPLICA_HANDLE_LOST:
		msg_warn("%s; answering %s until it is available", text,
			 meanwhile);
		break;
	case REPLICA_HANDLE_BACK:
		msg_info("%s", text);
		break;
	case REPLICA_HANDLE_QUIET:
		break;
	}
}
