"""make demo's walk-through (demo/demo.py) tells the story right."""

import os
import subprocess
import sys


def test_demo(repo_dir, build_dir):
    r = subprocess.run([sys.executable, os.path.join(repo_dir, "demo", "demo.py")],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, MAILGRANTS_BUILD=build_dir))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    sandra = out.split("== Sandra Schuster")[1].split("== Jana Meier")[0]
    assert "shared   peter.mueller@abc.com      rights lrwstiek    may NOT send as it" in sandra
    assert "company  info@abc.com" in sandra
    assert "makler@abc.com             allowed  (own_mailbox)" in sandra
    assert "peter.müller@abc.com       rejected (shared_read_only)" in sandra
    tom = out.split("== Tom Berger")[1].split("== Anna Schmidt")[0]
    assert "peter.mueller" not in tom.split("sending as:")[0]
    anna = out.split("== Anna Schmidt")[1].split("== Why")[0]
    assert "info@abc.com               rejected (not_yours)" in anna
    assert "info@xyz.org               allowed  (company_mailbox)" in anna
    assert "2024-06-01: shared, rights lrwstiek; today: share_not_active" in out
    assert "The sandbox is stopped and removed." in out
