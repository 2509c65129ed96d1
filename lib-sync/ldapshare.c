/*
 * NAME
 *	ldapshare - add and remove share entries in the directory
 * SYNOPSIS
 *	#include "ldapshare.h"
 * DESCRIPTION
 *	See ldapshare.h. This file opens the two sessions, writes and
 *	deletes share entries and makes share names; what a share names
 *	is looked up by ldapshare-find.c (ldapshare-private.h), through
 *	the configured identity, which may read the whole directory.
 *	Writes, and the question "has this grantee a share here already",
 *	go through the acting identity, so that what it may not see or
 *	change is decided by the directory's access rules and reported as
 *	the directory's refusal.
 *
 *	A new share goes in before the shares it replaces go out, so that
 *	a failure leaves the grantee with what they had.
 * DIAGNOSTICS
 *	As ldapshare.h: 0 done, 1 refused or nothing to do it to, -1 the
 *	directory unavailable (ldapshare_unavailable()); a refusal names
 *	the operation, the DN and the acting identity.
 * SEE ALSO
 *	ldapshare.h, ldapshare-private.h, ldapshare-find.c, ldapconn.c
 *	(connecting and binding), gentime.h, ldap-schema/access.ldif
 */

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldap.h>
#include <unistr.h>

#include "config.h"
#include "error.h"
#include "gentime.h"
#include "ldapconn.h"
#include "ldapdir.h"
#include "ldapshare.h"
#include "ldapshare-private.h"
#include "rights.h"
#include "text.h"
#include "xalloc.h"

#define LDAPSHARE_OBJECT_CLASS	"mailgrantsShare"
#define LDAPSHARE_NAME_ATTR	"cn"
#define LDAPSHARE_DESCRIPTION_ATTR "description"

