"""mailgrants-milter end to end: Postfix, Dovecot SASL, slapd, the policy daemon.

A private Postfix (tests/lib/postfix.py) whose submission service has
SASL through a private Dovecot (passwords checked against the private
slapd with the abc.com example), check_policy_service on our policy
daemon, and smtpd_milters = our milter with milter_default_action =
tempfail; accepted mail is relayed to an SMTP sink. The replica comes
from "mailgrants sync --once". Messages are sent with swaks, logged in
as the story's users.

Checked: Sandra's own address in MAIL FROM with "From: Peter Müller
<peter.mueller@abc.com>" is rejected with the 5.7.1 text and a log
line; "From: info@abc.com" (company mailbox) and "From: makler@abc.com"
(her own) arrive; her own From: with "Sender: peter.mueller@abc.com" is
rejected; folded and RFC 2047 encoded headers; two addresses in one
From: and two From: fields, one not hers; UTF-8 addresses; an
unreadable From:; no From: at all; unauthenticated mail left alone, also
with an empty {auth_authen} macro (the milter protocol spoken directly:
Postfix does not send one).
With the milter stopped, mail is tempfailed (4xx), neither accepted nor
bounced; with the milter up but its replica missing, 451 4.3.0.

Without Postfix (milter_verdict() of tests/lib/milter.py speaks the
MTA's side to the real milter): every broken replica of tests/lib/
replicafaults.py, in place or replaced, stale or not a file, gives 451
4.3.0 and a readable warning, and the milter recovers without restart.
"""

import contextlib
import os
import re
import shutil
import subprocess
import time
import uuid

import pytest

from daemonutil import make_workdir
import example
from milter import Milter, MilterClient, milter_verdict
from replicafaults import FAULTS, damage, mend
from stack import Stack

SWAKS = "/usr/bin/swaks"

SANDRA = (example.SANDRA, example.PASSWORDS[example.SANDRA])
PETER = (example.PETER, example.PASSWORDS[example.PETER])
RCPT = "kunde@example.net"

SHARED_TEXT = ("550 5.7.1 From: <peter.mueller@abc.com>: mailbox shared "
               "with you for reading only; send from your own address")


@pytest.fixture(scope="module")
def stack(slapd, build_dir):
    # The daemons run as nobody: the replica is nogroup's to read
    # (replica_group), as an installation gives it to its readers.
    with contextlib.closing(Stack(slapd, build_dir, prefix="mg-milter-",
                                  milter=True)) as s:
        yield s


def message(headers, token):
    """A message as bytes: the header lines given, a Subject with the
    token, a Date and a Message-ID, a short body; CRLF line ends."""
    lines = list(headers) + [
        "To: <%s>" % RCPT,
        "Subject: milter test %s" % token,
        "Date: Thu, 27 Nov 2025 10:00:00 +0100",
        "Message-ID: <%s@test.example>" % token,
        "",
        "Hallo,",
        "test %s." % token,
    ]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def send(stack, login, envelope, headers, auth=True):
    """Send one message through the submission service with swaks.

    Returns (token, swaks returncode, swaks transcript)."""
    assert os.access(SWAKS, os.X_OK), "swaks not installed"
    token = uuid.uuid4().hex[:12]
    path = os.path.join(stack.wd, "msg-%s.eml" % token)
    with open(path, "wb") as f:
        f.write(message(headers, token))
    argv = [SWAKS, "--server", "127.0.0.1",
            "--port", str(stack.pf.submission_port),
            "--ehlo", "client.example.net",
            "--from", envelope, "--to", RCPT,
            "--data", "@" + path, "--timeout", "30"]
    if auth:
        argv += ["--auth", "PLAIN", "--auth-user", login[0],
                 "--auth-password", login[1]]
    r = subprocess.run(argv, capture_output=True, timeout=60)
    out = r.stdout.decode("utf-8", "replace") + \
        r.stderr.decode("utf-8", "replace")
    return token, r.returncode, out


