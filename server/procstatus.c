/* procstatus.c — what /proc/self/status and the status file of every thread say: the proof
 * that the privilege drop really happened, read back from the kernel. libc only.
 * It fails closed: a field the check reads that is missing or does not parse is an error, never
 * a value that happens to pass (a missing Uid: line must not read as "not root"). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procstatus.h"

enum field {
	F_UID,
	F_GID,
	F_GROUPS,
	F_INH,
	F_PRM,
	F_EFF,
	F_BND,
	F_AMB,
	F_NNP,
	F_COUNT,
};

static const char *const field_names[F_COUNT] = {
    [F_UID] = "Uid",	[F_GID] = "Gid",    [F_GROUPS] = "Groups",
    [F_INH] = "CapInh", [F_PRM] = "CapPrm", [F_EFF] = "CapEff",
    [F_BND] = "CapBnd", [F_AMB] = "CapAmb", [F_NNP] = "NoNewPrivs",
};

static const char *skip_blank(const char *p)
{
	return p + strspn(p, " \t");
}

/* A decimal number at *p (after blanks); no sign, no overflow. Advances *p. */
static int parse_dec(const char **p, unsigned long *v)
{
	const char *s = skip_blank(*p);
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoul(s, &end, 10);
	if (errno == ERANGE)
		return -1;
	*p = end;
	return 0;
}

/* Exactly four ids: real, effective, saved, file system. */
static int parse_ids(const char *val, unsigned long id[4])
{
	for (int i = 0; i < 4; i++)
		if (parse_dec(&val, &id[i]) < 0)
			return -1;
	return *skip_blank(val) == '\0' ? 0 : -1;
}

/* A capability mask: 1 to 16 hex digits, nothing else. */
static int parse_mask(const char *val, unsigned long long *mask)
{
	size_t n = strspn(val, "0123456789abcdefABCDEF");

	if (n == 0 || n > 16 || *skip_blank(val + n) != '\0')
		return -1;
	*mask = strtoull(val, NULL, 16);
	return 0;
}

/* Zero or more group ids, kept one space apart (the kernel ends the list with a space). Only
 * shown, never checked: when they do not all fit, the list ends with " ...". */
static int parse_groups(const char *val, char *out, size_t outsz)
{
	const size_t room = outsz - sizeof " ..."; /* always left for the mark */
	size_t n = 0;
	unsigned long g;

	out[0] = '\0';
	while (*skip_blank(val) != '\0') {
		if (parse_dec(&val, &g) < 0 || (*val != '\0' && *val != ' ' && *val != '\t'))
			return -1;
		int w = snprintf(out + n, room - n, "%s%lu", n ? " " : "", g);
		if (w < 0 || (size_t)w >= room - n) {
			snprintf(out + n, outsz - n, " ...");
			return 0;
		}
		n += (size_t)w;
	}
	return 0;
}

static int parse_field(struct procstatus *st, enum field f, const char *val)
{
	unsigned long long *masks[] = {[F_INH] = &st->inh,
				       [F_PRM] = &st->prm,
				       [F_EFF] = &st->eff,
				       [F_BND] = &st->bnd,
				       [F_AMB] = &st->amb};

	switch (f) {
	case F_UID: return parse_ids(val, st->uid);
	case F_GID: return parse_ids(val, st->gid);
	case F_GROUPS: return parse_groups(val, st->groups, sizeof st->groups);
	case F_NNP:
		if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0)
			return -1;
		st->nnp = val[0] - '0';
		return 0;
	default: return parse_mask(val, masks[f]);
	}
}

static int find_field(const char *key)
{
	for (int f = 0; f < F_COUNT; f++)
		if (strcmp(key, field_names[f]) == 0)
			return f;
	return -1;
}

/* One "Key:\tvalue" line; other keys are ignored. seen collects the fields found. */
static int parse_line(struct procstatus *st, char *line, unsigned *seen, const char *name,
		      char *err, size_t errlen)
{
	char *val = strchr(line, ':');
	size_t n;
	int f;

	if (val == NULL)
		return 0;
	*val++ = '\0';
	if ((f = find_field(line)) < 0)
		return 0;
	val += strspn(val, " \t");
	for (n = strlen(val); n > 0 && strchr(" \t\n", val[n - 1]); n--)
		val[n - 1] = '\0';
	if (*seen & (1u << f) || parse_field(st, (enum field)f, val) < 0) {
		snprintf(err, errlen, "%s: %s: line %s: \"%.40s\"", name, line,
			 *seen & (1u << f) ? "appears twice" : "does not parse", val);
		return -1;
	}
	*seen |= 1u << f;
	return 0;
}

