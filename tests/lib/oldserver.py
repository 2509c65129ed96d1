"""oldserver - a directory as a site had it before mailgrants, for tests.

    from oldserver import DebianSlapd, before_ldif

    with DebianSlapd(ldif=before_ldif(path, site_identities)) as ldap:
        ...   # cn=config as Debian's slapd package writes it

DebianSlapd(**Slapd keyword arguments)
    a tests/lib/slapd.py Slapd whose cn=config is the one Debian 12's
    slapd package builds (/usr/share/slapd/slapd.init.ldif): the schemas
    core, cosine, nis and inetorgperson only; module{0} loading back_mdb
    only (no syncprov); the frontend's rule giving root (here: the
    uid/gid running the test) manage through ldapi:// and SASL EXTERNAL;
    olcDatabase={1}mdb for dc=example,dc=org with Debian's indexes and
    Debian's default access rules (userPassword: self write, anonymous
    auth; shadowLastChange; everything else readable by everyone). No
    mailgrants schema, access rules, indexes or overlay: those are what
    README steps 2-4 add.

before_ldif(path, identities) writes, at path, the example directory
    (ldap-schema/examples/abc.ldif) as a site had it before mailgrants:
    its people (inetOrgPerson, passwords) under their company entries,
    the companies' groups, without any mailgrants object class or
    attribute, without mailboxes and shares, without the sync identity,
    the mail admins, their group and the containers README step 4
    creates; plus an organizationalRole + simpleSecurityObject entry
    for each (cn, password) of identities (the site's own LDAP
    identities, e.g. Postfix's and Dovecot's). Returns path.

mailgrants_changes(extra_addresses) -> (modify_ldif, containers_ldif,
    mailboxes_ldif): what README step 2 ("add mailgrantsCompany to your
    company entries and mailgrantsUser to your users") and the example
    directory add to such a site: the changes to existing entries (with
    the mailgrantsAddress values of extra_addresses, {dn: [address]},
    beside the example's), the containers (ou=mailboxes, as the
    rootdn), the mailbox entries (as a mail admin). Shares are left to
    `mailgrants share`.
"""

import base64
import os
import re

from slapd import (BASE, EXAMPLE_LDIF, SYSTEM_SCHEMA_DIR, Slapd,
                   _read_schema_ldif, parse_ldif)

# Entries README step 4 (or the admin) creates, not the site.
_STEP4_DNS = {
    "cn=mailgrants-sync," + BASE,
    "cn=mailadmin," + BASE,
    "ou=groups," + BASE,
    "cn=mail-admins,ou=groups," + BASE,
}


# What Debian's slapd.init.ldif has and tests/lib/slapd.py's cn=config
# has not (or has otherwise).
_DEBIAN_INDEXES = """olcDbIndex: objectClass eq
olcDbIndex: cn,uid eq
olcDbIndex: uidNumber,gidNumber eq
olcDbIndex: member,memberUid eq
"""
_DEBIAN_ACCESS = """olcAccess: {0}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {1}to attrs=shadowLastChange by self write by * read
olcAccess: {2}to * by * read"""
_DEBIAN_FRONTEND = """olcSizeLimit: 500
olcAccess: {{0}}to * by dn.exact={root} manage by * break
olcAccess: {{1}}to dn.exact="" by * read
olcAccess: {{2}}to dn.base="cn=Subschema" by * read
"""


def _replace_once(text, old, new):
    if text.count(old) != 1:
        raise AssertionError("slapd.py's cn=config changed: %r" % old)
    return text.replace(old, new)


