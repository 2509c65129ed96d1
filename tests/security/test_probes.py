"""Security probes (issue 8): a user of one company tries every way in.

One stack of real servers on loopback for the whole file: slapd with the
example directory (ldap-schema/examples/abc.ldif: abc.com and xyz.org,
each with a company mailbox info@), `mailgrants sync --once` into the
replica, Dovecot with the plugin (tests/lib/mgdovecot.py), the policy
daemon and the milter, and Postfix whose submission service
authenticates through Dovecot and asks both (as in
tests/integration/test_milter.py). The sync identity and Peter get
distinctive passwords before anything starts, so that a leak of either
can be found anywhere.

Every probe asserts the denial; a name without a grant must answer
exactly like a name that does not exist (DESIGN §5), compared command by
command with the answer for a made-up owner in the same place.

What is promised and checked here:
- IMAP: Anna (xyz.org) reaches nothing of abc.com by LIST patterns,
  SELECT/EXAMINE/STATUS, rights commands, COPY/APPEND/RENAME/CREATE,
  SUBSCRIBE + LSUB, in any spelling (case, address extension, modified
  UTF-7, IDN A-labels, look-alike letters); Tom (expired share) and
  Anna never open Peter's mailbox in any of its spellings.
- Sending: Anna as info@abc.com, in the envelope (policy daemon) and in
  From:/Sender: (milter), in every spelling: rejected. XCLIENT (a login
  without a password) is refused to every client of the test Postfix,
  loopback included; only benchmark instances ask for it.
- LDAP filter injection (and SQL LIKE wildcards) through IMAP LOGIN
  (Dovecot's passdb, also with every username character allowed), the
  owner part of mailbox names, the policy daemon, explain/who/access
  and share/unshare: nothing matches, nothing is written.
- Path traversal through mailbox and owner names: NO; below the
  Dovecot work directory nothing new appears outside the existing
  users' mail directories, and the probes' marker is nowhere under it
  or under /tmp, /var/tmp, /dev/shm (searched by name: other tests may
  be writing to /tmp at the same time).
- Sockets: mode 0666, owned by the user that started the daemon, in a
  directory that decides who may connect (the man pages' promise); a
  file or symlink in the socket's place is never replaced or followed.
- Daemons: after start, real, effective, saved and filesystem uid and
  gid are the --user's, the supplementary groups are exactly its
  initgroups(3) set, no capabilities; neither serves as root.
  `mailgrants sync --follow` does not change identity: it runs as the
  user that started it (the systemd unit sets User=mailgrants).
- The bind password (and a --password-file password) is never in
  output, logs, the replica, `ps`, /proc/PID/cmdline or environ, and
  never in a core file: sync --follow holds the password for its
  rebinds (one copy in memory, read from /proc/PID/mem as root after
  the first bind) and makes itself not dumpable; a core file of a
  plain process is written in the same place, so the check is real.
"""

import base64
import concurrent.futures
import contextlib
import imaplib
import json
import os
import pwd
import re
import resource
import shutil
import signal
import smtplib
import stat
import subprocess
import threading
import time
import uuid

import pytest

from daemonutil import kill_group, make_workdir, wait_for
from dovecot import Dovecot
import example
from example import ANNA, BASE, EXAMPLE_USERS, PETER, PETER_DN, SANDRA, TOM
from mgdovecot import listed, make_plugin_dir, start_dovecot
from policyd import Policyd, PolicyClient
from postfix import Postfix
from privsep import proc_ids
from stack import Stack

SWAKS = "/usr/bin/swaks"
# Distinctive secrets: any occurrence outside their files is a leak.
SYNC_SECRET = "Sync-Bind-%s-Geheim" % uuid.uuid4().hex[:16]
PETER_SECRET = "Peter-Share-%s-Geheim" % uuid.uuid4().hex[:16]
WRONG_SECRET = "Wrong-Bind-%s-Geheim" % uuid.uuid4().hex[:16]
# A copy: Peter's password changes here only.
PASSWORDS = dict(example.PASSWORDS)
PASSWORDS[PETER] = PETER_SECRET
MARK = "mgprobe%s" % uuid.uuid4().hex[:10]


def set_password(slapd, dn, secret):
    """userPassword of dn, as the rootdn; the secret goes on stdin."""
    rc, out, err = slapd.ldapmodify(
        "dn: %s\nchangetype: modify\nreplace: userPassword\n"
        "userPassword: %s\n" % (dn, secret), root=True)
    assert rc == 0, out + err


def secret_file(path, secret):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return path


class ProbeStack(Stack):
    """slapd (fixture) + replica + Dovecot with the plugin + policyd +
    milter + Postfix + sink, all below one work directory
    (tests/lib/stack.py), with distinctive secrets for the sync and
    Peter, and every CLI output kept for the leak check."""

    def __init__(self, slapd, build_dir, repo_dir):
        self.outputs = []       # every CLI output, for the leak check
        set_password(slapd, slapd.sync_dn, SYNC_SECRET)
        slapd.sync_pw = SYNC_SECRET
        set_password(slapd, PETER_DN, PETER_SECRET)

        def dovecot(stack):
            stack.plugin_dir = make_plugin_dir(build_dir, stack.wd)
            return start_dovecot(slapd, stack.wd, stack.plugin_dir,
                                 repo_dir, stack.replica)

        def mail(stack):
            # The mailboxes probed for exist and hold mail: a probe of
            # a mailbox without storage would prove nothing.
            s = smtplib.LMTP("127.0.0.1", stack.dc.lmtp_port)
            try:
                assert s.sendmail("x@example.net", [
                    "info@abc.com", PETER, "info@xyz.org", SANDRA, TOM,
                    ANNA], b"Subject: hello\r\n\r\nhello\r\n") == {}
            finally:
                s.quit()
        # The replica readable by the mail processes and by the daemons
        # (nobody, group nogroup = the mail gid).
        super().__init__(slapd, build_dir, prefix="mg-security-",
                         milter=True, dovecot=dovecot, replica_dir="replica",
                         replica_group=lambda stack: stack.dc.mail_gid,
                         before_daemons=mail)
        self.mailgrants = self.cli
        self.peter_pw = secret_file(os.path.join(self.wd, "peter.pw"),
                                    PETER_SECRET)

    def mg(self, *args, conf=None):
        """build/mailgrants -c CONF ARGS; the output is kept."""
        r = super().mg(*args, conf=conf)
        self.outputs.append(r.stdout + r.stderr)
        return r

    def imap(self, login):
        m = imaplib.IMAP4("127.0.0.1", self.dc.imap_port, timeout=20)
        typ, _ = m.login(login, PASSWORDS[login])
        assert typ == "OK"
        return m

    def shares(self):
        """Every share entry with its attributes, read as the rootdn."""
        rc, entries, err = self.slapd.search(
            "(objectClass=mailgrantsShare)", root=True)
        assert rc == 0, err
        return sorted((dn.lower(), sorted((k, sorted(v))
                                          for k, v in a.items()))
                      for dn, a in entries)


