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
	HTTP_PRECONDITION_FAILED = 412,
	HTTP_PAYLOAD_TOO_LARGE = 413,
	HTTP_URI_TOO_LONG = 414,
	HTTP_RANGE_NOT_SATISFIABLE = 416,
	HTTP_MISDIRECTED = 421, /* the Host names another site than the TLS server name */
	HTTP_HEADERS_TOO_LARGE = 431,
	HTTP_INTERNAL_ERROR = 500,
	HTTP_NOT_IMPLEMENTED = 501,
	HTTP_SERVICE_UNAVAILABLE = 503,
	HTTP_VERSION_NOT_SUPPORTED = 505,
};

enum http_method {
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_UNKNOWN, /* any other token: the parser answers 501 */
	HTTP_METHOD_OTHER,   /* a method of RFC 9110 (or PATCH) we do not serve: 405; any other
			      * token is 501 from the parser (RFC 9110 9.1) */
};

/* A (pointer, length) view into the caller's buffer; ptr == NULL when absent. */
struct http_slice {
	const char *ptr;
	size_t len;
};

/* A list-valued field (RFC 9110 5.3) may come on several lines: each line's value, in order.
 * More lines than this is a field section larger than the server wishes to process (431). */
#define HTTP_LIST_LINES 4
struct http_list {
	struct http_slice line[HTTP_LIST_LINES];
	unsigned n;
};

struct http_request {
	enum http_method method;
	struct http_slice method_name;
	struct http_slice target; /* raw request-target, as sent */
	int minor_version;	  /* 0 or 1 (HTTP/1.0, HTTP/1.1) */
	unsigned http2 : 1;	  /* an HTTP/2 stream's request (h2.c), minor_version 1 */
	struct http_slice host;
	/* Single-valued fields: a second line makes the value invalid, so it is kept as an
	 * empty slice (ptr set, len 0) that no date, range or validator parses. */
	struct http_slice if_modified_since;
	struct http_slice if_unmodified_since;
	struct http_slice range;
	struct http_slice if_range;
	struct http_list if_match;
	struct http_list if_none_match;
	struct http_list accept_encoding;
	struct http_slice referer;    /* first line wins: only logged */
	struct http_slice user_agent; /* first line wins: only logged */
	uint64_t content_length;      /* 0 when absent */
	unsigned keep_alive : 1;      /* after Connection tokens and version defaults */
	unsigned has_host : 1;
	unsigned chunked : 1; /* Transfer-Encoding: chunked (the only coding accepted) */
};

/* Longest request line accepted (414 beyond; RFC 9112 3 recommends at least 8000 octets,
 * nginx's large_client_header_buffers take 8 KiB), and the whole head (431 beyond). */
#define HTTP_MAX_REQUEST_LINE 8192
#define HTTP_MAX_HEAD 16384

/*
 * Parses one request head from buf[0..len).
 * Returns the number of bytes the head takes (> 0) and fills *req with slices into buf;
 * 0 when the head is incomplete (read more; if len reached HTTP_MAX_HEAD, call
 * http_parse_overflow); or -status when the request is invalid: -400, -414, -431, -501 (an
 * unrecognised method or transfer coding), -505. The connection is closed after any of them.
 * On a negative return *req holds what was parsed so far (method, target, version may be set).
 */
int http_parse_request(const char *buf, size_t len, struct http_request *req);

/* The method a token names: GET, HEAD, one of RFC 9110 we do not serve (HTTP_METHOD_OTHER),
 * else HTTP_METHOD_UNKNOWN. */
enum http_method http_method_of(struct http_slice m);

/* The status for a head that did not fit in len bytes: 414 when the request line
 * itself is too long, 431 otherwise. */
enum http_status http_parse_overflow(const char *buf, size_t len);

/* Whether v is a valid Host value (RFC 9112 3.2): empty, or uri-host [ ":" port ] of RFC 3986
 * 3.2.2 (reg-name characters and percent-escapes, or a bracketed IP literal; a decimal port). */
int http_host_valid(struct http_slice v);

/* Case-insensitive comparison of a slice with a NUL-terminated lowercase literal. */
int http_slice_eq(struct http_slice s, const char *lit);

/* The content codings a response may have, in the server's order of preference on equal
 * q-values: identity comes last, since a smaller body is better when both are as welcome. */
enum http_coding {
	HTTP_CODING_BR,
	HTTP_CODING_ZSTD,
	HTTP_CODING_GZIP, /* "x-gzip" too (RFC 9110 8.4.1.3) */
	HTTP_CODING_IDENTITY,
	HTTP_CODINGS,
};

/* What an Accept-Encoding field makes of each coding: its q-value in thousandths (0 to 1000),
 * 0 when it is not acceptable. */
struct http_accept {
	uint16_t q[HTTP_CODINGS];
};

/*
 * Weighs each coding by an Accept-Encoding list (RFC 9110 12.5.3): a listed coding has its
 * q-value (1 without one), names are case-insensitive, the first member naming a coding
 * counts, "*" weighs every coding not listed. A member whose weight is not the grammar's
 * (`;q=` then 0, 0.ddd, 1 or 1.000, nothing after) refuses its coding, as nginx does: never
 * send a coding the client may not have meant. identity is acceptable unless "identity;q=0",
 * or "*;q=0" without identity, excludes it; unlisted it ranks below every named coding (0.001).
 * No field at all (value->n == 0): identity only, as nginx and h2o do (RFC 9110 12.5.3: no
 * field does not mean the client can decode every coding). Bounded by the lines' length.
 */
void http_accept_encoding(const struct http_list *value, struct http_accept *a);

/* The coding to send among those available (a mask of 1u << HTTP_CODING_*, identity always
 * is): the highest q-value, the enum's order on ties. When nothing acceptable is available
 * (identity refused too), identity: the server ignores the field rather than answer 406, as
 * nginx and h2o do (RFC 9110 12.5.3 allows either). */
enum http_coding http_coding_choose(const struct http_accept *a, unsigned available);

/* The Content-Encoding value of a coding: "br", "zstd", "gzip"; NULL for identity. */
const char *http_coding_name(enum http_coding c);

enum http_etag_cmp {
	HTTP_ETAG_WEAK,	  /* If-None-Match (RFC 9110 8.8.3.2): "W/" is ignored on both sides */
	HTTP_ETAG_STRONG, /* If-Match, If-Range: a weak tag never matches */
};

/* Whether an If-Match / If-None-Match list holds "*" or an entity-tag equal to etag (a strong
 * one, with its quotes) under the given comparison. An empty list matches nothing. */
int http_etag_match(const struct http_list *list, const char *etag, size_t etag_len,
		    enum http_etag_cmp cmp);

#endif