def arrived(stack, token, timeout=20.0):
    """True once the sink has the message with this token."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with stack.sink.lock:
            for m in stack.sink.messages:
                if token.encode() in m["data"]:
                    return True
        time.sleep(0.05)
    return False


def in_sink(stack, token):
    with stack.sink.lock:
        return any(token.encode() in m["data"] for m in stack.sink.messages)


def server_replies(out):
    """The server's reply lines in a swaks transcript."""
    return [line[4:].strip() for line in out.splitlines()
            if line.startswith("<** ") or line.startswith("<-  ")]


def assert_accepted(stack, token, rc, out):
    assert rc == 0, out
    assert arrived(stack, token), "message %s not relayed:\n%s" % (token, out)


def assert_rejected(stack, token, rc, out, text):
    assert rc != 0, out
    replies = server_replies(out)
    assert any(r.startswith(text) for r in replies), \
        "no reply %r in:\n%s" % (text, out)
    # Rejected at the end of DATA: nothing queued, nothing relayed.
    assert "Ok: queued" not in out
    time.sleep(0.2)
    assert not in_sink(stack, token)


def test_sandra_from_peter_rejected(stack):
    start = len(stack.milter.log())
    token, rc, out = send(stack, SANDRA, SANDRA[0],
                          ["From: Peter M\u00fcller <peter.mueller@abc.com>"])
    assert_rejected(stack, token, rc, out, SHARED_TEXT)
    stack.milter.wait_log(
        r"action=reject login=sandra\.schuster@abc\.com header=from "
        r"address=<peter\.mueller@abc\.com> client=127\.0\.0\.1 "
        r"queue_id=\S+ reason=shared_read_only$", start=start)


def test_sandra_from_company_mailbox_accepted(stack):
    start = len(stack.milter.log())
    token, rc, out = send(stack, SANDRA, SANDRA[0], ["From: info@abc.com"])
    assert_accepted(stack, token, rc, out)
    stack.milter.wait_log(
        r"action=dunno login=sandra\.schuster@abc\.com header=from "
        r"address=<info@abc\.com> .* reason=company_mailbox$", start=start)


def test_sandra_own_private_mailbox_accepted(stack):
    token, rc, out = send(stack, SANDRA, "makler@abc.com",
                          ["From: ABC Makler <makler@abc.com>",
                           "Sender: Sandra Schuster "
                           "<sandra.schuster@abc.com>"])
    assert_accepted(stack, token, rc, out)


def test_sender_header_of_peter_rejected(stack):
    start = len(stack.milter.log())
    token, rc, out = send(stack, SANDRA, SANDRA[0],
                          ["From: Sandra Schuster <sandra.schuster@abc.com>",
                           "Sender: peter.mueller@abc.com"])
    assert_rejected(stack, token, rc, out,
                    "550 5.7.1 Sender: <peter.mueller@abc.com>: mailbox "
                    "shared with you for reading only")
    stack.milter.wait_log(r"action=reject login=sandra\.schuster@abc\.com "
                          r"header=sender address=<peter\.mueller@abc\.com>",
                          start=start)


# Sandra's messages, her own address the envelope sender, by their
# header fields: (id, fields, None when relayed or the start of the
# 5xx reply at the end of DATA).
SANDRA_HEADERS = [
    ("folded-encoded-from", ["From: =?UTF-8?Q?Peter_M=C3=BCller?=",
                             " =?UTF-8?Q?_(ABC)?=",
                             "\t<peter.mueller@abc.com>"], SHARED_TEXT),
    ("folded-encoded-own-from", ["From: =?UTF-8?Q?M=C3=BCller,_Schuster?=",
                                 "\t(Vertrieb)",
                                 " <sandra.schuster@abc.com>",
                                 "Sender: \"Schuster, Sandra\"",
                                 "  <Sandra.Schuster@ABC.com>"], None),
    ("two-from-addresses-one-not-hers",
     ["From: Sandra <sandra.schuster@abc.com>, "
      "\"M\u00fcller, Peter\" <peter.mueller@abc.com>",
      "Sender: sandra.schuster@abc.com"], SHARED_TEXT),
    ("two-from-addresses-both-hers",
     ["From: sandra.schuster@abc.com, info@abc.com",
      "Sender: sandra.schuster@abc.com"], None),
    ("two-from-fields-one-not-hers",
     ["From: sandra.schuster@abc.com",
      "From: peter.mueller@abc.com"], SHARED_TEXT),
    # A client that does not take =?...?= as one word would see
    # <peter.mueller@abc.com> here: the milter reads it the same way.
    ("encoded-word-hiding-an-address",
     ["From: =?utf-8?q?Peter_<peter.mueller@abc.com>?= "
      "<sandra.schuster@abc.com>"],
     "550 5.7.1 From: header field not understood"),
    ("group-with-foreign-member",
     ["From: Vertrieb: sandra.schuster@abc.com, jana.meier@abc.com;"],
     "550 5.7.1 From: <jana.meier@abc.com>: you may not send as this "
     "address"),
    # No From: at all: left to the other checks.
    ("missing-from", [], None),
]


