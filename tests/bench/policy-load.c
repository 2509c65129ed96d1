/*
 * NAME
 *	policy-load - load generator for Postfix policy servers
 * SYNOPSIS
 *	policy-load [-c conns] [-t threads] [-d seconds] [-n requests]
 *		[-w warmup] [-f listfile [-x]] [-p port] [-r rate]
 *		[-g gatefile] [-v]
 *		unix:PATH|inet:HOST:PORT
 * DESCRIPTION
 *	Opens conns persistent connections (spread over threads threads,
 *	each with its own epoll loop) and keeps exactly one request in
 *	flight on each, as Postfix's smtpd does: send a request, wait for
 *	the reply, send the next. Each request is what Postfix 3.7 sends
 *	for MAIL FROM on a submission port: 29 attribute lines, about
 *	640 bytes, the blank line last.
 *
 *	The (login, sender) pairs come from listfile, one pair per line
 *	separated by white space; a login "-" is an unauthenticated
 *	session (no sasl_method / sasl_username), a sender "<>" the null
 *	sender; "#" starts a comment. Without -f a few built-in abc.com
 *	pairs are used. Connection i starts at pair i*7919 and steps by
 *	conns, so the pairs are spread over the connections.
 *
 *	Runs for -d seconds (default 5) or until -n requests were sent.
 *	-r limits the rate to about rate requests per second in all: each
 *	connection then sends its requests on a schedule of its own
 *	(conns / rate seconds apart, staggered), and catches up when
 *	replies were late. Without -r, as fast as the replies come.
 *
 *	-g (with -n) lets another process hold the load back: gatefile
 *	holds a decimal number, and requests beyond it (counted from the
 *	start, about: threads check it apart) wait until the number
 *	grows. The file is read at most once a millisecond per thread
 *	while requests wait; write it by renaming a new file into place.
 *	A file that cannot be read keeps the number last read (0 at
 *	first). The stress test uses it to keep its load going while it
 *	replaces the replica, however long that takes.
 *	Requests sent during the first -w seconds (default 0) are not
 *	counted. -p sets the server_port attribute (default 587).
 *
 *	Output, one line on stdout, key=value:
 *	target conns threads seconds requests rps p50_us p90_us p99_us
 *	p999_us max_us errors actions=ACTION:count,...
 *	-v also prints one full reply per distinct action on stderr.
 *
 *	-x (with -f) verifies every reply, warm-up included. Each line
 *	of listfile is then split at tabs only: login, sender, and one
 *	or more accepted replies (the text after "action=", e.g. as
 *	tests/stress/expect.c prints it); a reply that is none of them
 *	is a mismatch. The first ten mismatches are printed on stderr,
 *	and the output line ends in "checked=N mismatches=N". A line
 *	without an accepted reply is a usage error.
 *
 *	An error is a connection that closed, failed or sent a reply
 *	without "action=": it is counted, reconnected and goes on.
 * DIAGNOSTICS
 *	Exit status 1 on bad usage or when no connection can be made.
 * SEE ALSO
 *	trivial-policyd.c, bench-policy.py, Postfix SMTPD_POLICY_README
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "load.h"

#define REPLY_MAX	4096
#define ACTIONS_MAX	16
#define ACTION_LEN	32
#define EXAMPLE_LEN	512

struct request {
	char	*text;
	size_t	len;
	char	*pair;			/* -x: "login sender", for messages */
	char	**accept;		/* -x: accepted replies */
	size_t	*accept_len;
	int	naccept;
};

struct conn {
	int	fd;
	unsigned long next;		/* index of the next request */
	unsigned long cur;		/* index of the request in flight */
	uint64_t sent_ns;		/* when the request in flight went */
	int	busy;			/* a request is in flight */
	int	waiting;		/* -r: the next one waits for due */
	uint64_t due;			/* -r: when the next one may go */
	size_t	in_len;
	char	in[REPLY_MAX];
};

struct action_count {
	char	name[ACTION_LEN];
	unsigned long count;
	char	example[EXAMPLE_LEN];
};

