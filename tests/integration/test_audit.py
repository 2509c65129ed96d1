"""The audit trail (issue 16, part 3), end to end.

Send decisions: real slapd -> `mailgrants sync` -> replica ->
mailgrants-policyd and mailgrants-milter behind a real Postfix
submission service (tests/lib/stack.py), once with the default text
lines and once with log_format = json. Mail is sent with swaks as
info@abc.com by people who may (Sandra, Tom) and who may not (Anna of
xyz.org), and `mailgrants audit sent info@abc.com` must list exactly
those decisions, with login, action, reason, the deciding DN and the
queue id, from the daemons' own logs. No log of the run may hold a
password or a message body.

Share changes: a private slapd, the follower, the share service and
Dovecot with both plugins (tests/lib/sharestack.py). Peter shares his
mailbox with Tom with `mailgrants share` (its audit line goes to
audit_log) and changes Tom's rights from his IMAP client (SETACL, the
share service's log); `mailgrants audit access tom peter` names the
entry, the window, who created it when and the change.

The reader: date limits count at both ends to the second; unrelated and
broken lines are skipped; hostile values cannot forge a field.
"""

import contextlib
import json
import os
import re
import subprocess
import time
import uuid

import pytest

import example
from daemonutil import wait_for
from example import ANNA, INFO_DN, PASSWORDS, PETER, PETER_DN, SANDRA, TOM
from sharestack import running_stack
from stack import Stack

