"""Fixtures of tests/hostile: the attacked site, and the table of measured figures printed at the
end of the run (one row per scenario: what the normal client saw, the server's RSS and exit)."""

import os
import resource

import pytest

import dropcap_fixture as dc
import hostile

LARGE_SIZE = 8 << 20  # larger than any socket buffer here: slow reads and resets hit mid-body
PROBE_BODY = bytes(range(256)) * 16  # 4 KiB: what the normal client fetches


@pytest.fixture(scope="session")
def scale():
    """The run's sizes. Raises this process's soft RLIMIT_NOFILE to its hard limit first: the
    attackers (slowhttptest, the drivers) inherit it and hold thousands of sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    s = hostile.Scale.current()
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    need = max(s.slow_headers, s.idle_tls, s.silent) + 200
    if hard < need:
        pytest.fail(f"RLIMIT_NOFILE hard limit {hard}: the attackers need {need} (ulimit -Hn)")
    return s


@pytest.fixture(scope="module")
def attacked_root():
    """The shared test site plus /large.bin (8 MiB) and /probe.bin (the normal client's file)."""
    root = dc.make_docroot(dc.world_tmpdir("dropcap-hostile-"))
    for name, data in (("large.bin", os.urandom(LARGE_SIZE)), ("probe.bin", PROBE_BODY)):
        path = os.path.join(root, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
    return root


class Target:
    """One dropcap under attack on loopback: ports, server, and the normal client's file."""

    host = "127.0.0.1"
    probe_path = "/probe.bin"
    probe_body = PROBE_BODY
    large_path = "/large.bin"
    large_size = LARGE_SIZE

    def __init__(self, server, http_port, https_port):
        self.server = server
        self.http_port = http_port
        self.https_port = https_port
        self.ports = {"http": http_port, "https": https_port}


@pytest.fixture
def target(make_server, attacked_root, tls_files, world_tmp):
    """factory: target(extra_args=(), access_log=False, user=None) -> a started Target. The
    server's access log is off, or a file under world_tmp: never an unread pipe (stdout and
    stderr are drained by the fixture's reader threads anyway). The head timeout is 60 s so
    that an attack's connections stay open for the whole measured window (with the default
    10 s the server would shed slow-header and silent connections sooner)."""

    def start(extra_args=(), access_log=False, user=None):
        http_port, https_port = dc.free_port(), dc.free_port()
        log = "off"
        if access_log:
            log = os.path.join(dc.log_dir_for_run_user(world_tmp, user), "access.log")
        server = make_server(["--root", attacked_root,
                              "--http", f"127.0.0.1:{http_port}",
                              "--https", f"127.0.0.1:{https_port}",
                              "--cert", tls_files.ec_cert, "--key", tls_files.ec_key,
                              "--access-log", log, "--header-timeout", "60"]
                             + list(extra_args), stdout=None, user=user)
        return Target(server, http_port, https_port)

    return start


def _fmt_ms(v):
    if v is None:
        return "-"
    if v == float("inf"):
        return "fail"
    return f"{v * 1000:.1f}"


def _fmt_mib(kib):
    return "-" if kib is None else f"{kib / 1024:.1f}"


def pytest_terminal_summary(terminalreporter):
    tr = terminalreporter
    for title, lines in hostile.REPORT:
        tr.section(title)
        for line in lines:
            tr.write_line(line)
    if not hostile.RESULTS:
        return
    mode = "full (DROPCAP_STRESS=1)" if hostile.Scale.current().full else "short"
    tr.section(f"hostile clients, {mode}: the normal client's latency (ms), the server's RSS "
               "(MiB)")
    head = ("scenario", "attack held", "probes", "median", "worst", "gap", "after: median", "worst",
            "RSS before", "peak", "bound", "after", "SIGTERM exit")
    rows = [head]
    for r in hostile.RESULTS:
        rows.append((r["name"], r["held"], str(r["probes"]), _fmt_ms(r["median"]),
                     _fmt_ms(r["worst"]), _fmt_ms(r["gap"]), _fmt_ms(r["after_median"]),
                     _fmt_ms(r["after_worst"]),
                     _fmt_mib(r["rss_before"]), _fmt_mib(r["rss_peak"]),
                     _fmt_mib(r["rss_bound"]), _fmt_mib(r["rss_after"]),
                     f"{r['rc']} in {r['stop_seconds'] * 1000:.0f} ms"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    for row in rows:
        tr.write_line("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    tr.write_line("median/worst/gap: the normal client's fetches while the attack held (gap: the "
                  "longest time without a completed fetch); after: once it stopped; RSS bound: "
                  "before + N x per-connection cost + 16 MiB; RSS after: once the pools are "
                  "trimmed")
    for r in hostile.RESULTS:
        for note in r.get("notes", []):
            tr.write_line(f"{r['name']}: {note}")
