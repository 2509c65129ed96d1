/*
 * NAME
 *	mailgrants-imap - SETACL, DELETEACL, GETACL and MYRIGHTS on our
 *	mailboxes
 * SYNOPSIS
 *	#include "mailgrants-plugin.h"
 *
 *	void mailgrants_imap_init(void);
 *	void mailgrants_imap_deinit(void);
 * DESCRIPTION
 *	The imap_acl plugin answers these commands only for users with
 *	the "a" right, which no grant gives. For a mailbox below one of
 *	our roots we answer them ourselves:
 *
 *	SETACL, DELETEACL  NO [NOPERM] with a text that says where
 *			   access is managed;
 *	GETACL		   the user's own rights, as MYRIGHTS has them;
 *	MYRIGHTS	   imap_acl's answer, but only for a mailbox the
 *			   user can see.
 *
 *	A mailbox the user cannot see (no grant, no "l") gets the same
 *	answer as one that does not exist. A bare root (Shared), which
 *	NAMESPACE announces (LIST does not list it), is a level: MYRIGHTS
 *	answers with no rights, GETACL with no entries, SETACL and
 *	DELETEACL NO [NOPERM]. Every other mailbox goes to imap_acl as
 *	before.
 *
 *	The plugin is one .so for every mail process; the IMAP server's
 *	functions are referenced weakly and used only inside the imap
 *	process, after imap_acl (lib02) registered its commands.
 */

#include "imap-common.h"
#include "str.h"
#include "imap-quote.h"
#include "imap-resp-code.h"
#include "imap-commands.h"
#include "imap-commands-util.h"
#include "master-service.h"
#include "mail-namespace.h"
#include "acl-storage.h"
#include "mailgrants-plugin.h"

/* Only the imap binary has these. */
#pragma weak command_find
#pragma weak client_read_string_args
#pragma weak client_find_namespace
#pragma weak client_send_tagline
#pragma weak client_send_line

struct mailgrants_imap_cmd {
	const char *name;
	command_func_t *func;
	command_func_t *prev;
};

static bool mailgrants_cmd_getacl(struct client_command_context *cmd);
static bool mailgrants_cmd_setacl(struct client_command_context *cmd);
static bool mailgrants_cmd_deleteacl(struct client_command_context *cmd);
static bool mailgrants_cmd_myrights(struct client_command_context *cmd);

enum {
	MAILGRANTS_IMAP_GETACL,
	MAILGRANTS_IMAP_SETACL,
	MAILGRANTS_IMAP_DELETEACL,
	MAILGRANTS_IMAP_MYRIGHTS,
	MAILGRANTS_IMAP_COUNT
};

static struct mailgrants_imap_cmd mailgrants_imap_cmds[MAILGRANTS_IMAP_COUNT] = {
	[MAILGRANTS_IMAP_GETACL] = { "GETACL", mailgrants_cmd_getacl, NULL },
	[MAILGRANTS_IMAP_SETACL] = { "SETACL", mailgrants_cmd_setacl, NULL },
	[MAILGRANTS_IMAP_DELETEACL] = { "DELETEACL", mailgrants_cmd_deleteacl,
					NULL },
	[MAILGRANTS_IMAP_MYRIGHTS] = { "MYRIGHTS", mailgrants_cmd_myrights,
				       NULL },
};

/* mailgrants_imap_ours - is the namespace one of our roots or owners */
static bool mailgrants_imap_ours(struct mail_namespace *ns)
{
	return MAILGRANTS_LIST_CONTEXT(ns->list) != NULL;
}

/* mailgrants_imap_visible - may the user see this mailbox at all */
static bool mailgrants_imap_visible(struct mail_namespace *ns,
				    const char *mailbox)
{
	enum mailbox_existence existence = MAILBOX_EXISTENCE_NONE;
	struct mailbox *box;
	bool visible;

	box = mailbox_alloc(ns->list, mailbox, MAILBOX_FLAG_READONLY);
	visible = mailbox_exists(box, TRUE, &existence) == 0 &&
		existence == MAILBOX_EXISTENCE_SELECT &&
		acl_mailbox_right_lookup(box, ACL_STORAGE_RIGHT_LOOKUP) > 0;
	mailbox_free(&box);
	return visible;
}

