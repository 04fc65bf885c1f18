/* test_jsonesc.c — the access log's JSON string escaper (server/jsonesc.h): RFC 8259 escapes,
 * ill-formed UTF-8 replaced by U+FFFD, and a cut that never splits a character. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "guard.h"
#include "json_check.h"
#include "jsonesc.h"

#define BIG 1024

struct row {
	const char *in;
	size_t len; /* 0: strlen(in) */
	size_t cap; /* output room; 0: BIG */
	const char *want;
	size_t used; /* input consumed; (size_t)-1: all of it */
};

#define ALL ((size_t)-1)

static const struct row rows[] = {
    {"plain /index.html?a=b", 0, 0, "plain /index.html?a=b", ALL},
    {"", 0, 0, "", ALL},
    {"say \"hi\"", 0, 0, "say \\\"hi\\\"", ALL},
    {"C:\\dir\\", 0, 0, "C:\\\\dir\\\\", ALL},
    {"a\nb\rc\td\be\ff", 0, 0, "a\\nb\\rc\\td\\be\\ff", ALL},
    {"\x01\x1b[31m\x1f", 0, 0, "\\u0001\\u001b[31m\\u001f", ALL},
    {"nul\0byte", 8, 0, "nul\\u0000byte", ALL},
    {"del\x7f", 0, 0, "del\\u007f", ALL},
    {"/ stays", 0, 0, "/ stays", ALL},
    /* well-formed UTF-8 is kept: 2, 3 and 4 bytes */
    {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 0, 0, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
     ALL},
    {"\xef\xbf\xbd\xf4\x8f\xbf\xbf", 0, 0, "\xef\xbf\xbd\xf4\x8f\xbf\xbf", ALL},
    /* C1 controls (CSI is 0x9b) and the JavaScript line separators are escaped */
    {"\xc2\x80\xc2\x9b\xc2\x9f\xc2\xa0", 0, 0, "\\u0080\\u009b\\u009f\xc2\xa0", ALL},
    {"\xe2\x80\xa8\xe2\x80\xa9", 0, 0, "\\u2028\\u2029", ALL},
    /* ill-formed: one U+FFFD per maximal subpart */
    {"\xff", 0, 0, "\\ufffd", ALL},
    {"a\x80\x80z", 0, 0, "a\\ufffd\\ufffdz", ALL},
    {"\xc0\xaf", 0, 0, "\\ufffd\\ufffd", ALL},			     /* overlong '/' */
    {"\xe0\x80\xaf", 0, 0, "\\ufffd\\ufffd\\ufffd", ALL},	     /* overlong, 3 bytes */
    {"\xed\xa0\x80", 0, 0, "\\ufffd\\ufffd\\ufffd", ALL},	     /* a surrogate */
    {"\xf4\x90\x80\x80", 0, 0, "\\ufffd\\ufffd\\ufffd\\ufffd", ALL}, /* past U+10FFFF */
    {"\xf5\xf8\xfe", 0, 0, "\\ufffd\\ufffd\\ufffd", ALL},
    {"\xe2\x82", 0, 0, "\\ufffd", ALL},		/* cut short at the end */
    {"\xe2\x82z", 0, 0, "\\ufffdz", ALL},	/* cut short mid-text */
    {"\xf0\x9f\x98", 0, 0, "\\ufffd", ALL},	/* 3 of 4 */
    {"\xc3\"", 0, 0, "\\ufffd\\\"", ALL},	/* the quote is not swallowed */
    {"\xe2\x82\x5c", 0, 0, "\\ufffd\\\\", ALL}, /* nor a backslash */
    /* the cut: never inside an escape or a character */
    {"abcdef", 0, 4, "abcd", 4},
    {"ab\"c", 0, 3, "ab", 2},
    {"ab\"c", 0, 4, "ab\\\"", 3},
    {"a\x01", 0, 6, "a", 1},
    {"a\x01", 0, 7, "a\\u0001", ALL},
    {"a\xff", 0, 6, "a", 1},
    {"a\xc3\xa9", 0, 2, "a", 1},
    {"a\xc3\xa9", 0, 3, "a\xc3\xa9", ALL},
    {"a\xf0\x9f\x98\x80", 0, 4, "a", 1},
    {"x", 0, ALL, "x", ALL}, /* a huge cap */
};

static void check_row(const struct row *r)
{
	size_t len = r->len ? r->len : strlen(r->in);
	size_t cap = r->cap == 0 ? BIG : r->cap == ALL ? SIZE_MAX : r->cap;
	size_t want_used = r->used == ALL ? len : r->used, used = 12345;
	char out[BIG + 1];
	struct guard g;
	const char *in = guard_put(&g, r->in, len);
	size_t w = jsonesc_string(out, cap < BIG ? cap : BIG, in, len, &used);

	if (w != strlen(r->want) || memcmp(out, r->want, w) != 0)
		fail_row("\"%s\" cap %zu: \"%s\", want \"%s\"", show(r->in, len), cap, show(out, w),
			 show(r->want, strlen(r->want)));
	if (used != want_used)
		fail_row("\"%s\" cap %zu: used %zu, want %zu", show(r->in, len), cap, used,
			 want_used);
	if (!json_check_string(out, w))
		fail_row("\"%s\": output \"%s\" is not a valid JSON string", show(r->in, len),
			 show(out, w));
	guard_free(&g);
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		check_row(&rows[i]);
	ASSERT_NO_ROW_FAILURES();
}

/* Every byte value alone, and every pair, at every cap up to the longest escape: valid JSON,
 * and consumed exactly when something was written or nothing was needed. */
static void test_every_byte(void **state)
{
	char in[2], out[16];

	(void)state;
	for (unsigned a = 0; a < 256; a++)
		for (unsigned b = 0; b < 256; b++)
			for (size_t cap = 0; cap <= 12; cap++) {
				size_t used, w;
				in[0] = (char)a;
				in[1] = (char)b;
				w = jsonesc_string(out, cap, in, 2, &used);
				if (w > cap || used > 2 || !json_check_string(out, w))
					fail_row("%02x %02x cap %zu: \"%s\" used %zu", a, b, cap,
						 show(out, w), used);
				if (cap >= 12 && used != 2)
					fail_row("%02x %02x cap 12: used %zu", a, b, used);
			}
	ASSERT_NO_ROW_FAILURES();
}

/* used may be NULL; a NULL text with no length writes nothing. */
static void test_null_used(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(jsonesc_string(out, sizeof out, "ab", 2, NULL), 2);
	assert_int_equal(jsonesc_string(out, 0, "ab", 2, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    ROW_TEST(test_table),
	    ROW_TEST(test_every_byte),
	    ROW_TEST(test_null_used),
	};

	return cmocka_run_group_tests_name("jsonesc", tests, NULL, NULL);
}
