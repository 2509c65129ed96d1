/*
 * NAME
 *	replica-handle - keep a reader's replica open, current and valid
 * DESCRIPTION
 *	See replica-handle.h for the contract. Why a stat() of more than
 *	the inode: SQLite notices the commits of another connection (the
 *	WAL index changes), but not a file truncated or overwritten in
 *	place; its page cache would go on answering from the old file,
 *	DUNNO included. Any change of size or time means a new
 *	connection and a new validation. A sync's own commits go to the
 *	-wal file and do not change the main file until a checkpoint, so
 *	the re-attach this causes is rare and costs one open.
 */

#include "replica-handle.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xalloc.h"

#define REPLICA_HANDLE_TEXT_MAX 1024

struct replica_handle {
	char *path;
	unsigned int max_age;		/* seconds, 0 = no limit */
	struct replica *rep;		/* attached, or NULL */
	struct stat st;			/* of the attached file */
	time_t checked;			/* last check, 0 = never */
	bool usable;			/* result of the last check */
	char error[REPLICA_HANDLE_TEXT_MAX];	/* why not usable */

	/* What the host was last told, for replica_handle_news(). */
	bool told_lost;
	time_t told_at;
	char told[REPLICA_HANDLE_TEXT_MAX];
};

/* replica_handle_open - a handle; the file is opened by the first check */
void replica_handle_open(const char *path, unsigned int max_age,
			 struct replica_handle **h_r)
{
	struct replica_handle *h = xcalloc(1, sizeof(*h));

	h->path = xstrdup(path);
	h->max_age = max_age;
	snprintf(h->error, sizeof(h->error), "replica %s: not checked yet",
		 path);
	*h_r = h;
}

/* replica_handle_set_error - keep a copy of the reason */
static void replica_handle_set_error(struct replica_handle *h,
				     const char *error)
{
	/* The text may live in the replica about to be closed: copy it
	   before anything is freed, never keep the pointer. */
	if (error != h->error)
		snprintf(h->error, sizeof(h->error), "%s",
			 error != NULL ? error : "replica unavailable");
}

/* replica_handle_drop - close the attached replica */
static void replica_handle_drop(struct replica_handle *h)
{
	replica_close(&h->rep);
	memset(&h->st, 0, sizeof(h->st));
}

/* replica_handle_same - is it still the file that was attached? */
static bool replica_handle_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* replica_handle_append - add to the error text, bounded */
static void __attribute__((format(printf, 2, 3)))
replica_handle_append(struct replica_handle *h, const char *fmt, ...)
{
	size_t len = strlen(h->error);
	va_list ap;

	if (len + 1 >= sizeof(h->error))
		return;
	va_start(ap, fmt);
	/* A truncated hint is still better than none. */
	vsnprintf(h->error + len, sizeof(h->error) - len, fmt, ap);
	va_end(ap);
}

/* replica_handle_append_user - "uid 5000(vmail), gid ..., groups ..." */
static void replica_handle_append_user(struct replica_handle *h)
{
	gid_t groups[64];
	struct passwd *pw = getpwuid(geteuid());
	struct group *gr = getgrgid(getegid());
	int n = getgroups(sizeof(groups) / sizeof(*groups), groups);

	replica_handle_append(h, "this process runs as uid %ld(%s), gid"
			      " %ld(%s), groups", (long)geteuid(),
			      pw != NULL ? pw->pw_name : "?",
			      (long)getegid(), gr != NULL ? gr->gr_name : "?");
	if (n <= 0)
		replica_handle_append(h, " none");
	for (int i = 0; i < n; i++) {
		gr = getgrgid(groups[i]);
		replica_handle_append(h, "%s%ld(%s)", i == 0 ? " " : ",",
				      (long)groups[i],
				      gr != NULL ? gr->gr_name : "?");
	}
}

/* replica_handle_append_mode - "PATH is 0640 mailgrants:mailgrants-read" */
static void replica_handle_append_mode(struct replica_handle *h,
				       const char *path)
{
	struct stat st;
	struct passwd *pw;
	struct group *gr;

	if (stat(path, &st) < 0) {
		replica_handle_append(h, "; %s: %s", path, strerror(errno));
		return;
	}
	pw = getpwuid(st.st_uid);
	gr = getgrgid(st.st_gid);
	replica_handle_append(h, "; %s is mode %04o, owner %ld(%s), group"
			      " %ld(%s)", path, (unsigned int)(st.st_mode & 07777),
			      (long)st.st_uid, pw != NULL ? pw->pw_name : "?",
			      (long)st.st_gid, gr != NULL ? gr->gr_name : "?");
}

/* replica_handle_denied - after a failed open: if it was a permission
   problem, say who asked and what the files allow. A reader that is
   not in the readers' group (Dovecot without mail_access_groups, a
   daemon started without its supplementary groups) otherwise only
   sees "Permission denied" or SQLite's "unable to open database". */
