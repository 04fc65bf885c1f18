/* transport.c — plain TCP and TLS behind one operations table. */
#include <errno.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls.h"
#include "transport.h"

static enum transport_result plain_errno(int e, enum transport_result again)
{
	if (e == EAGAIN || e == EINTR)
		return again;
	return (e == ECONNRESET || e == EPIPE) ? TRANSPORT_CLOSE : TRANSPORT_ERROR;
}

static enum transport_result plain_handshake(struct transport *t)
{
	(void)t;
	return TRANSPORT_DONE;
}

static enum transport_result plain_read(struct transport *t, char *buf, size_t len, size_t *n)
{
	ssize_t r = recv(t->fd, buf, len, 0);

	if (r > 0) {
		*n = (size_t)r;
		return TRANSPORT_DONE;
	}
	return r == 0 ? TRANSPORT_CLOSE : plain_errno(errno, TRANSPORT_WANT_READ);
}

static enum transport_result plain_write(struct transport *t, const char *buf, size_t len,
					 size_t *n, int more)
{
	ssize_t r = send(t->fd, buf, len, MSG_NOSIGNAL | (more ? MSG_MORE : 0));

	if (r > 0) {
		*n = (size_t)r;
		return TRANSPORT_DONE;
	}
	return plain_errno(errno, TRANSPORT_WANT_WRITE);
}

static enum transport_result plain_sendfile(struct transport *t, int fd, off_t *off, size_t len,
					    size_t *n)
{
	ssize_t r = sendfile(t->fd, fd, off, len);

	if (r > 0) {
		*n = (size_t)r;
		return TRANSPORT_DONE;
	}
	/* 0: the file shrank under us; the response cannot be completed */
	return r == 0 ? TRANSPORT_ERROR : plain_errno(errno, TRANSPORT_WANT_WRITE);
}

static int plain_pending(const struct transport *t)
{
	(void)t;
	return 0;
}

static void plain_shutdown(struct transport *t)
{
	(void)t;
}

static const struct transport_ops plain_ops = {
    .name = "http",
    .handshake = plain_handshake,
    .read = plain_read,
    .write = plain_write,
    .sendfile = plain_sendfile,
    .pending = plain_pending,
    .shutdown = plain_shutdown,
};

static enum transport_result tls_op_handshake(struct transport *t)
{
	return tls_handshake(t->tls);
}

static enum transport_result tls_op_read(struct transport *t, char *buf, size_t len, size_t *n)
{
	return tls_read(t->tls, buf, len, n);
}

static enum transport_result tls_op_write(struct transport *t, const char *buf, size_t len,
					  size_t *n, int more)
{
	(void)more; /* every write is a whole record already */
	return tls_write(t->tls, buf, len, n);
}

static int tls_op_pending(const struct transport *t)
{
	return tls_pending(t->tls);
}

static void tls_op_shutdown(struct transport *t)
{
	tls_shutdown(t->tls);
}

static const struct transport_ops tls_ops = {
    .name = "https",
    .handshake = tls_op_handshake,
    .read = tls_op_read,
    .write = tls_op_write,
    .sendfile = NULL,
    .pending = tls_op_pending,
    .shutdown = tls_op_shutdown,
};

int transport_open(struct transport *t, int fd, struct tls_ctx *ctx)
{
	t->fd = fd;
	t->tls = NULL;
	t->ops = &plain_ops;
	if (!ctx)
		return 0;
	t->tls = tls_conn_new(ctx, fd);
	if (!t->tls)
		return -1;
	t->ops = &tls_ops;
	return 0;
}

void transport_close(struct transport *t)
{
	tls_conn_free(t->tls);
	t->tls = NULL;
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}
