"""One portable file: the default build links libev, mbedTLS and libcap in, so build/dropcap needs
only glibc. It is started inside a minimal root (a chroot in a private mount namespace with its
own /proc) that holds the loader, libc, the binary, the site and the TLS files, and nothing
else; as uid 65534 it serves HTTPS and HTTP to curl outside. The shared build (make deb's
binary) fails to start in that same root, so the root really lacks the libraries. Also: scripts/
glibc-needs agrees with the binary and the README, and each package declares what its binary
links (the .deb Depends on Debian's libraries, the .rpm requires only glibc)."""

import os
import re
import shutil

import pytest

import dropcap_fixture as dc
from install_common import REPO, make, run

pytestmark = pytest.mark.usefixtures("dropcap_bin")

# What a glibc binary may still load once the libraries are linked in (ldd's names).
GLIBC_ONLY = {"linux-vdso.so.1", "libc.so.6", "ld-linux-x86-64.so.2"}
LINKED_IN = ("libev", "libmbedtls", "libmbedx509", "libmbedcrypto", "libnghttp2", "libcap")
NOBODY = 65534
SITE = {name: dc.DOCROOT_FILES[name] for name in ("index.html", "hello.txt")}


def linked_shared():
    """True when build/dropcap was linked with make LINK=shared (then it is not portable)."""
    try:
        with open(os.path.join(REPO, "build", "link-mode")) as f:
            mode = f.read().strip()
    except FileNotFoundError:
        return False
    return mode == "shared" and os.path.samefile(dc.BIN, os.path.join(REPO, "build", "dropcap"))


def ldd(binary):
    """{library name: resolved path or ''} as ldd prints them."""
    out = run(["ldd", binary], check=True).stdout
    libs = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+)(?: => (\S+))?", line)
        if m:
            libs[os.path.basename(m.group(1))] = m.group(2) or m.group(1)
    return libs


def interpreter(binary):
    out = run(["readelf", "--program-headers", binary], check=True).stdout
    return re.search(r"Requesting program interpreter: (\S+)\]", out).group(1)


def newest_glibc(binary):
    """The newest GLIBC_x.y among the binary's dynamic symbols (objdump -T), as a version tuple."""
    out = run(["objdump", "-T", binary], check=True).stdout
    versions = {tuple(int(p) for p in v.split(".")) for v in re.findall(r"\bGLIBC_([0-9.]+)\b", out)}
    return max(versions)


def test_ldd_lists_only_libc_the_loader_and_vdso(dropcap_bin):
    if linked_shared():
        pytest.skip("build/dropcap was linked with LINK=shared")
    libs = ldd(dropcap_bin)
    assert "libc.so.6" in libs, libs
    assert set(libs) <= GLIBC_ONLY, f"{dropcap_bin} still loads {set(libs) - GLIBC_ONLY}"
    dyn = run(["readelf", "--dynamic", dropcap_bin], check=True).stdout
    assert re.findall(r"\(NEEDED\)\s+Shared library: \[(\S+)\]", dyn) == ["libc.so.6"]
    # Still a position-independent executable, bound now (the .a files are PIC).
    assert "DYN (Position-Independent Executable file)" in run(
        ["readelf", "--file-header", dropcap_bin], check=True).stdout
    assert re.search(r"FLAGS_1\)\s+Flags: NOW PIE", dyn), dyn
    assert "TEXTREL" not in dyn


def test_glibc_needs_names_the_newest_symbol_version_and_the_readme_says_it(dropcap_bin):
    r = run([os.path.join(REPO, "scripts", "glibc-needs"), "-v", dropcap_bin])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    figure = lines[0]
    assert tuple(int(p) for p in figure.split(".")) == newest_glibc(dropcap_bin)
    assert lines[1:], "glibc-needs -v names no symbol"
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    said = re.findall(r"needs glibc (\d+\.\d+) or later", readme)
    assert said and set(said) == {figure}, f"README says {said}, the binary needs {figure}"


def build_min_root(top, binary, tls_files):
    """top/root: the loader and libc at their paths, /dropcap, /site, /tls, an empty /proc."""
    root = os.path.join(top, "root")
    libc = ldd(binary).get("libc.so.6") or ldd("/bin/true")["libc.so.6"]
    for path in (interpreter(binary), libc):
        dest = root + path
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(os.path.realpath(path), dest)
        os.chmod(dest, 0o755)
    for d in ("site", "tls", "proc"):
        os.makedirs(os.path.join(root, d), mode=0o755)
    for name, data in SITE.items():
        with open(os.path.join(root, "site", name), "wb") as f:
            f.write(data)
    for src, name in ((tls_files.ec_cert, "cert.pem"), (tls_files.ec_key, "key.pem")):
        shutil.copyfile(src, os.path.join(root, "tls", name))
    return root


def put_binary(root, binary, name):
    dest = os.path.join(root, name)
    shutil.copyfile(binary, dest)
    os.chmod(dest, 0o755)
    return dest


