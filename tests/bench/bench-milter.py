#!/usr/bin/python3
"""bench-milter - Postfix end to end: the milter against do-nothing milters.

    make bench-milter
    MAILGRANTS_BUILD=build /usr/bin/python3 tests/bench/bench-milter.py \
        [--seconds 5] [--warmup 1] [--sessions 20] [--per-session 1,10] \
        [--login auth,xclient] [--rounds 5] [--size 1024]

Four private Postfix instances side by side (tests/lib/postfix.py),
the same in all but one thing: every submission service checks the
envelope sender with our policy daemon (check_policy_service), and
    policyd          has no milter;
    policyd+trivial  has smtpd_milters = build/trivial-milter
                     (tests/bench/trivial-milter.c), a libmilter milter
                     that does nothing: it negotiates what ours does
                     (steps, action, macro lists), so Postfix sends it
                     the same packets, and accepts every message at the
                     end of the headers;
    policyd+raw      has build/trivial-milter-raw (tests/bench/
                     trivial-milter-raw.c), the same do-nothing milter
                     speaking the protocol itself: one thread, one epoll
                     loop, no libmilter;
    policyd+milter   has our milter (postfix-policyd/mailgrants-milter.c).
so that the cost of Postfix's milter protocol, of libmilter and of our
check can be told apart. Mail is discarded after the queue. The
directory is the abc.com example plus a company example.net with the
user load@example.net, so that every message is checked all the way
(envelope and header both the login's own mailbox) and accepted.

The load is build/smtp-load (tests/bench/smtp-load.c), ~1 KB messages
with "From: load@example.net" in the header, in SMTP sessions that log
in one of two ways (--login, both by default):
    auth     AUTH PLAIN, once per session, as a mail client does; the
             submission service asks Dovecot's auth (tests/lib/
             dovecot.py) with a passwd-file passdb: one {PLAIN} password
             for the load login, so that the figures do not depend on
             the directory's size or a password hash's cost.
    xclient  XCLIENT LOGIN=, which Postfix treats as SASL but which
             makes smtpd reconnect to its milters (two milter
             connections per session instead of one); no Dovecot
             involved. Kept to compare with the earlier figures.
and with --per-session messages per session (1, the milter's worst
case: a milter connection per message; and 10).

For each (login, messages per session), the instances are loaded in
turn, in rotating order, --rounds times; the figure of each is the
median of its rounds' messages per second, the spread is (max - min) /
median. The goals:
    issue 18  policyd+milter / policyd+trivial >= 0.95: our milter
              costs what a do-nothing libmilter milter costs;
    issue 6   policyd+milter / policyd >= 0.90 (the milter's whole
              cost, Postfix's protocol included).
Each is printed as met / NOT met with the figures it compares, and
raw / trivial says how much a single-threaded protocol implementation
beats libmilter's (or not). Also per message: the CPU time of the
milter (whichever the instance has), the policy daemon, the Postfix
instance (all its processes, the exited smtpd included), Dovecot, the
load tool, and "other" (the rest of the machine's busy time: other work
on the machine; a round with much of it was disturbed), from /proc
(tests/bench/smtpbench.py); and our milter's log lines (one per
decision: there must be one per accepted message).

Throughput on a shared 2-core machine is noisy (other work on the
machine weighs on the instance it falls on); the ratios are also given
per round (each instance's messages per second divided by those of
the other instance in the same round) and as cpu_ratio, the CPU time of
all parts per message of one instance over another's: the throughput
ratio a CPU-bound machine would show, which other work disturbs less.

bench-milter-proto.py measures the same three milters without
Postfix. The figures and what they say: README, "The milter against a
milter that does nothing".

A benchmark prints figures and fails only on errors (a rejected or
failed message, a missing decision), never on timings.
"""

import argparse
import os
import pwd
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
sys.path.insert(0, HERE)

