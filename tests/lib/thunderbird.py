"""thunderbird - Debian's Thunderbird under Xvfb, against a test Dovecot.

    from thunderbird import Thunderbird, imap_exchanges, wait_quiet

    tb = Thunderbird(workdir, imap_port=dc.imap_port,
                     user="sandra.schuster@abc.com", password="sandra-pw",
                     artifacts="build/test-artifacts/thunderbird",
                     name="subscribed")
    try:
        tb.start()                  # profile, Xvfb, window manager, TB
        wait_quiet(rawlog_dir, check=tb.poll)   # the first sync is over
        tb.expand_all()
        tb.folder_pane()            # [(depth, label, uri, collapsed)]
        tb.alerts()                 # what it told the user
        tb.screenshot("folder-pane")  # PNG under artifacts, path returned
    finally:
        tb.stop()
    imap_exchanges(rawlog_dir)      # Dovecot's rawlog: commands, answers

What it runs, each as a child of the test in its own process group,
all stopped by stop() (also from __exit__ and an atexit hook):
Xvfb on a display it picks itself (-displayfd, no TCP listener),
matchbox-window-manager, and `thunderbird -profile DIR -no-remote
-marionette -remote-allow-system-access` (Marionette on a loopback
port, chrome scripts allowed) with HOME below workdir (nothing of the
caller's own profiles is read or written).

The profile is written before the first start (write_profile()):
- user.js: one IMAP account on 127.0.0.1:imap_port, plain password over
  an unencrypted loopback connection (socketType 0, authMethod 3),
  login at startup, `using_subscription` as given (Thunderbird's
  default: only subscribed folders), optionally an SMTP server; Local
  Folders; every first-run page, wizard, update check, telemetry and
  remote service off, and every HTTP(S) request sent to a proxy on a
  loopback port nobody listens on, so nothing leaves the machine.
- key4.db and logins.json: the password in Thunderbird's own password
  manager, encrypted with NSS's SDR (PK11SDR_Encrypt) under an empty
  primary password, by Thunderbird's bundled libnss3 in a child process
  (encrypt_logins()). Thunderbird then logs in without a prompt, as it
  does for a user who ticked "remember password".

What the test reads back:
- folder_pane(): the rows of the folder pane of the 3-pane window
  (about:3pane's #folderTree), read through Marionette (a minimal
  client below: length-prefixed JSON on a loopback port) in the chrome
  context: each row's depth, its label as drawn and its folder URI.
- alerts(): the windows Thunderbird opened besides the main one. An
  alert is a modal window of its own (title "Alert"); it holds up
  Thunderbird's startup and is what a user has to click away. poll()
  and start() look for visible X windows whose title is not the main
  window's (xdotool), take a screenshot, keep the title in
  self.dismissed and press Return in it. The alert's text comes from
  the Activity Manager, where Thunderbird's alert hook
  (alertHook.sys.mjs) puts every server alert before showing it.
- wait_quiet(rawlog_dir): the sync is over when Dovecot's rawlog of the
  sessions (rawlog_dir in the test's dovecot.conf) has not grown for
  15 s; imap_exchanges() pairs each command there with its answer.
- screenshot(name): ImageMagick's `import -window root`.
"""

import atexit
import base64
import ctypes
import json
import os
import select
import socket
import subprocess
import sys
import time
import uuid

from daemonutil import free_ports, kill_group, tail, wait_for

THUNDERBIRD = "/usr/bin/thunderbird"
TB_LIBDIR = "/usr/lib/thunderbird"
XVFB = "/usr/bin/Xvfb"
WM = "/usr/bin/matchbox-window-manager"
XDOTOOL = "/usr/bin/xdotool"
IMPORT = "/usr/bin/import"
GEOMETRY = "1280x800x24"
MAIN_TITLE = "Thunderbird"


class ThunderbirdError(RuntimeError):
    pass


