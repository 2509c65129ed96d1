/*
 * NAME
 *	share - mailgrants share and mailgrants unshare
 * SYNOPSIS
 *	mailgrants [-c config] share [--as login|dn [--password-file file]]
 *		[--from time] [--until time] [--rights rights]
 *		[--name name] [--description text] [--on-behalf]
 *		[--replace] owner-address grantee
 *	mailgrants [-c config] unshare [--as login|dn
 *		[--password-file file]] owner-address grantee
 * DESCRIPTION
 *	share adds a share entry directly below the entry of the mailbox
 *	that has owner-address; unshare takes grantee off that mailbox's
 *	shares. Both write as the identity given with --as (a DN, or a
 *	mail user's login or address), with the password from the first
 *	line of --password-file or, when standard input is a terminal,
 *	asked for on /dev/tty without echo; without --as the configured
 *	identity writes. The directory's access rules decide: a refusal
 *	is one line naming the operation, the entry and the identity.
 *	The work is done by lib-sync/ldapshare.c. Each share entry
 *	written is logged as an audit line (trail.h): to syslog, or to
 *	audit_log.
 * EXIT STATUS
 *	0 done; 1 usage error, or refused by the directory, or nothing to
 *	do it to; 2 the directory is unavailable or refused the bind.
 * SEE ALSO
 *	mailgrants(1), ldapshare.h
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "gentime.h"
#include "ldapconn.h"
#include "ldapshare.h"
#include "share.h"
#include "text.h"
#include "trail.h"
#include "xalloc.h"

/* What --rights accepts: the RFC 4314 letters a share may hold. */
#define SHARE_RIGHTS_LETTERS "lrswipkxtea"
#define SHARE_PRINT_MAX 256	/* a value quoted in a message */

/* share_fail - one error line on stderr, then the exit status */
#define share_fail cli_error

/* share_print_usage - the synopsis of share and unshare */
void share_print_usage(FILE *fp)
{
	fprintf(fp,
		"usage: %s [-c config] share [--as login|dn] "
		"[--password-file file]\n"
		"           [--from time] [--until time] [--rights rights] "
		"[--name name]\n"
		"           [--description text] [--on-behalf] [--replace] "
		"owner-address grantee\n"
		"       %s [-c config] unshare [--as login|dn] "
		"[--password-file file]\n"
		"           owner-address grantee\n",
		progname, progname);
}

/* share_usage - the synopsis on stderr, exit status 1 */
static int share_usage(void)
{
	share_print_usage(stderr);
	return EXIT_USAGE;
}

/* share_note - one change made, on stdout */
static void share_note(void *context, const char *text)
{
	(void)context;
	printf("%s\n", text);
}

/* What the audit line of a change says about the command. */
struct share_audit {
	const struct config *cfg;
	struct trail_share t;
};

/* share_changed - one share entry written: its audit line */
static void share_changed(void *context, const char *dn, const char *rights,
			  enum ldapshare_change what)
{
	struct share_audit *sa = context;
	struct audit_line a;

	trail_write(sa->cfg, trail_share_line(sa->cfg, &a, &sa->t, dn, rights,
					      what));
}

/* share_tty_password - a password typed on the terminal, not echoed */
static int share_tty_password(const char *as, char **password_r,
			      const char **error_r)
{
	static char error[256];
	char buf[LDAPCONN_PASSWORD_MAX + 2];
	struct termios old, quiet;
	size_t len = 0;
	bool too_long = false;
	int fd;

	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || tcgetattr(fd, &old) < 0) {
		(void)snprintf(error, sizeof(error), "/dev/tty: %s",
			       strerror(errno));
		if (fd >= 0)
			(void)close(fd);
		*error_r = error;
		return -1;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	/* Echo off before the prompt: what is typed after it counts. */
	if (tcsetattr(fd, TCSAFLUSH, &quiet) < 0) {
		(void)snprintf(error, sizeof(error), "/dev/tty: %s",
			       strerror(errno));
		(void)close(fd);
		*error_r = error;
		return -1;
	}
	dprintf(fd, "Password for %s: ", as);
	for (;;) {
		char c;
		ssize_t n = read(fd, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || c == '\n' || c == '\r')
			break;
		if (len < sizeof(buf) - 1)
			buf[len++] = c;
		else
			too_long = true;
	}
	(void)tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0) {
		/* Only the cursor stays on the line. */
	}
	(void)close(fd);
	buf[len] = '\0';
	if (too_long || len > LDAPCONN_PASSWORD_MAX || len == 0 ||
	    memchr(buf, '\0', len) != NULL) {
		explicit_bzero(buf, sizeof(buf));
		*error_r = len == 0 && !too_long ? "empty password"
						 : "password too long";
		return -1;
	}
	*password_r = xstrndup(buf, len);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

