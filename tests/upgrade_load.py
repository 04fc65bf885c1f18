"""upgrade_load — the bounded client loop that runs across an upgrade (issue 9).

Used by the upgrade tests (tests/priv/test_upgrade.py, tests/install/...): Load(...) starts this
file as a child process inside the test's network namespace (`ip netns exec`), where it runs:

  * four request workers, each GET /hello.txt in a loop: HTTPS keep-alive, HTTP keep-alive,
    HTTPS with a new connection per request, HTTP with a new connection per request;
  * one 64 MiB download (HTTP, --big PATH on the server): it reads the first MiB, then waits
    for the test's "go" (sent once the old server is draining), so the download is in flight
    across the hand-over and must be finished by the old process within its drain deadline.

It stops when the requests total --count (about 2,000), the download is done and at least
--after requests were made after "go"; or at --deadline seconds (then it reports a failure).
Once --count minus --after requests are done without "go", each worker slows to one request per
--slow seconds, so a slow deploy tool does not multiply the count.
It prints one JSON line: requests, failed, truncated, idle_closed, retried, download (bytes, ok),
errors (the first few, for the assertion message).

Counting, as a browser or curl would behave: a keep-alive connection the server closed while
idle (EOF seen before the next request is written) is reopened, not a failure (idle_closed);
a request written on a reused connection that gets EOF or a reset before any byte of response
is retried once on a new connection, as RFC 9112 section 9.3.1 allows for idempotent requests
and curl does (retried). Anything else short of a complete 200 with the exact body is a failure:
a refused or reset new connection, an error status, a truncated body (counted as truncated).
"""

import argparse
import hashlib
import json
import os
import select
import socket
import ssl
import subprocess
import sys
import threading
import time

HELLO = b"hello world\n"
BIG_SIZE = 64 << 20


class Closed(Exception):
    """The connection ended before any byte of the response arrived."""


def parse_head(head):
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower()] = v.strip()
    return status, headers


class Client:
    def __init__(self, host, port, tls, cafile, timeout=10.0):
        self.host, self.port, self.tls, self.timeout = host, port, tls, timeout
        self.ctx = None
        if tls:
            self.ctx = ssl.create_default_context(cafile=cafile)
        self.sock = None
        self.buf = b""

    def connect(self):
        s = socket.create_connection((self.host, self.port), timeout=self.timeout)
        if self.ctx:
            s = self.ctx.wrap_socket(s, server_hostname="localhost")
        self.sock, self.buf = s, b""

    def close(self):
        if self.sock:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    def idle_closed(self):
        """The server closed this idle connection (EOF or reset waiting to be read)."""
        if self.sock is None:
            return False
        if self.tls and self.sock.pending():
            return False
        r, _, _ = select.select([self.sock], [], [], 0)
        return bool(r)

    def _recv(self, n=65536):
        try:
            return self.sock.recv(n)
        except ssl.SSLZeroReturnError:
            return b""

    def read_response(self):
        got_any = bool(self.buf)
        while b"\r\n\r\n" not in self.buf:
            try:
                data = self._recv()
            except (ConnectionResetError, ssl.SSLEOFError, BrokenPipeError):
                data = b""
            if not data:
                if not got_any:
                    raise Closed()
                raise IOError("connection closed inside the response head")
            got_any = True
            self.buf += data
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status, headers = parse_head(head)
        return status, headers

    def read_body(self, length, sink=None):
        body = bytearray()
        got = 0
        h = hashlib.sha256() if sink == "hash" else None
        while got < length:
            if self.buf:
                chunk, self.buf = self.buf[:length - got], self.buf[length - got:]
            else:
                chunk = self._recv(min(1 << 20, length - got))
                if not chunk:
                    break
            got += len(chunk)
            if h:
                h.update(chunk)
            else:
                body += chunk
        return got, (h.hexdigest() if h else bytes(body))

    def get(self, path, keep_alive):
        conn = "keep-alive" if keep_alive else "close"
        req = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: {conn}\r\n\r\n"
        self.sock.sendall(req.encode())
        return self.read_response()


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = self.failed = self.truncated = 0
        self.idle_closed = self.retried = 0
        self.after_go = 0
        self.errors = []

    def add(self, field, what=None, go=False):
        with self.lock:
            setattr(self, field, getattr(self, field) + 1)
            if field == "requests" and go:
                self.after_go += 1
            if what and len(self.errors) < 10:
                self.errors.append(what)


def one_request(c, keep_alive, stats, go):
    """One GET /hello.txt on c, reconnecting as a browser would. Returns normally."""
    reused = c.sock is not None
    if reused and c.idle_closed():
        stats.add("idle_closed")
        c.close()
        reused = False
    for attempt in (0, 1):
        try:
            if c.sock is None:
                c.connect()
            status, headers = c.get("/hello.txt", keep_alive)
        except Closed:
            c.close()
            if reused and attempt == 0:
                stats.add("retried")
                reused = False
                continue
            stats.add("failed", f"{c.port} tls={c.tls}: closed before any response byte", go)
            return
        except (OSError, ValueError, IndexError) as e:
            c.close()
            stats.add("failed", f"{c.port} tls={c.tls}: {type(e).__name__}: {e}", go)
            return
        break
    length = int(headers.get(b"content-length", b"-1"))
    try:
        got, body = c.read_body(length)
    except OSError as e:
        got, body = -1, str(e)
    stats.add("requests", go=go)
    if got != length or body != HELLO:
        stats.add("truncated", f"{c.port} tls={c.tls}: {got} of {length} bytes")
        c.close()
    elif status != 200:
        stats.add("failed", f"{c.port} tls={c.tls}: status {status}")
    if not keep_alive or headers.get(b"connection", b"").lower() == b"close":
        c.close()


