/*
 * NAME
 *	mailgrants-policyd - may this login send as this sender? (Postfix)
 * SYNOPSIS
 *	mailgrants-policyd [-c FILE] --listen [socketmap:]unix:PATH|inet:HOST:PORT ...
 *		[--user NAME] [--foreground] [--timeout SECS]
 *		[--idle-timeout SECS] [--max-connections N]
 *	mailgrants-policyd [-c FILE] --stdio [--user NAME]
 * DESCRIPTION
 *	A Postfix SMTP access policy delegation server (Postfix's
 *	SMTPD_POLICY_README) for check_policy_service in the
 *	smtpd_sender_restrictions of the submission service. For each
 *	request it decides, from the SASL login (sasl_username) and the
 *	envelope sender (sender), whether the login may send as that
 *	address, by the grants in the mailgrants replica:
 *
 *	DUNNO for the login's own private mailboxes and the company
 *	mailboxes of its company; REJECT 5.7.1 for a mailbox merely
 *	shared with the login (read only), for any other local address
 *	and for a foreign domain (configurable); DUNNO for the null
 *	sender (configurable); REJECT 5.7.1 for a local sender without
 *	login (configurable), DUNNO for a foreign one; DEFER_IF_PERMIT
 *	4.7.1 for a login the replica does not know; DEFER_IF_PERMIT
 *	4.3.0 while the replica is missing, unreadable, of another
 *	version or older than replica_max_age.
 *
 *	Many clients, persistent connections, replies in request order.
 *	The replica is checked at most once a second and reopened when
 *	"mailgrants sync" replaced it; while it is unavailable the daemon
 *	keeps answering DEFER_IF_PERMIT and retries.
 *
 *	With --listen the daemon opens its sockets, then drops privileges
 *	to --user and serves until SIGTERM; without --foreground it
 *	detaches first. With --stdio it serves the one client on standard
 *	input and output, as Postfix spawn(8) runs it, and exits when the
 *	client disconnects (standard error is the client too, so it logs
 *	to syslog; do not add --foreground there).
 *
 *	A listener named "socketmap:unix:PATH" (or socketmap:inet:...)
 *	serves Postfix socketmap(5) lookups instead of policy requests:
 *	the maps "mailbox" (virtual_mailbox_maps: company and extra
 *	private mailboxes, by any of their addresses) and "alias"
 *	(virtual_alias_maps: any other address or form of a mailbox to
 *	its primary address), from the same replica (README "Delivery").
 *	While the replica is unavailable they answer TEMP, and Postfix a
 *	temporary 4xx: a recipient is never bounced for want of it.
 *
 *	It never serves as root: started as root it needs --user, and it
 *	exits with an error without it.
 * OPTIONS
 *	-c FILE, --config FILE
 *		mailgrants.conf (default /etc/mailgrants/mailgrants.conf).
 *	--listen [socketmap:]unix:PATH | [socketmap:]inet:HOST:PORT
 *		a socket to serve (up to 8); a stale socket file is
 *		replaced; the socket is mode 0666, so the directory it is in
 *		decides who may connect.
 *	--stdio
 *		serve standard input and output instead.
 *	--user NAME
 *		after opening the sockets: setgid, initgroups, setuid to
 *		NAME, then open the replica as NAME (a reader: replica_group,
 *		never the sync's group). Required when started as root.
 *	--foreground
 *		do not detach, and log to standard error instead of syslog.
 *	--timeout SECS
 *		limit for a request to arrive once begun, and for a reply
 *		to be taken (default 30).
 *	--idle-timeout SECS
 *		close a connection idle between requests (default 600;
 *		Postfix closes its side after 300 s).
 *	--max-connections N
 *		stop accepting at N open connections (default 1000).
 * DIAGNOSTICS
 *	One line per decision, facility mail:
 *	"action=reject login=L sender=<S> client=A queue_id=Q
 *	reason=shared_read_only". Bad input, timeouts and replica trouble
 *	are logged as warnings; a connection with bad input is closed
 *	without a reply. SIGUSR1 logs the counters. Exit status 1 on a
 *	start-up error.
 * SEE ALSO
 *	mailgrants(1), mailgrants.conf(5), spawn(8), access(5)
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "msg.h"
#include "server.h"
#include "service.h"

#define POLICYD_NAME "mailgrants-policyd"
#define POLICYD_LISTEN_MAX 8

enum {
	OPT_STDIO = DAEMON_OPT_OWN,
	OPT_IDLE_TIMEOUT,
	OPT_MAX_CONNECTIONS,
};

static const struct option policyd_options[] = {
	DAEMON_OPTIONS,
	{ "stdio", no_argument, NULL, OPT_STDIO },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS },
	{ NULL, 0, NULL, 0 },
};

/* How to call it (--help, and a usage error). */
#define POLICYD_USAGE "usage: " POLICYD_NAME " [-c FILE] --listen " \
	"unix:PATH|inet:HOST:PORT... [--user NAME]\n" \
	"\t[--foreground] [--timeout SECS] [--idle-timeout SECS] " \
	"[--max-connections N]\n" \
	"       " POLICYD_NAME " [-c FILE] --stdio [--user NAME]\n"

