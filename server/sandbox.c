/* sandbox.c — after the privilege drop, the serving process is confined twice: Landlock limits
 * which files it may open (and forbids TCP bind/connect), a seccomp allow-list limits which
 * system calls it may make. Both are checked back from the kernel before the first client byte,
 * as the drop is. The only file that includes <seccomp.h> and <linux/landlock.h>. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <linux/landlock.h>
#include <netinet/in.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "procstatus.h"
#include "sandbox.h"

/* Debian 12's <linux/landlock.h> (Linux 6.1) stops at ABI 2; the kernel ABI is stable, so the
 * later rights are spelt out here with the values of the kernel's uapi header. */
#define SANDBOX_FS_TRUNCATE (1ULL << 14)	/* ABI 3 */
#define SANDBOX_FS_IOCTL_DEV (1ULL << 15)	/* ABI 5 */
#define SANDBOX_NET_BIND_TCP (1ULL << 0)	/* ABI 4 */
#define SANDBOX_NET_CONNECT_TCP (1ULL << 1)	/* ABI 4 */
#define SANDBOX_SCOPE_ABSTRACT_UNIX (1ULL << 0) /* ABI 6 */
#define SANDBOX_SCOPE_SIGNAL (1ULL << 1)	/* ABI 6 */

/* struct landlock_ruleset_attr as of ABI 6; the kernel accepts the longer struct from older
 * ABIs as long as the fields it does not know are zero. */
struct sandbox_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

#define SANDBOX_FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define SANDBOX_FS_LOG (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG)

/* The sanitizer build: gcc defines __SANITIZE_ADDRESS__ with -fsanitize=address, clang (14)
 * only answers __has_feature. */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif

#define SANDBOX_MAX_TASKS 64 /* threads whose status is checked (dropcap has one) */
#define SANDBOX_NAMES 512    /* x86-64 and aarch64 numbers are below this */
#define SANDBOX_NAME_LEN 28

/* What a system call filter of the parent (systemd's SystemCallFilter=, a container's seccomp
 * profile) must let through for the seccomp filter to load. */
#define SANDBOX_FILTERED                                                                           \
	"a system call filter of the parent process (systemd SystemCallFilter=, a container's "    \
	"seccomp profile) forbids seccomp(): allow it, or use --no-sandbox"

/* What sandbox_apply opens before confining itself and reads back afterwards: Landlock may
 * forbid /proc then, so the status files are opened first and re-read with pread. */
struct sandbox_check {
	int status_fd;			/* /proc/self/status */
	int task_fd[SANDBOX_MAX_TASKS]; /* /proc/self/task/N/status */
	int ntasks;
	char probe[PATH_MAX]; /* readable now, outside every Landlock rule; "" if none */
	int probe_dir;	      /* it is a directory */
};

/* ---- the SIGSYS handler: only async-signal-safe work ---- */

/* System call names, resolved with libseccomp before the filter is loaded: the handler cannot
 * call seccomp_syscall_resolve_num_arch, which allocates. */
static char sandbox_names[SANDBOX_NAMES][SANDBOX_NAME_LEN];
static uint32_t sandbox_arch;

static size_t put(char *buf, size_t n, size_t cap, const char *s)
{
	while (*s && n < cap)
		buf[n++] = *s++;
	return n;
}

static size_t put_num(char *buf, size_t n, size_t cap, unsigned long v)
{
	char digits[24];
	int i = 0;

	do
		digits[i++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	while (i > 0 && n < cap)
		buf[n++] = digits[--i];
	return n;
}

/* A system call outside the list: one write() naming it, then the process dies of SIGSYS,
 * as with SECCOMP_RET_KILL_PROCESS. rt_sigaction(SIGSYS) is itself outside the list and
 * SIGSYS is blocked inside this handler, so the kernel kills the process with SIGSYS (a
 * forced signal that is blocked resets to its default action); _exit is a fallback only. */
static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
	char msg[160];
	size_t n = 0, cap = sizeof msg - 1;
	unsigned nr = (unsigned)si->si_syscall;
	int native = si->si_arch == sandbox_arch;

	(void)sig;
	(void)uctx;
	n = put(msg, n, cap, "dropcap: seccomp: system call ");
	if (native && nr < SANDBOX_NAMES && sandbox_names[nr][0])
		n = put(msg, n, cap, sandbox_names[nr]);
	else
		n = put(msg, n, cap, native ? "?" : "of a foreign architecture");
	n = put(msg, n, cap, " (");
	n = put_num(msg, n, cap, nr);
	n = put(msg, n, cap, ") is not allowed: killing the process\n");
	(void)!write(STDERR_FILENO, msg, n);
	signal(SIGSYS, SIG_DFL);
	_exit(128 + SIGSYS);
}

