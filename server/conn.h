/* conn.h — one client connection: TLS handshake, requests, responses, keep-alive. */
#ifndef DROPCAP_CONN_H
#define DROPCAP_CONN_H

#include <stddef.h>
#include <sys/socket.h>

#include "listen.h"

struct server;
struct conn;

/* Takes ownership of the accepted non-blocking socket fd. Closes it on failure. */
void conn_accept(struct server *s, int fd, enum listen_kind kind,
		 const struct sockaddr_storage *peer);

/* Graceful stop: closes c now if it is between requests, else after its response.
 * handover (an upgrade, the new process holds the listeners): a client that connected before
 * the listeners closed gets its first request answered, and an idle keep-alive connection whose
 * next request already waits is answered too; only idle keep-alive ones close now. */
void conn_drain(struct conn *c, int handover);
/* At --max-conns: closes the longest-idle keep-alive connection (lingering when the client has
 * not acknowledged all of its last response, then its slot is free only when that ends).
 * Returns 0 when no connection is idle. */
int conn_reclaim_idle(struct server *s);
/* Closes c at once. */
void conn_abort(struct conn *c);
struct conn *conn_next(struct conn *c);

/* Frees the recycled structs and buffers of s beyond the numbers to keep; returns how many
 * were freed. */
size_t conn_trim_pools(struct server *s, size_t keep_conns, size_t keep_bufs);
/* Frees every recycled struct and buffer of s. */
void conn_free_pools(struct server *s);

#endif
