"""install/dropcap-setcap against real files: apply, idempotence, the atomic --install over a
running server's binary, --check, and every refusal (each must name the problem and the fix)."""

import grp
import os
import subprocess

import pytest

import dropcap_fixture as dc
from install_common import (CAPS, SCRIPT, assert_caps, copy_binary, file_caps, group_exists,
                            has_exact_caps, run, serve_443, setcap_script)

pytestmark = pytest.mark.usefixtures("need_root", "dropcap_bin")


@pytest.fixture
def bindir(world_tmp):
    """A root-owned 0755 directory whose every ancestor only root can change (/tmp is sticky)."""
    d = os.path.join(world_tmp, "bin")
    os.mkdir(d)
    os.chmod(d, 0o755)
    return d


def refused(r, *words):
    """A refusal: exit 1, one message naming the problem, and the fix."""
    assert r.returncode == 1, f"rc={r.returncode}\nstdout={r.stdout}\nstderr={r.stderr}"
    assert r.stdout == ""
    msg = r.stderr.strip()
    assert msg.startswith("dropcap-setcap: "), msg
    assert "Fix: " in msg, msg
    for w in words:
        assert w in msg, f"{w!r} not in: {msg}"
    return msg


def test_apply_is_idempotent_and_verified(bindir):
    b = copy_binary(bindir)
    assert file_caps(b) == ""
    r = setcap_script(b)
    assert (r.returncode, r.stdout, r.stderr) == (0, "changed\n", "")
    assert_caps(b)
    r = setcap_script(b)
    assert (r.returncode, r.stdout, r.stderr) == (0, "ok\n", "")
    r = setcap_script("--check", b)
    assert (r.returncode, r.stdout) == (0, "ok\n")


def test_apply_replaces_a_wrong_capability_set(bindir):
    """The common guide's cap_net_bind_service=+ep is not what dropcap wants: replaced, exactly."""
    b = copy_binary(bindir)
    run(["setcap", "cap_net_bind_service=+ep", b], check=True)
    assert setcap_script("--check", b).returncode == 1
    assert setcap_script(b).stdout == "changed\n"
    assert_caps(b)


def test_check_fails_on_a_cp_copy(bindir, world_tmp):
    b = copy_binary(bindir)
    assert setcap_script(b).returncode == 0
    copy = os.path.join(bindir, "copy")
    run(["cp", b, copy], check=True)  # cp never carries the xattr
    r = setcap_script("--check", copy)
    msg = refused(r, "lacks the file capability", CAPS, f"Fix: sudo dropcap-setcap {copy}")
    assert "has: none" in msg
    assert file_caps(copy) == ""  # --check changes nothing


def test_check_needs_no_root(bindir, unpriv_user):
    b = copy_binary(bindir)
    assert setcap_script(b).returncode == 0
    r = setcap_script("--check", b, user=unpriv_user)
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr


def test_install_sets_owner_and_mode(bindir):
    """root:dropcap 0750 when a dropcap group exists, else root:root 0755; a second run is ok."""
    dest = os.path.join(bindir, "dropcap")
    r = setcap_script("--install", dc.BIN, dest)
    assert (r.returncode, r.stdout, r.stderr) == (0, "changed\n", "")
    assert_caps(dest)
    want = ("dropcap", 0o750) if group_exists("dropcap") else ("root", 0o755)
    st = os.stat(dest)
    assert (st.st_uid, grp.getgrgid(st.st_gid).gr_name, st.st_mode & 0o7777) == (0, *want)
    assert setcap_script("--install", dc.BIN, dest).stdout == "ok\n"
    os.chmod(dest, 0o755 if want[1] == 0o750 else 0o750)  # wrong mode: installed again
    assert setcap_script("--install", dc.BIN, dest).stdout == "changed\n"
    assert os.stat(dest).st_mode & 0o7777 == want[1]
    assert_caps(dest)


