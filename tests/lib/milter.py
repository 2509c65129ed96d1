"""milter - a mailgrants-milter runner for tests and benchmarks.

    from milter import Milter

    with Milter(build_dir, conf, workdir) as m:         # unix socket
        Postfix(..., milter=m.postfix_spec)
        m.wait_log(r"action=reject login=sandra")

Milter(build_dir, conf, workdir, listen="unix"|"inet", user="nobody",
       socket_path=None, extra=(), start=True)
    runs build/mailgrants-milter --foreground -c conf --listen SPEC
    --user user as a child in its own session, standard error to
    workdir/milter-N.log. listen="unix" uses socket_path (default
    workdir/milter-N.sock; give the same path to restart a milter
    where Postfix expects it); "inet" a free loopback port.
    Attributes: proc, pid, log_path, socket_path or port, spec (the
    libmilter form), postfix_spec (the smtpd_milters form). Methods:
    those of daemonutil.Daemon: start() (waits for "ready:" and the
    socket), stop() with the sanitizer checks, log(), wait_log(regex,
    timeout, start) -> match, alive().

On SIGTERM libmilter's listener notices the stop only when its poll()
on the listening socket times out (MI_CHK_TIME, 5 s, with its lock
held): stop() waits up to 10 s for the milter to exit by itself.

With MAILGRANTS_VALGRIND=1 the milter runs under valgrind memcheck and
its waits are longer by sanitizers.slow() (tests/lib/sanitizers.py).

MilterClient(unix_path) speaks the MTA's side of the protocol to a
running milter, for macro values Postfix would never send (see its
docstring).

A missing binary is an assertion failure, never a skip.
"""

import os
import socket
import struct

import sanitizers
from daemonutil import Daemon, free_port, port_open, unix_open, wait_for


class Milter(Daemon):
    """A mailgrants-milter child process for one test (daemonutil.Daemon)."""

    program = "mailgrants-milter"
    log_name = "milter"
    # libmilter notices SIGTERM only after its poll() times out (5 s).
    stop_timeout = 10.0

    def __init__(self, build_dir, conf, workdir, listen="unix",
                 user="nobody", socket_path=None, extra=(), start=True):
        super().__init__(build_dir, conf, workdir)
        self.socket_path = None
        self.port = None
        if listen == "unix":
            self.socket_path = socket_path or os.path.join(
                workdir, "milter-%d.sock" % self.n)
            self.spec = "unix:" + self.socket_path
            self.postfix_spec = self.spec
        elif listen == "inet":
            self.port = free_port()
            self.spec = "inet:%d@127.0.0.1" % self.port
            self.postfix_spec = "inet:127.0.0.1:%d" % self.port
        else:
            raise ValueError("listen must be unix or inet")
        self.make_argv(self.spec, user, *extra)
        if start:
            self.start()

    def ready(self, timeout):
        if self.socket_path is not None:
            wait_for(lambda: unix_open(self.socket_path), timeout,
                     what="milter socket %s" % self.socket_path,
                     check=self._check)
        else:
            wait_for(lambda: port_open(self.port), timeout,
                     what="milter port %d" % self.port, check=self._check)


class MilterClient:
    """The MTA side of the milter protocol (version 6), spoken to a real
    mailgrants-milter over its socket: what Postfix would send, with the
    macros the test chooses, including values Postfix itself would not
    send (an empty {auth_authen}).

        with MilterClient(path) as c:
            verdict = c.message({"{auth_authen}": ""}, "<a@b.c>",
                                [("From", "x@y.z")])

    message() runs one message from CONNECT to the end of the message
    and returns the first final reply: ("accept", ""), ("reject", ""),
    ("tempfail", ""), ("reply", "550 5.7.1 ...") or ("continue", "")
    when every step only said continue. The client offers no protocol
    steps to leave out and no actions, so the milter answers every
    step. A reply the protocol does not know fails the test.
    """

    VERSION = 6

    def __init__(self, unix_path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(unix_path)
        self._send(b"O", struct.pack(">III", self.VERSION, 0, 0))
        cmd, data = self._read()
        assert cmd == b"O" and len(data) >= 12, (cmd, data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.sock is not None:
            try:
                self._send(b"Q", b"")
            except OSError:
                pass
            self.sock.close()
            self.sock = None

    def _send(self, cmd, data):
        self.sock.sendall(struct.pack(">I", len(data) + 1) + cmd + data)

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            assert chunk, "milter closed the connection"
            buf += chunk
        return buf

    def _read(self):
        (length,) = struct.unpack(">I", self._recv_exact(4))
        body = self._recv_exact(length)
        return body[:1], body[1:]

    def _step(self, cmd, data):
        """Send one step and read its reply (progress notes skipped)."""
        self._send(cmd, data)
        while True:
            reply, data = self._read()
            if reply != b"p":
                break
        final = {b"a": "accept", b"r": "reject", b"t": "tempfail",
                 b"d": "discard"}
        if reply == b"c":
            return None
        if reply in final:
            return (final[reply], "")
        if reply == b"y":
            return ("reply", data.rstrip(b"\0").decode("utf-8", "replace"))
        raise AssertionError("unexpected milter reply %r %r" % (reply, data))

    @staticmethod
    def _z(*parts):
        return b"".join(p.encode("utf-8") + b"\0" for p in parts)

    def message(self, mail_macros, sender, headers,
                rcpt="<kunde@example.net>"):
        steps = [
            (b"C", self._z("client.example.net") + b"4" +
             struct.pack(">H", 45678) + self._z("192.0.2.10")),
            (b"H", self._z("client.example.net")),
        ]
        macros = b"M" + b"".join(self._z(k, v)
                                 for k, v in mail_macros.items())
        steps.append((b"M", self._z(sender)))
        steps.append((b"R", self._z(rcpt)))
        steps += [(b"L", self._z(name, value)) for name, value in headers]
        steps += [(b"N", b""), (b"B", b"Hallo\r\n"), (b"E", b"")]
        for cmd, data in steps:
            if cmd == b"M":
                self._send(b"D", macros)   # macros get no reply
            verdict = self._step(cmd, data)
            if verdict is not None:
                return verdict
        return ("continue", "")


def milter_verdict(socket_path, login, headers, sender=None):
    """One message's verdict from a running milter on a connection of
    its own, as smtpd makes one per session: ("a", "") when it lets the
    message through, ("y", "550 5.7.1 ...") for a reply, ("t", "") for a
    tempfail, ("r", "") for a reject."""
    with MilterClient(socket_path, timeout=10.0 * sanitizers.slow()) as c:
        verdict, text = c.message({"{auth_authen}": login, "i": "4QTEST"},
                                  "<%s>" % (sender or login), headers)
    return {"accept": "a", "continue": "a", "reply": "y",
            "tempfail": "t", "reject": "r", "discard": "d"}[verdict], text