@pytest.fixture(scope="module")
def stack(slapd, build_dir, repo_dir):
    with contextlib.closing(ProbeStack(slapd, build_dir, repo_dir)) as s:
        yield s


# ---------------------------------------------------------------- IMAP

def mutf7(s):
    """IMAP modified UTF-7 (RFC 3501 5.1.3) of a mailbox name."""
    out, buf = [], ""

    def flush():
        if buf:
            b = base64.b64encode(buf.encode("utf-16-be")).decode()
            out.append("&" + b.rstrip("=").replace("/", ",") + "-")
    for ch in s:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            buf = ""
            out.append("&-" if ch == "&" else ch)
        else:
            buf += ch
    flush()
    return "".join(out)


def lit(name):
    """A mailbox name as a non-synchronising literal (LITERAL+): any
    byte gets through, nothing needs quoting."""
    b = name.encode("utf-8")
    return "{%d+}\r\n" % len(b) + name


def raw(m, command):
    """Send one command (text after the tag); all reply lines, the
    tagged one last, with the tag replaced by "T"."""
    tag = m._new_tag().decode()
    m.send(("%s %s\r\n" % (tag, command)).encode("utf-8"))
    lines = []
    while True:
        line = m.readline()
        if not line:
            raise imaplib.IMAP4.abort("connection closed")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if text.startswith(tag + " "):
            lines.append("T " + text[len(tag) + 1:])
            return lines
        lines.append(text)


def tagged(lines):
    """OK, NO or BAD of a raw() answer."""
    return lines[-1].split(" ", 2)[1]


def normal(lines, name):
    """An answer with the name (as sent and decoded) and Dovecot's
    timing suffix taken out, for comparison with another name's."""
    out = []
    for line in lines:
        line = re.sub(r" \(\d+\.\d+ \+ [^)]*secs\)", "", line)
        forms = {name, imap_decode(name)}
        forms |= {'"%s"' % f.replace("\\", "\\\\").replace('"', '\\"')
                  for f in forms}
        for form in sorted(forms, key=len, reverse=True):
            line = line.replace(form, "<N>")
        # A name comes back in a literal, with its length.
        line = re.sub(r"\{\d+\}$", "{n}", line)
        out.append(line)
    return out


def imap_decode(name):
    """Modified UTF-7 back to text (only what mutf7() makes)."""
    def dec(mo):
        if mo.group(1) == "":
            return "&"
        b = mo.group(1).replace(",", "/")
        b += "=" * (-len(b) % 4)
        try:
            return base64.b64decode(b).decode("utf-16-be")
        except Exception:
            return mo.group(0)
    return re.sub(r"&([A-Za-z0-9+,]*)-", dec, name)


MESSAGE = b"From: anna.schmidt@xyz.org\r\nSubject: probe\r\n\r\nprobe\r\n"

# Commands tried on a name; {n} is the name as a literal. The ones
# marked True may never answer OK (they act on the mailbox itself);
# None marks a step whose answer is not about the name.
PROBES = [
    ("SELECT {n}", True),
    ("EXAMINE {n}", True),
    ("STATUS {n} (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)", True),
    ("MYRIGHTS {n}", True),
    ("GETACL {n}", True),
    # LISTRIGHTS says which rights could be granted: the same list for
    # any name, existing or not (compared, never OK-checked).
    ("LISTRIGHTS {n} anna.schmidt@xyz.org", False),
    ("SETACL {n} anna.schmidt@xyz.org lrswipkxtea", True),
    ("DELETEACL {n} anna.schmidt@xyz.org", True),
    ("CREATE {n}", True),
    ("CREATE {n}/" + MARK, True),
    ("DELETE {n}", True),
    ("RENAME {n} Probe-Renamed", True),
    ("RENAME Probe-Own {n}", True),
    ("APPEND {n} {msg}", True),
    ("EXAMINE INBOX", None),
    ("COPY 1 {n}", True),
    ("UID COPY 1:* {n}", True),
    ("UNSELECT", None),
    ("SUBSCRIBE {n}", False),
    ("LSUB \"\" {n}", False),
    ("LIST (SUBSCRIBED) \"\" {n}", False),
    ("LIST \"\" {n}", False),
    ("LIST {n} \"*\"", False),
    ("LIST \"\" {n} RETURN (STATUS (MESSAGES UNSEEN))", False),
    ("UNSUBSCRIBE {n}", False),
]


def answers(m, name):
    """Every probe's answer on name, normalised; asserts that none of
    the commands acting on the mailbox itself succeeded. In a name with
    * or %, LIST and LSUB rightly take them as wildcards: those two
    are left out for such a name (test_anna_lists_nothing_of_abc has
    the patterns)."""
    msg = "{%d+}\r\n" % len(MESSAGE) + MESSAGE.decode()
    wild = "*" in name or "%" in name
    res = []
    for cmd, never_ok in PROBES:
        if wild and cmd.startswith(("LIST", "LSUB")):
            continue
        lines = raw(m, cmd.format(n=lit(name), msg=msg))
        if never_ok is None:
            assert tagged(lines) == "OK", (cmd, lines)
            continue
        if never_ok:
            assert tagged(lines) != "OK", (name, cmd, lines)
        res.append((cmd, normal(lines, name)))
    return res


def twin(name):
    """The same name with a made-up owner (nobody has it)."""
    parts = name.split("/")
    owner = parts[1]
    at = owner.rfind("@")
    local, domain = (owner[:at], owner[at:]) if at >= 0 else (owner, "")
    # Keep quotes and extension: only the letters of the name change.
    parts[1] = re.sub(r'[^"+]+', "nosuch", local, count=1) + domain
    return "/".join(parts)


