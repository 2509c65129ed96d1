/*
 * NAME
 *	ldapshare-find - look up what a share command names: mailboxes,
 *	users, groups, companies, a grantee's shares
 * SYNOPSIS
 *	#include "ldapshare-private.h"
 * DESCRIPTION
 *	The lookups of ldapshare.c (ldapshare-private.h). They go through
 *	the configured identity, which may read the whole directory; only
 *	ldapshare_shares() is asked of a session the caller chooses, so
 *	that "has this grantee a share here already" is the acting
 *	identity's view.
 *
 *	A filter is built from the configured object filter and the
 *	values from the command line, each escaped by
 *	ldap_bv2escaped_filter_value() (RFC 4515); nothing is matched by
 *	pattern. An address or login is tried as given, in ASCII lower
 *	case and in the normal form of addr_normalize(); at most
 *	LDAPSHARE_MATCH_MAX entries are asked for per filter, enough to
 *	tell one from several.
 * DIAGNOSTICS
 *	0 when found; 1 when nothing or several entries match (the
 *	message lists them), or the directory refused the search; -1
 *	when it is unavailable. error_r names what was looked up and the
 *	value, made printable. libldap's escaping fails only when out of
 *	memory: that aborts, as xalloc does.
 * SEE ALSO
 *	ldapshare-private.h, ldapshare.c, ldapconn.h, addr.h, RFC 4515
 *	(filters)
 */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldap.h>

#include "addr.h"
#include "config.h"
#include "error.h"
#include "ldapconn.h"
#include "ldapdir.h"
#include "ldapshare.h"
#include "ldapshare-private.h"
#include "replica.h"
#include "text.h"
#include "xalloc.h"

#define LDAPSHARE_DN_TEXT_MAX	1024	/* the DNs listed in a message */
#define LDAPSHARE_MATCH_MAX	10	/* entries one lookup asks for */
#define LDAPSHARE_FOUND_MAX	(2 * LDAPSHARE_MATCH_MAX)
#define LDAPSHARE_VARIANTS	3	/* forms of an address tried */

/* A growing string. */
struct ldapshare_buf {
	char *s;
	size_t len, size;
};

/*
 * Strings and filters.
 */

/* ldapshare_buf_add - append n bytes */
static void ldapshare_buf_add(struct ldapshare_buf *b, const char *s, size_t n)
{
	b->s = xgrow(b->s, &b->size, b->len + n + 1, 1, 256);
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* ldapshare_buf_str - append a string */
static void ldapshare_buf_str(struct ldapshare_buf *b, const char *s)
{
	ldapshare_buf_add(b, s, strlen(s));
}

/* ldapshare_buf_value - append a value, escaped for a filter (RFC 4515) */
static void ldapshare_buf_value(struct ldapshare_buf *b, const char *value)
{
	struct berval in, out = { 0, NULL };

	in.bv_val = (char *)value;
	in.bv_len = strlen(value);
	if (ldap_bv2escaped_filter_value(&in, &out) != 0) {
		/* Its only failure is out of memory, like xalloc's. */
		fputs("ldapshare: out of memory\n", stderr);
		abort();
	}
	ldapshare_buf_add(b, out.bv_val, out.bv_len);
	ber_memfree(out.bv_val);
}

/* ldapshare_buf_equal - append (attr=value), the value escaped */
static void ldapshare_buf_equal(struct ldapshare_buf *b, const char *attr,
				size_t attr_len, const char *value)
{
	ldapshare_buf_str(b, "(");
	ldapshare_buf_add(b, attr, attr_len);
	ldapshare_buf_str(b, "=");
	ldapshare_buf_value(b, value);
	ldapshare_buf_str(b, ")");
}

/* ldapshare_buf_any - append (|(a1=v1)(a1=v2)(a2=v1)...) for the
   space-separated attribute list attrs and the values */
static void ldapshare_buf_any(struct ldapshare_buf *b, const char *attrs,
			      char *const *values, size_t nvalues)
{
	const char *p = attrs;

	ldapshare_buf_str(b, "(|");
	while (*p != '\0') {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n == 0)
			break;
		for (size_t i = 0; i < nvalues; i++)
			ldapshare_buf_equal(b, p, n, values[i]);
		p += n;
	}
	ldapshare_buf_str(b, ")");
}

/* ldapshare_variants - the forms of an address or login tried: as
   given, ASCII lower case, and the normal form of addr_normalize() */
