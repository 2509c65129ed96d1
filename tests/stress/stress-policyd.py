#!/usr/bin/python3
"""
NAME
    stress-policyd.py - mailgrants-policyd under load while its replica
    is replaced again and again

SYNOPSIS
    MAILGRANTS_BUILD=build stress-policyd.py [--scale small|full|tiny]
        [--requests N] [--conns N] [--replacements N] [--changes N]
        [--time-limit SECONDS] [--keep]

DESCRIPTION
    Issue 8, the policy daemon's half of "make stress". Everything runs
    on this machine: slapd and the daemon on loopback / a UNIX socket.

    1. A directory from tests/bench/gen-directory.py (--scale, default
       small: 2,000 users in 20 companies, 4,000 shares) is loaded into a
       private slapd (tests/lib/slapd.py) and synced with "mailgrants
       sync --once": state A.
    2. State B differs from A by --changes (default 50) entries of each
       kind: new shares (default rights and read-only "lr"), shares
       deleted, user aliases (mailgrantsAddress) removed. One
       ldapmodify takes the directory from A to B, another back.
    3. The (login, sender) pairs: 20,000 of the generator's query mix,
       the pairs each change touches, a few unauthenticated and null
       sender ones. tests/stress/expect.c (build/stress-expect) asks
       policy_decide(), the decision table the daemon runs, for the
       complete reply on a replica of A and on one of B. A pair whose
       two replies differ accepts either; every other pair accepts
       exactly its one reply. The two states must differ on at least
       --changes pairs, or the run proves nothing and fails.
    4. mailgrants-policyd starts on the replica of A. policy-load -x
       (tests/bench/policy-load.c) opens --conns (200) connections and
       sends --requests (1,000,000) Postfix MAIL FROM requests, checking
       every reply against the accepted ones. Meanwhile the directory
       goes A -> B -> A ... and "mailgrants sync --once" replaces the
       replica (a new file renamed into place) --replacements (100)
       times, one after the other, as fast as they go. Every
       replacement must happen while the load runs, however slow the
       machine: policy-load -g holds the load to a gate file that
       follows the replacements (80 % of the requests spread over
       them, the last 20 % after the last one), and otherwise sends as
       fast as the daemon answers (--rate: at most that many a
       second).
    5. The daemon's VmRSS is sampled every second. "Flat": after the
       warm-up (the first quarter of the samples, at least 3 s) the
       largest RSS of the last quarter exceeds the largest of the
       warm-up by at most max(2 MiB, 5 %).

    Printed: the time of each phase, requests, requests/s, latency
    percentiles, errors, mismatches, the replacements done during the
    load, RSS first/last/max and the trend, the total time.

    Pass: 0 errors, 0 mismatches, every replacement during the load,
    RSS flat, the daemon alive and without a sanitizer report.

DIAGNOSTICS
    Exit status 0 on a pass, 1 on any failure (reason on stderr), 2 on
    a usage error. Every process started here is stopped and the
    temporary directory removed, on failure too (--keep or
    MAILGRANTS_KEEP_TMP=1 keeps the directory).

ENVIRONMENT
    MAILGRANTS_BUILD   the build directory (required): mailgrants,
                       mailgrants-policyd, policy-load, stress-expect
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))

from daemonutil import make_workdir  # noqa: E402
from policyd import Policyd  # noqa: E402
from slapd import Slapd  # noqa: E402

GEN = os.path.join(REPO, "tests", "bench", "gen-directory.py")
PAGE_SIZE = 1000


class StressError(RuntimeError):
    """A failed step or check."""


def say(*a):
    print("stress-policyd:", *a, flush=True)


# -- the directory and its two states -------------------------------------

def ldif_blocks(path):
    """The entries of an LDIF file as (dn, text) in file order."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    out = []
    for block in text.split("\n\n"):
        block = block.strip("\n")
        if block.startswith("dn: "):
            out.append((block.split("\n", 1)[0][4:], block + "\n"))
    return out


def attr_values(block, name):
    """The plain (not base64) values of one attribute of an entry."""
    pre = name + ": "
    return [ln[len(pre):] for ln in block.split("\n") if ln.startswith(pre)]


