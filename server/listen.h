/* listen.h — acquire the listening sockets: inherit (socket activation, --listen-fd) or bind. */
#ifndef DROPCAP_LISTEN_H
#define DROPCAP_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

#define LISTEN_MAX 8
#define LISTEN_NAME_MAX 64

enum listen_kind {
	LISTEN_HTTPS = CONFIG_KIND_HTTPS,
	LISTEN_HTTP = CONFIG_KIND_HTTP,
};

struct listener {
	int fd;
	enum listen_kind kind;
	char name[LISTEN_NAME_MAX]; /* the address it serves, e.g. "[::]:443" */
	const char *via;	    /* "bound", "socket-activation", "listen-fd" */
};

struct listen_set {
	struct listener l[LISTEN_MAX];
	size_t n;
};

/* Parses ":443", "127.0.0.1:8443", "[::1]:443", "[::]:443", "localhost:80".
 * An empty host means every address (IPv6 dual-stack "[::]"). Returns 0, or -1 with err. */
int listen_parse_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len, char *err,
		      size_t errlen);

/* Formats a socket address as "127.0.0.1:80" or "[::1]:443". */
void listen_format_addr(const struct sockaddr *sa, char *out, size_t outsz);

/* Fills set with every configured listener: inherited ones first (LISTEN_FDS,
 * --listen-fd), then binds the configured addresses not covered by them, through
 * priv_bind. Returns 0, or -1 with a one-line message in err. Never blocks. */
int listen_acquire(const struct config *c, struct listen_set *set, char *err, size_t errlen);

/* Closes every descriptor dropcap inherited except the standard streams (opened on /dev/null
 * when closed) and the listening sockets it will use (LISTEN_FDS for this process, each
 * --listen-fd): whatever else a parent left open (a root-only file) must not survive the
 * privilege drop. Call right after option parsing, before dropcap opens anything itself.
 * Returns 0, or -1 with err. */
int listen_close_inherited(const struct config *c, char *err, size_t errlen);

/* Closes every descriptor but the n in keep (sorted here in place). Returns 0, or -1 with err. */
int listen_close_except(unsigned *keep, size_t n, char *err, size_t errlen);

/* "https" or "http". */
const char *listen_kind_name(enum listen_kind kind);

/* Says, for doctor, which configured listeners would be inherited here. */
int listen_inherited(const struct config *c, struct listen_set *set, char *err, size_t errlen);

#endif
