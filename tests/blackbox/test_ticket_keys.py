"""--ticket-key-file: dropcap instances that share one key file resume each other's TLS session
tickets, the way a fleet behind a load balancer must.

Two instances (A and B) share the file. A ticket A issued resumes on B (openssl s_client
-sess_out / -sess_in, "Reused"); the ticket is named by the file's first key; after one
rotation (a new key first, the old one second, SIGHUP both) old tickets still resume and new
ones carry the new key's name; after two rotations (the original key gone) they no longer
resume. A tampered ticket (its key name, IV, ciphertext or tag) gets a full handshake and the
server keeps serving. Without the option, tickets resume on the instance that issued them and
not on another. Bad files (wrong size, empty, missing, unreadable, a symlink, a directory,
too-open permissions) stop the start with a line naming the file and the fix, and on SIGHUP
keep the previous keys (old tickets still resume). The servers run as root and drop to nobody
(the default --user), so a reload reads the file as nobody under the sandbox, as in production.

mbedTLS sends an empty session ID with a ticket, so these sessions never enter the session-ID
cache: a "Reused" here is the ticket's doing."""

import os
import pwd
import signal
import subprocess

import pytest

import dropcap_fixture as dc

pytestmark = pytest.mark.usefixtures("need_root")

KEY_LEN = 80
KEPT = "still using the previous ticket keys"
RELOADED = "SIGHUP: reloaded the ticket keys from "
NOBODY = pwd.getpwnam("nobody")


class KeyFile:
    """The shared key file, replaced the way a deploy replaces it (a new file renamed over the
    old), owned by the run user with mode 0600 unless told otherwise."""

    def __init__(self, directory, keys=1):
        self.path = os.path.join(directory, "tickets.key")
        self.keys = []
        for _ in range(keys):
            self.rotate()

    def write(self, data, mode=0o600, uid=NOBODY.pw_uid):
        tmp = self.path + ".new"
        with open(tmp, "wb") as f:
            f.write(data)
        os.chown(tmp, uid, 0)
        os.chmod(tmp, mode)
        os.rename(tmp, self.path)

    def rotate(self, keep=2):
        """A new key first, at most keep kept (the role's rotation)."""
        self.keys = ([os.urandom(KEY_LEN)] + self.keys)[:keep]
        self.write(b"".join(self.keys))

    def name(self, i=0):
        return self.keys[i][:16]


def serve(make_server, docroot, tls_files, *extra):
    port = dc.free_port()
    s = make_server(["--root", docroot, "--http", "off", "--https", f"127.0.0.1:{port}",
                     "--cert", tls_files.ec_cert, "--key", tls_files.ec_key,
                     "--access-log", "off", *extra])
    return s, port


new_session, resumes, ticket = dc.tls12_new_session, dc.tls12_resumes, dc.session_ticket


def tampered(sess, at, out_path):
    """sess with the ticket's byte at offset at (negative: from its end) flipped."""
    der = subprocess.run(["openssl", "sess_id", "-in", sess, "-outform", "DER"], check=True,
                         capture_output=True).stdout
    t = ticket(sess)
    i = der.index(t)
    bad = bytearray(t)
    bad[at] ^= 0x5A
    der = der[:i] + bytes(bad) + der[i + len(t):]
    subprocess.run(["openssl", "sess_id", "-inform", "DER", "-out", out_path], input=der,
                   check=True, capture_output=True)
    return out_path


@pytest.fixture
def fleet(make_server, docroot, tls_files, world_tmp):
    """Instances A and B sharing one key file of one key."""
    keys = KeyFile(world_tmp)
    a = serve(make_server, docroot, tls_files, "--ticket-key-file", keys.path)
    b = serve(make_server, docroot, tls_files, "--ticket-key-file", keys.path)
    return keys, a, b, world_tmp


def reload_all(*servers):
    """SIGHUP each; returns their ticket reload lines."""
    lines = [s.reload() for s, _ in servers]
    for (s, _), line in zip(servers, lines):
        assert RELOADED in line, s.stderr_text()
    return lines


def test_a_ticket_from_one_instance_resumes_on_the_other(fleet):
    keys, (_, a), (_, b), tmp = fleet
    sess = new_session(a, os.path.join(tmp, "a.sess"))
    assert ticket(sess)[:16] == keys.name(0), "the ticket is not named by the file's key"
    assert resumes(b, sess), "B did not resume A's ticket"
    assert resumes(a, sess)
    sess_b = new_session(b, os.path.join(tmp, "b.sess"))
    assert resumes(a, sess_b), "A did not resume B's ticket"


