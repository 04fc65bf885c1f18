/* log.h — start-up and error messages on stderr. */
#ifndef DROPCAP_LOG_H
#define DROPCAP_LOG_H

#include <stddef.h>

/* "dropcap: MESSAGE\n" */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "dropcap: warning: MESSAGE\n" */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* as log_warnx, with ": strerror(errno)" appended */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "dropcap: MESSAGE\n", then exit(1) */
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Writes a message into a caller's error buffer (for helpers that return an error rather
 * than log it); returns -1, so that "return log_errbuf(...)" fails the call. */
int log_errbuf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
