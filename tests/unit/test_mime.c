/* test_mime.c — the built-in MIME table (server/mime.h): every extension the issue lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "guard.h"
#include "mime.h"

#define UTF8 "; charset=utf-8"

struct row {
	const char *path;
	const char *want; /* exact type */
	const char *alt;  /* another acceptable spelling, or NULL */
	int compressible; /* 1, 0, or -1 not checked */
};

static const struct row rows[] = {
    {"index.html", "text/html" UTF8, NULL, 1},
    {"a/b/style.css", "text/css" UTF8, NULL, 1},
    {"app.js", "text/javascript" UTF8, "application/javascript" UTF8, 1},
    {"mod.mjs", "text/javascript" UTF8, "application/javascript" UTF8, 1},
    {"data.json", "application/json", "application/json" UTF8, 1},
    {"img.svg", "image/svg+xml", "image/svg+xml" UTF8, 1},
    {"img.png", "image/png", NULL, 0},
    {"img.jpg", "image/jpeg", NULL, 0},
    {"img.jpeg", "image/jpeg", NULL, 0},
    {"img.gif", "image/gif", NULL, 0},
    {"img.webp", "image/webp", NULL, 0},
    {"img.avif", "image/avif", NULL, 0},
    {"favicon.ico", "image/x-icon", "image/vnd.microsoft.icon", -1},
    {"font.woff2", "font/woff2", NULL, 0},
    {"mod.wasm", "application/wasm", NULL, -1},
    {"notes.txt", "text/plain" UTF8, NULL, 1},
    {"feed.xml", "application/xml", "text/xml" UTF8, 1},
    {"doc.pdf", "application/pdf", NULL, -1},
    {"movie.mp4", "video/mp4", NULL, 0},
    /* beyond the list */
    {"font.woff", "font/woff", NULL, 0},
    {"README.md", "text/markdown" UTF8, NULL, 1},
    {"table.csv", "text/csv" UTF8, NULL, 1},
    {"app.js.map", "application/json", NULL, 1},
    {"site.webmanifest", "application/manifest+json", NULL, 1},
    {"song.mp3", "audio/mpeg", NULL, 0},
    {"files.zip", "application/zip", NULL, 0},
    {"movie.webm", "video/webm", NULL, 0},

    /* case-insensitive extensions */
    {"INDEX.HTML", "text/html" UTF8, NULL, 1},
    {"Photo.JPG", "image/jpeg", NULL, 0},
    {"a.Css", "text/css" UTF8, NULL, 1},

    /* unknown or no extension */
    {"README", "application/octet-stream", NULL, -1},
    {"blob.bin", "application/octet-stream", NULL, -1},
    {"file.", "application/octet-stream", NULL, -1},
    {"archive.tar.gz", "application/octet-stream", "application/gzip", -1},
    {"dir.html/README", "application/octet-stream", NULL, -1},
    {"a.htmlx", "application/octet-stream", NULL, -1},
    {"a.xhtml", "application/octet-stream", "application/xhtml+xml", -1},
    {"html", "application/octet-stream", NULL, -1},
    {"", "application/octet-stream", NULL, -1},
    {".well-known/security.txt", "text/plain" UTF8, NULL, 1},
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct row *r = &rows[i];
		size_t len = strlen(r->path);
		struct guard g;
		const struct mime_type *m = mime_lookup(guard_put(&g, r->path, len), len);

		if (!m || !m->name) {
			fail_row("\"%s\": NULL", r->path);
		} else {
			if (strcmp(m->name, r->want) != 0 &&
			    !(r->alt && strcmp(m->name, r->alt) == 0))
				fail_row("\"%s\": \"%s\", want \"%s\"%s%s", r->path, m->name,
					 r->want, r->alt ? " or " : "", r->alt ? r->alt : "");
			if (strncmp(m->name, "text/", 5) == 0 && !strstr(m->name, "charset=utf-8"))
				fail_row("\"%s\": text type \"%s\" without charset=utf-8", r->path,
					 m->name);
			if (r->compressible >= 0 && (m->compressible != 0) != r->compressible)
				fail_row("\"%s\": compressible %d, want %d", r->path,
					 m->compressible, r->compressible);
		}
		guard_free(&g);
	}
	ASSERT_NO_ROW_FAILURES();
}

/* Only len bytes count: "a.html.png" cut to "a.html" is html. */
static void test_length_bound(void **state)
{
	struct guard g;
	const struct mime_type *m;

	(void)state;
	m = mime_lookup(guard_put(&g, "a.html.png", 6), 6);
	assert_string_equal(m->name, "text/html" UTF8);
	guard_free(&g);
	m = mime_lookup(guard_put(&g, "a.png", 4), 4);
	assert_string_equal(m->name, "application/octet-stream");
	guard_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    ROW_TEST(test_table),
	    ROW_TEST(test_length_bound),
	};

	return cmocka_run_group_tests_name("mime", tests, NULL, NULL);
}