struct worker {
	pthread_t thread;
	int	id;
	int	nconns;
	int	first_conn;		/* global index of conns[0] */
	struct conn *conns;
	uint32_t *lat;			/* nanoseconds, saturated */
	size_t	lat_len;
	size_t	lat_size;
	unsigned long errors;
	unsigned long checked;		/* -x: replies verified */
	unsigned long mismatches;	/* -x: replies none of accepted */
	struct action_count actions[ACTIONS_MAX];
	int	nactions;
};

static struct load_run run = { .conns = 10, .duration = 5.0, .max = -1 };
static const char *target;
static struct request *requests;
static unsigned long nrequests;
static int server_port = 587;
static atomic_llong issued;
static uint64_t t_start, t_measure, t_end;
static int verify;
static double rate;
static uint64_t pace_ns;		/* -r: per connection, between sends */
static const char *gate_path;		/* -g */
static atomic_llong gate_value;		/* -g: requests allowed so far */
static atomic_int mismatch_printed;

/* request_add - format one Postfix 3.7 MAIL FROM policy request */
static void request_add(const char *login, const char *sender,
			unsigned long seq)
{
	char buf[4096];
	int anon = strcmp(login, "-") == 0;
	int n;

	if (strcmp(sender, "<>") == 0)
		sender = "";
	n = snprintf(buf, sizeof(buf),
		     "request=smtpd_access_policy\n"
		     "protocol_state=MAIL\n"
		     "protocol_name=ESMTP\n"
		     "client_address=192.0.2.%lu\n"
		     "client_name=client%lu.example.net\n"
		     "client_port=%lu\n"
		     "reverse_client_name=client%lu.example.net\n"
		     "server_address=127.0.0.1\n"
		     "server_port=%d\n"
		     "helo_name=client%lu.example.net\n"
		     "sender=%s\n"
		     "recipient=\n"
		     "recipient_count=0\n"
		     "queue_id=\n"
		     "instance=%lx.%lx.%lx.0\n"
		     "size=%lu\n"
		     "etrn_domain=\n"
		     "stress=\n"
		     "sasl_method=%s\n"
		     "sasl_username=%s\n"
		     "sasl_sender=\n"
		     "ccert_subject=\n"
		     "ccert_issuer=\n"
		     "ccert_fingerprint=\n"
		     "ccert_pubkey_fingerprint=\n"
		     "encryption_protocol=TLSv1.3\n"
		     "encryption_cipher=TLS_AES_256_GCM_SHA384\n"
		     "encryption_keysize=256\n"
		     "policy_context=\n"
		     "\n",
		     seq % 250 + 1, seq % 250 + 1, 20000 + seq % 40000,
		     seq % 250 + 1, server_port, seq % 250 + 1, sender,
		     0x1a2bUL + seq, 0x5f3e4d00UL + seq * 7, 0x12345UL + seq,
		     1000 + seq % 50000,
		     anon ? "" : "PLAIN", anon ? "" : login);
	if (n < 0 || (size_t) n >= sizeof(buf))
		die("request too long for login %s", login);
	if (nrequests % 1024 == 0)
		requests = xrealloc(requests,
				    (nrequests + 1024) * sizeof(*requests));
	memset(&requests[nrequests], 0, sizeof(requests[nrequests]));
	requests[nrequests].text = xrealloc(NULL, (size_t) n);
	memcpy(requests[nrequests].text, buf, (size_t) n);
	requests[nrequests].len = (size_t) n;
	nrequests++;
}

/* xstrdup_len - copy len bytes into a new string */
static char *xstrdup_len(const char *s, size_t len)
{
	char *p = xrealloc(NULL, len + 1);

	memcpy(p, s, len);
	p[len] = 0;
	return (p);
}

