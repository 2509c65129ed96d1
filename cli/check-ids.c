/*
 * NAME
 *	check-ids - mailgrants check: who can read and write what
 * SYNOPSIS
 *	#include "cli.h"
 *
 *	unsigned int check_identities(const struct config *cfg);
 * DESCRIPTION
 *	The sync (the writer: it owns the replica and reads the directory
 *	bind password) and the readers (the members of replica_group: the
 *	policy daemon's and the milter's user, Dovecot's mail user) are
 *	different identities; readers read the replica and nothing else
 *	of mailgrants (README, "Identities").
 *
 *	check_identities() prints who the writer and the readers are and
 *	tests, as each of them, what they can do: a child process takes
 *	the identity (setgroups, setgid, setuid) and asks access(2), so
 *	that modes, groups, ACLs and every directory on the way count.
 *	The writer must read the password and write the replica and its
 *	directory; a reader must read the replica, -wal and -shm (SQLite's
 *	read-only WAL reader needs both to exist) and must neither write
 *	any of them nor read the password. Run by another user than root
 *	it says so and tests nothing.
 * DIAGNOSTICS
 *	One line per finding on standard output, each problem with a
 *	"->" line saying what to do. Returns the number of problems.
 * SEE ALSO
 *	mailgrants(1), mailgrants.conf(5), sqlite.org/wal.html
 */

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "cli.h"
#include "xalloc.h"

#define MAX_READERS 64

enum probe {
	PROBE_SECRET_R,		/* the bind password file */
	PROBE_DB_R,
	PROBE_DB_W,
	PROBE_SIDE_R,		/* -wal and -shm, both */
	PROBE_SIDE_W,		/* -wal or -shm */
	PROBE_DIR_W,		/* create or replace files next to it */
	PROBE_COUNT
};

struct paths {
	const char *secret;	/* "" if none */
	const char *db;
	char *wal, *shm, *dir;
};

/* probe_access - access(2) as this process, 1 if granted */
static int probe_access(const char *path, int mode)
{
	return path[0] != '\0' && access(path, mode) == 0;
}

/* probe_as - what uid/gid (with its initgroups set) may do, as a mask;
   -1 if the test could not be made */
static int probe_as(const struct passwd *pw, const struct paths *p)
{
	pid_t pid;

	fflush(stdout);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		int mask = 0;

		if (initgroups(pw->pw_name, pw->pw_gid) < 0 ||
		    setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
			_exit(255);
		if (probe_access(p->secret, R_OK))
			mask |= 1 << PROBE_SECRET_R;
		if (probe_access(p->db, R_OK))
			mask |= 1 << PROBE_DB_R;
		if (probe_access(p->db, W_OK))
			mask |= 1 << PROBE_DB_W;
		if (probe_access(p->wal, R_OK) && probe_access(p->shm, R_OK))
			mask |= 1 << PROBE_SIDE_R;
		if (probe_access(p->wal, W_OK) || probe_access(p->shm, W_OK))
			mask |= 1 << PROBE_SIDE_W;
		if (probe_access(p->dir, W_OK | X_OK))
			mask |= 1 << PROBE_DIR_W;
		_exit(mask);
	}
	return cli_probe_wait(pid);
}

/* group_name - a group's name, or its number, in buf (getgrgid's
   storage would not survive the next call in the same printf) */
static const char *group_name(gid_t gid, char *buf, size_t size)
{
	struct group *gr = getgrgid(gid);

	if (gr != NULL)
		snprintf(buf, size, "%s", gr->gr_name);
	else
		snprintf(buf, size, "%ld", (long)gid);
	return buf;
}

/* user_name - a user's name, or its number, in buf */
static const char *user_name(uid_t uid, char *buf, size_t size)
{
	struct passwd *pw = getpwuid(uid);

	if (pw != NULL)
		snprintf(buf, size, "%s", pw->pw_name);
	else
		snprintf(buf, size, "%ld", (long)uid);
	return buf;
}

/* readers_of - the accounts in group gid (members and those whose
   primary group it is), without the writer and root */
static size_t readers_of(gid_t gid, uid_t writer, uid_t *out, size_t max)
{
	struct group *gr = getgrgid(gid);
	struct passwd *pw;
	size_t n = 0;

	for (char **m = gr != NULL ? gr->gr_mem : NULL; m != NULL && *m &&
	     n < max; m++) {
		if ((pw = getpwnam(*m)) != NULL && pw->pw_uid != writer &&
		    pw->pw_uid != 0)
			out[n++] = pw->pw_uid;
	}
	setpwent();
	while (n < max && (pw = getpwent()) != NULL) {
		bool seen = false;

		if (pw->pw_gid != gid || pw->pw_uid == writer ||
		    pw->pw_uid == 0)
			continue;
		for (size_t i = 0; i < n; i++)
			seen = seen || out[i] == pw->pw_uid;
		if (!seen)
			out[n++] = pw->pw_uid;
	}
	endpwent();
	return n;
}

