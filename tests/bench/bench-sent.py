#!/usr/bin/python3
"""bench-sent - Postfix end to end with and without sent copies.

    make bench-sent
    MAILGRANTS_BUILD=build /usr/bin/python3 tests/bench/bench-sent.py \\
        [--seconds 5] [--warmup 1] [--sessions 10] [--per-session 1] \\
        [--rounds 4]

The stack of tests/integration/test_sent_copies.py (slapd, the replica,
mailgrants-milter on the submission service of a private Postfix, SASL
through a Dovecot of its own, the mail Dovecot with lmtp_mailgrants and
the shipped userdb behind LMTP). Sandra logs in (AUTH PLAIN) and sends
as info@abc.com (envelope and From:) to one outside recipient, which
Postfix discards after the queue. The same instance runs in turn with
sent copies off and on (sent_copies in mailgrants.conf, a sync, the
milter picks the replica up), --rounds times in rotating order:

  off  the milter decides at the end of the headers (as before);
  on   it waits for the end of the message and adds the copy's
       recipient; Postfix delivers it over LMTP, where lmtp_mailgrants
       looks for the Message-ID in info@'s Sent and files it.

Two figures per run: msgs/s accepted (what a client sees), and the
end-to-end rate: messages over the time until Postfix's queue is empty
again (every copy filed). The Sent folder grows over the rounds: the
Message-ID lookup walks it (see the end of the output for its size).

A benchmark prints figures and fails only on errors, never on timings.
"""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, HERE)

from example import PASSWORDS  # noqa: E402
from slapd import Slapd  # noqa: E402
from smtpbench import loadavg, run_load  # noqa: E402
from test_sent_copies import SANDRA, Stack  # noqa: E402


def set_sent_copies(stack, on):
    """sent_copies in mailgrants.conf, a sync, and time for the milter
    (it looks at the replica once a second)."""
    with open(stack.conf, encoding="utf-8") as f:
        lines = [ln for ln in f if not ln.startswith("sent_copies")]
    lines.append("sent_copies = %s\n" % ("yes" if on else "no"))
    with open(stack.conf, "w", encoding="utf-8") as f:
        f.writelines(lines)
    stack.sync()
    time.sleep(2.5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--per-session", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    build = os.path.abspath(os.environ.get("MAILGRANTS_BUILD",
                                           os.path.join(REPO, "build")))
    tool = os.path.join(build, "smtp-load")
    if not os.access(tool, os.X_OK):
        sys.exit("bench-sent: %s not built (make bench-sent)" % tool)
    slapd = Slapd()
    stack = None
    failed = False
    try:
        stack = Stack(slapd, build, REPO)
        pairs = os.path.join(stack.wd, "pairs")
        with open(pairs, "w") as f:
            f.write("%s info@abc.com\n" % SANDRA)
        pw = os.path.join(stack.wd, "password")
        with open(pw, "w") as f:
            f.write(PASSWORDS[SANDRA] + "\n")
        os.chmod(pw, 0o600)
        kw = dict(login="auth", per_session=args.per_session,
                  sessions=args.sessions, password_file=pw,
                  header_from="info@abc.com", rcpt="kunde@example.org")
        print("bench-sent: %d sessions, %d message(s) per session, "
              "%.0f s per run (+%.0f s warm-up), %d rounds; %d CPUs, "
              "load average now %.2f" % (args.sessions, args.per_session,
                                         args.seconds, args.warmup,
                                         args.rounds, os.cpu_count(),
                                         loadavg()), flush=True)
        print("%-4s %3s %8s %6s %6s %9s %8s %10s"
              % ("mode", "rnd", "msgs/s", "p50ms", "p99ms", "accepted",
                 "drain_s", "e2e_msgs/s"))
        runs = {"off": [], "on": []}
        for rnd in range(args.rounds):
            order = ["off", "on"] if rnd % 2 == 0 else ["on", "off"]
            for mode in order:
                set_sent_copies(stack, mode == "on")
                stack.wait_delivered()
                t0 = time.monotonic()
                res, err = run_load(tool, stack.pf.submission_port, pairs,
                                    seconds=args.seconds,
                                    warmup=args.warmup, **kw)
                t1 = time.monotonic()
                stack.wait_delivered()
                drain = time.monotonic() - t1
                e2e = res["total"] / (t1 - t0 + drain)
                runs[mode].append((res["mps"], e2e))
                print("%-4s %3d %8.1f %6.2f %6.2f %9d %8.2f %10.1f"
                      % (mode, rnd + 1, res["mps"], res["p50"],
                         res["p99"], res["total"], drain, e2e), flush=True)
                if res["rejected"] or res["errors"]:
                    print("  ERROR: %d rejected, %d failed: %s"
                          % (res["rejected"], res["errors"], err.strip()))
                    failed = True

        def median(xs):
            xs = sorted(xs)
            return xs[len(xs) // 2] if len(xs) % 2 else \
                (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2
        off = [median([r[i] for r in runs["off"]]) for i in (0, 1)]
        on = [median([r[i] for r in runs["on"]]) for i in (0, 1)]
        print("")
        print("== summary (medians of %d rounds)" % args.rounds)
        print("%-12s %10s %10s %7s" % ("", "off", "on", "on/off"))
        print("%-12s %10.1f %10.1f %7.3f" % ("msgs/s", off[0], on[0],
                                             on[0] / off[0]))
        print("%-12s %10.1f %10.1f %7.3f" % ("e2e_msgs/s", off[1], on[1],
                                             on[1] / off[1]))
        print("copies in info@abc.com's Sent at the end: %d"
              % len(stack.sent_files("info@abc.com")))
        return 1 if failed else 0
    finally:
        if stack is not None:
            stack.close()
        slapd.close()


if __name__ == "__main__":
    sys.exit(main())
