/*
 * NAME
 *	ldapdir-conv - directory entries to replica entries
 * DESCRIPTION
 *	Every value taken from the directory is checked before it is
 *	staged: no NUL bytes, a length limit per kind of value, a limit on
 *	the number of values; DN-valued attributes are normalised exactly
 *	like entry DNs, because the replica compares DNs as strings. An
 *	entry is a view (DN, attribute names, their values, referenced
 *	where they lie) and the conversion reads only the view, so that it
 *	can be fuzzed without a server (tests/fuzz/fuzz-ldap-entry.c).
 *
 *	Each kind has one conversion that fills a replica entry or says
 *	why the entry is unusable; ldapdir_entry_view() skips the entry
 *	with that reason or stages it.
 * DIAGNOSTICS
 *	An entry that cannot be used is skipped through the warning
 *	callback, naming its DN; only a replica that fails ends the
 *	conversion with -1.
 * SEE ALSO
 *	ldapdir-private.h, ldapdir.c, gentime.h, replica.h, RFC 4514 (DN
 *	strings)
 */

#include "ldapdir.h"
#include "ldapdir-private.h"
#include "error.h"
#include "gentime.h"
#include "text.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lber.h>
#include <ldap.h>

/* Limits on what the directory hands us, before anything is stored. */
#define LDAPDIR_ADDRESS_MAX	254	/* RFC 5321 path limit */
#define LDAPDIR_DOMAIN_MAX	253
#define LDAPDIR_LOGIN_MAX	254
#define LDAPDIR_KIND_MAX	16
#define LDAPDIR_RIGHTS_MAX	32
#define LDAPDIR_DESCRIPTION_MAX	1024
#define LDAPDIR_VALUES_MAX	1000	/* per attribute and entry */
#define LDAPDIR_MEMBERS_MAX	10000000 /* group members: may be many */
#define LDAPDIR_DN_INPUT_MAX	(4 * REPLICA_DN_MAX)
#define LDAPDIR_PRINT_MAX	256	/* a value quoted in a message */

/* The description of a share: a standard attribute, not configurable. */
#define LDAPDIR_DESCRIPTION_ATTR "description"

/* A growing list of owned strings, NULL-terminated for the writer. */
struct ldapdir_strlist {
	char **v;
	size_t n, alloc;
};

/* A space-separated list of attribute names from the configuration. */
struct ldapdir_attrlist {
	char *buf;
	char *names[LDAPDIR_ATTRS_MAX + 1];
	size_t n;
};

struct ldapdir_ctx {
	const struct config *cfg;
	struct replica_writer *w;
	replica_warn_fn *warn;
	void *warn_context;
	struct ldapdir_stats *stats;

	struct ldapdir_attrlist user_addr_attrs, mailbox_addr_attrs;
	struct ldapdir_attrlist member_attrs;

	/* The entry being handled. */
	char dn[REPLICA_DN_MAX];		/* normalised */
	char dn_print[LDAPDIR_PRINT_MAX];	/* as the server sent it */
	char reason[512];
	struct ldapdir_strlist list1;
	struct ldapdir_strlist singles;		/* storage for single values */
};

/* A replica entry of any kind, as a conversion fills it. */
union ldapdir_out {
	struct replica_company company;
	struct replica_group group;
	struct replica_user user;
	struct replica_mailbox mailbox;
	struct replica_share share;
};

/* A conversion: 0 when out is ready to stage, -1 (ctx->reason set) when
   the entry is unusable */
typedef int ldapdir_conv_fn(struct ldapdir_ctx *ctx,
			    const struct ldapdir_entry *entry,
			    union ldapdir_out *out);

/* ldapdir_strlist_add - append a copy of len bytes */
static void ldapdir_strlist_add(struct ldapdir_strlist *l, const char *s,
				size_t len)
{
	l->v = xgrow(l->v, &l->alloc, l->n + 2, sizeof(*l->v), 16);
	l->v[l->n++] = xstrndup(s, len);
	l->v[l->n] = NULL;
}

/* ldapdir_strlist_clear - drop the strings, keep the array */
static void ldapdir_strlist_clear(struct ldapdir_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	l->n = 0;
	if (l->v != NULL)
		l->v[0] = NULL;
}

/* ldapdir_strlist_free - drop everything */
static void ldapdir_strlist_free(struct ldapdir_strlist *l)
{
	ldapdir_strlist_clear(l);
	free(l->v);
	l->v = NULL;
	l->alloc = 0;
}