class DebianSlapd(Slapd):
    """A Slapd built like Debian 12's slapd package (see module doc)."""

    def __init__(self, **kw):
        kw.setdefault("schema", False)
        kw.setdefault("access", False)
        kw.setdefault("syncprov", False)
        kw.setdefault("size_limit", None)
        kw.setdefault("extra_config", _DEBIAN_ACCESS)
        super().__init__(**kw)

    def config_ldif(self):
        """slapd.py's cn=config, made Debian's: no syncprov module, the
        nis schema, the frontend's rules, root's rule on cn=config
        ending in "break", Debian's indexes and access rules."""
        root = ("gidNumber=%d+uidNumber=%d,cn=peercred,cn=external,cn=auth"
                % (os.getgid(), os.getuid()))
        text = super().config_ldif()
        text = _replace_once(text, "olcModuleLoad: {1}syncprov\n", "")
        inetorg = _read_schema_ldif(
            os.path.join(SYSTEM_SCHEMA_DIR, "inetorgperson.ldif"))
        nis = _read_schema_ldif(os.path.join(SYSTEM_SCHEMA_DIR, "nis.ldif"))
        text = _replace_once(text, inetorg, nis + "\n" + inetorg)
        text = _replace_once(text, "olcDatabase: {-1}frontend\n",
                             "olcDatabase: {-1}frontend\n"
                             + _DEBIAN_FRONTEND.format(root=root))
        text = _replace_once(text, 'manage by * none\n',
                             'manage by * break\n')
        text = re.sub(r"(?m)^olcDbIndex: .*\n", "", text)
        return _replace_once(text, "olcDbMaxSize: 1073741824\n",
                             "olcDbMaxSize: 1073741824\n"
                             "olcDbCheckpoint: 512 30\n" + _DEBIAN_INDEXES)


def _example_entries():
    with open(EXAMPLE_LDIF, encoding="utf-8") as f:
        return parse_ldif(f.read())


def _is_mg(name):
    return name.lower().startswith("mailgrants")


def _entry_ldif(dn, attrs):
    lines = ["dn: " + dn]
    for name, values in attrs:
        for v in values:
            if v.isascii():
                lines.append("%s: %s" % (name, v))
            else:
                lines.append("%s:: %s" % (
                    name, base64.b64encode(v.encode()).decode()))
    return "\n".join(lines) + "\n"


def _kind(attrs):
    classes = {c.lower() for c in attrs.get("objectclass", [])}
    if "mailgrantsshare" in classes:
        return "share"
    if "mailgrantsmailbox" in classes:
        return "mailbox"
    return "entry"


def before_ldif(path, identities):
    """The example directory without mailgrants (see module doc)."""
    out = []
    for dn, attrs in _example_entries():
        if dn in _STEP4_DNS or _kind(attrs) != "entry":
            continue
        if dn.startswith("ou=mailboxes,"):
            continue
        kept = []
        for name, values in attrs.items():
            if _is_mg(name):
                continue
            if name == "objectclass":
                values = [v for v in values if not _is_mg(v)]
            kept.append((name, values))
        out.append(_entry_ldif(dn, kept))
        if dn == BASE:
            for cn, pw in identities:
                out.append(_entry_ldif("cn=%s,%s" % (cn, BASE), [
                    ("objectClass", ["organizationalRole",
                                     "simpleSecurityObject"]),
                    ("cn", [cn]),
                    ("description", ["the site's %s lookups" % cn]),
                    ("userPassword", [pw])]))
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    return path


def mailgrants_changes(extra_addresses=None):
    """What the example directory adds to the site's entries; see the
    module doc."""
    extra_addresses = extra_addresses or {}
    modify, containers, mailboxes = [], [], []
    for dn, attrs in _example_entries():
        if dn in _STEP4_DNS or _kind(attrs) == "share":
            continue
        if dn.startswith("ou=mailboxes,"):
            containers.append(_entry_ldif(dn, [
                (n, v) for n, v in attrs.items()]))
            continue
        if _kind(attrs) == "mailbox":
            mailboxes.append(_entry_ldif(dn, list(attrs.items())))
            continue
        classes = [v for v in attrs.get("objectclass", []) if _is_mg(v)]
        added = [(n, v) for n, v in attrs.items() if _is_mg(n)]
        more = extra_addresses.get(dn)
        if more:
            added.append(("mailgrantsAddress", more))
        if not classes and not added:
            continue
        lines = ["dn: " + dn, "changetype: modify"]
        for name, values in [("objectClass", classes)] + added:
            if not values:
                continue
            lines.append("add: " + name)
            lines += _entry_ldif("x", [(name, values)]).splitlines()[1:]
            lines.append("-")
        modify.append("\n".join(lines) + "\n")
    return "\n".join(modify), "\n".join(containers), "\n".join(mailboxes)
