"""oldserver - a directory as a site had it before mailgrants, for tests.

    from oldserver import before_ldif
    from slapd import DebianSlapd

    with DebianSlapd(ldif=before_ldif(path, site_identities)) as ldap:
        ...   # cn=config as Debian's slapd package writes it

before_ldif(path, identities) writes, at path, the example directory
    (ldap-schema/examples/abc.ldif) as a site had it before mailgrants:
    below the suffix entry (DebianSlapd makes that one): its people
    (inetOrgPerson, passwords) under their company entries,
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

site_dovecot(vmail, auth_socket, people_filter) -> {userdb_conf,
    extra_conf}: the site's Dovecot before mailgrants, as keyword
    arguments for tests/lib/dovecot.py's Dovecot (which writes the main
    settings and the LDAP passdb) and in the syntax of the Dovecot under
    test, as Debian's packages lay it out (Debian 12: 2.3's 10-mail.conf
    and auth-ldap.conf.ext; Debian 13: 2.4's): an LDAP userdb matching
    people_filter ("%u" the login), the mail in
    <vmail>/<domain>/<user>/Maildir found through the home directory
    (mail_home, and a location relative to it: README step 8 changes
    that), the inbox namespace, and the auth socket for Postfix at
    auth_socket (10-master.conf's listener, owned by postfix).
"""

import base64

from dovecot import is_24
from slapd import BASE, EXAMPLE_LDIF, parse_ldif

# Entries README step 4 (or the admin) creates, not the site.
_STEP4_DNS = {
    "cn=mailgrants-sync," + BASE,
    "cn=mailadmin," + BASE,
    "ou=groups," + BASE,
    "cn=mail-admins,ou=groups," + BASE,
}


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
        if dn != BASE:
            out.append(_entry_ldif(dn, kept))
        else:
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


def site_dovecot(vmail, auth_socket, people_filter):
    """The site's Dovecot before mailgrants; see the module doc."""
    listener = ("service auth {\n  unix_listener %s {\n    mode = 0660\n"
                "    user = postfix\n    group = postfix\n  }\n}\n"
                % auth_socket)
    inbox = "namespace inbox {\n  inbox = yes\n}\n"
    if is_24():
        # auth-ldap.conf.ext's userdb ldap (the ldap_* settings are
        # the passdb's, global in 2.4); 10-mail.conf's driver and path
        # below the home.
        return dict(
            userdb_conf="userdb ldap {\n  ldap_filter = %s\n}\n"
                        % people_filter.replace("%u", "%{user}"),
            extra_conf=inbox + "mail_home = %s/%%{user | domain}/"
                       "%%{user | username}\nmail_driver = maildir\n"
                       "mail_path = %%{home}/Maildir\n" % vmail + listener)
    return dict(
        userdb_conf="userdb {\n  driver = ldap\n  args = {ldap_conf}\n}\n",
        extra_conf=inbox + "mail_home = %s/%%d/%%n\n"
                   "mail_location = maildir:~/Maildir\n" % vmail + listener)
