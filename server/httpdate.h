/* httpdate.h — HTTP dates (RFC 9110 5.6.7). */
#ifndef DROPCAP_HTTPDATE_H
#define DROPCAP_HTTPDATE_H

#include <stddef.h>
#include <time.h>

#define HTTPDATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* Writes the IMF-fixdate of t and a NUL into out (HTTPDATE_LEN + 1 bytes); t is clamped to
 * 1970-01-01 .. 9999-12-31, the years the format can hold. */
void httpdate_format(time_t t, char out[HTTPDATE_LEN + 1]);

/* The Date header's value, formatted once per second: owned by whoever answers requests. */
struct httpdate_cache {
	time_t at; /* the second value holds; -1 before the first use */
	char value[HTTPDATE_LEN + 1];
};

void httpdate_cache_init(struct httpdate_cache *dc);
/* The IMF-fixdate of now, reformatted only when the second changed. */
const char *httpdate_cache_get(struct httpdate_cache *dc, time_t now);

/* Parses IMF-fixdate, RFC 850 and asctime forms. Returns 0 and sets *t, or -1. */
int httpdate_parse(const char *s, size_t len, time_t *t);

#endif
