"""Privilege separation (issue 8, point 8): the writer and the readers.

DESIGN §2: the sync (the only holder of the directory bind password,
the only writer of the replica) and the readers (policy daemon, milter,
Dovecot's mail user) are different identities; readers can read the
replica and nothing else of mailgrants.

The test builds the packaged layout with identities of its own, created
here as root and removed at the end (names with a random suffix):

    writer   user mgw-XXXXXX, group mgw-XXXXXX: runs the sync
    readers  group mgr-XXXXXX (replica_group)
    reader   user mgd-XXXXXX, group mgd-XXXXXX, member of the readers'
             group: runs the policy daemon (--user) and the read probes
    etc/     root:writer 0750; mailgrants.conf root:writer 0640,
             bind.pw root:writer 0640 (README: the package's layout)
    lib/     writer:readers 2750: set-group-ID, so that every file
             the writer creates there (grants.db, -wal, -shm, a new
             file being built) is the readers' group's from its first
             moment, although the writer is not a member of it

What is promised and checked:
- after syncs as the writer (a new file, an existing one, and sync
  --follow), grants.db, -wal and -shm are the writer's, group readers,
  mode 0640: the readers' group reads, nobody else writes; -wal and
  -shm are never deleted (a reader could not create them again);
- in a directory that is not set-group-ID, a writer outside the
  readers' group cannot give them the file: the sync fails before it
  changes anything, saying what to do;
- the reader decides (mailgrants explain, SQLite read-only, the policy
  daemon), but cannot open any replica file for writing, cannot write
  through SQLite, cannot create a file next to the replica, and cannot
  read the bind password file;
- the policy daemon started as root with --user reader runs as the
  reader and holds no replica file open for writing (its first open
  happens after the privilege drop, so that it proves what the reader
  can do), and it keeps deciding, without a single temporary failure,
  while sync --follow writes changes and while sync --once rewrites
  the replica, and after the writer went away (no process with write
  access to -shm attached: SQLite's read-only WAL reader);
- mailgrants check reports these identities and modes, and fails with
  a clear warning when a reader can read the bind password (the old
  layout: readers in the writer's group).
"""

import contextlib
import os
import pwd
import grp
import shutil
import stat
import subprocess
import threading
import time
import uuid

import pytest

from daemonutil import kill_group, make_workdir, wait_for
from example import SANDRA, SANDRA_DN
from milter import Milter
from policyd import Policyd
from privsep import as_user, assert_ids, assert_reader_only, fds_of, \
    probe_as


