/* priv.c — identity and capabilities: how the process started, binding low ports with the
 * least privilege, the final drop and its proof. The only file that uses libcap. */
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <grp.h>
#include <linux/securebits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"
#include "procstatus.h"
#include "priv.h"

#define PRIV_EXE "/proc/self/exe"
#define PRIV_PORT_SYSCTL "/proc/sys/net/ipv4/ip_unprivileged_port_start"

/* noroot, no-setuid-fixup and no-cap-ambient-raise on, keep-caps off: each locked. */
#define PRIV_SECUREBITS                                                                            \
	(SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |                           \
	 SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |   \
	 SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)

/* How the listeners were acquired: the via= of the proof line, in this order. */
enum priv_via {
	PRIV_VIA_INHERITED,
	PRIV_VIA_FILE_CAPABILITY,
	PRIV_VIA_AMBIENT,
	PRIV_VIA_ROOT,
	PRIV_VIA_CAPABILITY,
	PRIV_VIA_UNPRIVILEGED_PORT,
	PRIV_VIA_MAX,
};

static const char *const via_names[PRIV_VIA_MAX] = {
    [PRIV_VIA_INHERITED] = "inherited",	  [PRIV_VIA_FILE_CAPABILITY] = "file-capability",
    [PRIV_VIA_AMBIENT] = "ambient",	  [PRIV_VIA_ROOT] = "root",
    [PRIV_VIA_CAPABILITY] = "capability", [PRIV_VIA_UNPRIVILEGED_PORT] = "unprivileged-port",
};

/* Each source of CAP_NET_BIND_SERVICE: what doctor calls it, what the proof line says. */
static const struct {
	const char *name;
	enum priv_via via;
} sources[] = {
    [PRIV_SOURCE_NONE] = {"none", PRIV_VIA_UNPRIVILEGED_PORT},
    [PRIV_SOURCE_ROOT] = {"root", PRIV_VIA_ROOT},
    [PRIV_SOURCE_AMBIENT] = {"ambient capability", PRIV_VIA_AMBIENT},
    [PRIV_SOURCE_FILE] = {"file capability", PRIV_VIA_FILE_CAPABILITY},
    [PRIV_SOURCE_CAPABILITY] = {"capability from the parent", PRIV_VIA_CAPABILITY},
};

/* The process's privilege is process-wide state, so this module keeps it in one place. */
static struct {
	int root; /* a real, effective or saved uid was 0 at start */
	int nnp;  /* no_new_privs was already set at start */
	enum priv_source source;
	unsigned via; /* 1 << enum priv_via for each method used */
} priv;

static int proc_has(cap_value_t cap, cap_flag_t flag)
{
	cap_flag_value_t v = CAP_CLEAR;
	cap_t caps = cap_get_proc();

	if (caps == NULL)
		return 0;
	if (cap_get_flag(caps, cap, flag, &v) < 0)
		v = CAP_CLEAR;
	cap_free(caps);
	return v == CAP_SET;
}

/* Raises or lowers one capability in the calling thread's effective set. */
static int proc_set_effective(cap_value_t cap, cap_flag_value_t on)
{
	cap_t caps = cap_get_proc();
	int rc;

	if (caps == NULL)
		return -1;
	rc = cap_set_flag(caps, CAP_EFFECTIVE, 1, &cap, on);
	if (rc == 0)
		rc = cap_set_proc(caps);
	cap_free(caps);
	return rc;
}

static int proc_clear_effective(void)
{
	cap_t caps = cap_get_proc();
	int rc;

	if (caps == NULL)
		return -1;
	rc = cap_clear_flag(caps, CAP_EFFECTIVE);
	if (rc == 0)
		rc = cap_set_proc(caps);
	cap_free(caps);
	return rc;
}

/* Whether the running binary's file capability holds cap in its permitted set. -1 with errno
 * when it cannot be read (ENODATA: no capability; ENOTSUP: no xattrs on that file system). */
static int file_has(cap_value_t cap)
{
	cap_flag_value_t v = CAP_CLEAR;
	cap_t caps = cap_get_file(PRIV_EXE);

	if (caps == NULL)
		return -1;
	if (cap_get_flag(caps, cap, CAP_PERMITTED, &v) < 0)
		v = CAP_CLEAR;
	cap_free(caps);
	return v == CAP_SET;
}