def test_old_tickets_resume_after_one_rotation_not_after_two(fleet):
    keys, a, b, tmp = fleet
    old = new_session(a[1], os.path.join(tmp, "old.sess"))
    keys.rotate()  # new, old
    assert all("2 keys" in line for line in reload_all(a, b))
    assert resumes(b[1], old) and resumes(a[1], old), "one rotation lost the old tickets"
    mid = new_session(b[1], os.path.join(tmp, "mid.sess"))
    assert ticket(mid)[:16] == keys.name(0), "new tickets are not made with the new key"
    keys.rotate()  # newest, new: the original key is gone
    reload_all(a, b)
    assert not resumes(b[1], old) and not resumes(a[1], old), "a retired key still decrypts"
    assert resumes(a[1], mid), "the key kept for decryption does not decrypt"


@pytest.mark.parametrize("at", [0, 20, 40, -1], ids=["key-name", "iv", "ciphertext", "tag"])
def test_a_tampered_ticket_gets_a_full_handshake(fleet, at):
    keys, (sa, a), (sb, b), tmp = fleet
    sess = new_session(a, os.path.join(tmp, "good.sess"))
    bad = tampered(sess, at, os.path.join(tmp, "bad.sess"))
    assert ticket(bad) != ticket(sess)
    assert not resumes(b, bad) and not resumes(a, bad)
    assert sa.alive() and sb.alive()
    assert resumes(b, sess), "the untampered ticket no longer resumes"


def test_without_the_option_tickets_resume_on_their_instance_only(make_server, docroot,
                                                                  tls_files, world_tmp):
    """Generated keys: each instance has its own (the behaviour before the option)."""
    (_, a), (_, b) = (serve(make_server, docroot, tls_files) for _ in range(2))
    sess = new_session(a, os.path.join(world_tmp, "a.sess"))
    assert resumes(a, sess), "generated keys: no resumption on the same instance"
    assert not resumes(b, sess), "two instances without a key file share keys"


def test_config_file_key(make_server, docroot, tls_files, world_tmp):
    """ticket-key-file in --config works like the option; SIGHUP re-reads it."""
    keys = KeyFile(world_tmp)
    ports = []
    for n in ("a", "b"):
        port = dc.free_port()
        conf = os.path.join(world_tmp, f"{n}.conf")
        with open(conf, "w") as f:
            f.write(f"root = {docroot}\nhttp = off\nhttps = 127.0.0.1:{port}\n"
                    f"cert = {tls_files.ec_cert}\nkey = {tls_files.ec_key}\n"
                    f"access-log = off\nticket-key-file = {keys.path}\n")
        os.chmod(conf, 0o644)
        ports.append((make_server(["--config", conf]), port))
    sess = new_session(ports[0][1], os.path.join(world_tmp, "s"))
    assert resumes(ports[1][1], sess)
    keys.rotate()
    keys.rotate()
    reload_all(*ports)
    assert not resumes(ports[1][1], sess)


# --- bad files --------------------------------------------------------------------------------

def _wrong_size(k):
    k.write(os.urandom(KEY_LEN + 1))
    return "has 81 bytes", "whole 80-byte keys"


def _empty(k):
    k.write(b"")
    return "has 0 bytes", "openssl rand 80 >"


def _too_many(k):
    k.write(os.urandom(33 * KEY_LEN))
    return "holds 33 keys, more than 32", "keep the newest few"


def _missing(k):
    os.unlink(k.path)
    return "No such file or directory", "openssl rand 80 >"


def _symlink(k):
    real = k.path + ".real"
    k.write(os.urandom(KEY_LEN))
    os.rename(k.path, real)
    os.symlink(real, k.path)
    return "is a symbolic link", "name the file itself"


def _directory(k):
    os.unlink(k.path)
    os.mkdir(k.path)
    return "not a regular file", "80-byte keys"


def _world_readable(k):
    k.write(os.urandom(KEY_LEN), mode=0o644)
    return "has mode 0644", "chmod 0600"


def _group_writable(k):
    k.write(os.urandom(KEY_LEN), mode=0o660)
    return "has mode 0660", "chmod 0600"


BAD = [_wrong_size, _empty, _too_many, _missing, _symlink, _directory, _world_readable, _group_writable]


