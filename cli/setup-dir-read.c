/*
 * NAME
 *	setup-dir-read - what slapd's cn=config and the tree have
 * SYNOPSIS
 *	#include "setup-dir-private.h"
 * DESCRIPTION
 *	The state setup-directory plans from: the schema directory
 *	(mailgrants.ldif, access.ldif), the local root's session over
 *	ldapi:/// and the tree's (--bind-dn), the database of the
 *	suffix with its olcAccess, olcDbIndex, olcLimits and olcRootDN,
 *	the loaded schemas, the syncprov module and overlay, and whether
 *	an entry of the tree exists.
 *
 *	A schema mailgrants that is loaded but differs from the file is
 *	not replaced (entries may use what it defines): it is said and
 *	left as it is.
 * DIAGNOSTICS
 *	cn=config that cannot be read as the local root is a usage
 *	error (it needs manage access, as root has on Debian); slapd
 *	unreachable or a search that fails otherwise is EXIT_UNAVAILABLE.
 * SEE ALSO
 *	setup-dir-private.h, ldapconn.h, ldapdir.h (DN normalisation)
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>

#include "aclmerge.h"
#include "cli.h"
#include "config.h"
#include "ldapconn.h"
#include "ldapdir.h"
#include "setup-dir-private.h"
#include "xalloc.h"

/* sd_squeeze - s with every run of blanks made one blank, none at
   the ends */
static char *sd_squeeze(const char *s)
{
	char *out = xmalloc(strlen(s) + 1);
	size_t n = 0;

	for (; *s != '\0'; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\n') {
			if (n > 0 && out[n - 1] != ' ')
				out[n++] = ' ';
			continue;
		}
		out[n++] = *s;
	}
	if (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	return out;
}

/* sd_read_file - a whole (small) file */
static int sd_read_file(const char *path, char **text_r, const char **error_r)
{
	static char error[512];
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, alloc = 0, n;

	if (fp == NULL) {
		snprintf(error, sizeof(error), "%s: %s (--schema-dir names "
			 "the directory of mailgrants.ldif and access.ldif)",
			 path, strerror(errno));
		*error_r = error;
		return -1;
	}
	do {
		buf = xgrow(buf, &alloc, len + 4097, 1, 8192);
		n = fread(buf + len, 1, 4096, fp);
		len += n;
	} while (n > 0 && len < 1024 * 1024);
	buf[len] = '\0';
	if (ferror(fp) || len >= 1024 * 1024) {
		snprintf(error, sizeof(error), "%s: %s", path,
			 ferror(fp) ? strerror(errno) : "larger than 1 MB");
		fclose(fp);
		free(buf);
		*error_r = error;
		return -1;
	}
	fclose(fp);
	*text_r = buf;
	return 0;
}

/* sd_ldif_lines - LDIF text unfolded into "name: value" lines and ""
   between records; comments dropped */
static void sd_ldif_lines(char *text, struct sd_list *lines)
{
	char *line, *save = NULL;
	char *cur = NULL;

	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t n = strlen(line);

		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (line[0] == ' ' && cur != NULL) {
			char *j = xasprintf("%s%s", cur, line + 1);

			free(cur);
			cur = j;
			continue;
		}
		if (line[0] == '#')
			continue;
		if (cur != NULL) {
			sd_push(lines, cur);
			free(cur);
			cur = NULL;
		}
		cur = xstrdup(n == 0 ? "" : line);
	}
	if (cur != NULL) {
		sd_push(lines, cur);
		free(cur);
	}
}

