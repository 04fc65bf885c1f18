/*
 * h2.c — HTTP/2 sessions over libnghttp2 (the only file that includes it): frames in through
 * nghttp2_session_mem_recv, frames out through nghttp2_session_mem_send batched into the
 * connection's output buffer, so one loop iteration costs as few TLS writes as fit. A stream's
 * request fields are kept as nghttp2's reference-counted buffers (no copy) in the struct
 * http_request of the HTTP/1 parser; rules.c plans the response as for HTTP/1, its head is
 * written by http_response_head and turned into header fields, its body is read from the open
 * file into each DATA frame as flow control allows.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "conn.h"
#include "gen.h"
#include "h2.h"
#include "rules.h"
#include "tls.h"
#include "transport.h"

/* Bytes written per wake-up, as conn.c's WRITE_BUDGET: one big download cannot starve the
 * loop's other connections. Reads per wake-up are bounded the same way. */
#define H2_WRITE_BUDGET (512 * 1024)
#define H2_READS_MAX 16
/* The request fields a stream keeps: pseudo-fields, Host, four single-valued fields, three
 * lists of HTTP_LIST_LINES lines, Referer and User-Agent. */
#define H2_KEPT_MAX 24
/* Recycled stream structs a session keeps while it has no stream. */
#define H2_STREAMS_KEPT 4
/* Header fields of a response: the status, the fixed ones and the site's. */
#define H2_NV_MAX (16 + RULES_FIELDS_MAX)

struct h2_stream {
	struct h2_stream *next; /* the session's open streams, or its free list */
	struct h2_stream *prev;
	int32_t id;
	struct http_request req;
	nghttp2_rcbuf *kept[H2_KEPT_MAX]; /* the buffers req's slices point into */
	unsigned n_kept;
	size_t header_bytes;
	unsigned too_large : 1; /* over H2_MAX_HEADER_LIST or HTTP_LIST_LINES: 431 */
	unsigned responding : 1;
	unsigned reset : 1; /* the write timeout reset it */
	struct gen *gen;    /* the configuration the response started with (site and plan) */
	const struct config_site *site;
	struct listing_buf *listing; /* RULES_BODY_LISTING: the page */
	uint64_t sent;		     /* body bytes given to nghttp2 */
	double last;		     /* when it started, or last sent DATA */
	struct rules_plan plan;
};

enum h2_drain_state {
	H2_SERVING,
	H2_NOTICE, /* shutdown notice and a PING sent: the final GOAWAY at its ACK */
	H2_FINAL,
};

struct h2 {
	nghttp2_session *ng;
	struct conn_set *set;
	struct transport *t;
	const struct sockaddr_storage *peer;
	struct h2_stream *streams;
	struct h2_stream *free_streams;
	unsigned nstreams;
	double now;
	double idle_since;   /* when the last stream closed */
	const uint8_t *pend; /* mem_send output not yet copied into out */
	size_t pend_len;
	size_t out_off;
	size_t out_len;
	enum h2_drain_state drain;
	unsigned final_due : 1;
	double control_tokens; /* SETTINGS and PINGs the client may still send (a token bucket) */
	double control_at;     /* when the bucket was last refilled */
};

static struct h2_stream *stream_new(struct h2 *h, int32_t id)
{
	struct h2_stream *st = h->free_streams;

	if (st)
		h->free_streams = st->next;
	else if (!(st = malloc(sizeof *st)))
		return NULL;
	memset(st, 0, offsetof(struct h2_stream, plan));
	st->plan.file.fd = -1;
	st->plan.file.entry = NULL;
	st->plan.body = RULES_BODY_NONE;
	st->id = id;
	st->last = h->now;
	st->next = h->streams;
	if (h->streams)
		h->streams->prev = st;
	h->streams = st;
	h->nstreams++;
	return st;
}

/* A session between streams keeps H2_STREAMS_KEPT recycled ones: after a burst of 100
 * streams an idle connection does not hold 100 of them (about 2 KiB each). */
