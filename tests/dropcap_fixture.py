"""dropcap_fixture — the one way the test suites start and stop the real dropcap binary.

Every suite (tests/blackbox, tests/priv, tests/install) uses this module through the
pytest fixtures of tests/conftest.py; nobody writes their own start/kill code.

API
---
BIN                      path of the binary under test: $DROPCAP_BIN, else <repo>/build/dropcap.
SERVING_MARKER           "dropcap: serving " — the readiness line on stderr.
SAN_BIN                  $DROPCAP_SAN_BIN, else <repo>/build/san/dropcap: the sanitizer build,
                         the only one with the sandbox's test hooks (DROPCAP_TEST_* variables, see
                         server/sandbox.c); make test TLS=openssl points it at
                         build/openssl/san/dropcap.
tls_library(binary=BIN) -> "mbedTLS" | "OpenSSL"   the TLS library the binary was built with (the
                         "TLS: " line of its --version), for the tests whose expectation differs.
tls13(binary=BIN) -> bool   whether that build speaks TLS 1.3 (OpenSSL's; mbedTLS 2.28's does not).

Server(args, *, binary=None, user=None, netns=None, wrapper=(), env=None, stdout=None,
       pass_fds=(), init_groups=False, cwd=None)
    One dropcap process. argv = [netns prefix] + [setpriv prefix] + wrapper + [binary] + args.
      args        list of str, the dropcap options (e.g. ['--root', d, '--http', '127.0.0.1:8080',
                  '--https', 'off']).
      binary      path, default BIN.
      user        None (run as the caller), a name, a uid, or a (name, uid, gid) tuple:
                  wraps with `setpriv --reuid U --regid G --clear-groups --`
                  (`--init-groups` instead of --clear-groups when init_groups=True).
      netns       a Netns or a namespace name: prefixes `ip netns exec NAME`.
      wrapper     list inserted right before the binary, e.g. ['setpriv', '--no-new-privs', '--'],
                  ['systemd-socket-activate', '-l', '127.0.0.1:443'].
      env         dict merged over os.environ (a value of None removes the variable).
      stdout      None: captured in memory (stdout_text()); or an open file / subprocess.DEVNULL.
      pass_fds    file descriptors the child inherits (for --listen-fd).
    .start(timeout=10) -> self   waits for SERVING_MARKER on stderr; raises ServerError with the
                                 captured stderr if the process exits first or the deadline passes.
    .run_to_exit(timeout=10) -> (rc, stderr)   for start-up failures and --help/--version.
    .stop(timeout=10) -> rc      SIGTERM, then wait (SIGKILL and ServerError after timeout).
    .signal(sig)                 send a signal to the process.
    .wait(timeout) -> rc | None  wait for exit without signalling.
    .alive() -> bool
    .pid, .proc (subprocess.Popen), .argv
    .request_upgrade(send=None)  notes the upgrade helper, then SIGUSR2 (or send(pid)).
    .upgraded_pid(timeout=30) -> int   after SIGUSR2: waits for the old process's hand-over line
                                 ("upgrade: process N is serving") and returns N.
    .follow_upgrade(pid, timeout=30) -> rc   waits for the old process to exit (returns its status)
                                 and its upgrade helper with it; from then on pid, stop(), signal(),
                                 wait(), alive() are the new process's (whose stderr is the same
                                 pipe). Needs become_subreaper(): the new process, orphaned when
                                 the old helper exits, is then reparented to this process.
    .stderr_text(), .stdout_text(), .stderr_lines()
    .wait_stdout(predicate_or_substring, timeout=5) -> str   poll the captured stdout.
    .pause_stderr(), .resume_stderr()   stop / resume reading stderr (a stalled log reader);
                                 stop() and every wait for exit resume it.
    Usable as a context manager (start on enter, stop on exit).
stop_and_check(servers) -> [problem, ...]   SIGTERM each running server; reports exit != 0
                                            and sanitizer output (fixture teardowns use it).

become_subreaper()        prctl(PR_SET_CHILD_SUBREAPER) for this process, as systemd is for a
                         service: orphaned descendants (an upgrade's new process) become children.
upgrade_helpers(pid) -> [pid]   the children of a dropcap process (its one upgrade helper).
same_binary_pids(path) -> [pid] every process executing path (also as "path (deleted)").

Netns()                  context manager: `ip netns add dropcap-XXXX`, lo up, deleted on exit.
    .name, .exec(cmd) -> list (the `ip netns exec NAME` prefix + cmd),
    .run(cmd, **kw) -> CompletedProcess (text, captured, timeout 30 s by default),
    .sysctl(key) -> str.
    Inside it port 443 is privileged again (net.ipv4.ip_unprivileged_port_start=1024).

free_port(host='127.0.0.1') -> int     a TCP port free right now on host (also '::1').
wait_port(host, port, timeout=5)       poll until a TCP connect succeeds.
world_tmpdir(prefix) -> str            a new root-owned 0755 directory under /tmp (removed at exit).
ensure_user(name='dropcap-test') -> (name, uid, gid)   useradd -r -M -s /usr/sbin/nologin if missing.
cap_binary(tmp, caps, name='dropcap', source=None) -> path
    copies BIN (or source) into a new world-readable, root-owned directory (inside tmp when tmp is
    traversable by everyone, else a world_tmpdir()) and applies `setcap caps`
    (caps '' or None = no capability at all).
proc_status(pid) -> dict               /proc/PID/status as {field: value-string}.
tasks(pid) -> list of dict             /proc/PID/task/*/status, one dict per thread.
cap_mask(value) -> int                 int(value, 16) for a Cap* field.
make_tls_files(directory) -> TlsFiles  EC P-256 and RSA-2048 self-signed certs for localhost
                                       (SAN DNS:localhost, IP:127.0.0.1, IP:::1) via the openssl CLI.
    TlsFiles: .dir, .ec_cert, .ec_key, .rsa_cert, .rsa_key, and ['ec'] / ['rsa'] -> (cert, key).
make_docroot(directory) -> str         writes the world-readable test site (DOCROOT_FILES plus
                                       symlinks and dotfiles, see below); returns the directory.
DOCROOT_FILES                          {relative path: bytes} of every regular file it writes.
is_root() -> bool

Raw HTTP client (exact bytes on the wire, pipelining, closes):
HttpConn(host, port, *, tls=False, timeout=5, context=None, server_hostname='localhost',
         session=None)
    .send(bytes|str), .request(method, path, headers=None, version='HTTP/1.1',
    host='localhost', body=b'') -> Response, .read_response(head_request=False) -> Response,
    .read_to_eof() -> bytes, .eof(timeout=3) -> bool (the server closed), .buf, .sock, .close().
Response: .version, .status, .reason, .headers [(name, value)], .header(name), .all(name), .body.
client_context(cafile=None, alpn=None, min_version=None, max_version=None, ciphers=None)
    -> ssl.SSLContext (verifies nothing unless cafile is given).

pytest fixtures (tests/conftest.py): dropcap_bin, tls_files (session), docroot (session),
unpriv_user (session), world_tmp (function), netns (function), make_server (function factory:
make_server(args, **Server kwargs) -> started Server, stopped at teardown and checked for exit 0),
need_root (function: skips when not root).
"""

