/* test_http_parse.c — table-driven tests of the request-head parser (server/http_parse.h).
 * Every input sits right before an unreadable page, so an over-read crashes the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "guard.h"
#include "http_parse.h"

#define ALL (-1000)	/* the whole input is one complete head */
#define ANY_NEG (-1001) /* any negative status */
#define SAME (-1)	/* field not checked */

struct row {
	const char *name;
	const char *in;
	int want;	    /* ALL, a byte count, 0 (incomplete), -status, or ANY_NEG */
	int method;	    /* enum http_method, or SAME */
	int minor;	    /* 0/1 or SAME */
	int keep_alive;	    /* 0/1 or SAME */
	const char *target; /* NULL: not checked */
	const char *host;   /* NULL: not checked; "" : must be absent */
};

#define H11 " HTTP/1.1\r\nHost: example.org\r\n"

static const struct row rows[] = {
    /* methods */
    {"GET", "GET /" H11 "\r\n", ALL, HTTP_METHOD_GET, 1, 1, "/", "example.org"},
    {"HEAD", "HEAD /x" H11 "\r\n", ALL, HTTP_METHOD_HEAD, 1, 1, "/x", NULL},
    {"POST is a valid token: 405 later", "POST /" H11 "\r\n", ALL, HTTP_METHOD_OTHER, 1, SAME, "/",
     NULL},
    {"PUT", "PUT /" H11 "\r\n", ALL, HTTP_METHOD_OTHER, 1, SAME, NULL, NULL},
    {"DELETE", "DELETE /" H11 "\r\n", ALL, HTTP_METHOD_OTHER, 1, SAME, NULL, NULL},
    {"OPTIONS", "OPTIONS /" H11 "\r\n", ALL, HTTP_METHOD_OTHER, 1, SAME, NULL, NULL},
    {"CONNECT", "CONNECT h:443" H11 "\r\n", ALL, HTTP_METHOD_OTHER, 1, SAME, NULL, NULL},
    {"TRACE", "TRACE /" H11 "\r\n", ALL, HTTP_METHOD_OTHER, 1, SAME, NULL, NULL},
    {"PATCH", "PATCH /" H11 "\r\n", ALL, HTTP_METHOD_OTHER, 1, SAME, NULL, NULL},
    {"9110 9.1: unrecognised method token is 501", "BREW /" H11 "\r\n", -501, SAME, SAME, SAME,
     NULL, NULL},
    {"GETX is not GET: 501", "GETX /" H11 "\r\n", -501, SAME, SAME, SAME, NULL, NULL},
    {"methods are case-sensitive: get is 501", "get /" H11 "\r\n", -501, SAME, SAME, SAME, NULL,
     NULL},
    {"9112 3: a method longer than any known is 501", "POSTPOSTPOSTPOST /" H11 "\r\n", -501, SAME,
     SAME, SAME, NULL, NULL},
    {"a bad version wins over an unknown method", "BREW / HTTP/2.0\r\n\r\n", -505, SAME, SAME, SAME,
     NULL, NULL},
    {"method with separator", "G(T /" H11 "\r\n", -400, SAME, SAME, SAME, NULL, NULL},
    {"method with ctl", "G\x01T /" H11 "\r\n", -400, SAME, SAME, SAME, NULL, NULL},
    {"empty method", " /" H11 "\r\n", -400, SAME, SAME, SAME, NULL, NULL},
    {"tab as separator", "GET\t/" H11 "\r\n", -400, SAME, SAME, SAME, NULL, NULL},

    /* versions */
    {"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", ALL, HTTP_METHOD_GET, 0, 0, "/", ""},
    {"HTTP/1.0 with Host", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", ALL, HTTP_METHOD_GET, 0, 0, NULL,
     "a"},
    {"HTTP/2.0 is 505", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", -505, SAME, SAME, SAME, NULL, NULL},
    {"HTTP/3.0 is 505", "GET / HTTP/3.0\r\nHost: a\r\n\r\n", -505, SAME, SAME, SAME, NULL, NULL},
    {"HTTP/0.9 request line", "GET /\r\n\r\n", ANY_NEG, SAME, SAME, SAME, NULL, NULL},
    {"9110 2.5: HTTP/1.2 is served as 1.1", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", ALL,
     HTTP_METHOD_GET, 1, 1, "/", "a"},
    {"HTTP/1.9 is served as 1.1 (Host still required)", "GET / HTTP/1.9\r\n\r\n", -400, SAME, SAME,
     SAME, NULL, NULL},
    {"HTTP/0.9 as a version is 505", "GET / HTTP/0.9\r\n\r\n", -505, SAME, SAME, SAME, NULL, NULL},
    {"lowercase protocol name", "GET / http/1.1\r\nHost: a\r\n\r\n", -400, SAME, SAME, SAME, NULL,
     NULL},
    {"version without minor", "GET / HTTP/1\r\nHost: a\r\n\r\n", -400, SAME, SAME, SAME, NULL,
     NULL},
    {"version garbage", "GET / HTTP/1.x\r\nHost: a\r\n\r\n", -400, SAME, SAME, SAME, NULL, NULL},
    {"version with trailing junk", "GET / HTTP/1.1x\r\nHost: a\r\n\r\n", -400, SAME, SAME, SAME,
     NULL, NULL},
    {"not HTTP at all", "GET / FOO/1.1\r\nHost: a\r\n\r\n", -400, SAME, SAME, SAME, NULL, NULL},
    {"missing target", "GET HTTP/1.1\r\nHost: a\r\n\r\n", -400, SAME, SAME, SAME, NULL, NULL},

    /* Host */
    {"HTTP/1.1 without Host is 400", "GET / HTTP/1.1\r\n\r\n", -400, SAME, SAME, SAME, NULL, NULL},
    {"HTTP/1.1 two Host fields is 400", "GET /" H11 "Host: b\r\n\r\n", -400, SAME, SAME, SAME, NULL,
     NULL},
    {"Host name is case-insensitive", "GET / HTTP/1.1\r\nhOsT: a.b\r\n\r\n", ALL, HTTP_METHOD_GET,
     1, 1, NULL, "a.b"},
    {"Host value trimmed", "GET / HTTP/1.1\r\nHost: \t a.b \t\r\n\r\n", ALL, HTTP_METHOD_GET, 1, 1,
     NULL, "a.b"},
    {"Host without space", "GET / HTTP/1.1\r\nHost:a.b\r\n\r\n", ALL, HTTP_METHOD_GET, 1, 1, NULL,
     "a.b"},
    {"empty Host on 1.1 is present", "GET / HTTP/1.1\r\nHost:\r\n\r\n", ALL, HTTP_METHOD_GET, 1, 1,
     NULL, NULL},
    {"Host with port", "GET / HTTP/1.1\r\nHost: a.b:8080\r\n\r\n", ALL, HTTP_METHOD_GET, 1, 1, NULL,
     "a.b:8080"},
    {"Host with empty port", "GET / HTTP/1.1\r\nHost: a.b:\r\n\r\n", ALL, HTTP_METHOD_GET, 1, 1,
     NULL, "a.b:"},
    {"Host IPv4", "GET / HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n", ALL, HTTP_METHOD_GET, 1, 1, NULL,
     "127.0.0.1:80"},
    {"Host IPv6 literal", "GET / HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", ALL, HTTP_METHOD_GET, 1, 1,
     NULL, "[::1]:443"},
    {"Host pct-encoded and sub-delims", "GET / HTTP/1.1\r\nHost: a%41b!$&'()*+,;=~_-\r\n\r\n", ALL,
     HTTP_METHOD_GET, 1, 1, NULL, NULL},
    {"9112 3.2: Host with a space is 400", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", -400, SAME, SAME,
     SAME, NULL, NULL},
    {"Host with a slash is 400", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", -400, SAME, SAME, SAME,
     NULL, NULL},
    {"Host with a backslash is 400", "GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", -400, SAME, SAME, SAME,
     NULL, NULL},
    {"Host with userinfo is 400", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", -400, SAME, SAME, SAME,
     NULL, NULL},
    {"Host with a letter in the port is 400", "GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n", -400, SAME,
     SAME, SAME, NULL, NULL},
    {"Host with two colons is 400", "GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", -400, SAME, SAME, SAME,
     NULL, NULL},
    {"Host with a bad escape is 400", "GET / HTTP/1.1\r\nHost: a%4\r\n\r\n", -400, SAME, SAME, SAME,
     NULL, NULL},
    {"Host IPv6 unclosed is 400", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", -400, SAME, SAME, SAME,
     NULL, NULL},
    {"Host IPv6 empty is 400", "GET / HTTP/1.1\r\nHost: []\r\n\r\n", -400, SAME, SAME, SAME, NULL,
     NULL},
    {"Host junk after IPv6 is 400", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", -400, SAME, SAME,
     SAME, NULL, NULL},
    {"Host with obs-text is 400", "GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n", -400, SAME, SAME,
     SAME, NULL, NULL},
    {"an invalid Host on HTTP/1.0 is 400 too", "GET / HTTP/1.0\r\nHost: a b\r\n\r\n", -400, SAME,
     SAME, SAME, NULL, NULL},

    /* header syntax */
    {"obs-fold is 400", "GET /" H11 "X-A: one\r\n two\r\n\r\n", -400, SAME, SAME, SAME, NULL, NULL},
    {"obs-fold with tab is 400", "GET /" H11 "X-A: one\r\n\ttwo\r\n\r\n", -400, SAME, SAME, SAME,
     NULL, NULL},
    {"space before colon is 400", "GET /" H11 "X-A : v\r\n\r\n", -400, SAME, SAME, SAME, NULL,
     NULL},
    {"space before colon in Host", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", -400, SAME, SAME, SAME,
     NULL, NULL},
    {"header line without colon", "GET /" H11 "garbage\r\n\r\n", -400, SAME, SAME, SAME, NULL,
     NULL},
    {"empty header name", "GET /" H11 ": v\r\n\r\n", -400, SAME, SAME, SAME, NULL, NULL},
    {"separator in header name", "GET /" H11 "X(A): v\r\n\r\n", -400, SAME, SAME, SAME, NULL, NULL},
    {"ctl in header name",
     "GET /" H11 "X\x01"
     "A: v\r\n\r\n",
     -400, SAME, SAME, SAME, NULL, NULL},
    {"ctl in header value",
     "GET /" H11 "X-A: a\x01"
     "b\r\n\r\n",
     -400, SAME, SAME, SAME, NULL, NULL},
    {"DEL in header value",
     "GET /" H11 "X-A: a\x7f"
     "b\r\n\r\n",
     -400, SAME, SAME, SAME, NULL, NULL},
    {"obs-text in value is allowed", "GET /" H11 "User-Agent: caf\xc3\xa9\r\n\r\n", ALL,
     HTTP_METHOD_GET, 1, 1, NULL, NULL},
    {"tab inside value is allowed", "GET /" H11 "X-A: a\tb\r\n\r\n", ALL, HTTP_METHOD_GET, 1, 1,
     NULL, NULL},
    {"ctl in target",
     "GET /a\x01"
     "b" H11 "\r\n",
     -400, SAME, SAME, SAME, NULL, NULL},
    {"DEL in target", "GET /a\x7f" H11 "\r\n", -400, SAME, SAME, SAME, NULL, NULL},
    {"space in target", "GET /a b" H11 "\r\n", -400, SAME, SAME, SAME, NULL, NULL},

    /* line endings */
    {"bare LF everywhere", "GET / HTTP/1.1\nHost: a\n\n", ALL, HTTP_METHOD_GET, 1, 1, "/", "a"},
    {"mixed CRLF and LF", "GET / HTTP/1.1\r\nHost: a\n\r\n", ALL, HTTP_METHOD_GET, 1, 1, "/", "a"},
    {"bare CR in request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", -400, SAME, SAME, SAME, NULL,
     NULL},
    {"bare CR in header", "GET /" H11 "X-A: a\rb\r\n\r\n", -400, SAME, SAME, SAME, NULL, NULL},
    {"CR CR LF at the end of a field", "GET /" H11 "X-A: a\r\r\n\r\n", -400, SAME, SAME, SAME, NULL,
     NULL},

    /* Content-Length / Transfer-Encoding (request bodies are never wanted by a static server) */
    {"Content-Length 0", "GET /" H11 "Content-Length: 0\r\n\r\n", ALL, HTTP_METHOD_GET, 1, 1, NULL,
     NULL},
    {"Content-Length letters", "GET /" H11 "Content-Length: abc\r\n\r\n", -400, SAME, SAME, SAME,
     NULL, NULL},
    {"Content-Length negative", "GET /" H11 "Content-Length: -1\r\n\r\n", -400, SAME, SAME, SAME,
     NULL, NULL},
    {"Content-Length with sign", "GET /" H11 "Content-Length: +5\r\n\r\n", -400, SAME, SAME, SAME,
     NULL, NULL},
    {"Content-Length empty", "GET /" H11 "Content-Length: \r\n\r\n", -400, SAME, SAME, SAME, NULL,
     NULL},
    {"Content-Length overflow", "GET /" H11 "Content-Length: 99999999999999999999999\r\n\r\n",
     ANY_NEG, SAME, SAME, SAME, NULL, NULL},
    {"two different Content-Length", "GET /" H11 "Content-Length: 1\r\nContent-Length: 2\r\n\r\n",
     -400, SAME, SAME, SAME, NULL, NULL},
    {"Content-Length list of different", "GET /" H11 "Content-Length: 1, 2\r\n\r\n", -400, SAME,
     SAME, SAME, NULL, NULL},
    {"TE and CL together (smuggling; nginx: 400)",
     "POST /" H11 "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", -400, SAME, SAME, SAME,
     NULL, NULL},
    {"CL before TE is 400 too",
     "GET /" H11 "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", -400, SAME, SAME, SAME,
     NULL, NULL},
    {"9112 6.3: chunked not final is 400", "GET /" H11 "Transfer-Encoding: chunked, gzip\r\n\r\n",
     -400, SAME, SAME, SAME, NULL, NULL},
    {"TE gzip alone is 400 (no framing)", "GET /" H11 "Transfer-Encoding: gzip\r\n\r\n", -400, SAME,
     SAME, SAME, NULL, NULL},
    {"TE empty is 400", "GET /" H11 "Transfer-Encoding: \r\n\r\n", -400, SAME, SAME, SAME, NULL,
     NULL},
    {"chunked twice is 400", "GET /" H11 "Transfer-Encoding: chunked, chunked\r\n\r\n", -400, SAME,
     SAME, SAME, NULL, NULL},
    {"chunked twice across lines is 400",
     "GET /" H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", -400, SAME,
     SAME, SAME, NULL, NULL},
    {"9112 6.1: unknown coding before chunked is 501",
     "GET /" H11 "Transfer-Encoding: foo, chunked\r\n\r\n", -501, SAME, SAME, SAME, NULL, NULL},
    {"gzip before chunked is 501 (nginx: only chunked)",
     "GET /" H11 "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", -501, SAME, SAME,
     SAME, NULL, NULL},
    {"chunked then gzip across lines is 400",
     "GET /" H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", -400, SAME, SAME,
     SAME, NULL, NULL},
    {"9112 6.1: HTTP/1.0 with Transfer-Encoding is 400",
     "GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -400, SAME, SAME, SAME, NULL, NULL},
    {"TE chunked (case, OWS) is accepted", "GET /" H11 "Transfer-Encoding:  CHUNKED \r\n\r\n", ALL,
     HTTP_METHOD_GET, 1, 1, NULL, NULL},

    /* Connection */
    {"1.1 Connection: close", "GET /" H11 "Connection: close\r\n\r\n", ALL, HTTP_METHOD_GET, 1, 0,
     NULL, NULL},
    {"1.1 Connection: Close (case)", "GET /" H11 "Connection: Close\r\n\r\n", ALL, HTTP_METHOD_GET,
     1, 0, NULL, NULL},
    {"1.1 close among tokens", "GET /" H11 "Connection: foo, close , bar\r\n\r\n", ALL,
     HTTP_METHOD_GET, 1, 0, NULL, NULL},
    {"1.1 close in second field", "GET /" H11 "Connection: foo\r\nConnection: close\r\n\r\n", ALL,
     HTTP_METHOD_GET, 1, 0, NULL, NULL},
    {"1.1 'closed' is not close", "GET /" H11 "Connection: closed\r\n\r\n", ALL, HTTP_METHOD_GET, 1,
     1, NULL, NULL},
    {"1.1 'xclose' is not close", "GET /" H11 "Connection: xclose\r\n\r\n", ALL, HTTP_METHOD_GET, 1,
     1, NULL, NULL},
    {"1.1 keep-alive", "GET /" H11 "Connection: keep-alive\r\n\r\n", ALL, HTTP_METHOD_GET, 1, 1,
     NULL, NULL},
    {"1.0 default is close", "GET / HTTP/1.0\r\n\r\n", ALL, HTTP_METHOD_GET, 0, 0, NULL, NULL},
    {"1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", ALL, HTTP_METHOD_GET, 0,
     1, NULL, NULL},
    {"1.0 Keep-Alive (case)", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", ALL,
     HTTP_METHOD_GET, 0, 1, NULL, NULL},
    {"1.0 keep-alive then close", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", ALL,
     HTTP_METHOD_GET, 0, 0, NULL, NULL},

    /* framing */
    {"pipelined: only the first head", "GET /a" H11 "\r\nGET /b" H11 "\r\n",
     (int)sizeof("GET /a" H11 "\r\n") - 1, HTTP_METHOD_GET, 1, 1, "/a", NULL},
    {"bytes after the head are not consumed", "GET /" H11 "\r\nxyz",
     (int)sizeof("GET /" H11 "\r\n") - 1, HTTP_METHOD_GET, 1, 1, NULL, NULL},
    {"absolute-form target kept raw", "GET http://h/a?q" H11 "\r\n", ALL, HTTP_METHOD_GET, 1, 1,
     "http://h/a?q", NULL},
    {"query kept in target", "GET /a?b=c&d" H11 "\r\n", ALL, HTTP_METHOD_GET, 1, 1, "/a?b=c&d",
     NULL},
    {"many headers",
     "GET /" H11 "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\nI: 9\r\nJ: "
     "10\r\nK: 11\r\nL: 12\r\n\r\n",
     ALL, HTTP_METHOD_GET, 1, 1, NULL, NULL},
};

static int slice_is(struct http_slice s, const char *want)
{
	size_t n = strlen(want);
	return s.ptr && s.len == n && memcmp(s.ptr, want, n) == 0;
}

static void check_row(const struct row *r)
{
	size_t len = strlen(r->in);
	struct guard g;
	struct http_request req;
	const char *buf = guard_put(&g, r->in, len);
	int got;

	memset(&req, 0xa5, sizeof req);
	got = http_parse_request(buf, len, &req);
	int want = r->want == ALL ? (int)len : r->want;
	if (r->want == ANY_NEG ? got >= 0 : got != want) {
		fail_row("%s: \"%s\" returned %d, want %d", r->name, show(r->in, len), got, want);
		guard_free(&g);
		return;
	}
	if (got > 0) {
		if (r->method != SAME && (int)req.method != r->method)
			fail_row("%s: method %d, want %d", r->name, req.method, r->method);
		if (r->minor != SAME && req.minor_version != r->minor)
			fail_row("%s: minor_version %d, want %d", r->name, req.minor_version,
				 r->minor);
		if (r->keep_alive != SAME && (int)req.keep_alive != r->keep_alive)
			fail_row("%s: keep_alive %d, want %d", r->name, req.keep_alive,
				 r->keep_alive);
		if (r->target && !slice_is(req.target, r->target))
			fail_row("%s: target \"%s\", want \"%s\"", r->name,
				 show(req.target.ptr, req.target.len), r->target);
		if (r->host && r->host[0] == '\0' && (req.has_host || req.host.ptr))
			fail_row("%s: host should be absent", r->name);
		if (r->host && r->host[0] && (!req.has_host || !slice_is(req.host, r->host)))
			fail_row("%s: host \"%s\" (has_host %d), want \"%s\"", r->name,
				 show(req.host.ptr, req.host.len), req.has_host, r->host);
	}
	guard_free(&g);
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		check_row(&rows[i]);
	ASSERT_NO_ROW_FAILURES();
}

/* Every proper prefix of a valid head is incomplete (0), never an error, never an over-read. */
static void test_every_prefix_incomplete(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct row *r = &rows[i];
		size_t len = strlen(r->in);
		if (r->want != ALL)
			continue;
		for (size_t n = 0; n < len; n++) {
			struct guard g;
			struct http_request req;
			const char *buf = guard_put(&g, r->in, n);
			int got = http_parse_request(buf, n, &req);
			if (got != 0)
				fail_row("%s: prefix of %zu bytes \"%s\" returned %d, want 0",
					 r->name, n, show(r->in, n), got);
			guard_free(&g);
		}
	}
	ASSERT_NO_ROW_FAILURES();
}

/* Each field the server uses is found (case-insensitively) and trimmed of OWS. */
static void test_fields(void **state)
{
	static const char head[] = "GET /f HTTP/1.1\r\n"
				   "host: h\r\n"
				   "IF-NONE-MATCH:  \"abc\"  \r\n"
				   "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
				   "Range:bytes=0-4\r\n"
				   "If-Range: \"abc\"\r\n"
				   "Accept-Encoding: gzip, br\r\n"
				   "Referer: http://r/\r\n"
				   "User-Agent: ua/1.0 (x)\r\n"
				   "X-Unknown: ignored\r\n"
				   "\r\n";
	struct guard g;
	struct http_request req;
	const char *buf = guard_put(&g, head, sizeof head - 1);

	(void)state;
	assert_int_equal(http_parse_request(buf, sizeof head - 1, &req), (int)sizeof head - 1);
	assert_true(slice_is(req.host, "h"));
	assert_int_equal(req.if_none_match.n, 1);
	assert_true(slice_is(req.if_none_match.line[0], "\"abc\""));
	assert_true(slice_is(req.if_modified_since, "Sun, 06 Nov 1994 08:49:37 GMT"));
	assert_true(slice_is(req.range, "bytes=0-4"));
	assert_true(slice_is(req.if_range, "\"abc\""));
	assert_int_equal(req.accept_encoding.n, 1);
	assert_true(slice_is(req.accept_encoding.line[0], "gzip, br"));
	assert_true(slice_is(req.referer, "http://r/"));
	assert_true(slice_is(req.user_agent, "ua/1.0 (x)"));
	assert_true(slice_is(req.method_name, "GET"));
	assert_int_equal(req.content_length, 0);
	assert_int_equal(req.chunked, 0);
	/* slices point into the caller's buffer: no copies */
	assert_true(req.target.ptr >= buf && req.target.ptr < buf + sizeof head);
	assert_true(req.host.ptr >= buf && req.host.ptr < buf + sizeof head);
	guard_free(&g);
}

static void test_absent_fields_are_null(void **state)
{
	static const char head[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
	struct http_request req;

	(void)state;
	memset(&req, 0xa5, sizeof req);
	assert_int_equal(http_parse_request(head, sizeof head - 1, &req), (int)sizeof head - 1);
	assert_int_equal(req.if_none_match.n, 0);
	assert_int_equal(req.if_match.n, 0);
	assert_null(req.if_unmodified_since.ptr);
	assert_null(req.if_modified_since.ptr);
	assert_null(req.range.ptr);
	assert_null(req.if_range.ptr);
	assert_int_equal(req.accept_encoding.n, 0);
	assert_null(req.referer.ptr);
	assert_null(req.user_agent.ptr);
	assert_int_equal(req.content_length, 0);
	assert_int_equal(req.chunked, 0);
}

static void test_content_length_and_chunked(void **state)
{
	static const char cl[] = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1234567\r\n\r\n";
	static const char same_twice[] =
	    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n";
	static const char te[] = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
	static const char te2[] =
	    "POST / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: Chunked;ext=1\r\n\r\n";
	struct http_request req;
	int got;

	(void)state;
	assert_int_equal(http_parse_request(cl, sizeof cl - 1, &req), (int)sizeof cl - 1);
	assert_int_equal(req.content_length, 1234567);
	assert_int_equal(req.chunked, 0);
	/* RFC 9112 6.3: identical repeated values may be accepted; a recipient may also reject */
	got = http_parse_request(same_twice, sizeof same_twice - 1, &req);
	assert_true(got == (int)sizeof same_twice - 1 || got == -400);
	if (got > 0)
		assert_int_equal(req.content_length, 5);
	assert_int_equal(http_parse_request(te, sizeof te - 1, &req), (int)sizeof te - 1);
	assert_int_equal(req.chunked, 1);
	assert_int_equal(http_parse_request(te2, sizeof te2 - 1, &req), (int)sizeof te2 - 1);
	assert_int_equal(req.chunked, 1);
}

/* Leading empty lines before the request line (RFC 9112 2.2: SHOULD ignore at least one). */
static void test_leading_crlf(void **state)
{
	static const char head[] = "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
	struct http_request req;

	(void)state;
	int got = http_parse_request(head, sizeof head - 1, &req);
	if (got != (int)sizeof head - 1)
		fail_row("leading CRLF: returned %d, want %zu (nginx ignores it)", got,
			 sizeof head - 1);
	ASSERT_NO_ROW_FAILURES();
}

static char *filled(size_t n, char c)
{
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* Build "GET /aaa... HTTP/1.1\r\nHost: h\r\n<extra>\r\n" with a target of tlen bytes. */
static size_t build(char *out, size_t cap, size_t tlen, const char *extra)
{
	char *t = filled(tlen, 'a');
	int n = snprintf(out, cap, "GET /%s HTTP/1.1\r\nHost: h\r\n%s\r\n", t, extra);
	free(t);
	assert_true(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

static void test_sizes(void **state)
{
	static char buf[3 * HTTP_MAX_HEAD];
	struct http_request req;
	struct guard g;
	size_t n;
	int got;

	(void)state;
	/* a long but acceptable request line */
	n = build(buf, sizeof buf, 2000, "");
	assert_int_equal(http_parse_request(guard_put(&g, buf, n), n, &req), (int)n);
	guard_free(&g);

	/* a complete head whose request line exceeds HTTP_MAX_REQUEST_LINE: 414 */
	n = build(buf, sizeof buf, HTTP_MAX_REQUEST_LINE + 100, "");
	got = http_parse_request(guard_put(&g, buf, n), n, &req);
	if (got != -414)
		fail_row("complete head, request line %d bytes: returned %d, want -414",
			 HTTP_MAX_REQUEST_LINE + 100, got);
	guard_free(&g);

	/* http_parse_overflow on a full buffer: the request line never ended -> 414 */
	n = HTTP_MAX_HEAD;
	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', n - 5);
	assert_int_equal(http_parse_overflow(guard_put(&g, buf, n), n), HTTP_URI_TOO_LONG);
	guard_free(&g);

	/* ...the request line ended but the headers did not -> 431 */
	n = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ");
	memset(buf + n, 'x', HTTP_MAX_HEAD - n);
	n = HTTP_MAX_HEAD;
	assert_int_equal(http_parse_overflow(guard_put(&g, buf, n), n), HTTP_HEADERS_TOO_LARGE);
	guard_free(&g);

	/* many small headers -> 431 too */
	n = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: h\r\n");
	while (n + 8 <= HTTP_MAX_HEAD)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "A: b\r\n");
	assert_int_equal(http_parse_overflow(guard_put(&g, buf, n), n), HTTP_HEADERS_TOO_LARGE);
	guard_free(&g);

	/* request line longer than HTTP_MAX_REQUEST_LINE but buffer short of full: 414 */
	n = HTTP_MAX_REQUEST_LINE + 50;
	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', n - 5);
	got = http_parse_request(guard_put(&g, buf, n), n, &req);
	if (got != -414 && got != 0)
		fail_row("unterminated request line of %zu bytes: returned %d, want -414 or 0", n,
			 got);
	if (got == 0 && http_parse_overflow(g.data, n) != HTTP_URI_TOO_LONG)
		fail_row("unterminated request line of %zu bytes: overflow is not 414", n);
	guard_free(&g);
	ASSERT_NO_ROW_FAILURES();
}

/* RFC 9110 5.3: list fields on several lines are one list, in order; a single-valued field
 * sent twice is an invalid list (kept empty, so it is ignored); too many lines are 431. */
static void test_repeated_fields(void **state)
{
	static const char head[] = "GET / HTTP/1.1\r\nHost: h\r\n"
				   "If-None-Match: \"a\"\r\nIf-Match: \"m\"\r\n"
				   "If-None-Match: \"b\", \"c\"\r\n"
				   "Accept-Encoding: br\r\nAccept-Encoding: gzip\r\n"
				   "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
				   "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
				   "Range: bytes=0-1\r\nRange: bytes=2-3\r\n"
				   "User-Agent: one\r\nUser-Agent: two\r\n\r\n";
	static const char five[] =
	    "GET / HTTP/1.1\r\nHost: h\r\nIf-Match: \"1\"\r\nIf-Match: "
	    "\"2\"\r\nIf-Match: \"3\"\r\nIf-Match: \"4\"\r\nIf-Match: \"5\"\r\n\r\n";
	struct http_request req;

	(void)state;
	assert_int_equal(http_parse_request(head, sizeof head - 1, &req), (int)sizeof head - 1);
	assert_int_equal(req.if_none_match.n, 2);
	assert_true(slice_is(req.if_none_match.line[1], "\"b\", \"c\""));
	assert_int_equal(req.if_match.n, 1);
	assert_true(http_etag_match(&req.if_none_match, "\"c\"", 3, HTTP_ETAG_WEAK));
	struct http_accept acc;
	http_accept_encoding(&req.accept_encoding, &acc);
	assert_int_equal(acc.q[HTTP_CODING_BR], 1000); /* "br" on the first line */
	assert_int_equal(acc.q[HTTP_CODING_GZIP], 1000);
	assert_non_null(req.if_modified_since.ptr);
	assert_int_equal(req.if_modified_since.len, 0);
	assert_non_null(req.range.ptr);
	assert_int_equal(req.range.len, 0);
	assert_true(slice_is(req.user_agent, "one"));
	assert_int_equal(http_parse_request(five, sizeof five - 1, &req), -431);
}

struct etag_row {
	const char *value;
	int want;
	int strong; /* 1: the If-Match comparison; 0: If-None-Match's weak one */
};

/* The weights Accept-Encoding gives br, zstd, gzip, identity (thousandths), and the coding
 * chosen when every variant exists and when only the .gz one does (RFC 9110 12.5.3). */
struct accept_row {
	const char *value; /* NULL: no Accept-Encoding field */
	uint16_t q[HTTP_CODINGS];
	enum http_coding all, gz_only;
};

#define BR HTTP_CODING_BR
#define ZS HTTP_CODING_ZSTD
#define GZ HTTP_CODING_GZIP
#define ID HTTP_CODING_IDENTITY

static const struct accept_row accept_rows[] = {
    {NULL, {0, 0, 0, 1000}, ID, ID},
    {"", {0, 0, 0, 1}, ID, ID},
    {"gzip", {0, 0, 1000, 1}, GZ, GZ},
    {"GZIP", {0, 0, 1000, 1}, GZ, GZ},
    {"x-gzip", {0, 0, 1000, 1}, GZ, GZ},
    {"X-GZip;q=0.5", {0, 0, 500, 1}, GZ, GZ},
    {"gzip, deflate, br", {1000, 0, 1000, 1}, BR, GZ},
    {"gzip, deflate, br, zstd", {1000, 1000, 1000, 1}, BR, GZ},
    {"zstd, gzip", {0, 1000, 1000, 1}, ZS, GZ},
    {"br;q=1.0, gzip;q=0.8", {1000, 0, 800, 1}, BR, GZ},
    {"br;q=0.5, zstd;q=0.9, gzip;q=0.8", {500, 900, 800, 1}, ZS, GZ},
    {"br;q=0.5,zstd;q=0.5,gzip;q=0.501", {500, 500, 501, 1}, GZ, GZ},
    {"deflate, gzip;q=0.5", {0, 0, 500, 1}, GZ, GZ},
    {"gzip;q=0", {0, 0, 0, 1}, ID, ID},
    {"gzip;q=0.0", {0, 0, 0, 1}, ID, ID},
    {"gzip; q=0.000", {0, 0, 0, 1}, ID, ID},
    {"gzip ;q=0", {0, 0, 0, 1}, ID, ID},
    {"gzip;Q=0", {0, 0, 0, 1}, ID, ID},
    {"gzip;q=0.001", {0, 0, 1, 1}, GZ, GZ},
    {"gzip;q=1.", {0, 0, 1000, 1}, GZ, GZ},
    {"gzip;q=0.", {0, 0, 0, 1}, ID, ID},
    {"br, gzip;q=0", {1000, 0, 0, 1}, BR, ID},
    {"identity", {0, 0, 0, 1000}, ID, ID},
    {"identity, gzip", {0, 0, 1000, 1000}, GZ, GZ},
    {"identity;q=1, gzip;q=0.9", {0, 0, 900, 1000}, ID, ID},
    {"gzip;q=0.5, identity;q=0.5", {0, 0, 500, 500}, GZ, GZ},
    {"identity;q=0", {0, 0, 0, 0}, ID, ID},
    {"*", {1000, 1000, 1000, 1000}, BR, GZ},
    {"*;q=0", {0, 0, 0, 0}, ID, ID},
    {"*;q=0, gzip", {0, 0, 1000, 0}, GZ, GZ},
    {"*;q=0, identity", {0, 0, 0, 1000}, ID, ID},
    {"*;q=0.3, br;q=0.2", {200, 300, 300, 300}, ZS, GZ},
    {"br;q=0, *", {0, 1000, 1000, 1000}, ZS, GZ},
    {"gzip;q=0, gzip", {0, 0, 0, 1}, ID, ID}, /* the first member counts */
    {"gzip, gzip;q=0", {0, 0, 1000, 1}, GZ, GZ},
    {"gzip;q=0, x-gzip", {0, 0, 0, 1}, ID, ID},
    /* a weight that is not the grammar's refuses its coding */
    {"gzip;q=1.5", {0, 0, 0, 1}, ID, ID},
    {"gzip;q=1.001", {0, 0, 0, 1}, ID, ID},
    {"gzip;q=0.1234", {0, 0, 0, 1}, ID, ID},
    {"gzip;q=-1", {0, 0, 0, 1}, ID, ID},
    {"gzip;q=.5", {0, 0, 0, 1}, ID, ID},
    {"gzip;q=", {0, 0, 0, 1}, ID, ID},
    {"gzip;q", {0, 0, 0, 1}, ID, ID},
    {"gzip;level=1", {0, 0, 0, 1}, ID, ID},
    {"gzip;q=1;q=1", {0, 0, 0, 1}, ID, ID},
    {"gzip q=1", {0, 0, 0, 1}, ID, ID},
    {"gzip;q=0.5x", {0, 0, 0, 1}, ID, ID},
    {"br;q=0.abc, gzip", {0, 0, 1000, 1}, GZ, GZ},
    {"gzipx", {0, 0, 0, 1}, ID, ID},
    {"xgzip, brotli, zst", {0, 0, 0, 1}, ID, ID},
    {"deflate;q=0.5;gzip", {0, 0, 0, 1}, ID, ID},
    {", ,gzip,", {0, 0, 1000, 1}, GZ, GZ},
    {"br ; q=0.7 ,gzip\t;\tq=0.7", {700, 0, 700, 1}, BR, GZ},
};

static void test_accept_encoding(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof accept_rows / sizeof accept_rows[0]; i++) {
		const struct accept_row *row = &accept_rows[i];
		const char *v = row->value ? row->value : "";
		struct guard g;
		struct http_list l = {{{guard_put(&g, v, strlen(v)), strlen(v)}},
				      row->value != NULL};
		struct http_accept a;
		http_accept_encoding(&l, &a);
		if (memcmp(a.q, row->q, sizeof a.q) != 0)
			fail_row("\"%s\": q = %u %u %u %u, want %u %u %u %u", v, a.q[0], a.q[1],
				 a.q[2], a.q[3], row->q[0], row->q[1], row->q[2], row->q[3]);
		enum http_coding all = http_coding_choose(&a, 7), gz = http_coding_choose(&a, 4);
		if (all != row->all || gz != row->gz_only)
			fail_row("\"%s\": chose %d / %d, want %d / %d", v, all, gz, row->all,
				 row->gz_only);
		guard_free(&g);
	}
	ASSERT_NO_ROW_FAILURES();
}

/* Several lines are one list, and the first member naming a coding counts across them. */
static void test_accept_encoding_lines(void **state)
{
	struct http_list l = {{{"gzip;q=0.2", 10}, {"br;q=0.1, gzip", 14}}, 2};
	struct http_accept a;

	(void)state;
	http_accept_encoding(&l, &a);
	assert_int_equal(a.q[HTTP_CODING_GZIP], 200);
	assert_int_equal(a.q[HTTP_CODING_BR], 100);
	assert_int_equal(http_coding_choose(&a, 7), HTTP_CODING_GZIP);
	assert_int_equal(http_coding_choose(&a, 1u << HTTP_CODING_ZSTD), HTTP_CODING_IDENTITY);
	assert_string_equal(http_coding_name(HTTP_CODING_ZSTD), "zstd");
	assert_null(http_coding_name(HTTP_CODING_IDENTITY));
}

static void test_etag_match(void **state)
{
	static const char etag[] = "\"5f1-abc\"";
	static const struct etag_row rows_inm[] = {
	    {"\"5f1-abc\"", 1, 0},
	    {"W/\"5f1-abc\"", 1, 0},
	    {"\"5f1-abc\"", 1, 1},
	    {"W/\"5f1-abc\"", 0, 1},
	    {"*", 1, 1},
	    {"\"x\", W/\"5f1-abc\"", 0, 1},
	    {"w/\"5f1-abc\"", 0, 0},
	    {"\"x\", \"5f1-abc\"", 1, 0},
	    {"\"x\",\"5f1-abc\"", 1, 0},
	    {"\"5f1-abc\", \"x\"", 1, 0},
	    {"*", 1, 0},
	    {"\"other\"", 0, 0},
	    {"\"5f1-ab\"", 0, 0},
	    {"\"5f1-abcd\"", 0, 0},
	    {"5f1-abc", 0, 0},
	    {"", 0, 0},
	    {"W/\"x\"", 0, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof rows_inm / sizeof rows_inm[0]; i++) {
		const char *v = rows_inm[i].value;
		struct guard g;
		struct http_list l = {{{guard_put(&g, v, strlen(v)), strlen(v)}}, 1};
		enum http_etag_cmp cmp = rows_inm[i].strong ? HTTP_ETAG_STRONG : HTTP_ETAG_WEAK;
		int got = http_etag_match(&l, etag, sizeof etag - 1, cmp) != 0;
		if (got != rows_inm[i].want)
			fail_row("If-(None-)Match \"%s\" vs %s (strong %d): %d, want %d", v, etag,
				 rows_inm[i].strong, got, rows_inm[i].want);
		guard_free(&g);
	}
	ASSERT_NO_ROW_FAILURES();
}

static void test_slice_eq(void **state)
{
	struct http_slice s = {"Keep-Alive", 10};
	struct http_slice shorter = {"keep", 4};
	struct http_slice none = {NULL, 0};

	(void)state;
	assert_true(http_slice_eq(s, "keep-alive"));
	assert_false(http_slice_eq(s, "keep-aliv"));
	assert_false(http_slice_eq(s, "keep-alives"));
	assert_false(http_slice_eq(shorter, "keep-alive"));
	assert_false(http_slice_eq(none, "x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    ROW_TEST(test_table),
	    ROW_TEST(test_every_prefix_incomplete),
	    ROW_TEST(test_fields),
	    ROW_TEST(test_absent_fields_are_null),
	    ROW_TEST(test_content_length_and_chunked),
	    ROW_TEST(test_leading_crlf),
	    ROW_TEST(test_sizes),
	    ROW_TEST(test_repeated_fields),
	    ROW_TEST(test_accept_encoding),
	    cmocka_unit_test(test_accept_encoding_lines),
	    ROW_TEST(test_etag_match),
	    ROW_TEST(test_slice_eq),
	};

	return cmocka_run_group_tests_name("http_parse", tests, NULL, NULL);
}