def plan_changes(ldif, nchanges, seed):
    """(to_b, to_a, pairs): LDIF change records from A to B and back,
    and the (login, sender) pairs the changes touch."""
    rng = random.Random(seed)
    users = {}          # dn -> (login, company dn)
    by_company = {}     # company dn -> [user dn]
    aliases = []        # (dn, login, alias)
    shares = []         # (dn, text, owner dn, [grantee dns])
    for dn, text in ldif_blocks(ldif):
        if "objectClass: mailgrantsUser" in text:
            login = attr_values(text, "mail")[0]
            cdn = dn.split(",ou=people,", 1)[1]
            users[dn] = (login, cdn)
            by_company.setdefault(cdn, []).append(dn)
            for a in attr_values(text, "mailgrantsAddress"):
                aliases.append((dn, login, a))
        elif "objectClass: mailgrantsShare" in text:
            shares.append((dn, text, dn.split(",", 1)[1],
                           attr_values(text, "mailgrantsGrantee")))
    user_shares = [s for s in shares if s[2] in users
                   and s[3] and all(g in users for g in s[3])]
    if (len(user_shares) < nchanges or len(aliases) < nchanges
            or len(users) < 2 * nchanges):
        raise StressError("directory too small for %d changes of each "
                          "kind" % nchanges)
    to_b, to_a, pairs = [], [], []
    # New shares: a user's mailbox shared with a colleague.
    owners = rng.sample(sorted(users), nchanges)
    for i, odn in enumerate(owners):
        colleagues = [u for u in by_company[users[odn][1]] if u != odn]
        gdn = rng.choice(colleagues)
        sdn = "cn=stress-share,%s" % odn
        rights = "mailgrantsRights: lr\n" if i % 2 else ""
        to_b.append("dn: %s\nchangetype: add\nobjectClass: mailgrantsShare\n"
                    "cn: stress-share\nmailgrantsGrantee: %s\n%s"
                    % (sdn, gdn, rights))
        to_a.append("dn: %s\nchangetype: delete\n" % sdn)
        pairs.append((users[gdn][0], users[odn][0]))
    # Shares deleted in B, added back (as generated) in A.
    for sdn, text, odn, grantees in rng.sample(user_shares, nchanges):
        to_b.append("dn: %s\nchangetype: delete\n" % sdn)
        body = text.split("\n", 1)[1]
        to_a.append("dn: %s\nchangetype: add\n%s" % (sdn, body))
        for g in grantees:
            pairs.append((users[g][0], users[odn][0]))
    # Aliases removed in B.
    for dn, login, alias in rng.sample(aliases, nchanges):
        to_b.append("dn: %s\nchangetype: modify\ndelete: mailgrantsAddress"
                    "\nmailgrantsAddress: %s\n-\n" % (dn, alias))
        to_a.append("dn: %s\nchangetype: modify\nadd: mailgrantsAddress\n"
                    "mailgrantsAddress: %s\n-\n" % (dn, alias))
        pairs.append((login, alias))
        other = rng.choice([u for u in by_company[users[dn][1]] if u != dn])
        pairs.append((users[other][0], alias))
    # Without a login, and the null sender.
    some = rng.sample(sorted(users), 5)
    for u in some:
        pairs.append(("-", users[u][0]))
        pairs.append((users[u][0], "<>"))
    pairs.append(("-", "someone@example.net"))
    return "\n".join(to_b), "\n".join(to_a), pairs


# -- helpers --------------------------------------------------------------

def run(argv, what, timeout, **kw):
    p = subprocess.run(argv, capture_output=True, text=True,
                       timeout=timeout, **kw)
    if p.returncode != 0:
        raise StressError("%s failed (%d): %s %s" % (what, p.returncode,
                                                     p.stdout, p.stderr))
    return p


