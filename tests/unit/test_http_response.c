/* test_http_response.c — response heads and error bodies (server/http_response.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#include <cmocka.h>

#include "guard.h"
#include "http_response.h"

#define DATE "Sun, 06 Nov 1994 08:49:37 GMT"
#define LM "Sat, 05 Nov 1994 08:49:37 GMT"

static char head[4096];
static size_t head_len;

static size_t render(const struct http_response *r)
{
	memset(head, 'Z', sizeof head);
	head_len = http_response_head(head, sizeof head, r);
	assert_true(head_len > 0 && head_len < sizeof head);
	return head_len;
}

/* Whether the head has this exact line (field name case-insensitive, value exact). */
static int has_line(const char *line)
{
	size_t n = strlen(line);
	const char *colon = strchr(line, ':');
	size_t name_len = colon ? (size_t)(colon - line) : n;

	for (const char *p = head; p < head + head_len;) {
		const char *eol = memchr(p, '\r', (size_t)(head + head_len - p));
		if (!eol)
			return 0;
		if ((size_t)(eol - p) == n && strncasecmp(p, line, name_len) == 0 &&
		    memcmp(p + name_len, line + name_len, n - name_len) == 0)
			return 1;
		p = eol + 2;
	}
	return 0;
}

static int has_field(const char *name)
{
	size_t n = strlen(name);
	for (const char *p = head; p && p < head + head_len;) {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':')
			return 1;
		p = memchr(p, '\n', (size_t)(head + head_len - p));
		if (p)
			p++;
	}
	return 0;
}

static void assert_well_formed(void)
{
	assert_true(head_len >= 4);
	assert_memory_equal(head + head_len - 4, "\r\n\r\n", 4);
	for (size_t i = 0; i < head_len; i++) {
		unsigned char c = (unsigned char)head[i];
		if (c == '\n')
			assert_true(i > 0 && head[i - 1] == '\r');
		else if (c == '\r')
			assert_true(i + 1 < head_len && head[i + 1] == '\n');
		else
			assert_true(c >= 0x20 && c < 0x7f);
	}
	/* exactly one blank line, at the end */
	const char *blank = strstr(head, "\r\n\r\n");
	assert_ptr_equal(blank, head + head_len - 4);
}

static struct http_response base(enum http_status st)
{
	struct http_response r;
	memset(&r, 0, sizeof r);
	r.status = st;
	r.date = DATE;
	return r;
}

static void test_200(void **state)
{
	struct http_response r = base(HTTP_OK);

	(void)state;
	r.content_type = "text/plain; charset=utf-8";
	r.content_length = 12;
	r.last_modified = LM;
	r.etag = "\"c-5f1\"";
	r.keep_alive = 1;
	r.accept_ranges = 1;
	render(&r);
	assert_well_formed();
	assert_memory_equal(head, "HTTP/1.1 200 OK\r\n", 17);
	assert_true(has_line("Date: " DATE));
	assert_true(has_line("Content-Type: text/plain; charset=utf-8"));
	assert_true(has_line("Content-Length: 12"));
	assert_true(has_line("Last-Modified: " LM));
	assert_true(has_line("ETag: \"c-5f1\""));
	assert_true(has_line("Accept-Ranges: bytes"));
	assert_false(has_line("Connection: close"));
	assert_false(has_field("Content-Encoding"));
	assert_false(has_field("Vary"));
	assert_false(has_field("Allow"));
	assert_false(has_field("Location"));
	assert_false(has_field("Content-Range"));
	assert_false(has_field("Transfer-Encoding"));
}

static void test_optional_fields_absent(void **state)
{
	struct http_response r = base(HTTP_OK);

	(void)state;
	r.content_length = 0;
	render(&r);
	assert_well_formed();
	assert_true(has_line("Content-Length: 0"));
	assert_true(has_line("Date: " DATE));
	assert_false(has_field("Content-Type"));
	assert_false(has_field("Last-Modified"));
	assert_false(has_field("ETag"));
	assert_true(has_line("Connection: close"));
}

static void test_gzip_vary(void **state)
{
	struct http_response r = base(HTTP_OK);

	(void)state;
	r.content_type = "text/html; charset=utf-8";
	r.content_encoding = "gzip";
	r.vary = 1;
	r.content_length = 18446744073709551615ull;
	r.keep_alive = 1;
	render(&r);
	assert_well_formed();
	assert_true(has_line("Content-Encoding: gzip"));
	assert_true(has_line("Vary: Accept-Encoding"));
	assert_true(has_line("Content-Length: 18446744073709551615"));
}

