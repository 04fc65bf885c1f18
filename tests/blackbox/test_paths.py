"""Nothing outside --root is ever served: traversal, encodings, symlinks; dotfiles; 403.

The tests on the shared site run over HTTP/1.1 and over h2 (the site fixture below): the
request target (:path in h2) goes through the same path rules."""

import os
import shutil
import subprocess
import time

import pytest

import dropcap_fixture as dc

SECRET = dc.OUTSIDE_SECRET


@pytest.fixture(params=dc.PROTOCOLS)
def site(request, site):
    """Each test runs over HTTP/1.1 (plain) and over HTTP/2 (TLS, ALPN h2)."""
    return dc.OverProtocol(site, request.param)


def raw_get(site, target):
    """GET with the target sent as is: the request line's target, or h2's :path."""
    with site.connect() as c:
        return c.request("GET", target)


def assert_not_leaked(r):
    assert SECRET not in r.body
    assert b"root:x:0:0" not in r.body
    assert b"[core]" not in r.body
    assert b"dotfile secret" not in r.body


@pytest.mark.parametrize("target", [
    "/../outside/secret.txt",
    "/../../../../../../etc/passwd",
    "/sub/../../outside/secret.txt",
    "/%2e%2e/outside/secret.txt",
    "/%2E%2E/outside/secret.txt",
    "/.%2e/outside/secret.txt",
    "/%2e./outside/secret.txt",
    "/..%2foutside%2fsecret.txt",
    "/..%2Foutside%2Fsecret.txt",
    "/sub%2f..%2f..%2foutside%2fsecret.txt",
    "/%2f..%2f..%2fetc%2fpasswd",
    "/sub/..%2f..%2foutside/secret.txt",
    "http://x/../outside/secret.txt",
])
def test_traversal_is_400(site, target):
    if site.proto == "h2" and not target.startswith("/"):
        # h2 has no absolute-form: a :path not starting with "/" is malformed (RFC 9113
        # 8.3.1) and nghttp2 resets the stream before dropcap sees it
        with pytest.raises(AssertionError, match="reset: .*PROTOCOL_ERROR"):
            raw_get(site, target)
        return
    r = raw_get(site, target)
    assert r.status == 400, (target, r.status)
    assert_not_leaked(r)


@pytest.mark.parametrize("target", [
    "/..%5coutside%5csecret.txt",       # backslash is an ordinary byte on Linux
    "/%252e%252e/outside/secret.txt",   # double encoding decodes once only
    "/....//outside/secret.txt",
    "/%c0%ae%c0%ae/outside/secret.txt",  # overlong UTF-8
    "/sub/./../..;/outside/secret.txt",
])
def test_traversal_variants_not_served(site, target):
    r = raw_get(site, target)
    assert r.status in (400, 403, 404), (target, r.status)
    assert_not_leaked(r)


@pytest.mark.parametrize("target", ["/hello.txt%00", "/hello.txt%00.html", "/%00", "/a%00/b"])
def test_encoded_nul_400(site, target):
    r = raw_get(site, target)
    assert r.status == 400


@pytest.mark.parametrize("target", ["/hello%zz", "/hello%", "/hello%4", "/x#frag"])
def test_bad_escapes_400(site, target):
    assert raw_get(site, target).status == 400


def test_curl_path_as_is(site):
    out = subprocess.run(["curl", "-sS", *site.curl_args, "--path-as-is", "--max-time", "5",
                          "-o", "/dev/null",
                          "-w", "%{http_code}", site.url("/../../outside/secret.txt")],
                         capture_output=True, timeout=10)
    assert out.stdout == b"400"


def test_dot_segments_inside_root_resolve(site):
    r = raw_get(site, "/sub/../hello.txt")
    assert r.status == 200 and r.body == dc.DOCROOT_FILES["hello.txt"]
    r = raw_get(site, "/sub/%2e%2e/hello.txt")
    assert r.status == 200 and r.body == dc.DOCROOT_FILES["hello.txt"]
    r = raw_get(site, "/./sub/./page.html")
    assert r.status == 200 and r.body == dc.DOCROOT_FILES["sub/page.html"]
    r = raw_get(site, "//sub//page.html")
    assert r.status == 200 and r.body == dc.DOCROOT_FILES["sub/page.html"]


# --- symlinks ----------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["/link-out.txt", "/link-out-rel.txt", "/link-out-dir/secret.txt",
                                    "/link-passwd", "/link-out-dir/"])
def test_symlink_out_of_root_not_served(site, target):
    r = raw_get(site, target)
    assert r.status in (403, 404), (target, r.status)
    assert_not_leaked(r)


def test_symlink_out_of_root_not_redirected(site):
    r = raw_get(site, "/link-out-dir")
    assert r.status in (403, 404)


def test_symlink_inside_root_served(site):
    r = raw_get(site, "/link-in.txt")
    assert r.status == 200 and r.body == dc.DOCROOT_FILES["hello.txt"]
    r = raw_get(site, "/sub/link-up.txt")
    assert r.status == 200 and r.body == dc.DOCROOT_FILES["hello.txt"]


