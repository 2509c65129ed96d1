"""mailgrants share-service against a real slapd with the shipped access
rules: what the imap_mailgrants plugin hands it for SETACL and DELETEACL
is written with the user's own bind, and the directory decides.

The IMAP end of it is tests/integration/test_imap_share.py; here the
protocol itself, each answer, and what is (and is not) in the directory
afterwards, read as the rootdn.
"""

import os
import re
import socket
import subprocess
import time

import pytest

import example
from example import JANA, PETER, SANDRA, TOM, ANNA
from example import PETER_DN, SANDRA_DN, TOM_DN, JANA_DN, MAKLER_DN
from slapd import Slapd
from daemonutil import kill_group

VERTRIEB = "cn=vertrieb,ou=groups," + example.ABC
VACATION = "cn=vacation," + PETER_DN


class Service:
    """mailgrants share-service on a socket of its own."""

    def __init__(self, server, build_dir, tmp, *extra):
        self.slapd = server
        self.conf = server.write_config(os.path.join(tmp, "mailgrants.conf"))
        self.socket = os.path.join(tmp, "share.sock")
        self.log = open(os.path.join(tmp, "service.log"), "w+")
        self.proc = subprocess.Popen(
            [os.path.join(build_dir, "mailgrants"), "-c", self.conf,
             "share-service", "--socket", self.socket, "--timeout", "5"]
            + list(extra),
            stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.socket):
            assert self.proc.poll() is None, self.log_text()
            assert time.monotonic() < deadline, "no socket"
            time.sleep(0.05)

    def log_text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def raw(self, data):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(self.socket)
        s.sendall(data)
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
        s.close()
        return answer.decode()

    def ask(self, op, login, grantee, rights=None, mailbox=None,
            password=None):
        if password is None:
            password = example.PASSWORDS[login]
        fields = [("op", op), ("login", login), ("password", password)]
        if grantee is not None:
            fields.append(("grantee", grantee))
        if mailbox is not None:
            fields.append(("mailbox", mailbox))
        if rights is not None:
            fields.append(("rights", rights))
        text = "".join("%s=%s\n" % (k, escape(v)) for k, v in fields)
        answer = self.raw((text + "\n").encode())
        assert answer.endswith("\n") and answer.count("\n") == 1, answer
        word, _, rest = answer.rstrip("\n").partition(" ")
        return word, rest

    def shares(self):
        return self.slapd.shares()

    def close(self):
        kill_group(self.proc)
        self.log.close()


def escape(v):
    return "".join("%%%02X" % ord(c) if c in "%\r\n" or ord(c) < 0x20
                   else c for c in v)


@pytest.fixture
def svc(build_dir, tmp_path):
    with Slapd() as server:
        s = Service(server, build_dir, str(tmp_path))
        try:
            yield s
        finally:
            s.close()


def grantees(attrs):
    return sorted(v.lower() for v in attrs.get("mailgrantsgrantee", []))


def of(shares, grantee_dn):
    """The shares naming grantee_dn: {dn: attrs}."""
    return {dn: a for dn, a in shares.items()
            if grantee_dn.lower() in grantees(a)}


def test_owner_sets_changes_and_deletes(svc):
    before = svc.shares()
    assert of(before, TOM_DN).keys() == {"cn=2024," + PETER_DN.lower()}
    word, text = svc.ask("set", PETER, TOM, "lrs")
    assert word == "ok", text
    new = set(svc.shares()) - set(before)
    assert len(new) == 1, text
    dn = new.pop()
    assert dn.endswith("," + PETER_DN.lower())
    assert "added" in text and dn.split(",")[0] in text.lower()
    assert svc.shares()[dn]["mailgrantsrights"] == ["lrs"]
    # changed in place, and "+" adds to what Tom has
    word, text = svc.ask("set", PETER, TOM, "+w")
    assert word == "ok", text
    assert svc.shares()[dn]["mailgrantsrights"] == ["lrsw"]
    # DELETEACL takes Tom off every share, whatever its window: also
    # the one that ended in 2024
    word, text = svc.ask("delete", PETER, TOM)
    assert word == "ok", text
    assert svc.shares() == {dn: a for dn, a in before.items()
                            if not dn.startswith("cn=2024,")}
    log = svc.log_text()
    assert "login=%s op=set" % PETER in log and "grantee=%s" % TOM in log
    assert "rights=lrs" in log and dn in log.lower()
    assert example.PASSWORDS[PETER] not in log


