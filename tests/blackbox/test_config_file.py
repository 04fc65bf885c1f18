"""The configuration file (--config FILE, INI through libinih) and dropcap check.

Proves that a two-site file serves exactly like the equivalent command line (Host and SNI pick
each site's files and certificate), that each mistake in a file is one start-up error naming
FILE:LINE and the fix (unknown key with a suggestion, bad value, a key given twice, a
server-wide key inside a [site] section, two sites claiming a name, an unknown section, a
missing, unreadable or binary file, a 64 KiB line), that `dropcap check` exits 0 with "ok" or 1
with the error (file and command-line forms, roots and certificate/key pairs checked, nothing
bound), and that SIGHUP re-reads the file and applies it whole or not at all: certificate paths,
header values, HSTS, site names (renamed, added, removed) and roots the sandbox allows apply
live, to new requests and to the next request of a keep-alive connection, while a response in
flight completes with the configuration it started with; a changed server-wide key (listen
address, user, log, limits) or a root the sandbox cannot read is reported as needing an upgrade,
naming the line, and the running configuration stays whole, a certificate change in the same
file included; repeated reloads leak nothing (LeakSanitizer in the sanitizer build) and keep
the RSS flat."""

import os
import signal
import socket
import subprocess
import time

import pytest

import dropcap_fixture as dc