static int exe_nosuid(void)
{
	struct statvfs sv;

	return statvfs(PRIV_EXE, &sv) == 0 && (sv.f_flag & ST_NOSUID);
}

static void exe_path(char *out, size_t outsz)
{
	ssize_t n = readlink(PRIV_EXE, out, outsz - 1);

	if (n < 0)
		n = 0;
	out[n] = '\0';
}

static enum priv_source detect_source(void)
{
	if (!proc_has(CAP_NET_BIND_SERVICE, CAP_PERMITTED))
		return PRIV_SOURCE_NONE;
	if (geteuid() == 0)
		return PRIV_SOURCE_ROOT;
	if (cap_get_ambient(CAP_NET_BIND_SERVICE) == 1)
		return PRIV_SOURCE_AMBIENT;
	if (file_has(CAP_NET_BIND_SERVICE) == 1)
		return PRIV_SOURCE_FILE;
	return PRIV_SOURCE_CAPABILITY;
}

int priv_init(char *err, size_t errlen)
{
	uid_t r, e, s;
	int nnp;

	if (getresuid(&r, &e, &s) < 0 || (nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)) < 0) {
		snprintf(err, errlen, "cannot read the process credentials: %s", strerror(errno));
		return -1;
	}
	priv.root = r == 0 || e == 0 || s == 0;
	priv.nnp = nnp;
	priv.source = detect_source();
	/* A =+ep file or ambient capability makes CAP_NET_BIND_SERVICE effective from exec on:
	 * keep it permitted only, raised around bind() (root keeps its sets until the drop). */
	if (!priv.root && proc_clear_effective() < 0) {
		snprintf(err, errlen, "cannot clear the effective capability set: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

/* net.ipv4.ip_unprivileged_port_start of this network namespace (1024 when unreadable). */
static int port_start(void)
{
	FILE *f = fopen(PRIV_PORT_SYSCTL, "r");
	int start = 1024;

	if (f != NULL) {
		if (fscanf(f, "%d", &start) != 1)
			start = 1024;
		fclose(f);
	}
	return start;
}

int priv_port_privileged(int port)
{
	return port > 0 && port < port_start();
}

static int sockaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	return -1;
}

static int bind_noting(int fd, const struct sockaddr *sa, socklen_t len, enum priv_via via)
{
	int rc = bind(fd, sa, len);

	if (rc == 0)
		priv.via |= 1u << via;
	return rc;
}

int priv_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	enum priv_via via = sources[priv.source].via;
	int rc, saved;

	if (!priv_port_privileged(sockaddr_port(sa)))
		return bind_noting(fd, sa, len, PRIV_VIA_UNPRIVILEGED_PORT);
	if (proc_has(CAP_NET_BIND_SERVICE, CAP_EFFECTIVE))
		return bind_noting(fd, sa, len, via);
	if (!proc_has(CAP_NET_BIND_SERVICE, CAP_PERMITTED) ||
	    proc_set_effective(CAP_NET_BIND_SERVICE, CAP_SET) < 0)
		return bind_noting(fd, sa, len, PRIV_VIA_UNPRIVILEGED_PORT);
	rc = bind_noting(fd, sa, len, via);
	saved = errno;
	if (proc_set_effective(CAP_NET_BIND_SERVICE, CAP_CLEAR) < 0)
		log_warn("cannot lower cap_net_bind_service after bind (the drop clears it)");
	errno = saved;
	return rc;
}

void priv_note_inherited(void)
{
	priv.via |= 1u << PRIV_VIA_INHERITED;
}

/* ---- why a file capability does not work here ---- */

static enum priv_trap find_trap(void)
{
	int has;

	if (cap_get_bound(CAP_NET_BIND_SERVICE) != 1)
		return PRIV_TRAP_BOUNDING;
	has = file_has(CAP_NET_BIND_SERVICE);
	if (has < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP))
		return PRIV_TRAP_NO_XATTR;
	if (has != 1)
		return PRIV_TRAP_NO_FILE_CAP;
	if (priv.nnp)
		return PRIV_TRAP_NO_NEW_PRIVS;
	if (exe_nosuid())
		return PRIV_TRAP_NOSUID;
	return PRIV_TRAP_NONE;
}

