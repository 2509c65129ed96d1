/*
 * NAME
 *	lib95_lmtp_mailgrants_plugin.so - sent copies into the mailbox's
 *	own Sent folder (Dovecot LMTP and LDA)
 * DESCRIPTION
 *	mailgrants-milter adds a recipient for every message sent as a
 *	mailbox that keeps sent copies (README "Sent copies"): the
 *	mailbox's primary address with ".sent.mailgrants.invalid"
 *	appended to its domain. Postfix hands it to LMTP like any other
 *	recipient, and the shipped sql userdb resolves it to the mailbox.
 *	This plugin takes such deliveries in Dovecot's deliver_mail hook
 *	(lib-lda, as Pigeonhole's sieve does) and files them:
 *
 *	- into the folder with special-use \Sent of the mailbox's private
 *	  namespaces; else the one its inbox namespace's configuration
 *	  marks \Sent ("mailbox "Sent Items" { special_use = \Sent }"),
 *	  created when missing; else "Sent" of its inbox namespace,
 *	  created when missing (only the namespace's "mailbox Sent {
 *	  special_use = \Sent }" gives it the flag: Dovecot reads special
 *	  use from the configuration, nothing sets it at run time);
 *	- with \Seen, and the keyword $MailgrantsSentCopy (what the server
 *	  filed, as opposed to what a client saved);
 *	- once: a Sent folder that already holds a message with the same
 *	  Message-ID among its last LMTP_MAILGRANTS_WINDOW messages (the
 *	  client saved its own copy there first) gets nothing more. The client's copy wins: it is the one the sender
 *	  sees as sent, with its Bcc:.
 *	- never anywhere else: a copy that cannot be filed fails the
 *	  delivery temporarily (LMTP 4xx), and Postfix delivers it later.
 *
 *	Every other delivery goes on to the next hook (sieve) unchanged.
 *	The file name's 95 loads it after Pigeonhole's lib90_sieve, so
 *	that this hook runs first and a mailbox's sieve script never sees
 *	a sent copy. Only the lmtp and lda processes have lib-lda: the
 *	plugin belongs in their mail_plugins only (90-mailgrants.conf).
 * SEE ALSO
 *	README.md "Sent copies", mailgrants-milter(8), lib/policy.h
 *	(POLICY_SENT_COPY_DOMAIN)
 */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "smtp-address.h"
#include "mail-storage.h"
#include "mail-storage-settings.h"
#include "mail-namespace.h"
#include "mail-search-build.h"
#include "mailbox-list-iter.h"
#include "mail-deliver.h"

#include <strings.h>

/* lib/policy.h: POLICY_SENT_COPY_DOMAIN, with its dot. */
#define LMTP_MAILGRANTS_SUFFIX ".sent.mailgrants.invalid"
#define LMTP_MAILGRANTS_KEYWORD "$MailgrantsSentCopy"
#define LMTP_MAILGRANTS_SENT "Sent"
/* The client's own copy is among the last messages saved there: it is
   looked for among this many, so that a delivery costs the same in a
   Sent folder of any size (bench-sent: without a limit, filing slowed
   down with every copy, 84 -> 53 per second from 2,000 to 6,600). */
#define LMTP_MAILGRANTS_WINDOW 200

const char *lmtp_mailgrants_plugin_version = DOVECOT_ABI_VERSION;

void lmtp_mailgrants_plugin_init(struct module *module);
void lmtp_mailgrants_plugin_deinit(void);

static deliver_mail_func_t *lmtp_mailgrants_next_deliver_mail;

/* lmtp_mailgrants_is_copy - is this recipient a sent copy's? */
static bool lmtp_mailgrants_is_copy(const struct smtp_address *rcpt)
{
	size_t len, slen = strlen(LMTP_MAILGRANTS_SUFFIX);

	if (rcpt == NULL || rcpt->domain == NULL)
		return FALSE;
	len = strlen(rcpt->domain);
	return len > slen &&
		strcasecmp(rcpt->domain + len - slen,
			   LMTP_MAILGRANTS_SUFFIX) == 0;
}

