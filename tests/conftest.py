"""Shared pytest fixtures for every suite; the machinery lives in dropcap_fixture.py.

Fixtures:
  dropcap_bin   (session)  path of the binary; skips the test when it has not been built.
  tls_files     (session)  dropcap_fixture.TlsFiles: EC P-256 and RSA-2048 certs, world-readable.
  docroot       (session)  path of the shared world-readable test site (do not modify it; build
                           your own with dropcap_fixture.make_docroot(world_tmpdir()) if you must).
  unpriv_user   (session)  (name, uid, gid) of the system user dropcap-test (root only).
  world_tmp     (function) a fresh 0755 directory under /tmp, removed afterwards.
  need_root     (function) skips the test unless running as root.
  netns         (function) a fresh dropcap_fixture.Netns (root only), deleted afterwards.
  workers       (function) None, or N: make_server adds --workers N (parametrize it to run a
                           test with several counts).
  make_server   (function) factory: make_server(args, **Server kwargs) -> started Server; at
                           teardown every server still running gets SIGTERM and must exit 0
                           without a sanitizer report.
  site          (module)   a running server on the shared docroot: .http_port, .https_port,
                           .host ('127.0.0.1'), .root, .tls (TlsFiles), .server (Server).
  proto         (function) each of dropcap_fixture.PROTOCOLS ("http/1.1", "h2") in turn: a test
                           asking for it runs over both (dropcap_fixture.client, OverProtocol).
"""

import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dropcap_fixture as dc  # noqa: E402


def _need_binary():
    if not os.path.exists(dc.BIN):
        pytest.skip(f"{dc.BIN} not built (run make)")
    return dc.BIN


def _need_root():
    if not dc.is_root():
        pytest.skip("needs root (network namespaces, users, setcap, setpriv)")


@pytest.fixture(scope="session")
def dropcap_bin():
    return _need_binary()


@pytest.fixture(scope="session")
def tls_files():
    return dc.make_tls_files(os.path.join(dc.world_tmpdir("dropcap-tls-"), "tls"))


@pytest.fixture(scope="session")
def docroot():
    return dc.make_docroot(dc.world_tmpdir("dropcap-root-"))


@pytest.fixture(scope="session")
def unpriv_user():
    _need_root()
    return dc.ensure_user("dropcap-test")


@pytest.fixture
def world_tmp():
    d = dc.world_tmpdir("dropcap-tmp-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=dc.PROTOCOLS)
def proto(request):
    return request.param


@pytest.fixture
def need_root():
    _need_root()


@pytest.fixture
def netns():
    _need_root()
    with dc.Netns() as ns:
        yield ns


def _check_stopped(servers):
    problems = dc.stop_and_check(servers)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def workers():
    """--workers for make_server's servers; None: the default (one per CPU). A test or module
    runs with several counts by parametrizing it: @pytest.mark.parametrize("workers", [1, 2])."""
    return None


@pytest.fixture
def make_server(dropcap_bin, workers):
    servers = []

    def factory(args, **kw):
        # with --config, every option comes from the file: a test writes `workers = N` there
        if workers is not None and "--config" not in args:
            args = list(args) + ["--workers", str(workers)]
        s = dc.Server(args, **kw)
        servers.append(s)
        return s.start()

    yield factory
    _check_stopped(servers)


class Site:
    host = "127.0.0.1"

    def __init__(self, root, tls, http_port, https_port, server):
        self.root = root
        self.tls = tls
        self.http_port = http_port
        self.https_port = https_port
        self.server = server

    def url(self, path="/", tls=False):
        if tls:
            return f"https://localhost:{self.https_port}{path}"
        return f"http://{self.host}:{self.http_port}{path}"


@pytest.fixture(scope="module")
def site(dropcap_bin, docroot, tls_files):
    http_port = dc.free_port()
    https_port = dc.free_port()
    s = dc.Server(["--root", docroot, "--http", f"127.0.0.1:{http_port}",
                   "--https", f"127.0.0.1:{https_port}",
                   "--cert", tls_files.ec_cert, "--key", tls_files.ec_key])
    s.start()
    yield Site(docroot, tls_files, http_port, https_port, s)
    _check_stopped([s])
