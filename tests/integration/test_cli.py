"""mailgrants explain / access / who / check against a replica synced
from the real slapd with the example directory (the abc.com story), and
what the CLI does with bad input: corrupt and truncated replicas, LDAP
filter injection through logins, bad configuration, bad usage."""

import json
import os
import re
import shutil
import subprocess
import time

import pytest

LOGINS = {
    "sandra": "sandra.schuster@abc.com",
    "jana": "jana.meier@abc.com",
    "peter": "peter.mueller@abc.com",
    "tom": "tom.berger@abc.com",
    "anna": "anna.schmidt@xyz.org",
    "max": "max.wolf@xyz.org",
    # In xyz.org's subtree, not in its employee group.
    "lena": "lena.wagner@xyz.org",
}

# (login, address, kind, visible, may_send, reason) at the present time:
# the story of DESIGN §1.
STORY = [
    ("sandra", "sandra.schuster@abc.com", "private", True, True, "own_mailbox"),
    ("sandra", "makler@abc.com", "private", True, True, "own_mailbox"),
    ("sandra", "info@abc.com", "company", True, True, "company_mailbox"),
    ("sandra", "peter.mueller@abc.com", "shared", True, False, "shared_read_only"),
    ("sandra", "peter.müller@abc.com", "shared", True, False, "shared_read_only"),
    ("sandra", "buchhaltung@abc.com", "none", False, False, "not_yours"),
    ("jana", "buchhaltung@abc.com", "private", True, True, "own_mailbox"),
    ("jana", "peter.mueller@abc.com", "shared", True, False, "shared_read_only"),
    ("jana", "makler@abc.com", "none", False, False, "not_yours"),
    ("peter", "peter.müller@abc.com", "private", True, True, "own_mailbox"),
    ("peter", "info@abc.com", "company", True, True, "company_mailbox"),
    ("tom", "peter.mueller@abc.com", "none", False, False, "share_not_active"),
    ("tom", "info@abc.com", "company", True, True, "company_mailbox"),
    ("anna", "info@abc.com", "none", False, False, "not_yours"),
    ("anna", "info@xyz.org", "company", True, True, "company_mailbox"),
    ("max", "info@xyz.org", "company", True, True, "company_mailbox"),
    ("anna", "peter.mueller@abc.com", "none", False, False, "not_yours"),
    # vertrieb@abc.com: the members of cn=vertrieb only.
    ("jana", "vertrieb@abc.com", "company", True, True, "company_mailbox"),
    ("peter", "vertrieb@abc.com", "company", True, True, "company_mailbox"),
    ("sandra", "vertrieb@abc.com", "none", False, False, "not_in_group"),
    ("tom", "vertrieb@abc.com", "none", False, False, "not_in_group"),
    ("anna", "vertrieb@abc.com", "none", False, False, "not_yours"),
    # Not an employee: her own mailbox, no company mailbox.
    ("lena", "lena.wagner@xyz.org", "private", True, True, "own_mailbox"),
    ("lena", "info@xyz.org", "none", False, False, "not_yours"),
    ("sandra", "SANDRA.Schuster+x@ABC.com", "private", True, True, "own_mailbox"),
    ("sandra", "nobody@abc.com", "none", False, False, "unknown_address"),
    ("sandra", "someone@example.net", "none", False, False, "foreign_domain"),
]

ACCESS = {
    "sandra": {("sandra.schuster@abc.com", "private"), ("makler@abc.com", "private"),
               ("info@abc.com", "company"), ("peter.mueller@abc.com", "shared")},
    "jana": {("jana.meier@abc.com", "private"), ("buchhaltung@abc.com", "private"),
             ("info@abc.com", "company"), ("vertrieb@abc.com", "company"),
             ("peter.mueller@abc.com", "shared")},
    "peter": {("peter.mueller@abc.com", "private"), ("info@abc.com", "company"),
              ("vertrieb@abc.com", "company")},
    "tom": {("tom.berger@abc.com", "private"), ("info@abc.com", "company")},
    "anna": {("anna.schmidt@xyz.org", "private"), ("info@xyz.org", "company")},
    "max": {("max.wolf@xyz.org", "private"), ("info@xyz.org", "company")},
    "lena": {("lena.wagner@xyz.org", "private")},
}

