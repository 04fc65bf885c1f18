/* gen.c — configuration generations: reference counted, freed with their last response. */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcache.h"
#include "gen.h"

/* The part the workers share: a reload hands each worker its own struct gen over it. */
struct gen_shared {
	atomic_uint workers; /* the struct gens over it */
};

struct gen *gen_new(struct config *cfg, const int *root_fds, struct fcache *fc)
{
	struct gen *g = malloc(sizeof *g);
	struct gen_shared *sh = malloc(sizeof *sh);

	if (!g || !sh) {
		free(g);
		free(sh);
		return NULL;
	}
	atomic_init(&sh->workers, 1);
	g->refs = 1;
	g->cfg = cfg;
	memcpy(g->root_fds, root_fds, sizeof g->root_fds);
	g->fc = fc;
	g->shared = sh;
	return g;
}

struct gen *gen_share(const struct gen *g, struct fcache *fc)
{
	struct gen *n = malloc(sizeof *n);

	if (!n)
		return NULL;
	*n = *g;
	n->refs = 1;
	n->fc = fc;
	atomic_fetch_add_explicit(&n->shared->workers, 1, memory_order_relaxed);
	return n;
}

void gen_release(struct gen *g)
{
	if (!g)
		return;
	free(g->shared);
	free(g);
}

void gen_get(struct gen *g)
{
	g->refs++;
}

void gen_close_roots(const struct config *cfg, int *root_fds)
{
	for (size_t i = 0; i < cfg->n_sites; i++) {
		int *fds[2] = {&root_fds[i], &root_fds[CONFIG_ACME_FD(i)]};
		for (size_t k = 0; k < 2; k++)
			if (*fds[k] >= 0) {
				close(*fds[k]);
				*fds[k] = -1;
			}
	}
}

void gen_put(struct gen *g)
{
	if (!g || --g->refs > 0)
		return;
	for (size_t i = 0; g->fc && i < g->cfg->n_sites; i++) {
		fcache_forget_root(g->fc, g->root_fds[i]);
		if (g->root_fds[CONFIG_ACME_FD(i)] >= 0)
			fcache_forget_root(g->fc, g->root_fds[CONFIG_ACME_FD(i)]);
	}
	/* release: this worker's forgetting happens before another closes the descriptors */
	if (atomic_fetch_sub_explicit(&g->shared->workers, 1, memory_order_acq_rel) > 1) {
		free(g);
		return;
	}
	free(g->shared);
	gen_close_roots(g->cfg, g->root_fds);
	config_free(g->cfg);
	free(g->cfg);
	free(g);
}

/* 0 when the sandbox and the permissions let this process read path (a directory when dir),
 * 1 when they do not (EACCES, EPERM), -1 when it is missing or not a directory. */
static int probe(const char *path, int dir, int *errnum)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | (dir ? O_DIRECTORY : 0));

	*errnum = errno;
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return *errnum == EACCES || *errnum == EPERM ? 1 : -1;
}

static int probe_msg(const struct config *cfg, size_t i, const char *key, const char *path, int dir,
		     char *err, size_t errlen)
{
	int e, r = probe(path, dir, &e);

	if (r > 0)
		snprintf(err, errlen,
			 "%s:%u: %s %s cannot be read by the running process (%s): its sandbox "
			 "allows only what it was started with",
			 cfg->config_file, config_key_line(cfg, i, key), key, path, strerror(e));
	else if (r < 0)
		snprintf(err, errlen, "%s:%u: cannot serve %s %s: %s", cfg->config_file,
			 config_key_line(cfg, i, key), key, path, strerror(e));
	return r;
}

static int probe_site(const struct config *cfg, size_t i, char *err, size_t errlen)
{
	const struct config_site *s = &cfg->sites[i];
	int r;

	if ((r = probe_msg(cfg, i, "root", s->root, 1, err, errlen)) != 0)
		return r;
	if (s->acme_root && (r = probe_msg(cfg, i, "acme-root", s->acme_root, 1, err, errlen)))
		return r;
	if (s->cert && (r = probe_msg(cfg, i, "cert", s->cert, 0, err, errlen)) != 0)
		return r;
	return s->key ? probe_msg(cfg, i, "key", s->key, 0, err, errlen) : 0;
}

int gen_open_roots(const struct config *cfg, int *root_fds, char *err, size_t errlen)
{
	int r = 0;

	for (size_t i = 0; i < CONFIG_ROOT_FDS; i++)
		root_fds[i] = -1;
	for (size_t i = 0; i < cfg->n_sites && r == 0; i++) {
		const struct config_site *s = &cfg->sites[i];
		if ((r = probe_site(cfg, i, err, errlen)) != 0)
			break;
		root_fds[i] = open(s->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (s->acme_root)
			root_fds[CONFIG_ACME_FD(i)] =
			    open(s->acme_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (root_fds[i] < 0 || (s->acme_root && root_fds[CONFIG_ACME_FD(i)] < 0))
			r = -1 - 0 * snprintf(err, errlen, "%s:%u: cannot open %s: %s",
					      cfg->config_file, s->line, s->root, strerror(errno));
	}
	if (r != 0)
		gen_close_roots(cfg, root_fds);
	return r;
}
