/*
 * NAME
 *	fuzz-ldap-entry - libFuzzer harness of the LDAP entry conversion
 * DESCRIPTION
 *	Directory entries, as a search hands them to lib-sync/ldapdir.c, go
 *	through the conversion (ldapdir-private.h) into a real replica
 *	writer on a file in a directory of this process (/dev/shm, else
 *	/tmp, removed at exit), so the writer's checks of staged values
 *	run too. Each input is one sync: the writer is opened, the
 *	entries staged, then the writer aborted or committed; the input
 *	alone decides what happens, so a reproducer is one file.
 *
 *	The input is text, one item a line, LDIF-like:
 *
 *	    ! commit fresh async alt   options (any line, any order)
 *	    @user uid=a,o=abc.com      an entry: kind (company, group,
 *	                               user, mailbox, share; the first
 *	                               letter counts) and DN; "@user"
 *	                               without a blank: no usable DN
 *	    mail: a@abc.com            a value (one blank after the colon
 *	                               is dropped); "name:" an empty
 *	                               value; "name" no values
 *	    # ...                      a comment
 *
 *	"\hh" (two hex digits) in a DN or value is that byte, so NUL and
 *	line breaks can be written. Lines of one name in a row are one
 *	attribute; the name again later is a second attribute of that
 *	name. Entries are staged in the writer's order (companies,
 *	groups, users, mailboxes, shares) as the searches deliver them;
 *	a second entry of one kind with the same normalised DN is left
 *	out, since a server sends each entry once. "commit" commits (and
 *	reads the replica's counts back), "fresh" starts without a
 *	replica file, "async" stages through the writer's thread, "alt"
 *	uses other attribute names (empty ones among them) and default
 *	rights.
 *
 *	Checks: the conversion never fails the replica (-1) for such
 *	entries, and a commit succeeds with the counts the replica then
 *	reports; every warning has a DN and a reason; entries and
 *	skipped entries are counted; a DN that normalises is a fixed
 *	point of ldapdir_dn_normalize() and agrees with libldap's own
 *	ldap_dn_normalize() in lower case (the fast path for plain DNs
 *	must not differ from it). Values are exact-size heap copies, not
 *	NUL-terminated, so ASan sees a read past one.
 *
 *	make fuzz  (build-fuzz/fuzz-ldap-entry, clang, ASan, UBSan)
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ldap.h>

#include "config.h"
#include "ldapdir-private.h"
#include "ldapdir.h"
#include "replica.h"

#define FUZZ_ENTRIES_MAX 64
#define FUZZ_ATTRS_MAX 64
#define FUZZ_DN_CHECKS_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_entry {
	enum ldapdir_kind kind;
	char *dn;			/* NULL: none usable */
	struct ldapdir_attr attrs[FUZZ_ATTRS_MAX];
	char *names[FUZZ_ATTRS_MAX];
	struct berval *values[FUZZ_ATTRS_MAX];
	size_t nattrs;
};

struct fuzz_input {
	bool commit, fresh, async, alt;
	struct fuzz_entry entries[FUZZ_ENTRIES_MAX];
	size_t nentries;
};

struct fuzz_warnings {
	unsigned long count;
	size_t bytes;
};

static char fuzz_dir[64], fuzz_path[96];
static struct config *fuzz_cfg, *fuzz_alt_cfg;

/* Other attribute names: lists with a comma, empty (unread) names. */
static const char fuzz_alt_text[] =
	"ldap_company_group_attribute =\n"
	"ldap_user_login_attribute = uid\n"
	"ldap_user_address_attributes = mail,mailAlternateAddress "
	"mailgrantsAddress\n"
	"ldap_mailbox_address_attributes = mailgrantsAddress mail\n"
	"ldap_mailbox_group_attribute =\n"
	"ldap_mailbox_rights_attribute =\n"
	"ldap_share_rights_attribute =\n"
	"ldap_share_not_before_attribute =\n"
	"ldap_group_member_attributes = uniqueMember\n"
	"owner_rights = lr\n"
	"company_rights = lrs\n"
	"share_rights = l\n";

