/* listen.c — listening sockets: inherited from a launcher, or bound here (through priv_bind). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"
#include "priv.h"
#include "upgrade.h"

#define LISTEN_BACKLOG 4096
#define SD_LISTEN_FDS_START 3

static const char *const kind_names[] = {[LISTEN_HTTPS] = "https", [LISTEN_HTTP] = "http"};

void listen_format_addr(const struct sockaddr *sa, char *out, size_t outsz)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
		snprintf(out, outsz, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
		snprintf(out, outsz, "%s:%u", host, ntohs(s4->sin_port));
	} else {
		snprintf(out, outsz, "(address family %d)", sa->sa_family);
	}
}

static int parse_port(const char *s, unsigned *port)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || v == 0 || v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

static int resolve(const char *host, unsigned port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *res;
	char serv[8];

	snprintf(serv, sizeof serv, "%u", port);
	if (getaddrinfo(host, serv, &hints, &res) != 0)
		return -1;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int listen_parse_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len, char *err,
		      size_t errlen)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	unsigned port;
	size_t hl;

	if (!colon || parse_port(colon + 1, &port) < 0)
		return log_errbuf(err, errlen,
				  "bad address '%s': expected ADDR:PORT, e.g. :443, "
				  "127.0.0.1:8443 or [::1]:443",
				  spec);
	hl = (size_t)(colon - spec);
	if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof host)
		return log_errbuf(err, errlen, "bad address '%s': host too long", spec);
	memcpy(host, spec, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof *ss);
	if (hl == 0) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_any;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof *s6;
		return 0;
	}
	if (resolve(host, port, ss, len) < 0)
		return log_errbuf(err, errlen,
				  "bad address '%s': '%s' is not an IP address or a known "
				  "host name",
				  spec, host);
	return 0;
}

/* The fd is a listening TCP socket: then make it non-blocking and close-on-exec. */
static int check_inherited(int fd, const char *what, struct listener *l, char *err, size_t errlen)
{
	struct stat st;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int acc = 0, type = 0;
	socklen_t il = sizeof acc, tl = sizeof type;

	if (fstat(fd, &st) < 0)
		return log_errbuf(err, errlen, "%s fd %d: not open (%s)", what, fd,
				  strerror(errno));
	if (!S_ISSOCK(st.st_mode) || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &il) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return log_errbuf(err, errlen, "%s fd %d: not a socket", what, fd);
	if (!acc || type != SOCK_STREAM || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
		return log_errbuf(err, errlen,
				  "%s fd %d: not a listening TCP socket (it must be "
				  "bound and listening before dropcap starts)",
				  what, fd);
	l->fd = fd;
	listen_format_addr((struct sockaddr *)&ss, l->name, sizeof l->name);
	return 0;
}

static int commit_fd(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -1;
	return 0;
}

/* Kind for an unnamed inherited socket: https first (if enabled), then http. */
static enum listen_kind next_kind(const struct config *c, const struct listen_set *set)
{
	int have_https = 0;

	for (size_t i = 0; i < set->n; i++)
		have_https |= set->l[i].kind == LISTEN_HTTPS;
	if (!have_https && !(c->https_given && !c->https))
		return LISTEN_HTTPS;
	return LISTEN_HTTP;
}

static int add_inherited(const struct config *c, struct listen_set *set, int fd, int kind,
			 const char *via, int commit, char *err, size_t errlen)
{
	struct listener *l = &set->l[set->n];

	if (set->n == LISTEN_MAX)
		return log_errbuf(err, errlen, "too many listening sockets (at most %d)",
				  LISTEN_MAX);
	if (check_inherited(fd, via, l, err, errlen) < 0)
		return -1;
	l->kind = kind < 0 ? next_kind(c, set) : (enum listen_kind)kind;
	l->via = via;
	if (commit && commit_fd(fd) < 0)
		return log_errbuf(err, errlen, "%s fd %d: %s", via, fd, strerror(errno));
	set->n++;
	return 0;
}

/* The name of socket i in LISTEN_FDNAMES ("https:http"): its kind, or -1 when unnamed. */
static int fdname_kind(const char *names, int i)
{
	const char *p = names;

	for (; p && i > 0; i--) {
		p = strchr(p, ':');
		p = p ? p + 1 : NULL;
	}
	if (!p)
		return -1;
	size_t n = strcspn(p, ":");
	if (n == 5 && strncmp(p, "https", 5) == 0)
		return LISTEN_HTTPS;
	if (n == 4 && strncmp(p, "http", 4) == 0)
		return LISTEN_HTTP;
	return -1;
}

/* systemd socket activation (sd_listen_fds(3)): LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES. */
static int inherit_systemd(const struct config *c, struct listen_set *set, int commit, char *err,
			   size_t errlen)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	unsigned n;

	if (!pid || !fds || strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	if (parse_port(fds, &n) < 0 || n > LISTEN_MAX)
		return log_errbuf(err, errlen, "LISTEN_FDS=%s: expected 1 to %d sockets", fds,
				  LISTEN_MAX);
	for (unsigned i = 0; i < n; i++)
		if (add_inherited(c, set, SD_LISTEN_FDS_START + (int)i, fdname_kind(names, (int)i),
				  "socket-activation", commit, err, errlen) < 0)
			return -1;
	if (commit) {
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
	}
	return 0;
}

/* An upgrade (upgrade.h): the old process's whole listener set, kinds included; its own
 * socket activation and --listen-fd sockets are among them, at the same numbers. Returns how
 * many, or -1 with err. */
static int inherit_upgrade(const struct config *c, struct listen_set *set, int commit, char *err,
			   size_t errlen)
{
	struct upgrade_fd up[LISTEN_MAX];
	int ready, n = upgrade_inherited(up, LISTEN_MAX, &ready);

	if (n < 0)
		return log_errbuf(err, errlen, "%s=%s: expected e.g. 3:https,4:http",
				  UPGRADE_FDS_ENV, getenv(UPGRADE_FDS_ENV));
	for (int i = 0; i < n; i++)
		if (add_inherited(c, set, up[i].fd, up[i].kind, "upgrade", commit, err, errlen) < 0)
			return -1;
	if (commit)
		unsetenv(UPGRADE_FDS_ENV);
	return n;
}

static int inherit_all(const struct config *c, struct listen_set *set, int commit, char *err,
		       size_t errlen)
{
	int up;

	set->n = 0;
	if ((up = inherit_upgrade(c, set, commit, err, errlen)) < 0)
		return -1;
	if (up == 0 && inherit_systemd(c, set, commit, err, errlen) < 0)
		return -1;
	for (size_t i = 0; up == 0 && i < c->n_listen_fds; i++)
		if (add_inherited(c, set, c->listen_fds[i].fd, c->listen_fds[i].kind, "listen-fd",
				  commit, err, errlen) < 0)
			return -1;
	if (commit && set->n > 0)
		priv_note_inherited();
	return 0;
}

int listen_inherited(const struct config *c, struct listen_set *set, char *err, size_t errlen)
{
	return inherit_all(c, set, 0, err, errlen);
}

/* The descriptors dropcap starts with and keeps: the standard streams, the LISTEN_FDS sockets
 * meant for this process, each --listen-fd, and what an upgrade handed over. Returns how many. */
static size_t keep_fds(const struct config *c, unsigned *keep)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	struct upgrade_fd up[LISTEN_MAX];
	unsigned n_sd = 0;
	size_t n = 0;
	int n_up, ready;

	for (unsigned fd = 0; fd < 3; fd++)
		keep[n++] = fd;
	if (pid && fds && strtol(pid, NULL, 10) == (long)getpid() && parse_port(fds, &n_sd) == 0 &&
	    n_sd <= LISTEN_MAX)
		for (unsigned i = 0; i < n_sd; i++)
			keep[n++] = SD_LISTEN_FDS_START + i;
	for (size_t i = 0; i < c->n_listen_fds; i++)
		keep[n++] = (unsigned)c->listen_fds[i].fd;
	n_up = upgrade_inherited(up, LISTEN_MAX, &ready);
	for (int i = 0; i < n_up; i++)
		keep[n++] = (unsigned)up[i].fd;
	if (ready >= 0)
		keep[n++] = (unsigned)ready;
	return n;
}

