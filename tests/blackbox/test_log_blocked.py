"""A blocked log output never stalls the server (review finding 3). With stdout a pipe whose
reader stopped (journald under pressure, Docker's blocking log mode, `| tee` onto a full disk),
or stderr one, dropcap keeps answering new connections and obeys SIGTERM; lines that do not fit
its buffer are dropped, counted and reported once the output drains, and the lines that do get
through are whole lines in the unchanged combined format.
"""

import fcntl
import os
import re
import select
import signal
import socket
import threading
import tty
import time

import pytest

import dropcap_fixture as dc
from test_cli import COMBINED

F_SETPIPE_SZ = 1031
FILL_REQUESTS = 80  # 80 lines of ~2.1 KiB: far more than a 4 KiB pipe and a 64 KiB buffer
AGENT = "a" * 2000
DROPPED = re.compile(r"dropcap: warning: (\d+) access log lines dropped")


@pytest.fixture(params=["pipe", "socket", "tty"])
def stalled_stdout(request):
    """The server's stdout, which nobody reads yet: (our end, the server's end, kind). A 4 KiB
    pipe; a unix stream socket (as journald gives a service) with small buffers; a pty."""
    kind = request.param
    if kind == "pipe":
        r, w = os.pipe()
        fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
    elif kind == "socket":
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        b.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        r, w = a.detach(), b.detach()
    else:
        r, w = os.openpty()
        tty.setraw(w)  # no \r\n translation: the lines arrive as written
    yield r, w, kind
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


def serve(make_server, docroot, w):
    port = dc.free_port()
    with os.fdopen(os.dup(w), "wb") as out:
        s = make_server(["--root", docroot, "--https", "off", "--http", f"127.0.0.1:{port}"],
                        stdout=out)
    os.close(w)  # only the server holds the write end now
    return s, port


def fill(port):
    """Requests until the log output is full; each must still be answered (3 s bound)."""
    with dc.HttpConn("127.0.0.1", port, timeout=3) as c:
        for _ in range(FILL_REQUESTS):
            assert c.request("GET", "/hello.txt", headers={"User-Agent": AGENT}).status == 200


def assert_full(r, kind):
    if kind == "pipe":
        assert_pipe_full(r)


def assert_pipe_full(r):
    """A non-blocking write of PIPE_BUF bytes (atomic: all or nothing) into the pipe, through a
    description of our own, would block: the server's stdout takes no more lines."""
    probe = os.open(f"/proc/self/fd/{r}", os.O_WRONLY | os.O_NONBLOCK)
    try:
        with pytest.raises(BlockingIOError):
            os.write(probe, b"x" * select.PIPE_BUF)
    finally:
        os.close(probe)


def assert_shared_blocking(pid):
    """The stdout description shared with the parent was left blocking (a shell whose terminal
    turned non-blocking would fail its reads): dropcap got non-blocking writes elsewhere."""
    with open(f"/proc/{pid}/fdinfo/1") as f:
        flags = int(re.search(r"^flags:\s+(\d+)", f.read(), re.M).group(1), 8)
    assert not flags & os.O_NONBLOCK, oct(flags)


def assert_prompt(port, n=5, bound=2.0):
    for _ in range(n):
        start = time.monotonic()
        with dc.HttpConn("127.0.0.1", port, timeout=bound + 1) as c:
            assert c.request("GET", "/hello.txt").status == 200
        assert time.monotonic() - start < bound


def read_all(r, stop):
    """Reads the pipe until EOF or until stop is set and it is empty; returns the bytes."""
    out = bytearray()
    os.set_blocking(r, False)
    while True:
        try:
            data = os.read(r, 65536)
        except BlockingIOError:
            if stop.is_set():
                return bytes(out)
            time.sleep(0.01)
            continue
        except OSError:  # EIO: a pty whose other side is closed
            return bytes(out)
        if not data:
            return bytes(out)
        out += data


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while not pred() and time.monotonic() < deadline:
        time.sleep(0.05)
    return pred()