import atexit
import collections
import gzip
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BIN = os.environ.get("DROPCAP_BIN") or os.path.join(REPO, "build", "dropcap")
SERVING_MARKER = "dropcap: serving "
# The sanitizer build, which is also the test build: only it has the sandbox's test hooks.
SAN_BIN = os.environ.get("DROPCAP_SAN_BIN") or os.path.join(REPO, "build", "san", "dropcap")

_tls_library = {}


def tls_library(binary=None):
    """"mbedTLS" or "OpenSSL": the first word of the "TLS: " line of `binary --version`."""
    binary = binary or BIN
    if binary not in _tls_library:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10,
                             check=True).stdout
        line = [l for l in out.splitlines() if l.startswith("TLS: ")]
        assert line, f"{binary} --version names no TLS library:\n{out}"
        _tls_library[binary] = line[0].split()[1]
    return _tls_library[binary]


def tls13(binary=None):
    """Whether the binary's build speaks TLS 1.3 (the OpenSSL one)."""
    return tls_library(binary) == "OpenSSL"

# Sanitizer reports that make a test run fail even when the test itself passed.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


class ServerError(AssertionError):
    """The server did not behave as a test required (start, stop)."""


def is_root():
    return os.geteuid() == 0


# ---------------------------------------------------------------------------------------------
# Temporary directories other users can read

_WORLD_DIRS = []


def _cleanup_world_dirs():
    for d in _WORLD_DIRS:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup_world_dirs)


def world_tmpdir(prefix="dropcap-test-"):
    """A new 0755 directory under /tmp (pytest's tmp_path is 0700: other users cannot enter it)."""
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    _WORLD_DIRS.append(d)
    return d


def log_dir_for_run_user(path, user=None):
    """Makes path a directory the server can create its access log in: dropcap opens the log
    after the drop, as the run user, never as root. user: the (name, uid, gid) the server is
    started as; None when the tests run as root and the server switches to nobody."""
    if is_root():
        uid, gid = (user[1], user[2]) if user else (65534, 65534)
        os.chown(path, uid, gid)
    return path


def _world_traversable(path):
    path = os.path.abspath(path)
    while True:
        try:
            st = os.stat(path)
        except OSError:
            return False
        if not st.st_mode & stat.S_IXOTH:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


# ---------------------------------------------------------------------------------------------
# Ports


_recent_ports = collections.deque(maxlen=64)


