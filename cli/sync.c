/*
 * NAME
 *	sync - the whole directory into the replica
 * DESCRIPTION
 *	One full read, shared by "sync --once" and each new start of
 *	"sync --follow" (sync.h). The LDAP decoding runs here, the SQLite
 *	writes in the writer's thread.
 * SEE ALSO
 *	sync.h, ldapdir.h, replica.h
 */

#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "cli.h"
#include "config.h"
#include "error.h"
#include "ldapdir.h"
#include "replica.h"
#include "sync.h"

/* sync_warn - a skipped entry, named by its DN */
static void sync_warn(void *context, const char *dn, const char *reason)
{
	unsigned long *n = context;

	(*n)++;
	fprintf(stderr, "%s: warning: ", progname);
	cli_print_printable(stderr, dn);
	fputs(": ", stderr);
	cli_print_printable(stderr, reason);
	fputc('\n', stderr);
}

/* sync_full - the whole directory into the replica, in one transaction */
int sync_full(const struct config *cfg, const char *password,
	      const char *mode, const char *cookie, bool verbose,
	      const char **error_r)
{
	struct replica_writer_settings set = { 0 };
	struct replica_writer *w;
	struct replica_counts counts;
	struct ldapdir_stats stats;
	unsigned long warnings = 0;
	char now[32];

	set.owner_rights = cfg->owner_rights;
	set.company_rights = cfg->company_rights;
	set.share_rights = cfg->share_rights;
	set.cross_company_shares = cfg->cross_company_shares;
	set.sent_copies = cfg->sent_copies;
	set.warn = sync_warn;
	set.warn_context = &warnings;
	if (cfg->replica_group[0] != '\0') {
		struct group *gr = getgrnam(cfg->replica_group);
		char *end;
		unsigned long gid = strtoul(cfg->replica_group, &end, 10);

		if (gr != NULL)
			gid = gr->gr_gid;
		else if (*end != '\0') {
			*error_r = error_printf("replica_group %s: no such "
						"group", cfg->replica_group);
			return -1;
		}
		set.group_set = true;
		set.group = (gid_t)gid;
	}
	if (replica_writer_open(cfg->replica, &set, &w, error_r) < 0)
		return -1;
	/* LDAP decoding here, SQLite in the writer's thread. */
	if (replica_writer_async(w, error_r) < 0) {
		replica_writer_abort(&w);
		return -1;
	}
	if (ldapdir_read_with_password(cfg, password, w, sync_warn, &warnings,
				       &stats, error_r) < 0) {
		replica_writer_abort(&w);
		return -1;
	}
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	replica_writer_meta(w, "sync_mode", mode);
	replica_writer_meta(w, "sync_cookie", cookie);
	replica_writer_meta(w, "heartbeat", *mode != '\0' ? now : "0");
	if (replica_writer_commit(&w, cfg->ldap_uri, &counts, error_r) < 0)
		return -1;
	if (verbose)
		printf("synced %lu entries from %s: %lu companies, %lu users, "
		       "%lu mailboxes, %lu addresses, %lu groups, %lu shares "
		       "(%lu grants); %lu warnings\n", stats.entries,
		       cfg->ldap_uri, counts.companies, counts.users,
		       counts.mailboxes, counts.addresses, counts.groups,
		       counts.shares, counts.grants, warnings);
	fflush(stdout);
	return 0;
}
