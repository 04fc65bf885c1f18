"""The .deb (make deb): install, getcap, upgrade to a newer build (dpkg drops the xattr, the
postinst re-applies it), serve 443 as the dropcap user in a fresh netns, purge. The test
installs the package for real and leaves the machine as it found it."""

import os
import stat

import pytest

from install_common import (assert_caps, build_debs, removes_user_afterwards, run, serve_443,
                            setcap_script, user_exists)

pytestmark = pytest.mark.usefixtures("need_root", "dropcap_bin")

BIN = "/usr/bin/dropcap"


def installed_version():
    r = run(["dpkg-query", "-W", "-f", "${Status} ${Version}", "dropcap"])
    if r.returncode != 0 or not r.stdout.startswith("install ok installed"):
        return None
    return r.stdout.split()[-1]


def dpkg(*args):
    r = run(["dpkg", *args], timeout=180, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    assert r.returncode == 0, f"dpkg {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture
def no_dropcap_package():
    r = run(["dpkg-query", "-W", "-f", "${Status}", "dropcap"])
    if r.returncode == 0 and "not-installed" not in r.stdout:
        pytest.skip("a dropcap package is installed on this machine: not touching it")
    with removes_user_afterwards("dropcap"):
        try:
            yield
        finally:
            run(["dpkg", "--purge", "dropcap"], timeout=180)


@pytest.fixture
def debs(world_tmp):
    return build_debs(world_tmp)


def check_installed(version):
    assert installed_version() == version
    st = os.stat(BIN)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o750)
    assert run(["stat", "-c", "%G", BIN]).stdout.strip() == "dropcap"
    assert_caps(BIN)
    r = run(["/usr/sbin/dropcap-setcap", "--check", BIN])
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr
    assert run(["dpkg-statoverride", "--list", BIN]).stdout.split() == ["root", "dropcap",
                                                                        "750", BIN]
    for unit in ("dropcap.service", "dropcap.socket", "dropcap-activated.service"):
        with open(f"/lib/systemd/system/{unit}") as f:
            text = f.read()
        assert "/usr/local/bin" not in text
    return st.st_ino


def test_deb_install_upgrade_serve_purge(no_dropcap_package, debs, tls_files, docroot):
    first, newer = debs
    info = run(["dpkg-deb", "-f", first, "Package", "Depends"], check=True).stdout
    assert "libcap2-bin" in info and "libmbedtls" in info and "libev" in info

    dpkg("-i", first)
    first_version = run(["dpkg-deb", "-f", first, "Version"], check=True).stdout.strip()
    inode = check_installed(first_version)
    assert user_exists("dropcap")
    serve_443(BIN, "dropcap", tls_files, docroot)

    # dpkg unpacks a new inode without the xattr; the postinst must put the capability back.
    dpkg("-i", newer)
    new_inode = check_installed(first_version + "+test1")
    assert new_inode != inode
    err, https, _ = serve_443(BIN, "dropcap", tls_files, docroot)
    assert https.startswith("<!doctype html>")

    # Reinstalling the same version runs configure again: still one capability, still "ok".
    dpkg("-i", newer)
    check_installed(first_version + "+test1")

    dpkg("--purge", "dropcap")
    assert installed_version() is None
    for path in (BIN, "/usr/sbin/dropcap-setcap", "/etc/dropcap",
                 "/lib/systemd/system/dropcap.service"):
        assert not os.path.lexists(path), path
    assert run(["dpkg-statoverride", "--list", BIN]).stdout == ""


def test_postinst_reapplies_a_lost_capability(no_dropcap_package, debs):
    """dpkg-reconfigure-like: a binary rewritten behind dpkg's back gets its capability back."""
    first, _ = debs
    dpkg("-i", first)
    with open(BIN, "rb") as f:
        data = f.read()
    with open(BIN, "wb") as f:  # any write clears the capability
        f.write(data)
    assert setcap_script("--check", BIN).returncode == 1
    r = run(["/var/lib/dpkg/info/dropcap.postinst", "configure", "0.0.1"])
    assert r.returncode == 0, r.stderr
    assert_caps(BIN)
