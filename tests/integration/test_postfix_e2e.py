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

Issue "the refusal blamed the recipient": on the submission service
(smtpd_delay_reject = no, as postfix-policyd/master.cf.snippet ships
it) the refusal is the reply to MAIL FROM itself, so that mail clients
say the sender is wrong; a permitted sender gets 250 there and the
message goes through; the daemon is asked once per message, not once
per recipient; a replica that cannot answer still means a temporary
error (at RCPT TO), never a permit. Port 25 keeps smtpd_delay_reject =
yes: its optional check answers at RCPT TO. Sessions are driven with
smtplib, which shows the reply to each command.
"""

import contextlib
import os
import re
import smtplib
import subprocess
import time
import uuid

import pytest

from daemonutil import wait_for
from example import PASSWORDS
from stack import Stack

SWAKS = "/usr/bin/swaks"
SHARED_TEXT = ("<peter.mueller@abc.com>: mailbox shared with you "
               "for reading only")


class E2EStack(Stack):
    """slapd (fixture) + replica + policyd + Dovecot auth + sink + Postfix
    (tests/lib/stack.py, without the milter)."""

    def __init__(self, slapd, build_dir):
        # The daemon's group as nobody: it can read the replica (and
        # its -wal and -shm) of every sync.
        super().__init__(slapd, build_dir, prefix="mg-e2e-", milter=False,
                         replica_group="nogroup")

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
                     "--auth-password", PASSWORDS[login]]
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
    with contextlib.closing(E2EStack(slapd, build_dir)) as s:
        yield s


def accepted(stack, rc, out):
    assert rc == 0, "swaks failed:\n%s\n%s" % (out, stack.diagnostics())
    assert re.search(r"<-  250 2\.0\.0 Ok: queued as", out), out


def rejected_at_mail(stack, rc, out, command="MAIL FROM"):
    """The sender was refused: a 5xx reply to command (MAIL FROM on the
    submission service, smtpd_delay_reject = no; RCPT TO on port 25,
    Postfix's default smtpd_delay_reject = yes), and no DATA."""
    assert rc != 0, "accepted:\n%s\n%s" % (out, stack.diagnostics())
    m = re.search(r"<\*\* (5\d\d .*)", out)
    assert m, "no 5xx reply:\n%s" % out
    assert out.index(m.group(0)) > out.index(" -> MAIL FROM:")
    lines = out.splitlines()
    i = lines.index(m.group(0))
    assert lines[i - 1].startswith(" -> %s:" % command), (command, out)
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
    stack.pf.wait_log(r"NOQUEUE: reject: MAIL from .*"
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
    reply = rejected_at_mail(stack, rc, out, command="RCPT TO")
    assert "5.7.1 <info@abc.com>" in reply, reply
    stack.policyd.wait_log(r"action=reject login=- sender=<info@abc\.com>")
    # Port 25 keeps smtpd_delay_reject = yes: MAIL FROM is accepted and
    # the optional check answers the RCPT TO, as main.cf.snippet says.
    assert re.search(r" -> MAIL FROM:<info@abc\.com>\n<-  250 ", out), out
    assert re.search(r" -> RCPT TO:<kunde@example\.net>\n<\*\* 554 5\.7\.1 "
                     r"<info@abc\.com>", out), out


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


# -- the refusal answers MAIL FROM on submission (smtplib) ---------------

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SANDRA, ANNA = "sandra.schuster@abc.com", "anna.schmidt@xyz.org"


def submission(stack, login=None):
    """An smtplib session on the submission service, logged in as login."""
    s = smtplib.SMTP("127.0.0.1", stack.pf.submission_port, timeout=30)
    s.ehlo("client.example.net")
    if login:
        s.login(login, PASSWORDS[login])
    return s


def body(tag):
    return ("From: <x@example.net>\r\nTo: <kunde@example.net>\r\n"
            "Subject: %s\r\n\r\nhello\r\n" % tag).encode()


def policy_lines(stack, sender):
    return [line for line in stack.policyd.log().splitlines()
            if "sender=<%s>" % sender in line]


def shipped_services(name="master.cf.snippet"):
    """{service: {option: value}} of the -o lines in a shipped snippet."""
    services, current = {}, None
    with open(os.path.join(REPO, "postfix-policyd", name)) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            if not line[0].isspace():
                current = services.setdefault(line.split()[0], {})
            elif line.strip().startswith("-o ") and current is not None:
                key, _, value = line.strip()[3:].partition("=")
                current[key.strip()] = value.strip()
    return services


def test_shipped_submission_services_answer_at_mail_from(stack):
    """The snippet says smtpd_delay_reject = no on both submission
    services, with the client and HELO restrictions (then run before
    AUTH) empty; the test Postfix has the same, so the tests below check
    what the snippet does."""
    services = shipped_services()
    assert set(services) >= {"submission", "submissions"}, services
    for name in ("submission", "submissions"):
        o = services[name]
        assert o.get("smtpd_delay_reject") == "no", (name, o)
        assert o.get("smtpd_client_restrictions") == "", (name, o)
        assert o.get("smtpd_helo_restrictions") == "", (name, o)
        assert o.get("smtpd_sender_restrictions") == \
            "$mailgrants_sender_restrictions", (name, o)
        assert o.get("smtpd_relay_restrictions") == \
            "permit_sasl_authenticated,reject", (name, o)
    ours = stack.pf._smtpd_opts(True)
    for key in ("smtpd_delay_reject", "smtpd_client_restrictions",
                "smtpd_helo_restrictions"):
        assert ours[key] == services["submission"][key], key
    # Port 25 is left alone (Postfix's default smtpd_delay_reject = yes).
    assert "smtpd_delay_reject" not in stack.pf._smtpd_opts(False)


@pytest.mark.parametrize("login,sender,text", [
    (SANDRA, "peter.mueller@abc.com",
     "<peter.mueller@abc.com>: Sender address rejected: "
     "<peter.mueller@abc.com>: mailbox shared with you for reading only"),
    (SANDRA, "jana.meier@abc.com",
     "<jana.meier@abc.com>: Sender address rejected: <jana.meier@abc.com>: "),
    (ANNA, "info@abc.com",
     "<info@abc.com>: Sender address rejected: <info@abc.com>: "),
])
def test_refusal_is_the_reply_to_mail_from(stack, login, sender, text):
    s = submission(stack, login)
    try:
        code, reply = s.mail(sender)
        reply = reply.decode("utf-8", "replace")
        assert code == 554, (code, reply, stack.diagnostics())
        assert reply.startswith("5.7.1 " + text), reply
        # Nothing of the transaction is left: RCPT TO has no MAIL.
        code, reply = s.rcpt("kunde@example.net")
        assert code == 503, (code, reply)
        # The session goes on: the same login sends as its own address.
        s.rset()
        tag = "mg-e2e-%s" % uuid.uuid4().hex
        own = login
        assert s.mail(own)[0] == 250
        assert s.rcpt("kunde@example.net")[0] == 250
        code, reply = s.data(body(tag))
        assert code == 250, (code, reply)
    finally:
        s.quit()
    assert stack.delivered(tag)["mail_from"] == own
    stack.pf.wait_log(r"NOQUEUE: reject: MAIL from \S+: 554 5\.7\.1 %s"
                      % re.escape(text))
    stack.policyd.wait_log(r"action=reject login=%s sender=<%s>"
                           % (re.escape(login), re.escape(sender)))


@pytest.mark.parametrize("sender", ["makler@abc.com", "info@abc.com"])
def test_permitted_sender_gets_250_at_mail_from(stack, sender):
    tag = "mg-e2e-%s" % uuid.uuid4().hex
    s = submission(stack, SANDRA)
    try:
        code, reply = s.mail(sender)
        assert code == 250, (code, reply, stack.diagnostics())
        assert s.rcpt("kunde@example.net")[0] == 250
        code, reply = s.data(body(tag))
        assert code == 250, (code, reply)
    finally:
        s.quit()
    msg = stack.delivered(tag)
    assert msg["mail_from"] == sender
    assert msg["rcpt_to"] == ["kunde@example.net"]


def test_daemon_is_asked_once_per_message(stack):
    """At MAIL FROM the check runs once, not again for each RCPT TO."""
    sender = "makler+%s@abc.com" % uuid.uuid4().hex[:12]
    rcpts = ["a@example.net", "b@example.net", "c@example.net"]
    tag = "mg-e2e-%s" % uuid.uuid4().hex
    s = submission(stack, SANDRA)
    try:
        assert s.mail(sender)[0] == 250
        for r in rcpts:
            assert s.rcpt(r)[0] == 250
        assert s.data(body(tag))[0] == 250
    finally:
        s.quit()
    assert sorted(stack.delivered(tag)["rcpt_to"]) == rcpts
    lines = policy_lines(stack, sender)
    assert len(lines) == 1, lines
    assert "action=dunno login=sandra.schuster@abc.com" in lines[0]


def test_unauthenticated_local_sender_refused_at_mail_from(stack):
    s = submission(stack)
    try:
        code, reply = s.mail("info@abc.com")
        assert code == 554, (code, reply)
        assert reply.startswith(b"5.7.1 <info@abc.com>: Sender address "
                                b"rejected: <info@abc.com>: authentication "
                                b"required"), reply
        # A foreign sender is not the policy daemon's to refuse (the
        # shipped smtpd_relay_restrictions refuse it at RCPT TO).
        s.rset()
        assert s.mail("someone@example.net")[0] == 250
    finally:
        s.quit()


def test_unavailable_replica_defers_at_rcpt_never_permits(stack):
    """DEFER_IF_PERMIT at MAIL FROM: Postfix keeps it and answers the
    RCPT TO with 450 (smtpd_relay_restrictions would permit); nothing is
    accepted unchecked. Runs last: it spoils the replica and syncs it
    back."""
    tag = "mg-e2e-%s" % uuid.uuid4().hex
    # Garbage in place of the replica, as a bad restore would leave it.
    garbage = stack.db + ".restore"
    with open(garbage, "wb") as f:
        f.write(os.urandom(os.path.getsize(stack.db)))
    os.chmod(garbage, 0o644)
    os.rename(garbage, stack.db)
    try:
        wait_for(lambda: stack.policyd.ask(SANDRA, "makler@abc.com")
                 .startswith("DEFER_IF_PERMIT 4.3.0"), 10,
                 what="DEFER_IF_PERMIT without a replica")
        s = submission(stack, SANDRA)
        try:
            code, reply = s.mail("makler@abc.com")
            assert code == 250, (code, reply)
            code, reply = s.rcpt("kunde@example.net")
            assert code == 450, (code, reply, stack.diagnostics())
            assert reply.startswith(b"4.3.0 <makler@abc.com>: Sender "
                                    b"address rejected: the sender check "
                                    b"is temporarily unavailable"), reply
            code, reply = s.docmd("DATA")
            assert code == 554, (code, reply)     # no valid recipients
        finally:
            s.quit()
    finally:
        # The next sync writes it anew, and the daemon follows.
        stack.sync()
    wait_for(lambda: stack.policyd.ask(SANDRA, "makler@abc.com") == "DUNNO",
             10, what="the replica back")
    time.sleep(0.5)
    assert not [m for m in stack.sink.messages
                if ("Subject: %s" % tag).encode() in m["data"]]
