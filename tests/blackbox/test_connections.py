"""Keep-alive, pipelining, size limits (414/431), timeouts, --max-conns, abrupt clients."""

import os
import socket
import struct
import time

import pytest

import dropcap_fixture as dc

HELLO = dc.DOCROOT_FILES["hello.txt"]
NOTES = dc.DOCROOT_FILES["notes.txt"]
INDEX = dc.DOCROOT_FILES["index.html"]


def plain_server(make_server, docroot, *extra):
    port = dc.free_port()
    s = make_server(["--root", docroot, "--http", f"127.0.0.1:{port}", "--https", "off", *extra])
    return s, port


# --- keep-alive and pipelining ---------------------------------------------------------------

def test_keep_alive_reuses_connection(site):
    with dc.HttpConn(site.host, site.http_port) as c:
        local = c.sock.getsockname()
        for _ in range(5):
            r = c.request("GET", "/hello.txt")
            assert r.status == 200 and r.body == HELLO
            assert (r.header("Connection") or "").lower() != "close"
        assert c.sock.getsockname() == local
        assert not c.eof(0.2)


def test_connection_close_honoured(site):
    with dc.HttpConn(site.host, site.http_port) as c:
        r = c.request("GET", "/hello.txt", headers={"Connection": "close"})
        assert r.status == 200 and r.body == HELLO
        assert (r.header("Connection") or "").lower() == "close"
        assert c.eof(3)


def test_pipelining_in_one_send(site):
    reqs = b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p
                    for p in (b"/hello.txt", b"/notes.txt", b"/", b"/big.bin", b"/hello.txt"))
    with dc.HttpConn(site.host, site.http_port) as c:
        c.send(reqs)
        bodies = [c.read_response().body for _ in range(5)]
        assert not c.eof(0.2)
    assert bodies == [HELLO, NOTES, INDEX, dc.DOCROOT_FILES["big.bin"], HELLO]


def test_pipelining_mixed_methods_and_errors(site):
    reqs = (b"HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
            b"GET /sub HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-3\r\n\r\n"
            b"GET /notes.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    with dc.HttpConn(site.host, site.http_port) as c:
        c.send(reqs)
        h = c.read_response(head_request=True)
        statuses = [h.status] + [c.read_response().status for _ in range(4)]
        last = c.read_response()
        assert c.eof(3), "Connection: close on the last pipelined request"
    assert statuses == [200, 404, 405, 301, 206]
    assert last.status == 200 and last.body == NOTES


def test_pipelining_byte_by_byte(site):
    """The same two requests delivered one byte per send: the parser must resume correctly."""
    reqs = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n"
    with dc.HttpConn(site.host, site.http_port) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(reqs)):
            c.send(reqs[i:i + 1])
        assert c.read_response().body == HELLO
        assert c.read_response().body == NOTES


def test_many_pipelined_requests(site):
    n = 200
    with dc.HttpConn(site.host, site.http_port, timeout=10) as c:
        c.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n" * n)
        for _ in range(n):
            r = c.read_response()
            assert r.status == 200 and r.body == HELLO


def test_pipelining_over_tls(site):
    with dc.HttpConn(site.host, site.https_port, tls=True) as c:
        c.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
               b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
               b"GET /notes.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().body == HELLO
        assert c.read_response().body == dc.DOCROOT_FILES["big.bin"]
        assert c.read_response().body == NOTES


# --- size limits ---------------------------------------------------------------------------------