/* share_password - the acting identity's password, or NULL without --as */
static int share_password(const char *cmd, const char *as, const char *file,
			  char **password_r)
{
	const char *error;

	*password_r = NULL;
	if (as == NULL) {
		if (file != NULL)
			return share_fail(EXIT_USAGE, cmd,
					  "--password-file needs --as");
		return 0;
	}
	if (file != NULL) {
		if (ldapconn_password_read(file, password_r, &error) < 0)
			return share_fail(EXIT_USAGE, cmd, "%s", error);
		return 0;
	}
	if (!isatty(STDIN_FILENO))
		return share_fail(EXIT_USAGE, cmd,
				  "--as needs --password-file when standard "
				  "input is not a terminal");
	if (share_tty_password(as, password_r, &error) < 0)
		return share_fail(EXIT_USAGE, cmd, "%s", error);
	return 0;
}

/* share_run - open as the acting identity, run fn, close */
static int share_run(const struct config *cfg, const char *cmd,
		     const char *as, const char *password_file,
		     const struct ldapshare_settings *set)
{
	struct ldapshare *ls;
	struct share_audit sa;
	char *password;
	const char *error;
	int ret;

	if ((ret = share_password(cmd, as, password_file, &password)) != 0)
		return ret;
	ret = ldapshare_open(cfg, as, password, &ls, &error);
	ldapconn_password_free(&password);
	/* a refused bind stays exit status 2, as documented */
	if (ret != 0)
		return share_fail(ret < 0 || ret == LDAPSHARE_BAD_PASSWORD ?
				  EXIT_UNAVAILABLE : EXIT_USAGE, cmd,
				  "%s", error);
	sa.cfg = cfg;
	sa.t.via = cmd;
	sa.t.login = as != NULL ? as : ldapshare_acting(ls);
	sa.t.mailbox = set->owner;
	sa.t.grantee = set->grantee;
	sa.t.not_before = set->not_before;
	sa.t.not_after = set->not_after;
	ldapshare_watch(ls, share_changed, &sa);
	if (strcmp(cmd, "share") == 0)
		ret = ldapshare_add(ls, set, share_note, NULL, &error);
	else
		ret = ldapshare_remove(ls, set->owner, set->grantee,
				       share_note, NULL, &error);
	ldapshare_close(&ls);
	if (ret != 0)
		return share_fail(ret < 0 ? EXIT_UNAVAILABLE : EXIT_USAGE, cmd,
				  "%s", error);
	return EXIT_ANSWERED;
}

/* share_rights_check - --rights: RFC 4314 letters, each once */
static int share_rights_check(const char *rights, const char **error_r)
{
	bool seen[256] = { false };
	char p[SHARE_PRINT_MAX];

	if (*rights == '\0') {
		*error_r = "rights: empty (RFC 4314 letters of "
			   SHARE_RIGHTS_LETTERS ")";
		return -1;
	}
	for (const unsigned char *r = (const unsigned char *)rights; *r != '\0';
	     r++) {
		if (strchr(SHARE_RIGHTS_LETTERS, *r) == NULL) {
			*error_r = error_printf(
				"rights %s: only the RFC 4314 letters %s",
				text_printable_str(p, sizeof(p),
						   rights, TEXT_MARK),
				SHARE_RIGHTS_LETTERS);
			return -1;
		}
		if (seen[*r]) {
			*error_r = error_printf(
				"rights %s: \"%c\" twice",
				text_printable_str(p, sizeof(p),
						   rights, TEXT_MARK), *r);
			return -1;
		}
		seen[*r] = true;
	}
	return 0;
}

