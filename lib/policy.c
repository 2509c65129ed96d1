/*
 * NAME
 *	policy - may this login send with this envelope sender?
 * DESCRIPTION
 *	The table of DESIGN §6. Only the rows for the own and the
 *	company mailboxes (and the configurable rows) answer DUNNO; every
 *	answer the core cannot give ends in a rejection or a temporary
 *	failure, so a broken replica or an unexpected reason can never
 *	let a sender through.
 * SEE ALSO
 *	policy.h, rights.h
 */

#include "policy.h"
#include "rights.h"
#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define POLICY_SHOWN_ADDR_MAX 300	/* bytes of an address in a reply */

static const char *const policy_action_names[] = {
	[POLICY_ACTION_DUNNO] = "dunno",
	[POLICY_ACTION_REJECT] = "reject",
	[POLICY_ACTION_DEFER_IF_PERMIT] = "defer_if_permit",
};

static const char *const policy_reason_names[] = {
	[POLICY_REASON_OWN_MAILBOX] = "own_mailbox",
	[POLICY_REASON_COMPANY_MAILBOX] = "company_mailbox",
	[POLICY_REASON_SHARED_READ_ONLY] = "shared_read_only",
	[POLICY_REASON_NOT_YOURS] = "not_yours",
	[POLICY_REASON_FOREIGN_SENDER] = "foreign_sender",
	[POLICY_REASON_NULL_SENDER] = "null_sender",
	[POLICY_REASON_AUTH_REQUIRED] = "auth_required",
	[POLICY_REASON_UNAUTHENTICATED_LOCAL] = "unauthenticated_local",
	[POLICY_REASON_UNAUTHENTICATED_FOREIGN] = "unauthenticated_foreign",
	[POLICY_REASON_BAD_SENDER] = "bad_sender",
	[POLICY_REASON_UNKNOWN_LOGIN] = "unknown_login",
	[POLICY_REASON_REPLICA_UNAVAILABLE] = "replica_unavailable",
	[POLICY_REASON_REPLICA_TOO_OLD] = "replica_too_old",
	[POLICY_REASON_ON_BEHALF_ONLY] = "on_behalf_only",
	[POLICY_REASON_ON_BEHALF] = "on_behalf",
};

/* policy_action_name - the action as the log writes it */
const char *policy_action_name(enum policy_action action)
{
	if ((size_t)action >= sizeof(policy_action_names) /
	    sizeof(policy_action_names[0]))
		return "unknown";
	return policy_action_names[action];
}

/* policy_reason_name - the reason code as the log writes it */
const char *policy_reason_name(enum policy_reason reason)
{
	if ((size_t)reason >= sizeof(policy_reason_names) /
	    sizeof(policy_reason_names[0]) ||
	    policy_reason_names[reason] == NULL)
		return "unknown";
	return policy_reason_names[reason];
}

/* policy_sent_copy_rcpt - the recipient for a mailbox's Sent folder */
int policy_sent_copy_rcpt(const char *mailbox, char *out, size_t outsize)
{
	int n;

	/* A mailbox address without "@" never comes from the replica. */
	if (strchr(mailbox, '@') == NULL)
		return -1;
	n = snprintf(out, outsize, "%s." POLICY_SENT_COPY_DOMAIN, mailbox);
	return n < 0 || (size_t)n >= outsize ? -1 : 0;
}

/* policy_printable - copy untrusted text so that it is safe to log or reply */
void policy_printable(const char *in, char *out, size_t outsize)
{
	(void)text_printable_str(out, outsize, in, TEXT_ESCAPE);
}

/* policy_set - fill in a decision; the reply text is built from fmt */
static void __attribute__((format(printf, 4, 5)))
policy_set(struct policy_decision *d, enum policy_action action,
	   enum policy_reason reason, const char *fmt, ...)
{
	va_list ap;
	int n;

	d->action = action;
	d->reason = reason;
	va_start(ap, fmt);
	n = vsnprintf(d->reply, sizeof(d->reply), fmt, ap);
	va_end(ap);
	/* Addresses are cut to POLICY_SHOWN_ADDR_MAX, so this cannot
	   happen; if it did, a cut reply text is still a valid action. */
	if (n < 0)
		snprintf(d->reply, sizeof(d->reply), "%s",
			 action == POLICY_ACTION_DUNNO ? "DUNNO" :
			 "DEFER_IF_PERMIT 4.3.0 internal error");
}

/* policy_unavailable - the replica cannot answer: fail closed */
static void policy_unavailable(struct policy_decision *d,
			       enum policy_reason reason, const char *error)
{
	policy_set(d, POLICY_ACTION_DEFER_IF_PERMIT, reason,
		   "DEFER_IF_PERMIT 4.3.0 the sender check is temporarily "
		   "unavailable; please try again later");
	snprintf(d->detail, sizeof(d->detail), "%s",
		 error != NULL ? error : "");
}

