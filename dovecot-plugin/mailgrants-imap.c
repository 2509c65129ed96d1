/*
 * NAME
 *	lib21_imap_mailgrants_plugin.so - SETACL, DELETEACL, GETACL,
 *	LISTRIGHTS and MYRIGHTS on the user's own and granted mailboxes
 * SYNOPSIS
 *	mail_plugins = $mail_plugins acl mailgrants
 *	protocol imap {
 *	  mail_plugins = $mail_plugins imap_acl imap_mailgrants
 *	}
 * DESCRIPTION
 *	The imap_acl plugin answers these commands from dovecot-acl
 *	files; access here is the directory's. We answer them ourselves
 *	for the user's own mailboxes (her INBOX namespace, and below
 *	Private/ the mailboxes she owns) and for every mailbox below one
 *	of our roots:
 *
 *	SETACL, DELETEACL  on a mailbox she owns: the change goes to
 *			   "mailgrants share-service" (the socket of
 *			   mailgrants_share_socket) with her login and
 *			   the password she logged in with (the userdb
 *			   field mailgrants_share_password, from the
 *			   passdb), which writes the share in LDAP as
 *			   her; the answer comes once the directory
 *			   wrote it and (5 s at most) the replica shows
 *			   each share entry written with its new rights,
 *			   or without it. Only on the mailbox's INBOX
 *			   (shares are whole mailboxes), for a user or
 *			   group (not anyone, authenticated, negative
 *			   rights or herself). A password the directory
 *			   no longer accepts: NO [NOPERM], log in again.
 *			   Elsewhere NO [NOPERM] with a text that says
 *			   who manages access;
 *	GETACL		   on a mailbox she owns: the owner, and the
 *			   directory's shares (the service, op=list) that
 *			   have not ended: a user by login, a group by
 *			   its DN, as SETACL and DELETEACL take them
 *			   back; when the service or the directory
 *			   cannot answer, the replica's view (who sees
 *			   it now, groups as their members), logged; on
 *			   a granted one the user's own rights;
 *	LISTRIGHTS	   on a mailbox she owns: the letters a share
 *			   may carry; elsewhere NO [NOPERM];
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
 *	mailgrants-api.h. It never talks LDAP and holds no credential
 *	of its own (README, "Sharing from your mail client").
 *
 *	Without this plugin in protocol imap (a configuration from before
 *	it existed) rights are still enforced and LIST still shows what
 *	the grants give: both are the mail plugin's. imap_acl then
 *	answers these commands itself: SETACL and DELETEACL are refused
 *	all the same (no grant gives "a"), but without the pointer to the
 *	directory. The mail plugin logs a warning in each imap session
 *	that names the line to change.
 * SEE ALSO
 *	mailgrants-plugin.c, cli/share-service.c, doc of the imap_acl
 *	plugin, RFC 4314
 */

#include "imap-common.h"
#include "array.h"
#include "str.h"
#include "str-sanitize.h"
#include "write-full.h"
#include "imap-quote.h"
#include "imap-resp-code.h"
#include "imap-commands.h"
#include "imap-commands-util.h"
#include "mail-namespace.h"
#include "acl-storage.h"
#include "mailgrants-api.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The text SETACL and DELETEACL get for mailboxes a user cannot share. */
#define MAILGRANTS_ERR_MANAGED \
	"Access to this mailbox is managed in the directory (mailgrants), " \
	"not with SETACL."
#define MAILGRANTS_ERR_COMPANY \
	"Company mailboxes are managed in the directory by the mail " \
	"administrators (mailgrants), not with SETACL."
#define MAILGRANTS_ERR_GRANTEE \
	"Only the owner shares a mailbox: access to this one is managed in " \
	"the directory (mailgrants) and by its owner."
#define MAILGRANTS_ERR_FOLDER \
	"Shares are whole mailboxes: set the rights on the mailbox's INBOX, " \
	"they apply to all of its folders."
