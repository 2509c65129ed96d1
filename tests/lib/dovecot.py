"""dovecot - a private Dovecot 2.3 instance for tests.

    from dovecot import Dovecot

    dc = Dovecot(ldap_uri="ldap://127.0.0.1:3890/",
                 ldap_bind_dn="cn=mailgrants-sync,dc=example,dc=org",
                 ldap_bind_password="secret")
    dc.start()                      # auth only (passdb LDAP, userdb static)
    ...                             # Postfix: smtpd_sasl_path = dc.auth_socket
    dc.stop()

    with Dovecot(..., protocols=("imap", "lmtp")) as dc:
        imap = imaplib.IMAP4("127.0.0.1", dc.imap_port)

Runs `dovecot -F -c <workdir>/dovecot.conf` as a child of the test (its
own process group), from a config generated here: everything below one
temporary directory (base_dir, state_dir, log, mail storage), listeners
on free loopback ports, no SSL, plaintext auth allowed, no auth failure
delay and no auth penalty (anvil-auth-penalty listener off).

Authentication: passdb LDAP with auth_bind (the user's own password is
checked by binding as the user's DN, found with user_filter below
ldap_base using the bind DN given), userdb static with the uid/gid of
one mail user and a path-only mail location
(maildir:<workdir>/vmail/%d/%n/Maildir, no home: no userdb lookup is
ever needed to open another user's storage).

Parameters (all keyword; the defaults suit the abc.com example):
    ldap_uri, ldap_bind_dn, ldap_bind_password, ldap_base
    user_filter     (&(objectClass=mailgrantsUser)(mail=%u))
    protocols       () = auth only; any of "imap", "lmtp"
    lmtp_inet       True: LMTP also on a loopback TCP port (lmtp_port)
    mail_user       the system user whose uid/gid all mail processes use
                    and who owns vmail_dir (default "nobody"; the
                    package's dovecot/dovenull users are reserved for
                    Dovecot's own processes)
    mail_plugins    text for the global `mail_plugins` setting
    plugin_dir      mail_plugin_dir (directory with lib*_plugin.so)
    extra_conf      text appended verbatim to dovecot.conf (namespaces,
                    plugin { } blocks, protocol imap { } ...)
    userdb_args     override the static userdb's args
    userdb_first    userdb { } blocks asked before the static userdb
                    (which then answers only what they do not know)
    userdb_conf     replace the static userdb by these userdb { } blocks
                    (a site's own userdbs); "{ldap_conf}" in it becomes
                    the path of the generated dovecot-ldap.conf.ext
    passwd_file     a passwd-file (write_passwd_file()) as the passdb
                    instead of LDAP: for benchmarks, where the logins'
                    passwords must not cost an LDAP bind each; the
                    ldap_* arguments are then unused
    workdir         use this directory instead of a new temporary one
                    (it must be traversable by the dovecot users)
    debug           auth_debug/mail_debug on

Attributes after start(): workdir, conf_path, log_path, base_dir,
auth_socket (unix listener for Postfix smtpd, mode 0666), auth_client_socket
(the default auth-client socket), imap_port, lmtp_port, lmtp_socket,
vmail_dir, mail_uid, mail_gid, pid.

Methods: start() (waits until every listener answers; on failure the
error carries the log tail and everything is stopped), stop() (always
safe, idempotent: stops the master, kills what is left of its process
group, removes the temporary directory unless keep=True), auth_test(user,
password) (one PLAIN authentication through the auth-client protocol;
True/False), log_text(), maildir(address).

write_passwd_file(path, logins, password) writes a passwd-file giving
every login the same {PLAIN} password, readable by Dovecot's auth process
only (user dovecot, mode 0600).
"""

import base64
import os
import pwd
import shutil
import socket
import subprocess
import time

from daemonutil import (free_ports, kill_group, make_workdir, port_open,
                        tail, unix_open, wait_for)

DOVECOT = "/usr/sbin/dovecot"

_version = None


