"""sharestack - the stack of the sharing tests: slapd, follower, share
service and Dovecot with both plugins (README, "Sharing from your mail
client").

Stack(build_dir, repo_dir, workdir, passdb_fields) -> a private slapd
    (our schema, access rules and the example directory), the follower
    (mailgrants sync --follow) writing the replica, mailgrants
    share-service on workdir/share.sock and a Dovecot with mailgrants
    and imap_mailgrants whose passdb adds passdb_fields to its answer
    (PASSWORD_FIELD: the login's password for the mail process; None:
    none). .imap(login) an imaplib session logged in with the example
    password, .shares() the share entries in LDAP, .logs() the
    follower's and the service's logs, .close() stops it all.
running_stack(build_dir, repo_dir, prefix, passdb_fields) -> a context
    manager: a Stack in a fresh work directory (make_workdir(prefix)),
    stopped and removed at the end whatever happened.
    Used by tests/integration/test_imap_share.py and tests/roundcube.
"""

import contextlib
import os
import shutil
import subprocess
import time

import imaplib

import example
from daemonutil import kill_group, make_workdir
from dovecot import is_24
from mgdovecot import make_plugin_dir, start_dovecot
from slapd import Slapd

# The passdb field that hands the login's password to the mail process.
PASSWORD_FIELD = {"userdb_mailgrants_share_password": "%w"}


class Stack:
    """slapd, follower, share service and Dovecot of one test."""

    def __init__(self, build_dir, repo_dir, workdir, passdb_fields):
        self.workdir = workdir
        self.procs = []
        self.dc = None
        self.slapd = Slapd(workdir=os.path.join(workdir, "slapd"))
        try:
            self._start_all(build_dir, repo_dir, passdb_fields)
        except BaseException:
            # what did start stops here: the caller gets no Stack
            self.close()
            raise

    def _start_all(self, build_dir, repo_dir, passdb_fields):
        workdir = self.workdir
        self.mailgrants = os.path.join(build_dir, "mailgrants")
        rdir = os.path.join(workdir, "replica")
        os.makedirs(rdir)
        os.chmod(rdir, 0o755)
        self.replica = os.path.join(rdir, "grants.db")
        self.socket = os.path.join(workdir, "share.sock")
        plugin_dir = make_plugin_dir(build_dir, workdir)
        self.dc = start_dovecot(
            self.slapd, workdir, plugin_dir, repo_dir, self.replica,
            passdb_fields=passdb_fields,
            extra_conf=(("mailgrants_share_socket = %s\n" if is_24() else
                         "plugin {\n  mailgrants_share_socket = %s\n}\n")
                        % self.socket))
        self.conf = self.slapd.write_config(
            os.path.join(workdir, "mailgrants.conf"), replica=self.replica,
            replica_group=self.dc.mail_gid)
        self.follow_log = self._start("follow.log", "sync", "--follow")
        self.service_log = self._start("service.log", "share-service",
                                       "--socket", self.socket)
        deadline = time.monotonic() + 15
        while not (os.path.exists(self.socket) and
                   os.path.exists(self.replica)):
            assert time.monotonic() < deadline, self.logs()
            time.sleep(0.05)
        # the test's imap processes run as nobody; the socket is made
        # 0660 for the service's own user and group
        os.chmod(self.socket, 0o666)

    def _start(self, log, *args):
        path = os.path.join(self.workdir, log)
        with open(path, "w") as f:
            self.procs.append(subprocess.Popen(
                [self.mailgrants, "-c", self.conf] + list(args),
                stdout=f, stderr=subprocess.STDOUT, start_new_session=True))
        return path

    def logs(self):
        out = ""
        for path in (self.follow_log, self.service_log):
            with open(path) as f:
                out += "== %s\n%s" % (path, f.read())
        return out

    def service_text(self):
        with open(self.service_log) as f:
            return f.read()

    def imap(self, login):
        m = imaplib.IMAP4("127.0.0.1", self.dc.imap_port, timeout=90)
        assert m.login(login, example.PASSWORDS[login])[0] == "OK"
        return m

    def shares(self):
        return self.slapd.shares()

    def close(self):
        for p in self.procs:
            kill_group(p)
        if self.dc is not None:
            self.dc.stop()
        self.slapd.close()


@contextlib.contextmanager
def running_stack(build_dir, repo_dir, prefix, passdb_fields=PASSWORD_FIELD):
    workdir = make_workdir(prefix)
    s = None
    try:
        s = Stack(build_dir, repo_dir, workdir, passdb_fields)
        yield s
    finally:
        if s is not None:
            s.close()
        shutil.rmtree(workdir, ignore_errors=True)