#define MAILGRANTS_ERR_NO_PASSWORD \
	"Sharing from a mail client needs the password of the login, and " \
	"this session has none to act with (a login without a password, " \
	"or a passdb that does not pass it on); shares are managed in the " \
	"directory (mailgrants share)."
#define MAILGRANTS_ERR_NO_SERVICE \
	"Sharing from mail clients is not set up on this server " \
	"(mailgrants_share_socket); shares are managed in the directory."
#define MAILGRANTS_ERR_IDENTIFIER \
	"A share names a user or a group of the directory: not anyone, " \
	"authenticated, negative rights or the owner."
/* How long SETACL waits for the share service: beyond the directory's
   own time limits, the service's bound on one request. */
#define MAILGRANTS_SHARE_TIMEOUT_MSECS (65 * 1000)
#define MAILGRANTS_SHARE_ANSWER_MAX 65536	/* the service's bound */
/* How long SETACL and DELETEACL wait, once written, for the follower to
   carry the change into the replica (well under a second when it
   runs): a follower that is down costs each change this much, no
   more. */
#define MAILGRANTS_SHARE_SETTLE_MSECS (5 * 1000)

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
	unsigned int nargs;		/* mailbox and the rest */
	command_func_t *func;
	command_func_t *prev;
	enum command_flags flags;	/* prev's */
};

static bool mailgrants_cmd_getacl(struct client_command_context *cmd);
static bool mailgrants_cmd_setacl(struct client_command_context *cmd);
static bool mailgrants_cmd_deleteacl(struct client_command_context *cmd);
static bool mailgrants_cmd_myrights(struct client_command_context *cmd);
static bool mailgrants_cmd_listrights(struct client_command_context *cmd);

enum {
	MAILGRANTS_IMAP_GETACL,
	MAILGRANTS_IMAP_SETACL,
	MAILGRANTS_IMAP_DELETEACL,
	MAILGRANTS_IMAP_MYRIGHTS,
	MAILGRANTS_IMAP_LISTRIGHTS,
	MAILGRANTS_IMAP_COUNT
};

static struct mailgrants_imap_cmd mailgrants_imap_cmds[MAILGRANTS_IMAP_COUNT] = {
	[MAILGRANTS_IMAP_GETACL] = { .name = "GETACL", .nargs = 1,
				     .func = mailgrants_cmd_getacl },
	[MAILGRANTS_IMAP_SETACL] = { .name = "SETACL", .nargs = 3,
				     .func = mailgrants_cmd_setacl },
	[MAILGRANTS_IMAP_DELETEACL] = { .name = "DELETEACL", .nargs = 2,
					.func = mailgrants_cmd_deleteacl },
	[MAILGRANTS_IMAP_MYRIGHTS] = { .name = "MYRIGHTS", .nargs = 1,
				       .func = mailgrants_cmd_myrights },
	[MAILGRANTS_IMAP_LISTRIGHTS] = { .name = "LISTRIGHTS", .nargs = 2,
					 .func = mailgrants_cmd_listrights },
};

/* The mailbox a command names, as far as sharing goes. */
enum mailgrants_imap_kind {
	MAILGRANTS_IMAP_OTHER,		/* not ours: imap_acl's */
	MAILGRANTS_IMAP_ROOT,		/* a bare root (Shared) */
	MAILGRANTS_IMAP_OWN,		/* a mailbox the user owns */
	MAILGRANTS_IMAP_COMPANY,	/* below Company/ */
	MAILGRANTS_IMAP_GRANTED,	/* below Shared/: shared with her */
};

