#!/usr/bin/python3
"""
NAME
    bench-dovecot.py - IMAP sessions with the mailgrants Dovecot plugin
    against stock Dovecot shared namespaces

SYNOPSIS
    MAILGRANTS_BUILD=build bench-dovecot.py [--scale full|small]
        [--sessions N] [--messages N] [--verbose] [--keep]

DESCRIPTION
    The Dovecot benchmark of issue 4. One session is: connect, LOGIN,
    NAMESPACE, LIST "" "*", SELECT <root>/<company mailbox> (its INBOX),
    LOGOUT (imaplib, wall time from connect to the end of LOGOUT). Three
    private Dovecot instances on loopback (and a fourth for reference),
    run side by side, with the Dovecot installed: 2.3 or 2.4 (each in
    its own configuration syntax, that of tests/lib/dovecot.py):

    plugin, example   lib20_mailgrants_plugin.so from the build tree
                      with the shipped dovecot-plugin/90-mailgrants.conf
                      (90-mailgrants-2.4.conf on 2.4; tests/lib/
                      mgdovecot.py),
                      replica synced from the abc.com example directory
                      (tests/lib/slapd.py); user Sandra Schuster,
                      SELECT Company/info@abc.com.
    plugin, big       the same Dovecot settings, replica synced from the
                      generated directory (tests/bench/gen-directory.py,
                      100,000 users; slapd harness, mailgrants sync
                      --once); one user of it with company mailboxes and
                      at least one share; SELECT of her first company
                      mailbox.
    stock             no mailgrants plugin: the acl and imap_acl
                      plugins, vfile ACLs (a dovecot-acl file in the
                      INBOX of every owner the big user sees, granting
                      her the rights the core gives her), two type=shared
                      namespaces Company/%%u/ and Shared/%%u/ and
                      acl_shared_dict = file:... naming those owners for
                      her. The same user and SELECT as "plugin, big".
                      On 2.4: prefixes Company/$user/ and Shared/$user/,
                      acl_driver = vfile, and acl_sharing_map { dict
                      file { path = ... } } for acl_shared_dict.
    stock, one root   reference, not part of the goals: the same with
                      one shared namespace Shared/%%u/ only (SELECT
                      Shared/<company mailbox>).

    Everything else is the same in all instances: the settings
    (mail_shared_explicit_inbox = no: an owner's INBOX is Root/<address>)
    of tests/lib/dovecot.py (auth_failure_delay = 0, no SSL, ...),
    Maildir storage under one mail uid, path-only mail location, the
    same few messages in every INBOX (written as Maildir files), and
    the passdb: a passwd-file with the two benchmark users (the
    directory is not asked at login, so its size cannot weigh on the
    LOGIN of one configuration only). slapd runs only for the syncs.

    A few unmeasured sessions per configuration come first (they build
    the index files and, for stock, dovecot-acl-list). The measured
    sessions then run in rounds, each round one session per
    configuration in a rotating order, so that a change in machine
    load hits all of them alike. Besides the whole session, the median
    time of each step is printed.

    The stock configuration cannot say which root an owner belongs to:
    acl_shared_dict lists every owner for both Company/ and Shared/, so
    stock LIST shows each of them twice ("stock, one root" shows what
    that costs). The table gives the number of names each LIST
    answered. Before the measured sessions, each LIST is checked: the
    plugin's must show exactly the Root/<address> names that
    `mailgrants access` gives, stock's at least those.

    Goals (from the issue): plugin/stock <= 1.0 and plugin with the big
    replica <= 1.1 x the plugin with the example replica, on the median
    session time. The table says whether they are met; timings never
    fail the benchmark.

OPTIONS
    --scale full|small  full (default, or $BENCH_SCALE): 100,000 users,
                        200 sessions; small: 5,000 users, 20 sessions
    --sessions N        measured sessions per configuration
    --messages N        messages in every INBOX (default 5)
    --verbose           print each configuration's LIST answer
    --keep              keep the temporary directory

DIAGNOSTICS
    Exit status 0 when every step ran; 1 when something failed (a
    missing binary, a sync, Dovecot, an IMAP command that did not
    answer OK, a LIST or SELECT that does not show what the grants
    say), with the reason on stderr.

ENVIRONMENT
    MAILGRANTS_BUILD      the build directory (required): mailgrants,
                          dovecot-plugin/lib20_mailgrants_plugin.so,
                          lib21_imap_mailgrants_plugin.so
    BENCH_SCALE           default for --scale
    MAILGRANTS_KEEP_TMP=1 like --keep
"""

