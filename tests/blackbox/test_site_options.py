"""Per-site options: --redirect-https, --hsts, --error-pages, --fallback, --header and
--security-headers.

Two sites share the same HTTP and HTTPS listeners with different options: "shop" redirects HTTP
to HTTPS (but for ACME's HTTP-01 challenges), sends HSTS, its own 404/403 pages, the security
preset and a Cache-Control for /assets/*; "app" is a single-page application with a --fallback
and no other option. Proves through curl and Python that each option acts on its own site only,
that HSTS never goes out over HTTP, that a certbot --webroot challenge file is served over HTTP
while every other path redirects, that the redirect cannot be turned into an open redirect, that
the fallback never serves a dotfile or a file outside the root, and that a header value that
would inject a field is refused at start with a message naming the fix."""

import os
import subprocess

import pytest

import dropcap_fixture as dc

SHOP, APP = "shop.example.test", "app.example.test"
HSTS = "max-age=31536000; includeSubDomains"
CC = "public, max-age=31536000, immutable"
EVIL = '<img src=x onerror=alert(1)>".txt'  # a file name that is markup


def write(root, rel, text, mode=0o644):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    for d in range(len(rel.split("/")) - 1):
        os.chmod(os.path.join(root, *rel.split("/")[:d + 1]), 0o755)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


@pytest.fixture
def roots(world_tmp):
    shop, app = os.path.join(world_tmp, "shop"), os.path.join(world_tmp, "app")
    os.makedirs(shop)
    os.makedirs(app)
    for d in (shop, app):
        os.chmod(d, 0o755)
    write(shop, "index.html", "<p>shop</p>\n")
    write(shop, "assets/a/b.js", "let shop = 1;\n")
    write(shop, "errors/404.html", "<h1>shop: no such page</h1>\n")
    write(shop, "errors/403.html", "<h1>shop: forbidden</h1>\n")
    os.makedirs(os.path.join(shop, "empty"))
    os.chmod(os.path.join(shop, "empty"), 0o755)
    write(shop, ".well-known/acme-challenge/tok-123", "tok-123.thumbprint")
    write(app, "index.html", "<p>app shell</p>\n")
    write(app, "main.js", "let app = 1;\n")
    write(app, ".env", "SECRET=1\n")
    write(world_tmp, "outside.txt", "outside the root\n")
    write(app, "files/" + EVIL, "x")
    write(app, "files/plain.txt", "plain")
    write(app, "files/.env", "SECRET=1\n")
    os.makedirs(os.path.join(app, "files/sub"))
    os.chmod(os.path.join(app, "files/sub"), 0o755)
    os.symlink(os.path.join(world_tmp, "outside.txt"), os.path.join(app, "files/escape"))
    os.symlink("../.env", os.path.join(app, "files/to-dotfile"))
    os.symlink("plain.txt", os.path.join(app, "files/alias"))
    return shop, app


class TlsPort(int):
    """The HTTPS port, carrying the protocol get(..., tls=True) speaks on it."""

    def __new__(cls, port, proto):
        p = super().__new__(cls, port)
        p.proto = proto
        return p


@pytest.fixture(params=dc.PROTOCOLS)
def srv(request, make_server, roots, tls_files):
    """The two sites; the HTTPS requests of each test go over HTTP/1.1, then over h2."""
    shop, app = roots
    http, https = dc.free_port(), dc.free_port()
    cert, key = tls_files["ec"]
    args = ["--http", f"127.0.0.1:{http}", "--https", f"127.0.0.1:{https}",
            "--root", app, "--cert", cert, "--key", key,
            "--site", APP, "--root", app, "--fallback", "/index.html", "--autoindex",
            "--site", SHOP, "--root", shop, "--redirect-https",
            "--hsts", "31536000;includeSubDomains", "--error-pages", "/errors",
            "--security-headers", "--header", f"/assets/*: Cache-Control: {CC}"]
    return make_server(args), http, TlsPort(https, request.param)


def get(port, host, path, tls=False, method="GET", headers=None):
    if tls and getattr(port, "proto", None) == "h2":
        conn = dc.H2Conn("127.0.0.1", port, server_hostname=host)
    else:
        conn = dc.HttpConn("127.0.0.1", port, tls=tls, server_hostname=host)
    with conn as c:
        return c.request(method, path, host=host, headers=headers)


def curl(*args):
    r = subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True,
                       timeout=20)
    assert r.returncode == 0, r
    return r.stdout


# --- --redirect-https -----------------------------------------------------------------------


def test_http_redirects_to_the_same_target_on_the_https_port(srv):
    """A non-443 HTTPS listener: its port (from getsockname) is in Location; the path and query
    are kept as sent; GET and HEAD both get 301."""
    _, http, https = srv
    for method in ("GET", "HEAD"):
        r = get(http, SHOP, "/a%20b/c?x=1&y=2", method=method)
        assert r.status == 301, r
        assert r.header("Location") == f"https://{SHOP}:{https}/a%20b/c?x=1&y=2", r


def test_redirect_keeps_the_host_without_its_port_and_curl_follows_it(srv, tls_files):
    _, http, https = srv
    out = curl("-k", "-L", "--resolve", f"{SHOP}:{http}:127.0.0.1", "--resolve",
               f"{SHOP}:{https}:127.0.0.1", f"http://{SHOP}:{http}/")
    assert out == b"<p>shop</p>\n"


def test_acme_challenge_is_served_over_http_while_everything_else_redirects(srv):
    """certbot certonly --webroot -w ROOT writes ROOT/.well-known/acme-challenge/TOKEN and the
    CA fetches it over plain HTTP: it is served, with 200, and no redirect."""
    _, http, _ = srv
    out = curl("-D", "-", "--resolve", f"{SHOP}:{http}:127.0.0.1",
               f"http://{SHOP}:{http}/.well-known/acme-challenge/tok-123")
    assert out.startswith(b"HTTP/1.1 200") and out.endswith(b"\r\n\r\ntok-123.thumbprint"), out
    assert get(http, SHOP, "/.well-known/other").status == 301
    assert get(http, SHOP, "/.well-known/acme-challenge/missing").status == 404


def test_acme_root_serves_the_challenges_from_its_own_directory(make_server, roots, world_tmp):
    """--acme-root DIR (certbot certonly --webroot -w DIR): the challenges come from DIR (under
    the sandbox: its Landlock rule), not from the site's root; everything else redirects."""
    shop, _ = roots
    webroot = os.path.join(world_tmp, "webroot")
    os.makedirs(webroot)
    os.chmod(webroot, 0o755)
    write(webroot, ".well-known/acme-challenge/tok-456", "tok-456.thumbprint")
    http = dc.free_port()
    make_server(["--https", "off", "--http", f"127.0.0.1:{http}", "--site", SHOP, "--root",
                 shop, "--redirect-https", "--acme-root", webroot])
    out = curl("-D", "-", "--resolve", f"{SHOP}:{http}:127.0.0.1",
               f"http://{SHOP}:{http}/.well-known/acme-challenge/tok-456")
    assert out.startswith(b"HTTP/1.1 200") and out.endswith(b"\r\n\r\ntok-456.thumbprint"), out
    assert get(http, SHOP, "/.well-known/acme-challenge/tok-123").status == 404
    r = get(http, SHOP, "/index.html")
    assert r.status == 301 and r.header("Location") == f"https://{SHOP}/index.html", r


def test_other_methods_get_405_not_a_redirect(srv):
    _, http, _ = srv
    r = get(http, SHOP, "/", method="DELETE")
    assert r.status == 405 and r.header("Location") is None, r


def test_redirect_is_not_an_open_redirect(srv):
    """The authority of Location is always the request's validated host: a target of
    //evil.example stays a path on it, and a Host with '@' or a CR is refused by the parser."""
    _, http, https = srv
    r = get(http, SHOP, "//evil.example/x")
    assert r.status == 301 and r.header("Location") == f"https://{SHOP}:{https}//evil.example/x"
    assert get(http, "evil.example@" + SHOP, "/").status == 400
    with dc.HttpConn("127.0.0.1", http) as c:
        c.send(f"GET / HTTP/1.1\r\nHost: {SHOP}\rLocation: x\r\n\r\n")
        assert c.read_response().status == 400


def test_a_site_without_the_option_is_not_redirected(srv):
    _, http, _ = srv
    r = get(http, APP, "/main.js")
    assert r.status == 200 and r.body == b"let app = 1;\n"