/* The sentence for each trap, around the binary's path: cause, then "Fix: ...". */
static const struct {
	const char *before, *after;
} traps[] = {
    [PRIV_TRAP_BOUNDING] = {"The capability bounding set lacks cap_net_bind_service (docker "
			    "--cap-drop, a unit's CapabilityBoundingSet=), so no file capability "
			    "on ",
			    " can grant it. Fix: allow it (docker run --cap-add NET_BIND_SERVICE; "
			    "CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SETPCAP) or hand "
			    "dropcap the socket (socket activation, --listen-fd)"},
    [PRIV_TRAP_NO_XATTR] = {"The file system holding ",
			    " has no extended attributes, so the binary cannot carry a file "
			    "capability. Fix: install it on one that has them (ext4, xfs, btrfs) "
			    "and run sudo dropcap-setcap on it"},
    [PRIV_TRAP_NO_FILE_CAP] = {"This binary has no cap_net_bind_service (copying or rewriting a "
			       "file drops its capabilities). Fix: sudo dropcap-setcap ",
			       ""},
    [PRIV_TRAP_NO_NEW_PRIVS] = {"no_new_privs was already set when dropcap started (systemd "
				"NoNewPrivileges=yes or an option implying it, Kubernetes "
				"allowPrivilegeEscalation: false, setpriv --no-new-privs), so the "
				"kernel ignored the file capability of ",
				". Fix: remove that setting, or use AmbientCapabilities="
				"CAP_NET_BIND_SERVICE or socket activation"},
    [PRIV_TRAP_NOSUID] = {"The kernel ignored the file capability of ",
			  " because its file system is mounted nosuid. Fix: install it on one "
			  "mounted without nosuid with sudo dropcap-setcap --install SRC DEST (it "
			  "applies the capability)"},
    [PRIV_TRAP_NONE] = {"", " carries cap_net_bind_service and nothing visible stops it, yet the "
			    "kernel refused (a user namespace, SELinux or AppArmor?)"},
};

void priv_explain(char *msg, size_t len)
{
	char exe[PATH_MAX];
	enum priv_trap t = find_trap();

	exe_path(exe, sizeof exe);
	snprintf(msg, len, "%s%s%s", traps[t].before, exe[0] ? exe : "/path/to/dropcap",
		 traps[t].after);
}

void priv_explain_eacces(const char *addr, char *msg, size_t len)
{
	size_t n;

	(void)addr;
	priv_explain(msg, len);
	n = strlen(msg);
	snprintf(msg + n, len - n, " — or run 'dropcap doctor'.");
}

/* ---- the drop ---- */

static int parse_id(const char *s, unsigned long *id)
{
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	*id = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0' ? 0 : -1;
}

