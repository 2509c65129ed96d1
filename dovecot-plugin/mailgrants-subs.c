/*
 * NAME
 *	mailgrants-subs - the user's own namespace: granted mailboxes are
 *	listed with it, and subscribed until the user unsubscribes them
 * SYNOPSIS
 *	#include "mailgrants-plugin.h"
 *
 *	void mailgrants_subs_list_created(struct mailbox_list *list);
 * DESCRIPTION
 *	Many clients (Thunderbird, Apple Mail, iOS Mail, Outlook over
 *	IMAP) show only subscribed folders. A mailbox granted to a user
 *	must appear there without any action, and disappear when the
 *	grant ends. Subscriptions below our roots are therefore computed,
 *	not stored: a granted mailbox and each of its folders is
 *	subscribed unless the user unsubscribed it.
 *
 *	The only state is what the user unsubscribed on purpose. It is
 *	kept in "mailgrants-unsubscribed" beside the user's own
 *	subscriptions file (the namespaces below the roots have
 *	"subscriptions = no", so their subscriptions belong to the
 *	user's namespace), in the same format and written the same
 *	way. UNSUBSCRIBE below a root adds the name there (and removes
 *	it from the subscriptions file, where an older version or the
 *	user may have put it); SUBSCRIBE removes it. Nothing below a
 *	root is read from the subscriptions file: there would be names
 *	of grants that ended while no session ran, and nothing would
 *	ever remove them.
 *
 *	Why not write the granted names into the subscriptions file at
 *	login: the file would keep every name after the grant ended
 *	until someone removed it, a folder the owner creates later
 *	would not be subscribed, and a user who unsubscribed would be
 *	subscribed again at the next login unless another file
 *	remembered it anyway.
 *
 *	A record of an unsubscription lives as long as its grant: when
 *	the user's subscriptions are read (LSUB, LIST (SUBSCRIBED),
 *	SUBSCRIBE) and the grants were read from a usable replica,
 *	records of owners without a grant are dropped, so that a new
 *	grant of the same mailbox appears subscribed again. (A grant that
 *	ends and starts again while the user has no session keeps its
 *	record.)
 *
 *	The subscriptions are those of the user's grants of the moment
 *	(mailgrants_cache_secs): a new grant appears in LSUB and LIST
 *	(SUBSCRIBED) of an open session, an ended one disappears.
 *
 *	The same wrapper of the user's own namespace adds the granted
 *	owners' namespaces when it is listed with a pattern that can
 *	reach a root: the roots themselves are not listed (list = no,
 *	see 90-mailgrants.conf), so LIST "*" and LSUB "*" would not
 *	otherwise reach mailgrants-list.c before the owners are listed.
 */

#include "lib.h"
#include "array.h"
#include "mail-error.h"
#include "mail-namespace.h"
#include "mailbox-list-private.h"
#include "mailbox-tree.h"
#include "subscription-file.h"
#include "mailgrants-plugin.h"

#define MAILGRANTS_UNSUBSCRIBED_FNAME "mailgrants-unsubscribed"

#define MAILGRANTS_SUBS_LIST_CONTEXT(obj) \
	MODULE_CONTEXT(obj, mailgrants_subs_list_module)

static MODULE_CONTEXT_DEFINE_INIT(mailgrants_subs_list_module,
				  &mailbox_list_module_register);

/* mailgrants_subs_path - the file of unsubscribed names, NULL if none */
static const char *mailgrants_subs_path(struct mailbox_list *list)
{
	enum mailbox_list_path_type type;
	const char *dir, *control, *fname;

#if DOVECOT_PREREQ(2, 4, 0)
	control = list->mail_set->mail_control_path;
	fname = list->mail_set->mailbox_subscriptions_filename;
#else
	control = list->set.control_dir;
	fname = list->set.subscription_fname;
#endif
	/* where mailbox_list_subscriptions_refresh() looks for the
	   subscriptions file (2.4: "" = unset) */
	type = control != NULL && control[0] != '\0' ?
		MAILBOX_LIST_PATH_TYPE_CONTROL : MAILBOX_LIST_PATH_TYPE_DIR;
	if (!mailbox_list_get_root_path(list, type, &dir) ||
	    fname == NULL || fname[0] == '\0')
		return NULL;
	return t_strconcat(dir, "/" MAILGRANTS_UNSUBSCRIBED_FNAME, NULL);
}

/* mailgrants_subs_read - the names the user unsubscribed below prefix */
static int mailgrants_subs_read(struct mailbox_list *list, const char *prefix,
				ARRAY_TYPE(const_string) *names)
{
	struct subsfile_list_context *ctx;
	const char *path, *name;
	size_t len = strlen(prefix);

	path = mailgrants_subs_path(list);
	if (path == NULL)
		return 0;
	ctx = subsfile_list_init(list, path);
	while ((name = subsfile_list_next(ctx)) != NULL) {
		if (strncmp(name, prefix, len) == 0) {
			name = t_strdup(name);
			array_push_back(names, &name);
		}
	}
	return subsfile_list_deinit(&ctx);
}

