/* server.c — the event loop: accept, signals, graceful drain, per-loop caches. */
#include <errno.h>
#include <stdint.h>
#include <grp.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "gen.h"
#include "log.h"
#include "notify.h"
#include "server.h"
#include "tls.h"
#include "upgrade.h"

#define ACCEPT_BATCH 64
#define DRAIN_SECONDS 5.0
#define EMFILE_PAUSE 1.0
#define TRIM_INTERVAL 5.0  /* seconds between checks for memory to give back */
#define TRIM_KEEP_CONNS 64 /* recycled connection structs kept for the next burst */
#define TRIM_KEEP_BUFS 16  /* recycled 32 KiB request/response buffers kept */

static void accepting(struct server *s, int on)
{
	if (s->accepting == on || s->draining)
		return;
	s->accepting = on;
	for (size_t i = 0; i < s->listeners->n; i++) {
		if (on)
			ev_io_start(s->loop, &s->accept_w[i]);
		else
			ev_io_stop(s->loop, &s->accept_w[i]);
	}
}

/*
 * A slot for a connection waiting to be accepted. At --max-conns the longest-idle keep-alive
 * connection gives up its own, but only for the first accept of a batch, when the listener's
 * readiness says a client is waiting. Connections busy with a request are never closed.
 */
static int take_slot(struct server *s, int first)
{
	if (s->conns.nconns < s->gen->cfg->max_conns)
		return 1;
	if (!first || !conn_reclaim_idle(&s->conns))
		return 0;
	if (s->conns.nconns < s->gen->cfg->max_conns)
		return 1;
	accepting(s, 0); /* it lingers: its close resumes accepting */
	return 0;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *s = ev_userdata(loop);
	const struct listener *l = w->data;
	struct sockaddr_storage peer;
	int one = 1;

	(void)revents;
	for (int i = 0; i < ACCEPT_BATCH && take_slot(s, i == 0); i++) {
		socklen_t len = sizeof peer;
		int fd =
		    accept4(w->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				log_warn("accept on %s", l->name);
				accepting(s, 0);
				/* a fired one-shot timer keeps its 0 s remainder: re-arm the pause
				 */
				ev_timer_set(&s->resume_w, EMFILE_PAUSE, 0.);
				ev_timer_start(loop, &s->resume_w);
			}
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		conn_accept(&s->conns, fd, l->kind, &peer);
	}
	if (s->conns.nconns >= s->gen->cfg->max_conns && !s->conns.idle_head)
		accepting(s, 0); /* every slot is busy: wait for a close, or an idle one */
}

static void on_resume(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = ev_userdata(loop);

	(void)w;
	(void)revents;
	accepting(s, 1);
}

/* A connection closed: accept again if the limit had paused accepting. */
static void on_conn_closed(struct conn_set *set)
{
	struct server *s = ev_userdata(set->loop);

	s->closed++;
	if (s->draining) {
		if (s->conns.nconns == 0)
			ev_break(s->loop, EVBREAK_ALL);
		return;
	}
	if (!s->accepting && s->conns.nconns < s->gen->cfg->max_conns &&
	    !ev_is_active(&s->resume_w))
		accepting(s, 1);
}

/* A connection became idle: at the limit, a new client may now take its slot. */
static void on_conn_idle(struct conn_set *set)
{
	struct server *s = ev_userdata(set->loop);

	if (!s->accepting && !ev_is_active(&s->resume_w))
		accepting(s, 1);
}

static void on_drain_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* Stops accepting (closing the listeners: after an upgrade the new process holds them),
 * closes idle connections (conn_set_drain says which) and lets responses finish within
 * DRAIN_SECONDS. */
static void drain(struct server *s, int handover)
{
	accepting(s, 0);
	ev_timer_stop(s->loop, &s->resume_w);
	s->draining = 1;
	ev_io_stop(s->loop, &s->upgrade_w);
	ev_io_stop(s->loop, &s->helper_gone_w); /* a stop signal during the hand-over wins */
	if (s->upgrade_fd >= 0) { /* the helper exits at EOF, releasing its listeners */
		close(s->upgrade_fd);
		s->upgrade_fd = -1;
	}
	for (size_t i = 0; i < s->listeners->n; i++)
		close(s->listeners->l[i].fd);
	conn_set_drain(&s->conns, handover);
	if (s->conns.nconns == 0) {
		ev_break(s->loop, EVBREAK_ALL);
		return;
	}
	ev_timer_start(s->loop, &s->drain_w);
}

