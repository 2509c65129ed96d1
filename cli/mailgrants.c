/*
 * NAME
 *	mailgrants - sync and query the mailgrants replica
 * DESCRIPTION
 *	The admin tool: sync (cli/sync.c, cli/follow.c) reads the grants
 *	from the directory into the replica; explain, access, who and
 *	identities query the replica through the rights function; check
 *	checks the configuration, the identities (cli/check-ids.c) and the
 *	front ends (cli/check-fe.c); share and unshare write share entries
 *	(cli/share.c); audit answers from the audit lines (cli/trail.c);
 *	setup-directory prepares an existing slapd
 *	(cli/setup-dir.c). This file holds main(), the command table and
 *	the query and check commands.
 *
 *	The manual page, doc/mailgrants.1, is the one description of the
 *	commands, their options, their output and the exit status; change
 *	it with the behaviour.
 * SEE ALSO
 *	mailgrants(1), mailgrants.conf(5)
 */

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "error.h"
#include "ldapconn.h"
#include "ldapdir.h"
#include "policy.h"
#include "replica.h"
#include "rights.h"
#include "setup-dir.h"
#include "share.h"
#include "share-service.h"
#include "sync.h"
#include "trail.h"
#include "xalloc.h"

/* A follower writes a heartbeat every FOLLOW_HEARTBEAT_S (5 s) while the
   directory answers, and marks the replica not live itself when it stops
   answering; this slack is for a follower that is gone (killed, or busy
   in a long full read), so it allows for several missed beats. */
#define LIVE_SLACK_S 30

/* The configuration file, as -c named it; check prints it. */
static const char *config_path = CONFIG_DEFAULT_PATH;

/* fail - one error line on stderr, then exit */
static void __attribute__((noreturn, format(printf, 2, 3)))
fail(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vlog(NULL, fmt, ap);
	va_end(ap);
	exit(status);
}

/* print_usage - the synopsis */
static void print_usage(FILE *fp)
{
	fprintf(fp,
		"usage: %s [-c config] sync --once | --follow\n"
		"       %s [-c config] explain [--json] [--at time] login address\n"
		"       %s [-c config] access [--json] [--at time] login\n"
		"       %s [-c config] who [--json] [--at time] address\n"
		"       %s [-c config] identities [--format text|json|"
		"thunderbird|roundcube-sql]\n"
		"           [--name name] [--at time] [--tb-account key] "
		"[--tb-identity key] login\n"
		"       %s [-c config] check [--front-ends "
		"[--postfix-config dir]\n"
		"           [--dovecot-config file] [--sample n]]\n"
		"       %s [-c config] share [--as login|dn] [options] "
		"owner-address grantee\n"
		"       %s [-c config] unshare [--as login|dn] [options] "
		"owner-address grantee\n"
		"       %s [-c config] share-service --socket path "
		"[--timeout secs]\n"
		"           [--max-children n] [--max-failures n] "
		"[--failure-window secs]\n"
		"       %s [-c config] audit sent [--since time] "
		"[--until time] [--json]\n"
		"           [--file log ...] address\n"
		"       %s [-c config] audit access [--file log ...] "
		"login address\n"
		"       %s setup-directory [options] [--diff | --apply]\n",
		progname, progname, progname, progname, progname, progname,
		progname, progname, progname, progname, progname, progname);
	fprintf(fp, "Every command answers --help; see mailgrants(1).\n");
}

/* usage - the synopsis on stderr, exit 1 */
static void __attribute__((noreturn)) usage(void)
{
	print_usage(stderr);
	exit(EXIT_USAGE);
}

/* wants_help - --help among a command's arguments (before "--") */
static bool wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0)
			return true;
	}
	return false;
}

/* json_string - a JSON string literal (UTF-8 passes through) */
static void json_string(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", fp);
			break;
		case '\\':
			fputs("\\\\", fp);
			break;
		case '\n':
			fputs("\\n", fp);
			break;
		case '\t':
			fputs("\\t", fp);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(fp, "\\u%04x", *p);
			else
				fputc(*p, fp);
		}
	}
	fputc('"', fp);
}

