"""Lingering close: a connection closed with request bytes still unread must not lose its
response to a TCP RST. The server shuts its write side (TLS: close_notify first), drains the
input for a bounded time and size, and only then closes (issue 8, finding 2)."""

import signal
import socket
import time

import pytest

import dropcap_fixture as dc

BIG = dc.DOCROOT_FILES["big.bin"]  # 1 MiB: far more than the socket buffers hold at once
JUNK = b"x" * (64 << 10)  # more than one read of the 8 KiB head buffer: left in the kernel


def read_until_end(sock):
    """Everything the peer sends, and how the stream ended: 'FIN' or the error it ended with."""
    out = bytearray()
    while True:
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError) as e:
            return bytes(out), f"RST ({e.__class__.__name__})"
        except OSError as e:  # ssl: a reset shows up as an SSLError
            return bytes(out), f"error {e!r}"
        if not data:
            return bytes(out), "FIN"
        out += data


def split_response(raw):
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"no complete head in {len(raw)} bytes: {raw[:80]!r}"
    return head.decode("latin-1"), body


def fetch_late(host, port, tls, request, delay=0.5):
    """Sends request (head plus bytes the server never reads), waits before reading, then
    reads the whole stream; returns (head, body, how it ended)."""
    c = dc.HttpConn(host, port, tls=tls, timeout=15)
    try:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        c.send(request)
        time.sleep(delay)  # the server finishes writing and closes while we do not read
        raw, end = read_until_end(c.sock)
    finally:
        c.close()
    head, body = split_response(raw)
    return head, body, end


CASES = {
    "get-with-body": b"GET /big.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                     % len(JUNK) + JUNK,
    "connection-close-then-bytes": b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                                   + JUNK,
    "http10-then-bytes": b"GET /big.bin HTTP/1.0\r\n\r\n" + JUNK,
}


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_unread_input_does_not_cut_the_response(site, case, tls):
    """Before the fix close() with the body unread sent RST and the client got a truncated
    file; now the whole 1 MiB arrives and the connection ends with FIN."""
    port = site.https_port if tls else site.http_port
    head, body, end = fetch_late(site.host, port, tls, CASES[case])
    assert head.startswith(("HTTP/1.1 200", "HTTP/1.0 200")), head
    assert len(body) == len(BIG), f"{len(body)} of {len(BIG)} bytes, then {end}"
    assert body == BIG
    assert end == "FIN", end


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_error_page_after_bad_head_survives_unread_input(site, tls):
    """A head that fails to parse is answered (400) and the page is not lost to a RST."""
    port = site.https_port if tls else site.http_port
    head, body, end = fetch_late(site.host, port, tls, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"
                                 + JUNK, delay=0.3)
    assert head.startswith("HTTP/1.1 400"), head
    assert b"400" in body and end == "FIN", (body[:80], end)


def big_site(make_server, tls_files, *extra):
    http, https = dc.free_port(), dc.free_port()
    s = make_server(["--root", dc.make_docroot(dc.world_tmpdir("dropcap-linger-")),
                     "--http", f"127.0.0.1:{http}", "--https", f"127.0.0.1:{https}",
                     "--cert", tls_files.ec_cert, "--key", tls_files.ec_key, *extra])
    return s, http, https


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_drain_close_keeps_the_response(make_server, tls_files, tls):
    """SIGTERM while a keep-alive response is in flight and the client has sent its next
    request (unread): the drain closes the connection after the response, without a RST."""
    s, http, https = big_site(make_server, tls_files)
    c = dc.HttpConn("127.0.0.1", https if tls else http, tls=tls, timeout=15)
    try:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        c.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        first = c.sock.recv(100)  # the response has started: the server is writing
        # the next request, with a body, unread while the server writes
        c.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
               % len(JUNK) + JUNK)
        s.signal(signal.SIGTERM)
        time.sleep(0.5)
        raw, end = read_until_end(c.sock)
    finally:
        c.close()
    head, rest = split_response(first + raw)
    assert head.startswith("HTTP/1.1 200"), head
    body, rest = rest[:len(BIG)], rest[len(BIG):]
    assert len(body) == len(BIG) and body == BIG, f"{len(body)} of {len(BIG)} bytes, then {end}"
    if rest:  # the next request was read before the signal: answered, then the close
        head2, body2 = split_response(rest)
        assert head2.startswith("HTTP/1.1 200"), head2
        assert body2 == dc.DOCROOT_FILES["hello.txt"]
    assert end == "FIN", end
    assert s.wait(10) == 0, s.stderr_text()


def wait_sockets(pid, want, timeout):
    """Seconds until the server holds `want` sockets (listeners included); fails after timeout."""
    start = time.monotonic()
    while dc.socket_count(pid) != want:
        assert time.monotonic() - start < timeout, \
            f"server still holds {dc.socket_count(pid)} sockets after {timeout} s (want {want})"
        time.sleep(0.05)
    return time.monotonic() - start


# A GET that declares a body the server never reads: its connection always lingers.
WITH_BODY = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde"


def answered(c):
    r = c.read_response()
    assert r.status == 200 and r.body == dc.DOCROOT_FILES["hello.txt"]
    assert c.eof(3)  # FIN from the server's shutdown(SHUT_WR)


def test_linger_ends_when_the_client_closes(site):
    """A client that reads to EOF and closes: the lingering connection ends at once."""
    base = dc.socket_count(site.server.pid)
    with dc.HttpConn(site.host, site.http_port) as c:
        c.send(WITH_BODY)
        answered(c)
    assert wait_sockets(site.server.pid, base, 1.5) < 1.5


def test_plain_connection_close_closes_at_once(site):
    """The fast path: Connection: close, no body, nothing more sent. Nothing can be unread,
    so the server closes without lingering even while the client keeps its end open."""
    base = dc.socket_count(site.server.pid)
    with dc.HttpConn(site.host, site.http_port) as c:
        r = c.request("GET", "/hello.txt", headers={"Connection": "close"})
        assert r.status == 200 and c.eof(3)
        assert wait_sockets(site.server.pid, base, 1.5) < 1.0


def test_linger_is_bounded_for_a_silent_client(make_server, tls_files):
    """A client that neither closes nor sends: the server closes its side after 2 s of
    silence, not at the keep-alive or header timeout."""
    s, http, _ = big_site(make_server, tls_files, "--keepalive-timeout", "30",
                          "--header-timeout", "30")
    base = dc.socket_count(s.pid)
    c = dc.HttpConn("127.0.0.1", http)
    try:
        c.send(WITH_BODY)
        answered(c)
        took = wait_sockets(s.pid, base, 6)
        assert took >= 1.0, f"closed after {took:.2f} s: it did not linger"
    finally:
        c.close()


def test_linger_is_bounded_for_a_client_that_keeps_sending(make_server, tls_files):
    """A client that sends without pause after its response: the server stops draining after
    a bounded number of bytes and closes (reset), long before the time bound."""
    s, http, _ = big_site(make_server, tls_files)
    c = dc.HttpConn("127.0.0.1", http)
    sent = 0
    try:
        c.send(WITH_BODY)
        answered(c)
        start = time.monotonic()
        with pytest.raises((ConnectionResetError, BrokenPipeError)):
            while time.monotonic() - start < 8:
                c.sock.sendall(JUNK)
                sent += len(JUNK)
        took = time.monotonic() - start
    finally:
        c.close()
    assert took < 5, f"still draining after {took:.1f} s and {sent} bytes"
    assert sent < 64 << 20, f"drained {sent} bytes"
