/*
 * NAME
 *	share-service - mailgrants share-service: GETACL, SETACL and
 *	DELETEACL from IMAP clients, with the user's own LDAP bind
 * SYNOPSIS
 *	mailgrants [-c config] share-service --socket path [--timeout secs]
 *		[--max-children n] [--max-failures n] [--failure-window secs]
 * DESCRIPTION
 *	The imap_mailgrants plugin cannot talk LDAP (it links only the
 *	core), and must not hold any credential of its own: a compromised
 *	imap process would gain it. So it hands this service what the
 *	user logged in with (Dovecot passes the plaintext password to the
 *	mail process as a userdb field) and the change asked for; the
 *	service binds as that user and runs the same lib-sync/ldapshare.c
 *	as "mailgrants share", so slapd's access rules decide, and a
 *	process that lies about the login gains nothing without the
 *	password. The configured identity only looks users, mailboxes and
 *	groups up (it reads; the shipped rules keep it read-only).
 *
 *	One request per connection, in a child process of its own (a slow
 *	directory delays only that client; the password lives only in
 *	it): lines "name=value", values %XX-escaped ('%', CR, LF and other
 *	control characters), ended by an empty line:
 *
 *		op=set | delete | list
 *		login=LOGIN
 *		password=PASSWORD
 *		mailbox=ADDRESS		(absent: the login's own mailbox)
 *		grantee=LOGIN, ADDRESS or DN of a user or group
 *					(set and delete only)
 *		rights=[+|-]LETTERS	(set only)
 *
 *	The answer is one line: "ok ..." (done), "refused TEXT" (the
 *	directory or a rule said no; a password the directory did not
 *	accept says so) or "unavailable TEXT" (try again later). After
 *	"ok", words are %XX-escaped ('%', space, controls):
 *
 *		list:		ok IDENTIFIER RIGHTS ...
 *		set, delete:	ok entry=RIGHTS:DN ... TEXT
 *
 *	A listing names each grantee of a share that has not ended once
 *	(a login, or the DN of a group), with its letters ("-": none),
 *	as ldapshare_list() finds them. After a change each "entry="
 *	names a share entry written (DN as the replica holds it) and the
 *	rights it carries now, "-" when it was deleted, so that the
 *	plugin can wait until the replica shows exactly that; TEXT says
 *	what changed. The answer is sent only after the directory
 *	confirmed every write. An empty request (the empty line alone)
 *	is answered "ok ready" without a look at the directory and
 *	without a log line: "mailgrants check --front-ends" asks it to
 *	see that the service answers, as Dovecot's mail processes would.
 *	Every change is logged on standard error
 *	(the journal) with the login, the operation, the grantee, the
 *	rights and the entry's DN, and each share entry written as an
 *	audit line (trail.h): "mailgrants audit access" reads them.
 *
 *	Password guessing: a mail process could ask with any login and
 *	any password. The parent keeps, per login (ASCII lower case), the
 *	different passwords the directory refused within --failure-window
 *	(a SipHash fingerprint under a key made at start: the same old
 *	password from a client that kept it is no guessing, and counts
 *	once); at --max-failures (binds under way count too) a request
 *	for that login is answered "unavailable" without a bind until the
 *	window has passed; a bind that succeeds clears it. Each child
 *	asks the parent over a socket pair before it binds and tells it
 *	the outcome. The table holds SHARE_SERVICE_FAILED_MAX logins;
 *	when full, the one idle longest goes.
 * SEE ALSO
 *	mailgrants(1), ldapshare.h, dovecot-plugin/mailgrants-imap.c
 */

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "ldapconn.h"
#include "ldapshare.h"
#include "rights.h"
#include "share-service.h"
#include "text.h"
#include "trail.h"
#include "xalloc.h"

