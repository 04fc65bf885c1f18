/* rules.c — a request to a response plan: which status, which header fields, which body. */
#include <string.h>

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

/* An error page; keep: whether the connection may survive this error; size: the file's
 * length for the Content-Range of a 416. A HEAD gets its head only. */
static void plan_page(const struct rules_ctx *ctx, const struct http_request *req,
		      enum http_status status, int keep, uint64_t size, struct rules_plan *p)
{
	size_t len = http_error_body(p->page, sizeof p->page, status);

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

void rules_plan_request(const struct rules_ctx *ctx, const struct http_request *req,
			struct rules_plan *p)
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
	switch (file_resolve(ctx->fc, ctx->now, ctx->root_fd, ctx->path, &up, req, &p->fp)) {
	case HTTP_OK:
	case HTTP_PARTIAL:
	case HTTP_NOT_MODIFIED: plan_file(ctx, req, p); return;
	case HTTP_RANGE_NOT_SATISFIABLE:
		plan_page(ctx, req, HTTP_RANGE_NOT_SATISFIABLE, 1, p->fp.size, p);
		return;
	default: break;
	}
	if (p->fp.directory)
		plan_redirect(ctx, req, &up, p);
	else
		plan_page(ctx, req, p->fp.status, 1, 0, p);
}

void rules_plan_unparsed(const struct rules_ctx *ctx, enum http_status status, struct rules_plan *p)
{
	plan_page(ctx, NULL, status, 0, 0, p);
}
