"""mailgrants-policyd, black-box, on a replica synced from a real slapd.

The daemon binary ($MAILGRANTS_BUILD/mailgrants-policyd) runs as a child
with --foreground (its log on standard error, into a file), dropping to
the user "nobody"; the replica comes from ldap-schema/examples/abc.ldif
through "mailgrants sync --once". Checked: every row of DESIGN §6 for
the story's users over a UNIX socket and over TCP; replies in order for
100 pipelined requests; --stdio; a missing, corrupt and changed replica
(picked up without restart); every broken replica of tests/lib/
replicafaults.py (in place or replaced, stale, not a file) fails closed
and recovers without restart; bad input of every kind (a warning, the
connection closed, never a reply to it, the daemon serving on); slow
clients timed out while others are served; the privilege drop; the
counters on SIGUSR1.
"""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from types import SimpleNamespace

import pytest

from daemonutil import make_workdir, wait_for
from policyd import Policyd, PolicyClient, postfix_request, run_stdio
from replicafaults import FAULTS, damage, mend
from example import ANNA, BASE, JANA, LENA, MAX, PETER, SANDRA, TOM

PETER_U = "peter.m\u00fcller@abc.com"

DUNNO = "DUNNO"
REJECT = "REJECT 5.7.1 "
DEFER_LOGIN = "DEFER_IF_PERMIT 4.7.1 "
DEFER_REPLICA = "DEFER_IF_PERMIT 4.3.0 "

# (login, sender, reply prefix, reason in the log)
STORY = [
    (SANDRA, SANDRA, DUNNO, "own_mailbox"),
    (SANDRA, "makler@abc.com", DUNNO, "own_mailbox"),
    (SANDRA, "SANDRA.Schuster+x@ABC.com", DUNNO, "own_mailbox"),
    (SANDRA, "info@abc.com", DUNNO, "company_mailbox"),
    (SANDRA, PETER, REJECT + "<peter.mueller@abc.com>: mailbox shared with "
     "you for reading only; send from your own address", "shared_read_only"),
    (SANDRA, PETER_U, REJECT + "<%s>: mailbox shared" % PETER_U,
     "shared_read_only"),
    (SANDRA, "buchhaltung@abc.com", REJECT, "not_yours"),
    (SANDRA, JANA, REJECT, "not_yours"),
    (SANDRA, "info@xyz.org", REJECT, "not_yours"),
    (SANDRA, "sandra@gmail.com", REJECT + "<sandra@gmail.com>: sending as "
     "an address of another domain", "foreign_sender"),
    (SANDRA, "", DUNNO, "null_sender"),
    (JANA, JANA, DUNNO, "own_mailbox"),
    (JANA, "buchhaltung@abc.com", DUNNO, "own_mailbox"),
    (JANA, "info@abc.com", DUNNO, "company_mailbox"),
    (JANA, PETER, REJECT, "shared_read_only"),
    (JANA, PETER_U, REJECT, "shared_read_only"),
    (JANA, "makler@abc.com", REJECT, "not_yours"),
    (PETER, PETER, DUNNO, "own_mailbox"),
    (PETER, PETER_U, DUNNO, "own_mailbox"),
    (PETER, "Peter.Mueller+news@abc.com", DUNNO, "own_mailbox"),
    (PETER, "info@abc.com", DUNNO, "company_mailbox"),
    (PETER, SANDRA, REJECT, "not_yours"),
    (TOM, TOM, DUNNO, "own_mailbox"),
    (TOM, "info@abc.com", DUNNO, "company_mailbox"),
    (TOM, PETER, REJECT + "<peter.mueller@abc.com>: you may not send as "
     "this address", "not_yours"),
    (TOM, "makler@abc.com", REJECT, "not_yours"),
    (ANNA, ANNA, DUNNO, "own_mailbox"),
    (ANNA, "info@xyz.org", DUNNO, "company_mailbox"),
    (ANNA, "info@abc.com", REJECT, "not_yours"),
    (ANNA, SANDRA, REJECT, "not_yours"),
    (MAX, MAX, DUNNO, "own_mailbox"),
    (MAX, "info@xyz.org", DUNNO, "company_mailbox"),
    (MAX, ANNA, REJECT, "not_yours"),
    # vertrieb@abc.com: for the members of cn=vertrieb (Jana, Peter).
    (JANA, "vertrieb@abc.com", DUNNO, "company_mailbox"),
    (PETER, "Vertrieb+team@abc.com", DUNNO, "company_mailbox"),
    (SANDRA, "vertrieb@abc.com", REJECT + "<vertrieb@abc.com>: you may not "
     "send as this address", "not_yours"),
    (TOM, "vertrieb@abc.com", REJECT, "not_yours"),
    (ANNA, "vertrieb@abc.com", REJECT, "not_yours"),
    # Not an employee: her own address only.
    (LENA, LENA, DUNNO, "own_mailbox"),
    (LENA, "info@xyz.org", REJECT + "<info@xyz.org>: you may not send",
     "not_yours"),
    # A login with an extension is not the base login.
    (SANDRA.replace("@", "+x@"), SANDRA, DEFER_LOGIN, "unknown_login"),
    (JANA.replace("@", "+x@"), "vertrieb@abc.com", DEFER_LOGIN,
     "unknown_login"),
    ("", SANDRA, REJECT + "<sandra.schuster@abc.com>: authentication "
     "required", "auth_required"),
    ("", "nobody@abc.com", REJECT, "auth_required"),
    ("", "info@xyz.org", REJECT, "auth_required"),
    ("", "someone@example.net", DUNNO, "unauthenticated_foreign"),
    ("", "", DUNNO, "null_sender"),
    ("nobody@abc.com", SANDRA, DEFER_LOGIN, "unknown_login"),
    ("nobody@abc.com", "x@example.net", DEFER_LOGIN, "unknown_login"),
    (SANDRA, "sandra.schuster", "REJECT 5.1.7 <sandra.schuster>: invalid "
     "sender address", "bad_sender"),
]