/* format_time - ISO 8601 UTC, or "" for 0 */
static const char *format_time(time_t t, char *buf, size_t size)
{
	struct tm tm;

	buf[0] = '\0';
	if (t != 0 && gmtime_r(&t, &tm) != NULL)
		strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

/* json_string_or_null - a string, or null for NULL */
static void json_string_or_null(FILE *fp, const char *s)
{
	if (s != NULL)
		json_string(fp, s);
	else
		fputs("null", fp);
}

/* json_decision - one decision as a JSON object */
static void json_decision(FILE *fp, const struct rights_decision *d,
			  bool sent)
{
	char b[32];

	fputs("{\"login\":", fp);
	json_string(fp, d->login);
	fputs(",\"address\":", fp);
	json_string(fp, d->address);
	fputs(",\"mailbox\":", fp);
	json_string(fp, d->mailbox);
	fprintf(fp, ",\"kind\":\"%s\",\"visible\":%s,\"rights\":",
		rights_kind_name(d->kind), d->visible ? "true" : "false");
	json_string(fp, d->rights);
	fprintf(fp, ",\"may_send\":%s,\"reason\":\"%s\",\"entry\":",
		d->may_send ? "true" : "false",
		rights_reason_name(d->reason));
	json_string(fp, d->entry_dn);
	fputs(",\"not_before\":", fp);
	if (d->not_before != 0)
		json_string(fp, format_time(d->not_before, b, sizeof(b)));
	else
		fputs("null", fp);
	fputs(",\"not_after\":", fp);
	if (d->not_after != 0)
		json_string(fp, format_time(d->not_after, b, sizeof(b)));
	else
		fputs("null", fp);
	fprintf(fp, ",\"may_send_on_behalf\":%s,\"on_behalf_entry\":",
		d->may_send_on_behalf ? "true" : "false");
	json_string_or_null(fp, d->may_send_on_behalf ? d->on_behalf_dn :
			  NULL);
	fputs(",\"on_behalf_not_before\":", fp);
	json_string_or_null(fp, d->on_behalf_not_before != 0 ?
			  format_time(d->on_behalf_not_before, b, sizeof(b)) :
			  NULL);
	fputs(",\"on_behalf_not_after\":", fp);
	json_string_or_null(fp, d->on_behalf_not_after != 0 ?
			  format_time(d->on_behalf_not_after, b, sizeof(b)) :
			  NULL);
	fputs(",\"detail\":", fp);
	json_string(fp, d->detail);
	/* explain only: access and who list grants, not mailboxes. */
	if (sent)
		fprintf(fp, ",\"sent_copies\":%s,\"sent_copies_from\":%s",
			d->sent_copies ? "true" : "false",
			d->mailbox[0] == '\0' ? "null" :
			d->sent_copies_default ? "\"default\"" : "\"entry\"");
	fputc('}', fp);
}

/* text_decision - one decision for a person to read */
static void text_decision(FILE *fp, const struct rights_decision *d)
{
	char b1[32], b2[32];

	fputs("login:    ", fp);
	cli_print_printable(fp, d->login);
	fputs("\naddress:  ", fp);
	cli_print_printable(fp, d->address);
	fputs("\nmailbox:  ", fp);
	cli_print_printable(fp, d->mailbox[0] ? d->mailbox : "-");
	fprintf(fp, "\nkind:     %s\nvisible:  %s\nrights:   %s\n"
		"may send: %s\nreason:   %s\n", rights_kind_name(d->kind),
		d->visible ? "yes" : "no", d->rights[0] ? d->rights : "-",
		d->may_send ? "yes" : "no", rights_reason_name(d->reason));
	if (d->entry_dn[0] != '\0') {
		fputs("entry:    ", fp);
		cli_print_printable(fp, d->entry_dn);
		fputc('\n', fp);
	}
	if (d->not_before != 0 || d->not_after != 0)
		fprintf(fp, "window:   %s .. %s\n",
			d->not_before ? format_time(d->not_before, b1,
						    sizeof(b1)) : "open",
			d->not_after ? format_time(d->not_after, b2,
						   sizeof(b2)) : "open");
	if (d->may_send_on_behalf) {
		/* The header fields it takes, as the milter wants them. */
		fputs("on behalf: yes: From: ", fp);
		cli_print_printable(fp, d->mailbox);
		fputs(" with Sender: ", fp);
		cli_print_printable(fp, d->login);
		fputs("'s own address (never From: it alone)\n"
		      "  by:     ", fp);
		cli_print_printable(fp, d->on_behalf_dn);
		fprintf(fp, "\n  window: %s .. %s\n",
			d->on_behalf_not_before ?
			format_time(d->on_behalf_not_before, b1, sizeof(b1)) :
			"open",
			d->on_behalf_not_after ?
			format_time(d->on_behalf_not_after, b2, sizeof(b2)) :
			"open");
	}
	fprintf(fp, "why:      %s\n", d->detail);
	/* Sent copies go with sending as the mailbox (README "Sent
	   copies"): said for a mailbox, copied or not, and from which
	   setting. */
	if (d->mailbox[0] != '\0') {
		fprintf(fp, "sent copies: %s (%s)", d->sent_copies ?
			"yes" : "no", d->sent_copies_default ?
			"site default sent_copies" : "the mailbox's entry");
		if (d->sent_copies && d->may_send) {
			fputs("; mail this login sends as the address is also"
			      " filed in the Sent folder of ", fp);
			cli_print_printable(fp, d->mailbox);
		}
		fputc('\n', fp);
	}
}

/* text_list_line - one line of access/who output */
static void text_list_line(FILE *fp, const struct rights_decision *d,
			   bool by_login)
{
	char b[32];

	fprintf(fp, "%-8s ", rights_kind_name(d->kind));
	cli_print_printable(fp, by_login ? d->login : d->mailbox);
	fprintf(fp, "  rights=%s send=%s", d->rights,
		d->may_send ? "yes" : d->may_send_on_behalf ? "on-behalf" :
		"no");
	if (d->not_after != 0)
		fprintf(fp, " until=%s", format_time(d->not_after, b,
						     sizeof(b)));
	fputc('\n', fp);
}

/* parse_at - a time for --at */
static time_t parse_at(const char *s)
{
	struct tm tm;
	const char *end;

	if (s[0] == '@') {
		char *e;
		long long v = strtoll(s + 1, &e, 10);

		if (*e == '\0' && e != s + 1 && v >= 0)
			return (time_t)v;
		fail(EXIT_USAGE, "--at: not a time: %s", s);
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end != NULL && *end == 'T')
		end = strptime(end, "T%H:%M:%S", &tm);
	if (end != NULL && *end == 'Z')
		end++;
	if (end == NULL || *end != '\0')
		fail(EXIT_USAGE, "--at: expected YYYY-MM-DD, "
		     "YYYY-MM-DDTHH:MM:SSZ or @seconds, not \"%s\"", s);
	return timegm(&tm);
}

/* open_replica - the replica read-only, or exit 2 */
static struct replica *open_replica(const struct config *cfg)
{
	struct replica *rep;
	const char *error;

	if (replica_open(cfg->replica, &rep, &error) < 0)
		fail(EXIT_UNAVAILABLE, "%s", error);
	return rep;
}

/* cmd_sync - sync --once, or --follow */
static int cmd_sync(const struct config *cfg, int argc, char **argv)
{
	char *password = NULL;
	const char *error;
	int status;

	if (argc != 2 || (strcmp(argv[1], "--once") != 0 &&
			  strcmp(argv[1], "--follow") != 0))
		usage();
	if (cfg->ldap_base[0] == '\0')
		fail(EXIT_USAGE, "ldap_base is not set in the configuration");
	/* The replica holds who may read whose mail: not for everyone. */
	umask(027);
	/* The password stays in memory for the whole run (--follow binds
	   again after every outage): no core file may carry it, and no
	   other process of this user may read it (ptrace, /proc/PID/mem). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fail(EXIT_USAGE, "prctl(PR_SET_DUMPABLE): %s",
		     strerror(errno));
	/* Read once, now: a daemon may lose access to the file later. */
	if (cfg->ldap_bind_password_file[0] != '\0' &&
	    cfg->ldap_sasl_mech[0] == '\0' &&
	    ldapconn_password_read(cfg->ldap_bind_password_file,
				       &password, &error) < 0)
		fail(EXIT_USAGE, "%s", error);
	if (strcmp(argv[1], "--follow") == 0) {
		status = cmd_follow(cfg, password);
		ldapconn_password_free(&password);
		return status;
	}
	if (sync_full(cfg, password, "", "", true, &error) < 0) {
		ldapconn_password_free(&password);
		fail(EXIT_UNAVAILABLE, "sync: %s; the replica was not changed%s",
		     error, strstr(error, "cannot open for writing") == NULL ?
		     "" : " (its directory must exist and be writable by the "
		     "user running the sync)");
	}
	ldapconn_password_free(&password);
	return EXIT_ANSWERED;
}

/* query_options - --json and --at of the query commands */
static int query_options(int argc, char **argv, bool *json, time_t *now)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "at", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*json = false;
	*now = time(NULL);
	optind = 0;	/* glibc: a full restart, with permutation */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'j')
			*json = true;
		else if (c == 'a')
			*now = parse_at(optarg);
		else
			usage();
	}
	return optind;
}

