/* transport.c — the plain TCP transport, and what every transport shares (tls.c has TLS's). */
#include <errno.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

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
    .free = NULL,
    .idle = NULL, /* the kernel holds a plain socket's buffers */
};

void transport_open_plain(struct transport *t, int fd)
{
	t->fd = fd;
	t->tls = NULL;
	t->ops = &plain_ops;
}

void transport_close(struct transport *t)
{
	if (t->ops->free)
		t->ops->free(t);
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}
