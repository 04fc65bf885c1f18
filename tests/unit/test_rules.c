/*
 * test_rules.c — the HTTP rules (server/rules.h): raw requests in, response plans out (status,
 * key header fields, body kind and bytes), over a small directory tree the test makes: files,
 * index.html, a directory without one, dotfiles and a symlink to one, .br, .zst and .gz variants.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "guard.h"
#include "autoindex.h"
#include "rules.h"

static const char hello[] = "hello world\n"; /* 12 bytes */
static const char index_page[] = "<!DOCTYPE html><title>home</title>\n";
static const char css[] = "body { color: black; }\n";
static const char css_gz[] = "not really gzip, but the variant\n";
static const char css_br[] = "the br variant\n";
static const char js[] = "let x = 1;\n";
static const char js_zst[] = "the zstd variant\n";

struct tree_file {
	const char *path;
	const char *content; /* NULL: a directory */
};

static const struct tree_file tree[] = {
    {"hello.txt", hello},
    {"index.html", index_page},
    {"docs", NULL},
    {"docs/index.html", index_page},
    {"empty", NULL},
    {"sp ace", NULL},
    {"sp ace/index.html", index_page},
    {".secret", "dotfile\n"},
    {"style.css", css},
    {"style.css.gz", css_gz},
    {"style.css.br", css_br},
    {"app.js", js},
    {"app.js.zst", js_zst},
    {"errors", NULL},
    {"errors/404.html", "<h1>our own 404</h1>\n"},
    {".well-known", NULL},
    {".well-known/acme-challenge", NULL},
    {".well-known/acme-challenge/tok", "tok.thumb"},
    {"list", NULL},
    {"list/b.txt", "b"},
    {"list/a dir", NULL},
    {"list/<script>\".txt", "x"},
    {"list/.hidden", "h"},
    {"acme", NULL},
    {"acme/.well-known", NULL},
    {"acme/.well-known/acme-challenge", NULL},
    {"acme/.well-known/acme-challenge/tok2", "tok2.thumb"},
};

/* Sites with per-site options: one that redirects HTTP to HTTPS with HSTS, and a single-page
 * application with a fallback, error pages, the security preset and a --header. */
static const struct config_site s_redirect = {
    .names = "www.t,t",
    .hsts = "max-age=60; includeSubDomains",
    .redirect_https = 1,
};
static const struct config_site s_wild = {.names = "*.w.t", .redirect_https = 1};
static const struct config_site s_acme = {
    .names = "acme.t",
    .redirect_https = 1,
    .acme_root = "(the test's acme/ directory: acme_fd)",
};
static const struct config_site s_index = {.names = "index.t", .autoindex = 1};
static const struct config_site s_spa = {
    .names = "spa.t",
    .fallback = "/index.html",
    .error_pages = "/errors",
    .security_headers = 1,
    .headers = {{"/*.txt", "Cache-Control: no-cache", 13, "no-cache"}},
    .n_headers = 1,
};

static char root[64];
static int root_fd = -1;
static int acme_fd = -1; /* root/acme, the --acme-root of s_acme */
static struct fcache fc;
static char scratch[FILE_PATH_MAX];
static char listing[AUTOINDEX_PAGE_MAX]; /* ctx->listing */

static void write_file(const char *path, const char *content)
{
	int fd = openat(root_fd, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content))
		abort();
	close(fd);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof root, "/tmp/test_rules.XXXXXX");
	if (!mkdtemp(root) || (root_fd = open(root, O_DIRECTORY | O_RDONLY)) < 0)
		return -1;
	for (size_t i = 0; i < sizeof tree / sizeof tree[0]; i++) {
		if (tree[i].content)
			write_file(tree[i].path, tree[i].content);
		else if (mkdirat(root_fd, tree[i].path, 0755) < 0)
			return -1;
	}
	if ((acme_fd = openat(root_fd, "acme", O_PATH | O_DIRECTORY)) < 0 ||
	    symlinkat(".secret", root_fd, "link-to-secret") < 0 ||
	    symlinkat("../.secret", root_fd, "list/link-sec") < 0 ||
	    symlinkat("/etc", root_fd, "list/out") < 0 ||
	    symlinkat("../hello.txt", root_fd, "list/in") < 0 ||
	    symlinkat("hello.txt", root_fd, "link-to-hello") < 0)
		return -1;
	return fcache_init(&fc);
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	fcache_free(&fc);
	close(acme_fd);
	close(root_fd);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

