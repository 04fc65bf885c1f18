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

/* HTTP-version = "HTTP/" DIGIT "." DIGIT. A higher 1.x minor is served as 1.1 (RFC 9110 2.5:
 * SHOULD process it as the highest minor version implemented); other majors are 505. */
static int parse_version(const char *p, size_t n, int *minor)
{
	if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[5] < '0' || p[5] > '9' ||
	    p[7] < '0' || p[7] > '9')
		return -HTTP_BAD_REQUEST;
	if (p[5] != '1')
		return -HTTP_VERSION_NOT_SUPPORTED;
	*minor = p[7] == '0' ? 0 : 1;
	return 0;
}

/* The methods of RFC 9110 9 (and PATCH, RFC 5789) that a static server recognises but does
 * not allow (405); any other token is unrecognised (501, RFC 9110 9.1 and RFC 9112 3). */
enum http_method http_method_of(struct http_slice m)
{
	static const char *const known[] = {"POST",    "PUT",	"DELETE", "CONNECT",
					    "OPTIONS", "TRACE", "PATCH"};

	if (m.len == 3 && memcmp(m.ptr, "GET", 3) == 0)
		return HTTP_METHOD_GET;
	if (m.len == 4 && memcmp(m.ptr, "HEAD", 4) == 0)
		return HTTP_METHOD_HEAD;
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (m.len == strlen(known[i]) && memcmp(m.ptr, known[i], m.len) == 0)
			return HTTP_METHOD_OTHER;
	return HTTP_METHOD_UNKNOWN;
}

static int parse_request_line(struct http_slice l, struct http_request *req)
{
	const char *p = l.ptr, *end = l.ptr + l.len, *sp;
	size_t i;
	int st;

	if (l.len > HTTP_MAX_REQUEST_LINE)
		return -HTTP_URI_TOO_LONG;
	for (i = 0; p + i < end && is_tchar((unsigned char)p[i]); i++)
		;
	if (i == 0 || p + i >= end || p[i] != ' ')
		return -HTTP_BAD_REQUEST;
	req->method_name = (struct http_slice){p, i};
	req->method = http_method_of(req->method_name);
	p += i + 1;
	for (sp = p; sp < end && (unsigned char)*sp > 0x20 && *sp != 0x7f; sp++)
		;
	if (sp == p || sp >= end || *sp != ' ')
		return -HTTP_BAD_REQUEST;
	req->target = (struct http_slice){p, (size_t)(sp - p)};
	if ((st = parse_version(sp + 1, (size_t)(end - sp - 1), &req->minor_version)) < 0)
		return st;
	return req->method == HTTP_METHOD_UNKNOWN ? -HTTP_NOT_IMPLEMENTED : 0;
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

/* Calls fn for each comma-separated element of v, trimmed, skipping empty ones (RFC 9110
 * 5.6.1.2); stops when fn returns non-zero, and returns that. */
static int each_element(struct http_slice v, int (*fn)(struct http_slice, void *), void *arg)
{
	const char *p = v.ptr, *end = v.ptr + v.len;
	int r;

	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		const char *e = p;
		while (e < end && *e != ',')
			e++;
		const char *t = e;
		while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if (t > p && (r = fn((struct http_slice){p, (size_t)(t - p)}, arg)) != 0)
			return r;
		p = e;
	}
	return 0;
}

static int each_list_element(const struct http_list *l, int (*fn)(struct http_slice, void *),
			     void *arg)
{
	int r;

	for (unsigned i = 0; i < l->n; i++)
		if ((r = each_element(l->line[i], fn, arg)) != 0)
			return r;
	return 0;
}

/* The name of a list element, before its parameters or whitespace. */
static struct http_slice element_name(struct http_slice el)
{
	size_t i;

	for (i = 0; i < el.len && el.ptr[i] != ';' && el.ptr[i] != ' ' && el.ptr[i] != '\t'; i++)
		;
	return (struct http_slice){el.ptr, i};
}

/* Connection: close / keep-alive, among comma-separated tokens. */
static int connection_token(struct http_slice el, void *arg)
{
	struct http_request *req = arg;
	struct http_slice tok = element_name(el);

	if (http_slice_eq(tok, "close"))
		req->keep_alive = 0;
	else if (http_slice_eq(tok, "keep-alive") && req->minor_version == 0)
		req->keep_alive = 1;
	return 0;
}

