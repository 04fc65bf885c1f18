"""Upgrades (SIGUSR2, issue 9) as the unprivileged user dropcap-test, in a network namespace
where 443 and 80 are privileged, under the bounded client loop of tests/upgrade_load.py (about
2,000 requests over HTTPS and HTTP, keep-alive and new connections, a 64 MiB download in
flight across the hand-over): zero failed requests, zero truncated bodies.

1. A binary that has no capability at all (a fresh copy over the path) takes over 443 and 80:
   the new process serves, the old one exits 0 after its drain, the new one has dropped
   everything and is sandboxed (its proof line and /proc), and each generation leaves exactly
   one upgrade helper.
2. A new binary that fails at start: the old process keeps serving and logs why; a second
   SIGUSR2 during an upgrade is refused; a later good upgrade still works.
Also: two upgrades in a row stack nothing; a server started as root with --user upgrades to a
process that is that user from the start; a new binary that hangs is killed after 30 s.
"""

import os
import re
import shutil
import subprocess
import time

import pytest

import dropcap_fixture as dc

# Each test runs with one worker (the main loop alone) and with two (a worker thread beside it).
pytestmark = pytest.mark.parametrize("workers", [1, 2])
import upgrade_load

PROOF = re.compile(r"^dropcap: privileges: (.*)$", re.M)
CAPS = "cap_net_bind_service,cap_setpcap=p"


@pytest.fixture
def env(netns, unpriv_user, tls_files, world_tmp, dropcap_bin):
    class Env:
        pass

    dc.become_subreaper()
    e = Env()
    e.netns, e.user, e.tls = netns, unpriv_user, tls_files
    e.root = dc.make_docroot(dc.world_tmpdir("dropcap-upgrade-root-"))
    e.big = upgrade_load.make_big(e.root)
    e.binary = dc.cap_binary(world_tmp, CAPS)
    e.args = ["--root", e.root, "--https", ":443", "--http", ":80",
              "--cert", tls_files.ec_cert, "--key", tls_files.ec_key]
    return e


def replace_binary(path, source=dc.BIN, mode=0o755):
    """What a deploy does: a new file renamed over the path (a running binary cannot be
    written in place: ETXTBSY). A copy never carries the file capability."""
    tmp = path + ".new"
    shutil.copyfile(source, tmp)
    os.chmod(tmp, mode)
    os.rename(tmp, path)


def write_script(path, text):
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.rename(tmp, path)


def usr2_as(user, pid):
    """kill -USR2 as the run user itself: no privilege is needed to upgrade."""
    _, uid, gid = user
    subprocess.run(["setpriv", "--reuid", str(uid), "--regid", str(gid), "--clear-groups", "--",
                    "kill", "-USR2", str(pid)], check=True, capture_output=True)


def wait_line(server, pattern, timeout=40.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, server.stderr_text(), re.M)
        if m:
            return m
        time.sleep(0.05)
    raise AssertionError(f"no line matching {pattern!r}:\n{server.stderr_text()}")


def hand_over(env, server, load):
    """SIGUSR2 as the run user, the old process's drain with the download in flight, and the
    switch to the new process; returns (old pid, new pid)."""
    old = server.pid
    server.request_upgrade(lambda pid: usr2_as(env.user, pid))
    new = server.upgraded_pid()
    load.go()  # only now may the download finish: it is in flight across the hand-over
    assert server.follow_upgrade(new) == 0, server.stderr_text()
    return old, new


def assert_new_generation(env, server, old, new):
    """The new process is dropcap at the path, unprivileged, sandboxed, with one helper."""
    assert not os.path.exists(f"/proc/{old}")
    assert os.readlink(f"/proc/{new}/exe") == env.binary
    for st in [dc.proc_status(new)] + dc.tasks(new):
        for key in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"):
            assert dc.cap_mask(st[key]) == 0, f"{key} {st[key]}"
        assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2"
        assert st["Uid"].split() == [str(env.user[1])] * 4
    helpers = dc.upgrade_helpers(new)
    assert len(helpers) == 1, helpers
    helper = dc.proc_status(helpers[0])
    assert helper["Seccomp"] == "0" and dc.cap_mask(helper["CapPrm"]) == 0
    assert helper["NoNewPrivs"] == "1"
    assert dc.same_binary_pids(env.binary) == sorted([new, helpers[0]])
    proof = dict(f.split("=", 1) for f in PROOF.findall(server.stderr_text())[-1].split())
    assert proof["caps"] == "none" and proof["bounding"] == "none", proof
    assert proof["no_new_privs"] == "1" and proof["via"] == "inherited", proof
    assert proof["sandbox"] == "landlock+seccomp", proof


def fetch(env, url):
    r = env.netns.run(["curl", "-sS", "--fail", "--max-time", "10", "--cacert", env.tls.ec_cert,
                       "--resolve", "localhost:443:127.0.0.1", url])
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_upgrade_to_a_copy_without_capability(env, make_server):
    server = make_server(env.args, binary=env.binary, user=env.user, netns=env.netns)
    assert "listening on https [::]:443 (bound)" in server.stderr_text()
    with upgrade_load.Load(env.netns, cafile=env.tls.ec_cert, big=env.big) as load:
        load.wait_running()
        replace_binary(env.binary)
        getcap = subprocess.run(["getcap", env.binary], capture_output=True, text=True)
        assert getcap.stdout.strip() == "", getcap.stdout
        old, new = hand_over(env, server, load)
        result = load.result()
    print("load:", result)
    upgrade_load.assert_clean(result)
    text = server.stderr_text()
    assert "listening on https [::]:443 (upgrade)" in text
    assert "listening on http [::]:80 (upgrade)" in text
    assert_new_generation(env, server, old, new)
    assert fetch(env, "https://localhost/hello.txt") == "hello world\n"


