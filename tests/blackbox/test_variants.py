"""Precompressed variants FILE.br, FILE.zst and FILE.gz (RFC 9110 8.4, 12.5.3): chosen by
Accept-Encoding with q-values (server preference br, zstd, gzip, then identity on ties), each with
its Content-Encoding, Vary: Accept-Encoding, an ETag of its own, and ranges in its own bytes.

The test site's page.html has all three variants (real brotli/zstd/gzip data), app.js only a .zst
one, hello.txt none. The parser's finer cases are the table in tests/unit/test_http_parse.c."""

import gzip
import os
import subprocess
import time

import pytest

import dropcap_fixture as dc

PAGE = dc.DOCROOT_FILES["page.html"]
BODY = {"br": dc.DOCROOT_FILES["page.html.br"], "zstd": dc.DOCROOT_FILES["page.html.zst"],
        "gzip": dc.DOCROOT_FILES["page.html.gz"], None: PAGE}


@pytest.fixture(params=dc.PROTOCOLS)
def site(request, site):
    """The tests on the shared site run over HTTP/1.1 (plain) and over HTTP/2 (TLS, ALPN h2)."""
    return dc.OverProtocol(site, request.param)


def get(port, path, ae=None, method="GET", extra=None, tls=False):
    """port: a port (HTTP/1.1), or an OverProtocol site (its protocol)."""
    headers = dict(extra or {})
    if ae is not None:
        headers["Accept-Encoding"] = ae
    conn = port.connect() if isinstance(port, dc.OverProtocol) else \
        dc.HttpConn("127.0.0.1", port, tls=tls)
    with conn as c:
        return c.request(method, path, headers=headers)


def vary_has_accept_encoding(r):
    return any("accept-encoding" in v.lower() for v in r.all("Vary"))


def curl(url, *args):
    out = subprocess.run(["curl", "-sS", "--max-time", "5", "-D", "-", *args, url],
                         capture_output=True, timeout=10, check=True)
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    return head.decode("latin-1").lower(), body


# (Accept-Encoding, the coding served for /page.html; None: identity)
CHOICES = [
    (None, None),                                  # no field: identity (as nginx, h2o)
    ("", None),                                    # 12.5.3: empty means no coding
    ("gzip", "gzip"),
    ("br", "br"),
    ("zstd", "zstd"),
    ("GZIP", "gzip"),                              # coding names are case-insensitive
    ("BR;Q=1", "br"),
    ("x-gzip", "gzip"),                            # 8.4.1.3: x-gzip is gzip
    ("gzip, deflate, br, zstd", "br"),             # ties: br, zstd, gzip
    ("zstd, gzip", "zstd"),
    ("gzip, zstd;q=1.000", "zstd"),
    ("br;q=0.5, zstd;q=0.9, gzip;q=0.8", "zstd"),  # the highest q wins
    ("br;q=0.5, gzip;q=0.501", "gzip"),
    ("br;q=0, zstd;q=0, gzip", "gzip"),            # q=0: not acceptable
    ("br;q=0, zstd;q=0, gzip;q=0", None),
    ("*", "br"),
    ("br;q=0, *", "zstd"),
    ("*;q=0.3, identity;q=0.5", None),             # identity can outweigh the codings
    ("gzip;q=0.5, identity", None),
    ("gzip, identity", "gzip"),                    # identity last on ties
    ("gzip;q=0.2", "gzip"),                        # unlisted identity ranks below a named coding
    ("identity;q=0", None),                        # nothing acceptable left: identity, no 406
    ("*;q=0", None),
    ("gzip;q=1.5", None),                          # an invalid weight refuses its coding
    ("br;q=0.5x, gzip;q=0.1", "gzip"),
    ("deflate, compress", None),
    ("gzipx, brotli, zst", None),
]


@pytest.mark.parametrize("ae,coding", CHOICES)
def test_variant_chosen_by_q_values(site, ae, coding):
    r = get(site, "/page.html", ae)
    assert r.status == 200
    assert r.header("Content-Encoding") == coding
    assert r.body == BODY[coding]
    assert r.header("Content-Length") == str(len(BODY[coding]))
    assert r.header("Content-Type") == "text/html; charset=utf-8"  # the original's type
    assert vary_has_accept_encoding(r)  # 12.5.5: every representation varies on it


