"""Helpers shared by the install-tooling tests (tests/install): running dropcap-setcap, reading
file capabilities, system users created only for a test, and "serve 443 in a fresh netns"."""

import contextlib
import json
import grp
import os
import pwd
import re
import shutil
import subprocess

import pytest

import dropcap_fixture as dc

REPO = dc.REPO
INSTALL = os.path.join(REPO, "install")
SCRIPT = os.path.join(INSTALL, "dropcap-setcap")
CAPS = "cap_net_bind_service,cap_setpcap=p"
CAP_NAMES = frozenset({"cap_net_bind_service", "cap_setpcap"})


def run(cmd, *, timeout=120, check=False, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run([str(c) for c in cmd], timeout=timeout, check=check, **kw)


def make_env(**extra):
    """os.environ without the outer make's jobserver settings (make test runs pytest)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.update(extra)
    return env


def make(*targets_and_vars, timeout=300):
    """Runs a make target of install/install.mk on the binary that is already built: -o keeps
    make from rebuilding build/dropcap (make test built it; sources may be mid-edit)."""
    if not os.path.isfile(os.path.join(REPO, "build", "dropcap")):
        pytest.skip("build/dropcap not built (run make)")
    if not os.access(os.path.join(REPO, "build"), os.W_OK):
        pytest.skip("build/ is not writable by this user")
    r = run(["make", "--no-print-directory", "-o", "build/dropcap", "-C", REPO,
             *targets_and_vars], timeout=timeout, env=make_env())
    assert r.returncode == 0, f"make {' '.join(targets_and_vars)} failed:\n{r.stdout}\n{r.stderr}"
    return r


def setcap_script(*args, user=None, prefix=(), timeout=30):
    """Runs install/dropcap-setcap; user= runs it as that (name, uid, gid) with setpriv."""
    cmd = list(prefix)
    if user is not None:
        cmd += ["setpriv", "--reuid", str(user[1]), "--regid", str(user[2]), "--clear-groups", "--"]
    return run(cmd + [SCRIPT, *args], timeout=timeout)


def parse_caps(text):
    """'cap_setpcap,cap_net_bind_service=p' (getcap / rpm --filecaps) -> (names, flags)."""
    text = text.strip()
    if not text or "=" not in text:
        return frozenset(), ""
    names, _, flags = text.rpartition("=")
    return frozenset(n.strip() for n in names.split(",")), flags


def file_caps(path):
    """The capability text of one file as getcap prints it ('' when none)."""
    out = run(["getcap", path], check=True).stdout.strip()
    return out.split(" ", 1)[1] if " " in out else ""


def has_exact_caps(path):
    """setcap -v: the exact set dropcap expects, permitted only."""
    return run(["setcap", "-v", CAPS, path]).returncode == 0


def assert_caps(path):
    assert has_exact_caps(path), f"{path}: want {CAPS}, getcap says {file_caps(path)!r}"
    assert parse_caps(file_caps(path)) == (CAP_NAMES, "p")


def copy_binary(directory, name="dropcap", extra=b""):
    """A plain copy of the built binary (no capability), root-owned 0755; extra bytes appended
    after the ELF image make a 'newer build' with different content that still runs."""
    path = os.path.join(directory, name)
    shutil.copyfile(dc.BIN, path)
    if extra:
        with open(path, "ab") as f:
            f.write(extra)
    os.chmod(path, 0o755)
    return path


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_exists(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


@contextlib.contextmanager
def removes_user_afterwards(name):
    """Whatever the test does, a user/group `name` that did not exist before is deleted after."""
    had_user, had_group = user_exists(name), group_exists(name)
    try:
        yield
    finally:
        if not had_user and user_exists(name):
            run(["userdel", name])
        if not had_group and group_exists(name):
            run(["groupdel", name])


def user_ids(name):
    pw = pwd.getpwnam(name)
    return pw.pw_name, pw.pw_uid, pw.pw_gid


def serve_443(binary, user, tls_files, docroot, *, args=None):
    """Starts `binary` as `user` in a fresh network namespace (443 and 80 privileged there), on
    :443 and :80, fetches / over both with curl inside the namespace, stops it.
    Returns (stderr, https_body, http_body)."""
    if args is None:
        args = ["--root", docroot, "--https", ":443", "--http", ":80",
                "--cert", tls_files.ec_cert, "--key", tls_files.ec_key]
    with dc.Netns() as ns:
        assert int(ns.sysctl("net.ipv4.ip_unprivileged_port_start")) > 443
        s = dc.Server(args, binary=binary, user=user, netns=ns)
        s.start()
        try:
            https = ns.run(["curl", "-sSk", "--max-time", "5", "https://127.0.0.1/"])
            http = ns.run(["curl", "-sS", "--max-time", "5", "http://127.0.0.1/"])
            status = dc.proc_status(s.pid)
        finally:
            rc = s.stop()
        err = s.stderr_text()
    assert rc == 0, f"dropcap exited {rc} after SIGTERM:\n{err}"
    assert https.returncode == 0, f"curl https: {https.stderr}\nserver:\n{err}"
    assert http.returncode == 0, f"curl http: {http.stderr}\nserver:\n{err}"
    uid = str(user_ids(user)[1]) if isinstance(user, str) else str(user[1])
    assert status["Uid"].split()[0] == uid
    for field in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"):
        assert dc.cap_mask(status[field]) == 0, f"{field}={status[field]}\n{err}"
    assert re.search(r"^dropcap: privileges: .*via=file-capability", err, re.M), err
    return err, https.stdout, http.stdout


def build_debs(directory):
    """(first, newer): make deb's package, and one of a newer version (build-deb strips the
    binary, so the content is the same: what matters is that dpkg unpacks a new inode)."""
    first = make("deb").stdout.strip().splitlines()[-1]
    first = os.path.join(os.path.dirname(INSTALL), first)
    assert os.path.isfile(first), first
    version = run(["dpkg-deb", "-f", first, "Version"], check=True).stdout.strip()
    newer_bin = copy_binary(directory, "dropcap")
    r = run(["sh", os.path.join(INSTALL, "debian", "build-deb"), newer_bin, version + "+test1",
             directory], timeout=120)
    assert r.returncode == 0, r.stderr
    return first, r.stdout.strip()


ANSIBLE_ROLES = os.path.join(INSTALL, "ansible", "roles")
ANSIBLE_PLAYBOOK = os.path.join(INSTALL, "ansible", "playbook.yml")


def recap(output, host="localhost"):
    m = re.search(rf"^{re.escape(host)}\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)"
                  r"\s+failed=(\d+)", output, re.M)
    assert m, output
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, m.groups())))


def ansible_playbook(base, extra_vars, connection=("-c", "local"), inventory="localhost,"):
    """Runs install/ansible/playbook.yml against "localhost" (through connection: the local
    one, or e.g. ("-c", "community.docker.nsenter", "-e", "ansible_nsenter_pid=PID") for a
    container) with extra_vars, in scratch directory base. Returns (recap dict, output).
    inventory: another inventory (a file); the recap is then localhost's, parse the others'
    with recap(output, host)."""
    varfile = os.path.join(base, "vars.json")
    with open(varfile, "w") as f:
        json.dump(extra_vars, f)
    tmp = os.path.join(base, "ansible-tmp")
    cfg = os.path.join(base, "ansible.cfg")  # no user or /etc/ansible settings
    with open(cfg, "w") as f:
        f.write("[defaults]\n")
    env = {**os.environ, "ANSIBLE_ROLES_PATH": ANSIBLE_ROLES, "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCAL_TEMP": tmp, "ANSIBLE_REMOTE_TEMP": tmp, "ANSIBLE_HOME": tmp,
           "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_CONFIG": cfg,
           "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3"}
    r = run(["ansible-playbook", *connection, "-i", inventory, "-e", "@" + varfile,
             ANSIBLE_PLAYBOOK],
            timeout=240, env=env, cwd=base)
    assert r.returncode == 0, f"ansible-playbook failed:\n{r.stdout}\n{r.stderr}"
    return (recap(r.stdout) if inventory == "localhost," else None), r.stdout
