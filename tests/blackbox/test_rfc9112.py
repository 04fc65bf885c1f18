"""RFC 9112 (HTTP/1.1 message syntax) sections 2-7 against the real binary: message parsing, the
request line and its lengths, request targets and Host, field syntax, message body length and
transfer codings; plus the connection rules (9.6) those answers rely on.

Each test is named after the section it checks and quotes the rule in its docstring; the review
table is tests/blackbox/CONFORMANCE.md."""

import socket
import time

import pytest

import dropcap_fixture as dc

HELLO = dc.DOCROOT_FILES["hello.txt"]
NOTES = dc.DOCROOT_FILES["notes.txt"]


raw = dc.raw_exchange


def req(line, *fields):
    """A request head: the request line, then fields, CRLF-terminated."""
    return ("\r\n".join((line,) + fields) + "\r\n\r\n").encode("latin-1")


# --- 2 message format ----------------------------------------------------------------------------

def test_9112_2_2_empty_line_before_request_line_is_ignored(site):
    """2.2: "a server that is expecting to receive and parse a request-line SHOULD ignore at least
    one empty line (CRLF) received prior to the request-line\"."""
    r, _ = raw(site, b"\r\n" + req("GET /hello.txt HTTP/1.1", "Host: x"))
    assert r.status == 200 and r.body == HELLO


def test_9112_2_2_bare_lf_line_terminator(site):
    """2.2: "a recipient MAY recognize a single LF as a line terminator and ignore any preceding
    CR": dropcap does, as nginx."""
    r, _ = raw(site, b"GET /hello.txt HTTP/1.1\nHost: x\n\n")
    assert r.status == 200 and r.body == HELLO


