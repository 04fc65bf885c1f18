/* config.c — the command line, parsed once into struct config. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conffile.h"
#include "config.h"
#include "log.h"
#include "site.h"
#include "tls.h"

static const char usage_text[] =
    "usage: dropcap --root DIR [options] [--site NAME[,NAME...] --root DIR [site options]]...\n"
    "       dropcap --config FILE      the same options from an INI file, [site NAME] sections\n"
    "       dropcap check --config FILE | check [options]   validate, serve nothing\n"
    "       dropcap doctor [options]   check how each listener can be acquired here; change "
    "nothing\n"
    "\n"
    "Serves the static files under DIR over HTTPS and HTTP, then drops every privilege.\n"
    "\n"
    "  --root DIR              directory to serve (required; per site)\n"
    "  --https ADDR:PORT|off   HTTPS listener (default :443 = every address, IPv6 and IPv4)\n"
    "  --http ADDR:PORT|off    plain HTTP listener (default :80); e.g. 127.0.0.1:8080, [::1]:80\n"
    "  --cert FILE             PEM certificate chain for HTTPS (leaf first; per site)\n"
    "  --key FILE              PEM private key matching --cert (ECDSA or RSA; per site)\n"
    "  --site NAME[,NAME...]   start a site: the per-site options after it (--root, --cert,\n"
    "                          --key, --default) are its own; names are exact or *.example.org.\n"
    "                          HTTPS picks the site by SNI, both listeners by Host; a Host of\n"
    "                          another site than the SNI one gets 421. Options before the first\n"
    "                          --site make the default site; a site without --cert gets its\n"
    "                          certificate. Up to 64 sites\n"
    "  --default               (after --site) this site answers unknown names, not the first\n"
    "  per-site options (before the first --site: the default site's):\n"
    "  --redirect-https        HTTP answers 301 to https://HOST[:PORT]/target, except\n"
    "                          /.well-known/acme-challenge/\n"
    "  --acme-root DIR         serve /.well-known/acme-challenge/ from DIR (certbot --webroot)\n"
    "  --hsts 'SECONDS[;includeSubDomains][;preload]'  Strict-Transport-Security on HTTPS\n"
    "  --error-pages /DIR      404.html, 403.html, ... from DIR within the site (/: the root)\n"
    "  --fallback /PATH        a missing path gets this file with 200 (single-page apps)\n"
    "  --fallback-assets       ...paths with an extension too (default: they keep their 404)\n"
    "  --header 'PATTERN: Name: value'  add a field to 2xx/304 responses whose path matches\n"
    "                          the glob ('*' crosses '/'); repeatable, 16 per site\n"
    "  --security-headers      X-Content-Type-Options, Referrer-Policy, CSP frame-ancestors\n"
    "  --autoindex             list a directory without index.html instead of 403\n";

/* Two parts: C11 promises string literals of 4095 bytes only. */
static const char usage_server[] =
    "  server-wide options:\n"
    "  --access-log FILE|off   append the access log to FILE (default stdout)\n"
    "  --log-format combined|site_combined|combined_nosite|json\n"
    "                         access log lines (default combined: the site last)\n"
    "  --user NAME             user to switch to when started as root (default nobody)\n"
    "  --group NAME            group to switch to (default: the user's primary group)\n"
    "  --listen-fd N[:https|:http]  serve an inherited listening socket (repeatable)\n"
    "  --max-conns N           simultaneous connections (default 10000)\n"
    "  --workers N             event loops, one thread each (default: the CPUs dropcap may\n"
    "                          run on; 1 to 256)\n"
    "  --header-timeout SEC    time to receive a request head (default 10)\n"
    "  --keepalive-timeout SEC idle time before a keep-alive connection is closed (default 60)\n"
    "  --ticket-key-file FILE  TLS session ticket keys, 80 random bytes each (openssl rand 80);\n"
    "                          the first encrypts, all decrypt; share it across a fleet.\n"
    "                          Mode 0600 or 0640, not a symlink; SIGHUP reads it again\n"
    "  --core-dumps            stay dumpable after dropping privileges (off by default)\n"
    "  --no-sandbox            no Landlock, no seccomp filter (debugging only; warns)\n"
    "  --no-http2              HTTPS offers HTTP/1.1 only (ALPN without h2)\n"
    "  --config FILE           every option from FILE (INI: keys are the option names, one\n"
    "                          [site NAME[,NAME...]] section per site); only --no-sandbox and\n"
    "                          --core-dumps may join it. SIGHUP reads it again\n"
    "  --help, --version\n"
    "\n"
    "Ports below 1024 need one of: the file capability (sudo dropcap-setcap BINARY), systemd "
    "socket\n"
    "activation or --listen-fd, ambient capabilities, or starting as root (then --user).\n";