#define SHARE_SERVICE_REQUEST_MAX 16384	/* bytes of one request */
#define SHARE_SERVICE_TIMEOUT_S 30	/* default: reading + the work */
#define SHARE_SERVICE_CHILDREN 32	/* default: connections at once */
#define SHARE_SERVICE_ANSWER_MAX 65536	/* one answer line, bytes */
#define SHARE_SERVICE_TEXT_MAX 2048	/* what a change says */
#define SHARE_SERVICE_PRINT_MAX 256
#define SHARE_SERVICE_FAILURES 5	/* default: refused binds ... */
#define SHARE_SERVICE_WINDOW_S 300	/* ... within this, per login */
#define SHARE_SERVICE_FAILED_MAX 4096	/* logins remembered */
#define SHARE_SERVICE_LOGIN_MAX 256	/* bytes of a login remembered */
#define SHARE_SERVICE_MSG_MAX (SHARE_SERVICE_LOGIN_MAX + 16)

struct share_request {
	char *op, *login, *password, *mailbox, *grantee, *rights;
};

struct share_notes {
	char text[SHARE_SERVICE_TEXT_MAX];
	char entries[SHARE_SERVICE_TEXT_MAX * 2];	/* " entry=..." */
	const struct share_request *req;
	const char *rights;
	const struct config *cfg;	/* the audit line's format */
};

/* What the parent knows of one child: its end of the socket pair. */
struct share_child {
	pid_t pid;
	int fd;				/* -1: closed */
	char login[SHARE_SERVICE_LOGIN_MAX];	/* asked for; "" not yet */
};

/* Refused binds of one login. */
struct share_failed {
	char login[SHARE_SERVICE_LOGIN_MAX];
	unsigned int count;		/* passwords refused since first */
	unsigned int pending;		/* binds under way */
	time_t first, last;
	uint64_t *seen;			/* their fingerprints, max_failures */
};

struct share_limits {
	unsigned int max_failures, window;
	struct share_failed *table;
	size_t count;
};

/* The key of the password fingerprints: random, made at start and
   inherited by the children, never written anywhere. */
static uint8_t share_service_key[16];

/* share_service_print_usage - the synopsis */
void share_service_print_usage(FILE *fp)
{
	fprintf(fp, "usage: %s [-c config] share-service --socket path "
		"[--timeout secs]\n"
		"           [--max-children n] [--max-failures n] "
		"[--failure-window secs]\n"
		"  --timeout         reading a request (default %d s)\n"
		"  --max-children    connections served at once (default %d)\n"
		"  --max-failures    different refused passwords of one login "
		"before its\n"
		"                    requests"
		" are refused without a bind (default %d)\n"
		"  --failure-window  ... within this, and for this long "
		"(default %d s)\n", progname, SHARE_SERVICE_TIMEOUT_S,
		SHARE_SERVICE_CHILDREN, SHARE_SERVICE_FAILURES,
		SHARE_SERVICE_WINDOW_S);
}

/* share_service_log - one line on stderr (the journal) */
static void __attribute__((format(printf, 1, 2)))
share_service_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vlog("share-service", fmt, ap);
	va_end(ap);
}

/* share_service_unescape - %XX to bytes, in place; -1 on a bad escape
   or a NUL */
static int share_service_unescape(char *s)
{
	char *w = s;

	for (const char *r = s; *r != '\0'; r++) {
		unsigned int v;

		if (*r != '%') {
			*w++ = *r;
			continue;
		}
		if (sscanf(r + 1, "%2x", &v) != 1 || r[1] == '\0' ||
		    r[2] == '\0' || v == 0)
			return -1;
		*w++ = (char)v;
		r += 2;
	}
	*w = '\0';
	return 0;
}

