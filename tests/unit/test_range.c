/* test_range.c — table-driven tests of the single byte-range parser (server/range.h).
 * Values sit right before an unreadable page: any over-read crashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "guard.h"
#include "range.h"

/* Allowed outcomes, as a bit set: some inputs may reasonably be ignored or refused. */
#define A_NONE (1 << RANGE_NONE)
#define A_OK (1 << RANGE_OK)
#define A_UNSAT (1 << RANGE_UNSATISFIABLE)

struct row {
	const char *value;
	uint64_t size;
	int allowed;	      /* bit set of acceptable results */
	uint64_t first, last; /* when RANGE_OK is returned */
	const char *why;
};

static const struct row rows[] = {
    {"bytes=0-4", 10, A_OK, 0, 4, "a-b"},
    {"bytes=0-0", 10, A_OK, 0, 0, "one byte"},
    {"bytes=9-9", 10, A_OK, 9, 9, "last byte"},
    {"bytes=3-7", 10, A_OK, 3, 7, "middle"},
    {"bytes=0-9", 10, A_OK, 0, 9, "whole"},
    {"bytes=0-100", 10, A_OK, 0, 9, "last beyond the end is clamped"},
    {"bytes=5-", 10, A_OK, 5, 9, "a-"},
    {"bytes=0-", 10, A_OK, 0, 9, "0-"},
    {"bytes=9-", 10, A_OK, 9, 9, "last byte open"},
    {"bytes=-3", 10, A_OK, 7, 9, "-n"},
    {"bytes=-1", 10, A_OK, 9, 9, "-1"},
    {"bytes=-10", 10, A_OK, 0, 9, "-size"},
    {"bytes=-20", 10, A_OK, 0, 9, "-n longer than the file"},
    {"Bytes=0-4", 10, A_OK, 0, 4, "unit is case-insensitive (RFC 9110 14.1)"},
    {"bytes=00-04", 10, A_OK, 0, 4, "leading zeros"},
    {"bytes=18446744073709551614-", 1ull << 62, A_UNSAT, 0, 0, "huge but valid first"},
    {"bytes=-18446744073709551615", 10, A_OK, 0, 9, "UINT64_MAX suffix"},

    /* unsatisfiable: 416 */
    {"bytes=10-", 10, A_UNSAT, 0, 0, "first == size"},
    {"bytes=10-20", 10, A_UNSAT, 0, 0, "entirely beyond"},
    {"bytes=11-", 10, A_UNSAT, 0, 0, "first > size"},
    {"bytes=-0", 10, A_UNSAT, 0, 0, "zero suffix (RFC 9110 14.1.3)"},
    {"bytes=0-", 0, A_UNSAT | A_NONE, 0, 0, "empty file"},
    {"bytes=0-0", 0, A_UNSAT | A_NONE, 0, 0, "empty file"},
    {"bytes=-5", 0, A_NONE, 0, 0, "suffix of an empty file: satisfiable, nothing to send: 200"},
    {"bytes=-0", 0, A_UNSAT, 0, 0, "zero suffix of an empty file"},

    /* ignored: serve the whole file */
    {"", 10, A_NONE, 0, 0, "empty value"},
    {"bytes=", 10, A_NONE, 0, 0, "no range-spec"},
    {"bytes=-", 10, A_NONE, 0, 0, "only a dash"},
    {"bytes=5-4", 10, A_NONE, 0, 0, "last < first is invalid: ignore (RFC 7233 2.1)"},
    {"bytes=0-1,3-4", 10, A_NONE, 0, 0, "multi-range"},
    {"bytes=0-1, 3-4", 10, A_NONE, 0, 0, "multi-range with OWS"},
    {"bytes=-1,0-1", 10, A_NONE, 0, 0, "multi-range starting with a suffix"},
    {"items=0-4", 10, A_NONE, 0, 0, "other unit"},
    {"bytes 0-4", 10, A_NONE, 0, 0, "no '='"},
    {"byte=0-4", 10, A_NONE, 0, 0, "'byte'"},
    {"bytesx=0-4", 10, A_NONE, 0, 0, "'bytesx'"},
    {"bytes=a-b", 10, A_NONE, 0, 0, "letters"},
    {"bytes=0x1-2", 10, A_NONE, 0, 0, "hex"},
    {"bytes=+1-2", 10, A_NONE, 0, 0, "sign"},
    {"bytes=1-+2", 10, A_NONE, 0, 0, "sign on last"},
    {"bytes=--1", 10, A_NONE, 0, 0, "double dash"},
    {"bytes=1-2-3", 10, A_NONE, 0, 0, "three numbers"},
    {"bytes=1", 10, A_NONE, 0, 0, "no dash"},
    {"bytes=1.5-2", 10, A_NONE, 0, 0, "decimal"},
    {"bytes=0-4x", 10, A_NONE, 0, 0, "trailing junk"},
    {"bytes=0-4;", 10, A_NONE, 0, 0, "trailing junk"},

    /* RFC 9110 5.6.1.2: empty list elements are ignored, so these are single ranges */
    {"bytes=0-4,", 10, A_OK, 0, 4, "trailing empty element"},
    {"bytes=,0-4", 10, A_OK, 0, 4, "leading empty element"},
    {"bytes=0-4 , ,", 10, A_OK, 0, 4, "empty elements with OWS"},
    {"bytes=-3,", 10, A_OK, 7, 9, "suffix and an empty element"},
    {"bytes=20-,", 10, A_UNSAT, 0, 0, "unsatisfiable with an empty element"},
    {"bytes=,", 10, A_NONE, 0, 0, "only empty elements"},

    /* whitespace inside: nginx tolerates it, RFC parsers ignore the header; never a wrong range */
    {"bytes= 0-4", 10, A_NONE | A_OK, 0, 4, "space after ="},
    {"bytes=0 -4", 10, A_NONE | A_OK, 0, 4, "space before -"},
    {"bytes=0- 4", 10, A_NONE | A_OK, 0, 4, "space after -"},
    {"bytes = 0-4", 10, A_NONE, 0, 0, "space before = (nginx ignores the header)"},

    /* numbers that overflow uint64_t: never wrap into a small range */
    {"bytes=0-99999999999999999999999", 10, A_NONE | A_UNSAT | A_OK, 0, 9, "last overflows"},
    {"bytes=18446744073709551616-", 10, A_NONE | A_UNSAT, 0, 0, "first = 2^64"},
    {"bytes=99999999999999999999999-", 10, A_NONE | A_UNSAT, 0, 0, "first overflows"},
    {"bytes=18446744073709551617-18446744073709551618", 10, A_NONE | A_UNSAT, 0, 0, "wraps to 1-2"},
    {"bytes=-18446744073709551619", 10, A_NONE | A_OK, 0, 9, "suffix wraps to 3"},
    {"bytes=-99999999999999999999999", 10, A_NONE | A_OK, 0, 9, "suffix overflows"},
};