int listen_close_except(unsigned *keep, size_t n, char *err, size_t errlen)
{
	unsigned next = 0;

	for (size_t i = 1; i < n; i++) /* insertion sort: a few dozen entries at most */
		for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			unsigned t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	for (size_t i = 0; i <= n; i++) {
		unsigned upto = i < n ? keep[i] : ~0u;
		if (upto > next && close_range(next, upto - 1, 0) < 0)
			return log_errbuf(err, errlen, "cannot close inherited descriptors: %s",
					  strerror(errno));
		if (i < n && upto + 1 > next)
			next = upto + 1;
	}
	return 0;
}

int listen_close_inherited(const struct config *c, char *err, size_t errlen)
{
	unsigned keep[4 + 2 * LISTEN_MAX + CONFIG_MAX_LISTEN_FDS];
	size_t n = keep_fds(c, keep);

	/* A standard stream left closed would be reused by the next open (the access log on fd 1
	 * or 2): hold it with /dev/null instead. */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			return log_errbuf(err, errlen, "cannot open /dev/null as fd %d", fd);
	return listen_close_except(keep, n, err, errlen);
}

static int bind_error(const char *spec, int e, char *err, size_t errlen)
{
	char why[768];

	switch (e) {
	case EACCES:
	case EPERM:
		priv_explain_eacces(spec, why, sizeof why);
		return log_errbuf(err, errlen, "cannot listen on %s: permission denied. %s", spec,
				  why);
	case EADDRINUSE:
		return log_errbuf(err, errlen,
				  "cannot listen on %s: address already in use (another "
				  "server is listening there: stop it, or choose another address)",
				  spec);
	case EADDRNOTAVAIL:
		return log_errbuf(err, errlen, "cannot listen on %s: this host has no such address",
				  spec);
	default: return log_errbuf(err, errlen, "cannot listen on %s: %s", spec, strerror(e));
	}
}

