/*
 * NAME
 *	mailgrants-acl - rights from the replica instead of dovecot-acl
 * SYNOPSIS
 *	#include "mailgrants-plugin.h"
 *
 *	void mailgrants_acl_namespace_storage_added(struct mail_namespace *ns);
 *
 *	#include "mailgrants-api.h"
 *
 *	const char *mailgrants_namespace_letters(struct mail_namespace *ns);
 * DESCRIPTION
 *	Dovecot 2.3 has no registry for ACL backends. As the bundled
 *	mail-crypt-acl plugin does, we take over functions of the vfile
 *	backend the ACL plugin created for an owner's namespace below one
 *	of our roots, right after it was created:
 *
 *	object_refresh_cache	the user's rights on every mailbox of the
 *				namespace are the rights of the grant
 *				(none without one), cached by the ACL
 *				cache until the grants are refreshed;
 *				the generation of the grants it holds is
 *				kept in the list context, and the cache is
 *				flushed when they change (no validity
 *				record of our own: its size is vfile's,
 *				which vfile does not export);
 *	object_init_parent	the parent by name, without opening
 *				mailboxes or reading files;
 *	object_update		nothing is stored (SETACL never gets here
 *				without the "a" right, which no grant
 *				gives; CREATE calls it to copy the
 *				parent's rights, which are ours anyway);
 *	last_changed		never;
 *	nonowner_lookups_*	no dovecot-acl-list: nothing is listable
 *				without the "l" right.
 *
 *	vfile's object_init, object_deinit and the object list stay.
 *
 *	mail-crypt-acl's caveat holds here too: this works only if a
 *	single plugin does it. mailgrants and mail_crypt_acl cannot both
 *	take over the same backend (README, "Dovecot").
 *
 *	The ACL plugin asks for these rights when a mailbox is opened and
 *	when something is written; what an open mailbox still hands out
 *	after its grant ended is mailgrants-mailbox.c's part.
 */

#include "lib.h"
#include "array.h"
#include "mail-namespace.h"
#include "mail-storage-private.h"
#include "acl-api-private.h"
#include "acl-cache.h"
#include "acl-plugin.h"
#include "mailgrants-plugin.h"

/* mailgrants_acl_grant - the grant behind an owner namespace, if any */
static const struct mailgrants_grant *
mailgrants_acl_grant(struct mailbox_list *list)
{
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(list);

	if (mlist == NULL || mlist->owner == NULL)
		return NULL;
	return mailgrants_user_find(mailbox_list_get_user(list),
				    mlist->category, mlist->owner);
}

/* mailgrants_namespace_letters - the user's rights letters in ns */
const char *mailgrants_namespace_letters(struct mail_namespace *ns)
{
	const struct mailgrants_grant *grant = mailgrants_acl_grant(ns->list);

	return grant == NULL ? "" : grant->letters;
}

/* mailgrants_acl_refresh_cache - the rights of the grant, cached */
static int mailgrants_acl_refresh_cache(struct acl_object *aclobj)
{
	struct acl_backend *backend = aclobj->backend;
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(backend->list);
	struct mail_user *user = mailbox_list_get_user(backend->list);
	struct mailgrants_user *muser = MAILGRANTS_USER_CONTEXT(user);
	const struct mailgrants_grant *grant;
	struct acl_rights rights;
	const char *error;

	i_assert(muser != NULL && mlist != NULL);
	grant = mailgrants_acl_grant(backend->list);	/* refreshes */
	if (mlist->acl_generation != muser->generation) {
		/* Nothing cached is from these grants. vfile's validity
		   records are not used: the cache copies them with the
		   size vfile gave it, and acl-backend-vfile.h, which
		   defines it, is not installed. */
		acl_cache_flush_all(backend->cache);
		mlist->acl_generation = muser->generation;
	} else if (acl_cache_get_validity(backend->cache,
					  aclobj->name) != NULL) {
		/* rebuilt from these grants (an object without rights
		   has no entry: computed again, without a query) */
		return 0;
	}

	if (!array_is_created(&aclobj->rights)) {
		aclobj->rights_pool = pool_alloconly_create("acl rights", 256);
		i_array_init(&aclobj->rights, 4);
	} else {
		array_clear(&aclobj->rights);
		p_clear(aclobj->rights_pool);
	}
	if (grant != NULL) {
		i_zero(&rights);
		rights.id_type = ACL_ID_USER;
		rights.identifier = p_strdup(aclobj->rights_pool,
					     backend->username);
		rights.rights = acl_right_names_parse(aclobj->rights_pool,
						      grant->letters, &error);
		if (rights.rights == NULL) {
			/* cannot happen: letters were filtered */
			e_error(muser->event, "rights %s: %s",
				grant->letters, error);
			return -1;
		}
		array_push_back(&aclobj->rights, &rights);
	}
	acl_rights_sort(aclobj);
	acl_object_rebuild_cache(aclobj);
	return 0;
}

