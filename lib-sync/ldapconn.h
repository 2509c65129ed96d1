#ifndef MAILGRANTS_LDAPCONN_H
#define MAILGRANTS_LDAPCONN_H

/*
 * NAME
 *	ldapconn - connect and bind to the directory
 * SYNOPSIS
 *	#include "ldapconn.h"
 *
 *	int ldapconn_open(const struct config *cfg, const char *bind_dn,
 *			  const char *password, LDAP **ld_r,
 *			  const char **error_r);
 *	int ldapconn_open_user(const struct config *cfg,
 *			       const char *bind_dn, const char *password,
 *			       LDAP **ld_r, const char **error_r);
 *	const char *ldapconn_error_text(LDAP *ld, int rc);
 *	int ldapconn_password_read(const char *path, char **password_r,
 *				   const char **error_r);
 *	void ldapconn_password_free(char **passwordp);
 * DESCRIPTION
 *	ldapconn_open() connects to cfg->ldap_uri (ldap://, ldaps://,
 *	ldapi://) with LDAPv3, no referrals, the configured timeouts and,
 *	for ldaps:// or cfg->ldap_starttls, TLS that demands a certificate
 *	issued by cfg->ldap_tls_ca_file (or a system CA); runs STARTTLS
 *	where configured; and binds. With bind_dn NULL it binds as
 *	configured: SASL EXTERNAL when cfg->ldap_sasl_mech is "EXTERNAL",
 *	a simple bind as cfg->ldap_bind_dn when that is set, else
 *	anonymously. With bind_dn set it binds simply as bind_dn. The
 *	password of a simple bind is password, or when that is NULL the
 *	first line of cfg->ldap_bind_password_file, read now. The caller
 *	ends the session with ldap_unbind_ext_s().
 *
 *	ldapconn_open_user() is ldapconn_open() with bind_dn set, for a
 *	user's own credentials: it tells a definite refusal of them
 *	(invalid credentials, inappropriate authentication, bind denied
 *	by the access rules, unwilling to perform: a wrong, changed or
 *	locked password) apart from a directory that cannot be used.
 *
 *	ldapconn_error_text() is the text of result code rc, with the
 *	server's diagnostic message of the session in parentheses when
 *	there is one (made printable).
 *
 *	ldapconn_password_read() reads the first line of a file (at most
 *	LDAPCONN_PASSWORD_MAX bytes, "\n" or "\r\n" stripped); an empty
 *	password is an error. ldapconn_password_free() wipes and frees
 *	it, and sets the pointer to NULL.
 * DIAGNOSTICS
 *	ldapconn_open() and ldapconn_password_read() return 0 on success
 *	and -1 with one line in error_r (error_printf() storage) on
 *	error; ldapconn_open_user() returns 1 (and error_r) when the
 *	directory refused the credentials. A password is never put into
 *	a message.
 *	ldapconn_error_text() returns error_printf() storage or a
 *	constant.
 * SEE ALSO
 *	ldapdir.h, ldapshare.h, ldapwatch.h, config.h, error.h
 */

#include <ldap.h>

#include "config.h"

#define LDAPCONN_PASSWORD_MAX 1024	/* bytes */

int ldapconn_open(const struct config *cfg, const char *bind_dn,
		  const char *password, LDAP **ld_r, const char **error_r);
int ldapconn_open_user(const struct config *cfg, const char *bind_dn,
		       const char *password, LDAP **ld_r,
		       const char **error_r);
const char *ldapconn_error_text(LDAP *ld, int rc);
int ldapconn_password_read(const char *path, char **password_r,
			   const char **error_r);
void ldapconn_password_free(char **passwordp);

#endif