static size_t ldapshare_variants(const char *in,
				 char *out[LDAPSHARE_VARIANTS])
{
	char norm[ADDR_MAX + 1];
	const char *error;
	size_t n = 0;
	char *lower = xstrdup(in);

	for (char *p = lower; *p != '\0'; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	}
	out[n++] = xstrdup(in);
	if (strcmp(lower, in) != 0)
		out[n++] = lower;
	else
		free(lower);
	if (addr_normalize(in, "", ADDR_KEEP_EXTENSION | ADDR_ALLOW_BARE,
			   norm, sizeof(norm), &error) == 0) {
		bool seen = false;

		for (size_t i = 0; i < n; i++)
			seen = seen || strcmp(out[i], norm) == 0;
		if (!seen)
			out[n++] = xstrdup(norm);
	}
	return n;
}

/* ldapshare_variants_free - free what ldapshare_variants() made */
static void ldapshare_variants_free(char *v[LDAPSHARE_VARIANTS], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i]);
		v[i] = NULL;
	}
}

/*
 * LDAP operations.
 */

/* ldapshare_unavailable - a result code that means "the directory
   could not be used", not "the directory said no" */
bool ldapshare_unavailable(int rc)
{
	switch (rc) {
	case LDAP_SERVER_DOWN:
	case LDAP_CONNECT_ERROR:
	case LDAP_TIMEOUT:
	case LDAP_TIMELIMIT_EXCEEDED:
	case LDAP_UNAVAILABLE:
	case LDAP_BUSY:
	case LDAP_LOCAL_ERROR:
	case LDAP_NO_MEMORY:
	case LDAP_ENCODING_ERROR:
	case LDAP_DECODING_ERROR:
	case LDAP_OTHER:
		return true;
	default:
		return false;
	}
}

/* ldapshare_search - one synchronous search with the configured time
   limit; *res_r, when set, is the caller's to free, also on error */
static int ldapshare_search(struct ldapshare *ls, LDAP *ld, const char *base,
			    int scope, const char *filter, const char **attrs,
			    int sizelimit, LDAPMessage **res_r)
{
	struct timeval tv, *tvp = NULL;

	if (ls->cfg->ldap_search_timeout > 0) {
		tv.tv_sec = (time_t)ls->cfg->ldap_search_timeout;
		tv.tv_usec = 0;
		tvp = &tv;
	}
	*res_r = NULL;
	return ldap_search_ext_s(ld, base, scope, filter, (char **)attrs, 0,
				 NULL, NULL, tvp, sizelimit, res_r);
}

/* ldapshare_search_failed - the error of a failed lookup */
static int ldapshare_search_failed(LDAP *ld, int rc, const char *what,
				   const char *value, const char **error_r)
{
	char p[LDAPSHARE_PRINT_MAX];

	*error_r = error_printf("%s %s: %s", what,
				text_printable_str(p, sizeof(p), value,
						   TEXT_MARK),
				ldapconn_error_text(ld, rc));
	return ldapshare_unavailable(rc) ? -1 : 1;
}

/* ldapshare_dn_list_add - add a DN to a small list unless it is there */
static bool ldapshare_dn_list_add(char **list, size_t *n, size_t max,
				  const char *dn)
{
	char a[LDAPSHARE_DN_NORM_MAX], b[LDAPSHARE_DN_NORM_MAX];
	const char *error;
	bool have_a = ldapdir_dn_normalize(dn, a, sizeof(a), &error) == 0;

	for (size_t i = 0; i < *n; i++) {
		if (strcmp(list[i], dn) == 0)
			return false;
		if (have_a &&
		    ldapdir_dn_normalize(list[i], b, sizeof(b), &error) == 0 &&
		    strcmp(a, b) == 0)
			return false;
	}
	if (*n >= max)
		return false;
	list[(*n)++] = xstrdup(dn);
	return true;
}

/* ldapshare_dn_list_text - "DN1, DN2, ..." for a message */
static void ldapshare_dn_list_text(char *const *list, size_t n, char *buf,
				   size_t size)
{
	char p[LDAPSHARE_PRINT_MAX];
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && len < size; i++) {
		int w = snprintf(buf + len, size - len, "%s%s",
				 i > 0 ? ", " : "",
				 text_printable_str(p, sizeof(p),
						    list[i], TEXT_MARK));

		if (w < 0)
			break;
		len += (size_t)w;
	}
}

/* ldapshare_collect - the DNs of a lookup's entries; for a mailbox
   lookup also whether each is a company mailbox */
