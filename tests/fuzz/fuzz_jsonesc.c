/* fuzz_jsonesc.c — libFuzzer driver for the access log's JSON escaper (server/jsonesc.h): any
 * bytes, at any output room, give a valid JSON string (checked by a validator written apart),
 * the cut never splits a character, and well-formed UTF-8 decodes back to itself. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/json_check.h"
#include "fuzz.h"
#include "jsonesc.h"

/* Decodes JSON string contents (json_check_string holds) into dst; returns its length. */
static size_t unescape(const char *s, size_t n, char *dst)
{
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		if (s[i] != '\\') {
			dst[o++] = s[i++];
			continue;
		}
		const char *map = strchr("\"\"\\\\//b\bf\fn\nr\rt\t", s[i + 1]);
		if (s[i + 1] != 'u') {
			CHECK(map != NULL);
			dst[o++] = map[1];
			i += 2;
			continue;
		}
		char hex[5] = {s[i + 2], s[i + 3], s[i + 4], s[i + 5], 0};
		unsigned long cp = strtoul(hex, NULL, 16);
		if (cp < 0x80) {
			dst[o++] = (char)cp;
		} else if (cp < 0x800) {
			dst[o++] = (char)(0xc0 | cp >> 6);
			dst[o++] = (char)(0x80 | (cp & 0x3f));
		} else {
			dst[o++] = (char)(0xe0 | cp >> 12);
			dst[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			dst[o++] = (char)(0x80 | (cp & 0x3f));
		}
		i += 6;
	}
	return o;
}

static int well_formed(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t len = json_check_utf8((const unsigned char *)s + i, n - i);
		if (len == 0)
			return 0;
		i += len;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t n = size - 1, full_cap = 6 * n, cap = (size_t)data[0] * n / 255, used, full_used;
	char *in = dup_exact((const char *)data + 1, n);
	char *out = alloc_exact(cap), *full = alloc_exact(full_cap), *back = alloc_exact(full_cap);
	size_t w = jsonesc_string(out, cap, in, n, &used);
	size_t fw = jsonesc_string(full, full_cap, in, n, &full_used);

	CHECK(w <= cap && used <= n && json_check_string(out, w));
	CHECK(full_used == n && fw <= full_cap && json_check_string(full, fw));
	/* the cut output is the full output of what it consumed, a prefix of the whole one */
	CHECK(w <= fw && memcmp(out, full, w) == 0);
	CHECK(used == n || w + 6 > cap); /* it stopped only for want of room */
	if (well_formed(in, n)) {
		size_t bn = unescape(full, fw, back);
		CHECK(bn == n && memcmp(back, in, n) == 0);
	}
	free(in);
	free(out);
	free(full);
	free(back);
	return 0;
}
