/*
 * NAME
 *	server - the policy daemon's connections and event loop
 * DESCRIPTION
 *	One thread, one epoll loop, level-triggered. A connection reads
 *	at most one buffer per wake-up, so a client that pipelines many
 *	requests cannot starve the others; replies are appended to the
 *	connection's output in the order the requests were read, and
 *	reading pauses while too much output waits for the client.
 *
 *	Timers are checked every SWEEP_INTERVAL_MS by walking the connections:
 *	simpler than a timer wheel, and cheap at the few hundred
 *	connections a Postfix installation opens.
 * SEE ALSO
 *	server.h, policy-proto.h, policy.h
 */

#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "msg.h"
#include "policy-proto.h"
#include "policy.h"
#include "recipient.h"
#include "replica-handle.h"
#include "replica.h"
#include "xalloc.h"

#define SERVER_LISTEN_MAX 8
#define CONN_IN_SIZE 16384	/* more than POLICY_LINE_MAX + CR LF */
#define CONN_OUT_PAUSE 65536	/* stop reading while this much waits */
#define SWEEP_INTERVAL_MS 200	/* how often timers are checked */

struct conn {
	struct conn *prev, *next;
	int in_fd, out_fd;
	char peer[96];
	char in[CONN_IN_SIZE];
	size_t in_len;
	char *out;
	size_t out_len, out_pos, out_size;
	struct policy_parser parser;
	long long request_start;	/* ms; 0: between requests */
	long long out_since;	/* ms; 0: nothing waits to be written */
	long long last_io;	/* ms */
	bool eof;		/* client finished sending */
	bool socketmap;		/* Postfix socketmap, not policy requests */
	unsigned int events;	/* what epoll watches now */
};

struct listener {
	int fd;
	bool socketmap;		/* its connections speak socketmap */
	char *unix_path;	/* to unlink at exit */
};

struct server_counters {
	unsigned long requests, dunno, reject, defer;
	unsigned long errors, timeouts, connections;
	unsigned long lookups, lookups_temp;
};

struct server {
	struct server_settings set;
	struct listener listeners[SERVER_LISTEN_MAX];
	unsigned int listener_count;
	bool listening;		/* listeners are in the epoll set */
	int epoll_fd, signal_fd;
	struct conn *conns;
	unsigned int conn_count;
	struct server_counters count;

	struct replica_handle *replica;	/* lib/replica-handle.c */
	bool stop;
};

/* server_clock_ms - monotonic milliseconds, for the timers (never 0) */
static long long server_clock_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;
}

/* server_create - a server with no listeners yet */
struct server *server_create(const struct server_settings *set)
{
	struct server *srv = xcalloc(1, sizeof(*srv));
	sigset_t mask;