enum {
	OPT_ROOT = 256,
	OPT_HTTPS,
	OPT_HTTP,
	OPT_CERT,
	OPT_KEY,
	OPT_ACCESS_LOG,
	OPT_LOG_FORMAT,
	OPT_USER,
	OPT_GROUP,
	OPT_LISTEN_FD,
	OPT_MAX_CONNS,
	OPT_WORKERS,
	OPT_HEADER_TIMEOUT,
	OPT_KEEPALIVE_TIMEOUT,
	OPT_CORE_DUMPS,
	OPT_NO_SANDBOX,
	OPT_NO_HTTP2,
	OPT_SITE,
	OPT_DEFAULT,
	OPT_HSTS,
	OPT_REDIRECT_HTTPS,
	OPT_AUTOINDEX,
	OPT_ACME_ROOT,
	OPT_HEADER,
	OPT_SECURITY_HEADERS,
	OPT_ERROR_PAGES,
	OPT_FALLBACK,
	OPT_FALLBACK_ASSETS,
	OPT_HELP,
	OPT_VERSION,
	OPT_CONFIG,
	OPT_TICKET_KEY_FILE,
};

static const struct option options[] = {
    {"root", required_argument, NULL, OPT_ROOT},
    {"https", required_argument, NULL, OPT_HTTPS},
    {"http", required_argument, NULL, OPT_HTTP},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"access-log", required_argument, NULL, OPT_ACCESS_LOG},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"user", required_argument, NULL, OPT_USER},
    {"group", required_argument, NULL, OPT_GROUP},
    {"listen-fd", required_argument, NULL, OPT_LISTEN_FD},
    {"max-conns", required_argument, NULL, OPT_MAX_CONNS},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
    {"keepalive-timeout", required_argument, NULL, OPT_KEEPALIVE_TIMEOUT},
    {"core-dumps", no_argument, NULL, OPT_CORE_DUMPS},
    {"no-sandbox", no_argument, NULL, OPT_NO_SANDBOX},
    {"no-http2", no_argument, NULL, OPT_NO_HTTP2},
    {"site", required_argument, NULL, OPT_SITE},
    {"default", no_argument, NULL, OPT_DEFAULT},
    {"hsts", required_argument, NULL, OPT_HSTS},
    {"redirect-https", no_argument, NULL, OPT_REDIRECT_HTTPS},
    {"autoindex", no_argument, NULL, OPT_AUTOINDEX},
    {"acme-root", required_argument, NULL, OPT_ACME_ROOT},
    {"header", required_argument, NULL, OPT_HEADER},
    {"security-headers", no_argument, NULL, OPT_SECURITY_HEADERS},
    {"error-pages", required_argument, NULL, OPT_ERROR_PAGES},
    {"fallback", required_argument, NULL, OPT_FALLBACK},
    {"fallback-assets", no_argument, NULL, OPT_FALLBACK_ASSETS},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"ticket-key-file", required_argument, NULL, OPT_TICKET_KEY_FILE},
    {NULL, 0, NULL, 0},
};

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_listen_fd(struct config *c, const char *arg, char *err, size_t errlen)
{
	char num[16];
	const char *colon = strchr(arg, ':');
	size_t n = colon ? (size_t)(colon - arg) : strlen(arg);
	unsigned fd;
	struct config_listen_fd *l;

	if (c->n_listen_fds == CONFIG_MAX_LISTEN_FDS)
		return log_errbuf(err, errlen, "--listen-fd: at most %d sockets",
				  CONFIG_MAX_LISTEN_FDS);
	if (n == 0 || n >= sizeof num)
		return log_errbuf(err, errlen, "--listen-fd %s: expected N, N:https or N:http",
				  arg);
	memcpy(num, arg, n);
	num[n] = '\0';
	if (parse_uint(num, 0, 65535, &fd) < 0)
		return log_errbuf(err, errlen, "--listen-fd %s: not a file descriptor number", arg);
	l = &c->listen_fds[c->n_listen_fds++];
	l->fd = (int)fd;
	if (!colon)
		l->kind = CONFIG_KIND_ANY;
	else if (strcmp(colon + 1, "https") == 0)
		l->kind = CONFIG_KIND_HTTPS;
	else if (strcmp(colon + 1, "http") == 0)
		l->kind = CONFIG_KIND_HTTP;
	else
		return log_errbuf(err, errlen,
				  "--listen-fd %s: the name after ':' must be https or http", arg);
	return 0;
}

static int parse_number_opt(const char *name, const char *arg, unsigned min, unsigned max,
			    unsigned *out, char *err, size_t errlen)
{
	if (parse_uint(arg, min, max, out) < 0)
		return log_errbuf(err, errlen, "--%s %s: expected a number from %u to %u", name,
				  arg, min, max);
	return 0;
}

