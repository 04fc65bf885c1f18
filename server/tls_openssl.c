/*
 * tls_openssl.c — TLS 1.3 and 1.2 over non-blocking sockets with OpenSSL 3.0 (make
 * TLS=openssl): the same tls.h as tls.c (mbedTLS, the default build), and the only file that
 * includes OpenSSL.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "site.h"
#include "tls.h"
#include "tls_openssl_tickets.h"

/*
 * TLS 1.2: the six ECDHE+AEAD suites of tls.c. AES-GCM first here, unlike tls.c: OpenSSL
 * runs it on AES-NI and PCLMUL, faster than ChaCha20-Poly1305 (openssl speed -evp), while a
 * client that lists ChaCha20 first (one without AES hardware) gets it
 * (SSL_OP_PRIORITIZE_CHACHA). TLS 1.3: its three common suites, same order.
 */
static const char tls_suites12[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
				   "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
				   "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";
static const char tls_suites13[] =
    "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384";

/* X25519 first, as tls.c: OpenSSL's is as fast as its P-256 and every TLS 1.3 client sends an
 * X25519 key share. P-384 last. */
static const char tls_groups[] = "X25519:P-256:P-384";

/* SHA-2 signatures only, as tls.c (no SHA-1). */
static const char tls_sigalgs[] =
    "ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512:ed25519:rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:"
    "rsa_pss_rsae_sha512:rsa_pss_pss_sha256:rsa_pss_pss_sha384:rsa_pss_pss_sha512:RSA+SHA256:"
    "RSA+SHA384:RSA+SHA512";

/* ALPN, most preferred first, as tls.c's lists: h2 unless --no-http2. */
static const char *tls_alpn_h2[] = {"h2", "http/1.1", NULL};
static const char *tls_alpn_http1[] = {"http/1.1", NULL};

#define TLS_SESSION_CACHE_ENTRIES 1024
#define TLS_SESSION_LIFETIME TLS_TICKET_LIFETIME /* for cached sessions too: 12 hours */

/* What a reload replaces: one SSL_CTX per site's certificate and key. Connections hold it
 * through OpenSSL's own reference (SSL_new, SSL_set_SSL_CTX), so an open connection keeps its
 * credential and the last one frees it; this struct is the context's (or a prepared set's)
 * reference. */
struct tls_cred {
	SSL_CTX *ssl_ctx;
};

/* What outlives reloads: the session SSL_CTX every connection starts on (it holds the session
 * cache, and its ticket callback the keys), so that a session made with an old certificate
 * still resumes after a reload, as in tls.c. */
struct tls_ctx {
	/* cfg and cred[] as the workers' handshakes read them while the main thread reloads */
	pthread_mutex_t lock;
	const struct config *cfg;
	/* each site's current credential (NULL: it has none and uses the default site's) */
	struct tls_cred *cred[CONFIG_MAX_SITES];
	SSL_CTX *base; /* protocol settings and the session cache; no certificate */
	struct tls_tickets *tickets;
};

struct tls_conn {
	SSL *ssl;
	struct tls_ctx *ctx;
	int sni_site; /* the site the server name picked; -1: no name */
	/* the name itself: a reload between the handshake and a request may renumber the sites,
	 * so a request finds it again in the configuration it is answered with */
	char sni_name[256];
	size_t sni_len;
	int shut; /* close_notify sent, or the session failed: never touched again */
};

/* "what path: OpenSSL's reason fix"; empties OpenSSL's error queue. */
static int fail(char *err, size_t errlen, const char *what, const char *path, const char *fix)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;

	snprintf(err, errlen, "%s %s: %s%s", what, path, reason ? reason : "unknown error", fix);
	ERR_clear_error();
	return -1;
}

/* Reports an unreadable file with errno's words (and the fix) before OpenSSL turns it into
 * "system lib". who names the reading user in a reload; NULL at start. */
