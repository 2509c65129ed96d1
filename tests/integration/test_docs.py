"""The man pages render without a warning.

Every doc/*.[1-8] goes through "MANWIDTH=80 man --warnings -l" (man-db,
groff with its warnings on); any output on stderr fails the page. When
the tests run against the installed Debian packages
(MAILGRANTS_INSTALLED=deb, make check-deb), the installed, compressed
copies are rendered as well.
"""

import glob
import os
import shutil
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PAGES = sorted(glob.glob(os.path.join(REPO, "doc", "*.[1-8]")))
if os.environ.get("MAILGRANTS_INSTALLED") == "deb":
    PAGES += ["/usr/share/man/man%s/%s.gz" % (p[-1], os.path.basename(p))
              for p in list(PAGES)]


def test_pages_exist():
    names = {os.path.basename(p) for p in PAGES}
    for page in ("mailgrants.1", "mailgrants.conf.5",
                 "mailgrants-policyd.8", "mailgrants-milter.8"):
        assert page in names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.replace("/", "_"))
def test_man_renders_without_warnings(page):
    assert shutil.which("man"), "man missing (package man-db)"
    assert os.path.exists(page), page
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8",
               MAN_KEEP_STDERR="1")
    env.pop("MANPAGER", None)
    env.pop("PAGER", None)
    r = subprocess.run(["man", "--warnings", "-l", page], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    name = os.path.basename(page).split(".")[0].upper()
    assert "NAME" in r.stdout and name in r.stdout.upper()


# ---------------------------------------------- the guide, kept true

import re  # noqa: E402

README = os.path.join(REPO, "README.md")
README_DEBIAN = os.path.join(REPO, "debian", "mailgrants.README.Debian")


def readme():
    with open(README) as f:
        return f.read()


def code_blocks(text):
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M)


def step4_ldif(text):
    """The heredoc of step 4: what an admin pastes into ldapadd."""
    for block in code_blocks(text):
        m = re.match(r"ldapadd -x -D (\S+) -W <<EOF\n(.*)^EOF\n$", block,
                     re.S | re.M)
        if m:
            return m.group(1), m.group(2)
    raise AssertionError("step 4's ldapadd block not found in README.md")


def test_readme_ldif_loads_as_shown():
    """Step 4's LDIF, pasted as shown (only the slappasswd output put
    in), loads into a slapd with the access rules in place, as the
    rootdn it names; the sync identity then binds with its password (a
    comment after userPassword: would have become part of it), and the
    mail-admins group the rules name exists, with its container."""
    from slapd import Slapd
    binddn, ldif = step4_ldif(readme())
    assert "userPassword: {SSHA}...\n" in ldif
    for line in ldif.splitlines():
        assert "#" not in line or line.startswith("#"), \
            "a comment inside an LDIF line: %r" % line
    pw = "sync-secret-from-guide"
    hashed = subprocess.run(["slappasswd", "-s", pw], capture_output=True,
                            text=True, check=True).stdout.strip()
    with Slapd(ldif=None, access=True) as s:
        assert binddn == s.rootdn
        rc, out, err = s.ldapadd("dn: %s\nobjectClass: dcObject\n"
                                 "objectClass: organization\ndc: example\n"
                                 "o: example\n" % s.base, root=True)
        assert rc == 0, err
        rc, out, err = s.ldapadd(ldif.replace("{SSHA}...", hashed),
                                 root=True)
        assert rc == 0, "README step 4 does not load: %s" % err
        rc, out, err = s.ldapwhoami(binddn=s.sync_dn, password=pw)
        assert rc == 0 and s.sync_dn in out, err
        rc, entries, err = s.search("(cn=mail-admins)", root=True)
        assert rc == 0 and len(entries) == 1, err
        assert entries[0][0] == "cn=mail-admins,ou=groups," + s.base
        # access.ldif names that very group.
        with open(os.path.join(REPO, "ldap-schema", "access.ldif")) as f:
            assert 'group.exact="%s"' % entries[0][0] in f.read()


