/* test_httpdate.c — HTTP date formatting and the three accepted forms (server/httpdate.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "guard.h"
#include "httpdate.h"

struct format_row {
	time_t t;
	const char *text;
};

static const struct format_row formatted[] = {
    {0, "Thu, 01 Jan 1970 00:00:00 GMT"},	   {784111777, "Sun, 06 Nov 1994 08:49:37 GMT"},
    {951782400, "Tue, 29 Feb 2000 00:00:00 GMT"},  {1709164800, "Thu, 29 Feb 2024 00:00:00 GMT"},
    {1735689599, "Tue, 31 Dec 2024 23:59:59 GMT"}, {2147483647, "Tue, 19 Jan 2038 03:14:07 GMT"},
    {2147483648, "Tue, 19 Jan 2038 03:14:08 GMT"}, {4102444800, "Fri, 01 Jan 2100 00:00:00 GMT"},
};

/* A file's mtime is whatever its owner set; fuzz_range_date found that 2^56 read outside the
 * month table. Dates are clamped to the years the format can hold. */
static const struct format_row clamped[] = {
    {(time_t)1 << 56, "Fri, 31 Dec 9999 23:59:59 GMT"},
    {(time_t)253402300800, "Fri, 31 Dec 9999 23:59:59 GMT"},
    {-1, "Thu, 01 Jan 1970 00:00:00 GMT"},
};

static void check_formats(const struct format_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char out[HTTPDATE_LEN + 8];
		memset(out, 'Z', sizeof out);
		httpdate_format(rows[i].t, out);
		if (strcmp(out, rows[i].text) != 0)
			fail_row("format(%lld) = \"%s\", want \"%s\"", (long long)rows[i].t,
				 show(out, strnlen(out, sizeof out)), rows[i].text);
		if (out[HTTPDATE_LEN + 1] != 'Z')
			fail_row("format(%lld) wrote past HTTPDATE_LEN + 1", (long long)rows[i].t);
	}
}

static void test_format(void **state)
{
	(void)state;
	check_formats(formatted, sizeof formatted / sizeof formatted[0]);
	check_formats(clamped, sizeof clamped / sizeof clamped[0]);
	ASSERT_NO_ROW_FAILURES();
}

struct parse_row {
	const char *text;
	int ok;
	time_t t;
};

static const struct parse_row parsed[] = {
    {"Sun, 06 Nov 1994 08:49:37 GMT", 1, 784111777},  /* IMF-fixdate */
    {"Sunday, 06-Nov-94 08:49:37 GMT", 1, 784111777}, /* RFC 850 */
    {"Sun Nov  6 08:49:37 1994", 1, 784111777},	      /* asctime */
    {"Thu, 01 Jan 1970 00:00:00 GMT", 1, 0},
    {"Thu, 29 Feb 2024 00:00:00 GMT", 1, 1709164800},
    {"Tue, 19 Jan 2038 03:14:08 GMT", 1, 2147483648},
    {"Thursday, 29-Feb-24 00:00:00 GMT", 1, 1709164800},
    {"Thu Feb 29 00:00:00 2024", 1, 1709164800},
    {"Tue Dec 31 23:59:59 2024", 1, 1735689599},

    {"", 0, 0},
    {"garbage", 0, 0},
    {"Sun, 06 Nov 1994 08:49:37", 0, 0},
    {"Sun, 06 Nov 1994 08:49:37 UTC", 0, 0},
    {"Sun, 06 Nov 1994 08:49:37 GMT junk", 0, 0},
    {"Sun, 06 Nov 1994 08:49 GMT", 0, 0},
    {"Sun, 32 Nov 1994 08:49:37 GMT", 0, 0},
    {"Sun, 00 Nov 1994 08:49:37 GMT", 0, 0},
    {"Sun, 06 Foo 1994 08:49:37 GMT", 0, 0},
    {"Sun, 06 Nov 1994 24:49:37 GMT", 0, 0},
    {"Sun, 06 Nov 1994 08:60:37 GMT", 0, 0},
    {"Sun, 06 Nov 1994 08:49:61 GMT", 0, 0},
    {"Sun, 06 Nov 94 08:49:37 GMT", 0, 0},
    {"Sun, 06 Nov 1994 8:49:37 GMT", 0, 0},
    {"Sun, 0x Nov 1994 08:49:37 GMT", 0, 0},
    {"Sun 06 Nov 1994 08:49:37 GMT", 0, 0},
    {"Sunday, 06-Nov-94 08:49:37", 0, 0},
    {"Sun Nov  6 08:49:37", 0, 0},
    {"Sun Nov 32 08:49:37 1994", 0, 0},
    {"-1", 0, 0},
};

static void test_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof parsed / sizeof parsed[0]; i++) {
		const struct parse_row *r = &parsed[i];
		size_t len = strlen(r->text);
		struct guard g;
		time_t t = 42;
		int got = httpdate_parse(guard_put(&g, r->text, len), len, &t);

		if (r->ok && (got != 0 || t != r->t))
			fail_row("parse(\"%s\") = %d, t %lld; want 0, t %lld", r->text, got,
				 (long long)t, (long long)r->t);
		if (!r->ok && got != -1)
			fail_row("parse(\"%s\") = %d (t %lld); want -1", r->text, got,
				 (long long)t);
		guard_free(&g);
	}
	ASSERT_NO_ROW_FAILURES();
}

/* Only len bytes are read; every prefix of a valid date is rejected. */
static void test_prefixes(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		const char *s = parsed[i].text;
		for (size_t n = 0; n < strlen(s); n++) {
			struct guard g;
			time_t t;
			int got = httpdate_parse(guard_put(&g, s, n), n, &t);
			if (got != -1)
				fail_row("parse of prefix \"%s\" = %d, want -1", show(s, n), got);
			guard_free(&g);
		}
	}
	ASSERT_NO_ROW_FAILURES();
}

static void test_round_trip(void **state)
{
	(void)state;
	for (time_t t = 0; t < 4102444800; t += 86400 * 37 + 3661) {
		char out[HTTPDATE_LEN + 1];
		time_t back = -1;
		httpdate_format(t, out);
		if (httpdate_parse(out, strlen(out), &back) != 0 || back != t) {
			fail_row("round trip of %lld via \"%s\" gave %lld", (long long)t, out,
				 (long long)back);
			break;
		}
	}
	ASSERT_NO_ROW_FAILURES();
}

/* The cache formats again exactly when the second changes, and starts empty of any value. */
static void test_cache(void **state)
{
	static const time_t seconds[] = {0, 0, 784111777, 784111777, 784111778, 0};
	struct httpdate_cache dc;

	(void)state;
	httpdate_cache_init(&dc);
	for (size_t i = 0; i < sizeof seconds / sizeof seconds[0]; i++) {
		char want[HTTPDATE_LEN + 1];
		const char *got = httpdate_cache_get(&dc, seconds[i]);
		httpdate_format(seconds[i], want);
		if (strcmp(got, want) != 0)
			fail_row("cache at %lld gave \"%s\", want \"%s\"", (long long)seconds[i],
				 got, want);
	}
	ASSERT_NO_ROW_FAILURES();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    ROW_TEST(test_format),     ROW_TEST(test_parse), ROW_TEST(test_prefixes),
	    ROW_TEST(test_round_trip), ROW_TEST(test_cache),
	};

	return cmocka_run_group_tests_name("httpdate", tests, NULL, NULL);
}
