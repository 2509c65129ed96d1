#ifndef MAILGRANTS_DAEMON_H
#define MAILGRANTS_DAEMON_H

/*
 * NAME
 *	daemon - what every mailgrants daemon does before it serves
 * SYNOPSIS
 *	#include "daemon.h"
 *
 *	int daemon_drop_privileges(const char *user, const char **error_r);
 *
 *	int daemon_reads_secret(const char *path, const char **error_r);
 *
 *	struct option options[] = { DAEMON_OPTIONS, ... };
 *	int daemon_option(struct daemon_options *opts, int opt,
 *			  const char *arg);
 *	void daemon_usage(int status, const char *usage);
 *	unsigned int daemon_number(const char *name, const char *opt,
 *				   const char *value);
 *	int daemon_config_read(const char *path, struct config **cfg_r,
 *			       const char **error_r);
 * DESCRIPTION
 *	daemon_drop_privileges() becomes "user" for good, in one place
 *	and in one order: setgid, initgroups, setuid, then a check that
 *	root cannot be regained. With user NULL it only refuses root: a
 *	process running as root (real or effective uid 0) gets an error.
 *	A user that is root itself is refused too. Already running as
 *	that user (started by systemd with User=) is fine.
 *
 *	Returns 0, or -1 with an error text (error_printf()): the caller
 *	logs it and exits, since serving with the wrong identity is never
 *	right.
 *
 *	daemon_reads_secret() says whether this process, after the drop,
 *	can open the file at path (the directory bind password) for
 *	reading: 1 with a text that says why that is wrong, else 0. A
 *	reader of the replica should have no access to it (README,
 *	"Identities"); the daemons warn, and keep serving mail.
 *
 *	DAEMON_OPTIONS are the getopt_long() entries both daemons take:
 *	-c/--config, --listen, --user, --foreground, --timeout and
 *	--help; a daemon's own options count from DAEMON_OPT_OWN.
 *	daemon_option() stores -c, --user and --foreground in opts and
 *	returns 1, or returns 0 for any other option (the caller's).
 *	daemon_number() is the value of a numeric option, from 1 to
 *	INT_MAX; anything else is a usage error: it says so on standard
 *	error, "NAME: --OPT: not a positive number: VALUE", and exits 1.
 *	daemon_usage() prints the usage text, to standard output for
 *	--help (status 0), else to standard error, and exits with status.
 *
 *	daemon_config_read() is config_read() with the hint a daemon's
 *	start-up error gives (mailgrants.conf(5), and -c FILE when the
 *	file does not exist). Returns 0, or -1 with error_r.
 */

#include <getopt.h>
#include <stdbool.h>

#include "config.h"

enum {
	DAEMON_OPT_LISTEN = 256,
	DAEMON_OPT_USER,
	DAEMON_OPT_FOREGROUND,
	DAEMON_OPT_TIMEOUT,
	DAEMON_OPT_HELP,
	DAEMON_OPT_OWN,		/* a daemon's own options from here on */
};

#define DAEMON_OPTIONS \
	{ "config", required_argument, NULL, 'c' }, \
	{ "listen", required_argument, NULL, DAEMON_OPT_LISTEN }, \
	{ "user", required_argument, NULL, DAEMON_OPT_USER }, \
	{ "foreground", no_argument, NULL, DAEMON_OPT_FOREGROUND }, \
	{ "timeout", required_argument, NULL, DAEMON_OPT_TIMEOUT }, \
	{ "help", no_argument, NULL, DAEMON_OPT_HELP }

struct daemon_options {
	const char *config_path;	/* CONFIG_DEFAULT_PATH to start */
	const char *user;		/* NULL: none given */
	bool foreground;
};

int daemon_drop_privileges(const char *user, const char **error_r);
int daemon_reads_secret(const char *path, const char **error_r);
int daemon_option(struct daemon_options *opts, int opt, const char *arg);
void daemon_usage(int status, const char *usage) __attribute__((noreturn));
unsigned int daemon_number(const char *name, const char *opt,
			   const char *value);
int daemon_config_read(const char *path, struct config **cfg_r,
		       const char **error_r);

#endif