SWAKS = "/usr/bin/swaks"
INFO = "info@abc.com"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class AuditStack(Stack):
    """slapd + replica + policyd + milter + Postfix, in one log format."""

    def __init__(self, slapd, build_dir, log_format):
        def set_format(stack):
            with open(stack.conf, "a") as f:
                f.write("log_format = %s\n" % log_format)
        self.log_format = log_format
        super().__init__(slapd, build_dir, prefix="mg-audit-", milter=True,
                         before_daemons=set_format)

    def swaks(self, login, sender, body):
        """Submit one message as login with envelope and From: sender;
        (exit status, transcript)."""
        assert os.access(SWAKS, os.X_OK), "swaks missing (package swaks)"
        argv = [SWAKS, "--server", "127.0.0.1", "--port",
                str(self.pf.submission_port), "--from", sender,
                "--to", "kunde@example.net", "--auth", "PLAIN",
                "--auth-user", login, "--auth-password", PASSWORDS[login],
                "--header", "Subject: audit %s" % uuid.uuid4().hex,
                "--body", body, "--timeout", "20"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout + r.stderr

    def logs(self):
        return [self.policyd.log_path, self.milter.log_path]

    def audit(self, *args):
        r = self.mg("audit", *args)
        assert r.returncode == 0, r.stderr
        return r.stdout


@pytest.fixture(scope="module", params=["text", "json"])
def stack(request, slapd, build_dir):
    with contextlib.closing(AuditStack(slapd, build_dir,
                                       request.param)) as s:
        yield s


def parse(line):
    """One answer line of audit sent, in either form: {key: value}."""
    if line.startswith("{"):
        return {k: v for k, v in json.loads(line).items() if v is not None}
    fields = {}
    for m in re.finditer(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line):
        v = m.group(2)
        if v.startswith('"'):
            v = re.sub(r'\\(.)', r'\1', v[1:-1])
        if v != "-":
            fields[m.group(1)] = v
    return fields


def test_sent_as_info_lists_exactly_who_tried(stack):
    body = "body-%s" % uuid.uuid4().hex
    start = time.time()
    time.sleep(1.1)		# the first decision is after "start"
    rc, out = stack.swaks(SANDRA, INFO, body)
    assert rc == 0, out
    rc, out = stack.swaks(ANNA, INFO, body)
    assert rc != 0 and "5.7.1" in out, out
    rc, out = stack.swaks(TOM, INFO, body)
    assert rc == 0, out
    # another sender: not in the answer
    rc, out = stack.swaks(SANDRA, "makler@abc.com", body)
    assert rc == 0, out
    # every decision is logged by now (the milter's before the 250)
    wait_for(lambda: len(re.findall(r"login.{0,3}tom\.berger",
                                    open(stack.milter.log_path).read())) >= 1,
             what="the milter's line for Tom")
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
    args = ["sent", "--since", since]
    if stack.log_format == "json":
        args.append("--json")
    for path in stack.logs():
        args += ["--file", path]
    lines = stack.audit(*(args + [INFO])).splitlines()
    got = [parse(x) for x in lines]
    if stack.log_format == "json":
        assert all(x.startswith("{") for x in lines), lines
    summary = [(g["login"], g["check"], g["action"], g["reason"])
               for g in got]
    # Sandra and Tom: envelope (policy daemon) and From: (milter);
    # Anna: refused at MAIL FROM, so the milter never saw her message.
    # Decisions of one second keep the order of the files given.
    assert sorted(summary) == sorted([
        (SANDRA, "envelope", "dunno", "company_mailbox"),
        (SANDRA, "from", "dunno", "company_mailbox"),
        (ANNA, "envelope", "reject", "not_yours"),
        (TOM, "envelope", "dunno", "company_mailbox"),
        (TOM, "from", "dunno", "company_mailbox"),
    ]), "\n".join(lines)
    assert [x for x in summary if x[1] == "envelope"] == [
        (SANDRA, "envelope", "dunno", "company_mailbox"),
        (ANNA, "envelope", "reject", "not_yours"),
        (TOM, "envelope", "dunno", "company_mailbox")]
    assert [t for t in (g["time"] for g in got)] == \
        sorted(g["time"] for g in got)
    for g in got:
        assert STAMP.match(g["time"]), g
        assert g["address"] == "<%s>" % INFO
        assert g["client"] == "127.0.0.1"
        assert g["event"] == "send"
        # Anna's "not yours" rests on the mailbox too: she is no member
        assert g["dn"].lower() == INFO_DN.lower(), g
        # at MAIL FROM Postfix has no queue id yet; at the headers it has
        if g["check"] == "from":
            assert re.match(r"^[0-9A-F]{6,}$", g["queue_id"]), g
        else:
            assert "queue_id" not in g, g
    # the daemons' own lines parse in the chosen form
    for path in stack.logs():
        with open(path) as f:
            for line in f:
                if "event" not in line:
                    continue
                msg = line.split(": ", 1)[1]
                if stack.log_format == "json":
                    ev = json.loads(msg)
                    assert ev["event"] == "send" and STAMP.match(ev["time"])
                else:
                    assert msg.startswith("event=send time="), line
    # no password and no body in any log of the run
    text = "".join(open(p, errors="replace").read() for p in stack.logs())
    text += stack.pf.maillog_text()
    for pw in PASSWORDS.values():
        assert pw not in text
    assert body not in text


def test_hostile_values_cannot_forge_a_field(stack):
    start = len(stack.policyd.log())
    login = 'x reason=own_mailbox" action=dunno\x01{"event":"send"}\\'
    sender = "evil sender=<info@abc.com>\x1b@abc.com"
    stack.policyd.ask(login, sender, queue_id="Q1")
    stack.policyd.wait_log(r"Q1", start=start)
    (line,) = [x for x in stack.policyd.log()[start:].splitlines()
               if "Q1" in x]
    msg = line.split(": ", 1)[1]
    if stack.log_format == "json":
        ev = json.loads(msg)
    else:
        ev = parse(msg)
        # every field once: the hostile text stayed inside its value
        keys = [m.group(1) for m in re.finditer(
            r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', msg)]
        assert keys == ["event", "time", "dn", "action", "login", "sender",
                        "client", "queue_id", "reason"], msg
    assert ev["action"] == "defer_if_permit", msg
    assert ev["reason"] == "unknown_login", msg
    assert "\x01" not in msg and "\x1b" not in msg
    if stack.log_format == "json":
        assert ev["login"] == login, ev
    else:
        assert ' login="x reason=own_mailbox\\" action=dunno\\x01' \
            '{\\"event\\":\\"send\\"}\\\\" ' in msg, msg
    # spaces alone are enough to be quoted
    start = len(stack.policyd.log())
    stack.policyd.ask("y reason=own_mailbox", "z@abc.com", queue_id="Q2")
    stack.policyd.wait_log(r"Q2", start=start)
    (line,) = [x for x in stack.policyd.log()[start:].splitlines()
               if "Q2" in x]
    msg = line.split(": ", 1)[1]
    ev = json.loads(msg) if stack.log_format == "json" else parse(msg)
    assert ev["login"] == "y reason=own_mailbox", msg
    assert ev["reason"] == "unknown_login", msg
    # and the reader does not take it for a send as info@abc.com
    r = stack.mg("audit", "sent", "--file", stack.policyd.log_path, INFO)
    assert r.returncode == 0, r.stderr
    assert "Q1" not in r.stdout


def test_reader_edges_unrelated_and_broken_lines(stack, tmp_path):
    """--since and --until count at both ends, to the second; lines of
    other programs, broken lines and rotated .gz logs are read or
    skipped without failing."""
    rc, out = stack.swaks(SANDRA, INFO, "edge test")
    assert rc == 0, out
    (template,) = [x for x in stack.policyd.log().splitlines()
                   if "sandra.schuster" in x and "info@abc.com" in x][-1:]
    times = ["2026-02-28T23:59:59.999Z", "2026-03-01T00:00:00.000Z",
             "2026-03-01T12:00:00Z", "2026-03-01T23:59:59.999Z",
             "2026-03-02T00:00:00.000Z"]
    lines = []
    for i, t in enumerate(times):
        line = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t,
                      template, count=1)
        lines.append(line.replace("sandra.schuster@abc.com",
                                  "user%d@abc.com" % i, 1))
    junk = [
        "Mar  1 10:00:00 mx postfix/smtpd[1]: connect from x[192.0.2.1]",
        "mailgrants-policyd[1]: event=send time=2026-03-01T11:00:00Z "
        'login="open',
        "mailgrants-policyd[1]: {\"event\":\"send\",\"time\":",
        "\xff\xfe garbage",
        "",
    ]
    path = tmp_path / "mail.log"
    path.write_text("\n".join(lines[:2] + junk + lines[2:]) + "\n",
                    errors="surrogateescape")
    gz = tmp_path / "mail.log.1.gz"
    subprocess.run(["gzip", "-c", str(path)], check=True,
                   stdout=open(str(gz), "wb"))

    def logins(*args):
        out = stack.audit("sent", *args, "--file", str(path), INFO)
        return [parse(x)["login"] for x in out.splitlines()]

    assert logins() == ["user%d@abc.com" % i for i in range(5)]
    assert logins("--since", "2026-03-01T00:00:00Z",
                  "--until", "2026-03-01T23:59:59Z") == \
        ["user1@abc.com", "user2@abc.com", "user3@abc.com"]
    # a date alone: the whole day, both ends
    assert logins("--since", "2026-03-01", "--until", "2026-03-01") == \
        ["user1@abc.com", "user2@abc.com", "user3@abc.com"]
    assert logins("--since", "2026-03-01T00:00:01Z",
                  "--until", "2026-03-01T23:59:58Z") == ["user2@abc.com"]
    # a rotated, compressed log reads the same
    out = stack.audit("sent", "--file", str(gz), INFO)
    assert len(out.splitlines()) == 5
    # a bad date is a usage error; a missing file an unavailable log
    r = stack.mg("audit", "sent", "--since", "yesterday", "--file",
                 str(path), INFO)
    assert r.returncode == 1 and "--since" in r.stderr
    r = stack.mg("audit", "sent", "--file", str(tmp_path / "none"), INFO)
    assert r.returncode == 2 and "none" in r.stderr


@pytest.fixture
def share_stack(build_dir, repo_dir):
    with running_stack(build_dir, repo_dir, "mg-auditshare-") as s:
        yield s


def test_access_rests_on_the_share_and_says_since_when(share_stack,
                                                       tmp_path):
    s = share_stack
    audit_log = os.path.join(s.workdir, "audit.log")
    conf = os.path.join(s.workdir, "audit.conf")
    with open(s.conf) as f, open(conf, "w") as out:
        # the command's lines in JSON, the share service's in text:
        # the reader takes both, from one answer
        out.write(f.read() + "audit_log = %s\nlog_format = json\n"
                  % audit_log)
    pw = tmp_path / "peter.pw"
    pw.write_text(PASSWORDS[PETER] + "\n")
    os.chmod(str(pw), 0o600)

    def mg(*args):
        return subprocess.run([s.mailgrants, "-c", conf] + list(args),
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    r = mg("share", "--as", PETER, "--password-file", str(pw),
           "--rights", "lr", "--until", "2099-12-31", PETER, TOM)
    assert r.returncode == 0, r.stderr
    with open(audit_log) as f:
        (added,) = [json.loads(x) for x in f.read().splitlines()]
    assert list(added)[:2] == ["event", "time"], added
    assert (added["event"], added["action"], added["login"], added["via"],
            added["mailbox"], added["grantee"], added["rights"]) == \
        ("share", "add", PETER, "share", PETER, TOM, "lr"), added
    assert added["not_before"] is None, added
    assert added["not_after"] == "2099-12-31T23:59:59Z", added
    dn = added["dn"]
    assert dn.lower().endswith("," + PETER_DN.lower()), dn
    # Peter changes Tom's rights from his mail client
    m = s.imap(PETER)
    try:
        typ, data = m._simple_command("SETACL", "INBOX", TOM, "lrs")
        assert typ == "OK", data
    finally:
        m.logout()
    wait_for(lambda: "action=change" in s.service_text(),
             what="the share service's audit line")
    logs = ["--file", audit_log, "--file", s.service_log]
    r = mg("audit", "access", *logs, TOM, PETER)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0].startswith("now: kind=shared visible=yes rights=lrs "), out
    assert out[1] == "rests on: dn=%s not_before=open " \
        "not_after=2099-12-31T23:59:59Z" % dn, out
    hist = [parse(x) for x in out[2:-1]]
    assert [(h["action"], h["by"], h["via"], h["rights"]) for h in hist] \
        == [("add", PETER, "share", "lr"),
            ("change", PETER, "share-service", "lrs")], out
    assert all(h["dn"] == dn for h in hist)
    assert before[:19] <= hist[0]["time"][:19]
    assert hist[0]["time"] < hist[1]["time"]
    assert out[-1] == "since: %s" % hist[0]["time"], out
    # the vacation share predates the log
    r = mg("audit", "access", *logs, SANDRA, PETER)
    assert r.returncode == 0, r.stderr
    assert "rests on: dn=cn=vacation," in r.stdout, r.stdout
    assert r.stdout.splitlines()[-1].startswith(
        "since: the log has no addition of this entry: it predates"), \
        r.stdout
    # own mailbox: not a share
    r = mg("audit", "access", *logs, PETER, PETER)
    assert "since: not a share" in r.stdout, r.stdout
    # Peter takes the share back: the access ends, the history stays
    r = mg("unshare", "--as", PETER, "--password-file", str(pw), PETER, TOM)
    assert r.returncode == 0, r.stderr
    with open(audit_log) as f:
        removed = json.loads(f.read().splitlines()[-1])
    assert (removed["action"], removed["login"], removed["via"],
            removed["dn"], removed["rights"]) == \
        ("remove", PETER, "unshare", dn, None), removed
    # once the follower has carried the removal into the replica
    wait_for(lambda: mg("audit", "access", *logs, TOM, PETER).stdout
             .startswith("now: kind=none visible=no "), timeout=20,
             what="the replica without Tom's share")
    r = mg("audit", "access", *logs, TOM, PETER)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    hist = [parse(x) for x in out[2:]]
    assert [(h["action"], h["via"]) for h in hist if h["dn"] == dn] == \
        [("add", "share"), ("change", "share-service"),
         ("remove", "unshare")], out
    # no password in any log of the run
    texts = [open(p, errors="replace").read()
             for p in (audit_log, s.service_log, s.follow_log,
                       s.dc.log_path)]
    for text in texts:
        assert PASSWORDS[PETER] not in text
