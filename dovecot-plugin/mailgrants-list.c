/*
 * NAME
 *	mailgrants-list - the shared namespace roots Company/, Shared/,
 *	Private/
 * SYNOPSIS
 *	#include "mailgrants-plugin.h"
 *
 *	void mailgrants_list_created(struct mailbox_list *list);
 *
 *	#include "mailgrants-api.h"
 *
 *	bool mailgrants_namespace_is_ours(struct mail_namespace *ns);
 *	bool mailgrants_namespace_is_root(struct mail_namespace *ns);
 *	bool mailgrants_namespace_owner(struct mail_namespace *ns,
 *					const char **address_r,
 *					enum mailgrants_api_category *category_r);
 * DESCRIPTION
 *	A root is a "type = shared" namespace whose prefix is one of the
 *	plugin's prefixes followed by %u. Dovecot creates a namespace for
 *	an owner below it whenever a name is used; we put ourselves in
 *	front of every root function that would do so:
 *
 *	- iter_init first adds a namespace for every owner the user's
 *	  grants allow in this root (so LIST shows them, and a new grant
 *	  shows within mailgrants_cache_secs), and drops patterns that
 *	  name an owner without a grant. The roots are not listed
 *	  themselves (list = no), so LIST "*" reaches this only through
 *	  mailgrants_roots_add_namespaces(), called when the user's own
 *	  namespace is listed (mailgrants-subs.c). An owner whose grant
 *	  ended in this session keeps its namespace but is no longer
 *	  listed;
 *	- get_storage, get_path, join_refpattern, set_subscribed and the
 *	  delete and rename functions answer for an owner without a
 *	  grant as for a mailbox that does not exist, before Dovecot
 *	  would create a user or touch a path for that name.
 *
 *	Owner namespaces get a context too (category and address), which
 *	mailgrants-acl.c uses to take over their ACL backend.
 */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "mail-error.h"
#include "mail-namespace.h"
#include "mailbox-list-private.h"
#include "mailgrants-plugin.h"
#include "shared-storage.h"

struct mailgrants_mailbox_list_module mailgrants_mailbox_list_module =
	MODULE_CONTEXT_INIT(&mailbox_list_module_register);

/* A root is creating an owner's user right now (mailgrants-plugin.c
   then spares it 2.4's userdb lookup). */
bool mailgrants_owner_opening;

/* mailgrants_root_owner - the owner part of a storage name below a root */
static const char *mailgrants_root_owner(const char *storage_name)
{
	const char *p = strchr(storage_name, '/');

	return p == NULL ? storage_name : t_strdup_until(storage_name, p);
}

/* mailgrants_root_allows - does the user have a grant for this name */
static bool mailgrants_root_allows(struct mailbox_list *list,
				   const char *storage_name)
{
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(list);
	const char *owner;

	if (storage_name == NULL)
		return FALSE;
	owner = mailgrants_root_owner(storage_name);
	if (owner[0] == '\0')
		return TRUE;	/* the root itself */
	return mailgrants_user_find(list->ns->user, mlist->category,
				    owner) != NULL;
}

/* mailgrants_root_not_found - the answer for a name without a grant */
static void mailgrants_root_not_found(struct mailbox_list *list,
				      const char *vname)
{
	mailbox_list_set_error(list, MAIL_ERROR_NOTFOUND,
			       T_MAIL_ERR_MAILBOX_NOT_FOUND(vname));
}

/* mailgrants_root_refused - a storage name without a grant, answered
   as one that does not exist */
static bool mailgrants_root_refused(struct mailbox_list *list,
				    const char *name)
{
	if (mailgrants_root_allows(list, name))
		return FALSE;
	mailgrants_root_not_found(list, mailbox_list_get_vname(list, name));
	return TRUE;
}

