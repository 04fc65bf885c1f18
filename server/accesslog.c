/* accesslog.c — the combined log format with the site (last, or first), or one JSON object
 * per line, with client-supplied text escaped, queued in a logsink
 * so that a blocked log output drops lines instead of stalling every client. The file is opened
 * as the user dropcap serves as, never as root: a log directory that user controls must not lead
 * a root process to a file it chose (a symlink to a root-owned shell profile). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accesslog.h"
#include "jsonesc.h"
#include "log.h"

#define ACCESSLOG_EXIT_WAIT_MS 500 /* at exit, how long the output may take what is queued */
/* JSON: the most escaped bytes one string may take, so that a line (five such strings at most:
 * site, method, target or request, referer, user agent) fits in an empty LOGSINK_BUFFER; a longer
 * one is cut and "truncated" says so. */
#define ACCESSLOG_JSON_FIELD_MAX 4096
_Static_assert(5 * ACCESSLOG_JSON_FIELD_MAX + 512 < LOGSINK_BUFFER, "a JSON line fits the buffer");

int accesslog_init(struct accesslog *log, const char *path, enum config_log_format format,
		   const char *user, char *err, size_t errlen)
{
	memset(log, 0, sizeof *log);
	pthread_mutex_init(&log->lock, NULL);
	logsink_init(&log->sink);
	log->format = format;
	log->stamp_at = -1;
	log->user = user;
	log->on = !(path && strcmp(path, "off") == 0);
	log->path = log->on ? path : NULL;
	if (!log->on || path)
		return 0;
	if (logsink_adopt(&log->sink, STDOUT_FILENO, 0, err, errlen) < 0) {
		char why[256];
		snprintf(why, sizeof why, "%s", err);
		return log_errbuf(err, errlen, "cannot write the access log to stdout: %s", why);
	}
	return 0;
}

/* Why the file could not be opened, with the fix when there is one. */
static int open_error(const struct accesslog *log, int e, char *err, size_t errlen)
{
	char dir[PATH_MAX], who[64];
	struct stat st;

	if (e == ELOOP && lstat(log->path, &st) == 0 && S_ISLNK(st.st_mode))
		return log_errbuf(err, errlen,
				  "access log %s is a symbolic link: refusing to follow it (name "
				  "the file itself, in a directory only its user can write)",
				  log->path);
	if (e == ENXIO)
		return log_errbuf(err, errlen, "access log %s is not a regular file", log->path);
	if (e != EACCES && e != EPERM)
		return log_errbuf(err, errlen, "cannot open access log %s: %s", log->path,
				  strerror(e));
	snprintf(dir, sizeof dir, "%s", log->path);
	snprintf(who, sizeof who, "%lu", (unsigned long)getuid());
	return log_errbuf(err, errlen,
			  "cannot open access log %s as %s%s: %s (give that user the directory: "
			  "chown %s %s)",
			  log->path, log->user ? log->user : "uid ", log->user ? "" : who,
			  strerror(e), log->user ? log->user : who, dirname(dir));
}

/* The file, as the current user; O_NONBLOCK only keeps a FIFO from blocking the open (it is
 * refused just after: it is not a regular file). Returns the descriptor, or -1 with err. */
static int open_file(const struct accesslog *log, char *err, size_t errlen)
{
	int flags = O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	int fd = open(log->path, flags, 0640);
	struct stat st;

	if (fd < 0)
		return open_error(log, errno, err, errlen);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return log_errbuf(err, errlen, "access log %s is not a regular file", log->path);
	}
	return fd;
}

int accesslog_open(struct accesslog *log, char *err, size_t errlen)
{
	int fd;

	if (!log->path)
		return 0;
	if ((fd = open_file(log, err, errlen)) < 0)
		return -1;
	return logsink_adopt(&log->sink, fd, 1, err, errlen);
}

int accesslog_reopen(struct accesslog *log, char *err, size_t errlen)
{
	int r;

	if (!log->path || log->sink.fd < 0)
		return 0;
	(void)accesslog_flush(log); /* what the old file can take now goes there */
	pthread_mutex_lock(&log->lock);
	r = accesslog_open(log, err, errlen);
	pthread_mutex_unlock(&log->lock);
	return r;
}

/* A bounded output: what does not fit sets over, and the line is dropped. */
struct out {
	char *p;
	size_t left;
	int over;
};