def test_9112_2_2_bare_cr_is_400(site):
    """2.2: "A recipient of such a bare CR MUST consider that element to be invalid or replace each
    bare CR with SP": dropcap rejects it (400) and closes."""
    r, closed = raw(site, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n")
    assert r.status == 400 and closed


def test_9112_2_2_whitespace_before_first_field_is_400(site):
    """2.2: "A recipient that receives whitespace between the start-line and the first header field
    MUST either reject the message as invalid or consume each whitespace-preceded line": 400."""
    r, closed = raw(site, b"GET /hello.txt HTTP/1.1\r\n Host: x\r\n\r\n")
    assert r.status == 400 and closed


def test_9112_2_2_invalid_message_is_400_and_close(site):
    """2.2: a server receiving octets that do not match the HTTP-message grammar "SHOULD respond
    with a 400 (Bad Request) response and close the connection\"."""
    r, closed = raw(site, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")
    assert r.status == 400 and closed


def test_9112_2_3_version_is_case_sensitive(site):
    """2.3: "HTTP-version is case-sensitive": "http/1.1" is not a version (400)."""
    r, closed = raw(site, req("GET / http/1.1", "Host: x"))
    assert r.status == 400 and closed


def test_9112_2_3_other_major_version_is_505(site):
    """2.3 and RFC 9110 15.6.6: a server can send 505 "to refuse service of the client's major
    protocol version": HTTP/2.0 or HTTP/3.0 on an HTTP/1.1 connection."""
    for v in ("HTTP/2.0", "HTTP/3.0", "HTTP/0.9"):
        r, closed = raw(site, req(f"GET / {v}", "Host: x"))
        assert r.status == 505 and closed, v


# --- 3 request line ------------------------------------------------------------------------------

def test_9112_3_request_line_of_8000_octets(site):
    """3: "It is RECOMMENDED that all HTTP senders and recipients support, at a minimum,
    request-line lengths of 8000 octets\"."""
    target = "/hello.txt?" + "q" * (8000 - len("GET /hello.txt? HTTP/1.1"))
    line = f"GET {target} HTTP/1.1"
    assert len(line) == 8000
    r, _ = raw(site, req(line, "Host: x"))
    assert r.status == 200 and r.body == HELLO


def test_9112_3_request_target_too_long_is_414(site):
    """3: "A server that receives a request-target longer than any URI it wishes to parse MUST
    respond with a 414 (URI Too Long) status code" (beyond 8 KiB)."""
    r, closed = raw(site, req("GET /hello.txt?" + "q" * 9000 + " HTTP/1.1", "Host: x"))
    assert r.status == 414 and closed


def test_9112_3_long_method_is_501(site):
    """3: "A server that receives a method longer than any that it implements SHOULD respond with a
    501 (Not Implemented) status code\"."""
    r, closed = raw(site, req("M" * 200 + " / HTTP/1.1", "Host: x"))
    assert r.status == 501 and closed


@pytest.mark.parametrize("line", ["GET  /hello.txt HTTP/1.1", "GET /hello.txt  HTTP/1.1",
                                  "GET\t/hello.txt HTTP/1.1", "GET /hello.txt HTTP/1.1 ",
                                  "GET /hello.txt", "GET /a b HTTP/1.1"])
def test_9112_3_invalid_request_line_is_400(site, line):
    """3: "Recipients of an invalid request-line SHOULD respond with either a 400 (Bad Request)
    error or a 301 (Moved Permanently) redirect"; dropcap parses strictly (no whitespace
    leniency, which "can result in request smuggling")."""
    r, closed = raw(site, req(line, "Host: x"))
    assert r.status == 400 and closed


def test_9112_3_2_host_missing_is_400(site):
    """3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request
    message that lacks a Host header field\"."""
    r, closed = raw(site, req("GET /hello.txt HTTP/1.1"))
    assert r.status == 400 and closed


def test_9112_3_2_host_twice_is_400(site):
    """3.2: ... "and to any request message that contains more than one Host header field line\"."""
    r, closed = raw(site, req("GET /hello.txt HTTP/1.1", "Host: a", "Host: a"))
    assert r.status == 400 and closed


@pytest.mark.parametrize("host", ["a b", "a/b", "a\\b", "user@a", "a:80x", "[::1", "a%zz",
                                  "caf\xe9"])
def test_9112_3_2_host_invalid_is_400(site, host):
    """3.2: ... "or a Host header field with an invalid field value" (Host = uri-host [":" port],
    RFC 3986 3.2.2)."""
    r, closed = raw(site, req("GET /hello.txt HTTP/1.1", f"Host: {host}"))
    assert r.status == 400 and closed


@pytest.mark.parametrize("host", ["", "example.org", "example.org:8080", "127.0.0.1", "[::1]:80",
                                  "EXAMPLE.org.", "xn--bcher-kva.example"])
def test_9112_3_2_host_valid_forms(site, host):
    """3.2: an empty Host ("If the authority component is missing or undefined for the target URI,
    then a client MUST send a Host header field with an empty field value"), names, addresses and
    ports are all valid."""
    r, _ = raw(site, req("GET /hello.txt HTTP/1.1", f"Host: {host}"))
    assert r.status == 200 and r.body == HELLO


def test_9112_3_2_http10_without_host_is_served(site):
    """3.2: the Host requirement is for HTTP/1.1 requests; an HTTP/1.0 request without it is
    served."""
    r, _ = raw(site, req("GET /hello.txt HTTP/1.0"))
    assert r.status == 200 and r.body == HELLO


def test_9112_3_2_2_absolute_form_accepted(site):
    """3.2.2: "A server MUST accept the absolute-form in requests even though most HTTP/1.1 clients
    will only send the absolute-form to a proxy\"."""
    r, _ = raw(site, req("GET http://example.org/hello.txt HTTP/1.1", "Host: example.org"))
    assert r.status == 200 and r.body == HELLO


def test_9112_3_2_2_absolute_form_still_needs_host(site):
    """3.2 applies to absolute-form too: "A client MUST send a Host header field in all HTTP/1.1
    request messages"; the server MUST answer 400 without one (nginx does the same)."""
    r, _ = raw(site, req("GET http://example.org/hello.txt HTTP/1.1"))
    assert r.status == 400


def test_9112_3_2_3_authority_form_only_for_connect(site):
    """3.2.3: "The authority-form of request-target is only used for CONNECT requests": a GET with
    one is 400; CONNECT itself is not allowed on a static site (405)."""
    assert raw(site, req("GET example.org:80 HTTP/1.1", "Host: x"))[0].status == 400
    assert raw(site, req("CONNECT example.org:443 HTTP/1.1", "Host: x"))[0].status == 405


def test_9112_3_2_4_asterisk_form_only_for_options(site):
    """3.2.4: "The asterisk-form of request-target is only used for a server-wide OPTIONS
    request": GET * is 400; OPTIONS * gets 405 with Allow (OPTIONS is not implemented)."""
    assert raw(site, req("GET * HTTP/1.1", "Host: x"))[0].status == 400
    r = raw(site, req("OPTIONS * HTTP/1.1", "Host: x"))[0]
    assert r.status == 405 and r.header("Allow")


# --- 4 status line -------------------------------------------------------------------------------

def test_9112_4_status_line_syntax(site):
    """4: status-line = HTTP-version SP status-code SP [ reason-phrase ]: three digits, one SP
    each side, and a reason phrase."""
    with dc.HttpConn(site.host, site.http_port) as c:
        c.send(req("GET /missing HTTP/1.1", "Host: x"))
        c.read_response()
        c.send(req("GET /hello.txt HTTP/1.1", "Host: x"))
        r = c.read_response()
    first = r.raw_head.split(b"\r\n", 1)[0]
    assert first == b"HTTP/1.1 200 OK"


# --- 5 field syntax ------------------------------------------------------------------------------

def test_9112_5_1_whitespace_before_colon_is_400(site):
    """5.1: "A server MUST reject, with a response status code of 400 (Bad Request), any received
    request message that contains whitespace between a header field name and colon\"."""
    for field in ("Host : x", "Host\t: x", "X-A : v"):
        fields = (field,) if field.startswith("Host") else ("Host: x", field)
        r, closed = raw(site, req("GET /hello.txt HTTP/1.1", *fields))
        assert r.status == 400 and closed, field


def test_9112_5_1_field_value_ows_is_trimmed(site):
    """5.1: "A field line value might be preceded and/or followed by optional whitespace (OWS) ...
    excluded by parsers when extracting the field line value": a padded If-None-Match still
    matches."""
    etag = raw(site, req("GET /hello.txt HTTP/1.1", "Host: x"))[0].header("ETag")
    r, _ = raw(site, req("GET /hello.txt HTTP/1.1", "Host: x", f"If-None-Match: \t {etag} \t"))
    assert r.status == 304


def test_9112_5_2_obs_fold_is_400(site):
    """5.2: "A server that receives an obs-fold in a request message ... MUST either reject the
    message by sending a 400 (Bad Request) ... or replace each received obs-fold with one or more
    SP octets": dropcap rejects."""
    r, closed = raw(site, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-A: one\r\n two\r\n\r\n")
    assert r.status == 400 and closed


def test_9112_5_invalid_field_name_is_400(site):
    """5 and RFC 9110 5.1: field-name = token; a name with a separator or control is invalid."""
    for name in ("X(A)", "X/A", "X\x01A", ""):
        r, closed = raw(site, req("GET /hello.txt HTTP/1.1", "Host: x", f"{name}: v"))
        assert r.status == 400 and closed, name


def test_9112_5_field_value_with_obs_text_is_accepted(site):
    """5 and RFC 9110 5.5: field-value may contain obs-text (%x80-FF); it is not rejected."""
    r, _ = raw(site, req("GET /hello.txt HTTP/1.1", "Host: x", "User-Agent: caf\xe9"))
    assert r.status == 200


# --- 6 message body ------------------------------------------------------------------------------

def test_9112_6_1_te_and_content_length_is_400_and_close(site):
    """6.1: a server "MAY reject a request that contains both Content-Length and
    Transfer-Encoding ... Regardless, the server MUST close the connection after responding to
    such a request" (nginx: 400)."""
    r, closed = raw(site, req("GET /hello.txt HTTP/1.1", "Host: x", "Content-Length: 5",
                              "Transfer-Encoding: chunked") + b"0\r\n\r\n")
    assert r.status == 400 and closed


def test_9112_6_1_unknown_transfer_coding_is_501(site):
    """6.1: "A server that receives a request message with a transfer coding it does not understand
    SHOULD respond with 501 (Not Implemented)" (dropcap decodes none but chunked's framing, as
    nginx)."""
    r, closed = raw(site, req("GET /hello.txt HTTP/1.1", "Host: x",
                              "Transfer-Encoding: gzip, chunked") + b"0\r\n\r\n")
    assert r.status == 501 and closed


def test_9112_6_1_http10_with_transfer_encoding_is_400(site):
    """6.1: "A server or client that receives an HTTP/1.0 message containing a Transfer-Encoding
    header field MUST treat the message as if the framing is faulty ... and close the connection
    after processing the message" (400, as nginx)."""
    r, closed = raw(site, req("GET /hello.txt HTTP/1.0", "Transfer-Encoding: chunked")
                    + b"0\r\n\r\n")
    assert r.status == 400 and closed


@pytest.mark.parametrize("te", ["gzip", "chunked, gzip", "chunked, chunked", ""])
def test_9112_6_3_chunked_not_final_is_400(site, te):
    """6.3: "If a Transfer-Encoding header field is present in a request and the chunked transfer
    coding is not the final encoding, the message body length cannot be determined reliably; the
    server MUST respond with the 400 (Bad Request) status code and then close the connection"
    (chunked twice: "A sender MUST NOT apply the chunked transfer coding more than once")."""
    r, closed = raw(site, req("GET /hello.txt HTTP/1.1", "Host: x", f"Transfer-Encoding: {te}"))
    assert r.status == 400 and closed


@pytest.mark.parametrize("cl", ["abc", "-1", "+5", "1, 2", "5, 5", "0x10",
                                "99999999999999999999"])
def test_9112_6_3_invalid_content_length_is_400(site, cl):
    """6.3: "If a message is received without Transfer-Encoding and with an invalid Content-Length
    header field, then the message framing is invalid ... the server MUST respond with a 400 (Bad
    Request) status code and then close the connection" ("5, 5": RFC 9110 8.6 MAY reject, as
    nginx)."""
    r, closed = raw(site, req("GET /hello.txt HTTP/1.1", "Host: x", f"Content-Length: {cl}"))
    assert r.status == 400 and closed


def test_9112_6_3_differing_content_lengths_is_400(site):
    """6.3 and RFC 9110 8.6: several Content-Length lines with differing values are an invalid
    Content-Length: 400 and close."""
    r, closed = raw(site, req("GET /hello.txt HTTP/1.1", "Host: x", "Content-Length: 1",
                              "Content-Length: 2") + b"ab")
    assert r.status == 400 and closed


def test_9112_6_3_request_with_body_answered_then_closed(site):
    """6.3: "A server MUST read the entire request message body or close the connection after
    sending its response": dropcap answers, says Connection: close, closes, and never takes the
    body for a next request."""
    body = b"GET /.secret HTTP/1.1\r\nHost: x\r\n\r\n"
    r, closed = raw(site, req("GET /hello.txt HTTP/1.1", "Host: x",
                              f"Content-Length: {len(body)}") + body)
    assert r.status == 200 and r.body == HELLO
    assert r.header("Connection") == "close" and closed


def test_9112_6_3_chunked_body_answered_then_closed(site):
    """6.3 and 7.1: a chunked body is never decoded (no resource takes content); the response is
    sent and the connection closed, so the chunk data is never a request."""
    smuggled = b"GET /.secret HTTP/1.1\r\nHost: x\r\n\r\n"
    chunk = b"%x\r\n%s\r\n0\r\n\r\n" % (len(smuggled), smuggled)
    with dc.HttpConn(site.host, site.http_port) as c:
        c.send(req("GET /hello.txt HTTP/1.1", "Host: x", "Transfer-Encoding: chunked") + chunk)
        r = c.read_response()
        assert r.status == 200 and r.header("Connection") == "close"
        rest = c.read_to_eof()
    assert b"HTTP/1.1" not in rest


def test_9112_6_3_no_body_without_framing(site):
    """6.3: "If this is a request message and none of the above are true, then the message body
    length is zero": the bytes after a head without Content-Length are the next request."""
    with dc.HttpConn(site.host, site.http_port) as c:
        c.send(req("GET /hello.txt HTTP/1.1", "Host: x") + req("GET /notes.txt HTTP/1.1",
                                                               "Host: x"))
        assert c.read_response().body == HELLO
        assert c.read_response().body == NOTES


def test_9112_6_2_content_length_zero_keeps_connection(site):
    """6.2: Content-Length: 0 is an empty body, fully read: the connection stays open."""
    with dc.HttpConn(site.host, site.http_port) as c:
        c.send(req("GET /hello.txt HTTP/1.1", "Host: x", "Content-Length: 0"))
        assert c.read_response().body == HELLO
        c.send(req("GET /notes.txt HTTP/1.1", "Host: x"))
        assert c.read_response().body == NOTES


# --- 9 connection management (what the answers above rely on) ------------------------------------

def test_9112_9_6_close_option_ends_the_connection(site):
    """9.6: a server that receives "close" "MUST initiate closure of the connection after it sends
    the final response", "SHOULD send a "close" connection option in its final response" and "MUST
    NOT process any further requests received on that connection\"."""
    with dc.HttpConn(site.host, site.http_port) as c:
        c.send(req("GET /hello.txt HTTP/1.1", "Host: x", "Connection: close")
               + req("GET /notes.txt HTTP/1.1", "Host: x"))
        r = c.read_response()
        assert r.header("Connection") == "close" and r.body == HELLO
        assert NOTES not in c.read_to_eof()


def test_9112_9_3_http10_keep_alive_is_explicit(site):
    """9.3 and C.2.2: an HTTP/1.0 connection persists only with "keep-alive", which the response
    echoes."""
    with dc.HttpConn(site.host, site.http_port) as c:
        c.send(req("GET /hello.txt HTTP/1.0", "Connection: keep-alive"))
        r = c.read_response()
        assert r.header("Connection").lower() == "keep-alive"
        c.send(req("GET /notes.txt HTTP/1.0"))
        r = c.read_response()
        assert r.body == NOTES and r.header("Connection") == "close"
        assert c.eof(3)


def test_9110_15_5_9_408_sends_close(make_server, docroot):
    """RFC 9110 15.5.9: a 408 "SHOULD send the "close" connection option in the response, since 408
    implies that the server has decided to close the connection rather than continue waiting\"."""
    port = dc.free_port()
    make_server(["--root", docroot, "--http", f"127.0.0.1:{port}", "--https", "off",
                 "--header-timeout", "1"])
    with dc.HttpConn("127.0.0.1", port, timeout=10) as c:
        c.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n")
        start = time.monotonic()
        r = c.read_response()
        assert r.status == 408 and r.header("Connection") == "close"
        assert time.monotonic() - start < 8
        assert c.eof(5)


def test_9112_9_6_error_responses_close(site):
    """9.6 and 2.2: after a 400 the framing of what follows cannot be trusted: dropcap sends
    "close" and closes."""
    with dc.HttpConn(site.host, site.http_port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nBad Field: v\r\n\r\n")
        r = c.read_response()
        assert r.status == 400 and r.header("Connection") == "close"
        try:
            c.send(req("GET /hello.txt HTTP/1.1", "Host: x"))
        except (BrokenPipeError, ConnectionResetError, socket.error):
            pass
        assert HELLO not in c.read_to_eof()
