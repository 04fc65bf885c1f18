/*
 * conn.c — one client connection as a small state machine (one step function per
 * state): TLS handshake, read a request head, write the response, keep-alive.
 * Nothing here blocks; buffers come from a per-loop pool and go back while idle.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <linux/sockios.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "autoindex.h"
#include "conn.h"
#include "gen.h"
#include "h2.h"
#include "http_response.h"
#include "rules.h"
#include "site.h"
#include "server.h" /* libev, which only server.h includes; nothing of struct server */
#include "tls.h"
#include "transport.h"

/* Bytes sent per wake-up, so that one big download cannot starve the others. */
#define WRITE_BUDGET (512 * 1024)

/*
 * Lingering close, as nginx's lingering_close: close() on a socket with unread input makes
 * the kernel send RST and drop whatever of the response is still in the send buffer. So the
 * last response of a connection is followed by shutdown(SHUT_WR) (a FIN after the data), and
 * the input is drained until the client closes, is silent for LINGER_IDLE, has lingered for
 * LINGER_TIME in all, or has sent LINGER_MAX_BYTES; close() then finds nothing unread.
 */
#define LINGER_IDLE 2.0
#define LINGER_TIME 10.0
#define LINGER_MAX_BYTES (1024 * 1024)

struct iobuf {
	struct iobuf *next;
	char in[HTTP_MAX_HEAD];
	char out[TLS_RECORD_MAX];
};

/* A --autoindex page is generated into a pooled buffer held only while it is sent; at most
 * CONN_LISTINGS_MAX of them at once (4 MiB), beyond which a listing gets 503. */
#define CONN_LISTINGS_MAX 64
struct listing_buf {
	struct listing_buf *next;
	char data[AUTOINDEX_PAGE_MAX];
};

enum conn_state {
	CONN_HANDSHAKE,
	CONN_READ,
	CONN_WRITE,
	CONN_LINGER, /* last response sent and write side shut: drain input, then close */
	CONN_H2,     /* ALPN chose h2: h2.c drives the connection */
};

enum step {
	STEP_NEXT,
	STEP_WAIT_READ,
	STEP_WAIT_WRITE,
	STEP_WAIT_BOTH,
	STEP_CLOSE,
};

struct conn {
	struct conn_set *set;
	const struct config_site *site; /* the site of the response in progress, for its log */
	struct gen *gen; /* the configuration the response in progress started with (site, and
			  * the plan's header values, point into it); NULL between responses */
	struct conn *next;
	struct conn *prev;
	struct conn *idle_next; /* the set's idle queue, oldest first */
	struct conn *idle_prev;
	struct transport t;
	struct h2 *h2; /* CONN_H2: the session */
	ev_io io;
	ev_timer timer;
	enum conn_state state;
	enum listen_kind kind;
	struct iobuf *buf;
	size_t in_len;
	size_t head_len;
	size_t out_off;
	size_t out_len;
	struct fcache_ref file;	     /* the body's file, from the loop's file cache */
	struct listing_buf *listing; /* the body's --autoindex page, or NULL */
	size_t listing_off;
	size_t listing_len;
	off_t file_off;
	uint64_t file_left;
	uint64_t body_len;
	enum http_status status;
	struct http_request req;
	ev_tstamp linger_until; /* CONN_LINGER: the drain ends by then at the latest */
	size_t drained;		/* CONN_LINGER: bytes discarded so far */
	unsigned have_req : 1;
	unsigned responding : 1;
	unsigned keep_alive : 1;
	unsigned pipelined : 1;
	unsigned idle : 1;   /* between keep-alive requests, in the idle queue: see set_idle */
	unsigned broken : 1; /* transport failed: never touch the TLS session again */
	struct sockaddr_storage peer;
};

static void conn_close(struct conn *c);

static void set_timer(struct conn *c, unsigned seconds)
{
	c->timer.repeat = seconds;
	ev_timer_again(c->set->loop, &c->timer);
}

/*
 * Keeps the set's queue of idle keep-alive connections in idle order, so that at
 * --max-conns the longest-idle one gives its slot to a new client in O(1), as nginx reuses
 * connections. A connection leaves it at the first byte of its next request, or its close.
 */
