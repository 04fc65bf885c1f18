/* test_notify.c — the sd_notify client (server/notify.h): NOTIFY_SOCKET parsing (paths,
 * @abstract names, length limits, what is refused), the datagrams a real receiving socket
 * gets (READY=1 with MAINPID= and STATUS=, STOPPING=1, RELOADING=1 with MONOTONIC_USEC=,
 * MAINPID=), and a receiver that never reads: sends neither block nor stop, and the failure
 * is logged once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"

#define OFF offsetof(struct sockaddr_un, sun_path)

static void test_parse_path(void **state)
{
	struct sockaddr_un sa;
	socklen_t len;
	char err[256];

	(void)state;
	assert_int_equal(notify_addr_parse("/run/systemd/notify", &sa, &len, err, sizeof err), 0);
	assert_int_equal(sa.sun_family, AF_UNIX);
	assert_string_equal(sa.sun_path, "/run/systemd/notify");
	assert_int_equal(len, OFF + strlen("/run/systemd/notify") + 1); /* with its NUL */
}

static void test_parse_abstract(void **state)
{
	struct sockaddr_un sa;
	socklen_t len;
	char err[256];

	(void)state;
	assert_int_equal(notify_addr_parse("@sd-notify/x", &sa, &len, err, sizeof err), 0);
	assert_int_equal(sa.sun_path[0], '\0');
	assert_memory_equal(sa.sun_path + 1, "sd-notify/x", 11);
	assert_int_equal(len, OFF + 12); /* the NUL, the name, no NUL after it */
}

/* A path fills sun_path with its NUL at most; an abstract name may use every byte. */
static void test_parse_length_limits(void **state)
{
	struct sockaddr_un sa;
	socklen_t len;
	char err[256], v[sizeof sa.sun_path + 2];
	size_t max = sizeof sa.sun_path;

	(void)state;
	memset(v, 'a', sizeof v);
	v[0] = '/';
	v[max - 1] = '\0';
	assert_int_equal(notify_addr_parse(v, &sa, &len, err, sizeof err), 0);
	assert_int_equal(len, OFF + max);
	v[max - 1] = 'a';
	v[max] = '\0';
	assert_int_equal(notify_addr_parse(v, &sa, &len, err, sizeof err), -1);
	assert_non_null(strstr(err, "longer than"));
	v[0] = '@';
	assert_int_equal(notify_addr_parse(v, &sa, &len, err, sizeof err), 0);
	assert_int_equal(len, OFF + max);
	v[max] = 'a';
	v[max + 1] = '\0';
	assert_int_equal(notify_addr_parse(v, &sa, &len, err, sizeof err), -1);
}

static void test_parse_refuses(void **state)
{
	static const char *bad[] = {"", "@", "/", "run/systemd/notify", "vsock:2:1234", "./notify"};
	struct sockaddr_un sa;
	socklen_t len;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_int_equal(notify_addr_parse(bad[i], &sa, &len, err, sizeof err), -1);
		assert_non_null(strstr(err, "NOTIFY_SOCKET="));
	}
}

/* A bound datagram socket standing in for systemd; value is what NOTIFY_SOCKET says. */
static int receiver(const char *value, int rcvbuf)
{
	struct sockaddr_un sa;
	socklen_t len;
	char err[256];
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (rcvbuf)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
	assert_int_equal(notify_addr_parse(value, &sa, &len, err, sizeof err), 0);
	if (value[0] == '/')
		(void)unlink(value);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", value, 1), 0);
	assert_int_equal(notify_open(err, sizeof err), 1);
	return fd;
}

static void receive(int fd, char *buf, size_t size)
{
	ssize_t n = recv(fd, buf, size - 1, MSG_DONTWAIT);

	assert_true(n > 0);
	buf[n] = '\0';
}