/* fuzz_remove - the replica file and its companions */
static void fuzz_remove(void)
{
	static const char *const suffixes[] = { "", "-wal", "-shm",
						"-journal" };
	char path[128];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		(void)snprintf(path, sizeof(path), "%s%s", fuzz_path,
			       suffixes[i]);
		(void)unlink(path);
	}
}

/* fuzz_cleanup - remove this process's directory at exit */
static void fuzz_cleanup(void)
{
	fuzz_remove();
	(void)rmdir(fuzz_dir);
}

/* fuzz_init - the directory and the configurations, once */
static void fuzz_init(void)
{
	const char *error;

	if (fuzz_cfg != NULL)
		return;
	(void)snprintf(fuzz_dir, sizeof(fuzz_dir),
		       "/dev/shm/mailgrants-fuzz-XXXXXX");
	if (mkdtemp(fuzz_dir) == NULL) {
		(void)snprintf(fuzz_dir, sizeof(fuzz_dir),
			       "/tmp/mailgrants-fuzz-XXXXXX");
		if (mkdtemp(fuzz_dir) == NULL) {
			perror("mkdtemp");
			abort();
		}
	}
	(void)snprintf(fuzz_path, sizeof(fuzz_path), "%s/replica.db",
		       fuzz_dir);
	atexit(fuzz_cleanup);
	fuzz_cfg = config_defaults();
	fuzz_alt_cfg = config_defaults();
	if (config_parse(fuzz_alt_text, "alt", fuzz_alt_cfg, &error) < 0) {
		fprintf(stderr, "fuzz-ldap-entry: %s\n", error);
		abort();
	}
}

/* fuzz_hex - the value of a hex digit, -1 if none */
static int fuzz_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* fuzz_unescape - "\hh" to bytes, into an exact-size heap copy */
static char *fuzz_unescape(const char *s, size_t len, size_t *len_r,
			   bool terminate)
{
	char *tmp = malloc(len + 1), *out;
	size_t i, o = 0;

	if (tmp == NULL)
		abort();
	for (i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] == '\\' && i + 2 < len &&
		    (hi = fuzz_hex(s[i + 1])) >= 0 &&
		    (lo = fuzz_hex(s[i + 2])) >= 0) {
			tmp[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			tmp[o++] = s[i];
		}
	}
	/* Exactly o bytes (plus the NUL of a string): nothing to spare
	   for a read past the value. */
	out = malloc(o + (terminate ? 1 : 0));
	if (out == NULL)
		abort();
	memcpy(out, tmp, o);
	if (terminate)
		out[o] = '\0';
	free(tmp);
	*len_r = o;
	return out;
}

/* fuzz_kind - the kind a word names, -1 if none */
static int fuzz_kind(char c)
{
	switch (c) {
	case 'c':
		return LDAPDIR_KIND_COMPANY;
	case 'g':
		return LDAPDIR_KIND_GROUP;
	case 'u':
		return LDAPDIR_KIND_USER;
	case 'm':
		return LDAPDIR_KIND_MAILBOX;
	case 's':
		return LDAPDIR_KIND_SHARE;
	default:
		return -1;
	}
}

/* fuzz_options - one "!" line */
static void fuzz_options(struct fuzz_input *in, const char *s, size_t len)
{
	static const char *const words[] = { "commit", "fresh", "async",
					     "alt" };
	bool *flags[] = { &in->commit, &in->fresh, &in->async, &in->alt };

	for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
		size_t n = strlen(words[w]);

		for (size_t i = 0; i + n <= len; i++)
			if (memcmp(s + i, words[w], n) == 0)
				*flags[w] = true;
	}
}

