"""Several sites on the same listeners (--site NAME[,NAME...] blocks).

Three named sites and the unnamed default one (the options before the first --site), each with
its own root and, but for one, its own certificate (SAN per site). Proves through real clients
(Python ssl with server_hostname, openssl s_client -servername, curl --resolve) that the TLS
server name picks the site's certificate, that the Host field picks the site's files on both
listeners (exact names, one-label wildcards, any case, a trailing dot, a port), that a Host of
another site than the server name gets 421 and the connection stays usable, that an unknown
name (or none) gets the default site (the first one, or the one marked --default), that the
file cache does not hand one site's file to another, that SIGHUP reloads every site's
certificate with one line per site and a bad file keeps only that site's old one, and that each
command-line mistake is one message naming the fix."""

import json
import os
import signal
import ssl
import subprocess
import time

import pytest

import dropcap_fixture as dc

# name -> (--site argument, certificate SANs or None, the file who.txt says)
SITES = {
    "docs": ("docs.example.test,docs.example.net", ["docs.example.test", "docs.example.net"]),
    "blog": ("*.blog.test", ["*.blog.test"]),
    "bare": ("bare.example.test", None),  # no certificate: HTTPS serves the default site's
}
DEFAULT_SANS = ["main.example.test", "localhost"]


def make_cert(directory, name, sans):
    """A self-signed P-256 certificate CN=name with these DNS names; returns (crt, key, der)."""
    crt, key = os.path.join(directory, name + ".crt"), os.path.join(directory, name + ".key")
    dc.self_signed(crt, key, name, sans)
    with open(crt) as f:
        return crt, key, ssl.PEM_cert_to_DER_cert(f.read())


def make_root(base, name):
    """A root whose who.txt and index.html name the site."""
    root = os.path.join(base, "root-" + name)
    os.makedirs(root)
    os.chmod(root, 0o755)
    for fname, text in (("who.txt", f"site {name}\n"), ("index.html", f"<p>{name}</p>\n")):
        with open(os.path.join(root, fname), "w") as f:
            f.write(text)
        os.chmod(os.path.join(root, fname), 0o644)
    return root


class Sites:
    """The roots and certificates of the main (default) site and the three named ones."""

    def __init__(self, base):
        self.base = base
        tls = os.path.join(base, "tls")
        os.makedirs(tls)
        os.chmod(tls, 0o755)
        self.tls = tls
        self.root = {"main": make_root(base, "main")}
        self.cert = {"main": make_cert(tls, "main", DEFAULT_SANS)}
        for name, (_, sans) in SITES.items():
            self.root[name] = make_root(base, name)
            if sans:
                self.cert[name] = make_cert(tls, name, sans)

    def args(self, http, https, marked_default=None):
        """The command line: the default site's options first, then one --site block each."""
        a = ["--http", f"127.0.0.1:{http}", "--https", f"127.0.0.1:{https}",
             "--root", self.root["main"], "--cert", self.cert["main"][0],
             "--key", self.cert["main"][1]]
        for name, (names, sans) in SITES.items():
            a += ["--site", names, "--root", self.root[name]]
            if sans:
                a += ["--cert", self.cert[name][0], "--key", self.cert[name][1]]
            if name == marked_default:
                a += ["--default"]
        return a


@pytest.fixture
def sites(world_tmp):
    return Sites(world_tmp)


@pytest.fixture
def server(make_server, sites):
    http, https = dc.free_port(), dc.free_port()
    s = make_server(sites.args(http, https))
    return s, http, https


def who(site):
    return f"site {site}\n".encode()


def der_for(port, server_hostname):
    with dc.HttpConn("127.0.0.1", port, tls=True, server_hostname=server_hostname) as c:
        return c.sock.getpeercert(binary_form=True)


def connect(port, tls=False, sni="localhost", proto="http/1.1"):
    """HTTP/1.1 (plain or TLS), or h2 (TLS) when proto says so."""
    if proto == "h2":
        return dc.H2Conn("127.0.0.1", port, server_hostname=sni)
    return dc.HttpConn("127.0.0.1", port, tls=tls, server_hostname=sni)


