#ifndef MAILGRANTS_SHARE_SERVICE_H
#define MAILGRANTS_SHARE_SERVICE_H

/*
 * NAME
 *	share-service - mailgrants share-service
 * SYNOPSIS
 *	#include "share-service.h"
 *
 *	int cmd_share_service(const struct config *cfg, int argc,
 *			      char **argv);
 *	void share_service_print_usage(FILE *fp);
 * DESCRIPTION
 *	The service the imap_mailgrants plugin hands SETACL and DELETEACL
 *	to (share-service.c has the protocol). cmd_share_service() returns
 *	only on an error: 1 usage, 2 the socket could not be served.
 * SEE ALSO
 *	share-service.c, ldapshare.h, mailgrants(1)
 */

#include <stdio.h>

#include "config.h"

int cmd_share_service(const struct config *cfg, int argc, char **argv);
void share_service_print_usage(FILE *fp);

#endif
