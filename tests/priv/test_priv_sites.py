"""Two sites, as the unprivileged user dropcap-test in a fresh network namespace, with the
sandbox on: the file capability binds 443 and 80, each site's files and certificate are served
by name, the Landlock rules cover every site's root and certificate directory (and nothing
between them: a file beside both roots is refused), and SIGHUP reloads each site's certificate
as the run user inside the sandbox."""

import os
import re
import shutil
import signal
import time

import pytest

import dropcap_fixture as dc

PROOF = re.compile(r"^dropcap: privileges: (.*)$", re.M)


def make_cert(directory, name):
    os.makedirs(directory, mode=0o755)
    os.chmod(directory, 0o755)
    crt, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    dc.self_signed(crt, key, name, [name])
    return crt, key


class TwoSites:
    """www.example.test and docs.example.test: roots and certificate directories side by side,
    and a readable file beside them that no rule covers."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.root, self.cert = {}, {}
        for name in ("www", "docs"):
            root = os.path.join(tmp, "roots", name)
            os.makedirs(root, mode=0o755)
            os.chmod(os.path.dirname(root), 0o755)
            os.chmod(root, 0o755)
            with open(os.path.join(root, "who.txt"), "w") as f:
                f.write(f"site {name}\n")
            os.chmod(os.path.join(root, "who.txt"), 0o644)
            self.root[name] = root
            self.cert[name] = make_cert(os.path.join(tmp, "tls-" + name), f"{name}.example.test")
        self.outside = os.path.join(tmp, "roots", "beside.txt")
        with open(self.outside, "w") as f:
            f.write("no site's\n")
        os.chmod(self.outside, 0o644)

    def args(self, https=":443", http=":80"):
        return ["--https", https, "--http", http,
                "--site", "www.example.test", "--root", self.root["www"],
                "--cert", self.cert["www"][0], "--key", self.cert["www"][1],
                "--site", "docs.example.test", "--root", self.root["docs"],
                "--cert", self.cert["docs"][0], "--key", self.cert["docs"][1]]


@pytest.fixture
def sites(world_tmp, unpriv_user):
    return TwoSites(world_tmp)


def curl(netns, name, scheme, cacert):
    port = 443 if scheme == "https" else 80
    r = netns.run(["curl", "-sS", "--fail", "--max-time", "10", "--cacert", cacert, "--resolve",
                   f"{name}:{port}:127.0.0.1", f"{scheme}://{name}/who.txt"])
    assert r.returncode == 0, f"{name} {scheme}: {r.stderr}"
    return r.stdout


def test_two_sites_serve_as_the_unprivileged_user_with_the_sandbox_on(netns, unpriv_user, sites,
                                                                       make_server, dropcap_bin):
    binary = dc.cap_binary(sites.tmp, "cap_net_bind_service,cap_setpcap=p")
    s = make_server(sites.args(), binary=binary, user=unpriv_user, netns=netns)
    proof = dict(f.split("=", 1) for f in PROOF.findall(s.stderr_text())[0].split())
    assert proof["uid"] == str(unpriv_user[1]) and proof["caps"] == "none"
    assert proof["sandbox"] == "landlock+seccomp"
    for name in ("www", "docs"):
        for scheme in ("https", "http"):
            assert curl(netns, f"{name}.example.test", scheme, sites.cert[name][0]) == \
                f"site {name}\n"
    # SIGHUP: each site's files read again as dropcap-test, inside the sandbox
    before = len(s.stderr_lines())
    s.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    lines = []
    while time.monotonic() < deadline and len(lines) < 2:
        lines = [ln for ln in s.stderr_lines()[before:] if "SIGHUP:" in ln]
        time.sleep(0.02)
    assert len(lines) == 2 and all("SIGHUP: reloaded" in ln for ln in lines), s.stderr_text()
    assert any("for site docs.example.test" in ln for ln in lines)
    assert curl(netns, "docs.example.test", "https", sites.cert["docs"][0]) == "site docs\n"


def test_landlock_covers_every_site_and_nothing_beside(netns, unpriv_user, sites, make_server):
    """The second site's root and certificate directory open under the sandbox; a file beside
    both roots (readable by the run user) does not; with --no-sandbox all of them open."""
    if not os.path.exists(dc.SAN_BIN):
        pytest.skip(f"{dc.SAN_BIN} not built (make build/san/dropcap)")
    binary = dc.cap_binary(sites.tmp, "", source=dc.SAN_BIN)
    want = {
        os.path.join(sites.root["www"], "who.txt"): "opened",
        os.path.join(sites.root["docs"], "who.txt"): "opened",
        sites.cert["docs"][0]: "opened",
        sites.cert["www"][1]: "opened",
        sites.outside: "Permission denied",
        "/etc/passwd": "Permission denied",
    }
    env = {"DROPCAP_TEST_OPEN": ":".join(want)}
    args = sites.args("127.0.0.1:8443", "127.0.0.1:8080")
    on = make_server(args, binary=binary, user=unpriv_user, netns=netns, env=env)
    got = dict(re.findall(r"^dropcap: test: open (\S+): (.*)$", on.stderr_text(), re.M))
    assert got == want
    assert on.stop() == 0
    off = make_server(args + ["--no-sandbox"], binary=binary, user=unpriv_user, netns=netns,
                      env=env)
    got = dict(re.findall(r"^dropcap: test: open (\S+): (.*)$", off.stderr_text(), re.M))
    assert got == {p: "opened" for p in want}
    shutil.rmtree(os.path.dirname(binary), ignore_errors=True)
