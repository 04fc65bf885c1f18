"""Command line, start-up messages and failures, signals, the access log, IPv6 and dual-stack."""

import os
import re
import signal
import socket
import subprocess
import time

import pytest

import dropcap_fixture as dc

HELLO = dc.DOCROOT_FILES["hello.txt"]


def run(args, **kw):
    return dc.Server(args, **kw).run_to_exit(timeout=10)


def assert_one_line_error(stderr):
    lines = [l for l in stderr.splitlines() if l.strip()]
    assert lines, "no message on stderr"
    errors = [l for l in lines if not l.startswith("dropcap: listening on ")]
    assert errors and errors[0].startswith("dropcap: "), stderr
    assert not any("serving" in l for l in lines), stderr
    assert len(errors) <= 2, f"more than a one-line message:\n{stderr}"  # (+ 'try --help')
    return errors[0]


def ports():
    return dc.free_port(), dc.free_port()


# --- --help / --version ------------------------------------------------------------------------

def test_help(dropcap_bin):
    out = subprocess.run([dropcap_bin, "--help"], capture_output=True, text=True, timeout=5)
    assert out.returncode == 0
    text = out.stdout + out.stderr
    for opt in ("--root", "--https", "--http", "--cert", "--key", "--access-log", "--help",
                "--version", "--user", "--group", "--listen-fd", "--max-conns",
                "--header-timeout", "--keepalive-timeout", "--no-sandbox", "--workers"):
        assert opt in text, f"--help does not mention {opt}"
    assert out.stdout, "--help should print to stdout"
    assert len(out.stdout.splitlines()) < 60


def test_version(dropcap_bin):
    out = subprocess.run([dropcap_bin, "--version"], capture_output=True, text=True, timeout=5)
    assert out.returncode == 0
    assert re.search(r"dropcap\S* v?\d+\.\d+(\.\d+)?", out.stdout), out.stdout
    # the TLS library the build uses (make TLS=openssl): the tests read it (dc.tls_library)
    assert re.search(r"^TLS: (mbedTLS 2|OpenSSL 3)\.\d+\.\d+$", out.stdout, re.M), out.stdout


# --- usage errors: exit 2 ------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["--bogus"],
    ["--root"],
    ["--max-conns", "abc"],
    ["--header-timeout", "-1"],
    ["--http"],
    ["stray-argument"],
])
def test_usage_errors_exit_2(dropcap_bin, docroot, args):
    full = args if args == ["--root"] else ["--root", docroot, "--https", "off", "--http",
                                            f"127.0.0.1:{dc.free_port()}"] + args
    rc, err = run(full)
    assert rc == 2, (args, rc, err)
    assert_one_line_error(err)


@pytest.mark.parametrize("value", ["0", "abc", "-1", "257", "99999999999", ""])
def test_bad_workers_names_the_option_and_the_range(dropcap_bin, docroot, value):
    """--workers takes 1 to 256; anything else is one line naming the option, the value, the
    range and what leaving it out does, and exit 2 before anything is bound."""
    rc, err = run(["--root", docroot, "--https", "off", "--http", f"127.0.0.1:{dc.free_port()}",
                   "--workers", value])
    assert rc == 2, err
    line = assert_one_line_error(err)
    assert f"--workers {value}: expected a number from 1 to 256" in line, line
    assert "leave it out for one per CPU" in line, line


@pytest.mark.parametrize("workers", [1, 3])
def test_workers_gives_that_many_threads(make_server, docroot, workers):
    """--workers N runs N event loops: the main thread's and N - 1 worker threads."""
    port = dc.free_port()
    s = make_server(["--root", docroot, "--http", f"127.0.0.1:{port}", "--https", "off"])
    assert len(os.listdir(f"/proc/{s.pid}/task")) == workers
    assert f"dropcap: {workers} worker" in s.stderr_text()
    for _ in range(2 * workers):  # each loop in turn answers one
        with dc.HttpConn("127.0.0.1", port) as c:
            assert c.request("GET", "/hello.txt").body == HELLO


