/* http_response.h — response heads and error pages, written into a caller's buffer. */
#ifndef DROPCAP_HTTP_RESPONSE_H
#define DROPCAP_HTTP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "http_parse.h"

/* A header field dropcap adds from the configuration (HSTS, --header, --security-headers):
 * slices of configuration strings, never copied. */
struct http_field {
	struct http_slice name;
	const char *value;
};

struct http_response {
	enum http_status status;
	const char *date;	      /* IMF-fixdate, required */
	const char *content_type;     /* NULL: none */
	const char *content_encoding; /* "br", "zstd", "gzip" or NULL */
	uint64_t content_length;      /* of the body that follows (or would, for HEAD) */
	const char *last_modified;    /* NULL: none */
	const char *etag;	      /* NULL: none */
	uint64_t range_first;	      /* 206: the range sent */
	uint64_t range_last;
	uint64_t size;		    /* 206 and 416: the complete length */
	struct http_slice location; /* 301: the decoded path from uri_to_path (no leading '/'):
				     * sent percent-encoded between '/' and '/' */
	struct http_slice query;    /* 301: the request's query (without '?'), kept as sent */
	/* 301 of --redirect-https: Location is https://to_host[:to_port] then the raw target
	 * (path and query as sent, from its '/'), instead of the slash form above */
	struct http_slice to_host;
	unsigned to_port;		 /* 443: not written */
	const struct http_field *fields; /* n_fields extra fields, written after the others */
	size_t n_fields;
	unsigned keep_alive : 1;
	unsigned vary : 1;	    /* Vary: Accept-Encoding */
	unsigned allow : 1;	    /* Allow: GET, HEAD (405) */
	unsigned accept_ranges : 1; /* Accept-Ranges: bytes */
	unsigned http10 : 1;	    /* the request was HTTP/1.0: keep-alive must be explicit */
	unsigned to_https : 1;	    /* 301: the --redirect-https form of Location */
};

/* The reason phrase of a status, "" when unknown. */
const char *http_reason(enum http_status status);

/* Writes the status line and headers, up to and including the blank line.
 * Returns the length written, or 0 when it does not fit in cap. */
size_t http_response_head(char *buf, size_t cap, const struct http_response *r);

/* Writes the short HTML body of an error page for status into buf; returns its
 * length (0 when it does not fit). */
size_t http_error_body(char *buf, size_t cap, enum http_status status);

#endif
