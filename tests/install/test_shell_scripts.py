"""shellcheck on every shell script of the repository: install/, scripts/, .ci/."""

import os

from install_common import REPO, run

SHELLS = ("sh", "bash", "dash")


def shell_scripts():
    found = []
    for top in ("install", "scripts", ".ci"):
        for root, _, files in os.walk(os.path.join(REPO, top)):
            for name in files:
                path = os.path.join(root, name)
                if os.path.islink(path):
                    continue  # the cookbook's and role's copies point at install/dropcap-setcap
                with open(path, "rb") as f:
                    first = f.readline()
                interp = first[2:].decode(errors="replace").split() if first.startswith(b"#!") else []
                if interp and interp[0] == "/usr/bin/env":
                    interp = interp[1:]
                if (interp and os.path.basename(interp[0]) in SHELLS) or name.endswith(".sh"):
                    found.append(path)
    return sorted(found)


def test_every_shell_script_is_shellcheck_clean():
    scripts = shell_scripts()
    rel = {os.path.relpath(p, REPO) for p in scripts}
    assert {"install/dropcap-setcap", ".ci/run", "install/debian/postinst",
            "install/debian/build-deb", "install/rpm/build-rpm"} <= rel, rel
    r = run(["shellcheck", "-x", *scripts], timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr
