#ifndef MAILGRANTS_POLICY_H
#define MAILGRANTS_POLICY_H

/*
 * NAME
 *	policy - may this login send with this envelope sender?
 * SYNOPSIS
 *	#include "policy.h"
 *
 *	int policy_decide(struct replica *rep, const struct config *cfg,
 *			  const char *login, const char *sender, time_t now,
 *			  struct policy_decision *d_r);
 *	int policy_sent_copy_rcpt(const char *mailbox, char *out,
 *				  size_t outsize);
 *	const char *policy_action_name(enum policy_action action);
 *	const char *policy_reason_name(enum policy_reason reason);
 *	void policy_printable(const char *in, char *out, size_t outsize);
 * DESCRIPTION
 *	policy_decide() is the decision table of DESIGN §6, without any
 *	I/O of its own: the Postfix policy daemon and the milter both
 *	call it, and it asks the core's rights_decide() for everything
 *	it knows about a login and an address.
 *
 *	"login" is the SASL login (NULL or "" when the client did not
 *	authenticate). "sender" is the envelope sender as Postfix hands
 *	it, without "<>"; NULL or "" is the null sender. "rep" may be
 *	NULL: the replica is unavailable.
 *
 *	The null sender is decided first and without the replica
 *	(cfg->policy_null_sender): there is no address to impersonate.
 *	Every other request needs the replica; when it is missing,
 *	unreadable, of another version or older than
 *	cfg->replica_max_age, the answer is DEFER_IF_PERMIT 4.3.0. A
 *	replica exactly replica_max_age seconds old is still current.
 *	With replica_max_age set, a replica whose last sync lies more
 *	than POLICY_CLOCK_SKEW_MAX seconds in the future is unavailable
 *	too: the clock went back, or the file is not this host's sync,
 *	and an age that cannot be known must not pass as fresh.
 *
 *	An address the login may only send on behalf of (a share with
 *	the send-on-behalf right, rights_decide()'s may_send_on_behalf)
 *	is refused with reason on_behalf_only: as an envelope sender it
 *	is never allowed (the grantee's envelope is an address of her
 *	own, where the bounces go), and the milter lets it through as
 *	From: only with a Sender: of the login's own; policy_decide()
 *	itself never answers on_behalf, which names the milter's accept.
 *
 *	d_r->reply is the complete Postfix access(5) action, e.g.
 *	"DUNNO" or "REJECT 5.7.1 <peter.mueller@abc.com>: mailbox shared
 *	with you for reading only; send from your own address"; the
 *	addresses in it are made printable. d_r->detail says more for
 *	the log (the replica's error, for instance) or is empty.
 *
 *	Returns 0 when the table decided, -1 when the replica failed
 *	while answering (d_r then holds the DEFER_IF_PERMIT 4.3.0 reply
 *	and detail the error): the caller may close and reopen it.
 *	d_r->entry_dn is the DN of the entry rights_decide() decided by
 *	(the mailbox, the user, the share), "" when none did (the null
 *	sender, no replica, an unknown address); the audit line names it.
 *
 *	d_r->sent_copy is the primary address of the mailbox whose Sent
 *	folder gets a copy of mail sent as "sender" (README "Sent
 *	copies"): set when the answer is DUNNO because the login may
 *	send as a mailbox that keeps sent copies, or on_behalf_only for
 *	such a mailbox (the milter files the copy once the Sender: is
 *	the login's own); "" otherwise, and always for a login's own
 *	primary mailbox. For on_behalf_only, entry_dn is the share that
 *	gives the right.
 *
 *	policy_sent_copy_rcpt() writes the recipient that files a copy in
 *	the Sent folder of "mailbox" (its primary address): the address
 *	with "." POLICY_SENT_COPY_DOMAIN appended to its domain, which
 *	only the milter adds (smtpd refuses it as RCPT TO; Dovecot's
 *	lmtp_mailgrants files it). 0, or -1 when it would not fit.
 *
 *	policy_printable() copies "in" to "out" for a log line or a
 *	reply: control characters, DEL, backslash and bytes that are not
 *	valid UTF-8 become "\xHH"; valid UTF-8 is kept. The result is
 *	always terminated; when it does not fit it ends in "...".
 */

#include <stddef.h>
#include <time.h>

#include "addr.h"
#include "config.h"
#include "replica.h"

#define POLICY_REPLY_MAX 1024
#define POLICY_CLOCK_SKEW_MAX 60	/* seconds a sync may lie ahead */
/* Reserved (RFC 6761 .invalid): no address in it exists anywhere. The
   Postfix and Dovecot configuration (delivery.main.cf.snippet,
   dovecot-mailgrants-sql.conf.ext) and dovecot-plugin/mailgrants-lmtp.c
   spell it out too. */
#define POLICY_SENT_COPY_DOMAIN "sent.mailgrants.invalid"

enum policy_action {
	POLICY_ACTION_DUNNO,
	POLICY_ACTION_REJECT,
	POLICY_ACTION_DEFER_IF_PERMIT,
};

enum policy_reason {
	POLICY_REASON_OWN_MAILBOX,		/* own_mailbox */
	POLICY_REASON_COMPANY_MAILBOX,		/* company_mailbox */
	POLICY_REASON_SHARED_READ_ONLY,		/* shared_read_only */
	POLICY_REASON_NOT_YOURS,		/* not_yours */
	POLICY_REASON_FOREIGN_SENDER,		/* foreign_sender */
	POLICY_REASON_NULL_SENDER,		/* null_sender */
	POLICY_REASON_AUTH_REQUIRED,		/* auth_required */
	POLICY_REASON_UNAUTHENTICATED_LOCAL,	/* unauthenticated_local */
	POLICY_REASON_UNAUTHENTICATED_FOREIGN,	/* unauthenticated_foreign */
	POLICY_REASON_BAD_SENDER,		/* bad_sender */
	POLICY_REASON_UNKNOWN_LOGIN,		/* unknown_login */
	POLICY_REASON_REPLICA_UNAVAILABLE,	/* replica_unavailable */
	POLICY_REASON_REPLICA_TOO_OLD,		/* replica_too_old */
	POLICY_REASON_ON_BEHALF_ONLY,		/* on_behalf_only */
	POLICY_REASON_ON_BEHALF,		/* on_behalf (milter) */
};

struct policy_decision {
	enum policy_action action;
	enum policy_reason reason;
	char reply[POLICY_REPLY_MAX];
	char detail[512];
	char entry_dn[REPLICA_DN_MAX];	/* rights_decide()'s entry, or "" */
	char sent_copy[ADDR_MAX];	/* "": none; see DESCRIPTION */
};

int policy_decide(struct replica *rep, const struct config *cfg,
		  const char *login, const char *sender, time_t now,
		  struct policy_decision *d_r);
int policy_sent_copy_rcpt(const char *mailbox, char *out, size_t outsize);
const char *policy_action_name(enum policy_action action);
const char *policy_reason_name(enum policy_reason reason);
void policy_printable(const char *in, char *out, size_t outsize);

#endif
