/*
 * NAME
 *	ldapdir - read the directory from LDAP into the replica writer
 * DESCRIPTION
 *	One connection, one bind, five paged subtree searches. Entries are
 *	handled one message at a time (ldap_search_ext + ldap_result with
 *	LDAP_MSG_ONE), never collected, so a directory of hundreds of
 *	thousands of entries needs no more memory than one page. No
 *	filter is ever built from directory data: the five filters come
 *	from the configuration as they are.
 *
 *	An entry is decoded once into a view (DN, attribute names, their
 *	values, referenced in the message) and handed to the conversion
 *	(ldapdir-conv.c), which reads only the view.
 *
 *	A page is sent (ldapdir_page_send: the control and the search),
 *	waited for message by message (ldapdir_page_wait: the deadline,
 *	abandon) and ended (ldapdir_page_end: the result and the cookie
 *	of the next page), as Dovecot's lib-ldap splits its search.
 * DIAGNOSTICS
 *	Fatal problems (connect, bind, a search that fails, a replica that
 *	fails) end the read with -1 and one line in error_r. An entry that
 *	cannot be used is skipped through the warning callback, naming its
 *	DN.
 * SEE ALSO
 *	ldapdir.h, ldapdir-private.h, ldapconn.h, replica.h, RFC 2696
 *	(paged results)
 */

#include "ldapdir.h"
#include "ldapdir-private.h"
#include "ldapconn.h"
#include "error.h"
#include "text.h"
#include "xalloc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <lber.h>
#include <ldap.h>

#define LDAPDIR_PRINT_MAX	256	/* a server's message quoted */

/* One read: the session, the conversion, the view of the entry at hand. */
struct ldapdir_read {
	const struct config *cfg;
	LDAP *ld;
	struct ldapdir_stats *stats;
	struct ldapdir_ctx *conv;

	/* The attributes of a message's entry view, reused. */
	struct ldapdir_attr *view_attrs;
	size_t view_alloc;
};

/* ldapdir_has_nul - a NUL byte before the last one (libldap's test of
   a string it returns: a trailing NUL only shortens it) */
static bool ldapdir_has_nul(const struct berval *bv)
{
	return bv->bv_len > 1 && memchr(bv->bv_val, '\0', bv->bv_len - 1);
}

/* ldapdir_entry_message - the view of a search result entry, DN, names
   and values decoded in one pass and referenced in place, converted */
static int ldapdir_entry_message(struct ldapdir_read *rd, LDAPMessage *msg,
				 enum ldapdir_kind kind, const char **error_r)
{
	struct ldapdir_entry entry = { NULL, NULL, 0 };
	BerElement *ber = NULL;
	struct berval dn, name, *vals;
	size_t i, n = 0, count;
	int ret;

	/* An undecodable DN makes the entry unusable, as ldap_get_dn()
	   does; an undecodable attribute ends the list, as it ends
	   ldap_get_values_len()'s search. */
	if (ldap_get_dn_ber(rd->ld, msg, &ber, &dn) == LDAP_SUCCESS &&
	    dn.bv_val != NULL && !ldapdir_has_nul(&dn)) {
		entry.dn = dn.bv_val;
		for (;;) {
			vals = NULL;
			if (ldap_get_attribute_ber(rd->ld, msg, ber, &name,
						   &vals) != LDAP_SUCCESS ||
			    name.bv_val == NULL || ldapdir_has_nul(&name)) {
				ber_memfree(vals);
				break;
			}
			for (count = 0; vals != NULL &&
			     vals[count].bv_val != NULL; count++)
				;
			rd->view_attrs = xgrow(rd->view_attrs,
						&rd->view_alloc, n + 1,
						sizeof(*rd->view_attrs), 16);
			rd->view_attrs[n].name = name.bv_val;
			rd->view_attrs[n].values = vals;
			rd->view_attrs[n].count = count;
			n++;
		}
	}
	entry.attrs = rd->view_attrs;
	entry.count = n;
	ret = ldapdir_conv_entry(rd->conv, kind, &entry, error_r);
	for (i = 0; i < n; i++)
		ber_memfree((void *)rd->view_attrs[i].values);
	if (ber != NULL)
		ber_free(ber, 0);
	return ret;
}

/* ldapdir_page_send - ask for the next page (the first: cookie empty);
   the deadline is when waiting for its answer ends */