static int trap_install(char *err, size_t errlen)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return log_errbuf(err, errlen, "cannot install the SIGSYS handler: %s",
				  strerror(errno));
	sandbox_arch = seccomp_arch_native();
	for (int nr = 0; nr < SANDBOX_NAMES; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

		snprintf(sandbox_names[nr], SANDBOX_NAME_LEN, "%s", name ? name : "");
		free(name);
	}
	return 0;
}

/* ---- Landlock, through the kernel ABI: Debian 12 has no liblandlock ---- */

static int ll_create(const struct sandbox_ruleset_attr *attr, size_t size, uint32_t flags)
{
	return (int)syscall(SYS_landlock_create_ruleset, attr, size, flags);
}

/* The Landlock ABI version of the running kernel, or -1 with errno (ENOSYS: not built in, or
 * hidden by a container's filter; EOPNOTSUPP: not enabled at boot; EPERM: a parent's filter). */
static int ll_abi(void)
{
	return ll_create(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
}

/* Every right this ABI knows is handled, so each is denied unless a rule below grants it. */
static void ll_handled(int abi, struct sandbox_ruleset_attr *attr)
{
	memset(attr, 0, sizeof *attr);
	attr->handled_access_fs = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0-12 */
	if (abi >= 2)
		attr->handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		attr->handled_access_fs |= SANDBOX_FS_TRUNCATE;
	if (abi >= 5)
		attr->handled_access_fs |= SANDBOX_FS_IOCTL_DEV;
	/* TCP: handled with no rule, so no bind() and no connect() (the listeners are bound). */
	if (abi >= 4)
		attr->handled_access_net = SANDBOX_NET_BIND_TCP | SANDBOX_NET_CONNECT_TCP;
	/* No signal to a process outside the sandbox, no connect to an abstract unix socket
	 * bound outside it: dropcap sends neither (a future sd_notify uses a path socket). */
	if (abi >= 6)
		attr->scoped = SANDBOX_SCOPE_ABSTRACT_UNIX | SANDBOX_SCOPE_SIGNAL;
}

static int ll_rule_fd(int ruleset, int fd, uint64_t access)
{
	struct landlock_path_beneath_attr pb = {.allowed_access = access, .parent_fd = fd};

	return (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
}

/* The directory that holds the real file behind path (after every symlink): dirname of its
 * realpath, or "" when the run user cannot resolve it. Started as root, dropcap reads the
 * certificate and opens the log before the drop; when the run user cannot even reach them
 * (certbot's live/ and archive/ are 0700 root) no rule is needed, nor could one be made: a
 * Landlock rule only ever narrows what permissions allow. */
static void real_dir(const char *path, char *dir)
{
	char *slash;

	if (!realpath(path, dir)) {
		dir[0] = '\0';
		return;
	}
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0'; /* a file in / */
	else
		*slash = '\0';
}

static int ll_rule_path(int ruleset, const char *dir, uint64_t access, char *err, size_t errlen)
{
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return log_errbuf(err, errlen, "sandbox: cannot open %s: %s", dir, strerror(errno));
	rc = ll_rule_fd(ruleset, fd, access);
	close(fd);
	if (rc < 0)
		return log_errbuf(err, errlen, "sandbox: Landlock rule for %s: %s", dir,
				  strerror(errno));
	return 0;
}

/* The directories the rules name, resolved once at start ("" when the option is not set), for
 * each site (n of them). */
struct sandbox_paths {
	size_t n;
	const int *root_fds;
	char root[CONFIG_MAX_SITES][PATH_MAX]; /* --root (for the probe; rules use root_fds) */
	char cert[CONFIG_MAX_SITES][PATH_MAX]; /* the directory of the real --cert file */
	char key[CONFIG_MAX_SITES][PATH_MAX];
	char log[PATH_MAX];	/* the directory of the real --access-log file */
	char conf[PATH_MAX];	/* the directory of the real --config file (SIGHUP reads it) */
	char tickets[PATH_MAX]; /* the directory of --ticket-key-file (SIGHUP reads it) */
};

static int paths_get(const struct config *c, const int *root_fds, struct sandbox_paths *p,
		     char *err, size_t errlen)
{
	char self[64];

	memset(p, 0, sizeof *p);
	p->n = c->n_sites;
	p->root_fds = root_fds;
	for (size_t i = 0; i < c->n_sites; i++) {
		const struct config_site *s = &c->sites[i];
		snprintf(self, sizeof self, "/proc/self/fd/%d", root_fds[i]);
		if (!realpath(self, p->root[i]))
			return log_errbuf(err, errlen, "sandbox: cannot resolve --root %s: %s",
					  s->root, strerror(errno));
		if (s->cert) {
			real_dir(s->cert, p->cert[i]);
			real_dir(s->key, p->key[i]);
		}
	}
	if (c->access_log && strcmp(c->access_log, "off") != 0)
		real_dir(c->access_log, p->log);
	if (c->config_file)
		real_dir(c->config_file, p->conf);
	if (c->ticket_key_file)
		real_dir(c->ticket_key_file, p->tickets);
	return 0;
}

/* What the process may still reach on the file system once confined:
 * - read files and list directories beneath --root (root_fd: the directory opened at start);
 * - read files (not list) beneath the directory that holds the real certificate and key, after
 *   symlinks: certbot renews by writing fullchainN+1.pem next to the old one in archive/ and
 *   re-pointing live/'s symlinks, and a deploy that renames a new file over the old one keeps
 *   the directory too, so a reload (SIGHUP) re-reading --cert and --key reaches the new file;
 * - read files beneath the directories of the real --config and --ticket-key-file, which SIGHUP
 *   reads again (a deploy renames a new key file over the old one, in the same directory);
 * - write and create (not read, list, truncate or delete) files beneath the directory of the
 *   access log, which SIGUSR1 reopens after logrotate moved it (O_APPEND needs no truncate);
 * - the sanitizer build only: read /proc/self (LeakSanitizer lists and stops the threads, ASan
 *   reads the memory map) and files beside the binary (to symbolize its reports).
 * Descriptors opened before (listeners, stdout, stderr, the log, the root) keep working. */
/* The rules of site i: its root, and its certificate's and key's directories. */
static int ll_site_rules(int rs, const struct sandbox_paths *p, size_t i, char *err, size_t errlen)
{
	if (ll_rule_fd(rs, p->root_fds[i], SANDBOX_FS_READ) < 0)
		return log_errbuf(err, errlen, "sandbox: Landlock rule for --root %s: %s",
				  p->root[i], strerror(errno));
	/* --acme-root: read like a root (certbot --webroot writes the challenges there) */
	if (p->root_fds[CONFIG_ACME_FD(i)] >= 0 &&
	    ll_rule_fd(rs, p->root_fds[CONFIG_ACME_FD(i)], SANDBOX_FS_READ) < 0)
		return log_errbuf(err, errlen, "sandbox: Landlock rule for --acme-root: %s",
				  strerror(errno));
	if (p->cert[i][0] &&
	    ll_rule_path(rs, p->cert[i], LANDLOCK_ACCESS_FS_READ_FILE, err, errlen) < 0)
		return -1;
	if (p->key[i][0] &&
	    ll_rule_path(rs, p->key[i], LANDLOCK_ACCESS_FS_READ_FILE, err, errlen) < 0)
		return -1;
	return 0;
}

static int ll_rules(int rs, const struct sandbox_paths *p, char *err, size_t errlen)
{
	for (size_t i = 0; i < p->n; i++)
		if (ll_site_rules(rs, p, i, err, errlen) < 0)
			return -1;
	if (p->log[0] && ll_rule_path(rs, p->log, SANDBOX_FS_LOG, err, errlen) < 0)
		return -1;
	if (p->conf[0] && ll_rule_path(rs, p->conf, LANDLOCK_ACCESS_FS_READ_FILE, err, errlen) < 0)
		return -1;
	if (p->tickets[0] &&
	    ll_rule_path(rs, p->tickets, LANDLOCK_ACCESS_FS_READ_FILE, err, errlen) < 0)
		return -1;
#ifdef SANDBOX_SANITIZER
	char exe[PATH_MAX];

	real_dir("/proc/self/exe", exe);
	if (ll_rule_path(rs, "/proc/self", SANDBOX_FS_READ, err, errlen) < 0 ||
	    (exe[0] && ll_rule_path(rs, exe, LANDLOCK_ACCESS_FS_READ_FILE, err, errlen) < 0))
		return -1;
#endif
	return 0;
}

static int ll_apply(int abi, const struct sandbox_paths *p, char *err, size_t errlen)
{
	struct sandbox_ruleset_attr attr;
	int rs, rc;

	ll_handled(abi, &attr);
	if ((rs = ll_create(&attr, sizeof attr, 0)) < 0)
		return log_errbuf(err, errlen, "sandbox: cannot create a Landlock ruleset: %s",
				  strerror(errno));
	rc = ll_rules(rs, p, err, errlen);
	if (rc == 0 && syscall(SYS_landlock_restrict_self, rs, 0) < 0)
		rc = log_errbuf(err, errlen, "sandbox: cannot enforce Landlock: %s",
				strerror(errno));
	close(rs);
	return rc;
}

/* ---- seccomp: the allow-list, through libseccomp ---- */

/* System calls allowed whatever their arguments. Seen under strace -f across the test suites
 * (everything after "serving"): epoll_wait epoll_ctl accept4 read write pread64 sendfile
 * recvfrom sendto shutdown close openat openat2 newfstatat brk rt_sigreturn exit_group (and
 * fcntl, setsockopt, rt_sigaction, filtered below). Added with a reason, not seen in the runs:
 * getrandom (mbedTLS and OpenSSL reseed their DRBGs), mmap/munmap/mremap/madvise (large buffers,
 * malloc_trim), clock_gettime/gettimeofday (when the vDSO falls back to the kernel),
 * restart_syscall (the kernel restarting an interrupted call), rt_sigprocmask/getpid/gettid/
 * futex/exit (abort, stdio locks), readlink/readlinkat (/proc/self/fd/N, to see what a
 * descriptor opened), readv/writev/sendmsg (gathered writes), epoll_pwait and fstat (other
 * libc builds and architectures). The OpenSSL build (make TLS=openssl) needs no more: under
 * strace, TLS 1.2 and 1.3 handshakes, resumptions and a SIGHUP reload made only these calls
 * (getpid too: OpenSSL's random generator checks it for a fork). */
/* clang-format off */
static const int sandbox_allow[] = {
	/* the event loop (libev: epoll, and the eventfd its signal handler writes to) */
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl),
	/* libev rebuilds its epoll set when a descriptor it watched was closed while another
	 * process still holds the socket (a listener after the drain closed it: the upgrade's new
	 * process, the upgrade helper, or systemd with socket activation hold it too): the kernel
	 * keeps reporting it, libev cannot remove it by number any more and starts afresh */
	SCMP_SYS(epoll_create1),
	/* connections and files */
	SCMP_SYS(accept4), SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(sendfile), SCMP_SYS(recvfrom), SCMP_SYS(sendto),
	SCMP_SYS(sendmsg), SCMP_SYS(shutdown), SCMP_SYS(close),
	/* paths: Landlock decides what they may reach (stat metadata is not confined) */
	SCMP_SYS(openat), SCMP_SYS(openat2), SCMP_SYS(fstat), SCMP_SYS(newfstatat),
	SCMP_SYS(readlink), SCMP_SYS(readlinkat),
	/* --autoindex: a directory's entries (Landlock allows listing beneath the roots only) */
	SCMP_SYS(getdents64),
	/* memory: glibc malloc and malloc_trim (mmap and mprotect: see the PROT_EXEC rule) */
	SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
	/* time, randomness, signals, locks, exit */
	SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday), SCMP_SYS(getrandom),
	SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn), SCMP_SYS(restart_syscall),
	SCMP_SYS(futex), SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(exit_group), SCMP_SYS(exit),
	/* the logs: at exit a blocked output is waited for (poll, bounded); a failed SIGUSR1
	 * reopen names the run user (getuid) */
	SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(getuid),
	/* SIGHUP: mbedTLS and OpenSSL read the certificate and key with stdio (fseek) */
	SCMP_SYS(lseek),
};
/* clang-format on */