static void set_idle(struct conn *c, int on)
{
	struct conn_set *s = c->set;

	if (c->idle == (unsigned)on)
		return;
	c->idle = on;
	if (on) {
		c->idle_next = NULL;
		c->idle_prev = s->idle_tail;
		*(s->idle_tail ? &s->idle_tail->idle_next : &s->idle_head) = c;
		s->idle_tail = c;
		s->on_idle(s);
		return;
	}
	*(c->idle_prev ? &c->idle_prev->idle_next : &s->idle_head) = c->idle_next;
	*(c->idle_next ? &c->idle_next->idle_prev : &s->idle_tail) = c->idle_prev;
	c->idle_next = c->idle_prev = NULL;
}

static int buf_acquire(struct conn *c)
{
	struct conn_set *s = c->set;

	if (c->buf)
		return 0;
	if (s->free_bufs) {
		c->buf = s->free_bufs;
		s->free_bufs = c->buf->next;
		return 0;
	}
	c->buf = malloc(sizeof *c->buf);
	return c->buf ? 0 : -1;
}

static void buf_release(struct conn *c)
{
	if (!c->buf)
		return;
	c->buf->next = c->set->free_bufs;
	c->set->free_bufs = c->buf;
	c->buf = NULL;
}

/* Waiting for a next request with nothing of it received: the buffers go back to the pool, and
 * the transport gives back what it holds for the connection's life (TLS record buffers). */
static void go_quiet(struct conn *c)
{
	buf_release(c);
	if (c->t.ops->idle)
		c->t.ops->idle(&c->t);
}

/* The scratch a listing is generated into, or NULL when CONN_LISTINGS_MAX are in use. */
static char *listing_scratch(struct conn_set *s)
{
	if (!s->listing && s->listings_used < CONN_LISTINGS_MAX) {
		if (s->free_listings) {
			s->listing = s->free_listings;
			s->free_listings = s->listing->next;
		} else {
			s->listing = malloc(sizeof *s->listing);
		}
		s->listings_used += s->listing != NULL;
	}
	return s->listing ? s->listing->data : NULL;
}

void conn_listing_put(struct conn_set *s, struct listing_buf *b)
{
	b->next = s->free_listings;
	s->free_listings = b;
	s->listings_used--;
}

struct listing_buf *conn_listing_take(struct conn_set *s)
{
	struct listing_buf *b = s->listing;

	s->listing = NULL;
	return b;
}

const char *conn_listing_data(const struct listing_buf *b)
{
	return b->data;
}

static void listing_release(struct conn *c)
{
	if (!c->listing)
		return;
	conn_listing_put(c->set, c->listing);
	c->listing = NULL;
	c->listing_off = c->listing_len = 0;
}

static enum step transport_wait(struct conn *c, enum transport_result r)
{
	switch (r) {
	case TRANSPORT_DONE: return STEP_NEXT;
	case TRANSPORT_WANT_READ: return STEP_WAIT_READ;
	case TRANSPORT_WANT_WRITE: return STEP_WAIT_WRITE;
	case TRANSPORT_CLOSE: break;
	case TRANSPORT_ERROR: break;
	}
	c->broken = 1;
	return STEP_CLOSE;
}

/* Bytes of a request that never parsed kept in its log line, as nginx logs "$request". */
#define LOG_RAW_MAX 512

/* The first line of what was received, for a request that never parsed. */
static struct http_slice raw_line(const struct conn *c)
{
	struct http_slice s = {NULL, 0};

	if (c->have_req || !c->buf)
		return s;
	s.ptr = c->buf->in;
	while (s.len < c->in_len && s.len < LOG_RAW_MAX && s.ptr[s.len] != '\r' &&
	       s.ptr[s.len] != '\n')
		s.len++;
	return s;
}

static void log_request(struct conn *c)
{
	struct accesslog_entry e = {
	    .peer = &c->peer,
	    .site = accesslog_site_name(c->site),
	    .req = c->have_req ? &c->req : NULL,
	    .raw_line = raw_line(c),
	    .status = c->status,
	    .body_bytes = c->body_len - c->file_left,
	    .now = (time_t)ev_now(c->set->loop),
	};

	accesslog_write(c->set->log, &e);
}

