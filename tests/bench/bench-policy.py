#!/usr/bin/python3
"""
NAME
    bench-policy.py - how fast is mailgrants-policyd, alone and in Postfix

SYNOPSIS
    MAILGRANTS_BUILD=build bench-policy.py [--scale full|small|tiny]
        [--replica FILE --queries FILE] [--seconds N] [--runs N]
        [--conns 1,10,50] [--listen unix|inet] [--smtp-seconds N]
        [--smtp-sessions N] [--smtp-login auth,xclient]
        [--smtp-per-session 1,10] [--no-smtp | --smtp-only] [--keep]

DESCRIPTION
    Part 1, the daemon. On a replica of the generated directory (by
    default the issue's: 100,000 users in 1,000 companies, made with
    gen-directory.py, loaded into a private slapd and synced with
    "mailgrants sync --once"; or --replica with its --queries), runs
    policy-load against trivial-policyd (an epoll server answering
    DUNNO without any lookup: the protocol's ceiling on this machine),
    mailgrants-policyd as installed ("index": deciding from its index
    of the replica in memory, once the log says it is built; its size
    and build time are printed) and mailgrants-policyd with
    replica_index = no ("file": every decision from SQLite), all on
    UNIX sockets (--listen inet: on loopback TCP), one after the other
    at each connection count, --runs times, median reported. Requests
    are Postfix 3.7 MAIL FROM requests (29 attributes) for the
    generator's uniform (login, address) mix; the decision log is on
    (standard error, into a file). Printed: decisions/s, p50/p99
    latency, CPU per request, the ratio to trivial, the action mix, and
    the daemons' peak RSS (VmHWM). Then, reported apart and not
    counted for the goal, a realistic stream at the highest connection
    count: 100,000 requests whose pairs follow Zipf's law (s = 1.1,
    most mail from few senders), trivial and index.

    Part 2, end to end (--smtp-only: this part alone). Three private
    Postfix instances (tests/lib/postfix.py) with "discard" delivery,
    SASL through a private Dovecot auth socket, and smtp-load
    (smtp-source has neither AUTH nor XCLIENT) logging in either way
    of --smtp-login:
        auth     AUTH PLAIN once per session, as a mail client does;
                 Dovecot's passdb is a passwd-file with the 2,000 load
                 logins and one {PLAIN} password for all (independent
                 of the directory's size and of a hash's cost)
        xclient  XCLIENT LOGIN=, no Dovecot lookup
    with each of --smtp-per-session messages per session (default 1,
    a new session per message, and 10). The instances:
        none    no sender check
        policy  check_policy_service unix:<our daemon>
        native  smtpd_sender_login_maps = sqlite:<cf> with
                reject_sender_login_mismatch; the sqlite query reads a
                read-only copy of the same replica (private mailboxes'
                owners, company mailboxes' employees)
    Every login sends as its own address, so all three accept the same
    mail. Before the timing, a check that each instance really decides
    (someone else's address: rejected by policy and native, accepted by
    none, for each login way) - a failed check is an error, not a
    figure. Runs alternate between the three in rotating order, --runs
    times; medians, spread ((max - min) / median) and ratios to
    "none"; CPU per message of policyd, of the whole Postfix instance
    (exited smtpd processes included), of Dovecot, of the load tool,
    and "other" (the rest of the machine: other work during the run),
    from /proc (smtpbench.py).

    Goals (issue 18): policyd >= 50% of trivial at 50 connections, p99 <=
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
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
sys.path.insert(0, HERE)

from daemonutil import (free_port, kill_group, make_workdir,  # noqa: E402
                        port_open, tail, unix_open, wait_for)
from dovecot import Dovecot, write_passwd_file  # noqa: E402
from policyd import Policyd  # noqa: E402
from postfix import Postfix  # noqa: E402
from slapd import Slapd  # noqa: E402
from smtpbench import (CpuMeter, cpu_us, loadavg, login_text,  # noqa: E402
                       median, run_load, spread)

GEN = os.path.join(HERE, "gen-directory.py")
PAGE_SIZE = 1000

GOAL_RATIO = 0.50
GOAL_P99_US = 1000.0
GOAL_RSS_KIB = 64 * 1024
GOAL_E2E_RATIO = 0.95
SMTP_PASSWORD = "bench-policy-password"

CLK_TCK = os.sysconf("SC_CLK_TCK")

# smtpd_sender_login_maps on the replica (see lib-sync/replica-write.c for
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
        # The daemon runs as nobody: the replica is nogroup's to read.
        conf = ldap.write_config(os.path.join(work, "sync.conf"),
                                 replica=replica, replica_group="nogroup",
                                 ldap_page_size=PAGE_SIZE)
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
    """A mailgrants.conf for the daemon: the replica, of any age (a
    --replica may have been synced hours ago; a replica older than
    replica_max_age would be answered DEFER_IF_PERMIT throughout)."""
    conf = os.path.join(work, "mailgrants.conf")
    with open(conf, "w") as f:
        f.write("replica = %s\nreplica_max_age = 0\n" % replica)
    return conf


def check_actions(kv, what):
    """A run that did not decide (every answer DEFER_IF_PERMIT: no
    replica) is an error, not a figure."""
    actions = dict(x.split(":", 1) for x in kv["actions"].split(",") if x)
    if not actions.get("DUNNO") or not actions.get("REJECT"):
        raise BenchError("%s: no real decisions (actions %s)"
                         % (what, kv["actions"]))


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


def zipf_pairs(queries, path, count, s=1.1, seed=7):
    """A realistic stream: count requests whose (login, sender) pairs
    follow Zipf's law over the query file's pairs in a random order
    (most mail from few senders). Written to path, one pair a line."""
    with open(queries, encoding="utf-8") as f:
        pairs = [line for line in f if line.strip()]
    rnd = random.Random(seed)
    rnd.shuffle(pairs)
    weights = [1.0 / (k ** s) for k in range(1, len(pairs) + 1)]
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(rnd.choices(pairs, weights=weights, k=count))
    return path


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
    conf_file = os.path.join(work, "mailgrants-file.conf")
    with open(conf, encoding="utf-8") as f, \
            open(conf_file, "w", encoding="utf-8") as g:
        g.write(f.read() + "replica_index = no\n")
    zipf = zipf_pairs(queries, os.path.join(work, "zipf.tsv"), 100000)
    trivial = subprocess.Popen([trivial_bin, "--listen", trivial_target],
                               stdin=subprocess.DEVNULL,
                               start_new_session=True)
    ours = file_only = None
    try:
        wait_for(trivial_ready, 10, what="trivial-policyd")
        ours = Policyd(build, conf, work, listen=a.listen)
        file_only = Policyd(build, conf_file, work, listen=a.listen)
        t0 = time.monotonic()
        ours.wait_index(timeout=300)
        m = re.search(r"index of generation \S+ in memory \(([\d.]+) MiB, "
                      r"built in (\d+) ms\)", ours.log())
        say("policyd: index of the replica in memory: %s MiB, built in %s "
            "ms (ready %.1f s after start)" % (m.group(1), m.group(2),
                                               time.monotonic() - t0))
        # Warm the file's pages once (not counted).
        for d in (ours, file_only):
            run_tool([load, "-c", "10", "-d", "1", "-f", queries, d.spec],
                     "policy-load warm-up")
        servers = [("trivial", trivial_target, trivial.pid),
                   ("index", ours.spec, ours.pid),
                   ("file", file_only.spec, file_only.pid)]
        rows = []
        for conns in a.conns:
            runs = {name: [] for name, _, _ in servers}
            for _ in range(a.runs):
                for name, target, pid in servers:
                    runs[name].append(policy_point(load, target, conns, a,
                                                   queries, pid))
                    if name != "trivial":
                        check_actions(runs[name][-1], name)
            rows.append((conns, runs))
        zipf_runs = {"trivial": [], "index": []}
        for _ in range(a.runs):
            for name, target, pid in servers[:2]:
                zipf_runs[name].append(policy_point(load, target,
                                                    max(a.conns), a, zipf,
                                                    pid))
        hwm = proc_status(ours.pid, "VmHWM")
        rss = proc_status(ours.pid, "VmRSS")
        hwm_file = proc_status(file_only.pid, "VmHWM")
        log_bytes = os.path.getsize(ours.log_path)
    finally:
        for d in (ours, file_only):
            if d is not None:
                d.stop()
        kill_group(trivial)

    def med(runs, key):
        return statistics.median(float(r[key]) for r in runs)

    say("")
    say("policy daemon vs trivial DUNNO server (%s socket, %g s per "
        "point, median of %d); index: mailgrants-policyd as installed "
        "(replica_index = yes), file: with replica_index = no"
        % ({"unix": "UNIX", "inet": "loopback TCP"}[a.listen], a.seconds,
           a.runs))
    say("%5s %-7s %10s %6s  %9s %9s  %9s" % (
        "conns", "server", "req/s", "ratio", "p50", "p99", "CPU/req"))
    ok_ratio, ok_p99 = None, True
    for conns, runs in rows:
        tr = med(runs["trivial"], "rps")
        for name in ("trivial", "index", "file"):
            rps = med(runs[name], "rps")
            p99 = med(runs[name], "p99_us")
            say("%5d %-7s %10.0f %5.0f%%  %7.1fus %7.1fus  %7.2fus"
                % (conns, name, rps, 100 * rps / tr if tr else 0,
                   med(runs[name], "p50_us"), p99,
                   med(runs[name], "cpu_us")))
            if name == "index":
                if conns == max(a.conns):
                    ok_ratio = rps / tr >= GOAL_RATIO
                ok_p99 = ok_p99 and p99 <= GOAL_P99_US
    zt, zo = med(zipf_runs["trivial"], "rps"), med(zipf_runs["index"], "rps")
    say("realistic stream (Zipf s=1.1 over the pairs, 100,000 requests), "
        "%d connections: trivial %.0f/s, index %.0f/s (%.0f%%), p99 "
        "%.1fus, CPU/req %.2fus (not counted for the goal)"
        % (max(a.conns), zt, zo, 100 * zo / zt if zt else 0,
           med(zipf_runs["index"], "p99_us"),
           med(zipf_runs["index"], "cpu_us")))
    say("actions (last run at %d connections): %s"
        % (rows[-1][0], rows[-1][1]["index"][-1]["actions"]))
    say("policyd peak RSS (VmHWM) %.1f MiB (with replica_index = no: "
        "%.1f MiB), RSS now %.1f MiB; decision log %.1f MB"
        % (hwm / 1024, hwm_file / 1024, rss / 1024, log_bytes / 1e6))
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
    logins = sorted({line.split()[0] for line in open(good)})
    password_file = os.path.join(work, "smtp-password")
    with open(password_file, "w") as f:
        f.write(SMTP_PASSWORD + "\n")
    os.chmod(password_file, 0o600)
    dc = ours = None
    pfs = {}
    try:
        dcdir = os.path.join(work, "dovecot")
        os.makedirs(dcdir)
        os.chmod(dcdir, 0o755)
        # AUTH PLAIN: a passwd-file passdb with the list's logins, one
        # {PLAIN} password for all (a lookup in a hash table Dovecot
        # loads once: independent of the directory's size). XCLIENT
        # LOGIN never asks Dovecot. LDAP is never contacted.
        passwd = write_passwd_file(os.path.join(dcdir, "passwd"), logins,
                                   SMTP_PASSWORD)
        dc = Dovecot("ldap://127.0.0.1:9/", "cn=unused", "unused",
                     workdir=dcdir, passwd_file=passwd).start()
        ours = Policyd(build, conf, work)
        for name, kw in (("none", {}),
                         ("policy", {"sender_check": "policy",
                                     "policy_service": "unix:"
                                     + ours.socket_path}),
                         ("native", {"sender_check": "native",
                                     "login_maps": "sqlite:" + cf})):
            # XCLIENT (a login without a password) only when measured.
            pfs[name] = Postfix(delivery="discard",
                                sasl_path=dc.auth_socket,
                                xclient="xclient" in a.smtp_login,
                                **kw).start()

        def load(pf, listfile, login, **kw):
            try:
                return run_load(smtp_load, pf.submission_port, listfile,
                                login=login, sessions=a.smtp_sessions,
                                password_file=password_file, **kw)
            except RuntimeError as e:
                raise BenchError("%s\n%s" % (e, tail(pf.maillog)))

        # The check: each instance decides as it should, for each way
        # of logging in.
        for login in a.smtp_login:
            for name, pf in pfs.items():
                kv, err = load(pf, good, login, count=40)
                if kv["accepted"] != 40 or kv["errors"]:
                    raise BenchError("%s, %s: own addresses not all "
                                     "accepted: %s %s\n%s"
                                     % (name, login, kv, err,
                                        tail(pf.maillog)))
                p = subprocess.run(
                    [smtp_load, "-c", "2", "-n", "20", "-d", "60", "-f", bad]
                    + (["-a", password_file] if login == "auth" else [])
                    + ["127.0.0.1:%d" % pf.submission_port],
                    capture_output=True, text=True, timeout=120)
                line = dict(x.split("=", 1) for x in p.stdout.split()
                            if "=" in x)
                want_rejected = 0 if name == "none" else 20
                if int(line.get("rejected", -1)) != want_rejected:
                    raise BenchError("%s, %s: others' addresses: %s (want "
                                     "%d rejected) %s\n%s"
                                     % (name, login, p.stdout,
                                        want_rejected, p.stderr,
                                        tail(pf.maillog)))
        if "auth" in a.smtp_login and not re.search(
                r"sasl_method=PLAIN, sasl_username=",
                pfs["none"].maillog_text()):
            raise BenchError("Postfix logged no AUTH PLAIN login")
        say("")
        say("decision check passed (%s): others' addresses rejected by "
            "policy and native, accepted without check"
            % ", ".join(login_text(x) for x in a.smtp_login))

        cols = ("policyd", "postfix", "dovecot", "load", "other")
        summary = []
        for login in a.smtp_login:
            for per in a.smtp_per_session:
                for pf in pfs.values():        # warm up, not counted
                    load(pf, good, login, per_session=per, seconds=1.0,
                         warmup=0.0)
                say("")
                say("== end to end, %s, %d message(s) per session: "
                    "smtp-load (%d sessions, 1 KiB messages) -> Postfix "
                    "-> discard, %g s per run (+1 s warm-up)"
                    % (login_text(login), per, a.smtp_sessions,
                       a.smtp_seconds))
                say("%-8s %3s %8s %7s %7s | %s | %5s"
                    % ("check", "run", "msgs/s", "p50ms", "p99ms",
                       " ".join("%8s" % c for c in cols), "load1"))
                runs = {name: [] for name in pfs}
                order = list(pfs.items())
                for rnd in range(a.runs):
                    k = rnd % len(order)
                    for name, pf in order[k:] + order[:k]:
                        meter = CpuMeter({"policyd": ours.pid,
                                          "postfix": pf.master_pid,
                                          "dovecot": dc.pid})
                        la = loadavg()
                        meter.start()
                        kv, _err = load(pf, good, login, per_session=per,
                                        seconds=a.smtp_seconds, warmup=1.0)
                        d = meter.stop()
                        if kv["errors"] or kv["rejected"]:
                            raise BenchError("%s: %s" % (name, kv))
                        kv["cpu"] = {c: cpu_us(d, c, kv["total"])
                                     for c in cols}
                        kv["cpu_all"] = sum(kv["cpu"][c] for c in cols
                                            if c != "other")
                        runs[name].append(kv)
                        say("%-8s %3d %8.1f %7.2f %7.2f | %s | %5.2f"
                            % (name, rnd + 1, kv["mps"], kv["p50"],
                               kv["p99"], " ".join("%8.1f" % kv["cpu"][c]
                                                   for c in cols), la))
                summary.append((login, per, smtp_report(runs, cols)))
    finally:
        for pf in pfs.values():
            pf.stop()
        if ours is not None:
            ours.stop()
        if dc is not None:
            dc.stop()

    say("")
    say("== end-to-end summary (median of %d runs each; ratio = msgs/s "
        "against no check; goal for policy >= %d%%)"
        % (a.runs, 100 * GOAL_E2E_RATIO))
    say("%-13s %4s %8s %8s %8s %7s %7s %8s %10s %8s %8s"
        % ("login", "m/s", "none", "policy", "native", "policy", "native",
           "goal", "policyd_us", "cpu_pol", "cpu_nat"))
    for login, per, s in summary:
        say("%-13s %4d %8.1f %8.1f %8.1f %6.1f%% %6.1f%% %8s %10.1f "
            "%7.1f%% %7.1f%%"
            % (login_text(login), per, s["none"], s["policy"], s["native"],
               100 * s["r_policy"], 100 * s["r_native"],
               met(s["r_policy"] >= GOAL_E2E_RATIO), s["policyd_us"],
               100 * s["cpu_policy"], 100 * s["cpu_native"]))
    say("m/s = messages per session; cpu_pol, cpu_nat = CPU per message "
        "of all parts (Postfix, Dovecot, policyd, load tool) with no "
        "check / with the check: the throughput ratio a CPU-bound machine "
        "would show, less noisy than msgs/s (Postfix's run-to-run noise "
        "here is 10-15%).")


def smtp_report(runs, cols):
    """Print the medians of one (login, per-session) block; the figures
    for the summary."""
    med = {n: median([r["mps"] for r in rs]) for n, rs in runs.items()}
    cpu = {n: median([r["cpu_all"] for r in rs]) for n, rs in runs.items()}
    base = med["none"]
    say("%-8s %8s %7s %6s %7s %7s | %s"
        % ("median", "msgs/s", "spread", "ratio", "p50ms", "p99ms",
           " ".join("%8s" % c for c in cols)))
    for n, rs in runs.items():
        say("%-8s %8.1f %6.1f%% %5.0f%% %7.2f %7.2f | %s"
            % (n, med[n], spread([r["mps"] for r in rs]),
               100 * med[n] / base if base else 0.0,
               median([r["p50"] for r in rs]),
               median([r["p99"] for r in rs]),
               " ".join("%8.1f" % median([r["cpu"][c] for r in rs])
                        for c in cols)))
    s = {"none": base, "policy": med["policy"], "native": med["native"],
         "r_policy": med["policy"] / base if base else 0.0,
         "r_native": med["native"] / base if base else 0.0,
         "policyd_us": median([r["cpu"]["policyd"]
                               for r in runs["policy"]]),
         "cpu_policy": cpu["none"] / cpu["policy"] if cpu["policy"] else 0,
         "cpu_native": cpu["none"] / cpu["native"] if cpu["native"] else 0}
    paired = [p["mps"] / b["mps"] for p, b in
              zip(runs["policy"], runs["none"]) if b["mps"]]
    say("policy / none: %.1f%% (goal >= %d%%: %s), per run %s; native / "
        "none: %.1f%%; CPU per message of all parts: none %.0f us, policy "
        "%.0f us (policyd itself %.0f us), native %.0f us"
        % (100 * s["r_policy"], 100 * GOAL_E2E_RATIO,
           met(s["r_policy"] >= GOAL_E2E_RATIO),
           " ".join("%.0f%%" % (100 * x) for x in paired),
           100 * s["r_native"], cpu["none"], cpu["policy"],
           s["policyd_us"], cpu["native"]))
    return s


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
    ap.add_argument("--smtp-login", default="auth,xclient")
    ap.add_argument("--smtp-per-session", default="1,10")
    ap.add_argument("--no-smtp", action="store_true")
    ap.add_argument("--smtp-only", action="store_true")
    ap.add_argument("--keep", action="store_true",
                    default=bool(os.environ.get("MAILGRANTS_KEEP_TMP")))
    a = ap.parse_args()
    a.conns = [int(x) for x in a.conns.split(",")]
    a.smtp_login = [x for x in a.smtp_login.split(",") if x]
    a.smtp_per_session = [int(x) for x in a.smtp_per_session.split(",")
                          if x]
    if not a.smtp_login or any(x not in ("auth", "xclient")
                               for x in a.smtp_login):
        ap.error("--smtp-login: auth and/or xclient")
    if not a.smtp_per_session or min(a.smtp_per_session) < 1:
        ap.error("--smtp-per-session: positive numbers")
    if a.no_smtp and a.smtp_only:
        ap.error("--no-smtp and --smtp-only exclude each other")
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
        if not a.smtp_only:
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
