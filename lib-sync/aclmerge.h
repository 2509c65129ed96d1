#ifndef MAILGRANTS_ACLMERGE_H
#define MAILGRANTS_ACLMERGE_H

/*
 * NAME
 *	aclmerge - merge a site's slapd access rules with mailgrants' rules
 * SYNOPSIS
 *	#include "aclmerge.h"
 *
 *	int aclmerge_merge(const char *const *site, size_t site_count,
 *			   const struct aclmerge_rule *mg, size_t mg_count,
 *			   struct aclmerge_result *result_r,
 *			   const char **error_r);
 *	void aclmerge_result_free(struct aclmerge_result *result);
 *	const char *aclmerge_strip_index(const char *value);
 *	bool aclmerge_same(const char *a, const char *b);
 *	char *aclmerge_fold(const char *rule);
 * DESCRIPTION
 *	A pure function over rule texts ("to <what> by <who> <access>
 *	..."), no LDAP: "mailgrants setup-directory" (cli/setup-dir.c)
 *	feeds it the database's olcAccess values and mailgrants' rules
 *	(ldap-schema/access.ldif adapted to the site, and the local root's
 *	rule before them), and writes back the result in order.
 *
 *	A site rule is
 *	- dropped when it is one of mailgrants' rules already (compared
 *	  without blanks, case or quotes): an earlier run's;
 *	- replaced when its <what> is the <what> of a mailgrants rule
 *	  (the site's "to *" and "to attrs=userPassword", or an earlier
 *	  version of a mailgrants rule): its clauses for particular
 *	  identities ("by dn...", "by group...", "by peername...") are
 *	  carried into that mailgrants rule before its last clause (into
 *	  the one marked carry when several have that <what>), its
 *	  clauses for everybody ("*", anonymous, users, self, set,
 *	  dnattr) are dropped: mailgrants' rules decide for those; so
 *	  are "by dn" clauses of a style that names many identities at
 *	  once (regex, subtree, children, one level), with a note;
 *	- kept, unchanged and in its order, otherwise (rules for other
 *	  attributes, other subtrees, filters): before the trailing run
 *	  of mailgrants rules that have no dn or filter (the rules for
 *	  "everything else"), so they decide before those and after
 *	  mailgrants' rules for its own entries.
 *	Each result rule has its origin, one line for a person; each
 *	dropped or replaced site rule is named in result->notes.
 *
 *	aclmerge_strip_index() skips a leading "{N}". aclmerge_same()
 *	compares two rules as the merge does. aclmerge_fold() returns
 *	the rule folded for LDIF: a line break and two blanks before
 *	every "by" (one of them is LDIF's continuation); free() it.
 * DIAGNOSTICS
 *	aclmerge_merge() returns -1 when a rule does not start with "to"
 *	or has no "by" (error_r names it), else 0.
 * SEE ALSO
 *	slapd.access(5), ldap-schema/access.ldif, mailgrants(1)
 */

#include <stdbool.h>
#include <stddef.h>

struct aclmerge_rule {
	char *text;	/* without {N}, one line */
	char *origin;	/* where it comes from, for a comment */
	bool carry;	/* takes the clauses of replaced site rules */
};

struct aclmerge_result {
	struct aclmerge_rule *rules;
	size_t count;
	char **notes;	/* the site rules dropped or replaced, and why */
	size_t note_count;
};

int aclmerge_merge(const char *const *site, size_t site_count,
		   const struct aclmerge_rule *mg, size_t mg_count,
		   struct aclmerge_result *result_r, const char **error_r);
void aclmerge_result_free(struct aclmerge_result *result);
const char *aclmerge_strip_index(const char *value);
bool aclmerge_same(const char *a, const char *b);
char *aclmerge_fold(const char *rule);

#endif
