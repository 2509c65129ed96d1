"""Fixtures of the security probes: the integration tests' own.

tests/integration/conftest.py is loaded under a name of its own (both
directories have a conftest.py and no __init__.py), which also puts
tests/lib (the server harnesses) on sys.path. Every fixture it defines
(repo_dir, build_dir, slapd, the autouse sanitizer check, and whatever
it gains later) is re-exported here. Its session hooks run from here
only when it is not loaded itself in the same run (`pytest
tests/security` alone), so that they never run twice.
"""

import importlib.util
import os

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