/* The command's mailbox, as mailgrants_imap_target() found it. */
struct mailgrants_imap_target {
	struct mail_namespace *ns;
	const char *mailbox, *orig_mailbox;
	/* the command's arguments, the mailbox first */
	const char *args[3];
	enum mailgrants_imap_kind kind;
	/* OWN: the owner part (NULL: her primary mailbox, her INBOX
	   namespace) and whether the name is the mailbox's INBOX */
	const char *owner;
	bool inbox;
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

/* mailgrants_imap_own_namespace - the user's INBOX namespace */
static bool mailgrants_imap_own_namespace(struct mail_namespace *ns)
{
	return ns->type == MAIL_NAMESPACE_TYPE_PRIVATE &&
		(ns->flags & NAMESPACE_FLAG_INBOX_USER) != 0;
}

/* mailgrants_imap_target - what the command's mailbox is to sharing;
   FALSE when the command has been dealt with and *result_r is what its
   function returns (input missing, answered, or imap_acl's answer) */
static bool mailgrants_imap_target(struct client_command_context *cmd,
				   unsigned int idx,
				   struct mailgrants_imap_target *t,
				   bool *result_r)
{
	enum mailgrants_api_category category;
	const char *mailbox, *address, *rest;

	i_zero(t);
	/* All of the command's arguments in one read: a command function
	   that read some and returns for more input is not called again
	   (the command no longer waits for input), so a line that
	   arrives in two pieces would hang. imap_acl reads the same
	   arguments again when the mailbox is not ours. */
	if (!client_read_string_args(cmd, mailgrants_imap_cmds[idx].nargs,
				     &t->args[0], &t->args[1], &t->args[2])) {
		*result_r = FALSE;
		return FALSE;
	}
	mailbox = t->args[0];
	t->orig_mailbox = mailbox;
	t->ns = client_find_namespace(cmd, &mailbox);
	if (t->ns == NULL) {
		*result_r = TRUE;	/* answered */
		return FALSE;
	}
	t->mailbox = mailbox;
	if (mailgrants_imap_own_namespace(t->ns)) {
		t->kind = MAILGRANTS_IMAP_OWN;
		t->inbox = strcasecmp(mailbox, "INBOX") == 0;
		return TRUE;
	}
	if (!mailgrants_namespace_is_ours(t->ns)) {
		*result_r = mailgrants_imap_cmds[idx].prev(cmd);
		return FALSE;
	}
	if (mailgrants_imap_root(t->ns, mailbox)) {
		t->kind = MAILGRANTS_IMAP_ROOT;
		return TRUE;
	}
	if (!mailgrants_namespace_owner(t->ns, &address, &category)) {
		/* a name below a root without an owner namespace: no grant,
		   so not visible, which every command checks first */
		t->kind = MAILGRANTS_IMAP_GRANTED;
		return TRUE;
	}
	switch (category) {
	case MAILGRANTS_API_COMPANY:
		t->kind = MAILGRANTS_IMAP_COMPANY;
		break;
	case MAILGRANTS_API_SHARED:
		t->kind = MAILGRANTS_IMAP_GRANTED;
		break;
	case MAILGRANTS_API_PRIVATE:
		t->kind = MAILGRANTS_IMAP_OWN;
		t->owner = address;
		/* the owner's INBOX: the bare prefix (no explicit INBOX)
		   or prefix + INBOX */
		rest = strlen(mailbox) < t->ns->prefix_len ? "" :
			mailbox + t->ns->prefix_len;
		t->inbox = rest[0] == '\0' || strcasecmp(rest, "INBOX") == 0;
		break;
	}
	return TRUE;
}

/* mailgrants_share_escape - a request value: %XX for '%' and controls */
static void mailgrants_share_escape(string_t *dest, const char *value)
{
	for (const unsigned char *p = (const unsigned char *)value;
	     *p != '\0'; p++) {
		if (*p == '%' || *p < 0x20 || *p == 0x7f)
			str_printfa(dest, "%%%02X", *p);
		else
			str_append_c(dest, (char)*p);
	}
}

/* mailgrants_share_ask - one request to the share service, its answer
   line; -1 (error_r) when the service could not be asked */
static int mailgrants_share_ask(const char *path, const char *request,
				const char **answer_r, const char **error_r)
{
	struct sockaddr_un sun;
	char *buf = t_malloc_no0(MAILGRANTS_SHARE_ANSWER_MAX);
	size_t len = 0;
	int fd, ret = -1;

	i_zero(&sun);
	sun.sun_family = AF_UNIX;
	if (i_strocpy(sun.sun_path, path, sizeof(sun.sun_path)) < 0) {
		*error_r = "mailgrants_share_socket: path too long";
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    write_full(fd, request, strlen(request)) < 0) {
		*error_r = t_strdup_printf("%s: %m", path);
		i_close_fd(&fd);
		return -1;
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, MAILGRANTS_SHARE_TIMEOUT_MSECS) <= 0) {
			*error_r = t_strdup_printf("%s: no answer", path);
			break;
		}
		n = read(fd, buf + len, MAILGRANTS_SHARE_ANSWER_MAX - 1 - len);
		if (n <= 0) {
			*error_r = t_strdup_printf("%s: closed before an "
						   "answer", path);
			break;
		}
		len += n;
		if (memchr(buf, '\n', len) != NULL) {
			buf[len] = '\0';
			*answer_r = t_strcut(buf, '\n');
			ret = 0;
			break;
		}
		if (len == MAILGRANTS_SHARE_ANSWER_MAX - 1) {
			*error_r = t_strdup_printf("%s: answer too long",
						   path);
			break;
		}
	}
	i_close_fd(&fd);
	return ret;
}

