"""mailgrants check --front-ends: the doctor, against real front ends.

One stack for the file, in good shape: slapd with the example directory
-> `mailgrants sync --once` -> the replica; mailgrants-policyd and
mailgrants-milter on UNIX sockets; Dovecot with the mailgrants plugin
(the shipped 90-mailgrants.conf), IMAP and LMTP; a private Postfix whose
submission service runs the policy check and the milter, with
virtual_mailbox_maps a texthash table generated here from the replica's
addresses (the site's own recipient map; mailgrants ships none).

In that shape the doctor says "front ends: ok" and exits 0. Then each
test breaks one thing on purpose, the way a site gets it wrong, runs the
doctor, expects exit 1, a WARNING naming the problem and a "->" line
naming the setting to change, and puts the thing back:

- check_policy_service after permit_sasl_authenticated;
- no policy check on the submission service at all;
- milter_default_action = accept on the submission service;
- the plugin missing from mail_plugins, imap_mailgrants missing from
  protocol imap, or dropped there again (2.3: a list without
  $mail_plugins; 2.4: "mailgrants = no", or the list cleared there);
- a mailgrants namespace missing;
- Dovecot reading another replica than the sync writes;
- doveconf refusing the plugin's settings: on 2.4 the settings module
  out of reach, on 2.3 a setting outside plugin { };
- the replica unreadable by Dovecot's mail uid/gid, and then readable
  through mail_access_groups alone (Dovecot gives virtual users no other
  group: the doctor probes with exactly mail_gid + mail_access_groups);
- the policy socket not connectable by Postfix's mail_owner (mode 0600);
  the milter socket gone;
- an address of the directory missing from Postfix's recipient map;
- Dovecot's LDAP lookups made by an identity the access rules do not let
  read (README step 4): every mailbox unknown to its userdb;
- a sample smaller than the directory is said to be one;
- sharing from mail clients: off (said, no problem); set up (a share
  service on the socket mailgrants_share_socket names, in a 0750
  directory of the readers' group, the passdb passing the password
  on); then the service gone (socket left, socket gone), the socket
  closed to the mail uid, silent, or another program's; the passdb
  not passing the password; imap_mailgrants not loaded.

Against Dovecot 2.3 and 2.4 alike: the harness installs the snippet of
the Dovecot under test (90-mailgrants.conf or -2.4.conf), each test
breaks it in that version's syntax, and the fix the doctor gives must
be in that syntax and name that snippet (SYNTAX below).
"""

import contextlib
import grp
import os
import pwd
import re
import shutil
import socket
import sqlite3
import subprocess
import types

import pytest

from daemonutil import make_workdir, stop_all
from dovecot import is_24
from milter import Milter
from mgdovecot import make_plugin_dir, start_dovecot
from policyd import Policyd
from postfix import Postfix


# What the tests write and expect per Dovecot version: the snippet the
# fixes name, the user in a root's prefix, the plugin lines of the
# snippet (global, protocol imap) and the fixes for them.
if is_24():
    SYNTAX = {
        "snippet": r"conf\.d/90-mailgrants-2\.4\.conf",
        "user": "$user",
        "plugins": ("  acl = yes\n  mailgrants = yes\n", "  acl = yes\n"),
        "plugins_fix": r"mail_plugins \{ acl = yes mailgrants = yes \}",
        "imap_plugins": ("    imap_acl = yes\n    imap_mailgrants = yes\n",
                         "    imap_acl = yes\n"),
        "imap_plugins_fix": r"protocol imap \{ mail_plugins \{ imap_acl = "
                            r"yes imap_mailgrants = yes \} \}",
        "replica_line": "mailgrants_replica = %s\n",
        "replica_fix": r"mailgrants_replica = \.\.\. as replica",
        "share_socket": "mailgrants_share_socket = %s\n",
        # (the field in the test harness's passdb ldap { fields { } })
        "passdb_field": ("    user = %{ldap:mail}\n",
                         "    user = %{ldap:mail}\n"
                         "    userdb_mailgrants_share_password = "
                         "%{password}\n"),
        "share_password_fix": r"passdb ldap \{ fields \{ "
                              r"userdb_mailgrants_share_password = "
                              r"%\{password\} \} \}",
    }