/* ldapdir_strlist_array - the list as the writer wants it */
static const char *const *ldapdir_strlist_array(struct ldapdir_strlist *l)
{
	static const char *const empty[] = { NULL };

	if (l->n == 0)
		return empty;
	return (const char *const *)l->v;
}

/* ldapdir_attrlist_init - split a space-separated list of names */
static int ldapdir_attrlist_init(struct ldapdir_attrlist *al,
				 const char *key, const char *value,
				 bool required, const char **error_r)
{
	char *p, *save = NULL;

	memset(al, 0, sizeof(*al));
	al->buf = xstrdup(value == NULL ? "" : value);
	for (p = strtok_r(al->buf, " \t,", &save); p != NULL;
	     p = strtok_r(NULL, " \t,", &save)) {
		if (al->n == LDAPDIR_ATTRS_MAX) {
			*error_r = error_printf(
				"%s: more than %d attribute names", key,
				LDAPDIR_ATTRS_MAX);
			return -1;
		}
		al->names[al->n++] = p;
	}
	al->names[al->n] = NULL;
	if (required && al->n == 0) {
		*error_r = error_printf("%s: no attribute name", key);
		return -1;
	}
	return 0;
}

/* ldapdir_attrlist_free - release the split names */
static void ldapdir_attrlist_free(struct ldapdir_attrlist *al)
{
	free(al->buf);
	memset(al, 0, sizeof(*al));
}

/*
 * DNs.
 */

/* ldapdir_dn_simple - lower case alone normalises a plain DN: RDNs
   "type=value" of letters, digits and ".-_@" (nothing to escape, no
   blanks, no multi-valued RDNs); 0 if it was plain, -1 otherwise */
static int ldapdir_dn_simple(const char *dn, size_t len, char *out,
			     size_t outsize)
{
	bool in_value = false, empty = true;

	if (len >= outsize)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)dn[i];

		if (c == '=') {
			if (in_value || empty)
				return -1;
			in_value = true;
			empty = true;
		} else if (c == ',') {
			if (!in_value || empty)
				return -1;
			in_value = false;
			empty = true;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '-' ||
			   (in_value && (c == '.' || c == '_' || c == '@'))) {
			/* A type starts with a letter (or is an OID). */
			if (!in_value && empty && !((c >= 'a' && c <= 'z') ||
						    (c >= 'A' && c <= 'Z')))
				return -1;
			empty = false;
			out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') :
				(char)c;
		} else {
			return -1;
		}
		if (c == '=' || c == ',')
			out[i] = (char)c;
	}
	if (!in_value || empty)
		return -1;
	out[len] = '\0';
	return 0;
}

