/*
 * NAME
 *	setup-dir-out - the plan as LDIF, as a diff, or applied
 * SYNOPSIS
 *	#include "setup-dir-private.h"
 * DESCRIPTION
 *	sd_print_ldif() writes the plan as commented LDIF for
 *	ldapmodify -Y EXTERNAL -H ldapi:/// (every access rule says
 *	where it comes from; no password in it), base64 where RFC 2849
 *	needs it. sd_print_diff() writes olcAccess old -> new (a longest
 *	common subsequence of the rules), olcDbIndex, and a line for
 *	each other change.
 *
 *	sd_apply_config() makes the cn=config changes as the local
 *	root, sd_apply_tree() adds the entries and members over the
 *	tree's session and sets the sync identity's password with the
 *	Password Modify extended operation (RFC 3062), so that slapd
 *	hashes it. Each change done is said on stdout.
 * DIAGNOSTICS
 *	The first change slapd refuses stops the run (a usage error;
 *	EXIT_UNAVAILABLE when slapd is down or timed out), naming the
 *	DN and slapd's text; what was done before it stays done, and a
 *	second run finds it.
 * SEE ALSO
 *	setup-dir-private.h, aclmerge.h (aclmerge_fold), RFC 2849, RFC 3062
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>

#include "aclmerge.h"
#include "cli.h"
#include "ldapconn.h"
#include "setup-dir-private.h"
#include "xalloc.h"

/* The entries setup-directory adds to cn=config, for the LDIF and
   the add: "name", "value", ..., NULL. */
static const char *const sd_module_list[] = {
	"objectClass", "olcModuleList", "cn", "module",
	"olcModuleLoad", "syncprov", NULL,
};
static const char *const sd_overlay[] = {
	"objectClass", "olcOverlayConfig",
	"objectClass", "olcSyncProvConfig",
	"olcOverlay", "syncprov",
	"olcSpCheckpoint", "100 10",
	"olcSpSessionlog", "1000", NULL,
};

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

/* sd_print_pairs - an entry's attributes: names->v[i] with values->v[i] */
static void sd_print_pairs(FILE *fp, const struct sd_list *names,
			   const struct sd_list *values)
{
	for (size_t i = 0; i < names->n; i++)
		sd_print_value(fp, names->v[i], values->v[i]);
}

/* sd_print_strings - "name", "value", ..., NULL as LDIF lines */
static void sd_print_strings(FILE *fp, const char *const *pairs)
{
	for (size_t i = 0; pairs[i] != NULL && pairs[i + 1] != NULL; i += 2)
		sd_print_value(fp, pairs[i], pairs[i + 1]);
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

/* sd_print_ldif - the plan as commented LDIF */
void sd_print_ldif(const struct sd_state *st,
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
		sd_print_pairs(fp, &st->schema_names, &st->schema_values);
	}
	if (st->add_module && st->new_module_list) {
		fprintf(fp, "\n# The syncprov module, for sync --follow\n"
			"dn: %s\nchangetype: add\n", st->module_dn);
		sd_print_strings(fp, sd_module_list);
	} else if (st->add_module) {
		fprintf(fp, "\n# The syncprov module, for sync --follow\n"
			"dn: %s\nchangetype: modify\nadd: olcModuleLoad\n"
			"olcModuleLoad: syncprov\n", st->module_dn);
	}
	if (st->add_overlay) {
		fprintf(fp, "\n# The syncprov overlay: sync --follow takes "
			"changes as they happen\n"
			"dn: olcOverlay=syncprov,%s\nchangetype: add\n",
			st->db_dn);
		sd_print_strings(fp, sd_overlay);
	}
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
		struct sd_list n = { NULL, 0, 0 }, v = { NULL, 0, 0 };

		if (en->kind == SD_ENTRY_SYNC)
			fprintf(fp, "# The sync identity; its userPassword "
				"is a value no password matches until\n"
				"# --apply --sync-password-file sets it, or "
				"ldappasswd -Y EXTERNAL -H ldapi:/// -S DN\n");
		fprintf(fp, "dn: %s\nchangetype: add\n", en->dn);
		sd_entry_attrs(st, o, en, &n, &v);
		sd_print_pairs(fp, &n, &v);
		sd_list_free(&n);
		sd_list_free(&v);
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
void sd_print_diff(const struct sd_state *st,
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
int sd_apply_config(struct sd_state *st)
{
	int status = EXIT_ANSWERED;

	if (st->add_schema) {
		status = sd_add(st->ld, "cn=mailgrants,cn=schema,cn=config",
				&st->schema_names, &st->schema_values);
		if (status != EXIT_ANSWERED)
			return status;
	}
	if (st->add_module) {
		char *v[] = { (char *)"syncprov", NULL };

		status = st->new_module_list ?
			sd_add_pairs(st->ld, st->module_dn, sd_module_list) :
			sd_modify(st->ld, st->module_dn,
				  sd_mod(LDAP_MOD_ADD, "olcModuleLoad", v),
				  NULL, "loaded syncprov:");
		if (status != EXIT_ANSWERED)
			return status;
	}
	if (st->add_overlay) {
		char *dn = xasprintf("olcOverlay=syncprov,%s", st->db_dn);

		status = sd_add_pairs(st->ld, dn, sd_overlay);
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
int sd_apply_tree(struct sd_state *st, const struct sd_options *o)
{
	int status = EXIT_ANSWERED;

	for (size_t i = 0; i < st->entry_count; i++) {
		const struct sd_entry *en = &st->entries[i];
		struct sd_list n = { NULL, 0, 0 }, v = { NULL, 0, 0 };

		sd_entry_attrs(st, o, en, &n, &v);
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
