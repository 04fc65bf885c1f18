/*
 * tls.c — TLS 1.2 over non-blocking sockets with mbedTLS 2.28. The only file that
 * includes mbedTLS: a port to 3.x (and TLS 1.3) changes this file alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/cipher.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/ssl_internal.h> /* MBEDTLS_SSL_IN/OUT_BUFFER_LEN: the record buffers' sizes */
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#include "site.h"
#include "ticketfile.h"
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
 * client offers, and its default order puts the largest curve first. X25519 first: in a
 * handshake, mbedTLS 2.28 makes the ephemeral key on an EC group loaded for that handshake,
 * so P-256's keygen recomputes the generator's comb table each time and costs as much as the
 * shared secret (mbedtls-speed on this machine kind: P-256 keygen 3,467/s with the table
 * cached, 1,470/s with a fresh group). X25519 (a Montgomery ladder, no table) pays no such
 * cost: full handshakes with an ECDSA P-256 signature, measured, 503/s with X25519 against
 * 440/s with P-256 (+14%). P-384 last, for clients offering nothing else (534 -> 434/s).
 */
static const mbedtls_ecp_group_id tls_groups[] = {
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_NONE,
};

static const int tls_sig_hashes[] = {
    MBEDTLS_MD_SHA256,
    MBEDTLS_MD_SHA384,
    MBEDTLS_MD_SHA512,
    MBEDTLS_MD_NONE,
};

/* ALPN, in the server's order of preference: h2 unless --no-http2 (mbedTLS picks the first
 * of ours that the client offers). */
static const char *tls_alpn_h2[] = {"h2", "http/1.1", NULL};
static const char *tls_alpn_http1[] = {"http/1.1", NULL};

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
	atomic_ulong refs; /* sessions on any worker, and the context while current */
};

/* What outlives reloads: the RNG, and the session cache and ticket keys, so that a session
 * made with the old certificate still resumes after a reload (as nginx does: a session is not
 * bound to the certificate). */
struct tls_ctx {
	/* cfg and cred[] as the workers' handshakes read them while the main thread reloads */
	pthread_mutex_t lock;
	const struct config *cfg;
	/* each site's current credential (NULL: it has none and uses the default site's); new
	 * connections start with the default site's, the server name may switch them */
	struct tls_cred *cred[CONFIG_MAX_SITES];
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_ssl_cache_context cache;
	struct tls_tickets *tickets; /* the ticket keys, shared by every thread (below) */
};

/* A worker thread's own random generator (tls_worker_init): the handshakes draw from it without
 * a lock that other workers contend for; NULL (the main thread): the context's. */
static _Thread_local mbedtls_ctr_drbg_context *tls_thread_drbg;

static int tls_rng(void *arg, unsigned char *out, size_t len)
{
	struct tls_ctx *ctx = arg;

	return mbedtls_ctr_drbg_random(tls_thread_drbg ? tls_thread_drbg : &ctx->drbg, out, len);
}

static void cred_get(struct tls_cred *cr)
{
	atomic_fetch_add_explicit(&cr->refs, 1, memory_order_relaxed);
}

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
	int more; /* the record being written is not the response's last: send with MSG_MORE */
	unsigned char *ahead; /* input received beyond what mbedTLS asked for (tls_bio_recv) */
	size_t ahead_len;
	/* how far the record buffers were written since their pages were last given back (see
	 * tls_op_idle): the socket callbacks move these marks */
	unsigned char *in_touched;
	unsigned char *out_touched;
	int sized; /* the buffers are as large as mbedTLS's headers say (see tls_conn_new) */
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
	struct tls_cred *cr;
	int site;

	pthread_mutex_lock(&ctx->lock); /* a reload may be swapping cfg and the credentials */
	site = site_find(ctx->cfg->sites, ctx->cfg->n_sites, (const char *)name, len);
	tc->sni_site = site == SITE_NONE ? (int)ctx->cfg->default_site : site;
	cr = ctx->cred[tc->sni_site];
	if (cr && cr != tc->cred && !tc->sni_cred)
		cred_get(cr); /* the handshake points at its chain and key */
	else
		cr = NULL;
	pthread_mutex_unlock(&ctx->lock);
	tc->sni_len = len < sizeof tc->sni_name ? len : sizeof tc->sni_name - 1;
	memcpy(tc->sni_name, name, tc->sni_len);
	if (!cr)
		return 0;
	tc->sni_cred = cr; /* tls_op_free puts it, also when the next call fails */
	return mbedtls_ssl_set_hs_own_cert(ssl, &cr->chain, &cr->key) != 0 ? -1 : 0;
}