def assert_like_missing(m, name):
    """name answers exactly like the same place with nobody's name."""
    other = twin(name)
    assert answers(m, name) == answers(m, other), name


def assert_no_abc(lines):
    for line in lines:
        low = imap_decode(line).lower()
        assert "abc.com" not in low and "abc-" not in low, line


@pytest.fixture(scope="module")
def anna(stack):
    """Anna's session, with a message in INBOX and her own folder
    Probe-Own (COPY and RENAME need them)."""
    m = stack.imap(ANNA)
    assert tagged(raw(m, "APPEND INBOX {%d+}\r\n%s"
                      % (len(MESSAGE), MESSAGE.decode()))) == "OK"
    assert tagged(raw(m, "CREATE Probe-Own")) == "OK"
    yield m
    try:
        m.logout()
    except Exception:
        pass


ABC_SPELLINGS = [
    "info@abc.com", "INFO@ABC.COM", "Info@Abc.Com", "info@abc.com.",
    "info+x@abc.com", "info@ABC.com", "\"info\"@abc.com",
    # A-label forms of abc.com and of look-alike domains
    "info@xn--abc.com", "info@xn--abc-0la.com",
    # look-alike letters: Cyrillic a, fullwidth i, dotless i
    "info@\u0430bc.com", "\uff49nfo@abc.com", "\u0131nfo@abc.com",
    "info@abc.com\u200b",
]


@pytest.mark.parametrize("pattern", [
    "*", "%", "%/%", "%/%/%", "Company/*", "Company/%", "Company/%/%",
    "Company/info@abc.com*", "Company/info@abc.com/*",
    "Company/info@abc.com/%", "*info@abc.com*", "*abc*", "*ABC*",
    "Company/INFO@ABC.COM/*", "Company/Info@Abc.Com*",
    "Company/info@xn--*", "Company/*@xn--*", "Company/*.com/*",
    "Shared/*", "Shared/%", "Private/*", "Private/%", "*/INBOX",
    mutf7("Company/info@\u0430bc.com/*"), "Company/&AGk-nfo@abc.com/*",
    "Company/info&AEA-abc.com/*", "*&*",
])
def test_anna_lists_nothing_of_abc(stack, anna, pattern):
    for ref in ('""', '"Company/"', '"Company/info@abc.com/"'):
        lines = raw(anna, "LIST %s %s" % (ref, lit(pattern)))
        assert tagged(lines) == "OK", lines
        assert_no_abc(lines[:-1])
        lines = raw(anna, "LIST %s %s RETURN (CHILDREN STATUS (MESSAGES))"
                    % (ref, lit(pattern)))
        assert_no_abc(lines[:-1])
        lines = raw(anna, "LSUB %s %s" % (ref, lit(pattern)))
        assert_no_abc(lines[:-1])
    # ... while her own company's mailbox is there (the probe sees
    # what it should).
    assert "Company/info@xyz.org" in listed(anna, "*")


@pytest.mark.parametrize("owner", ABC_SPELLINGS)
@pytest.mark.parametrize("root", ["Company", "Shared", "Private"])
def test_anna_cannot_reach_info_abc(stack, anna, root, owner):
    for rest in ("/INBOX", "", "/Sent", "/INBOX/" + MARK):
        name = mutf7("%s/%s%s" % (root, owner, rest))
        assert_like_missing(anna, name)
    assert tagged(raw(anna, "NOOP")) == "OK"


def test_sandra_reaches_info_abc(stack):
    """The control: the same probes open the mailbox for an employee."""
    m = stack.imap(SANDRA)
    try:
        lines = raw(m, "SELECT " + lit("Company/info@abc.com"))
        assert tagged(lines) == "OK", lines
        lines = raw(m, "MYRIGHTS " + lit("Company/info@abc.com"))
        assert tagged(lines) == "OK" and "MYRIGHTS" in lines[0], lines
    finally:
        m.logout()


PETER_SPELLINGS = [
    "peter.mueller@abc.com", "PETER.MUELLER@ABC.COM",
    "Peter.Mueller@abc.com", "peter.mueller+x@abc.com",
    "peter.m\u00fcller@abc.com", "PETER.M\u00dcLLER@ABC.COM",
    "peter.mu\u0308ller@abc.com",          # u + combining diaeresis
    "peter.mueller@xn--abc.com", "peter.m\u00fcller@xn--abc-0la.com",
    "xn--peter.mller-9db@abc.com", "peter.mueller@abc.com.",
]


@pytest.mark.parametrize("login", [TOM, ANNA])
@pytest.mark.parametrize("owner", PETER_SPELLINGS)
@pytest.mark.parametrize("root", ["Shared", "Private", "Company"])
def test_peters_mailbox_closed_to_tom_and_anna(stack, login, root, owner):
    m = stack.imap(login)
    try:
        assert_like_missing(m, mutf7("%s/%s/INBOX" % (root, owner)))
        assert_like_missing(m, mutf7("%s/%s" % (root, owner)))
        for line in raw(m, 'LIST "" "*"')[:-1]:
            assert "peter" not in imap_decode(line).lower(), line
    finally:
        m.logout()


def test_sandra_reaches_peters_mailbox(stack):
    """The control: Peter's share with Sandra is active."""
    m = stack.imap(SANDRA)
    try:
        lines = raw(m, "EXAMINE " + lit("Shared/peter.mueller@abc.com"))
        assert tagged(lines) == "OK", lines
    finally:
        m.logout()


# ------------------------------------------------------------- sending

