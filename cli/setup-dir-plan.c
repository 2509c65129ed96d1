/*
 * NAME
 *	setup-dir-plan - what setup-directory changes
 * SYNOPSIS
 *	#include "setup-dir-private.h"
 * DESCRIPTION
 *	From the state setup-dir-read.c found: the olcDbIndex values to
 *	delete and add (an attribute indexed without eq gets a value of
 *	its own with eq), the olcLimits value for the sync identity, the
 *	olcAccess rules (access.ldif with the site's DNs, merged with
 *	the site's by aclmerge_merge()), the entries of the tree to add
 *	from the suffix down, the members to add to an existing group,
 *	and whether the sync identity's password needs setting.
 * DIAGNOSTICS
 *	What cannot be planned (a DN not below the suffix, an entry that
 *	must exist first, rules that cannot be merged) is a usage error;
 *	a directory that fails while reading is EXIT_UNAVAILABLE.
 * SEE ALSO
 *	setup-dir-private.h, aclmerge.h, ldap-schema/access.ldif
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>

#include "aclmerge.h"
#include "cli.h"
#include "config.h"
#include "ldapconn.h"
#include "setup-dir-private.h"
#include "xalloc.h"

/* The DNs access.ldif names, replaced by the site's. */
#define SD_EXAMPLE_SYNC "cn=mailgrants-sync,dc=example,dc=org"
#define SD_EXAMPLE_GROUP "cn=mail-admins,ou=groups,dc=example,dc=org"
#define SD_EXAMPLE_SUFFIX "dc=example,dc=org"
/* No password matches it: the sync identity before its password is
   set (simpleSecurityObject must have one). */
#define SD_NO_PASSWORD "{CRYPT}!"

/* The equality indexes the sync, syncprov and Dovecot search by. */
static const char *const sd_indexes[] = {
	"objectClass", "mail", "mailgrantsAddress", "mailgrantsDomain",
	"entryCSN", "entryUUID",
};

/* sd_replace_all - s with every from replaced by to */
static char *sd_replace_all(const char *s, const char *from, const char *to)
{
	size_t flen = strlen(from), tlen = strlen(to), n = 0, count = 0;
	const char *p;
	char *out;

	for (p = strstr(s, from); p != NULL; p = strstr(p + flen, from))
		count++;
	out = xmalloc(strlen(s) + count * tlen + 1);
	while ((p = strstr(s, from)) != NULL) {
		memcpy(out + n, s, (size_t)(p - s));
		n += (size_t)(p - s);
		memcpy(out + n, to, tlen);
		n += tlen;
		s = p + flen;
	}
	memcpy(out + n, s, strlen(s) + 1);
	return out;
}

/* sd_index_next - the next attribute name of an olcDbIndex value's
   list ("a,b,c" up to end, the first blank): false after the last */
static bool sd_index_next(const char **pp, const char *end,
			  const char **name_r, size_t *len_r)
{
	const char *p = *pp;

	if (p >= end)
		return false;
	*name_r = p;
	*len_r = strcspn(p, ", \t");
	p += *len_r;
	*pp = *p == ',' ? p + 1 : end;
	return true;
}

/* sd_index_covers - does an olcDbIndex value index attr, and with eq?
   0 no, 1 yes without eq, 2 yes with eq */
static int sd_index_covers(const char *value, const char *attr,
			   const char **types_r)
{
	size_t alen = strlen(attr), len;
	const char *p = value, *end = value + strcspn(value, " \t");
	const char *name;
	int found = 0;

	while (sd_index_next(&p, end, &name, &len))
		if (len == alen && strncasecmp(name, attr, len) == 0)
			found = 1;
	*types_r = end + strspn(end, " \t");
	if (found == 0)
		return 0;
	/* Without types the default types apply: count it as indexed
	   the way the site chose. */
	if (**types_r == '\0')
		return 2;
	for (p = *types_r; *p != '\0';) {
		size_t n = strcspn(p, ", \t");

		if (n == 2 && strncasecmp(p, "eq", 2) == 0)
			return 2;
		p += n;
		p += strspn(p, ", \t");
	}
	return 1;
}