static int resolve_user(const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam(name);
	unsigned long id;

	if (pw == NULL && parse_id(name, &id) == 0)
		pw = getpwuid((uid_t)id);
	if (pw == NULL)
		return -1;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

static int resolve_group(const char *name, gid_t *gid)
{
	struct group *gr = getgrnam(name);
	unsigned long id;

	if (gr != NULL) {
		*gid = gr->gr_gid;
		return 0;
	}
	if (parse_id(name, &id) < 0)
		return -1;
	*gid = (gid_t)id;
	return 0;
}

int priv_run_ids(const struct config *c, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	const char *user = c->user ? c->user : "nobody";

	if (!priv.root) {
		*uid = getuid();
		*gid = getgid();
		return 0;
	}
	if (resolve_user(user, uid, gid) < 0) {
		snprintf(err, errlen, "unknown user '%s' (--user)", user);
		return -1;
	}
	if (c->group && resolve_group(c->group, gid) < 0) {
		snprintf(err, errlen, "unknown group '%s' (--group)", c->group);
		return -1;
	}
	if (*uid == 0 || *gid == 0) {
		snprintf(err, errlen, "refusing to run as root: --user %s / --group %s is id 0",
			 user, c->group ? c->group : "(primary)");
		return -1;
	}
	return 0;
}

static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Empties the bounding set and locks the securebits, which both need CAP_SETPCAP.
 * Returns 1 when done, 0 when the process lacks CAP_SETPCAP, -1 with err on failure. */
static int lock_down(char *err, size_t errlen)
{
	cap_value_t cap, max = cap_max_bits();

	if (!proc_has(CAP_SETPCAP, CAP_PERMITTED))
		return 0;
	if (proc_set_effective(CAP_SETPCAP, CAP_SET) < 0) {
		snprintf(err, errlen, "cannot raise cap_setpcap: %s", strerror(errno));
		return -1;
	}
	for (cap = 0; cap < max; cap++) {
		if (cap_get_bound(cap) == 1 && cap_drop_bound(cap) < 0) {
			snprintf(err, errlen, "cannot drop capability %d from the bounding set: %s",
				 (int)cap, strerror(errno));
			return -1;
		}
	}
	if (cap_set_secbits(PRIV_SECUREBITS) < 0) {
		snprintf(err, errlen, "cannot lock the securebits: %s", strerror(errno));
		return -1;
	}
	return 1;
}

/* Supplementary groups to none, then real, effective and saved gid (process-wide in glibc). */
static int switch_group(gid_t gid, char *err, size_t errlen)
{
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0) {
		snprintf(err, errlen, "cannot switch to group %lu: %s", (unsigned long)gid,
			 strerror(errno));
		return -1;
	}
	return 0;
}

static int switch_user(uid_t uid, char *err, size_t errlen)
{
	if (setresuid(uid, uid, uid) < 0) {
		snprintf(err, errlen, "cannot switch to user %lu: %s", (unsigned long)uid,
			 strerror(errno));
		return -1;
	}
	return 0;
}

