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
 *	imap_mailgrants calls mailgrants_imap_attach(TRUE) when it is
 *	loaded and (FALSE) when it is unloaded: without it an imap
 *	session logs a warning (mailgrants-plugin.c).
 */

struct mail_namespace;

bool mailgrants_namespace_is_ours(struct mail_namespace *ns);
bool mailgrants_namespace_is_root(struct mail_namespace *ns);
const char *mailgrants_namespace_letters(struct mail_namespace *ns);
void mailgrants_imap_attach(bool attached);

#endif
