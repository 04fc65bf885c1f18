"""--log-format: JSON lines (one object per line, RFC 8259, valid for any bytes a client sends),
the site_combined layout, and the standard combined format left as it was."""

import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import time

import dropcap_fixture as dc

# Keys of every JSON line, in order: a documented, stable schema (README, dropcap.8).
KEYS = ["time", "epoch", "remote_addr", "site", "method", "target", "protocol", "request",
        "status", "body_bytes", "referer", "user_agent", "remote_port", "truncated"]
FIELD_MAX = 4096  # accesslog.c: escaped bytes one client string may take

STANDARD = (
    r'^(?P<addr>\S+) - - \[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] '
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<bytes>\d+|-) '
    r'"(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)"')
STANDARD_COMBINED = re.compile(STANDARD + "$")  # combined_nosite, site_combined's rest
COMBINED = re.compile(STANDARD + r' "(?P<site>(?:[^"\\]|\\.)*)"$')  # the default


def lines_of(text):
    return [l for l in text.splitlines() if l.strip()]


def json_entries(text):
    """Each line parses on its own as one JSON object with exactly the documented keys, and is
    valid UTF-8: the fixture decodes stdout with errors="replace", so a raw U+FFFD in the text
    would be an ill-formed byte the server wrote (it writes the escape \\ufffd instead; no
    test input here holds a real U+FFFD)."""
    out = []
    for line in lines_of(text):
        e = json.loads(line)  # raises on any invalid line
        assert list(e) == KEYS, line
        assert "\ufffd" not in line, line
        out.append(e)
    return out


def server(make_server, docroot, fmt, *extra):
    port = dc.free_port()
    s = make_server(["--root", docroot, "--http", f"127.0.0.1:{port}", "--https", "off",
                     "--log-format", fmt, *extra])
    return s, port


def raw_request(port, data, head=False):
    with dc.HttpConn("127.0.0.1", port) as c:
        c.send(data)
        return c.read_response(head_request=head)


def wait_entries(s, n):
    text = s.wait_stdout(lambda t: len(lines_of(t)) >= n, timeout=5)
    return json_entries(text)


def test_json_ordinary_request(make_server, docroot):
    """A GET and a HEAD: every field, the ISO 8601 time with its offset matching the epoch."""
    s, port = server(make_server, docroot, "json")
    with dc.HttpConn("127.0.0.1", port) as c:
        c.request("GET", "/hello.txt?x=1", headers={"Referer": "http://ref.example/",
                                                     "User-Agent": "pytest-agent/1.0"})
        c.request("HEAD", "/hello.txt", version="HTTP/1.0")
    get, head = wait_entries(s, 2)
    assert get["remote_addr"] == "127.0.0.1" and get["site"] is None
    assert (get["method"], get["target"], get["protocol"]) == ("GET", "/hello.txt?x=1",
                                                               "HTTP/1.1")
    assert get["request"] is None and get["status"] == 200
    assert get["body_bytes"] == len(dc.DOCROOT_FILES["hello.txt"])
    assert get["referer"] == "http://ref.example/" and get["user_agent"] == "pytest-agent/1.0"
    assert get["truncated"] is False
    assert (head["method"], head["protocol"], head["status"]) == ("HEAD", "HTTP/1.0", 200)
    assert head["body_bytes"] == 0 and head["referer"] is None and head["user_agent"] is None
    t = datetime.datetime.fromisoformat(get["time"])
    assert t.utcoffset() is not None and t.timestamp() == get["epoch"]
    assert abs(get["epoch"] - time.time()) < 60


