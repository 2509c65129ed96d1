"""Thunderbird against the abc.com story: what Sandra's folder pane shows.

Debian's thunderbird under Xvfb (tests/lib/thunderbird.py), a fresh
profile written before its first start, logged in as Sandra on a
private Dovecot with the mailgrants plugin (the integration tests'
setup: tests/lib/mgdovecot.py, the replica from `mailgrants sync
--once` against the slapd fixture's examples/abc.ldif). Dovecot keeps a
rawlog of every IMAP session, the server-side record of what
Thunderbird asked and what it was told. Sandra's own Sent folder is
created and subscribed by the server (`auto = subscribe`), as a site's
configuration does; nothing is subscribed by hand.

Two first starts, each with a profile of its own:
- "subscribed": Thunderbird's default, only subscribed folders;
- "all-folders": "show only subscribed folders" off.

Each waits until the IMAP traffic has been still for 15 s (the first
sync, including the first new-mail check, is over), opens every folder
of the pane, reads its rows through Marionette and takes a screenshot.
Screenshots and the IMAP logs are kept under
<build>/test-artifacts/thunderbird/ (listed at the end of the run).

What a person sees (see the issue): the company, private and shared
mailboxes appear without subscribing anything, each as one folder named
by its address below its root (`Shared › peter.mueller@abc.com`, no
INBOX level), and no alert about mailboxes that do not exist.
"""

import os
import re
import shutil
import subprocess
import time

import pytest

from daemonutil import free_port, make_workdir, wait_for
from dovecot import Dovecot
from example import PASSWORDS, SANDRA
from mgdovecot import make_plugin_dir, plugin_conf
from thunderbird import (Thunderbird, imap_exchanges, missing_tools,
                         rawlog_lines, wait_quiet)

SANDRA_PW = PASSWORDS[SANDRA]
# Sandra's mailboxes besides her own (README, "What Sandra gets").
MAILBOXES = [("Company", "info@abc.com"), ("Private", "makler@abc.com"),
             ("Shared", "peter.mueller@abc.com")]

# Sandra's Sent exists and is subscribed from the start, as on a site
# whose Dovecot creates the special-use folders; the rawlog is the
# server's record of each IMAP session.
EXTRA_CONF = """
namespace inbox {
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
}
protocol imap {
  rawlog_dir = %s
}
"""


