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
 *	int server_run(struct server *srv);
 *	int server_run_stdio(struct server *srv, int in_fd, int out_fd);
 *	void server_free(struct server **srvp);
 * DESCRIPTION
 *	The loop knows the framing of the requests, not what they mean:
 *	it hands each complete request to the service in the settings,
 *	as Postfix daemons hand theirs to multi_server_main(), and sends
 *	back the reply the service wrote.
 *
 *	server_listen() opens a listening socket (listen.h), "unix:PATH"
 *	or "inet:HOST:PORT", before privileges are dropped; with the
 *	prefix "socketmap:" its connections speak Postfix socketmap(5)
 *	instead of policy delegation. server_run() serves every listener
 *	with one epoll loop until SIGTERM or SIGINT; server_run_stdio()
 *	serves one client on two file descriptors (Postfix spawn(8)) until
 *	it disconnects.
 *
 *	A policy delegation connection reads requests with the
 *	policy-proto parser; answer() writes the action for each, the
 *	loop sends "action=TEXT" and the empty line. A socketmap
 *	connection reads netstrings "LEN:NAME KEY,"; lookup() writes the
 *	reply text ("OK value", "NOTFOUND ", ...), the loop sends it as a
 *	netstring. Both return what snprintf() returned: a reply that did
 *	not fit is replaced by a temporary error ("DEFER_IF_PERMIT 4.3.0
 *	internal error", "TEMP internal error"), never sent in part.
 *
 *	Replies go out in the order the requests were read. A connection
 *	that sends bad input, stops in the middle of a request for
 *	longer than the timeout, or does not take its replies within the
 *	timeout is logged and closed without a reply to the request at
 *	hand. A connection that is idle between requests is closed after
 *	idle_timeout.
 *
 *	One epoll pass reads every connection that has input first, then
 *	decides: prepare() (optional) is given the first complete request
 *	of each of those connections at once, before any of them is
 *	answered, so that the service can fetch what they will read side
 *	by side; then answer() is called for each request, connection by
 *	connection.
 *
 *	event() hears about the loop: SERVER_EVENT_PASS_BEGIN and
 *	SERVER_EVENT_PASS_END around the events of one epoll pass (not in
 *	server_run_stdio()), SERVER_EVENT_TICK at least every 200 ms,
 *	SERVER_EVENT_RELOAD on SIGHUP, SERVER_EVENT_REPORT on SIGUSR1 with
 *	the loop's own counters in stats (NULL for the other events).
 */

#include <stdbool.h>
#include <stddef.h>

#include "policy-proto.h"

/* The room answer() and lookup() have for their reply. */
#define SERVER_REPLY_MAX 1024

enum server_event {
	SERVER_EVENT_PASS_BEGIN,
	SERVER_EVENT_PASS_END,
	SERVER_EVENT_TICK,
	SERVER_EVENT_RELOAD,
	SERVER_EVENT_REPORT,
};

struct server_stats {
	unsigned long errors;		/* bad input, I/O errors, timeouts */
	unsigned long timeouts;
	unsigned long connections;	/* accepted since the start */
	unsigned int active;		/* open now */
};

typedef int server_answer_fn(void *context, const struct policy_request *req,
			     char *reply, size_t size);
typedef int server_lookup_fn(void *context, const char *query, size_t len,
			     char *reply, size_t size);
typedef void server_event_fn(void *context, enum server_event event,
			     const struct server_stats *stats);
typedef void server_prepare_fn(void *context,
			       const struct policy_request *const *reqs,
			       size_t count);

struct server_settings {
	unsigned int timeout;		/* seconds for a request or reply */
	unsigned int idle_timeout;	/* seconds between requests */
	unsigned int max_connections;
	/* The service. */
	void *context;
	server_answer_fn *answer;	/* a policy delegation request */
	server_lookup_fn *lookup;	/* a socketmap query */
	server_event_fn *event;
	server_prepare_fn *prepare;	/* may be NULL */
};

struct server;

struct server *server_create(const struct server_settings *set);
int server_listen(struct server *srv, const char *spec, const char **error_r);
int server_run(struct server *srv);
int server_run_stdio(struct server *srv, int in_fd, int out_fd);
void server_free(struct server **srvp);

#endif