def test_json_hostile_headers(make_server, docroot):
    """Quotes, backslashes, JSON look-alikes, obs-text that is not UTF-8, C1 controls and line
    separators in Referer and User-Agent: each line is still one valid JSON object; valid UTF-8
    comes back as sent, each ill-formed sequence as U+FFFD."""
    s, port = server(make_server, docroot, "json")
    agent = b'evil" "x\\" , "status": 999, {"a": "\\u0041"} caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80'
    referer = b"http://r/\xff\xfe\xc0\xaf\xed\xa0\x80 \xc2\x9b[31m \xe2\x80\xa8 end"
    raw_request(port, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: " + agent +
                b"\r\nReferer: " + referer + b"\r\n\r\n")
    text = s.wait_stdout(lambda t: len(lines_of(t)) >= 1, timeout=5)
    (e,) = json_entries(text)
    assert e["status"] == 200 and e["user_agent"] == agent.decode("utf-8")
    assert e["referer"] == "http://r/" + "\ufffd" * 7 + " \x9b[31m \u2028 end"
    # no raw control character (C0, DEL, C1) and no raw U+2028 reaches the log file itself
    line = lines_of(text)[0]
    assert not re.search("[\x00-\x1f\x7f\x80-\x9f\u2028\u2029]", line), line
    assert '\\u009b[31m \\u2028 end"' in line


def test_json_never_parsed(make_server, docroot):
    """Requests that never parsed (400, 414, 431, 408): method, target and protocol are null and
    request holds what was received, as the combined format logs it (cut at 512 bytes)."""
    s, port = server(make_server, docroot, "json", "--header-timeout", "1")
    for raw in (b"\x01\x02\"garbage\\ \xff\xe2\x82\x7f\r\n\r\n",
                b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"b" * 17000 + b"\r\n\r\n",
                b"GET /t\x01\"ab HTTP/1.1\r\nHost: x\r\n\r\n"):
        raw_request(port, raw)
    with dc.HttpConn("127.0.0.1", port) as c:
        c.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
        assert c.eof(4)
    entries = wait_entries(s, 5)
    for e in entries:
        assert e["method"] is None and e["target"] is None and e["protocol"] is None, e
        assert e["referer"] is None and e["user_agent"] is None, e
    got = sorted((e["status"], e["request"]) for e in entries)
    assert [g[0] for g in got] == [400, 400, 408, 414, 431], got
    assert got[0][1:] + got[1][1:] == ("\x01\x02\"garbage\\ \ufffd\ufffd\x7f",
                                       "GET /t\x01\"ab HTTP/1.1"), got
    assert got[2][1] == "GET /slow HTTP/1.1"
    assert got[3][1].startswith("GET /aaaa") and len(got[3][1]) == 512
    assert got[4][1] == "GET / HTTP/1.1"