/* ---- session tickets: our own format, keys from --ticket-key-file or generated ---------- */

/*
 * mbedTLS 2.28's ticket module makes its keys itself and cannot load any, so a fleet behind a
 * load balancer could not share them: these callbacks replace it. A key is 80 bytes, the size
 * of an nginx ssl_session_ticket_key file: bytes 0-15 name it (every ticket carries the name in
 * the clear, so the right key is found without trying them all), and AES-256-GCM's key is
 * HKDF-SHA256 of bytes 16-79 (all 64 secret bytes; the info string keeps it from being the key
 * nginx would use with the same file). The first key of the set encrypts, every key decrypts.
 * A ticket is: name (16) | IV (12, from the RNG) | mbedtls_ssl_session_save(), encrypted | tag
 * (16), with the name as additional data. Without a file, one key is generated at start and
 * replaced by a new one every TLS_SESSION_LIFETIME, the old one kept for decryption (what
 * mbedTLS's module did), through the same code.
 */
#define TICKET_KEY_LEN TICKETFILE_KEY_LEN
#define TICKET_NAME_LEN 16
#define TICKET_SECRET_LEN (TICKET_KEY_LEN - TICKET_NAME_LEN)
#define TICKET_IV_LEN 12
#define TICKET_TAG_LEN 16
#define TICKET_MAX_KEYS TICKETFILE_MAX_KEYS
#define TICKET_OVERHEAD (TICKET_NAME_LEN + TICKET_IV_LEN + TICKET_TAG_LEN)
/* A fleet's clocks differ a little: a session may have started this far in our future. */
#define TICKET_CLOCK_SKEW 300

struct ticket_key {
	unsigned char name[TICKET_NAME_LEN];
	mbedtls_cipher_context_t aead; /* AES-256-GCM with the derived key */
};

/* One file's keys, or the generated ones; replaced whole, never changed (but for the GCM
 * contexts' per-operation state, which the lock below guards). */
struct ticket_keys {
	size_t n;
	time_t born;
	unsigned char first[TICKET_KEY_LEN]; /* key 0's bytes: a rotation keeps it second */
	struct ticket_key key[];
};

/*
 * One mutex guards the current set and every use of it: a GCM context holds the state of the
 * operation in progress, so two threads cannot share one anyway, and the lock is held only for
 * one AEAD pass over a ~150-byte session (about a microsecond), never for the serialisation
 * or a file read. A reload builds the new set unlocked and swaps the pointer under the lock:
 * a handshake sees the old set or the new one, never a half-loaded one. The RNG is the
 * tickets' own (IVs, generated keys), used under the lock, so that it does not depend on
 * which thread's generator the handshake has.
 */
struct tls_tickets {
	pthread_mutex_t lock;
	struct ticket_keys *set;
	char *file; /* --ticket-key-file, NULL: generated keys */
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
};

static void keys_free(struct ticket_keys *ks)
{
	if (!ks)
		return;
	for (size_t i = 0; i < ks->n; i++)
		mbedtls_cipher_free(&ks->key[i].aead); /* zeroises the key schedule */
	mbedtls_platform_zeroize(ks, sizeof *ks + ks->n * sizeof ks->key[0]);
	free(ks);
}

static int key_init(struct ticket_key *k, const unsigned char *bytes)
{
	static const unsigned char info[] = "dropcap session ticket key v1";
	const mbedtls_cipher_info_t *gcm =
	    mbedtls_cipher_info_from_type(MBEDTLS_CIPHER_AES_256_GCM);
	unsigned char aes[32];
	int ret;

	mbedtls_cipher_init(&k->aead);
	memcpy(k->name, bytes, TICKET_NAME_LEN);
	ret = mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), NULL, 0,
			   bytes + TICKET_NAME_LEN, TICKET_SECRET_LEN, info, sizeof info - 1, aes,
			   sizeof aes);
	if (ret == 0)
		ret = mbedtls_cipher_setup(&k->aead, gcm);
	if (ret == 0)
		ret = mbedtls_cipher_setkey(&k->aead, aes, 8 * (int)sizeof aes, MBEDTLS_ENCRYPT);
	mbedtls_platform_zeroize(aes, sizeof aes);
	return ret;
}