def get(port, host, path="/who.txt", tls=False, sni="localhost", proto="http/1.1"):
    with connect(port, tls, sni, proto) as c:
        return c.request("GET", path, host=host)


# --- the TLS server name picks the certificate --------------------------------------------------


@pytest.mark.parametrize("sni,site", [
    ("docs.example.test", "docs"),
    ("DOCS.Example.NET", "docs"),
    ("a.blog.test", "blog"),
    ("main.example.test", "main"),
    ("bare.example.test", "main"),       # a site without a certificate: the default's (nginx)
    ("unknown.example.test", "main"),    # an unknown name: the default site's
    ("x.y.blog.test", "main"),           # a wildcard covers one label only
    (None, "main"),                      # no server name at all
])
def test_python_ssl_server_hostname_picks_the_sites_certificate(server, sites, sni, site):
    _, _, https = server
    assert der_for(https, sni) == sites.cert[site][2]


@pytest.mark.parametrize("sni,cn", [("docs.example.net", "docs"), ("b.blog.test", "blog"),
                                    ("nobody.test", "main")])
def test_openssl_s_client_servername_gets_the_sites_certificate(server, sni, cn):
    _, _, https = server
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{https}",
                        "-servername", sni, "-brief"], input=b"", capture_output=True,
                       timeout=20)
    out = r.stdout.decode() + r.stderr.decode()
    assert f"Peer certificate: CN = {cn}" in out or f"subject=CN = {cn}" in out, out


# --- the Host field picks the files, on both listeners -------------------------------------------


@pytest.mark.parametrize("name,site", [
    ("docs.example.test", "docs"),
    ("docs.example.net", "docs"),
    ("x.blog.test", "blog"),
    ("bare.example.test", "bare"),
    ("main.example.test", "main"),
])
def test_curl_resolve_gets_the_right_sites_files_over_https_and_http(server, sites, name, site):
    """curl verifies the certificate against the site's own (or, for the site without one, the
    default site's, whose SANs do not cover it: -k there) and gets the site's file."""
    _, http, https = server
    cert = sites.cert.get(site)
    verify = ["--cacert", cert[0]] if cert else ["-k"]
    for scheme, port, extra in (("https", https, verify), ("https", https, verify + ["--http2"]),
                                ("http", http, [])):
        r = subprocess.run(["curl", "-sS", "--max-time", "10", "--resolve",
                            f"{name}:{port}:127.0.0.1", *extra,
                            f"{scheme}://{name}:{port}/who.txt"], capture_output=True,
                           timeout=20)
        assert r.returncode == 0 and r.stdout == who(site), (scheme, r)


@pytest.mark.parametrize("host,site", [
    ("DOCS.EXAMPLE.TEST", "docs"),
    ("docs.example.test.", "docs"),          # a trailing dot
    ("docs.example.test:8080", "docs"),      # a port
    ("Docs.Example.Test.:443", "docs"),
    ("Deep.Blog.Test", "blog"),
    ("blog.test", "main"),                   # the wildcard needs a label before it
    ("a.b.blog.test", "main"),               # ...exactly one
    ("unknown.example.test", "main"),        # unknown: the default site
    ("127.0.0.1", "main"),
    ("xn--bcher-kva.example", "main"),
])
def test_host_field_picks_the_site_on_http(server, host, site):
    _, http, _ = server
    r = get(http, host)
    assert r.status == 200 and r.body == who(site), (host, r)


def test_http10_without_host_gets_the_default_site(server):
    _, http, _ = server
    with dc.HttpConn("127.0.0.1", http) as c:
        r = c.request("GET", "/who.txt", host=None, version="HTTP/1.0")
    assert r.status == 200 and r.body == who("main")


