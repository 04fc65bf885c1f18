"""The Ansible role over a fleet: an inventory of two hosts (web1 and web2, both
ansible_connection=local, each with its own paths and port) run with Debian's ansible package.
The role makes one session ticket key file for the play and installs the same bytes on both
hosts (root:GROUP 0640, the mode dropcap accepts for a secret its group reads); a second run
reports changed=0 on both. Each host's installed dropcap, started as the service user with the
options the role wrote, resumes the other's TLS session tickets. A rotation run
(-e dropcap_ticket_key_rotate=true) puts a new key first and keeps the old one second on both
hosts; after SIGHUP (the role's handler does `systemctl reload`, which cannot run without
systemd as PID 1, so the test sends it) old tickets still resume and new ones carry the new key;
a run without the rotation changes nothing again."""

import os
import shlex
import stat

import pytest

from install_common import (ansible_playbook, copy_binary, recap, removes_user_afterwards,
                            run)

import dropcap_fixture as dc

new_session, resumes, ticket = dc.tls12_new_session, dc.tls12_resumes, dc.session_ticket

pytestmark = pytest.mark.usefixtures("need_root", "dropcap_bin")

USER = "dropcap-fleet-t"
HOSTS = ("web1", "web2")


def play(base, inventory, extra):
    _, out = ansible_playbook(base, extra, inventory=inventory)
    return {h: recap(out, h) for h in HOSTS}, out


@pytest.fixture(scope="module")
def fleet(dropcap_bin, tls_files, docroot):
    """Two runs of the role over the two-host inventory."""
    base = dc.world_tmpdir("dropcap-fleet-")
    src = copy_binary(base, "dropcap.src")
    hosts, lines = {}, ["[fleet]"]
    for h in HOSTS:
        d = os.path.join(base, h)
        for sub in ("bin", "sbin"):
            os.makedirs(os.path.join(d, sub))
        for p in (d, os.path.join(d, "bin"), os.path.join(d, "sbin")):
            os.chmod(p, 0o755)
        hv = {
            "dropcap_bin_path": f"{d}/bin/dropcap",
            "dropcap_setcap_path": f"{d}/sbin/dropcap-setcap",
            "dropcap_stage_path": f"{d}/cache/dropcap",
            "dropcap_conf_dir": f"{d}/etc",
            "dropcap_unit_path": f"{d}/dropcap.service",
            "dropcap_https": f"127.0.0.1:{dc.free_port()}",
        }
        hosts[h] = hv
        lines.append(" ".join([h, "ansible_connection=local"] +
                              [f"{k}={v}" for k, v in hv.items()]))
    inventory = os.path.join(base, "inventory")
    with open(inventory, "w") as f:
        f.write("\n".join(lines) + "\n")
    common = {  # extra vars win over inventory vars: nothing per host here
        "dropcap_binary_src": src,
        "dropcap_user": USER,
        "dropcap_group": USER,
        "dropcap_root": docroot,
        "dropcap_http": "off",
        "dropcap_cert_src": tls_files.ec_cert,
        "dropcap_key_src": tls_files.ec_key,
        "dropcap_manage_service": False,
    }
    with removes_user_afterwards(USER):
        first, _ = play(base, inventory, common)
        second, out2 = play(base, inventory, common)
        yield base, inventory, common, hosts, first, second, out2


def key_file(hv):
    return os.path.join(hv["dropcap_conf_dir"], "tickets.key")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_one_key_on_every_host_and_a_second_run_changes_nothing(fleet):
    _, _, _, hosts, first, second, out2 = fleet
    assert all(first[h]["failed"] == 0 and first[h]["changed"] >= 8 for h in HOSTS), first
    assert all(second[h]["changed"] == 0 and second[h]["failed"] == 0 for h in HOSTS), out2
    keys = [read(key_file(hosts[h])) for h in HOSTS]
    assert len(keys[0]) == 80 and keys[0] == keys[1], "the hosts do not share one key"
    for h in HOSTS:
        st = os.stat(key_file(hosts[h]))
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o640)
        assert run(["stat", "-c", "%G", key_file(hosts[h])]).stdout.strip() == USER
        env = read(os.path.join(hosts[h]["dropcap_conf_dir"], "dropcap.env")).decode()
        assert f"--ticket-key-file {key_file(hosts[h])}" in env


def serve(make_server, hv):
    """The host's dropcap, started as the service user with the options the role wrote."""
    with open(os.path.join(hv["dropcap_conf_dir"], "dropcap.env")) as f:
        opts = [ln.split("=", 1)[1] for ln in f if ln.startswith("DROPCAP_OPTS=")][0]
    args = shlex.split(shlex.split(opts)[0]) + ["--access-log", "off"]
    s = make_server(args, binary=hv["dropcap_bin_path"], user=USER)
    return s, int(hv["dropcap_https"].rsplit(":", 1)[1])


def test_tickets_resume_across_hosts_and_survive_a_rotation(fleet, make_server):
    base, inventory, common, hosts, *_ = fleet
    (s1, p1), (s2, p2) = (serve(make_server, hosts[h]) for h in HOSTS)
    old_key = read(key_file(hosts["web1"]))
    sess = new_session(p1, os.path.join(base, "web1.sess"))
    assert resumes(p2, sess), "web2 did not resume web1's ticket"

    rotated, out = play(base, inventory, {**common, "dropcap_ticket_key_rotate": True})
    assert all(rotated[h]["changed"] == 1 and rotated[h]["failed"] == 0 for h in HOSTS), out
    keys = [read(key_file(hosts[h])) for h in HOSTS]
    assert keys[0] == keys[1] and len(keys[0]) == 160 and keys[0][80:] == old_key, \
        "the rotation did not put a new key first and keep the old one on both hosts"
    for s in (s1, s2):
        assert "SIGHUP: reloaded the ticket keys from" in s.reload() and s.alive()
    assert resumes(p2, sess) and resumes(p1, sess), "the rotation lost the old tickets"
    new = new_session(p2, os.path.join(base, "web2.sess"))
    assert ticket(new)[:16] == keys[0][:16], "new tickets are not made with the new key"
    assert resumes(p1, new)

    again, out = play(base, inventory, common)
    assert all(again[h]["changed"] == 0 for h in HOSTS), out
    assert read(key_file(hosts["web1"])) == keys[0]
