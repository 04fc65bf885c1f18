"""The sandbox of the serving process (server/sandbox.c), as the unprivileged user dropcap-test in a
fresh network namespace: Landlock confines the files it can open, a seccomp allow-list the system
calls it can make, both are on by default and read back from the kernel, and --no-sandbox turns
them off with a warning.

What only the process itself can show (which files the kernel lets it open, what a forbidden
system call does) is driven through test hooks that exist in the test build alone
(build/san/dropcap, compiled with DROPCAP_TEST_HOOKS; see sandbox.c): DROPCAP_TEST_OPEN,
DROPCAP_TEST_SYSCALL, DROPCAP_TEST_SKIP, DROPCAP_TEST_LEAK. Each hook test has a control run
(--no-sandbox, or no hook) that shows the same step succeeding, so the test can fail.
"""

import os
import re
import shutil
import signal
import time

import pytest

import dropcap_fixture as dc

PROOF = re.compile(r"^dropcap: privileges: (.*)$", re.M)
WARNING = re.compile(r"^dropcap: warning: .*$", re.M)

# Installs a seccomp filter that answers ERRNO to the named calls, then execs the rest of argv:
# a kernel without Landlock (ENOSYS), or a service manager's filter that forbids it (EPERM).
DENY_PARENT = """
import errno, os, seccomp, sys
f = seccomp.SyscallFilter(seccomp.ALLOW)
f.set_attr(seccomp.Attr.CTL_NNP, 0)
for name in sys.argv[2].split(","):
    f.add_rule(seccomp.ERRNO(getattr(errno, sys.argv[1])), name)
f.load()
os.execvp(sys.argv[3], sys.argv[3:])
"""


def proof_fields(stderr):
    lines = PROOF.findall(stderr)
    assert len(lines) == 1, f"want exactly one proof line:\n{stderr}"
    return dict(field.split("=", 1) for field in lines[0].split())


def as_user(user):
    _, uid, gid = user
    return ["setpriv", "--reuid", str(uid), "--regid", str(gid), "--clear-groups", "--"]


def hook_binary():
    """The test build (sanitizers and the DROPCAP_TEST_* hooks); skips when not built."""
    if not os.path.exists(dc.SAN_BIN):
        pytest.skip(f"{dc.SAN_BIN} not built (make build/san/dropcap)")
    return dc.SAN_BIN


class Layout:
    """A site, a certificate installed the way certbot does it (live/ symlinks into archive/), a
    log directory owned by the run user, and a readable file outside all of them."""

    def __init__(self, tmp, tls, user):
        self.tmp = tmp
        self.root = dc.make_docroot(os.path.join(tmp, "www"))
        self.outside = os.path.join(tmp, "www", "outside", "secret.txt")  # make_docroot's
        archive = os.path.join(tmp, "tls", "archive")
        live = os.path.join(tmp, "tls", "live")
        for d in (archive, live):
            os.makedirs(d, mode=0o755)
            os.chmod(d, 0o755)
        for name, src in (("cert1.pem", tls.ec_cert), ("key1.pem", tls.ec_key),
                          ("cert2.pem", tls.ec_cert)):
            shutil.copyfile(src, os.path.join(archive, name))
            os.chmod(os.path.join(archive, name), 0o644)
        os.symlink("../archive/cert1.pem", os.path.join(live, "cert.pem"))
        os.symlink("../archive/key1.pem", os.path.join(live, "key.pem"))
        self.cert = os.path.join(live, "cert.pem")
        self.key = os.path.join(live, "key.pem")
        self.renewed = os.path.join(archive, "cert2.pem")  # what a renewal writes next
        self.live_other = os.path.join(live, "README")  # certbot's README in live/
        with open(self.live_other, "w") as f:
            f.write("not a certificate\n")
        os.chmod(self.live_other, 0o644)
        self.logs = os.path.join(tmp, "logs")
        os.makedirs(self.logs, mode=0o755)
        os.chown(self.logs, user[1], user[2])
        self.log = os.path.join(self.logs, "access.log")

    def args(self, *extra):
        return ["--root", self.root, "--https", "127.0.0.1:8443", "--http", "127.0.0.1:8080",
                "--cert", self.cert, "--key", self.key, "--access-log", self.log, *extra]