/* lmtp_mailgrants_sent_set - the folder that ns's configuration marks
   \Sent ("mailbox Sent Items { special_use = \Sent }"), or NULL: it is
   listed as \Sent only once it exists, and the site meant this one. */
static const char *lmtp_mailgrants_sent_set(struct mail_namespace *ns)
{
#if DOVECOT_PREREQ(2, 4, 0)
	const struct mailbox_settings *set;
	const char *use;

	if (!array_is_created(&ns->set->parsed_mailboxes))
		return NULL;
	array_foreach_elem(&ns->set->parsed_mailboxes, set) {
		if (!array_is_created(&set->special_use))
			continue;
		array_foreach_elem(&set->special_use, use) {
			if (strcasecmp(use, "\\Sent") == 0)
				return mailbox_settings_get_vname(
					unsafe_data_stack_pool, ns, set);
		}
	}
#else
	struct mailbox_settings *set;

	if (!array_is_created(&ns->set->mailboxes))
		return NULL;
	array_foreach_elem(&ns->set->mailboxes, set) {
		if (str_array_icase_find(t_strsplit_spaces(set->special_use,
							   " "), "\\Sent"))
			return t_strconcat(ns->prefix, set->name, NULL);
	}
#endif
	return NULL;
}

/* lmtp_mailgrants_sent_name - the vname of the mailbox's Sent folder */
static const char *lmtp_mailgrants_sent_name(struct mail_user *user)
{
	static const char *const patterns[] = { "*", NULL };
	struct mailbox_list_iterate_context *iter;
	const struct mailbox_info *info;
	struct mail_namespace *ns;
	const char *name = NULL;

	iter = mailbox_list_iter_init_namespaces(user->namespaces, patterns,
			MAIL_NAMESPACE_TYPE_PRIVATE,
			MAILBOX_LIST_ITER_SELECT_SPECIALUSE |
			MAILBOX_LIST_ITER_RETURN_SPECIALUSE);
	while (name == NULL &&
	       (info = mailbox_list_iter_next(iter)) != NULL) {
		if (info->special_use != NULL &&
		    str_array_icase_find(t_strsplit_spaces(info->special_use,
							   " "), "\\Sent"))
			name = t_strdup(info->vname);
	}
	/* An error of the listing leaves the default name: creating or
	   saving it reports what is wrong. */
	(void)mailbox_list_iter_deinit(&iter);
	if (name != NULL)
		return name;
	ns = mail_namespace_find_inbox(user->namespaces);
	if ((name = lmtp_mailgrants_sent_set(ns)) != NULL)
		return name;
	return t_strconcat(ns->prefix, LMTP_MAILGRANTS_SENT, NULL);
}

/* lmtp_mailgrants_prepare - create Sent if missing; is the message there
   already (by Message-ID)? 1 yes, 0 no, -1 error */
static int lmtp_mailgrants_prepare(struct mail_deliver_context *ctx,
				   const char *name,
				   struct mail_storage **storage_r)
{
	struct mail_search_args *args;
	struct mail_search_arg *arg;
	struct mail_search_context *search;
	struct mailbox_transaction_context *t;
	struct mailbox_status status;
	struct mailbox *box;
	struct mail *mail;
	enum mail_error error;
	const char *msgid;
	int ret = 0;

