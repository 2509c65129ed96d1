/*
 * NAME
 *	trail - the audit trail: share changes written, questions answered
 * DESCRIPTION
 *	See trail.h. The lines are read back with lib/audit.c's reader,
 *	the one that belongs to the writer the daemons use, and the
 *	present state comes from rights_decide(): the log says what
 *	happened and when, the replica what holds now.
 * SEE ALSO
 *	trail.h, audit.h, rights.h, mailgrants(1)
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "addr.h"
#include "cli.h"
#include "gentime.h"
#include "replica.h"
#include "rights.h"
#include "trail.h"
#include "xalloc.h"

#define TRAIL_FILES_MAX 64	/* --file given */

/* The identifiers the journal keeps the audit lines under: the units'
   SyslogIdentifier and the command's own name. Not quiet: without a
   journal, journalctl says so on standard error. */
static const char *const trail_journal_argv[] = {
	"journalctl", "-o", "cat", "--no-pager",
	"-t", "mailgrants-policyd", "-t", "mailgrants-milter",
	"-t", "mailgrants", NULL,
};

/* One answer line, kept for sorting: only the lines that match are
   kept, so a large mail log costs no more memory than its answers. */
struct trail_event {
	struct timespec when;
	size_t seq;			/* order read: ties keep it */
	char *line;
};

/* What a question keeps of an audit line: its answer line (allocated),
   or NULL to skip it. */
typedef char *trail_match_fn(void *context, const struct audit_event *ev,
			     const struct timespec *when);

struct trail_events {
	struct trail_event *items;
	size_t count, alloc, seen;
	trail_match_fn *match;
	void *context;
};

/* trail_change_name - the action of a share line */
static const char *trail_change_name(enum ldapshare_change what)
{
	switch (what) {
	case LDAPSHARE_ADDED:
		return "add";
	case LDAPSHARE_CHANGED:
		return "change";
	case LDAPSHARE_DELETED:
		return "remove";
	case LDAPSHARE_GRANTEE_REMOVED:
		return "remove_grantee";
	}
	return "unknown";
}

/* trail_stamp - t as the audit lines write times, "" for 0 (open) */
static const char *trail_stamp(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		buf[0] = '\0';
	return buf;
}

/* trail_share_line - the audit line of one share entry written */
const char *trail_share_line(const struct config *cfg, struct audit_line *a,
			     const struct trail_share *t, const char *dn,
			     const char *rights, enum ldapshare_change what)
{
	char from[32], until[32];

	audit_begin(a, cfg->log_format, "share", NULL);
	audit_add(a, "dn", dn);
	audit_add(a, "action", trail_change_name(what));
	audit_add(a, "login", t->login);
	audit_add(a, "via", t->via);
	audit_add(a, "mailbox", t->mailbox);
	audit_add(a, "grantee", t->grantee);
	audit_add(a, "rights", rights);
	/* a window is set when a share is added; a change keeps it */
	if (what == LDAPSHARE_ADDED) {
		audit_add(a, "not_before",
			  trail_stamp(t->not_before, from, sizeof(from)));
		audit_add(a, "not_after",
			  trail_stamp(t->not_after, until, sizeof(until)));
	}
	return audit_end(a);
}

/* trail_write - a line of share or unshare: audit_log, or syslog */
void trail_write(const struct config *cfg, const char *line)
{
	size_t len = strlen(line);
	char *buf;
	int fd;

	if (cfg->audit_log[0] == '\0') {
		openlog("mailgrants", LOG_PID, LOG_MAIL);
		syslog(LOG_INFO, "%s", line);
		closelog();
		return;
	}
	fd = open(cfg->audit_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		  0640);
	if (fd < 0) {
		cli_error(0, "audit", "%s: %s; the change was made, its "
			  "audit line follows", cfg->audit_log,
			  strerror(errno));
		fprintf(stderr, "%s\n", line);
		return;
	}
	/* one write with O_APPEND: lines of two commands never mix */
	buf = xmalloc(len + 2);
	memcpy(buf, line, len);
	buf[len] = '\n';
	if (write(fd, buf, len + 1) != (ssize_t)(len + 1)) {
		cli_error(0, "audit", "%s: %s; the change was made, its "
			  "audit line follows", cfg->audit_log,
			  strerror(errno));
		fprintf(stderr, "%s\n", line);
	}
	free(buf);
	(void)close(fd);
}

