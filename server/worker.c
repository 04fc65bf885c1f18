/* worker.c — the worker threads: each runs a loop of its own (server.c's), fed by the main
 * thread through a small queue of accepted sockets and a word of commands, woken by ev_async.
 *
 * Why the main thread accepts for everyone rather than each worker waiting on the listeners:
 * a libev loop can only wait on the listeners through an epoll descriptor of its own nested in
 * its loop's, and EPOLLEXCLUSIVE does not survive nesting (the kernel counts an exclusive wake
 * only when a thread sleeps in epoll_wait on that very descriptor, so every worker's loop is
 * woken for every connection: measured, README "Cores"); SO_REUSEPORT needs a socket per worker
 * and address, which socket activation, --listen-fd and the upgrade's hand-over do not give.
 * One acceptor wakes one worker per connection, and spreads them evenly. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen.h"
#include "log.h"
#include "server.h"
#include "tls.h"
#include "worker.h"

#define WORKER_QUEUE 64		  /* accepted sockets waiting for one worker */
#define WORKER_STACK (256 * 1024) /* the loop's calls are shallow; mbedTLS's are a few KiB */

struct handoff {
	int fd;
	enum listen_kind kind;
	struct sockaddr_storage peer;
};

struct worker {
	struct server srv; /* its loop, connections, caches and generation */
	struct worker_pool *pool;
	pthread_t thread;
	ev_async wake_w;
	pthread_mutex_t lock; /* the fields below, written by main, taken by the worker */
	unsigned cmds;	      /* enum worker_cmd bits */
	struct gen *next_gen; /* a reload's generation, not yet taken */
	struct handoff queue[WORKER_QUEUE];
	unsigned head, len;
};

struct worker_pool {
	struct server *main;
	unsigned n;	     /* workers beside main */
	unsigned next;	     /* whose turn: 0 main, i the worker i - 1 */
	unsigned started;    /* threads to join */
	atomic_uint running; /* loops not ended */
	struct worker *w;
};

/* On the worker's thread: what main queued and posted. */
static void on_wake(struct ev_loop *loop, ev_async *a, int revents)
{
	struct worker *w = a->data;
	struct handoff got[WORKER_QUEUE];
	unsigned n, cmds;
	struct gen *g;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&w->lock);
	n = w->len;
	for (unsigned i = 0; i < n; i++)
		got[i] = w->queue[(w->head + i) % WORKER_QUEUE];
	w->head = (w->head + n) % WORKER_QUEUE;
	w->len = 0;
	cmds = w->cmds;
	w->cmds = 0;
	g = w->next_gen;
	w->next_gen = NULL;
	pthread_mutex_unlock(&w->lock);
	for (unsigned i = 0; i < n; i++)
		server_take(&w->srv, got[i].fd, got[i].kind, &got[i].peer);
	server_worker_command(&w->srv, cmds, g);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char err[256];

	if (tls_worker_init(w->srv.tls, err, sizeof err) < 0)
		fatalx("worker: %s", err);
	ev_run(w->srv.loop, 0);
	ev_async_stop(w->srv.loop, &w->wake_w);
	tls_worker_free();
	atomic_fetch_sub_explicit(&w->pool->running, 1, memory_order_release);
	server_worker_free(&w->srv); /* tells main, which joins */
	return NULL;
}

struct worker_pool *worker_pool_new(struct server *main, unsigned n, char *err, size_t errlen)
{
	struct worker_pool *p = calloc(1, sizeof *p);

	if (!p || !(p->w = calloc(n - 1, sizeof *p->w))) {
		free(p);
		snprintf(err, errlen, "out of memory for %u workers", n);
		return NULL;
	}
	p->main = main;
	p->next = 1; /* the first connection goes to a worker: main has the signals too */
	for (p->n = 0; p->n < n - 1; p->n++) {
		struct worker *w = &p->w[p->n];
		struct gen *g = gen_share(main->gen, NULL);
		if (!g || server_worker_init(&w->srv, main, g, err, errlen) < 0) {
			snprintf(err, errlen, "cannot set up worker %u of %u: out of memory",
				 p->n + 2, n);
			return NULL; /* start-up fails: the process exits */
		}
		w->pool = p;
		pthread_mutex_init(&w->lock, NULL);
		ev_async_init(&w->wake_w, on_wake);
		w->wake_w.data = w;
		ev_async_start(w->srv.loop, &w->wake_w); /* its eventfd: before the sandbox */
	}
	return p;
}

