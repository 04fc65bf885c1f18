#!/usr/bin/env python3
"""dropcap side by side with nginx and lighttpd, in one run, as ratios. Run it through scripts/bench.

Phase 1, per core: every server pinned to the server CPU, the clients to the client CPU. Idle RSS,
memory per idle keep-alive TLS connection, then each row on each server in turn (the order rotates
every round): HTTPS and plain HTTP 1 KiB keep-alive, HTTPS 1 MiB, full handshakes (no resumption),
resumed handshakes (session tickets), and the HTTP/2 rows when dropcap negotiates h2.
Phase 2, unpinned (when dropcap accepts --workers): dropcap with 1 and 2 workers against nginx
with 2 workers and lighttpd, as requests per server CPU-second.
mbedTLS's own ceilings (16 KiB records, ECDHE + ECDSA sign) are timed first, on the server CPU.
"""
import argparse
import datetime
import json
import os
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

LIB = os.path.dirname(os.path.abspath(__file__))
PEERS_DIR = os.path.join(LIB, "peers")
CLK_TCK = os.sysconf("SC_CLK_TCK")
WRAPPERS = {"bash", "sh", "dash", "taskset", "env", "setsid", "timeout"}

# The rows measured with wrk. "small" rows get --rounds rounds, the others --large-rounds.
WRK_ROWS = {
    "https-1k": dict(scheme="https", path="/1k.bin", conns=64, size=1024, small=True,
                     label="HTTPS 1 KiB keep-alive, 64 connections"),
    "http-1k": dict(scheme="http", path="/1k.bin", conns=64, size=1024, small=True,
                    label="plain HTTP 1 KiB keep-alive, 64 connections"),
    "https-1m": dict(scheme="https", path="/1m.bin", conns=16, size=1 << 20,
                     label="HTTPS 1 MiB keep-alive, 16 connections"),
    "https-full": dict(scheme="https", path="/1k.bin", conns=32, size=1024, close=True,
                       nosession=True, label="full TLS handshake per request (Connection: close, "
                       "the client never resumes: nosession.so), 32 connections"),
    "https-resume": dict(scheme="https", path="/1k.bin", conns=32, size=1024, close=True,
                         label="resumed TLS handshake per request (Connection: close, the client "
                         "offers its session ticket), 32 connections"),
}
# The HTTP/2 rows (h2load), run only when dropcap negotiates h2.
PAGE = (["/page/index.html"] + [f"/page/style{i}.css" for i in range(1, 6)]
        + [f"/page/app{i}.js" for i in range(1, 6)] + [f"/page/img{i}.png" for i in range(1, 21)])
H2_ROWS = {
    "h2-1k": dict(paths=["/1k.bin"], conns=10, streams=10, small=True,
                  label="HTTP/2 1 KiB, 100 concurrent streams over 10 connections (h2load -c10 -m10)"),
    "h2-page": dict(paths=PAGE, conns=10, streams=len(PAGE),
                    label=f"HTTP/2 page-load mix: a page and its {len(PAGE) - 1} assets (2-60 KiB) "
                    f"over each of 10 connections (h2load -c10 -m{len(PAGE)}); pages/s"),
}
# The multi-core rows (phase 2, unpinned): requests per server CPU-second.
MULTI_ROWS = ["https-1k", "https-full"]
ALL_ROWS = list(WRK_ROWS) + ["idle"] + list(H2_ROWS) + ["multi"]
PEERS = {
    "nginx": ["nginx.sh"],
    "lighttpd-mbedtls": ["lighttpd.sh", "mbedtls"],
    "lighttpd-openssl": ["lighttpd.sh", "openssl"],
}

WRK_REPORT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d bytes=%d duration_us=%d err_connect=%d err_read=%d err_write=%d " ..
    "err_status=%d err_timeout=%d\n",
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout))
end
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def die(msg):
    log(f"bench: {msg}")
    sys.exit(2)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


# ---------------------------------------------------------------- /proc

def proc_stat(pid):
    """(pgrp, utime+stime ticks of every thread) of a process, or None if it is gone (or a
    zombie: its time is already in nobody's group)."""
    s = read(f"/proc/{pid}/stat")
    if not s:
        return None
    fields = s[s.rfind(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[2]), int(fields[11]) + int(fields[12])


def group_pids(pgid):
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[0] == pgid:
                pids.append(int(d))
    return pids


def group_cpu_ticks(pgid):
    return sum((proc_stat(pid) or (0, 0))[1] for pid in group_pids(pgid))


def is_wrapper(pid):
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe")) in WRAPPERS
    except OSError:
        return True


def group_mem(pgid):
    """RSS and PSS (kB) summed over the server's processes, not its shell wrappers."""
    rss = pss = n = 0
    each = []  # each process's RSS, in pid order (dropcap: the server, then its upgrade helper)
    for pid in sorted(group_pids(pgid)):
        if is_wrapper(pid):
            continue
        m = re.search(r"^VmRSS:\s+(\d+)", read(f"/proc/{pid}/status") or "", re.M)
        rss += int(m.group(1)) if m else 0
        each.append(int(m.group(1)) if m else 0)
        m = re.search(r"^Pss:\s+(\d+)", read(f"/proc/{pid}/smaps_rollup") or "", re.M)
        pss += int(m.group(1)) if m else 0
        n += 1
    return dict(rss_kb=rss, pss_kb=pss, procs=n, rss_each_kb=each)


def system_busy_ticks():
    v = [int(x) for x in (read("/proc/stat") or "cpu 0 0 0 0").splitlines()[0].split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    steal = v[7] if len(v) > 7 else 0
    return sum(v[:8]) - idle - steal


def tcp_passive_opens():
    lines = [line.split() for line in (read("/proc/net/snmp") or "").splitlines()
             if line.startswith("Tcp:")]
    return int(lines[1][lines[0].index("PassiveOpens")]) if len(lines) >= 2 else 0


# ---------------------------------------------------------------- servers

class Server:
    """One server under test, in its own process group (CPU and memory are read per group)."""

    def __init__(self, name, argv, env, kind, slot, args, note=""):
        self.name, self.argv, self.env, self.kind, self.note = name, argv, env, kind, note
        self.port_http, self.port_https = args.port_base + 10 * slot, args.port_base + 10 * slot + 1
        self.rundir = os.path.join(args.out, "servers", name)
        self.proc = self.pgid = None
        self.has = {"http": False, "https": False}
        self.info = {}

    def start(self, args, pin):
        os.makedirs(self.rundir, exist_ok=True)
        os.chmod(self.rundir, 0o755)
        for port in (self.port_http, self.port_https):
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    die(f"port {port} for {self.name} is in use; choose another --port-base")
        env = dict(os.environ, PORT_HTTP=str(self.port_http), PORT_HTTPS=str(self.port_https),
                   DOCROOT=args.docroot, CERT=args.cert, KEY=args.key,
                   RUNDIR=os.path.join(self.rundir, "run"), **self.env)
        for v in ("OPENSSL_CONF", "LD_PRELOAD", "BENCH_NOSESSION", "BENCH_TLS_COUNT"):
            env.pop(v, None)
        argv = self.fill(self.argv)
        if pin:
            argv = ["taskset", "-c", args.server_cpus] + argv
        self.log_path = os.path.join(self.rundir, "server.log")
        with open(self.log_path, "w") as logf:
            self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.pgid = self.proc.pid
        self.cmd = " ".join(argv)
        log(f"  {self.name}: pid {self.pgid}, http :{self.port_http}, https :{self.port_https}")

    def restart(self, args, pin):
        self.stop()
        self.has = {"http": False, "https": False}
        self.start(args, pin)
        self.wait_ready()
        time.sleep(0.5)

    def fill(self, argv):
        return [a.format(http=self.port_http, https=self.port_https) for a in argv]

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                die(f"{self.name} exited with status {self.proc.returncode} before it was ready:\n"
                    f"{(read(self.log_path) or '')[-2000:]}")
            for scheme, port in (("http", self.port_http), ("https", self.port_https)):
                if not self.has[scheme]:
                    self.has[scheme] = fetch_ok(scheme, port, "/1k.bin", 1024)
            if all(self.has.values()):
                return
            time.sleep(0.1)
        die(f"{self.name} did not serve /1k.bin over both HTTP :{self.port_http} and HTTPS "
            f":{self.port_https} within {timeout}s; log:\n{(read(self.log_path) or '')[-2000:]}")

    def stop(self):
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.pgid, signal.SIGTERM)
        except ProcessLookupError:
            return
        for _ in range(50):
            if self.proc.poll() is not None and not group_pids(self.pgid):
                return
            time.sleep(0.1)
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def fetch_ok(scheme, port, path, size):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}{path}", timeout=2,
                                    context=ctx if scheme == "https" else None) as r:
            return r.status == 200 and len(r.read()) == size
    except Exception:  # noqa: BLE001 - not up yet
        return False


