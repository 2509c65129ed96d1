"""Security probes: tenant isolation and hidden shares in the directory.

slapd with the example directory (abc.com and xyz.org) and the shipped
access rules (ldap-schema/access.ldif), real binds of the example's
users. What is promised and checked here:

- A user of xyz.org reads nothing of abc.com (company, users and their
  aliases, private and company mailboxes, groups, shares), by subtree
  search from the suffix, by name, by filter on any attribute, by
  compare; and the other way round.
- A user reads their own company's entries: the users' names and
  addresses an address book needs, the company mailboxes; not others'
  private mailboxes, never a password.
- Nobody but a share's owner, its grantees (also through nested groups)
  and the mail admins can tell whether a share exists: every search
  (filters on objectClass, on the share's attributes, on
  hasSubordinates / numSubordinates, by name, below its mailbox) and
  every compare answers byte for byte the same with and without it.
- hasSubordinates is read by mail admins (and the sync) only.

Not promised (slapd's back-mdb answers these before it looks at access
rules; ldap-schema/access.ldif says so): the result code of an add,
modify or delete of a guessed share DN.
"""

import re

import pytest

from example import ABC, BASE, XYZ
from example import ANNA_DN as ANNA, JANA_DN as JANA, MAX_DN as MAX
from example import PETER_DN as PETER, SANDRA_DN as SANDRA, TOM_DN as TOM
from example import BUCHHALTUNG_DN as BUCHHALTUNG, INFO_DN as INFO
from example import MAKLER_DN as MAKLER, STAFF_DN as STAFF
from example import DN_PASSWORDS as PASSWORDS

SANDRA_PW, JANA_PW, PETER_PW = (PASSWORDS[SANDRA], PASSWORDS[JANA],
                                 PASSWORDS[PETER])
TOM_PW, ANNA_PW, MAX_PW = PASSWORDS[TOM], PASSWORDS[ANNA], PASSWORDS[MAX]
VACATION = "cn=vacation," + PETER
EXPIRED = "cn=2024," + PETER
DEVS = "cn=devs,ou=groups," + XYZ
NO_SUCH_OBJECT = 32


def bind(dn):
    return dict(binddn=dn, password=PASSWORDS[dn])


def dns(entries):
    return {dn.lower() for dn, _attrs in entries}


def share_ldif(dn, grantees):
    cn = re.match(r"cn=([^,]+),", dn).group(1)
    return "".join(["dn: %s\nobjectClass: mailgrantsShare\ncn: %s\n"
                    % (dn, cn)] +
                   ["mailgrantsGrantee: %s\n" % g for g in grantees] +
                   ["mailgrantsNotBefore: 20250101000000Z\n"
                    "mailgrantsNotAfter: 20351231235959Z\n"
                    "description: probe share\n"])


@pytest.fixture
def share(slapd):
    """Add shares as the rootdn for one test; they go afterwards."""
    added = []

    def add(dn, grantees):
        rc, out, err = slapd.ldapadd(share_ldif(dn, grantees), root=True)
        assert rc == 0, out + err
        added.append(dn)
        return dn
    yield add
    for dn in added:
        slapd.ldapdelete(dn, root=True)


def every_entry(slapd, base):
    rc, entries, err = slapd.search("-b", base, "(objectClass=*)", "*",
                                    root=True)
    assert rc == 0, err
    return entries


# ------------------------------------------------ the other tenant

@pytest.mark.parametrize("user, other", [(ANNA, ABC), (MAX, ABC),
                                         (SANDRA, XYZ), (PETER, XYZ)])