int procstatus_parse(FILE *f, const char *name, struct procstatus *st, char *err, size_t errlen)
{
	char *line = NULL;
	size_t cap = 0;
	unsigned seen = 0;
	int rc = 0;

	memset(st, 0, sizeof *st);
	while (rc == 0 && getline(&line, &cap, f) >= 0)
		rc = parse_line(st, line, &seen, name, err, errlen);
	free(line);
	for (int i = 0; rc == 0 && i < F_COUNT; i++)
		if (!(seen & (1u << i))) {
			snprintf(err, errlen, "%s: no %s: line", name, field_names[i]);
			rc = -1;
		}
	return rc;
}

int procstatus_read(const char *path, struct procstatus *st, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	int rc;

	if (f == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	rc = procstatus_parse(f, path, st, err, errlen);
	fclose(f);
	return rc;
}

/* Whatever is left that the drop must remove, or NULL. */
const char *procstatus_left(const struct procstatus *st)
{
	int i;

	for (i = 0; i < 4; i++)
		if (st->uid[i] == 0 || st->gid[i] == 0)
			return "uid or gid 0";
	if (st->eff || st->prm || st->inh || st->amb)
		return "capabilities";
	return st->nnp == 1 ? NULL : "no_new_privs unset";
}

/* Every thread's status: NULL when each one is dropped, else what is left (or, when a file
 * cannot be read or parsed, the reason in err and "unreadable thread status"). */
static const char *threads_left(char *err, size_t errlen)
{
	char path[64];
	const char *left = NULL;
	struct dirent *de;
	DIR *d = opendir("/proc/self/task");

	if (d == NULL) {
		snprintf(err, errlen, "cannot read /proc/self/task: %s", strerror(errno));
		return "unreadable thread status";
	}
	while (left == NULL && (de = readdir(d)) != NULL) {
		struct procstatus t;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%.20s/status", de->d_name);
		left = procstatus_read(path, &t, err, errlen) < 0 ? "unreadable thread status"
								  : procstatus_left(&t);
	}
	closedir(d);
	return left;
}

/* Checks the process and every thread, and that root cannot be regained. */
int procstatus_verify(struct procstatus *st, char *err, size_t errlen)
{
	char why[256] = "";
	const char *left;

	if (procstatus_read("/proc/self/status", st, why, sizeof why) < 0) {
		snprintf(err, errlen, "cannot check the privilege drop: %s: refusing to serve",
			 why);
		return -1;
	}
	left = procstatus_left(st);
	if (left == NULL)
		left = threads_left(why, sizeof why);
	if (left == NULL && (setuid(0) == 0 || setgid(0) == 0))
		left = "root could be regained";
	if (left != NULL) {
		snprintf(err, errlen, "privileges left after the drop (%s%s%s): refusing to serve",
			 left, why[0] ? ": " : "", why);
		return -1;
	}
	return 0;
}

void procstatus_format_ids(char *out, size_t outsz, const unsigned long id[4])
{
	if (id[0] == id[1] && id[0] == id[2] && id[0] == id[3])
		snprintf(out, outsz, "%lu", id[0]);
	else
		snprintf(out, outsz, "%lu/%lu/%lu/%lu", id[0], id[1], id[2], id[3]);
}

void procstatus_format_groups(char *out, size_t outsz, const struct procstatus *st)
{
	snprintf(out, outsz, "%s", st->groups[0] ? st->groups : "none");
	for (char *p = out; *p; p++)
		if (*p == ' ')
			*p = ',';
}

/* Reads "Key:\tN" from a status file opened earlier (from offset 0, so what the kernel says
 * now). Returns N, or -1 when the file cannot be read or has no such field. */
long procstatus_fd_field(int fd, const char *key)
{
	char buf[8192], *p = buf;
	size_t n = strlen(key);
	ssize_t len = pread(fd, buf, sizeof buf - 1, 0);

	if (len <= 0)
		return -1;
	buf[len] = '\0';
	while (p != NULL) {
		if (strncmp(p, key, n) == 0 && p[n] == ':') {
			p += n + 1 + strspn(p + n + 1, " \t");
			return isdigit((unsigned char)*p) ? strtol(p, NULL, 10) : -1;
		}
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return -1;
}
