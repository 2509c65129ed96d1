#ifndef MAILGRANTS_REPLICA_INDEX_H
#define MAILGRANTS_REPLICA_INDEX_H

/*
 * NAME
 *	replica-index - the replica's decision tables in memory
 * SYNOPSIS
 *	#include "replica-index.h"
 *
 *	int replica_index_build(const char *path,
 *				struct replica_index **ix_r,
 *				char *error, size_t error_size);
 *	void replica_index_free(struct replica_index **ixp);
 *	const char *replica_index_generation(const struct replica_index *ix);
 *	size_t replica_index_bytes(const struct replica_index *ix);
 *	void replica_index_prefetch(const struct replica_index *ix,
 *				    const char *const *logins,
 *				    const char *const *addresses, size_t n);
 *
 *	void replica_set_index(struct replica *rep,
 *			       const struct replica_index *ix);
 *	bool replica_index_in_use(struct replica *rep);
 *	bool replica_index_trusted(struct replica *rep);
 * DESCRIPTION
 *	What rights_decide() reads of a replica (users by login,
 *	mailboxes by address, local domains, group members, the shares
 *	of a mailbox naming a user), copied into the heap in one read
 *	transaction of the file, for a daemon that decides many times a
 *	second: a lookup here is a hash probe or a binary search where
 *	SQLite descends B-trees and copies pages. It is a copy, not a
 *	second set of rules: rights_decide() asks the same questions of
 *	either source (rights.c) and decides the same way.
 *
 *	replica_index_build() opens the file read-only with its own
 *	connection, so it may run in a thread of its own while another
 *	connection answers; it is reentrant. The copy is tagged with the
 *	replica's generation (meta "generation", a random value every
 *	committing sync writes); a replica without one (written by an
 *	older sync) cannot be indexed, an error. 0, or -1 with the reason
 *	in error.
 *
 *	replica_set_index() lends the index to an open replica (NULL
 *	takes it back). At the start of each outermost read transaction
 *	the replica compares the generation it reads with the index's;
 *	only when they are equal do the decisions of that transaction read
 *	the index (replica_index_in_use()). Any commit of a sync, and any
 *	replacement of the file, changes the generation: a stale index
 *	is never read, the decisions go back to the file until the
 *	caller has built a new one.
 *
 *	Reading the generation is a read transaction of the file. To
 *	spare it, a replica with an index lent watches the file, its WAL
 *	and their directory with inotify(7), armed (and emptied) before
 *	each read that compares the generation. While nothing was heard
 *	since a read found the index current, the next outermost read
 *	uses the index without a transaction of the file
 *	(replica_index_trusted()): a sync's commit writes the WAL, and is
 *	heard before its write returns, so the first read after it
 *	compares again. Any event, an overflow, or a watch that cannot be
 *	set (inotify limits, the directory not readable) means a check;
 *	without a watch every read checks.
 *
 *	The index is memory of its own, never a mapping of the file: a
 *	replica truncated or replaced under a reader cannot crash it.
 *
 *	replica_index_bytes() is the heap the index holds, for the log.
 *
 *	replica_index_prefetch() is a hint for a caller that is about to
 *	decide n (login, address) pairs: it asks the CPU to fetch the
 *	slots and records those decisions will read, for all pairs side
 *	by side, so that each decision waits on a cache miss less often.
 *	It reads no answer and changes nothing; a pair whose text is not
 *	its normal form is only fetched in vain.
 * SEE ALSO
 *	replica.h, rights.c, postfix-policyd/service.c (the builder thread)
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "replica.h"

struct replica_index;

int replica_index_build(const char *path, struct replica_index **ix_r,
			char *error, size_t error_size);
void replica_index_free(struct replica_index **ixp);
const char *replica_index_generation(const struct replica_index *ix);
size_t replica_index_bytes(const struct replica_index *ix);

void replica_set_index(struct replica *rep, const struct replica_index *ix);
bool replica_index_in_use(struct replica *rep);
bool replica_index_trusted(struct replica *rep);

/* For rights.c: the rows of the tables as the SQL statements return
   them (NULL integers as 0, NULL texts as ""). */
struct replica_index_user {
	int64_t id, company_id;
	bool employee;
};

struct replica_index_mailbox {
	int64_t id, company_id, owner_id, group_id;
	int kind;
	int sent_copies;		/* -1: NULL (the site default) */
	const char *address, *dn, *rights;
};

struct replica_index_share {
	uint32_t dn_off;		/* prefix, or the whole DN */
	uint32_t rights_off;
	uint32_t mailbox;		/* its record; UINT32_MAX: whole DN */
	bool on_behalf;
	time_t not_before, not_after;
};

const struct replica_index *replica_index_active(struct replica *rep);
void replica_index_prefetch(const struct replica_index *ix,
			    const char *const *logins,
			    const char *const *addresses, size_t n);
int replica_index_user(const struct replica_index *ix, const char *login,
		       struct replica_index_user *u_r);
int replica_index_mailbox(const struct replica_index *ix,
			  const char *address,
			  struct replica_index_mailbox *m_r);
int replica_index_domain(const struct replica_index *ix, const char *domain);
int replica_index_in_group(const struct replica_index *ix, int64_t group_id,
			   int64_t user_id);
bool replica_index_sent_copies_default(const struct replica_index *ix);
bool replica_index_cross_company(const struct replica_index *ix);
size_t replica_index_shares(const struct replica_index *ix,
			    int64_t mailbox_id, int64_t user_id,
			    size_t *first_r);
const struct replica_index_share *
replica_index_share_at(const struct replica_index *ix, size_t grant);
void replica_index_share_dn(const struct replica_index *ix,
			    const struct replica_index_share *s, char *out,
			    size_t size);
const char *replica_index_share_rights(const struct replica_index *ix,
				       const struct replica_index_share *s);

#endif
