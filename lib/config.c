/*
 * NAME
 *	config - mailgrants.conf, one file for the CLI and the daemons
 * DESCRIPTION
 *	See config.h. The keys are one static table (name, type, offset,
 *	default), so the parser, the defaults and the man page's list
 *	cannot drift apart silently: tests/unit/test-config.c checks that
 *	every key of the table is documented in doc/mailgrants.conf.5.
 */

#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "error.h"
#include "replica-handle.h"
#include "xalloc.h"

enum config_type {
	CONFIG_STRING,
	CONFIG_BOOL,
	CONFIG_UINT,
	CONFIG_ACTION,
	CONFIG_LOG_FORMAT,
};

struct config_key {
	const char *name;
	enum config_type type;
	size_t offset;
	const char *def;
};

#define CONFIG_STR_(x) #x
#define CONFIG_STR(x) CONFIG_STR_(x)
#define S(name, def) { #name, CONFIG_STRING, offsetof(struct config, name), def }
#define B(name, def) { #name, CONFIG_BOOL, offsetof(struct config, name), def }
#define U(name, def) { #name, CONFIG_UINT, offsetof(struct config, name), def }
#define A(name, def) { #name, CONFIG_ACTION, offsetof(struct config, name), def }
#define F(name, def) { #name, CONFIG_LOG_FORMAT, offsetof(struct config, name), def }

static const struct config_key config_keys[] = {
	S(replica, "/var/lib/mailgrants/grants.db"),
	S(replica_group, ""),
	S(recipient_delimiter, "+"),
	U(replica_max_age, CONFIG_STR(REPLICA_HANDLE_MAX_AGE_DEFAULT)),
	B(replica_index, "yes"),
	S(ldap_uri, "ldap://127.0.0.1/"),
	S(ldap_bind_dn, ""),
	S(ldap_bind_password_file, ""),
	S(ldap_sasl_mech, ""),
	S(ldap_base, ""),
	B(ldap_starttls, "no"),
	S(ldap_tls_ca_file, ""),
	U(ldap_network_timeout, "10"),
	U(ldap_search_timeout, "60"),
	U(ldap_page_size, "1000"),
	U(poll_interval, "60"),
	S(ldap_company_filter, "(objectClass=mailgrantsCompany)"),
	S(ldap_user_filter, "(objectClass=mailgrantsUser)"),
	S(ldap_mailbox_filter, "(objectClass=mailgrantsMailbox)"),
	S(ldap_share_filter, "(objectClass=mailgrantsShare)"),
	S(ldap_group_filter,
	  "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"),
	S(ldap_company_domain_attribute, "mailgrantsDomain"),
	S(ldap_company_group_attribute, "mailgrantsGroup"),
	S(ldap_user_login_attribute, "mail"),
	S(ldap_user_address_attributes, "mail mailgrantsAddress"),
	S(ldap_mailbox_kind_attribute, "mailgrantsKind"),
	S(ldap_mailbox_address_attributes, "mail mailgrantsAddress"),
	S(ldap_mailbox_owner_attribute, "mailgrantsOwner"),
	S(ldap_mailbox_group_attribute, "mailgrantsGroup"),
	S(ldap_mailbox_rights_attribute, "mailgrantsRights"),
	S(ldap_mailbox_sent_copies_attribute, "mailgrantsSentCopies"),
	S(ldap_share_grantee_attribute, "mailgrantsGrantee"),
	S(ldap_share_rights_attribute, "mailgrantsRights"),
	S(ldap_share_not_before_attribute, "mailgrantsNotBefore"),
	S(ldap_share_not_after_attribute, "mailgrantsNotAfter"),
	S(ldap_share_on_behalf_attribute, "mailgrantsSendOnBehalf"),
	S(ldap_group_member_attributes, "member uniqueMember"),
	S(owner_rights, "lrwstipekx"),
	S(company_rights, "lrwstipek"),
	S(share_rights, "lrwstiek"),
	B(cross_company_shares, "no"),
	B(sent_copies, "no"),
	A(policy_null_sender, "dunno"),
	A(policy_foreign_sender, "reject"),
	A(policy_unauthenticated_local, "reject"),
	F(log_format, "text"),
	S(audit_log, ""),
};

#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

/* config_find - the table entry of a key, or NULL */
static const struct config_key *config_find(const char *name)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

