"""The directory: schema, example, access rules - against a real slapd.

(a) ldap-schema/mailgrants.ldif loads into a running slapd's cn=config
    through ldapi:// and SASL EXTERNAL, and the example then loads;
(b) mailgrants.schema and mailgrants.ldif define the same things, the
    ones ldap-schema/README.md lists;
(c) ldap-schema/access.ldif, with real binds of the example's users.
"""

import os
import re

import pytest

from example import ABC, BASE, EXAMPLE_USERS, MAILBOXES
from example import ANNA_DN as ANNA, JANA_DN as JANA, PETER_DN as PETER
from example import SANDRA_DN as SANDRA, TOM_DN as TOM
from example import BUCHHALTUNG_DN as BUCHHALTUNG, INFO_DN as INFO
from example import MAKLER_DN as MAKLER
from example import DN_PASSWORDS as PASSWORDS
from slapd import (ACCESS_LDIF, EXAMPLE_LDIF, MAILGRANTS_LDIF, SCHEMA_DIR,
                   Slapd, parse_ldif)

ARC = "2.25.104972486955127748283858604674578257210"
SANDRA_PW, JANA_PW, PETER_PW = (PASSWORDS[SANDRA], PASSWORDS[JANA],
                                 PASSWORDS[PETER])
TOM_PW, ANNA_PW = PASSWORDS[TOM], PASSWORDS[ANNA]
VACATION = "cn=vacation," + PETER

INSUFFICIENT_ACCESS = 50
NO_SUCH_OBJECT = 32
INVALID_CREDENTIALS = 49


def share_ldif(dn, grantees, extra=""):
    cn = re.match(r"cn=([^,]+),", dn).group(1)
    lines = ["dn: " + dn, "objectClass: mailgrantsShare", "cn: " + cn]
    lines += ["mailgrantsGrantee: " + g for g in grantees]
    return "\n".join(lines) + "\n" + extra


def mailbox_ldif(dn, kind, owner=None):
    addr = re.match(r"cn=([^,]+),", dn).group(1)
    text = ("dn: %s\nobjectClass: mailgrantsMailbox\ncn: %s\n"
            "mailgrantsKind: %s\nmail: %s\n" % (dn, addr, kind, addr))
    if owner:
        text += "mailgrantsOwner: %s\n" % owner
    return text


def exists(ldap, dn):
    rc, entries, err = ldap.search("-b", dn, "-s", "base", "1.1", root=True)
    if rc == NO_SUCH_OBJECT:
        return False
    assert rc == 0, err
    return len(entries) == 1


def dns(entries):
    return {dn.lower() for dn, _ in entries}


# ------------------------------------------------------------ (a) loading

def test_schema_loads_over_ldapi_external_then_example():
    with Slapd(ldif=None, schema=False) as ldap:
        # Without our schema the example cannot be added.
        with open(EXAMPLE_LDIF, encoding="utf-8") as f:
            example = f.read()
        rc, _out, _err = ldap.ldapadd(example, root=True)
        assert rc != 0
        assert not exists(ldap, "o=abc.com," + BASE)
        # ldapadd stopped at the first company; remove what it added.
        ldap.ldapdelete("-r", BASE, root=True)
        assert not exists(ldap, BASE)

        with open(MAILGRANTS_LDIF, encoding="utf-8") as f:
            rc, out, err = ldap.ldapadd(f.read(), external=True)
        assert rc == 0, out + err
        assert "cn=mailgrants,cn=schema,cn=config" in out

        rc, entries, err = ldap.search(
            "-b", "cn=schema,cn=config", "(cn=*mailgrants)",
            "olcAttributeTypes", "olcObjectClasses", external=True)
        assert rc == 0, err
        assert len(entries) == 1
        _dn, attrs = entries[0]
        assert len(attrs["olcattributetypes"]) == 11
        assert len(attrs["olcobjectclasses"]) == 4

        # The example loads now, over the protocol, as the rootdn.
        rc, out, err = ldap.ldapadd(example, root=True)
        assert rc == 0, out + err
        rc, entries, err = ldap.search("(objectClass=mailgrantsShare)",
                                       "1.1", root=True)
        assert rc == 0, err
        assert dns(entries) == {VACATION.lower(),
                                ("cn=2024," + PETER).lower()}
        # The server itself publishes the definitions.
        rc, entries, err = ldap.search(
            "-b", "cn=subschema", "-s", "base", "(objectClass=*)",
            "attributeTypes", "objectClasses", root=True)
        assert rc == 0, err
        published = " ".join(entries[0][1]["attributetypes"] +
                             entries[0][1]["objectclasses"])
        for n in range(1, 12):
            assert "%s.1.%d " % (ARC, n) in published
        for n in range(1, 5):
            assert "%s.2.%d " % (ARC, n) in published


