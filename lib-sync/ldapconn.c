/*
 * NAME
 *	ldapconn - one LDAP session, connected and bound
 * DESCRIPTION
 *	Every option is set and checked one by one, the connection is made
 *	before the bind (so "cannot connect" is told apart from a refused
 *	bind), and STARTTLS and TLS failures get a hint, since libldap's
 *	own text for them ("Can't contact LDAP server") names nothing.
 *	The bind password is read here, when the caller has not, and
 *	wiped after the bind; it never reaches an error text.
 * SEE ALSO
 *	ldapconn.h, ldapdir.c, ldapshare.c, ldapwatch.c
 */

#include "ldapconn.h"
#include "error.h"
#include "text.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>

#define LDAPCONN_PRINT_MAX	256	/* a server's message quoted */

/* What a failed TLS handshake usually means; libldap does not say. */
#define LDAPCONN_TLS_HINT " (is the server certificate issued by " \
	"ldap_tls_ca_file or a system CA, for the host name in ldap_uri?)"

/* The session being set up. */
struct ldapconn {
	const struct config *cfg;
	LDAP *ld;
	int bind_rc;		/* the bind's result, LDAP_SUCCESS before */
};

/* ldapconn_ld_error - the session's last result code and message */
static const char *ldapconn_ld_error(LDAP *ld, int rc)
{
	char shown[LDAPCONN_PRINT_MAX];
	const char *text;
	char *diag = NULL;

	if (ld != NULL &&
	    ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag) ==
		    LDAP_OPT_SUCCESS &&
	    diag != NULL && *diag != '\0' &&
	    strcmp(diag, "(unknown error code)") != 0) {
		text_printable(shown, sizeof(shown),
			       diag, strlen(diag), TEXT_MARK);
		text = error_printf("%s (%s)", ldap_err2string(rc), shown);
	} else {
		text = ldap_err2string(rc);
	}
	ldap_memfree(diag);
	return text;
}

/* ldapconn_option - set one option; every failure is fatal */
static int ldapconn_option(struct ldapconn *ctx, int option,
			  const void *value, const char *name,
			  const char **error_r)
{
	int rc = ldap_set_option(ctx->ld, option, value);

	if (rc != LDAP_OPT_SUCCESS) {
		*error_r = error_printf("%s: cannot set %s: %s",
					ctx->cfg->ldap_uri, name,
					ldap_err2string(rc));
		return -1;
	}
	return 0;
}

/* ldapconn_sasl_interact - EXTERNAL asks for nothing we need to give:
   the authorisation identity stays the authenticated one */
static int ldapconn_sasl_interact(LDAP *ld, unsigned flags, void *defaults,
				 void *interact)
{
	(void)ld;
	(void)flags;
	(void)defaults;
	(void)interact;
	return LDAP_SUCCESS;
}

/* ldapconn_options - initialise the handle, set every option
   (each checked), and the TLS ones when the connection uses TLS */
static int ldapconn_options(struct ldapconn *ctx, bool tls,
				   const char **error_r)
{
	const struct config *cfg = ctx->cfg;
	int version = LDAP_VERSION3, rc, ival;
	struct timeval tv;

	rc = ldap_initialize(&ctx->ld, cfg->ldap_uri);
	if (rc != LDAP_SUCCESS) {
		*error_r = error_printf("%s: %s", cfg->ldap_uri,
					ldap_err2string(rc));
		return -1;
	}
	if (ldapconn_option(ctx, LDAP_OPT_PROTOCOL_VERSION, &version,
			   "LDAP_OPT_PROTOCOL_VERSION", error_r) < 0 ||
	    ldapconn_option(ctx, LDAP_OPT_REFERRALS, LDAP_OPT_OFF,
			   "LDAP_OPT_REFERRALS", error_r) < 0 ||
	    ldapconn_option(ctx, LDAP_OPT_RESTART, LDAP_OPT_ON,
			   "LDAP_OPT_RESTART", error_r) < 0)
		return -1;
	if (cfg->ldap_network_timeout > 0) {
		tv.tv_sec = (time_t)cfg->ldap_network_timeout;
		tv.tv_usec = 0;
		if (ldapconn_option(ctx, LDAP_OPT_NETWORK_TIMEOUT, &tv,
				   "LDAP_OPT_NETWORK_TIMEOUT", error_r) < 0 ||
		    ldapconn_option(ctx, LDAP_OPT_TIMEOUT, &tv,
				   "LDAP_OPT_TIMEOUT", error_r) < 0)
			return -1;
	}
	if (cfg->ldap_search_timeout > 0) {
		ival = (int)cfg->ldap_search_timeout;
		if (ldapconn_option(ctx, LDAP_OPT_TIMELIMIT, &ival,
				   "LDAP_OPT_TIMELIMIT", error_r) < 0)
			return -1;
	}
	if (tls) {
		ival = LDAP_OPT_X_TLS_DEMAND;
		/* libldap's message for an unreadable CA file is "Can't
		   contact LDAP server"; say what is wrong instead. */
		if (!text_empty(cfg->ldap_tls_ca_file) &&
		    access(cfg->ldap_tls_ca_file, R_OK) < 0) {
			*error_r = error_printf(
				"ldap_tls_ca_file %s: %s",
				cfg->ldap_tls_ca_file, strerror(errno));
			return -1;
		}
		if (!text_empty(cfg->ldap_tls_ca_file) &&
		    ldapconn_option(ctx, LDAP_OPT_X_TLS_CACERTFILE,
				   cfg->ldap_tls_ca_file,
				   "LDAP_OPT_X_TLS_CACERTFILE", error_r) < 0)
			return -1;
		if (ldapconn_option(ctx, LDAP_OPT_X_TLS_REQUIRE_CERT, &ival,
				   "LDAP_OPT_X_TLS_REQUIRE_CERT",
				   error_r) < 0)
			return -1;
		/* The options above only apply to a new TLS context. */
		ival = 0;
		if (ldapconn_option(ctx, LDAP_OPT_X_TLS_NEWCTX, &ival,
				   "LDAP_OPT_X_TLS_NEWCTX (is ldap_tls_ca_file "
				   "a PEM certificate?)", error_r) < 0)
			return -1;
	}
	return 0;
}