/* cmd_explain - may LOGIN see and send as ADDRESS, and why */
static int cmd_explain(const struct config *cfg, int argc, char **argv)
{
	struct rights_decision d;
	struct replica *rep;
	const char *error;
	bool json;
	time_t now;
	int i = query_options(argc, argv, &json, &now);

	if (argc - i != 2)
		usage();
	rep = open_replica(cfg);
	if (rights_decide(rep, argv[i], argv[i + 1], now,
			  cfg->recipient_delimiter, &d, &error) < 0)
		fail(EXIT_UNAVAILABLE, "%s", error);
	if (json) {
		json_decision(stdout, &d, true);
		fputc('\n', stdout);
	} else {
		text_decision(stdout, &d);
	}
	replica_close(&rep);
	return EXIT_ANSWERED;
}

/* print_list - access/who output */
static void print_list(const struct rights_list *l, bool json, bool by_login)
{
	if (json) {
		fputc('[', stdout);
		for (size_t k = 0; k < l->count; k++) {
			if (k > 0)
				fputc(',', stdout);
			json_decision(stdout, &l->items[k], false);
		}
		fputs("]\n", stdout);
		return;
	}
	for (size_t k = 0; k < l->count; k++)
		text_list_line(stdout, &l->items[k], by_login);
}

