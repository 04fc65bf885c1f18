/* notify.c — tells systemd (Type=notify) when dropcap is ready, reloading or stopping. */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* One socket for the process: the protocol has one peer, systemd. */
static int notify_fd = -1;
static long notify_pid; /* taken at open: getpid() may be outside the sandbox's allow-list */
static int notify_warned;
static int notify_skip_mainpid; /* the next READY=1 leaves MAINPID= to the old process */

int notify_addr_parse(const char *value, struct sockaddr_un *sa, socklen_t *len, char *err,
		      size_t errlen)
{
	size_t n = strlen(value), max;

	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (n < 2 || (value[0] != '/' && value[0] != '@'))
		return log_errbuf(err, errlen,
				  "NOTIFY_SOCKET=%s: not an absolute path or an @abstract name",
				  value);
	/* a path needs room for its NUL; an abstract name has none */
	max = value[0] == '@' ? sizeof sa->sun_path : sizeof sa->sun_path - 1;
	if (n > max)
		return log_errbuf(err, errlen, "NOTIFY_SOCKET=%s: longer than %zu bytes", value,
				  max);
	memcpy(sa->sun_path, value, n);
	if (value[0] == '@') { /* the abstract name is the bytes after a NUL, with no NUL after */
		sa->sun_path[0] = '\0';
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return 0;
}

int notify_open(char *err, size_t errlen)
{
	const char *value = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t len;
	int fd;

	if (notify_fd >= 0) { /* a second open replaces the first */
		close(notify_fd);
		notify_fd = -1;
	}
	if (!value || !*value)
		return 0;
	if (notify_addr_parse(value, &sa, &len, err, errlen) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_errbuf(err, errlen, "NOTIFY_SOCKET=%s: socket: %s", value,
				  strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
		int e = errno;
		close(fd);
		return log_errbuf(err, errlen, "NOTIFY_SOCKET=%s: connect: %s", value, strerror(e));
	}
	notify_fd = fd;
	notify_pid = (long)getpid();
	notify_warned = 0;
	return 1;
}

/* One datagram, never blocking (systemd's queue may be full) and never raising SIGPIPE. */
static void notify_send(const char *msg, size_t len)
{
	if (notify_fd < 0)
		return;
	if (send(notify_fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len)
		return;
	if (!notify_warned) /* once: a dead systemd socket would otherwise log on every event */
		log_warn("cannot notify systemd ($NOTIFY_SOCKET)");
	notify_warned = 1;
}

/* Formats into a fixed buffer and sends. Every message is bounded well below its size (the
 * status line is at most 255 bytes); one that did not fit would be dropped, never cut. */
static void notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void notify_sendf(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	if (notify_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof msg)
		return;
	notify_send(msg, (size_t)n);
}

void notify_ready(const char *fmt, ...)
{
	char status[256];
	va_list ap;

	if (notify_fd < 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(status, sizeof status, fmt, ap);
	va_end(ap);
	status[strcspn(status, "\n")] = '\0'; /* a newline would start another assignment */
	if (notify_skip_mainpid) {
		notify_skip_mainpid = 0;
		notify_sendf("READY=1\nSTATUS=%s", status);
		return;
	}
	notify_sendf("READY=1\nMAINPID=%ld\nSTATUS=%s", notify_pid, status);
}

void notify_mainpid_from_parent(void)
{
	notify_skip_mainpid = 1;
}

void notify_stopping(void)
{
	notify_sendf("STOPPING=1\nSTATUS=finishing in-flight responses, then exiting");
}

void notify_reloading(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return;
	notify_sendf("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
		     (unsigned long long)ts.tv_sec * 1000000ULL +
			 (unsigned long long)ts.tv_nsec / 1000ULL);
}

void notify_mainpid(long pid)
{
	notify_sendf("MAINPID=%ld", pid);
}
