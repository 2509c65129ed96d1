#ifndef MAILGRANTS_PLUGIN_H
#define MAILGRANTS_PLUGIN_H

/*
 * NAME
 *	mailgrants-plugin - what the parts of the Dovecot plugin share
 * SYNOPSIS
 *	#include "mailgrants-plugin.h"
 * DESCRIPTION
 *	mailgrants-plugin.c holds the per-user state (settings, the
 *	replica, the grants of the last refresh); mailgrants-list.c the
 *	wrappers around the shared namespace roots (Company/, Shared/,
 *	Private/) that add a namespace for every owner the grants allow
 *	and refuse every other owner; mailgrants-acl.c the takeover of
 *	the ACL backend of those owners' namespaces; mailgrants-mailbox.c
 *	what their open mailboxes give once a grant ended;
 *	mailgrants-subs.c the user's own namespace: the owners listed
 *	with it, and computed subscriptions below the roots.
 *	mailgrants-imap.c, the IMAP SETACL/DELETEACL/GETACL/MYRIGHTS
 *	answers for them, is a plugin of its own (imap_mailgrants) and
 *	sees only mailgrants-api.h.
 */

#include "lib.h"
#include "module-context.h"
#include "mail-user.h"
#include "mail-namespace.h"
#include "mail-storage-private.h"
#include "mailbox-list-private.h"
#include "acl-api-private.h"

#include "replica-handle.h"
#include "mailgrants-api.h"

#define MAILGRANTS_DEFAULT_REPLICA "/var/lib/mailgrants/grants.db"
#define MAILGRANTS_DEFAULT_CACHE_SECS 30
/* The same default as replica_max_age in mailgrants.conf. */
#define MAILGRANTS_DEFAULT_REPLICA_MAX_AGE REPLICA_HANDLE_MAX_AGE_DEFAULT
#define MAILGRANTS_DEFAULT_COMPANY_PREFIX "Company/"
#define MAILGRANTS_DEFAULT_SHARED_PREFIX "Shared/"
#define MAILGRANTS_DEFAULT_PRIVATE_PREFIX "Private/"

/* The three roots; each is a type=shared namespace of its own. */
enum mailgrants_category {
	MAILGRANTS_CATEGORY_COMPANY,
	MAILGRANTS_CATEGORY_SHARED,
	MAILGRANTS_CATEGORY_PRIVATE,
	MAILGRANTS_CATEGORY_COUNT
};

/* One mailbox of another owner the user sees right now. */
struct mailgrants_grant {
	enum mailgrants_category category;
	const char *address;		/* the owner part of the prefix */
	const char *letters;		/* RFC 4314 letters; 'a' only for
					   a private mailbox she owns */
};

#define MAILGRANTS_USER_CONTEXT(obj) \
	MODULE_CONTEXT(obj, mailgrants_user_module)

#if DOVECOT_PREREQ(2, 4, 0)
/* Dovecot 2.4's settings (mailgrants-settings.c); 2.3 reads the same
   keys from plugin { }. */
struct mailgrants_settings {
	pool_t pool;
	const char *mailgrants_replica;
	const char *mailgrants_cache_secs;
	const char *mailgrants_replica_max_age;
	const char *mailgrants_company_prefix;
	const char *mailgrants_shared_prefix;
	const char *mailgrants_private_prefix;
	const char *mailgrants_share_socket;
	const char *mailgrants_share_password;	/* from the userdb */
};
extern const struct setting_parser_info mailgrants_setting_parser_info;
const char *mailgrants_settings_value(const struct mailgrants_settings *set,
				      const char *key);
#endif

struct mailgrants_user {
	union mail_user_module_context module_ctx;
	/* The user's event, log prefix "mailgrants: " */
	struct event *event;
#if DOVECOT_PREREQ(2, 4, 0)
	const struct mailgrants_settings *set;
#endif

	const char *replica_path;
	unsigned int cache_secs;
	unsigned int replica_max_age;	/* seconds, 0 = no limit */
	const char *prefixes[MAILGRANTS_CATEGORY_COUNT];

	struct replica_handle *replica;	/* lib/replica-handle.c */
	/* Grants of the last refresh, in grants_pool. */
	pool_t grants_pool;
	ARRAY(struct mailgrants_grant) grants;
	time_t refreshed_at;		/* 0 = never */
	/* The last refresh read the replica (no grants otherwise means
	   the replica was unusable, not that every grant ended). */
	bool grants_read;
	/* Bumped by every refresh (never 0 after the first). */
	unsigned int generation;
};

extern MODULE_CONTEXT_DEFINE(mailgrants_user_module,
			     &mail_user_module_register);

#define MAILGRANTS_LIST_CONTEXT(obj) \
	MODULE_CONTEXT(obj, mailgrants_mailbox_list_module)

/* A root (Company/%u/ itself) or one owner's namespace below it. */
struct mailgrants_list {
	union mailbox_list_module_context module_ctx;

	enum mailgrants_category category;
	bool root;
	const char *owner;		/* owner namespaces: the address */

	/* The ACL backend's functions before we took it over. */
	bool acl_taken;
	struct acl_backend_vfuncs acl_prev;
#if DOVECOT_PREREQ(2, 4, 0)
	/* 2.4: backend->v points to vfile's table, which every namespace
	   shares; ours is this copy. */
	struct acl_backend_vfuncs acl_v;
#endif
	/* The user's grants generation the backend's ACL cache holds:
	   the cache is flushed when the grants were refreshed since. */
	unsigned int acl_generation;
};

extern MODULE_CONTEXT_DEFINE(mailgrants_mailbox_list_module,
			     &mailbox_list_module_register);

/* mailgrants-plugin.c */
void mailgrants_user_update(struct mail_user *user);
const struct mailgrants_grant *
mailgrants_user_find(struct mail_user *user,
		     enum mailgrants_category category, const char *address);
int mailgrants_prefix_category(struct mailgrants_user *muser,
			       const char *prefix, const char **rest_r);
bool mailgrants_address_is_usable(const char *address, const char **error_r);

/* mailgrants-list.c */
extern bool mailgrants_owner_opening;
void mailgrants_list_created(struct mailbox_list *list);
void mailgrants_roots_add_namespaces(struct mail_user *user);

/* mailgrants-acl.c */
void mailgrants_acl_namespace_storage_added(struct mail_namespace *ns);

/* mailgrants-mailbox.c */
void mailgrants_mailbox_allocated(struct mailbox *box);
void mailgrants_mail_allocated(struct mail *mail);

/* mailgrants-sent.c */
void mailgrants_sent_saved(struct mailbox *box,
			   const ARRAY_TYPE(seq_range) *uids);

/* mailgrants-subs.c */
void mailgrants_subs_list_created(struct mailbox_list *list);

#endif
