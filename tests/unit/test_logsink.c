/* test_logsink.c — the non-blocking line buffer behind the access log and stderr
 * (server/logsink.h), on real pipes whose reader stalls: it never blocks, drops whole lines
 * when full and reports their number once, after the output drained; writes never split a
 * line (two sinks into one pipe stay line-clean); a write error is reported once; the shared
 * description stays blocking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>

#include "guard.h"
#include "logsink.h"

#define LINE_LEN 100

static struct logsink sink_a, sink_b; /* 64 KiB each: not on the stack */

/* A pipe holding one page, so that it is full after 4 KiB: {read end, write end}. */
static void small_pipe(int p[2])
{
	assert_int_equal(pipe(p), 0);
	assert_true(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 4096);
}

/* Line i of sink tag: LINE_LEN bytes, newline included, e.g. "A000042 xxxx...\n". */
static void make_line(char *out, char tag, int i)
{
	int n = snprintf(out, LINE_LEN, "%c%06d ", tag, i);

	memset(out + n, tag == 'A' ? 'x' : 'y', LINE_LEN - 1 - (size_t)n);
	out[LINE_LEN - 1] = '\n';
}

/* Queues a line through logsink_space / logsink_commit, as accesslog.c does. */
static void queue(struct logsink *s, char tag, int i)
{
	size_t room;
	char line[LINE_LEN], *p = logsink_space(s, &room);

	assert_non_null(p);
	make_line(line, tag, i);
	if (room >= LINE_LEN)
		memcpy(p, line, LINE_LEN);
	logsink_commit(s, LINE_LEN);
}

/* Reads what the pipe holds now (non-blocking) into buf at *len. */
static void drain(int fd, char *buf, size_t cap, size_t *len)
{
	ssize_t n;

	while (*len < cap && (n = read(fd, buf + *len, cap - *len)) > 0)
		*len += (size_t)n;
}

/* Every line in buf is a whole line of A or B, and each sink's lines come in order. */
static int check_lines(const char *buf, size_t len, int *count_a, int *count_b)
{
	char want[LINE_LEN];
	int next[2] = {0, 0};

	for (size_t off = 0; off < len; off += LINE_LEN) {
		char tag = buf[off];
		int i;
		if (len - off < LINE_LEN || (tag != 'A' && tag != 'B') ||
		    sscanf(buf + off + 1, "%6d", &i) != 1 || i < next[tag == 'B'])
			return -1;
		make_line(want, tag, i);
		if (memcmp(buf + off, want, LINE_LEN) != 0)
			return -1;
		next[tag == 'B'] = i + 1;
		(tag == 'A' ? (*count_a)++ : (*count_b)++);
	}
	return 0;
}

static void test_full_drops_whole_lines_reports_once(void **state)
{
	static char got[256 * 1024];
	int p[2], total = 1000, a = 0, b = 0, reports = 0;
	unsigned long long reported = 0;
	struct logsink_news news;
	size_t len = 0;
	char err[256];

	(void)state;
	small_pipe(p);
	logsink_init(&sink_a);
	assert_int_equal(logsink_adopt(&sink_a, p[1], 0, err, sizeof err), 0);
	assert_int_not_equal(sink_a.fd, p[1]);		 /* a description of its own ... */
	assert_false(fcntl(p[1], F_GETFL) & O_NONBLOCK); /* ... the shared one stays blocking */
	for (int i = 0; i < total; i++)
		queue(&sink_a, 'A', i);
	assert_true(sink_a.dropped > 0);
	assert_int_equal(logsink_flush(&sink_a, &news), sink_a.fd); /* would block: wait */
	assert_int_equal(news.dropped, 0);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	for (int round = 0; round < 1000; round++) {
		drain(p[0], got, sizeof got, &len);
		int fd = logsink_flush(&sink_a, &news);
		reports += news.dropped > 0;
		reported += news.dropped;
		if (fd < 0)
			break;
	}
	drain(p[0], got, sizeof got, &len);
	assert_int_equal(reports, 1);
	assert_int_equal(check_lines(got, len, &a, &b), 0);
	assert_int_equal((unsigned long long)a + reported, (unsigned long long)total);
	assert_int_equal(logsink_close(&sink_a, 0), 0);
	close(p[0]);
	close(p[1]);
}