/* An allow rule with one argument condition. */
struct sandbox_rule {
	int nr;
	struct scmp_arg_cmp arg;
};

/* What pthread_create and a thread's start and end need (--workers starts its threads after
 * the sandbox, so that they inherit it): clone with a thread's flags only, never a new process
 * or namespace (fork stays forbidden); clone3 takes its flags in memory, which a filter cannot
 * read, so it fails with ENOSYS and glibc falls back to clone; each thread registers its robust
 * futex list and rseq area (futex, mmap/mprotect without PROT_EXEC for the stack and its guard,
 * madvise and exit are allowed already). */
#define SANDBOX_CLONE_THREAD (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD)
#define SANDBOX_CLONE_CHECKED                                                                      \
	(SANDBOX_CLONE_THREAD | CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |      \
	 CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_PTRACE | CLONE_VFORK | CLONE_PARENT)
static int seccomp_thread_rules(scmp_filter_ctx ctx)
{
	int rc = seccomp_rule_add(
	    ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
	    SCMP_A0_64(SCMP_CMP_MASKED_EQ, SANDBOX_CLONE_CHECKED, SANDBOX_CLONE_THREAD));

	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(set_robust_list), 0);
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(rseq), 0);
	return rc;
}

/* Adds the calls allowed with some arguments only. int arguments are compared on 32 bits:
 * the kernel ignores the upper half of the register, so a 64-bit "not equal" would let
 * SIGSYS | 1 << 32 through. */
