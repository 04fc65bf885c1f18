/* logsink.h — lines for a descriptor (the access log, stderr) written without ever blocking the
 * event loop: a bounded buffer, written when the descriptor takes it; a line that does not fit
 * is dropped and counted, and the count is handed back once the buffer has drained. */
#ifndef DROPCAP_LOGSINK_H
#define DROPCAP_LOGSINK_H

#include <stddef.h>

#define LOGSINK_BUFFER 65536

enum logsink_kind {
	LOGSINK_FILE,	/* a regular file: write(2), which does not wait for a reader */
	LOGSINK_STREAM, /* a pipe, FIFO or terminal: a description of our own, O_NONBLOCK */
	LOGSINK_SOCKET, /* send(2) with MSG_DONTWAIT: the description is shared, left as it is */
};

struct logsink {
	int fd;		/* the descriptor written; -1: none (lines are discarded) */
	int own;	/* fd is ours to close */
	int restore_fl; /* >= 0: file status flags to put back on fd when closing */
	enum logsink_kind kind;
	int failing;		    /* errno of a write error still in effect, else 0 */
	unsigned long long dropped; /* lines dropped since the last report */
	size_t len;		    /* bytes waiting in buf */
	char buf[LOGSINK_BUFFER];
};

/* An empty sink that writes nowhere. */
void logsink_init(struct logsink *s);

/* Makes fd the sink's output, keeping what is buffered (a reopened log gets the lines still
 * waiting). own: close fd when done with it (the previous fd is closed if it was owned).
 * A pipe, FIFO or terminal inherited from the parent (own = 0) is reopened through
 * /proc/self/fd/N as a description of our own with O_NONBLOCK, so the parent's is left
 * blocking; this needs the identity dropcap started with (call before the privilege drop).
 * Returns 0, or -1 with err. Never blocks. */
int logsink_adopt(struct logsink *s, int fd, int own, char *err, size_t errlen);

/* Room for the next line: up to *room bytes at the returned pointer (NULL: no output). */
char *logsink_space(struct logsink *s, size_t *room);
/* The line just formatted at logsink_space is n bytes; n > room means it did not fit: it is
 * dropped and counted. */
void logsink_commit(struct logsink *s, size_t n);

struct logsink_news {
	unsigned long long dropped; /* > 0: the buffer drained after this many lines were lost */
	int failed;		    /* an errno: writing started failing (lines are dropped) */
};

/* Writes what is buffered, without blocking. Returns the descriptor to wait on for
 * writability when output is still waiting because it would block, else -1. news says what
 * the caller should report (once). */
int logsink_flush(struct logsink *s, struct logsink_news *news);

/* At exit: writes what is buffered, waiting at most wait_ms for the descriptor, then closes
 * it if owned. Returns the lines that were lost (dropped and unreported, or left over). */
unsigned long long logsink_close(struct logsink *s, int wait_ms);

#endif
