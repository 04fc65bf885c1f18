/*
 * nosession.so — LD_PRELOAD shim for the benchmark's OpenSSL clients (wrk, h2load).
 *
 * BENCH_NOSESSION=1: the client never resumes a TLS session, so "Connection: close" load does one
 * full handshake per request. wrk closes a connection with SSL_shutdown + SSL_clear and reconnects
 * with the same SSL object; SSL_clear keeps the session, so every reconnect offers it and the
 * server resumes (measured: 17,732 of 17,740 wrk connections against nginx). h2load stores
 * sessions from its new-session callback and hands them back with SSL_set_session (3,992 of
 * 4,000). Here SSL_set_session installs no session, and SSL_clear drops the one it would keep.
 *
 * BENCH_TLS_COUNT=FILE: count the connections whose handshake finished and those of them that
 * resumed a session, at SSL_clear (wrk calls it on every close), and write
 * "handshakes=N resumed=M" to FILE at exit. scripts/bench uses the counts to prove that the
 * full-handshake row resumed nothing and that the resumed row resumed (nearly) everything.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;

static unsigned long handshakes, resumed;

static void *real(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);
	if (!fn) {
		fprintf(stderr, "nosession.so: %s not found (is the client linked with OpenSSL?)\n",
			name);
		abort();
	}
	return fn;
}

static int forget_sessions(void)
{
	const char *v = getenv("BENCH_NOSESSION");
	return v && v[0] == '1';
}

int SSL_set_session(SSL *s, SSL_SESSION *session)
{
	static int (*set_session)(SSL *, SSL_SESSION *);
	if (!set_session)
		*(void **)&set_session = real("SSL_set_session");
	return set_session(s, forget_sessions() ? NULL : session);
}

/* Counts the connection that is being closed, before SSL_clear forgets its state. */
static void count(SSL *s)
{
	static int (*finished)(const SSL *), (*reused)(const SSL *);
	if (!finished) {
		*(void **)&finished = real("SSL_is_init_finished");
		*(void **)&reused = real("SSL_session_reused");
	}
	if (!finished(s))
		return;
	__atomic_fetch_add(&handshakes, 1, __ATOMIC_RELAXED);
	if (reused(s))
		__atomic_fetch_add(&resumed, 1, __ATOMIC_RELAXED);
}

int SSL_clear(SSL *s)
{
	static int (*clear)(SSL *);
	if (!clear)
		*(void **)&clear = real("SSL_clear");
	if (getenv("BENCH_TLS_COUNT"))
		count(s);
	int ret = clear(s);
	if (forget_sessions())
		SSL_set_session(s, NULL);
	return ret;
}

__attribute__((destructor)) static void write_counts(void)
{
	const char *path = getenv("BENCH_TLS_COUNT");
	if (!path)
		return;
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	fprintf(f, "handshakes=%lu resumed=%lu\n", handshakes, resumed);
	fclose(f);
}
