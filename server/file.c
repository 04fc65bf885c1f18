/* file.c — files beneath the root (the kernel enforces it), and the HTTP validators. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "range.h"

static enum http_status open_status(int e)
{
	switch (e) {
	case EACCES:
	case EPERM: return HTTP_FORBIDDEN;
	case EMFILE:
	case ENFILE:
	case ENOMEM: return HTTP_SERVICE_UNAVAILABLE;
	case ENOENT:
	case ENOTDIR:
	case ELOOP:
	case EXDEV: /* a symlink that leads out of the root */
	case ENAMETOOLONG:
	case ENXIO:
	case ENODEV: return HTTP_NOT_FOUND;
	default: return HTTP_INTERNAL_ERROR;
	}
}

/* The context of one resolution. */
struct resolve {
	struct fcache *fc;
	double now;
	int root_fd;
};

static enum http_status fail(const struct resolve *r, struct file_plan *p, enum http_status st)
{
	fcache_release(r->fc, &p->file);
	p->status = st;
	return st;
}

/* Opens path; a directory becomes its index.html (path is extended). */
static enum http_status open_file(const struct resolve *r, char *path, size_t *len,
				  const struct uri_path *up, struct file_plan *p, struct stat *st)
{
	static const char index_name[] = "index.html";

	if (fcache_open(r->fc, r->root_fd, path, r->now, st, &p->file) < 0)
		return fail(r, p, open_status(errno));
	if (S_ISDIR(st->st_mode)) {
		if (!up->trailing_slash) { /* no file by that name: rules.c redirects */
			p->directory = 1;
			return fail(r, p, HTTP_NOT_FOUND);
		}
		fcache_release(r->fc, &p->file);
		if (*len + sizeof index_name + 5 > FILE_PATH_MAX)
			return fail(r, p, HTTP_NOT_FOUND);
		if (*len > 0)
			path[(*len)++] = '/';
		memcpy(path + *len, index_name, sizeof index_name);
		*len += sizeof index_name - 1;
		if (fcache_open(r->fc, r->root_fd, path, r->now, st, &p->file) < 0)
			return fail(r, p, errno == ENOENT ? HTTP_FORBIDDEN : open_status(errno));
	} else if (up->trailing_slash) {
		return fail(r, p, HTTP_NOT_FOUND); /* "/file.txt/" names no directory */
	}
	if (!S_ISREG(st->st_mode))
		return fail(r, p, HTTP_NOT_FOUND);
	return HTTP_OK;
}

/* The file name suffix of each coding's variant (FILE.br, FILE.zst, FILE.gz). */
static const char *const variant_suffix[HTTP_CODING_IDENTITY] = {
    [HTTP_CODING_BR] = ".br", [HTTP_CODING_ZSTD] = ".zst", [HTTP_CODING_GZIP] = ".gz"};

/* Swaps in path's variant for coding c when it exists as a regular file: it is opened as the
 * file itself was (beneath the root, symlinks to dotfiles refused), and cached under its own
 * name. Returns whether it did. */
static int try_variant(const struct resolve *r, char *path, size_t len, enum http_coding c,
		       struct file_plan *p, struct stat *st)
{
	size_t n = strlen(variant_suffix[c]) + 1;
	struct fcache_ref v;
	struct stat vst;
	int ok;

	if (len + n > FILE_PATH_MAX)
		return 0;
	memcpy(path + len, variant_suffix[c], n);
	ok = fcache_open_optional(r->fc, r->root_fd, path, r->now, &vst, &v) == 0;
	path[len] = '\0';
	if (!ok)
		return 0;
	if (!S_ISREG(vst.st_mode)) {
		fcache_release(r->fc, &v);
		return 0;
	}
	fcache_release(r->fc, &p->file);
	p->file = v;
	p->coding = c;
	*st = vst;
	return 1;
}

/* The best acceptable variant that exists (RFC 9110 12.5.3), else the file itself: at most
 * one open per coding, so the work per request stays bounded. */
static void choose_variant(const struct resolve *r, const struct http_request *req, char *path,
			   size_t len, struct file_plan *p, struct stat *st)
{
	unsigned avail = (1u << HTTP_CODING_IDENTITY) - 1;
	struct http_accept a;
	enum http_coding c;

	http_accept_encoding(&req->accept_encoding, &a);
	while ((c = http_coding_choose(&a, avail)) != HTTP_CODING_IDENTITY) {
		if (try_variant(r, path, len, c, p, st))
			return;
		avail &= ~(1u << c);
	}
}

/* The modification time that Last-Modified states and the date preconditions compare: never
 * later than now (RFC 9110 8.8.2.1: a future mtime MUST be replaced by the message's date). */
static time_t modified_time(const struct stat *st, double now)
{
	return st->st_mtim.tv_sec > (time_t)now ? (time_t)now : st->st_mtim.tv_sec;
}