static int seccomp_rules(scmp_filter_ctx ctx)
{
	const struct sandbox_rule rules[] = {
	    /* no new executable memory: code injected into the process cannot be made to run */
	    {SCMP_SYS(mmap), SCMP_A2_64(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)},
	    {SCMP_SYS(mprotect), SCMP_A2_64(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)},
	    /* any handler but SIGSYS's: the seccomp report cannot be replaced or silenced */
	    {SCMP_SYS(rt_sigaction), SCMP_A0_32(SCMP_CMP_NE, SIGSYS)},
	    /* accept and the connection code set TCP and socket options (TCP_NODELAY, SO_LINGER),
	     * never IP-level ones (IP_TRANSPARENT, IPV6 routing headers...) */
	    {SCMP_SYS(setsockopt), SCMP_A1_32(SCMP_CMP_EQ, IPPROTO_TCP)},
	    {SCMP_SYS(setsockopt), SCMP_A1_32(SCMP_CMP_EQ, SOL_SOCKET)},
	    /* status and descriptor flags (fdopen, O_NONBLOCK); nothing that sends signals
	     * (F_SETOWN, F_SETSIG), takes leases, watches directories or seals */
	    {SCMP_SYS(fcntl), SCMP_A1_32(SCMP_CMP_EQ, F_GETFL)},
	    {SCMP_SYS(fcntl), SCMP_A1_32(SCMP_CMP_EQ, F_SETFL)},
	    {SCMP_SYS(fcntl), SCMP_A1_32(SCMP_CMP_EQ, F_GETFD)},
	    {SCMP_SYS(fcntl), SCMP_A1_32(SCMP_CMP_EQ, F_SETFD)},
	    /* the connection code asks how much input waits (FIONREAD) and how much of the
	     * last response is unacknowledged (SIOCOUTQ) to choose between close and linger */
	    {SCMP_SYS(ioctl), SCMP_A1_32(SCMP_CMP_EQ, FIONREAD)},
	    {SCMP_SYS(ioctl), SCMP_A1_32(SCMP_CMP_EQ, SIOCOUTQ)},
	};
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < sizeof rules / sizeof rules[0]; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, rules[i].nr, 1, rules[i].arg);
	/* abort() (a failed assertion) may raise SIGABRT in this process, nothing else */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 2,
				      SCMP_A0_32(SCMP_CMP_EQ, (uint32_t)getpid()),
				      SCMP_A2_32(SCMP_CMP_EQ, SIGABRT));
	return rc == 0 ? seccomp_thread_rules(ctx) : rc;
}

