/*
 * NAME
 *	fuzz-config - libFuzzer harness of the mailgrants.conf parser
 * DESCRIPTION
 *	Parses the input (cut at a NUL, as a C string) with
 *	config_parse() over the defaults and checks config.h's promises.
 *	An error names the file and a line, "fuzz.conf, line N: ...",
 *	with N a line of the text: the lines before N parse, and the
 *	first N lines fail with the very same error. A success leaves
 *	every string value trimmed, without a line break and at most
 *	CONFIG_VALUE_MAX bytes long. config_free() releases everything
 *	and NULLs the pointer (LeakSanitizer sees the rest).
 *
 *	The input is also written whole to a file that config_read()
 *	reads: a NUL byte makes that an error; otherwise it succeeds
 *	exactly when config_parse() did, and fails on the same line.
 *
 *	make fuzz  (build-fuzz/fuzz-config, clang, ASan, UBSan)
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define FUZZ_NAME "fuzz.conf"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The string values of struct config (the others are typed). */
static const size_t fuzz_strings[] = {
#define F(f) offsetof(struct config, f)
	F(replica), F(replica_group), F(recipient_delimiter), F(ldap_uri),
	F(ldap_bind_dn), F(ldap_bind_password_file), F(ldap_sasl_mech),
	F(ldap_base), F(ldap_tls_ca_file), F(ldap_company_filter),
	F(ldap_user_filter), F(ldap_mailbox_filter), F(ldap_share_filter),
	F(ldap_group_filter), F(ldap_company_domain_attribute),
	F(ldap_company_group_attribute), F(ldap_user_login_attribute),
	F(ldap_user_address_attributes), F(ldap_mailbox_kind_attribute),
	F(ldap_mailbox_address_attributes), F(ldap_mailbox_owner_attribute),
	F(ldap_mailbox_group_attribute), F(ldap_mailbox_rights_attribute),
	F(ldap_share_grantee_attribute), F(ldap_share_rights_attribute),
	F(ldap_share_not_before_attribute), F(ldap_share_not_after_attribute),
	F(ldap_share_on_behalf_attribute),
	F(ldap_group_member_attributes), F(owner_rights), F(company_rights),
	F(share_rights),
#undef F
};

static char fuzz_path[64];

/* fuzz_cleanup - remove the file config_read() reads */
static void fuzz_cleanup(void)
{
	if (fuzz_path[0] != '\0')
		(void)unlink(fuzz_path);
}

/* fuzz_parse - config_parse() of the first len bytes of text */
static int fuzz_parse(const char *text, size_t len, char *error,
		      size_t errsize)
{
	struct config *cfg = config_defaults();
	char *copy = malloc(len + 1);
	const char *err = NULL;
	int ret;

	if (copy == NULL)
		abort();
	memcpy(copy, text, len);
	copy[len] = '\0';
	ret = config_parse(copy, FUZZ_NAME, cfg, &err);
	if (ret < 0)
		(void)snprintf(error, errsize, "%s", err);
	config_free(&cfg);
	if (cfg != NULL)
		abort();
	free(copy);
	return ret;
}

/* fuzz_check_values - the values a successful parse leaves */
static void fuzz_check_values(const struct config *cfg)
{
	for (size_t i = 0; i < sizeof(fuzz_strings) / sizeof(fuzz_strings[0]);
	     i++) {
		const char *v = *(char *const *)(const void *)
			((const char *)cfg + fuzz_strings[i]);
		size_t len;

		if (v == NULL)
			abort();
		len = strlen(v);
		if (len > CONFIG_VALUE_MAX || strchr(v, '\n') != NULL)
			abort();
		if (len > 0 && (v[0] == ' ' || v[0] == '\t' ||
				v[len - 1] == ' ' || v[len - 1] == '\t' ||
				v[len - 1] == '\r'))
			abort();
	}
}

/* fuzz_line - the line number an error names, 0 if it names none */
static unsigned long fuzz_line(const char *error, const char *name)
{
	size_t n = strlen(name);
	unsigned long line;
	char *end;

	if (strncmp(error, name, n) != 0 || strncmp(error + n, ", line ", 7))
		return 0;
	if (error[n + 7] < '1' || error[n + 7] > '9')
		return 0;
	line = strtoul(error + n + 7, &end, 10);
	if (strncmp(end, ": ", 2) != 0 || end[2] == '\0')
		return 0;
	return line;
}

/* fuzz_line_end - the offset just past line n (1-based) of text */
static size_t fuzz_line_end(const char *text, size_t len, unsigned long n)
{
	size_t pos = 0;

	while (n-- > 0 && pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);

		pos = nl != NULL ? (size_t)(nl - text) + 1 : len;
	}
	return pos;
}

/* fuzz_lines - how many lines config_parse() sees in text */
static unsigned long fuzz_lines(const char *text, size_t len)
{
	unsigned long n = 0;
	size_t pos = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);

		n++;
		pos = nl != NULL ? (size_t)(nl - text) + 1 : len;
	}
	return n;
}

/* fuzz_read - config_read() of the whole input, as a file */
static void fuzz_read(const uint8_t *data, size_t size, size_t len, int ret,
		      unsigned long line)
{
	struct config *cfg = NULL;
	const char *error = NULL;
	FILE *fp;

	if (fuzz_path[0] == '\0') {
		(void)snprintf(fuzz_path, sizeof(fuzz_path),
			       "/tmp/fuzz-config.%ld.conf", (long)getpid());
		atexit(fuzz_cleanup);
	}
	fp = fopen(fuzz_path, "w");
	if (fp == NULL)
		abort();
	if (fwrite(data, 1, size, fp) != size || fclose(fp) != 0)
		abort();
	if (config_read(fuzz_path, &cfg, &error) == 0) {
		if (len < size || ret != 0 || cfg == NULL)
			abort();
		fuzz_check_values(cfg);
		config_free(&cfg);
		return;
	}
	if (error == NULL || cfg != NULL)
		abort();
	if (len < size)
		return;		/* "NUL byte in file" */
	if (ret == 0 && size <= 1024 * 1024 - 8192)
		abort();
	if (ret < 0 && fuzz_line(error, fuzz_path) != line)
		abort();
}

/* LLVMFuzzerTestOneInput - one text through the parser */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	char error[1024], again[1024];
	struct config *cfg;
	const char *err = NULL;
	unsigned long line = 0;
	size_t len;
	int ret;
	char *copy;

	/* config_parse() reads a C string: the text ends at a NUL. */
	len = strnlen(text, size);
	copy = malloc(len + 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, text, len);
	copy[len] = '\0';
	cfg = config_defaults();
	ret = config_parse(copy, FUZZ_NAME, cfg, &err);
	if (ret == 0) {
		fuzz_check_values(cfg);
	} else {
		if (ret != -1 || err == NULL)
			abort();
		(void)snprintf(error, sizeof(error), "%s", err);
		line = fuzz_line(error, FUZZ_NAME);
		if (line == 0 || line > fuzz_lines(copy, len))
			abort();
		/* The lines before parse; the line itself fails alike. */
		if (fuzz_parse(copy, fuzz_line_end(copy, len, line - 1),
			       again, sizeof(again)) != 0)
			abort();
		if (fuzz_parse(copy, fuzz_line_end(copy, len, line), again,
			       sizeof(again)) == 0 ||
		    strcmp(again, error) != 0)
			abort();
	}
	config_free(&cfg);
	if (cfg != NULL)
		abort();
	fuzz_read(data, size, len, ret, line);
	free(copy);
	return 0;
}
