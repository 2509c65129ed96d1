/*
 * NAME
 *	test-replica - the replica's writer and its failure modes
 * DESCRIPTION
 *	Skipped entries warn with their DN; an aborted sync leaves the
 *	previous file byte for byte; a reader sees a new sync without
 *	reopening; missing, garbage, truncated and foreign-version files
 *	are refused by readers and rebuilt by the writer. The reader's
 *	handle (replica-handle.h) re-attaches a file changed in place,
 *	refuses what is not a replica with a completed sync, judges the
 *	age, and keeps its error texts past the replica that made them.
 */

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <grp.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "recipient.h"
#include "replica-handle.h"
#include "replica-private.h"
#include "rights.h"
#include "story.h"
#include "test.h"
#include "xalloc.h"

#define T2026 ((time_t)1780272000)

/* slurp - a whole file, or NULL */
static char *slurp(const char *path, size_t *len_r)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long len;

	if (fp == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	buf = xmalloc((size_t)len + 1);
	*len_r = fread(buf, 1, (size_t)len, fp);
	fclose(fp);
	return buf;
}

/* spew - write bytes to a file */
static void spew(const char *path, const char *data, size_t len)
{
	FILE *fp = fopen(path, "wb");

	if (fp == NULL)
		return;
	fwrite(data, 1, len, fp);
	fclose(fp);
}

/* test_skips - bad entries are skipped by DN, the rest stays */
static void test_skips(const char *path)
{
	struct story_warnings warns = { .count = 0 };
	struct replica_writer *w;
	struct replica_counts counts;
	const char *error;

	story_cleanup(path);
	TEST_ASSERT((w = story_writer(path, &warns)) != NULL);
	const char *doms[] = { "t.example", NULL }, *nodoms[] = { "bad domain", NULL };
	struct replica_company c = { "o=t,dc=x", doms, NULL };
	struct replica_company bad = { "o=bad,dc=x", nodoms, NULL };
	TEST_ASSERT(replica_stage_company(w, &c) == 0);
	TEST_ASSERT(replica_stage_company(w, &bad) == 1);
	const char *a[] = { "a@t.example", "alias@t.example", NULL };
	const char *a2[] = { "other@t.example", NULL };
	const char *b[] = { "a@t.example", NULL };
	const char *c1[] = { "not an address", NULL };
	struct replica_user ua = { "uid=a,o=t,dc=x", "a@t.example", a };
	struct replica_user dup_login = { "uid=a2,o=t,dc=x", "A@t.example", a2 };
	struct replica_user dup_addr = { "uid=b,o=t,dc=x", "b@t.example", b };
	struct replica_user bad_addr = { "uid=c,o=t,dc=x", "c@t.example", c1 };
	struct replica_user no_login = { "uid=d,o=t,dc=x", NULL, a2 };
	TEST_ASSERT(replica_stage_user(w, &ua) == 0);
	TEST_ASSERT(replica_stage_user(w, &dup_login) == 1);
	TEST_ASSERT(replica_stage_user(w, &dup_addr) == 1);
	TEST_ASSERT(replica_stage_user(w, &bad_addr) == 1);
	TEST_ASSERT(replica_stage_user(w, &no_login) == 1);
	const char *m1[] = { "m1@t.example", NULL }, *m2[] = { "m2@t.example", NULL };
	const char *m3[] = { "m3@t.example", NULL };
	struct replica_mailbox orphan = { "cn=m1,o=t,dc=x",
					  REPLICA_MAILBOX_PRIVATE, m1,
					  "uid=nobody,o=t,dc=x", NULL, NULL,
					  REPLICA_SENT_COPIES_DEFAULT };
	struct replica_mailbox badrights = { "cn=m2,o=t,dc=x",
					     REPLICA_MAILBOX_COMPANY, m2, NULL,
					     NULL, "lr;drop",
					     REPLICA_SENT_COPIES_DEFAULT };
	struct replica_mailbox outside = { "cn=m3,dc=elsewhere",
					   REPLICA_MAILBOX_COMPANY, m3, NULL,
					   NULL, NULL,
					   REPLICA_SENT_COPIES_DEFAULT };
	TEST_ASSERT(replica_stage_mailbox(w, &orphan) == 0);
	TEST_ASSERT(replica_stage_mailbox(w, &badrights) == 1);
	TEST_ASSERT(replica_stage_mailbox(w, &outside) == 1);
	const char *g[] = { "uid=a,o=t,dc=x", NULL };
	struct replica_share nowhere = { "cn=s,cn=nothing,o=t,dc=x", g, NULL, 0,
					 0, NULL, false };
	struct replica_share backwards = { "cn=s2,uid=a,o=t,dc=x", g, NULL,
					   T2026, T2026 - 1, NULL, false };
	struct replica_share ok = { "cn=s3,uid=a,o=t,dc=x", g, NULL, 0, 0,
				    NULL, false };
	TEST_ASSERT(replica_stage_share(w, &nowhere) == 1);
	TEST_ASSERT(replica_stage_share(w, &backwards) == 1);
	TEST_ASSERT(replica_stage_share(w, &ok) == 0);
	/* Out of order is a programming error, reported at commit. */
	TEST_ASSERT(replica_stage_company(w, &c) == -1);
	TEST_ASSERT(replica_writer_commit(&w, "t", &counts, &error) == -1);
	TEST_ASSERT(strstr(error, "out of order") != NULL);
	TEST_ASSERT(w == NULL);

	/* Again, in order, to check what survived. */
	TEST_ASSERT((w = story_writer(path, &warns)) != NULL);
	replica_stage_company(w, &c);
	replica_stage_user(w, &ua);
	replica_stage_user(w, &dup_login);
	replica_stage_mailbox(w, &orphan);
	TEST_ASSERT(replica_writer_commit(&w, "t", &counts, &error) == 0);
	TEST_ASSERT(counts.users == 1);
	TEST_ASSERT(counts.mailboxes == 1);	/* the orphan went */
	TEST_ASSERT(counts.addresses == 2);
	TEST_ASSERT(strstr(warns.text, "uid=a2,o=t,dc=x: login a@t.example is"
			   " used by uid=a,o=t,dc=x") != NULL);
	TEST_ASSERT(strstr(warns.text, "cn=m1,o=t,dc=x: owner uid=nobody,"
			   "o=t,dc=x is not a mail user") != NULL);
	if (warns.count != 2)
		fprintf(stderr, "%s", warns.text);
	TEST_ASSERT(warns.count == 2);
}

