"""HTTP/2 limits and the known attacks, each through a raw client (frames written by hand, HPACK
by python3-hpack): the server cuts the attacker off (RST_STREAM, GOAWAY, close) and then still
serves a normal client. Limits: h2.h (H2_MAX_STREAMS, H2_MAX_HEADER_LIST, H2_RESET_BURST,
H2_MAX_CONTINUATIONS, H2_MAX_OUTBOUND_ACK) and --keepalive-timeout as the write timeout.
"""

import socket
import struct
import time

import pytest

import dropcap_fixture as dc

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0, 1, 3, 4, 6, 7, 8, 9)
END_STREAM, END_HEADERS = 1, 4
PROTOCOL_ERROR, INTERNAL_ERROR, CANCEL, REFUSED_STREAM, ENHANCE_YOUR_CALM = 1, 2, 8, 7, 11


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + \
        struct.pack(">I", stream) + payload


def request_block(path="/hello.txt", extra=()):
    import hpack

    return hpack.Encoder().encode([(":method", "GET"), (":scheme", "https"),
                                   (":path", path), (":authority", "localhost"), *extra])


class Raw:
    """A TLS connection that negotiated h2 and sent the preface and an empty SETTINGS."""

    def __init__(self, port, rcvbuf=None, settings=b"", timeout=10.0):
        s = socket.socket()
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        self.sock = dc.client_context(alpn=["h2"]).wrap_socket(s, server_hostname="localhost")
        assert self.sock.selected_alpn_protocol() == "h2"
        self.buf = bytearray()
        self.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(SETTINGS, 0, 0, settings))

    def send(self, data):
        """Sends data; False when the server closed the connection meanwhile."""
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise  # the server stopped reading: never taken for being cut off
        except OSError:  # reset, broken pipe, TLS EOF
            return False
        return True

    def frames(self):
        """Frames as (type, flags, stream, payload) until the server closes (then returns)."""
        while True:
            while len(self.buf) >= 9 and len(self.buf) >= 9 + int.from_bytes(self.buf[:3], "big"):
                n = int.from_bytes(self.buf[:3], "big")
                f = (self.buf[3], self.buf[4], int.from_bytes(self.buf[5:9], "big") & 0x7fffffff,
                     bytes(self.buf[9:9 + n]))
                del self.buf[:9 + n]
                if f[0] == SETTINGS and not f[1] & 1:
                    self.send(frame(SETTINGS, 1, 0))  # ack the server's
                yield f
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                raise
            except OSError:  # reset, or TLS EOF without close_notify
                return
            if not data:
                return
            self.buf += data

    def until(self, pred):
        """The first frame pred accepts; None when the connection closed before it."""
        for f in self.frames():
            if pred(f):
                return f
        return None

    def goaway(self):
        f = self.until(lambda f: f[0] == GOAWAY)
        return None if f is None else struct.unpack(">II", f[3][:8])[1]

    def closed(self):
        """Reads until the server closes the connection; True when it did."""
        for _ in self.frames():
            pass
        return True

    def close(self):
        self.sock.close()


@pytest.fixture
def h2srv(make_server, docroot, tls_files):
    port = dc.free_port()
    s = make_server(["--root", docroot, "--http", "off", "--https", f"127.0.0.1:{port}",
                     "--cert", tls_files.ec_cert, "--key", tls_files.ec_key,
                     "--keepalive-timeout", "2"])
    return s, port


def still_serves(port):
    with dc.H2Conn("127.0.0.1", port) as c:
        r = c.request("GET", "/hello.txt")
        assert r.status == 200 and r.body == b"hello world\n"
    return True


def test_settings_advertise_the_limits(h2srv):
    """The server's SETTINGS say MAX_CONCURRENT_STREAMS 100 and MAX_HEADER_LIST_SIZE 16384."""
    _, port = h2srv
    c = Raw(port)
    f = c.until(lambda f: f[0] == SETTINGS and not f[1] & 1)
    got = dict(struct.unpack(">HI", f[3][i:i + 6]) for i in range(0, len(f[3]), 6))
    assert got[3] == 100 and got[6] == 16384, got
    c.close()


