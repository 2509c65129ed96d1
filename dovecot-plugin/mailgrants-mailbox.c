/*
 * NAME
 *	mailgrants-mailbox - what an open mailbox still gives when its
 *	grant ends
 * SYNOPSIS
 *	#include "mailgrants-plugin.h"
 *
 *	void mailgrants_mailbox_allocated(struct mailbox *box);
 *	void mailgrants_mail_allocated(struct mail *mail);
 * DESCRIPTION
 *	The ACL plugin checks rights when a mailbox is opened and when
 *	something is written; what an open mailbox hands out (FETCH,
 *	SEARCH, COPY, MOVE) is not checked again. A grant that ends while
 *	a session has its mailbox selected would then be acted on only at
 *	the end of a command, in the sync that finds the mailbox
 *	"inconsistent": the command itself, however late, still ran. And
 *	a client that pipelines its commands keeps Dovecot from syncing
 *	at all.
 *
 *	So the grant is checked where content leaves a mailbox below one
 *	of our roots, before it leaves:
 *
 *	mail		get_stream, get_binary_stream, get_header_stream,
 *			get_headers, get_first_header, get_parts,
 *			get_special (envelope, body structure, ...): the
 *			message content however it is asked for;
 *	search		search_next_nonblock: every FETCH, STORE, SEARCH,
 *			COPY and MOVE walks its messages with it, so a
 *			long command stops at the next message;
 *			search_deinit then fails the command;
 *	copy		on every mailbox of the user (the destination):
 *			a COPY or MOVE whose source is one of ours; maildir
 *			hard-links and never reads the message;
 *	istream		every read of a message file (istream_opened wraps
 *			it): a large message that is still being sent
 *			when the grant ends is cut off, and imap
 *			disconnects ("FETCH read() failed").
 *
 *	A failed check sets MAIL_ERROR_PERM with a text that asks to log
 *	in again; the mailbox is then "inconsistent", and imap ends the
 *	session after the tagged answer (FETCH: "* BYE FETCH failed").
 *	Revocation is final for that mailbox.
 *
 *	The check costs no replica query per message: the grants are
 *	read at most once per mailgrants_cache_secs (mailgrants_user_
 *	update()), and a mailbox looks at them again only when they
 *	were refreshed. The clock is read at each check, not taken from
 *	the start of the ioloop run: a COPY of many messages runs in one.
 *	With grants at most mailgrants_cache_secs old, nothing leaves a
 *	mailbox later than that after the replica lost the grant.
 *
 *	A mailbox in IDLE gets no command to check: a timer fires when
 *	the user's grants expire and wakes IDLE if the grant ended, so
 *	that the session ends within the cache time also without
 *	traffic. A timer alone would not do: a client that keeps
 *	sending commands never lets it matter, and commands that do not
 *	sync never look.
 *
 *	A granted owner without storage yet (no mail ever came) gets
 *	its INBOX created at the first open, as Dovecot 2.3 does by
 *	itself and 2.4 no longer does: the same on both versions.
 *
 *	An owner's prefix (Company/info@abc.com) is the owner's INBOX
 *	(mail_shared_explicit_inbox = no), with the owner's folders below
 *	it: a grantee works in it with every check above, but does not
 *	delete or rename it (nor rename anything onto it); Dovecot has no
 *	such rule for another user's INBOX, and "x" in a grant is meant
 *	for the owner's folders.
 */

#include "lib.h"
#include "ioloop.h"
/* istream.h declares a callback as "void (*callback)()". */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include "istream-private.h"
#pragma GCC diagnostic pop
#include "mail-storage-private.h"
#include "mailgrants-plugin.h"

/* What the client reads when its grant ended under an open mailbox. */
#define MAILGRANTS_ERR_REVOKED \
	"Access to this mailbox has ended (mailgrants), please relogin."
#define MAILGRANTS_ERR_INBOX \
	"The mailbox itself cannot be deleted or renamed, only its folders."