/* share_service_parse - the request's fields; error_r on bad input */
static int share_service_parse(char *buf, struct share_request *req,
			       const char **error_r)
{
	static const char *const names[] = {
		"op", "login", "password", "mailbox", "grantee", "rights",
	};
	char **fields[] = {
		&req->op, &req->login, &req->password, &req->mailbox,
		&req->grantee, &req->rights,
	};
	char *line, *next, *eq;
	size_t i;

	memset(req, 0, sizeof(*req));
	for (line = buf; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next == NULL) {
			*error_r = "request not ended by an empty line";
			return -1;
		}
		*next++ = '\0';
		if (*line == '\0')
			break;
		if ((eq = strchr(line, '=')) == NULL) {
			*error_r = "a request line without \"=\"";
			return -1;
		}
		*eq++ = '\0';
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcmp(line, names[i]) == 0)
				break;
		if (i == sizeof(names) / sizeof(names[0]) ||
		    *fields[i] != NULL || share_service_unescape(eq) < 0 ||
		    *eq == '\0') {
			*error_r = "an unknown, repeated, empty or badly "
				   "escaped field";
			return -1;
		}
		*fields[i] = eq;
	}
	if (req->op == NULL || req->login == NULL || req->password == NULL ||
	    (strcmp(req->op, "set") != 0 && strcmp(req->op, "delete") != 0 &&
	     strcmp(req->op, "list") != 0) ||
	    (strcmp(req->op, "list") == 0) == (req->grantee != NULL) ||
	    (strcmp(req->op, "set") == 0) != (req->rights != NULL)) {
		*error_r = "op (set, delete or list), login, password and, "
			   "for set and delete, grantee, for set only, "
			   "rights are needed";
		return -1;
	}
	/* the login goes to the parent as one line, and is its key */
	for (const char *p = req->login; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*error_r = "a control character in the login";
			return -1;
		}
	}
	if (strlen(req->login) >= SHARE_SERVICE_LOGIN_MAX) {
		*error_r = "login too long";
		return -1;
	}
	return 0;
}

/* share_service_note - one change: logged, and added to the answer */
static void share_service_note(void *context, const char *text)
{
	struct share_notes *n = context;
	const struct share_request *req = n->req;
	char l[SHARE_SERVICE_PRINT_MAX], g[SHARE_SERVICE_PRINT_MAX];
	char m[SHARE_SERVICE_PRINT_MAX];
	size_t len = strlen(n->text);

	share_service_log("login=%s op=%s mailbox=%s grantee=%s rights=%s: %s",
			  text_printable_str(l, sizeof(l), req->login,
					     TEXT_MARK),
			  req->op,
			  req->mailbox == NULL ? "(own)" :
			  text_printable_str(m, sizeof(m), req->mailbox,
					     TEXT_MARK),
			  text_printable_str(g, sizeof(g), req->grantee,
					     TEXT_MARK),
			  n->rights == NULL ? "-" : n->rights, text);
	(void)snprintf(n->text + len, sizeof(n->text) - len, "%s%s",
		       len > 0 ? "; " : "", text);
}

/* share_service_escape - value with '%', space and controls as %XX,
   appended to buf (len bytes used); false when it does not fit */
static bool share_service_escape(char *buf, size_t size, size_t *len,
				 const char *value)
{
	size_t n = *len;

	for (const unsigned char *p = (const unsigned char *)value;
	     *p != '\0'; p++) {
		bool esc = *p == '%' || *p <= 0x20 || *p == 0x7f;

		if (n + (esc ? 3 : 1) >= size)
			return false;
		if (esc)
			n += (size_t)snprintf(buf + n, size - n, "%%%02X", *p);
		else
			buf[n++] = (char)*p;
	}
	buf[n] = '\0';
	*len = n;
	return true;
}

/* share_service_append - a string appended to buf; false when it does
   not fit */
static bool share_service_append(char *buf, size_t size, size_t *len,
				 const char *s)
{
	size_t n = strlen(s);

	if (*len + n >= size)
		return false;
	memcpy(buf + *len, s, n + 1);
	*len += n;
	return true;
}

/* share_service_changed - one share entry written: " entry=RIGHTS:DN"
   for the answer (the plugin waits until the replica shows it) */
static void share_service_changed(void *context, const char *dn,
				  const char *rights,
				  enum ldapshare_change what)
{
	struct share_notes *n = context;
	size_t len = strlen(n->entries), old = len;
	struct trail_share t = {
		.via = "share-service",
		.login = n->req->login,
		.mailbox = n->req->mailbox,
		.grantee = n->req->grantee,
	};
	struct audit_line a;

	share_service_log("%s", trail_share_line(n->cfg, &a, &t, dn, rights,
						 what));
	/* the replica shows no trace of a grantee taken off a share that
	   keeps others: nothing to wait for */
	if (what == LDAPSHARE_GRANTEE_REMOVED)
		return;

