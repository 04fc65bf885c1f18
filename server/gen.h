/* gen.h — a configuration generation: what a SIGHUP replaces whole, kept alive by the
 * responses that started with it. */
#ifndef DROPCAP_GEN_H
#define DROPCAP_GEN_H

#include "config.h"

struct fcache;

/*
 * The configuration and the directories it names, opened, as one worker (event loop) sees it.
 * The worker holds one reference to its current generation; a response takes one when it builds
 * its plan (its site, header values and the access log's site name point into cfg) and drops it
 * when it is done. These counts are the worker's own (no atomics on the request path). The last
 * one forgets the files the worker's fcache holds beneath the directories (their descriptor
 * numbers a later generation may reuse) and leaves the shared part; the last worker to leave it
 * closes the directories and frees cfg. The TLS credentials are counted by their sessions
 * already (tls.c) and are swapped beside the generation.
 */
struct gen_shared;
struct gen {
	unsigned refs;		       /* the worker's, taken and dropped on its thread only */
	struct config *cfg;	       /* shared: config_free and free by the last worker */
	int root_fds[CONFIG_ROOT_FDS]; /* indexed like cfg->sites, then CONFIG_ACME_FD; -1: none */
	struct fcache *fc;	       /* the worker's; NULL: forget nothing (never used) */
	struct gen_shared *shared;     /* counts the workers' generations over cfg and the roots */
};

/* A generation owning cfg (heap) and root_fds (copied), with one reference; NULL when out of
 * memory (nothing is then taken over). */
struct gen *gen_new(struct config *cfg, const int *root_fds, struct fcache *fc);
/* Another worker's view of g's configuration and roots (which stay open while either is
 * referenced), over that worker's fcache, with one reference; NULL when out of memory. Thread
 * safe against other workers' gen_put. */
struct gen *gen_share(const struct gen *g, struct fcache *fc);
/* Frees g, made by gen_new and never shared or used, leaving cfg and root_fds to the caller. */
void gen_release(struct gen *g);
void gen_get(struct gen *g);
void gen_put(struct gen *g); /* NULL: nothing */

/* Opens each root and --acme-root of cfg into root_fds as the run user, under the sandbox, and
 * checks that the sandbox lets this process read each (its rules were fixed at start, and
 * O_PATH opens are not checked by Landlock, so a directory is read once here), and that each
 * certificate and key can be opened. Returns 0; 1 when one cannot be read (err names its line:
 * that needs an upgrade, which sets new rules up); -1 when one does not exist or is no
 * directory (err names the line). Nothing stays open unless 0. */
int gen_open_roots(const struct config *cfg, int *root_fds, char *err, size_t errlen);
void gen_close_roots(const struct config *cfg, int *root_fds);

#endif
