"""sanitizers - ASan/UBSan/LSan and valgrind runs of the black-box tests.

Two modes, chosen by the environment (make check-asan, make
check-valgrind: tests/module.mk); with neither, everything here is a
no-op.

MAILGRANTS_SANITIZERS=1 (binaries from build-asan/, built by clang)
    session_start() makes a report directory under /tmp (mode 1777:
    the daemons, and some CLI runs, are nobody) and sets ASAN_OPTIONS
    and UBSAN_OPTIONS (asan_env()) for every process the tests start:
    a report goes to REPORT_DIR/sanitizer.PID (log_path), the process
    stops at the first one (halt_on_error) with exit status 86, which
    no mailgrants program uses, and LeakSanitizer runs at every exit
    (detect_leaks=1). The daemons stopped with SIGTERM return from
    main(), so their leaks are checked too, after the privilege drop
    (LeakSanitizer makes the process dumpable for its tracer). Options
    already in the environment come after ours and win. No
    suppressions: there is nothing to suppress.

MAILGRANTS_VALGRIND=1 (binaries from build/)
    daemon_argv(argv, workdir) puts valgrind_argv() in front of a
    daemon's command: memcheck with --error-exitcode=99
    --leak-check=full --errors-for-leak-kinds=definite (possibly lost
    blocks are libmilter's detached threads) --track-fds=yes, its log
    in REPORT_DIR/valgrind.PID.log (the workdir without a session),
    and --vgdb=no: the vgdb FIFOs in /tmp would be made by root and
    left behind by a daemon that then runs as nobody.
    valgrind_problems(text, fds) lists what is wrong with one log:
    memcheck errors (definite leaks among them), no ERROR SUMMARY at
    all (the process did not exit by itself, e.g. it was SIGKILLed),
    and with fds=True a descriptor other than the inherited ones still
    open at exit (valgrind 3.19 prints those but does not count them;
    3.23 and later count them as errors, and those are taken out of
    the count: descriptors are judged by these rules alone;
    FD_SUPPRESSIONS names the one libmilter leaves, and why).
    check_valgrind(pid, workdir, what, returncode), called by the
    harnesses' stop(), asks for fds=True when the daemon exited 0: a
    clean shutdown closes what it opened; after a fatal error (exit 1)
    open descriptors are no finding. A finding is also written to
    REPORT_DIR/finding.PID for the end of the session.

slow()  the factor for the harnesses' waits: MAILGRANTS_SLOW, default
    1, and 5 under valgrind (a daemon starts in about 2 s instead of
    0.05 s; its work is mostly waiting on sockets).

process_reports(pid) -> text of the sanitizer reports of one process
    (for the daemon harnesses' stop()).
new_reports(seen) -> [(path, problem text)] not in seen (set, updated).
session_start(), session_finish(session), sanitizer_reports (an
    autouse fixture that fails the test after which a report appeared):
    tests/conftest.py calls and imports them. At the end
    of the session any report, from any process, fails the run, and
    the reports are printed; the directory is kept then, removed when
    clean. Under pytest-xdist each worker reports into a directory of
    its own (named after it) in the controller's, and the end of the
    session is the controller's.
"""

import functools
import glob
import os
import re
import shutil
import subprocess
import tempfile

import pytest

ASAN_EXITCODE = 86
VALGRIND_EXITCODE = 99
VALGRIND_SLOW = 5.0

# Where the reports go; set by session_start(), inherited by children.
DIR_ENV = "MAILGRANTS_REPORT_DIR"


def asan_mode():
    return os.environ.get("MAILGRANTS_SANITIZERS", "") not in ("", "0")


def valgrind_mode():
    return os.environ.get("MAILGRANTS_VALGRIND", "") not in ("", "0")


def slow():
    """The factor for timeouts of the harnesses."""
    v = os.environ.get("MAILGRANTS_SLOW", "")
    if v:
        return float(v)
    return VALGRIND_SLOW if valgrind_mode() else 1.0


def report_dir():
    return os.environ.get(DIR_ENV) or None


def make_report_dir():
    """A new directory under /tmp that every user may write to."""
    d = tempfile.mkdtemp(prefix="mg-reports-", dir="/tmp")
    os.chmod(d, 0o1777)
    return d


