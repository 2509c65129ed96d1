"""Sent copies (README "Sent copies", issue 16 part 1): mail sent as a
company or extra private mailbox also lands, once and \\Seen, in that
mailbox's own Sent folder.

One stack for the file, with real servers on loopback:
slapd (the example directory) -> `mailgrants sync --once` (site default
sent_copies = yes) -> the replica, read by
- mailgrants-milter on the submission service of a private Postfix
  that authenticates against Dovecot (SASL) and relays outside mail to
  an SMTP sink, with the shipped delivery.main.cf.snippet's
  transport_maps and recipient restrictions (the LMTP nexthop is this
  Dovecot's port), and
- a Dovecot for SASL only, and
- Dovecot with the plugin's shipped configuration (lmtp_mailgrants in
  LMTP) and the shipped sql userdb on the replica (test_delivery.py's
  Dovecot).
"""

import contextlib
import imaplib
import json
import os
import re
import smtplib
import subprocess
import time
import uuid

import pytest

import dovecot as dovecot_module
import example
from daemonutil import stop_all, wait_for
from dovecot import Dovecot
from example import PASSWORDS
from milter import Milter
from postfix import Postfix, SmtpSink
from test_delivery import Stack as DeliveryStack, shipped

SANDRA = "sandra.schuster@abc.com"
JANA = "jana.meier@abc.com"
TOM = "tom.berger@abc.com"
COPY_DOMAIN = ".sent.mailgrants.invalid"


class Stack(DeliveryStack):
    """test_delivery's Dovecot and replica, with the milter and a
    submission service in front."""

    def _start(self):
        self.milter = self.sink = self.sasl = None
        super()._start()
        # SASL from a Dovecot of its own: the mail Dovecot goes down in
        # a test, and submission must keep working meanwhile.
        sasl_dir = os.path.join(self.wd, "sasl")
        os.makedirs(sasl_dir)
        os.chmod(sasl_dir, 0o755)
        self.sasl = Dovecot(self.slapd.uri, self.slapd.sync_dn,
                            self.slapd.sync_pw, workdir=sasl_dir).start()
        # The site default for every mailbox entry that does not say.
        with open(self.conf, "a") as f:
            f.write("sent_copies = yes\n")
        self.sync()
        self.milter = Milter(self.build_dir, self.conf, self.wd,
                             socket_path=os.path.join(self.wd, "milter.sock"))
        self.sink = SmtpSink().start()
        self.pf.stop()
        snippet = shipped(self.repo_dir, "postfix-policyd",
                          "delivery.main.cf.snippet")
        found = dict((k, " ".join(v.split())) for k, v in re.findall(
            r"^(mailgrants_\w+) =\s*\n((?:[ \t]+\S.*\n)+)", snippet, re.M))
        lmtp = "lmtp:inet:127.0.0.1:%d" % self.dc.lmtp_port
        extra = {
            "mailgrants_sent_copy_transport": found[
                "mailgrants_sent_copy_transport"].replace(
                    "lmtp:unix:private/dovecot-lmtp", lmtp),
            "mailgrants_recipient_restrictions": found[
                "mailgrants_recipient_restrictions"],
            "transport_maps": "$mailgrants_sent_copy_transport",
            "smtpd_recipient_restrictions":
                "$mailgrants_recipient_restrictions",
            # Real submission clients are not "local": their headers
            # reach the milter as written.
            "local_header_rewrite_clients": "",
            # Queue runs soon after Dovecot is back (flush() too).
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "queue_run_delay": "1s",
        }
        self.pf = Postfix(relay_port=self.sink.port, delivery="relay",
                          sasl_path=self.sasl.auth_socket,
                          milter=self.milter.postfix_spec,
                          main_extra=extra).start()

    def close(self):
        stop_all(self.pf, self.sink, self.milter, self.sasl)
        super().close()

    def send(self, login, from_addr, rcpts, msgid=None, envelope=None,
             sender=None):
        """Submit one message as login (SASL PLAIN), From: from_addr
        (and Sender: sender); returns the Message-ID."""
        msgid = msgid or "<%s@test.example>" % uuid.uuid4().hex
        body = ("From: %s\r\n%sTo: %s\r\nSubject: sent-copy %s\r\n"
                "Message-ID: %s\r\n\r\nhello\r\n"
                % (from_addr, "Sender: %s\r\n" % sender if sender else "",
                   ", ".join(rcpts), msgid, msgid))
        s = smtplib.SMTP("127.0.0.1", self.pf.submission_port, timeout=30)
        try:
            s.ehlo("client.example.net")
            s.login(login, PASSWORDS[login])
            s.sendmail(envelope or from_addr, rcpts, body.encode())
        finally:
            s.quit()
        return msgid

    def sent_files(self, mailbox, folder=".Sent"):
        """The message files of a Maildir folder of mailbox."""
        d = os.path.join(self.dc.maildir(mailbox), folder)
        out = []
        for sub in ("new", "cur"):
            p = os.path.join(d, sub)
            if os.path.isdir(p):
                out += [os.path.join(p, n) for n in os.listdir(p)]
        return out

    def copies(self, mailbox, msgid, folder=".Sent"):
        """The files in mailbox's Sent that carry msgid."""
        found = []
        for path in self.sent_files(mailbox, folder):
            with open(path, "rb") as f:
                if msgid.encode() in f.read():
                    found.append(path)
        return found

    def wait_copy(self, mailbox, msgid, folder=".Sent"):
        try:
            wait_for(lambda: self.copies(mailbox, msgid, folder),
                     timeout=30, what="copy of %s in %s" % (msgid, mailbox))
        except TimeoutError as e:
            raise AssertionError("%s\n%s\n--- milter ---\n%s"
                                 % (e, self.diagnostics(),
                                    self.milter.log()[-2000:]))
        return self.copies(mailbox, msgid, folder)

    def wait_delivered(self):
        """Postfix is done with everything queued (a copy deferred to
        Dovecot would still be there): nothing more arrives later."""
        wait_for(self.queue_empty, timeout=30, what="queue empty")

    def queue_empty(self):
        r = subprocess.run(["/usr/sbin/postqueue", "-c",
                            self.pf.config_dir, "-p"],
                           capture_output=True, text=True, timeout=30)
        return "Mail queue is empty" in r.stdout + r.stderr


