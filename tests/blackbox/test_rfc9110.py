"""RFC 9110 (HTTP semantics) against the real binary: conditional requests (section 13), ranges
(section 14), the status codes dropcap emits (section 15) and the rules they lean on.

Each test is named after the section it checks and quotes the rule in its docstring; the review
table is tests/blackbox/CONFORMANCE.md.

Every test runs over HTTP/1.1 and over h2 (the site fixture below): the semantics are the same.
The tests about HTTP/1.1 message framing (request line, version, absolute-form, field syntax
errors, Expect) skip their h2 run with site.http1_only(): h2 has no request line, and nghttp2
rejects malformed fields itself (tests/blackbox/test_http2_attacks.py)."""

import email.utils
import os
import time

import pytest

import dropcap_fixture as dc

HELLO = dc.DOCROOT_FILES["hello.txt"]
BIG = dc.DOCROOT_FILES["big.bin"]
PAGE = dc.DOCROOT_FILES["page.html"]


@pytest.fixture(params=dc.PROTOCOLS)
def site(request, site):
    """Each test runs over HTTP/1.1 (plain) and over HTTP/2 (TLS, ALPN h2)."""
    return dc.OverProtocol(site, request.param)


def get(site, path, headers=None, method="GET"):
    """headers: a dict, or a list of (name, value) pairs where a name repeats: several field
    lines in HTTP/1.1, several header fields in h2 (both one list, RFC 9110 5.3)."""
    with site.connect() as c:
        return c.request(method, path, headers=headers)


def get_version(site, path, version):
    site.http1_only()
    with dc.HttpConn(site.host, site.http_port) as c:
        return c.request("GET", path, version=version)


raw = dc.raw_exchange


def etag_of(site, path="/hello.txt", headers=None):
    r = get(site, path, headers)
    assert r.status == 200 and r.header("ETag")
    return r.header("ETag")


def mtime(site, name="hello.txt"):
    return int(os.stat(os.path.join(site.root, name)).st_mtime)


def http_date(ts):
    return email.utils.formatdate(ts, usegmt=True)


# --- 13.1.1 If-Match ------------------------------------------------------------------------

def test_9110_13_1_1_if_match_mismatch_is_412(site):
    """13.1.1: "If the field value is a list of entity tags, the condition is true if any of the
    listed tags match"; when false the origin server "MUST NOT perform the requested method"
    (412, 13.2.2 step 1)."""
    r = get(site, "/hello.txt", {"If-Match": '"nope", "other"'})
    assert r.status == 412
    assert HELLO not in r.body


def test_9110_13_1_1_if_match_list_match_is_200(site):
    """13.1.1: the condition is true if any listed tag matches: the request proceeds."""
    etag = etag_of(site)
    r = get(site, "/hello.txt", {"If-Match": f'"nope", {etag}'})
    assert r.status == 200 and r.body == HELLO


def test_9110_13_1_1_if_match_star_is_200(site):
    """13.1.1: "If the field value is "*", the condition is true if the origin server has a current
    representation for the target resource.\""""
    r = get(site, "/hello.txt", {"If-Match": "*"})
    assert r.status == 200 and r.body == HELLO


def test_9110_13_1_1_if_match_uses_strong_comparison(site):
    """13.1.1: "An origin server MUST use the strong comparison function when comparing entity tags
    for If-Match": W/ of the current tag does not match."""
    etag = etag_of(site)
    assert not etag.startswith("W/")
    r = get(site, "/hello.txt", {"If-Match": "W/" + etag})
    assert r.status == 412


def test_9110_13_1_1_if_match_on_several_lines(site):
    """5.3: field lines of a list field are one list, in order; the second line's tag matches."""
    etag = etag_of(site)
    r = get(site, "/hello.txt", [("If-Match", '"nope"'), ("If-Match", etag)])
    assert r.status == 200 and r.body == HELLO


