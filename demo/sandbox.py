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

The directory is the sandbox's own: start() creates it (mode 0700,
then 0711 so that the servers' own users can pass through it, nobody
can list it) and refuses a directory that exists already unless it is
the caller's and nobody else can write to it (nor to the directories
above it, sticky ones like /tmp aside); start(), running() and stop()
refuse such a directory with SandboxError before they read anything
in it. This matters because root runs make demo-stop and
/tmp/mailgrants-demo is a name anyone can take first.

demo.state (JSON) in the directory records for each server its name,
process id, the start time the kernel gives that process (field 22 of
/proc/PID/stat) and the boot it ran in. Nothing else in it is acted
upon: which executable each name runs, where Postfix's configuration
is, and which processes a server's group may hold are derived here.
Before any signal a process must run the executable its name says, in
the boot and with the start time recorded; so a stop after a reboot
or after the id was reused never signals a stranger. A server's
children (its process group) are signalled one by one, each checked
the same way (the executable of that server or of its helper
programs, started no earlier than the server). Postfix is stopped by
SIGTERM to its verified master, which stops its children: `postfix
stop` would run programs named by a main.cf in the directory.
"""

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))

from daemonutil import tail  # noqa: E402
from example import PASSWORDS  # noqa: E402,F401 (demo.py)

STATE = "demo.state"
CACHE_SECS = 2          # mailgrants_cache_secs of the sandbox's Dovecot
BOOT_ID = "/proc/sys/kernel/random/boot_id"
STATE_KEYS = ("dir", "started", "starter", "procs")



def sent_copy_settings(lmtp_port):
    """delivery.main.cf.snippet's lines for sent copies, the LMTP
    nexthop this Dovecot's."""
    with open(os.path.join(REPO, "postfix-policyd",
                           "delivery.main.cf.snippet"),
              encoding="utf-8") as f:
        snippet = f.read()
    found = dict((k, " ".join(v.split())) for k, v in re.findall(
        r"^(mailgrants_\w+) =\s*\n((?:[ \t]+\S.*\n)+)", snippet, re.M))
    return {
        "mailgrants_sent_copy_transport":
            found["mailgrants_sent_copy_transport"].replace(
                "lmtp:unix:private/dovecot-lmtp",
                "lmtp:inet:127.0.0.1:%d" % lmtp_port),
        "mailgrants_recipient_restrictions":
            found["mailgrants_recipient_restrictions"],
        "transport_maps": "$mailgrants_sent_copy_transport",
        "smtpd_recipient_restrictions": "$mailgrants_recipient_restrictions",
    }

class SandboxError(RuntimeError):
    """A server of the sandbox did not start, or the directory is not
    one to trust; the text says which."""


