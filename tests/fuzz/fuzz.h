/* fuzz.h — what every libFuzzer driver here shares: invariant checks and exact-size copies. */
#ifndef DROPCAP_FUZZ_H
#define DROPCAP_FUZZ_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant that must hold: a violation aborts, and libFuzzer keeps the input. */
#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* A heap buffer of exactly n bytes, so ASan reports any access past its end. */
static inline char *alloc_exact(size_t n)
{
	char *d = malloc(n);

	if (d == NULL && n != 0)
		abort();
	return d;
}

/* A heap copy of exactly n bytes of p. */
static inline char *dup_exact(const char *p, size_t n)
{
	char *d = alloc_exact(n);

	if (n != 0)
		memcpy(d, p, n);
	return d;
}

#endif
