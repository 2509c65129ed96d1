#!/usr/bin/python3
"""The abc.com story on a sandbox slapd, told by mailgrants itself.

Starts a private slapd on loopback (our schema, access rules and the
example directory ldap-schema/examples/abc.ldif) in a temporary
directory, syncs the replica, and prints for each person what they may
see and send as. Everything runs as the calling user's processes and is
removed at the end (MAILGRANTS_KEEP_TMP=1 keeps the directory).
"""

import json
import os
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
from slapd import Slapd  # noqa: E402

BUILD = os.environ.get("MAILGRANTS_BUILD", os.path.join(REPO, "build"))
MG = os.path.join(BUILD, "mailgrants")

PEOPLE = [
    ("Sandra Schuster", "sandra.schuster@abc.com"),
    ("Jana Meier", "jana.meier@abc.com"),
    ("Peter Müller", "peter.mueller@abc.com"),
    ("Tom Berger", "tom.berger@abc.com"),
    ("Anna Schmidt (xyz.org)", "anna.schmidt@xyz.org"),
]
ADDRESSES = ["sandra.schuster@abc.com", "makler@abc.com", "jana.meier@abc.com",
             "buchhaltung@abc.com", "peter.mueller@abc.com",
             "peter.müller@abc.com", "info@abc.com", "info@xyz.org"]


def run(conf, *args):
    r = subprocess.run([MG, "-c", conf] + list(args), capture_output=True,
                       text=True)
    if r.returncode != 0:
        sys.exit("demo: mailgrants %s failed: %s" % (" ".join(args),
                                                       r.stderr.strip()))
    return r.stdout


def main():
    if not os.access(MG, os.X_OK):
        sys.exit("demo: %s missing: run make first" % MG)
    print("== Starting a sandbox slapd with the abc.com story")
    with Slapd() as slapd:
        conf = os.path.join(slapd.tmpdir, "mailgrants.conf")
        slapd.write_config(conf, replica=os.path.join(slapd.tmpdir, "grants.db"))
        print("   %s, base %s" % (slapd.uri, slapd.base))
        print("\n== mailgrants sync --once")
        print("   " + run(conf, "sync", "--once").strip())
        for name, login in PEOPLE:
            print("\n== %s logs in as %s" % (name, login))
            print("   sees:")
            for d in json.loads(run(conf, "access", "--json", login)):
                print("     %-8s %-26s rights %-11s %s" % (
                    d["kind"], d["mailbox"], d["rights"],
                    "may send as it" if d["may_send"] else
                    "may NOT send as it"))
            print("   sending as:")
            for a in ADDRESSES:
                d = json.loads(run(conf, "explain", "--json", login, a))
                verdict = "allowed" if d["may_send"] else "rejected"
                print("     %-26s %-8s (%s)" % (a, verdict, d["reason"]))
        print("\n== Why may Sandra read Peter's mail but not send as him?")
        for line in run(conf, "explain", "sandra.schuster@abc.com",
                        "peter.müller@abc.com").splitlines():
            print("   " + line)
        print("\n== Tom's share ended in 2024; in June 2024 he had it:")
        d = json.loads(run(conf, "explain", "--json", "--at", "2024-06-01",
                           "tom.berger@abc.com", "peter.mueller@abc.com"))
        print("   2024-06-01: %s, rights %s; today: %s" % (
            d["kind"], d["rights"],
            json.loads(run(conf, "explain", "--json", "tom.berger@abc.com",
                           "peter.mueller@abc.com"))["reason"]))
        print("\n== mailgrants check")
        for line in run(conf, "check").splitlines():
            print("   " + line)
    print("\nThe sandbox is stopped and removed.")


if __name__ == "__main__":
    main()
