/*
 * fcache.h — a small per-loop cache of open files: a hot file costs one fstat per request
 * instead of openat2 + fstat + close. Each hit checks the cached inode with fstat, so a
 * file written, truncated or chmod-ed in place is reopened at once; a path that comes to
 * name another inode (rename over it, unlink) is seen within FCACHE_TTL, and until then
 * the old file is served whole and consistent.
 */
#ifndef DROPCAP_FCACHE_H
#define DROPCAP_FCACHE_H

#include <stddef.h>
#include <sys/stat.h>

#define FCACHE_ENTRIES 256 /* open descriptors the cache may hold */
#define FCACHE_KEY_MAX 256 /* longer paths are opened uncached */
#define FCACHE_TTL 1.0	   /* seconds an entry is trusted before it is opened again */

struct fcache_entry;

struct fcache {
	struct fcache_entry *entries; /* FCACHE_ENTRIES, allocated once */
	struct fcache_entry *buckets[2 * FCACHE_ENTRIES];
	struct fcache_entry *lru_head; /* least recently used first */
	struct fcache_entry *lru_tail;
	struct fcache_entry *free;
};

/* A file in use: release it when the response is done. */
struct fcache_ref {
	int fd;
	struct fcache_entry *entry; /* NULL: not cached, fd is the caller's to close */
};

int fcache_init(struct fcache *fc);
/* Closes every cached descriptor. */
void fcache_free(struct fcache *fc);

/* Forgets every file cached beneath root_fd, before it is closed (a reload replaced it): a
 * later directory may get its number. Those in use close at their last release. */
void fcache_forget_root(struct fcache *fc, int root_fd);

/*
 * Opens path beneath root_fd (openat2 RESOLVE_BENEATH, O_NONBLOCK) and fstat()s it, or
 * returns the entry cached less than FCACHE_TTL ago whose inode has not changed since
 * (size, mtime, ctime). When symlinks lead to the file, what was opened must not be hidden
 * (uri_hidden, relative to the root's real path, read from /proc/self/fd): else ENOENT;
 * a cached entry was checked when it was opened. Returns 0 with *ref and *st filled,
 * or -1 with errno set. now: the loop's time in seconds.
 */
int fcache_open(struct fcache *fc, int root_fd, const char *path, double now, struct stat *st,
		struct fcache_ref *ref);
/* As fcache_open, for a file that is usually missing (a precompressed variant): its absence
 * (ENOENT) is remembered for FCACHE_TTL too, so a missing .br costs no openat2 per request.
 * Only paths derived from a file that exists should come here, so that requests for random
 * names cannot fill the cache with absences. */
int fcache_open_optional(struct fcache *fc, int root_fd, const char *path, double now,
			 struct stat *st, struct fcache_ref *ref);
/* Gives ref back (closes it when it was not cached, or when its entry expired meanwhile). */
void fcache_release(struct fcache *fc, struct fcache_ref *ref);

#endif
