"""mailgrants sync --once against a real slapd.

The example directory (ldap-schema/examples/abc.ldif) must arrive in the
replica as the story of DESIGN.md tells it; a directory that cannot be
read must leave the previous replica as it was; broken entries are
skipped with a warning naming them while the rest syncs; more entries
than the server's size limit arrive through paged results; SASL
EXTERNAL over ldapi:// works.

The replica is checked with SQLite directly (read-only) and through
"mailgrants who --json".
"""

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from example import ABC, BASE, EXAMPLE_USERS, XYZ
from example import ANNA_DN as ANNA, PETER_DN as PETER, SANDRA_DN as SANDRA
from slapd import Slapd, free_port

LOGINS = set(EXAMPLE_USERS)


def mailgrants(build_dir, conf, *args, timeout=120):
    """Run build/mailgrants -c CONF ARGS; a missing binary fails."""
    exe = os.path.join(build_dir, "mailgrants")
    assert os.access(exe, os.X_OK), "%s not built" % exe
    return subprocess.run([exe, "-c", conf] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def sync(build_dir, conf):
    return mailgrants(build_dir, conf, "sync", "--once")


def synced(s, build_dir, tmp_path, **keys):
    """A mailgrants.conf in tmp_path that reads slapd s into
    tmp_path/grants.db (keys added), and one sync --once, which must
    succeed: (replica path, conf path, the sync's CompletedProcess)."""
    db = str(tmp_path / "grants.db")
    conf = s.write_config(str(tmp_path / "mailgrants.conf"), replica=db,
                          **keys)
    p = sync(build_dir, conf)
    assert p.returncode == 0, p.stderr
    return db, conf, p


def query(db, sql, *params):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def logins(db):
    return {r[0] for r in query(db, "SELECT login FROM users")}


@pytest.fixture
def fresh_slapd():
    """A slapd of its own for a test that changes the directory."""
    with Slapd() as server:
        yield server


@pytest.fixture(scope="module")
def story(slapd, build_dir, tmp_path_factory):
    """The example directory synced once: (slapd, conf, replica path)."""
    d = tmp_path_factory.mktemp("story")
    db = str(d / "grants.db")
    conf = slapd.write_config(str(d / "mailgrants.conf"), replica=db)
    p = sync(build_dir, conf)
    assert p.returncode == 0, p.stderr
    return slapd, conf, db


# ------------------------------------------------------------ the story

def test_story_users_and_addresses(story):
    _slapd, _conf, db = story
    assert logins(db) == LOGINS
    addrs = dict(query(db, "SELECT address, mailbox_id FROM addresses"))
    # Peter's alias is UTF-8 and lands on his primary mailbox.
    assert "peter.müller@abc.com" in addrs
    assert addrs["peter.müller@abc.com"] == addrs["peter.mueller@abc.com"]
    for a in ("makler@abc.com", "buchhaltung@abc.com", "info@abc.com",
              "vertrieb@abc.com", "info@xyz.org", "sandra.schuster@abc.com",
              "lena.wagner@xyz.org"):
        assert a in addrs, a
    # The login is not added as an address by itself: exactly the
    # values of mail and mailgrantsAddress.
    assert len(addrs) == 13


def test_story_mailboxes(story):
    _slapd, _conf, db = story
    rows = query(db, """
        SELECT m.address, m.kind, u.login FROM mailboxes m
        LEFT JOIN users u ON u.id = m.owner_id
        WHERE m.dn LIKE 'cn=%'""")
    got = {r[0]: (r[1], r[2]) for r in rows}
    assert got == {
        "makler@abc.com": (1, "sandra.schuster@abc.com"),
        "buchhaltung@abc.com": (1, "jana.meier@abc.com"),
        "info@abc.com": (2, None),
        "vertrieb@abc.com": (2, None),
        "info@xyz.org": (2, None),
    }


def test_story_shares_and_windows(story):
    _slapd, _conf, db = story
    rows = query(db, """
        SELECT s.dn, s.not_before, s.not_after, u.login FROM shares s
        JOIN share_grantees g ON g.share_id = s.id
        JOIN users u ON u.id = g.user_id
        JOIN mailboxes m ON m.id = s.mailbox_id
        WHERE m.address = 'peter.mueller@abc.com'""")
    shares = {}
    for dn, nb, na, login in rows:
        shares.setdefault(dn, (nb, na, set()))[2].add(login)
    assert shares == {
        # 2025-01-01T00:00:00Z .. 2035-12-31T23:59:59Z
        "cn=vacation," + PETER: (1735689600, 2082758399,
                                 {"sandra.schuster@abc.com",
                                  "jana.meier@abc.com"}),
        # 2024-01-01T00:00:00Z .. 2024-12-31T23:59:59Z
        "cn=2024," + PETER: (1704067200, 1735689599,
                             {"tom.berger@abc.com"}),
    }


def test_story_nested_cyclic_group(story, build_dir):
    slapd, conf, db = story
    # cn=staff holds anna and (through cn=devs, which holds cn=staff
    # again) max: both are employees of xyz.org.
    rows = query(db, """
        SELECT u.login FROM group_members gm
        JOIN groups g ON g.id = gm.group_id
        JOIN users u ON u.id = gm.user_id
        WHERE g.dn = ?""", "cn=staff,ou=groups," + XYZ)
    assert {r[0] for r in rows} == {"anna.schmidt@xyz.org",
                                    "max.wolf@xyz.org"}
    p = mailgrants(build_dir, conf, "who", "--json", "info@xyz.org")
    assert p.returncode == 0, p.stderr
    who = json.loads(p.stdout)
    assert {w["login"] for w in who if w["visible"]} == {
        "anna.schmidt@xyz.org", "max.wolf@xyz.org"}


def test_story_group_mailbox_and_employees(story, build_dir):
    _slapd, conf, db = story
    # vertrieb@abc.com is limited to cn=vertrieb (Jana, Peter).
    rows = query(db, """
        SELECT g.dn FROM mailboxes m JOIN groups g ON g.id = m.group_id
        WHERE m.address = 'vertrieb@abc.com'""")
    assert rows == [("cn=vertrieb,ou=groups," + ABC,)]
    p = mailgrants(build_dir, conf, "who", "--json", "vertrieb@abc.com")
    assert p.returncode == 0, p.stderr
    assert {w["login"] for w in json.loads(p.stdout)} == {
        "jana.meier@abc.com", "peter.mueller@abc.com"}
    # Lena is in xyz.org's subtree but not in cn=staff: a user of the
    # company, not an employee.
    rows = query(db, """
        SELECT u.login, u.employee, c.dn FROM users u
        JOIN companies c ON c.id = u.company_id WHERE u.login LIKE '%xyz.org'
        ORDER BY 1""")
    assert rows == [("anna.schmidt@xyz.org", 1, XYZ),
                    ("lena.wagner@xyz.org", 0, XYZ),
                    ("max.wolf@xyz.org", 1, XYZ)]
    p = mailgrants(build_dir, conf, "explain", "--json",
                   "lena.wagner@xyz.org", "info@xyz.org")
    d = json.loads(p.stdout)
    assert (d["visible"], d["may_send"], d["reason"]) == (
        False, False, "not_yours"), d


def test_story_share_through_rights(story, build_dir):
    _slapd, conf, _db = story
    # The synced window, as the rights function sees it: Sandra and
    # Jana now (2025..2035), Tom not (his share ended in 2024).
    p = mailgrants(build_dir, conf, "who", "--json", "--at", "2030-06-01",
                   "peter.mueller@abc.com")
    assert p.returncode == 0, p.stderr
    who = {w["login"]: w for w in json.loads(p.stdout) if w["visible"]}
    assert set(who) == {"peter.mueller@abc.com", "sandra.schuster@abc.com",
                        "jana.meier@abc.com"}
    assert not who["sandra.schuster@abc.com"]["may_send"]
    p = mailgrants(build_dir, conf, "who", "--json", "--at", "2024-06-01",
                   "peter.mueller@abc.com")
    assert p.returncode == 0, p.stderr
    who = {w["login"] for w in json.loads(p.stdout) if w["visible"]}
    assert who == {"peter.mueller@abc.com", "tom.berger@abc.com"}


# ------------------------------------------------------- bad input

def test_unreachable_ldap_keeps_replica(story, build_dir, tmp_path):
    slapd, _conf, db = story
    before = digest(db)
    port = free_port()      # nothing listens there
    conf = slapd.write_config(str(tmp_path / "down.conf"), replica=db,
                              ldap_uri="ldap://127.0.0.1:%d/" % port,
                              ldap_network_timeout=3)
    p = sync(build_dir, conf)
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert "127.0.0.1:%d" % port in lines[0]
    assert "cannot connect" in lines[0]
    assert "Can't contact LDAP server" in lines[0]
    assert digest(db) == before
    assert logins(db) == LOGINS


def test_wrong_bind_password_keeps_replica(story, build_dir, tmp_path):
    slapd, _conf, db = story
    before = digest(db)
    conf = slapd.write_config(str(tmp_path / "badpw.conf"), replica=db)
    with open(conf + ".ldap-password", "w") as f:
        f.write("not-the-sync-pw\n")
    p = sync(build_dir, conf)
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert "bind as %s" % slapd.sync_dn in lines[0]
    assert "Invalid credentials" in lines[0]
    assert "not-the-sync-pw" not in p.stderr + p.stdout
    assert digest(db) == before


def test_missing_password_file_keeps_replica(story, build_dir, tmp_path):
    slapd, _conf, db = story
    before = digest(db)
    conf = slapd.write_config(str(tmp_path / "nopw.conf"), replica=db)
    os.unlink(conf + ".ldap-password")
    p = sync(build_dir, conf)
    assert p.returncode == 1, (p.returncode, p.stderr)  # configuration
    assert conf + ".ldap-password" in p.stderr
    assert digest(db) == before


BROKEN_LDIF = """\
dn: cn=bogus@abc.com,ou=mailboxes,{abc}
objectClass: mailgrantsMailbox
cn: bogus@abc.com
mailgrantsKind: bogus
mail: bogus@abc.com

dn: cn=ownerless@abc.com,ou=mailboxes,{abc}
objectClass: mailgrantsMailbox
cn: ownerless@abc.com
mailgrantsKind: private
mail: ownerless@abc.com

dn: cn=backwards,uid=tom.berger,ou=people,{abc}
objectClass: mailgrantsShare
cn: backwards
mailgrantsGrantee: uid=jana.meier,ou=people,{abc}
mailgrantsNotBefore: 20250601000000Z
mailgrantsNotAfter: 20250101000000Z

dn: cn=fine@abc.com,ou=mailboxes,{abc}
objectClass: mailgrantsMailbox
cn: fine@abc.com
mailgrantsKind: COMPANY
mail: fine@abc.com

dn: cn=mixed,ou=groups,{base}
objectClass: groupOfNames
cn: mixed
member: uid=tom.berger,ou=people,{abc}
member: cn={long},{base}
""".format(abc=ABC, base=BASE, long="x" * 1100)


def test_broken_entries_are_skipped(fresh_slapd, build_dir, tmp_path):
    s = fresh_slapd
    rc, _out, err = s.ldapadd(BROKEN_LDIF, root=True)
    assert rc == 0, err
    db, conf, p = synced(s, build_dir, tmp_path)
    err = p.stderr.lower()
    # Each broken entry is named with its problem.
    for dn, why in (
            ("cn=bogus@abc.com,ou=mailboxes," + ABC, "bogus"),
            ("cn=ownerless@abc.com,ou=mailboxes," + ABC, "mailgrantsowner"),
            ("cn=backwards,uid=tom.berger,ou=people," + ABC,
             "mailgrantsnotafter")):
        line = [l for l in err.splitlines() if dn.lower() in l]
        assert line, "no warning names %s:\n%s" % (dn, p.stderr)
        assert why in line[0], line[0]
    # Everything else arrived, including the valid mailbox added with
    # the broken ones (kind is case-insensitive).
    assert logins(db) == LOGINS
    addrs = {r[0] for r in query(db, "SELECT address FROM addresses")}
    assert "fine@abc.com" in addrs
    assert "info@abc.com" in addrs and "peter.müller@abc.com" in addrs
    assert "bogus@abc.com" not in addrs
    assert "ownerless@abc.com" not in addrs
    shares = {r[0] for r in query(db, "SELECT dn FROM shares")}
    assert shares == {"cn=vacation," + PETER, "cn=2024," + PETER}
    # A member DN over the replica's limit costs that member only.
    mixed = "cn=mixed,ou=groups," + BASE
    line = [l for l in err.splitlines() if l.find(mixed) >= 0]
    assert line and "too long" in line[0], p.stderr
    rows = query(db, """
        SELECT u.login FROM group_members gm
        JOIN groups g ON g.id = gm.group_id
        JOIN users u ON u.id = gm.user_id WHERE g.dn = ?""", mixed)
    assert rows == [("tom.berger@abc.com",)]


def test_missing_groups_grant_nothing(fresh_slapd, build_dir, tmp_path):
    """A company mailbox whose group was deleted, and a company whose
    employee group was deleted: nobody, not everybody; the sync names
    the entry."""
    s = fresh_slapd
    rc, _out, err = s.ldapdelete("cn=vertrieb,ou=groups," + ABC,
                                 "cn=devs,ou=groups," + XYZ, root=True)
    assert rc == 0, err
    rc, _out, err = s.ldapmodify("""dn: cn=staff,ou=groups,{xyz}
changetype: modify
replace: member
member: cn=nobody,{xyz}
""".format(xyz=XYZ), root=True)
    assert rc == 0, err
    rc, _out, err = s.ldapdelete("cn=staff,ou=groups," + XYZ, root=True)
    assert rc == 0, err
    db, conf, p = synced(s, build_dir, tmp_path)
    err = p.stderr.splitlines()
    line = [l for l in err if ("cn=vertrieb@abc.com,ou=mailboxes," + ABC)
            in l]
    assert line and "cn=vertrieb,ou=groups," + ABC in line[0], p.stderr
    assert "not found: nobody sees this mailbox" in line[0]
    line = [l for l in err if l.startswith("mailgrants: warning: %s: " % XYZ)]
    assert line and "employee group cn=staff,ou=groups," + XYZ in line[0], \
        p.stderr
    assert "nobody counts as employee" in line[0]

    def who(address):
        p = mailgrants(build_dir, conf, "who", "--json", address)
        assert p.returncode == 0, p.stderr
        return {w["login"] for w in json.loads(p.stdout)}

    assert who("vertrieb@abc.com") == set()
    assert who("info@xyz.org") == set()
    # The rest of the story stands.
    assert who("info@abc.com") == {"sandra.schuster@abc.com",
                                   "jana.meier@abc.com",
                                   "peter.mueller@abc.com",
                                   "tom.berger@abc.com"}
    for login, address, reason in (
            ("jana.meier@abc.com", "vertrieb@abc.com", "not_in_group"),
            ("anna.schmidt@xyz.org", "info@xyz.org", "not_yours"),
            ("max.wolf@xyz.org", "info@xyz.org", "not_yours")):
        p = mailgrants(build_dir, conf, "explain", "--json", login, address)
        d = json.loads(p.stdout)
        assert (d["visible"], d["may_send"], d["reason"]) == (
            False, False, reason), d


def test_unusable_mailbox_names_are_skipped(fresh_slapd, build_dir,
                                            tmp_path):
    """An address that can never be a Dovecot mailbox name (Shared/
    ADDRESS/, and a path through %n/%d): the entry is skipped, naming
    it; as an alias, only the alias goes."""
    s = fresh_slapd
    ldif = ""
    names = {"trav": "a/../b@abc.com", "dots": "..@abc.com",
             "hidden": ".hidden@abc.com", "pct": "user%host@abc.com",
             "star": "team*@abc.com"}
    # 137 bytes as written (the reader takes up to 254), 263 as
    # A-labels: too long for a file name. (mail is IA5: an alias.)
    long_alias = "x" * 60 + "@" + "ü." * 25 + "de"
    for cn, address in names.items():
        ldif += """dn: cn={cn},ou=mailboxes,{abc}
objectClass: mailgrantsMailbox
cn: {cn}
mailgrantsKind: company
mail: {address}

""".format(cn=cn, address=address, abc=ABC)
    ldif += """dn: uid=tom.berger,ou=people,{abc}
changetype: modify
add: mailgrantsAddress
mailgrantsAddress: tom/../peter.mueller@abc.com
mailgrantsAddress: {long}
""".format(abc=ABC, long=long_alias)
    rc, _out, err = s.ldapadd(ldif.split("dn: uid=tom")[0], root=True)
    assert rc == 0, err
    rc, _out, err = s.ldapmodify("dn: uid=tom" + ldif.split("dn: uid=tom")[1],
                                 root=True)
    assert rc == 0, err
    db, conf, p = synced(s, build_dir, tmp_path)
    err = p.stderr.splitlines()
    for cn in names:
        dn = "cn=%s,ou=mailboxes,%s" % (cn, ABC)
        line = [l for l in err if dn in l]
        assert line, "no warning names %s:\n%s" % (dn, p.stderr)
        assert "mailbox name" in line[0] and "skipped" in line[0], line[0]
    line = [l for l in err if "uid=tom.berger" in l]
    assert len(line) == 2, p.stderr
    assert "address ignored: character not allowed" in line[0], line[0]
    assert "address ignored: address too long for a mailbox name" in \
        line[1], line[1]
    addrs = {r[0] for r in query(db, "SELECT address FROM addresses")}
    assert not [a for a in addrs if a.startswith(("a/", ".", "user%",
                                                  "team*", "xxx"))], addrs
    assert "tom/../peter.mueller@abc.com" not in addrs
    assert "tom.berger@abc.com" in addrs
    assert logins(db) == LOGINS
    assert query(db, "SELECT value FROM meta WHERE key = 'skipped'") == [
        (str(len(names)),)]


@pytest.mark.parametrize("allow", [False, True])
def test_cross_company_share(fresh_slapd, build_dir, tmp_path, allow):
    """Sandra (abc.com) names Anna (xyz.org), and a group of Jana and
    Max, in shares below her own entry: by default Anna and Max get
    nothing (the sync names the shares, explain says other_company);
    cross_company_shares = yes lets them in."""
    s = fresh_slapd
    rc, _out, err = s.ldapadd("""dn: cn=mixed,ou=groups,{base}
objectClass: groupOfNames
cn: mixed
member: uid=jana.meier,ou=people,{abc}
member: uid=max.wolf,ou=people,{xyz}

dn: cn=anna,{sandra}
objectClass: mailgrantsShare
cn: anna
mailgrantsGrantee: {anna}

dn: cn=mixed,{sandra}
objectClass: mailgrantsShare
cn: mixed
mailgrantsGrantee: cn=mixed,ou=groups,{base}
mailgrantsRights: lrs
""".format(base=BASE, abc=ABC, xyz=XYZ, sandra=SANDRA, anna=ANNA),
        root=True)
    assert rc == 0, err
    db, conf, p = synced(s, build_dir, tmp_path, cross_company_shares=allow)
    warned = [l for l in p.stderr.splitlines()
              if "cross_company_shares" in l]

    def explain(login):
        p = mailgrants(build_dir, conf, "explain", "--json", login,
                       "sandra.schuster@abc.com")
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    def access(login):
        p = mailgrants(build_dir, conf, "access", "--json", login)
        assert p.returncode == 0, p.stderr
        return {d["mailbox"] for d in json.loads(p.stdout)}

    jana = explain("jana.meier@abc.com")
    assert (jana["kind"], jana["rights"]) == ("shared", "lrs"), jana
    assert "sandra.schuster@abc.com" in access("jana.meier@abc.com")
    if not allow:
        assert len(warned) == 2, p.stderr
        assert [l for l in warned if ("cn=anna," + SANDRA) in l
                and ("grantee " + ANNA) in l and "gets nothing" in l]
        assert [l for l in warned if ("cn=mixed," + SANDRA) in l
                and "cn=mixed,ou=groups," + BASE in l]
        for login in ("anna.schmidt@xyz.org", "max.wolf@xyz.org"):
            d = explain(login)
            assert (d["kind"], d["visible"], d["reason"]) == (
                "none", False, "other_company"), d
            assert "sandra.schuster@abc.com" not in access(login)
        assert explain("anna.schmidt@xyz.org")["entry"] == "cn=anna," + SANDRA
        text = mailgrants(build_dir, conf, "explain", "anna.schmidt@xyz.org",
                          "sandra.schuster@abc.com").stdout
        assert "other_company" in text and "across companies" in text
    else:
        assert warned == [], p.stderr
        for login in ("anna.schmidt@xyz.org", "max.wolf@xyz.org"):
            d = explain(login)
            assert (d["kind"], d["visible"], d["may_send"]) == (
                "shared", True, False), d
            assert "sandra.schuster@abc.com" in access(login)


def test_unparseable_share_time_is_skipped(fresh_slapd, build_dir,
                                           tmp_path):
    # slapd checks GeneralizedTime syntax itself, so a time that is not
    # one comes from a directory whose mapped attribute is a string (as
    # in an existing tree); here: the share's not-before in "info".
    s = fresh_slapd
    ldif = """\
dn: cn=someday,uid=tom.berger,ou=people,{abc}
objectClass: mailgrantsShare
objectClass: extensibleObject
cn: someday
mailgrantsGrantee: uid=jana.meier,ou=people,{abc}
info: next monday

dn: cn=stringtime,uid=jana.meier,ou=people,{abc}
objectClass: mailgrantsShare
objectClass: extensibleObject
cn: stringtime
mailgrantsGrantee: uid=tom.berger,ou=people,{abc}
info: 20250301120000+0100
""".format(abc=ABC)
    rc, _out, err = s.ldapadd(ldif, root=True)
    assert rc == 0, err
    db, conf, p = synced(s, build_dir, tmp_path,
                         ldap_share_not_before_attribute="info")
    dn = "cn=someday,uid=tom.berger,ou=people," + ABC
    line = [l for l in p.stderr.splitlines() if dn in l]
    assert line and "next monday" in line[0] and "info" in line[0], p.stderr
    shares = dict(query(db, "SELECT dn, not_before FROM shares"))
    assert dn not in shares
    # 2025-03-01T12:00:00+01:00 = 11:00:00Z
    assert shares["cn=stringtime,uid=jana.meier,ou=people," + ABC] == \
        1740826800
    assert "cn=vacation," + PETER in shares


def test_share_on_behalf_flag(fresh_slapd, build_dir, tmp_path):
    """mailgrantsSendOnBehalf arrives in shares.on_behalf; absent or
    FALSE is 0 (a share as before); a value that is not a Boolean is
    warned about naming the entry, and the share is kept without the
    right."""
    s = fresh_slapd
    vacation = "cn=vacation," + PETER
    old = "cn=2024," + PETER
    rc, _out, err = s.ldapmodify(
        "dn: %s\nchangetype: modify\nadd: mailgrantsSendOnBehalf\n"
        "mailgrantsSendOnBehalf: TRUE\n\n"
        "dn: %s\nchangetype: modify\nadd: mailgrantsSendOnBehalf\n"
        "mailgrantsSendOnBehalf: FALSE\n" % (vacation, old), root=True)
    assert rc == 0, err
    ldif = """\
dn: cn=maybe,uid=tom.berger,ou=people,{abc}
objectClass: mailgrantsShare
objectClass: extensibleObject
cn: maybe
mailgrantsGrantee: uid=jana.meier,ou=people,{abc}
info: yes

dn: cn=sure,uid=jana.meier,ou=people,{abc}
objectClass: mailgrantsShare
objectClass: extensibleObject
cn: sure
mailgrantsGrantee: uid=tom.berger,ou=people,{abc}
info: TRUE
""".format(abc=ABC)
    rc, _out, err = s.ldapadd(ldif, root=True)
    assert rc == 0, err
    db, conf, p = synced(s, build_dir, tmp_path)
    assert "SendOnBehalf" not in p.stderr, p.stderr
    flags = dict(query(db, "SELECT dn, on_behalf FROM shares"))
    assert flags[vacation] == 1 and flags[old] == 0, flags
    assert query(db, "PRAGMA user_version") == [(3,)]
    p = mailgrants(build_dir, conf, "explain", "--json", "--at",
                   "2030-06-01", "sandra.schuster@abc.com",
                   "peter.mueller@abc.com")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert (d["kind"], d["may_send"], d["may_send_on_behalf"]) == (
        "shared", False, True), d
    assert d["on_behalf_entry"] == vacation
    assert d["on_behalf_not_after"] == "2035-12-31T23:59:59Z"

    # A string attribute in its place: "yes" is no Boolean.
    db2 = str(tmp_path / "grants2.db")
    conf2 = s.write_config(str(tmp_path / "mailgrants2.conf"), replica=db2,
                           ldap_share_on_behalf_attribute="info")
    p = sync(build_dir, conf2)
    assert p.returncode == 0, p.stderr
    maybe = "cn=maybe,uid=tom.berger,ou=people," + ABC
    line = [l for l in p.stderr.splitlines() if maybe in l]
    assert line and '"yes" is not TRUE or FALSE' in line[0], p.stderr
    flags = dict(query(db2, "SELECT dn, on_behalf FROM shares"))
    assert flags[maybe] == 0
    assert flags["cn=sure,uid=jana.meier,ou=people," + ABC] == 1
    assert flags[vacation] == 0     # its TRUE is not in "info"


def test_more_entries_than_size_limit(fresh_slapd, build_dir, tmp_path):
    s = fresh_slapd
    n = 1200
    ldif = "".join(
        "dn: uid=bulk{i:04d},ou=people,{abc}\n"
        "objectClass: inetOrgPerson\n"
        "objectClass: mailgrantsUser\n"
        "uid: bulk{i:04d}\ncn: Bulk {i}\nsn: Bulk\n"
        "mail: bulk{i:04d}@abc.com\n\n".format(i=i, abc=ABC)
        for i in range(n))
    rc, _out, err = s.ldapadd(ldif, root=True)
    assert rc == 0, err
    # The limit is real: an unpaged search as the sync identity fails.
    rc, _out, _err = s.ldapsearch("(objectClass=mailgrantsUser)", "mail",
                                  binddn=s.sync_dn, password=s.sync_pw)
    assert rc == 4, (rc, _err)      # sizeLimitExceeded
    db, conf, p = synced(s, build_dir, tmp_path, ldap_page_size=300)
    got = logins(db)
    assert len(got) == n + len(LOGINS)
    assert {"bulk%04d@abc.com" % i for i in range(n)} | LOGINS == got
    # And every one of them is an employee of abc.com with its mailbox.
    assert query(db, "SELECT count(*) FROM addresses "
                     "WHERE address LIKE 'bulk%@abc.com'")[0][0] == n


def test_sasl_external_over_ldapi(fresh_slapd, build_dir, tmp_path):
    s = fresh_slapd
    # Map the peer credentials of this process (root on a mail server)
    # to the sync identity, whose access the directory's rules define.
    # (This instance's cn=config stays reachable only as the sync
    # identity afterwards, hence a slapd of its own.)
    rc, _out, err = s.ldapmodify(
        "dn: cn=config\nchangetype: modify\nadd: olcAuthzRegexp\n"
        'olcAuthzRegexp: "gidNumber=%d\\+uidNumber=%d,cn=peercred,'
        'cn=external,cn=auth" "%s"\n' % (os.getgid(), os.getuid(),
                                         s.sync_dn), external=True)
    assert rc == 0, err
    db, conf, p = synced(s, build_dir, tmp_path,
                         ldap_uri=s.ldapi_uri, ldap_bind_dn=None,
                         ldap_bind_password_file=None,
                         ldap_sasl_mech="EXTERNAL")
    assert logins(db) == LOGINS
    # Shares and private mailboxes are readable only by the sync
    # identity: their presence shows the bind took that identity.
    assert len(query(db, "SELECT dn FROM shares")) == 2
    assert ("makler@abc.com",) in query(
        db, "SELECT address FROM mailboxes WHERE kind = 1")


def test_frozen_server_times_out(story, build_dir, tmp_path):
    # A server that accepts the connection and then never answers must
    # not hang the sync: the network timeout ends it.
    slapd, _conf, db = story
    before = digest(db)
    conf = slapd.write_config(str(tmp_path / "frozen.conf"), replica=db,
                              ldap_network_timeout=2, ldap_search_timeout=2)
    os.kill(slapd.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        p = sync(build_dir, conf)
        elapsed = time.monotonic() - t0
    finally:
        os.kill(slapd.proc.pid, signal.SIGCONT)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "Timed out" in p.stderr, p.stderr
    assert elapsed < 15, elapsed
    assert digest(db) == before


def make_certificates(d):
    """A test CA, a server certificate for 127.0.0.1 it issued, and an
    unrelated CA (openssl)."""
    def run(*argv):
        subprocess.run(["openssl"] + list(argv), check=True,
                       capture_output=True, cwd=d, timeout=60)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
        "ca.key", "-out", "ca.pem", "-days", "2", "-subj",
        "/CN=mailgrants test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
        "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey",
        "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2",
        "-extfile", "ext.cnf")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
        "other.key", "-out", "other.pem", "-days", "2", "-subj",
        "/CN=another CA")
    return [os.path.join(d, n) for n in ("ca.pem", "server.pem",
                                         "server.key", "other.pem")]