def test_9110_13_1_1_if_match_head_is_412(site):
    """13.1.1 applies to HEAD as to GET; the 412 to a HEAD has no content (9.3.2)."""
    r = get(site, "/hello.txt", {"If-Match": '"nope"'}, method="HEAD")
    assert r.status == 412
    assert r.body == b""


# --- 13.1.2 If-None-Match -----------------------------------------------------------------------

def test_9110_13_1_2_if_none_match_weak_comparison_304(site):
    """13.1.2: "A recipient MUST use the weak comparison function when comparing entity tags for
    If-None-Match": W/ of the current tag matches, GET gets 304."""
    etag = etag_of(site)
    r = get(site, "/hello.txt", {"If-None-Match": "W/" + etag})
    assert r.status == 304 and r.body == b""


def test_9110_13_1_2_if_none_match_star_304(site):
    """13.1.2: "*" is false when a current representation exists: 304 for GET."""
    r = get(site, "/hello.txt", {"If-None-Match": "*"})
    assert r.status == 304


def test_9110_13_1_2_if_none_match_on_several_lines(site):
    """5.3: If-None-Match on two lines is one list: the tag on the second line gives 304."""
    etag = etag_of(site)
    r = get(site, "/hello.txt", [("If-None-Match", '"a", "b"'), ("If-None-Match", etag)])
    assert r.status == 304


def test_9110_13_1_2_if_none_match_mismatch_200(site):
    """13.1.2: no listed tag matches: the condition is true and the method is performed."""
    r = get(site, "/hello.txt", {"If-None-Match": '"nope"'})
    assert r.status == 200 and r.body == HELLO


# --- 13.1.3 If-Modified-Since ------------------------------------------------------------------

def test_9110_13_1_3_if_modified_since_equal_is_304(site):
    """13.1.3: the origin server "SHOULD NOT perform the requested method if the selected
    representation's last modification date is earlier than or equal to the date provided";
    instead 304."""
    r = get(site, "/hello.txt", {"If-Modified-Since": http_date(mtime(site))})
    assert r.status == 304


def test_9110_13_1_3_if_modified_since_older_is_200(site):
    """13.1.3: modified after the given date: the method is performed (200)."""
    r = get(site, "/hello.txt", {"If-Modified-Since": http_date(mtime(site) - 60)})
    assert r.status == 200 and r.body == HELLO


def test_9110_13_1_3_if_modified_since_ignored_with_if_none_match(site):
    """13.1.3: "A recipient MUST ignore If-Modified-Since if the request contains an
    If-None-Match header field\"."""
    r = get(site, "/hello.txt", {"If-None-Match": '"nope"',
                                 "If-Modified-Since": http_date(mtime(site) + 60)})
    assert r.status == 200


@pytest.mark.parametrize("value", ["yesterday", "{d}, {d}", "{d} x"])
def test_9110_13_1_3_if_modified_since_invalid_is_ignored(site, value):
    """13.1.3: "A recipient MUST ignore the If-Modified-Since header field if the received field
    value is not a valid HTTP-date, the field value has more than one member\"."""
    d = http_date(mtime(site) + 60)
    r = get(site, "/hello.txt", {"If-Modified-Since": value.format(d=d)})
    assert r.status == 200 and r.body == HELLO


def test_9110_13_1_3_if_modified_since_two_lines_is_ignored(site):
    """13.1.3 and 5.3: two If-Modified-Since lines make a list of two members: ignored."""
    d = http_date(mtime(site) + 60)
    r = get(site, "/hello.txt", [("If-Modified-Since", d), ("If-Modified-Since", d)])
    assert r.status == 200


# --- 13.1.4 If-Unmodified-Since -----------------------------------------------------------------

def test_9110_13_1_4_if_unmodified_since_older_is_412(site):
    """13.1.4: "the origin server MUST NOT perform the requested method if that date [the last
    modification] is more recent than the date provided in the field value" (412)."""
    r = get(site, "/hello.txt", {"If-Unmodified-Since": http_date(mtime(site) - 60)})
    assert r.status == 412
    assert HELLO not in r.body


