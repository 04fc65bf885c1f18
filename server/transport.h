/* transport.h — plain sockets and TLS behind one table of operations. */
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

struct tls_conn;
struct tls_ctx;

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
};

/* Sets up t over fd: plain when ctx is NULL, else TLS. Returns 0, or -1 (out of memory). */
int transport_open(struct transport *t, int fd, struct tls_ctx *ctx);
/* Frees the TLS session (if any) and closes fd. */
void transport_close(struct transport *t);

#endif
