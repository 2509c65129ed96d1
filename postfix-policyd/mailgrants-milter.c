/*
 * NAME
 *	mailgrants-milter - may this login write this From: and Sender:? (Postfix)
 * DESCRIPTION
 *	A mail filter (Sendmail milter protocol, Debian's libmilter) for
 *	the smtpd_milters of Postfix's submission services: every address
 *	of the From: and Sender: fields of authenticated mail goes through
 *	the policy daemon's decision table (policy_decide()), and the
 *	first one it rejects rejects the message; what it defers is
 *	answered 451. A From: address the login may only send on behalf
 *	of (a share with that right: policy_decide()'s on_behalf_only)
 *	waits for the end of the headers: it passes only when the
 *	message has exactly one Sender: field with exactly one address,
 *	an address of the login's own (own_mailbox), wherever that field
 *	stands. Postfix hands headers only to milters, hence a
 *	milter beside the policy daemon. The milter asks Postfix to leave
 *	out every step it does not need: each one left out saves both
 *	sides a write, a read and a wake-up.
 *
 *	Sent copies (README "Sent copies"): when every address passes and
 *	a From: address is a mailbox that keeps sent copies, the milter
 *	stays for the end of the message and adds one recipient per such
 *	mailbox (policy_sent_copy_rcpt()); a message it cannot add it to
 *	is refused with 451, so no message is accepted without its copy.
 *	The header From: decides, not the envelope: it is the address the
 *	message is sent as for everyone who reads it.
 *
 *	The manual page, doc/mailgrants-milter.8, is the one description
 *	of the options, the replies, the header syntax, the replica
 *	handling and the log lines; change it with the behaviour.
 * SEE ALSO
 *	mailgrants-milter(8), mailgrants-policyd(8), lib-postfix/header.h
 */

#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "audit.h"
#include "config.h"
#include "daemon.h"
#include "header.h"
#include "msg.h"
#include "policy.h"
#include "replica-handle.h"
#include "replica.h"
#include "xalloc.h"

#define MILTER_NAME "mailgrants-milter"
#define MILTER_TEXT_MAX 900	/* libmilter takes replies up to 980 */
#define MILTER_COPIES_MAX 8	/* mailboxes with sent copies per message */

/* The protocol steps the milter does without: only MAIL FROM (for the
   login) and the headers matter, and only the end of the headers needs
   a reply. Every step left out saves Postfix and the milter a write, a
   read and a wake-up per message; the client address for the log comes
   as a macro at MAIL FROM instead of a connect event. */
#define MILTER_STEPS_UNWANTED (SMFIP_NOCONNECT | SMFIP_NOHELO | \
	SMFIP_NORCPT | SMFIP_NOBODY | SMFIP_NOUNKNOWN | SMFIP_NODATA | \
	SMFIP_NR_CONN | SMFIP_NR_MAIL | SMFIP_NR_HDR)

enum milter_verdict {
	MILTER_VERDICT_NONE,
	MILTER_VERDICT_REJECT,
	MILTER_VERDICT_TEMPFAIL,
};

/* A From: address sent on behalf, decided at the end of the headers */
struct milter_on_behalf {
	char *address;
	char *dn;			/* the share that gives the right */
	char *sent_copy;		/* its mailbox keeps copies; "": no */
};

/* One SMTP session's state. libmilter calls a session's callbacks one at
   a time, from any thread of its pool. */
struct milter_session {
	unsigned long steps;		/* protocol steps negotiated away */
	char client[64];
	char *login;			/* {auth_authen}; NULL: none */
	enum milter_verdict verdict;
	char rcode[4];			/* "550", "451" */
	char xcode[16];			/* "5.7.1" */
	char text[MILTER_TEXT_MAX];
	unsigned int ncopies;		/* sent copies to add at the end */
	char copies[MILTER_COPIES_MAX][ADDR_MAX];
	/* Send on behalf: the From: addresses that need a Sender: of
	   the login's own, and what the Sender: fields held. */
	struct milter_on_behalf *on_behalf;
	unsigned int on_behalf_count;
	unsigned int sender_fields, sender_addresses;
	bool sender_own;		/* the one Sender: address is own */
	struct header_addresses list;
};

/* The replica, shared by all sessions (lib/replica-handle.c). */
static struct {
	const struct config *cfg;
	pthread_mutex_t lock;
	struct replica_handle *handle;
} milter_replica = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

