"""Sharing from a mail client: SETACL, DELETEACL, GETACL and LISTRIGHTS
end to end, with a real slapd (our schema and access rules), the
follower (mailgrants sync --follow), mailgrants share-service and a real
Dovecot with both plugins, whose passdb hands the login's password to
the mail process (README, "Sharing from your mail client").

What a client asked is checked in the directory (read as the rootdn),
and what it means through IMAP: the grantee's LIST, the owner's GETACL
once the follower has carried the change into the replica.
"""

import contextlib
import imaplib
import socket
import sqlite3
import time

import pytest

import example
import daemonutil
from daemonutil import kill_group
from example import ANNA, JANA, PETER, SANDRA, TOM
from example import PETER_DN, SANDRA_DN, TOM_DN, MAKLER_DN
from mgdovecot import listed
from sharestack import running_stack

VERTRIEB = "cn=vertrieb,ou=groups," + example.ABC
VACATION = "cn=vacation," + PETER_DN
SETTLE = 20.0		# the follower's latency, with room

# imaplib knows GETACL, SETACL, DELETEACL and MYRIGHTS, not LISTRIGHTS
imaplib.Commands.setdefault("LISTRIGHTS", ("AUTH", "SELECTED"))


@pytest.fixture
def stack(build_dir, repo_dir):
    with running_stack(build_dir, repo_dir, "mg-imapshare-") as s:
        yield s


@contextlib.contextmanager
def session(stack, login):
    m = stack.imap(login)
    try:
        yield m
    finally:
        m.logout()


def cmd(m, *args):
    """An ACL command: (status, tagline text, untagged data)."""
    name = args[0]
    typ, data = m._simple_command(*args)
    untagged = m.untagged_responses.pop(
        {"GETACL": "ACL"}.get(name, name), [])
    return typ, b" ".join(d for d in data if isinstance(d, bytes)).decode(
        errors="replace"), [u.decode() for u in untagged]


def acl(m, mailbox):
    """GETACL as {identifier: letters}."""
    typ, text, data = cmd(m, "GETACL", mailbox)
    assert typ == "OK", text
    (line,) = data
    parts = line.split()[1:]
    assert len(parts) % 2 == 0, line
    return {parts[i].strip('"'): parts[i + 1].strip('"')
            for i in range(0, len(parts), 2)}


def wait_for(pred, what, stack):
    try:
        daemonutil.wait_for(pred, timeout=SETTLE, interval=0.25, what=what)
    except TimeoutError as e:
        raise AssertionError("%s\n%s" % (e, stack.logs()))


def grantees(attrs):
    return sorted(v.lower() for v in attrs.get("mailgrantsgrantee", []))


def test_owner_shares_and_unshares_her_inbox(stack):
    shared = "Shared/%s" % PETER
    before = stack.shares()
    with session(stack, TOM) as tom, session(stack, PETER) as peter:
        assert shared not in listed(tom)
        assert TOM not in acl(peter, "INBOX")
        typ, text, _ = cmd(peter, "SETACL", "INBOX", TOM, "lr")
        assert typ == "OK", text
        # the reply came after the entry was written
        new = {dn: a for dn, a in stack.shares().items() if dn not in before}
        (dn, attrs), = new.items()
        assert dn.endswith("," + PETER_DN.lower())
        assert grantees(attrs) == [TOM_DN.lower()]
        assert attrs["mailgrantsrights"] == ["lr"]
        # the reply waited for the follower: the next GETACL shows Tom
        owner = acl(peter, "INBOX")
        assert owner.get(TOM) == "lr", owner
        # and it reaches every front end
        wait_for(lambda: shared in listed(tom), "Tom lists Peter", stack)
        assert "a" in owner[PETER] and "l" in owner[PETER]
        # every folder of the mailbox has the mailbox's shares
        assert acl(peter, "INBOX") == owner
        typ, text, data = cmd(peter, "LISTRIGHTS", "INBOX", TOM)
        assert typ == "OK", text
        assert data == ['"INBOX" "%s" "" l r s w i p k x t e' % TOM] or \
            data == ['INBOX %s "" l r s w i p k x t e' % TOM], data
        typ, text, _ = cmd(peter, "DELETEACL", "INBOX", TOM)
        assert typ == "OK", text
        assert not any(TOM_DN.lower() in grantees(a)
                       for a in stack.shares().values())
        assert TOM not in acl(peter, "INBOX")
        wait_for(lambda: shared not in listed(tom), "Tom's LIST", stack)
    log = stack.service_text()
    assert "login=%s op=set" % PETER in log
    assert "grantee=%s rights=lr: added %s" % (TOM, dn) in log.lower() or \
        ("grantee=%s" % TOM in log and dn in log.lower())
    assert example.PASSWORDS[PETER] not in log
    with open(stack.dc.log_path) as f:
        dlog = f.read()
    assert "SETACL %s %s lr: ok" % (PETER, TOM) in dlog
    assert example.PASSWORDS[PETER] not in dlog


