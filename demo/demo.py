#!/usr/bin/python3
"""make demo: the abc.com story on real servers, left running for you.

    demo/demo.py [--ci]     start the sandbox, walk through the story
    demo/demo.py --stop     stop the sandbox and remove it (make demo-stop)

Starts, below one directory ($MAILGRANTS_DEMO_DIR, default
/tmp/mailgrants-demo; see demo/sandbox.py): slapd with the mailgrants
schema, access rules, syncprov and the abc.com example;
`mailgrants sync --follow`; Dovecot with the mailgrants plugin;
Postfix with mailgrants-policyd and mailgrants-milter; all on loopback
ports. Then it walks through the story with real IMAP and SMTP
sessions: for each person, what they see (namespaces, folders, rights)
and what happens when they send as each address; a forged From: line;
Peter sharing his mailbox with Tom for his vacation, with the right to
send on behalf of him (From: Peter with Sender: Tom), and unsharing.

The sandbox keeps running afterwards, for a real mail client
(Thunderbird: the settings are printed at the end), until
`make demo-stop`. A second `make demo` meanwhile says so and stops.
--ci (or CI in the environment) leaves out the mail client part.

Needs root (Dovecot and Postfix change to their own users) and the
built tree ($MAILGRANTS_BUILD, default build/).
"""

import datetime
import email.utils
import imaplib
import os
import re
import signal
import smtplib
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from sandbox import (CACHE_SECS, PASSWORDS, REPO, Sandbox,  # noqa: E402
                     SandboxError)

BUILD = os.environ.get("MAILGRANTS_BUILD", os.path.join(REPO, "build"))
MG = os.path.join(BUILD, "mailgrants")
DEMO_DIR = os.environ.get("MAILGRANTS_DEMO_DIR", "/tmp/mailgrants-demo")

PEOPLE = [
    ("Sandra Schuster", "sandra.schuster@abc.com"),
    ("Jana Meier", "jana.meier@abc.com"),
    ("Peter Müller", "peter.mueller@abc.com"),
    ("Tom Berger", "tom.berger@abc.com"),
    ("Anna Schmidt (xyz.org)", "anna.schmidt@xyz.org"),
]
# Every address of the story, in the order the walk-through tries them.
ADDRESSES = ["sandra.schuster@abc.com", "makler@abc.com",
             "jana.meier@abc.com", "buchhaltung@abc.com",
             "peter.mueller@abc.com", "peter.müller@abc.com",
             "info@abc.com", "info@xyz.org"]
CUSTOMER = "kunde@example.net"
PETER, TOM, SANDRA = ("peter.mueller@abc.com", "tom.berger@abc.com",
                      "sandra.schuster@abc.com")
JANA = "jana.meier@abc.com"
SHARED_BOX = "Shared/peter.mueller@abc.com"


def say(text=""):
    print(text, flush=True)


