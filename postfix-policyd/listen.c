/*
 * NAME
 *	listen - the policy daemon's listening sockets and peer names
 * DESCRIPTION
 *	Apart from the event loop (server.c), as Postfix keeps
 *	unix_listen() and inet_listen() apart from its servers.
 * SEE ALSO
 *	listen.h
 */

#include "listen.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "error.h"
#include "xalloc.h"

/* listen_unix - a UNIX-domain listener */
static int listen_unix(const char *path, int *fd_r, const char **error_r)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (path[0] == '\0' || strlen(path) >= sizeof(sun.sun_path)) {
		*error_r = error_printf("unix:%s: socket path empty or too "
					"long", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	/* A socket left behind by an earlier run; anything else stays. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		(void)unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* Mode 0666 from the start (no chmod by name afterwards, which a
	   symlink swapped in could redirect): who may connect is decided
	   by the directory the socket is in (Postfix's private/ is 0700
	   postfix). */
	mode_t old_umask = umask(0111);
	int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (fd < 0 || rc < 0 || listen(fd, SOMAXCONN) < 0) {
		*error_r = error_printf("unix:%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*fd_r = fd;
	return 0;
}

/* listen_inet - a TCP listener */
static int listen_inet(const char *hostport, int *fd_r, const char **error_r)
{
	char host[256];
	const char *port, *h = hostport;
	size_t hlen;
	struct addrinfo hints, *res = NULL;
	int fd = -1, on = 1, rc;

	if (h[0] == '[') {
		const char *end = strchr(h, ']');

		if (end == NULL || end[1] != ':')
			goto syntax;
		h++;
		hlen = (size_t)(end - h);
		port = end + 2;
	} else {
		const char *colon = strrchr(h, ':');

		if (colon == NULL)
			goto syntax;
		hlen = (size_t)(colon - h);
		port = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host) || port[0] == '\0')
		goto syntax;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		*error_r = error_printf("inet:%s: %s", hostport,
					gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family,
		    res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		*error_r = error_printf("inet:%s: %s", hostport,
					strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	*fd_r = fd;
	return 0;
syntax:
	*error_r = error_printf("inet:%s: expected inet:HOST:PORT or "
				"inet:[ADDR]:PORT", hostport);
	return -1;
}

/* listen_open - a listener from "unix:PATH" or "inet:HOST:PORT" */
int listen_open(const char *spec, int *fd_r, char **unix_path_r,
		const char **error_r)
{
	if (strncmp(spec, "unix:", 5) == 0) {
		if (listen_unix(spec + 5, fd_r, error_r) < 0)
			return -1;
		*unix_path_r = xstrdup(spec + 5);
		return 0;
	}
	if (strncmp(spec, "inet:", 5) == 0) {
		if (listen_inet(spec + 5, fd_r, error_r) < 0)
			return -1;
		*unix_path_r = NULL;
		return 0;
	}
	*error_r = "listen address must start with unix: or inet:";
	return -1;
}

/* listen_peer_name - a name for the log */
void listen_peer_name(int fd, const struct sockaddr_storage *ss, char *buf,
		      size_t size)
{
	char host[64], port[8];
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (ss->ss_family == AF_UNIX) {
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
			snprintf(buf, size, "unix peer pid=%ld uid=%ld",
				 (long)cred.pid, (long)cred.uid);
		else
			snprintf(buf, size, "unix peer");
		return;
	}
	if (getnameinfo((const struct sockaddr *)ss, sizeof(*ss), host,
			sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(buf, size, "inet peer");
	else
		snprintf(buf, size, "%s:%s", host, port);
}
