"""What a sysadmin reads when something is wrong (issue 7).

Each start-up or `mailgrants check` error must say what is wrong and
what to do about it. Checked on representative cases, with the real
programs: check with no replica (run sync), with the directory down
(is slapd running), with a wrong bind password (check the bind DN and
password file), with a corrupt replica (move it away, sync); a sync
into a directory that does not exist; a configuration file that does
not exist; mailgrants-policyd and
mailgrants-milter started as root without --user, with a --user that
does not exist, and on a socket they cannot create.
"""

import os
import subprocess

import pytest

from daemonutil import free_port, make_workdir


def run(argv, timeout=20):
    r = subprocess.run(argv, capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr


@pytest.fixture
def wd():
    d = make_workdir("mg-messages-")
    yield d
    subprocess.run(["rm", "-rf", d])


def conf(wd, slapd, name="mailgrants.conf", **keys):
    path = os.path.join(wd, name)
    keys.setdefault("replica", os.path.join(wd, "grants.db"))
    return slapd.write_config(path, **keys)


def check(build_dir, path):
    return run([os.path.join(build_dir, "mailgrants"), "-c", path, "check"])


def test_check_without_replica_says_run_sync(build_dir, slapd, wd):
    rc, out, err = check(build_dir, conf(wd, slapd))
    assert rc == 2
    assert "directory: %s: bind ok" % slapd.uri in out
    assert "grants.db: No such file or directory" in out
    assert "-> run mailgrants sync --once, then keep it current with " \
           "mailgrants sync --follow" in out
    assert "grants.db" in err and len(err.splitlines()) == 1


def test_check_directory_down_says_where_to_look(build_dir, slapd, wd):
    port = free_port()
    rc, out, err = check(build_dir, conf(
        wd, slapd, ldap_uri="ldap://127.0.0.1:%d/" % port))
    assert rc == 2
    assert "cannot connect" in out
    assert "-> is slapd running and listening at ldap_uri" in out
    assert "Dovecot and Postfix keep using the replica meanwhile" in out


def test_check_wrong_password_says_check_bind(build_dir, slapd, wd):
    path = conf(wd, slapd)
    with open(path + ".ldap-password", "w") as f:
        f.write("not-the-password")
    rc, out, err = check(build_dir, path)
    assert rc == 2
    assert "bind as %s" % slapd.sync_dn in out
    assert "-> check ldap_bind_dn and the password in " \
           "ldap_bind_password_file" in out
    # ldapwhoami -y FILE sends the file's trailing newline: not the
    # same bind, so the hint does not call it that.
    assert "-y FILE tries the same bind" not in out
    assert "-y FILE is not the same" in out


def test_check_starttls_not_offered_says_so(build_dir, slapd, wd):
    """A slapd without a certificate (Debian's as installed) answers
    STARTTLS with "unsupported extended operation": no CA helps."""
    rc, out, err = check(build_dir, conf(wd, slapd, ldap_starttls="yes"))
    assert rc == 2
    assert "STARTTLS: Protocol error (unsupported extended operation)" in out
    assert "-> the server offers no STARTTLS" in out
    assert "ldap_starttls = no with ldap_uri = ldapi:///" in out
    assert "ldap_tls_ca_file" not in out


def test_check_corrupt_replica_says_move_it_away(build_dir, slapd, wd):
    path = conf(wd, slapd)
    with open(os.path.join(wd, "grants.db"), "wb") as f:
        f.write(b"not SQLite\n" * 500)
    rc, out, err = check(build_dir, path)
    assert rc == 2
    assert "not a replica or corrupt" in out
    assert "-> move the file away and run mailgrants sync --once" in out


def test_sync_into_missing_directory_says_so(build_dir, slapd, wd):
    path = conf(wd, slapd, replica=os.path.join(wd, "no-such-dir", "g.db"))
    rc, out, err = run([os.path.join(build_dir, "mailgrants"), "-c", path,
                        "sync", "--once"])
    assert rc == 2
    assert "cannot open for writing" in err
    assert "its directory must exist and be writable by the user running " \
           "the sync" in err
    assert len(err.splitlines()) == 1


def test_missing_config_names_the_option(build_dir, wd):
    missing = os.path.join(wd, "nope.conf")
    rc, out, err = check(build_dir, missing)
    assert rc == 1
    assert err.strip() == ("mailgrants: %s: No such file or directory "
                           "(see mailgrants.conf(5); another file with "
                           "-c FILE)" % missing)


@pytest.mark.parametrize("daemon", ["mailgrants-policyd",
                                    "mailgrants-milter"])
def test_daemon_start_errors(build_dir, slapd, wd, daemon):
    assert os.geteuid() == 0, "these cases need root, as make check has"
    exe = os.path.join(build_dir, daemon)
    assert os.access(exe, os.X_OK), "%s not built" % exe
    path = conf(wd, slapd)
    sock = "unix:" + os.path.join(wd, "d.sock")

    rc, out, err = run([exe, "--foreground", "-c", path, "--listen", sock])
    assert rc == 1
    assert ("fatal: refusing to serve as root: start with --user NAME (an "
            "unprivileged account that can read the replica)") in err

    rc, out, err = run([exe, "--foreground", "-c", path, "--listen", sock,
                        "--user", "no-such-user-mg"])
    assert rc == 1
    assert ("fatal: --user no-such-user-mg: no such user; create it "
            "(adduser --system --group no-such-user-mg)") in err

    bad = "unix:" + os.path.join(wd, "no-such-dir", "d.sock")
    rc, out, err = run([exe, "--foreground", "-c", path, "--listen", bad,
                        "--user", "nobody"])
    assert rc == 1
    assert "fatal: --listen %s" % bad in err
    assert "directory must exist" in err

    rc, out, err = run([exe, "--foreground", "-c",
                        os.path.join(wd, "nope.conf"), "--listen", sock,
                        "--user", "nobody"])
    assert rc == 1
    assert "(see mailgrants.conf(5); another file with -c FILE)" in err