/* SIGTERM/SIGINT: stop accepting, close idle connections, let responses finish. */
static void on_stop_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct server *s = ev_userdata(loop);

	(void)revents;
	if (s->draining) { /* a second signal: stop waiting for responses in flight */
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	log_info("%s: finishing in-flight responses, then exiting (again to exit now)",
		 w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
	notify_stopping();
	drain(s, 0);
}

/* SIGUSR2: ask the upgrade helper (upgrade.h) to start the binary at our path. */
static void on_upgrade_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct server *s = ev_userdata(loop);

	(void)w;
	(void)revents;
	if (s->draining)
		return;
	if (s->upgrade_fd < 0) {
		log_warnx("SIGUSR2: upgrades are off (see the start-up warning); still serving");
		return;
	}
	if (ev_is_active(&s->upgrade_w)) {
		log_warnx("SIGUSR2: an upgrade is already in progress; ignored");
		return;
	}
	log_info("SIGUSR2: starting %s", upgrade_path()); /* queued before the new one's lines */
	if (upgrade_request(s->upgrade_fd) < 0) {
		log_warn("SIGUSR2: cannot reach the upgrade helper; still serving");
		return;
	}
	ev_io_start(loop, &s->upgrade_w);
}

/* The new process is systemd's (or the nearest subreaper's) child now: it becomes the main
 * PID before anything else, then this one drains. */
static void hand_over(struct server *s)
{
	notify_mainpid(s->upgraded_pid);
	log_info("upgrade: process %ld is serving; finishing in-flight responses, then exiting",
		 s->upgraded_pid);
	drain(s, 1);
}

static void on_helper_gone(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)revents;
	ev_io_stop(loop, w);
	hand_over(ev_userdata(loop));
}

/* The helper's answer: hand over to the new process, or keep serving and say why not. On
 * success the helper is told to exit (EOF), which reparents the new process; the hand-over
 * waits for that (its pidfd), so that systemd never watches a main PID that is not its child. */
static void on_upgrade_reply(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *s = ev_userdata(loop);
	char why[512];

	(void)revents;
	switch (upgrade_reply(w->fd, &s->upgraded_pid, why, sizeof why)) {
	case UPGRADE_PENDING: return;
	case UPGRADE_FAILED:
		ev_io_stop(loop, w);
		log_warnx("upgrade failed: %s; still serving", why);
		return;
	case UPGRADE_GONE:
		ev_io_stop(loop, w);
		log_warnx("upgrade failed: the upgrade helper exited; upgrades are off now");
		close(s->upgrade_fd);
		s->upgrade_fd = -1;
		return;
	case UPGRADE_READY: break;
	}
	ev_io_stop(loop, w);
	close(s->upgrade_fd);
	s->upgrade_fd = -1;
	if (s->helper_gone_w.fd < 0) {
		hand_over(s); /* no pidfd (Linux < 5.3): announce at once */
		return;
	}
	ev_io_start(loop, &s->helper_gone_w);
}

/* After a burst, the pools and the TLS sessions that were freed keep the heap at its peak:
 * free what the pools hold beyond a small reserve and hand free pages back to the kernel. */
static void on_trim(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = ev_userdata(loop);
	size_t freed;

	(void)w;
	(void)revents;
	freed = conn_trim_pools(&s->conns, TRIM_KEEP_CONNS, TRIM_KEEP_BUFS);
	if (freed > 0 || s->closed > TRIM_KEEP_CONNS)
		malloc_trim(0);
	s->closed = 0;
}

