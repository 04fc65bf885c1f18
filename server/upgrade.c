/* upgrade.c — the unsandboxed upgrade helper, and both ends of its protocol (see upgrade.h). */
#include "upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"
#include "tls.h"

#define DELETED_SUFFIX " (deleted)"

/* Set once at start-up, before the helper forks; the helper only reads them. */
static struct {
	char exe[PATH_MAX];
	char **argv;
	const struct listen_set *ls;
	int ready; /* the readiness pipe this process got from an upgrade, or -1 */
	int ready_taken;
	long pid;  /* taken at start: getpid() is not in the sandbox's allow-list */
	int pidfd; /* the helper's */
} up = {.ready = -1, .pidfd = -1};

static int parse_kind(const char *s, size_t n)
{
	if (n == 5 && strncmp(s, "https", 5) == 0)
		return CONFIG_KIND_HTTPS;
	if (n == 4 && strncmp(s, "http", 4) == 0)
		return CONFIG_KIND_HTTP;
	return -1;
}

int upgrade_parse_fds(const char *value, struct upgrade_fd *out, size_t max)
{
	const char *p = value;
	size_t n = 0;

	while (*p) {
		char *end;
		long fd = strtol(p, &end, 10);
		size_t len;
		int kind;

		if (end == p || *p < '0' || *p > '9' || fd < 3 || fd > INT_MAX || *end != ':' ||
		    n == max)
			return -1;
		len = strcspn(end + 1, ",");
		if ((kind = parse_kind(end + 1, len)) < 0)
			return -1;
		out[n].fd = (int)fd;
		out[n++].kind = (enum config_kind)kind;
		p = end + 1 + len;
		if (*p == ',' && *++p == '\0')
			return -1;
	}
	return (int)n;
}

static int parse_ready(const char *value)
{
	char *end;
	long fd;

	if (!value || *value < '0' || *value > '9')
		return -1;
	fd = strtol(value, &end, 10);
	return *end == '\0' && fd >= 3 && fd <= INT_MAX ? (int)fd : -1;
}

int upgrade_inherited(struct upgrade_fd *out, size_t max, int *ready)
{
	const char *fds = getenv(UPGRADE_FDS_ENV);

	*ready = up.ready_taken ? up.ready : parse_ready(getenv(UPGRADE_READY_ENV));
	if (!fds)
		return 0;
	return upgrade_parse_fds(fds, out, max);
}

/* dropcap's own path, as at start: a binary replaced since shows as "PATH (deleted)". */
static int resolve_exe(char *err, size_t errlen)
{
	ssize_t n = readlink("/proc/self/exe", up.exe, sizeof up.exe - 1);
	size_t sl = strlen(DELETED_SUFFIX);

	if (n < 0)
		return log_errbuf(err, errlen, "upgrades off: cannot read /proc/self/exe: %s",
				  strerror(errno));
	up.exe[n] = '\0';
	if ((size_t)n > sl && strcmp(up.exe + n - sl, DELETED_SUFFIX) == 0)
		up.exe[n - sl] = '\0';
	return 0;
}

/* ---- the helper ---- */

/* The new process starts with the dispositions a fresh start has: the helper ignores signals
 * meant for the server (systemctl kill without --kill-who=main reaches it too). */
static void set_signals(void (*handler)(int))
{
	static const int sigs[] = {SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE, SIGINT};

	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		signal(sigs[i], handler);
}

/* In the new process's parent-to-be, after fork: the listeners and the readiness pipe stay
 * open across execve at their numbers, named in the environment. Never returns. */
static void child_exec(int ready)
{
	char fds[LISTEN_MAX * 16] = "", num[16];
	size_t len = 0;

	for (size_t i = 0; i < up.ls->n; i++) {
		const struct listener *l = &up.ls->l[i];
		(void)fcntl(l->fd, F_SETFD, 0);
		len += (size_t)snprintf(fds + len, sizeof fds - len, "%s%d:%s", i ? "," : "", l->fd,
					listen_kind_name(l->kind));
	}
	(void)fcntl(ready, F_SETFD, 0);
	snprintf(num, sizeof num, "%d", ready);
	set_signals(SIG_DFL);
	if (setenv(UPGRADE_FDS_ENV, fds, 1) == 0 && setenv(UPGRADE_READY_ENV, num, 1) == 0)
		execv(up.exe, up.argv);
	dprintf(ready, "!%s", strerror(errno));
	_exit(127);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits until the child exits or the deadline passes (then kills it); describes it in msg. */
static void reap(pid_t pid, double deadline, const char *why, char *msg, size_t len)
{
	int st;

	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (now() >= deadline) {
			kill(pid, SIGKILL);
			(void)waitpid(pid, &st, 0);
			snprintf(msg, len, "failed: %s; killed it", why);
			return;
		}
		poll(NULL, 0, 50);
	}
	if (WIFEXITED(st))
		snprintf(msg, len, "failed: %s exited with status %d at start", up.exe,
			 WEXITSTATUS(st));
	else
		snprintf(msg, len, "failed: %s was killed by signal %d (%s) at start", up.exe,
			 WTERMSIG(st), strsignal(WTERMSIG(st)));
}

