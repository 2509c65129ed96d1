"""End to end: Postfix asks mailgrants-policyd who may send as whom.

The whole chain with real servers on loopback, set up once for the file:
slapd with the example directory (ldap-schema/examples/abc.ldif) ->
`mailgrants sync --once` -> the replica -> mailgrants-policyd (unix
socket) <- Postfix's smtpd (check_policy_service in
smtpd_sender_restrictions), which authenticates through Dovecot's auth
socket (passdb LDAP, auth_bind) and relays what it accepts to a sink
(tests/lib/postfix.py SmtpSink). Mail is submitted with swaks.

DESIGN §6 / issue 3:
- Sandra may send as makler@ (her own private mailbox) and info@ (the
  company mailbox of abc.com): accepted, and the sink receives it;
- Sandra may not send as peter.mueller@ (shared with her for reading
  only): rejected with 5.7.1 and the text saying so;
- Anna (xyz.org) may not send as info@abc.com;
- without login, MAIL FROM:<info@abc.com> on the port-25 service is
  rejected; a foreign sender without login is not.
"""

import os
import re
import shutil
import subprocess
import uuid

import pytest

from daemonutil import make_workdir
from dovecot import Dovecot
from policyd import Policyd
from postfix import Postfix, SmtpSink

SWAKS = "/usr/bin/swaks"
USERS = {
    "sandra.schuster@abc.com": "sandra-pw",
    "anna.schmidt@xyz.org": "anna-pw",
}
SHARED_TEXT = ("<peter.mueller@abc.com>: mailbox shared with you "
               "for reading only")


class Stack:
    """slapd (fixture) + replica + policyd + Dovecot auth + sink + Postfix."""

    def __init__(self, slapd, build_dir):
        self.wd = make_workdir("mg-e2e-")
        self.dc = self.policyd = self.sink = self.pf = None
        try:
            self.db = os.path.join(self.wd, "grants.db")
            self.conf = slapd.write_config(
                os.path.join(self.wd, "mailgrants.conf"), replica=self.db,
                # The daemon runs as nobody: the replica (db, -wal,
                # -shm) is nogroup's to read, as an installation gives
                # it to its readers.
                replica_group="nogroup")
            cli = os.path.join(build_dir, "mailgrants")
            assert os.access(cli, os.X_OK), "%s missing" % cli
            r = subprocess.run([cli, "-c", self.conf, "sync", "--once"],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, "sync failed: %s%s" % (r.stdout,
                                                             r.stderr)
            dcdir = os.path.join(self.wd, "dovecot")
            os.makedirs(dcdir)
            os.chmod(dcdir, 0o755)
            self.dc = Dovecot(slapd.uri, slapd.sync_dn, slapd.sync_pw,
                              workdir=dcdir).start()
            self.policyd = Policyd(build_dir, self.conf, self.wd)
            self.sink = SmtpSink().start()
            self.pf = Postfix(relay_port=self.sink.port,
                              sender_check="policy",
                              policy_service="unix:"
                              + self.policyd.socket_path,
                              sasl_path=self.dc.auth_socket).start()
        except BaseException:
            self.close()
            raise

    def close(self):
        for part in (self.pf, self.sink, self.policyd, self.dc):
            if part is not None:
                try:
                    part.stop()
                except Exception:
                    pass
        shutil.rmtree(self.wd, ignore_errors=True)

    def swaks(self, sender, login=None, port=None, to="kunde@example.net"):
        """Submit one message; (exit status, transcript, subject tag)."""
        assert os.access(SWAKS, os.X_OK), "swaks missing (package swaks)"
        tag = "mg-e2e-%s" % uuid.uuid4().hex
        argv = [SWAKS, "--server", "127.0.0.1", "--port",
                str(port or (self.pf.submission_port if login
                             else self.pf.mx_port)),
                "--from", sender, "--to", to,
                "--header", "Subject: %s" % tag,
                "--timeout", "20"]
        if login:
            argv += ["--auth", "PLAIN", "--auth-user", login,
                     "--auth-password", USERS[login]]
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=60)
        return r.returncode, r.stdout + r.stderr, tag

    def delivered(self, tag, timeout=20):
        """The sink's message carrying Subject: tag (waits for it)."""
        def find():
            return [m for m in self.sink.messages
                    if ("Subject: %s" % tag).encode() in m["data"]]
        n = 0
        while not find():
            n += 1
            self.sink.wait_for(n, timeout=timeout)
        return find()[0]

    def diagnostics(self):
        return ("--- maillog ---\n%s\n--- policyd ---\n%s"
                % ("\n".join(self.pf.maillog_text().splitlines()[-20:]),
                   "\n".join(self.policyd.log().splitlines()[-20:])))


