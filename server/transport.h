/* transport.h — plain sockets and TLS behind one table of operations; the TLS one lives in
 * tls.c, which includes this header, never the other way round. */
#ifndef DROPCAP_TRANSPORT_H
#define DROPCAP_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum transport_result {
	TRANSPORT_DONE,
	TRANSPORT_WANT_READ,
	TRANSPORT_WANT_WRITE,
	TRANSPORT_CLOSE, /* orderly end of stream from the peer */
	TRANSPORT_ERROR,
};

struct tls_conn; /* the TLS transport's session, opaque here */

struct transport {
	const struct transport_ops *ops;
	int fd;
	struct tls_conn *tls;
};

struct transport_ops {
	const char *name;
	enum transport_result (*handshake)(struct transport *t);
	/* Reads up to len bytes; DONE with *n > 0. */
	enum transport_result (*read)(struct transport *t, char *buf, size_t len, size_t *n);
	/* Writes up to len bytes; DONE with *n > 0. `more`: further data follows at once. */
	enum transport_result (*write)(struct transport *t, const char *buf, size_t len, size_t *n,
				       int more);
	/* Sends up to len bytes of file fd from *off (advanced); NULL when the transport
	 * must copy through user space (TLS). */
	enum transport_result (*sendfile)(struct transport *t, int fd, off_t *off, size_t len,
					  size_t *n);
	int (*pending)(const struct transport *t);
	void (*shutdown)(struct transport *t);
	/* Frees the per-connection state (not fd); NULL when there is none. */
	void (*free)(struct transport *t);
	/* The connection waits for a next request with nothing buffered in the caller: gives
	 * back what the transport can rebuild on demand (TLS: its record buffers' pages). NULL
	 * when there is nothing to give back; never blocks, costs nothing when repeated. */
	void (*idle)(struct transport *t);
};

/* Sets up t as plain TCP over fd (tls_transport_open in tls.h makes a TLS one). */
void transport_open_plain(struct transport *t, int fd);
/* Frees the transport's session state (if any) and closes fd. */
void transport_close(struct transport *t);

#endif