/* The IDLE timer fires this long after the grants expire, so that the
   refresh sees them expired (refreshed_at has whole seconds). */
#define MAILGRANTS_NOTIFY_SLACK_MSECS 50

#define MAILGRANTS_MAILBOX_CONTEXT(obj) \
	MODULE_CONTEXT(obj, mailgrants_mailbox_module)
#define MAILGRANTS_MAIL_CONTEXT(obj) \
	MODULE_CONTEXT(obj, mailgrants_mail_module)

struct mailgrants_mailbox {
	union mailbox_module_context module_ctx;
	struct timeout *to_notify;
	/* Grants generation of the last check that found the grant. */
	unsigned int generation;
	/* In an owner's namespace below one of our roots; otherwise only
	   copy is watched (the mailbox may be a COPY's destination). */
	bool granted:1;
	/* The owner's INBOX, listed as the owner's prefix. */
	bool inbox:1;
	/* The grant ended: nothing more leaves this mailbox. */
	bool revoked:1;
};

static MODULE_CONTEXT_DEFINE_INIT(mailgrants_mailbox_module,
				  &mail_storage_module_register);
static MODULE_CONTEXT_DEFINE_INIT(mailgrants_mail_module,
				  &mail_module_register);

/* A message file's stream, read only while the grant lasts. It keeps
   the user (referenced) and the grant's name rather than the mailbox:
   a stream may outlive the mail that opened it. */
struct mailgrants_istream {
	struct istream_private istream;
	struct mail_user *user;
	enum mailgrants_category category;
	char *owner;
	unsigned int generation;	/* of the last check that passed */
};

/* mailgrants_letters_lost - do these letters no longer give access */
static bool mailgrants_letters_lost(const char *letters)
{
	/* Without "l" or "r" the mailbox is neither listed nor readable:
	   losing either ends access like losing the grant. */
	return strchr(letters, 'l') == NULL || strchr(letters, 'r') == NULL;
}

/* mailgrants_mailbox_lost - has the grant behind box ended */
static bool mailgrants_mailbox_lost(struct mailbox *box)
{
	return mailgrants_letters_lost(
		mailgrants_namespace_letters(box->list->ns));
}

/* mailgrants_mailbox_revoked - check the grant, at most once per refresh */
static bool mailgrants_mailbox_revoked(struct mailbox *box)
{
	struct mailgrants_mailbox *mbox = MAILGRANTS_MAILBOX_CONTEXT(box);
	struct mailgrants_user *muser;
	struct event *event;

	if (mbox == NULL || !mbox->granted)
		return FALSE;
	if (mbox->revoked)
		return TRUE;
	muser = MAILGRANTS_USER_CONTEXT(box->storage->user);
	if (muser == NULL)
		return FALSE;
	/* ioloop_time is when this ioloop run began; a long COPY or
	   SEARCH runs in one. The clock is cheap, a query is not:
	   mailgrants_user_update() queries only when the grants are
	   older than mailgrants_cache_secs. */
	io_loop_time_refresh();
	mailgrants_user_update(box->storage->user);
	if (mbox->generation == muser->generation)
		return FALSE;
	if (!mailgrants_mailbox_lost(box)) {
		mbox->generation = muser->generation;
		return FALSE;
	}
	mbox->revoked = TRUE;
	/* the mailbox's event: its fields and prefix, and ours */
	event = event_create(box->event);
	event_set_append_log_prefix(event, "mailgrants: ");
	e_info(event, "access to %s ended", box->vname);
	event_unref(&event);
	return TRUE;
}

/* mailgrants_mailbox_refuse - the error of a revoked mailbox */
static void mailgrants_mailbox_refuse(struct mail_storage *storage)
{
	mail_storage_set_error(storage, MAIL_ERROR_PERM,
			       MAILGRANTS_ERR_REVOKED);
}

