/*
 * NAME
 *	lib20_mailgrants_plugin.so - company, shared and extra private
 *	mailboxes for Dovecot 2.3 and 2.4, with every grant in LDAP
 * SYNOPSIS
 *	mail_plugins = $mail_plugins acl mailgrants
 *	protocol imap {
 *	  mail_plugins = $mail_plugins imap_acl imap_mailgrants
 *	}
 *	namespace company {
 *	  type = shared
 *	  separator = /
 *	  prefix = Company/%%u/
 *	  location = maildir:/var/vmail/%%d/%%n/Maildir
 *	  list = no
 *	  subscriptions = no
 *	}
 *	(the same for Shared/%%u/ and Private/%%u/; see 90-mailgrants.conf)
 *	mail_shared_explicit_inbox = no
 *	plugin {
 *	  mailgrants_replica = /var/lib/mailgrants/grants.db
 *	  mailgrants_cache_secs = 30
 *	  mailgrants_company_prefix = Company/
 *	  mailgrants_shared_prefix = Shared/
 *	  mailgrants_private_prefix = Private/
 *	}
 * DESCRIPTION
 *	Besides her own mailbox, a user sees:
 *
 *	Private/<address>	every other private mailbox she owns,
 *	Company/<address>	every company mailbox of her company (and
 *				group, where the mailbox has one),
 *	Shared/<address>	every private mailbox of someone else with
 *				a share to her that is active now.
 *
 *	Each is one folder named by the address: the mailbox's INBOX
 *	(mail_shared_explicit_inbox = no), with its folders below it
 *	(Shared/peter.mueller@abc.com/Sent). Clients show
 *	"Shared > peter.mueller@abc.com" instead of one more folder
 *	called INBOX. The old name .../INBOX still opens the same INBOX
 *	(Dovecot maps it), but is not listed. A grantee does not delete
 *	or rename the mailbox itself, only its folders (with "x").
 *
 *	The roots themselves (Company, Shared, Private) are announced by
 *	NAMESPACE as other users' namespaces and not listed (list = no;
 *	the plugin lists the granted mailboxes below them with LIST "*"):
 *	Thunderbird takes a listed root "Shared" for a folder of the
 *	namespace "Shared/", asks MYRIGHTS for "Shared/Shared" and shows
 *	an alert. A root named anyway answers MYRIGHTS with no rights and
 *	GETACL with no entries.
 *
 *	Granted mailboxes are subscribed: LSUB and LIST (SUBSCRIBED) show
 *	each granted mailbox and its folders (created later too) without
 *	any SUBSCRIBE, and stop showing them when the grant ends. These
 *	subscriptions are computed, not stored: the user's
 *	subscriptions file keeps only her own mailboxes, and
 *	"mailgrants-unsubscribed" beside it what she unsubscribed below a
 *	root on purpose, which stays unsubscribed while its grant lasts
 *	(see mailgrants-subs.c for why).
 *
 *	Each root is an ordinary Dovecot "type = shared" namespace whose
 *	prefix is the setting's prefix followed by %%u and the separator;
 *	its location must lead to the same storage as the owner's own
 *	mail_location, without a userdb lookup (no ~ or %h). Before a
 *	root is listed, the plugin adds a namespace for every owner the
 *	grants allow; a name below a root whose owner is not granted is
 *	answered like a name that does not exist, without looking the
 *	owner up.
 *
 *	The rights in those namespaces come from the replica (mailgrants
 *	sync) through the core's rights function (rights_access): MYRIGHTS
 *	reports them, GETACL answers with the user's own entry, and the
 *	ACL plugin enforces them (flags, \Seen, insert, expunge, create
 *	below the owner, ...). No dovecot-acl file is read or written
 *	there; SETACL and DELETEACL answer NO [NOPERM] with a text that
 *	points to the directory. The right "a" (administer) is never
 *	given, whatever the directory says; a grant without "l" (lookup)
 *	shows nothing, and one without "r" cannot be selected.
 *
 *	A user's grants are read in one replica query and kept for
 *	mailgrants_cache_secs seconds. A share that ends, or a grant that
 *	is revoked (or loses "l" or "r"), takes effect in open sessions
 *	within that time: no message content, COPY or MOVE leaves its
 *	mailbox later than mailgrants_cache_secs after the replica
 *	changed, whatever the session does (the grant is checked before
 *	content leaves, not after the command); the session then ends
 *	("please relogin"), in IDLE too. New grants appear in LIST and
 *	LSUB, ended ones disappear from both.
 *
 *	Nothing is read before it is needed: LMTP deliveries and doveadm
 *	calls that do not touch the roots never open the replica.
 *
 *	The IMAP commands SETACL, DELETEACL, GETACL and MYRIGHTS on these
 *	mailboxes are answered by a second plugin, imap_mailgrants
 *	(mailgrants-imap.c), loaded in protocol imap after imap_acl.
 * SETTINGS
 *	In plugin { } on Dovecot 2.3; top-level keys on 2.4, known to
 *	its config process through settings/libmailgrants_settings.so
 *	(mailgrants-settings.c, 90-mailgrants-2.4.conf).
 *	mailgrants_replica	the replica file (default
 *				/var/lib/mailgrants/grants.db)
 *	mailgrants_cache_secs	seconds a user's grants are kept
 *				(default 30)
 *	mailgrants_replica_max_age
 *				a replica not confirmed current by
 *				mailgrants sync for longer than this many
 *				seconds gives no grants (default 600, as
 *				replica_max_age in mailgrants.conf; 0 = no
 *				limit)
 *	mailgrants_company_prefix, mailgrants_shared_prefix,
 *	mailgrants_private_prefix
 *				the roots (defaults Company/, Shared/,
 *				Private/); each must be the prefix of one
 *				shared namespace, up to its %%u
 * DIAGNOSTICS
 *	A replica that is missing, unreadable, of another version, not a
 *	regular file, without a completed sync, changed in place into
 *	any of these, or older than mailgrants_replica_max_age gives one
 *	error line per user session and trouble (and one line when it
 *	works again); the user then sees her own mailbox and nothing
 *	else. The replica is kept by the core's lib/replica-handle.c,
 *	the same code as in the policy daemon and the milter.
 *	Settings that cannot be used are logged and replaced by the
 *	defaults. An imap session without imap_mailgrants loaded logs a
 *	warning that names the line to add (rights and listing work
 *	without it; SETACL is then refused by imap_acl, without the
 *	pointer to the directory). Every line is logged through the
 *	user's event with the prefix "mailgrants: ".
 * SEE ALSO
 *	mailgrants(1), DESIGN.md §5, mailgrants-imap.c, doc of the acl
 *	plugin
 */