@pytest.fixture(scope="module")
def stack(slapd, build_dir, repo_dir):
    with contextlib.closing(Stack(slapd, build_dir, repo_dir)) as s:
        yield s


def seen(path):
    """Maildir: the S flag in the info part of the file name."""
    name = os.path.basename(path)
    return ":2," in name and "S" in name.split(":2,", 1)[1]


def test_copy_lands_once_and_seen(stack):
    """Sandra sends as info@ to two recipients: one copy, \\Seen, in
    info@'s Sent; the recipients get theirs, and nothing else leaves."""
    msgid = stack.send(SANDRA, "Sandra Schuster <info@abc.com>",
                       ["kunde@example.net", "other@example.net"],
                       envelope=SANDRA)
    files = stack.wait_copy("info@abc.com", msgid)
    stack.wait_delivered()
    files = stack.copies("info@abc.com", msgid)
    assert len(files) == 1, files
    assert seen(files[0]), files[0]
    # The reserved recipient never reaches the outside.
    log = stack.pf.maillog_text()
    assert re.search(r"to=<info@abc\.com\.sent\.mailgrants\.invalid>, "
                     r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d.*status=sent"
                     % stack.dc.lmtp_port, log), log[-3000:]


def test_imap_sees_it_in_company_sent(stack):
    """The team finds it over IMAP in Company/info@abc.com/Sent, seen."""
    msgid = stack.send(SANDRA, "info@abc.com", ["kunde@example.net"])
    stack.wait_copy("info@abc.com", msgid)
    m = imaplib.IMAP4("127.0.0.1", stack.dc.imap_port, timeout=20)
    try:
        assert m.login(JANA, PASSWORDS[JANA])[0] == "OK"
        typ, _ = m.select('"Company/info@abc.com/Sent"', readonly=True)
        assert typ == "OK"
        typ, data = m.search(None, "HEADER", "Message-ID", msgid)
        nums = data[0].split()
        assert len(nums) == 1, data
        typ, data = m.fetch(nums[0], "(FLAGS)")
        assert b"\\Seen" in data[0], data
    finally:
        m.logout()


