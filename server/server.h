/* server.h — one event loop: listeners, connections, signals, and the state they share. */
#ifndef DROPCAP_SERVER_H
#define DROPCAP_SERVER_H

#include <ev.h>
#include <stdatomic.h>

#include "accesslog.h"
#include "config.h"
#include "conn.h"
#include "fcache.h"
#include "listen.h"

struct tls_ctx;

/* Everything one loop needs; no mutable globals, so loops can later run side by side. */
struct server {
	struct ev_loop *loop;
	struct gen *gen; /* the current configuration; responses in flight may hold older ones */
	struct tls_ctx *tls;
	ev_signal sighup_w; /* reload the certificate and key into tls */
	char run_user[64];  /* who reads them in a reload, for its messages (resolved */
	char run_group[64]; /* before the sandbox, which forbids /etc/passwd) */
	struct listen_set *listeners;
	ev_io accept_w[LISTEN_MAX];
	ev_signal sigterm_w;
	ev_signal sigint_w;
	ev_signal sigusr1_w; /* reopen the access log */
	ev_signal sigusr2_w; /* upgrade: start the binary at our path */
	ev_io upgrade_w;     /* the upgrade helper's answer */
	int upgrade_fd;	     /* the socketpair to the upgrade helper, or -1 */
	ev_io
	    helper_gone_w; /* after an upgrade: the helper exited, the new process is reparented */
	long upgraded_pid; /* the new process, once ready */
	ev_timer drain_w;  /* grace period after SIGTERM */
	ev_timer resume_w; /* accepting again after EMFILE */
	ev_tstamp emfile_warned; /* the last EMFILE warning: one per EMFILE_PAUSE */
	ev_prepare idle_w;	 /* flushes the access log before the loop waits */
	ev_io accesslog_w;	 /* the access log output is writable again (it was full) */
	ev_io stderr_w;		 /* stderr is writable again (it was full) */
	ev_timer trim_w;	 /* gives memory back after a peak of connections */
	unsigned closed;	 /* connections closed since the last trim */
	struct accesslog log;
	struct fcache fcache; /* open files, shared by the loop's responses */
	int accepting;
	int draining;
	struct conn_set conns; /* conn.c's: the server reads its nconns and idle_head */
	/* --workers: the main thread's server accepts and handles the signals; the others
	 * (worker.c) run a loop of their own each and only serve what they are handed */
	struct server *main;	  /* the main thread's (itself there) */
	struct worker_pool *pool; /* main: the other workers; NULL with one */
	ev_async wake_w;	  /* main: a worker freed a slot (SERVER_WAKE_*), or ended */
	atomic_uint wake;	  /* main: what the workers posted */
	atomic_uint live;	  /* main: the connections open on every loop (--max-conns) */
	atomic_int paused;	  /* main: accepting is off; a worker's close wakes it */
};

/* Sets the loop up over the acquired listeners; log is opened already (stdout before the
 * privilege drop, a file after it, as the run user). The server takes over cfg's arena and
 * root_fds (server_free frees and closes them; cfg and root_fds may be read until then).
 * Returns 0, or -1 with err. */
int server_init(struct server *s, const struct config *cfg, struct listen_set *listeners,
		struct tls_ctx *tls, const int *root_fds, const struct accesslog *log, char *err,
		size_t errlen);
/* Gives the loop the upgrade helper's socketpair (upgrade_start; -1: upgrades are off) and
 * its pidfd (upgrade_helper_pidfd; -1 when there is none). */
void server_set_upgrade(struct server *s, int fd, int helper_pidfd);
/* Runs until SIGTERM/SIGINT, or an upgrade's hand-over, and the drain that follows. */
void server_run(struct server *s);
void server_free(struct server *s);

/* Starts the other workers' threads (server_init set up cfg->workers - 1 loops; none with one):
 * after the privilege drop and the sandbox, which they inherit. Returns 0, or -1 with err. */
int server_start_workers(struct server *s, char *err, size_t errlen);

/* worker.c's side: a worker's loop over main's TLS context, log and listeners' port, with its
 * own connections, fcache and generation g (taken over). Returns 0, or -1 with err. */
int server_worker_init(struct server *w, struct server *main, struct gen *g, char *err,
		       size_t errlen);
/* On the loop's thread: serves fd, which the main loop accepted (and counted) for it. */
void server_take(struct server *w, int fd, enum listen_kind kind,
		 const struct sockaddr_storage *peer);
/* On the worker's thread: what main posted (enum worker_cmd) and a new generation (or NULL). */
void server_worker_command(struct server *w, unsigned cmds, struct gen *g);
/* On the worker's thread, after its loop ended: frees its loop and tells main. */
void server_worker_free(struct server *w);

#endif
