"""replicafaults - break a live replica the ways a site does, and mend it.

    from replicafaults import FAULTS, damage, mend

    damage(db, "truncated")       # the replica now in that state
    mend(build_dir, conf, db)     # what a site does: remove the debris,
                                  # mailgrants sync --once

FAULTS, each a state every reader must refuse (fail closed) and recover
from without a restart once a good file is back:

    missing       the file gone (renamed away)
    corrupt       random bytes renamed into place (a new inode), as a
                  bad restore would leave
    version       a replica of another schema version renamed into place
    truncated     cut to 0 bytes in place (same inode, -wal/-shm kept)
    overwritten   overwritten in place with garbage of the same size
    nosync        the record of a completed sync removed, in place
    stale         last sync and heartbeat a day ago, in place (older than
                  any replica_max_age the tests use)
    directory     a directory where the file should be
    fifo          a FIFO where the file should be (a reader must not
                  block on it)

The replica's owner, group and mode are kept where a file is put in
place, so that readers running as nobody may open what they should.
"""

import os
import random
import shutil
import sqlite3
import stat
import subprocess
import time

FAULTS = ["missing", "corrupt", "version", "truncated", "overwritten",
          "nosync", "stale", "directory", "fifo"]


def _put(db, data_path):
    """Rename data_path into place with the replica's owner and mode."""
    st = os.stat(db)
    os.chown(data_path, st.st_uid, st.st_gid)
    os.chmod(data_path, stat.S_IMODE(st.st_mode))
    os.rename(data_path, db)


def _in_place(db, data):
    """New bytes into the same inode, past the timestamp tick."""
    time.sleep(0.02)
    ino = os.stat(db).st_ino
    with open(db, "r+b") as f:
        f.write(data)
        f.truncate(len(data))
    assert os.stat(db).st_ino == ino


# Connections of _sql(), kept open: the last connection to close would
# checkpoint and delete -wal and -shm (Python cannot ask SQLite for a
# persistent WAL, as the sync does), and readers without write access
# to the directory could then not open the replica at all, which is
# another fault than the one asked for.
_OPEN = []


def _sql(db, statements):
    """Statements on the live replica, in WAL mode like the sync's."""
    con = sqlite3.connect(db)
    con.executescript(statements)
    con.commit()
    _OPEN.append(con)


def damage(db, how):
    """Put the replica at db in state how (one of FAULTS)."""
    assert how in FAULTS, how
    if how == "missing":
        os.rename(db, db + ".away")
    elif how == "corrupt":
        tmp = db + ".restore"
        with open(tmp, "wb") as f:
            f.write(random.Random(7).randbytes(os.path.getsize(db)))
        _put(db, tmp)
    elif how == "version":
        tmp = db + ".other"
        src = sqlite3.connect(db)
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")
            dst.execute("PRAGMA user_version = 99")
            dst.commit()
        finally:
            dst.close()
            src.close()
        _put(db, tmp)
    elif how == "truncated":
        time.sleep(0.02)
        os.truncate(db, 0)
    elif how == "overwritten":
        _in_place(db, b"\x5a" * os.path.getsize(db))
    elif how == "nosync":
        _sql(db, "DELETE FROM meta WHERE key = 'last_success';")
    elif how == "stale":
        old = int(time.time()) - 86400
        _sql(db, "UPDATE meta SET value = '%d' WHERE key IN "
             "('last_success', 'heartbeat');" % old)
    elif how in ("directory", "fifo"):
        os.rename(db, db + ".away")
        if how == "directory":
            os.mkdir(db)
        else:
            os.mkfifo(db)


def mend(build_dir, conf, db):
    """What a site does: take away what is not a file, sync again."""
    if os.path.isdir(db):
        shutil.rmtree(db)
    elif os.path.exists(db) and not os.path.isfile(db):
        os.unlink(db)
    if os.path.exists(db + ".away"):
        os.unlink(db + ".away")
    exe = os.path.join(build_dir, "mailgrants")
    r = subprocess.run([exe, "-c", conf, "sync", "--once"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
