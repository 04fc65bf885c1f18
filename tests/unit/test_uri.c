/* test_uri.c — table-driven tests of request-target decoding and normalisation (server/uri.h).
 * Inputs sit right before an unreadable page: any over-read crashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "guard.h"
#include "uri.h"

#define ANY_ERR (-1) /* any non-zero status */
#define SAME (-2)    /* not checked */

struct row {
	const char *target;
	int want;	  /* 0, an HTTP status, or ANY_ERR */
	const char *path; /* expected out when want == 0 (NULL: not checked) */
	int slash;	  /* trailing_slash, or SAME */
};

static const struct row rows[] = {
    /* plain paths */
    {"/", 0, "", 1},
    {"/index.html", 0, "index.html", 0},
    {"/a/b/c.txt", 0, "a/b/c.txt", 0},
    {"/sub/", 0, "sub", 1},
    {"/sub", 0, "sub", 0},
    {"/a/b/", 0, "a/b", 1},
    {"/a..b", 0, "a..b", 0},
    {"/a.", 0, "a.", 0},
    {"/~user/x", 0, "~user/x", 0},

    /* percent-decoding */
    {"/a%20b.txt", 0, "a b.txt", 0},
    {"/%41%42", 0, "AB", 0},
    {"/%4a%4B", 0, "JK", 0},
    {"/caf%C3%A9", 0, "caf\xc3\xa9", 0},
    {"/100%25", 0, "100%", 0},
    {"/a%3fb", 0, "a?b", 0},
    {"/a%23b", 0, "a#b", 0},
    {"/a+b", 0, "a+b", 0},
    {"/a%", 400, NULL, SAME},
    {"/a%4", 400, NULL, SAME},
    {"/a%zz", 400, NULL, SAME},
    {"/a%g0", 400, NULL, SAME},
    {"/a%0g", 400, NULL, SAME},
    {"/a%%41", 400, NULL, SAME},
    {"/a%00", 400, NULL, SAME},
    {"/a%00.txt", 400, NULL, SAME},
    {"/%00/x", 400, NULL, SAME},

    /* dot segments */
    {"/a/./b", 0, "a/b", 0},
    {"/./a", 0, "a", 0},
    {"/a/.", 0, "a", SAME},
    {"/a/../b", 0, "b", 0},
    {"/a/b/../../c", 0, "c", 0},
    {"/a/b/..", 0, "a", SAME},
    {"/a/..", 0, "", SAME},
    {"/a/../", 0, "", 1},
    {"/a/%2e/b", 0, "a/b", 0},
    {"/a/%2e%2e/b", 0, "b", 0},
    {"/a/%2E%2E/b", 0, "b", 0},
    {"/a/.%2e/b", 0, "b", 0},

    /* above the root */
    {"/..", 400, NULL, SAME},
    {"/../", 400, NULL, SAME},
    {"/../etc/passwd", 400, NULL, SAME},
    {"/a/../../etc/passwd", 400, NULL, SAME},
    {"/%2e%2e/etc/passwd", 400, NULL, SAME},
    {"/%2E%2E/etc/passwd", 400, NULL, SAME},
    {"/.%2e/etc/passwd", 400, NULL, SAME},
    {"/%2e./etc/passwd", 400, NULL, SAME},
    {"/..%2fetc%2fpasswd", 400, NULL, SAME},
    {"/sub%2f..%2f..%2fetc%2fpasswd", 400, NULL, SAME},
    {"/%2f..%2f..%2fetc/passwd", 400, NULL, SAME},
    {"/./../x", 400, NULL, SAME},
    {"/a/./../../x", 400, NULL, SAME},

    /* empty segments */
    {"//a//b", 0, "a/b", 0},
    {"//", 0, "", 1},
    {"/a//", 0, "a", 1},
    {"///etc/passwd", 0, "etc/passwd", 0},

    /* hidden paths */
    {"/.secret", 404, NULL, SAME},
    {"/.git/config", 404, NULL, SAME},
    {"/.git/", 404, NULL, SAME},
    {"/sub/.hidden", 404, NULL, SAME},
    {"/sub/.hidden/x", 404, NULL, SAME},
    {"/%2esecret", 404, NULL, SAME},
    {"/%2Egit/config", 404, NULL, SAME},
    {"/a/...", 404, NULL, SAME},
    {"/.well-known/x", 0, ".well-known/x", 0},
    {"/.well-known/acme-challenge/tok", 0, ".well-known/acme-challenge/tok", 0},
    {"/.well-known/", 0, ".well-known", 1},
    {"/.well-known", 0, ".well-known", 0},
    {"/%2ewell-known/security.txt", 0, ".well-known/security.txt", 0},
    {"/.well-known/.hidden", 404, NULL, SAME},
    {"/sub/.well-known/x", 404, NULL, SAME},
    {"/.well-knownx/y", 404, NULL, SAME},
    {"/.Well-Known/x", 404, NULL, SAME},

    /* query and fragment */
    {"/a?b=c", 0, "a", 0},
    {"/a/?b", 0, "a", 1},
    {"/?x=1", 0, "", 1},
    {"/a?../../etc/passwd", 0, "a", 0},
    {"/a?%00", 0, "a", 0},
    {"/a?%zz", 0, "a", 0},
    {"/a#frag", 400, NULL, SAME},

    /* absolute-form */
    {"http://example.org/a/b", 0, "a/b", 0},
    {"http://example.org/a/b?q=1", 0, "a/b", 0},
    {"https://example.org:8443/x/", 0, "x", 1},
    {"HTTP://example.org/a", 0, "a", 0},
    {"http://example.org/../etc/passwd", 400, NULL, SAME},
    {"http://example.org/.secret", 404, NULL, SAME},
    {"http://example.org", 0, "", 1},
    {"http://example.org?q", 0, "", 1},
    {"http://[::1]:8080/a", 0, "a", 0},
    {"http:///a", 400, NULL, SAME},    /* RFC 9110 4.2.1: empty host MUST be rejected */
    {"http://:80/a", 400, NULL, SAME}, /* empty host with a port */
    {"http://user@example.org/a", 400, NULL, SAME}, /* 4.2.4: userinfo is an error */
    {"http://u:p@example.org/a", 400, NULL, SAME},
    {"http://exa\\mple.org/a", 400, NULL, SAME},
    {"http://example.org:8o/a", 400, NULL, SAME},
    {"http://[::1/a", 400, NULL, SAME},

    /* not a path at all */
    {"", 400, NULL, SAME},
    {"a/b", 400, NULL, SAME},
    {"*", 400, NULL, SAME},
    {"../etc/passwd", 400, NULL, SAME},
    {"/a\x01"
     "b",
     400, NULL, SAME},
    {"/a\x7f", 400, NULL, SAME},
    {"/a b", 400, NULL, SAME},
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct row *r = &rows[i];
		size_t len = strlen(r->target);
		char out[256];
		struct uri_path p;
		struct guard g;
		const char *t = guard_put(&g, r->target, len);

		memset(out, 'Z', sizeof out);
		memset(&p, 0x5a, sizeof p);
		int got = uri_to_path(t, len, out, sizeof out, &p);
		if (r->want == ANY_ERR ? got == 0 : got != r->want) {
			fail_row("\"%s\": returned %d, want %d%s%s", show(r->target, len), got,
				 r->want, got == 0 ? ", path " : "",
				 got == 0 ? show(out, strnlen(out, sizeof out)) : "");
		} else if (got == 0) {
			if (r->path && (p.len != strlen(r->path) || strcmp(out, r->path) != 0))
				fail_row("\"%s\": path \"%s\" (len %zu), want \"%s\"",
					 show(r->target, len), show(out, strnlen(out, sizeof out)),
					 p.len, r->path);
			if (r->slash != SAME && p.trailing_slash != r->slash)
				fail_row("\"%s\": trailing_slash %d, want %d", show(r->target, len),
					 p.trailing_slash, r->slash);
			if (out[p.len] != '\0')
				fail_row("\"%s\": out is not NUL-terminated at len",
					 show(r->target, len));
		}
		guard_free(&g);
	}
	ASSERT_NO_ROW_FAILURES();
}

