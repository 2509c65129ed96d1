"""roundcube - Debian's Roundcube served on loopback, and headless
Chromium to drive it, for tests (tests/roundcube, make check-roundcube).

Roundcube(workdir, imap_port, site_php) -> Debian's roundcube
    (/var/lib/roundcube/public_html, the package's web root) served by
    Apache's own binary with mod_php on 127.0.0.1 on a free port, with
    a configuration of its own under workdir/roundcube: nothing in
    /etc is written, and nothing there is read as configuration but
    Debian's defaults.inc.php and mimetypes.php (linked into
    workdir/roundcube/config), the acl plugin's empty config.inc.php
    (the package links it from /etc), PHP's php.ini and extensions.
    The Apache configuration sets ROUNDCUBE_CONFIG_DIR, which Debian's
    program/include/iniset.php reads, to that config directory;
    config.inc.php there has the IMAP host (the test's Dovecot), a
    SQLite database initialised from Roundcube's own
    SQL/sqlite.initial.sql, its temp and log directories and a
    des_key, then site_php (PHP source: the plugins and settings a
    site adds, the README's). Started as root, Apache's children
    serve as nobody/nogroup (Apache will not serve as root), who owns
    the database, temp and log directories. .url, .d (its directory),
    .logs() (Apache's and Roundcube's logs, for failure messages),
    .stop().

chromium(workdir) -> a selenium WebDriver of Debian's chromium
    (headless, a new empty profile below workdir, background
    networking, sync and component updates off) through Debian's
    chromedriver (its log in workdir); quit_chromium(driver) stops
    both and removes the profile.

missing_tools() -> what of the above is not installed (tests/deps.sh
    --roundcube installs it).
"""

import glob
import grp
import importlib.util
import os
import pwd
import shutil
import sqlite3
import subprocess
import tempfile
import urllib.request

from daemonutil import free_port, kill_group, tail, wait_for

WEBROOT = "/var/lib/roundcube/public_html"
ROUNDCUBE_ETC = "/etc/roundcube"	# Debian's defaults, read only
INITIAL_SQL = "/usr/share/roundcube/SQL/sqlite.initial.sql"
APACHE = "/usr/sbin/apache2"
APACHE_MODULES = "/usr/lib/apache2/modules"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# Apache's configuration: only what serving Roundcube's PHP needs.
APACHE_CONF = """\
ServerRoot "{d}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{d}/apache.pid"
DefaultRuntimeDir "{d}"
Mutex file:{d} default
ErrorLog "{d}/error.log"
LogLevel warn
LogFormat "%h %t \\"%r\\" %>s %b %D" timed
CustomLog "{d}/access.log" timed
{user}
LoadModule mpm_prefork_module {mods}/mod_mpm_prefork.so
LoadModule authz_core_module {mods}/mod_authz_core.so
LoadModule mime_module {mods}/mod_mime.so
LoadModule dir_module {mods}/mod_dir.so
LoadModule env_module {mods}/mod_env.so
LoadModule php_module {php}
StartServers 2
MinSpareServers 2
MaxSpareServers 4
MaxRequestWorkers 8
TypesConfig /etc/mime.types
DocumentRoot "{root}"
DirectoryIndex index.php
<Directory />
    Require all denied
    AllowOverride None
</Directory>
<Directory "{root}">
    Options FollowSymLinks
    Require all granted
</Directory>
<FilesMatch "\\.php$">
    SetHandler application/x-httpd-php
</FilesMatch>
# Debian's iniset.php: the configuration directory of this instance
SetEnv ROUNDCUBE_CONFIG_DIR "{config}"
php_admin_value error_log "{d}/php.log"
php_admin_flag log_errors on
php_admin_flag display_errors off
"""


