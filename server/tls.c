/*
 * tls.c — TLS 1.2 over non-blocking sockets with mbedTLS 2.28. The only file that
 * includes mbedTLS: a port to 3.x (and TLS 1.3) changes this file alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#include "site.h"
#include "tls.h"

/*
 * ECDHE with AEAD only. ChaCha20-Poly1305 first: Debian's mbedTLS 2.28 runs AES-GCM one
 * block at a time, and ChaCha20-Poly1305 encrypts 16 KiB records 1.5-1.7x faster
 * (bench/mbedtls-speed: 530 vs 308 MB/s on one core here, 351 vs 243 in the baseline
 * run). mbedTLS follows the server's order. AES-256 last: slower, no safer in practice.
 */
static const int tls_suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    0,
};

/*
 * Key-exchange groups, most preferred first: mbedTLS takes the first of ours that the
 * client offers, and its default order puts the largest curve first. Measured with
 * bench/mbedtls-speed (one core, ECDHE keygen + shared secret): P-256 0.77 ms (mbedTLS
 * has NIST-optimised P-256), X25519 0.87 ms, P-384 1.30 ms. With an ECDSA P-256
 * signature that caps full handshakes at 747/s (P-256), 694/s (X25519), 534/s (P-384):
 * P-384 costs 40% more per handshake. P-384 stays last, for clients offering nothing else.
 */
static const mbedtls_ecp_group_id tls_groups[] = {
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_NONE,
};

static const int tls_sig_hashes[] = {
    MBEDTLS_MD_SHA256,
    MBEDTLS_MD_SHA384,
    MBEDTLS_MD_SHA512,
    MBEDTLS_MD_NONE,
};

static const char *tls_alpn[] = {"http/1.1", NULL};

#define TLS_SESSION_CACHE_ENTRIES 1024
#define TLS_SESSION_LIFETIME 43200 /* seconds, for cached sessions and ticket keys */

/*
 * What a reload replaces: the certificate chain, the key and the configuration naming them.
 * An mbedtls_ssl_context points at its mbedtls_ssl_config for its whole life, so a reload
 * builds a new one and the old one lives on while connections made with it are open: each
 * holds a reference, and the context one more while it is the current credential.
 */
struct tls_cred {
	mbedtls_ssl_config conf;
	mbedtls_x509_crt chain;
	mbedtls_pk_context key;
	unsigned long refs;
};

/* What outlives reloads: the RNG, and the session cache and ticket keys, so that a session
 * made with the old certificate still resumes after a reload (as nginx does: a session is not
 * bound to the certificate). */
struct tls_ctx {
	const struct config *cfg;
	/* each site's current credential (NULL: it has none and uses the default site's); new
	 * connections start with the default site's, the server name may switch them */
	struct tls_cred *cred[CONFIG_MAX_SITES];
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_ssl_cache_context cache;
	mbedtls_ssl_ticket_context ticket;
};

struct tls_conn {
	mbedtls_ssl_context ssl; /* first: the server-name callback finds the connection from it */
	struct tls_ctx *ctx;
	struct tls_cred *cred; /* the configuration ssl points at, held until the session ends */
	struct tls_cred *sni_cred; /* the named site's certificate and key, when not cred's */
	int sni_site;		   /* the site the server name picked; -1: no name */
	/* the name itself: a reload between the handshake and a request may renumber the sites,
	 * so a request finds it again in the configuration it is answered with */
	char sni_name[256];
	size_t sni_len;
	int fd;
	int shut;
};

static int fail(char *err, size_t errlen, const char *what, const char *path, int ret,
		const char *fix)
{
	char msg[128];

	mbedtls_strerror(ret, msg, sizeof msg);
	snprintf(err, errlen, "%s %s: %s%s", what, path, msg, fix);
	return -1;
}

/* Reports an unreadable file with errno's words (and the fix) before mbedTLS turns it into
 * "I/O error". who names the reading user in a reload (the run user, not the one that
 * started dropcap); NULL at start. */
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