#ifdef SANDBOX_SANITIZER
/* The sanitizer build only (SANDBOX_SANITIZER): LeakSanitizer's check at exit
 * clones a tracer that ptrace-attaches to every thread (listing them in /proc/PID/task with
 * open/lseek/getdents) and reads their registers while the parent spins in sched_yield. The
 * tracer blocks SIGSYS, so a refused call kills it silently and the parent spins for ever:
 * each call was found from the tracer's core (orig_rax), then the list checked by removing
 * each entry. Tuned for gcc's libsanitizer (the Makefile's build, with its internal
 * symbolizer); clang's runtime also stats files and forks llvm-symbolizer, which this list
 * does not allow. Never in the release binary. */
static const int sandbox_allow_san[] = {
    SCMP_SYS(clone),
    SCMP_SYS(ptrace),
    SCMP_SYS(wait4),
    SCMP_SYS(sched_yield),
    SCMP_SYS(getdents),
    SCMP_SYS(sigaltstack),
    SCMP_SYS(getppid),
    SCMP_SYS(lseek),
    SCMP_SYS(open),
    /* ASan's thread start (--workers) reads its stack through pthread_getattr_np */
    SCMP_SYS(sched_getaffinity),
};
/* prctl options: the tracer dies with its parent; the parent lets it attach (dumpable,
 * Yama's ptracer) and restores dumpable after. */
static const int sandbox_prctl_san[] = {PR_GET_DUMPABLE, PR_SET_DUMPABLE, PR_SET_PTRACER,
					PR_SET_PDEATHSIG};
