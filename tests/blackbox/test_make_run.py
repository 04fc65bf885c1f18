"""`make run` (scripts/run-demo.sh) as the README promises: the demo site on https://localhost/ and
http://localhost/ (ports 443 and 80), served by an unprivileged user through the file capability.
It runs in a fresh network namespace, so it binds nothing on the host."""
import os
import shutil
import tempfile

import dropcap_fixture as dc

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_make_run_serves_demo_on_443_and_80(need_root, netns):
    where = tempfile.mkdtemp(prefix="dropcap-demo-test-")
    os.chmod(where, 0o755)
    demo = dc.Server([], binary=os.path.join(TOP, "scripts", "run-demo.sh"), netns=netns.name,
                     env={"DEMO_DIR": os.path.join(where, "demo"), "DEMO_BIN": dc.BIN})
    try:
        demo.start()
        for url in ("https://localhost/", "http://localhost/"):
            r = netns.run(["curl", "-sS", "-k", "--fail", "--max-time", "10", url])
            assert r.returncode == 0, f"{url}: {r.stderr}"
            assert "<h1>It works.</h1>" in r.stdout
        err = demo.stderr_text()
        assert "listening on https [::]:443 (bound)" in err
        assert "listening on http [::]:80 (bound)" in err
        assert "caps=none bounding=none no_new_privs=1 via=file-capability" in err, err
        st = dc.proc_status(demo.pid)
        assert st["Uid"].split()[0] != "0"
        assert dc.cap_mask(st["CapEff"]) == 0 and dc.cap_mask(st["CapPrm"]) == 0
        assert demo.stop() == 0, demo.stderr_text()
    finally:
        demo.stop()
        shutil.rmtree(where)
