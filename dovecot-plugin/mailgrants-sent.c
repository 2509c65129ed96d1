/*
 * NAME
 *	mailgrants-sent - the client's own sent copy wins over the server's
 * SYNOPSIS
 *	#include "mailgrants-plugin.h"
 *
 *	void mailgrants_sent_saved(struct mailbox *box,
 *				   const ARRAY_TYPE(seq_range) *uids);
 * DESCRIPTION
 *	Mail sent as a mailbox with sent copies is filed by the server
 *	into that mailbox's Sent folder with the keyword
 *	$MailgrantsSentCopy (lmtp_mailgrants, README "Sent copies"). A
 *	client that also saves its own copy there (APPEND, or COPY from
 *	another folder) usually does so after sending, so after the
 *	server's copy arrived: mailgrants_sent_saved(), called after such
 *	a save committed in a granted mailbox, expunges the server's
 *	copies with the Message-ID of a message just saved, among the
 *	last MAILGRANTS_SENT_WINDOW messages. The client's
 *	copy is kept (it has the Bcc: the transmitted one lacks, and it
 *	is the one the client knows by UID); lmtp_mailgrants, for its
 *	part, files nothing when the client's copy came first. Either
 *	way one copy stays: each side looks after its own write, so two
 *	that overlap still end with the client's.
 *
 *	Only messages with the keyword go, and never one just saved: a
 *	client's copies of the same message are its own business. When
 *	the user may not expunge there (rights without "t" or "e"), the
 *	ACL plugin refuses, and both copies stay.
 * SEE ALSO
 *	mailgrants-lmtp.c
 */

#include "lib.h"
#include "array.h"
#include "seq-range-array.h"
#include "mail-storage-private.h"
#include "mail-search-build.h"
#include "mailgrants-plugin.h"

/* mailgrants-lmtp.c sets it on every copy it files. */
#define MAILGRANTS_SENT_KEYWORD "$MailgrantsSentCopy"
/* A client saving many messages at once is not sending: this many
   Message-IDs are looked at, no more. */
#define MAILGRANTS_SENT_IDS_MAX 16
/* The server's copy came shortly before the client's: it is looked for
   among the last this many messages (as mailgrants-lmtp.c does). */
#define MAILGRANTS_SENT_WINDOW 200

/* mailgrants_sent_drop - expunge the server's copies of one Message-ID */
static void mailgrants_sent_drop(struct mailbox_transaction_context *t,
				 const ARRAY_TYPE(seq_range) *uids,
				 const char *msgid)
{
	struct mail_search_context *search;
	struct mailbox_status status;
	struct mail_search_args *args;
	struct mail_search_arg *arg;
	struct mail *mail;

	mailbox_get_open_status(t->box, STATUS_MESSAGES, &status);
	if (status.messages == 0)
		return;
	args = mail_search_build_init();
	mail_search_build_add_seqset(args, status.messages >
				     MAILGRANTS_SENT_WINDOW ? status.messages -
				     MAILGRANTS_SENT_WINDOW + 1 : 1,
				     status.messages);
	arg = mail_search_build_add(args, SEARCH_HEADER);
	arg->hdr_field_name = p_strdup(args->pool, "Message-ID");
	arg->value.str = p_strdup(args->pool, msgid);
	search = mailbox_search_init(t, args, NULL, 0, NULL);
	mail_search_args_unref(&args);
	while (mailbox_search_next(search, &mail)) {
		const char *other;

		/* HEADER matches substrings: the whole value must agree. */
		if (!seq_range_exists(uids, mail->uid) &&
		    str_array_find(mail_get_keywords(mail),
				   MAILGRANTS_SENT_KEYWORD) &&
		    mail_get_first_header(mail, "Message-ID", &other) > 0 &&
		    strcmp(other, msgid) == 0)
			mail_expunge(mail);
	}
	(void)mailbox_search_deinit(&search);
}

/* mailgrants_sent_saved - after a save: drop the server's sent copies */
void mailgrants_sent_saved(struct mailbox *box,
			   const ARRAY_TYPE(seq_range) *uids)
{
	struct mailbox_transaction_context *t;
	struct seq_range_iter iter;
	ARRAY_TYPE(const_string) ids;
	const char *const *idp;
	struct mailbox *own;
	struct mail *mail;
	unsigned int n = 0;
	uint32_t uid;

	if (array_count(uids) == 0)
		return;
	/* A mailbox of its own: box may be the one the client has
	   selected (APPEND to it), whose view only imap may sync. */
	own = mailbox_alloc(box->list, box->vname, 0);
	box = own;
	T_BEGIN {
		if (mailbox_sync(box, 0) < 0) {
			e_debug(box->event, "sent copies: sync failed: %s",
				mailbox_get_last_internal_error(box, NULL));
		} else {
			t = mailbox_transaction_begin(box, 0,
						      "mailgrants sent copy");
			mail = mail_alloc(t, 0, NULL);
			t_array_init(&ids, 4);
			seq_range_array_iter_init(&iter, uids);
			while (n < MAILGRANTS_SENT_IDS_MAX &&
			       seq_range_array_iter_nth(&iter, n++, &uid)) {
				const char *id;

				if (mail_set_uid(mail, uid) &&
				    mail_get_first_header(mail, "Message-ID",
							  &id) > 0 &&
				    id[0] != '\0') {
					id = t_strdup(id);
					array_push_back(&ids, &id);
				}
			}
			mail_free(&mail);
			array_foreach(&ids, idp)
				mailgrants_sent_drop(t, uids, *idp);
			/* The sync carries the expunges out (maildir
			   unlinks the files then). */
			if (mailbox_transaction_commit(&t) < 0 ||
			    (array_count(&ids) > 0 &&
			     mailbox_sync(box, 0) < 0))
				e_debug(box->event, "sent copies: %s",
					mailbox_get_last_internal_error(box,
									NULL));
		}
	} T_END;
	mailbox_free(&own);
}
