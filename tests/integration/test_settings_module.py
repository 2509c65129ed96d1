"""tests/with-settings-module.sh: a command sees the build's settings
module in Dovecot's settings directory; nothing else does.

The script is how make check, make demo and the benchmarks give Dovecot
2.4 our settings without installing them. Here it runs against a
settings directory of the test's own (the script takes it as an
argument), so these checks mean the same on Dovecot 2.3 and 2.4: the
module and the directory's other modules are visible to the command,
the directory itself is unchanged afterwards, the staging directory is
gone, the command's exit status comes back, and an already installed
copy means no namespace at all.
"""

import glob
import os
import shutil
import subprocess

import pytest

from daemonutil import make_workdir
from privsep import as_user

SCRIPT = os.path.join(os.path.dirname(__file__), "..",
                      "with-settings-module.sh")


@pytest.fixture
def dirs():
    top = make_workdir("mg-settings-")
    settings = os.path.join(top, "settings")
    os.makedirs(settings)
    with open(os.path.join(settings, "libother_settings.so"), "w") as f:
        f.write("other\n")
    module = os.path.join(top, "libmailgrants_settings.so")
    with open(module, "w") as f:
        f.write("ours\n")
    # A copy nobody can read too: the tree may lie below a 0700
    # directory (a checkout in mktemp -d).
    shutil.copy(SCRIPT, os.path.join(top, "with-settings-module.sh"))
    yield top, settings, module
    subprocess.run(["rm", "-rf", top], check=True)


def run(module, settings, script, user=None):
    copy = os.path.join(os.path.dirname(settings), "with-settings-module.sh")
    return subprocess.run(["sh", copy, module, settings, "sh", "-c",
                           script, "sh", settings],
                          capture_output=True, text=True, timeout=30,
                          preexec_fn=as_user(user) if user else None)


def stages():
    return set(glob.glob("/tmp/mailgrants-settings.*"))


def test_command_sees_the_module_nobody_else(dirs):
    top, settings, module = dirs
    before = stages()
    r = run(module, settings, 'cat "$1"/libmailgrants_settings.so '
            '"$1"/libother_settings.so; '
            'awk -v d="$1" \'$5 == d { sub(/.* - /, ""); print $1, $2 }\' '
            '/proc/self/mountinfo; '
            'exit 7')
    assert r.returncode == 7, r
    assert r.stdout.split() == ["ours", "other", "tmpfs",
                                "mailgrants-settings"], r
    assert sorted(os.listdir(settings)) == ["libother_settings.so"]
    with open("/proc/self/mountinfo") as f:
        assert " %s " % settings not in f.read()
    assert stages() == before


def test_installed_copy_means_no_namespace(dirs):
    top, settings, module = dirs
    with open(os.path.join(settings, "libmailgrants_settings.so"),
              "w") as f:
        f.write("ours\n")
    r = run(module, settings, 'readlink /proc/self/ns/mnt')
    assert r.returncode == 0, r
    assert r.stdout.strip() == os.readlink("/proc/self/ns/mnt")


def test_refusals(dirs):
    top, settings, module = dirs
    r = run(os.path.join(top, "missing.so"), settings, "true")
    assert r.returncode == 2 and "missing.so: not built" in r.stderr, r
    r = run(module, os.path.join(top, "nowhere"), "true")
    assert r.returncode == 2 and "no such directory" in r.stderr, r
    os.chmod(top, 0o755)
    r = run(module, settings, "true", user="nobody")
    assert r.returncode == 2, r
    assert "run as root" in r.stderr and "install-dovecot-plugin" \
        in r.stderr, r