/* ldapconn_start - connect, and STARTTLS where configured */
static int ldapconn_start(struct ldapconn *ctx, bool tls,
				 const char **error_r)
{
	const struct config *cfg = ctx->cfg;
	int rc;

	/* Connect now, so "cannot connect" is told apart from a bind
	   that fails. */
	rc = ldap_connect(ctx->ld);
	if (rc != LDAP_SUCCESS) {
		*error_r = error_printf("%s: cannot connect: %s%s",
					cfg->ldap_uri,
					ldapconn_ld_error(ctx->ld, rc),
					tls ? LDAPCONN_TLS_HINT : "");
		return -1;
	}
	if (cfg->ldap_starttls) {
		rc = ldap_start_tls_s(ctx->ld, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			*error_r = error_printf(
				"%s: STARTTLS: %s%s", cfg->ldap_uri,
				ldapconn_ld_error(ctx->ld, rc),
				rc == LDAP_CONNECT_ERROR ? LDAPCONN_TLS_HINT
							 : "");
			return -1;
		}
	}
	return 0;
}

/* ldapconn_bind - bind as bind_dn, or as configured (SASL EXTERNAL, the
   configured DN, or anonymous) when it is NULL */
static int ldapconn_bind(struct ldapconn *ctx, const char *bind_dn,
			const char *password, const char **error_r)
{
	const struct config *cfg = ctx->cfg;
	int rc;

	if (bind_dn == NULL && !text_empty(cfg->ldap_sasl_mech)) {
		if (strcasecmp(cfg->ldap_sasl_mech, "EXTERNAL") != 0) {
			*error_r = error_printf(
				"ldap_sasl_mech: unsupported mechanism %s "
				"(only EXTERNAL)", cfg->ldap_sasl_mech);
			return -1;
		}
		rc = ldap_sasl_interactive_bind_s(ctx->ld, NULL, "EXTERNAL",
						  NULL, NULL, LDAP_SASL_QUIET,
						  ldapconn_sasl_interact, NULL);
		if (rc != LDAP_SUCCESS) {
			*error_r = error_printf(
				"SASL EXTERNAL bind to %s: %s", cfg->ldap_uri,
				ldapconn_ld_error(ctx->ld, rc));
			return -1;
		}
		return 0;
	}
	if (bind_dn == NULL)
		bind_dn = cfg->ldap_bind_dn;
	if (text_empty(bind_dn)) {
		/* Anonymous: LDAPv3 needs no bind at all. */
		return 0;
	} else {
		struct berval cred;
		char *own = NULL;

		if (password == NULL) {
			if (text_empty(cfg->ldap_bind_password_file)) {
				*error_r = error_printf(
					"bind as %s: ldap_bind_password_file "
					"is not set", bind_dn);
				return -1;
			}
			if (ldapconn_password_read(
				    cfg->ldap_bind_password_file, &own,
				    error_r) < 0)
				return -1;
			password = own;
		}
		cred.bv_val = (char *)password;
		cred.bv_len = strlen(password);
		rc = ldap_sasl_bind_s(ctx->ld, bind_dn,
				      LDAP_SASL_SIMPLE, &cred, NULL, NULL,
				      NULL);
		ldapconn_password_free(&own);
		ctx->bind_rc = rc;
		if (rc != LDAP_SUCCESS) {
			*error_r = error_printf(
				"bind as %s: %s", bind_dn,
				ldapconn_ld_error(ctx->ld, rc));
			return -1;
		}
	}
	return 0;
}

