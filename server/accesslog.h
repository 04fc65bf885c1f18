/* accesslog.h — one line per request (combined log format, or JSON), queued in a bounded buffer and
 * written without blocking (a logsink), flushed when the loop is about to wait. */
#ifndef DROPCAP_ACCESSLOG_H
#define DROPCAP_ACCESSLOG_H

#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "config.h"
#include "http_parse.h"
#include "logsink.h"

/* Shared by the workers under lock: one buffer, so that what reaches the output is whole lines in
 * any case (writes to a pipe or a socket such as journald's are not atomic beyond PIPE_BUF, and a
 * partial write of one worker's buffer followed by another's would cut a line). The lock covers
 * formatting one line into the buffer, or one non-blocking write. */
struct accesslog {
	pthread_mutex_t lock;
	const char *path; /* the file; NULL: stdout or none */
	const char *user; /* who opens it (for the fix in messages); NULL: say the uid */
	int on;		  /* 0: --access-log off */
	enum config_log_format format;
	time_t stamp_at;
	char stamp[40];	     /* "10/Oct/2000:13:55:36 -0700" (JSON: ISO 8601) for stamp_at */
	struct logsink sink; /* sink.fd: the descriptor written, -1 until opened */
};

struct accesslog_entry {
	const struct sockaddr_storage *peer;
	struct http_slice site;		/* the site's first name; ptr NULL: none ("-", JSON null) */
	const struct http_request *req; /* NULL when no request line was parsed */
	struct http_slice raw_line;	/* else the start of what was received, or empty */
	enum http_status status;
	uint64_t body_bytes;
	time_t now;
};

/* A site's first name, as the log records it (its entry's site); none for the unnamed site. */
struct http_slice accesslog_site_name(const struct config_site *site);

/* Before the privilege drop: lines in format; path NULL means stdout, which is taken over now (a
 * pipe or terminal needs the starting identity to get a non-blocking description of its own); "off"
 * means no log; a file is only remembered: accesslog_open opens it. user names the run user
 * in messages. Returns 0, or -1 with err. */
int accesslog_init(struct accesslog *log, const char *path, enum config_log_format format,
		   const char *user, char *err, size_t errlen);
/* After the privilege drop, as the user dropcap serves as: opens the file for appending,
 * creating it 0640. Refuses a symbolic link (O_NOFOLLOW) and anything but a regular file; when
 * the user may not create or write it, err names the fix (chown). Nothing to do for stdout or
 * off. Returns 0, or -1 with err. */
int accesslog_open(struct accesslog *log, char *err, size_t errlen);
/* Queues one line; when the buffer is full the line is dropped and counted. Never blocks. */
void accesslog_write(struct accesslog *log, const struct accesslog_entry *e);
/* Opens the file again (after logrotate moved it away): SIGUSR1, as the run user, with the
 * checks of accesslog_open. Lines still queued go to the new file. With stdout or no log, does
 * nothing. On failure the old file stays in use and err says why. Returns 0 or -1. */
int accesslog_reopen(struct accesslog *log, char *err, size_t errlen);
/* Writes out what is queued without blocking (call when the loop is about to wait, and when
 * the descriptor it returns becomes writable). Reports dropped lines once the output drains.
 * Returns the descriptor to wait on while lines still wait, else -1. */
int accesslog_flush(struct accesslog *log);
/* At exit: a bounded wait for what is queued, then closes; reports lines lost. */
void accesslog_close(struct accesslog *log);

#endif
