"""install/systemd: systemd-analyze verify accepts the units, and dropcap.service keeps every
option that would set no_new_privs (and so silently void the file capability) out."""

import os
import re
import subprocess

import pytest

from install_common import INSTALL, run

import dropcap_fixture as dc

UNITS = ("dropcap.service", "dropcap.socket", "dropcap-activated.service")
SYSTEMD = os.path.join(INSTALL, "systemd")

# systemd.exec(5), systemd 252: these set no_new_privs for a unit with a non-root User=.
IMPLY_NNP = ("NoNewPrivileges", "DynamicUser", "LockPersonality", "MemoryDenyWriteExecute",
             "PrivateDevices", "ProtectClock", "ProtectHostname", "ProtectKernelLogs",
             "ProtectKernelModules", "ProtectKernelTunables", "RestrictAddressFamilies",
             "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID",
             "SystemCallArchitectures", "SystemCallFilter", "SystemCallLog")


def settings(unit):
    """{key: [values]} of the unit's directives (comments skipped)."""
    out = {}
    with open(os.path.join(SYSTEMD, unit)) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;[":
                continue
            k, _, v = line.partition("=")
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def test_systemd_analyze_verify(world_tmp, dropcap_bin):
    """The units as installed (ExecStart pointing at a real binary) verify without a word."""
    for u in UNITS:
        with open(os.path.join(SYSTEMD, u)) as f:
            text = f.read().replace("/usr/local/bin/dropcap", dropcap_bin)
        with open(os.path.join(world_tmp, u), "w") as f:
            f.write(text)
    r = run(["systemd-analyze", "verify", "--man=no", *UNITS], cwd=world_tmp, timeout=60)
    assert r.returncode == 0, r.stderr
    ours = [ln for ln in (r.stdout + r.stderr).splitlines() if "dropcap" in ln]
    assert ours == [], "\n".join(ours)


def test_verify_catches_a_broken_unit(world_tmp):
    """The check above is not vacuous: a unit whose binary does not exist fails verification."""
    with open(os.path.join(SYSTEMD, "dropcap.service")) as f:
        text = f.read().replace("/usr/local/bin/dropcap", "/nonexistent/dropcap")
    with open(os.path.join(world_tmp, "dropcap.service"), "w") as f:
        f.write(text)
    r = run(["systemd-analyze", "verify", "--man=no", "dropcap.service"], cwd=world_tmp, timeout=60)
    assert r.returncode != 0 and "/nonexistent/dropcap" in r.stderr


def test_file_capability_unit_avoids_no_new_privs():
    s = settings("dropcap.service")
    present = [k for k in IMPLY_NNP if k in s]
    assert present == [], f"dropcap.service sets {present}: the file capability would be ignored"
    assert s["User"] == ["dropcap"] and s["Group"] == ["dropcap"]
    assert set(s["CapabilityBoundingSet"][0].split()) == {"CAP_NET_BIND_SERVICE", "CAP_SETPCAP"}
    assert s["AmbientCapabilities"] == [""]
    assert re.match(r"/usr/local/bin/dropcap \$DROPCAP_OPTS$", s["ExecStart"][0])
    with open(os.path.join(SYSTEMD, "dropcap.service")) as f:
        text = f.read()
    assert "AmbientCapabilities" in text and "no_new_privs" in text  # the choice is explained


def test_socket_activated_unit_is_fully_sandboxed():
    sock = settings("dropcap.socket")
    assert sock["ListenStream"] == ["443", "80"]  # dropcap takes unnamed sockets as https, http
    assert sock["Service"] == ["dropcap-activated.service"]
    assert "FileDescriptorName" not in sock
    svc = settings("dropcap-activated.service")
    assert svc["NoNewPrivileges"] == ["yes"]
    assert svc["CapabilityBoundingSet"] == [""] and svc["AmbientCapabilities"] == [""]
    assert "SystemCallFilter" in svc and "RestrictAddressFamilies" in svc
    # systemd turns RestrictSUIDSGID=yes into openat2() -> ENOSYS: every file request a 500
    # (found under systemd as PID 1, test_systemd_nspawn.py)
    assert "RestrictSUIDSGID" not in svc


def test_units_are_type_notify():
    """READY=1 makes them active; NotifyAccess=all lets the process an upgrade starts speak."""
    for unit in ("dropcap.service", "dropcap-activated.service"):
        s = settings(unit)
        assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["all"], unit


def test_env_file_gives_the_options():
    with open(os.path.join(SYSTEMD, "dropcap.env")) as f:
        lines = [ln for ln in f if ln.startswith("DROPCAP_OPTS=")]
    assert len(lines) == 1 and "--root " in lines[0] and "--cert " in lines[0]


@pytest.mark.usefixtures("need_root")
def test_socket_activated_unit_command_serves_without_any_capability(netns, unpriv_user, tls_files,
                                                                     docroot, world_tmp):
    """What dropcap.socket + dropcap-activated.service do, with systemd-socket-activate: root
    binds 443 then 80, unnamed, and hands them to a binary without any capability, run as an
    ordinary user."""
    b = dc.cap_binary(world_tmp, "")
    args = ["--root", docroot, "--cert", tls_files.ec_cert, "--key", tls_files.ec_key]
    _, uid, gid = unpriv_user
    wrapper = ["systemd-socket-activate", "-l", "443", "-l", "80", "--",
               "setpriv", "--reuid", str(uid), "--regid", str(gid), "--clear-groups", "--"]
    s = dc.Server(args, binary=b, netns=netns, wrapper=wrapper)
    # dropcap starts on the first connection: that curl runs while start() waits for it.
    first = subprocess.Popen(netns.exec(["curl", "-sSk", "--retry", "50", "--retry-connrefused",
                                         "--retry-delay", "0", "--max-time", "10",
                                         "https://127.0.0.1/"]),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        s.start()
        https_out, https_err = first.communicate(timeout=20)
        http = netns.run(["curl", "-sS", "--max-time", "5", "http://127.0.0.1/"])
        status = dc.proc_status(s.pid)
    finally:
        if first.poll() is None:
            first.kill()
        rc = s.stop()
    err = s.stderr_text()
    assert first.returncode == 0, https_err + err
    assert http.returncode == 0, http.stderr + err
    assert https_out == http.stdout == dc.DOCROOT_FILES["index.html"].decode()
    assert "listening on https [::]:443 (socket-activation)" in err, err
    assert "listening on http [::]:80 (socket-activation)" in err, err
    assert status["Uid"].split()[0] == str(uid)
    assert rc == 0, err
