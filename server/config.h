/* config.h — command-line options, parsed once into one read-only struct. */
#ifndef DROPCAP_CONFIG_H
#define DROPCAP_CONFIG_H

#include <stddef.h>

#define CONFIG_MAX_LISTEN_FDS 8

enum config_kind {
	CONFIG_KIND_ANY = -1, /* --listen-fd N without a name: by order, https then http */
	CONFIG_KIND_HTTPS = 0,
	CONFIG_KIND_HTTP = 1,
};

/* --log-format: the access log's line layout */
enum config_log_format {
	CONFIG_LOG_COMBINED,	  /* the standard combined format, no site */
	CONFIG_LOG_SITE_COMBINED, /* the site's name, a space, then the combined format */
	CONFIG_LOG_JSON,	  /* one JSON object per line */
};

struct config_listen_fd {
	int fd;
	enum config_kind kind;
};

/* --header 'PATTERN: Name: value': a field added to the responses whose decoded path matches
 * PATTERN (fnmatch without FNM_PATHNAME: '*' crosses '/'). name and value point into the
 * option's argument, which outlives the configuration. */
#define CONFIG_MAX_HEADERS 16
#define CONFIG_HEADER_VALUE_MAX 512
struct config_header {
	char pattern[128];
	const char *name; /* name_len bytes, a token */
	size_t name_len;
	const char *value; /* to the end of the argument */
};

/* The directories opened at start, in one array: site i's --root at i, its --acme-root at
 * CONFIG_ACME_FD(i) (-1 when it has none). */
#define CONFIG_ACME_FD(i) (CONFIG_MAX_SITES + (i))
#define CONFIG_ROOT_FDS (2 * CONFIG_MAX_SITES)

/* Sites: more would still work (the lookups are linear scans), but the table is fixed-size so
 * that picking a site never allocates. */
#define CONFIG_MAX_SITES 64

/*
 * One site: its names, its root and its credential. Options before the first --site make the
 * site with no names (the default unless another is marked); each --site opens the next one, and
 * the site options after it apply to it, as server blocks do in nginx. Later per-site options
 * add their fields here. Strings point into argv.
 */
struct config_site {
	const char *names; /* NAME[,NAME...] as given to --site; NULL for the unnamed site */
	const char *root;
	const char *cert; /* NULL: HTTPS serves the default site's certificate (as nginx does) */
	const char *key;
	int is_default; /* --default in its block */
	/* --hsts: the Strict-Transport-Security value ("max-age=N[; includeSubDomains][;
	 * preload]"), "" when off */
	char hsts[64];
	int autoindex;		 /* --autoindex: list a directory without index.html (not 403) */
	int redirect_https;	 /* --redirect-https: HTTP answers 301 to https */
	const char *acme_root;	 /* --acme-root DIR: /.well-known/acme-challenge/ from there */
	int security_headers;	 /* --security-headers: the preset (http_response.h) */
	const char *fallback;	 /* --fallback PATH: "/index.html"; NULL: off */
	int fallback_assets;	 /* --fallback-assets: paths with an extension fall back too */
	const char *error_pages; /* --error-pages /DIR: 404.html, ... from DIR within the
				  * site ("/": its root); NULL: the built-in pages */
	struct config_header headers[CONFIG_MAX_HEADERS]; /* --header, in order */
	size_t n_headers;
	unsigned line; /* --config FILE: the line of its section's first key (0: command line) */
};

struct config {
	struct config_site sites[CONFIG_MAX_SITES];
	size_t n_sites;
	size_t default_site; /* index of the site for unknown names (or none) */
	const char *https;   /* ADDR:PORT, or NULL when off */
	const char *http;    /* ADDR:PORT, or NULL when off */
	int https_given;     /* the option was on the command line (not the default) */
	int http_given;
	const char *access_log; /* NULL: stdout */
	const char *user;	/* when started as root; default "nobody" */
	const char *group;	/* NULL: the user's primary group */
	struct config_listen_fd listen_fds[CONFIG_MAX_LISTEN_FDS];
	size_t n_listen_fds;
	enum config_log_format log_format;
	unsigned max_conns;
	unsigned header_timeout;    /* seconds to receive a complete request head */
	unsigned keepalive_timeout; /* seconds an idle keep-alive connection is kept */
	int doctor;		    /* "dropcap doctor": report, bind nothing */
	int core_dumps;		    /* --core-dumps: stay dumpable after the drop */
	int no_sandbox;		    /* --no-sandbox: neither Landlock nor seccomp (debugging) */
	int check_only;		    /* "dropcap check": validate, serve nothing */
	const char *config_file;    /* --config FILE, or NULL */
	/* --ticket-key-file FILE: the session ticket keys a fleet shares; NULL: generated */
	const char *ticket_key_file;
	/* --config: one allocation owning every string the file gave, as records (section and
	 * key lines, which name the line of a key in a reload's messages) up to records_end */
	char *arena;
	size_t arena_size, arena_used, records_end;
};

enum config_result {
	CONFIG_OK,
	CONFIG_EXIT, /* --help or --version was printed: exit 0 */
	CONFIG_ERROR,
};

/* Parses argv into *c (defaults first). On CONFIG_ERROR err names the problem.
 * Strings in *c point into argv. */
enum config_result config_parse(struct config *c, int argc, char **argv, char *err, size_t errlen);

/* Frees what config_parse allocated (the --config arena). */
void config_free(struct config *c);

/* SIGHUP with --config: reads the file again into a new configuration (heap, with its own
 * arena: config_free, then free). Returns it with *rc 0 when it can replace live (only the
 * sites and their options differ); NULL with *rc 1 when a server-wide key changed (msg names
 * it and its line: that needs an upgrade), or with *rc -1 when the file is invalid (msg says
 * why). */
struct config *config_reload(const struct config *live, int *rc, char *msg, size_t msglen);

/* The line of the file that gave site's key (0: the global keys), else the site's section line
 * (0 when there is none). */
unsigned config_key_line(const struct config *c, size_t site, const char *key);

/* The default site: the one for unknown names, no name, and the certificate of HTTPS sites that
 * have none. */
const struct config_site *config_default_site(const struct config *c);

#endif
