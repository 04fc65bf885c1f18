/*
 * site.h — which site a host name (a Host field or a TLS server name) picks. Pure: libc only,
 * no allocation, no logging; the request path and the TLS name callback call it.
 */
#ifndef DROPCAP_SITE_H
#define DROPCAP_SITE_H

#include <stddef.h>

#include "config.h"

#define SITE_NONE (-1)

/* The host name in a Host value: without a ":port" and without one trailing dot. A bracketed
 * IP literal keeps its brackets. Sets *len to the name's length and returns its start. */
const char *site_host_name(const char *host, size_t len, size_t *namelen);

/* The site whose names hold name (already without port; a trailing dot is ignored here too):
 * exact names of every site first, then one-label wildcards ("*.example.org" matches
 * "a.example.org", neither "example.org" nor "a.b.example.org"); ASCII case-insensitive.
 * Returns the site's index, or SITE_NONE when no site names it. */
int site_find(const struct config_site *sites, size_t n, const char *name, size_t len);

/* The site of a request: the one its Host names (host[0..len), has_host: a Host came), else the
 * one the TLS server name picked (sni; -1: none, or plain HTTP), else the default; an unknown
 * Host gets the default. *misdirected is set when a server name picked a site and the request
 * is for another (RFC 9110 15.5.20: answer 421). */
size_t site_for_request(const struct config *cfg, const char *host, size_t len, int has_host,
			int sni, int *misdirected);

/* Whether name[0..len) may be a site name: letters, digits, '-' and '.', labels of 1 to 63
 * bytes, at most 253 bytes, optionally "*." before the rest (then at least two labels
 * follow). IDNs go in their xn-- form. Returns 0, or -1 with err saying what is wrong. */
int site_name_check(const char *name, size_t len, char *err, size_t errlen);

/* Checks every site's --site list: each name valid, no name in two sites (nor twice in one).
 * Returns 0, or -1 with err naming the name, the sites and the fix. */
int site_check_names(const struct config_site *sites, size_t n, char *err, size_t errlen);

#endif
