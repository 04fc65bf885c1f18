"""SIGHUP after the privilege drop and inside the sandbox, in a fresh network namespace where 443
is privileged: the reload reads the certificate and key as the run user, under Landlock and
seccomp.

- As the unprivileged user dropcap-test with a file capability binary and a certbot layout
  (live/ symlinks into archive/): a renewal writes cert2/key2 beside the old files and
  re-points the symlinks; SIGHUP serves the new certificate.
- Started as root with --user and a key only root can read: the start reads it as root, the
  reload as dropcap-test cannot; it fails cleanly, names the file, the user and the fix, and
  the old certificate keeps serving. The doctor says so beforehand; once the fix is applied,
  the next SIGHUP succeeds.
"""

import os
import re
import subprocess

import pytest

import dropcap_fixture as dc

# Each test runs with one worker (the main loop alone) and with two (a worker thread beside it).
pytestmark = pytest.mark.parametrize("workers", [1, 2])

PROOF = re.compile(r"^dropcap: privileges: (.*)$", re.M)


def make_pair(directory, cn, n):
    """cert{n}.pem / key{n}.pem, a P-256 certificate CN=cn, world-readable (the key's mode is
    set by each test)."""
    cert, key = os.path.join(directory, f"cert{n}.pem"), os.path.join(directory, f"key{n}.pem")
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "30", "-subj", f"/CN={cn}",
                    "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-keyout", key,
                    "-out", cert], check=True, capture_output=True)
    os.chmod(cert, 0o644)
    os.chmod(key, 0o644)
    return cert, key


def repoint(link, target):
    """As certbot does: a new symlink renamed over the old one."""
    tmp = link + ".new"
    os.symlink(target, tmp)
    os.rename(tmp, link)


