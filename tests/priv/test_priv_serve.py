"""Privilege lifecycle, the ways that work: dropcap gets 443 and 80 as the unprivileged user
dropcap-test inside a fresh network namespace (where those ports are privileged again), serves a
real HTTPS and HTTP request, and holds no privilege afterwards — in /proc/PID/status, in every
/proc/PID/task/*/status, and in its own proof line, which must agree with /proc.

/proc does not show securebits and nothing else outside the process does without ptrace: they are
checked through the proof line, which priv.c reads back from the kernel (PR_GET_SECUREBITS) after
the drop; every other field of that line is compared with /proc here, so the line is shown to
report what the kernel says rather than what the code meant to do.
"""

import grp
import os
import re
import threading
import time

import pytest

import dropcap_fixture as dc

HELLO = "hello world\n"
PROOF = re.compile(r"^dropcap: privileges: (.*)$", re.M)
WARNING = re.compile(r"^dropcap: warning: .*$", re.M)

# Binds 443 and 80 as root, puts them on fds 3 and 4, then execs the rest of argv.
LISTEN_FD_PARENT = """
import fcntl, os, socket, sys
fds = []
for port in (443, 80):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    fds.append(fcntl.fcntl(s.fileno(), fcntl.F_DUPFD, 100))
    s.close()
for target, fd in zip((3, 4), fds):
    os.dup2(fd, target, inheritable=True)
    os.close(fd)
os.execvp(sys.argv[1], sys.argv[1:])
"""


def serve_args(docroot, tls):
    return ["--root", docroot, "--https", ":443", "--http", ":80",
            "--cert", tls.ec_cert, "--key", tls.ec_key]


def as_user(user, *extra):
    _, uid, gid = user
    return ["setpriv", "--reuid", str(uid), "--regid", str(gid), "--clear-groups", *extra, "--"]


def fetch_both(netns, tls):
    """A real HTTPS request on 443 (certificate verified) and an HTTP request on 80."""
    for url in ("https://localhost/hello.txt", "http://localhost/hello.txt"):
        r = netns.run(["curl", "-sS", "--fail", "--max-time", "10", "--cacert", tls.ec_cert,
                       "--resolve", "localhost:443:127.0.0.1", "--resolve",
                       "localhost:80:127.0.0.1", url])
        assert r.returncode == 0, f"{url}: {r.stderr}"
        assert r.stdout == HELLO


def proof_fields(stderr):
    lines = PROOF.findall(stderr)
    assert len(lines) == 1, f"want exactly one proof line:\n{stderr}"
    return dict(field.split("=", 1) for field in lines[0].split())


def assert_dropped(server, binary, uid, gid, *, bounding_empty, via):
    """Nothing privileged is left in the process or any thread, and the proof line agrees."""
    pid = server.pid
    assert os.readlink(f"/proc/{pid}/exe") == binary
    statuses = [dc.proc_status(pid)] + dc.tasks(pid)
    assert len(statuses) >= 2
    for st in statuses:
        for key in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
            assert dc.cap_mask(st[key]) == 0, f"{key} {st[key]}"
        assert st["NoNewPrivs"] == "1"
        assert st["Uid"].split() == [str(uid)] * 4
        assert st["Gid"].split() == [str(gid)] * 4
        assert st["Groups"] == ""
        if bounding_empty:
            assert dc.cap_mask(st["CapBnd"]) == 0, f"CapBnd {st['CapBnd']}"
        assert st["Seccomp"] == "2"  # the sandbox (tests/priv/test_sandbox.py), every thread
    # Not dumpable: the kernel then gives /proc/PID/fd to root, so the run user cannot ptrace it.
    assert os.stat(f"/proc/{pid}/fd").st_uid == 0

    bnd = dc.cap_mask(statuses[0]["CapBnd"])
    proof = proof_fields(server.stderr_text())
    assert proof["uid"] == str(uid) and proof["gid"] == str(gid)
    assert proof["groups"] == "none" and proof["caps"] == "none"
    assert proof["no_new_privs"] == "1"
    assert proof["bounding"] == ("none" if bnd == 0 else f"0x{bnd:016x}")
    assert proof["securebits"] == ("locked" if bounding_empty else "none")
    assert proof["via"] == via
    assert proof["sandbox"] == "landlock+seccomp"
    return proof


@pytest.fixture
def env(netns, unpriv_user, tls_files, docroot, world_tmp, dropcap_bin):
    class Env:
        pass

    e = Env()
    e.netns, e.user, e.tls, e.root, e.tmp = netns, unpriv_user, tls_files, docroot, world_tmp
    e.args = serve_args(docroot, tls_files)
    return e


