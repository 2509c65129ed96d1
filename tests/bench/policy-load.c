/*
 * NAME
 *	policy-load - load generator for Postfix policy servers
 * SYNOPSIS
 *	policy-load [-c conns] [-t threads] [-d seconds] [-n requests]
 *		[-w warmup] [-f listfile] [-p port] [-v] unix:PATH|inet:HOST:PORT
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
 *	Requests sent during the first -w seconds (default 0) are not
 *	counted. -p sets the server_port attribute (default 587).
 *
 *	Output, one line on stdout, key=value:
 *	target conns threads seconds requests rps p50_us p90_us p99_us
 *	p999_us max_us errors actions=ACTION:count,...
 *	-v also prints one full reply per distinct action on stderr.
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

#define REPLY_MAX	4096
#define ACTIONS_MAX	16
#define ACTION_LEN	32
#define EXAMPLE_LEN	512

struct request {
	char	*text;
	size_t	len;
};

struct conn {
	int	fd;
	unsigned long next;		/* index of the next request */
	uint64_t sent_ns;		/* when the request in flight went */
	int	busy;			/* a request is in flight */
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
	struct action_count actions[ACTIONS_MAX];
	int	nactions;
};

static const char *target;
static struct request *requests;
static unsigned long nrequests;
static int total_conns = 10;
static int server_port = 587;
static double duration = 5.0;
static double warmup = 0.0;
static long long max_requests = -1;
static atomic_llong issued;
static uint64_t t_start, t_measure, t_end;
static int verbose;

/* now_ns - monotonic clock in nanoseconds */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec);
}

static void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* die - print and exit */
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "policy-load: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* xrealloc - realloc or die */
static void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size);

	if (p == NULL)
		die("out of memory%s", "");
	return (p);
}

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
	requests[nrequests].text = xrealloc(NULL, (size_t) n);
	memcpy(requests[nrequests].text, buf, (size_t) n);
	requests[nrequests].len = (size_t) n;
	nrequests++;
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
	char line[2048];
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
	int fd;

	if (strncmp(target, "unix:", 5) == 0) {
		struct sockaddr_un sun;
		size_t len = strlen(target + 5);

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (len == 0 || len >= sizeof(sun.sun_path))
			die("bad path: %s", target);
		memcpy(sun.sun_path, target + 5, len + 1);
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
			return (-1);
		if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
			close(fd);
			return (-1);
		}
	} else if (strncmp(target, "inet:", 5) == 0) {
		struct sockaddr_in sin;
		char host[64];
		const char *colon = strrchr(target + 5, ':');
		size_t hlen;
		int on = 1;

		if (colon == NULL || (hlen = (size_t) (colon - target - 5)) == 0
		    || hlen >= sizeof(host))
			die("bad address: %s", target);
		memcpy(host, target + 5, hlen);
		host[hlen] = 0;
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((unsigned short) atoi(colon + 1));
		if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
			die("bad host: %s", host);
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			return (-1);
		if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) < 0) {
			close(fd);
			return (-1);
		}
		(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on,
				  sizeof(on));
	} else {
		die("target must be unix:PATH or inet:HOST:PORT, not %s",
		    target);
	}
	(void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return (fd);
}

/* conn_send - send the next request, unless the count is used up */
static int conn_send(struct conn *c)
{
	const struct request *r;
	size_t off = 0;

	if (max_requests >= 0
	    && atomic_fetch_add(&issued, 1) >= max_requests) {
		c->busy = 0;
		return (0);
	}
	r = &requests[c->next % nrequests];
	c->next += (unsigned long) total_conns;
	c->sent_ns = now_ns();
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
		if (conn_send(c) < 0 && worker_reconnect(w, ep, c) < 0)
			die("cannot reach %s", target);
	}
	for (;;) {
		int n = epoll_wait(ep, events, 128, 200);

		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		if (max_requests < 0 && now_ns() >= t_end)
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
			t = now_ns();
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
			if (conn_send(c) < 0 && worker_reconnect(w, ep, c) < 0)
				die("lost %s", target);
		}
		if (max_requests >= 0) {
			for (live = 0, i = 0; i < w->nconns; i++)
				live += w->conns[i].busy;
			if (live == 0)
				break;
		}
	}
	for (i = 0; i < w->nconns; i++)
		close(w->conns[i].fd);
	close(ep);
	return (NULL);
}

/* cmp_u32 - qsort order */
static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

	return (x < y ? -1 : x > y);
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
		"[-d seconds] [-n requests] [-w warmup] [-f listfile] "
		"[-p port] [-v] unix:PATH|inet:HOST:PORT\n");
	exit(1);
}

int main(int argc, char **argv)
{
	struct worker *workers;
	struct action_count all[ACTIONS_MAX * 8];
	int nall = 0, nthreads = 1, ch, i, j;
	const char *listfile = NULL;
	uint32_t *lat;
	size_t nlat = 0;
	unsigned long errors = 0;
	uint64_t t_stop;
	double secs;
	struct sigaction sa;

	while ((ch = getopt(argc, argv, "c:t:d:n:w:f:p:v")) != -1) {
		switch (ch) {
		case 'c':
			total_conns = atoi(optarg);
			break;
		case 't':
			nthreads = atoi(optarg);
			break;
		case 'd':
			duration = atof(optarg);
			break;
		case 'n':
			max_requests = atoll(optarg);
			break;
		case 'w':
			warmup = atof(optarg);
			break;
		case 'f':
			listfile = optarg;
			break;
		case 'p':
			server_port = atoi(optarg);
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || total_conns < 1 || nthreads < 1
	    || duration <= 0 || warmup < 0)
		usage();
	if (nthreads > total_conns)
		nthreads = total_conns;
	target = argv[optind];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	(void) sigaction(SIGPIPE, &sa, NULL);
	requests_load(listfile);

	workers = xrealloc(NULL, (size_t) nthreads * sizeof(*workers));
	memset(workers, 0, (size_t) nthreads * sizeof(*workers));
	for (i = 0, j = 0; i < nthreads; i++) {
		struct worker *w = &workers[i];
		int k;

		w->id = i;
		w->nconns = total_conns / nthreads
		    + (i < total_conns % nthreads);
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
	t_start = now_ns();
	t_measure = t_start + (uint64_t) (warmup * 1e9);
	t_end = t_measure + (uint64_t) (duration * 1e9);
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&workers[i].thread, NULL, worker_run,
				   &workers[i]) != 0)
			die("pthread_create failed%s", "");
	for (i = 0; i < nthreads; i++)
		pthread_join(workers[i].thread, NULL);
	t_stop = now_ns();
	if (max_requests < 0 && t_stop > t_end)
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
	qsort(lat, nlat, sizeof(*lat), cmp_u32);
	printf("target=%s conns=%d threads=%d seconds=%.3f requests=%zu "
	       "rps=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f "
	       "max_us=%.1f errors=%lu actions=",
	       target, total_conns, nthreads, secs, nlat,
	       secs > 0 ? (double) nlat / secs : 0.0,
	       pct_us(lat, nlat, 0.50), pct_us(lat, nlat, 0.90),
	       pct_us(lat, nlat, 0.99), pct_us(lat, nlat, 0.999),
	       nlat ? lat[nlat - 1] / 1000.0 : 0.0, errors);
	for (i = 0; i < nall; i++)
		printf("%s%s:%lu", i ? "," : "", all[i].name, all[i].count);
	printf("\n");
	if (verbose) {
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
	for (i = 0; i < (int) nrequests; i++)
		free(requests[i].text);
	free(requests);
	return (0);
}