/* Arms w while fd (>= 0) has output waiting to be written, stops it otherwise. */
static void watch_output(struct ev_loop *loop, ev_io *w, int fd)
{
	if (fd >= 0 && ev_is_active(w) && w->fd == fd)
		return;
	ev_io_stop(loop, w);
	if (fd < 0)
		return;
	ev_io_set(w, fd, EV_WRITE);
	ev_io_start(loop, w);
}

/* Writes what the access log and stderr hold without blocking; output that would block waits
 * for its descriptor (retried from on_log_writable, not on every loop iteration). */
static void flush_logs(struct server *s, int all)
{
	if (all || !ev_is_active(&s->accesslog_w))
		watch_output(s->loop, &s->accesslog_w, accesslog_flush(&s->log));
	if (all || !ev_is_active(&s->stderr_w))
		watch_output(s->loop, &s->stderr_w, log_flush());
}

static void on_log_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)w;
	(void)revents;
	flush_logs(ev_userdata(loop), 1);
}

/* SIGUSR1: reopen the access log file, as logrotate expects of a server. */
static void on_reopen_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct server *s = ev_userdata(loop);
	char err[512];

	(void)w;
	(void)revents;
	ev_io_stop(loop, &s->accesslog_w); /* before its descriptor may be closed */
	if (accesslog_reopen(&s->log, err, sizeof err) < 0)
		log_warnx("SIGUSR1: %s; still writing to the old file", err);
	flush_logs(s, 1); /* the descriptor may have changed */
}

/* " for site NAMES" when there are several sites, for the reload's lines. */
static const char *site_label(const struct config *cfg, size_t i, char *buf, size_t len)
{
	const char *names = cfg->sites[i].names;

	if (cfg->n_sites == 1)
		return "";
	snprintf(buf, len, " for site %s", names ? names : "(unnamed default)");
	return buf;
}

/* Reloads site i's files and logs one line; returns -1 when it failed (err says why). */
static int reload_site(struct server *s, size_t i, char *info, size_t infolen, char *err,
		       size_t errlen)
{
	const struct tls_reader who = {s->run_user, s->run_group};
	const struct config_site *site = &s->gen->cfg->sites[i];
	char buf[300];
	int r = tls_ctx_reload(s->tls, i, &who, info, infolen, err, errlen);
	const char *label = site_label(s->gen->cfg, i, buf, sizeof buf);

	if (r < 0)
		log_warnx("SIGHUP: %s; still serving the previous certificate%s", err, label);
	else if (r == 0)
		log_info("SIGHUP: reloaded %s and %s%s: %s", site->cert, site->key, label, info);
	return r < 0 ? -1 : 0;
}

/* Logs and tells systemd why a reload stops here (r < 0: the file, r > 0: an upgrade). */
static int reload_refused(int r, const char *msg)
{
	if (r < 0) {
		log_warnx("SIGHUP: %s; still serving the running configuration", msg);
		notify_ready("reload failed, still serving the running configuration: %s", msg);
		return -1;
	}
	log_warnx("SIGHUP: %s: that needs an upgrade (systemctl kill -s USR2 --kill-who=main "
		  "dropcap, or kill -USR2 the main process: no connection is dropped); still "
		  "serving the running configuration",
		  msg);
	notify_ready("needs an upgrade (SIGUSR2): %s", msg);
	return -1;
}

/* Makes n (with its open roots and, with TLS, its credentials) the current generation; the old
 * one goes with the last response that started with it. */