def free_port(host="127.0.0.1"):
    """A TCP port that nothing listens on right now (the kernel's choice, released at once),
    and none of the last 64 this process handed out: two calls before either port is bound
    (--http and --https of one server) may otherwise get the same port back from the kernel."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(100):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _recent_ports:
            break
    _recent_ports.append(port)
    return port


def wait_port(host, port, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# The server process


def _user_ids(user):
    if isinstance(user, tuple):
        return user[0], user[1], user[2]
    if isinstance(user, int):
        pw = pwd.getpwuid(user)
    else:
        pw = pwd.getpwnam(user)
    return pw.pw_name, pw.pw_uid, pw.pw_gid


class _Reader(threading.Thread):
    """Drains one pipe into a list of lines; signals when a line contains a marker."""

    def __init__(self, pipe, marker=None):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.marker = marker
        self.lines = []
        self.lock = threading.Lock()
        self.seen = threading.Event()
        self.done = threading.Event()
        self.go = threading.Event()  # cleared: stop reading (the pipe fills up)
        self.go.set()

    def run(self):
        try:
            for raw in iter(self.pipe.readline, b""):
                line = raw.decode("utf-8", "replace")
                with self.lock:
                    self.lines.append(line)
                if self.marker and self.marker in line:
                    self.seen.set()
                self.go.wait()
        finally:
            self.done.set()

    def text(self):
        with self.lock:
            return "".join(self.lines)


class _Adopted:
    """The Popen-like handle of a process this one did not start but reaps as subreaper."""

    def __init__(self, pid):
        self.pid = pid
        self.returncode = None

    def poll(self):
        if self.returncode is not None:
            return self.returncode
        try:
            got, st = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # not reparented to us yet: alive while /proc has it
            return None if os.path.exists(f"/proc/{self.pid}") else self._gone()
        if got == 0:
            return None
        self.returncode = os.waitstatus_to_exitcode(st)
        return self.returncode

    def _gone(self):
        raise ServerError(f"process {self.pid} exited, but not as a child of this process "
                          "(call become_subreaper() first)")

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired([str(self.pid)], timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, sig):
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self):
        self.send_signal(signal.SIGKILL)


def become_subreaper():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def upgrade_helpers(pid):
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            out += [int(c) for c in f.read().split()]
    return out


def same_binary_pids(path):
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            exe = os.readlink(f"/proc/{d}/exe")
        except OSError:
            continue
        if exe == path or exe == path + " (deleted)":
            pids.append(int(d))
    return sorted(pids)


class Server:
    def __init__(self, args, *, binary=None, user=None, netns=None, wrapper=(), env=None,
                 stdout=None, pass_fds=(), init_groups=False, cwd=None):
        self.args = [str(a) for a in args]
        self.binary = binary or BIN
        self.user = user
        self.netns = netns
        self.wrapper = list(wrapper)
        self.env = env
        self.stdout_target = stdout
        self.pass_fds = tuple(pass_fds)
        self.init_groups = init_groups
        self.cwd = cwd
        self.proc = None
        self._err = None
        self._out = None
        self._stopped_rc = None

    # argv and environment -------------------------------------------------------------------
    @property
    def argv(self):
        argv = []
        if self.netns is not None:
            name = self.netns.name if isinstance(self.netns, Netns) else str(self.netns)
            argv += ["ip", "netns", "exec", name]
        if self.user is not None:
            name, uid, gid = _user_ids(self.user)
            groups = ["--init-groups"] if self.init_groups else ["--clear-groups"]
            argv += ["setpriv", "--reuid", str(uid), "--regid", str(gid)] + groups + ["--"]
        return argv + self.wrapper + [self.binary] + self.args

    def _environ(self):
        env = dict(os.environ)
        for k, v in (self.env or {}).items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env

    # lifecycle --------------------------------------------------------------------------------
    def _spawn(self):
        if self.proc is not None:
            raise ServerError("Server already started")
        if not os.path.exists(self.binary):
            raise ServerError(f"{self.binary} does not exist: run make")
        out = subprocess.PIPE if self.stdout_target is None else self.stdout_target
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE,
            env=self._environ(), pass_fds=self.pass_fds, cwd=self.cwd, start_new_session=True)
        self._err = _Reader(self.proc.stderr, SERVING_MARKER)
        self._err.start()
        if self.stdout_target is None:
            self._out = _Reader(self.proc.stdout)
            self._out.start()

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, timeout=10.0):
        self._spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._err.seen.wait(0.02):
                return self
            if self.proc.poll() is not None:
                self._err.done.wait(2)
                if self._err.seen.is_set():
                    break
                raise ServerError(
                    f"dropcap exited with {self.proc.returncode} before serving\n"
                    f"argv: {self.argv}\nstderr:\n{self.stderr_text()}")
        if self._err.seen.is_set() and self.proc.poll() is None:
            return self
        self._kill()
        raise ServerError(
            f"dropcap did not print {SERVING_MARKER!r} within {timeout} s (or exited right after)\n"
            f"argv: {self.argv}\nstderr:\n{self.stderr_text()}")

    def request_upgrade(self, send=None):
        """Notes the process's upgrade helper (its only child now), then sends SIGUSR2 (or
        calls send(pid), e.g. to signal as another user)."""
        self._helpers = upgrade_helpers(self.pid)
        if send:
            send(self.pid)
        else:
            self.signal(signal.SIGUSR2)

    def upgraded_pid(self, timeout=30.0):
        """After SIGUSR2: the new process's pid, from the old one's hand-over line."""
        import re
        pat = re.compile(r"^dropcap: upgrade: process (\d+) is serving", re.M)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = pat.findall(self.stderr_text())[len(getattr(self, "old_procs", [])):]
            if m:
                return int(m[0])
            time.sleep(0.02)
        raise ServerError(f"no hand-over within {timeout} s\nstderr:\n{self.stderr_text()}")

    def follow_upgrade(self, pid, timeout=30.0):
        """Waits for the old process and its helper to exit, then follows pid. Returns the old
        process's exit status."""
        # noted before the signal: at exit the sanitizer build clones a tracer child too
        old, helpers = self.proc, getattr(self, "_helpers", None) or upgrade_helpers(self.pid)
        try:
            rc = old.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ServerError(f"the old process {old.pid} did not exit within {timeout} s of "
                              f"the hand-over\nstderr:\n{self.stderr_text()}")
        for h in helpers:  # reparented to us (subreaper) when the old process exited
            helper_rc = _Adopted(h).wait(10) if h != pid else 0
            if helper_rc != 0:
                raise ServerError(f"the old upgrade helper {h} exited with {helper_rc}")
        self.old_procs = getattr(self, "old_procs", []) + [old]
        self.proc = _Adopted(pid)
        return rc

    def run_to_exit(self, timeout=10.0):
        self._spawn()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill()
            raise ServerError(f"dropcap still running after {timeout} s\nargv: {self.argv}\n"
                              f"stderr:\n{self.stderr_text()}")
        self._drain()
        return rc, self.stderr_text()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self, timeout=10.0):
        """SIGHUP, then waits for its first log line ("SIGHUP: ..."); returns it."""
        before = len(self.stderr_lines())
        self.signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = [ln for ln in self.stderr_lines()[before:] if "SIGHUP:" in ln]
            if new:
                return new[0]
            assert self.alive(), self.stderr_text()
            time.sleep(0.01)
        raise AssertionError(f"no SIGHUP line within {timeout} s:\n{self.stderr_text()}")

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._drain()
        return rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pause_stderr(self):
        """Stops reading stderr, as a stalled log reader would: the pipe fills up."""
        self._err.go.clear()

    def resume_stderr(self):
        self._err.go.set()

    def stop(self, timeout=10.0):
        """SIGTERM and wait; returns the exit status (negative: killed by that signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill()
                raise ServerError(f"dropcap did not exit within {timeout} s of SIGTERM\n"
                                  f"stderr:\n{self.stderr_text()}")
        self._drain()
        self._stopped_rc = self.proc.returncode
        return self.proc.returncode

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
            self.proc.wait(5)
        self._drain()

    def _drain(self):
        if self._err is not None:
            self._err.go.set()
        for r in (self._err, self._out):
            if r is not None:
                r.done.wait(2)

    # output -----------------------------------------------------------------------------------
    def stderr_text(self):
        return self._err.text() if self._err else ""

    def stderr_lines(self):
        return self.stderr_text().splitlines()

    def stdout_text(self):
        return self._out.text() if self._out else ""

    def wait_stdout(self, want, timeout=5.0):
        """Polls captured stdout until want (a substring or a predicate on the text) holds."""
        pred = want if callable(want) else (lambda t: want in t)
        deadline = time.monotonic() + timeout
        while True:
            text = self.stdout_text()
            if pred(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"stdout never matched {want!r} within {timeout} s:\n{text}")
            time.sleep(0.02)

    def sanitizer_report(self):
        text = self.stderr_text()
        return text if any(m in text for m in SANITIZER_MARKERS) else ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            self.stop()
        except ServerError:
            if exc[0] is None:
                raise


def stop_and_check(servers):
    """SIGTERM every server still running; returns a list of problems (empty when each one
    exited 0 and printed no sanitizer report). Used by fixture teardowns."""
    problems = []
    for s in servers:
        if s.proc is None:
            continue
        was_running = s.alive()
        try:
            rc = s.stop()
        except ServerError as e:
            problems.append(str(e))
            continue
        if was_running and rc != 0:
            problems.append(f"dropcap exited {rc} after SIGTERM (want 0)\nargv: {s.argv}\n"
                            f"stderr:\n{s.stderr_text()}")
        report = s.sanitizer_report()
        if report:
            problems.append(f"sanitizer report:\n{report}")
    return problems


# ---------------------------------------------------------------------------------------------
# Network namespaces


class Netns:
    def __init__(self, name=None):
        self.name = name or "dropcap-" + uuid.uuid4().hex[:8]

    def __enter__(self):
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True,
                       capture_output=True)
        return self

    def __exit__(self, *exc):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    def exec(self, cmd):
        return ["ip", "netns", "exec", self.name] + [str(c) for c in cmd]

    def run(self, cmd, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 30)
        return subprocess.run(self.exec(cmd), **kw)

    def sysctl(self, key):
        return self.run(["sysctl", "-n", key], check=True).stdout.strip()


# ---------------------------------------------------------------------------------------------
# Users, capabilities, /proc


def ensure_user(name="dropcap-test"):
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", name], check=True,
                       capture_output=True)
        pw = pwd.getpwnam(name)
    return pw.pw_name, pw.pw_uid, pw.pw_gid


def cap_binary(tmp, caps, name="dropcap", source=None):
    """A root-owned, world-readable copy of BIN (or of source) carrying exactly `caps`."""
    parent = str(tmp) if tmp and _world_traversable(str(tmp)) else None
    d = tempfile.mkdtemp(prefix="dropcap-bin-", dir=parent) if parent else world_tmpdir("dropcap-bin-")
    os.chmod(d, 0o755)
    path = os.path.join(d, name)
    shutil.copyfile(source or BIN, path)  # a copy never carries the xattr
    os.chmod(path, 0o755)
    if caps:
        subprocess.run(["setcap", caps, path], check=True, capture_output=True)
    return path


def proc_status(pid):
    return _parse_status(f"/proc/{pid}/status")


def socket_count(pid):
    """How many sockets process pid holds (listeners and connections), from /proc/PID/fd."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return n


