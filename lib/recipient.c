/*
 * NAME
 *	recipient - the replica as the MTA's recipient tables
 * DESCRIPTION
 *	See recipient.h. The key is normalised the way the sync stored
 *	the addresses (addr.h), so case, Unicode normal form and the
 *	IDN form do not matter; the extension is kept: Postfix looks an
 *	address up with it first and then without it, and carries an
 *	unmatched extension over to the result itself.
 */

#include "recipient.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "replica-private.h"

/* recipient_map_parse - the socketmap name of a map */
int recipient_map_parse(const char *name, enum recipient_map *map_r)
{
	if (strcmp(name, "mailbox") == 0)
		*map_r = RECIPIENT_MAILBOX;
	else if (strcmp(name, "alias") == 0)
		*map_r = RECIPIENT_ALIAS;
	else
		return -1;
	return 0;
}

/* recipient_query - the view's row for a normal form: 1, 0 or -1 */
static int recipient_query(struct replica *rep, const char *norm,
			   char *mailbox, size_t size, int *person_r,
			   const char **error_r)
{
	sqlite3_stmt *st = replica_stmt(rep, REPLICA_STMT_RECIPIENT, error_r);
	const unsigned char *text;
	int rc, found = 0;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, norm, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && (text = sqlite3_column_text(st, 0)) != NULL &&
	    (size_t)snprintf(mailbox, size, "%s", (const char *)text) < size) {
		*person_r = sqlite3_column_int(st, 1);
		found = 1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		*error_r = replica_error(rep, "recipient lookup failed");
		return -1;
	}
	return found;
}

/* recipient_lookup - 1 found (the answer in out), 0 not, -1 error */
int recipient_lookup(struct replica *rep, enum recipient_map map,
		     const char *key, const char *delimiters, char *out,
		     size_t outsize, const char **error_r)
{
	char norm[ADDR_MAX], bare[ADDR_MAX], mailbox[ADDR_MAX];
	const char *why, *at, *ext = "";
	size_t ext_len = 0;
	int person = 0, rc;

	if (addr_normalize(key, NULL, ADDR_KEEP_EXTENSION, norm, sizeof(norm),
			   &why) < 0 || strchr(norm, '@') == NULL)
		return 0;
	rc = recipient_query(rep, norm, mailbox, sizeof(mailbox), &person,
			     error_r);
	/* Postfix strips extensions for tables of fixed keys only; a
	   socketmap is asked once, with the extension: strip it here. */
	if (rc == 0 && delimiters != NULL && *delimiters != '\0' &&
	    addr_normalize(key, delimiters, 0, bare, sizeof(bare),
			   &why) == 0 && strcmp(bare, norm) != 0) {
		rc = recipient_query(rep, bare, mailbox, sizeof(mailbox),
				     &person, error_r);
		at = strrchr(key, '@');
		ext = key + strcspn(key, delimiters);
		ext_len = at != NULL && ext < at ? (size_t)(at - ext) : 0;
	}
	if (rc <= 0)
		return rc;
	if (map == RECIPIENT_MAILBOX) {
		if (person)
			return 0;	/* the site's own tables' */
		snprintf(out, outsize, "%s", mailbox);
		return 1;
	}
	/* The primary address, with the key's extension where it had
	   one; nothing to do when that is the key itself. */
	at = strrchr(mailbox, '@');
	if (at == NULL)
		return 0;
	if ((size_t)snprintf(out, outsize, "%.*s%.*s%s",
			     (int)(at - mailbox), mailbox, (int)ext_len, ext,
			     at) >= outsize)
		return 0;
	return strcmp(out, key) != 0;
}
