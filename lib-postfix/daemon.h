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
 * DESCRIPTION
 *	daemon_drop_privileges() becomes "user" for good, in one place
 *	and in one order: setgid, initgroups, setuid, then a check that
 *	root cannot be regained. With user NULL it only refuses root: a
 *	process running as root (real or effective uid 0) gets an error.
 *	A user that is root itself is refused too. Already running as
 *	that user (started by systemd with User=) is fine.
 *
 *	Returns 0, or -1 with a static error text: the caller logs it
 *	and exits, since serving with the wrong identity is never right.
 *
 *	daemon_reads_secret() says whether this process, after the drop,
 *	can open the file at path (the directory bind password) for
 *	reading: 1 with a text that says why that is wrong, else 0. A
 *	reader of the replica should have no access to it (README,
 *	"Identities"); the daemons warn, and keep serving mail.
 */

int daemon_drop_privileges(const char *user, const char **error_r);
int daemon_reads_secret(const char *path, const char **error_r);

#endif