def dropcap_help(binary):
    try:
        r = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        die(f"cannot run {binary} --help: {e}")
    return r.stdout + r.stderr


def dropcap_argv(binary, workers=None):
    argv = [binary, "--root", "$DOCROOT", "--https", "127.0.0.1:{https}", "--http",
            "127.0.0.1:{http}", "--cert", "$CERT", "--key", "$KEY", "--access-log", "off"]
    return argv + (["--workers", str(workers)] if workers else [])


def expand_env(argv, args):
    subst = {"$DOCROOT": args.docroot, "$CERT": args.cert, "$KEY": args.key}
    return [subst.get(a, a) for a in argv]


def candidates(args):
    """[(name, binary, build)]: build/dropcap, and the OpenSSL build when one is given."""
    out = [("dropcap", args.dropcap, "mbedtls")]
    if args.openssl_bin:
        out.append(("dropcap-openssl", args.openssl_bin, "openssl"))
    return out


def per_core_servers(args):
    servers = []
    for name, binary, build in candidates(args):
        workers = 1 if args.workers_ok.get(name) else None
        servers.append(Server(name, expand_env(dropcap_argv(binary, workers), args), {},
                              "dropcap-" + build, len(servers), args,
                              "--workers 1" if workers else "one event loop"))
    for peer in args.peers:
        servers.append(Server(peer, ["bash", os.path.join(PEERS_DIR, PEERS[peer][0])] + PEERS[peer][1:],
                              {"WORKERS": "1"} if peer == "nginx" else {}, "peer", len(servers), args,
                              "1 worker" if peer == "nginx" else "one process"))
    return servers


def multi_core_servers(args):
    servers, slot = [], 50
    for name, binary, build in candidates(args):
        if not args.workers_ok.get(name):
            continue
        for w in (1, 2):
            servers.append(Server(f"{name}-w{w}", expand_env(dropcap_argv(binary, w), args), {},
                                  "dropcap-" + build, slot, args, f"--workers {w}"))
            slot += 1
    if not servers:
        return []
    for peer in args.peers:
        servers.append(Server(peer + ("-w2" if peer == "nginx" else ""),
                              ["bash", os.path.join(PEERS_DIR, PEERS[peer][0])] + PEERS[peer][1:],
                              {"WORKERS": "2"} if peer == "nginx" else {}, "peer", slot, args,
                              "2 workers" if peer == "nginx" else "one process"))
        slot += 1
    return servers


# ---------------------------------------------------------------- measurements

def client_env(args, extra=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "BENCH_NOSESSION", "BENCH_TLS_COUNT")}
    if args.client_conf:
        env["OPENSSL_CONF"] = args.client_conf
    env.update(extra or {})
    return env


def s_client(server, args, extra):
    try:
        return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{server.port_https}",
                               "-servername", "localhost"] + extra, input=b"", capture_output=True,
                              env=client_env(args), timeout=15).stdout.decode(errors="replace")
    except subprocess.TimeoutExpired:
        return ""


def tls_info(server, args):
    """What the server negotiates with the benchmark clients, and whether a ticket resumes."""
    sess = os.path.join(server.rundir, "session.pem")
    out = s_client(server, args, ["-sess_out", sess])
    info = {}
    m = re.search(r"^New, (\S+), Cipher is (\S+)", out, re.M)
    if m:
        info["protocol"], info["cipher"] = m.group(1), m.group(2)
    m = re.search(r"^Server Temp Key: (.+)$", out, re.M)
    info["kex"] = m.group(1).strip() if m else "?"
    info["ticket"] = "TLS session ticket:" in out
    again = s_client(server, args, ["-sess_in", sess]) if os.path.exists(sess) else ""
    info["ticket_resumes"] = info["ticket"] and bool(re.search(r"^Reused, ", again, re.M))
    return info


def h2_protocol(server, args):
    """The application protocol h2load reports against the server's HTTPS port."""
    try:
        out = subprocess.run(["h2load", "-n1", "-c1", f"https://127.0.0.1:{server.port_https}/1k.bin"],
                             capture_output=True, text=True, timeout=15, env=client_env(args)).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "none"
    m = re.search(r"^Application protocol: (\S+)", out, re.M)
    return m.group(1) if m else "none"


