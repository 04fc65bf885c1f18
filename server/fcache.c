/* fcache.c — open files kept for FCACHE_TTL, shared by the responses that use them. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fcache.h"
#include "uri.h"

struct fcache_entry {
	struct fcache_entry *hnext; /* hash chain */
	struct fcache_entry *prev;  /* LRU list of live entries */
	struct fcache_entry *next;
	int fd;
	unsigned refs;
	unsigned stale : 1; /* expired or evicted while in use: closed at the last release */
	uint32_t hash;
	int root_fd; /* the site's root the key is beneath: sites share the cache, not files */
	double opened;
	struct stat st;
	char key[FCACHE_KEY_MAX];
};

#define NBUCKETS (sizeof((struct fcache *)0)->buckets / sizeof(struct fcache_entry *))

/* What fd names, as /proc shows it: 0, or -1 with errno. */
static int fd_path(int fd, char *buf, size_t size)
{
	char proc[40];
	ssize_t n;

	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	n = readlinkat(AT_FDCWD, proc, buf, size);
	if (n < 0)
		return -1;
	if ((size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	buf[n] = '\0';
	return 0;
}

/* A symlink was on the way to fd: 0 when the file opened is not hidden (uri_hidden) relative
 * to the root's real path, else -1 with errno (ENOENT for a hidden one). */
static int check_opened(int root_fd, int fd)
{
	char root[PATH_MAX], path[PATH_MAX];
	size_t n;

	if (fd_path(root_fd, root, sizeof root) < 0 || fd_path(fd, path, sizeof path) < 0)
		return -1;
	n = strcmp(root, "/") == 0 ? 0 : strlen(root);
	if (strncmp(path, root, n) != 0 || (path[n] != '/' && path[n] != '\0')) {
		errno = EXDEV; /* the root was moved meanwhile: refuse rather than guess */
		return -1;
	}
	n += path[n] == '/';
	if (uri_hidden(path + n, strlen(path + n))) {
		errno = ENOENT;
		return -1;
	}
	return 0;
}

/*
 * Opens path beneath dirfd. The common case, no symlink on the way, costs one openat2. When
 * one is (ELOOP), the path is opened again following symlinks that stay beneath the root, and
 * the dotfile rule is applied to what was actually opened: a symlink cannot reach a hidden file.
 */
static int open_beneath(int dirfd, const char *path)
{
	struct open_how how = {
	    .flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY,
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
	};
	const char *p = *path ? path : ".";
	int fd = (int)syscall(SYS_openat2, dirfd, p, &how, sizeof how);
	int e;

	if (fd >= 0 || errno != ELOOP)
		return fd;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	fd = (int)syscall(SYS_openat2, dirfd, p, &how, sizeof how);
	if (fd < 0 || check_opened(dirfd, fd) == 0)
		return fd;
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

static uint32_t hash(int root_fd, const char *s)
{
	uint32_t h = (2166136261u ^ (uint32_t)root_fd) * 16777619u; /* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

int fcache_init(struct fcache *fc)
{
	memset(fc, 0, sizeof *fc);
	fc->entries = calloc(FCACHE_ENTRIES, sizeof *fc->entries);
	if (!fc->entries)
		return -1;
	for (size_t i = 0; i < FCACHE_ENTRIES; i++) {
		fc->entries[i].fd = -1;
		fc->entries[i].next = fc->free;
		fc->free = &fc->entries[i];
	}
	return 0;
}

void fcache_free(struct fcache *fc)
{
	for (size_t i = 0; fc->entries && i < FCACHE_ENTRIES; i++)
		if (fc->entries[i].fd >= 0)
			close(fc->entries[i].fd);
	free(fc->entries);
	fc->entries = NULL;
}

static void lru_unlink(struct fcache *fc, struct fcache_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		fc->lru_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		fc->lru_tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_append(struct fcache *fc, struct fcache_entry *e)
{
	e->next = NULL;
	e->prev = fc->lru_tail;
	if (fc->lru_tail)
		fc->lru_tail->next = e;
	else
		fc->lru_head = e;
	fc->lru_tail = e;
}

static void put_free(struct fcache *fc, struct fcache_entry *e)
{
	if (e->fd >= 0) /* -1: a remembered absence */
		close(e->fd);
	e->fd = -1;
	e->stale = 0;
	e->next = fc->free;
	fc->free = e;
}

/* Takes e out of the hash and LRU list; closes it now, or at its last release. */
static void retire(struct fcache *fc, struct fcache_entry *e)
{
	struct fcache_entry **p = &fc->buckets[e->hash % NBUCKETS];

	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
	lru_unlink(fc, e);
	if (e->refs == 0)
		put_free(fc, e);
	else
		e->stale = 1;
}

static struct fcache_entry *lookup(struct fcache *fc, int root_fd, const char *path, uint32_t h)
{
	for (struct fcache_entry *e = fc->buckets[h % NBUCKETS]; e; e = e->hnext)
		if (e->hash == h && e->root_fd == root_fd && strcmp(e->key, path) == 0)
			return e;
	return NULL;
}

/* A free entry, evicting the least recently used one not in use; NULL when all are busy. */
static struct fcache_entry *take_slot(struct fcache *fc)
{
	struct fcache_entry *e;

	if (!fc->free)
		for (e = fc->lru_head; e; e = e->next)
			if (e->refs == 0) {
				retire(fc, e);
				break;
			}
	e = fc->free;
	if (e)
		fc->free = e->next;
	return e;
}

static int open_stat(int root_fd, const char *path, struct stat *st)
{
	int fd = open_beneath(root_fd, path);

	if (fd >= 0 && fstat(fd, st) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* The inode behind the cached descriptor is as it was: not written, truncated, chmod-ed. */
static int unchanged(const struct fcache_entry *e)
{
	struct stat now;

	return fstat(e->fd, &now) == 0 && now.st_size == e->st.st_size &&
	       now.st_mtim.tv_sec == e->st.st_mtim.tv_sec &&
	       now.st_mtim.tv_nsec == e->st.st_mtim.tv_nsec &&
	       now.st_ctim.tv_sec == e->st.st_ctim.tv_sec &&
	       now.st_ctim.tv_nsec == e->st.st_ctim.tv_nsec;
}

/* Puts e (a free slot) under path: an open file, or fd -1 for a path remembered missing. */
static void insert(struct fcache *fc, struct fcache_entry *e, int root_fd, const char *path,
		   size_t len, uint32_t h, int fd, double now)
{
	memcpy(e->key, path, len + 1);
	e->hash = h;
	e->root_fd = root_fd;
	e->fd = fd;
	e->refs = fd >= 0;
	e->opened = now;
	e->hnext = fc->buckets[h % NBUCKETS];
	fc->buckets[h % NBUCKETS] = e;
	lru_append(fc, e);
}

static int cache_open(struct fcache *fc, int root_fd, const char *path, double now, struct stat *st,
		      struct fcache_ref *ref, int remember_missing)
{
	size_t len = strlen(path);
	uint32_t h = hash(root_fd, path);
	struct fcache_entry *e = len < FCACHE_KEY_MAX ? lookup(fc, root_fd, path, h) : NULL;
	int fd;

	if (e && now - e->opened < FCACHE_TTL && now >= e->opened && e->fd < 0) {
		errno = ENOENT;
		return -1;
	}
	if (e && now - e->opened < FCACHE_TTL && now >= e->opened && unchanged(e)) {
		e->refs++;
		lru_unlink(fc, e);
		lru_append(fc, e);
		*st = e->st;
		*ref = (struct fcache_ref){e->fd, e};
		return 0;
	}
	if (e)
		retire(fc, e);
	if ((fd = open_stat(root_fd, path, st)) < 0) {
		if (remember_missing && errno == ENOENT && len < FCACHE_KEY_MAX &&
		    (e = take_slot(fc))) {
			insert(fc, e, root_fd, path, len, h, -1, now);
			errno = ENOENT;
		}
		return -1;
	}
	*ref = (struct fcache_ref){fd, NULL};
	if (len >= FCACHE_KEY_MAX || !(e = take_slot(fc)))
		return 0;
	insert(fc, e, root_fd, path, len, h, fd, now);
	e->st = *st;
	ref->entry = e;
	return 0;
}

int fcache_open(struct fcache *fc, int root_fd, const char *path, double now, struct stat *st,
		struct fcache_ref *ref)
{
	return cache_open(fc, root_fd, path, now, st, ref, 0);
}

int fcache_open_optional(struct fcache *fc, int root_fd, const char *path, double now,
			 struct stat *st, struct fcache_ref *ref)
{
	return cache_open(fc, root_fd, path, now, st, ref, 1);
}

void fcache_forget_root(struct fcache *fc, int root_fd)
{
	struct fcache_entry *e = fc->lru_head, *next;

	for (; e; e = next) {
		next = e->next;
		if (e->root_fd == root_fd)
			retire(fc, e);
	}
}

void fcache_release(struct fcache *fc, struct fcache_ref *ref)
{
	struct fcache_entry *e = ref->entry;

	if (ref->fd < 0)
		return;
	if (!e)
		close(ref->fd);
	else if (--e->refs == 0 && e->stale)
		put_free(fc, e);
	ref->fd = -1;
	ref->entry = NULL;
}
