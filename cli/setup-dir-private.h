#ifndef MAILGRANTS_SETUP_DIR_PRIVATE_H
#define MAILGRANTS_SETUP_DIR_PRIVATE_H

/*
 * NAME
 *	setup-dir-private - the parts of mailgrants setup-directory
 * SYNOPSIS
 *	#include "setup-dir-private.h"
 *
 *	void sd_push(struct sd_list *l, const char *s);
 *	void sd_list_free(struct sd_list *l);
 *	char *sd_join(const struct sd_list *l, const char *sep);
 *
 *	int sd_load_schema_dir(struct sd_state *st, const char *dir,
 *			       const char **error_r);
 *	int sd_connect(struct sd_state *st, const struct sd_options *o);
 *	int sd_find_database(struct sd_state *st, const char *suffix);
 *	int sd_check_schema(struct sd_state *st);
 *	int sd_check_syncprov(struct sd_state *st);
 *	int sd_exists(struct sd_state *st, const char *dn,
 *		      struct sd_list *members);
 *	bool sd_dn_same(const char *a, const char *b);
 *
 *	bool sd_quotable(const char *dn);
 *	void sd_plan_indexes(struct sd_state *st);
 *	void sd_plan_limits(struct sd_state *st, const char *sync_dn);
 *	int sd_plan_access(struct sd_state *st, const struct sd_options *o);
 *	int sd_plan_tree(struct sd_state *st, const struct sd_options *o);
 *	int sd_plan_password(struct sd_state *st,
 *			     const struct sd_options *o);
 *	bool sd_planned(const struct sd_state *st, const char *dn);
 *	bool sd_nothing(const struct sd_state *st);
 *	void sd_entry_attrs(const struct sd_state *st,
 *			    const struct sd_options *o,
 *			    const struct sd_entry *en,
 *			    struct sd_list *names, struct sd_list *values);
 *
 *	void sd_print_ldif(const struct sd_state *st,
 *			   const struct sd_options *o);
 *	void sd_print_diff(const struct sd_state *st,
 *			   const struct sd_options *o);
 *	int sd_apply_config(struct sd_state *st);
 *	int sd_apply_tree(struct sd_state *st, const struct sd_options *o);
 * DESCRIPTION
 *	Not an interface for the other commands: cmd_setup_directory()
 *	(setup-dir.c) reads the state (setup-dir-read.c), plans what is
 *	missing into the same struct sd_state (setup-dir-plan.c), then
 *	prints, diffs or applies the plan (setup-dir-out.c).
 *
 *	sd_push() appends a copy of a string, keeping the list
 *	NULL-terminated (LDAPMod values take it as it is); sd_join()
 *	returns a new string.
 *
 *	The readers fill the first part of struct sd_state and the
 *	schema directory's part; the planners fill the plan.
 *	sd_entry_attrs() gives the attributes of a planned entry, one
 *	name and one value per position, for the LDIF and for the add.
 * DIAGNOSTICS
 *	The functions that return an int return the command's exit
 *	status (EXIT_ANSWERED when it may go on) and have said why on
 *	stderr (sd_fail()); sd_exists() returns 1 yes, 0 no, -1 error
 *	(said). sd_load_schema_dir() returns -1 with error_r set.
 * SEE ALSO
 *	setup-dir.h, aclmerge.h, cli.h
 */

#include <stdbool.h>
#include <stddef.h>

#include <ldap.h>

#include "aclmerge.h"
#include "cli.h"
#include "config.h"

#define SD_CMD "setup-directory"

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

void sd_push(struct sd_list *l, const char *s);
void sd_list_free(struct sd_list *l);
char *sd_join(const struct sd_list *l, const char *sep);

int sd_load_schema_dir(struct sd_state *st, const char *dir,
		       const char **error_r);
int sd_connect(struct sd_state *st, const struct sd_options *o);
int sd_find_database(struct sd_state *st, const char *suffix);
int sd_check_schema(struct sd_state *st);
int sd_check_syncprov(struct sd_state *st);
int sd_exists(struct sd_state *st, const char *dn, struct sd_list *members);
bool sd_dn_same(const char *a, const char *b);

bool sd_quotable(const char *dn);
void sd_plan_indexes(struct sd_state *st);
void sd_plan_limits(struct sd_state *st, const char *sync_dn);
int sd_plan_access(struct sd_state *st, const struct sd_options *o);
int sd_plan_tree(struct sd_state *st, const struct sd_options *o);
int sd_plan_password(struct sd_state *st, const struct sd_options *o);
bool sd_planned(const struct sd_state *st, const char *dn);
bool sd_nothing(const struct sd_state *st);
void sd_entry_attrs(const struct sd_state *st, const struct sd_options *o,
		    const struct sd_entry *en, struct sd_list *names,
		    struct sd_list *values);

void sd_print_ldif(const struct sd_state *st, const struct sd_options *o);
void sd_print_diff(const struct sd_state *st, const struct sd_options *o);
int sd_apply_config(struct sd_state *st);
int sd_apply_tree(struct sd_state *st, const struct sd_options *o);

#endif