@pytest.mark.parametrize("make_bad", BAD, ids=lambda f: f.__name__.strip("_"))
def test_a_bad_file_stops_the_start(docroot, tls_files, world_tmp, make_bad):
    k = KeyFile(world_tmp)
    problem, fix = make_bad(k)
    rc, err = dc.Server(["--root", docroot, "--http", "off", "--https",
                         f"127.0.0.1:{dc.free_port()}", "--cert", tls_files.ec_cert,
                         "--key", tls_files.ec_key, "--ticket-key-file", k.path]).run_to_exit()
    assert rc == 1, err
    line = [ln for ln in err.splitlines() if k.path in ln]
    assert line and problem in line[0] and fix in line[0], err


def test_an_unreadable_file_stops_the_start(docroot, tls_files, world_tmp, unpriv_user):
    """Started as an ordinary user that cannot read the (root's, 0600) file."""
    k = KeyFile(world_tmp)
    k.write(os.urandom(KEY_LEN), uid=0)
    rc, err = dc.Server(["--root", docroot, "--http", "off", "--https",
                         f"127.0.0.1:{dc.free_port()}", "--cert", tls_files.ec_cert,
                         "--key", tls_files.ec_key, "--ticket-key-file", k.path],
                        user=unpriv_user[0]).run_to_exit()
    assert rc == 1 and f"cannot read ticket key file {k.path}: Permission denied" in err, err
    assert "chmod 0600" in err and "chmod 0640" in err, err


def _unreadable_by_run_user(k):
    k.write(os.urandom(KEY_LEN), uid=0)  # root's, 0600: nobody cannot read it
    return "as nobody: Permission denied", "chown nobody"


@pytest.mark.parametrize("make_bad", BAD + [_unreadable_by_run_user],
                         ids=lambda f: f.__name__.strip("_"))
def test_a_bad_file_on_reload_keeps_the_old_keys(fleet, make_bad):
    keys, a, b, tmp = fleet
    sess = new_session(a[1], os.path.join(tmp, "s"))
    problem, fix = make_bad(keys)
    line = b[0].reload()
    assert keys.path in line and problem in line and fix in line and KEPT in line, line
    assert b[0].alive()
    assert resumes(b[1], sess), "a failed reload lost the keys in service"
    # and a good file afterwards is read again
    if os.path.isdir(keys.path):
        os.rmdir(keys.path)
    elif os.path.lexists(keys.path):
        os.unlink(keys.path)
    keys.rotate(keep=1)
    assert RELOADED in b[0].reload()
    assert not resumes(b[1], sess)


def test_the_option_needs_https(docroot, world_tmp):
    k = KeyFile(world_tmp)
    rc, err = dc.Server(["--root", docroot, "--https", "off", "--http",
                         f"127.0.0.1:{dc.free_port()}", "--ticket-key-file", k.path]
                        ).run_to_exit()
    assert rc == 2 and "--ticket-key-file" in err and "HTTPS is off" in err, err


# --- secrets in memory ------------------------------------------------------------------------

def aes_key(key):
    """The AES-256-GCM key dropcap derives from an 80-byte key: HKDF-SHA256 (RFC 5869, no salt)
    of bytes 16-79 with the info "dropcap session ticket key v1" (the README's recipe)."""
    import hashlib
    import hmac
    prk = hmac.new(b"\0" * 32, key[16:], hashlib.sha256).digest()
    return hmac.new(prk, b"dropcap session ticket key v1\x01", hashlib.sha256).digest()


def test_the_upgrade_helper_holds_no_ticket_key(fleet):
    """The server holds the key's secret bytes and the derived AES key (mbedTLS's key schedule
    starts with it, so finding it also checks the derivation); its upgrade helper, forked
    after the file was read, wiped both."""
    from test_upgrade_helper_secrets import memory_holds
    keys, (s, port), _, tmp = fleet
    new_session(port, os.path.join(tmp, "s"))
    # the OpenSSL build uses the bytes as nginx does (HMAC secret 16-47, AES key 48-79): they
    # are the secret itself; the mbedTLS build derives its AES key
    secret = keys.keys[0][16:]
    derived = aes_key(keys.keys[0]) if dc.tls_library() == "mbedTLS" else secret[32:]
    helpers = dc.upgrade_helpers(s.pid)
    assert len(helpers) == 1, helpers
    assert memory_holds(s.pid, secret) and memory_holds(s.pid, derived), \
        "the search does not find the ticket key in the server itself"
    assert not memory_holds(helpers[0], secret), "the upgrade helper holds the key file's bytes"
    assert not memory_holds(helpers[0], derived), "the upgrade helper holds the AES key"