struct row {
	const char *request; /* a raw head; one that does not parse is planned as unparsed */
	int draining;
	enum http_status status;
	enum rules_body body;
	const char *bytes; /* the body's bytes (a file range), NULL: not checked */
	int keep_alive;
	const char *has[5]; /* substrings of the written head; "!x": x is not in it */
};

#define GET(path, fields) "GET " path " HTTP/1.1\r\nHost: t\r\n" fields "\r\n"
#define HEAD(path, fields) "HEAD " path " HTTP/1.1\r\nHost: t\r\n" fields "\r\n"
#define BYTES RULES_BODY_BYTES
#define FILE_ RULES_BODY_FILE
#define NONE RULES_BODY_NONE

static const struct row rows[] = {
    /* files, index.html, HEAD */
    {GET("/hello.txt", ""),
     0,
     200,
     FILE_,
     hello,
     1,
     {"Content-Length: 12\r\n", "Content-Type: text/plain; charset=utf-8\r\n", "ETag: \"",
      "!Connection:", "Vary: Accept-Encoding"}},
    {HEAD("/hello.txt", ""), 0, 200, NONE, NULL, 1, {"Content-Length: 12\r\n", "Last-Modified: "}},
    {GET("/", ""), 0, 200, FILE_, index_page, 1, {"Content-Type: text/html"}},
    {GET("/docs/", ""), 0, 200, FILE_, index_page, 1, {"Vary: Accept-Encoding\r\n"}},
    {GET("/link-to-hello", ""), 0, 200, FILE_, hello, 1, {"application/octet-stream", "!Vary:"}},
    /* the 301 to the slash form: Location from the normalised path, the query as sent */
    {GET("/docs", ""), 0, 301, NONE, NULL, 1, {"Location: /docs/\r\n", "!?"}},
    {GET("/docs?x=1&y=%20", ""), 0, 301, NONE, NULL, 1, {"Location: /docs/?x=1&y=%20\r\n"}},
    {GET("/./docs/../docs?", ""), 0, 301, NONE, NULL, 1, {"Location: /docs/\r\n"}},
    {GET("/sp%20ace", ""), 0, 301, NONE, NULL, 1, {"Location: /sp%20ace/\r\n"}},
    {GET("/empty", ""), 0, 301, NONE, NULL, 1, {"Location: /empty/\r\n"}},
    {"GET http://t/docs?q HTTP/1.1\r\nHost: t\r\n\r\n",
     0,
     301,
     NONE,
     NULL,
     1,
     {"Location: /docs/?q\r\n"}},
    /* errors that keep the connection */
    {GET("/empty/", ""), 0, 403, BYTES, NULL, 1, {"Content-Type: text/html; charset=utf-8\r\n"}},
    {GET("/missing", ""), 0, 404, BYTES, NULL, 1, {"Content-Length: "}},
    {GET("/hello.txt/", ""), 0, 404, BYTES, NULL, 1, {"Content-Length: "}},
    {GET("/.secret", ""), 0, 404, BYTES, NULL, 1, {"Content-Length: "}},
    {GET("/link-to-secret", ""), 0, 404, BYTES, NULL, 1, {"Content-Length: "}},
    {HEAD("/missing", ""), 0, 404, NONE, NULL, 1, {"Content-Length: "}},
    {"DELETE /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n",
     0,
     405,
     BYTES,
     NULL,
     1,
     {"Allow: GET, HEAD\r\n"}},
    /* errors that close it */
    {"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\n",
     0,
     405,
     BYTES,
     NULL,
     0,
     {"Allow: GET, HEAD\r\n", "Connection: close\r\n"}},
    {"BREW /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n",
     0,
     501,
     BYTES,
     NULL,
     0,
     {"Connection: close\r\n"}},
    {"GET /hello.txt HTTP/2.0\r\nHost: t\r\n\r\n",
     0,
     505,
     BYTES,
     NULL,
     0,
     {"Connection: close\r\n"}},
    {GET("/../hello.txt", ""), 0, 400, BYTES, NULL, 0, {"Connection: close\r\n"}},
    /* the .gz variant */
    {GET("/style.css", "Accept-Encoding: gzip\r\n"),
     0,
     200,
     FILE_,
     css_gz,
     1,
     {"Content-Encoding: gzip\r\n", "Vary: Accept-Encoding\r\n", "Content-Type: text/css"}},
    {GET("/style.css", "Accept-Encoding: gzip, br\r\n"),
     0,
     200,
     FILE_,
     css_br,
     1,
     {"Content-Encoding: br\r\n", "Vary: Accept-Encoding\r\n", "Content-Type: text/css"}},
    {GET("/style.css", "Accept-Encoding: gzip, br;q=0.9, zstd\r\n"),
     0,
     200,
     FILE_,
     css_gz,
     1,
     {"Content-Encoding: gzip\r\n"}},
    {GET("/app.js", "Accept-Encoding: br, gzip, zstd\r\n"),
     0,
     200,
     FILE_,
     js_zst,
     1,
     {"Content-Encoding: zstd\r\n", "Vary: Accept-Encoding\r\n"}},
    {GET("/app.js", "Accept-Encoding: br, gzip\r\n"),
     0,
     200,
     FILE_,
     js,
     1,
     {"Vary: Accept-Encoding\r\n", "!Content-Encoding"}},
    {GET("/style.css", "Accept-Encoding: gzip;q=0\r\n"),
     0,
     200,
     FILE_,
     css,
     1,
     {"Vary: Accept-Encoding\r\n", "!Content-Encoding"}},
    {GET("/style.css", ""),
     0,
     200,
     FILE_,
     css,
     1,
     {"Vary: Accept-Encoding\r\n", "!Content-Encoding"}},
    /* ranges */
    {GET("/hello.txt", "Range: bytes=6-10\r\n"),
     0,
     206,
     FILE_,
     "world",
     1,
     {"Content-Range: bytes 6-10/12\r\n", "Content-Length: 5\r\n"}},
    {GET("/hello.txt", "Range: bytes=-3\r\n"),
     0,
     206,
     FILE_,
     "ld\n",
     1,
     {"Content-Range: bytes 9-11/12\r\n"}},
    {HEAD("/hello.txt", "Range: bytes=6-10\r\n"),
     0,
     200,
     NONE,
     NULL,
     1,
     {"Content-Length: 12\r\n", "!Content-Range"}},
    {GET("/hello.txt", "Range: bytes=20-30\r\n"),
     0,
     416,
     BYTES,
     NULL,
     1,
     {"Content-Range: bytes */12\r\n"}},
    {GET("/hello.txt", "Range: bytes=6-10\r\nIf-Range: \"other\"\r\n"),
     0,
     200,
     FILE_,
     hello,
     1,
     {"Content-Length: 12\r\n"}},
    /* conditionals */
    {GET("/hello.txt", "If-None-Match: *\r\n"),
     0,
     304,
     NONE,
     NULL,
     1,
     {"ETag: ", "!Content-Length", "!Last-Modified"}},
    {GET("/hello.txt", "If-Modified-Since: Fri, 31 Dec 9999 23:59:59 GMT\r\n"),
     0,
     304,
     NONE,
     NULL,
     1,
     {"ETag: "}},
    {GET("/hello.txt", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"),
     0,
     200,
     FILE_,
     hello,
     1,
     {"Last-Modified: "}},
    {GET("/hello.txt", "If-Match: \"nope\"\r\n"), 0, 412, BYTES, NULL, 1, {"Content-Length: "}},
    {GET("/hello.txt", "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"),
     0,
     412,
     BYTES,
     NULL,
     1,
     {"Content-Length: "}},
    /* the keep-alive decision */
    {GET("/hello.txt", "Connection: close\r\n"),
     0,
     200,
     FILE_,
     hello,
     0,
     {"Connection: close\r\n"}},
    {GET("/hello.txt", ""), 1, 200, FILE_, hello, 0, {"Connection: close\r\n"}},
    {"GET /hello.txt HTTP/1.0\r\n\r\n", 0, 200, FILE_, hello, 0, {"Connection: close\r\n"}},
    {"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
     0,
     200,
     FILE_,
     hello,
     1,
     {"Connection: keep-alive\r\n"}},
    {"GET /docs HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
     0,
     301,
     NONE,
     NULL,
     0,
     {"Connection: close\r\n"}},
};

/* Rows for sites with per-site options, over HTTP (0) or HTTPS (1). */
struct site_row {
	struct row r;
	const struct config_site *site;
	int https;
};

static const struct site_row site_rows[] = {
    /* --redirect-https: the same target on https, the host without its port, the HTTPS
     * listener's port; not the ACME challenges; HSTS over TLS only, on every status */
    {{"GET /a/../hello.txt?q=%41 HTTP/1.1\r\nHost: t:8080\r\n\r\n",
      0,
      301,
      NONE,
      NULL,
      1,
      {"Location: https://t:8443/a/../hello.txt?q=%41\r\n", "!Strict-Transport"}},
     &s_redirect,
     0},
    {{"GET //evil.example/ HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
      0,
      301,
      NONE,
      NULL,
      1,
      {"Location: https://[::1]:8443//evil.example/\r\n"}},
     &s_redirect,
     0},
    {{"GET / HTTP/1.0\r\n\r\n", 0, 301, NONE, NULL, 0, {"Location: https://www.t:8443/\r\n"}},
     &s_redirect,
     0},
    {{GET("/.well-known/acme-challenge/tok", ""),
      0,
      200,
      FILE_,
      "tok.thumb",
      1,
      {"!Location", "!Strict-Transport"}},
     &s_redirect,
     0},
    {{GET("/.well-known/acme-challenge/nope", ""), 0, 404, BYTES, NULL, 1, {"!Location"}},
     &s_redirect,
     0},
    /* no Host, and no exact name to put in Location: 400, never a wildcard */
    {{"GET / HTTP/1.0\r\n\r\n", 0, 400, BYTES, NULL, 0, {"!Location"}}, &s_wild, 0},
    {{"GET / HTTP/1.0\r\nHost: a.w.t\r\n\r\n",
      0,
      301,
      NONE,
      NULL,
      0,
      {"Location: https://a.w.t:8443/\r\n"}},
     &s_wild,
     0},
    /* --acme-root: the challenges from there only, over HTTP and HTTPS */
    {{GET("/.well-known/acme-challenge/tok2", ""), 0, 200, FILE_, "tok2.thumb", 1, {"!Location"}},
     &s_acme,
     0},
    {{GET("/.well-known/acme-challenge/tok2", ""), 0, 200, FILE_, "tok2.thumb", 1, {"!Location"}},
     &s_acme,
     1},
    {{GET("/.well-known/acme-challenge/tok", ""), 0, 404, BYTES, NULL, 1, {"!Location"}},
     &s_acme,
     0},
    {{GET("/hello.txt", ""), 0, 301, NONE, NULL, 1, {"Location: https://t:8443/hello.txt\r\n"}},
     &s_acme,
     0},
    {{"DELETE / HTTP/1.1\r\nHost: t\r\n\r\n", 0, 405, BYTES, NULL, 1, {"!Location"}},
     &s_redirect,
     0},
    {{GET("/hello.txt", ""),
      0,
      200,
      FILE_,
      hello,
      1,
      {"Strict-Transport-Security: max-age=60; includeSubDomains\r\n", "!Location"}},
     &s_redirect,
     1},
    {{GET("/missing", ""), 0, 404, BYTES, NULL, 1, {"Strict-Transport-Security: "}},
     &s_redirect,
     1},
    {{GET("/docs", ""), 0, 301, NONE, NULL, 1, {"Location: /docs/\r\n", "Strict-Transport"}},
     &s_redirect,
     1},
    /* --fallback: missing non-asset paths get the shell; assets, dotfiles keep their 404 */
    {{GET("/route/42", ""), 0, 200, FILE_, index_page, 1, {"ETag: \"", "Content-Type: text/html"}},
     &s_spa,
     1},
    {{HEAD("/route/42", ""), 0, 200, NONE, NULL, 1, {"Content-Length: 35\r\n"}}, &s_spa, 1},
    {{GET("/route/42", "If-None-Match: *\r\n"), 0, 304, NONE, NULL, 1, {"ETag: "}}, &s_spa, 1},
    /* --error-pages: the site's page with the error's status, no validators, no range */
    {{GET("/missing.png", "Range: bytes=0-1\r\n"),
      0,
      404,
      FILE_,
      "<h1>our own 404</h1>\n",
      1,
      {"Content-Length: 21\r\n", "!ETag", "!Last-Modified", "!Accept-Ranges", "!Content-Range"}},
     &s_spa,
     1},
    {{HEAD("/missing.png", ""), 0, 404, NONE, NULL, 1, {"Content-Length: 21\r\n"}}, &s_spa, 1},
    {{GET("/.secret", ""), 0, 404, FILE_, "<h1>our own 404</h1>\n", 1, {"!ETag"}}, &s_spa, 1},
    {{GET("/empty/", ""), 0, 403, BYTES, NULL, 1, {"Content-Type: text/html"}}, &s_spa, 1},
    /* --autoindex: sorted in byte order, escaped, no dotfiles, no symlink out of the root or
     * to a dotfile; index.html still wins; without the option, 403 */
    {{GET("/list/", ""),
      0,
      200,
      RULES_BODY_LISTING,
      "<!DOCTYPE html>\n<meta charset=\"utf-8\">\n<title>Index of /list/</title>\n"
      "<h1>Index of /list/</h1>\n<ul>\n<li><a href=\"../\">../</a>\n"
      "<li><a href=\"./%3Cscript%3E%22.txt\">&lt;script&gt;&quot;.txt</a>\n"
      "<li><a href=\"./a%20dir/\">a dir/</a>\n<li><a href=\"./b.txt\">b.txt</a>\n"
      "<li><a href=\"./in\">in</a>\n</ul>\n",
      1,
      {"Content-Type: text/html; charset=utf-8\r\n", "!ETag", "!Last-Modified"}},
     &s_index,
     0},
    {{HEAD("/list/", ""), 0, 200, NONE, NULL, 1, {"Content-Length: 291\r\n"}}, &s_index, 0},
    {{GET("/list", ""), 0, 301, NONE, NULL, 1, {"Location: /list/\r\n"}}, &s_index, 0},
    {{GET("/docs/", ""), 0, 200, FILE_, index_page, 1, {"ETag: "}}, &s_index, 0},
    {{GET("/list/", ""), 0, 403, BYTES, NULL, 1, {"!ETag"}}, &s_spa, 0},
    /* --header on 2xx/304 whose path matches, the preset on every status */
    {{GET("/hello.txt", ""),
      0,
      200,
      FILE_,
      hello,
      1,
      {"Cache-Control: no-cache\r\n", "X-Content-Type-Options: nosniff\r\n",
       "Referrer-Policy: strict-origin-when-cross-origin\r\n",
       "Content-Security-Policy: frame-ancestors 'self'\r\n"}},
     &s_spa,
     1},
    {{GET("/nope.txt", ""),
      0,
      404,
      FILE_,
      NULL,
      1,
      {"!Cache-Control", "X-Content-Type-Options: nosniff\r\n"}},
     &s_spa,
     1},
    {{GET("/style.css", ""), 0, 200, FILE_, css, 1, {"!Cache-Control"}}, &s_spa, 1},
};

/* The request line of a raw head, for messages. */
static const char *line(const char *request)
{
	return show(request, strcspn(request, "\r"));
}

static int plan_row(const struct row *r, const struct config_site *site, int https,
		    struct rules_plan *p, struct http_request *req)
{
	const struct rules_ctx ctx = {
	    .fc = &fc,
	    .root_fd = root_fd,
	    .acme_fd = acme_fd,
	    .listing = listing,
	    .now = (double)time(NULL),
	    .date = "Sun, 06 Nov 1994 08:49:37 GMT",
	    .path = scratch,
	    .draining = r->draining,
	    .site = site,
	    .https = https,
	    .https_port = 8443,
	};
	int n = http_parse_request(r->request, strlen(r->request), req);

	if (n > 0)
		rules_plan_request(&ctx, req, p);
	else if (n < 0)
		rules_plan_unparsed(&ctx, (enum http_status) - n, p);
	return n;
}

/* The body as the plan gives it: the file range read back, or the fixed bytes. */
static size_t plan_body(const struct rules_plan *p, char *buf, size_t cap)
{
	if (p->body_len > cap)
		return 0;
	if (p->body == RULES_BODY_BYTES) {
		memcpy(buf, p->page, p->body_len);
		return p->body_len;
	}
	if (p->body == RULES_BODY_LISTING) {
		memcpy(buf, listing, p->body_len);
		return p->body_len;
	}
	if (p->body == RULES_BODY_FILE &&
	    pread(p->file.fd, buf, p->body_len, (off_t)p->file_off) == (ssize_t)p->body_len)
		return p->body_len;
	return 0;
}

static void check_body(const struct row *r, const struct rules_plan *p)
{
	char body[512];
	size_t n = plan_body(p, body, sizeof body);

	if ((p->body == RULES_BODY_FILE) != (p->file.fd >= 0))
		fail_row("%s: body kind %d with file fd %d", line(r->request), p->body, p->file.fd);
	if (p->body != RULES_BODY_NONE && n != p->body_len)
		fail_row("%s: body of %llu bytes not readable", line(r->request),
			 (unsigned long long)p->body_len);
	if (r->bytes && (n != strlen(r->bytes) || memcmp(body, r->bytes, n) != 0))
		fail_row("%s: body \"%s\", want \"%s\"", line(r->request), show(body, n), r->bytes);
	if (p->body == RULES_BODY_BYTES && p->head.status >= 400 &&
	    !memmem(body, n, http_reason(p->head.status), strlen(http_reason(p->head.status))))
		fail_row("%s: error page does not name %d", line(r->request), p->head.status);
}

static void check_head(const struct row *r, const struct rules_plan *p)
{
	char head[1024];
	size_t n = http_response_head(head, sizeof head, &p->head);

	head[n] = '\0';
	if (n == 0)
		fail_row("%s: head does not fit", line(r->request));
	for (size_t i = 0; i < 5 && r->has[i]; i++) {
		int absent = r->has[i][0] == '!';
		const char *want = r->has[i] + absent;
		if ((strstr(head, want) == NULL) != absent)
			fail_row("%s: head %s \"%s\":\n%s", line(r->request),
				 absent ? "holds" : "lacks", show(want, strlen(want)), head);
	}
}

/* Plans one row and checks status, body kind, keep-alive, body and head. */
static void check_row(const struct row *r, const struct config_site *site, int https)
{
	struct http_request req;
	struct rules_plan p;

	if (plan_row(r, site, https, &p, &req) == 0) {
		fail_row("%s: incomplete head", line(r->request));
		return;
	}
	if (p.head.status != r->status || p.body != r->body ||
	    (int)p.head.keep_alive != r->keep_alive)
		fail_row("%s: status %d body %d keep-alive %d, want %d %d %d", line(r->request),
			 p.head.status, p.body, p.head.keep_alive, r->status, r->body,
			 r->keep_alive);
	check_body(r, &p);
	check_head(r, &p);
	fcache_release(&fc, &p.file);
}

static void test_plans(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		check_row(&rows[i], NULL, 0);
	ASSERT_NO_ROW_FAILURES();
}

/* --redirect-https, --acme-root, --hsts, --fallback, --error-pages, --header and
 * --security-headers: each option's plans, in the sites above. */
static void test_site_options(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof site_rows / sizeof site_rows[0]; i++)
		check_row(&site_rows[i].r, site_rows[i].site, site_rows[i].https);
	ASSERT_NO_ROW_FAILURES();
}

