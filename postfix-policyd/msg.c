/*
 * NAME
 *	msg - the policy daemon's log, Postfix style
 * SEE ALSO
 *	msg.h
 */

#include "msg.h"
#include "audit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *msg_name = "mailgrants-policyd";
static bool msg_to_stderr = true;

/* msg_init - choose where the log goes */
void msg_init(const char *name, bool to_stderr)
{
	msg_name = name;
	msg_to_stderr = to_stderr;
	if (!to_stderr)
		openlog(name, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* msg_vlog - write one line */
static void __attribute__((format(printf, 3, 0)))
msg_vlog(int priority, const char *prefix, const char *fmt, va_list ap)
{
	char text[AUDIT_LINE_MAX + 512];	/* an audit line fits whole */

	/* A cut log line is still a log line: truncation is accepted. */
	vsnprintf(text, sizeof(text), fmt, ap);
	if (msg_to_stderr) {
		fprintf(stderr, "%s[%ld]: %s%s\n", msg_name, (long)getpid(),
			prefix, text);
		fflush(stderr);
	} else {
		syslog(priority, "%s%s", prefix, text);
	}
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