/* sd_load_schema_dir - the schema entry and the access rules */
int sd_load_schema_dir(struct sd_state *st, const char *dir,
			      const char **error_r)
{
	static char error[512];
	struct sd_list lines = { NULL, 0, 0 };
	char *path, *text;
	bool in_access = false;

	/* mailgrants.ldif: one add record, plain values. */
	st->schema_path = xasprintf("%s/mailgrants.ldif", dir);
	if (sd_read_file(st->schema_path, &text, error_r) < 0)
		return -1;
	sd_ldif_lines(text, &lines);
	free(text);
	for (size_t i = 0; i < lines.n; i++) {
		char *colon = strchr(lines.v[i], ':');

		if (lines.v[i][0] == '\0')
			continue;
		if (colon == NULL || colon[1] == ':' || colon[1] == '<') {
			snprintf(error, sizeof(error), "%s: cannot read the "
				 "line \"%.60s\"", st->schema_path,
				 lines.v[i]);
			*error_r = error;
			sd_list_free(&lines);
			return -1;
		}
		*colon = '\0';
		if (strcasecmp(lines.v[i], "dn") == 0)
			continue;
		sd_push(&st->schema_names, lines.v[i]);
		sd_push(&st->schema_values,
			colon + 1 + strspn(colon + 1, " "));
	}
	sd_list_free(&lines);
	if (st->schema_names.n == 0) {
		snprintf(error, sizeof(error), "%s: no schema in it",
			 st->schema_path);
		*error_r = error;
		return -1;
	}
	/* access.ldif: the olcAccess values it replaces, and
	   olcAddContentAcl. */
	path = xasprintf("%s/access.ldif", dir);
	if (sd_read_file(path, &text, error_r) < 0) {
		free(path);
		return -1;
	}
	sd_ldif_lines(text, &lines);
	free(text);
	for (size_t i = 0; i < lines.n; i++) {
		const char *l = lines.v[i];

		if (strcmp(l, "-") == 0 || l[0] == '\0') {
			in_access = false;
		} else if (strncasecmp(l, "replace: olcAccess", 18) == 0) {
			in_access = true;
		} else if (in_access && strncasecmp(l, "olcAccess:", 10) == 0) {
			sd_push(&st->mg_access, aclmerge_strip_index(
				l + 10 + strspn(l + 10, " ")));
		} else if (strncasecmp(l, "olcAddContentAcl:", 17) == 0) {
			free(st->mg_content_acl);
			st->mg_content_acl = xstrdup(l + 17 +
						     strspn(l + 17, " "));
		}
	}
	sd_list_free(&lines);
	if (st->mg_access.n == 0) {
		snprintf(error, sizeof(error), "%s: no olcAccess rules in it",
			 path);
		free(path);
		*error_r = error;
		return -1;
	}
	free(path);
	return 0;
}

/* sd_search - a search that must work; NULL result and error on
   failure, LDAP_NO_SUCH_OBJECT told apart by *rc_r */
static LDAPMessage *sd_search(LDAP *ld, const char *base, int scope,
			      const char *filter, char **attrs, int *rc_r)
{
	LDAPMessage *res = NULL;
	struct timeval tv = { 30, 0 };

	*rc_r = ldap_search_ext_s(ld, base, scope, filter, attrs, 0, NULL,
				  NULL, &tv, 0, &res);
	if (*rc_r != LDAP_SUCCESS) {
		ldap_msgfree(res);
		return NULL;
	}
	return res;
}

/* sd_values - an attribute's values as strings */
static void sd_values(LDAP *ld, LDAPMessage *e, const char *attr,
		      struct sd_list *out)
{
	struct berval **vals = ldap_get_values_len(ld, e, attr);

	for (size_t i = 0; vals != NULL && vals[i] != NULL; i++) {
		char *s = xstrndup(vals[i]->bv_val, vals[i]->bv_len);

		sd_push(out, s);
		free(s);
	}
	ldap_value_free_len(vals);
}

/* sd_has_value - a case-insensitive value, {N} ignored */
static bool sd_has_value(const struct sd_list *l, const char *want)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcasecmp(aclmerge_strip_index(l->v[i]), want) == 0)
			return true;
	return false;
}

/* sd_dn_same - two DNs in the same normalised form */
bool sd_dn_same(const char *a, const char *b)
{
	char na[1024], nb[1024];
	const char *error;

	if (ldapdir_dn_normalize(a, na, sizeof(na), &error) < 0 ||
	    ldapdir_dn_normalize(b, nb, sizeof(nb), &error) < 0)
		return strcasecmp(a, b) == 0;
	return strcmp(na, nb) == 0;
}