/* request_add_verified - a pair with its accepted replies (-x) */
static void request_add_verified(char *line, const char *path)
{
	char *fields[16];
	int nf = 0, i;
	char *p = line, *tab;
	struct request *r;
	size_t plen;

	while (nf < (int) (sizeof(fields) / sizeof(fields[0]))) {
		fields[nf++] = p;
		if ((tab = strchr(p, '\t')) == NULL)
			break;
		*tab = 0;
		p = tab + 1;
	}
	if (nf < 3)
		die("-x: line without an accepted reply in %s: %s", path,
		    fields[0]);
	request_add(fields[0], fields[1], nrequests);
	r = &requests[nrequests - 1];
	plen = strlen(fields[0]) + 1 + strlen(fields[1]);
	r->pair = xrealloc(NULL, plen + 1);
	if ((size_t) snprintf(r->pair, plen + 1, "%s %s", fields[0],
			      fields[1]) != plen)
		die("-x: pair too long in %s", path);
	r->naccept = nf - 2;
	r->accept = xrealloc(NULL, (size_t) r->naccept * sizeof(*r->accept));
	r->accept_len = xrealloc(NULL, (size_t) r->naccept
				 * sizeof(*r->accept_len));
	for (i = 0; i < r->naccept; i++) {
		r->accept_len[i] = strlen(fields[i + 2]);
		r->accept[i] = xstrdup_len(fields[i + 2], r->accept_len[i]);
	}
}

/* requests_load - read (login, sender) pairs */
static void requests_load(const char *path)
{
	static const char *const builtin[][2] = {
		{"sandra.schuster@abc.com", "sandra.schuster@abc.com"},
		{"sandra.schuster@abc.com", "makler@abc.com"},
		{"sandra.schuster@abc.com", "info@abc.com"},
		{"sandra.schuster@abc.com", "peter.mueller@abc.com"},
		{"jana.meier@abc.com", "buchhaltung@abc.com"},
		{"anna.schmidt@xyz.org", "info@abc.com"},
		{"-", "info@abc.com"},
		{"-", "someone@example.net"},
	};
	char line[8192];
	FILE *fp;
	size_t i;

	if (path == NULL) {
		for (i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
			request_add(builtin[i][0], builtin[i][1], i);
		return;
	}
	if ((fp = fopen(path, "r")) == NULL)
		die("cannot open %s", path);
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *login, *sender, *save;

		if (verify) {
			size_t l = strlen(line);

			if (l == sizeof(line) - 1 && line[l - 1] != '\n')
				die("-x: line too long in %s", path);
			while (l > 0 && (line[l - 1] == '\n'
					 || line[l - 1] == '\r'))
				line[--l] = 0;
			if (l == 0 || line[0] == '#')
				continue;
			request_add_verified(line, path);
			continue;
		}
		if ((login = strtok_r(line, " \t\r\n", &save)) == NULL
		    || *login == '#')
			continue;
		if ((sender = strtok_r(NULL, " \t\r\n", &save)) == NULL)
			die("line without a sender in %s", path);
		request_add(login, sender, nrequests);
	}
	fclose(fp);
	if (nrequests == 0)
		die("no requests in %s", path);
}

/* conn_connect - connect to the target (blocking), then non-blocking */
static int conn_connect(void)
{
	struct sockaddr_storage ss;
	socklen_t len = load_endpoint(target, &ss);
	int fd, on = 1;

	if ((fd = socket(ss.ss_family, SOCK_STREAM, 0)) < 0)
		return (-1);
	if (connect(fd, (struct sockaddr *) &ss, len) < 0) {
		close(fd);
		return (-1);
	}
	if (ss.ss_family == AF_INET)
		(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on,
				  sizeof(on));
	(void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return (fd);
}

/* conn_send - send the next request, unless the count is used up */
static int conn_send(struct conn *c)
{
	const struct request *r;
	size_t off = 0;

	if (run.max >= 0
	    && atomic_fetch_add(&issued, 1) >= run.max) {
		c->busy = 0;
		return (0);
	}
	c->cur = c->next % nrequests;
	r = &requests[c->cur];
	c->next += (unsigned long) run.conns;
	c->sent_ns = load_now_ns();
	c->busy = 1;
	c->in_len = 0;
	while (off < r->len) {
		ssize_t n = write(c->fd, r->text + off, r->len - off);

		if (n < 0) {
			struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN || poll(&pfd, 1, 5000) <= 0)
				return (-1);
			continue;
		}
		off += (size_t) n;
	}
	return (0);
}

/* gate_read - the number in the gate file (-g), or -1 */
static long long gate_read(void)
{
	char buf[32];
	ssize_t n;
	int fd;

	if ((fd = open(gate_path, O_RDONLY)) < 0)
		return (-1);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return (-1);
	buf[n] = 0;
	return (strtoll(buf, NULL, 10));
}