def missing_tools():
    """The executables the harness needs that are not installed."""
    return [p for p in (THUNDERBIRD, XVFB, WM, XDOTOOL, IMPORT)
            if not os.access(p, os.X_OK)]


# -- the password: NSS SDR, as Thunderbird's password manager does it ---

class _SECItem(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint), ("data", ctypes.c_void_p),
                ("len", ctypes.c_uint)]


def _sdr_encrypt_main(profile, values):
    """In a child process: create the profile's key4.db with an empty
    primary password and print each value encrypted with SDR (base64),
    one per line. Thunderbird's own libnss3 writes the database, so its
    format is the one Thunderbird reads."""
    nss = ctypes.CDLL(os.path.join(TB_LIBDIR, "libnss3.so"))
    nss.NSS_InitReadWrite.argtypes = [ctypes.c_char_p]
    nss.PK11_GetInternalKeySlot.restype = ctypes.c_void_p
    nss.PK11_NeedUserInit.argtypes = [ctypes.c_void_p]
    nss.PK11_InitPin.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                 ctypes.c_char_p]
    nss.PK11_FreeSlot.argtypes = [ctypes.c_void_p]
    nss.PK11SDR_Encrypt.argtypes = [ctypes.POINTER(_SECItem)] * 3 + [
        ctypes.c_void_p]
    nss.SECITEM_ZfreeItem.argtypes = [ctypes.POINTER(_SECItem),
                                      ctypes.c_int]
    if nss.NSS_InitReadWrite(("sql:" + profile).encode()) != 0:
        raise SystemExit("NSS_InitReadWrite(%s) failed" % profile)
    slot = nss.PK11_GetInternalKeySlot()
    if not slot:
        raise SystemExit("no internal key slot")
    if nss.PK11_NeedUserInit(slot):
        if nss.PK11_InitPin(slot, b"", b"") != 0:
            raise SystemExit("PK11_InitPin failed")
    nss.PK11_FreeSlot(slot)
    for v in values:
        raw = v.encode()
        buf = ctypes.create_string_buffer(raw, len(raw))
        data = _SECItem(0, ctypes.cast(buf, ctypes.c_void_p), len(raw))
        keyid = _SECItem(0, None, 0)
        out = _SECItem(0, None, 0)
        if nss.PK11SDR_Encrypt(ctypes.byref(keyid), ctypes.byref(data),
                               ctypes.byref(out), None) != 0:
            raise SystemExit("PK11SDR_Encrypt failed")
        print(base64.b64encode(ctypes.string_at(out.data, out.len))
              .decode())
        nss.SECITEM_ZfreeItem(ctypes.byref(out), 0)
    if nss.NSS_Shutdown() != 0:
        raise SystemExit("NSS_Shutdown failed")


def encrypt_logins(profile, logins):
    """Write key4.db and logins.json: logins is [(origin, user, pw)]."""
    values = []
    for _, user, pw in logins:
        values += [user, pw]
    env = dict(os.environ, LD_LIBRARY_PATH=TB_LIBDIR)
    r = subprocess.run([sys.executable, os.path.abspath(__file__),
                        "--sdr-encrypt", profile] + values,
                       capture_output=True, text=True, timeout=60, env=env)
    if r.returncode != 0:
        raise ThunderbirdError("encrypting the password with NSS: %s%s"
                               % (r.stdout, r.stderr))
    enc = r.stdout.split()
    assert len(enc) == len(values), r.stdout
    now = int(time.time() * 1000)
    entries = []
    for i, (origin, _, _) in enumerate(logins):
        entries.append({
            "id": i + 1, "hostname": origin, "httpRealm": origin,
            "formSubmitURL": None, "usernameField": "",
            "passwordField": "", "encryptedUsername": enc[2 * i],
            "encryptedPassword": enc[2 * i + 1],
            "guid": "{%s}" % uuid.uuid4(), "encType": 1,
            "timeCreated": now, "timeLastUsed": now,
            "timePasswordChanged": now, "timesUsed": 1,
        })
    with open(os.path.join(profile, "logins.json"), "w") as f:
        json.dump({"nextId": len(entries) + 1, "logins": entries,
                   "potentiallyVulnerablePasswords": [],
                   "dismissedBreachAlertsByLoginGUID": {},
                   "version": 3}, f)