static int open_socket(const struct sockaddr_storage *ss, int dual)
{
	int one = 1, zero = 0;
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    (ss->ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual ? &zero : &one, sizeof one) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int bind_one(const char *spec, enum listen_kind kind, struct listen_set *set, char *err,
		    size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct listener *l = &set->l[set->n];
	int fd, dual;

	if (set->n == LISTEN_MAX)
		return log_errbuf(err, errlen, "too many listening sockets (at most %d)",
				  LISTEN_MAX);
	if (listen_parse_addr(spec, &ss, &len, err, errlen) < 0)
		return -1;
	dual = ss.ss_family == AF_INET6 &&
	       IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr);
	fd = open_socket(&ss, dual);
	if (fd < 0 && dual && errno == EAFNOSUPPORT) { /* no IPv6 here: every IPv4 address */
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		uint16_t port = ((struct sockaddr_in6 *)&ss)->sin6_port;
		memset(&ss, 0, sizeof ss);
		s4->sin_family = AF_INET;
		s4->sin_port = port;
		len = sizeof *s4;
		fd = open_socket(&ss, 0);
	}
	if (fd < 0)
		return log_errbuf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
	if (priv_bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		int e = errno;
		close(fd);
		return bind_error(spec, e, err, errlen);
	}
	l->fd = fd;
	l->kind = kind;
	l->via = "bound";
	listen_format_addr((struct sockaddr *)&ss, l->name, sizeof l->name);
	set->n++;
	return 0;
}

static int covered(const struct listen_set *set, enum listen_kind kind)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->l[i].kind == kind)
			return 1;
	return 0;
}

int listen_acquire(const struct config *c, struct listen_set *set, char *err, size_t errlen)
{
	const char *spec[] = {[LISTEN_HTTPS] = c->https, [LISTEN_HTTP] = c->http};
	const int given[] = {[LISTEN_HTTPS] = c->https_given, [LISTEN_HTTP] = c->http_given};
	size_t inherited;

	if (inherit_all(c, set, 1, err, errlen) < 0)
		return -1;
	inherited = set->n;
	for (int k = LISTEN_HTTPS; k <= LISTEN_HTTP; k++) {
		if (!spec[k] || covered(set, (enum listen_kind)k) || (inherited && !given[k]))
			continue;
		if (bind_one(spec[k], (enum listen_kind)k, set, err, errlen) < 0)
			return -1;
	}
	if (set->n == 0)
		return log_errbuf(err, errlen, "nothing to listen on");
	return 0;
}

const char *listen_kind_name(enum listen_kind kind)
{
	return kind_names[kind];
}