@pytest.fixture(scope="module")
def stack(slapd, build_dir):
    s = Stack(slapd, build_dir)
    try:
        yield s
    finally:
        s.close()


def accepted(stack, rc, out):
    assert rc == 0, "swaks failed:\n%s\n%s" % (out, stack.diagnostics())
    assert re.search(r"<-  250 2\.0\.0 Ok: queued as", out), out


def rejected_at_mail(stack, rc, out):
    """The sender was refused: a 5xx to MAIL FROM, or (Postfix's default
    smtpd_delay_reject = yes) to the RCPT TO after it, and no DATA."""
    assert rc != 0, "accepted:\n%s\n%s" % (out, stack.diagnostics())
    m = re.search(r"<\*\* (5\d\d .*)", out)
    assert m, "no 5xx reply:\n%s" % out
    assert out.index(m.group(0)) > out.index(" -> MAIL FROM:")
    assert " -> DATA" not in out, out
    assert "Sender address rejected" in m.group(1), m.group(1)
    assert re.match(r"5\d\d 5\.7\.1 ", m.group(1)), m.group(1)
    return m.group(1)


def test_dovecot_checks_passwords_in_ldap(stack):
    assert stack.dc.auth_test("sandra.schuster@abc.com", "sandra-pw")
    assert not stack.dc.auth_test("sandra.schuster@abc.com", "anna-pw")
    assert stack.dc.auth_test("anna.schmidt@xyz.org", "anna-pw")


def test_wrong_password_is_refused_by_postfix(stack):
    tag = "mg-e2e-wrong-password"
    argv = [SWAKS, "--server", "127.0.0.1", "--port",
            str(stack.pf.submission_port), "--from", "makler@abc.com",
            "--to", "kunde@example.net", "--auth", "PLAIN",
            "--auth-user", "sandra.schuster@abc.com",
            "--auth-password", "not-her-password", "--header",
            "Subject: %s" % tag]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert re.search(r"<\*\* 535 5\.7\.8", r.stdout), r.stdout
    assert " -> MAIL FROM:" not in r.stdout


@pytest.mark.parametrize("sender", ["makler@abc.com", "info@abc.com",
                                    "sandra.schuster@abc.com"])
def test_sandra_sends_as_her_own_and_company_mailboxes(stack, sender):
    rc, out, tag = stack.swaks(sender, login="sandra.schuster@abc.com")
    accepted(stack, rc, out)
    msg = stack.delivered(tag)
    assert msg["mail_from"] == sender
    assert msg["rcpt_to"] == ["kunde@example.net"]
    stack.policyd.wait_log(r"action=dunno login=sandra\.schuster@abc\.com "
                           r"sender=<%s>" % re.escape(sender))


def test_sandra_may_not_send_as_shared_mailbox(stack):
    rc, out, tag = stack.swaks("peter.mueller@abc.com",
                               login="sandra.schuster@abc.com")
    reply = rejected_at_mail(stack, rc, out)
    assert SHARED_TEXT in reply, reply
    stack.policyd.wait_log(r"action=reject login=sandra\.schuster@abc\.com "
                           r"sender=<peter\.mueller@abc\.com>.*"
                           r"reason=shared_read_only")
    stack.pf.wait_log(r"NOQUEUE: reject: RCPT from .*"
                      r"mailbox shared with you for reading only")
    assert not [m for m in stack.sink.messages
                if ("Subject: %s" % tag).encode() in m["data"]]


def test_anna_may_not_send_as_other_company(stack):
    rc, out, tag = stack.swaks("info@abc.com", login="anna.schmidt@xyz.org")
    reply = rejected_at_mail(stack, rc, out)
    assert "5.7.1 <info@abc.com>" in reply, reply
    stack.policyd.wait_log(r"action=reject login=anna\.schmidt@xyz\.org "
                           r"sender=<info@abc\.com>")


def test_unauthenticated_local_sender_rejected_on_port_25(stack):
    rc, out, tag = stack.swaks("info@abc.com", login=None,
                               port=stack.pf.mx_port)
    reply = rejected_at_mail(stack, rc, out)
    assert "5.7.1 <info@abc.com>" in reply, reply
    stack.policyd.wait_log(r"action=reject login=- sender=<info@abc\.com>")


def test_unauthenticated_foreign_sender_passes_on_port_25(stack):
    rc, out, tag = stack.swaks("someone@example.net", login=None,
                               port=stack.pf.mx_port)
    accepted(stack, rc, out)
    assert stack.delivered(tag)["mail_from"] == "someone@example.net"


def test_address_case_and_extension_do_not_matter(stack):
    rc, out, tag = stack.swaks("Makler+Rechnung@ABC.com",
                               login="sandra.schuster@abc.com")
    accepted(stack, rc, out)
    assert stack.delivered(tag)["mail_from"] == "Makler+Rechnung@ABC.com"