import argparse
import grp
import imaplib
import json
import os
import pwd
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))

from daemonutil import tail  # noqa: E402
from dovecot import Dovecot, DovecotError, is_24  # noqa: E402
import mgdovecot  # noqa: E402
from mgdovecot import list_names  # noqa: E402
from slapd import Slapd, SlapdError  # noqa: E402

GEN = os.path.join(HERE, "gen-directory.py")
PLUGIN_SO = "lib20_mailgrants_plugin.so"
IMAP_PLUGIN_SO = "lib21_imap_mailgrants_plugin.so"
SYSTEM_MODULES = "/usr/lib/dovecot/modules"
MAIL_USER = "nobody"

SCALES = {
    "full": dict(gen=["--scale", "full"], sessions=200),
    "small": dict(gen=["--users", "5000", "--companies", "50",
                       "--company-mailboxes", "500", "--shares", "10000"],
                  sessions=20),
}
EXAMPLE_USER = "sandra.schuster@abc.com"
EXAMPLE_SELECT = "Company/info@abc.com"
PASSWORD = "bench-pw"
ROOTS = {"company": "Company/", "shared": "Shared/", "private": "Private/"}
WARMUP = 3
PHASES = ("connect+LOGIN", "NAMESPACE", "LIST", "SELECT", "LOGOUT")
CANDIDATES = 60  # users of the big directory looked at

GOAL_STOCK = 1.0
GOAL_BIG = 1.1


class BenchError(RuntimeError):
    """A step of the benchmark failed (not a timing: an error)."""


class BenchDovecot(Dovecot):
    """BenchDovecot - tests/lib/dovecot.py with a passwd-file passdb"""

    def __init__(self, passwd_file, **kw):
        # The LDAP settings are written but never used: the harness
        # takes the passwd-file as the passdb.
        super().__init__("ldap://127.0.0.1:9/", "cn=unused", "unused",
                         passwd_file=passwd_file, **kw)


def mkdir(path):
    """mkdir - a directory the Dovecot users can traverse"""
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o755)
    return path


def run_cli(cli, conf, args, what):
    """run_cli - one mailgrants command; its stdout"""
    p = subprocess.run([cli, "-c", conf] + args, capture_output=True,
                       text=True, timeout=300)
    if p.returncode != 0:
        raise BenchError("mailgrants %s failed (%d): %s%s"
                         % (what, p.returncode, p.stdout, p.stderr))
    return p.stdout


def sync(ldap, cli, work, name, mail_gid):
    """sync - mailgrants sync --once into work/name/grants.db; (replica
    path, summary line, seconds)"""
    d = mkdir(os.path.join(work, name))
    replica = os.path.join(d, "grants.db")
    conf = ldap.write_config(os.path.join(d, "mailgrants.conf"),
                             replica=replica, replica_group=mail_gid,
                             ldap_page_size=1000)
    t0 = time.monotonic()
    out = run_cli(cli, conf, ["sync", "--once"], "sync --once (%s)" % name)
    secs = time.monotonic() - t0
    return conf, replica, out.strip().splitlines()[-1], secs


