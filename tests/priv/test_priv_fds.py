"""Inherited descriptors do not survive the privilege drop (review finding 4): a parent that
leaves a root-only file open (no O_CLOEXEC) must not hand it to the serving process. dropcap
keeps only the standard streams, the listening sockets it uses (--listen-fd, LISTEN_FDS) and what
it opened itself; /proc/PID/fd is read back to prove it.
"""

import os
import socket

import dropcap_fixture as dc

SECRET = b"root only: must not stay readable after the drop\n"


def root_only_file(tmp):
    """A 0600 root-owned file, opened inheritable (as a careless parent would), above fd 10."""
    path = os.path.join(tmp, "root-only.key")
    with open(path, "wb") as f:
        f.write(SECRET)
    os.chmod(path, 0o600)
    fd = os.open(path, os.O_RDONLY)  # Python opens non-inheritable: pass_fds makes it survive
    high = os.dup2(fd, 40, inheritable=True)
    os.close(fd)
    return path, high


def fd_table(pid):
    """{fd: readlink target} of a running process."""
    out = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
        except FileNotFoundError:
            pass
    return out


def assert_only_expected(table, root, secret_path, secret_fd, listen_fds=()):
    assert secret_path not in table.values(), table
    assert table.get(secret_fd) != secret_path, table
    for fd in listen_fds:
        assert table.get(fd, "").startswith("socket:"), (fd, table)
    for fd, target in table.items():
        if fd in (0, 1, 2):
            continue
        # sockets (listeners, clients), libev's epoll/eventfd/signalfd, the site root (O_PATH)
        # and files beneath it (the open-file cache), stdout's and stderr's pipes reopened
        # non-blocking (log output)
        assert (target.startswith(("socket:", "anon_inode:")) or target == root
                or target.startswith(root + "/") or target in (table[1], table[2])), (fd, target)


def get_hello(port):
    with dc.HttpConn("127.0.0.1", port) as c:
        assert c.request("GET", "/hello.txt").body == b"hello world\n"


def test_root_start_closes_an_inherited_root_only_file(make_server, docroot, unpriv_user,
                                                       world_tmp):
    """Started as root with --user: the parent's open root-only file is gone after the drop."""
    path, fd = root_only_file(world_tmp)
    port = dc.free_port()
    try:
        s = make_server(["--root", docroot, "--https", "off", "--http", f"127.0.0.1:{port}",
                         "--user", unpriv_user[0], "--access-log", "off"], pass_fds=(fd,))
    finally:
        os.close(fd)
    get_hello(port)
    assert dc.proc_status(s.pid)["Uid"].split() == [str(unpriv_user[1])] * 4
    assert_only_expected(fd_table(s.pid), os.path.realpath(docroot), path, fd)


def test_listen_fd_kept_inherited_file_closed(make_server, docroot, unpriv_user, world_tmp):
    """Started as the unprivileged user through --listen-fd: the socket is kept and served,
    the root-only file the parent passed along is closed."""
    path, fd = root_only_file(world_tmp)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    port = lsock.getsockname()[1]
    lfd = os.dup2(lsock.fileno(), 41, inheritable=True)
    try:
        s = make_server(["--root", docroot, "--https", "off", "--listen-fd", f"{lfd}:http",
                         "--access-log", "off"], user=unpriv_user, pass_fds=(fd, lfd))
    finally:
        os.close(fd)
        os.close(lfd)
        lsock.close()
    assert f"listening on http 127.0.0.1:{port} (listen-fd)" in s.stderr_text()
    get_hello(port)
    assert_only_expected(fd_table(s.pid), os.path.realpath(docroot), path, fd, listen_fds=(lfd,))