def mailgrants(state, *args, check=True):
    r = subprocess.run([MG, "-c", state["conf"]] + list(args),
                       capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise SandboxError("mailgrants %s failed (%d): %s"
                           % (" ".join(args), r.returncode,
                              r.stderr.strip()))
    return r


# -- SMTP -------------------------------------------------------------------

def message(header_from, to, subject, header_sender=None):
    """A small message as bytes (UTF-8 allowed: sent with SMTPUTF8)."""
    lines = ["From: %s" % header_from] + (
        ["Sender: %s" % header_sender] if header_sender else []) + [
        "To: <%s>" % to,
             "Subject: %s" % subject,
             "Date: %s" % email.utils.formatdate(localtime=True),
             "Message-ID: <%s@demo.mailgrants>" % uuid.uuid4().hex,
             "", "Sent by make demo.", ""]
    return "\r\n".join(lines).encode("utf-8")


def smtp_login(state, login):
    s = smtplib.SMTP("127.0.0.1", state["submission_port"], timeout=30)
    s.ehlo("client.example.net")
    s.login(login, PASSWORDS[login])
    return s


def smtp_send(s, envelope, header_from, to=CUSTOMER, subject="demo",
              header_sender=None):
    """One transaction on an open connection: ("accepted", reply) or
    ("rejected", "CODE text (at COMMAND)"), COMMAND the one whose reply
    refused it (a wrong envelope sender: MAIL FROM, as the submission
    service has smtpd_delay_reject = no); the connection stays usable."""
    opts = [] if (envelope + header_from).isascii() else ["SMTPUTF8"]
    try:
        s.sendmail(envelope, [to], message(header_from, to, subject,
                                           header_sender),
                   mail_options=opts)
        return "accepted", "250 queued"
    except smtplib.SMTPRecipientsRefused as e:
        (code, text), stage = e.recipients[to], "RCPT TO"
    except smtplib.SMTPSenderRefused as e:
        code, text, stage = e.smtp_code, e.smtp_error, "MAIL FROM"
    except smtplib.SMTPDataError as e:
        code, text, stage = e.smtp_code, e.smtp_error, "end of DATA"
    return "rejected", "%d %s (at %s)" % (
        code, text.decode("utf-8", "replace"), stage)


def deliver_from_outside(state):
    """A customer writes to info@ and to Peter, on the port-25 service
    (no login: a foreign sender passes); Postfix delivers by LMTP."""
    s = smtplib.SMTP("127.0.0.1", state["smtp_port"], timeout=30)
    try:
        s.ehlo("mx.example.net")
        for to in ("info@abc.com", PETER):
            s.sendmail(CUSTOMER, [to],
                       message("Kunde <%s>" % CUSTOMER, to,
                               "Anfrage Wohnung Lindenstrasse"))
    finally:
        s.quit()


# -- IMAP -------------------------------------------------------------------

def imap_login(state, login):
    m = imaplib.IMAP4("127.0.0.1", state["imap_port"], timeout=30)
    typ, _ = m.login(login, PASSWORDS[login])
    assert typ == "OK"
    return m


def quoted(name):
    return '"%s"' % name.replace("\\", "\\\\").replace('"', '\\"')


def myrights(m, name):
    typ, data = m.myrights(quoted(name))
    if typ != "OK":
        return "(%s)" % data[0].decode(errors="replace")
    return data[0].decode().rsplit(" ", 1)[1]


def messages(m, name):
    typ, data = m.status(quoted(name), "(MESSAGES)")
    if typ != "OK":
        return "?"
    found = re.search(rb"MESSAGES (\d+)", data[0])
    return found.group(1).decode() if found else "?"


def list_mailboxes(m):
    """LIST "" "*": [(name, flags)] in the server's order."""
    typ, data = m.list('""', '"*"')
    assert typ == "OK", data
    out = []
    for line in data:
        if isinstance(line, tuple):     # a name sent as a literal
            line = re.sub(rb"\{\d+\}$", b'"', line[0]) + \
                line[1].replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
        if line is None:
            continue
        found = re.match(rb'\(([^)]*)\) (?:"[^"]*"|NIL) (.*)$', line)
        name = found.group(2)
        if name.startswith(b'"'):
            name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\",
                                                             b"\\")
        out.append((name.decode(), found.group(1).decode().split()))
    return out


def folders(state, login):
    """NAMESPACE, and [(mailbox, rights, messages)] for every mailbox
    login can select (LIST's \\Noselect levels left out)."""
    m = imap_login(state, login)
    try:
        typ, ns = m.namespace()
        rows = [(name, myrights(m, name), messages(m, name))
                for name, flags in list_mailboxes(m)
                if "\\Noselect" not in flags and
                "\\NonExistent" not in flags]
    finally:
        m.logout()
    return ns[0].decode(), rows


def namespace_text(ns):
    """NAMESPACE's three lists, prefixes only."""
    parts = re.findall(r'NIL|\((?:\("[^"]*" (?:"[^"]*"|NIL)\))+\)', ns)
    names = ("personal", "other users", "shared")
    out = []
    for label, part in zip(names, parts):
        prefixes = re.findall(r'\("([^"]*)"', part)
        out.append("%s %s" % (label, ", ".join('"%s"' % p for p in prefixes)
                              if prefixes else "none"))
    return "; ".join(out)


