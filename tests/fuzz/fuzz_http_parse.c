/* fuzz_http_parse.c — libFuzzer driver for the request-head parser (server/http_parse.h):
 * pipelined heads as conn.c parses them, with the invariants the connection code relies on. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http_parse.h"

/* Heads parsed from one input at most: enough to cover pipelining, bounded for speed. */
#define MAX_PIPELINED 32

static void check_slice(struct http_slice s, const char *buf, size_t len)
{
	if (s.ptr == NULL) {
		CHECK(s.len == 0);
		return;
	}
	uintptr_t b = (uintptr_t)buf, p = (uintptr_t)s.ptr;
	CHECK(p >= b && p - b <= len && s.len <= len - (p - b));
}

static void check_list(const struct http_list *l, const char *buf, size_t len)
{
	CHECK(l->n <= HTTP_LIST_LINES);
	for (unsigned i = 0; i < l->n; i++) {
		CHECK(l->line[i].ptr != NULL);
		check_slice(l->line[i], buf, len);
	}
}

static void check_slices(const struct http_request *req, const char *buf, size_t len)
{
	const struct http_slice all[] = {
	    req->method_name,	    req->target,  req->host,
	    req->if_modified_since, req->range,	  req->if_unmodified_since,
	    req->if_range,	    req->referer, req->user_agent,
	};

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		check_slice(all[i], buf, len);
	check_list(&req->if_match, buf, len);
	check_list(&req->if_none_match, buf, len);
	check_list(&req->accept_encoding, buf, len);
}

static int is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A header value: trimmed, no control bytes but HTAB, no DEL. */
static void check_value(struct http_slice v)
{
	if (v.ptr == NULL)
		return;
	if (v.len > 0) {
		CHECK(v.ptr[0] != ' ' && v.ptr[0] != '\t');
		CHECK(v.ptr[v.len - 1] != ' ' && v.ptr[v.len - 1] != '\t');
	}
	for (size_t i = 0; i < v.len; i++) {
		unsigned char c = (unsigned char)v.ptr[i];
		CHECK((c >= 0x20 || c == '\t') && c != 0x7f);
	}
}

static void check_request(const struct http_request *req)
{
	CHECK(req->minor_version == 0 || req->minor_version == 1);
	CHECK(req->method_name.len > 0 && req->target.len > 0);
	for (size_t i = 0; i < req->method_name.len; i++)
		CHECK(is_tchar((unsigned char)req->method_name.ptr[i]));
	for (size_t i = 0; i < req->target.len; i++)
		CHECK((unsigned char)req->target.ptr[i] > 0x20 && req->target.ptr[i] != 0x7f);
	int get = req->method_name.len == 3 && memcmp(req->method_name.ptr, "GET", 3) == 0;
	int head = req->method_name.len == 4 && memcmp(req->method_name.ptr, "HEAD", 4) == 0;
	/* an unrecognised method never parses: it is 501 */
	CHECK(req->method == (get ? HTTP_METHOD_GET : head ? HTTP_METHOD_HEAD : HTTP_METHOD_OTHER));
	CHECK(req->has_host == (req->host.ptr != NULL));
	CHECK(req->minor_version == 0 || req->has_host);
	CHECK(!req->chunked || req->content_length == 0);
	const struct http_slice values[] = {
	    req->host,	   req->if_modified_since, req->if_unmodified_since, req->range,
	    req->if_range, req->referer,	   req->user_agent};
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
		check_value(values[i]);
	const struct http_list *lists[] = {&req->if_match, &req->if_none_match,
					   &req->accept_encoding};
	for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
		for (unsigned j = 0; j < lists[i]->n; j++)
			check_value(lists[i]->line[j]);
	/* Host, when present, holds no byte that could leave its authority */
	for (size_t i = 0; i < req->host.len; i++)
		CHECK(req->host.ptr[i] != '/' && req->host.ptr[i] != '\\' &&
		      req->host.ptr[i] != '@' && req->host.ptr[i] != ' ');
}

