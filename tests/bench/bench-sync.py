#!/usr/bin/python3
"""
NAME
    bench-sync.py - how fast and how lean is "mailgrants sync --once"

SYNOPSIS
    MAILGRANTS_BUILD=build bench-sync.py [--scale full|small|tiny]
        [--runs N] [--explain-count N] [--cli-calls N] [--keep]

DESCRIPTION
    Generates a directory with gen-directory.py (the issue's size by
    default: 100,000 users in 1,000 companies, 10,000 company mailboxes,
    200,000 shares), loads it with slapadd into a private slapd
    (tests/lib/slapd.py, schema and access rules of ldap-schema/) and
    measures, in the same run against the same server:

    - slapadd: the offline load, once;
    - ldapsearch: the five paged searches the sync makes (same filters,
      attributes and page size, bound as the sync identity), output to
      /dev/null, one process each; their total wall time is the
      reference;
    - mailgrants -c CONF sync --once: wall time, CPU time and peak RSS
      (GNU time's %M);
    - bench-explain: rights_decide() on the resulting replica for
      --explain-count (login, address) pairs from the generator, in
      microseconds per query;
    - mailgrants explain: the CLI's wall time per call, process start
      included, for --cli-calls calls.

    ldapsearch and the sync alternate, --runs times each (default 3),
    after one warm-up search, and the median is reported. The replica
    file stays between sync runs, so the first run creates it and the
    later ones replace its content, as a periodic sync does.

    Goals (from the issue): sync <= 2 x the ldapsearch time, sync peak
    RSS <= 256 MiB, a decision <= 1 ms. The table says whether they are
    met; timings never fail the benchmark.

DIAGNOSTICS
    Exit status 0 when every step ran; 1 when something failed (a
    missing binary, slapadd, a search, the sync, an explain, or a
    replica that answers nothing but "none"), with the reason on stderr.

ENVIRONMENT
    MAILGRANTS_BUILD   the build directory (required): mailgrants,
                       bench-explain
    MAILGRANTS_KEEP_TMP=1 (or --keep) keeps the temporary directories.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))

from daemonutil import tail  # noqa: E402
from slapd import Slapd, SlapdError  # noqa: E402

GEN = os.path.join(HERE, "gen-directory.py")
TIME = "/usr/bin/time"  # GNU time (Debian package "time")
PAGE_SIZE = 1000

# The five searches of the sync with the defaults of lib/config.c:
# (name, filter, attributes, generator count keys).
SEARCHES = [
    ("companies", "(objectClass=mailgrantsCompany)",
     ["mailgrantsDomain", "mailgrantsGroup"], ["companies"]),
    ("groups",
     "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))",
     ["member", "uniqueMember"], ["groups"]),
    ("users", "(objectClass=mailgrantsUser)",
     ["mail", "mailgrantsAddress"], ["users"]),
    ("mailboxes", "(objectClass=mailgrantsMailbox)",
     ["mailgrantsKind", "mail", "mailgrantsAddress", "mailgrantsOwner",
      "mailgrantsGroup", "mailgrantsRights"],
     ["company_mailboxes", "private_mailboxes"]),
    ("shares", "(objectClass=mailgrantsShare)",
     ["mailgrantsGrantee", "mailgrantsRights", "mailgrantsNotBefore",
      "mailgrantsNotAfter", "description"], ["shares"]),
]

GOAL_RATIO = 2.0
GOAL_RSS_KIB = 256 * 1024
GOAL_DECIDE_US = 1000.0


class BenchError(RuntimeError):
    """A step of the benchmark failed (not a timing: an error)."""


def measure(argv, log, stdout=None):
    """measure - run argv to completion under GNU time; (exit code, wall
    seconds, peak RSS KiB, CPU seconds). The peak RSS comes from
    /usr/bin/time rather than from os.wait4() here: a child spawned by
    this Python process starts its ru_maxrss at the Python process's
    size, one forked by the small time process does not."""
    res = log + ".time"
    out = open(stdout or os.devnull, "wb")
    err = open(log, "ab")
    try:
        t0 = time.monotonic()
        p = subprocess.run([TIME, "-f", "%M %U %S", "-o", res] + argv,
                           stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        wall = time.monotonic() - t0
    finally:
        out.close()
        err.close()
    with open(res) as f:
        last = f.read().strip().splitlines()[-1].split()
    try:
        rss, cpu = int(last[0]), float(last[1]) + float(last[2])
    except (IndexError, ValueError):
        raise BenchError("%s: no figures from %s: %s"
                         % (argv[0], TIME, " ".join(last)))
    return p.returncode, wall, rss, cpu


def ldapsearch_argv(ldap, flt, attrs):
    """ldapsearch_argv - one of the sync's searches, as the sync"""
    return (["ldapsearch", "-x", "-H", ldap.uri, "-D", ldap.sync_dn,
             "-w", ldap.sync_pw, "-b", ldap.base, "-s", "sub",
             "-E", "pr=%d/noprompt" % PAGE_SIZE, flt] + attrs)


