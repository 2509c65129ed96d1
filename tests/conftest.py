"""Shared fixtures of the tests under tests/ (integration, security,
gui, mutation): pytest loads this file for each of them. tests/lib (the
server harnesses: slapd.py, ...) is on sys.path through pytest.ini.

Fixtures:
    build_dir   the directory with the built binaries: $MAILGRANTS_BUILD,
                default <repo>/build; a missing directory fails the test.
                The tests run binaries as the daemons' users (nobody, the
                sync's user): a build below a directory those may not
                search (a checkout in mktemp -d, a 0700 home) is copied
                once per session to a temporary directory they can reach
    slapd       a private slapd with the example directory
                (ldap-schema/examples/abc.ldif), one per test module
    sanitizer_reports   (autouse) fails a test after which an ASan/UBSan/
                LSan or valgrind report appeared; with MAILGRANTS_SANITIZERS
                or MAILGRANTS_VALGRIND set, any report fails the session
                (tests/lib/sanitizers.py)
"""

import os
import shutil
import stat
import tempfile

import pytest

from slapd import Slapd
import sanitizers
# Fails the test after which a sanitizer or valgrind report appeared.
from sanitizers import sanitizer_reports  # noqa: F401

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def pytest_configure(config):
    # MAILGRANTS_SANITIZERS / MAILGRANTS_VALGRIND (tests/module.mk): the
    # report directory and the sanitizers' options, before any process.
    sanitizers.session_start()


# The longest files first, the rest after them in xdist's own order:
# with --dist loadfile a file stays on one worker, and a long file taken
# last keeps the other worker idle until it ends (on Debian 13, whose
# pytest-xdist 3.6 takes the files with the most tests first,
# test_follow.py's nine slow tests ended the run alone for a minute).
# Only the order: every file collected still runs, a file missing here
# after these. Seconds in make check-integration on Debian 12 / 13,
# 2026-12-05, at load 1-28.
LONG_FIRST = [
    "tests/integration/test_follow.py",             # 150 / 159
    "tests/integration/test_dovecot_plugin.py",     # 104 / 105
    "tests/integration/test_doctor.py",             # 57 / 122
    "tests/integration/test_imap_share.py",         # 77 / 66
    "tests/integration/test_share_service.py",      # 48 / 54
    "tests/integration/test_milter.py",             # 51 / 50
    "tests/integration/test_policyd.py",            # 50 / 51
    "tests/integration/test_demo.py",               # 30 / 31
    "tests/security/test_probes.py",                # 30 / 29
    "tests/integration/test_sent_copies.py",        # 25 / 33
    "tests/integration/test_audit.py",              # 30 / 22
    "tests/integration/test_existing_server.py",    # 14 / 16
    "tests/integration/test_delivery.py",           # 17 / 15
    "tests/integration/test_on_behalf.py",          # 15 / 15
    "tests/integration/test_live.py",               # 15 / 15
    "tests/integration/test_sanitizers.py",         # 8 / 15
    "tests/security/test_ldap_tenants.py",          # 6 / 15
    "tests/integration/test_postfix_e2e.py",        # 11 / 13
]


def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile handing out LONG_FIRST's files first. The work
    queue (file -> its tests, in order) and _assign_work_unit() are
    pytest-xdist's own, the same in 3.1 (Debian 12) and 3.6 (Debian
    13); with another version, or another --dist, xdist's scheduler."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling
    if not hasattr(LoadFileScheduling, "_assign_work_unit"):
        return None
    rank = {path: i for i, path in enumerate(LONG_FIRST)}

    class LongFirst(LoadFileScheduling):
        def _assign_work_unit(self, node):
            queue = getattr(self, "workqueue", None)
            if hasattr(queue, "move_to_end") and queue:
                order = {scope: i for i, scope in enumerate(queue)}
                first = min(queue, key=lambda scope: (
                    rank.get(scope, len(rank)), order[scope]))
                queue.move_to_end(first, last=False)
            super()._assign_work_unit(node)

    return LongFirst(config, log)


def pytest_sessionfinish(session, exitstatus):
    # Any report from any process fails the run (tests/lib/sanitizers.py).
    sanitizers.session_finish(session)


@pytest.fixture(scope="session")
def repo_dir():
    return REPO


def searchable_by_others(path):
    """True when others may search every directory from / down to path."""
    while True:
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


@pytest.fixture(scope="session")
def build_dir():
    d = os.environ.get("MAILGRANTS_BUILD", os.path.join(REPO, "build"))
    d = os.path.abspath(d)
    if not os.path.isdir(d):
        pytest.fail("build directory %s missing: run make first, or set "
                    "MAILGRANTS_BUILD" % d)
    if searchable_by_others(d):
        yield d
        return
    # The daemons' users could not execute what lies below d.
    top = tempfile.mkdtemp(prefix="mailgrants-build.")
    try:
        os.chmod(top, 0o755)
        copy = os.path.join(top, "build")
        shutil.copytree(d, copy, symlinks=True)
        yield copy
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="module")
def slapd():
    with Slapd() as server:
        yield server
