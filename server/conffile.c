/* conffile.c — the --config file: INI read with libinih, one key at a time to a handler.
 * libinih parses; this module reads the file whole first, so that a line too long for
 * libinih's fixed buffer or binary junk is one clear error, not a silently split line, and so
 * that each key comes with its line number (Debian's libinih passes none to the handler). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "conffile.h"
#include "log.h"

/* libinih's line buffer (INI_MAX_LINE in Debian 12's build) holds a line, "\r\n" and a NUL. */
#define LINE_BUF 200
#define LINE_MAX_CHARS (LINE_BUF - 3)

struct reader {
	const char *p, *end;
	unsigned line;
	unsigned section_line; /* the last [section] line, and how many keys followed it */
	unsigned section_keys;
	int failed; /* err is set: stop */
	conffile_key_fn fn;
	void *user;
	char *err;
	size_t errlen;
};

/* A control byte other than tab, CR and LF: not a text file. Returns its offset or -1. */
static long control_byte(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch < 0x20 && ch != '\t' && ch != '\r' && ch != '\n') || ch == 0x7f)
			return (long)i;
	}
	return -1;
}

/* libinih calls the handler for keys only: a section without any would vanish unseen (a site
 * whose keys were left out). Called at each [section] line and at the end. */
static int empty_section(struct reader *r)
{
	if (r->section_line && !r->section_keys) {
		r->failed = 1;
		return log_errbuf(
		    r->err, r->errlen,
		    "%u: a section without keys: give it its keys (root = DIR ...) or "
		    "remove it",
		    r->section_line);
	}
	r->section_line = r->line;
	r->section_keys = 0;
	return 0;
}

/* libinih's fgets-like reader: one line per call, so that r->line is the handler's line. */
static char *read_line(char *str, int num, void *stream)
{
	struct reader *r = stream;
	const char *nl;
	size_t n, blanks;
	long bad;

	if (r->failed || r->p >= r->end)
		return NULL;
	nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
	n = nl ? (size_t)(nl + 1 - r->p) : (size_t)(r->end - r->p);
	r->line++;
	if ((bad = control_byte(r->p, n)) >= 0) {
		r->failed = 1;
		log_errbuf(r->err, r->errlen,
			   "%u: byte 0x%02x at column %ld: not a text file (is it the right file?)",
			   r->line, (unsigned char)r->p[bad], bad + 1);
		return NULL;
	}
	if (n - (nl ? 1 : 0) > LINE_MAX_CHARS || n + 1 > (size_t)num) {
		r->failed = 1;
		log_errbuf(r->err, r->errlen,
			   "%u: line longer than %d characters (libinih's limit): shorten it",
			   r->line, LINE_MAX_CHARS);
		return NULL;
	}
	/* Leading blanks go: libinih would take an indented line for the continuation of the
	 * previous value, and templates indent. */
	blanks = strspn(r->p, " \t");
	blanks = blanks < n ? blanks : n;
	if (r->p[blanks] == '[' && empty_section(r) < 0)
		return NULL;
	memcpy(str, r->p + blanks, n - blanks);
	str[n - blanks] = '\0';
	r->p += n;
	return str;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct reader *r = user;
	char why[768];

	if (r->failed)
		return 0;
	r->section_keys++;
	if (r->fn(r->user, section, name, value, r->line, why, sizeof why) < 0) {
		r->failed = 1;
		log_errbuf(r->err, r->errlen, "%u: %s", r->line, why);
		return 0;
	}
	return 1;
}

static char *slurp(const char *path, size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	ssize_t n = 0;

	if (fd < 0 || fstat(fd, &st) < 0) {
		log_errbuf(err, errlen, "%s", strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		log_errbuf(err, errlen, "not a regular file");
	} else if (st.st_size > CONFFILE_MAX_SIZE) {
		log_errbuf(err, errlen, "larger than %d bytes: is it the right file?",
			   CONFFILE_MAX_SIZE);
	} else if ((buf = malloc((size_t)st.st_size + 1)) &&
		   (n = read(fd, buf, (size_t)st.st_size)) < 0) {
		log_errbuf(err, errlen, "%s", strerror(errno));
		free(buf);
		buf = NULL;
	}
	if (fd >= 0)
		close(fd);
	*len = buf ? (size_t)n : 0;
	return buf;
}

char *conffile_read(const char *path, size_t *len, char *err, size_t errlen)
{
	char why[512];
	char *buf = slurp(path, len, why, sizeof why);

	if (!buf)
		log_errbuf(err, errlen, "%s: %s", path, why);
	return buf;
}

int conffile_parse(const char *path, const char *buf, size_t len, conffile_key_fn fn, void *user,
		   char *err, size_t errlen)
{
	char why[1024];
	struct reader r = {.fn = fn, .user = user, .err = why, .errlen = sizeof why};
	int bad;

	r.p = buf;
	r.end = buf + len;
	bad = ini_parse_stream(read_line, &r, on_key, &r);
	if (!r.failed && bad == 0)
		empty_section(&r);
	if (r.failed)
		return log_errbuf(err, errlen, "%s:%s", path, why);
	if (bad > 0)
		return log_errbuf(err, errlen,
				  "%s:%d: neither 'key = value' nor a [section] line (a comment "
				  "starts with ; or #)",
				  path, bad);
	if (bad < 0)
		return log_errbuf(err, errlen, "%s: cannot parse (libinih error %d)", path, bad);
	return 0;
}

int conffile_bool(const char *v)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return 1;
		if (strcasecmp(v, no[i]) == 0)
			return 0;
	}
	return -1;
}

/* Levenshtein distance, capped: words longer than 31 characters are never suggested. */
static unsigned distance(const char *a, const char *b)
{
	unsigned d[32][32];
	size_t la = strlen(a), lb = strlen(b);

	if (la > 31 || lb > 31)
		return 99;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			unsigned sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			unsigned del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
			d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
	return d[la][lb];
}

const char *conffile_suggest(const char *word, const char *const *candidates, size_t n)
{
	const char *best = NULL;
	unsigned best_d = 3;

	for (size_t i = 0; i < n; i++) {
		unsigned d = distance(word, candidates[i]);
		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	return best;
}
