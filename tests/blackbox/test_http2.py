"""HTTP/2 (ALPN h2, libnghttp2): real clients (curl --http2, nghttp, h2load, Python h2) get the
same answers as over HTTP/1.1, one connection carries many streams, --no-http2 turns it off,
graceful stop sends GOAWAY and finishes the streams in flight. The attacks are in
test_http2_attacks.py; the feature tests run over both protocols (conftest over_both_protocols).
"""

import os
import re
import signal
import struct
import subprocess

import pytest

import dropcap_fixture as dc

BIG = dc.DOCROOT_FILES["big.bin"]


def curl(*args):
    r = subprocess.run(["curl", "-sS", "-k", "--max-time", "10", *args], capture_output=True,
                       timeout=20)
    assert r.returncode == 0, r.stderr
    return r.stdout


def log_lines(server):
    return [line for line in server.stdout_text().splitlines() if '"' in line]


def test_alpn_offers_h2_then_http11(site):
    """A client offering both gets h2; one offering only http/1.1 gets it (same port)."""
    for offer, want in ((["h2", "http/1.1"], "h2"), (["http/1.1", "h2"], "h2"),
                        (["http/1.1"], "http/1.1")):
        with dc.HttpConn(site.host, site.https_port, tls=True,
                         context=dc.client_context(alpn=offer)) as c:
            assert c.sock.selected_alpn_protocol() == want, offer


def test_curl_http2_get_and_big_file(site):
    """curl --http2 speaks h2 and gets the same bytes (a file larger than the windows)."""
    out = curl("--http2", "-D", "-", "-o", "/dev/null", site.url("/hello.txt", tls=True))
    assert out.startswith(b"HTTP/2 200"), out
    assert b"content-length: 12" in out.lower()
    assert curl("--http2", site.url("/big.bin", tls=True)) == BIG


