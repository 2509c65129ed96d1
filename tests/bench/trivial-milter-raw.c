/*
 * NAME
 *	trivial-milter-raw - a do-nothing milter without libmilter, one thread
 * SYNOPSIS
 *	trivial-milter-raw unix:PATH
 * DESCRIPTION
 *	trivial-milter (tests/bench/trivial-milter.c) again, but speaking
 *	the milter protocol itself instead of through libmilter: one
 *	thread, one epoll loop, non-blocking sockets, no thread per
 *	connection and no locks. bench-milter.py runs Postfix with it
 *	beside trivial-milter, so that one run tells how much of the
 *	do-nothing milter's cost is libmilter's (issue 18: is it worth
 *	owning a protocol implementation?).
 *
 *	It negotiates exactly what trivial-milter and mailgrants-milter
 *	negotiate, so that Postfix sends all three the same packets: the
 *	action SMFIF_ADDRCPT, the macro lists "{auth_authen}
 *	{client_addr} i" at MAIL FROM and "i" at the end of the headers
 *	(SMFIF_SETSYMLIST), and every protocol step left out that they
 *	leave out (no connect, HELO, RCPT, DATA, unknown command or
 *	body; no reply to the connect, to MAIL FROM and to single
 *	headers). It accepts every message at the end of the headers.
 *
 *	The protocol, as Postfix speaks it (src/milter/milter8.c) and as
 *	libmilter documents it: every packet is a 4-byte length in network
 *	byte order, then that many bytes: a command letter and its
 *	data. The MTA opens with OPTNEG (version, actions, steps: three
 *	32-bit words) and the milter answers OPTNEG with the version,
 *	the actions and steps it takes out of those offered, then
 *	optionally (32-bit stage, NUL-terminated macro list) pairs. Then
 *	for each message: macros (D, no reply), MAIL FROM (M), headers
 *	(L), end of headers (N), each answered with one reply packet
 *	unless a "no reply" step was negotiated; ABORT (A, no reply)
 *	ends a message early or after an accept; QUIT (Q) ends the
 *	connection.
 *
 *	Limits: a packet longer than RAW_PACKET_MAX closes its
 *	connection, as libmilter does above its data size limit; there
 *	are no idle timeouts (a benchmark tool). Runs until SIGTERM;
 *	needs no configuration and no privileges.
 * SEE ALSO
 *	trivial-milter.c, bench-milter.py, postfix-policyd/mailgrants-milter.c
 */

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Only the protocol's constants; nothing of libmilter is linked. */
#include <libmilter/mfapi.h>
#include <libmilter/mfdef.h>

/* What trivial-milter and mailgrants-milter negotiate (keep equal). */
#define RAW_STEPS (SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NORCPT | \
	SMFIP_NOBODY | SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_NR_CONN | \
	SMFIP_NR_MAIL | SMFIP_NR_HDR)
#define RAW_ACTIONS SMFIF_ADDRCPT
#define RAW_MACROS_ENVFROM "{auth_authen} {client_addr} i"
#define RAW_MACROS_EOH "i"

#define RAW_PACKET_MAX (256 * 1024)	/* libmilter's largest data size */
#define RAW_IN_START 4096		/* grows up to a whole packet */
#define RAW_OUT_MAX 512			/* replies never queue up more */
#define RAW_EVENTS 64

/* One MTA connection */
struct raw_conn {
	int fd;
	uint32_t steps;			/* SMFIP_* negotiated */
	unsigned char *in;
	size_t in_size, in_len;
	unsigned char out[RAW_OUT_MAX];
	size_t out_len;
	bool want_out;			/* EPOLLOUT registered */
};

static int raw_epoll;

/* raw_get32 - a 32-bit word in network byte order */
static uint32_t raw_get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return ntohl(v);
}

/* raw_put32 - append a 32-bit word in network byte order */
static void raw_put32(unsigned char *p, uint32_t host)
{
	uint32_t v = htonl(host);

	memcpy(p, &v, sizeof(v));
}

/* raw_close - forget a connection */
static void raw_close(struct raw_conn *c)
{
	(void)epoll_ctl(raw_epoll, EPOLL_CTL_DEL, c->fd, NULL);
	(void)close(c->fd);
	free(c->in);
	free(c);
}