static void ldapshare_collect(LDAP *ld, LDAPMessage *res,
			      const char *kind_attr, char **list, bool *company,
			      size_t *n)
{
	for (LDAPMessage *e = ldap_first_entry(ld, res); e != NULL;
	     e = ldap_next_entry(ld, e)) {
		char *dn = ldap_get_dn(ld, e);

		if (dn == NULL)
			continue;
		if (ldapshare_dn_list_add(list, n, LDAPSHARE_FOUND_MAX, dn) &&
		    kind_attr != NULL) {
			struct berval **v = ldap_get_values_len(ld, e,
								kind_attr);

			company[*n - 1] = v != NULL && v[0] != NULL &&
					  v[0]->bv_len == 7 &&
					  strncasecmp(v[0]->bv_val, "company",
						      7) == 0;
			ldap_value_free_len(v);
		}
		ldap_memfree(dn);
	}
}

/* ldapshare_lookup - run one lookup filter below ldap_base, add the
   entries found to list */
static int ldapshare_lookup(struct ldapshare *ls, const char *filter,
			    const char *kind_attr, char **list, bool *company,
			    size_t *n, const char *what, const char *value,
			    const char **error_r)
{
	const char *attrs[2] = { kind_attr != NULL ? kind_attr : LDAP_NO_ATTRS,
				 NULL };
	LDAPMessage *res = NULL;
	int rc;

	rc = ldapshare_search(ls, ls->lookup, ls->cfg->ldap_base,
			      LDAP_SCOPE_SUBTREE, filter, attrs,
			      LDAPSHARE_MATCH_MAX, &res);
	if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED &&
	    rc != LDAP_NO_SUCH_OBJECT) {
		ldap_msgfree(res);
		return ldapshare_search_failed(ls->lookup, rc, what, value,
					       error_r);
	}
	if (res != NULL)
		ldapshare_collect(ls->lookup, res, kind_attr, list, company, n);
	ldap_msgfree(res);
	return 0;
}

/* ldapshare_list_free - free a DN list */
static void ldapshare_list_free(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(list[i]);
		list[i] = NULL;
	}
}

/* ldapshare_input_check - a command line value fit to look up */
int ldapshare_input_check(const char *value, const char *what,
			  const char **error_r)
{
	if (text_empty(value)) {
		*error_r = error_printf("no %s given", what);
		return 1;
	}
	if (strnlen(value, LDAPSHARE_INPUT_MAX + 1) > LDAPSHARE_INPUT_MAX) {
		*error_r = error_printf("%s longer than %d bytes", what,
					LDAPSHARE_INPUT_MAX);
		return 1;
	}
	return 0;
}

/* One lookup of a value: the object filter and (|(attr=value)...) for
   the attributes and the forms of the value. */
struct ldapshare_query {
	const char *filter;
	const char *attrs;		/* space-separated names */
	const char *kind_attr;		/* read the mailbox kind; or NULL */
	bool unless_found;		/* only if those before found none */
};

/* What is looked up, for messages. */
struct ldapshare_what {
	const char *input;		/* "no %s given" */
	const char *lookup;		/* "%s VALUE: result" */
	const char *none;		/* "%s VALUE": nothing matched */
};

/* ldapshare_find_one - the one entry the queries find for value: 0 with
   its DN (and whether it is a company mailbox), 1 when none or several
   match, -1 when the directory is unavailable */
static int ldapshare_find_one(struct ldapshare *ls, const char *value,
			      const struct ldapshare_query *q, size_t nq,
			      const struct ldapshare_what *what, char **dn_r,
			      bool *company_r, const char **error_r)
{
	char *values[LDAPSHARE_VARIANTS], *list[LDAPSHARE_FOUND_MAX];
	bool company[LDAPSHARE_FOUND_MAX] = { false };
	struct ldapshare_buf f = { NULL, 0, 0 };
	char p[LDAPSHARE_PRINT_MAX], dns[LDAPSHARE_DN_TEXT_MAX];
	size_t nvalues, n = 0;
	int ret = 0;

	*dn_r = NULL;
	*company_r = false;
	if ((ret = ldapshare_input_check(value, what->input, error_r)) != 0)
		return ret;
	nvalues = ldapshare_variants(value, values);
	for (size_t i = 0; i < nq && ret == 0; i++) {
		if (q[i].unless_found && n > 0)
			continue;
		f.len = 0;
		ldapshare_buf_str(&f, "(&");
		ldapshare_buf_str(&f, q[i].filter);
		ldapshare_buf_any(&f, q[i].attrs, values, nvalues);
		ldapshare_buf_str(&f, ")");
		ret = ldapshare_lookup(ls, f.s, q[i].kind_attr, list, company,
				       &n, what->lookup, value, error_r);
	}
	free(f.s);
	ldapshare_variants_free(values, nvalues);
	if (ret != 0) {
		ldapshare_list_free(list, n);
		return ret;
	}
	text_printable_str(p, sizeof(p), value, TEXT_MARK);
	if (n == 0) {
		*error_r = error_printf("%s %s", what->none, p);
		return 1;
	}
	if (n > 1) {
		ldapshare_dn_list_text(list, n, dns, sizeof(dns));
		*error_r = error_printf("%s is ambiguous: %s", p, dns);
		ldapshare_list_free(list, n);
		return 1;
	}
	*dn_r = list[0];
	*company_r = company[0];
	return 0;
}

