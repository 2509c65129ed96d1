/*
 * NAME
 *	setup-dir - mailgrants setup-directory
 * SYNOPSIS
 *	mailgrants setup-directory [-H uri] [--suffix dn] [--schema-dir dir]
 *		[--sync-dn dn] [--sync-password-file file]
 *		[--admins-group dn] [--admin dn]... [--reader dn]...
 *		[--container dn]... [--no-root-rule]
 *		[--bind-dn dn --bind-password-file file]
 *		[--diff | --apply]
 * DESCRIPTION
 *	Prepares an existing slapd (cn=config) for mailgrants, the
 *	README's steps 2 to 4: reads cn=config over ldapi:/// as the
 *	local root (SASL EXTERNAL), finds the database of the suffix and
 *	works out what is missing or different: the schema mailgrants
 *	(after core, cosine and inetorgperson), the indexes the sync and
 *	Dovecot search by, the syncprov module and overlay, the access
 *	rules of access.ldif merged with the site's (lib-sync/aclmerge.c)
 *	and olcAddContentAcl, no size limit for the sync identity (it
 *	reads every entry, in pages), the sync identity, the mail-admins
 *	group with its members, and the containers above them.
 *
 *	Without --diff or --apply it prints that as commented LDIF for
 *	ldapmodify -Y EXTERNAL -H ldapi:/// (no password in it); --diff
 *	prints olcAccess and olcDbIndex old -> new and a line for each
 *	other change; --apply makes the changes, cn=config as the local
 *	root, the tree's entries as the local root too (the merged rules
 *	give it manage access first, as Debian's frontend rule does for
 *	other databases) or, with --bind-dn, as that DN. The sync
 *	identity's password, from --sync-password-file, is set with the
 *	Password Modify extended operation, so slapd hashes it; it is
 *	set only when a bind with it fails. A second run finds nothing
 *	to do.
 * EXIT STATUS
 *	0 printed, applied or nothing to do; 1 usage error, not root, no
 *	such suffix, schema prerequisites missing, refused by slapd; 2
 *	slapd unreachable.
 * SEE ALSO
 *	mailgrants(1), aclmerge.h, ldap-schema/access.ldif
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ldap.h>

#include "aclmerge.h"
#include "cli.h"
#include "config.h"
#include "ldapconn.h"
#include "ldapdir.h"
#include "setup-dir.h"
#include "xalloc.h"

#ifndef MAILGRANTS_DATADIR
#define MAILGRANTS_DATADIR "/usr/local/share/mailgrants"
#endif

#define SD_CMD "setup-directory"
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

/* A list of strings. */
struct sd_list {
	char **v;
	size_t n, alloc;
};

/* An entry the tree needs. */
enum sd_entry_kind {
	SD_ENTRY_CONTAINER,
	SD_ENTRY_SYNC,
	SD_ENTRY_GROUP,
};

struct sd_entry {
	enum sd_entry_kind kind;
	char *dn, *rdn_attr, *rdn_value;
};

struct sd_options {
	const char *uri, *suffix, *schema_dir;
	const char *sync_dn, *sync_password_file, *group_dn;
	const char *bind_dn, *bind_password_file;
	struct sd_list admins, readers, containers;
	bool root_rule, diff, apply;
};

/* What cn=config and the tree have, and what they need. */
struct sd_state {
	LDAP *ld;		/* cn=config, as the local root */
	LDAP *data;		/* the tree: ld, or the --bind-dn session */
	struct config *cfg;	/* the connection settings for ldapdir */
	char *whoami;		/* the local root's authorization DN */
	char *db_dn, *suffix, *rootdn;
	struct sd_list access, index;	/* as the database has them */
	struct sd_list limits;
	bool content_acl;

	/* The plan. */
	bool add_schema, add_module, new_module_list, add_overlay;
	char *module_dn;
	struct sd_list index_del, index_add;
	struct aclmerge_result acl;
	bool set_access, set_content_acl;
	char *limit;			/* olcLimits value to add */
	struct sd_entry *entries;
	size_t entry_count, entry_alloc;
	struct sd_list members_add;	/* to the existing group */
	char *sync_password;
	bool set_password;

	/* From the schema directory. */
	char *schema_path;
	struct sd_list schema_names, schema_values;
	struct sd_list mg_access;
	char *mg_content_acl;
};

/* sd_fail - one error line on stderr; returns the status */
#define sd_fail(status, ...) cli_error(status, SD_CMD, __VA_ARGS__)