static int reload_swap(struct server *s, struct config *n, int *fds, struct tls_cred **creds,
		       char *msg, size_t msglen)
{
	struct gen *g = gen_new(n, fds, &s->fcache), *old = s->gen;

	if (!g) {
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	if (s->tls)
		tls_ctx_commit(s->tls, n, creds);
	s->gen = s->conns.gen = g;
	gen_put(old);
	return 0;
}

/* SIGHUP with --config: the whole file again, applied all or nothing. The new configuration,
 * its roots and its credentials are all made before the swap; any failure frees them and the
 * running configuration stays. Server-wide keys, and paths the sandbox does not allow, need an
 * upgrade. */
static void reload_file(struct server *s)
{
	const struct tls_reader who = {s->run_user, s->run_group};
	struct tls_cred *creds[CONFIG_MAX_SITES] = {0};
	int fds[CONFIG_ROOT_FDS], r;
	char msg[1536];
	struct config *n = config_reload(s->gen->cfg, &r, msg, sizeof msg);

	if (!n) {
		reload_refused(r, msg);
		return;
	}
	if ((r = gen_open_roots(n, fds, msg, sizeof msg)) == 0 && s->tls &&
	    tls_ctx_prepare(s->tls, n, &who, creds, msg, sizeof msg) < 0)
		r = -1;
	if (r == 0 && reload_swap(s, n, fds, creds, msg, sizeof msg) == 0) {
		log_info("SIGHUP: reloaded %s: %zu site%s", n->config_file, n->n_sites,
			 n->n_sites == 1 ? "" : "s");
		notify_ready("reloaded %s", n->config_file);
		return;
	}
	if (r == 0) {
		tls_ctx_discard(creds);
		gen_close_roots(n, fds);
		r = -1;
	} else if (fds[0] >= 0) {
		gen_close_roots(n, fds); /* the credentials failed: the roots were open */
	}
	config_free(n);
	free(n);
	reload_refused(r, msg);
}

/* SIGHUP: --ticket-key-file again; a bad file keeps the old keys. */
static void reload_tickets(struct server *s)
{
	const struct tls_reader who = {s->run_user, s->run_group};
	char info[PATH_MAX + 128], err[PATH_MAX + 512];
	int r =
	    s->tls ? tls_ctx_reload_tickets(s->tls, &who, info, sizeof info, err, sizeof err) : 1;

	if (r < 0)
		log_warnx("SIGHUP: %s; still using the previous ticket keys", err);
	else if (r == 0)
		log_info("SIGHUP: reloaded the ticket keys from %s", info);
}

/* SIGHUP: read each site's certificate and key again, as the run user and under the sandbox.
 * New handshakes get the new ones; open connections keep theirs. A failure keeps that site's
 * old ones, and the other sites still reload. */
static void on_reload_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct server *s = ev_userdata(loop);
	char info[512] = "", err[1536], first_err[1536] = "";
	size_t failed = 0;

	(void)w;
	(void)revents;
	notify_reloading();
	reload_tickets(s);
	if (s->gen->cfg->config_file) {
		reload_file(s);
		return;
	}
	if (!s->tls) {
		log_info("SIGHUP: no --cert, nothing to reload");
		notify_ready("reloaded: nothing to reload (no --cert)");
		return;
	}
	for (size_t i = 0; i < s->gen->cfg->n_sites; i++)
		if (reload_site(s, i, info, sizeof info, err, sizeof err) < 0 && failed++ == 0)
			snprintf(first_err, sizeof first_err, "%s", err);
	if (failed)
		notify_ready("reload failed, still serving the previous certificate: %s",
			     first_err);
	else
		notify_ready("reloaded the certificate: %s", info);
}

/* The run user's and group's names for the reload's messages, read while /etc/passwd may be. */
static void reload_identity(struct server *s)
{
	struct passwd *pw = getpwuid(getuid());
	struct group *gr = getgrgid(getgid());

	if (pw)
		snprintf(s->run_user, sizeof s->run_user, "%s", pw->pw_name);
	else
		snprintf(s->run_user, sizeof s->run_user, "uid %d", (int)getuid());
	if (gr)
		snprintf(s->run_group, sizeof s->run_group, "%s", gr->gr_name);
	else
		snprintf(s->run_group, sizeof s->run_group, "%d", (int)getgid());
}

static void on_idle(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)w;
	(void)revents;
	flush_logs(ev_userdata(loop), 0);
}

/* The port clients reach HTTPS on, for --redirect-https: the first HTTPS listener's own
 * (getsockname, so inherited sockets and :0 count too), 443 when there is none. */