def test_other_company_reads_nothing(slapd, share, user, other):
    # A share in the other company too, granted to one of its users.
    if other == ABC:
        share("cn=probe," + JANA, [PETER])
    else:
        share("cn=probe," + MAX, [STAFF])
    me = bind(user)
    theirs = every_entry(slapd, other)
    assert len(theirs) >= 10
    kinds = {c.lower() for _dn, a in theirs for c in a["objectclass"]}
    assert {"mailgrantscompany", "mailgrantsuser", "mailgrantsmailbox",
            "mailgrantsshare"} <= kinds

    # Subtree from the suffix, every attribute, operational ones too.
    rc, entries, err = slapd.search("(objectClass=*)", "*", "+", **me)
    assert rc == 0, err
    assert entries, "a user reads their own company"
    assert not [dn for dn, _a in entries if dn.lower().endswith(
        other.lower())]
    # By filter on what the other company's entries hold.
    for flt in ["(mail=*@%s)" % other[2:other.index(",")],
                "(mailgrantsDomain=%s)" % other[2:other.index(",")],
                "(mailgrantsAddress=*)", "(mailgrantsKind=*)",
                "(objectClass=mailgrantsShare)", "(mailgrantsGrantee=*)",
                "(member=*)", "(hasSubordinates=TRUE)",
                "(entryDN:dnSubtreeMatch:=%s)" % other]:
        rc, entries, err = slapd.search("-b", other, flt, "1.1", **me)
        assert rc == NO_SUCH_OBJECT and entries == [], (flt, rc, entries)
        rc, entries, err = slapd.search(flt, "1.1", **me)
        assert rc == 0, err
        assert not [dn for dn, _a in entries
                    if dn.lower().endswith(other.lower())], flt
    # By name, every entry, and by compare.
    for dn, attrs in theirs:
        rc, entries, err = slapd.search("-b", dn, "-s", "base", "*", "+",
                                        **me)
        assert rc == NO_SUCH_OBJECT and entries == [], dn
        name, value = dn.split(",")[0].split("=", 1)
        rc, out, err = slapd.ldap_tool("ldapcompare", dn,
                                       "%s:%s" % (name, value), **me)
        assert rc == NO_SUCH_OBJECT, (dn, out, err)
        assert "Matched DN" not in out + err


# ------------------------------------------------ one's own company

def test_address_book_of_ones_own_company(slapd):
    for base in (ABC, BASE):
        rc, entries, err = slapd.search(
            "-b", base, "(objectClass=mailgrantsUser)", "cn", "mail",
            "givenName", "sn", "mailgrantsAddress", "userPassword",
            binddn=SANDRA, password=SANDRA_PW)
        assert rc == 0, err
        got = {dn.lower(): a for dn, a in entries}
        assert set(got) == {d.lower() for d in (SANDRA, JANA, PETER, TOM)}
        peter = got[PETER.lower()]
        assert peter["mail"] == ["peter.mueller@abc.com"]
        assert peter["mailgrantsaddress"] == ["peter.müller@abc.com"]
        assert peter["sn"] == ["Müller"]
        assert all("userpassword" not in a for a in got.values())
    # Company mailboxes (entries, not grants: vertrieb@ is for another
    # group) and her own private one, not Jana's.
    rc, entries, err = slapd.search("(objectClass=mailgrantsMailbox)", "1.1",
                                    binddn=SANDRA, password=SANDRA_PW)
    assert rc == 0, err
    assert dns(entries) == {INFO.lower(), MAKLER.lower(),
                            ("cn=vertrieb@abc.com,ou=mailboxes," + ABC)
                            .lower()}
    rc, entries, err = slapd.search("-b", BUCHHALTUNG, "-s", "base",
                                    binddn=SANDRA, password=SANDRA_PW)
    assert rc == NO_SUCH_OBJECT and entries == []


def test_has_subordinates_for_admins_only(slapd):
    for user in (SANDRA, TOM, PETER, ANNA):
        for attrs in (("+",), ("hasSubordinates", "numSubordinates")):
            rc, entries, err = slapd.search(
                "-b", PETER, "-s", "base", *attrs, **bind(user))
            if user == ANNA:
                assert rc == NO_SUCH_OBJECT and entries == []
                continue
            assert rc == 0, err
            assert "hassubordinates" not in entries[0][1], user
            assert "numsubordinates" not in entries[0][1], user
    admin = dict(binddn=slapd.admin_dn, password=slapd.admin_pw)
    rc, entries, err = slapd.search("-b", PETER, "-s", "base",
                                    "hasSubordinates", **admin)
    assert rc == 0, err
    assert entries[0][1]["hassubordinates"] == ["TRUE"]


# ------------------------------------------------ shares

def test_owner_and_grantees_see_the_share(slapd, share):
    def visible(user, base=BASE):
        rc, entries, err = slapd.search(
            "-b", base, "(objectClass=mailgrantsShare)",
            "mailgrantsGrantee", "mailgrantsNotAfter", **bind(user))
        assert rc in (0, NO_SUCH_OBJECT), err
        return entries
    # Peter's cn=vacation: Sandra and Jana; cn=2024: Tom; Peter both.
    assert dns(visible(PETER)) == {VACATION.lower(), EXPIRED.lower()}
    for user in (SANDRA, JANA):
        got = visible(user)
        assert dns(got) == {VACATION.lower()}, user
        assert sorted(got[0][1]["mailgrantsgrantee"]) == sorted(
            [SANDRA, JANA])
        assert got[0][1]["mailgrantsnotafter"] == ["20351231235959Z"]
    assert dns(visible(TOM)) == {EXPIRED.lower()}
    # A share below a private mailbox: its owner and the grantee.
    below_makler = share("cn=probe," + MAKLER, [TOM])
    assert below_makler.lower() in dns(visible(SANDRA))
    assert below_makler.lower() in dns(visible(TOM))
    assert below_makler.lower() not in dns(visible(JANA))
    # Granted to a group: its members, nested ones too (cn=devs holds
    # Max and cn=staff, which holds Anna and cn=devs again: a cycle).
    to_group = share("cn=probe," + MAX, [DEVS])
    for user in (MAX, ANNA):
        assert to_group.lower() in dns(visible(user, XYZ)), user
    for user in (SANDRA, PETER):
        assert to_group.lower() not in dns(visible(user)), user


