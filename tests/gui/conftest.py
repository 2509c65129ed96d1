"""Fixtures of the Thunderbird tests (`make check-thunderbird`).

The integration tests' fixtures (repo_dir, build_dir, slapd, the autouse
sanitizer check), loaded from tests/integration/conftest.py under a name
of their own as tests/security/conftest.py does; that also puts
tests/lib on sys.path. At the end of the run the screenshots taken are
listed (tests/lib/thunderbird.py keeps them under
<build>/test-artifacts/thunderbird/).
"""

import importlib.util
import os
import shutil

import pytest

_PATH = os.path.realpath(os.path.join(os.path.dirname(
    os.path.abspath(__file__)), "..", "integration", "conftest.py"))
_SPEC = importlib.util.spec_from_file_location(
    "mailgrants_integration_conftest", _PATH)
_MOD = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MOD)

for _name, _value in vars(_MOD).items():
    if hasattr(_value, "_pytestfixturefunction"):
        globals()[_name] = _value


def _integration_loaded(config):
    """True when pytest loaded tests/integration/conftest.py itself."""
    for plugin in config.pluginmanager.get_plugins():
        path = getattr(plugin, "__file__", None)
        if path and os.path.realpath(path) == _PATH:
            return True
    return False


def pytest_configure(config):
    hook = getattr(_MOD, "pytest_configure", None)
    if hook is not None and not _integration_loaded(config):
        hook(config)


def pytest_sessionfinish(session, exitstatus):
    hook = getattr(_MOD, "pytest_sessionfinish", None)
    if hook is not None and not _integration_loaded(session.config):
        hook(session, exitstatus)


def artifacts_dir():
    """Where the screenshots and IMAP logs go: <build>/test-artifacts/
    thunderbird (build: $MAILGRANTS_BUILD, as build_dir)."""
    build = os.environ.get("MAILGRANTS_BUILD", os.path.join(
        os.path.dirname(_PATH), "..", "..", "build"))
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
