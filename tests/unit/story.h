#ifndef MAILGRANTS_TEST_STORY_H
#define MAILGRANTS_TEST_STORY_H

/*
 * NAME
 *	story - the abc.com story of DESIGN §1 as a replica, for unit tests
 * SYNOPSIS
 *	int story_build(const char *path, replica_warn_fn *warn, void *ctx);
 *
 *	struct story_warnings warns = { .count = 0 };
 *	struct replica_writer *story_writer(const char *path,
 *					    struct story_warnings *warns);
 *	void story_cleanup(const char *path);
 * DESCRIPTION
 *	Stages what ldap-schema/examples/abc.ldif holds (DNs in the
 *	normal form the LDAP reader produces) through the replica writer,
 *	so that unit tests of everything above the replica run without a
 *	directory. Times: Peter's vacation share runs from 2025-01-01 to
 *	2035-12-31, Tom's share ended with 2024. xyz.org counts as
 *	employees the members of cn=staff, which nests cn=devs, which
 *	nests cn=staff again (a cycle); Lena Wagner is in xyz.org's
 *	subtree but in neither group: a mail user, not an employee.
 *	vertrieb@abc.com is a company mailbox limited to cn=vertrieb
 *	(Jana and Peter; not Sandra, not Tom).
 *
 *	The helpers the replica tests share: story_writer() opens a
 *	writer on path whose warnings story_collect() gathers in warns
 *	as "dn: reason" lines (emptied first); NULL when it cannot.
 *	story_cleanup() removes the replica and its -wal and -shm.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replica.h"
#include "xalloc.h"

#define STORY_BASE "dc=example,dc=org"
#define STORY_ABC "o=abc.com," STORY_BASE
#define STORY_XYZ "o=xyz.org," STORY_BASE
#define STORY_SANDRA "uid=sandra.schuster,ou=people," STORY_ABC
#define STORY_JANA "uid=jana.meier,ou=people," STORY_ABC
#define STORY_PETER "uid=peter.mueller,ou=people," STORY_ABC
#define STORY_TOM "uid=tom.berger,ou=people," STORY_ABC
#define STORY_ANNA "uid=anna.schmidt,ou=people," STORY_XYZ
#define STORY_MAX "uid=max.wolf,ou=people," STORY_XYZ
#define STORY_LENA "uid=lena.wagner,ou=people," STORY_XYZ
#define STORY_VERTRIEB "cn=vertrieb,ou=groups," STORY_ABC
#define STORY_STAFF "cn=staff,ou=groups," STORY_XYZ
#define STORY_DEVS "cn=devs,ou=groups," STORY_XYZ

#define STORY_2024_START ((time_t)1704067200)	/* 2024-01-01T00:00:00Z */
#define STORY_2024_END ((time_t)1735689599)	/* 2024-12-31T23:59:59Z */
#define STORY_2025_START ((time_t)1735689600)	/* 2025-01-01T00:00:00Z */
#define STORY_2035_END ((time_t)2082758399)	/* 2035-12-31T23:59:59Z */

struct story_warnings {
	char text[8192];
	unsigned int count;
};

/* story_collect - remember the writer's warnings as "dn: reason" lines */
static inline void story_collect(void *context, const char *dn,
				 const char *reason)
{
	struct story_warnings *w = context;
	size_t len = strlen(w->text);

	snprintf(w->text + len, sizeof(w->text) - len, "%s: %s\n", dn,
		 reason);
	w->count++;
}

/* story_writer - a writer on path, its warnings collected; NULL: failed */
static inline struct replica_writer *story_writer(const char *path,
						  struct story_warnings *warns)
{
	struct replica_writer_settings set = { .warn = story_collect,
					       .warn_context = warns };
	struct replica_writer *w;
	const char *error;

	warns->text[0] = '\0';
	warns->count = 0;
	if (replica_writer_open(path, &set, &w, &error) < 0) {
		fprintf(stderr, "story: %s\n", error);
		return NULL;
	}
	return w;
}

/* story_cleanup - the replica and its -wal/-shm */
static inline void story_cleanup(const char *path)
{
	char *wal = xasprintf("%s-wal", path), *shm = xasprintf("%s-shm", path);

	unlink(path);
	unlink(wal);
	unlink(shm);
	free(wal);
	free(shm);
}

/* story_build_with - write the story replica with these settings,
   Peter's cn=vacation share with the right to send on behalf or not
   (with it, Tom may send on behalf of makler@abc.com too); 0 or -1 */
