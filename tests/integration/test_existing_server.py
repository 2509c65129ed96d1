"""README's "Adding mailgrants to an existing server, in 15 minutes", as
a test on a conventional server that ran before mailgrants came.

One stack for the file, all on loopback below one temporary directory:

Before (what the site had):
- slapd with cn=config as Debian's package builds it (tests/lib/
  oldserver.py: suffix dc=example,dc=org, Debian's default access rules,
  no syncprov), its people as inetOrgPerson with passwords below their
  company entries (ldap-schema/examples/abc.ldif without anything of
  mailgrants), and two identities of the site's own: cn=postfix and
  cn=dovecot, which the lookups bind as;
- Dovecot: LDAP passdb (auth_bind) and LDAP userdb matching people
  ((&(objectClass=inetOrgPerson)(mail=%u))), every mailbox under one
  mail uid (the system user "mail") in <vmail>/<domain>/<user>
  (mail_home, mail_location = maildir:~/Maildir), IMAP, LMTP, and its
  auth socket for Postfix in Postfix's private/auth;
- Postfix: smtpd chrooted in the queue directory, as Debian's master.cf
  has it; a port-25 service with LDAP virtual_mailbox_maps (people
  only) delivering to Dovecot's LMTP, and submission with SASL through
  Dovecot and reject_sender_login_mismatch (smtpd_sender_login_maps
  from LDAP).
The first test checks that a person receives and sends, and that the
site's own sender check works.

Then the README's steps, in order, as a sysadmin pastes them: the code
blocks are taken from README.md and run with this instance's paths
(ldapi:/// -> the test slapd's socket, /usr/share/mailgrants -> the
tree, /var/vmail and /var/lib/mailgrants -> the temporary directory,
the readers' group mailgrants-read -> nogroup, a group every host has;
mailgrantsd -> nobody): steps 2-4 (directory_setup()), the mailgrants
entries (companies, users, containers, mailboxes as the mail admin, an
ASCII alias for Peter), mailgrants.conf, the first sync, the follower,
Dovecot's 90-mailgrants.conf, 91-mailgrants-userdb.conf and
dovecot-mailgrants-sql.conf.ext, Postfix's main.cf, milter and delivery
snippets and the submission service's -o lines, the policy daemon (with
its socketmap) and the milter in Postfix's private/, Peter's share with
`mailgrants share` (fixture guided). Then the whole story, a test
each: IMAP views and rights, sending as each address, port-25 delivery
to info@, makler@ and an ASCII alias seen by the right people, a person
receiving as before, and `mailgrants check --front-ends` clean.

On Dovecot 2.4 (Debian 13, tests/debian13.sh) the same story: the
site's Dovecot is configured in 2.4's syntax as Debian 13's packages
lay it out (tests/lib/oldserver.py: userdb ldap, mail_driver and a
mail_path below the home), and step 8's paragraph for 2.4 is followed:
90-mailgrants-2.4.conf and 91-mailgrants-userdb-2.4.conf (the userdb
inline, no .ext file), and the mail_driver/mail_path it gives.

Steps 2-4 are one command, `mailgrants setup-directory --apply`, as
README step 2 gives it (test_setup_directory.py tests the command
itself, and that the LDIF it prints is what ldapmodify takes).
"""

import grp
import imaplib
import os
import pwd
import re
import shlex
import shutil
import smtplib
import subprocess
import uuid

import pytest

from daemonutil import kill_group, make_workdir, wait_for
from dovecot import Dovecot, is_24
from milter import Milter
from mgdovecot import in_maildir, listed, make_plugin_dir
from oldserver import before_ldif, mailgrants_changes, site_dovecot
from policyd import Policyd
from postfix import Postfix
from slapd import DebianSlapd

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
README = os.path.join(REPO, "README.md")