def test_rights_change_keeps_the_window(stack):
    vac = stack.shares()[VACATION.lower()]
    with session(stack, PETER) as peter:
        typ, text, _ = cmd(peter, "SETACL", "INBOX", SANDRA, "lrs")
        assert typ == "OK", text
        after = stack.shares()
        mine = {dn: a for dn, a in after.items()
                if SANDRA_DN.lower() in grantees(a)}
        (dn, attrs), = mine.items()
        assert attrs["mailgrantsrights"] == ["lrs"]
        assert attrs["mailgrantsnotbefore"] == vac["mailgrantsnotbefore"]
        assert attrs["mailgrantsnotafter"] == vac["mailgrantsnotafter"]
        # Jana keeps hers as it was
        assert grantees(after[VACATION.lower()]) == [
            example.JANA_DN.lower()]
        wait_for(lambda: acl(peter, "INBOX").get(SANDRA) == "lrs",
                 "GETACL shows Sandra's new rights", stack)
        # "-s" takes one right away, the window still kept
        typ, text, _ = cmd(peter, "SETACL", "INBOX", SANDRA, "-s")
        assert typ == "OK", text
        attrs = stack.shares()[dn]
        assert attrs["mailgrantsrights"] == ["lr"]
        assert attrs["mailgrantsnotafter"] == vac["mailgrantsnotafter"]
        # DELETEACL removes it whatever its window
        typ, text, _ = cmd(peter, "DELETEACL", "INBOX", SANDRA)
        assert typ == "OK", text
        assert not any(SANDRA_DN.lower() in grantees(a)
                       for a in stack.shares().values())


def test_group_grantee_on_her_other_mailbox(stack):
    box = "Private/makler@abc.com"
    with session(stack, SANDRA) as sandra, session(stack, JANA) as jana:
        assert "Shared/makler@abc.com" not in listed(jana)
        # she administers it: clients (Roundcube's acl) offer sharing
        typ, data = sandra.myrights(box)
        assert typ == "OK" and b"a" in data[0].split()[-1], data
        assert "a" in acl(sandra, box)[SANDRA]
        typ, text, _ = cmd(sandra, "SETACL", box, VERTRIEB, "lrs")
        assert typ == "OK", text
        new = [a for dn, a in stack.shares().items()
               if dn.endswith("," + MAKLER_DN.lower())]
        assert [grantees(a) for a in new] == [[VERTRIEB.lower()]]
        wait_for(lambda: "Shared/makler@abc.com" in listed(jana),
                 "Jana (in the group) lists makler@", stack)
        # GETACL shows the directory's share: the group, as the
        # identifier DELETEACL takes back (not its members one by one)
        got = acl(sandra, box)
        assert got.get(VERTRIEB) == "lrs", got
        assert JANA not in got and PETER not in got, got
        typ, text, _ = cmd(sandra, "DELETEACL", box, VERTRIEB)
        assert typ == "OK", text
        assert VERTRIEB not in acl(sandra, box)
        wait_for(lambda: "Shared/makler@abc.com" not in listed(jana),
                 "the group's share ended", stack)


def future_share(stack, grantee_dn, rights="lr"):
    """A share of Peter's that begins next year, as an admin's
    "mailgrants share --from" writes it."""
    dn = "cn=future," + PETER_DN
    rc, _, err = stack.slapd.ldapadd(
        "dn: %s\nobjectClass: mailgrantsShare\ncn: future\n"
        "mailgrantsGrantee: %s\nmailgrantsRights: %s\n"
        "mailgrantsNotBefore: %d0101000000Z\n"
        % (dn, grantee_dn, rights, time.gmtime().tm_year + 1), root=True)
    assert rc == 0, err
    return dn.lower()


