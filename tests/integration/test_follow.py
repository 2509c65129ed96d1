"""mailgrants sync --follow against the real slapd: changes arrive as
they happen (refreshAndPersist), an outage loses nothing (cookie
resume, including a change made while the sync was away), a killed
full sync leaves the previous replica whole, a directory without
syncprov is polled, and check says whether the sync is live."""

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from daemonutil import kill_group
from example import PEOPLE, PETER_DN as PETER, TOM_DN as TOM
from slapd import Slapd


def share_ldif(name, grantee=TOM):
    return ("dn: cn=%s,%s\nobjectClass: mailgrantsShare\ncn: %s\n"
            "mailgrantsGrantee: %s\n" % (name, PETER, name, grantee))


class Follower:
    def __init__(self, build_dir, conf):
        self.bin = os.path.join(build_dir, "mailgrants")
        self.conf = conf
        with open(conf) as f:
            self.replica = [line.split("=", 1)[1].strip() for line in f
                            if line.startswith("replica")][0]
        self.log = open(conf + ".follow.log", "w+")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([self.bin, "-c", self.conf, "sync",
                                      "--follow"], stdout=self.log,
                                     stderr=self.log)

    def stop(self, sig=signal.SIGTERM):
        if self.proc is not None and self.proc.returncode is None:
            kill_group(self.proc, term_timeout=10.0, sig=sig)

    def text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def explain(self, login, address):
        r = subprocess.run([self.bin, "-c", self.conf, "explain", "--json",
                            login, address], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def wait_reason(self, login, address, reason, timeout=10.0):
        deadline = time.time() + timeout
        # Before the first sync commits there is no replica yet.
        while not os.path.exists(self.replica) and time.time() < deadline:
            time.sleep(0.05)
        while time.time() < deadline:
            if self.explain(login, address)["reason"] == reason:
                return time.time()
            time.sleep(0.05)
        raise AssertionError("%s/%s never became %s; log:\n%s" % (
            login, address, reason, self.text()))

    def wait_log(self, text, timeout=10.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.text():
                return
            time.sleep(0.05)
        raise AssertionError("no %r in the log:\n%s" % (text, self.text()))


@contextlib.contextmanager
def following(build_dir, tmp_path, syncprov=True, **conf_keys):
    """A private slapd (Slapd(syncprov=syncprov)), a mailgrants.conf in
    tmp_path reading it into tmp_path/grants.db (conf_keys added), and
    a running Follower: (server, follower, conf path). Both stop when
    the block ends."""
    with Slapd(syncprov=syncprov) as server:
        conf = str(tmp_path / "mailgrants.conf")
        server.write_config(conf, replica=str(tmp_path / "grants.db"),
                            **conf_keys)
        f = Follower(build_dir, conf)
        f.start()
        try:
            yield server, f, conf
        finally:
            f.stop()


@pytest.fixture
def setup(build_dir, tmp_path):
    with following(build_dir, tmp_path) as (server, f, _conf):
        yield server, f, tmp_path


def share_arrives(server, f, name):
    """Tom has no share of Peter's mailbox; then the share name, added
    to the directory, reaches the follower's replica."""
    f.wait_reason("tom.berger@abc.com", "peter.mueller@abc.com",
                  "share_not_active")
    rc, _, err = server.ldapadd(share_ldif(name), root=True)
    assert rc == 0, err
    f.wait_reason("tom.berger@abc.com", "peter.mueller@abc.com",
                  "shared_read_only")


def test_changes_arrive_and_go(setup):
    server, f, _ = setup
    share_arrives(server, f, "tom-now")
    rc, _, err = server.ldapdelete("cn=tom-now," + PETER, root=True)
    assert rc == 0, err
    f.wait_reason("tom.berger@abc.com", "peter.mueller@abc.com",
                  "share_not_active")
    r = subprocess.run([f.bin, "-c", f.conf, "check"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sync:      live (persist)" in r.stdout


def test_outage_loses_nothing(setup):
    server, f, tmp = setup
    f.wait_reason("sandra.schuster@abc.com", "peter.mueller@abc.com",
                  "shared_read_only")
    server.kill()
    # While the directory is gone the replica keeps answering.
    for _ in range(5):
        d = f.explain("sandra.schuster@abc.com", "peter.mueller@abc.com")
        assert d["reason"] == "shared_read_only"
        time.sleep(0.2)
    f.wait_log("the directory connection was lost")
    # Hold the sync while slapd returns and another client changes the
    # directory, so that the change happens before it reconnects.
    f.proc.send_signal(signal.SIGSTOP)
    try:
        server.start()
        rc, _, err = server.ldapadd(share_ldif("while-away"), root=True)
        assert rc == 0, err
    finally:
        f.proc.send_signal(signal.SIGCONT)
    f.wait_reason("tom.berger@abc.com", "peter.mueller@abc.com",
                  "shared_read_only", timeout=90)


def test_resume_from_cookie(setup):
    server, f, tmp = setup
    f.wait_log("replica updated")
    time.sleep(0.3)
    f.stop()
    db = sqlite3.connect(str(tmp / "grants.db"))
    cookie = dict(db.execute("SELECT key, value FROM meta"))["sync_cookie"]
    db.close()
    assert cookie, "no cookie stored with the replica"
    # Restart with nothing changed: the stored cookie is enough.
    f.start()
    f.wait_log("resumed at the stored cookie: no changes missed")
    f.stop()
    # A change while the follower is down arrives at the next start.
    rc, _, err = server.ldapadd(share_ldif("while-down"), root=True)
    assert rc == 0, err
    f.start()
    f.wait_reason("tom.berger@abc.com", "peter.mueller@abc.com",
                  "shared_read_only")


def test_polling_without_syncprov(build_dir, tmp_path):
    with following(build_dir, tmp_path, syncprov=False, poll_interval=1) \
            as (server, f, conf):
        f.wait_log("polling")
        share_arrives(server, f, "polled")
        r = subprocess.run([f.bin, "-c", conf, "check"],
                           capture_output=True, text=True)
        assert "sync:      live (poll)" in r.stdout


def test_killed_full_sync_leaves_old_replica_whole(build_dir, tmp_path):
    extra = "".join(
        "dn: uid=u%05d,%s\nobjectClass: inetOrgPerson\n"
        "objectClass: mailgrantsUser\nuid: u%05d\ncn: u\nsn: u\n"
        "mail: u%05d@abc.com\n\n" % (i, PEOPLE, i, i) for i in range(4000))
    with Slapd() as server:
        conf = str(tmp_path / "mailgrants.conf")
        replica = str(tmp_path / "grants.db")
        server.write_config(conf, replica=replica)
        mg = os.path.join(build_dir, "mailgrants")
        subprocess.run([mg, "-c", conf, "sync", "--once"], check=True,
                       capture_output=True)

        def users():
            db = sqlite3.connect(replica)
            try:
                assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
                return db.execute("SELECT count(*) FROM users").fetchone()[0]
            finally:
                db.close()

        assert users() == 7
        # 4,000 adds: slow on a busy machine, so no 30 s limit here.
        rc, _, err = server.ldapadd(extra, root=True, timeout=600)
        assert rc == 0, err
        killed = 0
        for delay in (0.02, 0.05, 0.1, 0.15, 0.2, 0.3):
            p = subprocess.Popen([mg, "-c", conf, "sync", "--once"],
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(delay)
            if p.poll() is None:
                p.kill()
                killed += 1
            p.wait()
            # Old or new, whole either way, never in between.
            assert users() in (7, 4007)
            r = subprocess.run([mg, "-c", conf, "explain", "--json",
                                "sandra.schuster@abc.com", "info@abc.com"],
                               capture_output=True, text=True)
            assert json.loads(r.stdout)["kind"] == "company"
        assert killed > 0, "every sync finished before it could be killed"


def test_heartbeat_keeps_an_idle_replica_current(build_dir, tmp_path):
    """Nothing changes in the directory for longer than replica_max_age:
    the live follower's heartbeat keeps the replica current (check exits
    0, says live); once the follower is gone, it ages out (check exits
    2 and says why)."""
    with following(build_dir, tmp_path, replica_max_age=8) \
            as (server, f, conf):
        f.wait_log("replica updated")
        time.sleep(12)      # past max age; heartbeats every 5 s
        r = subprocess.run([f.bin, "-c", conf, "check"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "sync:      live (persist)" in r.stdout
        f.stop()
        time.sleep(9)
        r = subprocess.run([f.bin, "-c", conf, "check"], capture_output=True,
                           text=True)
        assert r.returncode == 2, r.stdout
        assert "older than replica_max_age" in r.stdout


def check(f, conf):
    r = subprocess.run([f.bin, "-c", conf, "check"], capture_output=True,
                       text=True, timeout=60)
    return r.returncode, r.stdout


def meta(replica):
    db = sqlite3.connect(replica)
    try:
        return dict(db.execute("SELECT key, value FROM meta"))
    finally:
        db.close()


def wait_check(f, conf, text, timeout):
    """Run check until its output has text; the seconds it took."""
    t0 = time.monotonic()
    while True:
        rc, out = check(f, conf)
        if text in out:
            return time.monotonic() - t0, rc, out
        assert time.monotonic() - t0 < timeout, \
            "no %r from check within %.0f s:\n%s\nfollower log:\n%s" % (
                text, timeout, out, f.text())
        time.sleep(0.5)


def hang_and_resume(server, f, conf, mode):
    """slapd stopped with SIGSTOP: the follower notices within its bound
    (a probe every 5 s, 5 s to answer) and check says so, with a hint
    about a hanging server, not about credentials; after SIGCONT the
    follower is live again."""
    rc, out = check(f, conf)
    assert rc == 0, out
    assert "sync:      live (%s)" % mode in out, out
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        took, rc, out = wait_check(f, conf, "sync:      not live: directory "
                                   "not answering since", timeout=30)
        # 10 s, plus check's own 2 s bind timeout and the poll step.
        assert took <= 14, (took, out)
        assert rc == 2, out
        assert "Timed out" in out, out
        assert "did not answer within 2 s" in out, out
        assert "hanging" in out, out
        assert "ldap_bind_dn" not in out, out
        assert "did not answer a probe within 5 s" in f.text()
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    # Reconnected with the backoff (at most a few seconds here).
    wait_check(f, conf, "sync:      live (%s)" % mode, timeout=60)


def test_hung_directory_noticed_persist(build_dir, tmp_path):
    with following(build_dir, tmp_path, ldap_network_timeout=2) \
            as (server, f, conf):
        f.wait_log("replica updated")
        hang_and_resume(server, f, conf, "persist")
        # Still following: a change arrives.
        rc, _, err = server.ldapadd(share_ldif("after-hang"), root=True)
        assert rc == 0, err
        f.wait_reason("tom.berger@abc.com", "peter.mueller@abc.com",
                      "shared_read_only", timeout=30)


def test_poll_mode_heartbeat_and_hang(build_dir, tmp_path):
    """poll_interval 60 s (the README's Active Directory setting): a
    healthy follower is live all through the interval, not only for
    the 30 s after each read, because it beats between the reads; and
    a hung directory is noticed between the reads too."""
    replica = str(tmp_path / "grants.db")
    with following(build_dir, tmp_path, syncprov=False,
                   poll_interval=60, ldap_network_timeout=2) \
            as (server, f, conf):
        f.wait_log("polling")
        f.wait_reason("tom.berger@abc.com", "peter.mueller@abc.com",
                      "share_not_active")
        first = int(meta(replica)["last_success"])
        # Past the 30 s a full read's heartbeat alone would cover,
        # before the next read.
        time.sleep(max(0.0, first + 34 - time.time()))
        m = meta(replica)
        assert int(m["last_success"]) == first, "read again early"
        assert int(m["heartbeat"]) >= first + 25, m
        rc, out = check(f, conf)
        assert rc == 0, out
        assert "sync:      live (poll), the directory answered" in out, \
            out + f.text()
        hang_and_resume(server, f, conf, "poll")


def _rebuilt(f, timeout):
    """The follower's replica answers again (explain), within timeout."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = subprocess.run([f.bin, "-c", f.conf, "explain", "--json",
                            "sandra.schuster@abc.com", "info@abc.com"],
                           capture_output=True, text=True)
        if r.returncode == 0 and json.loads(r.stdout)["kind"] == "company":
            return time.time()
        time.sleep(0.2)
    raise AssertionError("replica not rebuilt in %s s; log:\n%s"
                         % (timeout, f.text()))


def _damage(replica, how):
    """Change the replica in place, keeping its inode."""
    ino = os.stat(replica).st_ino
    if how == "truncated":
        os.truncate(replica, 0)
    elif how == "overwritten":
        size = os.path.getsize(replica)
        with open(replica, "r+b") as fh:
            fh.write(b"\x5a" * size)
    assert os.stat(replica).st_ino == ino


@pytest.mark.parametrize("how", ["truncated", "overwritten"])
@pytest.mark.parametrize("mode", ["persist", "poll"])
def test_replica_changed_in_place_is_rebuilt(build_dir, tmp_path, how,
                                             mode):
    """The replica truncated or overwritten in place under a running
    sync --follow: its heartbeat (persist) or its check between polls
    (poll) fails, and it rebuilds the file at once with a full sync
    (a new file renamed into place) instead of logging the same error
    every 10 s; check and explain answer again."""
    replica = str(tmp_path / "grants.db")
    # A long poll interval: only the check can notice in time.
    with following(build_dir, tmp_path, syncprov=(mode == "persist"),
                   poll_interval=300) as (server, f, conf):
        f.wait_log("replica updated" if mode == "persist"
                   else "polling")
        _rebuilt(f, 20)
        time.sleep(0.5)
        _damage(replica, how)
        started = time.time()
        done = _rebuilt(f, 30)
        # A heartbeat every 5 s, then one full sync.
        assert done - started < 25, f.text()
        assert "rebuilding the replica with a full sync" in f.text()
        assert "building a new one" in f.text()
        r = subprocess.run([f.bin, "-c", conf, "check"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        # Rebuilt once, not again at every heartbeat.
        time.sleep(11)
        assert f.text().count("rebuilding the replica") == 1, f.text()
