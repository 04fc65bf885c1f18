/* range.h — the single byte range of a Range header (RFC 9110 14.2). */
#ifndef DROPCAP_RANGE_H
#define DROPCAP_RANGE_H

#include <stddef.h>
#include <stdint.h>

enum range_result {
	RANGE_NONE, /* no usable range: serve the whole file (absent, malformed, multi-range, other
		       unit) */
	RANGE_OK,   /* *first..*last (inclusive) is within the file */
	RANGE_UNSATISFIABLE, /* 416 */
};

/* Parses "bytes=a-b", "bytes=a-", "bytes=-n" against a file of `size` bytes; empty list
 * elements are skipped. A suffix range of an empty file is RANGE_NONE (no byte to send). */
enum range_result range_parse(const char *value, size_t len, uint64_t size, uint64_t *first,
			      uint64_t *last);

#endif
