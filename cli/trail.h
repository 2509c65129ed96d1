#ifndef MAILGRANTS_TRAIL_H
#define MAILGRANTS_TRAIL_H

/*
 * NAME
 *	trail - the audit trail: share changes written, questions answered
 * SYNOPSIS
 *	#include "trail.h"
 *
 *	const char *trail_share_line(const struct config *cfg,
 *				     struct audit_line *a,
 *				     const struct trail_share *t,
 *				     const char *dn, const char *rights,
 *				     enum ldapshare_change what);
 *	void trail_write(const struct config *cfg, const char *line);
 *
 *	int cmd_audit(const struct config *cfg, int argc, char **argv);
 *	void trail_print_usage(FILE *fp);
 * DESCRIPTION
 *	trail_share_line() is the audit line (lib/audit.h) of one share
 *	entry written by "mailgrants share", "unshare" or the share
 *	service: event=share, the entry's DN (the replica's form, as
 *	rights_decide() names it), the action (add, change, remove,
 *	remove_grantee), who acted, through what, the mailbox and the
 *	grantee as asked, the rights and, when known, the window. It
 *	never holds a password: none is passed to it.
 *
 *	trail_write() writes a line of "mailgrants share" or "unshare":
 *	to syslog (facility mail, identifier "mailgrants"), or appended
 *	to cfg->audit_log when that is set. The share service logs its
 *	lines on standard error, as its other lines.
 *
 *	cmd_audit() is "mailgrants audit sent" and "mailgrants audit
 *	access" (mailgrants(1)): it reads the audit lines from the files
 *	given with --file (".gz" ones through gzip -dc) or, without
 *	--file, from the journal (journalctl -o cat, the identifiers of
 *	the daemons and the command), and skips every line that is not
 *	an audit line. Exit status 0 answered, 1 usage, 2 a log or the
 *	replica could not be read.
 * SEE ALSO
 *	audit.h, ldapshare.h, mailgrants(1)
 */

#include <stdio.h>
#include <time.h>

#include "audit.h"
#include "config.h"
#include "ldapshare.h"

struct trail_share {
	const char *via;	/* share, unshare, share-service */
	const char *login;	/* who acted; NULL: the configured identity */
	const char *mailbox;	/* as asked; NULL: the acting user's own */
	const char *grantee;	/* as asked */
	time_t not_before, not_after;	/* 0: not known or open */
};

const char *trail_share_line(const struct config *cfg, struct audit_line *a,
			     const struct trail_share *t, const char *dn,
			     const char *rights, enum ldapshare_change what);
void trail_write(const struct config *cfg, const char *line);
int cmd_audit(const struct config *cfg, int argc, char **argv);
void trail_print_usage(FILE *fp);

#endif