/* fuzz_entry_start - one "@" line */
static void fuzz_entry_start(struct fuzz_input *in, const char *s,
			     size_t len)
{
	struct fuzz_entry *e;
	const char *blank;
	size_t dnlen;
	int kind;

	if (len < 1 || (kind = fuzz_kind(s[0])) < 0 ||
	    in->nentries == FUZZ_ENTRIES_MAX)
		return;
	e = &in->entries[in->nentries++];
	memset(e, 0, sizeof(*e));
	e->kind = (enum ldapdir_kind)kind;
	blank = memchr(s, ' ', len);
	if (blank == NULL)
		return;
	e->dn = fuzz_unescape(blank + 1, len - (size_t)(blank + 1 - s),
			      &dnlen, true);
	/* libldap hands no DN with a NUL inside (one at the end only
	   shortens it). */
	if (dnlen > 1 && memchr(e->dn, '\0', dnlen - 1) != NULL) {
		free(e->dn);
		e->dn = NULL;
	}
}

/* fuzz_value - one "name: value" or "name" line of the last entry */
static void fuzz_value(struct fuzz_input *in, const char *s, size_t len)
{
	struct fuzz_entry *e;
	struct ldapdir_attr *a;
	const char *colon = memchr(s, ':', len);
	size_t nlen = colon != NULL ? (size_t)(colon - s) : len, vlen;
	char *value;

	if (in->nentries == 0)
		return;
	e = &in->entries[in->nentries - 1];
	a = e->nattrs > 0 ? &e->attrs[e->nattrs - 1] : NULL;
	if (a == NULL || strlen(a->name) != nlen ||
	    memcmp(a->name, s, nlen) != 0) {
		if (e->nattrs == FUZZ_ATTRS_MAX)
			return;
		a = &e->attrs[e->nattrs];
		e->names[e->nattrs] = malloc(nlen + 1);
		if (e->names[e->nattrs] == NULL)
			abort();
		memcpy(e->names[e->nattrs], s, nlen);
		e->names[e->nattrs][nlen] = '\0';
		a->name = e->names[e->nattrs];
		a->values = NULL;
		a->count = 0;
		e->nattrs++;
	}
	if (colon == NULL)
		return;
	s = colon + 1;
	len -= nlen + 1;
	if (len > 0 && *s == ' ') {
		s++;
		len--;
	}
	value = fuzz_unescape(s, len, &vlen, false);
	size_t i = (size_t)(a - e->attrs);
	e->values[i] = realloc(e->values[i],
			       (a->count + 1) * sizeof(*e->values[i]));
	if (e->values[i] == NULL)
		abort();
	e->values[i][a->count].bv_val = value;
	e->values[i][a->count].bv_len = vlen;
	a->count++;
	a->values = e->values[i];
}

/* fuzz_parse - the input's lines into entries */
static void fuzz_parse(struct fuzz_input *in, const char *s, size_t size)
{
	size_t pos = 0;

	while (pos < size) {
		const char *nl = memchr(s + pos, '\n', size - pos);
		size_t len = nl != NULL ? (size_t)(nl - (s + pos)) : size - pos;
		const char *line = s + pos;

		pos += len + 1;
		if (len == 0 || line[0] == '#')
			continue;
		if (line[0] == '!')
			fuzz_options(in, line + 1, len - 1);
		else if (line[0] == '@')
			fuzz_entry_start(in, line + 1, len - 1);
		else
			fuzz_value(in, line, len);
	}
}

/* fuzz_free - release the parsed entries */
static void fuzz_free(struct fuzz_input *in)
{
	for (size_t i = 0; i < in->nentries; i++) {
		struct fuzz_entry *e = &in->entries[i];

		for (size_t a = 0; a < e->nattrs; a++) {
			for (size_t v = 0; v < e->attrs[a].count; v++)
				free(e->values[a][v].bv_val);
			free(e->values[a]);
			free(e->names[a]);
		}
		free(e->dn);
	}
}