	srv->set = *set;
	srv->epoll_fd = -1;
	replica_handle_open(set->cfg->replica, set->cfg->replica_max_age,
			    &srv->replica);
	/* Signals arrive as events; a client gone away is an EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		msg_fatal("sigprocmask: %m");
	srv->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (srv->signal_fd < 0)
		msg_fatal("signalfd: %m");
	return srv;
}

/* server_listen_unix - a UNIX-domain listener */
static int server_listen_unix(const char *path, int *fd_r,
			      const char **error_r)
{
	static char error[512];
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (path[0] == '\0' || strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(error, sizeof(error),
			 "unix:%s: socket path empty or too long", path);
		*error_r = error;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	/* A socket left behind by an earlier run; anything else stays. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		(void)unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* Mode 0666 from the start (no chmod by name afterwards, which a
	   symlink swapped in could redirect): who may connect is decided
	   by the directory the socket is in (Postfix's private/ is 0700
	   postfix). */
	mode_t old_umask = umask(0111);
	int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (fd < 0 || rc < 0 || listen(fd, SOMAXCONN) < 0) {
		snprintf(error, sizeof(error), "unix:%s: %s", path,
			 strerror(errno));
		*error_r = error;
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*fd_r = fd;
	return 0;
}

/* server_listen_inet - a TCP listener */
static int server_listen_inet(const char *hostport, int *fd_r,
			      const char **error_r)
{
	static char error[512];
	char host[256];
	const char *port, *h = hostport;
	size_t hlen;
	struct addrinfo hints, *res = NULL;
	int fd = -1, on = 1, rc;

	if (h[0] == '[') {
		const char *end = strchr(h, ']');

		if (end == NULL || end[1] != ':')
			goto syntax;
		h++;
		hlen = (size_t)(end - h);
		port = end + 2;
	} else {
		const char *colon = strrchr(h, ':');

		if (colon == NULL)
			goto syntax;
		hlen = (size_t)(colon - h);
		port = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host) || port[0] == '\0')
		goto syntax;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(error, sizeof(error), "inet:%s: %s", hostport,
			 gai_strerror(rc));
		*error_r = error;
		return -1;
	}
	fd = socket(res->ai_family,
		    res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		snprintf(error, sizeof(error), "inet:%s: %s", hostport,
			 strerror(errno));
		*error_r = error;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	*fd_r = fd;
	return 0;
syntax:
	snprintf(error, sizeof(error),
		 "inet:%s: expected inet:HOST:PORT or inet:[ADDR]:PORT",
		 hostport);
	*error_r = error;
	return -1;
}

/* server_listen - open a listener from "unix:PATH" or "inet:HOST:PORT" */
int server_listen(struct server *srv, const char *spec, const char **error_r)
{
	struct listener *l;
	int fd;

	if (srv->listener_count >= SERVER_LISTEN_MAX) {
		*error_r = "too many listeners";
		return -1;
	}
	l = &srv->listeners[srv->listener_count];
	l->socketmap = strncmp(spec, "socketmap:", 10) == 0;
	if (l->socketmap)
		spec += 10;
	if (strncmp(spec, "unix:", 5) == 0) {
		if (server_listen_unix(spec + 5, &fd, error_r) < 0)
			return -1;
		l->unix_path = xstrdup(spec + 5);
	} else if (strncmp(spec, "inet:", 5) == 0) {
		if (server_listen_inet(spec + 5, &fd, error_r) < 0)
			return -1;
		l->unix_path = NULL;
	} else {
		*error_r = "listen address must start with unix: or inet:";
		return -1;
	}
	l->fd = fd;
	srv->listener_count++;
	return 0;
}

/* server_replica_log - say what changed about the replica, if anything */
static void server_replica_log(struct server *srv)
{
	const char *text;

	switch (replica_handle_news(srv->replica, time(NULL), &text)) {
	case REPLICA_HANDLE_LOST:
		msg_warn("%s; answering DEFER_IF_PERMIT until it is "
			 "available", text);
		break;
	case REPLICA_HANDLE_BACK:
		msg_info("%s", text);
		break;
	case REPLICA_HANDLE_QUIET:
		break;
	}
}

/* server_replica_check - open, re-attach, re-validate or retry */
void server_replica_check(struct server *srv, bool force)
{
	const char *error;

	(void)replica_handle_check(srv->replica, time(NULL), force, &error);
	server_replica_log(srv);
}

/* server_rep - the replica for the decisions, or NULL */
static struct replica *server_rep(struct server *srv)
{
	return replica_handle_replica(srv->replica);
}

/* server_replica_failed - a query failed: drop the replica, retry later */
static void server_replica_failed(struct server *srv, const char *error)
{
	replica_handle_failed(srv->replica, error);
	server_replica_log(srv);
}

/* conn_create - a connection on in_fd/out_fd */
static struct conn *conn_create(struct server *srv, int in_fd, int out_fd,
				const char *peer)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->in_fd = in_fd;
	c->out_fd = out_fd;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	policy_parser_init(&c->parser);
	c->last_io = server_clock_ms();
	c->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = c;
	srv->conns = c;
	srv->conn_count++;
	srv->count.connections++;
	return c;
}

/* conn_free - close a connection and forget it */
static void conn_free(struct server *srv, struct conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	srv->conn_count--;
	if (srv->epoll_fd >= 0)
		(void)epoll_ctl(srv->epoll_fd, EPOLL_CTL_DEL, c->in_fd, NULL);
	if (c->in_fd > STDERR_FILENO)
		close(c->in_fd);
	if (c->out_fd != c->in_fd && c->out_fd > STDERR_FILENO)
		close(c->out_fd);
	policy_parser_deinit(&c->parser);
	free(c->out);
	free(c);
}

/* conn_append - queue reply text */
static void conn_append(struct conn *c, const char *text, size_t len,
			long long now)
{
	if (c->out_pos > 0 && c->out_pos == c->out_len)
		c->out_pos = c->out_len = 0;
	if (c->out_len + len > c->out_size) {
		c->out_size = (c->out_len + len) * 2;
		c->out = xrealloc(c->out, c->out_size);
	}
	memcpy(c->out + c->out_len, text, len);
	c->out_len += len;
	if (c->out_since == 0)
		c->out_since = now;
}

/* conn_pending - bytes of reply not yet written */
static size_t conn_pending(const struct conn *c)
{
	return c->out_len - c->out_pos;
}

/* server_state_wants_sender - can this protocol state carry a sender? */
static bool server_state_wants_sender(const char *state)
{
	static const char *const early[] = {
		"CONNECT", "EHLO", "HELO", "VRFY", "ETRN",
	};
	size_t i;

	if (state == NULL)
		return true;
	for (i = 0; i < sizeof(early) / sizeof(early[0]); i++)
		if (strcasecmp(state, early[i]) == 0)
			return false;
	return true;
}

/* server_answer - decide one complete request and queue the reply */
static void server_answer(struct server *srv, struct conn *c, long long now)
{
	const struct policy_request *req = &c->parser.req;
	struct policy_decision d;
	char login[300], sender[300], client[100], queue_id[100];
	char line[POLICY_REPLY_MAX + 16];
	const char *reason;
	int n;

	srv->count.requests++;
	if (!server_state_wants_sender(req->protocol_state)) {
		/* Before MAIL FROM there is no sender to check; DUNNO here
		   would silently disable the check. */
		memset(&d, 0, sizeof(d));
		d.action = POLICY_ACTION_DEFER_IF_PERMIT;
		snprintf(d.reply, sizeof(d.reply), "DEFER_IF_PERMIT 4.3.5 "
			 "sender check misconfigured; please try again later");
		reason = "no_sender_in_this_state";
		msg_warn("request in protocol state %s has no sender: use "
			 "check_policy_service in smtpd_sender_restrictions "
			 "or later", req->protocol_state);
	} else {
		if (policy_decide(server_rep(srv), srv->set.cfg,
				  req->sasl_username, req->sender, time(NULL),
				  &d) < 0)
			server_replica_failed(srv, d.detail);
		reason = policy_reason_name(d.reason);
	}
	switch (d.action) {
	case POLICY_ACTION_DUNNO:
		srv->count.dunno++;
		break;
	case POLICY_ACTION_REJECT:
		srv->count.reject++;
		break;
	case POLICY_ACTION_DEFER_IF_PERMIT:
		srv->count.defer++;
		break;
	}
	policy_printable(req->sasl_username, login, sizeof(login));
	policy_printable(req->sender, sender, sizeof(sender));
	policy_printable(req->client_address, client, sizeof(client));
	policy_printable(req->queue_id, queue_id, sizeof(queue_id));
	msg_info("action=%s login=%s sender=<%s> client=%s queue_id=%s "
		 "reason=%s", policy_action_name(d.action),
		 login[0] != '\0' ? login : "-", sender,
		 client[0] != '\0' ? client : "-",
		 queue_id[0] != '\0' ? queue_id : "-", reason);
	n = snprintf(line, sizeof(line), "action=%s\n\n", d.reply);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		/* Cannot happen (the reply is bounded); never send half. */
		n = snprintf(line, sizeof(line), "action=DEFER_IF_PERMIT "
			     "4.3.0 internal error\n\n");
	}
	conn_append(c, line, (size_t)n, now);
}

