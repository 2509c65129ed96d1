"""privsep - run probes as another identity (the writer or a reader).

    from privsep import as_user, probe_as, fds_of, proc_ids

as_user(user) -> preexec_fn that becomes user with its initgroups(3)
    groups (setgroups, setgid, setuid), as the daemons' --user does.
probe_as(user, db, pwfile) -> dict, run as user (needs root):
    read/rdwr + "" / "-wal" / "-shm": "ok" or the errno name of
        os.open(db + suffix, O_RDONLY / O_RDWR);
    password: open(pwfile) for reading; create: a new file next to db;
    select: a read-only SQLite read of users ("ok", count in "users");
    write: an SQLite DELETE through a read-write open ("ok" or
        "sqlite: <message>").
fds_of(pid, under) -> {path: {O_RDONLY/O_WRONLY/O_RDWR, ...}} of the
    files pid holds open below the directory under.
proc_ids(pid) -> {task: (uids, gids, groups, capabilities)} from
    /proc/PID/task/*/status.
"""

import json
import os
import pwd
import subprocess

PROBE = r"""
import errno, json, os, sqlite3, sys
db, pw, dirname = sys.argv[1:4]
out = {}
def err(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
    except sqlite3.Error as e:
        return "sqlite: %s" % e
for suffix in ("", "-wal", "-shm"):
    out["rdwr" + suffix] = err(lambda: os.close(os.open(db + suffix,
                                                         os.O_RDWR)))
    out["read" + suffix] = err(lambda: os.close(os.open(db + suffix,
                                                         os.O_RDONLY)))
out["password"] = err(lambda: open(pw).read())
out["create"] = err(lambda: os.close(os.open(os.path.join(dirname,
    "planted"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)))
def select():
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    out["users"] = c.execute("SELECT count(*) FROM users").fetchone()[0]
    c.close()
out["select"] = err(select)
def write():
    c = sqlite3.connect(db)
    c.execute("DELETE FROM users")
    c.commit()
out["write"] = err(write)
print(json.dumps(out))
"""


def as_user(user):
    """preexec_fn: become user with its initgroups(3) groups."""
    pw = pwd.getpwnam(user)

    def drop():
        os.setgroups(os.getgrouplist(pw.pw_name, pw.pw_gid))
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return drop


def probe_as(user, db, pwfile):
    r = subprocess.run(["/usr/bin/python3", "-c", PROBE, db, pwfile,
                        os.path.dirname(db)], capture_output=True,
                       text=True, timeout=30, preexec_fn=as_user(user))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def assert_reader_only(res):
    """What probe_as found for a reader: it reads the replica, and
    nothing else."""
    assert res["select"] == "ok" and res["users"] > 5, res
    for suffix in ("", "-wal", "-shm"):
        assert res["read" + suffix] == "ok", res
        assert res["rdwr" + suffix] == "EACCES", res
    assert res["password"] == "EACCES", res
    assert res["create"] == "EACCES", res
    assert res["write"].startswith("sqlite: attempt to write a readonly "
                                   "database"), res


def fds_of(pid, under):
    """{target: access modes} of pid's open files below a directory."""
    out = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                flags = int(f.read().split("flags:")[1].split()[0], 8)
        except (OSError, IndexError):
            continue
        if target.startswith(under.rstrip("/") + "/"):
            out.setdefault(target, set()).add(flags & os.O_ACCMODE)
    return out


def proc_ids(pid):
    """{task: (uids, gids, groups, capabilities)} of every thread of
    pid; capabilities {"CapInh": bits, "CapPrm": ..., "CapEff": ...,
    "CapAmb": ...}."""
    out = {}
    for task in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, task)) as f:
            st = dict(line.rstrip("\n").split(":\t", 1)
                      for line in f if ":\t" in line)
        out[task] = (tuple(int(x) for x in st["Uid"].split()),
                     tuple(int(x) for x in st["Gid"].split()),
                     sorted(int(x) for x in st["Groups"].split()),
                     {k: int(st[k], 16) for k in ("CapInh", "CapPrm",
                                                  "CapEff", "CapAmb")})
    return out


def assert_ids(pid, user):
    """Every thread of pid runs as user, with its initgroups set."""
    pw = pwd.getpwnam(user)
    want = sorted(set(os.getgrouplist(pw.pw_name, pw.pw_gid)))
    ids = proc_ids(pid)
    assert ids
    for task, (uids, gids, groups, _caps) in ids.items():
        assert uids == (pw.pw_uid,) * 4, (task, uids)
        assert gids == (pw.pw_gid,) * 4, (task, gids)
        assert groups == want, (task, groups)
    return len(ids)
