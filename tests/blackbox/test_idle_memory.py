"""Idle keep-alive TLS connections give their record buffers' pages back (issue 11), and a
connection whose pages were given back serves its next requests intact: the next request on
each, pipelined requests, large responses, a record cut in two across an idle pause. And the
records the server reads ahead of mbedTLS's asking (one recv per record) arrive whole."""

import os
import socket
import ssl
import time

import pytest

import dropcap_fixture as dc
import idle_memory

SANITIZED = bool(os.environ.get("DROPCAP_SANITIZED"))
HELLO = dc.DOCROOT_FILES["hello.txt"]
BIG = dc.DOCROOT_FILES["big.bin"]
PAGE = dc.DOCROOT_FILES["page.html"]

# mbedTLS 2.28 holds two ~16.7 KiB record buffers per session, all resident: 34 KiB per idle
# connection before the pages were given back, about 12 KiB after (tests/idle_memory.py).
MAX_KIB_PER_IDLE_CONN = 24


def start_tls(make_server, docroot, tls_files, *extra):
    port = dc.free_port()
    s = make_server(["--root", docroot, "--https", f"127.0.0.1:{port}", "--http", "off",
                     "--cert", tls_files.ec_cert, "--key", tls_files.ec_key,
                     "--access-log", "off", *extra])
    return s, port


@pytest.fixture
def tls_server(make_server, docroot, tls_files):
    return start_tls(make_server, docroot, tls_files)


@pytest.mark.skipif(SANITIZED, reason="ASan's allocator and quarantine: RSS says nothing there")
def test_idle_tls_connection_costs_under_24_kib(tls_server):
    s, port = tls_server
    idle_memory.close_all(idle_memory.open_idle("127.0.0.1", port, 1, path="/hello.txt"))
    before, after, conns = idle_memory.measure_idle(s.pid, "127.0.0.1", port, 300,
                                                    path="/hello.txt")
    try:
        per_conn = (after - before) / len(conns)
        assert per_conn < MAX_KIB_PER_IDLE_CONN, (
            f"{per_conn:.1f} KiB of RSS per idle TLS connection ({before} -> {after} KiB "
            f"with {len(conns)})")
    finally:
        idle_memory.close_all(conns)


@pytest.mark.skipif(SANITIZED, reason="ASan's allocator and quarantine: RSS says nothing there")
def test_silent_tls_connections_give_their_pages_back(make_server, docroot, tls_files):
    """Clients that connect and say nothing: 150 send no ClientHello, 150 complete the
    handshake and send no request (the idle TLS flood of tests/hostile). They are not idle
    keep-alive connections, so the server's periodic sweep (every 5 s) lets them give back
    their record buffers' pages; before, each cost ~35 KiB for as long as it stayed. (A long
    --header-timeout: none of them is closed meanwhile.)"""
    s, port = start_tls(make_server, docroot, tls_files, "--header-timeout", "120")
    idle_memory.close_all(idle_memory.open_idle("127.0.0.1", port, 1, path="/hello.txt"))
    before = idle_memory.settle(s.pid)
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(150)]
    ctx = dc.client_context()
    socks += [ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                              server_hostname="localhost") for _ in range(150)]
    try:
        deadline, per_conn = time.monotonic() + 20, None  # two sweeps, with room to spare
        while time.monotonic() < deadline:
            per_conn = (idle_memory.rss_kib(s.pid) - before) / len(socks)
            if per_conn < MAX_KIB_PER_IDLE_CONN:
                break
            time.sleep(0.5)
        assert per_conn < MAX_KIB_PER_IDLE_CONN, (
            f"{per_conn:.1f} KiB of RSS per silent TLS connection after 20 s")
        for i in range(10):  # the silent ones still make a handshake
            socks[i] = ctx.wrap_socket(socks[i], server_hostname="localhost")
        for k in socks[:10] + socks[150:]:  # and serve
            k.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        for k in socks[:10] + socks[150:]:
            assert k.recv(65536).startswith(b"HTTP/1.1 200 ")
    finally:
        for k in socks:
            k.close()


