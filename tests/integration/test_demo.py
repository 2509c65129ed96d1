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
import pwd
import re
import shutil
import signal
import smtplib
import stat
import subprocess
import sys
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


def mailboxes_of(text):
    """folders_of() without the Sent folders that sent copies create
    while the people before send as company mailboxes (when LMTP has
    filed them: a race the listing must not depend on)."""
    return [n for n in folders_of(text) if not n.endswith("/Sent")]


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
    assert has_line(sandra, "Private/makler@abc.com", "lrwstipekxacd")
    assert has_line(sandra, "Company/info@abc.com", "lrwstipekcd",
                    "1")
    # Peter's mail, delivered by Postfix through LMTP, in Shared/.
    assert has_line(sandra, "Shared/peter.mueller@abc.com",
                    "lrwstiekcd", "1")
    # vertrieb@abc.com is for cn=vertrieb (Jana, Peter), not for her.
    assert "Company/vertrieb@abc.com" not in folders_of(sandra)
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
    assert "Private/buchhaltung@abc.com" in folders_of(jana)
    assert "Private/makler@abc.com" not in folders_of(jana)
    assert "Shared/peter.mueller@abc.com" in folders_of(jana)
    assert "Company/vertrieb@abc.com" in folders_of(jana)
    assert has_line(jana, "buchhaltung@abc.com", "accepted")
    assert has_line(jana, "makler@abc.com", "rejected", "554", "5.7.1")

    peter = section(out, "Peter Müller")
    assert has_line(peter, "INBOX", "lrwstipekxacd", "1")
    assert sorted(mailboxes_of(peter)) == ["Company/info@abc.com",
                                         "Company/vertrieb@abc.com",
                                         "INBOX"]
    assert has_line(peter, "peter.mueller@abc.com", "accepted")
    assert has_line(peter, "peter.müller@abc.com", "accepted")

    tom = section(out, "Tom Berger")
    # Peter's share with Tom ended in 2024: nothing of his.
    assert sorted(mailboxes_of(tom)) == ["Company/info@abc.com", "INBOX"]
    assert re.search(r"peter\.mueller@abc\.com\s+rejected 554 5\.7\.1 .*"
                     + NOT_YOURS, tom)
    assert has_line(tom, "info@abc.com", "accepted")

    anna = section(out, "Anna Schmidt")
    assert "abc.com" not in " ".join(folders_of(anna))
    assert "Company/info@xyz.org" in folders_of(anna)
    assert has_line(anna, "info@abc.com", "rejected", "554", "5.7.1")
    assert has_line(anna, "info@xyz.org", "accepted")


def test_sent_copy_shown(demo):
    text = section(demo["out"], "Sent copies")
    assert ("mailgrants explain: sent copies: yes (site default "
            "sent_copies)") in text
    assert "Sandra sends as info@abc.com: accepted" in text
    assert ("Jana (another employee) finds it in Company/info@abc.com/Sent"
            ", seen: yes") in text


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
                     r"\s+Shared/peter\.mueller@abc\.com\s+lrwstiek",
                     share)
    # With the right to send on behalf: never as Peter, From: Peter
    # only with Sender: Tom.
    assert "--on-behalf" in share
    assert ("on behalf: yes: From: peter.mueller@abc.com with Sender: "
            "tom.berger@abc.com's own address") in share
    assert "by:     cn=vacation-tom,uid=peter.mueller," in share
    assert re.search(r"Tom sends as peter\.mueller@abc\.com: rejected 554 "
                     r"5\.7\.1 .*you may send on behalf of this address, "
                     r"not as it.*\(at MAIL FROM\)", share)
    assert ("Tom, MAIL FROM:<tom.berger@abc.com>, From: "
            "peter.mueller@abc.com, Sender: tom.berger@abc.com: accepted"
            in share)
    assert re.search(r"Tom, MAIL FROM:<tom\.berger@abc\.com>, From: "
                     r"peter\.mueller@abc\.com, no Sender field: rejected 550 "
                     r"5\.7\.1 From: <peter\.mueller@abc\.com>: you may "
                     r"send on behalf of this address only with a Sender: "
                     r".*\(at end of DATA\)", share)
    unshare = section(demo["out"], "Peter is back and unshares")
    assert "deleted cn=vacation-tom,uid=peter.mueller," in unshare
    assert re.search(r"after \d+\.\d s Tom's IMAP LIST no longer shows "
                     r"Shared/peter\.mueller@abc\.com", unshare)
    check = section(demo["out"], "mailgrants check")
    assert re.search(r"sync:\s+live \(persist\)", check)


