/* accesslog.c — the combined log format, with client-supplied text escaped. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "accesslog.h"

#define ACCESSLOG_BUFFER 65536

static FILE *open_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	FILE *f = fd >= 0 ? fdopen(fd, "a") : NULL;

	if (!f) {
		snprintf(err, errlen, "cannot open access log %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	setvbuf(f, NULL, _IOFBF, ACCESSLOG_BUFFER);
	return f;
}

int accesslog_open(struct accesslog *log, const char *path, char *err, size_t errlen)
{
	memset(log, 0, sizeof *log);
	log->stamp_at = -1;
	log->path = path;
	if (path && strcmp(path, "off") == 0) {
		log->path = NULL;
		return 0; /* no access log */
	}
	if (!path) {
		log->out = stdout;
		setvbuf(stdout, NULL, _IOFBF, ACCESSLOG_BUFFER);
		return 0;
	}
	log->out = open_file(path, err, errlen);
	return log->out ? 0 : -1;
}

int accesslog_reopen(struct accesslog *log, char *err, size_t errlen)
{
	FILE *f;

	if (!log->path || !log->out)
		return 0;
	if (!(f = open_file(log->path, err, errlen)))
		return -1;
	fclose(log->out); /* flushes what was buffered into the old file */
	log->out = f;
	log->dirty = 0;
	return 0;
}

/* Client text between quotes: '"', '\\', control and non-ASCII bytes become \xHH. */
static void put_escaped(FILE *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
			fwrite(esc, 1, 4, out);
		} else {
			putc(c, out);
		}
	}
}

static void put_quoted(FILE *out, struct http_slice s)
{
	putc('"', out);
	if (s.ptr)
		put_escaped(out, s.ptr, s.len);
	else
		putc('-', out);
	putc('"', out);
}

static void put_peer(FILE *out, const struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN] = "-";

	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, host, sizeof host);
	} else if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], host, sizeof host);
		else
			inet_ntop(AF_INET6, a, host, sizeof host);
	}
	fputs(host, out);
}

static const char *stamp(struct accesslog *log, time_t now)
{
	struct tm tm;

	if (now != log->stamp_at) {
		localtime_r(&now, &tm);
		strftime(log->stamp, sizeof log->stamp, "%d/%b/%Y:%H:%M:%S %z", &tm);
		log->stamp_at = now;
	}
	return log->stamp;
}

void accesslog_write(struct accesslog *log, const struct accesslog_entry *e)
{
	const struct http_request *r = e->req;
	FILE *out = log->out;

	if (!out)
		return;
	put_peer(out, e->peer);
	fprintf(out, " - - [%s] \"", stamp(log, e->now));
	if (r && r->target.ptr) {
		put_escaped(out, r->method_name.ptr, r->method_name.len);
		putc(' ', out);
		put_escaped(out, r->target.ptr, r->target.len);
		fprintf(out, " HTTP/1.%d", r->minor_version);
	} else if (e->raw_line.len > 0) {
		put_escaped(out, e->raw_line.ptr, e->raw_line.len);
	} else {
		putc('-', out);
	}
	fprintf(out, "\" %d ", (int)e->status);
	if (e->body_bytes)
		fprintf(out, "%llu ", (unsigned long long)e->body_bytes);
	else
		fputs("- ", out);
	put_quoted(out, r ? r->referer : (struct http_slice){0});
	putc(' ', out);
	put_quoted(out, r ? r->user_agent : (struct http_slice){0});
	putc('\n', out);
	log->dirty = 1;
}

void accesslog_flush(struct accesslog *log)
{
	if (!log->dirty || !log->out)
		return;
	fflush(log->out);
	log->dirty = 0;
}

void accesslog_close(struct accesslog *log)
{
	if (!log->out)
		return;
	fflush(log->out);
	if (log->out != stdout)
		fclose(log->out);
	log->out = NULL;
}