def test_stream_beyond_max_concurrent_is_refused(h2srv):
    """100 streams whose responses the client's closed window holds open are answered (their
    HEADERS); a 101st is refused (RST_STREAM REFUSED_STREAM, or a PROTOCOL_ERROR GOAWAY)."""
    _, port = h2srv
    c = Raw(port, settings=struct.pack(">HI", 4, 0))  # INITIAL_WINDOW_SIZE 0
    c.until(lambda f: f[0] == SETTINGS and f[1] & 1)  # our SETTINGS took effect
    block = request_block("/big.bin")
    c.send(b"".join(frame(HEADERS, END_STREAM | END_HEADERS, 2 * i + 1, block)
                    for i in range(100)))
    heads, refused = set(), None
    while len(heads) < 100:
        f = c.until(lambda f: f[0] in (HEADERS, RST_STREAM, GOAWAY))
        assert f and f[0] == HEADERS, f
        heads.add(f[2])
    c.send(frame(HEADERS, END_STREAM | END_HEADERS, 201, block))
    f = c.until(lambda f: f[0] in (RST_STREAM, GOAWAY))
    refused = struct.unpack(">I", f[3][-4:] if f[0] == RST_STREAM else f[3][4:8])[0]
    assert refused in (REFUSED_STREAM, PROTOCOL_ERROR), refused
    assert heads == {2 * i + 1 for i in range(100)}
    c.close()
    assert still_serves(port)


def test_header_list_over_16k_gets_431(h2srv):
    """A request whose header list is over 16 KiB (two CONTINUATIONs' worth) gets 431, and the
    same connection then serves a normal request."""
    _, port = h2srv
    with dc.H2Conn("127.0.0.1", port) as c:
        r = c.request("GET", "/hello.txt", headers={f"x-pad{i}": "a" * 1000 for i in range(20)})
        assert r.status == 431
        assert c.request("GET", "/hello.txt").status == 200


def test_hpack_bomb_is_refused(h2srv):
    """HPACK bomb: one 4,000-byte field put in the dynamic table, then referenced 5,000 times by
    one-byte indexes (20 MB decoded from 9 KB): the stream gets 431 after 16 KiB of fields, the
    server neither keeps nor grows by them, and serves the next client."""
    s, port = h2srv
    c = Raw(port)
    block = (b"\x82\x87\x84\x01\x09localhost"  # GET https / :authority localhost
             + b"\x40\x06x-bomb\x7f\xa1\x1e" + b"a" * 4000  # literal, indexed as 62
             + b"\xbe" * 5000)
    c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, block))
    f = c.until(lambda f: f[0] in (HEADERS, RST_STREAM, GOAWAY) and f[2] in (0, 1))
    assert f[0] == HEADERS, f
    import hpack

    status = dict(hpack.Decoder().decode(f[3]))[":status"]
    assert status == "431", status
    c.close()
    rss = int(open(f"/proc/{s.pid}/status").read().split("VmRSS:")[1].split()[0])
    assert rss < 200 * 1024, f"RSS {rss} KiB after the bomb"
    assert still_serves(port)


def test_rapid_reset_is_cut_off(h2srv):
    """CVE-2023-44487: a client opening and cancelling streams in a loop (500 pairs, beyond the
    burst of 200 resets; nghttp2's default burst is 1,000) gets GOAWAY and the connection
    closes; others are served."""
    _, port = h2srv
    c = Raw(port)
    block = request_block()
    for i in range(500):
        sid = 2 * i + 1
        if not c.send(frame(HEADERS, END_STREAM | END_HEADERS, sid, block) +
                      frame(RST_STREAM, 0, sid, struct.pack(">I", CANCEL))):
            break  # cut off while still sending
    # nghttp2 (1.52 with Debian's backport) ends the session with INTERNAL_ERROR; an idle
    # timeout's GOAWAY would say NO_ERROR
    assert c.goaway() == INTERNAL_ERROR
    assert c.closed()
    assert still_serves(port)