from daemonutil import kill_group, unix_open, wait_for  # noqa: E402
from postfix import Postfix  # noqa: E402
from smtpbench import (CpuMeter, auth_stack, cpu_us, loadavg,  # noqa: E402
                       login_text, median, met, run_load, spread,
                       stop_parts)

LOAD_LOGIN = "load@example.net"
LOAD_PASSWORD = "load-bench-password"
GOAL = 0.90            # issue 6: policyd+milter / policyd
GOAL_TRIVIAL = 0.95    # issue 18: policyd+milter / policyd+trivial

EXAMPLE_NET = """\
dn: o=example.net,dc=example,dc=org
objectClass: organization
objectClass: mailgrantsCompany
o: example.net
mailgrantsDomain: example.net
description: the load generator's company

dn: ou=people,o=example.net,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: uid=load,ou=people,o=example.net,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: mailgrantsUser
uid: load
cn: Load Test
sn: Test
mail: load@example.net
"""


def start_trivial_milter(build, wd, exe):
    """build/EXE (a do-nothing milter) as nobody on a socket in its own
    directory."""
    d = os.path.join(wd, exe)
    os.makedirs(d)
    nobody = pwd.getpwnam("nobody")
    os.chown(d, nobody.pw_uid, nobody.pw_gid)
    path = os.path.join(d, "milter.sock")

    def as_nobody():
        os.setgid(nobody.pw_gid)
        os.setgroups([])
        os.setuid(nobody.pw_uid)
    log = open(os.path.join(wd, exe + ".log"), "ab")
    proc = subprocess.Popen([os.path.join(build, exe),
                             "unix:" + path], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log, preexec_fn=as_nobody,
                            start_new_session=True)
    log.close()
    wait_for(lambda: unix_open(path), 10, what=exe + " socket")
    return proc, "unix:" + path


def csv_list(text, conv, allowed=None):
    """"1,10" -> [1, 10]; each value checked against allowed."""
    out = [conv(x) for x in text.split(",") if x.strip()]
    if not out or (allowed and any(x not in allowed for x in out)):
        raise argparse.ArgumentTypeError("bad list %r" % text)
    return out


