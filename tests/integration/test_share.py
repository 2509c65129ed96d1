"""mailgrants share / unshare against a real slapd with the shipped
access rules (ldap-schema/access.ldif).

The directory decides who may share what; the tool writes as the
identity given with --as and reports a refusal as one line that names
the refused entry. What was written is checked as the rootdn, and what
it means for the mail servers through "mailgrants sync --once" and
"mailgrants explain --json".

Tests that change the directory get a slapd of their own (fresh_slapd);
the others share one per module and check that nothing was written.
"""

import json
import os
import subprocess

import pytest

import example
from example import ABC, ADMIN_DN as ADMIN, BASE, STAFF_DN as STAFF
from example import ANNA_DN as ANNA, JANA_DN as JANA, PETER_DN as PETER
from example import SANDRA_DN as SANDRA, TOM_DN as TOM, MAKLER_DN as MAKLER
from slapd import Slapd

VACATION = "cn=vacation," + PETER

PASSWORDS = {
    "peter": example.PASSWORDS[example.PETER],
    "sandra": example.PASSWORDS[example.SANDRA],
    "jana": example.PASSWORDS[example.JANA],
    "admin": example.ADMIN_PW,
    "wrong": "not-sandras-pw",
}


class Env:
    """A slapd, a mailgrants.conf for it, password files."""

    def __init__(self, server, build_dir, tmp):
        self.slapd = server
        self.build_dir = build_dir
        self.tmp = tmp
        self.replica = os.path.join(tmp, "grants.db")
        self.conf = server.write_config(os.path.join(tmp, "mailgrants.conf"),
                                        replica=self.replica)
        self.pw = {}
        for name, secret in PASSWORDS.items():
            path = os.path.join(tmp, name + ".pw")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secret + "\n")
            self.pw[name] = path

    def mg(self, *args):
        """build/mailgrants -c CONF ARGS, stdin not a terminal."""
        exe = os.path.join(self.build_dir, "mailgrants")
        assert os.access(exe, os.X_OK), "%s not built" % exe
        return subprocess.run([exe, "-c", self.conf] + list(args),
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    def as_(self, who, identity):
        return ["--as", identity, "--password-file", self.pw[who]]

    def shares(self):
        """Every share entry, read as the rootdn: {dn: attributes}."""
        rc, entries, err = self.slapd.search("(objectClass=mailgrantsShare)",
                                             root=True)
        assert rc == 0, err
        return {dn.lower(): attrs for dn, attrs in entries}

    def explain(self, login, address):
        p = self.mg("sync", "--once")
        assert p.returncode == 0, p.stderr
        p = self.mg("explain", "--json", login, address)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)


def one_line(p):
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    return lines[0]


@pytest.fixture
def fresh(build_dir, tmp_path):
    """A slapd of its own, for a test that changes the directory."""
    with Slapd() as server:
        yield Env(server, build_dir, str(tmp_path))


@pytest.fixture(scope="module")
def shared_env(slapd, build_dir, tmp_path_factory):
    """The module's slapd: for tests that must not change anything."""
    env = Env(slapd, build_dir, str(tmp_path_factory.mktemp("share")))
    env.before = env.shares()
    return env


@pytest.fixture
def env(shared_env):
    """The module's slapd; after the test, the shares are as before."""
    yield shared_env
    assert shared_env.shares() == shared_env.before


# ------------------------------------------------ Peter's vacation

