"""SIGHUP reloads the certificate and key without closing a connection.

New handshakes present the new certificate (compared by DER); a keep-alive connection and a
handshake in progress across the reload go on with the old one; TLS sessions resume across it
(tickets and the session cache are shared); a bad new file (unreadable, not PEM, a key that
does not match, missing) keeps the old certificate in service and logs the file, the problem
and the fix; 50 reloads with connections open leak nothing (LeakSanitizer in the sanitizer
run, RSS in the release run); and a bounded client loop of about 2,000 requests, HTTPS and
HTTP, keep-alive and new connections, with a 64 MiB HTTPS download in flight, sees zero failures
and zero truncated bodies across several reloads. The server runs with its sandbox, as the
unprivileged user the drop chooses: the reload reads the files as that user."""

import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

import dropcap_fixture as dc
from test_notify import messages, receiver

# Each test runs with one worker (the main loop alone) and with two (a worker thread beside it).
pytestmark = pytest.mark.parametrize("workers", [1, 2])

HELLO = dc.DOCROOT_FILES["hello.txt"]
BIG_SIZE = 64 << 20
SANITIZED = bool(os.environ.get("DROPCAP_SANITIZED"))
RELOADED = "SIGHUP: reloaded "
KEPT = "still serving the previous certificate"


def make_pair(directory, name, pad=0):
    """A self-signed P-256 certificate and key CN=name, and the leaf's DER. pad copies of
    another certificate are appended to the chain file: a heavier credential (~20 KiB with 18,
    and the chain still fits mbedTLS's 16 KiB handshake message) makes a leaked one show."""
    crt, key = os.path.join(directory, name + ".crt"), os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "30", "-subj", f"/CN={name}",
                    "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-keyout", key,
                    "-out", crt], check=True, capture_output=True)
    with open(crt) as f:
        leaf = f.read()
    if pad:
        with open(make_pair(directory, name + "-pad")[0]) as f:
            extra = f.read()
        with open(crt, "w") as f:
            f.write(leaf + extra * pad)
    return crt, key, ssl.PEM_cert_to_DER_cert(leaf)


class Creds:
    """Certificates A and B (different keys), and the live cert.pem/key.pem dropcap is given."""

    def __init__(self, base):
        self.store = os.path.join(base, "store")
        self.live = os.path.join(base, "tls")
        for d in (self.store, self.live):
            os.makedirs(d)
            os.chmod(d, 0o755)
        self.a = make_pair(self.store, "reload-a")
        self.b = make_pair(self.store, "reload-b")
        self.cert = os.path.join(self.live, "cert.pem")
        self.key = os.path.join(self.live, "key.pem")
        self.install(self.a)

    def install(self, pair, cert=None, key=None):
        """Puts pair's files (or the given bytes) in place the way a deploy does: a new file
        renamed over the old one."""
        for path, src, data in ((self.cert, pair[0], cert), (self.key, pair[1], key)):
            tmp = path + ".new"
            if data is None:
                shutil.copyfile(src, tmp)
            else:
                with open(tmp, "wb") as f:
                    f.write(data)
            os.chmod(tmp, 0o644)
            os.rename(tmp, path)


@pytest.fixture
def reload_site(make_server, world_tmp):
    creds = Creds(world_tmp)
    root = dc.make_docroot(os.path.join(world_tmp, "root"))
    http, https = dc.free_port(), dc.free_port()
    notify = os.path.join(world_tmp, "notify")
    rx = receiver(notify)
    s = make_server(["--root", root, "--http", f"127.0.0.1:{http}",
                     "--https", f"127.0.0.1:{https}", "--cert", creds.cert, "--key", creds.key],
                    env={"NOTIFY_SOCKET": notify})
    assert messages(rx.recv(4096))["READY"] == "1"
    yield s, creds, root, http, https, rx
    rx.close()



def peer_der(conn):
    return conn.sock.getpeercert(binary_form=True)


def new_der(port):
    with dc.HttpConn("127.0.0.1", port, tls=True) as c:
        assert c.request("GET", "/hello.txt").body == HELLO
        return peer_der(c)


def test_new_handshakes_get_the_new_certificate_open_connections_keep_theirs(reload_site):
    s, creds, _, _, https, rx = reload_site
    assert new_der(https) == creds.a[2]
    with dc.HttpConn("127.0.0.1", https, tls=True) as old:
        assert old.request("GET", "/hello.txt").body == HELLO
        creds.install(creds.b)
        line = s.reload()
        assert RELOADED in line and "CN=reload-b" in line and "expires 20" in line, line
        assert new_der(https) == creds.b[2]
        # the keep-alive connection made before the reload still serves, with certificate A
        for _ in range(3):
            r = old.request("GET", "/hello.txt")
            assert r.status == 200 and r.body == HELLO
        assert peer_der(old) == creds.a[2]
    # systemd hears RELOADING=1 (with MONOTONIC_USEC) and then READY=1
    reloading, ready = messages(rx.recv(4096)), messages(rx.recv(4096))
    assert reloading["RELOADING"] == "1" and int(reloading["MONOTONIC_USEC"]) > 0
    assert ready["READY"] == "1" and "reloaded" in ready["STATUS"], ready