def test_missing_variant_falls_back(site):
    """app.js has only a .zst variant: it is served when acceptable, else the plain file, which
    still carries Vary (it has a variant); a file without any variant is served plain."""
    r = get(site, "/app.js", "br, gzip, zstd")
    assert r.header("Content-Encoding") == "zstd" and r.body == dc.DOCROOT_FILES["app.js.zst"]
    r = get(site, "/app.js", "br, gzip")
    assert r.header("Content-Encoding") is None and r.body == dc.DOCROOT_FILES["app.js"]
    assert vary_has_accept_encoding(r)
    r = get(site, "/hello.txt", "br, zstd, gzip")
    assert r.header("Content-Encoding") is None and r.body == dc.DOCROOT_FILES["hello.txt"]


def test_variant_without_original_is_not_served(site):
    """only.txt.gz exists, only.txt does not: the resource is missing."""
    assert get(site, "/only.txt", "gzip").status == 404


def test_variant_file_requested_directly_has_no_content_encoding(site):
    for path in ("/page.html.gz", "/page.html.br", "/page.html.zst"):
        r = get(site, path, "br, zstd, gzip")
        assert r.status == 200 and r.body == dc.DOCROOT_FILES[path[1:]]
        assert r.header("Content-Encoding") is None  # it is the resource itself


def test_each_variant_has_its_own_etag(site):
    tags = {c: get(site, "/page.html", c or "identity").header("ETag") for c in BODY}
    assert len(set(tags.values())) == 4, tags
    assert all(t.startswith('"') and t.endswith('"') for t in tags.values())


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip"])
def test_conditionals_compare_the_variants_etag(site, coding):
    """If-None-Match, If-Match and If-Range compare with the ETag of the variant being served."""
    port = site  # its protocol
    mine = get(port, "/page.html", coding).header("ETag")
    plain = get(port, "/page.html").header("ETag")
    r = get(port, "/page.html", coding, extra={"If-None-Match": mine})
    assert r.status == 304 and r.body == b"" and r.header("ETag") == mine
    assert vary_has_accept_encoding(r)
    r = get(port, "/page.html", coding, extra={"If-None-Match": plain})
    assert r.status == 200 and r.body == BODY[coding]
    assert get(port, "/page.html", None, extra={"If-None-Match": mine}).status == 200
    assert get(port, "/page.html", coding, extra={"If-Match": mine}).status == 200
    assert get(port, "/page.html", coding, extra={"If-Match": plain}).status == 412
    r = get(port, "/page.html", coding, extra={"Range": "bytes=0-3", "If-Range": mine})
    assert r.status == 206 and r.body == BODY[coding][:4]
    r = get(port, "/page.html", coding, extra={"Range": "bytes=0-3", "If-Range": plain})
    assert r.status == 200 and r.body == BODY[coding]


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip"])
def test_range_applies_to_the_variants_bytes(site, coding):
    body = BODY[coding]
    r = get(site, "/page.html", coding, extra={"Range": "bytes=5-14"})
    assert r.status == 206 and r.body == body[5:15]
    assert r.header("Content-Range") == f"bytes 5-14/{len(body)}"
    assert r.header("Content-Encoding") == coding
    r = get(site, "/page.html", coding, extra={"Range": f"bytes={len(body)}-"})
    assert r.status == 416 and r.header("Content-Range") == f"bytes */{len(body)}"


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip", None])
def test_head_is_get_without_body(site, coding):
    g = get(site, "/page.html", coding or "identity")
    h = get(site, "/page.html", coding or "identity", method="HEAD")
    assert h.status == 200 and h.body == b""
    for name in ("Content-Encoding", "Content-Length", "Content-Type", "ETag", "Vary"):
        assert h.header(name) == g.header(name), name


