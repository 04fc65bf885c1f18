/* doctor.c — "dropcap doctor": says how each listener can be acquired here, what is missing and
 * the command that fixes it. Binds nothing, changes nothing; capability facts come from priv.c. */
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "listen.h"
#include "priv.h"
#include "sandbox.h"

#define DOCTOR_MAX_GROUPS 64

/* The identity the server will have after the drop: the files it must read are checked
 * against this, from the mode bits, without switching to it. */
struct doctor_who {
	uid_t uid;
	gid_t gid;
	gid_t groups[DOCTOR_MAX_GROUPS]; /* supplementary groups (none after a switch from root) */
	int ngroups;
	char name[64];
};

static void owner_names(const struct stat *st, char *out, size_t outsz)
{
	struct passwd *pw = getpwuid(st->st_uid);
	struct group *gr = getgrgid(st->st_gid);
	char u[32], g[32];

	snprintf(u, sizeof u, "%lu", (unsigned long)st->st_uid);
	snprintf(g, sizeof g, "%lu", (unsigned long)st->st_gid);
	snprintf(out, outsz, "%s:%s", pw ? pw->pw_name : u, gr ? gr->gr_name : g);
}

/* The mount holding path, from /proc/self/mountinfo: the longest mount point prefixing it. */
static void doctor_mount(const char *path, char *out, size_t outsz)
{
	char line[4096], mnt[1024], opts[512], fstype[64], best = 0;
	size_t bestlen = 0;
	FILE *f = fopen("/proc/self/mountinfo", "r");

	snprintf(out, outsz, "unknown");
	if (f == NULL)
		return;
	while (fgets(line, sizeof line, f)) {
		const char *dash = strstr(line, " - ");
		size_t n;

		if (dash == NULL || sscanf(line, "%*s %*s %*s %*s %1023s %511s", mnt, opts) != 2 ||
		    sscanf(dash + 3, "%63s", fstype) != 1)
			continue;
		n = strlen(mnt);
		if (strncmp(path, mnt, n) != 0 || (n > 1 && path[n] != '/' && path[n] != '\0') ||
		    (best && n < bestlen))
			continue;
		best = 1;
		bestlen = n;
		snprintf(out, outsz, "%s (%s, %s)", mnt, fstype, opts);
	}
	fclose(f);
}

static void doctor_binary(const struct priv_facts *f)
{
	struct stat st;
	char owner[160], mount[1700];

	if (f->exe[0] == '\0' || stat(f->exe, &st) < 0) {
		printf("binary: unknown (cannot read /proc/self/exe)\n");
		return;
	}
	owner_names(&st, owner, sizeof owner);
	printf("binary: %s (owner %s, mode %04o)\n", f->exe, owner, (unsigned)(st.st_mode & 07777));
	printf("binary capabilities: %s%s\n", f->file_caps,
	       f->file_xattrs ? "" : " (its file system has no extended attributes)");
	doctor_mount(f->exe, mount, sizeof mount);
	printf("binary mount: %s: file capabilities %s\n", mount,
	       f->nosuid ? "IGNORED (nosuid)" : "honoured");
	if (!(st.st_mode & S_IXOTH)) {
		printf("others may execute the binary: no\n");
		return;
	}
	printf("others may execute the binary: yes%s\n",
	       f->file_bind ? " (so every local user may bind privileged ports with it)" : "");
	if (f->file_bind)
		printf("  to restrict: sudo chown root:dropcap %s && sudo chmod 0750 %s && sudo "
		       "dropcap-setcap %s (chown clears the capability)\n",
		       f->exe, f->exe, f->exe);
}

static const char *has_what(int bind, int setpcap)
{
	if (bind && setpcap)
		return "has cap_net_bind_service and cap_setpcap";
	if (bind)
		return "has cap_net_bind_service, lacks cap_setpcap";
	if (setpcap)
		return "LACKS cap_net_bind_service";
	return "LACKS cap_net_bind_service and cap_setpcap";
}

static void doctor_process(const struct priv_facts *f)
{
	printf("process: uid=%lu gid=%lu capabilities: %s\n", (unsigned long)getuid(),
	       (unsigned long)getgid(), f->proc_caps);
	printf("ambient cap_net_bind_service: %s\n", f->ambient_bind ? "yes" : "no");
	printf("no_new_privs: %d%s\n", f->no_new_privs,
	       f->no_new_privs ? " (file capabilities are ignored)" : "");
	if (f->bounding)
		printf("bounding set: 0x%016llx (%s)\n", f->bounding,
		       has_what(f->bounding_bind, f->bounding_setpcap));
	else
		printf("bounding set: none\n");
	printf("net.ipv4.ip_unprivileged_port_start: %d\n", f->unprivileged_port_start);
}

