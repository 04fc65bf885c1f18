/* upgrade.h — SIGUSR2: start the binary at dropcap's own path with its listening sockets.
 *
 * seccomp filters and Landlock domains are inherited across fork and execve and can never be
 * removed, so the sandboxed server cannot start the new binary itself (the new process could
 * not even load its libc, and each generation would stack another Landlock layer until the
 * kernel's limit of 16). Instead, at start-up, after the privilege drop and before the
 * sandbox, dropcap forks a small helper that is never sandboxed and holds nothing but the
 * listening sockets, a socketpair to the server and the standard streams. The server writes
 * one byte on that socketpair to ask for an upgrade; the helper forks and executes the binary
 * with the listeners at the same descriptor numbers (DROPCAP_UPGRADE_FDS=3:https,4:http) and a
 * readiness pipe (DROPCAP_UPGRADE_READY=N), waits (bounded) for the new process to report its
 * pid once serving, and answers "ready PID" or "failed: why". The helper reads nothing but that
 * socketpair and exits at its EOF: when the server exits, or right after a successful upgrade,
 * which reparents the new process to systemd before it becomes the service's main PID. */
#ifndef DROPCAP_UPGRADE_H
#define DROPCAP_UPGRADE_H

#include <stddef.h>

#include "config.h"

#define UPGRADE_FDS_ENV "DROPCAP_UPGRADE_FDS"
#define UPGRADE_READY_ENV "DROPCAP_UPGRADE_READY"
#define UPGRADE_TIMEOUT 30 /* seconds the new process has to report ready */

struct tls_ctx;

struct upgrade_fd {
	int fd;
	enum config_kind kind; /* CONFIG_KIND_HTTPS or CONFIG_KIND_HTTP */
};

struct listen_set;

/* Parses a DROPCAP_UPGRADE_FDS value, "3:https,4:http", into at most max entries (pure, never
 * logs). Returns how many, or -1 when malformed. */
int upgrade_parse_fds(const char *value, struct upgrade_fd *out, size_t max);

/* The sockets and the readiness pipe an upgrade handed to this process, from the environment
 * (DROPCAP_UPGRADE_FDS, DROPCAP_UPGRADE_READY); *ready is -1 without one. Returns how many
 * sockets (0 when this start is not an upgrade), or -1 when a variable is malformed. */
int upgrade_inherited(struct upgrade_fd *out, size_t max, int *ready);

/* Forks the helper. Call after the privilege drop and the listeners, before server_init and
 * the sandbox, with main's argv (kept for the new process; the environment is the process's
 * own). The helper frees (and so zeroises) tls, its copy of the private key, at once: it
 * never needs it and is not sandboxed. Takes DROPCAP_UPGRADE_READY out of the environment for
 * upgrade_ready(). Returns the server's end of the socketpair (non-blocking, close-on-exec),
 * or -1 with err (the server then serves without upgrades). */
int upgrade_start(char **argv, const struct listen_set *ls, struct tls_ctx *tls, char *err,
		  size_t errlen);

/* A pidfd of the helper (readable once it has exited, and so once the new process it started
 * has been reparented to systemd or the nearest subreaper), or -1 (pidfd_open failed: a kernel
 * before 5.3). Valid after upgrade_start(). */
int upgrade_helper_pidfd(void);

/* Whether this process was started by an upgrade (before upgrade_start() took the variable). */
int upgrade_is_upgrade(void);

/* The path the helper will execute: dropcap's own, resolved at start-up. */
const char *upgrade_path(void);

/* Asks the helper for an upgrade: one byte, never blocks. Returns 0, or -1 with errno. */
int upgrade_request(int fd);

enum upgrade_reply {
	UPGRADE_PENDING, /* nothing to read yet */
	UPGRADE_READY,	 /* *pid is serving */
	UPGRADE_FAILED,	 /* why says why; the caller keeps serving */
	UPGRADE_GONE,	 /* the helper exited: no more upgrades */
};

/* Reads the helper's answer without blocking. */
enum upgrade_reply upgrade_reply(int fd, long *pid, char *why, size_t whylen);

/* In a process an upgrade started: tells the helper that started it that this one is serving
 * (writes its pid on the readiness pipe, then closes it). Call right when sending READY=1;
 * without an upgrade it does nothing. */
void upgrade_ready(void);

#endif