def swaks(stack, login, envelope, headers=()):
    """Submit one message through Postfix's submission service, logged
    in as login; (exit status, transcript, token)."""
    assert os.access(SWAKS, os.X_OK), "swaks missing (package swaks)"
    token = uuid.uuid4().hex[:12]
    lines = list(headers) + ["To: <kunde@example.net>",
                             "Subject: probe %s" % token, "", "probe"]
    path = os.path.join(stack.wd, "msg-%s.eml" % token)
    with open(path, "wb") as f:
        f.write(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    argv = [SWAKS, "--server", "127.0.0.1",
            "--port", str(stack.pf.submission_port),
            "--from", envelope, "--to", "kunde@example.net",
            "--data", "@" + path, "--timeout", "20",
            "--auth", "PLAIN", "--auth-user", login,
            "--auth-password", PASSWORDS[login]]
    r = subprocess.run(argv, capture_output=True, timeout=60)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    return r.returncode, out, token


def relayed(stack, token):
    with stack.sink.lock:
        return any(token.encode() in m["data"] for m in stack.sink.messages)


def assert_refused(stack, rc, out, token, text):
    assert rc != 0, out
    replies = [l[4:] for l in out.splitlines()
               if l.startswith("<** ")]
    assert any(text in r and re.match(r"5\d\d 5\.7\.1 ", r)
               for r in replies), "no 5.7.1 %r in:\n%s" % (text, out)
    assert "Ok: queued" not in out
    time.sleep(0.1)
    assert not relayed(stack, token)


ENVELOPE_SPELLINGS = ["info@abc.com", "INFO@ABC.COM", "Info+Rechnung@Abc.Com",
                      "info+@abc.com", "\"info\"@abc.com"]


@pytest.mark.parametrize("sender", ENVELOPE_SPELLINGS)
def test_anna_sends_as_info_abc_envelope(stack, sender):
    rc, out, token = swaks(stack, ANNA, sender)
    assert_refused(stack, rc, out, token, "Sender address rejected")
    assert " -> DATA" not in out


HEADER_SPELLINGS = [
    ["From: info@abc.com"],
    ["From: INFO@ABC.COM"],
    ["From: \"ABC Info\" <Info+Rechnung@Abc.Com>"],
    ["From: =?utf-8?q?ABC_Info?= <info@ABC.com>"],
    ["From: anna.schmidt@xyz.org, info@abc.com"],
    ["From: anna.schmidt@xyz.org", "Sender: info@abc.com"],
    ["From: Peter M\u00fcller <peter.m\u00fcller@abc.com>"],
    ["From: <\"info\"@abc.com>"],
]


@pytest.mark.parametrize("headers", HEADER_SPELLINGS)
def test_anna_sends_as_info_abc_header(stack, headers):
    rc, out, token = swaks(stack, ANNA, ANNA, headers)
    assert_refused(stack, rc, out, token, "you may not send as this address")


def test_anna_sends_as_info_abc_both(stack):
    rc, out, token = swaks(stack, ANNA, "info@abc.com",
                           ["From: info@abc.com"])
    assert_refused(stack, rc, out, token, "Sender address rejected")


def test_anna_sends_as_herself_and_her_company(stack):
    """The control: the same path delivers what she may send."""
    for envelope, header in ((ANNA, "From: Anna <anna.schmidt@xyz.org>"),
                             ("info@xyz.org", "From: info@xyz.org")):
        rc, out, token = swaks(stack, ANNA, envelope, [header])
        assert rc == 0, out
        wait_for(lambda: relayed(stack, token), 20, what="relayed " + token)


POLICY_SENDERS = ENVELOPE_SPELLINGS + [
    "peter.m\u00fcller@abc.com", "PETER.M\u00dcLLER@ABC.COM",
    "peter.mu\u0308ller@abc.com", "info@xn--abc.com", "info@abc.com.",
    "info@ABC.COM.", "info@[127.0.0.1]", "info@abc.com@abc.com",
    "info%abc.com@xyz.org", "abc.com!info@xyz.org", "@abc.com:info@abc.com",
    "info@abc.com ", " info@abc.com", "info@abc.com\t",
]


@pytest.mark.parametrize("sender", POLICY_SENDERS)
def test_anna_sends_as_info_abc_policy(stack, sender):
    """The policy daemon directly, for what SMTP clients cannot type
    (UTF-8 without SMTPUTF8, source routes, blanks)."""
    reply = stack.policyd.ask(ANNA, sender)
    assert reply.startswith("REJECT 5."), (sender, reply)


def xclient_try(port, login, sender, token):
    """XCLIENT LOGIN=login on a fresh connection, then a message from
    sender: the replies [(code, text)] up to the first refusal."""
    replies = []
    s = smtplib.SMTP("127.0.0.1", port, timeout=20)
    try:
        s.ehlo("probe.example.net")
        replies.append(("EHLO-XCLIENT", s.has_extn("xclient")))
        code, text = s.docmd("XCLIENT", "LOGIN=%s" % login)
        replies.append((code, text))
        if code == 220:
            s.ehlo("probe.example.net")
        for cmd, arg in (("MAIL", "FROM:<%s>" % sender),
                         ("RCPT", "TO:<kunde@example.net>"),
                         ("DATA", "")):
            code, text = s.docmd(cmd, arg)
            replies.append((code, text))
            if code >= 400:
                return replies
        s.send(("Subject: probe %s\r\n\r\nprobe\r\n.\r\n"
                % token).encode())
        replies.append(s.getreply())
        return replies
    finally:
        s.close()


@pytest.mark.parametrize("service", ["submission", "mx"])
def test_xclient_is_nobodys_login(stack, service):
    """XCLIENT LOGIN= is a login without a password: the test Postfix
    (as the demo's, tests/integration/test_demo.py) lets no client use
    it, not even one on loopback; only benchmarks turn it on
    (Postfix(xclient=True))."""
    port = (stack.pf.submission_port if service == "submission"
            else stack.pf.mx_port)
    token = uuid.uuid4().hex[:12]
    replies = xclient_try(port, SANDRA, SANDRA, token)
    assert replies[0] == ("EHLO-XCLIENT", False), replies
    assert replies[1][0] == 550, replies
    assert b"insufficient authorization" in replies[1][1], replies
    # Without it, the sender is a stranger: refused, nothing relayed.
    assert replies[-1][0] >= 500, replies
    time.sleep(0.1)
    assert not relayed(stack, token)


def test_xclient_only_when_asked_for(stack):
    """The probe above would see XCLIENT: a benchmark instance that
    asks for it gets it."""
    pf = Postfix(delivery="discard", xclient=True,
                 workdir=stack.subdir("postfix-xclient"))
    try:
        pf.start()
        replies = xclient_try(pf.submission_port, SANDRA, SANDRA,
                              uuid.uuid4().hex[:12])
        assert replies[0] == ("EHLO-XCLIENT", True), replies
        assert replies[1][0] == 220, replies
    finally:
        pf.stop()


# ------------------------------------------------------ LDAP injection

INJECTIONS = [
    "*", "*)(uid=*", "*)(mail=*", "*)(|(mail=*", "*))(|(mail=*",
    "sandra.schuster@abc.com)(|(mail=*",
    "sandra.schuster@abc.com)(mail=*", "sandra*", "s*@abc.com",
    "*@abc.com", "sandra.schuster@abc.co*", "*schuster@abc.com",
    "sandra.schuster@abc.com\\2a", "\\2a", "sandra.schuster@abc.com\\",
    "sandra.schuster@abc.com\x01", "sandra.schuster@abc.com\x7f",
    "sandra.schuster@abc.com\x1b[0m", "(objectClass=*)",
    "uid=sandra.schuster,ou=people,o=abc.com," + BASE,
    "%", "sandra.schuster@abc.co_", "%@abc.com", "_nfo@abc.com",
]


def auth_all(dc, pairs):
    """auth_test for many (login, password) pairs at once: Dovecot
    answers failures on a 0.5 s timer, so they run side by side.
    Returns the pairs that logged in."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=48) as pool:
        results = list(pool.map(
            lambda p: dc.auth_test(p[0], p[1], service="imap"), pairs))
    return [p for p, ok in zip(pairs, results) if ok]


def imap_login_fails(stack, login, password):
    m = imaplib.IMAP4("127.0.0.1", stack.dc.imap_port, timeout=20)
    try:
        m.login(login, password)
    except imaplib.IMAP4.error:
        return True
    finally:
        m.shutdown()
    return False


def test_imap_login_injection(stack):
    """Dovecot's passdb (LDAP, auth_bind) never logs anyone in with a
    filter in the login, with any of the known passwords."""
    secrets = sorted(set(PASSWORDS.values()) | {SYNC_SECRET})
    pairs = [(login, pw) for login in INJECTIONS for pw in secrets]
    assert auth_all(stack.dc, pairs) == []
    logins = ["sandra*", "*)(uid=*", "s*@abc.com",
              "sandra.schuster@abc.com)(|(mail=*"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(lambda l: imap_login_fails(stack, l,
                                                       "sandra-pw"),
                            logins))
    # The control: the real login works.
    assert stack.dc.auth_test(SANDRA, "sandra-pw", service="imap")


def test_ldap_passdb_escapes_every_character(stack, slapd):
    """Dovecot's default auth_username_chars stops *, ( and ) before
    LDAP; a site that allows every character relies on the passdb's
    filter escaping: assert that too, on an auth-only Dovecot."""
    d = os.path.join(stack.wd, "dovecot-allchars")
    os.makedirs(d)
    os.chmod(d, 0o755)
    dc = Dovecot(slapd.uri, slapd.sync_dn, slapd.sync_pw, workdir=d,
                 extra_conf="auth_username_chars =\n")
    dc.start()
    try:
        pairs = [(login, pw) for login in INJECTIONS
                 for pw in ("sandra-pw", "jana-pw", "tom-pw", "anna-pw")]
        assert auth_all(dc, pairs) == []
        # Nothing stopped them before LDAP: the passdb saw each one.
        assert "auth_username_chars" not in dc.log_text()
        assert dc.auth_test(SANDRA, "sandra-pw")
    finally:
        dc.stop()


def injection_twin(name):
    """The same name with the letters of real owners blotted out: the
    filter characters stay where they are."""
    return re.sub(r"sandra|schuster|peter|mueller|info|_nfo",
                  lambda mo: "q" * len(mo.group()), name)


@pytest.mark.parametrize("login", [ANNA, SANDRA])
@pytest.mark.parametrize("root", ["Company", "Shared", "Private"])
def test_mailbox_name_injection(stack, login, root):
    """Filter and SQL LIKE wildcards in the owner part of a name never
    reach a mailbox, not even for Sandra, who has grants on info@ and
    on Peter's mailbox."""
    m = stack.imap(login)
    try:
        for value in INJECTIONS + ["info*@abc.com", "i*o@abc.com",
                                   "inf?@abc.com", "*@abc.com",
                                   "peter.mueller*", "peter%", "_nfo@abc.com",
                                   "info@abc.co_", "info@%", "%@%"]:
            if "/" in value or "," in value:
                continue
            for name in ("%s/%s/INBOX" % (root, value),
                         "%s/%s" % (root, value)):
                assert answers(m, name) == \
                    answers(m, injection_twin(name)), name
        assert tagged(raw(m, "NOOP")) == "OK"
    finally:
        m.logout()


POLICY_INJECTION_SENDERS = INJECTIONS + ["info@abc.com"]


def test_policy_injection(stack):
    """Logins and senders with filter and LIKE wildcards match nothing:
    an unknown login is deferred, a wildcard sender is not anybody's."""
    with stack.policyd.client() as c:
        for login in INJECTIONS:
            for sender in ("info@abc.com", "sandra.schuster@abc.com",
                           "anna.schmidt@xyz.org"):
                reply = c.ask(login, sender)
                assert reply.startswith("DEFER_IF_PERMIT 4.7.1") or \
                    reply.startswith("REJECT 5."), (login, sender, reply)
        for sender in POLICY_INJECTION_SENDERS:
            for login in (ANNA, SANDRA):
                reply = c.ask(login, sender)
                if login == SANDRA and sender == "info@abc.com":
                    assert reply == "DUNNO"     # the control
                    continue
                assert reply.startswith("REJECT 5."), (login, sender, reply)


def test_cli_queries_injection(stack):
    """explain, who and access: filter and wildcard input is nobody."""
    for value in INJECTIONS:
        r = stack.mg("explain", "--json", value, "info@abc.com")
        assert r.returncode == 0, r.stderr
        d = json.loads(r.stdout)
        assert not d["visible"] and not d["may_send"], (value, d)
        r = stack.mg("explain", "--json", ANNA, value)
        assert r.returncode == 0, r.stderr
        d = json.loads(r.stdout)
        assert not d["visible"] and not d["may_send"], (value, d)
        r = stack.mg("who", "--json", value)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == [], (value, r.stdout)
        r = stack.mg("access", "--json", value)
        assert r.returncode == 0, r.stderr
        assert [d for d in json.loads(r.stdout) if d["visible"]] == [], \
            (value, r.stdout)
    # The control: the real names answer.
    r = stack.mg("who", "--json", "info@abc.com")
    assert r.returncode == 0 and len(json.loads(r.stdout)) == 4, r.stdout


def test_share_unshare_injection(stack):
    """share/unshare, as Peter (who may manage his own shares): owner,
    grantee and --as with filters match nothing; nothing is written."""
    before = stack.shares()
    as_peter = ["--as", PETER, "--password-file", stack.peter_pw]
    values = [v for v in INJECTIONS if not v.startswith("uid=sandra")]
    for value in values + ["../../etc/passwd@abc.com",
                               "peter.mueller@abc.com/../x",
                               "peter.mueller@abc.com%2f..",
                               "uid=*,ou=people,o=abc.com," + BASE]:
        for args in (["share"] + as_peter + [value, TOM],
                     ["share"] + as_peter + [PETER, value],
                     ["unshare"] + as_peter + [value, SANDRA],
                     ["unshare"] + as_peter + [PETER, value],
                     ["share", "--as", value, "--password-file",
                      stack.peter_pw, PETER, TOM]):
            r = stack.mg(*args)
            # --as that is not a DN nor anybody's login: the bind is
            # refused (exit 2); everything else matches nothing (1).
            assert r.returncode == 1 or \
                (r.returncode == 2 and args[1] == "--as" and
                 "bind as" in r.stderr), (args, r.stdout, r.stderr)
            assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert stack.shares() == before
    # The control: the same call with real names works (and is undone
    # as the rootdn: unshare would take Tom off his 2024 share too).
    r = stack.mg("share", *as_peter, "--name", "probe-" + MARK, PETER, TOM)
    assert r.returncode == 0, r.stderr
    dn = "cn=probe-%s,%s" % (MARK, PETER_DN)
    assert dn.lower() in [d for d, _ in stack.shares()]
    rc, out, err = stack.slapd.ldapdelete(dn, root=True)
    assert rc == 0, out + err
    assert stack.shares() == before


# ------------------------------------------------------ path traversal

def traversal_names(marker):
    long_owner = "a" * 300 + "@abc.com"
    return [
        "Company/../../" + marker, "Company/../../etc/passwd",
        "Company/info@abc.com/../../" + marker,
        "Company/info@abc.com/../../../../../tmp/" + marker,
        "Shared/peter.mueller@abc.com/../../" + marker,
        "Shared/peter.mueller@abc.com/../../../xyz.org/anna.schmidt/" + marker,
        "Company/..@abc.com/" + marker, "Company/..@abc.com/INBOX",
        "Company/..@../" + marker, "Shared/..@../INBOX",
        "Shared/.@./" + marker, "Private/..@..",
        "Shared/..%2f..%2f" + marker + "@abc.com/INBOX",
        "Shared/%2e%2e%2f%2e%2e@abc.com/" + marker,
        "Company/info@abc.com%2f..%2f..%2f" + marker + "/INBOX",
        "Company/info@abc.com\\..\\..\\" + marker + "/INBOX",
        "Company/~nobody@abc.com/" + marker, "Shared/~/" + marker,
        "Company/info@abc.com\x01/" + marker, "Shared/peter\x7f@abc.com/INBOX",
        "Company/info@abc.com\x1b[2J/INBOX", "Shared/\t..@abc.com/" + marker,
        "Company/" + long_owner + "/" + marker,
        "Shared/peter.mueller@abc.com/" + "x/" * 300 + marker,
        "Company/" + marker * 500 + "@abc.com/INBOX",
        # her own namespace
        "../" + marker, "INBOX/../../" + marker, "~/" + marker,
        "/" + marker, "../../../../tmp/" + marker,
    ]


TRAVERSAL_PROBES = ["CREATE {n}", "SELECT {n}", "STATUS {n} (MESSAGES)",
                    "APPEND {n} {msg}", "RENAME Probe-Own {n}",
                    "DELETE {n}", "EXAMINE INBOX", "COPY 1 {n}",
                    "UNSELECT"]


def snapshot(*roots):
    paths = set()
    for root in roots:
        for d, dirs, files in os.walk(root, onerror=lambda e: None):
            for n in dirs + files:
                paths.add(os.path.join(d, n))
    return paths


@pytest.mark.parametrize("login", [ANNA, SANDRA])
def test_path_traversal(stack, login):
    marker = MARK + login[:4]
    tmpdirs = ["/tmp", "/var/tmp", "/dev/shm"]
    before = snapshot(stack.dc.workdir)
    passwd = os.stat("/etc/passwd")
    m = stack.imap(login)
    msg = "{%d+}\r\n" % len(MESSAGE) + MESSAGE.decode()
    try:
        assert tagged(raw(m, "CREATE Probe-Own")) in ("OK", "NO")
        for name in traversal_names(marker):
            for cmd in TRAVERSAL_PROBES:
                lines = raw(m, cmd.format(n=lit(name), msg=msg))
                if "{n}" in cmd:
                    assert tagged(lines) == "NO", (name, cmd, lines)
                else:
                    assert tagged(lines) == "OK", (cmd, lines)
        assert tagged(raw(m, "NOOP")) == "OK"
    finally:
        m.logout()
    after = snapshot(stack.dc.workdir)
    hits = [p for p in snapshot(*tmpdirs) | after if marker in p]
    assert hits == []
    assert os.stat("/etc/passwd").st_mtime == passwd.st_mtime
    # New paths: only index work inside existing mail directories.
    vmail = stack.dc.vmail_dir
    homes = {os.path.join(vmail, *a.split("@")[::-1])
             for a in list(EXAMPLE_USERS) + ["info@abc.com", "info@xyz.org"]}
    for p in sorted(after - before):
        rp = os.path.realpath(p)
        assert any(rp.startswith(h + "/") for h in homes) or \
            rp.startswith(os.path.join(stack.dc.workdir, "run") + "/"), p
    log = stack.dc.log_text()
    assert "Panic" not in log and "Fatal" not in log


# ------------------------------------------------------------- sockets

def connect_as(user, path):
    """Connect to a UNIX socket as another user; None or the errno
    name."""
    pw = pwd.getpwnam(user)
    code = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\n"
            "try:\n s.connect(sys.argv[1])\nexcept OSError as e:\n"
            " import errno; print(errno.errorcode[e.errno]); sys.exit(0)\n"
            "print('connected')\n")

    def drop():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    r = subprocess.run(["/usr/bin/python3", "-c", code, path],
                       capture_output=True, text=True, timeout=20,
                       preexec_fn=drop)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_sockets_mode_and_owner(stack):
    """mailgrants-policyd(8), mailgrants-milter(8): the socket is mode
    0666 and the directory decides; it is made before privileges drop,
    so it belongs to the user that started the daemon (root here)."""
    for path in (stack.policyd.socket_path, stack.milter_socket):
        st = os.lstat(path)
        assert stat.S_ISSOCK(st.st_mode), path
        assert stat.S_IMODE(st.st_mode) == 0o666, oct(st.st_mode)
        assert (st.st_uid, st.st_gid) == (0, 0), path


