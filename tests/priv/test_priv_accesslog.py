"""The access log is never opened with root's authority (review finding 1). Started as root with
--user, dropcap opens --access-log after the switch, as the run user, with O_NOFOLLOW and only a
regular file: a run user who owns the log directory and plants access.log as a symlink to a
root-owned file (a shell profile) cannot make root append a line it chose — a request target and
User-Agent holding `$(...)` and backticks, which the log's escaping keeps.
"""

import os
import signal
import time

import pytest

import dropcap_fixture as dc

PROFILE = b"# /etc/profile.d/site.sh: read by every root login shell\nexport SITE=1\n"
PAYLOAD = "$(touch${IFS}/tmp/dropcap-pwned)"
AGENT = "$(touch /tmp/dropcap-pwned) `touch /tmp/dropcap-pwned`"


@pytest.fixture
def log_env(need_root, unpriv_user, world_tmp, docroot, dropcap_bin):
    """A log directory owned by the run user, and a root-owned 0644 file outside it."""

    class Env:
        pass

    e = Env()
    e.user, e.root = unpriv_user, docroot
    e.logdir = os.path.join(world_tmp, "log")
    os.mkdir(e.logdir, 0o755)
    os.chown(e.logdir, unpriv_user[1], unpriv_user[2])
    e.log = os.path.join(e.logdir, "access.log")
    e.profile = os.path.join(world_tmp, "root-profile.sh")
    with open(e.profile, "wb") as f:
        f.write(PROFILE)
    os.chmod(e.profile, 0o644)
    e.port = dc.free_port()
    e.args = ["--root", docroot, "--https", "off", "--http", f"127.0.0.1:{e.port}",
              "--user", unpriv_user[0], "--access-log", e.log]
    return e


def attack(port):
    """The request whose log line would run commands in a shell that reads the file."""
    with dc.HttpConn("127.0.0.1", port) as c:
        c.request("GET", "/" + PAYLOAD, headers={"User-Agent": AGENT})


def wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not pred() and time.monotonic() < deadline:
        time.sleep(0.05)
    return pred()


def test_planted_symlink_to_a_root_file_is_refused(log_env):
    """The attack: access.log -> a root-owned file. dropcap must not write it; it refuses to
    start, naming the symlink."""
    e = log_env
    os.symlink(e.profile, e.log)
    os.lchown(e.log, e.user[1], e.user[2])  # planted by the run user
    s = dc.Server(e.args)
    try:
        try:
            s.start()
        except dc.ServerError:
            pass  # it refused to start: what the fix does
        else:
            attack(e.port)  # the old code served: the line goes where the symlink points
            time.sleep(0.5)
    finally:
        problems = dc.stop_and_check([s])
    with open(e.profile, "rb") as f:
        assert f.read() == PROFILE, "the root-owned file was written through the symlink"
    assert s.proc.returncode == 1, (problems, s.stderr_text())
    assert "is a symbolic link: refusing to follow it" in s.stderr_text()
    assert "serving" not in s.stderr_text()


def test_log_file_is_created_by_the_run_user(log_env, make_server):
    e = log_env
    make_server(e.args)
    attack(e.port)
    assert wait_for(lambda: os.path.exists(e.log) and os.path.getsize(e.log) > 0)
    st = os.stat(e.log)
    assert (st.st_uid, st.st_gid) == (e.user[1], e.user[2])
    assert oct(st.st_mode & 0o777) == oct(0o640)
    line = open(e.log).read()
    assert PAYLOAD in line and "\"GET /" in line  # logged as sent (escaping is for quotes)


def test_root_owned_log_directory_is_refused_with_the_fix(log_env):
    """A directory the run user cannot write: exit 1 naming the chown that fixes it (dropcap
    never falls back to creating the file as root)."""
    e = log_env
    os.chown(e.logdir, 0, 0)
    rc, err = dc.Server(e.args).run_to_exit()
    assert rc == 1, err
    assert f"chown {e.user[0]} {e.logdir}" in err
    assert not os.path.exists(e.log)


def test_sigusr1_does_not_follow_a_symlink_planted_after_start(log_env, make_server):
    """logrotate's step, subverted: the run user swaps access.log for a symlink to a root file
    and SIGUSR1 arrives. The reopen refuses it and keeps the old file."""
    e = log_env
    s = make_server(e.args)
    attack(e.port)
    assert wait_for(lambda: os.path.exists(e.log) and os.path.getsize(e.log) > 0)
    os.rename(e.log, e.log + ".1")
    os.symlink(e.profile, e.log)
    os.lchown(e.log, e.user[1], e.user[2])
    s.signal(signal.SIGUSR1)
    assert wait_for(lambda: "SIGUSR1" in s.stderr_text()), s.stderr_text()
    attack(e.port)
    assert wait_for(lambda: open(e.log + ".1").read().count("\n") == 2)
    with open(e.profile, "rb") as f:
        assert f.read() == PROFILE
    assert "is a symbolic link: refusing to follow it" in s.stderr_text()
