/* http_parse.c — HTTP/1.x request heads (RFC 9112): slices into the caller's buffer. */
#include <stddef.h>
#include <string.h>

#include "http_parse.h"

static int is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
}

int http_slice_eq(struct http_slice s, const char *lit)
{
	size_t i;

	for (i = 0; i < s.len; i++)
		if (lit[i] == '\0' || lower(s.ptr[i]) != lit[i])
			return 0;
	return lit[i] == '\0';
}

/* The next line of buf[*pos..len) without its CR LF (or bare LF); -1 when incomplete. */
static int next_line(const char *buf, size_t len, size_t *pos, struct http_slice *line)
{
	const char *start = buf + *pos;
	const char *nl = memchr(start, '\n', len - *pos);

	if (nl == NULL)
		return -1;
	line->ptr = start;
	line->len = (size_t)(nl - start);
	if (line->len > 0 && nl[-1] == '\r')
		line->len--;
	*pos = (size_t)(nl - buf) + 1;
	return 0;
}

static int parse_version(const char *p, size_t n, int *minor)
{
	if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[5] < '0' || p[5] > '9' ||
	    p[7] < '0' || p[7] > '9')
		return -HTTP_BAD_REQUEST;
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
		return -HTTP_VERSION_NOT_SUPPORTED;
	*minor = p[7] - '0';
	return 0;
}

static int parse_request_line(struct http_slice l, struct http_request *req)
{
	const char *p = l.ptr, *end = l.ptr + l.len, *sp;
	size_t i;

	if (l.len > HTTP_MAX_REQUEST_LINE)
		return -HTTP_URI_TOO_LONG;
	for (i = 0; p + i < end && is_tchar((unsigned char)p[i]); i++)
		;
	if (i == 0 || p + i >= end || p[i] != ' ')
		return -HTTP_BAD_REQUEST;
	req->method_name = (struct http_slice){p, i};
	if (i == 3 && memcmp(p, "GET", 3) == 0)
		req->method = HTTP_METHOD_GET;
	else if (i == 4 && memcmp(p, "HEAD", 4) == 0)
		req->method = HTTP_METHOD_HEAD;
	else
		req->method = HTTP_METHOD_OTHER;
	p += i + 1;
	for (sp = p; sp < end && (unsigned char)*sp > 0x20 && *sp != 0x7f; sp++)
		;
	if (sp == p || sp >= end || *sp != ' ')
		return -HTTP_BAD_REQUEST;
	req->target = (struct http_slice){p, (size_t)(sp - p)};
	return parse_version(sp + 1, (size_t)(end - sp - 1), &req->minor_version);
}

static int parse_content_length(struct http_slice v, struct http_request *req, int *seen)
{
	uint64_t n = 0;

	if (v.len == 0 || v.len > 18)
		return -HTTP_BAD_REQUEST;
	for (size_t i = 0; i < v.len; i++) {
		if (v.ptr[i] < '0' || v.ptr[i] > '9')
			return -HTTP_BAD_REQUEST;
		n = n * 10 + (uint64_t)(v.ptr[i] - '0');
	}
	if (*seen && n != req->content_length)
		return -HTTP_BAD_REQUEST;
	*seen = 1;
	req->content_length = n;
	return 0;
}

/* Connection: close / keep-alive, among comma-separated tokens. */
static void parse_connection(struct http_slice v, struct http_request *req)
{
	const char *p = v.ptr, *end = v.ptr + v.len;

	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		const char *t = p;
		while (p < end && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		struct http_slice tok = {t, (size_t)(p - t)};
		if (http_slice_eq(tok, "close"))
			req->keep_alive = 0;
		else if (http_slice_eq(tok, "keep-alive") && req->minor_version == 0)
			req->keep_alive = 1;
	}
}

static int store_unique(struct http_slice *dst, struct http_slice v)
{
	if (dst->ptr != NULL)
		return -HTTP_BAD_REQUEST;
	*dst = v;
	return 0;
}

struct header_slot {
	const char *name;
	size_t offset;
};

#define SLOT(n, f)                                                                                 \
	{                                                                                          \
		n, offsetof(struct http_request, f)                                                \
	}
static const struct header_slot header_slots[] = {
    SLOT("host", host),
    SLOT("if-none-match", if_none_match),
    SLOT("if-modified-since", if_modified_since),
    SLOT("range", range),
    SLOT("if-range", if_range),
    SLOT("accept-encoding", accept_encoding),
    SLOT("referer", referer),
    SLOT("user-agent", user_agent),
};

