/* notify.h — the sd_notify protocol on $NOTIFY_SOCKET (systemd Type=notify), without libsystemd.
 *
 * The socket is opened and connected at start-up, before the privilege drop and the sandbox;
 * afterwards only send() is used on it (the sandbox allows no socket() or connect(), and
 * Landlock lets a connected datagram socket keep sending to its peer).
 *
 * NOTIFY_SOCKET stays in the environment (unlike sd_notify(unset_environment=1)): dropcap
 * executes nothing but itself, and the process an upgrade starts must reach the same systemd.
 * That new process calls notify_open() in its own start-up and, once serving, sends READY=1
 * without MAINPID= (notify_mainpid_from_parent); the old process hands over with
 * notify_mainpid() once the new one is systemd's child. The units say NotifyAccess=all so that
 * systemd accepts the READY=1 from a process that is not yet the main one. The service's cgroup
 * holds only dropcap processes, so "all" lets no other program speak for the service. (seccomp
 * filters survive execve: if the new process starts under one that forbids socket(), the upgrade
 * must pass it this socket instead, as it passes the listeners.)
 *
 * Without NOTIFY_SOCKET every call is a no-op. A failed send is logged once, never blocks and
 * never stops the server. */
#ifndef DROPCAP_NOTIFY_H
#define DROPCAP_NOTIFY_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Parses a NOTIFY_SOCKET value: an absolute path, or "@name" for the abstract namespace.
 * Fills sa and its length for connect(). Returns 0, or -1 with err (pure: never logs). */
int notify_addr_parse(const char *value, struct sockaddr_un *sa, socklen_t *len, char *err,
		      size_t errlen);

/* Reads $NOTIFY_SOCKET and connects a datagram socket to it (close-on-exec; a second call
 * replaces the first socket). Returns 1 when
 * connected, 0 when the variable is unset (not under systemd), -1 with err when it cannot be
 * used (the caller warns: systemd will then wait for READY=1 in vain). */
int notify_open(char *err, size_t errlen);

/* READY=1, MAINPID= of this process and STATUS= (printf-style; one short human line). Call
 * once serving: after the drop, the sandbox and the listeners, right before the loop. */
void notify_ready(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* STOPPING=1: a stop signal began the drain. */
void notify_stopping(void);
/* RELOADING=1 with MONOTONIC_USEC= (systemd >= 253 requires it for Type=notify-reload; 252
 * ignores it). Follow with notify_ready() once the reload is done, or failed. */
void notify_reloading(void);
/* This process was started by an upgrade: its first READY=1 leaves out MAINPID=. The old
 * process sends MAINPID= once this one is systemd's own child (upgrade.h): announced while it
 * is still the upgrade helper's child, systemd would watch it as an "alien" main PID and could
 * miss its exit status. */
void notify_mainpid_from_parent(void);
/* MAINPID=pid: another process of the service is now the one systemd should watch. */
void notify_mainpid(long pid);

#endif
