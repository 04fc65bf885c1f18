/*
 * test_fcache.c — the open-file cache (server/fcache.h): what it remembers and for how long.
 * A variant's absence is remembered for FCACHE_TTL (no openat2 per request for a missing .br);
 * an ordinary file's absence never is; an entry is trusted for FCACHE_TTL, then looked up again.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fcache.h"

struct fixture {
	char dir[64];
	int root_fd;
	struct fcache fc;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/dropcap-fcache-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->root_fd = open(f->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->root_fd >= 0);
	assert_int_equal(fcache_init(&f->fc), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	fcache_free(&f->fc);
	close(f->root_fd);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void create(const struct fixture *f, const char *name)
{
	char path[128];
	int fd;

	snprintf(path, sizeof path, "%s/%s", f->dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
}

/* fcache_open (or _optional) at time now: 0 (released at once), or the errno of the failure. */
static int try_open(struct fixture *f, const char *name, double now, int optional)
{
	struct fcache_ref ref;
	struct stat st;
	int r = optional ? fcache_open_optional(&f->fc, f->root_fd, name, now, &st, &ref)
			 : fcache_open(&f->fc, f->root_fd, name, now, &st, &ref);

	if (r < 0)
		return errno;
	fcache_release(&f->fc, &ref);
	return 0;
}

static void test_missing_variant_remembered_for_ttl(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(try_open(f, "page.html.br", 100.0, 1), ENOENT);
	create(f, "page.html.br");
	assert_int_equal(try_open(f, "page.html.br", 100.0, 1), ENOENT);
	assert_int_equal(try_open(f, "page.html.br", 100.0 + FCACHE_TTL / 2, 1), ENOENT);
	/* fcache_open honours a fresh absence too: the same name, the same answer */
	assert_int_equal(try_open(f, "page.html.br", 100.0 + FCACHE_TTL / 2, 0), ENOENT);
	assert_int_equal(try_open(f, "page.html.br", 100.0 + FCACHE_TTL, 1), 0);
}

static void test_missing_file_not_remembered(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(try_open(f, "new.html", 100.0, 0), ENOENT);
	create(f, "new.html");
	assert_int_equal(try_open(f, "new.html", 100.0, 0), 0);
}

static void test_other_errors_not_remembered(void **state)
{
	struct fixture *f = *state;

	/* a path through a regular file: ENOTDIR, never stored as an absence */
	create(f, "file");
	assert_int_equal(try_open(f, "file/x.br", 100.0, 1), ENOTDIR);
	assert_int_equal(try_open(f, "file/x.br", 100.0, 1), ENOTDIR);
}

static void test_many_absences_do_not_break_the_cache(void **state)
{
	struct fixture *f = *state;
	char name[32];

	create(f, "kept.html");
	assert_int_equal(try_open(f, "kept.html", 100.0, 0), 0);
	for (int i = 0; i < 4 * FCACHE_ENTRIES; i++) { /* evicts and reuses absences and files */
		snprintf(name, sizeof name, "v%d.br", i);
		assert_int_equal(try_open(f, name, 100.0, 1), ENOENT);
	}
	assert_int_equal(try_open(f, "kept.html", 100.0, 0), 0);
	assert_int_equal(try_open(f, "v0.br", 100.0, 1), ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_missing_variant_remembered_for_ttl, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_missing_file_not_remembered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_errors_not_remembered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_absences_do_not_break_the_cache, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
