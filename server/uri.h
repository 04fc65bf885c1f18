/* uri.h — request-target to file path: strict percent-decoding and normalisation. */
#ifndef DROPCAP_URI_H
#define DROPCAP_URI_H

#include <stddef.h>

struct uri_path {
	size_t len;	     /* length of path, without the NUL */
	int trailing_slash;  /* the request path ended in '/' (or was "/") */
	size_t raw_path_len; /* bytes of the raw target that form its path (before '?') */
	size_t raw_path_off; /* offset of the path in the raw target (absolute-form skips
				scheme://host) */
};

/*
 * Decodes and normalises the path of a request-target (origin-form "/a/b?q" or
 * absolute-form "http://host/a/b") into out: a relative path without a leading
 * slash, "" for the root, NUL-terminated, with "." and empty segments removed and
 * ".." resolved. The query is dropped.
 * Returns 0 and fills *p, or an HTTP status: 400 for a malformed target (bad
 * percent-escape, encoded NUL, ".." above the root, a fragment, control bytes, an
 * absolute-form authority with an empty host, userinfo or invalid characters),
 * 404 for a hidden path (a segment starting with '.', except ".well-known" as the
 * first segment), 414 when the decoded path does not fit in outsz.
 */
int uri_to_path(const char *target, size_t len, char *out, size_t outsz, struct uri_path *p);

/* Whether a relative path (no leading slash) is hidden: it has a segment starting with '.',
 * other than ".well-known" as its first segment. The one rule for requested and opened paths. */
int uri_hidden(const char *path, size_t len);

#endif
