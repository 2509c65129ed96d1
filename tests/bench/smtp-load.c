/*
 * NAME
 *	smtp-load - SMTP submission load, logged in with XCLIENT or AUTH
 * SYNOPSIS
 *	smtp-load [-c sessions] [-d seconds] [-n messages] [-w warmup]
 *		[-f listfile] [-r rcpt] [-s size] [-m msgs-per-session] [-v]
 *		[-P password | -a passwordfile] [-A plain|login]
 *		[-F from] [-S sender] HOST:PORT
 * DESCRIPTION
 *	Postfix's smtp-source has no AUTH and no XCLIENT, and stops at the
 *	first rejection; this tool does the little that the end-to-end
 *	benchmark needs instead. -c threads each run SMTP sessions back
 *	to back: greeting, EHLO, the login, then -m messages (MAIL FROM,
 *	RCPT TO, DATA with a message of about -s bytes), QUIT.
 *
 *	The login is, by default, "XCLIENT LOGIN=<login>" and a second
 *	EHLO (Postfix must list the client in
 *	smtpd_authorized_xclient_hosts and have SASL enabled on the
 *	service; the session then counts as logged in with sasl_method
 *	XCLIENT, and smtpd reconnects to its milters after XCLIENT).
 *	With -P password, or -a passwordfile (the password is the first
 *	line of the file, so that it is not on the command line), the
 *	login is SMTP AUTH as a mail client does it, once per session,
 *	with that one password for every login of the list: -A plain
 *	(the default) sends "AUTH PLAIN <base64(\0login\0password)>"
 *	(RFC 4616, initial response, one round trip); -A login sends
 *	"AUTH LOGIN" and answers the two 334 challenges with the login
 *	and the password. A reply other than 235 fails the session.
 *	The message's header has "From: load@example.net", or -F's
 *	address, and with -S a "Sender:" field with that address (a
 *	message sent on behalf of the From: address).
 *	A 5xx reply to MAIL FROM or RCPT TO (Postfix delays sender
 *	restrictions to RCPT by default) counts as rejected, and the
 *	session goes on with RSET.
 *	A thread gives up after 50 failed sessions in a row.
 *
 *	The (login, sender) pairs come from listfile as in policy-load
 *	("-" = no XCLIENT, "<>" = null sender); without -f a built-in
 *	abc.com list is used. Runs -d seconds (default 5) or until -n
 *	messages were sent; transactions that begin in the first -w
 *	seconds are not counted.
 *
 *	Output, one line: target sessions seconds messages accepted
 *	rejected errors mps p50_ms p99_ms (per-transaction latency from
 *	MAIL FROM to the reply after the final dot), then login (xclient,
 *	plain or login: how the sessions logged in), total (messages
 *	accepted over the whole run, warm-up included: divide CPU time
 *	measured around the run by this) and logins (sessions that logged
 *	in, warm-up included).
 * DIAGNOSTICS
 *	Exit status 1 on bad usage; 2 when no message was accepted.
 * SEE ALSO
 *	policy-load.c, bench-policy.py, bench-milter.py,
 *	Postfix XCLIENT_README and SASL_README, RFC 4954, RFC 4616
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "load.h"

#define LINE_MAX_LEN	1024
#define PAIR_LEN	512
#define ERRORS_MAX	50		/* failed sessions in a row */

struct pair {
	char	login[PAIR_LEN];
	char	sender[PAIR_LEN];
};

struct session {
	int	fd;
	char	buf[8192];
	size_t	len;
	size_t	pos;
};

enum login_how {
	LOGIN_XCLIENT,
	LOGIN_PLAIN,
	LOGIN_LOGIN,
};

struct worker {
	pthread_t thread;
	int	id;
	unsigned long accepted, rejected, errors;
	unsigned long total, logins;	/* warm-up included */
	uint32_t *lat;			/* microseconds */
	size_t	lat_len, lat_size;
};