def pipelined(*paths, pad=0):
    """One write of GET requests, each with an X-Pad field of pad bytes."""
    extra = b"X-Pad: %s\r\n" % (b"p" * pad) if pad else b""
    return b"".join(b"GET %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n" % (p, extra)
                    for p in paths)


def test_requests_after_the_pages_were_given_back_are_intact(tls_server):
    """Each connection first fills both record buffers (a 1 MiB response, a 12 KiB request),
    goes idle (its pages go back), then serves: a small request, a large response, pipelined
    requests in one write. 12 connections: the buffers lie at different page offsets."""
    _, port = tls_server
    conns = [dc.HttpConn("127.0.0.1", port, tls=True, timeout=10) for _ in range(12)]
    try:
        for c in conns:
            r = c.request("GET", "/big.bin", headers={"X-Pad": "q" * 12000})
            assert r.status == 200 and r.body == BIG
        for c in conns:
            r = c.request("GET", "/hello.txt")
            assert r.status == 200 and r.body == HELLO
        for c in conns:
            r = c.request("GET", "/big.bin")
            assert r.status == 200 and r.body == BIG
        for c in conns:
            c.send(pipelined(b"/hello.txt", b"/big.bin", b"/page.html"))
            bodies = [c.read_response().body for _ in range(3)]
            assert bodies == [HELLO, BIG, PAGE]
    finally:
        for c in conns:
            c.close()


def test_pipelined_batch_larger_than_a_record_after_idle(tls_server):
    """Six 5 KiB requests in one write (two TLS records, more than the 16 KiB head buffer
    holds at once: mbedTLS keeps decrypted input between reads) on a connection that was idle."""
    _, port = tls_server
    with dc.HttpConn("127.0.0.1", port, tls=True, timeout=10) as c:
        assert c.request("GET", "/big.bin").body == BIG
        c.send(pipelined(*[b"/hello.txt", b"/big.bin"] * 3, pad=5000))
        bodies = [c.read_response().body for _ in range(6)]
        assert bodies == [HELLO, BIG] * 3
        assert c.request("GET", "/page.html").body == PAGE