def check_auth(tool, pf, pairs, wd):
    """A wrong password is refused: Dovecot really decides the AUTH."""
    bad = os.path.join(wd, "wrong-password")
    with open(bad, "w") as f:
        f.write("not-the-password\n")
    os.chmod(bad, 0o600)
    r = subprocess.run([tool, "-c", "1", "-n", "1", "-d", "30", "-f", pairs,
                        "-a", bad, "127.0.0.1:%d" % pf.submission_port],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 2 or " 535 " not in r.stderr:
        raise RuntimeError("AUTH with a wrong password was not refused: "
                           "%s %s" % (r.stdout, r.stderr))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--per-session", default="1,10",
                    type=lambda t: csv_list(t, int),
                    help="messages per SMTP session, a list (1: a milter "
                    "connection per message, the milter's worst case)")
    ap.add_argument("--login", default="auth,xclient",
                    type=lambda t: csv_list(t, str, ("auth", "xclient")),
                    help="how sessions log in: auth (AUTH PLAIN through "
                    "Dovecot) and/or xclient (XCLIENT LOGIN)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size", type=int, default=1024)
    args = ap.parse_args()
    if args.rounds < 1 or min(args.per_session) < 1:
        ap.error("--rounds and --per-session must be positive")

    build = os.path.abspath(os.environ.get("MAILGRANTS_BUILD",
                                           os.path.join(REPO, "build")))
    tool = os.path.join(build, "smtp-load")
    for exe in ("mailgrants", "mailgrants-policyd", "mailgrants-milter",
                "smtp-load", "trivial-milter", "trivial-milter-raw"):
        if not os.access(os.path.join(build, exe), os.X_OK):
            sys.exit("bench-milter: %s/%s not built (make "
                     "bench-milter builds everything)" % (build, exe))

    parts = []
    try:
        # slapd, the replica, Dovecot, policyd and the milter
        # (tests/lib/stack.py); the four Postfix instances below.
        stack, pairs, password_file = auth_stack(
            build, EXAMPLE_NET, LOAD_LOGIN, LOAD_PASSWORD,
            "mg-bench-milter-", parts)
        wd, dc = stack.wd, stack.dc
        policyd, milter = stack.policyd, stack.milter

        trivial, trivial_spec = start_trivial_milter(build, wd,
                                                     "trivial-milter")
        parts.append(lambda: kill_group(trivial))
        raw, raw_spec = start_trivial_milter(build, wd, "trivial-milter-raw")
        parts.append(lambda: kill_group(raw))

        # XCLIENT (a login without a password) only when measured.
        common = dict(delivery="discard", sender_check="policy",
                      policy_service="unix:" + policyd.socket_path,
                      sasl_path=dc.auth_socket,
                      xclient="xclient" in args.login,
                      main_extra={"local_header_rewrite_clients": ""})
        plain = Postfix(**common)
        plain.start()
        parts.append(plain.stop)
        with_milter = Postfix(milter=milter.postfix_spec, **common)
        with_milter.start()
        parts.append(with_milter.stop)
        with_trivial = Postfix(milter=trivial_spec, **common)
        with_trivial.start()
        parts.append(with_trivial.stop)
        with_raw = Postfix(milter=raw_spec, **common)
        with_raw.start()
        parts.append(with_raw.stop)
        setups = [("policyd", plain), ("policyd+trivial", with_trivial),
                  ("policyd+raw", with_raw), ("policyd+milter", with_milter)]
        milter_of = {"policyd": None, "policyd+trivial": "trivial",
                     "policyd+raw": "raw", "policyd+milter": "milter"}
        if "auth" in args.login:
            check_auth(tool, plain, pairs, wd)

        print("bench-milter: %d sessions, %d bytes, %.0f s per run "
              "(+%.0f s warm-up), %d rounds; AUTH against a passwd-file "
              "passdb with one {PLAIN} password (independent of the "
              "directory's size); %d CPUs, load average now %.2f"
              % (args.sessions, args.size, args.seconds, args.warmup,
                 args.rounds, os.cpu_count(), loadavg()), flush=True)
        failed = False
        summary = []
        cpu_cols = ("milter", "policyd", "postfix", "dovecot", "load",
                    "other")
        for login in args.login:
            for per in args.per_session:
                kw = dict(login=login, per_session=per,
                          sessions=args.sessions, size=args.size,
                          password_file=password_file)
                # Warm up: smtpd processes started, replica pages cached.
                for _, pf in setups:
                    run_load(tool, pf.submission_port, pairs,
                             seconds=1.0, warmup=0.0, **kw)
                if login == "auth" and not re.search(
                        r"sasl_method=PLAIN, sasl_username=load@example"
                        r"\.net", plain.maillog_text()):
                    raise RuntimeError("Postfix logged no AUTH PLAIN login")
                print("")
                print("== %s, %d message(s) per session"
                      % (login_text(login), per))
                print("%-16s %3s %8s %6s %6s | %s | %9s %5s"
                      % ("setup", "rnd", "msgs/s", "p50ms", "p99ms",
                         " ".join("%8s" % c for c in cpu_cols),
                         "decisions", "load1"))
                print("%-16s %3s %8s %6s %6s | %s |"
                      % ("", "", "", "", "",
                         "%-53s" % "  CPU us per message"))
                runs = {name: [] for name, _ in setups}
                for rnd in range(args.rounds):
                    k = rnd % len(setups)
                    for name, pf in setups[k:] + setups[:k]:
                        log_start = len(milter.log())
                        meter = CpuMeter({
                            "policyd": policyd.pid, "milter": milter.pid,
                            "trivial": trivial.pid, "raw": raw.pid,
                            "postfix": pf.master_pid, "dovecot": dc.pid})
                        la = loadavg()
                        meter.start()
                        res, err = run_load(tool, pf.submission_port, pairs,
                                            seconds=args.seconds,
                                            warmup=args.warmup, **kw)
                        d = meter.stop()
                        decisions = len(re.findall(
                            r"action=dunno login=load@example\.net "
                            r"header=from address=<load@example\.net> "
                            r".*reason=own_mailbox",
                            milter.log()[log_start:]))
                        n = res["total"]
                        cpu = {c: cpu_us(d, c, n) for c in cpu_cols}
                        which = milter_of[name]
                        cpu["milter"] = (cpu_us(d, which, n) if which
                                         else 0.0)
                        # The unused milters idle; their ticks, if any,
                        # are neither "milter" nor "other".
                        res["cpu"] = cpu
                        res["cpu_all"] = sum(cpu[c] for c in cpu_cols
                                             if c != "other")
                        runs[name].append(res)
                        print("%-16s %3d %8.1f %6.2f %6.2f | %s | %9d %5.2f"
                              % (name, rnd + 1, res["mps"], res["p50"],
                                 res["p99"],
                                 " ".join("%8.1f" % cpu[c]
                                          for c in cpu_cols),
                                 decisions, la), flush=True)
                        if res["rejected"] or res["errors"]:
                            print("  ERROR: %d rejected, %d failed: %s"
                                  % (res["rejected"], res["errors"],
                                     err.strip()))
                            failed = True
                        if pf is with_milter and decisions < n:
                            print("  ERROR: %d accepted, only %d milter "
                                  "decisions" % (n, decisions))
                            failed = True
                        if pf is not with_milter and decisions:
                            print("  ERROR: milter decisions without the "
                                  "milter")
                            failed = True
                summary.append((login, per, report(runs, cpu_cols)))
        print_summary(summary, args.rounds)
        return 1 if failed else 0
    finally:
        stop_parts(parts, "bench-milter")