/* ldapdir_dn_libldap - libldap's LDAPv3 form of a DN, lower case */
static int ldapdir_dn_libldap(const char *dn, char *out, size_t outsize,
			      const char **error_r)
{
	char *norm = NULL;
	size_t len, i;
	int rc;

	rc = ldap_dn_normalize(dn, LDAP_DN_FORMAT_LDAP, &norm,
			       LDAP_DN_FORMAT_LDAPV3);
	if (rc != LDAP_SUCCESS) {
		*error_r = error_printf("invalid DN: %s",
					ldap_err2string(rc));
		return -1;
	}
	len = norm == NULL ? 0 : strlen(norm);
	if (len == 0 || len >= outsize) {
		ldap_memfree(norm);
		*error_r = len == 0 ? "empty DN" : "DN too long";
		return -1;
	}
	for (i = 0; i < len; i++) {
		char c = norm[i];

		out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
	ldap_memfree(norm);
	return 0;
}

/* ldapdir_dn_normalize - one normal form for DN comparison */
int ldapdir_dn_normalize(const char *dn, char *out, size_t outsize,
			 const char **error_r)
{
	char *again;
	size_t len;
	int ret;

	if (dn == NULL) {
		*error_r = "no DN";
		return -1;
	}
	if (out == NULL || outsize == 0) {
		*error_r = "no room for the DN";
		return -1;
	}
	len = strnlen(dn, LDAPDIR_DN_INPUT_MAX + 1);
	if (len == 0) {
		*error_r = "empty DN";
		return -1;
	}
	if (len > LDAPDIR_DN_INPUT_MAX) {
		*error_r = "DN too long";
		return -1;
	}
	/* Nearly every DN in a mail directory is plain: skip the parser. */
	if (ldapdir_dn_simple(dn, len, out, outsize) == 0)
		return 0;
	if (ldapdir_dn_libldap(dn, out, outsize, error_r) < 0)
		return -1;
	/* libldap's lenient reading can make of a malformed value one it
	   cannot read back ("uid=# x" gives "uid=#"): only a form that
	   is its own normal form is one. */
	again = xmalloc(outsize);
	ret = ldapdir_dn_libldap(out, again, outsize, error_r);
	if (ret == 0 && strcmp(out, again) != 0) {
		*error_r = "invalid DN: no normal form";
		ret = -1;
	}
	free(again);
	return ret;
}

/*
 * Entry values.
 */

/* ldapdir_skip - warn about the current entry and count it skipped */
static int ldapdir_skip(struct ldapdir_ctx *ctx, const char *reason)
{
	ctx->stats->skipped++;
	if (ctx->warn != NULL)
		ctx->warn(ctx->warn_context, ctx->dn_print, reason);
	return 0;
}

/* ldapdir_reasonf - say why the current entry (or value) is not usable;
   -1, for the caller to return */
static int __attribute__((format(printf, 2, 3)))
ldapdir_reasonf(struct ldapdir_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(ctx->reason, sizeof(ctx->reason), fmt, ap);
	va_end(ap);
	return -1;
}

/* ldapdir_need - the list of values just read is not empty */
static int ldapdir_need(struct ldapdir_ctx *ctx, const char *what,
			const char *attr)
{
	if (ctx->list1.n == 0)
		return ldapdir_reasonf(ctx, "%s without %s", what, attr);
	return 0;
}

/* ldapdir_entry_attr - an attribute of the entry with values, or NULL:
   the first one of that name, as ldap_get_values_len() finds it */
static const struct ldapdir_attr *
ldapdir_entry_attr(const struct ldapdir_entry *entry, const char *name)
{
	size_t i;

	for (i = 0; i < entry->count; i++) {
		if (strcasecmp(entry->attrs[i].name, name) == 0)
			return entry->attrs[i].count > 0 ? &entry->attrs[i]
							 : NULL;
	}
	return NULL;
}

/* ldapdir_values - append the checked values of one attribute; -1 with
   ctx->reason set when one is unusable */
static int ldapdir_values(struct ldapdir_ctx *ctx,
			  const struct ldapdir_entry *entry,
			  const char *attr, size_t max_len, size_t max_count,
			  struct ldapdir_strlist *out)
{
	const struct ldapdir_attr *a;
	size_t i;

	if (text_empty(attr))
		return 0;
	a = ldapdir_entry_attr(entry, attr);
	if (a == NULL)
		return 0;
	if (out->n + a->count > max_count)
		return ldapdir_reasonf(ctx, "more than %zu values of %s",
				       max_count, attr);
	for (i = 0; i < a->count; i++) {
		const struct berval *bv = &a->values[i];

		if (bv->bv_len > max_len)
			return ldapdir_reasonf(ctx,
					"value of %s too long (%lu bytes, at most %zu)",
					attr, (unsigned long)bv->bv_len,
					max_len);
		if (bv->bv_len == 0 || memchr(bv->bv_val, '\0', bv->bv_len))
			return ldapdir_reasonf(ctx,
					"value of %s is empty or contains a NUL byte",
					attr);
		ldapdir_strlist_add(out, bv->bv_val, bv->bv_len);
	}
	return 0;
}

/* ldapdir_single - the one value of an attribute or NULL when absent;
   -1 with ctx->reason when bad or multi-valued */
static int ldapdir_single(struct ldapdir_ctx *ctx,
			  const struct ldapdir_entry *entry,
			  const char *attr, size_t max_len,
			  const char **value_r)
{
	size_t before = ctx->singles.n;

	*value_r = NULL;
	if (text_empty(attr))
		return 0;
	if (ldapdir_values(ctx, entry, attr, max_len, LDAPDIR_VALUES_MAX,
			   &ctx->singles) < 0)
		return -1;
	if (ctx->singles.n - before > 1)
		return ldapdir_reasonf(ctx, "more than one value of %s",
				       attr);
	if (ctx->singles.n > before)
		*value_r = ctx->singles.v[before];
	return 0;
}

/* ldapdir_uid_suffix_len - length of a trailing "#'0101'B" (the UID
   part of a uniqueMember value), 0 when there is none */
static size_t ldapdir_uid_suffix_len(const char *s, size_t len)
{
	size_t i;

	if (len < 4 || s[len - 1] != 'B' || s[len - 2] != '\'')
		return 0;
	for (i = len - 2; i > 0; i--) {
		if (s[i - 1] == '\'')
			break;
		if (s[i - 1] != '0' && s[i - 1] != '1')
			return 0;
	}
	if (i < 2 || s[i - 2] != '#')
		return 0;
	return len - (i - 2);
}

/* ldapdir_dn_values - the normalised DN values of one attribute; with
   drop_bad, a value that is no DN is warned about and left out instead
   of making the whole entry unusable */
static int ldapdir_dn_values(struct ldapdir_ctx *ctx,
			     const struct ldapdir_entry *entry,
			     const char *attr, size_t max_count,
			     bool drop_bad, struct ldapdir_strlist *out)
{
	struct ldapdir_strlist raw = { NULL, 0, 0 };
	char norm[REPLICA_DN_MAX], shown[LDAPDIR_PRINT_MAX];
	const char *error;
	size_t i, len;

	if (text_empty(attr))
		return 0;
	if (ldapdir_values(ctx, entry, attr, LDAPDIR_DN_INPUT_MAX,
			   max_count - out->n, &raw) < 0) {
		ldapdir_strlist_free(&raw);
		return -1;
	}
	for (i = 0; i < raw.n; i++) {
		len = strlen(raw.v[i]);
		len -= ldapdir_uid_suffix_len(raw.v[i], len);
		raw.v[i][len] = '\0';
		if (ldapdir_dn_normalize(raw.v[i], norm, sizeof(norm),
					 &error) < 0) {
			text_printable(shown, sizeof(shown), raw.v[i],
					  strlen(raw.v[i]), TEXT_MARK);
			ldapdir_reasonf(ctx, "%s value \"%s\": %s%s", attr,
					shown, error,
					drop_bad ? "; value ignored" : "");
			if (drop_bad) {
				if (ctx->warn != NULL)
					ctx->warn(ctx->warn_context,
						  ctx->dn_print, ctx->reason);
				continue;
			}
			ldapdir_strlist_free(&raw);
			return -1;
		}
		ldapdir_strlist_add(out, norm, strlen(norm));
	}
	ldapdir_strlist_free(&raw);
	return 0;
}

/* ldapdir_dn_single - the one normalised DN value, or NULL */
static int ldapdir_dn_single(struct ldapdir_ctx *ctx,
			     const struct ldapdir_entry *entry,
			     const char *attr, const char **value_r)
{
	size_t before = ctx->singles.n;

	*value_r = NULL;
	if (ldapdir_dn_values(ctx, entry, attr, before + LDAPDIR_VALUES_MAX,
			      false, &ctx->singles) < 0)
		return -1;
	if (ctx->singles.n - before > 1)
		return ldapdir_reasonf(ctx, "more than one value of %s",
				       attr);
	if (ctx->singles.n > before)
		*value_r = ctx->singles.v[before];
	return 0;
}

/* ldapdir_address_values - the values of a list of address attributes,
   in order, exact duplicates dropped */
static int ldapdir_address_values(struct ldapdir_ctx *ctx,
				  const struct ldapdir_entry *entry,
				  const struct ldapdir_attrlist *attrs,
				  struct ldapdir_strlist *out)
{
	size_t a, i, j, start;

	for (a = 0; a < attrs->n; a++) {
		start = out->n;
		if (ldapdir_values(ctx, entry, attrs->names[a],
				   LDAPDIR_ADDRESS_MAX, LDAPDIR_VALUES_MAX,
				   out) < 0)
			return -1;
		/* "mail" and "mailgrantsAddress" may repeat a value; the
		   writer would see a duplicate address of the same
		   mailbox. */
		for (i = start; i < out->n; i++) {
			for (j = 0; j < i; j++) {
				if (strcasecmp(out->v[i], out->v[j]) == 0)
					break;
			}
			if (j < i) {
				free(out->v[i]);
				memmove(out->v + i, out->v + i + 1,
					(out->n - i) * sizeof(*out->v));
				out->n--;
				i--;
			}
		}
	}
	return 0;
}

/*
 * One conversion per kind of entry; ldapdir_entry_view() skips or stages
 * what it made.
 */

/* ldapdir_company - a company entry */
static int ldapdir_company(struct ldapdir_ctx *ctx,
			   const struct ldapdir_entry *entry,
			   union ldapdir_out *out)
{
	const struct config *cfg = ctx->cfg;
	struct replica_company *c = &out->company;

	if (ldapdir_values(ctx, entry, cfg->ldap_company_domain_attribute,
			   LDAPDIR_DOMAIN_MAX, LDAPDIR_VALUES_MAX,
			   &ctx->list1) < 0 ||
	    ldapdir_dn_single(ctx, entry, cfg->ldap_company_group_attribute,
			      &c->group_dn) < 0)
		return -1;
	c->dn = ctx->dn;
	c->domains = ldapdir_strlist_array(&ctx->list1);
	return ldapdir_need(ctx, "company", cfg->ldap_company_domain_attribute);
}

/* ldapdir_group - a group entry */
static int ldapdir_group(struct ldapdir_ctx *ctx,
			 const struct ldapdir_entry *entry,
			 union ldapdir_out *out)
{
	size_t a;

	for (a = 0; a < ctx->member_attrs.n; a++) {
		/* One bad member costs that member, not the group. */
		if (ldapdir_dn_values(ctx, entry, ctx->member_attrs.names[a],
				      LDAPDIR_MEMBERS_MAX, true,
				      &ctx->list1) < 0)
			return -1;
	}
	out->group.dn = ctx->dn;
	out->group.member_dns = ldapdir_strlist_array(&ctx->list1);
	return 0;
}

/* ldapdir_user - a mail user entry */
static int ldapdir_user(struct ldapdir_ctx *ctx,
			const struct ldapdir_entry *entry,
			union ldapdir_out *out)
{
	const struct config *cfg = ctx->cfg;
	struct replica_user *u = &out->user;

	if (ldapdir_single(ctx, entry, cfg->ldap_user_login_attribute,
			   LDAPDIR_LOGIN_MAX, &u->login) < 0 ||
	    ldapdir_address_values(ctx, entry, &ctx->user_addr_attrs,
				   &ctx->list1) < 0)
		return -1;
	if (u->login == NULL)
		return ldapdir_reasonf(ctx, "user without %s",
				       cfg->ldap_user_login_attribute);
	u->dn = ctx->dn;
	u->addresses = ldapdir_strlist_array(&ctx->list1);
	return 0;
}

/* ldapdir_mailbox - a mailbox entry (not a user's primary one) */
static int ldapdir_mailbox(struct ldapdir_ctx *ctx,
			   const struct ldapdir_entry *entry,
			   union ldapdir_out *out)
{
	const struct config *cfg = ctx->cfg;
	char shown[LDAPDIR_PRINT_MAX];
	struct replica_mailbox *m = &out->mailbox;
	const char *kind, *sent;

	if (ldapdir_single(ctx, entry, cfg->ldap_mailbox_kind_attribute,
			   LDAPDIR_KIND_MAX, &kind) < 0 ||
	    ldapdir_address_values(ctx, entry, &ctx->mailbox_addr_attrs,
				   &ctx->list1) < 0 ||
	    ldapdir_dn_single(ctx, entry, cfg->ldap_mailbox_owner_attribute,
			      &m->owner_dn) < 0 ||
	    ldapdir_dn_single(ctx, entry, cfg->ldap_mailbox_group_attribute,
			      &m->group_dn) < 0 ||
	    ldapdir_single(ctx, entry, cfg->ldap_mailbox_rights_attribute,
			   LDAPDIR_RIGHTS_MAX, &m->rights) < 0 ||
	    ldapdir_single(ctx, entry,
			   cfg->ldap_mailbox_sent_copies_attribute,
			   LDAPDIR_KIND_MAX, &sent) < 0)
		return -1;
	/* LDAP's Boolean syntax is TRUE or FALSE; a directory mapped from
	   elsewhere may write it in another case. */
	if (sent == NULL) {
		m->sent_copies = REPLICA_SENT_COPIES_DEFAULT;
	} else if (strcasecmp(sent, "TRUE") == 0) {
		m->sent_copies = REPLICA_SENT_COPIES_YES;
	} else if (strcasecmp(sent, "FALSE") == 0) {
		m->sent_copies = REPLICA_SENT_COPIES_NO;
	} else {
		text_printable_str(shown, sizeof(shown), sent, TEXT_MARK);
		return ldapdir_reasonf(ctx, "%s \"%s\" is neither TRUE nor"
				       " FALSE",
				       cfg->ldap_mailbox_sent_copies_attribute,
				       shown);
	}
	if (kind == NULL)
		return ldapdir_reasonf(ctx, "mailbox without %s",
				       cfg->ldap_mailbox_kind_attribute);
	if (strcasecmp(kind, "private") == 0) {
		m->kind = REPLICA_MAILBOX_PRIVATE;
	} else if (strcasecmp(kind, "company") == 0) {
		m->kind = REPLICA_MAILBOX_COMPANY;
	} else {
		text_printable_str(shown, sizeof(shown), kind, TEXT_MARK);
		return ldapdir_reasonf(ctx,
				       "unknown %s \"%s\" (private or company)",
				       cfg->ldap_mailbox_kind_attribute, shown);
	}
	if (ctx->list1.n == 0)
		return ldapdir_reasonf(ctx, "mailbox without an address (%s)",
				       cfg->ldap_mailbox_address_attributes);
	m->dn = ctx->dn;
	m->addresses = ldapdir_strlist_array(&ctx->list1);
	return 0;
}

/* ldapdir_share_time - an optional time attribute of a share */
static int ldapdir_share_time(struct ldapdir_ctx *ctx,
			      const struct ldapdir_entry *entry,
			      const char *attr, time_t *t_r)
{
	char shown[LDAPDIR_PRINT_MAX];
	const char *value;

	*t_r = 0;
	if (ldapdir_single(ctx, entry, attr, GENTIME_MAX, &value) < 0)
		return -1;
	if (value == NULL)
		return 0;
	if (gentime_parse(value, t_r) < 0) {
		text_printable_str(shown, sizeof(shown), value, TEXT_MARK);
		return ldapdir_reasonf(ctx,
				       "%s \"%s\" is not a GeneralizedTime",
				       attr, shown);
	}
	/* 0 means "open": a time at the epoch itself moves by a second
	   rather than turning an ended window into an open one. */
	if (*t_r == 0)
		*t_r = 1;
	return 0;
}

/* ldapdir_description - the first description value, cut at a character
   boundary rather than losing the share: it is only shown to people */
static const char *ldapdir_description(struct ldapdir_ctx *ctx,
				       const struct ldapdir_entry *entry)
{
	const struct ldapdir_attr *desc;
	const char *val, *nul;
	size_t len;

	desc = ldapdir_entry_attr(entry, LDAPDIR_DESCRIPTION_ATTR);
	if (desc == NULL || desc->values[0].bv_len == 0)
		return NULL;
	val = desc->values[0].bv_val;
	len = desc->values[0].bv_len;
	if ((nul = memchr(val, '\0', len)) != NULL)
		len = (size_t)(nul - val);
	if (len > LDAPDIR_DESCRIPTION_MAX) {
		len = LDAPDIR_DESCRIPTION_MAX;
		while (len > 0 && ((unsigned char)val[len] & 0xc0) == 0x80)
			len--;
	}
	ldapdir_strlist_add(&ctx->singles, val, len);
	return ctx->singles.v[ctx->singles.n - 1];
}

/* ldapdir_share_on_behalf - the optional Boolean that lets the grantees
   send on behalf of the owner; a value other than TRUE or FALSE (RFC
   4517 3.3.3) is warned about and grants nothing: the share keeps what
   it gives without it */
static int ldapdir_share_on_behalf(struct ldapdir_ctx *ctx,
				   const struct ldapdir_entry *entry,
				   const char *attr, bool *on_r)
{
	char shown[LDAPDIR_PRINT_MAX], reason[LDAPDIR_PRINT_MAX + 200];
	const struct ldapdir_attr *a;
	const struct berval *bv;

	*on_r = false;
	if (text_empty(attr) || (a = ldapdir_entry_attr(entry, attr)) == NULL ||
	    a->count == 0)
		return 0;
	bv = &a->values[0];
	if (a->count == 1 && bv->bv_len == 4 &&
	    memcmp(bv->bv_val, "TRUE", 4) == 0) {
		*on_r = true;
		return 0;
	}
	if (a->count == 1 && bv->bv_len == 5 &&
	    memcmp(bv->bv_val, "FALSE", 5) == 0)
		return 0;
	if (a->count > 1)
		(void)snprintf(shown, sizeof(shown), "(%zu values)", a->count);
	else
		text_printable(shown, sizeof(shown), bv->bv_val, bv->bv_len,
			       TEXT_MARK);
	(void)snprintf(reason, sizeof(reason),
		       "%s \"%s\" is not TRUE or FALSE; the share is kept"
		       " without the right to send on behalf", attr, shown);
	if (ctx->warn != NULL)
		ctx->warn(ctx->warn_context, ctx->dn_print, reason);
	return 0;
}

/* ldapdir_share - a share entry below the mailbox it shares */
static int ldapdir_share(struct ldapdir_ctx *ctx,
			 const struct ldapdir_entry *entry,
			 union ldapdir_out *out)
{
	const struct config *cfg = ctx->cfg;
	struct replica_share *s = &out->share;

	if (ldapdir_dn_values(ctx, entry, cfg->ldap_share_grantee_attribute,
			      LDAPDIR_VALUES_MAX, false, &ctx->list1) < 0 ||
	    ldapdir_single(ctx, entry, cfg->ldap_share_rights_attribute,
			   LDAPDIR_RIGHTS_MAX, &s->rights) < 0 ||
	    ldapdir_share_time(ctx, entry,
			       cfg->ldap_share_not_before_attribute,
			       &s->not_before) < 0 ||
	    ldapdir_share_time(ctx, entry,
			       cfg->ldap_share_not_after_attribute,
			       &s->not_after) < 0 ||
	    ldapdir_share_on_behalf(ctx, entry,
				    cfg->ldap_share_on_behalf_attribute,
				    &s->on_behalf) < 0 ||
	    ldapdir_need(ctx, "share", cfg->ldap_share_grantee_attribute) < 0)
		return -1;
	s->dn = ctx->dn;
	s->grantee_dns = ldapdir_strlist_array(&ctx->list1);
	s->description = ldapdir_description(ctx, entry);
	return 0;
}

/* ldapdir_stage - stage what a conversion made; 0 staged or skipped by
   the writer, -1 when the replica failed */
static int ldapdir_stage(struct ldapdir_ctx *ctx, enum ldapdir_kind kind,
			 const union ldapdir_out *out)
{
	int ret;

	switch (kind) {
	case LDAPDIR_KIND_COMPANY:
		ret = replica_stage_company(ctx->w, &out->company);
		break;
	case LDAPDIR_KIND_GROUP:
		ret = replica_stage_group(ctx->w, &out->group);
		break;
	case LDAPDIR_KIND_USER:
		ret = replica_stage_user(ctx->w, &out->user);
		break;
	case LDAPDIR_KIND_MAILBOX:
		ret = replica_stage_mailbox(ctx->w, &out->mailbox);
		break;
	default:
		ret = replica_stage_share(ctx->w, &out->share);
		break;
	}
	if (ret < 0)
		return ldapdir_reasonf(ctx,
				"%s: cannot stage the entry into the replica",
				ctx->dn_print);
	if (ret > 0)
		ctx->stats->skipped++;
	return 0;
}

/* ldapdir_entry_view - one entry: its DN, then the conversion of its
   kind, then skip or stage */
static int ldapdir_entry_view(struct ldapdir_ctx *ctx, enum ldapdir_kind kind,
			      const struct ldapdir_entry *entry)
{
	static ldapdir_conv_fn *const fns[LDAPDIR_KIND_COUNT] = {
		[LDAPDIR_KIND_COMPANY] = ldapdir_company,
		[LDAPDIR_KIND_GROUP] = ldapdir_group,
		[LDAPDIR_KIND_USER] = ldapdir_user,
		[LDAPDIR_KIND_MAILBOX] = ldapdir_mailbox,
		[LDAPDIR_KIND_SHARE] = ldapdir_share,
	};
	union ldapdir_out out;
	const char *error;
	int ret;

	ctx->stats->entries++;
	if (entry->dn == NULL) {
		(void)snprintf(ctx->dn_print, sizeof(ctx->dn_print),
			       "(no DN)");
		return ldapdir_skip(ctx, "entry without a usable DN");
	}
	text_printable_str(ctx->dn_print, sizeof(ctx->dn_print), entry->dn,
			   TEXT_MARK);
	if (ldapdir_dn_normalize(entry->dn, ctx->dn, sizeof(ctx->dn),
				 &error) < 0)
		return ldapdir_skip(ctx, error);

	memset(&out, 0, sizeof(out));
	if (fns[kind](ctx, entry, &out) < 0)
		ret = ldapdir_skip(ctx, ctx->reason);
	else
		ret = ldapdir_stage(ctx, kind, &out);
	ldapdir_strlist_clear(&ctx->list1);
	ldapdir_strlist_clear(&ctx->singles);
	return ret;
}

/* ldapdir_attrs - the NULL-terminated list of attributes to request */
static void ldapdir_attrs(char **out, size_t outsize, const char *const *in,
			  size_t n)
{
	size_t i, j, o = 0;

	for (i = 0; i < n && o + 1 < outsize; i++) {
		if (text_empty(in[i]))
			continue;
		for (j = 0; j < o; j++) {
			if (strcasecmp(out[j], in[i]) == 0)
				break;
		}
		if (j == o)
			out[o++] = (char *)in[i];
	}
	out[o] = NULL;
}

/* ldapdir_append_list - add an attribute list's names to an array */
static size_t ldapdir_append_list(const char **arr, size_t n,
				  const struct ldapdir_attrlist *al)
{
	size_t i;

	for (i = 0; i < al->n; i++)
		arr[n++] = al->names[i];
	return n;
}

/*
 * The conversion state (ldapdir-private.h).
 */

/* ldapdir_conv_create - the conversion state; the attribute lists of the
   configuration split */
int ldapdir_conv_create(const struct config *cfg, struct replica_writer *w,
			replica_warn_fn *warn, void *warn_context,
			struct ldapdir_stats *stats, struct ldapdir_ctx **ctx_r,
			const char **error_r)
{
	struct ldapdir_ctx *ctx = xcalloc(1, sizeof(*ctx));
	const struct replica_names names = {
		cfg->ldap_mailbox_owner_attribute,
		cfg->ldap_share_not_before_attribute,
		cfg->ldap_share_not_after_attribute,
	};

	ctx->cfg = cfg;
	ctx->w = w;
	ctx->warn = warn;
	ctx->warn_context = warn_context;
	ctx->stats = stats;
	if (ldapdir_attrlist_init(&ctx->user_addr_attrs,
				  "ldap_user_address_attributes",
				  cfg->ldap_user_address_attributes, false,
				  error_r) < 0 ||
	    ldapdir_attrlist_init(&ctx->mailbox_addr_attrs,
				  "ldap_mailbox_address_attributes",
				  cfg->ldap_mailbox_address_attributes, true,
				  error_r) < 0 ||
	    ldapdir_attrlist_init(&ctx->member_attrs,
				  "ldap_group_member_attributes",
				  cfg->ldap_group_member_attributes, true,
				  error_r) < 0) {
		ldapdir_conv_free(&ctx);
		return -1;
	}
	/* The writer checks what the replica's rules say; its reasons
	   name the attributes the directory's administrator knows. */
	replica_writer_names(w, &names);
	*ctx_r = ctx;
	return 0;
}

/* ldapdir_conv_attrs - the attributes the conversion of a kind reads,
   each once, for the search */
void ldapdir_conv_attrs(const struct ldapdir_ctx *ctx, enum ldapdir_kind kind,
			char **attrs, size_t size)
{
	const struct config *cfg = ctx->cfg;
	const char *names[LDAPDIR_CONV_ATTRS_MAX];
	size_t n = 0;

	switch (kind) {
	case LDAPDIR_KIND_COMPANY:
		names[n++] = cfg->ldap_company_domain_attribute;
		names[n++] = cfg->ldap_company_group_attribute;
		break;
	case LDAPDIR_KIND_GROUP:
		n = ldapdir_append_list(names, n, &ctx->member_attrs);
		break;
	case LDAPDIR_KIND_USER:
		names[n++] = cfg->ldap_user_login_attribute;
		n = ldapdir_append_list(names, n, &ctx->user_addr_attrs);
		break;
	case LDAPDIR_KIND_MAILBOX:
		names[n++] = cfg->ldap_mailbox_kind_attribute;
		names[n++] = cfg->ldap_mailbox_owner_attribute;
		names[n++] = cfg->ldap_mailbox_group_attribute;
		names[n++] = cfg->ldap_mailbox_rights_attribute;
		names[n++] = cfg->ldap_mailbox_sent_copies_attribute;
		n = ldapdir_append_list(names, n, &ctx->mailbox_addr_attrs);
		break;
	default:
		names[n++] = cfg->ldap_share_grantee_attribute;
		names[n++] = cfg->ldap_share_rights_attribute;
		names[n++] = cfg->ldap_share_not_before_attribute;
		names[n++] = cfg->ldap_share_not_after_attribute;
		names[n++] = cfg->ldap_share_on_behalf_attribute;
		names[n++] = LDAPDIR_DESCRIPTION_ATTR;
		break;
	}
	ldapdir_attrs(attrs, size, names, n);
}

/* ldapdir_conv_entry - convert and stage one entry of a kind */
int ldapdir_conv_entry(struct ldapdir_ctx *ctx, enum ldapdir_kind kind,
		       const struct ldapdir_entry *entry,
		       const char **error_r)
{
	if ((unsigned int)kind >= LDAPDIR_KIND_COUNT) {
		*error_r = "unknown kind of entry";
		return -1;
	}
	if (ldapdir_entry_view(ctx, kind, entry) < 0) {
		*error_r = error_printf("%s", ctx->reason);
		return -1;
	}
	return 0;
}

/* ldapdir_conv_free - release the conversion state, NULL the pointer */
void ldapdir_conv_free(struct ldapdir_ctx **ctxp)
{
	struct ldapdir_ctx *ctx = *ctxp;

	if (ctx == NULL)
		return;
	ldapdir_attrlist_free(&ctx->user_addr_attrs);
	ldapdir_attrlist_free(&ctx->mailbox_addr_attrs);
	ldapdir_attrlist_free(&ctx->member_attrs);
	ldapdir_strlist_free(&ctx->list1);
	ldapdir_strlist_free(&ctx->singles);
	free(ctx);
	*ctxp = NULL;
}
