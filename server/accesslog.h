/* accesslog.h — one line per request in the combined log format, buffered, flushed when idle. */
#ifndef DROPCAP_ACCESSLOG_H
#define DROPCAP_ACCESSLOG_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include "http_parse.h"

struct accesslog {
	FILE *out;	  /* NULL: no access log */
	const char *path; /* NULL: stdout or none */
	int dirty;
	time_t stamp_at;
	char stamp[40]; /* "10/Oct/2000:13:55:36 -0700" for stamp_at */
};

struct accesslog_entry {
	const struct sockaddr_storage *peer;
	const struct http_request *req; /* NULL when no request line was parsed */
	struct http_slice raw_line;	/* else the start of what was received, or empty */
	enum http_status status;
	uint64_t body_bytes;
	time_t now;
};

/* Opens path for appending (NULL: stdout; "off": no log). Returns 0, or -1 with err. */
int accesslog_open(struct accesslog *log, const char *path, char *err, size_t errlen);
void accesslog_write(struct accesslog *log, const struct accesslog_entry *e);
/* Opens the file again (after logrotate moved it away): SIGUSR1. With stdout or no log, does
 * nothing. On failure the old file stays in use and err says why. Returns 0 or -1. */
int accesslog_reopen(struct accesslog *log, char *err, size_t errlen);
/* Writes out what is buffered (call when the loop is about to wait). */
void accesslog_flush(struct accesslog *log);
void accesslog_close(struct accesslog *log);

#endif
