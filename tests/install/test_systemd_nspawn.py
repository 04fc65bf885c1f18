"""The units under systemd as PID 1: a Debian 12 root (debootstrap, cached under
/var/cache/dropcap-test) boots in systemd-nspawn with a private network. The built binary is
installed there as the README's deploy path does (dropcap-setcap --install, a dropcap user, the
shipped units and /etc/dropcap/dropcap.env). dropcap.service (file capability, User=dropcap) and
dropcap.socket + dropcap-activated.service each start, become active only once dropcap sent
READY=1 (Type=notify), serve HTTPS on 443 and HTTP on 80, log the privileges proof line, and stop
with STOPPING=1 and exit status 0; systemd's debug log shows each message it accepted from
dropcap's PID. Without $NOTIFY_SOCKET the same unit stays "activating" while it serves.

Root only. The first run builds the root (about a minute, from the Debian mirror apt uses); later
runs reuse it and take seconds. DROPCAP_TEST_CACHE moves the cache."""

import contextlib
import fcntl
import glob
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from install_common import INSTALL, SCRIPT, ansible_playbook, build_debs, copy_binary

import dropcap_fixture as dc
import upgrade_load

CACHE = os.environ.get("DROPCAP_TEST_CACHE", "/var/cache/dropcap-test")
SUITE = "bookworm"
# systemd as PID 1 and the clients, plus the libraries a dynamically linked dropcap needs
# (harmless once it is static) and libseccomp2 for its sandbox.
PACKAGES = ("systemd", "systemd-sysv", "dbus", "curl", "libcap2-bin", "ca-certificates", "procps",
            "libev4", "libmbedtls14", "libmbedx509-1", "libmbedcrypto7", "libcap2",
            "libseccomp2", "libinih1", "libnghttp2-14")
# The libraries are those the .deb (the shared build) depends on. The cached root's name changes
# with its package list, so a new list builds a new root.
ROOT_NAME = f"{SUITE}-minbase-" + hashlib.sha256(" ".join(PACKAGES).encode()).hexdigest()[:12]
DEBOOTSTRAP_SECONDS = 900
BOOT_SECONDS = 120
READY_SECONDS = 30
# nspawn's own seccomp filter stands between the container and the kernel, which a host's
# systemd does not; it lacks what dropcap's sandbox uses, so the container allows that much.
NSPAWN_ALLOW = "seccomp landlock_create_ruleset landlock_add_rule landlock_restrict_self"
SITE = "/var/www/site"
STAGE = "/root/dropcap-stage"  # where the host puts the files before the deploy commands
PROOF = "dropcap: privileges: uid={} gid={} "  # the journal's proof line, for dropcap's ids

def debian_mirror(sources="/etc/apt/sources.list.d/debian.sources",
                  legacy="/etc/apt/sources.list"):
    """The archive URI apt uses for SUITE (deb822 .sources, else a one-line sources.list)."""
    if os.path.exists(sources):
        with open(sources) as f:
            for stanza in f.read().split("\n\n"):
                fields = {}
                for line in stanza.splitlines():
                    if line and not line.startswith("#") and ":" in line:
                        k, _, v = line.partition(":")
                        fields[k.strip()] = v.split()
                if "deb" in fields.get("Types", []) and SUITE in fields.get("Suites", []):
                    return fields["URIs"][0]
    if os.path.exists(legacy):
        with open(legacy) as f:
            for line in f:
                w = line.split("#")[0].split()
                if not w or w[0] != "deb":
                    continue
                w = w[1:]
                if w and w[0].startswith("["):  # [arch=amd64 signed-by=...]
                    while w and not w[0].endswith("]"):
                        w = w[1:]
                    w = w[1:]
                if len(w) >= 2 and w[1] == SUITE:
                    return w[0]
    pytest.fail(f"no '{SUITE}' archive in {sources} or {legacy}: cannot debootstrap")


def _mounts_below(path):
    """Mount points at or under path, deepest first (to unmount a root debootstrap left)."""
    path = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mnt = line.split()[4].encode().decode("unicode_escape")
            if mnt == path or mnt.startswith(path + "/"):
                found.append(mnt)
    return sorted(found, key=len, reverse=True)