/* gate_refresh - reread the gate, at most once a millisecond */
static void gate_refresh(uint64_t *last_ns)
{
	uint64_t t = load_now_ns();
	long long v;

	if (t - *last_ns < 1000000ULL)
		return;
	*last_ns = t;
	if ((v = gate_read()) >= 0)
		atomic_store(&gate_value, v);
}

/* conn_next - send the next request now, or when it is due (-r) and
   the gate lets it through (-g) */
static int conn_next(struct conn *c)
{
	if (pace_ns > 0 && load_now_ns() < c->due) {
		c->waiting = 1;
		c->busy = 0;
		return (0);
	}
	if (gate_path != NULL
	    && atomic_load(&issued) >= atomic_load(&gate_value)
	    && atomic_load(&issued) < run.max) {
		c->waiting = 1;
		c->busy = 0;
		return (0);
	}
	c->waiting = 0;
	if (pace_ns > 0)
		c->due += pace_ns;
	return (conn_send(c));
}

/* worker_action - count one reply by its action word */
static void worker_action(struct worker *w, const char *reply, size_t len)
{
	const char *a = NULL;
	char name[ACTION_LEN];
	size_t n = 0;
	int i;

	if (len >= 7 && memcmp(reply, "action=", 7) == 0)
		a = reply + 7;
	if (a == NULL) {
		w->errors++;
		return;
	}
	while (n < sizeof(name) - 1 && a + n < reply + len && a[n] != ' '
	       && a[n] != '\n') {
		name[n] = a[n];
		n++;
	}
	name[n] = 0;
	for (i = 0; i < w->nactions; i++) {
		if (strcmp(w->actions[i].name, name) == 0) {
			w->actions[i].count++;
			return;
		}
	}
	if (w->nactions < ACTIONS_MAX) {
		struct action_count *ac = &w->actions[w->nactions++];
		size_t elen = len < EXAMPLE_LEN - 1 ? len : EXAMPLE_LEN - 1;

		memcpy(ac->name, name, n + 1);
		memcpy(ac->example, reply, elen);
		ac->example[elen] = 0;
		ac->count = 1;
	}
}

/* worker_verify - compare a complete reply with the accepted ones (-x) */
static void worker_verify(struct worker *w, const struct conn *c)
{
	const struct request *r = &requests[c->cur];
	const char *got = c->in;
	size_t len = c->in_len;
	int i;

	w->checked++;
	/* "action=TEXT\n\n" */
	if (len >= 9 && memcmp(got, "action=", 7) == 0) {
		got += 7;
		len -= 9;
		for (i = 0; i < r->naccept; i++)
			if (r->accept_len[i] == len
			    && memcmp(r->accept[i], got, len) == 0)
				return;
	} else {
		got = c->in;
		len = c->in_len;
	}
	w->mismatches++;
	if (atomic_fetch_add(&mismatch_printed, 1) < 10)
		fprintf(stderr, "policy-load: mismatch for %s: got \"%.*s\", "
			"expected \"%s\"%s\n", r->pair, (int) len, got,
			r->accept[0], r->naccept > 1 ? " or another" : "");
}

/* worker_reconnect - replace a failed connection */
static int worker_reconnect(struct worker *w, int ep, struct conn *c)
{
	struct epoll_event ev;

	w->errors++;
	(void) epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->busy = 0;
	if ((c->fd = conn_connect()) < 0)
		return (-1);
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		return (-1);
	return (conn_send(c));
}

