/* test_procstatus.c — the status-file parser behind the privilege-drop proof (server/procstatus.h)
 * fails closed: a missing or garbled field the check reads is an error naming it, never a value
 * that passes; and the proof line's groups read "none", "65534" or "65534,100". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "guard.h"
#include "procstatus.h"

/* The fields procstatus reads, as Linux 6.18 prints them for a dropped process (tabs and all;
 * the kernel ends a Groups: list with a space). FIELD(name) marks where a test substitutes. */
static const char *const base_lines[] = {
    "Name:\tdropcap\n",
    "Umask:\t0077\n",
    "Uid:\t65534\t65534\t65534\t65534\n",
    "Gid:\t65534\t65534\t65534\t65534\n",
    "FDSize:\t64\n",
    "Groups:\t \n",
    "CapInh:\t0000000000000000\n",
    "CapPrm:\t0000000000000000\n",
    "CapEff:\t0000000000000000\n",
    "CapBnd:\t0000000000000000\n",
    "CapAmb:\t0000000000000000\n",
    "NoNewPrivs:\t1\n",
    "Seccomp:\t0\n",
    "Mems_allowed:\t00000000,00000001\n",
};

#define N_LINES (sizeof base_lines / sizeof base_lines[0])

/* The base text with the line starting "key:" replaced by repl (NULL: removed). */
static char *fixture(const char *key, const char *repl)
{
	static char out[4096];
	size_t n = 0, klen = key ? strlen(key) : 0;

	out[0] = '\0';
	for (size_t i = 0; i < N_LINES; i++) {
		const char *l = base_lines[i];
		if (key && strncmp(l, key, klen) == 0 && l[klen] == ':')
			l = repl ? repl : "";
		n += (size_t)snprintf(out + n, sizeof out - n, "%s", l);
	}
	return out;
}

/* Parses text through a stream, as procstatus_read does with a file. */
static int parse(const char *text, struct procstatus *st, char *err, size_t errlen)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int rc;

	assert_non_null(f);
	rc = procstatus_parse(f, "status", st, err, errlen);
	fclose(f);
	return rc;
}

struct bad_row {
	const char *key;
	const char *line; /* NULL: the line is missing */
	const char *want; /* in the error */
};

static const struct bad_row bad_rows[] = {
    {"Uid", NULL, "no Uid: line"},
    {"Gid", NULL, "no Gid: line"},
    {"Uid", "Uid:\tabc\n", "Uid: line does not parse"},
    {"Uid", "Uid:\t\n", "Uid: line does not parse"},
    {"Uid", "Uid:\t65534\t65534\t65534\n", "Uid: line does not parse"},
    {"Uid", "Uid:\t65534\t65534\t65534\t65534\t0\n", "Uid: line does not parse"},
    {"Uid", "Uid:\t-1\t-1\t-1\t-1\n", "Uid: line does not parse"},
    {"Uid", "Uid:\t99999999999999999999999\t1\t1\t1\n", "Uid: line does not parse"},
    {"Gid", "Gid:\t65534 x 65534 65534\n", "Gid: line does not parse"},
    {"Gid", "Gid:\t65534\t65534\t65534\t65534x\n", "Gid: line does not parse"},
    {"CapEff", NULL, "no CapEff: line"},
    {"CapEff", "CapEff:\tzz\n", "CapEff: line does not parse"},
    {"CapPrm", "CapPrm:\t\n", "CapPrm: line does not parse"},
    {"CapAmb", "CapAmb:\t00000000000000000\n", "CapAmb: line does not parse"},
    {"CapInh", NULL, "no CapInh: line"},
    {"CapBnd", NULL, "no CapBnd: line"},
    {"NoNewPrivs", NULL, "no NoNewPrivs: line"},
    {"NoNewPrivs", "NoNewPrivs:\tyes\n", "NoNewPrivs: line does not parse"},
    {"Groups", NULL, "no Groups: line"},
    {"Groups", "Groups:\t100 abc \n", "Groups: line does not parse"},
    {"Uid", "Uid:\t1\t1\t1\t1\nUid:\t0\t0\t0\t0\n", "Uid: line appears twice"},
};