def test_readme_says_access_rules_break_other_lookups():
    text = readme()
    assert "lookups that worked before\nstop working" in text
    assert "Postfix `ldap:` table or a Dovecot passdb/userdb" in text


def test_readme_single_host_ldap_without_starttls():
    text = readme()
    conf = [b for b in code_blocks(text) if b.startswith("ldap_uri =")][0]
    assert "ldap_uri = ldapi:///\nldap_starttls = no\n" in conf
    assert "the server offers no STARTTLS" in text


def test_conf_mode_as_the_package_installs_it():
    """README and README.Debian say what debian/rules installs."""
    with open(os.path.join(REPO, "debian", "rules")) as f:
        rules = f.read()
    assert re.search(r"install -D -m 0644 cli/mailgrants.conf.example "
                     r"\\\n\s+debian/tmp/etc/mailgrants/mailgrants.conf",
                     rules)
    with open(README_DEBIAN) as f:
        assert re.search(r"/etc/mailgrants/mailgrants.conf\s+root:root 0644",
                         f.read())
    assert "The configuration holds no secret\n(`root:root`, 0644)" \
        in readme()


def test_no_reference_to_files_not_shipped():
    """DESIGN.md is in neither the tree nor the packages."""
    assert not os.path.exists(os.path.join(REPO, "DESIGN.md"))
    shipped = [README, os.path.join(REPO, "ldap-schema", "README.md")]
    shipped += glob.glob(os.path.join(REPO, "ldap-schema", "*.ldif"))
    shipped += glob.glob(os.path.join(REPO, "ldap-schema", "*.schema"))
    shipped += glob.glob(os.path.join(REPO, "ldap-schema", "examples", "*"))
    shipped += glob.glob(os.path.join(REPO, "doc", "*.[1-8]"))
    shipped += glob.glob(os.path.join(REPO, "debian", "*README*"))
    for path in shipped:
        with open(path) as f:
            assert "DESIGN" not in f.read(), path


def test_readme_build_and_install_steps():
    text = readme()
    build = [b for b in code_blocks(text) if "dpkg-buildpackage" in b][0]
    lines = build.splitlines()
    assert lines[0] == "sudo apt-get build-dep ./"
    assert lines[1].startswith("dpkg-buildpackage ")
    assert "land in the directory *above* the\ntree" in text
    assert "restarts a running Dovecot" in text


def test_dovecot_module_dir_restarts_dovecot():
    """What README says of installing dovecot-mailgrants: the plugin
    goes where dovecot-core's trigger restarts Dovecot."""
    with open(os.path.join(REPO, "debian",
                           "dovecot-mailgrants.install")) as f:
        assert "usr/lib/dovecot/modules/" in f.read()
    with open("/var/lib/dpkg/info/dovecot-core.triggers") as f:
        assert "interest-noawait /usr/lib/dovecot/modules" in f.read()
    with open("/var/lib/dpkg/info/dovecot-core.postinst") as f:
        assert "invoke-rc.d dovecot restart" in f.read()


def test_readme_debian_does_not_append_master_cf_snippet():
    with open(README_DEBIAN) as f:
        text = f.read()
    assert "merge /usr/share/mailgrants/postfix/*.snippet" not in text
    assert "Do not append\n    master.cf.snippet as a whole" in text


def _help(argv):
    r = subprocess.run(argv + ["--help"], capture_output=True, text=True,
                       timeout=30)
    return r.stdout + r.stderr


