"""make install, and the installed Debian packages.

Two subjects, one set of expectations:

- make install into a temporary DESTDIR (the normal run, "make check"):
  with PREFIX=/usr and with an unusual PREFIX/SYSCONFDIR, so that the
  units are seen to name the installed binaries and configuration;
- the files the Debian packages installed on this machine, when
  MAILGRANTS_INSTALLED=deb ("make check-deb", which also points
  MAILGRANTS_BUILD at links to the installed binaries): the same list
  from dpkg -L, plus what the maintainer scripts do (the writer
  mailgrants, the readers' group mailgrants-read and the daemons' user
  mailgrantsd in it and not in mailgrants, the permissions of
  /etc/mailgrants and /var/lib/mailgrants, nothing enabled, nothing put
  into Dovecot's conf.d), and the identities at work: a sync as
  mailgrants into /var/lib/mailgrants, the installed policy daemon as
  mailgrantsd deciding from it, mailgrantsd unable to write the replica
  or read the bind password, mailgrants check saying so.

Units: the sync runs as mailgrants (User=), the daemons drop to
mailgrantsd (--user); the sync's unit has no StateDirectory= (systemd
would give the directory and the replica to the sync's group at each
start, away from the readers).

Either way the example configuration must list every key of
lib/config.c with its default, and be accepted by the installed
mailgrants when every line is uncommented.
"""

import glob
import grp
import os
import pwd
import re
import shutil
import stat
import subprocess

import pytest

from dovecot import dovecot_version, is_24

INSTALLED = os.environ.get("MAILGRANTS_INSTALLED", "")
MODULEDIR = "/usr/lib/dovecot/modules"
PACKAGES = ("mailgrants", "postfix-mailgrants", "dovecot-mailgrants")

# (package, path relative to the install root, executable?)
# %B bindir, %S sbindir, %M mandir, %D datadir, %U systemd unit dir.
FILES = [
    ("mailgrants", "%B/mailgrants", True),
    ("mailgrants", "%M/man1/mailgrants.1", False),
    ("mailgrants", "%M/man5/mailgrants.conf.5", False),
    ("mailgrants", "%D/mailgrants.conf.example", False),
    ("mailgrants", "%D/schema/mailgrants.schema", False),
    ("mailgrants", "%D/schema/mailgrants.ldif", False),
    ("mailgrants", "%D/schema/access.ldif", False),
    ("mailgrants", "%D/examples/abc.ldif", False),
    ("mailgrants", "%U/mailgrants-sync.service", False),
    ("mailgrants", "%U/mailgrants-share.service", False),
    ("postfix-mailgrants", "%S/mailgrants-policyd", True),
    ("postfix-mailgrants", "%S/mailgrants-milter", True),
    ("postfix-mailgrants", "%M/man8/mailgrants-policyd.8", False),
    ("postfix-mailgrants", "%M/man8/mailgrants-milter.8", False),
    ("postfix-mailgrants", "%D/postfix/main.cf.snippet", False),
    ("postfix-mailgrants", "%D/postfix/master.cf.snippet", False),
    ("postfix-mailgrants", "%D/postfix/milter.main.cf.snippet", False),
    ("postfix-mailgrants", "%D/postfix/delivery.main.cf.snippet", False),
    ("postfix-mailgrants", "%U/mailgrants-policyd.service", False),
    ("postfix-mailgrants", "%U/mailgrants-milter.service", False),
    ("dovecot-mailgrants", MODULEDIR + "/lib20_mailgrants_plugin.so",
     False),
    ("dovecot-mailgrants", MODULEDIR + "/lib21_imap_mailgrants_plugin.so",
     False),
    ("dovecot-mailgrants", MODULEDIR + "/lib95_lmtp_mailgrants_plugin.so",
     False),
    ("dovecot-mailgrants", "%D/dovecot/90-mailgrants.conf", False),
    ("dovecot-mailgrants", "%D/dovecot/91-mailgrants-userdb.conf", False),
    ("dovecot-mailgrants", "%D/dovecot/90-mailgrants-2.4.conf", False),
    ("dovecot-mailgrants", "%D/dovecot/91-mailgrants-userdb-2.4.conf",
     False),
    ("dovecot-mailgrants", "%D/dovecot/dovecot-mailgrants-sql.conf.ext",
     False),
]
if is_24():
    # Dovecot 2.4's config process learns our keys from it.
    FILES.append(("dovecot-mailgrants",
                  MODULEDIR + "/settings/libmailgrants_settings.so", False))