static inline int story_build_with(const char *path,
				   const struct replica_writer_settings *set,
				   bool on_behalf)
{
	struct replica_writer *w;
	const char *error;

	if (replica_writer_open(path, set, &w, &error) < 0) {
		fprintf(stderr, "story: %s\n", error);
		return -1;
	}
	const char *abc_domains[] = { "abc.com", NULL };
	const char *xyz_domains[] = { "xyz.org", NULL };
	struct replica_company abc = { .dn = STORY_ABC,
				       .domains = abc_domains };
	struct replica_company xyz = { .dn = STORY_XYZ,
				       .domains = xyz_domains,
				       .group_dn = STORY_STAFF };
	replica_stage_company(w, &abc);
	replica_stage_company(w, &xyz);

	const char *admins[] = { "cn=mailadmin," STORY_BASE, NULL };
	const char *staff[] = { STORY_ANNA, STORY_DEVS, NULL };
	const char *devs[] = { STORY_MAX, STORY_STAFF, NULL };
	const char *vertrieb_members[] = { STORY_JANA, STORY_PETER, NULL };
	struct replica_group groups[] = {
		{ "cn=mail-admins,ou=groups," STORY_BASE, admins },
		{ STORY_VERTRIEB, vertrieb_members },
		{ STORY_STAFF, staff },
		{ STORY_DEVS, devs },
	};
	for (size_t i = 0; i < 4; i++)
		replica_stage_group(w, &groups[i]);

	const char *sandra[] = { "sandra.schuster@abc.com", NULL };
	const char *jana[] = { "jana.meier@abc.com", NULL };
	const char *peter[] = { "peter.mueller@abc.com",
				"peter.m\xc3\xbcller@abc.com", NULL };
	const char *tom[] = { "tom.berger@abc.com", NULL };
	const char *anna[] = { "anna.schmidt@xyz.org", NULL };
	const char *max[] = { "max.wolf@xyz.org", NULL };
	const char *lena[] = { "lena.wagner@xyz.org", NULL };
	struct replica_user users[] = {
		{ STORY_SANDRA, "sandra.schuster@abc.com", sandra },
		{ STORY_JANA, "jana.meier@abc.com", jana },
		{ STORY_PETER, "peter.mueller@abc.com", peter },
		{ STORY_TOM, "tom.berger@abc.com", tom },
		{ STORY_ANNA, "anna.schmidt@xyz.org", anna },
		{ STORY_MAX, "max.wolf@xyz.org", max },
		{ STORY_LENA, "lena.wagner@xyz.org", lena },
	};
	for (size_t i = 0; i < 7; i++)
		replica_stage_user(w, &users[i]);

	const char *makler[] = { "makler@abc.com", NULL };
	const char *buchhaltung[] = { "buchhaltung@abc.com", NULL };
	const char *info_abc[] = { "info@abc.com", NULL };
	const char *info_xyz[] = { "info@xyz.org", NULL };
	const char *vertrieb[] = { "vertrieb@abc.com", NULL };
	struct replica_mailbox mailboxes[] = {
		{ "cn=makler@abc.com,ou=mailboxes," STORY_ABC,
		  REPLICA_MAILBOX_PRIVATE, makler, STORY_SANDRA, NULL, NULL,
		  REPLICA_SENT_COPIES_YES },
		{ "cn=buchhaltung@abc.com,ou=mailboxes," STORY_ABC,
		  REPLICA_MAILBOX_PRIVATE, buchhaltung, STORY_JANA, NULL,
		  NULL, REPLICA_SENT_COPIES_NO },
		{ "cn=info@abc.com,ou=mailboxes," STORY_ABC,
		  REPLICA_MAILBOX_COMPANY, info_abc, NULL, NULL, NULL,
		  REPLICA_SENT_COPIES_YES },
		{ "cn=vertrieb@abc.com,ou=mailboxes," STORY_ABC,
		  REPLICA_MAILBOX_COMPANY, vertrieb, NULL, STORY_VERTRIEB,
		  NULL, REPLICA_SENT_COPIES_DEFAULT },
		{ "cn=info@xyz.org,ou=mailboxes," STORY_XYZ,
		  REPLICA_MAILBOX_COMPANY, info_xyz, NULL, NULL, NULL,
		  REPLICA_SENT_COPIES_DEFAULT },
	};
	for (size_t i = 0; i < 5; i++)
		replica_stage_mailbox(w, &mailboxes[i]);

	const char *vacation[] = { STORY_SANDRA, STORY_JANA, NULL };
	const char *old[] = { STORY_TOM, NULL };
	struct replica_share shares[] = {
		{ "cn=vacation," STORY_PETER, vacation, NULL,
		  STORY_2025_START, STORY_2035_END, "Peter's vacation", on_behalf },
		{ "cn=2024," STORY_PETER, old, NULL, STORY_2024_START,
		  STORY_2024_END, "2024", false },
	};
	for (size_t i = 0; i < 2; i++)
		replica_stage_share(w, &shares[i]);
	if (on_behalf) {
		/* A mailbox that keeps sent copies, Tom on behalf of it. */
		const char *tom_only[] = { STORY_TOM, NULL };
		struct replica_share for_makler = {
			"cn=tom,cn=makler@abc.com,ou=mailboxes," STORY_ABC,
			tom_only, NULL, 0, 0, "Tom for makler@", true
		};

		replica_stage_share(w, &for_makler);
	}

	struct replica_counts counts;
	if (replica_writer_commit(&w, "story", &counts, &error) < 0) {
		fprintf(stderr, "story: %s\n", error);
		return -1;
	}
	return 0;
}

/* story_build_set - write the story replica with these settings */
static inline int story_build_set(const char *path,
				  const struct replica_writer_settings *set)
{
	return story_build_with(path, set, false);
}

/* story_build_on_behalf - the story replica, Peter's cn=vacation share
   with the right to send on behalf or not; 0 or -1 */
static inline int story_build_on_behalf(const char *path,
					replica_warn_fn *warn, void *ctx,
					bool on_behalf)
{
	struct replica_writer_settings set = { .warn = warn,
					       .warn_context = ctx };

	return story_build_with(path, &set, on_behalf);
}

/* story_build - write the story replica to path; 0 or -1 */
static inline int story_build(const char *path, replica_warn_fn *warn,
			      void *ctx)
{
	struct replica_writer_settings set = { .warn = warn,
					       .warn_context = ctx };

	return story_build_with(path, &set, false);
}

#endif
