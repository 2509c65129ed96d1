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
 * DESCRIPTION
 *	policy-load.c and smtp-load.c are one source file each, built in
 *	one step with no library (tests/module.mk); this header gives
 *	them the options of a timed run, the clock, the way out and the
 *	latency order, as static functions: each tool has its own copy.
 *
 *	load_option() takes the options both tools have: -c connections
 *	or sessions, -d seconds measured, -n requests or messages in all
 *	(instead of -d), -w seconds of warm-up, -f the list file, -v. It
 *	returns 1 when ch was one of them, 0 otherwise.
 *
 *	die() prints the program's name, the message and a newline, and
 *	exits 1; xrealloc() dies when memory runs out.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

#endif
