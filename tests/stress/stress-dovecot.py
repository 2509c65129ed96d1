#!/usr/bin/python3
"""
NAME
    stress-dovecot.py - many IMAP sessions in one company mailbox while
    LMTP delivers into it

SYNOPSIS
    MAILGRANTS_BUILD=build stress-dovecot.py [--sessions N]
        [--messages N] [--lmtp-conns N] [--lmtp-seconds S]
        [--min-ops N] [--time-limit S]
        [--seed N] [--keep]

DESCRIPTION
    Issue 8, the Dovecot half of "make stress". Everything is private
    and on loopback: slapd with ldap-schema/examples/abc.ldif
    (tests/lib/slapd.py), the replica from "mailgrants sync --once",
    and Dovecot 2.3 with IMAP and LMTP and our plugin loaded from the
    build tree with the shipped dovecot-plugin/90-mailgrants.conf
    (tests/lib/dovecot.py, mgdovecot.py), mail_max_userip_connections
    raised so that one user may hold many sessions.

    --sessions (50) IMAP sessions of Sandra, Jana, Peter and Tom (who
    all see the company mailbox info@abc.com) work at once in
    Company/info@abc.com (its INBOX), while --lmtp-conns (4) LMTP clients
    deliver --messages (1,000) messages to info@abc.com. Each session,
    at random:
        flags     UID STORE +FLAGS / -FLAGS of \\Seen, \\Flagged,
                  \\Answered and keywords ($Handled, $Urgent, case
                  tags) on any messages of INBOX
        move      MOVE one of its messages from INBOX into one of its
                  case folders Company/info@abc.com/Fall-NNN (CREATEd
                  on first use), or the same done by hand: COPY, UID
                  STORE \\Deleted, UID EXPUNGE
        back      MOVE a message from one of its case folders back to
                  INBOX
        append    APPEND a new message to INBOX or a case folder
        read      UID FETCH FLAGS and headers, STATUS, NOOP
    Every message carries a unique Message-ID and a Subject naming the
    session that may move it ("owner-sNN", LMTP messages spread over
    the sessions). The deliveries, 25 per LMTP connection, are spread
    over --lmtp-seconds (10), so that the sessions work all along: many sessions change flags on the same messages at
    once, but a message is moved by one session only (two clients
    moving the same message at once may both copy it - IMAP says so -
    which would not be a lost or doubled message of ours). A session
    runs until the deliveries are done and it has done at least
    --min-ops (30) operations. Any NO or BAD is an error, but for one:
    CREATE may answer NO [ALREADYEXISTS] for a folder no one else
    creates, when another session's process opened it between the
    mkdir of CREATE and its cur/new/tmp (Dovecot's Maildir++ open
    creates missing subdirectories, CREATE then finds them): the
    folder must then exist and be empty, and the count is printed as
    "create-race".

    Afterwards, with every session logged out:
    - doveadm fetch lists every message of info@abc.com's mailboxes:
      each delivered and appended Message-ID exists exactly once across
      INBOX and the case folders, and there is nothing else;
    - "doveadm force-resync -u info@abc.com '*'" finds nothing to fix:
      it prints nothing, exits 0, logs nothing but its own lines, and
      every mailbox's UIDVALIDITY, UIDNEXT, message count and each
      message's UID, Message-ID and flags are the same before and
      after;
    - Sandra's IMAP view agrees (STATUS of every folder);
    - the Dovecot log has no Error, Fatal or Panic line, and no
      warning about corrupted or fixed indexes. One warning is
      expected now and then and counted apart: Maildir's "dovecot-
      uidlist: Duplicate file entry ... (uid A -> B)" for a message
      moved out of a folder and back in (the hard-linked copy keeps its
      file name, the uidlist still has the old UID for it until it is
      rewritten, and the next sync gives the file a new UID, as a
      message moved in should get). It passes only when that file
      exists exactly once.

    Printed: the time of each phase, deliveries/s, the operations by
    kind, the folder counts, the total time.

DIAGNOSTICS
    Exit status 0 on a pass, 1 on any failure (reasons on stderr), 2 on
    a usage error. Every process started here is stopped and the
    temporary directory removed, on failure too (--keep or
    MAILGRANTS_KEEP_TMP=1 keeps it).

ENVIRONMENT
    MAILGRANTS_BUILD   the build directory (required): mailgrants,
                       dovecot-plugin/lib20_mailgrants_plugin.so and
                       lib21_imap_mailgrants_plugin.so
"""