static int conn_write(struct server *srv, struct conn *c, long long now);

/* server_lookup - answer one socketmap request "NAME KEY" */
static void server_lookup(struct server *srv, struct conn *c,
			  const char *req, size_t len, long long now)
{
	char name[16], key[ADDR_MAX + 1], value[ADDR_MAX], reply[ADDR_MAX + 64];
	char printable[ADDR_MAX];
	const char *space = memchr(req, ' ', len), *error = NULL;
	enum recipient_map map;
	size_t name_len = space != NULL ? (size_t)(space - req) : 0;
	size_t key_len = space != NULL ? len - name_len - 1 : 0;
	int n, found;
	bool failed = false;

	srv->count.lookups++;
	if (space == NULL || name_len >= sizeof(name) ||
	    memchr(req, '\0', len) != NULL) {
		n = snprintf(reply, sizeof(reply), "PERM bad request");
	} else if (key_len >= sizeof(key)) {
		/* Longer than any address the replica holds. */
		n = snprintf(reply, sizeof(reply), "NOTFOUND ");
	} else {
		memcpy(name, req, name_len);
		name[name_len] = '\0';
		memcpy(key, space + 1, key_len);
		key[key_len] = '\0';
		if (recipient_map_parse(name, &map) < 0) {
			found = -2;
		} else if (key[0] == '@' || strchr(key, '@') == NULL) {
			/* A domain (virtual_alias_domains defaults to
			   $virtual_alias_maps: trivial-rewrite asks with
			   "abc.com"), "@domain" or a bare local part is
			   never a replica key: no answer depends on the
			   replica, so none can be a temporary error that
			   Postfix's resolver caches. */
			found = 0;
		} else if (replica_handle_check(srv->replica, time(NULL),
						false, &error) != 1) {
			found = -1;
		} else {
			found = recipient_lookup(server_rep(srv), map, key,
						 srv->set.cfg->recipient_delimiter,
						 value, sizeof(value), &error);
			/* The text lives in the replica: drop it only after
			   it was logged below. */
			failed = found < 0;
		}
		if (found == -2)
			n = snprintf(reply, sizeof(reply), "PERM unknown map"
				     " (mailbox or alias)");
		else if (found < 0)
			/* Postfix answers 451 4.3.0 and the client retries:
			   a recipient is never refused for want of a
			   replica. */
			n = snprintf(reply, sizeof(reply), "TEMP replica"
				     " unavailable");
		else if (found > 0)
			n = snprintf(reply, sizeof(reply), "OK %s", value);
		else
			n = snprintf(reply, sizeof(reply), "NOTFOUND ");
		policy_printable(key, printable, sizeof(printable));
		if (found == -2) {
			srv->count.errors++;
			msg_warn("lookup %.15s <%s>: unknown map; answering"
				 " PERM", name, printable);
		} else if (found < 0) {
			srv->count.lookups_temp++;
			msg_warn("lookup %s <%s>: %s; answering TEMP", name,
				 printable, error != NULL ? error :
				 "replica unavailable");
		}
		if (failed)
			server_replica_failed(srv, error);
	}
	if (n < 0 || (size_t)n >= sizeof(reply))
		n = snprintf(reply, sizeof(reply), "TEMP internal error");
	/* A netstring: length, colon, text, comma. */
	char head[16];
	int h = snprintf(head, sizeof(head), "%d:", n);

	conn_append(c, head, (size_t)h, now);
	conn_append(c, reply, (size_t)n, now);
	conn_append(c, ",", 1, now);
}