/* sd_find_database - the database of the suffix (or the only mdb one) */
int sd_find_database(struct sd_state *st, const char *suffix)
{
	static char *attrs[] = { "olcSuffix", "objectClass", "olcDbIndex",
				 "olcAccess", "olcAddContentAcl",
				 "olcRootDN", "olcLimits", NULL };
	LDAPMessage *res, *e, *found = NULL;
	struct sd_list seen = { NULL, 0, 0 };
	size_t matches = 0;
	int rc;

	res = sd_search(st->ld, "cn=config", LDAP_SCOPE_ONELEVEL,
			"(olcSuffix=*)", attrs, &rc);
	if (res == NULL) {
		if (rc == LDAP_NO_SUCH_OBJECT ||
		    rc == LDAP_INSUFFICIENT_ACCESS)
			return sd_fail(EXIT_USAGE, "cannot read cn=config as "
				       "%s: %s (it needs manage access to "
				       "cn=config over ldapi:///, as root has "
				       "on Debian)", st->whoami,
				       ldap_err2string(rc));
		return sd_fail(EXIT_UNAVAILABLE, "reading cn=config: %s",
			       ldapconn_error_text(st->ld, rc));
	}
	for (e = ldap_first_entry(st->ld, res); e != NULL;
	     e = ldap_next_entry(st->ld, e)) {
		struct sd_list suf = { NULL, 0, 0 }, oc = { NULL, 0, 0 };
		bool mdb;

		sd_values(st->ld, e, "olcSuffix", &suf);
		sd_values(st->ld, e, "objectClass", &oc);
		mdb = sd_has_value(&oc, "olcMdbConfig");
		for (size_t i = 0; i < suf.n; i++) {
			if (suf.v[i][0] == '\0')
				continue;
			if (mdb || suffix != NULL)
				sd_push(&seen, suf.v[i]);
			if (suffix != NULL ? sd_dn_same(suf.v[i], suffix) :
			    mdb) {
				matches++;
				found = e;
				free(st->suffix);
				st->suffix = xstrdup(suf.v[i]);
			}
		}
		sd_list_free(&suf);
		sd_list_free(&oc);
	}
	if (matches != 1) {
		char *list = sd_join(&seen, "; ");

		ldap_msgfree(res);
		sd_list_free(&seen);
		if (suffix != NULL)
			rc = sd_fail(EXIT_USAGE, "no database has the suffix "
				     "%s (the databases' suffixes: %s)", suffix,
				     list[0] ? list : "none");
		else if (matches == 0)
			rc = sd_fail(EXIT_USAGE, "no mdb database with a "
				     "suffix in cn=config");
		else
			rc = sd_fail(EXIT_USAGE, "%zu mdb databases: say which "
				     "with --suffix (%s)", matches, list);
		free(list);
		return rc;
	}
	sd_list_free(&seen);
	{
		char *dn = ldap_get_dn(st->ld, found);
		struct sd_list v = { NULL, 0, 0 };

		st->db_dn = xstrdup(dn != NULL ? dn : "");
		ldap_memfree(dn);
		sd_values(st->ld, found, "olcAccess", &st->access);
		sd_values(st->ld, found, "olcDbIndex", &st->index);
		sd_values(st->ld, found, "olcLimits", &st->limits);
		sd_values(st->ld, found, "olcAddContentAcl", &v);
		st->content_acl = v.n > 0 && strcasecmp(v.v[0], "TRUE") == 0;
		sd_list_free(&v);
		sd_values(st->ld, found, "olcRootDN", &v);
		st->rootdn = v.n > 0 ? xstrdup(v.v[0]) : NULL;
		sd_list_free(&v);
	}
	ldap_msgfree(res);
	return EXIT_ANSWERED;
}

/* sd_schema_same - the loaded definitions of one kind (olcAttributeTypes
   or olcObjectClasses) are the file's: the same values, {N} and blanks
   aside */
static bool sd_schema_same(const struct sd_state *st, const char *kind,
			   const struct sd_list *loaded)
{
	size_t n = 0;

	for (size_t i = 0; i < st->schema_names.n; i++) {
		bool found = false;
		char *want;

		if (strcasecmp(st->schema_names.v[i], kind) != 0)
			continue;
		n++;
		want = sd_squeeze(aclmerge_strip_index(st->schema_values.v[i]));
		for (size_t k = 0; k < loaded->n && !found; k++) {
			char *have = sd_squeeze(
				aclmerge_strip_index(loaded->v[k]));

			found = strcmp(have, want) == 0;
			free(have);
		}
		free(want);
		if (!found)
			return false;
	}
	return n == loaded->n;
}