# -- Marionette: just enough of the protocol to run chrome JS ----------

class Marionette:
    """Length-prefixed JSON ("<len>:<json>") over TCP; commands are
    [0, id, name, params], answers [1, id, error, result]."""

    def __init__(self, port, timeout=60.0):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.buf = b""
        self.msgid = 0
        self._read()                       # the server's hello

    def send(self, name, params):
        """Send a command; its id (for reply())."""
        self.msgid += 1
        data = json.dumps([0, self.msgid, name, params]).encode()
        self.sock.sendall(b"%d:%s" % (len(data), data))
        return self.msgid

    def reply(self, msgid, timeout=None):
        """The result of command msgid, or None when it has not come
        within timeout seconds (None: wait as long as the socket's
        timeout)."""
        while True:
            if timeout is not None and b":" not in self.buf:
                r, _, _ = select.select([self.sock], [], [], timeout)
                if not r:
                    return None
            msg = self._read()
            if msg[0] == 1 and msg[1] == msgid:
                break
        if msg[2]:
            raise ThunderbirdError("Marionette: %s" % (msg[2],))
        return msg[3] if msg[3] is not None else {}

    def _read(self):
        while b":" not in self.buf:
            self._fill()
        n, rest = self.buf.split(b":", 1)
        n = int(n)
        self.buf = rest
        while len(self.buf) < n:
            self._fill()
        msg, self.buf = self.buf[:n], self.buf[n:]
        return json.loads(msg)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ThunderbirdError("Marionette closed the connection")
        self.buf += chunk

    def call(self, name, params):
        return self.reply(self.send(name, params))

    def script(self, js, args=()):
        """Run js (a function body; `arguments` holds args) in the
        chrome context; return its value."""
        return self.call("WebDriver:ExecuteScript",
                         {"script": js, "args": list(args)})["value"]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# The folder pane as drawn: every row of about:3pane's folder tree, in
# order, with its nesting depth (ancestor rows), label and URI.
_FOLDER_PANE_JS = """
const win = Services.wm.getMostRecentWindow("mail:3pane");
if (!win || !win.gTabmail) return null;
const about3Pane = win.gTabmail.currentAbout3Pane;
if (!about3Pane || !about3Pane.folderTree) return null;
const rows = [];
for (const li of about3Pane.folderTree.querySelectorAll("li")) {
  if (!li.uri) continue;
  let depth = 0;
  for (let p = li.parentElement; p && p != about3Pane.folderTree;
       p = p.parentElement) {
    if (p.localName == "li") depth++;
  }
  const label = li.querySelector(".name");
  rows.push([depth, label ? label.textContent : "", li.uri,
             li.closest(".collapsed") ? true : false]);
}
return rows;
"""

# What Thunderbird told the user: warnings in the Activity Manager (the
# alert hook adds each server alert there before showing it) and every
# open window that is not the main one (dialogs, alerts).
_ALERTS_JS = """
const out = {warnings: [], windows: []};
const am = Cc["@mozilla.org/activity-manager;1"]
  .getService(Ci.nsIActivityManager);
for (const a of am.getActivities()) {
  if (a instanceof Ci.nsIActivityWarning) {
    out.warnings.push(a.displayText);
  }
}
for (const w of Services.wm.getEnumerator(null)) {
  const type = w.document.documentElement.getAttribute("windowtype");
  if (type == "mail:3pane") continue;
  let text = "";
  const info = w.document.getElementById("infoBody") ||
    w.document.getElementById("alertTextLabel");
  if (info) text = info.textContent;
  out.windows.push([type, w.document.title, text]);
}
return out;
"""


