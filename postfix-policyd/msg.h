#ifndef MAILGRANTS_POLICYD_MSG_H
#define MAILGRANTS_POLICYD_MSG_H

/*
 * NAME
 *	msg - the policy daemon's log, Postfix style
 * SYNOPSIS
 *	#include "msg.h"
 *
 *	void msg_init(const char *name, bool to_stderr);
 *	void msg_info(const char *fmt, ...);
 *	void msg_info_text(const char *text);
 *	void msg_warn(const char *fmt, ...);
 *	void msg_fatal(const char *fmt, ...);
 *
 *	void msg_batch_begin(void);
 *	void msg_batch_end(void);
 *
 *	void msg_replica_news(struct replica_handle *h,
 *			      const char *meanwhile);
 * DESCRIPTION
 *	One line per event, to syslog (facility LOG_MAIL, the process id
 *	in each line) or, with to_stderr, to standard error as
 *	"name[pid]: warning: text". Warnings and fatal errors carry
 *	Postfix's "warning: " and "fatal: " prefixes, so that the lines
 *	read like the rest of the mail log. msg_fatal() logs and exits
 *	with status 1. Callers make untrusted values printable first
 *	(policy_printable()).
 *
 *	Between msg_batch_begin() and msg_batch_end(), informational
 *	lines to standard error are held back (up to 64 KiB) and written
 *	together by msg_batch_end(), in one write(): the policy daemon
 *	logs one line per decision and brackets each pass of its event
 *	loop, so that a busy pass costs one system call, not one per
 *	decision. A warning or a fatal error writes what was held back
 *	first, then itself; the order of the lines never changes. Not
 *	thread-safe: the milter's threads never batch. Syslog is never
 *	batched.
 *
 *	msg_info_text() logs a line that needs no formatting (the
 *	decision's audit line), as msg_info("%s", text) would.
 *
 *	msg_replica_news() logs what replica_handle_news() says: a
 *	warning that the replica is lost ("...; answering MEANWHILE until
 *	it is available"), a line that it is back, or nothing. Both
 *	daemons call it after each check and each failed query.
 */

#include <stdbool.h>

#include "replica-handle.h"

void msg_init(const char *name, bool to_stderr);
void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_info_text(const char *text);
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void msg_batch_begin(void);
void msg_batch_end(void);
void msg_replica_news(struct replica_handle *h, const char *meanwhile);

#endif
