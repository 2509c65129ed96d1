/*
 * NAME
 *	lib21_imap_mailgrants_plugin.so - SETACL, DELETEACL, GETACL and
 *	MYRIGHTS on our mailboxes
 * SYNOPSIS
 *	mail_plugins = $mail_plugins acl mailgrants
 *	protocol imap {
 *	  mail_plugins = $mail_plugins imap_acl imap_mailgrants
 *	}
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
 *	What lib20_mailgrants_plugin.so is to acl, this plugin is to
 *	imap_acl: it runs in the imap process only (binary dependency),
 *	is loaded after imap_acl (lib02) registered the commands and
 *	after mailgrants (lib20), and asks the latter only through
 *	mailgrants-api.h.
 *
 *	Without this plugin in protocol imap (a configuration from before
 *	it existed) rights are still enforced and LIST still shows what
 *	the grants give: both are the mail plugin's. imap_acl then
 *	answers these commands itself: SETACL and DELETEACL are refused
 *	all the same (no grant gives "a"), but without the pointer to the
 *	directory. The mail plugin logs a warning in each imap session
 *	that names the line to change.
 * SEE ALSO
 *	mailgrants-plugin.c, doc of the imap_acl plugin
 */

#include "imap-common.h"
#include "str.h"
#include "imap-quote.h"
#include "imap-resp-code.h"
#include "imap-commands.h"
#include "imap-commands-util.h"
#include "mail-namespace.h"
#include "acl-storage.h"
#include "mailgrants-api.h"

/* The text SETACL and DELETEACL get for our mailboxes. */
#define MAILGRANTS_ERR_MANAGED \
	"Access to this mailbox is managed in the directory (mailgrants), " \
	"not with SETACL."

const char *imap_mailgrants_plugin_version = DOVECOT_ABI_VERSION;
/* Loaded in this order (lib02, lib20, lib21): our commands wrap
   imap_acl's, and our answers come from the mail plugin. */
const char *imap_mailgrants_plugin_dependencies[] = {
	"imap_acl", "mailgrants", NULL
};
/* An array, not a pointer: the loader reads the string at the
   symbol's address (module-dir.c). */
const char imap_mailgrants_plugin_binary_dependency[] = "imap";

void imap_mailgrants_plugin_init(struct module *module);
void imap_mailgrants_plugin_deinit(void);

struct mailgrants_imap_cmd {
	const char *name;
	command_func_t *func;
	command_func_t *prev;
	enum command_flags flags;	/* prev's */
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
	[MAILGRANTS_IMAP_GETACL] = { .name = "GETACL",
				     .func = mailgrants_cmd_getacl },
	[MAILGRANTS_IMAP_SETACL] = { .name = "SETACL",
				     .func = mailgrants_cmd_setacl },
	[MAILGRANTS_IMAP_DELETEACL] = { .name = "DELETEACL",
					.func = mailgrants_cmd_deleteacl },
	[MAILGRANTS_IMAP_MYRIGHTS] = { .name = "MYRIGHTS",
				       .func = mailgrants_cmd_myrights },
};

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
	return mailgrants_namespace_is_root(ns) && ns->prefix_len > 0 &&
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

/* mailgrants_imap_answer - "* <what> <mailbox><rest>", then the tagline */
static bool mailgrants_imap_answer(struct client_command_context *cmd,
				   const char *what, const char *orig_mailbox,
				   const char *rest, const char *tagline)
{
	string_t *str = t_str_new(128);

	str_printfa(str, "* %s ", what);
	imap_append_astring(str, orig_mailbox);
	str_append(str, rest);
	client_send_line(cmd->client, str_c(str));
	client_send_tagline(cmd, tagline);
	return TRUE;
}

/* mailgrants_imap_target - is the command's mailbox below our roots;
   if not, the command has been dealt with and *result_r is what its
   function returns (input missing, answered, or imap_acl's answer) */
static bool mailgrants_imap_target(struct client_command_context *cmd,
				   unsigned int idx,
				   struct mail_namespace **ns_r,
				   const char **mailbox_r,
				   const char **orig_mailbox_r, bool *result_r)
{
	const char *mailbox;

	/* Read only the mailbox; imap_acl reads the line again if the
	   mailbox is not ours. */
	if (!client_read_string_args(cmd, 1, &mailbox)) {
		*result_r = FALSE;
		return FALSE;
	}
	*orig_mailbox_r = mailbox;
	*ns_r = client_find_namespace(cmd, &mailbox);
	if (*ns_r == NULL) {
		*result_r = TRUE;	/* answered */
		return FALSE;
	}
	if (!mailgrants_namespace_is_ours(*ns_r)) {
		*result_r = mailgrants_imap_cmds[idx].prev(cmd);
		return FALSE;
	}
	*mailbox_r = mailbox;
	return TRUE;
}