/* test_fuzz_found - what tests/fuzz/fuzz-ldap-entry.c found: a user
   and no company (qsort of no array, UBSan), and an entry that is a
   mail user and a mailbox at once (mailgrantsUser is auxiliary), which
   failed the whole sync instead of skipping the mailbox */
static void test_fuzz_found(const char *path)
{
	struct story_warnings warns = { .count = 0 };
	struct replica_writer *w;
	struct replica_counts counts;
	const char *error;

	story_cleanup(path);
	const char *a[] = { "a@t.example", NULL };
	struct replica_user ua = { "uid=a,o=t,dc=x", "a@t.example", a };
	TEST_ASSERT((w = story_writer(path, &warns)) != NULL);
	TEST_ASSERT(replica_stage_user(w, &ua) == 0);
	TEST_ASSERT(replica_writer_commit(&w, "t", &counts, &error) == 0);
	TEST_ASSERT(counts.users == 1);

	const char *doms[] = { "t.example", NULL };
	struct replica_company c = { "o=t,dc=x", doms, NULL };
	const char *m[] = { "team@t.example", NULL };
	struct replica_mailbox both = { "uid=a,o=t,dc=x",
					REPLICA_MAILBOX_COMPANY, m, NULL,
					NULL, NULL,
					REPLICA_SENT_COPIES_DEFAULT };
	TEST_ASSERT((w = story_writer(path, &warns)) != NULL);
	TEST_ASSERT(replica_stage_company(w, &c) == 0);
	TEST_ASSERT(replica_stage_user(w, &ua) == 0);
	TEST_ASSERT(replica_stage_mailbox(w, &both) == 1);
	TEST_ASSERT(replica_writer_commit(&w, "t", &counts, &error) == 0);
	TEST_ASSERT(counts.users == 1 && counts.mailboxes == 1);
	TEST_ASSERT(strstr(warns.text, "uid=a,o=t,dc=x: a mail user and a "
			   "mailbox at once") != NULL);
}

/* test_unusable_names - an address that can never be a mailbox name
   (Dovecot shows "Shared/ADDRESS/"; %n and %d make paths of it) skips
   its entry, or as an alias only itself, with a warning naming the DN */
static void test_unusable_names(const char *path)
{
	struct story_warnings warns = { .count = 0 };
	struct replica_writer *w;
	struct replica_counts counts;
	struct replica *rep;
	struct rights_decision d;
	const char *error;

	story_cleanup(path);
	TEST_ASSERT((w = story_writer(path, &warns)) != NULL);
	const char *doms[] = { "t.example", NULL };
	struct replica_company c = { "o=t,dc=x", doms, NULL };
	TEST_ASSERT(replica_stage_company(w, &c) == 0);
	const char *a[] = { "a@t.example", "a%b@t.example", "a.b@t.example",
			    NULL };
	const char *trav[] = { "a/../b@t.example", NULL };
	const char *dots[] = { "..@t.example", NULL };
	struct replica_user ua = { "uid=a,o=t,dc=x", "a@t.example", a };
	struct replica_user ut = { "uid=t,o=t,dc=x", "t@t.example", trav };
	TEST_ASSERT(replica_stage_user(w, &ua) == 0);
	TEST_ASSERT(replica_stage_user(w, &ut) == 1);
	struct replica_mailbox md = { "cn=dots,o=t,dc=x",
				      REPLICA_MAILBOX_COMPANY, dots, NULL,
				      NULL, NULL,
				      REPLICA_SENT_COPIES_DEFAULT };
	const char *star[] = { "*@t.example", NULL };
	struct replica_mailbox ms = { "cn=star,o=t,dc=x",
				      REPLICA_MAILBOX_PRIVATE, star,
				      "uid=a,o=t,dc=x", NULL, NULL,
				      REPLICA_SENT_COPIES_DEFAULT };
	TEST_ASSERT(replica_stage_mailbox(w, &md) == 1);
	TEST_ASSERT(replica_stage_mailbox(w, &ms) == 1);
	TEST_ASSERT(replica_writer_commit(&w, "t", &counts, &error) == 0);
	TEST_ASSERT(counts.users == 1);
	TEST_ASSERT(counts.mailboxes == 1);
	TEST_ASSERT(counts.addresses == 2);	/* a@ and a.b@ */
	TEST_ASSERT(counts.skipped == 3);
	TEST_ASSERT(strstr(warns.text, "uid=t,o=t,dc=x: primary address: "
			   "character not allowed in a mailbox name") != NULL);
	TEST_ASSERT(strstr(warns.text, "cn=dots,o=t,dc=x: primary address: a"
			   " mailbox name may not start with") != NULL);
	TEST_ASSERT(strstr(warns.text, "cn=star,o=t,dc=x: primary address: "
			   "character not allowed") != NULL);
	TEST_ASSERT(strstr(warns.text, "uid=a,o=t,dc=x: address ignored: "
			   "character not allowed") != NULL);
	if (warns.count != 4)
		fprintf(stderr, "%s", warns.text);
	TEST_ASSERT(warns.count == 4);
	/* Nothing of them reached the replica. */
	TEST_ASSERT(replica_open(path, &rep, &error) == 0);
	TEST_ASSERT(rights_decide(rep, "t@t.example", "a/../b@t.example",
				  T2026, "+", &d, &error) == 0);
	TEST_ASSERT(d.reason == RIGHTS_REASON_UNKNOWN_LOGIN);
	TEST_ASSERT(rights_decide(rep, "a@t.example", "a%b@t.example", T2026,
				  "+", &d, &error) == 0);
	TEST_ASSERT(d.reason == RIGHTS_REASON_UNKNOWN_ADDRESS);
	TEST_ASSERT(rights_decide(rep, "a@t.example", "a.b@t.example", T2026,
				  "+", &d, &error) == 0);
	TEST_ASSERT(d.reason == RIGHTS_REASON_OWNER);
	replica_close(&rep);
}

/* test_missing_groups - a group named by a company or a mailbox that
   the directory does not have grants nothing: nobody counts as an
   employee, nobody sees the mailbox; the sync names the entry */
