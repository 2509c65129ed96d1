"""Delivery: every address mailgrants grants receives mail (README
"Delivery"), on a server that already resolves its people itself.

One stack for the file, with real servers on loopback:
slapd (the example directory) -> `mailgrants sync --once` -> the replica
in a directory like /var/lib/mailgrants (group of the readers, 2750) ->
- mailgrants-policyd serving the socketmap maps "mailbox" and "alias"
  (as nobody, whose group reads the replica), asked by
- Postfix on a port-25 service, with the site's own LDAP
  virtual_mailbox_maps (people: inetOrgPerson) first and the shipped
  delivery.main.cf.snippet's maps after it, handing mail to
- Dovecot's LMTP with the site's own LDAP userdb (people) followed by
  the shipped 91-mailgrants-userdb.conf and dovecot-mailgrants-sql.conf.ext
  (sqlite userdb on the replica, in an auth-worker that runs as
  dovecot, not root), and the plugin's 90-mailgrants.conf for IMAP.
Dovecot's mail user is "mail", which is not in the readers' group: the
mail processes read the replica only through the shipped
mail_access_groups (issue point 2).

The readers' group is nogroup here (a group every host has) instead of
the package's mailgrants-read; the files are changed only in that name
and in paths.
"""

import contextlib
import grp
import imaplib
import os
import re
import shutil
import smtplib
import socket
import subprocess
import time
import uuid

import pytest

from daemonutil import make_workdir, stop_all, wait_for
from dovecot import Dovecot, is_24
from example import BUCHHALTUNG_DN, PASSWORDS, PETER_DN
from mgdovecot import in_maildir, listed, make_plugin_dir, plugin_conf
from policyd import Policyd
from postfix import Postfix

READERS = "nogroup"
MAIL_USER = "mail"
PEOPLE_FILTER = "(&(objectClass=inetOrgPerson)(mail=%u))"
PETER_ALIAS = "peter.m\u00fcller@abc.com"


def shipped(repo_dir, *path):
    with open(os.path.join(repo_dir, *path), encoding="utf-8") as f:
        return f.read()


def adapt(text, replica, vmail_dir):
    """A shipped file with this instance's paths, mail user and group."""
    for old, new in (("/var/lib/mailgrants/grants.db", replica),
                     ("/var/vmail/", vmail_dir + "/"),
                     ("'vmail'", "'%s'" % MAIL_USER)):
        assert old in text, old
        text = text.replace(old, new)
    return text


