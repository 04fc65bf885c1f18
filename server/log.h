/* log.h — start-up and error messages on stderr; after start-up, never blocking. */
#ifndef DROPCAP_LOG_H
#define DROPCAP_LOG_H

#include <stddef.h>

/* "dropcap: MESSAGE\n" */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "dropcap: warning: MESSAGE\n" */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* as log_warnx, with ": strerror(errno)" appended */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "dropcap: MESSAGE\n", then exit(1) (queued messages get a bounded time first) */
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* From now on, messages never block: they are queued and written to stderr without blocking
 * (through a description of our own when stderr is a pipe or terminal: call before the
 * privilege drop); a message that does not fit is dropped and counted, and the count is
 * reported once stderr takes output again. Returns 0, or -1 with err (messages then stay
 * blocking writes). */
int log_nonblocking(char *err, size_t errlen);
/* Writes what is queued, without blocking. Returns the descriptor to wait on for writability
 * while messages still wait, else -1. */
int log_flush(void);
/* At exit: gives stderr a bounded time (half a second) for what is still queued. */
void log_close(void);

/* Writes a message into a caller's error buffer (for helpers that return an error rather
 * than log it); returns -1, so that "return log_errbuf(...)" fails the call. */
int log_errbuf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
