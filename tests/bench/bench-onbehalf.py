#!/usr/bin/python3
"""bench-onbehalf - Postfix end to end: the cost of send on behalf.

    make bench-onbehalf
    MAILGRANTS_BUILD=build /usr/bin/python3 tests/bench/bench-onbehalf.py \
        [--seconds 5] [--warmup 1] [--sessions 20] [--per-session 1,10] \
        [--rounds 5] [--size 1024]

One private Postfix (tests/lib/postfix.py) whose submission service
checks the envelope with our policy daemon and the headers with our
milter, as bench-milter.py's "policyd+milter"; sessions log in with AUTH
PLAIN against Dovecot (a passwd-file passdb, one {PLAIN} password).
The directory is the abc.com example plus a company example.net with
two users, load@example.net (the load's login) and owner@example.net,
and one share of owner's mailbox with load. Mail is discarded after the
queue. Three setups, loaded in turn in rotating order, --rounds times:

    plain        the share without the right to send on behalf (as
                 before issue 16); "From: load@example.net"
    right-own    the share with the right (mailgrantsSendOnBehalf:
                 TRUE); the same messages: what the right costs mail
                 that does not use it
    on-behalf    the share with the right; "From: owner@example.net"
                 and "Sender: load@example.net": two header decisions
                 and the pairing at the end of the headers

The envelope sender is load@example.net in all three. Between setups
whose share differs, the right is set or taken off in LDAP and
`mailgrants sync --once` runs (outside the measured time). Per setup:
messages per second (median of the rounds), the spread, the ratio
against "plain", latency, and the CPU time per message of the milter,
the policy daemon, Postfix, Dovecot and the load tool
(tests/bench/smtpbench.py); and the milter's decisions (one per From:
and Sender: address of every accepted message). A benchmark prints
figures and fails only on errors (a rejected message, a missing
decision), never on timings.
"""

import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
sys.path.insert(0, HERE)

from postfix import Postfix  # noqa: E402
from smtpbench import (CpuMeter, auth_stack, cpu_us, loadavg,  # noqa: E402
                       median, run_load, spread, stop_parts)

LOAD = "load@example.net"
OWNER = "owner@example.net"
PASSWORD = "load-bench-password"
PEOPLE = "ou=people,o=example.net,dc=example,dc=org"
SHARE = "cn=load,uid=owner," + PEOPLE


def bench_milter_ldif():
    """EXAMPLE_NET of bench-milter.py (a file name with a dash)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "bench_milter", os.path.join(HERE, "bench-milter.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.EXAMPLE_NET


# bench-milter.py's company and load user, plus the owner and the share.
EXAMPLE_NET = bench_milter_ldif() + """
dn: uid=owner,{people}
objectClass: inetOrgPerson
objectClass: mailgrantsUser
uid: owner
cn: Owner
sn: Owner
mail: {owner}