/* sd_plan_indexes - the olcDbIndex values to delete and to add */
void sd_plan_indexes(struct sd_state *st)
{
	struct sd_list missing = { NULL, 0, 0 };

	for (size_t k = 0; k < sizeof(sd_indexes) / sizeof(sd_indexes[0]);
	     k++) {
		const char *attr = sd_indexes[k], *types;
		int best = 0;
		size_t at = 0;

		for (size_t i = 0; i < st->index.n; i++) {
			int c = sd_index_covers(st->index.v[i], attr, &types);

			if (c > best) {
				best = c;
				at = i;
			}
		}
		if (best == 2)
			continue;
		if (best == 0) {
			sd_push(&missing, attr);
			continue;
		}
		/* Indexed without eq: slapd takes no second value for
		   the attribute; the value is replaced by one per
		   attribute, with eq added to this one. */
		{
			const char *v = st->index.v[at], *p = v, *name;
			const char *end = v + strcspn(v, " \t");
			size_t n;

			(void)sd_index_covers(v, attr, &types);
			sd_push(&st->index_del, v);
			while (sd_index_next(&p, end, &name, &n)) {
				char *a = xstrndup(name, n);
				char *nv = strcasecmp(a, attr) == 0 ?
					xasprintf("%s %s,eq", a, types) :
					xasprintf("%s %s", a, types);

				sd_push(&st->index_add, nv);
				free(nv);
				free(a);
			}
			/* Done for the other attributes of that value. */
			free(st->index.v[at]);
			st->index.v[at] = xstrdup("");
		}
	}
	if (missing.n > 0) {
		char *list = sd_join(&missing, ",");
		char *nv = xasprintf("%s eq", list);

		sd_push(&st->index_add, nv);
		free(nv);
		free(list);
	}
	sd_list_free(&missing);
}

/* sd_plan_limits - no size limit for the sync: it reads every entry,
   in pages, and the frontend's limit (Debian: olcSizeLimit 500) would
   stop it at that many; a value that names it is the site's choice */
void sd_plan_limits(struct sd_state *st, const char *sync_dn)
{
	for (size_t i = 0; i < st->limits.n; i++)
		if (strcasestr(st->limits.v[i], sync_dn) != NULL)
			return;
	/* First: slapd takes the first value that matches. */
	st->limit = xasprintf("{0}dn.exact=\"%s\" size=unlimited", sync_dn);
}

/* sd_quotable - a DN that can stand in a quoted access rule */
bool sd_quotable(const char *dn)
{
	return strpbrk(dn, "\"\\\n") == NULL;
}

