/* http_parse.h — stateless HTTP/1.x request-head parser: no allocation, no copying. */
#ifndef DROPCAP_HTTP_PARSE_H
#define DROPCAP_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Status codes double as parser errors: a failure is already the response. */
enum http_status {
	HTTP_OK = 200,
	HTTP_PARTIAL = 206,
	HTTP_MOVED = 301,
	HTTP_NOT_MODIFIED = 304,
	HTTP_BAD_REQUEST = 400,
	HTTP_FORBIDDEN = 403,
	HTTP_NOT_FOUND = 404,
	HTTP_METHOD_NOT_ALLOWED = 405,
	HTTP_REQUEST_TIMEOUT = 408,
	HTTP_LENGTH_REQUIRED = 411,
	HTTP_PAYLOAD_TOO_LARGE = 413,
	HTTP_URI_TOO_LONG = 414,
	HTTP_RANGE_NOT_SATISFIABLE = 416,
	HTTP_HEADERS_TOO_LARGE = 431,
	HTTP_INTERNAL_ERROR = 500,
	HTTP_NOT_IMPLEMENTED = 501,
	HTTP_SERVICE_UNAVAILABLE = 503,
	HTTP_VERSION_NOT_SUPPORTED = 505,
};

enum http_method {
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_OTHER, /* a valid token we do not serve: 405 */
};

/* A (pointer, length) view into the caller's buffer; ptr == NULL when absent. */
struct http_slice {
	const char *ptr;
	size_t len;
};

struct http_request {
	enum http_method method;
	struct http_slice method_name;
	struct http_slice target; /* raw request-target, as sent */
	int minor_version;	  /* 0 or 1 (HTTP/1.0, HTTP/1.1) */
	struct http_slice host;
	struct http_slice if_none_match;
	struct http_slice if_modified_since;
	struct http_slice range;
	struct http_slice if_range;
	struct http_slice accept_encoding;
	struct http_slice referer;
	struct http_slice user_agent;
	uint64_t content_length; /* 0 when absent */
	unsigned keep_alive : 1; /* after Connection tokens and version defaults */
	unsigned has_host : 1;
	unsigned chunked : 1; /* Transfer-Encoding present */
};

/* Longest request line accepted (414 beyond), and the whole head (431 beyond). */
#define HTTP_MAX_REQUEST_LINE 4096
#define HTTP_MAX_HEAD 8192

/*
 * Parses one request head from buf[0..len).
 * Returns the number of bytes the head takes (> 0) and fills *req with slices into buf;
 * 0 when the head is incomplete (read more; if len reached HTTP_MAX_HEAD, call
 * http_parse_overflow); or -status (e.g. -400, -414, -505) when the request is invalid.
 * On a negative return *req holds what was parsed so far (method, target, version may be set).
 */
int http_parse_request(const char *buf, size_t len, struct http_request *req);

/* The status for a head that did not fit in len bytes: 414 when the request line
 * itself is too long, 431 otherwise. */
enum http_status http_parse_overflow(const char *buf, size_t len);

/* Case-insensitive comparison of a slice with a NUL-terminated lowercase literal. */
int http_slice_eq(struct http_slice s, const char *lit);

/* Whether a comma-separated header value (Accept-Encoding) accepts the coding `name`
 * with a non-zero q-value. */
int http_accepts_coding(struct http_slice value, const char *name);

/* Whether an If-None-Match value matches etag (weak comparison, RFC 9110 13.1.2). */
int http_etag_match(struct http_slice if_none_match, const char *etag, size_t etag_len);

#endif