#include "lib.h"
#include "array.h"
#include "ioloop.h"
#include "str.h"
#include "strnum.h"
#include "str-sanitize.h"
#include "mail-user.h"
#include "mail-namespace.h"
#include "mail-storage-hooks.h"
#if DOVECOT_PREREQ(2, 4, 0)
#  include "settings.h"
#endif
#include "mailgrants-plugin.h"

#include "addr.h"
#include "replica-handle.h"
#include "rights.h"

const char *mailgrants_plugin_version = DOVECOT_ABI_VERSION;
const char *mailgrants_plugin_dependencies[] = { "acl", NULL };

void mailgrants_plugin_init(struct module *module);
void mailgrants_plugin_deinit(void);

struct mailgrants_user_module mailgrants_user_module =
	MODULE_CONTEXT_INIT(&mail_user_module_register);

static const char *const mailgrants_prefix_settings[MAILGRANTS_CATEGORY_COUNT] = {
	[MAILGRANTS_CATEGORY_COMPANY] = "mailgrants_company_prefix",
	[MAILGRANTS_CATEGORY_SHARED] = "mailgrants_shared_prefix",
	[MAILGRANTS_CATEGORY_PRIVATE] = "mailgrants_private_prefix",
};

static const char *const mailgrants_prefix_defaults[MAILGRANTS_CATEGORY_COUNT] = {
	[MAILGRANTS_CATEGORY_COMPANY] = MAILGRANTS_DEFAULT_COMPANY_PREFIX,
	[MAILGRANTS_CATEGORY_SHARED] = MAILGRANTS_DEFAULT_SHARED_PREFIX,
	[MAILGRANTS_CATEGORY_PRIVATE] = MAILGRANTS_DEFAULT_PRIVATE_PREFIX,
};

/* imap_mailgrants is loaded (mailgrants_imap_attach()) */
static bool mailgrants_imap_attached;

/* mailgrants_address_is_usable - may this address be a namespace prefix */
bool mailgrants_address_is_usable(const char *address, const char **error_r)
{
	char norm[ADDR_MAX + 1];

	/* The address becomes part of a mailbox name and, through %n and
	   %d, of a path: the sync's rule for what it stores (ADDR_MAILBOX),
	   and it must be its own normal form, as the sync writes it: the
	   prefix is compared with the grants byte by byte. */
	if (addr_normalize(address, NULL, ADDR_KEEP_EXTENSION | ADDR_MAILBOX,
			   norm, sizeof(norm), error_r) < 0)
		return FALSE;
	if (strcmp(norm, address) != 0) {
		*error_r = "not in its normal form";
		return FALSE;
	}
	return TRUE;
}