static void put_mem(struct out *o, const char *s, size_t n)
{
	if (n > o->left) {
		o->over = 1;
		o->left = 0;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
	o->left -= n;
}

static void put_str(struct out *o, const char *s)
{
	put_mem(o, s, strlen(s));
}

/* Client text between quotes: '"', '\\', control and non-ASCII bytes become \xHH. */
static void put_escaped(struct out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	size_t i = 0;

	while (i < n && !o->over) {
		size_t run = i;
		while (run < n && (unsigned char)s[run] >= 0x20 && (unsigned char)s[run] < 0x7f &&
		       s[run] != '"' && s[run] != '\\')
			run++;
		put_mem(o, s + i, run - i); /* plain text in one piece */
		if (run == n)
			return;
		unsigned char c = (unsigned char)s[run];
		char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
		put_mem(o, esc, 4);
		i = run + 1;
	}
}

static void put_quoted(struct out *o, struct http_slice s)
{
	put_str(o, "\"");
	if (s.ptr)
		put_escaped(o, s.ptr, s.len);
	else
		put_str(o, "-");
	put_str(o, "\"");
}

static void put_peer(struct out *o, const struct sockaddr_storage *ss)
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
	put_str(o, host);
}

/* The client's port: the requests of one connection share it (HTTP/2 streams, keep-alive). */
static unsigned peer_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

static const char *stamp(struct accesslog *log, time_t now)
{
	struct tm tm;

	if (now == log->stamp_at)
		return log->stamp;
	localtime_r(&now, &tm);
	if (log->format != CONFIG_LOG_JSON) {
		strftime(log->stamp, sizeof log->stamp, "%d/%b/%Y:%H:%M:%S %z", &tm);
	} else {
		/* ISO 8601 / RFC 3339 wants the offset as +hh:mm, strftime's %z gives +hhmm */
		size_t n = strftime(log->stamp, sizeof log->stamp, "%Y-%m-%dT%H:%M:%S%z", &tm);
		if (n >= 5) {
			memmove(log->stamp + n - 1, log->stamp + n - 2, 3);
			log->stamp[n - 2] = ':';
		}
	}
	log->stamp_at = now;
	return log->stamp;
}

static void put_request(struct out *o, const struct accesslog_entry *e)
{
	const struct http_request *r = e->req;
	char num[32];

	if (r && r->target.ptr) {
		put_escaped(o, r->method_name.ptr, r->method_name.len);
		put_str(o, " ");
		put_escaped(o, r->target.ptr, r->target.len);
		if (r->http2)
			snprintf(num, sizeof num, " HTTP/2.0");
		else
			snprintf(num, sizeof num, " HTTP/1.%d", r->minor_version);
		put_str(o, num);
	} else if (e->raw_line.len > 0) {
		put_escaped(o, e->raw_line.ptr, e->raw_line.len);
	} else {
		put_str(o, "-");
	}
}

struct http_slice accesslog_site_name(const struct config_site *site)
{
	struct http_slice n = {NULL, 0};

	if (site && site->names) {
		n.ptr = site->names;
		n.len = strcspn(site->names, ",");
	}
	return n;
}

/* site_combined: the site's name first, as Apache's vhost_common puts %v (no space or
 * quote in it, so that the line still splits on spaces). */
static void put_site(struct out *o, struct http_slice site)
{
	if (!site.ptr || !site.len) {
		put_str(o, "- ");
		return;
	}
	for (size_t i = 0; i < site.len; i++)
		if (site.ptr[i] == ' ')
			put_str(o, "\\x20");
		else
			put_escaped(o, site.ptr + i, 1);
	put_str(o, " ");
}

static void write_combined(struct accesslog *log, struct out *o, const struct accesslog_entry *e)
{
	const struct http_request *r = e->req;
	char num[48];

	if (log->format == CONFIG_LOG_SITE_COMBINED)
		put_site(o, e->site);
	put_peer(o, e->peer);
	put_str(o, " - - [");
	put_str(o, stamp(log, e->now));
	put_str(o, "] \"");
	put_request(o, e);
	snprintf(num, sizeof num, "\" %d ", (int)e->status);
	put_str(o, num);
	if (e->body_bytes)
		snprintf(num, sizeof num, "%llu ", (unsigned long long)e->body_bytes);
	put_str(o, e->body_bytes ? num : "- ");
	put_quoted(o, r ? r->referer : (struct http_slice){0});
	put_str(o, " ");
	put_quoted(o, r ? r->user_agent : (struct http_slice){0});
	if (log->format == CONFIG_LOG_COMBINED) {
		/* the site last, quoted, as nginx configurations append "$host": parsers that
		 * read the standard fields as a prefix (GoAccess COMBINED) keep working */
		put_str(o, " ");
		put_quoted(o, e->site.len ? e->site : (struct http_slice){0});
	}
	put_str(o, "\n");
}

