#ifndef MAILGRANTS_LDAPSHARE_H
#define MAILGRANTS_LDAPSHARE_H

/*
 * NAME
 *	ldapshare - add and remove share entries in the directory
 * SYNOPSIS
 *	#include "ldapshare.h"
 *
 *	int ldapshare_open(const struct config *cfg, const char *as,
 *			   const char *password, struct ldapshare **ls_r,
 *			   const char **error_r);
 *	void ldapshare_close(struct ldapshare **lsp);
 *	const char *ldapshare_acting(const struct ldapshare *ls);
 *
 *	int ldapshare_add(struct ldapshare *ls,
 *			  const struct ldapshare_settings *set,
 *			  ldapshare_note_fn *note, void *context,
 *			  const char **error_r);
 *	int ldapshare_remove(struct ldapshare *ls, const char *owner,
 *			     const char *grantee, ldapshare_note_fn *note,
 *			     void *context, const char **error_r);
 *	int ldapshare_set(struct ldapshare *ls, const char *owner,
 *			  const char *grantee, const char *rights,
 *			  ldapshare_note_fn *note, void *context,
 *			  const char **error_r);
 *
 *	int ldapshare_list(struct ldapshare *ls, const char *owner,
 *			   struct ldapshare_grant **grants_r,
 *			   size_t *count_r, const char **error_r);
 *	void ldapshare_grants_free(struct ldapshare_grant **grantsp,
 *				   size_t count);
 *	void ldapshare_watch(struct ldapshare *ls, ldapshare_change_fn *fn,
 *			     void *context);
 *
 *	int ldapshare_name_check(const char *name, const char **error_r);
 *	int ldapshare_rdn_dn(const char *name, const char *parent_dn,
 *			     char **dn_r, const char **error_r);
 * DESCRIPTION
 *	The directory's access rules (ldap-schema/access.ldif) decide who
 *	may share which mailbox; this module only asks. It writes as the
 *	acting identity and reports the directory's refusal as it is.
 *
 *	ldapshare_open() binds twice at most. The acting identity is
 *	"as": a DN (it contains "="), or a login or address of a mail
 *	user, whose DN is looked up first as the configured identity
 *	(ldap_bind_dn, or SASL); either binds with password. With "as"
 *	NULL the configured identity acts itself (the shipped access
 *	rules keep the sync identity read-only, so it is refused).
 *	Mailboxes, users and groups are looked up as the configured
 *	identity, which reads the whole directory; when it cannot bind
 *	(its password file is not readable for the caller, say) and "as"
 *	is a DN, the acting identity looks them up itself.
 *
 *	ldapshare_add() takes set->rights as they are (the command line
 *	checks them: cli/share.c). It checks the rest of the settings
 *	before it asks the directory anything: it refuses a description
 *	over LDAPSHARE_DESCRIPTION_MAX bytes or with control characters,
 *	and a window that ends before, or in the very second, it begins
 *	(both ends count: that would be a share of one second). It finds the mailbox of set->owner (a mail user's
 *	primary mailbox or a private mailbox entry; a company mailbox is
 *	refused), resolves set->grantee (a DN of a user or group that
 *	exists, or a login or address of a mail user), refuses a user of
 *	another company than the mailbox's (the company entry above each,
 *	as the sync finds it) unless cfg->cross_company_shares, since
 *	such a share grants nothing, and adds the share
 *	cn=NAME directly below the mailbox's entry with the grantee, the
 *	rights, the window, the description and, with set->on_behalf,
 *	the right to send on behalf (ldap_share_on_behalf_attribute
 *	TRUE) of set. NAME is
 *	set->name, or "share-<grantee>-<YYYYMMDD>" (the grantee's first
 *	RDN value, the start date or today); a name that is taken is an
 *	error. When the acting identity
 *	sees a share of this mailbox for this grantee that is active at
 *	some time from now on when the new one is, that is an error,
 *	unless set->replace: then, once the new share is in, the grantee
 *	is taken off those shares as ldapshare_remove() does (first, when
 *	the new share has the name of one of them).
 *
 *	ldapshare_remove() finds the shares directly below the mailbox of
 *	owner that name grantee (a DN, which need not exist any more, or
 *	a login or address) and, as the acting identity, deletes a share
 *	whose only grantee that is, or deletes just that grantee's value
 *	from a share with several grantees.
 *
 *	ldapshare_set() gives grantee the rights on owner's mailbox, as
 *	an IMAP client's SETACL asks (cli/share-service.c): rights are
 *	share letters (rights_share_letters()), set as they are, or with
 *	a leading "+" added to or with "-" taken from what the grantee
 *	has. Every share of the mailbox naming the grantee that has not
 *	ended is changed and keeps its window (one with other grantees
 *	too keeps them: the grantee gets a share of its own with the
 *	same window, added before the grantee is taken off); rights that
 *	end up empty take the grantee off as ldapshare_remove() does.
 *	Only the rights change: a share's right to send on behalf stays
 *	as it is, also on the grantee's own copy of a shared entry.
 *	Without such a share, a share open at both ends is added with the
 *	rights. Company mailboxes and grantees of another company are
 *	refused as by ldapshare_add().
 *
 *	ldapshare_list() gives the grantees of the shares of owner's
 *	mailbox that have not ended (also those not begun yet), as the
 *	acting identity sees them, one entry per grantee (a grantee of
 *	several shares gets the letters of all of them, as
 *	ldapshare_set() changes them all), in the order found: the
 *	identifier is the login of a mail user, else the DN (a group,
 *	or an entry that is gone), both what ldapshare_set() and
 *	ldapshare_remove() take back; group tells a group. More than
 *	LDAPSHARE_LIST_MAX shares or grantees is an error (1).
 *	ldapshare_grants_free() frees the list.
 *
 *	ldapshare_watch() makes ldapshare_add(), ldapshare_remove() and
 *	ldapshare_set() call fn for each share entry written, with its DN
 *	in the normal form the replica holds (ldapdir_dn_normalize()) and
 *	the rights it carries now, or rights NULL when it was deleted,
 *	and what happened (added, changed, deleted). A grantee taken off
 *	a share that keeps others is told as LDAPSHARE_GRANTEE_REMOVED
 *	with rights NULL: the audit line records it, but the replica holds
 *	groups as their members, so nothing in it would show it (the
 *	share service waits for nothing then).
 *
 *	For ldapshare_remove(), ldapshare_set() and ldapshare_list(),
 *	owner NULL means the
 *	acting user's own entry, her primary mailbox (ldapshare_open()
 *	with a login or DN).
 *
 *	note(), when not NULL, gets one line for each change made
 *	("added DN", "deleted DN", "removed GRANTEE from DN", "rights
 *	RIGHTS on DN").
 *
 *	Every value from the command line goes into a filter through
 *	ldap_bv2escaped_filter_value() and into a DN through
 *	ldap_dn2str(); nothing is matched by pattern.
 *
 *	ldapshare_name_check() accepts a share name of 1 to
 *	LDAPSHARE_NAME_MAX bytes without control characters.
 *	ldapshare_rdn_dn() builds "cn=NAME,PARENT" with NAME escaped as
 *	an RDN value.
 * DIAGNOSTICS
 *	ldapshare_open(), ldapshare_add() and ldapshare_remove() return 0
 *	when done; 1 when the directory refused (access rules, an entry
 *	that exists already) or when there was nothing to do it to (no
 *	such mailbox, grantee or share; an ambiguous address; a company
 *	mailbox); -1 when the directory is unavailable (cannot connect,
 *	connection lost). ldapshare_open() returns LDAPSHARE_BAD_PASSWORD
 *	(2) when the directory refused the acting identity's password
 *	(ldapconn_open_user(): wrong, changed or locked). error_r is one line
 *	(error_printf() storage); it names the
 *	operation and the DN, and for a refusal the acting identity.
 *	A password is never put into a message.
 *
 *	The other functions return 0 on success and -1 on bad input.
 * SEE ALSO
 *	ldapconn.h, gentime.h, ldap-schema/README.md,
 *	ldap-schema/access.ldif
 */

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config.h"