static int parse_log_format(struct config *c, const char *arg, char *err, size_t errlen)
{
	static const char *const names[] = {
	    [CONFIG_LOG_COMBINED] = "combined",
	    [CONFIG_LOG_SITE_COMBINED] = "site_combined",
	    [CONFIG_LOG_JSON] = "json",
	    [CONFIG_LOG_COMBINED_NOSITE] = "combined_nosite",
	};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(arg, names[i]) == 0) {
			c->log_format = (enum config_log_format)i;
			return 0;
		}
	return log_errbuf(err, errlen,
			  "--log-format %s: expected combined, site_combined, "
			  "combined_nosite or json",
			  arg);
}

static int site_empty(const struct config_site *s)
{
	return !s->names && !s->root && !s->cert && !s->key && !s->is_default;
}

/* --site: opens the next site; the unnamed one stays only when options came before. */
static int open_site(struct config *c, const char *names, char *err, size_t errlen)
{
	if (c->n_sites == 1 && site_empty(&c->sites[0])) {
		c->sites[0].names = names;
		return 0;
	}
	if (c->n_sites == CONFIG_MAX_SITES)
		return log_errbuf(
		    err, errlen,
		    "--site %s: at most %d sites (the options before the first --site "
		    "count as one): serve the rest from another dropcap",
		    names, CONFIG_MAX_SITES);
	c->sites[c->n_sites++] = (struct config_site){.names = names};
	return 0;
}

/* --hsts SECONDS[;includeSubDomains][;preload] into the field's value (RFC 6797 6.1). */
static int parse_hsts(struct config_site *s, const char *arg, char *err, size_t errlen)
{
	char num[16];
	size_t n = strcspn(arg, ";");
	const char *rest = arg + n;
	unsigned secs;
	int sub = 0, pre = 0;

	if (n >= sizeof num)
		n = sizeof num - 1;
	memcpy(num, arg, n);
	num[n] = '\0';
	if (parse_uint(num, 0, 1000000000, &secs) < 0)
		return log_errbuf(err, errlen,
				  "--hsts %s: expected SECONDS[;includeSubDomains][;preload], e.g. "
				  "--hsts '31536000;includeSubDomains'",
				  arg);
	while (*rest == ';') {
		size_t k = strcspn(++rest, ";");
		if (k == 17 && strncasecmp(rest, "includeSubDomains", k) == 0)
			sub = 1;
		else if (k == 7 && strncasecmp(rest, "preload", k) == 0)
			pre = 1;
		else
			return log_errbuf(err, errlen,
					  "--hsts %s: after SECONDS only ;includeSubDomains and "
					  ";preload may follow",
					  arg);
		rest += k;
	}
	snprintf(s->hsts, sizeof s->hsts, "max-age=%u%s%s", secs, sub ? "; includeSubDomains" : "",
		 pre ? "; preload" : "");
	return 0;
}

/* A token (RFC 9110 5.6.2). */
static int is_token(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 32 || c >= 127 || strchr("\"(),/:;<=>?@[\\]{}", c))
			return 0;
	}
	return n > 0;
}

/* A field value dropcap accepts: visible ASCII and spaces (no CR, LF, NUL, tab, obs-text),
 * not starting or ending with a space. */
static int is_value(const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 32 || (unsigned char)s[i] >= 127)
			return 0;
	return n > 0 && n <= CONFIG_HEADER_VALUE_MAX && s[0] != ' ' && s[n - 1] != ' ';
}

/* The fields dropcap writes itself, or that change how the message is framed or kept:
 * --header must not set them. */
static int owned_name(const char *name, size_t n)
{
	static const char *const owned[] = {
	    "Content-Length",
	    "Content-Type",
	    "Content-Encoding",
	    "Content-Range",
	    "Transfer-Encoding",
	    "Connection",
	    "Keep-Alive",
	    "Upgrade",
	    "Trailer",
	    "TE",
	    "Date",
	    "Server",
	    "ETag",
	    "Last-Modified",
	    "Location",
	    "Accept-Ranges",
	    "Vary",
	    "Allow",
	    "Strict-Transport-Security",
	    "Set-Cookie",
	};

	for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
		if (strlen(owned[i]) == n && strncasecmp(name, owned[i], n) == 0)
			return 1;
	return 0;
}