def vm_rss(pid):
    """VmRSS of a process in KiB, or None when it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def slope_kib_per_s(samples):
    """Least-squares slope of (t, kib) samples."""
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    num = sum((t - mt) * (v - mv) for t, v in samples)
    den = sum((t - mt) ** 2 for t, _ in samples)
    return num / den if den else 0.0


# -- the run --------------------------------------------------------------

class Stress:
    def __init__(self, a, build):
        self.a = a
        self.build = build
        self.exe = {n: os.path.join(build, n) for n in
                    ("mailgrants", "mailgrants-policyd", "policy-load",
                     "stress-expect")}
        for n, p in self.exe.items():
            if not os.access(p, os.X_OK):
                raise StressError("%s not built (make all stress-tools)" % p)
        self.wd = make_workdir("mg-stress-policyd-")
        self.ldap = None
        self.policyd = None
        self.load = None

    def close(self):
        if self.load is not None and self.load.poll() is None:
            self.load.kill()
            self.load.wait()
        for stop in (lambda: self.policyd and self.policyd.stop(),
                     lambda: self.ldap and self.ldap.close()):
            try:
                stop()
            except Exception as e:  # report, go on cleaning up
                print("stress-policyd: cleanup: %s" % e, file=sys.stderr)
        if self.a.keep or os.environ.get("MAILGRANTS_KEEP_TMP"):
            say("kept", self.wd)
        else:
            shutil.rmtree(self.wd, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.wd, name)

    def sync(self):
        t0 = time.monotonic()
        run([self.exe["mailgrants"], "-c", self.conf, "sync", "--once"],
            "mailgrants sync --once", 600)
        return time.monotonic() - t0

    def modify(self, text):
        rc, out, err = self.ldap.ldapmodify(text, root=True)
        if rc != 0:
            raise StressError("ldapmodify failed (%d): %s %s" % (rc, out,
                                                                 err))

    def expect(self, replica, listfile):
        p = run([self.exe["stress-expect"], self.conf, replica, listfile],
                "stress-expect", 300)
        out = {}
        for line in p.stdout.splitlines():
            login, sender, reply = line.split("\t")
            out[(login, sender)] = reply
        return out

    def prepare(self):
        a = self.a
        t0 = time.monotonic()
        ldif = self.path("directory.ldif")
        queries = self.path("queries.tsv")
        p = run([sys.executable, GEN, "--scale", a.scale, "-o", ldif,
                 "--queries", queries, "--query-count", "20000"],
                "gen-directory.py", 1800)
        say("directory (%s): %s" % (a.scale, p.stderr.strip()))
        to_b, to_a, extra = plan_changes(ldif, a.changes, a.seed)
        self.to_b, self.to_a = to_b, to_a
        self.ldap = Slapd(ldif=None, start=False, size_limit=500,
                          workdir=self.path("slapd"))
        self.ldap.load_offline(ldif)
        self.ldap.start(timeout=120)
        self.replica = self.path("grants.db")
        self.conf = self.ldap.write_config(
            self.path("mailgrants.conf"), replica=self.replica,
            replica_group="nogroup", ldap_page_size=PAGE_SIZE)
        os.chmod(self.conf, 0o644)
        self.sync()
        shutil.copyfile(self.replica, self.path("state-a.db"))
        costs = []
        for i in range(4):
            t1 = time.monotonic()
            self.modify(to_b if i % 2 == 0 else to_a)
            self.sync()
            costs.append(time.monotonic() - t1)
            if i == 0:
                shutil.copyfile(self.replica, self.path("state-b.db"))
        self.replacement_cost = sorted(costs)[len(costs) // 2]
        say("slapd + sync: %.1f s; one replacement (ldapmodify + sync "
            "--once) %.3f s median when idle"
            % (time.monotonic() - t0, self.replacement_cost))

        # The pairs and what each may be answered.
        pairs = []
        seen = set()
        with open(queries, encoding="utf-8") as f:
            for line in f:
                login, sender = line.rstrip("\n").split("\t")
                pairs.append((login, sender))
        pairs += extra
        plain = self.path("pairs.tsv")
        with open(plain, "w", encoding="utf-8") as f:
            for p_ in pairs:
                if p_ not in seen:
                    seen.add(p_)
                    f.write("%s\t%s\n" % p_)
        exp_a = self.expect(self.path("state-a.db"), plain)
        exp_b = self.expect(self.path("state-b.db"), plain)
        if set(exp_a) != seen or set(exp_b) != seen:
            raise StressError("stress-expect did not answer every pair")
        differ = [k for k in exp_a if exp_a[k] != exp_b[k]]
        self.listfile = self.path("expected.tsv")
        # Shuffled, so that each connection meets the changed pairs.
        keys = sorted(seen)
        random.Random(a.seed).shuffle(keys)
        with open(self.listfile, "w", encoding="utf-8") as f:
            for k in keys:
                acc = [exp_a[k]] if exp_a[k] == exp_b[k] else [exp_a[k],
                                                              exp_b[k]]
                for r in acc:
                    if "\t" in r or "\n" in r:
                        raise StressError("a reply with a tab: %r" % r)
                f.write("\t".join(list(k) + acc) + "\n")
        kinds = {}
        for r in exp_a.values():
            w = r.split(" ", 1)[0]
            kinds[w] = kinds.get(w, 0) + 1
        say("pairs: %d (%s in state A), %d answered differently in A and B"
            % (len(keys), ", ".join("%s %d" % kv for kv in
                                    sorted(kinds.items())), len(differ)))
        if len(differ) < a.changes:
            raise StressError("only %d pairs differ between the states: "
                              "the replacements would prove nothing"
                              % len(differ))
        for k in differ[:3]:
            say("  e.g. %s %s: A %r / B %r" % (k[0], k[1], exp_a[k],
                                                exp_b[k]))
        self.npairs = len(keys)
        self.ndiffer = len(differ)

    def stress(self):
        a = self.a
        self.policyd = Policyd(self.build, self.conf, self.wd)
        pid = self.policyd.pid
        samples = []            # (t, kib)
        stop = threading.Event()
        churn = {"done": 0, "error": None, "secs": [], "t_last": None,
                 "t_start": None}

        def sampler():
            t0 = time.monotonic()
            while not stop.is_set():
                v = vm_rss(pid)
                if v is not None:
                    samples.append((time.monotonic() - t0, v))
                stop.wait(1.0)

        def churner():
            try:
                for i in range(a.replacements):
                    if stop.is_set():
                        return
                    churn["t_start"] = time.monotonic()
                    self.modify(self.to_b if i % 2 == 0 else self.to_a)
                    churn["secs"].append(self.sync())
                    churn["t_last"] = time.monotonic()
                    churn["done"] += 1
            except Exception as e:  # reported by the main thread
                churn["error"] = e

        # The load must go on while the replica is replaced, however
        # long each replacement takes on this machine: policy-load -g
        # reads how many requests it may have sent so far from the gate
        # file, and the gate follows the replacements, 80 % of the
        # requests spread over them, a quarter of a replacement's share
        # ahead, the last 20 % after the last one.
        gate = self.path("gate")
        gate_tmp = gate + ".new"
        share = a.requests * 0.8 / a.replacements
        ema = [self.replacement_cost * 2.0]
        last_gate = [-1]

        def set_gate(n):
            n = min(int(n), a.requests)
            if n <= last_gate[0]:
                return
            with open(gate_tmp, "w") as f:
                f.write("%d\n" % n)
            os.rename(gate_tmp, gate)
            last_gate[0] = n

        def update_gate(seen_done):
            done = churn["done"]
            if done >= a.replacements or churn["error"] is not None:
                set_gate(a.requests)
                return seen_done
            if done > seen_done and churn["secs"]:
                ema[0] = 0.7 * ema[0] + 0.3 * churn["secs"][-1]
            part = 0.0
            if churn["t_start"] is not None:
                part = min(0.9, (time.monotonic() - churn["t_start"])
                           / max(ema[0], 0.01))
            set_gate(share * (done + part + 0.25))
            return done

        set_gate(share * 0.25)
        ts = threading.Thread(target=sampler, daemon=True)
        tc = threading.Thread(target=churner, daemon=True)
        argv = [self.exe["policy-load"], "-x", "-f", self.listfile,
                "-c", str(a.conns), "-t", "2", "-n", str(a.requests),
                "-g", gate]
        if a.rate > 0:
            argv += ["-r", "%.0f" % a.rate]
        argv.append("unix:" + self.policyd.socket_path)
        say("load: %s" % " ".join(argv[1:]))
        out_path = self.path("load.out")
        err_path = self.path("load.err")
        with open(out_path, "w") as out, open(err_path, "w") as err:
            t0 = time.monotonic()
            self.load = subprocess.Popen(argv, stdout=out, stderr=err)
            ts.start()
            tc.start()
            deadline = t0 + a.time_limit
            seen_done = 0
            while self.load.poll() is None:
                if time.monotonic() > deadline:
                    self.load.kill()
                    self.load.wait()
                    stop.set()
                    raise StressError("the load did not finish within "
                                      "%d s" % a.time_limit)
                seen_done = update_gate(seen_done)
                time.sleep(0.02)
        t_load_end = time.monotonic()
        load_secs = t_load_end - t0
        stop.set()
        tc.join(600)
        ts.join(5)
        with open(out_path) as f:
            out = f.read()
        with open(err_path) as f:
            err = f.read()
        if self.load.returncode != 0:
            raise StressError("policy-load failed (%d): %s %s"
                              % (self.load.returncode, out, err))
        line = out.strip().splitlines()[-1] if out.strip() else ""
        kv = dict(x.split("=", 1) for x in line.split() if "=" in x)
        if "mismatches" not in kv:
            raise StressError("policy-load printed no figures: %r %r"
                              % (out, err))
        failures = []
        if err.strip():
            print(err.strip(), file=sys.stderr)
        if not self.policyd.alive():
            failures.append("mailgrants-policyd died:\n" + self.policyd.log()
                            [-3000:])
        if churn["error"] is not None:
            failures.append("replacing the replica failed: %s"
                            % churn["error"])
        during = churn["done"] if (churn["t_last"] is None
                                   or churn["t_last"] <= t_load_end) else \
            churn["done"] - 1
        for k in ("requests", "errors", "mismatches", "checked"):
            kv[k] = int(kv[k])
        say("load done in %.1f s: %d requests, %s/s, p50 %s us, p99 %s us, "
            "p99.9 %s us, max %s us; actions %s"
            % (load_secs, kv["requests"], kv["rps"], kv["p50_us"],
               kv["p99_us"], kv["p999_us"], kv["max_us"], kv["actions"]))
        say("errors %d, mismatches %d (of %d replies checked)"
            % (kv["errors"], kv["mismatches"], kv["checked"]))
        ss = churn["secs"]
        say("replica replaced %d times during the load (%d asked); sync "
            "--once %.2f s median, %.2f s max"
            % (during, a.replacements,
               sorted(ss)[len(ss) // 2] if ss else 0, max(ss) if ss else 0))
        if kv["requests"] != a.requests:
            failures.append("%d requests answered, not %d"
                            % (kv["requests"], a.requests))
        if kv["checked"] != kv["requests"]:
            failures.append("%d replies checked of %d" % (kv["checked"],
                                                          kv["requests"]))
        if kv["errors"] != 0:
            failures.append("%d errors" % kv["errors"])
        if kv["mismatches"] != 0:
            failures.append("%d mismatches" % kv["mismatches"])
        if during < a.replacements:
            failures.append("only %d of %d replacements happened during "
                            "the load" % (during, a.replacements))

        # RSS.
        vals = [v for _, v in samples]
        if len(vals) < 8:
            failures.append("too few RSS samples (%d)" % len(vals))
        else:
            q = max(len(vals) // 4, 3)
            warm = [v for t, v in samples[:q]]
            late = vals[-q:]
            base = max(warm)
            bound = max(2048, base // 20)
            trend = slope_kib_per_s(samples[q:])
            say("RSS (VmRSS, KiB, %d samples, 1/s): first %d, after warm-up "
                "%d, last %d, max %d; last quarter max %d (bound %d); trend "
                "after warm-up %+.1f KiB/s"
                % (len(vals), vals[0], base, vals[-1], max(vals), max(late),
                   base + bound, trend))
            if max(late) > base + bound:
                failures.append("RSS grew: %d KiB after warm-up, %d KiB at "
                                "the end" % (base, max(late)))
        self.policyd.stop()     # a sanitizer report fails here
        log = self.policyd.log()
        if "fatal" in log.lower() or "panic" in log.lower():
            failures.append("the daemon logged a fatal error:\n%s"
                            % log[-3000:])
        self.figures = kv
        return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[3])
    ap.add_argument("--scale", choices=("tiny", "small", "full"),
                    default="small")
    ap.add_argument("--requests", type=int, default=1000000)
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--replacements", type=int, default=100)
    ap.add_argument("--changes", type=int, default=50)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--rate", type=float, default=0,
                    help="limit the load to this many requests/s "
                    "(default 0: as fast as the daemon answers)")
    ap.add_argument("--time-limit", type=int, default=900,
                    help="seconds the load may take (default 900)")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    build = os.environ.get("MAILGRANTS_BUILD")
    if not build:
        ap.error("MAILGRANTS_BUILD is not set")
    if min(a.requests, a.conns, a.replacements, a.changes) < 1:
        ap.error("counts must be positive")
    t0 = time.monotonic()
    s = None
    try:
        s = Stress(a, os.path.abspath(build))
        s.prepare()
        failures = s.stress()
    except (StressError, AssertionError, TimeoutError, OSError,
            subprocess.SubprocessError) as e:
        failures = [str(e)]
    finally:
        if s is not None:
            s.close()
    say("total %.1f s" % (time.monotonic() - t0))
    if failures:
        for f in failures:
            print("stress-policyd: FAIL: %s" % f, file=sys.stderr)
        return 1
    say("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