else:
    SYNTAX = {
        "snippet": r"conf\.d/90-mailgrants\.conf",
        "user": "%%u",
        "plugins": ("mail_plugins = $mail_plugins acl mailgrants\n",
                    "mail_plugins = $mail_plugins acl\n"),
        "plugins_fix": r"mail_plugins = \$mail_plugins acl mailgrants",
        "imap_plugins": ("mail_plugins = $mail_plugins imap_acl "
                         "imap_mailgrants\n",
                         "mail_plugins = $mail_plugins imap_acl\n"),
        "imap_plugins_fix": r"protocol imap \{ mail_plugins = "
                            r"\$mail_plugins imap_acl imap_mailgrants \}",
        "replica_line": "  mailgrants_replica = %s\n",
        "replica_fix": r"plugin \{ mailgrants_replica = \.\.\. \} as "
                       r"replica",
        "share_socket": "plugin {\n  mailgrants_share_socket = %s\n}\n",
        "passdb_field": ("  driver = ldap\n",
                         "  driver = ldap\n  override_fields = "
                         "userdb_mailgrants_share_password=%w\n"),
        "share_password_fix": r"override_fields = "
                              r"userdb_mailgrants_share_password=%w",
    }


class Stack:
    def __init__(self, slapd, build_dir, repo_dir):
        self.wd = make_workdir("mg-doctor-")
        os.chmod(self.wd, 0o755)
        self.dc = self.policyd = self.milter = self.pf = None
        self.cli = os.path.join(build_dir, "mailgrants")
        try:
            self.db = os.path.join(self.wd, "lib", "grants.db")
            os.makedirs(os.path.dirname(self.db))
            # The replica's directory: the readers pass, nobody writes.
            os.chmod(os.path.dirname(self.db), 0o755)
            self.conf = slapd.write_config(
                os.path.join(self.wd, "mailgrants.conf"), replica=self.db,
                replica_group="nogroup")
            r = self.run("sync", "--once")
            assert r.returncode == 0, r.stdout + r.stderr
            self.vmailbox = os.path.join(self.wd, "vmailbox")
            self.addresses = self.replica_addresses()
            self.write_map(self.addresses)
            # The doctor knows our endpoints by "mailgrants" in their
            # names, as the snippets name them (private/mailgrants,
            # private/mailgrants-milter).
            self.policy_sock = os.path.join(self.wd, "mailgrants.sock")
            self.policyd = Policyd(build_dir, self.conf, self.wd,
                                   listen="unix:" + self.policy_sock)
            self.milter = Milter(
                build_dir, self.conf, self.wd, socket_path=os.path.join(
                    self.wd, "mailgrants-milter.sock"))
            plugins = make_plugin_dir(build_dir, self.wd)
            self.dc = start_dovecot(slapd, self.wd, plugins, repo_dir,
                                    self.db)
            self.pf = Postfix(
                delivery="discard", sender_check="policy",
                policy_service="unix:" + self.policy_sock,
                sasl_path=self.dc.auth_socket,
                milter="unix:" + self.milter.socket_path,
                main_extra={
                    "virtual_mailbox_domains": "abc.com xyz.org",
                    "virtual_mailbox_maps": "texthash:" + self.vmailbox,
                    "virtual_transport": "discard",
                }).start()
            # The submission service, as master.cf names it.
            self.svc = "127.0.0.1:%d" % self.pf.submission_port
        except BaseException:
            self.close()
            raise

    def close(self):
        stop_all(self.pf, self.dc, self.milter, self.policyd)
        shutil.rmtree(self.wd, ignore_errors=True)

    def run(self, *args):
        return subprocess.run([self.cli, "-c", self.conf] + list(args),
                              capture_output=True, text=True, timeout=120)

    def doctor(self, *extra):
        return self.run("check", "--front-ends", "--postfix-config",
                        self.pf.config_dir, "--dovecot-config",
                        self.dc.conf_path, *extra)

    def replica_addresses(self):
        con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True)
        try:
            return sorted(r[0] for r in
                          con.execute("SELECT address FROM addresses"))
        finally:
            con.close()

    def restore_replica(self):
        """The files as the writer makes them. (While the replica was
        writable, a SQLite connection, the doctor's own as root
        included, may have made -wal or -shm anew with its mode.)"""
        gid = grp.getgrnam("nogroup").gr_gid
        for f in (self.db, self.db + "-wal", self.db + "-shm"):
            if os.path.exists(f):
                os.chown(f, 0, gid)
                os.chmod(f, 0o640)
        r = self.run("sync", "--once")
        assert r.returncode == 0, r.stdout + r.stderr

    def write_map(self, addresses):
        with open(self.vmailbox, "w") as f:
            for a in addresses:
                f.write("%s %s/\n" % (a, a))

    def postconf_P(self, setting):
        """A master.cf -o override of the submission service, set as an
        admin would (postconf -P takes no white space: commas)."""
        subprocess.run(["postconf", "-c", self.pf.config_dir, "-P",
                        "%s/inet/%s" % (self.svc, setting)], check=True)

    def master_cf(self, text=None):
        path = os.path.join(self.pf.config_dir, "master.cf")
        if text is not None:
            with open(path, "w") as f:
                f.write(text)
        with open(path) as f:
            return f.read()

    def edit_dovecot(self, old, new):
        with open(self.dc.conf_path) as f:
            text = f.read()
        assert old in text, old
        with open(self.dc.conf_path, "w") as f:
            f.write(text.replace(old, new, 1))