def proc_stat(pid):
    """(start time, process group, session) of process pid, the start
    time in clock ticks since boot (fields 22, 5, 6 of /proc/PID/stat),
    or None when there is no such process."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain blanks and parentheses.
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[19]), int(fields[2]), int(fields[3])


def proc_start_time(pid):
    """The start time of process pid, or None when there is none."""
    st = proc_stat(pid)
    return st[0] if st is not None else None


def proc_exe(pid):
    """The executable process pid runs, or None (gone, or not ours to
    look at)."""
    try:
        exe = os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return None
    # A replaced binary (make after make demo) reads "... (deleted)".
    if exe.endswith(" (deleted)"):
        exe = exe[:-len(" (deleted)")]
    return exe


def boot_id():
    with open(BOOT_ID) as f:
        return f.read().strip()


def server_executables(build):
    """name -> (the executable the server runs, directories of its
    helper programs that may be in its process group). Derived here,
    never read from the state file."""
    r = os.path.realpath
    return {
        "slapd": (r("/usr/sbin/slapd"), ()),
        "dovecot": (r("/usr/sbin/dovecot"), ("/usr/lib/dovecot/",)),
        "mailgrants sync --follow": (r(os.path.join(build, "mailgrants")),
                                     ()),
        "mailgrants-policyd": (r(os.path.join(build,
                                              "mailgrants-policyd")), ()),
        "mailgrants-milter": (r(os.path.join(build, "mailgrants-milter")),
                              ()),
        "postfix": (r("/usr/lib/postfix/sbin/master"),
                    ("/usr/lib/postfix/sbin/",)),
        # The demo.py process that is starting the sandbox: looked at,
        # never signalled.
        "demo": (r(sys.executable), ()),
    }


def check_dir(path, uid=None):
    """Raise SandboxError unless path (absolute) is a directory, not a
    symbolic link, owned by uid (default: the caller) and writable by
    nobody else, below directories that only root or uid can change
    (or sticky ones, like /tmp). False when it does not exist, True
    when it passes."""
    uid = os.geteuid() if uid is None else uid
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise SandboxError(
                "%s exists and is not a directory (a symbolic link or a "
                "file someone put there); not using it: remove it, or set "
                "MAILGRANTS_DEMO_DIR to a new directory" % path)
        if st.st_uid != uid:
            raise SandboxError(
                "%s belongs to %s, not to you (%s): someone else may have "
                "made it to take over the demo; not using it. Remove it "
                "(rm -rf %s), or set MAILGRANTS_DEMO_DIR to a new "
                "directory" % (path, _user(st.st_uid), _user(uid), path))
        if st.st_mode & 0o022:
            raise SandboxError(
                "%s is writable by others (mode %04o): anyone could have "
                "put files there; not using it. Remove it (rm -rf %s), or "
                "set MAILGRANTS_DEMO_DIR to a new directory"
                % (path, stat.S_IMODE(st.st_mode), path))
    parent = os.path.dirname(path)
    while True:
        parent = os.path.realpath(parent)
        pst = os.stat(parent)
        open_to = pst.st_mode & (0o002 if pst.st_gid == 0 else 0o022)
        if pst.st_uid not in (0, uid) or (
                open_to and not pst.st_mode & stat.S_ISVTX):
            raise SandboxError(
                "%s is in %s, which %s can change (owner %s, mode %04o): "
                "set MAILGRANTS_DEMO_DIR to a directory below one that "
                "only you or root can change"
                % (path, parent, "others" if open_to else "another user",
                   _user(pst.st_uid), stat.S_IMODE(pst.st_mode)))
        if parent == "/":
            break
        parent = os.path.dirname(parent)
    return st is not None


def _user(uid):
    import pwd
    try:
        return "%s (uid %d)" % (pwd.getpwuid(uid).pw_name, uid)
    except KeyError:
        return "uid %d" % uid


class Proc:
    """One recorded server process: name, pid, start time, boot; exe
    and helpers (directories of programs its group may run) are
    derived from the name, never read from the state file."""

    def __init__(self, name, pid, exe, helpers=(), group=True,
                 start_time=None, boot=None):
        self.name = name
        self.pid = pid
        self.exe = exe
        self.helpers = helpers
        self.group = group
        self.start_time = (start_time if start_time is not None
                           else proc_start_time(pid))
        self.boot = boot if boot is not None else boot_id()
        # pid -> start time of the processes found to be ours in this
        # run: followed until they are gone, also while they exit (an
        # exiting process has no executable to check any more).
        self.seen = {}

    def to_json(self):
        return {"name": self.name, "pid": self.pid,
                "start_time": self.start_time, "boot": self.boot}

    @classmethod
    def from_json(cls, d, executables):
        """The recorded process, or None when the record names no
        server of ours or is malformed (then nothing is signalled)."""
        try:
            name, pid, start = d["name"], d["pid"], d["start_time"]
            boot = d["boot"]
        except (KeyError, TypeError):
            return None
        if name not in executables or type(pid) is not int or \
                type(start) is not int or not isinstance(boot, str) or \
                pid <= 1:
            return None
        exe, helpers = executables[name]
        return cls(name, pid, exe, helpers, name != "demo", start, boot)

    def _same_boot(self):
        return self.start_time is not None and self.boot == boot_id()

    def alive(self):
        """True while the very process we started runs: same boot, same
        start time, the executable its name says."""
        return (self._same_boot() and
                proc_start_time(self.pid) == self.start_time and
                proc_exe(self.pid) == self.exe)

    def members(self):
        """The other processes of our process group that are ours: the
        server's executable or one of its helpers', started no earlier
        than the server, in the same boot."""
        if not self.group or not self._same_boot():
            return []
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == self.pid:
                continue
            pid = int(entry)
            st = proc_stat(pid)
            if st is None or st[1] != self.pid or st[0] < self.start_time:
                continue
            exe = proc_exe(pid)
            if exe is None:
                continue
            if exe == self.exe or any(exe.startswith(h)
                                      for h in self.helpers):
                found.append((pid, st[0]))
        return found

    def _ours(self):
        """pid -> start time of the process and its group's members that
        are ours now (alive(), members()); remembered in seen."""
        found = dict(self.members())
        if self.alive():
            found[self.pid] = self.start_time
        self.seen.update(found)
        return found

    def anything_left(self):
        """The process, or (group) any member of its process group."""
        try:    # our own child (a failed start): reap the zombie
            os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pass
        self._ours()
        self.seen = {pid: start for pid, start in self.seen.items()
                     if proc_start_time(pid) == start}
        return bool(self.seen)

    def signal(self, sig):
        """Signal our process (never one that reuses its id) and, one by
        one, the members of its group, each checked just before."""
        for pid, start in self._ours().items():
            if proc_start_time(pid) == start:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass

    def stop(self, timeout=10.0):
        """SIGTERM to the process, then TERM and at last KILL to what is
        left of it and its group."""
        if self.alive():
            self.seen[self.pid] = self.start_time
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
        self.executables = server_executables(self.build)

    # -- the state file ----------------------------------------------------

    def read_state(self):
        """The state file's contents, or None when there is none (or no
        directory). Raises SandboxError when the directory is not the
        caller's alone (check_dir): then nothing in it is read."""
        if not check_dir(self.dir):
            return None
        try:
            with open(self.state_path) as f:
                state = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"procs": []}
        return state if isinstance(state, dict) else {"procs": []}

    def _procs(self, state):
        """The recorded processes that name servers of ours."""
        procs = state.get("procs") if state else None
        if not isinstance(procs, list):
            return []
        found = [Proc.from_json(p, self.executables) for p in procs]
        return [p for p in found if p is not None and p.name != "demo"]

    def _write_state(self):
        """The file gets the processes and, for the "already running"
        message, the ports; paths and the rest stay in memory."""
        self.state["procs"] = [p.to_json() for p in self.procs]
        saved = {k: v for k, v in self.state.items()
                 if k in STATE_KEYS or k.endswith("_port")}
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(saved, f, indent=1)
        os.replace(tmp, self.state_path)

    def _record(self, name, pid):
        exe, helpers = self.executables[name]
        self.procs.append(Proc(name, pid, exe, helpers))
        self._write_state()

    def running(self):
        """The state of a sandbox with a live process here, or None."""
        state = self.read_state()
        if state is None:
            return None
        procs = self._procs(state)
        starter = state.get("starter")
        if isinstance(starter, dict):
            starter = Proc.from_json(starter, self.executables)
            if starter is not None and starter.name == "demo" and \
                    starter.alive():
                return state
        if any(p.anything_left() for p in procs):
            return state
        return None

    # -- starting ----------------------------------------------------------

    def _prepare_dir(self):
        """Create the directory, fresh and the caller's; a stale sandbox
        of the caller's there is stopped and removed first; a directory
        someone else could have written to is refused (check_dir), and
        so is any other non-empty one."""
        if check_dir(self.dir):
            if self.read_state() is None:
                if os.listdir(self.dir):
                    raise SandboxError(
                        "%s exists and is not a mailgrants demo sandbox (no"
                        " %s in it); remove it or set MAILGRANTS_DEMO_DIR "
                        "to another directory" % (self.dir, STATE))
                os.rmdir(self.dir)
            else:
                self.stop()
        try:
            # Created here or not at all: if someone took the name in
            # the meantime, mkdir fails rather than using theirs.
            os.mkdir(self.dir, 0o700)
        except FileExistsError:
            raise SandboxError("%s appeared while the demo was starting; "
                               "not using it" % self.dir) from None
        check_dir(self.dir)
        # Dovecot's and Postfix's unprivileged processes pass through
        # it; nobody else lists or writes it.
        os.chmod(self.dir, 0o711)
        exe, helpers = self.executables["demo"]
        self.state = {"dir": self.dir, "started": time.time(),
                      "starter": Proc("demo", os.getpid(), exe, helpers,
                                      False).to_json()}
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
                                 "lib20_mailgrants_plugin.so"),
                    os.path.join("dovecot-plugin",
                                 "lib21_imap_mailgrants_plugin.so")):
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
                               cache_secs=CACHE_SECS, sent_copies=True)
            self._record("dovecot", dc.pid)

            step = "mailgrants sync --follow"
            # share and unshare write their audit lines here: the
            # sandbox has no syslog (make demo shows mailgrants audit)
            self.conf = slapd.write_config(
                os.path.join(d, "mailgrants.conf"), replica=self.replica,
                replica_group=dc.mail_gid,
                audit_log=os.path.join(d, "audit.log"))
            # Sent copies for every company and extra private mailbox
            # (README "Sent copies").
            with open(self.conf, "a") as f:
                f.write("sent_copies = yes\n")
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
                         # No XCLIENT: it is a login without a
                         # password, for anyone on this host or at the
                         # other end of an SSH tunnel.
                         xclient=False,
                         # The demo's client is on loopback, which
                         # Postfix counts as local; let its headers
                         # reach the milter as written, as a real
                         # client's do.
                         main_extra=dict(
                             sent_copy_settings(dc.lmtp_port),
                             local_header_rewrite_clients=""))
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
            "audit_log": os.path.join(d, "audit.log"),
            "sync_log": os.path.join(d, "sync.log"),
            "slapd_base": slapd.base,
        })
        self.state.pop("starter", None)
        self._write_state()
        return self.state

    # -- stopping ----------------------------------------------------------

    def stop(self):
        """Stop every recorded server (newest first) and remove the
        directory. True when there was a sandbox to stop. Raises
        SandboxError, touching nothing, when the directory is not the
        caller's alone (check_dir)."""
        state = self.read_state()
        if state is None and not self.procs:
            return False
        procs = self.procs or self._procs(state)
        for p in reversed(procs):
            # Postfix too: SIGTERM to the (verified) master is what
            # `postfix stop` sends; the master stops its children and
            # cleans up. `postfix stop` itself would run the programs
            # that main.cf's daemon_directory names.
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