/* milter_replica_check - open, re-attach, re-validate or retry (locked) */
static void milter_replica_check(bool force)
{
	const char *error;

	(void)replica_handle_check(milter_replica.handle, time(NULL), force,
				   &error);
	msg_replica_news(milter_replica.handle, "451");
}

/* milter_decide - policy_decide() on the shared replica */
static void milter_decide(const char *login, const char *address,
			  struct policy_decision *d)
{
	pthread_mutex_lock(&milter_replica.lock);
	milter_replica_check(false);
	if (policy_decide(replica_handle_replica(milter_replica.handle),
			  milter_replica.cfg, login, address, time(NULL),
			  d) < 0) {
		/* d->detail is a copy; the handle copies it again before
		   it closes the replica. */
		replica_handle_failed(milter_replica.handle, d->detail);
		msg_replica_news(milter_replica.handle, "451");
	}
	pthread_mutex_unlock(&milter_replica.lock);
}

/* milter_session_get - the session of a libmilter context */
static struct milter_session *milter_session_get(SMFICTX *ctx)
{
	struct milter_session *s = smfi_getpriv(ctx);

	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		if (smfi_setpriv(ctx, s) != MI_SUCCESS) {
			free(s);
			return NULL;
		}
	}
	return s;
}

/* milter_on_behalf_free - forget the From: addresses sent on behalf */
static void milter_on_behalf_free(struct milter_session *s)
{
	for (unsigned int i = 0; i < s->on_behalf_count; i++) {
		free(s->on_behalf[i].address);
		free(s->on_behalf[i].dn);
		free(s->on_behalf[i].sent_copy);
	}
	free(s->on_behalf);
	s->on_behalf = NULL;
	s->on_behalf_count = 0;
}

/* milter_message_reset - forget what was decided for the last message */
static void milter_message_reset(struct milter_session *s)
{
	free(s->login);
	s->login = NULL;
	milter_on_behalf_free(s);
	s->sender_fields = s->sender_addresses = 0;
	s->sender_own = false;
	s->verdict = MILTER_VERDICT_NONE;
	s->rcode[0] = s->xcode[0] = s->text[0] = '\0';
	s->ncopies = 0;
}

/* milter_set_verdict - remember the first reason to refuse the message */
static void milter_set_verdict(struct milter_session *s,
			       enum milter_verdict verdict, const char *rcode,
			       const char *xcode, const char *field,
			       const char *text)
{
	size_t len = 0;
	int n;

	if (s->verdict != MILTER_VERDICT_NONE)
		return;
	s->verdict = verdict;
	snprintf(s->rcode, sizeof(s->rcode), "%s", rcode);
	snprintf(s->xcode, sizeof(s->xcode), "%s", xcode);
	n = snprintf(s->text, sizeof(s->text), "%s: ", field);
	if (n < 0 || (size_t)n >= sizeof(s->text))
		n = 0;
	len = (size_t)n;
	/* libmilter takes "%" as a format character: double it. A cut
	   reply text is still a complete reply. */
	for (; *text != '\0' && len + 3 < sizeof(s->text); text++) {
		s->text[len++] = *text;
		if (*text == '%')
			s->text[len++] = '%';
	}
	s->text[len] = '\0';
}

/* milter_want_copy - remember a mailbox whose Sent folder gets a copy */
static void milter_want_copy(struct milter_session *s, const char *mailbox)
{
	unsigned int i;

	/* One copy per mailbox, however often From: names it. */
	for (i = 0; i < s->ncopies; i++)
		if (strcmp(s->copies[i], mailbox) == 0)
			return;
	if (s->ncopies == MILTER_COPIES_MAX) {
		/* Never accept a message without a copy it should have. */
		milter_set_verdict(s, MILTER_VERDICT_REJECT, "550", "5.7.1",
				   "From", "too many mailboxes with sent "
				   "copies in one From: field");
		return;
	}
	snprintf(s->copies[s->ncopies++], sizeof(s->copies[0]), "%s",
		 mailbox);
}

/* milter_log - one audit line per decision (audit.h); the fields
   before "action" keep the older lines' "action=... reason=..." as they
   were */
