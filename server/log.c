/* log.c — start-up and error messages on stderr, one line each. Once log_nonblocking() has
 * run, they go through a logsink: a blocked stderr drops messages instead of stalling the loop. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "logsink.h"

#define LOG_EXIT_WAIT_MS 500 /* at exit, how long stderr may take what is still buffered */

static struct logsink err_sink;
static int err_sink_on;
/* Workers (threads) log too: one line is queued and flushed at a time. */
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;

/* Queues one whole line (or counts it dropped when it does not fit). */
static void queue(const char *line, size_t n)
{
	size_t room;
	char *p = logsink_space(&err_sink, &room);

	if (p && n <= room)
		memcpy(p, line, n);
	if (p)
		logsink_commit(&err_sink, n);
}

static int flush_locked(void)
{
	struct logsink_news news;
	char line[128];
	int fd;

	if (!err_sink_on)
		return -1;
	fd = logsink_flush(&err_sink, &news);
	if (news.dropped > 0) {
		int n = snprintf(line, sizeof line,
				 "dropcap: warning: %llu messages dropped: standard error was "
				 "blocked\n",
				 news.dropped);
		queue(line, (size_t)n);
		fd = logsink_flush(&err_sink, &news);
	}
	return fd;
}

int log_flush(void)
{
	int fd;

	pthread_mutex_lock(&err_lock);
	fd = flush_locked();
	pthread_mutex_unlock(&err_lock);
	return fd;
}

static void log_vline(const char *prefix, const char *fmt, va_list ap, const char *suffix)
{
	char msg[1024], line[1200];
	int n;

	vsnprintf(msg, sizeof msg, fmt, ap);
	n = snprintf(line, sizeof line, "dropcap: %s%s%s%s\n", prefix, msg, suffix ? ": " : "",
		     suffix ? suffix : "");
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line) { /* cut, but still one line */
		n = (int)sizeof line - 1;
		line[n - 1] = '\n';
	}
	pthread_mutex_lock(&err_lock);
	if (!err_sink_on) {
		fputs(line, stderr);
	} else {
		queue(line, (size_t)n);
		(void)flush_locked();
	}
	pthread_mutex_unlock(&err_lock);
}

int log_nonblocking(char *err, size_t errlen)
{
	logsink_init(&err_sink);
	if (logsink_adopt(&err_sink, STDERR_FILENO, 0, err, errlen) < 0)
		return -1;
	err_sink_on = 1;
	return 0;
}

void log_close(void)
{
	pthread_mutex_lock(&err_lock);
	if (err_sink_on)
		(void)logsink_close(&err_sink, LOG_EXIT_WAIT_MS);
	err_sink_on = 0;
	pthread_mutex_unlock(&err_lock);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline("", fmt, ap, NULL);
	va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline("warning: ", fmt, ap, NULL);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vline("warning: ", fmt, ap, strerror(saved));
	va_end(ap);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline("", fmt, ap, NULL);
	va_end(ap);
	log_close();
	exit(1);
}

int log_errbuf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}