def test_9110_13_1_4_if_unmodified_since_equal_is_200(site):
    """13.1.4: not modified since the date: the method is performed."""
    r = get(site, "/hello.txt", {"If-Unmodified-Since": http_date(mtime(site))})
    assert r.status == 200 and r.body == HELLO


def test_9110_13_1_4_if_unmodified_since_ignored_with_if_match(site):
    """13.1.4: "A recipient MUST ignore If-Unmodified-Since if the request contains an If-Match
    header field\"."""
    etag = etag_of(site)
    r = get(site, "/hello.txt", {"If-Match": etag,
                                 "If-Unmodified-Since": http_date(mtime(site) - 60)})
    assert r.status == 200


@pytest.mark.parametrize("value", ["not a date", "{d}, {d}"])
def test_9110_13_1_4_if_unmodified_since_invalid_is_ignored(site, value):
    """13.1.4: "A recipient MUST ignore the If-Unmodified-Since header field if the received field
    value is not a valid HTTP-date (including when the field value appears to be a list of
    dates)\"."""
    d = http_date(mtime(site) - 60)
    r = get(site, "/hello.txt", {"If-Unmodified-Since": value.format(d=d)})
    assert r.status == 200


# --- 13.1.5 If-Range -----------------------------------------------------------------------------

def test_9110_13_1_5_if_range_without_range_is_ignored(site):
    """13.1.5: "A server MUST ignore an If-Range header field received in a request that does not
    contain a Range header field\"."""
    r = get(site, "/big.bin", {"If-Range": '"stale"'})
    assert r.status == 200 and r.body == BIG


def test_9110_13_1_5_if_range_strong_etag_206(site):
    """13.1.5: "the condition is true if it strongly matches the current entity tag": 206."""
    etag = etag_of(site, "/big.bin")
    r = get(site, "/big.bin", {"Range": "bytes=0-9", "If-Range": etag})
    assert r.status == 206 and r.body == BIG[:10]


def test_9110_13_1_5_if_range_weak_etag_is_false(site):
    """13.1.5: a weak tag never matches strongly: the condition is false and "the recipient MUST
    ignore the Range header field" (200 with everything)."""
    etag = etag_of(site, "/big.bin")
    r = get(site, "/big.bin", {"Range": "bytes=0-9", "If-Range": "W/" + etag})
    assert r.status == 200 and r.body == BIG


def test_9110_13_1_5_if_range_exact_date_206(site):
    """13.1.5: an HTTP-date validator: true if it exactly matches the Last-Modified date."""
    lm = get(site, "/big.bin").header("Last-Modified")
    r = get(site, "/big.bin", {"Range": "bytes=0-9", "If-Range": lm})
    assert r.status == 206 and r.body == BIG[:10]


def test_9110_13_1_5_if_range_later_date_is_false(site):
    """13.1.5: "the If-Range comparison is by exact match, including when the validator is an
    HTTP-date": a later date is not a match (200)."""
    r = get(site, "/big.bin", {"Range": "bytes=0-9",
                               "If-Range": http_date(mtime(site, "big.bin") + 3600)})
    assert r.status == 200 and r.body == BIG


def test_9110_13_1_5_if_range_date_on_a_wednesday(site, make_server, world_tmp):
    """13.1.5: an HTTP-date starting with "Wed" is a date, not a weak entity-tag (W/): a file last
    modified on a Wednesday gets its 206."""
    root = dc.make_docroot(world_tmp)
    wednesday = 1700049600  # Wed, 15 Nov 2023 12:00:00 GMT
    os.utime(os.path.join(root, "big.bin"), (wednesday, wednesday))
    port = dc.free_port()
    make_server(["--root", root, "--http", f"127.0.0.1:{port}", "--https", "off"])
    with dc.HttpConn("127.0.0.1", port) as c:
        lm = c.request("GET", "/big.bin").header("Last-Modified")
        assert lm.startswith("Wed, ")
        r = c.request("GET", "/big.bin", headers={"Range": "bytes=0-9", "If-Range": lm})
    assert r.status == 206 and r.body == BIG[:10]