/* conn_process_socketmap - netstrings "LEN:NAME KEY,"; -1: close */
static int conn_process_socketmap(struct server *srv, struct conn *c,
				  long long now)
{
	size_t off = 0;

	while (off < c->in_len) {
		size_t i = off, len = 0;

		while (i < c->in_len && i - off < 6 &&
		       c->in[i] >= '0' && c->in[i] <= '9')
			len = len * 10 + (size_t)(c->in[i++] - '0');
		if (i == c->in_len)
			break;		/* the length is still coming */
		if (i == off || c->in[i] != ':' ||
		    len > sizeof(c->in) - 16) {
			msg_warn("%s: not a socketmap netstring; closing"
				 " connection without reply", c->peer);
			srv->count.errors++;
			return -1;
		}
		if (c->in_len - (i + 1) < len + 1)
			break;		/* the rest is still coming */
		if (c->in[i + 1 + len] != ',') {
			msg_warn("%s: socketmap netstring without its comma;"
				 " closing connection without reply", c->peer);
			srv->count.errors++;
			return -1;
		}
		server_lookup(srv, c, c->in + i + 1, len, now);
		off = i + 1 + len + 1;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	c->request_start = c->in_len == 0 ? 0 :
		c->request_start != 0 ? c->request_start : now;
	return 0;
}

/* conn_process - parse what was read; -1: close the connection */
static int conn_process(struct server *srv, struct conn *c, long long now)
{
	size_t off = 0, used;
	const char *error;
	int ret;

	if (c->socketmap)
		return conn_process_socketmap(srv, c, now);

	while ((ret = policy_parser_feed(&c->parser, c->in + off,
					 c->in_len - off, &used,
					 &error)) == 1) {
		off += used;
		server_answer(srv, c, now);
		c->request_start = 0;
	}
	if (ret < 0) {
		msg_warn("%s: %s; closing connection without reply",
			 c->peer, error);
		srv->count.errors++;
		return -1;
	}
	off += used;
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	if (c->in_len == 0 && !policy_parser_busy(&c->parser))
		c->request_start = 0;
	else if (c->request_start == 0)
		c->request_start = now;
	return 0;
}

/* conn_read - read once; -1: close the connection */
static int conn_read(struct server *srv, struct conn *c, long long now)
{
	ssize_t n;

	n = read(c->in_fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		msg_warn("%s: read: %m", c->peer);
		srv->count.errors++;
		return -1;
	}
	c->last_io = now;
	if (n == 0) {
		c->eof = true;
		if (c->in_len > 0 || policy_parser_busy(&c->parser)) {
			msg_warn("%s: connection closed in the middle of a "
				 "request; no reply", c->peer);
			srv->count.errors++;
			return -1;
		}
		return 0;
	}
	c->in_len += (size_t)n;
	if (conn_process(srv, c, now) < 0) {
		/* The requests before the bad one were good: their replies
		   go out if the client takes them at once. */
		(void)conn_write(srv, c, now);
		return -1;
	}
	return 0;
}

/* conn_write - write what is queued; -1: close the connection */
static int conn_write(struct server *srv, struct conn *c, long long now)
{
	while (conn_pending(c) > 0) {
		ssize_t n;

		if (c->out_fd == c->in_fd)
			n = send(c->out_fd, c->out + c->out_pos,
				 conn_pending(c), MSG_NOSIGNAL);
		else
			n = write(c->out_fd, c->out + c->out_pos,
				  conn_pending(c));
		if (n < 0 && errno == ENOTSOCK)
			n = write(c->out_fd, c->out + c->out_pos,
				  conn_pending(c));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			msg_warn("%s: write: %m", c->peer);
			srv->count.errors++;
			return -1;
		}
		c->out_pos += (size_t)n;
		c->out_since = now;
		c->last_io = now;
	}
	c->out_pos = c->out_len = 0;
	c->out_since = 0;
	return 0;
}