/* setup_dir_print_usage - the synopsis */
void setup_dir_print_usage(FILE *fp)
{
	fprintf(fp,
		"usage: %s setup-directory [-H uri] [--suffix dn] "
		"[--schema-dir dir]\n"
		"           [--sync-dn dn] [--sync-password-file file]\n"
		"           [--admins-group dn] [--admin dn]... "
		"[--reader dn]...\n"
		"           [--container dn]... [--no-root-rule]\n"
		"           [--bind-dn dn --bind-password-file file]\n"
		"           [--diff | --apply]\n"
		"Prints (default), shows as a diff, or applies what slapd "
		"needs for mailgrants:\n"
		"schema, indexes, syncprov, the access rules merged with the "
		"site's, the sync\n"
		"identity, the mail-admins group and their containers. Run "
		"as root; see mailgrants(1).\n"
		"Schema directory default: %s/schema\n", progname,
		MAILGRANTS_DATADIR);
}

/* sd_push - append a copy of s */
static void sd_push(struct sd_list *l, const char *s)
{
	l->v = xgrow(l->v, &l->alloc, l->n + 2, sizeof(*l->v), 8);
	l->v[l->n++] = xstrdup(s);
	l->v[l->n] = NULL;
}

/* sd_list_free - the strings and the array */
static void sd_list_free(struct sd_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* sd_join - the strings one after the other, sep between them */
static char *sd_join(const struct sd_list *l, const char *sep)
{
	size_t len = 1, n = 0;
	char *out;

	for (size_t i = 0; i < l->n; i++)
		len += strlen(l->v[i]) + strlen(sep);
	out = xmalloc(len);
	for (size_t i = 0; i < l->n; i++) {
		if (i > 0) {
			memcpy(out + n, sep, strlen(sep));
			n += strlen(sep);
		}
		memcpy(out + n, l->v[i], strlen(l->v[i]));
		n += strlen(l->v[i]);
	}
	out[n] = '\0';
	return out;
}

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
static int sd_load_schema_dir(struct sd_state *st, const char *dir,
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
static bool sd_dn_same(const char *a, const char *b)
{
	char na[1024], nb[1024];
	const char *error;

	if (ldapdir_dn_normalize(a, na, sizeof(na), &error) < 0 ||
	    ldapdir_dn_normalize(b, nb, sizeof(nb), &error) < 0)
		return strcasecmp(a, b) == 0;
	return strcmp(na, nb) == 0;
}

/* sd_find_database - the database of the suffix (or the only mdb one) */
static int sd_find_database(struct sd_state *st, const char *suffix)
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

/* sd_check_schema - the prerequisites there, mailgrants there? */
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

static int sd_check_schema(struct sd_state *st)
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
static int sd_check_syncprov(struct sd_state *st)
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

/* sd_index_covers - does an olcDbIndex value index attr, and with eq?
   0 no, 1 yes without eq, 2 yes with eq */
static int sd_index_covers(const char *value, const char *attr,
			   const char **types_r)
{
	size_t alen = strlen(attr);
	const char *p = value, *end = value + strcspn(value, " \t");
	int found = 0;

	while (p < end) {
		size_t n = strcspn(p, ", \t");

		if (n == alen && strncasecmp(p, attr, n) == 0)
			found = 1;
		p += n;
		if (*p == ',')
			p++;
		else
			break;
	}
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
static void sd_plan_indexes(struct sd_state *st)
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
			const char *v = st->index.v[at], *p = v;
			const char *end = v + strcspn(v, " \t");

			(void)sd_index_covers(v, attr, &types);
			sd_push(&st->index_del, v);
			while (p < end) {
				size_t n = strcspn(p, ", \t");
				char *a = xstrndup(p, n);
				char *nv = strcasecmp(a, attr) == 0 ?
					xasprintf("%s %s,eq", a, types) :
					xasprintf("%s %s", a, types);

				sd_push(&st->index_add, nv);
				free(nv);
				free(a);
				p += n;
				if (*p == ',')
					p++;
				else
					break;
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
static void sd_plan_limits(struct sd_state *st, const char *sync_dn)
{
	for (size_t i = 0; i < st->limits.n; i++)
		if (strcasestr(st->limits.v[i], sync_dn) != NULL)
			return;
	/* First: slapd takes the first value that matches. */
	st->limit = xasprintf("{0}dn.exact=\"%s\" size=unlimited", sync_dn);
}

/* sd_quotable - a DN that can stand in a quoted access rule */
static bool sd_quotable(const char *dn)
{
	return strpbrk(dn, "\"\\\n") == NULL;
}

/* sd_plan_access - mailgrants' rules for this site, merged */
static int sd_plan_access(struct sd_state *st, const struct sd_options *o)
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

/* sd_exists - does the entry exist (as the data session sees it)?
   1 yes, 0 no, -1 error */
static int sd_exists(struct sd_state *st, const char *dn,
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

/* sd_planned - is the entry in the plan already? */
static bool sd_planned(const struct sd_state *st, const char *dn)
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
static int sd_plan_tree(struct sd_state *st, const struct sd_options *o)
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
static int sd_plan_password(struct sd_state *st, const struct sd_options *o)
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

/* sd_safe - an LDIF SAFE-STRING (RFC 2849) */
static bool sd_safe(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (*p == ' ' || *p == ':' || *p == '<')
		return false;
	for (; *p != '\0'; p++)
		if (*p == '\r' || *p >= 0x80)
			return false;
	return s[0] == '\0' || p[-1] != ' ';
}

/* sd_print_value - "name: value", base64 where LDIF needs it; value
   may hold "\n  " folds of its own (aclmerge_fold) */
static void sd_print_value(FILE *fp, const char *name, const char *value)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789+/";
	const unsigned char *p = (const unsigned char *)value;
	size_t len = strlen(value);

	if (sd_safe(value)) {
		fprintf(fp, "%s: %s\n", name, value);
		return;
	}
	fprintf(fp, "%s:: ", name);
	for (size_t i = 0; i < len; i += 3) {
		unsigned long v = (unsigned long)p[i] << 16;

		if (i + 1 < len)
			v |= (unsigned long)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		fputc(b64[(v >> 18) & 63], fp);
		fputc(b64[(v >> 12) & 63], fp);
		fputc(i + 1 < len ? b64[(v >> 6) & 63] : '=', fp);
		fputc(i + 2 < len ? b64[v & 63] : '=', fp);
	}
	fputc('\n', fp);
}

/* sd_print_rule - one olcAccess value, folded before each "by" */
static void sd_print_rule(FILE *fp, size_t i, const char *text)
{
	char *folded = aclmerge_fold(text);
	char *v = xasprintf("{%zu}%s", i, folded);

	if (strchr(text, '\n') != NULL || !sd_safe(text)) {
		free(v);
		v = xasprintf("{%zu}%s", i, text);
	}
	sd_print_value(fp, "olcAccess", v);
	free(v);
	free(folded);
}

/* sd_nothing - is the plan empty? */
static bool sd_nothing(const struct sd_state *st)
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

/* sd_group_members - the members a new group gets */
static void sd_group_members(const struct sd_state *st,
			     const struct sd_options *o, struct sd_list *out)
{
	for (size_t i = 0; i < o->admins.n; i++)
		sd_push(out, o->admins.v[i]);
	if (out->n == 0 && st->rootdn != NULL)
		sd_push(out, st->rootdn);
}

/* sd_print_ldif - the plan as commented LDIF */
static void sd_print_ldif(const struct sd_state *st,
			  const struct sd_options *o)
{
	FILE *fp = stdout;

	fprintf(fp, "# mailgrants setup-directory: what %s (%s) lacks\n",
		st->suffix, st->db_dn);
	if (sd_nothing(st)) {
		fprintf(fp, "# nothing to do\n");
		return;
	}
	fprintf(fp, "# Apply as root with\n"
		"#\tldapmodify -Y EXTERNAL -H ldapi:/// -f FILE\n"
		"# or run the same command with --apply (which also sets the "
		"sync identity's\n# password from --sync-password-file).\n");
	if (st->add_schema) {
		fprintf(fp, "\n# The schema mailgrants, from %s (after core, "
			"cosine and inetorgperson)\n", st->schema_path);
		fprintf(fp, "dn: cn=mailgrants,cn=schema,cn=config\n"
			"changetype: add\n");
		for (size_t i = 0; i < st->schema_names.n; i++)
			sd_print_value(fp, st->schema_names.v[i],
				       st->schema_values.v[i]);
	}
	if (st->add_module && st->new_module_list) {
		fprintf(fp, "\n# The syncprov module, for sync --follow\n"
			"dn: %s\nchangetype: add\nobjectClass: olcModuleList\n"
			"cn: module\nolcModuleLoad: syncprov\n", st->module_dn);
	} else if (st->add_module) {
		fprintf(fp, "\n# The syncprov module, for sync --follow\n"
			"dn: %s\nchangetype: modify\nadd: olcModuleLoad\n"
			"olcModuleLoad: syncprov\n", st->module_dn);
	}
	if (st->add_overlay)
		fprintf(fp, "\n# The syncprov overlay: sync --follow takes "
			"changes as they happen\n"
			"dn: olcOverlay=syncprov,%s\nchangetype: add\n"
			"objectClass: olcOverlayConfig\n"
			"objectClass: olcSyncProvConfig\n"
			"olcOverlay: syncprov\nolcSpCheckpoint: 100 10\n"
			"olcSpSessionlog: 1000\n", st->db_dn);
	if (st->index_del.n > 0 || st->index_add.n > 0) {
		fprintf(fp, "\n# Equality indexes for what the sync, syncprov"
			" and Dovecot search by\ndn: %s\nchangetype: modify\n",
			st->db_dn);
		if (st->index_del.n > 0) {
			fprintf(fp, "delete: olcDbIndex\n");
			for (size_t i = 0; i < st->index_del.n; i++)
				sd_print_value(fp, "olcDbIndex",
					       st->index_del.v[i]);
			fprintf(fp, "-\n");
		}
		fprintf(fp, "add: olcDbIndex\n");
		for (size_t i = 0; i < st->index_add.n; i++)
			sd_print_value(fp, "olcDbIndex", st->index_add.v[i]);
	}
	if (st->limit != NULL) {
		fprintf(fp, "\n# No size limit for the sync identity: it reads "
			"every entry, in pages\ndn: %s\nchangetype: modify\n"
			"add: olcLimits\n", st->db_dn);
		sd_print_value(fp, "olcLimits", st->limit);
	}
	if (st->set_access || st->set_content_acl) {
		fprintf(fp, "\n# The access rules: mailgrants' (access.ldif) "
			"merged with the site's %zu rule%s.\n"
			"# Every rule says where it comes from.\n",
			st->access.n, st->access.n == 1 ? "" : "s");
		for (size_t i = 0; i < st->acl.note_count; i++) {
			fputs("# Note: ", fp);
			cli_print_printable(fp, st->acl.notes[i]);
			fputc('\n', fp);
		}
		fprintf(fp, "dn: %s\nchangetype: modify\n", st->db_dn);
		if (st->set_access) {
			fprintf(fp, "replace: olcAccess\n");
			for (size_t i = 0; i < st->acl.count; i++) {
				fprintf(fp, "# {%zu} ", i);
				cli_print_printable(fp, st->acl.rules[i].origin);
				fputc('\n', fp);
				sd_print_rule(fp, i, st->acl.rules[i].text);
			}
		}
		if (st->set_access && st->set_content_acl)
			fprintf(fp, "-\n");
		if (st->set_content_acl)
			fprintf(fp, "replace: olcAddContentAcl\n"
				"olcAddContentAcl: TRUE\n");
	}
	if (st->entry_count > 0 || st->members_add.n > 0)
		fprintf(fp, "\n# The tree's entries, written by %s\n",
			o->bind_dn != NULL ? o->bind_dn : o->root_rule ?
			"the local root (the first rule above)" :
			"the rootdn (ldapadd -x -D ROOTDN -W)");
	for (size_t i = 0; i < st->entry_count; i++) {
		const struct sd_entry *en = &st->entries[i];
		const char *const *oc = sd_entry_classes(en);

		if (en->kind == SD_ENTRY_SYNC)
			fprintf(fp, "# The sync identity; its userPassword "
				"is a value no password matches until\n"
				"# --apply --sync-password-file sets it, or "
				"ldappasswd -Y EXTERNAL -H ldapi:/// -S DN\n");
		fprintf(fp, "dn: %s\nchangetype: add\n", en->dn);
		for (size_t k = 0; oc[k] != NULL; k++)
			fprintf(fp, "objectClass: %s\n", oc[k]);
		sd_print_value(fp, en->rdn_attr, en->rdn_value);
		if (en->kind == SD_ENTRY_SYNC)
			fprintf(fp, "userPassword: %s\n", SD_NO_PASSWORD);
		if (en->kind == SD_ENTRY_GROUP) {
			struct sd_list m = { NULL, 0, 0 };

			sd_group_members(st, o, &m);
			for (size_t k = 0; k < m.n; k++)
				sd_print_value(fp, "member", m.v[k]);
			sd_list_free(&m);
		}
		fputc('\n', fp);
	}
	if (st->members_add.n > 0) {
		fprintf(fp, "dn: %s\nchangetype: modify\nadd: member\n",
			o->group_dn);
		for (size_t i = 0; i < st->members_add.n; i++)
			sd_print_value(fp, "member", st->members_add.v[i]);
		fputc('\n', fp);
	}
	if (st->set_password && !sd_planned(st, o->sync_dn))
		fprintf(fp, "# The sync identity's password differs from "
			"--sync-password-file: --apply sets it.\n");
}

/* sd_print_diff - olcAccess and olcDbIndex old -> new, and the rest */
static void sd_print_diff(const struct sd_state *st,
			  const struct sd_options *o)
{
	size_t n = st->access.n, m = st->acl.count;
	size_t *lcs = xcalloc((n + 1) * (m + 1), sizeof(*lcs));
	size_t i, j;

#define LCS(a, b) lcs[(a) * (m + 1) + (b)]
	for (i = n; i-- > 0;)
		for (j = m; j-- > 0;)
			LCS(i, j) = aclmerge_same(st->access.v[i],
						  st->acl.rules[j].text) ?
				LCS(i + 1, j + 1) + 1 :
				LCS(i + 1, j) > LCS(i, j + 1) ?
				LCS(i + 1, j) : LCS(i, j + 1);
	printf("olcAccess of %s (- now, + after, = both):\n", st->db_dn);
	if (!st->set_access)
		printf("  (no change)\n");
	for (i = 0, j = 0; st->set_access && (i < n || j < m);) {
		if (i < n && j < m &&
		    aclmerge_same(st->access.v[i], st->acl.rules[j].text)) {
			printf("= {%zu} ", j);
			cli_print_printable(stdout, st->acl.rules[j].text);
			putchar('\n');
			i++;
			j++;
		} else if (j < m && (i == n || LCS(i, j + 1) > LCS(i + 1, j))) {
			printf("+ {%zu} ", j);
			cli_print_printable(stdout, st->acl.rules[j].text);
			printf("\n      # ");
			cli_print_printable(stdout, st->acl.rules[j].origin);
			putchar('\n');
			j++;
		} else {
			printf("- {%zu} ", i);
			cli_print_printable(stdout,
					    aclmerge_strip_index(st->access.v[i]));
			putchar('\n');
			i++;
		}
	}
#undef LCS
	free(lcs);
	for (i = 0; i < st->acl.note_count; i++) {
		printf("  note: ");
		cli_print_printable(stdout, st->acl.notes[i]);
		putchar('\n');
	}
	if (st->set_content_acl)
		printf("olcAddContentAcl: FALSE -> TRUE\n");
	printf("olcDbIndex of %s:\n", st->db_dn);
	if (st->index_del.n == 0 && st->index_add.n == 0)
		printf("  (no change)\n");
	for (i = 0; i < st->index_del.n; i++)
		printf("- %s\n", st->index_del.v[i]);
	for (i = 0; i < st->index_add.n; i++)
		printf("+ %s\n", st->index_add.v[i]);
	if (st->limit != NULL)
		printf("olcLimits: + %s\n", st->limit);
	if (st->add_schema)
		printf("schema: mailgrants is not loaded: load %s\n",
		       st->schema_path);
	if (st->add_module)
		printf("module: load syncprov (%s)\n", st->module_dn);
	if (st->add_overlay)
		printf("overlay: add syncprov to %s\n", st->db_dn);
	for (i = 0; i < st->entry_count; i++)
		printf("entry: add %s\n", st->entries[i].dn);
	for (i = 0; i < st->members_add.n; i++)
		printf("member: add %s to %s\n", st->members_add.v[i],
		       o->group_dn);
	if (st->set_password)
		printf("password: set the password of %s\n", o->sync_dn);
	if (sd_nothing(st))
		printf("nothing to do\n");
}

/* sd_mod - one LDAPMod over a NULL-terminated value list */
static LDAPMod *sd_mod(int op, const char *name, char **values)
{
	LDAPMod *mod = xcalloc(1, sizeof(*mod));

	mod->mod_op = op;
	mod->mod_type = (char *)name;
	mod->mod_values = values;
	return mod;
}

/* sd_do - report an LDAP result; EXIT_ANSWERED when it worked */
static int sd_do(LDAP *ld, int rc, const char *what, const char *dn)
{
	if (rc == LDAP_SUCCESS) {
		printf("%s %s\n", what, dn);
		return EXIT_ANSWERED;
	}
	return sd_fail(rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT ?
		       EXIT_UNAVAILABLE : EXIT_USAGE, "%s %s: %s", what, dn,
		       ldapconn_error_text(ld, rc));
}

/* sd_add - add an entry: attribute names with their value lists */
static int sd_add(LDAP *ld, const char *dn, const struct sd_list *names,
		  const struct sd_list *values)
{
	LDAPMod **mods = xcalloc(names->n + 1, sizeof(*mods));
	char ***vals = xcalloc(names->n + 1, sizeof(*vals));
	size_t nm = 0;
	int rc;

	/* One LDAPMod per attribute name, values in their order. */
	for (size_t i = 0; i < names->n; i++) {
		size_t k, count = 0;

		for (k = 0; k < nm; k++)
			if (strcasecmp(mods[k]->mod_type, names->v[i]) == 0)
				break;
		if (k == nm) {
			vals[nm] = xcalloc(names->n + 1, sizeof(char *));
			mods[nm] = sd_mod(LDAP_MOD_ADD, names->v[i],
					  vals[nm]);
			nm++;
		}
		while (vals[k][count] != NULL)
			count++;
		vals[k][count] = values->v[i];
	}
	rc = ldap_add_ext_s(ld, dn, mods, NULL, NULL);
	for (size_t k = 0; k < nm; k++) {
		free(vals[k]);
		free(mods[k]);
	}
	free(vals);
	free(mods);
	return sd_do(ld, rc, "added", dn);
}

/* sd_add_pairs - add an entry from "name", "value", ..., NULL */
static int sd_add_pairs(LDAP *ld, const char *dn, const char *const *pairs)
{
	struct sd_list n = { NULL, 0, 0 }, v = { NULL, 0, 0 };
	int status;

	for (size_t i = 0; pairs[i] != NULL && pairs[i + 1] != NULL; i += 2) {
		sd_push(&n, pairs[i]);
		sd_push(&v, pairs[i + 1]);
	}
	status = sd_add(ld, dn, &n, &v);
	sd_list_free(&n);
	sd_list_free(&v);
	return status;
}

/* sd_modify - one modify of dn with one or two changes (m2 may be
   NULL); frees the LDAPMods, not their values */
static int sd_modify(LDAP *ld, const char *dn, LDAPMod *m1, LDAPMod *m2,
		     const char *what)
{
	LDAPMod *mods[3] = { m1, m2, NULL };
	int rc = ldap_modify_ext_s(ld, dn, mods, NULL, NULL);

	free(m1);
	free(m2);
	return sd_do(ld, rc, what, dn);
}

/* sd_apply_config - the cn=config part, as the local root */
static int sd_apply_config(struct sd_state *st)
{
	int status = EXIT_ANSWERED;

	if (st->add_schema) {
		status = sd_add(st->ld, "cn=mailgrants,cn=schema,cn=config",
				&st->schema_names, &st->schema_values);
		if (status != EXIT_ANSWERED)
			return status;
	}
	if (st->add_module) {
		static const char *const list[] = {
			"objectClass", "olcModuleList", "cn", "module",
			"olcModuleLoad", "syncprov", NULL,
		};
		char *v[] = { (char *)"syncprov", NULL };

		status = st->new_module_list ?
			sd_add_pairs(st->ld, st->module_dn, list) :
			sd_modify(st->ld, st->module_dn,
				  sd_mod(LDAP_MOD_ADD, "olcModuleLoad", v),
				  NULL, "loaded syncprov:");
		if (status != EXIT_ANSWERED)
			return status;
	}
	if (st->add_overlay) {
		static const char *const overlay[] = {
			"objectClass", "olcOverlayConfig",
			"objectClass", "olcSyncProvConfig",
			"olcOverlay", "syncprov",
			"olcSpCheckpoint", "100 10",
			"olcSpSessionlog", "1000", NULL,
		};
		char *dn = xasprintf("olcOverlay=syncprov,%s", st->db_dn);

		status = sd_add_pairs(st->ld, dn, overlay);
		free(dn);
		if (status != EXIT_ANSWERED)
			return status;
	}
	if (st->index_del.n > 0 || st->index_add.n > 0) {
		LDAPMod *add = sd_mod(LDAP_MOD_ADD, "olcDbIndex",
				      st->index_add.v);

		status = st->index_del.n == 0 ?
			sd_modify(st->ld, st->db_dn, add, NULL,
				  "indexed (olcDbIndex):") :
			sd_modify(st->ld, st->db_dn,
				  sd_mod(LDAP_MOD_DELETE, "olcDbIndex",
					 st->index_del.v), add,
				  "indexed (olcDbIndex):");
		if (status != EXIT_ANSWERED)
			return status;
	}
	if (st->limit != NULL) {
		char *v[] = { st->limit, NULL };

		status = sd_modify(st->ld, st->db_dn,
				   sd_mod(LDAP_MOD_ADD, "olcLimits", v), NULL,
				   "no size limit for the sync (olcLimits):");
		if (status != EXIT_ANSWERED)
			return status;
	}
	if (st->set_access || st->set_content_acl) {
		char **rules = xcalloc(st->acl.count + 1, sizeof(*rules));
		char *acl_true[] = { (char *)"TRUE", NULL };
		LDAPMod *acl = sd_mod(LDAP_MOD_REPLACE, "olcAddContentAcl",
				      acl_true);

		for (size_t i = 0; i < st->acl.count; i++)
			rules[i] = xasprintf("{%zu}%s", i,
					     st->acl.rules[i].text);
		if (!st->set_content_acl) {
			free(acl);
			acl = NULL;
		}
		status = sd_modify(st->ld, st->db_dn, st->set_access ?
				   sd_mod(LDAP_MOD_REPLACE, "olcAccess",
					  rules) : acl,
				   st->set_access ? acl : NULL,
				   "access rules (olcAccess) merged:");
		for (size_t i = 0; i < st->acl.count; i++)
			free(rules[i]);
		free(rules);
	}
	return status;
}

/* sd_apply_tree - the entries, the members and the password */
static int sd_apply_tree(struct sd_state *st, const struct sd_options *o)
{
	int status = EXIT_ANSWERED;

	for (size_t i = 0; i < st->entry_count; i++) {
		const struct sd_entry *en = &st->entries[i];
		const char *const *oc = sd_entry_classes(en);
		struct sd_list n = { NULL, 0, 0 }, v = { NULL, 0, 0 };

		for (size_t k = 0; oc[k] != NULL; k++) {
			sd_push(&n, "objectClass");
			sd_push(&v, oc[k]);
		}
		sd_push(&n, en->rdn_attr);
		sd_push(&v, en->rdn_value);
		if (en->kind == SD_ENTRY_SYNC) {
			sd_push(&n, "userPassword");
			sd_push(&v, SD_NO_PASSWORD);
		}
		if (en->kind == SD_ENTRY_GROUP) {
			struct sd_list m = { NULL, 0, 0 };

			sd_group_members(st, o, &m);
			for (size_t k = 0; k < m.n; k++) {
				sd_push(&n, "member");
				sd_push(&v, m.v[k]);
			}
			sd_list_free(&m);
		}
		status = sd_add(st->data, en->dn, &n, &v);
		sd_list_free(&n);
		sd_list_free(&v);
		if (status != EXIT_ANSWERED)
			return status;
	}
	if (st->members_add.n > 0) {
		status = sd_modify(st->data, o->group_dn,
				   sd_mod(LDAP_MOD_ADD, "member",
					  st->members_add.v),
				   NULL, "added members to");
		if (status != EXIT_ANSWERED)
			return status;
	}
	if (st->set_password) {
		struct berval user, pw, gen = { 0, NULL };
		int rc;

		user.bv_val = (char *)o->sync_dn;
		user.bv_len = strlen(o->sync_dn);
		pw.bv_val = st->sync_password;
		pw.bv_len = strlen(st->sync_password);
		/* Password Modify (RFC 3062): slapd hashes it
		   (olcPasswordHash); it is never in an LDIF or a log. */
		rc = ldap_passwd_s(st->data, &user, NULL, &pw, &gen, NULL,
				   NULL);
		if (gen.bv_val != NULL)
			ber_memfree(gen.bv_val);
		status = sd_do(st->data, rc, "set the password of",
			       o->sync_dn);
	}
	return status;
}

/* sd_options - parse the command line */
static int sd_options(int argc, char **argv, struct sd_options *o)
{
	static const struct option opts[] = {
		{ "suffix", required_argument, NULL, 's' },
		{ "schema-dir", required_argument, NULL, 'S' },
		{ "sync-dn", required_argument, NULL, 'y' },
		{ "sync-password-file", required_argument, NULL, 'Y' },
		{ "admins-group", required_argument, NULL, 'g' },
		{ "admin", required_argument, NULL, 'a' },
		{ "reader", required_argument, NULL, 'r' },
		{ "container", required_argument, NULL, 'C' },
		{ "no-root-rule", no_argument, NULL, 'N' },
		{ "bind-dn", required_argument, NULL, 'D' },
		{ "bind-password-file", required_argument, NULL, 'W' },
		{ "diff", no_argument, NULL, 'd' },
		{ "apply", no_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->uri = "ldapi:///";
	o->root_rule = true;
	optind = 0;	/* glibc: a full restart, with permutation */
	while ((c = getopt_long(argc, argv, "H:", opts, NULL)) != -1) {
		switch (c) {
		case 'H': o->uri = optarg; break;
		case 's': o->suffix = optarg; break;
		case 'S': o->schema_dir = optarg; break;
		case 'y': o->sync_dn = optarg; break;
		case 'Y': o->sync_password_file = optarg; break;
		case 'g': o->group_dn = optarg; break;
		case 'a': sd_push(&o->admins, optarg); break;
		case 'r': sd_push(&o->readers, optarg); break;
		case 'C': sd_push(&o->containers, optarg); break;
		case 'N': o->root_rule = false; break;
		case 'D': o->bind_dn = optarg; break;
		case 'W': o->bind_password_file = optarg; break;
		case 'd': o->diff = true; break;
		case 'A': o->apply = true; break;
		default:
			return -1;
		}
	}
	if (optind != argc || (o->diff && o->apply) ||
	    (o->bind_dn == NULL) != (o->bind_password_file == NULL))
		return -1;
	return 0;
}

/* sd_state_free - everything the run allocated */
static void sd_state_free(struct sd_state *st)
{
	if (st->data != NULL && st->data != st->ld)
		(void)ldap_unbind_ext_s(st->data, NULL, NULL);
	if (st->ld != NULL)
		(void)ldap_unbind_ext_s(st->ld, NULL, NULL);
	config_free(&st->cfg);
	free(st->whoami);
	free(st->db_dn);
	free(st->suffix);
	free(st->rootdn);
	free(st->module_dn);
	free(st->schema_path);
	free(st->mg_content_acl);
	free(st->limit);
	sd_list_free(&st->limits);
	sd_list_free(&st->access);
	sd_list_free(&st->index);
	sd_list_free(&st->index_del);
	sd_list_free(&st->index_add);
	sd_list_free(&st->members_add);
	sd_list_free(&st->schema_names);
	sd_list_free(&st->schema_values);
	sd_list_free(&st->mg_access);
	aclmerge_result_free(&st->acl);
	for (size_t i = 0; i < st->entry_count; i++) {
		free(st->entries[i].dn);
		free(st->entries[i].rdn_attr);
		free(st->entries[i].rdn_value);
	}
	free(st->entries);
	ldapconn_password_free(&st->sync_password);
}

/* sd_connect - the local root's session, and the tree's */
static int sd_connect(struct sd_state *st, const struct sd_options *o)
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

/* cmd_setup_directory - plan, then print, diff or apply */
int cmd_setup_directory(int argc, char **argv)
{
	struct sd_state st;
	struct sd_options o;
	char *sync_dn = NULL, *group_dn = NULL, *schema_dir = NULL;
	int status;

	memset(&st, 0, sizeof(st));
	if (sd_options(argc, argv, &o) < 0) {
		setup_dir_print_usage(stderr);
		status = EXIT_USAGE;
		goto out;
	}
	if (geteuid() != 0) {
		status = sd_fail(EXIT_USAGE, "not root: run it as root, who "
				 "reads and changes cn=config over ldapi:/// "
				 "(SASL EXTERNAL)");
		goto out;
	}
	schema_dir = xstrdup(o.schema_dir != NULL ? o.schema_dir :
			     MAILGRANTS_DATADIR "/schema");
	{
		const char *error;

		if (sd_load_schema_dir(&st, schema_dir, &error) < 0) {
			status = sd_fail(EXIT_USAGE, "%s", error);
			goto out;
		}
	}
	if ((status = sd_connect(&st, &o)) != EXIT_ANSWERED ||
	    (status = sd_find_database(&st, o.suffix)) != EXIT_ANSWERED)
		goto out;
	if (o.sync_dn == NULL)
		o.sync_dn = sync_dn = xasprintf("cn=mailgrants-sync,%s",
						st.suffix);
	if (o.group_dn == NULL)
		o.group_dn = group_dn = xasprintf(
			"cn=mail-admins,ou=groups,%s", st.suffix);
	{
		const char *bad = !sd_quotable(o.sync_dn) ? o.sync_dn :
			!sd_quotable(o.group_dn) ? o.group_dn : NULL;

		for (size_t i = 0; i < o.readers.n && bad == NULL; i++)
			if (!sd_quotable(o.readers.v[i]))
				bad = o.readers.v[i];
		if (bad != NULL) {
			status = sd_fail(EXIT_USAGE, "%s: a DN with \", \\ or "
					 "a line break cannot stand in an "
					 "access rule", bad);
			goto out;
		}
	}
	if ((status = sd_check_schema(&st)) != EXIT_ANSWERED ||
	    (status = sd_check_syncprov(&st)) != EXIT_ANSWERED)
		goto out;
	sd_plan_indexes(&st);
	sd_plan_limits(&st, o.sync_dn);
	if ((status = sd_plan_access(&st, &o)) != EXIT_ANSWERED ||
	    (status = sd_plan_tree(&st, &o)) != EXIT_ANSWERED ||
	    (status = sd_plan_password(&st, &o)) != EXIT_ANSWERED)
		goto out;
	if (o.diff) {
		sd_print_diff(&st, &o);
	} else if (!o.apply) {
		sd_print_ldif(&st, &o);
	} else if (!o.root_rule && o.bind_dn == NULL &&
		   (st.entry_count > 0 || st.members_add.n > 0 ||
		    st.set_password)) {
		/* Once the rules are in, the local root may write nothing
		   of the tree: refuse before anything is changed. */
		status = sd_fail(EXIT_USAGE, "--no-root-rule: give --bind-dn "
				 "and --bind-password-file (the rootdn) to write "
				 "the tree's entries");
	} else if (sd_nothing(&st)) {
		printf("nothing to do: %s is set up for mailgrants\n",
		       st.suffix);
	} else if ((status = sd_apply_config(&st)) == EXIT_ANSWERED) {
		status = sd_apply_tree(&st, &o);
	}
out:
	sd_state_free(&st);
	sd_list_free(&o.admins);
	sd_list_free(&o.readers);
	sd_list_free(&o.containers);
	free(sync_dn);
	free(group_dn);
	free(schema_dir);
	return status;
}