# --- 13.2 evaluation ----------------------------------------------------------------------------

def test_9110_13_2_1_preconditions_ignored_for_404(site):
    """13.2.1: "A server MUST ignore all received preconditions if its response to the same request
    without those conditions ... would have been a status code other than a 2xx ... or 412": a
    missing file stays 404."""
    r = get(site, "/missing.txt", {"If-Match": '"nope"', "If-None-Match": "*"})
    assert r.status == 404


def test_9110_13_2_1_preconditions_ignored_for_301(site):
    """13.2.1: redirects take precedence over the evaluation of preconditions."""
    r = get(site, "/sub", {"If-Match": '"nope"'})
    assert r.status == 301


def test_9110_13_2_2_if_match_before_if_none_match(site):
    """13.2.2 step 1 before step 3: a false If-Match gives 412 even when If-None-Match would
    give 304."""
    etag = etag_of(site)
    r = get(site, "/hello.txt", {"If-Match": '"nope"', "If-None-Match": etag})
    assert r.status == 412


def test_9110_13_2_2_if_unmodified_since_before_if_none_match(site):
    """13.2.2 step 2 before step 3: a false If-Unmodified-Since gives 412, not 304."""
    etag = etag_of(site)
    r = get(site, "/hello.txt", {"If-Unmodified-Since": http_date(mtime(site) - 60),
                                 "If-None-Match": etag})
    assert r.status == 412


def test_9110_13_2_2_if_match_true_then_if_none_match_304(site):
    """13.2.2: step 1 true continues to step 3, where a matching If-None-Match gives 304."""
    etag = etag_of(site)
    r = get(site, "/hello.txt", {"If-Match": etag, "If-None-Match": etag})
    assert r.status == 304


def test_9110_13_2_2_not_modified_before_range(site):
    """13.2.2 step 3 before step 5: a matching If-None-Match gives 304, not 206."""
    etag = etag_of(site, "/big.bin")
    r = get(site, "/big.bin", {"If-None-Match": etag, "Range": "bytes=0-9"})
    assert r.status == 304 and r.body == b""


def test_9110_13_2_2_precondition_failed_before_range(site):
    """13.2.2 step 1 before step 5: a false If-Match gives 412, not 206."""
    r = get(site, "/big.bin", {"If-Match": '"nope"', "Range": "bytes=0-9"})
    assert r.status == 412


# --- 14 Range ------------------------------------------------------------------------------------

def test_9110_14_2_range_ignored_for_head(site):
    """14.2: "A server MUST ignore a Range header field received with a request method that is
    unrecognized or for which range handling is not defined ... GET is the only method for which
    range handling is defined": HEAD gets the 200 head."""
    r = get(site, "/big.bin", {"Range": "bytes=0-9"}, method="HEAD")
    assert r.status == 200
    assert r.header("Content-Length") == str(len(BIG))
    assert r.header("Content-Range") is None


def test_9110_14_2_unknown_range_unit_is_ignored(site):
    """14.2: "An origin server MUST ignore a Range header field that contains a range unit it does
    not understand\"."""
    r = get(site, "/big.bin", {"Range": "items=0-9"})
    assert r.status == 200 and r.body == BIG


def test_9110_14_1_range_unit_case_insensitive(site):
    """14.1: "Range unit names are case-insensitive\"."""
    r = get(site, "/big.bin", {"Range": "BYTES=0-9"})
    assert r.status == 206 and r.body == BIG[:10]


def test_9110_5_6_1_empty_list_elements_in_range(site):
    """5.6.1.2: "a recipient MUST parse and ignore a reasonable number of empty list elements":
    "bytes=0-9," is one range."""
    r = get(site, "/big.bin", {"Range": "bytes=0-9,"})
    assert r.status == 206 and r.body == BIG[:10]


