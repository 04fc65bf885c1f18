"""GET/HEAD, methods, directories, MIME types, the standard response fields, versions, Host.
The tests run over HTTP/1.1 and over h2, but those about HTTP/1.x framing and versions."""

import email.utils
import os
import subprocess
import time
import urllib.parse

import pytest

import dropcap_fixture as dc

UTF8 = "; charset=utf-8"
# file -> acceptable Content-Type values (issue 3's table; text types carry charset=utf-8)
MIME = {
    "index.html": ["text/html" + UTF8],
    "UPPER.HTML": ["text/html" + UTF8],
    "style.css": ["text/css" + UTF8],
    "app.js": ["text/javascript" + UTF8, "application/javascript" + UTF8],
    "mod.mjs": ["text/javascript" + UTF8, "application/javascript" + UTF8],
    "data.json": ["application/json", "application/json" + UTF8],
    "img.svg": ["image/svg+xml", "image/svg+xml" + UTF8],
    "img.png": ["image/png"],
    "img.jpg": ["image/jpeg"],
    "img.jpeg": ["image/jpeg"],
    "img.gif": ["image/gif"],
    "img.webp": ["image/webp"],
    "img.avif": ["image/avif"],
    "favicon.ico": ["image/x-icon", "image/vnd.microsoft.icon"],
    "font.woff2": ["font/woff2"],
    "mod.wasm": ["application/wasm"],
    "notes.txt": ["text/plain" + UTF8],
    "feed.xml": ["application/xml", "text/xml" + UTF8],
    "doc.pdf": ["application/pdf"],
    "movie.mp4": ["video/mp4"],
    "movie.webm": ["video/webm"],
    "blob.bin": ["application/octet-stream"],
    "noext": ["application/octet-stream"],
}


def curl(*args, timeout=10):
    """Runs curl; returns (status, headers dict lowercased, body bytes)."""
    out = subprocess.run(["curl", "-sS", "-k", "--max-time", str(timeout), "-D", "-", *args],
                         capture_output=True, timeout=timeout + 5)
    assert out.returncode == 0, out.stderr.decode()
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


@pytest.fixture(params=dc.PROTOCOLS)
def site(request, site):
    """Each test runs over HTTP/1.1 (plain) and over HTTP/2 (TLS, ALPN h2)."""
    return dc.OverProtocol(site, request.param)


def conn(site):
    return site.connect()


def test_get_file(site):
    status, h, body = curl(*site.curl_args, site.url("/hello.txt"))
    assert status == 200
    assert body == dc.DOCROOT_FILES["hello.txt"]
    assert h["content-length"] == str(len(body))
    assert h["content-type"] == "text/plain" + UTF8


def test_get_root_serves_index_html(site):
    status, h, body = curl(*site.curl_args, site.url("/"))
    assert status == 200
    assert body == dc.DOCROOT_FILES["index.html"]
    assert h["content-type"] == "text/html" + UTF8


def test_subdirectory_index(site):
    with conn(site) as c:
        r = c.request("GET", "/sub/")
        assert r.status == 200 and r.body == dc.DOCROOT_FILES["sub/index.html"]


def test_head_has_headers_and_no_body(site):
    with conn(site) as c:
        g = c.request("GET", "/page.html")
        h = c.request("HEAD", "/page.html")
        # the connection is still usable: a body after HEAD would corrupt this response
        g2 = c.request("GET", "/hello.txt")
    assert h.status == 200 and h.body == b""
    assert h.header("Content-Length") == str(len(dc.DOCROOT_FILES["page.html"]))
    for f in ("Content-Type", "ETag", "Last-Modified"):
        assert h.header(f) == g.header(f), f
    assert g2.status == 200 and g2.body == dc.DOCROOT_FILES["hello.txt"]


def test_head_with_curl(site):
    out = subprocess.run(["curl", "-sS", "-I", "--max-time", "5", *site.curl_args,
                          site.url("/index.html")], capture_output=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(b"HTTP/2 200" if site.proto == "h2" else b"HTTP/1.1 200")
    assert b"\r\n\r\n" == out.stdout[-4:]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE",
                                    "CONNECT"])
def test_other_methods_405_with_allow(site, method):
    """Methods of RFC 9110 that a static site does not allow (an unknown one is 501: see
    test_rfc9110.py)."""
    if method == "CONNECT" and site.proto == "h2":
        pytest.skip("an h2 CONNECT has no :path (RFC 9113 8.5): nghttp2 resets it")
    with conn(site) as c:
        r = c.request(method, "/hello.txt", headers={"Content-Length": "0"})
    assert r.status == 405
    allow = {m.strip() for m in (r.header("Allow") or "").split(",")}
    assert allow == {"GET", "HEAD"}


