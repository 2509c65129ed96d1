"""Fixtures of the Thunderbird tests (`make check-thunderbird`).

The shared fixtures (repo_dir, build_dir, slapd, the autouse sanitizer
check) come from tests/conftest.py. At the end of the run the
screenshots taken are listed (tests/lib/thunderbird.py keeps them under
<build>/test-artifacts/thunderbird/, tests/lib/artifacts.py).
"""

import pytest

import artifacts as _artifacts


@pytest.fixture(scope="session")
def artifacts():
    """A fresh artifacts directory for this run."""
    return _artifacts.fresh("thunderbird")


def pytest_terminal_summary(terminalreporter):
    _artifacts.summary(terminalreporter, "thunderbird", "Thunderbird")