@pytest.fixture(scope="module")
def stack(slapd, build_dir, repo_dir):
    if os.geteuid() != 0:
        pytest.fail("the doctor's identity probes need root, as CI runs")
    with contextlib.closing(Stack(slapd, build_dir, repo_dir)) as s:
        yield s


def healthy(stack):
    r = stack.doctor()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "front ends: ok" in r.stdout
    return r.stdout


def broken(stack, *patterns, extra=()):
    """The doctor fails, and each pattern matches its output."""
    r = stack.doctor(*extra)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "front-end problem" in r.stderr, r.stderr
    for p in patterns:
        assert re.search(p, r.stdout, re.S), \
            "%r not in:\n%s" % (p, r.stdout)
    return r.stdout


def test_good_shape(stack):
    out = healthy(stack)
    assert re.search(r"service %s: smtpd_sender_restrictions runs "
                     r"check_policy_service unix:\S+ first: ok"
                     % re.escape(stack.svc), out), out
    assert "milter_default_action = tempfail: ok" in out
    assert re.search(r"policy socket \S+: \S+ \d+, postfix connects: ok",
                     out), out
    assert re.search(r"milter socket \S+: \S+ \d+, postfix connects: ok",
                     out), out
    assert "mail_plugins has acl and mailgrants: ok" in out
    assert "mail_plugins has imap_acl and imap_mailgrants: ok" in out
    for prefix in ("Company/", "Shared/", "Private/"):
        assert "namespace %s%s/: ok" % (prefix, SYNTAX["user"]) in out
    assert "reads the replica and cannot write it: ok" in out
    n = len(stack.addresses)
    assert n < 200
    assert "replica addresses in virtual_mailbox_maps or " \
        "virtual_alias_maps: all %d" % n in out
    assert "every sampled address resolves: ok" in out
    assert "every sampled mailbox is a userdb user: ok" in out


def test_sample_is_said(stack):
    r = stack.doctor("--sample", "3")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "a random sample of 3 of %d" % len(stack.addresses) in r.stdout


# A setting of the submission service in master.cf that doctor must
# find: (id, the -o setting, the warning, the fix), %(svc)s the service
# (as a regular expression), %(sock)s the policy daemon's socket.
MASTER_CF_BREAKAGES = [
    ("policy-after-permit",
     "smtpd_sender_restrictions=permit_sasl_authenticated,"
     "check_policy_service,unix:%(sock)s",
     r"WARNING: service %(svc)s: smtpd_sender_restrictions has "
     r"permit_sasl_authenticated before check_policy_service",
     r"-> master\.cf, service %(svc)s \(inet\): -o \{ "
     r"smtpd_sender_restrictions = check_policy_service "
     r"unix:\S+, permit_sasl_authenticated \}"),
    ("no-policy-check",
     "smtpd_sender_restrictions=",
     r"WARNING: service %(svc)s \(SASL on\) runs no check_policy_service",
     r"-> master\.cf, service %(svc)s \(inet\): -o \{ "
     r"smtpd_sender_restrictions = check_policy_service "
     r"unix:private/mailgrants \}"),
    ("milter-default-accept",
     "milter_default_action=accept",
     r"WARNING: service %(svc)s: milter_default_action = accept",
     r"-> master\.cf, service %(svc)s \(inet\): -o \{ "
     r"milter_default_action = tempfail \}"),
]


@pytest.mark.parametrize("setting,warning,fix",
                         [b[1:] for b in MASTER_CF_BREAKAGES],
                         ids=[b[0] for b in MASTER_CF_BREAKAGES])
def test_master_cf_breakage(stack, setting, warning, fix):
    names = {"svc": re.escape(stack.svc), "sock": stack.policy_sock}
    saved = stack.master_cf()
    try:
        stack.postconf_P(setting % names)
        broken(stack, warning % names, fix % names)
    finally:
        stack.master_cf(saved)
    healthy(stack)


def test_plugin_not_loaded(stack):
    good, bad = SYNTAX["plugins"]
    try:
        stack.edit_dovecot(good, bad)
        broken(stack, r"WARNING: protocol imap: mail_plugins = .*acl.*: "
               r"the mailgrants plugin is not loaded",
               r"-> %s: %s" % (SYNTAX["snippet"], SYNTAX["plugins_fix"]))
    finally:
        stack.edit_dovecot(bad, good)
    healthy(stack)


