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
 *	void share_print_usage(FILE *fp);
 * DESCRIPTION
 *	argv[0] is the command's name, the options and operands follow.
 *	Both return the exit status: 0 done, 1 usage error or refused by
 *	the directory, 2 directory unavailable (also a refused bind).
 *	The options are checked (rights letters, the name, the times and
 *	the window) before the directory is asked anything.
 *	share_print_usage() writes the synopsis of both to fp.
 * SEE ALSO
 *	ldapshare.h, gentime.h, mailgrants(1)
 */

#include <stdio.h>

#include "config.h"

void share_print_usage(FILE *fp);
int cmd_share(const struct config *cfg, int argc, char **argv);
int cmd_unshare(const struct config *cfg, int argc, char **argv);

#endif
