"""make install / uninstall (install/install.mk), for real into a scratch PREFIX and staged with
DESTDIR, and the man page."""

import os

import pytest

from install_common import INSTALL, REPO, assert_caps, file_caps, make, run, setcap_script

pytestmark = pytest.mark.usefixtures("need_root", "dropcap_bin")

UNITS = ("dropcap.service", "dropcap.socket", "dropcap-activated.service")


def test_make_install_applies_the_capability_and_uninstall_removes(world_tmp):
    prefix = os.path.join(world_tmp, "prefix")
    conf = os.path.join(world_tmp, "etc-dropcap")
    r = make("install", f"PREFIX={prefix}", f"CONFDIR={conf}")
    b = os.path.join(prefix, "bin", "dropcap")
    assert_caps(b)
    assert "dropcap-setcap" in r.stdout
    script = os.path.join(prefix, "sbin", "dropcap-setcap")
    assert run([script, "--check", b]).stdout == "ok\n"
    for u in UNITS:
        with open(os.path.join(prefix, "lib", "systemd", "system", u)) as f:
            text = f.read()
        assert "/usr/local/bin/dropcap" not in text
        if "ExecStart=" in text:
            assert f"ExecStart={b} $DROPCAP_OPTS" in text
    assert os.path.isfile(os.path.join(prefix, "share", "man", "man8", "dropcap.8"))
    assert os.path.isfile(os.path.join(conf, "dropcap.env"))
    assert run([b, "--version"]).returncode == 0

    # A second install over it: still the capability (the binary is replaced atomically).
    make("install", f"PREFIX={prefix}", f"CONFDIR={conf}")
    assert_caps(b)

    make("uninstall", f"PREFIX={prefix}", f"CONFDIR={conf}")
    left = [os.path.join(d, f) for d, _, fs in os.walk(prefix) for f in fs]
    assert left == []
    assert os.path.isfile(os.path.join(conf, "dropcap.env"))  # configuration is kept


def test_make_install_with_destdir_stages_without_the_capability(world_tmp):
    dest = os.path.join(world_tmp, "stage")
    r = make("install", f"DESTDIR={dest}", "PREFIX=/usr")
    b = os.path.join(dest, "usr", "bin", "dropcap")
    assert os.path.isfile(b) and file_caps(b) == ""
    assert "DESTDIR is set" in r.stdout and "WITHOUT its file capability" in r.stdout
    with open(os.path.join(dest, "usr", "lib", "systemd", "system", "dropcap.service")) as f:
        assert "ExecStart=/usr/bin/dropcap $DROPCAP_OPTS" in f.read()
    assert os.path.isfile(os.path.join(dest, "etc", "dropcap", "dropcap.env"))
    assert os.access(os.path.join(dest, "usr", "sbin", "dropcap-setcap"), os.X_OK)
    # The staged binary is what a package's postinst then fixes.
    assert setcap_script(b).stdout == "changed\n"


def test_man_page_renders_without_warnings():
    page = os.path.join(INSTALL, "dropcap.8")
    env = {**os.environ, "LC_ALL": "C.UTF-8", "MANWIDTH": "80"}
    r = run(["man", "--warnings", "-l", page], env=env, timeout=60)
    assert r.returncode == 0
    assert r.stderr == "", r.stderr
    for word in ("dropcap-setcap --install", "--check", "NoNewPrivileges=yes", "nosuid",
                 "--listen-fd", "cap_net_bind_service,cap_setpcap=p"):
        assert word in r.stdout, word
    assert os.path.exists(os.path.join(REPO, "Makefile"))
