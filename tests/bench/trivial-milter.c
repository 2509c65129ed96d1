/*
 * NAME
 *	trivial-milter - a milter that accepts everything, for the benchmark
 * SYNOPSIS
 *	trivial-milter SOCKET
 * DESCRIPTION
 *	The floor of the milter protocol with Debian's libmilter: it
 *	negotiates what mailgrants-milter negotiates, so that Postfix
 *	sends both the same packets: the same protocol steps (no
 *	connect, HELO, RCPT, DATA or body; no replies to MAIL FROM and to
 *	single headers), the same action (SMFIF_ADDRCPT) and the same
 *	macro lists (SMFIF_SETSYMLIST: "{auth_authen} {client_addr} i"
 *	at MAIL FROM, "i" at the end of the headers, fewer than
 *	Postfix's default); it looks at nothing and accepts every
 *	message at the end of the headers. bench-milter.py runs Postfix with it
 *	beside the real milter, so that the cost of the protocol and the
 *	cost of the check can be told apart. Runs until SIGTERM; needs no
 *	configuration, no replica and no privileges.
 *	trivial-milter-raw.c is the same milter without libmilter.
 * SEE ALSO
 *	bench-milter.py, trivial-milter-raw.c,
 *	postfix-policyd/mailgrants-milter.c
 */

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <libmilter/mfapi.h>

#define TRIVIAL_STEPS (SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NORCPT | \
	SMFIP_NOBODY | SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_NR_CONN | \
	SMFIP_NR_MAIL | SMFIP_NR_HDR)

/* trivial_steps - what was negotiated; the same for every connection */
static unsigned long trivial_steps;

/* trivial_negotiate - what mailgrants-milter negotiates */
static sfsistat trivial_negotiate(SMFICTX *ctx, unsigned long f0,
				  unsigned long f1, unsigned long f2,
				  unsigned long f3, unsigned long *pf0,
				  unsigned long *pf1, unsigned long *pf2,
				  unsigned long *pf3)
{
	(void)f2;
	(void)f3;
	*pf0 = f0 & SMFIF_ADDRCPT;
	*pf2 = *pf3 = 0;
	*pf1 = trivial_steps = f1 & TRIVIAL_STEPS;
	if ((f0 & SMFIF_SETSYMLIST) != 0) {
		*pf0 |= SMFIF_SETSYMLIST;
		if (smfi_setsymlist(ctx, SMFIM_ENVFROM,
				    "{auth_authen} {client_addr} i") !=
		    MI_SUCCESS ||
		    smfi_setsymlist(ctx, SMFIM_EOH, "i") != MI_SUCCESS)
			return SMFIS_TEMPFAIL;
	}
	return SMFIS_CONTINUE;
}

/* trivial_envfrom - no reply where none is expected */
static sfsistat trivial_envfrom(SMFICTX *ctx, char **argv)
{
	(void)ctx;
	(void)argv;
	return (trivial_steps & SMFIP_NR_MAIL) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* trivial_header - look at nothing */
static sfsistat trivial_header(SMFICTX *ctx, char *name, char *value)
{
	(void)ctx;
	(void)name;
	(void)value;
	return (trivial_steps & SMFIP_NR_HDR) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* trivial_eoh - accept */
static sfsistat trivial_eoh(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_ACCEPT;
}

static struct smfiDesc trivial_desc = {
	.xxfi_name = "trivial-milter",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_ADDRCPT,
	.xxfi_envfrom = trivial_envfrom,
	.xxfi_header = trivial_header,
	.xxfi_eoh = trivial_eoh,
	.xxfi_eom = trivial_eoh,
	.xxfi_negotiate = trivial_negotiate,
};

/* main - serve SOCKET until SIGTERM */
int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: trivial-milter SOCKET\n");
		return 1;
	}
	if (smfi_register(trivial_desc) != MI_SUCCESS ||
	    smfi_setconn(argv[1]) != MI_SUCCESS ||
	    smfi_opensocket(1) != MI_SUCCESS) {
		fprintf(stderr, "trivial-milter: cannot serve %s\n", argv[1]);
		return 1;
	}
	if (argv[1][0] == 'u' || argv[1][0] == 'l')
		(void)chmod(argv[1] + (argv[1][0] == 'u' ? 5 : 6), 0666);
	fprintf(stderr, "trivial-milter: ready: %s\n", argv[1]);
	return smfi_main() == MI_SUCCESS ? 0 : 1;
}