static void test_missing_groups(const char *path)
{
	struct story_warnings warns = { .count = 0 };
	struct replica_writer *w;
	struct replica *rep;
	struct rights_decision d;
	struct rights_list l;
	const char *error;

	story_cleanup(path);
	TEST_ASSERT((w = story_writer(path, &warns)) != NULL);
	const char *tdoms[] = { "t.example", NULL };
	const char *gdoms[] = { "gone.example", NULL };
	struct replica_company ct = { "o=t,dc=x", tdoms, NULL };
	struct replica_company cg = { "o=gone,dc=x", gdoms,
				      "cn=staff,o=gone,dc=x" };
	TEST_ASSERT(replica_stage_company(w, &ct) == 0);
	TEST_ASSERT(replica_stage_company(w, &cg) == 0);
	const char *members[] = { "uid=a,o=t,dc=x", NULL };
	struct replica_group team = { "cn=team,o=t,dc=x", members };
	TEST_ASSERT(replica_stage_group(w, &team) == 0);
	const char *a[] = { "a@t.example", NULL };
	const char *b[] = { "b@t.example", NULL };
	const char *g[] = { "g@gone.example", NULL };
	struct replica_user users[] = {
		{ "uid=a,o=t,dc=x", "a@t.example", a },
		{ "uid=b,o=t,dc=x", "b@t.example", b },
		{ "uid=g,o=gone,dc=x", "g@gone.example", g },
	};
	for (int i = 0; i < 3; i++)
		TEST_ASSERT(replica_stage_user(w, &users[i]) == 0);
	const char *lost[] = { "lost@t.example", NULL };
	const char *teamm[] = { "team@t.example", NULL };
	const char *info[] = { "info@gone.example", NULL };
	struct replica_mailbox boxes[] = {
		{ "cn=lost,o=t,dc=x", REPLICA_MAILBOX_COMPANY, lost, NULL,
		  "cn=deleted,o=t,dc=x", NULL, REPLICA_SENT_COPIES_DEFAULT },
		{ "cn=team,o=t,dc=x", REPLICA_MAILBOX_COMPANY, teamm, NULL,
		  "cn=team,o=t,dc=x", NULL, REPLICA_SENT_COPIES_DEFAULT },
		{ "cn=info,o=gone,dc=x", REPLICA_MAILBOX_COMPANY, info, NULL,
		  NULL, NULL, REPLICA_SENT_COPIES_DEFAULT },
	};
	for (int i = 0; i < 3; i++)
		TEST_ASSERT(replica_stage_mailbox(w, &boxes[i]) == 0);
	TEST_ASSERT(replica_writer_commit(&w, "t", NULL, &error) == 0);
	TEST_ASSERT(strstr(warns.text, "cn=lost,o=t,dc=x: group "
			   "cn=deleted,o=t,dc=x not found: nobody sees this"
			   " mailbox") != NULL);
	TEST_ASSERT(strstr(warns.text, "o=gone,dc=x: employee group "
			   "cn=staff,o=gone,dc=x not found: nobody counts as"
			   " employee") != NULL);
	if (warns.count != 2)
		fprintf(stderr, "%s", warns.text);
	TEST_ASSERT(warns.count == 2);

	TEST_ASSERT(replica_open(path, &rep, &error) == 0);
	/* The group that exists still works: the "yes" and the "no". */
	TEST_ASSERT(rights_decide(rep, "a@t.example", "team@t.example", T2026,
				  "+", &d, &error) == 0);
	TEST_ASSERT(d.reason == RIGHTS_REASON_COMPANY && d.may_send);
	TEST_ASSERT(rights_decide(rep, "b@t.example", "team@t.example", T2026,
				  "+", &d, &error) == 0);
	TEST_ASSERT(d.reason == RIGHTS_REASON_NOT_IN_GROUP && !d.visible);
	/* The lost group: nobody, not even a member of another group. */
	for (int i = 0; i < 2; i++) {
		TEST_ASSERT(rights_decide(rep, users[i].login, "lost@t.example",
					  T2026, "+", &d, &error) == 0);
		TEST_ASSERT(d.reason == RIGHTS_REASON_NOT_IN_GROUP);
		TEST_ASSERT(!d.visible && !d.may_send);
	}
	TEST_ASSERT(rights_who(rep, "lost@t.example", T2026, "+", &l,
			       &error) == 0);
	TEST_ASSERT(l.count == 0);
	rights_list_free(&l);
	TEST_ASSERT(rights_access(rep, "a@t.example", T2026, &l, &error) == 0);
	TEST_ASSERT(l.count == 2);	/* a@ and team@, not lost@ */
	for (size_t i = 0; i < l.count; i++)
		TEST_ASSERT(strcmp(l.items[i].mailbox, "lost@t.example") != 0);
	rights_list_free(&l);
	/* The company without its employee group: nobody is an employee. */
	TEST_ASSERT(rights_decide(rep, "g@gone.example", "info@gone.example",
				  T2026, "+", &d, &error) == 0);
	TEST_ASSERT(d.reason == RIGHTS_REASON_NOT_YOURS);
	TEST_ASSERT(!d.visible && !d.may_send);
	TEST_ASSERT(strstr(d.detail, "not counted as an employee") != NULL);
	TEST_ASSERT(rights_access(rep, "g@gone.example", T2026, &l,
				  &error) == 0);
	TEST_ASSERT(l.count == 1);	/* only the own mailbox */
	rights_list_free(&l);
	TEST_ASSERT(rights_who(rep, "info@gone.example", T2026, "+", &l,
			       &error) == 0);
	TEST_ASSERT(l.count == 0);
	rights_list_free(&l);
	replica_close(&rep);
}

/* test_abort_and_live - an aborted sync changes nothing; a reader sees
   a committed one without reopening */