class Files:
    """Two roots (a, b) and a configuration file writer."""

    def __init__(self, base, tls):
        self.base, self.tls = base, tls
        self.root = {}
        for name in ("a", "b"):
            r = os.path.join(base, "root-" + name)
            os.makedirs(r)
            os.chmod(r, 0o755)
            with open(os.path.join(r, "who.txt"), "w") as f:
                f.write(f"site {name}\n")
            os.chmod(os.path.join(r, "who.txt"), 0o644)
            self.root[name] = r
        self.http, self.https = dc.free_port(), dc.free_port()
        self.path = os.path.join(base, "dropcap.conf")

    def text(self, a_cert="ec", http=None):
        cert, key = self.tls[a_cert]
        return (f"# two sites\n"
                f"https = 127.0.0.1:{self.https}\n"
                f"http = 127.0.0.1:{http or self.http}\n"
                f"access-log = off\n"
                f"\n"
                f"[site a.test]\n"
                f"root = {self.root['a']}\n"
                f"cert = {cert}\n"
                f"key = {key}\n"
                f"\n"
                f"[site b.test, *.b.test]\n"
                f"root = {self.root['b']}\n"
                f"cert = {self.tls.rsa_cert}\n"
                f"key = {self.tls.rsa_key}\n")

    def write(self, text, name="dropcap.conf"):
        path = os.path.join(self.base, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        return path

    def args(self, http, https):
        """The same two sites on the command line."""
        return ["--https", f"127.0.0.1:{https}", "--http", f"127.0.0.1:{http}",
                "--access-log", "off",
                "--site", "a.test", "--root", self.root["a"], "--cert", self.tls.ec_cert,
                "--key", self.tls.ec_key,
                "--site", "b.test,*.b.test", "--root", self.root["b"], "--cert",
                self.tls.rsa_cert, "--key", self.tls.rsa_key]


@pytest.fixture
def files(world_tmp, tls_files):
    return Files(world_tmp, tls_files)


def get(port, host, tls=False, sni=None):
    with dc.HttpConn("127.0.0.1", port, tls=tls, server_hostname=sni or host) as c:
        r = c.request("GET", "/who.txt", host=host)
        der = c.sock.getpeercert(binary_form=True) if tls else None
        return r.status, r.body, der


def der(path):
    import ssl
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def run(*args, user=None, timeout=20):
    argv = [dc.BIN] + [str(a) for a in args]
    if user:
        argv = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--"] + argv
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


# --- a two-site file serves like the command line -------------------------------------------


def test_two_site_file_serves_like_the_equivalent_command_line(make_server, files, tls_files):
    files.write(files.text())
    by_file = make_server(["--config", files.path])
    http2, https2 = dc.free_port(), dc.free_port()
    make_server(files.args(http2, https2))
    for host in ("a.test", "b.test", "x.b.test", "unknown.test"):
        from_file = get(files.http, host), get(files.https, host, tls=True)
        from_argv = get(http2, host), get(https2, host, tls=True)
        assert from_file == from_argv, host
    assert get(files.http, "b.test")[1] == b"site b\n"
    assert get(files.https, "x.b.test", tls=True)[2] == der(tls_files.rsa_cert)
    assert get(files.https, "a.test", tls=True)[2] == der(tls_files.ec_cert)
    assert get(files.http, "unknown.test")[1] == b"site a\n"  # the first site is the default
    assert by_file.alive()


# --- each mistake names FILE:LINE and the fix -----------------------------------------------

BAD = [
    ("unknown key", {8: "rot = /srv"},
     ":8: unknown key 'rot' (did you mean 'root'?) in [site a.test]"),
    ("bad value", {2: "max-conns = many"},
     ":2: key 'max-conns' in [global]: --max-conns many: expected a number from 1 to 1000000"),
    ("bad workers", {2: "workers = 0"},
     ":2: key 'workers' in [global]: --workers 0: expected a number from 1 to 256"),
    ("workers in a site", {9: "workers = 2"},
     ":9: 'workers' is server-wide, not per site: move it above the first [site] section"),
    ("bad flag", {9: "default = perhaps"},
     ":9: 'default = perhaps': a flag: write default = true or default = false"),
    ("twice", {9: "root = /srv"}, ":9: 'root' given twice in [site a.test] (first on line 7)"),
    ("server-wide in a site", {9: "user = nobody"},
     ":9: 'user' is server-wide, not per site: move it above the first [site] section"),
    ("duplicate name", {11: "[site b.test,A.test]"},
     ":12: two sites claim the name A.test (--site a.test and --site b.test,A.test): give each "
     "name to one site only"),
    ("unknown section", {11: "[sites b.test]"},
     ":12: unknown section [sites b.test]: a site is [site NAME[,NAME...]]"),
    ("not a key", {5: "just words"},
     ":5: neither 'key = value' nor a [section] line (a comment starts with ; or #)"),
    ("site key", {9: "site = c.test"},
     ":9: 'site' is not a key: open a [site NAME[,NAME...]] section instead"),
    ("empty value", {4: "access-log ="}, ":4: 'access-log' needs a value: access-log = VALUE"),
]


def edit(text, changes):
    lines = text.split("\n")
    for n, line in changes.items():
        lines.insert(n - 1, line) if n == 9 or n == 5 else lines.__setitem__(n - 1, line)
    return "\n".join(lines)


@pytest.mark.parametrize("what,changes,want", BAD, ids=[b[0] for b in BAD])
def test_each_mistake_names_file_line_and_fix(files, what, changes, want):
    path = files.write(edit(files.text(), changes))
    r = run("check", "--config", path)
    assert r.returncode == 1, r
    assert r.stdout == ""
    assert r.stderr.startswith(f"dropcap: {path}{want}"), r.stderr
    started = run("--config", path)  # serving refuses it the same way, before binding
    assert started.returncode == 2 and started.stderr == r.stderr


def test_missing_unreadable_and_directory_files(files):
    missing = os.path.join(files.base, "nope.conf")
    r = run("check", "--config", missing)
    assert (r.returncode, r.stderr.splitlines()[0]) == (
        1, f"dropcap: {missing}: No such file or directory")
    secret = files.write(files.text(), "secret.conf")
    os.chmod(secret, 0o600)
    r = run("check", "--config", secret, user=dc.is_root())
    assert r.returncode == 1 and f"dropcap: {secret}: Permission denied" in r.stderr, r
    r = run("check", "--config", files.base)
    assert r.returncode == 1 and f"{files.base}: not a regular file" in r.stderr


def test_a_64k_line_and_binary_junk_are_clean_errors(files):
    long = files.write("root = /" + "x" * 65536 + "\n", "long.conf")
    r = run("check", "--config", long)
    assert r.returncode == 1
    assert r.stderr.startswith(
        f"dropcap: {long}:1: line longer than 197 characters (libinih's limit): shorten it")
    junk = os.path.join(files.base, "junk.conf")
    with open(junk, "wb") as f:
        f.write(b"root = /srv\n" + bytes(range(256)) * 64)
    r = run("check", "--config", junk)
    assert r.returncode == 1
    assert r.stderr.startswith(f"dropcap: {junk}:2: byte 0x00 at column 1: not a text file")
    assert "AddressSanitizer" not in r.stderr


def test_config_takes_every_option_from_the_file(files):
    files.write(files.text())
    r = run("--config", files.path, "--root", "/srv")
    assert r.returncode == 2
    assert "with --config every option comes from the file" in r.stderr
    assert "move root into it" in r.stderr


# --- dropcap check ----------------------------------------------------------------------------


def test_check_ok_binds_nothing(files):
    files.write(files.text())
    r = run("check", "--config", files.path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "ok\n", "")
    # nothing was bound: both ports are still free
    for port in (files.http, files.https):
        with dc.socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_check_command_line_form(files):
    r = run("check", *files.args(files.http, files.https))
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr
    r = run("check", "--root", "/nonexistent-root", "--https", "off")
    assert r.returncode == 1 and "cannot serve --root /nonexistent-root" in r.stderr


def test_check_finds_a_missing_root_and_a_key_that_does_not_match(files, tls_files):
    text = files.text().replace(files.root["b"], files.base + "/nope")
    r = run("check", "--config", files.write(text))
    assert r.returncode == 1
    assert f"{files.path}:12: cannot serve root {files.base}/nope (site b.test,*.b.test)" \
        in r.stderr
    text = files.text().replace(f"key = {tls_files.ec_key}", f"key = {tls_files.rsa_key}")
    r = run("check", "--config", files.write(text))
    assert r.returncode == 1 and r.stdout == "" and tls_files.ec_cert in r.stderr, r.stderr


# --- SIGHUP ------------------------------------------------------------------------------------


def sighup(server, timeout=10.0):
    before = len(server.stderr_lines())
    server.signal(signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [ln for ln in server.stderr_lines()[before:] if "SIGHUP:" in ln]
        if lines and ("reloaded" in lines[-1] or "still serving" in lines[-1]):
            time.sleep(0.2)
            return [ln for ln in server.stderr_lines()[before:] if "SIGHUP:" in ln]
        assert server.alive(), server.stderr_text()
        time.sleep(0.02)
    raise AssertionError(f"no SIGHUP outcome:\n{server.stderr_text()}")


def test_sighup_applies_a_new_certificate_path_from_the_file(make_server, files, tls_files):
    files.write(files.text())
    s = make_server(["--config", files.path])
    assert get(files.https, "a.test", tls=True)[2] == der(tls_files.ec_cert)
    files.write(files.text(a_cert="rsa"))
    lines = sighup(s)
    assert lines == [ln for ln in lines if f"SIGHUP: reloaded {files.path}: 2 sites" in ln]
    assert get(files.https, "a.test", tls=True)[2] == der(tls_files.rsa_cert)
    assert get(files.https, "b.test", tls=True)[2] == der(tls_files.rsa_cert)


def test_sighup_with_a_new_listen_address_needs_an_upgrade_and_applies_nothing(
        make_server, files, tls_files):
    files.write(files.text())
    s = make_server(["--config", files.path])
    other = dc.free_port()
    files.write(files.text(a_cert="rsa", http=other))  # a certificate change rides along
    lines = sighup(s)
    assert len(lines) == 1, lines
    assert f"{files.path}:3: 'http' changed: that needs an upgrade" in lines[0]
    assert "USR2" in lines[0] and "still serving the running configuration" in lines[0]
    assert get(files.http, "a.test")[:2] == (200, b"site a\n")
    assert get(files.https, "a.test", tls=True)[2] == der(tls_files.ec_cert)  # all or nothing
    with pytest.raises(OSError):
        get(other, "a.test")


def test_sighup_with_a_broken_file_keeps_serving(make_server, files):
    files.write(files.text())
    s = make_server(["--config", files.path])
    files.write(files.text() + "rot = /srv\n")
    lines = sighup(s)
    assert len(lines) == 1 and f"{files.path}:15: unknown key 'rot'" in lines[0], lines
    assert "still serving the running configuration" in lines[0]
    assert get(files.http, "b.test")[:2] == (200, b"site b\n")


@pytest.mark.parametrize("change,line,what", [
    (lambda f, t: t.replace("access-log = off\n", "access-log = off\nuser = daemon\n"), 5,
     "'user' changed"),
    (lambda f, t: t.replace("access-log = off\n", "access-log = off\nmax-conns = 77\n"), 5,
     "'max-conns' changed"),
    (lambda f, t: t.replace("access-log = off\n", "access-log = off\nworkers = 3\n"), 5,
     "'workers' changed"),
    (lambda f, t: t.replace("access-log = off\n", "access-log = off\nheader-timeout = 3\n"),
     5, "'header-timeout' changed"),
    (lambda f, t: t.replace(f"https = 127.0.0.1:{f.https}", "https = off"), 2,
     "'https' changed"),
])
def test_sighup_names_the_server_wide_change_that_needs_an_upgrade(make_server, files, change,
                                                                   line, what):
    """A server-wide key is set up once at start: its line and name, and nothing of the file
    applies, not even a site option changed beside it."""
    files.write(files.text())
    s = make_server(["--config", files.path])
    t = change(files, files.text()).replace("[site b.test, *.b.test]", "[site b.test]")
    files.write(t)
    lines = sighup(s)
    assert len(lines) == 1, lines
    assert f"SIGHUP: {files.path}:{line}: {what}" in lines[0], lines
    assert "that needs an upgrade" in lines[0], lines
    assert get(files.http, "x.b.test")[:2] == (200, b"site b\n")  # the old names still serve
    assert get(files.http, "a.test")[:2] == (200, b"site a\n")


def hget(port, host, path="/who.txt", tls=False, conn=None):
    """A response (status, headers, body), on conn (kept alive) or a new connection."""
    if conn is not None:
        return conn.request("GET", path, host=host)
    with dc.HttpConn("127.0.0.1", port, tls=tls, server_hostname=host) as c:
        return c.request("GET", path, host=host)


def big_file(root, size=32 << 20):
    """More than the socket buffers hold: its response is still being sent at the SIGHUP."""
    path = os.path.join(root, "big.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(1 << 20) * (size >> 20))
    os.chmod(path, 0o644)
    return size


def test_sighup_applies_headers_hsts_and_new_names_live(make_server, files, tls_files):
    """A changed header value, an added HSTS and a new site name on an existing root: new
    requests and a kept-alive connection's next request see them; a download started before
    the SIGHUP completes whole, with the header of the configuration it started with."""
    base = files.text().replace("key = " + tls_files.ec_key + "\n",
                                "key = " + tls_files.ec_key + "\nheader = /*: X-Gen: one\n")
    files.write(base)
    size = big_file(files.root["a"])
    s = make_server(["--config", files.path])
    keep = dc.HttpConn("127.0.0.1", files.http, timeout=20)
    assert hget(0, "a.test", conn=keep).header("X-Gen") == "one"
    flight = socket.create_connection(("127.0.0.1", files.http), timeout=20)
    flight.sendall(b"GET /big.bin HTTP/1.1\r\nHost: a.test\r\n\r\n")
    got = flight.recv(65536)
    while b"\r\n\r\n" not in got:
        got += flight.recv(65536)
    files.write(base.replace("X-Gen: one", "X-Gen: two")
                .replace("[site a.test]", "[site a.test, c.test]")
                .replace("key = " + tls_files.ec_key + "\n",
                         "key = " + tls_files.ec_key + "\nhsts = 600\n"))
    lines = sighup(s)
    assert lines and f"SIGHUP: reloaded {files.path}" in lines[-1], lines
    assert hget(files.http, "a.test").header("X-Gen") == "two"
    assert hget(0, "a.test", conn=keep).header("X-Gen") == "two"
    r = hget(files.https, "c.test", tls=True)
    assert (r.status, r.body, r.header("X-Gen")) == (200, b"site a\n", "two")
    assert r.header("Strict-Transport-Security") == "max-age=600"
    head, _, body = got.partition(b"\r\n\r\n")
    assert b"X-Gen: one" in head and b"200 OK" in head.split(b"\r\n")[0]
    left = size - len(body)
    while left > 0:
        chunk = flight.recv(min(left, 1 << 20))
        assert chunk, f"the download stopped {left} bytes short"
        left -= len(chunk)
    assert left == 0
    flight.close()
    keep.close()


def test_sighup_removing_a_site_sends_its_names_to_the_default_site(make_server, files):
    files.write(files.text())
    s = make_server(["--config", files.path])
    assert get(files.http, "x.b.test")[:2] == (200, b"site b\n")
    t = files.text()
    files.write(t[:t.index("[site b.test")])
    lines = sighup(s)
    assert f"SIGHUP: reloaded {files.path}: 1 site" in lines[-1], lines
    assert get(files.http, "x.b.test")[:2] == (200, b"site a\n")
    assert get(files.http, "b.test")[:2] == (200, b"site a\n")


def test_sighup_with_a_root_outside_the_sandbox_needs_an_upgrade(make_server, files):
    """The sandbox's rules were fixed at start: a root they do not cover cannot be read, and
    the reload names its line; nothing applies, not even a header beside it."""
    s = make_server(["--config", files.write(files.text())])
    if "landlock" not in s.stderr_text():
        pytest.skip("no Landlock here: every root is readable")
    other = os.path.join(files.base, "root-c")
    os.makedirs(other)
    os.chmod(other, 0o755)
    files.write(files.text().replace(files.root["b"], other)
                .replace("[site a.test]", "[site a.test]\nheader = /*: X-New: 1"))
    lines = sighup(s)
    assert len(lines) == 1, lines
    assert f"SIGHUP: {files.path}:13: root {other} cannot be read" in lines[0], lines
    assert "that needs an upgrade" in lines[0]
    assert get(files.http, "x.b.test")[:2] == (200, b"site b\n")
    assert hget(files.http, "a.test").header("X-New") is None


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))


def test_repeated_reloads_leak_nothing(make_server, files):
    """Reloads that alternate two files, with requests between them: the sanitizer build's
    LeakSanitizer finds nothing at exit (the fixture checks), and the RSS stays flat."""
    a = files.text()
    b = a.replace("[site a.test]", "[site a.test, c.test]\nhsts = 60")
    s = make_server(["--config", files.write(a)])
    rounds, rss = 40, []
    for i in range(rounds):
        files.write(b if i % 2 else a)
        assert "reloaded" in sighup(s, timeout=30)[-1]
        assert get(files.http, "x.b.test")[:2] == (200, b"site b\n")
        if i in (9, rounds - 1):
            rss.append(rss_kib(s.pid))
    if not os.environ.get("DROPCAP_SANITIZED"):  # ASan's quarantine holds freed memory
        assert rss[1] - rss[0] < 1024, f"RSS grew {rss[1] - rss[0]} KiB over 30 reloads"


def test_readme_example_passes_dropcap_check(dropcap_bin, world_tmp):
    """The two-site example in the README, with its paths pointed at a scratch tree, is a valid
    configuration: `dropcap check` opens both roots, loads both certificates and says ok. So the
    README's per-site keys (redirect-https, acme-root, hsts, error-pages, header, fallback, ...)
    are the ones dropcap takes."""
    readme = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
    with open(readme) as f:
        text = f.read()
    start = text.index("# /etc/dropcap/dropcap.conf")
    example = text[start:text.index("```", start)]
    t = world_tmp
    for d in ("www/errors", "docs", "acme", "tls"):
        os.makedirs(os.path.join(t, d))
    for name in ("example.org", "docs.example.org"):
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "3", "-subj", f"/CN={name}",
                        "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-keyout", f"{t}/tls/{name}.key", "-out", f"{t}/tls/{name}.pem"],
                       check=True, capture_output=True)
    for old, new in (("/srv/www", f"{t}/www"), ("/srv/docs", f"{t}/docs"),
                     ("/var/lib/dropcap/acme", f"{t}/acme"), ("/etc/dropcap/", f"{t}/tls/"),
                     ("/var/log/dropcap/", f"{t}/")):
        assert old in example, old
        example = example.replace(old, new)
    conf = os.path.join(t, "dropcap.conf")
    with open(conf, "w") as f:
        f.write(example)
    r = subprocess.run([dropcap_bin, "check", "--config", conf], capture_output=True, text=True,
                       timeout=30)
    assert (r.returncode, r.stdout.strip()) == (0, "ok"), r.stdout + r.stderr
