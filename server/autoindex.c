/* autoindex.c — a directory's listing as HTML, from getdents64 into fixed buffers. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autoindex.h"
#include "file.h"

#define ARENA_MAX 49152			     /* the names read (each with its NUL) */
#define READ_MAX (4 * AUTOINDEX_ENTRIES_MAX) /* dirents looked at, hidden ones included */
#define TAIL_ROOM 96			     /* kept free for the note and the closing tags */

struct listing {
	char arena[ARENA_MAX];
	size_t used;
	uint16_t at[AUTOINDEX_ENTRIES_MAX]; /* offsets of the names in arena */
	size_t n;
	int truncated;
	int has_index;
};

struct page {
	char *p;
	char *end;
	int full;
};

static void put(struct page *o, const char *s, size_t n)
{
	if (o->full || (size_t)(o->end - o->p) < n) {
		o->full = 1;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
}

static void puts_(struct page *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Text and attribute values: the five characters HTML gives a meaning to. */
static void put_html(struct page *o, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': puts_(o, "&amp;"); break;
		case '<': puts_(o, "&lt;"); break;
		case '>': puts_(o, "&gt;"); break;
		case '"': puts_(o, "&quot;"); break;
		case '\'': puts_(o, "&#39;"); break;
		default: put(o, s, 1);
		}
	}
}

/* An href: unreserved characters and '/' as they are, every other byte percent-encoded (so
 * '"', '<', '?', '#', '%', ':' and spaces cannot end or redirect it). */
static void put_href(struct page *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~/", c)) {
			put(o, s, 1);
		} else {
			char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
			put(o, esc, 3);
		}
	}
}

/* What a symlink (or an entry of unknown type) leads to, as the server would open it. */
static int entry_kind(struct fcache *fc, double now, int root_fd, const char *dir, const char *name,
		      unsigned char type)
{
	char path[FILE_PATH_MAX];
	struct fcache_ref ref;
	struct stat st;
	int n;

	if (type == DT_DIR || type == DT_REG)
		return type;
	if (type != DT_LNK && type != DT_UNKNOWN)
		return 0; /* FIFOs, sockets, devices: never served */
	n = snprintf(path, sizeof path, "%s%s%s", dir, *dir ? "/" : "", name);
	if (n < 0 || (size_t)n >= sizeof path || fcache_open(fc, root_fd, path, now, &st, &ref) < 0)
		return 0;
	fcache_release(fc, &ref);
	return S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : 0;
}

/* Keeps name (with a '/' for a directory) when there is room; else notes the truncation. */
static void keep(struct listing *l, const char *name, int kind)
{
	size_t len = strlen(name);

	if (l->n == AUTOINDEX_ENTRIES_MAX || l->used + len + 2 > ARENA_MAX) {
		l->truncated = 1;
		return;
	}
	l->at[l->n++] = (uint16_t)l->used;
	memcpy(l->arena + l->used, name, len);
	l->used += len;
	if (kind == DT_DIR)
		l->arena[l->used++] = '/';
	l->arena[l->used++] = '\0';
}

/* Reads the directory's visible entries; returns 0 or -1 with errno. */
static int read_entries(struct fcache *fc, double now, int root_fd, const char *dir, int fd,
			struct listing *l)
{
	char buf[8192];
	size_t seen = 0;
	ssize_t n;

	if (lseek(fd, 0, SEEK_SET) < 0) /* a cached descriptor: another listing moved it */
		return -1;
	while ((n = getdents64(fd, buf, sizeof buf)) > 0) {
		for (ssize_t off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			int kind;
			off += d->d_reclen;
			if (++seen > READ_MAX) {
				l->truncated = 1;
				return 0;
			}
			if (d->d_name[0] == '.')
				continue;
			if (strcmp(d->d_name, "index.html") == 0)
				l->has_index = 1;
			kind = entry_kind(fc, now, root_fd, dir, d->d_name, d->d_type);
			if (kind)
				keep(l, d->d_name, kind);
		}
	}
	return n < 0 ? -1 : 0;
}

static int name_before(const struct listing *l, size_t a, size_t b)
{
	return strcmp(l->arena + l->at[a], l->arena + l->at[b]) < 0;
}

/* Heapsort of the offsets in byte order: bounded time, no allocation (qsort may malloc). */
static void sift(struct listing *l, size_t i, size_t n)
{
	for (size_t c; (c = 2 * i + 1) < n; i = c) {
		if (c + 1 < n && name_before(l, c, c + 1))
			c++;
		if (!name_before(l, i, c))
			return;
		uint16_t t = l->at[i];
		l->at[i] = l->at[c];
		l->at[c] = t;
	}
}

static void sort_entries(struct listing *l)
{
	for (size_t i = l->n / 2; i-- > 0;)
		sift(l, i, l->n);
	for (size_t n = l->n; n-- > 1;) {
		uint16_t t = l->at[0];
		l->at[0] = l->at[n];
		l->at[n] = t;
		sift(l, 0, n);
	}
}

static void render(const struct listing *l, const char *dir, struct page *o)
{
	char *stop = o->end;

	puts_(o, "<!DOCTYPE html>\n<meta charset=\"utf-8\">\n<title>Index of /");
	put_html(o, dir);
	puts_(o, *dir ? "/</title>\n<h1>Index of /" : "</title>\n<h1>Index of /");
	put_html(o, dir);
	puts_(o, *dir ? "/</h1>\n<ul>\n" : "</h1>\n<ul>\n");
	if (*dir)
		puts_(o, "<li><a href=\"../\">../</a>\n");
	o->end = stop - TAIL_ROOM; /* entries stop short of the end: the note still fits */
	for (size_t i = 0; i < l->n && !o->full; i++) {
		char *mark = o->p;
		const char *name = l->arena + l->at[i];
		puts_(o, "<li><a href=\"./");
		put_href(o, name);
		puts_(o, "\">");
		put_html(o, name);
		puts_(o, "</a>\n");
		if (o->full)
			o->p = mark;
	}
	int cut = o->full || l->truncated;
	o->end = stop;
	o->full = 0;
	puts_(o, cut ? "</ul>\n<p>listing truncated</p>\n" : "</ul>\n");
}

long autoindex_page(struct fcache *fc, double now, int root_fd, const char *dir, char *out,
		    size_t cap)
{
	static struct listing l; /* 56 KiB: one listing at a time per process (one loop) */
	struct fcache_ref ref;
	struct stat st;
	struct page o = {out, out + cap, 0};

	if (cap < 1024)
		return -HTTP_INTERNAL_ERROR;
	if (fcache_open(fc, root_fd, dir, now, &st, &ref) < 0)
		return errno == ENOENT ? -HTTP_NOT_FOUND : -HTTP_FORBIDDEN;
	l.used = l.n = 0;
	l.truncated = l.has_index = 0;
	int r = S_ISDIR(st.st_mode) ? read_entries(fc, now, root_fd, dir, ref.fd, &l) : -1;
	fcache_release(fc, &ref);
	if (r < 0 || l.has_index)
		return -HTTP_FORBIDDEN;
	sort_entries(&l);
	render(&l, dir, &o);
	return o.full ? -HTTP_INTERNAL_ERROR : (long)(o.p - out);
}
