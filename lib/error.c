/*
 * NAME
 *	error - the text behind a const char **error_r
 * DESCRIPTION
 *	A small ring per thread (error.h): the sync's staging thread and
 *	the main thread never share a buffer.
 */

#include <stdarg.h>
#include <stdio.h>

#include "error.h"

static _Thread_local char error_ring[ERROR_RING][ERROR_MAX];
static _Thread_local unsigned int error_next;

/* error_vprintf - format into the next buffer of the ring */
const char *error_vprintf(const char *fmt, va_list ap)
{
	char *buf = error_ring[error_next];

	error_next = (error_next + 1) % ERROR_RING;
	vsnprintf(buf, ERROR_MAX, fmt, ap);
	return buf;
}

/* error_printf - format an error text that outlives its objects */
const char *error_printf(const char *fmt, ...)
{
	va_list ap;
	const char *s;

	va_start(ap, fmt);
	s = error_vprintf(fmt, ap);
	va_end(ap);
	return s;
}
