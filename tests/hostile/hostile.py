"""hostile — a measuring client and attack drivers for tests/hostile (issue 8, "Hostile clients,
measured"). Everything targets loopback only and every loop is bounded in count and in time.

In the test process (imported):
  Scale.current()         the counts and durations: short (make test), full (DROPCAP_STRESS=1).
  Prober(...)             a thread: every `interval` seconds one GET over a NEW HTTP connection
                          and one over a NEW HTTPS connection (or over kept-alive ones), each
                          timed from connect() to the last body byte and checked against the body.
  ProcSampler(pid)        a thread: the server's VmRSS, open descriptors and CPU time, 5 times a
                          second.
  Watch(...)              both of them, plus named phases ("before", "attack", "after") whose
                          samples stats(name) summarises.
  Driver(kind, args)      one attack driver run as a separate process (`python3 hostile.py KIND
                          ...`), so that its CPU time and its GIL never delay the prober.
  Slowhttptest(args, ...) Debian's slowhttptest, with its CSV report parsed (peak "Connected").
  RESULTS, REPORT         what the run measured, for the summary conftest.py prints at the end.

Attack drivers (separate processes; each prints JSON lines: {"event": "ready", ...} once its
connections are up, {"event": "done", ...} with its counts at the end):
  open     COUNT connections (TLS handshake done, or plain TCP) held silent until stdin closes or
           --hold seconds pass.
  garbage  bytes no TLS server may accept, sent to the TLS port, connection after connection;
           records how soon the server closed each one.
  resets   large downloads cut by an RST (SO_LINGER 0 close) after a random number of bytes.
"""

import argparse
import errno
import json
import os
import random
import selectors
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import dropcap_fixture as dc  # noqa: E402

LOOPBACK = ("127.0.0.1", "::1")
RESULTS = []  # one dict per scenario measured in this run, for the summary table
REPORT = []  # (title, [line, ...]) more findings for the summary (testssl.sh)


# ---------------------------------------------------------------------------------------------
# Sizes


class Scale:
    """Counts and durations of one run. Short: what `make test` affords (each scenario a few
    seconds); full: the sizes issue 8 names, selected by DROPCAP_STRESS=1 (`make stress`)."""

    def __init__(self, full):
        self.full = full
        self.slow_headers = 3000 if full else 300
        self.slow_read = 1000 if full else 100
        self.idle_tls = 5000 if full else 500
        self.silent = 5000 if full else 500
        self.garbage = 3000 if full else 300
        self.resets = 2000 if full else 150
        self.emfile_fill = 1000 if full else 64
        self.before = 2.0 if full else 0.6     # seconds of probes before the attack
        self.window = 20.0 if full else 3.0    # seconds of probes while the attack holds
        self.after = 5.0 if full else 1.6      # seconds of probes after it stopped
        self.interval = 1.0 if full else 0.5   # between two rounds of probes
        self.setup = 120.0 if full else 30.0   # at most, for an attack to get established

    @staticmethod
    def current():
        return Scale(os.environ.get("DROPCAP_STRESS", "") not in ("", "0"))


# ---------------------------------------------------------------------------------------------
# The measuring side


class Sample:
    """One fetch: began at t (monotonic), took seconds (None when it failed with error)."""

    __slots__ = ("t", "kind", "seconds", "error", "end")

    def __init__(self, t, kind, seconds, error):
        self.t = t
        self.kind = kind
        self.seconds = seconds
        self.error = error
        self.end = time.monotonic()