static void milter_log(SMFICTX *ctx, struct milter_session *s,
		       const char *action, const char *field,
		       const char *address, const char *dn,
		       const char *reason, const char *error)
{
	struct audit_line a;
	char shown[AUDIT_VALUE_MAX + 3];

	if (address != NULL)
		(void)snprintf(shown, sizeof(shown), "<%s>", address);
	else
		shown[0] = '\0';
	audit_begin(&a, milter_replica.cfg->log_format, "send", NULL);
	audit_add(&a, "dn", dn);
	audit_add(&a, "action", action);
	audit_add(&a, "login", s->login);
	audit_add(&a, "header", field);
	audit_add(&a, "address", shown);
	audit_add(&a, "client", s->client);
	audit_add(&a, "queue_id", smfi_getsymval(ctx, "i"));
	audit_add(&a, "reason", reason);
	if (error != NULL)
		audit_add(&a, "error", error);
	msg_info_text(audit_end(&a));
}

/* milter_check_field - every address of one From: or Sender: field */
static void milter_check_field(SMFICTX *ctx, struct milter_session *s,
			       const char *field, const char *value)
{
	const char *error, *lower = field[0] == 'F' ? "from" : "sender";
	struct policy_decision d;
	unsigned int i;

	if (header_addresses_parse(value, strlen(value), &s->list,
				   &error) < 0) {
		milter_log(ctx, s, "reject", lower, NULL, NULL, "bad_header",
			   error);
		milter_set_verdict(s, MILTER_VERDICT_REJECT, "550", "5.7.1",
				   field, "header field not understood; "
				   "write it as Name <address> with an "
				   "address you may send as");
		return;
	}
	if (field[0] == 'S') {
		s->sender_fields++;
		s->sender_addresses += s->list.count;
	}
	for (i = 0; i < s->list.count; i++) {
		const char *code, *text;
		size_t clen;

		milter_decide(s->login, s->list.addr[i], &d);
		if (field[0] == 'F' &&
		    d.reason == POLICY_REASON_ON_BEHALF_ONLY &&
		    s->on_behalf_count < HEADER_ADDRESSES_MAX) {
			/* Decided and logged with the Sender: fields, at
			   the end of the headers (more than a field's worth
			   of them is refused below, as not_yours is). */
			s->on_behalf = xrealloc(s->on_behalf,
						(s->on_behalf_count + 1) *
						sizeof(*s->on_behalf));
			s->on_behalf[s->on_behalf_count].address =
				xstrdup(s->list.addr[i]);
			s->on_behalf[s->on_behalf_count].dn =
				xstrdup(d.entry_dn);
			s->on_behalf[s->on_behalf_count++].sent_copy =
				xstrdup(d.sent_copy);
			continue;
		}
		milter_log(ctx, s, policy_action_name(d.action), lower,
			   s->list.addr[i], d.entry_dn,
			   policy_reason_name(d.reason), NULL);
		if (field[0] == 'S' && s->list.count == 1)
			s->sender_own = d.reason == POLICY_REASON_OWN_MAILBOX;
		if (d.action == POLICY_ACTION_DUNNO) {
			if (d.sent_copy[0] != '\0' && lower[0] == 'f')
				milter_want_copy(s, d.sent_copy);
			continue;
		}
		/* d.reply is "ACTION X.Y.Z text": keep code and text. */
		code = strchr(d.reply, ' ');
		code = code != NULL ? code + 1 : "";
		clen = strcspn(code, " ");
		text = code[clen] == ' ' ? code + clen + 1 : "";
		if (d.action == POLICY_ACTION_REJECT) {
			char xcode[16];

			snprintf(xcode, sizeof(xcode), "%.*s", (int)clen, code);
			milter_set_verdict(s, MILTER_VERDICT_REJECT, "550",
					   xcode[0] == '5' ? xcode : "5.7.1",
					   field, text);
		} else {
			char xcode[16];

			snprintf(xcode, sizeof(xcode), "%.*s", (int)clen, code);
			milter_set_verdict(s, MILTER_VERDICT_TEMPFAIL, "451",
					   xcode[0] == '4' ? xcode : "4.3.0",
					   field, text);
		}
		return;
	}
}

/* milter_on_behalf - the end of the headers: From: addresses sent on
   behalf pass with one Sender: of the login's own, else the message is
   refused, saying what it needs */