static void replica_handle_denied(struct replica_handle *h, int stat_errno)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	char *dir = NULL, *slash;
	char *denied = NULL;

	if (stat_errno == EACCES) {
		/* The directory cannot be searched: show it. Files are probed
	   without blocking: the path may be a FIFO (refused before). */
		dir = xstrdup(h->path);
		slash = strrchr(dir, '/');
		if (slash == dir)
			slash[1] = '\0';
		else if (slash != NULL)
			*slash = '\0';
		else {
			free(dir);
			dir = xstrdup(".");
		}
		denied = dir;
	} else {
		for (size_t i = 0; i < sizeof(suffixes) / sizeof(*suffixes) &&
		     denied == NULL; i++) {
			char *file = xasprintf("%s%s", h->path, suffixes[i]);
			int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY |
				      O_NONBLOCK);

			if (fd >= 0)
				close(fd);
			if (fd < 0 && errno == EACCES)
				denied = file;
			else
				free(file);
		}
	}
	if (denied == NULL)
		return;
	replica_handle_append(h, " (permission denied: ");
	replica_handle_append_user(h);
	replica_handle_append_mode(h, denied);
	replica_handle_append(h, "; readers need the group of the replica,"
			      " see mailgrants.conf(5) replica_group)");
	free(denied);
}

/* replica_handle_attach - (re)open the file, validated; 0 or -1 */
static int replica_handle_attach(struct replica_handle *h)
{
	struct stat st;
	const char *error;

	if (stat(h->path, &st) < 0) {
		int err = errno;

		snprintf(h->error, sizeof(h->error),
			 "replica %s: %s%s", h->path, strerror(err),
			 err == ENOENT ? " (has mailgrants sync run?)" : "");
		replica_handle_denied(h, err);
		replica_handle_drop(h);
		return -1;
	}
	if (h->rep != NULL && replica_handle_same(&st, &h->st))
		return 0;
	replica_handle_drop(h);
	/* replica_open() checks the kind of file, the schema version and
	   a completed sync. The stat above is older than the open: if the
	   file changes in between, the next check sees a difference and
	   attaches once more. */
	if (replica_open(h->path, &h->rep, &error) < 0) {
		replica_handle_set_error(h, error);
		replica_handle_denied(h, 0);
		h->rep = NULL;
		return -1;
	}
	h->st = st;
	return 0;
}

/* replica_handle_check - open, re-attach, re-validate, judge the age */
int replica_handle_check(struct replica_handle *h, time_t now, bool force,
			 const char **error_r)
{
	struct replica_info info;
	const char *error;

	if (!force && h->checked != 0 && now == h->checked) {
		*error_r = h->error;
		return h->usable ? 1 : 0;
	}
	h->checked = now;
	h->usable = false;
	*error_r = h->error;
	if (replica_handle_attach(h) < 0)
		return 0;
	/* A read of the file on every check: a replica that went bad in
	   a way the stat() cannot see still fails closed. */
	if (replica_info(h->rep, &info, &error) < 0) {
		replica_handle_set_error(h, error);
		replica_handle_drop(h);
		return 0;
	}
	if (info.last_success == 0) {
		snprintf(h->error, sizeof(h->error),
			 "replica %s: no completed sync", h->path);
		replica_handle_drop(h);
		return 0;
	}
	if (h->max_age != 0 && info.current_at <= now &&
	    (unsigned long long)(now - info.current_at) > h->max_age) {
		struct tm tm;
		char when[32];

		/* The time, not the age: the text stays the same while
		   the trouble lasts, so the host says it once. */
		if (gmtime_r(&info.current_at, &tm) == NULL ||
		    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ",
			     &tm) == 0)
			snprintf(when, sizeof(when), "%lld",
				 (long long)info.current_at);
		snprintf(h->error, sizeof(h->error),
			 "replica %s: older than replica_max_age (%u s), last"
			 " confirmed current at %s; is mailgrants sync"
			 " --follow running?", h->path, h->max_age, when);
		return 0;
	}
	h->usable = true;
	return 1;
}

/* replica_handle_replica - the attached replica, or NULL */
struct replica *replica_handle_replica(struct replica_handle *h)
{
	return h->rep;
}

/* replica_handle_failed - a query failed: keep the text, close */
void replica_handle_failed(struct replica_handle *h, const char *error)
{
	replica_handle_set_error(h, error);
	replica_handle_drop(h);
	h->usable = false;
}

/* replica_handle_news - what the host should log now, if anything */
enum replica_handle_news replica_handle_news(struct replica_handle *h,
					     time_t now, const char **text_r)
{
	if (h->usable) {
		if (!h->told_lost)
			return REPLICA_HANDLE_QUIET;
		h->told_lost = false;
		snprintf(h->told, sizeof(h->told),
			 "replica %s: available again", h->path);
		*text_r = h->told;
		return REPLICA_HANDLE_BACK;
	}
	if (h->told_lost && strcmp(h->told, h->error) == 0 &&
	    now - h->told_at < REPLICA_HANDLE_REMIND_SECS && now >= h->told_at)
		return REPLICA_HANDLE_QUIET;
	h->told_lost = true;
	h->told_at = now;
	snprintf(h->told, sizeof(h->told), "%s", h->error);
	*text_r = h->told;
	return REPLICA_HANDLE_LOST;
}

/* replica_handle_close - close the replica and NULL the caller's pointer */
void replica_handle_close(struct replica_handle **hp)
{
	struct replica_handle *h = *hp;

	if (h == NULL)
		return;
	*hp = NULL;
	replica_close(&h->rep);
	free(h->path);
	free(h);
}