/* Reads the readiness pipe until the new process reports, exits, or the time is up. */
static void wait_ready(pid_t pid, int fd, char *msg, size_t len)
{
	double deadline = now() + UPGRADE_TIMEOUT;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	char buf[256];
	ssize_t n;
	int r;

	do {
		double left = deadline - now();
		r = left > 0 ? poll(&pfd, 1, (int)(left * 1000) + 1) : 0;
	} while (r < 0 && errno == EINTR);
	if (r <= 0) {
		snprintf(buf, sizeof buf, "timed out after %d s without reporting ready",
			 UPGRADE_TIMEOUT);
		reap(pid, 0, buf, msg, len);
		return;
	}
	n = read(fd, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = '\0';
	if (n > 0 && buf[0] == '!') {
		(void)waitpid(pid, NULL, 0);
		snprintf(msg, len, "failed: cannot execute %s: %.100s", up.exe, buf + 1);
	} else if (n > 0) {
		snprintf(msg, len, "ready %ld", (long)pid);
	} else {
		reap(pid, deadline, "it closed its readiness pipe without reporting ready", msg,
		     len);
	}
}

static void helper_upgrade(char *msg, size_t len)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(msg, len, "failed: pipe: %s", strerror(errno));
		return;
	}
	if ((pid = fork()) == 0) {
		close(p[0]);
		child_exec(p[1]);
	}
	close(p[1]);
	if (pid < 0)
		snprintf(msg, len, "failed: fork: %s", strerror(errno));
	else
		wait_ready(pid, p[0], msg, len);
	close(p[0]);
}

/* Blocks on the socketpair only: one byte asks for an upgrade, EOF means the server is gone.
 * _exit: the forked copy of the server's heap and stdio buffers is not this process's to
 * flush or check for leaks. */
static void helper_run(int sock, struct tls_ctx *tls)
{
	unsigned keep[3 + LISTEN_MAX + 1];
	size_t n = 0;
	char err[256], msg[PATH_MAX + 128], c;

	for (unsigned fd = 0; fd < 3; fd++)
		keep[n++] = fd;
	for (size_t i = 0; i < up.ls->n; i++)
		keep[n++] = (unsigned)up.ls->l[i].fd;
	keep[n++] = (unsigned)sock;
	if (listen_close_except(keep, n, err, sizeof err) < 0)
		_exit(1);
	tls_ctx_free(tls); /* mbedTLS and OpenSSL zeroise the key as they free it */
	set_signals(SIG_IGN);
	for (;;) {
		ssize_t r = read(sock, &c, 1);
		if (r == 0 || (r < 0 && errno != EINTR))
			_exit(0);
		if (r < 0)
			continue;
		helper_upgrade(msg, sizeof msg);
		(void)send(sock, msg, strlen(msg), MSG_NOSIGNAL);
	}
}

/* ---- the server's side ---- */

int upgrade_start(char **argv, const struct listen_set *ls, struct tls_ctx *tls, char *err,
		  size_t errlen)
{
	int sv[2];
	pid_t pid;

	up.ready = parse_ready(getenv(UPGRADE_READY_ENV));
	up.ready_taken = 1;
	up.pid = (long)getpid();
	if (up.ready >= 0)
		(void)fcntl(up.ready, F_SETFD, FD_CLOEXEC);
	unsetenv(UPGRADE_READY_ENV);
	up.argv = argv;
	up.ls = ls;
	if (resolve_exe(err, errlen) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return log_errbuf(err, errlen, "upgrades off: socketpair: %s", strerror(errno));
	if ((pid = fork()) == 0) {
		close(sv[0]);
		helper_run(sv[1], tls);
	}
	close(sv[1]);
	if (pid > 0)
		up.pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec always */
	if (pid < 0 || fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0) {
		int e = errno;
		close(sv[0]);
		return log_errbuf(err, errlen, "upgrades off: cannot start the helper: %s",
				  strerror(e));
	}
	return sv[0];
}

int upgrade_helper_pidfd(void)
{
	return up.pidfd;
}

int upgrade_is_upgrade(void)
{
	return up.ready_taken ? up.ready >= 0 : parse_ready(getenv(UPGRADE_READY_ENV)) >= 0;
}

const char *upgrade_path(void)
{
	return up.exe;
}

int upgrade_request(int fd)
{
	return send(fd, "u", 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1 ? 0 : -1;
}

enum upgrade_reply upgrade_reply(int fd, long *pid, char *why, size_t whylen)
{
	char buf[PATH_MAX + 128];
	ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return UPGRADE_PENDING;
	if (n <= 0)
		return UPGRADE_GONE;
	buf[n] = '\0';
	if (strncmp(buf, "ready ", 6) == 0 && (*pid = strtol(buf + 6, NULL, 10)) > 0)
		return UPGRADE_READY;
	snprintf(why, whylen, "%s", strncmp(buf, "failed: ", 8) == 0 ? buf + 8 : buf);
	return UPGRADE_FAILED;
}

void upgrade_ready(void)
{
	if (up.ready < 0)
		return;
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%ld", up.pid);

	(void)!write(up.ready, buf, (size_t)n);
	close(up.ready);
	up.ready = -1;
}