static void test_206(void **state)
{
	struct http_response r = base(HTTP_PARTIAL);

	(void)state;
	r.content_type = "application/octet-stream";
	r.range_first = 100;
	r.range_last = 199;
	r.size = 1048576;
	r.content_length = 100;
	r.keep_alive = 1;
	r.accept_ranges = 1;
	render(&r);
	assert_well_formed();
	assert_memory_equal(head, "HTTP/1.1 206 Partial Content\r\n", 30);
	assert_true(has_line("Content-Range: bytes 100-199/1048576"));
	assert_true(has_line("Content-Length: 100"));
}

static void test_416(void **state)
{
	struct http_response r = base(HTTP_RANGE_NOT_SATISFIABLE);

	(void)state;
	r.size = 10;
	render(&r);
	assert_well_formed();
	assert_memory_equal(head, "HTTP/1.1 416 Range Not Satisfiable\r\n", 36);
	assert_true(has_line("Content-Range: bytes */10"));
}

static void test_301(void **state)
{
	struct http_response r = base(HTTP_MOVED);

	(void)state;
	r.location.ptr = "sub";
	r.location.len = 3;
	render(&r);
	assert_well_formed();
	assert_memory_equal(head, "HTTP/1.1 301 Moved Permanently\r\n", 32);
	assert_true(has_line("Location: /sub/"));

	/* the decoded path is encoded again; the query is kept as sent */
	r.location.ptr = "a b/c%?ignored";
	r.location.len = 6;
	r.query.ptr = "x=1&y=%2F";
	r.query.len = 9;
	render(&r);
	assert_well_formed();
	assert_true(has_line("Location: /a%20b/c%25/?x=1&y=%2F"));

	/* a path that looks like a host stays a path on this server */
	r.location.ptr = "example.com\\x";
	r.location.len = 13;
	r.query.len = 0;
	render(&r);
	assert_true(has_line("Location: /example.com%5Cx/"));
}

static void test_405(void **state)
{
	struct http_response r = base(HTTP_METHOD_NOT_ALLOWED);

	(void)state;
	r.allow = 1;
	render(&r);
	assert_well_formed();
	assert_memory_equal(head, "HTTP/1.1 405 Method Not Allowed\r\n", 33);
	assert_true(has_line("Allow: GET, HEAD"));
}

static void test_304(void **state)
{
	struct http_response r = base(HTTP_NOT_MODIFIED);

	(void)state;
	r.etag = "\"e\"";
	r.last_modified = LM;
	r.keep_alive = 1;
	render(&r);
	assert_well_formed();
	assert_memory_equal(head, "HTTP/1.1 304 Not Modified\r\n", 27);
	assert_true(has_line("ETag: \"e\""));
}

/* RFC 9110 15.4.5: a 304 carries Date, ETag and Vary, and no other representation metadata. */
static void test_304_fields(void **state)
{
	struct http_response r = base(HTTP_NOT_MODIFIED);

	(void)state;
	r.etag = "\"e\"";
	r.last_modified = LM;
	r.content_type = "text/html; charset=utf-8";
	r.content_encoding = "gzip";
	r.content_length = 123;
	r.accept_ranges = 1;
	r.vary = 1;
	r.keep_alive = 1;
	render(&r);
	assert_well_formed();
	assert_true(has_line("ETag: \"e\""));
	assert_true(has_line("Date: " DATE));
	assert_true(has_line("Vary: Accept-Encoding"));
	assert_false(has_field("Content-Type"));
	assert_false(has_field("Content-Encoding"));
	assert_false(has_field("Content-Length"));
	assert_false(has_field("Last-Modified"));
	assert_false(has_field("Accept-Ranges"));
}

/* 412 has its reason and page; the 505 page says which versions are spoken (RFC 9110 15.6.6). */
static void test_412_505(void **state)
{
	char buf[512];
	size_t n;

	(void)state;
	assert_string_equal(http_reason(HTTP_PRECONDITION_FAILED), "Precondition Failed");
	n = http_error_body(buf, sizeof buf - 1, HTTP_VERSION_NOT_SUPPORTED);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "HTTP/1.1 and HTTP/1.0"));
	/* conn.c's error page buffer is 256 bytes */
	assert_true(n > 0 && n < 256);
}