def test_owner_shares_and_unshares(fresh):
    env = fresh
    before = env.shares()
    p = env.mg("share", *env.as_("peter", "peter.mueller@abc.com"),
               "--from", "2026-01-01", "--until", "2036-01-01",
               "--rights", "lrs", "--description", "Tom reads along",
               "peter.mueller@abc.com", "tom.berger@abc.com")
    assert p.returncode == 0, p.stderr
    after = env.shares()
    new = set(after) - set(before)
    assert len(new) == 1, after
    dn = new.pop()
    assert dn.endswith("," + PETER.lower())
    assert p.stdout.strip().lower() == "added " + dn
    attrs = after[dn]
    assert attrs["mailgrantsgrantee"] == [TOM]
    assert attrs["mailgrantsrights"] == ["lrs"]
    assert attrs["mailgrantsnotbefore"] == ["20260101000000Z"]
    # A date alone for --until means through that day.
    assert attrs["mailgrantsnotafter"] == ["20360101235959Z"]
    assert attrs["description"] == ["Tom reads along"]

    d = env.explain("tom.berger@abc.com", "peter.mueller@abc.com")
    assert d["kind"] == "shared" and d["visible"], d
    assert d["rights"] == "lrs"
    assert not d["may_send"]
    assert d["entry"].lower() == dn

    # The same grantee again at the same time: said so, nothing added.
    p = env.mg("share", *env.as_("peter", "peter.mueller@abc.com"),
               "--rights", "lr", "peter.mueller@abc.com", "tom.berger@abc.com")
    assert p.returncode == 1
    assert "already has a share" in one_line(p)
    assert dn in one_line(p).lower()
    assert env.shares() == after

    p = env.mg("unshare", *env.as_("peter", "peter.mueller@abc.com"),
               "peter.mueller@abc.com", "tom.berger@abc.com")
    assert p.returncode == 0, p.stderr
    assert "deleted " + dn in p.stdout.lower()
    left = env.shares()
    assert dn not in left
    # Tom's expired cn=2024 share goes too: unshare takes him off all.
    assert "cn=2024," + PETER.lower() not in left
    assert VACATION.lower() in left

    d = env.explain("tom.berger@abc.com", "peter.mueller@abc.com")
    assert not d["visible"], d
    assert d["kind"] == "none"

    p = env.mg("unshare", *env.as_("peter", "peter.mueller@abc.com"),
               "peter.mueller@abc.com", "tom.berger@abc.com")
    assert p.returncode == 1
    assert one_line(p) == ("mailgrants: unshare: peter.mueller@abc.com has "
                           "no share with tom.berger@abc.com")


def test_owner_shares_with_the_right_to_send_on_behalf(fresh):
    """--on-behalf: the owner writes mailgrantsSendOnBehalf (the access
    rules let her), explain shows it; a grantee cannot give it to
    herself."""
    env = fresh
    p = env.mg("share", *env.as_("peter", "peter.mueller@abc.com"),
               "--on-behalf", "--name", "tom-behalf", "--rights", "lr",
               "peter.mueller@abc.com", "tom.berger@abc.com")
    assert p.returncode == 0, p.stderr
    dn = "cn=tom-behalf," + PETER
    attrs = env.shares()[dn.lower()]
    assert attrs["mailgrantssendonbehalf"] == ["TRUE"]
    assert attrs["mailgrantsrights"] == ["lr"]
    d = env.explain("tom.berger@abc.com", "peter.mueller@abc.com")
    assert (d["visible"], d["rights"], d["may_send"],
            d["may_send_on_behalf"]) == (True, "lr", False, True), d
    assert d["on_behalf_entry"].lower() == dn.lower()
    p = env.mg("explain", "tom.berger@abc.com", "peter.mueller@abc.com")
    assert p.returncode == 0, p.stderr
    assert ("on behalf: yes: From: peter.mueller@abc.com with Sender: "
            "tom.berger@abc.com's own address") in p.stdout, p.stdout
    p = env.mg("access", "tom.berger@abc.com")
    assert "peter.mueller@abc.com  rights=lr send=on-behalf" in p.stdout, \
        p.stdout
    # Without --on-behalf, no such attribute: a share as before.
    p = env.mg("share", *env.as_("peter", "peter.mueller@abc.com"),
               "--name", "jana-plain", "peter.mueller@abc.com",
               "jana.meier@abc.com", "--replace")
    assert p.returncode == 0, p.stderr
    assert "mailgrantssendonbehalf" not in \
        env.shares()[("cn=jana-plain," + PETER).lower()]
    # Sandra, a grantee of cn=vacation, may read it but not give
    # herself the right.
    rc, _out, err = env.slapd.ldapmodify(
        "dn: %s\nchangetype: modify\nadd: mailgrantsSendOnBehalf\n"
        "mailgrantsSendOnBehalf: TRUE\n" % VACATION,
        binddn=SANDRA, password=PASSWORDS["sandra"])
    assert rc != 0 and "Insufficient access" in err, (rc, err)
    assert "mailgrantssendonbehalf" not in env.shares()[VACATION.lower()]