# --- --hsts -----------------------------------------------------------------------------------


def test_hsts_on_every_https_status_of_its_site_only(srv):
    _, _, https = srv
    for path, status in (("/", 200), ("/missing", 404), ("/empty/", 403), ("/empty", 301)):
        r = get(https, SHOP, path, tls=True)
        assert r.status == status and r.header("Strict-Transport-Security") == HSTS, r
    assert get(https, APP, "/", tls=True).header("Strict-Transport-Security") is None


def test_hsts_never_over_http(srv):
    """RFC 6797 7.2: an HSTS host must not send the field over non-secure transport."""
    _, http, _ = srv
    for path in ("/", "/.well-known/acme-challenge/tok-123"):
        assert get(http, SHOP, path).header("Strict-Transport-Security") is None


# --- --error-pages ----------------------------------------------------------------------------


def test_error_pages_are_served_with_their_status(srv):
    _, _, https = srv
    r = get(https, SHOP, "/missing", tls=True)
    assert r.status == 404 and r.body == b"<h1>shop: no such page</h1>\n", r
    assert r.header("Content-Type").startswith("text/html") and r.header("ETag") is None
    r = get(https, SHOP, "/empty/", tls=True)
    assert r.status == 403 and r.body == b"<h1>shop: forbidden</h1>\n", r
    r = get(https, SHOP, "/missing", tls=True, method="HEAD")
    assert r.status == 404 and r.header("Content-Length") == "28" and r.body == b""


def test_error_page_ignores_conditionals_and_ranges(srv):
    _, _, https = srv
    r = get(https, SHOP, "/missing", tls=True, headers={"Range": "bytes=0-3",
                                                         "If-None-Match": "*"})
    assert r.status == 404 and r.body == b"<h1>shop: no such page</h1>\n", r


def test_a_status_without_a_page_gets_the_built_in_one(srv):
    _, _, https = srv
    r = get(https, SHOP, "/", tls=True, method="DELETE")
    assert r.status == 405 and b"405 Method Not Allowed" in r.body


def test_a_site_without_error_pages_gets_the_built_in_ones(srv):
    """The default site (unknown names) has neither error pages nor a fallback."""
    _, _, https = srv
    r = get(https, "unknown.example.test", "/missing", tls=True)
    assert r.status == 404 and b"404 Not Found" in r.body, r


# --- --fallback -------------------------------------------------------------------------------


def test_fallback_serves_the_app_shell_for_missing_routes(srv):
    _, http, https = srv
    for port, tls in ((http, False), (https, True)):
        r = get(port, APP, "/users/42/profile", tls=tls)
        assert r.status == 200 and r.body == b"<p>app shell</p>\n", r
        etag = r.header("ETag")
        r = get(port, APP, "/other/route", tls=tls, headers={"If-None-Match": etag})
        assert r.status == 304, r


def test_fallback_leaves_asset_paths_at_404(srv):
    _, http, _ = srv
    assert get(http, APP, "/missing.js").status == 404
    assert get(http, APP, "/main.js").body == b"let app = 1;\n"


def test_fallback_never_serves_a_dotfile_or_a_file_outside_the_root(srv):
    _, http, _ = srv
    for path in ("/.env", "/..%2fouts ide.txt", "/../outside.txt", "/%2e%2e/outside.txt"):
        r = get(http, APP, path.replace(" ", ""))
        assert r.status in (400, 404) and b"SECRET" not in r.body, (path, r)
        assert b"outside the root" not in r.body and b"app shell" not in r.body, (path, r)


def test_a_site_without_fallback_gets_404(srv):
    _, _, https = srv
    assert get(https, SHOP, "/users/42", tls=True).status == 404


# --- --autoindex -----------------------------------------------------------------------------


