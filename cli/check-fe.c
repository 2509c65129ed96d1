/*
 * NAME
 *	check-fe - mailgrants check --front-ends: Postfix and Dovecot as
 *	they are configured
 * SYNOPSIS
 *	#include "cli.h"
 *
 *	unsigned int check_front_ends(const struct config *cfg,
 *				      const struct check_fe_options *opt);
 * DESCRIPTION
 *	Reads the front ends' real configuration through their own tools
 *	(postconf -M, postconf -P -x, postconf -x -h; doveconf -n,
 *	doveconf -P -n passdb, doveconf NAME, doveconf -f protocol=imap
 *	NAME), never by parsing
 *	their files, so that includes, $name expansion and master.cf -o
 *	overrides count as they do for the servers:
 *
 *	Postfix: every smtpd inet service with SASL on (a submission
 *	service) runs check_policy_service with a mailgrants socket
 *	before any permit in the same restriction list, and the
 *	mailgrants milter with milter_default_action = tempfail; the
 *	policy and milter sockets exist and Postfix's mail_owner can
 *	connect to them.
 *
 *	Dovecot, 2.3 or 2.4 (the version doveconf -n names first, also
 *	when it refuses the configuration): doveconf takes the
 *	configuration (on 2.4 it needs the plugin's settings module); the
 *	plugin is in mail_plugins of protocol imap, with acl, and
 *	imap_mailgrants with imap_acl (the IMAP ACL commands on granted
 *	mailboxes); each mailgrants_*_prefix has its shared namespace;
 *	the plugin reads the replica of this configuration; the mail
 *	processes' identity (mail_uid/mail_gid or the userdb's uid/gid,
 *	plus mail_access_groups: Dovecot gives virtual users no other
 *	groups) reads the replica, -wal and -shm and writes none of them.
 *	Sharing from mail clients, when mailgrants_share_socket is set
 *	(else it says that it is off, no problem): the share service
 *	answers its probe (the empty request) on that socket to the mail
 *	processes' identity (as root; else to its own), the passdb hands
 *	the password on (userdb_mailgrants_share_password = %w, or
 *	%{password}, in doveconf -P -n passdb), and imap_mailgrants is
 *	loaded.
 *	The checks are the same for both versions; struct dc_syntax holds
 *	what differs: setting names (plugin/mailgrants_replica on 2.3,
 *	mailgrants_replica on 2.4), %%u or $user in the prefixes, and the
 *	snippet and syntax of each fix. protocol imap's mail_plugins
 *	replaces the global one, but for a 2.4 block, which adds to it.
 *
 *	Addresses: the replica's addresses (all up to opt->sample, else a
 *	random sample of that size, said so) resolve in Postfix's
 *	virtual_mailbox_maps or virtual_alias_maps (postmap -q), and the
 *	mailboxes' own addresses in Dovecot's userdb (doveadm user).
 * DIAGNOSTICS
 *	One line per finding on standard output, each problem a WARNING
 *	with a "->" line naming the setting or line to change. Returns
 *	the number of problems.
 * SEE ALSO
 *	mailgrants(1), postconf(1), doveconf(1), doveadm-user(1)
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "xalloc.h"

#define FE_OUTPUT_MAX (8u << 20)	/* a tool's output we read at most */
#define FE_LIST_MAX 10			/* unresolved addresses shown */
#define FE_GROUPS_MAX 64

static unsigned int fe_problems;

/* fe_problem - one finding and the line to change */
static void __attribute__((format(printf, 3, 4)))
fe_problem(const char *area, const char *fix, const char *fmt, ...)
{
	va_list ap;

	printf("%-10s WARNING: ", area);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n           -> %s\n", fix);
	fe_problems++;
}

/* fe_run - run argv (no shell), feed it input, return its stdout in
   *out_r (NUL-terminated, to be freed); the exit status, or -1 */