#endif

static int seccomp_allow(scmp_filter_ctx ctx, const int *nr, size_t n)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr[i], 0);
	return rc;
}

/* Builds the filter (anything not allowed traps into on_sigsys, a foreign architecture too)
 * and loads it into every thread. */
static int seccomp_apply(char *err, size_t errlen)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	int rc;

	if (ctx == NULL)
		return log_errbuf(err, errlen, "sandbox: seccomp_init failed");
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP);
	if (rc == 0) /* the kernel's errno, not libseccomp's ECANCELED */
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc == 0)
		rc = seccomp_allow(ctx, sandbox_allow, sizeof sandbox_allow / sizeof(int));
#ifdef SANDBOX_SANITIZER
	if (rc == 0)
		rc = seccomp_allow(ctx, sandbox_allow_san, sizeof sandbox_allow_san / sizeof(int));
	for (size_t i = 0; rc == 0 && i < sizeof sandbox_prctl_san / sizeof(int); i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				      SCMP_A0_32(SCMP_CMP_EQ, (uint32_t)sandbox_prctl_san[i]));
	/* isatty(2) before a report, to choose colours */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				      SCMP_A1_64(SCMP_CMP_EQ, TCGETS));
#endif
	if (rc == 0)
		rc = seccomp_rules(ctx);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	/* libseccomp reports a seccomp() that a parent's filter refuses as unsupported */
	if (rc == -EPERM || rc == -EOPNOTSUPP)
		return log_errbuf(err, errlen,
				  "sandbox: cannot load a seccomp filter: this kernel "
				  "lacks seccomp filters, or " SANDBOX_FILTERED);
	if (rc < 0)
		return log_errbuf(err, errlen, "sandbox: cannot load the seccomp filter: %s",
				  strerror(-rc));
	return 0;
}

/* ---- the check, like the drop's: read back from the kernel ---- */

/* Whether path lies beneath dir (or is dir). */
static int beneath(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (dir[0] == '\0')
		return 0;
	if (strcmp(dir, "/") == 0)
		return 1;
	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* Whether real lies beneath a site's root (any file), or (a file) its certificate's or key's
 * directory: a read rule covers it. */
static int covered(const struct sandbox_paths *p, const char *real, int dir)
{
	for (size_t i = 0; i < p->n; i++)
		if (beneath(real, p->root[i]) ||
		    (!dir && (beneath(real, p->cert[i]) || beneath(real, p->key[i]))))
			return 1;
	return !dir && (beneath(real, p->conf) || beneath(real, p->tickets));
}

/* A probe for Landlock: something this user can open now that no read rule covers, so it must
 * fail with EACCES once Landlock holds. A regular file first; "/" (a directory, which only the
 * --root rule could cover) last. */
static void probe_pick(const struct sandbox_paths *p, struct sandbox_check *k)
{
	static const struct {
		const char *path;
		int dir;
	} cand[] = {{"/etc/passwd", 0}, {"/dev/null", 0}, {"/", 1}};

	k->probe[0] = '\0';
	for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++) {
		char real[PATH_MAX];
		int fd;

		if (!realpath(cand[i].path, real) || covered(p, real, cand[i].dir))
			continue;
		fd = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY | (cand[i].dir ? O_DIRECTORY : 0));
		if (fd < 0)
			continue;
		close(fd);
		snprintf(k->probe, sizeof k->probe, "%s", real);
		k->probe_dir = cand[i].dir;
		return;
	}
}

/* Opens the status files of the process and of every thread now: Landlock forbids /proc
 * afterwards, and a status file read again from offset 0 shows the state at that read. */
static int check_open(struct sandbox_check *k, char *err, size_t errlen)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int fd;

	k->ntasks = 0;
	if ((k->status_fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) < 0 ||
	    (d = opendir("/proc/self/task")) == NULL)
		return log_errbuf(err, errlen, "sandbox: cannot read /proc/self: %s",
				  strerror(errno));
	while ((de = readdir(d)) != NULL && k->ntasks < SANDBOX_MAX_TASKS) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%.20s/status", de->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			break;
		k->task_fd[k->ntasks++] = fd;
	}
	closedir(d);
	if (de != NULL)
		return log_errbuf(err, errlen, "sandbox: cannot open every thread's status");
	return 0;
}

static void check_close(struct sandbox_check *k)
{
	if (k->status_fd >= 0)
		close(k->status_fd);
	for (int i = 0; i < k->ntasks; i++)
		close(k->task_fd[i]);
}