/* mailgrants_share_unescape - a word of the service's answer, %XX
   decoded; NULL when badly escaped */
static const char *mailgrants_share_unescape(const char *word)
{
	static const char hex[] = "0123456789ABCDEF";
	string_t *str = t_str_new(strlen(word) + 1);
	const char *hi, *lo;

	for (const char *p = word; *p != '\0'; p++) {
		if (*p != '%') {
			str_append_c(str, *p);
			continue;
		}
		/* the service writes upper case hex digits */
		if (p[1] == '\0' || p[2] == '\0' ||
		    (hi = strchr(hex, p[1])) == NULL ||
		    (lo = strchr(hex, p[2])) == NULL ||
		    (hi == hex && lo == hex))
			return NULL;
		str_append_c(str, (char)((hi - hex) * 16 + (lo - hex)));
		p += 2;
	}
	return str_c(str);
}

/* mailgrants_share_same_letters - the same rights, in any order */
static bool mailgrants_share_same_letters(const char *a, const char *b)
{
	for (const char *p = a; *p != '\0'; p++) {
		if (strchr(b, *p) == NULL)
			return FALSE;
	}
	for (const char *p = b; *p != '\0'; p++) {
		if (strchr(a, *p) == NULL)
			return FALSE;
	}
	return TRUE;
}

/* mailgrants_share_shown - does the replica show every entry the
   service wrote ("RIGHTS:DN", "-" for deleted); -1 when it cannot
   answer */
static int mailgrants_share_shown(struct mail_user *user,
				  const char *const *entries)
{
	const char *rights, *dn, *now, *error;
	int ret;

	for (; *entries != NULL; entries++) {
		dn = strchr(*entries, ':');
		if (dn == NULL || (dn = mailgrants_share_unescape(dn + 1)) ==
		    NULL)
			continue;	/* not one to wait for */
		rights = t_strdup_until(*entries, strchr(*entries, ':'));
		ret = mailgrants_share_rights(user, dn, &now, &error);
		if (ret < 0) {
			e_warning(user->event, "mailgrants: not waiting for "
				  "the replica: %s", error);
			return -1;
		}
		if (strcmp(rights, "-") == 0 ? ret != 0 :
		    ret == 0 || !mailgrants_share_same_letters(rights, now))
			return 0;
	}
	return 1;
}

/* mailgrants_share_settle - after a change, wait (a little) until the
   follower has carried it into the replica, so that what reads the
   replica (LIST, and GETACL when the service cannot answer) shows it:
   until each share entry written shows its new rights there, or is
   gone; a change the replica cannot show (a grantee taken off a share
   that keeps others) is not waited for */