/* cmd_list - access LOGIN (every mailbox it sees now) or who ADDRESS
   (every login that sees that mailbox now) */
static int cmd_list(const struct config *cfg, int argc, char **argv,
		    bool who)
{
	struct rights_list l;
	struct replica *rep;
	const char *error;
	bool json;
	time_t now;
	int rc, i = query_options(argc, argv, &json, &now);

	if (argc - i != 1)
		usage();
	rep = open_replica(cfg);
	rc = who ? rights_who(rep, argv[i], now, cfg->recipient_delimiter, &l,
			      &error) :
		rights_access(rep, argv[i], now, &l, &error);
	if (rc < 0)
		fail(EXIT_UNAVAILABLE, "%s", error);
	if (rc > 0 && !json) {
		fputs(who ? "no mailbox has the address " : "unknown login: ",
		      stderr);
		cli_print_printable(stderr, argv[i]);
		fputc('\n', stderr);
	}
	print_list(&l, json, who);
	rights_list_free(&l);
	replica_close(&rep);
	return EXIT_ANSWERED;
}

/* The output formats of "identities" */
enum id_format {
	ID_FORMAT_TEXT,
	ID_FORMAT_JSON,
	ID_FORMAT_THUNDERBIRD,
	ID_FORMAT_ROUNDCUBE_SQL,
};

struct id_options {
	enum id_format format;
	const char *name;		/* display name, "" for none */
	const char *tb_account;		/* Thunderbird account key */
	const char *tb_identity;	/* its existing first identity */
	time_t now;
};

/* id_check_key - a Thunderbird pref key part: letters, digits, _ */
static const char *id_check_key(const char *opt, const char *key)
{
	size_t n = strlen(key);

	if (n == 0 || n > 64 ||
	    strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		   "0123456789_") != n)
		fail(EXIT_USAGE, "%s: expected letters, digits and _ "
		     "(e.g. account1, id1), not \"%s\"", opt, key);
	return key;
}

/* id_options - the options of "identities" */
static int id_options(int argc, char **argv, struct id_options *o)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "name", required_argument, NULL, 'n' },
		{ "at", required_argument, NULL, 'a' },
		{ "tb-account", required_argument, NULL, 'A' },
		{ "tb-identity", required_argument, NULL, 'I' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->format = ID_FORMAT_TEXT;
	o->name = "";
	o->tb_account = "account1";
	o->tb_identity = "id1";
	o->now = time(NULL);
	optind = 0;	/* glibc: a full restart, with permutation */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (strcmp(optarg, "text") == 0)
				o->format = ID_FORMAT_TEXT;
			else if (strcmp(optarg, "json") == 0)
				o->format = ID_FORMAT_JSON;
			else if (strcmp(optarg, "thunderbird") == 0)
				o->format = ID_FORMAT_THUNDERBIRD;
			else if (strcmp(optarg, "roundcube-sql") == 0)
				o->format = ID_FORMAT_ROUNDCUBE_SQL;
			else
				fail(EXIT_USAGE, "--format: expected text, "
				     "json, thunderbird or roundcube-sql, not "
				     "\"%s\"", optarg);
			break;
		case 'n':
			o->name = optarg;
			break;
		case 'a':
			o->now = parse_at(optarg);
			break;
		case 'A':
			o->tb_account = id_check_key("--tb-account", optarg);
			break;
		case 'I':
			o->tb_identity = id_check_key("--tb-identity", optarg);
			break;
		default:
			usage();
		}
	}
	/* Roundcube's column is 128 characters; a name is one line. */
	if (strlen(o->name) > 128)
		fail(EXIT_USAGE, "--name: longer than 128 bytes");
	for (const unsigned char *p = (const unsigned char *)o->name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			fail(EXIT_USAGE, "--name: control characters are not "
			     "allowed");
	return optind;
}

/* id_pref_string - a string for Mozilla's prefs parser (user.js) */
static void id_pref_string(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(fp, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(fp, "\\u%04x", *p);
		else
			fputc(*p, fp);
	}
	fputc('"', fp);
}

/* id_sql_ok - can s be one SQL string literal for every dialect? Not
   with a backslash (an escape in MySQL's default mode, a literal
   elsewhere) or a control character (no place in these columns). */