/* mailgrants_imap_attach - imap_mailgrants is loaded, or unloaded */
void mailgrants_imap_attach(bool attached)
{
	mailgrants_imap_attached = attached;
}

/* mailgrants_letters - the RFC 4314 letters Dovecot may enforce here */
static const char *mailgrants_letters(pool_t pool, const char *rights)
{
	string_t *str = t_str_new(16);
	const char *p;

	/* "a" is left out: access is managed in the directory, so no one
	   administers these mailboxes over IMAP. */
	for (p = rights; *p != '\0'; p++) {
		if (strchr("lrwstipekx", *p) != NULL &&
		    strchr(str_c(str), *p) == NULL)
			str_append_c(str, *p);
	}
	return p_strdup(pool, str_c(str));
}

/* mailgrants_user_replica_log - say what changed about the replica */
static void mailgrants_user_replica_log(struct mailgrants_user *muser)
{
	const char *text;

	/* The text is the handle's own copy: valid whatever became of
	   the replica that produced it. */
	switch (replica_handle_news(muser->replica, ioloop_time, &text)) {
	case REPLICA_HANDLE_LOST:
		e_error(muser->event, "grants unavailable, "
			"showing only the user's own mailbox: %s", text);
		break;
	case REPLICA_HANDLE_BACK:
		e_info(muser->event, "grants available again (%s)",
		       muser->replica_path);
		break;
	case REPLICA_HANDLE_QUIET:
		break;
	}
}

/* mailgrants_user_category - where a decision's mailbox is listed */
static bool mailgrants_user_category(struct mail_user *user,
				     const struct rights_decision *d,
				     enum mailgrants_category *category_r)
{
	/* Without "l" nothing is listed; a namespace would only let the
	   user SELECT by name what an open session loses the moment its
	   "l" goes (mailgrants-mailbox.c): no grant, as with no rights. */
	if (!d->visible || strchr(d->rights, 'l') == NULL)
		return FALSE;
	switch (d->kind) {
	case RIGHTS_KIND_COMPANY:
		*category_r = MAILGRANTS_CATEGORY_COMPANY;
		return TRUE;
	case RIGHTS_KIND_SHARED:
		*category_r = MAILGRANTS_CATEGORY_SHARED;
		return TRUE;
	case RIGHTS_KIND_PRIVATE:
		/* The user's own primary mailbox is her INBOX namespace. */
		if (strcmp(d->mailbox, d->login) == 0 ||
		    strcasecmp(d->mailbox, user->username) == 0)
			return FALSE;
		*category_r = MAILGRANTS_CATEGORY_PRIVATE;
		return TRUE;
	case RIGHTS_KIND_NONE:
		break;
	}
	return FALSE;
}

/* mailgrants_user_refresh - read the user's grants in one replica query */
static void mailgrants_user_refresh(struct mail_user *user,
				    struct mailgrants_user *muser)
{
	struct rights_list list;
	struct mailgrants_grant grant;
	enum mailgrants_category category;
	const char *error;
	size_t i;

	muser->refreshed_at = ioloop_time;
	muser->generation++;
	muser->grants_read = FALSE;
	array_clear(&muser->grants);
	p_clear(muser->grants_pool);

	/* Missing, not a replica, changed in place, older than
	   mailgrants_replica_max_age: no grants, only her own mailbox. */
	if (replica_handle_check(muser->replica, ioloop_time, TRUE,
				 &error) <= 0) {
		mailgrants_user_replica_log(muser);
		return;
	}
	if (rights_access(replica_handle_replica(muser->replica),
			  user->username, ioloop_time, &list, &error) < 0) {
		replica_handle_failed(muser->replica, error);
		mailgrants_user_replica_log(muser);
		return;
	}
	for (i = 0; i < list.count; i++) {
		const struct rights_decision *d = &list.items[i];

		if (!mailgrants_user_category(user, d, &category))
			continue;
		if (!mailgrants_address_is_usable(d->mailbox, &error)) {
			e_warning(muser->event, "mailbox address unusable as "
				  "a mailbox name, skipped: %s (%s)",
				  str_sanitize(d->mailbox, 128), error);
			continue;
		}
		i_zero(&grant);
		grant.category = category;
		grant.address = p_strdup(muser->grants_pool, d->mailbox);
		grant.letters = mailgrants_letters(muser->grants_pool,
						   d->rights);
		if (grant.letters[0] != '\0')
			array_push_back(&muser->grants, &grant);
	}
	rights_list_free(&list);
	muser->grants_read = TRUE;
	mailgrants_user_replica_log(muser);
	e_debug(muser->event, "%u mailboxes granted",
		array_count(&muser->grants));
}