/* --header 'PATTERN: Name: value' */
static int parse_header(struct config_site *s, const char *arg, char *err, size_t errlen)
{
	const char *sep = strstr(arg, ": ");
	struct config_header *h = &s->headers[s->n_headers];
	const char *name, *colon;

	if (s->n_headers == CONFIG_MAX_HEADERS)
		return log_errbuf(err, errlen, "--header %s: at most %d per site", arg,
				  CONFIG_MAX_HEADERS);
	if (arg[0] != '/' || !sep || (size_t)(sep - arg) >= sizeof h->pattern)
		return log_errbuf(err, errlen,
				  "--header %s: expected 'PATTERN: Name: value' with PATTERN a "
				  "path glob such as /assets/*",
				  arg);
	name = sep + 2;
	colon = strchr(name, ':');
	if (!colon || !is_token(name, (size_t)(colon - name)))
		return log_errbuf(err, errlen,
				  "--header %s: the field name must be a token (letters, digits, "
				  "!#$%%&'*+-.^_`|~) followed by ': '",
				  arg);
	if (owned_name(name, (size_t)(colon - name)))
		return log_errbuf(err, errlen,
				  "--header %s: dropcap sets %.*s itself (see the README's list "
				  "of fields --header cannot set)",
				  arg, (int)(colon - name), name);
	if (colon[1] != ' ' || !is_value(colon + 2))
		return log_errbuf(err, errlen,
				  "--header %s: the value must follow ': ', up to %d visible "
				  "ASCII characters and spaces (no CR, LF, tab or control bytes)",
				  arg, CONFIG_HEADER_VALUE_MAX);
	memcpy(h->pattern, arg, (size_t)(sep - arg));
	h->pattern[sep - arg] = '\0';
	h->name = name;
	h->name_len = (size_t)(colon - name);
	h->value = colon + 2;
	s->n_headers++;
	return 0;
}

/* --fallback and --error-pages: a path within the site, starting with '/', no dot segment
 * and no hidden one (the same rules as a request's path). */
static int parse_site_path(const char *opt, const char *arg, const char **out, char *err,
			   size_t errlen)
{
	if (arg[0] != '/' || strstr(arg, "/.") || strchr(arg, '?') || strchr(arg, '%') ||
	    strlen(arg) > 1024)
		return log_errbuf(err, errlen,
				  "--%s %s: expected a path within the site starting with '/', "
				  "without '.' segments, dotfiles, '?' or '%%'",
				  opt, arg);
	*out = arg;
	return 0;
}

/* The site options: they go to the site opened last. Returns 1 when opt is not one. */
static int apply_site(struct config *c, int opt, const char *arg, char *err, size_t errlen)
{
	struct config_site *s = &c->sites[c->n_sites - 1];

	switch (opt) {
	case OPT_SITE: return open_site(c, arg, err, errlen);
	case OPT_ROOT: s->root = arg; return 0;
	case OPT_CERT: s->cert = arg; return 0;
	case OPT_KEY: s->key = arg; return 0;
	case OPT_DEFAULT: s->is_default = 1; return 0;
	case OPT_HSTS: return parse_hsts(s, arg, err, errlen);
	case OPT_REDIRECT_HTTPS: s->redirect_https = 1; return 0;
	case OPT_AUTOINDEX: s->autoindex = 1; return 0;
	case OPT_ACME_ROOT: s->acme_root = arg; return 0;
	case OPT_HEADER: return parse_header(s, arg, err, errlen);
	case OPT_SECURITY_HEADERS: s->security_headers = 1; return 0;
	case OPT_ERROR_PAGES:
		return parse_site_path("error-pages", arg, &s->error_pages, err, errlen);
	case OPT_FALLBACK: return parse_site_path("fallback", arg, &s->fallback, err, errlen);
	case OPT_FALLBACK_ASSETS: s->fallback_assets = 1; return 0;
	}
	return 1;
}

/* Applies one option; returns 0, 1 for --help/--version (printed), -1 on error. */
static int apply(struct config *c, int opt, const char *arg, char *err, size_t errlen)
{
	int r = apply_site(c, opt, arg, err, errlen);

	if (r <= 0)
		return r;
	switch (opt) {
	case OPT_HTTPS:
		c->https = strcmp(arg, "off") == 0 ? NULL : arg;
		c->https_given = 1;
		return 0;
	case OPT_HTTP:
		c->http = strcmp(arg, "off") == 0 ? NULL : arg;
		c->http_given = 1;
		return 0;
	case OPT_ACCESS_LOG: c->access_log = arg; return 0;
	case OPT_LOG_FORMAT: return parse_log_format(c, arg, err, errlen);
	case OPT_USER: c->user = arg; return 0;
	case OPT_GROUP: c->group = arg; return 0;
	case OPT_LISTEN_FD: return parse_listen_fd(c, arg, err, errlen);
	case OPT_MAX_CONNS:
		return parse_number_opt("max-conns", arg, 1, 1000000, &c->max_conns, err, errlen);
	case OPT_WORKERS:
		if (parse_uint(arg, 1, CONFIG_MAX_WORKERS, &c->workers) < 0)
			return log_errbuf(err, errlen,
					  "--workers %s: expected a number from 1 to %u (leave it "
					  "out for one per CPU dropcap may run on)",
					  arg, CONFIG_MAX_WORKERS);
		return 0;
	case OPT_HEADER_TIMEOUT:
		return parse_number_opt("header-timeout", arg, 1, 3600, &c->header_timeout, err,
					errlen);
	case OPT_KEEPALIVE_TIMEOUT:
		return parse_number_opt("keepalive-timeout", arg, 1, 86400, &c->keepalive_timeout,
					err, errlen);
	case OPT_TICKET_KEY_FILE: c->ticket_key_file = arg; return 0;
	case OPT_CORE_DUMPS: c->core_dumps = 1; return 0;
	case OPT_NO_SANDBOX: c->no_sandbox = 1; return 0;
	case OPT_NO_HTTP2: c->no_http2 = 1; return 0;
	case OPT_HELP:
		fputs(usage_text, stdout);
		fputs(usage_server, stdout);
		return 1;
	case OPT_VERSION: printf("dropcap " DROPCAP_VERSION "\nTLS: %s\n", tls_library()); return 1;
	}
	return log_errbuf(err, errlen, "unknown option");
}