/* Seccomp: 2 (filter mode) in the process and in every thread, and no thread unaccounted
 * for (Threads: counts them). */
static int check_seccomp(const struct sandbox_check *k, char *err, size_t errlen)
{
	long mode = procstatus_fd_field(k->status_fd, "Seccomp");
	long threads = procstatus_fd_field(k->status_fd, "Threads");

	if (mode != 2)
		return log_errbuf(err, errlen,
				  "sandbox: /proc/self/status says Seccomp: %ld after "
				  "loading the filter, not 2: refusing to serve",
				  mode);
	if (threads != k->ntasks)
		return log_errbuf(err, errlen,
				  "sandbox: %ld threads, %d checked: refusing to serve", threads,
				  k->ntasks);
	for (int i = 0; i < k->ntasks; i++)
		if ((mode = procstatus_fd_field(k->task_fd[i], "Seccomp")) != 2)
			return log_errbuf(err, errlen,
					  "sandbox: a thread has Seccomp: %ld, not 2: "
					  "refusing to serve",
					  mode);
	return 0;
}

/* The probe, readable before, must now fail with EACCES. */
static int check_landlock(const struct sandbox_check *k, char *err, size_t errlen)
{
	int fd = open(k->probe, O_RDONLY | O_CLOEXEC | O_NOCTTY | (k->probe_dir ? O_DIRECTORY : 0));

	if (fd >= 0) {
		close(fd);
		return log_errbuf(err, errlen,
				  "sandbox: Landlock does not hold: %s is still "
				  "readable: refusing to serve",
				  k->probe);
	}
	if (errno != EACCES)
		return log_errbuf(err, errlen,
				  "sandbox: opening %s under Landlock failed with %s, "
				  "not EACCES: refusing to serve",
				  k->probe, strerror(errno));
	return 0;
}

/* ---- test hooks: compiled into the test build (build/san) only, never into build/dropcap ---- */

#ifdef DROPCAP_TEST_HOOKS
/* DROPCAP_TEST_SKIP=landlock|seccomp: leave that one out, so a test sees the check refuse. */
static int test_skip(const char *what)
{
	const char *skip = getenv("DROPCAP_TEST_SKIP");

	return skip != NULL && strcmp(skip, what) == 0;
}

/* DROPCAP_TEST_OPEN=PATH[:PATH...]: try to open each PATH for reading once confined and log the
 * outcome, so a test watches the kernel refuse a file outside the root. */
static void test_open(const char *paths)
{
	char list[4096], *save = NULL;

	snprintf(list, sizeof list, "%s", paths);
	for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
		int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY);

		log_info("test: open %s: %s", p, fd >= 0 ? "opened" : strerror(errno));
		if (fd >= 0)
			close(fd);
	}
}

static void *volatile test_leak;

/* DROPCAP_TEST_LEAK: leak 64 bytes (LeakSanitizer must still report it under the sandbox).
 * DROPCAP_TEST_SYSCALL=NAME: make one call outside the allow-list (socket; uname; setsockopt
 * at IP level, refused by an argument filter; sigaction: rt_sigaction of SIGSYS), which must
 * kill the process with the named line. */
static void test_hooks(void)
{
	const char *paths = getenv("DROPCAP_TEST_OPEN"), *call = getenv("DROPCAP_TEST_SYSCALL");
	int one = 1;

	if (paths)
		test_open(paths);
	if (getenv("DROPCAP_TEST_LEAK")) {
		test_leak = malloc(64);
		log_info("test: leaked %p", test_leak);
		test_leak = NULL;
	}
	if (!call)
		return;
	if (strcmp(call, "socket") == 0)
		(void)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	else if (strcmp(call, "uname") == 0)
		(void)syscall(SYS_uname, NULL);
	else if (strcmp(call, "setsockopt") == 0)
		(void)setsockopt(STDERR_FILENO, IPPROTO_IP, IP_TOS, &one, sizeof one);
	else if (strcmp(call, "sigaction") == 0)
		(void)signal(SIGSYS, SIG_IGN);
	log_info("test: %s returned", call);
}
#else
static int test_skip(const char *what)
{
	(void)what;
	return 0;
}

static void test_hooks(void)
{
}
#endif

/* ---- the whole ---- */

static int confine_paths(const struct config *c, const int *root_fds, int abi,
			 struct sandbox_paths *p, char *err, size_t errlen)
{
	struct sandbox_check k = {.status_fd = -1};
	int rc;

