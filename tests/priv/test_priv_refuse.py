"""Privilege lifecycle, the traps: when the unprivileged user dropcap-test cannot get port 443 in
a fresh network namespace, dropcap exits 1 with one line that names the cause and the fix, and
`dropcap doctor` finds the same cause without binding anything.
"""

import subprocess

import pytest

import dropcap_fixture as dc


def serve_args(docroot, tls):
    return ["--root", docroot, "--https", ":443", "--http", ":80",
            "--cert", tls.ec_cert, "--key", tls.ec_key]


@pytest.fixture
def args(docroot, tls_files, dropcap_bin):
    return serve_args(docroot, tls_files)


def run_to_exit(args, binary, user, netns, wrapper=()):
    s = dc.Server(args, binary=binary, user=user, netns=netns, wrapper=wrapper)
    rc, err = s.run_to_exit()
    return rc, err, s.stdout_text()


def test_no_capability_fails_cleanly(args, netns, unpriv_user, world_tmp):
    binary = dc.cap_binary(world_tmp, "")
    rc, err, _ = run_to_exit(args, binary, unpriv_user, netns)
    assert rc == 1, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0] == (
        "dropcap: cannot listen on :443: permission denied. This binary has no "
        "cap_net_bind_service (copying or rewriting a file drops its capabilities). "
        f"Fix: sudo dropcap-setcap {binary} — or run 'dropcap doctor'.")


def test_no_new_privs_is_named(args, netns, unpriv_user, world_tmp):
    """setpriv --no-new-privs (systemd NoNewPrivileges=yes): the kernel ignores the file
    capability without a word; dropcap must say so."""
    binary = dc.cap_binary(world_tmp, "cap_net_bind_service,cap_setpcap=p")
    rc, err, _ = run_to_exit(args, binary, unpriv_user, netns,
                             wrapper=["setpriv", "--no-new-privs", "--"])
    assert rc == 1, err
    assert err.startswith("dropcap: cannot listen on :443: permission denied. no_new_privs "
                          "was already set when dropcap started"), err
    assert binary in err and "dropcap doctor" in err


def test_bounding_set_without_the_capability_is_named(args, netns, unpriv_user, world_tmp):
    """docker --cap-drop ALL, CapabilityBoundingSet=: a =p file still starts and explains."""
    binary = dc.cap_binary(world_tmp, "cap_net_bind_service,cap_setpcap=p")
    _, uid, gid = unpriv_user
    wrapper = ["setpriv", "--reuid", str(uid), "--regid", str(gid), "--clear-groups",
               "--bounding-set", "-net_bind_service", "--"]  # as root: bounding needs privilege
    rc, err, _ = run_to_exit(args, binary, None, netns, wrapper=wrapper)
    assert rc == 1, err
    assert "bounding set lacks cap_net_bind_service" in err, err


def test_cp_copy_loses_capability_and_doctor_says_so(args, netns, unpriv_user, world_tmp):
    good = dc.cap_binary(world_tmp, "cap_net_bind_service,cap_setpcap=p")
    copy = good + "-copy"
    subprocess.run(["cp", good, copy], check=True)
    assert subprocess.run(["getcap", copy], capture_output=True, text=True).stdout == ""

    rc, _, out = run_to_exit(["doctor"] + args, good, unpriv_user, netns)
    assert rc == 0, out
    assert "listener https :443: ok: file capability" in out
    assert "listener http :80: ok: file capability" in out

    rc, _, out = run_to_exit(["doctor"] + args, copy, unpriv_user, netns)
    assert rc == 1, out
    assert "binary capabilities: none" in out
    assert "This binary has no cap_net_bind_service" in out
    assert f"Fix: sudo dropcap-setcap {copy}." in out
    assert "listener https :443: NO" in out and "listener http :80: NO" in out
    assert "result: 2 of 2 listeners cannot be acquired here" in out


def test_doctor_checks_key_readable_by_run_user(docroot, tls_files, netns, unpriv_user,
                                                world_tmp):
    """A key only root may read: doctor names the component that stops the run user."""
    binary = dc.cap_binary(world_tmp, "cap_net_bind_service,cap_setpcap=p")
    key = dc.world_tmpdir("dropcap-key-") + "/private.key"
    subprocess.run(["cp", tls_files.ec_key, key], check=True)
    subprocess.run(["chmod", "0600", key], check=True)
    args = ["--root", docroot, "--cert", tls_files.ec_cert, "--key", key]
    rc, _, out = run_to_exit(["doctor"] + args, binary, unpriv_user, netns)
    assert rc == 0, out  # the listeners can be acquired; the key is reported, not fatal here
    assert f"certificate {tls_files.ec_cert}: readable by dropcap-test" in out
    assert f"key {key}: NOT readable by dropcap-test: {key} is 0600 root:root" in out
    assert "binary capabilities: cap_setpcap,cap_net_bind_service=p" in out or \
        "binary capabilities: cap_net_bind_service,cap_setpcap=p" in out


def test_doctor_as_root_with_unknown_user_fails(dropcap_bin, need_root, docroot, tls_files):
    """Started as root the server switches to --user: a user that does not exist stops it."""
    args = ["doctor", "--root", docroot, "--cert", tls_files.ec_cert, "--key", tls_files.ec_key,
            "--https", "127.0.0.1:0", "--http", "off", "--user", "no-such-user-dropcap"]
    out = subprocess.run([dropcap_bin] + args, capture_output=True, text=True, timeout=10)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "run user: NO: unknown user 'no-such-user-dropcap'" in out.stdout
    assert "could not switch to the run user" in out.stdout
