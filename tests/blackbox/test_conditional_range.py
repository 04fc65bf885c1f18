"""Conditional requests (304), byte ranges (206/416) and If-Range, over HTTP/1.1 and h2."""

import email.utils
import os

import pytest

import dropcap_fixture as dc

BIG = dc.DOCROOT_FILES["big.bin"]
SIZE = len(BIG)


@pytest.fixture(params=dc.PROTOCOLS)
def site(request, site):
    """Each test runs over HTTP/1.1 (plain) and over HTTP/2 (TLS, ALPN h2)."""
    return dc.OverProtocol(site, request.param)


def get(site, path, headers=None, method="GET"):
    with site.connect() as c:
        return c.request(method, path, headers=headers)


def validators(site, path="/hello.txt"):
    r = get(site, path)
    assert r.status == 200
    return r.header("ETag"), r.header("Last-Modified")


def http_date(ts):
    return email.utils.formatdate(ts, usegmt=True)


# --- 304 -------------------------------------------------------------------------------------

def test_if_none_match_304(site):
    etag, _ = validators(site)
    r = get(site, "/hello.txt", {"If-None-Match": etag})
    assert r.status == 304
    assert r.body == b""
    assert r.header("ETag") == etag
    assert r.header("Date")
    # RFC 9110 8.6: Content-Length in a 304 only if it equals the 200's
    assert r.header("Content-Length") in (None, str(len(dc.DOCROOT_FILES["hello.txt"])))


def test_if_none_match_304_keeps_connection_usable(site):
    etag, _ = validators(site)
    with site.connect() as c:
        r = c.request("GET", "/hello.txt", headers={"If-None-Match": etag})
        assert r.status == 304
        # a 304 has no body even if it carries Content-Length: the next response must parse
        r = c.request("GET", "/notes.txt")
        assert r.status == 200 and r.body == dc.DOCROOT_FILES["notes.txt"]


@pytest.mark.parametrize("fmt", ["W/{e}", '"nope", {e}', '{e}, "nope"', "*"])
def test_if_none_match_forms_304(site, fmt):
    etag, _ = validators(site)
    strong = etag[2:] if etag.startswith("W/") else etag
    r = get(site, "/hello.txt", {"If-None-Match": fmt.format(e=strong)})
    assert r.status == 304


@pytest.mark.parametrize("value", ['"nope"', 'W/"nope"', '"5"'])
def test_if_none_match_mismatch_200(site, value):
    r = get(site, "/hello.txt", {"If-None-Match": value})
    assert r.status == 200 and r.body == dc.DOCROOT_FILES["hello.txt"]


def test_if_none_match_head_304(site):
    etag, _ = validators(site)
    r = get(site, "/hello.txt", {"If-None-Match": etag}, method="HEAD")
    assert r.status == 304


def test_if_modified_since_304(site):
    _, lm = validators(site)
    r = get(site, "/hello.txt", {"If-Modified-Since": lm})
    assert r.status == 304 and r.body == b""


def test_if_modified_since_other_date_formats_304(site):
    path = os.path.join(site.root, "hello.txt")
    ts = int(os.stat(path).st_mtime)
    import time
    tm = time.gmtime(ts)
    rfc850 = time.strftime("%A, %d-%b-%y %H:%M:%S GMT", tm)
    asctime = time.strftime("%a %b ", tm) + f"{tm.tm_mday:2d}" + time.strftime(" %H:%M:%S %Y", tm)
    for value in (rfc850, asctime):
        r = get(site, "/hello.txt", {"If-Modified-Since": value})
        assert r.status == 304, value


def test_if_modified_since_older_200(site):
    path = os.path.join(site.root, "hello.txt")
    older = http_date(os.stat(path).st_mtime - 86400)
    r = get(site, "/hello.txt", {"If-Modified-Since": older})
    assert r.status == 200 and r.body == dc.DOCROOT_FILES["hello.txt"]


def test_if_modified_since_garbage_200(site):
    r = get(site, "/hello.txt", {"If-Modified-Since": "yesterday-ish"})
    assert r.status == 200