static void mailgrants_share_settle(struct mail_user *user,
				    const char *const *entries)
{
	unsigned int waited;
	int ret = 1;

	for (waited = 0; entries[0] != NULL; waited += 100) {
		T_BEGIN {
			ret = mailgrants_share_shown(user, entries);
		} T_END;
		if (ret != 0)
			return;
		if (waited >= MAILGRANTS_SHARE_SETTLE_MSECS)
			break;
		usleep(100 * 1000);
	}
	if (ret == 0)
		e_warning(user->event, "mailgrants: the replica does not show "
			  "the change after %u ms (is mailgrants sync "
			  "--follow running?)", MAILGRANTS_SHARE_SETTLE_MSECS);
}

/* mailgrants_share_request - the request for op on the mailbox of t:
   NULL (with the tagline in *error_r) when it cannot be asked */
static const char *
mailgrants_share_request(struct mail_user *user,
			 const struct mailgrants_imap_target *t,
			 const char *op, const char *identifier,
			 const char *rights, const char **error_r)
{
	const char *password;
	string_t *req;

	password = mailgrants_setting(user, "mailgrants_share_password");
	if (password == NULL || password[0] == '\0') {
		*error_r = "NO ["IMAP_RESP_CODE_CANNOT"] "
			MAILGRANTS_ERR_NO_PASSWORD;
		return NULL;
	}
	req = t_str_new(256);
	str_printfa(req, "op=%s\nlogin=", op);
	mailgrants_share_escape(req, user->username);
	str_append(req, "\npassword=");
	mailgrants_share_escape(req, password);
	if (t->owner != NULL) {
		str_append(req, "\nmailbox=");
		mailgrants_share_escape(req, t->owner);
	}
	if (identifier != NULL) {
		str_append(req, "\ngrantee=");
		mailgrants_share_escape(req, identifier);
	}
	if (rights != NULL) {
		str_append(req, "\nrights=");
		mailgrants_share_escape(req, rights);
	}
	str_append(req, "\n\n");
	return str_c(req);
}

/* mailgrants_share_change - SETACL (rights) or DELETEACL (rights NULL)
   on a mailbox the user owns, through the share service: the tagline */
static const char *
mailgrants_share_change(struct client_command_context *cmd,
			const struct mailgrants_imap_target *t,
			const char *identifier, const char *rights)
{
	struct mail_user *user = cmd->client->user;
	const char *path, *request, *answer, *error, *text, *word;
	const char *const *words;
	ARRAY_TYPE(const_string) entries;

	path = mailgrants_setting(user, "mailgrants_share_socket");
	if (path == NULL || path[0] == '\0')
		return "NO ["IMAP_RESP_CODE_NOPERM"] "MAILGRANTS_ERR_NO_SERVICE;
	if (!t->inbox)
		return "NO ["IMAP_RESP_CODE_CANNOT"] "MAILGRANTS_ERR_FOLDER;
	if (identifier[0] == '\0' || identifier[0] == '-' ||
	    identifier[0] == '$' || strcmp(identifier, "anyone") == 0 ||
	    strcmp(identifier, "authenticated") == 0 ||
	    strcasecmp(identifier, user->username) == 0)
		return "NO ["IMAP_RESP_CODE_CANNOT"] "MAILGRANTS_ERR_IDENTIFIER;
	request = mailgrants_share_request(user, t, rights != NULL ? "set" :
					   "delete", identifier, rights,
					   &error);
	if (request == NULL)
		return error;
	if (mailgrants_share_ask(path, request, &answer, &error) < 0) {
		e_error(user->event, "mailgrants: share service: %s", error);
		return "NO ["IMAP_RESP_CODE_UNAVAILABLE"] The sharing service "
			"is not available, nothing was changed; try again "
			"later.";
	}
	e_info(user->event, "mailgrants: %s %s %s%s%s: %s",
	       rights != NULL ? "SETACL" : "DELETEACL",
	       str_sanitize(t->owner != NULL ? t->owner : user->username, 128),
	       str_sanitize(identifier, 128), rights != NULL ? " " : "",
	       rights != NULL ? str_sanitize(rights, 32) : "",
	       str_sanitize(answer, 512));
	/* "ok entry=RIGHTS:DN ... TEXT", "refused TEXT", "unavailable
	   TEXT" (cli/share-service.c) */
	words = t_strsplit(answer, " ");
	word = words[0];
	t_array_init(&entries, 4);
	for (words++; *words != NULL && strncmp(*words, "entry=", 6) == 0;
	     words++) {
		const char *entry = *words + 6;

		array_push_back(&entries, &entry);
	}
	text = str_sanitize(t_strarray_join(words, " "), 400);
	if (strcmp(word, "ok") == 0) {
		array_append_zero(&entries);
		mailgrants_share_settle(user, array_front(&entries));
		return rights != NULL ? "OK Setacl complete." :
			"OK Deleteacl complete.";
	}
	if (strcmp(word, "refused") == 0)
		return t_strconcat("NO ["IMAP_RESP_CODE_NOPERM"] ", text, NULL);
	return t_strconcat("NO ["IMAP_RESP_CODE_UNAVAILABLE"] ",
			   text[0] != '\0' ? text : "The directory is not "
			   "available", "; nothing was changed.", NULL);
}

