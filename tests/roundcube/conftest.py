"""Fixtures of the Roundcube test (`make check-roundcube`).

The shared fixtures (repo_dir, build_dir, the autouse sanitizer check)
come from tests/conftest.py. At the end of the run the screenshots and
logs kept under <build>/test-artifacts/roundcube/ are listed
(tests/lib/artifacts.py).
"""

import pytest

import artifacts as _artifacts


@pytest.fixture(scope="session")
def artifacts():
    """A fresh artifacts directory for this run."""
    return _artifacts.fresh("roundcube")


def pytest_terminal_summary(terminalreporter):
    _artifacts.summary(terminalreporter, "roundcube", "Roundcube")
