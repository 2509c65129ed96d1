#ifndef MAILGRANTS_SYNC_H
#define MAILGRANTS_SYNC_H

/*
 * NAME
 *	sync - the whole directory into the replica
 * SYNOPSIS
 *	#include "sync.h"
 *
 *	int sync_full(const struct config *cfg, const char *password,
 *		      const char *mode, const char *cookie, bool verbose,
 *		      const char **error_r);
 * DESCRIPTION
 *	sync_full() reads the whole directory into the replica (one
 *	transaction; the previous replica stays when anything fails),
 *	recording the sync mode, the RFC 4533 cookie and the heartbeat
 *	given with it. A skipped entry is one warning line on stderr
 *	with its DN and the reason. With verbose, the counts go to
 *	stdout. "sync --once" (cli/mailgrants.c) and "sync --follow"
 *	(cli/follow.c) both call it; it calls neither.
 */

#include <stdbool.h>

#include "config.h"

int sync_full(const struct config *cfg, const char *password,
	      const char *mode, const char *cookie, bool verbose,
	      const char **error_r);

#endif