static int parse_header(struct http_slice l, struct http_request *req, int *cl_seen)
{
	const char *p = l.ptr, *end = l.ptr + l.len;
	size_t n;

	for (n = 0; p + n < end && is_tchar((unsigned char)p[n]); n++)
		;
	if (n == 0 || p + n >= end || p[n] != ':')
		return -HTTP_BAD_REQUEST; /* obs-fold, space before ':', bad name */
	struct http_slice name = {p, n};
	const char *v = p + n + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (const char *c = v; c < end; c++)
		if ((unsigned char)*c < 0x20 ? *c != '\t' : *c == 0x7f)
			return -HTTP_BAD_REQUEST;
	struct http_slice val = {v, (size_t)(end - v)};
	for (size_t i = 0; i < sizeof header_slots / sizeof header_slots[0]; i++)
		if (http_slice_eq(name, header_slots[i].name)) {
			struct http_slice *dst =
			    (struct http_slice *)((char *)req + header_slots[i].offset);
			/* repeated list headers are rare; the first one wins, but Host must be
			 * unique */
			if (i == 0)
				return store_unique(dst, val);
			if (dst->ptr == NULL)
				*dst = val;
			return 0;
		}
	if (http_slice_eq(name, "content-length"))
		return parse_content_length(val, req, cl_seen);
	if (http_slice_eq(name, "transfer-encoding"))
		req->chunked = 1;
	else if (http_slice_eq(name, "connection"))
		parse_connection(val, req);
	return 0;
}

int http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	size_t pos = 0;
	struct http_slice line;
	int st, cl_seen = 0;

	memset(req, 0, sizeof *req);
	while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n'))
		pos++; /* empty lines before the request line (RFC 9112 2.2) */
	if (next_line(buf, len, &pos, &line) < 0) /* + 1: the line's CR may be here already */
		return (len - pos > HTTP_MAX_REQUEST_LINE + 1) ? -HTTP_URI_TOO_LONG : 0;
	if ((st = parse_request_line(line, req)) < 0)
		return st;
	req->keep_alive = req->minor_version == 1;
	for (;;) {
		if (next_line(buf, len, &pos, &line) < 0)
			return 0;
		if (line.len == 0)
			break;
		if ((st = parse_header(line, req, &cl_seen)) < 0)
			return st;
	}
	req->has_host = req->host.ptr != NULL;
	if (req->minor_version == 1 && !req->has_host)
		return -HTTP_BAD_REQUEST;
	if (req->chunked && cl_seen)
		return -HTTP_BAD_REQUEST;
	return pos > (size_t)HTTP_MAX_HEAD ? -HTTP_HEADERS_TOO_LARGE : (int)pos;
}

enum http_status http_parse_overflow(const char *buf, size_t len)
{
	size_t pos = 0;

	while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n'))
		pos++;
	return memchr(buf + pos, '\n', len - pos) ? HTTP_HEADERS_TOO_LARGE : HTTP_URI_TOO_LONG;
}

/* Calls fn for each comma-separated element of v, trimmed; stops when fn returns non-zero. */
static int each_element(struct http_slice v, int (*fn)(struct http_slice, const void *),
			const void *arg)
{
	const char *p = v.ptr, *end = v.ptr + v.len;

	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		const char *e = p;
		while (e < end && *e != ',')
			e++;
		const char *t = e;
		while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if (t > p && fn((struct http_slice){p, (size_t)(t - p)}, arg))
			return 1;
		p = e;
	}
	return 0;
}

/* The q-value of a list element "gzip;q=0.5" is not zero. */
static int q_nonzero(struct http_slice el, size_t i)
{
	for (; i < el.len; i++) {
		if (lower(el.ptr[i]) != 'q')
			continue;
		size_t j = i + 1;
		while (j < el.len && el.ptr[j] == ' ')
			j++;
		if (j >= el.len || el.ptr[j] != '=')
			continue;
		for (j++; j < el.len && (el.ptr[j] == ' ' || el.ptr[j] == '0' || el.ptr[j] == '.');
		     j++)
			;
		return j < el.len && el.ptr[j] >= '1' && el.ptr[j] <= '9';
	}
	return 1;
}

struct coding_arg {
	const char *name;
	int verdict; /* -1: not listed, 0: refused (q=0), 1: accepted */
};

static int coding_find(struct http_slice el, const void *arg)
{
	struct coding_arg *a = (struct coding_arg *)arg;
	size_t i;

	for (i = 0; i < el.len && el.ptr[i] != ';' && el.ptr[i] != ' ' && el.ptr[i] != '\t'; i++)
		;
	if (!http_slice_eq((struct http_slice){el.ptr, i}, a->name))
		return 0;
	a->verdict = q_nonzero(el, i);
	return 1;
}

int http_accepts_coding(struct http_slice value, const char *name)
{
	struct coding_arg exact = {name, -1}, any = {"*", -1};

	if (value.ptr == NULL)
		return 0;
	each_element(value, coding_find, &exact);
	if (exact.verdict >= 0)
		return exact.verdict;
	each_element(value, coding_find, &any);
	return any.verdict > 0;
}

struct etag_arg {
	const char *etag;
	size_t len;
};

static int etag_matches(struct http_slice el, const void *arg)
{
	const struct etag_arg *a = arg;

	if (el.len == 1 && el.ptr[0] == '*')
		return 1;
	if (el.len >= 2 && el.ptr[0] == 'W' && el.ptr[1] == '/') {
		el.ptr += 2;
		el.len -= 2;
	}
	return el.len == a->len && memcmp(el.ptr, a->etag, a->len) == 0;
}

int http_etag_match(struct http_slice if_none_match, const char *etag, size_t etag_len)
{
	struct etag_arg a = {etag, etag_len};

	if (if_none_match.ptr == NULL)
		return 0;
	return each_element(if_none_match, etag_matches, &a);
}
