#ifndef MAILGRANTS_SETUP_DIR_H
#define MAILGRANTS_SETUP_DIR_H

/*
 * NAME
 *	setup-dir - mailgrants setup-directory
 * SYNOPSIS
 *	#include "setup-dir.h"
 *
 *	int cmd_setup_directory(int argc, char **argv);
 *	void setup_dir_print_usage(FILE *fp);
 * DESCRIPTION
 *	argv[0] is the command's name, the options follow. It needs no
 *	mailgrants.conf: it runs before there is one (README, step 2).
 *	Returns the exit status: 0 done, 1 usage error or refused, 2
 *	slapd unavailable.
 */

#include <stdio.h>

int cmd_setup_directory(int argc, char **argv);
void setup_dir_print_usage(FILE *fp);

#endif