static int ldapdir_page_send(struct ldapdir_read *rd, const char *filter,
			     char **attrs, struct berval *cookie,
			     int *msgid_r, struct timeval *deadline_r,
			     const char **error_r)
{
	const struct config *cfg = rd->cfg;
	LDAPControl *page = NULL, *ctrls[2] = { NULL, NULL };
	struct timeval limit;
	int rc;

	if (cfg->ldap_page_size > 0) {
		rc = ldap_create_page_control(rd->ld,
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
	rc = ldap_search_ext(rd->ld, cfg->ldap_base, LDAP_SCOPE_SUBTREE,
			     filter, attrs, 0, page != NULL ? ctrls : NULL,
			     NULL,
			     cfg->ldap_search_timeout > 0 ? &limit : NULL,
			     LDAP_NO_LIMIT, msgid_r);
	if (page != NULL)
		ldap_control_free(page);
	if (rc != LDAP_SUCCESS) {
		*error_r = error_printf("search %s below %s: %s", filter,
					cfg->ldap_base,
					ldapconn_error_text(rd->ld, rc));
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
static int ldapdir_page_wait(struct ldapdir_read *rd, const char *filter,
			     int msgid, const struct timeval *deadline,
			     LDAPMessage **msg_r, const char **error_r)
{
	const struct config *cfg = rd->cfg;
	struct timeval wait, now;
	int rc, err;

	do {
		if (cfg->ldap_search_timeout > 0) {
			(void)gettimeofday(&now, NULL);
			if (!timercmp(&now, deadline, <)) {
				(void)ldap_abandon_ext(rd->ld, msgid, NULL,
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
		rc = ldap_result(rd->ld, msgid, LDAP_MSG_ONE, &wait, msg_r);
	} while (rc == 0);
	if (rc < 0) {
		err = LDAP_OTHER;
		(void)ldap_get_option(rd->ld, LDAP_OPT_RESULT_CODE, &err);
		*error_r = error_printf("search %s below %s: %s", filter,
					cfg->ldap_base,
					ldapconn_error_text(rd->ld, err));
		return -1;
	}
	return rc;
}

/* ldapdir_page_end - the result of a page (msg freed): its code, and
   the cookie of the next page (empty after the last) */
static int ldapdir_page_end(struct ldapdir_read *rd, const char *filter,
			    LDAPMessage *msg, struct berval *cookie,
			    const char **error_r)
{
	const struct config *cfg = rd->cfg;
	LDAPControl **rctrls = NULL, *rpage;
	char *diag = NULL;
	int rc, err;

	rd->stats->pages++;
	rc = ldap_parse_result(rd->ld, msg, &err, NULL, &diag, NULL,
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

		rc = ldap_parse_pageresponse_control(rd->ld, rpage,
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

/* ldapdir_search - one paged subtree search, each entry converted */
static int ldapdir_search(struct ldapdir_read *rd, const char *filter,
			  char **attrs, enum ldapdir_kind kind,
			  const char **error_r)
{
	struct berval cookie = { 0, NULL };
	struct timeval deadline;
	LDAPMessage *msg;
	int ret = -1, type, msgid;

	do {
		if (ldapdir_page_send(rd, filter, attrs, &cookie, &msgid,
				      &deadline, error_r) < 0)
			goto out;
		do {
			type = ldapdir_page_wait(rd, filter, msgid,
						 &deadline, &msg, error_r);
			if (type < 0)
				goto out;
			if (type == LDAP_RES_SEARCH_RESULT) {
				if (ldapdir_page_end(rd, filter, msg,
						     &cookie, error_r) < 0)
					goto out;
			} else if (type == LDAP_RES_SEARCH_ENTRY) {
				int rc = ldapdir_entry_message(rd, msg, kind,
							       error_r);

				ldap_msgfree(msg);
				if (rc < 0)
					goto out;
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

		if (text_empty(v)) {
			*error_r = error_printf("%s is not set",
						required[i].key);
			return -1;
		}
	}
	return 0;
}

/* ldapdir_read_with_password - the whole directory into the writer */
int ldapdir_read_with_password(const struct config *cfg,
			       const char *password,
			       struct replica_writer *w,
			       replica_warn_fn *warn, void *warn_context,
			       struct ldapdir_stats *stats_r,
			       const char **error_r)
{
	struct ldapdir_read rd;
	char *attrs[LDAPDIR_CONV_ATTRS_MAX];
	const char *filters[LDAPDIR_KIND_COUNT] = {
		[LDAPDIR_KIND_COMPANY] = cfg->ldap_company_filter,
		[LDAPDIR_KIND_GROUP] = cfg->ldap_group_filter,
		[LDAPDIR_KIND_USER] = cfg->ldap_user_filter,
		[LDAPDIR_KIND_MAILBOX] = cfg->ldap_mailbox_filter,
		[LDAPDIR_KIND_SHARE] = cfg->ldap_share_filter,
	};
	int kind, ret = -1;

	memset(stats_r, 0, sizeof(*stats_r));
	memset(&rd, 0, sizeof(rd));
	rd.cfg = cfg;
	rd.stats = stats_r;
	if (ldapdir_check_config(cfg, error_r) < 0 ||
	    ldapdir_conv_create(cfg, w, warn, warn_context, stats_r, &rd.conv,
				error_r) < 0 ||
	    ldapconn_open(cfg, NULL, password, &rd.ld, error_r) < 0)
		goto out;
	/* In the staging order of replica.h, which the kinds follow. */
	for (kind = 0; kind < LDAPDIR_KIND_COUNT; kind++) {
		ldapdir_conv_attrs(rd.conv, kind, attrs,
				   sizeof(attrs) / sizeof(attrs[0]));
		if (ldapdir_search(&rd, filters[kind], attrs, kind,
				   error_r) < 0)
			goto out;
	}
	ret = 0;
out:
	if (rd.ld != NULL)
		(void)ldap_unbind_ext_s(rd.ld, NULL, NULL);
	ldapdir_conv_free(&rd.conv);
	free(rd.view_attrs);
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
	LDAP *ld;

	if (ldapconn_open(cfg, NULL, NULL, &ld, error_r) < 0)
		return -1;
	(void)ldap_unbind_ext_s(ld, NULL, NULL);
	return 0;
}