/* mailgrants_mail_super - the mail's functions before ours, while its
   content may still be read; NULL (the error set) once it may not */
static struct mail_vfuncs *mailgrants_mail_super(struct mail *_mail)
{
	struct mail_private *mail = (struct mail_private *)_mail;
	union mail_module_context *mmail = MAILGRANTS_MAIL_CONTEXT(mail);

	if (mailgrants_mailbox_revoked(_mail->box)) {
		mailgrants_mailbox_refuse(_mail->box->storage);
		return NULL;
	}
	return &mmail->super;
}

/* mailgrants_mail_get_parts - the MIME structure, while granted */
static int mailgrants_mail_get_parts(struct mail *_mail,
				     struct message_part **parts_r)
{
	struct mail_vfuncs *super = mailgrants_mail_super(_mail);

	return super == NULL ? -1 : super->get_parts(_mail, parts_r);
}

/* mailgrants_mail_get_first_header - a header, while granted */
static int mailgrants_mail_get_first_header(struct mail *_mail,
					    const char *field,
					    bool decode_to_utf8,
					    const char **value_r)
{
	struct mail_vfuncs *super = mailgrants_mail_super(_mail);

	return super == NULL ? -1 :
		super->get_first_header(_mail, field, decode_to_utf8, value_r);
}

/* mailgrants_mail_get_headers - headers, while granted */
static int mailgrants_mail_get_headers(struct mail *_mail, const char *field,
				       bool decode_to_utf8,
				       const char *const **value_r)
{
	struct mail_vfuncs *super = mailgrants_mail_super(_mail);

	return super == NULL ? -1 :
		super->get_headers(_mail, field, decode_to_utf8, value_r);
}

/* mailgrants_mail_get_header_stream - header fields, while granted */
static int
mailgrants_mail_get_header_stream(struct mail *_mail,
				  struct mailbox_header_lookup_ctx *headers,
				  struct istream **stream_r)
{
	struct mail_vfuncs *super = mailgrants_mail_super(_mail);

	return super == NULL ? -1 :
		super->get_header_stream(_mail, headers, stream_r);
}

/* mailgrants_mail_get_stream - the message, while granted */
static int mailgrants_mail_get_stream(struct mail *_mail, bool get_body,
				      struct message_size *hdr_size,
				      struct message_size *body_size,
				      struct istream **stream_r)
{
	struct mail_vfuncs *super = mailgrants_mail_super(_mail);

	return super == NULL ? -1 :
		super->get_stream(_mail, get_body, hdr_size, body_size,
				  stream_r);
}

#if DOVECOT_PREREQ(2, 4, 0)
/* mailgrants_mail_get_binary_stream - a decoded part, while granted */
static int
mailgrants_mail_get_binary_stream(struct mail *_mail,
				  const struct message_part *part,
				  bool include_hdr,
				  struct mail_binary_properties *bin_props_r,
				  struct istream **stream_r)
{
	struct mail_vfuncs *super = mailgrants_mail_super(_mail);

	return super == NULL ? -1 :
		super->get_binary_stream(_mail, part, include_hdr,
					 bin_props_r, stream_r);
}
#else
/* mailgrants_mail_get_binary_stream - a decoded part, while granted */
static int
mailgrants_mail_get_binary_stream(struct mail *_mail,
				  const struct message_part *part,
				  bool include_hdr, uoff_t *size_r,
				  unsigned int *lines_r, bool *binary_r,
				  struct istream **stream_r)
{
	struct mail_vfuncs *super = mailgrants_mail_super(_mail);

	return super == NULL ? -1 :
		super->get_binary_stream(_mail, part, include_hdr, size_r,
					 lines_r, binary_r, stream_r);
}
#endif

/* mailgrants_mail_get_special - envelope, body structure, ... */
static int mailgrants_mail_get_special(struct mail *_mail,
				       enum mail_fetch_field field,
				       const char **value_r)
{
	struct mail_vfuncs *super = mailgrants_mail_super(_mail);

	return super == NULL ? -1 :
		super->get_special(_mail, field, value_r);
}