def test_replace(fresh):
    env = fresh
    args = ["share", *env.as_("peter", PETER), "--name", "tom",
            "--rights", "lr", "peter.mueller@abc.com", TOM]
    p = env.mg(*args)
    assert p.returncode == 0, p.stderr
    p = env.mg("share", *env.as_("peter", PETER), "--replace",
               "--rights", "lrsw", "--name", "tom-again",
               "peter.mueller@abc.com", "tom.berger@abc.com")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [
        "added cn=tom-again," + PETER,
        "deleted cn=tom," + PETER,
    ]
    shares = env.shares()
    assert "cn=tom," + PETER.lower() not in shares
    assert shares["cn=tom-again," + PETER.lower()]["mailgrantsrights"] == [
        "lrsw"]
    # The new share cannot go in (the name is taken by another share):
    # the old one stays.
    p = env.mg("share", *env.as_("peter", PETER), "--replace",
               "--name", "vacation", "peter.mueller@abc.com", TOM)
    assert p.returncode == 1
    assert "exists already" in one_line(p)
    assert env.shares() == shares
    # Replaced under its own name.
    p = env.mg("share", *env.as_("peter", PETER), "--replace",
               "--name", "tom-again", "--rights", "lrswi",
               "peter.mueller@abc.com", TOM)
    assert p.returncode == 0, p.stderr
    after = env.shares()
    assert after["cn=tom-again," + PETER.lower()]["mailgrantsrights"] == [
        "lrswi"]
    assert set(after) == set(shares)
    d = env.explain("tom.berger@abc.com", "peter.mueller@abc.com")
    # (The rights function prints the letters in its own order.)
    assert d["visible"] and sorted(d["rights"]) == sorted("lrswi"), d