/* mailgrants_imap_root - is mailbox the bare root of namespace ns */
static bool mailgrants_imap_root(struct mail_namespace *ns,
				 const char *mailbox)
{
	struct mailgrants_list *mlist = MAILGRANTS_LIST_CONTEXT(ns->list);

	return mlist->root && ns->prefix_len > 0 &&
		strlen(mailbox) == ns->prefix_len - 1 &&
		strncmp(mailbox, ns->prefix, ns->prefix_len - 1) == 0;
}

/* mailgrants_imap_not_found - the answer for a mailbox that is not there */
static void mailgrants_imap_not_found(struct client_command_context *cmd,
				      const char *orig_mailbox)
{
	client_send_tagline(cmd, t_strdup_printf(
		"NO ["IMAP_RESP_CODE_NONEXISTENT"] "
		MAIL_ERRSTR_MAILBOX_NOT_FOUND, orig_mailbox));
}

/* mailgrants_imap_target - our namespace for the command's mailbox */
static int mailgrants_imap_target(struct client_command_context *cmd,
				  struct mail_namespace **ns_r,
				  const char **mailbox_r,
				  const char **orig_mailbox_r)
{
	const char *mailbox;

	/* Read only the mailbox; imap_acl reads the line again if the
	   mailbox is not ours. */
	if (!client_read_string_args(cmd, 1, &mailbox))
		return -1;
	*orig_mailbox_r = mailbox;
	*ns_r = client_find_namespace(cmd, &mailbox);
	if (*ns_r == NULL)
		return -2;	/* answered */
	*mailbox_r = mailbox;
	return mailgrants_imap_ours(*ns_r) ? 1 : 0;
}

/* mailgrants_cmd_refuse - SETACL/DELETEACL: the directory decides */
static bool mailgrants_cmd_refuse(struct client_command_context *cmd,
				  unsigned int idx)
{
	struct mail_namespace *ns;
	const char *mailbox, *orig_mailbox;
	int ret;

	ret = mailgrants_imap_target(cmd, &ns, &mailbox, &orig_mailbox);
	if (ret == -1)
		return FALSE;
	if (ret == -2)
		return TRUE;
	if (ret == 0)
		return mailgrants_imap_cmds[idx].prev(cmd);
	if (!mailgrants_imap_root(ns, mailbox) &&
	    !mailgrants_imap_visible(ns, mailbox))
		mailgrants_imap_not_found(cmd, orig_mailbox);
	else
		client_send_tagline(cmd, "NO ["IMAP_RESP_CODE_NOPERM"] "
				    MAILGRANTS_ERR_MANAGED);
	return TRUE;
}

/* mailgrants_cmd_setacl - SETACL on our mailboxes is refused */
static bool mailgrants_cmd_setacl(struct client_command_context *cmd)
{
	return mailgrants_cmd_refuse(cmd, MAILGRANTS_IMAP_SETACL);
}

/* mailgrants_cmd_deleteacl - DELETEACL on our mailboxes is refused */
static bool mailgrants_cmd_deleteacl(struct client_command_context *cmd)
{
	return mailgrants_cmd_refuse(cmd, MAILGRANTS_IMAP_DELETEACL);
}

/* mailgrants_cmd_myrights - MYRIGHTS only on what the user can see */
static bool mailgrants_cmd_myrights(struct client_command_context *cmd)
{
	struct mail_namespace *ns;
	const char *mailbox, *orig_mailbox;
	string_t *str;
	int ret;

	/* imap_acl answers with the rights of the namespace for any name
	   in it, also for names that GETACL, SELECT and STATUS call
	   nonexistent. */
	ret = mailgrants_imap_target(cmd, &ns, &mailbox, &orig_mailbox);
	if (ret == -1)
		return FALSE;
	if (ret == -2)
		return TRUE;
	if (ret == 1 && mailgrants_imap_root(ns, mailbox)) {
		str = t_str_new(64);
		str_append(str, "* MYRIGHTS ");
		imap_append_astring(str, orig_mailbox);
		str_append(str, " \"\"");
		client_send_line(cmd->client, str_c(str));
		client_send_tagline(cmd, "OK Myrights completed.");
		return TRUE;
	}
	if (ret == 1 && !mailgrants_imap_visible(ns, mailbox)) {
		mailgrants_imap_not_found(cmd, orig_mailbox);
		return TRUE;
	}
	return mailgrants_imap_cmds[MAILGRANTS_IMAP_MYRIGHTS].prev(cmd);
}

