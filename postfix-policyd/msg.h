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
 *	void msg_warn(const char *fmt, ...);
 *	void msg_fatal(const char *fmt, ...);
 * DESCRIPTION
 *	One line per event, to syslog (facility LOG_MAIL, the process id
 *	in each line) or, with to_stderr, to standard error as
 *	"name[pid]: warning: text". Warnings and fatal errors carry
 *	Postfix's "warning: " and "fatal: " prefixes, so that the lines
 *	read like the rest of the mail log. msg_fatal() logs and exits
 *	with status 1. Callers make untrusted values printable first
 *	(policy_printable()).
 */

#include <stdbool.h>

void msg_init(const char *name, bool to_stderr);
void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#endif