def test_window_kept_when_rights_change(svc):
    """Sandra is one of two grantees of Peter's vacation share: she gets a
    share of her own with the same window; Jana keeps hers."""
    vac = svc.shares()[VACATION.lower()]
    word, text = svc.ask("set", PETER, SANDRA, "lr")
    assert word == "ok", text
    after = svc.shares()
    assert grantees(after[VACATION.lower()]) == [JANA_DN.lower()]
    mine = of(after, SANDRA_DN)
    assert len(mine) == 1, after
    (dn, attrs), = mine.items()
    assert attrs["mailgrantsrights"] == ["lr"]
    assert attrs["mailgrantsnotbefore"] == vac["mailgrantsnotbefore"]
    assert attrs["mailgrantsnotafter"] == vac["mailgrantsnotafter"]
    # and again: now a share of her own, changed in place
    word, text = svc.ask("set", PETER, SANDRA, "lrw")
    assert word == "ok", text
    assert svc.shares()[dn]["mailgrantsrights"] == ["lrw"]
    assert svc.shares()[dn]["mailgrantsnotafter"] == vac["mailgrantsnotafter"]
    # DELETEACL removes it, whatever its window
    word, text = svc.ask("delete", PETER, SANDRA)
    assert word == "ok", text
    assert of(svc.shares(), SANDRA_DN) == {}


def test_on_behalf_kept_when_rights_change(svc):
    """SETACL is IMAP rights only: a share's right to send on behalf
    stays as it is, on a share changed in place and on the grantee's
    own copy of a share with two grantees."""
    rc, _out, err = svc.slapd.ldapmodify(
        "dn: %s\nchangetype: modify\nadd: mailgrantsSendOnBehalf\n"
        "mailgrantsSendOnBehalf: TRUE\n" % VACATION, root=True)
    assert rc == 0, err
    word, text = svc.ask("set", PETER, SANDRA, "lr")
    assert word == "ok", text
    after = svc.shares()
    assert after[VACATION.lower()]["mailgrantssendonbehalf"] == ["TRUE"]
    (dn, attrs), = of(after, SANDRA_DN).items()
    assert attrs["mailgrantsrights"] == ["lr"]
    assert attrs["mailgrantssendonbehalf"] == ["TRUE"]
    # in place now: the right stays with the new rights
    word, text = svc.ask("set", PETER, SANDRA, "+w")
    assert word == "ok", text
    attrs = svc.shares()[dn]
    assert attrs["mailgrantsrights"] == ["lrw"]
    assert attrs["mailgrantssendonbehalf"] == ["TRUE"]
    # a share without the right gets none from SETACL
    word, text = svc.ask("set", PETER, TOM, "lr")
    assert word == "ok", text
    for a in of(svc.shares(), TOM_DN).values():
        assert "mailgrantssendonbehalf" not in a, a


def test_group_grantee_and_own_private_mailbox(svc):
    before = svc.shares()
    word, text = svc.ask("set", SANDRA, VERTRIEB, "lr",
                         mailbox="makler@abc.com")
    assert word == "ok", text
    new = {dn: a for dn, a in svc.shares().items() if dn not in before}
    (dn, attrs), = new.items()
    assert dn.endswith("," + MAKLER_DN.lower())
    assert grantees(attrs) == [VERTRIEB.lower()]
    word, text = svc.ask("delete", SANDRA, VERTRIEB, mailbox="makler@abc.com")
    assert word == "ok", text
    assert svc.shares() == before


@pytest.mark.parametrize("login,grantee,rights,mailbox,says", [
    # a grantee cannot share what is shared with her
    (SANDRA, TOM, "lr", PETER, "refused by the directory"),
    # nor anybody a private mailbox of somebody else
    (PETER, TOM, "lr", "makler@abc.com", "refused by the directory"),
    (PETER, TOM, "lr", "info@abc.com", "company mailbox"),
    (PETER, ANNA, "lr", None, "company"),
    (PETER, TOM, "lra", None, "administer"),
    (PETER, TOM, "lrz", None, "RFC 4314"),
    (PETER, "nobody@abc.com", "lr", None, "nobody@abc.com"),
])
def test_refusals(svc, login, grantee, rights, mailbox, says):
    before = svc.shares()
    word, text = svc.ask("set", login, grantee, rights, mailbox=mailbox)
    assert (word, says in text) == ("refused", True), text
    assert svc.shares() == before


def listing(svc, login, mailbox=None):
    """op=list as {identifier: letters}."""
    word, text = svc.ask("list", login, None, mailbox=mailbox)
    assert word == "ok", text
    words = [unescape(w) for w in text.split()]
    assert len(words) % 2 == 0, text
    return dict(zip(words[0::2], words[1::2]))