/* What the Transfer-Encoding lines held, in order (RFC 9112 6.1). */
struct te_state {
	unsigned present : 1;
	unsigned chunked : 1;	   /* chunked seen */
	unsigned last_chunked : 1; /* the final coding is chunked */
	unsigned twice : 1;	   /* chunked applied more than once */
	unsigned other : 1;	   /* a coding other than chunked: dropcap decodes none */
};

static int te_coding(struct http_slice el, void *arg)
{
	struct te_state *te = arg;
	int chunked = http_slice_eq(element_name(el), "chunked");

	te->twice |= chunked && te->chunked;
	te->chunked |= chunked;
	te->last_chunked = chunked;
	te->other |= !chunked;
	return 0;
}

/* RFC 3986 3.2.2 reg-name and IP-literal characters (unreserved, sub-delims, pct-encoded
 * checked by the caller), and ':' inside brackets. */
static int host_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("-._~!$&'()*+,;=", c) != NULL);
}

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

int http_host_valid(struct http_slice v)
{
	const char *p = v.ptr, *end = v.ptr + v.len;
	int bracket = p < end && *p == '[';

	for (p += bracket; p < end && *p != (bracket ? ']' : ':'); p++) {
		if (*p == '%' && !bracket && end - p > 2 && is_hex(p[1]) && is_hex(p[2]))
			p += 2;
		else if (!host_char((unsigned char)*p) && !(bracket && *p == ':'))
			return 0;
	}
	if (bracket && (p >= end || p == v.ptr + 1))
		return 0; /* "[" without "]", or "[]" */
	p += bracket;
	if (p < end && *p++ != ':')
		return 0;
	for (; p < end; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

enum slot_kind {
	SLOT_UNIQUE, /* a second line is 400 (Host, RFC 9112 3.2) */
	SLOT_SINGLE, /* a second line makes the value an invalid list: kept empty */
	SLOT_FIRST,  /* only logged: the first line is kept */
	SLOT_LIST,   /* each line kept, in order */
};

struct header_slot {
	const char *name;
	size_t offset;
	enum slot_kind kind;
};

#define SLOT(n, f, k)                                                                              \
	{                                                                                          \
		n, offsetof(struct http_request, f), k                                             \
	}
static const struct header_slot header_slots[] = {
    SLOT("host", host, SLOT_UNIQUE),
    SLOT("if-match", if_match, SLOT_LIST),
    SLOT("if-none-match", if_none_match, SLOT_LIST),
    SLOT("if-modified-since", if_modified_since, SLOT_SINGLE),
    SLOT("if-unmodified-since", if_unmodified_since, SLOT_SINGLE),
    SLOT("range", range, SLOT_SINGLE),
    SLOT("if-range", if_range, SLOT_SINGLE),
    SLOT("accept-encoding", accept_encoding, SLOT_LIST),
    SLOT("referer", referer, SLOT_FIRST),
    SLOT("user-agent", user_agent, SLOT_FIRST),
};

static int store(const struct header_slot *slot, struct http_request *req, struct http_slice v)
{
	void *dst = (char *)req + slot->offset;
	struct http_slice *s = dst;
	struct http_list *l = dst;

	switch (slot->kind) {
	case SLOT_UNIQUE:
		if (s->ptr != NULL || !http_host_valid(v))
			return -HTTP_BAD_REQUEST;
		*s = v;
		return 0;
	case SLOT_SINGLE: *s = (struct http_slice){v.ptr, s->ptr ? 0 : v.len}; return 0;
	case SLOT_FIRST:
		if (s->ptr == NULL)
			*s = v;
		return 0;
	case SLOT_LIST:
		if (l->n == HTTP_LIST_LINES)
			return -HTTP_HEADERS_TOO_LARGE;
		l->line[l->n++] = v;
		return 0;
	}
	return 0;
}

/* The value of a field line, without OWS; 400 for a bad name or a control byte in the value. */
static int split_field(struct http_slice l, struct http_slice *name, struct http_slice *val)
{
	const char *p = l.ptr, *end = l.ptr + l.len;
	size_t n;

	for (n = 0; p + n < end && is_tchar((unsigned char)p[n]); n++)
		;
	if (n == 0 || p + n >= end || p[n] != ':')
		return -HTTP_BAD_REQUEST; /* obs-fold, space before ':', bad name */
	*name = (struct http_slice){p, n};
	const char *v = p + n + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (const char *c = v; c < end; c++)
		if ((unsigned char)*c < 0x20 ? *c != '\t' : *c == 0x7f)
			return -HTTP_BAD_REQUEST;
	*val = (struct http_slice){v, (size_t)(end - v)};
	return 0;
}

static int parse_header(struct http_slice l, struct http_request *req, int *cl_seen,
			struct te_state *te)
{
	struct http_slice name, val;
	int st;

	if ((st = split_field(l, &name, &val)) < 0)
		return st;
	for (size_t i = 0; i < sizeof header_slots / sizeof header_slots[0]; i++)
		if (http_slice_eq(name, header_slots[i].name))
			return store(&header_slots[i], req, val);
	if (http_slice_eq(name, "content-length"))
		return parse_content_length(val, req, cl_seen);
	if (http_slice_eq(name, "transfer-encoding")) {
		te->present = 1;
		each_element(val, te_coding, te);
	} else if (http_slice_eq(name, "connection")) {
		each_element(val, connection_token, req);
	}
	return 0;
}

/* Message body length (RFC 9112 6.1, 6.3): Transfer-Encoding with Content-Length, in HTTP/1.0,
 * or without chunked as the one final coding is 400; another coding is 501 (as nginx). */
static int body_framing(const struct te_state *te, int cl_seen, struct http_request *req)
{
	if (!te->present)
		return 0;
	if (cl_seen || req->minor_version == 0 || !te->last_chunked || te->twice)
		return -HTTP_BAD_REQUEST;
	if (te->other)
		return -HTTP_NOT_IMPLEMENTED;
	req->chunked = 1;
	return 0;
}

int http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	size_t pos = 0;
	struct http_slice line;
	struct te_state te = {0};
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
		if ((st = parse_header(line, req, &cl_seen, &te)) < 0)
			return st;
	}
	req->has_host = req->host.ptr != NULL;
	if (req->minor_version == 1 && !req->has_host)
		return -HTTP_BAD_REQUEST;
	if ((st = body_framing(&te, cl_seen, req)) < 0)
		return st;
	return pos > (size_t)HTTP_MAX_HEAD ? -HTTP_HEADERS_TOO_LARGE : (int)pos;
}