def test_upgrade_of_a_loaded_schema_as_the_readme_says():
    """The schema of before send on behalf and sent copies, loaded and
    in use, upgraded with ldap-schema/README.md's modify: then it is the
    file's, a share takes mailgrantsSendOnBehalf and a mailbox
    mailgrantsSentCopies."""
    with open(MAILGRANTS_LDIF, encoding="utf-8") as f:
        current = re.sub(r"\n ", "", f.read())
    old = "\n".join(line for line in current.split("\n")
                    if ".1.10 NAME" not in line and
                    ".1.11 NAME" not in line)
    old = old.replace(" $ mailgrantsSendOnBehalf", "")
    old = old.replace(" $ mailgrantsSentCopies", "")
    assert old != current and "SendOnBehalf" not in old
    assert "SentCopies" not in old
    with open(os.path.join(SCHEMA_DIR, "README.md"),
              encoding="utf-8") as f:
        readme = f.read()
    block = re.search(r"## Upgrading a loaded schema.*?```\n(.*?)```",
                      readme, re.S).group(1)
    with Slapd(ldif=None, schema=False) as ldap:
        rc, out, err = ldap.ldapadd(old, external=True)
        assert rc == 0, out + err
        with open(EXAMPLE_LDIF, encoding="utf-8") as f:
            rc, out, err = ldap.ldapadd(f.read(), root=True)
        assert rc == 0, out + err
        rc, entries, err = ldap.search(
            "-b", "cn=schema,cn=config", "(cn=*mailgrants)", "1.1",
            external=True)
        assert rc == 0 and len(entries) == 1, err
        dn = entries[0][0]
        rc, out, err = ldap.ldapmodify(
            block.replace("cn={N}mailgrants,cn=schema,cn=config", dn),
            external=True)
        assert rc == 0, out + err
        rc, entries, err = ldap.search(
            "-b", dn, "-s", "base", "(objectClass=*)", "olcAttributeTypes",
            "olcObjectClasses", external=True)
        assert rc == 0, err
        got, want = entries[0][1], {}
        for line in current.split("\n"):
            name, _, value = line.partition(": ")
            if name in ("olcAttributeTypes", "olcObjectClasses"):
                want.setdefault(name.lower(), []).append(value)
        for kind in want:
            assert [" ".join(v.split()) for v in got[kind]] == \
                [" ".join(v.split()) for v in want[kind]], kind
        rc, out, err = ldap.ldapmodify(
            "dn: %s\nchangetype: modify\nadd: mailgrantsSendOnBehalf\n"
            "mailgrantsSendOnBehalf: TRUE\n" % VACATION, root=True)
        assert rc == 0, out + err
        rc, out, err = ldap.ldapmodify(
            "dn: %s\nchangetype: modify\nadd: mailgrantsSentCopies\n"
            "mailgrantsSentCopies: TRUE\n" % INFO, root=True)
        assert rc == 0, out + err


# ------------------------------------------------- (b) schema consistency

def _parse_definitions(texts, macros=None):
    """Definitions "( OID NAME 'x' ... )" -> {oid: (name, normalised)}."""
    macros = dict(macros or {})
    out = {}
    for kind, text in texts:
        def expand(m):
            return "%s.%s" % (macros[m.group(1)], m.group(2))
        text = re.sub(r"\b([A-Za-z][\w-]*):(\d+)\b", expand, text)
        text = " ".join(text.split())
        m = re.match(r"^\(\s*([\d.]+)\s+NAME\s+'([^']+)'", text)
        assert m, text
        out[(kind, m.group(1))] = (m.group(2), text)
    return out


def parse_schema_file(path):
    with open(path, encoding="utf-8") as f:
        body = "".join(line for line in f if not line.startswith("#"))
    macros = {}
    texts = []
    stmts = re.findall(r"(?ms)^(objectIdentifier|attributetype|objectclass)"
                       r"\s+(.*?)(?=^\S|\Z)", body)
    for keyword, rest in stmts:
        if keyword == "objectIdentifier":
            name, value = rest.split()
            if ":" in value:
                pre, num = value.split(":")
                value = "%s.%s" % (macros[pre], num)
            macros[name] = value
        else:
            kind = "at" if keyword == "attributetype" else "oc"
            texts.append((kind, rest))
    return _parse_definitions(texts, macros), macros


