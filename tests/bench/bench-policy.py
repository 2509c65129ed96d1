#!/usr/bin/python3
"""
NAME
    bench-policy.py - how fast is mailgrants-policyd, alone and in Postfix

SYNOPSIS
    MAILGRANTS_BUILD=build bench-policy.py [--scale full|small|tiny]
        [--replica FILE --queries FILE] [--seconds N] [--runs N]
        [--conns 1,10,50] [--listen unix|inet] [--smtp-seconds N]
        [--smtp-sessions N]
        [--no-smtp] [--keep]

DESCRIPTION
    Part 1, the daemon. On a replica of the generated directory (by
    default the issue's: 100,000 users in 1,000 companies, made with
    gen-directory.py, loaded into a private slapd and synced with
    "mailgrants sync --once"; or --replica with its --queries), runs
    policy-load against mailgrants-policyd and against trivial-policyd
    (an epoll server answering DUNNO without any lookup: the protocol's
    ceiling on this machine), both on UNIX sockets (--listen inet: both
    on loopback TCP), one after the other
    at each connection count, --runs times, median reported. Requests
    are Postfix 3.7 MAIL FROM requests (29 attributes) for the
    generator's (login, address) mix. Printed: decisions/s, p50/p99
    latency, CPU per request, the ratio to trivial, the action mix, and
    the daemon's peak RSS (VmHWM).

    Part 2, end to end. Three private Postfix instances (tests/lib/
    postfix.py) with "discard" delivery, SASL through a private Dovecot
    auth socket, and smtp-load sending with XCLIENT LOGIN (smtp-source
    has neither AUTH nor XCLIENT):
        none    no sender check
        policy  check_policy_service unix:<our daemon>
        native  smtpd_sender_login_maps = sqlite:<cf> with
                reject_sender_login_mismatch; the sqlite query reads a
                read-only copy of the same replica (private mailboxes'
                owners, company mailboxes' employees)
    Every login sends as its own address, so all three accept the same
    mail. Before the timing, a check that each instance really decides
    (someone else's address: rejected by policy and native, accepted by
    none) - a failed check is an error, not a figure. Runs alternate
    between the three, --runs times; medians and ratios to "none".

    Goals (issue 3): policyd >= 80% of trivial at 50 connections, p99 <=
    1 ms, peak RSS <= 64 MiB, end to end >= 95% of no check. They are
    reported as met / not met; timings never fail the benchmark.

DIAGNOSTICS
    Exit status 0 when every step ran; 1 when something failed (missing
    binary, generator, slapd, sync, a daemon, a load tool error, a
    failed decision check), with the reason on stderr.

ENVIRONMENT
    MAILGRANTS_BUILD   the build directory (required): mailgrants,
                       mailgrants-policyd, policy-load, trivial-policyd,
                       smtp-load (make bench-policy-tools)
    MAILGRANTS_KEEP_TMP=1 (or --keep) keeps the temporary directories.
"""

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))

from daemonutil import (free_port, kill_group, make_workdir,  # noqa: E402
                        port_open, tail, unix_open, wait_for)
from dovecot import Dovecot  # noqa: E402
from policyd import Policyd  # noqa: E402
from postfix import Postfix  # noqa: E402
from slapd import Slapd  # noqa: E402

GEN = os.path.join(HERE, "gen-directory.py")
PAGE_SIZE = 1000

GOAL_RATIO = 0.80
GOAL_P99_US = 1000.0
GOAL_RSS_KIB = 64 * 1024
GOAL_E2E_RATIO = 0.95

CLK_TCK = os.sysconf("SC_CLK_TCK")

# smtpd_sender_login_maps on the replica (see lib/replica-write.c for
# the tables): the owner of a private mailbox, or every employee of the
# company of a company mailbox (members of its group when it has one).
NATIVE_QUERY = (
    "SELECT u.login FROM addresses a"
    " JOIN mailboxes m ON m.id = a.mailbox_id"
    " JOIN users u ON u.id = m.owner_id"
    " WHERE a.address = '%s' AND m.kind = 1"
    " UNION ALL"
    " SELECT u.login FROM addresses a"
    " JOIN mailboxes m ON m.id = a.mailbox_id"
    " JOIN users u ON u.company_id = m.company_id AND u.employee = 1"
    " WHERE a.address = '%s' AND m.kind = 2"
    " AND (m.group_id IS NULL OR EXISTS (SELECT 1 FROM group_members g"
    " WHERE g.group_id = m.group_id AND g.user_id = u.id))")