dn: {share}
objectClass: mailgrantsShare
cn: load
mailgrantsGrantee: uid=load,{people}
""".format(people=PEOPLE, owner=OWNER, share=SHARE)

# name -> (the share has the right, -F, -S, the decisions per message)
SETUPS = [
    ("plain", False, LOAD, None,
     [r"header=from address=<load@example\.net> .*reason=own_mailbox"]),
    ("right-own", True, LOAD, None,
     [r"header=from address=<load@example\.net> .*reason=own_mailbox"]),
    ("on-behalf", True, OWNER, LOAD,
     [r"header=sender address=<load@example\.net> .*reason=own_mailbox",
      r"header=from address=<owner@example\.net> .*reason=on_behalf"]),
]
CPU_COLS = ("milter", "policyd", "postfix", "dovecot", "load", "other")


def csv_ints(text):
    out = [int(x) for x in text.split(",") if x.strip()]
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError("bad list %r" % text)
    return out


def set_right(stack, on):
    """The share's right in LDAP, then one sync."""
    rc, out, err = stack.slapd.ldapmodify(
        "dn: %s\nchangetype: modify\nreplace: mailgrantsSendOnBehalf\n%s"
        % (SHARE, "mailgrantsSendOnBehalf: TRUE\n" if on else ""),
        root=True)
    if rc != 0:
        raise RuntimeError("ldapmodify: %s %s" % (out, err))
    stack.sync()
    r = stack.mg("explain", "--json", LOAD, OWNER)
    if ('"may_send_on_behalf":%s' % ("true" if on else "false")) \
            not in r.stdout:
        raise RuntimeError("the replica does not say %s: %s"
                           % (on, r.stdout))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--per-session", default="1,10", type=csv_ints)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size", type=int, default=1024)
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be positive")

    build = os.path.abspath(os.environ.get("MAILGRANTS_BUILD",
                                           os.path.join(REPO, "build")))
    tool = os.path.join(build, "smtp-load")
    for exe in ("mailgrants", "mailgrants-policyd", "mailgrants-milter",
                "smtp-load"):
        if not os.access(os.path.join(build, exe), os.X_OK):
            sys.exit("bench-onbehalf: %s/%s not built" % (build, exe))

    parts = []
    try:
        stack, pairs, password_file = auth_stack(
            build, EXAMPLE_NET, LOAD, PASSWORD, "mg-bench-onbehalf-", parts)
        dc, policyd, milter = stack.dc, stack.policyd, stack.milter
        pf = Postfix(delivery="discard", sender_check="policy",
                     policy_service="unix:" + policyd.socket_path,
                     sasl_path=dc.auth_socket,
                     milter=milter.postfix_spec,
                     main_extra={"local_header_rewrite_clients": ""})
        pf.start()
        parts.append(pf.stop)

        print("bench-onbehalf: %d sessions, %d bytes, %.0f s per run "
              "(+%.0f s warm-up), %d rounds, AUTH PLAIN; Postfix with "
              "policyd and milter; %d CPUs, load average now %.2f"
              % (args.sessions, args.size, args.seconds, args.warmup,
                 args.rounds, os.cpu_count(), loadavg()), flush=True)
        failed = False
        summary = []
        right = None
        for per in args.per_session:
            kw = dict(login="auth", per_session=per,
                      sessions=args.sessions, size=args.size,
                      password_file=password_file)
            print("")
            print("== AUTH PLAIN, %d message(s) per session" % per)
            print("%-10s %3s %8s %6s %6s | %s | %9s %5s"
                  % ("setup", "rnd", "msgs/s", "p50ms", "p99ms",
                     " ".join("%8s" % c for c in CPU_COLS),
                     "decisions", "load1"))
            runs = {s[0]: [] for s in SETUPS}
            for rnd in range(args.rounds + 1):
                k = rnd % len(SETUPS)
                for name, on, hfrom, hsender, decide in \
                        SETUPS[k:] + SETUPS[:k]:
                    if right != on:
                        set_right(stack, on)
                        right = on
                    argv_extra = ["-F", hfrom] + (
                        ["-S", hsender] if hsender else [])
                    if rnd == 0:
                        # Warm-up round: smtpd processes, page cache.
                        run_load(tool, pf.submission_port, pairs,
                                 seconds=1.0, warmup=0.0,
                                 extra=argv_extra, **kw)
                        continue
                    log_start = len(milter.log())
                    meter = CpuMeter({
                        "policyd": policyd.pid, "milter": milter.pid,
                        "postfix": pf.master_pid, "dovecot": dc.pid})
                    la = loadavg()
                    meter.start()
                    res, err = run_load(tool, pf.submission_port, pairs,
                                        seconds=args.seconds,
                                        warmup=args.warmup,
                                        extra=argv_extra, **kw)
                    d = meter.stop()
                    log = milter.log()[log_start:]
                    n = res["total"]
                    counts = [len(re.findall(
                        r"action=dunno login=load@example\.net " + pat,
                        log)) for pat in decide]
                    cpu = {c: cpu_us(d, c, n) for c in CPU_COLS}
                    res["cpu"] = cpu
                    res["cpu_all"] = sum(cpu[c] for c in CPU_COLS
                                         if c != "other")
                    runs[name].append(res)
                    print("%-10s %3d %8.1f %6.2f %6.2f | %s | %9s %5.2f"
                          % (name, rnd, res["mps"], res["p50"], res["p99"],
                             " ".join("%8.1f" % cpu[c] for c in CPU_COLS),
                             "/".join(str(c) for c in counts), la),
                          flush=True)
                    if res["rejected"] or res["errors"]:
                        print("  ERROR: %d rejected, %d failed: %s"
                              % (res["rejected"], res["errors"],
                                 err.strip()))
                        failed = True
                    if min(counts) < n:
                        print("  ERROR: %d accepted, decisions %s"
                              % (n, counts))
                        failed = True
            summary.append((per, report(runs)))
        print("")
        print("== summary (medians of %d rounds; ratio = msgs/s against "
              "plain; cpu_ratio = CPU per message of all parts, plain / "
              "setup)" % args.rounds)
        print("%4s %-10s %9s %7s %7s %9s %9s"
              % ("m/s", "setup", "msgs/s", "ratio", "spread", "milter_us",
                 "cpu_ratio"))
        for per, rows in summary:
            for name, mps, ratio, spr, milter_us, cpu_ratio in rows:
                print("%4d %-10s %9.1f %7.3f %6.1f%% %9.1f %9.3f"
                      % (per, name, mps, ratio, spr, milter_us, cpu_ratio))
        return 1 if failed else 0
    finally:
        stop_parts(parts, "bench-onbehalf")


def report(runs):
    """The medians of one block, printed; rows for the summary."""
    base = median([r["mps"] for r in runs["plain"]])
    cpu_base = median([r["cpu_all"] for r in runs["plain"]])
    rows = []
    for name, rs in runs.items():
        mps = median([r["mps"] for r in rs])
        cpu_all = median([r["cpu_all"] for r in rs])
        rows.append((name, mps, mps / base if base else 0.0,
                     spread([r["mps"] for r in rs]),
                     median([r["cpu"]["milter"] for r in rs]),
                     cpu_base / cpu_all if cpu_all else 0.0))
        print("median %-10s %8.1f msgs/s, p50 %.2f ms, p99 %.2f ms | %s"
              % (name, mps, median([r["p50"] for r in rs]),
                 median([r["p99"] for r in rs]),
                 " ".join("%s %.1f" % (c, median([r["cpu"][c] for r in rs]))
                          for c in CPU_COLS)))
    return rows


if __name__ == "__main__":
    sys.exit(main())