@pytest.fixture
def layout(world_tmp, tls_files, unpriv_user):
    return Layout(world_tmp, tls_files, unpriv_user)


def fetch(netns, path="/hello.txt"):
    r = netns.run(["curl", "-sS", "--max-time", "10", f"http://127.0.0.1:8080{path}"])
    assert r.returncode == 0, r.stderr
    return r.stdout


# ---- on by default, and read back ---------------------------------------------------------------


def test_proof_says_landlock_and_seccomp_and_every_thread_is_filtered(netns, unpriv_user, layout,
                                                                      make_server, dropcap_bin):
    """The release binary, started as an ordinary user with nothing but its options: the proof
    line says sandbox=landlock+seccomp and /proc agrees for the process and each thread."""
    s = make_server(layout.args(), user=unpriv_user, netns=netns,
                    binary=dc.cap_binary(layout.tmp, ""))
    assert fetch(netns) == "hello world\n"
    assert proof_fields(s.stderr_text())["sandbox"] == "landlock+seccomp"
    statuses = [dc.proc_status(s.pid)] + dc.tasks(s.pid)
    assert len(statuses) >= 2
    for st in statuses:
        assert st["Seccomp"] == "2", st
        assert int(st["Seccomp_filters"]) >= 1, st
    assert not WARNING.findall(s.stderr_text())


def test_no_sandbox_warns_and_the_proof_says_off(netns, unpriv_user, layout, make_server,
                                                 dropcap_bin):
    s = make_server(layout.args("--no-sandbox"), user=unpriv_user, netns=netns,
                    binary=dc.cap_binary(layout.tmp, ""))
    assert fetch(netns) == "hello world\n"
    assert proof_fields(s.stderr_text())["sandbox"] == "off(--no-sandbox)"
    warnings = WARNING.findall(s.stderr_text())
    assert len(warnings) == 1 and "--no-sandbox" in warnings[0], warnings
    assert dc.proc_status(s.pid)["Seccomp"] == "0"


# ---- Landlock: what the kernel lets the process open --------------------------------------------


def opens(stderr):
    """{path: outcome} from the DROPCAP_TEST_OPEN hook's lines."""
    return dict(re.findall(r"^dropcap: test: open (\S+): (.*)$", stderr, re.M))


def test_kernel_refuses_files_outside_the_root(netns, unpriv_user, layout, make_server):
    """Outside the root, the certificate's directory and the log's, the kernel answers EACCES to
    files the run user may read; beneath them it opens what the rules name. With --no-sandbox the
    very same files open, so each refusal is Landlock's."""
    binary = dc.cap_binary(layout.tmp, "", source=hook_binary())
    want = {
        layout.outside: "Permission denied",  # make_docroot's sibling of the site
        "/etc/passwd": "Permission denied",
        layout.live_other: "Permission denied",  # the rule is on archive/, not on live/
        layout.log: "Permission denied",  # the log directory is write-only
        os.path.join(layout.root, "hello.txt"): "opened",
        layout.cert: "opened",  # live/cert.pem -> archive/cert1.pem
        layout.renewed: "opened",  # a renewal's new file: a SIGHUP reload can read it
    }
    env = {"DROPCAP_TEST_OPEN": ":".join(want)}
    on = make_server(layout.args(), binary=binary, user=unpriv_user, netns=netns, env=env)
    assert opens(on.stderr_text()) == want
    assert on.stop() == 0
    off = make_server(layout.args("--no-sandbox"), binary=binary, user=unpriv_user, netns=netns,
                      env=env)
    assert opens(off.stderr_text()) == {p: "opened" for p in want}


