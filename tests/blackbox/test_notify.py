"""sd_notify from the real binary, with a datagram socket of the test standing in for systemd:
READY=1 (with MAINPID= and STATUS=) arrives once dropcap answers requests, STOPPING=1 when
SIGTERM starts the drain; a path and an @abstract NOTIFY_SOCKET both work; one that cannot be
reached costs a warning, not the service. (The units under a real systemd:
tests/install/test_systemd_nspawn.py.)"""

import os
import signal
import socket
import urllib.request

import dropcap_fixture as dc


def receiver(address):
    """A bound datagram socket; address is a path or, starting with '@', an abstract name."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + address[1:] if address.startswith("@") else address)
    s.settimeout(10)
    return s


def messages(datagram):
    return dict(line.split("=", 1) for line in datagram.decode().split("\n"))


def run_and_notify(make_server, docroot, address):
    port = dc.free_port()
    rx = receiver(address)
    try:
        s = make_server(["--root", docroot, "--http", f"127.0.0.1:{port}", "--https", "off"],
                        env={"NOTIFY_SOCKET": address})
        ready = messages(rx.recv(4096))
        # READY=1 means serving: a request right now is answered
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello.txt", timeout=5) as r:
            assert r.read() == dc.DOCROOT_FILES["hello.txt"]
        s.signal(signal.SIGTERM)
        stopping = messages(rx.recv(4096))
        assert s.wait(10) == 0, s.stderr_text()
    finally:
        rx.close()
    return s, ready, stopping


def test_ready_then_stopping_on_a_path_socket(make_server, docroot, world_tmp):
    s, ready, stopping = run_and_notify(make_server, docroot, os.path.join(world_tmp, "notify"))
    assert ready == {"READY": "1", "MAINPID": str(s.pid),
                     "STATUS": f"serving {os.path.realpath(docroot)}"}
    assert stopping["STOPPING"] == "1"
    assert "warning" not in s.stderr_text()


def test_ready_on_an_abstract_socket(make_server, docroot):
    s, ready, stopping = run_and_notify(make_server, docroot, f"@dropcap-test-{os.getpid()}")
    assert ready["READY"] == "1" and ready["MAINPID"] == str(s.pid)
    assert stopping["STOPPING"] == "1"


def test_unreachable_notify_socket_warns_and_serves(make_server, docroot, world_tmp):
    port = dc.free_port()
    s = make_server(["--root", docroot, "--http", f"127.0.0.1:{port}", "--https", "off"],
                    env={"NOTIFY_SOCKET": os.path.join(world_tmp, "nobody-listens")})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello.txt", timeout=5) as r:
        assert r.read() == dc.DOCROOT_FILES["hello.txt"]
    assert s.stop() == 0
    err = s.stderr_text()
    assert err.count("NOTIFY_SOCKET=") == 1, err
    assert "connect: No such file or directory: systemd will not learn" in err, err
