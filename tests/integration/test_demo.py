"""make demo and make demo-stop, as a sysadmin runs them (issue 7).

`make demo` (with CI set: no mail client part) in a sandbox directory
of its own: it must start slapd, the follower, Dovecot with the plugin,
Postfix with the policy daemon and the milter, walk through the story
with real IMAP and SMTP sessions and leave everything running. The
outcomes it prints are checked line by line for each person, the
header From: forgery, and Peter's share and unshare. Then: the sandbox
still answers IMAP after make returned; a second `make demo` says a demo
is running and starts nothing; `make demo-stop` stops every process it
recorded (and their process groups) and removes the directory.
"""

import imaplib
import json
import os
import re
import shutil
import subprocess
import uuid

import pytest

TIMEOUT = 180


def make(repo_dir, build_dir, demo_dir, *targets):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    env.update(MAILGRANTS_DEMO_DIR=demo_dir, CI="1")
    argv = ["make", "--no-print-directory", "-C", repo_dir]
    if os.path.realpath(build_dir) != os.path.realpath(
            os.path.join(repo_dir, "build")):
        argv.append("B=%s" % build_dir)
    r = subprocess.run(argv + list(targets), capture_output=True,
                       text=True, timeout=TIMEOUT, env=env)
    return r.returncode, r.stdout, r.stderr


def section(out, start, end=None):
    """The text of out from the heading line starting with start up to
    the next heading (or end)."""
    i = out.index("\n== " + start)
    j = out.find("\n== ", i + 1) if end is None else out.index(end, i)
    return out[i:j if j >= 0 else len(out)]


def has_line(text, *fields):
    """A line holding the fields in order, separated by blanks."""
    pat = r"^\s*" + r"\s+".join(re.escape(f) for f in fields)
    return re.search(pat, text, re.M) is not None


def folders_of(text):
    """The mailbox names of a person's IMAP folder list."""
    part = text.split("MYRIGHTS and messages (STATUS):")[1]
    part = part.split("SMTP submission")[0]
    return [line.split()[0] for line in part.splitlines() if line.strip()]


def group_gone(pgid):
    try:
        os.killpg(pgid, 0)
        return False
    except ProcessLookupError:
        return True