/* policy_replica_ok - is the replica there and recent enough? 1/0/-1 */
static int policy_replica_ok(struct replica *rep, const struct config *cfg,
			      time_t now, struct policy_decision *d)
{
	struct replica_info info;
	const char *error;
	char age[64];

	if (rep == NULL) {
		policy_unavailable(d, POLICY_REASON_REPLICA_UNAVAILABLE,
				   "replica not open");
		return 0;
	}
	if (cfg->replica_max_age == 0)
		return 1;
	if (replica_info(rep, &info, &error) < 0) {
		policy_unavailable(d, POLICY_REASON_REPLICA_UNAVAILABLE, error);
		return -1;
	}
	if (info.current_at > now) {
		/* A few seconds ahead is the clock's jitter; more, and
		   the replica's age is unknown: fail closed. */
		if (info.current_at - now <= POLICY_CLOCK_SKEW_MAX)
			return 1;
		snprintf(age, sizeof(age),
			 "last successful sync %lld seconds in the "
			 "future", (long long)(info.current_at - now));
		policy_unavailable(d, POLICY_REASON_REPLICA_TOO_OLD, age);
		return 0;
	}
	if ((unsigned long long)(now - info.current_at) <=
	    cfg->replica_max_age)
		return 1;
	snprintf(age, sizeof(age),
		 "last successful sync %lld seconds ago",
		 (long long)(now - info.current_at));
	policy_unavailable(d, POLICY_REASON_REPLICA_TOO_OLD, age);
	return 0;
}

/* policy_decide_anonymous - the rows for a client without login */
static int policy_decide_anonymous(struct replica *rep,
				   const struct config *cfg,
				   const char *sender, const char *shown,
				   time_t now, struct policy_decision *d)
{
	struct rights_decision rd;
	const char *error;

	/* rights.h has no "is this domain local" query; without a login,
	   rights_decide() only looks the address up and answers
	   foreign_domain for a domain no company has, bad_address for an
	   address that does not normalise, and another reason
	   (unknown_address, not_yours) for an address in a local domain. */
	if (rights_decide(rep, NULL, sender, now, cfg->recipient_delimiter,
			  &rd, &error) < 0) {
		policy_unavailable(d, POLICY_REASON_REPLICA_UNAVAILABLE, error);
		return -1;
	}
	(void)text_copy(d->detail, sizeof(d->detail), rd.detail);
	(void)text_copy(d->entry_dn, sizeof(d->entry_dn), rd.entry_dn);
	if (rd.reason == RIGHTS_REASON_BAD_ADDRESS) {
		/* Without a domain, Postfix would append one of ours later;
		   an address we cannot read is never waved through. */
		policy_set(d, POLICY_ACTION_REJECT, POLICY_REASON_BAD_SENDER,
			   "REJECT 5.1.7 <%s>: invalid sender address; "
			   "use a complete address like name@example.com",
			   shown);
	} else if (rd.reason == RIGHTS_REASON_FOREIGN_DOMAIN) {
		policy_set(d, POLICY_ACTION_DUNNO,
			   POLICY_REASON_UNAUTHENTICATED_FOREIGN, "DUNNO");
	} else if (cfg->policy_unauthenticated_local == CONFIG_POLICY_DUNNO) {
		policy_set(d, POLICY_ACTION_DUNNO,
			   POLICY_REASON_UNAUTHENTICATED_LOCAL, "DUNNO");
	} else {
		policy_set(d, POLICY_ACTION_REJECT,
			   POLICY_REASON_AUTH_REQUIRED,
			   "REJECT 5.7.1 <%s>: authentication required to "
			   "send as an address of this domain; log in with "
			   "your mail account first", shown);
	}
	return 0;
}

/* policy_decide_login - the rows for an authenticated login */
static int policy_decide_login(struct replica *rep, const struct config *cfg,
			       const char *login, const char *sender,
			       const char *shown, time_t now,
			       struct policy_decision *d)
{
	struct rights_decision rd;
	const char *error;