/* share_time - --from or --until */
static int share_time(const char *opt, const char *s, bool end_of_day,
		      time_t *t_r)
{
	if (gentime_parse_date(s, end_of_day, t_r) == 0 && *t_r > 0)
		return 0;
	return share_fail(EXIT_USAGE, "share",
			  "%s: expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or a "
			  "GeneralizedTime (YYYYMMDDHHMMSSZ), not \"%.64s\"",
			  opt, s);
}

/* cmd_share - add a share entry */
int cmd_share(const struct config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "as", required_argument, NULL, 'a' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "from", required_argument, NULL, 'f' },
		{ "until", required_argument, NULL, 'u' },
		{ "rights", required_argument, NULL, 'r' },
		{ "name", required_argument, NULL, 'n' },
		{ "description", required_argument, NULL, 'd' },
		{ "replace", no_argument, NULL, 'R' },
		{ "on-behalf", no_argument, NULL, 'B' },
		{ NULL, 0, NULL, 0 },
	};
	struct ldapshare_settings set;
	const char *as = NULL, *password_file = NULL, *error;
	int c;

	memset(&set, 0, sizeof(set));
	optind = 0;	/* glibc: a full restart, with permutation */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			as = optarg;
			break;
		case 'p':
			password_file = optarg;
			break;
		case 'f':
			if (share_time("--from", optarg, false,
				       &set.not_before) != 0)
				return EXIT_USAGE;
			break;
		case 'u':
			if (share_time("--until", optarg, true,
				       &set.not_after) != 0)
				return EXIT_USAGE;
			break;
		case 'r':
			if (share_rights_check(optarg, &error) < 0)
				return share_fail(EXIT_USAGE, "share", "%s",
						  error);
			set.rights = optarg;
			break;
		case 'n':
			if (ldapshare_name_check(optarg, &error) < 0)
				return share_fail(EXIT_USAGE, "share", "%s",
						  error);
			set.name = optarg;
			break;
		case 'd':
			set.description = optarg;
			break;
		case 'R':
			set.replace = true;
			break;
		case 'B':
			set.on_behalf = true;
			break;
		default:
			return share_usage();
		}
	}
	if (argc - optind != 2)
		return share_usage();
	if (set.not_before != 0 && set.not_after != 0 &&
	    set.not_after < set.not_before)
		return share_fail(EXIT_USAGE, "share",
				  "--until is before --from");
	/* Both ends count, so this is one second: surely a mistake. */
	if (set.not_before != 0 && set.not_after == set.not_before)
		return share_fail(EXIT_USAGE, "share",
				  "--until is the same second as --from: "
				  "both ends count, so for one day give "
				  "the same date (YYYY-MM-DD) to both");
	/* A window wholly past would make an entry that never grants
	   anything, and look like a share that worked. */
	if (set.not_after != 0 && set.not_after < time(NULL))
		return share_fail(EXIT_USAGE, "share",
				  "--until lies in the past: the share would "
				  "never be active");
	set.owner = argv[optind];
	set.grantee = argv[optind + 1];
	return share_run(cfg, "share", as, password_file, &set);
}

/* cmd_unshare - take a grantee off a mailbox's shares */
int cmd_unshare(const struct config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "as", required_argument, NULL, 'a' },
		{ "password-file", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct ldapshare_settings set;
	const char *as = NULL, *password_file = NULL;
	int c;

	memset(&set, 0, sizeof(set));
	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'a')
			as = optarg;
		else if (c == 'p')
			password_file = optarg;
		else
			return share_usage();
	}
	if (argc - optind != 2)
		return share_usage();
	set.owner = argv[optind];
	set.grantee = argv[optind + 1];
	return share_run(cfg, "unshare", as, password_file, &set);
}