class Server:
    """slapd (fixture), the replica and Dovecot with the plugin."""

    def __init__(self, slapd, build_dir, repo_dir):
        self.workdir = make_workdir("mg-tbird-")
        self.dc = None
        replica_dir = os.path.join(self.workdir, "replica")
        os.makedirs(replica_dir)
        os.chmod(replica_dir, 0o755)
        replica = os.path.join(replica_dir, "grants.db")
        conf = slapd.write_config(os.path.join(self.workdir,
                                               "mailgrants.conf"),
                                  replica=replica)
        plugin_dir = make_plugin_dir(build_dir, self.workdir)
        d = os.path.join(self.workdir, "dovecot")
        os.makedirs(d)
        os.chmod(d, 0o755)
        self.rawlog = os.path.join(self.workdir, "rawlog")
        os.makedirs(self.rawlog)
        os.chmod(self.rawlog, 0o755)
        self.rawlog_now = os.path.join(self.rawlog, "current")
        self.dc = Dovecot(slapd.uri, slapd.sync_dn, slapd.sync_pw,
                          protocols=("imap", "lmtp"), lmtp_inet=True,
                          plugin_dir=plugin_dir, workdir=d,
                          extra_conf=plugin_conf(
                              repo_dir, os.path.join(d, "vmail"), replica)
                          + EXTRA_CONF % self.rawlog_now)
        self.dc.start()
        slapd.write_config(conf, replica=replica,
                           replica_group=self.dc.mail_gid)
        r = subprocess.run([os.path.join(build_dir, "mailgrants"), "-c",
                            conf, "sync", "--once"], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr

    def new_rawlog(self):
        """An empty rawlog directory for the next sessions (Dovecot
        writes there as the mail user and does not create it)."""
        os.makedirs(self.rawlog_now)
        os.chown(self.rawlog_now, self.dc.mail_uid, self.dc.mail_gid)
        return self.rawlog_now

    def keep_rawlog(self, name):
        """Move the sessions' rawlog aside under name; its path."""
        dest = os.path.join(self.rawlog, name)
        os.rename(self.rawlog_now, dest)
        return dest

    def stop(self):
        if self.dc is not None:
            self.dc.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class Run:
    """What one first start of Thunderbird showed and said."""

    def __init__(self, name, pane, alerts, exchanges, lines, shots,
                 seconds):
        self.name = name
        self.pane = pane
        self.alerts = alerts
        self.exchanges = exchanges
        self.lines = lines
        self.shots = shots
        self.seconds = seconds

    def paths(self):
        """The IMAP account's folders as label paths below the account
        (("Inbox",), ("Shared", "peter.mueller@abc.com"), ...)."""
        out, stack = [], []
        for depth, label, uri, _ in self.pane:
            del stack[depth - 1:]
            stack.append(label)
            if uri.startswith("imap://") and depth > 1:
                out.append(tuple(stack[1:]))
        return out

    def pane_text(self):
        return ", ".join(" › ".join(p) for p in self.paths()) or "(empty)"

    def subscribed(self):
        """Mailbox names the server's subscription answers named."""
        names = []
        for name, line in self.lines:
            m = re.match(r'\S+ \* (?:LIST \([^)]*\\Subscribed[^)]*\)|'
                         r'LSUB \([^)]*\)) \S+ (.*)$', line)
            if name.endswith(".out") and m:
                n = m.group(1).strip('"')
                if n not in names:
                    names.append(n)
        return names

    def shown(self):
        return "screenshot: %s" % ", ".join(self.shots)


def run_thunderbird(server, workdir, artifacts, name, subscribed_only):
    raw = server.new_rawlog()
    tb = Thunderbird(os.path.join(workdir, name), server.dc.imap_port,
                     SANDRA, SANDRA_PW, subscribed_only=subscribed_only,
                     artifacts=artifacts, name=name,
                     full_name="Sandra Schuster")
    t0 = time.monotonic()
    try:
        tb.start()
        wait_quiet(raw, check=tb.poll)
        tb.poll()
        tb.expand_all()
        time.sleep(1)
        pane = tb.folder_pane()
        tb.screenshot("folder-pane")
        alerts = tb.alerts()
        seconds = time.monotonic() - t0
    finally:
        tb.stop()
    # Closed connections: the sessions' rawlog files are complete.
    time.sleep(1)
    kept = server.keep_rawlog(name)
    lines = rawlog_lines(kept)
    with open(os.path.join(artifacts, "%s-imap.log" % name), "w") as f:
        for fname, line in lines:
            f.write("%s %s\n" % (fname, line))
    return Run(name, pane, alerts, imap_exchanges(kept), lines,
               tb.screenshots, seconds)


@pytest.fixture(scope="module")
def runs(slapd, build_dir, repo_dir, artifacts):
    missing = missing_tools()
    if missing:
        pytest.fail("missing %s: run tests/deps.sh --gui (make "
                    "check-thunderbird does)" % " ".join(missing))
    server = Server(slapd, build_dir, repo_dir)
    workdir = make_workdir("mg-tbird-profiles-")
    try:
        # Subscribed first: the other run must not have touched
        # Sandra's subscriptions before Thunderbird's default is tried.
        out = {"subscribed": run_thunderbird(server, workdir, artifacts,
                                             "subscribed", True),
               "all-folders": run_thunderbird(server, workdir, artifacts,
                                              "all-folders", False)}
        yield out
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# -- the harness itself (must pass whatever the plugin does) ------------

def test_control_logs_in_and_shows_her_own_folders(runs):
    """The stored password works (no prompt), the sync ran, and the
    pane reader sees Sandra's own Inbox and Sent."""
    run = runs["subscribed"]
    assert any(e["command"].lower().startswith("select")
               for e in run.exchanges), \
        "Thunderbird selected no folder: no IMAP session? (%s)" % run.shown()
    paths = run.paths()
    for folder in ("Inbox", "Sent"):
        assert (folder,) in paths, \
            "the folder pane has no %s: %s (%s)" % (folder, run.pane_text(),
                                                    run.shown())
    prompts = [t for t, _ in run.alerts["dismissed"]
               if "password" in t.lower()]
    assert not prompts, "Thunderbird asked for a password: %s" % prompts


def test_control_pane_shows_other_namespaces(runs):
    """With every folder shown, the pane reader finds each mailbox's
    folder below its root: what it reads is the whole tree, other
    namespaces included."""
    run = runs["all-folders"]
    missing = [" › ".join(m) for m in MAILBOXES if m not in run.paths()]
    assert not missing, "not in the folder pane: %s; it reads: %s (%s)" % (
        ", ".join(missing), run.pane_text(), run.shown())


def test_control_alert_is_seen(artifacts):
    """Alert detection: an IMAP server that refuses the connection (a
    loopback port nobody listens on) makes Thunderbird pop an alert
    window; the harness must see it, read its text and close it."""
    workdir = make_workdir("mg-tbird-alert-")
    tb = Thunderbird(os.path.join(workdir, "tb"), free_port(), SANDRA,
                     SANDRA_PW, artifacts=artifacts, name="control-alert")
    try:
        tb.start()
        wait_for(lambda: tb.poll() or tb.dismissed, timeout=60,
                 interval=0.5, what="the connection-refused alert")
        alerts = tb.alerts()
    finally:
        tb.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    assert [t for t, _ in alerts["dismissed"]][:1] == ["Alert"], alerts
    assert any(w and "refused" in w for w in alerts["warnings"]), alerts


# -- the story in Thunderbird -------------------------------------------

def test_subscribed_only_shows_every_mailbox(runs):
    """(a) Thunderbird's default shows only subscribed folders: after
    the first sync, with nothing subscribed by hand, Sandra sees the
    company, private and shared mailboxes."""
    run = runs["subscribed"]
    missing = [" › ".join(m) for m in MAILBOXES if m not in run.paths()]
    assert not missing, (
        "Thunderbird showing only subscribed folders (its default) does "
        "not show %s after its first sync: its folder pane reads %s; the "
        "server's subscription list named only %s (%s)"
        % (", ".join(missing), run.pane_text(),
           ", ".join(run.subscribed()) or "nothing", run.shown()))


def test_all_folders_without_alert(runs):
    """(b) With "show only subscribed folders" off, the first sync pops
    no alert, and Dovecot refuses none of Thunderbird's commands (a NO
    to a mailbox Thunderbird took from LIST is what the alerts say)."""
    run = runs["all-folders"]
    refused = ["%s -> %s" % (e["command"], e["answer"])
               for e in run.exchanges if e["status"] in ("NO", "BAD")]
    windows = ["%s (%s)" % (t, shot) for t, shot in run.alerts["dismissed"]]
    warnings = [w for w in run.alerts["warnings"] if w]
    assert not (refused or windows or warnings), (
        "the first sync with every folder shown gave %d alert window(s): "
        "%s; Thunderbird's alerts: %s; Dovecot refused: %s"
        % (len(windows), "; ".join(windows) or "none",
           " | ".join(warnings) or "none", "; ".join(refused) or "nothing"))


def test_mailbox_folder_has_no_inbox_level(runs):
    """(c) Each mailbox is one folder named by its address below its
    root (`Shared › peter.mueller@abc.com`, its sub-folders below it):
    no folder named INBOX below it."""
    run = runs["all-folders"]
    extra = [" › ".join(p) for p in run.paths()
             if len(p) == 3 and tuple(p[:2]) in MAILBOXES
             and p[2].upper() == "INBOX"]
    absent = [" › ".join(m) for m in MAILBOXES if m not in run.paths()]
    assert not extra and not absent, (
        "each mailbox should be one folder named by its address; the "
        "folder pane has an INBOX level: %s%s (pane: %s; %s)"
        % (", ".join(extra) or "none",
           "; missing: " + ", ".join(absent) if absent else "",
           run.pane_text(), run.shown()))
