/* procstatus.c — what /proc/self/status and the status file of every thread say: the proof
 * that the privilege drop really happened, read back from the kernel. libc only. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procstatus.h"

static void field(struct procstatus *st, const char *key, const char *val)
{
	const struct {
		const char *key;
		unsigned long long *mask;
	} masks[] = {
	    {"CapInh", &st->inh}, {"CapPrm", &st->prm}, {"CapEff", &st->eff},
	    {"CapBnd", &st->bnd}, {"CapAmb", &st->amb},
	};
	size_t i;

	for (i = 0; i < sizeof masks / sizeof masks[0]; i++)
		if (strcmp(key, masks[i].key) == 0)
			*masks[i].mask = strtoull(val, NULL, 16);
	if (strcmp(key, "Uid") == 0)
		sscanf(val, "%lu %lu %lu %lu", &st->uid[0], &st->uid[1], &st->uid[2], &st->uid[3]);
	else if (strcmp(key, "Gid") == 0)
		sscanf(val, "%lu %lu %lu %lu", &st->gid[0], &st->gid[1], &st->gid[2], &st->gid[3]);
	else if (strcmp(key, "Groups") == 0)
		snprintf(st->groups, sizeof st->groups, "%s", val);
	else if (strcmp(key, "NoNewPrivs") == 0)
		st->nnp = atoi(val);
}

/* Reads a /proc/.../status file. Every field starts out as "privileged" so that a field the
 * kernel did not print counts as not dropped. */
int procstatus_read(const char *path, struct procstatus *st)
{
	char line[512];
	FILE *f = fopen(path, "r");

	memset(st, 0xff, sizeof *st);
	st->groups[0] = '\0';
	st->nnp = 0;
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f)) {
		char *val;

		line[strcspn(line, "\n")] = '\0';
		if ((val = strchr(line, ':')) == NULL)
			continue;
		*val++ = '\0';
		val += strspn(val, " \t");
		field(st, line, val);
	}
	fclose(f);
	return 0;
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

/* Checks the process and every thread, and that root cannot be regained. */
int procstatus_verify(struct procstatus *st, char *err, size_t errlen)
{
	char path[64];
	const char *left;
	struct dirent *de;
	DIR *d;

	if (procstatus_read("/proc/self/status", st) < 0 ||
	    (d = opendir("/proc/self/task")) == NULL) {
		snprintf(err, errlen, "cannot read /proc/self/status: %s", strerror(errno));
		return -1;
	}
	left = procstatus_left(st);
	while (left == NULL && (de = readdir(d)) != NULL) {
		struct procstatus t;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%.20s/status", de->d_name);
		left = procstatus_read(path, &t) < 0 ? "unreadable thread status"
						     : procstatus_left(&t);
	}
	closedir(d);
	if (left == NULL && (setuid(0) == 0 || setgid(0) == 0))
		left = "root could be regained";
	if (left != NULL) {
		snprintf(err, errlen, "privileges left after the drop (%s): refusing to serve",
			 left);
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
