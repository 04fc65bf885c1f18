/* file.h — map a decoded request path onto a file under the root, with HTTP's conditionals. */
#ifndef DROPCAP_FILE_H
#define DROPCAP_FILE_H

#include <stdint.h>
#include <time.h>

#include "fcache.h"
#include "http_parse.h"
#include "httpdate.h"
#include "mime.h"
#include "uri.h"

#define FILE_PATH_MAX 4096

struct file_plan {
	enum http_status status; /* 200, 206, 304, 403, 404, 412, 416, 500, 503 */
	struct fcache_ref file;	 /* for 200/206: release it with fcache_release; else fd -1 */
	uint64_t offset;	 /* body: offset and length within the file */
	uint64_t length;
	uint64_t size; /* of the representation */
	const struct mime_type *type;
	enum http_coding coding; /* a precompressed FILE.br, .zst or .gz is served, or identity */
	unsigned vary : 1;
	unsigned directory : 1; /* 404: path names a directory, asked for without the slash */
	char etag[64];
	char last_modified[HTTPDATE_LEN + 1];
};

/*
 * Resolves path (from uri_to_path; needs FILE_PATH_MAX bytes of room, it is extended in
 * place) beneath root_fd with openat2(RESOLVE_BENEATH): directories serve index.html
 * when named with the trailing slash (without it: 404 with plan->directory, which the
 * caller redirects), for a compressible type the variant FILE.br, FILE.zst or FILE.gz that
 * Accept-Encoding prefers (http_coding_choose; plan->coding, an ETag of its own), then the
 * preconditions in RFC 9110 13.2.2's order: If-Match / If-Unmodified-Since (412),
 * If-None-Match / If-Modified-Since (304), and for GET Range / If-Range (206, 416).
 * Only regular files are served. Returns plan->status. Never blocks on a FIFO. Files
 * are opened through fc, where an entry is trusted for FCACHE_TTL seconds after now.
 */
enum http_status file_resolve(struct fcache *fc, double now, int root_fd, char *path,
			      const struct uri_path *up, const struct http_request *req,
			      struct file_plan *plan);

#endif
