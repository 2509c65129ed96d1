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
 *
 *	What a request means is the service's (server.h): the loop frames
 *	requests and replies and knows nothing of the policy.
 * SEE ALSO
 *	server.h, listen.h, policy-proto.h, socketmap.h,
 *	Postfix src/master/multi_server.c
 */

#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "listen.h"
#include "msg.h"
#include "policy-proto.h"
#include "socketmap.h"
#include "xalloc.h"

#define SERVER_LISTEN_MAX 8
#define CONN_IN_SIZE 16384	/* more than POLICY_LINE_MAX + CR LF */
#define CONN_OUT_PAUSE 65536	/* stop reading while this much waits */
#define SWEEP_INTERVAL_MS 200	/* how often timers are checked */
#define SERVER_PASS_MAX 64	/* events of one epoll pass */

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
	bool closing;		/* close once the pass's replies are out */
	struct conn *pass_next;	/* in this pass's list (server_pass_end) */
	bool in_pass;
	bool unread;		/* in[] holds bytes not parsed yet */
	size_t ready_used;	/* parser holds a request of in[0..this) */
	bool socketmap;		/* Postfix socketmap, not policy requests */
	unsigned int events;	/* what epoll watches now */
};

struct listener {
	int fd;
	bool socketmap;		/* its connections speak socketmap */
	char *unix_path;	/* to unlink at exit */
};