def test_9110_14_1_1_suffix_range_of_empty_file_is_200(site):
    """14.1.1: "If the selected representation has zero length, the only satisfiable form of range
    ... is a suffix-range with a non-zero suffix-length": satisfiable, no byte to send, so dropcap
    ignores the Range (14.2 MAY) and sends the empty 200 rather than a false 416."""
    r = get(site, "/empty.txt", {"Range": "bytes=-5"})
    assert r.status == 200 and r.body == b""


def test_9110_14_2_multiple_ranges_whole_file(site):
    """14.2: "A server MAY ignore the Range header field": dropcap sends a multi-range request the
    whole file (200), never a wrong part."""
    r = get(site, "/big.bin", {"Range": "bytes=0-1,5-6"})
    assert r.status == 200 and r.body == BIG


# --- 15 status codes -----------------------------------------------------------------------------

def test_9110_15_3_7_206_headers(site):
    """15.3.7: a single-part 206 "MUST generate a Content-Range header field" and the Date, ETag
    and Vary fields a 200 would carry; Content-Length is the part's length."""
    full = get(site, "/page.html")
    r = get(site, "/page.html", {"Range": "bytes=10-19"})
    assert r.status == 206 and r.body == PAGE[10:20]
    assert r.header("Content-Range") == f"bytes 10-19/{len(PAGE)}"
    assert r.header("Content-Length") == "10"
    assert r.header("Date")
    assert r.header("ETag") == full.header("ETag")
    assert r.header("Vary") == full.header("Vary") == "Accept-Encoding"


def test_9110_15_3_7_206_carries_representation_fields(site):
    """15.3.7: without If-Range "the sender MUST generate all of the representation header fields
    that would have been sent in a 200"; with If-Range it "SHOULD NOT" (dropcap sends them there
    too, as nginx and h2o do: they equal what the client holds)."""
    full = get(site, "/page.html", {"Accept-Encoding": "gzip"})
    for extra in ({}, {"If-Range": full.header("ETag")}):
        r = get(site, "/page.html", dict({"Accept-Encoding": "gzip", "Range": "bytes=0-9"},
                                         **extra))
        assert r.status == 206
        for name in ("Content-Type", "Content-Encoding", "Last-Modified", "ETag", "Vary"):
            assert r.header(name) == full.header(name), (name, extra)


def test_9110_15_4_2_301_has_location(site):
    """15.4.2: "The server SHOULD generate a Location header field in the response containing a
    preferred URI reference for the new permanent URI\"."""
    r = get(site, "/sub?x=1")
    assert r.status == 301
    assert r.header("Location") == "/sub/?x=1"


def test_9110_15_4_5_304_fields(site):
    """15.4.5: a 304 "MUST generate any of the following header fields that would have been sent in
    a 200 ...: Content-Location, Date, ETag, and Vary"; it "SHOULD NOT generate representation
    metadata other than the above"; and it has no content."""
    full = get(site, "/page.html", {"Accept-Encoding": "gzip"})
    assert full.header("Content-Encoding") == "gzip"
    r = get(site, "/page.html", {"Accept-Encoding": "gzip", "If-None-Match": full.header("ETag")})
    assert r.status == 304 and r.body == b""
    assert r.header("Date") and r.header("ETag") == full.header("ETag")
    assert r.header("Vary") == "Accept-Encoding"
    for name in ("Content-Type", "Content-Encoding", "Content-Range", "Last-Modified"):
        assert r.header(name) is None, name
    # 8.6: Content-Length in a 304 only if it equals the 200's
    assert r.header("Content-Length") in (None, full.header("Content-Length"))


def test_9110_15_5_6_405_has_allow(site):
    """15.5.6: "The origin server MUST generate an Allow header field in a 405 response containing
    a list of the target resource's currently supported methods\"."""
    r = get(site, "/hello.txt", method="DELETE")
    assert r.status == 405
    assert {m.strip() for m in r.header("Allow").split(",")} == {"GET", "HEAD"}