static enum step step_handshake(struct conn *c)
{
	enum transport_result r = c->t.ops->handshake(&c->t);

	if (r != TRANSPORT_DONE)
		return transport_wait(c, r);
	c->state = CONN_READ;
	if (!tls_transport_h2(&c->t))
		return STEP_NEXT;
	if (!(c->h2 = h2_new(c->set, &c->t, &c->peer, ev_now(c->set->loop))))
		return STEP_CLOSE;
	c->state = CONN_H2; /* its timer: h2_timeout, every keep-alive timeout at most */
	set_timer(c, c->set->gen->cfg->keepalive_timeout);
	return STEP_NEXT;
}

/* The response about to be planned keeps the current configuration until it is done, however
 * many reloads come meanwhile: a reference, no allocation. */
static void gen_hold(struct conn *c)
{
	gen_put(c->gen); /* none: a response is planned once */
	c->gen = c->set->gen;
	gen_get(c->gen);
}

/* The response is logged: its configuration may go (with the last response that uses it). */
static void gen_drop(struct conn *c)
{
	gen_put(c->gen);
	c->gen = NULL;
	c->site = NULL;
}

struct rules_ctx conn_set_rules_ctx(struct conn_set *s, const struct gen *g,
				    const struct transport *t, const struct http_request *req)
{
	ev_tstamp now = ev_now(s->loop);
	int sni = tls_transport_sni_site(t, g->cfg), misdirected = 0;
	size_t site = req ? site_for_request(g->cfg, req->host.ptr, req->host.len, req->has_host,
					     sni, &misdirected)
			  : g->cfg->default_site;

	return (struct rules_ctx){
	    .fc = s->fcache,
	    .site = &g->cfg->sites[site],
	    .root_fd = g->root_fds[site],
	    .acme_fd = g->root_fds[CONFIG_ACME_FD(site)],
	    .listing = g->cfg->sites[site].autoindex ? listing_scratch(s) : NULL,
	    .misdirected = misdirected,
	    .now = now,
	    .date = httpdate_cache_get(&s->date, (time_t)now),
	    .path = s->path,
	    .draining = s->draining,
	    .https = t->tls != NULL,
	    .https_port = s->https_port,
	};
}

/* The context of the rules for a response now: req's site (the default one without req). */
static struct rules_ctx rules_ctx(struct conn *c, const struct http_request *req)
{
	return conn_set_rules_ctx(c->set, c->gen, &c->t, req);
}

/* TLS: fill the rest of the record buffer from the file, so a small response is one record. */
static int fill_from_file(struct conn *c)
{
	size_t room = sizeof c->buf->out - c->out_len;
	size_t want = c->file_left < room ? (size_t)c->file_left : room;
	ssize_t n;

	if (want == 0)
		return 0;
	n = pread(c->file.fd, c->buf->out + c->out_len, want, c->file_off);
	if (n <= 0)
		return -1; /* the file shrank: the promised length cannot be sent */
	c->out_len += (size_t)n;
	c->file_off += n;
	c->file_left -= (uint64_t)n;
	return 0;
}

/*
 * Whether the rest of the file fits in out after the head. Then it is read there and the
 * response leaves in one write: plain HTTP makes one send instead of a send (MSG_MORE) and a
 * sendfile, whose splice costs more than a pread of a small file (about 20% of the server's
 * CPU per 1 KiB request). TLS reads a record's worth at a time anyway.
 */
static int body_fits(const struct conn *c)
{
	return c->file_left <= sizeof c->buf->out - c->out_len;
}

/* Writes a plan: its head (and fixed bytes) into out, then its file, and starts writing. The
 * plan's file is the connection's from here on (conn_close gives it back). */
static enum step start_response(struct conn *c, struct rules_plan *p)
{
	size_t n = http_response_head(c->buf->out, sizeof c->buf->out, &p->head);
	size_t bytes = p->body == RULES_BODY_BYTES ? (size_t)p->body_len : 0;

