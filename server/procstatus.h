/* procstatus.h — read a process's or thread's status file: ids, capability sets, no_new_privs. */
#ifndef DROPCAP_PROCSTATUS_H
#define DROPCAP_PROCSTATUS_H

#include <stddef.h>
#include <stdio.h>

struct procstatus {
	unsigned long uid[4], gid[4]; /* real, effective, saved, file system */
	char groups[256];	      /* supplementary groups, one space between; "" for none */
	unsigned long long inh, prm, eff, bnd, amb;
	int nnp;
};

/* Parses a status file's text from f. Fails closed: every field the drop check reads (Uid, Gid,
 * Groups, CapInh, CapPrm, CapEff, CapBnd, CapAmb, NoNewPrivs) must be present once and parse,
 * else -1 with err naming the field ("no Uid: line", "Gid: line does not parse"). name is the
 * file's name for the message. Returns 0 or -1. */
int procstatus_parse(FILE *f, const char *name, struct procstatus *st, char *err, size_t errlen);

/* Opens path and parses it as procstatus_parse does. Returns 0, or -1 with err. */
int procstatus_read(const char *path, struct procstatus *st, char *err, size_t errlen);

/* What is left that a complete drop removes (uid/gid 0, a capability, no_new_privs unset),
 * or NULL. */
const char *procstatus_left(const struct procstatus *st);

/* Reads /proc/self/status into *st, checks it and every thread's status with
 * procstatus_left, and that setuid(0) / setgid(0) fail. Returns 0, or -1 with err. */
int procstatus_verify(struct procstatus *st, char *err, size_t errlen);

/* "998" when the four ids agree, else "r/e/s/fs". */
void procstatus_format_ids(char *out, size_t outsz, const unsigned long id[4]);

/* The supplementary groups for the proof line: "none", "65534" or "65534,100". */
void procstatus_format_groups(char *out, size_t outsz, const struct procstatus *st);

/* For the sandbox: the number after "Key:" in a status file opened earlier, re-read from
 * offset 0 with pread (no new open: Landlock may forbid /proc by then); -1 when missing. */
long procstatus_fd_field(int fd, const char *key);

#endif
