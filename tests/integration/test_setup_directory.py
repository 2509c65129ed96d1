"""mailgrants setup-directory against a slapd set up as Debian 12's
package sets it up (tests/lib/slapd.py, DebianSlapd): cn=config over
ldapi:// with SASL EXTERNAL as root, suffix dc=example,dc=org, Debian's
access rules, no mailgrants schema, no syncprov.

The command prints the LDIF (which ldapmodify takes as it is), shows a
diff, applies it; afterwards the schema, the indexes, syncprov and the
merged rules are in cn=config, the site's own rule is kept and still
works, "mailgrants sync" reads the example directory as the created
sync identity, the access rules decide as access.ldif says (probes; the
full set is tests/security/test_ldap_tenants.py), and a second run has
nothing to do. Errors: not root, slapd unreachable, no such suffix,
several databases, schema prerequisites missing.
"""

import os
import re
import subprocess

import pytest

from slapd import (BASE, DEBIAN_ACCESS, EXAMPLE_LDIF, EXAMPLE_USERS,
                   SCHEMA_DIR, DebianSlapd, parse_ldif)

SYNC_DN = "cn=mailgrants-sync," + BASE
GROUP_DN = "cn=mail-admins,ou=groups," + BASE
ADMIN_DN = "cn=mailadmin," + BASE
POSTFIX_DN = "cn=postfix," + BASE
SYNC_PW = "sync-pw"  # what Slapd.write_config() writes for the sync
HOSTS = "ou=hosts," + BASE
# A rule of the site's own, for a subtree mailgrants knows nothing of.
SITE_RULE = 'to dn.subtree="%s" by users read by * none' % HOSTS
ROOT = "gidNumber=%d+uidNumber=%d,cn=peercred,cn=external,cn=auth" % (
    os.getgid(), os.getuid())
PETER, _ = EXAMPLE_USERS["peter.mueller@abc.com"]
SANDRA, _ = EXAMPLE_USERS["sandra.schuster@abc.com"]
ANNA, _ = EXAMPLE_USERS["anna.schmidt@xyz.org"]


