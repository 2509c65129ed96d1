#!/usr/bin/python3
"""bench-milter-proto - the three milters of bench-milter, without Postfix.

    make bench-milter-proto
    MAILGRANTS_BUILD=build /usr/bin/python3 tests/bench/bench-milter-proto.py \
        [--seconds 3] [--rounds 3] [--clients 8] [--per-connection 1]
        [--hold SECONDS]

bench-milter.py's figures carry Postfix's noise: its own processes
take five to ten times the milter's CPU. This one speaks the milter
protocol to the milters directly, with the packets Postfix sends them
(what they negotiate: OPTNEG, the MAIL FROM macros and MAIL FROM, five
headers, the end-of-header macros and the end of the headers; ABORT
after each message, QUIT after --per-connection messages), from
--clients threads, each waiting for the verdict before the next
message, as smtpd does. The milters: build/trivial-milter (libmilter,
does nothing), build/trivial-milter-raw (the same without libmilter)
and our milter on the bench's replica (load@example.net, whose From:
is its own mailbox: one decision and one log line per message). Each
is loaded --rounds times in rotating order; printed per run and as
medians: verdicts per second (the client, in Python, limits it for
the fast ones) and the CPU time of the milter process per message,
from /proc: the figure to compare.

--hold SECONDS loads our milter once more for that long and prints its
process id first, for a profiler to attach:
    perf record -a --call-graph dwarf -- sleep 10
    perf report --pid PID
(-a: libmilter starts a thread per connection, which perf -p misses).
A benchmark: it fails only on a wrong verdict or a broken connection.
"""

import argparse
import os
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
sys.path.insert(0, HERE)

from daemonutil import kill_group, unix_open, wait_for  # noqa: E402
from smtpbench import auth_stack, median, stop_parts  # noqa: E402

LOGIN = "load@example.net"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def example_net():
    """bench-milter.py's company with the load user (one source)."""
    with open(os.path.join(HERE, "bench-milter.py")) as f:
        text = f.read()
    return text.split('EXAMPLE_NET = """\\\n')[1].split('"""')[0]


def packet(cmd, *strings):
    """One milter packet: length, command letter, NUL-ended strings."""
    data = b"".join(s.encode() + b"\x00" for s in strings)
    return struct.pack("!I", len(data) + 1) + cmd + data


def read_packet(sock):
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("the milter closed the connection")
            buf += chunk
        return buf
    (length,) = struct.unpack("!I", exact(4))
    data = exact(length)
    return data[:1], data[1:]


# An offer as Postfix makes it (protocol 6, its nine actions; here every
# step bit: each milter takes the ones it wants) and one message as
# Postfix sends it to a milter that negotiated what ours does.
OPTNEG = struct.pack("!I", 13) + b"O" + struct.pack("!III", 6, 0x1ff,
                                                    0x1fffff)
MESSAGE = b"".join([
    packet(b"D", "M{auth_authen}", LOGIN, "{client_addr}", "127.0.0.1",
           "i", "4QLOAD"),
    packet(b"M", "<%s>" % LOGIN, "SIZE=1024"),
    packet(b"L", "From", "Load <%s>" % LOGIN),
    packet(b"L", "To", "someone@abc.com"),
    packet(b"L", "Subject", "load"),
    packet(b"L", "Date", "Sat, 5 Dec 2026 12:00:00 +0000"),
    packet(b"L", "Message-ID", "<1@example.net>"),
    packet(b"D", "Ni", "4QLOAD"),
    packet(b"N"),
])


def client(path, per_connection, stop, done, errors):
    """Messages on connections of per_connection messages each."""
    try:
        while not stop.is_set():
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(30)
                s.connect(path)
                s.sendall(OPTNEG)
                if read_packet(s)[0] != b"O":
                    raise RuntimeError("no OPTNEG reply")
                for _ in range(per_connection):
                    s.sendall(MESSAGE)
                    verdict = read_packet(s)
                    if verdict != (b"a", b""):
                        raise RuntimeError("verdict %r, not accept"
                                           % (verdict,))
                    s.sendall(packet(b"A"))
                    done[0] += 1
                s.sendall(packet(b"Q"))
    except Exception as e:  # reported by the caller
        errors.append(e)
        stop.set()


