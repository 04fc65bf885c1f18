/* tls_openssl_tickets.c — session-ticket keys for the OpenSSL build, in nginx's key layout. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "ticketfile.h"
#include "tls_openssl_tickets.h"

/* A fleet's clocks differ a little: a session may have started this far in our future. */
#define TICKET_CLOCK_SKEW 300

/* A key in nginx's layout, which is --ticket-key-file's: a name, the HMAC-SHA256 secret, the
 * AES-256-CBC key. */
struct tls_ticket_key {
	unsigned char name[16];
	unsigned char hmac[32];
	unsigned char aes[32];
};
_Static_assert(sizeof(struct tls_ticket_key) == TICKETFILE_KEY_LEN, "the file's layout");

struct tls_tickets {
	pthread_mutex_t lock; /* the callback runs on any worker thread; rotation, reload */
	EVP_CIPHER *aes;      /* AES-256-CBC, fetched once */
	struct tls_ticket_key keys[TICKETFILE_MAX_KEYS]; /* [0] encrypts; all decrypt */
	size_t n;
	time_t made; /* generated keys: when keys[0] was made */
	char *file;  /* --ticket-key-file; NULL: generated keys */
};

/* Generated keys: a fresh current one every TLS_TICKET_LIFETIME, the one before still
 * decrypts (as tls.c rotates); a key file's are rotated by whoever writes the file. Called
 * with the lock held. */
static int rotate(struct tls_tickets *tk, time_t now)
{
	if (tk->file || now - tk->made < TLS_TICKET_LIFETIME)
		return 0;
	tk->keys[1] = tk->keys[0];
	tk->n = 2;
	if (RAND_priv_bytes((unsigned char *)&tk->keys[0], sizeof tk->keys[0]) != 1)
		return -1;
	tk->made = now;
	return 0;
}

/* The key named name, or -1 (an unknown or retired key: a full handshake). */
static int find(const struct tls_tickets *tk, const unsigned char *name)
{
	for (int i = 0; i < (int)tk->n; i++)
		if (memcmp(tk->keys[i].name, name, sizeof tk->keys[i].name) == 0)
			return i;
	return -1;
}

static int apply(const struct tls_tickets *tk, const struct tls_ticket_key *k,
		 const unsigned char *iv, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof k->hmac),
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_end(),
	};

	if (EVP_MAC_CTX_set_params(hctx, params) != 1)
		return -1;
	return EVP_CipherInit_ex(cctx, tk->aes, NULL, k->aes, iv, enc) == 1 ? 0 : -1;
}

/* Session tickets as nginx makes them from its key files: the key's name, then AES-256-CBC
 * and HMAC-SHA256 (RFC 5077's layout). Returns 1, 2 (decrypted with an older key: issue a
 * new ticket), 0 (unknown key: full handshake) or -1. */
static int on_ticket(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
		     EVP_MAC_CTX *hctx, int enc)
{
	struct tls_tickets *tk = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	int i = 0, ret = -1;

	pthread_mutex_lock(&tk->lock);
	if (enc) {
		if (rotate(tk, time(NULL)) == 0 && RAND_bytes(iv, EVP_MAX_IV_LENGTH) == 1 &&
		    apply(tk, &tk->keys[0], iv, cctx, hctx, 1) == 0) {
			memcpy(name, tk->keys[0].name, 16);
			ret = 1;
		}
	} else if ((i = find(tk, name)) < 0) {
		ret = 0;
	} else if (apply(tk, &tk->keys[i], iv, cctx, hctx, 0) == 0) {
		ret = i == 0 ? 1 : 2;
	}
	pthread_mutex_unlock(&tk->lock);
	return ret;
}

/* A session that began in our future (another instance's clock, more than the skew ahead)
 * is not resumed, as in tls.c; OpenSSL itself refuses one older than its lifetime. */
