#ifndef MAILGRANTS_REPLICA_QUEUE_H
#define MAILGRANTS_REPLICA_QUEUE_H

/*
 * NAME
 *	replica-queue - stage the replica in a thread of its own
 * SYNOPSIS
 *	#include "replica-queue.h"
 *
 *	struct replica_queue *replica_queue_start(replica_queue_fn *stage,
 *						  void *context,
 *						  const char **error_r);
 *	int replica_queue_put(struct replica_queue *q,
 *			      enum writer_stage kind, const void *entry);
 *	void replica_queue_stop(struct replica_queue **qp, bool drop);
 * DESCRIPTION
 *	Not an interface for front ends: the replica writer
 *	(replica-write.c) uses it for replica_writer_async().
 *
 *	replica_queue_start() starts a thread that calls
 *	stage(context, kind, entry) for each entry put, in order.
 *	replica_queue_put() copies the entry (a struct replica_company,
 *	_group, _user, _mailbox or _share as kind says) with its strings
 *	and returns at once, or waits while REPLICA_QUEUE_MAX entries are
 *	waiting. Once stage() has returned -1 (the replica failed), the
 *	entries that follow are only taken off. replica_queue_stop()
 *	stages what waits (or with drop, throws it away), ends the thread,
 *	frees the queue and sets *qp to NULL; NULL is fine.
 *
 *	stage() runs in the queue's thread: whatever it shares with the
 *	caller's thread (the warning callback) needs its own lock.
 * DIAGNOSTICS
 *	replica_queue_start() returns NULL, with error_r, when the thread
 *	cannot be started. replica_queue_put() returns 0, or -1 once
 *	stage() has returned -1.
 * SEE ALSO
 *	replica.h, replica-write.c
 */

#include <stdbool.h>

/* The kinds of entry, in the staging order of replica.h. */
enum writer_stage {
	STAGE_NONE,
	STAGE_COMPANY,
	STAGE_GROUP,
	STAGE_USER,
	STAGE_MAILBOX,
	STAGE_SHARE,
};

typedef int replica_queue_fn(void *context, enum writer_stage kind,
			     const void *entry);

struct replica_queue;

struct replica_queue *replica_queue_start(replica_queue_fn *stage,
					  void *context,
					  const char **error_r);
int replica_queue_put(struct replica_queue *q, enum writer_stage kind,
		      const void *entry);
void replica_queue_stop(struct replica_queue **qp, bool drop);

#endif