def ldapsearch_all(ldap, log):
    """ldapsearch_all - the five searches to /dev/null; (wall seconds,
    peak RSS KiB of the largest)"""
    total, rss = 0.0, 0
    for name, flt, attrs, _keys in SEARCHES:
        rc, wall, peak, _cpu = measure(ldapsearch_argv(ldap, flt, attrs),
                                       log)
        if rc != 0:
            raise BenchError("ldapsearch %s failed (%d):\n%s"
                             % (name, rc, tail(log)))
        total += wall
        rss = max(rss, peak)
    return total, rss


def ldapsearch_check(ldap, counts, work):
    """ldapsearch_check - the sync identity sees every generated entry"""
    for name, flt, _attrs, keys in SEARCHES:
        out = os.path.join(work, "check-%s.ldif" % name)
        log = os.path.join(work, "check.log")
        rc, _wall, _rss, _cpu = measure(ldapsearch_argv(ldap, flt, ["1.1"])
                                 + ["-LLL"], log, stdout=out)
        if rc != 0:
            raise BenchError("ldapsearch %s failed (%d):\n%s"
                             % (name, rc, tail(log)))
        with open(out, errors="replace") as f:
            got = sum(1 for line in f if line.startswith("dn:"))
        os.unlink(out)
        want = sum(counts[k] for k in keys)
        if name == "groups":
            want = counts["groups"]
        if got != want:
            raise BenchError("ldapsearch %s: %d entries, the generator "
                             "wrote %d" % (name, got, want))


def generate(scale, work):
    """generate - the LDIF and the query pairs; (ldif, queries, counts,
    seconds)"""
    ldif = os.path.join(work, "directory.ldif")
    queries = os.path.join(work, "queries.tsv")
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, GEN, "--scale", scale, "-o", ldif,
                        "--queries", queries], capture_output=True,
                       text=True)
    secs = time.monotonic() - t0
    if p.returncode != 0:
        raise BenchError("gen-directory.py failed (%d): %s"
                         % (p.returncode, p.stderr))
    m = re.search(r"gen-directory: (.*)", p.stderr)
    if not m:
        raise BenchError("gen-directory.py: no summary: %s" % p.stderr)
    counts = {k: int(v) for k, v in
              (kv.split("=") for kv in m.group(1).split())}
    return ldif, queries, counts, secs


def read_queries(path, n):
    """read_queries - the first n (login, address) pairs"""
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            login, addr = line.rstrip("\n").split("\t")
            pairs.append((login, addr))
            if len(pairs) >= n:
                break
    return pairs


def fmt_secs(s):
    """fmt_secs - seconds, in a unit that fits"""
    if s >= 1:
        return "%.2f s" % s
    if s >= 1e-3:
        return "%.2f ms" % (s * 1e3)
    return "%.1f us" % (s * 1e6)


