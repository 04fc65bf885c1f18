/* mime.h — Content-Type from a file name's extension. */
#ifndef DROPCAP_MIME_H
#define DROPCAP_MIME_H

#include <stddef.h>

struct mime_type {
	const char *name; /* e.g. "text/html; charset=utf-8" */
	int compressible; /* worth looking for a precompressed .gz */
};

/* The type for path[0..len) (case-insensitive extension); application/octet-stream
 * when unknown. Never NULL. */
const struct mime_type *mime_lookup(const char *path, size_t len);

#endif