class Prober(threading.Thread):
    """The normal client. Each round fetches `path` over each of `kinds` ('http', 'https'); with
    keepalive=False every fetch opens a new connection (connect, TLS handshake, request, body),
    with keepalive=True one connection per kind is reused (and reopened after an error)."""

    def __init__(self, host, ports, path, body, *, interval=1.0, timeout=5.0,
                 kinds=("http", "https"), keepalive=False):
        super().__init__(daemon=True)
        assert host in LOOPBACK
        self.host = host
        self.ports = ports  # {'http': port, 'https': port}
        self.path = path
        self.body = body
        self.interval = interval
        self.timeout = timeout
        self.kinds = kinds
        self.keepalive = keepalive
        self.samples = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.conns = {}

    def _connection(self, kind):
        c = self.conns.get(kind) if self.keepalive else None
        if c is None:
            c = dc.HttpConn(self.host, self.ports[kind], tls=(kind == "https"),
                            timeout=self.timeout)
            if self.keepalive:
                self.conns[kind] = c
        return c

    def fetch(self, kind):
        t0 = time.monotonic()
        c = None
        try:
            c = self._connection(kind)
            r = c.request("GET", self.path,
                          headers=None if self.keepalive else {"Connection": "close"})
            if r.status != 200 or r.body != self.body:
                raise AssertionError(f"status {r.status}, {len(r.body)} body bytes")
            return Sample(t0, kind, time.monotonic() - t0, None)
        except (OSError, EOFError, AssertionError, ValueError) as e:
            self.conns.pop(kind, None)
            if c is not None:
                c.close()
            return Sample(t0, kind, None, f"{type(e).__name__}: {e}")
        finally:
            if c is not None and not self.keepalive:
                c.close()

    def run(self):
        next_round = time.monotonic()
        while not self.stopping.is_set():
            for kind in self.kinds:
                s = self.fetch(kind)
                with self.lock:
                    self.samples.append(s)
            # A round that overran starts the next one at once, without catching up on the
            # rounds it missed: a stall shows as fewer, slower fetches and a gap, never a burst.
            next_round = max(next_round + self.interval, time.monotonic())
            self.stopping.wait(next_round - time.monotonic())
        for c in self.conns.values():
            c.close()

    def stop(self):
        self.stopping.set()
        self.join(self.timeout * len(self.kinds) + self.interval + 5)

    def between(self, t0, t1):
        """The fetches that began in [t0, t1)."""
        with self.lock:
            return [s for s in self.samples if t0 <= s.t < t1]

    def overlapping(self, t0, t1):
        """The fetches that were under way at some time in [t0, t1)."""
        with self.lock:
            return [s for s in self.samples if s.t < t1 and s.end >= t0]


class ProcSampler(threading.Thread):
    """Samples /proc/PID: VmRSS (KiB), the number of open descriptors, utime+stime (seconds)."""

    def __init__(self, pid, period=0.2):
        super().__init__(daemon=True)
        self.pid = pid
        self.period = period
        self.rows = []  # (t, rss_kib, nfds, cpu_seconds)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.hz = os.sysconf("SC_CLK_TCK")

    def read(self):
        rss = None
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        nfds = len(os.listdir(f"/proc/{self.pid}/fd"))
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / self.hz  # utime, stime
        return (time.monotonic(), rss, nfds, cpu)

    def run(self):
        while not self.stopping.is_set():
            try:
                row = self.read()
            except (OSError, ValueError, IndexError):  # the process is gone
                return
            with self.lock:
                self.rows.append(row)
            self.stopping.wait(self.period)

    def stop(self):
        self.stopping.set()
        self.join(5)

    def latest(self):
        with self.lock:
            return self.rows[-1] if self.rows else self.read()

    def between(self, t0, t1):
        with self.lock:
            return [r for r in self.rows if t0 <= r[0] < t1]