/* Whether the listing's entries "./file-NNNN" come in increasing order; counts them. */
static int ascending(const char *page, size_t len, int *count)
{
	const char *p = page, *end = page + len;
	int last = -1;

	*count = 0;
	while ((p = memmem(p, (size_t)(end - p), "\"./file-", 8)) != NULL) {
		int v = atoi(p + 8);
		if (v <= last)
			return 0;
		last = v;
		++*count;
		p += 8;
	}
	return 1;
}

/* --autoindex stays bounded: 3,000 entries with long names make a page that stops within
 * AUTOINDEX_PAGE_MAX with the note; the entries it shows are in byte order. Which ones are
 * shown follows the directory's own order (a truncated listing is a sample, not a prefix). */
static void test_autoindex_bounds(void **state)
{
	char name[96];
	int count = 0;
	long n;

	(void)state;
	if (mkdirat(root_fd, "big", 0755) < 0)
		fail_row("mkdir big");
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof name, "big/file-%04d-with-a-rather-long-name-to-fill.txt", i);
		write_file(name, "x");
	}
	n = autoindex_page(&fc, (double)time(NULL), root_fd, "big", listing, sizeof listing);
	if (n <= 0 || (size_t)n > sizeof listing)
		fail_row("big: length %ld", n);
	else if (!memmem(listing, (size_t)n, "</ul>\n<p>listing truncated</p>\n", 31) ||
		 !ascending(listing, (size_t)n, &count) || count < 500 || count >= 3000)
		fail_row("big: %d entries, no note or not in byte order:\n%.300s", count, listing);
	ASSERT_NO_ROW_FAILURES();
}

