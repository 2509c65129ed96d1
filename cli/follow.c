/*
 * NAME
 *	follow - mailgrants sync --follow: keep the replica current
 * DESCRIPTION
 *	A full sync, then a refreshAndPersist content synchronisation
 *	(RFC 4533) that tells when anything the sync reads changes. Each
 *	change (changes that arrive together are taken together, after
 *	SETTLE_MS of quiet, at most SETTLE_MAX_MS late) leads to a full
 *	sync in one transaction, so the replica never holds a change
 *	applied by halves; the sync's cookie is stored with the data it
 *	belongs to. After a disconnection the watch resumes from the
 *	stored cookie: the server reports whether anything changed in
 *	between, and a refused cookie means a full refresh. Without
 *	syncprov the directory is read every poll_interval seconds.
 *	Errors are logged and retried with a backoff of 1 s doubling to
 *	60 s; the replica keeps serving meanwhile.
 *
 *	Liveness, in both modes: a persistent search is silent while
 *	nothing changes, and a TCP connection stays open to a server
 *	that is stopped or hangs, so silence proves nothing. Every
 *	FOLLOW_HEARTBEAT_S the follower sends a probe (a base-scope
 *	search of ldap_base) and each answer is a heartbeat in the
 *	replica, so that readers (replica_max_age, mailgrants check)
 *	know it is followed. A probe not answered within
 *	FOLLOW_PROBE_TIMEOUT_S, a lost connection or a failed read marks
 *	the replica not live (sync_mode empty; the heartbeat stays: the
 *	last time the directory answered), and the follower connects
 *	again with the backoff. In poll mode the probes run between the
 *	reads, on a connection of their own.
 *
 *	A heartbeat that cannot be written (the file truncated or
 *	overwritten in place, of another version, ...) leads to a full
 *	sync at once, which builds a new file and renames it into place
 *	(replica_writer_open): the same error is never just logged again
 *	every FOLLOW_HEARTBEAT_S while readers fail closed.
 *
 *	SIGTERM and SIGINT end the loop.
 */

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ldapwatch.h"
#include "sync.h"

#define SETTLE_MS 25
#define SETTLE_MAX_MS 1000
#define BACKOFF_MAX_S 60

static volatile sig_atomic_t follow_stop;

/* Whether the replica may say it is followed live: false once
   follow_not_live() said otherwise, until a heartbeat or a read. True
   at start, since a replica left by an earlier follower may claim it. */
static bool follow_live = true;

/* follow_signal - end the loop at the next wake-up */
static void follow_signal(int sig)
{
	(void)sig;
	follow_stop = 1;
}

/* follow_log - one line on stderr (the journal, under systemd) */
static void __attribute__((format(printf, 1, 2))) follow_log(const char *fmt,
							     ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vlog("sync", fmt, ap);
	va_end(ap);
}

/* follow_sleep - sleep, but wake up for a signal */
static void follow_sleep(unsigned int seconds)
{
	for (unsigned int i = 0; i < seconds * 10 && !follow_stop; i++)
		usleep(100 * 1000);
}

/* follow_sleep_ms - a short sleep (a signal ends it early) */
static void follow_sleep_ms(unsigned int ms)
{
	if (!follow_stop)
		usleep(ms * 1000);
}

/* follow_ms - a monotonic clock in milliseconds */
static long long follow_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* follow_heartbeat - the replica is current as of now; 0, or -1 when
   it needs a full sync */
static int follow_heartbeat(const struct config *cfg, const char *mode,
			    const char *cookie)
{
	const char *keys[] = { "heartbeat", "sync_mode", "sync_cookie", NULL };
	char now[32];
	const char *values[] = { now, mode, cookie, NULL };
	const char *error;

	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	if (replica_meta_write(cfg->replica, keys, values, &error) < 0) {
		follow_log("%s; rebuilding the replica with a full sync",
			   error);
		return -1;
	}
	return 0;
}

/* follow_not_live - tell readers the replica is not followed now */
static void follow_not_live(const struct config *cfg)
{
	/* The heartbeat stays as it is: the last time the directory
	   answered, which is what "mailgrants check" shows. */
	const char *keys[] = { "sync_mode", NULL };
	const char *values[] = { "", NULL };
	const char *error;

	if (!follow_live)
		return;
	follow_live = false;
	if (replica_meta_write(cfg->replica, keys, values, &error) < 0)
		follow_log("%s", error);
}

/* follow_saved_cookie - the cookie stored with the replica, or "" */
static void follow_saved_cookie(const struct config *cfg, char *out,
				size_t size)
{
	struct replica *rep;
	struct replica_info info;
	const char *error;

	out[0] = '\0';
	if (replica_open(cfg->replica, &rep, &error) < 0)
		return;
	if (replica_info(rep, &info, &error) == 0)
		snprintf(out, size, "%s", info.sync_cookie);
	replica_close(&rep);
}