static void trim_streams(struct h2 *h)
{
	struct h2_stream **link = &h->free_streams, *st;

	for (unsigned n = 0; *link && n < H2_STREAMS_KEPT; n++)
		link = &(*link)->next;
	while ((st = *link)) {
		*link = st->next;
		free(st);
	}
}

static void stream_log(struct h2 *h, const struct h2_stream *st)
{
	struct accesslog_entry e = {
	    .peer = h->peer,
	    .site = accesslog_site_name(st->site),
	    .req = &st->req,
	    .status = st->plan.head.status,
	    .body_bytes = st->sent,
	    .now = (time_t)h->now,
	};

	accesslog_write(h->set->log, &e);
}

/* The stream is closed (or the session ends): logged when it was answered, and its file,
 * page, configuration and field buffers given back. */
static void stream_end(struct h2 *h, struct h2_stream *st)
{
	if (st->responding)
		stream_log(h, st);
	fcache_release(h->set->fcache, &st->plan.file);
	if (st->listing)
		conn_listing_put(h->set, st->listing);
	gen_put(st->gen);
	for (unsigned i = 0; i < st->n_kept; i++)
		nghttp2_rcbuf_decref(st->kept[i]);
	*(st->prev ? &st->prev->next : &h->streams) = st->next;
	if (st->next)
		st->next->prev = st->prev;
	st->prev = NULL;
	st->next = h->free_streams;
	h->free_streams = st;
	if (--h->nstreams == 0) {
		h->idle_since = h->now;
		trim_streams(h);
	}
}

enum field_kind {
	FIELD_FIRST, /* the first line wins (only logged, or unique by nghttp2's checks) */
	FIELD_ONE,   /* single-valued: a second line makes it an empty, invalid value */
	FIELD_LIST,  /* list-valued: up to HTTP_LIST_LINES lines */
	FIELD_AUTHORITY,
	FIELD_HOST, /* used when no :authority came (RFC 9113 8.3.1) */
};

struct field_rule {
	const char *name;
	size_t off; /* of the slice or list in struct http_request */
	enum field_kind kind;
};

static const struct field_rule field_rules[] = {
    {":method", offsetof(struct http_request, method_name), FIELD_FIRST},
    {":path", offsetof(struct http_request, target), FIELD_FIRST},
    {":authority", offsetof(struct http_request, host), FIELD_AUTHORITY},
    {"host", offsetof(struct http_request, host), FIELD_HOST},
    {"range", offsetof(struct http_request, range), FIELD_ONE},
    {"if-range", offsetof(struct http_request, if_range), FIELD_ONE},
    {"if-modified-since", offsetof(struct http_request, if_modified_since), FIELD_ONE},
    {"if-unmodified-since", offsetof(struct http_request, if_unmodified_since), FIELD_ONE},
    {"if-match", offsetof(struct http_request, if_match), FIELD_LIST},
    {"if-none-match", offsetof(struct http_request, if_none_match), FIELD_LIST},
    {"accept-encoding", offsetof(struct http_request, accept_encoding), FIELD_LIST},
    {"referer", offsetof(struct http_request, referer), FIELD_FIRST},
    {"user-agent", offsetof(struct http_request, user_agent), FIELD_FIRST},
};