UNITS = {
    "mailgrants-sync.service": "%B/mailgrants",
    "mailgrants-share.service": "%B/mailgrants",
    "mailgrants-policyd.service": "%S/mailgrants-policyd",
    "mailgrants-milter.service": "%S/mailgrants-milter",
}

# Who each unit runs as: the writer, or the readers' daemon user; the
# share service as the writer's user in the readers' group, which owns
# its socket (Dovecot's mail processes connect through it).
UNIT_USERS = {
    "mailgrants-sync.service": r"^User=mailgrants\nGroup=mailgrants\n",
    "mailgrants-share.service": r"^User=mailgrants\nGroup=mailgrants-read\n"
                                r"SupplementaryGroups=mailgrants\n",
    "mailgrants-policyd.service": r"--user mailgrantsd\n",
    "mailgrants-milter.service": r"--user mailgrantsd\n",
}


def layout(prefix, sysconfdir, unitdir):
    return {"%B": prefix + "/bin", "%S": prefix + "/sbin",
            "%M": prefix + "/share/man", "%D": prefix + "/share/mailgrants",
            "%U": unitdir, "%E": sysconfdir}


def expand(path, lay):
    for k, v in lay.items():
        path = path.replace(k, v)
    return path


def make_install(repo_dir, build_dir, destdir, **vars):
    """make install of the built tree ($MAILGRANTS_BUILD) into destdir."""
    args = ["make", "-s", "-C", repo_dir, "B=" + build_dir,
            "DESTDIR=" + destdir, "install"]
    args += ["%s=%s" % kv for kv in vars.items()]
    # Not the flags of a make that runs these tests (make check).
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    r = subprocess.run(args, capture_output=True, text=True, timeout=300,
                       env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    found = set()
    for dirpath, _, files in os.walk(destdir):
        for f in files:
            found.add("/" + os.path.relpath(os.path.join(dirpath, f),
                                            destdir))
    return found


def unit_exec(text):
    """ExecStart= of a unit, continuation lines joined, as a word list."""
    text = text.replace("\\\n", " ")
    m = re.search(r"^ExecStart=(.*)$", text, re.M)
    assert m, "no ExecStart="
    return m.group(1).split()


def check_units(root, lay):
    """Each unit starts the installed binary with the installed config."""
    conf = lay["%E"] + "/mailgrants/mailgrants.conf"
    for unit, binary in UNITS.items():
        path = root + lay["%U"] + "/" + unit
        with open(path) as f:
            text = f.read()
        argv = unit_exec(text)
        assert argv[0] == expand(binary, lay), (unit, argv)
        exe = root + argv[0]
        assert os.path.isfile(exe) and os.access(exe, os.X_OK), exe
        assert argv[argv.index("-c") + 1] == conf, (unit, argv)
        # Every absolute path of the source unit was rewritten or is a
        # system path that is not ours.
        for p in re.findall(r"(?<![\w/.-])(/(?:usr|etc)/[\w/.-]*"
                            r"mailgrants[\w/.-]*)", text):
            assert p.startswith(lay["%E"]) or p.startswith(lay["%B"]) \
                or p.startswith(lay["%S"]), (unit, p)
        for page in re.findall(r"man:([\w.-]+)\((\d)\)", text):
            man = "%s%s/man%s/%s.%s" % (root, lay["%M"], page[1], page[0],
                                        page[1])
            assert os.path.exists(man) or os.path.exists(man + ".gz"), man
        assert re.search(UNIT_USERS[unit], text, re.M), unit
        assert "--user mailgrants\n" not in text, unit
        assert not re.search(r"^StateDirectory", text, re.M), unit
    check_share_unit(root, lay)


def check_share_unit(root, lay):
    """The share service listens where the shipped Dovecot snippets
    point mailgrants_share_socket, in the directory systemd makes for
    it (RuntimeDirectory, 0750: only the socket's group gets in), and
    writes nothing else (ProtectSystem=strict, no ReadWritePaths=: the
    replica stays read-only to it)."""
    with open(root + lay["%U"] + "/mailgrants-share.service") as f:
        text = f.read()
    argv = unit_exec(text)
    assert argv[argv.index("-c") + 2:argv.index("--socket")] == \
        ["share-service"], argv
    sock = argv[argv.index("--socket") + 1]
    rundir = os.path.dirname(sock)
    assert rundir.startswith("/run/"), sock
    settings = dict(re.findall(r"^(\w+)=(.*)$", text, re.M))
    assert settings["RuntimeDirectory"] == rundir[len("/run/"):], text
    assert settings["RuntimeDirectoryMode"] == "0750", text
    assert settings["ProtectSystem"] == "strict", text
    assert "ReadWritePaths" not in settings, text
    for name in ("90-mailgrants.conf", "90-mailgrants-2.4.conf"):
        with open(root + lay["%D"] + "/dovecot/" + name) as f:
            m = re.search(r"^\s*#?\s*mailgrants_share_socket = (\S+)$",
                          f.read(), re.M)
        assert m and m.group(1) == sock, name


def check_example_conf(repo_dir, example, mailgrants, tmp_path):
    """Every key with its default; uncommented, the binary accepts it."""
    with open(os.path.join(repo_dir, "lib", "config.c")) as f:
        src = f.read()
    table = {k: "".join(re.findall(r'"([^"]*)"', v)) for k, v in
             re.findall(r'^\s*[SBUAF]\((\w+),\s*((?:"[^"]*"\s*)+)\)', src,
                        re.M)}
    # Defaults named by a constant of a header: CONFIG_STR(NAME).
    defines = {}
    for h in glob.glob(os.path.join(repo_dir, "lib", "*.h")):
        with open(h) as f:
            defines.update(re.findall(r"^#define (\w+) (\S+)$", f.read(),
                                      re.M))
    for k, name in re.findall(r"^\s*[SBUAF]\((\w+),\s*CONFIG_STR\((\w+)\)\)",
                              src, re.M):
        assert name in defines, (k, name)
        table[k] = defines[name]
    keys = re.findall(r"^\s*[SBUAF]\((\w+),", src, re.M)
    assert len(keys) >= 40, "config table not found in lib/config.c"
    assert set(table) == set(keys), set(keys) ^ set(table)
    listed = {}
    with open(example) as f:
        lines = f.read().splitlines()
    for line in lines:
        m = re.match(r"#(\w+) =(?: (.*))?$", line)
        if m:
            listed[m.group(1)] = m.group(2) or ""
    assert listed == table
    conf = tmp_path / "uncommented.conf"
    body = [re.sub(r"^#(\w+ =)", r"\1", line) for line in lines]
    # The default replica may exist on this machine; this one does not.
    body.append("replica = %s" % (tmp_path / "none.db"))
    conf.write_text("\n".join(body) + "\n")
    r = subprocess.run([mailgrants, "-c", str(conf), "explain",
                        "a@example.org", "b@example.org"],
                       capture_output=True, text=True, timeout=30)
    # 2: the replica is unavailable, i.e. the configuration was read.
    assert r.returncode == 2, r.stderr
    assert "none.db" in r.stderr, r.stderr


def test_every_man_page_is_installed(repo_dir):
    pages = {os.path.basename(p) for p in
             glob.glob(os.path.join(repo_dir, "doc", "*.[1-8]"))}
    listed = {os.path.basename(p) for _, p, _ in FILES if "%M/" in p}
    assert pages and pages == listed


def debian_release():
    """This machine's Debian release (os-release's VERSION_ID), e.g. 12."""
    with open("/etc/os-release") as f:
        m = re.search(r'^VERSION_ID="?(\d+)', f.read(), re.M)
    assert m, "no VERSION_ID in /etc/os-release"
    return int(m.group(1))


def deb_unitdir():
    """Where the packages put units: Debian 12 keeps them in /lib (the
    /usr-merge moratorium), from Debian 13 on they are in /usr/lib."""
    if debian_release() <= 12:
        return "/lib/systemd/system"
    return "/usr/lib/systemd/system"


def deb_files(pkg):
    r = subprocess.run(["dpkg-query", "-L", pkg], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    return {p for p in r.stdout.splitlines()
            if os.path.isfile(p) and not p.startswith("/usr/share/doc/")}


if INSTALLED == "deb":
    def test_installed_packages(repo_dir, build_dir, tmp_path):
        lay = layout("/usr", "/etc", deb_unitdir())
        for pkg in PACKAGES:
            want = {expand(p, lay) for owner, p, _ in FILES if owner == pkg}
            want = {p + ".gz" if "/share/man/" in p else p for p in want}
            if pkg == "mailgrants":
                want.add("/etc/mailgrants/mailgrants.conf")
            assert deb_files(pkg) == want, pkg
        for _, p, exe in FILES:
            p = expand(p, lay)
            if "/share/man/" in p:
                p += ".gz"
            mode = os.stat(p).st_mode
            assert stat.S_IMODE(mode) == (0o755 if exe else 0o644), p
        check_units("", lay)
        # systemd's own check: syntax, the binaries, the man pages.
        r = subprocess.run(["systemd-analyze", "verify"] +
                           [lay["%U"] + "/" + u for u in UNITS],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout + r.stderr == "", \
            r.stdout + r.stderr
        # The tests' binaries are these (no test replaced the links).
        for name in ("mailgrants", "mailgrants-policyd", "mailgrants-milter",
                     "dovecot-plugin/lib20_mailgrants_plugin.so",
                     "dovecot-plugin/lib21_imap_mailgrants_plugin.so",
                     "dovecot-plugin/lib95_lmtp_mailgrants_plugin.so"):
            assert os.path.realpath(os.path.join(build_dir, name)) \
                .startswith(("/usr/", "/lib/")), name

        conffiles = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Conffiles}", "mailgrants"],
            capture_output=True, text=True, check=True).stdout
        assert "/etc/mailgrants/mailgrants.conf " in conffiles
        with open("/etc/mailgrants/mailgrants.conf") as f, \
                open(os.path.join(repo_dir, "cli",
                                  "mailgrants.conf.example")) as g:
            assert f.read() == g.read()
        check_example_conf(repo_dir, "/usr/share/mailgrants/"
                           "mailgrants.conf.example",
                           "/usr/bin/mailgrants", tmp_path)

        # The maintainer scripts: the writer mailgrants (its group is
        # its own), the readers' group mailgrants-read, the daemons'
        # user mailgrantsd in it and not in mailgrants; the permissions
        # of the directories.
        user = pwd.getpwnam("mailgrants")
        group = grp.getgrnam("mailgrants")
        readers = grp.getgrnam("mailgrants-read")
        daemon = pwd.getpwnam("mailgrantsd")
        assert user.pw_uid < 1000 and user.pw_gid == group.gr_gid
        assert user.pw_dir == "/var/lib/mailgrants"
        assert daemon.pw_uid < 1000 and daemon.pw_gid not in \
            (group.gr_gid, readers.gr_gid, 0)
        for pw in (user, daemon):
            assert pw.pw_shell in ("/usr/sbin/nologin", "/bin/false")
        assert group.gr_mem == []
        assert readers.gr_mem == ["mailgrantsd"]
        assert sorted(os.getgrouplist("mailgrantsd", daemon.pw_gid)) == \
            sorted([daemon.pw_gid, readers.gr_gid])
        assert os.getgrouplist("mailgrants", user.pw_gid) == [group.gr_gid]
        for path, owner, grp_name, mode in (
                ("/var/lib/mailgrants", "mailgrants", "mailgrants-read",
                 0o2750),
                ("/etc/mailgrants", "root", "root", 0o755),
                ("/etc/mailgrants/mailgrants.conf", "root", "root", 0o644)):
            st = os.stat(path)
            assert pwd.getpwuid(st.st_uid).pw_name == owner, path
            assert grp.getgrgid(st.st_gid).gr_name == grp_name, path
            assert stat.S_IMODE(st.st_mode) == mode, (path,
                                                      oct(st.st_mode))
        r = subprocess.run(["dpkg-statoverride", "--list",
                            "/etc/mailgrants"], capture_output=True,
                           text=True)
        assert r.stdout == "", r.stdout

        # Nothing enabled, nothing in Dovecot's live configuration.
        for unit in UNITS:
            assert not glob.glob("/etc/systemd/system/*.wants/" + unit)
        assert not glob.glob("/etc/dovecot/conf.d/*mailgrants*")

        assert "postfix" in subprocess.run(
            ["dpkg-query", "-W", "-f", "${Depends}", "postfix-mailgrants"],
            capture_output=True, text=True, check=True).stdout

    def test_installed_dovecot_plugin(tmp_path):
        """dovecot-mailgrants fits the Dovecot it was built against, this
        machine's: it depends on the ABI that dovecot-core provides
        (2.3.abiv19 on Debian 12, 2.4.abiv1 on 13), and the installed
        doveconf accepts the mailgrants settings of the package's
        snippet for this version. On 2.4 that takes the package's
        settings module in the module directory's settings/: without
        it doveconf stops with "mailgrants_replica: Unknown setting"."""
        def query(fmt, pkg):
            return subprocess.run(["dpkg-query", "-W", "-f", fmt, pkg],
                                  capture_output=True, text=True,
                                  check=True).stdout
        with open("/usr/share/dovecot/dovecot-abi") as f:
            abi = f.read().strip()
        assert abi.startswith("%d.%d.abiv" % dovecot_version()[:2]), abi
        provides = [p.strip() for p in
                    query("${Provides}", "dovecot-core").split(",")]
        assert "dovecot-abi-" + abi in provides, provides
        depends = [d.strip() for d in
                   query("${Depends}", "dovecot-mailgrants").split(",")]
        assert "dovecot-abi-" + abi in depends, depends

        settings = MODULEDIR + "/settings/libmailgrants_settings.so"
        share = "/usr/share/mailgrants/dovecot/"
        conf = tmp_path / "dovecot.conf"
        if is_24():
            assert settings in deb_files("dovecot-mailgrants")
            conf.write_text("dovecot_config_version = 2.4.0\n"
                            "dovecot_storage_version = 2.4.0\n"
                            "!include %s90-mailgrants-2.4.conf\n" % share)
            section = ""
        else:
            assert not os.path.exists(settings)
            conf.write_text("!include %s90-mailgrants.conf\n" % share)
            section = "plugin/"

        def doveconf(key):
            r = subprocess.run(["doveconf", "-c", str(conf), "-h", key],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r.stderr
            return r.stdout.strip()
        assert doveconf(section + "mailgrants_replica") == \
            "/var/lib/mailgrants/grants.db"
        assert doveconf(section + "mailgrants_cache_secs") == "30"
        # 2.3: " acl mailgrants"; 2.4 (a boollist): "acl = yes", a line each.
        plugins = doveconf("mail_plugins")
        assert "mailgrants" in plugins.replace("= yes", "").split(), plugins

    def test_installed_identities(slapd, build_dir):
        """The packaged identities at work: the sync as mailgrants
        writes /var/lib/mailgrants (files mailgrants:mailgrants-read
        0640, by the set-group-ID directory alone: replica_group is
        left empty here); the installed policy daemon, started as root
        with the unit's --user mailgrantsd, decides from it holding
        every replica file read-only; mailgrantsd reads the replica
        and cannot write it or read the bind password
        (root:mailgrants 0640); mailgrants check says all that."""
        from daemonutil import make_workdir
        from policyd import Policyd
        from privsep import as_user, assert_ids, assert_reader_only, \
            fds_of, probe_as
        lib = "/var/lib/mailgrants"
        replica = lib + "/grants.db"
        assert not os.path.exists(replica), "a replica exists already"
        wd = make_workdir("mg-install-ids-")
        try:
            conf = os.path.join(wd, "mailgrants.conf")
            pwfile = os.path.join(wd, "bind.pw")
            slapd.write_config(conf, replica=replica,
                               ldap_bind_password_file=pwfile)
            os.unlink(conf + ".ldap-password")
            os.chmod(conf, 0o644)
            with open(pwfile, "w") as f:
                f.write(slapd.sync_pw + "\n")
            os.chown(pwfile, 0, grp.getgrnam("mailgrants").gr_gid)
            os.chmod(pwfile, 0o640)
            mg = os.path.join(build_dir, "mailgrants")
            for _ in range(2):      # a new replica, then a rewrite
                r = subprocess.run([mg, "-c", conf, "sync", "--once"],
                                   capture_output=True, text=True,
                                   timeout=60,
                                   preexec_fn=as_user("mailgrants"))
                assert r.returncode == 0, r.stdout + r.stderr
                for suffix in ("", "-wal", "-shm"):
                    st = os.stat(replica + suffix)
                    assert (pwd.getpwuid(st.st_uid).pw_name,
                            grp.getgrgid(st.st_gid).gr_name,
                            stat.S_IMODE(st.st_mode)) == \
                        ("mailgrants", "mailgrants-read", 0o640), suffix
            # (The sync, as mailgrants, has read the password.)
            assert_reader_only(probe_as("mailgrantsd", replica, pwfile))

            run_dir = os.path.join(wd, "run")
            os.mkdir(run_dir)
            os.chmod(run_dir, 0o755)
            p = Policyd(build_dir, conf, run_dir, user="mailgrantsd")
            try:
                assert_ids(p.pid, "mailgrantsd")
                assert p.ask("sandra.schuster@abc.com",
                             "info@abc.com") == "DUNNO", p.log()
                assert p.ask("sandra.schuster@abc.com",
                             "peter.mueller@abc.com").startswith(
                                 "REJECT 5.7.1")
                fds = fds_of(p.pid, lib)
                assert replica in fds, fds
                assert all(m == {os.O_RDONLY} for m in fds.values()), fds
                assert "warning" not in p.log(), p.log()
            finally:
                p.stop()

            r = subprocess.run([mg, "-c", conf, "check"],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stdout + r.stderr
            assert "writer:    mailgrants (owns %s)\n" % replica in r.stdout
            assert "readers:   group mailgrants-read (the replica's group; "\
                "replica_group is not set): mailgrantsd\n" in r.stdout, \
                r.stdout
            assert "1 reader reads the replica and nothing else: ok" in \
                r.stdout, r.stdout
        finally:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(replica + suffix):
                    os.unlink(replica + suffix)
            shutil.rmtree(wd, ignore_errors=True)
    def test_installed_share_service(slapd, build_dir):
        """The installed share service with the identity of its unit
        (user mailgrants, group mailgrants-read, supplementary group
        mailgrants, umask 0027) on a socket in a directory as systemd
        makes RuntimeDirectory= (mailgrants:mailgrants-read 0750): the
        socket is mailgrants:mailgrants-read 0660; a process with the
        mail user's identity as Dovecot gives it (mail_gid plus
        mail_access_groups mailgrants-read) gets the probe's answer and
        a request's (the login looked up with the bind password of
        mailgrants.conf, root:mailgrants 0640; nothing to delete, so
        nothing is written); without mailgrants-read it cannot
        connect."""
        import example
        from daemonutil import kill_group, make_workdir, wait_for
        user = pwd.getpwnam("mailgrants")
        readers = grp.getgrnam("mailgrants-read").gr_gid
        writer = grp.getgrnam("mailgrants").gr_gid
        nobody = pwd.getpwnam("nobody")
        wd = make_workdir("mg-install-share-")
        proc = None
        try:
            os.chmod(wd, 0o755)
            conf = os.path.join(wd, "mailgrants.conf")
            pwfile = os.path.join(wd, "bind.pw")
            slapd.write_config(conf, replica=os.path.join(wd, "none.db"),
                               ldap_bind_password_file=pwfile)
            os.unlink(conf + ".ldap-password")
            os.chmod(conf, 0o644)
            with open(pwfile, "w") as f:
                f.write(slapd.sync_pw + "\n")
            os.chown(pwfile, 0, writer)
            os.chmod(pwfile, 0o640)
            rundir = os.path.join(wd, "mailgrants-share")
            os.mkdir(rundir)
            os.chown(rundir, user.pw_uid, readers)
            os.chmod(rundir, 0o750)
            sock = os.path.join(rundir, "share.sock")
            log = open(os.path.join(wd, "service.log"), "w")

            def as_unit():
                os.setgroups([writer])
                os.setgid(readers)
                os.setuid(user.pw_uid)
                os.umask(0o027)
            proc = subprocess.Popen(
                [os.path.join(build_dir, "mailgrants"), "-c", conf,
                 "share-service", "--socket", sock],
                stdout=subprocess.DEVNULL, stderr=log,
                preexec_fn=as_unit, start_new_session=True)
            wait_for(lambda: os.path.exists(sock), timeout=10,
                     what="the share service's socket")
            st = os.stat(sock)
            assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == \
                (user.pw_uid, readers, 0o660)

            def ask(groups, request):
                def as_mail():
                    os.setgroups(groups)
                    os.setgid(nobody.pw_gid)
                    os.setuid(nobody.pw_uid)
                r = subprocess.run(
                    ["/usr/bin/python3", "-c",
                     "import socket, sys\n"
                     "s = socket.socket(socket.AF_UNIX)\n"
                     "s.settimeout(30)\n"
                     "try:\n"
                     "    s.connect(sys.argv[1])\n"
                     "except OSError as e:\n"
                     "    sys.exit(e.strerror)\n"
                     "s.sendall(sys.stdin.buffer.read())\n"
                     "print(s.makefile().readline(), end='')\n", sock],
                    input=request, capture_output=True, text=True,
                    timeout=60, preexec_fn=as_mail)
                return r.stdout + r.stderr
            assert ask([nobody.pw_gid, readers], "\n") == "ok ready\n"
            answer = ask([nobody.pw_gid, readers],
                         "op=delete\nlogin=peter.mueller@abc.com\n"
                         "password=%s\ngrantee=tom.berger@abc.com\n\n"
                         % example.PASSWORDS["peter.mueller@abc.com"])
            with open(log.name) as f:
                assert answer.startswith("ok "), answer + f.read()
            assert "Permission denied" in ask([nobody.pw_gid], "\n")
        finally:
            if proc is not None:
                kill_group(proc)
                log.close()
            shutil.rmtree(wd, ignore_errors=True)
else:
    @pytest.mark.parametrize("prefix,sysconfdir", [
        ("/usr", "/etc"),
        ("/opt/mg", "/opt/mg/etc"),
    ])
    def test_make_install(repo_dir, build_dir, tmp_path, prefix,
                          sysconfdir):
        dest = str(tmp_path / "dest")
        found = make_install(repo_dir, build_dir, dest, PREFIX=prefix,
                             SYSCONFDIR=sysconfdir)
        lay = layout(prefix, sysconfdir, prefix + "/lib/systemd/system")
        want = {expand(p, lay) for _, p, _ in FILES}
        assert found == want
        for _, p, exe in FILES:
            mode = os.stat(dest + expand(p, lay)).st_mode
            assert stat.S_IMODE(mode) == (0o755 if exe else 0o644), p
        check_units(dest, lay)
        # Never enabled by installing: nothing in SYSCONFDIR (no
        # Dovecot conf.d file, no mailgrants.conf to overwrite).
        assert not os.path.exists(dest + sysconfdir)
        if prefix == "/usr":
            check_example_conf(repo_dir,
                               dest + lay["%D"] + "/mailgrants.conf.example",
                               dest + lay["%B"] + "/mailgrants", tmp_path)
            # The installed snippets are the tree's.
            for sub in ("postfix-policyd/main.cf.snippet",
                        "postfix-policyd/master.cf.snippet",
                        "dovecot-plugin/90-mailgrants.conf"):
                name = os.path.basename(sub)
                inst = [p for p in found if p.endswith("/" + name)]
                assert len(inst) == 1
                with open(dest + inst[0], "rb") as f, \
                        open(os.path.join(repo_dir, sub), "rb") as g:
                    assert f.read() == g.read(), name
