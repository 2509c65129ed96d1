/*
 * NAME
 *	daemon - what every mailgrants daemon does before it serves
 * DESCRIPTION
 *	The start-up steps of mailgrants-policyd and mailgrants-milter,
 *	here so that both share one copy: the common options, the
 *	configuration, the privilege drop. There is no chroot: the
 *	replica is reopened when sync replaces it, so its directory must
 *	stay reachable.
 * SEE ALSO
 *	daemon.h, Postfix src/util/chroot_uid.c
 */

#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "error.h"

/* daemon_fail - the error text, in error_printf()'s ring; -1 */
static int __attribute__((format(printf, 2, 3)))
daemon_fail(const char **error_r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	*error_r = error_vprintf(fmt, ap);
	va_end(ap);
	return -1;
}

/* daemon_drop_privileges - become the unprivileged user, or refuse root */
int daemon_drop_privileges(const char *user, const char **error_r)
{
	struct passwd *pw;

	if (user == NULL) {
		if (geteuid() == 0 || getuid() == 0)
			return daemon_fail(error_r, "refusing to serve as "
					   "root: start with --user NAME (an "
					   "unprivileged account that can "
					   "read the replica)");
		return 0;
	}
	errno = 0;
	if ((pw = getpwnam(user)) == NULL)
		return daemon_fail(error_r, "--user %s: no such user; create "
				   "it (adduser --system --group %s) or name "
				   "an existing unprivileged account", user,
				   user);
	if (pw->pw_uid == 0)
		return daemon_fail(error_r, "--user %s: is root; refusing to "
				   "serve as root: name an unprivileged "
				   "account that can read the replica", user);
	if (geteuid() != 0) {
		if (geteuid() == pw->pw_uid && getuid() == pw->pw_uid)
			return 0;
		return daemon_fail(error_r, "--user %s: only root can change "
				   "to that user; start as root or as %s "
				   "itself", user, user);
	}
	/* Group first: after setuid it could no longer be changed. */
	if (setgid(pw->pw_gid) < 0)
		return daemon_fail(error_r, "setgid(%ld): %s",
				   (long)pw->pw_gid, strerror(errno));
	if (initgroups(pw->pw_name, pw->pw_gid) < 0)
		return daemon_fail(error_r, "initgroups(%s): %s", pw->pw_name,
				   strerror(errno));
	if (setuid(pw->pw_uid) < 0)
		return daemon_fail(error_r, "setuid(%ld): %s",
				   (long)pw->pw_uid, strerror(errno));
	if (getuid() == 0 || geteuid() == 0 || setuid(0) == 0)
		return daemon_fail(error_r, "still root after dropping "
				   "privileges");
	return 0;
}

/* daemon_reads_secret - whether this identity can read the password */
int daemon_reads_secret(const char *path, const char **error_r)
{
	int fd;

	if (path == NULL || *path == '\0')
		return 0;
	/* Opening is the real test: ACLs and groups all count. */
	if ((fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC)) < 0)
		return 0;
	close(fd);
	daemon_fail(error_r, "uid %ld can read the directory bind password "
		    "(%s): a reader of the replica should not; run the "
		    "daemon as a user outside the sync's group, in "
		    "replica_group only (mailgrants check shows who can read "
		    "what)", (long)geteuid(), path);
	return 1;
}

/* daemon_option - the options every daemon takes; 1: taken, 0: not one */
int daemon_option(struct daemon_options *opts, int opt, const char *arg)
{
	switch (opt) {
	case 'c':
		opts->config_path = arg;
		return 1;
	case DAEMON_OPT_USER:
		opts->user = arg;
		return 1;
	case DAEMON_OPT_FOREGROUND:
		opts->foreground = true;
		return 1;
	default:
		return 0;
	}
}

/* daemon_usage - how to call it: --help (0) or a usage error */
void daemon_usage(int status, const char *usage)
{
	fputs(usage, status == 0 ? stdout : stderr);
	exit(status);
}

/* daemon_number - a positive option value, or exit with a usage error */
unsigned int daemon_number(const char *name, const char *opt,
			   const char *value)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || n == 0 ||
	    n > INT_MAX) {
		fprintf(stderr, "%s: --%s: not a positive number: %s\n", name,
			opt, value);
		exit(1);
	}
	return (unsigned int)n;
}

/* daemon_config_read - the configuration, or a start-up error with a hint */
int daemon_config_read(const char *path, struct config **cfg_r,
		       const char **error_r)
{
	const char *error;

	if (config_read(path, cfg_r, &error) == 0)
		return 0;
	*error_r = error_printf("%s (see mailgrants.conf(5)%s)", error,
				access(path, F_OK) < 0 ?
				"; another file with -c FILE" : "");
	return -1;
}