static int fe_run(char *const argv[], const char *input, bool with_stderr,
		  char **out_r)
{
	int in[2], out[2], status;
	size_t len = 0, size = 4096;
	char *buf = xmalloc(size);
	pid_t pid;
	ssize_t n;

	*out_r = buf;
	buf[0] = '\0';
	if (pipe(in) < 0)
		return -1;
	if (pipe(out) < 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	fflush(stdout);
	if ((pid = fork()) < 0) {
		close(in[0]); close(in[1]); close(out[0]); close(out[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(with_stderr ? out[1] : null, 2);
		close(in[0]); close(in[1]); close(out[0]); close(out[1]);
		execvp(argv[0], argv);
		/* postconf and postmap live in /usr/sbin, which a PATH
		   outside a root login shell may lack. */
		for (size_t i = 0; i < 2 && strchr(argv[0], '/') == NULL;
		     i++) {
			static const char *const dirs[] = {
				"/usr/sbin/", "/usr/bin/"
			};
			char path[256];

			if ((size_t)snprintf(path, sizeof(path), "%s%s",
					     dirs[i], argv[0]) < sizeof(path))
				execv(path, argv);
		}
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	/* Inputs are a bounded sample of addresses: smaller than a pipe's
	   buffer, so writing all before reading cannot deadlock. */
	if (input != NULL) {
		struct sigaction sa, old;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		sigaction(SIGPIPE, &sa, &old);
		for (size_t off = 0, left = strlen(input); left > 0;) {
			if ((n = write(in[1], input + off, left)) <= 0) {
				if (n < 0 && errno == EINTR)
					continue;
				break;
			}
			off += (size_t)n;
			left -= (size_t)n;
		}
		sigaction(SIGPIPE, &old, NULL);
	}
	close(in[1]);
	for (;;) {
		if (size - len < 2) {
			if (size >= FE_OUTPUT_MAX)
				break;
			buf = xgrow(buf, &size, len + 2, 1, 4096);
			*out_r = buf;
		}
		n = read(out[0], buf + len, size - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(out[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* fe_words - split s at commas and white space into at most max words
   (modifies s) */
static size_t fe_words(char *s, char **w, size_t max)
{
	size_t n = 0;

	for (char *tok = strtok(s, ", \t\r\n"); tok != NULL && n < max;
	     tok = strtok(NULL, ", \t\r\n"))
		w[n++] = tok;
	return n;
}

/* fe_line - line i (0-based) of text, in buf */
static const char *fe_line(const char *text, unsigned int i, char *buf,
			   size_t size)
{
	const char *end;

	while (i-- > 0 && text != NULL)
		if ((text = strchr(text, '\n')) != NULL)
			text++;
	if (text == NULL) {
		buf[0] = '\0';
		return buf;
	}
	end = strchr(text, '\n');
	snprintf(buf, size, "%.*s", (int)(end != NULL ? end - text :
					  (long)strlen(text)), text);
	return buf;
}

/* --- Postfix ------------------------------------------------------- */

enum pf_param {
	PF_SASL, PF_SENDER, PF_RELAY, PF_RECIPIENT, PF_MILTERS,
	PF_MILTER_DEFAULT, PF_QUEUE_DIR, PF_MAIL_OWNER, PF_VMAILBOX_MAPS,
	PF_VALIAS_MAPS, PF_COUNT
};

static const char *const pf_names[PF_COUNT] = {
	"smtpd_sasl_auth_enable", "smtpd_sender_restrictions",
	"smtpd_relay_restrictions", "smtpd_recipient_restrictions",
	"smtpd_milters", "milter_default_action", "queue_directory",
	"mail_owner", "virtual_mailbox_maps", "virtual_alias_maps",
};

struct postfix {
	const char *dir;	/* -c DIR, or NULL */
	char *global[PF_COUNT];
	char *overrides;	/* postconf -P -x */
};

/* pf_argv - postconf/postmap with -c DIR */
static void pf_argv(const struct postfix *pf, const char *tool,
		    char **argv, size_t *n)
{
	argv[(*n)++] = (char *)tool;
	if (pf->dir != NULL) {
		argv[(*n)++] = (char *)"-c";
		argv[(*n)++] = (char *)pf->dir;
	}
}

/* pf_value - a parameter as service name/type sees it (its -o
   override, else main.cf's), expanded; to be freed */
static char *pf_value(const struct postfix *pf, const char *service,
		      enum pf_param p, bool *override_r)
{
	char *key = xasprintf("%s/inet/%s = ", service, pf_names[p]);
	size_t klen = strlen(key);
	const char *s = pf->overrides;
	char *v = NULL;

	for (; s != NULL && *s != '\0'; s = strchr(s, '\n'), s = s ? s + 1 :
	     NULL) {
		if (strncmp(s, key, klen) == 0) {
			const char *end = strchr(s, '\n');

			v = xasprintf("%.*s", (int)(end != NULL ? end - s -
				       (long)klen : (long)strlen(s + klen)),
				      s + klen);
			break;
		}
	}
	free(key);
	*override_r = v != NULL;
	return v != NULL ? v : xstrdup(pf->global[p]);
}

/* pf_where - where a parameter of a service is set, for the fix line */
static char *pf_where(const char *service, enum pf_param p, bool override,
		      const char *value)
{
	if (override)
		return xasprintf("master.cf, service %s (inet): -o { %s = %s }",
				 service, pf_names[p], value);
	return xasprintf("master.cf, service %s (inet): add -o { %s = %s } "
			 "(or main.cf: %s = %s)", service, pf_names[p], value,
			 pf_names[p], value);
}

/* pf_is_permit - a restriction that ends its list with OK */
static bool pf_is_permit(const char *w)
{
	return strcmp(w, "permit") == 0 ||
		strcmp(w, "permit_sasl_authenticated") == 0 ||
		strcmp(w, "permit_mynetworks") == 0 ||
		strncmp(w, "permit_tls_", 11) == 0;
}

/* pf_socket_path - a unix: policy or milter endpoint as a file name
   (relative ones are below queue_directory); NULL for inet: */
static char *pf_socket_path(const struct postfix *pf, const char *spec)
{
	if (strncmp(spec, "unix:", 5) == 0)
		spec += 5;
	else if (strchr(spec, ':') != NULL && spec[0] != '/')
		return NULL;
	if (spec[0] == '/')
		return xstrdup(spec);
	return xasprintf("%s/%s", pf->global[PF_QUEUE_DIR], spec);
}

/* pf_table_path - the table as postmap, run from here, must name it:
   Postfix's daemons run in queue_directory and find a relative
   socketmap:unix:private/... there (delivery.main.cf.snippet); to be
   freed */
static char *pf_table_path(const struct postfix *pf, const char *map)
{
	static const char sm[] = "socketmap:unix:";

	if (strncmp(map, sm, sizeof(sm) - 1) != 0 ||
	    map[sizeof(sm) - 1] == '/')
		return xstrdup(map);
	return xasprintf("%s%s/%s", sm, pf->global[PF_QUEUE_DIR],
			 map + sizeof(sm) - 1);
}

/* fe_sun - the address of the UNIX socket path; ENAMETOOLONG if it does
   not fit, else 0. Flushes stdout: a probe child forks next. */
static int fe_sun(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return ENAMETOOLONG;
	memcpy(sun->sun_path, path, strlen(path) + 1);
	fflush(stdout);
	return 0;
}

/* pf_connect_as - can user connect to the UNIX socket? 0 yes, else the
   errno of connect(2) (or of taking the identity) */
static int pf_connect_as(const struct passwd *pw, const char *path)
{
	struct sockaddr_un sun;
	pid_t pid;
	int status;

	if (fe_sun(&sun, path) != 0)
		return ENAMETOOLONG;
	if ((pid = fork()) < 0)
		return errno;
	if (pid == 0) {
		int fd;

		if (initgroups(pw->pw_name, pw->pw_gid) < 0 ||
		    setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
			_exit(EPERM);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sun,
				      sizeof(sun)) < 0)
			_exit(errno != 0 ? errno : EIO);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
}

/* pf_check_socket - exists, a socket, and Postfix can connect */
static void pf_check_socket(const struct postfix *pf, const char *what,
			    const char *spec, const char *unit)
{
	char *path = pf_socket_path(pf, spec);
	struct passwd *pw;
	struct stat st;
	char ub[64];
	int err;

	if (path == NULL) {
		printf("postfix:   %s %s: not a UNIX socket, not tested\n",
		       what, spec);
		return;
	}
	if (lstat(path, &st) < 0) {
		fe_problem("postfix:", unit, "%s socket %s (%s): %s", what,
			   path, spec, strerror(errno));
		goto out;
	}
	if (!S_ISSOCK(st.st_mode)) {
		fe_problem("postfix:", unit, "%s socket %s: not a socket",
			   what, path);
		goto out;
	}
	pw = getpwuid(st.st_uid);
	snprintf(ub, sizeof(ub), "%s", pw != NULL ? pw->pw_name : "?");
	if (geteuid() != 0) {
		printf("postfix:   %s socket %s: %s %04o (run as root to test "
		       "that Postfix can connect)\n", what, path, ub,
		       (unsigned int)(st.st_mode & 07777));
		goto out;
	}
	if ((pw = getpwnam(pf->global[PF_MAIL_OWNER])) == NULL) {
		fe_problem("postfix:", "main.cf: mail_owner", "mail_owner "
			   "%s: no such user", pf->global[PF_MAIL_OWNER]);
		goto out;
	}
	err = pf_connect_as(pw, path);
	if (err == 0)
		printf("postfix:   %s socket %s: %s %04o, %s connects: ok\n",
		       what, path, ub, (unsigned int)(st.st_mode & 07777),
		       pw->pw_name);
	else if (err == ECONNREFUSED)
		fe_problem("postfix:", unit, "%s socket %s: nobody listens "
			   "(%s)", what, path, strerror(err));
	else
		fe_problem("postfix:", "the socket must be writable by "
			   "Postfix's mail_owner, every directory on the way "
			   "searchable: the daemons make it 0666 in Postfix's "
			   "private/ (chmod 0666 it, or restart the daemon)",
			   "%s socket %s: %s %04o: %s cannot connect: %s", what,
			   path, ub, (unsigned int)(st.st_mode & 07777),
			   pw->pw_name, strerror(err));
out:
	free(path);
}

/* pf_check_service - one submission service */
static void pf_check_service(struct postfix *pf, const char *svc,
			     bool *policy_seen, bool *milter_seen)
{
	static const enum pf_param lists[] = {
		PF_SENDER, PF_RELAY, PF_RECIPIENT
	};
	bool ov, found = false;
	char *w[256];

	for (size_t l = 0; l < 3 && !found; l++) {
		char *v = pf_value(pf, svc, lists[l], &ov);
		char *copy = xstrdup(v);
		size_t n = fe_words(copy, w, 256), permit = n;

		for (size_t i = 0; i + 1 < n; i++) {
			if (pf_is_permit(w[i]) && permit == n)
				permit = i;
			if (strcmp(w[i], "check_policy_service") != 0 ||
			    strstr(w[i + 1], "mailgrants") == NULL)
				continue;
			found = true;
			if (!*policy_seen) {
				*policy_seen = true;
				pf_check_socket(pf, "policy", w[i + 1],
						"start mailgrants-policyd "
						"(systemctl enable --now "
						"mailgrants-policyd)");
			}
			if (permit < i) {
				/* The fixed list: the check first. */
				char fixed[2048], *where;
				size_t len = 0;

				len += (size_t)snprintf(fixed, sizeof(fixed),
					"check_policy_service %s", w[i + 1]);
				for (size_t k = 0; k < n && len <
				     sizeof(fixed); k++)
					if (k != i && k != i + 1)
						len += (size_t)snprintf(
							fixed + len,
							sizeof(fixed) - len,
							", %s", w[k]);
				where = pf_where(svc, lists[l], ov, fixed);
				fe_problem("postfix:", where, "service %s: "
					   "%s has %s before check_policy_"
					   "service %s: the policy check never"
					   " runs for a logged-in client",
					   svc, pf_names[lists[l]], w[permit],
					   w[i + 1]);
				free(where);
			} else {
				printf("postfix:   service %s: %s runs "
				       "check_policy_service %s first: ok\n",
				       svc, pf_names[lists[l]], w[i + 1]);
			}
			break;
		}
		free(copy);
		free(v);
	}
	if (!found) {
		char *where = pf_where(svc, PF_SENDER, true,
				       "check_policy_service "
				       "unix:private/mailgrants");

		fe_problem("postfix:", where, "service %s (SASL on) runs no "
			   "check_policy_service with a mailgrants socket: "
			   "logins send as any address", svc);
		free(where);
	}

	/* The milter, and what Postfix does when it is down. */
	{
		char *m = pf_value(pf, svc, PF_MILTERS, &ov);
		char *copy = xstrdup(m), *spec = NULL;
		size_t n = fe_words(copy, w, 256);

		for (size_t i = 0; i < n && spec == NULL; i++)
			if (strstr(w[i], "mailgrants") != NULL)
				spec = w[i];
		if (spec == NULL) {
			char *where = pf_where(svc, PF_MILTERS, true,
					       "unix:private/mailgrants-milter"
					       " (before other milters)");

			fe_problem("postfix:", where, "service %s: no "
				   "mailgrants milter in smtpd_milters (%s): "
				   "header From: is not checked", svc,
				   m[0] != '\0' ? m : "empty");
			free(where);
		} else {
			char *act = pf_value(pf, svc, PF_MILTER_DEFAULT, &ov);

			if (!*milter_seen) {
				*milter_seen = true;
				pf_check_socket(pf, "milter", spec,
						"start mailgrants-milter "
						"(systemctl enable --now "
						"mailgrants-milter)");
			}
			if (strcmp(act, "tempfail") != 0) {
				char *where = pf_where(svc, PF_MILTER_DEFAULT,
						       ov, "tempfail");

				fe_problem("postfix:", where, "service %s: "
					   "milter_default_action = %s: mail "
					   "passes unchecked (or bounces) "
					   "while the milter is down", svc,
					   act);
				free(where);
			} else {
				printf("postfix:   service %s: milter %s, "
				       "milter_default_action = tempfail: "
				       "ok\n", svc, spec);
			}
			free(act);
		}
		free(copy);
		free(m);
	}
}

/* pf_load - read Postfix's configuration; -1 if postconf fails */
static int pf_load(struct postfix *pf)
{
	char *argv[16 + PF_COUNT], *out, line[4096];
	size_t n = 0;
	int rc;

	pf_argv(pf, "postconf", argv, &n);
	argv[n++] = (char *)"-x";
	argv[n++] = (char *)"-h";
	for (size_t i = 0; i < PF_COUNT; i++)
		argv[n++] = (char *)pf_names[i];
	argv[n] = NULL;
	/* Without its warnings: one value per line, in order. */
	rc = fe_run(argv, NULL, false, &out);
	if (rc != 0) {
		fe_problem("postfix:", "install postfix, or name its "
			   "configuration with --postfix-config DIR",
			   "postconf%s%s -n failed (exit %d; run it to see "
			   "why)", pf->dir != NULL ? " -c " : "",
			   pf->dir != NULL ? pf->dir : "", rc);
		free(out);
		return -1;
	}
	for (size_t i = 0; i < PF_COUNT; i++)
		pf->global[i] = xstrdup(fe_line(out, (unsigned int)i, line,
						sizeof(line)));
	free(out);
	n = 0;
	pf_argv(pf, "postconf", argv, &n);
	argv[n++] = (char *)"-P";
	argv[n++] = (char *)"-x";
	argv[n] = NULL;
	(void)fe_run(argv, NULL, false, &pf->overrides);
	return 0;
}

/* pf_check - every submission service of the Postfix instance */
static void pf_check(struct postfix *pf)
{
	char *argv[8], *out, *line, *save = NULL;
	bool policy_seen = false, milter_seen = false;
	unsigned int services = 0;
	size_t n = 0;

	pf_argv(pf, "postconf", argv, &n);
	argv[n++] = (char *)"-M";
	argv[n] = NULL;
	(void)fe_run(argv, NULL, false, &out);
	for (line = strtok_r(out, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *copy = xstrdup(line), *w[16], *sasl;
		size_t k = fe_words(copy, w, 16);
		bool ov;

		if (k < 8 || strcmp(w[1], "inet") != 0 ||
		    strcmp(w[7], "smtpd") != 0) {
			free(copy);
			continue;
		}
		/* A submission service is where clients log in. */
		sasl = pf_value(pf, w[0], PF_SASL, &ov);
		if (strcmp(sasl, "yes") == 0) {
			services++;
			pf_check_service(pf, w[0], &policy_seen,
					 &milter_seen);
		}
		free(sasl);
		free(copy);
	}
	free(out);
	if (services == 0)
		fe_problem("postfix:", "master.cf: a submission service with "
			   "-o smtpd_sasl_auth_enable=yes (README, step 9)",
			   "no smtpd service with smtpd_sasl_auth_enable = "
			   "yes: nobody logs in, nothing to check");
}

/* --- Dovecot ------------------------------------------------------- */

/* What differs between Dovecot 2.3 and 2.4 for these checks: the names
   of the plugin's settings, the user in a namespace prefix, and the
   syntax of the line to change. The checks are the same. */
struct dc_syntax {
	const char *snippet;	/* the shipped file the fix comes from */
	const char *key;	/* the plugin's keys: plugin/NAME or NAME */
	const char *user;	/* the user in a root's prefix */
	const char *plugins_fix;
	const char *imap_plugins_fix;
	const char *block_open;	/* around mailgrants_replica = ... */
	const char *block_close;
	const char *unknown_key_fix;	/* doveconf: Unknown setting:
					   mailgrants_... */
	const char *failed_fix;	/* doveconf refuses the configuration */
	const char *share_password_fix;	/* the passdb passes it on */
};

static const struct dc_syntax dc_syntax_23 = {
	.snippet = "conf.d/90-mailgrants.conf",
	.key = "plugin/",
	.user = "%%u",
	.plugins_fix = "mail_plugins = $mail_plugins acl mailgrants",
	.imap_plugins_fix = "protocol imap { mail_plugins = $mail_plugins "
		"imap_acl imap_mailgrants }",
	.block_open = "plugin { ",
	.block_close = " }",
	.unknown_key_fix = "conf.d/90-mailgrants.conf: the mailgrants_* "
		"settings belong in plugin { }",
	.failed_fix = "correct the line doveconf names",
	.share_password_fix = "in the passdb { } that checks the password: "
		"override_fields = userdb_mailgrants_share_password=%w",
};

static const struct dc_syntax dc_syntax_24 = {
	.snippet = "conf.d/90-mailgrants-2.4.conf",
	.key = "",
	.user = "$user",
	.plugins_fix = "mail_plugins { acl = yes mailgrants = yes }",
	.imap_plugins_fix = "protocol imap { mail_plugins { imap_acl = yes "
		"imap_mailgrants = yes } }",
	.block_open = "",
	.block_close = "",
	.unknown_key_fix = "install settings/libmailgrants_settings.so in "
		"Dovecot's module directory (make install-dovecot-plugin, "
		"or the package dovecot-mailgrants): Dovecot 2.4 learns the "
		"plugin's settings from it",
	.failed_fix = "correct the line doveconf names in Dovecot 2.4's "
		"syntax (dovecot_config_version first; "
		"90-mailgrants-2.4.conf instead of 90-mailgrants.conf)",
	.share_password_fix = "in the passdb that checks the password: "
		"passdb ldap { fields { userdb_mailgrants_share_password = "
		"%{password} } }",
};

struct dovecot {
	const char *conf;	/* -c FILE, or NULL */
	const struct dc_syntax *syntax;	/* of the version doveconf is */
};

/* dc_argv - doveconf/doveadm with -c FILE */
static void dc_argv(const struct dovecot *dc, const char *tool, char **argv,
		    size_t *n)
{
	argv[(*n)++] = (char *)tool;
	if (dc->conf != NULL) {
		argv[(*n)++] = (char *)"-c";
		argv[(*n)++] = (char *)dc->conf;
	}
}

/* dc_lookup - doveconf NAME (with a filter, or NULL): the value of its
   "NAME = value" line, or of a "NAME { ... }" block (2.4's boollists)
   its lines, *block_r set; "" when it is not set; to be freed, NULL if
   doveconf fails. (Not doveconf -h: 2.4.1 answers it for most settings
   with "Multiple settings matched".) */
static char *dc_lookup(const struct dovecot *dc, const char *filter,
		       const char *name, bool *block_r)
{
	char *argv[12], *out, *v = NULL;
	size_t n = 0, len = strlen(name);
	const char *s, *end;

	*block_r = false;
	dc_argv(dc, "doveconf", argv, &n);
	if (filter != NULL) {
		argv[n++] = (char *)"-f";
		argv[n++] = (char *)filter;
	}
	argv[n++] = (char *)name;
	argv[n] = NULL;
	if (fe_run(argv, NULL, false, &out) != 0) {
		free(out);
		return NULL;
	}
	for (s = out; v == NULL && *s != '\0'; s = end + (*end != '\0')) {
		end = s + strcspn(s, "\n");
		if (strncmp(s, name, len) != 0)
			continue;
		if (strncmp(s + len, " = ", 3) == 0) {
			v = xasprintf("%.*s", (int)(end - s - (long)len - 3),
				      s + len + 3);
		} else if (strncmp(s + len, " {\n", 3) == 0) {
			const char *close = strstr(end, "\n}");

			v = xasprintf("%.*s", close != NULL ?
				      (int)(close - end) : 0, end);
			*block_r = true;
		}
	}
	free(out);
	return v != NULL ? v : xstrdup("");
}

/* dc_get - a setting's value (dc_lookup) */
static char *dc_get(const struct dovecot *dc, const char *filter,
		    const char *name)
{
	bool block;

	return dc_lookup(dc, filter, name, &block);
}

/* dc_has_word - whether a space-separated list has w */
static bool dc_has_word(const char *list, const char *w)
{
	char *copy = xstrdup(list), *v[64];
	size_t n = fe_words(copy, v, 64);
	bool found = false;

	for (size_t i = 0; i < n && !found; i++)
		found = strcmp(v[i], w) == 0;
	free(copy);
	return found;
}

/* dc_list_set - add w to (on) or remove it from a space-separated list */
static void dc_list_set(char **list, const char *w, bool on)
{
	char *copy = xstrdup(*list), *v[64], *out = xstrdup(""), *next;
	size_t n = fe_words(copy, v, 64);

	for (size_t i = 0; i <= n; i++) {
		const char *add = i < n ? v[i] : on ? w : NULL;

		if (add == NULL || (i < n && strcmp(add, w) == 0))
			continue;
		next = xasprintf("%s%s%s", out, out[0] != '\0' ? " " : "",
				 add);
		free(out);
		out = next;
	}
	free(copy);
	free(*list);
	*list = out;
}

/* dc_plugins_apply - a mail_plugins value on top of the list: 2.3's
   words add, and so do 2.4's "name = yes" lines; "name = no" removes */
static void dc_plugins_apply(char **list, const char *value)
{
	char *copy = xstrdup(value), *save = NULL;

	for (char *line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *w[64], *eq = strstr(line, " = ");
		bool on = true;
		size_t n;

		if (eq != NULL) {
			on = strcmp(eq + 3, "yes") == 0;
			*eq = '\0';
		}
		n = fe_words(line, w, 64);
		for (size_t i = 0; i < n; i++)
			dc_list_set(list, w[i], on);
	}
	free(copy);
}

/* dc_plugins - the plugins protocol imap loads, space-separated; NULL
   if doveconf fails. A one-line value is the whole list (2.3's, where
   $mail_plugins is expanded; a 2.4 boollist cleared with "NAME ="); a
   2.4 block adds to the global list and removes from it. */
static char *dc_plugins(const struct dovecot *dc)
{
	char *imap, *global = NULL, *words = xstrdup("");
	bool block;

	imap = dc_lookup(dc, "protocol=imap", "mail_plugins", &block);
	if (imap == NULL ||
	    (block && (global = dc_get(dc, NULL, "mail_plugins")) == NULL)) {
		free(imap);
		free(words);
		return NULL;
	}
	if (global != NULL)
		dc_plugins_apply(&words, global);
	dc_plugins_apply(&words, imap);
	free(global);
	free(imap);
	return words;
}

/* dc_id - a user or group setting (name or number) as a number */
static bool dc_id(const char *s, bool group, unsigned long *id_r)
{
	char *end;

	if (s == NULL || s[0] == '\0')
		return false;
	*id_r = strtoul(s, &end, 10);
	if (*end == '\0')
		return true;
	if (group) {
		struct group *gr = getgrnam(s);

		if (gr != NULL)
			*id_r = gr->gr_gid;
		return gr != NULL;
	} else {
		struct passwd *pw = getpwnam(s);

		if (pw != NULL)
			*id_r = pw->pw_uid;
		return pw != NULL;
	}
}

/* dc_userdb_field - uid/gid from the userdb blocks: 2.3's args
   (uid=N) or 2.4's fields { } (a line "uid = N") */
static char *dc_userdb_field(const char *userdb_n, const char *field)
{
	size_t flen = strlen(field);
	const char *p = userdb_n;
	char *v = NULL;

	while (v == NULL && (p = strstr(p, field)) != NULL) {
		const char *q = p + flen;

		q += strspn(q, " ");
		if ((p == userdb_n || strchr(" \t\n", p[-1]) != NULL) &&
		    *q == '=') {
			q++;
			q += strspn(q, " ");
			v = xasprintf("%.*s", (int)strcspn(q, " \t\n"), q);
		}
		p++;
	}
	return v;
}

enum dc_probe { DC_DB_R = 1, DC_SIDE_R = 2, DC_W = 4 };

/* dc_probe_as - what uid with exactly these groups may do with the
   replica (Dovecot's restrict_access: gid and extra groups, no
   initgroups for virtual users); -1 if the test could not be made */
static int dc_probe_as(uid_t uid, gid_t gid, const gid_t *groups,
		       size_t ngroups, const char *db)
{
	char *wal = xasprintf("%s-wal", db), *shm = xasprintf("%s-shm", db);
	char *dir = xstrdup(db), *slash = strrchr(dir, '/');
	pid_t pid;

	if (slash != NULL)
		*slash = '\0';
	fflush(stdout);
	if ((pid = fork()) == 0) {
		int mask = 0;

		if (setgroups(ngroups, groups) < 0 || setgid(gid) < 0 ||
		    setuid(uid) < 0)
			_exit(255);
		if (access(db, R_OK) == 0)
			mask |= DC_DB_R;
		if (access(wal, R_OK) == 0 && access(shm, R_OK) == 0)
			mask |= DC_SIDE_R;
		if (access(db, W_OK) == 0 || access(wal, W_OK) == 0 ||
		    access(shm, W_OK) == 0 ||
		    (slash != NULL && access(dir, W_OK) == 0))
			mask |= DC_W;
		_exit(mask);
	}
	free(wal);
	free(shm);
	free(dir);
	return cli_probe_wait(pid);
}

/* The identity Dovecot gives its mail processes. */
struct dc_mail_id {
	char *uid_s, *gid_s;	/* as configured */
	char *extra;		/* mail_access_groups, as doveconf has it */
	unsigned long uid, gid;
	gid_t groups[FE_GROUPS_MAX];	/* gid, then mail_access_groups */
	size_t ngroups;
};

/* dc_mail_identity - mail_uid/mail_gid or the userdb's uid/gid, plus
   mail_access_groups (Dovecot's restrict_access: virtual users get no
   other group); false when uid or gid is not known (uid_s, gid_s say
   what was found). dc_mail_identity_free() in either case. */
static bool dc_mail_identity(const struct dovecot *dc, struct dc_mail_id *id)
{
	char *argv[8], *userdb = NULL, *w[FE_GROUPS_MAX], *copy;
	size_t n = 0;

	memset(id, 0, sizeof(*id));
	id->uid_s = dc_get(dc, NULL, "mail_uid");
	id->gid_s = dc_get(dc, NULL, "mail_gid");
	id->extra = dc_get(dc, NULL, "mail_access_groups");
	dc_argv(dc, "doveconf", argv, &n);
	argv[n++] = (char *)"-n";
	argv[n++] = (char *)"userdb";
	argv[n] = NULL;
	(void)fe_run(argv, NULL, false, &userdb);
	if (id->uid_s == NULL || id->uid_s[0] == '\0') {
		free(id->uid_s);
		id->uid_s = dc_userdb_field(userdb, "uid");
	}
	if (id->gid_s == NULL || id->gid_s[0] == '\0') {
		free(id->gid_s);
		id->gid_s = dc_userdb_field(userdb, "gid");
	}
	free(userdb);
	if (!dc_id(id->uid_s, false, &id->uid) ||
	    !dc_id(id->gid_s, true, &id->gid))
		return false;
	id->groups[id->ngroups++] = (gid_t)id->gid;
	copy = xstrdup(id->extra != NULL ? id->extra : "");
	n = fe_words(copy, w, FE_GROUPS_MAX);
	for (size_t i = 0; i < n && id->ngroups < FE_GROUPS_MAX; i++) {
		unsigned long g;

		if (dc_id(w[i], true, &g))
			id->groups[id->ngroups++] = (gid_t)g;
	}
	free(copy);
	return true;
}

/* dc_mail_identity_free - what dc_mail_identity() allocated */
static void dc_mail_identity_free(struct dc_mail_id *id)
{
	free(id->uid_s);
	free(id->gid_s);
	free(id->extra);
}

/* dc_mail_groups - mail_access_groups for messages: "" or
   ", mail_access_groups G..." ("$mail_access_groups g" expands to
   " g") */
static const char *dc_mail_groups(const struct dc_mail_id *id)
{
	static char buf[512];
	const char *ex = id->extra != NULL ? id->extra : "";

	ex += strspn(ex, " \t");
	if (ex[0] == '\0')
		return "";
	(void)snprintf(buf, sizeof(buf), ", mail_access_groups %s", ex);
	return buf;
}

/* dc_check_identity - Dovecot's mail processes and the replica */
static void dc_check_identity(const struct dovecot *dc,
			      const struct config *cfg, const char *replica)
{
	struct dc_mail_id id;
	unsigned long uid, gid;
	int mask;

	if (!dc_mail_identity(dc, &id)) {
		printf("dovecot:   mail uid/gid not known from mail_uid/"
		       "mail_gid or the userdb's uid=/gid= (%s/%s): the "
		       "replica's readers not tested\n",
		       id.uid_s ? id.uid_s : "", id.gid_s ? id.gid_s : "");
		goto out;
	}
	uid = id.uid;
	gid = id.gid;
	if (geteuid() != 0) {
		printf("dovecot:   mail uid %lu gid %lu: run as root to test "
		       "what they can do with the replica\n", uid, gid);
		goto out;
	}
	mask = dc_probe_as((uid_t)uid, (gid_t)gid, id.groups, id.ngroups,
			   replica);
	if (mask < 0) {
		fe_problem("dovecot:", "check mail_uid and mail_gid",
			   "cannot take Dovecot's mail identity uid %lu gid "
			   "%lu", uid, gid);
		goto out;
	}
	if (!(mask & DC_DB_R) || !(mask & DC_SIDE_R)) {
		char *fix = xasprintf("%s: mail_access_groups = %s "
				      "(Dovecot's mail processes have "
				      "mail_gid and mail_access_groups "
				      "only; adduser does not reach virtual "
				      "users)", dc->syntax->snippet,
				      cfg->replica_group[0] != '\0' ?
				      cfg->replica_group : "GROUP-OF-REPLICA");

		fe_problem("dovecot:", fix, "mail uid %lu gid %lu (groups: "
			   "mail_gid%s) cannot read %s (or its -wal, -shm):"
			   " every user sees only her own mailbox", uid, gid,
			   dc_mail_groups(&id), replica);
		free(fix);
	}
	if (mask & DC_W)
		fe_problem("dovecot:", "the replica is the sync's: chmod "
			   "g-w,o-w its directory and files, and mail_uid "
			   "must not be the sync's user", "mail uid %lu gid %lu "
			   "can write %s or its directory", uid, gid, replica);
	if ((mask & DC_DB_R) && (mask & DC_SIDE_R) && !(mask & DC_W))
		printf("dovecot:   mail uid %lu gid %lu reads the replica and"
		       " cannot write it: ok\n", uid, gid);
out:
	dc_mail_identity_free(&id);
}

enum dc_share_probe {
	DC_SHARE_OK = 0,	/* "ok ..." to the probe */
	DC_SHARE_SILENT = 250,	/* no answer in time, or closed */
	DC_SHARE_OTHER = 251,	/* an answer, not the service's */
	DC_SHARE_NO_ID = 252,	/* the identity could not be taken */
	/* else: connect(2)'s errno */
};

#define DC_SHARE_WAIT_MS 5000

/* dc_share_probe - connect to the share service's socket as id (NULL:
   as this process) and send the probe, the empty request, which the
   service answers "ok ready" without the directory; an enum
   dc_share_probe value or connect(2)'s errno, or -1 if the test could
   not be made */
static int dc_share_probe(const struct dc_mail_id *id, const char *path)
{
	struct sockaddr_un sun;
	pid_t pid;

	if (fe_sun(&sun, path) != 0)
		return ENAMETOOLONG;
	if ((pid = fork()) == 0) {
		struct pollfd pfd;
		char buf[64];
		size_t len = 0;
		ssize_t r;
		int fd;

		(void)signal(SIGPIPE, SIG_IGN);
		if (id != NULL &&
		    (setgroups(id->ngroups, id->groups) < 0 ||
		     setgid((gid_t)id->gid) < 0 ||
		     setuid((uid_t)id->uid) < 0))
			_exit(DC_SHARE_NO_ID);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sun,
				      sizeof(sun)) < 0)
			_exit(errno != 0 && errno < DC_SHARE_SILENT ? errno
								     : EIO);
		/* A failed write is no verdict: another program may have
		   written and closed already, and what it said is still
		   to be read. */
		r = write(fd, "\n", 1);
		/* The answer is one line; its first word is enough. */
		pfd.fd = fd;
		pfd.events = POLLIN;
		while (len < 3 && poll(&pfd, 1, DC_SHARE_WAIT_MS) > 0 &&
		       (r = read(fd, buf + len, sizeof(buf) - len)) > 0)
			len += (size_t)r;
		if (len == 0)
			_exit(DC_SHARE_SILENT);
		_exit(len >= 3 && memcmp(buf, "ok ", 3) == 0 ? DC_SHARE_OK
							       : DC_SHARE_OTHER);
	}
	return cli_probe_wait(pid);
}

/* dc_share_password - whether the passdb hands the login's password to
   the mail process as userdb_mailgrants_share_password (2.3:
   override_fields or default_fields "NAME=%w"; 2.4: a line "NAME =
   %{password}" in fields { }); NULL yes, else what is wrong */
static const char *dc_share_password(const struct dovecot *dc)
{
	static const char name[] = "userdb_mailgrants_share_password";
	static char what[256];
	char *argv[8], *out = NULL;
	const char *p, *ret = "the passdb does not set "
			      "userdb_mailgrants_share_password";
	size_t n = 0;

	/* -P: 2.3 hides the value of override_fields without it */
	dc_argv(dc, "doveconf", argv, &n);
	argv[n++] = (char *)"-P";
	argv[n++] = (char *)"-n";
	argv[n++] = (char *)"passdb";
	argv[n] = NULL;
	(void)fe_run(argv, NULL, false, &out);
	for (p = out; (p = strstr(p, name)) != NULL; p += sizeof(name) - 1) {
		const char *v = p + sizeof(name) - 1;
		size_t vlen;

		v += strspn(v, " ");
		if (*v != '=')
			continue;
		v++;
		v += strspn(v, " ");
		vlen = strcspn(v, " \t\n");
		if ((vlen == 2 && strncmp(v, "%w", 2) == 0) ||
		    (vlen == 11 && strncmp(v, "%{password}", 11) == 0)) {
			ret = NULL;
			break;
		}
		(void)snprintf(what, sizeof(what), "the passdb sets %s to "
			       "%.*s, not the login's password", name,
			       (int)(vlen < 64 ? vlen : 64), v);
		ret = what;
	}
	free(out);
	return ret;
}

/* dc_check_share - sharing from mail clients: the share service's
   socket answers Dovecot's mail processes, the passdb hands them the
   password, imap_mailgrants takes the commands. Not set up: said. */
static void dc_check_share(const struct dovecot *dc, bool imap_plugin)
{
	const struct dc_syntax *syn = dc->syntax;
	char *key = xasprintf("%smailgrants_share_socket", syn->key);
	char *path = dc_get(dc, "protocol=imap", key), *fix;
	const char *problem;
	struct dc_mail_id id;
	bool as_mail = false;
	struct stat st;
	int ret;

	free(key);
	memset(&id, 0, sizeof(id));
	if (path == NULL || path[0] == '\0') {
		printf("dovecot:   sharing from mail clients: off "
		       "(mailgrants_share_socket is not set; SETACL and "
		       "DELETEACL point to the directory)\n");
		goto out;
	}
	if (!imap_plugin) {
		fix = xasprintf("%s: %s", syn->snippet, syn->imap_plugins_fix);
		fe_problem("dovecot:", fix, "mailgrants_share_socket = %s, "
			   "but protocol imap does not load imap_mailgrants: "
			   "clients cannot share (imap_acl answers SETACL, "
			   "and nothing reaches the directory)", path);
		free(fix);
	}

	fix = xasprintf("systemctl enable --now mailgrants-share "
			"(mailgrants share-service --socket %s), or comment "
			"out mailgrants_share_socket in %s to leave sharing to "
			"the directory", path, syn->snippet);
	if ((ret = lstat(path, &st) < 0 ? errno : 0) != 0 ||
	    !S_ISSOCK(st.st_mode)) {
		fe_problem("dovecot:", fix, "share socket %s: %s: clients' "
			   "SETACL and DELETEACL answer NO [UNAVAILABLE]",
			   path, ret != 0 ? strerror(ret) : "not a socket");
		free(fix);
		goto password;
	}
	/* As Dovecot's mail processes, when root can take their identity */
	as_mail = geteuid() == 0 && dc_mail_identity(dc, &id);
	ret = dc_share_probe(as_mail ? &id : NULL, path);
	if (ret == DC_SHARE_OK) {
		if (as_mail)
			printf("dovecot:   share socket %s: mail uid %lu gid "
			       "%lu connects, the service answers: ok\n",
			       path, id.uid, id.gid);
		else
			printf("dovecot:   share socket %s: the service "
			       "answers: ok (%s)\n", path, geteuid() != 0 ?
			       "run as root to test it as Dovecot's mail "
			       "processes" : "Dovecot's mail uid/gid not "
			       "known: tested as root");
	} else if (ret == ECONNREFUSED) {
		fe_problem("dovecot:", fix, "share socket %s: nobody listens "
			   "(%s): clients' SETACL and DELETEACL answer NO "
			   "[UNAVAILABLE]", path, strerror(ret));
	} else if (as_mail && (ret == EACCES || ret == EPERM)) {
		struct group *gr = getgrgid(st.st_gid);
		char *gfix = xasprintf("the socket's group must be one of "
				       "the mail processes': the unit "
				       "mailgrants-share makes it "
				       "mailgrants-read (0660, its directory "
				       "0750), and %s gives them that group: "
				       "mail_access_groups = mailgrants-read",
				       syn->snippet);

		fe_problem("dovecot:", gfix, "share socket %s (group %s, "
			   "%04o): mail uid %lu gid %lu (groups: mail_gid%s) "
			   "cannot connect: %s: clients' SETACL and DELETEACL "
			   "answer NO [UNAVAILABLE]", path,
			   gr != NULL ? gr->gr_name : "?",
			   (unsigned int)(st.st_mode & 07777), id.uid, id.gid,
			   dc_mail_groups(&id), strerror(ret));
		free(gfix);
	} else if (ret == DC_SHARE_SILENT) {
		fe_problem("dovecot:", "journalctl -u mailgrants-share; "
			   "systemctl restart mailgrants-share", "share "
			   "socket %s: connected, but no answer (closed, or "
			   "nothing within %d s)", path,
			   DC_SHARE_WAIT_MS / 1000);
	} else if (ret == DC_SHARE_OTHER) {
		char *ofix = xasprintf("%s: mailgrants_share_socket must name "
				       "the socket of mailgrants "
				       "share-service --socket",
				       syn->snippet);

		fe_problem("dovecot:", ofix, "share socket %s: the answer is "
			   "not mailgrants share-service's", path);
		free(ofix);
	} else {
		fe_problem("dovecot:", fix, "share socket %s: cannot "
			   "connect%s: %s", path, as_mail ? "" : " (as this "
			   "process)", ret > 0 && ret < DC_SHARE_SILENT ?
			   strerror(ret) : "the probe failed");
	}
	free(fix);

password:
	if ((problem = dc_share_password(dc)) != NULL)
		fe_problem("dovecot:", syn->share_password_fix, "%s: the mail "
			   "processes get no password to share with; clients' "
			   "SETACL and DELETEACL answer NO [CANNOT]", problem);
	else
		printf("dovecot:   the passdb hands the login's password to "
		       "the mail processes (userdb_mailgrants_share_password)"
		       ": ok\n");
out:
	dc_mail_identity_free(&id);
	free(path);
}

/* dc_load - which Dovecot doveconf belongs to, from the "# 2.x.y"
   line doveconf -n prints first (also when it refuses the
   configuration then); -1, the problem said, if doveconf fails */
static int dc_load(struct dovecot *dc)
{
	const struct dc_syntax *syntax = &dc_syntax_23;
	char *argv[8], *out, line[512];
	unsigned int major = 0, minor = 0;
	const char *s, *fatal;
	size_t n = 0;
	int rc;

	dc_argv(dc, "doveconf", argv, &n);
	argv[n++] = (char *)"-n";
	argv[n] = NULL;
	rc = fe_run(argv, NULL, true, &out);
	for (s = out; s != NULL && major == 0; s = strchr(s, '\n'),
	     s = s != NULL ? s + 1 : NULL)
		if (sscanf(s, "# %u.%u", &major, &minor) != 2)
			major = 0;
	if (major > 2 || (major == 2 && minor >= 4))
		syntax = &dc_syntax_24;
	dc->syntax = syntax;
	if (rc == 0) {
		free(out);
		return 0;
	}
	fatal = strstr(out, "Fatal: ");
	fe_line(fatal != NULL ? fatal + 7 : out, 0, line, sizeof(line));
	if (major == 0)
		fe_problem("dovecot:", "install dovecot-core, or name its "
			   "configuration with --dovecot-config FILE",
			   "doveconf failed (exit %d): %s", rc, line);
	else if (strstr(line, "Unknown setting: mailgrants_") != NULL)
		fe_problem("dovecot:", syntax->unknown_key_fix, "Dovecot %u.%u"
			   " refuses the configuration: %s", major, minor,
			   line);
	else
		fe_problem("dovecot:", syntax->failed_fix, "Dovecot %u.%u "
			   "refuses the configuration: %s", major, minor,
			   line);
	free(out);
	return -1;
}

/* dc_check - the plugin, its namespaces, its replica, its identity */
static void dc_check(struct dovecot *dc, const struct config *cfg)
{
	static const char *const kinds[] = { "company", "shared", "private" };
	const struct dc_syntax *syn;
	char *plugins = NULL, *protocols = NULL, *replica, *argv[8];
	char *ns = NULL, *key;
	size_t n = 0;

	if (dc_load(dc) < 0)
		return;
	syn = dc->syntax;
	plugins = dc_plugins(dc);
	protocols = dc_get(dc, NULL, "protocols");
	if (plugins == NULL) {
		fe_problem("dovecot:", "install dovecot-core, or name its "
			   "configuration with --dovecot-config FILE",
			   "doveconf failed");
		goto out;
	}
	if (protocols != NULL && !dc_has_word(protocols, "imap"))
		printf("dovecot:   protocols = %s: no imap\n", protocols);
	if (!dc_has_word(plugins, "mailgrants") ||
	    !dc_has_word(plugins, "acl")) {
		char *fix = xasprintf("%s: %s (global, or in protocol imap "
				      "{ })", syn->snippet, syn->plugins_fix);

		fe_problem("dovecot:", fix, "protocol imap: mail_plugins = "
			   "%s: the mailgrants plugin%s is not loaded",
			   plugins, dc_has_word(plugins, "acl") ? "" :
			   " (with acl)");
		free(fix);
	} else {
		printf("dovecot:   protocol imap: mail_plugins has acl and "
		       "mailgrants: ok\n");
	}
	if (!dc_has_word(plugins, "imap_mailgrants") ||
	    !dc_has_word(plugins, "imap_acl")) {
		char *fix = xasprintf("%s: %s", syn->snippet,
				      syn->imap_plugins_fix);

		fe_problem("dovecot:", fix, "protocol imap: mail_plugins = "
			   "%s: imap_mailgrants%s is not loaded (SETACL, "
			   "GETACL and MYRIGHTS on granted mailboxes are "
			   "imap_acl's)", plugins,
			   dc_has_word(plugins, "imap_acl") ? "" :
			   " (with imap_acl)");
		free(fix);
	} else {
		printf("dovecot:   protocol imap: mail_plugins has imap_acl "
		       "and imap_mailgrants: ok\n");
	}
	dc_check_share(dc, dc_has_word(plugins, "imap_mailgrants") &&
		       dc_has_word(plugins, "imap_acl"));

	dc_argv(dc, "doveconf", argv, &n);
	argv[n++] = (char *)"-n";
	argv[n++] = (char *)"namespace";
	argv[n] = NULL;
	(void)fe_run(argv, NULL, false, &ns);
	for (size_t k = 0; k < 3; k++) {
		char *prefix, *want;

		key = xasprintf("%smailgrants_%s_prefix", syn->key, kinds[k]);
		prefix = dc_get(dc, NULL, key);
		free(key);
		if (prefix == NULL || prefix[0] == '\0') {
			free(prefix);
			continue;
		}
		want = xasprintf("prefix = %s%s/\n", prefix, syn->user);
		if (strstr(ns, want) == NULL) {
			char *fix = xasprintf("%s: the namespace block with "
					      "type = shared and this prefix",
					      syn->snippet);

			fe_problem("dovecot:", fix, "mailgrants_%s_prefix = "
				   "%s, but no namespace has prefix = %s%s/",
				   kinds[k], prefix, prefix, syn->user);
			free(fix);
		} else {
			printf("dovecot:   namespace %s%s/: ok\n", prefix,
			       syn->user);
		}
		free(want);
		free(prefix);
	}
	free(ns);

	key = xasprintf("%smailgrants_replica", syn->key);
	replica = dc_get(dc, NULL, key);
	free(key);
	if (replica == NULL || replica[0] == '\0') {
		char *fix = xasprintf("%s: %smailgrants_replica = PATH%s",
				      syn->snippet, syn->block_open,
				      syn->block_close);

		fe_problem("dovecot:", fix, "the plugin has no "
			   "mailgrants_replica");
		free(fix);
	} else {
		if (strcmp(replica, cfg->replica) != 0) {
			char *fix = xasprintf("%s: %smailgrants_replica = "
					      "...%s as replica in "
					      "mailgrants.conf", syn->snippet,
					      syn->block_open,
					      syn->block_close);

			fe_problem("dovecot:", fix, "the plugin reads %s, the "
				   "sync writes %s", replica, cfg->replica);
			free(fix);
		}
		dc_check_identity(dc, cfg, replica);
	}
	free(replica);
out:
	free(plugins);
	free(protocols);
}


/* --- addresses ----------------------------------------------------- */

/* fe_sample - addresses from the replica: all (up to max) or a random
   sample of max; the query's rows as one "\n"-separated string */
static char *fe_sample(const char *replica, const char *sql_all,
		       unsigned int max, unsigned long *total_r)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	size_t len = 0, size = 1024;
	char *out = xmalloc(size), *q;

	out[0] = '\0';
	*total_r = 0;
	if (sqlite3_open_v2(replica, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		sqlite3_close(db);
		free(out);
		return NULL;
	}
	q = xasprintf("SELECT count(*) FROM (%s)", sql_all);
	if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		*total_r = (unsigned long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	free(q);
	q = xasprintf("SELECT a FROM (%s) %s LIMIT %u", sql_all,
		      *total_r > max ? "ORDER BY random()" : "ORDER BY a",
		      max);
	if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *a = (const char *)sqlite3_column_text(st,
									  0);
			size_t alen = a != NULL ? strlen(a) : 0;

			/* Nothing a shell or table would misread. */
			if (alen == 0 || strpbrk(a, " \t\r\n") != NULL)
				continue;
			out = xgrow(out, &size, len + alen + 2, 1, 256);
			memcpy(out + len, a, alen);
			len += alen;
			out[len++] = '\n';
			out[len] = '\0';
		}
	}
	sqlite3_finalize(st);
	free(q);
	sqlite3_close(db);
	return out;
}

/* fe_sample_line - what was looked up */
static void fe_sample_line(const char *area, const char *what,
			   unsigned long total, unsigned int max)
{
	if (total > max)
		printf("%-10s %s: a random sample of %u of %lu\n", area, what,
		       max, total);
	else
		printf("%-10s %s: all %lu\n", area, what, total);
}

/* fe_keep - append a and a newline at dst + *len: a subset of the
   list that dst held, so it fits */
static void fe_keep(char *dst, size_t *len, const char *a)
{
	size_t alen = strlen(a);

	memcpy(dst + *len, a, alen);
	dst[*len + alen] = '\n';
	*len += alen + 1;
	dst[*len] = '\0';
}

/* fe_remove_found - drop the keys postmap found ("key\tvalue" lines)
   from the "\n"-separated list */
static void fe_remove_found(char *list, const char *found)
{
	char *out = list, *save = NULL, *copy = xstrdup(list);
	size_t len = 0;

	out[0] = '\0';
	for (char *a = strtok_r(copy, "\n", &save); a != NULL;
	     a = strtok_r(NULL, "\n", &save)) {
		char *key = xasprintf("%s\t", a);
		const char *p = found;
		bool hit = false;

		while (!hit && (p = strstr(p, key)) != NULL) {
			hit = p == found || p[-1] == '\n';
			p++;
		}
		free(key);
		if (!hit)
			fe_keep(out, &len, a);
	}
	free(copy);
}

/* fe_list_line - up to FE_LIST_MAX of the "\n"-separated list */
static char *fe_list_line(const char *list, unsigned int *count_r)
{
	char *copy = xstrdup(list), *save = NULL, *out = xstrdup("");
	unsigned int n = 0;

	for (char *a = strtok_r(copy, "\n", &save); a != NULL;
	     a = strtok_r(NULL, "\n", &save), n++) {
		if (n < FE_LIST_MAX) {
			char *next = xasprintf("%s%s%s", out, n ? " " : "",
					       a);

			free(out);
			out = next;
		}
	}
	if (n > FE_LIST_MAX) {
		char *next = xasprintf("%s ... (%u more)", out,
				       n - FE_LIST_MAX);

		free(out);
		out = next;
	}
	free(copy);
	*count_r = n;
	return out;
}

/* pf_check_addresses - every sampled address in a recipient map */
static void pf_check_addresses(const struct postfix *pf, const char *replica,
			       unsigned int max)
{
	char maps[8192], *w[64];
	unsigned long total;
	char *todo = fe_sample(replica, "SELECT address AS a FROM addresses",
			       max, &total);
	size_t n;

	if (todo == NULL) {
		printf("postfix:   addresses not checked: no replica to take "
		       "them from\n");
		return;
	}
	fe_sample_line("postfix:", "replica addresses in virtual_mailbox_maps"
		       " or virtual_alias_maps", total, max);
	snprintf(maps, sizeof(maps), "%s %s", pf->global[PF_VMAILBOX_MAPS],
		 pf->global[PF_VALIAS_MAPS]);
	n = fe_words(maps, w, 64);
	/* The first pass asks every map, also when all addresses were
	   found already: a map Postfix cannot open is a problem too. */
	for (int pass = 0; pass < 2 && (pass == 0 || todo[0] != '\0');
	     pass++) {
		for (size_t i = 0; i < n && (pass == 0 || todo[0] != '\0');
		     i++) {
			char *argv[12], *found, *input = NULL, *table;
			const char *map = w[i];
			size_t k = 0;

			/* proxymap needs the running instance; the table
			   itself answers the same. */
			if (strncmp(map, "proxy:", 6) == 0)
				map += 6;
			table = pf_table_path(pf, map);
			pf_argv(pf, "postmap", argv, &k);
			argv[k++] = (char *)"-q";
			argv[k++] = (char *)"-";
			argv[k++] = table;
			argv[k] = NULL;
			if (pass == 1) {
				/* Postfix's virtual(5) also tries @domain. */
				char *copy = xstrdup(todo), *save = NULL;

				input = xstrdup("");
				for (char *a = strtok_r(copy, "\n", &save);
				     a != NULL; a = strtok_r(NULL, "\n", &save)) {
					char *at = strrchr(a, '@'), *next;

					next = xasprintf("%s%s\n", input,
							 at != NULL ? at : a);
					free(input);
					input = next;
				}
				free(copy);
			}
			/* Its errors too: "key<TAB>value" lines never start
			   with "postmap: ". */
			/* postmap opens no table for an empty input. */
			(void)fe_run(argv, pass == 1 ? input : todo[0] !=
				     '\0' ? todo : "postmaster@invalid\n",
				     true, &found);
			if (pass == 0 && strstr(found, "postmap: fatal: ") !=
			    NULL) {
				char line[512];
				const char *f = strstr(found, "postmap: fatal: ");

				fe_line(f, 0, line, sizeof(line));
				fe_problem("postfix:", "the map's type must be "
					   "installed (postconf -m lists them:"
					   " postfix-ldap, postfix-mysql, ...) "
					   "and the map readable", "%s cannot be "
					   "read: %s", map, line);
			}
			if (pass == 1) {
				/* Keep the addresses whose domain was not
				   found. */
				char *copy = xstrdup(todo), *save = NULL;
				size_t len = 0;

				todo[0] = '\0';
				for (char *a = strtok_r(copy, "\n", &save);
				     a != NULL; a = strtok_r(NULL, "\n", &save)) {
					char *at = strrchr(a, '@');
					char *key = xasprintf("%s\t",
							      at ? at : a);
					const char *p = found;
					bool hit = false;

					while (!hit && (p = strstr(p, key)) !=
					       NULL) {
						hit = p == found ||
							p[-1] == '\n';
						p++;
					}
					free(key);
					if (!hit)
						fe_keep(todo, &len, a);
				}
				free(copy);
			} else {
				fe_remove_found(todo, found);
			}
			free(found);
			free(input);
			free(table);
		}
	}
	if (todo[0] != '\0') {
		unsigned int count;
		char *shown = fe_list_line(todo, &count);

		fe_problem("postfix:", "main.cf: virtual_mailbox_maps (or "
			   "virtual_alias_maps) must find every address of "
			   "the directory", "%u of the sampled addresses "
			   "resolve in neither virtual_mailbox_maps (%s) nor "
			   "virtual_alias_maps (%s): %s", count,
			   pf->global[PF_VMAILBOX_MAPS],
			   pf->global[PF_VALIAS_MAPS], shown);
		free(shown);
	} else if (total > 0) {
		printf("postfix:   every sampled address resolves: ok\n");
	}
	free(todo);
}

/* dc_check_addresses - every sampled mailbox in Dovecot's userdb */
static void dc_check_addresses(const struct dovecot *dc, const char *replica,
			       unsigned int max)
{
	unsigned long total;
	char *todo = fe_sample(replica, "SELECT address AS a FROM mailboxes",
			       max, &total);
	char *missing, *copy, *save = NULL;
	unsigned int count = 0, failed = 0;

	if (todo == NULL) {
		printf("dovecot:   mailboxes not checked: no replica to take "
		       "them from\n");
		return;
	}
	missing = xstrdup("");
	copy = xstrdup(todo);
	fe_sample_line("dovecot:", "mailboxes in the userdb", total, max);
	for (char *a = strtok_r(copy, "\n", &save); a != NULL;
	     a = strtok_r(NULL, "\n", &save)) {
		char *argv[12], *out;
		size_t k = 0;
		int rc;

		dc_argv(dc, "doveadm", argv, &k);
		argv[k++] = (char *)"user";
		argv[k++] = (char *)"-f";
		argv[k++] = (char *)"uid";
		argv[k++] = a;
		argv[k] = NULL;
		rc = fe_run(argv, NULL, true, &out);
		if (rc == 67) {		/* EX_NOUSER */
			char *next = xasprintf("%s%s\n", missing, a);

			free(missing);
			missing = next;
		} else if (rc != 0 && failed++ == 0) {
			fe_problem("dovecot:", "is Dovecot running (doveadm "
				   "user asks its auth process)?",
				   "doveadm user %s: exit %d: %.200s", a, rc,
				   out);
		}
		free(out);
	}
	if (missing[0] != '\0') {
		char *shown = fe_list_line(missing, &count);

		fe_problem("dovecot:", "the userdb (userdb { } in dovecot.conf"
			   " or its driver's file) must find every mailbox "
			   "of the directory", "%u of the sampled mailboxes "
			   "are unknown to Dovecot's userdb (doveadm user): "
			   "%s", count, shown);
		free(shown);
	} else if (failed == 0 && total > 0) {
		printf("dovecot:   every sampled mailbox is a userdb user: "
		       "ok\n");
	}
	free(missing);
	free(copy);
	free(todo);
}

/* check_front_ends - Postfix and Dovecot, from their configuration */
unsigned int check_front_ends(const struct config *cfg,
			      const struct check_fe_options *opt)
{
	struct postfix pf;
	struct dovecot dc;
	bool pf_ok;

	fe_problems = 0;
	memset(&pf, 0, sizeof(pf));
	pf.dir = opt->postfix_dir;
	dc.conf = opt->dovecot_conf;
	pf_ok = pf_load(&pf) == 0;
	if (pf_ok)
		pf_check(&pf);
	dc_check(&dc, cfg);
	if (pf_ok)
		pf_check_addresses(&pf, cfg->replica, opt->sample);
	dc_check_addresses(&dc, cfg->replica, opt->sample);
	for (size_t i = 0; i < PF_COUNT; i++)
		free(pf.global[i]);
	free(pf.overrides);
	if (fe_problems == 0)
		printf("front ends: ok\n");
	return fe_problems;
}
