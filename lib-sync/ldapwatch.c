/*
 * NAME
 *	ldapwatch - be told when the directory changes (RFC 4533)
 * DESCRIPTION
 *	See ldapwatch.h. The Sync Request control and the Sync State and
 *	Sync Info messages are handled here, one message at a time
 *	(libldap's ldap_sync_poll() hands its callbacks the head of a
 *	message chain instead of each message, so an entry and a Sync
 *	Info arriving together would be misread). Every entry, and every
 *	set of UUIDs, only raises the "changed" flag; the cookie is kept
 *	and handed out as hex, so that it can live in the replica's meta
 *	table next to the data it belongs to.
 */

#include "ldapwatch.h"

#include <errno.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "ldapconn.h"
#include "ldapdir.h"
#include "replica.h"
#include "xalloc.h"

struct ldapwatch {
	LDAP *ld;
	int msgid;			/* the sync search; -1: none */
	char *base;			/* what a probe reads */
	int probe_msgid;		/* -1: no probe waits for its answer */
	long long probe_sent_ms;	/* monotonic */
	unsigned int probe_timeout_s;
	bool answered;			/* a probe was answered */
	bool changed;
	bool refresh_done;
	bool ended;
	int result;			/* of the ended search */
	struct berval cookie;		/* ber_memalloc'd, or NULL */
	char cookie_hex[REPLICA_COOKIE_MAX];
};

/* watch_set_cookie - keep a cookie the server sent */
static void watch_set_cookie(struct ldapwatch *w, const struct berval *c)
{
	if (c->bv_val == NULL || c->bv_len == 0)
		return;
	ber_memfree(w->cookie.bv_val);
	w->cookie.bv_val = ber_memalloc(c->bv_len + 1);
	if (w->cookie.bv_val == NULL) {
		w->cookie.bv_len = 0;	/* no cookie: a full refresh later */
		return;
	}
	memcpy(w->cookie.bv_val, c->bv_val, c->bv_len);
	w->cookie.bv_val[c->bv_len] = '\0';
	w->cookie.bv_len = c->bv_len;
}

/* watch_entry - an entry with its Sync State control: a change */
static void watch_entry(struct ldapwatch *w, LDAPMessage *msg)
{
	LDAPControl **ctrls = NULL;

	w->changed = true;
	if (ldap_get_entry_controls(w->ld, msg, &ctrls) != LDAP_SUCCESS ||
	    ctrls == NULL)
		return;
	for (int i = 0; ctrls[i] != NULL; i++) {
		BerElement *ber;
		struct berval uuid, cookie = { 0, NULL };
		ber_len_t len;
		ber_int_t state;

		if (strcmp(ctrls[i]->ldctl_oid, LDAP_CONTROL_SYNC_STATE) != 0)
			continue;
		ber = ber_init(&ctrls[i]->ldctl_value);
		if (ber == NULL)
			break;
		if (ber_scanf(ber, "{em", &state, &uuid) != LBER_ERROR &&
		    ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_COOKIE &&
		    ber_scanf(ber, "m", &cookie) != LBER_ERROR)
			watch_set_cookie(w, &cookie);
		ber_free(ber, 1);
		break;
	}
	ldap_controls_free(ctrls);
}