/* mailgrants_root_add_namespaces - one namespace per granted owner */
static void mailgrants_root_add_namespaces(struct mailbox_list *list)
{
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(list);
	struct mailgrants_user *muser = MAILGRANTS_USER_CONTEXT(list->ns->user);
	struct mail_namespace *ns;
	const struct mailgrants_grant *grant;
	const char *prefix, *name;
	int ret;

	mailgrants_user_update(list->ns->user);
	/* An owner whose grant ended in this session keeps its namespace
	   (open mailboxes use it): it only stops being listed. Its
	   prefix is its INBOX, which the namespace's LIST flag shows. */
	for (ns = list->ns->user->namespaces; ns != NULL; ns = ns->next) {
		struct mailgrants_list *olist = MAILGRANTS_LIST_CONTEXT(ns->list);

		if (olist == NULL || olist->owner == NULL ||
		    olist->category != mlist->category)
			continue;
		if (mailgrants_user_find(ns->user, olist->category,
					 olist->owner) != NULL)
			ns->flags |= NAMESPACE_FLAG_LIST_PREFIX;
		else
			ns->flags &= ENUM_NEGATE(NAMESPACE_FLAG_LIST_PREFIX);
	}
	array_foreach(&muser->grants, grant) {
		if (grant->category != mlist->category)
			continue;
		prefix = t_strconcat(list->ns->prefix, grant->address, "/",
				     NULL);
		if (mail_namespace_find_prefix(list->ns->user->namespaces,
					       prefix) != NULL)
			continue;
		ns = list->ns;
		name = t_strconcat(grant->address, "/", NULL);
		mailgrants_owner_opening = TRUE;
		ret = shared_storage_get_namespace(&ns, &name);
		mailgrants_owner_opening = FALSE;
		if (ret < 0) {
			e_error(muser->event, "namespace %s: %s", prefix,
				mailbox_list_get_last_internal_error(list,
								     NULL));
		}
	}
}

/* mailgrants_root_pattern_allowed - may this LIST pattern go to Dovecot */
static bool mailgrants_root_pattern_allowed(struct mailbox_list *list,
					    const char *pattern)
{
	const char *rest, *p;

	/* Dovecot creates the namespace of an owner named in full before
	   the first wildcard; that must not happen without a grant. */
	if (strncmp(pattern, list->ns->prefix, list->ns->prefix_len) != 0)
		return TRUE;
	rest = pattern + list->ns->prefix_len;
	for (p = rest; *p != '\0' && *p != '/'; p++) {
		if (*p == '%' || *p == '*')
			return TRUE;
	}
	if (*p != '/')
		return TRUE;	/* no full owner part */
	return mailgrants_root_allows(list, rest);
}

/* mailgrants_root_iter_init - add granted owners, then list as usual */
static struct mailbox_list_iterate_context *
mailgrants_root_iter_init(struct mailbox_list *list,
			  const char *const *patterns,
			  enum mailbox_list_iter_flags flags)
{
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(list);
	struct mailbox_list_iterate_context *ctx;
	ARRAY_TYPE(const_string) allowed;
	unsigned int i;

	T_BEGIN {
		mailgrants_root_add_namespaces(list);
	} T_END;

	/* The array outlives T_END: the iterator keeps the patterns
	   only as compiled globs in its own pool. */
	t_array_init(&allowed, 8);
	for (i = 0; patterns[i] != NULL; i++) {
		if (mailgrants_root_pattern_allowed(list, patterns[i]))
			array_push_back(&allowed, &patterns[i]);
	}
	if (array_count(&allowed) == 0) {
		const char *root = list->ns->prefix;

		array_push_back(&allowed, &root);
	}
	array_append_zero(&allowed);
	ctx = mlist->module_ctx.super.iter_init(list, array_front(&allowed),
						flags);
	return ctx;
}

/* mailgrants_root_storage_allowed - may Dovecot open vname's owner */
static bool mailgrants_root_storage_allowed(struct mailbox_list *list,
					    const char *vname)
{
	const char *name = mailbox_list_get_storage_name(list, vname);

	if (mailgrants_root_allows(list, name))
		return TRUE;
	mailgrants_root_not_found(list, vname);
	return FALSE;
}

#if DOVECOT_PREREQ(2, 4, 0)
/* mailgrants_root_get_storage - no storage for an owner without a grant */
static int mailgrants_root_get_storage(struct mailbox_list **list,
				       const char **vname,
				       enum mailbox_list_get_storage_flags flags,
				       struct mail_storage **storage_r)
{
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(*list);
	int ret;