def tasks(pid):
    out = []
    base = f"/proc/{pid}/task"
    for tid in sorted(os.listdir(base), key=int):
        try:
            out.append(_parse_status(os.path.join(base, tid, "status")))
        except FileNotFoundError:
            pass
    return out


def _parse_status(path):
    fields = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k.strip()] = v.strip()
    return fields


def cap_mask(value):
    return int(value, 16)


# ---------------------------------------------------------------------------------------------
# TLS material and the test site


class TlsFiles:
    def __init__(self, directory):
        self.dir = directory
        self.ec_cert = os.path.join(directory, "ec.crt")
        self.ec_key = os.path.join(directory, "ec.key")
        self.rsa_cert = os.path.join(directory, "rsa.crt")
        self.rsa_key = os.path.join(directory, "rsa.key")

    def __getitem__(self, kind):
        return {"ec": (self.ec_cert, self.ec_key), "rsa": (self.rsa_cert, self.rsa_key)}[kind]


def self_signed(crt, key, cn, sans):
    """Writes a world-readable self-signed P-256 certificate CN=cn for the DNS names sans, and
    its key, to the paths crt and key."""
    san = ",".join("DNS:" + n for n in sans)
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "30", "-subj", f"/CN={cn}",
                    "-addext", f"subjectAltName={san}", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    for f in (crt, key):
        os.chmod(f, 0o644)


