#ifndef MAILGRANTS_XALLOC_H
#define MAILGRANTS_XALLOC_H

/*
 * NAME
 *	xalloc - memory allocation that succeeds or does not return
 * DESCRIPTION
 *	The core and the daemons allocate through these wrappers: on
 *	out-of-memory they print one line to stderr and abort, so no caller
 *	has to handle a NULL it cannot recover from anyway.
 *
 *	xgrow() makes room for need elements of elsize bytes in an array
 *	that has room for *alloc now: it starts at first and doubles,
 *	updates *alloc and returns the array, moved perhaps.
 */

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
void *xgrow(void *ptr, size_t *alloc, size_t need, size_t elsize,
	    size_t first);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