enum http_status http_parse_overflow(const char *buf, size_t len)
{
	size_t pos = 0;

	while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n'))
		pos++;
	return memchr(buf + pos, '\n', len - pos) ? HTTP_HEADERS_TOO_LARGE : HTTP_URI_TOO_LONG;
}

/* RFC 9110 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in
 * thousandths; -1 when s is not one. */
static int qvalue(struct http_slice s)
{
	int q;
	size_t i;

	if (s.len == 0 || (s.ptr[0] != '0' && s.ptr[0] != '1') || s.len > 5)
		return -1;
	q = s.ptr[0] == '1' ? 1000 : 0;
	if (s.len > 1 && s.ptr[1] != '.')
		return -1;
	for (i = 2; i < s.len; i++) {
		int d = s.ptr[i] - '0';
		if (d < 0 || d > 9 || (q == 1000 && d != 0))
			return -1;
		q += d * (i == 2 ? 100 : i == 3 ? 10 : 1);
	}
	return q;
}

static size_t skip_ows(struct http_slice el, size_t i)
{
	while (i < el.len && (el.ptr[i] == ' ' || el.ptr[i] == '\t'))
		i++;
	return i;
}

/* The weight after a coding's name at i: OWS [ ";" OWS "q=" qvalue ] OWS, nothing else
 * (RFC 9110 12.5.3); 1000 without one, 0 when it does not parse. */