def write_file(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


class Env:
    def __init__(self, server, build_dir):
        self.slapd = server
        self.exe = os.path.join(build_dir, "mailgrants")
        assert os.access(self.exe, os.X_OK), "%s not built" % self.exe
        self.tmp = server.tmpdir
        self.sync_pw = write_file(os.path.join(self.tmp, "sync.pw"),
                                  SYNC_PW + "\n")

    def run(self, *args, schema=True, uri=True, env=None, preexec=None):
        argv = [self.exe, "setup-directory"]
        if uri:
            argv += ["-H", self.slapd.ldapi_uri]
        if schema:
            argv += ["--schema-dir", SCHEMA_DIR]
        return subprocess.run(argv + list(args), capture_output=True,
                              text=True, timeout=60,
                              stdin=subprocess.DEVNULL, env=env,
                              preexec_fn=preexec)

    def apply_args(self):
        return ["--admin", ADMIN_DN, "--reader", POSTFIX_DN,
                "--sync-password-file", self.sync_pw]

    def database(self):
        """olcDatabase={1}mdb's settings, as root."""
        rc, entries, err = self.slapd.search(
            "-b", "olcDatabase={1}mdb,cn=config", "-s", "base",
            "(objectClass=*)", external=True)
        assert rc == 0, err
        return entries[0][1]

    def rules(self):
        return [re.sub(r"^\{\d+\}", "", r)
                for r in self.database().get("olcaccess", [])]


def site_server():
    """Debian's slapd with a rule of the site's own before the last."""
    server = DebianSlapd()
    try:
        rc, _out, err = server.ldapmodify(
            "dn: olcDatabase={1}mdb,cn=config\nchangetype: modify\n"
            "add: olcAccess\nolcAccess: {2}%s\n" % SITE_RULE,
            external=True)
        assert rc == 0, err
        # Entries of the site's own, written as the rootdn as a site
        # would: a host below the site's rule, Postfix's LDAP identity.
        rc, _out, err = server.ldapadd(
            "dn: %s\nobjectClass: organizationalUnit\nou: hosts\n\n"
            "dn: cn=mx1,%s\nobjectClass: device\ncn: mx1\n\n"
            "dn: %s\nobjectClass: organizationalRole\n"
            "objectClass: simpleSecurityObject\ncn: postfix\n"
            "userPassword: postfix-pw\n\n"
            "dn: %s\nobjectClass: organizationalRole\n"
            "objectClass: simpleSecurityObject\ncn: mailadmin\n"
            "userPassword: mailadmin-pw\n"
            % (HOSTS, HOSTS, POSTFIX_DN, ADMIN_DN),
            root=True)
        assert rc == 0, err
    except BaseException:
        server.close()
        raise
    return server


@pytest.fixture
def env(build_dir):
    server = site_server()
    try:
        yield Env(server, build_dir)
    finally:
        server.close()


def example_ldif_without_setup():
    """examples/abc.ldif without what Debian (the suffix) and
    setup-directory (the sync identity, ou=groups, the group) and the
    site (the mail admin) made."""
    made = {BASE.lower(), SYNC_DN.lower(), "ou=groups," + BASE.lower(),
            GROUP_DN.lower(), ADMIN_DN.lower()}
    with open(EXAMPLE_LDIF, encoding="utf-8") as f:
        records = f.read().split("\n\n")
    keep = []
    for rec in records:
        m = re.search(r"^dn: (.*)$", rec, re.M)
        if m and m.group(1).strip().lower() in made:
            continue
        keep.append(rec)
    return "\n\n".join(keep)


def mailgrants_as_sync(server, build_dir, tmp_path):
    """A function running mailgrants -c CONF ARGS with a configuration
    that reads server as the sync identity (password SYNC_PW)."""
    conf = server.write_config(str(tmp_path / "mailgrants.conf"),
                               replica=str(tmp_path / "grants.db"))
    exe = os.path.join(build_dir, "mailgrants")

    def run(*args):
        return subprocess.run([exe, "-c", conf] + list(args),
                              capture_output=True, text=True, timeout=120)
    return run


def test_print_apply_sync_and_rules(env, build_dir, tmp_path):
    s = env.slapd
    before = env.rules()
    assert before == DEBIAN_ACCESS[:2] + [SITE_RULE] + DEBIAN_ACCESS[2:]

    # Printed: every part, commented; nothing applied; no password.
    p = env.run(*env.apply_args())
    assert p.returncode == 0, p.stderr
    out = p.stdout
    for want in ("dn: cn=mailgrants,cn=schema,cn=config",
                 "olcModuleLoad: syncprov",
                 "dn: olcOverlay=syncprov,olcDatabase={1}mdb,cn=config",
                 "olcDbIndex: mail,mailgrantsAddress,mailgrantsDomain,"
                 "entryCSN,entryUUID eq",
                 "replace: olcAccess", "olcAddContentAcl: TRUE",
                 "dn: " + SYNC_DN, "dn: ou=groups," + BASE,
                 "dn: " + GROUP_DN, "member: " + ADMIN_DN,
                 "# {13} the site's rule {2}, kept before mailgrants' "
                 "rules for everything else"):
        assert want in out, (want, out)
    assert SYNC_PW not in out
    assert env.rules() == before

    p = env.run("--apply", *env.apply_args())
    assert p.returncode == 0, p.stderr
    assert "set the password of " + SYNC_DN in p.stdout, p.stdout

    # cn=config: schema, indexes, syncprov, merged rules.
    rc, entries, err = s.search("-b", "cn=schema,cn=config", "-s", "one",
                                "cn", external=True)
    assert rc == 0, err
    names = [re.sub(r"^\{\d+\}", "", a["cn"][0]) for _dn, a in entries]
    assert names[-1] == "mailgrants", names
    db = env.database()
    assert ("mail,mailgrantsAddress,mailgrantsDomain,entryCSN,entryUUID eq"
            in db["olcdbindex"]), db["olcdbindex"]
    assert db["olcaddcontentacl"] == ["TRUE"]
    assert db["olclimits"] == ['{0}dn.exact="%s" size=unlimited' % SYNC_DN]
    rc, entries, err = s.search("-b", "olcDatabase={1}mdb,cn=config",
                                "(objectClass=olcSyncProvConfig)",
                                external=True)
    assert rc == 0 and len(entries) == 1, (rc, err)
    rules = env.rules()
    assert rules[0] == ("to * by dn.exact=%s manage by * break" % ROOT)
    assert rules[1] == ("to attrs=userPassword by self =w "
                        "by anonymous auth by * none")
    assert rules[3] == ('to * by dn.exact="%s" read by dn.exact="%s" read '
                        'by * break' % (SYNC_DN, POSTFIX_DN))
    # The site's rules that stay: its subtree and shadowLastChange
    # rules, in their order, before the two rules for everything else;
    # its catch-all "to * by * read" is gone.
    assert rules[-4:-2] == [DEBIAN_ACCESS[1], SITE_RULE], rules
    assert rules[-2].startswith("to attrs=entry ")
    assert rules[-1].startswith("to * by group.exact=\"%s\" read" % GROUP_DN)
    assert "to * by * read" not in rules
    assert len(rules) == 16  # the root's, 13 of access.ldif, 2 of the site

    # The example directory, written by the local root (its rule).
    rc, _out, err = s.ldapadd(example_ldif_without_setup(), external=True)
    assert rc == 0, err

    # The sync reads it as the identity setup-directory created.
    mg = mailgrants_as_sync(s, build_dir, tmp_path)
    p = mg("sync", "--once")
    assert p.returncode == 0, p.stderr
    p = mg("who", "makler@abc.com")
    assert p.returncode == 0, p.stderr
    assert "sandra.schuster@abc.com" in p.stdout, p.stdout
    assert "7 users" in mg("check").stdout

    # The rules decide as access.ldif says: the owner adds a share below
    # his entry, a stranger (another company) may not.
    share = ("dn: cn=probe,%s\nobjectClass: mailgrantsShare\ncn: probe\n"
             "mailgrantsGrantee: %s\n" % (PETER, SANDRA))
    rc, _out, err = s.ldapadd(share, binddn=ANNA, password="anna-pw")
    assert rc == 50, (rc, err)  # insufficient access
    rc, _out, err = s.ldapadd(share, binddn=PETER, password="peter-pw")
    assert rc == 0, err
    # The sync never reads a password; a user of another company does
    # not see peter.
    rc, entries, err = s.search("-b", PETER, "-s", "base", "userPassword",
                                "mail", binddn=SYNC_DN, password=SYNC_PW)
    assert rc == 0 and entries, err
    assert "userpassword" not in entries[0][1]
    assert entries[0][1]["mail"] == ["peter.mueller@abc.com"]
    rc, entries, _err = s.search("-b", PETER, "-s", "base", "mail",
                                 binddn=ANNA, password="anna-pw")
    assert entries == []
    # The site's rule still works: a user reads the host entry; and
    # Postfix's identity (--reader) reads the users' addresses.
    rc, entries, err = s.search("-b", "cn=mx1," + HOSTS, "-s", "base",
                                "cn", binddn=SANDRA, password="sandra-pw")
    assert rc == 0 and entries and entries[0][1]["cn"] == ["mx1"], err
    rc, entries, err = s.search("(mail=sandra.schuster@abc.com)", "mail",
                                binddn=POSTFIX_DN, password="postfix-pw")
    assert rc == 0 and len(entries) == 1, err

    # Nothing to do the second time, in every mode.
    p = env.run("--apply", *env.apply_args())
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("nothing to do"), p.stdout
    p = env.run("--diff", *env.apply_args())
    assert p.returncode == 0 and "nothing to do" in p.stdout, p.stdout
    assert not re.search(r"^[-+] ", p.stdout, re.M), p.stdout
    p = env.run(*env.apply_args())
    assert p.returncode == 0 and "# nothing to do" in p.stdout, p.stdout
    assert env.rules() == rules

    # A changed password file: only the password is set again.
    write_file(env.sync_pw, "another-sync-pw\n")
    p = env.run("--apply", *env.apply_args())
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "set the password of " + SYNC_DN, p.stdout
    rc, _out, err = s.ldapwhoami(SYNC_DN, "another-sync-pw")
    assert rc == 0, err


def test_sync_reads_more_than_the_size_limit(env, build_dir, tmp_path):
    """Debian's frontend has olcSizeLimit 500: the sync, which reads
    every user in pages, gets no limit of its own and reads them all."""
    s = env.slapd
    p = env.run("--apply", *env.apply_args())
    assert p.returncode == 0, p.stderr
    ldif = ["dn: o=big.com,%s\nobjectClass: organization\n"
            "objectClass: mailgrantsCompany\no: big.com\n"
            "mailgrantsDomain: big.com\n" % BASE]
    for i in range(600):
        ldif.append("dn: uid=u%d,o=big.com,%s\nobjectClass: inetOrgPerson\n"
                    "objectClass: mailgrantsUser\nuid: u%d\ncn: u%d\n"
                    "sn: u\nmail: u%d@big.com\n" % (i, BASE, i, i, i))
    rc, _out, err = s.ldapadd("\n".join(ldif), external=True, timeout=120)
    assert rc == 0, err
    mg = mailgrants_as_sync(s, build_dir, tmp_path)
    p = mg("sync", "--once")
    assert p.returncode == 0, p.stderr
    assert "600 users" in mg("check").stdout


def test_diff_names_the_changed_rules(env):
    p = env.run("--diff", *env.apply_args())
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert ("- {0} to attrs=userPassword by self write by anonymous auth "
            "by * none") in out, out
    assert "- {3} to * by * read" in out, out
    assert "= {12} to attrs=shadowLastChange by self write by * read" in out
    assert "= {13} " + SITE_RULE in out, out
    assert ("+ {0} to * by dn.exact=%s manage by * break" % ROOT) in out
    assert "+ mail,mailgrantsAddress,mailgrantsDomain,entryCSN," \
        "entryUUID eq" in out
    assert ('olcLimits: + {0}dn.exact="%s" size=unlimited' % SYNC_DN) in out
    assert "schema: mailgrants is not loaded" in out
    assert "overlay: add syncprov" in out
    assert "entry: add " + SYNC_DN in out
    assert "password: set the password of " + SYNC_DN in out
    assert env.rules()[-1] == "to * by * read"  # nothing applied


def test_printed_ldif_is_what_ldapmodify_takes(env):
    p = env.run("--admin", ADMIN_DN)
    assert p.returncode == 0, p.stderr
    rc, _out, err = env.slapd.ldapmodify(p.stdout, external=True)
    assert rc == 0, err
    # All done but the password, which no LDIF carries.
    p = env.run("--diff", *env.apply_args())
    assert p.returncode == 0, p.stderr
    assert "(no change)" in p.stdout
    assert p.stdout.rstrip().endswith("password: set the password of "
                                      + SYNC_DN), p.stdout
    rc, _out, _err = env.slapd.ldapwhoami(SYNC_DN, "{CRYPT}!")
    assert rc != 0
    p = env.run("--apply", *env.apply_args())
    assert p.returncode == 0, p.stderr
    p = env.run("--apply", *env.apply_args())
    assert p.stdout.startswith("nothing to do"), p.stdout


def test_rootdn_instead_of_the_root_rule(env):
    pw = write_file(os.path.join(env.tmp, "root.pw"),
                    env.slapd.rootpw + "\n")
    args = ["--no-root-rule", "--bind-dn", env.slapd.rootdn,
            "--bind-password-file", pw] + env.apply_args()
    # Without the root's rule and without the rootdn: refused, before
    # anything is changed.
    p = env.run("--apply", "--no-root-rule", *env.apply_args())
    assert p.returncode == 1 and "--bind-dn" in p.stderr, p.stderr
    assert env.rules()[-1] == "to * by * read"
    p = env.run("--apply", *args)
    assert p.returncode == 0, p.stderr
    rules = env.rules()
    assert not any("peercred" in r for r in rules), rules
    rc, entries, err = env.slapd.search("-b", GROUP_DN, "-s", "base",
                                        "member", root=True)
    assert rc == 0 and entries[0][1]["member"] == [ADMIN_DN], err
    p = env.run("--apply", *args)
    assert p.stdout.startswith("nothing to do"), p.stdout


def test_errors(env):
    # Not root.
    p = env.run(preexec=lambda: (os.setgid(65534), os.setuid(65534)))
    assert p.returncode == 1
    assert "not root" in p.stderr, p.stderr
    # slapd not there.
    p = env.run("-H", "ldapi://%2Fnonexistent%2Fldapi/", uri=False)
    assert p.returncode == 2, p.stderr
    assert "cannot connect" in p.stderr, p.stderr
    # No such suffix: the databases are named.
    p = env.run("--suffix", "dc=nowhere")
    assert p.returncode == 1
    assert ("no database has the suffix dc=nowhere (the databases' "
            "suffixes: dc=example,dc=org)") in p.stderr, p.stderr
    # No schema where --schema-dir says.
    p = env.run("--schema-dir", env.tmp, schema=False)
    assert p.returncode == 1
    assert "mailgrants.ldif" in p.stderr, p.stderr
    # An --admin that does not exist could never add a mailbox.
    p = env.run("--admin", "cn=nobody-here," + BASE)
    assert p.returncode == 1
    assert ("--admin cn=nobody-here,%s: no such entry" % BASE) in p.stderr, \
        p.stderr
    # --apply must be able to give the sync identity a password.
    p = env.run("--apply")
    assert p.returncode == 1
    assert "--sync-password-file" in p.stderr, p.stderr
    assert env.rules()[-1] == "to * by * read"  # nothing applied
    # Two mdb databases: say which.
    other = os.path.join(env.tmp, "other")
    os.mkdir(other, 0o700)
    rc, _out, err = env.slapd.ldapadd(
        "dn: olcDatabase=mdb,cn=config\nobjectClass: olcDatabaseConfig\n"
        "objectClass: olcMdbConfig\nolcDatabase: mdb\n"
        "olcSuffix: dc=other,dc=org\nolcDbDirectory: %s\n" % other,
        external=True)
    assert rc == 0, err
    p = env.run()
    assert p.returncode == 1
    assert "2 mdb databases: say which with --suffix" in p.stderr
    assert "dc=example,dc=org" in p.stderr and "dc=other,dc=org" in p.stderr
    p = env.run("--suffix", "DC=Example, dc=org", "--admin", ADMIN_DN)
    assert p.returncode == 0, p.stderr


def test_schema_prerequisites(build_dir):
    server = DebianSlapd(schemas=("core", "cosine", "nis"))
    try:
        p = Env(server, build_dir).run()
        assert p.returncode == 1
        assert ("schema prerequisites missing: inetorgperson is not "
                "loaded") in p.stderr, p.stderr
    finally:
        server.close()


def test_index_without_eq_is_completed(env):
    # slapd takes one olcDbIndex value per attribute: "mail" indexed
    # without eq gets eq in a value of its own, "sn" keeps its types.
    rc, _out, err = env.slapd.ldapmodify(
        "dn: olcDatabase={1}mdb,cn=config\nchangetype: modify\n"
        "add: olcDbIndex\nolcDbIndex: mail,sn pres,sub\n", external=True)
    assert rc == 0, err
    p = env.run("--diff", *env.apply_args())
    assert ("- mail,sn pres,sub\n+ mail pres,sub,eq\n+ sn pres,sub\n"
            "+ mailgrantsAddress,mailgrantsDomain,entryCSN,entryUUID eq\n"
            in p.stdout), p.stdout
    p = env.run("--apply", *env.apply_args())
    assert p.returncode == 0, p.stderr
    index = env.database()["olcdbindex"]
    assert "mail pres,sub,eq" in index and "sn pres,sub" in index, index
    assert "mail,sn pres,sub" not in index
    p = env.run("--apply", *env.apply_args())
    assert p.stdout.startswith("nothing to do"), p.stdout


def test_readme_command_as_shown(env):
    """README step 2's setup-directory command, as shown (the password
    file put where this test keeps it), sets up a Debian slapd; the
    same again has nothing to do."""
    import shlex
    with open(os.path.join(SCHEMA_DIR, "..", "README.md")) as f:
        text = f.read()
    blocks = re.findall(r"^```\n(.*?)^```", text, re.S | re.M)
    block = [b for b in blocks if "setup-directory --apply" in b][0]
    line = block[block.index("sudo mailgrants setup-directory --apply"):]
    argv = shlex.split(line.replace("\\\n", " ").splitlines()[0])
    assert argv[:4] == ["sudo", "mailgrants", "setup-directory", "--apply"]
    args = [env.sync_pw if a == "/etc/mailgrants/bind.pw" else a
            for a in argv[3:]]
    assert "--sync-password-file" in args and env.sync_pw in args
    p = env.run(*args)
    assert p.returncode == 0, p.stderr
    assert "set the password of " + SYNC_DN in p.stdout
    p = env.run(*args)
    assert p.returncode == 0 and p.stdout.startswith("nothing to do"), \
        p.stdout


def test_help_without_configuration(build_dir, tmp_path):
    exe = os.path.join(build_dir, "mailgrants")
    p = subprocess.run([exe, "-c", str(tmp_path / "none.conf"),
                        "setup-directory", "--help"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.startswith(
        "usage: mailgrants setup-directory [-H uri]"), (p.stdout, p.stderr)
    p = subprocess.run([exe, "--help"], capture_output=True, text=True,
                       timeout=30)
    assert "mailgrants setup-directory [options]" in p.stdout
    # An unknown option: the synopsis, exit 1.
    p = subprocess.run([exe, "setup-directory", "--bogus"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "usage:" in p.stderr, p.stderr


def test_another_schema_version_is_named_not_replaced(env):
    p = env.run("--apply", *env.apply_args())
    assert p.returncode == 0, p.stderr
    p = env.run("--apply", *env.apply_args())
    assert p.stderr == "" and p.stdout.startswith("nothing to do")
    # An attribute type the shipped schema does not have.
    rc, entries, err = env.slapd.search(
        "-b", "cn=schema,cn=config", "(cn=*mailgrants)", "1.1",
        external=True)
    assert rc == 0 and len(entries) == 1, err
    rc, _out, err = env.slapd.ldapmodify(
        "dn: %s\nchangetype: modify\nadd: olcAttributeTypes\n"
        "olcAttributeTypes: ( 2.25.104972486955127748283858604674578257210"
        ".1.99 NAME 'mailgrantsX' SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )\n"
        % entries[0][0], external=True)
    assert rc == 0, err
    p = env.run("--apply", *env.apply_args())
    assert p.returncode == 0, p.stderr
    assert "the loaded schema mailgrants differs from" in p.stderr
    assert p.stdout.startswith("nothing to do")
