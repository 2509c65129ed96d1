/*
 * NAME
 *	share-service - mailgrants share-service: SETACL and DELETEACL
 *	from IMAP clients, written with the user's own LDAP bind
 * SYNOPSIS
 *	mailgrants [-c config] share-service --socket path [--timeout secs]
 *		[--max-children n]
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
 *		op=set | delete
 *		login=LOGIN
 *		password=PASSWORD
 *		mailbox=ADDRESS		(absent: the login's own mailbox)
 *		grantee=LOGIN, ADDRESS or DN of a user or group
 *		rights=[+|-]LETTERS	(op=set only)
 *
 *	The answer is one line: "ok TEXT" (done; TEXT says what changed),
 *	"refused TEXT" (the directory or a rule said no) or "unavailable
 *	TEXT" (try again later). The answer is sent only after the
 *	directory confirmed every write. An empty request (the empty line
 *	alone) is answered "ok ready" without a look at the directory and
 *	without a log line: "mailgrants check --front-ends" asks it to see
 *	that the service answers, as Dovecot's mail processes would. Every change is logged on
 *	standard error (the journal) with the login, the operation, the
 *	grantee, the rights and the entry's DN.
 * SEE ALSO
 *	mailgrants(1), ldapshare.h, dovecot-plugin/mailgrants-imap.c
 */

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#include "xalloc.h"

#define SHARE_SERVICE_REQUEST_MAX 16384	/* bytes of one request */
#define SHARE_SERVICE_TIMEOUT_S 30	/* default: reading + the work */
#define SHARE_SERVICE_CHILDREN 32	/* default: connections at once */
#define SHARE_SERVICE_ANSWER_MAX 2048
#define SHARE_SERVICE_PRINT_MAX 256

struct share_request {
	char *op, *login, *password, *mailbox, *grantee, *rights;
};

struct share_notes {
	char text[SHARE_SERVICE_ANSWER_MAX - 64];
	const struct share_request *req;
	const char *rights;
};

/* share_service_print_usage - the synopsis */
void share_service_print_usage(FILE *fp)
{
	fprintf(fp, "usage: %s [-c config] share-service --socket path "
		"[--timeout secs]\n"
		"           [--max-children n]\n", progname);
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
	    req->grantee == NULL ||
	    (strcmp(req->op, "set") != 0 && strcmp(req->op, "delete") != 0) ||
	    (strcmp(req->op, "set") == 0) != (req->rights != NULL)) {
		*error_r = "op (set or delete), login, password, grantee and, "
			   "for set only, rights are needed";
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

/* share_service_do - the request, against the directory: the answer */
static void share_service_do(const struct config *cfg,
			     struct share_request *req, char *answer,
			     size_t size)
{
	struct share_notes notes;
	struct ldapshare *ls = NULL;
	char letters[RIGHTS_MAX + 1];
	const char *error;
	int ret;

	memset(&notes, 0, sizeof(notes));
	notes.req = req;
	if (req->rights != NULL) {
		const char *r = req->rights;

		letters[0] = *r == '+' || *r == '-' ? *r++ : '\0';
		if (rights_share_letters(r, letters + (letters[0] != '\0'),
					 sizeof(letters) - 1, &error) < 0) {
			(void)snprintf(answer, size, "refused %s", error);
			return;
		}
		notes.rights = letters;
	}
	ret = ldapshare_open(cfg, req->login, req->password, &ls, &error);
	explicit_bzero(req->password, strlen(req->password));
	if (ret == 0) {
		if (req->rights != NULL)
			ret = ldapshare_set(ls, req->mailbox, req->grantee,
					    letters, share_service_note,
					    &notes, &error);
		else
			ret = ldapshare_remove(ls, req->mailbox, req->grantee,
					       share_service_note, &notes,
					       &error);
		ldapshare_close(&ls);
	}
	if (ret == 0)
		(void)snprintf(answer, size, "ok %s",
			       notes.text[0] != '\0' ? notes.text
						     : "nothing to change");
	else
		(void)snprintf(answer, size, "%s %s",
			       ret < 0 ? "unavailable" : "refused", error);
	if (ret != 0) {
		char l[SHARE_SERVICE_PRINT_MAX];

		share_service_log("login=%s op=%s: %s",
				  text_printable_str(l, sizeof(l), req->login,
						     TEXT_MARK),
				  req->op, answer);
	}
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
share_service_child(const struct config *cfg, int fd, unsigned int timeout)
{
	char *buf = xmalloc(SHARE_SERVICE_REQUEST_MAX);
	char answer[SHARE_SERVICE_ANSWER_MAX];
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
		(void)snprintf(answer, sizeof(answer), "ok ready");
	} else if (ret < 0 || share_service_parse(buf, &req, &error) < 0) {
		share_service_log("bad request: %s", error);
		(void)snprintf(answer, sizeof(answer), "refused bad request: %s",
			       error);
	} else {
		share_service_do(cfg, &req, answer, sizeof(answer));
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
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s",
			     path) >= sizeof(sun.sun_path))
		return cli_error(-1, "share-service", "%s: path too long",
				 path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cli_error(-1, "share-service", "socket: %s",
				 strerror(errno));
	(void)unlink(path);
	/* Who may connect is the socket's group: the mail processes'. */
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(fd, 64) < 0) {
		umask(old);
		(void)close(fd);
		return cli_error(-1, "share-service", "%s: %s", path,
				 strerror(errno));
	}
	umask(old);
	return fd;
}

/* cmd_share_service - serve until killed */
int cmd_share_service(const struct config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "max-children", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	unsigned int timeout = SHARE_SERVICE_TIMEOUT_S;
	unsigned int max_children = SHARE_SERVICE_CHILDREN, children = 0;
	char *end;
	int c, fd;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 's') {
			path = optarg;
		} else if (c == 't') {
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end != '\0' || v == 0 || v > 3600)
				return cli_error(EXIT_USAGE, "share-service",
						 "--timeout: 1 to 3600 "
						 "seconds");
			timeout = (unsigned int)v;
		} else if (c == 'm') {
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end != '\0' || v == 0 || v > 1024)
				return cli_error(EXIT_USAGE, "share-service",
						 "--max-children: 1 to 1024");
			max_children = (unsigned int)v;
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
	share_service_log("listening on %s", path);
	for (;;) {
		int conn;
		pid_t pid;

		/* Reap what has ended; at the limit, wait for a child to
		   end (each does within twice the timeout): a mail process
		   that opens connections without end makes them queue in
		   the backlog, not fork without bound. */
		while (children > 0) {
			pid = waitpid(-1, NULL,
				      children >= max_children ? 0 : WNOHANG);
			if (pid > 0)
				children--;
			else if (pid < 0 && errno == EINTR)
				continue;
			else
				break;
		}
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
		pid = fork();
		if (pid == 0) {
			(void)close(fd);
			share_service_child(cfg, conn, timeout);
		}
		if (pid < 0)
			share_service_log("fork: %s", strerror(errno));
		else
			children++;
		(void)close(conn);
	}
}