def test_access_log_reopens_after_rotation_inside_the_sandbox(netns, unpriv_user, layout,
                                                              make_server, dropcap_bin):
    """SIGUSR1 after logrotate moved the file: the sandbox lets the run user create the new one
    (Landlock grants create and write in the log's directory, not read)."""
    s = make_server(layout.args(), user=unpriv_user, netns=netns,
                    binary=dc.cap_binary(layout.tmp, ""))

    def logged(path, marker):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            fetch(netns, f"/hello.txt?{marker}")
            if os.path.exists(path) and f"?{marker}" in open(path).read():
                return True
            time.sleep(0.05)
        return False

    assert logged(layout.log, "before"), s.stderr_text()
    os.rename(layout.log, layout.log + ".1")
    s.signal(signal.SIGUSR1)
    assert logged(layout.log, "after"), s.stderr_text()
    assert "SIGUSR1" not in s.stderr_text()  # no "still writing to the old file" warning
    assert os.stat(layout.log).st_uid == unpriv_user[1]


# ---- seccomp: a call outside the list kills the process, naming the call ------------------------


@pytest.mark.parametrize("call, name", [("socket", "socket"), ("uname", "uname"),
                                        ("setsockopt", "setsockopt"),
                                        ("sigaction", "rt_sigaction")])
def test_call_outside_the_list_kills_with_its_name(netns, unpriv_user, layout, make_server, call,
                                                   name):
    """socket and uname are not in the list; setsockopt at IP level and rt_sigaction of SIGSYS
    are refused by argument filters. The process dies of SIGSYS after one line naming the call;
    with --no-sandbox the same call simply returns."""
    import seccomp

    binary = dc.cap_binary(layout.tmp, "", source=hook_binary())
    env = {"DROPCAP_TEST_SYSCALL": call}
    s = dc.Server(layout.args(), binary=binary, user=unpriv_user, netns=netns, env=env)
    rc, err = s.run_to_exit()
    nr = seccomp.resolve_syscall(seccomp.Arch.NATIVE, name)
    assert rc == -signal.SIGSYS, err
    assert (f"dropcap: seccomp: system call {name} ({nr}) is not allowed: killing the process"
            in err.splitlines()), err
    assert f"test: {call} returned" not in err
    control = make_server(layout.args("--no-sandbox"), binary=binary, user=unpriv_user,
                          netns=netns, env=env)
    assert f"dropcap: test: {call} returned" in control.stderr_text()


# ---- the check refuses to serve when a part did not take ----------------------------------------


@pytest.mark.parametrize("skip, why", [
    ("landlock", "Landlock does not hold: /etc/passwd is still readable: refusing to serve"),
    ("seccomp", "/proc/self/status says Seccomp: 0 after loading the filter, not 2: refusing "
                "to serve"),
])
def test_check_refuses_to_serve_when_a_part_is_missing(netns, unpriv_user, layout, skip, why):
    """The test build can leave Landlock or the seccomp filter out: the read-back notices and
    dropcap exits 1 without serving."""
    binary = dc.cap_binary(layout.tmp, "", source=hook_binary())
    s = dc.Server(layout.args(), binary=binary, user=unpriv_user, netns=netns,
                  env={"DROPCAP_TEST_SKIP": skip})
    rc, err = s.run_to_exit()
    assert rc == 1, err
    assert err.splitlines()[-1] == f"dropcap: sandbox: {why}", err
    assert dc.SERVING_MARKER not in err


# ---- without Landlock ---------------------------------------------------------------------------


def deny(errno_name, calls, user):
    return ["/usr/bin/python3", "-c", DENY_PARENT, errno_name, calls] + as_user(user)


