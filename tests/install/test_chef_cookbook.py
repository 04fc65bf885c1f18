"""install/chef/dropcap: no Chef client is a Debian package, so the cookbook is checked with
ruby -c (recipes, attributes, metadata, ERB templates). Its unit template is rendered and compared
with the shipped unit. The logic it runs, dropcap-setcap, is tested for real in
test_setcap_script.py."""

import glob
import os

from install_common import INSTALL, run

import dropcap_fixture as dc

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
    assert len(templates) == 3  # the unit, dropcap.env, dropcap.conf
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


def test_rendered_unit_in_config_file_mode_runs_the_file():
    r = run(["ruby", "-e", RENDER.replace("'env_path' => '/etc/x/dropcap.env' }",
                                          "'env_path' => '/etc/x/dropcap.env', "
                                          "'config_path' => '/etc/x/dropcap.conf' }"),
             os.path.join(COOKBOOK, "templates", "default", "dropcap.service.erb")],
            timeout=30, check=True)
    assert "\nExecStart=/opt/b/dropcap --config /etc/x/dropcap.conf\n" in r.stdout
    assert "\nEnvironmentFile=" not in r.stdout


RENDER_CONF = r"""
require 'erb'
require 'json'
ctx = Object.new
JSON.parse(ARGV[1]).each { |k, v| ctx.instance_variable_set("@#{k}", v) }
print ERB.new(File.read(ARGV[0]), trim_mode: '-').result(ctx.instance_eval { binding })
"""


def test_two_site_file_renders_checks_and_serves_both_sites(dropcap_bin, tls_files, docroot,
                                                           world_tmp, make_server):
    """The recipe's verify command, run on the template rendered with two sites; then dropcap
    serves that very file: each site by its name over HTTPS (SNI) and HTTP (Host). What no
    Debian package can show is chef-client running the recipe's resources."""
    import json
    docs = os.path.join(world_tmp, "docs")
    os.mkdir(docs)
    with open(os.path.join(docs, "index.html"), "w") as f:
        f.write("the docs site\n")
    https, http = dc.free_port(), dc.free_port()
    v = {"https": f"127.0.0.1:{https}", "http": f"127.0.0.1:{http}", "access_log": None,
         "server_options": {"max-conns": 500},
         "sites": [{"names": "example.test,www.example.test", "root": docroot,
                    "cert": tls_files.ec_cert, "key": tls_files.ec_key},
                   {"names": "docs.example.test", "root": docs, "cert": tls_files.rsa_cert,
                    "key": tls_files.rsa_key, "options": {"default": True}}]}
    r = run(["ruby", "-e", RENDER_CONF,
             os.path.join(COOKBOOK, "templates", "default", "dropcap.conf.erb"), json.dumps(v)],
            timeout=30, check=True)
    conf = os.path.join(world_tmp, "dropcap.conf")
    with open(conf, "w") as f:
        f.write(r.stdout)
    assert "[site docs.example.test]\nroot = " + docs + "\n" in r.stdout
    assert r.stdout.endswith("\ndefault = true\n") and "max-conns = 500\n" in r.stdout
    with open(os.path.join(COOKBOOK, "recipes", "default.rb")) as f:
        assert "verify \"#{Shellwords.escape(bin)} check --config %{path}\"" in f.read()
    c = run([dc.BIN, "check", "--config", conf], timeout=30)
    assert (c.returncode, c.stdout) == (0, "ok\n"), c.stderr
    make_server(["--config", conf])
    for url, port, name, want in (
            ("https://docs.example.test", https, "docs.example.test", "the docs site\n"),
            ("http://docs.example.test", http, "docs.example.test", "the docs site\n"),
            ("https://www.example.test/hello.txt", https, "www.example.test", "hello world\n")):
        r = run(["curl", "-sSk", "--resolve", f"{name}:{port}:127.0.0.1",
                 url.replace(name, f"{name}:{port}")], timeout=30)
        assert (r.returncode, r.stdout) == (0, want), (url, r.stderr)
