/* conffile.h — the --config file: INI read with libinih, one key at a time to a handler. */
#ifndef DROPCAP_CONFFILE_H
#define DROPCAP_CONFFILE_H

#include <stddef.h>

/* The largest file read: a configuration, not a data set. */
#define CONFFILE_MAX_SIZE (1024 * 1024)

/* Called for each key in file order: section is "" before the first [section]. Returns 0, or
 * -1 with err set (conffile_parse then prefixes FILE:LINE). */
typedef int (*conffile_key_fn)(void *user, const char *section, const char *key, const char *value,
			       unsigned line, char *err, size_t errlen);

/* Reads path whole into a malloc'd buffer (*len bytes; the caller frees it), or NULL with err
 * "PATH: why". */
char *conffile_read(const char *path, size_t *len, char *err, size_t errlen);

/* Hands each key of buf (read from path) to fn. Returns 0, or -1 with err "PATH:LINE: why".
 * Lines longer than libinih's line limit, or with control bytes, are errors. */
int conffile_parse(const char *path, const char *buf, size_t len, conffile_key_fn fn, void *user,
		   char *err, size_t errlen);

/* 1 for true, yes, on, 1; 0 for false, no, off, 0; -1 for anything else. */
int conffile_bool(const char *value);

/* The candidate within edit distance 2 of word (the closest), or NULL: "did you mean". */
const char *conffile_suggest(const char *word, const char *const *candidates, size_t n);

#endif