/* Whether the binary's file capability gives an unprivileged user cap_net_bind_service here. */
static void doctor_file_capability(const struct priv_facts *f)
{
	char why[768];

	if (f->trap == PRIV_TRAP_NONE) {
		printf("file capability: works here%s\n",
		       f->file_setpcap ? ""
				       : " (without cap_setpcap the bounding set cannot be "
					 "emptied)");
		return;
	}
	priv_explain(why, sizeof why);
	printf("file capability: does not work here: %s.\n", why);
}

static int doctor_inherited(const struct listen_set *set, int kind)
{
	int found = 0;

	for (size_t i = 0; i < set->n; i++) {
		if ((int)set->l[i].kind != kind)
			continue;
		printf("listener %s %s: ok: inherited (%s, fd %d)\n", listen_kind_name(kind),
		       set->l[i].name, set->l[i].via, set->l[i].fd);
		found = 1;
	}
	return found;
}

/* Reports how spec would be bound. Returns 0 when it could be, -1 otherwise. */
static int doctor_bind(const char *kind, const char *spec, const struct priv_facts *f)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[512];
	int port;

	if (listen_parse_addr(spec, &ss, &len, err, sizeof err) < 0) {
		printf("listener %s %s: NO: %s\n", kind, spec, err);
		return -1;
	}
	port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					      : ((struct sockaddr_in *)&ss)->sin_port);
	if (!priv_port_privileged(port)) {
		printf("listener %s %s: ok: port %d is not privileged here\n", kind, spec, port);
		return 0;
	}
	if (f->source != PRIV_SOURCE_NONE) {
		printf("listener %s %s: ok: %s\n", kind, spec, priv_source_name(f->source));
		return 0;
	}
	printf("listener %s %s: NO: port %d needs cap_net_bind_service, which this process lacks "
	       "(see file capability above)\n",
	       kind, spec, port);
	return -1;
}

/* Mirrors listen_acquire: inherited sockets first, then the configured addresses they leave. */
static int doctor_listeners(const struct config *c, const struct priv_facts *f, int *total)
{
	const char *spec[] = {[LISTEN_HTTPS] = c->https, [LISTEN_HTTP] = c->http};
	const int given[] = {[LISTEN_HTTPS] = c->https_given, [LISTEN_HTTP] = c->http_given};
	struct listen_set set;
	char err[512];
	int failed = 0;

	if (listen_inherited(c, &set, err, sizeof err) < 0) {
		printf("inherited sockets: NO: %s\n", err);
		(*total)++;
		return 1;
	}
	for (int k = LISTEN_HTTPS; k <= LISTEN_HTTP; k++) {
		if (doctor_inherited(&set, k)) {
			(*total)++;
			continue;
		}
		if (!spec[k] || (set.n && !given[k]))
			continue;
		(*total)++;
		failed += doctor_bind(listen_kind_name((enum listen_kind)k), spec[k], f) < 0;
	}
	return failed;
}

/* ---- can the run user read the certificate and key? ---- */

static int who_in_group(const struct doctor_who *w, gid_t g)
{
	if (w->gid == g)
		return 1;
	for (int i = 0; i < w->ngroups; i++)
		if (w->groups[i] == g)
			return 1;
	return 0;
}

/* want: 4 read, 1 search/execute. The classic owner / group / other decision. */
static int who_may(const struct doctor_who *w, const struct stat *st, unsigned want)
{
	unsigned bits = (unsigned)st->st_mode & 0777;

	if (w->uid == 0)
		return 1;
	if (st->st_uid == w->uid)
		return ((bits >> 6) & want) == want;
	if (who_in_group(w, st->st_gid))
		return ((bits >> 3) & want) == want;
	return (bits & want) == want;
}

static int has_acl(const char *path)
{
	return getxattr(path, "system.posix_acl_access", NULL, 0) > 0;
}

/* Walks every directory of the absolute path abs. Returns 1 when w may read it, else 0 with
 * the component that stops it in why. *acl is set when an ACL may change the answer. */
static int who_can_read(const struct doctor_who *w, const char *abs, char *why, size_t whylen,
			int *acl)
{
	char prefix[PATH_MAX], owner[160];
	struct stat st;
	size_t n = strlen(abs);

	for (size_t i = 1; i <= n; i++) {
		int last = i == n;
		if (!last && abs[i] != '/')
			continue;
		snprintf(prefix, sizeof prefix, "%.*s", (int)i, abs);
		if (stat(prefix, &st) < 0) {
			snprintf(why, whylen, "%s: %s", prefix, strerror(errno));
			return 0;
		}
		*acl |= has_acl(prefix);
		if (!who_may(w, &st, last ? 4 : 1)) {
			owner_names(&st, owner, sizeof owner);
			snprintf(why, whylen, "%s is %04o %s", prefix,
				 (unsigned)(st.st_mode & 07777), owner);
			return 0;
		}
	}
	return 1;
}

