/*
 * test_conffile.c — the --config reader (server/conffile.h) apart from the options: which
 * line each key comes from (Debian's libinih gives none), sections, comments, the lines it
 * refuses with FILE:LINE (too long for libinih's buffer, control bytes, neither key nor
 * section, a section without keys), the flag values and the "did you mean" suggestions. Each file
 * is put right before an unreadable page, so a read past its end faults.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "conffile.h"
#include "guard.h"

/* What the handler saw, one "LINE [SECTION] KEY=VALUE" per key, joined by '|'. */
struct seen {
	char text[1024];
	int fail_on; /* the line whose key the handler refuses, or 0 */
};

static int record(void *user, const char *section, const char *key, const char *value,
		  unsigned line, char *err, size_t errlen)
{
	struct seen *s = user;
	size_t n = strlen(s->text);

	if (s->fail_on && (int)line == s->fail_on) {
		snprintf(err, errlen, "refused %s", key);
		return -1;
	}
	snprintf(s->text + n, sizeof s->text - n, "%s%u [%s] %s=%s", n ? "|" : "", line, section,
		 key, value);
	return 0;
}

static const struct {
	const char *file;
	int fail_on;
	int ok;
	const char *want; /* the keys seen, or the error */
} rows[] = {
    {"a = 1\n", 0, 1, "1 [] a=1"},
    {"# c\n; c\n\nhttp = :80\n[site x]\nroot = /srv\n", 0, 1, "4 [] http=:80|6 [site x] root=/srv"},
    {"a=1\r\nb = two words \n", 0, 1, "1 [] a=1|2 [] b=two words"},
    {"a = 1", 0, 1, "1 [] a=1"}, /* no final newline */
    /* indented keys are keys, not libinih's continuation lines of the previous value */
    {"[site a]\n  root = /a\n\tcert = /c\n  key = /k\n", 0, 1,
     "2 [site a] root=/a|3 [site a] cert=/c|4 [site a] key=/k"},
    {"a = 1\nb = 2\nc = 3\n", 2, 0, "f.conf:2: refused b"},
    {"[site a]\n[site b]\nroot = /b\n", 0, 0,
     "f.conf:1: a section without keys: give it its keys (root = DIR ...) or remove it"},
    {"[site a]\nroot = /a\n  [site b]\n; nothing\n", 0, 0,
     "f.conf:3: a section without keys: give it its keys (root = DIR ...) or remove it"},
    {"a = 1\nnot a pair\n", 0, 0,
     "f.conf:2: neither 'key = value' nor a [section] line (a comment starts with ; or #)"},
    {"a = 1\nb = \x01\n", 0, 0,
     "f.conf:2: byte 0x01 at column 5: not a text file (is it the right file?)"},
    {"a = 1\n\x7f", 0, 0,
     "f.conf:2: byte 0x7f at column 1: not a text file (is it the right file?)"},
};

static void test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct guard g;
		struct seen s = {.fail_on = rows[i].fail_on};
		char err[512] = "";
		size_t len = strlen(rows[i].file);
		const char *buf = guard_put(&g, rows[i].file, len);
		int r = conffile_parse("f.conf", buf, len, record, &s, err, sizeof err);

		assert_int_equal(r == 0, rows[i].ok);
		assert_string_equal(rows[i].ok ? s.text : err, rows[i].want);
		guard_free(&g);
	}
}

/* libinih's buffer holds 197 characters and "\r\n\0": 197 pass whole, 198 are refused (not
 * split into two lines, as libinih would). */
static void test_line_limit(void **state)
{
	char line[400], err[256] = "";
	struct seen s = {0};
	struct guard g;

	(void)state;
	memset(line, 'v', sizeof line);
	memcpy(line, "k = ", 4);
	line[197] = '\n';
	const char *buf = guard_put(&g, line, 198);
	assert_int_equal(conffile_parse("f", buf, 198, record, &s, err, sizeof err), 0);
	assert_int_equal(strlen(s.text), strlen("1 [] k=") + 193);
	guard_free(&g);
	line[197] = 'v';
	line[198] = '\n';
	buf = guard_put(&g, line, 199);
	assert_int_equal(conffile_parse("f", buf, 199, record, &s, err, sizeof err), -1);
	assert_string_equal(err,
			    "f:1: line longer than 197 characters (libinih's limit): shorten it");
	guard_free(&g);
}

static void test_bool(void **state)
{
	static const struct {
		const char *v;
		int want;
	} b[] = {{"true", 1}, {"YES", 1}, {"on", 1}, {"1", 1},	{"false", 0},  {"No", 0},
		 {"off", 0},  {"0", 0},	  {"", -1},  {"2", -1}, {"truee", -1}, {"y", -1}};

	(void)state;
	for (size_t i = 0; i < sizeof b / sizeof b[0]; i++)
		assert_int_equal(conffile_bool(b[i].v), b[i].want);
}

static void test_suggest(void **state)
{
	static const char *const names[] = {"root", "cert", "key", "access-log", "https", "http"};
	static const struct {
		const char *word, *want;
	} rows2[] = {{"rot", "root"},	{"roots", "root"},
		     {"kye", "key"},	{"acess-log", "access-log"},
		     {"htps", "https"}, {"listen", NULL},
		     {"", NULL},	{"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", NULL}};

	(void)state;
	for (size_t i = 0; i < sizeof rows2 / sizeof rows2[0]; i++) {
		const char *got = conffile_suggest(rows2[i].word, names, 6);
		if (rows2[i].want)
			assert_string_equal(got, rows2[i].want);
		else
			assert_null(got);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_line_limit),
	    cmocka_unit_test(test_bool),
	    cmocka_unit_test(test_suggest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