static bool id_sql_ok(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p == '\\' || *p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* id_sql_string - an SQL string literal of what id_sql_ok accepted */
static void id_sql_string(FILE *fp, const char *s)
{
	fputc('\'', fp);
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			fputc('\'', fp);
		fputc(*p, fp);
	}
	fputc('\'', fp);
}

/* id_print_thunderbird - user.js lines adding the identities to one
   account, after its existing first identity */
static void id_print_thunderbird(const struct rights_decision *const *ids,
				 size_t n, const char *login,
				 const struct id_options *o)
{
	size_t k, added = 0;

	fputs("// Identities for ", stdout);
	cli_print_printable(stdout, login);
	fputs(" from \"mailgrants identities\": the addresses this login "
	      "may send as.\n"
	      "// Quit Thunderbird, add these lines to user.js in the "
	      "profile folder,\n"
	      "// start Thunderbird, then remove them from user.js again "
	      "(Thunderbird\n"
	      "// keeps the settings; user.js would reset the list at every "
	      "start).\n", stdout);
	fprintf(stdout, "// Account %s with its identity %s (see Settings > "
		"General > Config Editor:\n// mail.account.%s.identities); "
		"other keys with --tb-account/--tb-identity.\n",
		o->tb_account, o->tb_identity, o->tb_account);
	for (k = 0; k < n; k++) {
		/* The login's own address is the account's identity. */
		if (strcmp(ids[k]->mailbox, ids[k]->login) == 0)
			continue;
		added++;
		printf("user_pref(\"mail.identity.mailgrants%zu.useremail\", ",
		       added);
		id_pref_string(stdout, ids[k]->mailbox);
		fputs(");\n", stdout);
		if (o->name[0] != '\0') {
			printf("user_pref(\"mail.identity.mailgrants%zu."
			       "fullName\", ", added);
			id_pref_string(stdout, o->name);
			fputs(");\n", stdout);
		}
		printf("user_pref(\"mail.identity.mailgrants%zu.valid\", "
		       "true);\n", added);
	}
	printf("user_pref(\"mail.account.%s.identities\", \"%s",
	       o->tb_account, o->tb_identity);
	for (k = 1; k <= added; k++)
		printf(",mailgrants%zu", k);
	fputs("\");\n", stdout);
}

/* id_print_roundcube - INSERTs of what Roundcube's user lacks */
static void id_print_roundcube(const struct rights_decision *const *ids,
			       size_t n, const char *login,
			       const struct id_options *o)
{
	/* All or nothing: never half a script. */
	for (size_t k = 0; k < n; k++)
		if (!id_sql_ok(ids[k]->mailbox))
			fail(EXIT_USAGE, "a backslash or control character in "
			     "an address cannot be written for every SQL "
			     "dialect");
	if (!id_sql_ok(o->name) || !id_sql_ok(login))
		fail(EXIT_USAGE, "a backslash in the name or login cannot be "
		     "written for every SQL dialect");
	fputs("-- Identities for ", stdout);
	cli_print_printable(stdout, login);
	fputs(" from \"mailgrants identities\": the addresses this login "
	      "may send as.\n"
	      "-- Adds each one the Roundcube user of this login (the "
	      "users row Roundcube\n"
	      "-- creates at the first login) does not have yet; for "
	      "MySQL/MariaDB,\n"
	      "-- PostgreSQL and SQLite. With a db_prefix, prefix the "
	      "table names.\n", stdout);
	for (size_t k = 0; k < n; k++) {
		fputs("INSERT INTO identities (user_id, changed, del, "
		      "standard, name, email)\n  SELECT u.user_id, "
		      "CURRENT_TIMESTAMP, 0, 0, ", stdout);
		id_sql_string(stdout, o->name);
		fputs(", ", stdout);
		id_sql_string(stdout, ids[k]->mailbox);
		fputs("\n  FROM users u WHERE u.username = ", stdout);
		id_sql_string(stdout, login);
		fputs("\n  AND NOT EXISTS (SELECT 1 FROM identities i WHERE "
		      "i.user_id = u.user_id\n    AND i.email = ", stdout);
		id_sql_string(stdout, ids[k]->mailbox);
		fputs(" AND i.del = 0);\n", stdout);
	}
}