/* watch_intermediate - Sync Info: new cookie, refresh phases, ID sets */
static void watch_intermediate(struct ldapwatch *w, LDAPMessage *msg)
{
	char *oid = NULL;
	struct berval *data = NULL, cookie = { 0, NULL };
	BerElement *ber = NULL;
	ber_len_t len;
	ber_tag_t tag;
	ber_int_t done = 1;

	if (ldap_parse_intermediate(w->ld, msg, &oid, &data, NULL, 0) !=
	    LDAP_SUCCESS || oid == NULL || strcmp(oid, LDAP_SYNC_INFO) != 0 ||
	    data == NULL || (ber = ber_init(data)) == NULL)
		goto out;
	tag = ber_peek_tag(ber, &len);
	switch (tag) {
	case LDAP_TAG_SYNC_NEW_COOKIE:
		if (ber_scanf(ber, "m", &cookie) != LBER_ERROR)
			watch_set_cookie(w, &cookie);
		break;
	case LDAP_TAG_SYNC_REFRESH_DELETE:
	case LDAP_TAG_SYNC_REFRESH_PRESENT:
		if (ber_scanf(ber, "{") == LBER_ERROR)
			break;
		if (ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_COOKIE &&
		    ber_scanf(ber, "m", &cookie) != LBER_ERROR)
			watch_set_cookie(w, &cookie);
		if (ber_peek_tag(ber, &len) == LDAP_TAG_REFRESHDONE)
			(void)ber_scanf(ber, "b", &done);
		if (done)
			w->refresh_done = true;
		break;
	case LDAP_TAG_SYNC_ID_SET:
		/* Entries present or deleted, by UUID: something moved. */
		w->changed = true;
		if (ber_scanf(ber, "{") != LBER_ERROR &&
		    ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_COOKIE &&
		    ber_scanf(ber, "m", &cookie) != LBER_ERROR)
			watch_set_cookie(w, &cookie);
		break;
	default:
		break;
	}
out:
	if (ber != NULL)
		ber_free(ber, 1);
	ldap_memfree(oid);
	if (data != NULL)
		ber_bvfree(data);
}

/* watch_result - the search ended (an error, or refresh required) */
static void watch_result(struct ldapwatch *w, LDAPMessage *msg)
{
	int err = LDAP_OTHER;

	if (ldap_parse_result(w->ld, msg, &err, NULL, NULL, NULL, NULL, 0) !=
	    LDAP_SUCCESS)
		err = LDAP_OTHER;
	w->result = err;
	w->ended = true;
}

/* watch_ms - a monotonic clock in milliseconds */
static long long watch_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* watch_take - handle every message already received; -1 if lost */
static int watch_take(struct ldapwatch *w, struct timeval *tv)
{
	for (;;) {
		LDAPMessage *msg = NULL;
		int rc = ldap_result(w->ld, LDAP_RES_ANY, LDAP_MSG_ONE, tv,
				     &msg);
		int id;

		if (rc < 0)
			return -1;
		if (rc == 0)
			return 0;
		id = ldap_msgid(msg);
		if (id != w->msgid) {
			/* The probe's entry and result, or the late answer
			   to an earlier one: the server is there. */
			if (id == w->probe_msgid &&
			    rc == LDAP_RES_SEARCH_RESULT) {
				w->probe_msgid = -1;
				w->answered = true;
			}
			ldap_msgfree(msg);
			tv->tv_sec = 0;
			tv->tv_usec = 0;
			continue;
		}
		switch (rc) {
		case LDAP_RES_SEARCH_ENTRY:
			watch_entry(w, msg);
			break;
		case LDAP_RES_INTERMEDIATE:
			watch_intermediate(w, msg);
			break;
		case LDAP_RES_SEARCH_RESULT:
			watch_result(w, msg);
			break;
		default:
			break;
		}
		ldap_msgfree(msg);
		if (w->ended)
			return 0;
		/* After the first message, only what is already there. */
		tv->tv_sec = 0;
		tv->tv_usec = 0;
	}
}

/* watch_start - send the search with the Sync Request control */
static int watch_start(struct ldapwatch *w, const struct config *cfg,
		       char *filter)
{
	static char *no_attrs[] = { LDAP_NO_ATTRS, NULL };
	LDAPControl ctrl, *ctrls[2] = { &ctrl, NULL };
	BerElement *ber = ber_alloc_t(LBER_USE_DER);
	int rc;

	if (ber == NULL)
		return LDAP_NO_MEMORY;
	if (w->cookie.bv_val != NULL)
		rc = ber_printf(ber, "{eO}", LDAP_SYNC_REFRESH_AND_PERSIST,
				&w->cookie);
	else
		rc = ber_printf(ber, "{e}", LDAP_SYNC_REFRESH_AND_PERSIST);
	memset(&ctrl, 0, sizeof(ctrl));
	if (rc < 0 || ber_flatten2(ber, &ctrl.ldctl_value, 0) < 0) {
		ber_free(ber, 1);
		return LDAP_ENCODING_ERROR;
	}
	ctrl.ldctl_oid = LDAP_CONTROL_SYNC;
	ctrl.ldctl_iscritical = 1;	/* without it, no point searching */
	w->refresh_done = w->ended = false;
	rc = ldap_search_ext(w->ld, cfg->ldap_base, LDAP_SCOPE_SUBTREE, filter,
			     no_attrs, 0, ctrls, NULL, NULL, 0, &w->msgid);
	ber_free(ber, 1);
	return rc;
}