/* mailgrants_istream_lost - has the grant of this stream's mail ended */
static bool mailgrants_istream_lost(struct mailgrants_istream *mstream)
{
	struct mailgrants_user *muser = MAILGRANTS_USER_CONTEXT(mstream->user);
	const struct mailgrants_grant *grant;

	if (muser == NULL)
		return FALSE;
	/* as in mailgrants_mailbox_revoked(): the clock now, a query at
	   most once per cache period, a look at the grants once per
	   refresh */
	io_loop_time_refresh();
	mailgrants_user_update(mstream->user);
	if (mstream->generation == muser->generation)
		return FALSE;
	grant = mailgrants_user_find(mstream->user, mstream->category,
				     mstream->owner);
	if (grant == NULL || mailgrants_letters_lost(grant->letters))
		return TRUE;
	mstream->generation = muser->generation;
	return FALSE;
}

/* mailgrants_istream_read - pass data on while the grant lasts */
static ssize_t mailgrants_istream_read(struct istream_private *stream)
{
	struct mailgrants_istream *mstream =
		container_of(stream, struct mailgrants_istream, istream);

	if (mailgrants_istream_lost(mstream)) {
		io_stream_set_error(&stream->iostream, "%s",
				    MAILGRANTS_ERR_REVOKED);
		stream->istream.stream_errno = EACCES;
		return -1;
	}
	/* The parent may be shared and moved by someone else. */
	i_stream_seek(stream->parent, stream->parent_start_offset +
		      stream->istream.v_offset);
	return i_stream_read_copy_from_parent(&stream->istream);
}

/* mailgrants_istream_destroy - drop the user and the name */
static void mailgrants_istream_destroy(struct iostream_private *stream)
{
	struct mailgrants_istream *mstream =
		container_of(stream, struct mailgrants_istream,
			     istream.iostream);

	i_free(mstream->owner);
	mail_user_unref(&mstream->user);
}

/* mailgrants_mail_istream_opened - read the message only while granted */
static int mailgrants_mail_istream_opened(struct mail *_mail,
					  struct istream **stream)
{
	struct mail_private *mail = (struct mail_private *)_mail;
	union mail_module_context *mmail = MAILGRANTS_MAIL_CONTEXT(mail);
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(_mail->box->list);
	struct mailgrants_istream *mstream;
	struct istream *input;

	if (mmail->super.istream_opened != NULL &&
	    mmail->super.istream_opened(_mail, stream) < 0)
		return -1;
	input = *stream;
	mstream = i_new(struct mailgrants_istream, 1);
	mstream->user = _mail->box->storage->user;
	mail_user_ref(mstream->user);
	mstream->category = mlist->category;
	mstream->owner = i_strdup(mlist->owner);
	mstream->istream.max_buffer_size = input->real_stream->max_buffer_size;
	mstream->istream.stream_size_passthrough = TRUE;
	mstream->istream.read = mailgrants_istream_read;
	mstream->istream.iostream.destroy = mailgrants_istream_destroy;
	/* Not readable_fd: sendfile() from the file would skip read(). */
	mstream->istream.istream.readable_fd = FALSE;
	mstream->istream.istream.blocking = input->blocking;
	mstream->istream.istream.seekable = input->seekable;
	*stream = i_stream_create(&mstream->istream, input,
				  i_stream_get_fd(input), 0);
	i_stream_unref(&input);
	return 0;
}

