#ifndef MAILGRANTS_POLICYD_SERVICE_H
#define MAILGRANTS_POLICYD_SERVICE_H

/*
 * NAME
 *	service - what mailgrants-policyd answers: decisions and lookups
 * SYNOPSIS
 *	#include "service.h"
 *
 *	struct service *service_create(const struct config *cfg);
 *	void service_replica_check(struct service *svc, bool force);
 *	void service_hook(struct service *svc, struct server_settings *set);
 *	void service_free(struct service **svcp);
 * DESCRIPTION
 *	The policy daemon's service, handed to the event loop (server.h)
 *	as Postfix daemons hand theirs to multi_server_main().
 *	service_hook() fills in the settings' callbacks:
 *
 *	A policy delegation request is decided by policy_decide() on the
 *	replica, logged as one line and counted; in a protocol state
 *	before MAIL FROM (check_policy_service in the wrong restriction
 *	list) there is no sender, and the answer is DEFER_IF_PERMIT
 *	4.3.5 with a warning, since DUNNO would disable the check.
 *
 *	A socketmap query "NAME KEY" is answered from the replica's
 *	recipient tables (recipient.h): "OK primary", "NOTFOUND ", "PERM"
 *	for an unknown map or a bad query, "TEMP" while the replica is
 *	unavailable (Postfix then answers 4xx: a recipient is never
 *	refused for want of the replica).
 *
 *	The replica is kept by lib/replica-handle.c: opened when the
 *	service is created, then checked at most once a second (on the
 *	loop's ticks; SIGHUP forces a check), closed until the next check
 *	when a query fails on it. Meanwhile every request that needs it
 *	gets DEFER_IF_PERMIT 4.3.0. Each pass of the event loop decides
 *	its requests in one read transaction of the replica.
 *	service_replica_check() does that check now (force: even if one
 *	was done this second); main() calls it once privileges are gone.
 *
 *	SIGUSR1 logs the counters, the server's and the service's.
 * SEE ALSO
 *	server.h, policy.h, recipient.h, replica-handle.h
 */

#include <stdbool.h>

#include "config.h"
#include "server.h"

struct service;

struct service *service_create(const struct config *cfg);
void service_replica_check(struct service *svc, bool force);
void service_hook(struct service *svc, struct server_settings *set);
void service_free(struct service **svcp);

#endif
