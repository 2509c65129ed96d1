/*
 * NAME
 *	replica-queue - stage the replica in a thread of its own
 * DESCRIPTION
 *	The directory source (LDAP decoding, DN normalisation) and SQLite
 *	each keep a core busy. Entries are copied whole into one
 *	allocation each and handed over in order through a bounded queue,
 *	so memory stays flat. A full sync of the 100,000-user benchmark
 *	directory (tests/bench/bench-sync.py) took a median 16.7 s with
 *	the thread and 18.2 s inline over 16 runs side by side, on a
 *	loaded 2-core machine; the thread was faster in 10 of the 16
 *	(the figures are in the commits that made and kept this file).
 * SEE ALSO
 *	replica-queue.h, replica-write.c, replica.h
 */

#include "replica-queue.h"
#include "replica.h"
#include "xalloc.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define REPLICA_QUEUE_MAX 4096	/* entries waiting */

struct stage_item {
	struct stage_item *next;
	enum writer_stage kind;
	union {
		struct replica_company company;
		struct replica_group group;
		struct replica_user user;
		struct replica_mailbox mailbox;
		struct replica_share share;
	} u;
	/* pointer arrays, then strings, follow */
};

struct replica_queue {
	replica_queue_fn *stage;
	void *context;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t nonempty, nonfull;
	struct stage_item *head, *tail;
	size_t count;
	bool closing, dropping;
	bool failed;			/* stage() returned -1 */
};

struct stage_pack {
	size_t slots, bytes;		/* sizing pass */
	const char **slot;		/* filling pass */
	char *byte;
};

/* pack_str - size or copy one string */
static const char *pack_str(struct stage_pack *p, const char *s)
{
	size_t len;

	if (s == NULL)
		return NULL;
	len = strlen(s) + 1;
	if (p->byte == NULL) {
		p->bytes += len;
		return NULL;
	}
	memcpy(p->byte, s, len);
	p->byte += len;
	return p->byte - len;
}

/* pack_arr - size or copy a NULL-terminated array of strings */
static const char *const *pack_arr(struct stage_pack *p,
				   const char *const *a)
{
	size_t n = 0;
	const char **out;

	if (a == NULL)
		return NULL;
	while (a[n] != NULL)
		n++;
	if (p->byte == NULL) {
		p->slots += n + 1;
		for (size_t i = 0; i < n; i++)
			pack_str(p, a[i]);
		return NULL;
	}
	out = p->slot;
	p->slot += n + 1;
	for (size_t i = 0; i < n; i++)
		out[i] = pack_str(p, a[i]);
	out[n] = NULL;
	return out;
}

/* pack_item - the deep copy; pass 1 sizes (item NULL), pass 2 fills */
static void pack_item(struct stage_pack *p, struct stage_item *it,
		      enum writer_stage kind, const void *entry)
{
	struct stage_item dummy;

	if (it == NULL)
		it = &dummy;
	switch (kind) {
	case STAGE_COMPANY: {
		const struct replica_company *c = entry;

		it->u.company.dn = pack_str(p, c->dn);
		it->u.company.domains = pack_arr(p, c->domains);
		it->u.company.group_dn = pack_str(p, c->group_dn);
		break;
	}
	case STAGE_GROUP: {
		const struct replica_group *g = entry;

		it->u.group.dn = pack_str(p, g->dn);
		it->u.group.member_dns = pack_arr(p, g->member_dns);
		break;
	}
	case STAGE_USER: {
		const struct replica_user *u = entry;

		it->u.user.dn = pack_str(p, u->dn);
		it->u.user.login = pack_str(p, u->login);
		it->u.user.addresses = pack_arr(p, u->addresses);
		break;
	}
	case STAGE_MAILBOX: {
		const struct replica_mailbox *m = entry;

		it->u.mailbox.dn = pack_str(p, m->dn);
		it->u.mailbox.kind = m->kind;
		it->u.mailbox.addresses = pack_arr(p, m->addresses);
		it->u.mailbox.owner_dn = pack_str(p, m->owner_dn);
		it->u.mailbox.group_dn = pack_str(p, m->group_dn);
		it->u.mailbox.rights = pack_str(p, m->rights);
		it->u.mailbox.sent_copies = m->sent_copies;
		break;
	}
	case STAGE_SHARE: {
		const struct replica_share *sh = entry;

		it->u.share.dn = pack_str(p, sh->dn);
		it->u.share.grantee_dns = pack_arr(p, sh->grantee_dns);
		it->u.share.rights = pack_str(p, sh->rights);
		it->u.share.not_before = sh->not_before;
		it->u.share.not_after = sh->not_after;
		it->u.share.description = pack_str(p, sh->description);
		it->u.share.on_behalf = sh->on_behalf;
		break;
	}
	case STAGE_NONE:
		break;
	}
}

