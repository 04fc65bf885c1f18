/* fuzz_uri.c — libFuzzer driver for request-target decoding (server/uri.h): the decoded path
 * can never leave the root or name a hidden file, and the redirect built from it (as conn.c
 * builds it) cannot inject headers or point at another host. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http_response.h"
#include "httpdate.h"
#include "mime.h"
#include "uri.h"

#define PATH_SIZE 4096	     /* server.h's path[FILE_PATH_MAX] */
#define OUT_SIZE (16 * 1024) /* conn.c's response buffer, one TLS record */

/* Segments of a decoded path: none empty, ".", "..", or hidden but a first ".well-known". */
static int check_segments(const char *out, size_t len)
{
	int hidden = 0;

	CHECK(len == 0 || (out[0] != '/' && out[len - 1] != '/'));
	for (size_t s = 0; s < len;) {
		const char *slash = memchr(out + s, '/', len - s);
		size_t n = slash ? (size_t)(slash - (out + s)) : len - s;
		const char *seg = out + s;
		CHECK(n > 0);
		CHECK(!(n == 1 && seg[0] == '.') && !(n == 2 && seg[0] == '.' && seg[1] == '.'));
		if (seg[0] == '.' && !(s == 0 && n == 11 && memcmp(seg, ".well-known", 11) == 0))
			hidden = 1;
		s += n + 1;
	}
	return hidden;
}

/* Percent-encodes every byte of path but unreserved ones and '/', behind a leading '/'. */
static size_t encode(const char *path, size_t len, char *dst)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	dst[o++] = '/';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    (c != 0 && strchr("-._~/", c) != NULL)) {
			dst[o++] = (char)c;
			continue;
		}
		dst[o++] = '%';
		dst[o++] = hex[c >> 4];
		dst[o++] = hex[c & 15];
	}
	return o;
}

/* Normalisation is idempotent: the decoded path, encoded again, decodes to itself. */
static void check_idempotent(const char *out, size_t len)
{
	char *target = alloc_exact(3 * len + 1), *again = alloc_exact(PATH_SIZE);
	size_t n = encode(out, len, target);
	struct uri_path p;

	CHECK(uri_to_path(target, n, again, PATH_SIZE, &p) == 0);
	CHECK(p.len == len && memcmp(again, out, len) == 0);
	free(target);
	free(again);
}

/* The 301 of conn.c's respond_redirect (file.c sends it for a directory named without its
 * trailing slash): one head, CR LF only in pairs, a Location on the same host. */
static void check_redirect(const char *t, size_t len, const char *path, const struct uri_path *up)
{
	size_t qoff = up->raw_path_off + up->raw_path_len;
	char date[HTTPDATE_LEN + 1], *buf = alloc_exact(OUT_SIZE);
	struct http_response r = {
	    .status = HTTP_MOVED,
	    .date = date,
	    .location = {path, up->len},
	    .query = {t + qoff + 1, qoff < len ? len - qoff - 1 : 0},
	};

	httpdate_format(0, date);
	size_t n = http_response_head(buf, OUT_SIZE, &r);
	CHECK(n == 0 || (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0));
	for (size_t i = 0; i < n; i++) {
		CHECK(buf[i] != '\0');
		CHECK(buf[i] != '\n' || (i > 0 && buf[i - 1] == '\r'));
		CHECK(buf[i] != '\r' || (i + 1 < n && buf[i + 1] == '\n'));
		CHECK(i + 4 >= n || memcmp(buf + i, "\r\n\r\n", 4) != 0);
	}
	const char *loc = n ? strstr(buf, "\r\nLocation: ") : NULL;
	CHECK(n == 0 || loc != NULL);
	if (loc != NULL) {
		loc += 12;
		/* "//host" or "/\host" would send the browser to another host */
		CHECK(loc[0] == '/' && loc[1] != '/' && loc[1] != '\\');
	}
	free(buf);
}

/* A buffer just big enough for some inputs: never overrun, never a different answer but 414. */
static void check_small(const char *t, size_t len, int big, const char *path, size_t plen)
{
	size_t outsz = 2 + len % 61;
	char *out = alloc_exact(outsz);
	struct uri_path p;
	int st = uri_to_path(t, len, out, outsz, &p);

	CHECK(st == 0 || st == HTTP_BAD_REQUEST || st == HTTP_NOT_FOUND || st == HTTP_URI_TOO_LONG);
	CHECK(st == HTTP_URI_TOO_LONG || st == big);
	if (st == 0)
		CHECK(p.len == plen && memcmp(out, path, plen) == 0);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *t = (const char *)data;
	char *out = alloc_exact(PATH_SIZE);
	struct uri_path p;
	int st = uri_to_path(t, size, out, PATH_SIZE, &p);

	CHECK(st == 0 || st == HTTP_BAD_REQUEST || st == HTTP_NOT_FOUND || st == HTTP_URI_TOO_LONG);
	if (st == 0 || st == HTTP_NOT_FOUND) {
		CHECK(p.len < PATH_SIZE && out[p.len] == '\0' && strlen(out) == p.len);
		CHECK(p.raw_path_off <= size && p.raw_path_len <= size - p.raw_path_off);
		CHECK(p.raw_path_len == 0 || t[p.raw_path_off] == '/');
		CHECK(p.trailing_slash == 0 || p.trailing_slash == 1);
		CHECK(check_segments(out, p.len) == (st == HTTP_NOT_FOUND));
	}
	if (st == 0) {
		check_idempotent(out, p.len);
		if (!p.trailing_slash)
			check_redirect(t, size, out, &p);
		const struct mime_type *m = mime_lookup(out, p.len);
		CHECK(m != NULL && m->name != NULL);
	}
	check_small(t, size, st, out, st == 0 ? p.len : 0);
	free(out);
	return 0;
}