/* mailgrants_mail_allocated - guard the content of our mailboxes' mails */
void mailgrants_mail_allocated(struct mail *_mail)
{
	struct mailgrants_mailbox *mbox = MAILGRANTS_MAILBOX_CONTEXT(_mail->box);
	struct mail_private *mail = (struct mail_private *)_mail;
	struct mail_vfuncs *v = mail->vlast;
	union mail_module_context *mmail;

	if (mbox == NULL || !mbox->granted)
		return;
	mmail = p_new(mail->pool, union mail_module_context, 1);
	mmail->super = *v;
	mail->vlast = &mmail->super;
	v->get_parts = mailgrants_mail_get_parts;
	v->get_first_header = mailgrants_mail_get_first_header;
	v->get_headers = mailgrants_mail_get_headers;
	v->get_header_stream = mailgrants_mail_get_header_stream;
	v->get_stream = mailgrants_mail_get_stream;
	v->get_binary_stream = mailgrants_mail_get_binary_stream;
	v->get_special = mailgrants_mail_get_special;
	/* With istream_opened set, maildir finds a physical size missing
	   from the file name (S=) by reading the message instead of
	   stat(); LMTP and IMAP saves always write S=. */
	v->istream_opened = mailgrants_mail_istream_opened;
	MODULE_CONTEXT_SET_SELF(mail, mailgrants_mail_module, mmail);
}

/* mailgrants_search_next_nonblock - no next message once revoked */
static bool mailgrants_search_next_nonblock(struct mail_search_context *ctx,
					    struct mail **mail_r,
					    bool *tryagain_r)
{
	struct mailbox *box = ctx->transaction->box;
	struct mailgrants_mailbox *mbox = MAILGRANTS_MAILBOX_CONTEXT(box);

	if (mailgrants_mailbox_revoked(box)) {
		/* search_deinit() turns this end into a failure */
		*tryagain_r = FALSE;
		return FALSE;
	}
	return mbox->module_ctx.super.search_next_nonblock(ctx, mail_r,
							   tryagain_r);
}

/* mailgrants_search_deinit - a search cut short by revocation failed */
static int mailgrants_search_deinit(struct mail_search_context *ctx)
{
	struct mailbox *box = ctx->transaction->box;
	struct mailgrants_mailbox *mbox = MAILGRANTS_MAILBOX_CONTEXT(box);
	int ret;

	ret = mbox->module_ctx.super.search_deinit(ctx);
	if (mbox->revoked) {
		mailgrants_mailbox_refuse(box->storage);
		ret = -1;
	}
	return ret;
}

/* mailgrants_copy - no COPY or MOVE out of a revoked mailbox */
static int mailgrants_copy(struct mail_save_context *ctx, struct mail *mail)
{
	struct mailbox *dest = ctx->transaction->box;
	struct mailgrants_mailbox *mbox = MAILGRANTS_MAILBOX_CONTEXT(dest);

	if (mailgrants_mailbox_revoked(mail->box)) {
		/* imap reports the destination's error */
		mailgrants_mailbox_refuse(dest->storage);
		mailgrants_mailbox_refuse(mail->box->storage);
		mailbox_save_cancel(&ctx);
		return -1;
	}
	return mbox->module_ctx.super.copy(ctx, mail);
}

/* mailgrants_transaction_commit - after a save, the client's sent copy
   wins (mailgrants-sent.c) */
static int
mailgrants_transaction_commit(struct mailbox_transaction_context *t,
			      struct mail_transaction_commit_changes *changes_r)
{
	struct mailbox *box = t->box;
	struct mailgrants_mailbox *mbox = MAILGRANTS_MAILBOX_CONTEXT(box);

	if (mbox->module_ctx.super.transaction_commit(t, changes_r) < 0)
		return -1;
	/* Created only by a transaction that saved something. */
	if (array_is_created(&changes_r->saved_uids))
		mailgrants_sent_saved(box, &changes_r->saved_uids);
	return 0;
}

/* mailgrants_mailbox_is_inconsistent - an ended grant ends the session */
static bool mailgrants_mailbox_is_inconsistent(struct mailbox *box)
{
	struct mailgrants_mailbox *mbox = MAILGRANTS_MAILBOX_CONTEXT(box);

	if (mbox->module_ctx.super.is_inconsistent(box))
		return TRUE;
	return box->opened && mailgrants_mailbox_revoked(box);
}