@pytest.mark.parametrize("errno_name, word, reason", [
    ("ENOSYS", "not-in-kernel", "this kernel lacks it"),
    ("EOPNOTSUPP", "off-at-boot", "not enabled (lsm= at boot)"),
    ("EPERM", "forbidden-by-parent-filter", "allow landlock_create_ruleset, landlock_add_rule"),
])
def test_without_landlock_one_warning_then_seccomp_alone(netns, unpriv_user, layout, make_server,
                                                         dropcap_bin, errno_name, word, reason):
    """landlock_create_ruleset answering as a kernel built without Landlock (ENOSYS), one with it
    off at boot (EOPNOTSUPP), or under systemd-nspawn or a unit's SystemCallFilter= without it
    (EPERM): one warning naming why, then serve with the seccomp filter still on."""
    s = make_server(layout.args(), netns=netns, binary=dc.cap_binary(layout.tmp, ""),
                    wrapper=deny(errno_name, "landlock_create_ruleset", unpriv_user))
    assert fetch(netns) == "hello world\n"
    assert proof_fields(s.stderr_text())["sandbox"] == f"seccomp(no-landlock:{word})"
    warnings = WARNING.findall(s.stderr_text())
    assert len(warnings) == 1 and "no Landlock" in warnings[0] and reason in warnings[0], warnings
    assert dc.proc_status(s.pid)["Seccomp"] == "2"


def test_parent_filter_forbidding_seccomp_is_named(netns, unpriv_user, layout):
    """A service manager's filter answering EPERM to seccomp(): one line that names the call to
    allow, exit 1 (there is no sandbox left to serve with)."""
    s = dc.Server(layout.args(), netns=netns, binary=dc.cap_binary(layout.tmp, ""),
                  wrapper=deny("EPERM", "seccomp", unpriv_user))
    rc, err = s.run_to_exit()
    assert rc == 1, err
    assert "forbids seccomp(): allow it, or use --no-sandbox" in err.splitlines()[-1], err
    assert dc.SERVING_MARKER not in err


# ---- the test build: hooks only there, and the sanitizers still work inside the sandbox ---------


def test_release_binary_has_no_test_hooks():
    release = dc.BIN  # the release binary under test (build/dropcap, or the OpenSSL one)
    if not os.path.exists(release):
        pytest.skip(f"{release} not built")
    with open(release, "rb") as f:
        assert b"DROPCAP_TEST_" not in f.read()
    with open(hook_binary(), "rb") as f:
        assert b"DROPCAP_TEST_SYSCALL" in f.read()  # the check above can fail


def test_leak_sanitizer_still_reports_inside_the_sandbox(netns, unpriv_user, layout):
    """The sandbox must not blind the sanitizer run: a deliberate leak is reported at exit, with
    its stack symbolized, and LeakSanitizer's tracer is not killed."""
    binary = dc.cap_binary(layout.tmp, "", source=hook_binary())
    s = dc.Server(layout.args(), binary=binary, user=unpriv_user, netns=netns,
                  env={"DROPCAP_TEST_LEAK": "1"})
    s.start()
    assert fetch(netns) == "hello world\n"
    rc = s.stop()
    err = s.stderr_text()
    assert "ERROR: LeakSanitizer: detected memory leaks" in err, err
    assert "in test_hooks" in err, err  # symbolized
    assert "fatal error" not in err and "dropcap: seccomp:" not in err, err
    assert rc != 0


def test_root_start_with_a_root_only_certificate_directory(netns, unpriv_user, layout,
                                                           make_server, dropcap_bin):
    """certbot keeps live/ and archive/ 0700 root: started as root, dropcap reads them before
    the drop; the run user cannot even resolve their path afterwards, so no rule can (or needs
    to) name them, and the sandbox must not refuse to serve for it."""
    os.chmod(os.path.join(layout.tmp, "tls"), 0o700)
    s = make_server(layout.args("--user", unpriv_user[0]), netns=netns,
                    binary=dc.cap_binary(layout.tmp, ""))
    assert fetch(netns) == "hello world\n"
    assert proof_fields(s.stderr_text())["sandbox"] == "landlock+seccomp"
    assert proof_fields(s.stderr_text())["uid"] == str(unpriv_user[1])
