"""sandbox - the servers of `make demo`, started once, stopped later.

    from sandbox import Sandbox, SandboxError

    sb = Sandbox(directory, build_dir)
    sb.running()        -> the state of a live sandbox there, or None
    sb.start()          -> every server up, the state file written
    sb.stop()           -> every server stopped, the directory removed

Everything lives below one directory (default /tmp/mailgrants-demo):
slapd with the mailgrants schema, access rules, syncprov and the
abc.com example; `mailgrants sync --follow` writing grants.db;
Dovecot with the mailgrants plugin (IMAP and LMTP on loopback ports);
mailgrants-policyd and mailgrants-milter (UNIX sockets); Postfix with
a port-25-like service and a submission service (SASL through
Dovecot, the policy check answering MAIL FROM with smtpd_delay_reject =
no as postfix-policyd/master.cf.snippet ships it, the milter),
delivering by LMTP to Dovecot.
The servers are started by the test harnesses in tests/lib, each in a
session of its own, so they outlive the process that started them.

demo.state (JSON) in the directory records for each server its process
id, the start time the kernel gives that process (so that a later
stop never signals a process that merely reuses the id) and its
process group; stop() works from that file alone, in a later
invocation.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))

from daemonutil import tail  # noqa: E402

STATE = "demo.state"
CACHE_SECS = 2          # mailgrants_cache_secs of the sandbox's Dovecot
PASSWORDS = {
    "sandra.schuster@abc.com": "sandra-pw",
    "jana.meier@abc.com": "jana-pw",
    "peter.mueller@abc.com": "peter-pw",
    "tom.berger@abc.com": "tom-pw",
    "anna.schmidt@xyz.org": "anna-pw",
    "max.wolf@xyz.org": "max-pw",
}


class SandboxError(RuntimeError):
    """A server of the sandbox did not start; the text says which."""


def proc_start_time(pid):
    """The start time of process pid (clock ticks since boot, field 22
    of /proc/PID/stat), or None when there is no such process."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain blanks and parentheses.
    return int(stat[stat.rindex(")") + 2:].split()[19])


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class Proc:
    """One recorded server process: name, pid, start time, group."""

    def __init__(self, name, pid, group=True, start_time=None):
        self.name = name
        self.pid = pid
        self.group = group
        self.start_time = (start_time if start_time is not None
                           else proc_start_time(pid))

    def to_json(self):
        return {"name": self.name, "pid": self.pid, "group": self.group,
                "start_time": self.start_time}

    @classmethod
    def from_json(cls, d):
        return cls(d["name"], d["pid"], d["group"], d["start_time"])

    def alive(self):
        """True while the very process we started runs."""
        return (self.start_time is not None and
                proc_start_time(self.pid) == self.start_time)

    def anything_left(self):
        """The process, or (group) any process of its process group."""
        try:    # our own child (a failed start): reap the zombie
            os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return self.alive() or (self.group and group_alive(self.pid))

    def signal(self, sig):
        """Signal our process (never one that reuses its id), and its
        process group: a group whose id is our pid holds only processes
        we started, as the id cannot be reused while the group exists."""
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
        if self.group and group_alive(self.pid):
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout=10.0):
        """SIGTERM to the process, then TERM and at last KILL to what is
        left of its group."""
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for sig, wait in ((None, timeout), (signal.SIGTERM, 2.0),
                          (signal.SIGKILL, 5.0)):
            if sig is not None:
                self.signal(sig)
            deadline = time.monotonic() + wait
            while self.anything_left() and time.monotonic() < deadline:
                time.sleep(0.05)
            if not self.anything_left():
                return


class Sandbox:
    """The demo's servers below one directory (see the module doc)."""

    def __init__(self, directory, build_dir):
        self.dir = os.path.abspath(directory)
        self.build = os.path.abspath(build_dir)
        self.state_path = os.path.join(self.dir, STATE)
        self.state = {}
        self.procs = []

    # -- the state file ----------------------------------------------------

    def read_state(self):
        """The state file's contents, or None when there is none."""
        try:
            with open(self.state_path) as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"procs": []}

    def _write_state(self):
        self.state["procs"] = [p.to_json() for p in self.procs]
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f, indent=1)
        os.replace(tmp, self.state_path)

    def _record(self, name, pid, group=True):
        self.procs.append(Proc(name, pid, group))
        self._write_state()

    def running(self):
        """The state of a sandbox with a live process here, or None."""
        state = self.read_state()
        if state is None:
            return None
        procs = [Proc.from_json(p) for p in state.get("procs", [])]
        starter = state.get("starter")
        if starter and Proc.from_json(starter).alive():
            return state
        if any(p.anything_left() for p in procs):
            return state
        return None

    # -- starting ----------------------------------------------------------

    def _prepare_dir(self):
        """Create the directory; a stale sandbox there is removed, any
        other non-empty directory is refused."""
        if os.path.isdir(self.dir) and os.listdir(self.dir):
            if self.read_state() is None:
                raise SandboxError(
                    "%s exists and is not a mailgrants demo sandbox (no %s"
                    " in it); remove it or set MAILGRANTS_DEMO_DIR to "
                    "another directory" % (self.dir, STATE))
            self.stop()
        os.makedirs(self.dir, exist_ok=True)
        # Dovecot's and Postfix's unprivileged processes enter it.
        os.chmod(self.dir, 0o755)
        self.state = {"dir": self.dir, "started": time.time(),
                      "starter": Proc("demo", os.getpid(), False).to_json()}
        self._write_state()

    def start(self):
        """Start every server; on failure stop what started and raise
        SandboxError with the log that explains it."""
        from slapd import Slapd
        from mgdovecot import make_plugin_dir, start_dovecot
        from policyd import Policyd
        from milter import Milter
        from postfix import Postfix

        for exe in ("mailgrants", "mailgrants-policyd", "mailgrants-milter",
                    os.path.join("dovecot-plugin",
                                 "lib20_mailgrants_plugin.so")):
            if not os.path.exists(os.path.join(self.build, exe)):
                raise SandboxError("%s missing: run make first"
                                   % os.path.join(self.build, exe))
        self._prepare_dir()
        d = self.dir
        cleanup = []    # harness objects whose own stop() may be needed
        try:
            step = "slapd"
            slapd = Slapd(workdir=os.path.join(d, "slapd"))
            self._record("slapd", slapd.proc.pid)
            # Ours to stop from now on, not the harness object's.
            slapd.proc = None

            step = "Dovecot"
            self.replica = os.path.join(d, "grants.db")
            dc = start_dovecot(slapd, d, make_plugin_dir(self.build, d),
                               REPO, self.replica, name="dovecot",
                               cache_secs=CACHE_SECS)
            self._record("dovecot", dc.pid)

            step = "mailgrants sync --follow"
            self.conf = slapd.write_config(
                os.path.join(d, "mailgrants.conf"), replica=self.replica,
                replica_group=dc.mail_gid)
            os.chmod(self.conf, 0o644)
            log = open(os.path.join(d, "sync.log"), "ab")
            follower = subprocess.Popen(
                [os.path.join(self.build, "mailgrants"), "-c", self.conf,
                 "sync", "--follow"], stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, start_new_session=True)
            log.close()
            self._record("mailgrants sync --follow", follower.pid)
            deadline = time.monotonic() + 30
            while not os.path.exists(self.replica):
                if follower.poll() is not None or \
                        time.monotonic() > deadline:
                    raise SandboxError("no replica from the sync:\n" +
                                       tail(os.path.join(d, "sync.log")))
                time.sleep(0.05)

            step = "mailgrants-policyd"
            policyd = Policyd(self.build, self.conf, d, user=dc.mail_user,
                              start=False)
            cleanup.append(policyd)
            policyd.start(wait_ready=False)
            self._record("mailgrants-policyd", policyd.pid)
            policyd.wait_log(r"ready: ", timeout=10)

            step = "mailgrants-milter"
            milter = Milter(self.build, self.conf, d, user=dc.mail_user,
                            socket_path=os.path.join(d, "milter.sock"),
                            start=False)
            cleanup.append(milter)
            milter.start()
            self._record("mailgrants-milter", milter.pid)

            step = "Postfix"
            pfdir = os.path.join(d, "postfix")
            os.mkdir(pfdir)
            os.chmod(pfdir, 0o755)
            pf = Postfix(delivery="lmtp:inet:127.0.0.1:%d" % dc.lmtp_port,
                         sender_check="policy",
                         policy_service="unix:" + policyd.socket_path,
                         sasl_path=dc.auth_socket,
                         milter=milter.postfix_spec, workdir=pfdir,
                         # The demo's client is on loopback, which
                         # Postfix counts as local; let its headers
                         # reach the milter as written, as a real
                         # client's do.
                         main_extra={"local_header_rewrite_clients": ""})
            cleanup.append(pf)
            pf.start()
            self._record("postfix", pf.master_pid)
        except BaseException as e:
            for part in reversed(cleanup):
                try:
                    part.stop()
                except BaseException:
                    pass
            self.stop()
            if not isinstance(e, Exception):
                raise
            raise SandboxError("%s did not start: %s" % (step, e)) from None
        self.state.update({
            "ldap_uri": slapd.uri, "ldap_port": slapd.port,
            "imap_port": dc.imap_port, "lmtp_port": dc.lmtp_port,
            "submission_port": pf.submission_port, "smtp_port": pf.mx_port,
            "conf": self.conf, "replica": self.replica,
            "postfix_config": pf.config_dir, "maillog": pf.maillog,
            "dovecot_log": dc.log_path, "policyd_log": policyd.log_path,
            "milter_log": milter.log_path,
            "sync_log": os.path.join(d, "sync.log"),
            "slapd_base": slapd.base,
        })
        self.state.pop("starter", None)
        self._write_state()
        return self.state

    # -- stopping ----------------------------------------------------------

    def stop(self):
        """Stop every recorded server (newest first) and remove the
        directory. True when there was a sandbox to stop."""
        state = self.read_state()
        if state is None and not self.procs:
            return False
        procs = self.procs or [Proc.from_json(p)
                               for p in (state or {}).get("procs", [])]
        pf_config = (state or {}).get("postfix_config") or os.path.join(
            self.dir, "postfix", "etc")
        for p in reversed(procs):
            if p.name == "postfix" and p.alive() and \
                    os.path.isdir(pf_config):
                # The master stops its children and cleans up itself.
                subprocess.run(["/usr/sbin/postfix", "-c", pf_config,
                                "stop"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=60)
            p.stop()
        left = [p.name for p in procs if p.anything_left()]
        if left:
            raise SandboxError("still running after SIGKILL: %s"
                               % ", ".join(left))
        self.procs = []
        if os.environ.get("MAILGRANTS_KEEP_TMP"):
            sys.stderr.write("demo: keeping %s\n" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return True