def test_demo_audit(demo):
    """make demo shows both audit answers (issue 16): Tom's access
    rests on the vacation-tom share Peter added, and who sent as Peter:
    Sandra's forged From: refused, Tom's envelope refused as on behalf
    only (his share carries the right to send on behalf), his From:
    Peter with Sender: himself accepted on behalf, all naming the
    deciding entry."""
    access = section(demo["out"], "The audit trail: what Tom's access")
    assert re.search(r"now: kind=shared visible=yes rights=lrwstiek ",
                     access), access
    assert re.search(r"rests on: dn=cn=vacation-tom,uid=peter\.mueller,",
                     access), access
    m = re.search(r"event=share time=(\S+) action=add "
                  r"by=peter\.mueller@abc\.com via=share ", access)
    assert m, access
    assert "since: %s" % m.group(1) in access
    sent = section(demo["out"], "The audit trail: who sent as")
    assert re.search(r"action=reject login=tom\.berger@abc\.com "
                     r"check=envelope address=<peter\.mueller@abc\.com> "
                     r"reason=on_behalf_only dn=cn=vacation-tom,", sent), \
        sent
    assert re.search(r"action=dunno login=tom\.berger@abc\.com "
                     r"check=from address=<peter\.mueller@abc\.com> "
                     r"reason=on_behalf dn=cn=vacation-tom,", sent), sent
    assert re.search(r"action=reject login=sandra\.schuster@abc\.com "
                     r"check=from address=<peter\.mueller@abc\.com> "
                     r"reason=shared_read_only", sent), sent


def test_demo_postfix_refuses_xclient(demo):
    # XCLIENT LOGIN= would let anyone on this host (or at the other end
    # of the SSH tunnel the demo suggests) send as anyone without AUTH.
    state = demo["state"]
    for port in (state["submission_port"], state["smtp_port"]):
        s = smtplib.SMTP("127.0.0.1", port, timeout=30)
        try:
            s.ehlo("client.example.net")
            assert not s.has_extn("xclient"), port
            code, text = s.docmd("XCLIENT", "LOGIN=peter.mueller@abc.com")
            assert code == 550, (port, code, text)
            code, text = s.docmd("MAIL", "FROM:<peter.mueller@abc.com>")
            if code == 250:
                code, text = s.docmd("RCPT", "TO:<%s>" % "kunde@example.net")
            assert code >= 500, (port, code, text)
        finally:
            s.close()


def test_left_running_then_stopped(demo):
    out, state, d = demo["out"], demo["state"], demo["dir"]
    assert demo["rc"] == 0, out + demo["err"]
    assert "Thunderbird" not in out      # CI: no mail client part
    assert "Stop it with: make demo-stop" in out
    procs = state["procs"]
    assert sorted(p["name"] for p in procs) == sorted([
        "slapd", "dovecot", "mailgrants sync --follow",
        "mailgrants-policyd", "mailgrants-milter", "postfix"])
    # The directory is the caller's, created afresh: nobody else lists
    # or writes it; the state holds processes (with the start time and
    # boot to check them by) and ports, no paths to act upon.
    st = os.lstat(d)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (os.geteuid(), 0o711)
    assert set(state) <= {"dir", "started", "procs"} | {
        k for k in state if k.endswith("_port")}
    assert all(set(p) == {"name", "pid", "start_time", "boot"}
               for p in procs)

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