@pytest.mark.parametrize("fields,reply",
                         [c[1:] for c in SANDRA_HEADERS],
                         ids=[c[0] for c in SANDRA_HEADERS])
def test_sandra_header_fields(stack, fields, reply):
    token, rc, out = send(stack, SANDRA, SANDRA[0], fields)
    if reply is None:
        assert_accepted(stack, token, rc, out)
    else:
        assert_rejected(stack, token, rc, out, reply)


@pytest.mark.parametrize("field", [
    "from:peter.mueller@abc.com",
    "FROM:\t peter.mueller@abc.com",
    # The obsolete "name WSP :" form; clients still show it as From:.
    "From : peter.mueller@abc.com",
    "Sender\t: peter.mueller@abc.com",
])
def test_field_name_spellings_rejected(stack, field):
    name = "Sender" if field.startswith("Sender") else "From"
    # Not the first line: Postfix drops a first line "From ..." as an
    # mbox separator (and then nobody sees it as a From: field).
    token, rc, out = send(stack, SANDRA, SANDRA[0],
                          ["X-Mailer: test", field] if name == "From" else
                          ["From: sandra.schuster@abc.com", field])
    assert_rejected(stack, token, rc, out,
                    "550 5.7.1 %s: <peter.mueller@abc.com>: mailbox shared"
                    % name)


def test_utf8_address(stack):
    # Peter's own address in its UTF-8 form: his.
    token, rc, out = send(stack, PETER, PETER[0],
                          ["From: Peter M\u00fcller "
                           "<peter.m\u00fcller@abc.com>"])
    assert_accepted(stack, token, rc, out)
    # The same address, for Sandra: shared with her, read only.
    token, rc, out = send(stack, SANDRA, SANDRA[0],
                          ["From: peter.m\u00fcller@abc.com"])
    assert_rejected(stack, token, rc, out, "550 5.7.1 From: <peter.m")
    assert "mailbox shared with you for reading only" in out


def test_unreadable_from_rejected(stack):
    start = len(stack.milter.log())
    token, rc, out = send(stack, SANDRA, SANDRA[0],
                          ["From: \"Peter <peter.mueller@abc.com>"])
    assert_rejected(stack, token, rc, out,
                    "550 5.7.1 From: header field not understood")
    stack.milter.wait_log(r"action=reject login=sandra\.schuster@abc\.com "
                          r"header=from address=- .* reason=bad_header "
                          r'error="unterminated quoted string"$',
                          start=start)


def test_unauthenticated_mail_left_alone(stack):
    # No login: the policy daemon lets a foreign envelope sender pass
    # (DESIGN §6), and the milter does not look at the header.
    start = len(stack.milter.log())
    token, rc, out = send(stack, None, "someone@example.net",
                          ["From: peter.mueller@abc.com"], auth=False)
    assert_accepted(stack, token, rc, out)
    assert "action=" not in stack.milter.log()[start:]


# The milter protocol spoken directly: Postfix sends {auth_authen} only
# after a login, so an empty value never comes through it; a milter that
# took "" for a login would check the headers of unauthenticated mail
# (and reject "From: <local address>" as "authentication required").
RAW_FROM_PETER = [("From", "Peter <peter.mueller@abc.com>"),
                  ("Subject", "raw milter session")]