import argparse
import imaplib
import os
import random
import re
import shutil
import smtplib
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))

from daemonutil import make_workdir  # noqa: E402
from dovecot import Dovecot  # noqa: E402
from mgdovecot import make_plugin_dir, plugin_conf  # noqa: E402
from slapd import EXAMPLE_USERS, Slapd  # noqa: E402

COMPANY = "info@abc.com"
ROOT = "Company/%s/" % COMPANY
INBOX = ROOT[:-1]          # the owner's prefix is its INBOX
USERS = ["sandra.schuster@abc.com", "jana.meier@abc.com",
         "peter.mueller@abc.com", "tom.berger@abc.com"]
DOVEADM = "/usr/bin/doveadm"
FLAGS = ["\\Seen", "\\Flagged", "\\Answered", "$Handled", "$Urgent",
         "case-open", "case-closed"]
# Warnings that mean Dovecot found something broken in a mailbox.
BROKEN_RE = re.compile(r"corrupt|fixed|reappeared|duplicate|inconsisten|"
                       r"lost|broken|rebuild", re.I)
LOG_ERROR_RE = re.compile(r"\b(Error|Fatal|Panic):")
# Maildir: a message moved out of a folder and back in keeps its file
# name (the copy is a hard link); until the folder's uidlist is
# rewritten it still lists the old UID for that name, and the next sync
# warns and gives the file a new UID, as a message moved in should get.
UIDLIST_DUP_RE = re.compile(r"Warning: (\S+)/dovecot-uidlist: Duplicate file "
                            r"entry at line \d+: ([^:\s]+)[^(]*\(uid "
                            r"(\d+) -> (\d+)\)")


class StressError(RuntimeError):
    """A failed step or check."""


def say(*a):
    print("stress-dovecot:", *a, flush=True)


def ok(r, what):
    if r[0] != "OK":
        raise StressError("%s: %s %r" % (what, r[0], r[1]))
    return r[1]


def message(msgid, subject):
    return ("From: Kunde <kunde@example.net>\r\nTo: <info@abc.com>\r\n"
            "Subject: %s\r\nMessage-ID: <%s>\r\n"
            "Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\n"
            "Body of %s.\r\n" % (subject, msgid, msgid)).encode()


def quoted(name):
    return '"%s"' % name