/* A request that never completed (408) or overflowed (431) closes, with a page and no file. */
static void test_unparsed(void **state)
{
	static const enum http_status statuses[] = {HTTP_REQUEST_TIMEOUT, HTTP_HEADERS_TOO_LARGE,
						    HTTP_URI_TOO_LONG, HTTP_BAD_REQUEST};
	const struct rules_ctx ctx = {.fc = &fc,
				      .root_fd = root_fd,
				      .date = "Sun, 06 Nov 1994 08:49:37 GMT",
				      .path = scratch};

	(void)state;
	for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
		struct rules_plan p;
		rules_plan_unparsed(&ctx, statuses[i], &p);
		if (p.head.status != statuses[i] || p.head.keep_alive || p.head.http10 ||
		    p.body != RULES_BODY_BYTES || p.body_len == 0 || p.file.fd != -1 ||
		    p.head.content_length != p.body_len)
			fail_row("unparsed %d: status %d keep-alive %d body %d/%llu fd %d",
				 statuses[i], p.head.status, p.head.keep_alive, p.body,
				 (unsigned long long)p.body_len, p.file.fd);
	}
	ASSERT_NO_ROW_FAILURES();
}

/* A request whose Host names another site than the TLS server name picked gets 421 (RFC 9110
 * 15.5.20), whatever it asks for, and the connection stays; a HEAD gets the head only. */