/* v in lower-case hex, without leading zeros, then sep; returns the end. */
static char *put_hex(char *p, unsigned long long v, char sep)
{
	char digits[16];
	size_t n = 0;

	do {
		digits[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	while (n > 0)
		*p++ = digits[--n];
	*p++ = sep;
	return p;
}

/* The ETag is the served file's own (mtime, size); a variant's also names its coding, so no
 * two representations of a path share a tag even when their files' stat agree. Formatted by
 * hand: snprintf took a quarter of a plain request's user-space instructions. At most
 * 1 + 3 * 17 + a coding name (4) + 2 bytes: etag holds 64. */
static void validators(struct file_plan *p, const struct stat *st, time_t lm)
{
	const char *coding = http_coding_name(p->coding);
	char *e = p->etag;

	*e++ = '"';
	e = put_hex(e, (unsigned long long)st->st_mtim.tv_sec, '.');
	e = put_hex(e, (unsigned long long)st->st_mtim.tv_nsec, '-');
	e = put_hex(e, (unsigned long long)st->st_size, coding ? '-' : '"');
	if (coding) {
		size_t n = strlen(coding);
		memcpy(e, coding, n);
		e += n;
		*e++ = '"';
	}
	*e = '\0';
	httpdate_format(lm, p->last_modified);
}

/* A valid HTTP-date in v (a list of dates or anything else is not, RFC 9110 13.1.3-4). */
static int field_date(struct http_slice v, time_t *t)
{
	return v.ptr != NULL && httpdate_parse(v.ptr, v.len, t) == 0;
}

/*
 * The preconditions of RFC 9110 13.2.2, in its order, for GET and HEAD (the only methods
 * served): If-Match (strong) else If-Unmodified-Since give 412; then If-None-Match (weak)
 * else If-Modified-Since give 304. HTTP_OK when the request proceeds.
 */
static enum http_status preconditions(const struct http_request *req, const struct file_plan *p,
				      time_t lm)
{
	size_t n = strlen(p->etag);
	time_t t;

	if (req->if_match.n > 0) {
		if (!http_etag_match(&req->if_match, p->etag, n, HTTP_ETAG_STRONG))
			return HTTP_PRECONDITION_FAILED;
	} else if (field_date(req->if_unmodified_since, &t) && lm > t) {
		return HTTP_PRECONDITION_FAILED;
	}
	if (req->if_none_match.n > 0)
		return http_etag_match(&req->if_none_match, p->etag, n, HTTP_ETAG_WEAK)
			   ? HTTP_NOT_MODIFIED
			   : HTTP_OK;
	if (field_date(req->if_modified_since, &t) && lm <= t)
		return HTTP_NOT_MODIFIED;
	return HTTP_OK;
}

/* If-Range (RFC 9110 13.1.5): a strong entity-tag match, or the exact Last-Modified date
 * (as nginx and h2o compare it). Anything else, a weak tag included, is false. An entity-tag
 * starts with '"' or "W/" ("Wed, ..." is a date). */
static int if_range_holds(const struct http_request *req, const struct file_plan *p, time_t lm)
{
	struct http_slice v = req->if_range;
	time_t t;

	if (!v.ptr)
		return 1;
	if ((v.len > 0 && v.ptr[0] == '"') || (v.len > 1 && v.ptr[0] == 'W' && v.ptr[1] == '/'))
		return v.len == strlen(p->etag) && memcmp(v.ptr, p->etag, v.len) == 0;
	return field_date(v, &t) && t == lm;
}

/* Range (RFC 9110 14.2) is defined for GET only: a HEAD gets the 200 head. */
static enum http_status apply_range(const struct resolve *r, const struct http_request *req,
				    struct file_plan *p, time_t lm)
{
	uint64_t first, last;

	p->offset = 0;
	p->length = p->size;
	if (!req->range.ptr || req->method != HTTP_METHOD_GET || !if_range_holds(req, p, lm))
		return p->status = HTTP_OK;
	switch (range_parse(req->range.ptr, req->range.len, p->size, &first, &last)) {
	case RANGE_OK:
		p->offset = first;
		p->length = last - first + 1;
		return p->status = HTTP_PARTIAL;
	case RANGE_UNSATISFIABLE: return fail(r, p, HTTP_RANGE_NOT_SATISFIABLE);
	case RANGE_NONE: break;
	}
	return p->status = HTTP_OK;
}

enum http_status file_resolve(struct fcache *fc, double now, int root_fd, char *path,
			      const struct uri_path *up, const struct http_request *req,
			      struct file_plan *p)
{
	const struct resolve r = {fc, now, root_fd};
	struct stat st;
	size_t len = up->len;
	enum http_status s;

	memset(p, 0, sizeof *p);
	p->file.fd = -1;
	p->coding = HTTP_CODING_IDENTITY;
	if ((s = open_file(&r, path, &len, up, p, &st)) != HTTP_OK)
		return s;
	p->type = mime_lookup(path, len);
	p->vary = p->type->compressible;
	if (p->vary)
		choose_variant(&r, req, path, len, p, &st);
	p->size = (uint64_t)st.st_size;
	time_t lm = modified_time(&st, now);
	validators(p, &st, lm);
	if ((s = preconditions(req, p, lm)) != HTTP_OK)
		return fail(&r, p, s);
	return apply_range(&r, req, p, lm);
}