/* worker_run - one epoll loop over this worker's connections */
static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event events[128];
	uint64_t gate_ns = 0;
	int ep, i, live;

	if ((ep = epoll_create1(0)) < 0)
		die("epoll_create1: %s", strerror(errno));
	for (i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		struct epoll_event ev;

		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			die("epoll_ctl: %s", strerror(errno));
		c->due = t_start + (uint64_t) (w->first_conn + i) * pace_ns
		    / (uint64_t) run.conns;
		if (conn_next(c) < 0 && worker_reconnect(w, ep, c) < 0)
			die("cannot reach %s", target);
	}
	for (;;) {
		int n = epoll_wait(ep, events, 128,
				   pace_ns > 0 || gate_path != NULL ? 1 : 200);

		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		if (run.max < 0 && load_now_ns() >= t_end)
			break;
		for (i = 0; i < n; i++) {
			struct conn *c = events[i].data.ptr;
			ssize_t r;
			uint64_t t;

			r = read(c->fd, c->in + c->in_len,
				 sizeof(c->in) - c->in_len);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0 || !c->busy) {
				if (worker_reconnect(w, ep, c) < 0)
					die("lost %s", target);
				continue;
			}
			c->in_len += (size_t) r;
			if (c->in_len < 2 || c->in[c->in_len - 1] != '\n'
			    || c->in[c->in_len - 2] != '\n') {
				if (c->in_len == sizeof(c->in)
				    && worker_reconnect(w, ep, c) < 0)
					die("lost %s", target);
				continue;
			}
			t = load_now_ns();
			if (verify)
				worker_verify(w, c);
			if (c->sent_ns >= t_measure) {
				uint64_t d = t - c->sent_ns;

				if (w->lat_len == w->lat_size) {
					w->lat_size = w->lat_size ?
					    w->lat_size * 2 : 65536;
					w->lat = xrealloc(w->lat, w->lat_size
							  * sizeof(*w->lat));
				}
				w->lat[w->lat_len++] = d > UINT32_MAX ?
				    UINT32_MAX : (uint32_t) d;
				worker_action(w, c->in, c->in_len);
			}
			if (conn_next(c) < 0 && worker_reconnect(w, ep, c) < 0)
				die("lost %s", target);
		}
		if (pace_ns > 0 || gate_path != NULL) {
			uint64_t t = load_now_ns();

			if (gate_path != NULL)
				gate_refresh(&gate_ns);

			for (i = 0; i < w->nconns; i++) {
				struct conn *c = &w->conns[i];

				if (c->waiting && t >= c->due
				    && conn_next(c) < 0
				    && worker_reconnect(w, ep, c) < 0)
					die("lost %s", target);
			}
		}
		if (run.max >= 0) {
			for (live = 0, i = 0; i < w->nconns; i++)
				live += w->conns[i].busy
				    || w->conns[i].waiting;
			if (live == 0)
				break;
		}
	}
	for (i = 0; i < w->nconns; i++)
		close(w->conns[i].fd);
	close(ep);
	return (NULL);
}

/* pct_us - percentile of sorted nanosecond latencies, in microseconds */
static double pct_us(const uint32_t *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return (0);
	i = (size_t) (p * (double) (n - 1) + 0.5);
	return (v[i] / 1000.0);
}

static void usage(void)
{
	fprintf(stderr, "usage: policy-load [-c conns] [-t threads] "
		"[-d seconds] [-n requests] [-w warmup] [-f listfile [-x]] "
		"[-p port] [-r rate] [-g gatefile] [-v] "
		"unix:PATH|inet:HOST:PORT\n");
	exit(1);
}

