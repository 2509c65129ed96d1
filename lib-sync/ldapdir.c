/*
 * NAME
 *	ldapdir - read the directory from LDAP into the replica writer
 * DESCRIPTION
 *	One connection, one bind, five paged subtree searches. Entries are
 *	handled one message at a time (ldap_search_ext + ldap_result with
 *	LDAP_MSG_ONE), never collected, so a directory of hundreds of
 *	thousands of entries needs no more memory than one page.
 *
 *	Every value taken from the directory is checked before it is
 *	staged: no NUL bytes, a length limit per kind of value, a limit on
 *	the number of values; DN-valued attributes are normalised exactly
 *	like entry DNs, because the replica compares DNs as strings. No
 *	filter is ever built from directory data: the five filters come
 *	from the configuration as they are.
 *
 *	An entry is decoded once into a view (DN, attribute names, their
 *	values, referenced in the message) and the conversion to replica
 *	entries reads only the view, so that it can be fuzzed without a
 *	server (ldapdir-private.h, tests/fuzz/fuzz-ldap-entry.c).
 * DIAGNOSTICS
 *	Fatal problems (connect, bind, a search that fails) end the read
 *	with -1 and one line in error_r. An entry that cannot be used is
 *	skipped through the warning callback, naming its DN.
 * SEE ALSO
 *	ldapdir.h, ldapdir-private.h, replica.h, RFC 2696 (paged
 *	results), RFC 4517 (GeneralizedTime), RFC 4514 (DN strings)
 */

#include "ldapdir.h"
#include "ldapdir-private.h"
#include "error.h"
#include "text.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <lber.h>
#include <ldap.h>

/* Limits on what the directory hands us, before anything is stored. */
#define LDAPDIR_ADDRESS_MAX	254	/* RFC 5321 path limit */
#define LDAPDIR_DOMAIN_MAX	253
#define LDAPDIR_LOGIN_MAX	254
#define LDAPDIR_KIND_MAX	16
#define LDAPDIR_RIGHTS_MAX	32
#define LDAPDIR_TIME_MAX	64
#define LDAPDIR_DESCRIPTION_MAX	1024
#define LDAPDIR_VALUES_MAX	1000	/* per attribute and entry */
#define LDAPDIR_MEMBERS_MAX	10000000 /* group members: may be many */
#define LDAPDIR_DN_INPUT_MAX	(4 * REPLICA_DN_MAX)
#define LDAPDIR_ATTRS_MAX	16	/* names in one attribute list */
#define LDAPDIR_PRINT_MAX	256	/* a value quoted in a message */

/* What a failed TLS handshake usually means; libldap does not say. */
#define LDAPDIR_TLS_HINT " (is the server certificate issued by " \
	"ldap_tls_ca_file or a system CA, for the host name in ldap_uri?)"

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
	LDAP *ld;
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

	/* The attributes of a message's entry view, reused. */
	struct ldapdir_attr *view_attrs;
	size_t view_alloc;
};

typedef int ldapdir_entry_fn(struct ldapdir_ctx *ctx,
			     const struct ldapdir_entry *entry);

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

/* ldapdir_empty - NULL or "" */
static bool ldapdir_empty(const char *s)
{
	return s == NULL || *s == '\0';
}

/*
 * Generalized time.
 */

/* ldapdir_digits - n decimal digits */
static int ldapdir_digits(const char **sp, int n, int *v_r)
{
	const char *s = *sp;
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*sp = s + n;
	*v_r = v;
	return 0;
}

/* ldapdir_is_digit - an ASCII digit, locale-independent */
static bool ldapdir_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* ldapdir_days_from_civil - days since 1970-01-01 of a proleptic
   Gregorian date */