static int readable(const char *what, const char *path, const struct tls_reader *who, char *err,
		    size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), e = errno;
	char as[160] = "", fix[512] = "";

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (who)
		snprintf(as, sizeof as, " as %s", who->user);
	if (who && (e == EACCES || e == EPERM))
		snprintf(fix, sizeof fix,
			 " (the run user must be able to read it: chgrp %s %s; chmod 0640 %s; and "
			 "search its directories. Under the sandbox, only files in the directory "
			 "the file was in at start can be read)",
			 who->group, path, path);
	else if (e == ENOENT)
		snprintf(fix, sizeof fix, " (put the file there, or re-point the symlink)");
	snprintf(err, errlen, "cannot read %s %s%s: %s%s", what, path, as, strerror(e), fix);
	return -1;
}

/* A key file that asks for a password is refused rather than prompting on the terminal. */
static int no_password(char *buf, int size, int rwflag, void *asked)
{
	(void)buf, (void)size, (void)rwflag;
	*(int *)asked = 1;
	return -1;
}

static int load_key(SSL_CTX *sc, const char *cert, const char *key, char *err, size_t errlen)
{
	BIO *bio = BIO_new_file(key, "r");
	EVP_PKEY *pkey = NULL;
	int asked = 0, ok;

	if (bio)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, no_password, &asked);
	BIO_free(bio);
	if (!pkey && asked) {
		ERR_clear_error();
		snprintf(err, errlen,
			 "key %s is encrypted: give an unencrypted key "
			 "(openssl pkey -in KEY -out PLAIN)",
			 key);
		return -1;
	}
	if (!pkey)
		return fail(err, errlen, "bad key file", key,
			    " (give the PEM private key: privkey.pem)");
	ok = SSL_CTX_use_PrivateKey(sc, pkey) == 1 && SSL_CTX_check_private_key(sc) == 1;
	EVP_PKEY_free(pkey); /* the SSL_CTX holds its own reference */
	if (ok)
		return 0;
	ERR_clear_error();
	snprintf(err, errlen,
		 "key %s does not match the certificate %s (the first "
		 "certificate in the file must be the one the key signs for)",
		 key, cert);
	return -1;
}

static int load_credentials(SSL_CTX *sc, const char *cert, const char *key,
			    const struct tls_reader *who, char *err, size_t errlen)
{
	if (readable("certificate", cert, who, err, errlen) < 0 ||
	    readable("key", key, who, err, errlen) < 0)
		return -1;
	if (SSL_CTX_use_certificate_chain_file(sc, cert) != 1)
		return fail(err, errlen, "bad certificate file", cert,
			    " (give the PEM certificate chain, leaf first: fullchain.pem)");
	return load_key(sc, cert, key, err, errlen);
}

/* The credential of the site name[0..len) picks (name NULL: the default site's), under
 * ctx->lock: SSL_set_SSL_CTX takes its reference before a reload can drop the context's.
 * Returns 0, or -1 when out of memory. */
static int use_site_cred(struct tls_ctx *ctx, struct tls_conn *tc, SSL *ssl, const char *name,
			 size_t len)
{
	const struct config *cfg;
	struct tls_cred *cr;
	int ok;

	pthread_mutex_lock(&ctx->lock);
	cfg = ctx->cfg;
	if (name) {
		int site = site_find(cfg->sites, cfg->n_sites, name, len);
		tc->sni_site = site == SITE_NONE ? (int)cfg->default_site : site;
	}
	cr = tc->sni_site >= 0 ? ctx->cred[tc->sni_site] : NULL;
	if (!cr)
		cr = ctx->cred[cfg->default_site];
	ok = SSL_get_SSL_CTX(ssl) == cr->ssl_ctx || SSL_set_SSL_CTX(ssl, cr->ssl_ctx) != NULL;
	pthread_mutex_unlock(&ctx->lock);
	return ok ? 0 : -1;
}

/* The server name picks the site, and the site its certificate; an unknown name, or none,
 * gets the default site's. Every name is accepted. OpenSSL calls it for every ClientHello,
 * with or without a name. */