/* mailgrants_cmd_change - SETACL/DELETEACL: the owner shares, through
   the directory; anything else is refused with the reason */
static bool mailgrants_cmd_change(struct client_command_context *cmd,
				  unsigned int idx)
{
	struct mailgrants_imap_target t;
	const char *identifier, *rights = NULL;
	bool result, set = idx == MAILGRANTS_IMAP_SETACL;

	if (!mailgrants_imap_target(cmd, idx, &t, &result))
		return result;
	identifier = t.args[1];
	if (set)
		rights = t.args[2];
	switch (t.kind) {
	case MAILGRANTS_IMAP_OTHER:
		i_unreached();
	case MAILGRANTS_IMAP_ROOT:
		client_send_tagline(cmd, "NO ["IMAP_RESP_CODE_NOPERM"] "
				    MAILGRANTS_ERR_MANAGED);
		return TRUE;
	case MAILGRANTS_IMAP_COMPANY:
	case MAILGRANTS_IMAP_GRANTED:
		if (!mailgrants_imap_visible(t.ns, t.mailbox))
			mailgrants_imap_not_found(cmd, t.orig_mailbox);
		else
			client_send_tagline(cmd, t.kind ==
				MAILGRANTS_IMAP_COMPANY ?
				"NO ["IMAP_RESP_CODE_NOPERM"] "
				MAILGRANTS_ERR_COMPANY :
				"NO ["IMAP_RESP_CODE_NOPERM"] "
				MAILGRANTS_ERR_GRANTEE);
		return TRUE;
	case MAILGRANTS_IMAP_OWN:
		break;
	}
	if (!mailgrants_imap_visible(t.ns, t.mailbox)) {
		mailgrants_imap_not_found(cmd, t.orig_mailbox);
		return TRUE;
	}
	client_send_tagline(cmd, mailgrants_share_change(cmd, &t, identifier,
							 rights));
	return TRUE;
}

/* mailgrants_cmd_setacl - SETACL: the owner shares her mailbox */
static bool mailgrants_cmd_setacl(struct client_command_context *cmd)
{
	return mailgrants_cmd_change(cmd, MAILGRANTS_IMAP_SETACL);
}

/* mailgrants_cmd_deleteacl - DELETEACL: the owner ends a share */
static bool mailgrants_cmd_deleteacl(struct client_command_context *cmd)
{
	return mailgrants_cmd_change(cmd, MAILGRANTS_IMAP_DELETEACL);
}