def asan_env(d, environ=None):
    """ASAN_OPTIONS and UBSAN_OPTIONS (a dict) for reports into d;
    options already in environ come after ours, and so win."""
    environ = os.environ if environ is None else environ
    common = "log_path=%s:halt_on_error=1:exitcode=%d" % (
        os.path.join(d, "sanitizer"), ASAN_EXITCODE)
    ours = {
        "ASAN_OPTIONS": common + ":detect_leaks=1"
        ":detect_stack_use_after_return=1:check_initialization_order=1"
        ":strict_init_order=1:strict_string_checks=1:disable_coredump=1",
        "UBSAN_OPTIONS": common + ":print_stacktrace=1",
    }
    for name in ours:
        if environ.get(name):
            ours[name] += ":" + environ[name]
    return ours


def session_start():
    """Make the report directory and set the sanitizers' options."""
    if not (asan_mode() or valgrind_mode()):
        return
    d = report_dir()
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if d is None:
        d = make_report_dir()
    elif worker and os.path.basename(d) != worker:
        # A pytest-xdist worker: a directory of its own in the
        # controller's, so that a test is failed for the reports of its
        # own processes only; the controller judges both at the end.
        d = os.path.join(d, worker)
        os.mkdir(d)
        os.chmod(d, 0o1777)
    else:
        return
    os.environ[DIR_ENV] = d
    if asan_mode():
        os.environ.update(asan_env(d))