def test_install_over_a_running_servers_binary(bindir, world_tmp, unpriv_user, tls_files,
                                               docroot):
    dest = os.path.join(bindir, "dropcap")
    group = grp.getgrgid(unpriv_user[2]).gr_name  # only root and this group may execute it
    r = setcap_script("--install", "--group", group, dc.BIN, dest)
    assert (r.returncode, r.stdout, r.stderr) == (0, "changed\n", "")
    st = os.stat(dest)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, unpriv_user[2], 0o750)

    newer = copy_binary(world_tmp, "newer", extra=b"\0newer build\0")
    args = ["--root", docroot, "--https", ":443", "--http", "off",
            "--cert", tls_files.ec_cert, "--key", tls_files.ec_key]
    with dc.Netns() as ns:
        with dc.Server(args, binary=dest, user=unpriv_user, netns=ns) as old:
            old_inode = os.stat(dest).st_ino
            r = setcap_script("--install", "--group", group, newer, dest)
            assert (r.returncode, r.stdout, r.stderr) == (0, "changed\n", "")
            # The running server keeps its inode and goes on serving.
            assert old.alive()
            assert os.readlink(f"/proc/{old.pid}/exe").endswith(" (deleted)")
            page = ns.run(["curl", "-sSk", "--max-time", "5", "https://127.0.0.1/"])
            assert page.returncode == 0, page.stderr
            assert page.stdout == dc.DOCROOT_FILES["index.html"].decode()
            assert old.stop() == 0
    assert os.stat(dest).st_ino != old_inode
    with open(dest, "rb") as a, open(newer, "rb") as b:
        assert a.read() == b.read()
    assert_caps(dest)
    assert not [f for f in os.listdir(bindir) if f.startswith(".dropcap-setcap.")]
    # The new binary, started fresh, binds 443 and 80 through the capability --install gave it.
    serve_443(dest, unpriv_user, tls_files, docroot)


def test_install_never_leaves_dest_without_the_capability(bindir, world_tmp):
    """Watch DEST while --install replaces it: every inode ever seen there has the capability."""
    dest = os.path.join(bindir, "dropcap")
    assert setcap_script("--install", dc.BIN, dest).returncode == 0
    newer = copy_binary(world_tmp, "newer", extra=b"\0v2\0")
    proc = subprocess.Popen([SCRIPT, "--install", newer, dest], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    while proc.poll() is None:
        try:
            before = os.stat(dest).st_ino
            ok = has_exact_caps(dest)
            after = os.stat(dest).st_ino
        except FileNotFoundError:
            pytest.fail("DEST disappeared during --install")
        assert ok or before != after, "DEST existed without its capability"
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out) == (0, "changed\n"), err
    assert_caps(dest)


def test_refuses_a_parent_directory_others_can_write(bindir):
    b = copy_binary(bindir)
    os.chmod(bindir, 0o777)
    msg = refused(setcap_script(b), "writable by users other than root", bindir, "chmod go-w")
    assert "grant themselves the port" in msg
    assert file_caps(b) == ""


def test_refuses_a_group_writable_binary(bindir):
    b = copy_binary(bindir)
    os.chmod(b, 0o775)
    refused(setcap_script(b), "writable by users other than root", f"chmod go-w {b}")
    assert file_caps(b) == ""


def test_refuses_a_binary_not_owned_by_root(bindir, unpriv_user):
    b = copy_binary(bindir)
    os.chown(b, unpriv_user[1], unpriv_user[2])
    refused(setcap_script(b), f"owned by uid {unpriv_user[1]} ({unpriv_user[0]})",
            f"chown root:root {b}")
    assert file_caps(b) == ""


def test_refuses_a_directory_not_owned_by_root(bindir, unpriv_user):
    b = copy_binary(bindir)
    os.chown(bindir, unpriv_user[1], unpriv_user[2])
    refused(setcap_script(b), f"directory {bindir} is owned by uid {unpriv_user[1]}",
            f"chown root:root {bindir}")
    assert file_caps(b) == ""


