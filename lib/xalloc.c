/*
 * NAME
 *	xalloc - memory allocation that succeeds or does not return
 * SEE ALSO
 *	xalloc.h
 */

#include "xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* xalloc_fail - report out-of-memory and abort */
static void __attribute__((noreturn)) xalloc_fail(size_t size)
{
	fprintf(stderr, "mailgrants: out of memory allocating %zu bytes\n",
		size);
	abort();
}

/* xmalloc - allocate or abort */
void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		xalloc_fail(size);
	return p;
}

/* xcalloc - allocate zeroed memory or abort */
void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		xalloc_fail(n * size);
	return p;
}

/* xrealloc - resize or abort */
void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);

	if (p == NULL)
		xalloc_fail(size);
	return p;
}

/* xgrow - room for need elements in an array that has alloc now: the
   one growth rule of every growable array (first, then doubling) */
void *xgrow(void *ptr, size_t *alloc, size_t need, size_t elsize,
	    size_t first)
{
	size_t n = *alloc;

	if (need <= n)
		return ptr;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			xalloc_fail(SIZE_MAX);
		n = n == 0 ? first : n * 2;
	}
	if (elsize != 0 && n > SIZE_MAX / elsize)
		xalloc_fail(SIZE_MAX);
	ptr = xrealloc(ptr, n * elsize);
	*alloc = n;
	return ptr;
}

/* xstrdup - copy a string or abort */
char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

/* xstrndup - copy at most n bytes of a string or abort */
char *xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* xvasprintf - format into a new string or abort */
char *xvasprintf(const char *fmt, va_list ap)
{
	char *p;

	if (vasprintf(&p, fmt, ap) < 0)
		xalloc_fail(strlen(fmt));
	return p;
}

/* xasprintf - format into a new string or abort */
char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}