# protocol imap's mail_plugins as the Dovecot under test combines it
# with the global one: (id, the change to the snippet's protocol imap
# block, the warning).
if is_24():
    DROPPED_IN_IMAP = [
        # a block adds to the global list; "= no" takes one out again
        ("boollist-no", ("    imap_mailgrants = yes\n",
                         "    imap_mailgrants = yes\n    mailgrants = no\n"),
         r"mail_plugins = acl imap_acl imap_mailgrants: the mailgrants "
         r"plugin is not loaded"),
        # "mail_plugins =" clears it: the block is then the whole list
        ("boollist-cleared", ("protocol imap {\n  mail_plugins {\n",
                              "protocol imap {\n  mail_plugins =\n"
                              "  mail_plugins {\n"),
         r"mail_plugins = imap_acl imap_mailgrants: the mailgrants plugin "
         r"\(with acl\) is not loaded"),
    ]
else:
    DROPPED_IN_IMAP = [
        # the list replaces the global one: without $mail_plugins the
        # global acl and mailgrants are gone
        ("without-mail-plugins", ("= $mail_plugins imap_acl",
                                  "= imap_acl"),
         r"mail_plugins = imap_acl imap_mailgrants: the mailgrants plugin "
         r"\(with acl\) is not loaded"),
    ]


@pytest.mark.parametrize("change,warning",
                         [b[1:] for b in DROPPED_IN_IMAP],
                         ids=[b[0] for b in DROPPED_IN_IMAP])
def test_plugin_dropped_in_protocol_imap(stack, change, warning):
    """The global mail_plugins has the plugin, protocol imap's list
    drops it (as Dovecot combines the two): named, with the fix."""
    good, bad = change
    try:
        stack.edit_dovecot(good, bad)
        out = broken(stack, r"WARNING: protocol imap: " + warning,
                     r"-> %s: %s" % (SYNTAX["snippet"],
                                     SYNTAX["plugins_fix"]))
        assert "mail_plugins has imap_acl and imap_mailgrants: ok" in out
    finally:
        stack.edit_dovecot(bad, good)
    healthy(stack)


def test_imap_plugin_not_loaded(stack):
    """90-mailgrants.conf from before imap_mailgrants: named, with the
    line to change."""
    good, bad = SYNTAX["imap_plugins"]
    try:
        stack.edit_dovecot(good, bad)
        out = broken(stack, r"WARNING: protocol imap: mail_plugins = "
                     r".*imap_acl.*: imap_mailgrants is not loaded",
                     r"-> %s: %s" % (SYNTAX["snippet"],
                                     SYNTAX["imap_plugins_fix"]))
        assert "mail_plugins has acl and mailgrants: ok" in out
    finally:
        stack.edit_dovecot(bad, good)
    healthy(stack)


def test_namespace_missing(stack):
    user = SYNTAX["user"]
    try:
        stack.edit_dovecot("prefix = Private/%s/" % user,
                           "prefix = Privat/%s/" % user)
        broken(stack, r"WARNING: mailgrants_private_prefix = Private/, but "
               r"no namespace has prefix = Private/%s/" % re.escape(user),
               r"-> %s: the namespace block" % SYNTAX["snippet"])
    finally:
        stack.edit_dovecot("prefix = Privat/%s/" % user,
                           "prefix = Private/%s/" % user)
    healthy(stack)


def test_replica_differs_from_the_sync(stack):
    line = SYNTAX["replica_line"] % stack.db
    other = os.path.join(stack.wd, "other.db")
    try:
        stack.edit_dovecot(line, SYNTAX["replica_line"] % other)
        broken(stack, r"WARNING: the plugin reads %s, the sync writes %s"
               % (re.escape(other), re.escape(stack.db)),
               r"-> %s: %s in mailgrants\.conf"
               % (SYNTAX["snippet"], SYNTAX["replica_fix"]))
    finally:
        stack.edit_dovecot(SYNTAX["replica_line"] % other, line)
    healthy(stack)


def test_plugin_settings_refused(stack):
    """doveconf refuses the plugin's settings: on 2.4 when the settings
    module is out of reach (hidden here by an empty directory mounted
    over Dovecot's settings/ in a mount namespace of the doctor's own,
    so no other Dovecot notices), on 2.3 when a setting is outside
    plugin { }. The doctor says why, with the fix, and does not go on
    with a configuration Dovecot cannot read."""
    if is_24():
        empty = os.path.join(stack.wd, "no-settings")
        os.makedirs(empty, exist_ok=True)
        settings = "/usr/lib/dovecot/modules/settings"
        assert os.path.exists(os.path.join(
            settings, "libmailgrants_settings.so"))
        argv = [stack.cli, "-c", stack.conf, "check", "--front-ends",
                "--postfix-config", stack.pf.config_dir,
                "--dovecot-config", stack.dc.conf_path]
        r = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             'mount --bind "$0" "$1" && shift && exec "$@"', empty, settings]
            + argv, capture_output=True, text=True, timeout=120)
        fix = (r"-> install settings/libmailgrants_settings\.so in "
               r"Dovecot's module directory")
    else:
        with open(stack.dc.conf_path, "a") as f:
            f.write("mailgrants_cache_secs = 5\n")
        try:
            r = stack.doctor()
        finally:
            stack.edit_dovecot("mailgrants_cache_secs = 5\n", "")
        fix = r"-> %s: the mailgrants_\* settings belong in plugin \{ \}" \
            % SYNTAX["snippet"]
    assert r.returncode == 1, r.stdout + r.stderr
    for p in (r"dovecot:   WARNING: Dovecot 2\.[34] refuses the "
              r"configuration: .*Unknown setting: mailgrants_", fix):
        assert re.search(p, r.stdout), "%r not in:\n%s" % (p, r.stdout)
    assert "mail_plugins has" not in r.stdout, r.stdout
    healthy(stack)


