"""stack - the submission chain on real servers, for one module of tests.

    from stack import Stack

    s = Stack(slapd, build_dir, milter=True)
    try:
        swaks --port s.pf.submission_port ...   # relayed into s.sink
    finally:
        s.close()

Stack(slapd, build_dir, prefix="mg-stack-", milter=True,
      dovecot=None, replica_dir=None, replica_group="nogroup",
      before_daemons=None, postfix=True)
    starts, in this order and below one fresh work directory wd
    (daemonutil.make_workdir(prefix)):
    - Dovecot for SASL in wd/dovecot, or the one dovecot(stack) starts
      (one with the plugin, say);
    - mailgrants.conf (slapd.write_config) with the replica grants.db
      in wd or in wd/<replica_dir>, the replica_group's to read
      (replica_group(stack) when it is callable), and one
      `mailgrants sync --once`, which must succeed;
    - before_daemons(stack), when given;
    - mailgrants-policyd and, with milter, mailgrants-milter on
      wd/milter.sock;
    - with postfix, an SMTP sink and a private Postfix in wd/postfix
      whose submission service checks senders through the policy
      daemon (and the milter), authenticates against Dovecot and
      relays to the sink. With the milter, loopback is not a "local"
      client (local_header_rewrite_clients empty): real submission
      clients are not, and their headers reach the milter as written.
    Attributes: slapd, build_dir, wd, conf, replica (and db, the same),
    cli (build/mailgrants), dc, policyd, milter, milter_socket, sink,
    pf (None for what was not started). Methods: subdir(name) (a new
    wd/name the daemon users can enter), mg(*args) (build/mailgrants
    -c conf args; the CompletedProcess), sync(), close() (stops
    everything, removes wd; a failed start closes what it started).

A missing binary is an assertion failure, never a skip.
"""

import os
import shutil
import subprocess

from daemonutil import make_workdir, stop_all
from dovecot import Dovecot
from milter import Milter
from policyd import Policyd
from postfix import Postfix, SmtpSink


class Stack:
    """slapd (given) + replica + Dovecot + policyd [+ milter] + sink +
    Postfix submission, all below one work directory."""

    def __init__(self, slapd, build_dir, prefix="mg-stack-", milter=True,
                 dovecot=None, replica_dir=None, replica_group="nogroup",
                 before_daemons=None, postfix=True):
        self.slapd = slapd
        self.build_dir = build_dir
        self.cli = os.path.join(build_dir, "mailgrants")
        assert os.access(self.cli, os.X_OK), "%s not built" % self.cli
        self.wd = make_workdir(prefix)
        self.dc = self.policyd = self.milter = self.sink = self.pf = None
        try:
            rdir = self.wd
            if replica_dir is not None:
                rdir = self.subdir(replica_dir)
            self.replica = self.db = os.path.join(rdir, "grants.db")
            self.conf = os.path.join(self.wd, "mailgrants.conf")
            if dovecot is None:
                self.dc = Dovecot(slapd.uri, slapd.sync_dn, slapd.sync_pw,
                                  workdir=self.subdir("dovecot")).start()
            else:
                self.dc = dovecot(self)
            if callable(replica_group):
                replica_group = replica_group(self)
            slapd.write_config(self.conf, replica=self.replica,
                               replica_group=replica_group)
            os.chmod(self.conf, 0o644)
            self.sync()
            if before_daemons is not None:
                before_daemons(self)
            self.policyd = Policyd(build_dir, self.conf, self.wd)
            self.milter_socket = os.path.join(self.wd, "milter.sock")
            main_extra = None
            if milter:
                self.milter = Milter(build_dir, self.conf, self.wd,
                                     socket_path=self.milter_socket)
                main_extra = {"local_header_rewrite_clients": ""}
            if not postfix:
                return
            self.sink = SmtpSink().start()
            self.pf = Postfix(relay_port=self.sink.port,
                              sender_check="policy",
                              policy_service="unix:" +
                              self.policyd.socket_path,
                              sasl_path=self.dc.auth_socket,
                              milter=self.milter and self.milter.postfix_spec,
                              workdir=self.subdir("postfix"),
                              main_extra=main_extra).start()
        except BaseException:
            self.close()
            raise

    def subdir(self, name):
        """A new directory wd/name that the daemon users can enter."""
        d = os.path.join(self.wd, name)
        os.makedirs(d)
        os.chmod(d, 0o755)
        return d

    def mg(self, *args, conf=None):
        """build/mailgrants -c CONF ARGS, standard input closed."""
        return subprocess.run([self.cli, "-c", conf or self.conf]
                              + list(args), capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)

    def sync(self):
        r = self.mg("sync", "--once")
        assert r.returncode == 0, "sync failed: %s%s" % (r.stdout, r.stderr)

    def close(self):
        stop_all(self.pf, self.sink, self.milter, self.policyd, self.dc)
        shutil.rmtree(self.wd, ignore_errors=True)