/* mailgrants_user_update - refresh the grants when they are too old */
void mailgrants_user_update(struct mail_user *user)
{
	struct mailgrants_user *muser = MAILGRANTS_USER_CONTEXT(user);

	if (muser == NULL)
		return;
	if (muser->refreshed_at != 0 &&
	    ioloop_time >= muser->refreshed_at &&
	    ioloop_time - muser->refreshed_at < (time_t)muser->cache_secs)
		return;
	T_BEGIN {
		mailgrants_user_refresh(user, muser);
	} T_END;
}

/* mailgrants_user_find - the grant for an owner below a root, if any */
const struct mailgrants_grant *
mailgrants_user_find(struct mail_user *user,
		     enum mailgrants_category category, const char *address)
{
	struct mailgrants_user *muser = MAILGRANTS_USER_CONTEXT(user);
	const struct mailgrants_grant *grant;

	if (muser == NULL)
		return NULL;
	mailgrants_user_update(user);
	array_foreach(&muser->grants, grant) {
		/* Exact match only: the prefix carries the normal form,
		   and any other spelling is a name that does not exist. */
		if (grant->category == category &&
		    strcmp(grant->address, address) == 0)
			return grant;
	}
	return NULL;
}

/* mailgrants_prefix_category - which root a namespace prefix belongs to */
int mailgrants_prefix_category(struct mailgrants_user *muser,
			       const char *prefix, const char **rest_r)
{
	int category, found = -1;
	size_t len, best = 0;

	for (category = 0; category < MAILGRANTS_CATEGORY_COUNT; category++) {
		len = strlen(muser->prefixes[category]);
		if (strncmp(prefix, muser->prefixes[category], len) == 0 &&
		    len > best) {
			best = len;
			found = category;
		}
	}
	if (found >= 0)
		*rest_r = prefix + best;
	return found;
}

/* mailgrants_user_deinit - close the replica with the user */
static void mailgrants_user_deinit(struct mail_user *user)
{
	struct mailgrants_user *muser = MAILGRANTS_USER_CONTEXT(user);

	i_assert(muser != NULL);
	replica_handle_close(&muser->replica);
	array_free(&muser->grants);
	pool_unref(&muser->grants_pool);
#if DOVECOT_PREREQ(2, 4, 0)
	settings_free(muser->set);
#endif
	event_unref(&muser->event);
	muser->module_ctx.super.deinit(user);
}

/* mailgrants_user_setting - one setting's value (NULL or "" = unset) */
static const char *mailgrants_user_setting(struct mail_user *user,
					   struct mailgrants_user *muser,
					   const char *key)
{
#if DOVECOT_PREREQ(2, 4, 0)
	/* 2.4: top-level keys, known through mailgrants-settings.c */
	(void)user;
	return muser->set == NULL ? NULL :
		mailgrants_settings_value(muser->set, key);
#else
	(void)muser;
	return mail_user_plugin_getenv(user, key);
#endif
}

/* mailgrants_prefix_setting - one root prefix, checked */
static const char *mailgrants_prefix_setting(struct mail_user *user,
					     struct mailgrants_user *muser,
					     enum mailgrants_category category)
{
	const char *value;
	size_t len;

	value = mailgrants_user_setting(user, muser,
					mailgrants_prefix_settings[category]);
	if (value == NULL || value[0] == '\0')
		return mailgrants_prefix_defaults[category];
	len = strlen(value);
	if (value[len - 1] != '/' || strchr(value, '%') != NULL ||
	    len > 128) {
		e_error(muser->event, "%s: must end with the "
			"separator \"/\" and contain no %%, using %s: %s",
			mailgrants_prefix_settings[category],
			mailgrants_prefix_defaults[category],
			str_sanitize(value, 160));
		return mailgrants_prefix_defaults[category];
	}
	return p_strdup(user->pool, value);
}