def test_replica_unreadable_by_mail_gid(stack):
    """The replica given to a group Dovecot's mail processes are not in:
    named, with mail_access_groups as the fix; and with that line the
    doctor is satisfied, although the mail user is no member of it."""
    files = [stack.db, stack.db + "-wal", stack.db + "-shm"]
    other = grp.getgrnam("daemon")
    mail = pwd.getpwuid(stack.dc.mail_uid)
    assert mail.pw_name not in other.gr_mem
    try:
        for f in files:
            os.chown(f, 0, other.gr_gid)
            os.chmod(f, 0o640)
        # (mail_access_groups of the shipped snippet: nogroup here)
        broken(stack, r"WARNING: mail uid %d gid %d \(groups: mail_gid, "
               r"mail_access_groups nogroup\) cannot read %s"
               % (stack.dc.mail_uid, stack.dc.mail_gid, re.escape(stack.db)),
               r"-> %s: mail_access_groups = " % SYNTAX["snippet"])
        with open(stack.dc.conf_path, "a") as f:
            f.write("mail_access_groups = daemon\n")
        # (check's identity part still names the file's group: the
        # readers' group is nogroup; the front ends are satisfied.)
        r = stack.doctor()
        assert "reads the replica and cannot write it: ok" in r.stdout
        assert "front ends: ok" in r.stdout, r.stdout
        assert "front-end problem" not in r.stderr
    finally:
        stack.edit_dovecot("mail_access_groups = daemon\n", "")
        stack.restore_replica()
    healthy(stack)


def test_replica_writable_by_mail_uid(stack):
    try:
        os.chmod(stack.db, 0o660)
        broken(stack, r"WARNING: mail uid %d gid %d can write %s"
               % (stack.dc.mail_uid, stack.dc.mail_gid,
                  re.escape(stack.db)), r"-> the replica is the sync's")
    finally:
        stack.restore_replica()
    healthy(stack)


def test_policy_socket_mode(stack):
    sock = stack.policy_sock
    try:
        os.chmod(sock, 0o600)
        broken(stack, r"WARNING: policy socket %s: \S+ 0600: postfix "
               r"cannot connect: Permission denied" % re.escape(sock),
               r"-> the socket must be writable by Postfix's mail_owner")
    finally:
        os.chmod(sock, 0o666)
    healthy(stack)


def test_milter_socket_gone(stack):
    sock = stack.milter.socket_path
    os.rename(sock, sock + ".away")
    try:
        broken(stack, r"WARNING: milter socket %s \(unix:%s\): No such "
               r"file or directory" % (re.escape(sock), re.escape(sock)),
               r"-> start mailgrants-milter")
    finally:
        os.rename(sock + ".away", sock)
    healthy(stack)


def test_address_not_resolving(stack):
    gone = "info@abc.com"
    assert gone in stack.addresses
    try:
        stack.write_map([a for a in stack.addresses if a != gone])
        broken(stack, r"WARNING: 1 of the sampled addresses resolve in "
               r"neither virtual_mailbox_maps \(texthash:\S+\) nor "
               r"virtual_alias_maps \(\): info@abc\.com\n",
               r"-> main\.cf: virtual_mailbox_maps")
    finally:
        stack.write_map(stack.addresses)
    healthy(stack)


def test_plain_check_stays_without_front_ends(stack):
    """check without --front-ends runs no postconf/doveconf."""
    r = stack.run("check")
    assert "front ends" not in r.stdout and "postfix:" not in r.stdout, \
        r.stdout