def test_socket_directory_decides(stack):
    """In a 0700 directory of postfix (Postfix's private/), postfix can
    ask the daemon and another unprivileged user cannot connect."""
    d = os.path.join(stack.wd, "spool-private")
    os.makedirs(d)
    pf = pwd.getpwnam("postfix")
    os.chown(d, pf.pw_uid, pf.pw_gid)
    os.chmod(d, 0o700)
    sock = os.path.join(d, "mailgrants")
    p = Policyd(stack.build_dir, stack.conf, stack.wd,
                listen="unix:" + sock)
    try:
        assert connect_as("postfix", sock) == "connected"
        assert connect_as("nobody", sock) == "EACCES"
        assert connect_as("dovecot", sock) == "EACCES"
        with PolicyClient(unix=sock) as c:
            assert c.ask(ANNA, "info@abc.com").startswith("REJECT 5.7.1")
    finally:
        p.stop()


@pytest.mark.parametrize("kind", ["file", "symlink", "directory"])
def test_socket_path_never_clobbered(stack, kind):
    """A non-socket where the socket should be is neither replaced nor
    followed: the daemon refuses to start and the thing stays as it
    was (a symlink's target keeps its mode 0600)."""
    path = os.path.join(stack.wd, "clobber-%s.sock" % kind)
    victim = os.path.join(stack.wd, "victim-%s" % kind)
    with open(victim, "w") as f:
        f.write("precious\n")
    os.chmod(victim, 0o600)
    if kind == "file":
        shutil.copy(victim, path)
    elif kind == "symlink":
        os.symlink(victim, path)
    else:
        os.mkdir(path)
    before = os.lstat(path)
    p = Policyd(stack.build_dir, stack.conf, stack.wd,
                listen="unix:" + path, start=False)
    p.start(wait_ready=False)
    try:
        assert p.proc.wait(timeout=10) == 1
    finally:
        p.stop()
    after = os.lstat(path)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert stat.S_IMODE(os.stat(victim).st_mode) == 0o600
    with open(victim) as f:
        assert f.read() == "precious\n"