def test_windows_touching_by_a_second(fresh):
    """Both ends of a window count (mailgrants.schema, rights.h): a
    window that starts the second after another ends is a share of its
    own; one that shares a single second with it competes."""
    env = fresh

    def share(name, *window):
        return env.mg("share", *env.as_("peter", PETER), "--name", name,
                      *window, "peter.mueller@abc.com", TOM)

    # One day: the same date for both is that whole day.
    p = share("day", "--from", "2040-06-01", "--until", "2040-06-01")
    assert p.returncode == 0, p.stderr
    day = env.shares()["cn=day," + PETER.lower()]
    assert day["mailgrantsnotbefore"] == ["20400601000000Z"]
    assert day["mailgrantsnotafter"] == ["20400601235959Z"]

    p = share("july", "--from", "2040-07-01", "--until", "2040-07-31")
    assert p.returncode == 0, p.stderr
    before = env.shares()
    # One second in common with July, at either end: refused, nothing
    # written (July is the only share they could meet).
    p = share("late", "--from", "2040-07-31T23:59:59Z", "--until",
              "2040-08-15")
    assert p.returncode == 1
    assert "already has a share" in one_line(p)
    assert "cn=july," + PETER.lower() in one_line(p).lower()
    p = share("early", "--from", "2040-06-15", "--until",
              "2040-07-01T00:00:00Z")
    assert p.returncode == 1
    assert "already has a share" in one_line(p)
    assert "cn=july," + PETER.lower() in one_line(p).lower()
    assert env.shares() == before
    # Starts the second after July ends: a share of its own.
    p = share("august", "--from", "2040-08-01", "--until", "2040-08-31")
    assert p.returncode == 0, p.stderr
    # Ends the second before July starts: a share of its own too.
    p = share("june", "--from", "2040-06-02", "--until",
              "2040-06-30T23:59:59Z")
    assert p.returncode == 0, p.stderr
    after = env.shares()
    for name in ("day", "june", "july", "august"):
        assert "cn=%s,%s" % (name, PETER.lower()) in after

    # What the mail servers make of it, at the very seconds.
    p = env.mg("sync", "--once")
    assert p.returncode == 0, p.stderr
    for at, entry in [("2040-06-30T23:59:59Z", "june"),
                      ("2040-07-01T00:00:00Z", "july"),
                      ("2040-07-31T23:59:59Z", "july"),
                      ("2040-08-01T00:00:00Z", "august"),
                      ("2040-08-31T23:59:59Z", "august")]:
        p = env.mg("explain", "--json", "--at", at, "tom.berger@abc.com",
                   "peter.mueller@abc.com")
        assert p.returncode == 0, p.stderr
        d = json.loads(p.stdout)
        assert d["kind"] == "shared" and d["visible"], (at, d)
        assert d["entry"].lower() == "cn=%s,%s" % (entry, PETER.lower())
        # The IMAP list (access) agrees at the very second.
        p = env.mg("access", "--json", "--at", at, "tom.berger@abc.com")
        assert p.returncode == 0, p.stderr
        assert [x["entry"].lower() for x in json.loads(p.stdout)
                if x["mailbox"] == "peter.mueller@abc.com"] == [
            "cn=%s,%s" % (entry, PETER.lower())], (at, p.stdout)
    p = env.mg("explain", "--json", "--at", "2040-09-01T00:00:00Z",
               "tom.berger@abc.com", "peter.mueller@abc.com")
    d = json.loads(p.stdout)
    assert d["reason"] == "share_not_active" and not d["visible"], d
    p = env.mg("access", "--json", "--at", "2040-09-01T00:00:00Z",
               "tom.berger@abc.com")
    assert "peter.mueller@abc.com" not in p.stdout


def test_unshare_removes_one_grantee_of_two(fresh):
    env = fresh
    p = env.mg("unshare", *env.as_("peter", "peter.mueller@abc.com"),
               "peter.mueller@abc.com", "sandra.schuster@abc.com")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "removed %s from %s" % (SANDRA, VACATION)
    vacation = env.shares()[VACATION.lower()]
    assert vacation["mailgrantsgrantee"] == [JANA]
    assert vacation["mailgrantsnotafter"] == ["20351231235959Z"]
    assert not env.explain("sandra.schuster@abc.com",
                           "peter.mueller@abc.com")["visible"]
    assert env.explain("jana.meier@abc.com",
                       "peter.mueller@abc.com")["visible"]


# ----------------------------------------------------- refusals

def test_sandra_cannot_share_peters_mailbox(env):
    p = env.mg("share", *env.as_("sandra", "sandra.schuster@abc.com"),
               "--name", "sneaky", "peter.mueller@abc.com",
               "tom.berger@abc.com")
    assert p.returncode == 1, (p.stdout, p.stderr)
    line = one_line(p)
    assert line.startswith("mailgrants: share: adding cn=sneaky," + PETER)
    assert "refused by the directory" in line
    assert "Insufficient access" in line
    assert "(as %s)" % SANDRA in line
    assert p.stdout == ""
    assert "sandra-pw" not in p.stderr


def test_grantee_sees_her_share_but_cannot_replace_it(env):
    # Sandra is a grantee of Peter's cn=vacation: she may see it (the
    # access rules let grantees read their shares), so sharing Peter's
    # mailbox with herself meets it; replacing it is the directory's
    # to refuse.
    me = env.as_("sandra", "sandra.schuster@abc.com")
    p = env.mg("share", *me, "--name", "sneaky", "peter.mueller@abc.com",
               "sandra.schuster@abc.com")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "already has a share" in one_line(p) and VACATION in p.stderr
    p = env.mg("share", *me, "--replace", "--name", "sneaky",
               "peter.mueller@abc.com", "sandra.schuster@abc.com")
    assert p.returncode == 1, (p.stdout, p.stderr)
    line = one_line(p)
    assert line.startswith("mailgrants: share: adding cn=sneaky," + PETER)
    assert "refused by the directory" in line
    assert p.stdout == ""