/* mailgrants_cmd_listrights - LISTRIGHTS: what a share may carry */
static bool mailgrants_cmd_listrights(struct client_command_context *cmd)
{
	struct mailgrants_imap_target t;
	const char *identifier;
	string_t *str;
	bool result;

	if (!mailgrants_imap_target(cmd, MAILGRANTS_IMAP_LISTRIGHTS, &t,
				    &result))
		return result;
	identifier = t.args[1];
	if (t.kind != MAILGRANTS_IMAP_OWN) {
		if (t.kind != MAILGRANTS_IMAP_ROOT &&
		    !mailgrants_imap_visible(t.ns, t.mailbox))
			mailgrants_imap_not_found(cmd, t.orig_mailbox);
		else
			client_send_tagline(cmd, "NO ["IMAP_RESP_CODE_NOPERM"] "
					    MAILGRANTS_ERR_MANAGED);
		return TRUE;
	}
	if (!mailgrants_imap_visible(t.ns, t.mailbox)) {
		mailgrants_imap_not_found(cmd, t.orig_mailbox);
		return TRUE;
	}
	/* Nothing is granted always; each letter a share may carry can
	   be given on its own (RFC 4314 §3.7). "a" is not among them. */
	str = t_str_new(128);
	str_append_c(str, ' ');
	imap_append_astring(str, identifier);
	str_append(str, " \"\" l r s w i p k x t e");
	return mailgrants_imap_answer(cmd, "LISTRIGHTS", t.orig_mailbox,
				      str_c(str), "OK Listrights completed.");
}