/* policyd_listen_hint - what to do when a --listen socket fails */
static const char *policyd_listen_hint(const char *spec)
{
	if (strncmp(spec, "unix:", 5) == 0)
		return "its directory must exist and this user must be "
		       "allowed to create files there";
	if (strncmp(spec, "inet:", 5) == 0)
		return "the address must be local and the port free (ss "
		       "-ltnp shows who has it)";
	return "use unix:/path (e.g. unix:/var/spool/postfix/private/"
	       "mailgrants) or inet:host:port (e.g. inet:127.0.0.1:10031)";
}

/* main - options, sockets, privileges, replica, serve */
int main(int argc, char **argv)
{
	struct daemon_options opts = { .config_path = CONFIG_DEFAULT_PATH };
	const char *listen[POLICYD_LISTEN_MAX];
	unsigned int listen_count = 0, i;
	const char *error;
	bool stdio = false;
	struct server_settings set = {
		.timeout = 30,
		.idle_timeout = 600,
		.max_connections = 1000,
	};
	struct config *cfg;
	struct service *svc;
	struct server *srv;
	int opt, status;

	while ((opt = getopt_long(argc, argv, "c:h", policyd_options,
				  NULL)) != -1) {
		if (daemon_option(&opts, opt, optarg))
			continue;
		switch (opt) {
		case DAEMON_OPT_LISTEN:
			if (listen_count >= POLICYD_LISTEN_MAX) {
				fprintf(stderr, POLICYD_NAME ": at most %d "
					"--listen\n", POLICYD_LISTEN_MAX);
				return 1;
			}
			listen[listen_count++] = optarg;
			break;
		case OPT_STDIO:
			stdio = true;
			break;
		case DAEMON_OPT_TIMEOUT:
			set.timeout = daemon_number(POLICYD_NAME, "timeout",
						    optarg);
			break;
		case OPT_IDLE_TIMEOUT:
			set.idle_timeout = daemon_number(POLICYD_NAME,
							 "idle-timeout",
							 optarg);
			break;
		case OPT_MAX_CONNECTIONS:
			set.max_connections = daemon_number(POLICYD_NAME,
							    "max-connections",
							    optarg);
			break;
		case 'h':
		case DAEMON_OPT_HELP:
			daemon_usage(0, POLICYD_USAGE);
		default:
			daemon_usage(1, POLICYD_USAGE);
		}
	}
	if (optind != argc || (listen_count == 0) == !stdio)
		daemon_usage(1, POLICYD_USAGE);

	/* Under spawn(8), standard error is the SMTP server's socket. */
	msg_init(POLICYD_NAME, opts.foreground);
	if (daemon_config_read(opts.config_path, &cfg, &error) < 0)
		msg_fatal("%s", error);
	svc = service_create(cfg);
	service_hook(svc, &set);
	srv = server_create(&set);
	for (i = 0; i < listen_count; i++)
		if (server_listen(srv, listen[i], &error) < 0) {
			/* Most errors begin with the socket's name. */
			if (strncmp(error, listen[i], strlen(listen[i])) == 0)
				msg_fatal("--listen %s; %s", error,
					  policyd_listen_hint(listen[i]));
			msg_fatal("--listen %s: %s; %s", listen[i], error,
				  policyd_listen_hint(listen[i]));
		}
	/* One place, one order for both daemons (lib-postfix/daemon.c). */
	if (daemon_drop_privileges(opts.user, &error) < 0)
		msg_fatal("%s", error);
	/* Opened as the reader, not as root: root would hold -wal and
	   -shm open for writing for the rest of the run, and a replica
	   that --user cannot read would pass unnoticed until the next
	   sync replaced it. */
	service_replica_check(svc, true);
	if (daemon_reads_secret(cfg->ldap_bind_password_file, &error) > 0)
		msg_warn("%s", error);
	if (!stdio && !opts.foreground && daemon(0, 0) < 0)
		msg_fatal("daemon: %m");

	if (stdio) {
		status = server_run_stdio(srv, STDIN_FILENO, STDOUT_FILENO);
	} else {
		msg_info("ready: replica %s, %u listener%s", cfg->replica,
			 listen_count, listen_count == 1 ? "" : "s");
		status = server_run(srv);
	}
	server_free(&srv);
	service_free(&svc);
	config_free(&cfg);
	return status;
}
