#ifndef MAILGRANTS_ERROR_H
#define MAILGRANTS_ERROR_H

/*
 * NAME
 *	error - the text behind a const char **error_r
 * SYNOPSIS
 *	#include "error.h"
 *
 *	const char *error_printf(const char *fmt, ...);
 * DESCRIPTION
 *	error_printf() formats a one-line error text into the next of
 *	ERROR_RING buffers of its thread and returns it. The text stays
 *	valid across the next ERROR_RING - 1 calls in that thread, and
 *	whatever object the error was about may be closed meanwhile, so
 *	a caller can log it after cleaning up (Dovecot's data stack
 *	gives t_strdup_printf() the same kind of lifetime). A text
 *	longer than ERROR_MAX - 1 bytes is cut: it is a message, not
 *	data. It replaces a static buffer and a set_error() in each
 *	module.
 */

#include <stdarg.h>

#define ERROR_RING	8
/* A whole configuration line with its file name and the reason. */
#define ERROR_MAX	(4096 + 256)

const char *error_printf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
const char *error_vprintf(const char *fmt, va_list ap)
	__attribute__((format(printf, 1, 0)));

#endif