# ------------------------------------------------------- process ids

def assert_runs_as(pid, user):
    pw = pwd.getpwnam(user)
    want_groups = sorted(set(os.getgrouplist(pw.pw_name, pw.pw_gid)))
    ids = proc_ids(pid)
    assert ids
    for task, (uids, gids, groups, caps) in ids.items():
        assert uids == (pw.pw_uid,) * 4, (task, uids)
        assert gids == (pw.pw_gid,) * 4, (task, gids)
        if pw.pw_uid != 0:
            assert groups == want_groups, (task, groups)
            assert set(caps.values()) == {0}, (task, caps)


def test_daemons_run_as_their_user(stack):
    """--user nobody: real, effective, saved and filesystem ids are
    nobody's, groups exactly initgroups(nobody), no capabilities, in
    every thread (the milter has libmilter's)."""
    assert stack.policyd.alive() and stack.milter.alive()
    assert_runs_as(stack.policyd.pid, "nobody")
    assert_runs_as(stack.milter.pid, "nobody")
    assert len(proc_ids(stack.milter.pid)) > 1


@pytest.mark.parametrize("exe", ["mailgrants-policyd", "mailgrants-milter"])
@pytest.mark.parametrize("user", [None, "root"])
def test_daemons_refuse_root(stack, exe, user):
    sock = os.path.join(stack.wd, "root-%s-%s.sock" % (exe, user))
    argv = [os.path.join(stack.build_dir, exe), "--foreground", "-c",
            stack.conf, "--listen", "unix:" + sock]
    if user:
        argv += ["--user", user]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=20,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "root" in r.stderr, r.stderr