static const char *name(int r)
{
	switch (r) {
	case RANGE_NONE: return "NONE";
	case RANGE_OK: return "OK";
	case RANGE_UNSATISFIABLE: return "UNSATISFIABLE";
	default: return "?";
	}
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct row *r = &rows[i];
		size_t len = strlen(r->value);
		uint64_t first = 12345, last = 67890;
		struct guard g;
		const char *v = guard_put(&g, r->value, len);
		enum range_result got = range_parse(v, len, r->size, &first, &last);

		if (got > RANGE_UNSATISFIABLE || !(r->allowed & (1 << got)))
			fail_row("\"%s\" size %llu (%s): %s", r->value, (unsigned long long)r->size,
				 r->why, name(got));
		else if (got == RANGE_OK && (first != r->first || last != r->last))
			fail_row("\"%s\" size %llu (%s): %llu-%llu, want %llu-%llu", r->value,
				 (unsigned long long)r->size, r->why, (unsigned long long)first,
				 (unsigned long long)last, (unsigned long long)r->first,
				 (unsigned long long)r->last);
		if (got == RANGE_OK && (first > last || last >= r->size))
			fail_row("\"%s\": RANGE_OK outside the file: %llu-%llu of %llu", r->value,
				 (unsigned long long)first, (unsigned long long)last,
				 (unsigned long long)r->size);
		guard_free(&g);
	}
	ASSERT_NO_ROW_FAILURES();
}

/* Only len bytes are read: "bytes=0-49" cut after "bytes=0-4" is the range 0-4. */
static void test_length_bound(void **state)
{
	static const char full[] = "bytes=0-49";
	uint64_t first, last;
	struct guard g;

	(void)state;
	const char *v = guard_put(&g, full, 9);
	assert_int_equal(range_parse(v, 9, 100, &first, &last), RANGE_OK);
	assert_int_equal(first, 0);
	assert_int_equal(last, 4);
	guard_free(&g);
}

/* Every prefix of a valid value is parsed without reading past it, whatever it returns. */
static void test_prefixes(void **state)
{
	static const char *vals[] = {"bytes=12-345", "bytes=-77", "bytes=8-"};
	uint64_t first, last;

	(void)state;
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
		for (size_t n = 0; n <= strlen(vals[i]); n++) {
			struct guard g;
			const char *v = guard_put(&g, vals[i], n);
			enum range_result got = range_parse(v, n, 1000, &first, &last);
			if (got == RANGE_OK && (first > last || last >= 1000))
				fail_row("\"%s\": %llu-%llu", show(vals[i], n),
					 (unsigned long long)first, (unsigned long long)last);
			guard_free(&g);
		}
	ASSERT_NO_ROW_FAILURES();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    ROW_TEST(test_table),
	    ROW_TEST(test_length_bound),
	    ROW_TEST(test_prefixes),
	};

	return cmocka_run_group_tests_name("range", tests, NULL, NULL);
}