	c->file = p->file;
	c->file_off = (off_t)p->file_off;
	c->file_left = p->body == RULES_BODY_FILE ? p->body_len : 0;
	c->body_len = p->body_len;
	c->keep_alive = p->head.keep_alive;
	if (p->body == RULES_BODY_LISTING) { /* the scratch is this connection's until sent */
		c->listing = c->set->listing;
		c->set->listing = NULL;
		c->listing_len = (size_t)p->body_len;
	}
	if (n == 0 || n + bytes > sizeof c->buf->out)
		return STEP_CLOSE;
	memcpy(c->buf->out + n, p->page, bytes);
	c->out_off = 0;
	c->out_len = n + bytes;
	c->status = p->head.status;
	c->responding = 1;
	c->state = CONN_WRITE;
	set_timer(c, c->set->gen->cfg->keepalive_timeout);
	if (!body_fits(c) && c->t.ops->sendfile)
		return STEP_NEXT;
	return fill_from_file(c) < 0 ? STEP_CLOSE : STEP_NEXT;
}

static enum step respond(struct conn *c, size_t head_len)
{
	struct rules_ctx ctx;
	struct rules_plan p;

	gen_hold(c);
	ctx = rules_ctx(c, &c->req);
	c->head_len = head_len;
	c->have_req = 1;
	c->site = ctx.site;
	rules_plan_request(&ctx, &c->req, &p);
	return start_response(c, &p);
}

/* The error page for a request that did not parse or never completed; closes after it. */
static enum step respond_unparsed(struct conn *c, enum http_status status)
{
	struct rules_ctx ctx;
	struct rules_plan p;

	gen_hold(c);
	ctx = rules_ctx(c, NULL);
	c->have_req = 0; /* logged as received */
	c->site = NULL;	 /* no Host was read: no site is named */
	rules_plan_unparsed(&ctx, status, &p);
	return start_response(c, &p);
}

/* Reads once into the head buffer. */
static enum step fill(struct conn *c)
{
	enum transport_result r;
	size_t n;

	if (buf_acquire(c) < 0)
		return STEP_CLOSE;
	r = c->t.ops->read(&c->t, c->buf->in + c->in_len, sizeof c->buf->in - c->in_len, &n);
	if (r == TRANSPORT_DONE) {
		if (c->idle) { /* the first byte of a next request starts its head timeout */
			set_idle(c, 0);
			set_timer(c, c->set->gen->cfg->header_timeout);
		}
		c->in_len += n;
		return STEP_NEXT;
	}
	if (c->in_len == 0)
		buf_release(c);
	return transport_wait(c, r);
}

static enum step step_read(struct conn *c)
{
	enum step st;
	int r;

	if (!c->pipelined && (st = fill(c)) != STEP_NEXT)
		return st;
	c->pipelined = 0;
	r = http_parse_request(c->buf->in, c->in_len, &c->req);
	if (r > 0)
		return respond(c, (size_t)r);
	if (r < 0) {
		c->head_len = c->in_len;
		return respond_unparsed(c, (enum http_status) - r);
	}
	if (c->in_len == sizeof c->buf->in) {
		c->head_len = c->in_len;
		return respond_unparsed(c, http_parse_overflow(c->buf->in, c->in_len));
	}
	return STEP_NEXT;
}

/*
 * Whether close() may follow the last response at once: the client asked for the close (RFC
 * 9112 §9.6: it sends no further request), declared no body, and nothing more is buffered,
 * here, in the TLS layer or in the kernel. Anything else would be unread when close() runs.
 */
static int nothing_to_drain(const struct conn *c)
{
	int queued = 0;

	return c->have_req && !c->req.keep_alive && !c->req.content_length && !c->req.chunked &&
	       c->in_len == c->head_len && !c->t.ops->pending(&c->t) &&
	       ioctl(c->t.fd, FIONREAD, &queued) == 0 && queued == 0;
}

/* After the last response of a connection: close_notify (TLS), FIN, then drain. The request
 * buffer goes back to the pool, as the drain reads into a scratch buffer. */
static enum step start_linger(struct conn *c)
{
	c->t.ops->shutdown(&c->t);
	if (shutdown(c->t.fd, SHUT_WR) < 0)
		return STEP_CLOSE;
	c->broken = 1; /* the TLS session is finished: only raw bytes are drained now */
	set_idle(c, 0);
	c->state = CONN_LINGER;
	c->linger_until = ev_now(c->set->loop) + LINGER_TIME;
	c->drained = 0;
	buf_release(c);
	return STEP_NEXT;
}