/* watch_hex_to_cookie - the saved cookie back into a berval */
static int watch_hex_to_cookie(const char *hex, struct berval *bv)
{
	size_t len = strlen(hex);

	if (len == 0 || len % 2 != 0)
		return -1;
	bv->bv_val = ber_memalloc(len / 2 + 1);
	if (bv->bv_val == NULL)
		return -1;
	for (size_t i = 0; i < len / 2; i++) {
		unsigned int byte;

		if (sscanf(hex + 2 * i, "%2x", &byte) != 1) {
			ber_memfree(bv->bv_val);
			bv->bv_val = NULL;
			return -1;
		}
		bv->bv_val[i] = (char)byte;
	}
	bv->bv_val[len / 2] = '\0';
	bv->bv_len = len / 2;
	return 0;
}

/* ldapwatch_close - stop watching and NULL the pointer */
void ldapwatch_close(struct ldapwatch **wp)
{
	struct ldapwatch *w = *wp;

	if (w == NULL)
		return;
	if (w->ld != NULL)
		(void)ldap_unbind_ext_s(w->ld, NULL, NULL);
	ber_memfree(w->cookie.bv_val);
	free(w->base);
	free(w);
	*wp = NULL;
}

/* ldapwatch_connect - bind, and watch nothing yet */
int ldapwatch_connect(const struct config *cfg, const char *password,
		      struct ldapwatch **w_r, const char **error_r)
{
	struct ldapwatch *w = xcalloc(1, sizeof(*w));

	w->msgid = w->probe_msgid = -1;
	if (ldapconn_open(cfg, NULL, password, &w->ld, error_r) < 0) {
		free(w);
		return -1;
	}
	w->base = xstrdup(cfg->ldap_base);
	*w_r = w;
	return 0;
}

/* ldapwatch_probe - ask for the base entry; ldapwatch_poll sees the answer */
int ldapwatch_probe(struct ldapwatch *w, unsigned int timeout_s,
		    const char **error_r)
{
	static char *no_attrs[] = { LDAP_NO_ATTRS, NULL };
	struct timeval limit = { (time_t)timeout_s, 0 };
	int rc;

	if (w->probe_msgid != -1)
		return 0;	/* the one sent earlier still counts */
	rc = ldap_search_ext(w->ld, w->base, LDAP_SCOPE_BASE,
			     "(objectClass=*)", no_attrs, 0, NULL, NULL,
			     &limit, 1, &w->probe_msgid);
	if (rc != LDAP_SUCCESS) {
		w->probe_msgid = -1;
		*error_r = error_printf(
			"the directory connection was lost (probe: %s)",
			ldap_err2string(rc));
		return -1;
	}
	w->probe_sent_ms = watch_ms();
	w->probe_timeout_s = timeout_s;
	return 0;
}

/* ldapwatch_answered - whether a probe was answered; clears the flag */
bool ldapwatch_answered(struct ldapwatch *w)
{
	bool answered = w->answered;

	w->answered = false;
	return answered;
}

