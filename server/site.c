/* site.c — host names to sites: exact names, then one-label wildcards, ASCII case-insensitive. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "site.h"

#define SITE_NAME_MAX 253
#define SITE_LABEL_MAX 63

static int site_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int site_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

const char *site_host_name(const char *host, size_t len, size_t *namelen)
{
	const char *end = host + len;

	if (len > 0 && host[0] == '[') { /* an IP literal: up to its bracket */
		const char *rb = memchr(host, ']', len);
		*namelen = rb ? (size_t)(rb + 1 - host) : len;
		return host;
	}
	const char *colon = memchr(host, ':', len);
	if (colon)
		end = colon;
	if (end > host && end[-1] == '.')
		end--;
	*namelen = (size_t)(end - host);
	return host;
}

/* The next name of a comma-separated list at *p (advanced past it); 0 at the end. */
static size_t next_name(const char **p, const char **name)
{
	const char *s = *p, *comma;
	size_t n;

	if (!s || !*s)
		return 0;
	comma = strchr(s, ',');
	n = comma ? (size_t)(comma - s) : strlen(s);
	*name = s;
	*p = comma ? comma + 1 : s + n;
	if (n > 0 && s[n - 1] == '.')
		n--; /* "example.org." names example.org */
	return n;
}

static int eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && strncasecmp(a, b, alen) == 0;
}

/* Whether pattern (exact, or "*.rest") covers name: wildcard says which kind to test. */
static int covers(const char *pat, size_t plen, const char *name, size_t len, int wildcard)
{
	const char *dot;

	if (!wildcard)
		return !(plen >= 2 && pat[0] == '*') && eq(pat, plen, name, len);
	if (plen < 3 || pat[0] != '*' || pat[1] != '.')
		return 0;
	dot = memchr(name, '.', len); /* the first label is the one '*' stands for */
	return dot && dot > name && eq(pat + 1, plen - 1, dot, len - (size_t)(dot - name));
}

static int find_pass(const struct config_site *sites, size_t n, const char *name, size_t len,
		     int wildcard)
{
	for (size_t i = 0; i < n; i++) {
		const char *p = sites[i].names, *pat;
		size_t plen;

		while ((plen = next_name(&p, &pat)) > 0)
			if (covers(pat, plen, name, len, wildcard))
				return (int)i;
	}
	return SITE_NONE;
}

int site_find(const struct config_site *sites, size_t n, const char *name, size_t len)
{
	int i;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > SITE_NAME_MAX)
		return SITE_NONE;
	i = find_pass(sites, n, name, len, 0);
	return i != SITE_NONE ? i : find_pass(sites, n, name, len, 1);
}

size_t site_for_request(const struct config *cfg, const char *host, size_t len, int has_host,
			int sni, int *misdirected)
{
	size_t n;
	const char *name;
	int site;

	*misdirected = 0;
	if (!has_host || len == 0)
		return sni >= 0 ? (size_t)sni : cfg->default_site;
	name = site_host_name(host, len, &n);
	site = site_find(cfg->sites, cfg->n_sites, name, n);
	if (site == SITE_NONE)
		site = (int)cfg->default_site;
	*misdirected = sni >= 0 && sni != site;
	return (size_t)site;
}

static int label_ok(const char *s, size_t n)
{
	if (n == 0 || n > SITE_LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!(ch == '-' || (ch >= '0' && ch <= '9') ||
		      ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z')))
			return 0;
	}
	return 1;
}

int site_name_check(const char *name, size_t len, char *err, size_t errlen)
{
	int wild = len >= 2 && name[0] == '*' && name[1] == '.';
	const char *s = name + (wild ? 2 : 0), *end = name + len;
	size_t labels = 0;

	if (len == 0 || len > SITE_NAME_MAX)
		return site_err(err, errlen, "'%.*s': a name has 1 to %d characters", (int)len,
				name, SITE_NAME_MAX);
	while (s <= end) {
		const char *dot = memchr(s, '.', (size_t)(end - s));
		const char *le = dot ? dot : end;
		if (!label_ok(s, (size_t)(le - s)))
			return site_err(
			    err, errlen,
			    "'%.*s' is not a host name (letters, digits and '-' between "
			    "dots; a wildcard only as '*.' at the start; an IDN in its "
			    "xn-- form)",
			    (int)len, name);
		labels++;
		s = le + 1;
	}
	if (wild && labels < 2)
		return site_err(err, errlen,
				"'%.*s': a wildcard needs at least two labels after '*.'", (int)len,
				name);
	return 0;
}

/* Whether the name pat of site i is claimed by a site before it, or earlier in its own list. */
static int claimed(const struct config_site *sites, size_t i, const char *pat, size_t plen,
		   size_t *other)
{
	for (size_t j = 0; j <= i; j++) {
		const char *p = sites[j].names, *q;
		size_t qlen;

		while ((qlen = next_name(&p, &q)) > 0) {
			if (j == i && q == pat)
				return 0; /* reached itself */
			if (eq(q, qlen, pat, plen)) {
				*other = j;
				return 1;
			}
		}
	}
	return 0;
}

/* Checks the names of site i: each valid, none claimed already. */
static int check_site(const struct config_site *sites, size_t i, char *err, size_t errlen)
{
	const char *p = sites[i].names, *pat;
	size_t plen, other;

	if (!p)
		return 0; /* the site before the first --site has no names */
	do {
		plen = next_name(&p, &pat);
		if (plen == 0)
			return site_err(
			    err, errlen,
			    "--site '%s': an empty name (write NAME,NAME: no spaces, no "
			    "doubled or trailing commas)",
			    sites[i].names);
		if (site_name_check(pat, plen, err, errlen) < 0)
			return -1;
		if (claimed(sites, i, pat, plen, &other))
			return site_err(err, errlen,
					"two sites claim the name %.*s (--site %s and --site %s): "
					"give each name to one site only",
					(int)plen, pat, sites[other].names, sites[i].names);
	} while (*p || p[-1] == ',');
	return 0;
}

int site_check_names(const struct config_site *sites, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++)
		if (check_site(sites, i, err, errlen) < 0)
			return -1;
	return 0;
}