/* A set of the n keys in bytes (n * TICKET_KEY_LEN); NULL when out of memory. */
static struct ticket_keys *keys_new(const unsigned char *bytes, size_t n)
{
	struct ticket_keys *ks = calloc(1, sizeof *ks + n * sizeof ks->key[0]);

	if (!ks)
		return NULL;
	for (; ks->n < n; ks->n++) {
		if (key_init(&ks->key[ks->n], bytes + ks->n * TICKET_KEY_LEN) == 0)
			continue;
		ks->n++; /* its context was initialised: free it too */
		keys_free(ks);
		return NULL;
	}
	memcpy(ks->first, bytes, TICKET_KEY_LEN);
	ks->born = time(NULL);
	return ks;
}

/* The keys of the file (who: the reading user in a reload), or one new random key. */
static struct ticket_keys *tickets_load(struct tls_tickets *tk, const struct tls_reader *who,
					char *err, size_t errlen)
{
	unsigned char buf[TICKET_MAX_KEYS * TICKET_KEY_LEN];
	struct ticket_keys *ks = NULL;
	size_t len = TICKET_KEY_LEN;
	int ret;

	err[0] = '\0';
	if (tk->file) {
		if (ticketfile_read(tk->file, who ? who->user : NULL, who ? who->group : NULL, buf,
				    &len, err, errlen) < 0)
			return NULL;
	} else if ((ret = mbedtls_ctr_drbg_random(&tk->drbg, buf, len)) != 0) {
		fail(err, errlen, "TLS", "session ticket key", ret, "");
		return NULL;
	}
	if (!(ks = keys_new(buf, len / TICKET_KEY_LEN)))
		snprintf(err, errlen, "session ticket keys: out of memory");
	mbedtls_platform_zeroize(buf, sizeof buf);
	return ks;
}

/* Generated keys only: after a lifetime, a new one encrypts and the old one still decrypts.
 * Under the lock; a failure keeps the old key and tries again with the next ticket. */
static void tickets_rotate(struct tls_tickets *tk)
{
	unsigned char bytes[2 * TICKET_KEY_LEN];
	struct ticket_keys *ks;

	if (tk->file || time(NULL) - tk->set->born < TLS_SESSION_LIFETIME)
		return;
	if (mbedtls_ctr_drbg_random(&tk->drbg, bytes, TICKET_KEY_LEN) != 0)
		return;
	memcpy(bytes + TICKET_KEY_LEN, tk->set->first, TICKET_KEY_LEN);
	ks = keys_new(bytes, 2);
	mbedtls_platform_zeroize(bytes, sizeof bytes);
	if (!ks)
		return;
	keys_free(tk->set);
	tk->set = ks;
}

static int ticket_write(void *arg, const mbedtls_ssl_session *session, unsigned char *start,
			const unsigned char *end, size_t *tlen, uint32_t *lifetime)
{
	struct tls_tickets *tk = arg;
	unsigned char *iv = start + TICKET_NAME_LEN, *state = iv + TICKET_IV_LEN;
	size_t room, clear, olen;
	int ret;

	*tlen = 0;
	if (end - start < TICKET_OVERHEAD)
		return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
	room = (size_t)(end - state) - TICKET_TAG_LEN;
	if ((ret = mbedtls_ssl_session_save(session, state, room, &clear)) != 0)
		return ret;
	pthread_mutex_lock(&tk->lock);
	tickets_rotate(tk);
	memcpy(start, tk->set->key[0].name, TICKET_NAME_LEN);
	ret = mbedtls_ctr_drbg_random(&tk->drbg, iv, TICKET_IV_LEN);
	if (ret == 0)
		ret = mbedtls_cipher_auth_encrypt_ext(&tk->set->key[0].aead, iv, TICKET_IV_LEN,
						      start, TICKET_NAME_LEN, state, clear, state,
						      room + TICKET_TAG_LEN, &olen, TICKET_TAG_LEN);
	pthread_mutex_unlock(&tk->lock);
	if (ret != 0) {
		mbedtls_platform_zeroize(state, clear);
		return ret;
	}
	*tlen = TICKET_NAME_LEN + TICKET_IV_LEN + olen;
	*lifetime = TLS_SESSION_LIFETIME;
	return 0;
}