/* mailgrants_mail_user_created - settings now, replica when needed */
static void mailgrants_mail_user_created(struct mail_user *user)
{
	struct mail_user_vfuncs *v = user->vlast;
	struct mailgrants_user *muser;
	const char *value;
	int category;

	if (user->autocreated) {
		/* an owner opened through a shared namespace, or LDA's
		   raw user: no grants of its own to look at */
#if DOVECOT_PREREQ(2, 4, 0)
		/* 2.4 looks every owner up in the userdb for its home
		   (shared-storage.c), which our paths never use: an owner
		   the site's userdb does not know would vanish from LIST.
		   A known home (none) skips the lookup, as 2.3 did. */
		if (mailgrants_owner_opening)
			mail_user_set_home(user, NULL);
#endif
		return;
	}

	muser = p_new(user->pool, struct mailgrants_user, 1);
	muser->module_ctx.super = *v;
	user->vlast = &muser->module_ctx.super;
	v->deinit = mailgrants_user_deinit;
	muser->event = event_create(user->event);
	event_set_append_log_prefix(muser->event, "mailgrants: ");
	if (!mailgrants_imap_attached && user->service != NULL &&
	    strcmp(user->service, "imap") == 0) {
		/* a configuration from before imap_mailgrants existed */
		e_warning(muser->event, "imap_mailgrants is not loaded: "
			  "imap_acl answers SETACL, GETACL and MYRIGHTS on "
			  "granted mailboxes (add it: protocol imap { "
			  "mail_plugins = $mail_plugins imap_acl "
			  "imap_mailgrants })");
	}

#if DOVECOT_PREREQ(2, 4, 0)
	if (settings_get(user->event, &mailgrants_setting_parser_info, 0,
			 &muser->set, &value) < 0) {
		e_error(muser->event, "settings, using the defaults: %s",
			value);
		muser->set = NULL;
	}
#endif
	value = mailgrants_user_setting(user, muser, "mailgrants_replica");
	muser->replica_path = value != NULL && value[0] != '\0' ?
		p_strdup(user->pool, value) : MAILGRANTS_DEFAULT_REPLICA;

	muser->cache_secs = MAILGRANTS_DEFAULT_CACHE_SECS;
	value = mailgrants_user_setting(user, muser, "mailgrants_cache_secs");
	if (value != NULL && value[0] != '\0' &&
	    (str_to_uint(value, &muser->cache_secs) < 0 ||
	     muser->cache_secs > 86400)) {
		e_error(muser->event, "mailgrants_cache_secs: "
			"not a number of seconds (0..86400), using %u: %s",
			MAILGRANTS_DEFAULT_CACHE_SECS, str_sanitize(value, 40));
		muser->cache_secs = MAILGRANTS_DEFAULT_CACHE_SECS;
	}
	muser->replica_max_age = MAILGRANTS_DEFAULT_REPLICA_MAX_AGE;
	value = mailgrants_user_setting(user, muser, "mailgrants_replica_max_age");
	if (value != NULL && value[0] != '\0' &&
	    str_to_uint(value, &muser->replica_max_age) < 0) {
		e_error(muser->event, "mailgrants_replica_max_age:"
			" not a number of seconds (0 = no limit), using %u: %s",
			MAILGRANTS_DEFAULT_REPLICA_MAX_AGE,
			str_sanitize(value, 40));
		muser->replica_max_age = MAILGRANTS_DEFAULT_REPLICA_MAX_AGE;
	}
	/* Opened at the first refresh, not now: LMTP and doveadm calls
	   that never look at the roots never touch the file. */
	replica_handle_open(muser->replica_path, muser->replica_max_age,
			    &muser->replica);
	for (category = 0; category < MAILGRANTS_CATEGORY_COUNT; category++)
		muser->prefixes[category] =
			mailgrants_prefix_setting(user, muser, category);

	muser->grants_pool = pool_alloconly_create("mailgrants grants", 1024);
	i_array_init(&muser->grants, 16);
	MODULE_CONTEXT_SET(user, mailgrants_user_module, muser);
}

static struct mail_storage_hooks mailgrants_mail_storage_hooks = {
	.mail_user_created = mailgrants_mail_user_created,
	.mailbox_list_created = mailgrants_list_created,
	.mail_namespace_storage_added = mailgrants_acl_namespace_storage_added,
	.mailbox_allocated = mailgrants_mailbox_allocated,
	.mail_allocated = mailgrants_mail_allocated,
};

/* mailgrants_plugin_init - register the hooks */
void mailgrants_plugin_init(struct module *module)
{
	mail_storage_hooks_add(module, &mailgrants_mail_storage_hooks);
}

/* mailgrants_plugin_deinit - unregister the hooks */
void mailgrants_plugin_deinit(void)
{
	mail_storage_hooks_remove(&mailgrants_mail_storage_hooks);
}