def files_under(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


class RootedServer(dc.Server):
    """A dc.Server started in `root`: `unshare --mount --mount-proc` gives it a private /proc
    (read for the privilege proof) in a mount namespace that dies with it, and chroot enters the
    root as uid/gid 65534. `binary` is the copy's path outside (checked to exist); argv names it
    by its path inside. No --pid: unshare --fork would not pass SIGTERM on to the server."""

    def __init__(self, root, binary, args, **kw):
        super().__init__(args, binary=binary, wrapper=[
            "unshare", "--mount", "--propagation", "private", f"--mount-proc={root}/proc",
            "chroot", f"--userspec={NOBODY}:{NOBODY}", f"--groups={NOBODY}", root], **kw)
        self.inner = "/" + os.path.relpath(binary, root)

    @property
    def argv(self):
        return self.wrapper + [self.inner] + self.args


def ports_args():
    http, https = dc.free_port(), dc.free_port()
    return http, https, ["--root", "/site", "--http", f"127.0.0.1:{http}",
                         "--https", f"127.0.0.1:{https}",
                         "--cert", "/tls/cert.pem", "--key", "/tls/key.pem"]


def curl(url, cafile):
    return run(["curl", "-sS", "--max-time", "5", "--cacert", cafile, url], timeout=15)


@pytest.mark.usefixtures("need_root")
def test_serves_from_a_root_that_holds_only_libc(dropcap_bin, tls_files, world_tmp):
    if linked_shared():
        pytest.skip("build/dropcap was linked with LINK=shared")
    root = build_min_root(world_tmp, dropcap_bin, tls_files)
    inside = put_binary(root, dropcap_bin, "dropcap")
    present = files_under(root)
    assert not [f for f in present if os.path.basename(f).startswith(LINKED_IN)], present
    assert [f for f in present if ".so" in f] == sorted(
        os.path.relpath(root + p, root) for p in (interpreter(dropcap_bin),
                                                   ldd(dropcap_bin)["libc.so.6"])), present

    http, https, args = ports_args()
    with RootedServer(root, inside, args) as s:
        assert os.readlink(f"/proc/{s.pid}/root") == root
        with open(f"/proc/{s.pid}/maps") as f:
            mapped = {line.split()[-1] for line in f if "/" in line.split()[-1]}
        r_https = curl(f"https://127.0.0.1:{https}/index.html", tls_files.ec_cert)
        r_http = curl(f"http://127.0.0.1:{http}/hello.txt", tls_files.ec_cert)
        status = dc.proc_status(s.pid)
        rc = s.stop()
    err = s.stderr_text()
    assert rc == 0, f"exit {rc}\n{err}"
    assert r_https.returncode == 0, f"curl https: {r_https.stderr}\nserver:\n{err}"
    assert r_http.returncode == 0, f"curl http: {r_http.stderr}\nserver:\n{err}"
    assert r_https.stdout.encode() == SITE["index.html"]
    assert r_http.stdout.encode() == SITE["hello.txt"]
    assert status["Uid"].split()[0] == str(NOBODY)
    assert re.search(rf"^dropcap: privileges: uid={NOBODY} .*caps=none", err, re.M), err
    # The process mapped its own file, libc and the loader, all from inside the root.
    assert mapped and all(p.startswith(root + "/") for p in mapped), mapped
    assert not [p for p in mapped if os.path.basename(p).startswith(LINKED_IN)], mapped
    # The namespace, and its /proc mount, went away with the server.
    assert not os.path.ismount(os.path.join(root, "proc"))


@pytest.mark.usefixtures("need_root")
def test_the_shared_build_cannot_start_in_that_root(dropcap_bin, tls_files, world_tmp):
    """The negative: the same root and the same start, with make deb's dynamically linked
    binary, fails in the loader. Without it the test above could pass on a host copy of libev."""
    make("build/shared/dropcap")
    shared = os.path.join(REPO, "build", "shared", "dropcap")
    assert "libev.so.4" in ldd(shared)
    root = build_min_root(world_tmp, shared, tls_files)
    inside = put_binary(root, shared, "dropcap")
    _, _, args = ports_args()
    rc, err = RootedServer(root, inside, args).run_to_exit(timeout=10)
    assert rc == 127, f"exit {rc}\n{err}"
    assert re.search(r"error while loading shared libraries: lib(ev|mbed\w+|cap)\.so", err), err
    assert not os.path.ismount(os.path.join(root, "proc"))


def test_packages_declare_what_their_binary_links(dropcap_bin):
    """The .deb (Debian policy: shared libraries) depends on Debian's libraries; the .rpm carries
    the portable build and requires nothing but glibc."""
    deb = os.path.join(REPO, make("deb").stdout.strip().splitlines()[-1])
    depends = run(["dpkg-deb", "-f", deb, "Depends"], check=True).stdout
    for pkg in ("libc6", "libev4", "libmbedtls14", "libmbedx509-1", "libmbedcrypto7", "libcap2 ",
                "libinih1", "libnghttp2-14"):
        assert pkg in depends, depends
    if linked_shared():
        return
    rpm_file = os.path.join(REPO, make("rpm").stdout.strip().splitlines()[-1])
    requires = run(["rpm", "-qpR", rpm_file], check=True).stdout.split("\n")
    sonames = {r.split("(")[0] for r in requires if ".so" in r}
    assert sonames == {"libc.so.6"}, requires
