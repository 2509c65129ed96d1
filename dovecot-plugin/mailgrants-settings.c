/*
 * NAME
 *	mailgrants-settings - the plugin's settings for Dovecot 2.4
 * SYNOPSIS
 *	#include "mailgrants-plugin.h"
 *
 *	extern const struct setting_parser_info mailgrants_setting_parser_info;
 *
 *	libmailgrants_settings.so:
 *	const struct setting_parser_info *mailgrants_settings_set_infos[];
 *	const char *mailgrants_settings_version;
 * DESCRIPTION
 *	Dovecot 2.4 has no plugin { } section: every setting is a key the
 *	config process must know, or doveconf stops with "Unknown
 *	setting". It learns our keys from libmailgrants_settings.so in
 *	$moduledir/settings/ (this file alone, compiled again: the config
 *	process dlopen()s it with RTLD_NOW and has no storage or acl
 *	symbols), which exports mailgrants_settings_set_infos. The plugin
 *	compiles the same file in and reads the keys with settings_get().
 *
 *	Every key is a string, checked by the plugin as on 2.3
 *	(mailgrants-plugin.c): the same defaults, the same messages for a
 *	value that cannot be used. An empty string means the default.
 *
 *	On 2.3 (settings in plugin { }) this file compiles to nothing.
 * SEE ALSO
 *	DOVECOT24-NOTES.md §3, plugins/acl/acl-settings.c in Dovecot 2.4
 */

#include "lib.h"
#include "mailgrants-plugin.h"

#if DOVECOT_PREREQ(2, 4, 0)
#include "settings-parser.h"

#undef DEF
#define DEF(name) \
	SETTING_DEFINE_STRUCT_STR(#name, name, struct mailgrants_settings)

static const struct setting_define mailgrants_setting_defines[] = {
	DEF(mailgrants_replica),
	DEF(mailgrants_cache_secs),
	DEF(mailgrants_replica_max_age),
	DEF(mailgrants_company_prefix),
	DEF(mailgrants_shared_prefix),
	DEF(mailgrants_private_prefix),
	DEF(mailgrants_share_socket),
	DEF(mailgrants_share_password),
	SETTING_DEFINE_LIST_END
};

static const struct mailgrants_settings mailgrants_default_settings = {
	.mailgrants_replica = "",
	.mailgrants_cache_secs = "",
	.mailgrants_replica_max_age = "",
	.mailgrants_company_prefix = "",
	.mailgrants_shared_prefix = "",
	.mailgrants_private_prefix = "",
	.mailgrants_share_socket = "",
	.mailgrants_share_password = "",
};

const struct setting_parser_info mailgrants_setting_parser_info = {
	.name = "mailgrants",
	/* NULL: set, the config process would hide our keys unless the
	   plugin's .so sits in its $moduledir (a test's build tree). */
	.plugin_dependency = NULL,
	.defines = mailgrants_setting_defines,
	.defaults = &mailgrants_default_settings,
	.struct_size = sizeof(struct mailgrants_settings),
	.pool_offset1 = 1 + offsetof(struct mailgrants_settings, pool),
};

/* Read by the config process from libmailgrants_settings.so (the
   module's name is the file name without "lib" and ".so"). */
extern const struct setting_parser_info *mailgrants_settings_set_infos[];
const struct setting_parser_info *mailgrants_settings_set_infos[] = {
	&mailgrants_setting_parser_info,
	NULL
};
extern const char *mailgrants_settings_version;
const char *mailgrants_settings_version = DOVECOT_ABI_VERSION;

/* mailgrants_settings_value - one key's value ("" = not set) */
const char *mailgrants_settings_value(const struct mailgrants_settings *set,
				      const char *key)
{
	const struct setting_define *def;

	for (def = mailgrants_setting_defines; def->key != NULL; def++) {
		if (strcmp(def->key, key) == 0)
			return *(const char *const *)
				CONST_PTR_OFFSET(set, def->offset);
	}
	i_unreached();
}
#endif