def _remove_tree(path):
    for mnt in _mounts_below(path):
        subprocess.run(["umount", "-l", mnt], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


def cached_root():
    """The Debian root, built on first use: into a temporary directory that is renamed into
    place only once debootstrap succeeded, so a half-built root is never reused. A lock keeps
    two test runs from building it at once."""
    final = os.path.join(CACHE, ROOT_NAME)
    os.makedirs(CACHE, mode=0o755, exist_ok=True)
    with open(os.path.join(CACHE, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.lexists(os.path.join(final, "sbin", "init")):
            return final
        for stale in glob.glob(os.path.join(CACHE, ".build-*")):  # a run that was killed
            _remove_tree(stale)
        tmp = tempfile.mkdtemp(prefix=".build-", dir=CACHE)
        try:
            t0 = time.monotonic()
            r = subprocess.run(["debootstrap", "--variant=minbase",
                                "--include=" + ",".join(PACKAGES), SUITE, tmp, debian_mirror()],
                               capture_output=True, text=True, timeout=DEBOOTSTRAP_SECONDS)
            assert r.returncode == 0, f"debootstrap failed:\n{r.stdout[-3000:]}\n{r.stderr}"
            os.chmod(tmp, 0o755)
            os.rename(tmp, final)
            print(f"nspawn root built in {time.monotonic() - t0:.0f} s: {final}")
        finally:
            if os.path.exists(tmp):
                _remove_tree(tmp)
    return final


class Container:
    """A throw-away boot of the cached root: an overlay whose upper layer lives in a temporary
    directory (the cache is never written), systemd-nspawn -b with a private network, and
    commands run inside with nsenter. Always powered off and removed by close()."""

    def __init__(self, root):
        self.tmp = tempfile.mkdtemp(prefix="dropcap-nspawn-", dir="/var/tmp")
        self.dir = os.path.join(self.tmp, "merged")
        for d in ("upper", "work", "merged"):
            os.mkdir(os.path.join(self.tmp, d))
        opts = (f"lowerdir={root},upperdir={self.tmp}/upper,workdir={self.tmp}/work")
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, self.dir], check=True,
                       capture_output=True, text=True)
        self.console = os.path.join(self.tmp, "console.log")
        self.nspawn = None
        self.leader = None

    def path(self, inside):
        """The host path of a path inside the container (for files written before boot)."""
        return os.path.join(self.dir, inside.lstrip("/"))

    def boot(self):
        with open(self.console, "wb") as out:
            self.nspawn = subprocess.Popen(
                ["systemd-nspawn", "-q", "-D", self.dir, "--private-network", "--register=no",
                 "--keep-unit", f"--system-call-filter={NSPAWN_ALLOW}", "-b"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        self.leader = self._find_leader()
        deadline = time.monotonic() + BOOT_SECONDS
        while True:  # until systemd's own socket exists, systemctl says nothing or "offline"
            r = self.run(["systemctl", "is-system-running", "--wait"], timeout=BOOT_SECONDS,
                         check=False)
            if r.stdout.strip() not in ("", "offline") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        # "degraded" (some unit of the minimal system failed) still runs ours
        assert r.stdout.strip() in ("running", "degraded"), (r.stderr, self.console_text())

    def _find_leader(self):
        """The container's PID 1 (systemd): the nspawn process's child."""
        deadline = time.monotonic() + BOOT_SECONDS
        while time.monotonic() < deadline:
            assert self.nspawn.poll() is None, "systemd-nspawn exited:\n" + self.console_text()
            with contextlib.suppress(OSError):
                with open(f"/proc/{self.nspawn.pid}/task/{self.nspawn.pid}/children") as f:
                    for pid in f.read().split():
                        with open(f"/proc/{pid}/comm") as c:
                            if c.read().strip() == "systemd":
                                return int(pid)
            time.sleep(0.1)
        pytest.fail("the container's systemd did not start:\n" + self.console_text())

    def run(self, cmd, *, timeout=60, check=True):
        """Runs cmd inside the container (all its namespaces) with a clean environment."""
        r = subprocess.run(["nsenter", "-t", str(self.leader), "-a", "env", "-i",
                            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                            "LANG=C.UTF-8", "SYSTEMD_PAGER=", *map(str, cmd)],
                           capture_output=True, text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, f"{shlex.join(map(str, cmd))}: {r.returncode}\n" \
                                      f"{r.stdout}\n{r.stderr}"
        return r

    def sh(self, script, **kw):
        return self.run(["sh", "-ec", script], **kw)

    def show(self, unit, *props):
        """systemctl show's properties of unit, as a dict."""
        out = self.run(["systemctl", "show", unit, *(f"--property={p}" for p in props)]).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def is_active(self, unit):
        return self.run(["systemctl", "is-active", unit], check=False).stdout.strip()

    def journal(self, unit):
        """What the unit's current (or last) invocation logged, and what systemd logged about
        it (with debug logging: each notification message it got, see deploy())."""
        inv = self.show(unit, "InvocationID")["InvocationID"]
        return self.run(["journalctl", "--no-pager", "-o", "cat", f"_SYSTEMD_INVOCATION_ID={inv}",
                         "+", f"INVOCATION_ID={inv}"]).stdout

    def wait_journal(self, unit, line, seconds=10):
        """Polls the unit's journal (journald writes it asynchronously) until line is in it."""
        deadline = time.monotonic() + seconds
        log = self.journal(unit)
        while line not in log.splitlines() and time.monotonic() < deadline:
            time.sleep(0.2)
            log = self.journal(unit)
        assert line in log.splitlines(), f"{line!r} not in the journal of {unit}:\n{log}"

    def console_text(self):
        with open(self.console, "rb") as f:
            return f.read()[-4000:].decode(errors="replace")

    def close(self):
        if self.nspawn is not None and self.nspawn.poll() is None:
            self.nspawn.send_signal(signal.SIGTERM)  # nspawn asks the container to power off
            try:
                self.nspawn.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.nspawn.kill()
                self.nspawn.wait(timeout=30)
        _remove_tree(self.tmp)


def stage_deploy(c, dropcap_bin, tls):
    """Before boot, from the host: the files a deploy brings (binary and dropcap-setcap in a
    staging directory, the shipped units, the options, certificate and key, the site)."""
    os.makedirs(c.path(STAGE), mode=0o700)
    shutil.copy(dropcap_bin, c.path(f"{STAGE}/dropcap"))
    shutil.copy(SCRIPT, c.path(f"{STAGE}/dropcap-setcap"))
    for unit in ("dropcap.service", "dropcap.socket", "dropcap-activated.service"):
        shutil.copy(os.path.join(INSTALL, "systemd", unit), c.path(f"/etc/systemd/system/{unit}"))
    os.makedirs(c.path("/etc/dropcap"), mode=0o755)
    shutil.copy(tls.ec_cert, c.path("/etc/dropcap/cert.pem"))
    shutil.copy(tls.ec_key, c.path("/etc/dropcap/key.pem"))
    with open(os.path.join(INSTALL, "systemd", "dropcap.env")) as f:
        env = f.read().replace("--root /var/www/html", f"--root {SITE}")
    assert f"--root {SITE} " in env
    with open(c.path("/etc/dropcap/dropcap.env"), "w") as f:
        f.write(env)
    site = dc.make_docroot(c.path("/var/www"))
    assert site == c.path(SITE)


def deploy(c):
    """Inside the booted container, as an administrator would: the dropcap user and group
    (as the .deb's postinst makes them), the key readable by the group, the binary installed
    with its capability by dropcap-setcap --install."""
    c.sh("groupadd --system dropcap; useradd --system --gid dropcap --no-create-home "
         "--home-dir /nonexistent --shell /usr/sbin/nologin dropcap; "
         "chown root:dropcap /etc/dropcap/key.pem; chmod 0640 /etc/dropcap/key.pem")
    r = c.run(["sh", f"{STAGE}/dropcap-setcap", "--install", "--group", "dropcap",
               f"{STAGE}/dropcap", "/usr/local/bin/dropcap"])
    assert r.stdout.strip() in ("ok", "changed"), r.stdout + r.stderr
    assert "cap_net_bind_service" in c.run(["getcap", "/usr/local/bin/dropcap"]).stdout
    c.run(["systemctl", "daemon-reload"])
    # systemd then logs every notification message it accepts, with the sender's PID
    c.run(["systemd-analyze", "log-level", "debug"])


def notified(service, pid, message):
    """The line systemd 252 logs at debug level for a notification message it accepted from pid
    (its assignments joined by ", ")."""
    return f"{service}: Got notification message from PID {pid} ({message})"


@pytest.fixture(scope="module")
def container(dropcap_bin, tls_files):
    if not dc.is_root():
        pytest.skip("needs root (debootstrap, overlay mounts, systemd-nspawn)")
    for tool in ("debootstrap", "systemd-nspawn", "nsenter"):
        assert shutil.which(tool), f"{tool} missing: scripts/deps.sh test installs it"
    root = cached_root()
    c = Container(root)
    try:
        stage_deploy(c, dropcap_bin, tls_files)
        t0 = time.monotonic()
        c.boot()
        print(f"container booted in {time.monotonic() - t0:.1f} s")
        deploy(c)
        yield c
    finally:
        c.close()


def wait_state(c, unit, want, seconds=READY_SECONDS):
    """Polls systemctl is-active until it says want (bounded); returns the last answer."""
    deadline = time.monotonic() + seconds
    state = c.is_active(unit)
    while state != want and time.monotonic() < deadline:
        time.sleep(0.2)
        state = c.is_active(unit)
    return state


def fetch(c, url, *, retry=False):
    """curl inside the container (-k: the test certificate is self-signed)."""
    cmd = ["curl", "-sS", "-k", "--max-time", "10", url]
    if retry:  # until dropcap listens (the negative test starts it without waiting)
        cmd[1:1] = ["--retry", "20", "--retry-connrefused", "--retry-delay", "1",
                    "--retry-max-time", "30"]
    return c.run(cmd, check=False)


def serves_https_and_http(c, service):
    """Both standard ports answer with the site's index, from inside the container."""
    index = dc.DOCROOT_FILES["index.html"].decode()
    for url in ("https://localhost/", "http://localhost/"):
        r = fetch(c, url)
        assert (r.returncode, r.stdout) == (0, index), f"{url}: {r.stderr}\n{c.journal(service)}"
    assert c.is_active(service) == "active"


# Steps between start and stop, each called with (container, service) while the service is
# active. The reload (SIGHUP: systemctl reload, RELOADING=1 then READY=1) and the upgrade
# (SIGUSR2: a new main PID that announced itself with MAINPID=) go here, one function each,
# and must leave the service active and serving. c.wait_journal(service, notified(...)) shows
# which notification messages systemd accepted and from which PID; c.show(service, "MainPID")
# whom it now watches.
def reloads_new_certificate(c, service):
    """A renewal as the README's deploy hook does it: new cert.pem and key.pem renamed into
    /etc/dropcap (root:dropcap 0640), then systemctl reload (ExecReload: SIGHUP). The service
    stays active with the same main PID, systemd accepted RELOADING=1 and then READY=1 from it,
    and a new connection inside gets the new certificate. Then the original files go back with
    a second reload, so the steps and tests after this one (the container is shared) find the
    certificate the test clients trust."""
    cn = f"dropcap-reload-{service.split('.')[0]}-{int(time.time())}"
    c.sh("cd /etc/dropcap; cp -p cert.pem cert.pem.orig; cp -p key.pem key.pem.orig")
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "30", "-subj", f"/CN={cn}",
                    "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-keyout", c.path("/etc/dropcap/key.pem.new"),
                    "-out", c.path("/etc/dropcap/cert.pem.new")], check=True, capture_output=True)
    c.sh("cd /etc/dropcap; chown root:dropcap cert.pem.new key.pem.new; "
         "chmod 0640 cert.pem.new key.pem.new; mv cert.pem.new cert.pem; mv key.pem.new key.pem")
    pid = int(c.show(service, "MainPID")["MainPID"])
    c.run(["systemctl", "reload", service], timeout=60)
    assert c.is_active(service) == "active"
    assert int(c.show(service, "MainPID")["MainPID"]) == pid
    got = notified(service, pid, "")[:-1]  # "...from PID n (": the messages follow
    deadline, order = time.monotonic() + 10, []
    while time.monotonic() < deadline:
        log = c.journal(service)
        order = [ln[len(got):].split(",")[0] for ln in log.splitlines() if ln.startswith(got)]
        if order[-2:] == ["RELOADING=1", "READY=1"]:
            break
        time.sleep(0.2)
    assert order[-2:] == ["RELOADING=1", "READY=1"], log
    assert f"dropcap: SIGHUP: reloaded /etc/dropcap/cert.pem and /etc/dropcap/key.pem: " \
           f"subject CN={cn}, " in log, log
    r = c.run(["curl", "-sS", "-k", "-v", "--max-time", "10", "https://localhost/"])
    assert f"subject: CN={cn}" in r.stderr, r.stderr
    assert r.stdout == dc.DOCROOT_FILES["index.html"].decode()
    assert c.is_active(service) == "active"
    c.sh("cd /etc/dropcap; mv cert.pem.orig cert.pem; mv key.pem.orig key.pem")
    c.run(["systemctl", "reload", service], timeout=60)
    back = "SIGHUP: reloaded /etc/dropcap/cert.pem and /etc/dropcap/key.pem: subject CN=localhost,"
    deadline = time.monotonic() + 10
    while back not in c.journal(service) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert back in c.journal(service), c.journal(service)
    r = c.run(["curl", "-sS", "--cacert", "/etc/dropcap/cert.pem", "--max-time", "10",
               "https://localhost/"])
    assert r.stdout == dc.DOCROOT_FILES["index.html"].decode()


def upgrades_without_a_restart(c, service):
    """The upgrade path of the README: a fresh copy of the binary over the path (a copy has no
    capability: it must take over 443 with the inherited sockets), then
    systemctl kill -s USR2 --kill-who=main. systemd's main PID becomes the new process, which
    announced itself (READY=1, MAINPID=) as the old one did (MAINPID=); the unit never leaves
    active, the old process exits, and the new one serves."""
    old = int(c.show(service, "MainPID")["MainPID"])
    c.sh("install -o root -g dropcap -m 0750 /usr/local/bin/dropcap /usr/local/bin/.dropcap.new"
         " && mv /usr/local/bin/.dropcap.new /usr/local/bin/dropcap")
    assert c.run(["getcap", "/usr/local/bin/dropcap"]).stdout.strip() == ""
    c.run(["systemctl", "kill", "-s", "USR2", "--kill-who=main", service])
    deadline = time.monotonic() + READY_SECONDS + 10
    new = old
    while new == old and time.monotonic() < deadline:
        assert c.is_active(service) == "active", c.journal(service)
        time.sleep(0.2)
        new = int(c.show(service, "MainPID")["MainPID"])
    assert new not in (old, 0), f"MainPID still {new}:\n{c.journal(service)}"
    # the new process leaves MAINPID= to the old one, which sends it once the new one is
    # systemd's own child: systemd then gets its exit status like the first one's
    c.wait_journal(service, notified(service, new, f"READY=1, STATUS=serving {SITE}"))
    c.wait_journal(service, notified(service, old, f"MAINPID={new}"))
    assert "which is not our child" not in c.journal(service)
    c.wait_journal(service, f"dropcap: upgrade: process {new} is serving; finishing in-flight "
                            "responses, then exiting")
    assert c.is_active(service) == "active"
    serves_https_and_http(c, service)
    deadline = time.monotonic() + 10  # the old one drains (no request is in flight)
    while c.run(["test", "-e", f"/proc/{old}"], check=False).returncode == 0:
        assert time.monotonic() < deadline, f"process {old} still runs"
        time.sleep(0.2)
    assert c.is_active(service) == "active"
    # the next start (a later test) binds 443 itself: the capability back, as a deploy does
    c.run(["sh", f"{STAGE}/dropcap-setcap", "/usr/local/bin/dropcap"])


LIFECYCLE_STEPS = (serves_https_and_http, reloads_new_certificate, upgrades_without_a_restart)


def started_by_ready(c, service, via):
    """Active with the STATUS= line dropcap sends with READY=1, its main PID, its proof line."""
    state = wait_state(c, service, "active")
    assert state == "active", f"{service} is {state}: no READY=1?\n{c.journal(service)}"
    p = c.show(service, "StatusText", "MainPID", "Type", "NotifyAccess")
    assert p["Type"] == "notify" and p["StatusText"] == f"serving {SITE}", p
    pid = int(p["MainPID"])
    assert pid > 0
    c.wait_journal(service,
                   notified(service, pid, f"READY=1, MAINPID={pid}, STATUS=serving {SITE}"))
    log = c.journal(service)
    ids = (c.run(["id", "-u", "dropcap"]).stdout.strip(),
           c.run(["id", "-g", "dropcap"]).stdout.strip())
    proof = [ln for ln in log.splitlines() if ln.startswith(PROOF.format(*ids))]
    assert len(proof) == 1, log
    assert " caps=none bounding=none no_new_privs=1 " in proof[0] and f" via={via} " in proof[0]
    return pid


def stopped_cleanly(c, service, pid, *units):
    """systemctl stop: STOPPING=1 from dropcap, then inactive, and the main process pid exited
    (not killed) with status 0. The unit is enabled, so systemd keeps it loaded with its exit
    status after the stop."""
    c.run(["systemctl", "stop", *units, service], timeout=60)
    assert c.is_active(service) == "inactive"
    for u in units:
        assert c.is_active(u) == "inactive"
    p = c.show(service, "ExecMainPID", "ExecMainCode", "ExecMainStatus", "Result")
    assert p == {"ExecMainPID": str(pid), "ExecMainCode": "1",  # CLD_EXITED
                 "ExecMainStatus": "0", "Result": "success"}, p
    c.wait_journal(service, "dropcap: SIGTERM: finishing in-flight responses, then exiting "
                            "(again to exit now)")
    c.wait_journal(service, notified(service, pid, "STOPPING=1, STATUS=finishing in-flight "
                                                   "responses, then exiting"))


@contextlib.contextmanager
def enabled(c, unit, *others):
    """unit enabled (as the README's enable --now does; it also keeps systemd from unloading
    the stopped service before its exit status is read); on the way out, whatever happened,
    unit and others stopped and unit disabled, so that one failure does not spill over."""
    c.run(["systemctl", "enable", unit])
    try:
        yield
    finally:
        c.run(["systemctl", "stop", unit, *others], check=False)
        c.run(["systemctl", "disable", unit], check=False)


def test_service_with_file_capability_is_active_after_ready_serves_and_stops(container):
    """dropcap.service: started as User=dropcap through the file capability; systemd calls it
    active on READY=1 (its STATUS= text is ours), it serves 443 and 80, and stops with 0."""
    c = container
    with enabled(c, "dropcap.service"):
        c.run(["systemctl", "start", "--no-block", "dropcap.service"])
        pid = started_by_ready(c, "dropcap.service", "file-capability")
        status = c.run(["cat", f"/proc/{pid}/status"]).stdout
        uid = c.run(["id", "-u", "dropcap"]).stdout.strip()
        assert f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}" in status, status
        for step in LIFECYCLE_STEPS:
            step(c, "dropcap.service")
        pid = int(c.show("dropcap.service", "MainPID")["MainPID"])  # an upgrade changed it
        stopped_cleanly(c, "dropcap.service", pid)


def test_socket_activated_service_is_active_after_ready_serves_and_stops(container):
    """dropcap.socket: systemd holds 443 and 80; the first connection starts
    dropcap-activated.service (no capability at all), active on READY=1; stop leaves both
    inactive and dropcap's exit status 0."""
    c = container
    svc = "dropcap-activated.service"
    with enabled(c, "dropcap.socket", svc):
        c.run(["systemctl", "start", "dropcap.socket"])
        assert c.is_active("dropcap.socket") == "active"
        assert c.is_active(svc) == "inactive"  # nothing connected yet
        r = fetch(c, "https://localhost/")  # the first connection starts dropcap
        index = dc.DOCROOT_FILES["index.html"].decode()
        assert (r.returncode, r.stdout) == (0, index), r.stderr + c.journal(svc)
        pid = started_by_ready(c, svc, "inherited")
        for step in LIFECYCLE_STEPS:
            step(c, svc)
        pid = int(c.show(svc, "MainPID")["MainPID"])  # an upgrade changed it
        stopped_cleanly(c, svc, pid, "dropcap.socket")


def test_without_notify_socket_the_service_stays_activating(container):
    """The negative: the same unit and binary with NOTIFY_SOCKET removed from dropcap's
    environment serves, yet systemd never calls it active. So "active" above comes from the
    READY=1 that dropcap sends, not from the process having started."""
    c = container
    dropin = c.path("/etc/systemd/system/dropcap.service.d/no-notify.conf")
    os.makedirs(os.path.dirname(dropin))
    with open(dropin, "w") as f:
        f.write("[Service]\nExecStart=\n"
                "ExecStart=/usr/bin/env -u NOTIFY_SOCKET /usr/local/bin/dropcap $DROPCAP_OPTS\n")
    try:
        c.run(["systemctl", "daemon-reload"])
        c.run(["systemctl", "start", "--no-block", "dropcap.service"])
        index = dc.DOCROOT_FILES["index.html"].decode()
        r = fetch(c, "https://localhost/", retry=True)
        assert (r.returncode, r.stdout) == (0, index), r.stderr + c.journal("dropcap.service")
        assert wait_state(c, "dropcap.service", "active", seconds=3) == "activating"
        assert c.show("dropcap.service", "StatusText")["StatusText"] == ""
        assert "Got notification message" not in c.journal("dropcap.service")
    finally:
        c.run(["systemctl", "stop", "dropcap.service"], check=False)
        os.remove(dropin)
        c.run(["systemctl", "daemon-reload"])
    assert c.is_active("dropcap.service") == "inactive"


class InContainerNet:
    """For upgrade_load.Load: the host's python in the container's network namespace only."""

    def __init__(self, c):
        self.c = c

    def exec(self, cmd):
        return ["nsenter", "-t", str(self.c.leader), "-n"] + [str(x) for x in cmd]


@contextlib.contextmanager
def package_units(c):
    """The deploy's units in /etc/systemd/system override a package's in /lib: set aside."""
    units = ("dropcap.service", "dropcap.socket", "dropcap-activated.service")
    aside = c.path("/root/units-aside")
    os.makedirs(aside, exist_ok=True)
    for u in units:
        os.rename(c.path(f"/etc/systemd/system/{u}"), os.path.join(aside, u))
    try:
        yield
    finally:
        for u in units:
            os.rename(os.path.join(aside, u), c.path(f"/etc/systemd/system/{u}"))
        c.run(["systemctl", "daemon-reload"], check=False)


def dpkg_install(c, deb):
    """dpkg -i inside the container (the deploy's /etc/dropcap/dropcap.env is kept)."""
    shutil.copy(deb, c.path(f"/root/{os.path.basename(deb)}"))
    return c.run(["env", "DEBIAN_FRONTEND=noninteractive", "dpkg", "--force-confold", "-i",
                  f"/root/{os.path.basename(deb)}"], timeout=180)


def test_deb_upgrade_of_the_running_service_drops_no_request(container, world_tmp, tls_files):
    """Issue 9, scenario 3: a newer .deb is installed while the package's dropcap.service serves
    under the bounded client loop (tests/upgrade_load.py). dpkg unpacks a new inode without the
    capability; the postinst re-applies it and upgrades the running server with SIGUSR2 instead
    of a restart: systemd's main PID becomes the new process before dpkg returns, the unit stays
    active, and no request fails or is truncated (the 64 MiB download in flight included)."""
    c = container
    first, newer = build_debs(world_tmp)
    big = upgrade_load.make_big(c.path(SITE))
    with package_units(c):
        dpkg_install(c, first)
        c.run(["systemctl", "daemon-reload"])
        with enabled(c, "dropcap.service"):
            c.run(["systemctl", "start", "dropcap.service"], timeout=READY_SECONDS + 10)
            old = int(c.show("dropcap.service", "MainPID")["MainPID"])
            assert c.run(["readlink", f"/proc/{old}/exe"]).stdout.strip() == "/usr/bin/dropcap"
            with upgrade_load.Load(InContainerNet(c), cafile=tls_files.ec_cert, big=big) as load:
                load.wait_running()
                r = dpkg_install(c, newer)
                new = int(c.show("dropcap.service", "MainPID")["MainPID"])
                assert new not in (old, 0), r.stdout + r.stderr + c.journal("dropcap.service")
                load.go()
                result = load.result()
            print("load:", result)
            upgrade_load.assert_clean(result)
            assert c.is_active("dropcap.service") == "active"
            c.wait_journal("dropcap.service", f"dropcap: upgrade: process {new} is serving; "
                                              "finishing in-flight responses, then exiting")
            c.wait_journal("dropcap.service", notified("dropcap.service", old, f"MAINPID={new}"))
            assert "Stopping" not in c.journal("dropcap.service")  # never a restart
            assert "cap_net_bind_service" in c.run(["getcap", "/usr/bin/dropcap"]).stdout
            serves_https_and_http(c, "dropcap.service")


def give_python(c):
    """Ansible runs its modules with Python, which the minimal root lacks: the host's (the same
    Debian 12; the libraries it loads are in the root) is copied into the throw-away overlay."""
    if os.path.exists(c.path("/usr/bin/python3")):
        return
    shutil.copy2("/usr/bin/python3.11", c.path("/usr/bin/python3.11"))
    os.symlink("python3.11", c.path("/usr/bin/python3"))
    shutil.copytree("/usr/lib/python3.11", c.path("/usr/lib/python3.11"), symlinks=True)


def test_ansible_run_with_a_new_binary_upgrades_the_service(container, world_tmp, tls_files):
    """Issue 9, scenario 4: the Ansible role (install/ansible, through the nsenter connection
    into the container) deploys dropcap.service; a second run with a new binary installs it
    with dropcap-setcap --install and its handler upgrades the running server (SIGUSR2), under
    the bounded client loop: a new main PID, never a restart, zero failed requests, zero
    truncated bodies."""
    c = container
    give_python(c)
    big = upgrade_load.make_big(c.path(SITE))
    v = {"dropcap_root": SITE, "dropcap_cert_src": tls_files.ec_cert,
         "dropcap_key_src": tls_files.ec_key, "dropcap_manage_service": True}
    conn = ("-c", "community.docker.nsenter", "-e", f"ansible_nsenter_pid={c.leader}",
            "-e", "ansible_become=false")  # nsenter enters as root already
    with enabled(c, "dropcap.service"):
        first, _ = ansible_playbook(world_tmp, {**v, "dropcap_binary_src": copy_binary(
            world_tmp, "dropcap.1", extra=b"build 1")}, conn)
        assert first["failed"] == 0 and c.is_active("dropcap.service") == "active"
        old = int(c.show("dropcap.service", "MainPID")["MainPID"])
        with upgrade_load.Load(InContainerNet(c), cafile=tls_files.ec_cert, big=big) as load:
            load.wait_running()
            second, out = ansible_playbook(world_tmp, {**v, "dropcap_binary_src": copy_binary(
                world_tmp, "dropcap.2", extra=b"build 2")}, conn)
            new = int(c.show("dropcap.service", "MainPID")["MainPID"])
            assert new not in (old, 0), out + c.journal("dropcap.service")
            load.go()
            result = load.result()
        print("load:", result)
        upgrade_load.assert_clean(result)
        assert second["failed"] == 0 and second["changed"] >= 2, out  # installed, upgraded
        assert "RUNNING HANDLER [dropcap : Upgrade dropcap]" in out, out
        assert "RUNNING HANDLER [dropcap : Restart dropcap]" not in out, out
        c.wait_journal("dropcap.service", f"dropcap: upgrade: process {new} is serving; "
                                          "finishing in-flight responses, then exiting")
        c.wait_journal("dropcap.service", notified("dropcap.service", old, f"MAINPID={new}"))
        assert c.is_active("dropcap.service") == "active"
        serves_https_and_http(c, "dropcap.service")


def test_mirror_is_read_from_apts_sources(tmp_path):
    """The mirror comes from apt's configuration (deb822 or one-line), never from the test:
    the bookworm archive, not bookworm-security nor a deb-src line."""
    sources = tmp_path / "debian.sources"
    sources.write_text("Types: deb\n# a comment: with a colon\nURIs: http://sec.example/ds\n"
                       "Suites: bookworm-security\nComponents: main\n\n"
                       "Types: deb-src\nURIs: http://src.example/d\nSuites: bookworm\n\n"
                       "Types: deb\nURIs: http://main.example/debian\n"
                       "Suites: bookworm bookworm-updates\nComponents: main\n")
    assert debian_mirror(str(sources), "/nonexistent") == "http://main.example/debian"
    legacy = tmp_path / "sources.list"
    legacy.write_text("# deb http://old.example/x bookworm main\n"
                      "deb-src http://src.example/d bookworm main\n"
                      "deb [arch=amd64 signed-by=/k.gpg] http://opt.example/debian bookworm main\n")
    assert debian_mirror("/nonexistent", str(legacy)) == "http://opt.example/debian"
    legacy.write_text("deb http://plain.example/debian bookworm main contrib\n")
    assert debian_mirror("/nonexistent", str(legacy)) == "http://plain.example/debian"
