/* tls_openssl_tickets.h — the OpenSSL build's session-ticket keys, for tls_openssl.c (with it,
 * the only files that include OpenSSL): generated, and rotated every TLS_TICKET_LIFETIME. */
#ifndef DROPCAP_TLS_OPENSSL_TICKETS_H
#define DROPCAP_TLS_OPENSSL_TICKETS_H

#include <stddef.h>

#include <openssl/ssl.h>

#define TLS_TICKET_LIFETIME 43200 /* seconds: a key encrypts this long, then decrypts as long */

struct tls_tickets;

/* One random key; NULL with err. */
struct tls_tickets *tls_tickets_new(char *err, size_t errlen);
/* Wipes the keys and frees them (the upgrade helper keeps no secret); NULL is fine. */
void tls_tickets_free(struct tls_tickets *tk);
/* Makes sc encrypt and decrypt session tickets with tk's keys (AES-256-CBC and HMAC-SHA256, as
 * nginx does); tk must outlive sc. Any thread may then use them. Returns 0, or -1. */
int tls_tickets_attach(SSL_CTX *sc, struct tls_tickets *tk);

#endif
