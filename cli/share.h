#ifndef MAILGRANTS_SHARE_H
#define MAILGRANTS_SHARE_H

/*
 * NAME
 *	share - mailgrants share and mailgrants unshare
 * SYNOPSIS
 *	#include "share.h"
 *
 *	int cmd_share(const struct config *cfg, int argc, char **argv);
 *	int cmd_unshare(const struct config *cfg, int argc, char **argv);
 * DESCRIPTION
 *	argv[0] is the command's name, the options and operands follow.
 *	Both return the exit status: 0 done, 1 usage error or refused by
 *	the directory, 2 directory unavailable (also a refused bind).
 */

#include "config.h"

int cmd_share(const struct config *cfg, int argc, char **argv);
int cmd_unshare(const struct config *cfg, int argc, char **argv);

#endif