/* One JSON member: "key":"escaped text", or "key":null when there is no text. */
static void put_json_str(struct out *o, const char *key, const char *s, size_t n, int *cut)
{
	size_t used, room, w;

	put_str(o, key);
	if (!s) {
		put_str(o, "null");
		return;
	}
	put_str(o, "\"");
	room = o->left < ACCESSLOG_JSON_FIELD_MAX ? o->left : ACCESSLOG_JSON_FIELD_MAX;
	w = jsonesc_string(o->p, room, s, n, &used);
	o->p += w;
	o->left -= w;
	if (used < n)
		*cut = 1;
	put_str(o, "\"");
}

static void put_json_slice(struct out *o, const char *key, struct http_slice s, int *cut)
{
	put_json_str(o, key, s.ptr, s.len, cut);
}

/* The request members: parsed, or the raw start of what was received. */
static void put_json_request(struct out *o, const struct accesslog_entry *e, int *cut)
{
	const struct http_request *r = e->req;
	static const char *const proto[] = {"HTTP/1.0", "HTTP/1.1", "HTTP/2.0"};
	int parsed = r && r->target.ptr;

	put_json_slice(o, ",\"method\":", parsed ? r->method_name : (struct http_slice){0}, cut);
	put_json_slice(o, ",\"target\":", parsed ? r->target : (struct http_slice){0}, cut);
	put_json_str(o,
		     ",\"protocol\":", parsed ? proto[r->http2 ? 2 : r->minor_version == 1] : NULL,
		     parsed ? 8 : 0, cut);
	put_json_slice(o, ",\"request\":",
		       !parsed && e->raw_line.len ? e->raw_line : (struct http_slice){0}, cut);
}

static void write_json(struct accesslog *log, struct out *o, const struct accesslog_entry *e)
{
	const struct http_request *r = e->req;
	char num[96];
	int cut = 0;

	put_str(o, "{\"time\":\"");
	put_str(o, stamp(log, e->now));
	snprintf(num, sizeof num, "\",\"epoch\":%lld,\"remote_addr\":\"", (long long)e->now);
	put_str(o, num);
	put_peer(o, e->peer);
	put_str(o, "\"");
	put_json_str(o, ",\"site\":", e->site.ptr, e->site.len, &cut);
	put_json_request(o, e, &cut);
	snprintf(num, sizeof num, ",\"status\":%d,\"body_bytes\":%llu", (int)e->status,
		 (unsigned long long)e->body_bytes);
	put_str(o, num);
	put_json_slice(o, ",\"referer\":", r ? r->referer : (struct http_slice){0}, &cut);
	put_json_slice(o, ",\"user_agent\":", r ? r->user_agent : (struct http_slice){0}, &cut);
	snprintf(num, sizeof num, ",\"remote_port\":%u", peer_port(e->peer));
	put_str(o, num);
	put_str(o, cut ? ",\"truncated\":true}\n" : ",\"truncated\":false}\n");
}

void accesslog_write(struct accesslog *log, const struct accesslog_entry *e)
{
	size_t room;
	char *start;
	struct out o;

	pthread_mutex_lock(&log->lock);
	if ((start = logsink_space(&log->sink, &room))) {
		o = (struct out){start, room, 0};
		if (log->format == CONFIG_LOG_JSON)
			write_json(log, &o, e);
		else
			write_combined(log, &o, e);
		logsink_commit(&log->sink, o.over ? room + 1 : (size_t)(o.p - start));
	}
	pthread_mutex_unlock(&log->lock);
}

static void report(const struct logsink_news *news)
{
	if (news->failed)
		log_warnx("access log: %s: dropping lines until it can be written again",
			  strerror(news->failed));
	if (news->dropped)
		log_warnx("%llu access log lines dropped: the log output was blocked or failing",
			  news->dropped);
}

int accesslog_flush(struct accesslog *log)
{
	struct logsink_news news = {0, 0};
	int fd = -1;

	pthread_mutex_lock(&log->lock);
	if (log->sink.len > 0 || log->sink.dropped > 0)
		fd = logsink_flush(&log->sink, &news);
	pthread_mutex_unlock(&log->lock);
	report(&news); /* stderr has a lock of its own */
	return fd;
}

void accesslog_close(struct accesslog *log)
{
	unsigned long long lost;

	pthread_mutex_lock(&log->lock);
	lost = logsink_close(&log->sink, ACCESSLOG_EXIT_WAIT_MS);
	pthread_mutex_unlock(&log->lock);

	if (lost)
		log_warnx("%llu access log lines dropped: the log output was blocked at exit",
			  lost);
}