/* cmd_identities - the addresses LOGIN may send as, for mail clients */
static int cmd_identities(const struct config *cfg, int argc, char **argv)
{
	const struct rights_decision **ids;
	struct id_options o;
	struct rights_list l;
	struct replica *rep;
	const char *error, *login;
	size_t n = 0;
	int rc, i = id_options(argc, argv, &o);

	if (argc - i != 1)
		usage();
	rep = open_replica(cfg);
	/* The same rights as Dovecot and the policy daemon: what access
	   lists with send=yes, and nothing else. */
	rc = rights_access(rep, argv[i], o.now, &l, &error);
	if (rc < 0)
		fail(EXIT_UNAVAILABLE, "%s", error);
	if (rc > 0) {
		fputs("unknown login: ", stderr);
		cli_print_printable(stderr, argv[i]);
		fputc('\n', stderr);
	}
	ids = xmalloc((l.count + 1) * sizeof(*ids));
	/* The login's own address first: clients take the first as the
	   default. */
	for (size_t k = 0; k < l.count; k++)
		if (l.items[k].may_send &&
		    strcmp(l.items[k].mailbox, l.items[k].login) == 0)
			ids[n++] = &l.items[k];
	for (size_t k = 0; k < l.count; k++)
		if (l.items[k].may_send &&
		    strcmp(l.items[k].mailbox, l.items[k].login) != 0)
			ids[n++] = &l.items[k];
	login = l.count > 0 ? l.items[0].login : argv[i];
	switch (o.format) {
	case ID_FORMAT_TEXT:
		for (size_t k = 0; k < n; k++) {
			printf("%-8s ", rights_kind_name(ids[k]->kind));
			if (o.name[0] != '\0') {
				cli_print_printable(stdout, o.name);
				fputs(" <", stdout);
				cli_print_printable(stdout, ids[k]->mailbox);
				fputs(">\n", stdout);
			} else {
				cli_print_printable(stdout, ids[k]->mailbox);
				fputc('\n', stdout);
			}
		}
		break;
	case ID_FORMAT_JSON:
		fputc('[', stdout);
		for (size_t k = 0; k < n; k++) {
			fputs(k > 0 ? ",{\"address\":" : "{\"address\":",
			      stdout);
			json_string(stdout, ids[k]->mailbox);
			printf(",\"kind\":\"%s\",\"name\":",
			       rights_kind_name(ids[k]->kind));
			if (o.name[0] != '\0')
				json_string(stdout, o.name);
			else
				fputs("null", stdout);
			fputs(",\"entry\":", stdout);
			json_string(stdout, ids[k]->entry_dn);
			fputc('}', stdout);
		}
		fputs("]\n", stdout);
		break;
	case ID_FORMAT_THUNDERBIRD:
		if (rc == 0)
			id_print_thunderbird(ids, n, login, &o);
		break;
	case ID_FORMAT_ROUNDCUBE_SQL:
		if (rc == 0)
			id_print_roundcube(ids, n, login, &o);
		break;
	}
	free(ids);
	rights_list_free(&l);
	replica_close(&rep);
	return EXIT_ANSWERED;
}

/* check_directory_hint - what to do about a directory error */
static const char *check_directory_hint(const struct config *cfg,
					const char *error)
{
	/* Before the bind test: a bind that times out says nothing about
	   the credentials, which the server never got to check. */
	if (strstr(error, ldap_err2string(LDAP_TIMEOUT)) != NULL)
		return error_printf("the server took the connection but did "
				    "not answer within %u s "
				    "(ldap_network_timeout): is slapd hanging "
				    "(stopped, overloaded, its disk full), or "
				    "a firewall dropping packets on the way? "
				    "The credentials were not checked "
				    "(ldapsearch -x -H URI -s base -b '' -o "
				    "nettimeout=%u tries the same)",
				    cfg->ldap_network_timeout,
				    cfg->ldap_network_timeout);
	if (strstr(error, ": cannot connect: ") != NULL)
		return "is slapd running and listening at ldap_uri, and is "
		       "that address reachable from here? (ldapsearch -x -H "
		       "URI -s base -b '' tries the same)";
	if (strncmp(error, "bind as ", 8) == 0)
		return "check ldap_bind_dn and the password in "
		       "ldap_bind_password_file (ldapwhoami -x -H URI -D DN "
		       "-W tries the same bind with the password typed; -y "
		       "FILE is not the same: it sends the file's trailing "
		       "newline, which the sync strips)";
	/* slapd without a certificate (Debian's as installed) does not
	   know the extended operation: no CA would help. */
	if (strstr(error, "STARTTLS") != NULL &&
	    strstr(error, "unsupported extended operation") != NULL)
		return "the server offers no STARTTLS (no olcTLSCertificateFile"
		       " in its cn=config): on one host set ldap_starttls = no"
		       " with ldap_uri = ldapi:/// or ldap://127.0.0.1/, or "
		       "give slapd a certificate";
	if (strstr(error, "STARTTLS") != NULL ||
	    strstr(error, "ldap_tls_ca_file") != NULL)
		return "check ldap_starttls and ldap_tls_ca_file (the CA "
		       "that signed the server's certificate)";
	return "check the ldap_* settings (mailgrants.conf(5))";
}

