/* mime.c — Content-Type from a file name's extension: a small sorted-by-use table. */
#include <string.h>
#include <strings.h>

#include "mime.h"

struct mime_entry {
	const char *ext;
	struct mime_type type;
};

#define TEXT(t)                                                                                    \
	{                                                                                          \
		t "; charset=utf-8", 1                                                             \
	}

static const struct mime_entry mime_table[] = {
    {"html", TEXT("text/html")},
    {"htm", TEXT("text/html")},
    {"css", TEXT("text/css")},
    {"js", TEXT("text/javascript")},
    {"mjs", TEXT("text/javascript")},
    {"json", {"application/json", 1}},
    {"svg", {"image/svg+xml", 1}},
    {"png", {"image/png", 0}},
    {"jpg", {"image/jpeg", 0}},
    {"jpeg", {"image/jpeg", 0}},
    {"gif", {"image/gif", 0}},
    {"webp", {"image/webp", 0}},
    {"avif", {"image/avif", 0}},
    {"ico", {"image/x-icon", 1}},
    {"woff2", {"font/woff2", 0}},
    {"wasm", {"application/wasm", 1}},
    {"txt", TEXT("text/plain")},
    {"xml", TEXT("text/xml")},
    {"pdf", {"application/pdf", 0}},
    {"mp4", {"video/mp4", 0}},
    {"webm", {"video/webm", 0}},
    /* beyond the required set: what static sites commonly carry */
    {"woff", {"font/woff", 0}},
    {"ttf", {"font/ttf", 1}},
    {"otf", {"font/otf", 1}},
    {"md", TEXT("text/markdown")},
    {"csv", TEXT("text/csv")},
    {"map", {"application/json", 1}},
    {"webmanifest", {"application/manifest+json", 1}},
    {"mp3", {"audio/mpeg", 0}},
    {"ogg", {"audio/ogg", 0}},
    {"wav", {"audio/wav", 0}},
    {"zip", {"application/zip", 0}},
};

static const struct mime_type mime_default = {"application/octet-stream", 0};

const struct mime_type *mime_lookup(const char *path, size_t len)
{
	size_t i = len;

	while (i > 0 && path[i - 1] != '.' && path[i - 1] != '/')
		i--;
	if (i == 0 || path[i - 1] != '.')
		return &mime_default;
	const char *ext = path + i;
	size_t ext_len = len - i;
	if (ext_len == 0) /* "name.": no entry is empty */
		return &mime_default;
	for (size_t k = 0; k < sizeof mime_table / sizeof mime_table[0]; k++) {
		const char *e = mime_table[k].ext;
		/* the first letter first: an unknown extension (.bin) is compared with every
		 * entry on each request */
		if ((e[0] | 0x20) != (ext[0] | 0x20))
			continue;
		if (strlen(e) == ext_len && strncasecmp(e, ext, ext_len) == 0)
			return &mime_table[k].type;
	}
	return &mime_default;
}