static void milter_on_behalf(SMFICTX *ctx, struct milter_session *s)
{
	const char *need = NULL;
	char shown[300], text[MILTER_TEXT_MAX];
	unsigned int i;

	if (s->on_behalf_count == 0 || s->verdict != MILTER_VERDICT_NONE)
		return;
	if (s->sender_fields == 0)
		need = "no Sender: field";
	else if (s->sender_fields > 1)
		need = "more than one Sender: field";
	else if (s->sender_addresses != 1)
		need = "a Sender: field without exactly one address";
	else if (!s->sender_own)
		need = "a Sender: that is not your own address";
	for (i = 0; i < s->on_behalf_count; i++) {
		milter_log(ctx, s, need == NULL ? "dunno" : "reject", "from",
			   s->on_behalf[i].address, s->on_behalf[i].dn,
			   policy_reason_name(need == NULL ?
			   POLICY_REASON_ON_BEHALF :
			   POLICY_REASON_ON_BEHALF_ONLY), NULL);
		/* Mail sent on behalf of a mailbox that keeps sent
		   copies is filed there too; a person's own primary
		   mailbox never keeps them (policy.h). */
		if (need == NULL && s->on_behalf[i].sent_copy[0] != '\0')
			milter_want_copy(s, s->on_behalf[i].sent_copy);
	}
	if (need != NULL) {
		policy_printable(s->on_behalf[0].address, shown,
				 sizeof(shown));
		snprintf(text, sizeof(text), "<%s>: you may send on behalf "
			 "of this address only with a Sender: field holding "
			 "your own address alone, not with %s", shown, need);
		milter_set_verdict(s, MILTER_VERDICT_REJECT, "550", "5.7.1",
				   "From", text);
	}
	/* Decided once: the end of the message does not decide again. */
	milter_on_behalf_free(s);
}

/* milter_negotiate - ask Postfix for less: no body, no replies to headers */
static sfsistat milter_negotiate(SMFICTX *ctx, unsigned long f0,
				 unsigned long f1, unsigned long f2,
				 unsigned long f3, unsigned long *pf0,
				 unsigned long *pf1, unsigned long *pf2,
				 unsigned long *pf3)
{
	struct milter_session *s = milter_session_get(ctx);

	(void)f2;
	(void)f3;
	if (s == NULL)
		return SMFIS_TEMPFAIL;
	/* One action: adding the recipients of sent copies. */
	*pf0 = f0 & SMFIF_ADDRCPT;
	*pf1 = s->steps = f1 & MILTER_STEPS_UNWANTED;
	*pf2 = *pf3 = 0;
	/* Ask for the macros it needs even if main.cf lists others: a
	   missing {auth_authen} would look like unauthenticated mail. */
	if ((f0 & SMFIF_SETSYMLIST) != 0) {
		*pf0 |= SMFIF_SETSYMLIST;
		if (smfi_setsymlist(ctx, SMFIM_ENVFROM,
				    "{auth_authen} {client_addr} i") !=
		    MI_SUCCESS ||
		    smfi_setsymlist(ctx, SMFIM_EOH, "i") != MI_SUCCESS)
			return SMFIS_TEMPFAIL;
	}
	return SMFIS_CONTINUE;
}