def test_workers_default_is_the_cpus_it_may_run_on(make_server, docroot):
    """Without --workers: one loop per CPU in the process's affinity mask (taskset), not per CPU
    of the machine."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs to pin to one")
    cpu = min(os.sched_getaffinity(0))
    port = dc.free_port()
    s = make_server(["--root", docroot, "--http", f"127.0.0.1:{port}", "--https", "off"],
                    wrapper=["taskset", "-c", str(cpu)])
    assert len(os.listdir(f"/proc/{s.pid}/task")) == 1
    assert "dropcap: 1 worker\n" in s.stderr_text()
    port = dc.free_port()
    s = make_server(["--root", docroot, "--http", f"127.0.0.1:{port}", "--https", "off"])
    n = len(os.sched_getaffinity(0))
    assert len(os.listdir(f"/proc/{s.pid}/task")) == min(n, 256)


def test_missing_root_option_is_usage_error(dropcap_bin):
    rc, err = run(["--https", "off", "--http", f"127.0.0.1:{dc.free_port()}"])
    assert rc == 2, err
    assert "root" in assert_one_line_error(err)


@pytest.mark.parametrize("addr", ["nonsense", "127.0.0.1", "127.0.0.1:99999", "[::1:80",
                                  "300.1.1.1:80", "127.0.0.1:-5", "127.0.0.1:http"])
def test_bad_address_rejected(dropcap_bin, docroot, addr):
    rc, err = run(["--root", docroot, "--https", "off", "--http", addr])
    assert rc in (1, 2), (addr, rc, err)
    assert_one_line_error(err)


# --- start-up failures: exit 1, one line ------------------------------------------------------

def test_root_missing(dropcap_bin, world_tmp):
    rc, err = run(["--root", os.path.join(world_tmp, "nope"), "--https", "off",
                   "--http", f"127.0.0.1:{dc.free_port()}"])
    assert rc == 1, err
    assert "nope" in assert_one_line_error(err)


def test_root_is_a_file(dropcap_bin, docroot):
    rc, err = run(["--root", os.path.join(docroot, "hello.txt"), "--https", "off",
                   "--http", f"127.0.0.1:{dc.free_port()}"])
    assert rc == 1, err
    assert_one_line_error(err)


def test_https_without_cert(dropcap_bin, docroot):
    rc, err = run(["--root", docroot, "--https", f"127.0.0.1:{dc.free_port()}", "--http", "off"])
    assert rc in (1, 2), err
    assert "cert" in assert_one_line_error(err).lower()


def test_https_default_without_cert(dropcap_bin, docroot):
    """--https defaults to :443: without --cert that is the clear error, not a bind failure."""
    rc, err = run(["--root", docroot, "--http", f"127.0.0.1:{dc.free_port()}"])
    assert rc in (1, 2), err
    assert "cert" in assert_one_line_error(err).lower()


def test_cert_without_key(dropcap_bin, docroot, tls_files):
    rc, err = run(["--root", docroot, "--https", f"127.0.0.1:{dc.free_port()}", "--http", "off",
                   "--cert", tls_files.ec_cert])
    assert rc in (1, 2), err
    assert "key" in assert_one_line_error(err).lower()


def test_cert_missing(dropcap_bin, docroot, tls_files, world_tmp):
    missing = os.path.join(world_tmp, "missing.crt")
    rc, err = run(["--root", docroot, "--https", f"127.0.0.1:{dc.free_port()}", "--http", "off",
                   "--cert", missing, "--key", tls_files.ec_key])
    assert rc == 1, err
    assert "missing.crt" in assert_one_line_error(err)


def test_cert_garbage(dropcap_bin, docroot, tls_files, world_tmp):
    bad = os.path.join(world_tmp, "bad.crt")
    with open(bad, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n")
    rc, err = run(["--root", docroot, "--https", f"127.0.0.1:{dc.free_port()}", "--http", "off",
                   "--cert", bad, "--key", tls_files.ec_key])
    assert rc == 1, err
    assert_one_line_error(err)


def test_cert_unreadable(dropcap_bin, docroot, tls_files, world_tmp, request):
    if not dc.is_root():
        pytest.skip("needs root to run the server as another user")
    user = request.getfixturevalue("unpriv_user")
    private = os.path.join(world_tmp, "private.key")
    with open(tls_files.ec_key, "rb") as src, open(private, "wb") as dst:
        dst.write(src.read())
    os.chmod(private, 0o600)  # root-owned: the unprivileged server cannot read it
    rc, err = run(["--root", docroot, "--https", f"127.0.0.1:{dc.free_port()}", "--http", "off",
                   "--cert", tls_files.ec_cert, "--key", private], user=user)
    assert rc == 1, err
    line = assert_one_line_error(err)
    assert "private.key" in line


def test_key_not_matching_cert(dropcap_bin, docroot, tls_files):
    rc, err = run(["--root", docroot, "--https", f"127.0.0.1:{dc.free_port()}", "--http", "off",
                   "--cert", tls_files.ec_cert, "--key", tls_files.rsa_key])
    assert rc == 1, err
    assert_one_line_error(err)


def test_key_same_type_not_matching_cert(dropcap_bin, docroot, tls_files, world_tmp):
    other = os.path.join(world_tmp, "other.key")
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", other],
                   check=True, capture_output=True)
    os.chmod(other, 0o644)
    rc, err = run(["--root", docroot, "--https", f"127.0.0.1:{dc.free_port()}", "--http", "off",
                   "--cert", tls_files.ec_cert, "--key", other])
    assert rc == 1, err
    assert_one_line_error(err)


def test_address_in_use(dropcap_bin, docroot):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        rc, err = run(["--root", docroot, "--https", "off", "--http", f"127.0.0.1:{port}"])
    assert rc == 1, err
    line = assert_one_line_error(err)
    assert str(port) in line and "in use" in line.lower()


def test_address_not_local(dropcap_bin, docroot):
    rc, err = run(["--root", docroot, "--https", "off", "--http", "192.0.2.1:8080"])
    assert rc == 1, err
    assert_one_line_error(err)


def test_both_listeners_off(dropcap_bin, docroot):
    rc, err = run(["--root", docroot, "--https", "off", "--http", "off"])
    assert rc in (1, 2), err
    assert_one_line_error(err)


def test_access_log_unwritable(dropcap_bin, docroot):
    rc, err = run(["--root", docroot, "--https", "off", "--http", f"127.0.0.1:{dc.free_port()}",
                   "--access-log", "/nonexistent-dir/access.log"])
    assert rc == 1, err
    assert_one_line_error(err)


# --- start-up messages -------------------------------------------------------------------------

def test_startup_lines(make_server, docroot, tls_files):
    http, https = ports()
    s = make_server(["--root", docroot, "--http", f"127.0.0.1:{http}",
                     "--https", f"127.0.0.1:{https}",
                     "--cert", tls_files.ec_cert, "--key", tls_files.ec_key])
    lines = s.stderr_lines()
    https_line = f"dropcap: listening on https 127.0.0.1:{https} (bound)"
    http_line = f"dropcap: listening on http 127.0.0.1:{http} (bound)"
    assert https_line in lines and http_line in lines, lines
    serving = [i for i, l in enumerate(lines) if l.startswith("dropcap: serving ")]
    assert len(serving) == 1, lines
    assert lines[serving[0]] in (f"dropcap: serving {os.path.realpath(docroot)}",
                                 f"dropcap: serving {os.path.abspath(docroot)}")
    priv = [i for i, l in enumerate(lines) if l.startswith("dropcap: privileges: ")]
    assert len(priv) == 1, lines
    # order: listeners, then the proof line, then the readiness marker
    assert lines.index(https_line) < priv[0] and lines.index(http_line) < priv[0] < serving[0]


def test_relative_root_is_made_absolute(make_server, docroot):
    port = dc.free_port()
    s = make_server(["--root", ".", "--http", f"127.0.0.1:{port}", "--https", "off"], cwd=docroot)
    assert f"dropcap: serving {os.path.realpath(docroot)}" in s.stderr_lines()
    with dc.HttpConn("127.0.0.1", port) as c:
        assert c.request("GET", "/hello.txt").body == HELLO


# --- signals -----------------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("workers", [1, 2])
def test_signal_exits_0(make_server, docroot, sig):
    port = dc.free_port()
    s = make_server(["--root", docroot, "--http", f"127.0.0.1:{port}", "--https", "off"])
    with dc.HttpConn("127.0.0.1", port) as c:  # an idle keep-alive connection must not hold it
        assert c.request("GET", "/hello.txt").status == 200
        s.signal(sig)
        assert s.wait(5) == 0, s.stderr_text()
        assert c.eof(2)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_inflight_download_finish(make_server, world_tmp):
    root = dc.make_docroot(world_tmp)
    size = 64 << 20
    with open(os.path.join(root, "large.bin"), "wb") as f:
        f.truncate(size)  # sparse: cheap to create, real bytes on the wire
    os.chmod(os.path.join(root, "large.bin"), 0o644)
    port = dc.free_port()
    s = make_server(["--root", root, "--http", f"127.0.0.1:{port}", "--https", "off"])
    c = dc.HttpConn("127.0.0.1", port, timeout=10)
    try:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        c.send(b"GET /large.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        while b"\r\n\r\n" not in c.buf:
            c._fill()
        time.sleep(0.2)  # let the server fill the socket buffers and block on the slow reader
        s.signal(signal.SIGTERM)
        # stop accepting: new connections are refused (or never answered) soon
        deadline = time.monotonic() + 3
        refused = False
        while time.monotonic() < deadline and not refused:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as n:
                    n.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                    n.settimeout(0.5)
                    refused = n.recv(100) == b""
            except (ConnectionRefusedError, ConnectionResetError, socket.timeout):
                refused = True
            if not refused:
                time.sleep(0.05)
        assert refused, "still accepting new requests after SIGTERM"
        assert s.alive(), "exited with a download in flight"
        r = c.read_response()
        assert r.status == 200 and len(r.body) == size
        assert r.body.count(0) == size
    finally:
        c.close()
    assert s.wait(5) == 0, s.stderr_text()


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_gives_up_on_a_stuck_client(make_server, world_tmp):
    """A client that never reads must not keep the server alive for long after SIGTERM."""
    root = dc.make_docroot(world_tmp)
    with open(os.path.join(root, "large.bin"), "wb") as f:
        f.truncate(64 << 20)
    os.chmod(os.path.join(root, "large.bin"), 0o644)
    port = dc.free_port()
    s = make_server(["--root", root, "--http", f"127.0.0.1:{port}", "--https", "off"])
    c = dc.HttpConn("127.0.0.1", port)
    try:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.send(b"GET /large.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        c.sock.recv(100)
        s.signal(signal.SIGTERM)
        start = time.monotonic()
        rc = s.wait(30)
        assert rc == 0, s.stderr_text()
        assert time.monotonic() - start < 15
    finally:
        c.close()


# --- access log ----------------------------------------------------------------------------------

COMBINED = re.compile(
    r'^(?P<addr>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] '
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<bytes>\d+|-) '
    r'"(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)" "(?P<site>(?:[^"\\]|\\.)*)"$')


def log_lines(text):
    return [l for l in text.splitlines() if l.strip()]


def parse_log(text):
    out = []
    for line in log_lines(text):
        m = COMBINED.match(line)
        assert m, f"not combined log format: {line!r}"
        out.append(m.groupdict())
    return out


def do_requests(port):
    with dc.HttpConn("127.0.0.1", port) as c:
        c.request("GET", "/hello.txt", headers={"Referer": "http://ref.example/",
                                                 "User-Agent": "pytest-agent/1.0"})
        c.request("HEAD", "/hello.txt")
        c.request("GET", "/nope")
        c.request("GET", "/big.bin", headers={"Range": "bytes=0-99"})
        c.request("GET", '/q"uote', headers={"User-Agent": 'evil" "agent'})


def check_log(entries):
    assert len(entries) == 5, entries
    e = entries[0]
    assert e["addr"] == "127.0.0.1" and e["ident"] == "-" and e["user"] == "-"
    assert e["request"] == "GET /hello.txt HTTP/1.1"
    assert e["status"] == "200" and e["bytes"] == str(len(HELLO))
    assert e["referer"] == "http://ref.example/" and e["agent"] == "pytest-agent/1.0"
    assert entries[1]["request"] == "HEAD /hello.txt HTTP/1.1"
    assert entries[1]["bytes"] in ("0", "-")
    assert entries[1]["referer"] == "-" and entries[1]["agent"] == "-"
    assert entries[2]["status"] == "404"
    assert entries[3]["status"] == "206" and entries[3]["bytes"] == "100"
    assert entries[4]["agent"] != 'evil" "agent'  # escaped, so the line still parses
    t = time.strptime(e["time"][:20], "%d/%b/%Y:%H:%M:%S")
    assert t.tm_year >= 2024


def test_access_log_stdout(make_server, docroot):
    port = dc.free_port()
    s = make_server(["--root", docroot, "--http", f"127.0.0.1:{port}", "--https", "off"])
    do_requests(port)
    text = s.wait_stdout(lambda t: len(log_lines(t)) >= 5, timeout=5)
    check_log(parse_log(text))
    assert "dropcap:" not in text  # start-up messages go to stderr


def test_access_log_file(make_server, docroot, world_tmp):
    port = dc.free_port()
    log = os.path.join(dc.log_dir_for_run_user(world_tmp), "access.log")
    s = make_server(["--root", docroot, "--http", f"127.0.0.1:{port}", "--https", "off",
                     "--access-log", log])
    do_requests(port)
    deadline = time.monotonic() + 5
    text = ""
    while time.monotonic() < deadline:
        text = open(log).read() if os.path.exists(log) else ""
        if len(log_lines(text)) >= 5:
            break
        time.sleep(0.05)
    check_log(parse_log(text))
    assert log_lines(s.stdout_text()) == []


def test_access_log_appends(make_server, docroot, world_tmp):
    log = os.path.join(dc.log_dir_for_run_user(world_tmp), "access.log")
    with open(log, "w") as f:
        f.write("previous line\n")
    if dc.is_root():
        os.chown(log, 65534, 65534)
    port = dc.free_port()
    make_server(["--root", docroot, "--http", f"127.0.0.1:{port}", "--https", "off",
                 "--access-log", log])
    with dc.HttpConn("127.0.0.1", port) as c:
        c.request("GET", "/hello.txt")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(log_lines(open(log).read())) < 2:
        time.sleep(0.05)
    lines = log_lines(open(log).read())
    assert lines[0] == "previous line" and len(lines) == 2


def test_access_log_https_and_errors(make_server, docroot, tls_files):
    http, https = ports()
    s = make_server(["--root", docroot, "--http", f"127.0.0.1:{http}",
                     "--https", f"127.0.0.1:{https}",
                     "--cert", tls_files.ec_cert, "--key", tls_files.ec_key])
    with dc.HttpConn("127.0.0.1", https, tls=True) as c:
        c.request("GET", "/hello.txt")
    with dc.HttpConn("127.0.0.1", http) as c:
        c.send(b"GET / HTTP/1.1\r\n\r\n")  # 400: logged too
        c.read_response()
    text = s.wait_stdout(lambda t: len(log_lines(t)) >= 2, timeout=5)
    entries = parse_log(text)
    assert sorted(e["status"] for e in entries) == ["200", "400"]


def test_access_log_error_lines(make_server, docroot):
    """Requests that never parsed (400, 414, 431, 408) are logged, still in combined format."""
    port = dc.free_port()
    s = make_server(["--root", docroot, "--http", f"127.0.0.1:{port}", "--https", "off",
                     "--header-timeout", "1"])
    for raw in (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"b" * 17000 + b"\r\n\r\n",
                b"\x01\x02garbage\r\n\r\n"):
        with dc.HttpConn("127.0.0.1", port) as c:
            c.send(raw)
            c.read_response()
    with dc.HttpConn("127.0.0.1", port) as c:
        c.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
        assert c.eof(4)
    text = s.wait_stdout(lambda t: len(log_lines(t)) >= 4, timeout=5)
    entries = parse_log(text)
    assert sorted(e["status"] for e in entries) == ["400", "408", "414", "431"], entries
    # like nginx, the request field holds what was received (escaped, cut at 512 bytes)
    got = {e["status"]: e["request"] for e in entries}
    assert got["414"].startswith("GET /aaaa") and len(got["414"]) <= 512
    assert got["431"] == "GET / HTTP/1.1"
    assert got["400"] == "\\x01\\x02garbage"
    assert got["408"] == "GET /slow HTTP/1.1"


# --- IPv6 and dual-stack -------------------------------------------------------------------------

def have_ipv6():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not have_ipv6(), reason="no IPv6 loopback")


@needs_ipv6
def test_ipv6_loopback(make_server, docroot, tls_files):
    http, https = dc.free_port("::1"), dc.free_port("::1")
    s = make_server(["--root", docroot, "--http", f"[::1]:{http}", "--https", f"[::1]:{https}",
                     "--cert", tls_files.ec_cert, "--key", tls_files.ec_key])
    assert f"dropcap: listening on http [::1]:{http} (bound)" in s.stderr_lines()
    out = subprocess.run(["curl", "-sS", "-g", "--max-time", "5", f"http://[::1]:{http}/hello.txt"],
                         capture_output=True, timeout=10)
    assert out.stdout == HELLO
    out = subprocess.run(["curl", "-sSk", "-g", "--max-time", "5",
                          f"https://[::1]:{https}/hello.txt"], capture_output=True, timeout=10)
    assert out.stdout == HELLO
    with dc.HttpConn("::1", http) as c:
        c.request("GET", "/hello.txt")
    text = s.wait_stdout("::1", timeout=5)
    assert parse_log(text)[0]["addr"] == "::1"


@needs_ipv6
def test_dual_stack_port_only(make_server, docroot, tls_files):
    http, https = dc.free_port("::1"), dc.free_port("::1")
    make_server(["--root", docroot, "--http", f":{http}", "--https", f":{https}",
                 "--cert", tls_files.ec_cert, "--key", tls_files.ec_key])
    for host in ("127.0.0.1", "::1"):
        with dc.HttpConn(host, http) as c:
            assert c.request("GET", "/hello.txt").body == HELLO, host
        with dc.HttpConn(host, https, tls=True) as c:
            assert c.request("GET", "/hello.txt").body == HELLO, host


@needs_ipv6
def test_ipv6_any(make_server, docroot):
    http = dc.free_port("::1")
    make_server(["--root", docroot, "--http", f"[::]:{http}", "--https", "off"])
    with dc.HttpConn("::1", http) as c:
        assert c.request("GET", "/hello.txt").body == HELLO


def test_ipv4_only_listener_not_on_ipv6(make_server, docroot):
    http = dc.free_port()
    make_server(["--root", docroot, "--http", f"127.0.0.1:{http}", "--https", "off"])
    if have_ipv6():
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("::1", http), timeout=2).close()


def test_access_log_reopened_on_sigusr1(make_server, docroot, world_tmp):
    """logrotate moves the file away and sends SIGUSR1: the next line goes to a new file."""
    logdir = os.path.join(world_tmp, "logs")
    os.mkdir(logdir)
    os.chown(logdir, 65534, 65534)  # the server runs as nobody after the drop and recreates it
    log = os.path.join(logdir, "access.log")
    port = dc.free_port()
    s = make_server(["--root", docroot, "--http", f"127.0.0.1:{port}", "--https", "off",
                     "--access-log", log])

    def lines(path):
        return log_lines(open(path).read()) if os.path.exists(path) else []

    def wait_lines(path, n):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(lines(path)) < n:
            time.sleep(0.05)
        return lines(path)

    with dc.HttpConn("127.0.0.1", port) as c:
        c.request("GET", "/hello.txt")
        assert len(wait_lines(log, 1)) == 1
        os.rename(log, log + ".1")
        s.signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not os.path.exists(log):
            time.sleep(0.05)
        c.request("GET", "/nope")
    assert [parse_log(l)[0]["status"] for l in wait_lines(log, 1)] == ["404"]
    assert [parse_log(l)[0]["status"] for l in lines(log + ".1")] == ["200"]
    assert "warning" not in s.stderr_text()