def php(value):
    """A Python value (str, bool, int, list, dict) as PHP source."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'%s'" % value.replace("\\", "\\\\").replace("'", "\\'")
    if isinstance(value, (list, tuple)):
        return "[%s]" % ", ".join(php(v) for v in value)
    if isinstance(value, dict):
        return "[%s]" % ", ".join("%s => %s" % (php(k), php(v))
                                  for k, v in value.items())
    raise TypeError("no PHP for %r" % (value,))


def php_module():
    """mod_php of the installed PHP (libphp8.2.so on Debian 12)."""
    found = sorted(glob.glob(os.path.join(APACHE_MODULES, "libphp*.so")))
    return found[-1] if found else None


def missing_tools():
    need = [APACHE, WEBROOT, INITIAL_SQL, CHROMIUM, CHROMEDRIVER,
            os.path.join(ROUNDCUBE_ETC, "defaults.inc.php"),
            os.path.join(WEBROOT, "plugins", "acl", "acl.php")]
    missing = [p for p in need if not os.path.exists(p)]
    if php_module() is None:
        missing.append(os.path.join(APACHE_MODULES, "libphp*.so"))
    if importlib.util.find_spec("selenium") is None:
        missing.append("python3-selenium")
    return missing


class RoundcubeError(RuntimeError):
    pass


class Roundcube:
    def __init__(self, workdir, imap_port, site_php):
        self.d = os.path.join(workdir, "roundcube")
        self.proc = None
        os.makedirs(self.d)
        os.chmod(self.d, 0o755)
        self.config = os.path.join(self.d, "config")
        os.makedirs(self.config)
        os.chmod(self.config, 0o755)
        # what Apache's children write: owned by the user they serve as
        self.data = os.path.join(self.d, "data")
        for sub in ("", "temp", "logs"):
            os.makedirs(os.path.join(self.data, sub), exist_ok=True)
        db = os.path.join(self.data, "roundcube.db")
        with open(INITIAL_SQL) as f:
            sql = f.read()
        conn = sqlite3.connect(db)
        try:
            conn.executescript(sql)
            conn.commit()
        finally:
            conn.close()
        user = ""
        if os.geteuid() == 0:
            uid = pwd.getpwnam("nobody").pw_uid
            gid = grp.getgrnam("nogroup").gr_gid
            for top, dirs, files in os.walk(self.data):
                for name in [""] + dirs + files:
                    os.chown(os.path.join(top, name), uid, gid)
            user = "User nobody\nGroup nogroup"
        for name in ("defaults.inc.php", "mimetypes.php"):
            os.symlink(os.path.join(ROUNDCUBE_ETC, name),
                       os.path.join(self.config, name))
        conf = {
            "db_dsnw": "sqlite:///%s?mode=0640" % db,
            "imap_host": "127.0.0.1:%d" % imap_port,
            "temp_dir": os.path.join(self.data, "temp") + "/",
            "log_dir": os.path.join(self.data, "logs") + "/",
            "log_driver": "file",
            # 24 characters; a test's sessions are its own
            "des_key": os.urandom(12).hex(),
            "enable_installer": False,
            "skin": "elastic",
        }
        with open(os.path.join(self.config, "config.inc.php"), "w") as f:
            f.write("<?php\n$config = [];\n")
            for key, value in conf.items():
                f.write("$config[%s] = %s;\n" % (php(key), php(value)))
            f.write("// the site's settings\n" + site_php)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d/" % self.port
        self.conf = os.path.join(self.d, "apache.conf")
        with open(self.conf, "w") as f:
            f.write(APACHE_CONF.format(
                d=self.d, port=self.port, user=user, mods=APACHE_MODULES,
                php=php_module(), root=WEBROOT, config=self.config))
        self.start()

    def start(self, timeout=30.0):
        # -X would serve from one process; prefork's children are the
        # way a site runs it
        with open(os.path.join(self.d, "apache.out"), "w") as out:
            self.proc = subprocess.Popen(
                [APACHE, "-f", self.conf, "-DFOREGROUND"], stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        # loopback: no proxy, whatever the environment says
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        def up():
            if self.proc.poll() is not None:
                raise RoundcubeError("apache2 exited %d\n%s" % (
                    self.proc.returncode, self.logs()))
            try:
                with opener.open(self.url, timeout=5) as r:
                    return r.status == 200 and b"rcmloginuser" in r.read()
            except OSError:
                return False
        try:
            wait_for(up, timeout=timeout, interval=0.1,
                     what="Roundcube's login page")
        except TimeoutError as e:
            self.stop()
            raise RoundcubeError("%s\n%s" % (e, self.logs()))
        except BaseException:
            self.stop()
            raise

    def logs(self):
        out = ""
        paths = [os.path.join(self.d, n) for n in
                 ("apache.out", "error.log", "php.log", "access.log")]
        paths += sorted(glob.glob(os.path.join(self.data, "logs", "*")))
        for p in paths:
            if os.path.exists(p):
                out += "== %s\n%s\n" % (p, tail(p, 40))
        return out

    def stop(self):
        if self.proc is None:
            return
        # SIGTERM to the parent: Apache stops its children itself
        kill_group(self.proc)
        self.proc = None


def chromium(workdir):
    """Headless Chromium through chromedriver, a new empty profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp(prefix="chromium-", dir=workdir)
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-quic", "--no-first-run",
                 "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--no-proxy-server",
                 "--window-size=1280,900",
                 "--user-data-dir=" + profile):
        opts.add_argument(flag)
    service = Service(CHROMEDRIVER,
                      log_path=os.path.join(workdir, "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=opts)
    driver.mailgrants_profile = profile
    return driver


def quit_chromium(driver):
    """Stop the browser and chromedriver; remove the profile."""
    try:
        driver.quit()
    finally:
        shutil.rmtree(driver.mailgrants_profile, ignore_errors=True)

