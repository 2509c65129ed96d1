#ifndef MAILGRANTS_CONFIG_H
#define MAILGRANTS_CONFIG_H

/*
 * NAME
 *	config - mailgrants.conf, one file for the CLI and the daemons
 * SYNOPSIS
 *	#include "config.h"
 *
 *	struct config *config_defaults(void);
 *	int config_read(const char *path, struct config **cfg_r,
 *			const char **error_r);
 *	int config_parse(const char *text, const char *name,
 *			 struct config *cfg, const char **error_r);
 *	void config_free(struct config **cfgp);
 * DESCRIPTION
 *	The file is "key = value" lines; "#" starts a comment line; blank
 *	lines are ignored. Every key is known: an unknown key, a line
 *	without "=", or a value of the wrong type is an error that names
 *	the file, the line number and the key. Values are bounded
 *	(CONFIG_VALUE_MAX bytes). The error string is static storage
 *	of the config module, valid until the next call.
 */

#include <stdbool.h>

#include "audit.h"

#define CONFIG_DEFAULT_PATH "/etc/mailgrants/mailgrants.conf"
#define CONFIG_VALUE_MAX 1024
#define CONFIG_LINE_MAX 4096

enum config_policy_action {
	CONFIG_POLICY_DUNNO,
	CONFIG_POLICY_REJECT,
};

struct config {
	/* The replica and address handling. */
	char *replica;
	char *replica_group;		/* readers' group, "" = the sync's */
	char *recipient_delimiter;	/* set of delimiter chars, "" = none */
	unsigned int replica_max_age;	/* seconds, 0 = off; default 600 */
	bool replica_index;		/* the policy daemon's copy in memory */

	/* The directory. */
	char *ldap_uri;
	char *ldap_bind_dn;
	char *ldap_bind_password_file;
	char *ldap_sasl_mech;		/* "" = simple bind, "EXTERNAL" */
	char *ldap_base;
	bool ldap_starttls;
	char *ldap_tls_ca_file;
	unsigned int ldap_network_timeout;	/* seconds */
	unsigned int ldap_search_timeout;	/* seconds */
	unsigned int ldap_page_size;
	unsigned int poll_interval;	/* seconds, sync --follow w/o syncprov */

	/* Which entries are what. */
	char *ldap_company_filter;
	char *ldap_user_filter;
	char *ldap_mailbox_filter;
	char *ldap_share_filter;
	char *ldap_group_filter;

	/* Which attributes hold what (space-separated lists where plural). */
	char *ldap_company_domain_attribute;
	char *ldap_company_group_attribute;
	char *ldap_user_login_attribute;
	char *ldap_user_address_attributes;
	char *ldap_mailbox_kind_attribute;
	char *ldap_mailbox_address_attributes;
	char *ldap_mailbox_owner_attribute;
	char *ldap_mailbox_group_attribute;
	char *ldap_mailbox_rights_attribute;
	char *ldap_mailbox_sent_copies_attribute;
	char *ldap_share_grantee_attribute;
	char *ldap_share_rights_attribute;
	char *ldap_share_not_before_attribute;
	char *ldap_share_not_after_attribute;
	char *ldap_share_on_behalf_attribute;
	char *ldap_group_member_attributes;

	/* Default IMAP rights (RFC 4314 letters). */
	char *owner_rights;
	char *company_rights;
	char *share_rights;

	/* Shares whose grantee is of another company than the mailbox. */
	bool cross_company_shares;	/* no: they grant nothing */

	/* Mail sent as a mailbox entry that does not say: also into its
	   Sent folder? (README "Sent copies") */
	bool sent_copies;

	/* Policy decisions that DESIGN §6 calls configurable. */
	enum config_policy_action policy_null_sender;
	enum config_policy_action policy_foreign_sender;
	enum config_policy_action policy_unauthenticated_local;

	/* The audit lines (audit.h). */
	enum audit_format log_format;	/* text (default) or json */
	char *audit_log;		/* share/unshare: file, "" = syslog */
};

struct config *config_defaults(void);
int config_read(const char *path, struct config **cfg_r, const char **error_r);
int config_parse(const char *text, const char *name, struct config *cfg,
		 const char **error_r);
void config_free(struct config **cfgp);
const char *config_key_name(unsigned int i);

#endif
