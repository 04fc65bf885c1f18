"""TLS: 1.2 (and 1.3 in the OpenSSL build, whose own tests are in test_tls13.py), ECDHE+AEAD
suites only, ECDSA and RSA certificates, SNI, ALPN, resumption (tickets and the session cache),
and non-blocking handshakes. Both builds pass it (dropcap_fixture.tls_library says which runs).

Every "must be refused" client command is first run against a permissive `openssl s_server`
(the control), so a refusal proves the server's policy and not a client that never tried."""

import os
import socket
import ssl
import subprocess
import time

import pytest

import dropcap_fixture as dc

HELLO = dc.DOCROOT_FILES["hello.txt"]
# The client must not inherit Debian's openssl.cnf (MinProtocol = TLSv1.2, SECLEVEL=2):
# with it the client itself would refuse TLS 1.0/1.1 and weak suites.
RAW_ENV = dict(os.environ, OPENSSL_CONF="/dev/null")
ALLOWED_ENC = ("AESGCM", "CHACHA20/POLY1305")


def s_client(port, *args, timeout=10, stdin=b""):
    """openssl s_client against 127.0.0.1:port; returns (rc, combined output)."""
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                          "-servername", "localhost", *args],
                         input=stdin, capture_output=True, timeout=timeout, env=RAW_ENV)
    return out.returncode, (out.stdout + out.stderr).decode("latin-1")


def handshake(port, *args):
    rc, out = s_client(port, "-brief", *args)
    return rc == 0 and "CONNECTION ESTABLISHED" in out, out


@pytest.fixture(scope="module")
def rsa_site(dropcap_bin, docroot, tls_files):
    port = dc.free_port()
    s = dc.Server(["--root", docroot, "--http", "off", "--https", f"127.0.0.1:{port}",
                   "--cert", tls_files.rsa_cert, "--key", tls_files.rsa_key])
    s.start()
    yield port
    problems = dc.stop_and_check([s])
    assert not problems, problems


@pytest.fixture(scope="module")
def control(tls_files):
    """A permissive openssl s_server (RSA and ECDSA certificates, every suite, TLS 1.0+)."""
    port = dc.free_port()
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-www", "-quiet",
         "-cert", tls_files.rsa_cert, "-key", tls_files.rsa_key,
         "-dcert", tls_files.ec_cert, "-dkey", tls_files.ec_key,
         "-cipher", "ALL:@SECLEVEL=0"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=RAW_ENV)
    try:
        dc.wait_port("127.0.0.1", port, timeout=5)
        yield port
    finally:
        proc.kill()
        proc.wait(5)


def ec_port(site):
    return site.https_port


def openssl_suites():
    """(name, kx, enc) of every TLS 1.2-usable suite this OpenSSL knows."""
    out = subprocess.run(["openssl", "ciphers", "-v", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"],
                         capture_output=True, text=True, check=True, env=RAW_ENV).stdout
    suites = []
    for line in out.splitlines():
        f = line.split()
        if f[1] == "TLSv1.3":
            continue
        fields = dict(x.split("=", 1) for x in f[2:] if "=" in x)
        suites.append((f[0], fields.get("Kx", ""), fields.get("Enc", "")))
    return suites


def try_suite(port, name):
    ctx = dc.client_context(min_version=ssl.TLSVersion.TLSv1_2,
                            max_version=ssl.TLSVersion.TLSv1_2)
    try:
        ctx.set_ciphers(name + ":@SECLEVEL=0")
    except ssl.SSLError:
        return None  # this Python cannot even offer it
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                return s.cipher()[0]
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError):
        return ""


# --- protocol versions --------------------------------------------------------------------------

