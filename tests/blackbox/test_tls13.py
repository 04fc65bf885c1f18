"""TLS 1.3 in the OpenSSL build (make TLS=openssl): openssl s_client -tls1_3 negotiates it with
X25519 first, only the three common AEAD suites, tickets resume, early data (0-RTT) is never
accepted, and TLS 1.2 keeps its ECDHE+AEAD policy beside it. The mbedTLS build speaks TLS 1.2
only (test_tls.py checks that it refuses 1.3): these tests skip there.

Each "must not" is first shown possible against a permissive openssl s_server (the control)."""

import os
import subprocess

import pytest

import dropcap_fixture as dc

RAW_ENV = dict(os.environ, OPENSSL_CONF="/dev/null")  # not Debian's client policy
REQUEST = b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
HELLO = dc.DOCROOT_FILES["hello.txt"]


@pytest.fixture(autouse=True, scope="module")
def openssl_build(dropcap_bin):
    if not dc.tls13(dropcap_bin):
        pytest.skip(f"the {dc.tls_library(dropcap_bin)} build speaks TLS 1.2 only")


def s_client(port, *args, stdin=REQUEST):
    """openssl s_client -tls1_3 against 127.0.0.1:port, sending one request (so that it reads
    the response, and the session tickets before it); returns (rc, output)."""
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                          "-servername", "localhost", "-tls1_3", "-ign_eof", *args],
                         input=stdin, capture_output=True, timeout=10, env=RAW_ENV)
    return out.returncode, (out.stdout + out.stderr).decode("latin-1")


def start_control(tls_files, *args):
    """A permissive openssl s_server (stdin kept open: it stops at its end) and its port."""
    port = dc.free_port()
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-quiet",
         "-cert", tls_files.ec_cert, "-key", tls_files.ec_key, *args],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=RAW_ENV)
    dc.wait_port("127.0.0.1", port, timeout=5)
    return proc, port


@pytest.fixture(scope="module")
def control(tls_files):
    """openssl s_server with every TLS 1.3 suite (CCM ones too) answering HTTP, its tickets
    allowing 16 KiB of early data."""
    proc, port = start_control(
        tls_files, "-www", "-max_early_data", "16384", "-ciphersuites", "TLS_AES_128_GCM_SHA256:TLS_AES_128_CCM_SHA256:"
        "TLS_AES_128_CCM_8_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256")
    yield port
    proc.kill()
    proc.wait(5)


def test_tls13_negotiated_with_x25519(site):
    rc, out = s_client(site.https_port, "-brief")
    assert rc == 0, out
    assert "Protocol version: TLSv1.3" in out, out
    assert "Server Temp Key: X25519" in out, out
    assert "HTTP/1.1 200 OK" in out and HELLO.decode() in out, out


def test_tls13_p256_when_offered_alone(site):
    rc, out = s_client(site.https_port, "-brief", "-groups", "P-256")
    assert rc == 0 and "Server Temp Key: ECDH, prime256v1" in out, out


@pytest.mark.parametrize("suite", ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                   "TLS_CHACHA20_POLY1305_SHA256"])
def test_tls13_suites_accepted(site, suite):
    rc, out = s_client(site.https_port, "-brief", "-ciphersuites", suite)
    assert rc == 0 and f"Ciphersuite: {suite}" in out, out


@pytest.mark.parametrize("suite", ["TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"])
def test_tls13_ccm_suites_refused(site, control, suite):
    """CCM (and its short 8-byte tag) is not in the list: a client offering only it fails."""
    rc, out = s_client(control, "-brief", "-ciphersuites", suite)
    assert rc == 0 and f"Ciphersuite: {suite}" in out, f"control:\n{out}"
    rc, out = s_client(site.https_port, "-brief", "-ciphersuites", suite)
    assert "CONNECTION ESTABLISHED" not in out, out


def resume(port, tmp, *args):
    """A full handshake that saves its session, then one that offers it back: the second's
    "New"/"Reused" line and the whole output."""
    sess = os.path.join(tmp, "session.pem")
    rc, out = s_client(port, "-sess_out", sess)
    assert rc == 0 and "New, TLSv1.3" in out, out
    rc, out = s_client(port, "-sess_in", sess, *args)
    line = [l for l in out.splitlines() if l.startswith(("New,", "Reused,"))]
    assert rc == 0 and line, out
    return line[0], out


def test_tls13_ticket_resumes(site, world_tmp):
    line, out = resume(site.https_port, world_tmp)
    assert line.startswith("Reused, TLSv1.3"), out
    assert "HTTP/1.1 200 OK" in out


def early_data_allowed(session_file):
    text = subprocess.run(["openssl", "sess_id", "-in", session_file, "-text", "-noout"],
                          capture_output=True, text=True, check=True, env=RAW_ENV).stdout
    return int(text.split("Max Early Data:")[1].split()[0])


def test_tls13_early_data_never_accepted(site, control, world_tmp):
    """dropcap's tickets allow no early data (0-RTT, replayable), so a client never sends
    it; the control's allow it, and the same client then sends its request as early data."""
    early = os.path.join(world_tmp, "early.txt")
    with open(early, "wb") as f:
        f.write(REQUEST)
    session = os.path.join(world_tmp, "session.pem")
    line, out = resume(control, world_tmp, "-early_data", early)
    assert early_data_allowed(session) == 16384, "control"
    assert "Early data was not sent" not in out, f"control:\n{out}"
    line, out = resume(site.https_port, world_tmp, "-early_data", early)
    assert early_data_allowed(session) == 0
    assert line.startswith("Reused, TLSv1.3"), out
    assert "Early data was not sent" in out, out


def test_tls12_beside_tls13_keeps_its_policy(site):
    """TLS 1.2 still negotiates, with an ECDHE+AEAD suite; a CBC-only offer fails."""
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{site.https_port}",
                          "-servername", "localhost", "-tls1_2", "-brief"], input=REQUEST,
                         capture_output=True, timeout=10, env=RAW_ENV)
    text = (out.stdout + out.stderr).decode("latin-1")
    assert "Protocol version: TLSv1.2" in text and "Ciphersuite: ECDHE-ECDSA-AES128-GCM" in text
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{site.https_port}",
                          "-servername", "localhost", "-tls1_2", "-brief",
                          "-cipher", "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0"], input=REQUEST,
                         capture_output=True, timeout=10, env=RAW_ENV)
    assert "CONNECTION ESTABLISHED" not in (out.stdout + out.stderr).decode("latin-1")


def test_tls13_tickets_resume_across_instances_sharing_a_key_file(make_server, docroot,
                                                                    tls_files, world_tmp,
                                                                    need_root):
    """--ticket-key-file covers TLS 1.3 tickets: one instance's resumes on the other, and not
    on a third with its own keys."""
    from test_ticket_keys import KeyFile, serve
    keys = KeyFile(world_tmp)
    (_, a), (_, b) = (serve(make_server, docroot, tls_files, "--ticket-key-file", keys.path)
                      for _ in range(2))
    _, alone = serve(make_server, docroot, tls_files)
    sess = os.path.join(world_tmp, "a.pem")
    rc, out = s_client(a, "-sess_out", sess)
    assert rc == 0 and "New, TLSv1.3" in out, out
    rc, out = s_client(b, "-sess_in", sess)
    assert "Reused, TLSv1.3" in out, out
    rc, out = s_client(alone, "-sess_in", sess)
    assert "New, TLSv1.3" in out, out