/* Two writers into one stalled pipe (stdout and stderr both into journald's stream): no line
 * is ever cut by a partial write and completed after the other writer's. */
static void test_two_sinks_one_pipe_stay_line_clean(void **state)
{
	static char got[512 * 1024];
	int p[2], a = 0, b = 0;
	struct logsink_news news;
	size_t len = 0;
	char err[256];

	(void)state;
	small_pipe(p);
	logsink_init(&sink_a);
	logsink_init(&sink_b);
	assert_int_equal(logsink_adopt(&sink_a, p[1], 0, err, sizeof err), 0);
	assert_int_equal(logsink_adopt(&sink_b, p[1], 0, err, sizeof err), 0);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 2000; i++) {
		queue(&sink_a, 'A', i);
		queue(&sink_b, 'B', i);
		if (i % 7 == 0) { /* the reader takes a little now and then */
			char some[1000];
			ssize_t n = read(p[0], some, sizeof some);
			if (n > 0 && len + (size_t)n <= sizeof got) {
				memcpy(got + len, some, (size_t)n);
				len += (size_t)n;
			}
		}
		(void)logsink_flush(&sink_a, &news);
		(void)logsink_flush(&sink_b, &news);
	}
	for (int round = 0; round < 1000; round++) {
		drain(p[0], got, sizeof got, &len);
		int fa = logsink_flush(&sink_a, &news), fb = logsink_flush(&sink_b, &news);
		if (fa < 0 && fb < 0)
			break;
	}
	drain(p[0], got, sizeof got, &len);
	assert_int_equal(check_lines(got, len, &a, &b), 0);
	assert_true(a > 0 && b > 0);
	logsink_close(&sink_a, 0);
	logsink_close(&sink_b, 0);
	close(p[0]);
	close(p[1]);
}

static void test_write_error_reported_once(void **state)
{
	int p[2];
	struct logsink_news news;
	char err[256];

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe(p), 0);
	logsink_init(&sink_a);
	assert_int_equal(logsink_adopt(&sink_a, p[1], 0, err, sizeof err), 0);
	close(p[0]); /* the reader is gone for good: EPIPE */
	queue(&sink_a, 'A', 0);
	assert_int_equal(logsink_flush(&sink_a, &news), -1);
	assert_int_equal(news.failed, EPIPE);
	queue(&sink_a, 'A', 1);
	assert_int_equal(logsink_flush(&sink_a, &news), -1);
	assert_int_equal(news.failed, 0); /* said once */
	assert_int_equal(news.dropped, 0);
	assert_int_equal(logsink_close(&sink_a, 0), 2);
	close(p[1]);
}

static void test_close_waits_a_bounded_time(void **state)
{
	int p[2];
	char err[256];
	struct timespec t0, t1;

	(void)state;
	small_pipe(p);
	logsink_init(&sink_a);
	assert_int_equal(logsink_adopt(&sink_a, p[1], 0, err, sizeof err), 0);
	for (int i = 0; i < 200; i++)
		queue(&sink_a, 'A', i);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	unsigned long long lost = logsink_close(&sink_a, 200);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(took >= 0.15 && took < 1.0);
	assert_true(lost > 0 && lost < 200); /* the pipe took some, the rest is counted */
	assert_int_equal(sink_a.fd, -1);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_drops_whole_lines_reports_once),
	    cmocka_unit_test(test_two_sinks_one_pipe_stay_line_clean),
	    cmocka_unit_test(test_write_error_reported_once),
	    cmocka_unit_test(test_close_waits_a_bounded_time),
	};

	return cmocka_run_group_tests_name("logsink", tests, NULL, NULL);
}
