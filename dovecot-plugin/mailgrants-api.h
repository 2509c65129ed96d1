#ifndef MAILGRANTS_API_H
#define MAILGRANTS_API_H

/*
 * NAME
 *	mailgrants-api - what the mailgrants plugin gives imap_mailgrants
 * SYNOPSIS
 *	#include "mailgrants-api.h"
 *
 *	bool mailgrants_namespace_is_ours(struct mail_namespace *ns);
 *	bool mailgrants_namespace_is_root(struct mail_namespace *ns);
 *	const char *mailgrants_namespace_letters(struct mail_namespace *ns);
 *	bool mailgrants_namespace_owner(struct mail_namespace *ns,
 *					const char **address_r,
 *					enum mailgrants_api_category *category_r);
 *	const char *mailgrants_setting(struct mail_user *user,
 *				       const char *key);
 *	int mailgrants_mailbox_acl(struct mail_user *user,
 *				   const char *address,
 *				   ARRAY_TYPE(const_string) *acl,
 *				   const char **error_r);
 *	int mailgrants_share_rights(struct mail_user *user, const char *dn,
 *				    const char **rights_r,
 *				    const char **error_r);
 *	void mailgrants_imap_attach(bool attached);
 * DESCRIPTION
 *	The functions lib20_mailgrants_plugin.so exports (mailgrants.map),
 *	for lib21_imap_mailgrants_plugin.so, as the acl plugin exports its
 *	API to imap_acl. Everything else of the plugin, and the core it
 *	links, stays inside it.
 *
 *	mailgrants_namespace_is_ours() is TRUE for a root (Company/%u/)
 *	and for an owner's namespace below one, mailgrants_namespace_is_
 *	root() for a root only. mailgrants_namespace_letters() gives the
 *	user's RFC 4314 letters in an owner's namespace, "" without a
 *	grant.
 *
 *	mailgrants_namespace_owner() is TRUE for an owner's namespace
 *	below a root, with the owner's address and the root's kind:
 *	PRIVATE is a private mailbox the user owns herself (Private/).
 *
 *	mailgrants_setting() is the value of one of the plugin's settings
 *	for the user (2.3: plugin { } or a userdb field; 2.4: the keys of
 *	mailgrants-settings.c, also from the userdb), NULL or "" unset.
 *
 *	mailgrants_mailbox_acl() appends to acl, in pairs, each login that
 *	sees the mailbox of address now and its RFC 4314 letters, as the
 *	replica has them (rights_who(): the owner first, then the
 *	grantees of its active shares, group members one by one), on the
 *	data stack. -1 with error_r when the replica cannot answer.
 *
 *	mailgrants_share_rights() is 1 with the rights of the share entry
 *	dn (the replica's normal form) when the replica has it, whatever
 *	its window or grantees (rights_share()), 0 when it has not, -1
 *	with error_r when the replica cannot answer.
 *
 *	imap_mailgrants calls mailgrants_imap_attach(TRUE) when it is
 *	loaded and (FALSE) when it is unloaded: without it an imap
 *	session logs a warning (mailgrants-plugin.c).
 */

#include "array.h"

struct mail_namespace;
struct mail_user;

enum mailgrants_api_category {
	MAILGRANTS_API_COMPANY,
	MAILGRANTS_API_SHARED,
	MAILGRANTS_API_PRIVATE,
};

bool mailgrants_namespace_is_ours(struct mail_namespace *ns);
bool mailgrants_namespace_is_root(struct mail_namespace *ns);
const char *mailgrants_namespace_letters(struct mail_namespace *ns);
bool mailgrants_namespace_owner(struct mail_namespace *ns,
				const char **address_r,
				enum mailgrants_api_category *category_r);
void mailgrants_imap_attach(bool attached);

/* per user */
int mailgrants_mailbox_acl(struct mail_user *user, const char *address,
			   ARRAY_TYPE(const_string) *acl,
			   const char **error_r);
int mailgrants_share_rights(struct mail_user *user, const char *dn,
			    const char **rights_r, const char **error_r);
const char *mailgrants_setting(struct mail_user *user, const char *key);

#endif