/* conn_expired - check the connection's timers; true: close it */
static bool conn_expired(struct server *srv, struct conn *c, long long now)
{
	const char *what = NULL;

	if (c->request_start != 0 &&
	    now - c->request_start >= 1000LL * srv->set.timeout)
		what = "timeout while reading a request";
	else if (c->out_since != 0 &&
		 now - c->out_since >= 1000LL * srv->set.timeout)
		what = "timeout while writing a reply";
	if (what != NULL) {
		msg_warn("%s: %s; closing connection", c->peer, what);
		srv->count.timeouts++;
		srv->count.errors++;
		return true;
	}
	return c->request_start == 0 && c->out_since == 0 &&
	    now - c->last_io >= 1000LL * srv->set.idle_timeout;
}

/* server_log_counters - the SIGUSR1 report */
static void server_log_counters(struct server *srv)
{
	const struct server_counters *k = &srv->count;

	msg_info("statistics: requests=%lu dunno=%lu reject=%lu "
		 "defer_if_permit=%lu errors=%lu timeouts=%lu "
		 "connections=%lu active=%u replica=%s lookups=%lu"
		 " lookups_temp=%lu",
		 k->requests, k->dunno, k->reject, k->defer, k->errors,
		 k->timeouts, k->connections, srv->conn_count,
		 server_rep(srv) != NULL ? "open" : "unavailable",
		 k->lookups, k->lookups_temp);
}