INJECTIONS = ["*)(uid=*", "sandra.schuster@abc.com)(mail=*", "*",
              "sandra.schuster+x@abc.com",
              "sandra.schuster@abc.com\n", "sandra.schuster@abc.com%00", "(|(mail=*))", "%", "*@abc.com"]


@pytest.fixture(scope="module")
def env(slapd, build_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    conf = str(d / "mailgrants.conf")
    replica = str(d / "grants.db")
    slapd.write_config(conf, replica=replica)
    r = subprocess.run([os.path.join(build_dir, "mailgrants"), "-c", conf,
                        "sync", "--once"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "7 users" in r.stdout
    return {"conf": conf, "replica": replica, "dir": d,
            "bin": os.path.join(build_dir, "mailgrants")}


def mg(env, *args, conf=None):
    return subprocess.run([env["bin"], "-c", conf or env["conf"]] + list(args),
                          capture_output=True, text=True)


@pytest.mark.parametrize("who,address,kind,visible,may_send,reason", STORY)
def test_explain_story(env, who, address, kind, visible, may_send, reason):
    r = mg(env, "explain", "--json", LOGINS[who], address)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["login"] == LOGINS[who]
    assert (d["kind"], d["visible"], d["may_send"], d["reason"]) == \
        (kind, visible, may_send, reason), d
    assert bool(d["rights"]) == visible


def test_explain_names_entry_and_window(env):
    d = json.loads(mg(env, "explain", "--json", LOGINS["sandra"],
                      "peter.mueller@abc.com").stdout)
    assert d["entry"] == \
        "cn=vacation,uid=peter.mueller,ou=people,o=abc.com,dc=example,dc=org"
    assert d["not_before"] == "2025-01-01T00:00:00Z"
    assert d["not_after"] == "2035-12-31T23:59:59Z"
    assert d["rights"] == "lrwstiek"
    # Text output says the same for a person.
    t = mg(env, "explain", LOGINS["sandra"], "peter.mueller@abc.com").stdout
    assert "kind:     shared" in t and "may send: no" in t
    assert "window:   2025-01-01T00:00:00Z .. 2035-12-31T23:59:59Z" in t


def test_explain_at_other_times(env):
    # Tom's share was active in 2024; Sandra's starts in 2025.
    d = json.loads(mg(env, "explain", "--json", "--at", "2024-06-01",
                      LOGINS["tom"], "peter.mueller@abc.com").stdout)
    assert (d["kind"], d["reason"]) == ("shared", "shared_read_only")
    d = json.loads(mg(env, "explain", "--json", "--at", "2024-06-01",
                      LOGINS["sandra"], "peter.mueller@abc.com").stdout)
    assert d["reason"] == "share_not_active"
    d = json.loads(mg(env, "explain", "--json", "--at", "2036-01-01T00:00:00Z",
                      LOGINS["jana"], "peter.mueller@abc.com").stdout)
    assert d["reason"] == "share_not_active"
    assert mg(env, "explain", "--at", "yesterday", LOGINS["tom"],
              "info@abc.com").returncode == 1


@pytest.mark.parametrize("who", sorted(ACCESS))
def test_access_story(env, who):
    r = mg(env, "access", "--json", LOGINS[who])
    assert r.returncode == 0, r.stderr
    got = {(d["mailbox"], d["kind"]) for d in json.loads(r.stdout)}
    assert got == ACCESS[who]


def test_who_story(env):
    def who(address):
        r = mg(env, "who", "--json", address)
        assert r.returncode == 0, r.stderr
        return {(d["login"], d["kind"]) for d in json.loads(r.stdout)}

    assert who("peter.müller@abc.com") == {
        (LOGINS["peter"], "private"), (LOGINS["sandra"], "shared"),
        (LOGINS["jana"], "shared")}
    assert who("info@abc.com") == {(LOGINS[p], "company")
                                   for p in ("sandra", "jana", "peter", "tom")}
    assert who("info@xyz.org") == {(LOGINS[p], "company") for p in ("anna", "max")}
    assert who("vertrieb@abc.com") == {(LOGINS[p], "company")
                                       for p in ("jana", "peter")}
    assert who("makler@abc.com") == {(LOGINS["sandra"], "private")}
    assert json.loads(mg(env, "who", "--json", "nobody@abc.com").stdout) == []


@pytest.mark.parametrize("login", INJECTIONS)
def test_injected_logins_are_unknown(env, login):
    r = mg(env, "explain", "--json", login, "info@abc.com")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert (d["visible"], d["may_send"], d["reason"]) == \
        (False, False, "unknown_login")
    r = mg(env, "access", "--json", login)
    assert r.returncode == 0 and json.loads(r.stdout) == []


def test_check_ok(env):
    r = mg(env, "check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "bind ok" in r.stdout
    assert "7 users" in r.stdout and "2 shares" in r.stdout


def _copy_env(env, name, content):
    """A configuration whose replica is a copy we can damage."""
    d = env["dir"] / name
    d.mkdir()
    replica = str(d / "grants.db")
    if content is not None:
        with open(replica, "wb") as f:
            f.write(content)
    conf = str(d / "mailgrants.conf")
    with open(env["conf"]) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text.replace(env["replica"], replica))
    return conf


def _replica_bytes(env):
    # Checkpoint first: a copy of the main file alone must be whole.
    subprocess.run(["sqlite3", env["replica"], "PRAGMA wal_checkpoint(TRUNCATE)"],
                   check=True, capture_output=True)
    with open(env["replica"], "rb") as f:
        return f.read()


@pytest.mark.parametrize("ahead,status", [(30, 0), (3600, 2)])
def test_check_sync_in_the_future(env, ahead, status):
    """A last sync in the future beyond the clock's jitter (60 s): its
    age is unknown, so with replica_max_age the replica counts as too
    old (the policy daemon defers) and check says so."""
    conf = _copy_env(env, "future-%d" % ahead, _replica_bytes(env))
    with open(conf, "a") as f:
        f.write("replica_max_age = 600\n")
    replica = os.path.join(os.path.dirname(conf), "grants.db")
    later = str(int(time.time()) + ahead)
    subprocess.run(["sqlite3", replica,
                    "UPDATE meta SET value = '%s' WHERE key IN"
                    " ('last_success', 'heartbeat')" % later],
                   check=True, capture_output=True)
    r = mg(env, "check", conf=conf)
    assert r.returncode == status, r.stdout + r.stderr
    assert ("in the future" in r.stdout) == (status != 0), r.stdout


@pytest.mark.parametrize("name,mangle", [
    ("missing", None),
    ("garbage", lambda b: b"\x00garbage, not SQLite\n" * 100),
    ("truncated", lambda b: b[:5000]),
    ("zeroed", lambda b: b[:100] + b"\x00" * (len(b) - 100)),
])
def test_bad_replica(env, name, mangle):
    content = None if mangle is None else mangle(_replica_bytes(env))
    conf = _copy_env(env, name, content)
    for args in (["explain", LOGINS["sandra"], "info@abc.com"],
                 ["access", LOGINS["sandra"]], ["who", "info@abc.com"],
                 ["check"]):
        r = mg(env, *args, conf=conf)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        err = r.stderr.strip().splitlines()
        assert len(err) == 1 and "replica" in err[0], r.stderr
        assert "grants.db" in err[0]
        assert '"visible":true' not in r.stdout


def test_wrong_version_replica(env):
    conf = _copy_env(env, "version", _replica_bytes(env))
    replica = os.path.join(os.path.dirname(conf), "grants.db")
    subprocess.run(["sqlite3", replica, "PRAGMA user_version = 99"], check=True)
    r = mg(env, "explain", LOGINS["sandra"], "info@abc.com", conf=conf)
    assert r.returncode == 2
    assert "schema version 99" in r.stderr


def test_config_errors(env, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("replica = /tmp/x.db\n# fine\nldap_urI = ldap://x/\n")
    r = mg(env, "check", conf=str(conf))
    assert r.returncode == 1
    assert 'line 3: unknown key "ldap_urI"' in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = mg(env, "check", conf=str(tmp_path / "missing.conf"))
    assert r.returncode == 1 and "missing.conf" in r.stderr


@pytest.mark.parametrize("args", [[], ["bogus"], ["explain", "only-one"],
                                  ["sync"], ["sync", "--forever"],
                                  ["access"], ["who", "a", "b"]])
def test_usage(env, args):
    r = mg(env, *args)
    assert r.returncode == 1
    assert "usage:" in r.stderr


def test_unprivileged_reader_in_replica_group(slapd, build_dir):
    """The first sync leaves -wal and -shm beside the replica and gives
    all three to replica_group: a reader of that group (Dovecot's mail
    processes, the policy daemon) opens it read-only, without write
    access to the replica or its directory."""
    import grp
    import tempfile
    d = tempfile.mkdtemp(prefix="mailgrants-reader-", dir="/tmp")
    try:
        os.chmod(d, 0o755)
        rdir = os.path.join(d, "lib")
        os.mkdir(rdir)
        os.chmod(rdir, 0o755)
        conf = os.path.join(d, "mailgrants.conf")
        slapd.write_config(conf, replica=os.path.join(rdir, "grants.db"),
                           replica_group="nogroup")
        os.chmod(conf, 0o644)
        mgbin = os.path.join(build_dir, "mailgrants")
        r = subprocess.run([mgbin, "-c", conf, "sync", "--once"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        gid = grp.getgrnam("nogroup").gr_gid
        for name in ("grants.db", "grants.db-wal", "grants.db-shm"):
            st = os.stat(os.path.join(rdir, name))
            assert st.st_gid == gid, name
            assert st.st_mode & 0o077 == 0o040, (name, oct(st.st_mode))
        as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup",
                     "--clear-groups"]
        r = subprocess.run(as_nobody + [mgbin, "-c", conf, "explain", "--json",
                                        LOGINS["sandra"], "info@abc.com"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["kind"] == "company"
        # Outside the group: no access at all (exit 2, one line).
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=daemon",
                            "--clear-groups", mgbin, "-c", conf, "explain",
                            LOGINS["sandra"], "info@abc.com"],
                           capture_output=True, text=True)
        assert r.returncode == 2, r.stdout
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        # A second sync (in place) keeps the reader working.
        r = subprocess.run([mgbin, "-c", conf, "sync", "--once"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        r = subprocess.run(as_nobody + [mgbin, "-c", conf, "access",
                                        "--json", LOGINS["tom"]],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert len(json.loads(r.stdout)) == 2
    finally:
        shutil.rmtree(d, ignore_errors=True)



# -- identities: what a mail client may offer as From -------------------

# The addresses each login may send as, own address first, then its other
# private mailboxes, then company mailboxes; never a mailbox only shared
# with it.
IDENTITIES = {
    "sandra": ["sandra.schuster@abc.com", "makler@abc.com", "info@abc.com"],
    "jana": ["jana.meier@abc.com", "buchhaltung@abc.com", "info@abc.com"],
    "peter": ["peter.mueller@abc.com", "info@abc.com"],
    "tom": ["tom.berger@abc.com", "info@abc.com"],
    "anna": ["anna.schmidt@xyz.org", "info@xyz.org"],
    "max": ["max.wolf@xyz.org", "info@xyz.org"],
}
_EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "ldap-schema",
                        "examples", "abc.ldif")
with open(_EXAMPLE, encoding="utf-8") as _f:
    if "dn: cn=vertrieb@abc.com," in _f.read():
        # The example directory with the sales team's company mailbox
        # (its group cn=vertrieb: Jana and Peter), after info@.
        for _who in ("jana", "peter"):
            IDENTITIES[_who].append("vertrieb@abc.com")

# Roundcube's own tables (SQL/sqlite.initial.sql of Roundcube 1.6), the
# two the roundcube-sql format touches.
ROUNDCUBE_SCHEMA = """
CREATE TABLE identities (
  identity_id integer NOT NULL PRIMARY KEY,
  user_id integer NOT NULL default '0',
  changed datetime NOT NULL default '0000-00-00 00:00:00',
  del tinyint NOT NULL default '0',
  standard tinyint NOT NULL default '0',
  name varchar(128) NOT NULL default '',
  organization varchar(128) default '',
  email varchar(128) NOT NULL default '',
  "reply-to" varchar(128) NOT NULL default '',
  bcc varchar(128) NOT NULL default '',
  signature text NOT NULL default '',
  html_signature tinyint NOT NULL default '0'
);
CREATE INDEX ix_identities_user_id ON identities(user_id, del);
CREATE INDEX ix_identities_email ON identities(email, del);
CREATE TABLE users (
  user_id integer NOT NULL PRIMARY KEY,
  username varchar(128) NOT NULL default '',
  mail_host varchar(128) NOT NULL default '',
  created datetime NOT NULL default '0000-00-00 00:00:00',
  last_login datetime DEFAULT NULL,
  failed_login datetime DEFAULT NULL,
  failed_login_counter integer DEFAULT NULL,
  language varchar(5),
  preferences text NOT NULL default ''
);
CREATE UNIQUE INDEX ix_users_username ON users(username, mail_host);
"""


def identities(env, login, *opts, conf=None):
    r = mg(env, "identities", *opts, login, conf=conf)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("who", sorted(IDENTITIES))
def test_identities_story(env, who):
    got = json.loads(identities(env, LOGINS[who], "--format", "json"))
    assert [d["address"] for d in got] == IDENTITIES[who]
    assert got[0]["kind"] == "private"
    assert {d["kind"] for d in got} <= {"private", "company"}
    assert all(d["name"] is None and d["entry"] for d in got)
    # The text form says the same, one identity a line.
    lines = identities(env, LOGINS[who]).splitlines()
    assert [line.split()[-1] for line in lines] == IDENTITIES[who]


@pytest.mark.parametrize("who", sorted(IDENTITIES))
def test_identities_are_what_the_policy_permits(env, who):
    """The same rights function: every identity may be sent as, and no
    mailbox access lists without send-as (Peter's, shared with Sandra
    and Jana) is among them."""
    ids = set(IDENTITIES[who])
    for d in json.loads(mg(env, "access", "--json", LOGINS[who]).stdout):
        assert (d["mailbox"] in ids) == d["may_send"], d
    for address in ids:
        d = json.loads(mg(env, "explain", "--json", LOGINS[who],
                          address).stdout)
        assert d["may_send"], d


def test_shared_mailbox_is_no_identity(env):
    for who in ("sandra", "jana"):
        for fmt in ("text", "json", "thunderbird", "roundcube-sql"):
            out = identities(env, LOGINS[who], "--format", fmt)
            assert "peter.mueller@abc.com" not in out, (who, fmt, out)
            assert "peter.müller@abc.com" not in out, (who, fmt, out)
    # Peter's share with Tom was active in 2024: still no identity then.
    out = identities(env, LOGINS["tom"], "--at", "2024-06-01")
    assert "peter.mueller" not in out


@pytest.fixture
def einkauf(slapd, build_dir, tmp_path):
    """A company mailbox of abc.com for one group only (purchasing:
    Sandra), in a replica of its own; the entries are removed again
    afterwards."""
    group = "cn=einkauf,ou=mailboxes,o=abc.com,dc=example,dc=org"
    mbox = "cn=einkauf@abc.com,ou=mailboxes,o=abc.com,dc=example,dc=org"
    slapd.ldapadd("""dn: %s
objectClass: groupOfNames
cn: einkauf
member: uid=sandra.schuster,ou=people,o=abc.com,dc=example,dc=org

dn: %s
objectClass: mailgrantsMailbox
cn: einkauf@abc.com
mailgrantsKind: company
mail: einkauf@abc.com
mailgrantsGroup: %s
""" % (group, mbox, group), root=True)
    try:
        conf = str(tmp_path / "mailgrants.conf")
        slapd.write_config(conf, replica=str(tmp_path / "grants.db"))
        mgbin = os.path.join(build_dir, "mailgrants")
        r = subprocess.run([mgbin, "-c", conf, "sync", "--once"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        yield {"conf": conf, "bin": mgbin}
    finally:
        slapd.ldapdelete(mbox, group, root=True)


def test_company_mailbox_of_a_group_only_for_its_members(einkauf):
    def ids(who):
        return [d["address"] for d in json.loads(identities(
            einkauf, LOGINS[who], "--format", "json"))]
    assert "einkauf@abc.com" in ids("sandra")
    for who in ("jana", "peter", "tom", "anna"):
        assert "einkauf@abc.com" not in ids(who), who
        # ... and the policy agrees.
        d = json.loads(mg(einkauf, "explain", "--json", LOGINS[who],
                          "einkauf@abc.com").stdout)
        assert not d["may_send"], d
    assert "info@abc.com" in ids("jana")


def test_identities_thunderbird(env):
    out = identities(env, LOGINS["sandra"], "--format", "thunderbird",
                     "--name", 'Sandra "Makler" Schuster')
    prefs = re.findall(r'^user_pref\("([^"]+)", (.*)\);$', out, re.M)
    other = [line for line in out.splitlines()
             if line and not line.startswith("//")
             and not line.startswith("user_pref(")]
    assert not other, other
    got = dict(prefs)
    # Her own address is the account's identity (id1) already.
    assert got == {
        "mail.identity.mailgrants1.useremail": '"makler@abc.com"',
        "mail.identity.mailgrants1.fullName":
            '"Sandra \\"Makler\\" Schuster"',
        "mail.identity.mailgrants1.valid": "true",
        "mail.identity.mailgrants2.useremail": '"info@abc.com"',
        "mail.identity.mailgrants2.fullName":
            '"Sandra \\"Makler\\" Schuster"',
        "mail.identity.mailgrants2.valid": "true",
        "mail.account.account1.identities": '"id1,mailgrants1,mailgrants2"',
    }, out
    out = identities(env, LOGINS["tom"], "--format", "thunderbird",
                     "--tb-account", "account3", "--tb-identity", "id7")
    assert 'user_pref("mail.account.account3.identities", ' \
           '"id7,mailgrants1");' in out
    assert "fullName" not in out
    for bad in (["--tb-account", "account1\", true);//"],
                ["--tb-identity", ""], ["--format", "outlook"],
                ["--name", "Sandra\nSchuster"]):
        r = mg(env, "identities", *bad, LOGINS["sandra"])
        assert r.returncode == 1, (bad, r.stdout)
        assert r.stdout == "" and len(r.stderr.splitlines()) == 1, bad


def test_identities_roundcube_sql(env, tmp_path):
    """The statements run against Roundcube's schema: they add what the
    user lacks, twice is once, and other users get nothing."""
    import sqlite3
    db = sqlite3.connect(str(tmp_path / "roundcube.db"))
    db.executescript(ROUNDCUBE_SCHEMA)
    db.execute("INSERT INTO users (user_id, username, mail_host) VALUES "
               "(1, 'sandra.schuster@abc.com', 'localhost'), "
               "(2, 'jana.meier@abc.com', 'localhost')")
    # What Roundcube creates at the first login: the standard identity.
    db.execute("INSERT INTO identities (user_id, standard, name, email) "
               "VALUES (1, 1, 'Sandra', 'sandra.schuster@abc.com')")
    script = identities(env, LOGINS["sandra"], "--format", "roundcube-sql",
                        "--name", "Sandra O'Neil")
    db.executescript(script)
    db.executescript(script)
    rows = db.execute("SELECT user_id, standard, name, email, del FROM "
                      "identities ORDER BY identity_id").fetchall()
    assert rows == [
        (1, 1, "Sandra", "sandra.schuster@abc.com", 0),
        (1, 0, "Sandra O'Neil", "makler@abc.com", 0),
        (1, 0, "Sandra O'Neil", "info@abc.com", 0),
    ], rows
    # Jana's script adds hers only, to her user.
    db.executescript(identities(env, LOGINS["jana"], "--format",
                                "roundcube-sql"))
    rows = db.execute("SELECT email FROM identities WHERE user_id = 2 "
                      "ORDER BY identity_id").fetchall()
    assert rows == [(a,) for a in IDENTITIES["jana"]], rows
    assert db.execute("SELECT count(*) FROM identities WHERE email = "
                      "'peter.mueller@abc.com'").fetchone() == (0,)
    # A backslash means something else in MySQL: refused, nothing out.
    r = mg(env, "identities", "--format", "roundcube-sql", "--name",
           "A\\B", LOGINS["sandra"])
    assert r.returncode == 1 and r.stdout == "", r.stdout


def test_identities_unknown_login_and_bad_replica(env):
    r = mg(env, "identities", "--format", "json", "nobody@abc.com")
    assert r.returncode == 0 and json.loads(r.stdout) == []
    assert "unknown login" in r.stderr
    for fmt in ("thunderbird", "roundcube-sql"):
        r = mg(env, "identities", "--format", fmt, "nobody@abc.com")
        assert r.returncode == 0 and r.stdout == "", r.stdout
    conf = _copy_env(env, "identities-missing", None)
    r = mg(env, "identities", LOGINS["sandra"], conf=conf)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    for args in (["identities"], ["identities", "a", "b"]):
        r = mg(env, *args)
        assert r.returncode == 1 and "usage:" in r.stderr