def test_sites_do_not_share_cached_files(server):
    """The same path in two sites, asked for in turn on one connection within the file cache's
    lifetime: each answer comes from its own root (the cache is keyed by root and path)."""
    _, http, _ = server
    with dc.HttpConn("127.0.0.1", http) as c:
        for _ in range(3):
            for host, site in (("docs.example.test", "docs"), ("a.blog.test", "blog"),
                               ("main.example.test", "main")):
                for path in ("/who.txt", "/"):
                    r = c.request("GET", path, host=host)
                    assert r.status == 200 and site.encode() in r.body, (host, path, r)


# --- 421 when the Host names another site than the server name ------------------------------------


@pytest.mark.parametrize("sni,host", [
    ("docs.example.test", "a.blog.test"),
    ("docs.example.test", "main.example.test"),
    ("a.blog.test", "unknown.example.test"),     # an unknown Host is the default site's
    ("unknown.example.test", "docs.example.test"),  # an unknown name picked the default
    ("bare.example.test", "docs.example.net"),
])
def test_host_of_another_site_than_sni_gets_421_and_the_connection_stays(server, sni, host,
                                                                        proto):
    """Over HTTP/1.1 the Host field, over h2 :authority, against the TLS server name."""
    _, _, https = server
    with connect(https, True, sni, proto) as c:
        r = c.request("GET", "/who.txt", host=host)
        assert r.status == 421 and r.reason in ("Misdirected Request", ""), r
        assert b"421" in r.body and r.header("Connection") != "close"
        r = c.request("HEAD", "/who.txt", host=host)
        assert r.status == 421
        ok = c.request("GET", "/who.txt", host=sni.upper() + ":443")
        assert ok.status == 200, ok


@pytest.mark.parametrize("sni,host,site", [
    ("docs.example.test", "docs.example.net", "docs"),   # two names of one site
    ("a.blog.test", "b.blog.test", "blog"),              # one wildcard site
    ("unknown.example.test", "other.unknown.test", "main"),  # both the default
    ("bare.example.test", "bare.example.test", "bare"),  # the default's certificate, own files
])
def test_host_of_the_same_site_as_sni_is_served(server, sni, host, site, proto):
    _, _, https = server
    r = get(https, host, tls=True, sni=sni, proto=proto)
    assert r.status == 200 and r.body == who(site), r


def test_no_sni_serves_by_host(server, proto):
    """A client that sends no server name (an IP address) is not misdirected: Host decides."""
    _, _, https = server
    r = get(https, "docs.example.test", tls=True, sni=None, proto=proto)
    assert r.status == 200 and r.body == who("docs")


# --- the default site ---------------------------------------------------------------------------


def test_the_site_marked_default_answers_unknown_names(make_server, sites, world_tmp):
    """Without options before the first --site, the first site is the default; --default in a
    later block makes that one the default instead: its certificate for unknown names too."""
    http, https = dc.free_port(), dc.free_port()
    args = ["--http", f"127.0.0.1:{http}", "--https", f"127.0.0.1:{https}"]
    for name, (names, _) in SITES.items():
        if name == "bare":
            continue
        args += ["--site", names, "--root", sites.root[name], "--cert", sites.cert[name][0],
                 "--key", sites.cert[name][1]]
    first = make_server(args)
    assert get(http, "unknown.test").body == who("docs")
    assert der_for(https, "unknown.test") == sites.cert["docs"][2]
    first.stop()
    http, https = dc.free_port(), dc.free_port()
    args[1], args[3] = f"127.0.0.1:{http}", f"127.0.0.1:{https}"
    make_server(args + ["--default"])
    assert get(http, "unknown.test").body == who("blog")
    assert get(http, None).status == 400  # HTTP/1.1 without Host is still a bad request
    assert der_for(https, "unknown.test") == sites.cert["blog"][2]
    assert der_for(https, None) == sites.cert["blog"][2]
    assert get(http, "docs.example.test").body == who("docs")


