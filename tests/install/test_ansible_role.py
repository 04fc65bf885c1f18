"""The Ansible role install/ansible/roles/dropcap, run for real with Debian's ansible package:
ansible-playbook -c local against localhost. The first run changes things, the second reports
changed=0, and the installed binary serves 443 as the service user in a fresh netns.
Everything goes under a scratch directory and a scratch user, removed afterwards."""

import os
import shlex
import stat

import pytest

from install_common import (ANSIBLE_ROLES, INSTALL, REPO, ansible_playbook, assert_caps,
                            copy_binary, removes_user_afterwards, run, serve_443, setcap_script)

import dropcap_fixture as dc

pytestmark = pytest.mark.usefixtures("need_root", "dropcap_bin")

USER = "dropcap-ansible-t"


def playbook(base, extra_vars):
    return ansible_playbook(base, extra_vars)


@pytest.fixture(scope="module")
def deployed(dropcap_bin, tls_files, docroot):
    """Two runs of the role, shared by the tests of this module (each run takes seconds)."""
    if not dc.is_root():
        pytest.skip("needs root (users, setcap, network namespaces)")
    base = dc.world_tmpdir("dropcap-ansible-")
    src = copy_binary(base, "dropcap.src")  # a snapshot: the build may change under the test
    for d in ("bin", "sbin"):
        os.mkdir(os.path.join(base, d))
        os.chmod(os.path.join(base, d), 0o755)
    v = {
        "dropcap_binary_src": src,
        "dropcap_bin_path": f"{base}/bin/dropcap",
        "dropcap_setcap_path": f"{base}/sbin/dropcap-setcap",
        "dropcap_stage_path": f"{base}/cache/dropcap",
        "dropcap_conf_dir": f"{base}/etc",
        "dropcap_unit_path": f"{base}/dropcap.service",
        "dropcap_user": USER,
        "dropcap_group": USER,
        "dropcap_root": docroot,
        "dropcap_cert_src": tls_files.ec_cert,
        "dropcap_key_src": tls_files.ec_key,
        "dropcap_manage_service": False,  # no systemd as PID 1 here
    }
    with removes_user_afterwards(USER):
        first, out1 = playbook(base, v)
        second, out2 = playbook(base, v)
        yield v, first, second, out2


def test_first_run_changes_second_run_changes_nothing(deployed):
    v, first, second, out2 = deployed
    assert first["failed"] == 0 and first["changed"] >= 8, first
    assert second == {**second, "changed": 0, "failed": 0}, out2


def test_binary_installed_with_capability_and_restricted(deployed):
    v = deployed[0]
    b = v["dropcap_bin_path"]
    assert_caps(b)
    st = os.stat(b)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o750)
    assert run(["stat", "-c", "%G", b]).stdout.strip() == USER
    r = setcap_script("--check", b)
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr
    key = os.stat(os.path.join(v["dropcap_conf_dir"], "key.pem"))
    assert stat.S_IMODE(key.st_mode) == 0o640 and key.st_uid == 0


def test_rendered_unit_is_the_shipped_unit(deployed):
    """The role's template must stay the unit in install/systemd, with the role's paths."""
    v = deployed[0]
    with open(v["dropcap_unit_path"]) as f:
        rendered = f.read().splitlines()
    with open(os.path.join(INSTALL, "systemd", "dropcap.service")) as f:
        shipped = f.read()
    shipped = (shipped.replace("User=dropcap\n", f"User={USER}\n")
               .replace("Group=dropcap\n", f"Group={USER}\n")
               .replace("EnvironmentFile=/etc/dropcap/dropcap.env",
                        f"EnvironmentFile={v['dropcap_conf_dir']}/dropcap.env")
               .replace("ExecStart=/usr/local/bin/dropcap ", f"ExecStart={v['dropcap_bin_path']} "))
    assert rendered[0].startswith("#")
    assert rendered[1:] == shipped.splitlines()


def test_installed_binary_serves_443_as_the_service_user(deployed):
    """Start it with exactly the options the role wrote into dropcap.env."""
    v = deployed[0]
    env = {}
    with open(os.path.join(v["dropcap_conf_dir"], "dropcap.env")) as f:
        for line in f:
            if line.startswith("DROPCAP_OPTS="):
                env["opts"] = shlex.split(line.split("=", 1)[1])[0]
    args = shlex.split(env["opts"])
    assert args[:6] == ["--root", v["dropcap_root"], "--https", ":443", "--http", ":80"]
    err, https, http = serve_443(v["dropcap_bin_path"], USER, None, None, args=args)
    assert https == http == dc.DOCROOT_FILES["index.html"].decode()


def test_role_reinstalls_a_binary_that_lost_its_capability(deployed):
    """A copy over the binary (cp, rsync) drops the capability: the next run puts it back."""
    v = deployed[0]
    b = v["dropcap_bin_path"]
    run(["cp", v["dropcap_binary_src"], b], check=True)
    assert setcap_script("--check", b).returncode == 1
    result, out = playbook(os.path.dirname(v["dropcap_unit_path"]), v)
    assert result["changed"] == 1, out
    assert "changed: [localhost]" in out.split("Install dropcap with its file capability")[1]
    assert_caps(b)
    assert os.stat(b).st_mode & 0o777 == 0o750


