/*
 * h2.h — HTTP/2 over a TLS connection whose ALPN chose "h2". Framing, HPACK and flow control
 * are libnghttp2's; this is the only module that includes it. Each stream's request becomes the
 * struct http_request the HTTP/1 parser makes, answered through the same response plans
 * (rules.h). The connection (conn.c) keeps the socket, the timer and the buffers; one session
 * per connection, no globals.
 */
#ifndef DROPCAP_H2_H
#define DROPCAP_H2_H

#include <stddef.h>
#include <sys/socket.h>

struct conn_set;
struct transport;
struct h2;

/* Streams a client may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
#define H2_MAX_STREAMS 100
/* Bytes of a stream's header list (RFC 9113 6.5.2: names, values and 32 per field), as the
 * HTTP/1 head's bound; beyond it the stream gets 431. Advertised as
 * SETTINGS_MAX_HEADER_LIST_SIZE. */
#define H2_MAX_HEADER_LIST 16384
/* Rapid reset (CVE-2023-44487): RST_STREAMs a client may send in a burst, and per second after
 * it; beyond, GOAWAY and the connection closes. */
#define H2_RESET_BURST 200
#define H2_RESET_RATE 33
/* CONTINUATION frames after one HEADERS (CVE-2024-27316 class): beyond, the session ends. */
#define H2_MAX_CONTINUATIONS 8
/* SETTINGS and PING frames (not acknowledgements) a client may send in a burst, and per second
 * after it: each costs an acknowledgement, and a flood of them (CVE-2019-9512, -9515) is cut off
 * with GOAWAY ENHANCE_YOUR_CALM even while the acknowledgements can still be written. */
#define H2_CONTROL_BURST 1000
#define H2_CONTROL_RATE 100
/* SETTINGS and PING acknowledgements queued unsent (a client that floods them and never reads):
 * beyond, the session ends. */
#define H2_MAX_OUTBOUND_ACK 1000

enum h2_step {
	H2_WAIT_READ,
	H2_WAIT_BOTH, /* output is blocked (or over the write budget): writable or readable */
	H2_DONE,      /* GOAWAY sent and every stream done: close as after a last response */
	H2_CLOSE,     /* the transport failed or the client broke the protocol: close now */
};

/* A server session over t (TLS, handshake done) for a connection of set from peer; both
 * outlive it. Queues the server's SETTINGS. NULL when out of memory. */
struct h2 *h2_new(struct conn_set *set, struct transport *t, const struct sockaddr_storage *peer,
		  double now);
/* Logs the streams that were being answered, releases their files and configurations. */
void h2_free(struct h2 *h);

/* Reads what the client sent and writes what is due, batching the frames into as few
 * transport writes as fit out (kept between calls while a write is pending: pass the same
 * buffer until h2_idle). in is scratch. Never blocks. */
enum h2_step h2_run(struct h2 *h, char *in, size_t in_cap, char *out, size_t out_cap, double now);
/* No stream open and nothing waiting to be written: the buffers may go back to the pool. */
int h2_idle(const struct h2 *h);
/* Graceful stop: GOAWAY (a shutdown notice, then the final one with the last stream taken),
 * the streams in flight finish. Call h2_run to send it. */
void h2_drain(struct h2 *h);
/* The connection's timer fired: resets each stream that sent nothing for timeout seconds (a
 * window that never opens); without streams, a session idle that long ends. Returns the seconds
 * until the next check, or 0 to close now. */
double h2_timeout(struct h2 *h, double now, double timeout);

#endif