def test_tls12_negotiated_with_verification(site, tls_files):
    ctx = dc.client_context(cafile=tls_files.ec_cert,  # verifies chain and host name
                            max_version=ssl.TLSVersion.TLSv1_2)
    with socket.create_connection(("127.0.0.1", site.https_port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert s.version() == "TLSv1.2"
            name = s.cipher()[0]
            assert name.startswith("ECDHE-") and ("GCM" in name or "CHACHA20" in name), name
            s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(HELLO)


def test_curl_https_verified(site, tls_files):
    port = site.https_port
    out = subprocess.run(["curl", "-sS", "--max-time", "5", "--cacert", tls_files.ec_cert,
                          "--resolve", f"localhost:{port}:127.0.0.1",
                          "-w", "%{http_code} %{ssl_verify_result}",
                          f"https://localhost:{port}/hello.txt"], capture_output=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert out.stdout == HELLO + b"200 0"


@pytest.mark.parametrize("flag", ["-tls1", "-tls1_1"])
def test_old_tls_versions_refused(site, control, flag):
    ok, out = handshake(control, flag, "-cipher", "DEFAULT:@SECLEVEL=0")
    assert ok, f"control: the client cannot do {flag} here:\n{out}"
    ok, out = handshake(ec_port(site), flag, "-cipher", "DEFAULT:@SECLEVEL=0")
    assert not ok, f"dropcap accepted {flag}:\n{out}"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_old_tls_versions_refused_python(site, control, version):
    ctx = dc.client_context(min_version=version, max_version=version)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", control), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:  # control: it can
            assert s.version() == version.name.replace("_", ".")
    with socket.create_connection(("127.0.0.1", site.https_port), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            ctx.wrap_socket(raw, server_hostname="localhost")


def test_tls13_offered_only_by_the_openssl_build(site, control):
    """A client offering TLS 1.3 and 1.2 gets 1.3 from the OpenSSL build; the mbedTLS 2.28 build
    must not claim it (the control shows the client can do 1.3)."""
    ok, out = handshake(control, "-tls1_3")
    assert ok, f"control: the client cannot do TLS 1.3 here:\n{out}"
    ok, out = handshake(site.https_port, "-tls1_3")
    assert ok == dc.tls13(), f"{dc.tls_library()} build, -tls1_3:\n{out}"
    with dc.HttpConn("127.0.0.1", site.https_port, tls=True) as c:
        assert c.sock.version() == ("TLSv1.3" if dc.tls13() else "TLSv1.2")
        assert c.request("GET", "/hello.txt").body == HELLO


def test_sslv2_hello_and_garbage_refused(site):
    with socket.create_connection(("127.0.0.1", site.https_port), timeout=5) as s:
        # an SSLv2-style ClientHello, its record whole (0x2e bytes after the 2-byte header)
        s.sendall(b"\x80\x2e\x01\x00\x02\x00\x15" + b"\x00" * 41)
        s.settimeout(3)
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
        assert data == b"" or data[:1] == b"\x15"  # closed, or a TLS alert
    assert site.server.alive()


# --- cipher suites ------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["ec", "rsa"])
def test_only_ecdhe_aead_suites_accepted(site, rsa_site, which):
    port = site.https_port if which == "ec" else rsa_site
    accepted, bad = [], []
    for name, kx, enc in openssl_suites():
        got = try_suite(port, name)
        if got:
            accepted.append(got)
            if not (kx == "ECDH" and name.startswith("ECDHE-") and enc.split("(")[0] in ALLOWED_ENC):
                bad.append(f"{name} (Kx={kx} Enc={enc})")
    assert not bad, f"non-ECDHE or non-AEAD suites accepted: {bad}"
    want = {"ec": {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                   "ECDHE-ECDSA-CHACHA20-POLY1305"},
            "rsa": {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                    "ECDHE-RSA-CHACHA20-POLY1305"}}[which]
    assert want <= set(accepted), f"accepted only {accepted}"


@pytest.mark.parametrize("which,suite", [
    ("ec", "ECDHE-ECDSA-AES128-SHA"),          # CBC
    ("ec", "ECDHE-ECDSA-AES128-SHA256"),       # CBC
    ("ec", "ECDHE-ECDSA-AES128-CCM8"),         # AEAD with a short tag: not in the list
    ("rsa", "ECDHE-RSA-AES256-SHA384"),        # CBC
    ("rsa", "AES128-GCM-SHA256"),              # RSA key exchange: no forward secrecy
    ("rsa", "DHE-RSA-AES128-GCM-SHA256"),      # finite-field DHE
    ("rsa", "DHE-RSA-CHACHA20-POLY1305"),
])
def test_weak_suite_handshake_fails(site, rsa_site, control, which, suite):
    port = site.https_port if which == "ec" else rsa_site
    ok, out = handshake(control, "-tls1_2", "-cipher", suite + ":@SECLEVEL=0")
    assert ok, f"control: the client cannot negotiate {suite} here:\n{out}"
    ok, out = handshake(port, "-tls1_2", "-cipher", suite + ":@SECLEVEL=0")
    assert not ok, f"dropcap negotiated {suite}:\n{out}"


def test_server_picks_aead_from_a_mixed_offer(site):
    ok, out = handshake(site.https_port, "-tls1_2", "-cipher",
                        "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:"
                        "ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0")
    assert ok, out
    assert "Ciphersuite: ECDHE-ECDSA-AES128-GCM-SHA256" in out


@pytest.mark.parametrize("curve", ["P-256"])
def test_curve_p256(site, curve):
    ok, out = handshake(site.https_port, "-tls1_2", "-curves", curve)
    assert ok, out


# --- certificates, SNI, ALPN ----------------------------------------------------------------------

def peer_der(port, server_hostname="localhost", **ctx_kw):
    ctx = dc.client_context(**ctx_kw)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_hostname) as s:
            return s.getpeercert(binary_form=True), s


def file_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def test_ecdsa_certificate(site, tls_files):
    der, _ = peer_der(site.https_port)
    assert der == file_der(tls_files.ec_cert)


def test_rsa_certificate(rsa_site, tls_files):
    der, _ = peer_der(rsa_site)
    assert der == file_der(tls_files.rsa_cert)
    with dc.HttpConn("127.0.0.1", rsa_site, tls=True,
                     context=dc.client_context(cafile=tls_files.rsa_cert)) as c:
        assert c.request("GET", "/hello.txt").body == HELLO


@pytest.mark.parametrize("name", ["localhost", "www.example.org", None])
def test_sni_accepted(site, name):
    with dc.HttpConn("127.0.0.1", site.https_port, tls=True, server_hostname=name) as c:
        assert c.request("GET", "/hello.txt").body == HELLO


def test_certificate_chain_served(world_tmp, make_server, docroot):
    """A PEM chain (leaf + intermediate) is sent whole: a client trusting only the root verifies."""
    d = world_tmp

    def ossl(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=d)

    ossl("req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=test root", "-days", "3",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign")
    ossl("req", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-keyout", "int.key", "-out", "int.csr", "-subj", "/CN=test intermediate")
    with open(os.path.join(d, "int.ext"), "w") as f:
        f.write("basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign\n")
    ossl("x509", "-req", "-in", "int.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "int.crt", "-days", "3", "-extfile", "int.ext")
    ossl("req", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "leaf.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost\n")
    ossl("x509", "-req", "-in", "leaf.csr", "-CA", "int.crt", "-CAkey", "int.key",
         "-CAcreateserial", "-out", "leaf.crt", "-days", "3", "-extfile", "leaf.ext")
    chain = os.path.join(d, "chain.pem")
    with open(chain, "w") as out:
        for part in ("leaf.crt", "int.crt"):
            out.write(open(os.path.join(d, part)).read())
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)
    port = dc.free_port()
    make_server(["--root", docroot, "--http", "off", "--https", f"127.0.0.1:{port}",
                 "--cert", chain, "--key", os.path.join(d, "leaf.key")])
    ctx = dc.client_context(cafile=os.path.join(d, "ca.crt"))
    with dc.HttpConn("127.0.0.1", port, tls=True, context=ctx) as c:
        assert c.request("GET", "/hello.txt").body == HELLO


@pytest.mark.parametrize("offer,want", [(["h2", "http/1.1"], "h2"), (["http/1.1"], "http/1.1"),
                                        (["http/1.1", "h2"], "h2"), (["h2"], "h2")])
def test_alpn_h2_then_http11(site, offer, want):
    """The server's order decides: h2 whenever offered (--no-http2: test_http2.py)."""
    ctx = dc.client_context(alpn=offer)
    with socket.create_connection(("127.0.0.1", site.https_port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert s.selected_alpn_protocol() == want


def test_alpn_absent(site):
    _, s = peer_der(site.https_port)
    assert s.selected_alpn_protocol() is None


def test_alpn_unknown_protocol_not_selected(site):
    ctx = dc.client_context(alpn=["spdy/3.1"])
    with socket.create_connection(("127.0.0.1", site.https_port), timeout=5) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                assert s.selected_alpn_protocol() is None  # never claims what it lacks
        except ssl.SSLError as e:
            assert "no application protocol" in str(e).lower() or "alert" in str(e).lower()


def test_alpn_with_openssl(site):
    rc, out = s_client(site.https_port, "-alpn", "h2,http/1.1")
    assert rc == 0 and "ALPN protocol: h2" in out, out
    rc, out = s_client(site.https_port, "-alpn", "http/1.1")
    assert rc == 0 and "ALPN protocol: http/1.1" in out, out


# --- session resumption -------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [[], ["-no_ticket"]], ids=["ticket", "session-id-cache"])
def test_resumption_openssl_reconnect(site, extra):
    rc, out = s_client(site.https_port, "-tls1_2", "-reconnect", *extra, timeout=20)
    lines = [l for l in out.splitlines() if l.startswith(("New,", "Reused,"))]
    assert rc == 0, out
    assert lines and lines[0].startswith("New, TLSv1.2"), out
    reused = [l for l in lines if l.startswith("Reused, TLSv1.2")]
    assert len(reused) == 5, f"{len(reused)} of 5 reconnects resumed:\n" + "\n".join(lines)


def test_resumption_python_ticket(site):
    ctx = dc.client_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with dc.HttpConn("127.0.0.1", site.https_port, tls=True, context=ctx) as c:
        c.request("GET", "/hello.txt")
        session = c.sock.session
        assert session.has_ticket, "no session ticket issued"
    with dc.HttpConn("127.0.0.1", site.https_port, tls=True, context=ctx, session=session) as c:
        assert c.sock.session_reused
        assert c.request("GET", "/hello.txt").body == HELLO


def test_resumption_python_session_cache(site):
    ctx = dc.client_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_TICKET
    with dc.HttpConn("127.0.0.1", site.https_port, tls=True, context=ctx) as c:
        c.request("GET", "/hello.txt")
        session = c.sock.session
        assert not session.has_ticket
        assert session.id, "no session id: no session cache"
    with dc.HttpConn("127.0.0.1", site.https_port, tls=True, context=ctx, session=session) as c:
        assert c.sock.session_reused
        assert c.request("GET", "/hello.txt").body == HELLO


def test_resumption_not_across_servers(site, rsa_site):
    """A session from one server (another key) must not resume on the other."""
    ctx = dc.client_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with dc.HttpConn("127.0.0.1", site.https_port, tls=True, context=ctx) as c:
        session = c.sock.session
    try:
        with dc.HttpConn("127.0.0.1", rsa_site, tls=True, context=ctx, session=session) as c:
            assert not c.sock.session_reused
    except ssl.SSLError:
        pass


# --- non-blocking handshakes ---------------------------------------------------------------------

def timed_request(port):
    start = time.monotonic()
    with dc.HttpConn("127.0.0.1", port, tls=True, timeout=5) as c:
        r = c.request("GET", "/hello.txt")
    assert r.body == HELLO
    return time.monotonic() - start


@pytest.mark.parametrize("stall", [b"", b"\x16\x03\x01", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"])
def test_slow_tls_client_does_not_stall_others(site, stall):
    slow = [socket.create_connection(("127.0.0.1", site.https_port), timeout=5) for _ in range(5)]
    try:
        for s in slow:
            if stall:
                s.sendall(stall)  # a TCP connection with nothing, or a partial ClientHello
        time.sleep(0.1)
        for _ in range(3):
            assert timed_request(site.https_port) < 1.5
    finally:
        for s in slow:
            s.close()


def test_stalled_after_handshake_does_not_stall_others(site):
    stalled = dc.HttpConn("127.0.0.1", site.https_port, tls=True)
    try:
        stalled.send(b"GET /hello.txt HTTP/1.1\r\nHo")
        assert timed_request(site.https_port) < 1.5
        stalled.send(b"st: x\r\n\r\n")
        assert stalled.read_response().body == HELLO
    finally:
        stalled.close()


def test_slow_reader_does_not_stall_others(site):
    slow = dc.HttpConn("127.0.0.1", site.https_port, tls=True)
    try:
        slow.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n" * 4)  # never read
        time.sleep(0.2)
        assert timed_request(site.https_port) < 1.5
    finally:
        slow.close()


def test_many_parallel_handshakes(site):
    ctx = dc.client_context()
    socks = []
    try:
        for _ in range(30):
            raw = socket.create_connection(("127.0.0.1", site.https_port), timeout=5)
            raw.setblocking(False)
            socks.append(ctx.wrap_socket(raw, server_hostname="localhost",
                                         do_handshake_on_connect=False))
        pending = set(socks)
        deadline = time.monotonic() + 10
        while pending and time.monotonic() < deadline:
            for s in list(pending):
                try:
                    s.do_handshake()
                    pending.discard(s)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
            time.sleep(0.005)
        assert not pending, f"{len(pending)} handshakes did not finish"
    finally:
        for s in socks:
            s.close()


def test_plain_http_on_tls_port(site):
    with socket.create_connection(("127.0.0.1", site.https_port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(3)
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        assert b"index" not in data
    assert site.server.alive()


def test_client_aborts_mid_handshake(site):
    for _ in range(10):
        raw = socket.create_connection(("127.0.0.1", site.https_port), timeout=5)
        ctx = dc.client_context()
        raw.setblocking(False)
        s = ctx.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
        try:
            s.do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        s.close()
    assert timed_request(site.https_port) < 1.5
    assert site.server.alive()


def test_large_file_over_tls(site):
    with dc.HttpConn("127.0.0.1", site.https_port, tls=True) as c:
        r = c.request("GET", "/big.bin")
        assert r.body == dc.DOCROOT_FILES["big.bin"]
        r = c.request("GET", "/big.bin", headers={"Range": "bytes=1000-1999"})
        assert r.status == 206 and r.body == dc.DOCROOT_FILES["big.bin"][1000:2000]


def test_tls_close_notify_on_connection_close(site):
    with dc.HttpConn("127.0.0.1", site.https_port, tls=True) as c:
        r = c.request("GET", "/hello.txt", headers={"Connection": "close"})
        assert r.body == HELLO
        assert c.eof(3)
