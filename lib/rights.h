#ifndef MAILGRANTS_RIGHTS_H
#define MAILGRANTS_RIGHTS_H

/*
 * NAME
 *	rights - the one function that decides who may do what
 * SYNOPSIS
 *	#include "rights.h"
 *
 *	int rights_decide(struct replica *rep, const char *login,
 *			  const char *address, time_t now,
 *			  const char *delimiters,
 *			  struct rights_decision *d_r, const char **error_r);
 *	int rights_access(struct replica *rep, const char *login,
 *			  time_t now, struct rights_list *list_r,
 *			  const char **error_r);
 *	int rights_who(struct replica *rep, const char *address, time_t now,
 *		       const char *delimiters, struct rights_list *list_r,
 *		       const char **error_r);
 *	void rights_list_free(struct rights_list *list);
 *	const char *rights_kind_name(enum rights_kind kind);
 *	const char *rights_reason_name(enum rights_reason reason);
 *	int rights_share_letters(const char *in, char *out, size_t size,
 *				 const char **error_r);
 *	int rights_share(struct replica *rep, const char *dn, char *rights,
 *			 size_t size, const char **error_r);
 * DESCRIPTION
 *	rights_decide() answers (login, address, now) -> {kind, visible,
 *	IMAP rights, may_send, may_send_on_behalf, reason}: the rule
 *	table of DESIGN §1 and §6a.
 *	A share never lets its grantee send as the owner (may_send stays
 *	false). One that carries the send-on-behalf right (replica
 *	shares.on_behalf), active now and counting by the company rule
 *	below, sets may_send_on_behalf: the login may write From: the
 *	mailbox's address only together with Sender: an address of its
 *	own (the policy daemon and the milter enforce the pairing);
 *	on_behalf_dn and on_behalf_not_before/after name that share and
 *	its window, and the reason stays shared_read_only. Everything
 *	else about the share (visible, IMAP rights, entry_dn) is the
 *	same with or without the right.
 *
 *	Share windows are evaluated against "now", never at sync time,
 *	and include both ends: a share is active from its not_before
 *	second up to and including its not_after second.
 *
 *	A share grants nothing to a grantee whose company is not the
 *	mailbox's (a mailbox or user outside every company counts as
 *	its own "no company"), unless the sync wrote the replica with
 *	cross_company_shares = yes; the reason is then other_company.
 *	The Dovecot plugin, the policy daemon, the milter and the CLI
 *	all ask this function (or rights_access/rights_who, which apply
 *	the same rules to every mailbox of a login or every login of a
 *	mailbox), so they cannot disagree.
 *
 *	A login or address that does not normalise, or is unknown, is an
 *	answer (kind NONE with a reason), not an error. -1 means the
 *	replica could not answer (error_r says why): callers fail closed
 *	with a temporary error.
 *
 *	A NULL or empty login asks only where the address lives: the
 *	reason is then NOT_YOURS for an existing mailbox, UNKNOWN_ADDRESS
 *	for another address of a local domain, FOREIGN_DOMAIN otherwise
 *	(the policy daemon's unauthenticated case).
 *
 *	The address is looked up as given first and then, if that finds
 *	nothing, without its extension (everything from the first of the
 *	"delimiters" characters in the local part, as Postfix does).
 *
 *	sent_copies says whether mail sent as the mailbox's addresses is
 *	also filed in its own Sent folder (README "Sent copies"), by its
 *	entry or, when sent_copies_default, by the site default; never
 *	for a user's primary mailbox. It describes the mailbox, whoever
 *	asks; whether the login may send as it is may_send.
 *
 *	rights_access() lists every mailbox the login can see right now
 *	(own private ones, company ones, active shares), in one replica
 *	query; it returns 1 (empty list) for an unknown login.
 *	rights_who() lists every login that can see the mailbox of an
 *	address right now, deciding each through rights_decide's rules;
 *	it returns 1 (empty list) when no mailbox has the address.
 *	Lists are freed with rights_list_free().
 *
 *	rights_share_letters() turns the rights an IMAP client asks a
 *	share to carry (RFC 4314 letters; the obsolete "c" and "d" of RFC
 *	2086 as imap_acl reads them, "c" = "kx", "d" = "te") into the
 *	letters a share entry stores, in RIGHTS_SHARE_LETTERS order, each
 *	once. It refuses "a" (administer: only the owner manages who
 *	sees a mailbox) and any other character, with a text for the
 *	client. No RFC 4314 letter lets a grantee send as the owner here:
 *	a shared mailbox is read-only for sending (DESIGN §6), so "a" is
 *	the only letter a share cannot carry. 0 done, -1 refused.
 *
 *	rights_share() reads the share entry dn (the normal form the sync
 *	writes) as the replica has it, whatever its window and whoever it
 *	names (a group without members too): 1 with its rights, 0 when
 *	the replica has no such share, -1 when it cannot answer. The
 *	imap plugin waits with it until a change made from a client is
 *	in the replica.
 */

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "addr.h"
#include "replica.h"

