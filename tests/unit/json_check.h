/* json_check.h — a strict checker of JSON string contents (RFC 8259 §7, written apart from
 * server/jsonesc.c), for the escaper's unit test and its fuzzer. */
#ifndef DROPCAP_TEST_JSON_CHECK_H
#define DROPCAP_TEST_JSON_CHECK_H

#include <stddef.h>
#include <string.h>

/* Well-formed UTF-8 at s (RFC 3629 table): its length, or 0. */
static inline size_t json_check_utf8(const unsigned char *s, size_t n)
{
	static const struct {
		unsigned char lo, hi, lo1, hi1;
		size_t len;
	} forms[] = {
	    {0xc2, 0xdf, 0x80, 0xbf, 2}, {0xe0, 0xe0, 0xa0, 0xbf, 3}, {0xe1, 0xec, 0x80, 0xbf, 3},
	    {0xed, 0xed, 0x80, 0x9f, 3}, {0xee, 0xef, 0x80, 0xbf, 3}, {0xf0, 0xf0, 0x90, 0xbf, 4},
	    {0xf1, 0xf3, 0x80, 0xbf, 4}, {0xf4, 0xf4, 0x80, 0x8f, 4},
	};

	if (s[0] < 0x80)
		return 1;
	for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
		if (s[0] < forms[f].lo || s[0] > forms[f].hi)
			continue;
		if (n < forms[f].len || s[1] < forms[f].lo1 || s[1] > forms[f].hi1)
			return 0;
		for (size_t i = 2; i < forms[f].len; i++)
			if (s[i] < 0x80 || s[i] > 0xbf)
				return 0;
		return forms[f].len;
	}
	return 0;
}

/* Whether s[0..n), put between two quotes, is a valid JSON string of well-formed UTF-8 with
 * no raw control character (DEL and C1 included: they must come escaped) and no lone
 * surrogate escape. */
static inline int json_check_string(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		if (s[i] < 0x20 || s[i] == 0x7f || s[i] == '"')
			return 0;
		if (s[i] == 0xc2 && i + 1 < n && s[i + 1] <= 0x9f)
			return 0; /* a raw C1 control */
		if (s[i] != '\\') {
			size_t len = json_check_utf8(s + i, n - i);
			if (len == 0)
				return 0;
			i += len;
			continue;
		}
		if (i + 1 >= n)
			return 0;
		if (!strchr("\"\\/bfnrtu", s[i + 1]) || s[i + 1] == 0)
			return 0;
		if (s[i + 1] != 'u') {
			i += 2;
			continue;
		}
		if (i + 6 > n)
			return 0;
		for (size_t k = 2; k < 6; k++)
			if (!strchr("0123456789abcdefABCDEF", s[i + k]) || s[i + k] == 0)
				return 0;
		if ((s[i + 2] == 'd' || s[i + 2] == 'D') && strchr("89abAB", s[i + 3]))
			return 0; /* a surrogate: jsonesc never writes one */
		i += 6;
	}
	return 1;
}

#endif