/* ldapshare_has_control - a control character in s */
static bool ldapshare_has_control(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

/* ldapshare_write_failed - the error of a refused or failed write */
static int ldapshare_write_failed(struct ldapshare *ls, int rc,
				  const char *doing, const char *dn,
				  const char **error_r)
{
	char p[LDAPSHARE_PRINT_MAX * 2], a[LDAPSHARE_PRINT_MAX];
	const char *text = ldapconn_error_text(ls->acting, rc);

	text_printable_str(p, sizeof(p), dn, TEXT_MARK);
	if (ldapshare_unavailable(rc)) {
		*error_r = error_printf("%s %s: %s", doing, p, text);
		return -1;
	}
	*error_r = error_printf(
		"%s %s: refused by the directory: %s (as %s)", doing, p, text,
		text_printable_str(a, sizeof(a), ls->acting_name, TEXT_MARK));
	return 1;
}

/* ldapshare_note - one line about a change */
static void __attribute__((format(printf, 3, 4)))
ldapshare_note(ldapshare_note_fn *note, void *context, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	if (note == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	note(context, line);
}

/* ldapshare_changed - tell the watcher: the share dn now carries
   rights (NULL: it is gone), dn in the replica's normal form */
static void ldapshare_changed(struct ldapshare *ls, const char *dn,
			      const char *rights, enum ldapshare_change what)
{
	char norm[LDAPSHARE_DN_NORM_MAX];
	const char *error;

	if (ls->changed == NULL)
		return;
	if (ldapdir_dn_normalize(dn, norm, sizeof(norm), &error) < 0)
		return;		/* not a DN the replica could hold */
	ls->changed(ls->changed_context, norm, rights, what);
}

/* ldapshare_remove_one - take the grantee off one share: delete it when
   the grantee is its only one, else delete just that value */
static int ldapshare_remove_one(struct ldapshare *ls, LDAP *ld, LDAPMessage *e,
				const char *grantee_dn, const char *grantee_norm,
				ldapshare_note_fn *note, void *context,
				const char **error_r)
{
	const char *attr = ls->cfg->ldap_share_grantee_attribute;
	char norm[LDAPSHARE_DN_NORM_MAX];
	char p1[LDAPSHARE_PRINT_MAX * 2], p2[LDAPSHARE_PRINT_MAX];
	struct berval **vals, **del, own;
	struct berval *own_list[2] = { &own, NULL };
	size_t nvals, nmatch = 0;
	const char *error;
	char *dn = ldap_get_dn(ld, e);
	int rc, ret = 0;

	if (dn == NULL) {
		*error_r = error_printf("a share without a DN");
		return 1;
	}
	vals = ldap_get_values_len(ld, e, attr);
	nvals = vals == NULL ? 0 : (size_t)ldap_count_values_len(vals);
	del = xcalloc(nvals + 1, sizeof(*del));
	for (size_t i = 0; i < nvals; i++) {
		char *v = xstrndup(vals[i]->bv_val, vals[i]->bv_len);

		if (ldapdir_dn_normalize(v, norm, sizeof(norm), &error) == 0 &&
		    strcmp(norm, grantee_norm) == 0)
			del[nmatch++] = vals[i];
		free(v);
	}
	text_printable_str(p1, sizeof(p1), dn, TEXT_MARK);
	text_printable_str(p2, sizeof(p2), grantee_dn, TEXT_MARK);
	if (nvals > 0 && nmatch == nvals) {
		rc = ldap_delete_ext_s(ls->acting, dn, NULL, NULL);
		if (rc != LDAP_SUCCESS)
			ret = ldapshare_write_failed(ls, rc, "deleting", dn,
						     error_r);
		else {
			ldapshare_note(note, context, "deleted %s", p1);
			ldapshare_changed(ls, dn, NULL, LDAPSHARE_DELETED);
		}
	} else {
		/* Several grantees, or values this session cannot read: the
		   directory matches DN values itself, so ask it to delete
		   the grantee's value only. */
		LDAPMod mod, *mods[2] = { &mod, NULL };

		if (nmatch == 0) {
			own.bv_val = (char *)grantee_dn;
			own.bv_len = strlen(grantee_dn);
		}
		memset(&mod, 0, sizeof(mod));
		mod.mod_op = LDAP_MOD_DELETE | LDAP_MOD_BVALUES;
		mod.mod_type = (char *)attr;
		mod.mod_bvalues = nmatch > 0 ? del : own_list;
		rc = ldap_modify_ext_s(ls->acting, dn, mods, NULL, NULL);
		if (rc != LDAP_SUCCESS)
			ret = ldapshare_write_failed(ls, rc, "changing", dn,
						     error_r);
		else {
			ldapshare_note(note, context, "removed %s from %s", p2,
				       p1);
			ldapshare_changed(ls, dn, NULL,
					  LDAPSHARE_GRANTEE_REMOVED);
		}
	}
	free(del);
	ldap_value_free_len(vals);
	ldap_memfree(dn);
	return ret;
}

/* ldapshare_entry_time - a share's window end; open when absent, and
   unknown (the widest) when it cannot be parsed */
static time_t ldapshare_entry_time(LDAP *ld, LDAPMessage *e, const char *attr,
				   time_t open)
{
	struct berval **v = ldap_get_values_len(ld, e, attr);
	char buf[65];
	time_t t = open;

	if (v != NULL && v[0] != NULL && v[0]->bv_len < sizeof(buf)) {
		memcpy(buf, v[0]->bv_val, v[0]->bv_len);
		buf[v[0]->bv_len] = '\0';
		if (gentime_parse(buf, &t) < 0)
			t = open;
	}
	ldap_value_free_len(v);
	return t;
}

/* ldapshare_overlaps - the share e is active at some time from now on
   that the new share of set is: then the two would compete (what has
   ended competes with nothing) */
static bool ldapshare_overlaps(struct ldapshare *ls, LDAP *ld, LDAPMessage *e,
			       const struct ldapshare_settings *set)
{
	const struct config *cfg = ls->cfg;
	time_t min = (time_t)LLONG_MIN, max = (time_t)LLONG_MAX;
	time_t nb = ldapshare_entry_time(ld, e,
					 cfg->ldap_share_not_before_attribute,
					 min);
	time_t na = ldapshare_entry_time(ld, e,
					 cfg->ldap_share_not_after_attribute,
					 max);
	time_t from = set->not_before != 0 ? set->not_before : min;
	time_t until = set->not_after != 0 ? set->not_after : max;
	time_t now = time(NULL);

	if (from < now)
		from = now;
	return nb <= until && from <= na;
}

/* ldapshare_remove_all - take the grantee off every share in res (with
   window set, only those that overlap it) */
static int ldapshare_remove_all(struct ldapshare *ls, LDAP *ld,
				LDAPMessage *res, const char *grantee_dn,
				const struct ldapshare_settings *window,
				ldapshare_note_fn *note, void *context,
				const char **error_r)
{
	char norm[LDAPSHARE_DN_NORM_MAX], p[LDAPSHARE_PRINT_MAX];
	const char *error;
	int ret;

	if (ldapdir_dn_normalize(grantee_dn, norm, sizeof(norm), &error) < 0) {
		*error_r = error_printf(
			"grantee %s: %s",
			text_printable_str(p, sizeof(p),
					   grantee_dn, TEXT_MARK), error);
		return 1;
	}
	for (LDAPMessage *e = ldap_first_entry(ld, res); e != NULL;
	     e = ldap_next_entry(ld, e)) {
		if (window != NULL && !ldapshare_overlaps(ls, ld, e, window))
			continue;
		ret = ldapshare_remove_one(ls, ld, e, grantee_dn, norm, note,
					   context, error_r);
		if (ret != 0)
			return ret;
	}
	return 0;
}

/*
 * Opening and closing.
 */

/* ldapshare_configured_name - who the configured identity is, for
   messages */
static char *ldapshare_configured_name(const struct config *cfg)
{
	if (!text_empty(cfg->ldap_sasl_mech))
		return xasprintf("the configured identity, SASL %s",
				 cfg->ldap_sasl_mech);
	if (!text_empty(cfg->ldap_bind_dn))
		return xstrdup(cfg->ldap_bind_dn);
	return xstrdup("anonymous");
}

/* ldapshare_open - bind as the acting identity (and the configured one) */
int ldapshare_open(const struct config *cfg, const char *as,
		   const char *password, struct ldapshare **ls_r,
		   const char **error_r)
{
	struct ldapshare *ls;
	const char *ignored;
	int ret;

	*ls_r = NULL;
	if (text_empty(cfg->ldap_base)) {
		*error_r = "ldap_base is not set in the configuration";
		return 1;
	}
	if (as != NULL &&
	    (ret = ldapshare_input_check(as, "identity", error_r)) != 0)
		return ret;
	if (as != NULL && password == NULL) {
		*error_r = "no password for the acting identity";
		return 1;
	}
	ls = xcalloc(1, sizeof(*ls));
	ls->cfg = cfg;
	ret = -1;
	if (as == NULL) {
		/* The configured identity acts itself. */
		if (ldapconn_open(cfg, NULL, NULL, &ls->lookup, error_r) < 0)
			goto fail;
		ls->acting = ls->lookup;
		ls->acting_name = ldapshare_configured_name(cfg);
	} else if (strchr(as, '=') != NULL) {
		ret = ldapconn_open_user(cfg, as, password, &ls->acting,
					 error_r);
		if (ret != 0) {
			ret = ret > 0 ? LDAPSHARE_BAD_PASSWORD : -1;
			goto fail;
		}
		ls->acting_name = xstrdup(as);
		/* The configured identity reads what the acting one may
		   not; without it, the acting identity looks up itself. */
		if ((text_empty(cfg->ldap_bind_dn) &&
		     text_empty(cfg->ldap_sasl_mech)) ||
		    ldapconn_open(cfg, NULL, NULL, &ls->lookup, &ignored) < 0)
			ls->lookup = ls->acting;
	} else {
		/* A login: its DN first, as the configured identity. */
		if (ldapconn_open(cfg, NULL, NULL, &ls->lookup, error_r) < 0) {
			*error_r = error_printf("looking up the login: %s",
						*error_r);
			goto fail;
		}
		if ((ret = ldapshare_find_user(ls, as, &ls->acting_name,
					       error_r)) != 0)
			goto fail;
		ret = ldapconn_open_user(cfg, ls->acting_name, password,
					 &ls->acting, error_r);
		if (ret != 0) {
			ret = ret > 0 ? LDAPSHARE_BAD_PASSWORD : -1;
			goto fail;
		}
	}
	*ls_r = ls;
	return 0;
fail:
	ldapshare_close(&ls);
	return ret;
}

/* ldapshare_close - unbind and free; *lsp becomes NULL */
void ldapshare_close(struct ldapshare **lsp)
{
	struct ldapshare *ls = *lsp;

	if (ls == NULL)
		return;
	*lsp = NULL;
	if (ls->acting != NULL && ls->acting != ls->lookup)
		(void)ldap_unbind_ext_s(ls->acting, NULL, NULL);
	if (ls->lookup != NULL)
		(void)ldap_unbind_ext_s(ls->lookup, NULL, NULL);
	free(ls->acting_name);
	free(ls);
}

/* ldapshare_watch - fn hears of every share written or deleted */
void ldapshare_watch(struct ldapshare *ls, ldapshare_change_fn *fn,
		     void *context)
{
	ls->changed = fn;
	ls->changed_context = context;
}

/* ldapshare_acting - who writes, for messages */
const char *ldapshare_acting(const struct ldapshare *ls)
{
	return ls->acting_name;
}

/*
 * Adding and removing shares.
 */

/* ldapshare_first_rdn_value - a name for the grantee in a generated
   share name: its DN's first RDN value, reduced to safe characters */
static void ldapshare_first_rdn_value(const char *dn, char *buf, size_t size)
{
	LDAPDN parsed = NULL;
	size_t o = 0;

	if (ldap_str2dn(dn, &parsed, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS &&
	    parsed != NULL && parsed[0] != NULL && parsed[0][0] != NULL &&
	    (parsed[0][0]->la_flags & LDAP_AVA_BINARY) == 0) {
		const struct berval *v = &parsed[0][0]->la_value;
		const unsigned char *s = (const unsigned char *)v->bv_val;
		size_t i = 0;

		while (i < v->bv_len) {
			ucs4_t uc;
			int len = u8_mbtoucr(&uc, s + i, v->bv_len - i);

			if (len > 1) {
				/* UTF-8 letters stay whole, or go. */
				if (o + (size_t)len >= size)
					break;
				memcpy(buf + o, s + i, (size_t)len);
				o += (size_t)len;
				i += (size_t)len;
				continue;
			}
			if (o + 1 >= size)
				break;
			/* Punctuation nobody types in a name becomes '-'. */
			buf[o++] = len == 1 && (isalnum(s[i]) || s[i] == '.' ||
						s[i] == '_' || s[i] == '-')
					   ? (char)s[i] : '-';
			i += len > 0 ? (size_t)len : 1;
		}
	}
	ldap_dnfree(parsed);
	if (o == 0 && size > 7) {
		memcpy(buf, "grantee", 7);
		o = 7;
	}
	buf[o < size ? o : size - 1] = '\0';
}

/* ldapshare_generated_name - share-<grantee>-<YYYYMMDD> */
static void ldapshare_generated_name(const char *grantee_dn, time_t date,
				     char *buf, size_t size)
{
	char who[41], day[16] = "";
	struct tm tm;

	ldapshare_first_rdn_value(grantee_dn, who, sizeof(who));
	if (gmtime_r(&date, &tm) == NULL ||
	    strftime(day, sizeof(day), "%Y%m%d", &tm) == 0)
		memcpy(day, "undated", 8);
	(void)snprintf(buf, size, "share-%s-%s", who, day);
}

/* ldapshare_settings_check - the values of a new share the caller has
   not checked (the rights and the name are checked on the command line,
   and the name again when it becomes a DN) */
static int ldapshare_settings_check(const struct ldapshare_settings *set,
				    const char **error_r)
{
	if (set->description != NULL &&
	    (strnlen(set->description, LDAPSHARE_DESCRIPTION_MAX + 1) >
		     LDAPSHARE_DESCRIPTION_MAX ||
	     ldapshare_has_control(set->description))) {
		*error_r = error_printf(
			"description: at most %d bytes, no control characters",
			LDAPSHARE_DESCRIPTION_MAX);
		return 1;
	}
	if (set->not_before != 0 && set->not_after != 0 &&
	    set->not_after < set->not_before) {
		*error_r = "the share would end before it begins";
		return 1;
	}
	if (set->not_before != 0 && set->not_after == set->not_before) {
		*error_r = "the share would end the second it begins";
		return 1;
	}
	return 0;
}

/* ldapshare_add_entry - the add operation itself */
static int ldapshare_add_entry(struct ldapshare *ls,
			       const struct ldapshare_settings *set,
			       const char *dn, const char *name,
			       const char *grantee_dn)
{
	const struct config *cfg = ls->cfg;
	char nb[GENTIME_FORMAT_SIZE], na[GENTIME_FORMAT_SIZE];
	char *oc_v[2] = { (char *)LDAPSHARE_OBJECT_CLASS, NULL };
	char *cn_v[2] = { (char *)name, NULL };
	char *gr_v[2] = { (char *)grantee_dn, NULL };
	char *ri_v[2] = { (char *)set->rights, NULL };
	char *nb_v[2] = { nb, NULL }, *na_v[2] = { na, NULL };
	char *de_v[2] = { (char *)set->description, NULL };
	char *ob_v[2] = { (char *)"TRUE", NULL };
	LDAPMod m[8], *mods[9];
	size_t n = 0;

	memset(m, 0, sizeof(m));
#define LDAPSHARE_MOD(attr, vals)                                           \
	do {                                                                \
		m[n].mod_op = LDAP_MOD_ADD;                                 \
		m[n].mod_type = (char *)(attr);                             \
		m[n].mod_values = (vals);                                   \
		mods[n] = &m[n];                                            \
		n++;                                                        \
	} while (0)
	LDAPSHARE_MOD("objectClass", oc_v);
	LDAPSHARE_MOD(LDAPSHARE_NAME_ATTR, cn_v);
	LDAPSHARE_MOD(cfg->ldap_share_grantee_attribute, gr_v);
	if (!text_empty(set->rights))
		LDAPSHARE_MOD(cfg->ldap_share_rights_attribute, ri_v);
	if (set->not_before != 0 &&
	    gentime_format(set->not_before, nb, sizeof(nb)) == 0)
		LDAPSHARE_MOD(cfg->ldap_share_not_before_attribute, nb_v);
	if (set->not_after != 0 &&
	    gentime_format(set->not_after, na, sizeof(na)) == 0)
		LDAPSHARE_MOD(cfg->ldap_share_not_after_attribute, na_v);
	if (!text_empty(set->description))
		LDAPSHARE_MOD(LDAPSHARE_DESCRIPTION_ATTR, de_v);
	if (set->on_behalf)
		LDAPSHARE_MOD(cfg->ldap_share_on_behalf_attribute, ob_v);
#undef LDAPSHARE_MOD
	mods[n] = NULL;
	return ldap_add_ext_s(ls->acting, dn, mods, NULL, NULL);
}

/* ldapshare_replaced - dn is one of the shares in res that the new
   share of set replaces */
static bool ldapshare_replaced(struct ldapshare *ls, LDAPMessage *res,
			       const struct ldapshare_settings *set,
			       const char *dn)
{
	char a[LDAPSHARE_DN_NORM_MAX], b[LDAPSHARE_DN_NORM_MAX];
	const char *error;
	bool found = false;

	if (ldapdir_dn_normalize(dn, a, sizeof(a), &error) < 0)
		return false;
	for (LDAPMessage *e = ldap_first_entry(ls->acting, res);
	     e != NULL && !found; e = ldap_next_entry(ls->acting, e)) {
		char *old = ldap_get_dn(ls->acting, e);

		found = old != NULL &&
			ldapshare_overlaps(ls, ls->acting, e, set) &&
			ldapdir_dn_normalize(old, b, sizeof(b), &error) == 0 &&
			strcmp(a, b) == 0;
		ldap_memfree(old);
	}
	return found;
}

/* ldapshare_check_conflict - the shares of the grantee on this mailbox
   that the new one would compete with: *res_r (the caller frees it)
   with *replacing_r when there are any and set->replace; 1 with
   error_r when there are any and not */
static int ldapshare_check_conflict(struct ldapshare *ls,
				    const struct ldapshare_settings *set,
				    const char *mailbox_dn,
				    const char *grantee_dn,
				    LDAPMessage **res_r, bool *replacing_r,
				    const char **error_r)
{
	char p1[LDAPSHARE_PRINT_MAX], p2[LDAPSHARE_PRINT_MAX];
	char p3[LDAPSHARE_PRINT_MAX * 2];
	LDAPMessage *e;
	char *old;
	int ret, count;

	/* A second share for the same grantee at the same time would only
	   make the rights ambiguous; one that has ended (or not begun)
	   by then does not compete. Asked as the acting identity: a share
	   it cannot see is not its to replace. (A grantee sees its share
	   too; replacing it is refused by the directory at the add.) */
	*replacing_r = false;
	ret = ldapshare_shares(ls, ls->acting, mailbox_dn, grantee_dn, res_r,
			       &count, error_r);
	if (ret != 0)
		return ret;
	for (e = *res_r != NULL ? ldap_first_entry(ls->acting, *res_r) : NULL;
	     e != NULL; e = ldap_next_entry(ls->acting, e)) {
		if (ldapshare_overlaps(ls, ls->acting, e, set))
			break;
	}
	if (e == NULL || set->replace) {
		*replacing_r = e != NULL;
		return 0;
	}
	old = ldap_get_dn(ls->acting, e);
	*error_r = error_printf(
		"%s already has a share with %s at that time: %s "
		"(--replace replaces it)",
		text_printable_str(p1, sizeof(p1), set->owner, TEXT_MARK),
		text_printable_str(p2, sizeof(p2), grantee_dn, TEXT_MARK),
		text_printable_str(p3, sizeof(p3), old != NULL ? old : "?",
				   TEXT_MARK));
	ldap_memfree(old);
	return 1;
}

/* ldapshare_add_named - add the share entry below the mailbox; when its
   name is that of a share being replaced, the grantee is taken off the
   replaced shares first (*replacing becomes false) */
static int ldapshare_add_named(struct ldapshare *ls,
			       const struct ldapshare_settings *set,
			       const char *mailbox_dn, const char *grantee_dn,
			       LDAPMessage *res, bool *replacing,
			       ldapshare_note_fn *note, void *context,
			       const char **error_r)
{
	char name[LDAPSHARE_NAME_MAX + 1], p[LDAPSHARE_PRINT_MAX * 2];
	char *dn;
	int ret, rc;

	if (set->name != NULL)
		(void)snprintf(name, sizeof(name), "%s", set->name);
	else
		ldapshare_generated_name(grantee_dn,
					 set->not_before != 0 ? set->not_before
							      : time(NULL),
					 name, sizeof(name));
	if (ldapshare_rdn_dn(name, mailbox_dn, &dn, error_r) < 0)
		return 1;
	rc = ldapshare_add_entry(ls, set, dn, name, grantee_dn);
	if (rc == LDAP_ALREADY_EXISTS && *replacing &&
	    ldapshare_replaced(ls, res, set, dn)) {
		ret = ldapshare_remove_all(ls, ls->acting, res, grantee_dn, set,
					   note, context, error_r);
		if (ret != 0) {
			free(dn);
			return ret;
		}
		*replacing = false;
		rc = ldapshare_add_entry(ls, set, dn, name, grantee_dn);
	}
	text_printable_str(p, sizeof(p), dn, TEXT_MARK);
	if (rc == LDAP_SUCCESS) {
		ldapshare_note(note, context, "added %s", p);
		ldapshare_changed(ls, dn, !text_empty(set->rights) ?
				  set->rights : ls->cfg->share_rights,
				  LDAPSHARE_ADDED);
		ret = 0;
	} else if (rc == LDAP_ALREADY_EXISTS) {
		*error_r = error_printf(
			"adding %s: an entry of that name exists already "
			"(--name chooses another)", p);
		ret = 1;
	} else {
		ret = ldapshare_write_failed(ls, rc, "adding", dn, error_r);
	}
	free(dn);
	return ret;
}

/* ldapshare_add - add a share of owner's mailbox for the grantee */
int ldapshare_add(struct ldapshare *ls, const struct ldapshare_settings *set,
		  ldapshare_note_fn *note, void *context,
		  const char **error_r)
{
	struct ldapshare_mailbox mb;
	char p1[LDAPSHARE_PRINT_MAX], p2[LDAPSHARE_PRINT_MAX * 2];
	LDAPMessage *res = NULL;
	char *grantee = NULL;
	bool replacing;
	int ret;

	if ((ret = ldapshare_settings_check(set, error_r)) != 0)
		return ret;
	if (set->on_behalf &&
	    text_empty(ls->cfg->ldap_share_on_behalf_attribute)) {
		*error_r = "ldap_share_on_behalf_attribute is empty: this "
			   "directory has no right to send on behalf";
		return 1;
	}
	if ((ret = ldapshare_find_mailbox(ls, set->owner, &mb, error_r)) != 0)
		return ret;
	if (mb.company) {
		*error_r = error_printf(
			"%s is a company mailbox (%s): company mailboxes are "
			"not shared one by one",
			text_printable_str(p1, sizeof(p1),
					   set->owner, TEXT_MARK),
			text_printable_str(p2, sizeof(p2), mb.dn, TEXT_MARK));
		free(mb.dn);
		return 1;
	}
	/* A grantee of another company is refused here rather than
	   written to grant nothing (rights.h). */
	if ((ret = ldapshare_find_grantee(ls, set->grantee, true, &grantee,
					  error_r)) != 0 ||
	    (ret = ldapshare_same_company(ls, set, mb.dn, grantee,
					  error_r)) != 0 ||
	    (ret = ldapshare_check_conflict(ls, set, mb.dn, grantee, &res,
					    &replacing, error_r)) != 0)
		goto out;
	/* The new share goes in first and the old ones go after, so that
	   a failure leaves the grantee with what they had; only a share
	   of the very name being replaced has to go first. */
	ret = ldapshare_add_named(ls, set, mb.dn, grantee, res, &replacing,
				  note, context, error_r);
	if (ret == 0 && replacing)
		ret = ldapshare_remove_all(ls, ls->acting, res, grantee, set,
					   note, context, error_r);
out:
	ldap_msgfree(res);
	free(grantee);
	free(mb.dn);
	return ret;
}

/* ldapshare_target - the mailbox of owner, or with owner NULL the
   acting user's own entry (her primary mailbox) */
static int ldapshare_target(struct ldapshare *ls, const char *owner,
			    struct ldapshare_mailbox *mb, const char **error_r)
{
	if (owner != NULL)
		return ldapshare_find_mailbox(ls, owner, mb, error_r);
	if (ls->acting == ls->lookup || strchr(ls->acting_name, '=') == NULL) {
		*error_r = "no mailbox: the configured identity has none";
		return 1;
	}
	mb->dn = xstrdup(ls->acting_name);
	mb->company = false;
	return 0;
}

/* ldapshare_remove - take the grantee off the shares of owner's mailbox */
int ldapshare_remove(struct ldapshare *ls, const char *owner,
		     const char *grantee, ldapshare_note_fn *note,
		     void *context, const char **error_r)
{
	struct ldapshare_mailbox mb;
	char p1[LDAPSHARE_PRINT_MAX], p2[LDAPSHARE_PRINT_MAX];
	LDAPMessage *res = NULL;
	char *grantee_dn = NULL;
	int ret, count;

	if ((ret = ldapshare_target(ls, owner, &mb, error_r)) != 0)
		return ret;
	if (owner == NULL)
		owner = ls->acting_name;
	ret = ldapshare_find_grantee(ls, grantee, false, &grantee_dn, error_r);
	if (ret != 0)
		goto out;
	/* Found as the configured identity, changed as the acting one:
	   a share the acting identity may not touch is refused by the
	   directory, and said so, rather than "not found". */
	ret = ldapshare_shares(ls, ls->lookup, mb.dn, grantee_dn, &res,
			       &count, error_r);
	if (ret != 0)
		goto out;
	if (count == 0) {
		*error_r = error_printf(
			"%s has no share with %s",
			text_printable_str(p1, sizeof(p1), owner, TEXT_MARK),
			text_printable_str(p2, sizeof(p2), grantee, TEXT_MARK));
		ret = 1;
		goto out;
	}
	ret = ldapshare_remove_all(ls, ls->lookup, res, grantee_dn, NULL,
				   note, context, error_r);
out:
	ldap_msgfree(res);
	free(grantee_dn);
	free(mb.dn);
	return ret;
}

/* ldapshare_entry_rights - a share's rights as stored, or the default
   a share without them has */
static void ldapshare_entry_rights(struct ldapshare *ls, LDAPMessage *e,
				   char *buf, size_t size)
{
	struct berval **v = ldap_get_values_len(
		ls->acting, e, ls->cfg->ldap_share_rights_attribute);

	if (v != NULL && v[0] != NULL && v[0]->bv_len < size) {
		memcpy(buf, v[0]->bv_val, v[0]->bv_len);
		buf[v[0]->bv_len] = '\0';
	} else {
		(void)snprintf(buf, size, "%s", ls->cfg->share_rights);
	}
	ldap_value_free_len(v);
}

/* ldapshare_merge_rights - letters set ('='), added ('+') or taken
   away ('-') from old, in RFC 4314 order; a letter a share should not
   hold that an administrator wrote stays unless the rights are set */
static void ldapshare_merge_rights(const char *old, char op,
				   const char *letters, char *out, size_t size)
{
	static const char order[] = RIGHTS_SHARE_LETTERS "a";
	bool have[256] = { false };
	size_t n = 0;

	if (op != '=') {
		for (const char *p = old; *p != '\0'; p++)
			have[(unsigned char)*p] = true;
	}
	for (const char *p = letters; *p != '\0'; p++)
		have[(unsigned char)*p] = op != '-';
	for (const char *p = order; *p != '\0' && n + 1 < size; p++) {
		if (have[(unsigned char)*p])
			out[n++] = *p;
	}
	out[n] = '\0';
}

/* ldapshare_set_rights - replace the rights of the share dn */
static int ldapshare_set_rights(struct ldapshare *ls, const char *dn,
				const char *rights, ldapshare_note_fn *note,
				void *context, const char **error_r)
{
	char *vals[2] = { (char *)rights, NULL };
	char p[LDAPSHARE_PRINT_MAX * 2];
	LDAPMod mod, *mods[2] = { &mod, NULL };
	int rc;

	memset(&mod, 0, sizeof(mod));
	mod.mod_op = LDAP_MOD_REPLACE;
	mod.mod_type = (char *)ls->cfg->ldap_share_rights_attribute;
	mod.mod_values = vals;
	rc = ldap_modify_ext_s(ls->acting, dn, mods, NULL, NULL);
	if (rc != LDAP_SUCCESS)
		return ldapshare_write_failed(ls, rc, "changing", dn, error_r);
	ldapshare_note(note, context, "rights %s on %s", rights,
		       text_printable_str(p, sizeof(p), dn, TEXT_MARK));
	ldapshare_changed(ls, dn, rights, LDAPSHARE_CHANGED);
	return 0;
}

/* ldapshare_entry_on_behalf - whether the share e carries the right to
   send on behalf (TRUE; the sync reads nothing else as it) */
static bool ldapshare_entry_on_behalf(struct ldapshare *ls, LDAPMessage *e)
{
	struct berval **v = ldap_get_values_len(
		ls->acting, e, ls->cfg->ldap_share_on_behalf_attribute);
	bool on = v != NULL && v[0] != NULL && v[1] == NULL &&
		v[0]->bv_len == 4 && memcmp(v[0]->bv_val, "TRUE", 4) == 0;

	ldap_value_free_len(v);
	return on;
}

/* ldapshare_set_one - new rights for the grantee on the share e, which
   has not ended: its window stays; a share with other grantees too
   keeps theirs, and the grantee gets a share of its own with the same
   window (in first, as ldapshare_add) */
static int ldapshare_set_one(struct ldapshare *ls, LDAPMessage *e,
			     const char *mailbox_dn, const char *grantee_dn,
			     const char *grantee_norm, const char *rights,
			     ldapshare_note_fn *note, void *context,
			     const char **error_r)
{
	const struct config *cfg = ls->cfg;
	struct ldapshare_settings set;
	struct berval **vals;
	char *dn = ldap_get_dn(ls->acting, e);
	bool replacing = false;
	int nvals, ret;

	if (dn == NULL) {
		*error_r = "a share without a DN";
		return 1;
	}
	vals = ldap_get_values_len(ls->acting, e,
				   cfg->ldap_share_grantee_attribute);
	nvals = vals == NULL ? 0 : ldap_count_values_len(vals);
	ldap_value_free_len(vals);
	if (nvals == 1) {
		/* found by this grantee: the value is the grantee's */
		ret = ldapshare_set_rights(ls, dn, rights, note, context,
					   error_r);
		ldap_memfree(dn);
		return ret;
	}
	memset(&set, 0, sizeof(set));
	set.owner = mailbox_dn;
	set.grantee = grantee_dn;
	set.rights = rights;
	set.not_before = ldapshare_entry_time(
		ls->acting, e, cfg->ldap_share_not_before_attribute, 0);
	set.not_after = ldapshare_entry_time(
		ls->acting, e, cfg->ldap_share_not_after_attribute, 0);
	set.on_behalf = ldapshare_entry_on_behalf(ls, e);
	ret = ldapshare_add_named(ls, &set, mailbox_dn, grantee_dn, NULL,
				  &replacing, note, context, error_r);
	if (ret == 0)
		ret = ldapshare_remove_one(ls, ls->acting, e, grantee_dn,
					   grantee_norm, note, context,
					   error_r);
	ldap_memfree(dn);
	return ret;
}

/* ldapshare_set - the grantee's rights on owner's mailbox, as an IMAP
   client sets them: on the shares that have not ended (windows kept),
   or on a new open share */
int ldapshare_set(struct ldapshare *ls, const char *owner,
		  const char *grantee, const char *rights,
		  ldapshare_note_fn *note, void *context, const char **error_r)
{
	struct ldapshare_mailbox mb;
	struct ldapshare_settings set;
	char norm[LDAPSHARE_DN_NORM_MAX], old[RIGHTS_MAX], merged[RIGHTS_MAX];
	char p1[LDAPSHARE_PRINT_MAX], p2[LDAPSHARE_PRINT_MAX * 2];
	LDAPMessage *res = NULL;
	char *grantee_dn = NULL;
	const char *letters = rights, *error;
	char op = '=';
	bool replacing = false;
	int ret, count, found = 0;

	if (*letters == '+' || *letters == '-')
		op = *letters++;
	if ((ret = ldapshare_target(ls, owner, &mb, error_r)) != 0)
		return ret;
	if (owner == NULL)
		owner = ls->acting_name;
	if (mb.company) {
		*error_r = error_printf(
			"%s is a company mailbox (%s): its access is managed "
			"by the mail administrators",
			text_printable_str(p1, sizeof(p1), owner, TEXT_MARK),
			text_printable_str(p2, sizeof(p2), mb.dn, TEXT_MARK));
		free(mb.dn);
		return 1;
	}
	memset(&set, 0, sizeof(set));
	set.owner = owner;
	set.grantee = grantee;
	if ((ret = ldapshare_find_grantee(ls, grantee, true, &grantee_dn,
					  error_r)) != 0 ||
	    (ret = ldapshare_same_company(ls, &set, mb.dn, grantee_dn,
					  error_r)) != 0 ||
	    (ret = ldapshare_shares(ls, ls->acting, mb.dn, grantee_dn, &res,
				    &count, error_r)) != 0)
		goto out;
	if (ldapdir_dn_normalize(grantee_dn, norm, sizeof(norm), &error) < 0) {
		*error_r = error_printf("grantee: %s", error);
		ret = 1;
		goto out;
	}
	for (LDAPMessage *e = res != NULL ? ldap_first_entry(ls->acting, res)
					  : NULL;
	     e != NULL && ret == 0; e = ldap_next_entry(ls->acting, e)) {
		/* what has ended is history, not this grantee's rights */
		if (ldapshare_entry_time(ls->acting, e,
					 ls->cfg->ldap_share_not_after_attribute,
					 (time_t)LLONG_MAX) < time(NULL))
			continue;
		found++;
		ldapshare_entry_rights(ls, e, old, sizeof(old));
		ldapshare_merge_rights(old, op, letters, merged,
				       sizeof(merged));
		if (strcmp(merged, old) == 0)
			continue;
		if (*merged == '\0')
			ret = ldapshare_remove_one(ls, ls->acting, e,
						   grantee_dn, norm, note,
						   context, error_r);
		else
			ret = ldapshare_set_one(ls, e, mb.dn, grantee_dn, norm,
						merged, note, context,
						error_r);
	}
	if (ret != 0 || found > 0)
		goto out;
	ldapshare_merge_rights("", op, letters, merged, sizeof(merged));
	if (*merged == '\0') {
		/* no rights for one without a share: nothing to do */
		goto out;
	}
	set.grantee = grantee_dn;
	set.rights = merged;
	ret = ldapshare_add_named(ls, &set, mb.dn, grantee_dn, NULL,
				  &replacing, note, context, error_r);
out:
	ldap_msgfree(res);
	free(grantee_dn);
	free(mb.dn);
	return ret;
}

/* ldapshare_grant_add - merge one share's rights for grantee dn into
   the list (one entry per grantee) */
static int ldapshare_grant_add(struct ldapshare_grant *g, char **norms,
			       size_t *n, const char *dn, const char *rights,
			       const char **error_r)
{
	char norm[LDAPSHARE_DN_NORM_MAX];
	const char *error;
	size_t i;

	if (ldapdir_dn_normalize(dn, norm, sizeof(norm), &error) < 0)
		return 0;	/* not a grantee anybody can name */
	for (i = 0; i < *n; i++) {
		if (strcmp(norms[i], norm) == 0)
			break;
	}
	if (i == *n) {
		if (*n == LDAPSHARE_LIST_MAX) {
			*error_r = error_printf("more than %d grantees",
						LDAPSHARE_LIST_MAX);
			return 1;
		}
		norms[i] = xstrdup(norm);
		g[i].identifier = xstrdup(dn);
		g[i].rights[0] = '\0';
		g[i].group = false;
		(*n)++;
	}
	/* as SETACL treats several shares of one grantee: together */
	ldapshare_merge_rights(g[i].rights, '+', rights, g[i].rights,
			       sizeof(g[i].rights));
	return 0;
}

/* ldapshare_list - the grantees of owner's mailbox and their rights,
   as the acting identity sees the shares */
int ldapshare_list(struct ldapshare *ls, const char *owner,
		   struct ldapshare_grant **grants_r, size_t *count_r,
		   const char **error_r)
{
	const struct config *cfg = ls->cfg;
	struct ldapshare_mailbox mb;
	struct ldapshare_grant *g;
	char *norms[LDAPSHARE_LIST_MAX];
	char rights[RIGHTS_MAX];
	LDAPMessage *res = NULL;
	size_t n = 0;
	int ret, count;

	*grants_r = NULL;
	*count_r = 0;
	if ((ret = ldapshare_target(ls, owner, &mb, error_r)) != 0)
		return ret;
	ret = ldapshare_shares(ls, ls->acting, mb.dn, NULL, &res, &count,
			       error_r);
	free(mb.dn);
	if (ret != 0)
		return ret;
	g = xcalloc(LDAPSHARE_LIST_MAX, sizeof(*g));
	for (LDAPMessage *e = res != NULL ? ldap_first_entry(ls->acting, res)
					  : NULL;
	     e != NULL && ret == 0; e = ldap_next_entry(ls->acting, e)) {
		struct berval **v;

		/* what has ended grants nothing, and SETACL leaves it */
		if (ldapshare_entry_time(ls->acting, e,
					 cfg->ldap_share_not_after_attribute,
					 (time_t)LLONG_MAX) < time(NULL))
			continue;
		ldapshare_entry_rights(ls, e, rights, sizeof(rights));
		v = ldap_get_values_len(ls->acting, e,
					cfg->ldap_share_grantee_attribute);
		for (size_t i = 0; v != NULL && v[i] != NULL && ret == 0;
		     i++) {
			char *dn = xstrndup(v[i]->bv_val, v[i]->bv_len);

			ret = ldapshare_grant_add(g, norms, &n, dn, rights,
						  error_r);
			free(dn);
		}
		ldap_value_free_len(v);
	}
	ldap_msgfree(res);
	for (size_t i = 0; i < n; i++) {
		char *name;

		if (ret == 0)
			ret = ldapshare_grantee_name(ls, g[i].identifier,
						     &name, &g[i].group,
						     error_r);
		if (ret == 0) {
			free(g[i].identifier);
			g[i].identifier = name;
		}
		free(norms[i]);
	}
	if (ret != 0) {
		ldapshare_grants_free(&g, n);
		return ret;
	}
	*grants_r = g;
	*count_r = n;
	return 0;
}

/* ldapshare_grants_free - free what ldapshare_list() gave */
void ldapshare_grants_free(struct ldapshare_grant **grantsp, size_t count)
{
	struct ldapshare_grant *g = *grantsp;

	if (g == NULL)
		return;
	*grantsp = NULL;
	for (size_t i = 0; i < count; i++)
		free(g[i].identifier);
	free(g);
}

/*
 * Share names.
 */

/* ldapshare_name_check - a share's cn: what --name may give, and what
   ldapshare_rdn_dn() puts into a DN */
int ldapshare_name_check(const char *name, const char **error_r)
{
	if (text_empty(name) ||
	    strnlen(name, LDAPSHARE_NAME_MAX + 1) > LDAPSHARE_NAME_MAX ||
	    ldapshare_has_control(name)) {
		*error_r = error_printf(
			"name: 1 to %d bytes, no control characters",
			LDAPSHARE_NAME_MAX);
		return -1;
	}
	return 0;
}

/* ldapshare_rdn_dn - cn=NAME,PARENT with NAME escaped by libldap */
int ldapshare_rdn_dn(const char *name, const char *parent_dn, char **dn_r,
		     const char **error_r)
{
	LDAPAVA ava, *rdn[2] = { &ava, NULL };
	LDAPRDN dn[2] = { rdn, NULL };
	char *str = NULL;
	int rc;

	*dn_r = NULL;
	if (ldapshare_name_check(name, error_r) < 0)
		return -1;
	memset(&ava, 0, sizeof(ava));
	ava.la_attr.bv_val = (char *)LDAPSHARE_NAME_ATTR;
	ava.la_attr.bv_len = strlen(LDAPSHARE_NAME_ATTR);
	ava.la_value.bv_val = (char *)name;
	ava.la_value.bv_len = strlen(name);
	ava.la_flags = LDAP_AVA_STRING;
	rc = ldap_dn2str(dn, &str, LDAP_DN_FORMAT_LDAPV3 | LDAP_DN_PRETTY);
	if (rc != LDAP_SUCCESS || str == NULL) {
		ldap_memfree(str);
		*error_r = error_printf("name: %s", ldap_err2string(rc));
		return -1;
	}
	*dn_r = text_empty(parent_dn) ? xstrdup(str)
					   : xasprintf("%s,%s", str, parent_dn);
	ldap_memfree(str);
	return 0;
}
