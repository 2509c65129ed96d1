#ifndef LOAD_H
#define LOAD_H

/*
 * NAME
 *	load - what the benchmark load generators share
 * SYNOPSIS
 *	#include "load.h"
 *
 *	struct load_run run = { .conns = 10, .duration = 5.0, .max = -1 };
 *
 *	int load_option(struct load_run *run, int ch, const char *arg)
 *	uint64_t load_now_ns(void)
 *	void die(const char *fmt, ...)
 *	void *xrealloc(void *ptr, size_t size)
 *	int load_cmp_u32(const void *a, const void *b)
 *	socklen_t load_endpoint(const char *spec,
 *		struct sockaddr_storage *ss)
 * DESCRIPTION
 *	policy-load.c, smtp-load.c and trivial-policyd.c are one source
 *	file each, built in one step with no library (tests/module.mk);
 *	this header gives them the options of a timed run, the clock, the
 *	way out, the latency order and the socket address, as static
 *	functions: each tool has its own copy.
 *
 *	load_option() takes the options both tools have: -c connections
 *	or sessions, -d seconds measured, -n requests or messages in all
 *	(instead of -d), -w seconds of warm-up, -f the list file, -v. It
 *	returns 1 when ch was one of them, 0 otherwise.
 *
 *	die() prints the program's name, the message and a newline, and
 *	exits 1; xrealloc() dies when memory runs out.
 *
 *	load_endpoint() fills ss with the address of unix:PATH or
 *	inet:HOST:PORT (IPv4) and returns its length; it dies on any
 *	other spec.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

struct load_run {
	int conns;		/* -c */
	double duration;	/* -d */
	long long max;		/* -n; -1: none */
	double warmup;		/* -w */
	const char *listfile;	/* -f */
	int verbose;		/* -v */
};

/* load_option - one of the options every load generator takes */
static inline int load_option(struct load_run *run, int ch, const char *arg)
{
	switch (ch) {
	case 'c':
		run->conns = atoi(arg);
		return (1);
	case 'd':
		run->duration = atof(arg);
		return (1);
	case 'n':
		run->max = atoll(arg);
		return (1);
	case 'w':
		run->warmup = atof(arg);
		return (1);
	case 'f':
		run->listfile = arg;
		return (1);
	case 'v':
		run->verbose = 1;
		return (1);
	}
	return (0);
}

/* load_now_ns - monotonic clock in nanoseconds */
static inline uint64_t load_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec);
}

static inline void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* die - print and exit */
static inline void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* xrealloc - realloc or die */
static inline void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size);

	if (p == NULL)
		die("out of memory");
	return (p);
}

/* load_cmp_u32 - qsort order of latencies */
static inline int load_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

	return (x < y ? -1 : x > y);
}

/* load_endpoint - the socket address of unix:PATH or inet:HOST:PORT */
static inline socklen_t load_endpoint(const char *spec,
				      struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *) ss;
		size_t len = strlen(spec + 5);

		if (len == 0 || len >= sizeof(sun->sun_path))
			die("bad path: %s", spec);
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, spec + 5, len + 1);
		return (sizeof(*sun));
	}
	if (strncmp(spec, "inet:", 5) == 0) {
		struct sockaddr_in *sin = (struct sockaddr_in *) ss;
		char host[64];
		const char *colon = strrchr(spec + 5, ':');
		size_t hlen;

		if (colon == NULL || (hlen = (size_t) (colon - spec - 5)) == 0
		    || hlen >= sizeof(host))
			die("bad address: %s", spec);
		memcpy(host, spec + 5, hlen);
		host[hlen] = 0;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((unsigned short) atoi(colon + 1));
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			die("bad host: %s", host);
		return (sizeof(*sin));
	}
	die("not unix:PATH or inet:HOST:PORT: %s", spec);
}

#endif