/* Stores value in the slot of rule; returns whether the stream keeps value's buffer. */
static int field_store(struct h2_stream *st, const struct field_rule *r, struct http_slice v)
{
	char *slot = (char *)&st->req + r->off;
	struct http_slice *s = (struct http_slice *)(void *)slot;
	struct http_list *l = (struct http_list *)(void *)slot;

	switch (r->kind) {
	case FIELD_FIRST: break;
	case FIELD_ONE:
		if (s->ptr) {
			s->len = 0; /* as the HTTP/1 parser: no date, range or tag parses */
			return 0;
		}
		break;
	case FIELD_LIST:
		if (l->n == HTTP_LIST_LINES) {
			st->too_large = 1;
			return 0;
		}
		l->line[l->n++] = v;
		return 1;
	case FIELD_AUTHORITY: st->req.has_host = 1; break;
	case FIELD_HOST:
		if (st->req.has_host)
			return 0;
		st->req.has_host = 1;
		break;
	}
	if (s->ptr && r->kind == FIELD_FIRST)
		return 0;
	*s = v;
	return 1;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, nghttp2_rcbuf *name,
		     nghttp2_rcbuf *value, uint8_t flags, void *user)
{
	struct h2_stream *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	nghttp2_vec n = nghttp2_rcbuf_get_buf(name), v = nghttp2_rcbuf_get_buf(value);

	(void)flags;
	(void)user;
	if (!st || st->too_large || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0; /* trailers are ignored, as a request body is */
	st->header_bytes += n.len + v.len + 32;
	if (st->header_bytes > H2_MAX_HEADER_LIST || st->n_kept == H2_KEPT_MAX) {
		st->too_large =
		    1; /* the rest is decoded (HPACK state) but neither kept nor counted */
		return 0;
	}
	for (size_t i = 0; i < sizeof field_rules / sizeof field_rules[0]; i++) {
		const struct field_rule *r = &field_rules[i];
		if (strlen(r->name) != n.len || memcmp(r->name, n.base, n.len) != 0)
			continue;
		if (field_store(st, r, (struct http_slice){(const char *)v.base, v.len})) {
			nghttp2_rcbuf_incref(value);
			st->kept[st->n_kept++] = value;
		}
		break;
	}
	return 0;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
	struct h2 *h = user;
	struct h2_stream *st;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (!(st = stream_new(h, frame->hd.stream_id)))
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* out of memory: reset the stream */
	nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, st);
	return 0;
}

/* Bytes of a body into a DATA frame: pread from the file (nothing is held in memory), or the
 * fixed page; flow control decides how many nghttp2 asks for. */