/* raw_queue - append one packet (command and data) to the output */
static int raw_queue(struct raw_conn *c, int cmd, const unsigned char *data,
		     size_t len)
{
	if (len + 5 > sizeof(c->out) - c->out_len)
		return -1;
	raw_put32(c->out + c->out_len, (uint32_t)(len + 1));
	c->out[c->out_len + 4] = (unsigned char)cmd;
	if (len > 0)
		memcpy(c->out + c->out_len + 5, data, len);
	c->out_len += len + 5;
	return 0;
}

/* raw_flush - write what is queued; -1: the connection is broken */
static int raw_flush(struct raw_conn *c)
{
	struct epoll_event ev = { .data.ptr = c };
	ssize_t n;

	while (c->out_len > 0) {
		n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return -1;
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	/* Wait for room only while something waits to be written. */
	if ((c->out_len > 0) != c->want_out) {
		c->want_out = c->out_len > 0;
		ev.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0);
		if (epoll_ctl(raw_epoll, EPOLL_CTL_MOD, c->fd, &ev) < 0)
			return -1;
	}
	return 0;
}

/* raw_optneg - answer the MTA's offer with what trivial-milter takes */
static int raw_optneg(struct raw_conn *c, const unsigned char *data,
		      size_t len)
{
	unsigned char reply[12 + 2 * (4 + 32)], *p = reply + 12;
	uint32_t version, actions;

	if (len < 12)
		return -1;
	version = raw_get32(data);
	actions = raw_get32(data + 4) & (RAW_ACTIONS | SMFIF_SETSYMLIST);
	c->steps = raw_get32(data + 8) & RAW_STEPS;
	raw_put32(reply, version < SMFI_PROT_VERSION ? version :
		  SMFI_PROT_VERSION);
	raw_put32(reply + 4, actions);
	raw_put32(reply + 8, c->steps);
	if ((actions & SMFIF_SETSYMLIST) != 0) {
		raw_put32(p, SMFIM_ENVFROM);
		memcpy(p + 4, RAW_MACROS_ENVFROM, sizeof(RAW_MACROS_ENVFROM));
		p += 4 + sizeof(RAW_MACROS_ENVFROM);
		raw_put32(p, SMFIM_EOH);
		memcpy(p + 4, RAW_MACROS_EOH, sizeof(RAW_MACROS_EOH));
		p += 4 + sizeof(RAW_MACROS_EOH);
	}
	return raw_queue(c, SMFIC_OPTNEG, reply, (size_t)(p - reply));
}

/* raw_command - one packet from the MTA; -1: close the connection */
static int raw_command(struct raw_conn *c, int cmd,
		       const unsigned char *data, size_t len)
{
	uint32_t no_reply;

	switch (cmd) {
	case SMFIC_OPTNEG:
		return raw_optneg(c, data, len);
	case SMFIC_MACRO:
	case SMFIC_ABORT:
		return 0;
	case SMFIC_QUIT:
		return -1;
	case SMFIC_QUIT_NC:
		c->steps = 0;
		return 0;
	case SMFIC_EOH:
	case SMFIC_BODYEOB:
		/* The do-nothing verdict: accept the message. */
		return raw_queue(c, SMFIR_ACCEPT, NULL, 0);
	case SMFIC_CONNECT:
		no_reply = SMFIP_NR_CONN;
		break;
	case SMFIC_HELO:
		no_reply = SMFIP_NR_HELO;
		break;
	case SMFIC_MAIL:
		no_reply = SMFIP_NR_MAIL;
		break;
	case SMFIC_RCPT:
		no_reply = SMFIP_NR_RCPT;
		break;
	case SMFIC_DATA:
		no_reply = SMFIP_NR_DATA;
		break;
	case SMFIC_UNKNOWN:
		no_reply = SMFIP_NR_UNKN;
		break;
	case SMFIC_HEADER:
		no_reply = SMFIP_NR_HDR;
		break;
	case SMFIC_BODY:
		no_reply = SMFIP_NR_BODY;
		break;
	default:
		fprintf(stderr, "trivial-milter-raw: unknown command 0x%02x\n",
			cmd);
		return -1;
	}
	if ((c->steps & no_reply) != 0)
		return 0;
	return raw_queue(c, SMFIR_CONTINUE, NULL, 0);
}

