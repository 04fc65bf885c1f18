"""The upgrade helper (upgrade.c) is a fork of the server that is never sandboxed: it must not
keep the server's TLS private key. mbedTLS keeps the EC private scalar as little-endian 64-bit
limbs, so its bytes stand reversed in memory; the test searches every readable mapping of the
helper (and, to show the search works, of the server) for them."""

import re
import subprocess

import pytest

import dropcap_fixture as dc


def private_scalar(key_file):
    """The EC private key's scalar, as the bytes that stand in mbedTLS's memory (the low 24
    bytes, reversed: robust to a leading zero byte that shortens the number)."""
    text = subprocess.run(["openssl", "pkey", "-in", key_file, "-text", "-noout"],
                          check=True, capture_output=True, text=True).stdout
    hexpart = re.search(r"priv:\s*((?:[0-9a-f]{2}:?\s*)+)", text).group(1)
    d = bytes.fromhex(re.sub(r"[^0-9a-f]", "", hexpart))
    return d[::-1][:24]


CHUNK = 1 << 20
HUGE = 1 << 30  # ASan's shadow and allocator reservations: terabytes, never the heap in use


def memory_holds(pid, needle):
    """Whether any readable mapping of pid (under 1 GiB) holds needle, read in 1 MiB chunks
    that overlap by len(needle) (root reads /proc/PID/mem of a non-dumpable process)."""
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            addr, perms = line.split()[:2]
            start, end = (int(x, 16) for x in addr.split("-"))
            if not perms.startswith("r") or "[v" in line or end - start > HUGE:
                continue
            for at in range(start, end, CHUNK):
                try:
                    mem.seek(at)
                    if needle in mem.read(min(CHUNK + len(needle), end - at)):
                        return True
                except OSError:
                    break
    return False


def test_upgrade_helper_holds_no_private_key(make_server, docroot, tls_files):
    """The server holds its key (so the search can find it); its upgrade helper, forked after
    the key was read, freed and zeroised its copy at once."""
    if not dc.is_root():
        pytest.skip("reading another process's memory needs root")
    s = make_server(["--root", docroot, "--http", "off",
                     "--https", f"127.0.0.1:{dc.free_port()}",
                     "--cert", tls_files.ec_cert, "--key", tls_files.ec_key,
                     "--access-log", "off"])
    needle = private_scalar(tls_files.ec_key)
    helpers = dc.upgrade_helpers(s.pid)
    assert len(helpers) == 1, helpers
    assert memory_holds(s.pid, needle), "the search does not find the key in the server itself"
    assert not memory_holds(helpers[0], needle), "the upgrade helper still holds the private key"
