#ifndef MAILGRANTS_LDAPWATCH_H
#define MAILGRANTS_LDAPWATCH_H

/*
 * NAME
 *	ldapwatch - be told when the directory changes (RFC 4533)
 * SYNOPSIS
 *	#include "ldapwatch.h"
 *
 *	int ldapwatch_open(const struct config *cfg, const char *password,
 *			   const char *cookie, struct ldapwatch **w_r,
 *			   const char **error_r);
 *	int ldapwatch_connect(const struct config *cfg,
 *			      const char *password, struct ldapwatch **w_r,
 *			      const char **error_r);
 *	int ldapwatch_poll(struct ldapwatch *w, int timeout_ms,
 *			   const char **error_r);
 *	int ldapwatch_probe(struct ldapwatch *w, unsigned int timeout_s,
 *			    const char **error_r);
 *	bool ldapwatch_answered(struct ldapwatch *w);
 *	bool ldapwatch_changed(struct ldapwatch *w);
 *	const char *ldapwatch_cookie(struct ldapwatch *w);
 *	void ldapwatch_close(struct ldapwatch **wp);
 * DESCRIPTION
 *	ldapwatch_open() binds like the sync and starts a refreshAndPersist
 *	content synchronisation of every entry the sync reads (the OR of
 *	the five configured filters), asking for no attributes: the
 *	watcher only learns that something changed, and the sync then
 *	reads the directory again, so the replica never holds a change
 *	applied by halves. With "cookie" (hex, from the replica's meta
 *	data) the refresh phase reports only what changed since; without
 *	it, or when the server refuses it (e-syncRefreshRequired), the
 *	refresh reports everything. It returns when the refresh phase is
 *	done.
 *
 *	ldapwatch_connect() only binds: a connection that watches
 *	nothing, for probing a directory that is polled.
 *
 *	ldapwatch_poll() waits up to timeout_ms for notifications.
 *	ldapwatch_changed() says whether any arrived (in the refresh
 *	phase or since the last call) and clears the flag.
 *	ldapwatch_cookie() is the newest cookie as hex ("" if none).
 *
 *	ldapwatch_probe() asks the server for the base entry (no
 *	attributes, a time limit of timeout_s), unless an earlier probe
 *	is still unanswered; ldapwatch_poll() takes the answer, and
 *	ldapwatch_answered() says whether one came since the last call
 *	(and clears the flag). A persistent search is silent while
 *	nothing changes, and a TCP connection stays open to a server
 *	that is stopped or hangs: the probe is how the caller learns
 *	that the directory still answers.
 * DIAGNOSTICS
 *	ldapwatch_open() returns 0, 1 when the server does not offer
 *	content synchronisation (no syncprov: the caller polls), or -1
 *	(cannot connect, bind refused, ...). ldapwatch_connect() returns
 *	0 or -1 the same way. ldapwatch_poll() returns 0, or -1 when the
 *	connection is lost, the search ended, or a probe was not answered
 *	within its timeout_s. ldapwatch_probe() returns -1 when the
 *	probe cannot be sent (the connection is lost).
 */

#include <stdbool.h>

#include "config.h"

struct ldapwatch;

int ldapwatch_open(const struct config *cfg, const char *password,
		   const char *cookie, struct ldapwatch **w_r,
		   const char **error_r);
int ldapwatch_connect(const struct config *cfg, const char *password,
		      struct ldapwatch **w_r, const char **error_r);
int ldapwatch_poll(struct ldapwatch *w, int timeout_ms, const char **error_r);
int ldapwatch_probe(struct ldapwatch *w, unsigned int timeout_s,
		    const char **error_r);
bool ldapwatch_answered(struct ldapwatch *w);
bool ldapwatch_changed(struct ldapwatch *w);
const char *ldapwatch_cookie(struct ldapwatch *w);
void ldapwatch_close(struct ldapwatch **wp);

#endif