def test_extra_private_mailbox(stack):
    """makler@ (Sandra's extra private mailbox, site default) too."""
    msgid = stack.send(SANDRA, "makler@abc.com", ["kunde@example.net"])
    files = stack.wait_copy("makler@abc.com", msgid)
    assert len(files) == 1


def test_sent_on_behalf_of_a_mailbox_with_copies(stack):
    """Tom, on a share of makler@ with the right to send on behalf:
    From: makler@ with Sender: himself files the copy in makler@'s
    Sent, as sending as it would; without the Sender: nothing is sent
    and nothing filed."""
    share = "cn=tom-behalf," + example.MAKLER_DN
    rc, _out, err = stack.slapd.ldapadd(
        "dn: %s\nobjectClass: mailgrantsShare\ncn: tom-behalf\n"
        "mailgrantsGrantee: %s\nmailgrantsSendOnBehalf: TRUE\n"
        % (share, example.TOM_DN), root=True)
    assert rc == 0, err
    try:
        stack.sync()
        msgid = stack.send(TOM, "makler@abc.com", ["kunde@example.net"],
                           envelope=TOM, sender=TOM)
        files = stack.wait_copy("makler@abc.com", msgid)
        assert len(files) == 1, files
        log = stack.milter.log()
        assert re.search(r"action=dunno login=tom\.berger@abc\.com "
                         r"header=from address=<makler@abc\.com> .* "
                         r"reason=on_behalf$", log, re.M), log[-2000:]
        assert re.search(r"action=sent_copy login=tom\.berger@abc\.com "
                         r"header=from address=<makler@abc\.com> ", log), \
            log[-2000:]
        with pytest.raises(smtplib.SMTPDataError):
            stack.send(TOM, "makler@abc.com", ["kunde@example.net"],
                       envelope=TOM)
    finally:
        rc, _out, err = stack.slapd.ldapmodify(
            "dn: %s\nchangetype: delete\n" % share, root=True)
        assert rc == 0, err
        stack.sync()


def test_sent_as_oneself_unchanged(stack):
    """From: her own address: no copy anywhere, one recipient only."""
    before = stack.milter.log().count("action=sent_copy")
    msgid = stack.send(SANDRA, SANDRA, ["kunde@example.net"])
    stack.wait_delivered()
    for box in (SANDRA, "info@abc.com", "makler@abc.com"):
        assert stack.copies(box, msgid) == [], box
    assert stack.milter.log().count("action=sent_copy") == before


def test_client_copy_first_then_no_second(stack):
    """The client saved its own copy into info@'s Sent (APPEND) before
    the server's arrives: the server files nothing more."""
    msgid = "<%s@test.example>" % uuid.uuid4().hex
    m = imaplib.IMAP4("127.0.0.1", stack.dc.imap_port, timeout=20)
    try:
        assert m.login(SANDRA, PASSWORDS[SANDRA])[0] == "OK"
        own = ("From: info@abc.com\r\nTo: kunde@example.net\r\n"
               "Bcc: chef@example.net\r\nSubject: sent-copy %s\r\n"
               "Message-ID: %s\r\n\r\nhello\r\n" % (msgid, msgid))
        typ, data = m.append('"Company/info@abc.com/Sent"', "(\\Seen)",
                             None, own.encode())
        assert typ == "OK", data
    finally:
        m.logout()
    stack.send(SANDRA, "info@abc.com", ["kunde@example.net"], msgid=msgid)
    stack.wait_delivered()
    wait_for(lambda: "has this Message-ID already" in
             stack.dc.log_text(), timeout=20, what="lmtp dedupe")
    files = stack.copies("info@abc.com", msgid)
    assert len(files) == 1, files
    with open(files[0], "rb") as f:
        assert b"Bcc: chef@example.net" in f.read()   # the client's