def test_post_with_body_does_not_desync(site):
    """A 405 for a request with a body: the body must not be parsed as the next request."""
    site.http1_only()
    with conn(site) as c:
        body = b"GET /.secret HTTP/1.1\r\nHost: x\r\n\r\n"
        c.send(b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
               + body)
        r = c.read_response()
        assert r.status == 405
        # either the server closed, or the next response is for the next real request
        if not c.eof(0.5):
            c.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            r2 = c.read_response()
            assert r2.status == 200 and r2.body == dc.DOCROOT_FILES["hello.txt"]


@pytest.mark.parametrize("path,query", [("/sub", ""), ("/sub", "a=1&b=%2F"),
                                         ("/sub/deeper", ""), ("/.well-known", "")])
def test_directory_without_slash_redirects(site, path, query):
    target = path + ("?" + query if query else "")
    with conn(site) as c:
        r = c.request("GET", target)
    assert r.status == 301
    loc = urllib.parse.urlsplit(r.header("Location"))
    assert loc.path == path + "/"
    assert loc.query == query
    if loc.netloc:  # an absolute Location must point back at this server
        assert loc.netloc in ("localhost", f"localhost:{site.http_port}",
                              f"localhost:{site.https_port}")


@pytest.mark.parametrize("target,want", [
    ("//example.com/../sub", "/sub/"),       # found by fuzz_uri: Location was "//example.com/../sub/"
    ("/\\example.com/../sub", "/sub/"),      # browsers read "/\\" as "//" too
    ("//sub", "/sub/"),
    ("/%73ub", "/sub/"),                       # the Location is the normalised, re-encoded path
])
def test_redirect_stays_on_this_server(site, target, want):
    with conn(site) as c:
        r = c.request("GET", target)
    assert r.status == 301
    assert r.header("Location") == want


