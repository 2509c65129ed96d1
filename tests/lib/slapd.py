"""slapd - a private OpenLDAP server for integration tests.

    from slapd import Slapd, EXAMPLE_USERS

    with Slapd() as ldap:                  # example directory loaded
        rc, out, err = ldap.ldapsearch("(mail=*)", "mail", root=True)
        ldap.write_config("/tmp/x/mailgrants.conf", replica="/tmp/x/g.db")

Slapd(ldif=..., schema=True, access=True, size_limit=500, start=True,
      workdir=None)
    builds a fresh temporary directory (or the new directory workdir,
    which close() removes too) with a cn=config (slapd.d)
    holding the schemas core, cosine, inetorgperson and (schema=True)
    ldap-schema/mailgrants.ldif, the modules back_mdb and syncprov, and
    one mdb database for dc=example,dc=org (rootdn cn=admin,... with
    password admin-secret, the syncprov overlay, and with access=True
    the settings of ldap-schema/access.ldif: olcAccess, olcAddContentAcl). The ldif (default
    ldap-schema/examples/abc.ldif; None for an empty database) is loaded
    with slapadd. Then slapd runs in the foreground as a child process
    on ldap://127.0.0.1:<free port>/ and on an ldapi:// socket in the
    temporary directory; the constructor returns once it answers.

    size_limit is the database's size limit (soft and hard) for plain
    searches; paged results may return more (size.prtotal=unlimited),
    so a reader that does not page fails on a directory larger than it.

    The uid/gid running the tests gets manage access to cn=config
    through ldapi:// and SASL EXTERNAL, as root has on a Debian system.

Attributes: uri, ldapi_uri, port, base, rootdn, rootpw, tmpdir, sync_dn,
sync_pw, admin_dn, admin_pw, log_path.

Methods: start(), stop() (SIGTERM, wait), kill() (SIGKILL), restart(),
close() (stop and remove tmpdir unless MAILGRANTS_KEEP_TMP is set), the
ldap-utils wrappers ldapsearch/ldapadd/ldapmodify/ldapdelete/ldapwhoami
returning (returncode, stdout, stderr), search() returning parsed
entries, and write_config() for a mailgrants.conf that reads this
directory as the sync identity.

Environment: MAILGRANTS_KEEP_TMP=1 keeps the temporary directory (its
path is printed); MAILGRANTS_SLAPD_DEBUG=<level> (e.g. "acl" or "256")
runs slapd with that debug level, logging to <tmpdir>/slapd.log.
"""

import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

from daemonutil import free_port, kill_group, tail

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMA_DIR = os.path.join(REPO, "ldap-schema")
MAILGRANTS_LDIF = os.path.join(SCHEMA_DIR, "mailgrants.ldif")
ACCESS_LDIF = os.path.join(SCHEMA_DIR, "access.ldif")
EXAMPLE_LDIF = os.path.join(SCHEMA_DIR, "examples", "abc.ldif")

SYSTEM_SCHEMA_DIR = "/etc/ldap/schema"
MODULE_DIR = "/usr/lib/ldap"
SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"

# The example directory's names (tests/lib/example.py), here too for
# the tests that import them from slapd.
from example import (ADMIN_DN, ADMIN_PW, ADMINS_GROUP,  # noqa: E402,F401
                     BASE, EXAMPLE_USERS, ROOTDN, ROOTPW, SYNC_DN, SYNC_PW)

_DEFAULT = object()


class SlapdError(RuntimeError):
    """slapd could not be set up, started or stopped."""


def ldif_unfold(text):
    """LDIF text -> list of logical lines (continuations joined, comments
    and the blank-line record separators kept as "")."""
    lines = []
    for raw in text.splitlines():
        if raw.startswith(" ") and lines and lines[-1] != "":
            lines[-1] += raw[1:]
        elif raw.startswith("#"):
            continue
        else:
            lines.append(raw.rstrip("\r") if raw.strip() else "")
    return lines