def ratio(a, b):
    return a / b if b else float("nan")


def report(runs, cpu_cols):
    """Print the medians of one (login, per-session) block and its goals;
    return the figures for the summary."""
    med = {name: median([r["mps"] for r in rs]) for name, rs in runs.items()}
    cpu_all = {name: median([r["cpu_all"] for r in rs])
               for name, rs in runs.items()}
    own_us = {name: median([r["cpu"]["milter"] for r in rs])
              for name, rs in runs.items()}
    base, trivial = med["policyd"], med["policyd+trivial"]
    print("%-16s %8s %7s %7s %7s %6s %6s | %s %8s"
          % ("median", "msgs/s", "spread", "/policy", "/trivl", "p50ms",
             "p99ms", " ".join("%8s" % c for c in cpu_cols), "all"))
    for name, rs in runs.items():
        print("%-16s %8.1f %6.1f%% %7.3f %7.3f %6.2f %6.2f | %s %8.1f"
              % (name, med[name], spread([r["mps"] for r in rs]),
                 ratio(med[name], base), ratio(med[name], trivial),
                 median([r["p50"] for r in rs]),
                 median([r["p99"] for r in rs]),
                 " ".join("%8.1f" % median([r["cpu"][c] for r in rs])
                          for c in cpu_cols), cpu_all[name]))

    def paired(name, against):
        return " ".join("%.3f" % ratio(a["mps"], b["mps"])
                        for a, b in zip(runs[name], runs[against]))
    r18 = ratio(med["policyd+milter"], trivial)
    r6 = ratio(med["policyd+milter"], base)
    raw = ratio(med["policyd+raw"], trivial)
    cpu18 = ratio(cpu_all["policyd+trivial"], cpu_all["policyd+milter"])
    cpu_raw = ratio(cpu_all["policyd+trivial"], cpu_all["policyd+raw"])
    print("issue 18: policyd+milter %.1f / policyd+trivial %.1f msgs/s = "
          "%.3f (goal >= %.2f: %s); per round %s; CPU per message of all "
          "parts %.0f / %.0f us: cpu_ratio %.3f"
          % (med["policyd+milter"], trivial, r18, GOAL_TRIVIAL,
             met(r18 >= GOAL_TRIVIAL),
             paired("policyd+milter", "policyd+trivial"),
             cpu_all["policyd+milter"], cpu_all["policyd+trivial"], cpu18))
    print("issue 6: policyd+milter %.1f / policyd %.1f msgs/s = %.3f "
          "(goal >= %.2f: %s); per round %s"
          % (med["policyd+milter"], base, r6, GOAL, met(r6 >= GOAL),
             paired("policyd+milter", "policyd")))
    print("raw / trivial: %.3f msgs/s (per round %s); CPU per message of "
          "all parts %.0f / %.0f us: cpu_ratio %.3f"
          % (raw, paired("policyd+raw", "policyd+trivial"),
             cpu_all["policyd+raw"], cpu_all["policyd+trivial"], cpu_raw))
    print("CPU per message of the milter process itself: trivial %.1f us, "
          "raw %.1f us, ours %.1f us"
          % (own_us["policyd+trivial"], own_us["policyd+raw"],
             own_us["policyd+milter"]))
    return {"mps": med, "r18": r18, "r6": r6, "raw": raw,
            "cpu18": cpu18, "cpu_raw": cpu_raw, "own_us": own_us,
            "spread": {name: spread([r["mps"] for r in rs])
                       for name, rs in runs.items()}}