def test_failed_upgrade_keeps_serving_then_a_good_one_works(env, make_server):
    server = make_server(env.args, binary=env.binary, user=env.user, netns=env.netns)
    first = server.pid
    with upgrade_load.Load(env.netns, cafile=env.tls.ec_cert, big=env.big) as load:
        load.wait_running()
        # a new binary that fails at start, slowly enough for a second SIGUSR2 to meet it
        write_script(env.binary, "#!/bin/sh\nsleep 2\necho 'new-binary: cannot start' >&2\n"
                                 "exit 3\n")
        usr2_as(env.user, first)
        wait_line(server, r"^dropcap: SIGUSR2: starting ")
        usr2_as(env.user, first)
        wait_line(server, r"SIGUSR2: an upgrade is already in progress; ignored")
        m = wait_line(server, r"^dropcap: warning: upgrade failed: (.*)$")
        assert "exited with status 3 at start" in m.group(1) and "still serving" in m.group(1)
        assert "new-binary: cannot start" in server.stderr_text()  # its own line, same stderr
        assert server.alive() and server.pid == first
        helpers = dc.upgrade_helpers(first)  # the failed child was reaped: one helper left
        assert len(helpers) == 1 and dc.same_binary_pids(env.binary) == sorted([first] + helpers)
        # a binary that cannot be executed at all
        write_script(env.binary, "#!/nonexistent/interpreter\n")
        usr2_as(env.user, first)
        m = wait_line(server, r"upgrade failed: cannot execute .*$")
        assert server.alive()
        # then a good one
        replace_binary(env.binary)
        old, new = hand_over(env, server, load)
        result = load.result()
    print("load:", result)
    upgrade_load.assert_clean(result)
    assert old == first
    assert_new_generation(env, server, old, new)


def test_second_upgrade_stacks_nothing(env, make_server):
    """Two upgrades in a row: each generation starts clean (no inherited seccomp filter or
    Landlock layer: the helper is never sandboxed) and serves with one helper."""
    server = make_server(env.args, binary=env.binary, user=env.user, netns=env.netns)
    for _ in range(2):
        replace_binary(env.binary)
        old = server.pid
        server.request_upgrade()
        new = server.upgraded_pid()
        assert server.follow_upgrade(new) == 0
        assert_new_generation(env, server, old, new)
        assert fetch(env, "https://localhost/hello.txt") == "hello world\n"


def test_upgrade_after_a_root_start_with_user(env, make_server):
    """Started as root with --user: the new process gets the same argv, --user included, but
    starts as that user already (no root, no capability); priv.c then ignores --user and the
    new process serves with nothing to warn about."""
    binary = dc.cap_binary(dc.world_tmpdir("dropcap-bin-"), "")
    server = make_server(env.args + ["--user", env.user[0]], binary=binary, netns=env.netns)
    replace_binary(binary)
    server.request_upgrade()
    new = server.upgraded_pid()
    assert server.follow_upgrade(new) == 0, server.stderr_text()
    st = dc.proc_status(new)
    assert st["Uid"].split() == [str(env.user[1])] * 4 and st["Seccomp"] == "2"
    assert dc.cap_mask(st["CapPrm"]) == 0 and dc.cap_mask(st["CapBnd"]) == 0
    with open(f"/proc/{new}/cmdline") as f:
        assert "--user" in f.read().split("\0")
    assert "warning" not in server.stderr_text(), server.stderr_text()
    assert fetch(env, "https://localhost/hello.txt") == "hello world\n"


def test_new_binary_that_never_gets_ready_is_killed_after_the_time_limit(env, make_server):
    """A new binary that starts but never reports ready (it hangs): after UPGRADE_TIMEOUT
    (30 s) the helper kills it, the old process logs why and keeps serving, and the helper is
    ready for the next upgrade."""
    server = make_server(env.args, binary=env.binary, user=env.user, netns=env.netns)
    first = server.pid
    write_script(env.binary, "#!/bin/sh\nexec sleep 300\n")
    server.request_upgrade()
    started = time.monotonic()
    m = wait_line(server, r"^dropcap: warning: upgrade failed: (.*)$", timeout=45)
    assert 29 <= time.monotonic() - started <= 40, m.group(0)
    assert "timed out after 30 s without reporting ready; killed it" in m.group(1), m.group(0)
    assert server.alive() and server.pid == first
    assert fetch(env, "https://localhost/hello.txt") == "hello world\n"
    helpers = dc.upgrade_helpers(first)
    assert len(helpers) == 1 and dc.upgrade_helpers(helpers[0]) == []  # killed and reaped
    replace_binary(env.binary)
    server.request_upgrade()
    new = server.upgraded_pid()
    assert server.follow_upgrade(new) == 0, server.stderr_text()
    assert_new_generation(env, server, first, new)