def test_role_choice_is_explained():
    with open(os.path.join(ANSIBLE_ROLES, "dropcap", "tasks", "main.yml")) as f:
        tasks = f.read()
    assert "community.general.capabilities" in tasks  # the comment that explains the choice
    assert "dropcap-setcap" in tasks and "--install" in tasks
    assert os.path.samefile(os.path.join(ANSIBLE_ROLES, "dropcap", "files", "dropcap-setcap"),
                            os.path.join(REPO, "install", "dropcap-setcap"))


# --- configuration-file mode: two sites ------------------------------------------------------


@pytest.fixture(scope="module")
def deployed_sites(dropcap_bin, tls_files, docroot):
    """The role with dropcap_sites (two sites, the first with a certificate): two runs."""
    if not dc.is_root():
        pytest.skip("needs root (users, setcap, network namespaces)")
    base = dc.world_tmpdir("dropcap-ansible-sites-")
    src = copy_binary(base, "dropcap.src")
    for d in ("bin", "sbin"):
        os.mkdir(os.path.join(base, d))
        os.chmod(os.path.join(base, d), 0o755)
    docs = os.path.join(base, "docs")
    v = {
        "dropcap_binary_src": src,
        "dropcap_bin_path": f"{base}/bin/dropcap",
        "dropcap_setcap_path": f"{base}/sbin/dropcap-setcap",
        "dropcap_stage_path": f"{base}/cache/dropcap",
        "dropcap_conf_dir": f"{base}/etc",
        "dropcap_unit_path": f"{base}/dropcap.service",
        "dropcap_user": USER,
        "dropcap_group": USER,
        "dropcap_cert_src": tls_files.ec_cert,
        "dropcap_key_src": tls_files.ec_key,
        "dropcap_manage_service": False,
        "dropcap_server_options": {"max-conns": 500, "core-dumps": False},
        "dropcap_sites": [
            {"names": "example.test,www.example.test", "root": docroot,
             "cert": f"{base}/etc/cert.pem", "key": f"{base}/etc/key.pem"},
            {"names": "docs.example.test", "root": docs, "options": {"default": False}},
        ],
    }
    with removes_user_afterwards(USER):
        first, out1 = playbook(base, v)
        os.chmod(docs, 0o755)
        second, out2 = playbook(base, v)
        yield v, first, second, out2


def test_two_sites_second_run_changes_nothing(deployed_sites):
    v, first, second, out2 = deployed_sites
    assert first["failed"] == 0 and first["changed"] >= 8, first
    assert second == {**second, "changed": 0, "failed": 0}, out2


def test_two_sites_file_is_valid_and_the_unit_runs_it(deployed_sites):
    v = deployed_sites[0]
    conf = os.path.join(v["dropcap_conf_dir"], "dropcap.conf")
    text = open(conf).read()
    assert "[site example.test,www.example.test]" in text and "[site docs.example.test]" in text
    assert "max-conns = 500" in text and "core-dumps = false" in text
    assert not os.path.exists(os.path.join(v["dropcap_conf_dir"], "dropcap.env"))
    r = run([v["dropcap_bin_path"], "check", "--config", conf])
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr
    st = os.stat(conf)
    assert stat.S_IMODE(st.st_mode) == 0o640
    unit = open(v["dropcap_unit_path"]).read()
    assert f"ExecStart={v['dropcap_bin_path']} --config {conf}\n" in unit
    assert "EnvironmentFile" not in unit.split("[Service]")[1].split("ExecReload")[0]


def test_two_sites_installed_binary_serves_443_from_the_file(deployed_sites):
    v = deployed_sites[0]
    conf = os.path.join(v["dropcap_conf_dir"], "dropcap.conf")
    err, https, http = serve_443(v["dropcap_bin_path"], USER, None, None,
                                 args=["--config", conf])
    assert https == http == dc.DOCROOT_FILES["index.html"].decode()  # the first site: default
    assert "serving" in err and "(site docs.example.test)" in err


def test_a_file_dropcap_check_refuses_never_goes_in_place(deployed_sites):
    v = dict(deployed_sites[0])
    conf = os.path.join(v["dropcap_conf_dir"], "dropcap.conf")
    before = open(conf).read()
    v["dropcap_sites"] = v["dropcap_sites"][:1] + [
        {"names": "docs.example.test", "root": v["dropcap_sites"][1]["root"],
         "options": {"rot": "/srv"}}]
    with pytest.raises(AssertionError) as e:
        playbook(os.path.dirname(v["dropcap_unit_path"]), v)
    assert "unknown key 'rot' (did you mean 'root'?)" in str(e.value)
    assert open(conf).read() == before
