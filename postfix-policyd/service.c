/*
 * NAME
 *	service - what mailgrants-policyd answers: decisions and lookups
 * DESCRIPTION
 *	Everything of the daemon that knows the policy: the decision, its
 *	log line, the counters, the protocol-state check, the socketmap
 *	tables and the replica they read. The event loop (server.c)
 *	only frames requests and replies.
 * SEE ALSO
 *	service.h, server.h, policy.h, recipient.h
 */

#include "service.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "addr.h"
#include "audit.h"
#include "msg.h"
#include "policy-proto.h"
#include "policy.h"
#include "recipient.h"
#include "replica-handle.h"
#include "replica-index.h"
#include "replica.h"
#include "text.h"
#include "xalloc.h"

struct service_counters {
	unsigned long requests, dunno, reject, defer;
	unsigned long errors, lookups, lookups_temp;
};

#define SERVICE_INDEX_RETRY 300	/* seconds after a failed build */
#define SERVICE_INDEX_FILE_CACHE_KIB 2048	/* ... of the file, beside */
#define SERVICE_PREPARE_MAX 64	/* requests told to the index at once */

/* The replica's index (replica-index.h), built by a thread of its own
   while the loop answers from the file. */
struct service_index {
	struct replica_index *current;	/* lent to the replica, or NULL */
	pthread_t thread;
	bool running;			/* started, not joined yet */
	atomic_bool done;		/* the thread has finished */
	struct replica_index *built;	/* its result, NULL: failed */
	char error[512];		/* ... why */
	struct timespec started;
	time_t failed_at;		/* last failed build, 0: none */
	char failed_generation[REPLICA_GENERATION_MAX];	/* ... of */
	char generation[REPLICA_GENERATION_MAX];	/* building */
	char *path;
};

struct service {
	const struct config *cfg;
	struct replica_handle *replica;	/* lib/replica-handle.c */
	bool batch;			/* a read transaction is open */
	struct service_counters count;
	struct service_index index;
};

/* service_create - the service, its replica not opened yet */
struct service *service_create(const struct config *cfg)
{
	struct service *svc = xcalloc(1, sizeof(*svc));

	svc->cfg = cfg;
	replica_handle_open(cfg->replica, cfg->replica_max_age,
			    &svc->replica);
	svc->index.path = xstrdup(cfg->replica);
	atomic_init(&svc->index.done, false);
	/* The index's arrays are megabytes each: from their own
	   mappings, given back to the system when an index is freed,
	   whatever thread or arena allocated them (glibc's threshold
	   would otherwise grow past them, and a rebuilt index stay
	   beside the old one's free memory). */
	if (cfg->replica_index)
		(void)mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	return svc;
}

/* service_index_thread - build the index (its own connection) */
static void *service_index_thread(void *context)
{
	struct service_index *si = context;

	(void)replica_index_build(si->path, &si->built, si->error,
				  sizeof(si->error));
	atomic_store(&si->done, true);
	return NULL;
}

/* service_index_collect - take a finished build's result */
static void service_index_collect(struct service *svc)
{
	struct service_index *si = &svc->index;
	struct timespec now;
	long long ms;

	if (!si->running || !atomic_load(&si->done))
		return;
	(void)pthread_join(si->thread, NULL);
	si->running = false;
	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - si->started.tv_sec) * 1000LL +
		(now.tv_nsec - si->started.tv_nsec) / 1000000;
	if (si->built == NULL) {
		si->failed_at = time(NULL);
		memcpy(si->failed_generation, si->generation,
		       sizeof(si->failed_generation));
		msg_warn("replica %s: %s; deciding from the file, trying "
			 "again after the next sync or in %d s", si->path,
			 si->error, SERVICE_INDEX_RETRY);
		return;
	}
	replica_index_free(&si->current);
	si->current = si->built;
	si->built = NULL;
	si->failed_at = 0;
	msg_info("replica %s: index of generation %s in memory (%.1f MiB, "
		 "built in %lld ms)", si->path,
		 replica_index_generation(si->current),
		 replica_index_bytes(si->current) / 1048576.0, ms);
}

/* service_index_start - build a new index of the replica at generation
   (as this pass reads it), unless one is being built, or a build of
   that generation failed a short while ago */