def test_9110_9_1_unrecognised_method_is_501(site):
    """9.1: "An origin server that receives a request method that is unrecognized or not
    implemented SHOULD respond with the 501 (Not Implemented) status code\"."""
    r = get(site, "/hello.txt", method="BREW")
    assert r.status == 501
    assert r.header("Allow") is None


def test_9110_9_1_methods_are_case_sensitive(site):
    """9.1: "The method token is case-sensitive": "get" is not GET (501)."""
    r = get(site, "/hello.txt", method="get")
    assert r.status == 501


def test_9110_9_1_get_and_head_supported(site):
    """9.1: "All general-purpose servers MUST support the methods GET and HEAD\"."""
    assert get(site, "/hello.txt").status == 200
    assert get(site, "/hello.txt", method="HEAD").status == 200


def test_9110_9_3_2_head_same_fields_no_content(site):
    """9.3.2: "The server SHOULD send the same header fields in response to a HEAD request as it
    would have sent if the request method had been GET"; a HEAD response has no content."""
    with site.connect() as c:
        g = c.request("GET", "/page.html")
        h = c.request("HEAD", "/page.html")
        # the connection stays usable: nothing followed the HEAD response's head
        n = c.request("GET", "/hello.txt")
    skip = {"date"}
    assert [(k, v) for k, v in g.headers if k.lower() not in skip] == \
        [(k, v) for k, v in h.headers if k.lower() not in skip]
    assert h.body == b"" and n.body == HELLO


def test_9110_15_5_17_416_content_range(site):
    """15.5.17: "a server that generates a 416 response to a byte-range request SHOULD generate a
    Content-Range header field specifying the current length of the selected representation\"."""
    r = get(site, "/big.bin", {"Range": f"bytes={len(BIG)}-"})
    assert r.status == 416
    assert r.header("Content-Range") == f"bytes */{len(BIG)}"