static int load_credentials(struct tls_cred *cr, const char *cert, const char *key,
			    const struct tls_reader *who, char *err, size_t errlen)
{
	int ret;

	if (readable("certificate", cert, who, err, errlen) < 0 ||
	    readable("key", key, who, err, errlen) < 0)
		return -1;
	ret = mbedtls_x509_crt_parse_file(&cr->chain, cert);
	if (ret != 0)
		return fail(err, errlen, "bad certificate file", cert,
			    ret > 0 ? MBEDTLS_ERR_X509_INVALID_FORMAT : ret,
			    " (give the PEM certificate chain, leaf first: fullchain.pem)");
	ret = mbedtls_pk_parse_keyfile(&cr->key, key, NULL);
	if (ret == MBEDTLS_ERR_PK_PASSWORD_REQUIRED) {
		snprintf(err, errlen,
			 "key %s is encrypted: give an unencrypted key "
			 "(openssl pkey -in KEY -out PLAIN)",
			 key);
		return -1;
	}
	if (ret != 0)
		return fail(err, errlen, "bad key file", key, ret,
			    " (give the PEM private key: privkey.pem)");
	if (mbedtls_pk_check_pair(&cr->chain.pk, &cr->key) != 0) {
		snprintf(err, errlen,
			 "key %s does not match the certificate %s (the first "
			 "certificate in the file must be the one the key signs for)",
			 key, cert);
		return -1;
	}
	return 0;
}

/* The server name picks the site, and the site its certificate; an unknown name gets the
 * default site's (as no name does). Every name is accepted. Called from the handshake, on
 * the loop; allocates nothing here (mbedTLS keeps a small node for the chosen certificate). */
static int tls_sni(void *arg, mbedtls_ssl_context *ssl, const unsigned char *name, size_t len)
{
	struct tls_ctx *ctx = arg;
	struct tls_conn *tc = (struct tls_conn *)(void *)ssl; /* ssl is its first member */
	const struct config *cfg = ctx->cfg;
	int site = site_find(cfg->sites, cfg->n_sites, (const char *)name, len);
	struct tls_cred *cr;

	tc->sni_site = site == SITE_NONE ? (int)cfg->default_site : site;
	tc->sni_len = len < sizeof tc->sni_name ? len : sizeof tc->sni_name - 1;
	memcpy(tc->sni_name, name, tc->sni_len);
	cr = ctx->cred[tc->sni_site];
	if (!cr || cr == tc->cred || tc->sni_cred)
		return 0;
	if (mbedtls_ssl_set_hs_own_cert(ssl, &cr->chain, &cr->key) != 0)
		return -1;
	tc->sni_cred = cr;
	cr->refs++; /* the handshake points at its chain and key */
	return 0;
}

/* Protocol, suites, curves, ALPN, SNI and the credential; the RNG, session cache and ticket
 * keys are the context's, shared by every configuration a reload makes. */
static int configure(struct tls_ctx *ctx, struct tls_cred *cr, char *err, size_t errlen)
{
	mbedtls_ssl_config *conf = &cr->conf;
	int ret;

	ret = mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
					  MBEDTLS_SSL_PRESET_DEFAULT);
	if (ret != 0)
		return fail(err, errlen, "TLS", "configuration", ret, "");
	mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
				     MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
				     MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(conf, tls_suites);
	mbedtls_ssl_conf_curves(conf, tls_groups);
	mbedtls_ssl_conf_sig_hashes(conf, tls_sig_hashes);
	mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &ctx->drbg);
	mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
	mbedtls_ssl_conf_sni(conf, tls_sni, ctx);
	if ((ret = mbedtls_ssl_conf_alpn_protocols(conf, tls_alpn)) != 0 ||
	    (ret = mbedtls_ssl_conf_own_cert(conf, &cr->chain, &cr->key)) != 0)
		return fail(err, errlen, "TLS", "configuration", ret, "");
	mbedtls_ssl_conf_session_cache(conf, &ctx->cache, mbedtls_ssl_cache_get,
				       mbedtls_ssl_cache_set);
	mbedtls_ssl_conf_session_tickets_cb(conf, mbedtls_ssl_ticket_write,
					    mbedtls_ssl_ticket_parse, &ctx->ticket);
	return 0;
}

static void cred_put(struct tls_cred *cr)
{
	if (!cr || --cr->refs > 0)
		return;
	mbedtls_ssl_config_free(&cr->conf);
	mbedtls_pk_free(&cr->key);
	mbedtls_x509_crt_free(&cr->chain);
	free(cr);
}