static void test_misdirected(void **state)
{
	static const struct {
		const char *request;
		enum rules_body body;
	} cases[] = {
	    {GET("/hello.txt", ""), RULES_BODY_BYTES},
	    {GET("/no-such-file", ""), RULES_BODY_BYTES},
	    {GET("/docs", ""), RULES_BODY_BYTES},
	    {HEAD("/hello.txt", ""), RULES_BODY_NONE},
	    {"DELETE /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n", RULES_BODY_BYTES},
	};
	const struct rules_ctx ctx = {.fc = &fc,
				      .root_fd = root_fd,
				      .now = (double)time(NULL),
				      .date = "Sun, 06 Nov 1994 08:49:37 GMT",
				      .path = scratch,
				      .misdirected = 1};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct http_request req;
		struct rules_plan p;
		if (http_parse_request(cases[i].request, strlen(cases[i].request), &req) <= 0) {
			fail_row("%s: does not parse", line(cases[i].request));
			continue;
		}
		rules_plan_request(&ctx, &req, &p);
		if (p.head.status != HTTP_MISDIRECTED || !p.head.keep_alive ||
		    p.body != cases[i].body || p.file.fd != -1)
			fail_row("%s: status %d keep-alive %d body %d fd %d",
				 line(cases[i].request), p.head.status, p.head.keep_alive, p.body,
				 p.file.fd);
	}
	ASSERT_NO_ROW_FAILURES();
}