/* ldapshare_find_mailbox - the one mailbox entry that has address */
int ldapshare_find_mailbox(struct ldapshare *ls, const char *address,
			   struct ldapshare_mailbox *mb,
			   const char **error_r)
{
	const struct config *cfg = ls->cfg;
	/* A user's primary mailbox is the user's entry; any other mailbox
	   has an entry of its own. An address of both is ambiguous. */
	const struct ldapshare_query q[] = {
		{ cfg->ldap_user_filter, cfg->ldap_user_address_attributes,
		  NULL, false },
		{ cfg->ldap_mailbox_filter,
		  cfg->ldap_mailbox_address_attributes,
		  cfg->ldap_mailbox_kind_attribute, false },
	};
	static const struct ldapshare_what what = {
		"mailbox address", "looking up the mailbox of",
		"no mailbox has the address"
	};

	return ldapshare_find_one(ls, address, q, 2, &what, &mb->dn,
				  &mb->company, error_r);
}

/* ldapshare_find_user - the one mail user with this login or address */
int ldapshare_find_user(struct ldapshare *ls, const char *login,
			char **dn_r, const char **error_r)
{
	const struct config *cfg = ls->cfg;
	/* Not a login: perhaps one of a user's addresses. */
	const struct ldapshare_query q[] = {
		{ cfg->ldap_user_filter, cfg->ldap_user_login_attribute,
		  NULL, false },
		{ cfg->ldap_user_filter, cfg->ldap_user_address_attributes,
		  NULL, true },
	};
	static const struct ldapshare_what what = {
		"login", "looking up the user",
		"no mail user has the login or address"
	};
	bool company;

	return ldapshare_find_one(ls, login, q, 2, &what, dn_r, &company,
				  error_r);
}

/* ldapshare_find_grantee - a grantee's DN: a user or group DN that
   exists (or, unless must_exist, any valid DN), or a mail user's
   login or address */
int ldapshare_find_grantee(struct ldapshare *ls, const char *grantee,
			   bool must_exist, char **dn_r,
			   const char **error_r)
{
	const struct config *cfg = ls->cfg;
	const char *attrs[2] = { LDAP_NO_ATTRS, NULL };
	struct ldapshare_buf f = { NULL, 0, 0 };
	char p[LDAPSHARE_PRINT_MAX];
	LDAPMessage *res = NULL, *e;
	LDAPDN parsed = NULL;
	char *dn;
	int rc, ret;

	*dn_r = NULL;
	if ((ret = ldapshare_input_check(grantee, "grantee", error_r)) != 0)
		return ret;
	if (strchr(grantee, '=') == NULL)
		return ldapshare_find_user(ls, grantee, dn_r, error_r);

	text_printable_str(p, sizeof(p), grantee, TEXT_MARK);
	if (ldap_str2dn(grantee, &parsed, LDAP_DN_FORMAT_LDAPV3) !=
		    LDAP_SUCCESS || parsed == NULL) {
		ldap_dnfree(parsed);
		*error_r = error_printf("grantee %s: not a DN", p);
		return 1;
	}
	ldap_dnfree(parsed);
	ldapshare_buf_str(&f, "(|");
	ldapshare_buf_str(&f, cfg->ldap_user_filter);
	ldapshare_buf_str(&f, cfg->ldap_group_filter);
	ldapshare_buf_str(&f, ")");
	rc = ldapshare_search(ls, ls->lookup, grantee, LDAP_SCOPE_BASE, f.s,
			      attrs, 1, &res);
	free(f.s);
	if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
		ldap_msgfree(res);
		return ldapshare_search_failed(ls->lookup, rc,
					       "looking up the grantee",
					       grantee, error_r);
	}
	e = rc == LDAP_SUCCESS ? ldap_first_entry(ls->lookup, res) : NULL;
	dn = e != NULL ? ldap_get_dn(ls->lookup, e) : NULL;
	ldap_msgfree(res);
	if (dn != NULL) {
		*dn_r = xstrdup(dn);
		ldap_memfree(dn);
		return 0;
	}
	if (!must_exist) {
		/* A share may still name a user who was deleted. */
		*dn_r = xstrdup(grantee);
		return 0;
	}
	if (rc == LDAP_NO_SUCH_OBJECT)
		*error_r = error_printf("grantee %s: no such entry", p);
	else
		*error_r = error_printf(
			"grantee %s: neither a mail user nor a group", p);
	return 1;
}