def test_stalled_stdout_keeps_serving_and_reports_drops(make_server, docroot, stalled_stdout):
    r, w, kind = stalled_stdout
    s, port = serve(make_server, docroot, w)
    fill(port)
    assert_full(r, kind)
    assert_prompt(port)
    total = FILL_REQUESTS + 5
    assert_shared_blocking(s.pid)

    stop, got = threading.Event(), {}
    reader = threading.Thread(target=lambda: got.setdefault("data", read_all(r, stop)))
    reader.start()  # the reader comes back: the buffer drains, the count is reported once
    assert wait_for(lambda: DROPPED.search(s.stderr_text()), 5), s.stderr_text()
    time.sleep(0.3)
    stop.set()
    reader.join(5)
    lines = got["data"].decode("latin-1").splitlines()
    dropped = [int(n) for n in DROPPED.findall(s.stderr_text())]
    assert len(dropped) == 1 and dropped[0] > 0, s.stderr_text()
    assert len(lines) + dropped[0] == total, (len(lines), dropped)  # every line accounted for
    for line in lines:  # whole lines, in the combined format
        m = COMBINED.match(line)
        assert m, line[:200]
        assert m["request"] == "GET /hello.txt HTTP/1.1" and m["status"] == "200"


def test_sigterm_exits_while_stdout_is_stalled(make_server, docroot, stalled_stdout):
    r, w, kind = stalled_stdout
    s, port = serve(make_server, docroot, w)
    fill(port)
    assert_full(r, kind)
    start = time.monotonic()
    s.signal(signal.SIGTERM)
    rc = s.wait(5)
    assert rc == 0, s.stderr_text()
    assert time.monotonic() - start < 5
    assert re.search(r"\d+ access log lines dropped", s.stderr_text()), s.stderr_text()


def test_stalled_stderr_keeps_serving_and_reports_drops(make_server, docroot, world_tmp):
    """Runtime warnings into a stderr nobody reads: each SIGUSR1 whose reopen fails warns once.
    The server must keep answering, and say how many messages it dropped once stderr drains."""
    if not dc.is_root():
        pytest.skip("needs root: the server runs as nobody, who must not own the test's files")
    logdir = os.path.join(world_tmp, "logs")
    os.mkdir(logdir)
    os.chown(logdir, 65534, 65534)
    port = dc.free_port()
    s = make_server(["--root", docroot, "--https", "off", "--http", f"127.0.0.1:{port}",
                     "--access-log", os.path.join(logdir, "access.log")])
    fcntl.fcntl(s.proc.stderr.fileno(), F_SETPIPE_SZ, 4096)
    log = os.path.join(logdir, "access.log")
    os.rename(log, log + ".1")
    os.chmod(logdir, 0o500)  # creating it again now fails: a warning per SIGUSR1
    s.pause_stderr()
    deadline = time.monotonic() + 20
    sent = 0
    while sent < 3000 and time.monotonic() < deadline:  # ~250 bytes each, into 4 + 8 + 64 KiB
        s.signal(signal.SIGUSR1)
        sent += 1
        time.sleep(0.001)
    assert_prompt(port)
    s.resume_stderr()
    assert wait_for(lambda: re.search(r"warning: \d+ messages dropped: standard error was blocked",
                                      s.stderr_text()), 5), s.stderr_text()[-2000:]


def test_stdout_regular_file(make_server, docroot, world_tmp):
    """`dropcap > file`: plain writes, whole lines in the combined format."""
    path = os.path.join(world_tmp, "stdout.log")
    port = dc.free_port()
    with open(path, "wb") as out:
        make_server(["--root", docroot, "--https", "off", "--http", f"127.0.0.1:{port}"],
                    stdout=out)
    assert_prompt(port, n=3)
    assert wait_for(lambda: open(path).read().count("\n") == 3, 5)
    for line in open(path).read().splitlines():
        assert COMBINED.match(line), line