static struct sockaddr_in server;
static struct load_run run = { .conns = 10, .duration = 5.0, .max = -1 };
static const char *target;
static struct pair *pairs;
static size_t npairs;
static int per_session = 1;
static atomic_llong issued;
static const char *rcpt = "someone@example.net";
static const char *header_from = "load@example.net";
static const char *header_sender;	/* -S; NULL: no Sender: field */
static char *body;
static size_t body_len;
static uint64_t t_measure, t_end;
static atomic_int said;
static enum login_how login_how = LOGIN_XCLIENT;
static char password[PAIR_LEN];

/* pairs_add - remember one (login, sender) */
static void pairs_add(const char *login, const char *sender)
{
	struct pair *p;

	if (strlen(login) >= PAIR_LEN || strlen(sender) >= PAIR_LEN)
		die("pair too long: %s %s", login, sender);
	if (npairs % 1024 == 0)
		pairs = xrealloc(pairs, (npairs + 1024) * sizeof(*pairs));
	p = &pairs[npairs++];
	memcpy(p->login, login, strlen(login) + 1);
	memcpy(p->sender, strcmp(sender, "<>") == 0 ? "" : sender,
	       strcmp(sender, "<>") == 0 ? 1 : strlen(sender) + 1);
}

/* pairs_load - read the list file or use the built-in pairs */
static void pairs_load(const char *path)
{
	char line[2048];
	FILE *fp;

	if (path == NULL) {
		pairs_add("sandra.schuster@abc.com", "sandra.schuster@abc.com");
		pairs_add("sandra.schuster@abc.com", "makler@abc.com");
		pairs_add("sandra.schuster@abc.com", "info@abc.com");
		pairs_add("jana.meier@abc.com", "buchhaltung@abc.com");
		return;
	}
	if ((fp = fopen(path, "r")) == NULL)
		die("cannot open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *login, *sender, *save;

		if ((login = strtok_r(line, " \t\r\n", &save)) == NULL
		    || *login == '#')
			continue;
		if ((sender = strtok_r(NULL, " \t\r\n", &save)) == NULL)
			die("line without a sender in %s", path);
		pairs_add(login, sender);
	}
	fclose(fp);
	if (npairs == 0)
		die("no pairs in %s", path);
}

/* xtext - RFC 3461 xtext encoding for XCLIENT values */
static int xtext(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (; *in; in++) {
		unsigned char ch = (unsigned char) *in;

		if (ch < 33 || ch > 126 || ch == '+' || ch == '=') {
			if (o + 3 >= size)
				return (-1);
			snprintf(out + o, 4, "+%02X", ch);
			o += 3;
		} else {
			if (o + 1 >= size)
				return (-1);
			out[o++] = (char) ch;
		}
	}
	out[o] = 0;
	return (0);
}

/* sess_send - write a whole command */
static int sess_send(struct session *s, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(s->fd, data, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		data += n;
		len -= (size_t) n;
	}
	return (0);
}

/* sess_line - read one reply line into line; -1 on EOF/error */
static int sess_line(struct session *s, char *line, size_t size)
{
	size_t o = 0;

	for (;;) {
		if (s->pos == s->len) {
			ssize_t n = read(s->fd, s->buf, sizeof(s->buf));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return (-1);
			s->len = (size_t) n;
			s->pos = 0;
		}
		while (s->pos < s->len) {
			char ch = s->buf[s->pos++];

			if (ch == '\n') {
				if (o > 0 && line[o - 1] == '\r')
					o--;
				line[o] = 0;
				return (0);
			}
			if (o + 1 < size)
				line[o++] = ch;
		}
	}
}

/* sess_reply - read a (multi-line) reply; its code, -1 on error */
static int sess_reply(struct session *s, char *last, size_t size)
{
	for (;;) {
		if (sess_line(s, last, size) < 0 || strlen(last) < 3)
			return (-1);
		if (last[3] != '-')
			return (atoi(last));
	}
}