static int clear_sets(const struct config *c, char *err, size_t errlen)
{
	cap_t none = cap_init();
	int rc;

	if (none == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = cap_reset_ambient() < 0 ? -1 : cap_set_proc(none);
	cap_free(none);
	if (rc < 0) {
		snprintf(err, errlen, "cannot empty the capability sets: %s", strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_DUMPABLE, c->core_dumps ? 1 : 0, 0, 0, 0) < 0) {
		snprintf(err, errlen, "cannot set no_new_privs / dumpable: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void format_via(char *out, size_t outsz)
{
	size_t n = 0;
	int v;

	out[0] = '\0';
	for (v = 0; v < PRIV_VIA_MAX; v++)
		if (priv.via & (1u << v))
			n += (size_t)snprintf(out + n, n < outsz ? outsz - n : 0, "%s%s",
					      n ? "+" : "", via_names[v]);
	if (n == 0)
		snprintf(out, outsz, "none");
}

static void format_proof(const struct procstatus *st, char *line, size_t linelen)
{
	char uid[64], gid[64], bnd[32], sec[16], groups[256], via[128];
	unsigned bits = cap_get_secbits();

	procstatus_format_ids(uid, sizeof uid, st->uid);
	procstatus_format_ids(gid, sizeof gid, st->gid);
	format_via(via, sizeof via);
	snprintf(bnd, sizeof bnd, st->bnd ? "0x%016llx" : "none", st->bnd);
	if ((bits & PRIV_SECUREBITS) == PRIV_SECUREBITS && !(bits & SECBIT_KEEP_CAPS))
		snprintf(sec, sizeof sec, "locked");
	else
		snprintf(sec, sizeof sec, bits ? "0x%x" : "none", bits);
	procstatus_format_groups(groups, sizeof groups, st);
	snprintf(line, linelen,
		 "privileges: uid=%s gid=%s groups=%s caps=%s bounding=%s no_new_privs=%d via=%s "
		 "securebits=%s",
		 uid, gid, groups, (st->eff | st->prm | st->inh | st->amb) ? "left" : "none", bnd,
		 st->nnp, via, sec);
}

/* What to do about a bounding set left full, by where CAP_NET_BIND_SERVICE came from. */
static const char *const unlocked_fix[] = {
    [PRIV_SOURCE_NONE] = "",
    [PRIV_SOURCE_ROOT] = "start it as root with cap_setpcap",
    [PRIV_SOURCE_AMBIENT] = "grant it too: AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_SETPCAP",
    [PRIV_SOURCE_FILE] = "apply cap_net_bind_service,cap_setpcap=p: sudo dropcap-setcap ",
    [PRIV_SOURCE_CAPABILITY] = "hand it cap_setpcap too",
};

/* One warning when a process that held capabilities could not empty its bounding set. A
 * process that started with none had nothing to give up; its proof line still shows the set. */
static void warn_unlocked(const struct procstatus *st)
{
	char exe[PATH_MAX] = "";

	if (st->bnd == 0 || priv.source == PRIV_SOURCE_NONE)
		return;
	if (priv.source == PRIV_SOURCE_FILE)
		exe_path(exe, sizeof exe);
	log_warnx("the bounding set could not be emptied nor the securebits locked without "
		  "cap_setpcap; no_new_privs was set in their place (%s%s)",
		  unlocked_fix[priv.source], exe);
}

int priv_drop(const struct config *c, char *line, size_t linelen, char *err, size_t errlen)
{
	struct procstatus st;
	uid_t uid = 0;
	gid_t gid = 0;
	int locked;

	if (priv.root && priv_run_ids(c, &uid, &gid, err, errlen) < 0)
		return -1;
	if (count_threads() != 1) {
		snprintf(err, errlen, "threads exist before the privilege drop: refusing to serve");
		return -1;
	}
	if (priv.root && switch_group(gid, err, errlen) < 0)
		return -1;
	if ((locked = lock_down(err, errlen)) < 0)
		return -1;
	/* With no-setuid-fixup locked the switch keeps the sets: clear_sets empties them. */
	if (priv.root && switch_user(uid, err, errlen) < 0)
		return -1;
	if (clear_sets(c, err, errlen) < 0 || procstatus_verify(&st, err, errlen) < 0)
		return -1;
	format_proof(&st, line, linelen);
	if (!locked)
		warn_unlocked(&st);
	return 0;
}

/* ---- read-only facts for doctor ---- */

const char *priv_source_name(enum priv_source s)
{
	return sources[s].name;
}

static void caps_text(cap_t caps, char *out, size_t outsz)
{
	char *t = caps ? cap_to_text(caps, NULL) : NULL;

	snprintf(out, outsz, "%s", t == NULL || strcmp(t, "=") == 0 ? "none" : t);
	cap_free(t);
}

static void facts_file(struct priv_facts *f)
{
	cap_t caps = cap_get_file(PRIV_EXE);

	f->file_xattrs = caps != NULL || (errno != ENOTSUP && errno != EOPNOTSUPP);
	caps_text(caps, f->file_caps, sizeof f->file_caps);
	cap_free(caps);
	f->file_bind = file_has(CAP_NET_BIND_SERVICE) == 1;
	f->file_setpcap = file_has(CAP_SETPCAP) == 1;
}

void priv_facts_get(struct priv_facts *f)
{
	cap_t caps = cap_get_proc();
	cap_value_t cap, max = cap_max_bits();

	memset(f, 0, sizeof *f);
	exe_path(f->exe, sizeof f->exe);
	facts_file(f);
	caps_text(caps, f->proc_caps, sizeof f->proc_caps);
	cap_free(caps);
	f->proc_bind = proc_has(CAP_NET_BIND_SERVICE, CAP_PERMITTED);
	f->proc_setpcap = proc_has(CAP_SETPCAP, CAP_PERMITTED);
	f->ambient_bind = cap_get_ambient(CAP_NET_BIND_SERVICE) == 1;
	for (cap = 0; cap < max && cap < 64; cap++)
		if (cap_get_bound(cap) == 1)
			f->bounding |= 1ULL << cap;
	f->bounding_bind = cap_get_bound(CAP_NET_BIND_SERVICE) == 1;
	f->bounding_setpcap = cap_get_bound(CAP_SETPCAP) == 1;
	f->no_new_privs = priv.nnp;
	f->nosuid = exe_nosuid();
	f->unprivileged_port_start = port_start();
	f->source = priv.source;
	f->trap = find_trap();
}
