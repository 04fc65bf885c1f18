/* main.c — wiring: options, sockets, TLS, the privilege drop, then the loop. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "listen.h"
#include "log.h"
#include "notify.h"
#include "priv.h"
#include "sandbox.h"
#include "server.h"
#include "tls.h"
#include "upgrade.h"

#define FDS_PER_CONN 2 /* the socket and an open file */
/* each worker: its file cache, its epoll and its wake-up descriptors */
#define FDS_RESERVED(workers) (32 + (rlim_t)(workers) * (FCACHE_ENTRIES + 2))

/* Raises the open-file limit as far as allowed; lowers max_conns to what fits. */
static void fit_limits(struct config *c)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	rlim_t reserved = FDS_RESERVED(c->workers);
	rlim_t fit = rl.rlim_cur > reserved ? (rl.rlim_cur - reserved) / FDS_PER_CONN : 1;
	if (c->max_conns == 0) { /* default: as many as the limit allows, up to 10000 */
		c->max_conns = fit < 10000 ? (unsigned)fit : 10000;
		return;
	}
	if (c->max_conns > fit) {
		log_warnx("--max-conns %u lowered to %llu: the open-file limit is %llu",
			  c->max_conns, (unsigned long long)fit, (unsigned long long)rl.rlim_cur);
		c->max_conns = (unsigned)fit;
	}
}

/* --workers' default: the CPUs this process may run on (its affinity: taskset, a cgroup's
 * cpuset, systemd's CPUAffinity=), at least 1. */
static unsigned default_workers(void)
{
	cpu_set_t set;
	long n = 0;

	if (sched_getaffinity(0, sizeof set, &set) == 0)
		n = CPU_COUNT(&set);
	else /* more CPUs than a cpu_set_t holds */
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : (unsigned)n;
}

/* " (site NAMES)" when there are several sites, for messages. */
static const char *site_label(const struct config *c, size_t i, char *buf, size_t len)
{
	if (c->n_sites == 1 || !c->sites[i].names)
		return "";
	snprintf(buf, len, " (site %s)", c->sites[i].names);
	return buf;
}

/* --acme-root: opened like the root (the rules resolve beneath it); -1 when not given. */
static int open_acme_root(const struct config *c, size_t i)
{
	const char *dir = c->sites[i].acme_root;
	int fd = dir ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	char l[300];

	if (dir && fd < 0)
		fatalx("cannot serve --acme-root %s%s: %s", dir, site_label(c, i, l, sizeof l),
		       strerror(errno));
	return fd;
}

static int open_root(const struct config *c, size_t i, char *real)
{
	const char *root = c->sites[i].root;
	int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	char l[300];

	if (fd < 0 || !realpath(root, real))
		fatalx("cannot serve --root %s%s: %s", root, site_label(c, i, l, sizeof l),
		       strerror(errno));
	return fd;
}