/* Decrypts in place with the key buf names; MBEDTLS_ERR_SSL_INVALID_MAC for an unknown name
 * (a key rotated out, another fleet's) or a ticket that fails authentication. */
static int ticket_decrypt(struct tls_tickets *tk, unsigned char *buf, size_t len, size_t *clear)
{
	unsigned char *iv = buf + TICKET_NAME_LEN, *state = iv + TICKET_IV_LEN;
	size_t clen = len - TICKET_NAME_LEN - TICKET_IV_LEN;
	int ret = MBEDTLS_ERR_SSL_INVALID_MAC;

	pthread_mutex_lock(&tk->lock);
	for (size_t i = 0; i < tk->set->n; i++) {
		if (memcmp(buf, tk->set->key[i].name, TICKET_NAME_LEN) != 0)
			continue;
		ret = mbedtls_cipher_auth_decrypt_ext(&tk->set->key[i].aead, iv, TICKET_IV_LEN, buf,
						      TICKET_NAME_LEN, state, clen, state,
						      clen - TICKET_TAG_LEN, clear, TICKET_TAG_LEN);
		break;
	}
	pthread_mutex_unlock(&tk->lock);
	return ret == MBEDTLS_ERR_CIPHER_AUTH_FAILED ? MBEDTLS_ERR_SSL_INVALID_MAC : ret;
}

/* A failure is no error to the client: mbedTLS falls back to a full handshake. */
static int ticket_parse(void *arg, mbedtls_ssl_session *session, unsigned char *buf, size_t len)
{
	unsigned char *state = buf + TICKET_NAME_LEN + TICKET_IV_LEN;
	size_t clear = 0;
	time_t now = time(NULL);
	int ret;

	if (len < TICKET_OVERHEAD)
		return MBEDTLS_ERR_SSL_INVALID_MAC;
	if ((ret = ticket_decrypt(arg, buf, len, &clear)) != 0)
		return ret;
	ret = mbedtls_ssl_session_load(session, state, clear);
	mbedtls_platform_zeroize(state, clear); /* the master secret, in mbedTLS's input buffer */
	if (ret != 0)
		return ret;
	if (session->start > now + TICKET_CLOCK_SKEW || now - session->start > TLS_SESSION_LIFETIME)
		return MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED;
	return 0;
}

static void tickets_free(struct tls_tickets *tk)
{
	if (!tk)
		return;
	keys_free(tk->set);
	mbedtls_ctr_drbg_free(&tk->drbg);
	mbedtls_entropy_free(&tk->entropy);
	pthread_mutex_destroy(&tk->lock);
	free(tk->file);
	free(tk);
}

static struct tls_tickets *tickets_new(const char *file, char *err, size_t errlen)
{
	static const unsigned char pers[] = "dropcap tickets";
	struct tls_tickets *tk = calloc(1, sizeof *tk);
	int ret;

	if (!tk || (file && !(tk->file = strdup(file)))) {
		free(tk);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&tk->lock, NULL);
	mbedtls_entropy_init(&tk->entropy);
	mbedtls_ctr_drbg_init(&tk->drbg);
	ret = mbedtls_ctr_drbg_seed(&tk->drbg, mbedtls_entropy_func, &tk->entropy, pers,
				    sizeof pers - 1);
	if (ret != 0)
		fail(err, errlen, "TLS", "random generator", ret, "");
	if (ret != 0 || !(tk->set = tickets_load(tk, NULL, err, errlen))) {
		tickets_free(tk);
		return NULL;
	}
	return tk;
}