def test_if_none_match_wins_over_if_modified_since(site):
    """RFC 9110 13.2.2: when If-None-Match is present, If-Modified-Since is ignored."""
    _, lm = validators(site)
    r = get(site, "/hello.txt", {"If-None-Match": '"nope"', "If-Modified-Since": lm})
    assert r.status == 200


# --- ranges ------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec,first,last", [
    ("bytes=0-99", 0, 99),
    ("bytes=100-100", 100, 100),
    ("bytes=1000-", 1000, SIZE - 1),
    ("bytes=-10", SIZE - 10, SIZE - 1),
    ("bytes=-5000000", 0, SIZE - 1),
    ("bytes=1048000-9999999", 1048000, SIZE - 1),
])
def test_range_206(site, spec, first, last):
    r = get(site, "/big.bin", {"Range": spec})
    assert r.status == 206
    assert r.header("Content-Range") == f"bytes {first}-{last}/{SIZE}"
    assert r.header("Content-Length") == str(last - first + 1)
    assert r.body == BIG[first:last + 1]


def test_range_on_small_text_file(site):
    r = get(site, "/hello.txt", {"Range": "bytes=0-4"})
    assert r.status == 206 and r.body == b"hello"
    assert r.header("Content-Type") == "text/plain; charset=utf-8"


@pytest.mark.parametrize("spec", ["bytes=1048576-", "bytes=2000000-3000000", "bytes=-0"])
def test_range_416(site, spec):
    r = get(site, "/big.bin", {"Range": spec})
    assert r.status == 416
    assert r.header("Content-Range") == f"bytes */{SIZE}"
    assert BIG[:64] not in r.body


@pytest.mark.parametrize("spec", ["bytes=5-4", "bytes=0-1,5-6", "items=0-4", "bytes=x-y"])
def test_range_ignored_200(site, spec):
    r = get(site, "/big.bin", {"Range": spec})
    assert r.status == 200
    assert r.body == BIG


def test_range_then_keepalive(site):
    with site.connect() as c:
        r = c.request("GET", "/big.bin", headers={"Range": "bytes=10-19"})
        assert r.status == 206 and r.body == BIG[10:20]
        r = c.request("GET", "/hello.txt")
        assert r.status == 200 and r.body == dc.DOCROOT_FILES["hello.txt"]


def test_range_with_curl(site):
    import subprocess
    out = subprocess.run(["curl", "-sS", "--max-time", "5", *site.curl_args, "-r", "500-599",
                          site.url("/big.bin"), "-w", "%{http_code}"], capture_output=True,
                         timeout=10)
    assert out.stdout == BIG[500:600] + b"206"


# --- If-Range ------------------------------------------------------------------------------------

def test_if_range_etag_match_206(site):
    etag, _ = validators(site, "/big.bin")
    r = get(site, "/big.bin", {"Range": "bytes=0-9", "If-Range": etag})
    assert r.status == 206 and r.body == BIG[:10]


def test_if_range_etag_mismatch_200(site):
    r = get(site, "/big.bin", {"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert r.status == 200 and r.body == BIG


def test_if_range_date_match_206(site):
    _, lm = validators(site, "/big.bin")
    r = get(site, "/big.bin", {"Range": "bytes=0-9", "If-Range": lm})
    assert r.status == 206 and r.body == BIG[:10]


def test_if_range_date_mismatch_200(site):
    path = os.path.join(site.root, "big.bin")
    older = http_date(os.stat(path).st_mtime - 3600)
    r = get(site, "/big.bin", {"Range": "bytes=0-9", "If-Range": older})
    assert r.status == 200 and r.body == BIG


def test_if_range_weak_etag_is_not_a_match(site):
    """RFC 9110 13.1.5: If-Range uses the strong comparison; a weak validator never matches."""
    etag, _ = validators(site, "/big.bin")
    if etag.startswith("W/"):
        pytest.skip("server uses weak ETags")
    r = get(site, "/big.bin", {"Range": "bytes=0-9", "If-Range": "W/" + etag})
    assert r.status == 200 and r.body == BIG


def test_if_range_unsatisfiable_mismatch_200(site):
    """A stale If-Range means 'send everything', even if the range would be unsatisfiable."""
    r = get(site, "/big.bin", {"Range": "bytes=9999999-", "If-Range": '"stale"'})
    assert r.status == 200 and r.body == BIG
