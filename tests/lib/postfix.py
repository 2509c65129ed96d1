"""postfix - a private Postfix instance and an SMTP sink for tests.

    from postfix import Postfix, SmtpSink

    with SmtpSink() as sink, Postfix(
            relay_port=sink.port,                  # or delivery="discard"
            sender_check="policy",                 # "none" | "policy" | "native"
            policy_service="unix:/tmp/x/policy.sock",
            sasl_path=dovecot.auth_socket) as pf:
        ... swaks --server 127.0.0.1 --port pf.submission_port --auth ...
        sink.wait_for(1)

Runs `postfix -c <workdir>/etc start` with a main.cf/master.cf generated
here (see /work/shared/POSTFIX-NOTES.md for why each setting is there):
queue and data directories under one temporary directory, logging by
postlogd to <workdir>/maillog, loopback only, no aliases or local
delivery, every message relayed to [127.0.0.1]:relay_port (a sink) or
discarded.

Two smtpd services on free loopback ports:
    mx_port          port-25-like: no AUTH. With sender_check "policy",
                     smtpd_sender_restrictions = check_policy_service, so
                     the policy daemon sees unauthenticated senders too
                     (DESIGN §6: local sender without login is rejected).
    submission_port  AUTH through Dovecot's socket (sasl_path; plaintext
                     without TLS allowed for the test),
                     smtpd_sender_restrictions per sender_check:
                        none    nothing
                        policy  check_policy_service <policy_service>
                        native  reject_sender_login_mismatch with
                                smtpd_sender_login_maps = <login_maps>
                                (e.g. "sqlite:/path/logins.cf")
    Relaying: permit_sasl_authenticated, permit_mynetworks,
    reject_unauth_destination on both.
    The submission service has smtpd_delay_reject = no, as the shipped
    postfix-policyd/master.cf.snippet: sender restrictions answer MAIL
    FROM (client and HELO restrictions are empty); mx_port keeps
    Postfix's default (yes): they answer RCPT TO.

Other keyword parameters:
    policy_service  "unix:/abs/path" or "inet:127.0.0.1:PORT"
    login_maps      table for sender_check="native"
    sasl_path       Dovecot auth socket (absolute path, non-chrooted smtpd);
                    without it the submission service has no SASL, and
                    XCLIENT LOGIN is then ignored by smtpd
    xclient         False (default): no client may use XCLIENT, which
                    would let it name any login without AUTH. True, for
                    benchmarks only (smtp-load logs in with XCLIENT
                    LOGIN=...): smtpd_authorized_xclient_hosts =
                    127.0.0.0/8, i.e. anyone on this host
    delivery        "relay" (default; needs relay_port) or "discard"
                    or any Postfix transport ("lmtp:unix:/path")
    main_extra      dict of extra main.cf settings (override the above)
    smtpd_extra     dict of extra -o settings for both smtpd services
    max_use         smtpd max_use (Postfix default 100)
    milter          a milter for the submission service only ("unix:/path"
                    or "inet:127.0.0.1:PORT"): smtpd_milters = milter,
                    milter_default_action = tempfail (see
                    tests/integration/test_milter.py)
    smtpd_maxproc   process limit of each smtpd service (default 100)
    workdir, keep   as for Dovecot

Attributes: workdir, config_dir, queue_dir, maillog, mx_port,
submission_port, master_pid. Methods: start(), stop() (always safe;
`postfix stop`, then KILL of what is left of the master's process group),
check() (`postfix -c DIR check`), maillog_text(), wait_log(pattern),
flush().

SmtpSink: a tiny threaded SMTP server on a free loopback port that
accepts everything and records each message (mail_from, rcpt_to, data)
in sink.messages; wait_for(n) waits until n messages arrived.
"""

import os
import pwd
import re
import shutil
import socket
import subprocess
import threading
import time

from daemonutil import (free_ports, make_workdir, port_open, reap_group,
                        tail, wait_for)

POSTFIX = "/usr/sbin/postfix"
DAEMON_DIR = "/usr/lib/postfix/sbin"


class PostfixError(RuntimeError):
    pass


