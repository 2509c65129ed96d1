/*
 * NAME
 *	bench-explain - time rights_decide() on a replica
 * SYNOPSIS
 *	bench-explain [--index] REPLICA QUERIES [COUNT]
 * DESCRIPTION
 *	Opens REPLICA read-only with replica_open() and asks
 *	rights_decide() COUNT times (default 100000) for the
 *	"login<TAB>address" pairs of the file QUERIES (as written by
 *	gen-directory.py --queries), cycling through them. This is the
 *	cost of one decision as the Dovecot plugin, the policy daemon and
 *	"mailgrants explain" pay it, without the process start of the
 *	CLI. A warm-up pass of up to 1000 queries runs first and is not
 *	counted.
 *
 *	Prints one line:
 *
 *	bench-explain: queries=N seconds=S us_per_query=U visible=V
 *	may_send=M none=X private=P company=C shared=H
 *
 *	The kind counts show that the replica gave real answers (a
 *	replica that knows nobody answers NONE to everything).
 *
 *	--index: the decisions read the replica's index in memory
 *	(replica-index.h), as the policy daemon's do, inside one read
 *	transaction. Before the timing, every pair of QUERIES is decided
 *	from the file and from the index, and the two decisions are
 *	compared byte for byte: any difference is an error (exit 1),
 *	printed with the pair; "agreed=N" on the line says how many
 *	pairs were compared.
 * DIAGNOSTICS
 *	Exit status 0 on success; 1 on a usage error, an unreadable
 *	query file, or when replica_open() or rights_decide() fails.
 * SEE ALSO
 *	tests/bench/bench-sync.py, lib/rights.h
 */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "replica-index.h"
#include "replica.h"
#include "rights.h"
#include "xalloc.h"

#define BENCH_DEFAULT_COUNT 100000UL
#define BENCH_WARMUP 1000UL

struct bench_pair {
	char *login;
	char *address;
};

struct bench_pairs {
	struct bench_pair *items;
	size_t count, alloc;
};

/* bench_pairs_read - load the query file, one pair per line */
static int bench_pairs_read(const char *path, struct bench_pairs *p,
			    const char **error_r)
{
	static char error[512];
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned long lineno = 0;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(error, sizeof(error), "open %s: %s", path,
			 strerror(errno));
		*error_r = error;
		return -1;
	}
	while ((len = getline(&line, &cap, f)) != -1) {
		char *tab;

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' ||
				   line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		if ((tab = strchr(line, '\t')) == NULL) {
			snprintf(error, sizeof(error),
				 "%s:%lu: no tab between login and address",
				 path, lineno);
			*error_r = error;
			free(line);
			fclose(f);
			return -1;
		}
		*tab = '\0';
		if (p->count == p->alloc) {
			p->alloc = p->alloc ? p->alloc * 2 : 1024;
			p->items = xrealloc(p->items,
					    p->alloc * sizeof(*p->items));
		}
		p->items[p->count].login = xstrdup(line);
		p->items[p->count].address = xstrdup(tab + 1);
		p->count++;
	}
	free(line);
	if (ferror(f)) {
		snprintf(error, sizeof(error), "read %s: %s", path,
			 strerror(errno));
		*error_r = error;
		fclose(f);
		return -1;
	}
	fclose(f);
	if (p->count == 0) {
		snprintf(error, sizeof(error), "%s: no queries", path);
		*error_r = error;
		return -1;
	}
	return 0;
}

/* bench_pairs_free - release the loaded pairs */
static void bench_pairs_free(struct bench_pairs *p)
{
	for (size_t i = 0; i < p->count; i++) {
		free(p->items[i].login);
		free(p->items[i].address);
	}
	free(p->items);
	p->items = NULL;
	p->count = p->alloc = 0;
}