def cpu_ticks(pid):
    """utime + stime of a process, all its threads."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def load(path, pid, args, seconds):
    """(verdicts per second, milter CPU us per message) of one run."""
    stop = threading.Event()
    done = [[0] for _ in range(args.clients)]
    errors = []
    threads = [threading.Thread(target=client,
                                args=(path, args.per_connection, stop,
                                      done[i], errors))
               for i in range(args.clients)]
    t0, w0 = cpu_ticks(pid), time.monotonic()
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("milter pid %d: %s" % (pid, errors[0]))
    n = sum(d[0] for d in done)
    if n == 0:
        raise RuntimeError("milter pid %d: no verdict" % pid)
    return (n / (time.monotonic() - w0),
            (cpu_ticks(pid) - t0) / CLK_TCK * 1e6 / n)


def start(build, wd, exe):
    """build/EXE on a socket of its own; the process."""
    path = os.path.join(wd, exe + ".sock")
    proc = subprocess.Popen([os.path.join(build, exe), "unix:" + path],
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wait_for(lambda: unix_open(path), 10, what=exe + " socket")
    return proc, path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--per-connection", type=int, default=1)
    ap.add_argument("--hold", type=float, default=0.0)
    args = ap.parse_args()
    if min(args.rounds, args.clients, args.per_connection) < 1:
        ap.error("--rounds, --clients and --per-connection must be "
                 "positive")
    build = os.path.abspath(os.environ.get("MAILGRANTS_BUILD",
                                           os.path.join(REPO, "build")))
    parts = []
    try:
        stack, _, _ = auth_stack(build, example_net(), LOGIN,
                                 "load-bench-password", "mg-bench-proto-",
                                 parts)
        trivial, trivial_path = start(build, stack.wd, "trivial-milter")
        parts.append(lambda: kill_group(trivial))
        raw, raw_path = start(build, stack.wd, "trivial-milter-raw")
        parts.append(lambda: kill_group(raw))
        milter = stack.milter
        setups = [("trivial", trivial_path, trivial.pid),
                  ("raw", raw_path, raw.pid),
                  ("milter", milter.socket_path, milter.pid)]
        print("bench-milter-proto: %d clients, %d message(s) per "
              "connection, %.0f s per run, %d rounds"
              % (args.clients, args.per_connection, args.seconds,
                 args.rounds), flush=True)
        for _, path, pid in setups:         # warm up
            load(path, pid, args, 0.5)
        before = milter.log().count(" reason=own_mailbox")
        runs = {name: [] for name, _, _ in setups}
        for k in range(args.rounds):
            for name, path, pid in setups[k % 3:] + setups[:k % 3]:
                mps, us = load(path, pid, args, args.seconds)
                runs[name].append((mps, us))
                print("%-8s %9.0f verdicts/s %8.1f us/msg" % (name, mps, us),
                      flush=True)
        for name, rs in runs.items():
            print("median %-8s %9.0f verdicts/s %8.1f us/msg of the "
                  "milter's CPU" % (name, median([r[0] for r in rs]),
                                     median([r[1] for r in rs])))
        if milter.log().count(" reason=own_mailbox") == before:
            raise RuntimeError("our milter decided nothing")
        if args.hold > 0:
            print("hold: our milter, pid %d, for %.0f s"
                  % (milter.pid, args.hold), flush=True)
            mps, us = load(milter.socket_path, milter.pid, args, args.hold)
            print("hold: %9.0f verdicts/s %8.1f us/msg" % (mps, us))
        return 0
    finally:
        stop_parts(parts, "bench-milter-proto")


if __name__ == "__main__":
    sys.exit(main())