def sync(build_dir, conf, db):
    """mailgrants sync --once; replica_group (nogroup, the daemon's
    group as nobody) lets the daemon read the replica, as a site's
    installation would (no chmod by hand)."""
    exe = os.path.join(build_dir, "mailgrants")
    assert os.access(exe, os.X_OK), "%s not built" % exe
    r = subprocess.run([exe, "-c", conf, "sync", "--once"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def make_env(slapd, build_dir, do_sync=True, **extra):
    wd = make_workdir("policyd-")
    conf = os.path.join(wd, "mailgrants.conf")
    db = os.path.join(wd, "grants.db")
    extra.setdefault("replica_group", "nogroup")
    slapd.write_config(conf, replica=db, **extra)
    os.chmod(conf, 0o644)
    if do_sync:
        sync(build_dir, conf, db)
    return SimpleNamespace(wd=wd, conf=conf, db=db)


@pytest.fixture(scope="module")
def env(slapd, build_dir):
    e = make_env(slapd, build_dir)
    yield e
    shutil.rmtree(e.wd, ignore_errors=True)


@pytest.fixture
def fresh(slapd, build_dir):
    """A workdir and config of its own, synced, for one test."""
    e = make_env(slapd, build_dir)
    yield e
    shutil.rmtree(e.wd, ignore_errors=True)


@pytest.fixture(scope="module")
def daemon(env, build_dir):
    """The daemon as installed: deciding from its index of the replica
    (replica_index = yes, the default) once the index is built."""
    d = Policyd(build_dir, env.conf, env.wd, timeout=2)
    d.wait_index()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def daemon_file(slapd, build_dir):
    """The daemon with replica_index = no: every decision from the
    file, as during the build of an index."""
    e = make_env(slapd, build_dir, replica_index=False)
    d = Policyd(build_dir, e.conf, e.wd, timeout=2)
    yield d
    d.stop()
    shutil.rmtree(e.wd, ignore_errors=True)


def log_line_re(action, login, sender, reason):
    return (r"action=%s login=%s sender=<%s> client=\S+ queue_id=\S+ "
            r"reason=%s$" % (re.escape(action), re.escape(login or "-"),
                             re.escape(sender), re.escape(reason)))


@pytest.mark.parametrize("login,sender,reply,reason", STORY)
def test_story_unix(daemon, login, sender, reply, reason):
    start = len(daemon.log())
    got = daemon.ask(login, sender)
    if reply == DUNNO:
        assert got == DUNNO
    else:
        assert got.startswith(reply), got
    action = got.split(" ", 1)[0].lower()
    daemon.wait_log(log_line_re(action, login, sender, reason), start=start)


@pytest.mark.parametrize("login,sender,reply,reason", STORY)
def test_story_from_the_file(daemon_file, login, sender, reply, reason):
    """The same rows with replica_index = no: the file's answers are the
    index's, word for word (the log line included)."""
    test_story_unix(daemon_file, login, sender, reply, reason)
    assert "index of generation" not in daemon_file.log()


def test_story_inet(env, build_dir):
    with Policyd(build_dir, env.conf, env.wd, listen="inet") as d:
        with d.client() as c:
            for login, sender, reply, _ in STORY:
                got = c.ask(login, sender)
                assert got == reply if reply == DUNNO \
                    else got.startswith(reply), (login, sender, got)


def test_log_line_and_untrusted_values(daemon):
    start = len(daemon.log())
    got = daemon.ask("tom.berger@abc.com\x1b[31m", "evil\x01@abc.com",
                     client_address="198.51.100.7", queue_id="4Xk3Lq0mZbz9")
    assert got.startswith(DEFER_LOGIN)
    # values with control characters are quoted, each one escaped
    daemon.wait_log(r'action=defer_if_permit login="tom\.berger@abc\.com'
                    r'\\x1b\[31m" sender="<evil\\x01@abc\.com>" '
                    r"client=198\.51\.100\.7 queue_id=4Xk3Lq0mZbz9 "
                    r"reason=unknown_login$", start=start)
    got = daemon.ask(SANDRA, "evil\x01@abc.com")
    assert got.startswith("REJECT 5.1.7 <evil\\x01@abc.com>: "), got
    assert "\x01" not in daemon.log()[start:]


def test_empty_sasl_username_once_is_unauthenticated(daemon):
    """sasl_username= with an empty value, once, is a client that did
    not log in: answered, by the rows without login."""
    data = postfix_request(None, "someone@example.net")
    assert data.count(b"\nsasl_username=\n") == 1
    with daemon.client() as c:
        c.send(data)
        assert c.read_reply() == DUNNO
        c.send(postfix_request(None, SANDRA))
        assert c.read_reply().startswith(REJECT + "<sandra.schuster@abc.com>:"
                                         " authentication required")


def test_log_only_attribute_repeated_is_answered(daemon):
    """client_address and queue_id only go into the log: a repeated one
    does not change the decision, and the request is answered."""
    start = len(daemon.log())
    data = with_extra(postfix_request(TOM, TOM,
                                      client_address="198.51.100.1"),
                      b"client_address=198.51.100.2")
    with daemon.client() as c:
        c.send(data)
        assert c.read_reply() == DUNNO
    daemon.wait_log(r"action=dunno login=tom\.berger@abc\.com "
                    r"sender=<tom\.berger@abc\.com> client=198\.51\.100\.2 ",
                    start=start)


def test_early_protocol_state_fails_closed(daemon):
    start = len(daemon.log())
    got = daemon.ask(SANDRA, "", protocol_state="CONNECT")
    assert got.startswith("DEFER_IF_PERMIT 4.3.5 "), got
    daemon.wait_log(r"warning: request in protocol state CONNECT",
                    start=start)


def test_100_pipelined_requests_in_order(daemon):
    rows = [STORY[i % len(STORY)] for i in range(100)]
    data = b"".join(postfix_request(login, sender)
                    for login, sender, _, _ in rows)
    with daemon.client() as c:
        c.send(data)
        for i, (login, sender, reply, _) in enumerate(rows):
            got = c.read_reply()
            assert got is not None, "closed after %d replies" % i
            assert got == reply if reply == DUNNO \
                else got.startswith(reply), (i, login, sender, got)
        # The connection stays open for more.
        assert c.ask(SANDRA, "makler@abc.com") == DUNNO


def test_many_connections_at_once(daemon):
    clients = [daemon.client() for _ in range(50)]
    try:
        for c in clients:
            c.send(postfix_request(SANDRA, PETER))
        for c in clients:
            assert c.read_reply().startswith(REJECT)
        for c in clients:
            assert c.ask(TOM, TOM) == DUNNO
    finally:
        for c in clients:
            c.close()


def test_stdio(env, build_dir):
    data = (postfix_request(SANDRA, "makler@abc.com") +
            postfix_request(SANDRA, PETER) +
            postfix_request("nobody@abc.com", SANDRA))
    rc, out, err = run_stdio(build_dir, env.conf, data)
    assert rc == 0, err
    replies = out.decode().split("\n\n")
    assert replies[-1] == ""
    assert replies[0] == "action=DUNNO"
    assert replies[1].startswith("action=" + REJECT + "<peter.mueller")
    assert replies[2].startswith("action=" + DEFER_LOGIN)
    assert len(replies) == 4
    assert "reason=shared_read_only" in err


def test_stdio_bad_input(env, build_dir):
    data = postfix_request(SANDRA, "makler@abc.com") + b"garbage\n\n"
    rc, out, err = run_stdio(build_dir, env.conf, data)
    assert rc == 1
    assert out == b"action=DUNNO\n\n"
    assert "warning: stdio client: request line without \"=\"" in err


def with_extra(request, line):
    """A request with one more attribute line before its empty line."""
    assert request.endswith(b"\n\n")
    return request[:-1] + line + b"\n\n"


def without(request, name):
    """A request without the attribute name (its one line removed)."""
    lines = request.split(b"\n")
    kept = [x for x in lines if not x.startswith(name + b"=")]
    assert len(kept) == len(lines) - 1
    return b"\n".join(kept)


BAD_INPUTS = {
    "over-long line": (b"request=smtpd_access_policy\nsender=" +
                       b"x" * 5000 + b"\n\n", "request line too long"),
    "over-long line never ended": (b"sender=" + b"x" * 10000,
                                   "request line too long"),
    "too many attributes": (b"a=b\n" * 101 +
                            b"request=smtpd_access_policy\n\n",
                            "too many attributes"),
    "NUL byte": (b"request=smtpd_access_policy\nsasl_username=" +
                 SANDRA.encode() + b"\nsender=makler@abc.com\x00\n\n",
                 "NUL byte in request"),
    "line without =": (b"request=smtpd_access_policy\nhello world\n\n",
                       "request line without \"=\""),
    "other request type": (b"request=junk\nsender=a@b.c\n\n",
                           "unsupported request type"),
    "no request attribute": (b"sender=a@b.c\nsasl_username=x\n\n",
                             "without \"request\" attribute"),
    "empty request": (b"\n", "empty request"),
    "EOF without blank line": (postfix_request(SANDRA, "makler@abc.com")[:-1],
                               "connection closed in the middle of a "
                               "request; no reply"),
    "random bytes": (random.Random(20240601).randbytes(4096), None),
    "http": (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
             "request line without \"=\""),
    # What the decision reads comes exactly once, or there is no
    # answer: a missing sender is not the null sender, and of two
    # senders or two logins neither is the right one.
    "no sender": (without(postfix_request(SANDRA, ""), b"sender"),
                  "request without \"sender\" attribute"),
    "sender twice": (with_extra(postfix_request(TOM, PETER),
                                b"sender=" + TOM.encode()),
                     "attribute \"sender\" repeated in request"),
    "sender twice, the second empty": (
        with_extra(postfix_request(TOM, PETER), b"sender="),
        "attribute \"sender\" repeated in request"),
    "no sasl_username": (without(postfix_request(None, PETER),
                                 b"sasl_username"),
                         "request without \"sasl_username\" attribute"),
    "sasl_username twice": (
        with_extra(postfix_request(TOM, PETER),
                   b"sasl_username=" + PETER.encode()),
        "attribute \"sasl_username\" repeated in request"),
    "sasl_username empty, then a login": (
        with_extra(postfix_request(None, "someone@example.net"),
                   b"sasl_username=" + PETER.encode()),
        "attribute \"sasl_username\" repeated in request"),
    "no protocol_state": (postfix_request(TOM, TOM, protocol_state=None),
                          "request without \"protocol_state\" attribute"),
    "protocol_state twice": (
        with_extra(postfix_request(TOM, PETER), b"protocol_state=CONNECT"),
        "attribute \"protocol_state\" repeated in request"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input(daemon, name):
    data, warning = BAD_INPUTS[name]
    start = len(daemon.log())
    with daemon.client() as c:
        # A good request first: its reply comes, then nothing more.
        c.send(postfix_request(TOM, TOM) + data)
        try:
            c.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        received = c.read_until_closed(timeout=10)
    assert received == b"action=DUNNO\n\n", received[:200]
    daemon.wait_log(r"warning: unix peer pid=\d+ uid=0: .*%s"
                    % (re.escape(warning) if warning else ".*"),
                    start=start)
    # Never a decision for the bad request.
    decisions = re.findall(r"action=\w+ .*", daemon.log()[start:])
    assert len(decisions) == 1, decisions
    assert daemon.alive()
    assert daemon.ask(SANDRA, "makler@abc.com") == DUNNO


def test_slow_client_timed_out_others_served(daemon):
    start = len(daemon.log())
    slow = daemon.client()
    idle = daemon.client()
    try:
        slow.send(postfix_request(SANDRA, "makler@abc.com")[:100])
        t0 = time.monotonic()
        # Others keep being served while the slow one stalls.
        with daemon.client() as other:
            while time.monotonic() - t0 < 1.5:
                assert other.ask(TOM, TOM) == DUNNO
                time.sleep(0.1)
        assert slow.read_until_closed(timeout=10) == b""
        elapsed = time.monotonic() - t0
        assert 1.5 <= elapsed < 6, elapsed
        daemon.wait_log(r"warning: unix peer pid=\d+ uid=0: timeout while "
                        r"reading a request; closing connection",
                        start=start)
        # A connection idle between requests is not a slow client.
        assert idle.ask(JANA, JANA) == DUNNO
    finally:
        slow.close()
        idle.close()


def test_unavailable_replica_then_synced(slapd, build_dir):
    e = make_env(slapd, build_dir, do_sync=False)
    try:
        with Policyd(build_dir, e.conf, e.wd) as d:
            assert re.search(r"warning: replica .*grants\.db: .*; answering "
                             r"DEFER_IF_PERMIT", d.log())
            got = d.ask(SANDRA, "makler@abc.com")
            assert got.startswith(DEFER_REPLICA), got
            assert d.ask("", SANDRA).startswith(DEFER_REPLICA)
            assert d.ask("nobody@abc.com", SANDRA).startswith(DEFER_REPLICA)
            # The null sender needs no replica.
            assert d.ask(SANDRA, "") == DUNNO
            assert "reason=replica_unavailable" in d.log()
            sync(build_dir, e.conf, e.db)
            wait_for(lambda: d.ask(SANDRA, "makler@abc.com") == DUNNO,
                     timeout=5, what="answers after the first sync")
            assert d.ask(SANDRA, PETER).startswith(REJECT)
            d.wait_log(r"replica .*grants\.db: available again")
    finally:
        shutil.rmtree(e.wd, ignore_errors=True)


def test_corrupt_replica(fresh, build_dir):
    with Policyd(build_dir, fresh.conf, fresh.wd) as d:
        assert d.ask(SANDRA, "makler@abc.com") == DUNNO
        # Garbage put in place of the replica, as a bad restore would.
        size = os.path.getsize(fresh.db)
        garbage = fresh.db + ".restore"
        with open(garbage, "wb") as f:
            f.write(random.Random(7).randbytes(size))
        os.chmod(garbage, 0o644)
        os.rename(garbage, fresh.db)
        wait_for(lambda: d.ask(SANDRA, "makler@abc.com")
                 .startswith(DEFER_REPLICA),
                 timeout=5, what="DEFER_IF_PERMIT on a corrupt replica")
        assert d.ask(TOM, PETER).startswith(DEFER_REPLICA)
        assert d.ask("", SANDRA).startswith(DEFER_REPLICA)
        d.wait_log(r"warning: replica .*grants\.db: .*corrupt")
        assert d.alive()
        # The next sync rebuilds it, and the daemon follows.
        sync(build_dir, fresh.conf, fresh.db)
        wait_for(lambda: d.ask(SANDRA, "makler@abc.com") == DUNNO,
                 timeout=5, what="answers after the rebuild")
        assert d.ask(SANDRA, PETER).startswith(REJECT)


def test_wrong_version_replica(fresh, build_dir):
    import sqlite3
    con = sqlite3.connect(fresh.db)
    con.execute("PRAGMA user_version = 999")
    con.commit()
    # Out of WAL mode: closing the last connection of a WAL database
    # without SQLite's persistent WAL deletes -wal and -shm, which the
    # daemon's user (a reader) cannot create again.
    con.execute("PRAGMA journal_mode = DELETE")
    con.close()
    with Policyd(build_dir, fresh.conf, fresh.wd) as d:
        assert "schema version 999" in d.log()
        assert d.ask(SANDRA, SANDRA).startswith(DEFER_REPLICA)


def test_replica_change_picked_up_without_restart(slapd, fresh, build_dir):
    share = "cn=test-tom,uid=peter.mueller,ou=people,o=abc.com," + BASE
    ldif = ("dn: %s\nobjectClass: mailgrantsShare\ncn: test-tom\n"
            "mailgrantsGrantee: uid=tom.berger,ou=people,o=abc.com,%s\n"
            % (share, BASE))
    with Policyd(build_dir, fresh.conf, fresh.wd) as d:
        with d.client() as c:
            assert c.ask(TOM, PETER).startswith(REJECT + "<peter.mueller"
                                                "@abc.com>: you may not")
            rc, _, err = slapd.ldapadd(ldif, root=True)
            assert rc == 0, err
            try:
                sync(build_dir, fresh.conf, fresh.db)
                # The same connection, the same process, the new grant.
                wait_for(lambda: c.ask(TOM, PETER).startswith(
                    REJECT + "<peter.mueller@abc.com>: mailbox shared"),
                    timeout=5, what="the new share")
            finally:
                rc, _, err = slapd.ldapdelete(share, root=True)
                assert rc == 0, err
            sync(build_dir, fresh.conf, fresh.db)
            wait_for(lambda: c.ask(TOM, PETER).startswith(
                REJECT + "<peter.mueller@abc.com>: you may not"),
                timeout=5, what="the share gone")


def test_replica_max_age(slapd, build_dir):
    e = make_env(slapd, build_dir, replica_max_age=1)
    try:
        with Policyd(build_dir, e.conf, e.wd) as d:
            time.sleep(2.2)
            got = d.ask(SANDRA, SANDRA)
            assert got.startswith(DEFER_REPLICA), got
            assert "reason=replica_too_old" in d.log()
            sync(build_dir, e.conf, e.db)
            assert d.ask(SANDRA, SANDRA) == DUNNO
    finally:
        shutil.rmtree(e.wd, ignore_errors=True)


def test_replica_synced_in_the_future(slapd, build_dir):
    """A last sync more than 60 s ahead of the clock: its age is
    unknown, so it counts as too old (lib/policy.h); 30 s ahead is the
    clock's jitter."""
    e = make_env(slapd, build_dir, replica_max_age=600)

    def sync_time(ahead):
        later = str(int(time.time()) + ahead)
        subprocess.run(["sqlite3", e.db, "UPDATE meta SET value = '%s'"
                        " WHERE key IN ('last_success', 'heartbeat')"
                        % later], check=True, capture_output=True)

    try:
        with Policyd(build_dir, e.conf, e.wd) as d:
            assert d.ask(SANDRA, SANDRA) == DUNNO
            sync_time(3600)
            got = d.ask(SANDRA, SANDRA)
            assert got.startswith(DEFER_REPLICA), got
            assert "reason=replica_too_old" in d.log()
            sync_time(30)
            assert d.ask(SANDRA, SANDRA) == DUNNO
    finally:
        shutil.rmtree(e.wd, ignore_errors=True)


def test_configurable_rows(slapd, build_dir):
    e = make_env(slapd, build_dir, policy_null_sender="reject",
                 policy_foreign_sender="dunno",
                 policy_unauthenticated_local="dunno")
    try:
        with Policyd(build_dir, e.conf, e.wd) as d:
            assert d.ask(SANDRA, "").startswith(REJECT + "<>: ")
            assert d.ask(SANDRA, "sandra@gmail.com") == DUNNO
            assert d.ask("", SANDRA) == DUNNO
            assert d.ask(SANDRA, PETER).startswith(REJECT)
    finally:
        shutil.rmtree(e.wd, ignore_errors=True)


def proc_ids(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return [int(x) for x in line.split()[1:]]
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def test_privileges_dropped(daemon):
    import pwd
    nobody = pwd.getpwnam("nobody")
    assert proc_ids(daemon.pid, "Uid") == [nobody.pw_uid] * 4
    assert proc_ids(daemon.pid, "Gid") == [nobody.pw_gid] * 4
    assert 0 not in proc_ids(daemon.pid, "Groups")


def test_refuses_root(env, build_dir):
    d = Policyd(build_dir, env.conf, env.wd, user=None, wait_ready=False)
    try:
        rc = d.proc.wait(timeout=10)
    finally:
        d.stop()
    assert rc == 1
    if os.geteuid() == 0:
        assert "fatal: refusing to serve as root: start with --user" \
            in d.log()
    else:
        assert False, "this test must run as root (as make check does)"
    d = Policyd(build_dir, env.conf, env.wd, user="root", wait_ready=False)
    try:
        assert d.proc.wait(timeout=10) == 1
    finally:
        d.stop()
    assert "--user root: is root; refusing" in d.log()


def test_sigusr1_counters_and_sigterm(env, build_dir):
    d = Policyd(build_dir, env.conf, env.wd)
    try:
        with d.client() as c:
            assert c.ask(SANDRA, SANDRA) == DUNNO
            assert c.ask(SANDRA, PETER).startswith(REJECT)
            assert c.ask(TOM, PETER).startswith(REJECT)
            assert c.ask("nobody@abc.com", SANDRA).startswith(DEFER_LOGIN)
        with d.client() as c:
            c.send(b"garbage\n\n")
            assert c.read_until_closed() == b""
        d.signal(signal.SIGUSR1)
        d.wait_log(r"statistics: requests=4 dunno=1 reject=2 "
                   r"defer_if_permit=1 errors=1 timeouts=0 connections=2 "
                   r"active=0 replica=open")
        d.signal(signal.SIGTERM)
        assert d.proc.wait(timeout=10) == 0
        assert "terminating on signal 15" in d.log()
    finally:
        d.stop()


# What the daemon logs for each broken replica (replicafaults.FAULTS).
FAULT_LOG = {
    "missing": r"No such file or directory \(has mailgrants sync run\?\)",
    "corrupt": r"not a replica or corrupt|file is not a database",
    "version": r"schema version 99",
    "truncated": r"grants\.db",
    "overwritten": r"not a replica or corrupt|file is not a database",
    "nosync": r"no completed sync",
    "stale": r"older than replica_max_age \(600 s\)",
    "directory": r"not a regular file",
    "fifo": r"not a regular file",
}


@pytest.mark.parametrize("how", FAULTS)
def test_broken_replica_fails_closed_and_recovers(fresh, build_dir, how):
    """Every way a replica breaks under a running daemon, in place
    (same inode: truncated, overwritten, no completed sync, stale) or
    by replacement: DEFER_IF_PERMIT 4.3.0 within the one-second check,
    never an answer from SQLite's cache or the daemon's index of the
    replica (DUNNO or REJECT), a warning
    that says why (with the default replica_max_age), and answers again
    without a restart once mailgrants sync has put a good file back."""
    with Policyd(build_dir, fresh.conf, fresh.wd) as d:
        # Deciding from the index (no answer may come from it either).
        d.wait_index()
        with d.client() as c:
            # A connection that stays open, as smtpd's does.
            assert c.ask(SANDRA, "makler@abc.com") == DUNNO
            assert c.ask(SANDRA, PETER).startswith(REJECT)
            mark = len(d.log())
            damage(fresh.db, how)
            wait_for(lambda: c.ask(SANDRA, "makler@abc.com")
                     .startswith(DEFER_REPLICA), timeout=3,
                     what="DEFER_IF_PERMIT for a %s replica" % how)
            for login, sender in ((SANDRA, PETER), (TOM, TOM),
                                  ("", SANDRA), (SANDRA, "x@gmail.com")):
                got = c.ask(login, sender)
                assert got.startswith(DEFER_REPLICA), (login, sender, got)
            d.wait_log(r"warning: .*(%s).*; answering DEFER_IF_PERMIT"
                       % FAULT_LOG[how], start=mark)
            # Said once (twice when a second look finds another
            # reason), not once per request or per second.
            time.sleep(1.2)
            said = d.log()[mark:].count("answering DEFER_IF_PERMIT")
            assert said <= 2, d.log()[mark:]
            for _ in range(4):
                assert c.ask(SANDRA, SANDRA).startswith(DEFER_REPLICA)
                time.sleep(0.5)
            assert d.log()[mark:].count("answering DEFER_IF_PERMIT") == \
                said, d.log()[mark:]
            assert d.alive()
            mend(build_dir, fresh.conf, fresh.db)
            wait_for(lambda: c.ask(SANDRA, "makler@abc.com") == DUNNO,
                     timeout=5, what="answers after the rebuild")
            assert c.ask(SANDRA, PETER).startswith(REJECT)
            d.wait_log(r"replica .*grants\.db: available again", start=mark)