def test_a_handshake_in_progress_across_the_reload_completes(reload_site):
    """The ClientHello is answered with A's flight, SIGHUP switches to B, then the client
    finishes: the handshake completes with A (its configuration outlived the switch)."""
    s, creds, _, _, https, _ = reload_site
    ctx = dc.client_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname="localhost")
    sock = socket.create_connection(("127.0.0.1", https), timeout=5)

    def step():
        try:
            tls.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            done = False
        if out.pending:
            sock.sendall(out.read())
        return done

    try:
        assert not step()                      # ClientHello sent
        while not inc.pending:                 # the server's first flight arrives
            inc.write(sock.recv(65536))
        time.sleep(0.1)                        # ...all of it, on loopback
        creds.install(creds.b)
        assert RELOADED in s.reload()
        while not step():
            inc.write(sock.recv(65536))
        assert tls.getpeercert(binary_form=True) == creds.a[2]
        tls.write(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        sock.sendall(out.read())
        reply = b""
        while True:
            data = sock.recv(65536)
            if not data:
                break
            inc.write(data)
            try:
                reply += tls.read(65536)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                pass
        assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(HELLO), reply
    finally:
        sock.close()
    assert new_der(https) == creds.b[2]


@pytest.mark.parametrize("tickets", [True, False], ids=["ticket", "session-cache"])
def test_sessions_resume_across_a_reload(reload_site, tickets):
    s, creds, _, _, https, _ = reload_site
    ctx = dc.client_context(max_version=ssl.TLSVersion.TLSv1_2)
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET
    with dc.HttpConn("127.0.0.1", https, tls=True, context=ctx) as c:
        assert c.request("GET", "/hello.txt").body == HELLO
        session = c.sock.session
    creds.install(creds.b)
    assert RELOADED in s.reload()
    with dc.HttpConn("127.0.0.1", https, tls=True, context=ctx, session=session) as c:
        assert c.request("GET", "/hello.txt").body == HELLO
        assert c.sock.session_reused
    assert new_der(https) == creds.b[2]


def _not_pem(creds):
    creds.install(creds.b, key=b"this is not a key\n")
    return creds.key, "bad key file", "give the PEM private key"


def _cert_not_pem(creds):
    creds.install(creds.b, cert=b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    return creds.cert, "bad certificate file", "give the PEM certificate chain"


def _mismatch(creds):
    creds.install((creds.b[0], creds.a[1]))
    return creds.key, "does not match the certificate", "the first certificate in the file"


def _unreadable(creds):
    creds.install(creds.b)
    os.chmod(creds.key, 0o600)  # root's: the server runs as the user the drop chose
    return creds.key, "Permission denied", "the run user must be able to read it: chgrp"


def _missing(creds):
    creds.install(creds.b)
    os.unlink(creds.key)
    return creds.key, "No such file or directory", "re-point the symlink"


@pytest.mark.parametrize("breakage", [_not_pem, _cert_not_pem, _mismatch, _unreadable, _missing],
                         ids=["key-not-pem", "cert-not-pem", "key-mismatch", "unreadable",
                              "missing"])
def test_a_bad_new_file_keeps_the_old_certificate_and_says_why(reload_site, breakage):
    s, creds, _, _, https, rx = reload_site
    with dc.HttpConn("127.0.0.1", https, tls=True) as old:
        assert old.request("GET", "/hello.txt").body == HELLO
        path, problem, fix = breakage(creds)
        line = s.reload()
        assert path in line and problem in line and fix in line and KEPT in line, line
        assert old.request("GET", "/hello.txt").body == HELLO
    assert new_der(https) == creds.a[2]
    messages(rx.recv(4096))  # RELOADING=1
    ready = messages(rx.recv(4096))
    assert ready["READY"] == "1" and "reload failed" in ready["STATUS"], ready
    # the fix applied, the next SIGHUP takes the new files
    creds.install(creds.b)
    assert RELOADED in s.reload()
    assert new_der(https) == creds.b[2]


def vm_rss_kib(pid):
    return int(dc.proc_status(pid)["VmRSS"].split()[0])


def test_repeated_reloads_with_connections_open_do_not_leak(make_server, world_tmp):
    """Reloads between A and B (chains of 19 certificates: ~20 KiB per credential), each with
    connections made before it still open and used after it: 50 under the sanitizers, where a
    credential never freed is LeakSanitizer's report at exit; 300 in the release run, where
    RSS must stay flat from the 50th to the 300th (250 leaked credentials would be ~5 MiB)."""
    creds = Creds(world_tmp)
    creds.a = make_pair(creds.store, "big-a", pad=18)
    creds.b = make_pair(creds.store, "big-b", pad=18)
    creds.install(creds.a)
    root = dc.make_docroot(os.path.join(world_tmp, "root"))
    https = dc.free_port()
    s = make_server(["--root", root, "--http", "off", "--https", f"127.0.0.1:{https}",
                     "--cert", creds.cert, "--key", creds.key])
    conns, rss = [], []
    try:
        n = 50 if SANITIZED else 300
        for i in range(n):
            pair = creds.b if i % 2 == 0 else creds.a
            conns.append(dc.HttpConn("127.0.0.1", https, tls=True))
            assert conns[-1].request("GET", "/hello.txt").body == HELLO
            creds.install(pair)
            assert RELOADED in s.reload()
            if len(conns) > 4:  # a few stay open across several reloads, then close
                old = conns.pop(0)
                assert old.request("GET", "/hello.txt").body == HELLO
                old.close()
            if i in (49, n - 1):
                time.sleep(0.2)
                rss.append(vm_rss_kib(s.pid))
        assert new_der(https) == creds.a[2]
    finally:
        for c in conns:
            c.close()
    if not SANITIZED:  # ASan's quarantine holds freed memory: RSS says nothing there
        assert rss[1] - rss[0] < 2048, f"RSS grew {rss[1] - rss[0]} KiB over 250 reloads"


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = 0
        self.failures = []

    def good(self):
        with self.lock:
            self.ok += 1

    def bad(self, what):
        with self.lock:
            self.failures.append(what)


def _worker(tally, port, tls, keepalive, count, deadline):
    conn = None
    for i in range(count):
        if time.monotonic() > deadline:
            tally.bad("deadline reached")
            return
        try:
            if conn is None:
                conn = dc.HttpConn("127.0.0.1", port, tls=tls, timeout=10)
            r = conn.request("GET", "/hello.txt", headers=None if keepalive else
                             {"Connection": "close"})
            if r.status != 200 or r.body != HELLO:
                tally.bad(f"{r.status} {r.body[:40]!r}")
            else:
                tally.good()
        except (OSError, ssl.SSLError, AssertionError) as e:
            tally.bad(f"request {i} tls={tls}: {e!r}")
            if conn is not None:
                conn.close()
            conn = None
            continue
        if not keepalive:
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


def _download(tally, port, digest, result):
    """GET /big.bin over HTTPS, read slowly (>= 3.2 s) so that it spans every reload."""
    data, pause_at = bytearray(), 1 << 20
    try:
        with dc.HttpConn("127.0.0.1", port, tls=True, timeout=20) as c:
            c.send("GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            while True:
                chunk = c.sock.recv(65536)
                if not chunk:
                    break
                data += chunk
                if len(data) >= pause_at:
                    pause_at += 1 << 20
                    time.sleep(0.05)
        result["end"] = time.monotonic()
        head, _, body = bytes(data).partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200") or len(body) != BIG_SIZE or \
                hashlib.sha256(body).hexdigest() != digest:
            tally.bad(f"download: {head[:40]!r}, {len(body)} of {BIG_SIZE} bytes")
        else:
            tally.good()
    except (OSError, ssl.SSLError) as e:
        tally.bad(f"download: {e!r} after {len(data)} bytes")


def test_zero_failed_requests_across_reloads(make_server, world_tmp):
    creds = Creds(world_tmp)
    root = dc.make_docroot(os.path.join(world_tmp, "root"))
    big = os.urandom(BIG_SIZE)
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(big)
    os.chmod(os.path.join(root, "big.bin"), 0o644)
    digest = hashlib.sha256(big).hexdigest()
    del big
    http, https = dc.free_port(), dc.free_port()
    s = make_server(["--root", root, "--http", f"127.0.0.1:{http}",
                     "--https", f"127.0.0.1:{https}", "--cert", creds.cert, "--key", creds.key])
    tally, result = Tally(), {}
    deadline = time.monotonic() + 240
    per = 500 if not SANITIZED else 250  # 2,000 requests (1,000 under the sanitizers)
    workers = [threading.Thread(target=_worker, args=(tally, port, tls, ka, per, deadline))
               for port, tls in ((https, True), (http, False)) for ka in (True, False)]
    dl = threading.Thread(target=_download, args=(tally, https, digest, result))
    dl.start()
    for w in workers:
        w.start()
    reload_times = []
    time.sleep(0.3)
    for i in range(6):  # alternate B and A while everything runs
        creds.install(creds.b if i % 2 == 0 else creds.a)
        assert RELOADED in s.reload()
        reload_times.append(time.monotonic())
        time.sleep(0.2)
    for t in workers + [dl]:
        t.join(300)
    assert not tally.failures, tally.failures[:10]
    assert tally.ok == 4 * per + 1
    # the download was in flight during every reload
    assert result["end"] > reload_times[-1], "the download ended before the last reload"
    assert new_der(https) == creds.a[2]