def test_uri_too_long_414(site):
    """Beyond the 8 KiB request line (see test_rfc9112.py for the 8000 octets accepted)."""
    with dc.HttpConn(site.host, site.http_port) as c:
        c.send(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.status == 414
        assert c.eof(3)


def test_unterminated_request_line_414(site):
    with dc.HttpConn(site.host, site.http_port) as c:
        try:
            c.send(b"GET /" + b"a" * 20000)
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.read_response()
        assert r.status == 414


def test_headers_too_large_431(site):
    with dc.HttpConn(site.host, site.http_port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 17000 + b"\r\n\r\n")
        r = c.read_response()
        assert r.status == 431
        assert c.eof(3)


def test_many_headers_431(site):
    with dc.HttpConn(site.host, site.http_port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 3000 + b"\r\n")
        r = c.read_response()
        assert r.status == 431


def test_head_just_under_limit_ok(site):
    with dc.HttpConn(site.host, site.http_port) as c:
        r = c.request("GET", "/hello.txt", headers={"X-Pad": "p" * 6000})
        assert r.status == 200


# --- timeouts ------------------------------------------------------------------------------------

def closes_between(c, low, high):
    start = time.monotonic()
    closed = c.eof(high)
    took = time.monotonic() - start
    assert closed, f"still open after {high} s"
    assert took >= low, f"closed after {took:.2f} s, before {low} s"
    return took


def test_header_timeout_idle_client(make_server, docroot):
    _, port = plain_server(make_server, docroot, "--header-timeout", "1")
    with dc.HttpConn("127.0.0.1", port) as c:
        c.send(b"GET / HTTP/1.1\r\n")
        closes_between(c, 0.5, 4)
        if c.buf:
            assert c.buf.startswith(b"HTTP/1.1 408"), c.buf[:40]


def test_header_timeout_silent_client(make_server, docroot):
    _, port = plain_server(make_server, docroot, "--header-timeout", "1")
    with dc.HttpConn("127.0.0.1", port) as c:
        closes_between(c, 0.5, 4)


def test_header_timeout_trickling_client(make_server, docroot):
    """Slowloris: one byte every 0.2 s keeps no connection alive past the header timeout."""
    _, port = plain_server(make_server, docroot, "--header-timeout", "1")
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 200
    with dc.HttpConn("127.0.0.1", port) as c:
        start = time.monotonic()
        closed = False
        for i in range(len(head)):
            try:
                c.send(head[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if c.eof(0.2):
                closed = True
                break
            if time.monotonic() - start > 5:
                break
        took = time.monotonic() - start
        assert closed, "a trickling client kept its connection for 5 s with --header-timeout 1"
        assert took < 4


def test_header_timeout_does_not_cut_a_fast_client(make_server, docroot):
    _, port = plain_server(make_server, docroot, "--header-timeout", "1")
    with dc.HttpConn("127.0.0.1", port) as c:
        for _ in range(3):
            r = c.request("GET", "/hello.txt")
            assert r.status == 200
            time.sleep(0.4)  # idle, but under the 1 s header timeout and default keep-alive
        r = c.request("GET", "/hello.txt")
        assert r.status == 200


def test_keepalive_idle_timeout(make_server, docroot):
    _, port = plain_server(make_server, docroot, "--keepalive-timeout", "1")
    with dc.HttpConn("127.0.0.1", port) as c:
        assert c.request("GET", "/hello.txt").status == 200
        closes_between(c, 0.5, 4)


def test_keepalive_timeout_restarts_after_each_request(make_server, docroot):
    _, port = plain_server(make_server, docroot, "--keepalive-timeout", "2")
    with dc.HttpConn("127.0.0.1", port) as c:
        for _ in range(4):  # 4 x 0.8 s > 2 s in total, but never 2 s idle
            assert c.request("GET", "/hello.txt").status == 200
            assert not c.eof(0.8)
        assert c.request("GET", "/hello.txt").status == 200


def test_timeouts_over_tls(make_server, docroot, tls_files):
    port = dc.free_port()
    make_server(["--root", docroot, "--http", "off", "--https", f"127.0.0.1:{port}",
                 "--cert", tls_files.ec_cert, "--key", tls_files.ec_key,
                 "--header-timeout", "1", "--keepalive-timeout", "1"])
    # TCP open, no ClientHello: the handshake counts against the header timeout
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        start = time.monotonic()
        raw.settimeout(4)
        try:
            data = raw.recv(100)
        except ConnectionResetError:
            data = b""
        assert data == b"" or data[:1] == b"\x15", data  # EOF or a TLS alert
        assert 0.5 <= time.monotonic() - start < 4
    finally:
        raw.close()
    with dc.HttpConn("127.0.0.1", port, tls=True) as c:
        assert c.request("GET", "/hello.txt").status == 200
        closes_between(c, 0.5, 4)


def big_file_site(make_server, world_tmp, size, *extra):
    root = dc.make_docroot(world_tmp)
    with open(os.path.join(root, "large.bin"), "wb") as f:
        f.truncate(size)
    os.chmod(os.path.join(root, "large.bin"), 0o644)
    port = dc.free_port()
    s = make_server(["--root", root, "--http", f"127.0.0.1:{port}", "--https", "off", *extra])
    return s, port


def test_stalled_reader_is_disconnected(make_server, world_tmp):
    """A client that stops reading a response does not hold its connection for ever."""
    s, port = big_file_site(make_server, world_tmp, 64 << 20, "--keepalive-timeout", "1")
    baseline = dc.socket_count(s.pid)
    c = dc.HttpConn("127.0.0.1", port)
    try:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.send(b"GET /large.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        c.sock.recv(100)
        deadline = time.monotonic() + 1
        while dc.socket_count(s.pid) == baseline and time.monotonic() < deadline:
            time.sleep(0.02)  # until the server has accepted it
        assert dc.socket_count(s.pid) == baseline + 1
        start = time.monotonic()
        while dc.socket_count(s.pid) > baseline:
            assert time.monotonic() - start < 5, "a stalled reader kept its connection 5 s"
            time.sleep(0.05)
        assert time.monotonic() - start >= 0.5
    finally:
        c.close()


def test_slow_but_progressing_reader_not_cut(make_server, world_tmp):
    size = 12 << 20
    _, port = big_file_site(make_server, world_tmp, size, "--keepalive-timeout", "1")
    with dc.HttpConn("127.0.0.1", port, timeout=5) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        c.send(b"GET /large.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        while b"\r\n\r\n" not in c.buf:
            c._fill()
        got = len(c.buf) - c.buf.index(b"\r\n\r\n") - 4
        start = time.monotonic()
        while got < size:
            burst = 0
            while burst < (1 << 20) and got < size:
                data = c.sock.recv(65536)
                assert data, f"cut off after {got} bytes, {time.monotonic() - start:.1f} s"
                burst += len(data)
                got += len(data)
            time.sleep(0.3)  # under the 1 s timeout between bursts
        assert time.monotonic() - start > 1.2  # the whole read outlasted the timeout


# --- connection limit ----------------------------------------------------------------------------

def limited_server(make_server, docroot, tls_files, n):
    port = dc.free_port()
    make_server(["--root", docroot, "--http", "off", "--https", f"127.0.0.1:{port}",
                 "--cert", tls_files.ec_cert, "--key", tls_files.ec_key, "--max-conns", str(n)])
    return port


@pytest.mark.parametrize("workers", [1])  # the longest idle of a loop: one loop here
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_max_conns_reuses_the_longest_idle_connection(make_server, docroot, tls_files, tls):
    """--max-conns 2 held by two idle keep-alive connections: a third client is served at
    once, and the connection idle the longest is the one closed for it (issue 8, finding 5;
    before, the third waited for the 60 s keep-alive timeout)."""
    if tls:
        port = limited_server(make_server, docroot, tls_files, 2)
    else:
        _, port = plain_server(make_server, docroot, "--max-conns", "2")
    a = dc.HttpConn("127.0.0.1", port, tls=tls)
    b = dc.HttpConn("127.0.0.1", port, tls=tls)
    third = None
    try:
        assert a.request("GET", "/hello.txt").status == 200
        time.sleep(0.1)  # a has been idle longer than b
        assert b.request("GET", "/hello.txt").status == 200
        start = time.monotonic()
        third = dc.HttpConn("127.0.0.1", port, tls=tls, timeout=3)
        r = third.request("GET", "/hello.txt")
        assert r.status == 200 and r.body == HELLO
        assert time.monotonic() - start < 2, "the third client waited for a slot"
        assert a.eof(2), "the longest-idle connection was not the one closed"
        assert not b.eof(0.2), "a more recently used connection was closed"
        assert b.request("GET", "/hello.txt").status == 200
    finally:
        for c in (a, b, third):
            if c:
                c.close()


@pytest.mark.parametrize("workers", [2])
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_max_conns_bounds_all_workers_together(make_server, docroot, tls_files, tls):
    """--max-conns 2 with two workers, held by two idle keep-alive connections (one on each
    loop, which take connections in turn): the limit counts both loops, and a third client is
    still served at once, one idle connection (not both) giving up its slot for it."""
    if tls:
        port = limited_server(make_server, docroot, tls_files, 2)
    else:
        _, port = plain_server(make_server, docroot, "--max-conns", "2")
    conns = [dc.HttpConn("127.0.0.1", port, tls=tls) for _ in range(2)]
    try:
        for c in conns:
            assert c.request("GET", "/hello.txt").status == 200
        time.sleep(0.2)  # both acknowledged their responses: a reclaimed one closes at once
        start = time.monotonic()
        conns.append(dc.HttpConn("127.0.0.1", port, tls=tls, timeout=3))
        r = conns[2].request("GET", "/hello.txt")
        assert r.status == 200 and r.body == HELLO
        assert time.monotonic() - start < 2, "the third client waited for a slot"
        closed = [c.eof(1) for c in conns[:2]]
        assert closed.count(True) == 1, closed
        kept = conns[closed.index(False)]
        assert kept.request("GET", "/hello.txt").status == 200
        time.sleep(0.2)
        fourth = dc.HttpConn("127.0.0.1", port, tls=tls, timeout=5)  # full again: one gives way
        conns.append(fourth)
        assert fourth.request("GET", "/hello.txt").status == 200
    finally:
        for c in conns:
            c.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_max_conns_busy_connections_are_never_closed(make_server, docroot):
    """--max-conns 2 held by two clients in the middle of their heads: a third waits (neither
    is closed for it) until one of them finishes its request and turns idle; then the third
    takes that idle connection's slot."""
    _, port = plain_server(make_server, docroot, "--max-conns", "2")
    a = dc.HttpConn("127.0.0.1", port)
    b = dc.HttpConn("127.0.0.1", port)
    third = None
    try:
        for c in (a, b):
            c.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n")  # a slow, unfinished head
        time.sleep(0.2)
        third = dc.HttpConn("127.0.0.1", port, timeout=5)  # the kernel completes the handshake
        third.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        assert not third.eof(1.0) and not third.buf, "served beyond --max-conns 2"
        a.send(b"\r\n")
        r = a.read_response()
        assert r.status == 200 and r.body == HELLO  # a busy connection was not closed
        r = third.read_response()  # a turned idle: its slot goes to the waiting client
        assert r.status == 200 and r.body == HELLO
        assert a.eof(2)
        b.send(b"\r\n")
        assert b.read_response().status == 200
    finally:
        for c in (a, b, third):
            if c:
                c.close()


# --- abrupt clients ------------------------------------------------------------------------------

def test_client_reset_mid_download_server_survives(site):
    big = dc.HttpConn(site.host, site.http_port)
    big.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    big.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    big.sock.recv(1000)
    big.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    big.close()  # RST: the server's next write gets EPIPE/ECONNRESET, never SIGPIPE
    for _ in range(3):
        with dc.HttpConn(site.host, site.http_port) as c:
            assert c.request("GET", "/hello.txt").status == 200
    assert site.server.alive()


def test_client_closes_before_response(site):
    for _ in range(20):
        s = socket.create_connection((site.host, site.http_port))
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        s.close()
    with dc.HttpConn(site.host, site.http_port) as c:
        assert c.request("GET", "/hello.txt").status == 200
    assert site.server.alive()


def test_tls_client_reset_mid_download(site):
    big = dc.HttpConn(site.host, site.https_port, tls=True)
    big.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    big.sock.recv(1000)
    big.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    big.close()
    with dc.HttpConn(site.host, site.https_port, tls=True) as c:
        assert c.request("GET", "/hello.txt").status == 200
    assert site.server.alive()


def test_garbage_then_close(site):
    for junk in (b"\x00" * 100, b"\xff\xfe" * 50, b"\r\n" * 10, b"\x16\x03\x01\x00\x05hello"):
        with dc.HttpConn(site.host, site.http_port) as c:
            try:
                c.send(junk)
            except (BrokenPipeError, ConnectionResetError):
                pass
    with dc.HttpConn(site.host, site.http_port) as c:
        assert c.request("GET", "/hello.txt").status == 200
    assert site.server.alive()


@pytest.mark.parametrize("n", [100])
def test_many_concurrent_connections(site, n):
    conns = [dc.HttpConn(site.host, site.http_port) for _ in range(n)]
    try:
        for c in conns:
            c.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        for c in conns:
            assert c.read_response().body == HELLO
    finally:
        for c in conns:
            c.close()


def test_plain_http_uses_sendfile(site, world_tmp):
    """Plain HTTP bodies go out with sendfile(2): watch the server with strace."""
    import shutil
    import subprocess
    if not dc.is_root() or not shutil.which("strace"):
        pytest.skip("needs root and strace")
    trace = f"{world_tmp}/strace.out"
    tracer = subprocess.Popen(["strace", "-f", "-e", "trace=sendfile", "-o", trace,
                               "-p", str(site.server.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while dc.proc_status(site.server.pid).get("TracerPid", "0") == "0":
            assert time.monotonic() < deadline, "strace did not attach"
            time.sleep(0.02)
        with dc.HttpConn(site.host, site.http_port) as c:
            assert c.request("GET", "/big.bin").body == dc.DOCROOT_FILES["big.bin"]
    finally:
        tracer.terminate()
        tracer.wait(5)
    with open(trace) as f:
        calls = [l for l in f if "sendfile(" in l]
    assert calls, "no sendfile call while serving /big.bin over plain HTTP"
