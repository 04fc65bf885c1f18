/* range.c — one byte range (RFC 9110 14.1.2); anything else means "send the whole file". */
#include <strings.h>

#include "range.h"

/* Reads a decimal number, saturating at UINT64_MAX. Returns the digit count. */
static size_t number(const char *s, const char *end, uint64_t *v)
{
	size_t n = 0;

	*v = 0;
	for (; s + n < end && s[n] >= '0' && s[n] <= '9'; n++) {
		unsigned d = (unsigned)(s[n] - '0');
		*v = (*v > (UINT64_MAX - d) / 10) ? UINT64_MAX : *v * 10 + d;
	}
	return n;
}

static int ows_or_comma(char c)
{
	return c == ' ' || c == '\t' || c == ',';
}

/* One range-spec p..end: "a-b", "a-" or "-n" (RFC 9110 14.1.1). */
static enum range_result one_range(const char *p, const char *end, uint64_t size, uint64_t *first,
				   uint64_t *last)
{
	uint64_t a, b;
	size_t na = number(p, end, &a), nb;

	p += na;
	if (p >= end || *p != '-')
		return RANGE_NONE;
	p++;
	nb = number(p, end, &b);
	if (p + nb != end || (na == 0 && nb == 0))
		return RANGE_NONE; /* junk, or "-" */
	if (na == 0) {		   /* suffix: the last b bytes */
		if (b == 0)
			return RANGE_UNSATISFIABLE;
		if (size == 0)
			return RANGE_NONE; /* satisfiable, yet no byte to send: the whole (empty)
					      200 */
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return RANGE_OK;
	}
	if (nb != 0 && b < a)
		return RANGE_NONE; /* invalid: ignored (RFC 9110 14.2 MAY) */
	if (a >= size)
		return RANGE_UNSATISFIABLE;
	*first = a;
	*last = (nb == 0 || b >= size) ? size - 1 : b;
	return RANGE_OK;
}

enum range_result range_parse(const char *value, size_t len, uint64_t size, uint64_t *first,
			      uint64_t *last)
{
	const char *p = value, *end = value + len, *e, *t;

	if (len < 6 || strncasecmp(p, "bytes=", 6) != 0)
		return RANGE_NONE;
	/* empty list elements do not count (RFC 9110 5.6.1.2): "bytes=0-4," is one range */
	for (p += 6; p < end && ows_or_comma(*p); p++)
		;
	for (e = p; e < end && *e != ','; e++)
		;
	for (t = e; t > p && (t[-1] == ' ' || t[-1] == '\t'); t--)
		;
	while (e < end && ows_or_comma(*e))
		e++;
	if (e != end)
		return RANGE_NONE; /* several ranges: the whole file (RFC 9110 14.2 MAY ignore) */
	return one_range(p, t, size, first, last);
}