	if (!mailgrants_root_storage_allowed(*list, *vname))
		return -1;
	mailgrants_owner_opening = TRUE;
	ret = mlist->module_ctx.super.get_storage(list, vname, flags,
						  storage_r);
	mailgrants_owner_opening = FALSE;
	return ret;
}
#else
/* mailgrants_root_get_storage - no storage for an owner without a grant */
static int mailgrants_root_get_storage(struct mailbox_list **list,
				       const char *vname,
				       struct mail_storage **storage_r)
{
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(*list);

	if (!mailgrants_root_storage_allowed(*list, vname))
		return -1;
	return mlist->module_ctx.super.get_storage(list, vname, storage_r);
}
#endif

/* mailgrants_root_get_path - no path for an owner without a grant */
static int mailgrants_root_get_path(struct mailbox_list *list,
				    const char *name,
				    enum mailbox_list_path_type type,
				    const char **path_r)
{
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(list);

	if (name != NULL && !mailgrants_root_allows(list, name)) {
		*path_r = NULL;
		return 0;
	}
	return mlist->module_ctx.super.get_path(list, name, type, path_r);
}

/* mailgrants_root_join_refpattern - no owner lookups through a reference */
static const char *
mailgrants_root_join_refpattern(struct mailbox_list *list, const char *ref,
				const char *pattern)
{
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(list);

	if (*ref != '\0' &&
	    strncmp(ref, list->ns->prefix, list->ns->prefix_len) == 0 &&
	    ref[list->ns->prefix_len] != '\0' &&
	    !mailgrants_root_allows(list, ref + list->ns->prefix_len))
		return t_strconcat(ref, pattern, NULL);
	return mlist->module_ctx.super.join_refpattern(list, ref, pattern);
}

/* mailgrants_root_set_subscribed - only below granted owners */
static int mailgrants_root_set_subscribed(struct mailbox_list *list,
					  const char *name, bool set)
{
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(list);

	if (mailgrants_root_refused(list, name))
		return -1;
	return mlist->module_ctx.super.set_subscribed(list, name, set);
}

/* mailgrants_root_delete_mailbox - only below granted owners */
static int mailgrants_root_delete_mailbox(struct mailbox_list *list,
					  const char *name)
{
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(list);

	if (mailgrants_root_refused(list, name))
		return -1;
	return mlist->module_ctx.super.delete_mailbox(list, name);
}

/* mailgrants_root_delete_dir - only below granted owners */
static int mailgrants_root_delete_dir(struct mailbox_list *list,
				      const char *name)
{
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(list);

	if (mailgrants_root_refused(list, name))
		return -1;
	return mlist->module_ctx.super.delete_dir(list, name);
}

/* mailgrants_root_delete_symlink - only below granted owners */
static int mailgrants_root_delete_symlink(struct mailbox_list *list,
					  const char *name)
{
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(list);

	if (mailgrants_root_refused(list, name))
		return -1;
	return mlist->module_ctx.super.delete_symlink(list, name);
}

/* mailgrants_root_rename_mailbox - only between granted owners */
static int mailgrants_root_rename_mailbox(struct mailbox_list *oldlist,
					  const char *oldname,
					  struct mailbox_list *newlist,
					  const char *newname)
{
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(oldlist);

	if (mailgrants_root_refused(oldlist, oldname) ||
	    (newlist == oldlist && mailgrants_root_refused(newlist, newname)))
		return -1;
	return mlist->module_ctx.super.rename_mailbox(oldlist, oldname,
						      newlist, newname);
}

/* mailgrants_root_wrap - put the root functions behind our checks */
static void mailgrants_root_wrap(struct mailbox_list *list,
				 enum mailgrants_category category)
{
	struct mailbox_list_vfuncs *v = list->vlast;
	struct mailgrants_list *mlist;

	mlist = p_new(list->pool, struct mailgrants_list, 1);
	mlist->module_ctx.super = *v;
	list->vlast = &mlist->module_ctx.super;
	mlist->category = category;
	mlist->root = TRUE;

