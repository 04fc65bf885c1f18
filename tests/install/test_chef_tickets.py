"""The Chef cookbook's session ticket keys, tested as far as Debian allows: there is no Chef
client, so the recipe's resources never run here. What runs for real: the cookbook's library
(libraries/ticket_keys.rb, plain Ruby) that turns the keys of an attribute or data bag into the
file's bytes and rotates them, and the configuration template rendered with ERB, whose output
`dropcap check` accepts together with a key file the library wrote. Not tested: that Chef's
`file` resource writes those bytes with mode 0640 root:GROUP, the data bag lookup, the
single-node `execute` that makes a key, and the reload notification."""

import base64
import os

import pytest

from install_common import INSTALL, run

import dropcap_fixture as dc

COOKBOOK = os.path.join(INSTALL, "chef", "dropcap")
LIBRARY = os.path.join(COOKBOOK, "libraries", "ticket_keys.rb")


def ruby(code, *args):
    r = run(["ruby", "-r", LIBRARY, "-e", code, *args], timeout=30)
    return r


def file_bytes(keys, kept=2):
    """DropcapTicketKeys.file_bytes(keys, kept), written by Ruby to stdout in binary."""
    code = ("$stdout.binmode; print DropcapTicketKeys.file_bytes(ARGV[1..], ARGV[0].to_i)")
    r = run(["ruby", "-r", LIBRARY, "-e", code, str(kept), *keys], timeout=30, text=False)
    return r


def b64(data):
    return base64.b64encode(data).decode()


def test_the_file_is_the_newest_keys_decoded_and_concatenated():
    keys = [os.urandom(80) for _ in range(3)]
    # openssl rand -base64 80 wraps its output: the library takes that too
    wrapped = base64.encodebytes(keys[1]).decode()
    r = file_bytes([b64(keys[0]), wrapped, b64(keys[2])])
    assert r.returncode == 0, r.stderr
    assert r.stdout == keys[0] + keys[1]
    assert file_bytes([b64(k) for k in keys], kept=3).stdout == b"".join(keys)


@pytest.mark.parametrize("keys, message", [
    ([], "no session ticket keys"),
    ([b64(os.urandom(79))], "key 1 decodes to 79 bytes, not 80"),
    ([b64(os.urandom(80)), "not base64 at all!"], "key 2 decodes to"),
], ids=["none", "short", "garbage"])
def test_a_bad_key_fails_the_run_naming_it(keys, message):
    r = file_bytes(keys)
    assert r.returncode != 0 and message.encode() in r.stderr, r.stderr


def test_rotation_puts_a_new_key_first_and_keeps_the_newest():
    old = [b64(os.urandom(80)), b64(os.urandom(80))]
    r = ruby("puts DropcapTicketKeys.rotate(ARGV, 2)", *old)
    assert r.returncode == 0, r.stderr
    new = r.stdout.split()
    assert len(new) == 2 and new[1] == old[0] and new[0] not in old
    assert len(base64.b64decode(new[0])) == 80


RENDER = r"""
require 'erb'
vars = { 'https' => ARGV[1], 'http' => 'off', 'access_log' => 'off', 'server_options' => {},
         'sites' => [{ 'names' => 'example.test', 'root' => ARGV[2], 'cert' => ARGV[3],
                       'key' => ARGV[4] }],
         'ticket_key_file' => ARGV[5] }
ctx = Object.new
vars.each { |k, v| ctx.instance_variable_set("@#{k}", v) }
print ERB.new(File.read(ARGV[0]), trim_mode: '-').result(ctx.instance_eval { binding })
"""


def test_the_rendered_configuration_and_key_file_pass_dropcap_check(dropcap_bin, world_tmp,
                                                                      tls_files, docroot):
    key_file = os.path.join(world_tmp, "tickets.key")
    with open(key_file, "wb") as f:
        f.write(file_bytes([b64(os.urandom(80)), b64(os.urandom(80))]).stdout)
    os.chmod(key_file, 0o640)
    conf = os.path.join(world_tmp, "dropcap.conf")
    r = run(["ruby", "-e", RENDER, os.path.join(COOKBOOK, "templates", "default",
                                                "dropcap.conf.erb"),
             f"127.0.0.1:{dc.free_port()}", docroot, tls_files.ec_cert, tls_files.ec_key,
             key_file], timeout=30, check=True)
    assert f"\nticket-key-file = {key_file}\n" in r.stdout
    with open(conf, "w") as f:
        f.write(r.stdout)
    r = run([dropcap_bin, "check", "--config", conf])
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr
    os.chmod(key_file, 0o644)  # and dropcap check does read the key file
    r = run([dropcap_bin, "check", "--config", conf])
    assert r.returncode == 1 and "has mode 0644" in r.stderr, r.stderr


def test_the_recipe_installs_the_file_like_the_role():
    with open(os.path.join(COOKBOOK, "recipes", "default.rb")) as f:
        recipe = f.read()
    block = recipe.split("file ticket_path do")[2].split("\n    end\n")[0]
    assert "DropcapTicketKeys.file_bytes" in block and "mode '0640'" in block
    assert "sensitive true" in block and "notifies :reload" in block
    assert "opts += ['--ticket-key-file', ticket_path] if tickets" in recipe