/* The list helpers on a copy of each line: 0 or 1, and a lone tag matches itself. */
static void check_lists(const struct http_request *req)
{
	struct http_list ae = req->accept_encoding, inm = req->if_none_match;
	char *copies[2 * HTTP_LIST_LINES] = {0};

	for (unsigned i = 0; i < ae.n; i++)
		ae.line[i].ptr = copies[i] = dup_exact(ae.line[i].ptr, ae.line[i].len);
	for (unsigned i = 0; i < inm.n; i++)
		inm.line[i].ptr = copies[HTTP_LIST_LINES + i] =
		    dup_exact(inm.line[i].ptr, inm.line[i].len);
	struct http_accept acc;
	http_accept_encoding(&ae, &acc);
	for (int c = 0; c < HTTP_CODINGS; c++)
		CHECK(acc.q[c] <= 1000);
	CHECK(ae.n > 0 || (acc.q[HTTP_CODING_GZIP] == 0 && acc.q[HTTP_CODING_IDENTITY] == 1000));
	for (unsigned avail = 0; avail < 8; avail++) {
		enum http_coding c = http_coding_choose(&acc, avail);
		/* a coding chosen is available, acceptable, and weighs at least identity */
		CHECK(c == HTTP_CODING_IDENTITY ||
		      ((avail & (1u << c)) && acc.q[c] > 0 && acc.q[c] >= acc.q[HTTP_CODING_IDENTITY]));
	}
	int m = http_etag_match(&inm, "\"5f3a-1b2c\"", 11, HTTP_ETAG_WEAK);
	int ms = http_etag_match(&inm, "\"5f3a-1b2c\"", 11, HTTP_ETAG_STRONG);
	CHECK((m == 0 || m == 1) && (ms == 0 || ms == 1) && ms <= m);
	struct http_slice ec = inm.n == 1 ? inm.line[0] : (struct http_slice){NULL, 0};
	if (ec.ptr != NULL && ec.len > 0 && memchr(ec.ptr, ',', ec.len) == NULL &&
	    ec.ptr[0] != ' ') {
		int weak = ec.len >= 2 && ec.ptr[0] == 'W' && ec.ptr[1] == '/';
		size_t skip = weak ? 2 : 0;
		char *tag = dup_exact(ec.ptr + skip, ec.len - skip);
		CHECK(http_etag_match(&inm, tag, ec.len - skip, HTTP_ETAG_WEAK) == 1);
		free(tag);
	}
	for (size_t i = 0; i < sizeof copies / sizeof copies[0]; i++)
		free(copies[i]);
}

/* The head is self-delimiting: exactly its r bytes parse the same, and any shorter prefix
 * (a read that stopped early) is "incomplete", never an error the whole head does not get. */
static void check_prefixes(const char *buf, size_t r, const struct http_request *req)
{
	const char *lf = memchr(buf, '\n', r); /* a read that ends between CR and LF */
	const size_t cuts[] = {r, r - 1, r / 2, (size_t)(lf - buf)};
	struct http_request again;

	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
		char *copy = dup_exact(buf, cuts[i]);
		int got = http_parse_request(copy, cuts[i], &again);
		if (cuts[i] == r) {
			CHECK(got == (int)r);
			CHECK(again.target.len == req->target.len &&
			      again.target.ptr - copy == req->target.ptr - buf);
		} else {
			CHECK(got == 0);
		}
		free(copy);
	}
}

static int check_one(const char *buf, size_t len)
{
	struct http_request req;
	int r = http_parse_request(buf, len, &req);

	CHECK(r >= -HTTP_VERSION_NOT_SUPPORTED);
	CHECK(r >= 0 || r == -HTTP_BAD_REQUEST || r == -HTTP_URI_TOO_LONG ||
	      r == -HTTP_HEADERS_TOO_LARGE || r == -HTTP_NOT_IMPLEMENTED ||
	      r == -HTTP_VERSION_NOT_SUPPORTED);
	CHECK(r <= 0 || ((size_t)r <= len && r <= HTTP_MAX_HEAD));
	check_slices(&req, buf, r > 0 ? (size_t)r : len);
	if (r == 0) {
		enum http_status st = http_parse_overflow(buf, len);
		CHECK(st == HTTP_URI_TOO_LONG || st == HTTP_HEADERS_TOO_LARGE);
	}
	if (r > 0) {
		check_request(&req);
		check_lists(&req);
		check_prefixes(buf, (size_t)r, &req);
	}
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t off = 0;

	/* as conn.c does: after each complete head, the rest of the buffer is parsed again */
	for (int n = 0; n < MAX_PIPELINED && off < size; n++) {
		int r = check_one(buf + off, size - off);
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	return 0;
}