/* The ETag states the served file's mtime (seconds and nanoseconds) and size in hex, and a
 * variant's coding: file.c formats it by hand, so it is checked against printf's "%llx". */
static void test_etag_format(void **state)
{
	static const struct {
		const char *request, *file, *coding;
		time_t sec;
		long nsec;
	} cases[] = {
	    {GET("/etag.txt", ""), "etag.txt", NULL, 0x6553f100, 0x1f2e3d},
	    {GET("/etag.txt", ""), "etag.txt", NULL, 0, 0},
	    {GET("/etag.txt", ""), "etag.txt", NULL, 0x7fffffff, 999999999},
	    {GET("/style.css", "Accept-Encoding: gzip\r\n"), "style.css.gz", "gzip", 1, 7},
	};
	const struct rules_ctx ctx = {.fc = &fc,
				      .root_fd = root_fd,
				      .now = (double)time(NULL),
				      .date = "Sun, 06 Nov 1994 08:49:37 GMT",
				      .path = scratch};

	(void)state;
	write_file("etag.txt", "twelve bytes");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct timespec ts[2] = {{cases[i].sec, cases[i].nsec},
					 {cases[i].sec, cases[i].nsec}};
		struct http_request req;
		struct rules_plan p;
		struct stat st;
		char want[96], head[1024];
		size_t n;
		if (utimensat(root_fd, cases[i].file, ts, 0) < 0 ||
		    fstatat(root_fd, cases[i].file, &st, 0) < 0)
			abort();
		snprintf(want, sizeof want, "ETag: \"%llx.%lx-%llx%s%s\"\r\n",
			 (unsigned long long)cases[i].sec, (unsigned long)cases[i].nsec,
			 (unsigned long long)st.st_size, cases[i].coding ? "-" : "",
			 cases[i].coding ? cases[i].coding : "");
		if (http_parse_request(cases[i].request, strlen(cases[i].request), &req) <= 0)
			abort();
		rules_plan_request(&ctx, &req, &p);
		n = http_response_head(head, sizeof head - 1, &p.head);
		head[n] = '\0';
		if (!strstr(head, want))
			fail_row("%s: want %s in\n%s", cases[i].file, want, head);
		fcache_release(&fc, &p.file);
	}
	ASSERT_NO_ROW_FAILURES();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    ROW_TEST(test_plans),    ROW_TEST(test_site_options), ROW_TEST(test_autoindex_bounds),
	    ROW_TEST(test_unparsed), ROW_TEST(test_misdirected),  ROW_TEST(test_etag_format),
	};

	return cmocka_run_group_tests_name("rules", tests, setup, teardown);
}
