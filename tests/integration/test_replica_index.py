"""The policy daemon's index of the replica (lib/replica-index.c) against
the file, on a generated directory of 2,000 users and 4,000 shares.

The directory comes from tests/bench/gen-directory.py --scale small
(companies, nested and cyclic groups, shares past, current, future and
open, aliases in UTF-8) through a real slapd and "mailgrants sync
--once". Checked: every one of 2,000 query pairs decided from the
index and from the file, byte for byte the same (bench-explain
--index); the daemon with its index and the daemon with replica_index
= no answer every pair alike; a sync that changes a grant is obeyed at
the next request, before a new index is built, and the new index then
says the same; a replica without a generation (written by an older
sync) is decided from the file, with one warning, and indexed as soon
as a sync writes one.
"""

import os
import re
import shutil
import sqlite3
import subprocess
import sys

import pytest

from daemonutil import make_workdir, wait_for
from policyd import Policyd
from slapd import Slapd

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GEN = os.path.join(REPO, "tests", "bench", "gen-directory.py")
PAIRS = 2000


def sync(build_dir, conf):
    r = subprocess.run([os.path.join(build_dir, "mailgrants"), "-c", conf,
                        "sync", "--once"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def site(build_dir):
    wd = make_workdir("replica-index-")
    ldif = os.path.join(wd, "directory.ldif")
    queries = os.path.join(wd, "queries.tsv")
    subprocess.run([sys.executable, GEN, "--scale", "small", "-o", ldif,
                    "--queries", queries, "--query-count", str(PAIRS)],
                   check=True, capture_output=True, timeout=120)
    ldap = Slapd(ldif=None, start=False)
    try:
        ldap.load_offline(ldif)
        ldap.start(timeout=60)
        db = os.path.join(wd, "grants.db")
        conf = ldap.write_config(os.path.join(wd, "mailgrants.conf"),
                                 replica=db, replica_group="nogroup")
        os.chmod(conf, 0o644)
        sync(build_dir, conf)
        with open(queries, encoding="utf-8") as f:
            pairs = [tuple(line.rstrip("\n").split("\t", 1)) for line in f]
        yield ldap, wd, conf, db, queries, pairs
    finally:
        ldap.close()
        shutil.rmtree(wd, ignore_errors=True)


def test_index_agrees_with_the_file(site, build_dir):
    _, _, _, db, queries, pairs = site
    assert len(pairs) == PAIRS
    r = subprocess.run([os.path.join(build_dir, "bench-explain"), "--index",
                        db, queries, "1"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    kv = dict(x.split("=", 1) for x in r.stdout.split() if "=" in x)
    assert int(kv["agreed"]) == PAIRS, r.stdout
    assert float(kv["index_mib"]) > 0


def asks(d, pairs):
    with d.client() as c:
        return [c.ask(login, sender) for login, sender in pairs]


def test_daemon_index_and_file_agree(site, build_dir):
    ldap, wd, conf, db, _, pairs = site
    conf_file = os.path.join(wd, "file.conf")
    ldap.write_config(conf_file, replica=db, replica_group="nogroup",
                      replica_index=False)
    os.chmod(conf_file, 0o644)
    with Policyd(build_dir, conf, wd) as ours, \
            Policyd(build_dir, conf_file, wd) as file_only:
        ours.wait_index()
        got, want = asks(ours, pairs), asks(file_only, pairs)
        assert "index of generation" not in file_only.log()
    assert len(got) == PAIRS
    # Every kind of answer is among them.
    assert any(g == "DUNNO" for g in got)
    assert any("shared with you for reading only" in g for g in got)
    assert any("you may not send as this address" in g for g in got)
    diff = [(p, g, w) for p, g, w in zip(pairs, got, want) if g != w]
    assert diff == []


def shared_pair(db):
    """A (login, address, share dn) of an open-ended current share
    naming a user directly, from the replica."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return con.execute(
            "SELECT u.login, m.address, s.dn FROM shares s"
            " JOIN share_grantees g ON g.share_id = s.id"
            " JOIN users u ON u.id = g.user_id"
            " JOIN mailboxes m ON m.id = s.mailbox_id"
            " WHERE m.kind = 1 AND u.company_id = m.company_id"
            " AND (s.not_before IS NULL OR s.not_before < strftime('%s'))"
            " AND (s.not_after IS NULL OR s.not_after > strftime('%s'))"
            " AND (SELECT count(*) FROM share_grantees g2 JOIN shares s2"
            " ON s2.id = g2.share_id WHERE g2.user_id = u.id"
            " AND s2.mailbox_id = m.id) = 1"
            " ORDER BY s.dn LIMIT 1").fetchone()
    finally:
        con.close()


def test_a_sync_is_obeyed_before_the_new_index(site, build_dir):
    ldap, wd, conf, db, _, _ = site
    login, address, share_dn = shared_pair(db)
    with Policyd(build_dir, conf, wd) as d:
        first = d.wait_index()
        with d.client() as c:
            before = c.ask(login, address)
            assert "shared with you for reading only" in before
            mark = len(d.log())
            ldap.ldapdelete(share_dn, root=True)
            sync(build_dir, conf)
            # The very next answer is the file's: the old index is
            # stale the moment the sync committed.
            after = c.ask(login, address)
            assert "you may not send as this address" in after, after
            m = d.wait_log(Policyd.INDEX_RE, start=mark)
            assert m.group(1) != first
            assert c.ask(login, address) == after
        assert d.alive()


def test_replica_without_generation(site, build_dir):
    ldap, wd, conf, db, _, pairs = site
    copy_wd = make_workdir("replica-index-old-")
    try:
        old = os.path.join(copy_wd, "grants.db")
        src = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        dst = sqlite3.connect(old)
        src.backup(dst)
        src.close()
        dst.execute("DELETE FROM meta WHERE key = 'generation'")
        dst.commit()
        # Readable by nobody without a -wal and -shm of its own.
        dst.execute("PRAGMA journal_mode = DELETE")
        dst.close()
        shutil.chown(old, group="nogroup")
        os.chmod(old, 0o640)
        conf_old = ldap.write_config(os.path.join(copy_wd, "old.conf"),
                                     replica=old)
        os.chmod(conf_old, 0o644)
        with Policyd(build_dir, conf_old, copy_wd) as d, \
                Policyd(build_dir, conf, wd) as ours:
            ours.wait_index()
            d.ask("", "")
            d.wait_log(r"warning: replica .*: indexing the replica: it has"
                       r" no generation yet .*deciding from the file")
            sample = pairs[:200]
            assert asks(d, sample) == asks(ours, sample)
            assert re.search(Policyd.INDEX_RE, d.log()) is None
            # Said once, not at every pass.
            assert d.log().count("no generation yet") == 1
            # The next sync writes one: the daemon builds at once.
            con = sqlite3.connect(old)
            con.execute("INSERT INTO meta(key, value) VALUES"
                        " ('generation', 'feedc0de')")
            con.commit()
            con.close()
            d.ask("", "")
            d.wait_log(r"index of generation feedc0de in memory")
            assert asks(d, sample) == asks(ours, sample)
    finally:
        shutil.rmtree(copy_wd, ignore_errors=True)