	if (!share_service_append(n->entries, sizeof(n->entries), &len,
				  " entry=") ||
	    !share_service_append(n->entries, sizeof(n->entries), &len,
				  rights != NULL && *rights != '\0' ? rights
								     : "-") ||
	    !share_service_append(n->entries, sizeof(n->entries), &len,
				  ":") ||
	    !share_service_escape(n->entries, sizeof(n->entries), &len, dn))
		n->entries[old] = '\0';	/* not waited for: no harm */
}

/* share_service_list - op=list: "ok IDENTIFIER RIGHTS ..." */
static int share_service_list(struct ldapshare *ls,
			      const struct share_request *req, char *answer,
			      size_t size, const char **error_r)
{
	struct ldapshare_grant *g;
	size_t count, len = 0;
	bool fits = true;
	int ret;

	ret = ldapshare_list(ls, req->mailbox, &g, &count, error_r);
	if (ret != 0)
		return ret;
	fits = share_service_append(answer, size, &len, "ok");
	for (size_t i = 0; i < count && fits; i++) {
		fits = share_service_append(answer, size, &len, " ") &&
		       share_service_escape(answer, size, &len,
					    g[i].identifier) &&
		       share_service_append(answer, size, &len, " ") &&
		       share_service_append(answer, size, &len,
					    g[i].rights[0] != '\0' ?
					    g[i].rights : "-");
	}
	ldapshare_grants_free(&g, count);
	if (!fits) {
		*error_r = "the shares do not fit into one answer";
		return -1;
	}
	return 0;
}

/* share_service_ask_parent - may this login bind now: 1 yes, 0 no
   (answer set), -1 the parent did not say (bind anyway: the parent is
   gone, the service is ending) */
static int share_service_ask_parent(int ctl, const char *login,
				    char *answer, size_t size)
{
	char msg[SHARE_SERVICE_MSG_MAX];
	ssize_t n;

	(void)snprintf(msg, sizeof(msg), "?%s", login);
	if (write(ctl, msg, strlen(msg)) < 0)
		return -1;
	do {
		n = read(ctl, msg, sizeof(msg) - 1);
	} while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -1;
	msg[n] = '\0';
	if (msg[0] == 'y')
		return 1;
	(void)snprintf(answer, size, "unavailable too many passwords for this "
		       "login were refused lately; nothing was asked of the "
		       "directory; try again in %s seconds", msg + 1);
	return 0;
}

#define SHARE_SERVICE_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SHARE_SERVICE_SIPROUND						\
	do {								\
		v0 += v1; v1 = SHARE_SERVICE_ROTL(v1, 13); v1 ^= v0;	\
		v0 = SHARE_SERVICE_ROTL(v0, 32);			\
		v2 += v3; v3 = SHARE_SERVICE_ROTL(v3, 16); v3 ^= v2;	\
		v0 += v3; v3 = SHARE_SERVICE_ROTL(v3, 21); v3 ^= v0;	\
		v2 += v1; v1 = SHARE_SERVICE_ROTL(v1, 17); v1 ^= v2;	\
		v2 = SHARE_SERVICE_ROTL(v2, 32);			\
	} while (0)