class Postfix:
    """A private Postfix under a temporary directory (see module doc)."""

    def __init__(self, relay_port=None, delivery="relay",
                 sender_check="none", policy_service=None, login_maps=None,
                 sasl_path=None, main_extra=None, smtpd_extra=None,
                 max_use=100, smtpd_maxproc=100, workdir=None, keep=False,
                 start_timeout=20.0, milter=None, xclient=False):
        if sender_check not in ("none", "policy", "native"):
            raise ValueError("sender_check must be none, policy or native")
        if sender_check == "policy" and not policy_service:
            raise ValueError("sender_check=policy needs policy_service")
        if sender_check == "native" and not login_maps:
            raise ValueError("sender_check=native needs login_maps")
        if delivery == "relay" and not relay_port:
            raise ValueError("delivery=relay needs relay_port")
        self.relay_port = relay_port
        self.delivery = delivery
        self.sender_check = sender_check
        self.policy_service = policy_service
        self.login_maps = login_maps
        self.sasl_path = sasl_path
        self.main_extra = dict(main_extra or {})
        self.smtpd_extra = dict(smtpd_extra or {})
        self.max_use = max_use
        self.smtpd_maxproc = smtpd_maxproc
        self.milter = milter
        self.xclient = xclient
        self.keep = keep
        self.start_timeout = start_timeout
        self._own_workdir = workdir is None
        self.workdir = workdir
        self.master_pid = None
        self.started = False

    # -- configuration -------------------------------------------------

    def main_settings(self):
        """main.cf as an ordered dict of name -> value."""
        w = self.workdir
        s = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue_dir,
            "data_directory": self.data_dir,
            "command_directory": "/usr/sbin",
            "daemon_directory": DAEMON_DIR,
            "shlib_directory": "/usr/lib/postfix",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            # No /dev/log here: postlogd writes a file of our own.
            "maillog_file": self.maillog,
            "maillog_file_prefixes": "/var, /dev/stdout, %s" % w,
            "myhostname": "mail.example.org",
            "mydomain": "example.org",
            "myorigin": "$myhostname",
            "mydestination": "",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "mynetworks_style": "host",
            "relay_domains": "",
            # "No configuration" still opens /etc/aliases.db and NIS.
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "biff": "no",
            "smtputf8_enable": "yes",
            "smtpd_banner": "$myhostname ESMTP mailgrants-test",
            "smtpd_relay_restrictions": "permit_sasl_authenticated, "
                                        "permit_mynetworks, "
                                        "reject_unauth_destination",
            "smtpd_client_connection_rate_limit": "0",
            "smtpd_client_message_rate_limit": "0",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_error_sleep_time": "0",
            "smtpd_soft_error_limit": "1000",
            "smtpd_hard_error_limit": "1000",
            # Postfix's default, said out loud: nobody. XCLIENT LOGIN=
            # is a login without a password.
            "smtpd_authorized_xclient_hosts": (
                "127.0.0.0/8" if self.xclient else ""),
            "smtpd_peername_lookup": "no",
            "smtp_host_lookup": "native",
            "disable_dns_lookups": "yes",
            "lmtp_host_lookup": "native",
            "append_dot_mydomain": "no",
            "recipient_delimiter": "+",
            "default_process_limit": "200",
            "in_flow_delay": "0",
            "maximal_queue_lifetime": "1h",
            "bounce_queue_lifetime": "1h",
            "notify_classes": "",
            "smtp_connection_cache_on_demand": "yes",
            "smtpd_policy_service_timeout": "10s",
        }
        if self.delivery == "relay":
            s["relayhost"] = "[127.0.0.1]:%d" % self.relay_port
            s["default_transport"] = "smtp"
        elif self.delivery == "discard":
            s["default_transport"] = "discard"
        else:
            s["default_transport"] = self.delivery
        if self.sender_check == "native":
            s["smtpd_sender_login_maps"] = self.login_maps
        s.update(self.main_extra)
        return s

    def _smtpd_opts(self, submission):
        o = {"smtpd_client_restrictions": "",
             "smtpd_helo_restrictions": "",
             "max_use": str(self.max_use)}
        if submission:
            o["syslog_name"] = "postfix/submission"
            # As postfix-policyd/master.cf.snippet: a refused sender is
            # the reply to MAIL FROM (test_postfix_e2e.py checks that
            # the two agree).
            o["smtpd_delay_reject"] = "no"
            if self.sasl_path:
                o.update({
                    "smtpd_sasl_auth_enable": "yes",
                    "smtpd_sasl_type": "dovecot",
                    "smtpd_sasl_path": self.sasl_path,
                    "smtpd_sasl_security_options": "noanonymous",
                    "smtpd_sasl_local_domain": "",
                    "smtpd_tls_security_level": "none",
                    "smtpd_tls_auth_only": "no",
                    "broken_sasl_auth_clients": "no",
                })
            if self.sender_check == "policy":
                o["smtpd_sender_restrictions"] = (
                    "check_policy_service " + self.policy_service)
            elif self.sender_check == "native":
                o["smtpd_sender_restrictions"] = (
                    "reject_sender_login_mismatch")
            else:
                o["smtpd_sender_restrictions"] = ""
            if self.milter:
                # Milter down: 451, never accepted unchecked or bounced.
                o["smtpd_milters"] = self.milter
                o["milter_default_action"] = "tempfail"
        else:
            o["syslog_name"] = "postfix/mx"
            o["smtpd_sasl_auth_enable"] = "no"
            if self.sender_check == "policy":
                o["smtpd_sender_restrictions"] = (
                    "check_policy_service " + self.policy_service)
            else:
                o["smtpd_sender_restrictions"] = ""
        o.update(self.smtpd_extra)
        return o

    def master_text(self):
        """The generated master.cf."""
        def smtpd(port, submission):
            opts = self._smtpd_opts(submission)
            line = "127.0.0.1:%d inet n - n - %d smtpd" % (
                port, self.smtpd_maxproc)
            for k, v in opts.items():
                # A value with spaces needs Postfix 3's "-o { name =
                # value }"; "-o name={value}" keeps the braces.
                if " " in v:
                    line += "\n  -o { %s = %s }" % (k, v)
                else:
                    line += "\n  -o %s=%s" % (k, v)
            return line
        lines = [
            "# generated by tests/lib/postfix.py",
            "# service type  private unpriv chroot wakeup maxproc command",
            smtpd(self.mx_port, False),
            smtpd(self.submission_port, True),
            "pickup    unix  n       -       n       60      1       pickup",
            "cleanup   unix  n       -       n       -       0       cleanup",
            "qmgr      unix  n       -       n       300     1       qmgr",
            "rewrite   unix  -       -       n       -       -       trivial-rewrite",
            "bounce    unix  -       -       n       -       0       bounce",
            "defer     unix  -       -       n       -       0       bounce",
            "trace     unix  -       -       n       -       0       bounce",
            "verify    unix  -       -       n       -       1       verify",
            "flush     unix  n       -       n       1000?   0       flush",
            "proxymap  unix  -       -       n       -       -       proxymap",
            "proxywrite unix -       -       n       -       1       proxymap",
            "smtp      unix  -       -       n       -       -       smtp",
            "relay     unix  -       -       n       -       -       smtp",
            "showq     unix  n       -       n       -       -       showq",
            "error     unix  -       -       n       -       -       error",
            "retry     unix  -       -       n       -       -       error",
            "discard   unix  -       -       n       -       -       discard",
            "lmtp      unix  -       -       n       -       -       lmtp",
            "anvil     unix  -       -       n       -       1       anvil",
            "scache    unix  -       -       n       -       1       scache",
            "postlog   unix-dgram n  -       n       -       1       postlogd",
        ]
        return "\n".join(lines) + "\n"

    # -- running ---------------------------------------------------------

    def _postfix(self, *args, timeout=60):
        return subprocess.run([POSTFIX, "-c", self.config_dir] + list(args),
                              stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              timeout=timeout)

    def check(self):
        """`postfix -c DIR check`; raise with its output when it fails."""
        r = self._postfix("check")
        if r.returncode != 0 or "fatal" in r.stdout:
            raise PostfixError("postfix check failed:\n%s" % r.stdout)
        return r.stdout

    def start(self):
        """Write the configuration, check it, start, wait for the ports."""
        if self.started:
            raise PostfixError("already started")
        if not os.access(POSTFIX, os.X_OK):
            raise PostfixError("%s not found (package postfix)" % POSTFIX)
        if self.workdir is None:
            self.workdir = make_workdir("mg-postfix-")
        w = self.workdir
        self.config_dir = os.path.join(w, "etc")
        self.queue_dir = os.path.join(w, "queue")
        self.data_dir = os.path.join(w, "data")
        self.maillog = os.path.join(w, "maillog")
        self.mx_port, self.submission_port = free_ports(2)
        pf = pwd.getpwnam("postfix")
        for d in (self.config_dir, self.queue_dir, self.data_dir):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        os.chown(self.data_dir, pf.pw_uid, pf.pw_gid)
        os.chmod(self.data_dir, 0o700)
        with open(os.path.join(self.config_dir, "main.cf"), "w") as f:
            f.write("# generated by tests/lib/postfix.py\n")
            for k, v in self.main_settings().items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.config_dir, "master.cf"), "w") as f:
            f.write(self.master_text())
        self.started = True
        try:
            self.check()
            r = self._postfix("start")
            if r.returncode != 0:
                raise PostfixError("postfix start failed (%d):\n%s"
                                   % (r.returncode, r.stdout))
            self.master_pid = self._read_master_pid()
            for port in (self.mx_port, self.submission_port):
                wait_for(lambda: port_open(port), self.start_timeout,
                         what="postfix smtpd on port %d" % port)
        except BaseException as e:
            msg = "%s\n--- %s ---\n%s" % (e, self.maillog,
                                           tail(self.maillog))
            self.stop()
            raise PostfixError(msg) from None
        return self

    def _read_master_pid(self):
        path = os.path.join(self.queue_dir, "pid", "master.pid")
        wait_for(lambda: os.path.exists(path), self.start_timeout,
                 what=path)
        with open(path) as f:
            return int(f.read().strip())

    def stop(self):
        """Stop Postfix, kill leftovers of its master's process group,
        remove the directory. Safe to call twice or after a failed start."""
        if self.started:
            self.started = False
            try:
                self._postfix("stop", timeout=30)
            except Exception:
                pass
            pid = self.master_pid
            if pid is None:
                try:
                    pid = self._read_master_pid_now()
                except Exception:
                    pid = None
            if pid:
                reap_group(pid, grace=10.0)
            self.master_pid = None
        if self.workdir and self._own_workdir and not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def _read_master_pid_now(self):
        with open(os.path.join(self.queue_dir, "pid", "master.pid")) as f:
            return int(f.read().strip())

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- looking at it -----------------------------------------------------

    def maillog_text(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    def wait_log(self, pattern, timeout=10.0):
        """Wait until the maillog matches the regex pattern; the match."""
        rx = re.compile(pattern)
        found = []

        def pred():
            m = rx.search(self.maillog_text())
            if m:
                found.append(m)
            return bool(m)
        wait_for(pred, timeout, what="maillog /%s/" % pattern)
        return found[0]

    def flush(self):
        self._postfix("flush")


class SmtpSink:
    """A minimal SMTP server that accepts and records every message.

    Threaded, one thread per connection; supports EHLO/HELO, MAIL, RCPT,
    DATA (dot-unstuffed), RSET, NOOP, QUIT. messages is a list of dicts
    {mail_from, rcpt_to: [..], data: bytes}.
    """

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.sock = None
        self.port = None
        self._threads = []
        self._stop = False

    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _accept_loop(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,),
                                 daemon=True)
            t.start()

    def _serve(self, conn):
        conn.settimeout(30)
        f = conn.makefile("rb")

        def reply(text):
            conn.sendall(text.encode() + b"\r\n")
        try:
            reply("220 sink.example.org ESMTP test sink")
            mail_from, rcpts = None, []
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode("utf-8", "replace").rstrip("\r\n")
                verb = cmd[:4].upper()
                if verb in ("EHLO", "HELO"):
                    if verb == "EHLO":
                        reply("250-sink.example.org\r\n250-8BITMIME\r\n"
                              "250-SMTPUTF8\r\n250 PIPELINING")
                    else:
                        reply("250 sink.example.org")
                elif verb == "MAIL":
                    m = re.match(r"(?i)MAIL FROM:\s*<([^>]*)>", cmd)
                    mail_from, rcpts = (m.group(1) if m else cmd[10:]), []
                    reply("250 2.1.0 Ok")
                elif verb == "RCPT":
                    m = re.match(r"(?i)RCPT TO:\s*<([^>]*)>", cmd)
                    rcpts.append(m.group(1) if m else cmd[8:])
                    reply("250 2.1.5 Ok")
                elif verb == "DATA":
                    reply("354 End data with <CR><LF>.<CR><LF>")
                    data = []
                    while True:
                        dl = f.readline()
                        if not dl or dl in (b".\r\n", b".\n"):
                            break
                        if dl.startswith(b".."):
                            dl = dl[1:]
                        data.append(dl)
                    with self.cond:
                        self.messages.append({"mail_from": mail_from,
                                              "rcpt_to": rcpts,
                                              "data": b"".join(data)})
                        self.cond.notify_all()
                    mail_from, rcpts = None, []
                    reply("250 2.0.0 Ok: queued")
                elif verb == "RSET":
                    mail_from, rcpts = None, []
                    reply("250 2.0.0 Ok")
                elif verb == "QUIT":
                    reply("221 2.0.0 Bye")
                    return
                else:
                    reply("250 Ok")
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def wait_for(self, n, timeout=20.0):
        """Wait until at least n messages arrived; return the list."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("sink got %d of %d messages"
                                       % (len(self.messages), n))
                self.cond.wait(left)
            return list(self.messages)

    def find(self, mail_from):
        """Messages whose envelope sender is mail_from (case-insensitive)."""
        with self.lock:
            return [m for m in self.messages
                    if (m["mail_from"] or "").lower() == mail_from.lower()]

    def stop(self):
        self._stop = True
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
