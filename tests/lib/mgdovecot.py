"""mgdovecot - a private Dovecot with the mailgrants plugin, for tests.

make_plugin_dir(build_dir, workdir) -> a mail_plugin_dir holding our
    plugins (mailgrants, imap_mailgrants) from the build tree beside
    links to the system's acl and imap_acl plugins (mail_plugin_dir is
    one directory).
plugin_conf(repo_dir, vmail_dir, replica, cache_secs) -> the shipped
    dovecot-plugin/90-mailgrants.conf (-2.4.conf on Dovecot 2.4) with
    this instance's paths (also the benchmark's, tests/bench/).
start_dovecot(slapd, workdir, plugin_dir, repo_dir, replica, name,
    cache_secs, extra_conf, passdb_fields) -> a started Dovecot
    (tests/lib/dovecot.py) with IMAP and LMTP on loopback and passdb
    through the test slapd (adding passdb_fields to its answer).
listed(imap, pattern) -> the mailbox names LIST answers.
in_maildir(maildir, tag) -> whether a message with Subject: tag is in
    the Maildir's new/ or cur/.
"""

import grp
import os
import pwd
import re

import pytest

from dovecot import Dovecot, is_24

PLUGIN_SO = "lib20_mailgrants_plugin.so"
IMAP_PLUGIN_SO = "lib21_imap_mailgrants_plugin.so"
LMTP_PLUGIN_SO = "lib95_lmtp_mailgrants_plugin.so"
SYSTEM_MODULES = "/usr/lib/dovecot/modules"
CACHE_SECS = 2


def make_plugin_dir(build_dir, workdir):
    """mail_plugin_dir is one directory: ours beside acl, imap_acl."""
    ours = [os.path.join(build_dir, "dovecot-plugin", name)
            for name in (PLUGIN_SO, IMAP_PLUGIN_SO, LMTP_PLUGIN_SO)]
    for so in ours:
        if not os.path.exists(so):
            pytest.fail("%s missing: run make" % so)
    d = os.path.join(workdir, "plugins")
    os.makedirs(d)
    os.chmod(d, 0o755)
    for name in ("lib01_acl_plugin.so", "lib02_imap_acl_plugin.so"):
        src = os.path.join(SYSTEM_MODULES, name)
        if not os.path.exists(src):
            pytest.fail("%s missing (package dovecot-core/imapd)" % src)
        os.symlink(src, os.path.join(d, name))
    for so in ours:
        os.symlink(so, os.path.join(d, os.path.basename(so)))
    return d


def plugin_conf(repo_dir, vmail_dir, replica, cache_secs=CACHE_SECS,
                reader_group="nogroup"):
    """The shipped snippet (90-mailgrants-2.4.conf on Dovecot 2.4) with
    this instance's paths; its readers' group (mail_access_groups) is
    reader_group, a group every host has, instead of the package's
    mailgrants-read; cache_secs None keeps the shipped value."""
    name, groups = "90-mailgrants.conf", "$mail_access_groups "
    if is_24():
        name, groups = "90-mailgrants-2.4.conf", ""
    with open(os.path.join(repo_dir, "dovecot-plugin", name)) as f:
        text = f.read()
    assert "/var/vmail/" in text and "/var/lib/mailgrants/grants.db" in text
    line = "mail_access_groups = %smailgrants-read" % groups
    assert line in text
    text = text.replace(line, "mail_access_groups = %s%s"
                        % (groups, reader_group))
    text = text.replace("/var/vmail/", vmail_dir + "/")
    text = text.replace("/var/lib/mailgrants/grants.db", replica)
    if cache_secs is not None:
        text = re.sub(r"mailgrants_cache_secs = \d+",
                      "mailgrants_cache_secs = %d" % cache_secs, text)
    # The generated dovecot.conf has no inbox namespace of its own.
    return "namespace inbox {\n  inbox = yes\n}\n" + text


def sql_userdb(repo_dir, workdir, vmail_dir, replica, mail_user="nobody"):
    """The shipped sql userdb on the replica (README "Delivery"), with
    this instance's paths and mail user: for the mailboxes that are not
    people and the recipients of sent copies; 2.3 or 2.4 syntax."""
    pw = pwd.getpwnam(mail_user)
    gr = grp.getgrgid(pw.pw_gid).gr_name

    def adapt(text):
        for old, new in (("/var/lib/mailgrants/grants.db", replica),
                         ("/var/vmail/", vmail_dir + "/"),
                         ("'vmail' AS uid", "'%s' AS uid" % mail_user),
                         ("'vmail' AS gid", "'%s' AS gid" % gr)):
            assert old in text, old
            text = text.replace(old, new)
        return text

    def read(name):
        with open(os.path.join(repo_dir, "dovecot-plugin", name),
                  encoding="utf-8") as f:
            return f.read()
    if is_24():
        text = adapt(read("91-mailgrants-userdb-2.4.conf"))
    else:
        ext = os.path.join(workdir, "dovecot-mailgrants-sql.conf.ext")
        with open(ext, "w", encoding="utf-8") as f:
            f.write(adapt(read("dovecot-mailgrants-sql.conf.ext")))
        text = read("91-mailgrants-userdb.conf").replace(
            "/etc/dovecot/dovecot-mailgrants-sql.conf.ext", ext)
    # The readers' group of this replica (the files' group).
    group = grp.getgrgid(os.stat(os.path.dirname(replica)).st_gid).gr_name
    return text.replace("mailgrants-read", group)


def start_dovecot(slapd, workdir, plugin_dir, repo_dir, replica,
                  name="dovecot", cache_secs=CACHE_SECS, extra_conf="",
                  passdb_fields=None, sent_copies=False):
    """sent_copies: the shipped sql userdb before the static one, so
    that the recipients of sent copies find their mailbox."""
    d = os.path.join(workdir, name)
    os.makedirs(d)
    os.chmod(d, 0o755)
    first = ""
    if sent_copies:
        first = sql_userdb(repo_dir, d, os.path.join(d, "vmail"), replica)
    dc = Dovecot(slapd.uri, slapd.sync_dn, slapd.sync_pw,
                 protocols=("imap", "lmtp"), lmtp_inet=True,
                 plugin_dir=plugin_dir, workdir=d,
                 passdb_fields=passdb_fields, userdb_first=first,
                 extra_conf=plugin_conf(repo_dir, os.path.join(d, "vmail"),
                                        replica, cache_secs) + extra_conf)
    dc.start()
    return dc


def list_names(data, error=AssertionError):
    """The mailbox names of a LIST answer's data (imaplib's); a line
    that is no LIST reply raises error."""
    names = []
    for line in data:
        if line is None:
            continue
        if isinstance(line, tuple):
            line = line[0] + line[1]
        mm = re.match(rb'\(([^)]*)\) (?:"[^"]*"|NIL) (.*)$', line)
        if not mm:
            raise error("LIST: cannot parse %r" % line)
        name = mm.group(2)
        if name.startswith(b'"'):
            name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
        names.append(name.decode())
    return names


def in_maildir(maildir, tag):
    """Whether a message with Subject: tag is in maildir's new/ or cur/."""
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                if ("Subject: %s" % tag).encode() in f.read():
                    return True
    return False


def listed(m, pattern="*"):
    typ, data = m.list('""', '"%s"' % pattern)
    assert typ == "OK", data
    return list_names(data)