def test_sync_follow_keeps_its_user(stack):
    """sync --follow never changes identity: it runs as the user that
    started it (root here, nobody below; the systemd unit starts it as
    mailgrants with User=)."""
    d = make_workdir("mg-security-follow-")
    try:
        nobody = pwd.getpwnam("nobody")
        os.chown(d, nobody.pw_uid, nobody.pw_gid)
        conf = os.path.join(d, "mailgrants.conf")
        stack.slapd.write_config(conf, replica=os.path.join(d, "g.db"))
        for path in (conf, conf + ".ldap-password"):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        log = os.path.join(d, "follow.log")
        procs = []
        try:
            for user in ("root", "nobody"):
                pw = pwd.getpwnam(user)

                def drop(pw=pw):
                    os.setgroups(os.getgrouplist(pw.pw_name, pw.pw_gid))
                    os.setgid(pw.pw_gid)
                    os.setuid(pw.pw_uid)
                with open(log, "a") as f:
                    p = subprocess.Popen(
                        [stack.mailgrants, "-c", conf if user == "nobody"
                         else stack.conf, "sync", "--follow"],
                        stdout=f, stderr=f, stdin=subprocess.DEVNULL,
                        preexec_fn=drop, start_new_session=True)
                procs.append(p)
                wait_for(lambda: open(log).read().count("following") ==
                         len(procs), 15, what="follow started:\n" +
                         open(log).read())
                assert_runs_as(p.pid, user)
        finally:
            for p in procs:
                kill_group(p, term_timeout=10.0)
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------ secrets

SECRETS = (SYNC_SECRET, PETER_SECRET, WRONG_SECRET)


class Watcher(threading.Thread):
    """Samples `ps -eo args` and every process's cmdline and environ
    while the password work runs; hits collects what showed a secret."""

    def __init__(self):
        super().__init__(daemon=True)
        self.hits = []
        self.rounds = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            r = subprocess.run(["ps", "-eo", "pid,args"],
                               capture_output=True, timeout=20)
            self.check("ps", r.stdout)
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                for what in ("cmdline", "environ"):
                    try:
                        with open("/proc/%s/%s" % (pid, what), "rb") as f:
                            self.check("%s %s" % (pid, what), f.read())
                    except OSError:
                        pass
            self.rounds += 1
            time.sleep(0.02)

    def check(self, where, data):
        for s in SECRETS:
            if s.encode() in data:
                self.hits.append((where, s))

    def stop(self):
        self.done.set()
        self.join(timeout=30)