int worker_pool_start(struct worker_pool *p, char *err, size_t errlen)
{
	sigset_t block, old;
	pthread_attr_t attr;
	int e = 0;

	/* the control signals are the main loop's: a worker never takes one */
	sigemptyset(&block);
	for (int sig = 1; sig < SIGRTMIN; sig++)
		if (sig != SIGSEGV && sig != SIGBUS && sig != SIGFPE && sig != SIGILL &&
		    sig != SIGSYS && sig != SIGABRT)
			sigaddset(&block, sig);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WORKER_STACK);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	atomic_store(&p->running, p->n);
	for (p->started = 0; p->started < p->n && e == 0; p->started++)
		if ((e = pthread_create(&p->w[p->started].thread, &attr, worker_main,
					&p->w[p->started])) != 0)
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (e == 0)
		return 0;
	atomic_store(&p->running, p->started);
	worker_pool_post(p, WORKER_EXIT);
	snprintf(err, errlen, "cannot start worker %u: %s (try a smaller --workers)",
		 p->started + 2, strerror(e));
	return -1;
}

int worker_pool_hand(struct worker_pool *p, int fd, enum listen_kind kind,
		     const struct sockaddr_storage *peer)
{
	unsigned turn = p->next;
	struct worker *w;
	int full;

	p->next = (p->next + 1) % (p->n + 1);
	if (turn == 0)
		return -1;
	w = &p->w[turn - 1];
	pthread_mutex_lock(&w->lock);
	full = w->len == WORKER_QUEUE;
	if (!full)
		w->queue[(w->head + w->len++) % WORKER_QUEUE] = (struct handoff){fd, kind, *peer};
	pthread_mutex_unlock(&w->lock);
	if (!full)
		ev_async_send(w->srv.loop, &w->wake_w);
	return full ? -1 : 0;
}

void worker_pool_post(struct worker_pool *p, unsigned cmds)
{
	for (unsigned i = 0; i < p->n; i++) {
		struct worker *w = &p->w[i];
		pthread_mutex_lock(&w->lock);
		w->cmds |= cmds;
		pthread_mutex_unlock(&w->lock);
		ev_async_send(w->srv.loop, &w->wake_w);
	}
}

int worker_pool_set_gen(struct worker_pool *p, const struct gen *g)
{
	struct gen *mine[CONFIG_MAX_WORKERS];

	for (unsigned i = 0; i < p->n; i++)
		if (!(mine[i] = gen_share(g, &p->w[i].srv.fcache))) {
			while (i-- > 0) { /* never seen by a worker: nothing cached under them */
				mine[i]->fc = NULL;
				gen_put(mine[i]);
			}
			return -1;
		}
	for (unsigned i = 0; i < p->n; i++) {
		struct worker *w = &p->w[i];
		struct gen *old;
		pthread_mutex_lock(&w->lock);
		old = w->next_gen; /* a reload the worker has not taken yet: never used */
		w->next_gen = mine[i];
		pthread_mutex_unlock(&w->lock);
		if (old)
			old->fc = NULL;
		gen_put(old);
		ev_async_send(w->srv.loop, &w->wake_w);
	}
	return 0;
}

unsigned worker_pool_running(struct worker_pool *p)
{
	return atomic_load_explicit(&p->running, memory_order_acquire);
}

void worker_pool_free(struct worker_pool *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->started; i++)
		pthread_join(p->w[i].thread, NULL);
	for (unsigned i = 0; i < p->n; i++) {
		struct worker *w = &p->w[i];
		for (unsigned k = 0; k < w->len; k++) /* handed after the worker ended */
			close(w->queue[(w->head + k) % WORKER_QUEUE].fd);
		if (w->next_gen)
			w->next_gen->fc = NULL;
		gen_put(w->next_gen);
		pthread_mutex_destroy(&w->lock);
	}
	free(p->w);
	free(p);
}