# -- the sandbox directory: another user's, and stale records ----------------
#
# make demo-stop runs as root; /tmp/mailgrants-demo is a name anyone can
# take first. These plant what an attacker would: a demo.state naming an
# unrelated process (a sleep of ours) as a server, and a Postfix main.cf
# whose daemon_directory holds a postfix-script that creates a marker.

def run_demo_py(repo_dir, build_dir, demo_dir, *args):
    env = dict(os.environ, MAILGRANTS_DEMO_DIR=demo_dir,
               MAILGRANTS_BUILD=build_dir, CI="1")
    r = subprocess.run(["/usr/bin/python3",
                        os.path.join(repo_dir, "demo", "demo.py")] +
                       list(args), capture_output=True, text=True,
                       timeout=120, env=env, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr


def proc_start(pid):
    with open("/proc/%d/stat" % pid) as f:
        text = f.read()
    return int(text[text.rindex(")") + 2:].split()[19])


def boot_id():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


@pytest.fixture
def sleepers():
    """Unrelated processes (each the leader of its own process group)
    that nothing may signal."""
    procs = []

    def start():
        p = subprocess.Popen(["sleep", "600"], start_new_session=True)
        procs.append(p)
        return p
    yield start
    for p in procs:
        p.kill()
        p.wait()


def plant(demo_dir, marker, records):
    """A demo.state with records, and a main.cf whose daemon_directory
    is a directory with a postfix-script that creates marker."""
    evil = os.path.join(demo_dir, "evil")
    etc = os.path.join(demo_dir, "postfix", "etc")
    os.makedirs(evil)
    os.makedirs(etc)
    script = os.path.join(evil, "postfix-script")
    with open(script, "w") as f:
        f.write("#!/bin/sh\ntouch %s\n" % marker)
    os.chmod(script, 0o755)
    with open(os.path.join(etc, "main.cf"), "w") as f:
        f.write("compatibility_level = 3.6\ndaemon_directory = %s\n"
                "queue_directory = %s\n" % (evil, demo_dir))
    with open(os.path.join(etc, "master.cf"), "w") as f:
        f.write("")
    state = {"dir": demo_dir, "postfix_config": etc,
             "procs": [dict({"group": True, "boot": boot_id()}, **r)
                       for r in records]}
    with open(os.path.join(demo_dir, "demo.state"), "w") as f:
        json.dump(state, f)


def alive(p):
    return p.poll() is None


@pytest.mark.parametrize("how", ["nobody", "world-writable", "symlink"])
@pytest.mark.parametrize("action", ["--stop", "--ci"])
def test_a_planted_directory_is_refused(repo_dir, build_dir, tmp_path,
                                        sleepers, how, action):
    demo_dir = str(tmp_path / "mailgrants-demo")
    target = str(tmp_path / "theirs") if how == "symlink" else demo_dir
    os.mkdir(target)
    marker = str(tmp_path / "marker")
    victim = sleepers()
    other = sleepers()
    plant(target, marker, [
        {"name": "postfix", "pid": victim.pid,
         "start_time": proc_start(victim.pid),
         "exe": "/usr/lib/postfix/sbin/master"},
        # A stale record: the id is a live process group's, the start
        # time is not its leader's.
        {"name": "slapd", "pid": other.pid,
         "start_time": proc_start(other.pid) - 1}])
    nobody = pwd.getpwnam("nobody")
    if how == "nobody":
        for root, dirs, files in os.walk(demo_dir):
            for n in [root] + [os.path.join(root, x) for x in dirs + files]:
                os.chown(n, nobody.pw_uid, nobody.pw_gid)
    elif how == "world-writable":
        os.chmod(demo_dir, 0o777)
    else:
        os.symlink(target, demo_dir)
    rc, out, err = run_demo_py(repo_dir, build_dir, demo_dir, action)
    assert rc == 1, out + err
    expect = {"nobody": "belongs to nobody (uid %d), not to you"
              % nobody.pw_uid,
              "world-writable": "is writable by others (mode 0777)",
              "symlink": "exists and is not a directory"}[how]
    assert "demo: %s %s" % (demo_dir, expect) in err, err
    assert "MAILGRANTS_DEMO_DIR" in err
    assert "Traceback" not in err
    assert "Starting the sandbox" not in out
    assert not os.path.exists(marker)
    assert alive(victim) and alive(other)
    # Nothing of theirs removed either.
    assert os.path.exists(os.path.join(target, "demo.state"))


def test_a_directory_below_a_writable_one_is_refused(repo_dir, build_dir,
                                                     tmp_path):
    # Someone who can write the parent can swap the directory.
    parent = tmp_path / "open"
    parent.mkdir()
    os.chmod(parent, 0o777)
    demo_dir = str(parent / "demo")
    rc, out, err = run_demo_py(repo_dir, build_dir, demo_dir, "--ci")
    assert rc == 1, out + err
    assert "demo: %s is in %s, which others can change" % (
        demo_dir, parent) in err, err
    assert not os.path.exists(demo_dir)


def test_stale_records_signal_nobody(repo_dir, build_dir, tmp_path,
                                     sleepers):
    # The caller's own directory (as after a reboot, or with ids reused
    # since): records that do not match the process now holding the id
    # (executable, start time, boot) signal nothing, and Postfix's
    # configuration in the directory runs nothing.
    demo_dir = str(tmp_path / "mailgrants-demo")
    os.mkdir(demo_dir, 0o700)
    marker = str(tmp_path / "marker")
    wrong_exe, wrong_start, wrong_boot = sleepers(), sleepers(), sleepers()
    plant(demo_dir, marker, [
        {"name": "postfix", "pid": wrong_exe.pid,
         "start_time": proc_start(wrong_exe.pid)},
        {"name": "slapd", "pid": wrong_start.pid,
         "start_time": proc_start(wrong_start.pid) - 1},
        {"name": "dovecot", "pid": wrong_boot.pid,
         "start_time": proc_start(wrong_boot.pid), "boot": "0" * 32},
        {"name": "nonsense", "pid": wrong_exe.pid,
         "start_time": proc_start(wrong_exe.pid)}])
    rc, out, err = run_demo_py(repo_dir, build_dir, demo_dir, "--stop")
    assert rc == 0, out + err
    assert "demo: stopped, %s removed" % demo_dir in out
    assert not os.path.exists(marker)
    for p in (wrong_exe, wrong_start, wrong_boot):
        assert alive(p)
    assert not os.path.exists(demo_dir)


def test_a_process_counts_only_with_its_executable_start_and_boot():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..",
                                    "demo"))
    import sandbox
    p = subprocess.Popen(["/usr/bin/python3", "-c",
                          "import time; time.sleep(600)"],
                         start_new_session=True)
    try:
        exe = os.path.realpath("/usr/bin/python3")
        start = proc_start(p.pid)
        ours = {"ours": (exe, ())}

        def rec(**kw):
            d = dict({"name": "ours", "pid": p.pid, "start_time": start,
                      "boot": boot_id()}, **kw)
            return sandbox.Proc.from_json(d, ours)
        assert rec().alive()
        assert not rec(start_time=start + 1).alive()
        assert not rec(boot="0" * 32).alive()
        assert rec(name="slapd") is None
        assert rec(pid="%d" % p.pid) is None
        other = sandbox.Proc.from_json(
            {"name": "ours", "pid": p.pid, "start_time": start,
             "boot": boot_id()}, {"ours": ("/usr/sbin/slapd", ())})
        assert not other.alive() and not other.anything_left()
        other.signal(signal.SIGKILL)
        assert p.poll() is None
    finally:
        p.kill()
        p.wait()