def wait_until(predicate, timeout, period=0.1):
    """Polls predicate() until it is true (returns True) or timeout seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(period)


class Phase:
    def __init__(self, name):
        self.name = name
        self.t0 = time.monotonic()
        self.t1 = None


class Watch:
    """The normal client and the server sampler of one scenario, with named time windows."""

    def __init__(self, server, host, ports, path, body, scale, *, kinds=("http", "https"),
                 timeout=5.0):
        self.server = server
        self.prober = Prober(host, ports, path, body, interval=scale.interval, timeout=timeout,
                             kinds=kinds)
        self.sampler = ProcSampler(server.pid)
        self.phases = {}

    def __enter__(self):
        self.sampler.start()
        self.prober.start()
        return self

    def __exit__(self, *exc):
        self.prober.stop()
        self.sampler.stop()

    def begin(self, name):
        self.phases[name] = Phase(name)

    def end(self, name):
        self.phases[name].t1 = time.monotonic()

    def hold(self, name, seconds):
        """A phase of `seconds`: the probes keep running while the caller waits."""
        self.begin(name)
        time.sleep(seconds)
        self.end(name)

    def nfds(self):
        return self.sampler.latest()[2]

    def stats(self, name, prober=None):
        ph = self.phases[name]
        t1 = ph.t1 or time.monotonic()
        samples = (prober or self.prober).between(ph.t0, t1)
        rows = self.sampler.between(ph.t0, t1)
        # The longest time without a completed fetch, the window's edges included: a server
        # that stalls for seconds shows here even when most fetches of a long window were fast.
        ends = sorted([ph.t0, t1] + [s.end for s in (prober or self.prober).overlapping(ph.t0, t1)
                                     if s.error is None and ph.t0 <= s.end <= t1])
        ok = [s.seconds for s in samples if s.error is None]
        # A failed fetch counts as infinitely slow: a median over successes alone would hide it.
        all_ = sorted(ok + [float("inf")] * (len(samples) - len(ok)))
        return {
            "probes": len(samples),
            "failures": [f"{s.kind}: {s.error}" for s in samples if s.error],
            "median": statistics.median(all_) if all_ else None,
            "worst": all_[-1] if all_ else None,
            "max_gap": max(b - a for a, b in zip(ends, ends[1:])),
            "rss_peak_kib": max((r[1] for r in rows), default=None),
            "rss_last_kib": rows[-1][1] if rows else None,
            "fds_peak": max((r[2] for r in rows), default=None),
            "cpu_share": ((rows[-1][3] - rows[0][3]) / (rows[-1][0] - rows[0][0])
                          if len(rows) > 1 and rows[-1][0] > rows[0][0] else None),
            "seconds": t1 - ph.t0,
        }


# ---------------------------------------------------------------------------------------------
# Attack processes


class Driver:
    """One attack driver in its own process: `python3 hostile.py KIND ARGS...`. Reads its JSON
    event lines; closing its stdin tells an `open` driver to let its connections go."""

    def __init__(self, kind, args, timeout):
        self.argv = [sys.executable, os.path.abspath(__file__), kind] + [str(a) for a in args]
        self.timeout = timeout
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.events = []
        self.err = []
        self._cv = threading.Condition()
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_out(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"event": "noise", "line": line}
            with self._cv:
                self.events.append(ev)
                self._cv.notify_all()
        with self._cv:
            self.events.append({"event": "eof"})
            self._cv.notify_all()

    def _read_err(self):
        for line in self.proc.stderr:
            self.err.append(line)

    def wait_event(self, name, timeout=None):
        """The first event called name (or 'eof' if the driver ended first); None on timeout."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        with self._cv:
            while True:
                for ev in self.events:
                    if ev["event"] in (name, "eof"):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cv.wait(left)

    def release(self):
        """Closes stdin (an `open` driver then closes its connections) and waits for the end."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        done = self.wait_event("done", self.timeout)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return done

    def stderr(self):
        return "".join(self.err)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Slowhttptest:
    """slowhttptest (Debian) as a child process; .peak_connected() reads its CSV report."""

    def __init__(self, args, workdir, length):
        self.prefix = os.path.join(workdir, "slowhttptest")
        argv = ["slowhttptest"] + [str(a) for a in args] + ["-l", str(int(length)), "-g",
                                                             "-o", self.prefix]
        self.log = open(self.prefix + ".out", "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def peak_connected(self):
        """The highest 'Connected' count slowhttptest reported (its CSV, written at the end)."""
        try:
            with open(self.prefix + ".csv") as f:
                rows = [line.strip().split(",") for line in f][1:]
        except OSError:
            return None
        return max((int(r[3]) for r in rows if len(r) > 3 and r[3].isdigit()), default=0)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # it writes its report, closes its sockets and exits
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def output(self):
        with open(self.prefix + ".out", errors="replace") as f:
            return f.read()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------------------------
# Driver bodies (run in the driver process)


def _emit(event, **kw):
    print(json.dumps(dict(event=event, **kw)), flush=True)


def _family(host):
    if host not in LOOPBACK:
        raise SystemExit(f"refusing to attack {host}: loopback only")
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class _Opener:
    """Opens `count` connections, at most `concurrency` of them still connecting (or in their
    TLS handshake) at once, with one selector; gives up at the deadline."""

    def __init__(self, host, port, count, concurrency, tls):
        self.addr = (host, port)
        self.family = _family(host)
        self.count = count
        self.concurrency = concurrency
        self.ctx = _tls_context() if tls else None
        self.sel = selectors.DefaultSelector()
        self.started = 0
        self.pending = 0
        self.held = []
        self.errors = {}

    def _error(self, sock, e):
        key = type(e).__name__
        self.errors[key] = self.errors.get(key, 0) + 1
        self.pending -= 1
        try:
            self.sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()

    def _start_one(self):
        s = socket.socket(self.family, socket.SOCK_STREAM)
        s.setblocking(False)
        self.started += 1
        self.pending += 1
        err = s.connect_ex(self.addr)
        if err not in (0, errno.EINPROGRESS):
            self._error(s, OSError(err, os.strerror(err)))
            return
        self.sel.register(s, selectors.EVENT_WRITE, "connect")

    def _connected(self, s):
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._error(s, OSError(err, os.strerror(err)))
            return
        if self.ctx is None:
            self._done(s)
            return
        self.sel.unregister(s)
        ts = self.ctx.wrap_socket(s, server_hostname="localhost", do_handshake_on_connect=False)
        self.sel.register(ts, selectors.EVENT_WRITE, "handshake")
        self._handshake(ts)

    def _handshake(self, ts):
        try:
            ts.do_handshake()
        except ssl.SSLWantReadError:
            self.sel.modify(ts, selectors.EVENT_READ, "handshake")
            return
        except ssl.SSLWantWriteError:
            self.sel.modify(ts, selectors.EVENT_WRITE, "handshake")
            return
        except (OSError, ssl.SSLError) as e:
            self._error(ts, e)
            return
        self._done(ts)

    def _done(self, s):
        self.sel.unregister(s)
        self.pending -= 1
        self.held.append(s)

    def run(self, deadline):
        while (self.started < self.count or self.pending) and time.monotonic() < deadline:
            while self.started < self.count and self.pending < self.concurrency:
                self._start_one()
            for key, _ in self.sel.select(timeout=0.2):
                if key.data == "connect":
                    self._connected(key.fileobj)
                else:
                    self._handshake(key.fileobj)
        return self


def _wait_stdin_or(seconds):
    """Returns when stdin reaches EOF (the test released us) or after `seconds`."""
    eof = threading.Event()

    def read_to_eof():
        while sys.stdin.buffer.read1(4096):
            pass
        eof.set()

    threading.Thread(target=read_to_eof, daemon=True).start()
    return "released" if eof.wait(seconds) else "hold time over"


def _closed_by_peer(socks):
    """How many of socks the server has closed or is closing: a silent client's socket becomes
    readable only then (an alert, FIN or RST)."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    n = len(sel.select(timeout=0))
    sel.close()
    return n