static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
			 uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct h2_stream *st = src->ptr;
	uint64_t left = st->plan.body_len - st->sent;
	size_t want = left < length ? (size_t)left : length;
	ssize_t n = (ssize_t)want;

	(void)ng;
	(void)id;
	(void)user;
	if (st->plan.body == RULES_BODY_FILE)
		n = pread(st->plan.file.fd, buf, want, (off_t)(st->plan.file_off + st->sent));
	else if (st->plan.body == RULES_BODY_BYTES)
		memcpy(buf, st->plan.page + st->sent, want);
	else
		memcpy(buf, conn_listing_data(st->listing) + st->sent, want);
	if (n <= 0 && want > 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the file shrank: reset the stream
							       */
	st->sent += (uint64_t)n;
	if (st->sent == st->plan.body_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return n;
}

static int hop_by_hop(const char *name, size_t len)
{
	static const char *const names[] = {"connection", "keep-alive", "transfer-encoding",
					    "upgrade", "proxy-connection"};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
			return 1;
	return 0;
}

static nghttp2_nv make_nv(const char *name, size_t nlen, char *value, size_t vlen)
{
	return (nghttp2_nv){(uint8_t *)(uintptr_t)name, (uint8_t *)value, nlen, vlen,
			    NGHTTP2_NV_FLAG_NONE};
}

/* The fields of an HTTP/1 head (written by http_response_head, so both protocols send the same
 * ones): names lowercased in place, the hop-by-hop ones left out. Returns how many, 0 when the
 * head is not one. */
static size_t head_to_nv(char *head, size_t len, nghttp2_nv *nv, size_t max)
{
	char *p = memchr(head, '\n', len), *end = head + len;
	size_t k = 0;

	if (!p || len < 12)
		return 0;
	nv[k++] = make_nv(":status", 7, head + 9, 3);
	for (p++; p < end && *p != '\r' && k < max;) {
		char *eol = memchr(p, '\r', (size_t)(end - p)), *colon, *v;
		if (!eol || !(colon = memchr(p, ':', (size_t)(eol - p))))
			return 0;
		for (char *c = p; c < colon; c++)
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
		for (v = colon + 1; v < eol && *v == ' '; v++)
			;
		if (!hop_by_hop(p, (size_t)(colon - p)))
			nv[k++] = make_nv(p, (size_t)(colon - p), v, (size_t)(eol - v));
		p = eol + 2;
	}
	return p < end && *p == '\r' ? k : 0;
}

/* Queues the plan's head, and its body through read_body. */
static int submit(struct h2 *h, struct h2_stream *st)
{
	char head[TLS_RECORD_MAX];
	nghttp2_nv nv[H2_NV_MAX];
	nghttp2_data_provider dp = {.source.ptr = st, .read_callback = read_body};
	size_t n = http_response_head(head, sizeof head, &st->plan.head), k;
	int body = st->plan.body != RULES_BODY_NONE && st->plan.body_len > 0;

	if (n == 0 || (k = head_to_nv(head, n, nv, H2_NV_MAX)) == 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (nghttp2_submit_response(h->ng, st->id, nv, k, body ? &dp : NULL) != 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	return 0;
}

/* What the HTTP/1 parser would have refused: 0 when the request is well formed. */
static enum http_status request_error(const struct h2_stream *st)
{
	if (st->too_large)
		return HTTP_HEADERS_TOO_LARGE;
	if (st->req.method == HTTP_METHOD_UNKNOWN)
		return HTTP_NOT_IMPLEMENTED;
	if (st->req.has_host && !http_host_valid(st->req.host))
		return HTTP_BAD_REQUEST;
	return 0;
}

/* A complete request head: its plan, as conn.c makes one for HTTP/1. */
static int respond(struct h2 *h, struct h2_stream *st)
{
	struct http_request *req = &st->req;
	enum http_status err;
	struct rules_ctx ctx;

	req->method = http_method_of(req->method_name);
	req->minor_version = 1;
	req->keep_alive = 1;
	req->http2 = 1;
	err = request_error(st);
	st->gen = h->set->gen;
	gen_get(st->gen);
	ctx = conn_set_rules_ctx(h->set, st->gen, h->t, err ? NULL : req);
	st->site = err ? NULL : ctx.site;
	if (err)
		rules_plan_unparsed(&ctx, err, &st->plan);
	else
		rules_plan_request(&ctx, req, &st->plan);
	if (st->plan.body == RULES_BODY_LISTING)
		st->listing = conn_listing_take(h->set);
	st->responding = 1;
	st->last = h->now;
	return submit(h, st);
}

/* A SETTINGS or PING from the client: one token; none left ends the session (a flood): GOAWAY
 * is queued, and nghttp2 reads nothing more once it is sent. */
static void control_frame(struct h2 *h)
{
	h->control_tokens += (h->now - h->control_at) * H2_CONTROL_RATE;
	if (h->control_tokens > H2_CONTROL_BURST)
		h->control_tokens = H2_CONTROL_BURST;
	h->control_at = h->now;
	if (--h->control_tokens >= 0 || h->control_tokens < -1)
		return; /* within the bounds, or the session is ending already */
	nghttp2_session_terminate_session(h->ng, NGHTTP2_ENHANCE_YOUR_CALM);
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
	struct h2 *h = user;
	struct h2_stream *st;

	if ((frame->hd.type == NGHTTP2_PING || frame->hd.type == NGHTTP2_SETTINGS) &&
	    !(frame->hd.flags & NGHTTP2_FLAG_ACK))
		control_frame(h);
	if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK) &&
	    h->drain == H2_NOTICE)
		h->final_due = 1; /* a round trip after the notice: streams sent before it are in */
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	return st && !st->responding ? respond(h, st) : 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
	struct h2 *h = user;
	struct h2_stream *st;

	if (frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (!(st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id)))
		return 0;
	st->last = h->now; /* progress: the write timeout starts again */
	/* the response is complete but a request body is still coming: it is never read, so
	 * the client is asked to stop (RFC 9113 8.1), as HTTP/1 closes after a 405 */
	if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
	    nghttp2_session_get_stream_remote_close(ng, frame->hd.stream_id) == 0)
		nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
					  NGHTTP2_NO_ERROR);
	return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
	struct h2_stream *st = nghttp2_session_get_stream_user_data(ng, id);

	(void)code;
	if (st)
		stream_end(user, st);
	return 0;
}