/* mailgrants_mailbox_delete - the owner's INBOX is not deleted */
static int mailgrants_mailbox_delete(struct mailbox *box)
{
	struct mailgrants_mailbox *mbox = MAILGRANTS_MAILBOX_CONTEXT(box);

	if (mbox->inbox) {
		mail_storage_set_error(box->storage, MAIL_ERROR_NOTPOSSIBLE,
				       MAILGRANTS_ERR_INBOX);
		return -1;
	}
	return mbox->module_ctx.super.delete_box(box);
}

/* mailgrants_mailbox_rename - the owner's INBOX is neither source nor
   target */
static int mailgrants_mailbox_rename(struct mailbox *src, struct mailbox *dest)
{
	struct mailgrants_mailbox *mbox = MAILGRANTS_MAILBOX_CONTEXT(src);
	struct mailgrants_mailbox *dbox = MAILGRANTS_MAILBOX_CONTEXT(dest);

	if (mbox->inbox || (dbox != NULL && dbox->inbox)) {
		mail_storage_set_error(src->storage, MAIL_ERROR_NOTPOSSIBLE,
				       MAILGRANTS_ERR_INBOX);
		return -1;
	}
	return mbox->module_ctx.super.rename_box(src, dest);
}

/* mailgrants_mailbox_notify_arm - wake up when the grants expire */
static void mailgrants_mailbox_notify_arm(struct mailbox *box);

/* mailgrants_mailbox_notify_timeout - wake IDLE if the grant ended */
static void mailgrants_mailbox_notify_timeout(struct mailbox *box)
{
	struct mailgrants_mailbox *mbox = MAILGRANTS_MAILBOX_CONTEXT(box);

	timeout_remove(&mbox->to_notify);
	if (box->notify_callback == NULL)
		return;
	if (mailgrants_mailbox_revoked(box)) {
		/* imap's IDLE syncs, finds the mailbox inconsistent and
		   ends the session; box may be gone after this. */
		box->notify_callback(box, box->notify_context);
		return;
	}
	mailgrants_mailbox_notify_arm(box);
}

static void mailgrants_mailbox_notify_arm(struct mailbox *box)
{
	struct mailgrants_mailbox *mbox = MAILGRANTS_MAILBOX_CONTEXT(box);
	struct mailgrants_user *muser =
		MAILGRANTS_USER_CONTEXT(box->storage->user);
	long long msecs, period;

	timeout_remove(&mbox->to_notify);
	if (box->notify_callback == NULL || muser == NULL)
		return;
	/* Every cache period would let a grant that ends just after a
	   refresh live almost two periods in IDLE: aim at the moment the
	   grants expire instead. */
	period = muser->cache_secs == 0 ? 1000 :
		(long long)muser->cache_secs * 1000;
	msecs = ((long long)muser->refreshed_at + muser->cache_secs -
		 ioloop_timeval.tv_sec) * 1000 -
		ioloop_timeval.tv_usec / 1000 + MAILGRANTS_NOTIFY_SLACK_MSECS;
	if (muser->cache_secs == 0 || msecs > period)
		msecs = period;
	if (msecs < MAILGRANTS_NOTIFY_SLACK_MSECS)
		msecs = MAILGRANTS_NOTIFY_SLACK_MSECS;
	mbox->to_notify = timeout_add((unsigned int)msecs,
				      mailgrants_mailbox_notify_timeout, box);
}

/* mailgrants_mailbox_notify_changes - a timer while someone waits */
static void mailgrants_mailbox_notify_changes(struct mailbox *box)
{
	struct mailgrants_mailbox *mbox = MAILGRANTS_MAILBOX_CONTEXT(box);

	mbox->module_ctx.super.notify_changes(box);
	mailgrants_mailbox_notify_arm(box);
}

