"""Fixtures of the Thunderbird tests (`make check-thunderbird`).

The shared fixtures (repo_dir, build_dir, slapd, the autouse sanitizer
check) come from tests/conftest.py. At the end of the run the
screenshots taken are listed (tests/lib/thunderbird.py keeps them under
<build>/test-artifacts/thunderbird/).
"""

import os
import shutil

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def artifacts_dir():
    """Where the screenshots and IMAP logs go: <build>/test-artifacts/
    thunderbird (build: $MAILGRANTS_BUILD, as build_dir)."""
    build = os.environ.get("MAILGRANTS_BUILD", os.path.join(REPO, "build"))
    return os.path.join(os.path.abspath(build), "test-artifacts",
                        "thunderbird")


@pytest.fixture(scope="session")
def artifacts():
    """A fresh artifacts directory for this run."""
    d = artifacts_dir()
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def pytest_terminal_summary(terminalreporter):
    d = artifacts_dir()
    if os.path.isdir(d):
        terminalreporter.section("Thunderbird artifacts (%s)" % d)
        for name in sorted(os.listdir(d)):
            terminalreporter.write_line(os.path.join(d, name))
