/* tls.h — TLS server sessions, one module with two implementations: tls.c (mbedTLS 2.28, TLS
 * 1.2; the default build) and tls_openssl.c (OpenSSL 3, TLS 1.3 and 1.2; make TLS=openssl).
 * Only they include a TLS library. */
#ifndef DROPCAP_TLS_H
#define DROPCAP_TLS_H

#include <stddef.h>

#include "config.h"
#include "transport.h"

struct tls_ctx;	 /* each site's certificate and key, RNG, session cache and ticket keys: shared */
struct tls_conn; /* one TLS session over one socket */

/* Who reads the files in a reload, for its error message and the fix it suggests. */
struct tls_reader {
	const char *user;  /* the run user's name */
	const char *group; /* its primary group's name */
};

/* Loads the PEM certificate chain and key of every site of cfg that has them (the default site
 * must), checks that each pair matches and sets the protocol, suites, curves, ALPN, session
 * cache, tickets and the server-name callback: a client's SNI picks the site (site_find), and
 * gets its certificate, or the default site's when it has none. The ticket keys come from
 * cfg->ticket_key_file (see tls_ctx_reload_tickets), else one is generated and rotated.
 * cfg must outlive the context.
 * NULL with err (naming the site) on failure. */
struct tls_ctx *tls_ctx_new(const struct config *cfg, char *err, size_t errlen);
void tls_ctx_free(struct tls_ctx *ctx);

/* Reads site's cert and key again (as the calling user, under its sandbox) into a new
 * configuration with the same protocol settings, session cache and ticket keys: new sessions
 * get it, open ones keep theirs, which is freed with the last of them. Returns 0 with info
 * ("subject ..., expires ..."), 1 when the site has no certificate of its own (nothing read), or
 * -1 with err naming the file, what is wrong and the fix; the site's old certificate then stays
 * in service. Blocks on the two file reads (local files, a few KiB). */
int tls_ctx_reload(struct tls_ctx *ctx, size_t site, const struct tls_reader *who, char *info,
		   size_t infolen, char *err, size_t errlen);

/* --ticket-key-file again (SIGHUP), as who and under the sandbox: the same checks as at start
 * (a regular file, not a symlink, mode 0600 or 0640, whole 80-byte keys), then the new keys
 * replace the old at once (a handshake sees one set or the other). Returns 0 with info (the
 * file, how many keys, the first one's name), 1 without the option (generated keys: nothing
 * read), or -1 with err naming the file, the problem and the fix; the old keys then stay. */
int tls_ctx_reload_tickets(struct tls_ctx *ctx, const struct tls_reader *who, char *info,
			   size_t infolen, char *err, size_t errlen);

/* A reload of the whole configuration, in two steps so that it applies all or nothing:
 * tls_ctx_prepare reads every site's certificate and key of cfg (as who, under the sandbox)
 * into creds (CONFIG_MAX_SITES slots), or returns -1 with err naming the file's line and
 * having read nothing; tls_ctx_commit then makes them the context's and points the server-name
 * callback at cfg, which must stay alive until the next commit (the handshakes in progress keep
 * the credentials they hold; the old ones go with their last session). tls_ctx_discard drops
 * prepared ones instead. */
struct tls_cred;
int tls_ctx_prepare(struct tls_ctx *ctx, const struct config *cfg, const struct tls_reader *who,
		    struct tls_cred **creds, char *err, size_t errlen);
void tls_ctx_commit(struct tls_ctx *ctx, const struct config *cfg, struct tls_cred **creds);
void tls_ctx_discard(struct tls_cred **creds);
/* Points the server-name callback at cfg, a copy of the one the context was made with (the
 * server's own, which outlives main's). */
void tls_ctx_use_config(struct tls_ctx *ctx, const struct config *cfg);

/* Gives the calling worker thread a random generator of its own for its handshakes, seeded from
 * ctx's entropy source (ctx NULL: nothing to do). Call on the worker's thread before its first
 * connection; tls_worker_free on the same thread when it ends. The main thread uses the
 * context's. The credentials, session cache and ticket keys stay shared (thread safe). Returns
 * 0, or -1 with err. */
int tls_worker_init(struct tls_ctx *ctx, char *err, size_t errlen);
void tls_worker_free(void);

/* The TLS transport: handshake, read, write, pending and shutdown map DONE, WANT_READ/WANT_WRITE
 * (call again with the same arguments when the socket is ready), CLOSE (the peer closed) or
 * ERROR (never call again but close); pending also counts decrypted input held by the TLS library;
 * shutdown sends close_notify once, without waiting. */
extern const struct transport_ops tls_transport_ops;

/* Sets up t as a TLS session over the non-blocking socket fd. Returns 0, or -1 when out of
 * memory (t is then plain, fd still the caller's). */
int tls_transport_open(struct transport *t, struct tls_ctx *ctx, int fd);

/* The site the client's server name (SNI) names in cfg (the configuration the request is
 * answered with, which a reload may have changed since the handshake): its index in cfg->sites
 * (the default site's for an unknown name), or -1 when the client sent no name or t is not TLS. */
int tls_transport_sni_site(const struct transport *t, const struct config *cfg);

/* Whether the handshake of t (done) agreed on HTTP/2 by ALPN ("h2"); 0 for plain TCP, for
 * http/1.1 and for a client that offered no ALPN. */
int tls_transport_h2(const struct transport *t);

/* The TLS library and its version, "mbedTLS 2.28.3" or "OpenSSL 3.0.19" (dropcap --version). */
const char *tls_library(void);

/* Largest plaintext record: a write of up to this many bytes is one record. */
#define TLS_RECORD_MAX 16384

#endif