def wait_for(pred, timeout):
    """Poll pred until true; the seconds it took, or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return time.monotonic() - t0
        time.sleep(0.2)
    return None


# -- the walk-through -------------------------------------------------------

def show_person(state, name, login):
    say("\n== %s logs in as %s (password %s)" % (name, login,
                                                  PASSWORDS[login]))
    ns, rows = folders(state, login)
    say("   IMAP NAMESPACE: %s" % namespace_text(ns))
    say("   IMAP folders (LIST), MYRIGHTS and messages (STATUS):")
    for mbox, rights, count in rows:
        say("     %-42s %-14s %s" % (mbox, rights, count))
    say("   SMTP submission as each address (MAIL FROM and From:):")
    s = smtp_login(state, login)
    try:
        for a in ADDRESSES:
            verdict, reply = smtp_send(s, a, a)
            say(("     %-26s %-8s %s" % (a, verdict,
                                         "" if verdict == "accepted"
                                         else reply)).rstrip())
    finally:
        s.quit()
    ids = mailgrants(state, "identities", login).stdout.split()[1::2]
    say("   From addresses for the mail client (mailgrants identities): %s"
        % ", ".join(ids))


def share_step(state):
    pwfile = os.path.join(state["dir"], "peter.pw")
    with open(pwfile, "w") as f:
        f.write(PASSWORDS[PETER] + "\n")
    os.chmod(pwfile, 0o600)
    until = (datetime.date.today() + datetime.timedelta(days=14)).isoformat()
    say("\n== Peter goes on vacation and shares his mailbox with Tom, "
        "as himself,\n   with the right to send on behalf of him:")
    argv = ["share", "--as", PETER, "--password-file", pwfile,
            "--name", "vacation-tom", "--until", until, "--on-behalf",
            PETER, TOM]
    say("   $ mailgrants %s" % " ".join(argv))
    for line in mailgrants(state, *argv).stdout.splitlines():
        say("   " + line)

    def tom_sees():
        return any(row[0] == SHARED_BOX for row in folders(state, TOM)[1])
    took = wait_for(tom_sees, CACHE_SECS + 20)
    if took is None:
        raise SandboxError("Tom never saw %s" % SHARED_BOX)
    rows = [r for r in folders(state, TOM)[1]
            if r[0].startswith("Shared/")]
    say("   after %.1f s Tom's IMAP LIST shows:" % took)
    for mbox, rights, count in rows:
        say("     %-42s %-14s %s" % (mbox, rights, count))
    for line in mailgrants(state, "explain", TOM, PETER).stdout.splitlines():
        if line.startswith("on behalf:") or line.startswith("  by:"):
            say("   " + line)
    s = smtp_login(state, TOM)
    try:
        verdict, reply = smtp_send(s, PETER, PETER)
        say("   Tom sends as %s: %s %s" % (PETER, verdict, reply))
        # On behalf: From: Peter, Sender: Tom, Tom's own envelope.
        for sender, label in (("Tom Berger <%s>" % TOM, "Sender: " + TOM),
                              (None, "no Sender field")):
            verdict, reply = smtp_send(
                s, TOM, "Peter M\u00fcller <%s>" % PETER,
                header_sender=sender)
            say(("   Tom, MAIL FROM:<%s>, From: %s, %s: %s %s"
                 % (TOM, PETER, label, verdict,
                    "" if verdict == "accepted" else reply)).rstrip())
    finally:
        s.quit()

    say("\n== The audit trail: what Tom's access rests on, since when:")
    argv = ["audit", "access", "--file", state["audit_log"], TOM, PETER]
    say("   $ mailgrants %s" % " ".join(argv))
    for line in mailgrants(state, *argv).stdout.splitlines():
        say("   " + line)

    say("\n== Peter is back and unshares:")
    argv = ["unshare", "--as", PETER, "--password-file", pwfile, PETER, TOM]
    say("   $ mailgrants %s" % " ".join(argv))
    for line in mailgrants(state, *argv).stdout.splitlines():
        say("   " + line)
    took = wait_for(lambda: not tom_sees(), CACHE_SECS + 20)
    if took is None:
        raise SandboxError("%s did not go away for Tom" % SHARED_BOX)
    say("   after %.1f s Tom's IMAP LIST no longer shows %s"
        % (took, SHARED_BOX))
    os.unlink(pwfile)


def milter_step(state):
    say("\n== The header From: counts too (mailgrants-milter):")
    s = smtp_login(state, SANDRA)
    try:
        cases = [
            (email.utils.formataddr(("Peter Müller", PETER)),
             "From: Peter Müller <%s>" % PETER),
            ("ABC Immobilien <info@abc.com>", "From: info@abc.com"),
        ]
        for header, label in cases:
            verdict, reply = smtp_send(s, SANDRA, header)
            say(("   Sandra, MAIL FROM:<%s>, %s: %s %s"
                 % (SANDRA, label, verdict,
                    "" if verdict == "accepted" else reply)).rstrip())
    finally:
        s.quit()


def audit_step(state):
    say("\n== The audit trail: who sent as %s, or tried to:" % PETER)
    argv = ["audit", "sent", "--file", state["policyd_log"], "--file",
            state["milter_log"], PETER]
    say("   $ mailgrants %s" % " ".join(argv))
    for line in mailgrants(state, *argv).stdout.splitlines():
        say("   " + line)


def sent_copy_step(state):
    say("\n== Sent copies: mail sent as info@ lands in info@'s own Sent")
    for line in mailgrants(state, "explain", SANDRA,
                           "info@abc.com").stdout.splitlines():
        if line.startswith("sent copies:"):
            say("   mailgrants explain: " + line)
    s = smtp_login(state, SANDRA)
    try:
        verdict, reply = smtp_send(s, SANDRA, "ABC Immobilien "
                                   "<info@abc.com>",
                                   subject="Ihre Anfrage Lindenstrasse")
    finally:
        s.quit()
    say("   Sandra sends as info@abc.com: %s" % verdict)
    box = "Company/info@abc.com/Sent"

    def found():
        m = imap_login(state, JANA)
        try:
            typ, _ = m.select(quoted(box), readonly=True)
            if typ != "OK":
                return None
            typ, data = m.search(None, "SUBJECT", "Lindenstrasse", "SEEN")
            return data[0].split() or None
        finally:
            m.logout()
    got = wait_for(found, 20)
    say("   Jana (another employee) finds it in %s, seen: %s"
        % (box, "yes" if got else "NOT YET, see the maillog"))


def walk_through(state):
    say("\n== A customer writes to info@abc.com and to Peter "
        "(port 25, no login)")
    deliver_from_outside(state)
    got = wait_for(lambda: messages_of(state, PETER, "INBOX") >= 1 and
                   messages_of(state, SANDRA,
                               "Company/info@abc.com") >= 1, 20)
    say("   delivered by Postfix to Dovecot (LMTP)%s"
        % ("" if got is not None else ": NOT YET, see the maillog"))
    for name, login in PEOPLE:
        show_person(state, name, login)
    milter_step(state)
    sent_copy_step(state)
    share_step(state)
    audit_step(state)
    say("\n== mailgrants check")
    for line in mailgrants(state, "check").stdout.splitlines():
        say("   " + line)


def messages_of(state, login, mbox):
    m = imap_login(state, login)
    try:
        count = messages(m, mbox)
    finally:
        m.logout()
    return int(count) if count.isdigit() else 0


def print_servers(state):
    say("   directory   %s  (base %s)" % (state["dir"], state["slapd_base"]))
    say("   slapd       ldap://127.0.0.1:%d/" % state["ldap_port"])
    say("   Dovecot     IMAP 127.0.0.1:%d, LMTP 127.0.0.1:%d"
        % (state["imap_port"], state["lmtp_port"]))
    say("   Postfix     submission 127.0.0.1:%d, port-25 service "
        "127.0.0.1:%d" % (state["submission_port"], state["smtp_port"]))
    say("   mailgrants  %s" % state["conf"])


def print_client_settings(state):
    say("""
