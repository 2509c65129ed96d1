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
 * DIAGNOSTICS
 *	One line on stderr for what stopped it (sd_fail()), naming what
 *	to do; a warning (a loaded schema mailgrants that differs) the
 *	same way, and the run goes on.
 *
 *	This file holds the options and the order of the steps; the
 *	steps are in setup-dir-read.c (the state), setup-dir-plan.c
 *	(what is missing) and setup-dir-out.c (the LDIF, the diff,
 *	--apply).
 * SEE ALSO
 *	mailgrants(1), setup-dir-private.h, aclmerge.h,
 *	ldap-schema/access.ldif
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ldap.h>

#include "cli.h"
#include "config.h"
#include "ldapconn.h"
#include "setup-dir.h"
#include "setup-dir-private.h"
#include "xalloc.h"

#ifndef MAILGRANTS_DATADIR
#define MAILGRANTS_DATADIR "/usr/local/share/mailgrants"
#endif

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
void sd_push(struct sd_list *l, const char *s)
{
	l->v = xgrow(l->v, &l->alloc, l->n + 2, sizeof(*l->v), 8);
	l->v[l->n++] = xstrdup(s);
	l->v[l->n] = NULL;
}

/* sd_list_free - the strings and the array */
void sd_list_free(struct sd_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* sd_join - the strings one after the other, sep between them */
char *sd_join(const struct sd_list *l, const char *sep)
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
