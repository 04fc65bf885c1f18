/* rules.c — a request to a response plan: which status, which header fields, which body. */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "autoindex.h"
#include "rules.h"
#include "uri.h"

/* Whether the connection may carry another request: the client wants it, the server is not
 * stopping, and no request body (which is never read) follows the head. */
static int keeps_alive(const struct rules_ctx *ctx, const struct http_request *req)
{
	return req->keep_alive && !ctx->draining && !req->chunked && !req->content_length;
}

static void plan_init(const struct rules_ctx *ctx, const struct http_request *req,
		      enum http_status status, struct rules_plan *p)
{
	p->head = (struct http_response){
	    .status = status,
	    .date = ctx->date,
	    .keep_alive = req && keeps_alive(ctx, req),
	    .http10 = req && req->minor_version == 0,
	};
	p->body = RULES_BODY_NONE;
	p->body_len = 0;
	p->file.fd = -1;
	p->file.entry = NULL;
	p->file_off = 0;
}

static void plan_file(const struct rules_ctx *ctx, const struct http_request *req,
		      struct rules_plan *p);

/* --error-pages: STATUS.html from the site's directory, as a plain GET of it (no conditionals,
 * no range, identity), with the error's status. Returns 0 when it is planned, -1 when the site
 * has none or it cannot be opened (the caller plans the built-in page: no loop). */
static int plan_error_file(const struct rules_ctx *ctx, const struct http_request *req,
			   enum http_status status, struct rules_plan *p)
{
	const char *dir = ctx->site ? ctx->site->error_pages : NULL;
	struct http_request plain = {.method = HTTP_METHOD_GET, .minor_version = 1};
	struct uri_path up = {0};
	int n;

	if (!req || !dir || status == HTTP_MISDIRECTED)
		return -1;
	n = snprintf(ctx->path, FILE_PATH_MAX, "%s%s%d.html", dir + 1, dir[1] ? "/" : "",
		     (int)status);
	if (n < 0 || n >= FILE_PATH_MAX)
		return -1;
	up.len = (size_t)n;
	if (file_resolve(ctx->fc, ctx->now, ctx->root_fd, ctx->path, &up, &plain, &p->fp) !=
	    HTTP_OK) {
		fcache_release(ctx->fc, &p->fp.file);
		return -1;
	}
	plain.method = req->method;
	plan_file(ctx, &plain, p);
	p->head.status = status;
	p->head.etag = NULL; /* the error is about the request, not this page: no validators */
	p->head.last_modified = NULL;
	p->head.accept_ranges = 0;
	p->head.vary = 0;
	p->head.keep_alive = keeps_alive(ctx, req);
	p->head.http10 = req->minor_version == 0;
	return 0;
}

/* An error page; keep: whether the connection may survive this error; size: the file's
 * length for the Content-Range of a 416. A HEAD gets its head only. */
static void plan_page(const struct rules_ctx *ctx, const struct http_request *req,
		      enum http_status status, int keep, uint64_t size, struct rules_plan *p)
{
	size_t len;

	if (plan_error_file(ctx, req, status, p) == 0) {
		p->head.keep_alive = p->head.keep_alive && keep;
		p->head.size = size;
		p->head.allow = status == HTTP_METHOD_NOT_ALLOWED;
		return;
	}
	len = http_error_body(p->page, sizeof p->page, status);
	plan_init(ctx, req, status, p);
	p->head.keep_alive = p->head.keep_alive && keep;
	p->head.content_type = "text/html; charset=utf-8";
	p->head.content_length = len;
	p->head.size = size;
	p->head.allow = status == HTTP_METHOD_NOT_ALLOWED;
	if (req && req->method == HTTP_METHOD_HEAD)
		return;
	p->body = RULES_BODY_BYTES;
	p->body_len = len;
}

/* The file of fp (200, 206 or 304); a HEAD gives the file back at once. */
static void plan_file(const struct rules_ctx *ctx, const struct http_request *req,
		      struct rules_plan *p)
{
	struct file_plan *fp = &p->fp;