== Point a mail client at it (Thunderbird: Account Settings > Add Mail
   Account > Configure manually), on this machine:
   Incoming  IMAP  server 127.0.0.1  port {imap}  connection security: None
                   authentication: Normal password
   Outgoing  SMTP  server 127.0.0.1  port {sub}  connection security: None
                   authentication: Normal password
   Username  the address; password:""".format(
        imap=state["imap_port"], sub=state["submission_port"]))
    for login in PASSWORDS:
        say("             %-26s %s" % (login, PASSWORDS[login]))
    say("""   (Thunderbird warns about the missing encryption: this sandbox
   listens on loopback only. From another machine, use an SSH tunnel:
   ssh -L {imap}:127.0.0.1:{imap} -L {sub}:127.0.0.1:{sub} this-host)

   Try: Sandra's Shared/ and Company/ folders, sending as makler@ (works)
   and as peter.mueller@ (refused), and shares of your own (Peter's
   password is peter-pw):
   {mg} -c {conf} share --as peter.mueller@abc.com \\
       peter.mueller@abc.com tom.berger@abc.com
   Sandra's From addresses as Thunderbird identities (user.js lines; or
   Account Settings > Manage Identities by hand):
   {mg} -c {conf} identities --format thunderbird \\
       --name "Sandra Schuster" sandra.schuster@abc.com
   All mail stays in the sandbox: Postfix hands every recipient, also
   outside abc.com, to Dovecot. Logs in {d}: postfix/maillog,
   dovecot/dovecot.log, policyd-1.log, milter-1.log, sync.log""".format(
        imap=state["imap_port"], sub=state["submission_port"], mg=MG,
        conf=state["conf"], d=state["dir"]))


def interrupted(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def start(ci):
    sb = Sandbox(DEMO_DIR, BUILD)
    running = sb.running()
    if running is not None:
        say("a demo is already running (%s, ports: IMAP %s, submission %s);"
            " make demo-stop first" % (sb.dir,
                                       running.get("imap_port", "?"),
                                       running.get("submission_port", "?")))
        return 0
    if os.geteuid() != 0:
        say("demo: Dovecot and Postfix must start as root (they change to "
            "their own users): run sudo make demo")
        return 1
    say("== Starting the sandbox in %s" % DEMO_DIR)
    t0 = time.monotonic()
    # Killed while starting: stop what started (sb.start() cleans up on
    # any exception). Killed later: the sandbox stays, for demo-stop.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)
    state = sb.start()
    say("   slapd, mailgrants sync --follow, Dovecot + plugin, "
        "mailgrants-policyd, mailgrants-milter, Postfix: up in %.1f s"
        % (time.monotonic() - t0))
    print_servers(state)
    try:
        walk_through(state)
    except BaseException:
        say("\ndemo: the walk-through stopped; the sandbox keeps running in"
            " %s (logs there); make demo-stop removes it" % DEMO_DIR)
        raise
    say("\n== The sandbox keeps running in %s" % DEMO_DIR)
    print_servers(state)
    if not ci:
        print_client_settings(state)
    say("\nStop it with: make demo-stop")
    return 0


def stop():
    sb = Sandbox(DEMO_DIR, BUILD)
    if sb.stop():
        say("demo: stopped, %s removed" % DEMO_DIR)
    else:
        say("demo: no demo is running in %s" % DEMO_DIR)
    return 0


def main(argv):
    args = argv[1:]
    if args not in ([], ["--ci"], ["--stop"]):
        sys.stderr.write("usage: demo.py [--ci | --stop]\n")
        return 1
    try:
        if args == ["--stop"]:
            return stop()
        return start("--ci" in args or bool(os.environ.get("CI")))
    except SandboxError as e:
        sys.stderr.write("demo: %s\n" % e)
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("demo: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv))
