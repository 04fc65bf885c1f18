/* guard.h — puts a test input right before an unreadable page, so that any read past its end
 * faults (the picohttpparser trick), plus a tiny failure counter for table-driven tests. */
#ifndef DROPCAP_TEST_GUARD_H
#define DROPCAP_TEST_GUARD_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct guard {
	char *map;   /* whole mapping */
	size_t size; /* its length, including the PROT_NONE page */
	char *data;  /* the copy of the input; data + len is the first unreadable byte */
};

/* Copies len bytes of src so that they end exactly at an unreadable page. Aborts on failure. */
static inline char *guard_put(struct guard *g, const void *src, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t body = (len + page - 1) / page * page;

	g->size = body + page;
	g->map = mmap(NULL, g->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->map == MAP_FAILED || mprotect(g->map + body, page, PROT_NONE) != 0)
		abort();
	g->data = g->map + body - len;
	if (len)
		memcpy(g->data, src, len);
	return g->data;
}

static inline void guard_free(struct guard *g)
{
	munmap(g->map, g->size);
}

/* Failures are counted, not fatal, so one run lists every wrong row. */
static int test_failures;

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static inline void
fail_row(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("  FAIL ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	test_failures++;
}

/* Prints s[0..n) with control bytes escaped, for failure messages (rotating static buffers). */
static inline const char *show(const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	static char out[4][600];
	static unsigned which;
	char *o = out[which++ % 4];
	size_t j = 0;

	for (size_t i = 0; s && i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (j + 8 >= sizeof out[0]) {
			memcpy(o + j, "...", 3);
			j += 3;
			break;
		}
		if (c == '\r' || c == '\n') {
			o[j++] = '\\';
			o[j++] = c == '\r' ? 'r' : 'n';
		} else if (c < 0x20 || c >= 0x7f) {
			o[j++] = '\\';
			o[j++] = 'x';
			o[j++] = hex[c >> 4];
			o[j++] = hex[c & 15];
		} else {
			o[j++] = (char)c;
		}
	}
	o[j] = '\0';
	return o;
}

/* Per-test setup: a test that stopped on an assert must not leak its count into the next. */
static inline int reset_failures(void **state)
{
	(void)state;
	test_failures = 0;
	return 0;
}

#define ROW_TEST(f) cmocka_unit_test_setup(f, reset_failures)

#define ASSERT_NO_ROW_FAILURES()                                                                   \
	do {                                                                                       \
		int f_ = test_failures;                                                            \
		test_failures = 0;                                                                 \
		assert_int_equal(f_, 0);                                                           \
	} while (0)

#endif