/* share_service_le64 - n (at most 8) bytes, little-endian */
static uint64_t share_service_le64(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* share_service_fingerprint - SipHash-2-4 of a password under the
   service's key: the parent tells one refused password from another
   without holding any */
static uint64_t share_service_fingerprint(const char *password)
{
	const uint8_t *in = (const uint8_t *)password;
	size_t len = strlen(password), i;
	uint64_t k0 = share_service_le64(share_service_key, 8);
	uint64_t k1 = share_service_le64(share_service_key + 8, 8);
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t v3 = 0x7465646279746573ULL ^ k1;
	uint64_t m;

	for (i = 0; i + 8 <= len; i += 8) {
		m = share_service_le64(in + i, 8);
		v3 ^= m;
		SHARE_SERVICE_SIPROUND;
		SHARE_SERVICE_SIPROUND;
		v0 ^= m;
	}
	m = share_service_le64(in + i, len - i) | ((uint64_t)len << 56);
	v3 ^= m;
	SHARE_SERVICE_SIPROUND;
	SHARE_SERVICE_SIPROUND;
	v0 ^= m;
	v2 ^= 0xff;
	for (i = 0; i < 4; i++)
		SHARE_SERVICE_SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* share_service_tell_parent - how the bind went: '+' accepted, '-'
   refused (with the password's fingerprint), '=' no bind */
static void share_service_tell_parent(int ctl, char outcome,
				      uint64_t fingerprint)
{
	char msg[32];

	(void)snprintf(msg, sizeof(msg), "%c%016llx", outcome,
		       (unsigned long long)fingerprint);
	/* the parent gone: nothing left to count it */
	if (write(ctl, msg, outcome == '-' ? strlen(msg) : 1) < 0)
		return;
}

/* share_service_do - the request, against the directory: the answer */
static void share_service_do(const struct config *cfg, int ctl,
			     struct share_request *req, char *answer,
			     size_t size)
{
	struct share_notes *notes = xcalloc(1, sizeof(*notes));
	struct ldapshare *ls = NULL;
	char letters[RIGHTS_MAX + 1];
	const char *error;
	int ret;

	notes->req = req;
	notes->cfg = cfg;
	if (req->rights != NULL) {
		const char *r = req->rights;

		letters[0] = *r == '+' || *r == '-' ? *r++ : '\0';
		if (rights_share_letters(r, letters + (letters[0] != '\0'),
					 sizeof(letters) - 1, &error) < 0) {
			(void)snprintf(answer, size, "refused %s", error);
			goto out;
		}
		notes->rights = letters;
	}
	if (share_service_ask_parent(ctl, req->login, answer, size) == 0) {
		ret = 1;
		goto logged;
	}
	ret = ldapshare_open(cfg, req->login, req->password, &ls, &error);
	share_service_tell_parent(ctl, ret == 0 ? '+' :
				  ret == LDAPSHARE_BAD_PASSWORD ? '-' : '=',
				  ret == LDAPSHARE_BAD_PASSWORD ?
				  share_service_fingerprint(req->password) : 0);
	explicit_bzero(req->password, strlen(req->password));
	if (ret == LDAPSHARE_BAD_PASSWORD) {
		/* not an outage: asking again will not help, logging in
		   again (with the new password) will */
		(void)snprintf(answer, size, "refused the directory did not "
			       "accept your password (changed since you "
			       "logged in?); log in again; nothing was "
			       "changed");
		goto logged;
	}
	if (ret == 0) {
		ldapshare_watch(ls, share_service_changed, notes);
		if (strcmp(req->op, "list") == 0)
			ret = share_service_list(ls, req, answer, size,
						 &error);
		else if (req->rights != NULL)
			ret = ldapshare_set(ls, req->mailbox, req->grantee,
					    letters, share_service_note,
					    notes, &error);
		else
			ret = ldapshare_remove(ls, req->mailbox, req->grantee,
					       share_service_note, notes,
					       &error);
		ldapshare_close(&ls);
	}
	if (ret == 0 && strcmp(req->op, "list") != 0)
		(void)snprintf(answer, size, "ok%s %s", notes->entries,
			       notes->text[0] != '\0' ? notes->text
						      : "nothing to change");
	else if (ret != 0)
		(void)snprintf(answer, size, "%s %s",
			       ret < 0 ? "unavailable" : "refused", error);
logged:
	if (ret != 0) {
		char l[SHARE_SERVICE_PRINT_MAX];

		share_service_log("login=%s op=%s: %s",
				  text_printable_str(l, sizeof(l), req->login,
						     TEXT_MARK),
				  req->op, answer);
	}
out:
	free(notes);
}

/* share_service_read - one request, until the empty line */
static int share_service_read(int fd, char *buf, size_t size,
			      unsigned int timeout, const char **error_r)
{
	time_t end = time(NULL) + timeout;
	size_t len = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		time_t left = end - time(NULL);
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left * 1000) == 0) {
			*error_r = "timed out reading the request";
			return -1;
		}
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*error_r = "connection closed before the request ended";
			return -1;
		}
		len += (size_t)n;
		buf[len] = '\0';
		if (memchr(buf, '\0', len) != NULL) {
			*error_r = "a NUL in the request";
			return -1;
		}
		if (strstr(buf, "\n\n") != NULL || strcmp(buf, "\n") == 0)
			return 0;
		if (len == size - 1) {
			*error_r = "request too long";
			return -1;
		}
	}
}