def print_summary(summary, rounds):
    """The goals of every (login, per-session) block, side by side."""
    print("")
    print("== summary (medians of %d rounds): messages per second; goals "
          "milter/trivial >= %.2f (issue 18), milter/policyd >= %.2f "
          "(issue 6)" % (rounds, GOAL_TRIVIAL, GOAL))
    print("%-13s %3s %8s %8s %8s %8s | %7s %7s %7s %7s %7s"
          % ("login", "m/s", "policyd", "+trivial", "+raw", "+milter",
             "mil/trv", "goal18", "mil/pol", "goal6", "raw/trv"))
    for login, per, s in summary:
        m = s["mps"]
        print("%-13s %3d %8.1f %8.1f %8.1f %8.1f | %7.3f %7s %7.3f %7s "
              "%7.3f"
              % (login_text(login), per, m["policyd"], m["policyd+trivial"],
                 m["policyd+raw"], m["policyd+milter"], s["r18"],
                 met(s["r18"] >= GOAL_TRIVIAL), s["r6"],
                 met(s["r6"] >= GOAL), s["raw"]))
    print("")
    print("CPU us per message of the milter process, cpu_ratio (CPU of all "
          "parts per message: trivial's / milter's, trivial's / raw's), "
          "spread of msgs/s (max-min)/median over the four instances")
    print("%-13s %3s %8s %8s %8s | %7s %7s | %s"
          % ("login", "m/s", "trivial", "raw", "milter", "cpu18", "cpu_raw",
             "spread"))
    for login, per, s in summary:
        print("%-13s %3d %8.1f %8.1f %8.1f | %7.3f %7.3f | %s"
              % (login_text(login), per, s["own_us"]["policyd+trivial"],
                 s["own_us"]["policyd+raw"], s["own_us"]["policyd+milter"],
                 s["cpu18"], s["cpu_raw"],
                 " ".join("%.0f%%" % v for v in s["spread"].values())))
    print("m/s = messages per session; cpu_ratio = CPU per message of all "
          "parts (Postfix, Dovecot, daemons, load tool) of one instance "
          "over another's: the throughput ratio a CPU-bound machine would "
          "show, less noisy than msgs/s (cpu18 < 1: ours costs more than "
          "trivial; cpu_raw > 1: raw costs less than trivial).")


if __name__ == "__main__":
    sys.exit(main())
