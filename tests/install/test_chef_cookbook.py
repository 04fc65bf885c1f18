"""install/chef/dropcap: no Chef client is a Debian package, so the cookbook is checked with
ruby -c (recipes, attributes, metadata, ERB templates). Its unit template is rendered and compared
with the shipped unit. The logic it runs, dropcap-setcap, is tested for real in
test_setcap_script.py."""

import glob
import os

from install_common import INSTALL, run

COOKBOOK = os.path.join(INSTALL, "chef", "dropcap")


def test_ruby_files_parse():
    files = sorted(glob.glob(os.path.join(COOKBOOK, "**", "*.rb"), recursive=True))
    assert {os.path.relpath(f, COOKBOOK) for f in files} >= {
        "metadata.rb", "attributes/default.rb", "recipes/default.rb"}
    for f in files:
        r = run(["ruby", "-c", f], timeout=30)
        assert r.returncode == 0 and "Syntax OK" in r.stdout, f"{f}: {r.stderr}"


def test_templates_parse():
    templates = glob.glob(os.path.join(COOKBOOK, "templates", "**", "*.erb"), recursive=True)
    assert len(templates) == 2
    for t in templates:
        src = run(["erb", "-x", "-T", "-", t], timeout=30, check=True).stdout
        r = run(["ruby", "-c"], input=src, timeout=30)
        assert r.returncode == 0, f"{t}: {r.stderr}"


def test_capability_step_is_an_execute_guarded_by_check():
    with open(os.path.join(COOKBOOK, "recipes", "default.rb")) as f:
        recipe = f.read()
    block = recipe.split("execute 'install dropcap with its file capability' do")[1]
    block = block.split("\nend\n")[0]
    assert "'--install'" in block and "not_if" in block and "--check" in block
    assert os.path.samefile(os.path.join(COOKBOOK, "files", "default", "dropcap-setcap"),
                            os.path.join(INSTALL, "dropcap-setcap"))


RENDER = r"""
require 'erb'
vars = { 'bin_path' => '/opt/b/dropcap', 'user' => 'web', 'group' => 'webg',
         'env_path' => '/etc/x/dropcap.env' }
ctx = Object.new
vars.each { |k, v| ctx.instance_variable_set("@#{k}", v) }
print ERB.new(File.read(ARGV[0]), trim_mode: '-').result(ctx.instance_eval { binding })
"""


def test_rendered_unit_is_the_shipped_unit():
    r = run(["ruby", "-e", RENDER,
             os.path.join(COOKBOOK, "templates", "default", "dropcap.service.erb")],
            timeout=30, check=True)
    with open(os.path.join(INSTALL, "systemd", "dropcap.service")) as f:
        shipped = (f.read().replace("User=dropcap\n", "User=web\n")
                   .replace("Group=dropcap\n", "Group=webg\n")
                   .replace("EnvironmentFile=/etc/dropcap/dropcap.env",
                            "EnvironmentFile=/etc/x/dropcap.env")
                   .replace("ExecStart=/usr/local/bin/dropcap ", "ExecStart=/opt/b/dropcap "))
    rendered = r.stdout.splitlines()
    assert rendered[0].startswith("# Managed by Chef")
    assert rendered[1:] == shipped.splitlines()