def test_continuation_flood_is_cut_off(h2srv):
    """CVE-2024-27316 class: HEADERS without END_HEADERS, then CONTINUATION frames without end:
    after 8 of them the session ends (GOAWAY, close); nothing was answered."""
    _, port = h2srv
    c = Raw(port)
    c.until(lambda f: f[0] == SETTINGS and not f[1] & 1)  # acked now: nothing comes between
    c.send(frame(HEADERS, END_STREAM, 1, request_block()))
    for i in range(200):
        if not c.send(frame(CONTINUATION, 0, 1, b"\x40\x03x-c\x05aaaaa")):
            break
    got = [f for f in c.frames()]  # until the server closes
    assert not [f for f in got if f[0] == HEADERS], "the request was answered"
    # the session ends at once, without a GOAWAY or with an error one (never the idle
    # timeout's NO_ERROR, nor a reset of the stream by the write timeout)
    assert not [f for f in got if f[0] == RST_STREAM], got
    assert all(struct.unpack(">II", f[3][:8])[1] != 0 for f in got if f[0] == GOAWAY), got
    assert still_serves(port)


@pytest.mark.parametrize("kind", ["settings", "ping"])
def test_control_frame_flood_is_cut_off(h2srv, kind):
    """SETTINGS or PING flood (CVE-2019-9512/9515), 200,000 frames from a client that reads
    slowly (a tiny receive buffer): beyond a burst of 1,000 (then 100 a second) the server
    sends GOAWAY ENHANCE_YOUR_CALM and closes, long before acknowledging them all; a normal
    client is served after."""
    _, port = h2srv
    c = Raw(port, rcvbuf=4096)
    one = frame(SETTINGS, 0, 0) if kind == "settings" else frame(PING, 0, 0, b"12345678")
    for _ in range(400):
        if not c.send(one * 500):
            break  # cut off while still sending
    acks, goaway = 0, None
    for f in c.frames():  # until the server closes
        acks += f[0] in (SETTINGS, PING) and f[1] & 1
        if f[0] == GOAWAY:
            goaway = struct.unpack(">II", f[3][:8])[1]
    # the GOAWAY may be lost behind the acknowledgements still queued when the connection
    # closes; never the idle timeout's NO_ERROR one
    assert goaway in (None, ENHANCE_YOUR_CALM), goaway
    assert acks < 200000
    assert still_serves(port)
    c.close()


def test_stream_whose_window_never_opens_is_reset_by_the_write_timeout(h2srv):
    """A client with a zero window asks for a file and keeps the connection busy with PINGs:
    the stream gets nothing, so after --keepalive-timeout (2 s) it is reset (CANCEL) and the
    idle session then ends with GOAWAY."""
    s, port = h2srv
    c = Raw(port, settings=struct.pack(">HI", 4, 0))
    c.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, request_block("/big.bin")))
    deadline = time.monotonic() + 30
    reset = None
    while reset is None and time.monotonic() < deadline:
        c.send(frame(PING, 0, 0, b"keepbusy"))
        c.sock.settimeout(0.5)
        try:
            for f in c.frames():
                if f[0] == RST_STREAM and f[2] == 1:
                    reset = struct.unpack(">I", f[3])[0]
                    break
                assert f[0] != DATA, "DATA sent into a zero window"
        except socket.timeout:
            pass
    assert reset == CANCEL
    c.sock.settimeout(30)
    assert c.goaway() == 0
    assert still_serves(port)
    s.wait_stdout('"GET /big.bin HTTP/2.0" 200 - ')


def test_request_body_is_not_read_after_the_405(h2srv):
    """A POST whose body never ends: the 405 is sent, then RST_STREAM NO_ERROR asks the client
    to stop sending (RFC 9113 8.1), instead of reading its body until the timeout."""
    _, port = h2srv
    c = Raw(port)
    c.send(frame(HEADERS, END_HEADERS, 1, request_block("/hello.txt").replace(b"\x82", b"\x83", 1)))
    c.send(frame(DATA, 0, 1, b"x" * 1000))
    f = c.until(lambda f: f[0] == RST_STREAM and f[2] == 1)
    assert struct.unpack(">I", f[3])[0] == 0  # NO_ERROR
    c.close()
    assert still_serves(port)