def test_one_site_command_line_serves_every_name(make_server, sites):
    """Today's command line: one unnamed site answers every Host and server name, no 421."""
    http, https = dc.free_port(), dc.free_port()
    make_server(["--root", sites.root["main"], "--http", f"127.0.0.1:{http}", "--https",
                 f"127.0.0.1:{https}", "--cert", sites.cert["main"][0], "--key",
                 sites.cert["main"][1]])
    for host in ("docs.example.test", "anything.test", "localhost"):
        assert get(http, host).body == who("main")
        assert get(https, host, tls=True, sni="docs.example.test").body == who("main")


# --- SIGHUP reloads every site's certificate --------------------------------------------------------


def sighup_lines(server, want, timeout=10.0):
    before = len(server.stderr_lines())
    server.signal(signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [ln for ln in server.stderr_lines()[before:] if "SIGHUP:" in ln]
        if len(lines) >= want:
            time.sleep(0.2)  # no further line may follow
            return [ln for ln in server.stderr_lines()[before:] if "SIGHUP:" in ln]
        assert server.alive(), server.stderr_text()
        time.sleep(0.01)
    raise AssertionError(f"fewer than {want} SIGHUP lines:\n{server.stderr_text()}")


def replace(path, src):
    tmp = path + ".new"
    with open(src, "rb") as f, open(tmp, "wb") as g:
        g.write(f.read())
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def test_sighup_reloads_each_sites_certificate_and_a_bad_one_keeps_its_old(server, sites):
    s, _, https = server
    lines = sighup_lines(s, 3)
    assert len(lines) == 3, lines  # main, docs, blog: bare has no certificate of its own
    assert any("for site docs.example.test,docs.example.net" in ln and "CN=docs" in ln
               for ln in lines), lines
    assert any("for site *.blog.test" in ln and "CN=blog" in ln for ln in lines), lines
    # a new docs certificate, and a broken blog one
    spare = os.path.join(sites.base, "spare")
    os.makedirs(spare)
    new_docs = make_cert(spare, "docs2", ["docs.example.test", "docs.example.net"])
    replace(sites.cert["docs"][0], new_docs[0])
    replace(sites.cert["docs"][1], new_docs[1])
    with open(sites.cert["blog"][0], "w") as f:
        f.write("not a certificate\n")
    lines = sighup_lines(s, 3)
    assert len(lines) == 3, lines
    assert any("for site docs.example.test" in ln and "CN=docs2" in ln for ln in lines), lines
    bad = [ln for ln in lines if "*.blog.test" in ln]
    assert len(bad) == 1 and "still serving the previous certificate" in bad[0], lines
    assert sites.cert["blog"][0] in bad[0]
    assert der_for(https, "docs.example.net") == new_docs[2]
    assert der_for(https, "a.blog.test") == sites.cert["blog"][2]
    assert der_for(https, "main.example.test") == sites.cert["main"][2]
    assert get(https, "a.blog.test", tls=True, sni="a.blog.test").body == who("blog")


# --- command-line errors --------------------------------------------------------------------------


def run(args):
    return dc.Server(args).run_to_exit(timeout=10)


def error_line(stderr):
    lines = [ln for ln in stderr.splitlines() if ln.startswith("dropcap: ")]
    assert lines, stderr
    return lines[0]


def test_command_line_errors_name_the_fix(sites):
    http, https = dc.free_port(), dc.free_port()
    listen = ["--http", f"127.0.0.1:{http}", "--https", f"127.0.0.1:{https}"]
    d, m = sites.root["docs"], sites.root["main"]
    dc_, dk = sites.cert["docs"][:2]
    cases = [
        (["--site", "a.test", "--root", d, "--cert", dc_, "--key", dk,
          "--site", "b.test,A.TEST.", "--root", m],
         ["two sites claim the name A.TEST", "give each name to one site only"]),
        (["--site", "*.x.test", "--root", d, "--cert", dc_, "--key", dk,
          "--site", "*.X.test", "--root", m], ["two sites claim the name *.X.test"]),
        (["--site", "a.test", "--root", d, "--cert", dc_, "--key", dk, "--site", "b.test"],
         ["--site b.test has no --root", "give --root DIR after --site b.test"]),
        (["--site", "a.test", "--root", d, "--site", "b.test", "--root", m, "--cert", dc_,
          "--key", dk],
         ["HTTPS needs a certificate for the default site (--site a.test)",
          "give --cert FILE --key FILE after --site a.test", "or --https off"]),
        (["--site", "a.test", "--root", d, "--cert", dc_, "--key", dk, "--default",
          "--site", "b.test", "--root", m, "--default"],
         ["two sites are marked --default", "mark one only"]),
        (["--root", m, "--cert", dc_, "--key", dk, "--site", "b.test", "--root", d,
          "--default"],
         ["already make the default site", "drop --default"]),
        (["--site", "a.test", "--root", d, "--cert", dc_],
         ["--cert and --key go together: give both after --site a.test"]),
        (["--site", "a test", "--root", d, "--cert", dc_, "--key", dk],
         ["'a test' is not a host name"]),
        (["--site", "b\u00fccher.test", "--root", d, "--cert", dc_, "--key", dk],
         ["xn-- form"]),
        (["--site", "a.test,,b.test", "--root", d, "--cert", dc_, "--key", dk],
         ["an empty name"]),
        (["--site", "*.test", "--root", d, "--cert", dc_, "--key", dk], ["two labels"]),
        (["--cert", dc_, "--key", dk, "--site", "a.test", "--root", d],
         ["--root DIR is required", "the options before the first --site make the default"]),
    ]
    too_many = ["--root", m, "--cert", dc_, "--key", dk]
    for i in range(64):
        too_many += ["--site", f"s{i}.test", "--root", d]
    cases.append((too_many, ["--site s63.test: at most 64 sites",
                             "serve the rest from another dropcap"]))
    for args, wants in cases:
        rc, err = run(listen + args)
        line = error_line(err)
        assert rc == 2, (args, err)
        for want in wants:
            assert want in line, (args, line)


def test_a_bad_certificate_names_its_site(sites, world_tmp):
    bad = os.path.join(world_tmp, "bad.crt")
    with open(bad, "w") as f:
        f.write("garbage\n")
    os.chmod(bad, 0o644)
    rc, err = run(["--http", f"127.0.0.1:{dc.free_port()}", "--https",
                   f"127.0.0.1:{dc.free_port()}", "--root", sites.root["main"], "--cert",
                   sites.cert["main"][0], "--key", sites.cert["main"][1], "--site",
                   "docs.example.test", "--root", sites.root["docs"], "--cert", bad, "--key",
                   sites.cert["docs"][1]])
    assert rc == 1, err
    line = error_line(err)
    assert "site docs.example.test: bad certificate file " + bad in line, line


# --- the access log records the site ------------------------------------------------------------


def test_access_log_records_each_requests_site(make_server, sites):
    """Every format but combined_nosite names the site each request went to: its first name
    (the default site without --site has none: null / "-"). The site is the Host's, on both
    listeners. combined (the default) puts it last, in quotes; site_combined first."""
    for fmt in ("json", "site_combined", "combined"):
        http, https = dc.free_port(), dc.free_port()
        s = make_server(sites.args(http, https) + ["--log-format", fmt])
        assert get(http, "docs.example.net").body == who("docs")
        assert get(https, "x.blog.test", tls=True, sni="x.blog.test").body == who("blog")
        assert get(http, "unknown.test").body == who("main")
        text = s.wait_stdout(lambda t: t.count("\n") >= 3, timeout=5)
        lines = text.splitlines()[:3]
        if fmt == "json":
            assert [json.loads(ln)["site"] for ln in lines] == \
                ["docs.example.test", "*.blog.test", None], lines
        elif fmt == "site_combined":
            assert [ln.split(" ", 1)[0] for ln in lines] == \
                ["docs.example.test", "*.blog.test", "-"], lines
        else:
            assert [ln.rsplit(" ", 1)[1] for ln in lines] == \
                ['"docs.example.test"', '"*.blog.test"', '"-"'], lines