def drive_open(a):
    t0 = time.monotonic()
    op = _Opener(a.host, a.port, a.count, a.concurrency, a.tls).run(t0 + a.open_timeout)
    _emit("ready", held=len(op.held), errors=op.errors, seconds=round(time.monotonic() - t0, 3))
    why = _wait_stdin_or(a.hold)
    closed = _closed_by_peer(op.held)
    for s in op.held:
        s.close()
    _emit("done", held=len(op.held), closed_by_server=closed, errors=op.errors, why=why)


# Payloads no TLS server may accept, each named. The random ones get a first byte that is not a
# TLS content type (20..24), so each is invalid from its first record header on.
def _garbage_payload(kind, rng):
    if kind == "http-get":
        return b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
    if kind == "http-post":
        return b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello"
    if kind == "zeros":
        return bytes(4096)
    if kind == "random":
        n = rng.choice((6, 300, 5000, 65536))  # at least a whole record header
        data = bytearray(rng.randbytes(n))
        data[0] = rng.choice([b for b in range(256) if not 20 <= b <= 24])
        return bytes(data)
    if kind == "record-too-long":  # a handshake record header announcing 65,535 bytes
        return b"\x16\x03\x03\xff\xff" + rng.randbytes(64)
    if kind == "record-random-body":  # a well-framed handshake record with random contents
        return b"\x16\x03\x01\x00\x80" + rng.randbytes(128)
    if kind == "sslv2-hello":  # an SSLv2-format ClientHello
        return bytes.fromhex("802e0100020015000000100700c00500800300800100800600400400800200"
                             "80") + rng.randbytes(16)
    raise ValueError(kind)


GARBAGE_KINDS = ("http-get", "http-post", "zeros", "random", "record-too-long",
                 "record-random-body", "sslv2-hello")


def _garbage_one(a, kind, rng):
    """Sends one payload; returns (seconds until the server closed, or None if still open at
    close_timeout, bytes received)."""
    payload = _garbage_payload(kind, rng)
    got = 0
    with socket.socket(_family(a.host), socket.SOCK_STREAM) as s:
        s.settimeout(a.close_timeout)
        s.connect((a.host, a.port))
        t0 = time.monotonic()
        try:
            s.sendall(payload)
        except OSError:
            return time.monotonic() - t0, got  # closed (reset) while we were still sending
        while True:
            left = a.close_timeout - (time.monotonic() - t0)
            if left <= 0:
                return None, got
            s.settimeout(left)
            try:
                data = s.recv(65536)
            except (socket.timeout, TimeoutError):
                return None, got
            except OSError:
                return time.monotonic() - t0, got
            if not data:
                return time.monotonic() - t0, got
            got += len(data)


def _take(lock, state, a, t0):
    """The next connection's index, after waiting for its turn at a.rate connections per second;
    None once a.count connections were started or a.duration has passed."""
    with lock:
        i = state["next"]
        if i >= a.count:
            return None
        state["next"] += 1
    if a.rate > 0:
        delay = t0 + i / a.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return i if time.monotonic() < t0 + a.duration else None