def idle_connections(server, args, h2=False):
    """Memory per idle keep-alive TLS connection: RSS growth with N open, divided by N."""
    before = group_mem(server.pgid)
    argv = [sys.executable, os.path.join(LIB, "idle_conns.py"), "--port", str(server.port_https),
            "-n", str(args.idle_conns), "--hold", "60"] + (["--h2"] if h2 else [])
    if args.tls == "1.2":
        argv.append("--tls12")
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=client_env(args), text=True)
    killer = threading.Timer(120, p.kill)
    killer.start()
    line = p.stdout.readline().split()
    res = dict(n=args.idle_conns, ok=0)
    if len(line) == 3 and line[0] == "READY":
        res["ok"] = int(line[1])
        time.sleep(0.5)
        during = group_mem(server.pgid)
        res.update(rss_before_kb=before["rss_kb"], rss_during_kb=during["rss_kb"],
                   pss_before_kb=before["pss_kb"], pss_during_kb=during["pss_kb"])
        if res["ok"]:
            res["kib_per_conn"] = (during["rss_kb"] - before["rss_kb"]) / res["ok"]
            res["pss_kib_per_conn"] = (during["pss_kb"] - before["pss_kb"]) / res["ok"]
    try:
        p.stdin.write("\n")
        p.stdin.flush()
    except BrokenPipeError:
        pass
    try:
        _, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    killer.cancel()
    if res["ok"] < args.idle_conns:
        res["errors"] = (err or "").strip().splitlines()[-3:]
    return res


class Load:
    """Runs one client (wrk or h2load) against one server, with the server's CPU from /proc."""

    def __init__(self, args):
        self.args = args
        self.lua = os.path.join(args.out, "wrk-report.lua")
        with open(self.lua, "w") as f:
            f.write(WRK_REPORT)
        self.raw = open(os.path.join(args.out, "client-output.txt"), "w")

    def measure(self, server, argv, env, duration):
        srv0, sys0, opens0, t0 = group_cpu_ticks(server.pgid), system_busy_ticks(), \
            tcp_passive_opens(), time.monotonic()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        killer = threading.Timer(duration + 30, p.kill)
        killer.start()
        out = p.stdout.read().decode(errors="replace")
        _, status, ru = os.wait4(p.pid, 0)
        killer.cancel()
        wall = time.monotonic() - t0
        srv = (group_cpu_ticks(server.pgid) - srv0) / CLK_TCK
        cli = ru.ru_utime + ru.ru_stime
        busy = (system_busy_ticks() - sys0) / CLK_TCK
        self.raw.write(f"### {server.name}: {' '.join(argv)}\n{out}\n")
        self.raw.flush()
        return out, os.waitstatus_to_exitcode(status), dict(
            server_cpu_s=srv, server_cpu=srv / wall, client_cpu=cli / wall,
            other_cpu=max(0.0, busy - srv - cli) / wall, new_conns=tcp_passive_opens() - opens0)

    def wrk(self, server, row, duration, threads, record=True):
        spec = WRK_ROWS[row]
        port = server.port_https if spec["scheme"] == "https" else server.port_http
        argv = ["wrk", "-t", str(threads), "-c", str(spec["conns"]), "-d", f"{duration}s",
                "--timeout", "10s", "-s", self.lua]
        extra = {}
        if spec.get("close"):
            argv += ["-H", "Connection: close"]
            count = os.path.join(self.args.out, "tls-count.txt")
            if os.path.exists(count):
                os.unlink(count)
            extra = dict(LD_PRELOAD=self.args.nosession, BENCH_TLS_COUNT=count,
                         BENCH_NOSESSION="1" if spec.get("nosession") else "0")
        argv.append(f"{spec['scheme']}://127.0.0.1:{port}{spec['path']}")
        out, code, res = self.measure(server, argv, client_env(self.args, extra), duration)
        m = re.search(r"^BENCH (.*)$", out, re.M)
        if code != 0 or not m:
            return dict(ok=False, error=f"wrk exited {code}: {out.strip()[-300:]}")
        r = {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
        dur = r["duration_us"] / 1e6
        res.update(ok=True, requests=int(r["requests"]), rps=r["requests"] / dur,
                   mbps=r["requests"] * spec["size"] / dur / 1e6,
                   errors=sum(int(v) for k, v in r.items() if k.startswith("err_")))
        if spec.get("close"):
            m = re.search(r"handshakes=(\d+) resumed=(\d+)", read(extra["BENCH_TLS_COUNT"]) or "")
            if m:
                res.update(tls_handshakes=int(m.group(1)), tls_resumed=int(m.group(2)))
        return res

    def h2load(self, server, row, duration, threads):
        spec = H2_ROWS[row]
        urls = [f"https://127.0.0.1:{server.port_https}{p}" for p in spec["paths"]]
        argv = ["h2load", "-t", str(threads), "-c", str(spec["conns"]), "-m", str(spec["streams"]),
                "-D", str(duration)] + urls
        out, code, res = self.measure(server, argv, client_env(self.args), duration)
        m = re.search(r"^finished in ([\d.]+)s, ([\d.]+) req/s", out, re.M)
        n = re.search(r"^requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, "
                      r"(\d+) errored, (\d+) timeout", out, re.M)
        proto = re.search(r"^Application protocol: (\S+)", out, re.M)
        if code != 0 or not m or not n:
            return dict(ok=False, error=f"h2load exited {code}: {out.strip()[-300:]}")
        if not proto or proto.group(1) != "h2":
            return dict(ok=False, error=f"negotiated {proto.group(1) if proto else 'nothing'}, not h2")
        rps = float(m.group(2))
        ok = int(n.group(2))
        res.update(ok=True, requests=ok, rps=rps, pages=rps / len(spec["paths"]),
                   errors=int(n.group(3)) + int(n.group(4)) + int(n.group(5)))
        return res


def mbedtls_ceilings(args):
    """mbedTLS's own ceilings, pinned to the server CPU: {test name: value}."""
    argv = [args.mbedtls_speed, "-t", str(args.speed_seconds), args.key, args.rsa_key]
    if args.pin:
        argv = ["taskset", "-c", args.server_cpus] + argv
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True).stdout
    except (OSError, subprocess.SubprocessError) as e:
        die(f"mbedtls-speed failed: {e}")
    ceil = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and not line.startswith("#"):
            ceil[parts[0]] = float(parts[1])
    return ceil


def cipher_ceiling(cipher, ceil):
    """(label, MB/s) of mbedTLS's ceiling for a negotiated TLS 1.2 suite, or None."""
    for key, label in (("CHACHA20", "chacha20-poly1305"), ("AES128-GCM", "aes-128-gcm"),
                       ("AES256-GCM", "aes-256-gcm")):
        if key in (cipher or ""):
            v = ceil.get(f"{label} encrypt 16KiB records")
            return (label, v) if v else None
    return None