/* trail_print_usage - the synopsis of audit */
void trail_print_usage(FILE *fp)
{
	fprintf(fp,
		"usage: %s [-c config] audit sent [--since time] "
		"[--until time] [--json]\n"
		"           [--file log ...] address\n"
		"       %s [-c config] audit access [--file log ...] "
		"login address\n"
		"time: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or YYYYMMDDHHMMSSZ "
		"(UTC); both ends count\n",
		progname, progname);
}

/* trail_spawn - a command's standard output to read, or NULL */
static FILE *trail_spawn(char *const argv[], pid_t *pid_r)
{
	int fds[2];
	pid_t pid;
	FILE *fp;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return NULL;
	pid = fork();
	if (pid < 0) {
		(void)close(fds[0]);
		(void)close(fds[1]);
		return NULL;
	}
	if (pid == 0) {
		if (dup2(fds[1], STDOUT_FILENO) < 0)
			_exit(127);
		execvp(argv[0], argv);
		fprintf(stderr, "%s: %s: %s\n", progname, argv[0],
			strerror(errno));
		_exit(127);
	}
	(void)close(fds[1]);
	if ((fp = fdopen(fds[0], "r")) == NULL) {
		(void)close(fds[0]);
		(void)waitpid(pid, NULL, 0);
		return NULL;
	}
	*pid_r = pid;
	return fp;
}