def drive_garbage(a):
    lock = threading.Lock()
    per_kind = {k: {"sent": 0, "closed": 0, "open_at_timeout": 0, "errors": 0,
                    "close_seconds": [], "bytes_back": 0} for k in GARBAGE_KINDS}
    state = {"next": 0}
    t0 = time.monotonic()

    def worker(seed):
        rng = random.Random(seed)
        while (i := _take(lock, state, a, t0)) is not None:
            kind = GARBAGE_KINDS[i % len(GARBAGE_KINDS)]
            try:
                secs, got = _garbage_one(a, kind, rng)
            except OSError:
                with lock:
                    per_kind[kind]["errors"] += 1
                continue
            with lock:
                k = per_kind[kind]
                k["sent"] += 1
                k["bytes_back"] += got
                if secs is None:
                    k["open_at_timeout"] += 1
                else:
                    k["closed"] += 1
                    k["close_seconds"].append(secs)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in per_kind.values():
        cs = sorted(k.pop("close_seconds"))
        k["close_median"] = statistics.median(cs) if cs else None
        k["close_worst"] = cs[-1] if cs else None
    _emit("done", kinds=per_kind, total=state["next"])


def _reset_one(a, tls, cut, ctx):
    """GET the large file, read `cut` bytes, then close with SO_LINGER 0: the kernel sends RST."""
    s = socket.create_connection((a.host, a.http_port if not tls else a.https_port),
                                 timeout=10)
    if tls:
        s = ctx.wrap_socket(s, server_hostname="localhost")
    got = 0
    try:
        s.sendall(f"GET {a.path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        while got < cut:
            data = s.recv(min(65536, cut - got))
            if not data:
                break
            got += len(data)
    finally:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    return got


def drive_resets(a):
    _family(a.host)
    lock = threading.Lock()
    state = {"next": 0, "done": 0, "short": 0, "errors": {}, "bytes": 0}
    t0 = time.monotonic()
    ctx = _tls_context()

    def worker(seed):
        rng = random.Random(seed)
        while (i := _take(lock, state, a, t0)) is not None:
            cut = rng.choice((0, 1, rng.randrange(1, a.max_cut)))
            try:
                got = _reset_one(a, i % 2 == 1, cut, ctx)
            except (OSError, ssl.SSLError) as e:
                with lock:
                    state["errors"][type(e).__name__] = state["errors"].get(type(e).__name__, 0) + 1
                continue
            with lock:
                state["done"] += 1
                state["bytes"] += got
                state["short"] += got < cut  # the server closed before our cut

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _emit("done", **state)


def main(argv=None):
    p = argparse.ArgumentParser(description="attack drivers for tests/hostile (loopback only)")
    sub = p.add_subparsers(dest="kind", required=True)
    o = sub.add_parser("open", help="COUNT connections held silent")
    o.add_argument("--host", default="127.0.0.1")
    o.add_argument("--port", type=int, required=True)
    o.add_argument("--count", type=int, required=True)
    o.add_argument("--concurrency", type=int, default=64)
    o.add_argument("--tls", action="store_true", help="complete a TLS handshake first")
    o.add_argument("--open-timeout", type=float, default=60)
    o.add_argument("--hold", type=float, default=60, help="at most, then close")
    g = sub.add_parser("garbage", help="non-TLS bytes to a TLS port")
    g.add_argument("--host", default="127.0.0.1")
    g.add_argument("--port", type=int, required=True)
    g.add_argument("--count", type=int, required=True)
    g.add_argument("--concurrency", type=int, default=16)
    g.add_argument("--duration", type=float, default=60)
    g.add_argument("--rate", type=float, default=0, help="connections per second (0: no pause)")
    g.add_argument("--close-timeout", type=float, default=3)
    r = sub.add_parser("resets", help="large downloads cut by RST")
    r.add_argument("--host", default="127.0.0.1")
    r.add_argument("--http-port", type=int, required=True)
    r.add_argument("--https-port", type=int, required=True)
    r.add_argument("--path", required=True)
    r.add_argument("--count", type=int, required=True)
    r.add_argument("--max-cut", type=int, required=True,
                   help="bytes read at most before the reset: less than the file's length")
    r.add_argument("--concurrency", type=int, default=16)
    r.add_argument("--duration", type=float, default=60)
    r.add_argument("--rate", type=float, default=0, help="downloads per second (0: no pause)")
    a = p.parse_args(argv)
    {"open": drive_open, "garbage": drive_garbage, "resets": drive_resets}[a.kind](a)


if __name__ == "__main__":
    main()