@functools.lru_cache(maxsize=None)
def valgrind_version():
    """(major, minor) of valgrind --version; (0, 0) if it says nothing
    that can be read."""
    try:
        out = subprocess.run(["valgrind", "--version"], capture_output=True,
                             text=True, timeout=30).stdout
    except OSError:
        return (0, 0)
    m = re.search(r"(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def valgrind_counts_fds():
    """valgrind 3.23 and later count each descriptor open at exit
    (FdNotClosed, inherited ones too) as an error; 3.19 only lists
    them."""
    return valgrind_version() >= (3, 23)


def valgrind_argv(d):
    """valgrind memcheck's command line, its log in d/valgrind.PID.log."""
    # Where valgrind counts open descriptors, --error-exitcode would
    # turn a clean exit and a fatal one alike into VALGRIND_EXITCODE:
    # the daemon's own status is kept there, and the log read (it is
    # read everywhere anyway).
    exitcode = [] if valgrind_counts_fds() else \
        ["--error-exitcode=%d" % VALGRIND_EXITCODE]
    return ["valgrind", "--vgdb=no"] + exitcode + [
            "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite", "--track-fds=yes",
            "--num-callers=30",
            "--log-file=" + os.path.join(d, "valgrind.%p.log")]


def daemon_argv(argv, workdir):
    """argv, with valgrind in front of it under MAILGRANTS_VALGRIND."""
    if not valgrind_mode():
        return list(argv)
    return valgrind_argv(report_dir() or workdir) + list(argv)


def valgrind_log_path(pid, workdir):
    return os.path.join(report_dir() or workdir, "valgrind.%d.log" % pid)


_SUMMARY_RE = re.compile(r"ERROR SUMMARY: (\d+) errors")
_FD_RE = re.compile(r"^==\d+== Open (.*?descriptor|AF_\w+ socket) (\d+):"
                    r"(.*)$")

# Descriptors left open at exit by code that is not ours, each with
# why: the frame that opened it must be in the valgrind stack.
FD_SUPPRESSIONS = [
    ("mi_pool_controller_init",
     "libmilter's worker pool pipe (Debian builds libmilter with "
     "_FFR_WORKERS_POOL): smfi_main() returns without closing it"),
]


def _open_fds(text):
    """[(fd, what, stack lines)] of the descriptors valgrind lists as
    open at exit."""
    fds = []
    cur = None
    for line in text.splitlines():
        m = _FD_RE.match(line)
        if m:
            cur = (m.group(2), m.group(3).strip(), [])
            fds.append(cur)
        elif cur is not None:
            body = re.sub(r"^==\d+==\s*", "", line)
            if body == "":
                cur = None
            else:
                cur[2].append(body)
    return fds


def valgrind_problems(text, fds=False):
    """What is wrong in one memcheck log (--track-fds=yes); [] if all
    is well. fds: descriptors left open count too."""
    problems = []
    m = _SUMMARY_RE.search(text)
    if m is None:
        problems.append("no ERROR SUMMARY: the process did not exit by "
                        "itself")
    else:
        # Descriptors are judged below, by our rules, not valgrind's.
        errors = int(m.group(1))
        if valgrind_counts_fds():
            errors -= len(_open_fds(text))
        if errors != 0:
            problems.append("memcheck: %d errors" % errors)
    for fd, what, stack in _open_fds(text) if fds else []:
        # Where it was opened, or "<inherited from parent>" (the log
        # itself, standard input and output).
        if "<inherited from parent>" in stack:
            continue
        if any(frame in line for frame, _ in FD_SUPPRESSIONS
               for line in stack):
            continue
        problems.append("descriptor %s (%s) open at exit, opened %s"
                        % (fd, what or "-", " ".join(stack[:3])))
    return problems


def check_valgrind(pid, workdir, what, returncode):
    """Fail when the valgrind log of process pid shows a problem."""
    if not valgrind_mode():
        return
    path = valgrind_log_path(pid, workdir)
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError as e:
        raise AssertionError("%s: no valgrind log %s: %s"
                             % (what, path, e.strerror))
    problems = valgrind_problems(text, fds=returncode == 0)
    if problems:
        message = "%s under valgrind: %s" % (what, "; ".join(problems))
        # For the end of the session too: a harness stopped in a
        # teardown that swallows errors must still fail the run.
        if report_dir() is not None:
            with open(os.path.join(report_dir(), "finding.%d" % pid),
                      "w") as f:
                f.write(message + "\n" + text)
        raise AssertionError(message + "\n" + text[-8000:])


def process_reports(pid):
    """The sanitizer reports written by process pid, or ""."""
    d = report_dir()
    if d is None or not asan_mode():
        return ""
    text = ""
    for path in glob.glob(os.path.join(d, "sanitizer.%d*" % pid)):
        with open(path, errors="replace") as f:
            text += f.read()
    return text


def _read(path):
    with open(path, errors="replace") as f:
        return f.read()


def new_reports(seen):
    """[(path, text)] of reports not in seen; adds them to seen."""
    d = report_dir()
    if d is None:
        return []
    found = []
    # The workers' directories too, when d is a pytest-xdist controller's.
    for path in sorted(glob.glob(os.path.join(d, "*")) +
                       glob.glob(os.path.join(d, "gw*", "*"))):
        if path in seen or os.path.isdir(path):
            continue
        name = os.path.basename(path)
        if name.startswith(("sanitizer.", "finding.")):
            text = _read(path)
            if text.strip() == "":
                continue        # still being written: look again later
            seen.add(path)
            found.append((path, text))
        elif name.startswith("valgrind."):
            text = _read(path)
            if _SUMMARY_RE.search(text) is None:
                continue        # process still running (or killed)
            seen.add(path)
            problems = valgrind_problems(text)
            if problems:
                found.append((path, "; ".join(problems) + "\n" + text))
    return found


_seen_by_tests = set()


@pytest.fixture(autouse=True)
def sanitizer_reports():
    """Fail the test after which a new report appeared."""
    yield
    found = new_reports(_seen_by_tests)
    if found:
        pytest.fail("sanitizer/valgrind report:\n" + "\n".join(
            "%s:\n%s" % (p, t[-6000:]) for p, t in found), pytrace=False)


def session_finish(session):
    """Fail the run if any report exists; print them."""
    d = report_dir()
    if d is None:
        return
    # pytest-xdist: the workers' directories are in the controller's
    # (made before they start); the controller alone judges them at
    # the end, once no worker can write there any more.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    found = new_reports(set())
    # A valgrind log without a summary at the end of the session: a
    # daemon that never exited by itself.
    for path in glob.glob(os.path.join(d, "valgrind.*")) + \
            glob.glob(os.path.join(d, "gw*", "valgrind.*")):
        text = _read(path)
        if _SUMMARY_RE.search(text) is None:
            found.append((path, "no ERROR SUMMARY: the process did not "
                          "exit by itself\n" + text))
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    write = print
    if tr is not None:
        tr.write("\n")
        write = tr.write_line
    if not found:
        write("sanitizer reports: none (%s)" % (
            "ASan/UBSan/LSan" if asan_mode() else "valgrind memcheck"))
        shutil.rmtree(d, ignore_errors=True)
        return
    for path, text in found:
        write("=" * 20 + " " + path)
        write(text)
    write("sanitizer reports: %d, kept in %s" % (len(found), d))
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