static void test_abort_and_live(const char *path)
{
	struct replica_writer_settings set = { 0 };
	struct replica_writer *w;
	struct replica *rep;
	struct rights_decision d;
	const char *error;
	size_t len1, len2;

	story_cleanup(path);
	TEST_ASSERT(story_build(path, NULL, NULL) == 0);
	char *before = slurp(path, &len1);
	TEST_ASSERT(replica_open(path, &rep, &error) == 0);

	TEST_ASSERT(replica_writer_open(path, &set, &w, &error) == 0);
	const char *doms[] = { "abc.com", NULL };
	struct replica_company c = { "o=abc.com,dc=example,dc=org", doms,
				     NULL };
	TEST_ASSERT(replica_stage_company(w, &c) == 0);
	/* Mid-sync, readers still see the whole previous replica. */
	struct replica *rep2;
	TEST_ASSERT(replica_open(path, &rep2, &error) == 0);
	TEST_ASSERT(rights_decide(rep2, "sandra.schuster@abc.com",
				  "info@abc.com", T2026, "+", &d,
				  &error) == 0);
	TEST_ASSERT(d.kind == RIGHTS_KIND_COMPANY);
	replica_close(&rep2);
	replica_writer_abort(&w);
	TEST_ASSERT(w == NULL);
	char *after = slurp(path, &len2);
	TEST_ASSERT(before != NULL && after != NULL && len1 == len2 &&
		    memcmp(before, after, len1) == 0);
	free(before);
	free(after);

	/* A committed sync without Peter's share: the open reader sees it. */
	TEST_ASSERT(rights_decide(rep, "sandra.schuster@abc.com",
				  "peter.mueller@abc.com", T2026, "+", &d,
				  &error) == 0);
	TEST_ASSERT(d.kind == RIGHTS_KIND_SHARED);
	TEST_ASSERT(replica_writer_open(path, &set, &w, &error) == 0);
	TEST_ASSERT(replica_writer_commit(&w, "empty", NULL, &error) == 0);
	TEST_ASSERT(replica_refresh(rep, &error) == 0);
	TEST_ASSERT(rights_decide(rep, "sandra.schuster@abc.com",
				  "peter.mueller@abc.com", T2026, "+", &d,
				  &error) == 0);
	TEST_ASSERT(d.reason == RIGHTS_REASON_UNKNOWN_LOGIN);
	struct replica_info info;
	TEST_ASSERT(replica_info(rep, &info, &error) == 0);
	TEST_STREQ(info.source, "empty");
	TEST_ASSERT(info.counts.users == 0);
	replica_close(&rep);
	TEST_ASSERT(rep == NULL);
}

/* test_bad_files - readers refuse, the writer rebuilds */
static void test_bad_files(const char *path)
{
	struct replica *rep = NULL;
	const char *error;
	size_t len;

	story_cleanup(path);
	TEST_ASSERT(replica_open(path, &rep, &error) == -1);
	TEST_ASSERT(strstr(error, "has mailgrants sync run") != NULL);

	spew(path, "this is not a database, just text\n", 34);
	TEST_ASSERT(replica_open(path, &rep, &error) == -1);
	TEST_ASSERT(strstr(error, "not a replica or corrupt") != NULL);

	/* Truncated: the header survives, the tables do not. */
	story_cleanup(path);
	TEST_ASSERT(story_build(path, NULL, NULL) == 0);
	char *whole = slurp(path, &len);
	story_cleanup(path);
	spew(path, whole, 4096 + 100);
	free(whole);
	TEST_ASSERT(replica_open(path, &rep, &error) == -1);

	/* Another schema version. */
	story_cleanup(path);
	TEST_ASSERT(story_build(path, NULL, NULL) == 0);
	sqlite3 *db;
	TEST_ASSERT(sqlite3_open(path, &db) == SQLITE_OK);
	TEST_ASSERT(sqlite3_exec(db, "PRAGMA user_version = 7", NULL, NULL,
				 NULL) == SQLITE_OK);
	sqlite3_close(db);
	TEST_ASSERT(replica_open(path, &rep, &error) == -1);
	TEST_ASSERT(strstr(error, "schema version 7") != NULL);

	/* The writer rebuilds what readers refuse, and says so. */
	struct story_warnings warns = { .count = 0 };
	warns.text[0] = '\0';
	TEST_ASSERT(story_build(path, story_collect, &warns) == 0);
	TEST_ASSERT(strstr(warns.text, "building a new one") != NULL);
	TEST_ASSERT(replica_open(path, &rep, &error) == 0);
	replica_close(&rep);

	spew(path, "garbage", 7);
	TEST_ASSERT(story_build(path, NULL, NULL) == 0);
	TEST_ASSERT(replica_open(path, &rep, &error) == 0);
	replica_close(&rep);

	/* Readers never write. */
	struct stat st;
	TEST_ASSERT(stat(path, &st) == 0);
	TEST_ASSERT((st.st_mode & 0777) != 0);
}

