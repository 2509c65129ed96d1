"""The checks of make check-asan and make check-valgrind find what they
are there to find (tests/lib/sanitizers.py).

Small C programs with a known fault are compiled here and run the way
the harnesses run ours: with the ASan/UBSan options of a check-asan
session (also as nobody, as the daemons run), and under valgrind with
the daemons' memcheck options. A leak, an integer overflow, a
use-after-free and a descriptor left open must each be reported and
give the exit status the harnesses look for; the same programs without
the fault must give no report.
"""

import os
import shutil
import subprocess

import pytest

import sanitizers
from daemonutil import make_workdir

CC = "cc"
# As build-asan/ (tests/module.mk): with clang's single runtime, UBSan's
# reports honour log_path as ASan's do.
ASAN_CC = os.environ.get("ASAN_CC", "clang")

# Ten blocks, lost or kept: LeakSanitizer and memcheck scan memory
# conservatively, and the last pointer may linger in a register.
LEAK = r"""
#include <stdlib.h>
#include <string.h>
static char *keep[10];
static void __attribute__((noinline)) make(int keep_them)
{
	for (int i = 0; i < 10; i++) {
		char *p = malloc(64);

		memset(p, 'a', 64);
		if (keep_them)
			keep[i] = p;	/* reachable: no leak */
	}			/* else the pointers are lost */
}
int main(int argc, char **argv)
{
	(void)argv;
	make(argc > 1);
	return 0;
}
"""

OVERFLOW = r"""
#include <limits.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	int x = INT_MAX - 1;
	(void)argv;
	x += argc;			/* overflows with an argument */
	printf("%d\n", x);
	return 0;
}
"""

USE_AFTER_FREE = r"""
#include <stdlib.h>
int main(int argc, char **argv)
{
	char *p = malloc(16);
	(void)argv;
	p[0] = 1;
	if (argc > 1)
		free(p);
	int v = p[0];			/* freed with an argument */
	if (argc <= 1)
		free(p);
	return v == 1 ? 0 : 2;
}
"""

OPEN_FD = r"""
#include <fcntl.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	int fd = open("/dev/null", O_RDONLY);
	(void)argv;
	if (argc <= 1)
		close(fd);
	return fd < 0;
}
"""