/* fuzz_warn - the writer's and the conversion's warning callback */
static void fuzz_warn(void *context, const char *dn, const char *reason)
{
	struct fuzz_warnings *w = context;

	if (dn == NULL || reason == NULL || *reason == '\0')
		abort();
	/* Every byte read, so ASan sees a string that is not one. */
	w->bytes += strlen(dn) + strlen(reason);
	w->count++;
}

/* fuzz_check_dn - a DN's normal form: a fixed point, and libldap's */
static void fuzz_check_dn(const char *dn, size_t len)
{
	char out[REPLICA_DN_MAX], again[REPLICA_DN_MAX];
	const char *error;
	char *norm = NULL;
	size_t i, nlen;
	int rc;

	if (len == 0 || len > 4 * REPLICA_DN_MAX || memchr(dn, '\0', len))
		return;
	if (ldapdir_dn_normalize(dn, out, sizeof(out), &error) < 0)
		return;
	if (ldapdir_dn_normalize(out, again, sizeof(again), &error) < 0 ||
	    strcmp(out, again) != 0)
		abort();
	rc = ldap_dn_normalize(dn, LDAP_DN_FORMAT_LDAP, &norm,
			       LDAP_DN_FORMAT_LDAPV3);
	if (rc != LDAP_SUCCESS || norm == NULL)
		abort();	/* the fast path took a DN libldap refuses */
	nlen = strlen(norm);
	for (i = 0; i < nlen; i++)
		if (norm[i] >= 'A' && norm[i] <= 'Z')
			norm[i] = (char)(norm[i] - 'A' + 'a');
	if (strcmp(norm, out) != 0)
		abort();
	ldap_memfree(norm);
}

/* fuzz_check_dns - the DN and (some) values of the entries */
static void fuzz_check_dns(const struct fuzz_input *in)
{
	size_t checks = 0;

	for (size_t i = 0; i < in->nentries; i++) {
		const struct fuzz_entry *e = &in->entries[i];

		if (e->dn != NULL)
			fuzz_check_dn(e->dn, strlen(e->dn));
		for (size_t a = 0; a < e->nattrs; a++) {
			for (size_t v = 0; v < e->attrs[a].count &&
			     checks < FUZZ_DN_CHECKS_MAX; v++, checks++) {
				const struct berval *bv = &e->attrs[a].values[v];
				char *s = malloc(bv->bv_len + 1);

				if (s == NULL)
					abort();
				memcpy(s, bv->bv_val, bv->bv_len);
				s[bv->bv_len] = '\0';
				fuzz_check_dn(s, bv->bv_len);
				free(s);
			}
		}
	}
}

/* fuzz_duplicate - whether an entry of the same kind before this one
   has the same normalised DN (a server sends each entry once) */
static bool fuzz_duplicate(const struct fuzz_input *in, size_t k)
{
	const struct fuzz_entry *e = &in->entries[k];
	char a[REPLICA_DN_MAX], b[REPLICA_DN_MAX];
	const char *error;

	if (e->dn == NULL ||
	    ldapdir_dn_normalize(e->dn, a, sizeof(a), &error) < 0)
		return false;
	for (size_t i = 0; i < k; i++) {
		const struct fuzz_entry *o = &in->entries[i];

		if (o->kind == e->kind && o->dn != NULL &&
		    ldapdir_dn_normalize(o->dn, b, sizeof(b), &error) == 0 &&
		    strcmp(a, b) == 0)
			return true;
	}
	return false;
}

/* fuzz_writer - a writer on the process's replica file */
static struct replica_writer *fuzz_writer(const struct config *cfg,
					  struct fuzz_warnings *warnings)
{
	struct replica_writer_settings set = { 0 };
	struct replica_writer *w = NULL;
	const char *error;

	set.owner_rights = cfg->owner_rights;
	set.company_rights = cfg->company_rights;
	set.share_rights = cfg->share_rights;
	set.warn = fuzz_warn;
	set.warn_context = warnings;
	if (replica_writer_open(fuzz_path, &set, &w, &error) < 0) {
		fprintf(stderr, "fuzz-ldap-entry: %s\n", error);
		abort();
	}
	return w;
}