/* others_can_read - whether a user in no group of the file reads it:
   the file's "other" read bit and every directory's "other" x bit */
static bool others_can_read(const char *path)
{
	struct stat st;
	char *dir = xstrdup(path), *slash;
	bool ok = stat(path, &st) == 0 && (st.st_mode & S_IROTH) != 0;

	while (ok && (slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		ok = stat(*dir != '\0' ? dir : "/", &st) == 0 &&
			(st.st_mode & S_IXOTH) != 0;
		if (*dir == '\0')
			break;
	}
	free(dir);
	return ok;
}

/* problem - one finding and what to do about it */
static void __attribute__((format(printf, 2, 3)))
problem(const char *hint, const char *fmt, ...)
{
	va_list ap;

	fputs("identity:  WARNING: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n           -> %s\n", hint);
}

/* check_identities - the writer, the readers, and what each may do */
unsigned int check_identities(const struct config *cfg)
{
	struct paths p;
	struct stat st_db, st_dir, st_secret;
	uid_t readers[MAX_READERS];
	char ub[64], gb[64], gb2[64];
	bool have_db, have_secret, have_sides = true;
	unsigned int problems = 0;
	const char *slash;
	uid_t writer;
	gid_t rgid;
	size_t n;
	int mask;

	memset(&p, 0, sizeof(p));
	p.secret = cfg->ldap_sasl_mech[0] == '\0' ?
		cfg->ldap_bind_password_file : "";
	p.db = cfg->replica;
	p.wal = xasprintf("%s-wal", p.db);
	p.shm = xasprintf("%s-shm", p.db);
	slash = strrchr(p.db, '/');
	p.dir = slash == NULL ? xstrdup(".") : slash == p.db ? xstrdup("/") :
		xasprintf("%.*s", (int)(slash - p.db), p.db);

	if (geteuid() != 0) {
		printf("identity:  not tested (run mailgrants check as root "
		       "to test what the sync and each reader can read and "
		       "write)\n");
		goto out;
	}
	have_db = stat(p.db, &st_db) == 0;
	if (!have_db && stat(p.dir, &st_dir) < 0) {
		printf("identity:  not tested: %s: %s\n", p.dir,
		       strerror(errno));
		goto out;
	}
	writer = have_db ? st_db.st_uid : st_dir.st_uid;
	have_secret = p.secret[0] != '\0' && stat(p.secret, &st_secret) == 0;

	/* The readers' group: replica_group, else the replica's own. */
	if (cfg->replica_group[0] != '\0') {
		struct group *gr = getgrnam(cfg->replica_group);
		char *end;
		unsigned long v = strtoul(cfg->replica_group, &end, 10);

		if (gr == NULL && *end != '\0') {
			problem("create it (addgroup --system NAME) or fix "
				"replica_group", "replica_group %s: no such "
				"group", cfg->replica_group);
			problems++;
			goto out;
		}
		rgid = gr != NULL ? gr->gr_gid : (gid_t)v;
	} else if (have_db) {
		rgid = st_db.st_gid;
	} else {
		printf("identity:  readers not known: replica_group is not "
		       "set and there is no replica yet\n");
		goto out;
	}
	printf("writer:    %s (owns %s)%s\n", user_name(writer, ub,
	       sizeof(ub)), have_db ? p.db : p.dir, writer == 0 ?
	       "; a sync as root works, but the sync's own unprivileged "
	       "user (mailgrants) is safer" : "");
	n = readers_of(rgid, writer, readers, MAX_READERS);
	printf("readers:   group %s%s:", group_name(rgid, gb, sizeof(gb)),
	       cfg->replica_group[0] != '\0' ? " (replica_group)" :
	       " (the replica's group; replica_group is not set)");
	for (size_t i = 0; i < n; i++)
		printf(" %s", user_name(readers[i], ub, sizeof(ub)));
	printf("%s\n", n == 0 ? " nobody yet (Dovecot's mail processes "
	       "read it through mail_access_groups: check --front-ends "
	       "tests them)" : "");

	if (have_db) {
		struct stat st;
		const char *side[] = { p.wal, p.shm };

		printf("files:     %s, -wal, -shm: %s:%s %04o\n", p.db,
		       user_name(st_db.st_uid, ub, sizeof(ub)),
		       group_name(st_db.st_gid, gb, sizeof(gb)),
		       (unsigned int)(st_db.st_mode & 07777));
		/* Gone when a process without SQLite's persistent WAL
		   (sqlite3 as root, say) closed the last connection; the
		   sync's next write makes them again. Only a reader is
		   hurt meanwhile. */
		for (size_t i = 0; i < 2; i++)
			if (stat(side[i], &st) < 0) {
				have_sides = false;
				if (n == 0)
					continue;
				problem("run mailgrants sync --once as the "
					"writer: it makes both", "%s: %s: a "
					"reader that cannot write to %s cannot "
					"open the replica without it",
					side[i], strerror(errno), p.dir);
				problems++;
			}
		if (st_db.st_gid != rgid) {
			problem("chgrp the replica's files (and its set-"
				"group-ID directory) to the readers' group, "
				"or let the sync do it: replica_group",
				"%s is group %s, not the readers' group %s",
				p.db, group_name(st_db.st_gid, gb,
						 sizeof(gb)),
				group_name(rgid, gb2, sizeof(gb2)));
			problems++;
		}
		if (others_can_read(p.db)) {
			problem("chmod o-rwx the replica's files: mailgrants "
				"sync writes them 0640", "%s: every user can "
				"read it (mode %04o)", p.db,
				(unsigned int)(st_db.st_mode & 07777));
			problems++;
		}
	}
	if (have_secret && others_can_read(p.secret)) {
		problem("chown root:WRITER-GROUP the file, chmod 0640",
			"the bind password %s: every user can read it "
			"(mode %04o)", p.secret,
			(unsigned int)(st_secret.st_mode & 07777));
		problems++;
	}

	/* The writer. */
	{
		struct passwd *pw = getpwuid(writer);

		if (pw == NULL)
			mask = -1;
		else
			mask = probe_as(pw, &p);
		if (mask < 0) {
			problem("give the replica to the sync's user",
				"cannot take the identity of the writer "
				"(uid %ld)", (long)writer);
			problems++;
		} else {
			if (have_secret && !(mask & 1 << PROBE_SECRET_R)) {
				problem("chown root:WRITER-GROUP the file, "
					"chmod 0640 (README, step 5)",
					"the writer %s cannot read the bind "
					"password %s: the sync cannot bind",
					pw->pw_name, p.secret);
				problems++;
			}
			if (!(mask & 1 << PROBE_DIR_W) ||
			    (have_db && !(mask & 1 << PROBE_DB_W))) {
				problem("install -d -o WRITER -g READERS -m "
					"2750 the directory (README, step 1)",
					"the writer %s cannot write %s",
					pw->pw_name, have_db ? p.db : p.dir);
				problems++;
			}
		}
	}

	/* The readers: the replica, and nothing else. */
	for (size_t i = 0; i < n; i++) {
		struct passwd *pw = getpwuid(readers[i]);
		char name[64];

		if (pw == NULL || (mask = probe_as(pw, &p)) < 0) {
			problem("check the account", "cannot take the "
				"identity of reader uid %ld",
				(long)readers[i]);
			problems++;
			continue;
		}
		snprintf(name, sizeof(name), "%s", pw->pw_name);
		if (mask & 1 << PROBE_SECRET_R) {
			char hint[512];
			const char *g = group_name(st_secret.st_gid, gb2,
						   sizeof(gb2));

			snprintf(hint, sizeof(hint), "readers belong in "
				 "replica_group only: gpasswd -d %s %s (the "
				 "file stays root:%s 0640, for the writer)",
				 name, g, g);
			problem(hint, "reader %s can read the directory bind password"
				" %s (group %s, mode %04o)", name, p.secret,
				group_name(st_secret.st_gid, gb, sizeof(gb)),
				(unsigned int)(st_secret.st_mode & 07777));
			problems++;
		}
		if (mask & (1 << PROBE_DB_W | 1 << PROBE_SIDE_W |
			    1 << PROBE_DIR_W)) {
			problem("chmod g-w,o-w the replica's directory and "
				"files; only the writer writes them",
				"reader %s can write %s", name,
				mask & 1 << PROBE_DIR_W ? p.dir : p.db);
			problems++;
		}
		if (have_db && (!(mask & 1 << PROBE_DB_R) ||
				(have_sides && !(mask & 1 << PROBE_SIDE_R)))) {
			problem("the readers' group needs r on the files and"
				" x on every directory up to them",
				"reader %s cannot read %s (or its -wal, -shm)",
				name, p.db);
			problems++;
		}
	}
	if (problems == 0)
		printf("identity:  the writer reads the bind password and "
		       "writes the replica; %zu reader%s read%s the replica "
		       "and nothing else: ok\n", n, n == 1 ? "" : "s",
		       n == 1 ? "s" : "");
out:
	free(p.wal);
	free(p.shm);
	free(p.dir);
	return problems;
}
