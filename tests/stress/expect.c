/*
 * NAME
 *	stress-expect - what the policy daemon must answer, per (login, sender)
 * SYNOPSIS
 *	stress-expect CONF REPLICA LISTFILE
 * DESCRIPTION
 *	Reads mailgrants.conf CONF (for the settings policy_decide() uses:
 *	recipient delimiter, null sender, unauthenticated senders,
 *	replica_max_age), opens REPLICA read-only (instead of the replica
 *	the configuration names) and, for every (login, sender) pair of
 *	LISTFILE, asks policy_decide() - the decision table the daemon
 *	itself runs - for the complete Postfix action.
 *
 *	LISTFILE has one pair per line, separated by a tab or blanks, in
 *	the format of tests/bench/policy-load.c: a login "-" is an
 *	unauthenticated session, a sender "<>" the null sender, "#"
 *	starts a comment.
 *
 *	Prints one line per pair on standard output:
 *
 *	login<TAB>sender<TAB>reply
 *
 *	with login and sender as they were read and reply the text the
 *	daemon sends after "action=". This is the expectation that
 *	"policy-load -x" checks every reply against.
 * DIAGNOSTICS
 *	Exit status 0 on success; 1 on a usage error, an unreadable file,
 *	a replica that cannot be opened, or a pair whose decision failed
 *	in the replica (a DEFER_IF_PERMIT 4.3.0 would be no expectation).
 * SEE ALSO
 *	tests/stress/stress-policyd.py, lib/policy.h
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "policy.h"
#include "replica.h"

/* expect_field - the next field separated by tabs or blanks, or NULL */
static char *expect_field(char **cursor)
{
	char *p = *cursor, *start;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return NULL;
	start = p;
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	if (*p != '\0')
		*p++ = '\0';
	*cursor = p;
	return start;
}

/* expect_pairs - decide every pair of the list file and print it */
static int expect_pairs(FILE *f, const char *path, struct replica *rep,
			const struct config *cfg, unsigned long *count_r)
{
	struct policy_decision d;
	char *line = NULL, *cursor, *login, *sender;
	size_t cap = 0;
	ssize_t len;
	unsigned long lineno = 0;
	time_t now = time(NULL);
	int ret = 0;

	*count_r = 0;
	while ((len = getline(&line, &cap, f)) != -1) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' ||
				   line[len - 1] == '\r'))
			line[--len] = '\0';
		cursor = line;
		if ((login = expect_field(&cursor)) == NULL || *login == '#')
			continue;
		if ((sender = expect_field(&cursor)) == NULL) {
			fprintf(stderr, "stress-expect: %s:%lu: no sender\n",
				path, lineno);
			ret = -1;
			break;
		}
		if (policy_decide(rep, cfg,
				  strcmp(login, "-") == 0 ? NULL : login,
				  strcmp(sender, "<>") == 0 ? "" : sender,
				  now, &d) < 0) {
			fprintf(stderr, "stress-expect: %s:%lu: replica "
				"failed: %s\n", path, lineno, d.detail);
			ret = -1;
			break;
		}
		if (d.action == POLICY_ACTION_DEFER_IF_PERMIT &&
		    (d.reason == POLICY_REASON_REPLICA_UNAVAILABLE ||
		     d.reason == POLICY_REASON_REPLICA_TOO_OLD)) {
			fprintf(stderr, "stress-expect: %s:%lu: no replica "
				"answer: %s %s\n", path, lineno, d.reply,
				d.detail);
			ret = -1;
			break;
		}
		if (printf("%s\t%s\t%s\n", login, sender, d.reply) < 0) {
			fprintf(stderr, "stress-expect: write: %s\n",
				strerror(errno));
			ret = -1;
			break;
		}
		(*count_r)++;
	}
	if (ret == 0 && ferror(f)) {
		fprintf(stderr, "stress-expect: read %s: %s\n", path,
			strerror(errno));
		ret = -1;
	}
	free(line);
	return ret;
}

int main(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct replica *rep = NULL;
	const char *error;
	unsigned long count = 0;
	FILE *f;
	int ret;

	if (argc != 4) {
		fprintf(stderr, "usage: stress-expect CONF REPLICA "
			"LISTFILE\n");
		return 1;
	}
	if (config_read(argv[1], &cfg, &error) < 0) {
		fprintf(stderr, "stress-expect: %s\n", error);
		return 1;
	}
	if (replica_open(argv[2], &rep, &error) < 0) {
		fprintf(stderr, "stress-expect: %s: %s\n", argv[2], error);
		config_free(&cfg);
		return 1;
	}
	if ((f = fopen(argv[3], "r")) == NULL) {
		fprintf(stderr, "stress-expect: open %s: %s\n", argv[3],
			strerror(errno));
		replica_close(&rep);
		config_free(&cfg);
		return 1;
	}
	ret = expect_pairs(f, argv[3], rep, cfg, &count);
	fclose(f);
	replica_close(&rep);
	config_free(&cfg);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "stress-expect: write: %s\n",
			strerror(errno));
		return 1;
	}
	if (ret == 0 && count == 0) {
		fprintf(stderr, "stress-expect: %s: no pairs\n", argv[3]);
		return 1;
	}
	return ret < 0 ? 1 : 0;
}
