/* logsink.c — a bounded line buffer in front of a descriptor, written without blocking: a full
 * pipe (journald under pressure, a stopped `| tee`) costs lines, never the event loop. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "logsink.h"

void logsink_init(struct logsink *s)
{
	s->fd = -1;
	s->own = 0;
	s->restore_fl = -1;
	s->kind = LOGSINK_FILE;
	s->failing = 0;
	s->dropped = 0;
	s->len = 0;
}

/* A description of our own for an inherited pipe, FIFO or terminal, with O_NONBLOCK: setting it
 * on the shared one would surprise the parent (a shell whose terminal turns non-blocking).
 * Without /proc, the shared one is made non-blocking and *restore keeps its flags for exit. */
static int private_description(int fd, int *restore, char *err, size_t errlen)
{
	char path[32];
	int fl = fcntl(fd, F_GETFL), nfd;

	if (fl < 0)
		return log_errbuf(err, errlen, "fd %d: %s", fd, strerror(errno));
	if ((fl & O_ACCMODE) == O_RDONLY)
		return log_errbuf(err, errlen, "fd %d is open for reading only", fd);
	if (fl & O_NONBLOCK)
		return fd;
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	nfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (nfd >= 0)
		return nfd;
	if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return log_errbuf(err, errlen, "fd %d: %s", fd, strerror(errno));
	*restore = fl;
	return fd;
}

/* Lets go of the current output: closes it when owned, puts shared flags back. */
static void release(struct logsink *s)
{
	if (s->fd >= 0 && s->restore_fl >= 0)
		(void)fcntl(s->fd, F_SETFL, s->restore_fl);
	if (s->fd >= 0 && s->own)
		close(s->fd);
	s->fd = -1;
	s->own = 0;
	s->restore_fl = -1;
}

int logsink_adopt(struct logsink *s, int fd, int own, char *err, size_t errlen)
{
	struct stat st;
	enum logsink_kind kind = LOGSINK_STREAM;
	int wfd = fd, restore = -1;

	if (fstat(fd, &st) < 0)
		return log_errbuf(err, errlen, "fd %d: %s", fd, strerror(errno));
	if (S_ISREG(st.st_mode)) {
		kind = LOGSINK_FILE;
	} else if (S_ISSOCK(st.st_mode)) {
		kind = LOGSINK_SOCKET;
	} else if (own) {
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
			return log_errbuf(err, errlen, "fd %d: %s", fd, strerror(errno));
	} else if ((wfd = private_description(fd, &restore, err, errlen)) < 0) {
		return -1;
	}
	release(s);
	s->fd = wfd;
	s->own = own || wfd != fd;
	s->restore_fl = restore;
	s->kind = kind;
	return 0;
}

char *logsink_space(struct logsink *s, size_t *room)
{
	if (s->fd < 0)
		return NULL;
	*room = sizeof s->buf - s->len;
	return s->buf + s->len;
}

void logsink_commit(struct logsink *s, size_t n)
{
	if (n > sizeof s->buf - s->len) {
		s->dropped++;
		return;
	}
	s->len += n;
}

static ssize_t put(const struct logsink *s, const char *p, size_t n)
{
	if (s->kind == LOGSINK_SOCKET)
		return send(s->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	return write(s->fd, p, n);
}

static unsigned long long count_lines(const char *p, size_t n)
{
	unsigned long long lines = 0;
	const char *end = p + n;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		lines++;
		p++;
	}
	return lines;
}

/* A write error (EPIPE, ENOSPC, EIO, ...): what is buffered is lost and counted. */
static void fail(struct logsink *s, int e, struct logsink_news *news)
{
	s->dropped += count_lines(s->buf, s->len);
	s->len = 0;
	if (!s->failing)
		news->failed = e;
	s->failing = e;
}

/* How much of p (n bytes, whole lines but maybe the first) to write in one call. To a pipe or
 * socket: whole lines up to PIPE_BUF, which a pipe takes all or nothing, so that a full pipe
 * never splits a line and lets another writer (stderr into the same pipe or journald stream)
 * into its middle; a single longer line goes alone. */
static size_t chunk(const struct logsink *s, const char *p, size_t n)
{
	const char *nl;

	if (s->kind == LOGSINK_FILE || n <= PIPE_BUF)
		return n;
	if ((nl = memrchr(p, '\n', PIPE_BUF)) != NULL)
		return (size_t)(nl - p) + 1;
	nl = memchr(p, '\n', n);
	return nl ? (size_t)(nl - p) + 1 : n;
}

int logsink_flush(struct logsink *s, struct logsink_news *news)
{
	size_t off = 0;
	int wait_fd = -1;

	news->dropped = 0;
	news->failed = 0;
	while (off < s->len) {
		ssize_t n = put(s, s->buf + off, chunk(s, s->buf + off, s->len - off));
		if (n > 0) {
			off += (size_t)n;
			s->failing = 0;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			wait_fd = s->fd;
			break;
		} else {
			fail(s, n < 0 ? errno : EIO, news);
			return -1;
		}
	}
	memmove(s->buf, s->buf + off, s->len - off);
	s->len -= off;
	if (s->len == 0 && s->dropped > 0 && !s->failing) {
		news->dropped = s->dropped;
		s->dropped = 0;
	}
	return wait_fd;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned long long logsink_close(struct logsink *s, int wait_ms)
{
	long deadline = now_ms() + wait_ms;
	unsigned long long lost = 0;
	struct logsink_news news;
	int fd;

	while (s->fd >= 0) {
		fd = logsink_flush(s, &news);
		lost += news.dropped;
		long left = deadline - now_ms();
		if (fd < 0 || left <= 0)
			break;
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			break;
	}
	lost += s->dropped + count_lines(s->buf, s->len);
	release(s);
	logsink_init(s);
	return lost;
}