def test_start_commands_without_systemd(build_dir):
    """The start-stop-daemon lines use options that exist, and the same
    command lines as the units."""
    text = readme()
    block = [b for b in code_blocks(text)
             if b.startswith("start-stop-daemon")][0]
    joined = block.replace("\\\n", " ")
    ssd = _help(["start-stop-daemon"])
    build = build_dir
    helps = {
        "/usr/bin/mailgrants": _help([os.path.join(build, "mailgrants")]),
        "/usr/sbin/mailgrants-policyd":
            _help([os.path.join(build, "mailgrants-policyd")]),
        "/usr/sbin/mailgrants-milter":
            _help([os.path.join(build, "mailgrants-milter")]),
    }
    seen = set()
    for line in joined.splitlines():
        if line.startswith("#"):
            line = line.split(":", 1)[1].strip()
        ours, _, theirs = line.partition(" -- ")
        for opt in re.findall(r"(--[a-z-]+)", ours):
            assert opt in ssd, "start-stop-daemon has no %s" % opt
        m = re.search(r"--exec (\S+)", ours)
        if not m:
            continue
        exe = m.group(1)
        seen.add(exe)
        for opt in re.findall(r"(?:^|\s)(--?[a-z][a-z-]*)", theirs):
            assert opt in helps[exe], "%s has no %s" % (exe, opt)
    assert seen == set(helps)
    # The same command lines as the units.
    for unit, exe in (("postfix-policyd/mailgrants-policyd.service",
                       "mailgrants-policyd"),
                      ("postfix-policyd/mailgrants-milter.service",
                       "mailgrants-milter")):
        with open(os.path.join(REPO, unit)) as f:
            u = f.read().replace("\\\n", " ")
        listen = " ".join("--listen " + s for s in
                          re.findall(r"--listen (\S+)", u))
        assert "%s --user mailgrantsd" % listen in re.sub(
            r"[ \t]+", " ", joined), exe
    # The share service: its unit's command, user and group, and the
    # directory systemd makes for it (RuntimeDirectory=, its mode).
    with open(os.path.join(REPO, "cli", "mailgrants-share.service")) as f:
        u = dict(re.findall(r"^(\w+)=(.*)$", f.read(), re.M))
    flat = re.sub(r"[ \t]+", " ", joined)
    exe, _, args = u["ExecStart"].partition(" ")
    assert "--chuid %s:%s --umask %s --exec %s -- %s\n" % (
        u["User"], u["Group"], u["UMask"][1:], exe, args) in flat, flat
    assert "install -d -o %s -g %s -m %s /run/%s\n" % (
        u["User"], u["Group"], u["RuntimeDirectoryMode"],
        u["RuntimeDirectory"]) in flat, flat


def test_units_remove_their_sockets_after_exit():
    """The daemons drop to mailgrantsd and cannot unlink in Postfix's
    private/ on exit: each unit removes its --listen socket afterwards,
    and README's stop line does the same."""
    joined = " ".join(code_blocks(readme())).replace("\\\n", " ")
    for unit in ("mailgrants-policyd.service", "mailgrants-milter.service"):
        with open(os.path.join(REPO, "postfix-policyd", unit)) as f:
            u = f.read().replace("\\\n", " ")
        # Every socket it listens on, the socketmap's too.
        paths = " ".join(re.findall(r"--listen (?:socketmap:)?unix:(\S+)",
                                    u))
        assert "\nExecStopPost=-/bin/rm -f %s\n" % paths in u, unit
        if unit == "mailgrants-policyd.service":
            assert "rm -f %s\n" % paths in joined


# ------------------------------------- one source per page, kept whole
#
# The manual pages in doc/ are the one description of the programs and
# the configuration (the source files' header blocks only point at
# them): every option a program's --help offers, and every key of the
# configuration table, must be in its page; every plugin setting in the
# shipped 90-mailgrants.conf and in README.md.

def page_text(name):
    """A page's troff source as it reads: font escapes and \\- undone."""
    with open(os.path.join(REPO, "doc", name)) as f:
        text = f.read()
    text = re.sub(r"\\f(?:\[[A-Z]*\]|[BIRP])", "", text)
    return text.replace("\\-", "-").replace("\\&", "").replace("\\e", "\\")


