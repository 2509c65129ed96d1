"""example - the example directory (ldap-schema/examples/abc.ldif) as
the tests know it: its base, its service identities, its users with
their DNs and passwords, in one place.

BASE, ROOTDN, ROOTPW       the suffix and the rootdn of the test slapd
SYNC_DN, SYNC_PW           the sync's bind identity
ADMIN_DN, ADMIN_PW         a mail administrator (cn=mail-admins)
ADMINS_GROUP               the administrators' group
ABC, XYZ                   the two companies' entries (o=abc.com, o=xyz.org)
PEOPLE, XYZ_PEOPLE         their ou=people
EXAMPLE_USERS              login -> (DN, password)
PASSWORDS                  login -> password
DN_PASSWORDS               DN -> password
SANDRA, JANA, PETER, TOM, ANNA, MAX, LENA
                           the users' logins (addresses)
SANDRA_DN, ..., LENA_DN    their DNs
MAILBOXES                  abc.com's ou=mailboxes
BUCHHALTUNG_DN, MAKLER_DN, INFO_DN
                           three of abc.com's mailboxes
STAFF_DN                   xyz.org's employees (cn=staff)
"""

BASE = "dc=example,dc=org"
ROOTDN = "cn=admin," + BASE
ROOTPW = "admin-secret"
SYNC_DN = "cn=mailgrants-sync," + BASE
SYNC_PW = "sync-pw"
ADMIN_DN = "cn=mailadmin," + BASE
ADMIN_PW = "admin-pw"
ADMINS_GROUP = "cn=mail-admins,ou=groups," + BASE

ABC = "o=abc.com," + BASE
XYZ = "o=xyz.org," + BASE
PEOPLE = "ou=people," + ABC
XYZ_PEOPLE = "ou=people," + XYZ

MAILBOXES = "ou=mailboxes," + ABC
BUCHHALTUNG_DN = "cn=buchhaltung@abc.com," + MAILBOXES
MAKLER_DN = "cn=makler@abc.com," + MAILBOXES
INFO_DN = "cn=info@abc.com," + MAILBOXES
STAFF_DN = "cn=staff,ou=groups," + XYZ

# The mail users of examples/abc.ldif: login and password. Lena is in
# xyz.org's subtree, not in its employee group cn=staff.
_USERS = [
    ("sandra.schuster@abc.com", "sandra-pw"),
    ("jana.meier@abc.com", "jana-pw"),
    ("peter.mueller@abc.com", "peter-pw"),
    ("tom.berger@abc.com", "tom-pw"),
    ("anna.schmidt@xyz.org", "anna-pw"),
    ("max.wolf@xyz.org", "max-pw"),
    ("lena.wagner@xyz.org", "lena-pw"),
]


def _dn(login):
    uid, company = login.split("@")
    return "uid=%s,ou=people,o=%s,%s" % (uid, company, BASE)


# login -> (DN, password)
EXAMPLE_USERS = {login: (_dn(login), pw) for login, pw in _USERS}
SANDRA, JANA, PETER, TOM, ANNA, MAX, LENA = EXAMPLE_USERS
SANDRA_DN, JANA_DN, PETER_DN, TOM_DN, ANNA_DN, MAX_DN, LENA_DN = (
    dn for dn, _pw in EXAMPLE_USERS.values())
PASSWORDS = dict(_USERS)
DN_PASSWORDS = dict(EXAMPLE_USERS.values())
