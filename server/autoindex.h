/* autoindex.h — the HTML listing of a directory without index.html (--autoindex). */
#ifndef DROPCAP_AUTOINDEX_H
#define DROPCAP_AUTOINDEX_H

#include <stddef.h>

#include "fcache.h"
#include "http_parse.h"

/* The largest page: one pooled buffer of this size holds it while it is sent. */
#define AUTOINDEX_PAGE_MAX 65536
/* Entries read from one directory; the rest are left out with a note. */
#define AUTOINDEX_ENTRIES_MAX 2048

/*
 * Writes the listing of dir (a path beneath root_fd from uri_to_path, "" for the root) into
 * out[0..cap): the visible entries (no name starting with '.'; symlinks only when fcache_open
 * accepts what they lead to: beneath the root, not hidden) sorted in byte order, directories
 * with a trailing slash, names HTML-escaped and hrefs percent-encoded; when the entries or
 * the page would exceed the bounds, a "listing truncated" note ends it. Reads the directory
 * with getdents64 into fixed buffers: no allocation. Returns the page's length, or -status:
 * -403 when the directory holds index.html after all (it could not be read) or cannot be
 * listed, -404 when it is gone, -500/-503 as fcache_open says.
 */
long autoindex_page(struct fcache *fc, double now, int root_fd, const char *dir, char *out,
		    size_t cap);

#endif
