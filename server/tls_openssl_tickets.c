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

#include "tls_openssl_tickets.h"

#define TICKET_KEYS 2 /* the current key and the one before it */

/* A key in nginx's layout: a name, the HMAC-SHA256 secret, the AES-256-CBC key. */
struct tls_ticket_key {
	unsigned char name[16];
	unsigned char hmac[32];
	unsigned char aes[32];
};

struct tls_tickets {
	pthread_mutex_t lock; /* the callback runs on any worker thread, and rotates */
	EVP_CIPHER *aes;      /* AES-256-CBC, fetched once */
	struct tls_ticket_key keys[TICKET_KEYS]; /* [0] encrypts; all decrypt */
	size_t n;
	time_t made; /* when keys[0] was made */
};

/* A fresh current key every TLS_TICKET_LIFETIME, the one before still decrypts (as tls.c
 * rotates). Called with the lock held. */
static int rotate(struct tls_tickets *tk, time_t now)
{
	if (now - tk->made < TLS_TICKET_LIFETIME)
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

struct tls_tickets *tls_tickets_new(char *err, size_t errlen)
{
	struct tls_tickets *tk = calloc(1, sizeof *tk);

	if (!tk) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&tk->lock, NULL);
	tk->aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	if (!tk->aes || RAND_priv_bytes((unsigned char *)tk->keys, sizeof tk->keys[0]) != 1) {
		snprintf(err, errlen, "TLS session ticket keys: no AES-256-CBC or no randomness");
		tls_tickets_free(tk);
		return NULL;
	}
	tk->n = 1;
	tk->made = time(NULL);
	return tk;
}

void tls_tickets_free(struct tls_tickets *tk)
{
	if (!tk)
		return;
	EVP_CIPHER_free(tk->aes);
	pthread_mutex_destroy(&tk->lock);
	OPENSSL_cleanse(tk, sizeof *tk);
	free(tk);
}

int tls_tickets_attach(SSL_CTX *sc, struct tls_tickets *tk)
{
	if (SSL_CTX_set_app_data(sc, tk) != 1 ||
	    SSL_CTX_set_tlsext_ticket_key_evp_cb(sc, on_ticket) != 1)
		return -1;
	return 0;
}