static enum step response_done(struct conn *c)
{
	struct conn_set *s = c->set;

	log_request(c);
	gen_drop(c);
	c->responding = 0;
	fcache_release(s->fcache, &c->file);
	listing_release(c);
	if (!c->keep_alive || s->draining)
		return nothing_to_drain(c) ? STEP_CLOSE : start_linger(c);
	c->in_len -= c->head_len;
	if (c->in_len > 0)
		memmove(c->buf->in, c->buf->in + c->head_len, c->in_len);
	c->head_len = 0;
	c->have_req = 0;
	c->state = CONN_READ;
	if (c->in_len > 0) {
		c->pipelined = 1;
		set_timer(c, s->gen->cfg->header_timeout);
		return STEP_NEXT;
	}
	set_timer(c, s->gen->cfg->keepalive_timeout);
	set_idle(c, 1);
	if (c->t.ops->pending(&c->t))
		return STEP_NEXT;
	go_quiet(c);
	return STEP_WAIT_READ;
}

/* The --autoindex page after the head; a write that returned WANT_* is retried the same. */
static enum transport_result write_listing(struct conn *c, size_t *n)
{
	enum transport_result r = c->t.ops->write(&c->t, c->listing->data + c->listing_off,
						  c->listing_len - c->listing_off, n, 0);

	if (r == TRANSPORT_DONE)
		c->listing_off += *n;
	return r;
}

static enum step step_write(struct conn *c)
{
	const struct transport_ops *ops = c->t.ops;
	size_t budget = WRITE_BUDGET, n;
	enum transport_result r;

	for (;;) {
		if (c->out_off < c->out_len) {
			int more = c->file_left > 0 || c->listing_off < c->listing_len;
			r = ops->write(&c->t, c->buf->out + c->out_off, c->out_len - c->out_off, &n,
				       more);
			if (r != TRANSPORT_DONE)
				return transport_wait(c, r);
			c->out_off += n;
		} else if (c->listing_off < c->listing_len) {
			if ((r = write_listing(c, &n)) != TRANSPORT_DONE)
				return transport_wait(c, r);
		} else if (c->file_left == 0) {
			return response_done(c);
		} else if (budget == 0) {
			return STEP_WAIT_WRITE; /* still writable: the loop comes back after others
						 */
		} else if (ops->sendfile) {
			size_t want = c->file_left < budget ? (size_t)c->file_left : budget;
			r = ops->sendfile(&c->t, c->file.fd, &c->file_off, want, &n);
			if (r != TRANSPORT_DONE)
				return transport_wait(c, r);
			c->file_left -= n;
		} else {
			c->out_off = c->out_len = 0;
			if (fill_from_file(c) < 0)
				return STEP_CLOSE;
			n = c->out_len;
		}
		budget = n < budget ? budget - n : 0;
		ev_timer_again(c->set->loop, &c->timer);
	}
}

/* Discards what the client sends, within the bounds; the silence timer restarts on input. */
static enum step step_linger(struct conn *c)
{
	char sink[16384];
	ev_tstamp left;
	ssize_t n;

	while ((n = recv(c->t.fd, sink, sizeof sink, 0)) > 0) {
		c->drained += (size_t)n;
		if (c->drained > LINGER_MAX_BYTES)
			return STEP_CLOSE;
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		return STEP_CLOSE; /* the client closed: nothing more can arrive */
	left = c->linger_until - ev_now(c->set->loop);
	if (left <= 0)
		return STEP_CLOSE;
	c->timer.repeat = left < LINGER_IDLE ? left : LINGER_IDLE;
	ev_timer_again(c->set->loop, &c->timer);
	return STEP_WAIT_READ;
}

/* HTTP/2: h2.c reads and writes through the connection's buffers, held while it has streams
 * or output; between streams the connection is idle (reclaimable at --max-conns) and gives its
 * buffers and TLS record pages back. */
static enum step step_h2(struct conn *c)
{
	enum h2_step r;

