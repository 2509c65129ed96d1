#ifndef MAILGRANTS_CLI_H
#define MAILGRANTS_CLI_H

/*
 * NAME
 *	cli - what the mailgrants commands share
 * DESCRIPTION
 *	progname, cli_vlog() (an error line: "progname: [what: ]text"),
 *	cli_error() (that line, then the exit status it was given to
 *	return), cli_print_printable(), the one way the commands print
 *	untrusted text, and cli_probe_wait() (the exit status 0..254 of
 *	a child that probed access under other ids; -1 when it could not
 *	be made: fork failed, the child died or exited 255) are
 *	cli/cli.c's; sync_full() is in sync.h.
 *	cmd_follow() is "mailgrants sync --follow" (cli/follow.c).
 *	check_identities() is the part of "mailgrants check" that tests
 *	what the writer and each reader can read and write
 *	(cli/check-ids.c); it returns the number of problems.
 *	check_front_ends() is "check --front-ends" (cli/check-fe.c).
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "config.h"
#include "replica.h"

#define EXIT_ANSWERED 0
#define EXIT_USAGE 1
#define EXIT_UNAVAILABLE 2

/* The follower's liveness (cli/follow.c): every FOLLOW_HEARTBEAT_S it
   asks the directory something cheap, and each answer is a heartbeat in
   the replica; a probe not answered within FOLLOW_PROBE_TIMEOUT_S ends
   the connection and marks the replica not live. A directory that
   stops answering is so noticed within their sum. */
#define FOLLOW_HEARTBEAT_S 5
#define FOLLOW_PROBE_TIMEOUT_S 5

extern const char *progname;

void cli_vlog(const char *what, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
int cli_error(int status, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cli_print_printable(FILE *fp, const char *s);
int cli_probe_wait(pid_t pid);
int cmd_follow(const struct config *cfg, const char *password);
unsigned int check_identities(const struct config *cfg);

/* check --front-ends (cli/check-fe.c): Postfix's and Dovecot's own
   configuration, read with postconf/doveconf -c when the directories
   are given, NULL for their defaults; sample: how many of the
   replica's addresses are looked up at most */
struct check_fe_options {
	const char *postfix_dir;
	const char *dovecot_conf;
	unsigned int sample;
};

unsigned int check_front_ends(const struct config *cfg,
			      const struct check_fe_options *opt);

#endif