#define LDAPSHARE_NAME_MAX 64		/* bytes of a share's cn */
#define LDAPSHARE_DESCRIPTION_MAX 1024
#define LDAPSHARE_BAD_PASSWORD 2	/* ldapshare_open(): bind refused */
#define LDAPSHARE_RIGHTS_MAX 32		/* RIGHTS_MAX of rights.h */

struct ldapshare;

struct ldapshare_settings {
	const char *owner;		/* an address of the mailbox */
	const char *grantee;		/* a DN, login or address */
	const char *name;		/* the share's cn; NULL: generated */
	const char *rights;		/* NULL: none stored (share_rights) */
	const char *description;	/* NULL: none */
	time_t not_before, not_after;	/* 0: open */
	bool on_behalf;			/* the grantee may send on behalf */
	bool replace;
};

/* A grantee of a mailbox, as ldapshare_list() gives it. */
struct ldapshare_grant {
	char *identifier;		/* a login, or the DN */
	char rights[LDAPSHARE_RIGHTS_MAX + 1];	/* RFC 4314 letters */
	bool group;
};

typedef void ldapshare_note_fn(void *context, const char *text);
/* What happened to a share entry (ldapshare_watch()). */
enum ldapshare_change {
	LDAPSHARE_ADDED,
	LDAPSHARE_CHANGED,		/* its rights */
	LDAPSHARE_DELETED,
	LDAPSHARE_GRANTEE_REMOVED,	/* one grantee of several taken off */
};

typedef void ldapshare_change_fn(void *context, const char *dn,
				 const char *rights,
				 enum ldapshare_change what);

int ldapshare_open(const struct config *cfg, const char *as,
		   const char *password, struct ldapshare **ls_r,
		   const char **error_r);
void ldapshare_close(struct ldapshare **lsp);
const char *ldapshare_acting(const struct ldapshare *ls);

int ldapshare_add(struct ldapshare *ls, const struct ldapshare_settings *set,
		  ldapshare_note_fn *note, void *context,
		  const char **error_r);
int ldapshare_remove(struct ldapshare *ls, const char *owner,
		     const char *grantee, ldapshare_note_fn *note,
		     void *context, const char **error_r);
int ldapshare_set(struct ldapshare *ls, const char *owner,
		  const char *grantee, const char *rights,
		  ldapshare_note_fn *note, void *context, const char **error_r);

int ldapshare_list(struct ldapshare *ls, const char *owner,
		   struct ldapshare_grant **grants_r, size_t *count_r,
		   const char **error_r);
void ldapshare_grants_free(struct ldapshare_grant **grantsp, size_t count);
void ldapshare_watch(struct ldapshare *ls, ldapshare_change_fn *fn,
		     void *context);

int ldapshare_name_check(const char *name, const char **error_r);
int ldapshare_rdn_dn(const char *name, const char *parent_dn, char **dn_r,
		     const char **error_r);

#endif