/* mailgrants_cmd_myrights - MYRIGHTS only on what the user can see */
static bool mailgrants_cmd_myrights(struct client_command_context *cmd)
{
	struct mailgrants_imap_target t;
	bool result;

	/* imap_acl answers with the rights of the namespace for any name
	   in it, also for names that GETACL, SELECT and STATUS call
	   nonexistent. */
	if (!mailgrants_imap_target(cmd, MAILGRANTS_IMAP_MYRIGHTS, &t,
				    &result))
		return result;
	if (t.kind == MAILGRANTS_IMAP_ROOT) {
		/* a level: nobody has rights on it */
		return mailgrants_imap_answer(cmd, "MYRIGHTS", t.orig_mailbox,
					      " \"\"", "OK Myrights completed.");
	}
	if (t.kind == MAILGRANTS_IMAP_OWN && t.owner == NULL) {
		/* her own INBOX namespace: the ACL plugin's owner rights */
		return mailgrants_imap_cmds[MAILGRANTS_IMAP_MYRIGHTS].prev(cmd);
	}
	if (!mailgrants_imap_visible(t.ns, t.mailbox)) {
		mailgrants_imap_not_found(cmd, t.orig_mailbox);
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

/* mailgrants_imap_directory_shares - the grantees of a mailbox she owns
   as the directory has them (share service, op=list): " ID LETTERS"
   appended to str; FALSE (logged why) when it cannot say */
static bool
mailgrants_imap_directory_shares(struct mail_user *user,
				 const struct mailgrants_imap_target *t,
				 string_t *str)
{
	const char *path, *request, *answer, *error;
	const char *const *words;
	size_t len = str_len(str);

	path = mailgrants_setting(user, "mailgrants_share_socket");
	if (path == NULL || path[0] == '\0')
		return FALSE;	/* not set up: the replica is all there is */
	request = mailgrants_share_request(user, t, "list", NULL, NULL,
					   &error);
	if (request == NULL) {
		e_debug(user->event, "mailgrants: GETACL from the replica: "
			"no password to ask the directory with");
		return FALSE;
	}
	if (mailgrants_share_ask(path, request, &answer, &error) < 0) {
		e_warning(user->event, "mailgrants: GETACL from the replica: "
			  "share service: %s", error);
		return FALSE;
	}
	words = t_strsplit(answer, " ");
	if (strcmp(words[0], "ok") != 0) {
		e_warning(user->event, "mailgrants: GETACL from the replica: "
			  "share service: %s", str_sanitize(answer, 512));
		return FALSE;
	}
	for (words++; words[0] != NULL && words[1] != NULL; words += 2) {
		const char *id = mailgrants_share_unescape(words[0]);

		if (id == NULL)
			break;
		str_append_c(str, ' ');
		imap_append_astring(str, id);
		str_append_c(str, ' ');
		mailgrants_imap_letters(str, strcmp(words[1], "-") == 0 ? "" :
					words[1]);
	}
	if (words[0] != NULL) {
		str_truncate(str, len);
		e_warning(user->event, "mailgrants: GETACL from the replica: "
			  "share service: a malformed answer");
		return FALSE;
	}
	return TRUE;
}

/* mailgrants_imap_shares - GETACL on a mailbox she owns: the owner (from
   the replica) and the directory's shares: each grantee with its
   rights, a group as the group, also shares whose window has not
   begun; when the directory cannot say, the replica's view (who sees
   it now, groups as their members) */
static bool mailgrants_imap_shares(struct client_command_context *cmd,
				   const struct mailgrants_imap_target *t)
{
	struct mail_user *user = cmd->client->user;
	ARRAY_TYPE(const_string) acl;
	const char *const *items, *error;
	unsigned int i, count;
	string_t *str;

	t_array_init(&acl, 16);
	if (mailgrants_mailbox_acl(user, t->owner != NULL ? t->owner :
				   user->username, &acl, &error) < 0) {
		e_error(user->event, "mailgrants: GETACL: %s", error);
		client_send_tagline(cmd, "NO ["IMAP_RESP_CODE_UNAVAILABLE"] "
				    "The shares cannot be read now; try again "
				    "later.");
		return TRUE;
	}
	str = t_str_new(256);
	items = array_get(&acl, &count);
	i = 0;
	if (count >= 2 && strcasecmp(items[0], user->username) == 0) {
		/* her own mailbox: she administers it, as MYRIGHTS says
		   (imap_acl's owner rights on her INBOX, the grant's on
		   Private/) */
		str_append_c(str, ' ');
		imap_append_astring(str, items[0]);
		str_append_c(str, ' ');
		mailgrants_imap_letters(str, items[1]);
		str_append_c(str, 'a');
		i = 2;
	}
	if (mailgrants_imap_directory_shares(user, t, str))
		count = 0;
	for (; i + 1 < count; i += 2) {
		str_append_c(str, ' ');
		imap_append_astring(str, items[i]);
		str_append_c(str, ' ');
		mailgrants_imap_letters(str, items[i + 1]);
	}
	return mailgrants_imap_answer(cmd, "ACL", t->orig_mailbox, str_c(str),
				      "OK Getacl completed.");
}

/* mailgrants_cmd_getacl - GETACL: the shares of what she owns, her own
   rights from the grant elsewhere */
static bool mailgrants_cmd_getacl(struct client_command_context *cmd)
{
	struct mailgrants_imap_target t;
	const char *letters;
	string_t *str;
	bool result;

	if (!mailgrants_imap_target(cmd, MAILGRANTS_IMAP_GETACL, &t, &result))
		return result;
	if (t.kind == MAILGRANTS_IMAP_ROOT) {
		/* a level: no entries */
		return mailgrants_imap_answer(cmd, "ACL", t.orig_mailbox, "",
					      "OK Getacl completed.");
	}
	if (!mailgrants_imap_visible(t.ns, t.mailbox)) {
		mailgrants_imap_not_found(cmd, t.orig_mailbox);
		return TRUE;
	}
	if (t.kind == MAILGRANTS_IMAP_OWN)
		return mailgrants_imap_shares(cmd, &t);
	/* visible means: an owner namespace with a grant */
	letters = mailgrants_namespace_letters(t.ns);
	str = t_str_new(128);
	str_append_c(str, ' ');
	imap_append_astring(str, cmd->client->user->username);
	str_append_c(str, ' ');
	mailgrants_imap_letters(str, letters);
	return mailgrants_imap_answer(cmd, "ACL", t.orig_mailbox, str_c(str),
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