/* mailgrants_cmd_refuse - SETACL/DELETEACL: the directory decides */
static bool mailgrants_cmd_refuse(struct client_command_context *cmd,
				  unsigned int idx)
{
	struct mail_namespace *ns;
	const char *mailbox, *orig_mailbox;
	bool result;

	if (!mailgrants_imap_target(cmd, idx, &ns, &mailbox, &orig_mailbox,
				    &result))
		return result;
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
	bool result;

	/* imap_acl answers with the rights of the namespace for any name
	   in it, also for names that GETACL, SELECT and STATUS call
	   nonexistent. */
	if (!mailgrants_imap_target(cmd, MAILGRANTS_IMAP_MYRIGHTS, &ns,
				    &mailbox, &orig_mailbox, &result))
		return result;
	if (mailgrants_imap_root(ns, mailbox)) {
		/* a level: nobody has rights on it */
		return mailgrants_imap_answer(cmd, "MYRIGHTS", orig_mailbox,
					      " \"\"", "OK Myrights completed.");
	}
	if (!mailgrants_imap_visible(ns, mailbox)) {
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
	bool result;

	if (!mailgrants_imap_target(cmd, MAILGRANTS_IMAP_GETACL, &ns,
				    &mailbox, &orig_mailbox, &result))
		return result;
	if (mailgrants_imap_root(ns, mailbox)) {
		/* a level: no entries */
		return mailgrants_imap_answer(cmd, "ACL", orig_mailbox, "",
					      "OK Getacl completed.");
	}
	if (!mailgrants_imap_visible(ns, mailbox)) {
		mailgrants_imap_not_found(cmd, orig_mailbox);
		return TRUE;
	}
	/* visible means: an owner namespace with a grant */
	letters = mailgrants_namespace_letters(ns);
	str = t_str_new(128);
	str_append_c(str, ' ');
	imap_append_astring(str, cmd->client->user->username);
	str_append_c(str, ' ');
	mailgrants_imap_letters(str, letters);
	return mailgrants_imap_answer(cmd, "ACL", orig_mailbox, str_c(str),
				      "OK Getacl completed.");
}

/* imap_mailgrants_plugin_init - put our commands in front of imap_acl's */
void imap_mailgrants_plugin_init(struct module *module ATTR_UNUSED)
{
	const struct command *command;
	enum command_flags flags;
	unsigned int i;

	/* Registered again rather than changed in place: command_find()
	   gives a const command since Dovecot 2.4. */
	for (i = 0; i < MAILGRANTS_IMAP_COUNT; i++) {
		command = command_find(mailgrants_imap_cmds[i].name);
		/* imap_acl (a dependency) registered every one of them */
		i_assert(command != NULL && command->func != NULL);
		mailgrants_imap_cmds[i].prev = command->func;
		flags = command->flags;
		mailgrants_imap_cmds[i].flags = flags;
		command_unregister(mailgrants_imap_cmds[i].name);
		command_register(mailgrants_imap_cmds[i].name,
				 mailgrants_imap_cmds[i].func, flags);
	}
	mailgrants_imap_attach(TRUE);
}

/* imap_mailgrants_plugin_deinit - give the commands back */
void imap_mailgrants_plugin_deinit(void)
{
	const struct command *command;
	unsigned int i;

	for (i = 0; i < MAILGRANTS_IMAP_COUNT; i++) {
		if (mailgrants_imap_cmds[i].prev == NULL)
			continue;
		command = command_find(mailgrants_imap_cmds[i].name);
		if (command != NULL &&
		    command->func == mailgrants_imap_cmds[i].func) {
			command_unregister(mailgrants_imap_cmds[i].name);
			command_register(mailgrants_imap_cmds[i].name,
					 mailgrants_imap_cmds[i].prev,
					 mailgrants_imap_cmds[i].flags);
		}
		mailgrants_imap_cmds[i].prev = NULL;
	}
	mailgrants_imap_attach(FALSE);
}