static int tls_on_servername(SSL *ssl, int *alert, void *arg)
{
	struct tls_conn *tc = SSL_get_app_data(ssl);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	size_t len = name ? strlen(name) : 0;

	if (name) {
		tc->sni_len = len < sizeof tc->sni_name ? len : sizeof tc->sni_name - 1;
		memcpy(tc->sni_name, name, tc->sni_len);
	}
	if (use_site_cred(arg, tc, ssl, name, len) == 0)
		return SSL_TLSEXT_ERR_OK;
	*alert = SSL_AD_INTERNAL_ERROR;
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* Whether the client's ALPN list (wire format) holds proto. */
static int alpn_offered(const unsigned char *in, unsigned inlen, const char *proto)
{
	size_t plen = strlen(proto);

	for (unsigned i = 0; i < inlen; i += 1u + in[i])
		if (in[i] == plen && i + 1u + plen <= inlen && memcmp(in + i + 1, proto, plen) == 0)
			return 1;
	return 0;
}

/* Our first protocol that the client offers; none in common is a fatal
 * no_application_protocol alert, as mbedTLS sends (RFC 7301 3.2). */
static int tls_on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned inlen, void *arg)
{
	const char **tls_alpn = arg;

	(void)ssl;
	for (size_t i = 0; tls_alpn[i]; i++) {
		if (!alpn_offered(in, inlen, tls_alpn[i]))
			continue;
		*out = (const unsigned char *)tls_alpn[i];
		*outlen = (unsigned char)strlen(tls_alpn[i]);
		return SSL_TLSEXT_ERR_OK;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* Protocol, suites, groups, ALPN, SNI and tickets: the same on the session SSL_CTX and on
 * every credential's, since OpenSSL reads some from the one a connection started on and
 * some from the one the server name switched it to. */
static int configure(struct tls_ctx *ctx, SSL_CTX *sc, char *err, size_t errlen)
{
	static const unsigned char sid_ctx[] = "dropcap";

	/* IGNORE_UNEXPECTED_EOF: most clients close without close_notify; that is the end of
	 * the stream (HTTP frames its own messages), as in tls.c, and no fatal alert that would
	 * drop the session from the cache. */
	SSL_CTX_set_options(sc, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
				    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA |
				    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(sc, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
				 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* one read per record, not two (its header, then its body), as tls.c does with mbedTLS;
	 * what is read ahead is seen by tls_op_pending (SSL_has_pending) */
	SSL_CTX_set_read_ahead(sc, 1);
	SSL_CTX_set_max_early_data(sc, 0);
	SSL_CTX_set_tlsext_servername_callback(sc, tls_on_servername);
	SSL_CTX_set_tlsext_servername_arg(sc, ctx);
	/* no-http2 is the same in every configuration (changing it needs an upgrade) */
	SSL_CTX_set_alpn_select_cb(sc, tls_on_alpn,
				   (void *)(ctx->cfg->no_http2 ? tls_alpn_http1 : tls_alpn_h2));
	if (SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(sc, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(sc, tls_suites12) != 1 ||
	    SSL_CTX_set_ciphersuites(sc, tls_suites13) != 1 ||
	    SSL_CTX_set1_groups_list(sc, tls_groups) != 1 ||
	    SSL_CTX_set1_sigalgs_list(sc, tls_sigalgs) != 1 ||
	    SSL_CTX_set_session_id_context(sc, sid_ctx, sizeof sid_ctx - 1) != 1 ||
	    tls_tickets_attach(sc, ctx->tickets) != 0)
		return fail(err, errlen, "TLS", "configuration", "");
	SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_SERVER);
	SSL_CTX_sess_set_cache_size(sc, TLS_SESSION_CACHE_ENTRIES);
	SSL_CTX_set_timeout(sc, TLS_SESSION_LIFETIME);
	return 0;
}

static void cred_put(struct tls_cred *cr)
{
	if (!cr)
		return;
	SSL_CTX_free(cr->ssl_ctx); /* freed with the last connection that still holds it */
	free(cr);
}

/* A credential over newly read files; NULL with err. */
static struct tls_cred *cred_new(struct tls_ctx *ctx, const char *cert, const char *key,
				 const struct tls_reader *who, char *err, size_t errlen)
{
	struct tls_cred *cr = calloc(1, sizeof *cr);

	if (!cr || !(cr->ssl_ctx = SSL_CTX_new(TLS_server_method()))) {
		free(cr);
		ERR_clear_error();
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (configure(ctx, cr->ssl_ctx, err, errlen) < 0 ||
	    load_credentials(cr->ssl_ctx, cert, key, who, err, errlen) < 0) {
		cred_put(cr);
		return NULL;
	}
	return cr;
}

/* Once, before any other call and before the sandbox: OpenSSL's configuration file is never
 * read (the policy is this file's, and nothing under /etc is opened later). */
static int tls_library_init(char *err, size_t errlen)
{
	if (OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL) == 1)
		return 0;
	return fail(err, errlen, "TLS", "library initialisation", "");
}

/* The ticket keys and the session SSL_CTX. */
static int ctx_shared_setup(struct tls_ctx *ctx, char *err, size_t errlen)
{
	if (tls_library_init(err, errlen) < 0 ||
	    !(ctx->tickets = tls_tickets_new(ctx->cfg->ticket_key_file, err, errlen)))
		return -1;
	if (!(ctx->base = SSL_CTX_new(TLS_server_method())))
		return fail(err, errlen, "TLS", "context", "");
	return configure(ctx, ctx->base, err, errlen);
}

/* One credential per site with a certificate; err names the site when there are several. */
static int ctx_load_sites(struct tls_ctx *ctx, char *err, size_t errlen)
{
	const struct config *cfg = ctx->cfg;
	char e[1024];

	for (size_t i = 0; i < cfg->n_sites; i++) {
		const struct config_site *s = &cfg->sites[i];
		if (!s->cert)
			continue;
		if (!(ctx->cred[i] = cred_new(ctx, s->cert, s->key, NULL, e, sizeof e))) {
			if (s->names && cfg->n_sites > 1)
				snprintf(err, errlen, "site %s: %s", s->names, e);
			else
				snprintf(err, errlen, "%s", e);
			return -1;
		}
	}
	if (!ctx->cred[cfg->default_site]) {
		snprintf(err, errlen, "the default site has no certificate");
		return -1;
	}
	return 0;
}

struct tls_ctx *tls_ctx_new(const struct config *cfg, char *err, size_t errlen)
{
	struct tls_ctx *ctx = calloc(1, sizeof *ctx);

	if (!ctx) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&ctx->lock, NULL);
	ctx->cfg = cfg;
	if (ctx_shared_setup(ctx, err, errlen) < 0 || ctx_load_sites(ctx, err, errlen) < 0) {
		tls_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

/* "CN=example.org, expires 2027-03-01 12:00:00 UTC" from the leaf, as tls.c words it. */
static void describe(SSL_CTX *sc, char *info, size_t infolen)
{
	X509 *crt = SSL_CTX_get0_certificate(sc);
	BIO *mem = BIO_new(BIO_s_mem());
	char subject[256] = "?";
	struct tm t = {0};
	int n;

	if (mem &&
	    X509_NAME_print_ex(mem, X509_get_subject_name(crt), 0,
			       XN_FLAG_SEP_CPLUS_SPC | ASN1_STRFLGS_RFC2253) >= 0 &&
	    (n = BIO_read(mem, subject, sizeof subject - 1)) > 0)
		subject[n] = '\0';
	BIO_free(mem);
	if (ASN1_TIME_to_tm(X509_get0_notAfter(crt), &t) != 1)
		ERR_clear_error();
	snprintf(info, infolen, "subject %s, expires %04d-%02d-%02d %02d:%02d:%02d UTC", subject,
		 t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec);
}

int tls_ctx_reload(struct tls_ctx *ctx, size_t site, const struct tls_reader *who, char *info,
		   size_t infolen, char *err, size_t errlen)
{
	const struct config_site *s = &ctx->cfg->sites[site];
	struct tls_cred *cr, *old;

	if (!s->cert)
		return 1;
	if (!(cr = cred_new(ctx, s->cert, s->key, who, err, errlen)))
		return -1;
	describe(cr->ssl_ctx, info, infolen);
	pthread_mutex_lock(&ctx->lock);
	old = ctx->cred[site];
	ctx->cred[site] = cr;
	pthread_mutex_unlock(&ctx->lock);
	cred_put(old); /* freed now, or by the last connection that still uses it */
	return 0;
}

int tls_ctx_prepare(struct tls_ctx *ctx, const struct config *cfg, const struct tls_reader *who,
		    struct tls_cred **creds, char *err, size_t errlen)
{
	char e[1024];

	memset(creds, 0, CONFIG_MAX_SITES * sizeof *creds);
	for (size_t i = 0; i < cfg->n_sites; i++) {
		const struct config_site *s = &cfg->sites[i];
		if (!s->cert)
			continue;
		if ((creds[i] = cred_new(ctx, s->cert, s->key, who, e, sizeof e)))
			continue;
		snprintf(err, errlen, "%s:%u: %s", cfg->config_file ? cfg->config_file : "",
			 s->line, e);
		tls_ctx_discard(creds);
		return -1;
	}
	if (!creds[cfg->default_site]) {
		snprintf(err, errlen, "the default site has no certificate");
		tls_ctx_discard(creds);
		return -1;
	}
	return 0;
}

void tls_ctx_discard(struct tls_cred **creds)
{
	for (size_t i = 0; i < CONFIG_MAX_SITES; i++) {
		cred_put(creds[i]);
		creds[i] = NULL;
	}
}

void tls_ctx_commit(struct tls_ctx *ctx, const struct config *cfg, struct tls_cred **creds)
{
	struct tls_cred *old;

	pthread_mutex_lock(&ctx->lock);
	for (size_t i = 0; i < CONFIG_MAX_SITES; i++) {
		old = ctx->cred[i];
		ctx->cred[i] = creds[i];
		creds[i] = old; /* put below, outside the lock */
	}
	ctx->cfg = cfg;
	pthread_mutex_unlock(&ctx->lock);
	tls_ctx_discard(creds); /* freed now, or by the last session that uses each */
}

int tls_ctx_reload_tickets(struct tls_ctx *ctx, const struct tls_reader *who, char *info,
			   size_t infolen, char *err, size_t errlen)
{
	return tls_tickets_reload(ctx->tickets, who->user, who->group, info, infolen, err, errlen);
}

void tls_ctx_use_config(struct tls_ctx *ctx, const struct config *cfg)
{
	pthread_mutex_lock(&ctx->lock);
	ctx->cfg = cfg;
	pthread_mutex_unlock(&ctx->lock);
}

/* Frees every credential (OpenSSL clears a private key as it frees it) and wipes the ticket
 * keys: the upgrade helper calls it to keep no secret. */
void tls_ctx_free(struct tls_ctx *ctx)
{
	if (!ctx)
		return;
	for (size_t i = 0; i < CONFIG_MAX_SITES; i++)
		cred_put(ctx->cred[i]);
	SSL_CTX_free(ctx->base);
	tls_tickets_free(ctx->tickets); /* after every SSL_CTX that points at it */
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

/* OpenSSL keeps a random generator per thread already: this instantiates the worker's on its
 * own thread, before its first handshake (and before the sandbox when workers start first). */
int tls_worker_init(struct tls_ctx *ctx, char *err, size_t errlen)
{
	unsigned char b;

	if (!ctx || (RAND_bytes(&b, 1) == 1 && RAND_priv_bytes(&b, 1) == 1))
		return 0;
	return fail(err, errlen, "TLS", "random generator", "");
}

/* Frees the thread's generators and error queue (OpenSSL would at the thread's exit). */
void tls_worker_free(void)
{
	OPENSSL_thread_stop();
}

static struct tls_conn *tls_conn_new(struct tls_ctx *ctx, int fd)
{
	struct tls_conn *tc = malloc(sizeof *tc);

	if (!tc)
		return NULL;
	if (!(tc->ssl = SSL_new(ctx->base)) || SSL_set_fd(tc->ssl, fd) != 1) {
		SSL_free(tc->ssl);
		free(tc);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_app_data(tc->ssl, tc);
	SSL_set_accept_state(tc->ssl);
	tc->ctx = ctx;
	tc->sni_site = -1;
	tc->sni_len = 0;
	tc->shut = 0;
	return tc;
}

static void tls_op_free(struct transport *t)
{
	struct tls_conn *tc = t->tls;

	t->tls = NULL;
	if (!tc)
		return;
	/* A session often ends without close_notify (the peer closed first, a keep-alive timed
	 * out): it stays resumable, as in tls.c, where OpenSSL would drop it from the cache. A
	 * session that failed was dropped when OpenSSL sent its fatal alert. */
	SSL_set_shutdown(tc->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(tc->ssl); /* and its reference on the credential; the socket stays open */
	free(tc);
}

/* Maps an OpenSSL result (ret <= 0 of SSL_do_handshake, SSL_read_ex, ...); the error queue
 * is emptied, so that the next call on this thread starts clean. An end of stream without
 * close_notify (SSL_OP_IGNORE_UNEXPECTED_EOF: ZERO_RETURN), or a reset, is a close, as in
 * tls.c. */
static enum transport_result tls_result(struct tls_conn *tc, int ret)
{
	int e = SSL_get_error(tc->ssl, ret), sys = errno;

	ERR_clear_error();
	switch (e) {
	case SSL_ERROR_WANT_READ: return TRANSPORT_WANT_READ;
	case SSL_ERROR_WANT_WRITE: return TRANSPORT_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN: tc->shut = 1; return TRANSPORT_CLOSE;
	case SSL_ERROR_SYSCALL:
		tc->shut = 1;
		return sys == ECONNRESET || sys == EPIPE ? TRANSPORT_CLOSE : TRANSPORT_ERROR;
	default: tc->shut = 1; return TRANSPORT_ERROR;
	}
}

static enum transport_result tls_op_handshake(struct transport *t)
{
	int ret;

	ERR_clear_error();
	ret = SSL_do_handshake(t->tls->ssl);
	return ret == 1 ? TRANSPORT_DONE : tls_result(t->tls, ret);
}

static enum transport_result tls_op_read(struct transport *t, char *buf, size_t len, size_t *n)
{
	int ret;

	ERR_clear_error();
	ret = SSL_read_ex(t->tls->ssl, buf, len, n);
	return ret == 1 ? TRANSPORT_DONE : tls_result(t->tls, ret);
}

/* more is ignored: each write of up to TLS_RECORD_MAX bytes is one record (partial writes on). */
static enum transport_result tls_op_write(struct transport *t, const char *buf, size_t len,
					  size_t *n, int more)
{
	int ret;

	(void)more;
	ERR_clear_error();
	ret = SSL_write_ex(t->tls->ssl, buf, len, n);
	return ret == 1 ? TRANSPORT_DONE : tls_result(t->tls, ret);
}

static int tls_op_pending(const struct transport *t)
{
	const SSL *ssl = t->tls->ssl;

	return SSL_pending(ssl) > 0 || SSL_has_pending(ssl);
}

/* close_notify once, without waiting for the peer's (SSL_shutdown's first step only). */
static void tls_op_shutdown(struct transport *t)
{
	struct tls_conn *tc = t->tls;

	if (tc->shut || !SSL_is_init_finished(tc->ssl))
		return;
	tc->shut = 1;
	ERR_clear_error();
	(void)SSL_shutdown(tc->ssl);
	ERR_clear_error();
}

const struct transport_ops tls_transport_ops = {
    .name = "https",
    .handshake = tls_op_handshake,
    .read = tls_op_read,
    .write = tls_op_write,
    .sendfile = NULL, /* TLS copies through user space (no kTLS: see README) */
    .pending = tls_op_pending,
    .shutdown = tls_op_shutdown,
    .free = tls_op_free,
};

int tls_transport_sni_site(const struct transport *t, const struct config *cfg)
{
	const struct tls_conn *tc = t->ops == &tls_transport_ops ? t->tls : NULL;
	int site;

	if (!tc || tc->sni_site < 0)
		return -1;
	site = site_find(cfg->sites, cfg->n_sites, tc->sni_name, tc->sni_len);
	return site == SITE_NONE ? (int)cfg->default_site : site;
}

/* Always 0 while tls_alpn offers no "h2" (the HTTP/2 module adds it). */
int tls_transport_h2(const struct transport *t)
{
	const struct tls_conn *tc = t->ops == &tls_transport_ops ? t->tls : NULL;
	const unsigned char *proto = NULL;
	unsigned len = 0;

	if (tc)
		SSL_get0_alpn_selected(tc->ssl, &proto, &len);
	return len == 2 && memcmp(proto, "h2", 2) == 0;
}

int tls_transport_open(struct transport *t, struct tls_ctx *ctx, int fd)
{
	transport_open_plain(t, fd);
	t->tls = tls_conn_new(ctx, fd);
	if (!t->tls)
		return -1;
	t->ops = &tls_transport_ops;
	return 0;
}

const char *tls_library(void)
{
	return "OpenSSL " OPENSSL_VERSION_STR;
}