class Stack:
    """slapd (fixture) + replica + policyd + Dovecot + Postfix."""

    def __init__(self, slapd, build_dir, repo_dir):
        self.slapd = slapd
        self.build_dir = build_dir
        self.repo_dir = repo_dir
        self.wd = make_workdir("mg-deliver-")
        self.policyd = self.dc = self.pf = None
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self):
        # As /var/lib/mailgrants: the readers' group, 2750, so that
        # only members of it (or mail_access_groups) get in.
        self.libdir = os.path.join(self.wd, "lib")
        os.mkdir(self.libdir)
        os.chown(self.libdir, 0, grp.getgrnam(READERS).gr_gid)
        os.chmod(self.libdir, 0o2750)
        self.replica = os.path.join(self.libdir, "grants.db")
        self.conf = self.slapd.write_config(
            os.path.join(self.wd, "mailgrants.conf"), replica=self.replica,
            replica_group=READERS)
        self.sync()

        self.map_socket = os.path.join(self.wd, "mailgrants-map")
        self.policyd = Policyd(self.build_dir, self.conf, self.wd,
                               listen="socketmap:unix:" + self.map_socket)

        self.dcdir = os.path.join(self.wd, "dovecot")
        os.makedirs(self.dcdir)
        os.chmod(self.dcdir, 0o755)
        self.plugin_dir = make_plugin_dir(self.build_dir, self.wd)
        self.dc = self.start_dovecot(self.dcdir)

        people = os.path.join(self.wd, "ldap-people.cf")
        with open(people, "w") as f:
            f.write("server_host = %s\n"
                    "version = 3\n"
                    "bind = yes\n"
                    "bind_dn = %s\n"
                    "bind_pw = %s\n"
                    "search_base = %s\n"
                    "query_filter = (&(objectClass=inetOrgPerson)"
                    "(mail=%%s))\n"
                    "result_attribute = mail\n"
                    % (self.slapd.uri, self.slapd.sync_dn,
                       self.slapd.sync_pw, self.slapd.base))
        os.chmod(people, 0o600)
        # The shipped snippet's maps, with the test's socket path (a
        # private Postfix has its queue elsewhere).
        snippet = shipped(self.repo_dir, "postfix-policyd",
                          "delivery.main.cf.snippet")
        maps = dict(re.findall(r"^(mailgrants_\w+_maps) =\s*\n\s+(\S+)",
                               snippet, re.M))
        assert set(maps) == {"mailgrants_mailbox_maps",
                             "mailgrants_alias_maps"}, maps
        maps = {k: v.replace("unix:private/mailgrants-map",
                             "unix:" + self.map_socket)
                for k, v in maps.items()}
        extra = dict(maps)
        extra.update({
            "virtual_mailbox_domains": "abc.com, xyz.org",
            "virtual_mailbox_maps": "ldap:%s, $mailgrants_mailbox_maps"
                                    % people,
            "virtual_alias_maps": "$mailgrants_alias_maps",
            "virtual_transport": "lmtp:inet:127.0.0.1:%d"
                                 % self.dc.lmtp_port,
        })
        self.pf = Postfix(delivery="discard", main_extra=extra).start()

    def start_dovecot(self, workdir, access_groups=True, site_conf=""):
        """This stack's Dovecot in workdir; site_conf: more of the
        site's own configuration (the same in 2.3 and 2.4 syntax)."""
        vmail = os.path.join(workdir, "vmail")
        conf = plugin_conf(self.repo_dir, vmail, self.replica,
                           reader_group=READERS)
        if not access_groups:
            conf = re.sub(r"(?m)^mail_access_groups = .*$", "", conf)
        if is_24():
            site, userdb = self.userdbs_24(vmail)
        else:
            site, userdb = self.userdbs_23(workdir, vmail)
        # A hardened auth-worker: the sql userdb must not need root.
        hardened = "service auth-worker {\n  user = dovecot\n}\n"
        return Dovecot(self.slapd.uri, self.slapd.sync_dn,
                       self.slapd.sync_pw, user_filter=PEOPLE_FILTER,
                       protocols=("imap", "lmtp"), lmtp_inet=True,
                       mail_user=MAIL_USER, plugin_dir=self.plugin_dir,
                       workdir=workdir, userdb_conf=site + userdb,
                       extra_conf=conf + hardened + site_conf).start()

    def userdbs_23(self, workdir, vmail):
        """The site's userdb (people, from LDAP) and the shipped one."""
        sql = os.path.join(workdir, "dovecot-mailgrants-sql.conf.ext")
        with open(sql, "w", encoding="utf-8") as f:
            f.write(adapt(shipped(self.repo_dir, "dovecot-plugin",
                                  "dovecot-mailgrants-sql.conf.ext"),
                          self.replica, vmail))
        userdb = shipped(self.repo_dir, "dovecot-plugin",
                         "91-mailgrants-userdb.conf")
        userdb = userdb.replace(
            "/etc/dovecot/dovecot-mailgrants-sql.conf.ext", sql)
        userdb = userdb.replace("mailgrants-read", READERS)
        site = ("userdb {\n  driver = ldap\n  args = {ldap_conf}\n}\n")
        return site, userdb

    def userdbs_24(self, vmail):
        """userdbs_23() in Dovecot 2.4's syntax and snippet."""
        userdb = adapt(shipped(self.repo_dir, "dovecot-plugin",
                               "91-mailgrants-userdb-2.4.conf"),
                       self.replica, vmail)
        userdb = userdb.replace("mailgrants-read", READERS)
        # 2.4 fails doveadm -A for an ldap userdb without iteration
        # settings (2.3 iterated nothing there).
        site = ("userdb ldap {\n  filter = %s\n"
                "  iterate_filter = (objectClass=inetOrgPerson)\n"
                "  iterate_fields {\n    user = %%{ldap:mail}\n  }\n}\n"
                % PEOPLE_FILTER.replace("%u", "%{user}"))
        return site, userdb

    def sync(self):
        cli = os.path.join(self.build_dir, "mailgrants")
        r = subprocess.run([cli, "-c", self.conf, "sync", "--once"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, "sync failed: %s%s" % (r.stdout, r.stderr)

    def close(self):
        stop_all(self.pf, self.dc, self.policyd)
        shutil.rmtree(self.wd, ignore_errors=True)

    def diagnostics(self):
        return ("--- maillog ---\n%s\n--- policyd ---\n%s\n--- dovecot ---\n%s"
                % ("\n".join(self.pf.maillog_text().splitlines()[-25:]),
                   "\n".join(self.policyd.log().splitlines()[-10:]),
                   "\n".join([ln for ln in self.dc.log_text().splitlines()
                              if "rror" in ln or "arning" in ln][-25:])))

    def rcpt(self, rcpt, tag=None):
        """One SMTP transaction on the port-25 service: the RCPT TO
        reply (code, text); with 250 the message (Subject: tag) is
        sent."""
        body = None
        if tag is not None:
            # An ASCII To: header: Dovecot 2.3's LMTP offers no
            # SMTPUTF8, and Postfix returns a message with UTF-8
            # headers rather than pass it (5.6.7), with or without
            # mailgrants (README "Delivery"). The envelope stays
            # UTF-8: that is what the lookups must resolve.
            to = rcpt if rcpt.isascii() else "undisclosed-recipients:;"
            body = ("From: kunde@example.net\r\nTo: %s\r\n"
                    "Subject: %s\r\n\r\nhello\r\n" % (to, tag))
        return transaction(smtplib.SMTP("127.0.0.1", self.pf.mx_port,
                                        timeout=30),
                           "client.example.net", rcpt, body)


@pytest.fixture(scope="module")
def stack(slapd, build_dir, repo_dir):
    with contextlib.closing(Stack(slapd, build_dir, repo_dir)) as s:
        yield s


def wait_stored(stack, maildir, tag):
    """Wait until the message tag is in maildir; say why not otherwise."""
    try:
        wait_for(lambda: in_maildir(maildir, tag), timeout=30,
                 what="%s in %s" % (tag, maildir))
    except TimeoutError as e:
        raise AssertionError("%s\n%s" % (e, stack.diagnostics()))


def imap_finds(dc, login, mailbox, tag):
    """login sees mailbox over IMAP, and in it the message tag."""
    m = imaplib.IMAP4("127.0.0.1", dc.imap_port, timeout=20)
    try:
        typ, _ = m.login(login, PASSWORDS[login])
        assert typ == "OK"
        names = listed(m)
        assert mailbox in names, names
        typ, _ = m.select('"%s"' % mailbox, readonly=True)
        assert typ == "OK", mailbox
        typ, data = m.search(None, "SUBJECT", tag)
        assert typ == "OK"
        return data[0].split() != []
    finally:
        m.logout()


@pytest.mark.parametrize("rcpt,storage,login,mailbox", [
    ("info@abc.com", "info@abc.com", "sandra.schuster@abc.com",
     "Company/info@abc.com"),
    ("makler@abc.com", "makler@abc.com", "sandra.schuster@abc.com",
     "Private/makler@abc.com"),
    # Postfix folds the case; the replica's normal form meets it.
    ("Info@ABC.com", "info@abc.com", "jana.meier@abc.com",
     "Company/info@abc.com"),
    # A person resolves through the site's own tables, as before.
    ("jana.meier@abc.com", "jana.meier@abc.com", "jana.meier@abc.com",
     "INBOX"),
])
def test_granted_address_receives(stack, rcpt, storage, login, mailbox):
    """Port 25 accepts every granted address, LMTP stores it in its
    mailbox's own storage (an alias in its owner's), and the people the
    grant names see it over IMAP."""
    tag = "mg-deliver-%s" % uuid.uuid4().hex
    code, text = stack.rcpt(rcpt, tag)
    assert code == 250, "%s %s\n%s" % (code, text, stack.diagnostics())
    maildir = stack.dc.maildir(storage)
    wait_stored(stack, maildir, tag)
    assert imap_finds(stack.dc, login, mailbox, tag)


def test_alias_resolved_to_owner(stack):
    """Port 25 accepts peter.müller@ (SMTPUTF8) and virtual_alias_maps
    turns it into the owner's primary address, which LMTP is given.
    (Dovecot 2.3's LMTP offers no SMTPUTF8: Postfix hands it no message
    that arrived with SMTPUTF8 and carries UTF-8 anywhere in envelope
    or headers, and its Received: header names the UTF-8 recipient;
    README "Delivery" says what to do. Dovecot's side of the alias:
    test_lmtp_alias_lands_with_its_owner.)"""
    tag = "mg-deliver-%s" % uuid.uuid4().hex
    code, text = stack.rcpt(PETER_ALIAS, tag)
    assert code == 250, "%s %s\n%s" % (code, text, stack.diagnostics())
    stack.pf.wait_log(r"to=<peter\.mueller@abc\.com>, orig_to=<%s>, "
                      r"relay=127\.0\.0\.1" % re.escape(PETER_ALIAS),
                      timeout=30)
    code, text = stack.rcpt("peter.m\u00fcller+privat@abc.com")
    assert code == 250, (code, text)


def test_extension_reaches_the_mailbox(stack):
    """info+orders@ is info@ (recipient_delimiter +)."""
    tag = "mg-deliver-%s" % uuid.uuid4().hex
    code, text = stack.rcpt("info+orders@abc.com", tag)
    assert code == 250, "%s %s\n%s" % (code, text, stack.diagnostics())
    maildir = stack.dc.maildir("info@abc.com")
    wait_stored(stack, maildir, tag)


def test_unknown_address_refused(stack):
    code, text = stack.rcpt("nobody-here@abc.com")
    assert code == 550 and "5.1.1" in text, (code, text)
    assert "User unknown in virtual mailbox table" in text


def transaction(s, helo, rcpt, body=None):
    """On the SMTP or LMTP connection s: EHLO helo, MAIL FROM
    kunde@example.net (SMTPUTF8 for a UTF-8 rcpt), RCPT TO rcpt and,
    when that is accepted and there is a body, DATA (which must be
    accepted); QUIT. Returns the RCPT reply (code, text)."""
    try:
        s.ehlo(helo)
        opts = ["SMTPUTF8"] if not rcpt.isascii() else []
        code, text = s.mail("kunde@example.net", opts)
        assert code == 250, (code, text)
        code, text = s.rcpt(rcpt)
        if code == 250 and body is not None:
            dcode, dtext = s.data(body.encode("utf-8"))
            assert dcode == 250, (dcode, dtext)
        return code, text.decode("utf-8", "replace")
    finally:
        try:
            s.quit()
        except Exception:
            pass


def lmtp_rcpt(dc, rcpt, tag=None):
    """One LMTP transaction straight to Dovecot: the RCPT reply."""
    body = None if tag is None else "Subject: %s\r\n\r\nhello\r\n" % tag
    return transaction(smtplib.LMTP("127.0.0.1", dc.lmtp_port, timeout=30),
                       "mx.example.org", rcpt, body)


def test_ascii_alias_lands_with_its_owner(stack):
    """An alias reaches its owner's storage both ways: through Postfix
    (virtual_alias_maps) and straight through Dovecot's LMTP (the sql
    userdb answers user=<primary>), and Peter sees both over IMAP."""
    alias = "p.mueller@abc.com"
    change = ("dn: %s\nchangetype: modify\n%s: mailgrantsAddress\n"
              "mailgrantsAddress: %s\n")
    stack.slapd.ldapmodify(change % (PETER_DN, "add", alias), root=True)
    try:
        stack.sync()
        maildir = stack.dc.maildir("peter.mueller@abc.com")
        tag = "mg-deliver-%s" % uuid.uuid4().hex
        code, text = lmtp_rcpt(stack.dc, alias, tag)
        assert code == 250, "%s %s\n%s" % (code, text, stack.diagnostics())
        wait_stored(stack, maildir, tag)
        assert not os.path.exists(stack.dc.maildir(alias))
        assert imap_finds(stack.dc, "peter.mueller@abc.com", "INBOX", tag)

        tag = "mg-deliver-%s" % uuid.uuid4().hex
        code, text = stack.rcpt(alias, tag)
        assert code == 250, "%s %s\n%s" % (code, text, stack.diagnostics())
        wait_stored(stack, maildir, tag)
        assert imap_finds(stack.dc, "peter.mueller@abc.com", "INBOX", tag)
    finally:
        stack.slapd.ldapmodify(change % (PETER_DN, "delete", alias),
                               root=True)
        stack.sync()
    code, text = lmtp_rcpt(stack.dc, alias)
    assert code == 550 and "5.1.1" in text, (code, text)


def test_doveadm_iterates_mailboxes(stack):
    """doveadm -A (iterate_query) reaches the mailboxes that are not
    people, once each."""
    r = subprocess.run(["doveadm", "-c", stack.dc.conf_path, "user",
                        "*@abc.com"], capture_output=True, text=True,
                       timeout=30)
    users = set(r.stdout.split())
    assert {"info@abc.com", "makler@abc.com",
            "buchhaltung@abc.com"} <= users, r.stdout + r.stderr
    assert PETER_ALIAS not in users


def test_replica_unavailable_defers(stack):
    """A replica that cannot be read: 451 4.3.0 at RCPT, never 5xx; the
    mail comes in once it is back."""
    away = stack.replica + ".away"
    os.rename(stack.replica, away)
    try:
        time.sleep(1.2)  # the daemon looks at the file once a second
        for rcpt in ("info@abc.com", PETER_ALIAS, "nobody-here@abc.com"):
            code, text = stack.rcpt(rcpt)
            assert code == 451 and "4.3.0" in text, (rcpt, code, text)
    finally:
        os.rename(away, stack.replica)
    time.sleep(1.2)
    code, text = stack.rcpt("info@abc.com")
    assert code == 250, (code, text, stack.diagnostics())
    stack.policyd.wait_log(r"lookup \w+ <info@abc\.com>: replica "
                           r"[^;]*No such file or directory")


def test_replica_unreadable_defers(stack):
    """The daemon's user loses read access: 4xx, and the log says who
    the daemon runs as and what the file allows."""
    os.chmod(stack.replica, 0o600)
    try:
        time.sleep(1.2)
        code, text = stack.rcpt("makler@abc.com")
        assert code == 451 and "4.3.0" in text, (code, text)
        stack.policyd.wait_log(r"permission denied: this process runs as "
                               r"uid \d+\(nobody\).*is mode 0600")
    finally:
        os.chmod(stack.replica, 0o640)
    time.sleep(1.2)  # the daemon looks again a second later
    assert stack.rcpt("makler@abc.com")[0] == 250


def example_entry(dn):
    """The LDIF of one entry of the example directory, as shipped."""
    text = shipped(os.path.join(os.path.dirname(__file__), "..", ".."),
                   "ldap-schema", "examples", "abc.ldif")
    for block in text.split("\n\n"):
        lines = [ln for ln in block.splitlines()
                 if not ln.startswith("#")]
        if lines and lines[0] == "dn: " + dn:
            return "\n".join(lines) + "\n"
    raise AssertionError("%s not in abc.ldif" % dn)


def test_removed_address_refused_after_sync(stack):
    """An address removed from the directory stops receiving as soon as
    the sync wrote the replica: Postfix 550 5.1.1, Dovecot LMTP 550."""
    entry = example_entry(BUCHHALTUNG_DN)
    assert stack.rcpt("buchhaltung@abc.com")[0] == 250
    stack.slapd.ldapdelete(BUCHHALTUNG_DN, root=True)
    try:
        stack.sync()
        code, text = stack.rcpt("buchhaltung@abc.com")
        assert code == 550 and "5.1.1" in text, (code, text)
        assert "User unknown in virtual mailbox table" in text
        code, text = lmtp_rcpt(stack.dc, "buchhaltung@abc.com")
        assert code == 550 and "5.1.1" in text, (code, text)
    finally:
        stack.slapd.ldapadd(entry, root=True)
        stack.sync()
    assert stack.rcpt("buchhaltung@abc.com")[0] == 250


def test_mail_processes_need_mail_access_groups(stack):
    """Point 2: the mail user is not in the readers' group. With the
    shipped mail_access_groups Sandra sees info@ (test above); without
    it she sees only her own mailboxes, and the log names the mail
    processes' uid and groups and the replica directory's mode."""
    d = os.path.join(stack.wd, "dovecot-nogroups")
    os.makedirs(d)
    os.chmod(d, 0o755)
    dc = stack.start_dovecot(d, access_groups=False)
    try:
        m = imaplib.IMAP4("127.0.0.1", dc.imap_port, timeout=20)
        try:
            assert m.login("sandra.schuster@abc.com", "sandra-pw")[0] == "OK"
            names = listed(m)
        finally:
            m.logout()
        assert not any(n.startswith("Company/") for n in names), names
        wait_for(lambda: "permission denied: this process runs as uid"
                 in dc.log_text(), timeout=10, what="the plugin's error")
        log = dc.log_text()
        assert re.search(r"uid \d+\(mail\), gid \d+\(mail\), groups",
                         log), log[-2000:]
        assert "%s is mode 2750" % stack.libdir in log, log[-2000:]
    finally:
        dc.stop()


def socketmap(path, *requests, raw=None):
    """Netstring requests on one connection: the replies, or b"" where
    the server closed the connection."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    try:
        if raw is not None:
            s.sendall(raw)
        else:
            for r in requests:
                r = r.encode("utf-8")
                s.sendall(b"%d:%s," % (len(r), r))
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
    finally:
        s.close()


def test_socketmap_protocol(stack):
    """Replies in order on one connection; bad input closes the
    connection without a reply; odd keys are not found."""
    out = socketmap(stack.map_socket, "mailbox info@abc.com",
                    "alias " + PETER_ALIAS, "mailbox @abc.com",
                    "alias abc.com", "mailbox " + "x" * 2000 + "@abc.com",
                    "nosuchmap info@abc.com")
    assert out == (b"15:OK info@abc.com,"
                   b"24:OK peter.mueller@abc.com,"
                   b"9:NOTFOUND ,9:NOTFOUND ,9:NOTFOUND ,"
                   b"35:PERM unknown map (mailbox or alias),"), out
    assert socketmap(stack.map_socket, raw=b"garbage\n") == b""
    assert socketmap(stack.map_socket, raw=b"5:mailbox,") == b""
    assert socketmap(stack.map_socket,
                     raw=b"99999999:mailbox info@abc.com,") == b""
    # The daemon is still there for the next one.
    assert socketmap(stack.map_socket, "mailbox info@abc.com") == \
        b"15:OK info@abc.com,"