/* After the drop: the user we now are must be able to enter every site's root. */
static void check_root_access(const struct config *c, const int *root_fds, char (*real)[PATH_MAX])
{
	char l[300];

	for (size_t i = 0; i < c->n_sites; i++) {
		int fd = openat(root_fds[i], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			fatalx("cannot serve %s%s as uid %d: %s (make it readable: chmod o+rx, or "
			       "choose --user)",
			       real[i], site_label(c, i, l, sizeof l), (int)getuid(),
			       strerror(errno));
		close(fd);
	}
}

static void announce(const struct listen_set *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		log_info("listening on %s %s (%s)", listen_kind_name(ls->l[i].kind), ls->l[i].name,
			 ls->l[i].via);
}

static int has_https(const struct listen_set *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		if (ls->l[i].kind == LISTEN_HTTPS)
			return 1;
	return 0;
}

/* What start-up acquires with the identity dropcap was started with, before the drop. */
struct startup {
	int root_fds[CONFIG_ROOT_FDS]; /* indexed like cfg->sites, then the --acme-root ones */
	char real[CONFIG_MAX_SITES][PATH_MAX];
	struct tls_ctx *tls;
	struct listen_set ls;
	struct accesslog log;
};

/* Root, certificate and key, sockets, stdout and stderr: each failure is one line and exit 1. */
static void acquire(const struct config *cfg, struct startup *st)
{
	char err[1024];

	for (size_t i = 0; i < cfg->n_sites; i++) {
		st->root_fds[i] = open_root(cfg, i, st->real[i]);
		st->root_fds[CONFIG_ACME_FD(i)] = open_acme_root(cfg, i);
	}
	st->tls = NULL;
	if (config_default_site(cfg)->cert && !(st->tls = tls_ctx_new(cfg, err, sizeof err)))
		fatalx("%s", err);
	if (listen_acquire(cfg, &st->ls, err, sizeof err) < 0)
		fatalx("%s", err);
	if (has_https(&st->ls) && !st->tls)
		fatalx(
		    "an inherited socket is named https, but HTTPS needs --cert FILE --key FILE");
	announce(&st->ls);
	/* stdout is taken over now; a log file is opened after the drop, as the run user */
	if (accesslog_init(&st->log, cfg->access_log, cfg->log_format,
			   geteuid() == 0 ? cfg->user : NULL, err, sizeof err) < 0)
		fatalx("%s", err);
	if (log_nonblocking(err, sizeof err) < 0)
		log_warnx("stderr: %s: messages may block", err);
}

/* "dropcap check": what start-up would read, read now; nothing bound, no privilege needed.
 * Each failure is one line and exit 1 (fatalx). */
static int check_only(const struct config *cfg)
{
	char err[1024], real[PATH_MAX];
	struct tls_ctx *tls = NULL;

	for (size_t i = 0; i < cfg->n_sites; i++) {
		const struct config_site *s = &cfg->sites[i];
		int fd = open(s->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 && cfg->config_file)
			fatalx("%s:%u: cannot serve root %s%s: %s", cfg->config_file, s->line,
			       s->root, site_label(cfg, i, err, sizeof err), strerror(errno));
		close(fd >= 0 ? fd : open_root(cfg, i, real));
	}
	if (config_default_site(cfg)->cert && !(tls = tls_ctx_new(cfg, err, sizeof err)))
		fatalx("%s", err);
	tls_ctx_free(tls);
	puts("ok");
	return 0;
}

int main(int argc, char **argv)
{
	static struct server srv;
	static struct startup st;
	char err[1024], line[512], sandbox[SANDBOX_PROOF_LEN];
	struct config cfg;

	if (priv_init(err, sizeof err) < 0)
		fatalx("%s", err);
	switch (config_parse(&cfg, argc, argv, err, sizeof err)) {
	case CONFIG_OK: break;
	case CONFIG_EXIT: return 0;
	case CONFIG_ERROR:
		fprintf(stderr, "dropcap: %s\nTry 'dropcap --help'.\n", err);
		config_free(&cfg);
		return cfg.check_only ? 1 : 2;
	}
	if (cfg.check_only) {
		int r = check_only(&cfg);
		config_free(&cfg);
		return r;
	}
	if (listen_close_inherited(&cfg, err, sizeof err) < 0)
		fatalx("%s", err);
	if (cfg.doctor) {
		int r = priv_doctor(&cfg);
		config_free(&cfg);
		return r;
	}
	signal(SIGPIPE, SIG_IGN);
	/* before the drop and the sandbox: later, only send() on this socket is allowed */
	if (notify_open(err, sizeof err) < 0)
		log_warnx("%s: systemd will not learn that dropcap is ready", err);
	tzset();
	if (cfg.workers == 0)
		cfg.workers = default_workers();
	fit_limits(&cfg);
	acquire(&cfg, &st);
	if (priv_drop(&cfg, line, sizeof line, err, sizeof err) < 0)
		fatalx("%s", err);
	if (accesslog_open(&st.log, err, sizeof err) < 0)
		fatalx("%s", err);
	check_root_access(&cfg, st.root_fds, st.real);
	if (upgrade_is_upgrade())
		notify_mainpid_from_parent();
	/* unprivileged already, never sandboxed, and forked before the loop's descriptors exist */
	int upgrade_fd = upgrade_start(argv, &st.ls, st.tls, err, sizeof err);
	if (upgrade_fd < 0)
		log_warnx("%s", err);
	if (server_init(&srv, &cfg, &st.ls, st.tls, st.root_fds, &st.log, err, sizeof err) < 0)
		fatalx("%s", err);
	server_set_upgrade(&srv, upgrade_fd, upgrade_helper_pidfd());
	/* Last of start-up, once the loop has its epoll and signal descriptors too (so neither
	 * they nor libev's uname are in the allow-list); the next byte read is a client's. */
	if (sandbox_apply(&cfg, st.root_fds, sandbox, sizeof sandbox, err, sizeof err) < 0)
		fatalx("%s", err);
	log_info("%s sandbox=%s", line, sandbox);
	/* the workers' threads inherit the drop, NoNewPrivs, Landlock and the seccomp filter */
	if (server_start_workers(&srv, err, sizeof err) < 0)
		fatalx("%s", err);
	log_info("%u worker%s", cfg.workers, cfg.workers == 1 ? "" : "s (threads)");
	for (size_t i = 0; i < cfg.n_sites; i++)
		log_info("serving %s%s%s", st.real[i], site_label(&cfg, i, err, sizeof err),
			 i == cfg.default_site && cfg.n_sites > 1 ? ", the default site" : "");
	notify_ready("serving %s", st.real[cfg.default_site]);
	upgrade_ready();
	server_run(&srv);
	server_free(&srv); /* and the configuration and roots, which the server took over */
	tls_ctx_free(st.tls);
	log_close();
	return 0;
}