static int doctor_readable(const struct doctor_who *w, const char *label, const char *path)
{
	char abs[PATH_MAX], real[PATH_MAX], why[PATH_MAX + 200] = "";
	struct group *gr;
	int acl = 0, ok;

	if (path == NULL)
		return 1;
	if (path[0] == '/' || getcwd(abs, sizeof abs) == NULL)
		snprintf(abs, sizeof abs, "%s", path);
	else
		snprintf(abs + strlen(abs), sizeof abs - strlen(abs), "/%s", path);
	ok = who_can_read(w, abs, why, sizeof why, &acl);
	if (ok && realpath(abs, real) != NULL)
		ok = who_can_read(w, real, why, sizeof why, &acl);
	if (ok && w->uid == getuid() && access(abs, R_OK) < 0) {
		snprintf(why, sizeof why, "access(2) refuses: %s", strerror(errno));
		ok = 0;
	}
	if (ok) {
		printf("%s %s: readable by %s%s\n", label, path, w->name,
		       acl ? " (an ACL applies: checked from the mode bits)" : "");
		return 1;
	}
	gr = getgrgid(w->gid);
	printf("%s %s: NOT readable by %s: %s\n", label, path, w->name, why);
	printf("  fix: sudo chgrp %s %s && sudo chmod g+r %s (and let that group search its "
	       "directories)\n",
	       gr ? gr->gr_name : "GROUP", path, path);
	return 0;
}

/* A reload (SIGHUP) reads the files as the run user, inside the sandbox: started as root,
 * dropcap read them as root, so a key only root can read starts but never reloads. */
static void doctor_reload(const struct doctor_who *w, int any, int ok)
{
	if (!any)
		return;
	if (ok) {
		printf("reload (SIGHUP): certificate and key readable by %s: yes\n", w->name);
		return;
	}
	printf("reload (SIGHUP): certificate and key readable by %s: NO: %s (see the fix "
	       "above)\n",
	       w->name,
	       getuid() == 0 ? "started as root, dropcap reads them at start, but a reload reads "
			       "them as the run user and keeps the old certificate"
			     : "dropcap cannot start, nor reload");
}

/* Every site's certificate and key (labelled by site when there are several); the number of
 * sites with a certificate in *any. Returns 1 when the run user may read them all. */
static int doctor_site_files(const struct doctor_who *w, const struct config *c, int *any)
{
	char cert[320], key[320];
	int ok = 1;

	*any = 0;
	for (size_t i = 0; i < c->n_sites; i++) {
		const struct config_site *s = &c->sites[i];
		const char *site = c->n_sites > 1 && s->names ? s->names : NULL;
		if (!s->cert)
			continue;
		(*any)++;
		snprintf(cert, sizeof cert, "%s%scertificate", site ? site : "", site ? " " : "");
		snprintf(key, sizeof key, "%s%skey", site ? site : "", site ? " " : "");
		ok &= doctor_readable(w, cert, s->cert);
		ok &= doctor_readable(w, key, s->key);
	}
	if (*any) /* a reload reads it too */
		ok &= doctor_readable(w, "ticket key file", c->ticket_key_file);
	return ok;
}

static int doctor_who_get(const struct config *c, struct doctor_who *w)
{
	char err[256];
	struct passwd *pw;

	memset(w, 0, sizeof *w);
	if (priv_run_ids(c, &w->uid, &w->gid, err, sizeof err) < 0) {
		printf("run user: NO: %s\n", err);
		return -1;
	}
	if (w->uid == getuid()) {
		int n = getgroups(DOCTOR_MAX_GROUPS, w->groups);
		w->ngroups = n < 0 ? 0 : n;
	}
	pw = getpwuid(w->uid);
	snprintf(w->name, sizeof w->name, "%s", pw ? pw->pw_name : "?");
	printf("run user: %s (uid %lu, gid %lu%s)\n", w->name, (unsigned long)w->uid,
	       (unsigned long)w->gid,
	       w->ngroups ? ", with its groups" : ", no supplementary groups");
	return 0;
}

int priv_doctor(const struct config *c)
{
	struct priv_facts f;
	struct doctor_who w;
	char sandbox[160];
	int total = 0, failed, user_failed = 0;

	priv_facts_get(&f);
	doctor_binary(&f);
	doctor_process(&f);
	doctor_file_capability(&f);
	failed = doctor_listeners(c, &f, &total);
	if (doctor_who_get(c, &w) == 0) {
		int any, ok = doctor_site_files(&w, c, &any);
		doctor_reload(&w, any, ok);
	} else {
		user_failed = 1;
	}
	sandbox_describe(sandbox, sizeof sandbox);
	printf("sandbox: %s%s\n", sandbox, c->no_sandbox ? " (off: --no-sandbox)" : "");
	if (f.source == PRIV_SOURCE_ROOT && w.name[0])
		printf("note: as root every port binds; the server then runs as %s. To check the "
		       "file capability for that user: sudo -u %s %s doctor ...\n",
		       w.name, w.name, f.exe);
	if (failed)
		printf("result: %d of %d listeners cannot be acquired here\n", failed, total);
	else
		printf("result: every listener can be acquired here\n");
	if (user_failed)
		printf("result: the server could not switch to the run user (see above)\n");
	return failed || user_failed ? 1 : 0;
}