def processes_mentioning(text):
    """Processes whose command line contains text."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found.append((int(pid), cmd))
    return found


SHARED_RO = "mailbox shared with you for reading only"
NOT_YOURS = "you may not send as this address"


def stop_demo(repo_dir, demo_dir):
    subprocess.run(["/usr/bin/python3",
                    os.path.join(repo_dir, "demo", "demo.py"), "--stop"],
                   timeout=120, capture_output=True,
                   env=dict(os.environ, MAILGRANTS_DEMO_DIR=demo_dir))


def stop_orphans(repo_dir):
    """Sandboxes of earlier runs of this test whose pytest was killed
    before it could stop them (the directory names its pid)."""
    for name in os.listdir("/tmp"):
        m = re.match(r"mg-demo-test-(\d+)-[0-9a-f]+$", name)
        if m and not os.path.exists("/proc/%s" % m.group(1)):
            stop_demo(repo_dir, os.path.join("/tmp", name))


@pytest.fixture(scope="module")
def demo(repo_dir, build_dir):
    stop_orphans(repo_dir)
    demo_dir = "/tmp/mg-demo-test-%d-%s" % (os.getpid(), uuid.uuid4().hex[:8])
    try:
        rc, out, err = make(repo_dir, build_dir, demo_dir, "demo")
        with open(os.path.join(demo_dir, "demo.state")) as f:
            state = json.load(f)
        yield {"dir": demo_dir, "rc": rc, "out": out, "err": err,
               "state": state, "repo": repo_dir, "build": build_dir}
    finally:
        if os.path.exists(demo_dir):
            stop_demo(repo_dir, demo_dir)
        shutil.rmtree(demo_dir, ignore_errors=True)


def test_walk_through(demo):
    out = demo["out"]
    assert demo["rc"] == 0, out + demo["err"]
    assert "Traceback" not in out + demo["err"]

    sandra = section(out, "Sandra Schuster")
    assert has_line(sandra, "IMAP NAMESPACE:", 'personal "";',
                    "other users", '"Shared/",', '"Company/",', '"Private/";')
    assert has_line(sandra, "INBOX", "lrwstipekxacd", "0")
    assert has_line(sandra, "Private/makler@abc.com/INBOX", "lrwstipekxcd")
    assert has_line(sandra, "Company/info@abc.com/INBOX", "lrwstipekcd",
                    "1")
    # Peter's mail, delivered by Postfix through LMTP, in Shared/.
    assert has_line(sandra, "Shared/peter.mueller@abc.com/INBOX",
                    "lrwstiekcd", "1")
    assert has_line(sandra, "sandra.schuster@abc.com", "accepted")
    assert has_line(sandra, "makler@abc.com", "accepted")
    assert has_line(sandra, "info@abc.com", "accepted")
    assert has_line(sandra, "peter.mueller@abc.com", "rejected", "554",
                    "5.7.1", "<peter.mueller@abc.com>:")
    assert re.search(r"peter\.müller@abc\.com\s+rejected 554 5\.7\.1 .*"
                     + SHARED_RO, sandra)
    # The submission service refuses a wrong sender at MAIL FROM, so
    # that mail clients blame the sender, not the recipient.
    assert re.search(r"peter\.mueller@abc\.com\s+rejected 554 5\.7\.1 .*"
                     + SHARED_RO + r".*\(at MAIL FROM\)$", sandra, re.M)
    assert re.search(r"jana\.meier@abc\.com\s+rejected 554 5\.7\.1 .*"
                     + NOT_YOURS, sandra)

    # The identities her mail client should offer: never Peter's.
    assert ("From addresses for the mail client (mailgrants identities): "
            "sandra.schuster@abc.com, makler@abc.com, info@abc.com\n"
            ) in sandra

    jana = section(out, "Jana Meier")
    assert "Private/buchhaltung@abc.com/INBOX" in folders_of(jana)
    assert "Private/makler@abc.com/INBOX" not in folders_of(jana)
    assert "Shared/peter.mueller@abc.com/INBOX" in folders_of(jana)
    assert has_line(jana, "buchhaltung@abc.com", "accepted")
    assert has_line(jana, "makler@abc.com", "rejected", "554", "5.7.1")

    peter = section(out, "Peter Müller")
    assert has_line(peter, "INBOX", "lrwstipekxacd", "1")
    assert sorted(folders_of(peter)) == ["Company/info@abc.com/INBOX",
                                         "INBOX"]
    assert has_line(peter, "peter.mueller@abc.com", "accepted")
    assert has_line(peter, "peter.müller@abc.com", "accepted")

    tom = section(out, "Tom Berger")
    # Peter's share with Tom ended in 2024: nothing of his.
    assert sorted(folders_of(tom)) == ["Company/info@abc.com/INBOX", "INBOX"]
    assert re.search(r"peter\.mueller@abc\.com\s+rejected 554 5\.7\.1 .*"
                     + NOT_YOURS, tom)
    assert has_line(tom, "info@abc.com", "accepted")

    anna = section(out, "Anna Schmidt")
    assert "abc.com" not in " ".join(folders_of(anna))
    assert "Company/info@xyz.org/INBOX" in folders_of(anna)
    assert has_line(anna, "info@abc.com", "rejected", "554", "5.7.1")
    assert has_line(anna, "info@xyz.org", "accepted")


def test_milter_rejects_a_forged_from(demo):
    text = section(demo["out"], "The header From: counts too")
    assert ("From: Peter Müller <peter.mueller@abc.com>: rejected 550 "
            "5.7.1 From: <peter.mueller@abc.com>: " + SHARED_RO) in text
    assert "(at end of DATA)" in text
    assert "From: info@abc.com: accepted" in text


def test_share_and_unshare(demo):
    share = section(demo["out"], "Peter goes on vacation")
    assert "$ mailgrants share --as peter.mueller@abc.com" in share
    assert "added cn=vacation-tom,uid=peter.mueller," in share
    assert re.search(r"after \d+\.\d s Tom's IMAP LIST shows:\n(.*\n)*"
                     r"\s+Shared/peter\.mueller@abc\.com/INBOX\s+lrwstiek",
                     share)
    assert re.search(r"Tom sends as peter\.mueller@abc\.com: rejected 554 "
                     r"5\.7\.1 .*" + SHARED_RO + r".*\(at MAIL FROM\)",
                     share)
    unshare = section(demo["out"], "Peter is back and unshares")
    assert "deleted cn=vacation-tom,uid=peter.mueller," in unshare
    assert re.search(r"after \d+\.\d s Tom's IMAP LIST no longer shows "
                     r"Shared/peter\.mueller@abc\.com/INBOX", unshare)
    check = section(demo["out"], "mailgrants check")
    assert re.search(r"sync:\s+live \(persist\)", check)


def test_left_running_then_stopped(demo):
    out, state, d = demo["out"], demo["state"], demo["dir"]
    assert demo["rc"] == 0, out + demo["err"]
    assert "Thunderbird" not in out      # CI: no mail client part
    assert "Stop it with: make demo-stop" in out
    procs = state["procs"]
    assert sorted(p["name"] for p in procs) == sorted([
        "slapd", "dovecot", "mailgrants sync --follow",
        "mailgrants-policyd", "mailgrants-milter", "postfix"])

    # make returned; the servers did not go with it.
    m = imaplib.IMAP4("127.0.0.1", state["imap_port"], timeout=20)
    assert m.login("sandra.schuster@abc.com", "sandra-pw")[0] == "OK"
    m.logout()

    rc, out2, err2 = make(demo["repo"], demo["build"], d, "demo")
    assert rc == 0, out2 + err2
    assert re.search(r"a demo is already running \(%s, .*\); make "
                     r"demo-stop first" % re.escape(d), out2), out2
    assert "Starting the sandbox" not in out2
    with open(os.path.join(d, "demo.state")) as f:
        assert json.load(f)["procs"] == procs

    rc, out3, err3 = make(demo["repo"], demo["build"], d, "demo-stop")
    assert rc == 0, out3 + err3
    assert "demo: stopped, %s removed" % d in out3
    assert not os.path.exists(d)
    for p in procs:
        assert group_gone(p["pid"]), "%s (%d) left" % (p["name"], p["pid"])
    assert processes_mentioning(d) == []

    rc, out4, err4 = make(demo["repo"], demo["build"], d, "demo-stop")
    assert rc == 0 and "no demo is running in %s" % d in out4, out4 + err4