def build(workdir, name, source, flags=(), cc=CC):
    src = os.path.join(workdir, name + ".c")
    with open(src, "w") as f:
        f.write(source)
    exe = os.path.join(workdir, name)
    r = subprocess.run([cc, "-std=gnu11", "-g", "-O0"] + list(flags) +
                       ["-o", exe, src], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return exe


@pytest.fixture
def workdir():
    """Not tmp_path: nobody must reach the programs (0755 under /tmp)."""
    d = make_workdir("mg-santest-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def report_dir():
    d = sanitizers.make_report_dir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


def asan_build(workdir, name, source):
    return build(workdir, name, source,
                 ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
                 cc=ASAN_CC)


def asan_run(exe, report_dir, args=(), user=None):
    env = dict(os.environ)
    env.update(sanitizers.asan_env(report_dir, environ={}))
    argv = [exe] + list(args)
    if user is not None:
        argv = ["setpriv", "--reuid=" + user, "--regid=nogroup",
                "--clear-groups"] + argv
    return subprocess.run(argv, env=env, capture_output=True, text=True,
                          timeout=60)


def reports(report_dir):
    return sanitizers.new_reports(set())


@pytest.mark.parametrize("name,source,fault_args,marker", [
    ("leak", LEAK, (), "ERROR: LeakSanitizer: detected memory leaks"),
    ("overflow", OVERFLOW, ("x",), "runtime error: signed integer overflow"),
    ("uaf", USE_AFTER_FREE, ("x",), "ERROR: AddressSanitizer: "
     "heap-use-after-free"),
], ids=["leak", "overflow", "use-after-free"])
def test_asan_options_report_and_fail(workdir, report_dir, monkeypatch,
                                      name, source, fault_args, marker):
    monkeypatch.setenv(sanitizers.DIR_ENV, report_dir)
    monkeypatch.setenv("MAILGRANTS_SANITIZERS", "1")
    exe = asan_build(workdir, name, source)
    clean_args = ("keep",) if name == "leak" else ()
    r = asan_run(exe, report_dir, clean_args)
    assert r.returncode == 0, r.stderr
    assert os.listdir(report_dir) == []
    r = asan_run(exe, report_dir, fault_args)
    assert r.returncode == sanitizers.ASAN_EXITCODE, r.stderr
    found = reports(report_dir)
    assert len(found) == 1, found
    path, text = found[0]
    assert os.path.basename(path) == "sanitizer.%d" % int(
        path.rsplit(".", 1)[1])
    assert marker in text
    # What the daemon harnesses ask for after stop().
    assert marker in sanitizers.process_reports(int(path.rsplit(".", 1)[1]))


def test_asan_report_as_nobody(workdir, report_dir, monkeypatch):
    """The daemons and some CLI runs are nobody: their reports land too."""
    monkeypatch.setenv(sanitizers.DIR_ENV, report_dir)
    exe = asan_build(workdir, "leak", LEAK)
    r = asan_run(exe, report_dir, user="nobody")
    assert r.returncode == sanitizers.ASAN_EXITCODE, r.stderr
    found = reports(report_dir)
    assert len(found) == 1 and "LeakSanitizer" in found[0][1], found


def valgrind_run(exe, report_dir, args=()):
    p = subprocess.run(sanitizers.valgrind_argv(report_dir) + [exe] +
                       list(args), capture_output=True, text=True,
                       timeout=120)
    logs = [f for f in os.listdir(report_dir) if f.startswith("valgrind.")]
    assert len(logs) == 1, logs
    path = os.path.join(report_dir, logs[0])
    with open(path) as f:
        text = f.read()
    os.unlink(path)
    return p.returncode, text


@pytest.mark.parametrize("name,source,fault_args,problem", [
    ("leak", LEAK, (), "memcheck: 1 errors"),  # one context
    ("uaf", USE_AFTER_FREE, ("x",), "memcheck: 1 errors"),
    ("openfd", OPEN_FD, ("x",), "descriptor "),
], ids=["leak", "use-after-free", "open-descriptor"])
def test_valgrind_options_find_faults(workdir, report_dir, name, source,
                                      fault_args, problem):
    exe = build(workdir, name, source)
    clean_args = ("keep",) if name == "leak" else ()
    rc, text = valgrind_run(exe, report_dir, clean_args)
    assert rc == 0, text
    assert sanitizers.valgrind_problems(text, fds=True) == [], text
    rc, text = valgrind_run(exe, report_dir, fault_args)
    problems = sanitizers.valgrind_problems(text, fds=True)
    assert any(p.startswith(problem) for p in problems), (problems, text)
    if name == "openfd":
        assert "(/dev/null) open at exit" in problems[0]
    if name != "openfd" and not sanitizers.valgrind_counts_fds():
        assert rc == sanitizers.VALGRIND_EXITCODE, text
    else:
        # valgrind 3.19 does not count descriptors, and 3.23 and later
        # keep the program's exit status (valgrind_argv): the log is read.
        assert rc == 0, text
    if name == "openfd":
        assert sanitizers.valgrind_problems(text, fds=False) == []


def test_valgrind_killed_process_is_a_finding(workdir, report_dir):
    """A daemon that had to be SIGKILLed never wrote its summary."""
    exe = build(workdir, "sleeper", "#include <unistd.h>\n"
                "int main(void) { pause(); return 0; }\n")
    p = subprocess.Popen(sanitizers.valgrind_argv(report_dir) + [exe])
    try:
        p.wait(timeout=2)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    logs = os.listdir(report_dir)
    assert len(logs) == 1
    with open(os.path.join(report_dir, logs[0])) as f:
        problems = sanitizers.valgrind_problems(f.read())
    assert problems == ["no ERROR SUMMARY: the process did not exit by "
                        "itself"]


# -- the session: one report directory, judged once ----------------------
#
# make check-asan and check-valgrind run the black-box tests on two
# pytest-xdist workers. A report written by a process of either worker
# must fail the run, and a clean run must leave no directory behind.

INNER_CONFTEST = """
import sanitizers
from sanitizers import sanitizer_reports  # noqa: F401


def pytest_configure(config):
    sanitizers.session_start()


def pytest_sessionfinish(session, exitstatus):
    sanitizers.session_finish(session)
"""

INNER_TESTS = """
import os
import time


def write_report():
    path = os.path.join(os.environ["MAILGRANTS_REPORT_DIR"],
                        "sanitizer.%d" % os.getpid())
    with open(path, "w") as f:
        f.write("==1==ERROR: AddressSanitizer: planted by the test\\n")


def test_{name}():
    assert os.path.basename(os.environ["MAILGRANTS_REPORT_DIR"]) == \
        os.environ["PYTEST_XDIST_WORKER"]
    time.sleep(0.5)
    if os.environ.get("PLANT") == "{name}":
        write_report()
"""


def inner_session(tmp, plant):
    for name in ("one", "two"):
        with open(os.path.join(tmp, "test_%s.py" % name), "w") as f:
            f.write(INNER_TESTS.replace("{name}", name))
    with open(os.path.join(tmp, "conftest.py"), "w") as f:
        f.write(INNER_CONFTEST)
    env = {k: v for k, v in os.environ.items()
           if k not in (sanitizers.DIR_ENV, "PYTEST_XDIST_WORKER",
                        "PYTEST_CURRENT_TEST")}
    env.update(MAILGRANTS_SANITIZERS="1", PLANT=plant,
               PYTHONPATH=os.path.join(os.path.dirname(__file__), "..",
                                       "lib"))
    return subprocess.run(
        ["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-n", "2", "--dist", "loadfile", "-c", "/dev/null",
         "--rootdir", tmp, tmp], capture_output=True, text=True,
        timeout=120, env=env, cwd=tmp)


def report_dirs():
    return set(d for d in os.listdir("/tmp") if d.startswith("mg-reports-"))


@pytest.mark.parametrize("plant", ["one", "two"])
def test_xdist_workers_report_fails_the_run(workdir, plant):
    before = report_dirs()
    r = inner_session(workdir, plant)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    # The report fails the test after which it appeared (in teardown).
    assert "2 passed, 1 error" in out, out
    assert "sanitizer reports: 1, kept in /tmp/mg-reports-" in out, out
    kept = report_dirs() - before
    assert len(kept) == 1, out
    d = os.path.join("/tmp", kept.pop())
    try:
        # Each worker's directory in the controller's; the report in
        # that of the worker whose test wrote it, and only that test failed.
        assert sorted(os.listdir(d)) == ["gw0", "gw1"], os.listdir(d)
        assert "ERROR test_%s.py::test_%s" % (plant, plant) in out, out
        other = "two" if plant == "one" else "one"
        assert "test_%s.py::test_%s" % (other, other) not in out, out
    finally:
        shutil.rmtree(d)


def test_xdist_clean_run_leaves_nothing(workdir):
    before = report_dirs()
    r = inner_session(workdir, "")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "2 passed" in out and "sanitizer reports: none" in out, out
    assert report_dirs() == before