/* share_service_child - one connection: read, do, answer */
static void __attribute__((noreturn))
share_service_child(const struct config *cfg, int fd, int ctl,
		    unsigned int timeout)
{
	char *buf = xmalloc(SHARE_SERVICE_REQUEST_MAX);
	char *answer = xmalloc(SHARE_SERVICE_ANSWER_MAX);
	struct share_request req;
	const char *error;
	size_t len, off = 0;
	int ret;

	/* Past the read, the directory's own time limits apply; this is
	   the bound on a child whatever happens. */
	alarm(timeout * 2);
	ret = share_service_read(fd, buf, SHARE_SERVICE_REQUEST_MAX, timeout,
				 &error);
	if (ret == 0 && strcmp(buf, "\n") == 0) {
		/* the probe of check --front-ends: no directory, no log */
		(void)snprintf(answer, SHARE_SERVICE_ANSWER_MAX, "ok ready");
	} else if (ret < 0 || share_service_parse(buf, &req, &error) < 0) {
		share_service_log("bad request: %s", error);
		(void)snprintf(answer, SHARE_SERVICE_ANSWER_MAX,
			       "refused bad request: %s", error);
	} else {
		share_service_do(cfg, ctl, &req, answer,
				 SHARE_SERVICE_ANSWER_MAX);
	}
	explicit_bzero(buf, SHARE_SERVICE_REQUEST_MAX);
	free(buf);
	/* one line: no newline of the texts may end it early */
	for (char *p = answer; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	len = strlen(answer);
	answer[len++] = '\n';
	while (off < len) {
		ssize_t n = write(fd, answer + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	(void)close(fd);
	_exit(0);
}

/* share_service_listen - the listening socket at path, mode 0660 */
static int share_service_listen(const char *path)
{
	struct sockaddr_un sun;
	char tmp[sizeof(sun.sun_path)];
	mode_t old;
	int fd;

	/* Bound and listening under a name of its own first, then renamed
	   into place: a client that finds the path can connect (between
	   bind() and listen() it would be refused). */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new", path) >= sizeof(tmp) ||
	    (size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s",
			     tmp) >= sizeof(sun.sun_path))
		return cli_error(-1, "share-service", "%s: path too long",
				 path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cli_error(-1, "share-service", "socket: %s",
				 strerror(errno));
	(void)unlink(tmp);
	/* Who may connect is the socket's group: the mail processes'. */
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(fd, 64) < 0 || rename(tmp, path) < 0) {
		umask(old);
		(void)close(fd);
		(void)unlink(tmp);
		return cli_error(-1, "share-service", "%s: %s", path,
				 strerror(errno));
	}
	umask(old);
	return fd;
}

/* share_service_failed - the entry of login, or NULL; with add, a new
   one (the one idle longest makes room when the table is full) */
static struct share_failed *share_service_failed(struct share_limits *lim,
						 const char *login, bool add)
{
	struct share_failed *f, *idle = NULL;

	for (size_t i = 0; i < lim->count; i++) {
		f = &lim->table[i];
		if (strcmp(f->login, login) == 0)
			return f;
		if (f->pending == 0 && (idle == NULL || f->last < idle->last))
			idle = f;
	}
	if (!add)
		return NULL;
	if (lim->count < SHARE_SERVICE_FAILED_MAX)
		f = &lim->table[lim->count++];
	else if (idle != NULL)
		f = idle;	/* children < SHARE_SERVICE_FAILED_MAX */
	else
		return NULL;
	free(f->seen);
	memset(f, 0, sizeof(*f));
	f->seen = xcalloc(lim->max_failures, sizeof(*f->seen));
	(void)snprintf(f->login, sizeof(f->login), "%s", login);
	f->last = time(NULL);
	return f;
}

/* share_service_forget - drop an entry that holds nothing any more */
static void share_service_forget(struct share_limits *lim,
				 struct share_failed *f)
{
	if (f->count > 0 || f->pending > 0)
		return;
	free(f->seen);
	*f = lim->table[--lim->count];
	/* the slot left behind holds nothing of its own any more */
	lim->table[lim->count].seen = NULL;
}

/* share_service_decide - a child asks to bind as login: "y", or "n" with
   the seconds left */
static void share_service_decide(struct share_limits *lim,
				 struct share_child *c, const char *login)
{
	char msg[32] = "y";
	struct share_failed *f;
	time_t now = time(NULL);
	size_t i;

	if (strlen(login) >= sizeof(c->login))
		login = "";	/* the child refuses such a login itself */
	memcpy(c->login, login, strlen(login) + 1);
	/* one key for every spelling SETACL's lookup treats alike */
	for (i = 0; c->login[i] != '\0'; i++)
		if (c->login[i] >= 'A' && c->login[i] <= 'Z')
			c->login[i] = (char)(c->login[i] - 'A' + 'a');
	f = share_service_failed(lim, c->login, true);
	if (f != NULL && f->count > 0 && now - f->first >= lim->window)
		f->count = 0;		/* the window has passed */
	if (f != NULL && f->count + f->pending >= lim->max_failures) {
		long left = f->count > 0 ? (long)(f->first + lim->window - now)
					 : 1;

		(void)snprintf(msg, sizeof(msg), "n%ld", left > 0 ? left : 1);
		c->login[0] = '\0';	/* no bind to hear of */
	} else if (f != NULL) {
		f->pending++;
		f->last = now;
	}
	if (write(c->fd, msg, strlen(msg)) < 0)
		share_service_log("telling a child: %s", strerror(errno));
}

/* share_service_outcome - a child's bind went as msg says (or the
   child ended, "="): '+', '=' or '-' and the refused password's
   fingerprint, counted once: a client that tries the same old password
   again and again is not guessing */
static void share_service_outcome(struct share_limits *lim,
				  struct share_child *c, const char *msg)
{
	struct share_failed *f;
	char outcome = msg[0];
	unsigned long long fp = 0;
	unsigned int i;

	if (c->login[0] == '\0')
		return;
	f = share_service_failed(lim, c->login, false);
	c->login[0] = '\0';
	if (f == NULL)
		return;
	if (f->pending > 0)
		f->pending--;
	if (outcome == '-' && sscanf(msg + 1, "%16llx", &fp) == 1) {
		for (i = 0; i < f->count && f->seen[i] != fp; i++)
			;
		f->last = time(NULL);
		if (i < f->count || f->count == lim->max_failures)
			return;		/* that one counted already */
		if (f->count == 0)
			f->first = time(NULL);
		f->seen[f->count++] = fp;
		share_service_log("login=%s: the directory refused the password "
				  "(%u within %u s)", f->login, f->count,
				  lim->window);
	} else if (outcome == '+') {
		f->count = 0;
	}
	share_service_forget(lim, f);
}

/* share_service_hear - what a child says on its socket pair; false when
   it has closed it (it ended) */
static bool share_service_hear(struct share_limits *lim,
			       struct share_child *c)
{
	char msg[SHARE_SERVICE_MSG_MAX];
	ssize_t n;

	do {
		n = read(c->fd, msg, sizeof(msg) - 1);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return true;
	if (n <= 0) {
		share_service_outcome(lim, c, "=");
		return false;
	}
	msg[n] = '\0';
	if (msg[0] == '?' && c->login[0] == '\0')
		share_service_decide(lim, c, msg + 1);
	else
		share_service_outcome(lim, c, msg);
	return true;
}

/* share_service_spawn - a child for the connection conn */
static void share_service_spawn(const struct config *cfg, int listen_fd,
				int conn, unsigned int timeout,
				struct share_child *kids, unsigned int *nkids)
{
	int pair[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
		share_service_log("socketpair: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0) {
		/* the other children's pairs are not this one's: a copy
		   kept open would hide their end from the parent */
		for (unsigned int i = 0; i < *nkids; i++)
			(void)close(kids[i].fd);
		(void)close(listen_fd);
		(void)close(pair[0]);
		share_service_child(cfg, conn, pair[1], timeout);
	}
	(void)close(pair[1]);
	if (pid < 0) {
		share_service_log("fork: %s", strerror(errno));
		(void)close(pair[0]);
		return;
	}
	kids[*nkids].pid = pid;
	kids[*nkids].fd = pair[0];
	kids[*nkids].login[0] = '\0';
	(*nkids)++;
}

/* share_service_number - an option's number in 1..max */
static int share_service_number(const char *arg, unsigned long max,
				unsigned int *value_r)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v == 0 || v > max)
		return -1;
	*value_r = (unsigned int)v;
	return 0;
}

/* cmd_share_service - serve until killed */
int cmd_share_service(const struct config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "max-children", required_argument, NULL, 'm' },
		{ "max-failures", required_argument, NULL, 'f' },
		{ "failure-window", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	unsigned int timeout = SHARE_SERVICE_TIMEOUT_S;
	unsigned int max_children = SHARE_SERVICE_CHILDREN, nkids = 0;
	struct share_limits lim = { SHARE_SERVICE_FAILURES,
				    SHARE_SERVICE_WINDOW_S, NULL, 0 };
	struct share_child *kids;
	struct pollfd *pfd;
	int c, fd;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 's') {
			path = optarg;
		} else if (c == 't') {
			if (share_service_number(optarg, 3600, &timeout) < 0)
				return cli_error(EXIT_USAGE, "share-service",
						 "--timeout: 1 to 3600 "
						 "seconds");
		} else if (c == 'm') {
			if (share_service_number(optarg, 1024,
						 &max_children) < 0)
				return cli_error(EXIT_USAGE, "share-service",
						 "--max-children: 1 to 1024");
		} else if (c == 'f') {
			if (share_service_number(optarg, 1000,
						 &lim.max_failures) < 0)
				return cli_error(EXIT_USAGE, "share-service",
						 "--max-failures: 1 to 1000");
		} else if (c == 'w') {
			if (share_service_number(optarg, 86400,
						 &lim.window) < 0)
				return cli_error(EXIT_USAGE, "share-service",
						 "--failure-window: 1 to 86400 "
						 "seconds");
		} else {
			share_service_print_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (path == NULL || optind != argc) {
		share_service_print_usage(stderr);
		return EXIT_USAGE;
	}
	if ((fd = share_service_listen(path)) < 0)
		return EXIT_UNAVAILABLE;
	(void)signal(SIGPIPE, SIG_IGN);
	kids = xcalloc(max_children, sizeof(*kids));
	pfd = xcalloc(max_children + 1, sizeof(*pfd));
	lim.table = xcalloc(SHARE_SERVICE_FAILED_MAX, sizeof(*lim.table));
	if (getrandom(share_service_key, sizeof(share_service_key), 0) !=
	    (ssize_t)sizeof(share_service_key))
		return cli_error(EXIT_UNAVAILABLE, "share-service",
				 "getrandom: %s", strerror(errno));
	share_service_log("listening on %s", path);
	for (;;) {
		unsigned int i, n = 0, polled = nkids;
		bool listening = nkids < max_children;
		int conn;

		/* At the limit, only the children are heard: a mail
		   process that opens connections without end makes them
		   queue in the backlog, not fork without bound. */
		for (i = 0; i < nkids; i++) {
			pfd[n].fd = kids[i].fd;
			pfd[n++].events = POLLIN;
		}
		pfd[n].fd = fd;
		pfd[n].events = POLLIN;
		pfd[n].revents = 0;
		if (listening)
			n++;
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			share_service_log("poll: %s", strerror(errno));
			return EXIT_UNAVAILABLE;
		}
		/* A child that closed its pair has ended (or is ending):
		   reap it, and its place is free. */
		for (i = polled; i-- > 0;) {
			if (pfd[i].revents == 0 ||
			    share_service_hear(&lim, &kids[i]))
				continue;
			(void)close(kids[i].fd);
			while (waitpid(kids[i].pid, NULL, 0) < 0 &&
			       errno == EINTR)
				;
			kids[i] = kids[--nkids];
		}
		if (!listening || (pfd[polled].revents & POLLIN) == 0)
			continue;
		conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0) {
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EMFILE || errno == ENFILE) {
				if (errno == EMFILE || errno == ENFILE)
					(void)sleep(1);
				continue;
			}
			share_service_log("accept: %s", strerror(errno));
			return EXIT_UNAVAILABLE;
		}
		share_service_spawn(cfg, fd, conn, timeout, kids, &nkids);
		(void)close(conn);
	}
}