	plan_init(ctx, req, fp->status, p);
	p->head.content_type = fp->type ? fp->type->name : NULL;
	p->head.content_encoding = http_coding_name(fp->coding);
	p->head.content_length = fp->length;
	p->head.last_modified = fp->last_modified;
	p->head.etag = fp->etag;
	p->head.range_first = fp->offset;
	p->head.range_last = fp->offset + fp->length - 1;
	p->head.size = fp->size;
	p->head.vary = fp->vary;
	p->head.accept_ranges = 1;
	p->file = fp->file;
	fp->file.fd = -1;
	fp->file.entry = NULL;
	if (req->method == HTTP_METHOD_HEAD)
		fcache_release(ctx->fc, &p->file);
	if (p->file.fd < 0)
		return; /* HEAD, or a 304 */
	p->body = RULES_BODY_FILE;
	p->file_off = fp->offset;
	p->body_len = fp->length;
}

/* A directory named without its trailing slash: 301 to the slash form, from the normalised
 * path (in ctx->path) and the request's query, kept as sent. */
static void plan_redirect(const struct rules_ctx *ctx, const struct http_request *req,
			  const struct uri_path *up, struct rules_plan *p)
{
	const char *t = req->target.ptr;
	size_t qoff = up->raw_path_off + up->raw_path_len;

	plan_init(ctx, req, HTTP_MOVED, p);
	p->head.location = (struct http_slice){ctx->path, up->len};
	if (qoff < req->target.len)
		p->head.query = (struct http_slice){t + qoff + 1, req->target.len - qoff - 1};
}

/* --redirect-https applies: on HTTP, except ACME's HTTP-01 challenges (RFC 8555 8.3), which
 * must be answered over HTTP from the files certbot --webroot writes. */
static int is_acme(const char *path)
{
	static const char acme[] = ".well-known/acme-challenge/";

	return strncmp(path, acme, sizeof acme - 1) == 0;
}

static int wants_https(const struct rules_ctx *ctx, const char *path)
{
	return !ctx->https && ctx->site && ctx->site->redirect_https && !is_acme(path);
}

/* The host of the redirect: Host without its port, else the site's first exact name. */
static struct http_slice https_host(const struct rules_ctx *ctx, const struct http_request *req)
{
	const char *h = req->host.ptr, *names = ctx->site->names;
	size_t n = req->host.len;

	if (req->has_host && n > 0) {
		const char *end = h[0] == '[' ? memchr(h, ']', n) : memchr(h, ':', n);
		if (end)
			n = (size_t)(end - h) + (h[0] == '[');
		return (struct http_slice){h, n};
	}
	if (!names || names[0] == '*')
		return (struct http_slice){NULL, 0};
	return (struct http_slice){names, strcspn(names, ",")};
}

/* 301 to https, same host, same target (path and query as sent). */
static void plan_https(const struct rules_ctx *ctx, const struct http_request *req,
		       const struct uri_path *up, struct rules_plan *p)
{
	struct http_slice host = https_host(ctx, req);

	if (host.len == 0) { /* HTTP/1.0 without Host to a site without an exact name */
		plan_page(ctx, req, HTTP_BAD_REQUEST, 0, 0, p);
		return;
	}
	plan_init(ctx, req, HTTP_MOVED, p);
	p->head.to_https = 1;
	p->head.to_host = host;
	p->head.to_port = ctx->https_port ? ctx->https_port : 443;
	p->head.location = (struct http_slice){req->target.ptr + up->raw_path_off,
					       req->target.len - up->raw_path_off};
}

/* An asset path: its last segment has an extension (a '.' after its first byte). */
static int is_asset(const char *path, size_t len)
{
	const char *seg = memrchr(path, '/', len);

	seg = seg ? seg + 1 : path;
	return len > (size_t)(seg - path) + 1 &&
	       memchr(seg + 1, '.', len - (size_t)(seg - path) - 1);
}