def test_nghttp_many_streams_on_one_connection(site):
    """nghttp sends every URI on one connection; each stream gets its file (200)."""
    paths = ["/hello.txt", "/style.css", "/app.js", "/data.json", "/big.bin", "/missing"]
    r = subprocess.run(["nghttp", "-nv", *[site.url(p, tls=True) for p in paths]],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    statuses = re.findall(r"recv \(stream_id=\d+\) :status: (\d+)", r.stdout)
    assert sorted(statuses) == sorted(["200"] * 5 + ["404"]), r.stdout
    assert r.stdout.count("recv SETTINGS frame") >= 1


def test_h2load_reports_h2_and_no_failures(site):
    """h2load over 2 connections x 10 streams: Application protocol h2, every request 2xx."""
    r = subprocess.run(["h2load", "-n", "200", "-c", "2", "-m", "10",
                        site.url("/hello.txt", tls=True)],
                       capture_output=True, text=True, timeout=60)
    assert "Application protocol: h2" in r.stdout, r.stdout
    assert re.search(r"requests: 200 total, 200 started, 200 done, 200 succeeded", r.stdout)
    assert "status codes: 200 2xx, 0 3xx, 0 4xx, 0 5xx" in r.stdout


def test_python_h2_keeps_one_connection_and_logs_http2(make_server, docroot, tls_files):
    """Several requests on one h2 connection, each logged as HTTP/2.0 with its status and
    bytes; a 404 and a 405 come back as over HTTP/1.1."""
    port = dc.free_port()
    s = make_server(["--root", docroot, "--http", "off", "--https", f"127.0.0.1:{port}",
                     "--cert", tls_files.ec_cert, "--key", tls_files.ec_key])
    with dc.H2Conn("127.0.0.1", port) as c:
        assert c.request("GET", "/hello.txt").body == b"hello world\n"
        assert c.request("GET", "/nope").status == 404
        r = c.request("POST", "/hello.txt", body=b"x=1")
        assert r.status == 405 and r.header("allow") == "GET, HEAD"
        assert c.request("HEAD", "/hello.txt").body == b""
    s.wait_stdout('"HEAD /hello.txt HTTP/2.0" 200')
    lines = log_lines(s)
    assert any('"GET /hello.txt HTTP/2.0" 200 12 ' in x for x in lines), lines
    assert any('"GET /nope HTTP/2.0" 404 ' in x for x in lines), lines


def test_no_http2_offers_only_http11(make_server, docroot, tls_files):
    """--no-http2: ALPN answers http/1.1 to a client offering h2 first; curl falls back."""
    port = dc.free_port()
    make_server(["--root", docroot, "--http", "off", "--https", f"127.0.0.1:{port}",
                 "--cert", tls_files.ec_cert, "--key", tls_files.ec_key, "--no-http2"])
    with dc.HttpConn("127.0.0.1", port, tls=True,
                     context=dc.client_context(alpn=["h2", "http/1.1"])) as c:
        assert c.sock.selected_alpn_protocol() == "http/1.1"
    out = curl("--http2", "-D", "-", "-o", "/dev/null", f"https://localhost:{port}/hello.txt")
    assert out.startswith(b"HTTP/1.1 200"), out


def h2_server(make_server, docroot, tls_files, *extra):
    port = dc.free_port()
    s = make_server(["--root", docroot, "--http", "off", "--https", f"127.0.0.1:{port}",
                     "--cert", tls_files.ec_cert, "--key", tls_files.ec_key, *extra])
    return port, s


def stream_held_by_its_window(c):
    """GET /big.bin on c, read until the default window (65,535 bytes) stops the server: the
    stream is mid-body. Returns (its id, the body so far)."""
    import h2.events as ev

    sid = c.send_headers("GET", "/big.bin")
    body = bytearray()
    while len(body) < 65535:
        for e in c.events():
            if isinstance(e, ev.DataReceived):
                body += e.data
    return sid, body


def wait_goaway(c):
    import h2.events as ev

    while True:
        for e in c.events():
            if isinstance(e, ev.ConnectionTerminated):
                return e


def finish_raw(c, sid):
    """Opens the windows and returns the rest of stream sid's body. python-h2 sends nothing
    after a GOAWAY: the WINDOW_UPDATEs and the rest of the DATA frames go raw."""
    for stream in (0, sid):
        c.sock.sendall(struct.pack(">I", 4)[1:] + b"\x08\x00" + struct.pack(">II", stream,
                                                                           len(BIG)))
    raw, body, ended = bytearray(), bytearray(), False
    while not ended:
        while len(raw) < 9 or len(raw) < 9 + int.from_bytes(raw[:3], "big"):
            data = c.sock.recv(65536)
            assert data, "closed before the stream ended"
            raw += data
        n, kind, flags = int.from_bytes(raw[:3], "big"), raw[3], raw[4]
        if kind == 0 and int.from_bytes(raw[5:9], "big") == sid:  # DATA
            body += raw[9:9 + n]
            ended = bool(flags & 1)
        del raw[:9 + n]
    return body


def test_sigterm_sends_goaway_and_finishes_the_stream_in_flight(make_server, docroot,
                                                                tls_files):
    """A stream is mid-body (the client's window holds it) when SIGTERM comes: the server sends
    GOAWAY, the client opens its window and receives the whole file, then the server exits."""
    port, s = h2_server(make_server, docroot, tls_files)
    c = dc.H2Conn("127.0.0.1", port, timeout=10)
    sid, body = stream_held_by_its_window(c)
    s.signal(signal.SIGTERM)
    goaway = wait_goaway(c)
    assert goaway.error_code == 0 and goaway.last_stream_id >= sid
    body += finish_raw(c, sid)
    c.close()
    assert bytes(body) == BIG
    assert s.wait(10) == 0


def test_chromium_loads_a_30_asset_page_over_one_h2_connection(make_server, world_tmp,
                                                              tls_files):
    """Headless Chromium loads a page with 10 stylesheets, 10 scripts and 10 images: the JSON
    access log shows the 31 requests as HTTP/2.0 streams from one client port, that is one
    connection (over HTTP/1.1 a browser opens up to 6)."""
    import json
    import shutil
    import tempfile

    chromium = shutil.which("chromium")
    if not chromium:
        pytest.skip("chromium is not installed (scripts/deps.sh test)")
    root = os.path.join(world_tmp, "www")
    os.makedirs(root)
    assets = [f"s{i}.css" for i in range(10)] + [f"j{i}.js" for i in range(10)] + \
        [f"i{i}.svg" for i in range(10)]
    page = ["<!doctype html><title>30 assets</title>"]
    for a in assets:
        body = {"css": f"p.c{a} {{ color: black }}\n", "js": f"window.x_{a[1]} = 1;\n",
                "svg": '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>\n'}
        with open(os.path.join(root, a), "w") as f:
            f.write(body[a.rsplit(".", 1)[1]])
        page.append({"css": f'<link rel="stylesheet" href="/{a}">',
                     "js": f'<script src="/{a}"></script>',
                     "svg": f'<img src="/{a}" alt="">'}[a.rsplit(".", 1)[1]])
    page.append("<p id=done>loaded</p>")
    with open(os.path.join(root, "page.html"), "w") as f:
        f.write("\n".join(page))
    for d, _, files in os.walk(world_tmp):
        os.chmod(d, 0o755)
        for n in files:
            os.chmod(os.path.join(d, n), 0o644)
    port = dc.free_port()
    s = make_server(["--root", root, "--http", "off", "--https", f"127.0.0.1:{port}",
                     "--cert", tls_files.ec_cert, "--key", tls_files.ec_key,
                     "--log-format", "json"])
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            "--ignore-certificate-errors", f"--user-data-dir={profile}",
                            "--no-first-run", "--disable-extensions", "--dump-dom",
                            f"https://localhost:{port}/page.html"],
                           capture_output=True, text=True, timeout=180)
    assert "<p id=\"done\">loaded</p>" in r.stdout, r.stderr[-2000:]
    s.wait_stdout('"target":"/i9.svg"')
    lines = [json.loads(x) for x in s.stdout_text().splitlines() if x.startswith("{")]
    wanted = {"/page.html", *("/" + a for a in assets)}
    ours = [x for x in lines if x["target"] in wanted]
    assert sorted(x["target"] for x in ours) == sorted(wanted), lines
    assert {x["protocol"] for x in ours} == {"HTTP/2.0"}
    assert {x["status"] for x in ours} == {200}
    assert len({x["remote_port"] for x in lines}) == 1, lines  # one connection