/* fuzz_replica_state - fresh: no file; otherwise an (empty) replica */
static void fuzz_replica_state(bool fresh, const struct config *cfg)
{
	struct fuzz_warnings warnings = { 0 };
	struct replica_writer *w;
	struct stat st;
	const char *error;

	if (fresh) {
		fuzz_remove();
		return;
	}
	if (stat(fuzz_path, &st) == 0)
		return;
	w = fuzz_writer(cfg, &warnings);
	if (replica_writer_commit(&w, "fuzz", NULL, &error) < 0) {
		fprintf(stderr, "fuzz-ldap-entry: %s\n", error);
		abort();
	}
}

/* fuzz_check_commit - the committed replica reports what was staged */
static void fuzz_check_commit(const struct replica_counts *counts)
{
	struct replica_info info;
	struct replica *rep = NULL;
	const char *error;

	if (replica_open(fuzz_path, &rep, &error) < 0 ||
	    replica_info(rep, &info, &error) < 0) {
		fprintf(stderr, "fuzz-ldap-entry: %s\n", error);
		abort();
	}
	if (strcmp(info.source, "fuzz") != 0 ||
	    info.counts.companies != counts->companies ||
	    info.counts.users != counts->users ||
	    info.counts.mailboxes != counts->mailboxes ||
	    info.counts.groups != counts->groups ||
	    info.counts.shares != counts->shares ||
	    info.counts.grants != counts->grants)
		abort();
	replica_close(&rep);
}

/* LLVMFuzzerTestOneInput - one sync of the input's entries */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_input in;
	struct fuzz_warnings warnings = { 0 };
	struct ldapdir_stats stats = { 0 };
	struct replica_counts counts;
	struct replica_writer *w;
	struct ldapdir_ctx *ctx = NULL;
	const struct config *cfg;
	const char *error = NULL;
	unsigned long converted = 0;
	bool failed = false;

	fuzz_init();
	memset(&in, 0, sizeof(in));
	fuzz_parse(&in, (const char *)data, size);
	fuzz_check_dns(&in);
	cfg = in.alt ? fuzz_alt_cfg : fuzz_cfg;
	fuzz_replica_state(in.fresh, cfg);
	w = fuzz_writer(cfg, &warnings);
	if (in.async && replica_writer_async(w, &error) < 0)
		abort();
	if (ldapdir_conv_create(cfg, w, fuzz_warn, &warnings, &stats, &ctx,
				&error) < 0)
		abort();
	for (int kind = 0; kind < LDAPDIR_KIND_COUNT && !failed; kind++) {
		for (size_t i = 0; i < in.nentries && !failed; i++) {
			const struct fuzz_entry *e = &in.entries[i];
			struct ldapdir_entry view;

			if ((int)e->kind != kind || fuzz_duplicate(&in, i))
				continue;
			view.dn = e->dn;
			view.attrs = e->attrs;
			view.count = e->nattrs;
			converted++;
			if (ldapdir_conv_entry(ctx, e->kind, &view,
					       &error) < 0) {
				fprintf(stderr, "fuzz-ldap-entry: %s\n",
					error);
				failed = true;
			}
		}
	}
	/* Distinct entries never fail the replica itself. */
	if (failed)
		abort();
	if (stats.entries != converted || stats.skipped > stats.entries ||
	    (!in.async && warnings.count < stats.skipped))
		abort();
	if (in.commit) {
		if (replica_writer_commit(&w, "fuzz", &counts, &error) < 0) {
			fprintf(stderr, "fuzz-ldap-entry: %s\n", error);
			abort();
		}
		fuzz_check_commit(&counts);
	} else {
		replica_writer_abort(&w);
	}
	if (w != NULL)
		abort();
	ldapdir_conv_free(&ctx);
	if (ctx != NULL)
		abort();
	fuzz_free(&in);
	return 0;
}