static void service_index_start(struct service *svc, const char *generation)
{
	struct service_index *si = &svc->index;
	time_t now = time(NULL);

	if (!svc->cfg->replica_index || si->running ||
	    (si->failed_at != 0 && now >= si->failed_at &&
	     now - si->failed_at < SERVICE_INDEX_RETRY &&
	     strcmp(generation, si->failed_generation) == 0))
		return;
	(void)text_copy(si->generation, sizeof(si->generation), generation);
	atomic_store(&si->done, false);
	si->built = NULL;
	si->error[0] = '\0';
	(void)clock_gettime(CLOCK_MONOTONIC, &si->started);
	if (pthread_create(&si->thread, NULL, service_index_thread, si) != 0) {
		si->failed_at = now;
		msg_warn("replica %s: cannot start the index thread: %m; "
			 "deciding from the file", si->path);
		return;
	}
	si->running = true;
}

/* service_index_lend - before a pass: take a finished build, lend it */
static void service_index_lend(struct service *svc, struct replica *rep)
{
	service_index_collect(svc);
	/* With an index the file answers only while one is built: a
	   small page cache, so that the heap stays near the index's. */
	if (svc->cfg->replica_index)
		replica_set_cache(rep, SERVICE_INDEX_FILE_CACHE_KIB);
	replica_set_index(rep, svc->index.current);
}

/* service_index_check - after BEGIN: is the index current? A stale one
   is dropped at once and a new one built. */
static void service_index_check(struct service *svc, struct replica *rep)
{
	struct service_index *si = &svc->index;

	if (si->current != NULL && !replica_index_in_use(rep)) {
		/* The file moved on (a sync committed, or it was
		   replaced): this pass reads the file. */
		replica_set_index(rep, NULL);
		replica_index_free(&si->current);
	}
	if (si->current == NULL && svc->cfg->replica_index) {
		struct replica_info info;
		const char *error;

		/* Unreadable: the decisions meet it; no build for now. */
		if (replica_info(rep, &info, &error) == 0)
			service_index_start(svc, info.generation);
	}
}

/* service_replica_check - open, re-attach, re-validate or retry */
void service_replica_check(struct service *svc, bool force)
{
	const char *error;

	(void)replica_handle_check(svc->replica, time(NULL), force, &error);
	msg_replica_news(svc->replica, "DEFER_IF_PERMIT");
}

/* service_rep - the replica for the decisions, or NULL */
static struct replica *service_rep(struct service *svc)
{
	return replica_handle_replica(svc->replica);
}

/* service_replica_failed - a query failed: drop the replica, retry later */
static void service_replica_failed(struct service *svc, const char *error)
{
	replica_handle_failed(svc->replica, error);
	msg_replica_news(svc->replica, "DEFER_IF_PERMIT");
}

/* service_state_wants_sender - can this protocol state carry a sender? */
static bool service_state_wants_sender(const char *state)
{
	static const char *const early[] = {
		"CONNECT", "EHLO", "HELO", "VRFY", "ETRN",
	};
	size_t i;

	if (state == NULL)
		return true;
	for (i = 0; i < sizeof(early) / sizeof(early[0]); i++)
		if (strcasecmp(state, early[i]) == 0)
			return false;
	return true;
}

/* service_audit - the decision's audit line (audit.h); the first
   fields before "action" keep the older lines' "action=... reason=..."
   as they were */
static void service_audit(const struct service *svc,
			  const struct policy_request *req,
			  const struct policy_decision *d, const char *reason)
{
	struct audit_line a;
	char sender[AUDIT_VALUE_MAX + 3];
	size_t n;

	/* "<%s>" as snprintf() cuts it, at every decision */
	sender[0] = '<';
	n = 1 + text_copy(sender + 1, sizeof(sender) - 1,
			  req->sender != NULL ? req->sender : "");
	if (n < sizeof(sender) - 1) {
		sender[n] = '>';
		sender[n + 1] = '\0';
	}
	audit_begin(&a, svc->cfg->log_format, "send", NULL);
	audit_add(&a, "dn", d->entry_dn);
	audit_add(&a, "action", policy_action_name(d->action));
	audit_add(&a, "login", req->sasl_username);
	audit_add(&a, "sender", sender);
	audit_add(&a, "client", req->client_address);
	audit_add(&a, "queue_id", req->queue_id);
	audit_add(&a, "reason", reason);
	msg_info_text(audit_end(&a));
}