/* raw_path_off / raw_path_len locate the path in the raw target (the 301 reuses them). */
static void test_raw_path(void **state)
{
	static const struct {
		const char *target;
		size_t off, len;
	} raw[] = {
	    {"/a/b", 0, 4},
	    {"/a/b?x=1", 0, 4},
	    {"/?x", 0, 1},
	    {"/a%20b?x", 0, 6},
	    {"http://example.org/a/b?q", 18, 4},
	    {"https://h:8443/x", 14, 2},
	};

	(void)state;
	for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
		char out[64];
		struct uri_path p;
		int got = uri_to_path(raw[i].target, strlen(raw[i].target), out, sizeof out, &p);
		if (got != 0)
			fail_row("\"%s\": returned %d", raw[i].target, got);
		else if (p.raw_path_off != raw[i].off || p.raw_path_len != raw[i].len)
			fail_row("\"%s\": raw path at %zu+%zu, want %zu+%zu", raw[i].target,
				 p.raw_path_off, p.raw_path_len, raw[i].off, raw[i].len);
	}
	ASSERT_NO_ROW_FAILURES();
}

/* A decoded path that does not fit is 414, and nothing is written past outsz
 * (one spare byte beyond the NUL is tolerated). */
static void test_out_too_small(void **state)
{
	static const char target[] = "/abcdefghijklmnop";
	char out[32];
	struct uri_path p;

	(void)state;
	for (size_t outsz = 2; outsz <= 16; outsz++) {
		memset(out, 'Z', sizeof out);
		int got = uri_to_path(target, sizeof target - 1, out, outsz, &p);
		if (got != 414)
			fail_row("outsz %zu: returned %d, want 414", outsz, got);
		for (size_t i = outsz; i < sizeof out; i++)
			if (out[i] != 'Z') {
				fail_row("outsz %zu: wrote out[%zu]", outsz, i);
				break;
			}
	}
	memset(out, 'Z', sizeof out);
	if (uri_to_path(target, sizeof target - 1, out, 18, &p) != 0 ||
	    strcmp(out, "abcdefghijklmnop") != 0 || out[18] != 'Z')
		fail_row("outsz 18: the 16-byte path should fit");
	ASSERT_NO_ROW_FAILURES();
}

/* Only len bytes of the target are read: a target cut in the middle of an escape is an error. */
static void test_length_bound(void **state)
{
	static const char full[] = "/a%41b";
	char out[64];
	struct uri_path p;
	struct guard g;

	(void)state;
	for (size_t n = 1; n <= sizeof full - 1; n++) {
		const char *t = guard_put(&g, full, n);
		int got = uri_to_path(t, n, out, sizeof out, &p);
		int want = (n == 3 || n == 4) ? 400 : 0;
		if (got != want)
			fail_row("\"%s\" (first %zu bytes): returned %d, want %d", show(full, n), n,
				 got, want);
		guard_free(&g);
	}
	ASSERT_NO_ROW_FAILURES();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    ROW_TEST(test_table),
	    ROW_TEST(test_raw_path),
	    ROW_TEST(test_out_too_small),
	    ROW_TEST(test_length_bound),
	};

	return cmocka_run_group_tests_name("uri", tests, NULL, NULL);
}
