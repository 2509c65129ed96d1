#ifndef MAILGRANTS_REPLICA_HANDLE_H
#define MAILGRANTS_REPLICA_HANDLE_H

/*
 * NAME
 *	replica-handle - keep a reader's replica open, current and valid
 * SYNOPSIS
 *	#include "replica-handle.h"
 *
 *	void replica_handle_open(const char *path, unsigned int max_age,
 *				 struct replica_handle **h_r);
 *	int replica_handle_check(struct replica_handle *h, time_t now,
 *				 bool force, const char **error_r);
 *	struct replica *replica_handle_replica(struct replica_handle *h);
 *	void replica_handle_failed(struct replica_handle *h,
 *				   const char *error);
 *	enum replica_handle_news replica_handle_news(struct replica_handle *h,
 *						     time_t now,
 *						     const char **text_r);
 *	void replica_handle_close(struct replica_handle **hp);
 * DESCRIPTION
 *	The one place where a reader (the policy daemon, the milter, the
 *	Dovecot plugin) keeps its replica: opened when first needed,
 *	re-attached when the file changed, re-validated, and judged by
 *	its age. The host only asks and logs.
 *
 *	replica_handle_open() never fails and does not touch the file.
 *	replica_handle_check() does the work at most once per second of
 *	"now" unless "force": a stat() of the path (through symbolic
 *	links); when the device, inode, size, modification or change
 *	time differ from the attached file's (a new sync renamed into
 *	place, a file truncated or overwritten in place), the replica is
 *	closed and opened again, which checks that it is a regular file,
 *	of our schema version, with a completed sync. Then the meta table
 *	is read (a read of the file itself, which an SQLite page cache
 *	cannot answer for a file changed behind its back), and the
 *	replica's age (max(last sync, heartbeat)) is compared with
 *	max_age (seconds; 0 = no limit). Returns 1 when the replica may
 *	be used, 0 when not (error_r says why).
 *
 *	replica_handle_replica() is the attached replica or NULL. A
 *	replica that is too old stays attached (the next heartbeat makes
 *	it usable again without a reopen), so the policy table can say
 *	why it defers; other hosts use the result of the check.
 *
 *	replica_handle_failed() is for a query that failed on the
 *	replica (SQLITE_CORRUPT, "no such table", ...): the text is
 *	copied first, then the replica is closed; the next check tries
 *	again.
 *
 *	replica_handle_news() says what the host should log now:
 *	REPLICA_HANDLE_LOST when the replica became unusable, when the
 *	reason changed, and every REPLICA_HANDLE_REMIND_SECS while it
 *	lasts; REPLICA_HANDLE_BACK once when it is usable again;
 *	otherwise REPLICA_HANDLE_QUIET.
 *
 *	Every text handed out (error_r, text_r) is in a buffer of the
 *	handle, a copy: it stays valid until the next call on the same
 *	handle, whatever happened to the replica meanwhile.
 * DIAGNOSTICS
 *	None here: the core never logs, the host does.
 */

#include <stdbool.h>
#include <time.h>

#include "replica.h"

/* replica_max_age's default: ten times the poll interval's default and
   many live-sync heartbeats (cli/follow.c), so a healthy sync never
   trips it, and a dead one freezes revocations for ten minutes at most.
   The Dovecot plugin's mailgrants_replica_max_age has the same. */
#define REPLICA_HANDLE_MAX_AGE_DEFAULT 600

/* How often an unavailable replica is mentioned again. */
#define REPLICA_HANDLE_REMIND_SECS 300

enum replica_handle_news {
	REPLICA_HANDLE_QUIET,
	REPLICA_HANDLE_LOST,
	REPLICA_HANDLE_BACK,
};

struct replica_handle;

void replica_handle_open(const char *path, unsigned int max_age,
			 struct replica_handle **h_r);
int replica_handle_check(struct replica_handle *h, time_t now, bool force,
			 const char **error_r);
struct replica *replica_handle_replica(struct replica_handle *h);
void replica_handle_failed(struct replica_handle *h, const char *error);
enum replica_handle_news replica_handle_news(struct replica_handle *h,
					     time_t now, const char **text_r);
void replica_handle_close(struct replica_handle **hp);

#endif
