/* sandbox.h — confinement of the serving process: Landlock (file system, TCP) and a seccomp
 * allow-list, applied after the privilege drop and checked like it. The only module that
 * includes <seccomp.h> and <linux/landlock.h>. */
#ifndef DROPCAP_SANDBOX_H
#define DROPCAP_SANDBOX_H

#include <stddef.h>

#include "config.h"

/* What the proof line's sandbox= field says; one word without spaces. */
#define SANDBOX_PROOF_LEN 64

/* Confines the calling process for good, after everything start-up opens is open and after
 * priv_drop (no_new_privs set, a single thread):
 *   Landlock: read files and directories beneath each site's root (root_fds, indexed like
 *     c->sites); read files beneath the directories that hold each site's real --cert and
 *     --key file (after symlinks), so a
 *     reload can read a renewed certificate; write and create files beneath the directory of
 *     the --access-log file; nothing else, no TCP bind or connect (ABI >= 4);
 *   seccomp: only the system calls serving needs; any other one writes its name to stderr
 *     and kills the process.
 * Then reads back Seccomp: 2 for every thread and checks that a file readable just before,
 * outside those paths, now fails with EACCES. With c->no_sandbox it only warns. On a kernel
 * without Landlock it warns once and applies seccomp alone.
 * Writes the proof field (e.g. "landlock+seccomp", "off(--no-sandbox)") to proof.
 * Returns 0, or -1 with err: the caller must not serve. */
int sandbox_apply(const struct config *c, const int *root_fds, char *proof, size_t prooflen,
		  char *err, size_t errlen);

/* For doctor: what this kernel offers, e.g. "landlock ABI 7, seccomp filter". Changes
 * nothing. */
void sandbox_describe(char *out, size_t outsz);

#endif