def test_9110_15_6_6_505_says_what_is_supported(site):
    """15.6.6: "The server SHOULD generate a representation for the 505 response that describes why
    that version is not supported and what other protocols are supported by that server\"."""
    site.http1_only()
    r, closed = raw(site, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")
    assert r.status == 505
    assert b"HTTP/1.1" in r.body and b"HTTP/1.0" in r.body
    assert closed


def test_9110_2_5_higher_minor_version_served_as_1_1(site):
    """2.5: "A recipient that receives a message with a major version number that it implements and
    a minor version number higher than what it implements SHOULD process the message as if it
    were in the highest minor version within that major version\"."""
    r = get_version(site, "/hello.txt", "HTTP/1.4")
    assert r.status == 200 and r.body == HELLO
    assert r.version == "HTTP/1.1"


def test_9110_2_5_response_version_is_1_1_for_1_0(site):
    """2.5: "A server SHOULD send a response version equal to the highest version to which the
    server is conformant that has a major version less than or equal to the one received\"."""
    r = get_version(site, "/hello.txt", "HTTP/1.0")
    assert r.status == 200 and r.version == "HTTP/1.1"


def test_9110_6_6_1_date_in_every_response(site):
    """6.6.1: "An origin server with a clock ... MUST generate a Date header field" in 2xx, 3xx and
    4xx responses."""
    for path, status in (("/hello.txt", 200), ("/sub", 301), ("/missing", 404)):
        r = get(site, path)
        assert r.status == status and email.utils.parsedate_to_datetime(r.header("Date"))


def test_9110_12_5_3_empty_accept_encoding_is_identity(site):
    """12.5.3: "An Accept-Encoding header field with a field value that is empty implies that the
    user agent does not want any content coding in response\"."""
    r = get(site, "/page.html", {"Accept-Encoding": ""})
    assert r.status == 200 and r.header("Content-Encoding") is None and r.body == PAGE


def test_9110_12_5_3_accept_encoding_on_several_lines(site):
    """5.3 and 12.5.3: Accept-Encoding on two lines is one list: gzip on the second, weighing more
    than zstd on the first, is honoured."""
    r = get(site, "/page.html", [("Accept-Encoding", "zstd;q=0.1"), ("Accept-Encoding", "gzip")])
    assert r.status == 200 and r.header("Content-Encoding") == "gzip"


def test_9110_5_5_nul_in_field_value_is_400(site):
    """5.5: "a recipient of CR, LF, or NUL within a field value MUST either reject the message or
    replace each of those characters with SP": dropcap rejects (400)."""
    site.http1_only()  # h2: nghttp2 resets the stream (RFC 9113 8.2.1), test_http2_attacks.py
    r, closed = raw(site, b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n")
    assert r.status == 400 and closed


def test_9110_5_4_field_section_too_large_is_431(site):
    """5.4: "A server that receives a request header field line, field value, or set of fields
    larger than it wishes to process MUST respond with an appropriate 4xx (Client Error) status
    code" (431)."""
    site.http1_only()  # h2: the header list size limit, test_http2_attacks.py
    r, closed = raw(site, b"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 20000 + b"\r\n\r\n")
    assert r.status == 431 and closed


def test_9110_8_8_2_1_future_mtime_is_not_sent(make_server, world_tmp):
    """8.8.2.1: "An origin server with a clock MUST NOT generate a Last-Modified date that is later
    than the server's time of message origination (Date)"; a future modification time "MUST [be
    replaced] with the message origination date"; the date preconditions compare that value."""
    root = dc.make_docroot(world_tmp)
    future = int(time.time()) + 30 * 86400
    os.utime(os.path.join(root, "hello.txt"), (future, future))
    port = dc.free_port()
    make_server(["--root", root, "--http", f"127.0.0.1:{port}", "--https", "off"])
    with dc.HttpConn("127.0.0.1", port) as c:
        r = c.request("GET", "/hello.txt")
        lm = email.utils.parsedate_to_datetime(r.header("Last-Modified"))
        assert lm <= email.utils.parsedate_to_datetime(r.header("Date"))
        # not modified since an hour from now: the clamped date is what is compared (no 412)
        r = c.request("GET", "/hello.txt",
                      headers={"If-Unmodified-Since": http_date(time.time() + 3600)})
        assert r.status == 200


def test_9110_10_1_1_expect_100_continue_gets_final_response_at_once(site):
    """10.1.1: an origin server receiving a 100-continue expectation MUST "either send an immediate
    response with a final status code, if that status can be determined by examining just the
    request-line and header fields, or send an immediate 100 (Continue)": dropcap answers at once
    (no resource takes content) and never waits for the body."""
    site.http1_only()  # Expect and Content-Length framing are HTTP/1.1; h2 bodies are DATA frames
    with dc.HttpConn(site.host, site.http_port, timeout=3) as c:
        c.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
               b"Content-Length: 1000\r\n\r\n")
        r = c.read_response()
    assert r.status == 200 and r.body == HELLO
    with dc.HttpConn(site.host, site.http_port, timeout=3) as c:
        c.send(b"PUT /hello.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
               b"Content-Length: 1000\r\n\r\n")
        r = c.read_response()
    assert r.status == 405


def test_9110_4_2_1_empty_host_in_absolute_form_is_400(site):
    """4.2.1: "A sender MUST NOT generate an "http" URI with an empty host identifier. A recipient
    that processes such a URI reference MUST reject it as invalid\"."""
    site.http1_only()  # absolute-form is HTTP/1.1 framing; h2 has :scheme and :authority
    for target in ("http:///hello.txt", "http://:80/hello.txt"):
        r = get(site, target)
        assert r.status == 400, target


def test_9110_4_2_4_userinfo_in_absolute_form_is_400(site):
    """4.2.4: "a recipient SHOULD parse for userinfo and treat its presence as an error" (nginx
    rejects it too)."""
    site.http1_only()  # absolute-form is HTTP/1.1 framing; h2 has :scheme and :authority
    r = get(site, "http://user:pass@localhost/hello.txt")
    assert r.status == 400