class BenchError(RuntimeError):
    """A step failed (an error, never a timing)."""


def say(*a):
    print(*a, flush=True)


def run_tool(argv, what, timeout=600):
    """Run a load tool; its key=value output line as a dict."""
    p = subprocess.run(argv, capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        raise BenchError("%s failed (%d): %s %s" % (what, p.returncode,
                                                     p.stdout, p.stderr))
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    kv = dict(x.split("=", 1) for x in line.split() if "=" in x)
    if not kv:
        raise BenchError("%s: no figures: %r %r" % (what, p.stdout,
                                                    p.stderr))
    return kv, p.stderr


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def proc_status(pid, key):
    """A kB figure from /proc/PID/status (VmHWM, VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchError("no %s for pid %d" % (key, pid))


def met(ok):
    return "met" if ok else "NOT met"


# -- the replica ---------------------------------------------------------

def make_replica(a, cli, work):
    """Generate, slapadd, sync; (replica path, queries path, conf path)."""
    ldif = os.path.join(work, "directory.ldif")
    queries = os.path.join(work, "queries.tsv")
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, GEN, "--scale", a.scale, "-o", ldif,
                        "--queries", queries, "--query-count", "20000"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise BenchError("gen-directory.py failed (%d): %s"
                         % (p.returncode, p.stderr))
    say("generated (%s) in %.1f s: %s" % (a.scale, time.monotonic() - t0,
                                          p.stderr.strip()))
    ldap = Slapd(ldif=None, start=False, size_limit=500)
    try:
        t0 = time.monotonic()
        ldap.load_offline(ldif)
        ldap.start(timeout=120)
        replica = os.path.join(work, "grants.db")
        conf = ldap.write_config(os.path.join(work, "sync.conf"),
                                 replica=replica, ldap_page_size=PAGE_SIZE)
        p = subprocess.run([cli, "-c", conf, "sync", "--once"],
                           capture_output=True, text=True, timeout=1800)
        if p.returncode != 0:
            raise BenchError("mailgrants sync --once failed (%d): %s %s"
                             % (p.returncode, p.stdout, p.stderr))
        say("slapadd + sync in %.1f s: %s" % (time.monotonic() - t0,
                                              p.stdout.strip()))
    finally:
        ldap.close()
    return replica, queries


def write_conf(work, replica):
    """A mailgrants.conf for the daemon: just the replica."""
    conf = os.path.join(work, "mailgrants.conf")
    with open(conf, "w") as f:
        f.write("replica = %s\n" % replica)
    return conf


# -- part 1 --------------------------------------------------------------

def policy_point(load, target, conns, a, listfile, pid):
    """One policy-load run; the figures plus CPU ms per 1000 requests."""
    c0 = cpu_ticks(pid) if pid else 0
    kv, err = run_tool([load, "-c", str(conns), "-d", str(a.seconds),
                        "-w", "0.5", "-f", listfile, target],
                       "policy-load %s" % target)
    c1 = cpu_ticks(pid) if pid else 0
    req = int(kv["requests"])
    errors = int(kv["errors"])
    if req == 0 or errors:
        raise BenchError("policy-load %s: %d requests, %d errors"
                         % (target, req, errors))
    kv["cpu_us"] = ((c1 - c0) / CLK_TCK * 1e6 / req) if pid else 0.0
    return kv


def part_policy(a, build, work, conf, queries):
    load = os.path.join(build, "policy-load")
    trivial_bin = os.path.join(build, "trivial-policyd")
    if a.listen == "unix":
        trivial_sock = os.path.join(work, "trivial.sock")
        trivial_target = "unix:" + trivial_sock
        trivial_ready = lambda: unix_open(trivial_sock)  # noqa: E731
    else:
        trivial_port = free_port()
        trivial_target = "inet:127.0.0.1:%d" % trivial_port
        trivial_ready = lambda: port_open(trivial_port)  # noqa: E731
    trivial = subprocess.Popen([trivial_bin, "--listen", trivial_target],
                               stdin=subprocess.DEVNULL,
                               start_new_session=True)
    ours = None
    try:
        wait_for(trivial_ready, 10, what="trivial-policyd")
        ours = Policyd(build, conf, work, listen=a.listen)
        target = ours.spec
        # Warm the replica's pages once (not counted).
        run_tool([load, "-c", "10", "-d", "1", "-f", queries, target],
                 "policy-load warm-up")
        rows = []
        for conns in a.conns:
            t_runs, o_runs = [], []
            for _ in range(a.runs):
                t_runs.append(policy_point(load, trivial_target, conns, a,
                                           queries, trivial.pid))
                o_runs.append(policy_point(load, target, conns, a,
                                           queries, ours.pid))
            rows.append((conns, t_runs, o_runs))
        hwm = proc_status(ours.pid, "VmHWM")
        rss = proc_status(ours.pid, "VmRSS")
        log_bytes = os.path.getsize(ours.log_path)
    finally:
        if ours is not None:
            ours.stop()
        kill_group(trivial)

    def med(runs, key):
        return statistics.median(float(r[key]) for r in runs)

    say("")
    say("policy daemon vs trivial DUNNO server (%s socket, %g s per "
        "point, median of %d)" % ({"unix": "UNIX", "inet": "loopback TCP"}
                                  [a.listen], a.seconds, a.runs))
    say("%5s  %12s %12s %6s  %9s %9s  %9s %9s  %9s %9s"
        % ("conns", "trivial/s", "policyd/s", "ratio", "p50 triv",
           "p50 ours", "p99 triv", "p99 ours", "CPU triv", "CPU ours"))
    ok_ratio, ok_p99 = None, True
    for conns, t_runs, o_runs in rows:
        tr, orps = med(t_runs, "rps"), med(o_runs, "rps")
        ratio = orps / tr if tr else 0.0
        p99 = med(o_runs, "p99_us")
        say("%5d  %12.0f %12.0f %5.0f%%  %7.1fus %7.1fus  %7.1fus %7.1fus"
            "  %7.2fus %7.2fus"
            % (conns, tr, orps, 100 * ratio, med(t_runs, "p50_us"),
               med(o_runs, "p50_us"), med(t_runs, "p99_us"), p99,
               med(t_runs, "cpu_us"), med(o_runs, "cpu_us")))
        if conns == max(a.conns):
            ok_ratio = ratio >= GOAL_RATIO
        ok_p99 = ok_p99 and p99 <= GOAL_P99_US
    say("actions (last run at %d connections): %s"
        % (rows[-1][0], rows[-1][2][-1]["actions"]))
    say("policyd peak RSS (VmHWM) %.1f MiB, RSS now %.1f MiB; decision "
        "log %.1f MB" % (hwm / 1024, rss / 1024, log_bytes / 1e6))
    say("goal: >= %d%% of trivial at %d connections: %s"
        % (100 * GOAL_RATIO, max(a.conns), met(ok_ratio)))
    say("goal: p99 <= %.0f us at every connection count: %s"
        % (GOAL_P99_US, met(ok_p99)))
    say("goal: peak RSS <= %d MiB: %s" % (GOAL_RSS_KIB // 1024,
                                          met(hwm <= GOAL_RSS_KIB)))


# -- part 2 --------------------------------------------------------------

def native_map(work, replica):
    """A read-only copy of the replica for Postfix (user postfix) and the
    sqlite: table definition querying it; the .cf path."""
    copy = os.path.join(work, "native", "grants-copy.db")
    os.makedirs(os.path.dirname(copy), exist_ok=True)
    os.chmod(os.path.dirname(copy), 0o755)
    src = sqlite3.connect("file:%s?mode=ro" % replica, uri=True)
    dst = sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.execute("PRAGMA journal_mode = DELETE")
    dst.close()
    os.chmod(copy, 0o644)
    cf = os.path.join(work, "native", "sender-logins.cf")
    with open(cf, "w") as f:
        f.write("dbpath = %s\nquery = %s\n" % (copy, NATIVE_QUERY))
    os.chmod(cf, 0o644)
    return cf, copy


def own_pairs(work, replica, n, seed=1):
    """n (login, own primary address) pairs, and n pairs of a login with
    someone else's private address; two list files."""
    db = sqlite3.connect("file:%s?mode=ro" % replica, uri=True)
    rows = db.execute("SELECT u.login, m.address FROM users u JOIN "
                      "mailboxes m ON m.owner_id = u.id AND m.kind = 1 "
                      "WHERE m.address = u.login").fetchall()
    db.close()
    if len(rows) < 2:
        raise BenchError("replica has no users with a primary mailbox")
    rnd = random.Random(seed)
    rnd.shuffle(rows)
    rows = rows[:n]
    good = os.path.join(work, "smtp-own.txt")
    bad = os.path.join(work, "smtp-foreign.txt")
    with open(good, "w") as f:
        for login, addr in rows:
            f.write("%s %s\n" % (login, addr))
    with open(bad, "w") as f:
        for i, (login, _addr) in enumerate(rows):
            other = rows[(i + 1) % len(rows)][1]
            f.write("%s %s\n" % (login, other))
    return good, bad


def part_smtp(a, build, work, conf, replica):
    smtp_load = os.path.join(build, "smtp-load")
    good, bad = own_pairs(work, replica, 2000)
    cf, _copy = native_map(work, replica)
    dc = ours = None
    pfs = {}
    try:
        dcdir = os.path.join(work, "dovecot")
        os.makedirs(dcdir)
        os.chmod(dcdir, 0o755)
        # XCLIENT LOGIN never asks Dovecot; it must only be there, for
        # smtpd's SASL to be enabled. Its LDAP is never contacted.
        dc = Dovecot("ldap://127.0.0.1:9/", "cn=unused", "unused",
                     workdir=dcdir).start()
        ours = Policyd(build, conf, work)
        for name, kw in (("none", {}),
                         ("policy", {"sender_check": "policy",
                                     "policy_service": "unix:"
                                     + ours.socket_path}),
                         ("native", {"sender_check": "native",
                                     "login_maps": "sqlite:" + cf})):
            pfs[name] = Postfix(delivery="discard",
                                sasl_path=dc.auth_socket, **kw).start()

        def load(pf, listfile, extra):
            return run_tool([smtp_load, "-c", str(a.smtp_sessions),
                             "-f", listfile] + extra
                            + ["127.0.0.1:%d" % pf.submission_port],
                            "smtp-load")

        # The check: each instance decides as it should.
        for name, pf in pfs.items():
            kv, err = load(pf, good, ["-n", "40", "-d", "60"])
            if int(kv["accepted"]) != 40 or int(kv["errors"]):
                raise BenchError("%s: own addresses not all accepted: %s "
                                 "%s\n%s" % (name, kv, err,
                                             tail(pf.maillog)))
            p = subprocess.run([smtp_load, "-c", "2", "-n", "20", "-d",
                                "60", "-f", bad,
                                "127.0.0.1:%d" % pf.submission_port],
                               capture_output=True, text=True, timeout=120)
            line = dict(x.split("=", 1) for x in p.stdout.split()
                        if "=" in x)
            want_rejected = 0 if name == "none" else 20
            if int(line.get("rejected", -1)) != want_rejected:
                raise BenchError("%s: others' addresses: %s (want %d "
                                 "rejected) %s\n%s"
                                 % (name, p.stdout, want_rejected,
                                    p.stderr, tail(pf.maillog)))
        say("")
        say("decision check passed: others' addresses rejected by policy "
            "and native, accepted without check")

        figures = {name: [] for name in pfs}
        policyd_cpu = []
        for _ in range(a.runs):
            for name, pf in pfs.items():
                c0 = cpu_ticks(ours.pid)
                kv, _err = load(pf, good, ["-d", str(a.smtp_seconds),
                                           "-w", "1"])
                c1 = cpu_ticks(ours.pid)
                if int(kv["errors"]) or int(kv["rejected"]):
                    raise BenchError("%s: %s" % (name, kv))
                figures[name].append(kv)
                if name == "policy" and int(kv["accepted"]):
                    # Warm-up messages are asked too: count them in.
                    msgs = float(kv["mps"]) * (a.smtp_seconds + 1)
                    policyd_cpu.append((c1 - c0) / CLK_TCK * 1e6 / msgs)
    finally:
        for pf in pfs.values():
            pf.stop()
        if ours is not None:
            ours.stop()
        if dc is not None:
            dc.stop()

    say("")
    say("end to end: smtp-load (XCLIENT LOGIN, %d sessions, 1 KiB "
        "messages) -> Postfix -> discard, %d s per run, median of %d"
        % (a.smtp_sessions, a.smtp_seconds, a.runs))
    base = statistics.median(float(r["mps"]) for r in figures["none"])
    say("%-8s %10s %7s %10s %10s" % ("check", "msgs/s", "ratio",
                                     "p50", "p99"))
    ratios = {}
    for name, runs in figures.items():
        mps = statistics.median(float(r["mps"]) for r in runs)
        ratios[name] = mps / base if base else 0.0
        say("%-8s %10.1f %6.0f%% %8.2fms %8.2fms"
            % (name, mps, 100 * ratios[name],
               statistics.median(float(r["p50_ms"]) for r in runs),
               statistics.median(float(r["p99_ms"]) for r in runs)))
    say("runs (msgs/s): " + "; ".join(
        "%s %s" % (n, " ".join(r["mps"] for r in runs))
        for n, runs in figures.items()))
    say("policyd CPU per message in the policy runs: about %.0f us "
        "(median)" % statistics.median(policyd_cpu))
    say("goal: with our check >= %d%% of no check: %s (Postfix's own "
        "run-to-run noise here is 10-15%%)"
        % (100 * GOAL_E2E_RATIO, met(ratios["policy"] >= GOAL_E2E_RATIO)))


def main():
    ap = argparse.ArgumentParser(description="mailgrants-policyd benchmark")
    ap.add_argument("--scale", choices=("full", "small", "tiny"),
                    default="full")
    ap.add_argument("--replica")
    ap.add_argument("--queries")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--conns", default="1,10,50")
    ap.add_argument("--listen", choices=("unix", "inet"), default="unix")
    ap.add_argument("--smtp-seconds", type=float, default=8.0)
    ap.add_argument("--smtp-sessions", type=int, default=20)
    ap.add_argument("--no-smtp", action="store_true")
    ap.add_argument("--keep", action="store_true",
                    default=bool(os.environ.get("MAILGRANTS_KEEP_TMP")))
    a = ap.parse_args()
    a.conns = [int(x) for x in a.conns.split(",")]
    if bool(a.replica) != bool(a.queries):
        ap.error("--replica and --queries go together")
    if a.runs < 1 or a.seconds <= 0 or min(a.conns) < 1:
        ap.error("--runs, --seconds and --conns must be positive")

    build = os.environ.get("MAILGRANTS_BUILD")
    if not build:
        sys.exit("bench-policy: MAILGRANTS_BUILD is not set")
    build = os.path.abspath(build)
    for exe in ("mailgrants", "mailgrants-policyd", "policy-load",
                "trivial-policyd", "smtp-load"):
        if not os.access(os.path.join(build, exe), os.X_OK):
            sys.exit("bench-policy: %s/%s is missing (make all "
                     "bench-policy-tools)" % (build, exe))

    if a.keep:
        os.environ["MAILGRANTS_KEEP_TMP"] = "1"
    work = make_workdir("mailgrants-bench-policy-")
    try:
        say("bench-policy: work directory %s, %d CPUs" % (work,
                                                         os.cpu_count()))
        if a.replica:
            replica, queries = os.path.abspath(a.replica), a.queries
        else:
            replica, queries = make_replica(
                a, os.path.join(build, "mailgrants"), work)
        conf = write_conf(work, replica)
        part_policy(a, build, work, conf, queries)
        if not a.no_smtp:
            part_smtp(a, build, work, conf, replica)
    except (RuntimeError, OSError, AssertionError,
            subprocess.TimeoutExpired) as e:
        # BenchError, PostfixError, DovecotError are RuntimeErrors.
        print("bench-policy: FAILED: %s" % e, file=sys.stderr)
        return 1
    finally:
        if a.keep:
            print("bench-policy: keeping %s" % work, file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