def test_sandra_cannot_unshare_peters_share(env):
    p = env.mg("unshare", *env.as_("sandra", "sandra.schuster@abc.com"),
               "peter.mueller@abc.com", "jana.meier@abc.com")
    assert p.returncode == 1
    line = one_line(p)
    assert VACATION in line and "refused by the directory" in line


def test_sync_identity_is_read_only(env):
    # Without --as the configured identity writes: the sync's, which
    # the access rules keep read-only.
    p = env.mg("share", "--name", "by-sync", "peter.mueller@abc.com",
               "tom.berger@abc.com")
    assert p.returncode == 1
    line = one_line(p)
    assert "cn=by-sync," + PETER in line
    assert "refused by the directory" in line
    assert "(as cn=mailgrants-sync,%s)" % BASE in line


def test_wrong_password(env):
    p = env.mg("share", *env.as_("wrong", "sandra.schuster@abc.com"),
               "makler@abc.com", "jana.meier@abc.com")
    assert p.returncode == 2
    line = one_line(p)
    assert "bind as " + SANDRA in line
    assert "Invalid credentials" in line
    assert "not-sandras-pw" not in p.stderr + p.stdout


@pytest.mark.parametrize("owner", [
    "*", "peter.mueller@abc.com)(mail=*", "*)(objectClass=*",
    "peter.mueller@abc.com\\2a", "(mail=*)", "*@abc.com", "nobody@abc.com",
])
def test_injected_owner_matches_nothing(env, owner):
    p = env.mg("share", *env.as_("admin", ADMIN), owner, "tom.berger@abc.com")
    assert p.returncode == 1
    assert one_line(p).startswith(
        "mailgrants: share: no mailbox has the address ")
    p = env.mg("unshare", *env.as_("admin", ADMIN), owner,
               "tom.berger@abc.com")
    assert p.returncode == 1
    assert "no mailbox has the address" in one_line(p)


@pytest.mark.parametrize("grantee, message", [
    ("nobody@abc.com", "no mail user has the login or address"),
    ("*", "no mail user has the login or address"),
    ("tom.berger@abc.com)(|(uid*", "no mail user has the login or address"),
    ("*)(objectClass=*", "not a DN"),
    ("tom.berger@abc.com)(mail=*", "not a DN"),
    ("uid=nobody,ou=people," + ABC, "no such entry"),
    ("ou=people," + ABC, "neither a mail user nor a group"),
    ("uid=x,,,", "not a DN"),
])
def test_unknown_grantee(env, grantee, message):
    p = env.mg("share", *env.as_("peter", "peter.mueller@abc.com"),
               "peter.mueller@abc.com", grantee)
    assert p.returncode == 1, p.stderr
    assert message in one_line(p)


@pytest.mark.parametrize("grantee", ["anna.schmidt@xyz.org", ANNA,
                                     "lena.wagner@xyz.org"])
def test_cross_company_grantee_refused(env, grantee):
    """A user of another company would get nothing from the share
    (cross_company_shares = no): said so, nothing written."""
    p = env.mg("share", *env.as_("sandra", SANDRA), "sandra.schuster@abc.com",
               grantee)
    assert p.returncode == 1, p.stdout + p.stderr
    assert one_line(p) == (
        "mailgrants: share: %s is not of the company of "
        "sandra.schuster@abc.com (o=abc.com,dc=example,dc=org): the share "
        "would grant nothing (cross_company_shares = no)" % grantee)