	if (paths_get(c, root_fds, p, err, errlen) < 0)
		return -1;
	rc = check_open(&k, err, errlen);
	if (rc == 0 && abi > 0) {
		probe_pick(p, &k);
		if (k.probe[0] == '\0')
			rc = log_errbuf(err, errlen,
					"sandbox: nothing readable lies outside --root %s%s "
					"to check Landlock with: serve a directory "
					"below /, or use --no-sandbox",
					p->root[0], p->n > 1 ? " and the other sites' roots" : "");
	}
	if (rc == 0 && abi > 0 && !test_skip("landlock"))
		rc = ll_apply(abi, p, err, errlen);
	if (rc == 0)
		rc = trap_install(err, errlen);
	if (rc == 0 && !test_skip("seccomp"))
		rc = seccomp_apply(err, errlen);
	if (rc == 0)
		rc = check_seccomp(&k, err, errlen);
	if (rc == 0 && abi > 0)
		rc = check_landlock(&k, err, errlen);
	check_close(&k);
	return rc;
}

/* 64 sites' paths take 776 KiB: too large for the stack, and in .bss they would stay resident
 * for the process's life; calloc maps them for the confinement only, and free unmaps them. */
static int confine(const struct config *c, const int *root_fds, int abi, char *err, size_t errlen)
{
	struct sandbox_paths *p = calloc(1, sizeof *p);
	int rc;

	if (!p)
		return log_errbuf(err, errlen, "sandbox: out of memory");
	rc = confine_paths(c, root_fds, abi, p, err, errlen);
	free(p);
	return rc;
}

/* Why Landlock is missing: the proof field's word and the warning's reason, by errno. */
static const struct {
	int err;
	const char *word, *reason;
} ll_missing[] = {
    {ENOSYS, "not-in-kernel", "this kernel lacks it (or a container's filter hides it)"},
    {EOPNOTSUPP, "off-at-boot", "this kernel has it but it is not enabled (lsm= at boot)"},
    /* systemd-nspawn (252), a unit's SystemCallFilter= or a container profile without it: the
     * environment's choice, not the client's, so serve as on a kernel without Landlock */
    {EPERM, "forbidden-by-parent-filter",
     "a system call filter of the parent process forbids it (systemd SystemCallFilter=, "
     "systemd-nspawn, a container's seccomp profile: allow landlock_create_ruleset, "
     "landlock_add_rule and landlock_restrict_self)"},
};

/* Landlock's ABI, or 0 when it is missing (one warning: then seccomp alone; *why says why), or
 * -1 with err for any other failure. */
static int ll_available(const char **why, char *err, size_t errlen)
{
	int abi = ll_abi();

	if (abi > 0)
		return abi;
	for (size_t i = 0; i < sizeof ll_missing / sizeof ll_missing[0]; i++) {
		if (errno != ll_missing[i].err)
			continue;
		*why = ll_missing[i].word;
		log_warnx("no Landlock: %s; serving with seccomp alone (files are confined by "
			  "their permissions and --root's path checks only)",
			  ll_missing[i].reason);
		return 0;
	}
	return log_errbuf(err, errlen, "sandbox: cannot query Landlock: %s", strerror(errno));
}

int sandbox_apply(const struct config *c, const int *root_fds, char *proof, size_t prooflen,
		  char *err, size_t errlen)
{
	const char *why = "";
	int abi;

	if (c->no_sandbox) {
		log_warnx("--no-sandbox: no Landlock and no seccomp; the serving process may open "
			  "any file and make any system call its user may");
		snprintf(proof, prooflen, "off(--no-sandbox)");
		test_hooks(); /* the control runs of the tests */
		return 0;
	}
	if ((abi = ll_available(&why, err, errlen)) < 0 ||
	    confine(c, root_fds, abi, err, errlen) < 0)
		return -1;
	if (abi > 0)
		snprintf(proof, prooflen, "landlock+seccomp");
	else
		snprintf(proof, prooflen, "seccomp(no-landlock:%s)", why);
	test_hooks();
	return 0;
}

void sandbox_describe(char *out, size_t outsz)
{
	uint32_t trap = SECCOMP_RET_TRAP;
	int abi = ll_abi();
	const char *no_ll = errno == ENOSYS ? "not in this kernel" : strerror(errno);
	int seccomp = syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &trap) == 0;

	if (abi > 0)
		snprintf(out, outsz, "Landlock ABI %d, seccomp %s", abi,
			 seccomp ? "filters" : "unavailable");
	else
		snprintf(out, outsz, "no Landlock (%s), seccomp %s", no_ll,
			 seccomp ? "filters" : "unavailable");
}