def main():
    """main - the whole benchmark"""
    ap = argparse.ArgumentParser(description="mailgrants sync benchmark")
    ap.add_argument("--scale", choices=("full", "small", "tiny"),
                    default="full")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--explain-count", type=int, default=100000)
    ap.add_argument("--cli-calls", type=int, default=100)
    ap.add_argument("--keep", action="store_true",
                    default=bool(os.environ.get("MAILGRANTS_KEEP_TMP")))
    a = ap.parse_args()
    if a.runs < 1 or a.explain_count < 1 or a.cli_calls < 1:
        ap.error("--runs, --explain-count and --cli-calls must be >= 1")

    build = os.environ.get("MAILGRANTS_BUILD")
    if not build:
        sys.exit("bench-sync: MAILGRANTS_BUILD is not set")
    cli = os.path.join(os.path.abspath(build), "mailgrants")
    bexplain = os.path.join(os.path.abspath(build), "bench-explain")
    for exe in (cli, bexplain, TIME,
                shutil.which("ldapsearch") or "ldapsearch"):
        if not os.access(exe, os.X_OK):
            sys.exit("bench-sync: %s is missing (make deps; make all %s)"
                     % (exe, os.path.join(build, "bench-explain")))

    if a.keep:
        os.environ["MAILGRANTS_KEEP_TMP"] = "1"  # slapd.py keeps its own
    work = tempfile.mkdtemp(prefix="mailgrants-bench-", dir="/tmp")
    try:
        run(a, cli, bexplain, work)
    except (BenchError, SlapdError, OSError) as e:
        print("bench-sync: FAILED: %s" % e, file=sys.stderr)
        return 1
    finally:
        if a.keep:
            print("bench-sync: keeping %s" % work, file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def run(a, cli, bexplain, work):
    """run - generate, load, measure, print the table"""
    say = print
    say("bench-sync: scale %s, %d run(s), work directory %s"
        % (a.scale, a.runs, work))
    ldif, queries, counts, gen_secs = generate(a.scale, work)
    entries = counts["entries"]
    say("generated %d entries (%s) in %s" % (
        entries, ", ".join("%s %d" % (k, v) for k, v in counts.items()
                           if k not in ("entries", "other")),
        fmt_secs(gen_secs)))

    ldap = Slapd(ldif=None, start=False, size_limit=500)
    try:
        t0 = time.monotonic()
        ldap.load_offline(ldif)
        slapadd_secs = time.monotonic() - t0
        say("slapadd: %s" % fmt_secs(slapadd_secs))
        ldap.start(timeout=60)
        ldapsearch_check(ldap, counts, work)

        replica = os.path.join(work, "grants.db")
        conf = ldap.write_config(os.path.join(work, "mailgrants.conf"),
                                 replica=replica,
                                 ldap_page_size=PAGE_SIZE)
        search_log = os.path.join(work, "ldapsearch.log")
        sync_log = os.path.join(work, "sync.log")

        ldapsearch_all(ldap, search_log)  # warm-up, not counted
        searches, syncs = [], []
        for i in range(a.runs):
            s_wall, s_rss = ldapsearch_all(ldap, search_log)
            searches.append((s_wall, s_rss))
            rc, wall, rss, cpu = measure([cli, "-c", conf, "sync", "--once"],
                                         sync_log, stdout=sync_log + ".out")
            if rc != 0:
                raise BenchError("mailgrants sync --once failed (%d):\n%s"
                                 % (rc, tail(sync_log)))
            syncs.append((wall, rss, cpu))
            say("run %d: ldapsearch %s (peak RSS %.1f MiB), sync %s "
                "(CPU %s, peak RSS %.1f MiB)"
                % (i + 1, fmt_secs(s_wall), s_rss / 1024, fmt_secs(wall),
                   fmt_secs(cpu), rss / 1024))
        with open(sync_log, errors="replace") as f:
            warnings = sum(1 for _ in f)
        say("sync: %d line(s) on stderr over %d run(s); last stdout:\n%s"
            % (warnings, a.runs, tail(sync_log + ".out", 5).rstrip()))
        sizes = []
        for suffix in ("", "-wal"):
            try:
                sizes.append(os.stat(replica + suffix).st_size)
            except FileNotFoundError:
                sizes.append(0)
        say("replica: %.1f MiB, WAL %.1f MiB (readers that open it pay "
            "for a large WAL)" % (sizes[0] / 2**20, sizes[1] / 2**20))
        p = subprocess.run([cli, "-c", conf, "check"], capture_output=True,
                           text=True)
        say("mailgrants check (exit %d):\n%s%s"
            % (p.returncode, p.stdout, p.stderr))

        # rights_decide() itself.
        p = subprocess.run([bexplain, replica, queries,
                            str(a.explain_count)], capture_output=True,
                           text=True)
        if p.returncode != 0:
            raise BenchError("bench-explain failed (%d): %s%s"
                             % (p.returncode, p.stdout, p.stderr))
        say(p.stdout.strip())
        be = dict(kv.split("=") for kv in p.stdout.split()[1:])
        for k in ("visible", "private", "company", "shared"):
            if int(be[k]) == 0:
                raise BenchError("bench-explain: no decision of kind "
                                 "'%s' in %s queries: the replica does "
                                 "not answer as the generator wrote it"
                                 % (k, be["queries"]))
        decide_us = float(be["us_per_query"])

        # The CLI, process start included.
        pairs = read_queries(queries, a.cli_calls)
        cli_times = []
        explain_log = os.path.join(work, "explain.log")
        for i in range(a.cli_calls):
            login, addr = pairs[i % len(pairs)]
            # Not under GNU time: its own start would count.
            with open(explain_log, "ab") as err:
                t0 = time.monotonic()
                rc = subprocess.run([cli, "-c", conf, "explain", login,
                                     addr], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL,
                                    stderr=err).returncode
                wall = time.monotonic() - t0
            # explain exits 0 for every answer, "no" included.
            if rc != 0:
                raise BenchError("mailgrants explain %s %s failed (%d):"
                                 "\n%s" % (login, addr, rc,
                                           tail(explain_log)))
            cli_times.append(wall)
    finally:
        ldap.close()

    s_wall = statistics.median(x[0] for x in searches)
    y_wall = statistics.median(x[0] for x in syncs)
    y_rss = max(x[1] for x in syncs)
    y_cpu = statistics.median(x[2] for x in syncs)
    ratio = y_wall / s_wall if s_wall > 0 else float("inf")
    cli_mean = statistics.mean(cli_times)

    def yes(ok):
        return "yes" if ok else "NO"

    rows = [
        ("generate LDIF (%d entries)" % entries, fmt_secs(gen_secs),
         "", "", ""),
        ("slapadd", fmt_secs(slapadd_secs), "", "", ""),
        ("ldapsearch, 5 paged searches", fmt_secs(s_wall), "1.00",
         "reference", ""),
        ("mailgrants sync --once", fmt_secs(y_wall), "%.2f" % ratio,
         "<= %.0fx ldapsearch" % GOAL_RATIO, yes(ratio <= GOAL_RATIO)),
        ("  sync CPU (user+sys)",
         fmt_secs(y_cpu) if y_cpu > 0 else "< 10 ms", "", "", ""),
        ("  sync peak RSS", "%.1f MiB" % (y_rss / 1024), "",
         "<= 256 MiB", yes(y_rss <= GOAL_RSS_KIB)),
        ("rights_decide, per query", fmt_secs(decide_us / 1e6), "",
         "<= 1 ms", yes(decide_us <= GOAL_DECIDE_US)),
        ("mailgrants explain, per call", fmt_secs(cli_mean), "",
         "(process start incl.)", ""),
    ]
    head = ("what", "time", "ratio", "goal", "met?")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(5)]
    line = "  ".join("%-*s" % (widths[i], head[i]) for i in range(5))
    print()
    print(line.rstrip())
    print("-" * len(line.rstrip()))
    for r in rows:
        print("  ".join("%-*s" % (widths[i], r[i])
                        for i in range(5)).rstrip())
    print("(medians of %d run(s); ldapsearch and sync alternate against "
          "the same slapd; %d rights_decide queries, %d explain calls)"
          % (a.runs, a.explain_count, a.cli_calls))
    return rows


if __name__ == "__main__":
    sys.exit(main())