/* ldapconn_password_read - first line of a file, bounded */
int ldapconn_password_read(const char *path, char **password_r,
			       const char **error_r)
{
	char buf[LDAPCONN_PASSWORD_MAX + 3];
	size_t len = 0, line;
	char *nl = NULL;
	ssize_t n;
	int fd;

	if (text_empty(path)) {
		*error_r = "no password file given";
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		*error_r = error_printf("%s: %s", path, strerror(errno));
		return -1;
	}
	/* Read until the first line is complete or over the limit. */
	while (len < sizeof(buf) - 1) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = error_printf("%s: read: %s", path,
						strerror(errno));
			(void)close(fd);
			explicit_bzero(buf, sizeof(buf));
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if ((nl = memchr(buf, '\n', len)) != NULL)
			break;
	}
	(void)close(fd);
	if (nl == NULL)
		nl = memchr(buf, '\n', len);
	line = nl != NULL ? (size_t)(nl - buf) : len;
	if (line > 0 && buf[line - 1] == '\r')
		line--;
	if (line > LDAPCONN_PASSWORD_MAX) {
		explicit_bzero(buf, sizeof(buf));
		*error_r = error_printf("%s: password longer than %d bytes",
					path, LDAPCONN_PASSWORD_MAX);
		return -1;
	}
	if (line == 0) {
		explicit_bzero(buf, sizeof(buf));
		*error_r = error_printf("%s: empty password", path);
		return -1;
	}
	if (memchr(buf, '\0', line) != NULL) {
		explicit_bzero(buf, sizeof(buf));
		*error_r = error_printf("%s: password contains a NUL byte",
					path);
		return -1;
	}
	*password_r = xstrndup(buf, line);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

/* ldapconn_password_free - wipe and free a password */
void ldapconn_password_free(char **passwordp)
{
	char *password = *passwordp;

	if (password == NULL)
		return;
	*passwordp = NULL;
	explicit_bzero(password, strlen(password));
	free(password);
}

/* ldapconn_connect - connect and bind; the bind's result code in
   *bind_rc_r */
static int ldapconn_connect(const struct config *cfg, const char *bind_dn,
			    const char *password, LDAP **ld_r, int *bind_rc_r,
			    const char **error_r)
{
	struct ldapconn conn = { cfg, NULL, LDAP_SUCCESS };
	bool tls = cfg->ldap_starttls ||
		   strncasecmp(cfg->ldap_uri, "ldaps:", 6) == 0;
	int ret = 0;

	if (ldapconn_options(&conn, tls, error_r) < 0 ||
	    ldapconn_start(&conn, tls, error_r) < 0 ||
	    ldapconn_bind(&conn, bind_dn, password, error_r) < 0) {
		if (conn.ld != NULL)
			(void)ldap_unbind_ext_s(conn.ld, NULL, NULL);
		ret = -1;
	} else {
		*ld_r = conn.ld;
	}
	*bind_rc_r = conn.bind_rc;
	return ret;
}

/* ldapconn_open - a connected, bound session */
int ldapconn_open(const struct config *cfg, const char *bind_dn,
		  const char *password, LDAP **ld_r, const char **error_r)
{
	int bind_rc;

	return ldapconn_connect(cfg, bind_dn, password, ld_r, &bind_rc,
				error_r);
}

/* ldapconn_open_user - ldapconn_open() for a user's own bind: 1 when
   the directory refused the credentials themselves */
int ldapconn_open_user(const struct config *cfg, const char *bind_dn,
		       const char *password, LDAP **ld_r,
		       const char **error_r)
{
	int bind_rc;

	if (ldapconn_connect(cfg, bind_dn, password, ld_r, &bind_rc,
			     error_r) == 0)
		return 0;
	switch (bind_rc) {
	case LDAP_INVALID_CREDENTIALS:
	case LDAP_INAPPROPRIATE_AUTH:
	case LDAP_INSUFFICIENT_ACCESS:
	case LDAP_UNWILLING_TO_PERFORM:
		/* a definite answer about these credentials, not an
		   outage: asking again will not change it */
		return 1;
	default:
		return -1;
	}
}

/* ldapconn_error_text - an LDAP result code with the server's message */
const char *ldapconn_error_text(LDAP *ld, int rc)
{
	return ldapconn_ld_error(ld, rc);
}