/* sd_check_schema - the prerequisites there, mailgrants there? */
int sd_check_schema(struct sd_state *st)
{
	static char *attrs[] = { "cn", "olcAttributeTypes",
				 "olcObjectClasses", NULL };
	static const char *const needed[] = { "core", "cosine",
					      "inetorgperson" };
	struct sd_list names = { NULL, 0, 0 };
	LDAPMessage *res, *e;
	int rc;

	res = sd_search(st->ld, "cn=schema,cn=config", LDAP_SCOPE_ONELEVEL,
			"(objectClass=olcSchemaConfig)", attrs, &rc);
	if (res == NULL)
		return sd_fail(EXIT_UNAVAILABLE, "reading cn=schema,cn=config:"
			       " %s", ldapconn_error_text(st->ld, rc));
	for (e = ldap_first_entry(st->ld, res); e != NULL;
	     e = ldap_next_entry(st->ld, e)) {
		struct sd_list cn = { NULL, 0, 0 }, at = { NULL, 0, 0 },
			oc = { NULL, 0, 0 };

		sd_values(st->ld, e, "cn", &cn);
		for (size_t i = 0; i < cn.n; i++)
			sd_push(&names, cn.v[i]);
		/* A schema mailgrants of another version is not replaced
		   (entries may use what it defines): said, not changed. */
		if (sd_has_value(&cn, "mailgrants")) {
			sd_values(st->ld, e, "olcAttributeTypes", &at);
			sd_values(st->ld, e, "olcObjectClasses", &oc);
			if (!sd_schema_same(st, "olcAttributeTypes", &at) ||
			    !sd_schema_same(st, "olcObjectClasses", &oc))
				sd_fail(EXIT_ANSWERED, "warning: the loaded "
					"schema mailgrants differs from %s; it "
					"is left as it is (compare them: "
					"ldapsearch -Y EXTERNAL -H ldapi:/// -b "
					"cn=schema,cn=config "
					"'(cn=*mailgrants)')",
					st->schema_path);
		}
		sd_list_free(&cn);
		sd_list_free(&at);
		sd_list_free(&oc);
	}
	ldap_msgfree(res);
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		if (!sd_has_value(&names, needed[i])) {
			sd_list_free(&names);
			return sd_fail(EXIT_USAGE, "schema prerequisites "
				       "missing: %s is not loaded (mailgrants "
				       "needs core, cosine and inetorgperson; "
				       "ldapadd -Y EXTERNAL -H ldapi:/// -f "
				       "/etc/ldap/schema/%s.ldif)", needed[i],
				       needed[i]);
		}
	}
	st->add_schema = !sd_has_value(&names, "mailgrants");
	sd_list_free(&names);
	return EXIT_ANSWERED;
}

/* sd_check_syncprov - the module loaded, the overlay on the database? */
int sd_check_syncprov(struct sd_state *st)
{
	static char *attrs[] = { "olcModuleLoad", "olcOverlay", NULL };
	LDAPMessage *res, *e;
	bool loaded = false;
	int rc;

	res = sd_search(st->ld, st->db_dn, LDAP_SCOPE_ONELEVEL,
			"(objectClass=olcSyncProvConfig)", attrs, &rc);
	if (res == NULL)
		return sd_fail(EXIT_UNAVAILABLE, "reading %s: %s", st->db_dn,
			       ldapconn_error_text(st->ld, rc));
	st->add_overlay = ldap_count_entries(st->ld, res) == 0;
	ldap_msgfree(res);
	if (!st->add_overlay)
		return EXIT_ANSWERED;	/* then the module is loaded */
	res = sd_search(st->ld, "cn=config", LDAP_SCOPE_ONELEVEL,
			"(objectClass=olcModuleList)", attrs, &rc);
	if (res == NULL)
		return sd_fail(EXIT_UNAVAILABLE, "reading cn=config: %s",
			       ldapconn_error_text(st->ld, rc));
	for (e = ldap_first_entry(st->ld, res); e != NULL;
	     e = ldap_next_entry(st->ld, e)) {
		struct sd_list v = { NULL, 0, 0 };

		sd_values(st->ld, e, "olcModuleLoad", &v);
		for (size_t i = 0; i < v.n; i++) {
			const char *m = aclmerge_strip_index(v.v[i]);
			const char *slash = strrchr(m, '/');

			if (slash != NULL)
				m = slash + 1;
			if (strncmp(m, "syncprov", 8) == 0 &&
			    (m[8] == '\0' || m[8] == '.'))
				loaded = true;
		}
		sd_list_free(&v);
		if (st->module_dn == NULL) {
			char *dn = ldap_get_dn(st->ld, e);

			st->module_dn = xstrdup(dn != NULL ? dn : "");
			ldap_memfree(dn);
		}
	}
	ldap_msgfree(res);
	st->add_module = !loaded;
	st->new_module_list = !loaded && st->module_dn == NULL;
	if (st->new_module_list)
		st->module_dn = xstrdup("cn=module,cn=config");
	return EXIT_ANSWERED;
}

