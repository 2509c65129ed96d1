/*
 * NAME
 *	lib20_mailgrants_plugin.so - company, shared and extra private
 *	mailboxes for Dovecot 2.3 and 2.4, with every grant in LDAP
 * DESCRIPTION
 *	Besides her own mailbox, a user sees Private/<address> (her other
 *	private mailboxes), Company/<address> (her company's mailboxes)
 *	and Shared/<address> (private mailboxes of others shared with her
 *	now), each in an ordinary "type = shared" namespace whose owners,
 *	listing, subscriptions and rights the plugin takes from the
 *	replica through the core's rights function (rights_access); the
 *	acl plugin enforces them. This file is the user's state and the
 *	settings; mailgrants-list.c (the roots), mailgrants-subs.c
 *	(subscriptions), mailgrants-acl.c (the ACL backend),
 *	mailgrants-mailbox.c (revocation in open sessions) do the rest;
 *	mailgrants-imap.c is the IMAP commands' part, a plugin of its own
 *	(lib21_imap_mailgrants_plugin.so, through mailgrants-api.h).
 *
 *	README.md "Dovecot" is the one description of what clients see
 *	and of the rights; 90-mailgrants.conf (90-mailgrants-2.4.conf on
 *	Dovecot 2.4) of the configuration and the settings. Change them
 *	with the behaviour.
 * SEE ALSO
 *	mailgrants(1), mailgrants.conf(5), 90-mailgrants.conf
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
static const char *mailgrants_letters(pool_t pool, const char *rights,
				      bool owner)
{
	string_t *str = t_str_new(16);
	const char *p;

	/* "a" is left out: access is managed in the directory, so no one
	   administers these mailboxes over IMAP; but the owner of a
	   private mailbox shares it from her client (imap_mailgrants
	   answers SETACL through the directory), as on her own INBOX,
	   and clients offer that only with "a" (Roundcube's acl). Only
	   with imap_mailgrants loaded: imap_acl would take SETACL with
	   "a", and store nothing (mailgrants-acl.c). */
	for (p = rights; *p != '\0'; p++) {
		if (strchr("lrwstipekx", *p) != NULL &&
		    strchr(str_c(str), *p) == NULL)
			str_append_c(str, *p);
	}
	if (owner && str_len(str) > 0)
		str_append_c(str, 'a');
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
		grant.letters = mailgrants_letters(
			muser->grants_pool, d->rights,
			category == MAILGRANTS_CATEGORY_PRIVATE &&
			d->reason == RIGHTS_REASON_OWNER &&
			mailgrants_imap_attached);
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

/* mailgrants_setting - one setting, for imap_mailgrants */
const char *mailgrants_setting(struct mail_user *user, const char *key)
{
	struct mailgrants_user *muser = MAILGRANTS_USER_CONTEXT(user);

	if (muser == NULL)
		return NULL;
	return mailgrants_user_setting(user, muser, key);
}

/* mailgrants_mailbox_acl - who sees the mailbox of address, and how */
int mailgrants_mailbox_acl(struct mail_user *user, const char *address,
			   ARRAY_TYPE(const_string) *acl,
			   const char **error_r)
{
	struct mailgrants_user *muser = MAILGRANTS_USER_CONTEXT(user);
	struct rights_list list;
	const char *error;
	size_t i;

	if (muser == NULL) {
		*error_r = "mailgrants is not set up for this user";
		return -1;
	}
	if (replica_handle_check(muser->replica, ioloop_time, TRUE,
				 &error) <= 0 ||
	    rights_who(replica_handle_replica(muser->replica), address,
		       ioloop_time, NULL, &list, &error) < 0) {
		*error_r = t_strdup(error);
		return -1;
	}
	/* the owner first, as GETACL lists it */
	for (int pass = 0; pass < 2; pass++) {
		for (i = 0; i < list.count; i++) {
			const struct rights_decision *d = &list.items[i];
			const char *login, *letters;

			if ((d->reason == RIGHTS_REASON_OWNER) != (pass == 0))
				continue;
			login = t_strdup(d->login);
			letters = t_strdup(d->rights);
			array_push_back(acl, &login);
			array_push_back(acl, &letters);
		}
	}
	rights_list_free(&list);
	return 0;
}

/* mailgrants_share_rights - the rights of a share entry, as the replica
   has it */
int mailgrants_share_rights(struct mail_user *user, const char *dn,
			    const char **rights_r, const char **error_r)
{
	struct mailgrants_user *muser = MAILGRANTS_USER_CONTEXT(user);
	char rights[RIGHTS_MAX];
	const char *error;
	int ret;

	*rights_r = NULL;
	if (muser == NULL) {
		*error_r = "mailgrants is not set up for this user";
		return -1;
	}
	/* ioloop_time is the command's start: this is asked again and
	   again while it waits, so the replica's age is checked now */
	if (replica_handle_check(muser->replica, time(NULL), TRUE,
				 &error) <= 0 ||
	    (ret = rights_share(replica_handle_replica(muser->replica), dn,
				rights, sizeof(rights), &error)) < 0) {
		*error_r = t_strdup(error);
		return -1;
	}
	if (ret > 0)
		*rights_r = t_strdup(rights);
	return ret;
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