/* Too small a buffer returns 0 and never writes past cap. */
static void test_capacity(void **state)
{
	struct http_response r = base(HTTP_PARTIAL);
	char buf[1024];

	(void)state;
	r.content_type = "text/html; charset=utf-8";
	r.last_modified = LM;
	r.etag = "\"abc\"";
	r.range_first = 1;
	r.range_last = 2;
	r.size = 3;
	r.content_length = 2;
	r.vary = 1;
	r.content_encoding = "gzip";
	size_t full = render(&r);
	for (size_t cap = 0; cap < full; cap++) {
		memset(buf, 'Z', sizeof buf);
		size_t got = http_response_head(buf, cap, &r);
		if (got != 0)
			fail_row("cap %zu (< %zu): returned %zu, want 0", cap, full, got);
		for (size_t i = cap; i < sizeof buf; i++)
			if (buf[i] != 'Z') {
				fail_row("cap %zu: wrote buf[%zu]", cap, i);
				break;
			}
	}
	assert_int_equal(http_response_head(buf, full + 1, &r), full);
	ASSERT_NO_ROW_FAILURES();
}

static void test_reasons(void **state)
{
	static const struct {
		enum http_status st;
		const char *reason;
	} reasons[] = {
	    {HTTP_OK, "OK"},
	    {HTTP_PARTIAL, "Partial Content"},
	    {HTTP_MOVED, "Moved Permanently"},
	    {HTTP_NOT_MODIFIED, "Not Modified"},
	    {HTTP_PRECONDITION_FAILED, "Precondition Failed"},
	    {HTTP_BAD_REQUEST, "Bad Request"},
	    {HTTP_FORBIDDEN, "Forbidden"},
	    {HTTP_NOT_FOUND, "Not Found"},
	    {HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed"},
	    {HTTP_REQUEST_TIMEOUT, "Request Timeout"},
	    {HTTP_URI_TOO_LONG, "URI Too Long"},
	    {HTTP_RANGE_NOT_SATISFIABLE, "Range Not Satisfiable"},
	    {HTTP_HEADERS_TOO_LARGE, "Request Header Fields Too Large"},
	    {HTTP_INTERNAL_ERROR, "Internal Server Error"},
	    {HTTP_NOT_IMPLEMENTED, "Not Implemented"},
	    {HTTP_SERVICE_UNAVAILABLE, "Service Unavailable"},
	    {HTTP_VERSION_NOT_SUPPORTED, "HTTP Version Not Supported"},
	    {(enum http_status)299, ""},
	};

	(void)state;
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
		const char *got = http_reason(reasons[i].st);
		if (!got || strcmp(got, reasons[i].reason) != 0)
			fail_row("reason(%d) = \"%s\", want \"%s\"", reasons[i].st,
				 got ? got : "(null)", reasons[i].reason);
	}
	ASSERT_NO_ROW_FAILURES();
}

static void test_error_body(void **state)
{
	static const enum http_status sts[] = {
	    HTTP_BAD_REQUEST,		HTTP_FORBIDDEN,		  HTTP_NOT_FOUND,
	    HTTP_METHOD_NOT_ALLOWED,	HTTP_URI_TOO_LONG,	  HTTP_HEADERS_TOO_LARGE,
	    HTTP_VERSION_NOT_SUPPORTED, HTTP_PRECONDITION_FAILED, HTTP_NOT_IMPLEMENTED};
	char buf[2048];

	(void)state;
	for (size_t i = 0; i < sizeof sts / sizeof sts[0]; i++) {
		char code[8];
		memset(buf, 0, sizeof buf);
		size_t n = http_error_body(buf, sizeof buf - 1, sts[i]);
		snprintf(code, sizeof code, "%d", sts[i]);
		if (n == 0 || n >= sizeof buf - 1 || !strstr(buf, code) ||
		    !strstr(buf, http_reason(sts[i])))
			fail_row("error body for %d: \"%s\"", sts[i], show(buf, n));
		for (size_t cap = 0; cap < n; cap++) {
			char small[2048];
			memset(small, 'Z', sizeof small);
			size_t got = http_error_body(small, cap, sts[i]);
			if (got != 0 || small[cap] != 'Z') {
				fail_row(
				    "error body %d with cap %zu: returned %zu or wrote past cap",
				    sts[i], cap, got);
				break;
			}
		}
	}
	ASSERT_NO_ROW_FAILURES();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    ROW_TEST(test_200),	       ROW_TEST(test_optional_fields_absent),
	    ROW_TEST(test_gzip_vary),  ROW_TEST(test_206),
	    ROW_TEST(test_416),	       ROW_TEST(test_301),
	    ROW_TEST(test_405),	       ROW_TEST(test_304),
	    ROW_TEST(test_304_fields), ROW_TEST(test_412_505),
	    ROW_TEST(test_capacity),   ROW_TEST(test_reasons),
	    ROW_TEST(test_error_body),
	};

	return cmocka_run_group_tests_name("http_response", tests, NULL, NULL);
}