def test_lookups_broken_by_the_access_rules(stack, slapd):
    """README step 4: access.ldif replaces the site's rules, so an
    identity Dovecot (or Postfix) binds as for its own lookups reads
    nothing unless it is added to the read rule. A Dovecot whose LDAP
    passdb binds as such an identity, with a static userdb that checks
    users through the passdb: every mailbox is unknown to it, and the
    doctor says so; with the sync identity (in the read rule) the same
    Dovecot knows every user."""
    from dovecot import Dovecot
    lookup_dn = "cn=dovecot-lookup," + slapd.base
    rc, out, err = slapd.ldapadd(
        "dn: %s\nobjectClass: organizationalRole\nobjectClass: "
        "simpleSecurityObject\ncn: dovecot-lookup\nuserPassword: lookup-pw\n"
        % lookup_dn, root=True)
    assert rc == 0, err
    try:
        for dn, pw, fine in ((lookup_dn, "lookup-pw", False),
                             (slapd.sync_dn, slapd.sync_pw, True)):
            d = os.path.join(stack.wd, "dovecot-%s" % fine)
            os.makedirs(d)
            os.chmod(d, 0o755)
            pw_ = pwd.getpwuid(stack.dc.mail_uid)
            if is_24():
                # (userdb_static_allow_all_users is no by default)
                userdb = dict(userdb_conf="userdb static {\n  fields {\n"
                              "    uid = %d\n    gid = %d\n  }\n}\n"
                              % (pw_.pw_uid, pw_.pw_gid))
            else:
                userdb = dict(userdb_args="uid=%d gid=%d" % (pw_.pw_uid,
                                                             pw_.pw_gid))
            dc = Dovecot(slapd.uri, dn, pw, workdir=d, **userdb)
            dc.start()
            try:
                r = stack.run("check", "--front-ends", "--postfix-config",
                              stack.pf.config_dir, "--dovecot-config",
                              dc.conf_path)
            finally:
                dc.stop()
            m = re.search(r"dovecot:   WARNING: (\d+) of the sampled "
                          r"mailboxes are unknown to Dovecot's userdb "
                          r"\(doveadm user\): (.*)\n +-> the userdb",
                          r.stdout)
            assert m, r.stdout
            if fine:
                # Only the mailboxes that are no login: this passdb
                # finds users only (a userdb from the replica would
                # know them too).
                assert m.group(1) == "5", r.stdout
                assert "sandra.schuster@abc.com" not in m.group(2)
                assert "info@abc.com" in m.group(2)
            else:
                # Not even the users: their entries are closed to it.
                assert m.group(1) == "12", r.stdout
    finally:
        slapd.ldapdelete(lookup_dn, root=True)