#define RIGHTS_MAX 32		/* IMAP rights letters */
/* What a share may carry, in the order a share's letters are written. */
#define RIGHTS_SHARE_LETTERS "lrswipkxte"

enum rights_kind {
	RIGHTS_KIND_NONE,
	RIGHTS_KIND_PRIVATE,
	RIGHTS_KIND_COMPANY,
	RIGHTS_KIND_SHARED,
};

enum rights_reason {
	RIGHTS_REASON_OWNER,		/* own_mailbox */
	RIGHTS_REASON_COMPANY,		/* company_mailbox */
	RIGHTS_REASON_SHARED,		/* shared_read_only */
	RIGHTS_REASON_SHARE_INACTIVE,	/* share_not_active */
	RIGHTS_REASON_NOT_IN_GROUP,	/* not_in_group */
	RIGHTS_REASON_OTHER_COMPANY,	/* other_company: a share names the
					   login, across companies */
	RIGHTS_REASON_NOT_YOURS,	/* not_yours */
	RIGHTS_REASON_UNKNOWN_ADDRESS,	/* unknown_address (local domain) */
	RIGHTS_REASON_FOREIGN_DOMAIN,	/* foreign_domain */
	RIGHTS_REASON_UNKNOWN_LOGIN,	/* unknown_login */
	RIGHTS_REASON_BAD_ADDRESS,	/* bad_address */
};

struct rights_decision {
	enum rights_kind kind;
	enum rights_reason reason;
	bool visible;
	bool may_send;
	bool may_send_on_behalf;	/* From: the mailbox only with
					   Sender: the login's own address */
	char rights[RIGHTS_MAX];	/* "" when not visible */
	char login[ADDR_MAX];		/* normalised, or as given if bad */
	char address[ADDR_MAX];		/* normalised, or as given if bad */
	char mailbox[ADDR_MAX];		/* the mailbox's primary address */
	char entry_dn[REPLICA_DN_MAX];	/* the entry that decides */
	time_t not_before, not_after;	/* the share's window, 0 = open */
	bool sent_copies;		/* the mailbox keeps sent copies */
	bool sent_copies_default;	/* ... by the site default */
	char on_behalf_dn[REPLICA_DN_MAX];	/* the share that lets the
						   login send on behalf */
	time_t on_behalf_not_before, on_behalf_not_after;
	char detail[512];		/* why, in words, for explain */
};

struct rights_list {
	struct rights_decision *items;
	size_t count;
};

int rights_decide(struct replica *rep, const char *login, const char *address,
		  time_t now, const char *delimiters,
		  struct rights_decision *d_r, const char **error_r);
int rights_access(struct replica *rep, const char *login, time_t now,
		  struct rights_list *list_r, const char **error_r);
int rights_who(struct replica *rep, const char *address, time_t now,
	       const char *delimiters, struct rights_list *list_r,
	       const char **error_r);
void rights_list_free(struct rights_list *list);
const char *rights_kind_name(enum rights_kind kind);
const char *rights_reason_name(enum rights_reason reason);
int rights_share_letters(const char *in, char *out, size_t size,
			 const char **error_r);
int rights_share(struct replica *rep, const char *dn, char *rights,
		 size_t size, const char **error_r);

#endif