READERS = "nogroup"       # instead of the package's mailgrants-read
DAEMON_USER = "nobody"    # instead of mailgrantsd (its group: nogroup)
MAIL_USER = "mail"        # the site's vmail user, not in READERS
BASE = "dc=example,dc=org"
SITE_IDS = [("postfix", "postfix-pw"), ("dovecot", "dovecot-pw")]
SYNC_PW = "sync-from-guide"
ADMIN_DN = "cn=mailadmin," + BASE
ADMIN_PW = "admin-from-guide"
PEOPLE_FILTER = "(&(objectClass=inetOrgPerson)(mail=%u))"
PASSWORDS = {
    "sandra.schuster@abc.com": "sandra-pw",
    "jana.meier@abc.com": "jana-pw",
    "peter.mueller@abc.com": "peter-pw",
    "tom.berger@abc.com": "tom-pw",
}
PETER_DN = "uid=peter.mueller,ou=people,o=abc.com," + BASE
# An ASCII alias the admin gives Peter (the example's own alias,
# peter.müller@, is UTF-8: Dovecot 2.3's LMTP refuses it, README
# "SMTPUTF8 and Dovecot 2.3").
PETER_ALIAS = "p.mueller@abc.com"


# ------------------------------------------------------------ the README

def readme():
    with open(README, encoding="utf-8") as f:
        return f.read()


def section(title, text=None):
    """The text of the README's "## title" section."""
    text = readme() if text is None else text
    m = re.search(r"^## %s\n(.*?)(?=^## )" % re.escape(title), text,
                  re.S | re.M)
    assert m, "README.md has no section %r" % title
    return m.group(1)


GUIDE = "Adding mailgrants to an existing server, in 15 minutes"


def code_blocks(text):
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M)


def block(title, starts):
    """The code block of a README section that begins with starts."""
    for b in code_blocks(section(title)):
        if b.startswith(starts):
            return b
    raise AssertionError("README %r: no code block starting %r"
                         % (title, starts))


def shell_commands(text):
    """A README code block -> [(argv, heredoc or None)]: continuation
    lines joined, comments dropped, <<EOF ... EOF taken as input."""
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + " " + lines[i].strip()
            i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        heredoc = None
        m = re.match(r"^(.*)<<(\w+)\s*$", line)
        if m:
            line, end = m.group(1), m.group(2)
            body = []
            while lines[i] != end:
                body.append(lines[i])
                i += 1
            i += 1
            heredoc = "\n".join(body) + "\n"
        out.append((shlex.split(line), heredoc))
    return out


# ------------------------------------------------------------ the stack