def test_recipient_cannot_be_forged(stack):
    """Nobody may name the reserved recipient: not from outside (port
    25), not a logged-in user (submission)."""
    s = smtplib.SMTP("127.0.0.1", stack.pf.mx_port, timeout=30)
    try:
        s.ehlo("evil.example.net")
        assert s.mail("evil@example.net")[0] == 250
        code, text = s.rcpt("info@abc.com" + COPY_DOMAIN)
        assert code == 554 or code == 550, (code, text)
        assert b"reserved for sent copies" in text, text
    finally:
        s.quit()
    s = smtplib.SMTP("127.0.0.1", stack.pf.submission_port, timeout=30)
    try:
        s.ehlo("client.example.net")
        s.login(SANDRA, PASSWORDS[SANDRA])
        assert s.mail(SANDRA)[0] == 250
        code, text = s.rcpt("INFO@abc.com" + COPY_DOMAIN.upper())
        assert code in (550, 554), (code, text)
    finally:
        s.quit()


def test_dovecot_down_copy_waits(stack, monkeypatch):
    """Dovecot down: the message is accepted, the copy deferred, and
    delivered once when Dovecot is back."""
    imap_port, lmtp_port = stack.dc.imap_port, stack.dc.lmtp_port
    stack.dc.stop()
    try:
        msgid = stack.send(SANDRA, "info@abc.com", ["kunde@example.net"])
        stack.pf.wait_log(r"to=<info@abc\.com\.sent\.mailgrants\.invalid>"
                          r".*status=deferred", timeout=30)
        assert stack.copies("info@abc.com", msgid) == []
    finally:
        monkeypatch.setattr(dovecot_module, "free_ports",
                            lambda n: [imap_port, lmtp_port])
        stack.dc.start()
    stack.pf.flush()
    files = stack.wait_copy("info@abc.com", msgid)
    stack.wait_delivered()
    time.sleep(1)
    assert len(stack.copies("info@abc.com", msgid)) == 1, files


def imap_append(stack, login, folder, msgid, extra=""):
    m = imaplib.IMAP4("127.0.0.1", stack.dc.imap_port, timeout=20)
    try:
        assert m.login(login, PASSWORDS[login])[0] == "OK"
        own = ("From: info@abc.com\r\nTo: kunde@example.net\r\n"
               "Bcc: chef@example.net\r\nSubject: sent-copy %s\r\n"
               "Message-ID: %s\r\n%s\r\nhello\r\n" % (msgid, msgid, extra))
        typ, data = m.append('"%s"' % folder, "(\\Seen)", None,
                             own.encode())
        assert typ == "OK", data
        return data
    finally:
        try:
            m.logout()
        except imaplib.IMAP4.abort:
            raise AssertionError(stack.dc.log_text()[-3000:])


def test_client_copy_after_server_copy_wins(stack):
    """The usual order: the client sends, the server files its copy,
    then the client APPENDs its own into info@'s Sent: the server's
    goes, the client's (with its Bcc:) stays."""
    msgid = stack.send(SANDRA, "info@abc.com", ["kunde@example.net"])
    stack.wait_copy("info@abc.com", msgid)
    stack.wait_delivered()
    data = imap_append(stack, SANDRA, "Company/info@abc.com/Sent", msgid)
    assert b"APPENDUID" in data[0], data
    wait_for(lambda: len(stack.copies("info@abc.com", msgid)) == 1,
             timeout=10, what="one copy left")
    files = stack.copies("info@abc.com", msgid)
    with open(files[0], "rb") as f:
        assert b"Bcc: chef@example.net" in f.read()


def test_client_copies_of_its_own_are_kept(stack):
    """Only the server's copies go: a message the client saved twice
    (same Message-ID, no keyword) stays twice."""
    stack.wait_copy("info@abc.com", stack.send(SANDRA, "info@abc.com",
                                               ["kunde@example.net"]))
    msgid = "<%s@test.example>" % uuid.uuid4().hex
    imap_append(stack, SANDRA, "Company/info@abc.com/Sent", msgid)
    imap_append(stack, SANDRA, "Company/info@abc.com/Sent", msgid)
    assert len(stack.copies("info@abc.com", msgid)) == 2


