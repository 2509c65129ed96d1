"""policyd - a Postfix policy protocol client and a mailgrants-policyd runner.

    from policyd import PolicyClient, Policyd, postfix_request

    with Policyd(build_dir, conf, workdir) as d:        # unix socket
        with d.client() as c:
            c.ask(login="sandra.schuster@abc.com", sender="makler@abc.com")
            # -> "DUNNO"

postfix_request(login, sender, **attrs) -> bytes
    a request as Postfix 3.7's smtpd sends it (29 attributes, ~640
    bytes), with sasl_username=login and sender=sender; attrs override
    or add attributes (None drops one).

PolicyClient(unix=PATH | inet=(host, port) | sock=socket, timeout=10)
    send(bytes), ask(login, sender, **attrs) -> the reply's action text
    ("DUNNO", "REJECT 5.7.1 ..."), read_reply() -> action text, or None
    when the server closed the connection instead of replying;
    read_until_closed(timeout) -> every byte until EOF (raises
    socket.timeout if the server keeps it open), close().

Policyd(build_dir, conf, workdir, listen="unix"|"inet", user="nobody",
        timeout=None, extra=(), start=True, wait_ready=True)
    runs build/mailgrants-policyd --foreground -c conf --listen ...
    --user user as a child in its own session, standard error to
    workdir/policyd-N.log. Attributes: proc, pid, log_path, socket_path
    (unix) or port (inet). Methods: those of daemonutil.Daemon
    (start(), stop() with the sanitizer checks, log(), wait_log(),
    signal(), alive()), and client(), ask(login, sender) (one request
    on a new connection).

run_stdio(build_dir, conf, data, user="nobody", timeout=10, extra=())
    runs mailgrants-policyd --stdio --foreground with data on standard
    input; returns (returncode, stdout bytes, stderr text).

With MAILGRANTS_VALGRIND=1 the daemon runs under valgrind memcheck and
its waits are longer by sanitizers.slow() (tests/lib/sanitizers.py).

A missing binary is an assertion failure, never a skip.
"""

import os
import socket
import subprocess

import sanitizers
from daemonutil import SANITIZER_RE, Daemon, free_port

POSTFIX_37_ATTRS = [
    ("request", "smtpd_access_policy"),
    ("protocol_state", "RCPT"),
    ("protocol_name", "ESMTP"),
    ("client_address", "192.0.2.10"),
    ("client_name", "client.example.net"),
    ("client_port", "45678"),
    ("reverse_client_name", "client.example.net"),
    ("server_address", "192.0.2.1"),
    ("server_port", "587"),
    ("helo_name", "[192.0.2.10]"),
    ("sender", ""),
    ("recipient", "kunde@example.net"),
    ("recipient_count", "0"),
    ("queue_id", ""),
    ("instance", "3f1.6650a1b2.c3d4e.0"),
    ("size", "0"),
    ("etrn_domain", ""),
    ("stress", ""),
    ("sasl_method", "PLAIN"),
    ("sasl_username", ""),
    ("sasl_sender", ""),
    ("ccert_subject", ""),
    ("ccert_issuer", ""),
    ("ccert_fingerprint", ""),
    ("ccert_pubkey_fingerprint", ""),
    ("encryption_protocol", "TLSv1.3"),
    ("encryption_cipher", "TLS_AES_256_GCM_SHA384"),
    ("encryption_keysize", "256"),
    ("policy_context", ""),
]


def postfix_request(login, sender, **attrs):
    """A Postfix 3.7 smtpd_access_policy request as bytes."""
    values = dict(POSTFIX_37_ATTRS)
    values["sasl_username"] = login or ""
    values["sasl_method"] = "PLAIN" if login else ""
    values["sender"] = sender or ""
    values.update(attrs)
    lines = ["%s=%s\n" % (k, v) for k, v in values.items() if v is not None]
    return ("".join(lines) + "\n").encode("utf-8")