def parse_ldif(text):
    """Parse LDIF content (as ldapsearch -LLL prints it) into a list of
    (dn, {attribute_lowercase: [str values]}); base64 values decoded as
    UTF-8. Change records are returned the same way (changetype etc. as
    attributes)."""
    entries = []
    dn, attrs = None, {}
    for line in ldif_unfold(text) + [""]:
        if line == "":
            if dn is not None:
                entries.append((dn, attrs))
            dn, attrs = None, {}
            continue
        if line == "-":
            attrs.setdefault("-", []).append("-")
            continue
        m = re.match(r"^([A-Za-z0-9;.-]+)(::?)\s?(.*)$", line)
        if not m:
            continue
        name, sep, value = m.groups()
        if sep == "::":
            value = base64.b64decode(value).decode("utf-8", "replace")
        if name.lower() == "dn" and dn is None:
            dn = value
        else:
            attrs.setdefault(name.lower(), []).append(value)
    return entries


def access_settings(path=ACCESS_LDIF):
    """The database settings ldap-schema/access.ldif replaces, as a list
    of (attribute, value): the olcAccess rules in order, and whatever
    else it sets (olcAddContentAcl)."""
    with open(path, encoding="utf-8") as f:
        entries = parse_ldif(f.read())
    out = []
    for _dn, attrs in entries:
        names = {}
        for name in attrs.get("replace", []):
            names[name.lower()] = name
        for low, name in names.items():
            out.extend((name, v) for v in attrs.get(low, []))
    if not any(name.lower() == "olcaccess" for name, _v in out):
        raise SlapdError("%s: no olcAccess values" % path)
    return out


def access_rules(path=ACCESS_LDIF):
    """The olcAccess values of ldap-schema/access.ldif, in order."""
    return [v for name, v in access_settings(path)
            if name.lower() == "olcaccess"]


def _read_schema_ldif(path):
    with open(path, encoding="utf-8") as f:
        return f.read().strip("\n") + "\n"