def subject(netns):
    """The CN a new HTTPS connection on 443 is shown, and the page it got."""
    r = netns.run(["curl", "-sS", "-k", "-v", "--max-time", "10", "https://127.0.0.1/hello.txt"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello world\n"
    m = re.search(r"subject: CN ?= ?(\S+)", r.stderr)
    assert m, r.stderr
    return m.group(1)



class Certbot:
    """/etc/letsencrypt in miniature: archive/ holds cert1/key1 (CN=reload-a), live/ links to
    them."""

    def __init__(self, tmp):
        self.root = dc.make_docroot(os.path.join(tmp, "www"))
        self.archive = os.path.join(tmp, "le", "archive")
        self.live = os.path.join(tmp, "le", "live")
        for d in (self.archive, self.live):
            os.makedirs(d, mode=0o755)
            os.chmod(d, 0o755)
        os.chmod(os.path.join(tmp, "le"), 0o755)
        make_pair(self.archive, "reload-a", 1)
        self.cert = os.path.join(self.live, "cert.pem")
        self.key = os.path.join(self.live, "key.pem")
        repoint(self.cert, "../archive/cert1.pem")
        repoint(self.key, "../archive/key1.pem")

    def renew(self, n, key_mode=0o644):
        cert, key = make_pair(self.archive, f"reload-{'abcdef'[n - 1]}", n)
        os.chmod(key, key_mode)
        repoint(self.cert, f"../archive/cert{n}.pem")
        repoint(self.key, f"../archive/key{n}.pem")
        return key

    def args(self, *extra):
        return ["--root", self.root, "--https", ":443", "--http", ":80", "--cert", self.cert,
                "--key", self.key, *extra]


def test_file_capability_user_reloads_a_renewal_inside_the_sandbox(netns, unpriv_user,
                                                                     world_tmp, make_server):
    le = Certbot(world_tmp)
    binary = dc.cap_binary(world_tmp, "cap_net_bind_service,cap_setpcap=p")
    s = make_server(le.args(), binary=binary, user=unpriv_user, netns=netns)
    proof = dict(f.split("=", 1) for f in PROOF.findall(s.stderr_text())[0].split())
    assert proof["via"] == "file-capability" and proof["sandbox"] == "landlock+seccomp"
    assert proof["uid"] == str(unpriv_user[1])
    assert subject(netns) == "reload-a"
    le.renew(2)
    line = s.reload()
    assert "SIGHUP: reloaded" in line and "subject CN=reload-b" in line, s.stderr_text()
    assert subject(netns) == "reload-b"
    assert dc.proc_status(s.pid)["Seccomp"] == "2"  # still confined: the reload ran inside


def test_root_start_with_a_root_only_key_reload_fails_cleanly(netns, unpriv_user, world_tmp,
                                                              make_server):
    le = Certbot(world_tmp)
    os.chmod(os.path.join(le.archive, "key1.pem"), 0o600)  # root:root 0600
    binary = dc.cap_binary(world_tmp, "")
    args = le.args("--user", unpriv_user[0])
    doctor = subprocess.run([binary, "doctor", *args], capture_output=True, text=True,
                            timeout=30).stdout
    assert f"reload (SIGHUP): certificate and key readable by {unpriv_user[0]}: NO: started " \
           "as root" in doctor, doctor
    s = make_server(args, netns=netns, binary=binary)
    assert subject(netns) == "reload-a"  # started: root read the key before the drop
    key2 = le.renew(2, key_mode=0o600)
    line = s.reload()
    assert line == (f"dropcap: warning: SIGHUP: cannot read key {le.key} as {unpriv_user[0]}: "
                    f"Permission denied (the run user must be able to read it: chgrp "
                    f"{unpriv_user[0]} {le.key}; chmod 0640 {le.key}; and search its "
                    "directories. Under the sandbox, only files in the directory the file was "
                    "in at start can be read); still serving the previous certificate"), line
    assert subject(netns) == "reload-a"
    assert s.alive()
    # the fix the message gives, then the next SIGHUP takes the renewal
    os.chown(key2, 0, unpriv_user[2])
    os.chmod(key2, 0o640)
    doctor = subprocess.run([binary, "doctor", *args], capture_output=True, text=True,
                            timeout=30).stdout
    assert f"reload (SIGHUP): certificate and key readable by {unpriv_user[0]}: yes" in doctor
    assert "SIGHUP: reloaded" in s.reload()
    assert subject(netns) == "reload-b"


def test_root_start_with_a_root_only_config_file_doctor_warns_and_reload_keeps_serving(
        netns, unpriv_user, world_tmp, make_server, workers):
    """--config FILE only root can read: started as root it serves (read before the drop), but
    a SIGHUP reads it as the run user and cannot. The doctor says so beforehand and names the
    fix; the reload fails cleanly and the running configuration keeps serving; once the file is
    readable by the run user's group, the next SIGHUP applies it."""
    le = Certbot(world_tmp)
    conf_dir = os.path.join(world_tmp, "etc")
    os.mkdir(conf_dir, 0o755)
    os.chmod(conf_dir, 0o755)
    conf = os.path.join(conf_dir, "dropcap.conf")
    with open(conf, "w") as f:
        f.write(f"https = :443\nhttp = :80\nuser = {unpriv_user[0]}\nworkers = {workers}\n"
                f"root = {le.root}\ncert = {le.cert}\nkey = {le.key}\n")
    os.chmod(conf, 0o600)  # root:root
    binary = dc.cap_binary(world_tmp, "")
    doctor = subprocess.run([binary, "doctor", "--config", conf], capture_output=True,
                            text=True, timeout=30).stdout
    assert f"configuration file {conf}: NOT readable by {unpriv_user[0]}" in doctor, doctor
    assert f"reload (SIGHUP): configuration file readable by {unpriv_user[0]}: NO" in doctor
    s = make_server(["--config", conf], netns=netns, binary=binary)
    assert subject(netns) == "reload-a"
    le.renew(2)
    line = s.reload()
    assert "warning" in line and conf in line and "Permission denied" in line, line
    assert subject(netns) == "reload-a" and s.alive()
    os.chown(conf, 0, unpriv_user[2])
    os.chmod(conf, 0o640)
    doctor = subprocess.run([binary, "doctor", "--config", conf], capture_output=True,
                            text=True, timeout=30).stdout
    assert f"reload (SIGHUP): configuration file readable by {unpriv_user[0]}: yes" in doctor
    assert "SIGHUP: reloaded" in s.reload()
    assert subject(netns) == "reload-b"