/* A configuration over newly read files, with one reference (the caller's); NULL with err. */
static struct tls_cred *cred_new(struct tls_ctx *ctx, const char *cert, const char *key,
				 const struct tls_reader *who, char *err, size_t errlen)
{
	struct tls_cred *cr = calloc(1, sizeof *cr);

	if (!cr) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	cr->refs = 1;
	mbedtls_ssl_config_init(&cr->conf);
	mbedtls_x509_crt_init(&cr->chain);
	mbedtls_pk_init(&cr->key);
	if (load_credentials(cr, cert, key, who, err, errlen) < 0 ||
	    configure(ctx, cr, err, errlen) < 0) {
		cred_put(cr);
		return NULL;
	}
	return cr;
}

/* The RNG, and the session cache and ticket keys every configuration shares. */
static int ctx_shared_setup(struct tls_ctx *ctx, char *err, size_t errlen)
{
	static const unsigned char pers[] = "dropcap";
	int ret;

	ret = mbedtls_ctr_drbg_seed(&ctx->drbg, mbedtls_entropy_func, &ctx->entropy, pers,
				    sizeof pers - 1);
	if (ret != 0)
		return fail(err, errlen, "TLS", "random generator", ret, "");
	mbedtls_ssl_cache_set_max_entries(&ctx->cache, TLS_SESSION_CACHE_ENTRIES);
	mbedtls_ssl_cache_set_timeout(&ctx->cache, TLS_SESSION_LIFETIME);
	ret = mbedtls_ssl_ticket_setup(&ctx->ticket, mbedtls_ctr_drbg_random, &ctx->drbg,
				       MBEDTLS_CIPHER_AES_256_GCM, TLS_SESSION_LIFETIME);
	if (ret != 0)
		return fail(err, errlen, "TLS", "session tickets", ret, "");
	return 0;
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
	mbedtls_entropy_init(&ctx->entropy);
	mbedtls_ctr_drbg_init(&ctx->drbg);
	mbedtls_ssl_cache_init(&ctx->cache);
	mbedtls_ssl_ticket_init(&ctx->ticket);
	ctx->cfg = cfg;
	if (ctx_shared_setup(ctx, err, errlen) < 0 || ctx_load_sites(ctx, err, errlen) < 0) {
		tls_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

/* "CN=example.org, expires 2027-03-01 12:00:00 UTC" from the leaf's parsed fields. */
static void describe(const mbedtls_x509_crt *crt, char *info, size_t infolen)
{
	char subject[256];
	const mbedtls_x509_time *t = &crt->valid_to;

	if (mbedtls_x509_dn_gets(subject, sizeof subject, &crt->subject) < 0)
		snprintf(subject, sizeof subject, "?");
	snprintf(info, infolen, "subject %s, expires %04d-%02d-%02d %02d:%02d:%02d UTC", subject,
		 t->year, t->mon, t->day, t->hour, t->min, t->sec);
}

int tls_ctx_reload(struct tls_ctx *ctx, size_t site, const struct tls_reader *who, char *info,
		   size_t infolen, char *err, size_t errlen)
{
	const struct config_site *s = &ctx->cfg->sites[site];
	struct tls_cred *cr;

	if (!s->cert)
		return 1;
	if (!(cr = cred_new(ctx, s->cert, s->key, who, err, errlen)))
		return -1;
	cred_put(ctx->cred[site]); /* freed now, or by the last connection that still uses it */
	ctx->cred[site] = cr;
	describe(&cr->chain, info, infolen);
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
	for (size_t i = 0; i < CONFIG_MAX_SITES; i++) {
		cred_put(ctx->cred[i]); /* freed now, or by the last session that uses it */
		ctx->cred[i] = creds[i];
		creds[i] = NULL;
	}
	tls_ctx_use_config(ctx, cfg);
}

void tls_ctx_use_config(struct tls_ctx *ctx, const struct config *cfg)
{
	ctx->cfg = cfg;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (!ctx)
		return;
	for (size_t i = 0; i < CONFIG_MAX_SITES; i++)
		cred_put(ctx->cred[i]);
	mbedtls_ssl_ticket_free(&ctx->ticket);
	mbedtls_ssl_cache_free(&ctx->cache);
	mbedtls_ctr_drbg_free(&ctx->drbg);
	mbedtls_entropy_free(&ctx->entropy);
	free(ctx);
}

static int tls_bio_send(void *arg, const unsigned char *buf, size_t len)
{
	struct tls_conn *tc = arg;
	ssize_t n = send(tc->fd, buf, len, MSG_NOSIGNAL);

	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	return (errno == EPIPE || errno == ECONNRESET) ? MBEDTLS_ERR_NET_CONN_RESET
						       : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int tls_bio_recv(void *arg, unsigned char *buf, size_t len)
{
	struct tls_conn *tc = arg;
	ssize_t n = recv(tc->fd, buf, len, 0);

	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_READ;
	return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
}

static struct tls_conn *tls_conn_new(struct tls_ctx *ctx, int fd)
{
	struct tls_conn *tc = malloc(sizeof *tc);
	struct tls_cred *def = ctx->cred[ctx->cfg->default_site];

	if (!tc)
		return NULL;
	mbedtls_ssl_init(&tc->ssl);
	if (mbedtls_ssl_setup(&tc->ssl, &def->conf) != 0) {
		mbedtls_ssl_free(&tc->ssl);
		free(tc);
		return NULL;
	}
	tc->ctx = ctx;
	tc->cred = def;
	tc->cred->refs++;
	tc->sni_cred = NULL;
	tc->sni_site = -1;
	tc->sni_len = 0;
	tc->fd = fd;
	tc->shut = 0;
	mbedtls_ssl_set_bio(&tc->ssl, tc, tls_bio_send, tls_bio_recv, NULL);
	return tc;
}

static void tls_op_free(struct transport *t)
{
	struct tls_conn *tc = t->tls;

	t->tls = NULL;
	if (!tc)
		return;
	mbedtls_ssl_free(&tc->ssl);
	cred_put(tc->cred); /* after the session: it points at the configuration */
	cred_put(tc->sni_cred);
	free(tc);
}

/* Maps an mbedTLS return value; MBEDTLS_ERR_* never leaves this file. */
static enum transport_result tls_result(int ret)
{
	switch (ret) {
	case MBEDTLS_ERR_SSL_WANT_READ: return TRANSPORT_WANT_READ;
	case MBEDTLS_ERR_SSL_WANT_WRITE: return TRANSPORT_WANT_WRITE;
	case 0:
	case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
	case MBEDTLS_ERR_SSL_CONN_EOF:
	case MBEDTLS_ERR_NET_CONN_RESET: return TRANSPORT_CLOSE;
	default: return TRANSPORT_ERROR;
	}
}

static enum transport_result tls_op_handshake(struct transport *t)
{
	int ret = mbedtls_ssl_handshake(&t->tls->ssl);

	return ret == 0 ? TRANSPORT_DONE : tls_result(ret);
}

static enum transport_result tls_op_read(struct transport *t, char *buf, size_t len, size_t *n)
{
	int ret = mbedtls_ssl_read(&t->tls->ssl, (unsigned char *)buf, len);

	if (ret > 0) {
		*n = (size_t)ret;
		return TRANSPORT_DONE;
	}
	return tls_result(ret);
}

/* more is ignored: every write is a whole record already. */
static enum transport_result tls_op_write(struct transport *t, const char *buf, size_t len,
					  size_t *n, int more)
{
	int ret = mbedtls_ssl_write(&t->tls->ssl, (const unsigned char *)buf, len);

	(void)more;
	if (ret > 0) {
		*n = (size_t)ret;
		return TRANSPORT_DONE;
	}
	return ret == 0 ? TRANSPORT_ERROR : tls_result(ret);
}

static int tls_op_pending(const struct transport *t)
{
	const mbedtls_ssl_context *ssl = &t->tls->ssl;

	return mbedtls_ssl_get_bytes_avail(ssl) > 0 || mbedtls_ssl_check_pending(ssl);
}

static void tls_op_shutdown(struct transport *t)
{
	struct tls_conn *tc = t->tls;

	if (tc->shut)
		return;
	tc->shut = 1;
	(void)mbedtls_ssl_close_notify(&tc->ssl);
}

const struct transport_ops tls_transport_ops = {
    .name = "https",
    .handshake = tls_op_handshake,
    .read = tls_op_read,
    .write = tls_op_write,
    .sendfile = NULL, /* TLS copies through user space */
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
	return "mbedTLS " MBEDTLS_VERSION_STRING;
}