def test_cross_company_shares_allowed(fresh):
    """With cross_company_shares = yes the share is written and Anna
    gets it; a group of another company is written either way (its
    members of the mailbox's company count), and by default gives
    Anna nothing."""
    env = fresh
    p = env.mg("share", *env.as_("sandra", SANDRA), "--name", "staff",
               "sandra.schuster@abc.com", STAFF)
    assert p.returncode == 0, p.stderr
    p = env.mg("sync", "--once")
    assert p.returncode == 0, p.stderr
    assert "cn=staff,%s: group grantee %s has members of other companies" % (
        SANDRA, STAFF) in p.stderr
    d = env.explain("anna.schmidt@xyz.org", "sandra.schuster@abc.com")
    assert (d["visible"], d["reason"]) == (False, "other_company"), d

    env.slapd.write_config(env.conf, replica=env.replica,
                           cross_company_shares=True)
    p = env.mg("share", *env.as_("sandra", SANDRA), "--name", "anna",
               "sandra.schuster@abc.com", "anna.schmidt@xyz.org")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "added cn=anna," + SANDRA
    d = env.explain("anna.schmidt@xyz.org", "sandra.schuster@abc.com")
    assert (d["kind"], d["visible"], d["may_send"]) == (
        "shared", True, False), d
    d = env.explain("max.wolf@xyz.org", "sandra.schuster@abc.com")
    assert (d["kind"], d["visible"]) == ("shared", True), d


def test_company_mailbox_is_not_shared(env):
    p = env.mg("share", *env.as_("admin", ADMIN), "info@abc.com",
               "tom.berger@abc.com")
    assert p.returncode == 1
    assert "company mailboxes are not shared one by one" in one_line(p)


@pytest.mark.parametrize("args, message", [
    (["--rights", "lrq"], "only the RFC 4314 letters"),
    (["--rights", "lrl"], "twice"),
    (["--rights", ""], "rights"),
    (["--rights", "LRS"], "only the RFC 4314 letters"),
    (["--rights", "lr s"], "only the RFC 4314 letters"),
    # c and d: RFC 2086, obsolete.
    (["--rights", "lrswipkxteacd"], "only the RFC 4314 letters"),
    (["--rights", "lr\n"], "only the RFC 4314 letters"),
    (["--description", "two\nlines"], "description: at most 1024 bytes"),
    (["--from", "2026-01-02", "--until", "2026-01-01"],
     "--until is before --from"),
    # Both ends count: the same second would be a share of one second.
    (["--from", "2040-07-01T10:00:00Z", "--until", "2040-07-01T10:00:00Z"],
     "--until is the same second as --from"),
    (["--from", "20400701100000Z", "--until", "2040-07-01T10:00:00Z"],
     "--until is the same second as --from"),
    (["--from", "2026-13-01"], "--from: expected"),
    (["--until", "tomorrow"], "--until: expected"),
    (["--name", "x" * 65], "name"),
    # The README's example date, past by now: refused, not written as a
    # share that never grants anything.
    (["--until", "2026-07-31"], "--until lies in the past"),
    (["--from", "2020-01-01", "--until", "2020-01-31"],
     "--until lies in the past"),
])
def test_bad_values(env, args, message):
    p = env.mg("share", *env.as_("peter", "peter.mueller@abc.com"), *args,
               "peter.mueller@abc.com", "tom.berger@abc.com")
    assert p.returncode == 1
    assert message in one_line(p)


@pytest.mark.parametrize("args", [
    ["share"],
    ["share", "peter.mueller@abc.com"],
    ["share", "a", "b", "c"],
    ["share", "--bogus", "a", "b"],
    ["unshare", "peter.mueller@abc.com"],
    ["unshare", "--rights", "lr", "a", "b"],
])
def test_usage(env, args):
    p = env.mg(*args)
    assert p.returncode == 1
    assert "usage:" in p.stderr


