"""The tenant probes of test_ldap_tenants.py, every one of them, against
a slapd set up as Debian's package sets it up (tests/lib/slapd.py,
DebianSlapd) and then prepared by "mailgrants setup-directory --apply":
the merged rules (the local root's rule first, Debian's shadowLastChange
rule kept) keep the companies apart exactly as access.ldif alone does.
The example directory is loaded afterwards, as the local root (its mail
admin before, as the rootdn: --admin must exist).
"""

import os
import re
import subprocess

import pytest

from slapd import BASE, EXAMPLE_LDIF, SCHEMA_DIR, DebianSlapd
# The probes themselves; the slapd fixture below replaces conftest's.
from test_ldap_tenants import *  # noqa: F401,F403


@pytest.fixture(scope="module")
def slapd(build_dir):
    server = DebianSlapd()
    try:
        with open(EXAMPLE_LDIF, encoding="utf-8") as f:
            records = f.read().split("\n\n")

        def dn_is(r, dn):
            return re.search(r"^dn: %s$" % re.escape(dn), r, re.M)
        # The mail admin is the site's entry, there before (as rootdn).
        admin, = [r for r in records if dn_is(r, server.admin_dn)]
        rc, _out, err = server.ldapadd(admin, root=True)
        assert rc == 0, err
        pw = os.path.join(server.tmpdir, "sync.pw")
        with open(pw, "w") as f:
            f.write(server.sync_pw + "\n")
        p = subprocess.run(
            [os.path.join(build_dir, "mailgrants"), "setup-directory",
             "-H", server.ldapi_uri, "--schema-dir", SCHEMA_DIR,
             "--sync-password-file", pw, "--admin", server.admin_dn,
             "--apply"], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        # examples/abc.ldif less what Debian and setup-directory made.
        made = {BASE, server.sync_dn, "ou=groups," + BASE,
                "cn=mail-admins,ou=groups," + BASE, server.admin_dn}
        keep = [r for r in records if not any(dn_is(r, dn) for dn in made)]
        rc, _out, err = server.ldapadd("\n\n".join(keep), external=True)
        assert rc == 0, err
        yield server
    finally:
        server.close()