static nghttp2_session *session_new(struct h2 *h)
{
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	nghttp2_session *ng = NULL;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		return NULL;
	if (nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cb);
		return NULL;
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback2(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_option_set_stream_reset_rate_limit(opt, H2_RESET_BURST, H2_RESET_RATE);
	nghttp2_option_set_max_continuations(opt, H2_MAX_CONTINUATIONS);
	nghttp2_option_set_max_outbound_ack(opt, H2_MAX_OUTBOUND_ACK);
	nghttp2_option_set_max_settings(opt, 32); /* entries per SETTINGS frame */
	nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
	nghttp2_option_set_no_closed_streams(opt, 1); /* no priority tree of closed streams */
	if (nghttp2_session_server_new2(&ng, cb, h, opt) != 0)
		ng = NULL;
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	return ng;
}

struct h2 *h2_new(struct conn_set *set, struct transport *t, const struct sockaddr_storage *peer,
		  double now)
{
	static const nghttp2_settings_entry settings[] = {
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS},
	    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2_MAX_HEADER_LIST},
	};
	struct h2 *h = calloc(1, sizeof *h);

	if (!h)
		return NULL;
	h->set = set;
	h->t = t;
	h->peer = peer;
	h->now = h->idle_since = h->control_at = now;
	h->control_tokens = H2_CONTROL_BURST;
	if (!(h->ng = session_new(h)) ||
	    nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, settings, 2) != 0) {
		h2_free(h);
		return NULL;
	}
	return h;
}

void h2_free(struct h2 *h)
{
	struct h2_stream *st;

	if (!h)
		return;
	while (h->streams)
		stream_end(h, h->streams);
	nghttp2_session_del(h->ng); /* calls no callback */
	while ((st = h->free_streams)) {
		h->free_streams = st->next;
		free(st);
	}
	free(h);
}

/* Copies what nghttp2 has to send into out, up to cap; -1 on a fatal session error. */
static int fill_out(struct h2 *h, char *out, size_t cap)
{
	if (h->final_due) {
		h->final_due = 0;
		h->drain = H2_FINAL;
		if (nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE,
					  nghttp2_session_get_last_proc_stream_id(h->ng),
					  NGHTTP2_NO_ERROR, NULL, 0) != 0)
			return -1;
	}
	while (h->out_len < cap) {
		size_t take;
		if (h->pend_len == 0) {
			ssize_t n = nghttp2_session_mem_send(h->ng, &h->pend);
			if (n < 0)
				return -1;
			if (n == 0)
				break;
			h->pend_len = (size_t)n;
		}
		take = h->pend_len < cap - h->out_len ? h->pend_len : cap - h->out_len;
		memcpy(out + h->out_len, h->pend, take);
		h->out_len += take;
		h->pend += take;
		h->pend_len -= take;
	}
	return 0;
}

/* Writes what is due until done (DONE), the transport would block, or the budget is spent
 * (WANT_WRITE, as blocked). A partial write is retried with the same bytes (TLS needs it). */