PROBE_FILTERS = [
    "(objectClass=*)", "(objectClass=mailgrantsShare)",
    "(!(objectClass=mailgrantsShare))", "(mailgrantsGrantee=*)",
    "(mailgrantsGrantee={grantee})", "(cn=probe)", "(cn=prob*)",
    "(description=*)", "(mailgrantsNotAfter>=20000101000000Z)",
    "(hasSubordinates=TRUE)", "(hasSubordinates=FALSE)",
    "(!(hasSubordinates=TRUE))", "(!(hasSubordinates=FALSE))",
    "(|(hasSubordinates=TRUE)(uid=*))", "(numSubordinates>=1)",
    "(entryDN:dnSubtreeMatch:={parent})", "(entryDN={share})",
]


def unordered(ldif):
    """ldapsearch's output with its records in a fixed order. The order
    slapd sends entries in is left out on purpose: back-mdb walks the
    tree when the base has fewer entries below it (hidden ones
    included) than the filter has candidates, and sends them in entry
    id order otherwise, so the order can change with the number of
    entries below the base; what is sent cannot."""
    return sorted(ldif.split("\n\n"))


def view(slapd, user, parent, share_dn, grantee):
    """Everything user can learn about the place of share_dn by search
    and compare, as the replies (result codes, matched DNs and
    entries)."""
    out = []
    nearby = [share_dn, "cn=other," + parent, "cn=x," + share_dn]
    runs = []
    for flt in PROBE_FILTERS:
        flt = flt.format(grantee=grantee, parent=parent, share=share_dn)
        runs += [(BASE, "sub", flt), (parent, "one", flt),
                 (parent, "base", flt)]
    for dn in nearby:
        runs += [(dn, scope, "(objectClass=*)")
                 for scope in ("base", "one", "sub")]
    for base, scope, flt in runs:
        rc, text, err = slapd.ldap_tool(
            "ldapsearch", "-o", "ldif-wrap=no", "-b", base, "-s", scope,
            flt, "*", "+", "hasSubordinates", "numSubordinates",
            **bind(user))
        out.append((base, scope, flt, rc, unordered(text), err))
    for dn in nearby:
        for ava in ("cn:probe", "objectClass:mailgrantsShare",
                    "mailgrantsGrantee:" + grantee):
            rc, text, err = slapd.ldap_tool("ldapcompare", dn, ava,
                                            **bind(user))
            out.append((dn, ava, rc, text, err))
    return out


@pytest.mark.parametrize("parent, grantee, observer", [
    # Jana's mailbox, shared with Peter: what Tom, Sandra (same
    # company) and Anna (other company) see.
    (JANA, PETER, TOM), (JANA, PETER, SANDRA), (JANA, PETER, ANNA),
    # Sandra's private mailbox makler@, shared with Tom: Jana, Peter.
    (MAKLER, TOM, JANA), (MAKLER, TOM, PETER),
    # Max's mailbox, shared with the group cn=staff: Sandra.
    (MAX, STAFF, SANDRA),
])
def test_nobody_else_learns_that_a_share_exists(slapd, share, parent,
                                                grantee, observer):
    dn = "cn=probe," + parent
    without = view(slapd, observer, parent, dn, grantee)
    share(dn, [grantee])
    with_share = view(slapd, observer, parent, dn, grantee)
    for a, b in zip(without, with_share):
        assert a == b, "differs with the share:\n%s\n%s" % (a, b)
    assert len(without) == len(with_share)
    # The probes are real: the owner and the grantee do see it.
    for user in (grantee, parent if parent != MAKLER else SANDRA):
        if user == STAFF:
            user = ANNA
        rc, entries, err = slapd.search("-b", dn, "-s", "base", "1.1",
                                        **bind(user))
        assert rc == 0 and dns(entries) == {dn.lower()}, (user, err)