/* mailgrants_subs_unsubscribed - is name among the unsubscribed */
static bool mailgrants_subs_unsubscribed(const ARRAY_TYPE(const_string) *names,
					 const char *name)
{
	const char *const *n;

	array_foreach(names, n) {
		if (strcmp(*n, name) == 0)
			return TRUE;
	}
	return FALSE;
}

/* mailgrants_subs_add - subscribe vname unless the user unsubscribed it */
static void mailgrants_subs_add(struct mailbox_list *dest_list,
				const ARRAY_TYPE(const_string) *unsubscribed,
				const char *vname)
{
	struct mailbox_node *node;
	const char *name;
	bool created;

	/* recorded as index_storage_set_subscribed() names it: the
	   namespace prefix and the storage name (INBOX for the owner's
	   prefix itself) */
	name = t_strconcat(dest_list->ns->prefix,
			   mailbox_list_get_storage_name(dest_list, vname),
			   NULL);
	if (mailgrants_subs_unsubscribed(unsubscribed, name))
		return;
	node = mailbox_tree_get(dest_list->subscriptions, vname, &created);
	node->flags = MAILBOX_SUBSCRIBED;
}

/* mailgrants_subs_fill - an owner's subscriptions: its mailboxes */
static int mailgrants_subs_fill(struct mailbox_list *src_list,
				struct mailbox_list *dest_list)
{
	struct mailgrants_list *mdest = MAILGRANTS_LIST_CONTEXT(dest_list);
	struct mailbox_list_iterate_context *iter;
	const struct mailbox_info *info;
	const struct mailgrants_grant *grant;
	ARRAY_TYPE(const_string) unsubscribed;
	int ret = 0;

	grant = mailgrants_user_find(dest_list->ns->user, mdest->category,
				     mdest->owner);
	if (grant == NULL || strchr(grant->letters, 'l') == NULL)
		return 0;	/* ended in this session: nothing */

	t_array_init(&unsubscribed, 8);
	if (mailgrants_subs_read(src_list, dest_list->ns->prefix,
				 &unsubscribed) < 0) {
		mailbox_list_set_internal_error(dest_list);
		return -1;
	}
	mailgrants_subs_add(dest_list, &unsubscribed,
			    mailbox_list_get_vname(dest_list, "INBOX"));
	/* RAW_LIST: the rights are the same for every mailbox of the
	   owner, and the grant was just checked. */
	iter = mailbox_list_iter_init(dest_list,
		t_strconcat(dest_list->ns->prefix, "*", NULL),
		MAILBOX_LIST_ITER_RAW_LIST | MAILBOX_LIST_ITER_NO_AUTO_BOXES);
	while ((info = mailbox_list_iter_next(iter)) != NULL) {
		if ((info->flags & (MAILBOX_NOSELECT |
				    MAILBOX_NONEXISTENT)) != 0)
			continue;
		mailgrants_subs_add(dest_list, &unsubscribed, info->vname);
	}
	if (mailbox_list_iter_deinit(&iter) < 0)
		ret = -1;
	return ret;
}

/* mailgrants_subs_prune - forget unsubscriptions of ended grants */
static void mailgrants_subs_prune(struct mailbox_list *src_list)
{
	struct mail_user *user = src_list->ns->user;
	struct mailgrants_user *muser = MAILGRANTS_USER_CONTEXT(user);
	ARRAY_TYPE(const_string) unsubscribed;
	const char *const *name, *path, *vname, *rest, *owner, *p;
	int category;

	mailgrants_user_update(user);
	/* Without the grants (replica unusable) nothing is known to
	   have ended: keep every record. */
	if (!muser->grants_read)
		return;
	t_array_init(&unsubscribed, 8);
	if (mailgrants_subs_read(src_list, "", &unsubscribed) < 0 ||
	    array_count(&unsubscribed) == 0)
		return;
	path = mailgrants_subs_path(src_list);
	array_foreach(&unsubscribed, name) {
		vname = t_strconcat(src_list->ns->prefix, *name, NULL);
		category = mailgrants_prefix_category(muser, vname, &rest);
		if (category >= 0) {
			p = strchr(rest, '/');
			owner = p == NULL ? rest : t_strdup_until(rest, p);
			if (mailgrants_user_find(user, category, owner) != NULL)
				continue;
		}
		(void)subsfile_set_subscribed(src_list, path,
			mailbox_list_get_temp_prefix(src_list), *name, FALSE);
	}
}

/* mailgrants_subs_refresh - computed subscriptions below our roots */
static int mailgrants_subs_refresh(struct mailbox_list *src_list,
				   struct mailbox_list *dest_list)
{
	union mailbox_list_module_context *slist =
		MAILGRANTS_SUBS_LIST_CONTEXT(src_list);
	struct mailgrants_list *mdest = MAILGRANTS_LIST_CONTEXT(dest_list);
	int ret;

