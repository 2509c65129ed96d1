#!/usr/bin/python3
"""bench-milter - Postfix end to end: policy daemon + milter vs policy daemon alone.

    make bench-milter
    MAILGRANTS_BUILD=build /usr/bin/python3 tests/bench/bench-milter.py \
        [--seconds 5] [--warmup 1] [--sessions 20] [--per-session 1,10] \
        [--login auth,xclient] [--rounds 5] [--size 1024]

Three private Postfix instances side by side (tests/lib/postfix.py),
the same in all but one thing: every submission service checks the
envelope sender with our policy daemon (check_policy_service); one also
has smtpd_milters = our milter, and one a milter that accepts
everything (build/trivial-milter, tests/bench/trivial-milter.c: the
same libmilter and protocol steps, no check), so that the cost of the
milter protocol and the cost of the check can be told apart. Mail is
discarded after the queue. The directory is the abc.com example plus a
company example.net with the user load@example.net, so that every
message is checked all the way (envelope and header both the login's
own mailbox) and accepted.

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
median, and the ratio with/without the milter is what issue 6 asks for
(goal: at least 0.90). Also per message: the CPU time of the milter,
the policy daemon, the Postfix instance (all its processes, the exited
smtpd included), Dovecot, the load tool, and "other" (the rest of the
machine's busy time: other work on the machine; a round with much of
it was disturbed), from /proc (tests/bench/smtpbench.py); and the
milter's log lines (one per decision: there must be one per accepted
message).

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
GOAL = 0.90

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


def start_trivial_milter(build, wd):
    """build/trivial-milter as nobody on a socket in its own directory."""
    d = os.path.join(wd, "trivial")
    os.makedirs(d)
    nobody = pwd.getpwnam("nobody")
    os.chown(d, nobody.pw_uid, nobody.pw_gid)
    path = os.path.join(d, "milter.sock")

    def as_nobody():
        os.setgid(nobody.pw_gid)
        os.setgroups([])
        os.setuid(nobody.pw_uid)
    log = open(os.path.join(wd, "trivial-milter.log"), "ab")
    proc = subprocess.Popen([os.path.join(build, "trivial-milter"),
                             "unix:" + path], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log, preexec_fn=as_nobody,
                            start_new_session=True)
    log.close()
    wait_for(lambda: unix_open(path), 10, what="trivial-milter socket")
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
                "smtp-load", "trivial-milter"):
        if not os.access(os.path.join(build, exe), os.X_OK):
            sys.exit("bench-milter: %s/%s not built (make "
                     "bench-milter builds everything)" % (build, exe))

    parts = []
    try:
        # slapd, the replica, Dovecot, policyd and the milter
        # (tests/lib/stack.py); the three Postfix instances below.
        stack, pairs, password_file = auth_stack(
            build, EXAMPLE_NET, LOAD_LOGIN, LOAD_PASSWORD,
            "mg-bench-milter-", parts)
        wd, dc = stack.wd, stack.dc
        policyd, milter = stack.policyd, stack.milter

        trivial, trivial_spec = start_trivial_milter(build, wd)
        parts.append(lambda: kill_group(trivial))

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
        setups = [("policyd", plain), ("policyd+trivial", with_trivial),
                  ("policyd+milter", with_milter)]
        milter_of = {"policyd": None, "policyd+trivial": "trivial",
                     "policyd+milter": "milter"}
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
                            "trivial": trivial.pid,
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
        print("")
        print("== summary (medians of %d rounds; ratio = msgs/s against "
              "policyd alone, goal for policyd+milter >= %.2f)"
              % (args.rounds, GOAL))
        print("%-13s %4s %9s %9s %9s %7s %7s %8s %9s %9s"
              % ("login", "m/s", "policyd", "+trivial", "+milter",
                 "trivial", "milter", "goal", "milter_us", "cpu_ratio"))
        for login, per, s in summary:
            print("%-13s %4d %9.1f %9.1f %9.1f %7.3f %7.3f %8s %9.1f %9.3f"
                  % (login_text(login), per, s["base"], s["trivial"],
                     s["milter"], s["trivial"] / s["base"],
                     s["ratio"], met(s["ratio"] >= GOAL),
                     s["milter_us"], s["cpu_ratio"]))
        print("m/s = messages per session; cpu_ratio = CPU per message of "
              "all parts (Postfix, Dovecot, daemons, load tool) without "
              "the milter / with it: the throughput ratio a CPU-bound "
              "machine would show, less noisy than msgs/s.")
        return 1 if failed else 0
    finally:
        stop_parts(parts, "bench-milter")


def report(runs, cpu_cols):
    """Print the medians of one (login, per-session) block; the figures
    for the summary."""
    med = {name: median([r["mps"] for r in rs]) for name, rs in runs.items()}
    base = med["policyd"]
    print("%-16s %8s %7s %6s %6s %6s | %s"
          % ("median", "msgs/s", "spread", "ratio", "p50ms", "p99ms",
             " ".join("%8s" % c for c in cpu_cols)))
    for name, rs in runs.items():
        print("%-16s %8.1f %6.1f%% %6.3f %6.2f %6.2f | %s"
              % (name, med[name], spread([r["mps"] for r in rs]),
                 med[name] / base if base else 0.0,
                 median([r["p50"] for r in rs]),
                 median([r["p99"] for r in rs]),
                 " ".join("%8.1f" % median([r["cpu"][c] for r in rs])
                          for c in cpu_cols)))
    paired = [m["mps"] / b["mps"] for m, b in
              zip(runs["policyd+milter"], runs["policyd"]) if b["mps"]]
    ratio = med["policyd+milter"] / base if base else 0.0
    cpu_base = median([r["cpu_all"] for r in runs["policyd"]])
    cpu_milter = median([r["cpu_all"] for r in runs["policyd+milter"]])
    cpu_ratio = cpu_base / cpu_milter if cpu_milter else 0.0
    print("ratio policyd+milter / policyd: %.3f (goal >= %.2f: %s); "
          "per round %s; milter / trivial milter %.3f"
          % (ratio, GOAL, met(ratio >= GOAL),
             " ".join("%.3f" % x for x in paired),
             med["policyd+milter"] / med["policyd+trivial"]
             if med["policyd+trivial"] else 0.0))
    print("CPU per message of all parts: %.0f us without the milter, %.0f "
          "us with it (%.0f us the milter itself): ratio %.3f"
          % (cpu_base, cpu_milter,
             median([r["cpu"]["milter"] for r in runs["policyd+milter"]]),
             cpu_ratio))
    return {"base": base, "trivial": med["policyd+trivial"],
            "milter": med["policyd+milter"], "ratio": ratio,
            "milter_us": median([r["cpu"]["milter"]
                                 for r in runs["policyd+milter"]]),
            "cpu_ratio": cpu_ratio}


if __name__ == "__main__":
    sys.exit(main())