def test_sigterm_with_an_idle_h2_connection_sends_goaway_then_exits(make_server, docroot,
                                                                    tls_files):
    """An idle HTTP/2 connection at SIGTERM: the shutdown notice (GOAWAY, last stream 2^31-1)
    and a PING; at the PING's acknowledgement the final GOAWAY names the last stream taken (1),
    the connection closes and the server exits 0."""
    port, s = h2_server(make_server, docroot, tls_files)
    c = dc.H2Conn("127.0.0.1", port, timeout=10)
    assert c.request("GET", "/hello.txt").status == 200
    s.signal(signal.SIGTERM)
    goaways = goaways_after_ping_ack(c)
    c.close()
    assert goaways == [2 ** 31 - 1, 1], goaways
    assert s.wait(10) == 0


def goaways_after_ping_ack(c):
    """After a graceful stop's shutdown notice on an idle connection: acknowledges its PING and
    reads to the close; returns the last-stream ids of the GOAWAYs seen."""
    import h2.events as ev

    goaways, raw = [], bytearray()
    evs = c.events()  # the notice and the PING
    goaways += [e.last_stream_id for e in evs if isinstance(e, ev.ConnectionTerminated)]
    ping = next(e.ping_data for e in evs if isinstance(e, ev.PingReceived))
    # python-h2 sends nothing once it saw a GOAWAY: the acknowledgement goes raw
    c.sock.sendall(struct.pack(">I", 8)[1:] + b"\x06\x01" + b"\0" * 4 + ping)
    while True:
        data = c.sock.recv(65536)
        if not data:
            break
        raw += data
    while raw:
        n, kind = int.from_bytes(raw[:3], "big"), raw[3]
        if kind == 7:
            goaways.append(int.from_bytes(raw[9:13], "big") & 0x7fffffff)
        del raw[:9 + n]
    return goaways


