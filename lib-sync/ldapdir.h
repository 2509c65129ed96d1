#ifndef MAILGRANTS_LDAPDIR_H
#define MAILGRANTS_LDAPDIR_H

/*
 * NAME
 *	ldapdir - read the directory from LDAP into the replica writer
 * SYNOPSIS
 *	#include "ldapdir.h"
 *
 *	int ldapdir_read(const struct config *cfg,
 *			 struct replica_writer *w,
 *			 replica_warn_fn *warn, void *warn_context,
 *			 struct ldapdir_stats *stats_r,
 *			 const char **error_r);
 *	int ldapdir_read_with_password(const struct config *cfg,
 *			 const char *password,
 *			 struct replica_writer *w,
 *			 replica_warn_fn *warn, void *warn_context,
 *			 struct ldapdir_stats *stats_r,
 *			 const char **error_r);
 *	int ldapdir_read_password_file(const char *path, char **password_r,
 *				       const char **error_r);
 *	void ldapdir_password_free(char **passwordp);
 *	int ldapdir_ping(const struct config *cfg, const char **error_r);
 *	int ldapdir_parse_generalized_time(const char *s, time_t *t_r);
 *	int ldapdir_dn_normalize(const char *dn, char *out, size_t outsize,
 *				 const char **error_r);
 * DESCRIPTION
 *	ldapdir_read() connects to cfg->ldap_uri (ldap://, ldaps://,
 *	ldapi://), optionally runs STARTTLS, binds (simple bind with
 *	cfg->ldap_bind_dn and the password in
 *	cfg->ldap_bind_password_file; SASL EXTERNAL when
 *	cfg->ldap_sasl_mech is "EXTERNAL"; anonymous when both are empty)
 *	and reads companies, groups, users, mailboxes and shares, in that
 *	order, each with one paged (RFC 2696) subtree search below
 *	cfg->ldap_base using the configured filter and attribute names.
 *	Every entry is staged into w as it arrives, so memory does not
 *	grow with the size of the directory.
 *
 *	ldapdir_read_with_password() is the same with the bind password
 *	already read (by ldapdir_read_password_file(), before privileges
 *	were dropped); NULL means "read cfg->ldap_bind_password_file now".
 *	The password is never logged or put into an error text.
 *
 *	ldapdir_ping() connects and binds exactly as ldapdir_read() does
 *	(reading the password file itself) and reads nothing: "is the
 *	directory reachable with this configuration".
 *
 *	An entry that cannot be used (a user without login, a mailbox
 *	of unknown kind, a share with an unparseable time, a value over
 *	its length limit, ...) is skipped: warn() gets its DN and the
 *	reason, and the rest is read. The stats count entries received,
 *	result pages and skipped entries (skipped here or by the writer).
 *
 *	ldapdir_read_password_file() reads the first line of a file (at
 *	most LDAPDIR_PASSWORD_MAX bytes, "\n" or "\r\n" stripped); an
 *	empty password is an error. ldapdir_password_free() wipes and
 *	frees it.
 *
 *	ldapdir_parse_generalized_time() parses an LDAP GeneralizedTime
 *	(RFC 4517: YYYYMMDDHH[MM[SS]][(.|,)fraction](Z|+hh[mm]|-hh[mm]))
 *	into seconds since the epoch, UTC; fractions are truncated to
 *	whole seconds.
 *
 *	ldapdir_dn_normalize() turns a DN into the one form the replica
 *	compares: ldap_dn_normalize() to the LDAPv3 string form (blanks
 *	around separators removed, special and non-ASCII characters hex
 *	escaped), then ASCII lower case.
 * DIAGNOSTICS
 *	ldapdir_read() returns 0 when the whole directory was read (some
 *	entries may have been skipped with a warning), -1 when it could
 *	not be read: the caller aborts the writer, so the previous replica
 *	stays. The other functions return 0 on success and -1 on error.
 *	Error texts are one line, static storage of this module, valid
 *	until the next call.
 * SEE ALSO
 *	replica.h, config.h, ldap-schema/README.md
 */

#include <stddef.h>
#include <time.h>

#include <ldap.h>

#include "config.h"
#include "replica.h"

#define LDAPDIR_PASSWORD_MAX 1024	/* bytes */

struct ldapdir_stats {
	unsigned long entries, pages, skipped;
};

int ldapdir_read(const struct config *cfg, struct replica_writer *w,
		 replica_warn_fn *warn, void *warn_context,
		 struct ldapdir_stats *stats_r, const char **error_r);
int ldapdir_read_with_password(const struct config *cfg,
			       const char *password,
			       struct replica_writer *w,
			       replica_warn_fn *warn, void *warn_context,
			       struct ldapdir_stats *stats_r,
			       const char **error_r);
int ldapdir_read_password_file(const char *path, char **password_r,
			       const char **error_r);
void ldapdir_password_free(char **passwordp);
int ldapdir_ping(const struct config *cfg, const char **error_r);
/* ldapdir_open - connect and bind (bind_dn NULL: the configured identity
   and password file, or SASL; else a simple bind as bind_dn with
   password); the caller unbinds with ldap_unbind_ext_s() */
int ldapdir_open(const struct config *cfg, const char *bind_dn,
		 const char *password, LDAP **ld_r, const char **error_r);
/* ldapdir_error_text - "result (server's diagnostic)", static storage */
const char *ldapdir_error_text(LDAP *ld, int rc);
int ldapdir_parse_generalized_time(const char *s, time_t *t_r);
int ldapdir_dn_normalize(const char *dn, char *out, size_t outsize,
			 const char **error_r);

#endif