/* ldapshare_base_match - 1 if the entry dn matches filter, 0 if not (or
   it is not there or not visible), -1/1 with error_r when the search
   failed (ldapshare_search_failed) */
static int ldapshare_base_match(struct ldapshare *ls, const char *dn,
				const char *filter, const char *what,
				bool *match_r, const char **error_r)
{
	const char *attrs[2] = { LDAP_NO_ATTRS, NULL };
	LDAPMessage *res = NULL;
	int rc;

	*match_r = false;
	rc = ldapshare_search(ls, ls->lookup, dn, LDAP_SCOPE_BASE, filter,
			      attrs, 1, &res);
	if (rc == LDAP_SUCCESS)
		*match_r = ldap_first_entry(ls->lookup, res) != NULL;
	ldap_msgfree(res);
	if (rc == LDAP_SUCCESS || rc == LDAP_NO_SUCH_OBJECT ||
	    rc == LDAP_REFERRAL || rc == LDAP_INSUFFICIENT_ACCESS)
		return 0;
	return ldapshare_search_failed(ls->lookup, rc, what, dn, error_r);
}

/* ldapshare_company_of - the normalised DN of the company entry whose
   subtree holds dn (as the sync places users and mailboxes), "" for
   none; 0, or as ldapshare_base_match */
static int ldapshare_company_of(struct ldapshare *ls, const char *dn,
				char *company, size_t size,
				const char **error_r)
{
	const char *error;
	bool match;
	int ret;

	company[0] = '\0';
	for (const char *p = dn_parent(dn); p != NULL; p = dn_parent(p)) {
		ret = ldapshare_base_match(ls, p, ls->cfg->ldap_company_filter,
					   "looking up the company of", &match,
					   error_r);
		if (ret != 0)
			return ret;
		if (match) {
			if (ldapdir_dn_normalize(p, company, size, &error) < 0)
				snprintf(company, size, "%s", p);
			return 0;
		}
	}
	return 0;
}

/* ldapshare_same_company - 0 when the share may name grantee_dn: it is
   not a user (a group counts for its members of the mailbox's company),
   or a user of the company of mailbox_dn, or cross_company_shares is on;
   1 with error_r when the share would grant nothing */
int ldapshare_same_company(struct ldapshare *ls,
			   const struct ldapshare_settings *set,
			   const char *mailbox_dn,
			   const char *grantee_dn, const char **error_r)
{
	char mine[LDAPSHARE_DN_NORM_MAX], theirs[LDAPSHARE_DN_NORM_MAX];
	char p1[LDAPSHARE_PRINT_MAX], p2[LDAPSHARE_PRINT_MAX];
	char p3[LDAPSHARE_PRINT_MAX];
	bool user;
	int ret;

	if (ls->cfg->cross_company_shares)
		return 0;
	ret = ldapshare_base_match(ls, grantee_dn, ls->cfg->ldap_user_filter,
				   "looking up the grantee", &user, error_r);
	if (ret != 0 || !user)
		return ret;
	if ((ret = ldapshare_company_of(ls, mailbox_dn, mine, sizeof(mine),
					error_r)) != 0 ||
	    (ret = ldapshare_company_of(ls, grantee_dn, theirs,
					sizeof(theirs), error_r)) != 0)
		return ret;
	if (strcmp(mine, theirs) == 0)
		return 0;
	*error_r = error_printf(
		"%s is not of the company of %s (%s): the share would grant "
		"nothing (cross_company_shares = no)",
		text_printable_str(p1, sizeof(p1), set->grantee, TEXT_MARK),
		text_printable_str(p2, sizeof(p2), set->owner, TEXT_MARK),
		text_printable_str(p3, sizeof(p3),
				   mine[0] != '\0' ? mine : "no company",
				   TEXT_MARK));
	return 1;
}