/* trail_event_cmp - by time, then as read */
static int trail_event_cmp(const void *a, const void *b)
{
	const struct trail_event *x = a, *y = b;

	if (x->when.tv_sec != y->when.tv_sec)
		return x->when.tv_sec < y->when.tv_sec ? -1 : 1;
	if (x->when.tv_nsec != y->when.tv_nsec)
		return x->when.tv_nsec < y->when.tv_nsec ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* trail_read_fp - every audit line of one log; the rest is skipped */
static void trail_read_fp(FILE *fp, struct trail_events *all)
{
	struct audit_event *ev = xmalloc(sizeof(*ev));
	char *line = NULL, *answer;
	size_t cap = 0;
	struct timespec when;

	while (getline(&line, &cap, fp) >= 0) {
		if (audit_parse(line, ev) != 1 ||
		    audit_time_parse(audit_get(ev, "time"), &when) < 0)
			continue;
		if ((answer = all->match(all->context, ev, &when)) == NULL)
			continue;
		if (all->count == all->alloc) {
			all->alloc = all->alloc == 0 ? 64 : all->alloc * 2;
			all->items = xrealloc(all->items, all->alloc *
					      sizeof(*all->items));
		}
		all->items[all->count].when = when;
		all->items[all->count].seq = all->seen++;
		all->items[all->count++].line = answer;
	}
	free(ev);
	free(line);
}

/* trail_read_command - the audit lines a command writes: 0, or -1 */
static int trail_read_command(char *const argv[], const char *what,
			      struct trail_events *all)
{
	pid_t pid;
	int status;
	FILE *fp = trail_spawn(argv, &pid);

	if (fp == NULL)
		return cli_error(-1, "audit", "%s: %s", what,
				 strerror(errno));
	trail_read_fp(fp, all);
	(void)fclose(fp);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return cli_error(-1, "audit", "%s: %s", what,
					 strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return cli_error(-1, "audit", "%s could not be read (%s "
				 "exit status %d)%s", what, argv[0],
				 WIFEXITED(status) ? WEXITSTATUS(status) : -1,
				 strcmp(argv[0], "journalctl") == 0 ?
				 "; give the log files with --file" : "");
	return 0;
}

/* trail_read - the audit lines of the files, or of the journal */
static int trail_read(char **files, size_t nfiles, struct trail_events *all)
{
	for (size_t i = 0; i < nfiles; i++) {
		size_t len = strlen(files[i]);
		FILE *fp;

		if (len > 3 && strcmp(files[i] + len - 3, ".gz") == 0) {
			char *argv[] = { "gzip", "-dc", "--", files[i], NULL };

			if (trail_read_command(argv, files[i], all) < 0)
				return -1;
			continue;
		}
		if ((fp = fopen(files[i], "re")) == NULL)
			return cli_error(-1, "audit", "%s: %s", files[i],
					 strerror(errno));
		trail_read_fp(fp, all);
		if (ferror(fp)) {
			(void)fclose(fp);
			return cli_error(-1, "audit", "%s: read error",
					 files[i]);
		}
		(void)fclose(fp);
	}
	if (nfiles == 0 &&
	    trail_read_command((char *const *)trail_journal_argv,
			       "the journal", all) < 0)
		return -1;
	if (all->count > 0)
		qsort(all->items, all->count, sizeof(*all->items),
		      trail_event_cmp);
	return 0;
}

/* trail_events_free - the events read */
static void trail_events_free(struct trail_events *all)
{
	for (size_t i = 0; i < all->count; i++)
		free(all->items[i].line);
	free(all->items);
	all->items = NULL;
	all->count = all->alloc = 0;
}

/* trail_same_address - do a and b name one sender, as the policy
   daemon compares them (case, extension, IDN)? */
static bool trail_same_address(const struct config *cfg, const char *a,
			       const char *b)
{
	char na[ADDR_MAX], nb[ADDR_MAX];
	const char *error;

	if (a == NULL || b == NULL)
		return false;
	if (addr_normalize(a, cfg->recipient_delimiter, 0, na, sizeof(na),
			   &error) < 0 ||
	    addr_normalize(b, cfg->recipient_delimiter, 0, nb, sizeof(nb),
			   &error) < 0)
		return strcasecmp(a, b) == 0;
	return strcmp(na, nb) == 0;
}

/* trail_time_option - --since or --until */
static int trail_time_option(const char *opt, const char *s, bool end,
			     time_t *t_r)
{
	if (gentime_parse_date(s, end, t_r) == 0)
		return 0;
	return cli_error(-1, "audit", "%s: expected YYYY-MM-DD, "
			 "YYYY-MM-DDTHH:MM:SSZ or YYYYMMDDHHMMSSZ, not "
			 "\"%.64s\"", opt, s);
}

/* What audit sent asks. */
struct trail_sent {
	const struct config *cfg;
	const char *address;
	time_t since, until;		/* both count */
	bool json;
};

/* trail_sent_match - a send decision for the address, in the window */
static char *trail_sent_match(void *context, const struct audit_event *ev,
			      const struct timespec *when)
{
	const struct trail_sent *q = context;
	const char *event = audit_get(ev, "event");
	const char *header = audit_get(ev, "header");
	const char *value = header != NULL ? audit_get(ev, "address")
					   : audit_get(ev, "sender");
	struct audit_line a;

	/* whole seconds: --until 10:00:00 takes 10:00:00.999 */
	if (event == NULL || strcmp(event, "send") != 0 ||
	    when->tv_sec < q->since || when->tv_sec > q->until ||
	    !trail_same_address(q->cfg, value, q->address))
		return NULL;
	audit_begin(&a, q->json ? AUDIT_FORMAT_JSON : AUDIT_FORMAT_TEXT,
		    "send", when);
	audit_add(&a, "action", audit_get(ev, "action"));
	audit_add(&a, "login", audit_get(ev, "login"));
	audit_add(&a, "check", header != NULL ? header : "envelope");
	audit_add(&a, "address", value);
	audit_add(&a, "reason", audit_get(ev, "reason"));
	audit_add(&a, "dn", audit_get(ev, "dn"));
	audit_add(&a, "queue_id", audit_get(ev, "queue_id"));
	audit_add(&a, "client", audit_get(ev, "client"));
	return xstrdup(audit_end(&a));
}

/* trail_is_parent - is parent the DN right above dn? */
static bool trail_is_parent(const char *parent, const char *dn)
{
	const char *comma;

	/* the replica's normal form: a comma inside a value is escaped */
	for (comma = dn; (comma = strchr(comma, ',')) != NULL; comma++)
		if (comma == dn || comma[-1] != '\\')
			break;
	return comma != NULL && strcasecmp(comma + 1, parent) == 0;
}

/* What audit access asks, and what it found so far. */
struct trail_access {
	const struct config *cfg;
	const char *login;
	const struct rights_decision *d;
	struct timespec added;		/* first "add" of the entry */
	char added_text[32];		/* as the log wrote it; "": none */
	size_t shown;
};

/* trail_access_match - a change of the entry the access rests on, or
   (when it rests on no share) of a share of that mailbox for the login */
static char *trail_access_match(void *context, const struct audit_event *ev,
				const struct timespec *when)
{
	struct trail_access *q = context;
	const char *event = audit_get(ev, "event");
	const char *dn = audit_get(ev, "dn");
	const char *action = audit_get(ev, "action");
	const char *grantee = audit_get(ev, "grantee");
	const char *entry = q->d->entry_dn;
	struct audit_line a;
	bool same;

	if (event == NULL || strcmp(event, "share") != 0 || dn == NULL ||
	    entry[0] == '\0')
		return NULL;
	same = strcasecmp(dn, entry) == 0;
	if (!same && (q->d->kind == RIGHTS_KIND_SHARED ||
		      !trail_is_parent(entry, dn) || grantee == NULL ||
		      !trail_same_address(q->cfg, grantee, q->login)))
		return NULL;
	if (same && action != NULL && strcmp(action, "add") == 0 &&
	    (q->added_text[0] == '\0' || when->tv_sec < q->added.tv_sec ||
	     (when->tv_sec == q->added.tv_sec &&
	      when->tv_nsec < q->added.tv_nsec))) {
		q->added = *when;
		(void)snprintf(q->added_text, sizeof(q->added_text), "%s",
			       audit_get(ev, "time"));
	}
	q->shown++;
	audit_begin(&a, AUDIT_FORMAT_TEXT, "share", when);
	audit_add(&a, "action", action);
	audit_add(&a, "by", audit_get(ev, "login"));
	audit_add(&a, "via", audit_get(ev, "via"));
	audit_add(&a, "rights", audit_get(ev, "rights"));
	audit_add(&a, "grantee", grantee);
	audit_add(&a, "dn", dn);
	if (action != NULL && strcmp(action, "add") == 0) {
		audit_add(&a, "not_before", audit_get(ev, "not_before"));
		audit_add(&a, "not_after", audit_get(ev, "not_after"));
	}
	return xstrdup(audit_end(&a));
}

/* trail_print_field - " key=value" of untrusted text, escaped */
static void trail_print_field(const char *key, const char *value)
{
	printf(" %s=", key);
	cli_print_printable(stdout, value != NULL ? value : "-");
}

/* trail_print_now - what the access rests on now (rights_decide()) */
static void trail_print_now(const struct rights_decision *d)
{
	char from[32], until[32];

	fputs("now:", stdout);
	trail_print_field("kind", rights_kind_name(d->kind));
	trail_print_field("visible", d->visible ? "yes" : "no");
	trail_print_field("rights", d->rights[0] != '\0' ? d->rights : NULL);
	trail_print_field("may_send", d->may_send ? "yes" : "no");
	trail_print_field("reason", rights_reason_name(d->reason));
	fputc('\n', stdout);
	fputs("rests on:", stdout);
	trail_print_field("dn", d->entry_dn[0] != '\0' ? d->entry_dn : NULL);
	if (d->kind == RIGHTS_KIND_SHARED) {
		trail_print_field("not_before", d->not_before != 0 ?
				  trail_stamp(d->not_before, from,
					      sizeof(from)) : "open");
		trail_print_field("not_after", d->not_after != 0 ?
				  trail_stamp(d->not_after, until,
					      sizeof(until)) : "open");
	}
	fputc('\n', stdout);
}

/* trail_print_since - since when, from the log */
static void trail_print_since(const struct trail_access *q)
{
	if (q->d->kind != RIGHTS_KIND_SHARED) {
		if (q->d->visible)
			printf("since: not a share: the %s mailbox's own "
			       "entry decides\n", rights_kind_name(q->d->kind));
	} else if (q->added_text[0] != '\0') {
		printf("since: %s\n", q->added_text);
	} else {
		printf("since: the log has no addition of this entry: it "
		       "predates the log%s\n", q->shown > 0 ? "" :
		       " (or was written outside mailgrants)");
	}
}

/* cmd_audit - audit sent ADDRESS, audit access LOGIN ADDRESS */
int cmd_audit(const struct config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "file", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	char *files[TRAIL_FILES_MAX];
	size_t nfiles = 0;
	time_t since = 0, until = (time_t)0x7fffffffffffLL;
	struct trail_events all = { NULL, 0, 0, 0, NULL, NULL };
	struct trail_access access;
	struct rights_decision d;
	bool json = false, sent;
	int c;

	if (argc < 2 || (strcmp(argv[1], "sent") != 0 &&
			 strcmp(argv[1], "access") != 0)) {
		trail_print_usage(stderr);
		return EXIT_USAGE;
	}
	sent = strcmp(argv[1], "sent") == 0;
	memset(&access, 0, sizeof(access));
	argc--;
	argv++;
	optind = 0;	/* glibc: a full restart, with permutation */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
		case 'u':
			if (!sent)
				goto usage;
			if (trail_time_option(c == 's' ? "--since" :
					      "--until", optarg, c == 'u',
					      c == 's' ? &since : &until) < 0)
				return EXIT_USAGE;
			break;
		case 'f':
			if (nfiles == TRAIL_FILES_MAX)
				return cli_error(EXIT_USAGE, "audit",
						 "more than %d --file",
						 TRAIL_FILES_MAX);
			files[nfiles++] = optarg;
			break;
		case 'j':
			if (!sent)
				goto usage;
			json = true;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != (sent ? 1 : 2))
		goto usage;
	if (sent) {
		struct trail_sent q = { cfg, argv[optind], since, until,
					json };

		all.match = trail_sent_match;
		all.context = &q;
		if (trail_read(files, nfiles, &all) < 0)
			return EXIT_UNAVAILABLE;
	} else {
		struct replica *rep;
		const char *error;
		int ret;

		if (replica_open(cfg->replica, &rep, &error) < 0)
			return cli_error(EXIT_UNAVAILABLE, "audit", "%s",
					 error);
		ret = rights_decide(rep, argv[optind], argv[optind + 1],
				    time(NULL), cfg->recipient_delimiter, &d,
				    &error);
		if (ret < 0)
			(void)cli_error(0, "audit", "%s", error);
		replica_close(&rep);
		if (ret < 0)
			return EXIT_UNAVAILABLE;
		access.cfg = cfg;
		access.login = argv[optind];
		access.d = &d;
		all.match = trail_access_match;
		all.context = &access;
		if (trail_read(files, nfiles, &all) < 0)
			return EXIT_UNAVAILABLE;
		trail_print_now(&d);
	}
	for (size_t i = 0; i < all.count; i++)
		puts(all.items[i].line);
	if (!sent)
		trail_print_since(&access);
	trail_events_free(&all);
	return EXIT_ANSWERED;
usage:
	trail_print_usage(stderr);
	return EXIT_USAGE;
}
