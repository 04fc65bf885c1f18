"""Precompressed FILE.gz: served only when the client accepts gzip, with Vary: Accept-Encoding."""

import gzip
import subprocess

import pytest

import dropcap_fixture as dc

PAGE = dc.DOCROOT_FILES["page.html"]
PAGE_GZ = dc.DOCROOT_FILES["page.html.gz"]


def get(site, path, ae=None, method="GET", extra=None):
    headers = dict(extra or {})
    if ae is not None:
        headers["Accept-Encoding"] = ae
    with dc.HttpConn(site.host, site.http_port) as c:
        return c.request(method, path, headers=headers)


def vary_has_accept_encoding(r):
    return any("accept-encoding" in v.lower() for v in r.all("Vary"))


@pytest.mark.parametrize("ae", ["gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.8", "GZIP",
                                "deflate, gzip;q=0.5"])
def test_gzip_served_when_accepted(site, ae):
    r = get(site, "/page.html", ae)
    assert r.status == 200
    assert r.header("Content-Encoding") == "gzip"
    assert r.body == PAGE_GZ
    assert gzip.decompress(r.body) == PAGE
    assert r.header("Content-Length") == str(len(PAGE_GZ))
    assert r.header("Content-Type") == "text/html; charset=utf-8"  # the type of page.html
    assert vary_has_accept_encoding(r)


@pytest.mark.parametrize("ae", [None, "", "identity", "br", "deflate", "gzip;q=0", "gzip; q=0.0",
                                "br, gzip;q=0", "gzipx"])
def test_plain_when_gzip_not_accepted(site, ae):
    r = get(site, "/page.html", ae)
    assert r.status == 200
    assert r.header("Content-Encoding") is None
    assert r.body == PAGE
    # RFC 9110 12.5.5: the uncompressed variant varies on Accept-Encoding too (nginx gzip_vary)
    assert vary_has_accept_encoding(r), "plain variant of a file that has a .gz lacks Vary"


def test_no_vary_without_gz_variant(site):
    r = get(site, "/hello.txt", "gzip")
    assert r.header("Content-Encoding") is None
    assert r.body == dc.DOCROOT_FILES["hello.txt"]


def test_gz_etag_differs_from_plain(site):
    plain = get(site, "/page.html", None)
    gz = get(site, "/page.html", "gzip")
    assert plain.header("ETag") != gz.header("ETag")


def test_gzip_head(site):
    r = get(site, "/page.html", "gzip", method="HEAD")
    assert r.status == 200 and r.header("Content-Encoding") == "gzip"
    assert r.header("Content-Length") == str(len(PAGE_GZ))


def test_gzip_conditional(site):
    gz = get(site, "/page.html", "gzip")
    r = get(site, "/page.html", "gzip", extra={"If-None-Match": gz.header("ETag")})
    assert r.status == 304
    assert vary_has_accept_encoding(r)


def test_gzip_range_applies_to_the_encoded_bytes(site):
    r = get(site, "/page.html", "gzip", extra={"Range": "bytes=0-9"})
    if r.status == 206:
        assert r.header("Content-Encoding") == "gzip"
        assert r.body == PAGE_GZ[:10]
    else:
        assert r.status == 200 and r.body in (PAGE_GZ, PAGE)


def test_gz_file_requested_directly(site):
    r = get(site, "/page.html.gz", None)
    assert r.status == 200 and r.body == PAGE_GZ
    assert r.header("Content-Encoding") is None  # it is the resource itself, not an encoding


def test_gz_without_original_not_used_for_missing_file(site):
    r = get(site, "/only.txt", "gzip")
    assert r.status in (200, 404)
    if r.status == 200:
        assert r.header("Content-Encoding") == "gzip"


def test_index_html_gz(make_server, world_tmp):
    root = dc.make_docroot(world_tmp)
    body = dc.DOCROOT_FILES["index.html"]
    with open(f"{root}/index.html.gz", "wb") as f:
        f.write(gzip.compress(body, mtime=0))
    port = dc.free_port()
    make_server(["--root", root, "--http", f"127.0.0.1:{port}", "--https", "off"])
    out = subprocess.run(["curl", "-sS", "--compressed", "--max-time", "5", "-D", "-",
                          f"http://127.0.0.1:{port}/"], capture_output=True, timeout=10)
    head, _, got = out.stdout.partition(b"\r\n\r\n")
    assert got == body
    assert b"content-encoding: gzip" in head.lower()


def test_gzip_over_tls(site):
    with dc.HttpConn(site.host, site.https_port, tls=True) as c:
        r = c.request("GET", "/page.html", headers={"Accept-Encoding": "gzip"})
    assert r.header("Content-Encoding") == "gzip" and r.body == PAGE_GZ
