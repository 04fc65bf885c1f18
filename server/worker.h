/* worker.h — more event loops beside the main thread's, one thread each (--workers N). The
 * main thread alone watches the listening sockets and the signals: it accepts and hands each
 * connection to the next loop in turn (itself included), so no two threads ever wait on the
 * same socket, and it tells the workers to drain, reopen the log or take a new generation. */
#ifndef DROPCAP_WORKER_H
#define DROPCAP_WORKER_H

#include <stddef.h>
#include <sys/socket.h>

#include "listen.h"

struct gen;
struct server;
struct worker_pool;

/* What the main thread asks of every worker (bits, combined when several wait). */
enum worker_cmd {
	WORKER_DRAIN = 1,    /* graceful stop: conn_set_drain, then end */
	WORKER_HANDOVER = 2, /* with DRAIN: an upgrade's hand-over (conn_set_drain's handover) */
	WORKER_EXIT = 4,     /* end now (a second stop signal, or the drain's time is up) */
	WORKER_REOPEN = 8,   /* the access log's descriptor changed: stop watching the old one */
	WORKER_RECLAIM = 16, /* at --max-conns: close the longest-idle connection, if any */
};

/* n - 1 loops beside main's (n >= 2), each with its own connections, caches and generation
 * (shared from main's), set up now (before the sandbox: their epoll and event descriptors are
 * made here) but not yet running. NULL with err. */
struct worker_pool *worker_pool_new(struct server *main, unsigned n, char *err, size_t errlen);
/* Starts the threads (after the privilege drop and the sandbox, which they inherit), with the
 * control signals blocked and a small stack. Returns 0, or -1 with err (none started then). */
int worker_pool_start(struct worker_pool *p, char *err, size_t errlen);
/* Hands an accepted socket to the next loop in turn: 0 when a worker took it, -1 when it is
 * the main loop's turn or the worker's queue is full (the caller serves it). Never blocks. */
int worker_pool_hand(struct worker_pool *p, int fd, enum listen_kind kind,
		     const struct sockaddr_storage *peer);
void worker_pool_post(struct worker_pool *p, unsigned cmds);
/* Gives each worker g's configuration (gen_share over its own fcache). -1: out of memory,
 * nothing changed. */
int worker_pool_set_gen(struct worker_pool *p, const struct gen *g);
/* Workers whose loop has not ended. */
unsigned worker_pool_running(struct worker_pool *p);
/* Waits for every thread (post WORKER_DRAIN or WORKER_EXIT first) and frees the pool. */
void worker_pool_free(struct worker_pool *p);

#endif