def generate(scale, work):
    """generate - the big directory's LDIF and query pairs (whose logins
    are the candidate users); (ldif, queries, summary)"""
    ldif = os.path.join(work, "directory.ldif")
    queries = os.path.join(work, "queries.tsv")
    p = subprocess.run([sys.executable, GEN] + SCALES[scale]["gen"]
                       + ["-o", ldif, "--queries", queries,
                          "--query-count", "2000"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise BenchError("gen-directory.py failed (%d): %s"
                         % (p.returncode, p.stderr))
    m = re.search(r"gen-directory: (.*)", p.stderr)
    return ldif, queries, m.group(1) if m else "?"


def access(cli, conf, login):
    """access - the visible mailboxes of login other than her own, as
    [(kind, address, rights)] (mailgrants access --json)"""
    out = run_cli(cli, conf, ["access", "--json", login],
                  "access %s" % login)
    view = []
    for d in json.loads(out):
        if not d["visible"]:
            continue
        if d["kind"] == "private" and d["mailbox"] == login:
            continue
        view.append((d["kind"], d["mailbox"], d["rights"]))
    return sorted(view)


def pick_user(cli, conf, queries):
    """pick_user - a user of the big directory with a company mailbox
    and a share and no other private mailbox of her own (stock has no
    Private/ root), the smallest such view among the first candidates;
    (login, view)"""
    logins = []
    with open(queries, encoding="utf-8") as f:
        for line in f:
            login = line.split("\t", 1)[0]
            if login not in logins:
                logins.append(login)
            if len(logins) >= CANDIDATES:
                break
    best = None
    for login in logins:
        view = access(cli, conf, login)
        kinds = [k for k, _a, _r in view]
        if "company" not in kinds or "shared" not in kinds \
           or "private" in kinds:
            continue
        if best is None or len(view) < len(best[1]):
            best = (login, view)
    if best is None:
        raise BenchError("no user with a company mailbox and a share "
                         "among %d candidates" % len(logins))
    return best


def maildir(vmail, address):
    """maildir - the Maildir of address, as mail_location lays it out"""
    local, _, domain = address.rpartition("@")
    return os.path.join(vmail, domain, local, "Maildir")


def fill_maildir(path, count, owner, uid, gid):
    """fill_maildir - a Maildir with count messages in cur/"""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    for i in range(count):
        body = ("From: sender%d@example.net\r\nTo: %s\r\n"
                "Subject: bench message %d\r\n"
                "Date: Mon, 1 Jan 2024 10:%02d:00 +0000\r\n"
                "Message-ID: <bench%d.%s>\r\n\r\n"
                "Message %d for %s.\r\n"
                % (i, owner, i, i % 60, i, owner, i, owner)).encode()
        name = "1704103200.M%dP1.bench,S=%d:2," % (i, len(body))
        with open(os.path.join(path, "cur", name), "wb") as f:
            f.write(body)
    chown_tree(os.path.dirname(os.path.dirname(path)), uid, gid)


def chown_tree(top, uid, gid):
    """chown_tree - top and everything below it to uid:gid"""
    os.chown(top, uid, gid)
    for root, dirs, files in os.walk(top):
        for n in dirs + files:
            os.chown(os.path.join(root, n), uid, gid)


def plugin_conf(vmail, replica):
    """plugin_conf - the shipped snippet with this instance's paths and
    the shipped cache time; the replica's readers are the mail user's
    group (sync's replica_group)"""
    return mgdovecot.plugin_conf(
        REPO, vmail, replica, cache_secs=None,
        reader_group=grp.getgrgid(pwd.getpwnam(MAIL_USER).pw_gid).gr_name)


def stock_conf(vmail, dict_path, roots=("Company/", "Shared/")):
    """stock_conf - acl + imap_acl, vfile, a shared namespace per root,
    in the installed Dovecot's syntax"""
    if is_24():
        # 2.4: $user in prefixes, the owner's name in paths, the
        # plugins as boollists, acl_sharing_map for acl_shared_dict.
        ns_loc = ("  prefix = %s$user/\n  mail_driver = maildir\n"
                  "  mail_path = %s/%%{owner_user | domain}/"
                  "%%{owner_user | username}/Maildir\n")
        plugins = ("mail_plugins {\n  acl = yes\n}\n"
                   "protocol imap {\n  mail_plugins {\n"
                   "    imap_acl = yes\n  }\n}\n")
        acl = ("acl_driver = vfile\nacl_sharing_map {\n  dict file {\n"
               "    path = %s\n  }\n}\n")
    else:
        ns_loc = ("  prefix = %s%%%%u/\n"
                  "  location = maildir:%s/%%%%d/%%%%n/Maildir\n")
        plugins = ("mail_plugins = $mail_plugins acl\nprotocol imap {\n"
                   "  mail_plugins = $mail_plugins imap_acl\n}\n")
        acl = "plugin {\n  acl = vfile\n  acl_shared_dict = file:%s\n}\n"
    ns = []
    for prefix in roots:
        ns.append("namespace %s {\n  type = shared\n  separator = /\n"
                  "%s  list = children\n  subscriptions = no\n}\n"
                  % (prefix.rstrip("/").lower(), ns_loc % (prefix, vmail)))
    return ("namespace inbox {\n  inbox = yes\n  separator = /\n}\n"
            "%smail_shared_explicit_inbox = no\n%s%s"
            % (plugins, "".join(ns), acl % dict_path))


def make_plugin_dir(build, work):
    """make_plugin_dir - acl, imap_acl and our plugins in one directory"""
    d = mkdir(os.path.join(work, "plugins"))
    for name in ("lib01_acl_plugin.so", "lib02_imap_acl_plugin.so"):
        src = os.path.join(SYSTEM_MODULES, name)
        if not os.path.exists(src):
            raise BenchError("%s missing (dovecot-core/dovecot-imapd)"
                             % src)
        os.symlink(src, os.path.join(d, name))
    for name in (PLUGIN_SO, IMAP_PLUGIN_SO):
        os.symlink(os.path.join(build, "dovecot-plugin", name),
                   os.path.join(d, name))
    return d


class Config:
    """Config - one Dovecot instance under test and its session"""

    def __init__(self, name, login, select, expect_roots, view, dc,
                 exact=True):
        self.name = name
        self.exact = exact
        self.login = login
        self.select = select
        self.expect_roots = expect_roots
        self.view = view
        self.dc = dc
        self.times = []
        self.phases = []
        self.list_names = 0


def check(r, what):
    """check - an imaplib answer must be OK"""
    if r[0] != "OK":
        raise BenchError("%s: %s %r" % (what, r[0], r[1]))
    return r[1]


def session(c, messages):
    """session - one IMAP session; (seconds, [seconds per PHASES],
    LIST names)"""
    clock = time.perf_counter
    marks = [clock()]
    try:
        m = imaplib.IMAP4("127.0.0.1", c.dc.imap_port, timeout=60)
        check(m.login(c.login, PASSWORD), "%s LOGIN" % c.name)
        marks.append(clock())
        check(m.namespace(), "%s NAMESPACE" % c.name)
        marks.append(clock())
        names = list_names(check(m.list('""', '"*"'), "%s LIST" % c.name),
                           BenchError)
        marks.append(clock())
        data = check(m.select(c.select), "%s SELECT %s"
                     % (c.name, c.select))
        marks.append(clock())
        typ, bye = m.logout()
        marks.append(clock())
        if typ != "BYE":
            raise BenchError("%s LOGOUT: %s %r" % (c.name, typ, bye))
    except (OSError, imaplib.IMAP4.error) as e:
        raise BenchError("%s: IMAP session failed: %s\n%s"
                         % (c.name, e, tail(c.dc.log_path, 8)))
    if data[0] != str(messages).encode():
        raise BenchError("%s: SELECT %s: %s messages, %d expected"
                         % (c.name, c.select, data[0], messages))
    phases = [b - a for a, b in zip(marks, marks[1:])]
    return marks[-1] - marks[0], phases, names


def verify(c, names):
    """verify - the LIST of a configuration shows the grants: exactly
    for the plugin, at least for stock (which lists every owner under
    both roots)"""
    got = {n for n in names
           if n.split("/", 1)[0] + "/" in ROOTS.values()
           and n.count("/") == 1}
    if c.exact:
        ok = got == c.expect_roots
    else:
        ok = c.expect_roots <= got
    if not ok or "INBOX" not in names:
        raise BenchError("%s: LIST does not show the grants of %s:\n"
                         "  expected %s\n  listed   %s\n%s"
                         % (c.name, c.login, sorted(c.expect_roots),
                            sorted(names), tail(c.dc.log_path)))
    c.list_names = len(names)
    c.names = names


def expected_roots(view):
    """expected_roots - Root/<address> of each visible mailbox (its
    INBOX: mail_shared_explicit_inbox = no)"""
    return {ROOTS[k] + a for k, a, _r in view}


def start_dovecot(work, name, passwd, plugin_dir, extra):
    """start_dovecot - one instance under work/name (extra: a function
    of its vmail directory giving the extra configuration)"""
    d = mkdir(os.path.join(work, name))
    # Sessions follow each other faster than anvil hears of the end of
    # the last ones: no per user+IP limit (the same for all).
    dc = BenchDovecot(passwd, protocols=("imap",), plugin_dir=plugin_dir,
                      workdir=d, mail_user=MAIL_USER,
                      extra_conf="mail_max_userip_connections = 10000\n"
                      + extra(os.path.join(d, "vmail")))
    dc.start()
    return dc


def populate(dc, owners, messages):
    """populate - every owner's INBOX with the same messages"""
    for a in owners:
        fill_maildir(maildir(dc.vmail_dir, a), messages, a, dc.mail_uid,
                     dc.mail_gid)


def stock_acls(dc, login, view, dict_path):
    """stock_acls - dovecot-acl granting login the core's rights in each
    owner's INBOX, and the shared dict naming those owners for login"""
    lines = []
    for _kind, owner, rights in view:
        path = os.path.join(maildir(dc.vmail_dir, owner), "dovecot-acl")
        with open(path, "w") as f:
            f.write("user=%s %s\n" % (login, rights))
        os.chown(path, dc.mail_uid, dc.mail_gid)
        lines.append("shared/shared-boxes/user/%s/%s\n1\n" % (login, owner))
    with open(dict_path, "w") as f:
        f.write("".join(sorted(set(lines))))
    os.chown(dict_path, dc.mail_uid, dc.mail_gid)
    os.chown(os.path.dirname(dict_path), dc.mail_uid, dc.mail_gid)


def pct(values, p):
    """pct - the p-th percentile (nearest rank)"""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def main():
    """main - parse arguments, run, clean up"""
    ap = argparse.ArgumentParser(description="mailgrants Dovecot plugin "
                                 "benchmark")
    ap.add_argument("--scale", choices=sorted(SCALES),
                    default=os.environ.get("BENCH_SCALE") or "full")
    ap.add_argument("--sessions", type=int)
    ap.add_argument("--messages", type=int, default=5)
    ap.add_argument("--verbose", action="store_true",
                    help="print each configuration's LIST answer")
    ap.add_argument("--keep", action="store_true",
                    default=bool(os.environ.get("MAILGRANTS_KEEP_TMP")))
    a = ap.parse_args()
    if a.scale not in SCALES:
        ap.error("BENCH_SCALE must be one of %s" % ", ".join(SCALES))
    if a.sessions is None:
        a.sessions = SCALES[a.scale]["sessions"]
    if a.sessions < 1 or a.messages < 1:
        ap.error("--sessions and --messages must be >= 1")

    build = os.environ.get("MAILGRANTS_BUILD")
    if not build:
        sys.exit("bench-dovecot: MAILGRANTS_BUILD is not set")
    build = os.path.abspath(build)
    cli = os.path.join(build, "mailgrants")
    sos = [os.path.join(build, "dovecot-plugin", name)
           for name in (PLUGIN_SO, IMAP_PLUGIN_SO)]
    for f in [cli] + sos:
        if not os.path.exists(f):
            sys.exit("bench-dovecot: %s is missing (make all)" % f)

    if a.keep:
        os.environ["MAILGRANTS_KEEP_TMP"] = "1"
    work = tempfile.mkdtemp(prefix="mailgrants-bench-dovecot-", dir="/tmp")
    os.chmod(work, 0o755)
    dcs = []
    try:
        run(a, build, cli, work, dcs)
    except (BenchError, SlapdError, DovecotError, OSError,
            subprocess.SubprocessError) as e:
        print("bench-dovecot: FAILED: %s" % e, file=sys.stderr)
        return 1
    finally:
        for dc in dcs:
            dc.stop()
        if a.keep:
            print("bench-dovecot: keeping %s" % work, file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def run(a, build, cli, work, dcs):
    """run - replicas, three Dovecots, the sessions, the table"""
    say = print
    mail_gid = pwd.getpwnam(MAIL_USER).pw_gid
    say("bench-dovecot: scale %s, %d sessions per configuration, "
        "work directory %s" % (a.scale, a.sessions, work))

    # Replicas: the example, then the big directory.
    with Slapd() as ldap:
        _c, ex_replica, ex_summary, _s = sync(ldap, cli, work, "example",
                                              mail_gid)
        ex_conf = _c
    ex_view = access(cli, ex_conf, EXAMPLE_USER)
    t0 = time.monotonic()
    ldif, queries, gen_summary = generate(a.scale, work)
    say("generated: %s (%.1f s)" % (gen_summary, time.monotonic() - t0))
    ldap = Slapd(ldif=None, start=False)
    try:
        t0 = time.monotonic()
        ldap.load_offline(ldif)
        ldap.start(timeout=120)
        say("slapadd and start: %.1f s" % (time.monotonic() - t0))
        big_conf, big_replica, big_summary, big_secs = sync(
            ldap, cli, work, "big", mail_gid)
    finally:
        ldap.close()
    os.unlink(ldif)
    login, view = pick_user(cli, big_conf, queries)
    company = sorted(x for k, x, _r in view if k == "company")[0]
    big_select = "Company/%s" % company
    for label, replica, summary in (("example", ex_replica, ex_summary),
                                    ("big", big_replica, big_summary)):
        size = os.stat(replica).st_size
        say("replica %-7s %6.1f MiB  %s" % (label, size / 2**20, summary))
    say("sync of the big directory: %.1f s" % big_secs)
    say("example user %s sees %d mailboxes besides her own: %s"
        % (EXAMPLE_USER, len(ex_view),
           ", ".join("%s %s" % (k, x) for k, x, _r in ex_view)))
    say("big user %s sees %d mailboxes besides her own (%d company, "
        "%d shared)" % (login, len(view),
                        sum(1 for k, _x, _r in view if k == "company"),
                        sum(1 for k, _x, _r in view if k == "shared")))

    # Three Dovecots, one passdb.
    passwd = os.path.join(work, "passwd")
    with open(passwd, "w") as f:
        for u in (EXAMPLE_USER, login):
            f.write("%s:{PLAIN}%s\n" % (u, PASSWORD))
    os.chmod(passwd, 0o644)
    plugin_dir = make_plugin_dir(build, work)
    dict_dir = mkdir(os.path.join(work, "stock-dict"))

    def dict_path(name):
        return os.path.join(dict_dir, "%s.db" % name)

    # "stock, one root" is a reference, not part of the goals: one
    # shared namespace, so that stock lists each owner once.
    one_root = [("shared", x, r) for _k, x, r in view]
    configs = []
    for name, user, sel, v, extra in (
            ("plugin, example", EXAMPLE_USER, EXAMPLE_SELECT, ex_view,
             lambda vm: plugin_conf(vm, ex_replica)),
            ("plugin, big", login, big_select, view,
             lambda vm: plugin_conf(vm, big_replica)),
            ("stock", login, big_select, view,
             lambda vm: stock_conf(vm, dict_path("stock"))),
            ("stock, one root", login, "Shared/%s" % company,
             one_root,
             lambda vm: stock_conf(vm, dict_path("one-root"),
                                   roots=("Shared/",)))):
        dc = start_dovecot(work, "dovecot-%d" % len(configs), passwd,
                           plugin_dir, extra)
        dcs.append(dc)
        populate(dc, [user] + [x for _k, x, _r in v], a.messages)
        if name.startswith("stock"):
            stock_acls(dc, user, v, dict_path(
                "stock" if name == "stock" else "one-root"))
        configs.append(Config(name, user, sel, expected_roots(v), v, dc,
                              exact=name != "stock"))
    say("passdb: passwd-file with both users, the same in every "
        "configuration (the directory is not asked at login)")

    # Warm-up (indexes, dovecot-acl-list) and the check of each view.
    for c in configs:
        for _ in range(WARMUP):
            _s, _p, names = session(c, a.messages)
        verify(c, names)
        if a.verbose:
            say("LIST of %s (%s): %s" % (c.name, c.login, " ".join(names)))

    # Measured sessions: one of each configuration per round, the
    # order rotating from round to round.
    t_all = time.monotonic()
    for rnd in range(a.sessions):
        k = rnd % len(configs)
        for c in configs[k:] + configs[:k]:
            secs, phases, _names = session(c, a.messages)
            c.times.append(secs)
            c.phases.append(phases)
    say("measured in %.1f s" % (time.monotonic() - t_all))
    for c in configs:
        log = c.dc.log_text()
        errors = [ln for ln in log.splitlines()
                  if " Error: " in ln or " Fatal: " in ln
                  or " Panic: " in ln]
        if errors:
            raise BenchError("%s: errors in the Dovecot log:\n%s"
                             % (c.name, "\n".join(errors[-10:])))
    table(configs, a)


def table(configs, a):
    """table - the figures and the goals"""
    med = {c.name: statistics.median(c.times) for c in configs}
    stock = med["stock"]
    rows = []
    for c in configs:
        rows.append((c.name, c.login, c.select,
                     "%d" % c.list_names,
                     "%.2f" % (med[c.name] * 1e3),
                     "%.2f" % (pct(c.times, 95) * 1e3),
                     "%.2f" % sum(c.times),
                     "%.2f" % (med[c.name] / stock)))
    head = ("configuration", "user", "SELECT", "LIST names",
            "median ms", "p95 ms", "total s", "vs stock")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(8)]
    line = "  ".join("%-*s" % (widths[i], head[i]) for i in range(8))
    print()
    print(line.rstrip())
    print("-" * len(line.rstrip()))
    for r in rows:
        print("  ".join("%-*s" % (widths[i], r[i])
                        for i in range(8)).rstrip())
    print("(%d sessions per configuration after %d unmeasured; one "
          "session = connect, LOGIN, NAMESPACE, LIST \"\" \"*\", SELECT, "
          "LOGOUT; %d messages per INBOX)" % (a.sessions, WARMUP,
                                              a.messages))
    print()
    print("median ms per step: " + ", ".join(PHASES))
    for c in configs:
        steps = [statistics.median(p[i] for p in c.phases) * 1e3
                 for i in range(len(PHASES))]
        print("  %-*s %s" % (widths[0], c.name,
                             "  ".join("%6.2f" % x for x in steps)))
    r_stock = med["plugin, big"] / stock
    r_big = med["plugin, big"] / med["plugin, example"]
    print()
    for label, ratio, goal in (
            ("plugin (big) / stock", r_stock, GOAL_STOCK),
            ("plugin big / plugin example", r_big, GOAL_BIG)):
        print("goal %-28s %.3f <= %.1f: %s"
              % (label, ratio, goal, "met" if ratio <= goal else "not met"))


if __name__ == "__main__":
    sys.exit(main())
