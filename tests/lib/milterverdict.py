"""milterverdict - one message's verdict from a running mailgrants-milter,
with the MTA's side of the milter protocol (version 6) spoken directly,
so that tests of the milter's own state (its replica broken and mended)
need no Postfix:

    mv = MilterVerdict(socket_path)
    mv.verdict("sandra.schuster@abc.com",
               [("From", "peter.mueller@abc.com")])
    -> ("y", "550 5.7.1 From: ...") or ("a", "")

The client offers every protocol step and no-reply to be left out, as
Postfix does, and honours what the milter asks for; each verdict() is
one connection (MAIL FROM macros, the header fields, the end of the
headers), as smtpd makes one per session.
"""

import socket
import struct

import sanitizers


class MilterVerdict:
    """A running milter's verdicts (see the module's docstring)."""

    # Every step and no-reply the milter may ask to leave out (SMFIP_*).
    PROTOCOL_OFFER = 0x1FFFFF
    NR_MAIL, NR_HDR = 0x4000, 0x80

    def __init__(self, socket_path, timeout=10.0):
        self.socket_path = socket_path
        self.timeout = timeout * sanitizers.slow()

    @staticmethod
    def _send(sock, cmd, data=b""):
        sock.sendall(struct.pack(">I", len(data) + 1) + cmd + data)

    @staticmethod
    def _recv(sock):

        def exactly(n):
            buf = b""
            while len(buf) < n:
                chunk = sock.recv(n - len(buf))
                if not chunk:
                    raise AssertionError("milter closed the connection")
                buf += chunk
            return buf
        (n,) = struct.unpack(">I", exactly(4))
        body = exactly(n)
        return body[:1], body[1:]

    def verdict(self, login, headers, sender=None):
        """(reply command, text) at the end of the headers."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.socket_path)
            self._send(s, b"O", struct.pack(">III", 6, 0x1FF,
                                            self.PROTOCOL_OFFER))
            cmd, data = self._recv(s)
            assert cmd == b"O", (cmd, data)
            _, _, proto = struct.unpack(">III", data[:12])
            macros = [b"{auth_authen}", login.encode(),
                      b"{client_addr}", b"192.0.2.25", b"i", b"4QTEST"]
            self._send(s, b"D", b"M" + b"\0".join(macros) + b"\0")
            self._send(s, b"M", b"<%s>\0" % (sender or login).encode())
            if not proto & self.NR_MAIL:
                self._recv(s)
            for name, value in headers:
                self._send(s, b"L", name.encode() + b"\0" +
                           value.encode() + b"\0")
                if not proto & self.NR_HDR:
                    self._recv(s)
            self._send(s, b"N")
            cmd, data = self._recv(s)
            self._send(s, b"Q")
            return cmd.decode(), data.rstrip(b"\0").decode("utf-8",
                                                           "replace")
        finally:
            s.close()