static int https_wanted(const struct config *c)
{
	if (c->https)
		return 1;
	for (size_t i = 0; i < c->n_listen_fds; i++)
		if (c->listen_fds[i].kind != CONFIG_KIND_HTTP)
			return 1;
	return 0;
}

const struct config_site *config_default_site(const struct config *c)
{
	return &c->sites[c->default_site];
}

/* "" for the unnamed site, else " after --site NAMES", for messages. */
static const char *where(const struct config_site *s, char *buf, size_t len)
{
	if (!s->names)
		return "";
	snprintf(buf, len, " after --site %s", s->names);
	return buf;
}

static int check_site(const struct config_site *s, char *err, size_t errlen)
{
	char w[320];

	if (!s->root && !s->names)
		return log_errbuf(err, errlen, "--root DIR is required: the directory to serve%s",
				  s->cert || s->key ? " (the options before the first --site make "
						      "the default site, which needs one too)"
						    : "");
	if (!s->root)
		return log_errbuf(err, errlen,
				  "--site %s has no --root: give --root DIR after --site %s",
				  s->names, s->names);
	if ((s->cert == NULL) != (s->key == NULL))
		return log_errbuf(err, errlen, "--cert and --key go together: give both%s",
				  where(s, w, sizeof w));
	return 0;
}

/* The site for unknown names: the one marked --default, else the first. */
static int pick_default(struct config *c, char *err, size_t errlen)
{
	size_t marked = 0;

	c->default_site = 0;
	for (size_t i = 0; i < c->n_sites; i++) {
		if (!c->sites[i].is_default)
			continue;
		if (marked++)
			return log_errbuf(err, errlen,
					  "two sites are marked --default (--site %s and --site "
					  "%s): mark one only",
					  c->sites[c->default_site].names, c->sites[i].names);
		c->default_site = i;
	}
	if (c->default_site != 0 && !c->sites[0].names)
		return log_errbuf(
		    err, errlen,
		    "--default after --site %s: the options before the first --site "
		    "already make the default site (move them after a --site, or drop "
		    "--default)",
		    c->sites[c->default_site].names);
	return 0;
}

static int check_https(const struct config *c, char *err, size_t errlen)
{
	const struct config_site *d = config_default_site(c);

	if (!https_wanted(c) || d->cert)
		return 0;
	if (c->n_sites == 1 && !d->names)
		return log_errbuf(
		    err, errlen,
		    "HTTPS needs a certificate: give --cert FILE --key FILE, or --https off");
	if (!d->names)
		return log_errbuf(
		    err, errlen,
		    "HTTPS needs a certificate for the default site (the options before "
		    "the first --site), which also serves the sites without one: give "
		    "--cert FILE --key FILE before the first --site, or --https off");
	return log_errbuf(err, errlen,
			  "HTTPS needs a certificate for the default site (--site %s), which also "
			  "serves the sites without one: give --cert FILE --key FILE after --site "
			  "%s, or --https off",
			  d->names, d->names);
}

/* Ticket keys without a certificate would be read and never used: say so. */
static int check_tickets(const struct config *c, char *err, size_t errlen)
{
	if (!c->ticket_key_file || config_default_site(c)->cert)
		return 0;
	return log_errbuf(err, errlen,
			  "--ticket-key-file %s: session tickets are HTTPS's, and HTTPS is off "
			  "(no --cert): drop the option or give --cert FILE --key FILE",
			  c->ticket_key_file);
}

static int check(struct config *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < c->n_sites; i++)
		if (check_site(&c->sites[i], err, errlen) < 0)
			return -1;
	if (site_check_names(c->sites, c->n_sites, err, errlen) < 0 ||
	    pick_default(c, err, errlen) < 0)
		return -1;
	if (!c->https && !c->http && c->n_listen_fds == 0 && !getenv("LISTEN_FDS"))
		return log_errbuf(err, errlen,
				  "nothing to listen on: both --https and --http are off");
	return check_https(c, err, errlen) < 0 ? -1 : check_tickets(c, err, errlen);
}

/* --- the configuration file: each key goes through apply(), as its option would ---------- */

#define N_OPTIONS (sizeof options / sizeof options[0] - 1)
#define ARENA_SLACK 1024

/* A record in the arena: a section (then its name and its site names, or "", follow) or a key
 * (then the key and its value follow), with its line and the site it went to. */