	if (rights_decide(rep, login, sender, now, cfg->recipient_delimiter,
			  &rd, &error) < 0) {
		policy_unavailable(d, POLICY_REASON_REPLICA_UNAVAILABLE, error);
		return -1;
	}
	(void)text_copy(d->detail, sizeof(d->detail), rd.detail);
	(void)text_copy(d->entry_dn, sizeof(d->entry_dn), rd.entry_dn);
	switch (rd.reason) {
	case RIGHTS_REASON_OWNER:
	case RIGHTS_REASON_COMPANY:
		if (rd.may_send) {
			policy_set(d, POLICY_ACTION_DUNNO,
				   rd.reason == RIGHTS_REASON_OWNER ?
				   POLICY_REASON_OWN_MAILBOX :
				   POLICY_REASON_COMPANY_MAILBOX, "DUNNO");
			if (rd.sent_copies)
				snprintf(d->sent_copy, sizeof(d->sent_copy),
					 "%s", rd.mailbox);
			return 0;
		}
		break;
	case RIGHTS_REASON_SHARED:
		if (rd.may_send_on_behalf) {
			policy_set(d, POLICY_ACTION_REJECT,
				   POLICY_REASON_ON_BEHALF_ONLY,
				   "REJECT 5.7.1 <%s>: you may send on behalf of"
				   " this address, not as it; send from your"
				   " own address with From: <%s> and Sender:"
				   " your own address", shown, shown);
			/* The share with the right decides; the milter
			   files a copy when the Sender: is hers. */
			snprintf(d->entry_dn, sizeof(d->entry_dn), "%s",
				 rd.on_behalf_dn);
			if (rd.sent_copies)
				snprintf(d->sent_copy, sizeof(d->sent_copy),
					 "%s", rd.mailbox);
			return 0;
		}
		policy_set(d, POLICY_ACTION_REJECT,
			   POLICY_REASON_SHARED_READ_ONLY,
			   "REJECT 5.7.1 <%s>: mailbox shared with you for "
			   "reading only; send from your own address", shown);
		return 0;
	case RIGHTS_REASON_FOREIGN_DOMAIN:
		if (cfg->policy_foreign_sender == CONFIG_POLICY_DUNNO)
			policy_set(d, POLICY_ACTION_DUNNO,
				   POLICY_REASON_FOREIGN_SENDER, "DUNNO");
		else
			policy_set(d, POLICY_ACTION_REJECT,
				   POLICY_REASON_FOREIGN_SENDER,
				   "REJECT 5.7.1 <%s>: sending as an address "
				   "of another domain is not allowed here; "
				   "send from your own address", shown);
		return 0;
	case RIGHTS_REASON_UNKNOWN_LOGIN:
		policy_set(d, POLICY_ACTION_DEFER_IF_PERMIT,
			   POLICY_REASON_UNKNOWN_LOGIN,
			   "DEFER_IF_PERMIT 4.7.1 your login is not known to "
			   "the mail grants (yet); try again later or ask "
			   "your mail administrator");
		return 0;
	case RIGHTS_REASON_BAD_ADDRESS:
		/* rights_decide() judges the login first: it is the sender. */
		policy_set(d, POLICY_ACTION_REJECT, POLICY_REASON_BAD_SENDER,
			   "REJECT 5.1.7 <%s>: invalid sender address; send "
			   "from your own address", shown);
		return 0;
	case RIGHTS_REASON_SHARE_INACTIVE:
	case RIGHTS_REASON_NOT_IN_GROUP:
	case RIGHTS_REASON_OTHER_COMPANY:
	case RIGHTS_REASON_NOT_YOURS:
	case RIGHTS_REASON_UNKNOWN_ADDRESS:
		break;
	}
	/* Every other answer, including one this table does not know
	   yet, is a rejection. */
	policy_set(d, POLICY_ACTION_REJECT, POLICY_REASON_NOT_YOURS,
		   "REJECT 5.7.1 <%s>: you may not send as this address; "
		   "send from your own address", shown);
	return 0;
}

/* policy_decide - the decision table of DESIGN §6 */
int policy_decide(struct replica *rep, const struct config *cfg,
		  const char *login, const char *sender, time_t now,
		  struct policy_decision *d_r)
{
	char shown[POLICY_SHOWN_ADDR_MAX];
	int ret;

	memset(d_r, 0, sizeof(*d_r));
	if (sender == NULL || sender[0] == '\0') {
		if (cfg->policy_null_sender == CONFIG_POLICY_DUNNO)
			policy_set(d_r, POLICY_ACTION_DUNNO,
				   POLICY_REASON_NULL_SENDER, "DUNNO");
		else
			policy_set(d_r, POLICY_ACTION_REJECT,
				   POLICY_REASON_NULL_SENDER,
				   "REJECT 5.7.1 <>: the empty sender address "
				   "is not allowed here; send from your own "
				   "address");
		return 0;
	}
	if ((ret = policy_replica_ok(rep, cfg, now, d_r)) <= 0)
		return ret;
	policy_printable(sender, shown, sizeof(shown));
	if (login == NULL || login[0] == '\0')
		return policy_decide_anonymous(rep, cfg, sender, shown, now,
					       d_r);
	return policy_decide_login(rep, cfg, login, sender, shown, now, d_r);
}