static unsigned https_port(const struct listen_set *ls)
{
	for (size_t i = 0; i < ls->n; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		if (ls->l[i].kind != LISTEN_HTTPS ||
		    getsockname(ls->l[i].fd, (struct sockaddr *)&ss, &len) < 0)
			continue;
		if (ss.ss_family == AF_INET)
			return ntohs(((struct sockaddr_in *)&ss)->sin_port);
		if (ss.ss_family == AF_INET6)
			return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	return 443;
}

int server_init(struct server *s, const struct config *cfg, struct listen_set *listeners,
		struct tls_ctx *tls, const int *root_fds, const struct accesslog *log, char *err,
		size_t errlen)
{
	struct config *own = malloc(sizeof *own);

	memset(s, 0, sizeof *s);
	s->tls = tls;
	s->listeners = listeners;
	s->log = *log;
	if (own)
		*own = *cfg; /* the arena's pointer moves with it: the generation frees it */
	if (!own || fcache_init(&s->fcache) < 0 || !(s->gen = gen_new(own, root_fds, &s->fcache))) {
		free(own);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (tls)
		tls_ctx_use_config(tls, own);
	/* not the default loop: that one reaps children on SIGCHLD (wait4, outside the sandbox's
	 * allow-list) when the upgrade helper exits; nothing here is a child libev should reap */
	s->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
	if (!s->loop) {
		snprintf(err, errlen, "cannot create the event loop");
		return -1;
	}
	ev_set_userdata(s->loop, s);
	conn_set_init(&s->conns, s->loop, s->gen, tls, &s->log, &s->fcache);
	s->conns.https_port = https_port(listeners);
	s->conns.on_closed = on_conn_closed;
	s->conns.on_idle = on_conn_idle;
	for (size_t i = 0; i < listeners->n; i++) {
		ev_io_init(&s->accept_w[i], on_accept, listeners->l[i].fd, EV_READ);
		s->accept_w[i].data = &listeners->l[i];
	}
	ev_signal_init(&s->sigterm_w, on_stop_signal, SIGTERM);
	ev_signal_init(&s->sigint_w, on_stop_signal, SIGINT);
	ev_signal_init(&s->sigusr1_w, on_reopen_signal, SIGUSR1);
	ev_signal_init(&s->sighup_w, on_reload_signal, SIGHUP);
	reload_identity(s);
	ev_signal_init(&s->sigusr2_w, on_upgrade_signal, SIGUSR2);
	s->upgrade_fd = -1;
	ev_timer_init(&s->drain_w, on_drain_timeout, DRAIN_SECONDS, 0.);
	ev_timer_init(&s->resume_w, on_resume, EMFILE_PAUSE, 0.);
	ev_prepare_init(&s->idle_w, on_idle);
	ev_io_init(&s->accesslog_w, on_log_writable, -1, EV_WRITE);
	ev_io_init(&s->stderr_w, on_log_writable, -1, EV_WRITE);
	ev_timer_init(&s->trim_w, on_trim, TRIM_INTERVAL, TRIM_INTERVAL);
	ev_signal_start(s->loop, &s->sigterm_w);
	ev_signal_start(s->loop, &s->sigint_w);
	ev_signal_start(s->loop, &s->sigusr1_w);
	ev_signal_start(s->loop, &s->sighup_w);
	ev_signal_start(s->loop, &s->sigusr2_w);
	ev_prepare_start(s->loop, &s->idle_w);
	ev_timer_start(s->loop, &s->trim_w);
	accepting(s, 1);
	return 0;
}

void server_set_upgrade(struct server *s, int fd, int helper_pidfd)
{
	s->upgrade_fd = fd;
	ev_io_init(&s->upgrade_w, on_upgrade_reply, fd, EV_READ);
	ev_io_init(&s->helper_gone_w, on_helper_gone, helper_pidfd, EV_READ);
}

void server_run(struct server *s)
{
	ev_run(s->loop, 0);
}

void server_free(struct server *s)
{
	conn_set_free(&s->conns);
	gen_put(s->gen); /* the last reference: every connection is closed */
	fcache_free(&s->fcache);
	accesslog_close(&s->log);
	if (s->upgrade_fd >= 0)
		close(s->upgrade_fd); /* the helper exits at this EOF */
	ev_loop_destroy(s->loop);
}