/* mailgrants_imap_letters - rights letters as imap_acl writes them */
static void mailgrants_imap_letters(string_t *dest, const char *letters)
{
	size_t len = str_len(dest);

	str_append(dest, letters);
	if (strpbrk(letters, "kx") != NULL)
		str_append_c(dest, 'c');
	if (strpbrk(letters, "te") != NULL)
		str_append_c(dest, 'd');
	if (str_len(dest) == len)
		str_append(dest, "\"\"");
}

/* mailgrants_cmd_getacl - GETACL: the user's rights from the grant */
static bool mailgrants_cmd_getacl(struct client_command_context *cmd)
{
	struct mail_namespace *ns;
	const char *mailbox, *orig_mailbox, *letters;
	string_t *str;
	int ret;

	ret = mailgrants_imap_target(cmd, &ns, &mailbox, &orig_mailbox);
	if (ret == -1)
		return FALSE;
	if (ret == -2)
		return TRUE;
	if (ret == 0)
		return mailgrants_imap_cmds[MAILGRANTS_IMAP_GETACL].prev(cmd);
	if (mailgrants_imap_root(ns, mailbox)) {
		/* a level: nobody has rights on it */
		str = t_str_new(64);
		str_append(str, "* ACL ");
		imap_append_astring(str, orig_mailbox);
		client_send_line(cmd->client, str_c(str));
		client_send_tagline(cmd, "OK Getacl completed.");
		return TRUE;
	}
	if (!mailgrants_imap_visible(ns, mailbox)) {
		mailgrants_imap_not_found(cmd, orig_mailbox);
		return TRUE;
	}
	/* visible means: an owner namespace with a grant */
	letters = mailgrants_namespace_letters(ns);
	str = t_str_new(128);
	str_append(str, "* ACL ");
	imap_append_astring(str, orig_mailbox);
	str_append_c(str, ' ');
	imap_append_astring(str, cmd->client->user->username);
	str_append_c(str, ' ');
	mailgrants_imap_letters(str, letters);
	client_send_line(cmd->client, str_c(str));
	client_send_tagline(cmd, "OK Getacl completed.");
	return TRUE;
}

/* mailgrants_imap_init - put our commands in front of imap_acl's */
void mailgrants_imap_init(void)
{
	struct command *command;
	unsigned int i;

	if (command_find == NULL || client_read_string_args == NULL ||
	    client_find_namespace == NULL || client_send_tagline == NULL ||
	    client_send_line == NULL || master_service == NULL ||
	    strcmp(master_service_get_name(master_service), "imap") != 0)
		return;
	for (i = 0; i < MAILGRANTS_IMAP_COUNT; i++) {
		command = command_find(mailgrants_imap_cmds[i].name);
		if (command == NULL || command->func == NULL)
			continue;	/* imap_acl not loaded */
		mailgrants_imap_cmds[i].prev = command->func;
		command->func = mailgrants_imap_cmds[i].func;
	}
}

/* mailgrants_imap_deinit - give the commands back */
void mailgrants_imap_deinit(void)
{
	struct command *command;
	unsigned int i;

	for (i = 0; i < MAILGRANTS_IMAP_COUNT; i++) {
		if (mailgrants_imap_cmds[i].prev == NULL)
			continue;
		command = command_find(mailgrants_imap_cmds[i].name);
		if (command != NULL &&
		    command->func == mailgrants_imap_cmds[i].func)
			command->func = mailgrants_imap_cmds[i].prev;
		mailgrants_imap_cmds[i].prev = NULL;
	}
}
