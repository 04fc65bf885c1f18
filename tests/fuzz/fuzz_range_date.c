/* fuzz_range_date.c — libFuzzer driver for Range values (server/range.h) and HTTP dates
 * (server/httpdate.h). Input: a decimal number, a newline, then the header value. The number
 * is the file size for range_parse and, cast, a time_t for httpdate_format. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "httpdate.h"
#include "range.h"

#define DEFAULT_SIZE 10000
#define MAX_FIXDATE INT64_C(253402300799) /* 9999-12-31 23:59:59: four-digit years */

/* The leading decimal number of s[0..len), saturating; def when there is none. */
static uint64_t leading_number(const char *s, size_t len, uint64_t def)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
	}
	return i ? v : def;
}

/* RANGE_OK lies inside the file, and the range it names, written out, parses to itself. */
static void check_range(const char *v, size_t len, uint64_t size)
{
	uint64_t first = 0, last = 0, f2 = 0, l2 = 0;
	enum range_result r = range_parse(v, len, size, &first, &last);
	char canon[64];

	CHECK(r == RANGE_NONE || r == RANGE_OK || r == RANGE_UNSATISFIABLE);
	if (r != RANGE_OK)
		return;
	CHECK(first <= last && last < size);
	int n = snprintf(canon, sizeof canon, "bytes=%" PRIu64 "-%" PRIu64, first, last);
	CHECK(n > 0 && (size_t)n < sizeof canon);
	CHECK(range_parse(canon, (size_t)n, size, &f2, &l2) == RANGE_OK);
	CHECK(f2 == first && l2 == last);
}

/* A parsed date formats as an IMF-fixdate that parses back to the same second. */
static void check_date(const char *v, size_t len)
{
	char out[HTTPDATE_LEN + 1];
	time_t t, t2;

	if (httpdate_parse(v, len, &t) != 0)
		return;
	CHECK(t >= 0 && (int64_t)t <= MAX_FIXDATE);
	httpdate_format(t, out);
	CHECK(out[HTTPDATE_LEN] == '\0' && strlen(out) == HTTPDATE_LEN);
	CHECK(httpdate_parse(out, HTTPDATE_LEN, &t2) == 0 && t2 == t);
}

/* Any time_t (a file's mtime can be anything) formats as 29 printable bytes, for a header;
 * the times the format can express round-trip through it. */
static void check_time(uint64_t n)
{
	char out[HTTPDATE_LEN + 1];
	time_t t = (time_t)n, t2;

	httpdate_format(t, out);
	CHECK(strlen(out) == HTTPDATE_LEN);
	for (size_t i = 0; i < HTTPDATE_LEN; i++)
		CHECK(out[i] >= 0x20 && out[i] < 0x7f);
	if (t < 0 || (int64_t)t > MAX_FIXDATE)
		return;
	CHECK(httpdate_parse(out, HTTPDATE_LEN, &t2) == 0 && t2 == t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *nl = memchr(s, '\n', size);
	size_t skip = nl ? (size_t)(nl - s) + 1 : 0;
	uint64_t n = nl ? leading_number(s, skip, DEFAULT_SIZE) : DEFAULT_SIZE;
	char *v = dup_exact(s + skip, size - skip);

	check_range(v, size - skip, n);
	check_date(v, size - skip);
	check_time(n);
	free(v);
	return 0;
}