def handshake_ceiling(kex, ceil):
    """(label, hs/s) of the ECDHE + ECDSA P-256 sign ceiling for the negotiated group, or None."""
    for key, label in (("X25519", "x25519"), ("prime256v1", "p-256"), ("P-256", "p-256"),
                       ("secp384r1", "p-384"), ("P-384", "p-384")):
        if key in (kex or ""):
            v = ceil.get(f"handshake ceiling ecdsa-p256 + {label}")
            return (label, v) if v else None
    return None


# ---------------------------------------------------------------- the run

class Bench:
    def __init__(self, args):
        self.args = args
        self.runs = []          # dict(phase, row, server, round, result)
        self.servers = {}       # name -> Server (both phases)
        self.notes = []
        self.live = []

    def stop_all(self):
        for s in self.live:
            s.stop()
        self.live = []

    def start(self, servers, pin):
        self.live = servers
        for s in servers:
            s.start(self.args, pin)
            self.servers[s.name] = s
        for s in servers:
            s.wait_ready()
        time.sleep(0.5)

    def rounds(self, small):
        return self.args.rounds if small else self.args.large_rounds

    def loop(self, phase, servers, rows, run_one):
        """Each row on each server in turn, the order rotating every round."""
        for rnd in range(max(self.rounds(small) for _, small in rows) if rows else 0):
            order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]
            for row, small in rows:
                if rnd >= self.rounds(small):
                    continue
                for s in order:
                    res = run_one(s, row)
                    if res is None:
                        continue
                    self.runs.append(dict(phase=phase, row=row, server=s.name, round=rnd + 1,
                                          result=res))
                    rate = f"{res['mbps']:,.0f} MB/s" if row == "https-1m" and res.get("ok") else \
                        f"{res.get('rps', 0):,.0f} req/s"
                    log(f"  {phase} round {rnd + 1} {row:12} {s.name:20} " + (
                        f"{rate}, server {res['server_cpu']:.2f} CPU, "
                        f"client {res['client_cpu']:.2f}" if res.get("ok") else
                        "FAILED " + res.get("error", "")[:200]))

    def per_core(self, load):
        a = self.args
        servers = per_core_servers(a)
        log(f"per core: servers on CPU {a.server_cpus}, clients on CPU {a.client_cpus}")
        os.sched_setaffinity(0, a.client_set)
        self.start(servers, pin=True)
        for s in servers:
            s.info["idle"] = group_mem(s.pgid)
            s.info.update(tls_info(s, a))
            s.info["alpn"] = h2_protocol(s, a) if a.have_h2load else "h2load missing"
            log(f"  {s.name}: idle {s.info['idle']['rss_kb']} kB RSS in {s.info['idle']['procs']} "
                f"processes; {s.info.get('protocol', '?')} {s.info.get('cipher', '?')} "
                f"{s.info['kex']}; ticket resumes: {s.info['ticket_resumes']}; "
                f"h2load: {s.info['alpn']}")
        h2 = [r for r in H2_ROWS if r in a.rows]
        if h2 and servers[0].info["alpn"] != "h2":
            self.notes.append(f"HTTP/2 rows skipped: dropcap does not negotiate h2 (h2load's "
                              f"application protocol: {servers[0].info['alpn']}).")
            h2 = []
        if "idle" in a.rows:
            log(f"memory per idle keep-alive TLS connection ({a.idle_conns} connections)")
            for s in servers:
                s.info["idle_conns"] = idle_connections(s, a)
                log(f"  {s.name}: {s.info['idle_conns'].get('kib_per_conn', float('nan')):.1f} KiB "
                    f"per connection ({s.info['idle_conns']['ok']}/{a.idle_conns} connected)")
        if "idle" in a.rows and h2:
            # A fresh server for the HTTP/2 figure: the memory the HTTP/1.1 connections grew
            # stays in the allocator and would hide the growth.
            log(f"memory per idle HTTP/2 connection ({a.idle_conns} connections, servers restarted)")
            for s in servers:
                if s.info["alpn"] == "h2":
                    s.restart(a, pin=True)
                    s.info["idle_conns_h2"] = idle_connections(s, a, h2=True)
                    log(f"  {s.name}: {s.info['idle_conns_h2'].get('kib_per_conn', float('nan')):.1f} "
                        f"KiB per connection ({s.info['idle_conns_h2']['ok']}/{a.idle_conns} connected)")
        log("warm-up")
        for s in servers:
            load.wrk(s, "https-1k", 1, 1, record=False)
            if "https-1m" in a.rows:
                load.wrk(s, "https-1m", 1, 1, record=False)
        rows = [(r, WRK_ROWS[r].get("small", False)) for r in WRK_ROWS if r in a.rows]
        rows += [(r, H2_ROWS[r].get("small", False)) for r in h2]

        def one(s, row):
            if row in H2_ROWS:
                if s.info["alpn"] != "h2":
                    return None
                return load.h2load(s, row, a.duration, 1)
            return load.wrk(s, row, a.duration, 1)
        self.loop("per-core", servers, rows, one)
        for s in servers:
            s.info["after"] = group_mem(s.pgid)
        self.stop_all()
        return servers

    def multi_core(self, load):
        a = self.args
        if "multi" not in a.rows:
            return []
        missing = [n for n, _, _ in candidates(a) if not a.workers_ok.get(n)]
        for n in missing:
            self.notes.append(f"Multi-core rows skipped for {n}: its binary does not accept "
                              f"--workers (no '--workers' in its --help).")
        servers = multi_core_servers(a)
        if not servers:
            return []
        log("multi-core: nothing pinned, wrk -t2")
        os.sched_setaffinity(0, a.all_cpus)
        self.start(servers, pin=False)
        for s in servers:
            load.wrk(s, "https-1k", 1, 2, record=False)
        self.loop("multi-core", servers, [(r, WRK_ROWS[r].get("small", False)) for r in MULTI_ROWS],
                  lambda s, row: load.wrk(s, row, a.duration, 2))
        self.stop_all()
        return servers


# ---------------------------------------------------------------- reporting

def fmt(v, digits=None):
    if v is None:
        return "n/a"
    if digits is not None:
        return f"{v:,.{digits}f}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.1f}"


def plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