def test_redirect_followed_by_curl(site):
    out = subprocess.run(["curl", "-sS", "-L", "--max-redirs", "3", "--max-time", "5",
                          *site.curl_args, "-w", "%{num_redirects}", site.url("/sub?x=1")],
                         capture_output=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert out.stdout == dc.DOCROOT_FILES["sub/index.html"] + b"1"


def test_head_redirect(site):
    with conn(site) as c:
        r = c.request("HEAD", "/sub")
    assert r.status == 301 and r.body == b""
    assert urllib.parse.urlsplit(r.header("Location")).path == "/sub/"


def test_directory_without_index(site):
    with conn(site) as c:
        r = c.request("GET", "/noindex/")
    assert r.status in (403, 404)
    assert b"in a directory" not in r.body


def test_missing_file_404(site):
    with conn(site) as c:
        r = c.request("GET", "/nope.html")
        assert r.status == 404
        assert r.header("Content-Length") == str(len(r.body))
        assert r.header("Date")
        r = c.request("GET", "/hello.txt/")  # a file is not a directory
        assert r.status == 404
        r = c.request("HEAD", "/nope.html")
        assert r.status == 404 and r.body == b""


@pytest.mark.parametrize("name", sorted(MIME))
def test_mime_types(site, name):
    status, h, body = curl(*site.curl_args, site.url("/" + urllib.parse.quote(name)))
    assert status == 200
    assert body == dc.DOCROOT_FILES[name]
    assert h["content-type"] in MIME[name]


def test_file_name_with_space(site):
    with conn(site) as c:
        r = c.request("GET", "/a%20b.txt")
    assert r.status == 200 and r.body == dc.DOCROOT_FILES["a b.txt"]


def test_empty_file(site):
    with conn(site) as c:
        r = c.request("GET", "/empty.txt")
    assert r.status == 200 and r.body == b"" and r.header("Content-Length") == "0"


def test_standard_fields(site):
    path = os.path.join(site.root, "notes.txt")
    with conn(site) as c:
        r = c.request("GET", "/notes.txt")
    assert r.status == 200
    assert r.header("Content-Length") == str(len(dc.DOCROOT_FILES["notes.txt"]))
    date = email.utils.parsedate_to_datetime(r.header("Date")).timestamp()
    assert abs(date - time.time()) < 60
    assert r.header("Date").endswith(" GMT")
    lm = email.utils.parsedate_to_datetime(r.header("Last-Modified")).timestamp()
    assert int(lm) == int(os.stat(path).st_mtime)
    etag = r.header("ETag")
    assert etag and etag.strip("W/").startswith('"') and etag.endswith('"')
    assert r.header("Accept-Ranges") == "bytes"
    # every field at most once
    names = [k.lower() for k, _ in r.headers]
    assert len(names) == len(set(names)), names


def test_etag_stable_and_distinct(site):
    with conn(site) as c:
        a1 = c.request("GET", "/hello.txt").header("ETag")
        a2 = c.request("GET", "/hello.txt").header("ETag")
        b = c.request("GET", "/notes.txt").header("ETag")
    assert a1 == a2
    assert a1 != b


def test_etag_changes_when_file_changes(make_server, world_tmp):
    root = dc.make_docroot(world_tmp)
    port = dc.free_port()
    make_server(["--root", root, "--http", f"127.0.0.1:{port}", "--https", "off"])
    path = os.path.join(root, "hello.txt")
    old = time.time() - 100  # a past second: Last-Modified is never later than now
    os.utime(path, (old, old))
    with dc.HttpConn("127.0.0.1", port) as c:
        first = c.request("GET", "/hello.txt")
        with open(path, "wb") as f:
            f.write(b"changed content, longer\n")
        second = c.request("GET", "/hello.txt")
    assert second.body == b"changed content, longer\n"
    assert first.header("ETag") != second.header("ETag")
    assert first.header("Last-Modified") != second.header("Last-Modified")


def test_http10(site):
    site.http1_only()
    with conn(site) as c:
        c.send(b"GET /hello.txt HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == dc.DOCROOT_FILES["hello.txt"]
        assert r.version in ("HTTP/1.1", "HTTP/1.0")
        assert c.eof(3), "HTTP/1.0 without keep-alive: the server must close"


def test_http10_keep_alive(site):
    site.http1_only()
    with conn(site) as c:
        c.send(b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert (r.header("Connection") or "").lower() == "keep-alive"
        c.send(b"GET /notes.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == dc.DOCROOT_FILES["notes.txt"]


def test_http10_head(site):
    site.http1_only()
    with conn(site) as c:
        c.send(b"HEAD / HTTP/1.0\r\n\r\n")
        r = c.read_response(head_request=True)
        assert r.status == 200 and c.read_to_eof() == b""


def test_http11_without_host_400(site):
    site.http1_only()
    with conn(site) as c:
        c.send(b"GET /hello.txt HTTP/1.1\r\n\r\n")
        r = c.read_response()
        assert r.status == 400
        assert dc.DOCROOT_FILES["hello.txt"] not in r.body


def test_http2_version_505(site):
    site.http1_only()
    with conn(site) as c:
        c.send(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")
        r = c.read_response()
    assert r.status == 505


def test_http2_preface_rejected(site):
    site.http1_only()
    with conn(site) as c:
        c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        r = c.read_response()
        assert r.status in (400, 505)


@pytest.mark.parametrize("raw", [
    b"GET / HTTP/1.1\r\nHost: x\r\nX-A: one\r\n two\r\n\r\n",   # obs-fold
    b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",                      # space before colon
    b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",           # two Host fields
    b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",       # control byte in a value
    b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n",                # control byte in the target
    b"GET / FOO/1.1\r\nHost: x\r\n\r\n",
    b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"GET hello.txt HTTP/1.1\r\nHost: x\r\n\r\n",              # not origin-form
])
def test_malformed_requests_400(site, raw):
    site.http1_only()
    with conn(site) as c:
        c.send(raw)
        r = c.read_response()
        assert r.status == 400
        assert c.eof(3), "after a 400 the connection should be closed"


def test_bare_lf_request(site):
    site.http1_only()
    with conn(site) as c:
        c.send(b"GET /hello.txt HTTP/1.1\nHost: x\n\n")
        r = c.read_response()
    assert r.status == 200 and r.body == dc.DOCROOT_FILES["hello.txt"]


def test_absolute_form_target(site):
    site.http1_only()
    with conn(site) as c:
        r = c.request("GET", "http://localhost/hello.txt?x=1")
    assert r.status == 200 and r.body == dc.DOCROOT_FILES["hello.txt"]


def test_query_ignored(site):
    with conn(site) as c:
        r = c.request("GET", "/hello.txt?v=123&x=../../etc/passwd")
    assert r.status == 200 and r.body == dc.DOCROOT_FILES["hello.txt"]


def test_http_client_module(site):
    site.http1_only()
    import http.client

    c = http.client.HTTPConnection(site.host, site.http_port, timeout=5)
    try:
        for path, name in (("/", "index.html"), ("/style.css", "style.css"),
                           ("/sub/page.html", "sub/page.html")):
            c.request("GET", path)
            r = c.getresponse()
            assert r.status == 200
            assert r.read() == dc.DOCROOT_FILES[name]
    finally:
        c.close()


def test_large_file(site):
    with conn(site) as c:
        r = c.request("GET", "/big.bin")
    assert r.status == 200 and r.body == dc.DOCROOT_FILES["big.bin"]