int tls_ctx_reload_tickets(struct tls_ctx *ctx, const struct tls_reader *who, char *info,
			   size_t infolen, char *err, size_t errlen)
{
	struct tls_tickets *tk = ctx->tickets;
	struct ticket_keys *ks, *old;
	const unsigned char *nm;

	if (!tk->file)
		return 1;
	if (!(ks = tickets_load(tk, who, err, errlen)))
		return -1;
	pthread_mutex_lock(&tk->lock);
	old = tk->set;
	tk->set = ks;
	pthread_mutex_unlock(&tk->lock);
	keys_free(old);
	nm = ks->key[0].name;
	snprintf(info, infolen, "%s: %zu key%s, new tickets with the one named %02x%02x%02x%02x...",
		 tk->file, ks->n, ks->n == 1 ? "" : "s", nm[0], nm[1], nm[2], nm[3]);
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
	mbedtls_ssl_conf_rng(conf, tls_rng, ctx);
	mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
	mbedtls_ssl_conf_sni(conf, tls_sni, ctx);
	if ((ret = mbedtls_ssl_conf_alpn_protocols(conf, ctx->cfg->no_http2 ? tls_alpn_http1
									    : tls_alpn_h2)) != 0 ||
	    (ret = mbedtls_ssl_conf_own_cert(conf, &cr->chain, &cr->key)) != 0)
		return fail(err, errlen, "TLS", "configuration", ret, "");
	mbedtls_ssl_conf_session_cache(conf, &ctx->cache, mbedtls_ssl_cache_get,
				       mbedtls_ssl_cache_set);
	mbedtls_ssl_conf_session_tickets_cb(conf, ticket_write, ticket_parse, ctx->tickets);
	return 0;
}

static void cred_put(struct tls_cred *cr)
{
	if (!cr || atomic_fetch_sub_explicit(&cr->refs, 1, memory_order_acq_rel) > 1)
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
	atomic_init(&cr->refs, 1);
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
	ctx->tickets = tickets_new(ctx->cfg->ticket_key_file, err, errlen);
	return ctx->tickets ? 0 : -1;
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
	mbedtls_entropy_init(&ctx->entropy);
	mbedtls_ctr_drbg_init(&ctx->drbg);
	mbedtls_ssl_cache_init(&ctx->cache);
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
	pthread_mutex_lock(&ctx->lock);
	cred_put(ctx->cred[site]); /* freed now, or by the last connection that still uses it */
	ctx->cred[site] = cr;
	pthread_mutex_unlock(&ctx->lock);
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
	pthread_mutex_lock(&ctx->lock);
	for (size_t i = 0; i < CONFIG_MAX_SITES; i++) {
		cred_put(ctx->cred[i]); /* freed now, or by the last session that uses it */
		ctx->cred[i] = creds[i];
		creds[i] = NULL;
	}
	ctx->cfg = cfg;
	pthread_mutex_unlock(&ctx->lock);
}

void tls_ctx_use_config(struct tls_ctx *ctx, const struct config *cfg)
{
	pthread_mutex_lock(&ctx->lock);
	ctx->cfg = cfg;
	pthread_mutex_unlock(&ctx->lock);
}

int tls_worker_init(struct tls_ctx *ctx, char *err, size_t errlen)
{
	static const unsigned char pers[] = "dropcap worker";
	mbedtls_ctr_drbg_context *d;
	int ret;

	if (!ctx || tls_thread_drbg)
		return 0;
	if (!(d = malloc(sizeof *d)))
		return -1 - 0 * snprintf(err, errlen, "TLS worker random generator: out of memory");
	mbedtls_ctr_drbg_init(d);
	/* mbedtls_entropy_func locks the shared entropy context itself (MBEDTLS_THREADING_C) */
	ret = mbedtls_ctr_drbg_seed(d, mbedtls_entropy_func, &ctx->entropy, pers, sizeof pers - 1);
	if (ret != 0) {
		mbedtls_ctr_drbg_free(d);
		free(d);
		return fail(err, errlen, "TLS", "worker random generator", ret, "");
	}
	tls_thread_drbg = d;
	return 0;
}