static enum transport_result flush(struct h2 *h, char *out, size_t cap, size_t *budget)
{
	for (;;) {
		size_t n;
		enum transport_result r;
		if (h->out_off == h->out_len) {
			h->out_off = h->out_len = 0;
			if (*budget == 0)
				return TRANSPORT_WANT_WRITE;
			if (fill_out(h, out, cap) < 0)
				return TRANSPORT_ERROR;
			if (h->out_len == 0)
				return TRANSPORT_DONE;
		}
		r = h->t->ops->write(h->t, out + h->out_off, h->out_len - h->out_off, &n, 0);
		if (r != TRANSPORT_DONE)
			return r;
		h->out_off += n;
		*budget = n < *budget ? *budget - n : 0;
	}
}

/* Reads once and feeds nghttp2: 1 when something was read, 0 when the transport waits for input
 * (2: TLS must write first), -1 when the client closed, the transport failed or the session
 * must end (a flood, a bad preface). */
static int receive(struct h2 *h, char *in, size_t cap)
{
	size_t n;
	enum transport_result r = h->t->ops->read(h->t, in, cap, &n);

	if (r == TRANSPORT_WANT_READ || r == TRANSPORT_WANT_WRITE)
		return r == TRANSPORT_WANT_READ ? 0 : 2;
	if (r != TRANSPORT_DONE)
		return -1;
	return nghttp2_session_mem_recv(h->ng, (const uint8_t *)in, n) < 0 ? -1 : 1;
}

enum h2_step h2_run(struct h2 *h, char *in, size_t in_cap, char *out, size_t out_cap, double now)
{
	size_t budget = H2_WRITE_BUDGET;
	unsigned reads = 0;
	enum transport_result w;
	int r;

	h->now = now;
	for (;;) {
		w = flush(h, out, out_cap, &budget);
		if (w == TRANSPORT_ERROR || w == TRANSPORT_CLOSE)
			return H2_CLOSE;
		if (w == TRANSPORT_DONE && !nghttp2_session_want_read(h->ng) &&
		    !nghttp2_session_want_write(h->ng))
			return H2_DONE; /* GOAWAY sent and every stream done (a shutdown notice
					 * alone does not count: nghttp2 reads on) */
		if (reads++ == H2_READS_MAX)
			return H2_WAIT_BOTH; /* more may wait: the loop comes back after others */
		/* read on while the output is blocked: a client that floods control frames and
		 * never reads meets nghttp2's limits instead of stalling us */
		if ((r = receive(h, in, in_cap)) < 0)
			return H2_CLOSE;
		if (r != 1)
			return w == TRANSPORT_DONE && r == 0 ? H2_WAIT_READ : H2_WAIT_BOTH;
	}
}

int h2_idle(const struct h2 *h)
{
	return h->nstreams == 0 && h->out_off == h->out_len && h->pend_len == 0 &&
	       !nghttp2_session_want_write(h->ng);
}

void h2_drain(struct h2 *h)
{
	if (h->drain != H2_SERVING)
		return;
	h->drain = H2_NOTICE;
	if (nghttp2_submit_shutdown_notice(h->ng) != 0 ||
	    nghttp2_submit_ping(h->ng, NGHTTP2_FLAG_NONE, NULL) != 0)
		h->final_due = 1;
}

double h2_timeout(struct h2 *h, double now, double timeout)
{
	double next = timeout, age;

	h->now = now;
	for (struct h2_stream *st = h->streams; st; st = st->next) {
		age = now - st->last;
		if (age >= timeout && st->reset)
			return 0; /* not even its RST_STREAM could be sent */
		if (age >= timeout) {
			st->reset = 1;
			st->last = now;
			nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
		} else if (timeout - age < next)
			next = timeout - age;
	}
	if (h->nstreams == 0) {
		age = now - h->idle_since;
		if (age >= timeout)
			return nghttp2_session_terminate_session(h->ng, NGHTTP2_NO_ERROR) == 0 &&
				       nghttp2_session_want_write(h->ng)
				   ? timeout
				   : 0;
		next = timeout - age;
	}
	return next > 0.05 ? next : 0.05;
}