struct rec {
	unsigned line;
	char kind; /* 'S' section (name follows), 'K' key (key, then value follow) */
	unsigned char site;
};

struct file_ctx {
	struct config *c;
	const char *section; /* the current section's name (in the arena) */
	int in_site;
	unsigned seen[N_OPTIONS]; /* the line each key was given on in this section */
};

static char *arena_put(struct config *c, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = c->arena + c->arena_used;

	if (n > c->arena_size - c->arena_used)
		return NULL; /* cannot happen for a file: the arena is sized from it */
	memcpy(p, s, n);
	c->arena_used += n;
	return p;
}

static int arena_rec(struct config *c, char kind, unsigned line, char *err, size_t errlen)
{
	struct rec r = {.line = line, .kind = kind, .site = (unsigned char)(c->n_sites - 1)};

	if (sizeof r > c->arena_size - c->arena_used)
		return log_errbuf(err, errlen, "out of configuration memory");
	memcpy(c->arena + c->arena_used, &r, sizeof r);
	c->arena_used += sizeof r;
	return 0;
}

/* Removes spaces and tabs (no host name has any) in place. */
static void squeeze_blanks(char *s)
{
	char *w = s;

	for (; *s; s++)
		if (*s != ' ' && *s != '\t')
			*w++ = *s;
	*w = '\0';
}

/* "[site NAMES]" opens a site, as --site NAMES does; keys before any section are global. */
static int file_section(struct file_ctx *f, const char *section, unsigned line, char *err,
			size_t errlen)
{
	char *name, names[256]; /* a line holds fewer than 200 characters (conffile.c) */

	memset(f->seen, 0, sizeof f->seen);
	if (arena_rec(f->c, 'S', line, err, errlen) < 0 || !(name = arena_put(f->c, section)))
		return log_errbuf(err, errlen, "out of configuration memory");
	f->section = name;
	if (!*section) /* every record holds two strings: here no site names */
		return arena_put(f->c, "") ? 0 : log_errbuf(err, errlen, "out of memory");
	if (strncmp(name, "site ", 5) != 0 || !name[5 + strspn(name + 5, " ")])
		return log_errbuf(err, errlen,
				  "unknown section [%s]: a site is [site NAME[,NAME...]], and "
				  "server-wide keys go above the first section",
				  section);
	f->in_site = 1;
	/* [site a.example, b.example] templates more easily; squeezed before the copy, so that
	 * the record's strings stay back to back */
	snprintf(names, sizeof names, "%s", name + 5);
	squeeze_blanks(names);
	if (!(name = arena_put(f->c, names)))
		return log_errbuf(err, errlen, "out of configuration memory");
	if (open_site(f->c, name, err, errlen) < 0)
		return -1;
	f->c->sites[f->c->n_sites - 1].line = line;
	return 0;
}

/* The option a key names, or -1 (with err saying why and what may have been meant). */
static int file_lookup(const char *key, char *err, size_t errlen)
{
	const char *names[N_OPTIONS];

	for (size_t i = 0; i < N_OPTIONS; i++) {
		names[i] = options[i].name;
		if (strcmp(key, names[i]) != 0)
			continue;
		if (options[i].val == OPT_SITE)
			return log_errbuf(err, errlen,
					  "'site' is not a key: open a [site %s] section instead",
					  "NAME[,NAME...]");
		if (options[i].val != OPT_HELP && options[i].val != OPT_VERSION &&
		    options[i].val != OPT_CONFIG)
			return (int)i;
	}
	const char *near = conffile_suggest(key, names, N_OPTIONS);
	log_errbuf(err, errlen, "unknown key '%s'%s%s%s", key, near ? " (did you mean '" : "",
		   near ? near : "",
		   near ? "'?)" : " (the keys are the long options of dropcap --help)");
	return -1;
}

static int repeatable(const char *key)
{
	return strcmp(key, "listen-fd") == 0 || strcmp(key, "header") == 0;
}

/* The argument the option gets: a copy in the arena, or for a flag NULL (and *off when false). */
static int file_arg(struct file_ctx *f, int i, const char *key, const char *value, char **arg,
		    int *off, char *err, size_t errlen)
{
	int b;

	*off = 0;
	if (options[i].has_arg == no_argument) {
		if ((b = conffile_bool(value)) < 0)
			return log_errbuf(err, errlen,
					  "'%s = %s': a flag: write %s = true or %s = false", key,
					  value, key, key);
		*off = !b;
		*arg = arena_put(f->c, b ? "1" : "0");
	} else {
		if (!*value)
			return log_errbuf(err, errlen, "'%s' needs a value: %s = VALUE", key, key);
		*arg = arena_put(f->c, value);
	}
	return *arg ? 0 : log_errbuf(err, errlen, "out of configuration memory");
}