/* sd_plan_access - mailgrants' rules for this site, merged */
int sd_plan_access(struct sd_state *st, const struct sd_options *o)
{
	struct aclmerge_rule *mg;
	size_t n = 0, cap = st->mg_access.n + 1;
	const char *error;
	char *root_rule = NULL;
	int rc;

	mg = xcalloc(cap, sizeof(*mg));
	if (o->root_rule) {
		/* Unquoted, as Debian writes its own: the same rule on
		   the site is then recognised as this one. */
		root_rule = xasprintf("to * by dn.exact=%s manage by * break",
				      st->whoami);
		mg[n].text = root_rule;
		mg[n].origin = (char *)"setup-directory: the local root "
			"(SASL EXTERNAL over ldapi:///) manages the tree, as "
			"Debian's frontend rule intends (--no-root-rule "
			"leaves it out)";
		n++;
	}
	for (size_t i = 0; i < st->mg_access.n; i++) {
		char *a = sd_replace_all(st->mg_access.v[i], SD_EXAMPLE_SYNC,
					 o->sync_dn);
		char *b = sd_replace_all(a, SD_EXAMPLE_GROUP, o->group_dn);
		char *c = sd_replace_all(b, SD_EXAMPLE_SUFFIX, st->suffix);
		bool readers = strncmp(c, "to * ", 5) == 0 &&
			strstr(c, o->sync_dn) != NULL;

		free(a);
		free(b);
		/* The readers' rule takes the site's identities, and
		   --reader's, before its "by * break". */
		if (readers) {
			for (size_t r = 0; r < o->readers.n; r++) {
				char *end = strstr(c, " by * break");
				char *d;

				if (end == NULL)
					break;
				*end = '\0';
				d = xasprintf("%s by dn.exact=\"%s\" read%s",
					      c, o->readers.v[r],
					      " by * break");
				free(c);
				c = d;
			}
		}
		mg[n].text = c;
		mg[n].origin = xasprintf("mailgrants access.ldif {%zu}%s", i,
					 readers ? " (the sync identity and "
					 "the other readers)" : "");
		mg[n].carry = readers ||
			strncasecmp(c, "to attrs=userPassword ", 22) == 0;
		n++;
	}
	rc = aclmerge_merge((const char *const *)st->access.v, st->access.n,
			    mg, n, &st->acl, &error);
	for (size_t k = o->root_rule ? 1 : 0; k < n; k++) {
		free(mg[k].text);
		free(mg[k].origin);
	}
	free(root_rule);
	free(mg);
	if (rc < 0)
		return sd_fail(EXIT_USAGE, "%s: %s", st->db_dn, error);
	st->set_access = st->acl.count != st->access.n;
	for (size_t i = 0; i < st->acl.count && !st->set_access; i++)
		st->set_access = !aclmerge_same(st->access.v[i],
						st->acl.rules[i].text);
	st->set_content_acl = st->mg_content_acl != NULL &&
		strcasecmp(st->mg_content_acl, "TRUE") == 0 &&
		!st->content_acl;
	return EXIT_ANSWERED;
}

/* sd_planned - is the entry in the plan already? */
bool sd_planned(const struct sd_state *st, const char *dn)
{
	for (size_t i = 0; i < st->entry_count; i++)
		if (sd_dn_same(st->entries[i].dn, dn))
			return true;
	return false;
}

/* sd_plan_entry - dn and the containers above it up to the suffix;
   the last RDN of dn is of kind, the others containers */
static int sd_plan_entry(struct sd_state *st, const char *dn,
			 enum sd_entry_kind kind, struct sd_list *members)
{
	LDAPDN ldn = NULL, lsuf = NULL;
	size_t depth = 0, sdepth = 0;
	int status = EXIT_ANSWERED;