/* queue_thread - take entries off the queue until it closes */
static void *queue_thread(void *arg)
{
	struct replica_queue *q = arg;

	for (;;) {
		struct stage_item *it;

		pthread_mutex_lock(&q->lock);
		while (q->head == NULL && !q->closing)
			pthread_cond_wait(&q->nonempty, &q->lock);
		it = q->head;
		if (it == NULL || q->dropping) {
			pthread_mutex_unlock(&q->lock);
			break;
		}
		q->head = it->next;
		if (q->head == NULL)
			q->tail = NULL;
		q->count--;
		pthread_cond_signal(&q->nonfull);
		pthread_mutex_unlock(&q->lock);
		/* Skips are warned by stage(); after a failure of the
		   replica, the entries are only taken off. */
		if (!q->failed && q->stage(q->context, it->kind, &it->u) < 0) {
			pthread_mutex_lock(&q->lock);
			q->failed = true;
			pthread_mutex_unlock(&q->lock);
		}
		free(it);
	}
	return NULL;
}

/* replica_queue_put - copy an entry and hand it to the staging thread */
int replica_queue_put(struct replica_queue *q, enum writer_stage kind,
		      const void *entry)
{
	struct stage_pack p = { 0, 0, NULL, NULL };
	struct stage_item *it;
	bool failed;

	pack_item(&p, NULL, kind, entry);
	it = xmalloc(sizeof(*it) + p.slots * sizeof(char *) + p.bytes);
	it->next = NULL;
	it->kind = kind;
	p.slot = (const char **)(void *)(it + 1);
	p.byte = (char *)(p.slot + p.slots);
	pack_item(&p, it, kind, entry);

	pthread_mutex_lock(&q->lock);
	while (q->count >= REPLICA_QUEUE_MAX)
		pthread_cond_wait(&q->nonfull, &q->lock);
	if (q->tail != NULL)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->count++;
	failed = q->failed;
	pthread_cond_signal(&q->nonempty);
	pthread_mutex_unlock(&q->lock);
	/* Skips are warned by the thread; only a failed replica stops. */
	return failed ? -1 : 0;
}

/* replica_queue_stop - drain (or drop) the queue and end the thread */
void replica_queue_stop(struct replica_queue **qp, bool drop)
{
	struct replica_queue *q = *qp;

	if (q == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	q->closing = true;
	q->dropping = drop;
	pthread_cond_signal(&q->nonempty);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	while (q->head != NULL) {
		struct stage_item *it = q->head;

		q->head = it->next;
		free(it);
	}
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->nonempty);
	pthread_cond_destroy(&q->nonfull);
	free(q);
	*qp = NULL;
}

/* replica_queue_start - a queue and its thread, which stages each entry
   through stage(context, kind, entry) */
struct replica_queue *replica_queue_start(replica_queue_fn *stage,
					  void *context,
					  const char **error_r)
{
	struct replica_queue *q = xcalloc(1, sizeof(*q));

	q->stage = stage;
	q->context = context;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->nonempty, NULL);
	pthread_cond_init(&q->nonfull, NULL);
	if (pthread_create(&q->thread, NULL, queue_thread, q) != 0) {
		pthread_mutex_destroy(&q->lock);
		pthread_cond_destroy(&q->nonempty);
		pthread_cond_destroy(&q->nonfull);
		free(q);
		*error_r = "cannot start the staging thread";
		return NULL;
	}
	return q;
}
