/* server.h — one event loop: listeners, connections, signals, and the state they share. */
#ifndef DROPCAP_SERVER_H
#define DROPCAP_SERVER_H

#include <ev.h>

#include "accesslog.h"
#include "config.h"
#include "fcache.h"
#include "file.h"
#include "httpdate.h"
#include "listen.h"

struct conn;
struct iobuf;
struct tls_ctx;

/* Everything one loop needs; no mutable globals, so loops can later run side by side. */
struct server {
	struct ev_loop *loop;
	const struct config *cfg;
	struct tls_ctx *tls;
	ev_signal sighup_w; /* reload the certificate and key into tls */
	char run_user[64];  /* who reads them in a reload, for its messages (resolved */
	char run_group[64]; /* before the sandbox, which forbids /etc/passwd) */
	int root_fd;
	struct listen_set *listeners;
	ev_io accept_w[LISTEN_MAX];
	ev_signal sigterm_w;
	ev_signal sigint_w;
	ev_signal sigusr1_w; /* reopen the access log */
	ev_timer drain_w;    /* grace period after SIGTERM */
	ev_timer resume_w;   /* accepting again after EMFILE */
	ev_prepare idle_w;   /* flushes the access log before the loop waits */
	ev_io accesslog_w;   /* the access log output is writable again (it was full) */
	ev_io stderr_w;	     /* stderr is writable again (it was full) */
	ev_timer trim_w;     /* gives memory back after a peak of connections */
	unsigned closed;     /* connections closed since the last trim */
	struct accesslog log;
	struct fcache fcache; /* open files, shared by the loop's responses */
	unsigned nconns;
	int accepting;
	int draining;
	struct conn *conns;	/* live connections */
	struct conn *idle_head; /* idle keep-alive connections, longest idle first */
	struct conn *idle_tail;
	struct conn *free_conns;    /* recycled connection structs */
	struct iobuf *free_bufs;    /* recycled request/response buffers */
	struct httpdate_cache date; /* the Date header, for the connections */
	char path[FILE_PATH_MAX];   /* scratch for the request being answered */
};

/* Sets the loop up over the acquired listeners; log is opened already (stdout before the
 * privilege drop, a file after it, as the run user). Returns 0, or -1 with err. */
int server_init(struct server *s, const struct config *cfg, struct listen_set *listeners,
		struct tls_ctx *tls, int root_fd, const struct accesslog *log, char *err,
		size_t errlen);
/* Runs until SIGTERM/SIGINT and the drain that follows. */
void server_run(struct server *s);
void server_free(struct server *s);

/* A connection closed: accept again if the limit had paused accepting. */
void server_conn_closed(struct server *s);
/* A connection became idle: at the limit, a new client may now take its slot. */
void server_conn_idle(struct server *s);

#endif