class Session(threading.Thread):
    """One IMAP client working in the company mailbox."""

    def __init__(self, st, index, login):
        super().__init__(daemon=True)
        self.st = st
        self.index = index
        self.tag = "owner-s%02d" % index
        self.login_name = login
        self.rng = random.Random(st.a.seed * 1000 + index)
        self.folders = []           # case folders created so far
        self.appended = []          # Message-IDs appended
        self.ops = {}
        self.error = None
        self.m = None
        self.selected = None

    def count(self, kind):
        self.ops[kind] = self.ops.get(kind, 0) + 1

    def select(self, name):
        if self.selected != name:
            ok(self.m.select(quoted(name)), "SELECT " + name)
            self.selected = name

    def uids(self, *criteria):
        data = ok(self.m.uid("SEARCH", *criteria), "UID SEARCH")
        return data[0].split() if data and data[0] else []

    def case_folder(self):
        """One of this session's case folders, a new one now and then."""
        if not self.folders or (len(self.folders) < 3
                                and self.rng.random() < 0.2):
            name = ROOT + "Fall-%03d" % (self.index * 10 + len(self.folders))
            r = self.m.create(quoted(name))
            if r[0] == "NO" and b"[ALREADYEXISTS]" in b" ".join(
                    x for x in r[1] if isinstance(x, bytes)):
                # Maildir++: another process that opens the new folder
                # between CREATE's mkdir and its cur/new/tmp (Dovecot's
                # mailbox list index refresh after a save does) creates
                # those itself, and CREATE then fails although the
                # folder is there. No one else uses this name: it must
                # now exist and be empty.
                data = ok(self.m.status(quoted(name), "(MESSAGES)"),
                          "STATUS after CREATE said ALREADYEXISTS")
                if b"MESSAGES 0" not in data[0]:
                    raise StressError("CREATE %s: ALREADYEXISTS, and it "
                                      "holds messages: %r" % (name, data))
                self.count("create-race")
            else:
                ok(r, "CREATE " + name)
            self.folders.append(name)
            self.count("create")
        return self.rng.choice(self.folders)

    def op_flags(self):
        self.select(INBOX)
        uids = self.uids("ALL")
        if not uids:
            return
        pick = self.rng.sample(uids, min(len(uids), self.rng.randint(1, 5)))
        flags = " ".join(self.rng.sample(FLAGS, self.rng.randint(1, 3)))
        how = self.rng.choice(("+FLAGS", "-FLAGS", "+FLAGS.SILENT"))
        ok(self.m.uid("STORE", b",".join(pick).decode(), how,
                      "(%s)" % flags), "UID STORE")
        self.count("flags")

    def op_move(self):
        self.select(INBOX)
        mine = self.uids("SUBJECT", quoted(self.tag))
        if not mine:
            return self.op_append()
        uid = self.rng.choice(mine).decode()
        dest = self.case_folder()
        if self.rng.random() < 0.67:
            ok(self.m.uid("MOVE", uid, quoted(dest)), "UID MOVE")
            self.count("move")
        else:
            ok(self.m.uid("COPY", uid, quoted(dest)), "UID COPY")
            ok(self.m.uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)"),
               "UID STORE \\Deleted")
            ok(self.m.uid("EXPUNGE", uid), "UID EXPUNGE")
            self.count("copy+expunge")

    def op_back(self):
        if not self.folders:
            return self.op_move()
        src = self.rng.choice(self.folders)
        self.select(src)
        uids = self.uids("ALL")
        if not uids:
            return self.op_read()
        ok(self.m.uid("MOVE", self.rng.choice(uids).decode(),
                      quoted(INBOX)), "UID MOVE back")
        self.count("back")

    def op_append(self):
        n = len(self.appended)
        msgid = "append-%02d-%d@stress.example" % (self.index, n)
        dest = INBOX if not self.folders or self.rng.random() < 0.5 \
            else self.rng.choice(self.folders)
        flags = "(\\Seen)" if self.rng.random() < 0.3 else None
        ok(self.m.append(quoted(dest), flags, None,
                         message(msgid, "stress append %d %s"
                                 % (n, self.tag))), "APPEND")
        self.appended.append(msgid)
        self.count("append")

    def op_read(self):
        self.select(INBOX)
        uids = self.uids("ALL")
        if uids:
            pick = self.rng.sample(uids, min(len(uids), 3))
            ok(self.m.uid("FETCH", b",".join(pick).decode(),
                          "(FLAGS BODY.PEEK[HEADER.FIELDS "
                          "(SUBJECT MESSAGE-ID)])"), "UID FETCH")
        ok(self.m.status(quoted(INBOX), "(MESSAGES UIDNEXT)"), "STATUS")
        ok(self.m.noop(), "NOOP")
        self.count("read")

    def run(self):
        ops = [(self.op_flags, 35), (self.op_move, 25), (self.op_back, 10),
               (self.op_append, 12), (self.op_read, 18)]
        fns = [f for f, _ in ops]
        weights = [w for _, w in ops]
        done = 0
        try:
            self.m = imaplib.IMAP4("127.0.0.1", self.st.dc.imap_port,
                                   timeout=120)
            ok(self.m.login(self.login_name,
                            EXAMPLE_USERS[self.login_name][1]), "LOGIN")
            self.st.logged_in.wait(60)
            while not self.st.stop.is_set():
                if done >= self.st.a.min_ops and self.st.lmtp_done.is_set():
                    break
                self.rng.choices(fns, weights)[0]()
                done += 1
        except Exception as e:  # reported by the main thread
            self.error = "session %d (%s): %s" % (self.index,
                                                 self.login_name, e)
        finally:
            if self.m is not None:
                try:
                    self.m.logout()
                except Exception:
                    pass