def test_starttls(fresh_slapd, build_dir, tmp_path):
    s = fresh_slapd
    d = str(tmp_path)
    ca, cert, key, other_ca = make_certificates(d)
    rc, _out, err = s.ldapmodify(
        "dn: cn=config\nchangetype: modify\n"
        "replace: olcTLSCertificateFile\nolcTLSCertificateFile: %s\n-\n"
        "replace: olcTLSCertificateKeyFile\n"
        "olcTLSCertificateKeyFile: %s\n" % (cert, key), external=True)
    assert rc == 0, err
    db = str(tmp_path / "grants.db")
    conf = s.write_config(str(tmp_path / "tls.conf"), replica=db,
                          ldap_starttls=True, ldap_tls_ca_file=ca)
    p = sync(build_dir, conf)
    assert p.returncode == 0, p.stderr
    assert logins(db) == LOGINS
    before = digest(db)

    # A certificate the client cannot verify is an error, not a
    # fallback to plain text.
    conf = s.write_config(str(tmp_path / "untrusted.conf"), replica=db,
                          ldap_starttls=True, ldap_tls_ca_file=other_ca)
    p = sync(build_dir, conf)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "STARTTLS" in p.stderr and "certificate" in p.stderr, p.stderr
    conf = s.write_config(str(tmp_path / "noca.conf"), replica=db,
                          ldap_starttls=True,
                          ldap_tls_ca_file=os.path.join(d, "missing.pem"))
    p = sync(build_dir, conf)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "missing.pem" in p.stderr, p.stderr
    assert digest(db) == before