/* mailgrants_acl_init_parent - the parent object, found by name only */
static struct acl_object *
mailgrants_acl_init_parent(struct acl_backend *backend, const char *child_name)
{
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(backend->list);
	const char *p, *parent;
	char sep = mailbox_list_get_hierarchy_sep(backend->list);

	p = strrchr(child_name, sep);
	parent = p == NULL ? acl_backend_get_default_object(backend)->name :
		t_strdup_until(child_name, p);
	return mlist->acl_prev.object_init(backend, parent);
}

/* mailgrants_acl_update - nothing to store: the directory decides */
static int mailgrants_acl_update(struct acl_object *aclobj ATTR_UNUSED,
				 const struct acl_rights_update *update ATTR_UNUSED)
{
	return 0;
}

/* mailgrants_acl_last_changed - ACLs here are never "changed" over IMAP */
static int mailgrants_acl_last_changed(struct acl_object *aclobj ATTR_UNUSED,
				       time_t *last_changed_r)
{
	*last_changed_r = 0;
	return 0;
}

/* mailgrants_acl_nonowner_init - no list of mailboxes with ACL files */
static struct acl_mailbox_list_context *
mailgrants_acl_nonowner_init(struct acl_backend *backend)
{
	struct acl_mailbox_list_context *ctx;

	ctx = i_new(struct acl_mailbox_list_context, 1);
	ctx->backend = backend;
	ctx->empty = TRUE;
	return ctx;
}

/* mailgrants_acl_nonowner_next - the list is empty */
static bool
mailgrants_acl_nonowner_next(struct acl_mailbox_list_context *ctx ATTR_UNUSED,
			     const char **name_r ATTR_UNUSED)
{
	return FALSE;
}

/* mailgrants_acl_nonowner_deinit - free the empty list */
static int
mailgrants_acl_nonowner_deinit(struct acl_mailbox_list_context *ctx)
{
	i_free(ctx);
	return 0;
}

/* mailgrants_acl_nonowner_rebuild - nothing to rebuild */
static int
mailgrants_acl_nonowner_rebuild(struct acl_backend *backend ATTR_UNUSED)
{
	return 0;
}

/* mailgrants_acl_namespace_storage_added - take over an owner's backend */
void mailgrants_acl_namespace_storage_added(struct mail_namespace *ns)
{
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(ns->list);
	struct acl_mailbox_list *alist = ACL_LIST_CONTEXT(ns->list);
	struct acl_backend *backend;
	struct acl_backend_vfuncs *v;

	if (mlist == NULL || mlist->owner == NULL || mlist->acl_taken)
		return;
	if (alist == NULL || alist->rights.backend == NULL) {
		/* ACLs off for this namespace (e.g. it is unusable): the
		   ACL plugin then denies nothing, so neither may we let
		   anything through. Mark it unusable. */
		ns->flags |= NAMESPACE_FLAG_UNUSABLE;
		return;
	}
	backend = alist->rights.backend;
	mlist->acl_taken = TRUE;
#if DOVECOT_PREREQ(2, 4, 0)
	/* 2.4: v is vfile's static table, shared by every namespace:
	   never write through it, replace it by a copy of our own. */
	mlist->acl_prev = *backend->v;
	mlist->acl_v = *backend->v;
	v = &mlist->acl_v;
	backend->v = v;
#else
	mlist->acl_prev = backend->v;
	v = &backend->v;
#endif
	v->object_refresh_cache = mailgrants_acl_refresh_cache;
	v->object_init_parent = mailgrants_acl_init_parent;
	v->object_update = mailgrants_acl_update;
	v->last_changed = mailgrants_acl_last_changed;
	v->nonowner_lookups_iter_init = mailgrants_acl_nonowner_init;
	v->nonowner_lookups_iter_next = mailgrants_acl_nonowner_next;
	v->nonowner_lookups_iter_deinit = mailgrants_acl_nonowner_deinit;
	v->nonowner_lookups_rebuild = mailgrants_acl_nonowner_rebuild;
	/* Anything vfile cached before the takeover is not ours. */
	acl_cache_flush_all(backend->cache);
}
