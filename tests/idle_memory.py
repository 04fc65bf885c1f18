"""idle_memory — what an idle keep-alive connection costs the server, in RSS (issue 11).

measure_idle(pid, host, port, n) opens n connections, makes one keep-alive request on each and
reads the whole response, so that the server holds n real idle keep-alive clients; it returns
the server's VmRSS before and after, and keeps the connections open for the caller (close them
with close_all). tests/blackbox/test_idle_memory.py asserts a bound with it.

Run as a script, it starts build/dropcap (or --bin) with one ECDSA P-256 certificate on
loopback and prints the figures the README's table quotes:

    /usr/bin/python3 tests/idle_memory.py [--bin build/dropcap] [-n 1000] [--plain]

  idle RSS        the server's VmRSS after it has served one request and gone idle
  per connection  (VmRSS with n idle connections - idle RSS) / n
"""

import argparse
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dropcap_fixture as dc  # noqa: E402

ONE_KIB = "1k.bin"


def rss_kib(pid):
    return int(dc.proc_status(pid)["VmRSS"].split()[0])


def add_1k(root):
    """Puts the 1 KiB file the measurement requests (as the benchmark's) into root."""
    path = os.path.join(root, ONE_KIB)
    with open(path, "wb") as f:
        f.write(bytes(range(256)) * 4)
    os.chmod(path, 0o644)
    return "/" + ONE_KIB


def open_idle(host, port, n, *, tls=True, path="/" + ONE_KIB):
    """n connections, each after one complete keep-alive request (200, whole body read)."""
    ctx = dc.client_context() if tls else None
    conns = []
    try:
        for _ in range(n):
            c = dc.HttpConn(host, port, tls=tls, context=ctx, timeout=20)
            conns.append(c)
            r = c.request("GET", path)
            if r.status != 200:
                raise AssertionError(f"GET {path}: {r.status}")
    except BaseException:
        close_all(conns)
        raise
    return conns


def close_all(conns):
    for c in conns:
        try:
            c.sock.close()
        except OSError:
            pass


def settle(pid, seconds=0.3):
    """VmRSS once the server has processed what it was sent (it has no work queued then)."""
    time.sleep(seconds)
    return rss_kib(pid)


def measure_idle(pid, host, port, n, *, tls=True, path="/" + ONE_KIB):
    """(rss_before, rss_after, conns): VmRSS in KiB around opening n idle connections."""
    before = settle(pid)
    conns = open_idle(host, port, n, tls=tls, path=path)
    return before, settle(pid), conns


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(dc.REPO, "build", "dropcap"))
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--plain", action="store_true", help="plain HTTP instead of TLS")
    args = ap.parse_args()
    tmp = dc.world_tmpdir("dropcap-idlemem-")
    root = dc.make_docroot(tmp)
    path = add_1k(root)
    tls = dc.make_tls_files(os.path.join(tmp, "tls"))
    port = dc.free_port()
    listen = ["--https", f"127.0.0.1:{port}", "--http", "off"]
    if args.plain:
        listen = ["--http", f"127.0.0.1:{port}", "--https", "off"]
    with dc.Server(["--root", root, *listen, "--cert", tls.ec_cert, "--key", tls.ec_key,
                    "--access-log", "off"], binary=args.bin) as s:
        close_all(open_idle("127.0.0.1", port, 1, tls=not args.plain, path=path))
        idle = settle(s.pid, 1.0)
        before, after, conns = measure_idle(s.pid, "127.0.0.1", port, args.n,
                                            tls=not args.plain, path=path)
        close_all(conns)
    print(f"idle RSS after one request: {idle} KiB ({idle / 1024:.2f} MiB)")
    print(f"{args.n} idle {'HTTP' if args.plain else 'TLS'} connections: RSS {before} -> "
          f"{after} KiB, {(after - before) / args.n:.1f} KiB per connection")


if __name__ == "__main__":
    main()
