/*
 * NAME
 *	trivial-policyd - the policy protocol's ceiling on this machine
 * SYNOPSIS
 *	trivial-policyd --listen unix:PATH|inet:HOST:PORT
 * DESCRIPTION
 *	A benchmark reference, not a product: one thread, epoll, every
 *	connection non-blocking. It reads Postfix policy requests up to
 *	the blank line that ends each one and answers "action=DUNNO"
 *	without looking at anything, in order, one reply per request.
 *	Whatever a real policy daemon does on top of this is the price of
 *	its decisions; bench-policy.py reports the ratio.
 *
 *	A request longer than 64 KiB closes the connection. SIGTERM and
 *	SIGINT end the server (the UNIX socket is removed).
 * DIAGNOSTICS
 *	Exit status 1 with a message on stderr when it cannot listen.
 * SEE ALSO
 *	policy-load(1) in policy-load.c, bench-policy.py
 */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "load.h"

#define REQUEST_MAX	65536
#define REPLY		"action=DUNNO\n\n"
#define REPLY_LEN	(sizeof(REPLY) - 1)
#define MAX_EVENTS	256

struct conn {
	int	fd;
	size_t	in_len;			/* bytes of a partial request */
	int	last_nl;		/* previous buffer ended with \n */
	char	*out;			/* pending replies */
	size_t	out_len;
	size_t	out_size;
	int	want_out;		/* EPOLLOUT registered */
};

static volatile sig_atomic_t stop_flag;
static const char *unix_path;

/* on_signal - ask the loop to end */
static void on_signal(int sig)
{
	(void) sig;
	stop_flag = 1;
}

/* fatal - print and exit */
static void fatal(const char *what)
{
	fprintf(stderr, "trivial-policyd: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* listen_endpoint - bind and listen on unix:PATH or inet:HOST:PORT */
static int listen_endpoint(const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t len = load_endpoint(spec, &ss);
	int fd, on = 1;

	if ((fd = socket(ss.ss_family, SOCK_STREAM, 0)) < 0)
		fatal("socket");
	if (ss.ss_family == AF_UNIX) {
		unix_path = spec + 5;
		(void) unlink(unix_path);
	} else {
		(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
				  sizeof(on));
	}
	if (bind(fd, (struct sockaddr *) &ss, len) < 0)
		fatal("bind");
	if (unix_path != NULL)
		(void) chmod(unix_path, 0666);
	if (listen(fd, 1024) < 0)
		fatal("listen");
	(void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return (fd);
}

/* conn_close - forget a connection */
static void conn_close(int ep, struct conn *c)
{
	(void) epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	(void) close(c->fd);
	free(c->out);
	free(c);
}

/* conn_flush - write pending replies; -1 on error */
static int conn_flush(int ep, struct conn *c)
{
	while (c->out_len > 0) {
		ssize_t n = write(c->fd, c->out, c->out_len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return (-1);
			break;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t) n);
		c->out_len -= (size_t) n;
	}
	if ((c->out_len > 0) != c->want_out) {
		struct epoll_event ev;

		c->want_out = c->out_len > 0;
		ev.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0);
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
			return (-1);
	}
	return (0);
}

/* conn_reply - queue one DUNNO */
static void conn_reply(struct conn *c)
{
	if (c->out_len + REPLY_LEN > c->out_size) {
		size_t size = c->out_size ? c->out_size * 2 : 4096;

		while (size < c->out_len + REPLY_LEN)
			size *= 2;
		if ((c->out = realloc(c->out, size)) == NULL) {
			perror("realloc");
			exit(1);
		}
		c->out_size = size;
	}
	memcpy(c->out + c->out_len, REPLY, REPLY_LEN);
	c->out_len += REPLY_LEN;
}

/* conn_read - read, answer every complete request; -1 closes */
static int conn_read(int ep, struct conn *c)
{
	char buf[16384];

	for (;;) {
		ssize_t n = read(c->fd, buf, sizeof(buf));
		ssize_t i;

		if (n == 0)
			return (-1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return (-1);
		}
		for (i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				if (c->last_nl) {
					conn_reply(c);
					c->in_len = 0;
					c->last_nl = 0;
					continue;
				}
				c->last_nl = 1;
			} else {
				c->last_nl = 0;
			}
			if (++c->in_len > REQUEST_MAX)
				return (-1);
		}
		if ((size_t) n < sizeof(buf))
			break;
	}
	return (conn_flush(ep, c));
}

int main(int argc, char **argv)
{
	struct epoll_event events[MAX_EVENTS];
	struct epoll_event ev;
	struct sigaction sa;
	int lfd, ep;

	if (argc != 3 || strcmp(argv[1], "--listen") != 0) {
		fprintf(stderr, "usage: trivial-policyd --listen "
			"unix:PATH|inet:HOST:PORT\n");
		return (1);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	(void) sigaction(SIGTERM, &sa, NULL);
	(void) sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	(void) sigaction(SIGPIPE, &sa, NULL);

	lfd = listen_endpoint(argv[2]);
	if ((ep = epoll_create1(0)) < 0)
		fatal("epoll_create1");
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		fatal("epoll_ctl");

	while (!stop_flag) {
		int n = epoll_wait(ep, events, MAX_EVENTS, 500);
		int i;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			struct conn *c = events[i].data.ptr;

			if (c == NULL) {
				int fd;

				while ((fd = accept4(lfd, NULL, NULL,
						     SOCK_NONBLOCK)) >= 0) {
					int on = 1;

					(void) setsockopt(fd, IPPROTO_TCP,
							  TCP_NODELAY, &on,
							  sizeof(on));
					if ((c = calloc(1, sizeof(*c))) == NULL) {
						perror("calloc");
						exit(1);
					}
					c->fd = fd;
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd,
						      &ev) < 0) {
						(void) close(fd);
						free(c);
					}
				}
				continue;
			}
			if (events[i].events & (EPOLLERR | EPOLLHUP)
			    && !(events[i].events & EPOLLIN)) {
				conn_close(ep, c);
				continue;
			}
			if (events[i].events & EPOLLIN) {
				if (conn_read(ep, c) < 0) {
					conn_close(ep, c);
					continue;
				}
			}
			if (events[i].events & EPOLLOUT) {
				if (conn_flush(ep, c) < 0)
					conn_close(ep, c);
			}
		}
	}
	if (unix_path != NULL)
		(void) unlink(unix_path);
	return (0);
}