def test_autoindex_lists_escaped_sorted_without_dotfiles_or_escaping_links(srv):
    """A file named <img src=x onerror=alert(1)>".txt appears only escaped (text and href); no
    dotfile, no link out of the root, no link to a dotfile; directories get their slash; the
    entries in byte order."""
    _, http, _ = srv
    body = curl("--resolve", f"{APP}:{http}:127.0.0.1", f"http://{APP}:{http}/files/")
    assert b"<img" not in body and b'"./<' not in body, body
    assert (b'<li><a href="./%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%22.txt">'
            b"&lt;img src=x onerror=alert(1)&gt;&quot;.txt</a>") in body, body
    names = [line.split(b'">', 1)[1].split(b"</a>")[0]
             for line in body.split(b"\n") if line.startswith(b'<li><a href="./')]
    assert names == [b"&lt;img src=x onerror=alert(1)&gt;&quot;.txt", b"alias", b"plain.txt",
                     b"sub/"], body
    assert b"env" not in body and b"escape" not in body and b"to-dotfile" not in body
    r = get(http, APP, "/files/escape")  # the fallback's shell, never the file outside
    assert r.body == b"<p>app shell</p>\n", r


def test_autoindex_large_listing_over_both_transports(srv, roots):
    """1,200 entries: a page larger than one TLS record, sent whole from its buffer; HEAD gets
    the same length and no body; a site without the option still answers 403."""
    _, http, https = srv
    _, app = roots
    for i in range(1200):
        write(app, f"big/entry-{i:05d}.txt", "")
    for port, tls in ((http, False), (https, True)):
        r = get(port, APP, "/big/", tls=tls)
        assert r.status == 200 and len(r.body) > 16384, r
        assert r.body.count(b"<li>") == 1201 and b"entry-01199.txt" in r.body
        assert int(r.header("Content-Length")) == len(r.body)
        h = get(port, APP, "/big/", tls=tls, method="HEAD")
        assert h.status == 200 and h.header("Content-Length") == str(len(r.body)) and not h.body
    assert get(https, SHOP, "/empty/", tls=True).status == 403


# --- --header and --security-headers ----------------------------------------------------------


def test_header_pattern_crosses_slashes_and_applies_to_2xx_and_304(srv):
    _, _, https = srv
    r = get(https, SHOP, "/assets/a/b.js", tls=True)
    assert r.status == 200 and r.header("Cache-Control") == CC, r
    r = get(https, SHOP, "/assets/a/b.js", tls=True, headers={"If-None-Match": r.header("ETag")})
    assert r.status == 304 and r.header("Cache-Control") == CC, r
    assert get(https, SHOP, "/assets/nope.js", tls=True).header("Cache-Control") is None
    assert get(https, SHOP, "/", tls=True).header("Cache-Control") is None


def test_security_headers_preset_on_its_site_only(srv):
    _, _, https = srv
    for path in ("/", "/missing"):
        r = get(https, SHOP, path, tls=True)
        assert r.header("X-Content-Type-Options") == "nosniff", r
        assert r.header("Referrer-Policy") == "strict-origin-when-cross-origin", r
        assert r.header("Content-Security-Policy") == "frame-ancestors 'self'", r
    assert get(https, APP, "/", tls=True).header("X-Content-Type-Options") is None


@pytest.mark.parametrize("arg,says", [
    ("/*: X-Evil: a\r\nSet-Cookie: x=1", "no CR, LF"),
    ("/*: X-Evil: a\nb", "no CR, LF"),
    ("/*: Bad Name: v", "must be a token"),
    ("/*: Content-Length: 0", "dropcap sets Content-Length itself"),
    ("/*: strict-transport-security: max-age=1", "itself"),
    ("assets/*: X-A: b", "PATTERN a path glob"),
    ("/*: X-Empty: ", "the value must follow"),
])
def test_bad_header_is_refused_at_start(dropcap_bin, tls_files, world_tmp, arg, says):
    rc, err = dc.Server(["--root", world_tmp, "--https", "off", "--http", "127.0.0.1:0",
                         "--header", arg]).run_to_exit()
    assert rc != 0 and says in err, err


@pytest.mark.parametrize("args,says", [
    (["--hsts", "soon"], "expected SECONDS"),
    (["--hsts", "60;preloads"], ";preload may follow"),
    (["--fallback", "index.html"], "starting with '/'"),
    (["--fallback", "/.hidden/index.html"], "dotfiles"),
    (["--error-pages", "/../errors"], "without '.' segments"),
])
def test_bad_site_option_values_are_refused_at_start(dropcap_bin, world_tmp, args, says):
    rc, err = dc.Server(["--root", world_tmp, "--https", "off", "--http", "127.0.0.1:0",
                         *args]).run_to_exit()
    assert rc != 0 and says in err, err