def parse_ldif_file(path):
    with open(path, encoding="utf-8") as f:
        entries = parse_ldif(f.read())
    assert len(entries) == 1
    dn, attrs = entries[0]
    assert dn == "cn=mailgrants,cn=schema,cn=config"
    assert attrs["objectclass"] == ["olcSchemaConfig"]
    texts = []
    for attr, kind in (("olcattributetypes", "at"),
                       ("olcobjectclasses", "oc")):
        for v in attrs[attr]:
            texts.append((kind, re.sub(r"^\{\d+\}", "", v)))
    return _parse_definitions(texts)


def test_schema_and_ldif_define_the_same():
    schema, macros = parse_schema_file(
        os.path.join(SCHEMA_DIR, "mailgrants.schema"))
    ldif = parse_ldif_file(MAILGRANTS_LDIF)
    assert macros["mailgrantsRoot"] == ARC
    assert set(schema) == set(ldif)
    for key in schema:
        assert schema[key] == ldif[key], key


def test_schema_matches_readme():
    with open(os.path.join(SCHEMA_DIR, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    rows = re.findall(r"^\| \.([12])\.(\d+) \| `(\w+)` \|(.*)$", readme,
                      re.M)
    expected = {}
    for arc, num, name, rest in rows:
        kind = "at" if arc == "1" else "oc"
        expected[(kind, "%s.%s.%s" % (ARC, arc, num))] = (name, rest)
    assert len(expected) == 15
    schema, _ = parse_schema_file(
        os.path.join(SCHEMA_DIR, "mailgrants.schema"))
    assert set(schema) == set(expected)
    syntax = {"Directory String": "1.3.6.1.4.1.1466.115.121.1.15",
              "DN": "1.3.6.1.4.1.1466.115.121.1.12",
              "IA5 String": "1.3.6.1.4.1.1466.115.121.1.26",
              "Generalized Time": "1.3.6.1.4.1.1466.115.121.1.24",
              "Boolean": "1.3.6.1.4.1.1466.115.121.1.7"}
    for key, (name, rest) in expected.items():
        got_name, text = schema[key]
        assert got_name == name
        assert "DESC '" in text
        if key[0] == "at":
            cells = [c.strip() for c in rest.split("|")]
            m = re.match(r"([A-Za-z0-9 ]+?)(\{\d+\})?(,|$)", cells[0])
            oid = syntax[m.group(1)]
            assert ("SYNTAX %s%s " % (oid, m.group(2) or "")) in text, text
            assert "EQUALITY " in text
            assert ("SINGLE-VALUE" in text) == ("single" in cells[0])
        else:
            cells = [c.strip() for c in rest.split("|")]
            kind = cells[0].split()[0]
            assert " %s " % kind in text
            for slot, word in ((1, "MUST"), (2, "MAY")):
                attrs = cells[slot].strip("`").split(" $ ")
                got = re.search(r"%s \(? ?([\w $]+?) ?\)?(?: MAY| \)$)"
                                % word, text)
                assert got, text
                assert got.group(1).split(" $ ") == attrs


# ------------------------------------------------------ (c) access rules

def test_users_bind_with_their_passwords(slapd):
    for login, (dn, pw) in EXAMPLE_USERS.items():
        rc, out, err = slapd.ldapwhoami(binddn=dn, password=pw)
        assert rc == 0, (login, err)
        assert out.strip() == "dn:" + dn
        rc, _out, _err = slapd.ldapwhoami(binddn=dn, password=pw + "x")
        assert rc == INVALID_CREDENTIALS
    for dn, pw in ((slapd.admin_dn, "admin-pw"), (slapd.sync_dn, "sync-pw")):
        rc, out, err = slapd.ldapwhoami(binddn=dn, password=pw)
        assert rc == 0, err
        assert out.strip() == "dn:" + dn


def test_dovecot_auth_bind_lookup(slapd):
    # What Dovecot's passdb does with auth_bind = yes: find the DN by the
    # login with its dn/dnpass identity, then bind as that DN.
    sync = dict(binddn=slapd.sync_dn, password=slapd.sync_pw)
    for login, (dn, pw) in EXAMPLE_USERS.items():
        flt = "(&(objectClass=mailgrantsUser)(mail=%s))" % login
        rc, entries, err = slapd.search(flt, "mail", **sync)
        assert rc == 0, err
        assert [e[0] for e in entries] == [dn]
        assert entries[0][1]["mail"] == [login]
        rc, out, err = slapd.ldapwhoami(binddn=entries[0][0], password=pw)
        assert rc == 0, err
        # Anonymous clients cannot look logins up.
        rc, entries, _err = slapd.search(flt, "mail")
        assert entries == []


def test_user_changes_own_password_only(slapd):
    try:
        rc, out, err = slapd.ldapmodify(
            "dn: %s\nchangetype: modify\nreplace: userPassword\n"
            "userPassword: tom-new\n" % TOM, binddn=TOM, password=TOM_PW)
        assert rc == 0, out + err
        assert slapd.ldapwhoami(binddn=TOM, password="tom-new")[0] == 0
        assert slapd.ldapwhoami(binddn=TOM,
                                password=TOM_PW)[0] == INVALID_CREDENTIALS
        rc, _out, _err = slapd.ldapmodify(
            "dn: %s\nchangetype: modify\nreplace: userPassword\n"
            "userPassword: stolen\n" % TOM, binddn=SANDRA,
            password=SANDRA_PW)
        assert rc == INSUFFICIENT_ACCESS
        assert slapd.ldapwhoami(binddn=TOM, password="stolen")[0] != 0
        # The password modify extended operation (ldappasswd) works too.
        rc, out, err = slapd.ldap_tool("ldappasswd", "-s", "tom-newer",
                                       binddn=TOM, password="tom-new")
        assert rc == 0, out + err
        assert slapd.ldapwhoami(binddn=TOM, password="tom-newer")[0] == 0
        # Users do not read their password back.
        rc, entries, err = slapd.search("-b", TOM, "-s", "base", "*",
                                        "userPassword", binddn=TOM,
                                        password="tom-newer")
        assert rc == 0, err
        assert "userpassword" not in entries[0][1]
        assert entries[0][1]["mail"] == ["tom.berger@abc.com"]
    finally:
        slapd.ldapmodify("dn: %s\nchangetype: modify\nreplace: userPassword"
                         "\nuserPassword: %s\n" % (TOM, TOM_PW), root=True)
    assert slapd.ldapwhoami(binddn=TOM, password=TOM_PW)[0] == 0


def test_owner_manages_shares_below_own_entry(slapd):
    dn = "cn=acl-test," + PETER
    rc, out, err = slapd.ldapadd(share_ldif(dn, [TOM]), binddn=PETER,
                                 password=PETER_PW)
    assert rc == 0, out + err
    assert exists(slapd, dn)
    rc, out, err = slapd.ldapmodify(
        "dn: %s\nchangetype: modify\nreplace: mailgrantsNotAfter\n"
        "mailgrantsNotAfter: 20301231235959Z\n-\nadd: mailgrantsGrantee\n"
        "mailgrantsGrantee: %s\n" % (dn, JANA), binddn=PETER,
        password=PETER_PW)
    assert rc == 0, out + err
    rc, entries, err = slapd.search("-b", dn, "-s", "base",
                                    binddn=PETER, password=PETER_PW)
    assert rc == 0, err
    assert entries[0][1]["mailgrantsnotafter"] == ["20301231235959Z"]
    rc, out, err = slapd.ldapdelete(dn, binddn=PETER, password=PETER_PW)
    assert rc == 0, out + err
    assert not exists(slapd, dn)


def test_owner_manages_shares_below_owned_mailbox(slapd):
    box = "cn=peter-extra@abc.com," + MAILBOXES
    rc, out, err = slapd.ldapadd(mailbox_ldif(box, "private", PETER),
                                 root=True)
    assert rc == 0, out + err
    try:
        share = "cn=team," + box
        rc, out, err = slapd.ldapadd(share_ldif(share, [SANDRA]),
                                     binddn=PETER, password=PETER_PW)
        assert rc == 0, out + err
        assert exists(slapd, share)
        # Sandra, not the owner, can neither add nor delete there.
        rc, _out, _err = slapd.ldapadd(share_ldif("cn=mine," + box, [SANDRA]),
                                       binddn=SANDRA, password=SANDRA_PW)
        assert rc == INSUFFICIENT_ACCESS
        assert not exists(slapd, "cn=mine," + box)
        rc, _out, _err = slapd.ldapdelete(share, binddn=SANDRA,
                                          password=SANDRA_PW)
        assert rc in (INSUFFICIENT_ACCESS, NO_SUCH_OBJECT)
        assert exists(slapd, share)
        rc, out, err = slapd.ldapdelete(share, binddn=PETER,
                                        password=PETER_PW)
        assert rc == 0, out + err
        assert not exists(slapd, share)
        # The owner reads his mailbox but cannot give it away or delete it.
        rc, entries, err = slapd.search("-b", box, "-s", "base",
                                        binddn=PETER, password=PETER_PW)
        assert rc == 0, err
        assert entries[0][1]["mailgrantsowner"] == [PETER]
        for attr, value in (("mailgrantsOwner", SANDRA),
                            ("mailgrantsKind", "company")):
            rc, _out, _err = slapd.ldapmodify(
                "dn: %s\nchangetype: modify\nreplace: %s\n%s: %s\n"
                % (box, attr, attr, value), binddn=PETER, password=PETER_PW)
            assert rc == INSUFFICIENT_ACCESS, attr
        rc, _out, _err = slapd.ldapdelete(box, binddn=PETER,
                                          password=PETER_PW)
        assert rc == INSUFFICIENT_ACCESS
        assert exists(slapd, box)
    finally:
        slapd.ldapdelete("cn=team," + box, root=True)
        slapd.ldapdelete("cn=mine," + box, root=True)
        slapd.ldapdelete(box, root=True)


def test_no_shares_below_other_peoples_mailboxes(slapd):
    for parent in (PETER, BUCHHALTUNG, INFO, JANA):
        dn = "cn=sandra-was-here," + parent
        rc, _out, _err = slapd.ldapadd(share_ldif(dn, [SANDRA]),
                                       binddn=SANDRA, password=SANDRA_PW)
        assert rc == INSUFFICIENT_ACCESS, parent
        assert not exists(slapd, dn)
    # Her own mailboxes are fine.
    for parent in (SANDRA, MAKLER):
        dn = "cn=sandra-ok," + parent
        rc, out, err = slapd.ldapadd(share_ldif(dn, [JANA]), binddn=SANDRA,
                                     password=SANDRA_PW)
        assert rc == 0, out + err
        rc, out, err = slapd.ldapdelete(dn, binddn=SANDRA,
                                        password=SANDRA_PW)
        assert rc == 0, out + err
        assert not exists(slapd, dn)


def test_no_other_entries_below_own_mailboxes(slapd):
    attempts = [
        "dn: ou=stuff,%s\nobjectClass: organizationalUnit\nou: stuff\n"
        % SANDRA,
        mailbox_ldif("cn=extra@abc.com," + SANDRA, "private", SANDRA),
        "dn: uid=fake,%s\nobjectClass: inetOrgPerson\nobjectClass: "
        "mailgrantsUser\nuid: fake\ncn: Fake\nsn: Fake\nmail: fake@abc.com\n"
        % MAKLER,
    ]
    for ldif in attempts:
        rc, _out, _err = slapd.ldapadd(ldif, binddn=SANDRA,
                                       password=SANDRA_PW)
        assert rc == INSUFFICIENT_ACCESS, ldif
        assert not exists(slapd, ldif.split("\n")[0][4:])


def test_shares_carry_nothing_but_share_attributes(slapd):
    # A share is no back door to a new mail account or address.
    sandra = dict(binddn=SANDRA, password=SANDRA_PW)
    disguised = [
        share_ldif("cn=fake1," + SANDRA, [SANDRA],
                   "objectClass: mailgrantsUser\nmail: ceo@abc.com\n"
                   "objectClass: simpleSecurityObject\n"
                   "userPassword: fake-pw\n"),
        share_ldif("cn=fake2," + SANDRA, [SANDRA],
                   "objectClass: extensibleObject\nuserPassword: fake-pw\n"),
        share_ldif("cn=fake3," + MAKLER, [SANDRA],
                   "objectClass: extensibleObject\n"
                   "mailgrantsAddress: ceo@abc.com\n"),
    ]
    for ldif in disguised:
        rc, _out, _err = slapd.ldapadd(ldif, **sandra)
        assert rc == INSUFFICIENT_ACCESS, ldif
        assert not exists(slapd, ldif.split("\n")[0][4:])
    dn = "cn=plain," + SANDRA
    rc, out, err = slapd.ldapadd(share_ldif(dn, [JANA]), **sandra)
    assert rc == 0, out + err
    try:
        rc, _out, _err = slapd.ldapmodify(
            "dn: %s\nchangetype: modify\nadd: objectClass\n"
            "objectClass: extensibleObject\n-\nadd: mail\n"
            "mail: ceo@abc.com\n" % dn, **sandra)
        assert rc == INSUFFICIENT_ACCESS
        rc, entries, err = slapd.search("-b", dn, "-s", "base", root=True)
        assert rc == 0, err
        assert "mail" not in entries[0][1]
    finally:
        slapd.ldapdelete(dn, root=True)


def test_only_admins_manage_mailboxes(slapd):
    sales = "cn=sales@abc.com," + MAILBOXES
    # A user cannot create a company mailbox, nor a private one for
    # herself, nor change or delete an existing mailbox.
    for ldif in (mailbox_ldif(sales, "company"),
                 mailbox_ldif("cn=sandra2@abc.com," + MAILBOXES, "private",
                              SANDRA)):
        rc, _out, _err = slapd.ldapadd(ldif, binddn=SANDRA,
                                       password=SANDRA_PW)
        assert rc == INSUFFICIENT_ACCESS
    assert not exists(slapd, sales)
    for attr, value in (("mailgrantsOwner", PETER),
                        ("mailgrantsKind", "company"),
                        ("mailgrantsAddress", "boss@abc.com")):
        rc, _out, _err = slapd.ldapmodify(
            "dn: %s\nchangetype: modify\nreplace: %s\n%s: %s\n"
            % (MAKLER, attr, attr, value), binddn=SANDRA, password=SANDRA_PW)
        assert rc == INSUFFICIENT_ACCESS, attr
    rc, entries, err = slapd.search("-b", MAKLER, "-s", "base", root=True)
    assert rc == 0, err
    assert entries[0][1]["mailgrantsowner"] == [SANDRA]
    assert entries[0][1]["mailgrantskind"] == ["private"]
    assert "mailgrantsaddress" not in entries[0][1]
    rc, _out, _err = slapd.ldapdelete(INFO, binddn=SANDRA,
                                      password=SANDRA_PW)
    assert rc == INSUFFICIENT_ACCESS
    assert exists(slapd, INFO)
    # Nor can she change her own addresses (an address is a grant).
    rc, _out, _err = slapd.ldapmodify(
        "dn: %s\nchangetype: modify\nadd: mailgrantsAddress\n"
        "mailgrantsAddress: info@abc.com\n" % SANDRA, binddn=SANDRA,
        password=SANDRA_PW)
    assert rc == INSUFFICIENT_ACCESS

    admin = dict(binddn=slapd.admin_dn, password=slapd.admin_pw)
    try:
        rc, out, err = slapd.ldapadd(mailbox_ldif(sales, "company"), **admin)
        assert rc == 0, out + err
        assert exists(slapd, sales)
        rc, out, err = slapd.ldapmodify(
            "dn: %s\nchangetype: modify\nreplace: mailgrantsKind\n"
            "mailgrantsKind: private\n-\nadd: mailgrantsOwner\n"
            "mailgrantsOwner: %s\n" % (sales, TOM), **admin)
        assert rc == 0, out + err
        # Admins manage shares anywhere.
        share = "cn=by-admin," + PETER
        rc, out, err = slapd.ldapadd(share_ldif(share, [TOM]), **admin)
        assert rc == 0, out + err
        rc, out, err = slapd.ldapdelete(share, **admin)
        assert rc == 0, out + err
        rc, out, err = slapd.ldapdelete(sales, **admin)
        assert rc == 0, out + err
        assert not exists(slapd, sales)
        # But they create nothing but mailboxes and shares, and do not
        # read passwords.
        rc, _out, _err = slapd.ldapadd(
            "dn: ou=x,%s\nobjectClass: organizationalUnit\nou: x\n" % ABC,
            **admin)
        assert rc == INSUFFICIENT_ACCESS
        rc, entries, err = slapd.search("-b", SANDRA, "-s", "base",
                                        "userPassword", "mail", **admin)
        assert rc == 0, err
        assert "userpassword" not in entries[0][1]
        assert entries[0][1]["mail"] == ["sandra.schuster@abc.com"]
    finally:
        slapd.ldapdelete("cn=by-admin," + PETER, root=True)
        slapd.ldapdelete(sales, root=True)


def test_users_do_not_see_others_shares(slapd):
    jana_share = "cn=sandra-must-not-see," + BUCHHALTUNG
    rc, out, err = slapd.ldapadd(share_ldif(jana_share, [PETER]), root=True)
    assert rc == 0, out + err
    try:
        rc, entries, err = slapd.search("(objectClass=mailgrantsShare)",
                                        "1.1", root=True)
        assert rc == 0, err
        assert len(entries) == 3
        sandra = dict(binddn=SANDRA, password=SANDRA_PW)
        # Only the one she is a grantee of (Peter's cn=vacation), by
        # filter and by name.
        rc, entries, err = slapd.search("(objectClass=mailgrantsShare)",
                                        "1.1", **sandra)
        assert rc == 0, err
        assert dns(entries) == {VACATION.lower()}
        for dn in (jana_share, "cn=2024," + PETER):
            rc, entries, _err = slapd.search("-b", dn, "-s", "base", **sandra)
            assert rc in (0, NO_SUCH_OBJECT), dn
            assert entries == []
        rc, entries, err = slapd.search("-b", PETER, "-s", "one", **sandra)
        assert rc == 0, err
        assert dns(entries) == {VACATION.lower()}
        # Jana's private mailbox is hers; Sandra sees her own and her
        # company's (entries, not grants: vertrieb@ as well), nothing
        # of xyz.org.
        rc, entries, err = slapd.search("(objectClass=mailgrantsMailbox)",
                                        "1.1", **sandra)
        assert rc == 0, err
        assert dns(entries) == {MAKLER.lower(), INFO.lower(),
                                ("cn=vertrieb@abc.com,ou=mailboxes,"
                                 "o=abc.com," + BASE).lower()}
        # Peter reads his own shares.
        rc, entries, err = slapd.search("-b", PETER, "-s", "one",
                                        binddn=PETER, password=PETER_PW)
        assert rc == 0, err
        assert dns(entries) == {VACATION.lower(),
                                ("cn=2024," + PETER).lower()}
        # And Jana hers, and Peter's that she is a grantee of, not his
        # share with Tom.
        rc, entries, err = slapd.search("(objectClass=mailgrantsShare)",
                                        "1.1", binddn=JANA, password=JANA_PW)
        assert rc == 0, err
        assert dns(entries) == {jana_share.lower(), VACATION.lower()}
    finally:
        slapd.ldapdelete(jana_share, root=True)


def test_users_read_own_entry_and_directory_not_passwords(slapd):
    sandra = dict(binddn=SANDRA, password=SANDRA_PW)
    rc, entries, err = slapd.search("-b", SANDRA, "-s", "base", "*", **sandra)
    assert rc == 0, err
    assert entries[0][1]["mail"] == ["sandra.schuster@abc.com"]
    rc, entries, err = slapd.search("-b", JANA, "-s", "base", "*",
                                    "userPassword", **sandra)
    assert rc == 0, err
    assert entries[0][1]["mail"] == ["jana.meier@abc.com"]
    assert "userpassword" not in entries[0][1]
    rc, entries, err = slapd.search("(userPassword=*)", "1.1", **sandra)
    assert rc == 0, err
    assert dns(entries) <= {SANDRA.lower()}
    # Anonymous clients see nothing.
    rc, entries, err = slapd.search("(objectClass=*)", "1.1")
    assert rc in (0, NO_SUCH_OBJECT), err
    assert entries == []


def test_sync_identity_reads_all_but_passwords(slapd):
    sync = dict(binddn=slapd.sync_dn, password=slapd.sync_pw)
    rc, all_root, err = slapd.search("(objectClass=*)", "*", root=True)
    assert rc == 0, err
    rc, all_sync, err = slapd.search("(objectClass=*)", "*",
                                     "userPassword", **sync)
    assert rc == 0, err
    assert dns(all_sync) == dns(all_root)
    by_dn = {dn.lower(): attrs for dn, attrs in all_sync}
    for dn, attrs in all_root:
        mine = by_dn[dn.lower()]
        assert "userpassword" not in mine, dn
        for name, values in attrs.items():
            if name != "userpassword":
                assert mine.get(name) == values, (dn, name)

    def count(flt):
        rc, entries, err = slapd.search(flt, "1.1", **sync)
        assert rc == 0, err
        return len(entries)
    assert count("(objectClass=mailgrantsShare)") == 2
    assert count("(objectClass=mailgrantsMailbox)") == 5
    assert count("(objectClass=mailgrantsUser)") == 7
    assert count("(objectClass=mailgrantsCompany)") == 2
    assert count("(objectClass=groupOfNames)") == 4
    assert count("(userPassword=*)") == 0
    # RFC 4533 content synchronisation (syncprov) answers the identity.
    rc, entries, err = slapd.search("-E", "sync=ro",
                                    "(objectClass=mailgrantsShare)", "1.1",
                                    **sync)
    assert rc == 0, err
    assert dns(entries) == {VACATION.lower(), ("cn=2024," + PETER).lower()}
    # Sync reads, never writes.
    rc, _out, _err = slapd.ldapadd(share_ldif("cn=sync," + PETER, [TOM]),
                                   **sync)
    assert rc == INSUFFICIENT_ACCESS
    rc, _out, _err = slapd.ldapmodify(
        "dn: %s\nchangetype: modify\nreplace: description\n"
        "description: x\n" % VACATION, **sync)
    assert rc == INSUFFICIENT_ACCESS


def test_other_company_sees_no_abc_shares_or_private_mailboxes(slapd):
    rc, entries, err = slapd.search(
        "(|(objectClass=mailgrantsShare)(mailgrantsKind=private))", "1.1",
        binddn=ANNA, password=ANNA_PW)
    assert rc == 0, err
    assert entries == []


def test_size_limit_and_paged_results():
    with Slapd(size_limit=5) as ldap:
        sync = dict(binddn=ldap.sync_dn, password=ldap.sync_pw)
        rc, _entries, _err = ldap.search("(objectClass=*)", "1.1", **sync)
        assert rc == 4       # sizeLimitExceeded
        rc, entries, err = ldap.search("-E", "pr=3/noprompt",
                                       "(objectClass=*)", "1.1", **sync)
        assert rc == 0, err
        rc, root, err = ldap.search("(objectClass=*)", "1.1", root=True)
        assert rc == 0, err
        assert len(root) > 20
        assert dns(entries) == dns(root)


def test_access_ldif_is_what_the_server_runs(slapd):
    with open(ACCESS_LDIF, encoding="utf-8") as f:
        change = parse_ldif(f.read())
    assert len(change) == 1
    dn, attrs = change[0]
    assert dn == "olcDatabase={1}mdb,cn=config"
    assert attrs["changetype"] == ["modify"]
    assert attrs["replace"] == ["olcAccess", "olcAddContentAcl"]
    rc, entries, err = slapd.search("-b", dn, "-s", "base", "olcAccess",
                                    "olcAddContentAcl", external=True)
    assert rc == 0, err
    running = entries[0][1]["olcaccess"]
    assert len(running) == len(attrs["olcaccess"])
    assert entries[0][1]["olcaddcontentacl"] == ["TRUE"]
    # Applying the file to a running server works too (idempotent here).
    with open(ACCESS_LDIF, encoding="utf-8") as f:
        rc, out, err = slapd.ldapmodify(f.read(), external=True)
    assert rc == 0, out + err


@pytest.mark.parametrize("path", [EXAMPLE_LDIF, MAILGRANTS_LDIF,
                                  ACCESS_LDIF])
def test_shipped_files_are_ascii_ldif(path):
    # Non-ASCII values must be base64 (::); comments may be UTF-8.
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if not line.startswith(b"#"):
                assert line.isascii(), "%s:%d" % (path, number)


# ------------------------------------------------------ the harness itself

def test_harness_restart_keeps_port_and_data(tmp_path):
    ldap = Slapd()
    tmpdir = ldap.tmpdir
    try:
        uri = ldap.uri
        dn = "cn=persist," + PETER
        rc, out, err = ldap.ldapadd(share_ldif(dn, [TOM]), root=True)
        assert rc == 0, out + err
        ldap.kill()
        assert not ldap.running()
        assert ldap.ldapwhoami(root=True)[0] != 0
        ldap.start()
        assert ldap.uri == uri
        assert exists(ldap, dn)
        ldap.stop()
        ldap.start()
        assert exists(ldap, dn)
        rc, out, err = ldap.ldapwhoami(external=True)
        assert rc == 0, err
        assert "cn=peercred,cn=external,cn=auth" in out

        conf = ldap.write_config(str(tmp_path / "mailgrants.conf"),
                                 replica=str(tmp_path / "grants.db"),
                                 ldap_page_size=100)
        with open(conf) as f:
            lines = [l.strip() for l in f if not l.startswith("#")]
        pwfile = conf + ".ldap-password"
        assert lines == ["replica = %s" % (tmp_path / "grants.db"),
                         "ldap_uri = %s" % uri,
                         "ldap_bind_dn = %s" % ldap.sync_dn,
                         "ldap_bind_password_file = %s" % pwfile,
                         "ldap_base = %s" % BASE,
                         "ldap_page_size = 100"]
        assert os.stat(pwfile).st_mode & 0o077 == 0
        with open(pwfile) as f:
            pw = f.read()
        assert ldap.ldapwhoami(binddn=ldap.sync_dn, password=pw)[0] == 0
    finally:
        ldap.close()
    assert not ldap.running()
    if not os.environ.get("MAILGRANTS_KEEP_TMP"):
        assert not os.path.exists(tmpdir)