def run(argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (argv, r.stdout + r.stderr)


class Identities:
    """The writer, the readers' group and a reader, made for this test."""

    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.writer = "mgw-" + tag
        self.readers = "mgr-" + tag
        self.reader = "mgd-" + tag
        self.made_users, self.made_groups = [], []
        try:
            self._group(self.readers)
            self._user(self.writer)
            self._user(self.reader, extra=self.readers)
        except BaseException:
            self.remove()
            raise

    def _group(self, name):
        run(["groupadd", "--system", name])
        self.made_groups.append(name)

    def _user(self, name, extra=None):
        self._group(name)
        argv = ["useradd", "--system", "--no-create-home", "--home-dir",
                "/nonexistent", "--shell", "/usr/sbin/nologin", "-g", name]
        if extra:
            argv += ["-G", extra]
        run(argv + [name])
        self.made_users.append(name)

    def remove(self):
        for u in self.made_users:
            subprocess.run(["userdel", u], capture_output=True)
        for g in self.made_groups:
            subprocess.run(["groupdel", g], capture_output=True)

    def uid(self, user):
        return pwd.getpwnam(user).pw_uid

    def gid(self, group):
        return grp.getgrnam(group).gr_gid


@pytest.fixture(scope="module")
def ids():
    i = Identities()
    try:
        yield i
    finally:
        i.remove()


class Layout:
    """etc/ and lib/ as the packages set them up, for these identities."""

    def __init__(self, slapd, build_dir, ids):
        self.slapd, self.ids = slapd, ids
        self.mailgrants = os.path.join(build_dir, "mailgrants")
        self.wd = make_workdir("mg-identities-")
        wgid = ids.gid(self.ids.writer)
        self.etc = os.path.join(self.wd, "etc")
        os.mkdir(self.etc)
        os.chown(self.etc, 0, wgid)
        os.chmod(self.etc, 0o750)
        self.lib = os.path.join(self.wd, "lib")
        os.mkdir(self.lib)
        os.chown(self.lib, ids.uid(ids.writer), ids.gid(ids.readers))
        os.chmod(self.lib, 0o2750)
        self.replica = os.path.join(self.lib, "grants.db")
        self.conf = os.path.join(self.etc, "mailgrants.conf")
        self.pwfile = os.path.join(self.etc, "bind.pw")
        slapd.write_config(self.conf, replica=self.replica,
                           replica_group=ids.readers,
                           ldap_bind_password_file=self.pwfile)
        os.unlink(self.conf + ".ldap-password")
        with open(self.pwfile, "w") as f:
            f.write(slapd.sync_pw + "\n")
        for p in (self.conf, self.pwfile):
            os.chown(p, 0, wgid)
            os.chmod(p, 0o640)
        # What a reader (not the daemons, which read the configuration
        # as root) needs for mailgrants explain: the replica's path.
        self.reader_conf = os.path.join(self.wd, "reader.conf")
        with open(self.reader_conf, "w") as f:
            f.write("replica = %s\n" % self.replica)
        os.chmod(self.reader_conf, 0o644)

    def mg(self, user, *args, conf=None):
        return subprocess.run([self.mailgrants, "-c", conf or self.conf] +
                              list(args), capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL,
                              preexec_fn=as_user(user) if user else None)

    def sync_once(self):
        r = self.mg(self.ids.writer, "sync", "--once")
        assert r.returncode == 0, r.stdout + r.stderr

    def assert_files(self):
        """The replica's files: the writer's, group readers, 0640."""
        for suffix in ("", "-wal", "-shm"):
            st = os.stat(self.replica + suffix)
            assert st.st_uid == self.ids.uid(self.ids.writer), suffix
            assert st.st_gid == self.ids.gid(self.ids.readers), suffix
            assert stat.S_IMODE(st.st_mode) == 0o640, \
                (suffix, oct(st.st_mode))
        assert sorted(os.listdir(self.lib)) == \
            ["grants.db", "grants.db-shm", "grants.db-wal"]

    def assert_reader_reads_only(self):
        assert_reader_only(probe_as(self.ids.reader, self.replica,
                                    self.pwfile))
        r = self.mg(self.ids.reader, "explain", SANDRA, "info@abc.com",
                    conf=self.reader_conf)
        assert r.returncode == 0, r.stderr
        assert "may send: yes" in r.stdout, r.stdout
        # Neither the configuration nor the password is the reader's.
        r = self.mg(self.ids.reader, "explain", SANDRA, "info@abc.com")
        assert r.returncode == 1 and "Permission denied" in r.stderr, \
            r.stderr

    def run_dir(self):
        """A new wd/run for the daemons' sockets, open to everyone."""
        d = os.path.join(self.wd, "run")
        os.mkdir(d)
        os.chmod(d, 0o755)
        return d

    def close(self):
        shutil.rmtree(self.wd, ignore_errors=True)


@pytest.fixture
def layout(slapd, build_dir, ids):
    with contextlib.closing(Layout(slapd, build_dir, ids)) as lay:
        yield lay


def test_writer_writes_reader_reads(layout):
    """A new replica, then a rewrite of the existing one, both by the
    writer: the files stay the readers' to read and nobody else's."""
    layout.sync_once()
    layout.assert_files()
    layout.assert_reader_reads_only()
    # -wal and -shm stay the same files over a sync with no reader
    # attached (a link outside lib/ shows a file deleted and made
    # again: its inode cannot be reused while the link holds it).
    keep = {}
    for suffix in ("-wal", "-shm"):
        keep[suffix] = os.path.join(layout.wd, "keep" + suffix)
        os.link(layout.replica + suffix, keep[suffix])
    layout.sync_once()
    for suffix, k in keep.items():
        assert os.stat(layout.replica + suffix).st_ino == \
            os.stat(k).st_ino, suffix
    layout.assert_files()
    layout.assert_reader_reads_only()
    # The writer can read its password; a reader of the writer's
    # group could too: the readers are not in it.
    assert layout.ids.reader not in \
        grp.getgrnam(layout.ids.writer).gr_mem


class Hammer(threading.Thread):
    """Asks the policy daemon as fast as it answers; keeps every answer
    that is not one of the expected ones."""

    def __init__(self, policyd, expect):
        super().__init__(daemon=True)
        self.policyd, self.expect = policyd, expect
        self.asked, self.bad = 0, []
        self.done = threading.Event()

    def run(self):
        with self.policyd.client() as c:
            while not self.done.is_set():
                for sender, want in self.expect.items():
                    a = c.ask(SANDRA, sender() if callable(sender)
                              else sender)
                    self.asked += 1
                    if not any(a.startswith(w) for w in want):
                        self.bad.append((sender, a))

    def stop(self):
        self.done.set()
        self.join(timeout=30)
        assert not self.is_alive()


def test_policyd_as_reader_while_writer_syncs(layout, build_dir):
    """The daemon as the reader: its identity, no writable replica file,
    and decisions without one temporary failure while the writer
    follows the directory and rewrites the replica."""
    ids = layout.ids
    layout.sync_once()
    sock_dir = layout.run_dir()
    p = Policyd(build_dir, layout.conf, sock_dir, user=ids.reader)
    follow = None
    new_addr = "sandra.neu-%s@abc.com" % uuid.uuid4().hex[:6]
    try:
        assert_ids(p.pid, ids.reader)
        assert p.ask(SANDRA, "info@abc.com") == "DUNNO"
        assert p.ask(SANDRA, new_addr).startswith("REJECT 5.7.1")
        # Every replica file it holds is open read-only.
        fds = fds_of(p.pid, layout.lib)
        assert layout.replica in fds, fds
        assert all(m == {os.O_RDONLY} for m in fds.values()), fds
        assert "password" not in p.log(), p.log()

        hammer = Hammer(p, {"info@abc.com": ("DUNNO",),
                            "peter.mueller@abc.com": ("REJECT 5.7.1",),
                            new_addr: ("DUNNO", "REJECT 5.7.1")})
        hammer.start()
        try:
            log = os.path.join(layout.wd, "follow.log")
            with open(log, "w") as f:
                follow = subprocess.Popen(
                    [layout.mailgrants, "-c", layout.conf, "sync",
                     "--follow"], stdout=f, stderr=f,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                    preexec_fn=as_user(ids.writer))
            wait_for(lambda: "following" in open(log).read(), 20,
                     what="sync --follow:\n" + open(log).read())
            rc, out, err = layout.slapd.ldapmodify(
                "dn: %s\nchangetype: modify\nadd: mailgrantsAddress\n"
                "mailgrantsAddress: %s\n" % (SANDRA_DN, new_addr),
                root=True)
            assert rc == 0, out + err
            wait_for(lambda: p.ask(SANDRA, new_addr) == "DUNNO", 20,
                     what="the change through sync --follow")
            layout.assert_files()
            # A full rewrite while the follower and the daemon are
            # attached.
            layout.sync_once()
            time.sleep(0.5)
        finally:
            if follow is not None:
                kill_group(follow, term_timeout=10.0)
        # No writer attached any more: a reader that comes now still
        # reads, without write access to -shm.
        layout.assert_files()
        layout.assert_reader_reads_only()
        time.sleep(0.3)
        hammer.stop()
        assert hammer.asked > 50, hammer.asked
        assert hammer.bad == [], hammer.bad[:5]
        assert p.ask(SANDRA, new_addr) == "DUNNO"
        fds = fds_of(p.pid, layout.lib)
        assert all(m == {os.O_RDONLY} for m in fds.values()), fds
    finally:
        if follow is not None and follow.poll() is None:
            follow.kill()
            follow.wait()
        p.stop()
        layout.slapd.ldapmodify(
            "dn: %s\nchangetype: modify\ndelete: mailgrantsAddress\n"
            "mailgrantsAddress: %s\n" % (SANDRA_DN, new_addr), root=True)


def test_writer_outside_readers_group_changes_nothing(layout):
    """lib/ without the set-group-ID bit: the writer (not a member of
    replica_group) cannot give a file to the readers; the sync says so
    and what to do, and leaves nothing behind."""
    os.chmod(layout.lib, 0o750)
    r = layout.mg(layout.ids.writer, "sync", "--once")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "cannot give it to group" in r.stderr, r.stderr
    assert "chmod g+s" in r.stderr and "was not changed" in r.stderr, \
        r.stderr
    assert os.listdir(layout.lib) == []


def test_milter_as_reader(layout, build_dir):
    """The milter, started as root with --user reader: the reader's ids
    in every thread, and the replica open read-only."""
    ids = layout.ids
    layout.sync_once()
    sock_dir = layout.run_dir()
    m = Milter(build_dir, layout.conf, sock_dir, user=ids.reader)
    try:
        assert assert_ids(m.pid, ids.reader) > 1
        fds = fds_of(m.pid, layout.lib)
        assert layout.replica in fds, (fds, m.log())
        assert all(v == {os.O_RDONLY} for v in fds.values()), fds
    finally:
        m.stop()


@pytest.mark.parametrize("exe", ["policyd", "milter"])
def test_daemon_warns_when_it_can_read_the_password(layout, build_dir, exe):
    """A daemon run as the writer (the old layout's mistake) still
    serves mail, but says that its user can read the bind password."""
    layout.sync_once()
    sock_dir = layout.run_dir()
    cls = Policyd if exe == "policyd" else Milter
    d = cls(build_dir, layout.conf, sock_dir, user=layout.ids.writer)
    try:
        log = d.log()
        assert "warning: uid %d can read the directory bind password (%s)"\
            % (layout.ids.uid(layout.ids.writer), layout.pwfile) in log, log
        if exe == "policyd":
            assert d.ask(SANDRA, "info@abc.com") == "DUNNO"
    finally:
        d.stop()


def test_check_reports_identities(layout):
    """mailgrants check (as root) names the writer and the readers and
    tests what each can do; a reader that can read the bind password
    (the old layout: readers in the writer's group) or write the
    replica is a problem: a WARNING line, what to do, exit status 1."""
    ids = layout.ids
    layout.sync_once()
    r = layout.mg(None, "check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "writer:    %s (owns %s)\n" % (ids.writer, layout.replica) \
        in r.stdout, r.stdout
    assert "readers:   group %s (replica_group): %s\n" % (
        ids.readers, ids.reader) in r.stdout, r.stdout
    assert "files:     %s, -wal, -shm: %s:%s 0640\n" % (
        layout.replica, ids.writer, ids.readers) in r.stdout, r.stdout
    assert "1 reader reads the replica and nothing else: ok" in r.stdout
    assert "WARNING" not in r.stdout

    run(["gpasswd", "-a", ids.reader, ids.writer])
    try:
        r = layout.mg(None, "check")
    finally:
        run(["gpasswd", "-d", ids.reader, ids.writer])
    assert r.returncode == 1, r.stdout + r.stderr
    assert ("identity:  WARNING: reader %s can read the directory bind "
            "password %s (group %s, mode 0640)\n           -> readers "
            "belong in replica_group only" % (ids.reader, layout.pwfile,
                                              ids.writer)) in r.stdout, \
        r.stdout
    assert r.stderr == "mailgrants: 1 identity or permission problem " \
        "(\"identity: WARNING\" above)\n", r.stderr

    os.chmod(layout.replica + "-shm", 0o660)
    os.chmod(layout.pwfile, 0o644)
    os.chmod(layout.etc, 0o755)
    r = layout.mg(None, "check")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "WARNING: reader %s can write %s\n" % (ids.reader,
                                                  layout.replica) \
        in r.stdout, r.stdout
    assert "WARNING: the bind password %s: every user can read it " \
        "(mode 0644)" % layout.pwfile in r.stdout, r.stdout


def test_existing_replica_of_another_group_is_reported(layout):
    """A replica left in the writer's own group (0.1.0's layout): the
    writer, not a member of replica_group, cannot give it back; the sync
    still syncs, and says for each file what is wrong and what to do;
    check says it too. As root, the sync gives the files back."""
    ids = layout.ids
    layout.sync_once()
    wgid = ids.gid(ids.writer)
    for suffix in ("", "-wal", "-shm"):
        os.chown(layout.replica + suffix, -1, wgid)
    r = layout.mg(ids.writer, "sync", "--once")
    assert r.returncode == 0, r.stdout + r.stderr
    for suffix in ("", "-wal", "-shm"):
        assert ("warning: %s%s: group %d, not replica_group %d: readers "
                "in that group cannot read it; cannot change it: "
                "Operation not permitted (make the replica's directory "
                "set-group-ID" % (layout.replica, suffix, wgid,
                                  ids.gid(ids.readers))) in r.stderr, \
            r.stderr
    r = layout.mg(None, "check")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "WARNING: %s is group %s, not the readers' group %s" % (
        layout.replica, ids.writer, ids.readers) in r.stdout, r.stdout
    assert "WARNING: reader %s cannot read %s" % (
        ids.reader, layout.replica) in r.stdout, r.stdout
    r = layout.mg(None, "sync", "--once")
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    layout.assert_files()
    layout.assert_reader_reads_only()


def test_wal_files_deleted_by_another_process(layout):
    """sqlite3 as root without SQLite's persistent WAL deletes -wal and
    -shm when it closes the last connection: a reader cannot make them
    again. check says so (there is a reader); the writer's next sync
    makes them again, the readers' group's, and the reader reads."""
    import sqlite3
    ids = layout.ids
    layout.sync_once()
    db = sqlite3.connect(layout.replica)
    db.execute("SELECT count(*) FROM users").fetchone()
    db.close()
    assert not os.path.exists(layout.replica + "-shm")
    r = layout.mg(ids.reader, "explain", SANDRA, "info@abc.com",
                  conf=layout.reader_conf)
    assert r.returncode == 2, r.stdout + r.stderr
    r = layout.mg(None, "check")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "WARNING: %s-shm: No such file or directory: a reader that " \
        "cannot write to %s cannot open the replica without it\n" \
        "           -> run mailgrants sync --once as the writer" % (
            layout.replica, layout.lib) in r.stdout, r.stdout
    layout.sync_once()
    layout.assert_files()
    layout.assert_reader_reads_only()