void tls_worker_free(void)
{
	if (!tls_thread_drbg)
		return;
	mbedtls_ctr_drbg_free(tls_thread_drbg);
	free(tls_thread_drbg);
	tls_thread_drbg = NULL;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (!ctx)
		return;
	for (size_t i = 0; i < CONFIG_MAX_SITES; i++)
		cred_put(ctx->cred[i]);
	tickets_free(ctx->tickets); /* and wipes the keys */
	mbedtls_ssl_cache_free(&ctx->cache);
	mbedtls_ctr_drbg_free(&ctx->drbg);
	mbedtls_entropy_free(&ctx->entropy);
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

static int tls_bio_send(void *arg, const unsigned char *buf, size_t len)
{
	struct tls_conn *tc = arg;
	ssize_t n = send(tc->fd, buf, len, MSG_NOSIGNAL | (tc->more ? MSG_MORE : 0));

	if (buf + len > tc->out_touched) /* mbedTLS wrote the record there before sending it */
		tc->out_touched = (unsigned char *)buf + len;
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	return (errno == EPIPE || errno == ECONNRESET) ? MBEDTLS_ERR_NET_CONN_RESET
						       : MBEDTLS_ERR_NET_SEND_FAILED;
}

/* Hands mbedTLS up to len bytes received ahead. They lie where it asks for them when it goes
 * on with the record they were read with; a next record starts at in_hdr again, so they move
 * there (the record before is consumed by then: mbedTLS reads one record at a time). */
static int take_ahead(struct tls_conn *tc, unsigned char *buf, size_t len)
{
	size_t k = len < tc->ahead_len ? len : tc->ahead_len;

	if (buf > tc->ahead)
		return MBEDTLS_ERR_SSL_INTERNAL_ERROR; /* not how mbedTLS 2.28 reads: never here */
	if (buf != tc->ahead)
		memmove(buf, tc->ahead, tc->ahead_len);
	tc->ahead = buf + k;
	tc->ahead_len -= k;
	return (int)k;
}

/*
 * mbedTLS asks for a record's 5-byte header, then for its body: two recv calls per record.
 * This reads as much as the rest of its input buffer holds, so that one recv takes a
 * request's record (or a client's whole handshake flight), and keeps what it was not asked
 * for in place, in the buffer, for its next calls (tls_op_pending counts it).
 */
static int tls_bio_recv(void *arg, unsigned char *buf, size_t len)
{
	struct tls_conn *tc = arg;
	unsigned char *end = tc->ssl.in_buf + MBEDTLS_SSL_IN_BUFFER_LEN;
	ssize_t n;

	if (tc->ahead_len > 0)
		return take_ahead(tc, buf, len);
	n = recv(tc->fd, buf, end > buf + len ? (size_t)(end - buf) : len, 0);
	if (n > 0 && buf + n > tc->in_touched)
		tc->in_touched = buf + n;
	if (n > (ssize_t)len) {
		tc->ahead = buf + len;
		tc->ahead_len = (size_t)n - len;
		n = (ssize_t)len;
	}
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_READ;
	return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
}

/*
 * Gives the whole pages of [live, end) up to *touched back to the kernel; they read as zeros
 * when next touched, which suits a buffer whose bytes are always written before they are
 * read. Only when at least two pages were touched: a small record (a 1 KiB response) touches
 * at most the first, and a keep-alive exchange of small ones then costs no syscall or page
 * fault per request. The pages lie strictly inside the allocation, so malloc's own words
 * around it are never touched.
 */
static void release_pages(unsigned char *live, unsigned char *end, unsigned char **touched)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = ((uintptr_t)live + page - 1) & ~(page - 1);
	uintptr_t hi = ((uintptr_t)*touched + page - 1) & ~(page - 1);
	uintptr_t top = (uintptr_t)end & ~(page - 1);

	if (hi > top)
		hi = top;
	if (hi <= lo + page)
		return;
	if (madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0)
		*touched = live;
}

static void release_buffers(struct tls_conn *tc)
{
	mbedtls_ssl_context *ssl = &tc->ssl;

	release_pages(ssl->in_hdr, ssl->in_buf + MBEDTLS_SSL_IN_BUFFER_LEN, &tc->in_touched);
	release_pages(ssl->out_hdr, ssl->out_buf + MBEDTLS_SSL_OUT_BUFFER_LEN, &tc->out_touched);
}

static struct tls_conn *tls_conn_new(struct tls_ctx *ctx, int fd)
{
	struct tls_conn *tc = malloc(sizeof *tc);
	struct tls_cred *def;