def help_options(argv):
    """The options a --help names: -c and every --long one."""
    out = _help(argv)
    assert "usage:" in out, out
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-z])\b", out))


def source_options(path):
    """The long options of every getopt_long table of a source file."""
    with open(os.path.join(REPO, path)) as f:
        src = f.read()
    return {"--" + o for o in re.findall(
        r'\{\s*"([a-z][a-z-]*)",\s*(?:no|required|optional)_argument', src)}


CLI_SOURCES = ("cli/mailgrants.c", "cli/share.c", "cli/share-service.c",
               "cli/sync.c", "cli/follow.c", "cli/check-fe.c",
               "cli/check-ids.c", "cli/trail.c")


@pytest.mark.parametrize("prog,page,sources", [
    ("mailgrants", "mailgrants.1", CLI_SOURCES),
    ("mailgrants-policyd", "mailgrants-policyd.8",
     ("postfix-policyd/mailgrants-policyd.c",)),
    ("mailgrants-milter", "mailgrants-milter.8",
     ("postfix-policyd/mailgrants-milter.c",)),
])
def test_page_has_every_option(build_dir, prog, page, sources):
    """Every option of --help (of each command, for mailgrants) is in the
    page, and --help offers every option the program parses."""
    exe = os.path.join(build_dir, prog)
    opts = help_options([exe])
    if prog == "mailgrants":
        commands = re.findall(r"mailgrants \[-c config\] (\w+)",
                              _help([exe]))
        assert {"sync", "share", "check"} <= set(commands), commands
        for cmd in set(commands):
            opts |= help_options([exe, cmd])
    parsed = set()
    for src in sources:
        if os.path.exists(os.path.join(REPO, src)):
            parsed |= source_options(src)
    assert parsed, sources
    # --config is -c's long name; --help shows the short one.
    missing = parsed - opts - {"--help", "--config"}
    assert not missing, "%s parses but --help does not offer %s" % (
        prog, sorted(missing))
    text = page_text(page)
    missing = sorted(o for o in opts | parsed if o not in text)
    assert not missing, "%s lacks %s" % (page, missing)


def config_keys():
    with open(os.path.join(REPO, "lib", "config.c")) as f:
        keys = re.findall(r"^\s*[SBUAF]\((\w+),", f.read(), re.M)
    assert len(keys) >= 40, "config table not found in lib/config.c"
    return keys


def test_conf_page_has_every_key():
    text = page_text("mailgrants.conf.5")
    missing = [k for k in config_keys()
               if not re.search(r"^\.(?:TP|B|IP)\b.*\b%s\b|^%s\b" % (k, k),
                                text, re.M)]
    assert not missing, "mailgrants.conf.5 describes no %s" % missing


# Plugin settings that come from the passdb, per login, not from a file.
USERDB_SETTINGS = {"mailgrants_share_password"}
# Settings of a part a site turns on (sharing from mail clients needs
# the share service and the passdb's password): shown commented out.
OPT_IN_SETTINGS = {"mailgrants_share_socket"}


def test_plugin_settings_documented():
    settings = set()
    for src in glob.glob(os.path.join(REPO, "dovecot-plugin", "*.c")):
        with open(src) as f:
            settings |= set(re.findall(r'"(mailgrants_\w+)"', f.read()))
    assert "mailgrants_replica" in settings, settings
    with open(os.path.join(REPO, "dovecot-plugin",
                           "90-mailgrants.conf")) as f:
        conf = f.read()
    text = readme()
    for s in sorted(settings):
        if s in USERDB_SETTINGS:
            # set by the passdb for each login, named in a comment
            assert "userdb_" + s in conf, \
                "90-mailgrants.conf does not name %s" % s
        else:
            assert re.search(r"^\s*%s%s = \S"
                             % ("#" if s in OPT_IN_SETTINGS else "", s),
                             conf, re.M), \
                "90-mailgrants.conf does not set %s" % s
        assert s in text or s.endswith("_prefix"), \
            "README.md does not name %s" % s
