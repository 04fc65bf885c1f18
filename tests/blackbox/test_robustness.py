"""Edge cases a real deployment meets: request bodies, odd file-system errors, files changed
while served, slow readers, descriptor exhaustion, leaks, renegotiation."""

import os
import socket
import subprocess
import time

import pytest

import dropcap_fixture as dc

HELLO = dc.DOCROOT_FILES["hello.txt"]
BIG = dc.DOCROOT_FILES["big.bin"]


@pytest.fixture
def own_site(make_server, world_tmp):
    """A server on a private copy of the test site, which a test may change."""
    root = dc.make_docroot(world_tmp)
    port = dc.free_port()
    server = make_server(["--root", root, "--http", f"127.0.0.1:{port}", "--https", "off"])
    return root, port, server


def poll(fn, timeout=3.0, interval=0.05):
    """Calls fn until it returns a truthy value or the deadline passes; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- request bodies --------------------------------------------------------------------------

def test_get_with_large_body_response_not_lost(site):
    """Unread request bytes must not turn the close into a reset that destroys the response."""
    body = b"x" * 300000
    with dc.HttpConn(site.host, site.http_port, timeout=10) as c:
        c.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        c.sock.settimeout(2)
        try:
            c.send(body)  # may block for good if the server stops reading: that is fine
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        c.sock.settimeout(10)
        time.sleep(0.2)
        r = c.read_response()
    assert r.status in (200, 400, 413)
    if r.status == 200:
        assert r.body == HELLO


def test_chunked_body_is_not_a_second_request(site):
    smuggled = b"GET /.secret HTTP/1.1\r\nHost: x\r\n\r\n"
    chunk = b"%x\r\n%s\r\n0\r\n\r\n" % (len(smuggled), smuggled)
    with dc.HttpConn(site.host, site.http_port) as c:
        c.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk)
        r = c.read_response()
        assert r.status in (200, 400, 411, 501)
        # whatever happens next, the chunk data is never answered as a request
        if not c.eof(0.5):
            c.send(b"GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            r2 = c.read_response()
            assert r2.body == dc.DOCROOT_FILES["notes.txt"], r2


def test_range_and_if_none_match_304_first(site):
    with dc.HttpConn(site.host, site.http_port) as c:
        etag = c.request("GET", "/big.bin").header("ETag")
        r = c.request("GET", "/big.bin", headers={"Range": "bytes=0-9", "If-None-Match": etag})
    assert r.status == 304


def test_head_with_range(site):
    with dc.HttpConn(site.host, site.http_port) as c:
        r = c.request("HEAD", "/big.bin", headers={"Range": "bytes=0-9"})
        assert r.status in (200, 206) and r.body == b""
        r = c.request("GET", "/hello.txt")  # no stray body bytes before this response
        assert r.status == 200 and r.body == HELLO


# --- file-system errors: 404/403, never 500 -------------------------------------------------------

def test_name_too_long_404(site):
    with dc.HttpConn(site.host, site.http_port) as c:
        r = c.request("GET", "/" + "n" * 300 + ".txt")
        assert r.status in (404, 414)
        r = c.request("GET", "/" + "/".join(["d" * 200] * 15))
        assert r.status in (404, 414)


def test_not_a_directory_404(site):
    with dc.HttpConn(site.host, site.http_port) as c:
        assert c.request("GET", "/hello.txt/x").status == 404


def test_symlink_loop_404(own_site):
    root, port, _ = own_site
    os.symlink("loop2", os.path.join(root, "loop1"))
    os.symlink("loop1", os.path.join(root, "loop2"))
    with dc.HttpConn("127.0.0.1", port) as c:
        assert c.request("GET", "/loop1").status in (403, 404)
        assert c.request("GET", "/loop1/x").status in (403, 404)


def test_directory_index_is_a_directory(own_site):
    root, port, _ = own_site
    os.makedirs(os.path.join(root, "odd", "index.html"))
    with dc.HttpConn("127.0.0.1", port) as c:
        assert c.request("GET", "/odd/").status in (403, 404)


# --- files that change while served --------------------------------------------------------------

def test_file_replaced_atomically_is_served_new(own_site):
    """A deploy renames new files over old ones: the new content appears (a cache may delay
    it by about a second, as lighttpd's stat cache does, never longer)."""
    root, port, _ = own_site
    path = os.path.join(root, "notes.txt")
    with dc.HttpConn("127.0.0.1", port) as c:
        assert c.request("GET", "/notes.txt").body == dc.DOCROOT_FILES["notes.txt"]
        tmp = path + ".new"
        with open(tmp, "wb") as f:
            f.write(b"new release\n")
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
        start = time.monotonic()
        r = poll(lambda: (lambda r: r if r.body == b"new release\n" else None)(
            c.request("GET", "/notes.txt")), timeout=3)
        assert r, "still the old file 3 s after the rename"
        assert time.monotonic() - start < 2.5
        assert r.header("Content-Length") == str(len(b"new release\n"))


def test_file_deleted_is_404(own_site):
    root, port, _ = own_site
    with dc.HttpConn("127.0.0.1", port) as c:
        assert c.request("GET", "/style.css").status == 200
        os.unlink(os.path.join(root, "style.css"))
        assert poll(lambda: c.request("GET", "/style.css").status == 404, timeout=3)


def test_file_truncated_during_download(own_site):
    root, port, server = own_site
    path = os.path.join(root, "large.bin")
    with open(path, "wb") as f:
        f.truncate(32 << 20)
    os.chmod(path, 0o644)
    c = dc.HttpConn("127.0.0.1", port, timeout=5)
    try:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        c.send(b"GET /large.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        while b"\r\n\r\n" not in c.buf:
            c._fill()
        with open(path, "r+b") as f:
            f.truncate(1 << 20)
        got = c.read_to_eof()  # the server cannot keep its promise: it must close, not hang
        assert len(got) < 32 << 20
    finally:
        c.close()
    assert server.alive()
    with dc.HttpConn("127.0.0.1", port) as c:
        assert c.request("GET", "/hello.txt").status == 200


# --- slow readers: partial writes are resumed exactly -------------------------------------------

def slow_read_all(c, total, chunk=8192, pause=0.0005):
    out = bytearray(c.buf)
    c.buf.clear()
    deadline = time.monotonic() + 30
    while len(out) < total:
        assert time.monotonic() < deadline, "slow read did not finish in 30 s"
        data = c.sock.recv(chunk)
        if not data:
            break
        out += data
        if pause:
            time.sleep(pause)
    return bytes(out)


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_slow_reader_gets_exact_bytes(site, tls):
    port = site.https_port if tls else site.http_port
    with dc.HttpConn(site.host, port, tls=tls, timeout=10) as c:
        if not tls:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        c.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        while b"\r\n\r\n" not in c.buf:
            c._fill()
        end = c.buf.index(b"\r\n\r\n") + 4
        head = bytes(c.buf[:end])
        del c.buf[:end]
        assert head.startswith(b"HTTP/1.1 200")
        body = slow_read_all(c, len(BIG))
        assert body[:len(BIG)] == BIG
        c.buf[:0] = body[len(BIG):]
        assert c.read_response().body == HELLO


def test_tls_handshake_dribbled_byte_by_byte(site):
    """The client's handshake bytes arrive one per segment: every WANT_READ is resumed."""
    import ssl
    ctx = dc.client_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    with socket.create_connection((site.host, site.https_port), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        deadline = time.monotonic() + 10
        while True:
            assert time.monotonic() < deadline
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pending = out.read()
                for i in range(len(pending)):
                    s.sendall(pending[i:i + 1])
                data = s.recv(65536)
                assert data, "server closed during the handshake"
                inc.write(data)
        pending = out.read()
        for i in range(len(pending)):
            s.sendall(pending[i:i + 1])
        obj.write(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        req = out.read()
        for i in range(len(req)):
            s.sendall(req[i:i + 1])
        got = b""
        while True:
            try:
                got += obj.read(65536)
            except ssl.SSLWantReadError:
                data = s.recv(65536)
                if not data:
                    break
                inc.write(data)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
            if got.endswith(HELLO):
                break
    assert got.startswith(b"HTTP/1.1 200") and got.endswith(HELLO)


def test_tls_renegotiation_refused_gracefully(site):
    """A client asking to renegotiate ('R' in s_client) is refused; the server lives on."""
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{site.https_port}",
                          "-tls1_2", "-quiet"], input=b"R\n", capture_output=True, timeout=10,
                         env=dict(os.environ, OPENSSL_CONF="/dev/null"))
    assert site.server.alive(), out
    with dc.HttpConn(site.host, site.https_port, tls=True) as c:
        assert c.request("GET", "/hello.txt").body == HELLO


# --- descriptors and memory ----------------------------------------------------------------------

def test_descriptor_exhaustion(make_server, docroot):
    """With a tiny open-file limit, surplus clients wait or are refused; the loop does not spin
    on accept, and service resumes when they leave."""
    port = dc.free_port()
    server = make_server(["--root", docroot, "--http", f"127.0.0.1:{port}", "--https", "off"],
                         wrapper=["prlimit", "--nofile=24:24", "--"])
    conns = []
    try:
        for _ in range(60):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n")  # incomplete: stays open
            conns.append(s)
        time.sleep(0.2)
        before = cpu_seconds(server.pid)
        time.sleep(1.0)
        used = cpu_seconds(server.pid) - before
        assert used < 0.3, f"server burned {used:.2f} s CPU in 1 s while out of descriptors"
        assert server.alive()
    finally:
        for s in conns:
            s.close()

    def served():
        try:
            with dc.HttpConn("127.0.0.1", port, timeout=2) as c:
                return c.request("GET", "/hello.txt").status == 200
        except (OSError, EOFError):
            return False
    assert poll(served, timeout=5), "not serving again after the clients left"


def rss_kib(pid):
    return int(dc.proc_status(pid)["VmRSS"].split()[0])


@pytest.mark.skipif(bool(os.environ.get("DROPCAP_SANITIZED")),
                    reason="ASan holds freed memory in quarantine: RSS says nothing there")
def test_no_memory_growth_over_many_connections(site):
    pid = site.server.pid

    def churn(n):
        for i in range(n):
            tls = i % 4 == 0
            port = site.https_port if tls else site.http_port
            with dc.HttpConn(site.host, port, tls=tls) as c:
                c.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                       b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                       b"GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99\r\n\r\n")
                for _ in range(3):
                    c.read_response()
    churn(400)  # warm up pools, caches, the TLS session cache
    before = rss_kib(pid)
    churn(1200)
    grown = rss_kib(pid) - before
    assert grown < 2048, f"RSS grew by {grown} KiB over 1200 connections"


def test_idle_connections_memory_bounded(site):
    pid = site.server.pid
    before = rss_kib(pid)
    conns = [socket.create_connection((site.host, site.http_port), timeout=5) for _ in range(300)]
    try:
        for s in conns:
            s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n")  # a partial head each
        time.sleep(0.3)
        per_conn = (rss_kib(pid) - before) / len(conns)
        assert per_conn < 64, f"{per_conn:.1f} KiB per idle plain connection"
    finally:
        for s in conns:
            s.close()
