"""scripts/bench is sound without running any load: its options parse, its parts are in the
repository, its C helpers compile, the peers' generated configurations pass nginx -t and
lighttpd -tt, and it depends on nothing outside the repository. (The figures themselves come
from running it; no test here times anything.)"""

import os
import re

from install_common import REPO, run

BENCH = os.path.join(REPO, "scripts", "bench")
LIB = os.path.join(REPO, "scripts", "benchlib")


def bench(*args, timeout=180):
    return run([BENCH, *args], timeout=timeout, cwd=REPO)


def test_self_check_compiles_the_helpers_and_tests_the_peer_configurations():
    r = bench("--self-check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "bench: self-check passed" in r.stdout
    assert "mbedtls-speed runs" in r.stderr, r.stderr
    for tool, peer in (("nginx", "nginx"), ("lighttpd", "lighttpd-mbedtls")):
        if run(["sh", "-c", f"command -v {tool}"]).returncode == 0:
            assert f"{peer} configuration ok" in r.stderr, r.stderr
    # --workers detection is reported either way (the option may or may not exist yet).
    assert re.search(r"dropcap (accepts|does not accept) --workers", r.stderr), r.stderr


def test_quick_self_check_with_a_row_subset_parses():
    r = bench("--self-check", "--quick", "--rows", "https-1k,idle", "--peers", "nginx")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "rows https-1k, idle; peers nginx" in r.stderr, r.stderr


def test_bad_options_are_refused_before_anything_is_installed_or_built():
    for args, message in ((["--rows", "https-2k"], "unknown row 'https-2k'"),
                          (["--peers", "apache"], "unknown peer 'apache'"),
                          (["--duration", "0"], "--duration must be between 1 and 60"),
                          (["--rounds", "100"], "--rounds must be between 1 and 20"),
                          (["--no-such-option"], "unrecognized arguments")):
        r = bench(*args, timeout=30)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert message in r.stderr, (args, r.stderr)
        assert "installing" not in r.stderr


def test_help_names_the_run_modes():
    r = bench("--help", timeout=30)
    assert r.returncode == 0, r.stderr
    for word in ("--quick", "--self-check", "BENCH_OPENSSL_BIN", "--rows", "--peers"):
        assert word in r.stdout, word


def test_the_bench_needs_nothing_outside_the_repository():
    files = [BENCH] + [os.path.join(root, f) for root, _, fs in os.walk(LIB) for f in fs
                       if not f.endswith(".pyc")]
    for path in files:
        with open(path, errors="replace") as f:
            text = f.read()
        for outside in ("shared/bench", "/work/", "BENCH_HARNESS"):
            assert outside not in text, f"{os.path.relpath(path, REPO)} refers to {outside}"


def test_a_run_without_root_says_why_and_starts_nothing():
    if os.geteuid() != 0:
        r = bench("--quick", timeout=30)
    else:
        r = run(["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", BENCH,
                 "--quick"], timeout=30, cwd=REPO)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "run as root" in r.stderr and "network namespace" in r.stderr, r.stderr