int main(int argc, char **argv)
{
	struct worker *workers;
	struct action_count all[ACTIONS_MAX * 8];
	int nall = 0, nthreads = 1, ch, i, j;
	uint32_t *lat;
	size_t nlat = 0;
	unsigned long errors = 0, checked = 0, mismatches = 0;
	uint64_t t_stop;
	double secs;
	struct sigaction sa;

	while ((ch = getopt(argc, argv, "c:t:d:n:w:f:p:r:g:vx")) != -1) {
		switch (ch) {
		case 't':
			nthreads = atoi(optarg);
			break;
		case 'p':
			server_port = atoi(optarg);
			break;
		case 'x':
			verify = 1;
			break;
		case 'r':
			rate = atof(optarg);
			break;
		case 'g':
			gate_path = optarg;
			break;
		default:
			if (!load_option(&run, ch, optarg))
				usage();
		}
	}
	if (optind != argc - 1 || run.conns < 1 || nthreads < 1
	    || run.duration <= 0 || run.warmup < 0 || (verify && run.listfile == NULL)
	    || rate < 0 || (gate_path != NULL && run.max < 0))
		usage();
	if (rate > 0)
		pace_ns = (uint64_t) ((double) run.conns * 1e9 / rate);
	if (nthreads > run.conns)
		nthreads = run.conns;
	target = argv[optind];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	(void) sigaction(SIGPIPE, &sa, NULL);
	requests_load(run.listfile);

	workers = xrealloc(NULL, (size_t) nthreads * sizeof(*workers));
	memset(workers, 0, (size_t) nthreads * sizeof(*workers));
	for (i = 0, j = 0; i < nthreads; i++) {
		struct worker *w = &workers[i];
		int k;

		w->id = i;
		w->nconns = run.conns / nthreads
		    + (i < run.conns % nthreads);
		w->first_conn = j;
		w->conns = xrealloc(NULL, (size_t) w->nconns
				    * sizeof(*w->conns));
		memset(w->conns, 0, (size_t) w->nconns * sizeof(*w->conns));
		for (k = 0; k < w->nconns; k++, j++) {
			w->conns[k].next = ((unsigned long) j * 7919UL)
			    % nrequests;
			if ((w->conns[k].fd = conn_connect()) < 0)
				die("cannot connect to %s", target);
		}
	}
	if (gate_path != NULL) {
		long long v = gate_read();

		atomic_store(&gate_value, v > 0 ? v : 0);
	}
	t_start = load_now_ns();
	t_measure = t_start + (uint64_t) (run.warmup * 1e9);
	t_end = t_measure + (uint64_t) (run.duration * 1e9);
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&workers[i].thread, NULL, worker_run,
				   &workers[i]) != 0)
			die("pthread_create failed%s", "");
	for (i = 0; i < nthreads; i++)
		pthread_join(workers[i].thread, NULL);
	t_stop = load_now_ns();
	if (run.max < 0 && t_stop > t_end)
		t_stop = t_end;
	secs = (double) (t_stop - t_measure) / 1e9;

	for (i = 0; i < nthreads; i++)
		nlat += workers[i].lat_len;
	lat = xrealloc(NULL, (nlat ? nlat : 1) * sizeof(*lat));
	nlat = 0;
	for (i = 0; i < nthreads; i++) {
		struct worker *w = &workers[i];
		int a, b;

		if (w->lat_len)
			memcpy(lat + nlat, w->lat, w->lat_len * sizeof(*lat));
		nlat += w->lat_len;
		errors += w->errors;
		checked += w->checked;
		mismatches += w->mismatches;
		for (a = 0; a < w->nactions; a++) {
			for (b = 0; b < nall; b++)
				if (strcmp(all[b].name, w->actions[a].name)
				    == 0)
					break;
			if (b == nall) {
				if (nall == (int) (sizeof(all) / sizeof(all[0])))
					continue;
				all[nall++] = w->actions[a];
			} else {
				all[b].count += w->actions[a].count;
			}
		}
	}
	qsort(lat, nlat, sizeof(*lat), load_cmp_u32);
	printf("target=%s conns=%d threads=%d seconds=%.3f requests=%zu "
	       "rps=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f "
	       "max_us=%.1f errors=%lu actions=",
	       target, run.conns, nthreads, secs, nlat,
	       secs > 0 ? (double) nlat / secs : 0.0,
	       pct_us(lat, nlat, 0.50), pct_us(lat, nlat, 0.90),
	       pct_us(lat, nlat, 0.99), pct_us(lat, nlat, 0.999),
	       nlat ? lat[nlat - 1] / 1000.0 : 0.0, errors);
	for (i = 0; i < nall; i++)
		printf("%s%s:%lu", i ? "," : "", all[i].name, all[i].count);
	if (verify)
		printf(" checked=%lu mismatches=%lu", checked, mismatches);
	printf("\n");
	if (run.verbose) {
		for (i = 0; i < nall; i++) {
			size_t l = strlen(all[i].example);

			while (l > 0 && all[i].example[l - 1] == '\n')
				all[i].example[--l] = 0;
			fprintf(stderr, "example %s: %s\n", all[i].name,
				all[i].example);
		}
	}
	fflush(stdout);
	for (i = 0; i < nthreads; i++) {
		free(workers[i].lat);
		free(workers[i].conns);
	}
	free(workers);
	free(lat);
	for (i = 0; i < (int) nrequests; i++) {
		for (j = 0; j < requests[i].naccept; j++)
			free(requests[i].accept[j]);
		free(requests[i].accept);
		free(requests[i].accept_len);
		free(requests[i].pair);
		free(requests[i].text);
	}
	free(requests);
	return (0);
}