	if (!tc)
		return NULL;
	pthread_mutex_lock(&ctx->lock); /* a reload may be swapping the credentials */
	def = ctx->cred[ctx->cfg->default_site];
	cred_get(def);
	pthread_mutex_unlock(&ctx->lock);
	mbedtls_ssl_init(&tc->ssl);
	if (mbedtls_ssl_setup(&tc->ssl, &def->conf) != 0) {
		mbedtls_ssl_free(&tc->ssl);
		cred_put(def);
		free(tc);
		return NULL;
	}
	tc->ctx = ctx;
	tc->cred = def;
	tc->sni_cred = NULL;
	tc->sni_site = -1;
	tc->sni_len = 0;
	tc->fd = fd;
	tc->shut = 0;
	tc->more = 0;
	tc->ahead = NULL;
	tc->ahead_len = 0;
	tc->in_touched = tc->ssl.in_buf + MBEDTLS_SSL_IN_BUFFER_LEN; /* calloc zeroed them */
	tc->out_touched = tc->ssl.out_buf + MBEDTLS_SSL_OUT_BUFFER_LEN;
	/* a libmbedtls built with another config.h than the headers' (LINK=shared) could have
	 * smaller ones: then no page is ever given back */
	tc->sized = malloc_usable_size(tc->ssl.in_buf) >= MBEDTLS_SSL_IN_BUFFER_LEN &&
		    malloc_usable_size(tc->ssl.out_buf) >= MBEDTLS_SSL_OUT_BUFFER_LEN;
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

/* A write is one record. With more, it goes out with MSG_MORE: the kernel then fills whole
 * segments (64 KiB on loopback) from several records instead of sending one per record, which
 * halves the system time of a large response; the last record, without, pushes them all. */
static enum transport_result tls_op_write(struct transport *t, const char *buf, size_t len,
					  size_t *n, int more)
{
	int ret;

	t->tls->more = more;
	ret = mbedtls_ssl_write(&t->tls->ssl, (const unsigned char *)buf, len);
	t->tls->more = 0; /* alerts and close_notify leave at once */
	if (ret > 0) {
		*n = (size_t)ret;
		return TRANSPORT_DONE;
	}
	return ret == 0 ? TRANSPORT_ERROR : tls_result(ret);
}

static int tls_op_pending(const struct transport *t)
{
	const mbedtls_ssl_context *ssl = &t->tls->ssl;

	return t->tls->ahead_len > 0 || mbedtls_ssl_get_bytes_avail(ssl) > 0 ||
	       mbedtls_ssl_check_pending(ssl);
}

/*
 * mbedTLS 2.28 (no MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH in Debian's build) keeps a 16 KiB input
 * and output record buffer for the session's whole life. Between records they hold nothing
 * live but the 8-byte sequence numbers just before in_hdr and out_hdr (in_ctr, out_ctr, TLS
 * layout): from the header on, each record is received or composed there before it is read.
 * That holds only when no record is in flight: handshake over, no partial input record
 * (in_left: TLS fetches exactly one record, and in_left is 0 once it is whole), no input
 * received ahead (tls_bio_recv) and no decrypted input unread (in_offt, a held-back or
 * half-processed message: tls_op_pending), and no output waiting to be sent (out_left).
 * Before a ClientHello (in_left 0), nothing has been received or sent yet.
 */
static void tls_op_idle(struct transport *t)
{
	struct tls_conn *tc = t->tls;
	mbedtls_ssl_context *ssl = &tc->ssl;
	int before_hello = ssl->state == MBEDTLS_SSL_HELLO_REQUEST ||
			   ssl->state == MBEDTLS_SSL_CLIENT_HELLO; /* nothing sent either way */

	if (!tc->sized || (ssl->state != MBEDTLS_SSL_HANDSHAKE_OVER && !before_hello) ||
	    ssl->in_left != 0 || ssl->out_left != 0 || tls_op_pending(t))
		return;
	release_buffers(tc);
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
    .idle = tls_op_idle,
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

int tls_transport_h2(const struct transport *t)
{
	const struct tls_conn *tc = t->ops == &tls_transport_ops ? t->tls : NULL;
	const char *proto = tc ? mbedtls_ssl_get_alpn_protocol(&tc->ssl) : NULL;

	return proto && strcmp(proto, "h2") == 0;
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