def test_a_new_path_in_the_config_file_needs_an_upgrade(make_server, docroot, tls_files,
                                                        world_tmp):
    """The sandbox allows the directory of the path given at start only: a changed
    ticket-key-file is reported with its line, and nothing of the new file applies."""
    keys = KeyFile(world_tmp)
    conf = os.path.join(world_tmp, "dropcap.conf")
    head = (f"root = {docroot}\nhttp = off\nhttps = 127.0.0.1:{dc.free_port()}\n"
            f"cert = {tls_files.ec_cert}\nkey = {tls_files.ec_key}\naccess-log = off\n")
    with open(conf, "w") as f:
        f.write(head + f"ticket-key-file = {keys.path}\n")
    os.chmod(conf, 0o644)
    s = make_server(["--config", conf])
    with open(conf, "w") as f:
        f.write(head + f"ticket-key-file = {keys.path}.other\n")
    s.reload()
    text = s.stderr_text()
    assert f"{conf}:7: 'ticket-key-file' changed: that needs an upgrade" in text, text


FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def test_the_ticket_lifetime_is_enforced_on_parse(make_server, docroot, tls_files, world_tmp):
    """B runs 13 hours ahead (libfaketime): a ticket A issued now is older than the 12-hour
    lifetime there, and one B issued began 13 hours in A's future (beyond the 5 minutes of
    skew allowed): both get a full handshake; the same ticket resumes on a third instance
    whose clock is right (the control)."""
    if os.environ.get("DROPCAP_SANITIZED"):
        pytest.skip("ASan must come first among the preloaded libraries")
    if not os.path.exists(FAKETIME_LIB):
        pytest.skip("faketime is not installed (scripts/deps.sh test)")
    keys = KeyFile(world_tmp)
    (_, a), (_, c) = (serve(make_server, docroot, tls_files, "--ticket-key-file", keys.path)
                      for _ in range(2))
    port = dc.free_port()
    b = dc.Server(["--root", docroot, "--http", "off", "--https", f"127.0.0.1:{port}",
                   "--cert", tls_files.ec_cert, "--key", tls_files.ec_key, "--access-log", "off",
                   "--ticket-key-file", keys.path],
                  env={"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": "+13h",
                       "FAKETIME_DONT_FAKE_MONOTONIC": "1"}).start()
    try:
        sess = new_session(a, os.path.join(world_tmp, "a.sess"))
        assert resumes(c, sess), "the control instance does not resume"
        assert not resumes(port, sess), "a ticket older than its lifetime resumed"
        ahead = new_session(port, os.path.join(world_tmp, "b.sess"))
        assert resumes(port, ahead)
        assert not resumes(a, ahead), "a session that starts 13 hours from now resumed"
    finally:  # libfaketime's exit handler calls unlink, which the sandbox refuses: kill it
        b.signal(signal.SIGKILL)
        b.wait(10)


def test_doctor_says_whether_the_run_user_can_read_the_file(docroot, tls_files, world_tmp):
    """Started as root, dropcap reads the file at start whatever its owner, but a reload reads
    it as the run user: dropcap doctor says so before it bites."""
    k = KeyFile(world_tmp)
    args = ["doctor", "--root", docroot, "--http", "off", "--https",
            f"127.0.0.1:{dc.free_port()}", "--cert", tls_files.ec_cert, "--key",
            tls_files.ec_key, "--ticket-key-file", k.path]
    out = subprocess.run([dc.BIN, *args], capture_output=True, text=True, timeout=30).stdout
    assert f"ticket key file {k.path}: readable by nobody" in out, out
    k.write(os.urandom(KEY_LEN), uid=0)
    out = subprocess.run([dc.BIN, *args], capture_output=True, text=True, timeout=30).stdout
    assert f"ticket key file {k.path}: NOT readable by nobody" in out and "fix: " in out, out


def test_tickets_resume_across_an_upgrade(make_server, docroot, tls_files, world_tmp):
    """SIGUSR2 starts the binary again, as the run user: it reads the same key file, so
    tickets issued before the upgrade resume after it (generated keys would be new ones)."""
    dc.become_subreaper()
    keys = KeyFile(world_tmp)
    s, port = serve(make_server, docroot, tls_files, "--ticket-key-file", keys.path)
    sess = new_session(port, os.path.join(world_tmp, "s"))
    s.request_upgrade()
    new = s.upgraded_pid()
    assert s.follow_upgrade(new) == 0, s.stderr_text()
    assert resumes(port, sess), "the upgraded process does not resume the old tickets"