/* server_signal - handle the signals that arrived */
static void server_signal(struct server *srv)
{
	struct signalfd_siginfo si;

	while (read(srv->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGUSR1:
			server_log_counters(srv);
			break;
		case SIGHUP:
			server_replica_check(srv, true);
			break;
		default:
			msg_info("terminating on signal %u", si.ssi_signo);
			srv->stop = true;
			break;
		}
	}
}

/* conn_update_events - watch for what the connection needs now */
static int conn_update_events(struct server *srv, struct conn *c)
{
	struct epoll_event ev;
	unsigned int want = 0;

	if (!c->eof && conn_pending(c) < CONN_OUT_PAUSE)
		want |= EPOLLIN;
	if (conn_pending(c) > 0)
		want |= EPOLLOUT;
	if (want == c->events)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = want;
	ev.data.ptr = c;
	if (epoll_ctl(srv->epoll_fd, EPOLL_CTL_MOD, c->in_fd, &ev) < 0) {
		msg_warn("%s: epoll_ctl: %m", c->peer);
		return -1;
	}
	c->events = want;
	return 0;
}

/* server_set_listening - watch the listeners or stop watching them */
static void server_set_listening(struct server *srv, bool on)
{
	unsigned int i;

	if (srv->listening == on)
		return;
	for (i = 0; i < srv->listener_count; i++) {
		struct epoll_event ev;

		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = &srv->listeners[i];
		if (epoll_ctl(srv->epoll_fd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL,
			      srv->listeners[i].fd, &ev) < 0)
			msg_fatal("epoll_ctl listener: %m");
	}
	srv->listening = on;
}

/* server_peer_name - a name for the log */
static void server_peer_name(int fd, const struct sockaddr_storage *ss,
			     char *buf, size_t size)
{
	char host[64], port[8];
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (ss->ss_family == AF_UNIX) {
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
			snprintf(buf, size, "unix peer pid=%ld uid=%ld",
				 (long)cred.pid, (long)cred.uid);
		else
			snprintf(buf, size, "unix peer");
		return;
	}
	if (getnameinfo((const struct sockaddr *)ss, sizeof(*ss), host,
			sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(buf, size, "inet peer");
	else
		snprintf(buf, size, "%s:%s", host, port);
}

/* server_accept - take the waiting connections of one listener */
static void server_accept(struct server *srv, struct listener *l)
{
	while (srv->conn_count < srv->set.max_connections) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct epoll_event ev;
		char peer[96];
		struct conn *c;
		int fd;

		fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				msg_warn("accept: %m");
			return;
		}
		server_peer_name(fd, &ss, peer, sizeof(peer));
		c = conn_create(srv, fd, fd, peer);
		c->socketmap = l->socketmap;
		memset(&ev, 0, sizeof(ev));
		ev.events = c->events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(srv->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			msg_warn("%s: epoll_ctl: %m", peer);
			conn_free(srv, c);
		}
	}
	msg_warn("%u connections open, the limit: not accepting more "
		 "until one closes", srv->conn_count);
	server_set_listening(srv, false);
}

/* server_is_listener - does this epoll cookie name a listener? */
static struct listener *server_is_listener(struct server *srv, void *ptr)
{
	unsigned int i;

	for (i = 0; i < srv->listener_count; i++)
		if (ptr == &srv->listeners[i])
			return &srv->listeners[i];
	return NULL;
}

/* server_conn_event - one epoll event on a connection */
static void server_conn_event(struct server *srv, struct conn *c,
			      unsigned int events, long long now)
{
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0 && !c->eof &&
	    conn_read(srv, c, now) < 0)
		goto close;
	if (conn_write(srv, c, now) < 0)
		goto close;
	/* The client has finished; close once its replies are out. */
	if (c->eof && conn_pending(c) == 0)
		goto close;
	if (conn_update_events(srv, c) < 0)
		goto close;
	return;
close:
	conn_free(srv, c);
}

/* server_sweep - every SWEEP_INTERVAL_MS: timers and the replica */
static void server_sweep(struct server *srv, long long now)
{
	struct conn *c, *next;

	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		if (conn_expired(srv, c, now))
			conn_free(srv, c);
	}
	server_replica_check(srv, false);
}

