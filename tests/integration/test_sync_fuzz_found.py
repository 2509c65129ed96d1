"""What tests/fuzz/fuzz-ldap-entry.c found, against a real slapd.

mailgrantsUser is an auxiliary class, so one entry may be a mail user
and a mailbox at once. The user's primary mailbox holds the DN. When the
mailbox's primary address is not one of the user's (the configuration
reads users' and mailboxes' addresses from different attributes),
staging the mailbox broke the replica's unique DN and failed the whole
sync ("cannot stage the entry into the replica"), for every company.
Now the mailbox is skipped with a warning that names the entry, and the
rest of the directory arrives.
"""

import os
import sqlite3
import subprocess

from slapd import Slapd, BASE

ABC = "o=abc.com," + BASE
TEAM = "cn=team@abc.com,ou=mailboxes," + ABC

BOTH_LDIF = """\
dn: {team}
objectClass: mailgrantsMailbox
objectClass: mailgrantsUser
cn: team@abc.com
mailgrantsKind: company
mail: team@abc.com
mailgrantsAddress: team-box@abc.com
""".format(team=TEAM)


def query(db, sql, *params):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def test_user_and_mailbox_in_one_entry(build_dir, tmp_path):
    exe = os.path.join(build_dir, "mailgrants")
    assert os.access(exe, os.X_OK), "%s not built" % exe
    with Slapd() as s:
        rc, _out, err = s.ldapadd(BOTH_LDIF, root=True)
        assert rc == 0, err
        db = str(tmp_path / "grants.db")
        conf = s.write_config(str(tmp_path / "mailgrants.conf"), replica=db,
                              ldap_user_address_attributes="mail",
                              ldap_mailbox_address_attributes=
                              "mailgrantsAddress mail")
        p = subprocess.run([exe, "-c", conf, "sync", "--once"],
                           capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    line = [l for l in p.stderr.splitlines() if TEAM in l]
    assert line and "a mail user and a mailbox at once" in line[0], p.stderr
    # The entry counts as the mail user it also is (users are staged
    # first), with its address as the primary one ...
    rows = query(db, "SELECT u.login, m.kind, m.address FROM users u"
                 " JOIN mailboxes m ON m.owner_id = u.id WHERE u.dn = ?",
                 TEAM)
    assert rows == [("team@abc.com", 1, "team@abc.com")]
    # ... and the rest of the directory is there.
    logins = {r[0] for r in query(db, "SELECT login FROM users")}
    assert {"sandra.schuster@abc.com", "anna.schmidt@xyz.org",
            "team@abc.com"} <= logins
    addrs = {r[0] for r in query(db, "SELECT address FROM addresses")}
    assert {"info@abc.com", "makler@abc.com", "info@xyz.org"} <= addrs