/* ldapwatch_open - bind, then run the refresh phase */
int ldapwatch_open(const struct config *cfg, const char *password,
		   const char *cookie, struct ldapwatch **w_r,
		   const char **error_r)
{
	struct ldapwatch *w;
	char *filter;
	int rc;

	if (ldapwatch_connect(cfg, password, &w, error_r) < 0)
		return -1;
	if (cookie == NULL || *cookie == '\0' ||
	    watch_hex_to_cookie(cookie, &w->cookie) < 0)
		w->changed = true;	/* no cookie: assume everything */
	filter = xasprintf("(|%s%s%s%s%s)", cfg->ldap_company_filter,
			   cfg->ldap_group_filter, cfg->ldap_user_filter,
			   cfg->ldap_mailbox_filter, cfg->ldap_share_filter);
	for (int attempt = 0; attempt < 2; attempt++) {
		rc = watch_start(w, cfg, filter);
		while (rc == LDAP_SUCCESS && !w->refresh_done && !w->ended) {
			struct timeval tv = { (time_t)cfg->ldap_search_timeout, 0 };

			if (cfg->ldap_search_timeout == 0)
				tv.tv_sec = 3600;
			if (watch_take(w, &tv) < 0)
				rc = LDAP_SERVER_DOWN;
			else if (!w->refresh_done && !w->ended &&
				 tv.tv_sec != 0)
				rc = LDAP_TIMEOUT;	/* nothing came */
		}
		if (rc == LDAP_SUCCESS && w->ended)
			rc = w->result != LDAP_SUCCESS ? w->result : LDAP_OTHER;
		if (rc != LDAP_SYNC_REFRESH_REQUIRED || attempt > 0)
			break;
		/* The server no longer knows the cookie: start over. */
		ber_memfree(w->cookie.bv_val);
		w->cookie.bv_val = NULL;
		w->cookie.bv_len = 0;
		w->changed = true;
	}
	free(filter);
	if (rc == LDAP_UNAVAILABLE_CRITICAL_EXTENSION ||
	    rc == LDAP_UNWILLING_TO_PERFORM) {
		*error_r = error_printf(
			"%s: no content synchronisation (syncprov): %s",
			cfg->ldap_uri, ldapconn_error_text(w->ld, rc));
		ldapwatch_close(&w);
		return 1;
	}
	if (rc != LDAP_SUCCESS) {
		*error_r = error_printf(
			"%s: content synchronisation below %s: %s",
			cfg->ldap_uri, cfg->ldap_base,
			ldapconn_error_text(w->ld, rc));
		ldapwatch_close(&w);
		return -1;
	}
	*w_r = w;
	return 0;
}

/* ldapwatch_poll - wait up to timeout_ms for notifications */
int ldapwatch_poll(struct ldapwatch *w, int timeout_ms, const char **error_r)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

	if (watch_take(w, &tv) < 0) {
		*error_r = "the directory connection was lost";
		return -1;
	}
	if (w->ended) {
		*error_r = error_printf(
			"the server ended the content synchronisation: %s",
			ldap_err2string(w->result));
		return -1;
	}
	/* A connection can stay open while nobody answers on it (a server
	   stopped or hanging, a peer gone without a reset): only a probe
	   that goes unanswered tells. */
	if (w->probe_msgid != -1 &&
	    watch_ms() - w->probe_sent_ms >= 1000LL * w->probe_timeout_s) {
		*error_r = error_printf(
			"the directory did not answer a probe within %u s "
			"(is the server hanging?)", w->probe_timeout_s);
		return -1;
	}
	return 0;
}

/* ldapwatch_changed - whether anything changed; clears the flag */
bool ldapwatch_changed(struct ldapwatch *w)
{
	bool changed = w->changed;

	w->changed = false;
	return changed;
}

/* ldapwatch_cookie - the newest cookie as hex, "" if none or too long */
const char *ldapwatch_cookie(struct ldapwatch *w)
{
	size_t n = 0;

	w->cookie_hex[0] = '\0';
	if (w->cookie.bv_val == NULL ||
	    2 * w->cookie.bv_len >= sizeof(w->cookie_hex))
		return w->cookie_hex;
	for (size_t i = 0; i < w->cookie.bv_len; i++)
		n += (size_t)snprintf(w->cookie_hex + n,
				      sizeof(w->cookie_hex) - n, "%02x",
				      (unsigned char)w->cookie.bv_val[i]);
	return w->cookie_hex;
}
