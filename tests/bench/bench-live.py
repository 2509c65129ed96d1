#!/usr/bin/python3
"""bench-live - how long a change in LDAP takes to reach a decision.

For each change (Peter shares his mailbox with one more colleague) the
clock starts when `ldapadd` returns and stops when mailgrants-policyd's
answer for that colleague sending as Peter turns into "shared with you
for reading only". The chain measured is the whole one: slapd's syncprov
(or the next poll), `mailgrants sync --follow`, the replica, the daemon.

Persist mode (RFC 4533 refreshAndPersist): changes one after another,
each waited for. Polling mode (a slapd without syncprov, poll_interval
at its default, 60 s): the changes are spread at random over a span
several poll intervals long and watched all at once, so that the run
takes minutes, not hours.

Prints median, p90, p99 and max per mode. Fails only on errors (a
change that never arrives), never on timings.

    bench-live.py [--changes N] [--poll-changes N] [--poll-span S]
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))

from daemonutil import make_workdir  # noqa: E402
from policyd import PolicyClient, Policyd  # noqa: E402
from slapd import Slapd  # noqa: E402

PEOPLE = "ou=people,o=abc.com,dc=example,dc=org"
PETER_DN = "uid=peter.mueller," + PEOPLE
PETER = "peter.mueller@abc.com"
SHARED = "REJECT 5.7.1 <peter.mueller@abc.com>: mailbox shared"


def colleagues(n):
    """n extra abc.com users, as LDIF, and their logins."""
    ldif, logins = [], []
    for i in range(n):
        uid = "bench%04d" % i
        ldif.append("dn: uid=%s,%s\nobjectClass: inetOrgPerson\n"
                    "objectClass: mailgrantsUser\nuid: %s\ncn: %s\nsn: %s\n"
                    "mail: %s@abc.com\n" % (uid, PEOPLE, uid, uid, uid, uid))
        logins.append(uid + "@abc.com")
    return "\n".join(ldif), logins


def share_ldif(login):
    uid = login.split("@")[0]
    return ("dn: cn=bench-%s,%s\nobjectClass: mailgrantsShare\n"
            "cn: bench-%s\nmailgrantsGrantee: uid=%s,%s\n"
            % (uid, PETER_DN, uid, uid, PEOPLE))


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def run_mode(build, n, syncprov, span, extra_conf):
    wd = make_workdir("mg-bench-live-")
    ldap = Slapd(syncprov=syncprov)
    follower = policyd = None
    try:
        ldif, logins = colleagues(n)
        rc, _, err = ldap.ldapadd(ldif, root=True)
        if rc != 0:
            raise SystemExit("bench-live: ldapadd: " + err)
        conf = os.path.join(wd, "mailgrants.conf")
        replica = os.path.join(wd, "grants.db")
        ldap.write_config(conf, replica=replica, replica_group="nogroup",
                          **extra_conf)
        os.chmod(conf, 0o644)
        log = open(os.path.join(wd, "follow.log"), "w")
        follower = subprocess.Popen([os.path.join(build, "mailgrants"), "-c",
                                     conf, "sync", "--follow"],
                                    stdout=log, stderr=log)
        deadline = time.time() + 30
        while not os.path.exists(replica) and time.time() < deadline:
            time.sleep(0.05)
        policyd = Policyd(build, conf, wd, user="nobody")
        client = PolicyClient(unix=policyd.socket_path, timeout=10)
        for login in logins:
            if client.ask(login, PETER).startswith(SHARED):
                raise SystemExit("bench-live: %s starts shared" % login)
        lat = []
        if syncprov:
            for login in logins:
                rc, _, err = ldap.ldapadd(share_ldif(login), root=True)
                t0 = time.monotonic()
                if rc != 0:
                    raise SystemExit("bench-live: ldapadd: " + err)
                while not client.ask(login, PETER).startswith(SHARED):
                    if time.monotonic() - t0 > 30:
                        raise SystemExit("bench-live: a change never "
                                         "arrived (persist)")
                    time.sleep(0.002)
                lat.append(time.monotonic() - t0)
        else:
            # Spread the changes over the span; watch all of them.
            rnd = random.Random(4533)
            times = sorted(rnd.uniform(0, span) for _ in logins)
            start = time.monotonic()
            made, seen = {}, {}
            pending = list(zip(times, logins))
            while len(seen) < len(logins):
                now = time.monotonic() - start
                while pending and pending[0][0] <= now:
                    _, login = pending.pop(0)
                    rc, _, err = ldap.ldapadd(share_ldif(login), root=True)
                    if rc != 0:
                        raise SystemExit("bench-live: ldapadd: " + err)
                    made[login] = time.monotonic()
                for login in list(made):
                    if login not in seen and client.ask(
                            login, PETER).startswith(SHARED):
                        seen[login] = time.monotonic()
                if now > span + 4 * 60 + 30:
                    raise SystemExit("bench-live: changes never arrived "
                                     "(poll)")
                time.sleep(0.01)
            lat = [seen[k] - made[k] for k in logins]
        client.close()
        return lat
    finally:
        if policyd:
            policyd.stop()
        if follower and follower.poll() is None:
            follower.terminate()
            follower.wait(10)
        ldap.close()
        subprocess.run(["rm", "-rf", wd])


def main():
    ap = argparse.ArgumentParser()
    small = os.environ.get("BENCH_SCALE") == "small"
    ap.add_argument("--changes", type=int, default=20 if small else 100)
    ap.add_argument("--poll-changes", type=int, default=10 if small else 100)
    ap.add_argument("--poll-span", type=float, default=60 if small else 300)
    args = ap.parse_args()
    build = os.environ.get("MAILGRANTS_BUILD", os.path.join(REPO, "build"))
    rows = []
    persist = run_mode(build, args.changes, True, 0, {})
    rows.append(("persist (syncprov)", persist))
    poll = run_mode(build, args.poll_changes, False, args.poll_span, {})
    rows.append(("polling, 60 s (default)", poll))
    print("\nlatency from ldapadd returning to mailgrants-policyd's "
          "changed decision")
    print("%-26s %7s %9s %9s %9s %9s  %s" % ("mode", "changes", "median",
                                            "p90", "p99", "max", "goal"))
    for name, lat in rows:
        goal = ("p99 <= 1 s: %s" % ("met" if pct(lat, 99) <= 1.0 else
                                    "NOT met")) if "persist" in name else ""
        print("%-26s %7d %8.3fs %8.3fs %8.3fs %8.3fs  %s" % (
            name, len(lat), statistics.median(lat), pct(lat, 90),
            pct(lat, 99), max(lat), goal))


if __name__ == "__main__":
    main()
