/* priv.h — identity and capabilities: the only module that uses libcap. */
#ifndef DROPCAP_PRIV_H
#define DROPCAP_PRIV_H

#include <limits.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "config.h"

/* Records how the process started (uid, capability sets, no_new_privs, ambient) and,
 * when not root, clears the effective set: capabilities stay permitted and are raised
 * only where needed. Call first in main, before anything else. Returns 0, or -1 with err. */
int priv_init(char *err, size_t errlen);

/* bind(2), with CAP_NET_BIND_SERVICE raised into the effective set only around
 * the call when the process holds it in its permitted set (and the port needs it).
 * Returns 0, or -1 with errno set (EACCES when no way to bind worked). */
int priv_bind(int fd, const struct sockaddr *sa, socklen_t len);

/* Notes that a listener was inherited from a launcher (for the via= of the proof line). */
void priv_note_inherited(void);

/* Writes why binding addr failed with EACCES and how to fix it: the missing capability,
 * no_new_privs, nosuid, a bounding set without the capability. One line, no newline. */
void priv_explain_eacces(const char *addr, char *msg, size_t len);

/* The same sentence, for doctor: what stops the binary's file capability and the fix,
 * without the "run 'dropcap doctor'" hint. */
void priv_explain(char *msg, size_t len);

/* Gives up every privilege: switches to c->user / c->group when root, empties
 * every capability set and the bounding set, locks the securebits, sets
 * no_new_privs, then reads /proc/self/status back. Writes the one-line proof
 * ("privileges: uid=… caps=none …") to line. Returns 0, or -1 with err when any
 * privilege is left (the caller must exit non-zero). Call before any thread exists. */
int priv_drop(const struct config *c, char *line, size_t linelen, char *err, size_t errlen);

/* "dropcap doctor": reports how each configured listener could be acquired and what is
 * missing, binds nothing, changes nothing. Returns the exit status (0: all could be acquired).
 * Implemented in doctor.c on top of the read-only queries below. */
int priv_doctor(const struct config *c);

/* ---- read-only queries (for doctor; they change nothing) ---- */

/* Where CAP_NET_BIND_SERVICE came from at start, if the process holds it. */
enum priv_source {
	PRIV_SOURCE_NONE,
	PRIV_SOURCE_ROOT,	/* uid 0 */
	PRIV_SOURCE_AMBIENT,	/* ambient set: setpriv --ambient-caps, AmbientCapabilities= */
	PRIV_SOURCE_FILE,	/* the binary's file capability */
	PRIV_SOURCE_CAPABILITY, /* permitted set handed over by the parent some other way */
};

/* Why the binary's file capability does not give this process CAP_NET_BIND_SERVICE. */
enum priv_trap {
	PRIV_TRAP_NONE,		/* it does (or nothing explains why not) */
	PRIV_TRAP_BOUNDING,	/* the bounding set lacks the capability */
	PRIV_TRAP_NO_XATTR,	/* the binary's file system cannot store capabilities */
	PRIV_TRAP_NO_FILE_CAP,	/* the binary carries no cap_net_bind_service */
	PRIV_TRAP_NO_NEW_PRIVS, /* no_new_privs was set before exec: file capabilities ignored */
	PRIV_TRAP_NOSUID,	/* the binary is on a nosuid mount: file capabilities ignored */
};

struct priv_facts {
	char exe[PATH_MAX];	     /* the running binary (/proc/self/exe), "" when unknown */
	char file_caps[256];	     /* its capabilities as setcap writes them, or "none" */
	int file_xattrs;	     /* 0: its file system cannot store extended attributes */
	int file_bind;		     /* the file grants cap_net_bind_service (permitted) */
	int file_setpcap;	     /* ... and cap_setpcap */
	char proc_caps[256];	     /* this process's sets now, cap_to_text form, or "none" */
	int proc_bind;		     /* cap_net_bind_service is in the permitted set */
	int proc_setpcap;	     /* cap_setpcap is in the permitted set */
	int ambient_bind;	     /* cap_net_bind_service is ambient */
	unsigned long long bounding; /* bounding set mask */
	int bounding_bind;	     /* the bounding set has cap_net_bind_service */
	int bounding_setpcap;	     /* ... and cap_setpcap */
	int no_new_privs;	     /* set when dropcap started */
	int nosuid;		     /* the binary's file system is mounted nosuid */
	int unprivileged_port_start; /* net.ipv4.ip_unprivileged_port_start of this netns */
	enum priv_source source;
	enum priv_trap trap; /* what stops the file capability here (PRIV_TRAP_NONE: nothing) */
};

/* Fills f. Never fails: unknown values are left 0 / "". */
void priv_facts_get(struct priv_facts *f);

/* "root", "ambient", "file capability", ... */
const char *priv_source_name(enum priv_source s);

/* Whether binding port needs CAP_NET_BIND_SERVICE in this network namespace. */
int priv_port_privileged(int port);

/* The identity the server will run as after priv_drop: c->user / c->group when started as
 * root, else the current ids. Returns 0, or -1 with err (unknown user or group). */
int priv_run_ids(const struct config *c, uid_t *uid, gid_t *gid, char *err, size_t errlen);

#endif