/* check_replica_hint - what to do about a replica error */
static const char *check_replica_hint(const char *error)
{
	if (strstr(error, "No such file") != NULL)
		return "run mailgrants sync --once, then keep it current with "
		       "mailgrants sync --follow (mailgrants-sync.service)";
	if (strstr(error, "Permission denied") != NULL)
		return "run check as root or as a member of replica_group, "
		       "the readers' group";
	if (strstr(error, "schema version") != NULL)
		return "run mailgrants sync --once with this version to "
		       "rebuild it";
	if (strstr(error, "corrupt") != NULL)
		return "move the file away and run mailgrants sync --once to "
		       "write a new one";
	return "run mailgrants sync --once; see mailgrants(1)";
}

/* check_sync_line - is a follower keeping the replica live? */
static void check_sync_line(const struct config *cfg,
			    const struct replica_info *info)
{
	time_t now = time(NULL);
	char b[32];

	if (info->sync_mode[0] != '\0' &&
	    now - info->heartbeat <= LIVE_SLACK_S) {
		if (strcmp(info->sync_mode, "poll") == 0)
			printf("sync:      live (poll), the directory answered "
			       "%lld s ago; last read %lld s ago, every %u s\n",
			       (long long)(now - info->heartbeat),
			       (long long)(now - info->last_success),
			       cfg->poll_interval);
		else
			printf("sync:      live (%s), current as of %lld s ago\n",
			       info->sync_mode,
			       (long long)(now - info->current_at));
		printf("           (the follower asks the directory every "
		       "%d s; one that stops answering shows here as not "
		       "live within %d s)\n", FOLLOW_HEARTBEAT_S,
		       FOLLOW_HEARTBEAT_S + FOLLOW_PROBE_TIMEOUT_S);
	} else if (info->sync_mode[0] != '\0') {
		printf("sync:      not live: the %s sync's last heartbeat was"
		       " %lld s ago (is mailgrants sync --follow running?)\n",
		       info->sync_mode, (long long)(now - info->heartbeat));
	} else if (info->heartbeat != 0) {
		/* The follower said so itself; its heartbeat is the last
		   time the directory answered it. */
		printf("sync:      not live: directory not answering since %s "
		       "(%lld s ago); the follower keeps trying (its log says "
		       "why)\n", format_time(info->heartbeat, b, sizeof(b)),
		       (long long)(now - info->heartbeat));
	} else {
		printf("sync:      not live (last sync: sync --once, and no "
		       "follower has reached the directory since)\n");
	}
}