/* service_answer - decide one complete request: the action, logged */
static int service_answer(void *context, const struct policy_request *req,
			  char *reply, size_t size)
{
	struct service *svc = context;
	struct policy_decision d;
	const char *reason;
	size_t n;

	svc->count.requests++;
	if (!service_state_wants_sender(req->protocol_state)) {
		/* Before MAIL FROM there is no sender to check; DUNNO here
		   would silently disable the check. */
		memset(&d, 0, sizeof(d));
		d.action = POLICY_ACTION_DEFER_IF_PERMIT;
		snprintf(d.reply, sizeof(d.reply), "DEFER_IF_PERMIT 4.3.5 "
			 "sender check misconfigured; please try again later");
		reason = "no_sender_in_this_state";
		msg_warn("request in protocol state %s has no sender: use "
			 "check_policy_service in smtpd_sender_restrictions "
			 "or later", req->protocol_state);
	} else {
		if (policy_decide(service_rep(svc), svc->cfg,
				  req->sasl_username, req->sender, time(NULL),
				  &d) < 0)
			service_replica_failed(svc, d.detail);
		reason = policy_reason_name(d.reason);
	}
	switch (d.action) {
	case POLICY_ACTION_DUNNO:
		svc->count.dunno++;
		break;
	case POLICY_ACTION_REJECT:
		svc->count.reject++;
		break;
	case POLICY_ACTION_DEFER_IF_PERMIT:
		svc->count.defer++;
		break;
	}
	service_audit(svc, req, &d, reason);
	n = text_copy(reply, size, d.reply);
	/* A reply cut short is refused by the caller: never half. */
	return d.reply[n] != '\0' ? (int)size : (int)n;
}

/* service_prepare - before a pass's requests are decided: have the
   index's lines they will read fetched, side by side */
static void service_prepare(void *context,
			    const struct policy_request *const *reqs,
			    size_t count)
{
	struct service *svc = context;
	const char *logins[SERVICE_PREPARE_MAX], *senders[SERVICE_PREPARE_MAX];
	const struct replica_index *ix;
	size_t i, n;

	if (!svc->batch || service_rep(svc) == NULL ||
	    (ix = replica_index_active(service_rep(svc))) == NULL)
		return;
	for (; count > 0; count -= n, reqs += n) {
		n = count < SERVICE_PREPARE_MAX ? count : SERVICE_PREPARE_MAX;
		for (i = 0; i < n; i++) {
			logins[i] = reqs[i]->sasl_username;
			senders[i] = reqs[i]->sender;
		}
		replica_index_prefetch(ix, logins, senders, n);
	}
}

/* service_lookup_key - the replica's answer for map "name", key "key" */
static int service_lookup_key(struct service *svc, const char *name,
			      const char *key, char *reply, size_t size)
{
	char value[ADDR_MAX], printable[ADDR_MAX];
	const char *error = NULL;
	enum recipient_map map;
	int n, found;
	bool failed = false;

	if (recipient_map_parse(name, &map) < 0) {
		found = -2;
	} else if (key[0] == '@' || strchr(key, '@') == NULL) {
		/* A domain (virtual_alias_domains defaults to
		   $virtual_alias_maps: trivial-rewrite asks with
		   "abc.com"), "@domain" or a bare local part is never a
		   replica key: no answer depends on the replica, so none
		   can be a temporary error that Postfix's resolver
		   caches. */
		found = 0;
	} else if (replica_handle_check(svc->replica, time(NULL), false,
					&error) != 1) {
		found = -1;
	} else {
		found = recipient_lookup(service_rep(svc), map, key,
					 svc->cfg->recipient_delimiter, value,
					 sizeof(value), &error);
		/* The text lives in the replica: drop it only after it
		   was logged below. */
		failed = found < 0;
	}
	if (found == -2)
		n = snprintf(reply, size, "PERM unknown map (mailbox or "
			     "alias)");
	else if (found < 0)
		/* Postfix answers 451 4.3.0 and the client retries: a
		   recipient is never refused for want of a replica. */
		n = snprintf(reply, size, "TEMP replica unavailable");
	else if (found > 0)
		n = snprintf(reply, size, "OK %s", value);
	else
		n = snprintf(reply, size, "NOTFOUND ");
	policy_printable(key, printable, sizeof(printable));
	if (found == -2) {
		svc->count.errors++;
		msg_warn("lookup %.15s <%s>: unknown map; answering PERM",
			 name, printable);
	} else if (found < 0) {
		svc->count.lookups_temp++;
		msg_warn("lookup %s <%s>: %s; answering TEMP", name,
			 printable, error != NULL ? error :
			 "replica unavailable");
	}
	if (failed)
		service_replica_failed(svc, error);
	return n;
}