def test_curl_compressed_decodes_br_zstd_gzip(site):
    """Debian's curl 7.88 --compressed sends "deflate, gzip, br, zstd" and gets br; with an
    explicit Accept-Encoding it decodes the zstd and gzip variants too: the data is real."""
    url, a = site.url("/page.html"), site.curl_args
    head, body = curl(url, *a, "--compressed")
    assert "content-encoding: br" in head and body == PAGE
    for coding in ("zstd", "gzip"):
        head, body = curl(url, *a, "--compressed", "-H", f"Accept-Encoding: {coding}")
        assert f"content-encoding: {coding}" in head and body == PAGE
    head, body = curl(url, *a, "-H", "Accept-Encoding: gzip;q=0.1, identity;q=0.2")
    assert "content-encoding" not in head and body == PAGE


def test_variant_over_tls(site):
    r = get(site.https_port, "/page.html", "zstd;q=0.5, br;q=0.6", tls=True)
    assert r.header("Content-Encoding") == "br" and r.body == BODY["br"]


@pytest.fixture
def variant_root(make_server, world_tmp):
    """A fresh site of its own (files change during the test): returns (root, port)."""
    root = dc.make_docroot(world_tmp)
    port = dc.free_port()
    make_server(["--root", root, "--http", f"127.0.0.1:{port}", "--https", "off"])
    return root, port


def write(root, rel, data):
    path = os.path.join(root, rel)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)


def test_directory_index_variants(variant_root):
    root, port = variant_root
    index = dc.DOCROOT_FILES["index.html"]
    write(root, "index.html.br", b"index.html.br, as sent")
    write(root, "sub/index.html.zst", b"sub/index.html.zst, as sent")
    with open(os.path.join(root, "index.html.gz"), "wb") as f:
        f.write(gzip.compress(index, mtime=0))
    os.chmod(os.path.join(root, "index.html.gz"), 0o644)
    r = get(port, "/", "gzip, br")
    assert r.header("Content-Encoding") == "br" and r.body == b"index.html.br, as sent"
    r = get(port, "/sub/", "gzip, zstd")
    assert r.header("Content-Encoding") == "zstd" and r.body == b"sub/index.html.zst, as sent"
    head, body = curl(f"http://127.0.0.1:{port}/", "--compressed", "-H", "Accept-Encoding: gzip")
    assert "content-encoding: gzip" in head and body == index


@pytest.mark.parametrize("suffix,coding", [(".br", "br"), (".zst", "zstd"), (".gz", "gzip")])
def test_variant_symlinked_to_dotfile_is_not_served(variant_root, suffix, coding):
    """doc.txt.br -> .doc.txt.br: a variant is opened as the file is, so the dotfile rule holds
    through the symlink and the plain file is served instead."""
    root, port = variant_root
    write(root, "doc.txt", b"plain doc\n")
    write(root, ".doc.txt" + suffix, b"hidden variant\n")
    os.symlink(".doc.txt" + suffix, os.path.join(root, "doc.txt" + suffix))
    r = get(port, "/doc.txt", coding)
    assert r.status == 200 and r.body == b"plain doc\n"
    assert r.header("Content-Encoding") is None


def test_file_cache_keeps_variants_apart_and_drops_a_deleted_one(variant_root):
    """One connection asks for each coding in turn (the open-file cache holds them all), then
    the .br file is deleted: once the cache re-checks (FCACHE_TTL, 1 s) the next coding serves."""
    root, port = variant_root
    with dc.HttpConn("127.0.0.1", port) as c:
        for coding in ("br", "zstd", "gzip", None, "br"):
            r = c.request("GET", "/page.html", headers={"Accept-Encoding": coding or "identity"})
            assert r.header("Content-Encoding") == coding and r.body == BODY[coding]
    os.unlink(os.path.join(root, "page.html.br"))
    deadline = time.monotonic() + 10
    while True:
        r = get(port, "/page.html", "br, zstd")
        if r.header("Content-Encoding") != "br" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status == 200 and r.header("Content-Encoding") == "zstd"
    assert r.body == BODY["zstd"]