static void test_missing_or_garbled_fails_closed(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad_rows / sizeof bad_rows[0]; i++) {
		const struct bad_row *r = &bad_rows[i];
		struct procstatus st;
		char err[256] = "";

		if (parse(fixture(r->key, r->line), &st, err, sizeof err) != -1)
			fail_row("%s %s: parsed (left=%s), want an error", r->key,
				 r->line ? show(r->line, strlen(r->line)) : "missing",
				 procstatus_left(&st) ? procstatus_left(&st) : "nothing");
		else if (!strstr(err, r->want))
			fail_row("%s: error \"%s\", want \"%s\"", r->key, err, r->want);
	}
	ASSERT_NO_ROW_FAILURES();
}

static void test_dropped_process(void **state)
{
	struct procstatus st;
	char err[256] = "", ids[64];

	(void)state;
	assert_int_equal(parse(fixture(NULL, NULL), &st, err, sizeof err), 0);
	assert_null(procstatus_left(&st));
	procstatus_format_ids(ids, sizeof ids, st.uid);
	assert_string_equal(ids, "65534");
	assert_int_equal(st.nnp, 1);
}

struct left_row {
	const char *key, *line, *want;
};

static const struct left_row left_rows[] = {
    {"Uid", "Uid:\t65534\t0\t65534\t65534\n", "uid or gid 0"},
    {"Gid", "Gid:\t0\t0\t0\t0\n", "uid or gid 0"},
    {"CapPrm", "CapPrm:\t0000000000000400\n", "capabilities"},
    {"CapAmb", "CapAmb:\t0000000000000400\n", "capabilities"},
    {"NoNewPrivs", "NoNewPrivs:\t0\n", "no_new_privs unset"},
};

static void test_privileges_left(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof left_rows / sizeof left_rows[0]; i++) {
		const struct left_row *r = &left_rows[i];
		struct procstatus st;
		char err[256] = "";
		const char *left;

		if (parse(fixture(r->key, r->line), &st, err, sizeof err) != 0)
			fail_row("%s: %s", r->key, err);
		else if (!(left = procstatus_left(&st)) || strcmp(left, r->want) != 0)
			fail_row("%s: left %s, want %s", r->key, left ? left : "NULL", r->want);
	}
	ASSERT_NO_ROW_FAILURES();
}

struct groups_row {
	const char *line, *want;
};

static const struct groups_row groups_rows[] = {
    {"Groups:\t \n", "none"},
    {"Groups:\t\n", "none"},
    {"Groups:\t65534 \n", "65534"},
    {"Groups:\t65534 100 \n", "65534,100"},
    {"Groups:\t65534\t100\n", "65534,100"},
    {"Groups:\t4 24 27 30 46 100 \n", "4,24,27,30,46,100"},
};

static void test_groups_format(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof groups_rows / sizeof groups_rows[0]; i++) {
		const struct groups_row *r = &groups_rows[i];
		struct procstatus st;
		char err[256] = "", out[256];

		if (parse(fixture("Groups", r->line), &st, err, sizeof err) != 0) {
			fail_row("%s: %s", show(r->line, strlen(r->line)), err);
			continue;
		}
		procstatus_format_groups(out, sizeof out, &st);
		if (strcmp(out, r->want) != 0)
			fail_row("%s: \"%s\", want \"%s\"", show(r->line, strlen(r->line)), out,
				 r->want);
	}
	ASSERT_NO_ROW_FAILURES();
}

/* More groups than the proof line holds: whole ids only, then ",...". */
static void test_groups_truncated(void **state)
{
	char line[2048] = "Groups:\t", err[256] = "", out[256];
	struct procstatus st;
	size_t n;

	(void)state;
	for (int g = 100000; g < 100200; g++) {
		n = strlen(line);
		snprintf(line + n, sizeof line - n, "%d ", g);
	}
	strcat(line, "\n");
	assert_int_equal(parse(fixture("Groups", line), &st, err, sizeof err), 0);
	procstatus_format_groups(out, sizeof out, &st);
	n = strlen(out);
	assert_true(n > 4 && n < sizeof out);
	assert_string_equal(out + n - 4, ",...");
	assert_true(strncmp(out, "100000,100001,", 14) == 0);
	assert_true(out[n - 5] >= '0' && out[n - 5] <= '9');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    ROW_TEST(test_missing_or_garbled_fails_closed),
	    ROW_TEST(test_dropped_process),
	    ROW_TEST(test_privileges_left),
	    ROW_TEST(test_groups_format),
	    ROW_TEST(test_groups_truncated),
	};

	return cmocka_run_group_tests_name("procstatus", tests, NULL, NULL);
}