@pytest.mark.parametrize("args", [
    ["--help"], ["sync", "--help"], ["explain", "--help"],
    ["access", "--help"], ["who", "--help"], ["check", "--help"],
    ["share", "--help"], ["unshare", "--help"],
    ["share", "--as", "x", "--help"],
])
def test_help(build_dir, args):
    """Every command answers --help: the synopsis on stdout, exit 0,
    also without a readable configuration."""
    exe = os.path.join(build_dir, "mailgrants")
    p = subprocess.run([exe, "-c", "/nonexistent/mailgrants.conf"] + args,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("usage: ") and p.stderr == ""
    if args[0] in ("share", "unshare"):
        assert "unshare [--as login|dn]" in p.stdout


def test_password_needed(env):
    p = env.mg("share", "--as", "peter.mueller@abc.com",
               "peter.mueller@abc.com", "tom.berger@abc.com")
    assert p.returncode == 1
    assert "--password-file" in one_line(p)


def test_unreachable_directory(env, tmp_path):
    conf = env.slapd.write_config(str(tmp_path / "down.conf"),
                                  ldap_uri="ldap://127.0.0.1:1/",
                                  ldap_network_timeout=3)
    exe = os.path.join(env.build_dir, "mailgrants")
    p = subprocess.run([exe, "-c", conf, "share", *env.as_("admin", ADMIN),
                        "peter.mueller@abc.com", "tom.berger@abc.com"],
                       capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 2
    assert "cannot connect" in one_line(p)


# ------------------------------------- what owners and admins may do

def test_sandra_shares_her_second_mailbox(fresh):
    env = fresh
    p = env.mg("share", *env.as_("sandra", "sandra.schuster@abc.com"),
               "--rights", "lr", "makler@abc.com", "jana.meier@abc.com")
    assert p.returncode == 0, p.stderr
    new = [dn for dn in env.shares() if dn.endswith("," + MAKLER.lower())]
    assert len(new) == 1
    assert new[0].startswith("cn=share-jana.meier-")
    d = env.explain("jana.meier@abc.com", "makler@abc.com")
    assert d["visible"] and d["kind"] == "shared" and d["rights"] == "lr", d
    # Jana cannot take it back: it is Sandra's mailbox.
    p = env.mg("unshare", *env.as_("jana", "jana.meier@abc.com"),
               "makler@abc.com", "jana.meier@abc.com")
    assert p.returncode == 1
    assert "refused by the directory" in one_line(p)
    assert new[0] in env.shares()
    p = env.mg("unshare", *env.as_("sandra", SANDRA),
               "makler@abc.com", JANA)
    assert p.returncode == 0, p.stderr
    assert new[0] not in env.shares()


def test_admin_shares_and_unshares_any_mailbox(fresh):
    env = fresh
    # By a second address (UTF-8, other case), with a name that needs
    # escaping in a DN.
    name = 'a,b+c="d"\\e'
    p = env.mg("share", *env.as_("admin", ADMIN), "--name", name,
               "--until", "2036-06-30T12:00:00Z",
               "PETER.MÜLLER@abc.com", "cn=staff,ou=groups,o=xyz.org," + BASE)
    assert p.returncode == 0, p.stderr
    created = [(dn, a) for dn, a in env.shares().items()
               if a["cn"] == [name]]
    assert len(created) == 1
    dn, attrs = created[0]
    assert dn.endswith("," + PETER.lower())
    assert attrs["mailgrantsnotafter"] == ["20360630120000Z"]
    p = env.mg("share", *env.as_("admin", ADMIN), "buchhaltung@abc.com",
               "tom.berger@abc.com")
    assert p.returncode == 0, p.stderr
    assert "cn=buchhaltung@abc.com" in p.stdout
    p = env.mg("unshare", *env.as_("admin", ADMIN), "peter.mueller@abc.com",
               "cn=staff,ou=groups,o=xyz.org," + BASE)
    assert p.returncode == 0, p.stderr
    p = env.mg("unshare", *env.as_("admin", ADMIN), "buchhaltung@abc.com",
               "tom.berger@abc.com")
    assert p.returncode == 0, p.stderr
    p = env.mg("unshare", *env.as_("admin", ADMIN), "peter.mueller@abc.com",
               "jana.meier@abc.com")
    assert p.returncode == 0, p.stderr
    shares = env.shares()
    assert dn not in shares
    assert not any(d.endswith("cn=buchhaltung@abc.com,ou=mailboxes,"
                              + ABC.lower()) for d in shares)
    assert shares[VACATION.lower()]["mailgrantsgrantee"] == [SANDRA]