/* raw_input - read what came, answer every whole packet */
static void raw_input(struct raw_conn *c)
{
	size_t done = 0, plen;
	ssize_t n;

	if (c->in_len == c->in_size) {
		/* Only a packet longer than the buffer fills it. */
		c->in_size *= 2;
		if ((c->in = realloc(c->in, c->in_size)) == NULL) {
			fprintf(stderr, "trivial-milter-raw: out of memory\n");
			exit(1);
		}
	}
	do {
		n = recv(c->fd, c->in + c->in_len, c->in_size - c->in_len, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		raw_close(c);
		return;
	}
	c->in_len += (size_t)n;
	while (c->in_len - done >= 4) {
		plen = raw_get32(c->in + done);
		if (plen == 0 || plen > RAW_PACKET_MAX) {
			fprintf(stderr, "trivial-milter-raw: bad packet length "
				"%zu\n", plen);
			raw_close(c);
			return;
		}
		if (c->in_len - done < 4 + plen)
			break;
		if (raw_command(c, c->in[done + 4], c->in + done + 5,
				plen - 1) < 0) {
			raw_close(c);
			return;
		}
		done += 4 + plen;
	}
	memmove(c->in, c->in + done, c->in_len - done);
	c->in_len -= done;
	/* One write for all the replies of this read. */
	if (raw_flush(c) < 0)
		raw_close(c);
}

/* raw_accept - take every waiting connection */
static void raw_accept(int lfd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct raw_conn *c;
	int fd;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				perror("trivial-milter-raw: accept");
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL ||
		    (c->in = malloc(RAW_IN_START)) == NULL) {
			fprintf(stderr, "trivial-milter-raw: out of memory\n");
			exit(1);
		}
		c->fd = fd;
		c->in_size = RAW_IN_START;
		ev.data.ptr = c;
		if (epoll_ctl(raw_epoll, EPOLL_CTL_ADD, fd, &ev) < 0) {
			perror("trivial-milter-raw: epoll_ctl");
			(void)close(fd);
			free(c->in);
			free(c);
		}
	}
}

/* raw_listen - a non-blocking UNIX socket, mode 0666 from the start */
static int raw_listen(const char *spec)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *path;
	mode_t old_umask;
	int fd, ret;

	if (strncmp(spec, "unix:", 5) == 0)
		path = spec + 5;
	else if (strncmp(spec, "local:", 6) == 0)
		path = spec + 6;
	else
		return -1;
	if (path[0] == '\0' || strlen(path) >= sizeof(sun.sun_path))
		return -1;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	(void)unlink(path);
	old_umask = umask(0111);
	ret = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (ret < 0 || listen(fd, 128) < 0) {
		(void)close(fd);
		return -1;
	}
	return fd;
}

/* main - serve SOCKET until SIGTERM */
int main(int argc, char **argv)
{
	struct epoll_event ev = { .events = EPOLLIN }, events[RAW_EVENTS];
	int lfd, n, i;

	if (argc != 2) {
		fprintf(stderr, "usage: trivial-milter-raw unix:PATH\n");
		return 1;
	}
	if ((lfd = raw_listen(argv[1])) < 0) {
		fprintf(stderr, "trivial-milter-raw: cannot serve %s\n", argv[1]);
		return 1;
	}
	if ((raw_epoll = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		perror("trivial-milter-raw: epoll_create1");
		return 1;
	}
	/* The listener is told apart by a NULL pointer. */
	ev.data.ptr = NULL;
	if (epoll_ctl(raw_epoll, EPOLL_CTL_ADD, lfd, &ev) < 0) {
		perror("trivial-milter-raw: epoll_ctl");
		return 1;
	}
	fprintf(stderr, "trivial-milter-raw: ready: %s\n", argv[1]);
	for (;;) {
		n = epoll_wait(raw_epoll, events, RAW_EVENTS, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("trivial-milter-raw: epoll_wait");
			return 1;
		}
		for (i = 0; i < n; i++) {
			struct raw_conn *c = events[i].data.ptr;

			if (c == NULL)
				raw_accept(lfd);
			else if ((events[i].events & EPOLLIN) != 0 ||
				 (events[i].events & EPOLLOUT) == 0)
				raw_input(c);	/* also finds a hang-up */
			else if (raw_flush(c) < 0)
				raw_close(c);
		}
	}
}