INFO_DN = "cn=info@abc.com,ou=mailboxes,o=abc.com,dc=example,dc=org"


def explain(stack, login, address, *opts):
    r = subprocess.run([os.path.join(stack.build_dir, "mailgrants"), "-c",
                        stack.conf, "explain"] + list(opts) +
                       [login, address], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_entry_decides_and_explain_says(stack):
    """mailgrantsSentCopies: FALSE on info@ beats the site default; the
    milter then adds no copy; explain says which setting decided."""
    out = explain(stack, SANDRA, "info@abc.com")
    assert ("sent copies: yes (site default sent_copies); mail this login"
            " sends as the address is also filed in the Sent folder of"
            " info@abc.com") in out, out
    rc, out, err = stack.slapd.ldapmodify(
        "dn: %s\nchangetype: modify\nadd: mailgrantsSentCopies\n"
        "mailgrantsSentCopies: FALSE\n" % INFO_DN, root=True)
    assert rc == 0, out + err
    try:
        stack.sync()
        out = explain(stack, SANDRA, "info@abc.com")
        assert "sent copies: no (the mailbox's entry)" in out, out
        js = json.loads(explain(stack, SANDRA, "info@abc.com", "--json"))
        assert js["sent_copies"] is False
        assert js["sent_copies_from"] == "entry"
        # The milter reads the new replica: no copy any more.
        before = stack.milter.log().count("action=sent_copy")
        msgid = stack.send(SANDRA, "info@abc.com", ["kunde@example.net"])
        stack.wait_delivered()
        assert stack.copies("info@abc.com", msgid) == []
        assert stack.milter.log().count("action=sent_copy") == before
    finally:
        rc, out, err = stack.slapd.ldapmodify(
            "dn: %s\nchangetype: modify\ndelete: mailgrantsSentCopies\n"
            % INFO_DN, root=True)
        assert rc == 0, out + err
        stack.sync()
    js = json.loads(explain(stack, SANDRA, "info@abc.com", "--json"))
    assert js["sent_copies"] is True and js["sent_copies_from"] == "default"
    # A person's own mailbox: never.
    out = explain(stack, SANDRA, SANDRA)
    assert "sent copies: no" in out, out


# A site's own namespace configuration, the same in 2.3 and 2.4 syntax:
# Outlook-style, the sent folder is "Sent Items" and there is no Sent.
SENT_ITEMS_CONF = ('namespace inbox {\n  mailbox "Sent Items" {\n'
                   '    special_use = \\Sent\n  }\n}\n')
# Debian's 15-mailboxes.conf: "Sent" is the \Sent folder.
DEBIAN_SENT_CONF = ('namespace inbox {\n  mailbox Sent {\n'
                    '    special_use = \\Sent\n  }\n}\n')


@contextlib.contextmanager
def site_dovecot(stack, name, site_conf):
    """The stack's Dovecot (plugin, userdb, replica) with site_conf,
    on empty storage of its own."""
    d = os.path.join(stack.wd, name)
    os.makedirs(d)
    os.chmod(d, 0o755)
    dc = stack.start_dovecot(d, site_conf=site_conf)
    try:
        yield dc
    finally:
        dc.stop()


def lmtp_copy(dc, mailbox):
    """A sent copy for mailbox straight over LMTP, as Postfix hands it
    on (the milter's recipient); returns its Message-ID."""
    msgid = "<%s@test.example>" % uuid.uuid4().hex
    body = ("From: %s\r\nTo: kunde@example.net\r\nSubject: sent-copy\r\n"
            "Message-ID: %s\r\n\r\nhello\r\n" % (mailbox, msgid))
    s = smtplib.LMTP("127.0.0.1", dc.lmtp_port, timeout=30)
    try:
        refused = s.sendmail(SANDRA, [mailbox + COPY_DOMAIN], body.encode())
        assert refused == {}, refused
    finally:
        s.quit()
    return msgid


def maildir_files(dc, mailbox, folder, msgid):
    """The files of a Maildir folder of mailbox that carry msgid."""
    found = []
    for sub in ("new", "cur"):
        p = os.path.join(dc.maildir(mailbox), folder, sub)
        for n in os.listdir(p) if os.path.isdir(p) else ():
            with open(os.path.join(p, n), "rb") as f:
                if msgid.encode() in f.read():
                    found.append(os.path.join(p, n))
    return found


def test_copy_goes_to_a_differently_named_sent(stack):
    """The site's \\Sent folder is "Sent Items" (and info@ has none
    yet): the copy is filed there, once and \\Seen; no "Sent" is
    made beside it."""
    with site_dovecot(stack, "sent-items", SENT_ITEMS_CONF) as dc:
        msgid = lmtp_copy(dc, "info@abc.com")
        files = maildir_files(dc, "info@abc.com", ".Sent Items", msgid)
        assert len(files) == 1, (files, dc.log_text()[-3000:])
        assert seen(files[0]), files[0]
        # Now it exists, and is listed \Sent: the next one goes there too.
        msgid = lmtp_copy(dc, "info@abc.com")
        assert len(maildir_files(dc, "info@abc.com", ".Sent Items",
                                 msgid)) == 1, dc.log_text()[-3000:]
        assert not os.path.exists(os.path.join(dc.maildir("info@abc.com"),
                                               ".Sent")), dc.log_text()


def special_use(dc, mailbox, folder):
    """What the mailbox's own namespace says of folder's special use
    (the RFC 6154 attribute /private/specialuse, as its own LIST)."""
    r = subprocess.run(["doveadm", "-c", dc.conf_path, "mailbox",
                        "metadata", "get", "-u", mailbox, folder,
                        "/private/specialuse"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.strip()


def list_special(dc, login, pattern):
    """LIST "" pattern RETURN (SPECIAL-USE) as login: {name: flags}."""
    m = imaplib.IMAP4("127.0.0.1", dc.imap_port, timeout=20)
    try:
        assert m.login(login, PASSWORDS[login])[0] == "OK"
        typ, data = m._simple_command("LIST", '""', pattern,
                                      "RETURN (SPECIAL-USE)")
        assert typ == "OK", data
        typ, data = m._untagged_response(typ, data, "LIST")
    finally:
        m.logout()
    out = {}
    for line in data:
        if line is None:
            continue
        line = line.decode() if isinstance(line, bytes) else line
        mt = re.match(r'\((.*?)\) (?:"."|NIL) "?(.*?)"?$', line)
        assert mt, line
        out[mt.group(2)] = mt.group(1).split()
    return out


def test_created_sent_is_special_use_as_configured(stack):
    """Sent missing, created by the plugin: with the site's "mailbox
    Sent { special_use = \\Sent }" (Debian's 15-mailboxes.conf) the
    mailbox's own namespace has it as \\Sent; without that line it
    is a plain folder (Dovecot takes special-use from configuration
    only). Jana, working in it as Company/info@abc.com/Sent, sees it
    without \\Sent either way."""
    with site_dovecot(stack, "debian-sent", DEBIAN_SENT_CONF) as dc:
        assert not os.path.exists(os.path.join(dc.maildir("info@abc.com"),
                                               ".Sent"))
        msgid = lmtp_copy(dc, "info@abc.com")
        assert len(maildir_files(dc, "info@abc.com", ".Sent", msgid)) == 1
        assert special_use(dc, "info@abc.com", "Sent") == "\\Sent"
        # Jana's view is a shared namespace: Dovecot (2.3.19, 2.4.1)
        # gives its folders none of namespace inbox's mailbox settings,
        # so no special use (and her client never takes it for her own
        # Sent).
        seen_by_jana = list_special(dc, JANA, "Company/info@abc.com/*")
        assert seen_by_jana.get("Company/info@abc.com/Sent") == [], \
            seen_by_jana
    # The stack's Dovecot has no such line: the plugin creates Sent all
    # the same, and it is a plain folder.
    msgid = lmtp_copy(stack.dc, "makler@abc.com")
    assert len(maildir_files(stack.dc, "makler@abc.com", ".Sent",
                             msgid)) == 1
    assert special_use(stack.dc, "makler@abc.com", "Sent") == ""
