#ifndef MAILGRANTS_RECIPIENT_H
#define MAILGRANTS_RECIPIENT_H

/*
 * NAME
 *	recipient - the replica as the MTA's recipient tables
 * SYNOPSIS
 *	#include "recipient.h"
 *
 *	int recipient_lookup(struct replica *rep, enum recipient_map map,
 *			     const char *key, const char *delimiters,
 *			     char *out, size_t outsize, const char **error_r);
 *	int recipient_map_parse(const char *name, enum recipient_map *map_r);
 * DESCRIPTION
 *	Every address the replica grants must also receive mail; the
 *	site's own tables know its people, the replica knows the rest.
 *	recipient_lookup() answers one Postfix table lookup of "key" (an
 *	address as Postfix passes it: any case, U-label or A-label
 *	domain, an extension only where the address has one) through
 *	the replica's view recipients (replica.c). A key that is not
 *	found as it is, is looked up once more without its extension
 *	(from the first of "delimiters" on, recipient_delimiter):
 *	Postfix does that itself only for tables of fixed keys, and a
 *	socketmap is not one.
 *
 *	RECIPIENT_MAILBOX (virtual_mailbox_maps): the primary address of
 *	a mailbox that is not a person's own (company mailboxes, extra
 *	private mailboxes), for its primary address and every alias.
 *	People are the site's userdb's.
 *
 *	RECIPIENT_ALIAS (virtual_alias_maps): the primary address of the
 *	mailbox (with the key's extension, if it had one), when the key
 *	is any other form of it (an alias, or the U-label form of an IDN
 *	address); not found when that is the key itself, so that Postfix
 *	stops there.
 *
 *	Returns 1 with the primary address in out, 0 not found (also for
 *	a key that is no valid address: "@domain" lookups, garbage), -1
 *	when the replica failed (the caller answers a temporary error).
 */

#include <stddef.h>

#include "replica.h"

enum recipient_map {
	RECIPIENT_MAILBOX,
	RECIPIENT_ALIAS,
};

int recipient_lookup(struct replica *rep, enum recipient_map map,
		     const char *key, const char *delimiters, char *out,
		     size_t outsize, const char **error_r);
/* recipient_map_parse - "mailbox" or "alias"; 0 or -1 */
int recipient_map_parse(const char *name, enum recipient_map *map_r);

#endif