/* --fallback: a missing path that is no asset (or any, with --fallback-assets) gets the
 * site's fallback file, with its own validators and conditionals. Returns 0 when planned. */
static int plan_fallback(const struct rules_ctx *ctx, const struct http_request *req, int asset,
			 struct rules_plan *p)
{
	const struct config_site *s = ctx->site;
	struct uri_path up;

	if (!s || !s->fallback || (asset && !s->fallback_assets) ||
	    uri_to_path(s->fallback, strlen(s->fallback), ctx->path, FILE_PATH_MAX, &up) != 0)
		return -1;
	switch (file_resolve(ctx->fc, ctx->now, ctx->root_fd, ctx->path, &up, req, &p->fp)) {
	case HTTP_OK:
	case HTTP_PARTIAL:
	case HTTP_NOT_MODIFIED: plan_file(ctx, req, p); return 0;
	case HTTP_PRECONDITION_FAILED:
		plan_page(ctx, req, HTTP_PRECONDITION_FAILED, 1, 0, p);
		return 0;
	case HTTP_RANGE_NOT_SATISFIABLE:
		plan_page(ctx, req, HTTP_RANGE_NOT_SATISFIABLE, 1, p->fp.size, p);
		return 0;
	default: fcache_release(ctx->fc, &p->fp.file); return -1;
	}
}

/* --autoindex: a directory asked for with its slash that has no index.html (403) is listed
 * instead, when the caller gave a buffer. Returns 0 when planned. */
static int plan_listing(const struct rules_ctx *ctx, const struct http_request *req,
			const struct uri_path *up, struct rules_plan *p)
{
	long n;

	if (!ctx->site || !ctx->site->autoindex || !up->trailing_slash)
		return -1;
	if (!ctx->listing) { /* every listing buffer is being sent: come back later */
		plan_page(ctx, req, HTTP_SERVICE_UNAVAILABLE, 1, 0, p);
		return 0;
	}
	ctx->path[up->len] = '\0'; /* file_resolve added "/index.html" */
	n = autoindex_page(ctx->fc, ctx->now, ctx->root_fd, ctx->path, ctx->listing,
			   AUTOINDEX_PAGE_MAX);
	if (n < 0)
		return -1;
	plan_init(ctx, req, HTTP_OK, p);
	p->head.content_type = "text/html; charset=utf-8";
	p->head.content_length = (uint64_t)n;
	if (req->method == HTTP_METHOD_HEAD)
		return 0;
	p->body = RULES_BODY_LISTING;
	p->body_len = (uint64_t)n;
	return 0;
}

/* The file the path names, or what stands for it. */
static void plan_path(const struct rules_ctx *ctx, const struct http_request *req,
		      const struct uri_path *up, struct rules_plan *p)
{
	int asset = is_asset(ctx->path, up->len);
	/* the challenges certbot --webroot -w DIR writes, from DIR on both listeners */
	int acme = ctx->site && ctx->site->acme_root && ctx->acme_fd >= 0 && is_acme(ctx->path);
	int root = acme ? ctx->acme_fd : ctx->root_fd;

	switch (file_resolve(ctx->fc, ctx->now, root, ctx->path, up, req, &p->fp)) {
	case HTTP_OK:
	case HTTP_PARTIAL:
	case HTTP_NOT_MODIFIED: plan_file(ctx, req, p); return;
	case HTTP_RANGE_NOT_SATISFIABLE:
		plan_page(ctx, req, HTTP_RANGE_NOT_SATISFIABLE, 1, p->fp.size, p);
		return;
	default: break;
	}
	if (p->fp.directory)
		plan_redirect(ctx, req, up, p);
	else if (p->fp.status == HTTP_FORBIDDEN && plan_listing(ctx, req, up, p) == 0)
		return;
	else if (p->fp.status != HTTP_NOT_FOUND || plan_fallback(ctx, req, asset, p) < 0)
		plan_page(ctx, req, p->fp.status, 1, 0, p);
}

