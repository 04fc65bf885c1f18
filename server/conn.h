/* conn.h — one client connection: TLS handshake, requests, responses, keep-alive. */
#ifndef DROPCAP_CONN_H
#define DROPCAP_CONN_H

#include <stddef.h>
#include <sys/socket.h>

#include "accesslog.h"
#include "config.h"
#include "fcache.h"
#include "file.h"
#include "httpdate.h"
#include "listen.h"

struct conn;
struct gen;
struct ev_loop;
struct iobuf;
struct tls_ctx;
struct transport;
struct http_request;
struct rules_ctx;

/*
 * The connections of one loop and what they share. Its owner (the server) fills the first
 * part with conn_set_init and then only reads nconns and idle_head; conn.c owns the rest, and
 * never reaches back into its owner: it tells it through the two callbacks.
 */
struct conn_set {
	struct ev_loop *loop;
	struct gen *gen;     /* the current configuration (gen.h): the owner swaps it on reload */
	struct tls_ctx *tls; /* for HTTPS connections */
	struct accesslog *log;
	struct fcache *fcache;
	unsigned https_port; /* the HTTPS listener's port (getsockname), for --redirect-https */
	void (*on_closed)(struct conn_set *set); /* a connection closed (nconns is one less) */
	void (*on_idle)(struct conn_set *set);	 /* a connection became idle */
	/* conn.c's own */
	unsigned nconns;
	int draining;		/* conn_set_drain was called */
	struct conn *conns;	/* live connections */
	struct conn *idle_head; /* idle keep-alive connections, longest idle first */
	struct conn *idle_tail;
	struct conn *free_conns;	   /* recycled connection structs */
	struct iobuf *free_bufs;	   /* recycled request/response buffers */
	struct listing_buf *listing;	   /* the scratch for the next --autoindex page */
	struct listing_buf *free_listings; /* recycled ones */
	unsigned listings_used;		   /* the scratch and those connections are sending */
	struct httpdate_cache date;
	char path[FILE_PATH_MAX]; /* scratch for the request being answered */
};

/* Sets set up empty; the callbacks and the objects it points at are the caller's. */
void conn_set_init(struct conn_set *set, struct ev_loop *loop, struct gen *gen, struct tls_ctx *tls,
		   struct accesslog *log, struct fcache *fc);

/* Takes ownership of the accepted non-blocking socket fd. Closes it on failure. */
void conn_accept(struct conn_set *set, int fd, enum listen_kind kind,
		 const struct sockaddr_storage *peer);

/* Graceful stop: closes each connection now if it is between requests, else after its
 * response; no connection is kept alive from now on. handover (an upgrade, the new process
 * holds the listeners): a client that connected before the listeners closed gets its first
 * request answered, and an idle keep-alive connection whose next request already waits is
 * answered too; only idle keep-alive ones close now. */
void conn_set_drain(struct conn_set *set, int handover);
/* At --max-conns: closes the longest-idle keep-alive connection (lingering when the client has
 * not acknowledged all of its last response, then its slot is free only when that ends).
 * Returns 0 when no connection is idle. */
int conn_reclaim_idle(struct conn_set *set);
/* Lets every connection that waits for its client's first word (a ClientHello, a first
 * request) give back what its transport holds, as an idle keep-alive one does at once: a
 * periodic sweep, so that short connections never pay for it. */
void conn_set_quiet(struct conn_set *set);
/* Closes every connection at once and frees the pools. */
void conn_set_free(struct conn_set *set);

/* For HTTP/2 streams (h2.c), which answer through the same plans as the HTTP/1 path: the
 * context of the rules for req under configuration g, over transport t (the SNI, HTTPS or
 * not); req NULL: the default site's. Uses the set's scratch path and listing buffer. */
struct rules_ctx conn_set_rules_ctx(struct conn_set *s, const struct gen *g,
				    const struct transport *t, const struct http_request *req);
/* The listing scratch a plan with RULES_BODY_LISTING was just made in becomes the caller's
 * until it gives it back (conn_listing_put); conn_listing_data is its page. */
struct listing_buf *conn_listing_take(struct conn_set *s);
const char *conn_listing_data(const struct listing_buf *b);
void conn_listing_put(struct conn_set *s, struct listing_buf *b);

/* Frees the recycled structs and buffers of set beyond the numbers to keep; returns how many
 * were freed. */
size_t conn_trim_pools(struct conn_set *set, size_t keep_conns, size_t keep_bufs);

#endif
