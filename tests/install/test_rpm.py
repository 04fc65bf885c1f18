"""The RPM (make rpm, rpmbuild from Debian's rpm package): the capability is stored in the
package header by %caps, rpm sets it on install and upgrade, and rpm -V notices when it is lost.
Installs go into a scratch --root, never into this Debian system."""

import os

import pytest

from install_common import CAP_NAMES, INSTALL, REPO, copy_binary, make, parse_caps, run

pytestmark = pytest.mark.usefixtures("dropcap_bin")


@pytest.fixture(scope="module")
def rpm_file():
    out = make("rpm").stdout.strip().splitlines()[-1]
    path = os.path.join(REPO, out)
    assert os.path.isfile(path), out
    return path


def rpm(*args):
    r = run(["rpm", *args], timeout=120)
    assert r.returncode == 0, f"rpm {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def test_package_header_carries_the_capability(rpm_file):
    caps = {}
    for line in rpm("-qp", "--filecaps", rpm_file).splitlines():
        path, _, text = line.partition("\t")
        caps[path.strip()] = text.strip()
    assert parse_caps(caps["/usr/bin/dropcap"]) == (CAP_NAMES, "p"), caps
    assert [p for p, c in caps.items() if c] == ["/usr/bin/dropcap"]


def test_package_restricts_who_may_execute(rpm_file):
    rows = rpm("-qp", "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]",
               rpm_file).splitlines()
    assert "-rwxr-x--- root dropcap /usr/bin/dropcap" in rows, rows
    assert "-rwxr-xr-x root root /usr/sbin/dropcap-setcap" in rows, rows
    scripts = rpm("-qp", "--scripts", rpm_file)
    assert "useradd -r -g dropcap" in scripts


@pytest.mark.usefixtures("need_root")
def test_rpm_applies_the_capability_on_install_and_upgrade(rpm_file, world_tmp):
    root = os.path.join(world_tmp, "rpmroot")
    os.mkdir(root)
    # --noscripts: the scratch root has no shell or useradd; --nodeps: nor an rpm database of
    # its libraries. File capabilities are set by rpm itself, not by a script.
    rpm("--root", root, "--nodeps", "--noscripts", "-i", rpm_file)
    installed = os.path.join(root, "usr/bin/dropcap")
    assert run(["setcap", "-v", "cap_net_bind_service,cap_setpcap=p", installed]).returncode == 0
    rpm("--root", root, "--nodeps", "-V", "dropcap")

    with open(installed, "rb") as f:
        data = f.read()
    with open(installed, "wb") as f:  # any write clears the capability: rpm -V reports "P"
        f.write(data)
    r = run(["rpm", "--root", root, "--nodeps", "-V", "dropcap"])
    assert r.returncode != 0
    flags = [ln.split()[0] for ln in r.stdout.splitlines() if ln.endswith("/usr/bin/dropcap")]
    assert flags and "P" in flags[0], r.stdout

    # An upgrade to a newer build puts the capability back on the new inode.
    version = rpm("-qp", "--qf", "%{VERSION}", rpm_file).strip()
    newer = run(["sh", os.path.join(INSTALL, "rpm", "build-rpm"),
                 copy_binary(world_tmp, "dropcap"), version + ".1", world_tmp], timeout=120)
    assert newer.returncode == 0, newer.stderr
    rpm("--root", root, "--nodeps", "--noscripts", "-U", newer.stdout.strip().splitlines()[-1])
    assert rpm("--root", root, "-q", "dropcap").strip().startswith(f"dropcap-{version}.1-1.")
    assert run(["setcap", "-v", "cap_net_bind_service,cap_setpcap=p", installed]).returncode == 0
    rpm("--root", root, "--nodeps", "-V", "dropcap")