/* sd_exists - does the entry exist (as the data session sees it)?
   1 yes, 0 no, -1 error */
int sd_exists(struct sd_state *st, const char *dn,
		     struct sd_list *members)
{
	static char *attrs[] = { "member", NULL };
	LDAPMessage *res;
	int rc;

	res = sd_search(st->data, dn, LDAP_SCOPE_BASE, "(objectClass=*)",
			attrs, &rc);
	if (res == NULL) {
		if (rc == LDAP_NO_SUCH_OBJECT)
			return 0;
		sd_fail(EXIT_UNAVAILABLE, "reading %s: %s", dn,
			ldapconn_error_text(st->data, rc));
		return -1;
	}
	if (ldap_count_entries(st->data, res) == 0) {
		ldap_msgfree(res);
		return 0;
	}
	if (members != NULL)
		sd_values(st->data, ldap_first_entry(st->data, res), "member",
			  members);
	ldap_msgfree(res);
	return 1;
}

/* sd_connect - the local root's session, and the tree's */
int sd_connect(struct sd_state *st, const struct sd_options *o)
{
	struct berval *authzid = NULL;
	const char *error;
	char *pw = NULL;
	int rc;

	st->cfg = config_defaults();
	free(st->cfg->ldap_uri);
	st->cfg->ldap_uri = xstrdup(o->uri);
	free(st->cfg->ldap_sasl_mech);
	st->cfg->ldap_sasl_mech = xstrdup("EXTERNAL");
	st->cfg->ldap_starttls = false;
	if (ldapconn_open(st->cfg, NULL, NULL, &st->ld, &error) < 0)
		return sd_fail(strstr(error, "cannot connect") != NULL ?
			       EXIT_UNAVAILABLE : EXIT_USAGE, "%s (is slapd "
			       "running and listening on %s? Debian: "
			       "SLAPD_SERVICES in /etc/default/slapd)", error,
			       o->uri);
	rc = ldap_whoami_s(st->ld, &authzid, NULL, NULL);
	if (rc != LDAP_SUCCESS || authzid == NULL ||
	    strncmp(authzid->bv_val, "dn:", 3) != 0) {
		if (authzid != NULL)
			ber_bvfree(authzid);
		return sd_fail(EXIT_USAGE, "%s: who am I: %s", o->uri,
			       rc != LDAP_SUCCESS ?
			       ldapconn_error_text(st->ld, rc) :
			       "no DN (anonymous)");
	}
	st->whoami = xstrndup(authzid->bv_val + 3, authzid->bv_len - 3);
	ber_bvfree(authzid);
	if (!sd_quotable(st->whoami))
		return sd_fail(EXIT_USAGE, "the local root's identity %s "
			       "cannot stand in an access rule",
			       st->whoami);
	st->data = st->ld;
	if (o->bind_dn == NULL)
		return EXIT_ANSWERED;
	if (ldapconn_password_read(o->bind_password_file, &pw,
				       &error) < 0)
		return sd_fail(EXIT_USAGE, "%s", error);
	rc = ldapconn_open(st->cfg, o->bind_dn, pw, &st->data, &error);
	ldapconn_password_free(&pw);
	if (rc < 0) {
		st->data = NULL;
		return sd_fail(EXIT_UNAVAILABLE, "%s", error);
	}
	return EXIT_ANSWERED;
}
