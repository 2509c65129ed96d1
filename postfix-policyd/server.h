#ifndef MAILGRANTS_POLICYD_SERVER_H
#define MAILGRANTS_POLICYD_SERVER_H

/*
 * NAME
 *	server - the policy daemon's connections and event loop
 * SYNOPSIS
 *	#include "server.h"
 *
 *	struct server *server_create(const struct server_settings *set);
 *	int server_listen(struct server *srv, const char *spec,
 *			  const char **error_r);
 *	void server_replica_check(struct server *srv, bool force);
 *	int server_run(struct server *srv);
 *	int server_run_stdio(struct server *srv, int in_fd, int out_fd);
 *	void server_free(struct server **srvp);
 * DESCRIPTION
 *	server_listen() opens a listening socket, "unix:PATH" or
 *	"inet:HOST:PORT" (HOST may be "[v6addr]"), before privileges are
 *	dropped. server_run() serves every listener with one epoll loop
 *	until SIGTERM or SIGINT; server_run_stdio() serves one client on
 *	two file descriptors (Postfix spawn(8)) until it disconnects.
 *
 *	Each connection reads requests with the policy-proto parser and
 *	answers them in order; a connection that sends bad input, stops
 *	in the middle of a request for longer than the timeout, or does
 *	not take its replies within the timeout is logged and closed
 *	without a reply to the request at hand. A connection that is
 *	idle between requests is closed after idle_timeout.
 *
 *	The replica is kept by lib/replica-handle.c: opened at start,
 *	then checked at most once a second (re-attached and re-validated
 *	when the file changed in any way, retried when missing, judged
 *	by replica_max_age); a query that fails on it closes it until
 *	the next check. Meanwhile every request that needs it gets
 *	DEFER_IF_PERMIT 4.3.0. server_replica_check() does that check
 *	now (force: even if one was done this second).
 *
 *	SIGUSR1 logs the counters; SIGHUP checks the replica at once.
 */

#include <stdbool.h>

#include "config.h"

struct server_settings {
	const struct config *cfg;
	unsigned int timeout;		/* seconds for a request or reply */
	unsigned int idle_timeout;	/* seconds between requests */
	unsigned int max_connections;
};

struct server;

struct server *server_create(const struct server_settings *set);
int server_listen(struct server *srv, const char *spec, const char **error_r);
void server_replica_check(struct server *srv, bool force);
int server_run(struct server *srv);
int server_run_stdio(struct server *srv, int in_fd, int out_fd);
void server_free(struct server **srvp);

#endif
