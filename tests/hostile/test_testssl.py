"""testssl.sh (Debian's 3.0.8) against dropcap on loopback with the ECDSA test certificate:
protocols (-p), cipher categories (-s), forward secrecy (-f), every cipher per protocol (-E),
vulnerabilities (-U) and server defaults (-S), as JSON. No DNS (--nodns none), one address
(--ip 127.0.0.1): it never leaves this machine.

It proves: nothing below TLS 1.2 is offered, TLS 1.3 is in the OpenSSL build (make TLS=openssl)
and not in the mbedTLS one; every offered suite has forward secrecy (an
ECDHE or DHE key exchange); and testssl.sh rates nothing MEDIUM, HIGH or CRITICAL, except four
findings about the test certificate itself (self-signed, valid 30 days, no CRL/OCSP URI), which
are properties of the fixture's certificate, not of the server. What remains (LOW, WARN, and the
INFO lines worth reading) is printed in the run's summary.
"""

import json
import os
import shutil
import subprocess
import time

import dropcap_fixture as dc
import hostile

# Findings about the certificate the fixture makes (openssl req -x509 -days 30), not dropcap's.
TEST_CERT_FINDINGS = {
    "cert_chain_of_trust": "the test certificate is self-signed",
    "cert_expirationStatus": "the test certificate is valid for 30 days",
    "cert_notAfter": "the test certificate is valid for 30 days",
    "cert_revocation": "the test certificate names no CRL or OCSP URI",
}
# testssl.sh's own environment, not the server: Debian's openssl has no GOST engine.
TOOL_FINDINGS = {"engine_problem"}
BAD = {"MEDIUM", "HIGH", "CRITICAL", "FATAL"}
BELOW_TLS12 = ("SSLv2", "SSLv3", "TLS1", "TLS1_1")
# INFO findings the README's summary reports.
NOTABLE_INFO = ("TLS1_3", "ALPN", "cipher_order", "cipherorder_TLSv1_2", "PFS_ECDHE_curves",
                "TLS_session_ticket", "sessionresumption_ticket", "sessionresumption_ID",
                "OCSP_stapling", "BREACH", "DNS_CAArecord")


def _run_testssl(port, json_path):
    testssl = shutil.which("testssl") or shutil.which("testssl.sh")
    assert testssl, "testssl.sh is not installed: scripts/deps.sh test installs it"
    argv = [testssl, "--quiet", "--warnings", "off", "--color", "0", "--nodns", "none",
            "--ip", "127.0.0.1", "--connect-timeout", "5", "--openssl-timeout", "10",
            "--jsonfile", json_path, "-p", "-s", "-f", "-E", "-U", "-S", f"localhost:{port}"]
    t0 = time.monotonic()
    run = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - t0
    with open(json_path) as f:
        return json.load(f), run, seconds


def test_testssl_finds_no_old_protocol_no_suite_without_fs_and_no_vulnerability(
        make_server, docroot, tls_files, tmp_path):
    port = dc.free_port()
    make_server(["--root", docroot, "--http", "off", "--https", f"127.0.0.1:{port}",
                 "--cert", tls_files.ec_cert, "--key", tls_files.ec_key, "--access-log", "off"])
    findings, run, seconds = _run_testssl(port, os.path.join(tmp_path, "testssl.json"))
    by_id = {f["id"]: f for f in findings}
    problems = []

    for proto in BELOW_TLS12:
        f = by_id.get(proto)
        if f is None or "not offered" not in f["finding"]:
            problems.append(f"{proto}: {f and f['finding']} (want: not offered)")
    if "TLS1_2" not in by_id or not by_id["TLS1_2"]["finding"].startswith("offered"):
        problems.append(f"TLS1_2: {by_id.get('TLS1_2')} (want: offered)")
    # TLS 1.3: offered by the OpenSSL build (make TLS=openssl), not by mbedTLS 2.28's
    tls13 = by_id.get("TLS1_3", {}).get("finding", "")
    if dc.tls13() != tls13.startswith("offered"):
        problems.append(f"TLS1_3: {tls13} (want: {'' if dc.tls13() else 'not '}offered, "
                        f"{dc.tls_library()} build)")

    suites = [f for f in findings if f["id"].startswith("cipher-")]
    if not suites:
        problems.append("testssl.sh listed no offered cipher suite (-E)")
    for f in suites:
        fields = f["finding"].split()  # TLS 1.2  xc02c  NAME  KEX BITS  ENC  BITS  IANA-NAME
        name, iana = fields[3], fields[-1]
        if not (name.startswith(("ECDHE-", "DHE-")) or iana.startswith("TLS_AES_")
                or iana.startswith("TLS_CHACHA20_")):
            problems.append(f"no forward secrecy: {f['finding']}")

    flagged = []
    for f in findings:
        if f["severity"] not in BAD or f["id"] in TOOL_FINDINGS:
            continue
        if f["id"] in TEST_CERT_FINDINGS:
            flagged.append(f"{f['id']} {f['severity']}: {f['finding']} "
                           f"({TEST_CERT_FINDINGS[f['id']]})")
            continue
        problems.append(f"{f['id']} {f['severity']}: {f['finding']}")

    lines = [f"testssl.sh ran {seconds:.1f} s (-p -s -f -E -U -S), exit {run.returncode}",
             "offered: " + ", ".join(f["finding"].split()[3] for f in suites)]
    lines += [f"accepted, about the test certificate: {x}" for x in flagged]
    lines += [f"{f['id']} {f['severity']}: {f['finding']}" for f in findings
              if f["severity"] in ("LOW", "WARN") or f["id"] in NOTABLE_INFO]
    hostile.REPORT.append(("testssl.sh", lines))
    assert not problems, "\n".join(problems + ["", "stdout:", run.stdout[-4000:]])