class Stress:
    def __init__(self, a, build):
        self.a = a
        self.build = build
        self.mg = os.path.join(build, "mailgrants")
        if not os.access(self.mg, os.X_OK):
            raise StressError("%s not built" % self.mg)
        if not os.access(DOVEADM, os.X_OK):
            raise StressError("%s missing (package dovecot-core)" % DOVEADM)
        self.wd = make_workdir("mg-stress-dovecot-")
        self.ldap = None
        self.dc = None
        self.stop = threading.Event()
        self.lmtp_done = threading.Event()
        self.logged_in = threading.Event()
        self.delivered = []
        self.lmtp_errors = []

    def close(self):
        self.stop.set()
        for stop in (lambda: self.dc and self.dc.stop(),
                     lambda: self.ldap and self.ldap.close()):
            try:
                stop()
            except Exception as e:  # report, go on cleaning up
                print("stress-dovecot: cleanup: %s" % e, file=sys.stderr)
        if self.a.keep or os.environ.get("MAILGRANTS_KEEP_TMP"):
            say("kept", self.wd)
        else:
            shutil.rmtree(self.wd, ignore_errors=True)

    def start(self):
        t0 = time.monotonic()
        self.ldap = Slapd(workdir=os.path.join(self.wd, "slapd"))
        replica_dir = os.path.join(self.wd, "replica")
        os.makedirs(replica_dir)
        os.chmod(replica_dir, 0o755)
        self.replica = os.path.join(replica_dir, "grants.db")
        plugins = make_plugin_dir(self.build, self.wd)
        d = os.path.join(self.wd, "dovecot")
        os.makedirs(d)
        os.chmod(d, 0o755)
        extra = plugin_conf(REPO, os.path.join(d, "vmail"), self.replica)
        # One user holds many sessions from one address here.
        extra += "\nmail_max_userip_connections = %d\n" % (
            self.a.sessions + 10)
        self.dc = Dovecot(self.ldap.uri, self.ldap.sync_dn,
                          self.ldap.sync_pw, protocols=("imap", "lmtp"),
                          lmtp_inet=True, plugin_dir=plugins, workdir=d,
                          extra_conf=extra,
                          debug=bool(os.environ.get("STRESS_DOVECOT_DEBUG")))
        self.dc.start()
        self.conf = self.ldap.write_config(
            os.path.join(self.wd, "mailgrants.conf"), replica=self.replica,
            replica_group=self.dc.mail_gid)
        r = subprocess.run([self.mg, "-c", self.conf, "sync", "--once"],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise StressError("mailgrants sync --once failed: %s %s"
                              % (r.stdout, r.stderr))
        # The company mailbox exists before its people log in: a first
        # message (counted with the others) creates its storage.
        self.deliver([("lmtp-first@stress.example",
                       "stress lmtp first owner-s00")])
        say("slapd, Dovecot, sync, first delivery: %.1f s"
            % (time.monotonic() - t0))

    def deliver(self, messages):
        """One LMTP session delivering (Message-ID, Subject) pairs."""
        s = smtplib.LMTP("127.0.0.1", self.dc.lmtp_port, timeout=120)
        try:
            for msgid, subject in messages:
                refused = s.sendmail("kunde@example.net", [COMPANY],
                                     message(msgid, subject))
                if refused:
                    raise StressError("refused: %r" % refused)
                self.delivered.append(msgid)
        finally:
            s.quit()

    # -- load ---------------------------------------------------------

    def lmtp_client(self, k, numbers):
        try:
            i = 0
            # 25 messages per LMTP connection, as a busy MTA would, spread
            # over --lmtp-seconds so that the sessions work all along.
            t0 = time.monotonic()
            step = self.a.lmtp_seconds / max(len(numbers), 1)
            for i in range(0, len(numbers), 25):
                if self.stop.is_set():
                    break
                due = t0 + i * step
                while time.monotonic() < due and not self.stop.is_set():
                    time.sleep(min(0.05, due - time.monotonic()))
                self.deliver([("lmtp-%04d@stress.example" % n,
                               "stress lmtp %d owner-s%02d"
                               % (n, n % self.a.sessions))
                              for n in numbers[i:i + 25]])
        except Exception as e:  # reported by the main thread
            self.lmtp_errors.append("LMTP client %d: %s" % (k, e))

    def run_load(self):
        a = self.a
        sessions = [Session(self, i, USERS[i % len(USERS)])
                    for i in range(a.sessions)]
        numbers = list(range(a.messages))
        lmtp = [threading.Thread(target=self.lmtp_client,
                                 args=(k, numbers[k::a.lmtp_conns]),
                                 daemon=True)
                for k in range(a.lmtp_conns)]
        t0 = time.monotonic()
        for s in sessions:
            s.start()
        # All sessions log in first (no one logs in a second time).
        deadline = t0 + 60
        while (any(s.m is None or s.m.state == "NONAUTH" for s in sessions
                   if s.error is None and s.is_alive())
               and time.monotonic() < deadline):
            time.sleep(0.05)
        self.logged_in.set()
        say("%d sessions logged in in %.1f s" % (len(sessions),
                                                  time.monotonic() - t0))
        t1 = time.monotonic()
        for t in lmtp:
            t.start()
        hard = t0 + a.time_limit
        for t in lmtp:
            t.join(max(1, hard - time.monotonic()))
        lmtp_secs = time.monotonic() - t1
        self.lmtp_done.set()
        for s in sessions:
            s.join(max(1, hard - time.monotonic()))
        load_secs = time.monotonic() - t0
        failures = list(self.lmtp_errors)
        if any(t.is_alive() for t in lmtp) or any(s.is_alive()
                                                   for s in sessions):
            self.stop.set()
            failures.append("the load did not end within %d s"
                            % a.time_limit)
        failures += [s.error for s in sessions if s.error]
        ops = {}
        for s in sessions:
            for k, v in s.ops.items():
                ops[k] = ops.get(k, 0) + v
        n = len(self.delivered) - 1
        say("LMTP: %d messages in %.1f s (%.0f/s) over %d connections, "
            "while the sessions worked" % (n, lmtp_secs,
                                           n / lmtp_secs if lmtp_secs else 0,
                                           a.lmtp_conns))
        say("IMAP: %d sessions, %d operations in %.1f s: %s"
            % (len(sessions), sum(ops.values()), load_secs,
               ", ".join("%s %d" % kv for kv in sorted(ops.items()))))
        self.appended = [m for s in sessions for m in s.appended]
        if len(self.delivered) != a.messages + 1:
            failures.append("%d of %d messages delivered"
                            % (len(self.delivered) - 1, a.messages))
        return failures

    # -- checks -------------------------------------------------------

    def one_file(self, base):
        """True when exactly one message file of info@abc.com's Maildir
        has this base name (the part before ":2,")."""
        root = os.path.join(self.dc.vmail_dir, "abc.com", "info", "Maildir")
        n = 0
        for folder in ["."] + [d for d in os.listdir(root)
                               if d.startswith(".") and d != ".."]:
            for sub in ("cur", "new"):
                d = os.path.join(root, folder, sub)
                if not os.path.isdir(d):
                    continue
                n += sum(1 for f in os.listdir(d)
                         if f.split(":", 1)[0] == base)
        return n == 1

    def doveadm(self, *args):
        return subprocess.run([DOVEADM, "-c", self.dc.conf_path] +
                              list(args), capture_output=True, text=True,
                              timeout=300)

    def snapshot(self):
        """(status per mailbox, [(mailbox, uid, msgid, flags)])"""
        r = self.doveadm("-f", "tab", "mailbox", "status", "-u", COMPANY,
                         "messages uidnext uidvalidity", "*")
        if r.returncode != 0:
            raise StressError("doveadm mailbox status failed (%d): %s%s"
                              % (r.returncode, r.stdout, r.stderr))
        lines = r.stdout.splitlines()
        head = lines[0].split("\t")
        status = {}
        for line in lines[1:]:
            row = dict(zip(head, line.split("\t")))
            status[row["mailbox"]] = (int(row["messages"]),
                                      int(row["uidnext"]),
                                      int(row["uidvalidity"]))
        r = self.doveadm("-f", "tab", "fetch", "-u", COMPANY,
                         "mailbox uid flags hdr.message-id", "mailbox", "*")
        if r.returncode != 0:
            raise StressError("doveadm fetch failed (%d): %s%s"
                              % (r.returncode, r.stdout, r.stderr))
        lines = r.stdout.splitlines()
        head = lines[0].split("\t") if lines else []
        msgs = []
        for line in lines[1:]:
            row = dict(zip(head, line.split("\t")))
            flags = " ".join(sorted(f for f in row["flags"].split()
                                    if f != "\\Recent"))
            mid = row["hdr.message-id"].strip().strip("<>")
            msgs.append((row["mailbox"], int(row["uid"]), mid, flags))
        msgs.sort()
        return status, msgs

    def check(self):
        failures = []
        t0 = time.monotonic()
        status, msgs = self.snapshot()
        seen = {}
        for mbox, uid, mid, _ in msgs:
            seen.setdefault(mid, []).append("%s/%d" % (mbox, uid))
        expected = set(self.delivered) | set(self.appended)
        lost = sorted(expected - set(seen))
        extra = sorted(set(seen) - expected)
        doubled = sorted(m for m, where in seen.items() if len(where) > 1)
        folders = sorted(status)
        say("after the load: %d messages in %d folders (INBOX %d, case "
            "folders %d); %d delivered + %d appended expected"
            % (len(msgs), len(folders),
               status.get("INBOX", (0,))[0],
               sum(v[0] for k, v in status.items() if k != "INBOX"),
               len(self.delivered), len(self.appended)))
        if sum(v[0] for v in status.values()) != len(msgs):
            failures.append("mailbox status counts %d messages, fetch %d"
                            % (sum(v[0] for v in status.values()),
                               len(msgs)))
        if lost:
            failures.append("%d messages lost: %s" % (len(lost), lost[:10]))
        if extra:
            failures.append("%d unexpected messages: %s"
                            % (len(extra), extra[:10]))
        if doubled:
            failures.append("%d messages more than once: %s"
                            % (len(doubled), [(m, seen[m])
                                              for m in doubled[:5]]))
        deleted = [m for m in msgs if "\\Deleted" in m[3]]
        if deleted:
            failures.append("%d messages left \\Deleted: %s"
                            % (len(deleted), deleted[:5]))

        # force-resync finds nothing to fix.
        log_before = self.dc.log_text()
        r = self.doveadm("force-resync", "-u", COMPANY, "*")
        log_new = self.dc.log_text()[len(log_before):]
        if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
            failures.append("doveadm force-resync (%d) said: %s%s"
                            % (r.returncode, r.stdout, r.stderr))
        noisy = [ln for ln in log_new.splitlines()
                 if LOG_ERROR_RE.search(ln) or "Warning:" in ln]
        if noisy:
            failures.append("force-resync logged:\n" + "\n".join(noisy[:20]))
        status2, msgs2 = self.snapshot()
        if status2 != status:
            diff = {k: (status.get(k), status2.get(k))
                    for k in set(status) | set(status2)
                    if status.get(k) != status2.get(k)}
            failures.append("force-resync changed mailbox status: %s"
                            % diff)
        if msgs2 != msgs:
            a, b = set(msgs), set(msgs2)
            failures.append("force-resync changed messages: gone %s, new %s"
                            % (sorted(a - b)[:5], sorted(b - a)[:5]))
        say("doveadm force-resync -u %s '*': exit %d, output %d bytes, %d "
            "log lines of its own, state %s; checks %.1f s"
            % (COMPANY, r.returncode, len(r.stdout) + len(r.stderr),
               len(log_new.splitlines()),
               "unchanged" if (status2, msgs2) == (status, msgs)
               else "CHANGED", time.monotonic() - t0))
        for ln in log_new.splitlines()[:5]:
            say("  " + ln)

        # Sandra sees the same (her view through the plugin).
        m = imaplib.IMAP4("127.0.0.1", self.dc.imap_port, timeout=60)
        try:
            ok(m.login(USERS[0], EXAMPLE_USERS[USERS[0]][1]), "LOGIN")
            for name, (count, _, _) in status.items():
                data = ok(m.status(quoted(ROOT + name), "(MESSAGES)"),
                          "STATUS " + name)
                got = int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))
                if got != count:
                    failures.append("IMAP STATUS %s%s: %d, doveadm: %d"
                                    % (ROOT, name, got, count))
        finally:
            m.logout()

        # The whole log.
        log = self.dc.log_text()
        errors = [ln for ln in log.splitlines() if LOG_ERROR_RE.search(ln)]
        warnings = [ln for ln in log.splitlines() if "Warning:" in ln]
        moved_back = {}
        broken = []
        for ln in warnings:
            m = UIDLIST_DUP_RE.search(ln)
            if m and self.one_file(m.group(2)):
                moved_back[m.group(2)] = (m.group(3), m.group(4))
            elif BROKEN_RE.search(ln):
                broken.append(ln)
        say("Dovecot log: %d lines, %d errors, %d warnings (%d of them the "
            "uidlist's \"Duplicate file entry\" for %d messages moved out "
            "and back in: each file exists once, with a new UID)"
            % (len(log.splitlines()), len(errors), len(warnings),
               sum(1 for ln in warnings if UIDLIST_DUP_RE.search(ln)),
               len(moved_back)))
        for ln in [w for w in warnings if not UIDLIST_DUP_RE.search(w)][:5]:
            say("  " + ln)
        if errors:
            failures.append("errors in the Dovecot log:\n"
                            + "\n".join(errors[:20]))
        if broken:
            failures.append("the Dovecot log reports broken mailboxes:\n"
                            + "\n".join(broken[:20]))
        return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[3])
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--lmtp-conns", type=int, default=4)
    ap.add_argument("--min-ops", type=int, default=30)
    ap.add_argument("--lmtp-seconds", type=float, default=10,
                    help="spread the deliveries over this long")
    ap.add_argument("--time-limit", type=int, default=600,
                    help="seconds the load may take (default 600)")
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    build = os.environ.get("MAILGRANTS_BUILD")
    if not build:
        ap.error("MAILGRANTS_BUILD is not set")
    if min(a.sessions, a.messages, a.lmtp_conns) < 1 or a.min_ops < 0:
        ap.error("counts must be positive")
    t0 = time.monotonic()
    st = None
    failures = []
    try:
        st = Stress(a, os.path.abspath(build))
        st.start()
        failures = st.run_load()
        if not any("did not end" in f for f in failures):
            failures += st.check()
    except BaseException as e:  # pytest.fail() from mgdovecot too
        if isinstance(e, KeyboardInterrupt):
            raise
        failures.append("%s: %s" % (type(e).__name__, e))
    finally:
        if st is not None:
            st.close()
    say("total %.1f s" % (time.monotonic() - t0))
    if failures:
        for f in failures:
            print("stress-dovecot: FAIL: %s" % f, file=sys.stderr)
        return 1
    say("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