static int file_key(void *user, const char *section, const char *key, const char *value,
		    unsigned line, char *err, size_t errlen)
{
	struct file_ctx *f = user;
	char why[600], *arg = NULL;
	int i, off, r;

	if ((!f->section || strcmp(section, f->section) != 0) &&
	    file_section(f, section, line, err, errlen) < 0)
		return -1;
	if ((i = file_lookup(key, why, sizeof why)) < 0)
		return log_errbuf(err, errlen, "%s in [%s]", why, *section ? section : "global");
	if (f->seen[i] && !repeatable(key))
		return log_errbuf(err, errlen,
				  "'%s' given twice in [%s] (first on line %u): keep one", key,
				  *section ? section : "global", f->seen[i]);
	f->seen[i] = line;
	if (arena_rec(f->c, 'K', line, err, errlen) < 0 || !arena_put(f->c, key) ||
	    file_arg(f, i, key, value, &arg, &off, err, errlen) < 0)
		return -1;
	if (off)
		return 0;
	if (options[i].has_arg == no_argument)
		arg = NULL;
	r = f->in_site ? apply_site(f->c, options[i].val, arg, why, sizeof why)
		       : apply(f->c, options[i].val, arg, why, sizeof why);
	if (r == 1)
		return log_errbuf(err, errlen,
				  "'%s' is server-wide, not per site: move it above the first "
				  "[site] section",
				  key);
	if (r < 0)
		return log_errbuf(err, errlen, "key '%s' in [%s]: %s", key,
				  *section ? section : "global", why);
	return 0;
}

/* Prefixes err with FILE:LINE (or FILE:) for the checks made once every key is read. */
static int file_err(const struct config *c, unsigned line, char *err, size_t errlen)
{
	char msg[1024];

	snprintf(msg, sizeof msg, "%s", err);
	if (line)
		return log_errbuf(err, errlen, "%s:%u: %s", c->config_file, line, msg);
	return log_errbuf(err, errlen, "%s: %s", c->config_file, msg);
}

/* check() for a file: a site's errors name its [site] line. */
static int file_check(struct config *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < c->n_sites; i++) {
		if (check_site(&c->sites[i], err, errlen) < 0 ||
		    site_check_names(c->sites, i + 1, err, errlen) < 0)
			return file_err(c, c->sites[i].line, err, errlen);
	}
	return check(c, err, errlen) < 0 ? file_err(c, 0, err, errlen) : 0;
}

/* Reads c->config_file into c (defaults already set): the arena holds every string. */
static int file_load(struct config *c, char *err, size_t errlen)
{
	struct file_ctx *f;
	size_t len;
	char *buf = conffile_read(c->config_file, &len, err, errlen);
	int r;

	if (!buf)
		return -1;
	/* a record per line at most, and each string no longer than its line */
	c->arena_size = 2 * len + (len / 2 + 2) * (sizeof(struct rec) + 2) + ARENA_SLACK;
	c->arena = malloc(c->arena_size);
	f = calloc(1, sizeof *f);
	if (!c->arena || !f) {
		free(buf);
		free(f);
		return log_errbuf(err, errlen, "out of memory");
	}
	f->c = c;
	r = conffile_parse(c->config_file, buf, len, file_key, f, err, errlen);
	free(buf);
	free(f);
	c->records_end = c->arena_used;
	return r < 0 ? -1 : file_check(c, err, errlen);
}

static void defaults(struct config *c)
{
	*c = (struct config){
	    .https = ":443",
	    .http = ":80",
	    .user = "nobody",
	    .max_conns = 0, /* fitted to the open-file limit at start */
	    .header_timeout = 10,
	    .keepalive_timeout = 60,
	    .n_sites = 1, /* the unnamed site, for the options before any --site */
	};
}

/* --config FILE takes every option from the file; the debugging flags may join it. */
static int config_alone(int opt, const char **other)
{
	if (opt == OPT_NO_SANDBOX || opt == OPT_CORE_DUMPS || opt == OPT_CONFIG)
		return 1;
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (options[i].val == opt && !*other)
			*other = options[i].name;
	return 0;
}

static int subcommand(struct config *c, int *argc, char ***argv)
{
	if (*argc > 1 && strcmp((*argv)[1], "doctor") == 0)
		c->doctor = 1;
	else if (*argc > 1 && strcmp((*argv)[1], "check") == 0)
		c->check_only = 1;
	else
		return 0;
	(*argv)[1] = (*argv)[0];
	(*argv)++;
	(*argc)--;
	return 1;
}

enum config_result config_parse(struct config *c, int argc, char **argv, char *err, size_t errlen)
{
	const char *other = NULL;
	int opt, r;