def test_future_share_shown_and_changed_quickly(stack):
    """A share whose window has not begun is a share: GETACL shows it,
    and SETACL on it answers as soon as the replica has the new rights
    (it grants nothing yet, so who sees the mailbox does not change:
    waiting for that would wait the whole settle time)."""
    dn = future_share(stack, TOM_DN)
    with session(stack, PETER) as peter:
        assert acl(peter, "INBOX").get(TOM) == "lr"
        wait_for(lambda: _replica_rights(stack, dn) == "lr",
                 "the follower has the future share", stack)
        t0 = time.monotonic()
        typ, text, _ = cmd(peter, "SETACL", "INBOX", TOM, "lrs")
        took = time.monotonic() - t0
        assert typ == "OK", text
        assert took < 2.0, took
        print("SETACL on a future share took %.2f s" % took)
        assert stack.shares()[dn]["mailgrantsrights"] == ["lrs"]
        # the reply waited for the replica, not in vain
        assert _replica_rights(stack, dn) == "lrs"
        assert acl(peter, "INBOX").get(TOM) == "lrs"
        t0 = time.monotonic()
        typ, text, _ = cmd(peter, "DELETEACL", "INBOX", TOM)
        assert typ == "OK", text
        assert time.monotonic() - t0 < 2.0
        assert _replica_rights(stack, dn) is None
        assert TOM not in acl(peter, "INBOX")


def _replica_rights(stack, dn):
    db = sqlite3.connect("file:%s?mode=ro" % stack.replica, uri=True)
    try:
        row = db.execute("SELECT rights FROM shares WHERE dn = ?",
                         (dn,)).fetchone()
    finally:
        db.close()
    return row[0] if row else None


def test_getacl_with_slapd_down_answers_from_the_replica(stack):
    """Reading does not fail with the directory: GETACL answers with
    the replica's view (who sees the mailbox now), and the log says
    why."""
    with session(stack, PETER) as peter:
        # from the directory: the share's own letters
        assert acl(peter, "INBOX").get(SANDRA) == "lrswiktecd"
        stack.slapd.stop()
        try:
            got = acl(peter, "INBOX")
        finally:
            stack.slapd.start()
    assert got.get(SANDRA) and got.get(JANA), got
    assert "a" in got[PETER], got
    with open(stack.dc.log_path) as f:
        assert "GETACL from the replica" in f.read()


def test_changed_password_is_not_an_outage(stack):
    """The password changed in the directory after the login: SETACL
    and DELETEACL say to log in again (not "try again later"), and
    nothing is changed; GETACL still answers (from the replica)."""
    before = stack.shares()
    with session(stack, PETER) as peter:
        rc, _, err = stack.slapd.ldapmodify(
            "dn: %s\nchangetype: modify\nreplace: userPassword\n"
            "userPassword: a-new-one\n" % PETER_DN, root=True)
        assert rc == 0, err
        answers = [cmd(peter, "SETACL", "INBOX", TOM, "lr"),
                   cmd(peter, "DELETEACL", "INBOX", SANDRA)]
        assert acl(peter, "INBOX").get(SANDRA)
    for typ, text, _ in answers:
        assert typ == "NO", text
        assert text.startswith("[NOPERM] "), text
        assert "did not accept your password" in text, text
        assert "log in again" in text, text
    assert stack.shares() == before