def run(argv, input_text=None, timeout=60, check=True):
    r = subprocess.run(argv, input=input_text, capture_output=True,
                       text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, "%s: %d\n%s%s" % (
            " ".join(argv), r.returncode, r.stdout, r.stderr)
    return r


class Server:
    """The existing server, then with mailgrants added by the guide."""

    def __init__(self, build_dir):
        self.build_dir = build_dir
        self.cli = os.path.join(build_dir, "mailgrants")
        self.wd = make_workdir("mg-oldserver-")
        self.slapd = self.dc = self.pf = None
        self.policyd = self.milter = self.follower = None
        self.fixes = []
        try:
            self.start_before()
        except BaseException:
            self.close()
            raise

    # -- before -----------------------------------------------------------

    def start_before(self):
        ldif = before_ldif(os.path.join(self.wd, "site.ldif"), SITE_IDS)
        self.slapd = DebianSlapd(ldif=ldif,
                                 workdir=os.path.join(self.wd, "slapd"))
        dcdir = os.path.join(self.wd, "dovecot")
        os.mkdir(dcdir)
        os.chmod(dcdir, 0o755)
        self.vmail = os.path.join(dcdir, "vmail")
        self.people_cf = os.path.join(self.wd, "ldap-users.cf")
        with open(self.people_cf, "w") as f:
            f.write("server_host = %s\nversion = 3\nbind = yes\n"
                    "bind_dn = cn=postfix,%s\nbind_pw = postfix-pw\n"
                    "search_base = %s\n"
                    "query_filter = (&(objectClass=inetOrgPerson)"
                    "(mail=%%s))\nresult_attribute = mail\n"
                    % (self.slapd.uri, BASE, BASE))
        # Who may send as an address: its person (login = mail).
        self.logins_cf = os.path.join(self.wd, "ldap-senders.cf")
        shutil.copy(self.people_cf, self.logins_cf)
        for path in (self.people_cf, self.logins_cf):
            os.chmod(path, 0o640)
            os.chown(path, 0, grp.getgrnam("postfix").gr_gid)
        pfdir = os.path.join(self.wd, "postfix")
        # Postfix's private/ as `postfix start` makes it, made first:
        # Dovecot puts its auth socket for Postfix there.
        self.private = os.path.join(pfdir, "queue", "private")
        os.makedirs(self.private)
        for d in (pfdir, os.path.dirname(self.private)):
            os.chmod(d, 0o755)
        os.chown(self.private, pwd.getpwnam("postfix").pw_uid, 0)
        os.chmod(self.private, 0o700)
        self.plugin_dir = make_plugin_dir(self.build_dir, self.wd)
        # The site's userdb: people, from LDAP, as its passdb; Debian's
        # 10-mail.conf with the home-relative location a vmail site
        # commonly has (README step 8 changes it), and 10-master.conf's
        # listener for Postfix; in the syntax of the Dovecot under test.
        self.dc = Dovecot(
            self.slapd.uri, "cn=dovecot," + BASE, "dovecot-pw",
            user_filter=PEOPLE_FILTER, protocols=("imap", "lmtp"),
            mail_user=MAIL_USER, plugin_dir=self.plugin_dir, workdir=dcdir,
            **site_dovecot(self.vmail, os.path.join(self.private, "auth"),
                           PEOPLE_FILTER)).start()
        assert self.dc.vmail_dir == self.vmail
        # As Debian's packages have it: SASL through Dovecot's socket in
        # Postfix's private/ (private/auth), LMTP on Dovecot's socket;
        # submission with reject_sender_login_mismatch and
        # smtpd_sender_login_maps from LDAP.
        self.pf = Postfix(
            delivery="discard", sasl_path="private/auth",
            sender_check="native", login_maps="ldap:" + self.logins_cf,
            workdir=pfdir, main_extra={
                "virtual_mailbox_domains": "abc.com, xyz.org",
                "virtual_mailbox_maps": "ldap:" + self.people_cf,
                "virtual_transport": "lmtp:unix:" + self.dc.lmtp_socket,
            }).start()
        assert self.private == os.path.join(self.pf.queue_dir, "private")
        # Debian's master.cf runs smtpd chrooted in the queue directory:
        # every socket Postfix names must then be below private/.
        self.smtpd_option("chroot=y")

    # -- the guide --------------------------------------------------------

    def directory_setup(self):
        """README steps 2-4: `mailgrants setup-directory --apply` (no
        mailgrants.conf needed) with the site's Postfix and Dovecot
        identities as readers, a mail admin of the site's as --admin,
        the companies' ou=mailboxes containers; a second run has
        nothing to do."""
        # The mail admin is an entry of the site's that can bind (the
        # command refuses one it cannot find): made by the rootdn.
        rc, out, err = self.slapd.ldapadd(
            "dn: %s\nobjectClass: organizationalRole\n"
            "objectClass: simpleSecurityObject\ncn: mailadmin\n"
            "userPassword: %s\n" % (ADMIN_DN, ADMIN_PW), root=True)
        assert rc == 0, err
        guide = section(GUIDE)
        assert "sudo mailgrants setup-directory --apply" in guide
        pw = os.path.join(self.wd, "sync.pw")
        with open(pw, "w") as f:
            f.write(SYNC_PW + "\n")
        argv = [self.cli, "setup-directory", "-H", self.slapd.ldapi_uri,
                "--schema-dir", os.path.join(REPO, "ldap-schema"),
                "--sync-password-file", pw, "--admin", ADMIN_DN]
        for cn, _pw in SITE_IDS:
            argv += ["--reader", "cn=%s,%s" % (cn, BASE)]
        for company in ("abc.com", "xyz.org"):
            argv += ["--container", "ou=mailboxes,o=%s,%s" % (company, BASE)]
        run(argv + ["--apply"])
        r = run(argv + ["--apply"])
        assert r.stdout.startswith("nothing to do"), r.stdout + r.stderr

    def add_entries(self):
        """What the README says after the schema: mailgrantsCompany on
        the companies, mailgrantsUser on the users (as the rootdn: the
        rules let nobody else change them), the containers as the
        rootdn, the mailboxes as a member of mail-admins."""
        modify, containers, mailboxes = mailgrants_changes(
            {PETER_DN: [PETER_ALIAS]})
        rc, out, err = self.slapd.ldapmodify(modify, root=True)
        assert rc == 0, err
        for entry in containers.split("\n\n"):
            rc, out, err = self.slapd.ldapadd(entry, root=True)
            # 68: setup-directory --container made it already.
            assert rc in (0, 68), err
        rc, out, err = self.slapd.ldapadd(mailboxes, binddn=ADMIN_DN,
                                          password=ADMIN_PW)
        assert rc == 0, "the mail admin cannot add mailboxes: %s" % err

    def write_conf(self):
        """Step 5: mailgrants.conf and bind.pw as the README shows."""
        if getattr(self, "conf", None):
            return self.conf
        conf = block(GUIDE, "ldap_uri = ")
        self.libdir = os.path.join(self.wd, "lib", "mailgrants")
        os.makedirs(self.libdir)
        os.chmod(os.path.dirname(self.libdir), 0o755)
        # As the package makes /var/lib/mailgrants: the readers' group,
        # 2750 (the writer is root here: no user mailgrants).
        os.chown(self.libdir, 0, grp.getgrnam(READERS).gr_gid)
        os.chmod(self.libdir, 0o2750)
        self.replica = os.path.join(self.libdir, "grants.db")
        self.bindpw = os.path.join(self.wd, "bind.pw")
        fd = os.open(self.bindpw, os.O_WRONLY | os.O_CREAT, 0o640)
        with os.fdopen(fd, "w") as f:
            f.write(SYNC_PW + "\n")
        self.conf = os.path.join(self.wd, "mailgrants.conf")
        for old, new in (("ldapi:///", self.slapd.ldapi_uri),
                         ("/etc/mailgrants/bind.pw", self.bindpw),
                         ("/var/lib/mailgrants/grants.db", self.replica),
                         ("= mailgrants-read", "= " + READERS)):
            assert old in conf, old
            conf = conf.replace(old, new)
        with open(self.conf, "w") as f:
            f.write(conf)
        return self.conf

    def mg(self, *args, check=True, timeout=60):
        return run([self.cli, "-c", self.conf] + list(args), check=check,
                   timeout=timeout)

    def first_sync(self):
        """Step 6 and 7: sync --once, the commands shown, the follower."""
        step6 = block(GUIDE, "runuser -u mailgrants -- mailgrants sync")
        for argv, _h in shell_commands(step6):
            if argv[0] == "runuser":
                argv = argv[argv.index("--") + 1:]
            assert argv[0] == "mailgrants", argv
            self.mg(*argv[1:])
        args = self.readme_daemon("/usr/bin/mailgrants")
        assert args[-2:] == ["sync", "--follow"], args
        log = open(os.path.join(self.wd, "follow.log"), "ab")
        try:
            self.follower = subprocess.Popen(
                [self.cli] + args,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        finally:
            log.close()
        wait_for(lambda: re.search(r"^sync: +live \(persist\)", self.mg(
            "check", check=False).stdout, re.M), timeout=20,
            what="sync: live (persist) in mailgrants check",
            check=self._follower_alive)

    def _follower_alive(self):
        if self.follower.poll() is not None:
            with open(os.path.join(self.wd, "follow.log")) as f:
                raise AssertionError("sync --follow exited: " + f.read())

    def dovecot_snippets(self):
        """Step 8 and "Delivery": the three shipped files, adapted as
        the README says, included after the site's configuration."""
        confd = os.path.join(self.wd, "dovecot", "conf.d")
        os.mkdir(confd)
        os.chmod(confd, 0o755)

        def shipped(name):
            with open(os.path.join(REPO, "dovecot-plugin", name),
                      encoding="utf-8") as f:
                return f.read()

        def adapt(text, pairs):
            for old, new in pairs:
                assert old in text, old
                text = text.replace(old, new)
            return text
        common = [("/var/vmail/", self.vmail + "/")]
        guide = section(GUIDE)
        if is_24():
            # Step 8's paragraph for Dovecot 2.4: its two snippets (the
            # userdb inline, no .ext file), and the location as
            # mail_driver and mail_path.
            names = ("90-mailgrants-2.4.conf",
                     "91-mailgrants-userdb-2.4.conf")
            m = re.search(r"On \*\*Dovecot 2\.4\*\*.*?copy\s+`/usr/share/"
                          r"mailgrants/dovecot/%s` instead.*?"
                          r"`%s`.*?e\.g\.\s+`mail_driver = (\w+)` with\s+"
                          r"`mail_path = (/var/vmail/[^`]+)`"
                          % tuple(re.escape(n) for n in names), guide, re.S)
            assert m, "step 8 no longer says what differs on Dovecot 2.4"
            location = "mail_driver = %s\nmail_path = %s\n" % (
                m.group(1), m.group(2).replace("/var/vmail/",
                                               self.vmail + "/"))
            userdb = adapt(shipped(names[1]), common + [
                ("'vmail'", "'%s'" % MAIL_USER),
                ("/var/lib/mailgrants/grants.db", self.replica),
                ("mailgrants-read", READERS)])
        else:
            names = ("90-mailgrants.conf", "91-mailgrants-userdb.conf")
            # Step 8: "Your mail_location must be a path without ~ or
            # %h (e.g. ...)": the site's ~/Maildir, said as a path.
            m = re.search(r"Your `mail_location` must be a path without "
                          r"`~` or `%h`\s+\(e\.g\.\s+`(maildir:/var/vmail/"
                          r"\S+)`\)", guide)
            assert m, "step 8 no longer says what mail_location to use"
            location = "mail_location = %s\n" % m.group(1).replace(
                "/var/vmail/", self.vmail + "/")
            sql = os.path.join(self.wd, "dovecot",
                               "dovecot-mailgrants-sql.conf.ext")
            with open(sql, "w", encoding="utf-8") as f:
                f.write(adapt(shipped("dovecot-mailgrants-sql.conf.ext"),
                              common + [("'vmail'", "'%s'" % MAIL_USER),
                                        ("/var/lib/mailgrants/grants.db",
                                         self.replica)]))
            userdb = adapt(shipped(names[1]), [
                ("/etc/dovecot/dovecot-mailgrants-sql.conf.ext", sql),
                ("mailgrants-read", READERS)])
        plugin = adapt(shipped(names[0]), common + [
            ("mailgrants-read", READERS),
            ("/var/lib/mailgrants/grants.db", self.replica)])
        includes = []
        for name, text in ((names[0], plugin), (names[1], userdb)):
            path = os.path.join(confd, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            includes.append("!include %s\n" % path)
        with open(self.dc.conf_path, "a") as f:
            f.write("\n# mailgrants (README step 8, Delivery)\n"
                    + location + "".join(includes))
        r = run(["doveconf", "-c", self.dc.conf_path, "-n"])
        assert "mailgrants" in r.stdout
        mark = len(self.dc.log_text())
        run(["doveadm", "-c", self.dc.conf_path, "reload"])
        wait_for(lambda: "reloading configuration" in
                 self.dc.log_text()[mark:], timeout=10,
                 what="dovecot reload")

    def readme_daemon(self, exe):
        """The arguments README's "Without systemd" lines give exe
        (after start-stop-daemon's --), with this instance's paths."""
        for argv, _h in shell_commands(block(GUIDE, "start-stop-daemon")):
            if argv[0] != "start-stop-daemon" or "--exec" not in argv:
                continue
            if argv[argv.index("--exec") + 1] != exe:
                continue
            args = argv[argv.index("--") + 1:]
            out = []
            for a in args:
                a = a.replace("/var/spool/postfix/private/",
                              self.private + "/")
                a = a.replace("/etc/mailgrants/mailgrants.conf", self.conf)
                out.append(DAEMON_USER if a == "mailgrantsd" else a)
            return out
        raise AssertionError("README: no start line for " + exe)

    def start_daemons(self):
        """Step 9: the policy daemon (with its socketmap) and the
        milter, with the README's start lines: sockets in Postfix's
        private/, serving as the daemons' user."""
        args = self.readme_daemon("/usr/sbin/mailgrants-policyd")
        assert args[:3] == ["--foreground", "-c", self.conf], args
        i = args.index("--listen")
        listen, extra = args[i + 1], args[3:i] + args[i + 2:]
        self.policyd = Policyd(self.build_dir, self.conf, self.wd,
                               listen=listen, user=None, extra=extra)
        args = self.readme_daemon("/usr/sbin/mailgrants-milter")
        assert args[:3] == ["--foreground", "-c", self.conf], args
        i = args.index("--listen")
        assert args[i + 1].startswith("unix:"), args
        self.milter = Milter(self.build_dir, self.conf, self.wd, user=None,
                             socket_path=args[i + 1][5:],
                             extra=args[3:i] + args[i + 2:])

    def postfix_snippets(self):
        """Step 9 and "Delivery": main.cf gets the three snippets, the
        maps merged with the site's; the submission service the -o
        lines the README lists."""
        main = os.path.join(self.pf.config_dir, "main.cf")
        with open(main, "a", encoding="utf-8") as f:
            for name in ("main.cf.snippet", "milter.main.cf.snippet",
                         "delivery.main.cf.snippet"):
                with open(os.path.join(REPO, "postfix-policyd", name),
                          encoding="utf-8") as s:
                    f.write("\n" + s.read())
        merge = block("Delivery: every granted address receives mail",
                      "virtual_mailbox_maps = ")
        for line in merge.splitlines():
            line = line.replace("/etc/postfix/ldap-users.cf",
                                self.people_cf)
            run(["postconf", "-c", self.pf.config_dir, "-e", line])
        opts = block(GUIDE, "  -o smtpd_client_restrictions=")
        settings = []
        for line in opts.splitlines():
            m = re.match(r"^\s+-o (\w+=.*)$", line)
            assert m, line
            settings.append(m.group(1))
        self.submission_option(*settings)

    def submission_option(self, *settings):
        """postconf -P for the submission service, then reload."""
        svc = "127.0.0.1:%d/inet" % self.pf.submission_port
        self.reload_postfix(["-P"] + ["%s/%s" % (svc, s) for s in settings])

    def smtpd_option(self, field):
        """postconf -F: a master.cf field of both smtpd services."""
        self.reload_postfix(["-F"] + ["127.0.0.1:%d/inet/%s" % (p, field)
                                      for p in (self.pf.mx_port,
                                                self.pf.submission_port)])

    def reload_postfix(self, postconf_args):
        """postconf FLAG ARG..., postfix reload, and wait until no
        smtpd of the old configuration is left: an idle one may
        otherwise take one more connection after the reload."""
        flag = postconf_args[0]
        for arg in postconf_args[1:]:
            run(["postconf", "-c", self.pf.config_dir, flag, arg])
        self.pf.check()
        old = self.master_children()
        mark = len(self.pf.maillog_text())
        r = run(["postfix", "-c", self.pf.config_dir, "reload"])
        wait_for(lambda: "reload" in self.pf.maillog_text()[mark:],
                 timeout=10, what="postfix reload: " + r.stdout)
        wait_for(lambda: not old & self.master_children(), timeout=10,
                 what="smtpd processes of before the reload to exit")

    def master_children(self):
        """The pids of the smtpd processes of this Postfix's master."""
        pids = set()
        for pid in os.listdir("/proc"):
            try:
                with open("/proc/%s/stat" % pid) as f:
                    stat = f.read()
            except (OSError, ValueError):
                continue
            comm, _, rest = stat.rpartition(") ")
            if (comm.endswith("(smtpd") and rest.split()[1]
                    == str(self.pf.master_pid)):
                pids.add(pid)
        return pids

    def share(self, owner, grantee, until):
        """Step 10: the owner shares, as himself."""
        m = re.search(r"`(mailgrants share --as \S+ --until \S+\s+\S+\s+"
                      r"\S+)`", section(GUIDE))
        assert m, "step 10's share command not found"
        argv = m.group(1).split()
        assert argv[:3] == ["mailgrants", "share", "--as"]
        pwfile = os.path.join(self.wd, "share.pw")
        with open(pwfile, "w") as f:
            f.write(PASSWORDS[owner] + "\n")
        self.mg("share", "--as", owner, "--password-file", pwfile,
                "--until", until, owner, grantee)

    def close(self):
        if self.follower is not None:
            kill_group(self.follower)
        for part in (self.pf, self.milter, self.policyd, self.dc,
                     self.slapd):
            if part is None:
                continue
            try:
                part.close() if part is self.slapd else part.stop()
            except Exception:
                pass
        shutil.rmtree(self.wd, ignore_errors=True)

    # -- looking at it ----------------------------------------------------

    def diagnostics(self):
        parts = ["--- maillog ---\n" + "\n".join(
            self.pf.maillog_text().splitlines()[-25:])]
        parts.append("--- dovecot ---\n" + "\n".join(
            [ln for ln in self.dc.log_text().splitlines()
             if "rror" in ln or "arning" in ln or "atal" in ln][-25:]))
        if self.policyd is not None:
            parts.append("--- policyd ---\n" + self.policyd.log()[-2000:])
        return "\n".join(parts)

    def deliver(self, rcpt, tag):
        """Port 25: one message to rcpt; the RCPT TO reply (code,
        text). With 250 the message (Subject: tag) is sent."""
        s = smtplib.SMTP("127.0.0.1", self.pf.mx_port, timeout=30)
        try:
            s.ehlo("client.example.net")
            code, text = s.mail("kunde@example.net")
            assert code == 250, (code, text)
            code, text = s.rcpt(rcpt)
            if code == 250:
                body = ("From: kunde@example.net\r\nTo: %s\r\n"
                        "Subject: %s\r\n\r\nhello\r\n" % (rcpt, tag))
                dcode, dtext = s.data(body.encode())
                assert dcode == 250, (dcode, dtext)
            return code, text.decode("utf-8", "replace")
        finally:
            s.quit()

    def submit(self, login, sender, from_header=None):
        """Submission with SASL: the first refusal (code, text) or
        (250, "") when the message was accepted."""
        s = smtplib.SMTP("127.0.0.1", self.pf.submission_port, timeout=30)
        try:
            s.ehlo("laptop.example.net")
            s.login(login, PASSWORDS[login])
            code, text = s.mail(sender)
            if code != 250:
                return code, text.decode("utf-8", "replace")
            code, text = s.rcpt("kunde@example.net")
            if code != 250:
                return code, text.decode("utf-8", "replace")
            body = ("From: %s\r\nTo: kunde@example.net\r\n"
                    "Subject: from %s\r\n\r\nhello\r\n"
                    % (from_header or sender, sender))
            code, text = s.data(body.encode())
            if code != 250:
                return code, text.decode("utf-8", "replace")
            return 250, ""
        finally:
            try:
                s.quit()
            except smtplib.SMTPException:
                pass

    def imap(self, login):
        """An IMAP session of login; `with` logs it out."""
        m = imaplib.IMAP4("127.0.0.1", self.dc.imap_port, timeout=20)
        assert m.login(login, PASSWORDS[login])[0] == "OK"
        return m

    def wait_stored(self, address, tag):
        maildir = self.dc.maildir(address)
        try:
            wait_for(lambda: in_maildir(maildir, tag), timeout=30,
                     what="%s in %s's storage" % (tag, address))
        except TimeoutError as e:
            raise AssertionError("%s\n%s" % (e, self.diagnostics()))


def myrights(m, mailbox):
    typ, data = m.myrights('"%s"' % mailbox)
    assert typ == "OK", (mailbox, data)
    return data[0].decode().rsplit(" ", 1)[1].strip('"')


def finds(m, mailbox, tag):
    typ, _ = m.select('"%s"' % mailbox, readonly=True)
    assert typ == "OK", mailbox
    typ, data = m.search(None, "SUBJECT", tag)
    assert typ == "OK"
    return data[0].split() != []


# ------------------------------------------------------------ the test

@pytest.fixture(scope="module")
def server(build_dir):
    if os.geteuid() != 0:
        pytest.fail("the guide runs as root, as CI does")
    s = Server(build_dir)
    try:
        yield s
    finally:
        s.close()


def test_before_a_person_receives_and_sends(server):
    """The site as it was: people receive on port 25 and send through
    submission; info@abc.com does not exist."""
    tag = "before-%s" % uuid.uuid4().hex
    code, text = server.deliver("tom.berger@abc.com", tag)
    assert code == 250, (code, text, server.diagnostics())
    server.wait_stored("tom.berger@abc.com", tag)
    assert server.submit("sandra.schuster@abc.com",
                         "sandra.schuster@abc.com") == (250, "")
    code, text = server.submit("sandra.schuster@abc.com",
                               "peter.mueller@abc.com")
    assert code == 553 and "not owned by user" in text, (code, text)
    code, text = server.deliver("info@abc.com", tag)
    assert code == 550 and "User unknown" in text, (code, text)


@pytest.fixture(scope="module")
def guided(server):
    """The same server after the README's steps, in order (the first
    test has seen it before)."""
    s = server
    s.directory_setup()
    s.add_entries()
    s.write_conf()
    s.first_sync()
    s.dovecot_snippets()
    s.start_daemons()
    s.postfix_snippets()
    s.share("peter.mueller@abc.com", "sandra.schuster@abc.com",
            "2035-12-31")
    s.share("peter.mueller@abc.com", "jana.meier@abc.com", "2035-12-31")
    wait_for(lambda: "peter.mueller@abc.com" in s.mg(
        "access", "sandra.schuster@abc.com").stdout, timeout=10,
        what="the share in the replica (sync --follow)")
    return s


def test_imap_views(guided):
    """What Sandra sees, with the rights the README's story shows; Jana
    sees her group's company mailbox and not Sandra's makler@."""
    story = section("The story")
    want = dict(re.findall(r"^  (\S+@abc\.com|INBOX)\s+([a-z]+)\s",
                           story, re.M))
    assert set(want) == {"Company/info@abc.com", "Private/makler@abc.com",
                         "Shared/peter.mueller@abc.com", "INBOX"}, want
    with guided.imap("sandra.schuster@abc.com") as m:
        names = listed(m)
        for mailbox, rights in want.items():
            assert mailbox in names, (mailbox, names, guided.diagnostics())
            assert myrights(m, mailbox) == rights, mailbox
        assert not [n for n in names if "vertrieb" in n or "xyz" in n
                    or "buchhaltung" in n], names
    with guided.imap("jana.meier@abc.com") as m:
        names = listed(m)
        assert "Company/vertrieb@abc.com" in names, names
        assert "Shared/peter.mueller@abc.com" in names, names
        assert not [n for n in names if "makler" in n], names


def test_sending_as_each_address(guided):
    """Sandra sends as herself, info@ and makler@; as Peter (shared
    with her for reading) she is refused at MAIL FROM with the reason,
    and a From: line naming Peter by the milter."""
    s = guided
    sandra = "sandra.schuster@abc.com"
    for sender in (sandra, "info@abc.com", "makler@abc.com"):
        assert s.submit(sandra, sender) == (250, ""), (sender,
                                                       s.diagnostics())
    code, text = s.submit(sandra, "peter.mueller@abc.com")
    assert code == 554 and "shared with you for reading only" in text, \
        (code, text)
    code, text = s.submit(sandra, sandra,
                          from_header="Peter <peter.mueller@abc.com>")
    assert code == 550 and "reading only" in text, (code, text)


def test_site_sender_check_must_go(guided):
    """Why step 9 says to drop the site's reject_sender_login_mismatch
    rather than keep it beside the policy check."""
    s = guided
    sandra = "sandra.schuster@abc.com"
    s.submission_option("smtpd_sender_restrictions=reject_sender_login_"
                        "mismatch,$mailgrants_sender_restrictions")
    try:
        code, text = s.submit(sandra, "info@abc.com")
        assert code == 553 and "not owned by user" in text, (code, text)
    finally:
        s.submission_option("smtpd_sender_restrictions="
                            "$mailgrants_sender_restrictions")
    assert s.submit(sandra, "info@abc.com") == (250, "")


def test_port25_delivery(guided):
    """Port 25 takes info@, makler@ and an alias of Peter's to their
    mailboxes' storage, where the right people see them; a person still
    receives as before."""
    s = guided
    tags = {}
    for rcpt, storage in (("info@abc.com", "info@abc.com"),
                          ("makler@abc.com", "makler@abc.com"),
                          (PETER_ALIAS, "peter.mueller@abc.com"),
                          ("tom.berger@abc.com", "tom.berger@abc.com")):
        tag = "after-%s" % uuid.uuid4().hex
        code, text = s.deliver(rcpt, tag)
        assert code == 250, (rcpt, code, text, s.diagnostics())
        s.wait_stored(storage, tag)
        tags[rcpt] = tag
    with s.imap("sandra.schuster@abc.com") as m:
        assert finds(m, "Company/info@abc.com", tags["info@abc.com"])
        assert finds(m, "Private/makler@abc.com", tags["makler@abc.com"])
        assert finds(m, "Shared/peter.mueller@abc.com", tags[PETER_ALIAS])
    with s.imap("tom.berger@abc.com") as m:
        assert finds(m, "INBOX", tags["tom.berger@abc.com"])
        assert finds(m, "Company/info@abc.com", tags["info@abc.com"])
        assert "Private/makler@abc.com" not in listed(m)


def test_doctor_clean(guided):
    """mailgrants check --front-ends on the finished server."""
    s = guided
    r = s.mg("check", "--front-ends", "--postfix-config", s.pf.config_dir,
             "--dovecot-config", s.dc.conf_path, check=False, timeout=120)
    assert r.returncode == 0 and "front ends: ok" in r.stdout, \
        r.stdout + r.stderr
