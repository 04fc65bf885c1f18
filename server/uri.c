/* uri.c — request-target to a relative file path that cannot leave the root. */
#include <string.h>
#include <strings.h>

#include "http_parse.h"
#include "uri.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Skips "scheme://authority" of an absolute-form target; returns the path offset or -1.
 * The authority is a Host value with a non-empty host: RFC 9110 4.2.1 (an empty host MUST be
 * rejected) and 4.2.4 (userinfo SHOULD be treated as an error, as nginx does). */
static long path_offset(const char *t, size_t len)
{
	size_t skip, host;

	if (len > 0 && t[0] == '/')
		return 0;
	if (len >= 7 && strncasecmp(t, "http://", 7) == 0)
		skip = 7;
	else if (len >= 8 && strncasecmp(t, "https://", 8) == 0)
		skip = 8;
	else
		return -1;
	for (host = skip; skip < len && t[skip] != '/' && t[skip] != '?'; skip++)
		;
	if (skip == host || t[host] == ':' ||
	    !http_host_valid((struct http_slice){t + host, skip - host}))
		return -1;
	return (long)skip;
}

/* Ends the segment out[*s..*o): drops "." and empty ones, resolves "..". */
static int end_segment(char *out, size_t *o, size_t *s, int slash)
{
	size_t n = *o - *s;
	const char *seg = out + *s;

	if (n == 0)
		return 0;
	if (n == 1 && seg[0] == '.') {
		*o = *s;
		return 0;
	}
	if (n == 2 && seg[0] == '.' && seg[1] == '.') {
		if (*s == 0)
			return HTTP_BAD_REQUEST; /* above the root */
		*o = *s - 1;
		while (*o > 0 && out[*o - 1] != '/')
			(*o)--;
		*s = *o;
		return 0;
	}
	if (slash)
		out[(*o)++] = '/';
	*s = *o;
	return 0;
}

int uri_hidden(const char *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (out[i] != '.' || (i > 0 && out[i - 1] != '/'))
			continue;
		if (i == 0 && len >= 11 && memcmp(out, ".well-known", 11) == 0 &&
		    (len == 11 || out[11] == '/'))
			continue;
		return 1;
	}
	return 0;
}

int uri_to_path(const char *target, size_t len, char *out, size_t outsz, struct uri_path *p)
{
	long off = path_offset(target, len);
	size_t i, o = 0, s = 0;
	int last = '/', st;

	if (off < 0 || outsz < 2)
		return HTTP_BAD_REQUEST;
	for (i = (size_t)off; i < len && target[i] != '?'; i++) {
		unsigned char c = (unsigned char)target[i];
		if (c <= 0x20 || c >= 0x7f || c == '#')
			return HTTP_BAD_REQUEST;
		if (c == '%') {
			int hi = i + 2 < len ? hexval(target[i + 1]) : -1;
			int lo = hi >= 0 ? hexval(target[i + 2]) : -1;
			if (lo < 0 || (hi == 0 && lo == 0))
				return HTTP_BAD_REQUEST;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		last = c;
		if (c == '/') {
			if ((st = end_segment(out, &o, &s, 1)) != 0)
				return st;
			continue;
		}
		if (o + 2 >= outsz)
			return HTTP_URI_TOO_LONG;
		out[o++] = (char)c;
	}
	for (size_t q = i; q < len; q++)
		if ((unsigned char)target[q] <= 0x20 || target[q] == 0x7f || target[q] == '#')
			return HTTP_BAD_REQUEST;
	size_t before = o;
	if ((st = end_segment(out, &o, &s, 0)) != 0)
		return st;
	p->trailing_slash = last == '/' || o != before || o == 0;
	if (o > 0 && out[o - 1] == '/')
		o--;
	out[o] = '\0';
	p->len = o;
	p->raw_path_off = (size_t)off;
	p->raw_path_len = i - (size_t)off;
	return uri_hidden(out, o) ? HTTP_NOT_FOUND : 0;
}