def test_root_itself_may_be_a_symlink(make_server, world_tmp):
    site_dir = dc.make_docroot(world_tmp)
    link = os.path.join(world_tmp, "current")
    os.symlink(site_dir, link)
    port = dc.free_port()
    make_server(["--root", link, "--http", f"127.0.0.1:{port}", "--https", "off"])
    with dc.HttpConn("127.0.0.1", port) as c:
        r = c.request("GET", "/hello.txt")
        assert r.status == 200 and r.body == dc.DOCROOT_FILES["hello.txt"]
        r = c.request("GET", "/link-out.txt")
        assert r.status in (403, 404) and SECRET not in r.body


def test_symlink_swapped_after_start(make_server, world_tmp):
    """A file replaced by a symlink to the outside while the server runs is still refused."""
    root = dc.make_docroot(world_tmp)
    port = dc.free_port()
    make_server(["--root", root, "--http", f"127.0.0.1:{port}", "--https", "off"])
    path = os.path.join(root, "notes.txt")
    with dc.HttpConn("127.0.0.1", port) as c:
        assert c.request("GET", "/notes.txt").status == 200
        os.unlink(path)
        os.symlink(os.path.join(world_tmp, "outside", "secret.txt"), path)
        r = c.request("GET", "/notes.txt")
        assert r.status in (403, 404) and SECRET not in r.body


# --- dotfiles ----------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["/.secret", "/.git/config", "/.git/", "/.git", "/sub/.hidden",
                                    "/%2esecret", "/%2Egit/config", "/.well-known/../.secret",
                                    "/sub/.well-known/x", "/.nonexistent"])
def test_dotfiles_404(site, target):
    r = raw_get(site, target)
    assert r.status == 404, (target, r.status)
    assert_not_leaked(r)


@pytest.mark.parametrize("target,name", [
    ("/.well-known/x", ".well-known/x"),
    ("/.well-known/security.txt", ".well-known/security.txt"),
    ("/.well-known/acme-challenge/token123", ".well-known/acme-challenge/token123"),
    ("/%2ewell-known/x", ".well-known/x"),
])
def test_well_known_served(site, target, name):
    r = raw_get(site, target)
    assert r.status == 200 and r.body == dc.DOCROOT_FILES[name]


def test_security_txt_is_text(site):
    r = raw_get(site, "/.well-known/security.txt")
    assert r.header("Content-Type") == "text/plain; charset=utf-8"


# --- unreadable files: 403, never 500 --------------------------------------------------------

@pytest.fixture
def locked_site(make_server, world_tmp, request, tls_files, proto):
    """A private docroot with unreadable entries; the server runs as an unprivileged user
    (root reads anything), or as the caller when the tests do not run as root. Yields a
    connect() for each of HTTP/1.1 and h2 (proto)."""
    root = dc.make_docroot(world_tmp)
    os.chmod(os.path.join(root, "hello.txt"), 0o000)
    os.makedirs(os.path.join(root, "locked"))
    with open(os.path.join(root, "locked", "file.txt"), "w") as f:
        f.write("locked\n")
    os.chmod(os.path.join(root, "locked"), 0o000)
    os.makedirs(os.path.join(root, "noread"))
    with open(os.path.join(root, "noread", "index.html"), "w") as f:
        f.write("no read\n")
    os.chmod(os.path.join(root, "noread", "index.html"), 0o000)
    user = request.getfixturevalue("unpriv_user") if dc.is_root() else None
    http_port, https_port = dc.free_port(), dc.free_port()
    make_server(["--root", root, "--http", f"127.0.0.1:{http_port}",
                 "--https", f"127.0.0.1:{https_port}", "--cert", tls_files.ec_cert,
                 "--key", tls_files.ec_key], user=user)
    yield lambda: dc.client(proto, "127.0.0.1", http_port, https_port)
    for d in ("locked",):
        os.chmod(os.path.join(root, d), 0o755)


@pytest.mark.parametrize("target", ["/hello.txt", "/locked/file.txt", "/noread/", "/noread/index.html"])
def test_unreadable_403(locked_site, target):
    with locked_site() as c:
        r = c.request("GET", target)
        assert r.status == 403, (target, r.status)
        r = c.request("HEAD", target)
        assert r.status == 403
        r = c.request("GET", "/notes.txt")  # the connection survives a 403
        assert r.status == 200


def test_unreadable_directory_redirect_or_403(locked_site):
    with locked_site() as c:
        r = c.request("GET", "/locked/")
        assert r.status in (403, 404)
        assert r.status != 500


def test_special_files_not_served(make_server, world_tmp):
    root = dc.make_docroot(world_tmp)
    fifo = os.path.join(root, "fifo")
    os.mkfifo(fifo)
    os.chmod(fifo, 0o644)
    port = dc.free_port()
    make_server(["--root", root, "--http", f"127.0.0.1:{port}", "--https", "off"])
    with dc.HttpConn("127.0.0.1", port, timeout=5) as c:
        r = c.request("GET", "/fifo")  # must not block the server on open()
        assert r.status in (403, 404)
    with dc.HttpConn("127.0.0.1", port) as c:
        assert c.request("GET", "/hello.txt").status == 200