	box = mailbox_alloc_for_user(ctx->rcpt_user, name,
				     MAILBOX_FLAG_POST_SESSION);
	if (mailbox_create(box, NULL, FALSE) < 0) {
		(void)mailbox_get_last_error(box, &error);
		if (error != MAIL_ERROR_EXISTS) {
			*storage_r = mailbox_get_storage(box);
			mailbox_free(&box);
			return -1;
		}
	}
	if (mail_get_first_header(ctx->src_mail, "Message-ID",
				  &msgid) <= 0 || msgid[0] == '\0') {
		/* Nothing to compare by: filed, whatever is there. */
		mailbox_free(&box);
		return 0;
	}
	if (mailbox_sync(box, 0) < 0) {
		*storage_r = mailbox_get_storage(box);
		mailbox_free(&box);
		return -1;
	}
	mailbox_get_open_status(box, STATUS_MESSAGES, &status);
	if (status.messages == 0) {
		mailbox_free(&box);
		return 0;
	}
	args = mail_search_build_init();
	mail_search_build_add_seqset(args, status.messages >
				     LMTP_MAILGRANTS_WINDOW ? status.messages -
				     LMTP_MAILGRANTS_WINDOW + 1 : 1,
				     status.messages);
	arg = mail_search_build_add(args, SEARCH_HEADER);
	arg->hdr_field_name = p_strdup(args->pool, "Message-ID");
	arg->value.str = p_strdup(args->pool, msgid);
	t = mailbox_transaction_begin(box, 0, "mailgrants sent copy");
	search = mailbox_search_init(t, args, NULL, 0, NULL);
	mail_search_args_unref(&args);
	while (ret == 0 && mailbox_search_next(search, &mail)) {
		const char *other;

		/* HEADER is a substring match: compare the whole value. */
		if (mail_get_first_header(mail, "Message-ID", &other) > 0 &&
		    strcmp(other, msgid) == 0)
			ret = 1;
	}
	if (mailbox_search_deinit(&search) < 0)
		ret = -1;
	(void)mailbox_transaction_commit(&t);
	if (ret < 0)
		*storage_r = mailbox_get_storage(box);
	mailbox_free(&box);
	return ret;
}

/* lmtp_mailgrants_file - file one sent copy: 1 done, -1 failed */
static int lmtp_mailgrants_file(struct mail_deliver_context *ctx,
				struct mail_storage **storage_r)
{
	static const char *const keywords[] = {
		LMTP_MAILGRANTS_KEYWORD, NULL
	};
	const char *name = lmtp_mailgrants_sent_name(ctx->rcpt_user);
	int ret;

	ret = lmtp_mailgrants_prepare(ctx, name, storage_r);
	if (ret < 0)
		return -1;
	if (ret > 0) {
		e_info(ctx->event, "sent copy: %s has this Message-ID "
		       "already; not filed again", name);
		return 1;
	}
	if (mail_deliver_save(ctx, name, MAIL_SEEN, keywords,
			      storage_r) < 0)
		return -1;
	return 1;
}

/* lmtp_mailgrants_deliver - the deliver_mail hook */
static int lmtp_mailgrants_deliver(struct mail_deliver_context *ctx,
				   struct mail_storage **storage_r)
{
	int ret;

	if (!lmtp_mailgrants_is_copy(ctx->rcpt_to)) {
		if (lmtp_mailgrants_next_deliver_mail == NULL)
			return 0;	/* the default: INBOX */
		return lmtp_mailgrants_next_deliver_mail(ctx, storage_r);
	}
	/* A sent copy goes to Sent or nowhere: without this, a failure
	   here would make lib-lda save it into INBOX instead. */
	ctx->tried_default_save = TRUE;
	T_BEGIN {
		ret = lmtp_mailgrants_file(ctx, storage_r);
	} T_END;
	return ret;
}

/* lmtp_mailgrants_plugin_init - put the hook in place */
void lmtp_mailgrants_plugin_init(struct module *module ATTR_UNUSED)
{
	lmtp_mailgrants_next_deliver_mail =
		mail_deliver_hook_set(lmtp_mailgrants_deliver);
}

/* lmtp_mailgrants_plugin_deinit - and take it away */
void lmtp_mailgrants_plugin_deinit(void)
{
	mail_deliver_hook_set(lmtp_mailgrants_next_deliver_mail);
}