class RecordConn(dc.HttpConn):
    """TLS through memory BIOs over a plain socket, so that the test decides how the bytes of
    a record are cut into TCP writes."""

    def __init__(self, host, port, timeout=10.0):
        super().__init__(host, port, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = dc.client_context().wrap_bio(self.incoming, self.outgoing,
                                                server_hostname="localhost")
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._pump()
        self.sock.sendall(self.outgoing.read())

    def _pump(self):
        self.sock.sendall(self.outgoing.read())
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed by the server")
        self.incoming.write(data)

    def _fill(self):
        while True:
            try:
                self.buf += self.tls.read(65536)
                return
            except ssl.SSLWantReadError:
                self._pump()

    def send(self, data):
        self.tls.write(data)
        self.sock.sendall(self.outgoing.read())

    def send_cut(self, data, cut, pause=0.3):
        """data as TLS records whose bytes leave in two writes, the first cut bytes, then the
        rest after pause (the server has meanwhile read part of a record and waits)."""
        self.tls.write(data)
        wire = self.outgoing.read()
        self.sock.sendall(wire[:cut])
        time.sleep(pause)
        self.sock.sendall(wire[cut:])


def test_record_cut_across_an_idle_pause_is_kept(tls_server):
    """An idle connection receives 10,000 bytes of a 12 KiB record, then the rest: the part
    already received lies in pages that an idle connection gives back, so they must stay
    while a record is incomplete (mbedTLS's in_left), or the record fails its MAC."""
    _, port = tls_server
    with RecordConn("127.0.0.1", port) as c:
        for _ in range(3):
            c.send(pipelined(b"/big.bin"))
            assert c.read_response().body == BIG  # both buffers written through, then idle
            c.send_cut(pipelined(b"/hello.txt", pad=12000), cut=10000)
            r = c.read_response()
            assert r.status == 200 and r.body == HELLO


def test_records_coalesced_and_cut_mid_header(tls_server):
    """Three requests, each its own TLS record, leave in writes cut inside the second record's
    5-byte header and inside the third's body: the server reads ahead of what mbedTLS asks
    for (one recv per record, not two) and must hand each record over whole, in order."""
    _, port = tls_server
    with RecordConn("127.0.0.1", port) as c:
        records = []
        for path in (b"/hello.txt", b"/big.bin", b"/page.html"):
            c.tls.write(pipelined(path))
            records.append(c.outgoing.read())
        wire = b"".join(records)
        first, second = len(records[0]), len(records[1])
        cuts = [first + 3, first + second + 20]
        c.sock.sendall(wire[:cuts[0]])
        time.sleep(0.2)
        c.sock.sendall(wire[cuts[0]:cuts[1]])
        time.sleep(0.2)
        c.sock.sendall(wire[cuts[1]:])
        assert [c.read_response().body for _ in range(3)] == [HELLO, BIG, PAGE]
        assert c.request("GET", "/hello.txt").body == HELLO


def test_records_cut_at_random_points_arrive_whole(tls_server):
    """40 requests, each its own TLS record (some padded past a page), leave in 25 writes cut
    at random points (seeded): whatever a recv brings (half a header, several records), each
    record reaches mbedTLS whole and in order."""
    import random

    _, port = tls_server
    rnd = random.Random(11)
    paths = [rnd.choice([b"/hello.txt", b"/page.html", b"/notes.txt"]) for _ in range(40)]
    with RecordConn("127.0.0.1", port) as c:
        wire = b""
        for p in paths:
            c.tls.write(pipelined(p, pad=rnd.choice([0, 100, 6000])))
            wire += c.outgoing.read()
        cuts = sorted(rnd.sample(range(1, len(wire)), 24)) + [len(wire)]
        start = 0
        for end in cuts:
            c.sock.sendall(wire[start:end])
            start = end
            time.sleep(0.01)
        bodies = [c.read_response().body for _ in paths]
    want = {b"/hello.txt": HELLO, b"/page.html": PAGE,
            b"/notes.txt": dc.DOCROOT_FILES["notes.txt"]}
    assert bodies == [want[p] for p in paths]


# An idle HTTP/2 session keeps nghttp2's own state (its 16 KiB outbound frame buffer, HPACK
# tables): 52 KiB per idle connection while the TLS record buffers stayed resident, 29 after.
MAX_KIB_PER_IDLE_H2_CONN = 40


@pytest.mark.skipif(SANITIZED, reason="ASan's allocator and quarantine: RSS says nothing there")
def test_idle_h2_connection_gives_its_record_pages_back_and_serves_on(tls_server):
    """HTTP/2 connections with no stream open are idle like keep-alive ones: their buffers and
    the TLS record buffers' pages go back; each still serves its next stream."""
    s, port = tls_server
    with dc.H2Conn("127.0.0.1", port) as c:
        assert c.request("GET", "/hello.txt").body == HELLO
    before = idle_memory.settle(s.pid)
    conns = []
    try:
        for _ in range(300):
            c = dc.H2Conn("127.0.0.1", port, timeout=10)
            conns.append(c)
            assert c.request("GET", "/hello.txt").body == HELLO
        per_conn = (idle_memory.settle(s.pid) - before) / len(conns)
        assert per_conn < MAX_KIB_PER_IDLE_H2_CONN, (
            f"{per_conn:.1f} KiB of RSS per idle HTTP/2 connection")
        for c in conns[:20]:
            assert c.request("GET", "/big.bin").body == BIG
            assert c.request("GET", "/page.html").body == PAGE
    finally:
        for c in conns:
            c.close()