struct server {
	struct server_settings set;
	struct listener listeners[SERVER_LISTEN_MAX];
	unsigned int listener_count;
	bool listening;		/* listeners are in the epoll set */
	int epoll_fd, signal_fd;
	struct conn *conns;
	struct conn *pass;	/* connections this pass read from or for */
	unsigned int conn_count;
	struct server_stats count;	/* .active unused: conn_count */
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

/* server_listen - a listener: [socketmap:]unix:PATH or inet:HOST:PORT */
int server_listen(struct server *srv, const char *spec, const char **error_r)
{
	struct listener *l;

	if (srv->listener_count >= SERVER_LISTEN_MAX) {
		*error_r = "too many listeners";
		return -1;
	}
	l = &srv->listeners[srv->listener_count];
	l->socketmap = strncmp(spec, "socketmap:", 10) == 0;
	if (l->socketmap)
		spec += 10;
	if (listen_open(spec, &l->fd, &l->unix_path, error_r) < 0)
		return -1;
	srv->listener_count++;
	return 0;
}

/* server_event - tell the service about the loop */
static void server_event(struct server *srv, enum server_event event)
{
	struct server_stats stats = srv->count;

	stats.active = srv->conn_count;
	srv->set.event(srv->set.context, event,
		       event == SERVER_EVENT_REPORT ? &stats : NULL);
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
	c->out = xgrow(c->out, &c->out_size, c->out_len + len, 1, 4096);
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

/* conn_answer - one complete policy request to the service; queue its reply */
static void conn_answer(struct server *srv, struct conn *c, long long now)
{
	char reply[SERVER_REPLY_MAX];
	int n;

	n = srv->set.answer(srv->set.context, &c->parser.req, reply,
			    sizeof(reply));
	if (n < 0 || (size_t)n >= sizeof(reply))
		/* Never send half a reply. */
		n = snprintf(reply, sizeof(reply), "DEFER_IF_PERMIT 4.3.0 "
			     "internal error");
	conn_append(c, "action=", 7, now);
	conn_append(c, reply, (size_t)n, now);
	conn_append(c, "\n\n", 2, now);
}

/* conn_lookup - one socketmap query to the service; queue its netstring */
static void conn_lookup(struct server *srv, struct conn *c, const char *query,
			size_t len, long long now)
{
	char reply[SERVER_REPLY_MAX], head[16];
	int n, h;

	n = srv->set.lookup(srv->set.context, query, len, reply,
			    sizeof(reply));
	if (n < 0 || (size_t)n >= sizeof(reply))
		n = snprintf(reply, sizeof(reply), "TEMP internal error");
	/* A netstring: length, colon, text, comma. */
	h = snprintf(head, sizeof(head), "%d:", n);
	conn_append(c, head, (size_t)h, now);
	conn_append(c, reply, (size_t)n, now);
	conn_append(c, ",", 1, now);
}

/* conn_process_socketmap - netstrings "LEN:NAME KEY,"; -1: close */
static int conn_process_socketmap(struct server *srv, struct conn *c,
				  long long now)
{
	size_t off = 0, len, used;
	const char *query, *error;
	int ret;

	while ((ret = socketmap_request(c->in + off, c->in_len - off,
					sizeof(c->in) - 16, &query, &len,
					&used, &error)) == 1) {
		conn_lookup(srv, c, query, len, now);
		off += used;
	}
	if (ret < 0) {
		msg_warn("%s: %s; closing connection without reply", c->peer,
			 error);
		srv->count.errors++;
		return -1;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	c->request_start = c->in_len == 0 ? 0 :
		c->request_start != 0 ? c->request_start : now;
	return 0;
}

/* conn_bad_request - the client sent what the parser refuses */
static int conn_bad_request(struct server *srv, struct conn *c,
			    const char *error)
{
	msg_warn("%s: %s; closing connection without reply", c->peer, error);
	srv->count.errors++;
	return -1;
}

/* conn_keep_rest - drop in[0..off), keep the partial request after it */
static void conn_keep_rest(struct conn *c, size_t off, long long now)
{
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	if (c->in_len == 0 && !policy_parser_busy(&c->parser))
		c->request_start = 0;
	else if (c->request_start == 0)
		c->request_start = now;
}

/* conn_process - answer the requests in in[off..]; -1: close */
static int conn_process(struct server *srv, struct conn *c, size_t off,
			long long now)
{
	size_t used;
	const char *error;
	int ret;

	if (c->socketmap)
		return conn_process_socketmap(srv, c, now);

	while ((ret = policy_parser_feed(&c->parser, c->in + off,
					 c->in_len - off, &used,
					 &error)) == 1) {
		off += used;
		conn_answer(srv, c, now);
		c->request_start = 0;
	}
	if (ret < 0)
		return conn_bad_request(srv, c, error);
	conn_keep_rest(c, off + used, now);
	return 0;
}

static int conn_write(struct server *srv, struct conn *c, long long now);

/* conn_io_error - a read or write failed: 0 to try again, -1 to close */
static int conn_io_error(struct server *srv, struct conn *c, const char *what)
{
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	msg_warn("%s: %s: %m", c->peer, what);
	srv->count.errors++;
	return -1;
}

/* conn_read - read once, and answer what came unless the pass does
   (defer: server_pass_decide()); -1: close the connection */
static int conn_read(struct server *srv, struct conn *c, long long now,
		     bool defer)
{
	ssize_t n;

	n = read(c->in_fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (n < 0)
		return conn_io_error(srv, c, "read");
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
	if (defer && !c->socketmap) {
		c->unread = true;
		return 0;
	}
	return conn_process(srv, c, 0, now);
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
		if (n < 0)
			return conn_io_error(srv, c, "write");
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

/* server_signal - handle the signals that arrived */
static void server_signal(struct server *srv)
{
	struct signalfd_siginfo si;

	while (read(srv->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGUSR1:
			server_event(srv, SERVER_EVENT_REPORT);
			break;
		case SIGHUP:
			server_event(srv, SERVER_EVENT_RELOAD);
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
		listen_peer_name(fd, &ss, peer, sizeof(peer));
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

/* server_conn_event - one epoll event on a connection: read; the
   requests are decided in server_pass_decide(), the replies go out in
   server_pass_end() */
static void server_conn_event(struct server *srv, struct conn *c,
			      unsigned int events, long long now)
{
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0 && !c->eof &&
	    conn_read(srv, c, now, true) < 0)
		c->closing = true;
	if (!c->in_pass) {
		c->in_pass = true;
		c->pass_next = srv->pass;
		srv->pass = c;
	}
}

/* server_pass_decide - answer what the pass read. The first request of
   each connection is parsed first, and the service told of them all
   at once (prepare(): it may fetch what they will read into the
   cache, side by side, instead of one miss after the other); then
   each connection's requests are answered in their order. */
static void server_pass_decide(struct server *srv, long long now)
{
	const struct policy_request *reqs[SERVER_PASS_MAX];
	struct conn *ready[SERVER_PASS_MAX], *c;
	size_t n = 0, i, used;
	const char *error;
	int ret;

	for (c = srv->pass; c != NULL; c = c->pass_next) {
		if (!c->unread)
			continue;
		c->unread = false;
		if (c->closing)
			continue;
		if (n == SERVER_PASS_MAX) {
			if (conn_process(srv, c, 0, now) < 0)
				c->closing = true;
			continue;
		}
		ret = policy_parser_feed(&c->parser, c->in, c->in_len, &used,
					 &error);
		if (ret < 0) {
			(void)conn_bad_request(srv, c, error);
			c->closing = true;
		} else if (ret == 0) {
			conn_keep_rest(c, used, now);
		} else {
			c->ready_used = used;
			reqs[n] = &c->parser.req;
			ready[n++] = c;
		}
	}
	if (n > 0 && srv->set.prepare != NULL)
		srv->set.prepare(srv->set.context, reqs, n);
	for (i = 0; i < n; i++) {
		c = ready[i];
		conn_answer(srv, c, now);
		c->request_start = 0;
		if (conn_process(srv, c, c->ready_used, now) < 0)
			c->closing = true;
	}
}

/* server_pass_end - after the pass's decisions were logged: write the
   replies, close what is done. Deciding every request of the pass
   before the first reply goes out keeps the decision log ahead of
   the replies (one write for the pass's lines), and the clients'
   wake-ups together. */
static void server_pass_end(struct server *srv, long long now)
{
	struct conn *c, *next;

	for (c = srv->pass, srv->pass = NULL; c != NULL; c = next) {
		next = c->pass_next;
		c->pass_next = NULL;
		c->in_pass = false;
		/* The requests before a bad one were good: their replies
		   go out if the client takes them at once. */
		if (conn_write(srv, c, now) < 0 || c->closing ||
		    (c->eof && conn_pending(c) == 0) ||
		    conn_update_events(srv, c) < 0)
			conn_free(srv, c);
	}
}

/* server_sweep - every SWEEP_INTERVAL_MS: the timers, the service's tick */
static void server_sweep(struct server *srv, long long now)
{
	struct conn *c, *next;

	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		if (conn_expired(srv, c, now))
			conn_free(srv, c);
	}
	server_event(srv, SERVER_EVENT_TICK);
}

/* server_run - the epoll loop, until a signal asks to stop */
int server_run(struct server *srv)
{
	struct epoll_event events[SERVER_PASS_MAX], ev;
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
		int n, i;
		long long now;

		n = epoll_wait(srv->epoll_fd, events, SERVER_PASS_MAX,
			       SWEEP_INTERVAL_MS);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			msg_fatal("epoll_wait: %m");
		}
		now = server_clock_ms();
		server_event(srv, SERVER_EVENT_PASS_BEGIN);
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
		server_pass_decide(srv, now);
		server_event(srv, SERVER_EVENT_PASS_END);
		server_pass_end(srv, now);
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
			    conn_read(srv, c, now, false) < 0) {
				/* The requests before the bad one were
				   good: their replies go out if the
				   client takes them at once. */
				(void)conn_write(srv, c, now);
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
		server_event(srv, SERVER_EVENT_TICK);
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
	free(srv);
}