def test_front_ends_checked_without_a_replica(stack, tmp_path):
    """No replica yet (before the first sync): the front ends are still
    checked, and the addresses are said not to be."""
    conf = str(tmp_path / "noreplica.conf")
    with open(stack.conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text.replace(stack.db, str(tmp_path / "none.db")))
    r = subprocess.run([stack.cli, "-c", conf, "check", "--postfix-config",
                        stack.pf.config_dir, "--dovecot-config",
                        stack.dc.conf_path], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "milter_default_action = tempfail: ok" in r.stdout
    assert "mail_plugins has acl and mailgrants: ok" in r.stdout
    assert "postfix:   addresses not checked: no replica" in r.stdout


def test_mail_processes_get_mail_access_groups_only(stack, slapd, build_dir,
                                                    repo_dir):
    """What the doctor assumes of Dovecot, checked against Dovecot: a
    mail user who is a member of the replica's group (adduser) still
    cannot read it in its IMAP processes (they get mail_gid and
    mail_access_groups only), so Sandra sees no company mailbox, and
    the doctor says so; with mail_access_groups naming the group she
    does, and the doctor agrees."""
    import imaplib
    import uuid
    from dovecot import Dovecot
    from mgdovecot import listed, plugin_conf
    tag = uuid.uuid4().hex[:6]
    group, user = "mgr-" + tag, "mgv-" + tag
    made = []

    def run(argv):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, (argv, r.stdout + r.stderr)

    try:
        run(["groupadd", "--system", group])
        made.append(("groupdel", group))
        run(["groupadd", "--system", user])
        made.append(("groupdel", user))
        run(["useradd", "--system", "--no-create-home", "--home-dir",
             "/nonexistent", "--shell", "/usr/sbin/nologin", "-g", user,
             "-G", group, user])
        made.insert(0, ("userdel", user))
        lib = os.path.join(stack.wd, "lib-" + tag)
        os.mkdir(lib)
        os.chmod(lib, 0o755)
        db = os.path.join(lib, "grants.db")
        conf = slapd.write_config(os.path.join(stack.wd, "mg-%s.conf" % tag),
                                  replica=db, replica_group=group)
        r = subprocess.run([stack.cli, "-c", conf, "sync", "--once"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        plugins = os.path.join(stack.wd, "plugins")
        for extra, readable in (("", False),
                                ("mail_access_groups = %s\n" % group, True)):
            d = os.path.join(stack.wd, "dovecot-%s-%s" % (tag, readable))
            os.makedirs(d)
            os.chmod(d, 0o755)
            dc = Dovecot(slapd.uri, slapd.sync_dn, slapd.sync_pw,
                         protocols=("imap",), mail_user=user,
                         plugin_dir=plugins, workdir=d,
                         extra_conf=plugin_conf(
                             repo_dir, os.path.join(d, "vmail"), db) + extra)
            dc.start()
            try:
                m = imaplib.IMAP4("127.0.0.1", dc.imap_port)
                m.login("sandra.schuster@abc.com", "sandra-pw")
                names = listed(m)
                m.logout()
                r = subprocess.run(
                    [stack.cli, "-c", conf, "check", "--postfix-config",
                     stack.pf.config_dir, "--dovecot-config", dc.conf_path],
                    capture_output=True, text=True, timeout=120)
            finally:
                dc.stop()
            seen = "Company/info@abc.com" in names
            assert seen == readable, names
            if readable:
                assert "reads the replica and cannot write it: ok" \
                    in r.stdout, r.stdout
            else:
                # (the snippet's mail_access_groups: nogroup, not the
                # replica's group)
                assert re.search(r"dovecot:   WARNING: mail uid \d+ gid \d+ "
                                 r"\(groups: mail_gid, mail_access_groups "
                                 r"nogroup\) cannot read %s"
                                 % re.escape(db), r.stdout), r.stdout
                assert re.search(r"-> %s: mail_access_groups = %s "
                                 % (SYNTAX["snippet"], group), r.stdout), \
                    r.stdout
    finally:
        for cmd, name in made:
            subprocess.run([cmd, name], capture_output=True)


def test_unreadable_map_is_named(stack):
    """A map postmap cannot open is named with postmap's reason, not
    passed off as addresses that do not resolve."""
    main_cf = os.path.join(stack.pf.config_dir, "main.cf")
    with open(main_cf) as f:
        saved = f.read()
    try:
        subprocess.run(["postconf", "-c", stack.pf.config_dir, "-e",
                        "virtual_alias_maps=nosuchtype:/etc/none"],
                       check=True)
        broken(stack, r"postfix:   WARNING: nosuchtype:/etc/none cannot be "
               r"read: postmap: fatal: unsupported dictionary type: "
               r"nosuchtype",
               r"-> the map's type must be installed")
    finally:
        with open(main_cf, "w") as f:
            f.write(saved)
    healthy(stack)


@pytest.fixture
def sharing(stack):
    """Sharing from mail clients set up on the stack as a site does it:
    mailgrants_share_socket uncommented, the passdb passing the
    password on, and the share service (as root with the readers'
    group, here nogroup, as its unit has mailgrants-read) on a socket
    in a 0750 directory of that group, as systemd makes it."""
    from daemonutil import kill_group, wait_for
    rundir = os.path.join(stack.wd, "mailgrants-share")
    os.makedirs(rundir, exist_ok=True)
    readers = grp.getgrnam("nogroup").gr_gid
    os.chown(rundir, 0, readers)
    os.chmod(rundir, 0o750)
    sock = os.path.join(rundir, "share.sock")
    line = SYNTAX["share_socket"] % sock
    with open(stack.dc.conf_path, "a") as f:
        f.write(line)
    stack.edit_dovecot(*SYNTAX["passdb_field"])
    log = open(os.path.join(stack.wd, "share-service.log"), "a")
    proc = subprocess.Popen(
        [stack.cli, "-c", stack.conf, "share-service", "--socket", sock],
        stdout=log, stderr=log, start_new_session=True,
        preexec_fn=lambda: os.setgid(readers))
    try:
        wait_for(lambda: os.path.exists(sock), timeout=10,
                 what="the share service's socket")
        yield types.SimpleNamespace(socket=sock, proc=proc)
    finally:
        kill_group(proc)
        log.close()
        if os.path.exists(sock):
            os.unlink(sock)
        stack.edit_dovecot(line, "")
        stack.edit_dovecot(*reversed(SYNTAX["passdb_field"]))


def test_sharing_off_is_said(stack):
    """The shipped snippet leaves sharing from clients off: said, and no
    problem."""
    out = healthy(stack)
    assert "dovecot:   sharing from mail clients: off " \
        "(mailgrants_share_socket is not set;" in out, out
    assert "share socket" not in out


def test_sharing_set_up(stack, sharing):
    out = healthy(stack)
    assert "dovecot:   share socket %s: mail uid %d gid %d connects, the " \
        "service answers: ok" % (sharing.socket, stack.dc.mail_uid,
                                 stack.dc.mail_gid) in out, out
    assert "dovecot:   the passdb hands the login's password to the mail " \
        "processes (userdb_mailgrants_share_password): ok" in out, out
    assert "sharing from mail clients: off" not in out


SERVICE_FIX = (r"-> systemctl enable --now mailgrants-share \(mailgrants "
               r"share-service --socket %s\), or comment out "
               r"mailgrants_share_socket in %s")


def test_share_service_not_running(stack, sharing):
    """The service stopped: first its socket is left behind (nobody
    listens), then it is gone; either way clients get UNAVAILABLE."""
    from daemonutil import kill_group
    sock = re.escape(sharing.socket)
    fix = SERVICE_FIX % (sock, SYNTAX["snippet"])
    kill_group(sharing.proc)
    assert os.path.exists(sharing.socket)
    broken(stack, r"WARNING: share socket %s: nobody listens \(Connection "
           r"refused\): clients' SETACL and DELETEACL answer NO "
           r"\[UNAVAILABLE\]" % sock, fix)
    os.unlink(sharing.socket)
    broken(stack, r"WARNING: share socket %s: No such file or directory: "
           r"clients' SETACL and DELETEACL answer NO \[UNAVAILABLE\]"
           % sock, fix)


def test_share_socket_closed_to_the_mail_uid(stack, sharing):
    """The mail processes connect with mail_gid and mail_access_groups
    only: a socket only its owner may use is named, as root can."""
    os.chmod(sharing.socket, 0o600)
    broken(stack, r"WARNING: share socket %s \(group nogroup, 0600\): "
           r"mail uid %d gid %d \(groups: mail_gid, mail_access_groups "
           r"nogroup\) cannot connect: Permission denied"
           % (re.escape(sharing.socket), stack.dc.mail_uid,
              stack.dc.mail_gid),
           r"-> the socket's group must be one of the mail processes': "
           r"the unit mailgrants-share makes it mailgrants-read \(0660, "
           r"its directory 0750\), and %s gives them that group: "
           r"mail_access_groups = mailgrants-read" % SYNTAX["snippet"])
    os.chmod(sharing.socket, 0o660)
    healthy(stack)


def test_share_socket_silent_or_foreign(stack, sharing):
    """Something listens that is not the share service: one that never
    answers (a hung service), one that answers otherwise (another
    program's socket named by mistake: an SMTP-like greeting)."""
    import threading
    silent = os.path.join(stack.wd, "silent.sock")
    foreign = os.path.join(stack.wd, "foreign.sock")
    listeners = []
    for path in (silent, foreign):
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listeners.append(ls)
        ls.bind(path)
        os.chmod(path, 0o666)
        ls.listen(4)

    def greet():
        try:
            while True:
                conn, _ = listeners[1].accept()
                conn.sendall(b"220 not the share service\r\n")
                conn.close()
        except OSError:
            pass            # closed at the end
    threading.Thread(target=greet, daemon=True).start()
    try:
        for path, warning, fix in (
                (silent, r"connected, but no answer \(closed, or nothing "
                 r"within 5 s\)",
                 r"-> journalctl -u mailgrants-share; systemctl restart "
                 r"mailgrants-share"),
                (foreign, r"the answer is not mailgrants share-service's",
                 r"-> %s: mailgrants_share_socket must name the socket "
                 r"of mailgrants share-service --socket"
                 % SYNTAX["snippet"])):
            stack.edit_dovecot(sharing.socket, path)
            try:
                broken(stack, r"WARNING: share socket %s: %s"
                       % (re.escape(path), warning), fix)
            finally:
                stack.edit_dovecot(path, sharing.socket)
    finally:
        for ls in listeners:
            ls.shutdown(socket.SHUT_RDWR) if ls is listeners[1] else None
            ls.close()
        for path in (silent, foreign):
            os.unlink(path)
    healthy(stack)


def test_share_password_not_passed_on(stack, sharing):
    """Without the passdb's field the mail processes have no password
    to share with: named, with the field in this version's syntax."""
    good, bad = reversed(SYNTAX["passdb_field"])
    stack.edit_dovecot(good, bad)
    try:
        out = broken(stack, r"WARNING: the passdb does not set "
                     r"userdb_mailgrants_share_password: the mail "
                     r"processes get no password to share with; clients' "
                     r"SETACL and DELETEACL answer NO \[CANNOT\]",
                     r"-> in the passdb .*that checks the password: %s"
                     % SYNTAX["share_password_fix"])
        assert "the service answers: ok" in out
    finally:
        stack.edit_dovecot(bad, good)
    healthy(stack)


def test_share_without_imap_mailgrants(stack, sharing):
    """Sharing set up, but protocol imap without imap_mailgrants:
    imap_acl takes SETACL and nothing reaches the service."""
    good, bad = SYNTAX["imap_plugins"]
    stack.edit_dovecot(good, bad)
    try:
        broken(stack, r"WARNING: mailgrants_share_socket = %s, but protocol "
               r"imap does not load imap_mailgrants: clients cannot share"
               % re.escape(sharing.socket),
               r"-> %s: %s" % (SYNTAX["snippet"],
                               SYNTAX["imap_plugins_fix"]))
    finally:
        stack.edit_dovecot(bad, good)
    healthy(stack)