def unescape(v):
    return re.sub("%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), v)


def future_share(svc, grantee_dn, name="future", rights="lr"):
    """A share of Peter's for grantee_dn that begins next year (as an
    admin's "mailgrants share --from" writes it)."""
    dn = "cn=%s,%s" % (name, PETER_DN)
    rc, _, err = svc.slapd.ldapadd(
        "dn: %s\nobjectClass: mailgrantsShare\ncn: %s\n"
        "mailgrantsGrantee: %s\nmailgrantsRights: %s\n"
        "mailgrantsNotBefore: %d0101000000Z\n"
        % (dn, name, grantee_dn, rights, time.gmtime().tm_year + 1),
        root=True)
    assert rc == 0, err
    return dn


def test_list_shows_the_directory_shares(svc):
    """op=list: every grantee of a share that has not ended, a user by
    login, a group as its DN, also a share not begun yet; one grantee of
    several shares once, with the letters of all; the 2024 share (ended)
    not at all."""
    # the vacation share has no rights of its own: share_rights
    assert listing(svc, PETER) == {SANDRA: "lrswikte", JANA: "lrswikte"}
    future_share(svc, TOM_DN)
    word, text = svc.ask("set", PETER, VERTRIEB, "lr")
    assert word == "ok", text
    future_share(svc, SANDRA_DN, name="later", rights="lrp")
    got = listing(svc, PETER)
    assert got == {SANDRA: "lrswipkte", JANA: "lrswikte", TOM: "lr",
                   VERTRIEB: "lr"}, got
    # each identifier is one SETACL and DELETEACL take back
    for ident in got:
        word, text = svc.ask("delete", PETER, ident)
        assert word == "ok", text
    assert listing(svc, PETER) == {}
    # her other mailbox, and a list of nothing
    assert listing(svc, SANDRA, mailbox="makler@abc.com") == {}
    # a grantee cannot list what is shared with her: nothing to see,
    # or the directory says no
    word, text = svc.ask("list", SANDRA, None, mailbox=PETER)
    assert word in ("ok", "refused"), text
    assert SANDRA not in text


def test_change_names_the_entries_written(svc):
    """ok entry=RIGHTS:DN ...: what the plugin waits for in the replica,
    the DN in the replica's normal form, "-" for one deleted."""
    word, text = svc.ask("set", PETER, TOM, "lr")
    assert word == "ok", text
    entry = text.split()[0]
    assert entry.startswith("entry=lr:"), text
    dn = unescape(entry[len("entry=lr:"):])
    assert dn in svc.shares() and dn == dn.lower(), (dn, text)
    word, text = svc.ask("delete", PETER, TOM)
    assert word == "ok", text
    # the share Tom had alone now, and the ended 2024 one, both gone
    gone = sorted(unescape(w[len("entry=-:"):]) for w in text.split()
                  if w.startswith("entry="))
    assert gone == sorted([dn, "cn=2024," + PETER_DN.lower()]), text


def test_wrong_password_writes_nothing(svc):
    """A password the directory refuses is not an outage: a refusal that
    says to log in again, nothing changed."""
    before = svc.shares()
    word, text = svc.ask("set", PETER, TOM, "lr", password="guess")
    assert word == "refused", text
    assert "did not accept your password" in text, text
    assert "log in again" in text, text
    assert "guess" not in text and "guess" not in svc.log_text()
    assert svc.shares() == before
    word, text = svc.ask("list", PETER, None, password="guess")
    assert word == "refused" and "log in again" in text, text


def test_password_guessing_is_limited(build_dir, tmp_path):
    """--max-failures different passwords of one login refused within
    --failure-window: then even the right one is refused, without a
    bind, until the window has passed; other logins are not affected;
    a bind that succeeds clears the count; one old password tried again
    and again (a client that kept it) is no guessing and counts once."""
    with Slapd() as server:
        # A window long enough for three refused binds on a loaded
        # machine (3 s ran out before the lockout was tried, once, in a
        # Debian 13 chroot beside other tests).
        svc = Service(server, build_dir, str(tmp_path), "--max-failures",
                      "3", "--failure-window", "10")
        try:
            for _ in range(5):
                word, text = svc.ask("list", PETER, None, password="old")
                assert word == "refused", text
            # a success in between clears the count
            assert svc.ask("list", PETER, None, password="x")[0] == \
                "refused"
            assert svc.ask("list", PETER, None)[0] == "ok"
            for guess in ("x1", "x2", "x3"):
                word, text = svc.ask("list", PETER, None, password=guess)
                assert word == "refused", text
            t0 = time.monotonic()
            # the spelling does not matter: one login
            for login in (PETER, PETER.upper()):
                word, text = svc.ask("set", login, TOM, "lr",
                                     password=example.PASSWORDS[PETER])
                assert word == "unavailable", text
                assert "too many passwords" in text, text
            assert svc.ask("list", SANDRA, None)[0] == "ok"
            assert not of(svc.shares(), TOM_DN).keys() - {
                "cn=2024," + PETER_DN.lower()}
            time.sleep(max(0, 10.2 - (time.monotonic() - t0)))
            word, text = svc.ask("set", PETER, TOM, "lr")
            assert word == "ok", text
            assert "refused the password" in svc.log_text()
        finally:
            svc.close()


@pytest.mark.parametrize("option", [
    ("--max-failures", "0"), ("--max-failures", "x"),
    ("--failure-window", "0"), ("--failure-window", "86401"),
])
def test_limit_options_checked(build_dir, tmp_path, option):
    p = subprocess.run(
        [os.path.join(build_dir, "mailgrants"), "-c", "/dev/null",
         "share-service", "--socket", str(tmp_path / "s")] + list(option),
        capture_output=True, text=True, timeout=10)
    assert p.returncode == 1 and option[0] in p.stderr, p.stderr


@pytest.mark.parametrize("data", [
    b"op=set\nlogin=x\n\n",
    b"op=frob\nlogin=x\npassword=y\ngrantee=z\n\n",
    b"op=delete\nlogin=x\npassword=y\ngrantee=z\nrights=lr\n\n",
    b"op=set\nop=set\n\n",
    b"op=list\nlogin=x\npassword=y\ngrantee=z\n\n",
    b"op=set\nlogin=x%0Ay\npassword=y\ngrantee=z\nrights=lr\n\n",
    b"garbage\n\n",
    b"op=set\nlogin=%zz\n\n",
    b"op=set\nlogin=%00\n\n",
])
def test_bad_requests(svc, data):
    answer = svc.raw(data)
    assert answer.startswith("refused bad request"), answer


def test_empty_request_is_the_probe(svc):
    """The empty line alone: the probe of mailgrants check --front-ends,
    answered "ok ready" without the directory (slapd down here) and
    without a log line (the doctor may run from cron)."""
    before = svc.log_text()
    svc.slapd.stop()
    try:
        assert svc.raw(b"\n") == "ok ready\n"
    finally:
        svc.slapd.start()
    assert svc.log_text() == before
    # Anything else is still a request, and a bad one.
    assert svc.raw(b"\n\n").startswith("refused bad request")


def test_slapd_down_is_temporary(svc):
    before = svc.shares()
    svc.slapd.stop()
    try:
        word, text = svc.ask("set", PETER, TOM, "lr")
        assert word == "unavailable", text
    finally:
        svc.slapd.start()
    assert svc.shares() == before


@pytest.mark.parametrize("limit", [1, 2])
def test_connections_beyond_the_limit_wait(build_dir, tmp_path, limit):
    """--max-children: a client that holds connections open (a mail
    process gone wrong) makes the next ones wait until a child ended,
    not fork without bound; below the limit they are served at once."""
    with Slapd(start=False) as server:
        svc = Service(server, build_dir, str(tmp_path), "--timeout", "2",
                      "--max-children", str(limit))
        idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            idle.settimeout(10)
            idle.connect(svc.socket)
            time.sleep(0.5)
            t0 = time.monotonic()
            answer = svc.raw(b"garbage\n\n")
            waited = time.monotonic() - t0
            assert answer.startswith("refused bad request"), answer
            if limit == 1:
                # until the idle connection's child gave up (2 s)
                assert waited >= 1.0, waited
                assert idle.recv(4096).startswith(
                    b"refused bad request: timed out")
            else:
                assert waited < 1.0, waited
        finally:
            idle.close()
            svc.close()


def test_socket_appears_ready(build_dir, tmp_path):
    """A client that finds the socket's path can connect: the service
    listens before the path exists (bound under another name, then
    renamed). Bound and not yet listening, it refused some 15% of such
    connections at start (44 of 300 here: 40 starts without one
    would happen once in some 700 runs), a failure Dovecot's mail
    processes would report as the service being down."""
    conf = tmp_path / "mailgrants.conf"
    conf.write_text("replica = %s\n" % (tmp_path / "none.db"))
    refused = []
    for i in range(40):
        path = str(tmp_path / ("s%d.sock" % i))
        proc = subprocess.Popen(
            [os.path.join(build_dir, "mailgrants"), "-c", str(conf),
             "share-service", "--socket", path],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        try:
            deadline = time.monotonic() + 10
            while not os.path.exists(path):
                assert proc.poll() is None and time.monotonic() < deadline
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
            except ConnectionRefusedError:
                refused.append(i)
            finally:
                s.close()
            assert not os.path.exists(path + ".new")
        finally:
            kill_group(proc)
    assert refused == []