/* ldapshare_shares - the shares directly below mailbox_dn that name
   grantee_dn (NULL: all of them), as session ld sees them */
int ldapshare_shares(struct ldapshare *ls, LDAP *ld,
		     const char *mailbox_dn, const char *grantee_dn,
		     LDAPMessage **res_r, int *count_r,
		     const char **error_r)
{
	const struct config *cfg = ls->cfg;
	const char *attrs[6] = { cfg->ldap_share_grantee_attribute,
				 cfg->ldap_share_not_before_attribute,
				 cfg->ldap_share_not_after_attribute,
				 cfg->ldap_share_rights_attribute,
				 /* empty: no such right in this directory */
				 text_empty(cfg->ldap_share_on_behalf_attribute) ?
				 NULL : cfg->ldap_share_on_behalf_attribute,
				 NULL };
	struct ldapshare_buf f = { NULL, 0, 0 };
	int rc;

	*count_r = 0;
	ldapshare_buf_str(&f, "(&");
	ldapshare_buf_str(&f, cfg->ldap_share_filter);
	if (grantee_dn != NULL)
		ldapshare_buf_equal(&f, cfg->ldap_share_grantee_attribute,
				    strlen(cfg->ldap_share_grantee_attribute),
				    grantee_dn);
	ldapshare_buf_str(&f, ")");
	/* all of them: bounded, a listing is one answer line */
	rc = ldapshare_search(ls, ld, mailbox_dn, LDAP_SCOPE_ONELEVEL, f.s,
			      attrs, grantee_dn == NULL ? LDAPSHARE_LIST_MAX : 0,
			      res_r);
	if (rc == LDAP_SIZELIMIT_EXCEEDED) {
		ldap_msgfree(*res_r);
		*res_r = NULL;
		*error_r = error_printf("more than %d shares below %s",
					LDAPSHARE_LIST_MAX, mailbox_dn);
		return 1;
	}
	free(f.s);
	if (rc == LDAP_SUCCESS) {
		*count_r = ldap_count_entries(ld, *res_r);
		return 0;
	}
	ldap_msgfree(*res_r);
	*res_r = NULL;
	/* What the acting identity may not see, it has no share in. */
	if (rc == LDAP_NO_SUCH_OBJECT || rc == LDAP_INSUFFICIENT_ACCESS)
		return 0;
	return ldapshare_search_failed(ld, rc, "looking up the shares below",
				       mailbox_dn, error_r);
}

/* ldapshare_grantee_name - what a client names the grantee dn by: a
   mail user's login; else (a group, an entry that is gone) the DN */
int ldapshare_grantee_name(struct ldapshare *ls, const char *dn,
			   char **name_r, bool *group_r,
			   const char **error_r)
{
	const struct config *cfg = ls->cfg;
	const char *attrs[2] = { cfg->ldap_user_login_attribute, NULL };
	LDAPMessage *res = NULL, *e;
	struct berval **v;
	int rc, ret;

	*name_r = NULL;
	*group_r = false;
	rc = ldapshare_search(ls, ls->lookup, dn, LDAP_SCOPE_BASE,
			      cfg->ldap_user_filter, attrs, 1, &res);
	if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT &&
	    rc != LDAP_INSUFFICIENT_ACCESS) {
		ldap_msgfree(res);
		return ldapshare_search_failed(ls->lookup, rc,
					       "looking up the grantee", dn,
					       error_r);
	}
	e = rc == LDAP_SUCCESS ? ldap_first_entry(ls->lookup, res) : NULL;
	v = e != NULL ? ldap_get_values_len(ls->lookup, e, attrs[0]) : NULL;
	/* one login, a plain one, or SETACL could not name it back */
	if (v != NULL && v[0] != NULL && v[1] == NULL &&
	    v[0]->bv_len > 0 && v[0]->bv_len <= LDAPSHARE_INPUT_MAX &&
	    memchr(v[0]->bv_val, '=', v[0]->bv_len) == NULL &&
	    memchr(v[0]->bv_val, '\0', v[0]->bv_len) == NULL)
		*name_r = xstrndup(v[0]->bv_val, v[0]->bv_len);
	ldap_value_free_len(v);
	ldap_msgfree(res);
	if (*name_r != NULL)
		return 0;
	ret = ldapshare_base_match(ls, dn, cfg->ldap_group_filter,
				   "looking up the grantee", group_r, error_r);
	if (ret != 0)
		return ret;
	*name_r = xstrdup(dn);
	return 0;
}