def raw_session(stack, macros):
    start = len(stack.milter.log())
    with MilterClient(stack.milter_socket) as c:
        verdict = c.message(dict(macros, **{"{client_addr}": "192.0.2.10",
                                           "i": "4RawQid"}),
                            "<someone@example.net>", RAW_FROM_PETER)
    return verdict, start


@pytest.mark.parametrize("auth", ["", None], ids=["empty", "absent"])
def test_empty_auth_authen_is_unauthenticated(stack, auth):
    macros = {} if auth is None else {"{auth_authen}": auth}
    verdict, start = raw_session(stack, macros)
    assert verdict == ("accept", ""), verdict
    # No decision at all: the headers of mail without login are not
    # looked at.
    time.sleep(0.2)
    assert "action=" not in stack.milter.log()[start:]


def test_raw_session_with_login_checks_headers(stack):
    """The same session with a login: the client sees the reject, so
    the accept above is the milter's, not the client's blindness."""
    verdict, start = raw_session(
        stack, {"{auth_authen}": "sandra.schuster@abc.com"})
    assert verdict == ("reply", SHARED_TEXT), verdict
    stack.milter.wait_log(r"action=reject login=sandra\.schuster@abc\.com "
                          r"header=from address=<peter\.mueller@abc\.com> "
                          r"client=192\.0\.2\.10 queue_id=4RawQid "
                          r"reason=shared_read_only$", start=start)


def queue_files(pf):
    """Files in the queue's message directories (nothing queued: [])."""
    found = []
    for sub in ("incoming", "active", "deferred", "hold", "maildrop",
                "bounce", "defer"):
        d = os.path.join(pf.queue_dir, sub)
        for root, _, files in os.walk(d):
            found += [os.path.join(root, f) for f in files]
    return found


def test_milter_down_tempfails(stack):
    """milter_default_action = tempfail: nothing accepted unchecked,
    nothing bounced; the milter's return makes mail flow again."""
    stack.milter.stop()
    try:
        before = len(stack.sink.messages)
        token, rc, out = send(stack, SANDRA, SANDRA[0],
                              ["From: sandra.schuster@abc.com"])
        replies = server_replies(out)
        assert rc != 0, out
        assert any(re.match(r"4\d\d[ -]4\.\d+\.\d+ ", r) for r in replies), \
            out
        assert not any(r.startswith("5") for r in replies), out
        assert "Ok: queued" not in out
        # The peer of a bad header gets no chance either.
        token2, rc2, out2 = send(stack, SANDRA, SANDRA[0],
                                 ["From: peter.mueller@abc.com"])
        assert rc2 != 0 and "Ok: queued" not in out2, out2
        time.sleep(1.0)
        assert len(stack.sink.messages) == before
        assert not in_sink(stack, token) and not in_sink(stack, token2)
        assert queue_files(stack.pf) == []
        log = stack.pf.maillog_text()
        assert "milter" in log and "status=bounced" not in log
    finally:
        stack.milter = Milter(stack.build_dir, stack.conf, stack.wd,
                              socket_path=stack.milter_socket)
    token, rc, out = send(stack, SANDRA, SANDRA[0],
                          ["From: sandra.schuster@abc.com"])
    assert_accepted(stack, token, rc, out)