class Thunderbird:
    """One Thunderbird with a fresh profile under workdir."""

    def __init__(self, workdir, imap_port, user, password,
                 subscribed_only=True, smtp_port=None, artifacts=None,
                 name="thunderbird", full_name="Test User"):
        self.workdir = workdir
        self.imap_port = imap_port
        self.user = user
        self.password = password
        self.subscribed_only = subscribed_only
        self.smtp_port = smtp_port
        self.name = name
        self.full_name = full_name
        self.artifacts = artifacts or os.path.join(workdir, "artifacts")
        self.home = os.path.join(workdir, "home")
        self.profile = os.path.join(workdir, "profile")
        self.log_path = os.path.join(workdir, "thunderbird.log")
        self.xvfb = self.wm = self.tb = None
        self.display = None
        self.marionette_port = None
        self._m = None
        self._logf = None
        self.screenshots = []
        self.dismissed = []
        atexit.register(self.stop)

    # -- profile -------------------------------------------------------

    def prefs(self):
        """user.js preferences (name -> value)."""
        (self.marionette_port, dead) = free_ports(2)
        p = {
            # The account.
            "mail.accountmanager.accounts": "account1,account2",
            "mail.accountmanager.defaultaccount": "account1",
            "mail.accountmanager.localfoldersserver": "server2",
            "mail.account.account1.identities": "id1",
            "mail.account.account1.server": "server1",
            "mail.account.account2.server": "server2",
            "mail.identity.id1.fullName": self.full_name,
            "mail.identity.id1.useremail": self.user,
            "mail.identity.id1.valid": True,
            "mail.server.server1.type": "imap",
            "mail.server.server1.hostname": "127.0.0.1",
            "mail.server.server1.port": self.imap_port,
            "mail.server.server1.userName": self.user,
            "mail.server.server1.name": self.user,
            # Plain text on loopback: no TLS, cleartext password.
            "mail.server.server1.socketType": 0,
            "mail.server.server1.authMethod": 3,
            "mail.server.server1.login_at_startup": True,
            "mail.server.server1.using_subscription": self.subscribed_only,
            "mail.server.server1.directory-rel": "[ProfD]ImapMail/imap",
            "mail.server.server2.type": "none",
            "mail.server.server2.hostname": "Local Folders",
            "mail.server.server2.userName": "nobody",
            "mail.server.server2.name": "Local Folders",
            "mail.server.server2.directory-rel": "[ProfD]Mail/Local Folders",
            # First-run pages, wizards, notices, updates, telemetry.
            "mailnews.start_page.enabled": False,
            "mailnews.start_page_override.mstone": "ignore",
            "mail.shell.checkDefaultClient": False,
            "mail.provider.enabled": False,
            "mail.rights.override": True,
            "mail.rights.version": 1,
            "mail.inappnotifications.enabled": False,
            "app.donation.eoy.version.viewed": 999,
            "app.update.enabled": False,
            "app.update.auto": False,
            "app.update.checkInstallTime": False,
            "extensions.update.enabled": False,
            "extensions.getAddons.cache.enabled": False,
            "datareporting.policy.dataSubmissionEnabled": False,
            "datareporting.healthreport.uploadEnabled": False,
            "datareporting.policy.firstRunURL": "",
            "toolkit.telemetry.enabled": False,
            "toolkit.telemetry.unified": False,
            "toolkit.telemetry.server": "",
            "browser.safebrowsing.malware.enabled": False,
            "browser.safebrowsing.phishing.enabled": False,
            "browser.safebrowsing.downloads.enabled": False,
            "network.captive-portal-service.enabled": False,
            "network.connectivity-service.enabled": False,
            "network.dns.disablePrefetch": True,
            "network.prefetch-next": False,
            "network.trr.mode": 5,
            "network.manage-offline-status": False,
            "app.normandy.enabled": False,
            "messaging-system.rsexperimentloader.enabled": False,
            "services.settings.server": "http://127.0.0.1:%d/" % dead,
            # Whatever HTTP(S) is left goes to a loopback port with no
            # listener: nothing leaves the machine. Mail protocols do
            # not use an HTTP proxy.
            "network.proxy.type": 1,
            "network.proxy.http": "127.0.0.1",
            "network.proxy.http_port": dead,
            "network.proxy.ssl": "127.0.0.1",
            "network.proxy.ssl_port": dead,
            "network.proxy.share_proxy_settings": False,
            "network.proxy.no_proxies_on": "",
            "browser.crashReports.unsubmittedCheck.enabled": False,
            # Marionette, to read the folder pane; no recommended prefs
            # of its own, so that Thunderbird keeps its defaults.
            "marionette.port": self.marionette_port,
            "remote.prefs.recommended": False,
        }
        if self.smtp_port:
            p.update({
                "mail.smtpservers": "smtp1",
                "mail.smtp.defaultserver": "smtp1",
                "mail.smtpserver.smtp1.hostname": "127.0.0.1",
                "mail.smtpserver.smtp1.port": self.smtp_port,
                "mail.smtpserver.smtp1.username": self.user,
                "mail.smtpserver.smtp1.authMethod": 3,
                "mail.smtpserver.smtp1.try_ssl": 0,
                "mail.identity.id1.smtpServer": "smtp1",
            })
        return p

    def write_profile(self):
        for d in (self.home, self.profile, self.artifacts):
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(self.profile, "user.js"), "w") as f:
            for k, v in sorted(self.prefs().items()):
                f.write("user_pref(%s, %s);\n" % (json.dumps(k),
                                                  json.dumps(v)))
        # The password manager's origin for an IMAP server is
        # imap://<host> (MsgIncomingServer._getServerURI(false)).
        logins = [("imap://127.0.0.1", self.user, self.password)]
        if self.smtp_port:
            logins.append(("smtp://127.0.0.1", self.user, self.password))
        encrypt_logins(self.profile, logins)

    # -- processes -----------------------------------------------------

    def _env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DBUS_", "WAYLAND_", "XDG_", "MOZ_"))}
        env.update({"HOME": self.home, "DISPLAY": ":%d" % self.display,
                    "MOZ_CRASHREPORTER_DISABLE": "1",
                    "MOZ_CRASHREPORTER": "0",
                    "XDG_CONFIG_HOME": os.path.join(self.home, ".config"),
                    "XDG_CACHE_HOME": os.path.join(self.home, ".cache"),
                    "GDK_BACKEND": "x11", "NO_AT_BRIDGE": "1",
                    "LANG": "C.UTF-8"})
        return env

    def start(self, timeout=120.0):
        if missing_tools():
            raise ThunderbirdError("missing: %s (run tests/deps.sh --gui)"
                                   % " ".join(missing_tools()))
        if not os.path.exists(os.path.join(self.profile, "user.js")):
            self.write_profile()
        self._logf = open(self.log_path, "ab")
        try:
            self._start_x()
            self.wm = subprocess.Popen([WM, "-use_titlebar", "yes"],
                                       env=self._env(), stdout=self._logf,
                                       stderr=self._logf,
                                       start_new_session=True)
            self.tb = subprocess.Popen(
                [THUNDERBIRD, "-profile", self.profile, "-no-remote",
                 "-marionette", "-remote-allow-system-access"],
                env=self._env(), stdout=self._logf,
                stderr=self._logf, start_new_session=True)
            self._connect(timeout)
            wait_for(lambda: self.folder_pane() is not None,
                     timeout=timeout, interval=0.5,
                     what="Thunderbird's folder pane", check=self._check)
        except BaseException:
            self.stop()
            raise

    def _start_x(self):
        r, w = os.pipe()
        try:
            self.xvfb = subprocess.Popen(
                [XVFB, "-displayfd", str(w), "-screen", "0", GEOMETRY,
                 "-nolisten", "tcp"],
                pass_fds=(w,), stdout=self._logf, stderr=self._logf,
                start_new_session=True)
        except BaseException:
            os.close(r)
            os.close(w)
            raise
        os.close(w)
        with os.fdopen(r) as f:
            line = f.readline()
        if not line.strip().isdigit():
            raise ThunderbirdError("Xvfb gave no display: %s"
                                   % self.log_tail())
        self.display = int(line)

    def _check(self):
        for name in ("xvfb", "wm", "tb"):
            p = getattr(self, name)
            if p is not None and p.poll() is not None:
                raise ThunderbirdError("%s exited with %s:\n%s"
                                       % (name, p.returncode,
                                          self.log_tail()))

    def _connect(self, timeout):
        """Open the Marionette session. A modal alert holds up
        Thunderbird's startup (and so the session): each one that shows
        meanwhile is recorded and closed, as a user would (dismiss())."""
        deadline = time.monotonic() + timeout
        last = None
        while self._m is None:
            self._check()
            if time.monotonic() > deadline:
                raise ThunderbirdError(
                    "no Marionette on port %d after %.0fs (%s):\n%s"
                    % (self.marionette_port, timeout, last,
                       self.log_tail()))
            try:
                self._m = Marionette(self.marionette_port)
            except (OSError, ValueError, ThunderbirdError) as e:
                last = e
                time.sleep(0.5)
        msgid = self._m.send("WebDriver:NewSession",
                             {"capabilities": {"alwaysMatch": {}}})
        while self._m.reply(msgid, timeout=0.5) is None:
            self._check()
            self.dismiss()
            if time.monotonic() > deadline:
                raise ThunderbirdError("Marionette session not ready after "
                                       "%.0fs:\n%s" % (timeout,
                                                       self.log_tail()))
        self._m.call("Marionette:SetContext", {"value": "chrome"})

    def dismiss(self):
        """Record and close every window besides the main one: its
        title and a screenshot go to self.dismissed, then Return (the
        default button: OK of an alert) is typed into it."""
        for wid, title in self._extra_windows():
            shot = self.screenshot("window-%d" % (len(self.dismissed) + 1))
            self.dismissed.append((title, shot))
            env = self._env()
            subprocess.run([XDOTOOL, "windowactivate", "--sync", wid],
                           env=env, timeout=30, capture_output=True)
            subprocess.run([XDOTOOL, "key", "--clearmodifiers", "Return"],
                           env=env, timeout=30, capture_output=True)
            time.sleep(0.5)

    def stop(self):
        if self._m is not None:
            self._m.close()
            self._m = None
        for name in ("tb", "wm", "xvfb"):
            p = getattr(self, name)
            if p is not None:
                kill_group(p)
                setattr(self, name, None)
        if self._logf is not None:
            self._logf.close()
            self._logf = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def log_tail(self, n=40):
        return tail(self.log_path, n)

    # -- what it shows -------------------------------------------------

    def poll(self):
        """Raise if a process died; record and close any alert."""
        self._check()
        self.dismiss()

    def script(self, js, args=()):
        self._check()
        return self._m.script(js, args)

    def folder_pane(self):
        """[(depth, label, uri, collapsed)] of the folder pane, or None
        before it is there."""
        rows = self.script(_FOLDER_PANE_JS)
        return None if rows is None else [tuple(r) for r in rows]

    def expand_all(self):
        """Open every folder of the pane, as a user clicking each twisty
        would (rows below a closed folder are not drawn)."""
        self.script("""
const about3Pane = Services.wm.getMostRecentWindow("mail:3pane")
  .gTabmail.currentAbout3Pane;
const tree = about3Pane.folderTree;
for (const li of tree.querySelectorAll("li.collapsed")) {
  tree.expandRow(li);
}
""")

    def alerts(self):
        """{"warnings": [text], "windows": [(type, title, text)],
        "x_windows": [title]}: what Thunderbird showed besides its main
        window."""
        a = self.script(_ALERTS_JS)
        a["x_windows"] = [t for _, t in self._extra_windows()]
        a["dismissed"] = list(self.dismissed)
        return a

    def x_windows(self):
        """[(window id, title)] of every visible X window with a name."""
        env = self._env()
        r = subprocess.run([XDOTOOL, "search", "--onlyvisible", "--name",
                            "."], capture_output=True, text=True, env=env,
                           timeout=30)
        out = []
        for wid in r.stdout.split():
            t = subprocess.run([XDOTOOL, "getwindowname", wid],
                               capture_output=True, text=True, env=env,
                               timeout=30).stdout.strip()
            out.append((wid, t))
        return out

    def _extra_windows(self):
        """The visible windows other than the main one (the 3-pane
        window's title ends in " - Mozilla Thunderbird" or is
        "Mozilla Thunderbird")."""
        return [(w, t) for w, t in self.x_windows()
                if t and not t.endswith(MAIN_TITLE)]

    def screenshot(self, label):
        """The whole screen as a PNG under artifacts; its path."""
        path = os.path.join(self.artifacts, "%s-%s.png" % (self.name,
                                                            label))
        subprocess.run([IMPORT, "-window", "root", path], check=True,
                       env=self._env(), timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.screenshots.append(path)
        return path


def rawlog_lines(rawlog_dir):
    """Every line of every Dovecot rawlog file below rawlog_dir, as
    (file, line) in file order (*.in: client, *.out: server)."""
    out = []
    if not os.path.isdir(rawlog_dir):
        return out
    for name in sorted(os.listdir(rawlog_dir)):
        with open(os.path.join(rawlog_dir, name), "rb") as f:
            for line in f.read().decode("utf-8", "replace").splitlines():
                out.append((name, line))
    return out


def imap_exchanges(rawlog_dir):
    """The client's tagged commands and the server's tagged answers
    from Dovecot's rawlog (rawlog_dir = ...; one <session>.in and
    <session>.out per connection, each line "<time> <text>"), as
    [{"session", "tag", "command", "status", "answer"}] in order."""
    commands, answers = {}, {}
    for name, line in rawlog_lines(rawlog_dir):
        session, _, kind = name.rpartition(".")
        parts = line.split(" ", 2)
        if len(parts) < 3 or parts[1] in ("*", "+"):
            continue
        if kind == "in":
            commands.setdefault(session, []).append((parts[1], parts[2]))
        elif kind == "out":
            answers[(session, parts[1])] = parts[2]
    out = []
    for session in sorted(commands):
        for tag, command in commands[session]:
            answer = answers.get((session, tag), "")
            out.append({"session": session, "tag": tag,
                        "command": command,
                        "status": answer.split(" ", 1)[0],
                        "answer": answer})
    return out


def wait_quiet(rawlog_dir, quiet=15.0, timeout=180.0, check=None):
    """Wait until the IMAP traffic in rawlog_dir has been still for
    `quiet` seconds, at least one session having logged in: the first
    sync is over. Thunderbird's first new-mail check (STATUS of every
    folder it knows) comes about 10 s after the login, hence 15 s.
    check() runs on every poll (Thunderbird.poll: dies with Thunderbird,
    closes alerts). Returns the seconds waited."""
    t0 = time.monotonic()
    state = {"size": -1, "since": time.monotonic()}

    def still():
        size = sum(os.path.getsize(os.path.join(rawlog_dir, n))
                   for n in os.listdir(rawlog_dir)) \
            if os.path.isdir(rawlog_dir) else 0
        now = time.monotonic()
        if size != state["size"]:
            state["size"] = size
            state["since"] = now
            return False
        return size > 0 and now - state["since"] >= quiet

    wait_for(still, timeout=timeout, interval=0.5,
             what="the IMAP traffic to settle", check=check)
    return time.monotonic() - t0


if __name__ == "__main__" and len(sys.argv) >= 3 \
        and sys.argv[1] == "--sdr-encrypt":
    _sdr_encrypt_main(sys.argv[2], sys.argv[3:])
