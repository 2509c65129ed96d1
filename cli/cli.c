/*
 * NAME
 *	cli - what every part of the mailgrants command shares
 * DESCRIPTION
 *	The program name for messages, the one way the commands write an
 *	error line and the one way they print untrusted text (cli.h). Nothing here calls back into a command:
 *	this is the bottom of cli/.
 * SEE ALSO
 *	cli.h, text.h
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/wait.h>

#include "cli.h"
#include "text.h"
#include "xalloc.h"

const char *progname = "mailgrants";

/* cli_vlog - one line on stderr: "progname: [what: ]message" */
void cli_vlog(const char *what, const char *fmt, va_list ap)
{
	if (what != NULL)
		fprintf(stderr, "%s: %s: ", progname, what);
	else
		fprintf(stderr, "%s: ", progname);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	fflush(stderr);
}

/* cli_error - one error line, then the status for the caller to return */
int cli_error(int status, const char *what, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vlog(what, fmt, ap);
	va_end(ap);
	return status;
}

/* cli_print_printable - untrusted text, escaped as in the daemons' logs
   and never cut: room for every byte as \xNN */
void cli_print_printable(FILE *fp, const char *s)
{
	size_t size = strlen(s) * 4 + 4;
	char *buf = xmalloc(size);

	fputs(text_printable_str(buf, size, s, TEXT_ESCAPE), fp);
	free(buf);
}

/* cli_probe_wait - the probe child's answer: its exit status, or -1 */
int cli_probe_wait(pid_t pid)
{
	int status;

	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 255)
		return -1;
	return WEXITSTATUS(status);
}