	if (buf_acquire(c) < 0)
		return STEP_CLOSE;
	r = h2_run(c->h2, c->buf->in, sizeof c->buf->in, c->buf->out, sizeof c->buf->out,
		   ev_now(c->set->loop));
	set_idle(c, r != H2_CLOSE && h2_idle(c->h2));
	if (c->idle)
		go_quiet(c); /* as an idle HTTP/1.1 connection: buffers, TLS record pages */
	switch (r) {
	case H2_WAIT_READ: return STEP_WAIT_READ;
	case H2_WAIT_BOTH: return STEP_WAIT_BOTH;
	case H2_DONE: return start_linger(c);
	case H2_CLOSE: break;
	}
	c->broken = 1;
	return STEP_CLOSE;
}

/* one state a line */
/* clang-format off */
static enum step (*const steps[])(struct conn *) = {
    [CONN_HANDSHAKE] = step_handshake, /* then CONN_READ, or CONN_H2 when ALPN chose h2 */
    [CONN_READ] = step_read,
    [CONN_WRITE] = step_write,
    [CONN_LINGER] = step_linger,
    [CONN_H2] = step_h2,
};
/* clang-format on */

static void wait_for(struct conn *c, int events)
{
	if (c->io.events == events && ev_is_active(&c->io))
		return;
	ev_io_stop(c->set->loop, &c->io);
	ev_io_set(&c->io, c->t.fd, events);
	ev_io_start(c->set->loop, &c->io);
}

static void conn_run(struct conn *c)
{
	for (;;) {
		switch (steps[c->state](c)) {
		case STEP_NEXT: continue;
		case STEP_WAIT_READ: wait_for(c, EV_READ); return;
		case STEP_WAIT_WRITE: wait_for(c, EV_WRITE); return;
		case STEP_WAIT_BOTH: wait_for(c, EV_READ | EV_WRITE); return;
		case STEP_CLOSE: conn_close(c); return;
		}
	}
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	conn_run(w->data);
}

/*
 * Closes a connection with no request in progress (idle keep-alive, SIGTERM). While the client
 * has not acknowledged all of the last response (SIOCOUTQ), a RST would destroy the rest of
 * it, and a next request may be unread already: then close lingering, else at once.
 */
static void close_idle(struct conn *c)
{
	int unacked = 0;

	if (c->state != CONN_READ || ioctl(c->t.fd, SIOCOUTQ, &unacked) < 0 || unacked == 0 ||
	    start_linger(c) != STEP_NEXT) {
		conn_close(c);
		return;
	}
	conn_run(c);
}

/* HTTP/2: streams that sent nothing for the keep-alive timeout are reset, an idle session
 * ends (h2_timeout); the timer comes back when the next one is due. */
static void h2_timer(struct conn *c)
{
	double next = h2_timeout(c->h2, ev_now(c->set->loop), c->set->gen->cfg->keepalive_timeout);

	if (next <= 0) {
		conn_close(c);
		return;
	}
	c->timer.repeat = next;
	ev_timer_again(c->set->loop, &c->timer);
	conn_run(c);
}

/* A head that never completed gets a 408, written and followed by a lingering close like any
 * last response (the timer of the write bounds it); an idle one closes as close_idle says. */
static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	(void)revents;
	if (c->state == CONN_H2) {
		h2_timer(c);
		return;
	}
	if (c->state == CONN_READ && c->in_len > 0 && c->buf &&
	    respond_unparsed(c, HTTP_REQUEST_TIMEOUT) == STEP_NEXT) {
		conn_run(c);
		return;
	}
	if (c->state == CONN_READ && c->in_len == 0)
		close_idle(c);
	else
		conn_close(c);
}