/* mailgrants_mailbox_close - no timer for a closed mailbox */
static void mailgrants_mailbox_close(struct mailbox *box)
{
	struct mailgrants_mailbox *mbox = MAILGRANTS_MAILBOX_CONTEXT(box);

	timeout_remove(&mbox->to_notify);
	mbox->module_ctx.super.close(box);
}

/* mailgrants_mailbox_free - no timer for a freed mailbox */
static void mailgrants_mailbox_free(struct mailbox *box)
{
	struct mailgrants_mailbox *mbox = MAILGRANTS_MAILBOX_CONTEXT(box);

	timeout_remove(&mbox->to_notify);
	mbox->module_ctx.super.free(box);
}

/* mailgrants_mailbox_open - a granted owner's INBOX, created if missing */
static int mailgrants_mailbox_open(struct mailbox *box)
{
	struct mailgrants_mailbox *mbox = MAILGRANTS_MAILBOX_CONTEXT(box);
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(box->list);
	struct mailgrants_user *muser =
		MAILGRANTS_USER_CONTEXT(box->storage->user);
	struct mailbox *cbox;
	enum mail_error error;
	int ret;

	if (mbox->module_ctx.super.open(box) == 0)
		return 0;
	(void)mailbox_get_last_error(box, &error);
	if (!mbox->inbox || error != MAIL_ERROR_NOTFOUND ||
	    mailgrants_user_find(box->storage->user, mlist->category,
				 mlist->owner) == NULL)
		return -1;
	/* The owner has no storage yet (no mail ever came). Dovecot 2.3
	   creates an owner's INBOX on its first open, 2.4 no longer does
	   (NO [NONEXISTENT] for a mailbox LIST shows): do as 2.3 on both.
	   Without ACLs: creating is the owner's right, not the
	   grantee's; the grantee then works in it with her grant. */
	cbox = mailbox_alloc(box->list, box->vname, MAILBOX_FLAG_IGNORE_ACLS);
	ret = mailbox_create(cbox, NULL, FALSE);
	if (ret < 0 && mailbox_get_last_mail_error(cbox) != MAIL_ERROR_EXISTS) {
		e_error(muser->event, "creating the INBOX of %s: %s", mlist->owner,
			mailbox_get_last_internal_error(cbox, NULL));
		mailbox_free(&cbox);
		return -1;
	}
	mailbox_free(&cbox);
	return mbox->module_ctx.super.open(box);
}

/* mailgrants_mailbox_allocated - watch the user's mailboxes */
void mailgrants_mailbox_allocated(struct mailbox *box)
{
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(box->list);
	struct mailbox_vfuncs *v = box->vlast;
	struct mailgrants_mailbox *mbox;

	if (MAILGRANTS_USER_CONTEXT(box->storage->user) == NULL)
		return;		/* an owner's own user, LDA's raw user */
	mbox = p_new(box->pool, struct mailgrants_mailbox, 1);
	mbox->module_ctx.super = *v;
	box->vlast = &mbox->module_ctx.super;
	/* Any mailbox may be where a COPY or MOVE out of ours goes. */
	v->copy = mailgrants_copy;
	MODULE_CONTEXT_SET(box, mailgrants_mailbox_module, mbox);
	if (mlist == NULL || mlist->owner == NULL)
		return;

	mbox->granted = TRUE;
	mbox->inbox = strcmp(box->name, "INBOX") == 0;
	v->open = mailgrants_mailbox_open;
	v->delete_box = mailgrants_mailbox_delete;
	v->rename_box = mailgrants_mailbox_rename;
	v->search_next_nonblock = mailgrants_search_next_nonblock;
	v->search_deinit = mailgrants_search_deinit;
	v->is_inconsistent = mailgrants_mailbox_is_inconsistent;
	v->transaction_commit = mailgrants_transaction_commit;
	v->notify_changes = mailgrants_mailbox_notify_changes;
	v->close = mailgrants_mailbox_close;
	v->free = mailgrants_mailbox_free;
}