/* service_lookup - answer one socketmap request "NAME KEY" */
static int service_lookup(void *context, const char *query, size_t len,
			  char *reply, size_t size)
{
	struct service *svc = context;
	char name[16], key[ADDR_MAX + 1];
	const char *space = memchr(query, ' ', len);
	size_t name_len = space != NULL ? (size_t)(space - query) : 0;
	size_t key_len = space != NULL ? len - name_len - 1 : 0;

	svc->count.lookups++;
	if (space == NULL || name_len >= sizeof(name) ||
	    memchr(query, '\0', len) != NULL)
		return snprintf(reply, size, "PERM bad request");
	/* Longer than any address the replica holds. */
	if (key_len >= sizeof(key))
		return snprintf(reply, size, "NOTFOUND ");
	memcpy(name, query, name_len);
	name[name_len] = '\0';
	memcpy(key, space + 1, key_len);
	key[key_len] = '\0';
	return service_lookup_key(svc, name, key, reply, size);
}

/* service_log_counters - the SIGUSR1 report */
static void service_log_counters(struct service *svc,
				 const struct server_stats *st)
{
	const struct service_counters *k = &svc->count;

	msg_info("statistics: requests=%lu dunno=%lu reject=%lu "
		 "defer_if_permit=%lu errors=%lu timeouts=%lu "
		 "connections=%lu active=%u replica=%s lookups=%lu"
		 " lookups_temp=%lu",
		 k->requests, k->dunno, k->reject, k->defer,
		 st->errors + k->errors, st->timeouts, st->connections,
		 st->active, service_rep(svc) != NULL ? "open" : "unavailable",
		 k->lookups, k->lookups_temp);
}

/* service_event - what the loop tells the service between requests */
static void service_event(void *context, enum server_event event,
			  const struct server_stats *stats)
{
	struct service *svc = context;
	const char *error;

	switch (event) {
	case SERVER_EVENT_PASS_BEGIN:
		msg_batch_begin();
		if (service_rep(svc) != NULL)
			service_index_lend(svc, service_rep(svc));
		/* Every request this pass reads is decided in one read
		   transaction: one view of the replica, the locking paid
		   once. A failure here is left to the decisions to meet. */
		svc->batch = service_rep(svc) != NULL &&
			replica_read_begin(service_rep(svc), &error) == 0;
		if (svc->batch)
			service_index_check(svc, service_rep(svc));
		break;
	case SERVER_EVENT_PASS_END:
		/* A failed decision may have closed the replica meanwhile. */
		if (svc->batch && service_rep(svc) != NULL &&
		    replica_read_end(service_rep(svc), &error) < 0)
			service_replica_failed(svc, error);
		svc->batch = false;
		msg_batch_end();
		break;
	case SERVER_EVENT_TICK:
	case SERVER_EVENT_RELOAD:	/* SIGHUP: check now */
		service_replica_check(svc, event == SERVER_EVENT_RELOAD);
		break;
	case SERVER_EVENT_REPORT:
		service_log_counters(svc, stats);
		break;
	}
}

/* service_hook - hand the service to the event loop */
void service_hook(struct service *svc, struct server_settings *set)
{
	set->context = svc;
	set->answer = service_answer;
	set->lookup = service_lookup;
	set->event = service_event;
	set->prepare = service_prepare;
}

/* service_free - close the replica */
void service_free(struct service **svcp)
{
	struct service *svc = *svcp;

	if (svc == NULL)
		return;
	*svcp = NULL;
	replica_handle_close(&svc->replica);
	if (svc->index.running) {
		(void)pthread_join(svc->index.thread, NULL);
		replica_index_free(&svc->index.built);
	}
	replica_index_free(&svc->index.current);
	free(svc->index.path);
	free(svc);
}
