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