def make_tls_files(directory):
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o755)
    t = TlsFiles(directory)
    common = ["-x509", "-nodes", "-days", "30", "-subj", "/CN=localhost",
              "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"]
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-keyout", t.ec_key, "-out", t.ec_cert] + common, check=True,
                   capture_output=True)
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-keyout", t.rsa_key,
                    "-out", t.rsa_cert] + common, check=True, capture_output=True)
    for f in (t.ec_cert, t.ec_key, t.rsa_cert, t.rsa_key):
        os.chmod(f, 0o644)
    return t


def _pattern(n):
    """n deterministic bytes, different at every offset modulo 251 (handy for ranges)."""
    block = bytes(range(251))
    return (block * (n // 251 + 1))[:n]


PAGE_HTML = b"<!doctype html><title>page</title><p>" + b"compress me " * 200 + b"</p>\n"

# PAGE_HTML as `brotli -q 11` and `zstd -19 --no-check` compressed it: real data (curl decodes it in
# test_variants), fixed bytes so that the suite needs neither tool nor Python binding.
PAGE_HTML_BR = (b'\x1f\x89\t\x18\x8c\x94n\xe6\xa2\x04i\x83+\x9f2p\xc8\x01\xfb\xb7\xab\xb7\x80"'
                b'\xb1\xc0!7\xbf\xc4Y\xc0\x10EPS\x9d\x1cU\xb0\xdb\xecw\x08\x00Pxj\x02')
PAGE_HTML_ZST = (b'(\xb5/\xfd\x00h\xc5\x01\x00\x02\x03\x0b\x11\xc0\xeb\xc6B\x8c0\x8f\x9b\xb2\xfc'
                 b'\x81l\x13\x8f\x9f\xee\x06\x00U\xf8\x9e\xc7\xd8\x97\xa6"\xa8\x16\xbe\x19\x8aO'
                 b'\x8b\xd6\x98r\xcf]\xdb\x12U\x82\x03\x02\x00Q\x01\xber\xac\xe4\x01')
APP_JS_ZST = b"app.js.zst: a zstd variant only (never decoded by the server)\n"

DOCROOT_FILES = {
    "index.html": b"<!doctype html><title>dropcap test</title><p>root index</p>\n",
    "hello.txt": b"hello world\n",
    "a b.txt": b"space in the name\n",
    "style.css": b"body { color: black }\n",
    "app.js": b"console.log('js');\n",
    "mod.mjs": b"export const x = 1;\n",
    "data.json": b'{"ok": true}\n',
    "img.svg": b'<svg xmlns="http://www.w3.org/2000/svg"/>\n',
    "img.png": b"\x89PNG\r\n\x1a\nnot-really",
    "img.jpg": b"\xff\xd8\xff\xe0jpeg",
    "img.jpeg": b"\xff\xd8\xff\xe0jpeg",
    "img.gif": b"GIF89a",
    "img.webp": b"RIFF0000WEBP",
    "img.avif": b"\0\0\0\x1cftypavif",
    "favicon.ico": b"\0\0\1\0",
    "font.woff2": b"wOF2",
    "mod.wasm": b"\0asm\1\0\0\0",
    "notes.txt": b"plain text\n",
    "feed.xml": b"<?xml version='1.0'?><feed/>\n",
    "doc.pdf": b"%PDF-1.4\n",
    "movie.mp4": b"\0\0\0\x18ftypmp42",
    "movie.webm": b"\x1aE\xdf\xa3",
    "blob.bin": b"\1\2\3",
    "noext": b"no extension\n",
    "UPPER.HTML": b"<p>upper</p>\n",
    "big.bin": _pattern(1 << 20),
    "empty.txt": b"",
    "page.html": PAGE_HTML,
    "page.html.gz": gzip.compress(PAGE_HTML, mtime=0),
    "page.html.br": PAGE_HTML_BR,
    "page.html.zst": PAGE_HTML_ZST,
    "app.js.zst": APP_JS_ZST,
    "only.txt.gz": gzip.compress(b"only gz\n", mtime=0),
    "sub/index.html": b"<p>sub index</p>\n",
    "sub/page.html": b"<p>sub page</p>\n",
    "sub/deeper/file.txt": b"deep\n",
    "noindex/file.txt": b"in a directory without index.html\n",
    ".secret": b"dotfile secret\n",
    ".git/config": b"[core]\n",
    "sub/.hidden": b"hidden in sub\n",
    ".well-known/x": b"well-known x\n",
    ".well-known/security.txt": b"Contact: mailto:security@example.org\n",
    ".well-known/acme-challenge/token123": b"token123.thumbprint\n",
}

OUTSIDE_SECRET = b"outside the root: must never be served\n"


def make_docroot(directory):
    """Writes the test site into directory/site; a sibling directory/outside holds a file that
    symlinks in the site point at. Returns the site path. Every file is world-readable."""
    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o755)
    site = os.path.join(directory, "site")
    outside = os.path.join(directory, "outside")
    for d in (site, outside):
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
    for rel, data in DOCROOT_FILES.items():
        path = os.path.join(site, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
    for root, dirs, _ in os.walk(site):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
    with open(os.path.join(outside, "secret.txt"), "wb") as f:
        f.write(OUTSIDE_SECRET)
    os.chmod(os.path.join(outside, "secret.txt"), 0o644)
    links = {
        "link-in.txt": "hello.txt",                        # inside the root: served
        "sub/link-up.txt": "../hello.txt",                 # inside via ..: served
        "link-out.txt": os.path.join(outside, "secret.txt"),  # absolute, out: never served
        "link-out-rel.txt": "../outside/secret.txt",       # relative, out: never served
        "link-out-dir": outside,                           # a directory out of the root
        "link-passwd": "/etc/passwd",
    }
    for rel, target in links.items():
        path = os.path.join(site, rel)
        if not os.path.lexists(path):
            os.symlink(target, path)
    return site


# ---------------------------------------------------------------------------------------------
# A raw HTTP/1.x client: exact bytes on the wire, pipelining, and a view of when the peer closes


class Response:
    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value) as received
        self.body = body
        self.raw_head = raw_head

    def header(self, name):
        """The first value of a field (case-insensitive name), or None."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return f"<Response {self.status} {self.headers} body={self.body[:80]!r}>"


def client_context(cafile=None, alpn=None, min_version=None, max_version=None, ciphers=None):
    """An ssl client context; verifies against cafile when given, else verifies nothing."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def field_lines(headers):
    """A request's header fields as (name, value) pairs: from a dict, or from a list of pairs
    when a name repeats (a list field on several lines; several header fields in h2)."""
    if headers is None:
        return []
    return list(headers.items()) if hasattr(headers, "items") else list(headers)


class HttpConn:
    """One TCP (or TLS) connection. request()/read_response() parse Content-Length framed
    responses; eof() tells whether the server closed the connection."""

    def __init__(self, host, port, *, tls=False, timeout=5.0, context=None,
                 server_hostname="localhost", session=None):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.host = host
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        if tls:
            ctx = context or client_context()
            self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname,
                                        session=session)
        self.buf = bytearray()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def request(self, method, path, headers=None, version="HTTP/1.1", host="localhost",
                body=b""):
        lines = [f"{method} {path} {version}"]
        if host is not None:
            lines.append(f"Host: {host}")
        for k, v in field_lines(headers):
            lines.append(f"{k}: {v}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        return self.read_response(head_request=(method == "HEAD"))

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed by the server")
        self.buf += data

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_response(self, head_request=False):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 1 << 20:
                raise AssertionError("response head larger than 1 MiB")
            self._fill()
        end = self.buf.index(b"\r\n\r\n")
        raw_head = bytes(self.buf[:end])
        del self.buf[:end + 4]
        lines = raw_head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        headers = []
        for line in lines[1:]:
            k, sep, v = line.partition(":")
            if not sep:
                raise AssertionError(f"malformed response header line {line!r}")
            headers.append((k, v.strip()))
        resp = Response(version, int(code), reason, headers, b"", raw_head)
        if head_request or resp.status in (204, 304) or 100 <= resp.status < 200:
            return resp
        length = resp.header("Content-Length")
        if length is not None:
            resp.body = self._read_exact(int(length))
        elif (resp.header("Transfer-Encoding") or "").lower() == "chunked":
            resp.body = self._read_chunked()
        else:
            resp.body = self.read_to_eof()
        return resp

    def _read_chunked(self):
        body = b""
        while True:
            while b"\r\n" not in self.buf:
                self._fill()
            end = self.buf.index(b"\r\n")
            line = bytes(self.buf[:end])
            del self.buf[:end + 2]
            n = int(line.split(b";")[0], 16)
            if n == 0:
                self._read_exact(2)
                return body
            body += self._read_exact(n)
            self._read_exact(2)

    def read_to_eof(self, limit=1 << 30):
        out, self.buf = self.buf, bytearray()
        while len(out) < limit:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            out += data
        return bytes(out)

    def eof(self, timeout=3.0):
        """True when the server closed the connection (EOF or reset) within timeout, False when
        it is still open at the deadline. Bytes that arrive meanwhile are kept in self.buf."""
        old = self.sock.gettimeout()
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.sock.settimeout(left)
                try:
                    data = self.sock.recv(65536)
                except (socket.timeout, TimeoutError):
                    return False
                except (ConnectionResetError, BrokenPipeError):
                    return True
                except OSError as e:  # ssl errors after a close_notify/abort
                    if "timed out" in str(e):
                        return False
                    return True
                if not data:
                    return True
                self.buf += data
        finally:
            try:
                self.sock.settimeout(old)
            except OSError:
                pass

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def raw_exchange(site, data, head_request=False):
    """Sends data as is on a new plain connection to site; returns (first response, whether the
    server then closed the socket). A response that keeps the connection is reported open
    without waiting for a close."""
    with HttpConn(site.host, site.http_port) as c:
        c.send(data)
        r = c.read_response(head_request=head_request)
        return r, r.header("Connection") == "close" and c.eof(3)


# --- TLS 1.2 session tickets with openssl s_client (the fleet tests) ------------------------------

def _s_client12(port, *args):
    out = subprocess.run(["openssl", "s_client", "-tls1_2", "-connect", f"127.0.0.1:{port}",
                          "-servername", "localhost", *args], input=b"", capture_output=True,
                         timeout=20, env=dict(os.environ, OPENSSL_CONF="/dev/null"))
    return (out.stdout + out.stderr).decode("latin-1")


def tls12_new_session(port, path):
    """A full TLS 1.2 handshake with 127.0.0.1:port; its session (with the ticket) saved to
    path, which is returned."""
    out = _s_client12(port, "-sess_out", path)
    assert "New, TLSv1.2" in out, out
    return path


def tls12_resumes(port, sess):
    """Whether a handshake offering the saved session sess resumed it ("Reused")."""
    out = _s_client12(port, "-sess_in", sess)
    assert "New, TLSv1.2" in out or "Reused, TLSv1.2" in out, out
    return "Reused, TLSv1.2" in out


def session_ticket(sess):
    """The ticket bytes in a saved session, from openssl sess_id's dump."""
    import re
    text = subprocess.run(["openssl", "sess_id", "-in", sess, "-noout", "-text"], check=True,
                          capture_output=True, text=True).stdout
    data = b""
    for m in re.finditer(r"^\s+[0-9a-f]{4} - ((?:[0-9a-f]{2}[ -]){0,15}[0-9a-f]{2})",
                         text.split("TLS session ticket:")[1], re.M):
        data += bytes.fromhex(m.group(1).replace("-", " "))
    assert len(data) > 60, text
    return data


# --- HTTP/2 ---------------------------------------------------------------------------------

# The protocols the feature tests run over (tests/conftest.py: over_both_protocols).
PROTOCOLS = ("http/1.1", "h2")


class H2Conn:
    """One TLS connection speaking HTTP/2 (ALPN h2) through the python3-h2 state machine, with
    HttpConn's request() and Response, so a test runs unchanged over either protocol. Streams
    are sent one at a time on the one connection."""

    def __init__(self, host, port, *, timeout=5.0, server_hostname="localhost", settings=None):
        import h2.config
        import h2.connection

        self.sock = HttpConn(host, port, tls=True, timeout=timeout,
                             context=client_context(alpn=["h2"]),
                             server_hostname=server_hostname).sock
        proto = self.sock.selected_alpn_protocol()
        if proto != "h2":
            self.sock.close()
            raise AssertionError(f"ALPN chose {proto!r}, not h2")
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.h2.initiate_connection()
        if settings:
            self.h2.update_settings(settings)
        self.flush()
        self.closed_by = None  # the server's GOAWAY (ConnectionTerminated), once seen

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def events(self):
        """The events of the next read(s) that give any; [] when the server closed."""
        evs = []
        while not evs:
            data = self.sock.recv(65536)
            if not data:
                return []
            evs = self.h2.receive_data(data)
            self.flush()
        return evs

    def send_headers(self, method, path, headers=None, host="localhost", end_stream=True):
        sid = self.h2.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", "https"), (":path", path)]
        if host is not None:
            hdrs.append((":authority", host))
        hdrs += [(k.lower(), v) for k, v in field_lines(headers)]
        self.h2.send_headers(sid, hdrs, end_stream=end_stream)
        self.flush()
        return sid

    def request(self, method, path, headers=None, version=None, host="localhost", body=b""):
        sid = self.send_headers(method, path, headers, host, end_stream=not body)
        if body:
            self.h2.send_data(sid, body, end_stream=True)
            self.flush()
        return self.read_response(sid)

    def read_response(self, sid):
        import h2.events as ev

        head, body = None, bytearray()
        while True:
            evs = self.events()
            if not evs:
                raise EOFError("connection closed by the server")
            for e in evs:
                if isinstance(e, ev.ResponseReceived) and e.stream_id == sid:
                    head = [(k.decode(), v.decode()) for k, v in e.headers]
                elif isinstance(e, ev.DataReceived) and e.stream_id == sid:
                    body += e.data
                    self.h2.acknowledge_received_data(e.flow_controlled_length, sid)
                    self.flush()
                elif isinstance(e, ev.StreamReset) and e.stream_id == sid:
                    raise AssertionError(f"stream {sid} reset: {e.error_code!r}")
                elif isinstance(e, ev.ConnectionTerminated):
                    self.closed_by = e
                elif isinstance(e, ev.StreamEnded) and e.stream_id == sid:
                    status = int(dict(head)[":status"])
                    fields = [(k, v) for k, v in head if not k.startswith(":")]
                    raw = "\r\n".join(f"{k}: {v}" for k, v in head).encode()
                    return Response("HTTP/2", status, "", fields, bytes(body), raw)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def client(proto, host, http_port, https_port, *, tls=False, server_hostname="localhost",
           timeout=5.0):
    """A connection for one of PROTOCOLS: HttpConn (plain HTTP unless tls) for http/1.1, H2Conn
    (always TLS) for h2."""
    if proto == "h2":
        return H2Conn(host, https_port, timeout=timeout, server_hostname=server_hostname)
    return HttpConn(host, https_port if tls else http_port, tls=tls, timeout=timeout,
                    server_hostname=server_hostname)


class OverProtocol:
    """A conftest Site seen through one of PROTOCOLS: .proto, connect() for a connection of
    that protocol, url() and curl_args for curl (--http2 over TLS for h2). The feature test
    modules override their `site` fixture with it, parametrized over PROTOCOLS."""

    def __init__(self, site, proto):
        self._site = site
        self.proto = proto
        self.curl_args = ["--http2", "-k"] if proto == "h2" else ["--http1.1"]

    def __getattr__(self, name):
        return getattr(self._site, name)

    def connect(self, **kw):
        return client(self.proto, self._site.host, self._site.http_port,
                      self._site.https_port, **kw)

    def url(self, path="/", tls=False):
        return self._site.url(path, tls=tls or self.proto == "h2")

    def http1_only(self):
        """Skips the h2 run of a test about HTTP/1.1 connections (keep-alive, framing)."""
        import pytest

        if self.proto == "h2":
            pytest.skip("about HTTP/1.1 connection handling")