def test_json_long_fields_cut(make_server, docroot):
    """A User-Agent whose escaped form exceeds the field bound is cut on a character boundary,
    the line stays valid JSON, and truncated says so; other fields are whole."""
    s, port = server(make_server, docroot, "json")
    agent = b'"\\' * 3000 + b"\xe2\x82\xac" * 100  # 6,000 bytes that escape to 12,000
    raw_request(port, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: " + agent +
                b"\r\nReferer: /short\r\n\r\n")
    (e,) = wait_entries(s, 1)
    assert e["status"] == 200 and e["truncated"] is True
    assert e["user_agent"] == '"\\' * (FIELD_MAX // 4) and e["referer"] == "/short"


def test_json_reopened_on_sigusr1(make_server, docroot, world_tmp):
    """logrotate moves the JSON log away and sends SIGUSR1: the next line goes to a new file,
    and both files hold whole JSON lines."""
    logdir = os.path.join(world_tmp, "logs")
    os.mkdir(logdir)
    os.chown(logdir, 65534, 65534)  # the server runs as nobody after the drop
    log = os.path.join(logdir, "access.json")
    s, port = server(make_server, docroot, "json", "--access-log", log)

    def entries(path, n=0):
        deadline = time.monotonic() + 5
        while True:
            text = open(path).read() if os.path.exists(path) else ""
            if len(lines_of(text)) >= n or time.monotonic() > deadline:
                return json_entries(text)
            time.sleep(0.05)

    with dc.HttpConn("127.0.0.1", port) as c:
        c.request("GET", "/hello.txt")
        assert len(entries(log, 1)) == 1
        os.rename(log, log + ".1")
        s.signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not os.path.exists(log):
            time.sleep(0.05)
        c.request("GET", "/nope")
    assert [e["status"] for e in entries(log, 1)] == [404]
    assert [e["status"] for e in entries(log + ".1")] == [200]
    assert "warning" not in s.stderr_text()


def test_combined_is_the_default_and_records_the_site(make_server, docroot):
    """--log-format combined writes exactly what no option writes: the standard combined fields,
    then the site in quotes ("-": the default site has no name); combined_nosite writes the
    standard combined format alone, for parsers that want nothing after the user agent."""
    outs = []
    for extra in ((), ("--log-format", "combined"), ("--log-format", "combined_nosite")):
        port = dc.free_port()
        s = make_server(["--root", docroot, "--http", f"127.0.0.1:{port}", "--https", "off",
                         *extra])
        with dc.HttpConn("127.0.0.1", port) as c:
            c.request("GET", "/hello.txt", headers={"User-Agent": 'a"b\\c'})
        text = s.wait_stdout(lambda t: len(lines_of(t)) >= 1, timeout=5)
        (line,) = lines_of(text)
        assert (STANDARD_COMBINED if "combined_nosite" in extra else COMBINED).match(line), line
        outs.append(line.split("] ", 1)[1])  # all but the address and the time
    standard = '"GET /hello.txt HTTP/1.1" 200 12 "-" "a\\x22b\\x5cc"'
    assert outs == [standard + ' "-"', standard + ' "-"', standard]


def test_site_combined(make_server, docroot):
    """site_combined: the site's name (here none chosen: "-") and a space, then a standard
    combined line, as Apache's vhost_common puts %v first."""
    s, port = server(make_server, docroot, "site_combined")
    with dc.HttpConn("127.0.0.1", port) as c:
        c.request("GET", "/hello.txt")
    (line,) = lines_of(s.wait_stdout(lambda t: len(lines_of(t)) >= 1, timeout=5))
    site, rest = line.split(" ", 1)
    assert site == "-" and STANDARD_COMBINED.match(rest), line


GOACCESS_FORMATS = {  # the format GoAccess reads each of ours with, as the README says
    "combined": ["--log-format=COMBINED"],
    "site_combined": ["--log-format=%v %h %^[%d:%t %^] \"%r\" %s %b \"%R\" \"%u\"",
                      "--date-format=%d/%b/%Y", "--time-format=%T"],
    "combined_nosite": ["--log-format=COMBINED"],
}


def test_goaccess_reads_each_combined_format(make_server, docroot, tmp_path):
    """A real log analyser, GoAccess, reads every line of each combined layout as the README
    tells it to: none is invalid, and the statuses come out as sent."""
    if not shutil.which("goaccess"):
        raise AssertionError("goaccess missing: scripts/deps.sh test installs it")
    for fmt, args in GOACCESS_FORMATS.items():
        s, port = server(make_server, docroot, fmt)
        with dc.HttpConn("127.0.0.1", port) as c:
            c.request("GET", "/hello.txt", headers={"User-Agent": 'odd "agent" \\'})
            c.request("GET", "/nope")
        text = s.wait_stdout(lambda t: len(lines_of(t)) >= 2, timeout=5)
        log, out = tmp_path / f"{fmt}.log", tmp_path / f"{fmt}.json"
        log.write_text("\n".join(lines_of(text)) + "\n")
        subprocess.run(["goaccess", str(log), *args, "-o", str(out)], check=True,
                       capture_output=True, timeout=60)
        general = json.loads(out.read_text())["general"]
        assert (general["total_requests"], general["failed_requests"]) == (2, 0), (fmt, text)
        codes = json.loads(out.read_text())["status_codes"]["data"]
        assert sorted(d["data"][:3] for d in codes) == ["2xx", "4xx"], (fmt, codes)


def test_bad_log_format(dropcap_bin, docroot):
    """An unknown format is a start-up error naming the choices."""
    rc, err = dc.Server(["--root", docroot, "--https", "off", "--http",
                         f"127.0.0.1:{dc.free_port()}", "--log-format", "xml"]
                        ).run_to_exit(timeout=10)
    assert rc != 0 and "--log-format xml" in err and "json" in err, err


# --- over both protocols ---------------------------------------------------------------------

NAMED = "bare.example.test"  # a named site without a certificate of its own: the default's


def logged_exchanges(make_server, docroot, tls_files, world_tmp, proto, fmt):
    """A server with the default site and one named site; over proto, a GET and a HEAD to the
    named site and a 404 on the default one. Returns (the 404's body, the log lines)."""
    http_port, https_port = dc.free_port(), dc.free_port()
    s = make_server(["--root", docroot, "--http", f"127.0.0.1:{http_port}",
                     "--https", f"127.0.0.1:{https_port}", "--cert", tls_files.ec_cert,
                     "--key", tls_files.ec_key, "--log-format", fmt,
                     "--site", NAMED, "--root", dc.make_docroot(world_tmp)])
    with dc.client(proto, "127.0.0.1", http_port, https_port, server_hostname=NAMED) as c:
        assert c.request("GET", "/hello.txt", host=NAMED,
                         headers={"User-Agent": "ua/1", "Referer": "http://r/"}).status == 200
        assert c.request("HEAD", "/hello.txt", host=NAMED).status == 200
    with dc.client(proto, "127.0.0.1", http_port, https_port) as c:
        missing = c.request("GET", "/missing", host="localhost")
        assert missing.status == 404
    return missing.body, lines_of(s.wait_stdout(lambda t: len(lines_of(t)) >= 3, timeout=5))


def version_of(proto):
    # h2 requests are logged as HTTP/2.0, the form nginx and Apache write
    return "HTTP/2.0" if proto == "h2" else "HTTP/1.1"


def test_json_over_each_protocol(make_server, docroot, tls_files, world_tmp, proto):
    """The JSON line of an h2 stream has the same fields as HTTP/1.1's: its site, method,
    target, status and body bytes, with protocol "HTTP/2.0"."""
    body404, lines = logged_exchanges(make_server, docroot, tls_files, world_tmp, proto, "json")
    # one line per request, in the order the workers wrote them (connections may differ)
    es = json_entries("\n".join(lines))
    get = next(e for e in es if e["method"] == "GET" and e["status"] == 200)
    head = next(e for e in es if e["method"] == "HEAD")
    missing = next(e for e in es if e["status"] == 404)
    ver = version_of(proto)
    assert (get["site"], get["method"], get["target"], get["protocol"]) == \
        (NAMED, "GET", "/hello.txt", ver)
    assert get["status"] == 200 and get["body_bytes"] == len(dc.DOCROOT_FILES["hello.txt"])
    assert get["user_agent"] == "ua/1" and get["referer"] == "http://r/"
    assert get["remote_addr"] == "127.0.0.1" and get["truncated"] is False
    assert (head["site"], head["method"], head["protocol"], head["status"]) == \
        (NAMED, "HEAD", ver, 200)
    assert head["body_bytes"] == 0
    assert (missing["site"], missing["status"], missing["protocol"]) == (None, 404, ver)
    assert missing["body_bytes"] == len(body404) > 0


def test_combined_over_each_protocol(make_server, docroot, tls_files, world_tmp, proto):
    """The default combined line of an h2 stream: "GET /hello.txt HTTP/2.0", the status, the
    bytes and the site in quotes, as over HTTP/1.1."""
    body404, lines = logged_exchanges(make_server, docroot, tls_files, world_tmp, proto,
                                      "combined")
    assert all(COMBINED.match(l) for l in lines), lines
    rests = [l.split("] ", 1)[1] for l in lines]
    ver = version_of(proto)
    assert rests == [f'"GET /hello.txt {ver}" 200 12 "http://r/" "ua/1" "{NAMED}"',
                     f'"HEAD /hello.txt {ver}" 200 - "-" "-" "{NAMED}"',  # %b: "-" for none
                     f'"GET /missing {ver}" 404 {len(body404)} "-" "-" "-"']