def test_root_removed_while_running(make_server, world_tmp):
    root = dc.make_docroot(world_tmp)
    port = dc.free_port()
    make_server(["--root", root, "--http", f"127.0.0.1:{port}", "--https", "off"])
    shutil.rmtree(os.path.join(root, "sub"))
    with dc.HttpConn("127.0.0.1", port) as c:
        assert c.request("GET", "/sub/page.html").status == 404
        assert c.request("GET", "/hello.txt").status == 200


# --- dotfiles reached through symlinks (issue 8, finding 6) -------------------------------------

@pytest.fixture
def dotlink_site(make_server, world_tmp, tls_files, proto):
    """A site whose ordinary-looking names are symlinks to hidden files and directories, seen
    over each of HTTP/1.1 and h2 (proto)."""
    root = dc.make_docroot(world_tmp)
    links = {
        "gitlink": ".git/config",             # to a file in a dot directory
        "gitdir": ".git",                     # to a dot directory
        "secretlink": ".secret",              # to a dotfile
        "sub/hiddenlink": ".hidden",          # to a dotfile in a subdirectory
        "uplink": "sub/.hidden",              # through a normal directory into a dotfile
        "wk-file": ".well-known/security.txt",  # into .well-known: allowed
        "wk-dir": ".well-known",              # to .well-known itself: allowed
        "plain-link": "notes.txt",            # an ordinary symlink: still served
        "dir-link": "sub",                    # a symlinked directory: still served
        "escape": "../outside/secret.txt",    # out of the root: still refused
    }
    for rel, target in links.items():
        os.symlink(target, os.path.join(root, rel))
    http_port, https_port = dc.free_port(), dc.free_port()
    make_server(["--root", root, "--http", f"127.0.0.1:{http_port}",
                 "--https", f"127.0.0.1:{https_port}", "--cert", tls_files.ec_cert,
                 "--key", tls_files.ec_key])
    return root, lambda: dc.client(proto, "127.0.0.1", http_port, https_port)


def get(connect, target, headers=None):
    with connect() as c:
        return c.request("GET", target, headers=headers)


@pytest.mark.parametrize("target", ["/gitlink", "/gitdir/config", "/gitdir/", "/gitdir",
                                    "/secretlink", "/sub/hiddenlink", "/uplink",
                                    "/dir-link/.hidden"])
def test_symlink_to_dotfile_404(dotlink_site, target):
    """The dotfile rule applies to what is opened: before the fix /gitlink (-> .git/config)
    was served with 200 while /.git/config was 404."""
    _, connect = dotlink_site
    r = get(connect, target)
    assert r.status == 404, (target, r.status, r.body[:40])
    assert_not_leaked(r)
    assert b"hidden in sub" not in r.body


@pytest.mark.parametrize("target,body", [
    ("/wk-file", dc.DOCROOT_FILES[".well-known/security.txt"]),
    ("/wk-dir/x", dc.DOCROOT_FILES[".well-known/x"]),
    ("/wk-dir/acme-challenge/token123", dc.DOCROOT_FILES[".well-known/acme-challenge/token123"]),
    ("/plain-link", dc.DOCROOT_FILES["notes.txt"]),
    ("/dir-link/page.html", dc.DOCROOT_FILES["sub/page.html"]),
    ("/dir-link/", dc.DOCROOT_FILES["sub/index.html"]),
])
def test_symlink_to_allowed_file_served(dotlink_site, target, body):
    """Symlinks into .well-known and to ordinary files inside the root are still served."""
    _, connect = dotlink_site
    r = get(connect, target)
    assert r.status == 200 and r.body == body, (target, r.status)


def test_symlink_out_of_root_still_refused(dotlink_site):
    _, connect = dotlink_site
    r = get(connect, "/escape")
    assert r.status in (403, 404)
    assert_not_leaked(r)


# A precompressed variant that is a symlink to a dotfile: test_variants.py.


def test_cached_file_replaced_by_dotfile_symlink(dotlink_site):
    """The open-file cache cannot bypass the rule: a served (cached) file replaced by a
    symlink to a dotfile serves the old file until the entry is re-checked, then 404."""
    root, connect = dotlink_site
    path = os.path.join(root, "hello.txt")
    with connect() as c:
        assert c.request("GET", "/hello.txt").status == 200  # now in the cache
        os.unlink(path)
        os.symlink(".git/config", path)
        deadline = time.monotonic() + 3
        while True:
            r = c.request("GET", "/hello.txt")
            assert b"[core]" not in r.body
            if r.status == 404:
                break
            assert r.status == 200 and r.body == dc.DOCROOT_FILES["hello.txt"]
            assert time.monotonic() < deadline, "the cached entry was never re-checked"
            time.sleep(0.2)
