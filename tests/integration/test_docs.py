"""The man pages render without a warning.

Every doc/*.[1-8] goes through "MANWIDTH=80 man --warnings -l" (man-db,
groff with its warnings on); any output on stderr fails the page. When
the tests run against the installed Debian packages
(MAILGRANTS_INSTALLED=deb, make check-deb), the installed, compressed
copies are rendered as well.
"""

import glob
import os
import shutil
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PAGES = sorted(glob.glob(os.path.join(REPO, "doc", "*.[1-8]")))
if os.environ.get("MAILGRANTS_INSTALLED") == "deb":
    PAGES += ["/usr/share/man/man%s/%s.gz" % (p[-1], os.path.basename(p))
              for p in list(PAGES)]


def test_pages_exist():
    names = {os.path.basename(p) for p in PAGES}
    for page in ("mailgrants.1", "mailgrants.conf.5",
                 "mailgrants-policyd.8", "mailgrants-milter.8"):
        assert page in names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.replace("/", "_"))
def test_man_renders_without_warnings(page):
    assert shutil.which("man"), "man missing (package man-db)"
    assert os.path.exists(page), page
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8",
               MAN_KEEP_STDERR="1")
    env.pop("MANPAGER", None)
    env.pop("PAGER", None)
    r = subprocess.run(["man", "--warnings", "-l", page], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    name = os.path.basename(page).split(".")[0].upper()
    assert "NAME" in r.stdout and name in r.stdout.upper()