/* config_set - store one value, checked against the key's type */
static int config_set(struct config *cfg, const struct config_key *key,
		      const char *value, const char **why_r)
{
	char *field = (char *)cfg + key->offset;

	switch (key->type) {
	case CONFIG_STRING: {
		char **sp = (char **)(void *)field;

		free(*sp);
		*sp = xstrdup(value);
		return 0;
	}
	case CONFIG_BOOL: {
		bool *bp = (bool *)(void *)field;

		if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 ||
		    strcmp(value, "1") == 0)
			*bp = true;
		else if (strcmp(value, "no") == 0 ||
			 strcmp(value, "false") == 0 ||
			 strcmp(value, "0") == 0)
			*bp = false;
		else {
			*why_r = "expected yes or no";
			return -1;
		}
		return 0;
	}
	case CONFIG_UINT: {
		unsigned int *up = (unsigned int *)(void *)field;
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(value, &end, 10);
		if (value[0] == '\0' || value[0] == '-' || *end != '\0' ||
		    errno != 0 || v > 0x7fffffffUL) {
			*why_r = "expected a non-negative number";
			return -1;
		}
		*up = (unsigned int)v;
		return 0;
	}
	case CONFIG_ACTION: {
		enum config_policy_action *ap =
			(enum config_policy_action *)(void *)field;

		if (strcmp(value, "dunno") == 0)
			*ap = CONFIG_POLICY_DUNNO;
		else if (strcmp(value, "reject") == 0)
			*ap = CONFIG_POLICY_REJECT;
		else {
			*why_r = "expected dunno or reject";
			return -1;
		}
		return 0;
	}
	case CONFIG_LOG_FORMAT:
		if (audit_format_parse(value,
				       (enum audit_format *)(void *)field) < 0) {
			*why_r = "expected text or json";
			return -1;
		}
		return 0;
	}
	*why_r = "unknown key type";
	return -1;
}

/* config_defaults - a configuration with every key at its default */
struct config *config_defaults(void)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	const char *why;

	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		if (config_set(cfg, &config_keys[i], config_keys[i].def,
			       &why) < 0)
			abort();	/* a bad default is a build bug */
	}
	return cfg;
}

/* config_trim - strip blanks at both ends, in place */
static char *config_trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
			   end[-1] == '\r' || end[-1] == '\n'))
		end--;
	*end = '\0';
	return s;
}

/* config_parse - apply "key = value" lines from text to cfg */
int config_parse(const char *text, const char *name, struct config *cfg,
		 const char **error_r)
{
	char line[CONFIG_LINE_MAX + 2];
	const char *p = text;
	unsigned int lineno = 0;

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

		lineno++;
		if (len > CONFIG_LINE_MAX) {
			*error_r = error_printf(
				"%s, line %u: line longer than %d bytes",
				name, lineno, CONFIG_LINE_MAX);
			return -1;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		p = nl != NULL ? nl + 1 : p + len;
		if (memchr(line, '\0', len) != NULL && strlen(line) != len) {
			*error_r = error_printf(
				"%s, line %u: NUL byte", name, lineno);
			return -1;
		}

		char *s = config_trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (eq == NULL) {
			*error_r = error_printf(
				"%s, line %u: expected \"key = value\"",
				name, lineno);
			return -1;
		}
		*eq = '\0';
		char *key = config_trim(s);
		char *value = config_trim(eq + 1);
		const struct config_key *k = config_find(key);
		if (k == NULL) {
			*error_r = error_printf(
				"%s, line %u: unknown key \"%.64s\"", name,
				lineno, key);
			return -1;
		}
		if (strlen(value) > CONFIG_VALUE_MAX) {
			*error_r = error_printf(
				"%s, line %u: %s: value longer than %d bytes",
				name, lineno, key, CONFIG_VALUE_MAX);
			return -1;
		}
		const char *why;
		if (config_set(cfg, k, value, &why) < 0) {
			*error_r = error_printf(
				"%s, line %u: %s: %s", name, lineno, key,
				why);
			return -1;
		}
	}
	return 0;
}

/* config_read - the defaults, overridden by the file at path */
int config_read(const char *path, struct config **cfg_r, const char **error_r)
{
	FILE *fp = fopen(path, "r");
	char *text = NULL;
	size_t size = 0, len = 0;
	struct config *cfg;

	if (fp == NULL) {
		*error_r = error_printf(
			"%s: %s", path,
			strerror(errno));
		return -1;
	}
	for (;;) {
		if (len + 4096 + 1 > size) {
			size = size == 0 ? 8192 : size * 2;
			if (size > 1024 * 1024) {
				fclose(fp);
				free(text);
				*error_r = error_printf(
					"%s: file larger than 1 MiB", path);
				return -1;
			}
			text = xrealloc(text, size);
		}
		size_t n = fread(text + len, 1, 4096, fp);
		len += n;
		if (n < 4096)
			break;
	}
	if (ferror(fp)) {
		fclose(fp);
		free(text);
		*error_r = error_printf("%s: read error", path);
		return -1;
	}
	fclose(fp);
	text[len] = '\0';
	if (strlen(text) != len) {
		free(text);
		*error_r = error_printf("%s: NUL byte in file", path);
		return -1;
	}
	cfg = config_defaults();
	if (config_parse(text, path, cfg, error_r) < 0) {
		free(text);
		config_free(&cfg);
		return -1;
	}
	free(text);
	*cfg_r = cfg;
	return 0;
}

/* config_key_name - the name of key i, NULL past the end (tests, docs) */
const char *config_key_name(unsigned int i)
{
	return i < CONFIG_NKEYS ? config_keys[i].name : NULL;
}

/* config_free - release a configuration and NULL the pointer */
void config_free(struct config **cfgp)
{
	struct config *cfg = *cfgp;

	if (cfg == NULL)
		return;
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		if (config_keys[i].type == CONFIG_STRING)
			free(*(char **)(void *)((char *)cfg +
						config_keys[i].offset));
	}
	free(cfg);
	*cfgp = NULL;
}