def memory_copies(pid, secret):
    """How often secret is in the process's readable memory (mappings
    over 1 GiB, AddressSanitizer's shadow in a build-asan run, are left
    out; the rest is read in pieces that overlap by the secret's
    length)."""
    n, want, chunk = 0, secret.encode(), 1 << 20
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read().splitlines()
    with open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            addr, perms = line.split()[:2]
            if "r" not in perms or line.endswith("[vvar]"):
                continue
            a, b = (int(x, 16) for x in addr.split("-"))
            if b - a > 1 << 30:
                continue
            tail = b""
            try:
                while a < b:
                    mem.seek(a)
                    data = tail + mem.read(min(chunk, b - a))
                    n += data.count(want)
                    tail = data[-(len(want) - 1):]
                    a += chunk
            except (OSError, OverflowError, ValueError):
                pass
    return n


def core_unlimited():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,
                                               resource.RLIM_INFINITY))


def test_password_never_leaks(stack):
    """sync --once/--follow, check, share/unshare with --password-file,
    right and wrong passwords: no secret in any output, log, the
    replica, ps, /proc/PID/cmdline or environ, and no core file with
    it (a core of a plain process is written here: the check is
    real)."""
    wrong_conf = os.path.join(stack.wd, "wrong.conf")
    stack.slapd.write_config(wrong_conf, replica=os.path.join(
        stack.wd, "wrong.db"))
    secret_file(wrong_conf + ".ldap-password", WRONG_SECRET)
    wrong_pw = secret_file(os.path.join(stack.wd, "wrong.pw"), WRONG_SECRET)
    as_peter = ["--as", PETER, "--password-file", stack.peter_pw]
    core_dir = os.path.join(stack.wd, "cores")
    os.makedirs(core_dir)
    follow_log = os.path.join(stack.wd, "follow.log")

    w = Watcher()
    w.start()
    try:
        assert stack.mg("sync", "--once").returncode == 0
        r = stack.mg("sync", "--once", conf=wrong_conf)
        assert r.returncode == 2 and "Invalid credentials" in r.stderr, \
            r.stderr
        assert stack.mg("check").returncode == 0
        assert stack.mg("check", conf=wrong_conf).returncode != 0
        r = stack.mg("share", *as_peter, "--name", "pw-" + MARK, PETER, TOM)
        assert r.returncode == 0, r.stderr
        r = stack.mg("unshare", *as_peter, PETER, "max.wolf@xyz.org")
        assert r.returncode == 1, r.stderr
        r = stack.mg("share", "--as", PETER, "--password-file", wrong_pw,
                     PETER, TOM)
        assert r.returncode != 0 and "Invalid credentials" in r.stderr, \
            r.stderr
        rc, out, err = stack.slapd.ldapdelete(
            "cn=pw-%s,%s" % (MARK, PETER_DN), root=True)
        assert rc == 0, out + err

        # Control: this environment writes core files (core_pattern
        # "core" in the working directory, or a pipe that does).
        ctl = subprocess.Popen(["sleep", "30"], cwd=core_dir,
                               preexec_fn=core_unlimited)
        time.sleep(0.1)
        ctl.send_signal(signal.SIGABRT)
        ctl.wait(timeout=10)
        cores = [f for f in os.listdir(core_dir) if f.startswith("core")]
        assert cores, "no core file of a plain process: check " \
            "/proc/sys/kernel/core_pattern"
        for f in cores:
            os.unlink(os.path.join(core_dir, f))

        with open(follow_log, "w") as f:
            p = subprocess.Popen([stack.mailgrants, "-c", stack.conf,
                                  "sync", "--follow"], cwd=core_dir,
                                 stdout=f, stderr=f,
                                 stdin=subprocess.DEVNULL,
                                 preexec_fn=core_unlimited,
                                 start_new_session=True)
        try:
            wait_for(lambda: "replica updated" in open(follow_log).read(),
                     15, what="sync --follow:\n" + open(follow_log).read())
            # Bound and synced: the password it keeps for rebinding is
            # the one copy in memory (libldap's and the file reader's
            # buffers are gone).
            assert memory_copies(p.pid, SYNC_SECRET) <= 1
            for what in ("cmdline", "environ"):
                with open("/proc/%d/%s" % (p.pid, what), "rb") as f:
                    assert SYNC_SECRET.encode() not in f.read()
            p.send_signal(signal.SIGABRT)
            p.wait(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert p.returncode == -signal.SIGABRT
        for f in os.listdir(core_dir):
            with open(os.path.join(core_dir, f), "rb") as fh:
                data = fh.read()
            for s in SECRETS:
                assert s.encode() not in data, "%s in core file %s" % (s, f)
    finally:
        w.stop()
    assert w.rounds > 0
    assert w.hits == []
    # Every output and every file the test produced, except the files
    # that hold a secret on purpose (and slapd's database).
    for out in stack.outputs:
        for s in SECRETS:
            assert s not in out, out
    keep = {stack.conf + ".ldap-password", stack.peter_pw, wrong_pw,
            wrong_conf + ".ldap-password"}
    roots = [stack.wd, stack.slapd.tmpdir]
    checked = 0
    for root in roots:
        for d, dirs, files in os.walk(root):
            if d.startswith(os.path.join(stack.slapd.tmpdir, "data")):
                continue
            for n in files:
                path = os.path.join(d, n)
                if n == "dovecot.conf.binary" and os.path.isfile(path):
                    # Dovecot 2.4 compiles its whole configuration,
                    # the bind password included, into base_dir: as
                    # 2.3's dovecot-ldap.conf.ext, root's alone.
                    st = os.stat(path)
                    assert st.st_uid == 0 and st.st_mode & 0o077 == 0, \
                        "%s: mode %o" % (path, st.st_mode)
                    continue
                if path in keep or n == "dovecot-ldap.conf.ext" or \
                        not os.path.isfile(path) or os.path.islink(path):
                    continue
                with open(path, "rb") as f:
                    data = f.read()
                checked += 1
                for s in SECRETS:
                    assert s.encode() not in data, "%s in %s" % (s, path)
    assert checked > 10
