"""smtpbench - what bench-milter.py and bench-policy.py share for the
Postfix end-to-end figures: running smtp-load, CPU accounting, medians.

    from smtpbench import (LOGINS, CpuMeter, run_load, summary_line, ...)

run_load(tool, port, listfile, login=..., per_session=..., ...) runs
build/smtp-load once and returns its figures as a dict (mps, p50, p99,
accepted, rejected, errors, total, logins, ...). login is "xclient"
(XCLIENT LOGIN=, smtp-load's default) or "auth" (AUTH PLAIN with the
password in password_file, once per session, as a mail client does).

auth_stack(build, ldif, login, password, prefix, parts) starts slapd
with the example plus ldif, and tests/lib/stack.py's replica, Dovecot
(a passwd-file passdb: login with the {PLAIN} password), policy daemon
and milter, no Postfix; it appends their stop functions to parts and
returns (stack, pairs, password_file): the files run_load takes.
stop_parts(parts, who) calls them in reverse order, each whatever the
others did.

CpuMeter(parts) takes {name: pgid or None}: each part's CPU time is that
of every live process in the process group (utime + stime + cutime +
cstime from /proc/PID/stat, so that smtpd processes that exited and were
reaped by the Postfix master still count), plus "load" (smtp-load, from
getrusage of this process's children) and "machine" (the busy time of
all CPUs, /proc/stat); "other" = machine minus the parts: other
people's work on the machine during the run, the figure that tells a
clean run from a disturbed one. cpu_us(delta, name, messages) is CPU
microseconds per message.
"""

import os
import resource
import statistics
import subprocess
import sys

CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1

LOGINS = ("auth", "xclient")


def auth_stack(build, ldif, login, password, prefix, parts):
    """slapd + stack for AUTH PLAIN load (see the module doc)."""
    from dovecot import Dovecot, write_passwd_file
    from slapd import Slapd
    from stack import Stack

    slapd = Slapd()
    parts.append(slapd.close)
    rc, out, err = slapd.ldapadd(ldif, root=True)
    if rc != 0:
        raise RuntimeError("ldapadd: %s %s" % (out, err))

    def dovecot(stack):
        dcdir = stack.subdir("dovecot")
        passwd = write_passwd_file(os.path.join(dcdir, "passwd"),
                                   [login], password)
        return Dovecot(slapd.uri, slapd.sync_dn, slapd.sync_pw,
                       workdir=dcdir, passwd_file=passwd).start()
    stack = Stack(slapd, build, prefix=prefix, dovecot=dovecot,
                  postfix=False)
    parts.append(stack.close)
    pairs = os.path.join(stack.wd, "pairs")
    with open(pairs, "w") as f:
        f.write("%s %s\n" % (login, login))
    password_file = os.path.join(stack.wd, "password")
    with open(password_file, "w") as f:
        f.write(password + "\n")
    os.chmod(password_file, 0o600)
    return stack, pairs, password_file


def stop_parts(parts, who):
    """Stop what a benchmark started, last first, whatever fails."""
    for stop in reversed(parts):
        try:
            stop()
        except Exception as e:  # keep cleaning up
            print("%s: cleanup: %s" % (who, e), file=sys.stderr)


def proc_stat(pid):
    """(pgrp, utime+stime, cutime+cstime) of a process, in ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[2]), int(fields[11]) + int(fields[12]),
            int(fields[13]) + int(fields[14]))


def group_ticks(pgids):
    """{pgid: CPU ticks of its live processes and their reaped children}."""
    out = {g: 0 for g in pgids}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            pgrp, own, children = proc_stat(int(name))
        except (OSError, IndexError, ValueError):
            continue
        if pgrp in out:
            out[pgrp] += own + children
    return out


def machine_ticks():
    """Busy ticks of all CPUs (everything but idle and iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice;
    # guest time is already in user.
    return sum(v[:8]) - v[3] - v[4]


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


class CpuMeter:
    """CPU ticks of some process groups, this process's children and the
    machine, between start() and stop() (see the module doc)."""

    def __init__(self, parts):
        self.parts = {k: v for k, v in parts.items() if v}

    def _now(self):
        g = group_ticks(set(self.parts.values()))
        snap = {k: g[v] for k, v in self.parts.items()}
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        snap["load"] = (ru.ru_utime + ru.ru_stime) * CLK_TCK
        snap["machine"] = machine_ticks()
        return snap

    def start(self):
        self._t0 = self._now()

    def stop(self):
        t1 = self._now()
        d = {k: t1[k] - self._t0[k] for k in t1}
        counted = sum(v for k, v in d.items() if k != "machine")
        d["other"] = max(0.0, d["machine"] - counted)
        return d


def cpu_us(delta, name, messages):
    """CPU microseconds per message of one part of a CpuMeter delta."""
    if name not in delta or messages <= 0:
        return float("nan")
    return delta[name] / CLK_TCK * 1e6 / messages


def run_load(tool, port, listfile, login="auth", per_session=1,
             sessions=20, seconds=5.0, warmup=1.0, size=1024,
             rcpt="kunde@example.org", password_file=None, count=None,
             header_from=None, extra=()):
    """One smtp-load run; its figures as a dict, and its stderr.
    header_from: the header's From: (-F); extra: more smtp-load options
    (-S: the header's Sender:)."""
    argv = [tool, "-c", str(sessions), "-m", str(per_session),
            "-s", str(size), "-f", listfile, "-r", rcpt, "-v"]
    if header_from is not None:
        argv += ["-F", header_from]
    if count is not None:
        argv += ["-n", str(count), "-d", "120"]
    else:
        argv += ["-d", str(seconds), "-w", str(warmup)]
    if login == "auth":
        if not password_file:
            raise RuntimeError("login=auth needs a password file")
        argv += ["-a", password_file, "-A", "plain"]
    elif login != "xclient":
        raise ValueError("login must be auth or xclient")
    argv += list(extra)
    argv.append("127.0.0.1:%d" % port)
    r = subprocess.run(argv, capture_output=True, text=True,
                       timeout=(120 if count else seconds + warmup) + 60)
    line = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    kv = dict(x.split("=", 1) for x in line.split() if "=" in x)
    if r.returncode != 0 or "mps" not in kv or "total" not in kv:
        raise RuntimeError("smtp-load failed (%d): %s %s"
                           % (r.returncode, r.stdout, r.stderr))
    res = {}
    for k, v in kv.items():
        try:
            res[k] = float(v)
        except ValueError:
            res[k] = v
    res["p50"] = res["p50_ms"]
    res["p99"] = res["p99_ms"]
    return res, r.stderr


def median(xs):
    xs = [x for x in xs if x == x]          # without NaN
    return statistics.median(xs) if xs else float("nan")


def spread(xs):
    """(max - min) / median of a list of throughputs, in percent."""
    m = median(xs)
    return 100.0 * (max(xs) - min(xs)) / m if xs and m else float("nan")


def met(ok):
    return "met" if ok else "NOT met"


def login_text(login):
    return {"auth": "AUTH PLAIN", "xclient": "XCLIENT LOGIN"}[login]