static void test_unset_is_a_no_op(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(unsetenv("NOTIFY_SOCKET"), 0);
	assert_int_equal(notify_open(err, sizeof err), 0);
	notify_ready("nothing listens");
	notify_stopping();
	assert_int_equal(setenv("NOTIFY_SOCKET", "/nonexistent/notify", 1), 0);
	assert_int_equal(notify_open(err, sizeof err), -1);
	assert_non_null(strstr(err, "connect"));
}

static void test_messages_on_a_path_socket(void **state)
{
	char path[64], buf[512], want[128];
	struct timespec now;
	unsigned long long usec, now_usec;

	(void)state;
	snprintf(path, sizeof path, "/tmp/dropcap-test-notify-%d", (int)getpid());
	int fd = receiver(path, 0);
	notify_ready("serving %s\nSTOPPING=1", "/srv/www"); /* a newline cannot inject a line */
	receive(fd, buf, sizeof buf);
	snprintf(want, sizeof want, "READY=1\nMAINPID=%d\nSTATUS=serving /srv/www", (int)getpid());
	assert_string_equal(buf, want);
	notify_stopping();
	receive(fd, buf, sizeof buf);
	assert_string_equal(buf, "STOPPING=1\nSTATUS=finishing in-flight responses, then exiting");
	notify_reloading();
	receive(fd, buf, sizeof buf);
	assert_int_equal(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu\n", &usec), 1);
	clock_gettime(CLOCK_MONOTONIC, &now);
	now_usec =
	    (unsigned long long)now.tv_sec * 1000000ULL + (unsigned long long)now.tv_nsec / 1000;
	assert_true(usec <= now_usec && now_usec - usec < 5000000ULL);
	notify_mainpid(4242);
	receive(fd, buf, sizeof buf);
	assert_string_equal(buf, "MAINPID=4242");
	close(fd);
	unlink(path);
}

static void test_messages_on_an_abstract_socket(void **state)
{
	char name[64], buf[512];

	(void)state;
	snprintf(name, sizeof name, "@dropcap-test-notify-%d", (int)getpid());
	int fd = receiver(name, 0);
	notify_stopping();
	receive(fd, buf, sizeof buf);
	assert_non_null(strstr(buf, "STOPPING=1"));
	close(fd);
}

/* Captures what the module logs on stderr while fn runs; returns the bytes captured. */
static size_t capture_stderr(void (*fn)(void), char *out, size_t size)
{
	int p[2], saved = dup(2);
	ssize_t n;

	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	assert_true(saved >= 0);
	assert_int_equal(dup2(p[1], 2), 2);
	fn();
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	close(p[1]);
	n = read(p[0], out, size - 1);
	close(p[0]);
	out[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

static void many_stops(void)
{
	for (int i = 0; i < 2000; i++)
		notify_stopping();
}

/* systemd stalled: its queue fills, every later send fails at once, one warning says so. */
static void test_full_receiver_never_blocks_warns_once(void **state)
{
	char name[64], out[4096];
	struct timespec t0, t1;

	(void)state;
	snprintf(name, sizeof name, "@dropcap-test-notify-full-%d", (int)getpid());
	int fd = receiver(name, 1); /* the kernel's minimum buffer */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	capture_stderr(many_stops, out, sizeof out);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	const char *first = strstr(out, "cannot notify systemd");
	assert_non_null(first);
	assert_null(strstr(first + 1, "cannot notify systemd"));
	assert_non_null(strstr(out, "Resource temporarily unavailable"));
	close(fd); /* then the receiver is gone: still no second warning, no signal */
	capture_stderr(many_stops, out, sizeof out);
	assert_null(strstr(out, "cannot notify systemd"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_path),
	    cmocka_unit_test(test_parse_abstract),
	    cmocka_unit_test(test_parse_length_limits),
	    cmocka_unit_test(test_parse_refuses),
	    cmocka_unit_test(test_unset_is_a_no_op),
	    cmocka_unit_test(test_messages_on_a_path_socket),
	    cmocka_unit_test(test_messages_on_an_abstract_socket),
	    cmocka_unit_test(test_full_receiver_never_blocks_warns_once),
	};

	return cmocka_run_group_tests_name("notify", tests, NULL, NULL);
}