/* server_run - the epoll loop, until a signal asks to stop */
int server_run(struct server *srv)
{
	struct epoll_event events[64], ev;
	long long last_sweep = 0;

	srv->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epoll_fd < 0)
		msg_fatal("epoll_create1: %m");
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = srv;
	if (epoll_ctl(srv->epoll_fd, EPOLL_CTL_ADD, srv->signal_fd, &ev) < 0)
		msg_fatal("epoll_ctl signalfd: %m");
	server_set_listening(srv, true);
	while (!srv->stop) {
		const char *error;
		int n, i;
		long long now;

		n = epoll_wait(srv->epoll_fd, events, 64, SWEEP_INTERVAL_MS);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			msg_fatal("epoll_wait: %m");
		}
		now = server_clock_ms();
		/* Every request this pass reads is decided in one read
		   transaction: one view of the replica, the locking paid
		   once. A failure here is left to the decisions to meet. */
		bool batch = server_rep(srv) != NULL &&
			replica_read_begin(server_rep(srv), &error) == 0;
		for (i = 0; i < n; i++) {
			void *ptr = events[i].data.ptr;
			struct listener *l;

			if (ptr == srv)
				server_signal(srv);
			else if ((l = server_is_listener(srv, ptr)) != NULL)
				server_accept(srv, l);
			else
				server_conn_event(srv, ptr, events[i].events,
						  now);
		}
		/* A failed decision may have closed the replica meanwhile. */
		if (batch && server_rep(srv) != NULL &&
		    replica_read_end(server_rep(srv), &error) < 0)
			server_replica_failed(srv, error);
		if (now - last_sweep >= SWEEP_INTERVAL_MS) {
			server_sweep(srv, now);
			last_sweep = now;
		}
		if (!srv->listening &&
		    srv->conn_count < srv->set.max_connections)
			server_set_listening(srv, true);
	}
	return 0;
}

/* server_run_stdio - serve one client on in_fd/out_fd (spawn(8)) */
int server_run_stdio(struct server *srv, int in_fd, int out_fd)
{
	struct conn *c;
	int flags;
	int status = 0;

	/* Non-blocking output, so that the reply timeout holds. */
	flags = fcntl(out_fd, F_GETFL);
	if (flags < 0 || fcntl(out_fd, F_SETFL, flags | O_NONBLOCK) < 0)
		msg_fatal("fcntl: %m");
	c = conn_create(srv, in_fd, out_fd, "stdio client");
	while (!srv->stop) {
		struct pollfd pfd[2];
		long long now;
		int n;

		pfd[0].fd = conn_pending(c) > 0 ? out_fd : in_fd;
		pfd[0].events = conn_pending(c) > 0 ? POLLOUT : POLLIN;
		pfd[1].fd = srv->signal_fd;
		pfd[1].events = POLLIN;
		n = poll(pfd, 2, SWEEP_INTERVAL_MS);
		if (n < 0 && errno != EINTR)
			msg_fatal("poll: %m");
		now = server_clock_ms();
		if (n > 0 && pfd[1].revents != 0)
			server_signal(srv);
		if (n > 0 && pfd[0].revents != 0) {
			if (conn_pending(c) == 0 &&
			    conn_read(srv, c, now) < 0) {
				status = 1;
				break;
			}
			if (conn_write(srv, c, now) < 0) {
				status = 1;
				break;
			}
			if (c->eof && conn_pending(c) == 0)
				break;
		}
		if (conn_expired(srv, c, now)) {
			status = c->request_start != 0 || c->out_since != 0;
			break;
		}
		server_replica_check(srv, false);
	}
	conn_free(srv, c);
	return status;
}

/* server_free - close everything */
void server_free(struct server **srvp)
{
	struct server *srv = *srvp;
	unsigned int i;

	if (srv == NULL)
		return;
	*srvp = NULL;
	while (srv->conns != NULL)
		conn_free(srv, srv->conns);
	for (i = 0; i < srv->listener_count; i++) {
		close(srv->listeners[i].fd);
		/* May fail once privileges are gone; the next start
		   removes a stale socket anyway. */
		if (srv->listeners[i].unix_path != NULL)
			(void)unlink(srv->listeners[i].unix_path);
		free(srv->listeners[i].unix_path);
	}
	if (srv->epoll_fd >= 0)
		close(srv->epoll_fd);
	close(srv->signal_fd);
	replica_handle_close(&srv->replica);
	free(srv);
}