	v->iter_init = mailgrants_root_iter_init;
	v->get_storage = mailgrants_root_get_storage;
	v->get_path = mailgrants_root_get_path;
	v->join_refpattern = mailgrants_root_join_refpattern;
	v->set_subscribed = mailgrants_root_set_subscribed;
	v->delete_mailbox = mailgrants_root_delete_mailbox;
	v->delete_dir = mailgrants_root_delete_dir;
	v->delete_symlink = mailgrants_root_delete_symlink;
	v->rename_mailbox = mailgrants_root_rename_mailbox;
	MODULE_CONTEXT_SET(list, mailgrants_mailbox_list_module, mlist);
}

/* mailgrants_roots_add_namespaces - every root's granted owners */
void mailgrants_roots_add_namespaces(struct mail_user *user)
{
	struct mail_namespace *ns;
	struct mailgrants_list *mlist;

	for (ns = user->namespaces; ns != NULL; ns = ns->next) {
		mlist = MAILGRANTS_LIST_CONTEXT(ns->list);
		if (mlist == NULL || !mlist->root)
			continue;
		T_BEGIN {
			mailgrants_root_add_namespaces(ns->list);
		} T_END;
	}
}

/* mailgrants_namespace_is_ours - a root or an owner namespace below one */
bool mailgrants_namespace_is_ours(struct mail_namespace *ns)
{
	return MAILGRANTS_LIST_CONTEXT(ns->list) != NULL;
}

/* mailgrants_namespace_is_root - a root itself (Company/%u/) */
bool mailgrants_namespace_is_root(struct mail_namespace *ns)
{
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(ns->list);

	return mlist != NULL && mlist->root;
}

/* mailgrants_namespace_owner - an owner namespace: whose, and which root */
bool mailgrants_namespace_owner(struct mail_namespace *ns,
				const char **address_r,
				enum mailgrants_api_category *category_r)
{
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(ns->list);

	if (mlist == NULL || mlist->root || mlist->owner == NULL)
		return FALSE;
	*address_r = mlist->owner;
	switch (mlist->category) {
	case MAILGRANTS_CATEGORY_COMPANY:
		*category_r = MAILGRANTS_API_COMPANY;
		break;
	case MAILGRANTS_CATEGORY_SHARED:
		*category_r = MAILGRANTS_API_SHARED;
		break;
	default:
		*category_r = MAILGRANTS_API_PRIVATE;
		break;
	}
	return TRUE;
}

/* mailgrants_list_created - recognise roots and owner namespaces */
void mailgrants_list_created(struct mailbox_list *list)
{
	struct mail_namespace *ns = list->ns;
	struct mailgrants_user *muser = MAILGRANTS_USER_CONTEXT(ns->user);
	struct mailgrants_list *mlist;
	const char *rest;
	size_t len;
	int category;

	if (muser == NULL)
		return;
	if (ns->type == MAIL_NAMESPACE_TYPE_PRIVATE &&
	    (ns->flags & NAMESPACE_FLAG_SUBSCRIPTIONS) != 0) {
		/* the user's namespace: the owners listed with it, and the
		   subscriptions below the roots */
		mailgrants_subs_list_created(list);
		return;
	}
	if (ns->type != MAIL_NAMESPACE_TYPE_SHARED)
		return;
	category = mailgrants_prefix_category(muser, ns->prefix, &rest);
	if (category < 0)
		return;

	if ((ns->flags & NAMESPACE_FLAG_AUTOCREATED) == 0) {
		/* The root; its prefix still holds the %u here (2.3) or
		   $user (2.4). */
		if (rest[0] == '%' || rest[0] == '$')
			mailgrants_root_wrap(list, category);
		return;
	}
	len = strlen(rest);
	if (ns->owner == NULL || len < 2 || rest[len - 1] != '/' ||
	    memchr(rest, '/', len - 1) != NULL)
		return;
	mlist = p_new(list->pool, struct mailgrants_list, 1);
	mlist->module_ctx.super = *list->vlast;
	mlist->category = category;
	mlist->owner = p_strndup(list->pool, rest, len - 1);
	MODULE_CONTEXT_SET(list, mailgrants_mailbox_list_module, mlist);
}