class Slapd:
    """A private slapd in a temporary directory; see the module doc."""

    def __init__(self, ldif=_DEFAULT, schema=True, access=None,
                 size_limit=500, start=True, extra_config="", syncprov=True,
                 workdir=None):
        self.base = BASE
        self.rootdn = ROOTDN
        self.rootpw = ROOTPW
        self.sync_dn = SYNC_DN
        self.sync_pw = SYNC_PW
        self.admin_dn = ADMIN_DN
        self.admin_pw = ADMIN_PW
        self.schema = schema
        self.access = schema if access is None else access
        self.size_limit = size_limit
        self.extra_config = extra_config
        self.syncprov = syncprov
        self.ldif = EXAMPLE_LDIF if ldif is _DEFAULT else ldif
        self.proc = None
        if workdir is not None:
            os.mkdir(workdir)
            self.tmpdir = workdir
        else:
            self.tmpdir = tempfile.mkdtemp(prefix="mailgrants-slapd-",
                                           dir="/tmp")
        os.chmod(self.tmpdir, 0o755)
        self.confdir = os.path.join(self.tmpdir, "slapd.d")
        self.datadir = os.path.join(self.tmpdir, "data")
        self.socket_path = os.path.join(self.tmpdir, "ldapi")
        self.log_path = os.path.join(self.tmpdir, "slapd.log")
        self.port = free_port()
        self.uri = "ldap://127.0.0.1:%d/" % self.port
        self.ldapi_uri = "ldapi://%s/" % urllib.parse.quote(
            self.socket_path, safe="")
        try:
            self._build()
            if start:
                self.start()
        except BaseException:
            self.close()
            raise

    # -------------------------------------------------------- setup

    def config_ldif(self):
        """The cn=config LDIF this instance is built from."""
        t = self.tmpdir
        ext_dn = ("gidNumber=%d+uidNumber=%d,cn=peercred,cn=external,cn=auth"
                  % (os.getgid(), os.getuid()))
        parts = ["""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {t}/slapd.pid
olcArgsFile: {t}/slapd.args
olcLogLevel: none

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {mod}
olcModuleLoad: {{0}}back_mdb
olcModuleLoad: {{1}}syncprov

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema
""".format(t=t, mod=MODULE_DIR)]
        schemas = [os.path.join(SYSTEM_SCHEMA_DIR, n + ".ldif")
                   for n in ("core", "cosine", "inetorgperson")]
        if self.schema:
            schemas.append(MAILGRANTS_LDIF)
        for path in schemas:
            parts.append(_read_schema_ldif(path))
        parts.append("""dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by dn.exact="{ext}" manage by * none
""".format(ext=ext_dn))
        lim = self.size_limit
        mdb = ["dn: olcDatabase={1}mdb,cn=config",
               "objectClass: olcDatabaseConfig",
               "objectClass: olcMdbConfig",
               "olcDatabase: {1}mdb",
               "olcDbDirectory: %s" % self.datadir,
               "olcSuffix: %s" % self.base,
               "olcRootDN: %s" % self.rootdn,
               "olcRootPW: %s" % self.rootpw,
               "olcDbMaxSize: 1073741824",
               "olcDbIndex: objectClass eq",
               "olcDbIndex: entryCSN,entryUUID eq",
               "olcDbIndex: mail,uid eq",
               "olcDbIndex: member eq"]
        if lim is not None:
            mdb.append("olcSizeLimit: size.soft=%d size.hard=%d "
                       "size.prtotal=unlimited" % (lim, lim))
        if self.schema:
            mdb.append("olcDbIndex: mailgrantsAddress,mailgrantsDomain eq")
        if self.access:
            for name, value in access_settings():
                mdb.append("%s: %s" % (name, value))
        if self.extra_config:
            mdb.append(self.extra_config.strip("\n"))
        parts.append("\n".join(mdb) + "\n")
        if self.syncprov:
            parts.append("""dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {0}syncprov
olcSpCheckpoint: 100 10
olcSpSessionlog: 1000
""")
        return "\n".join(parts)

    def _run_tool(self, argv, input_text=None):
        p = subprocess.run(argv, input=input_text, capture_output=True,
                           text=True, timeout=120)
        if p.returncode != 0:
            raise SlapdError("%s failed (%d): %s%s" % (
                " ".join(argv), p.returncode, p.stdout, p.stderr))
        return p

    def _build(self):
        for exe in (SLAPD, SLAPADD):
            if not os.access(exe, os.X_OK):
                raise SlapdError("%s not found (apt-get install slapd)" % exe)
        os.mkdir(self.confdir, 0o700)
        os.mkdir(self.datadir, 0o700)
        cfg = os.path.join(self.tmpdir, "config.ldif")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(self.config_ldif())
        self._run_tool([SLAPADD, "-q", "-n0", "-F", self.confdir, "-l", cfg])
        if self.ldif is not None:
            self.load_offline(self.ldif)

    def load_offline(self, ldif_path):
        """slapadd an LDIF file into the database (slapd must be down)."""
        if self.running():
            raise SlapdError("load_offline() while slapd runs")
        self._run_tool([SLAPADD, "-q", "-F", self.confdir, "-b", self.base,
                        "-l", ldif_path])

    # ----------------------------------------------------- process

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=15.0):
        """Start slapd (same port, same data) and wait until it answers."""
        if self.running():
            return
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
        debug = os.environ.get("MAILGRANTS_SLAPD_DEBUG", "0")
        argv = [SLAPD, "-d", debug, "-F", self.confdir,
                "-h", "%s %s" % (self.uri, self.ldapi_uri)]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                raise SlapdError("slapd exited with %d while starting:\n%s"
                                 % (rc, self._tail()))
            if self._answers():
                return
            if time.monotonic() > deadline:
                self.kill()
                raise SlapdError("slapd did not answer within %.0fs:\n%s"
                                 % (timeout, self._tail()))
            time.sleep(0.05)

    def _answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=0.5):
                pass
        except OSError:
            return False
        rc, _out, _err = self._ldap("ldapsearch", ["-s", "base", "-b", "",
                                                  "1.1"], timeout=5)
        return rc == 0

    def _tail(self, n=30):
        return tail(self.log_path, n)

    def _reap(self, sig, timeout):
        kill_group(self.proc, term_timeout=timeout, sig=sig)
        self.proc = None
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None

    def stop(self, timeout=10.0):
        """SIGTERM, wait for slapd to exit (SIGKILL after timeout)."""
        self._reap(signal.SIGTERM, timeout)

    def kill(self):
        """SIGKILL slapd, as a crash would."""
        self._reap(signal.SIGKILL, 10.0)

    def restart(self):
        self.stop()
        self.start()

    def close(self):
        """Stop slapd and remove the temporary directory."""
        try:
            self.stop()
        finally:
            if os.environ.get("MAILGRANTS_KEEP_TMP"):
                sys.stderr.write("slapd: keeping %s\n" % self.tmpdir)
            elif self.tmpdir and os.path.isdir(self.tmpdir):
                shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            if self.running():
                self.close()
        except Exception:
            pass

    # ------------------------------------------------- ldap-utils

    def _auth_args(self, binddn, password, root, external):
        if external:
            return ["-Q", "-Y", "EXTERNAL", "-H", self.ldapi_uri]
        args = ["-x", "-H", self.uri]
        if root:
            binddn, password = self.rootdn, self.rootpw
        if binddn is not None:
            args += ["-D", binddn, "-w", password if password else ""]
        return args

    def _ldap(self, tool, args, binddn=None, password=None, root=False,
              external=False, input_text=None, timeout=30):
        argv = [tool] + self._auth_args(binddn, password, root, external)
        argv += list(args)
        try:
            p = subprocess.run(argv, input=input_text, capture_output=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired as e:
            return (-1, "", "timeout: %s" % e)
        return (p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace"))

    def ldapsearch(self, *args, binddn=None, password=None, root=False,
                   external=False, base=None):
        """ldapsearch -LLL -o ldif-wrap=no [-b base] ARGS...

        -b defaults to the suffix unless ARGS has -b. Anonymous unless
        binddn/password, root=True (the rootdn) or external=True (SASL
        EXTERNAL over ldapi://, manage on cn=config).
        """
        args = list(args)
        pre = ["-LLL", "-o", "ldif-wrap=no"]
        if "-b" not in args:
            pre += ["-b", base if base is not None else self.base]
        return self._ldap("ldapsearch", pre + args, binddn, password, root,
                          external)

    def search(self, *args, **kw):
        """ldapsearch, parsed: (returncode, [(dn, {attr: [values]})],
        stderr)."""
        rc, out, err = self.ldapsearch(*args, **kw)
        return rc, parse_ldif(out), err

    def ldapadd(self, ldif_text, binddn=None, password=None, root=False,
                external=False, timeout=30):
        return self._ldap("ldapadd", [], binddn, password, root, external,
                          input_text=ldif_text.encode("utf-8"),
                          timeout=timeout)

    def ldapmodify(self, ldif_text, binddn=None, password=None, root=False,
                   external=False):
        return self._ldap("ldapmodify", [], binddn, password, root, external,
                          input_text=ldif_text.encode("utf-8"))

    def ldapdelete(self, *dns, binddn=None, password=None, root=False,
                   external=False):
        return self._ldap("ldapdelete", list(dns), binddn, password, root,
                          external)

    def ldap_tool(self, tool, *args, binddn=None, password=None,
                  root=False, external=False, input_text=None):
        """Any ldap-utils tool (ldappasswd, ldapcompare, ...) with the
        connection and bind options filled in."""
        if input_text is not None:
            input_text = input_text.encode("utf-8")
        return self._ldap(tool, args, binddn, password, root, external,
                          input_text=input_text)

    def ldapwhoami(self, binddn=None, password=None, root=False,
                   external=False):
        return self._ldap("ldapwhoami", [], binddn, password, root, external)

    # ------------------------------------------------ mailgrants.conf

    def shares(self):
        """Every share entry, read as the rootdn: {dn lowercased:
        {attribute lowercased: [values]}}."""
        rc, entries, err = self.search("(objectClass=mailgrantsShare)",
                                       root=True)
        assert rc == 0, err
        return {dn.lower(): attrs for dn, attrs in entries}

    def write_config(self, path, replica=None, **extra):
        """Write a mailgrants.conf at path that reads this directory as
        the sync identity; the bind password goes to a 0600 file
        <path>.ldap-password. replica and extra keys (struct config
        field names) are added; a value of None drops a key.
        Returns path."""
        pwfile = path + ".ldap-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.sync_pw)
        keys = {}
        if replica is not None:
            keys["replica"] = replica
        keys.update({
            "ldap_uri": self.uri,
            "ldap_bind_dn": self.sync_dn,
            "ldap_bind_password_file": pwfile,
            "ldap_base": self.base,
        })
        keys.update(extra)
        with open(path, "w", encoding="utf-8") as f:
            f.write("# written by tests/lib/slapd.py for %s\n" % self.uri)
            for k, v in keys.items():
                if v is None:
                    continue
                if isinstance(v, bool):
                    v = "yes" if v else "no"
                f.write("%s = %s\n" % (k, v))
        return path


# ------------------------------------------------ a Debian-like slapd

# What Debian's slapd package builds its cn=config from (postinst).
DEBIAN_INIT_LDIF = "/usr/share/slapd/slapd.init.ldif"
# The database's olcAccess in it, in order.
DEBIAN_ACCESS = [
    "to attrs=userPassword by self write by anonymous auth by * none",
    "to attrs=shadowLastChange by self write by * read",
    "to * by * read",
]


class DebianSlapd(Slapd):
    """slapd configured the way Debian 12's package configures it: the
    cn=config of /usr/share/slapd/slapd.init.ldif (frontend and
    cn=config give the local root manage access through ldapi:// and
    SASL EXTERNAL, the schemas core, cosine, nis and inetorgperson, the
    module back_mdb only, one mdb database with Debian's indexes and
    access rules, DEBIAN_ACCESS), with suffix dc=example,dc=org, the
    rootdn cn=admin,... and its paths in the temporary directory, and
    the suffix entry the postinst adds; no mailgrants schema, rules,
    syncprov or entries. For "mailgrants setup-directory" and the
    README's guide. schemas: the system schemas loaded (leave one out
    for a missing prerequisite); ldif: the site's own entries below
    the suffix, loaded before the start. The local root is the uid/gid
    running the tests. Everything else as Slapd (start, stop, ldap-utils
    wrappers)."""

    def __init__(self, schemas=("core", "cosine", "nis", "inetorgperson"),
                 ldif=None, **kw):
        self.system_schemas = schemas
        self.site_ldif = ldif
        super().__init__(ldif=None, schema=False, access=False,
                         syncprov=False, size_limit=None, **kw)

    def config_ldif(self):
        with open(DEBIAN_INIT_LDIF, encoding="utf-8") as f:
            text = f.read()
        for name in ("core", "cosine", "nis", "inetorgperson"):
            if name not in self.system_schemas:
                text = text.replace(
                    "include: file://%s/%s.ldif\n" % (SYSTEM_SCHEMA_DIR,
                                                      name), "")
        return (text.replace("@SUFFIX@", self.base)
                .replace("@PASSWORD@", self.rootpw)
                .replace("/var/run/slapd/", self.tmpdir + "/")
                .replace("/var/lib/ldap", self.datadir)
                .replace("gidNumber=0+uidNumber=0,", "gidNumber=%d+"
                         "uidNumber=%d," % (os.getgid(), os.getuid())))

    def _build(self):
        super()._build()
        # The suffix entry, as Debian's postinst creates it.
        path = os.path.join(self.tmpdir, "base.ldif")
        with open(path, "w", encoding="utf-8") as f:
            f.write("dn: %s\nobjectClass: top\nobjectClass: dcObject\n"
                    "objectClass: organization\ndc: example\n"
                    "o: example.org\n" % self.base)
        self.load_offline(path)
        if self.site_ldif is not None:
            self.load_offline(self.site_ldif)