@pytest.mark.parametrize("workers", [1, 2])  # the main loop alone; a worker beside it
def test_sighup_keeps_an_open_h2_connection_serving(make_server, docroot, tls_files):
    """SIGHUP (reload) with an h2 connection open: no GOAWAY, and the connection's next stream
    is answered after the reload."""
    port, s = h2_server(make_server, docroot, tls_files)
    with dc.H2Conn("127.0.0.1", port, timeout=10) as c:
        assert c.request("GET", "/hello.txt").body == dc.DOCROOT_FILES["hello.txt"]
        assert "SIGHUP: reloaded " in s.reload()
        r = c.request("GET", "/page.html")
        assert r.status == 200 and r.body == dc.DOCROOT_FILES["page.html"]
        r = c.request("GET", "/big.bin")  # flow control still runs on the kept session
        assert r.status == 200 and r.body == BIG
        assert c.closed_by is None


def owner_of(local_port, peer_port):
    """The pid whose socket is the server end of the TCP connection local_port <- peer_port."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", f"sport = :{local_port}",
                          f"dport = :{peer_port}"], capture_output=True, text=True,
                         timeout=10).stdout
    pids = set(re.findall(r"pid=(\d+)", out))
    assert len(pids) == 1, out
    return int(pids.pop())


@pytest.mark.parametrize("workers", [1, 2])  # the main loop alone; a worker beside it
def test_sigusr2_upgrade_sends_goaway_and_finishes_the_h2_stream_in_flight(make_server,
                                                                            docroot,
                                                                            tls_files):
    """SIGUSR2 (upgrade) with an h2 stream mid-body (the client's window holds it): the old
    process sends GOAWAY (no error), a new connection is answered by the new process while the
    old one still holds the stream, the client then opens its window and receives the whole
    file, and the old process exits 0."""
    dc.become_subreaper()
    port, s = h2_server(make_server, docroot, tls_files)
    old = s.pid
    c = dc.H2Conn("127.0.0.1", port, timeout=10)
    sid, body = stream_held_by_its_window(c)
    s.request_upgrade()
    new = s.upgraded_pid()
    goaway = wait_goaway(c)
    assert goaway.error_code == 0 and goaway.last_stream_id >= sid
    with dc.H2Conn("127.0.0.1", port, timeout=10) as n:
        assert owner_of(port, n.sock.getsockname()[1]) == new != old
        assert n.request("GET", "/hello.txt").body == dc.DOCROOT_FILES["hello.txt"]
    assert owner_of(port, c.sock.getsockname()[1]) == old  # still draining the stream
    body += finish_raw(c, sid)
    c.close()
    assert bytes(body) == BIG
    assert s.follow_upgrade(new) == 0, s.stderr_text()


@pytest.mark.parametrize("workers", [1, 2])
def test_sigusr2_upgrade_closes_an_idle_h2_connection_with_goaway(make_server, docroot,
                                                                  tls_files):
    """An idle h2 connection at SIGUSR2: the old process sends the shutdown notice, the final
    GOAWAY (last stream 1) at the PING's acknowledgement, closes the connection and exits 0;
    the client's next connection is answered by the new process."""
    dc.become_subreaper()
    port, s = h2_server(make_server, docroot, tls_files)
    c = dc.H2Conn("127.0.0.1", port, timeout=10)
    assert c.request("GET", "/hello.txt").status == 200
    s.request_upgrade()
    new = s.upgraded_pid()
    goaways = goaways_after_ping_ack(c)
    c.close()
    assert goaways == [2 ** 31 - 1, 1], goaways
    assert s.follow_upgrade(new) == 0, s.stderr_text()
    with dc.H2Conn("127.0.0.1", port, timeout=10) as n:
        assert owner_of(port, n.sock.getsockname()[1]) == new
        assert n.request("GET", "/hello.txt").body == dc.DOCROOT_FILES["hello.txt"]