/* cmd_check - configuration, directory and replica, in that order */
static int cmd_check(const struct config *cfg, int argc, char **argv)
{
	struct replica_info info;
	struct replica *rep;
	const char *error;
	static const struct option opts[] = {
		{ "front-ends", no_argument, NULL, 'F' },
		{ "postfix-config", required_argument, NULL, 'P' },
		{ "dovecot-config", required_argument, NULL, 'D' },
		{ "sample", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	struct check_fe_options fe = { NULL, NULL, 200 };
	bool front_ends = false;
	int status = EXIT_ANSWERED;
	unsigned int id_problems, fe_problems = 0;
	char b[32], *end;
	int c;

	optind = 0;	/* glibc: a full restart, with permutation */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'F') {
			front_ends = true;
		} else if (c == 'P') {
			fe.postfix_dir = optarg;
		} else if (c == 'D') {
			fe.dovecot_conf = optarg;
		} else if (c == 'S') {
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end != '\0' || v == 0 || v > 100000)
				fail(EXIT_USAGE, "--sample: a number from 1 "
				     "to 100000, not \"%s\"", optarg);
			fe.sample = (unsigned int)v;
		} else {
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (!front_ends && (fe.postfix_dir != NULL ||
			    fe.dovecot_conf != NULL))
		front_ends = true;
	printf("config:    %s: ok\n", config_path);
	id_problems = check_identities(cfg);
	if (ldapdir_ping(cfg, &error) < 0) {
		printf("directory: %s\n", error);
		printf("           -> %s; Dovecot and Postfix keep using the "
		       "replica meanwhile\n", check_directory_hint(cfg, error));
		fprintf(stderr, "%s: directory unavailable: %s\n", progname,
			error);
		status = EXIT_UNAVAILABLE;
	} else {
		printf("directory: %s: bind ok\n", cfg->ldap_uri);
	}
	/* Before the replica: most of it does not need one. */
	if (front_ends)
		fe_problems = check_front_ends(cfg, &fe);
	if (replica_open(cfg->replica, &rep, &error) < 0) {
		printf("replica:   %s\n", error);
		printf("           -> %s\n", check_replica_hint(error));
		fprintf(stderr, "%s: %s\n", progname, error);
		return EXIT_UNAVAILABLE;
	}
	if (replica_info(rep, &info, &error) < 0) {
		printf("replica:   %s\n", error);
		printf("           -> %s\n", check_replica_hint(error));
		fprintf(stderr, "%s: %s\n", progname, error);
		replica_close(&rep);
		return EXIT_UNAVAILABLE;
	}
	printf("replica:   %s: synced from %s at %s (%lld s ago)\n",
	       cfg->replica, info.source,
	       format_time(info.last_success, b, sizeof(b)),
	       (long long)(time(NULL) - info.last_success));
	printf("counts:    %lu companies, %lu domains, %lu users, "
	       "%lu mailboxes, %lu addresses, %lu groups, %lu shares, "
	       "%lu grants, %lu skipped\n", info.counts.companies,
	       info.counts.domains, info.counts.users, info.counts.mailboxes,
	       info.counts.addresses, info.counts.groups, info.counts.shares,
	       info.counts.grants, info.counts.skipped);
	check_sync_line(cfg, &info);
	if (cfg->replica_max_age != 0 &&
	    info.current_at - time(NULL) > POLICY_CLOCK_SKEW_MAX) {
		printf("replica:   its last sync lies %lld s in the future:"
		       " the policy daemon defers mail until the clock or"
		       " the replica is right\n",
		       (long long)(info.current_at - time(NULL)));
		status = EXIT_UNAVAILABLE;
	} else if (cfg->replica_max_age != 0 &&
	    time(NULL) - info.current_at > (time_t)cfg->replica_max_age) {
		printf("replica:   older than replica_max_age (%u s): the "
		       "policy daemon defers mail until the next sync\n"
		       "           -> start mailgrants sync --follow "
		       "(mailgrants-sync.service) or run mailgrants sync "
		       "--once\n", cfg->replica_max_age);
		status = EXIT_UNAVAILABLE;
	}
	replica_close(&rep);
	if (status == EXIT_ANSWERED && id_problems > 0) {
		fprintf(stderr, "%s: %u identity or permission problem%s "
			"(\"identity: WARNING\" above)\n", progname,
			id_problems, id_problems == 1 ? "" : "s");
		status = EXIT_USAGE;
	}
	/* Said also when the replica or the directory failed: the front
	   ends' problems are another matter. */
	if (fe_problems > 0) {
		fprintf(stderr, "%s: %u front-end problem%s (\"WARNING\" "
			"above)\n", progname, fe_problems,
			fe_problems == 1 ? "" : "s");
		if (status == EXIT_ANSWERED)
			status = EXIT_USAGE;
	}
	return status;
}

/* cmd_access - the mailboxes a login sees now */
static int cmd_access(const struct config *cfg, int argc, char **argv)
{
	return cmd_list(cfg, argc, argv, false);
}

/* cmd_who - the logins that see a mailbox now */
static int cmd_who(const struct config *cfg, int argc, char **argv)
{
	return cmd_list(cfg, argc, argv, true);
}

/* cmd_setup_dir - setup-directory, which reads no configuration */
static int cmd_setup_dir(const struct config *cfg, int argc, char **argv)
{
	(void)cfg;
	return cmd_setup_directory(argc, argv);
}

/* The commands, looked up once: name, what runs it, its --help. */
static const struct command {
	const char *name;
	int (*run)(const struct config *cfg, int argc, char **argv);
	void (*print_usage)(FILE *fp);
} commands[] = {
	{ "sync", cmd_sync, print_usage },
	{ "explain", cmd_explain, print_usage },
	{ "access", cmd_access, print_usage },
	{ "who", cmd_who, print_usage },
	{ "identities", cmd_identities, print_usage },
	{ "check", cmd_check, print_usage },
	{ "share", cmd_share, share_print_usage },
	{ "unshare", cmd_unshare, share_print_usage },
	{ "share-service", cmd_share_service, share_service_print_usage },
	{ "audit", cmd_audit, trail_print_usage },
	{ "setup-directory", cmd_setup_dir, setup_dir_print_usage },
};

/* command_find - the table entry of a command name, or NULL */
static const struct command *command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct command *cmd;
	struct config *cfg;
	const char *error;
	int c, status;

	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};

	while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		if (c == 'c') {
			config_path = optarg;
		} else if (c == 'h') {
			print_usage(stdout);
			return EXIT_ANSWERED;
		} else {
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || (cmd = command_find(argv[0])) == NULL)
		usage();
	/* Before the configuration: help needs none. */
	if (wants_help(argc, argv)) {
		cmd->print_usage(stdout);
		return EXIT_ANSWERED;
	}
	/* setup-directory runs before there is a configuration. */
	if (cmd->run == cmd_setup_dir)
		return cmd->run(NULL, argc, argv);
	if (config_read(config_path, &cfg, &error) < 0)
		fail(EXIT_USAGE, "%s (see mailgrants.conf(5)%s)", error,
		     access(config_path, F_OK) < 0 ?
		     "; another file with -c FILE" : "");
	status = cmd->run(cfg, argc, argv);
	config_free(&cfg);
	return status;
}
