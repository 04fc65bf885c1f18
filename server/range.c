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

enum range_result range_parse(const char *value, size_t len, uint64_t size, uint64_t *first,
			      uint64_t *last)
{
	const char *p = value, *end = value + len;
	uint64_t a, b;
	size_t na, nb;

	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (end - p < 7 || strncasecmp(p, "bytes=", 6) != 0)
		return RANGE_NONE;
	p += 6;
	na = number(p, end, &a);
	p += na;
	if (p >= end || *p != '-')
		return RANGE_NONE;
	p++;
	nb = number(p, end, &b);
	if (p + nb != end || (na == 0 && nb == 0))
		return RANGE_NONE; /* a list, junk, or "-" */
	if (na == 0) {		   /* suffix: the last b bytes */
		if (b == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return RANGE_OK;
	}
	if (nb != 0 && b < a)
		return RANGE_NONE;
	if (a >= size)
		return RANGE_UNSATISFIABLE;
	*first = a;
	*last = (nb == 0 || b >= size) ? size - 1 : b;
	return RANGE_OK;
}
