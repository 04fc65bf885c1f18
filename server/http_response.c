/* http_response.c — status lines, headers and error pages into a caller's buffer. */
#include <string.h>

#include "http_response.h"

struct out {
	char *p;
	char *end;
	int full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || (size_t)(o->end - o->p) < n) {
		o->full = 1;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_u64(struct out *o, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do
		tmp[sizeof tmp - ++n] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	put(o, tmp + sizeof tmp - n, n);
}

static void header(struct out *o, const char *name, const char *value)
{
	puts_(o, name);
	puts_(o, value);
	put(o, "\r\n", 2);
}

const char *http_reason(enum http_status status)
{
	switch (status) {
	case HTTP_OK: return "OK";
	case HTTP_PARTIAL: return "Partial Content";
	case HTTP_MOVED: return "Moved Permanently";
	case HTTP_NOT_MODIFIED: return "Not Modified";
	case HTTP_BAD_REQUEST: return "Bad Request";
	case HTTP_FORBIDDEN: return "Forbidden";
	case HTTP_NOT_FOUND: return "Not Found";
	case HTTP_METHOD_NOT_ALLOWED: return "Method Not Allowed";
	case HTTP_REQUEST_TIMEOUT: return "Request Timeout";
	case HTTP_LENGTH_REQUIRED: return "Length Required";
	case HTTP_PRECONDITION_FAILED: return "Precondition Failed";
	case HTTP_PAYLOAD_TOO_LARGE: return "Content Too Large";
	case HTTP_URI_TOO_LONG: return "URI Too Long";
	case HTTP_RANGE_NOT_SATISFIABLE: return "Range Not Satisfiable";
	case HTTP_MISDIRECTED: return "Misdirected Request";
	case HTTP_HEADERS_TOO_LARGE: return "Request Header Fields Too Large";
	case HTTP_INTERNAL_ERROR: return "Internal Server Error";
	case HTTP_NOT_IMPLEMENTED: return "Not Implemented";
	case HTTP_SERVICE_UNAVAILABLE: return "Service Unavailable";
	case HTTP_VERSION_NOT_SUPPORTED: return "HTTP Version Not Supported";
	}
	return "";
}

static void status_line(struct out *o, enum http_status st)
{
	char code[4] = {(char)('0' + st / 100), (char)('0' + st / 10 % 10), (char)('0' + st % 10),
			' '};

	puts_(o, "HTTP/1.1 ");
	put(o, code, 4);
	puts_(o, http_reason(st));
	put(o, "\r\n", 2);
}

static void content_headers(struct out *o, const struct http_response *r)
{
	if (r->content_type)
		header(o, "Content-Type: ", r->content_type);
	puts_(o, "Content-Length: ");
	put_u64(o, r->content_length);
	put(o, "\r\n", 2);
	if (r->status == HTTP_PARTIAL || r->status == HTTP_RANGE_NOT_SATISFIABLE) {
		puts_(o, "Content-Range: bytes ");
		if (r->status == HTTP_PARTIAL) {
			put_u64(o, r->range_first);
			put(o, "-", 1);
			put_u64(o, r->range_last);
		} else {
			put(o, "*", 1);
		}
		put(o, "/", 1);
		put_u64(o, r->size);
		put(o, "\r\n", 2);
	}
	if (r->accept_ranges)
		puts_(o, "Accept-Ranges: bytes\r\n");
}

/* pchar of RFC 3986 and '/', which a path may hold as they are. */
static int path_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("-._~!$&'()*+,;=:@/", c) != NULL);
}

/* Location from the normalised path, never from the raw target: "//host/.." and "/\\host"
 * cannot come out of it, so a redirect always stays on this server. */
static void location(struct out *o, const struct http_response *r)
{
	static const char hex[] = "0123456789ABCDEF";

	puts_(o, "Location: /");
	for (size_t i = 0; i < r->location.len; i++) {
		unsigned char c = (unsigned char)r->location.ptr[i];
		if (path_char(c)) {
			put(o, (const char *)&c, 1);
		} else {
			char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
			put(o, esc, 3);
		}
	}
	put(o, "/", 1);
	if (r->query.len > 0) {
		put(o, "?", 1);
		put(o, r->query.ptr, r->query.len);
	}
	put(o, "\r\n", 2);
}

/* --redirect-https: the host (from Host, validated by the parser, or the site's name) and
 * the raw target, which starts with '/' (uri_to_path accepted it): the authority is ours, so
 * "//evil" in the target stays a path on it. */
static void location_https(struct out *o, const struct http_response *r)
{
	puts_(o, "Location: https://");
	put(o, r->to_host.ptr, r->to_host.len);
	if (r->to_port != 443) {
		put(o, ":", 1);
		put_u64(o, r->to_port);
	}
	put(o, r->location.ptr, r->location.len);
	put(o, "\r\n", 2);
}

static void extra_fields(struct out *o, const struct http_response *r)
{
	for (size_t i = 0; i < r->n_fields; i++) {
		put(o, r->fields[i].name.ptr, r->fields[i].name.len);
		header(o, ": ", r->fields[i].value);
	}
}

size_t http_response_head(char *buf, size_t cap, const struct http_response *r)
{
	struct out o = {buf, buf + cap, 0};

	status_line(&o, r->status);
	puts_(&o, "Server: dropcap\r\n");
	header(&o, "Date: ", r->date);
	/* a 304 carries Date, ETag and Vary, and no other representation metadata (RFC 9110
	 * 15.4.5: SHOULD NOT; Last-Modified adds nothing next to the ETag) */
	if (r->status != HTTP_NOT_MODIFIED) {
		content_headers(&o, r);
		if (r->content_encoding)
			header(&o, "Content-Encoding: ", r->content_encoding);
		if (r->last_modified)
			header(&o, "Last-Modified: ", r->last_modified);
	}
	if (r->etag)
		header(&o, "ETag: ", r->etag);
	if (r->vary)
		puts_(&o, "Vary: Accept-Encoding\r\n");
	if (r->status == HTTP_MOVED && r->to_https)
		location_https(&o, r);
	else if (r->status == HTTP_MOVED)
		location(&o, r);
	if (r->allow)
		puts_(&o, "Allow: GET, HEAD\r\n");
	extra_fields(&o, r);
	if (!r->keep_alive)
		puts_(&o, "Connection: close\r\n");
	else if (r->http10)
		puts_(&o, "Connection: keep-alive\r\n");
	put(&o, "\r\n", 2);
	return o.full ? 0 : (size_t)(o.p - buf);
}

size_t http_error_body(char *buf, size_t cap, enum http_status status)
{
	struct out o = {buf, buf + cap, 0};
	char code[4] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10),
			(char)('0' + status % 10), ' '};

	puts_(&o, "<!DOCTYPE html>\n<title>");
	put(&o, code, 4);
	puts_(&o, http_reason(status));
	puts_(&o, "</title>\n<h1>");
	put(&o, code, 4);
	puts_(&o, http_reason(status));
	puts_(&o, "</h1>\n");
	if (status == HTTP_VERSION_NOT_SUPPORTED) /* RFC 9110 15.6.6: say what is supported */
		puts_(&o, "<p>This server speaks HTTP/1.1 and HTTP/1.0.</p>\n");
	return o.full ? 0 : (size_t)(o.p - buf);
}
