#ifndef MAILGRANTS_POLICYD_LISTEN_H
#define MAILGRANTS_POLICYD_LISTEN_H

/*
 * NAME
 *	listen - the policy daemon's listening sockets and peer names
 * SYNOPSIS
 *	#include "listen.h"
 *
 *	int listen_open(const char *spec, int *fd_r, char **unix_path_r,
 *			const char **error_r);
 *	void listen_peer_name(int fd, const struct sockaddr_storage *ss,
 *			      char *buf, size_t size);
 * DESCRIPTION
 *	listen_open() opens a non-blocking listening socket from "spec",
 *	"unix:PATH" or "inet:HOST:PORT" (HOST may be "[v6addr]"). A UNIX
 *	socket left behind by an earlier run is replaced (any other file
 *	stays), and the new one is mode 0666 from the start: the directory
 *	it is in decides who may connect. *unix_path_r is a copy of PATH
 *	(to unlink at exit; the caller frees it), NULL for inet.
 *
 *	listen_peer_name() names an accepted connection for the log:
 *	"unix peer pid=P uid=U" or "ADDR:PORT".
 * DIAGNOSTICS
 *	listen_open() returns 0, or -1 with error_r (most texts begin
 *	with the socket's own name, "unix:PATH: ...").
 * SEE ALSO
 *	Postfix src/util/unix_listen.c, inet_listen.c
 */

#include <stddef.h>
#include <sys/socket.h>

int listen_open(const char *spec, int *fd_r, char **unix_path_r,
		const char **error_r);
void listen_peer_name(int fd, const struct sockaddr_storage *ss, char *buf,
		      size_t size);

#endif
