"""artifacts - where the GUI tests keep what they saw (screenshots, logs).

artifacts_dir(name) -> <build>/test-artifacts/<name> (build:
    $MAILGRANTS_BUILD, as the build_dir fixture, default <repo>/build).
fresh(name) -> that directory, emptied and created for this run.
summary(terminalreporter, name, title) -> lists its files at the end
    of the run (a conftest's pytest_terminal_summary).
Used by tests/gui (Thunderbird) and tests/roundcube.
"""

import os
import shutil

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def artifacts_dir(name):
    build = os.environ.get("MAILGRANTS_BUILD", os.path.join(REPO, "build"))
    return os.path.join(os.path.abspath(build), "test-artifacts", name)


def fresh(name):
    d = artifacts_dir(name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def summary(terminalreporter, name, title):
    d = artifacts_dir(name)
    if os.path.isdir(d):
        terminalreporter.section("%s artifacts (%s)" % (title, d))
        for entry in sorted(os.listdir(d)):
            terminalreporter.write_line(os.path.join(d, entry))
