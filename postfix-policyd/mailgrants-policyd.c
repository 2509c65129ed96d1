/*
 * NAME
 *	mailgrants-policyd - may this login send as this sender? (Postfix)
 * DESCRIPTION
 *	A Postfix SMTP access policy delegation server for
 *	check_policy_service on the submission services: from the SASL
 *	login and the envelope sender of each request it answers DUNNO,
 *	REJECT or DEFER_IF_PERMIT, by the grants in the mailgrants replica
 *	(policy_decide(), the rights function). The same process serves
 *	Postfix socketmap lookups for delivery. This file is main(): the
 *	options and the start; server.c serves the requests.
 *
 *	The manual page, doc/mailgrants-policyd.8, is the one description
 *	of the options, the decisions, the replica handling, bad input and
 *	the log lines; change it with the behaviour.
 * SEE ALSO
 *	mailgrants-policyd(8), mailgrants.conf(5), server.c
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