/* Which --header patterns match the decoded path (ctx->path, before file_resolve extends it):
 * bit i for the site's header i. A star crosses '/' (no FNM_PATHNAME), so "/assets/" and a
 * star cover the whole tree below /assets/. */
static uint32_t match_headers(const struct rules_ctx *ctx, const struct uri_path *up)
{
	char path[FILE_PATH_MAX + 2];
	uint32_t m = 0;

	if (!ctx->site || ctx->site->n_headers == 0)
		return 0;
	snprintf(path, sizeof path, "/%s%s", ctx->path, up->trailing_slash && up->len ? "/" : "");
	for (size_t i = 0; i < ctx->site->n_headers; i++)
		if (fnmatch(ctx->site->headers[i].pattern, path, 0) == 0)
			m |= (uint32_t)1 << i;
	return m;
}

static void add_field(struct rules_plan *p, const char *name, const char *value)
{
	p->fields[p->head.n_fields++] = (struct http_field){{name, strlen(name)}, value};
}

/* The site's fields: HSTS on HTTPS only (RFC 6797 7.2) and the preset on every status, the
 * --header fields matched on 2xx and 304 (as nginx's add_header without "always"). */
static void add_fields(const struct rules_ctx *ctx, uint32_t matched, struct rules_plan *p)
{
	const struct config_site *s = ctx->site;
	int ok = p->head.status < 300 || p->head.status == HTTP_NOT_MODIFIED;

	p->head.fields = p->fields;
	p->head.n_fields = 0;
	if (!s)
		return;
	if (ctx->https && s->hsts[0])
		add_field(p, "Strict-Transport-Security", s->hsts);
	if (s->security_headers) {
		add_field(p, "X-Content-Type-Options", "nosniff");
		add_field(p, "Referrer-Policy", "strict-origin-when-cross-origin");
		add_field(p, "Content-Security-Policy", "frame-ancestors 'self'");
	}
	for (size_t i = 0; ok && i < s->n_headers; i++)
		if (matched & ((uint32_t)1 << i))
			p->fields[p->head.n_fields++] = (struct http_field){
			    {s->headers[i].name, s->headers[i].name_len}, s->headers[i].value};
}

static void plan_request(const struct rules_ctx *ctx, const struct http_request *req,
			 struct rules_plan *p, uint32_t *matched)
{
	struct uri_path up;
	int st;

	if (ctx->misdirected) { /* RFC 9110 15.5.20: the client may retry on a new connection */
		plan_page(ctx, req, HTTP_MISDIRECTED, 1, 0, p);
		return;
	}
	if (req->method == HTTP_METHOD_OTHER) {
		plan_page(ctx, req, HTTP_METHOD_NOT_ALLOWED, 1, 0, p);
		return;
	}
	st = uri_to_path(req->target.ptr, req->target.len, ctx->path, FILE_PATH_MAX, &up);
	if (st != 0) { /* a path that cannot be (404: hidden) keeps the connection */
		plan_page(ctx, req, (enum http_status)st, st == HTTP_NOT_FOUND, 0, p);
		return;
	}
	*matched = match_headers(ctx, &up);
	if (wants_https(ctx, ctx->path))
		plan_https(ctx, req, &up, p);
	else
		plan_path(ctx, req, &up, p);
}

void rules_plan_request(const struct rules_ctx *ctx, const struct http_request *req,
			struct rules_plan *p)
{
	uint32_t matched = 0;

	plan_request(ctx, req, p, &matched);
	add_fields(ctx, matched, p);
}

void rules_plan_unparsed(const struct rules_ctx *ctx, enum http_status status, struct rules_plan *p)
{
	plan_page(ctx, NULL, status, 0, 0, p);
	p->head.fields = p->fields; /* no site is known: none of its fields */
	p->head.n_fields = 0;
}