static long long ldapdir_days_from_civil(long long y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* ldapdir_month_days - days in a month */
static int ldapdir_month_days(int year, int month)
{
	static const int days[] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* ldapdir_parse_generalized_time - RFC 4517 GeneralizedTime to UTC */
int ldapdir_parse_generalized_time(const char *s, time_t *t_r)
{
	int year, mon, day, hour, min = 0, sec = 0, oh = 0, om = 0;
	long long unit = 3600, num = 0, den = 1, frac = 0, offset = 0, t;
	int ndigits = 0;

	if (s == NULL || strnlen(s, LDAPDIR_TIME_MAX + 1) > LDAPDIR_TIME_MAX)
		return -1;
	if (ldapdir_digits(&s, 4, &year) < 0 ||
	    ldapdir_digits(&s, 2, &mon) < 0 ||
	    ldapdir_digits(&s, 2, &day) < 0 ||
	    ldapdir_digits(&s, 2, &hour) < 0)
		return -1;
	if (ldapdir_is_digit(*s)) {
		if (ldapdir_digits(&s, 2, &min) < 0)
			return -1;
		unit = 60;
		if (ldapdir_is_digit(*s)) {
			if (ldapdir_digits(&s, 2, &sec) < 0)
				return -1;
			unit = 1;
		}
	}
	if (*s == '.' || *s == ',') {
		s++;
		if (!ldapdir_is_digit(*s))
			return -1;
		for (; ldapdir_is_digit(*s); s++) {
			/* Digits beyond a nanosecond do not change the
			   whole seconds we keep. */
			if (ndigits++ < 9) {
				num = num * 10 + (*s - '0');
				den *= 10;
			}
		}
		frac = unit * num / den;
	}
	if (*s == 'Z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		int sign = *s == '-' ? -1 : 1;

		s++;
		if (ldapdir_digits(&s, 2, &oh) < 0)
			return -1;
		if (ldapdir_is_digit(*s) && ldapdir_digits(&s, 2, &om) < 0)
			return -1;
		if (oh > 23 || om > 59)
			return -1;
		offset = sign * (oh * 3600LL + om * 60LL);
	} else {
		return -1;
	}
	if (*s != '\0')
		return -1;
	if (mon < 1 || mon > 12 || day < 1 ||
	    day > ldapdir_month_days(year, mon) || hour > 23 || min > 59 ||
	    sec > 60)
		return -1;
	t = ldapdir_days_from_civil(year, mon, day) * 86400LL +
	    hour * 3600LL + min * 60LL + sec + frac - offset;
	if ((long long)(time_t)t != t)
		return -1;
	*t_r = (time_t)t;
	return 0;
}

/*
 * DNs and the password file.
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

/* ldapdir_dn_normalize - one normal form for DN comparison */
int ldapdir_dn_normalize(const char *dn, char *out, size_t outsize,
			 const char **error_r)
{
	char *norm = NULL;
	size_t len, i;
	int rc;

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
	rc = ldap_dn_normalize(dn, LDAP_DN_FORMAT_LDAP, &norm,
			       LDAP_DN_FORMAT_LDAPV3);
	if (rc != LDAP_SUCCESS) {
		*error_r = error_printf("invalid DN: %s",
					ldap_err2string(rc));
		return -1;
	}
	len = norm == NULL ? 0 : strlen(norm);
	if (len == 0) {
		ldap_memfree(norm);
		*error_r = "empty DN";
		return -1;
	}
	if (len >= outsize) {
		ldap_memfree(norm);
		*error_r = "DN too long";
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

/* ldapdir_read_password_file - first line of a file, bounded */
int ldapdir_read_password_file(const char *path, char **password_r,
			       const char **error_r)
{
	char buf[LDAPDIR_PASSWORD_MAX + 3];
	size_t len = 0, line;
	char *nl = NULL;
	ssize_t n;
	int fd;

	if (ldapdir_empty(path)) {
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
	if (line > LDAPDIR_PASSWORD_MAX) {
		explicit_bzero(buf, sizeof(buf));
		*error_r = error_printf("%s: password longer than %d bytes",
					path, LDAPDIR_PASSWORD_MAX);
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

/* ldapdir_password_free - wipe and free a password */
void ldapdir_password_free(char **passwordp)
{
	char *password = *passwordp;

	if (password == NULL)
		return;
	*passwordp = NULL;
	explicit_bzero(password, strlen(password));
	free(password);
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

/* ldapdir_reasonf - say why the current entry (or value) is not usable */
static void __attribute__((format(printf, 2, 3)))
ldapdir_reasonf(struct ldapdir_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(ctx->reason, sizeof(ctx->reason), fmt, ap);
	va_end(ap);
}

/* ldapdir_skipf - skip the current entry for the reason formatted */
static int __attribute__((format(printf, 2, 3)))
ldapdir_skipf(struct ldapdir_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(ctx->reason, sizeof(ctx->reason), fmt, ap);
	va_end(ap);
	return ldapdir_skip(ctx, ctx->reason);
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

	if (ldapdir_empty(attr))
		return 0;
	a = ldapdir_entry_attr(entry, attr);
	if (a == NULL)
		return 0;
	if (out->n + a->count > max_count) {
		ldapdir_reasonf(ctx, "more than %zu values of %s", max_count,
				attr);
		return -1;
	}
	for (i = 0; i < a->count; i++) {
		const struct berval *bv = &a->values[i];

		if (bv->bv_len > max_len) {
			ldapdir_reasonf(ctx,
					"value of %s too long (%lu bytes, at most %zu)",
					attr, (unsigned long)bv->bv_len,
					max_len);
			return -1;
		}
		if (bv->bv_len == 0 || memchr(bv->bv_val, '\0', bv->bv_len)) {
			ldapdir_reasonf(ctx,
					"value of %s is empty or contains a NUL byte",
					attr);
			return -1;
		}
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
	if (ldapdir_empty(attr))
		return 0;
	if (ldapdir_values(ctx, entry, attr, max_len, LDAPDIR_VALUES_MAX,
			   &ctx->singles) < 0)
		return -1;
	if (ctx->singles.n - before > 1) {
		ldapdir_reasonf(ctx, "more than one value of %s", attr);
		return -1;
	}
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

	if (ldapdir_empty(attr))
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
			(void)snprintf(ctx->reason, sizeof(ctx->reason),
				       "%s value \"%s\": %s%s", attr, shown,
				       error, drop_bad ? "; value ignored" : "");
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
	if (ctx->singles.n - before > 1) {
		ldapdir_reasonf(ctx, "more than one value of %s", attr);
		return -1;
	}
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

/* ldapdir_stage_result - count a stage result; -1 when the replica failed */
static int ldapdir_stage_result(struct ldapdir_ctx *ctx, int ret)
{
	if (ret < 0) {
		ldapdir_reasonf(ctx,
				"%s: cannot stage the entry into the replica",
				ctx->dn_print);
		return -1;
	}
	if (ret > 0)
		ctx->stats->skipped++;
	return 0;
}

/*
 * One handler per kind of entry: 0 done or skipped, -1 replica failure.
 */

/* ldapdir_company - a company entry */
static int ldapdir_company(struct ldapdir_ctx *ctx,
			   const struct ldapdir_entry *entry)
{
	const struct config *cfg = ctx->cfg;
	struct replica_company c;

	memset(&c, 0, sizeof(c));
	if (ldapdir_values(ctx, entry, cfg->ldap_company_domain_attribute,
			   LDAPDIR_DOMAIN_MAX, LDAPDIR_VALUES_MAX,
			   &ctx->list1) < 0 ||
	    ldapdir_dn_single(ctx, entry, cfg->ldap_company_group_attribute,
			      &c.group_dn) < 0)
		return ldapdir_skip(ctx, ctx->reason);
	if (ctx->list1.n == 0) {
		return ldapdir_skipf(ctx, "company without %s",
				     cfg->ldap_company_domain_attribute);
	}
	c.dn = ctx->dn;
	c.domains = ldapdir_strlist_array(&ctx->list1);
	return ldapdir_stage_result(ctx, replica_stage_company(ctx->w, &c));
}

/* ldapdir_group - a group entry */
static int ldapdir_group(struct ldapdir_ctx *ctx,
			 const struct ldapdir_entry *entry)
{
	struct replica_group g;
	size_t a;

	memset(&g, 0, sizeof(g));
	for (a = 0; a < ctx->member_attrs.n; a++) {
		/* One bad member costs that member, not the group. */
		if (ldapdir_dn_values(ctx, entry, ctx->member_attrs.names[a],
				      LDAPDIR_MEMBERS_MAX, true,
				      &ctx->list1) < 0)
			return ldapdir_skip(ctx, ctx->reason);
	}
	g.dn = ctx->dn;
	g.member_dns = ldapdir_strlist_array(&ctx->list1);
	return ldapdir_stage_result(ctx, replica_stage_group(ctx->w, &g));
}

/* ldapdir_user - a mail user entry */
static int ldapdir_user(struct ldapdir_ctx *ctx,
			const struct ldapdir_entry *entry)
{
	const struct config *cfg = ctx->cfg;
	struct replica_user u;

	memset(&u, 0, sizeof(u));
	if (ldapdir_single(ctx, entry, cfg->ldap_user_login_attribute,
			   LDAPDIR_LOGIN_MAX, &u.login) < 0 ||
	    ldapdir_address_values(ctx, entry, &ctx->user_addr_attrs,
				   &ctx->list1) < 0)
		return ldapdir_skip(ctx, ctx->reason);
	if (u.login == NULL) {
		return ldapdir_skipf(ctx, "user without %s",
				     cfg->ldap_user_login_attribute);
	}
	u.dn = ctx->dn;
	u.addresses = ldapdir_strlist_array(&ctx->list1);
	return ldapdir_stage_result(ctx, replica_stage_user(ctx->w, &u));
}

/* ldapdir_mailbox - a mailbox entry (not a user's primary one) */
static int ldapdir_mailbox(struct ldapdir_ctx *ctx,
			   const struct ldapdir_entry *entry)
{
	const struct config *cfg = ctx->cfg;
	char shown[LDAPDIR_PRINT_MAX];
	struct replica_mailbox m;
	const char *kind;

	memset(&m, 0, sizeof(m));
	if (ldapdir_single(ctx, entry, cfg->ldap_mailbox_kind_attribute,
			   LDAPDIR_KIND_MAX, &kind) < 0 ||
	    ldapdir_address_values(ctx, entry, &ctx->mailbox_addr_attrs,
				   &ctx->list1) < 0 ||
	    ldapdir_dn_single(ctx, entry, cfg->ldap_mailbox_owner_attribute,
			      &m.owner_dn) < 0 ||
	    ldapdir_dn_single(ctx, entry, cfg->ldap_mailbox_group_attribute,
			      &m.group_dn) < 0 ||
	    ldapdir_single(ctx, entry, cfg->ldap_mailbox_rights_attribute,
			   LDAPDIR_RIGHTS_MAX, &m.rights) < 0)
		return ldapdir_skip(ctx, ctx->reason);
	if (kind == NULL) {
		return ldapdir_skipf(ctx, "mailbox without %s",
				     cfg->ldap_mailbox_kind_attribute);
	}
	if (strcasecmp(kind, "private") == 0) {
		m.kind = REPLICA_MAILBOX_PRIVATE;
	} else if (strcasecmp(kind, "company") == 0) {
		m.kind = REPLICA_MAILBOX_COMPANY;
	} else {
		text_printable(shown, sizeof(shown),
			       kind, strlen(kind), TEXT_MARK);
		return ldapdir_skipf(ctx,
				     "unknown %s \"%s\" (private or company)",
				     cfg->ldap_mailbox_kind_attribute, shown);
	}
	if (m.kind == REPLICA_MAILBOX_PRIVATE && m.owner_dn == NULL) {
		return ldapdir_skipf(ctx, "private mailbox without %s",
				     cfg->ldap_mailbox_owner_attribute);
	}
	if (ctx->list1.n == 0) {
		return ldapdir_skipf(ctx, "mailbox without an address (%s)",
				     cfg->ldap_mailbox_address_attributes);
	}
	m.dn = ctx->dn;
	m.addresses = ldapdir_strlist_array(&ctx->list1);
	return ldapdir_stage_result(ctx, replica_stage_mailbox(ctx->w, &m));
}

/* ldapdir_share_time - an optional time attribute of a share */
static int ldapdir_share_time(struct ldapdir_ctx *ctx,
			      const struct ldapdir_entry *entry,
			      const char *attr, time_t *t_r)
{
	char shown[LDAPDIR_PRINT_MAX];
	const char *value;

	*t_r = 0;
	if (ldapdir_single(ctx, entry, attr, LDAPDIR_TIME_MAX, &value) < 0)
		return -1;
	if (value == NULL)
		return 0;
	if (ldapdir_parse_generalized_time(value, t_r) < 0) {
		text_printable(shown, sizeof(shown),
			       value, strlen(value), TEXT_MARK);
		ldapdir_reasonf(ctx, "%s \"%s\" is not a GeneralizedTime", attr,
				shown);
		return -1;
	}
	/* 0 means "open": a time at the epoch itself moves by a second
	   rather than turning an ended window into an open one. */
	if (*t_r == 0)
		*t_r = 1;
	return 0;
}

/* ldapdir_share - a share entry below the mailbox it shares */
static int ldapdir_share(struct ldapdir_ctx *ctx,
			 const struct ldapdir_entry *entry)
{
	const struct config *cfg = ctx->cfg;
	const struct ldapdir_attr *desc;
	struct replica_share s;
	char *description = NULL;
	int ret;

	memset(&s, 0, sizeof(s));
	if (ldapdir_dn_values(ctx, entry, cfg->ldap_share_grantee_attribute,
			      LDAPDIR_VALUES_MAX, false, &ctx->list1) < 0 ||
	    ldapdir_single(ctx, entry, cfg->ldap_share_rights_attribute,
			   LDAPDIR_RIGHTS_MAX, &s.rights) < 0 ||
	    ldapdir_share_time(ctx, entry,
			       cfg->ldap_share_not_before_attribute,
			       &s.not_before) < 0 ||
	    ldapdir_share_time(ctx, entry,
			       cfg->ldap_share_not_after_attribute,
			       &s.not_after) < 0)
		return ldapdir_skip(ctx, ctx->reason);
	if (ctx->list1.n == 0) {
		return ldapdir_skipf(ctx, "share without %s",
				     cfg->ldap_share_grantee_attribute);
	}
	if (s.not_before != 0 && s.not_after != 0 &&
	    s.not_after < s.not_before) {
		return ldapdir_skipf(ctx, "%s is before %s",
				     cfg->ldap_share_not_after_attribute,
				     cfg->ldap_share_not_before_attribute);
	}
	/* The description is only shown to people: a long one is cut at
	   a character boundary rather than losing the share. */
	desc = ldapdir_entry_attr(entry, LDAPDIR_DESCRIPTION_ATTR);
	if (desc != NULL && desc->values[0].bv_len > 0) {
		const char *val = desc->values[0].bv_val;
		size_t len = desc->values[0].bv_len;
		const char *nul = memchr(val, '\0', len);

		if (nul != NULL)
			len = (size_t)(nul - val);
		if (len > LDAPDIR_DESCRIPTION_MAX) {
			len = LDAPDIR_DESCRIPTION_MAX;
			while (len > 0 &&
			       ((unsigned char)val[len] & 0xc0) == 0x80)
				len--;
		}
		description = xstrndup(val, len);
	}
	s.dn = ctx->dn;
	s.grantee_dns = ldapdir_strlist_array(&ctx->list1);
	s.description = description;
	ret = replica_stage_share(ctx->w, &s);
	free(description);
	return ldapdir_stage_result(ctx, ret);
}

/* ldapdir_entry_view - common handling of one entry: its DN, then the
   kind */
static int ldapdir_entry_view(struct ldapdir_ctx *ctx,
			      const struct ldapdir_entry *entry,
			      ldapdir_entry_fn *fn)
{
	const char *error;
	int ret;

	ctx->stats->entries++;
	if (entry->dn == NULL) {
		(void)snprintf(ctx->dn_print, sizeof(ctx->dn_print),
			       "(no DN)");
		return ldapdir_skip(ctx, "entry without a usable DN");
	}
	text_printable(ctx->dn_print, sizeof(ctx->dn_print), entry->dn,
			  strlen(entry->dn), TEXT_MARK);
	ret = ldapdir_dn_normalize(entry->dn, ctx->dn, sizeof(ctx->dn),
				   &error);
	if (ret < 0)
		return ldapdir_skip(ctx, error);

	ret = fn(ctx, entry);
	ldapdir_strlist_clear(&ctx->list1);
	ldapdir_strlist_clear(&ctx->singles);
	return ret;
}

/* ldapdir_has_nul - a NUL byte before the last one (libldap's test of
   a string it returns: a trailing NUL only shortens it) */
static bool ldapdir_has_nul(const struct berval *bv)
{
	return bv->bv_len > 1 && memchr(bv->bv_val, '\0', bv->bv_len - 1);
}

/* ldapdir_entry_message - the view of a search result entry, DN, names
   and values decoded in one pass and referenced in place, handled */
static int ldapdir_entry_message(struct ldapdir_ctx *ctx, LDAPMessage *msg,
				 ldapdir_entry_fn *fn)
{
	struct ldapdir_entry entry = { NULL, NULL, 0 };
	BerElement *ber = NULL;
	struct berval dn, name, *vals;
	size_t i, n = 0, count;
	int ret;

	/* An undecodable DN makes the entry unusable, as ldap_get_dn()
	   does; an undecodable attribute ends the list, as it ends
	   ldap_get_values_len()'s search. */
	if (ldap_get_dn_ber(ctx->ld, msg, &ber, &dn) == LDAP_SUCCESS &&
	    dn.bv_val != NULL && !ldapdir_has_nul(&dn)) {
		entry.dn = dn.bv_val;
		for (;;) {
			vals = NULL;
			if (ldap_get_attribute_ber(ctx->ld, msg, ber, &name,
						   &vals) != LDAP_SUCCESS ||
			    name.bv_val == NULL || ldapdir_has_nul(&name)) {
				ber_memfree(vals);
				break;
			}
			for (count = 0; vals != NULL &&
			     vals[count].bv_val != NULL; count++)
				;
			ctx->view_attrs = xgrow(ctx->view_attrs,
						&ctx->view_alloc, n + 1,
						sizeof(*ctx->view_attrs), 16);
			ctx->view_attrs[n].name = name.bv_val;
			ctx->view_attrs[n].values = vals;
			ctx->view_attrs[n].count = count;
			n++;
		}
	}
	entry.attrs = ctx->view_attrs;
	entry.count = n;
	ret = ldapdir_entry_view(ctx, &entry, fn);
	for (i = 0; i < n; i++)
		ber_memfree((void *)ctx->view_attrs[i].values);
	if (ber != NULL)
		ber_free(ber, 0);
	return ret;
}

/*
 * The connection and the searches.
 */

/* ldapdir_ld_error - the session's last result code and message */
static const char *ldapdir_ld_error(LDAP *ld, int rc)
{
	static char buf[512];
	char shown[LDAPDIR_PRINT_MAX];
	char *diag = NULL;

	if (ld != NULL &&
	    ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag) ==
		    LDAP_OPT_SUCCESS &&
	    diag != NULL && *diag != '\0' &&
	    strcmp(diag, "(unknown error code)") != 0) {
		text_printable(shown, sizeof(shown),
			       diag, strlen(diag), TEXT_MARK);
		(void)snprintf(buf, sizeof(buf), "%s (%s)",
			       ldap_err2string(rc), shown);
	} else {
		(void)snprintf(buf, sizeof(buf), "%s", ldap_err2string(rc));
	}
	ldap_memfree(diag);
	return buf;
}

/* ldapdir_option - set one option; every failure is fatal */
static int ldapdir_option(struct ldapdir_ctx *ctx, int option,
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

/* ldapdir_sasl_interact - EXTERNAL asks for nothing we need to give:
   the authorisation identity stays the authenticated one */
static int ldapdir_sasl_interact(LDAP *ld, unsigned flags, void *defaults,
				 void *interact)
{
	(void)ld;
	(void)flags;
	(void)defaults;
	(void)interact;
	return LDAP_SUCCESS;
}

/* ldapdir_connect_options - initialise the handle, set every option
   (each checked), and the TLS ones when the connection uses TLS */
static int ldapdir_connect_options(struct ldapdir_ctx *ctx, bool tls,
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
	if (ldapdir_option(ctx, LDAP_OPT_PROTOCOL_VERSION, &version,
			   "LDAP_OPT_PROTOCOL_VERSION", error_r) < 0 ||
	    ldapdir_option(ctx, LDAP_OPT_REFERRALS, LDAP_OPT_OFF,
			   "LDAP_OPT_REFERRALS", error_r) < 0 ||
	    ldapdir_option(ctx, LDAP_OPT_RESTART, LDAP_OPT_ON,
			   "LDAP_OPT_RESTART", error_r) < 0)
		return -1;
	if (cfg->ldap_network_timeout > 0) {
		tv.tv_sec = (time_t)cfg->ldap_network_timeout;
		tv.tv_usec = 0;
		if (ldapdir_option(ctx, LDAP_OPT_NETWORK_TIMEOUT, &tv,
				   "LDAP_OPT_NETWORK_TIMEOUT", error_r) < 0 ||
		    ldapdir_option(ctx, LDAP_OPT_TIMEOUT, &tv,
				   "LDAP_OPT_TIMEOUT", error_r) < 0)
			return -1;
	}
	if (cfg->ldap_search_timeout > 0) {
		ival = (int)cfg->ldap_search_timeout;
		if (ldapdir_option(ctx, LDAP_OPT_TIMELIMIT, &ival,
				   "LDAP_OPT_TIMELIMIT", error_r) < 0)
			return -1;
	}
	if (tls) {
		ival = LDAP_OPT_X_TLS_DEMAND;
		/* libldap's message for an unreadable CA file is "Can't
		   contact LDAP server"; say what is wrong instead. */
		if (!ldapdir_empty(cfg->ldap_tls_ca_file) &&
		    access(cfg->ldap_tls_ca_file, R_OK) < 0) {
			*error_r = error_printf(
				"ldap_tls_ca_file %s: %s",
				cfg->ldap_tls_ca_file, strerror(errno));
			return -1;
		}
		if (!ldapdir_empty(cfg->ldap_tls_ca_file) &&
		    ldapdir_option(ctx, LDAP_OPT_X_TLS_CACERTFILE,
				   cfg->ldap_tls_ca_file,
				   "LDAP_OPT_X_TLS_CACERTFILE", error_r) < 0)
			return -1;
		if (ldapdir_option(ctx, LDAP_OPT_X_TLS_REQUIRE_CERT, &ival,
				   "LDAP_OPT_X_TLS_REQUIRE_CERT",
				   error_r) < 0)
			return -1;
		/* The options above only apply to a new TLS context. */
		ival = 0;
		if (ldapdir_option(ctx, LDAP_OPT_X_TLS_NEWCTX, &ival,
				   "LDAP_OPT_X_TLS_NEWCTX (is ldap_tls_ca_file "
				   "a PEM certificate?)", error_r) < 0)
			return -1;
	}
	return 0;
}

/* ldapdir_connect_start - connect, and STARTTLS where configured */
static int ldapdir_connect_start(struct ldapdir_ctx *ctx, bool tls,
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
					ldapdir_ld_error(ctx->ld, rc),
					tls ? LDAPDIR_TLS_HINT : "");
		return -1;
	}
	if (cfg->ldap_starttls) {
		rc = ldap_start_tls_s(ctx->ld, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			*error_r = error_printf(
				"%s: STARTTLS: %s%s", cfg->ldap_uri,
				ldapdir_ld_error(ctx->ld, rc),
				rc == LDAP_CONNECT_ERROR ? LDAPDIR_TLS_HINT
							 : "");
			return -1;
		}
	}
	return 0;
}

/* ldapdir_bind - bind as bind_dn, or as configured (SASL EXTERNAL, the
   configured DN, or anonymous) when it is NULL */
static int ldapdir_bind(struct ldapdir_ctx *ctx, const char *bind_dn,
			const char *password, const char **error_r)
{
	const struct config *cfg = ctx->cfg;
	int rc;

	if (bind_dn == NULL && !ldapdir_empty(cfg->ldap_sasl_mech)) {
		if (strcasecmp(cfg->ldap_sasl_mech, "EXTERNAL") != 0) {
			*error_r = error_printf(
				"ldap_sasl_mech: unsupported mechanism %s "
				"(only EXTERNAL)", cfg->ldap_sasl_mech);
			return -1;
		}
		rc = ldap_sasl_interactive_bind_s(ctx->ld, NULL, "EXTERNAL",
						  NULL, NULL, LDAP_SASL_QUIET,
						  ldapdir_sasl_interact, NULL);
		if (rc != LDAP_SUCCESS) {
			*error_r = error_printf(
				"SASL EXTERNAL bind to %s: %s", cfg->ldap_uri,
				ldapdir_ld_error(ctx->ld, rc));
			return -1;
		}
		return 0;
	}
	if (bind_dn == NULL)
		bind_dn = cfg->ldap_bind_dn;
	if (ldapdir_empty(bind_dn)) {
		/* Anonymous: LDAPv3 needs no bind at all. */
		return 0;
	} else {
		struct berval cred;
		char *own = NULL;

		if (password == NULL) {
			if (ldapdir_empty(cfg->ldap_bind_password_file)) {
				*error_r = error_printf(
					"bind as %s: ldap_bind_password_file "
					"is not set", bind_dn);
				return -1;
			}
			if (ldapdir_read_password_file(
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
		ldapdir_password_free(&own);
		if (rc != LDAP_SUCCESS) {
			*error_r = error_printf(
				"bind as %s: %s", bind_dn,
				ldapdir_ld_error(ctx->ld, rc));
			return -1;
		}
	}
	return 0;
}

/* ldapdir_connect_as - connect and bind as bind_dn (NULL: as configured) */
static int ldapdir_connect_as(struct ldapdir_ctx *ctx, const char *bind_dn,
			      const char *password, const char **error_r)
{
	const struct config *cfg = ctx->cfg;
	bool tls = cfg->ldap_starttls ||
		   strncasecmp(cfg->ldap_uri, "ldaps:", 6) == 0;

	if (ldapdir_connect_options(ctx, tls, error_r) < 0 ||
	    ldapdir_connect_start(ctx, tls, error_r) < 0)
		return -1;
	return ldapdir_bind(ctx, bind_dn, password, error_r);
}

/* ldapdir_connect - connect and bind as the configured identity */
static int ldapdir_connect(struct ldapdir_ctx *ctx, const char *password,
			   const char **error_r)
{
	return ldapdir_connect_as(ctx, NULL, password, error_r);
}

/* ldapdir_page_send - ask for the next page (the first: cookie empty);
   the deadline is when waiting for its answer ends */
static int ldapdir_page_send(struct ldapdir_ctx *ctx, const char *filter,
			     char **attrs, struct berval *cookie,
			     int *msgid_r, struct timeval *deadline_r,
			     const char **error_r)
{
	const struct config *cfg = ctx->cfg;
	LDAPControl *page = NULL, *ctrls[2] = { NULL, NULL };
	struct timeval limit;
	int rc;

	if (cfg->ldap_page_size > 0) {
		rc = ldap_create_page_control(ctx->ld,
					      (ber_int_t)cfg->ldap_page_size,
					      cookie, 1, &page);
		if (rc != LDAP_SUCCESS) {
			*error_r = error_printf(
				"search %s below %s: paged results "
				"control: %s", filter, cfg->ldap_base,
				ldap_err2string(rc));
			return -1;
		}
		ctrls[0] = page;
	}
	/* The time limit goes to the server (per page) and bounds how
	   long we wait for the page ourselves. */
	limit.tv_sec = (time_t)cfg->ldap_search_timeout;
	limit.tv_usec = 0;
	rc = ldap_search_ext(ctx->ld, cfg->ldap_base, LDAP_SCOPE_SUBTREE,
			     filter, attrs, 0, page != NULL ? ctrls : NULL,
			     NULL,
			     cfg->ldap_search_timeout > 0 ? &limit : NULL,
			     LDAP_NO_LIMIT, msgid_r);
	if (page != NULL)
		ldap_control_free(page);
	if (rc != LDAP_SUCCESS) {
		*error_r = error_printf("search %s below %s: %s", filter,
					cfg->ldap_base,
					ldapdir_ld_error(ctx->ld, rc));
		return -1;
	}
	(void)gettimeofday(deadline_r, NULL);
	/* A second of grace so the server's own limit, with its clear
	   result code, normally comes first. */
	deadline_r->tv_sec += (time_t)cfg->ldap_search_timeout + 1;
	return 0;
}

/* ldapdir_page_wait - the next message of the search: its type, or -1
   (the search abandoned when the deadline passed) */
static int ldapdir_page_wait(struct ldapdir_ctx *ctx, const char *filter,
			     int msgid, const struct timeval *deadline,
			     LDAPMessage **msg_r, const char **error_r)
{
	const struct config *cfg = ctx->cfg;
	struct timeval wait, now;
	int rc, err;

	do {
		if (cfg->ldap_search_timeout > 0) {
			(void)gettimeofday(&now, NULL);
			if (!timercmp(&now, deadline, <)) {
				(void)ldap_abandon_ext(ctx->ld, msgid, NULL,
						       NULL);
				*error_r = error_printf(
					"search %s below %s: %s "
					"(no answer within %u s)",
					filter, cfg->ldap_base,
					ldap_err2string(LDAP_TIMEOUT),
					cfg->ldap_search_timeout);
				return -1;
			}
			timersub(deadline, &now, &wait);
		} else {
			wait.tv_sec = 3600;
			wait.tv_usec = 0;
		}
		*msg_r = NULL;
		rc = ldap_result(ctx->ld, msgid, LDAP_MSG_ONE, &wait, msg_r);
	} while (rc == 0);
	if (rc < 0) {
		err = LDAP_OTHER;
		(void)ldap_get_option(ctx->ld, LDAP_OPT_RESULT_CODE, &err);
		*error_r = error_printf("search %s below %s: %s", filter,
					cfg->ldap_base,
					ldapdir_ld_error(ctx->ld, err));
		return -1;
	}
	return rc;
}

/* ldapdir_page_end - the result of a page (msg freed): its code, and
   the cookie of the next page (empty after the last) */
static int ldapdir_page_end(struct ldapdir_ctx *ctx, const char *filter,
			    LDAPMessage *msg, struct berval *cookie,
			    const char **error_r)
{
	const struct config *cfg = ctx->cfg;
	LDAPControl **rctrls = NULL, *rpage;
	char *diag = NULL;
	int rc, err;

	ctx->stats->pages++;
	rc = ldap_parse_result(ctx->ld, msg, &err, NULL, &diag, NULL,
			       &rctrls, 1);
	if (rc != LDAP_SUCCESS) {
		*error_r = error_printf("search %s below %s: %s", filter,
					cfg->ldap_base, ldap_err2string(rc));
		return -1;
	}
	if (err != LDAP_SUCCESS) {
		char shown[LDAPDIR_PRINT_MAX];

		if (diag != NULL && *diag != '\0')
			text_printable_str(shown, sizeof(shown), diag,
					   TEXT_MARK);
		else
			shown[0] = '\0';
		*error_r = error_printf("search %s below %s: %s%s%s%s",
					filter, cfg->ldap_base,
					ldap_err2string(err),
					shown[0] ? " (" : "", shown,
					shown[0] ? ")" : "");
		ldap_memfree(diag);
		ldap_controls_free(rctrls);
		return -1;
	}
	ldap_memfree(diag);
	ber_memfree(cookie->bv_val);
	cookie->bv_val = NULL;
	cookie->bv_len = 0;
	rpage = rctrls == NULL ? NULL :
		ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, rctrls, NULL);
	if (cfg->ldap_page_size > 0 && rpage != NULL) {
		ber_int_t estimate;

		rc = ldap_parse_pageresponse_control(ctx->ld, rpage,
						     &estimate, cookie);
		if (rc != LDAP_SUCCESS) {
			*error_r = error_printf(
				"search %s below %s: bad paged results "
				"response: %s", filter, cfg->ldap_base,
				ldap_err2string(rc));
			ldap_controls_free(rctrls);
			return -1;
		}
	}
	ldap_controls_free(rctrls);
	return 0;
}

/* ldapdir_search - one paged subtree search, each entry to fn */
static int ldapdir_search(struct ldapdir_ctx *ctx, const char *filter,
			  char **attrs, ldapdir_entry_fn *fn,
			  const char **error_r)
{
	struct berval cookie = { 0, NULL };
	struct timeval deadline;
	LDAPMessage *msg;
	int ret = -1, type, msgid;

	do {
		if (ldapdir_page_send(ctx, filter, attrs, &cookie, &msgid,
				      &deadline, error_r) < 0)
			goto out;
		do {
			type = ldapdir_page_wait(ctx, filter, msgid,
						 &deadline, &msg, error_r);
			if (type < 0)
				goto out;
			if (type == LDAP_RES_SEARCH_RESULT) {
				if (ldapdir_page_end(ctx, filter, msg,
						     &cookie, error_r) < 0)
					goto out;
			} else if (type == LDAP_RES_SEARCH_ENTRY) {
				int rc = ldapdir_entry_message(ctx, msg, fn);

				ldap_msgfree(msg);
				if (rc < 0) {
					*error_r = error_printf("%s",
								ctx->reason);
					goto out;
				}
			} else {
				/* Search references: referrals are off,
				   and entries elsewhere are not ours. */
				ldap_msgfree(msg);
			}
		} while (type != LDAP_RES_SEARCH_RESULT);
	} while (cookie.bv_val != NULL && cookie.bv_len > 0);
	ret = 0;
out:
	ber_memfree(cookie.bv_val);
	return ret;
}

/* ldapdir_attrs - the NULL-terminated list of attributes to request */
static void ldapdir_attrs(char **out, size_t outsize, const char *const *in,
			  size_t n)
{
	size_t i, j, o = 0;

	for (i = 0; i < n && o + 1 < outsize; i++) {
		if (ldapdir_empty(in[i]))
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

/* ldapdir_check_config - what the read needs from the configuration */
static int ldapdir_check_config(const struct config *cfg,
				const char **error_r)
{
	static const struct {
		const char *key;
		size_t offset;
	} required[] = {
#define REQ(f) { #f, offsetof(struct config, f) }
		REQ(ldap_uri), REQ(ldap_base),
		REQ(ldap_company_filter), REQ(ldap_group_filter),
		REQ(ldap_user_filter), REQ(ldap_mailbox_filter),
		REQ(ldap_share_filter),
		REQ(ldap_company_domain_attribute),
		REQ(ldap_user_login_attribute),
		REQ(ldap_mailbox_kind_attribute),
		REQ(ldap_mailbox_owner_attribute),
		REQ(ldap_share_grantee_attribute),
#undef REQ
	};
	size_t i;

	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		const char *v = *(char *const *)(const void *)
			((const char *)cfg + required[i].offset);

		if (ldapdir_empty(v)) {
			*error_r = error_printf("%s is not set",
						required[i].key);
			return -1;
		}
	}
	return 0;
}

/* ldapdir_ctx_init - the state of one read or conversion, without a
   connection; ldapdir_ctx_deinit() releases it even on error */
static int ldapdir_ctx_init(struct ldapdir_ctx *ctx, const struct config *cfg,
			    struct replica_writer *w, replica_warn_fn *warn,
			    void *warn_context, struct ldapdir_stats *stats,
			    const char **error_r)
{
	memset(ctx, 0, sizeof(*ctx));
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
				  error_r) < 0)
		return -1;
	return 0;
}

/* ldapdir_ctx_deinit - unbind and release what the state holds */
static void ldapdir_ctx_deinit(struct ldapdir_ctx *ctx)
{
	if (ctx->ld != NULL)
		(void)ldap_unbind_ext_s(ctx->ld, NULL, NULL);
	ctx->ld = NULL;
	ldapdir_attrlist_free(&ctx->user_addr_attrs);
	ldapdir_attrlist_free(&ctx->mailbox_addr_attrs);
	ldapdir_attrlist_free(&ctx->member_attrs);
	ldapdir_strlist_free(&ctx->list1);
	ldapdir_strlist_free(&ctx->singles);
	free(ctx->view_attrs);
	ctx->view_attrs = NULL;
	ctx->view_alloc = 0;
}

/* ldapdir_read_with_password - the whole directory into the writer */
int ldapdir_read_with_password(const struct config *cfg,
			       const char *password,
			       struct replica_writer *w,
			       replica_warn_fn *warn, void *warn_context,
			       struct ldapdir_stats *stats_r,
			       const char **error_r)
{
	struct ldapdir_ctx ctx;
	const char *names[3 * LDAPDIR_ATTRS_MAX + 8];
	char *attrs[3 * LDAPDIR_ATTRS_MAX + 8];
	size_t n;
	int ret = -1;

	memset(stats_r, 0, sizeof(*stats_r));
	if (ldapdir_check_config(cfg, error_r) < 0)
		return -1;
	if (ldapdir_ctx_init(&ctx, cfg, w, warn, warn_context, stats_r,
			     error_r) < 0)
		goto out;
	if (ldapdir_connect(&ctx, password, error_r) < 0)
		goto out;

	/* Companies. */
	n = 0;
	names[n++] = cfg->ldap_company_domain_attribute;
	names[n++] = cfg->ldap_company_group_attribute;
	ldapdir_attrs(attrs, sizeof(attrs) / sizeof(attrs[0]), names, n);
	if (ldapdir_search(&ctx, cfg->ldap_company_filter, attrs,
			   ldapdir_company, error_r) < 0)
		goto out;

	/* Groups. */
	n = ldapdir_append_list(names, 0, &ctx.member_attrs);
	ldapdir_attrs(attrs, sizeof(attrs) / sizeof(attrs[0]), names, n);
	if (ldapdir_search(&ctx, cfg->ldap_group_filter, attrs,
			   ldapdir_group, error_r) < 0)
		goto out;

	/* Users. */
	n = 0;
	names[n++] = cfg->ldap_user_login_attribute;
	n = ldapdir_append_list(names, n, &ctx.user_addr_attrs);
	ldapdir_attrs(attrs, sizeof(attrs) / sizeof(attrs[0]), names, n);
	if (ldapdir_search(&ctx, cfg->ldap_user_filter, attrs, ldapdir_user,
			   error_r) < 0)
		goto out;

	/* Mailboxes. */
	n = 0;
	names[n++] = cfg->ldap_mailbox_kind_attribute;
	names[n++] = cfg->ldap_mailbox_owner_attribute;
	names[n++] = cfg->ldap_mailbox_group_attribute;
	names[n++] = cfg->ldap_mailbox_rights_attribute;
	n = ldapdir_append_list(names, n, &ctx.mailbox_addr_attrs);
	ldapdir_attrs(attrs, sizeof(attrs) / sizeof(attrs[0]), names, n);
	if (ldapdir_search(&ctx, cfg->ldap_mailbox_filter, attrs,
			   ldapdir_mailbox, error_r) < 0)
		goto out;

	/* Shares. */
	n = 0;
	names[n++] = cfg->ldap_share_grantee_attribute;
	names[n++] = cfg->ldap_share_rights_attribute;
	names[n++] = cfg->ldap_share_not_before_attribute;
	names[n++] = cfg->ldap_share_not_after_attribute;
	names[n++] = LDAPDIR_DESCRIPTION_ATTR;
	ldapdir_attrs(attrs, sizeof(attrs) / sizeof(attrs[0]), names, n);
	if (ldapdir_search(&ctx, cfg->ldap_share_filter, attrs,
			   ldapdir_share, error_r) < 0)
		goto out;
	ret = 0;
out:
	ldapdir_ctx_deinit(&ctx);
	return ret;
}

/* ldapdir_read - the whole directory, reading the password file now */
int ldapdir_read(const struct config *cfg, struct replica_writer *w,
		 replica_warn_fn *warn, void *warn_context,
		 struct ldapdir_stats *stats_r, const char **error_r)
{
	return ldapdir_read_with_password(cfg, NULL, w, warn, warn_context,
					  stats_r, error_r);
}

/* ldapdir_ping - connect and bind only, for mailgrants check */
int ldapdir_ping(const struct config *cfg, const char **error_r)
{
	struct ldapdir_ctx ctx;
	int ret;

	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = cfg;
	ret = ldapdir_connect(&ctx, NULL, error_r);
	if (ctx.ld != NULL)
		(void)ldap_unbind_ext_s(ctx.ld, NULL, NULL);
	return ret;
}

/* ldapdir_open - a connected, bound session for other LDAP work */
int ldapdir_open(const struct config *cfg, const char *bind_dn,
		 const char *password, LDAP **ld_r, const char **error_r)
{
	struct ldapdir_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = cfg;
	if (ldapdir_connect_as(&ctx, bind_dn, password, error_r) < 0) {
		if (ctx.ld != NULL)
			(void)ldap_unbind_ext_s(ctx.ld, NULL, NULL);
		return -1;
	}
	*ld_r = ctx.ld;
	return 0;
}

/* ldapdir_error_text - an LDAP result code with the server's message */
const char *ldapdir_error_text(LDAP *ld, int rc)
{
	return ldapdir_ld_error(ld, rc);
}

/*
 * The conversion without a connection (ldapdir-private.h).
 */

/* ldapdir_conv_create - the conversion state for entries from elsewhere */
int ldapdir_conv_create(const struct config *cfg, struct replica_writer *w,
			replica_warn_fn *warn, void *warn_context,
			struct ldapdir_stats *stats, struct ldapdir_ctx **ctx_r,
			const char **error_r)
{
	struct ldapdir_ctx *ctx = xmalloc(sizeof(*ctx));

	if (ldapdir_ctx_init(ctx, cfg, w, warn, warn_context, stats,
			     error_r) < 0) {
		ldapdir_ctx_deinit(ctx);
		free(ctx);
		return -1;
	}
	*ctx_r = ctx;
	return 0;
}

/* ldapdir_conv_writer - stage into another writer from now on */
void ldapdir_conv_writer(struct ldapdir_ctx *ctx, struct replica_writer *w)
{
	ctx->w = w;
}

/* ldapdir_conv_entry - convert and stage one entry of a kind */
int ldapdir_conv_entry(struct ldapdir_ctx *ctx, enum ldapdir_kind kind,
		       const struct ldapdir_entry *entry,
		       const char **error_r)
{
	static ldapdir_entry_fn *const fns[LDAPDIR_KIND_COUNT] = {
		[LDAPDIR_KIND_COMPANY] = ldapdir_company,
		[LDAPDIR_KIND_GROUP] = ldapdir_group,
		[LDAPDIR_KIND_USER] = ldapdir_user,
		[LDAPDIR_KIND_MAILBOX] = ldapdir_mailbox,
		[LDAPDIR_KIND_SHARE] = ldapdir_share,
	};

	if ((unsigned int)kind >= LDAPDIR_KIND_COUNT) {
		*error_r = "unknown kind of entry";
		return -1;
	}
	if (ldapdir_entry_view(ctx, entry, fns[kind]) < 0) {
		*error_r = error_printf("%s", ctx->reason);
		return -1;
	}
	return 0;
}

/* ldapdir_conv_free - release the conversion state, NULL the pointer */
void ldapdir_conv_free(struct ldapdir_ctx **ctxp)
{
	if (*ctxp == NULL)
		return;
	ldapdir_ctx_deinit(*ctxp);
	free(*ctxp);
	*ctxp = NULL;
}