/* follow_poll_mode - no syncprov: read everything now and then */
static int follow_poll_mode(const struct config *cfg, const char *password)
{
	struct ldapwatch *probe = NULL;
	long long next_read = 0, last_probe = 0;
	unsigned int backoff = 1;
	const char *error;

	follow_log("polling %s every %u s", cfg->ldap_uri,
		   cfg->poll_interval);
	while (!follow_stop) {
		long long now = follow_ms();

		if (now >= next_read) {
			if (sync_full(cfg, password, "poll", "", false,
				      &error) < 0) {
				follow_log("%s; the replica was not changed; "
					   "retrying in %u s", error, backoff);
				follow_not_live(cfg);
				ldapwatch_close(&probe);
				follow_sleep(backoff);
				backoff = backoff * 2 > BACKOFF_MAX_S ?
					BACKOFF_MAX_S : backoff * 2;
				continue;
			}
			follow_live = true;
			backoff = 1;
			now = last_probe = follow_ms();	/* the read answered */
			next_read = now + 1000LL * (cfg->poll_interval > 0 ?
						    cfg->poll_interval : 1);
		}
		/* Between two reads, the heartbeat: without it a healthy
		   follower would look dead for most of a long interval, and
		   a hung directory would look fine until the next read. */
		if (now - last_probe >= FOLLOW_HEARTBEAT_S * 1000) {
			if ((probe == NULL &&
			     ldapwatch_connect(cfg, password, &probe,
					       &error) < 0) ||
			    ldapwatch_probe(probe, FOLLOW_PROBE_TIMEOUT_S,
					    &error) < 0)
				goto lost;
			last_probe = now;
		}
		if (probe == NULL) {
			follow_sleep_ms(200);
			continue;
		}
		if (ldapwatch_poll(probe, 200, &error) < 0)
			goto lost;
		if (ldapwatch_answered(probe)) {
			if (follow_heartbeat(cfg, "poll", "") < 0) {
				/* The replica no longer validates: read the
				   directory into a new file now. */
				next_read = 0;
				continue;
			}
			follow_live = true;
		}
		continue;
lost:
		/* Read again at once: the read has its own timeouts, and
		   its failure the backoff. */
		follow_log("%s; reading the directory again", error);
		follow_not_live(cfg);
		ldapwatch_close(&probe);
		next_read = 0;
	}
	ldapwatch_close(&probe);
	return EXIT_ANSWERED;
}

/* follow_watch - one connection's life: refresh, then persist */
static int follow_watch(const struct config *cfg, const char *password,
			struct ldapwatch *w)
{
	long long last_probe = 0, first_change = 0, last_change = 0;
	bool pending = ldapwatch_changed(w);
	unsigned int backoff = 1;
	const char *error;

	if (!pending)
		follow_log("resumed at the stored cookie: no changes missed");
	while (!follow_stop) {
		long long now = follow_ms();

		if (pending && (now - last_change >= SETTLE_MS ||
				now - first_change >= SETTLE_MAX_MS)) {
			if (sync_full(cfg, password, "persist",
				      ldapwatch_cookie(w), false, &error) < 0) {
				follow_log("%s; the replica was not changed;"
					   " retrying in %u s", error, backoff);
				follow_not_live(cfg);
				follow_sleep(backoff);
				backoff = backoff * 2 > BACKOFF_MAX_S ?
					BACKOFF_MAX_S : backoff * 2;
				continue;
			}
			backoff = 1;
			pending = false;
			follow_live = true;
			follow_log("replica updated");
		}
		/* The heartbeat: the directory answers, nothing waits. */
		if (now - last_probe >= FOLLOW_HEARTBEAT_S * 1000) {
			if (ldapwatch_probe(w, FOLLOW_PROBE_TIMEOUT_S,
					    &error) < 0) {
				follow_log("%s", error);
				return -1;
			}
			last_probe = now;
		}
		if (ldapwatch_poll(w, pending ? 20 : 200, &error) < 0) {
			follow_log("%s", error);
			return -1;
		}
		if (ldapwatch_answered(w) && !pending) {
			if (follow_heartbeat(cfg, "persist",
					     ldapwatch_cookie(w)) < 0) {
				/* Now, not after SETTLE_MS of quiet. */
				now = follow_ms();
				pending = true;
				first_change = now - SETTLE_MAX_MS;
				last_change = now - SETTLE_MS;
				continue;
			}
			follow_live = true;
		}
		if (ldapwatch_changed(w)) {
			now = follow_ms();
			if (!pending)
				first_change = now;
			pending = true;
			last_change = now;
		}
	}
	return 0;
}

/* cmd_follow - sync --follow until a signal */
int cmd_follow(const struct config *cfg, const char *password)
{
	struct sigaction sa;
	unsigned int backoff = 1;
	char cookie[REPLICA_COOKIE_MAX];
	const char *error;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = follow_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	while (!follow_stop) {
		struct ldapwatch *w = NULL;
		int rc;

		follow_saved_cookie(cfg, cookie, sizeof(cookie));
		rc = ldapwatch_open(cfg, password, cookie, &w, &error);
		if (rc > 0) {
			follow_log("%s", error);
			return follow_poll_mode(cfg, password);
		}
		if (rc < 0) {
			follow_log("%s; retrying in %u s", error, backoff);
			follow_not_live(cfg);
			follow_sleep(backoff);
			backoff = backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S :
				backoff * 2;
			continue;
		}
		follow_log("following %s below %s", cfg->ldap_uri,
			   cfg->ldap_base);
		backoff = 1;
		rc = follow_watch(cfg, password, w);
		ldapwatch_close(&w);
		if (rc < 0 && !follow_stop) {
			/* The replica keeps serving; say it is not live. */
			follow_not_live(cfg);
			follow_sleep(1);
		}
	}
	follow_log("stopped");
	return EXIT_ANSWERED;
}