static int member_weight(struct http_slice el, size_t i)
{
	size_t end = el.len;
	int q;

	if ((i = skip_ows(el, i)) == el.len)
		return 1000;
	if (el.ptr[i] != ';')
		return 0;
	i = skip_ows(el, i + 1);
	if (el.len - i < 2 || lower(el.ptr[i]) != 'q' || el.ptr[i + 1] != '=')
		return 0;
	while (end > i && (el.ptr[end - 1] == ' ' || el.ptr[end - 1] == '\t'))
		end--; /* each_element trimmed the member already: this is for the fuzzer's sake */
	q = qvalue((struct http_slice){el.ptr + i + 2, end - i - 2});
	return q < 0 ? 0 : q;
}

/* The members seen so far: listed codings and "*". */
struct accept_state {
	struct http_accept q;
	uint16_t star;	 /* the weight of "*" */
	unsigned listed; /* 1u << coding; bit HTTP_CODINGS for "*" */
};

/* The coding a member names: HTTP_CODINGS for "*", -1 for one the server has no variant of. */
static int coding_of(struct http_slice name)
{
	static const char *const names[] = {"br", "zstd", "gzip", "identity", "*", "x-gzip"};
	static const int codes[] = {HTTP_CODING_BR,	  HTTP_CODING_ZSTD, HTTP_CODING_GZIP,
				    HTTP_CODING_IDENTITY, HTTP_CODINGS,	    HTTP_CODING_GZIP};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (http_slice_eq(name, names[i]))
			return codes[i];
	return -1;
}

static int accept_member(struct http_slice el, void *arg)
{
	struct accept_state *st = arg;
	struct http_slice name = element_name(el);
	int c = coding_of(name);

	if (c < 0 || (st->listed & (1u << c)))
		return 0; /* another coding, or a second member for this one: the first counts */
	st->listed |= 1u << c;
	if (c < HTTP_CODINGS)
		st->q.q[c] = (uint16_t)member_weight(el, name.len);
	else
		st->star = (uint16_t)member_weight(el, name.len);
	return 0;
}
void http_accept_encoding(const struct http_list *value, struct http_accept *a)
{
	struct accept_state st = {.listed = 0};

	each_list_element(value, accept_member, &st);
	for (int c = 0; c < HTTP_CODINGS; c++) {
		if (st.listed & (1u << c))
			a->q[c] = st.q.q[c];
		else if (st.listed & (1u << HTTP_CODINGS))
			a->q[c] = st.star;
		else /* identity is acceptable by default, below any coding named */
			a->q[c] = c == HTTP_CODING_IDENTITY ? (value->n > 0 ? 1 : 1000) : 0;
	}
}

enum http_coding http_coding_choose(const struct http_accept *a, unsigned available)
{
	enum http_coding best = HTTP_CODING_IDENTITY;

	for (int c = 0; c < HTTP_CODING_IDENTITY; c++) {
		if (!(available & (1u << c)) || a->q[c] == 0)
			continue;
		if (best == HTTP_CODING_IDENTITY ? a->q[c] >= a->q[best] : a->q[c] > a->q[best])
			best = (enum http_coding)c;
	}
	return best;
}

const char *http_coding_name(enum http_coding c)
{
	static const char *const names[HTTP_CODINGS] = {
	    [HTTP_CODING_BR] = "br", [HTTP_CODING_ZSTD] = "zstd", [HTTP_CODING_GZIP] = "gzip"};

	return c >= 0 && c < HTTP_CODINGS ? names[c] : NULL;
}

struct etag_arg {
	const char *etag;
	size_t len;
	enum http_etag_cmp cmp;
};

/* RFC 9110 8.8.3.2: strong comparison needs both tags strong; weak ignores "W/". */
static int etag_matches(struct http_slice el, void *arg)
{
	const struct etag_arg *a = arg;

	if (el.len == 1 && el.ptr[0] == '*')
		return 1;
	if (el.len >= 2 && el.ptr[0] == 'W' && el.ptr[1] == '/') {
		if (a->cmp == HTTP_ETAG_STRONG)
			return 0;
		el.ptr += 2;
		el.len -= 2;
	}
	return el.len == a->len && memcmp(el.ptr, a->etag, a->len) == 0;
}

int http_etag_match(const struct http_list *list, const char *etag, size_t etag_len,
		    enum http_etag_cmp cmp)
{
	struct etag_arg a = {etag, etag_len, cmp};

	return each_list_element(list, etag_matches, &a);
}
