/* tls_openssl_tickets.h — the OpenSSL build's session-ticket keys, for tls_openssl.c (with it,
 * the only files that include OpenSSL): from --ticket-key-file, or generated and rotated every
 * TLS_TICKET_LIFETIME. */
#ifndef DROPCAP_TLS_OPENSSL_TICKETS_H
#define DROPCAP_TLS_OPENSSL_TICKETS_H

#include <stddef.h>

#include <openssl/ssl.h>

#define TLS_TICKET_LIFETIME 43200 /* seconds: a key encrypts this long, then decrypts as long */

struct tls_tickets;

/* The keys of file (ticketfile.h; read now), or one random key when file is NULL; NULL with
 * err naming the file, the problem and the fix. */
struct tls_tickets *tls_tickets_new(const char *file, char *err, size_t errlen);
/* The file again (SIGHUP), as user (group: its group, for the fix): its keys replace the old
 * at once. Returns 0 with info (the file, how many keys, the first one's name), 1 without a
 * file (nothing read), or -1 with err; the old keys then stay. */
int tls_tickets_reload(struct tls_tickets *tk, const char *user, const char *group, char *info,
		       size_t infolen, char *err, size_t errlen);
/* Wipes the keys and frees them (the upgrade helper keeps no secret); NULL is fine. */
void tls_tickets_free(struct tls_tickets *tk);
/* Makes sc encrypt and decrypt session tickets with tk's keys (AES-256-CBC and HMAC-SHA256, as
 * nginx does), and refuse a session that began in the future; tk must outlive sc. Any thread
 * may then use them. Returns 0, or -1. */
int tls_tickets_attach(SSL_CTX *sc, struct tls_tickets *tk);

#endif