class Report:
    def __init__(self, bench, ceil, per_core, multi):
        self.b, self.a, self.ceil = bench, bench.args, ceil
        self.per_core, self.multi = per_core, multi

    def ok_runs(self, phase, row, name):
        return [r["result"] for r in self.b.runs
                if r["phase"] == phase and r["row"] == row and r["server"] == name and r["result"].get("ok")]

    def value(self, phase, row, name, metric):
        """Median over rounds of one metric of one server on one row."""
        runs = self.ok_runs(phase, row, name)
        if metric == "per_core":  # per server core: the rate divided by the server's CPU
            key = "mbps" if row == "https-1m" else "rps"
            return med(r[key] / r["server_cpu"] for r in runs if r["server_cpu"] > 0.05)
        if metric == "cpu_us":
            return med(r["server_cpu_s"] * 1e6 / r["requests"] for r in runs if r["requests"])
        if metric == "per_cpu_s":
            return med(r["requests"] / r["server_cpu_s"] for r in runs if r["server_cpu_s"] > 0)
        return med(r[metric] for r in runs)

    def mem(self, name, key):
        s = self.b.servers.get(name)
        if not s:
            return None
        if key == "idle_rss":
            return s.info.get("idle", {}).get("rss_kb", 0) / 1024 or None
        return s.info.get(key, {}).get("kib_per_conn")

    def best_peer(self, getter, lower=False, peers=None):
        vals = [(getter(p), p) for p in (peers or self.a.peers)]
        vals = [(v, p) for v, p in vals if v is not None]
        if not vals:
            return None, None
        return (min if lower else max)(vals)

    def summary(self, cand, build):
        """One markdown table for one dropcap build: each row, the best peer, ratio, target."""
        lines = [f"| row | {cand} | best peer | ratio | target | |", "|---|---:|---|---:|---|---|"]

        def row(label, v, unit, getter, lower=False, target=None, ok=None, extra="", digits=None,
                peers=None):
            pv, pn = self.best_peer(getter, lower, peers)
            if v is None and pv is None:
                return None  # a row this run did not measure (--rows)
            ratio = v / pv if v is not None and pv else None
            verdict = "" if ok is None else ("met" if ok else "missed")
            cell = "n/a" if v is None else f"{fmt(v, digits)} {unit}{extra}"
            peer = "n/a" if pv is None else f"{pn} {fmt(pv, digits)}"
            lines.append(f"| {label} | {cell} | {peer} | {fmt(ratio, 2) + '×' if ratio else 'n/a'} | "
                         f"{target or ''} | {verdict} |")
            return ratio

        P = "per-core"
        mb = build == "mbedtls"  # issue 11's targets; the OpenSSL build has issue 13's
        s = self.b.servers.get(cand)
        info = s.info if s else {}
        v = self.value(P, "https-1k", cand, "rps")
        r = self.ratio_of(v, lambda p: self.value(P, "https-1k", p, "rps"))
        row("HTTPS 1 KiB keep-alive", v, "req/s", lambda p: self.value(P, "https-1k", p, "rps"),
            target="≥ 1.1× the best peer", ok=None if r is None else r >= 1.1)
        v = self.value(P, "http-1k", cand, "rps")
        r = self.ratio_of(v, lambda p: self.value(P, "http-1k", p, "rps"))
        row("plain HTTP 1 KiB keep-alive", v, "req/s", lambda p: self.value(P, "http-1k", p, "rps"),
            target="≥ the best peer", ok=None if r is None else r >= 1.0)
        v = self.value(P, "http-1k", cand, "cpu_us")
        r = self.ratio_of(v, lambda p: self.value(P, "http-1k", p, "cpu_us"), lower=True)
        row("server CPU per plain HTTP request (lower wins)", v, "µs",
            lambda p: self.value(P, "http-1k", p, "cpu_us"), lower=True, digits=2,
            target="the lowest", ok=None if r is None else r <= 1.0)
        nginx_ratio = lambda v, row_, m: (v / self.value(P, row_, "nginx", m)  # noqa: E731
                                          if v and "nginx" in self.a.peers and
                                          self.value(P, row_, "nginx", m) else None)
        v = self.value(P, "https-1m", cand, "per_core")
        c = cipher_ceiling(info.get("cipher"), self.ceil) if build == "mbedtls" else None
        extra = f" ({v / c[1]:.0%} of mbedTLS {c[0]} {c[1]:.0f} MB/s)" if v and c else ""
        if build == "mbedtls":
            ok = None if not (v and c) else v / c[1] >= 0.9
            target = "≥ 90% of mbedTLS's ceiling for the negotiated cipher (16 KiB records)"
        else:
            r = nginx_ratio(v, "https-1m", "per_core")
            ok, target = (None if r is None else r >= 1.0), "≥ nginx"
        row("HTTPS 1 MiB", v, "MB/s per server core", lambda p: self.value(P, "https-1m", p, "per_core"),
            target=target, ok=ok, extra=extra)
        full = v = self.value(P, "https-full", cand, "per_core")
        c = handshake_ceiling(info.get("kex"), self.ceil) if build == "mbedtls" else None
        extra = f" ({v / c[1]:.0%} of mbedTLS ECDSA P-256 + {c[0]} {c[1]:.0f}/s)" if v and c else ""
        fresh = self.ceil.get(f"handshake ceiling ecdsa-p256 + {c[0]}, fresh group") if c else None
        if v and fresh:  # the ephemeral key as mbedTLS's TLS server makes it: a new EC group
            extra = extra[:-1] + f"; {v / fresh:.0%} of the {fresh:.0f}/s it allows with a fresh " \
                "EC group per handshake, as mbedTLS's TLS server loads one)"
        if build == "mbedtls":
            ok = None if not (v and c) else v / c[1] >= 0.8
            target = "≥ 80% of mbedTLS's ECDHE + ECDSA sign ceiling"
        else:
            r = nginx_ratio(v, "https-full", "per_core")
            ok, target = (None if r is None else r >= 1.0), "≥ nginx"
        row("full handshakes", v, "hs/s per server core",
            lambda p: self.value(P, "https-full", p, "per_core"), target=target, ok=ok, extra=extra)
        v = self.value(P, "https-resume", cand, "per_core")
        x = v / full if v and full else None
        row("resumed handshakes (session tickets)", v, "hs/s per server core",
            lambda p: self.value(P, "https-resume", p, "per_core"),
            extra=f" ({x:.1f}× full)" if x else "", target=mb and "≥ 5× the full-handshake rate",
            ok=None if x is None or not mb else x >= 5)
        v = self.mem(cand, "idle_conns")
        row("memory per idle keep-alive TLS connection (lower wins)", v, "KiB",
            lambda p: self.mem(p, "idle_conns"), lower=True, target=mb and "≤ 16 KiB",
            ok=None if v is None or not mb else v <= 16)
        if any(self.mem(n, "idle_conns_h2") for n in [cand] + self.a.peers):
            v = self.mem(cand, "idle_conns_h2")
            row("memory per idle HTTP/2 connection (lower wins)", v, "KiB",
                lambda p: self.mem(p, "idle_conns_h2"), lower=True)
        v = self.mem(cand, "idle_rss")
        idle = info.get("idle", {})
        parts = ""
        if v and len(idle.get("rss_each_kb", [])) > 1:  # the server and its upgrade helper
            parts = (" (" + " + ".join(f"{k / 1024:.1f}" for k in idle["rss_each_kb"]) +
                     f": the server, its upgrade helper; PSS {idle['pss_kb'] / 1024:.1f} MiB)")
        row(f"idle RSS, {s.note if s else '1 worker'} (lower wins)", v, "MiB",
            lambda p: self.mem(p, "idle_rss"), lower=True, target=mb and "≤ 4 MiB",
            ok=None if v is None or not mb else v <= 4, digits=1, extra=parts)
        for h2row, metric, unit in (("h2-1k", "rps", "req/s"), ("h2-page", "pages", "pages/s")):
            if self.ok_runs(P, h2row, cand):
                v = self.value(P, h2row, cand, metric)
                row(H2_ROWS[h2row]["label"].split(" (")[0].split(";")[0], v, unit,
                    lambda p: self.value(P, h2row, p, metric))
        self.multi_rows(cand, row)
        return lines

    def multi_rows(self, cand, row):
        M = "multi-core"
        names = {s.name for s in self.multi}
        peers = [s.name for s in self.multi if s.kind == "peer"]
        for mrow in MULTI_ROWS:
            what = "HTTPS 1 KiB keep-alive" if mrow == "https-1k" else "full handshakes"
            for w in (1, 2):
                name = f"{cand}-w{w}"
                if name not in names:
                    continue
                v = self.value(M, mrow, name, "per_cpu_s")
                rps = self.value(M, mrow, name, "rps")
                row(f"{what}, 2 cores unpinned, --workers {w}: requests per server CPU-second", v,
                    "req/CPU-s",
                    lambda p: self.value(M, mrow, p, "per_cpu_s"), peers=peers,
                    extra=f" ({fmt(rps)} req/s)" if rps else "")

    def ratio_of(self, v, getter, lower=False):
        pv, _ = self.best_peer(getter, lower)
        return v / pv if v is not None and pv else None

    def details(self):
        lines = ["| phase | row | server | median | min-max | server CPU | client CPU | per server core "
                 "| CPU µs/req | flags |", "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
        keys = []
        for r in self.b.runs:
            k = (r["phase"], r["row"], r["server"])
            if k not in keys:
                keys.append(k)
        for phase, row, name in keys:
            allr = [r["result"] for r in self.b.runs if (r["phase"], r["row"], r["server"]) == (phase, row, name)]
            ok = [r for r in allr if r.get("ok")]
            if not ok:
                err = allr[0].get("error", "")[:100].replace("|", "/").replace("\n", " ")
                lines.append(f"| {phase} | {row} | {name} | n/a | | | | | | failed: {err} |")
                continue
            key, unit = ("mbps", "MB/s") if row == "https-1m" else \
                ("pages", "pages/s") if row == "h2-page" else ("rps", "req/s")
            vals = [r[key] for r in ok]
            m = statistics.median(vals)
            srv = med(r["server_cpu"] for r in ok)
            cli = med(r["client_cpu"] for r in ok)
            flags = []
            nerr = sum(r["errors"] for r in ok)
            if nerr:
                flags.append(f"{nerr} errors / {sum(r['requests'] for r in ok)} requests")
            if len(ok) < len(allr):
                flags.append(f"{len(allr) - len(ok)} of {len(allr)} runs failed")
            if m and (max(vals) - min(vals)) / m > 0.15:
                flags.append(f"spread {(max(vals) - min(vals)) / m:.0%}")
            ncli = 1 if phase == "per-core" else len(self.a.all_cpus)
            if cli > 0.9 * ncli and phase == "per-core" and srv < 0.9:
                flags.append("client-bound")
            if WRK_ROWS.get(row, {}).get("close"):
                if self.a.netns:
                    flags.append(f"{med(r['new_conns'] / max(1, r['requests']) for r in ok):.2f} conns/req")
                hs = sum(r.get("tls_handshakes", 0) for r in ok)
                flags.append(f"client resumed {sum(r.get('tls_resumed', 0) for r in ok)} of {hs} "
                             f"TLS sessions" if hs else "no TLS counts")
            other = med(r["other_cpu"] for r in ok)
            if other > 0.15:
                flags.append(f"other load {other:.2f} CPU")
            per_core = med(r[key] / r["server_cpu"] for r in ok if r["server_cpu"] > 0.05)
            cpu_us = med(r["server_cpu_s"] * 1e6 / r["requests"] for r in ok if r["requests"])
            lines.append(f"| {phase} | {row} | {name} | {fmt(m)} {unit} | {fmt(min(vals))}-{fmt(max(vals))} | "
                         f"{srv:.2f} | {cli:.2f} | {fmt(per_core)} | {fmt(cpu_us, 2)} | {'; '.join(flags)} |")
        return lines

    def servers_table(self):
        lines = ["| server | how | protocol | cipher | key exchange | ticket resumes | ALPN (h2load) | "
                 "idle RSS | idle PSS | procs | per idle TLS conn (RSS / PSS) |",
                 "|---|---|---|---|---|---|---|---:|---:|---:|---:|"]
        for s in self.per_core:
            i = s.info
            ic = i.get("idle_conns", {})
            per = (f"{ic['kib_per_conn']:.1f} / {ic['pss_kib_per_conn']:.1f} KiB ({ic['ok']}/{ic['n']})"
                   if "kib_per_conn" in ic else "n/a")
            lines.append(f"| {s.name} | {s.note} | {i.get('protocol', 'n/a')} | {i.get('cipher', 'n/a')} | "
                         f"{i.get('kex', 'n/a')} | {'yes' if i.get('ticket_resumes') else 'no'} | "
                         f"{i.get('alpn', 'n/a')} | {i['idle']['rss_kb'] / 1024:.1f} MiB | "
                         f"{i['idle']['pss_kb'] / 1024:.1f} MiB | "
                         f"{i['idle']['procs']} | {per} |")
        return lines


def machine_info(args):
    def first(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return ((r.stdout + r.stderr).strip().splitlines() or ["n/a"])[0]
        except (OSError, subprocess.TimeoutExpired):
            return "n/a"
    def whole(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return ", ".join(r.stdout.split("\n")).strip(", ") or "n/a"
        except (OSError, subprocess.TimeoutExpired):
            return "n/a"
    cpu = re.search(r"^model name\s*:\s*(.*)$", read("/proc/cpuinfo") or "", re.M)
    mbed = re.search(r'MBEDTLS_VERSION_STRING_FULL\s+"(.*)"', read("/usr/include/mbedtls/version.h") or "")
    return dict(cpu=cpu.group(1) if cpu else "?", ncpu=os.cpu_count(), kernel=os.uname().release,
                date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                dropcap="; ".join(f"{n}: {whole([b, '--version'])}" for n, b, _ in candidates(args)),
                nginx=first(["nginx", "-v"]),
                lighttpd=first(["lighttpd", "-v"]).split(" - ")[0], mbedtls=mbed.group(1) if mbed else "?",
                openssl=first(["openssl", "version"]), wrk=first(["wrk", "-v"]).split(" [")[0],
                h2load=first(["h2load", "--version"]))


def write_report(bench, ceil, per_core, multi, elapsed):
    a = bench.args
    rep = Report(bench, ceil, per_core, multi)
    info = machine_info(a)
    out = [f"## scripts/bench, {info['date']}", "",
           f"Command: `{a.command}` ({'quick smoke run' if a.quick else 'full run'}, "
           f"{plural(a.rounds, 'round')} for the small-file rows and {a.large_rounds} for the others, "
           f"{a.duration} s each; wall time {elapsed / 60:.1f} min).", "",
           f"Machine: {info['cpu']}, {info['ncpu']} CPUs, Linux {info['kernel']}. "
           f"{info['dropcap']}; {info['mbedtls']}; {info['nginx']}; {info['lighttpd']}; "
           f"{info['openssl']}; {info['wrk']}; {info['h2load']}.", "",
           f"Per core: every server pinned to CPU {a.server_cpus}, the clients (one thread) to CPU "
           f"{a.client_cpus}; multi-core rows unpinned (wrk -t2, the client shares the cores); "
           f"{'a private network namespace' if a.netns else 'the host network'}; clients offer "
           f"{'TLS 1.2 only (Chrome' + chr(39) + 's TLS 1.2 list)' if a.tls == '1.2' else 'what OpenSSL offers'}"
           f"{''.join(f', {v}={os.environ[v]}' for v in ('TLS_CIPHERS', 'TLS_GROUPS') if os.environ.get(v))}; "
           f"ECDSA P-256 certificate. Ratio = dropcap / the best peer of the same run.", ""]
    for name, _, build in candidates(a):
        out += [f"### {name} ({'mbedTLS' if build == 'mbedtls' else 'OpenSSL'} build)", ""]
        out += rep.summary(name, build) + [""]
    out += [f"mbedTLS ceilings (mbedtls-speed, same run, CPU {a.server_cpus}, {a.speed_seconds} s per test): "
            + "; ".join(f"{k} {v:,.0f}" for k, v in ceil.items() if "16KiB" in k or "handshake" in k), ""]
    out += bench.notes + ([""] if bench.notes else [])
    out += ["### Servers", ""] + rep.servers_table() + [""]
    out += ["### Every row, every server", ""] + rep.details() + [""]
    measured = {r["row"] for r in bench.runs}
    out += ["Rows: " + "; ".join(f"`{r}`: {s['label']}" for r, s in list(WRK_ROWS.items()) + list(H2_ROWS.items())
                                if r in measured) + ". Per server core = rate / server CPU (cores busy, "
            "utime+stime of the server's processes from /proc). CPU µs/req = server CPU time / requests. "
            f"Memory per idle connection: RSS growth with {a.idle_conns} idle keep-alive TLS connections "
            "(one full handshake and one 1 KiB request each) divided by their number.", ""]
    md = "\n".join(out)
    print(md)
    with open(os.path.join(a.out, "summary.md"), "w") as f:
        f.write(md)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(dict(machine=info, elapsed_s=elapsed, ceilings=ceil, notes=bench.notes,
                       servers={n: dict(cmd=getattr(s, "cmd", ""), note=s.note, info=s.info)
                                for n, s in bench.servers.items()},
                       runs=bench.runs), f, indent=1, default=str)
    log(f"results: {a.out}/summary.md and results.json")


# ---------------------------------------------------------------- arguments

def parse_cpus(spec):
    cpus = set()
    try:
        for part in spec.split(","):
            if "-" in part:
                lo, hi = part.split("-")
                cpus.update(range(int(lo), int(hi) + 1))
            elif part.strip():
                cpus.add(int(part))
    except ValueError:
        die(f"bad CPU list '{spec}' (want e.g. 0 or 0,1 or 0-3)")
    if not cpus:
        die(f"empty CPU list '{spec}'")
    return cpus


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="scripts/bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 round of 2 s per row, 200 idle connections (~2 min)")
    ap.add_argument("--rounds", type=int, help="rounds of the small-file rows (default 5; --quick 1)")
    ap.add_argument("--large-rounds", type=int, help="rounds of the other rows (default 3; --quick 1)")
    ap.add_argument("--duration", type=int, help="seconds per measurement (default 5; --quick 2)")
    ap.add_argument("--rows", default=",".join(ALL_ROWS), help=f"comma list of: {', '.join(ALL_ROWS)}")
    ap.add_argument("--peers", default=",".join(PEERS), help=f"comma list of: {', '.join(PEERS)}")
    ap.add_argument("--idle-conns", type=int, help="idle connections held (default 1000; --quick 200)")
    ap.add_argument("--tls", choices=["1.2", "auto"], default="1.2",
                    help="what the clients offer: TLS 1.2 only (default) or OpenSSL's default")
    ap.add_argument("--server-cpus", default="1")
    ap.add_argument("--client-cpus", default="0")
    ap.add_argument("--port-base", type=int, default=18100)
    ap.add_argument("--dropcap", help="the dropcap binary (default build/dropcap)")
    ap.add_argument("--openssl-bin", default=os.environ.get("BENCH_OPENSSL_BIN") or None,
                    help="a dropcap built with make TLS=openssl (default $BENCH_OPENSSL_BIN)")
    ap.add_argument("--out", help="results directory (default build/bench/results/DATE)")
    ap.add_argument("--self-check", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--parse-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--build", help=argparse.SUPPRESS)
    ap.add_argument("--top", help=argparse.SUPPRESS)
    ap.add_argument("--netns", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--command", default="scripts/bench", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    q = a.quick
    dflt = lambda v, quick, full: v if v is not None else (quick if q else full)  # noqa: E731
    a.rounds = dflt(a.rounds, 1, 5)
    a.large_rounds = dflt(a.large_rounds, 1, 3)
    a.duration = dflt(a.duration, 2, 5)
    a.idle_conns = dflt(a.idle_conns, 200, 1000)
    a.speed_seconds = 0.25 if q else 1
    for v, name, hi in ((a.rounds, "--rounds", 20), (a.large_rounds, "--large-rounds", 20),
                        (a.duration, "--duration", 60), (a.idle_conns, "--idle-conns", 5000)):
        if not 1 <= v <= hi:
            die(f"{name} must be between 1 and {hi}, not {v}")
    a.rows = [r.strip() for r in a.rows.split(",") if r.strip()]
    a.peers = [p.strip() for p in a.peers.split(",") if p.strip()]
    for r in a.rows:
        if r not in ALL_ROWS:
            die(f"unknown row '{r}' (known: {', '.join(ALL_ROWS)})")
    for p in a.peers:
        if p not in PEERS:
            die(f"unknown peer '{p}' (known: {', '.join(PEERS)})")
    if not a.peers:
        die("--peers needs at least one peer: ratios are taken against the best peer")
    if not 1024 <= a.port_base <= 65535 - 1000:
        die("--port-base must be between 1024 and 64535")
    a.server_set, a.client_set = parse_cpus(a.server_cpus), parse_cpus(a.client_cpus)
    return a


def finish_args(a):
    top = a.top or os.path.dirname(os.path.dirname(LIB))
    build = a.build or os.path.join(top, "build", "bench")
    a.dropcap = a.dropcap or os.path.join(top, "build", "dropcap")
    fx = os.path.join(build, "fixtures")
    a.docroot, a.cert = os.path.join(fx, "www"), os.path.join(fx, "tls", "ec.crt")
    a.key, a.rsa_key = os.path.join(fx, "tls", "ec.key"), os.path.join(fx, "tls", "rsa.key")
    a.nosession, a.mbedtls_speed = os.path.join(build, "nosession.so"), os.path.join(build, "mbedtls-speed")
    need = [a.dropcap, a.cert, a.key, a.rsa_key, a.nosession, a.mbedtls_speed,
            os.path.join(a.docroot, "1m.bin"), os.path.join(a.docroot, "page", "index.html"),
            os.path.join(LIB, "idle_conns.py"), os.path.join(LIB, "client-tls12.cnf")]
    need += [os.path.join(PEERS_DIR, PEERS[p][0]) for p in a.peers]
    if a.openssl_bin == "none":
        a.openssl_bin = None
    if a.openssl_bin:
        need.append(a.openssl_bin)
    for f in need:
        if not os.path.exists(f):
            die(f"missing {f} (scripts/bench builds and generates it; BENCH_OPENSSL_BIN must name "
                f"an existing binary)")
    a.workers_ok = {n: "--workers" in dropcap_help(b) for n, b, _ in candidates(a)}
    a.have_h2load = subprocess.run(["sh", "-c", "command -v h2load"], capture_output=True).returncode == 0
    a.all_cpus = os.sched_getaffinity(0)
    a.pin = True
    if not (a.server_set | a.client_set) <= a.all_cpus:
        die(f"--server-cpus {a.server_cpus} / --client-cpus {a.client_cpus} are not all in "
            f"{sorted(a.all_cpus)}")
    if a.server_set & a.client_set:
        log(f"warning: client and server CPUs overlap ({sorted(a.server_set & a.client_set)})")
    return build


def self_check(a):
    """Everything but load: the parts exist, the peers' configurations pass their own tests."""
    build = finish_args(a)
    for p in a.peers:
        env = dict(os.environ, CHECK_ONLY="1", PORT_HTTP="18001", PORT_HTTPS="18002",
                   DOCROOT=a.docroot, CERT=a.cert, KEY=a.key, RUNDIR=os.path.join(build, "check", p))
        prog = PEERS[p][0].split(".")[0]
        if subprocess.run(["sh", "-c", f"command -v {prog}"], capture_output=True).returncode:
            log(f"self-check: {prog} not installed, {p}'s configuration not tested "
                f"(scripts/bench installs it)")
            continue
        r = subprocess.run(["bash", os.path.join(PEERS_DIR, PEERS[p][0])] + PEERS[p][1:], env=env,
                           capture_output=True, text=True, timeout=30)
        if r.returncode:
            die(f"self-check: {p}'s generated configuration fails its test:\n{r.stdout}{r.stderr}")
        log(f"self-check: {p} configuration ok")
    ceil = mbedtls_ceilings_probe(a)
    for n, _, _ in candidates(a):
        log(f"self-check: {n} {'accepts' if a.workers_ok[n] else 'does not accept'} --workers")
    log(f"self-check: mbedtls-speed runs ({len(ceil)} figures); rows {', '.join(a.rows)}; "
        f"peers {', '.join(a.peers)}")
    print("bench: self-check passed")


def mbedtls_ceilings_probe(a):
    """mbedtls-speed with a tiny time per test: it runs and prints what the report reads."""
    a.speed_seconds, pin = 0.01, a.pin
    a.pin = False
    ceil = mbedtls_ceilings(a)
    a.pin = pin
    for k in ("chacha20-poly1305 encrypt 16KiB records", "aes-128-gcm encrypt 16KiB records",
              "handshake ceiling ecdsa-p256 + p-256", "handshake ceiling ecdsa-p256 + x25519"):
        if not ceil.get(k):
            die(f"self-check: mbedtls-speed printed no '{k}'")
    return ceil


def main():
    a = parse_args(sys.argv[1:])
    if a.parse_only:
        return
    if a.self_check:
        self_check(a)
        return
    build = finish_args(a)
    a.out = os.path.abspath(a.out or os.path.join(build, "results", time.strftime("%Y%m%d-%H%M%S")))
    os.makedirs(a.out, exist_ok=True)
    a.client_conf = None
    if a.tls == "1.2":
        conf = read(os.path.join(LIB, "client-tls12.cnf"))
        for env, key in (("TLS_CIPHERS", "CipherString"), ("TLS_GROUPS", "Groups")):
            if os.environ.get(env):
                conf = re.sub(rf"^{key} = .*$", f"{key} = {os.environ[env]}", conf, flags=re.M)
        a.client_conf = os.path.join(a.out, "client-openssl.cnf")
        with open(a.client_conf, "w") as f:
            f.write(conf)
    bench = Bench(a)

    def on_signal(signum, _frame):
        bench.stop_all()
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t0 = time.monotonic()
    try:
        log(f"mbedTLS ceilings on CPU {a.server_cpus} ({a.speed_seconds} s per test)")
        ceil = mbedtls_ceilings(a)
        load = Load(a)
        if not a.openssl_bin:
            bench.notes.append("OpenSSL build not measured: no BENCH_OPENSSL_BIN, and the Makefile "
                               "has no TLS=openssl build (build/openssl/dropcap).")
        per_core = bench.per_core(load)
        multi = bench.multi_core(load)
    finally:
        bench.stop_all()
    for n in bench.notes:
        log(n)
    write_report(bench, ceil, per_core, multi, time.monotonic() - t0)


if __name__ == "__main__":
    main()