def test_refuses_install_into_a_directory_others_can_write(bindir):
    os.chmod(bindir, 0o777)
    dest = os.path.join(bindir, "dropcap")
    refused(setcap_script("--install", dc.BIN, dest), "writable by users other than root")
    assert os.listdir(bindir) == []


def _in_private_mount_ns(shell):
    """Runs a shell snippet in a private mount namespace: mounts made there vanish with it."""
    return run(["unshare", "--mount", "--propagation", "private", "sh", "-euc", shell],
               timeout=30)


def test_refuses_a_nosuid_mount(bindir):
    r = _in_private_mount_ns(
        f'mount -t tmpfs -o nosuid,mode=0755 dropcap-test "{bindir}"\n'
        f'cp "{dc.BIN}" "{bindir}/dropcap"\n'
        f'exec "{SCRIPT}" "{bindir}/dropcap"')
    refused(r, "nosuid", "the kernel ignores file capabilities there")


def test_check_reports_a_capability_that_a_nosuid_mount_ignores(bindir):
    """The capability is on the file, but would not take effect: --check must fail."""
    r = _in_private_mount_ns(
        f'mount -t tmpfs -o nosuid,mode=0755 dropcap-test "{bindir}"\n'
        f'cp "{dc.BIN}" "{bindir}/dropcap"\n'
        f'setcap {CAPS} "{bindir}/dropcap"\n'
        f'exec "{SCRIPT}" --check "{bindir}/dropcap"')
    refused(r, "nosuid")


def test_refuses_a_file_system_without_xattrs(bindir):
    r = _in_private_mount_ns(
        f'mount -t ramfs dropcap-test "{bindir}"\n'
        f'chmod 0755 "{bindir}"\n'
        f'cp "{dc.BIN}" "{bindir}/dropcap"\n'
        f'exec "{SCRIPT}" "{bindir}/dropcap"')
    refused(r, "ramfs", "extended attributes")


def test_refuses_a_file_that_is_not_elf(bindir):
    script = os.path.join(bindir, "dropcap.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nexec /usr/local/bin/dropcap \"$@\"\n")
    os.chmod(script, 0o755)
    refused(setcap_script(script), "not an ELF executable")
    assert file_caps(script) == ""
    refused(setcap_script("--install", script, os.path.join(bindir, "x")), "not an ELF")


def test_refuses_when_not_root(bindir, unpriv_user):
    b = copy_binary(bindir)
    r = setcap_script(b, user=unpriv_user)
    refused(r, "must run as root", f"running as {unpriv_user[0]}", f"Fix: sudo dropcap-setcap {b}")
    r = setcap_script("--install", dc.BIN, os.path.join(bindir, "x"), user=unpriv_user)
    refused(r, "must run as root")
    assert file_caps(b) == ""


def test_refuses_when_setcap_is_missing(bindir):
    """setcap lives in /usr/sbin (libcap2-bin); hide it behind an empty tmpfs."""
    b = copy_binary(bindir)
    r = _in_private_mount_ns(f'mount -t tmpfs dropcap-test /usr/sbin\nexec "{SCRIPT}" "{b}"')
    refused(r, "setcap not found", "apt-get install libcap2-bin")


def test_refuses_a_missing_file_and_a_directory_as_dest(bindir):
    refused(setcap_script(os.path.join(bindir, "nope")), "does not exist")
    refused(setcap_script("--install", dc.BIN, bindir), "is a directory")
    refused(setcap_script("--install", "--group", "no-such-group-x", dc.BIN,
                          os.path.join(bindir, "d")), "group no-such-group-x does not exist")


def test_usage_errors_exit_2():
    for args in ([], ["--bogus"], ["--check"], ["--install", "only-one"], ["a", "b"]):
        r = setcap_script(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert "usage:" in r.stderr
    r = setcap_script("--help")
    assert r.returncode == 0 and "--install" in r.stdout