static SSL_TICKET_RETURN on_decrypted(SSL *ssl, SSL_SESSION *ss, const unsigned char *name,
				      size_t namelen, SSL_TICKET_STATUS status, void *arg)
{
	(void)ssl, (void)name, (void)namelen, (void)arg;
	switch (status) {
	case SSL_TICKET_SUCCESS:
	case SSL_TICKET_SUCCESS_RENEW:
		if (SSL_SESSION_get_time(ss) > time(NULL) + TICKET_CLOCK_SKEW)
			return SSL_TICKET_RETURN_IGNORE_RENEW;
		return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE
						    : SSL_TICKET_RETURN_USE_RENEW;
	case SSL_TICKET_FATAL_ERR_MALLOC:
	case SSL_TICKET_FATAL_ERR_OTHER: return SSL_TICKET_RETURN_ABORT;
	default: return SSL_TICKET_RETURN_IGNORE_RENEW; /* none, unknown key, bad MAC: full */
	}
}

/* The file's keys (user/group: the reading user in a reload, NULL at start) replace tk's at
 * once, under the lock: a handshake sees the old set or the new one. */
static int load(struct tls_tickets *tk, const char *user, const char *group, char *err,
		size_t errlen)
{
	unsigned char buf[TICKETFILE_MAX_KEYS * TICKETFILE_KEY_LEN];
	size_t len = 0;
	int r = ticketfile_read(tk->file, user, group, buf, &len, err, errlen);

	if (r == 0) {
		pthread_mutex_lock(&tk->lock);
		OPENSSL_cleanse(tk->keys, sizeof tk->keys);
		memcpy(tk->keys, buf, len);
		tk->n = len / TICKETFILE_KEY_LEN;
		pthread_mutex_unlock(&tk->lock);
	}
	OPENSSL_cleanse(buf, sizeof buf);
	return r;
}

/* The file's keys, or one generated. */
static int first_keys(struct tls_tickets *tk, const char *file, char *err, size_t errlen)
{
	if (file) {
		if (!(tk->file = strdup(file))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		return load(tk, NULL, NULL, err, errlen);
	}
	if (RAND_priv_bytes((unsigned char *)tk->keys, sizeof tk->keys[0]) != 1) {
		snprintf(err, errlen, "TLS session ticket keys: no randomness");
		return -1;
	}
	tk->n = 1;
	tk->made = time(NULL);
	return 0;
}

struct tls_tickets *tls_tickets_new(const char *file, char *err, size_t errlen)
{
	struct tls_tickets *tk = calloc(1, sizeof *tk);

	if (!tk) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&tk->lock, NULL);
	if (!(tk->aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL)))
		snprintf(err, errlen, "TLS session ticket keys: no AES-256-CBC in OpenSSL");
	if (!tk->aes || first_keys(tk, file, err, errlen) < 0) {
		tls_tickets_free(tk);
		return NULL;
	}
	return tk;
}

int tls_tickets_reload(struct tls_tickets *tk, const char *user, const char *group, char *info,
		       size_t infolen, char *err, size_t errlen)
{
	const unsigned char *nm = tk->keys[0].name;
	size_t n;

	if (!tk->file)
		return 1;
	if (load(tk, user, group, err, errlen) < 0)
		return -1;
	n = tk->n; /* this thread's own write: no other thread changes the keys */
	snprintf(info, infolen, "%s: %zu key%s, new tickets with the one named %02x%02x%02x%02x...",
		 tk->file, n, n == 1 ? "" : "s", nm[0], nm[1], nm[2], nm[3]);
	return 0;
}

void tls_tickets_free(struct tls_tickets *tk)
{
	if (!tk)
		return;
	EVP_CIPHER_free(tk->aes);
	pthread_mutex_destroy(&tk->lock);
	free(tk->file);
	OPENSSL_cleanse(tk, sizeof *tk);
	free(tk);
}

int tls_tickets_attach(SSL_CTX *sc, struct tls_tickets *tk)
{
	if (SSL_CTX_set_app_data(sc, tk) != 1 ||
	    SSL_CTX_set_tlsext_ticket_key_evp_cb(sc, on_ticket) != 1 ||
	    SSL_CTX_set_session_ticket_cb(sc, NULL, on_decrypted, NULL) != 1)
		return -1;
	return 0;
}