/* milter_envfrom - the login; mail without one is not ours to check */
static sfsistat milter_envfrom(SMFICTX *ctx, char **argv)
{
	struct milter_session *s = milter_session_get(ctx);
	const char *login = smfi_getsymval(ctx, "{auth_authen}");
	const char *client = smfi_getsymval(ctx, "{client_addr}");
	bool no_reply;

	(void)argv;
	if (s == NULL)
		return SMFIS_TEMPFAIL;
	no_reply = (s->steps & SMFIP_NR_MAIL) != 0;
	milter_message_reset(s);
	/* the audit line escapes it; a cut address is still logged */
	(void)snprintf(s->client, sizeof(s->client), "%s",
		       client != NULL ? client : "");
	if (login == NULL || login[0] == '\0') {
		/* Without a reply to MAIL FROM, the headers still come:
		   they are skipped (no login), and the end of the headers
		   accepts the message. */
		return no_reply ? SMFIS_NOREPLY : SMFIS_ACCEPT;
	}
	s->login = xstrdup(login);
	return no_reply ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* milter_field_is - is this header name "want", obsolete space included? */
static bool milter_field_is(const char *name, const char *want)
{
	size_t len = strlen(name);

	/* "From : x" is the obsolete syntax of a From: field (RFC 5322
	   4.5.3); Postfix hands the name over with its trailing blanks,
	   and mail clients show it as From:. */
	while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
		len--;
	return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

/* milter_header - check From: and Sender:, remember the verdict */
static sfsistat milter_header(SMFICTX *ctx, char *name, char *value)
{
	struct milter_session *s = smfi_getpriv(ctx);
	sfsistat next;

	if (s == NULL)
		return SMFIS_TEMPFAIL;
	next = (s->steps & SMFIP_NR_HDR) != 0 ? SMFIS_NOREPLY :
	    SMFIS_CONTINUE;
	if (s->login == NULL || s->verdict != MILTER_VERDICT_NONE)
		return next;
	if (milter_field_is(name, "From"))
		milter_check_field(ctx, s, "From", value);
	else if (milter_field_is(name, "Sender"))
		milter_check_field(ctx, s, "Sender", value);
	return next;
}

/* milter_verdict - give the verdict and forget the message */
static sfsistat milter_verdict(SMFICTX *ctx, struct milter_session *s)
{
	sfsistat ret;

	switch (s->verdict) {
	case MILTER_VERDICT_REJECT:
	case MILTER_VERDICT_TEMPFAIL:
		/* Without the text, Postfix still refuses, in its words. */
		if (smfi_setreply(ctx, s->rcode, s->xcode, s->text) !=
		    MI_SUCCESS)
			msg_warn("smfi_setreply failed for \"%s %s %s\"",
				 s->rcode, s->xcode, s->text);
		ret = s->verdict == MILTER_VERDICT_REJECT ? SMFIS_REJECT :
		    SMFIS_TEMPFAIL;
		break;
	default:
		ret = SMFIS_ACCEPT;
		break;
	}
	milter_message_reset(s);
	return ret;
}

/* milter_add_copies - end of the message: the recipients of sent copies */
static void milter_add_copies(SMFICTX *ctx, struct milter_session *s)
{
	char rcpt[ADDR_MAX + sizeof(POLICY_SENT_COPY_DOMAIN) + 4];
	char inner[sizeof(rcpt) - 2];
	unsigned int i;

	for (i = 0; i < s->ncopies; i++) {
		if (policy_sent_copy_rcpt(s->copies[i], inner,
					  sizeof(inner)) < 0) {
			milter_log(ctx, s, "reject", "from", s->copies[i],
				   NULL, "sent_copy_too_long", NULL);
			milter_set_verdict(s, MILTER_VERDICT_REJECT, "550",
					   "5.7.1", "From", "address too long"
					   " for a sent copy");
			return;
		}
		snprintf(rcpt, sizeof(rcpt), "<%s>", inner);
		/* Postfix refuses only when it cannot (no SMFIF_ADDRCPT
		   negotiated, a broken connection): then 451, the client
		   sends again, and nothing was accepted without a copy. */
		if (smfi_addrcpt(ctx, rcpt) != MI_SUCCESS) {
			milter_log(ctx, s, "defer", "from", s->copies[i],
				   NULL, "sent_copy_failed",
				   "smfi_addrcpt failed");
			milter_set_verdict(s, MILTER_VERDICT_TEMPFAIL, "451",
					   "4.3.0", "From", "cannot file the "
					   "sent copy; please try again later");
			return;
		}
		milter_log(ctx, s, "sent_copy", "from", s->copies[i], NULL,
			   "sent_copies", NULL);
	}
}

/* milter_eoh - end of the headers: the verdict, or wait for the end */
static sfsistat milter_eoh(SMFICTX *ctx)
{
	struct milter_session *s = smfi_getpriv(ctx);

	if (s == NULL)
		return SMFIS_TEMPFAIL;
	/* First the From: addresses sent on behalf: their Sender: is
	   known now, and their sent copies count below. */
	milter_on_behalf(ctx, s);
	/* Recipients can only be added at the end of the message. */
	if (s->verdict == MILTER_VERDICT_NONE && s->ncopies > 0)
		return SMFIS_CONTINUE;
	return milter_verdict(ctx, s);
}

/* milter_eom - end of the message: add the copies, give the verdict */
static sfsistat milter_eom(SMFICTX *ctx)
{
	struct milter_session *s = smfi_getpriv(ctx);

	if (s == NULL)
		return SMFIS_TEMPFAIL;
	milter_on_behalf(ctx, s);	/* done at the end of the headers */
	if (s->verdict == MILTER_VERDICT_NONE && s->ncopies > 0)
		milter_add_copies(ctx, s);
	return milter_verdict(ctx, s);
}

/* milter_abort - the message ended early */
static sfsistat milter_abort(SMFICTX *ctx)
{
	struct milter_session *s = smfi_getpriv(ctx);

	if (s != NULL)
		milter_message_reset(s);
	return SMFIS_CONTINUE;
}

/* milter_close - the session ended */
static sfsistat milter_close(SMFICTX *ctx)
{
	struct milter_session *s = smfi_getpriv(ctx);

	if (s != NULL) {
		milter_message_reset(s);
		free(s);
		(void)smfi_setpriv(ctx, NULL);
	}
	return SMFIS_CONTINUE;
}

static struct smfiDesc milter_desc = {
	.xxfi_name = MILTER_NAME,
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_ADDRCPT,
	.xxfi_envfrom = milter_envfrom,
	.xxfi_header = milter_header,
	.xxfi_eoh = milter_eoh,
	.xxfi_eom = milter_eom,
	.xxfi_abort = milter_abort,
	.xxfi_close = milter_close,
	.xxfi_negotiate = milter_negotiate,
};

enum {
	OPT_BACKLOG = DAEMON_OPT_OWN,
};

static const struct option milter_options[] = {
	DAEMON_OPTIONS,
	{ "backlog", required_argument, NULL, OPT_BACKLOG },
	{ NULL, 0, NULL, 0 },
};

/* How to call it (--help, and a usage error). */
#define MILTER_USAGE "usage: " MILTER_NAME " [-c FILE] --listen " \
	"unix:PATH|inet:PORT@HOST [--user NAME]\n" \
	"\t[--foreground] [--timeout SECS] [--backlog N]\n"

/* main - options, socket, replica, privileges, serve */
int main(int argc, char **argv)
{
	struct daemon_options opts = { .config_path = CONFIG_DEFAULT_PATH };
	const char *listen_spec = NULL, *error;
	int timeout = 600, backlog = 128, opt, ret;
	struct config *cfg;

	while ((opt = getopt_long(argc, argv, "c:h", milter_options,
				  NULL)) != -1) {
		if (daemon_option(&opts, opt, optarg))
			continue;
		switch (opt) {
		case DAEMON_OPT_LISTEN:
			listen_spec = optarg;
			break;
		case DAEMON_OPT_TIMEOUT:
			timeout = (int)daemon_number(MILTER_NAME, "timeout",
						     optarg);
			break;
		case OPT_BACKLOG:
			backlog = (int)daemon_number(MILTER_NAME, "backlog",
						     optarg);
			break;
		case 'h':
		case DAEMON_OPT_HELP:
			daemon_usage(0, MILTER_USAGE);
		default:
			daemon_usage(1, MILTER_USAGE);
		}
	}
	if (optind != argc || listen_spec == NULL || listen_spec[0] == '\0')
		daemon_usage(1, MILTER_USAGE);

	msg_init(MILTER_NAME, opts.foreground);
	if (daemon_config_read(opts.config_path, &cfg, &error) < 0)
		msg_fatal("%s", error);
	milter_replica.cfg = cfg;
	replica_handle_open(cfg->replica, cfg->replica_max_age,
			    &milter_replica.handle);
	if (smfi_register(milter_desc) != MI_SUCCESS)
		msg_fatal("smfi_register failed");
	/* libmilter keeps the pointer; listen_spec lives in argv. */
	if (smfi_setconn((char *)listen_spec) != MI_SUCCESS ||
	    smfi_settimeout(timeout) != MI_SUCCESS ||
	    smfi_setbacklog(backlog) != MI_SUCCESS)
		msg_fatal("--listen %s: not a milter socket; use unix:/path "
			  "or inet:port@host", listen_spec);
	/* Mode 0666 from the start (no chmod by name afterwards, which a
	   symlink swapped in could redirect): who may connect is decided
	   by the directory the socket is in (Postfix's private/ is 0700
	   postfix). */
	mode_t old_umask = umask(0111);
	int opened = smfi_opensocket(true);

	umask(old_umask);
	if (opened != MI_SUCCESS)
		msg_fatal("--listen %s: cannot open the socket; use unix:/path"
			  " (its directory must exist and be writable by this"
			  " user) or inet:port@host (a free port on a local "
			  "address)", listen_spec);
	if (daemon_drop_privileges(opts.user, &error) < 0)
		msg_fatal("%s", error);
	/* As the reader, never as root (mailgrants-policyd.c). */
	milter_replica_check(true);
	if (daemon_reads_secret(cfg->ldap_bind_password_file, &error) > 0)
		msg_warn("%s", error);
	if (!opts.foreground && daemon(0, 0) < 0)
		msg_fatal("daemon: %m");

	msg_info("ready: replica %s, socket %s", cfg->replica, listen_spec);
	ret = smfi_main();
	msg_info("stopped");
	pthread_mutex_lock(&milter_replica.lock);
	replica_handle_close(&milter_replica.handle);
	pthread_mutex_unlock(&milter_replica.lock);
	config_free(&cfg);
	return ret == MI_SUCCESS ? 0 : 1;
}