	defaults(c);
	subcommand(c, &argc, &argv);
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":", options, NULL)) != -1) {
		if (opt == ':') {
			log_errbuf(err, errlen, "option %s needs a value", argv[optind - 1]);
			return CONFIG_ERROR;
		}
		if (opt == '?') {
			log_errbuf(err, errlen, "unknown option %s", argv[optind - 1]);
			return CONFIG_ERROR;
		}
		config_alone(opt, &other);
		if (opt == OPT_CONFIG)
			c->config_file = optarg;
		else if ((r = apply(c, opt, optarg, err, errlen)) != 0)
			return r > 0 ? CONFIG_EXIT : CONFIG_ERROR;
	}
	if (optind < argc) {
		log_errbuf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return CONFIG_ERROR;
	}
	if (c->config_file && other) {
		log_errbuf(err, errlen,
			   "--config %s and --%s: with --config every option comes from the file "
			   "(only --no-sandbox and --core-dumps may join it): move %s into it",
			   c->config_file, other, other);
		return CONFIG_ERROR;
	}
	if (c->config_file)
		return file_load(c, err, errlen) < 0 ? CONFIG_ERROR : CONFIG_OK;
	return check(c, err, errlen) < 0 ? CONFIG_ERROR : CONFIG_OK;
}

void config_free(struct config *c)
{
	free(c->arena);
	c->arena = NULL;
}

/* --- SIGHUP: the file again ----------------------------------------------------------- */

/* Walks a record: its header, then its two strings. Returns the next offset. */
static size_t rec_next(const struct config *c, size_t off, struct rec *r, const char **a,
		       const char **b)
{
	memcpy(r, c->arena + off, sizeof *r);
	*a = c->arena + off + sizeof *r;
	*b = *a + strlen(*a) + 1;
	return (size_t)(*b + strlen(*b) + 1 - c->arena);
}

static int changed(char *msg, size_t msglen, const struct config *c, unsigned line,
		   const char *what)
{
	if (line)
		snprintf(msg, msglen, "%s:%u: %s", c->config_file, line, what);
	else
		snprintf(msg, msglen, "%s: %s", c->config_file, what);
	return 1;
}

unsigned config_key_line(const struct config *c, size_t site, const char *key)
{
	struct rec r;
	const char *a, *b;

	for (size_t off = 0; off < c->records_end;) {
		off = rec_next(c, off, &r, &a, &b);
		if (r.kind == 'K' && r.site == site && strcmp(a, key) == 0)
			return r.line;
	}
	return site < c->n_sites ? c->sites[site].line : 0;
}

/* The value a global key was given in the file, or NULL. */
static const char *key_value(const struct config *c, const char *key)
{
	struct rec r;
	const char *a, *b;

	for (size_t off = 0; off < c->records_end;) {
		off = rec_next(c, off, &r, &a, &b);
		if (r.kind == 'K' && strcmp(a, key) == 0)
			return b;
	}
	return NULL;
}

static int differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* The first server-wide key whose value differs (NULL: none): the listeners, the run user, the
 * log and the limits are set up once, before the privilege drop and the sandbox. */
static const char *server_wide_change(const struct config *o, const struct config *n)
{
	if (differs(o->https, n->https) || o->https_given != n->https_given)
		return "https";
	if (differs(o->http, n->http) || o->http_given != n->http_given)
		return "http";
	if (o->n_listen_fds != n->n_listen_fds ||
	    memcmp(o->listen_fds, n->listen_fds, n->n_listen_fds * sizeof n->listen_fds[0]))
		return "listen-fd";
	if (differs(o->user, n->user))
		return "user";
	if (differs(o->group, n->group))
		return "group";
	if (differs(o->access_log, n->access_log))
		return "access-log";
	if (o->log_format != n->log_format)
		return "log-format";
	if (o->header_timeout != n->header_timeout)
		return "header-timeout";
	if (o->keepalive_timeout != n->keepalive_timeout)
		return "keepalive-timeout";
	if (differs(o->ticket_key_file, n->ticket_key_file))
		return "ticket-key-file"; /* the sandbox allows its directory only */
	if (o->no_http2 != n->no_http2)
		return "no-http2";
	return NULL;
}

struct config *config_reload(const struct config *live, int *rc, char *msg, size_t msglen)
{
	struct config *n = malloc(sizeof *n);
	const char *key;
	char what[200];

	*rc = -1;
	if (!n) {
		log_errbuf(msg, msglen, "out of memory");
		return NULL;
	}
	defaults(n);
	n->config_file = live->config_file;
	n->no_sandbox = live->no_sandbox; /* command-line flags, never in the file */
	n->core_dumps = live->core_dumps;
	if (file_load(n, msg, msglen) == 0) {
		if (!(key = server_wide_change(live, n)) &&
		    differs(key_value(live, "max-conns"), key_value(n, "max-conns")))
			key = "max-conns";
		if (!key && differs(key_value(live, "workers"), key_value(n, "workers")))
			key = "workers";
		n->max_conns = live->max_conns; /* fitted to the open-file limit at start */
		n->workers = live->workers;	/* the CPUs counted at start */
		if (!key)
			return n;
		snprintf(what, sizeof what, "'%s' changed", key);
		*rc = changed(msg, msglen, n, config_key_line(n, 0, key), what);
	}
	config_free(n);
	free(n);
	return NULL;
}