/* sess_cmd - send a command and read the reply code */
static int sess_cmd(struct session *s, const char *cmd, char *last,
		    size_t size)
{
	if (sess_send(s, cmd, strlen(cmd)) < 0)
		return (-1);
	return (sess_reply(s, last, size));
}

/* base64 - RFC 4648 encoding of len bytes; -1 when out is too small */
static int base64(const unsigned char *in, size_t len, char *out,
		  size_t size)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	if (size < (len + 2) / 3 * 4 + 1)
		return (-1);
	for (i = 0; i + 2 < len; i += 3) {
		out[o++] = tab[in[i] >> 2];
		out[o++] = tab[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		out[o++] = tab[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		out[o++] = tab[in[i + 2] & 63];
	}
	if (i < len) {
		out[o++] = tab[in[i] >> 2];
		if (i + 1 < len) {
			out[o++] = tab[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
			out[o++] = tab[(in[i + 1] & 15) << 2];
		} else {
			out[o++] = tab[(in[i] & 3) << 4];
			out[o++] = '=';
		}
		out[o++] = '=';
	}
	out[o] = 0;
	return (0);
}

/* sess_b64cmd - send prefix + base64(data) + CRLF; the reply code */
static int sess_b64cmd(struct session *s, const char *prefix,
		       const unsigned char *data, size_t len, char *line,
		       size_t size)
{
	char cmd[4 * PAIR_LEN + 64];
	size_t plen = strlen(prefix), elen;

	if (plen + 3 > sizeof(cmd)
	    || base64(data, len, cmd + plen, sizeof(cmd) - plen - 2) < 0)
		return (-1);
	memcpy(cmd, prefix, plen);
	elen = strlen(cmd);
	memcpy(cmd + elen, "\r\n", 3);
	return (sess_cmd(s, cmd, line, size));
}

/* sess_auth - SMTP AUTH PLAIN or LOGIN as login; 0 when 235 came */
static int sess_auth(struct session *s, const char *login, char *line,
		     size_t size)
{
	unsigned char resp[2 * PAIR_LEN + 2];
	size_t llen = strlen(login), plen = strlen(password);
	int code;

	if (login_how == LOGIN_PLAIN) {
		/* authzid (empty) NUL authcid NUL passwd */
		resp[0] = 0;
		memcpy(resp + 1, login, llen);
		resp[1 + llen] = 0;
		memcpy(resp + 2 + llen, password, plen);
		code = sess_b64cmd(s, "AUTH PLAIN ", resp, llen + plen + 2,
				   line, size);
	} else {
		if (sess_cmd(s, "AUTH LOGIN\r\n", line, size) != 334)
			return (-1);
		if (sess_b64cmd(s, "", (const unsigned char *) login, llen,
				line, size) != 334)
			return (-1);
		code = sess_b64cmd(s, "", (const unsigned char *) password,
				   plen, line, size);
	}
	return (code == 235 ? 0 : -1);
}

/* worker_lat - record one transaction's latency */
static void worker_lat(struct worker *w, uint64_t ns)
{
	if (w->lat_len == w->lat_size) {
		w->lat_size = w->lat_size ? w->lat_size * 2 : 4096;
		w->lat = xrealloc(w->lat, w->lat_size * sizeof(*w->lat));
	}
	w->lat[w->lat_len++] = (uint32_t) (ns / 1000);
}

/* worker_session - one SMTP session; -1 on protocol or I/O error */
static int worker_session(struct worker *w, const struct pair *p, int *done)
{
	struct session s;
	char line[LINE_MAX_LEN], cmd[4 * PAIR_LEN + 64], enc[3 * PAIR_LEN];
	int code, i, on = 1;
	struct timeval tv = {.tv_sec = 30};

	memset(&s, 0, sizeof(s));
	if ((s.fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return (-1);
	(void) setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void) setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (connect(s.fd, (struct sockaddr *) &server, sizeof(server)) < 0)
		goto fail;
	if (sess_reply(&s, line, sizeof(line)) != 220)
		goto fail;
	if (sess_cmd(&s, "EHLO load.example.net\r\n", line,
		     sizeof(line)) != 250)
		goto fail;
	if (strcmp(p->login, "-") != 0 && login_how != LOGIN_XCLIENT) {
		if (sess_auth(&s, p->login, line, sizeof(line)) < 0) {
			if (atomic_fetch_add(&said, 1) == 0)
				fprintf(stderr, "smtp-load: AUTH as %s: %s\n",
					p->login, line);
			goto fail;
		}
		w->logins++;
	} else if (strcmp(p->login, "-") != 0) {
		if (xtext(p->login, enc, sizeof(enc)) < 0)
			goto fail;
		snprintf(cmd, sizeof(cmd), "XCLIENT LOGIN=%s\r\n", enc);
		if (sess_cmd(&s, cmd, line, sizeof(line)) != 220) {
			if (atomic_fetch_add(&said, 1) == 0)
				fprintf(stderr, "smtp-load: XCLIENT: %s\n",
					line);
			goto fail;
		}
		if (sess_cmd(&s, "EHLO load.example.net\r\n", line,
			     sizeof(line)) != 250)
			goto fail;
		w->logins++;
	}
	for (i = 0; i < per_session; i++) {
		uint64_t t0;

		if (run.max >= 0
		    && atomic_fetch_add(&issued, 1) >= run.max) {
			*done = 1;
			break;
		}
		if (run.max < 0 && load_now_ns() >= t_end)
			break;
		t0 = load_now_ns();
		snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>\r\n", p->sender);
		code = sess_cmd(&s, cmd, line, sizeof(line));
		if (code < 0)
			goto fail;
		if (code != 250) {
			if (run.verbose && atomic_fetch_add(&said, 1) < 3)
				fprintf(stderr, "smtp-load: %s as %s: %s\n",
					p->sender, p->login, line);
			if (t0 >= t_measure)
				w->rejected++;
			if (sess_cmd(&s, "RSET\r\n", line, sizeof(line)) != 250)
				goto fail;
			continue;
		}
		/* With smtpd_delay_reject = no (the shipped submission
		   services) a refused sender is the reply to MAIL FROM,
		   above; with yes (Postfix's default, port 25) Postfix
		   answers sender restrictions at RCPT TO. */
		snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>\r\n", rcpt);
		code = sess_cmd(&s, cmd, line, sizeof(line));
		if (code >= 500 && code < 600) {
			if (run.verbose && atomic_fetch_add(&said, 1) < 3)
				fprintf(stderr, "smtp-load: %s as %s: %s\n",
					p->sender, p->login, line);
			if (t0 >= t_measure)
				w->rejected++;
			if (sess_cmd(&s, "RSET\r\n", line, sizeof(line)) != 250)
				goto fail;
			continue;
		}
		if (code != 250)
			goto fail;
		if (sess_cmd(&s, "DATA\r\n", line, sizeof(line)) != 354)
			goto fail;
		if (sess_send(&s, body, body_len) < 0)
			goto fail;
		if (sess_reply(&s, line, sizeof(line)) != 250)
			goto fail;
		w->total++;
		if (t0 >= t_measure) {
			w->accepted++;
			worker_lat(w, load_now_ns() - t0);
		}
	}
	(void) sess_cmd(&s, "QUIT\r\n", line, sizeof(line));
	close(s.fd);
	return (0);

fail:
	if (run.verbose && atomic_fetch_add(&said, 1) < 3)
		fprintf(stderr, "smtp-load: session error, last reply: %s\n",
			line);
	close(s.fd);
	return (-1);
}

/* worker_run - sessions back to back until time or count is up */
static void *worker_run(void *arg)
{
	struct worker *w = arg;
	unsigned long k = (unsigned long) w->id * 7919UL;
	int done = 0, failed = 0;

	while (!done) {
		if (run.max < 0 && load_now_ns() >= t_end)
			break;
		if (worker_session(w, &pairs[k % npairs], &done) < 0) {
			w->errors++;
			if (++failed >= ERRORS_MAX) {
				fprintf(stderr, "smtp-load: %d sessions in a row "
					"failed, giving up\n", failed);
				break;
			}
			usleep(1000);
		} else {
			failed = 0;
		}
		k += (unsigned long) run.conns;
	}
	return (NULL);
}

static void usage(void)
{
	fprintf(stderr, "usage: smtp-load [-c sessions] [-d seconds] "
		"[-n messages] [-w warmup] [-f listfile] [-r rcpt] [-s size] "
		"[-m msgs-per-session] [-v] [-P password | -a passwordfile] "
		"[-A plain|login] [-F from] [-S sender] HOST:PORT\n");
	exit(1);
}

/* password_read - the first line of path, without its newline */
static void password_read(const char *path)
{
	FILE *fp;
	size_t n;

	if ((fp = fopen(path, "r")) == NULL)
		die("cannot open %s: %s", path, strerror(errno));
	if (fgets(password, sizeof(password), fp) == NULL)
		die("no password in %s", path);
	fclose(fp);
	n = strcspn(password, "\r\n");
	if (password[n] == 0 && n == sizeof(password) - 1)
		die("password in %s too long", path);
	password[n] = 0;
}

/* body_make - a plain message of about size bytes, dot-terminated */
static void body_make(size_t size)
{
	size_t cap = size + 1024, o;
	int n;

	body = xrealloc(NULL, cap);
	n = snprintf(body, cap, "From: %s\r\n%s%s%sTo: %s\r\n"
		     "Subject: smtp-load\r\n\r\n", header_from,
		     header_sender != NULL ? "Sender: " : "",
		     header_sender != NULL ? header_sender : "",
		     header_sender != NULL ? "\r\n" : "", rcpt);
	if (n < 0 || (size_t) n >= cap)
		die("header too long");
	o = (size_t) n;
	while (o + 80 < size) {
		memset(body + o, 'x', 76);
		memcpy(body + o + 76, "\r\n", 2);
		o += 78;
	}
	/* 14 bytes: the terminating NUL is not part of the message. */
	memcpy(body + o, "last line\r\n.\r\n", 15);
	body_len = o + 14;
}

int main(int argc, char **argv)
{
	struct worker *workers;
	unsigned long acc = 0, rej = 0, err = 0, total = 0, logins = 0;
	const char *mech = NULL;
	int have_password = 0;
	size_t nlat = 0, size = 1024;
	uint32_t *lat;
	char host[64];
	const char *colon;
	struct sigaction sa;
	uint64_t t_start, t_stop;
	double secs;
	int ch, i;

	while ((ch = getopt(argc, argv, "c:d:n:w:f:r:s:m:vP:a:A:F:S:")) != -1) {
		switch (ch) {
		case 'r':
			rcpt = optarg;
			break;
		case 'F':
			if (strlen(optarg) > 254)
				die("-F: an address of at most 254 bytes");
			header_from = optarg;
			break;
		case 'S':
			if (strlen(optarg) > 254)
				die("-S: an address of at most 254 bytes");
			header_sender = optarg;
			break;
		case 's':
			size = (size_t) atol(optarg);
			break;
		case 'm':
			per_session = atoi(optarg);
			break;
		case 'P':
			if (strlen(optarg) >= sizeof(password))
				die("password too long");
			memcpy(password, optarg, strlen(optarg) + 1);
			have_password = 1;
			break;
		case 'a':
			password_read(optarg);
			have_password = 1;
			break;
		case 'A':
			mech = optarg;
			break;
		default:
			if (!load_option(&run, ch, optarg))
				usage();
		}
	}
	if (optind != argc - 1 || run.conns < 1 || per_session < 1
	    || run.duration <= 0 || size > 10 * 1024 * 1024)
		usage();
	if (mech != NULL && !have_password)
		die("-A needs -P or -a");
	if (have_password) {
		if (mech == NULL || strcasecmp(mech, "plain") == 0)
			login_how = LOGIN_PLAIN;
		else if (strcasecmp(mech, "login") == 0)
			login_how = LOGIN_LOGIN;
		else
			die("-A: plain or login, not %s", mech);
		if (*password == 0)
			die("empty password");
	}
	target = argv[optind];
	colon = strrchr(target, ':');
	if (colon == NULL || (size_t) (colon - target) >= sizeof(host))
		usage();
	memcpy(host, target, (size_t) (colon - target));
	host[colon - target] = 0;
	memset(&server, 0, sizeof(server));
	server.sin_family = AF_INET;
	server.sin_port = htons((unsigned short) atoi(colon + 1));
	if (inet_pton(AF_INET, host, &server.sin_addr) != 1)
		die("bad host %s", host);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	(void) sigaction(SIGPIPE, &sa, NULL);
	pairs_load(run.listfile);
	body_make(size);

	workers = xrealloc(NULL, (size_t) run.conns * sizeof(*workers));
	memset(workers, 0, (size_t) run.conns * sizeof(*workers));
	t_start = load_now_ns();
	t_measure = t_start + (uint64_t) (run.warmup * 1e9);
	t_end = t_measure + (uint64_t) (run.duration * 1e9);
	for (i = 0; i < run.conns; i++) {
		workers[i].id = i;
		if (pthread_create(&workers[i].thread, NULL, worker_run,
				   &workers[i]) != 0)
			die("pthread_create failed");
	}
	for (i = 0; i < run.conns; i++)
		pthread_join(workers[i].thread, NULL);
	t_stop = load_now_ns();
	if (run.max < 0 && t_stop > t_end)
		t_stop = t_end;
	secs = (double) (t_stop - t_measure) / 1e9;
	for (i = 0; i < run.conns; i++)
		nlat += workers[i].lat_len;
	lat = xrealloc(NULL, (nlat ? nlat : 1) * sizeof(*lat));
	nlat = 0;
	for (i = 0; i < run.conns; i++) {
		if (workers[i].lat_len)
			memcpy(lat + nlat, workers[i].lat,
			       workers[i].lat_len * sizeof(*lat));
		nlat += workers[i].lat_len;
		acc += workers[i].accepted;
		rej += workers[i].rejected;
		err += workers[i].errors;
		total += workers[i].total;
		logins += workers[i].logins;
	}
	qsort(lat, nlat, sizeof(*lat), load_cmp_u32);
	printf("target=%s sessions=%d seconds=%.3f messages=%lu accepted=%lu "
	       "rejected=%lu errors=%lu mps=%.1f p50_ms=%.2f p99_ms=%.2f "
	       "login=%s total=%lu logins=%lu\n",
	       target, run.conns, secs, acc + rej, acc, rej, err,
	       secs > 0 ? (double) acc / secs : 0.0,
	       nlat ? lat[(size_t) (0.50 * (double) (nlat - 1))] / 1000.0 : 0,
	       nlat ? lat[(size_t) (0.99 * (double) (nlat - 1))] / 1000.0 : 0,
	       login_how == LOGIN_XCLIENT ? "xclient" :
	       login_how == LOGIN_PLAIN ? "plain" : "login", total, logins);
	fflush(stdout);
	for (i = 0; i < run.conns; i++)
		free(workers[i].lat);
	free(workers);
	free(lat);
	free(pairs);
	free(body);
	return (acc > 0 ? 0 : 2);
}
