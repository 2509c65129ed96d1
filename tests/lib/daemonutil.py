"""daemonutil - small helpers for running private server instances in tests.

free_port()            a free TCP port on 127.0.0.1 (bound, then released)
wait_for(pred, ...)    poll a predicate until it is true or a deadline passes
port_open(port)        True when 127.0.0.1:port accepts a connection
unix_open(path)        True when the UNIX socket at path accepts a connection
make_workdir(prefix)   a fresh temporary directory that unprivileged
                       daemon users (postfix, dovecot, dovenull) can enter
kill_group(proc)       TERM, then KILL, a Popen and the process group it
                       leads when started with start_new_session=True
                       (only that group)
reap_group(pgid)       wait for a process group to go, TERM, then KILL
stop_all(*parts)       stop() each part, ignoring errors (a teardown)
tail(path, n)          the last n lines of a log file, for error messages

Daemon                 the base of the harnesses of mailgrants-policyd
                       (policyd.Policyd) and mailgrants-milter
                       (milter.Milter): one child process in its own
                       session, standard error to workdir/<name>-N.log,
                       as a context manager (see its docstring)
SANITIZER_RE           what AddressSanitizer, LeakSanitizer and UBSan
                       print in a log (build-asan)
"""

import itertools
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

import sanitizers

# What AddressSanitizer, LeakSanitizer and UBSan print (build-asan).
SANITIZER_RE = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error: ")


def free_port():
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n):
    """Return n distinct free ports (all bound at once, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_for(pred, timeout=10.0, interval=0.02, what="condition", check=None):
    """Poll pred() until true; raise TimeoutError naming what otherwise.

    check, when given, is called on every round and may raise (e.g. when
    the daemon process died) to stop waiting early.
    """
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise TimeoutError("timed out after %.1fs waiting for %s"
                               % (timeout, what))
        time.sleep(interval)


def port_open(port, host="127.0.0.1"):
    """True when host:port accepts a TCP connection."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def unix_open(path):
    """True when the UNIX stream socket at path accepts a connection."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def make_workdir(prefix):
    """A new directory under /tmp that daemon users can traverse (0755).

    pytest's tmp_path lives below a 0700 directory, which processes that
    drop privileges (postfix, dovecot, dovenull) cannot enter.
    """
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    return d


def kill_group(proc, term_timeout=5.0, sig=signal.SIGTERM):
    """Stop proc and, when it leads one, its process group: the one
    way the tests stop a process they started.

    sig (SIGTERM; SIGKILL to stop it as a crash would) to the process
    first, so that a master stops its own children cleanly; then
    reap_group() for whatever is left of the group whose id is proc.pid
    (a process started with start_new_session leads one; nothing else
    on the machine is signalled); SIGKILL to the process itself if it
    is still there after term_timeout (one that leads no group).
    """
    if proc is None:
        return
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=term_timeout)
        except subprocess.TimeoutExpired:
            pass
    reap_group(proc.pid, grace=1.0, timeout=term_timeout)
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(timeout=term_timeout)
    except subprocess.TimeoutExpired:
        pass


def reap_group(pgid, grace=1.0, timeout=5.0):
    """Wait up to grace seconds for the process group pgid to go, then
    SIGTERM it, and SIGKILL it when it is still there after timeout."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, timeout)):
        deadline = time.monotonic() + wait
        while True:
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                return
            if time.monotonic() > deadline:
                try:
                    os.killpg(pgid, sig)
                except ProcessLookupError:
                    pass
                break
            time.sleep(0.02)


def stop_all(*parts):
    """stop() each of parts in turn (None is skipped), all of them even
    when one raises: the teardown of a stack, maybe half started."""
    for part in parts:
        if part is not None:
            try:
                part.stop()
            except Exception:
                pass


def tail(path, n=40):
    """The last n lines of a text file, or a note that it is missing."""
    try:
        with open(path, "r", errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return "(%s: %s)" % (path, e.strerror)


class Daemon:
    """One of the project's daemons as a child process of a test.

    A subclass names the program and its log, and builds the command
    line with make_argv(spec, user, *options):

        build/<program> --foreground -c conf --listen spec [--user user]
        [options...]

    Attributes: exe, conf, workdir, log_path, argv, proc, pid.
    Methods: start(wait_ready=True, timeout=10) runs the program in a
    session of its own (standard error and output to log_path) and,
    unless wait_ready is false, waits for its "ready:" line and then
    for whatever ready() adds (the milter: its socket); stop() stops
    the process group (daemonutil.kill_group, SIGKILL after
    stop_timeout seconds) and fails on a sanitizer report in the log or
    in the report directory, or a valgrind finding (the checks run at
    the first stop after a start); log() -> text; wait_log(regex,
    timeout, start) -> match (the daemon's death ends the wait with
    its log); alive(); signal(sig). Waits are longer by
    sanitizers.slow() under valgrind. A missing binary is an assertion
    failure, never a skip.
    """

    program = None          # the executable in the build directory
    log_name = None         # workdir/<log_name>-N.log
    stop_timeout = 5.0      # seconds from SIGTERM to SIGKILL

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        cls._serial = itertools.count(1)

    def __init__(self, build_dir, conf, workdir):
        self.exe = os.path.join(build_dir, self.program)
        assert os.access(self.exe, os.X_OK), "%s not built" % self.exe
        self.conf = conf
        self.workdir = workdir
        self.n = next(self._serial)
        self.log_path = os.path.join(workdir,
                                     "%s-%d.log" % (self.log_name, self.n))
        self.argv = None
        self.proc = None
        self._log = None

    def make_argv(self, spec, user, *options):
        self.argv = [self.exe, "--foreground", "-c", self.conf,
                     "--listen", spec]
        if user is not None:
            self.argv += ["--user", user]
        self.argv += list(options)

    @property
    def pid(self):
        return self.proc.pid

    def start(self, wait_ready=True, timeout=10.0):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            sanitizers.daemon_argv(self.argv, self.workdir),
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            start_new_session=True)
        if wait_ready:
            self.wait_log(r"ready: ", timeout=timeout)
            self.ready(timeout * sanitizers.slow())
        return self

    def ready(self, timeout):
        """What start() waits for after the "ready:" line."""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _check(self):
        if not self.alive():
            raise AssertionError("%s exited (%s):\n%s"
                                 % (self.program, self.proc.returncode,
                                    self.log()))

    def log(self):
        try:
            with open(self.log_path, "r", encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, regex, timeout=10.0, start=0):
        """Wait until the log (from offset start) matches regex."""
        pat = re.compile(regex, re.M)
        found = []

        def pred():
            m = pat.search(self.log()[start:])
            if m:
                found.append(m)
            return bool(m)
        wait_for(pred, timeout=timeout * sanitizers.slow(),
                 what="%s log line /%s/:\n%s"
                 % (self.program, regex, self.log()[-3000:]),
                 check=self._check)
        return found[0]

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self):
        """Stop the daemon; a sanitizer report or a valgrind finding
        fails the test. Returns the exit status."""
        if self.proc is None:
            return None
        if self._log is None:
            return self.proc.returncode
        kill_group(self.proc, term_timeout=self.stop_timeout *
                   sanitizers.slow())
        self._log.close()
        self._log = None
        report = SANITIZER_RE.search(self.log())
        assert report is None, "sanitizer report:\n%s" % self.log()[-5000:]
        report = sanitizers.process_reports(self.proc.pid)
        assert report == "", "sanitizer report:\n%s" % report[-8000:]
        sanitizers.check_valgrind(self.proc.pid, self.workdir,
                                  self.program, self.proc.returncode)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
