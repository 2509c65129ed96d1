"""daemonutil - small helpers for running private server instances in tests.

free_port()            a free TCP port on 127.0.0.1 (bound, then released)
wait_for(pred, ...)    poll a predicate until it is true or a deadline passes
port_open(port)        True when 127.0.0.1:port accepts a connection
unix_open(path)        True when the UNIX socket at path accepts a connection
make_workdir(prefix)   a fresh temporary directory that unprivileged
                       daemon users (postfix, dovecot, dovenull) can enter
kill_group(proc)       TERM, then KILL, the process group a Popen started
                       with start_new_session=True (only that group)
tail(path, n)          the last n lines of a log file, for error messages
"""

import os
import signal
import socket
import subprocess
import tempfile
import time


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


def kill_group(proc, term_timeout=5.0):
    """Stop proc (started with start_new_session) and its process group.

    SIGTERM to the leader first (a master process then stops its own
    children cleanly), then SIGTERM and finally SIGKILL to whatever is
    left of the group. Only the group whose id is proc.pid is signalled:
    nothing else on the machine.
    """
    if proc is None:
        return
    pgid = proc.pid
    if proc.poll() is None:
        try:
            proc.terminate()
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=term_timeout)
        except subprocess.TimeoutExpired:
            pass
    for sig, wait in ((signal.SIGTERM, 1.0), (signal.SIGKILL, term_timeout)):
        deadline = time.monotonic() + wait
        while True:
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                break
            if time.monotonic() > deadline:
                try:
                    os.killpg(pgid, sig)
                except ProcessLookupError:
                    pass
                break
            time.sleep(0.02)
    try:
        proc.wait(timeout=term_timeout)
    except subprocess.TimeoutExpired:
        pass


def tail(path, n=40):
    """The last n lines of a text file, or a note that it is missing."""
    try:
        with open(path, "r", errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return "(%s: %s)" % (path, e.strerror)