static void conn_close(struct conn *c)
{
	struct conn_set *s = c->set;

	if (c->responding)
		log_request(c);
	if (c->gen)
		gen_drop(c);
	h2_free(c->h2); /* logs the streams in progress */
	c->h2 = NULL;
	set_idle(c, 0);
	ev_io_stop(s->loop, &c->io);
	ev_timer_stop(s->loop, &c->timer);
	if (!c->broken && c->state != CONN_HANDSHAKE)
		c->t.ops->shutdown(&c->t);
	transport_close(&c->t);
	fcache_release(s->fcache, &c->file);
	listing_release(c);
	buf_release(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = s->free_conns;
	s->free_conns = c;
	s->nconns--;
	s->on_closed(s);
}

void conn_set_init(struct conn_set *set, struct ev_loop *loop, struct gen *gen, struct tls_ctx *tls,
		   struct accesslog *log, struct fcache *fc)
{
	memset(set, 0, sizeof *set);
	set->loop = loop;
	set->gen = gen;
	set->tls = tls;
	set->log = log;
	set->fcache = fc;
	httpdate_cache_init(&set->date);
}

void conn_accept(struct conn_set *s, int fd, enum listen_kind kind,
		 const struct sockaddr_storage *peer)
{
	struct conn *c = s->free_conns;

	if (c)
		s->free_conns = c->next;
	else if (!(c = malloc(sizeof *c))) {
		close(fd);
		return;
	}
	memset(c, 0, sizeof *c);
	c->set = s;
	c->kind = kind;
	c->peer = *peer;
	c->file.fd = -1;
	transport_open_plain(&c->t, fd);
	if (kind == LISTEN_HTTPS && tls_transport_open(&c->t, s->tls, fd) < 0) {
		close(fd);
		c->next = s->free_conns;
		s->free_conns = c;
		return;
	}
	c->state = c->t.tls ? CONN_HANDSHAKE : CONN_READ;
	ev_io_init(&c->io, on_io, fd, EV_READ);
	c->io.data = c;
	ev_init(&c->timer, on_timeout);
	c->timer.data = c;
	set_timer(c, s->gen->cfg->header_timeout);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	ev_io_start(s->loop, &c->io);
}

/* Bytes of a next request wait in the socket, unread: the client sent it before the drain. */
static int request_waiting(const struct conn *c)
{
	int n = 0;

	return ioctl(c->t.fd, FIONREAD, &n) == 0 && n > 0;
}

/* Closes c now if it is between requests, else after its response (see conn_set_drain). */
static void conn_drain(struct conn *c, int handover)
{
	if (c->state == CONN_H2) { /* GOAWAY: the streams in flight finish */
		h2_drain(c->h2);
		conn_run(c);
		return;
	}
	if (handover) {
		if (c->idle && !request_waiting(c))
			close_idle(c);
		return;
	}
	if (c->state == CONN_HANDSHAKE)
		conn_close(c);
	else if (c->state == CONN_READ && c->in_len == 0)
		close_idle(c);
}

void conn_set_drain(struct conn_set *set, int handover)
{
	struct conn *c, *next;

	set->draining = 1;
	for (c = set->conns; c; c = next) {
		next = c->next;
		conn_drain(c, handover);
	}
}

/* Waiting for a ClientHello or a first request: not in the idle queue, but as quiet. */
static int quiet(const struct conn *c)
{
	return !c->broken && ((c->state == CONN_READ && c->in_len == 0 && !c->responding) ||
			      c->state == CONN_HANDSHAKE);
}

void conn_set_quiet(struct conn_set *set)
{
	for (struct conn *c = set->conns; c; c = c->next)
		if (c->t.ops->idle && quiet(c))
			c->t.ops->idle(&c->t);
}

int conn_reclaim_idle(struct conn_set *set)
{
	if (!set->idle_head)
		return 0;
	close_idle(set->idle_head);
	return 1;
}

/* Frees pooled items beyond keep; returns how many were freed. */
static size_t trim_list(void **head, size_t keep, size_t next_offset)
{
	size_t n = 0, freed = 0;
	void **link = head;

	while (*link && n < keep) {
		link = (void **)((char *)*link + next_offset);
		n++;
	}
	while (*link) {
		void *item = *link;
		*link = *(void **)((char *)item + next_offset);
		free(item);
		freed++;
	}
	return freed;
}

size_t conn_trim_pools(struct conn_set *set, size_t keep_conns, size_t keep_bufs)
{
	/* listings are rare and large: none is kept */
	return trim_list((void **)&set->free_conns, keep_conns, offsetof(struct conn, next)) +
	       trim_list((void **)&set->free_bufs, keep_bufs, offsetof(struct iobuf, next)) +
	       trim_list((void **)&set->free_listings, 0, offsetof(struct listing_buf, next));
}

void conn_set_free(struct conn_set *set)
{
	while (set->conns)
		conn_close(set->conns);
	conn_trim_pools(set, 0, 0);
	free(set->listing);
	set->listing = NULL;
}
