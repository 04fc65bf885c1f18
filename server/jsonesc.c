/* jsonesc.c — the JSON string escaper of the access log: RFC 8259 escaping, with ill-formed
 * UTF-8 replaced by U+FFFD so that every line is valid JSON for any bytes a client sends
 * (a JSON parser must reject, or may mangle, a string that is not UTF-8). */
#include <string.h>

#include "jsonesc.h"

/* A byte that goes out as it is: printable ASCII other than '"' and '\\'. */
static int plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* The length of the UTF-8 sequence at s: *ok = 1 and its length when well-formed, else
 * *ok = 0 and the length of its maximal ill-formed subpart (at least 1), which the caller
 * replaces by one U+FFFD (Unicode's "substitution of maximal subparts"). */
static size_t utf8_seq(const unsigned char *s, size_t n, int *ok)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need;

	*ok = 0;
	if (c < 0x80) {
		*ok = 1;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		lo = c == 0xe0 ? 0xa0 : 0x80; /* no overlong forms */
		hi = c == 0xed ? 0x9f : 0xbf; /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		lo = c == 0xf0 ? 0x90 : 0x80; /* no overlong forms */
		hi = c == 0xf4 ? 0x8f : 0xbf; /* nothing past U+10FFFF */
	} else {
		return 1; /* a continuation byte, C0, C1 or F5..FF: never a lead byte */
	}
	for (size_t i = 1; i <= need; i++) {
		if (i >= n || s[i] < lo || s[i] > hi)
			return i;
		lo = 0x80;
		hi = 0xbf;
	}
	*ok = 1;
	return need + 1;
}

/* The escape of a code point JSON or a log reader needs escaped, into out (7 bytes); returns
 * its length, or 0 when the character goes out as it is. */
static size_t escape_of(unsigned cp, char *out)
{
	static const char hex[] = "0123456789abcdef";
	static const char shorts[] = {
	    ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};

	if (cp == '"' || cp == '\\') {
		out[0] = '\\';
		out[1] = (char)cp;
		return 2;
	}
	if (cp < sizeof shorts && shorts[cp]) {
		out[0] = '\\';
		out[1] = shorts[cp];
		return 2;
	}
	if (cp >= 0x20 && cp != 0x7f && (cp < 0x80 || cp > 0x9f) && cp != 0x2028 && cp != 0x2029)
		return 0;
	memcpy(out, "\\u", 2);
	for (int i = 0; i < 4; i++)
		out[2 + i] = hex[(cp >> (12 - 4 * i)) & 15];
	return 6;
}

/* The code point of a well-formed sequence of len bytes. */
static unsigned decode(const unsigned char *s, size_t len)
{
	static const unsigned char lead_mask[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
	unsigned cp = s[0] & lead_mask[len];

	for (size_t i = 1; i < len; i++)
		cp = (cp << 6) | (s[i] & 0x3f);
	return cp;
}

/* The output for the character at s (len and ok from utf8_seq): into esc when escaped. */
static const char *render(const unsigned char *s, size_t len, int ok, char *esc, size_t *outlen)
{
	if (!ok) {
		*outlen = 6;
		return "\\ufffd";
	}
	*outlen = escape_of(decode(s, len), esc);
	if (*outlen)
		return esc;
	*outlen = len;
	return (const char *)s;
}

size_t jsonesc_string(char *dst, size_t cap, const char *s, size_t n, size_t *used)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, w = 0;

	while (i < n) {
		size_t run = i;
		while (run < n && run - i < cap - w && plain(u[run]))
			run++;
		if (run > i)
			memcpy(dst + w, s + i, run - i); /* plain text in one piece */
		w += run - i;
		i = run;
		if (i == n || w == cap)
			break;
		char esc[8];
		int ok;
		size_t len = utf8_seq(u + i, n - i, &ok), outlen;
		const char *out = render(u + i, len, ok, esc, &outlen);
		if (outlen > cap - w)
			break;
		memcpy(dst + w, out, outlen);
		w += outlen;
		i += len;
	}
	if (used)
		*used = i;
	return w;
}