	if (ldap_str2dn(dn, &ldn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS ||
	    ldn == NULL)
		return sd_fail(EXIT_USAGE, "not a DN: %s", dn);
	(void)ldap_str2dn(st->suffix, &lsuf, LDAP_DN_FORMAT_LDAPV3);
	while (ldn[depth] != NULL)
		depth++;
	while (lsuf != NULL && lsuf[sdepth] != NULL)
		sdepth++;
	{
		char *tail = NULL;

		if (depth <= sdepth ||
		    ldap_dn2str(ldn + (depth - sdepth), &tail,
				LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS ||
		    !sd_dn_same(tail, st->suffix)) {
			ldap_memfree(tail);
			status = sd_fail(EXIT_USAGE, "%s is not below the "
					 "suffix %s", dn, st->suffix);
			goto out;
		}
		ldap_memfree(tail);
	}
	/* From the top down: containers first. */
	for (size_t i = depth - sdepth; i-- > 0;) {
		LDAPAVA *ava = ldn[i][0];
		char *sub = NULL;
		int ex;
		bool last = i == 0;
		enum sd_entry_kind k = last ? kind : SD_ENTRY_CONTAINER;

		if (ldap_dn2str(ldn + i, &sub, LDAP_DN_FORMAT_LDAPV3) !=
		    LDAP_SUCCESS) {
			status = sd_fail(EXIT_USAGE, "not a DN: %s", dn);
			goto out;
		}
		if (sd_planned(st, sub)) {
			ldap_memfree(sub);
			continue;
		}
		ex = sd_exists(st, sub, last ? members : NULL);
		if (ex < 0) {
			ldap_memfree(sub);
			status = EXIT_UNAVAILABLE;
			goto out;
		}
		if (ex == 0) {
			struct sd_entry *en;
			char *attr = xstrndup(ava->la_attr.bv_val,
					      ava->la_attr.bv_len);

			if (ldn[i][1] != NULL ||
			    (k == SD_ENTRY_CONTAINER &&
			     strcasecmp(attr, "ou") != 0 &&
			     strcasecmp(attr, "o") != 0) ||
			    (k != SD_ENTRY_CONTAINER &&
			     strcasecmp(attr, "cn") != 0)) {
				status = sd_fail(EXIT_USAGE, "%s does not "
						 "exist and is not created here "
						 "(containers: ou= or o=; the "
						 "sync identity and the group: "
						 "cn=): create it first", sub);
				free(attr);
				ldap_memfree(sub);
				goto out;
			}
			st->entries = xgrow(st->entries, &st->entry_alloc,
					    st->entry_count + 1,
					    sizeof(*st->entries), 4);
			en = &st->entries[st->entry_count++];
			en->kind = k;
			en->dn = xstrdup(sub);
			en->rdn_attr = attr;
			en->rdn_value = xstrndup(ava->la_value.bv_val,
						 ava->la_value.bv_len);
		}
		ldap_memfree(sub);
	}
out:
	ldap_dnfree(ldn);
	if (lsuf != NULL)
		ldap_dnfree(lsuf);
	return status;
}

/* sd_plan_tree - the suffix entry, the containers, the sync identity,
   the group and its members */
int sd_plan_tree(struct sd_state *st, const struct sd_options *o)
{
	struct sd_list members = { NULL, 0, 0 };
	int ex, status;

	ex = sd_exists(st, st->suffix, NULL);
	if (ex < 0)
		return EXIT_UNAVAILABLE;
	if (ex == 0)
		return sd_fail(EXIT_USAGE, "the suffix entry %s does not exist"
			       " or cannot be read as %s: create it first%s",
			       st->suffix, o->bind_dn != NULL ? o->bind_dn :
			       st->whoami, o->bind_dn != NULL ? "" :
			       ", or give --bind-dn (the rootdn)");
	for (size_t i = 0; i < o->admins.n; i++) {
		ex = sd_exists(st, o->admins.v[i], NULL);
		if (ex < 0)
			return EXIT_UNAVAILABLE;
		if (ex == 0)
			return sd_fail(EXIT_USAGE, "--admin %s: no such entry "
				       "(or it cannot be read as %s): create "
				       "it first; a member that cannot bind "
				       "creates no mailbox", o->admins.v[i],
				       o->bind_dn != NULL ? o->bind_dn :
				       st->whoami);
	}
	for (size_t i = 0; i < o->containers.n; i++) {
		status = sd_plan_entry(st, o->containers.v[i],
				       SD_ENTRY_CONTAINER, NULL);
		if (status != EXIT_ANSWERED)
			return status;
	}
	status = sd_plan_entry(st, o->sync_dn, SD_ENTRY_SYNC, NULL);
	if (status != EXIT_ANSWERED)
		return status;
	status = sd_plan_entry(st, o->group_dn, SD_ENTRY_GROUP, &members);
	if (status != EXIT_ANSWERED) {
		sd_list_free(&members);
		return status;
	}
	if (!sd_planned(st, o->group_dn)) {
		for (size_t i = 0; i < o->admins.n; i++) {
			bool has = false;

			for (size_t m = 0; m < members.n && !has; m++)
				has = sd_dn_same(members.v[m],
						 o->admins.v[i]);
			if (!has)
				sd_push(&st->members_add, o->admins.v[i]);
		}
	} else if (o->admins.n == 0 && st->rootdn == NULL) {
		sd_list_free(&members);
		return sd_fail(EXIT_USAGE, "the group %s needs a member: "
			       "--admin DN", o->group_dn);
	}
	sd_list_free(&members);
	return EXIT_ANSWERED;
}

/* sd_plan_password - does the sync identity's password need setting? */
int sd_plan_password(struct sd_state *st, const struct sd_options *o)
{
	const char *error;
	LDAP *ld;

	if (o->sync_password_file == NULL) {
		if (o->apply && sd_planned(st, o->sync_dn))
			return sd_fail(EXIT_USAGE, "the sync identity %s is "
				       "to be created: give its password with "
				       "--sync-password-file FILE", o->sync_dn);
		return EXIT_ANSWERED;
	}
	if (ldapconn_password_read(o->sync_password_file,
				       &st->sync_password, &error) < 0)
		return sd_fail(EXIT_USAGE, "%s", error);
	if (sd_planned(st, o->sync_dn)) {
		st->set_password = true;
		return EXIT_ANSWERED;
	}
	/* Only when it is not that password already: a second run has
	   nothing to do. */
	if (ldapconn_open(st->cfg, o->sync_dn, st->sync_password, &ld,
			 &error) == 0) {
		(void)ldap_unbind_ext_s(ld, NULL, NULL);
		return EXIT_ANSWERED;
	}
	st->set_password = true;
	return EXIT_ANSWERED;
}

/* sd_nothing - is the plan empty? */
bool sd_nothing(const struct sd_state *st)
{
	return !st->add_schema && !st->add_module && !st->add_overlay &&
	       st->index_del.n == 0 && st->index_add.n == 0 &&
	       !st->set_access && !st->set_content_acl && st->limit == NULL &&
	       st->entry_count == 0 && st->members_add.n == 0 &&
	       !st->set_password;
}

/* sd_entry_classes - an entry's object classes, for LDIF and the add */
static const char *const *sd_entry_classes(const struct sd_entry *en)
{
	static const char *const ou[] = { "organizationalUnit", NULL };
	static const char *const org[] = { "organization", NULL };
	static const char *const sync[] = { "organizationalRole",
					    "simpleSecurityObject", NULL };
	static const char *const group[] = { "groupOfNames", NULL };

	switch (en->kind) {
	case SD_ENTRY_SYNC:
		return sync;
	case SD_ENTRY_GROUP:
		return group;
	case SD_ENTRY_CONTAINER:
		break;
	}
	return strcasecmp(en->rdn_attr, "o") == 0 ? org : ou;
}

/* sd_entry_attrs - a planned entry's attributes, in the order the
   LDIF shows them: object classes, the RDN, a password no password
   matches for the sync identity, the members of a new group (--admin,
   else the rootdn) */
void sd_entry_attrs(const struct sd_state *st, const struct sd_options *o,
		    const struct sd_entry *en, struct sd_list *names,
		    struct sd_list *values)
{
	const char *const *oc = sd_entry_classes(en);
	size_t members = 0;

	for (size_t k = 0; oc[k] != NULL; k++) {
		sd_push(names, "objectClass");
		sd_push(values, oc[k]);
	}
	sd_push(names, en->rdn_attr);
	sd_push(values, en->rdn_value);
	if (en->kind == SD_ENTRY_SYNC) {
		sd_push(names, "userPassword");
		sd_push(values, SD_NO_PASSWORD);
	}
	if (en->kind != SD_ENTRY_GROUP)
		return;
	for (size_t i = 0; i < o->admins.n; i++, members++) {
		sd_push(names, "member");
		sd_push(values, o->admins.v[i]);
	}
	if (members == 0 && st->rootdn != NULL) {
		sd_push(names, "member");
		sd_push(values, st->rootdn);
	}
}