class PolicyClient:
    """One connection speaking the policy delegation protocol."""

    def __init__(self, unix=None, inet=None, sock=None, timeout=10.0):
        if sock is None:
            if unix is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(timeout)
                sock.connect(unix)
            else:
                sock = socket.create_connection(inet, timeout=timeout)
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send(self, data):
        self.sock.sendall(data)

    def read_reply(self):
        """The next reply's action text, or None at EOF (no reply)."""
        while b"\n\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                assert self.buf == b"", "half a reply: %r" % self.buf
                return None
            self.buf += chunk
        reply, self.buf = self.buf.split(b"\n\n", 1)
        text = reply.decode("utf-8")
        assert "\n" not in text, "reply of more than one line: %r" % text
        assert text.startswith("action="), "not an action: %r" % text
        return text[len("action="):]

    def ask(self, login, sender, **attrs):
        self.send(postfix_request(login, sender, **attrs))
        reply = self.read_reply()
        assert reply is not None, "server closed the connection"
        return reply

    def read_until_closed(self, timeout=10.0):
        """Everything the server sends until it closes the connection."""
        self.sock.settimeout(timeout)
        data = self.buf
        self.buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        return data


class Policyd(Daemon):
    """A mailgrants-policyd child process for one test (daemonutil.Daemon)."""

    program = "mailgrants-policyd"
    log_name = "policyd"

    def __init__(self, build_dir, conf, workdir, listen="unix",
                 user="nobody", timeout=None, extra=(), start=True,
                 wait_ready=True):
        super().__init__(build_dir, conf, workdir)
        self.socket_path = None
        self.port = None
        if listen == "unix":
            self.socket_path = os.path.join(workdir,
                                            "policy-%d.sock" % self.n)
            self.spec = "unix:" + self.socket_path
        elif listen == "inet":
            self.port = free_port()
            self.spec = "inet:127.0.0.1:%d" % self.port
        else:
            self.spec = listen
        opts = [] if timeout is None else ["--timeout", str(timeout)]
        self.make_argv(self.spec, user, *opts, *extra)
        if start:
            self.start(wait_ready=wait_ready)

    def client(self, timeout=10.0):
        if self.socket_path is not None:
            return PolicyClient(unix=self.socket_path, timeout=timeout)
        return PolicyClient(inet=("127.0.0.1", self.port), timeout=timeout)

    def ask(self, login, sender, **attrs):
        with self.client() as c:
            return c.ask(login, sender, **attrs)

    INDEX_RE = r"index of generation ([0-9a-f]+) in memory"

    def wait_index(self, start=0, timeout=10.0):
        """Wait until the daemon decides from its index of the replica
        (replica_index, the default): the build starts with the first
        pass of the loop, so a request is sent first. The generation."""
        self.ask("", "")
        m = self.wait_log(self.INDEX_RE, timeout=timeout, start=start)
        return m.group(1)


def run_stdio(build_dir, conf, data, user="nobody", timeout=10, extra=()):
    """mailgrants-policyd --stdio on data; (returncode, stdout, stderr).
    A sanitizer report on standard error fails the test."""
    exe = os.path.join(build_dir, "mailgrants-policyd")
    assert os.access(exe, os.X_OK), "%s not built" % exe
    argv = [exe, "--stdio", "--foreground", "-c", conf] + list(extra)
    if user is not None:
        argv += ["--user", user]
    workdir = os.path.dirname(os.path.abspath(conf))
    with subprocess.Popen(sanitizers.daemon_argv(argv, workdir),
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as p:
        try:
            out, errb = p.communicate(data,
                                      timeout=timeout * sanitizers.slow())
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise
    err = errb.decode("utf-8", "replace")
    assert SANITIZER_RE.search(err) is None, "sanitizer report:\n" + err
    report = sanitizers.process_reports(p.pid)
    assert report == "", "sanitizer report:\n" + report
    sanitizers.check_valgrind(p.pid, workdir, "mailgrants-policyd --stdio",
                              p.returncode)
    return p.returncode, out, err