/* bench_now - monotonic seconds */
static double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct bench_pairs pairs = { NULL, 0, 0 };
	struct replica *rep = NULL;
	struct rights_decision d;
	unsigned long count = BENCH_DEFAULT_COUNT, warm, i = 0;
	unsigned long visible = 0, may_send = 0, kinds[4] = { 0, 0, 0, 0 };
	const char *error;
	time_t now = time(NULL);
	double t0, t1;
	char *end;

	struct replica_index *ix = NULL;
	char ix_error[512];
	unsigned long agreed = 0;
	bool use_index = argc > 1 && strcmp(argv[1], "--index") == 0;

	if (use_index) {
		argv++;
		argc--;
	}
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: bench-explain [--index] REPLICA "
			"QUERIES [COUNT]\n");
		return 1;
	}
	if (argc == 4) {
		errno = 0;
		count = strtoul(argv[3], &end, 10);
		if (errno != 0 || *end != '\0' || count == 0) {
			fprintf(stderr, "bench-explain: bad count: %s\n",
				argv[3]);
			return 1;
		}
	}
	if (bench_pairs_read(argv[2], &pairs, &error) < 0) {
		fprintf(stderr, "bench-explain: %s\n", error);
		return 1;
	}
	if (replica_open(argv[1], &rep, &error) < 0) {
		fprintf(stderr, "bench-explain: %s: %s\n", argv[1], error);
		bench_pairs_free(&pairs);
		return 1;
	}

	if (use_index) {
		if (replica_index_build(argv[1], &ix, ix_error,
					sizeof(ix_error)) < 0) {
			fprintf(stderr, "bench-explain: %s\n", ix_error);
			goto failed_quiet;
		}
		if (replica_read_begin(rep, &error) < 0)
			goto failed;
		for (i = 0; i < pairs.count; i++) {
			const struct bench_pair *p = &pairs.items[i];
			struct rights_decision dx;

			replica_set_index(rep, NULL);
			if (rights_decide(rep, p->login, p->address, now, "+",
					  &d, &error) < 0)
				goto failed;
			replica_set_index(rep, ix);
			if (rights_decide(rep, p->login, p->address, now, "+",
					  &dx, &error) < 0)
				goto failed;
			if (memcmp(&d, &dx, sizeof(d)) != 0) {
				fprintf(stderr, "bench-explain: %s / %s: the "
					"index says %s (%s), the file %s "
					"(%s)\n", p->login, p->address,
					rights_reason_name(dx.reason),
					dx.detail,
					rights_reason_name(d.reason),
					d.detail);
				goto failed_quiet;
			}
			agreed++;
		}
		if (replica_read_end(rep, &error) < 0)
			goto failed;
		/* One read for all, as the daemon's pass; the index is
		   current in it (the generation was just read). */
		if (replica_read_begin(rep, &error) < 0)
			goto failed;
		if (!replica_index_in_use(rep)) {
			fprintf(stderr, "bench-explain: the index is not in "
				"use (replica changed meanwhile?)\n");
			goto failed_quiet;
		}
	}

	warm = pairs.count < BENCH_WARMUP ? pairs.count : BENCH_WARMUP;
	for (i = 0; i < warm; i++) {
		const struct bench_pair *p = &pairs.items[i];

		if (rights_decide(rep, p->login, p->address, now, "+", &d,
				  &error) < 0)
			goto failed;
	}

	t0 = bench_now();
	for (i = 0; i < count; i++) {
		const struct bench_pair *p = &pairs.items[i % pairs.count];

		if (rights_decide(rep, p->login, p->address, now, "+", &d,
				  &error) < 0)
			goto failed;
		if (d.visible)
			visible++;
		if (d.may_send)
			may_send++;
		if ((unsigned int)d.kind < 4)
			kinds[d.kind]++;
	}
	t1 = bench_now();

	if (use_index && replica_read_end(rep, &error) < 0)
		goto failed;

	printf("bench-explain: queries=%lu seconds=%.6f us_per_query=%.3f "
	       "visible=%lu may_send=%lu none=%lu private=%lu company=%lu "
	       "shared=%lu", count, t1 - t0, (t1 - t0) * 1e6 / (double)count,
	       visible, may_send, kinds[RIGHTS_KIND_NONE],
	       kinds[RIGHTS_KIND_PRIVATE], kinds[RIGHTS_KIND_COMPANY],
	       kinds[RIGHTS_KIND_SHARED]);
	if (use_index)
		printf(" agreed=%lu index_mib=%.1f", agreed,
		       replica_index_bytes(ix) / 1048576.0);
	printf("\n");
	replica_close(&rep);
	replica_index_free(&ix);
	bench_pairs_free(&pairs);
	return 0;

failed:
	fprintf(stderr, "bench-explain: rights_decide(%s, %s): %s\n",
		pairs.items[i % pairs.count].login,
		pairs.items[i % pairs.count].address, error);
failed_quiet:
	replica_close(&rep);
	replica_index_free(&ix);
	bench_pairs_free(&pairs);
	return 1;
}
