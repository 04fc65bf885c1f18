/*
 * rules.h — the HTTP rules: a parsed request in, a response plan out (status, header fields
 * and a body source). Protocol-independent and libc-only: HTTP/1 connections write plans
 * (conn.c), HTTP/2 streams will write the same ones. Redirects, error pages and files are
 * decided here and nowhere else.
 */
#ifndef DROPCAP_RULES_H
#define DROPCAP_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "fcache.h"
#include "file.h"
#include "http_parse.h"
#include "http_response.h"

/* What a plan needs besides the request; the caller owns all of it. */
struct rules_ctx {
	struct fcache *fc; /* the loop's open files */
	int root_fd;	   /* the directory served: the site's root */
	/* AUTOINDEX_PAGE_MAX bytes for a --autoindex page (RULES_BODY_LISTING), NULL: none can
	 * be made now (the directory gets 403) */
	char *listing;
	int acme_fd;	  /* its --acme-root, used when site->acme_root is set */
	double now;	  /* the loop's time in seconds (file cache, Last-Modified) */
	const char *date; /* the Date header's value for now */
	char *path;	  /* FILE_PATH_MAX bytes of scratch; a 301's Location points into it */
	int draining;	  /* the server is stopping: the connection closes after this response */
	const struct config_site *site; /* the site the request is for (site_for_request) */
	int misdirected;     /* the Host names another site than the TLS server name: 421 */
	int https;	     /* the request came over TLS: HSTS, and no --redirect-https */
	unsigned https_port; /* where --redirect-https sends clients (443: not written) */
};

enum rules_body {
	RULES_BODY_NONE,    /* a head only (HEAD, 301, 304) */
	RULES_BODY_FILE,    /* body_len bytes of file from file_off */
	RULES_BODY_BYTES,   /* body_len bytes of page (an error page) */
	RULES_BODY_LISTING, /* body_len bytes of ctx->listing (a --autoindex page) */
};

#define RULES_PAGE_MAX 256
/* HSTS, the --security-headers preset and every --header of a site */
#define RULES_FIELDS_MAX (1 + 3 + CONFIG_MAX_HEADERS)

struct rules_plan {
	/* status and header fields; keep_alive says whether the connection may carry another
	 * request after this one (HTTP/2 ignores it) */
	struct http_response head;
	enum rules_body body;
	uint64_t body_len; /* bytes that follow the head */
	/* RULES_BODY_FILE: the caller's to release (fcache_release) when sent; else fd -1 */
	struct fcache_ref file;
	uint64_t file_off;
	struct file_plan fp;	   /* the file's validators, which head points at */
	char page[RULES_PAGE_MAX]; /* RULES_BODY_BYTES */
	struct http_field fields[RULES_FIELDS_MAX]; /* head.fields: the site's extra fields */
};

/* Plans the response to a parsed request: 421 when misdirected, 405 for methods not served, the
 * status of uri_to_path, the site's 301 to https (--redirect-https, on HTTP, except the ACME
 * challenges), else the file the path names (file_resolve), its 301 to the slash form for a
 * directory, the site's --fallback for a missing path, or the error the file gives (the site's
 * --error-pages page when it has one). Adds the site's fields: HSTS on HTTPS, the security
 * preset, and the --header fields whose pattern matches (on 2xx and 304). Uses ctx->path as
 * scratch; never blocks. */
void rules_plan_request(const struct rules_ctx *ctx, const struct http_request *req,
			struct rules_plan *p);

/* Plans the error page for a request that did not parse or never completed (400, 408, 414,
 * 431, 501, 505): the connection closes after it. */
void rules_plan_unparsed(const struct rules_ctx *ctx, enum http_status status,
			 struct rules_plan *p);

#endif