def dovecot_version():
    """`dovecot --version` as a tuple of ints, e.g. (2, 3, 19, 1)."""
    global _version
    if _version is None:
        out = subprocess.run([DOVECOT, "--version"], stdout=subprocess.PIPE,
                             check=True, text=True).stdout
        nums = []
        for part in out.split()[0].replace("-", ".").split("."):
            if not part.isdigit():
                break
            nums.append(int(part))
        _version = tuple(nums)
    return _version


def is_24():
    """Dovecot 2.4 or later: another configuration syntax (conf_24)."""
    return dovecot_version() >= (2, 4)


class DovecotError(RuntimeError):
    pass


class Dovecot:
    """A private Dovecot 2.3 under a temporary directory (see module doc)."""

    def __init__(self, ldap_uri, ldap_bind_dn, ldap_bind_password,
                 ldap_base="dc=example,dc=org",
                 user_filter="(&(objectClass=mailgrantsUser)(mail=%u))",
                 protocols=(), lmtp_inet=False, mail_user="nobody",
                 mail_plugins="", plugin_dir=None, extra_conf="",
                 userdb_args=None, workdir=None, keep=False, debug=False,
                 start_timeout=15.0, passwd_file=None, userdb_conf=None,
                 passdb_fields=None, userdb_first=""):
        self.ldap_uri = ldap_uri
        self.userdb_first = userdb_first
        self.ldap_bind_dn = ldap_bind_dn
        self.ldap_bind_password = ldap_bind_password
        self.ldap_base = ldap_base
        self.user_filter = user_filter
        self.protocols = tuple(protocols)
        for p in self.protocols:
            if p not in ("imap", "lmtp"):
                raise ValueError("unsupported protocol %r" % p)
        self.lmtp_inet = lmtp_inet
        self.mail_user = mail_user
        self.mail_plugins = mail_plugins
        self.plugin_dir = plugin_dir
        self.extra_conf = extra_conf
        self.userdb_args = userdb_args
        self.userdb_conf = userdb_conf
        self.passwd_file = passwd_file
        # {name: value} the passdb adds to its answer (2.3:
        # override_fields, 2.4: fields { }); values in 2.3 syntax (%w)
        self.passdb_fields = dict(passdb_fields or {})
        self.keep = keep
        self.debug = debug
        self.start_timeout = start_timeout
        self._own_workdir = workdir is None
        self.workdir = workdir
        self.proc = None
        self.imap_port = None
        self.lmtp_port = None

    # -- configuration -------------------------------------------------

    def _paths(self):
        w = self.workdir
        self.conf_path = os.path.join(w, "dovecot.conf")
        self.ldap_conf_path = os.path.join(w, "dovecot-ldap.conf.ext")
        self.base_dir = os.path.join(w, "run")
        self.state_dir = os.path.join(w, "state")
        self.log_path = os.path.join(w, "dovecot.log")
        self.vmail_dir = os.path.join(w, "vmail")
        self.auth_socket = os.path.join(self.base_dir, "auth-postfix")
        self.auth_client_socket = os.path.join(self.base_dir, "auth-client")
        self.lmtp_socket = os.path.join(self.base_dir, "lmtp")

    def config_text(self):
        """The generated dovecot.conf (also useful in error reports)."""
        if is_24():
            return self.config_text_24()
        protocols = " ".join(self.protocols) if self.protocols else "none"
        userdb_args = self.userdb_args
        if userdb_args is None:
            userdb_args = "uid=%d gid=%d allow_all_users=yes" % (
                self.mail_uid, self.mail_gid)
        lines = ["# generated by tests/lib/dovecot.py"]
        lines += self._main_lines(
            protocols, "disable_plaintext_auth = no",
            ["mail_location = maildir:%s/%%d/%%n/Maildir" % self.vmail_dir])
        lines += [
            "passdb {",
        ]
        if self.passwd_file:
            lines += ["  driver = passwd-file",
                      "  args = %s" % self.passwd_file]
        else:
            lines += ["  driver = ldap",
                      "  args = %s" % self.ldap_conf_path]
        if self.passdb_fields:
            lines += ["  override_fields = " + " ".join(
                "%s=%s" % kv for kv in self.passdb_fields.items())]
        lines += ["}"]
        if self.userdb_conf is not None:
            lines += [self.userdb_conf.replace(
                "{ldap_conf}", self.ldap_conf_path).rstrip("\n")]
        else:
            lines += [self.userdb_first.rstrip("\n")] if \
                self.userdb_first else []
            lines += [
                "userdb {",
                "  driver = static",
                "  args = %s" % userdb_args,
                "}",
            ]
        lines += self._service_lines("address")
        return "\n".join(lines) + "\n"

    def _main_lines(self, protocols, cleartext, mail):
        """The main settings: the same in 2.3 and 2.4 but for the line
        that allows cleartext logins and those that locate mail."""
        yn = "yes" if self.debug else "no"
        return [
            "base_dir = %s" % self.base_dir,
            "state_dir = %s" % self.state_dir,
            "log_path = %s" % self.log_path,
            "info_log_path = %s" % self.log_path,
            "debug_log_path = %s" % self.log_path,
            "instance_name = mgtest-%s" % os.path.basename(self.workdir),
            "protocols = %s" % protocols,
            "listen = 127.0.0.1",
            "ssl = no",
            cleartext,
            "auth_mechanisms = plain login",
            "auth_failure_delay = 0",
            "auth_verbose = yes",
            "auth_debug = %s" % yn,
            "mail_debug = %s" % yn,
            "default_internal_user = dovecot",
            "default_internal_group = dovecot",
            "default_login_user = dovenull",
            "first_valid_uid = %d" % min(self.mail_uid, 500),
            "first_valid_gid = 1",
            "mail_uid = %d" % self.mail_uid,
            "mail_gid = %d" % self.mail_gid,
        ] + mail + [
            "mail_home = ",
            "mail_privileged_group = ",
            "postmaster_address = postmaster@example.org",
            "",
        ]

    def _service_lines(self, listen):
        """Services, listeners, plugins and extra_conf: the same in 2.3
        and 2.4 but for the listener address key (listen)."""
        lines = [
            "",
            "service auth {",
            "  unix_listener %s {" % os.path.basename(self.auth_socket),
            "    mode = 0666",
            "  }",
            "  unix_listener auth-client {",
            "    mode = 0600",
            "  }",
            "}",
            # No auth penalty: tests fail passwords on purpose, and
            # anvil would then delay every later login by seconds.
            "service anvil {",
            "  chroot = ",
            "  unix_listener anvil-auth-penalty {",
            "    mode = 0",
            "  }",
            "}",
            "service stats {",
            "  chroot = ",
            "}",
        ]
        if self.plugin_dir:
            lines.append("mail_plugin_dir = %s" % self.plugin_dir)
        if self.mail_plugins:
            lines.append("mail_plugins = %s" % self.mail_plugins)
        if "imap" in self.protocols:
            lines += [
                "service imap-login {",
                "  inet_listener imap {",
                "    %s = 127.0.0.1" % listen,
                "    port = %d" % self.imap_port,
                "  }",
                "  inet_listener imaps {",
                "    port = 0",
                "  }",
                "}",
            ]
        if "lmtp" in self.protocols:
            lines += [
                "service lmtp {",
                "  unix_listener lmtp {",
                "    mode = 0666",
                "  }",
            ]
            if self.lmtp_inet:
                lines += [
                    "  inet_listener lmtp {",
                    "    %s = 127.0.0.1" % listen,
                    "    port = %d" % self.lmtp_port,
                    "  }",
                ]
            lines += ["}"]
        if self.extra_conf:
            lines += ["", "# extra_conf", self.extra_conf.rstrip("\n")]
        return lines

    def config_text_24(self):
        """config_text() in Dovecot 2.4's syntax (the same instance)."""
        if self.userdb_args is not None:
            raise DovecotError("userdb_args is 2.3 syntax")
        path = "%s/%%{user | domain}/%%{user | username}/Maildir"
        lines = ["# generated by tests/lib/dovecot.py (Dovecot 2.4)",
                 "dovecot_config_version = 2.4.0",
                 "dovecot_storage_version = 2.4.0"]
        lines += self._main_lines(
            " ".join(self.protocols), "auth_allow_cleartext = yes",
            ["mail_driver = maildir", "mail_path = " + path % self.vmail_dir])
        if self.passwd_file:
            lines += ["passdb passwd-file {",
                      "  passwd_file_path = %s" % self.passwd_file, "}"]
        else:
            # The bind password in a 0600 file, as 2.3's args file.
            lines += [
                "!include %s" % self.ldap_conf_path,
                "passdb ldap {",
                "  bind = yes",
                "  filter = %s" % self.user_filter.replace("%u", "%{user}"),
                "  fields {",
                "    user = %{ldap:mail}",
            ] + ["    %s = %s" % (k, v.replace("%w", "%{password}"))
                 for k, v in self.passdb_fields.items()] + [
                "  }",
                "}",
            ]
        if self.userdb_conf is not None:
            # in 2.4's syntax; the ldap_* settings above are for all
            lines += [self.userdb_conf.rstrip("\n")]
        else:
            lines += [self.userdb_first.rstrip("\n")] if \
                self.userdb_first else []
            lines += [
                "userdb static {",
                "  fields {",
                "    uid = %d" % self.mail_uid,
                "    gid = %d" % self.mail_gid,
                "  }",
                "}",
                "userdb_static_allow_all_users = yes",
            ]
        lines += self._service_lines("listen")
        return "\n".join(lines) + "\n"

    def ldap_config_text(self):
        """The generated dovecot-ldap.conf.ext."""
        if is_24():
            return "\n".join([
                "# generated by tests/lib/dovecot.py (Dovecot 2.4)",
                "ldap_uris = %s" % self.ldap_uri,
                "ldap_auth_dn = %s" % self.ldap_bind_dn,
                "ldap_auth_dn_password = %s" % self.ldap_bind_password,
                "ldap_base = %s" % self.ldap_base,
                "",
            ])
        return "\n".join([
            "# generated by tests/lib/dovecot.py",
            "uris = %s" % self.ldap_uri,
            "ldap_version = 3",
            "dn = %s" % self.ldap_bind_dn,
            "dnpass = %s" % self.ldap_bind_password,
            "base = %s" % self.ldap_base,
            "scope = subtree",
            "deref = never",
            "auth_bind = yes",
            "pass_filter = %s" % self.user_filter,
            "user_filter = %s" % self.user_filter,
            "pass_attrs = mail=user",
            "",
        ])

    # -- running ---------------------------------------------------------

    def start(self):
        """Write the config, start Dovecot, wait until it answers."""
        if self.proc is not None:
            raise DovecotError("already started")
        if not os.access(DOVECOT, os.X_OK):
            raise DovecotError("%s not found (package dovecot-core)"
                               % DOVECOT)
        pw = pwd.getpwnam(self.mail_user)
        self.mail_uid, self.mail_gid = pw.pw_uid, pw.pw_gid
        if self.workdir is None:
            self.workdir = make_workdir("mg-dovecot-")
        self._paths()
        ports = free_ports(2)
        if "imap" in self.protocols:
            self.imap_port = ports[0]
        if "lmtp" in self.protocols and self.lmtp_inet:
            self.lmtp_port = ports[1]
        for d in (self.base_dir, self.state_dir):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        os.makedirs(self.vmail_dir, exist_ok=True)
        os.chown(self.vmail_dir, self.mail_uid, self.mail_gid)
        os.chmod(self.vmail_dir, 0o770)
        with open(self.ldap_conf_path, "w") as f:
            f.write(self.ldap_config_text())
        os.chmod(self.ldap_conf_path, 0o600)
        with open(self.conf_path, "w") as f:
            f.write(self.config_text())
        self._check_config()
        self._logf = open(os.path.join(self.workdir, "dovecot.stderr"), "w")
        try:
            self.proc = subprocess.Popen(
                [DOVECOT, "-F", "-c", self.conf_path],
                stdin=subprocess.DEVNULL, stdout=self._logf,
                stderr=subprocess.STDOUT, start_new_session=True)
            self._wait_ready()
        except BaseException:
            err = self._diagnostics()
            self.stop()
            raise DovecotError("dovecot did not start:\n" + err)
        return self

    def _check_config(self):
        """doveconf -n -c CONF: fails on unknown settings with a message."""
        r = subprocess.run(["doveconf", "-c", self.conf_path, "-n"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        if r.returncode != 0:
            raise DovecotError("doveconf rejects %s:\n%s\n--- config ---\n%s"
                               % (self.conf_path, r.stdout,
                                  self.config_text()))

    def _alive(self):
        if self.proc.poll() is not None:
            raise DovecotError("dovecot exited with status %s"
                               % self.proc.returncode)

    def _wait_ready(self):
        t = self.start_timeout
        wait_for(lambda: unix_open(self.auth_socket), t,
                 what="dovecot auth socket %s" % self.auth_socket,
                 check=self._alive)
        if self.imap_port:
            wait_for(lambda: port_open(self.imap_port), t,
                     what="dovecot imap port %d" % self.imap_port,
                     check=self._alive)
        if "lmtp" in self.protocols:
            wait_for(lambda: unix_open(self.lmtp_socket), t,
                     what="dovecot lmtp socket", check=self._alive)
        if self.lmtp_port:
            wait_for(lambda: port_open(self.lmtp_port), t,
                     what="dovecot lmtp port %d" % self.lmtp_port,
                     check=self._alive)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def _diagnostics(self):
        parts = []
        if self.workdir:
            parts.append("--- %s ---\n%s" % (self.log_path,
                                               tail(self.log_path)))
            parts.append("--- stderr ---\n%s" % tail(
                os.path.join(self.workdir, "dovecot.stderr")))
        return "\n".join(parts)

    def log_text(self):
        """The whole Dovecot log so far ("" when there is none)."""
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except (OSError, AttributeError):
            return ""

    def stop(self):
        """Stop Dovecot and remove its directory; safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is not None:
            kill_group(proc)
        f = getattr(self, "_logf", None)
        if f is not None:
            f.close()
            self._logf = None
        if self.workdir and self._own_workdir and not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- checks ----------------------------------------------------------

    def maildir(self, address):
        """The Maildir path of address (as mail_location lays it out)."""
        local, _, domain = address.rpartition("@")
        return os.path.join(self.vmail_dir, domain, local, "Maildir")

    def auth_test(self, user, password, service="smtp", timeout=5.0):
        """One PLAIN authentication over auth-client; True if it passed."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.auth_client_socket)
            s.sendall(b"VERSION\t1\t2\nCPID\t%d\n" % os.getpid())
            buf = b""
            while b"DONE\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    raise DovecotError("auth handshake closed: %r" % buf)
                buf += chunk
            resp = base64.b64encode(b"\0" + user.encode() + b"\0"
                                    + password.encode())
            s.sendall(b"AUTH\t1\tPLAIN\tservice=%s\tresp=%s\n"
                      % (service.encode(), resp))
            buf = b""
            while b"\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    raise DovecotError("auth reply missing")
                buf += chunk
            line = buf.split(b"\n", 1)[0].decode(errors="replace")
            if line.startswith("OK\t1"):
                return True
            if line.startswith("FAIL\t1"):
                return False
            raise DovecotError("unexpected auth reply %r" % line)
        finally:
            s.close()


def write_passwd_file(path, logins, password):
    """A passwd-file with the same {PLAIN} password for every login."""
    for s in list(logins) + [password]:
        if ":" in s or "\n" in s or not s:
            raise ValueError("no ':' or newline in a passwd-file: %r" % s)
    with open(path, "w") as f:
        for login in logins:
            f.write("%s:{PLAIN}%s\n" % (login, password))
    dc = pwd.getpwnam("dovecot")
    os.chown(path, dc.pw_uid, dc.pw_gid)
    os.chmod(path, 0o600)
    return path


def _selftest():
    """python3 dovecot.py: start and stop an auth-only instance."""
    dc = Dovecot("ldap://127.0.0.1:1/", "cn=x", "x",
                 protocols=("imap", "lmtp"), lmtp_inet=True, keep=True)
    dc.start()
    try:
        print("started", dc.workdir, dc.imap_port, dc.lmtp_port)
        time.sleep(0.2)
    finally:
        dc.stop()
    print(tail(dc.log_path, 20))


if __name__ == "__main__":
    _selftest()
