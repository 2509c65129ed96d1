/*
 * NAME
 *	test-config - mailgrants.conf parsing, table-driven
 * DESCRIPTION
 *	Good files and every kind of bad line; the error must name the
 *	line and, where there is one, the key. Also checks that every
 *	key the parser knows is documented in doc/mailgrants.conf.5
 *	(run from the top of the source tree).
 */

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "replica-handle.h"
#include "test.h"
#include "xalloc.h"

struct bad_case {
	const char *text;
	const char *must_contain;
};

static const struct bad_case bad[] = {
	{ "replica = /x\nbogus_key = 1\n", "line 2: unknown key \"bogus_key\"" },
	{ "replica /x\n", "line 1: expected \"key = value\"" },
	{ "ldap_starttls = maybe\n", "line 1: ldap_starttls: expected yes or no" },
	{ "ldap_page_size = -5\n", "ldap_page_size: expected a non-negative" },
	{ "ldap_page_size = 12abc\n", "ldap_page_size" },
	{ "ldap_page_size = 99999999999999\n", "ldap_page_size" },
	{ "policy_null_sender = accept\n", "expected dunno or reject" },
	{ "\n\n# c\n = value\n", "line 4: unknown key \"\"" },
};

/* test_good - defaults, overrides, comments, blanks */
static void test_good(void)
{
	struct config *cfg = config_defaults();
	const char *error;

	TEST_STREQ(cfg->replica, "/var/lib/mailgrants/grants.db");
	TEST_STREQ(cfg->recipient_delimiter, "+");
	TEST_ASSERT(cfg->ldap_page_size == 1000);
	TEST_ASSERT(cfg->policy_foreign_sender == CONFIG_POLICY_REJECT);
	TEST_ASSERT(cfg->policy_null_sender == CONFIG_POLICY_DUNNO);
	/* On by default: a dead sync must not freeze revocations for
	   good; well above poll_interval, so a live one never trips it.
	   The Dovecot plugin's default is the same macro. */
	TEST_ASSERT(cfg->replica_max_age == 600);
	TEST_ASSERT(cfg->replica_max_age == REPLICA_HANDLE_MAX_AGE_DEFAULT);
	TEST_ASSERT(cfg->replica_max_age >= 3 * cfg->poll_interval);
	TEST_ASSERT(config_parse("# comment\n\n  replica = /tmp/r.db  \n"
				 "ldap_starttls=yes\r\n"
				 "ldap_page_size = 250\n"
				 "recipient_delimiter =\n"
				 "ldap_base = o=a b, dc=x # not a comment\n"
				 "policy_null_sender = reject",
				 "test", cfg, &error) == 0);
	TEST_STREQ(cfg->replica, "/tmp/r.db");
	TEST_ASSERT(cfg->ldap_starttls);
	TEST_ASSERT(cfg->ldap_page_size == 250);
	TEST_STREQ(cfg->recipient_delimiter, "");
	TEST_STREQ(cfg->ldap_base, "o=a b, dc=x # not a comment");
	TEST_ASSERT(cfg->policy_null_sender == CONFIG_POLICY_REJECT);
	config_free(&cfg);
	TEST_ASSERT(cfg == NULL);
}

/* test_bad - each bad text is refused with a naming error */
static void test_bad(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config *cfg = config_defaults();
		const char *error = NULL;

		TEST_ASSERT(config_parse(bad[i].text, "f.conf", cfg,
					 &error) < 0);
		TEST_ASSERT(error != NULL &&
			    strstr(error, bad[i].must_contain) != NULL);
		if (error != NULL && strstr(error, bad[i].must_contain) == NULL)
			fprintf(stderr, "case %zu: %s\n", i, error);
		TEST_ASSERT(error != NULL && strncmp(error, "f.conf", 6) == 0);
		config_free(&cfg);
	}

	/* Over-long values and lines. */
	struct config *cfg = config_defaults();
	const char *error;
	char *text = xmalloc(CONFIG_LINE_MAX + 64);
	memcpy(text, "ldap_base = ", 12);
	memset(text + 12, 'a', CONFIG_VALUE_MAX + 1);
	text[12 + CONFIG_VALUE_MAX + 1] = '\0';
	TEST_ASSERT(config_parse(text, "f", cfg, &error) < 0);
	TEST_ASSERT(strstr(error, "longer than") != NULL);
	memset(text + 12, 'a', CONFIG_LINE_MAX);
	text[12 + CONFIG_LINE_MAX] = '\0';
	TEST_ASSERT(config_parse(text, "f", cfg, &error) < 0);
	free(text);
	config_free(&cfg);

	TEST_ASSERT(config_read("/nonexistent/mailgrants.conf", &cfg,
				&error) < 0);
	TEST_ASSERT(strstr(error, "/nonexistent/mailgrants.conf") != NULL);
}

/* test_documented - every key appears in the man page */
static void test_documented(void)
{
	FILE *fp = fopen("doc/mailgrants.conf.5", "r");
	static char page[256 * 1024];
	size_t n;

	TEST_ASSERT(fp != NULL);
	if (fp == NULL)
		return;
	n = fread(page, 1, sizeof(page) - 1, fp);
	page[n] = '\0';
	fclose(fp);
	for (unsigned int i = 0; config_key_name(i) != NULL; i++) {
		char needle[128];

		/* groff writes "_" as is; keys stand alone in .B lines. */
		snprintf(needle, sizeof(needle), ".B %s\n", config_key_name(i));
		if (strstr(page, needle) == NULL)
			fprintf(stderr, "undocumented key: %s\n",
				config_key_name(i));
		TEST_ASSERT(strstr(page, needle) != NULL);
	}
}

int main(void)
{
	TEST_RUN(test_good());
	TEST_RUN(test_bad());
	TEST_RUN(test_documented());
	return test_exit("test-config");
}
