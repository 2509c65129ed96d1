"""Shared fixtures of the integration tests.

tests/lib (the server harnesses: slapd.py, ...) is put on sys.path here.

Fixtures:
    build_dir   the directory with the built binaries: $MAILGRANTS_BUILD,
                default <repo>/build; a missing directory fails the test
    slapd       a private slapd with the example directory
                (ldap-schema/examples/abc.ldif), one per test module
"""

import os
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LIB = os.path.join(REPO, "tests", "lib")
if LIB not in sys.path:
    sys.path.insert(0, LIB)

from slapd import Slapd  # noqa: E402


@pytest.fixture(scope="session")
def repo_dir():
    return REPO


@pytest.fixture(scope="session")
def build_dir():
    d = os.environ.get("MAILGRANTS_BUILD", os.path.join(REPO, "build"))
    d = os.path.abspath(d)
    if not os.path.isdir(d):
        pytest.fail("build directory %s missing: run make first, or set "
                    "MAILGRANTS_BUILD" % d)
    return d


@pytest.fixture(scope="module")
def slapd():
    with Slapd() as server:
        yield server