def test_replica_missing_tempfails(stack):
    """The milter up, its replica gone: 451 4.3.0, as the policy
    daemon's DEFER_IF_PERMIT 4.3.0."""
    conf = os.path.join(stack.wd, "missing.conf")
    with open(stack.conf) as f:
        text = f.read()
    text = re.sub(r"(?m)^replica = .*$",
                  "replica = %s" % os.path.join(stack.wd, "none.db"), text)
    with open(conf, "w") as f:
        f.write(text)
    os.chmod(conf, 0o644)
    stack.milter.stop()
    try:
        stack.milter = Milter(stack.build_dir, conf, stack.wd,
                              socket_path=stack.milter_socket)
        token, rc, out = send(stack, SANDRA, SANDRA[0],
                              ["From: sandra.schuster@abc.com"])
        assert rc != 0, out
        assert any(r.startswith("451 4.3.0 From: the sender check is "
                                "temporarily unavailable")
                   for r in server_replies(out)), out
        time.sleep(0.5)
        assert not in_sink(stack, token)
        assert queue_files(stack.pf) == []
        stack.milter.wait_log(r"action=defer_if_permit .* "
                              r"reason=replica_unavailable$")
    finally:
        stack.milter.stop()
        stack.milter = Milter(stack.build_dir, stack.conf, stack.wd,
                              socket_path=stack.milter_socket)


# -- the replica, broken in every way (without Postfix) --------------------

@pytest.fixture(scope="module")
def lone(slapd, build_dir):
    """A milter of its own on a replica of its own, spoken to directly
    (milter_verdict), so that its replica can be broken and mended."""
    wd = make_workdir("mg-milter-replica-")
    conf = os.path.join(wd, "mailgrants.conf")
    db = os.path.join(wd, "grants.db")
    slapd.write_config(conf, replica=db, replica_group="nogroup")
    os.chmod(conf, 0o644)
    mend(build_dir, conf, db)
    m = None
    try:
        m = Milter(build_dir, conf, wd)
        yield m, conf, db
    finally:
        if m is not None:
            m.stop()
        shutil.rmtree(wd, ignore_errors=True)


TEMPFAIL_TEXT = ("451 4.3.0 From: the sender check is temporarily "
                 "unavailable; please try again later")


@pytest.mark.parametrize("how", FAULTS)
def test_broken_replica_tempfails_and_recovers(lone, build_dir, how):
    """Every way a replica breaks under the running milter (in place,
    same inode, or replaced; stale by the default replica_max_age; not
    a file): 451 4.3.0 within the one-second check, never a verdict
    from SQLite's cache, a warning with a readable reason (under ASan:
    no use of a freed replica's text), and verdicts again without a
    restart once mailgrants sync has put a good file back."""
    m, conf, db = lone
    own = [("From", "Sandra <sandra.schuster@abc.com>")]
    peter = [("From", "peter.mueller@abc.com")]
    assert milter_verdict(m.socket_path, SANDRA[0], own)[0] == "a"
    got = milter_verdict(m.socket_path, SANDRA[0], peter)
    assert got == ("y", SHARED_TEXT), got
    mark = len(m.log())
    damage(db, how)
    # The milter looks at its replica when mail comes (at most once a
    # second): keep mail coming.
    warned = re.compile(r"warning: (replica .*grants\.db: .*); answering "
                        r"451 until it is available$", re.M)
    deadline = time.monotonic() + 3
    while True:
        got = milter_verdict(m.socket_path, SANDRA[0], own)
        warning = warned.search(m.log()[mark:])
        if got == ("y", TEMPFAIL_TEXT) and warning:
            break
        assert time.monotonic() < deadline, (got, m.log()[mark:][-2000:])
        time.sleep(0.1)
    got = milter_verdict(m.socket_path, SANDRA[0], peter)
    assert got == ("y", TEMPFAIL_TEXT), got
    # The reason is text, not bytes of freed memory.
    assert warning.group(1).isprintable(), warning.group(1)
    assert m.alive()
    mend(build_dir, conf, db)
    deadline = time.monotonic() + 5
    while milter_verdict(m.socket_path, SANDRA[0], own)[0] != "a":
        assert time.monotonic() < deadline, m.log()[mark:]
        time.sleep(0.1)
    assert milter_verdict(m.socket_path, SANDRA[0], peter) == ("y", SHARED_TEXT)
    # Said when mail next comes after the rebuild.
    deadline = time.monotonic() + 3
    while not re.search(r"replica .*grants\.db: available again",
                        m.log()[mark:]):
        assert time.monotonic() < deadline, m.log()[mark:][-2000:]
        assert milter_verdict(m.socket_path, SANDRA[0], own)[0] == "a"
        time.sleep(0.2)