/* overwrite - new bytes in the same inode, as cp(1) or a restore does */
static void overwrite(const char *path, const char *data, size_t len)
{
	int fd;

	/* Past the file system's timestamp tick, as any later write is. */
	usleep(20 * 1000);
	fd = open(path, O_WRONLY | O_TRUNC);
	TEST_ASSERT(fd >= 0);
	if (fd < 0)
		return;
	TEST_ASSERT(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

/* sql - run statements on a replica as its writer would not */
static void sql(const char *path, const char *stmts)
{
	sqlite3 *db;

	TEST_ASSERT(sqlite3_open(path, &db) == SQLITE_OK);
	TEST_ASSERT(sqlite3_exec(db, stmts, NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
}

/* usable - one forced check of the handle, with its text */
static int usable(struct replica_handle *h, time_t now, const char **error_r)
{
	return replica_handle_check(h, now, true, error_r);
}

/* test_handle_changed_in_place - truncated or overwritten, same inode */
static void test_handle_changed_in_place(const char *path)
{
	struct replica_handle *h;
	struct rights_decision d;
	const char *error, *text;
	time_t now = time(NULL);
	size_t len;
	struct stat st1, st2;

	story_cleanup(path);
	TEST_ASSERT(story_build(path, NULL, NULL) == 0);
	char *whole = slurp(path, &len);
	replica_handle_open(path, 0, &h);
	TEST_ASSERT(usable(h, now, &error) == 1);
	TEST_ASSERT(replica_handle_news(h, now, &text) ==
		    REPLICA_HANDLE_QUIET);
	TEST_ASSERT(rights_decide(replica_handle_replica(h),
				  "sandra.schuster@abc.com", "info@abc.com",
				  now, "+", &d, &error) == 0);
	TEST_ASSERT(d.kind == RIGHTS_KIND_COMPANY);

	/* Truncated in place: the page cache must not answer for it. */
	TEST_ASSERT(stat(path, &st1) == 0);
	usleep(20 * 1000);
	TEST_ASSERT(truncate(path, 0) == 0);
	TEST_ASSERT(stat(path, &st2) == 0 && st1.st_ino == st2.st_ino);
	TEST_ASSERT(usable(h, now, &error) == 0);
	TEST_ASSERT(replica_handle_news(h, now, &text) == REPLICA_HANDLE_LOST);
	TEST_ASSERT(strstr(text, path) != NULL);
	/* Said once, not at every check of the same trouble. */
	TEST_ASSERT(usable(h, now + 1, &error) == 0);
	TEST_ASSERT(replica_handle_news(h, now + 1, &text) ==
		    REPLICA_HANDLE_QUIET);
	TEST_ASSERT(replica_handle_news(h, now + REPLICA_HANDLE_REMIND_SECS,
					&text) == REPLICA_HANDLE_LOST);

	/* The good bytes back, same inode: usable again, and said so. */
	overwrite(path, whole, len);
	TEST_ASSERT(usable(h, now, &error) == 1);
	TEST_ASSERT(replica_handle_news(h, now, &text) == REPLICA_HANDLE_BACK);
	TEST_ASSERT(strstr(text, "available again") != NULL);
	TEST_ASSERT(rights_decide(replica_handle_replica(h),
				  "sandra.schuster@abc.com", "info@abc.com",
				  now, "+", &d, &error) == 0);
	TEST_ASSERT(d.kind == RIGHTS_KIND_COMPANY);

	/* Cut after the first pages (the header survives). */
	overwrite(path, whole, 4096 + 100);
	TEST_ASSERT(usable(h, now, &error) == 0);
	overwrite(path, whole, len);
	TEST_ASSERT(usable(h, now, &error) == 1);

	/* Overwritten with garbage of the same size. */
	char *garbage = xmalloc(len);
	for (size_t i = 0; i < len; i++)
		garbage[i] = (char)(i * 7 + 3);
	overwrite(path, garbage, len);
	TEST_ASSERT(usable(h, now, &error) == 0);
	TEST_ASSERT(replica_handle_news(h, now, &text) == REPLICA_HANDLE_LOST);
	free(garbage);

	/* Overwritten with a replica of another schema version. */
	char other[512];
	snprintf(other, sizeof(other), "%s.other", path);
	story_cleanup(other);
	TEST_ASSERT(story_build(other, NULL, NULL) == 0);
	sql(other, "PRAGMA journal_mode = DELETE; PRAGMA user_version = 7");
	size_t olen;
	char *obytes = slurp(other, &olen);
	overwrite(path, obytes, olen);
	TEST_ASSERT(usable(h, now, &error) == 0);
	TEST_ASSERT(strstr(error, "schema version 7") != NULL);
	free(obytes);
	story_cleanup(other);

	/* A check in the same second is free, and says the same. */
	overwrite(path, whole, len);
	TEST_ASSERT(replica_handle_check(h, now, false, &error) == 0);
	TEST_ASSERT(replica_handle_check(h, now + 1, false, &error) == 1);
	free(whole);
	replica_handle_close(&h);
	TEST_ASSERT(h == NULL);
}

/* test_handle_refused - what is not a replica with a completed sync */
static void test_handle_refused(const char *path)
{
	struct replica_handle *h;
	const char *error, *text;
	time_t now = time(NULL);
	char link[512];

	story_cleanup(path);
	replica_handle_open(path, 0, &h);
	TEST_ASSERT(usable(h, now, &error) == 0);
	TEST_ASSERT(strstr(error, "has mailgrants sync run") != NULL);
	TEST_ASSERT(replica_handle_replica(h) == NULL);
	TEST_ASSERT(replica_handle_news(h, now, &text) == REPLICA_HANDLE_LOST);

	/* Tables, but no sync ever completed in them. */
	TEST_ASSERT(story_build(path, NULL, NULL) == 0);
	sql(path, "DELETE FROM meta WHERE key = 'last_success'");
	TEST_ASSERT(usable(h, now, &error) == 0);
	TEST_ASSERT(strstr(error, "no completed sync") != NULL);
	replica_handle_close(&h);

	/* Not regular files, directly and through a symbolic link; a
	   FIFO must be refused without waiting for a writer. The writer
	   refuses them too, and leaves them as they are. */
	snprintf(link, sizeof(link), "%s.link", path);
	const char *targets[] = { "dir", "fifo", "/dev/null", NULL };
	for (int i = 0; targets[i] != NULL; i++) {
		char target[512];

		story_cleanup(path);
		unlink(link);
		if (targets[i][0] == '/') {
			snprintf(target, sizeof(target), "%s", targets[i]);
		} else {
			snprintf(target, sizeof(target), "%s.%s", path,
				 targets[i]);
			rmdir(target);
			unlink(target);
			if (strcmp(targets[i], "dir") == 0)
				TEST_ASSERT(mkdir(target, 0755) == 0);
			else
				TEST_ASSERT(mkfifo(target, 0644) == 0);
			if (targets[i][0] != '/') {
				/* the path itself is one */
				rename(target, path);
				replica_handle_open(path, 0, &h);
				TEST_ASSERT(usable(h, now, &error) == 0);
				TEST_ASSERT(strstr(error, "not a regular "
						   "file") != NULL);
				replica_handle_close(&h);
				struct replica_writer_settings set = { 0 };
				struct replica_writer *w = NULL;
				struct stat st;
				TEST_ASSERT(replica_writer_open(path, &set, &w,
								&error) == -1);
				TEST_ASSERT(w == NULL);
				TEST_ASSERT(strstr(error, "not a regular "
						   "file") != NULL);
				TEST_ASSERT(lstat(path, &st) == 0 &&
					    !S_ISREG(st.st_mode));
				rename(path, target);
			}
		}
		TEST_ASSERT(symlink(target, link) == 0);
		replica_handle_open(link, 0, &h);
		TEST_ASSERT(usable(h, now, &error) == 0);
		TEST_ASSERT(strstr(error, "not a regular file") != NULL);
		replica_handle_close(&h);
		unlink(link);
		if (targets[i][0] != '/') {
			rmdir(target);
			unlink(target);
		}
	}
}

/* test_handle_age - too old is unusable, a heartbeat makes it current */
static void test_handle_age(const char *path)
{
	struct replica_handle *h;
	const char *error, *text;
	time_t now = time(NULL);
	char old[32];

	story_cleanup(path);
	TEST_ASSERT(story_build(path, NULL, NULL) == 0);
	snprintf(old, sizeof(old), "%lld", (long long)(now - 1000));
	const char *keys[] = { "last_success", "heartbeat", NULL };
	const char *values[] = { old, old, NULL };
	TEST_ASSERT(replica_meta_write(path, keys, values, &error) == 0);

	replica_handle_open(path, 600, &h);
	TEST_ASSERT(usable(h, now, &error) == 0);
	TEST_ASSERT(strstr(error, "older than replica_max_age (600 s)") !=
		    NULL);
	/* Still attached: the policy table says why it defers. */
	TEST_ASSERT(replica_handle_replica(h) != NULL);
	TEST_ASSERT(replica_handle_news(h, now, &text) == REPLICA_HANDLE_LOST);

	/* A live sync's heartbeat: current again, without a reopen. */
	char beat[32];
	snprintf(beat, sizeof(beat), "%lld", (long long)now);
	const char *hb_keys[] = { "heartbeat", NULL };
	const char *hb_values[] = { beat, NULL };
	TEST_ASSERT(replica_meta_write(path, hb_keys, hb_values, &error) == 0);
	TEST_ASSERT(usable(h, now, &error) == 1);
	TEST_ASSERT(replica_handle_news(h, now, &text) == REPLICA_HANDLE_BACK);
	TEST_ASSERT(usable(h, now + 601, &error) == 0);
	replica_handle_close(&h);

	/* Without a limit, age does not matter. */
	replica_handle_open(path, 0, &h);
	TEST_ASSERT(usable(h, now + 100000, &error) == 1);
	replica_handle_close(&h);
}

/* test_handle_text_outlives - a query's error text survives the close */
static void test_handle_text_outlives(const char *path)
{
	struct replica_handle *h;
	const char *error, *text;
	time_t now = time(NULL);

	story_cleanup(path);
	TEST_ASSERT(story_build(path, NULL, NULL) == 0);
	replica_handle_open(path, 0, &h);
	TEST_ASSERT(usable(h, now, &error) == 1);
	/* A text that lives in the replica object, as a failed query's
	   does; the handle closes that object (ASan sees any use after). */
	const char *in_rep = replica_error(replica_handle_replica(h),
					   "probe of a failed query");
	replica_handle_failed(h, in_rep);
	TEST_ASSERT(replica_handle_replica(h) == NULL);
	TEST_ASSERT(replica_handle_news(h, now, &text) == REPLICA_HANDLE_LOST);
	TEST_ASSERT(strstr(text, "probe of a failed query") != NULL);
	TEST_ASSERT(replica_handle_check(h, now, false, &error) == 0);
	TEST_ASSERT(strstr(error, "probe of a failed query") != NULL);
	/* The next second tries again, and it works. */
	TEST_ASSERT(replica_handle_check(h, now + 1, false, &error) == 1);
	TEST_ASSERT(replica_handle_news(h, now + 1, &text) ==
		    REPLICA_HANDLE_BACK);

	/* The same for a failed open of a bad file. */
	overwrite(path, "garbage, not a database", 23);
	TEST_ASSERT(usable(h, now + 2, &error) == 0);
	TEST_ASSERT(strstr(error, "not a replica or corrupt") != NULL);
	TEST_ASSERT(replica_handle_news(h, now + 2, &text) ==
		    REPLICA_HANDLE_LOST);
	TEST_ASSERT(strstr(text, "not a replica or corrupt") != NULL);
	replica_handle_close(&h);
}

/* test_dn_parent - escapes are not separators */
static void test_dn_parent(void)
{
	TEST_STREQ(dn_parent("cn=a,dc=b"), "dc=b");
	TEST_STREQ(dn_parent("cn=a\\,b,dc=c"), "dc=c");
	TEST_STREQ(dn_parent("cn=a\\\\,dc=c"), "dc=c");
	TEST_ASSERT(dn_parent("dc=c") == NULL);
	TEST_ASSERT(dn_parent("cn=a\\") == NULL);
	TEST_ASSERT(dn_parent("cn=a,") == NULL);
}

/* test_async - staging in the writer's thread gives the same replica */
static void test_async(const char *path)
{
	struct story_warnings warns = { .count = 0 };
	struct replica_writer *w;
	struct replica_counts counts;
	const char *error;
	char name[64];

	story_cleanup(path);
	TEST_ASSERT((w = story_writer(path, &warns)) != NULL);
	TEST_ASSERT(replica_writer_async(w, &error) == 0);
	const char *doms[] = { "t.example", NULL };
	struct replica_company c = { "o=t,dc=x", doms, NULL };
	TEST_ASSERT(replica_stage_company(w, &c) == 0);
	/* More entries than the queue holds, so the producer waits. */
	for (int i = 0; i < 10000; i++) {
		char dn[64], addr[64];
		const char *addrs[] = { addr, NULL };
		struct replica_user u = { dn, addr, addrs };

		snprintf(dn, sizeof(dn), "uid=u%d,o=t,dc=x", i);
		snprintf(addr, sizeof(addr), "u%d@t.example", i);
		TEST_ASSERT(replica_stage_user(w, &u) == 0);
	}
	/* A duplicate: skipped by the thread, warned through the lock. */
	const char *dup[] = { "u7@t.example", NULL };
	struct replica_user d = { "uid=dup,o=t,dc=x", "dup@t.example", dup };
	TEST_ASSERT(replica_stage_user(w, &d) == 0);
	const char *g[] = { "uid=u1,o=t,dc=x", NULL };
	struct replica_share sh = { "cn=s,uid=u0,o=t,dc=x", g, "lr", 0, 0,
				    "async", false };
	TEST_ASSERT(replica_stage_share(w, &sh) == 0);
	TEST_ASSERT(replica_writer_commit(&w, "async", &counts, &error) == 0);
	TEST_ASSERT(counts.users == 10000);
	TEST_ASSERT(counts.shares == 1 && counts.grants == 1);
	TEST_ASSERT(warns.count == 1);
	TEST_ASSERT(strstr(warns.text, "uid=dup,o=t,dc=x: address "
			   "u7@t.example belongs to uid=u7,o=t,dc=x") != NULL);

	struct replica *rep;
	struct rights_decision dd;
	TEST_ASSERT(replica_open(path, &rep, &error) == 0);
	TEST_ASSERT(rights_decide(rep, "u1@t.example", "u0@t.example", T2026,
				  "+", &dd, &error) == 0);
	TEST_ASSERT(dd.kind == RIGHTS_KIND_SHARED);
	TEST_STREQ(dd.rights, "lr");
	replica_close(&rep);

	/* Abort with entries still queued: the old replica stays, and
	   nothing leaks (ASan checks). */
	TEST_ASSERT((w = story_writer(path, &warns)) != NULL);
	TEST_ASSERT(replica_writer_async(w, &error) == 0);
	TEST_ASSERT(replica_stage_company(w, &c) == 0);
	for (int i = 0; i < 5000; i++) {
		const char *addrs[] = { name, NULL };
		struct replica_user u = { name, name, addrs };

		snprintf(name, sizeof(name), "x%d@t.example", i);
		replica_stage_user(w, &u);
	}
	replica_writer_abort(&w);
	TEST_ASSERT(w == NULL);
	TEST_ASSERT(replica_open(path, &rep, &error) == 0);
	struct replica_info info;
	TEST_ASSERT(replica_info(rep, &info, &error) == 0);
	TEST_STREQ(info.source, "async");
	TEST_ASSERT(info.counts.users == 10000);
	replica_close(&rep);
}

/* lookup - recipient_lookup() as "1 answer", "0" or "-1" */
static const char *lookup(struct replica *rep, enum recipient_map map,
			  const char *key)
{
	static char text[600];
	char out[ADDR_MAX];
	const char *error;
	int rc = recipient_lookup(rep, map, key, "+", out, sizeof(out),
				  &error);

	if (rc > 0)
		snprintf(text, sizeof(text), "1 %s", out);
	else
		snprintf(text, sizeof(text), "%d", rc);
	return text;
}

/* test_recipient_lookup - the socketmap maps of mailgrants-policyd */
static void test_recipient_lookup(const char *path)
{
	struct replica *rep;
	const char *error;

	story_cleanup(path);
	TEST_ASSERT(story_build(path, NULL, NULL) == 0);
	TEST_ASSERT(replica_open(path, &rep, &error) == 0);
	/* Mailboxes that are not people, by any form of their address. */
	TEST_STREQ(lookup(rep, RECIPIENT_MAILBOX, "info@abc.com"),
		   "1 info@abc.com");
	TEST_STREQ(lookup(rep, RECIPIENT_MAILBOX, "INFO@Abc.COM"),
		   "1 info@abc.com");
	TEST_STREQ(lookup(rep, RECIPIENT_MAILBOX, "info+orders@abc.com"),
		   "1 info@abc.com");
	TEST_STREQ(lookup(rep, RECIPIENT_MAILBOX, "makler@abc.com"),
		   "1 makler@abc.com");
	/* People are the site's; unknown and non-addresses are not found. */
	TEST_STREQ(lookup(rep, RECIPIENT_MAILBOX, "peter.mueller@abc.com"),
		   "0");
	TEST_STREQ(lookup(rep, RECIPIENT_MAILBOX,
			  "peter.m\xc3\xbcller@abc.com"), "0");
	TEST_STREQ(lookup(rep, RECIPIENT_MAILBOX, "nobody@abc.com"), "0");
	TEST_STREQ(lookup(rep, RECIPIENT_MAILBOX, "@abc.com"), "0");
	TEST_STREQ(lookup(rep, RECIPIENT_MAILBOX, "abc.com"), "0");
	TEST_STREQ(lookup(rep, RECIPIENT_MAILBOX, "\xff@abc.com"), "0");
	/* Aliases go to the primary address, extension kept; the primary
	   itself is not an alias (Postfix stops there). */
	TEST_STREQ(lookup(rep, RECIPIENT_ALIAS,
			  "peter.m\xc3\xbcller@abc.com"),
		   "1 peter.mueller@abc.com");
	TEST_STREQ(lookup(rep, RECIPIENT_ALIAS,
			  "Peter.M\xc3\x9cller@abc.com"),
		   "1 peter.mueller@abc.com");
	/* NFD "u" + combining diaeresis is the same address. */
	TEST_STREQ(lookup(rep, RECIPIENT_ALIAS,
			  "peter.mu\xcc\x88ller@abc.com"),
		   "1 peter.mueller@abc.com");
	TEST_STREQ(lookup(rep, RECIPIENT_ALIAS,
			  "peter.m\xc3\xbcller+privat@abc.com"),
		   "1 peter.mueller+privat@abc.com");
	TEST_STREQ(lookup(rep, RECIPIENT_ALIAS, "peter.mueller@abc.com"), "0");
	TEST_STREQ(lookup(rep, RECIPIENT_ALIAS, "peter.mueller+x@abc.com"),
		   "0");
	TEST_STREQ(lookup(rep, RECIPIENT_ALIAS, "info@abc.com"), "0");
	TEST_STREQ(lookup(rep, RECIPIENT_ALIAS, "nobody@abc.com"), "0");
	replica_close(&rep);

	/* An IDN domain: stored as A-label, asked in either form. */
	struct replica_writer_settings set = { 0 };
	struct replica_writer *w;
	const char *domains[] = { "b\xc3\xbc" "cher.de", NULL };
	const char *info[] = { "info@b\xc3\xbc" "cher.de", NULL };
	struct replica_company c = { .dn = "o=buecher,dc=example,dc=org",
				     .domains = domains };
	struct replica_mailbox m = {
		.dn = "cn=info,o=buecher,dc=example,dc=org",
		.kind = REPLICA_MAILBOX_COMPANY, .addresses = info };

	story_cleanup(path);
	TEST_ASSERT(replica_writer_open(path, &set, &w, &error) == 0);
	TEST_ASSERT(replica_stage_company(w, &c) == 0);
	TEST_ASSERT(replica_stage_mailbox(w, &m) == 0);
	TEST_ASSERT(replica_writer_commit(&w, "test", NULL, &error) == 0);
	TEST_ASSERT(replica_open(path, &rep, &error) == 0);
	TEST_STREQ(lookup(rep, RECIPIENT_MAILBOX, "info@b\xc3\xbc" "cher.de"),
		   "1 info@xn--bcher-kva.de");
	TEST_STREQ(lookup(rep, RECIPIENT_MAILBOX, "info@xn--bcher-kva.de"),
		   "1 info@xn--bcher-kva.de");
	TEST_STREQ(lookup(rep, RECIPIENT_ALIAS, "info@b\xc3\xbc" "cher.de"),
		   "1 info@xn--bcher-kva.de");
	TEST_STREQ(lookup(rep, RECIPIENT_ALIAS, "info@xn--bcher-kva.de"), "0");
	replica_close(&rep);
}

/* recipient - the view's row for an address, as "mailbox kind person" */
static void recipient(sqlite3 *db, const char *address, char *out,
		      size_t outsize)
{
	sqlite3_stmt *st;

	snprintf(out, outsize, "none");
	if (sqlite3_prepare_v2(db, "SELECT mailbox, kind, person FROM"
			       " recipients WHERE address = ?1", -1, &st,
			       NULL) != SQLITE_OK) {
		snprintf(out, outsize, "error: %s", sqlite3_errmsg(db));
		return;
	}
	sqlite3_bind_text(st, 1, address, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(out, outsize, "%s %s %d", sqlite3_column_text(st, 0),
			 sqlite3_column_text(st, 1), sqlite3_column_int(st, 2));
	sqlite3_finalize(st);
}

/* test_recipients_view - the lookup tables' view of the replica: every
   granted address to its mailbox's primary address, found by index */
static void test_recipients_view(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char row[512], plan[2048] = "";

	story_cleanup(path);
	TEST_ASSERT(story_build(path, NULL, NULL) == 0);
	TEST_ASSERT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
		    SQLITE_OK);
	recipient(db, "info@abc.com", row, sizeof(row));
	TEST_STREQ(row, "info@abc.com company 0");
	recipient(db, "makler@abc.com", row, sizeof(row));
	TEST_STREQ(row, "makler@abc.com private 0");
	recipient(db, "peter.m\xc3\xbcller@abc.com", row, sizeof(row));
	TEST_STREQ(row, "peter.mueller@abc.com private 1");
	recipient(db, "peter.mueller@abc.com", row, sizeof(row));
	TEST_STREQ(row, "peter.mueller@abc.com private 1");
	recipient(db, "nobody@abc.com", row, sizeof(row));
	TEST_STREQ(row, "none");
	/* One lookup per SMTP recipient: it must not scan the table. */
	TEST_ASSERT(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT mailbox"
				       " FROM recipients WHERE address = 'x'",
				       -1, &st, NULL) == SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		size_t len = strlen(plan);

		snprintf(plan + len, sizeof(plan) - len, "%s\n",
			 sqlite3_column_text(st, 3));
	}
	sqlite3_finalize(st);
	TEST_ASSERT(strstr(plan, "SCAN") == NULL);
	if (strstr(plan, "SCAN") != NULL)
		fprintf(stderr, "plan:\n%s", plan);
	sqlite3_close(db);
}

/* denied_child - as a stranger, how the handle reports path; the
   exit status is the number of expected words missing from its text */
static int denied_child(const char *path, const char *const *words)
{
	struct replica_handle *h;
	const char *error;
	int missing = 0;

	if (geteuid() == 0 &&
	    (setgroups(0, NULL) < 0 || setgid(65534) < 0 ||
	     setuid(65534) < 0))
		return 100;
	replica_handle_open(path, 0, &h);
	if (replica_handle_check(h, time(NULL), true, &error) != 0)
		missing = 50;
	for (int i = 0; words[i] != NULL; i++) {
		if (strstr(error, words[i]) == NULL) {
			fprintf(stderr, "denied: \"%s\" not in: %s\n",
				words[i], error);
			missing++;
		}
	}
	replica_handle_close(&h);
	return missing;
}

/* denied_as_stranger - run denied_child in a process of its own */
static int denied_as_stranger(const char *path, const char *const *words)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(denied_child(path, words));
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* test_handle_denied - a reader without the replica's group is told
   who it is and what the file allows, not just "Permission denied" */
static void test_handle_denied(const char *path)
{
	char dir[] = "/tmp/test-replica-dir-XXXXXX", inner[512], uid[32];
	const char *file_words[] = { "permission denied", uid, "gid",
				     "groups", "is mode 0600", "replica_group",
				     NULL };
	const char *dir_words[] = { "Permission denied", uid, "is mode 0700",
				    dir, NULL };

	/* Root reads anything: the child becomes nobody; as another user
	   the files are made unreadable to everybody but root. */
	snprintf(uid, sizeof(uid), "uid %ld(",
		 geteuid() == 0 ? 65534L : (long)geteuid());
	story_cleanup(path);
	TEST_ASSERT(story_build(path, NULL, NULL) == 0);
	TEST_ASSERT(chmod(path, geteuid() == 0 ? 0600 : 0000) == 0);
	if (geteuid() != 0)
		file_words[4] = "is mode 0000";
	TEST_ASSERT(denied_as_stranger(path, file_words) == 0);
	chmod(path, 0644);

	TEST_ASSERT(mkdtemp(dir) != NULL);
	snprintf(inner, sizeof(inner), "%s/grants.db", dir);
	TEST_ASSERT(story_build(inner, NULL, NULL) == 0);
	TEST_ASSERT(chmod(dir, geteuid() == 0 ? 0700 : 0000) == 0);
	if (geteuid() != 0)
		dir_words[2] = "is mode 0000";
	TEST_ASSERT(denied_as_stranger(inner, dir_words) == 0);
	chmod(dir, 0700);
	story_cleanup(inner);
	rmdir(dir);
}

int main(void)
{
	char path[] = "/tmp/test-replica-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		return 2;
	close(fd);
	TEST_RUN(test_dn_parent());
	TEST_RUN(test_skips(path));
	TEST_RUN(test_fuzz_found(path));
	TEST_RUN(test_unusable_names(path));
	TEST_RUN(test_missing_groups(path));
	TEST_RUN(test_abort_and_live(path));
	TEST_RUN(test_bad_files(path));
	TEST_RUN(test_async(path));
	TEST_RUN(test_handle_changed_in_place(path));
	TEST_RUN(test_handle_refused(path));
	TEST_RUN(test_handle_age(path));
	TEST_RUN(test_handle_text_outlives(path));
	TEST_RUN(test_handle_denied(path));
	TEST_RUN(test_recipients_view(path));
	TEST_RUN(test_recipient_lookup(path));
	story_cleanup(path);
	return test_exit("test-replica");
}