def worker(args, tls, keep_alive, stats, stop, go):
    port = args.https_port if tls else args.http_port
    c = Client(args.host, port, tls, args.cafile)
    while not stop.is_set():
        one_request(c, keep_alive, stats, go.is_set())
        # waiting for the hand-over (a deploy tool may take seconds): a slower pace, so that the
        # whole run stays near --count requests
        early = go.is_set() or stats.requests < args.count - args.after
        time.sleep(args.pause if early else args.slow)
    c.close()


def download(args, result, go):
    c = Client(args.host, args.http_port, False, args.cafile, timeout=30)
    try:
        c.connect()
        status, headers = c.get(args.big, False)
        length = int(headers.get(b"content-length", b"-1"))
        first, _ = c.read_body(1 << 20, sink="hash")
        result["started"] = True
        go.wait(args.deadline)
        rest, digest = c.read_body(length - first, sink="hash")
        result.update(status=status, length=length, bytes=first + rest)
    except OSError as e:
        result["error"] = f"{type(e).__name__}: {e}"
    finally:
        c.close()


def run(args):
    stats, stop, go = Stats(), threading.Event(), threading.Event()
    dl = {"started": False}
    threads = [threading.Thread(target=download, args=(args, dl, go), daemon=True)]
    for tls in (True, False):
        for keep_alive in (True, False):
            threads.append(threading.Thread(target=worker, daemon=True,
                                            args=(args, tls, keep_alive, stats, stop, go)))
    for t in threads:
        t.start()
    deadline = time.monotonic() + args.deadline
    threading.Thread(target=lambda: (sys.stdin.readline(), go.set()), daemon=True).start()
    announced = False
    while time.monotonic() < deadline:
        if not announced and dl["started"] and stats.requests >= args.before:
            print("running", flush=True)
            announced = True
        if (go.is_set() and stats.requests >= args.count and stats.after_go >= args.after
                and not threads[0].is_alive()):
            break
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(15)
    done = dl.get("bytes") == dl.get("length") == BIG_SIZE and dl.get("status") == 200
    out = {"requests": stats.requests, "failed": stats.failed, "truncated": stats.truncated,
           "idle_closed": stats.idle_closed, "retried": stats.retried,
           "after_go": stats.after_go, "download": dl, "download_ok": done,
           "timed_out": time.monotonic() >= deadline, "errors": stats.errors}
    if not done:
        out["truncated"] += 1
    print(json.dumps(out), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--https-port", type=int, default=443)
    p.add_argument("--http-port", type=int, default=80)
    p.add_argument("--cafile", required=True)
    p.add_argument("--big", default="/big.bin")
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--before", type=int, default=300)
    p.add_argument("--after", type=int, default=400)
    p.add_argument("--pause", type=float, default=0.0)
    p.add_argument("--slow", type=float, default=0.1)
    p.add_argument("--deadline", type=float, default=120.0)
    run(p.parse_args())


# ---------------------------------------------------------------------------------------------
# The tests' side


def make_big(docroot, name="big.bin"):
    """A 64 MiB file in docroot (world-readable); returns its URL path."""
    path = os.path.join(docroot, name)
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(BIG_SIZE >> 20):
            f.write(block)
    os.chmod(path, 0o644)
    return "/" + name


class Load:
    """The load process, inside netns (a dropcap_fixture.Netns, or None for this namespace):
        with Load(netns, cafile=...) as load:
            load.wait_running()      # requests flow and the download is in flight
            ... the upgrade ...
            load.go()                # the hand-over happened: let the download finish
            result = load.result()   # the JSON summary (dict)
    """

    def __init__(self, netns, *, cafile, deadline=120.0, **opts):
        cmd = [sys.executable, os.path.abspath(__file__), "--cafile", cafile,
               "--deadline", str(deadline)]
        for k, v in opts.items():
            cmd += ["--" + k.replace("_", "-"), str(v)]
        if netns is not None:
            cmd = netns.exec(cmd)
        self.deadline = deadline
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def wait_running(self, timeout=60.0):
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if r else ""
        if line.strip() != "running":
            self.proc.kill()
            raise AssertionError(f"load never started: {line!r} {self.proc.stderr.read()}")

    def go(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self):
        try:
            out, err = self.proc.communicate(timeout=self.deadline + 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("the load process did not finish")
        assert self.proc.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def assert_clean(result, min_requests=1800):
    """Zero failed requests, zero truncated bodies, the download complete, enough requests."""
    assert result["failed"] == 0 and result["truncated"] == 0, result
    assert result["download_ok"], result
    assert not result["timed_out"], result
    assert result["requests"] >= min_requests, result


if __name__ == "__main__":
    main()