@pytest.mark.parametrize("login,args,code,says", [
    # a sub-folder: shares are whole mailboxes
    (PETER, ("SETACL", "Projects", TOM, "lr"), "CANNOT", "whole mailboxes"),
    # a grantee cannot pass on what is shared with her
    (SANDRA, ("SETACL", "Shared/%s" % PETER, TOM, "lr"), "NOPERM",
     "Only the owner"),
    (SANDRA, ("DELETEACL", "Shared/%s" % PETER, JANA), "NOPERM",
     "Only the owner"),
    # company mailboxes are the admins'
    (PETER, ("SETACL", "Company/info@abc.com", TOM, "lr"), "NOPERM",
     "mail administrators"),
    # outside the owner's company
    (PETER, ("SETACL", "INBOX", ANNA, "lr"), "NOPERM", "company"),
    # rights a share cannot carry
    (PETER, ("SETACL", "INBOX", TOM, "lra"), "NOPERM", "administer"),
    (PETER, ("SETACL", "INBOX", TOM, "lrz"), "NOPERM", "RFC 4314"),
    # not a user or group
    (PETER, ("SETACL", "INBOX", "anyone", "lr"), "CANNOT", "not anyone"),
    (PETER, ("SETACL", "INBOX", "-" + TOM, "lr"), "CANNOT",
     "negative rights"),
    (PETER, ("SETACL", "INBOX", PETER, "lr"), "CANNOT", "the owner"),
    (PETER, ("SETACL", "INBOX", "nobody@abc.com", "lr"), "NOPERM",
     "nobody@abc.com"),
])
def test_refusals(stack, login, args, code, says):
    before = stack.shares()
    with session(stack, login) as m:
        if args[1] == "Projects":
            assert m.create("Projects")[0] == "OK"
        typ, text, _ = cmd(m, *args)
    assert typ == "NO", text
    assert text.startswith("[%s] " % code), text
    assert says in text, text
    assert stack.shares() == before


def test_slapd_down_is_temporary_and_writes_nothing(stack):
    before = stack.shares()
    with session(stack, PETER) as peter:
        stack.slapd.stop()
        try:
            answers = [cmd(peter, "SETACL", "INBOX", TOM, "lr"),
                       cmd(peter, "SETACL", "INBOX", SANDRA, "lr"),
                       cmd(peter, "DELETEACL", "INBOX", SANDRA)]
        finally:
            stack.slapd.start()
    for typ, text, _ in answers:
        assert typ == "NO", text
        assert text.startswith("[UNAVAILABLE] "), text
        assert "nothing was changed" in text, text
    assert stack.shares() == before


def test_service_down_is_temporary(stack):
    kill_group(stack.procs[1])
    with session(stack, PETER) as peter:
        typ, text, _ = cmd(peter, "SETACL", "INBOX", TOM, "lr")
    assert typ == "NO" and text.startswith("[UNAVAILABLE] "), text


def test_login_without_password_gets_a_clear_no(build_dir, repo_dir):
    """A passdb that does not hand the password on (a SCRAM or OAuth
    login has none): a clear NO, nothing asked."""
    with running_stack(build_dir, repo_dir, "mg-imapshare-",
                       passdb_fields=None) as s:
        before = s.shares()
        with session(s, PETER) as peter:
            typ, text, _ = cmd(peter, "SETACL", "INBOX", TOM, "lr")
        assert typ == "NO" and text.startswith("[CANNOT] "), text
        assert "password" in text
        assert s.shares() == before
        assert "op=" not in s.service_text()


@pytest.mark.parametrize("first,rest", [
    ("SETACL {5+}\r\nINBOX", " %s lr\r\n" % TOM),
    ("DELETEACL {5+}\r\nINBOX", " %s\r\n" % TOM),
    ("LISTRIGHTS {5+}\r\nINBOX", " %s\r\n" % TOM),
    ("SETACL {20+}\r\nCompany/info@abc.com", " %s lr\r\n" % TOM),
])
def test_command_line_in_two_pieces(stack, first, rest):
    """The mailbox (a literal) first, the other arguments a moment
    later: the command waits for them and answers (a command that had
    read the mailbox alone and returned for more input was never called
    again, and the session hung)."""
    s = socket.create_connection(("127.0.0.1", stack.dc.imap_port),
                                 timeout=10)
    f = s.makefile("rb")
    try:
        f.readline()
        s.sendall(b'a LOGIN "%s" "%s"\r\n' % (
            PETER.encode(), example.PASSWORDS[PETER].encode()))
        while not f.readline().startswith(b"a "):
            pass
        s.sendall(b"b " + first.encode())
        time.sleep(0.5)
        s.sendall(rest.encode())
        while True:
            line = f.readline()
            assert line, "connection closed"
            if line.startswith(b"b "):
                break
        assert line.split()[1] in (b"OK", b"NO"), line
    finally:
        f.close()
        s.close()
