#ifndef MAILGRANTS_LDAPSHARE_PRIVATE_H
#define MAILGRANTS_LDAPSHARE_PRIVATE_H

/*
 * NAME
 *	ldapshare-private - the lookups of the share writer, apart from
 *	the writing
 * SYNOPSIS
 *	#include "ldapshare-private.h"
 *
 *	bool ldapshare_unavailable(int rc);
 *	int ldapshare_input_check(const char *value, const char *what,
 *				  const char **error_r);
 *
 *	int ldapshare_find_mailbox(struct ldapshare *ls,
 *				   const char *address,
 *				   struct ldapshare_mailbox *mb,
 *				   const char **error_r);
 *	int ldapshare_find_user(struct ldapshare *ls, const char *login,
 *				char **dn_r, const char **error_r);
 *	int ldapshare_find_grantee(struct ldapshare *ls,
 *				   const char *grantee, bool must_exist,
 *				   char **dn_r, const char **error_r);
 *	int ldapshare_same_company(struct ldapshare *ls,
 *				   const struct ldapshare_settings *set,
 *				   const char *mailbox_dn,
 *				   const char *grantee_dn,
 *				   const char **error_r);
 *	int ldapshare_shares(struct ldapshare *ls, LDAP *ld,
 *			     const char *mailbox_dn,
 *			     const char *grantee_dn, LDAPMessage **res_r,
 *			     int *count_r, const char **error_r);
 *	int ldapshare_grantee_name(struct ldapshare *ls, const char *dn,
 *				   char **name_r, bool *group_r,
 *				   const char **error_r);
 * DESCRIPTION
 *	Not an interface for front ends: ldapshare.c (opening, writing,
 *	names) uses it; ldapshare-find.c implements it. struct ldapshare
 *	is the state both share: the configuration and the two sessions.
 *
 *	ldapshare_unavailable() tells a result code that means "the
 *	directory could not be used" (-1 for the caller) from one that
 *	means "the directory said no" (1). ldapshare_input_check()
 *	refuses an empty command line value, or one over
 *	LDAPSHARE_INPUT_MAX bytes, naming it "what".
 *
 *	The find functions look up as ls->lookup, below ldap_base, with
 *	every value escaped into the filter (RFC 4515).
 *	ldapshare_find_mailbox() finds the one mailbox entry (a user's
 *	primary mailbox, or a mailbox entry) that has address, and
 *	whether it is a company mailbox; mb->dn is the caller's to free.
 *	ldapshare_find_user() finds the one mail user with this login
 *	or, failing that, address. ldapshare_find_grantee() gives a
 *	grantee's DN: a user or group DN that exists (or, unless
 *	must_exist, any valid DN), or a mail user's login or address.
 *	ldapshare_same_company() returns 0 when a share of the mailbox
 *	may name the grantee: it is not a user, or a user of the
 *	mailbox's company (the company entry above each), or
 *	cross_company_shares is on. ldapshare_shares() searches, as
 *	session ld, the shares directly below mailbox_dn that name
 *	grantee_dn, or with grantee_dn NULL all of them (more than
 *	LDAPSHARE_LIST_MAX is an error: a listing is one answer); *res_r
 *	(NULL when ld may not see them) is the caller's to free.
 *	ldapshare_grantee_name() gives the name a client may use for the
 *	grantee dn: a mail user's login (ldapshare_find_grantee() finds
 *	it again), else the DN itself, with *group_r when it is a group.
 * DIAGNOSTICS
 *	As ldapshare.h: 0 found, 1 nothing (or several) found or
 *	refused, -1 the directory unavailable; error_r is one line.
 * SEE ALSO
 *	ldapshare.h, ldapshare-find.c, ldapshare.c, RFC 4515 (filters)
 */

#include <stdbool.h>

#include <ldap.h>

#include "config.h"
#include "ldapshare.h"

#define LDAPSHARE_INPUT_MAX	4096	/* bytes of a DN, login or address */
#define LDAPSHARE_PRINT_MAX	256	/* a value quoted in a message */
#define LDAPSHARE_DN_NORM_MAX	(4 * 1024 * 4 + 1)
#define LDAPSHARE_LIST_MAX	256	/* shares of a mailbox listed */

struct ldapshare {
	const struct config *cfg;
	LDAP *lookup;		/* reads users, mailboxes, groups */
	LDAP *acting;		/* writes; may be the same session */
	char *acting_name;	/* for messages: a DN or a description */
	ldapshare_change_fn *changed;	/* ldapshare_watch() */
	void *changed_context;
};

/* A mailbox found by one of its addresses. */
struct ldapshare_mailbox {
	char *dn;		/* as the server returned it */
	bool company;
};

bool ldapshare_unavailable(int rc);
int ldapshare_input_check(const char *value, const char *what,
			  const char **error_r);

int ldapshare_find_mailbox(struct ldapshare *ls, const char *address,
			   struct ldapshare_mailbox *mb, const char **error_r);
int ldapshare_find_user(struct ldapshare *ls, const char *login, char **dn_r,
			const char **error_r);
int ldapshare_find_grantee(struct ldapshare *ls, const char *grantee,
			   bool must_exist, char **dn_r, const char **error_r);
int ldapshare_same_company(struct ldapshare *ls,
			   const struct ldapshare_settings *set,
			   const char *mailbox_dn, const char *grantee_dn,
			   const char **error_r);
int ldapshare_shares(struct ldapshare *ls, LDAP *ld, const char *mailbox_dn,
		     const char *grantee_dn, LDAPMessage **res_r,
		     int *count_r, const char **error_r);
int ldapshare_grantee_name(struct ldapshare *ls, const char *dn,
			   char **name_r, bool *group_r,
			   const char **error_r);

#endif