def test_file_capability_with_setpcap_drops_everything(env, make_server):
    binary = dc.cap_binary(env.tmp, "cap_net_bind_service,cap_setpcap=p")
    s = make_server(env.args, binary=binary, user=env.user, netns=env.netns)
    fetch_both(env.netns, env.tls)
    assert_dropped(s, binary, env.user[1], env.user[2], bounding_empty=True,
                   via="file-capability")
    assert not WARNING.findall(s.stderr_text())
    assert "listening on https [::]:443 (bound)" in s.stderr_text()


def test_effective_file_capability_serves_and_warns_once(env, make_server):
    binary = dc.cap_binary(env.tmp, "cap_net_bind_service=+ep")
    s = make_server(env.args, binary=binary, user=env.user, netns=env.netns)
    fetch_both(env.netns, env.tls)
    assert_dropped(s, binary, env.user[1], env.user[2], bounding_empty=False,
                   via="file-capability")
    warnings = WARNING.findall(s.stderr_text())
    assert len(warnings) == 1, warnings
    assert "cap_setpcap" in warnings[0] and "no_new_privs" in warnings[0]
    assert "bounding set" in warnings[0]


@pytest.mark.parametrize("caps, empty", [("+net_bind_service", False),
                                         ("+net_bind_service,+setpcap", True)])
def test_ambient_capabilities(env, make_server, caps, empty):
    """What systemd's AmbientCapabilities= does; the binary itself carries nothing."""
    binary = dc.cap_binary(env.tmp, "")
    wrapper = as_user(env.user, "--inh-caps", caps, "--ambient-caps", caps)
    s = make_server(env.args, binary=binary, wrapper=wrapper, netns=env.netns)
    fetch_both(env.netns, env.tls)
    assert_dropped(s, binary, env.user[1], env.user[2], bounding_empty=empty, via="ambient")
    assert len(WARNING.findall(s.stderr_text())) == (0 if empty else 1)


@pytest.mark.parametrize("group", [None, "nogroup"])
def test_started_as_root_switches_user(env, make_server, group):
    binary = dc.cap_binary(env.tmp, "")
    args = env.args + ["--user", env.user[0]] + (["--group", group] if group else [])
    s = make_server(args, binary=binary, netns=env.netns)
    fetch_both(env.netns, env.tls)
    gid = env.user[2] if group is None else grp.getgrnam(group).gr_gid
    assert_dropped(s, binary, env.user[1], gid, bounding_empty=True, via="root")


def test_listen_fd_from_a_root_parent(env, make_server):
    binary = dc.cap_binary(env.tmp, "")
    wrapper = ["python3", "-c", LISTEN_FD_PARENT] + as_user(env.user)
    args = env.args + ["--listen-fd", "3:https", "--listen-fd", "4:http"]
    s = make_server(args, binary=binary, wrapper=wrapper, netns=env.netns)
    fetch_both(env.netns, env.tls)
    assert_dropped(s, binary, env.user[1], env.user[2], bounding_empty=False, via="inherited")
    text = s.stderr_text()
    assert "listening on https 127.0.0.1:443 (listen-fd)" in text
    assert "listening on http 127.0.0.1:80 (listen-fd)" in text
    assert not WARNING.findall(text)  # it never held a capability: nothing it failed to drop


def test_systemd_socket_activation(env):
    """systemd-socket-activate binds as root and starts dropcap at the first connection."""
    binary = dc.cap_binary(env.tmp, "")
    wrapper = ["systemd-socket-activate", "-l", "127.0.0.1:443", "-l", "127.0.0.1:80",
               "--fdname=https:http"] + as_user(env.user)
    s = dc.Server(env.args, binary=binary, wrapper=wrapper, netns=env.netns)
    started = {}

    def start():
        try:
            s.start(timeout=20)
            started["ok"] = True
        except dc.ServerError as e:
            started["error"] = str(e)

    t = threading.Thread(target=start)
    t.start()
    try:
        deadline = time.monotonic() + 10
        while "Listening on 127.0.0.1:80" not in s.stderr_text():  # the launcher's own line
            assert time.monotonic() < deadline, s.stderr_text()
            time.sleep(0.02)
        fetch_both(env.netns, env.tls)  # the first connection launches dropcap
        t.join(25)
        assert started.get("ok"), started.get("error")
        assert_dropped(s, binary, env.user[1], env.user[2], bounding_empty=False,
                       via="inherited")
        assert "listening on https 127.0.0.1:443 (socket-activation)" in s.stderr_text()
    finally:
        t.join(25)
        rc = s.stop()
    assert rc == 0, s.stderr_text()