	if (mdest == NULL) {
		ret = slist->super.subscriptions_refresh(src_list, dest_list);
		/* Every LSUB and LIST (SUBSCRIBED) refreshes the user's own
		   namespace: a good moment to forget what ended. */
		if (dest_list == src_list) T_BEGIN {
			mailgrants_subs_prune(src_list);
		} T_END;
		return ret;
	}

	/* Rebuilt at every refresh: the grants change without the
	   subscriptions file changing. */
	if (dest_list->subscriptions == NULL) {
		dest_list->subscriptions =
			mailbox_tree_init(mail_namespace_get_sep(dest_list->ns));
	} else {
		mailbox_tree_clear(dest_list->subscriptions);
	}
	T_BEGIN {
		if (mdest->root) {
			/* A root holds no mailboxes: what the file has
			   below it belongs to owners or to ended grants. */
			ret = 0;
		} else {
			ret = mailgrants_subs_fill(src_list, dest_list);
		}
	} T_END;
	return ret;
}

/* mailgrants_subs_set_subscribed - below a root: record unsubscriptions */
static int mailgrants_subs_set_subscribed(struct mailbox_list *list,
					  const char *name, bool set)
{
	union mailbox_list_module_context *slist =
		MAILGRANTS_SUBS_LIST_CONTEXT(list);
	struct mailgrants_user *muser = MAILGRANTS_USER_CONTEXT(list->ns->user);
	const char *vname, *rest, *owner, *p, *path;
	int category;

	vname = t_strconcat(list->ns->prefix, name, NULL);
	category = mailgrants_prefix_category(muser, vname, &rest);
	if (category < 0)
		return slist->super.set_subscribed(list, name, set);

	p = strchr(rest, '/');
	owner = p == NULL ? rest : t_strdup_until(rest, p);
	if (mailgrants_user_find(list->ns->user, category, owner) == NULL) {
		mailbox_list_set_error(list, MAIL_ERROR_NOTFOUND,
				       T_MAIL_ERR_MAILBOX_NOT_FOUND(vname));
		return -1;
	}
	path = mailgrants_subs_path(list);
	if (path == NULL) {
		mailbox_list_set_error(list, MAIL_ERROR_NOTPOSSIBLE,
				       "This namespace has no subscriptions");
		return -1;
	}
	if (subsfile_set_subscribed(list, path,
				    mailbox_list_get_temp_prefix(list),
				    name, !set) < 0)
		return -1;
	/* A name an older version (or the user) stored stays out. */
	if (!set && slist->super.set_subscribed(list, name, FALSE) < 0)
		return -1;
	return 0;
}

/* mailgrants_subs_pattern_reaches_roots - may pattern name an owner */
static bool mailgrants_subs_pattern_reaches_roots(struct mailgrants_user *muser,
						  const char *pattern)
{
	const char *rest;

	return pattern[0] == '*' || pattern[0] == '%' ||
		mailgrants_prefix_category(muser, pattern, &rest) >= 0;
}

/* mailgrants_subs_iter_init - the user's namespace is listed first: add
   the granted owners' namespaces before the rest is listed */
static struct mailbox_list_iterate_context *
mailgrants_subs_iter_init(struct mailbox_list *list,
			  const char *const *patterns,
			  enum mailbox_list_iter_flags flags)
{
	union mailbox_list_module_context *slist =
		MAILGRANTS_SUBS_LIST_CONTEXT(list);
	struct mailgrants_user *muser = MAILGRANTS_USER_CONTEXT(list->ns->user);
	unsigned int i;

	/* The roots have "list = no": LIST "*" does not call their
	   iter_init, only a pattern that begins with a root does. The
	   owners' namespaces (listed themselves) must exist before the
	   namespaces after this one are iterated. A pattern that cannot
	   reach a root (doveadm on one mailbox) reads nothing. */
	for (i = 0; patterns[i] != NULL; i++) {
		if (mailgrants_subs_pattern_reaches_roots(muser, patterns[i]))
			break;
	}
	if (patterns[i] != NULL && (flags & MAILBOX_LIST_ITER_RAW_LIST) == 0)
		mailgrants_roots_add_namespaces(list->ns->user);
	return slist->super.iter_init(list, patterns, flags);
}

/* mailgrants_subs_list_created - the user's own namespace: the owners
   listed with it, and the subscriptions below the roots */
void mailgrants_subs_list_created(struct mailbox_list *list)
{
	struct mailbox_list_vfuncs *v = list->vlast;
	union mailbox_list_module_context *slist;

	slist = p_new(list->pool, union mailbox_list_module_context, 1);
	slist->super = *v;
	list->vlast = &slist->super;
	v->iter_init = mailgrants_subs_iter_init;
	v->subscriptions_refresh = mailgrants_subs_refresh;
	v->set_subscribed = mailgrants_subs_set_subscribed;
	MODULE_CONTEXT_SET_SELF(list, mailgrants_subs_list_module, slist);
}
