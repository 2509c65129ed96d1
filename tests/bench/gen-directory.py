#!/usr/bin/python3
"""
NAME
    gen-directory.py - a large mailgrants directory as LDIF, for benchmarks

SYNOPSIS
    gen-directory.py [--scale full|small|tiny] [--users N]
        [--companies N] [--company-mailboxes N] [--shares N]
        [--private-per-company N] [--seed N]
        [--queries FILE] [--query-count N] [-o FILE]

DESCRIPTION
    Writes a directory in the layout of ldap-schema/README.md below
    dc=example,dc=org: the sync's identity, a mail admin, companies
    o=cNNNN.example (organization + mailgrantsCompany, domain
    cNNNN.example), each with ou=people (users uid=uNNNNN, login
    uNNNNN@cNNNN.example, some aliases, a few in UTF-8), ou=mailboxes
    (company mailboxes teamNN@ and a few private extra mailboxes
    privN@) and ou=groups (two team groups; for every fifth company an
    employee group made of two nested groups, one of them in a cycle,
    that mailgrantsGroup points at).

    Shares sit below users' entries (and a few below private extra
    mailboxes); grantees are users or team groups of the same company;
    windows are past (2020), current (2020 .. 2099), future (from
    2090) or open-ended. Windows use fixed dates so that the output
    does not depend on the day it is generated.

    The defaults are the benchmark of the issue: 100,000 users in
    1,000 companies, 10,000 company mailboxes, 200,000 shares. Explicit
    numbers override --scale. The output is a function of the
    arguments and --seed only.

    With --queries, also writes "login<TAB>address" lines, a mix of
    own, alias, company, shared, someone else's, other company's,
    unknown and foreign addresses, for bench-explain.

    Prints one summary line (entry counts) to stderr.
"""

import argparse
import base64
import random
import sys

SUFFIX = "dc=example,dc=org"
SYNC_DN = "cn=mailgrants-sync," + SUFFIX
SYNC_PASSWORD = "sync-pw"
ADMIN_DN = "cn=mailadmin," + SUFFIX
ADMIN_PASSWORD = "admin-pw"

SCALES = {
    "full": dict(users=100000, companies=1000, company_mailboxes=10000,
             shares=200000),
    "small": dict(users=2000, companies=20, company_mailboxes=200,
              shares=4000),
    "tiny": dict(users=40, companies=4, company_mailboxes=8, shares=60),
}

# Share windows, as (mailgrantsNotBefore, mailgrantsNotAfter); None = open.
WINDOWS = [
    (25, ("20200101000000Z", "20201231235959Z")),  # past
    (35, ("20200101000000Z", "20991231235959Z")),  # current
    (15, ("20900101000000Z", "20951231235959Z")),  # future
    (15, (None, None)),  # open-ended
    (10, ("20210601000000Z", None)),  # open end, started
]


def split_even(total, parts):
    """split_even - total spread over parts, as equal as can be"""
    base, rem = divmod(total, parts)
    return [base + (1 if i < rem else 0) for i in range(parts)]


def attr(name, value):
    """attr - one LDIF attribute line; base64 when the value is not
    plain ASCII (RFC 2849 SAFE-STRING)"""
    if value.isascii() and value and value[0] not in " :<" \
       and value[-1] != " " and "\n" not in value and "\r" not in value:
        return f"{name}: {value}\n"
    enc = base64.b64encode(value.encode("utf-8")).decode("ascii")
    return f"{name}:: {enc}\n"


class Gen:
    """Gen - the generator state: counts, the output and query samples"""

    def __init__(self, args, out):
        self.a = args
        self.out = out
        self.rng = random.Random(args.seed)
        self.buf = []
        self.nbuf = 0
        self.counts = dict(companies=0, users=0, company_mailboxes=0,
                   private_mailboxes=0, groups=0, shares=0,
                   other=0)
        # Query samples: (login, address) per category.
        self.q = {k: [] for k in ("own", "alias", "company", "shared",
                      "other_user", "other_company",
                      "unknown", "foreign")}

    def emit(self, text):
        """emit - buffer one entry, flush in large blocks"""
        self.buf.append(text)
        self.nbuf += 1
        if self.nbuf >= 20000:
            self.flush()

    def flush(self):
        """flush - write the buffered entries"""
        self.out.write("".join(self.buf))
        self.buf = []
        self.nbuf = 0

    def sample(self, kind, login, address):
        """sample - keep a bounded random sample of query pairs"""
        lst = self.q[kind]
        if len(lst) < 20000:
            lst.append((login, address))
        else:
            i = self.rng.randrange(20000)
            lst[i] = (login, address)

    def top(self):
        """top - the suffix, the sync identity, the mail admins"""
        self.emit(f"dn: {SUFFIX}\nobjectClass: dcObject\n"
              "objectClass: organization\ndc: example\no: example\n\n")
        self.emit(f"dn: {SYNC_DN}\nobjectClass: organizationalRole\n"
              "objectClass: simpleSecurityObject\ncn: mailgrants-sync\n"
              f"userPassword: {SYNC_PASSWORD}\n"
              "description: the mailgrants sync\n\n")
        self.emit(f"dn: {ADMIN_DN}\nobjectClass: organizationalRole\n"
              "objectClass: simpleSecurityObject\ncn: mailadmin\n"
              f"userPassword: {ADMIN_PASSWORD}\n\n")
        self.emit(f"dn: ou=groups,{SUFFIX}\n"
              "objectClass: organizationalUnit\nou: groups\n\n")
        self.emit(f"dn: cn=mail-admins,ou=groups,{SUFFIX}\n"
              "objectClass: groupOfNames\ncn: mail-admins\n"
              f"member: {ADMIN_DN}\n\n")
        self.counts["other"] += 4
        self.counts["groups"] += 1

    def company(self, ci, nusers, nteam, domains_total):
        """company - one company with its people, groups, mailboxes"""
        rng = self.rng
        dom = f"c{ci:04d}.example"
        cdn = f"o={dom},{SUFFIX}"
        pdn = f"ou=people,{cdn}"
        gdn = f"ou=groups,{cdn}"
        mdn = f"ou=mailboxes,{cdn}"
        with_group = ci % 5 == 0
        e = [f"dn: {cdn}\nobjectClass: organization\n"
             f"objectClass: mailgrantsCompany\no: {dom}\n"
             f"mailgrantsDomain: {dom}\n"]
        if with_group:
            e.append(f"mailgrantsGroup: cn=employees,{gdn}\n")
        e.append(f"description: company {ci}\n\n")
        self.emit("".join(e))
        for ou in ("people", "groups", "mailboxes"):
            self.emit(f"dn: ou={ou},{cdn}\n"
                  f"objectClass: organizationalUnit\nou: {ou}\n\n")
        self.counts["companies"] += 1
        self.counts["other"] += 3

        # Users. uid is unique in the whole directory, the login
        # carries the company's domain.
        users = []  # (dn, login, [addresses])
        for k in range(nusers):
            uid = f"u{self.uid_next:06d}"
            self.uid_next += 1
            login = f"{uid}@{dom}"
            udn = f"uid={uid},{pdn}"
            addrs = [login]
            lines = [f"dn: {udn}\nobjectClass: inetOrgPerson\n"
                 f"objectClass: mailgrantsUser\nuid: {uid}\n"
                 f"cn: User {uid}\nsn: {uid}\nmail: {login}\n"]
            r = rng.random()
            if r < 0.15:
                alias = f"user.{uid}@{dom}"
                addrs.append(alias)
                lines.append(attr("mailgrantsAddress", alias))
            elif r < 0.18:
                alias = f"müller.{uid}@{dom}"
                addrs.append(alias)
                lines.append(attr("mailgrantsAddress", alias))
            lines.append("\n")
            self.emit("".join(lines))
            users.append((udn, login, addrs))
            self.sample("own", login, login)
            if len(addrs) > 1:
                self.sample("alias", login, addrs[1].upper()
                        if addrs[1].isascii() else addrs[1])
        self.counts["users"] += nusers

        # Groups: two teams; for some companies the employee group,
        # made of two nested halves (staff-b names employees: a cycle).
        teams = []
        for t in range(2):
            tdn = f"cn=team{t},{gdn}"
            size = min(len(users), 10)
            members = rng.sample(users, size) if users else []
            if t == 0:
                lines = [f"dn: {tdn}\nobjectClass: groupOfNames\n"
                     f"cn: team{t}\n"]
                lines += [f"member: {m[0]}\n" for m in members]
                if not members:
                    lines.append(f"member: {cdn}\n")
            else:
                lines = [f"dn: {tdn}\n"
                     "objectClass: groupOfUniqueNames\n"
                     f"cn: team{t}\n"]
                lines += [f"uniqueMember: {m[0]}\n"
                      for m in members]
                if not members:
                    lines.append(f"uniqueMember: {cdn}\n")
            lines.append("\n")
            self.emit("".join(lines))
            teams.append((tdn, members))
        self.counts["groups"] += 2
        employees = users
        if with_group:
            # The last 5 % are not employees (contractors).
            n = len(users) - len(users) // 20
            employees = users[:n]
            half = n // 2
            a = [f"dn: cn=staff-a,{gdn}\nobjectClass: groupOfNames\n"
                 "cn: staff-a\n"]
            a += [f"member: {u[0]}\n" for u in employees[:half]]
            a.append(f"member: cn=staff-b,{gdn}\n\n")
            b = [f"dn: cn=staff-b,{gdn}\n"
                 "objectClass: groupOfUniqueNames\ncn: staff-b\n"]
            b += [f"uniqueMember: {u[0]}\n"
                  for u in employees[half:]]
            b.append(f"uniqueMember: cn=employees,{gdn}\n\n")
            self.emit("".join(a))
            self.emit("".join(b))
            self.emit(f"dn: cn=employees,{gdn}\n"
                  "objectClass: groupOfNames\ncn: employees\n"
                  f"member: cn=staff-a,{gdn}\n\n")
            self.counts["groups"] += 3

        # Company mailboxes: every tenth limited to a team, some with
        # their own rights.
        for m in range(nteam):
            addr = f"team{m:02d}@{dom}"
            lines = [f"dn: cn={addr},{mdn}\n"
                 "objectClass: mailgrantsMailbox\n"
                 f"cn: {addr}\nmailgrantsKind: company\n"
                 f"mail: {addr}\n"]
            if m % 4 == 1:
                lines.append(f"mailgrantsAddress: "
                         f"alias-team{m:02d}@{dom}\n")
            limited = None
            if m % 10 == 9:
                limited = teams[m % 2]
                lines.append(f"mailgrantsGroup: {limited[0]}\n")
            if m % 7 == 3:
                lines.append("mailgrantsRights: lrws\n")
            lines.append("\n")
            self.emit("".join(lines))
            if users:
                if limited and limited[1]:
                    u = rng.choice(limited[1])
                else:
                    u = rng.choice(employees or users)
                self.sample("company", u[1], addr)
        self.counts["company_mailboxes"] += nteam

        # Private extra mailboxes.
        privs = []  # (dn, owner login)
        for p in range(self.a.private_per_company if users else 0):
            addr = f"priv{p}@{dom}"
            owner = rng.choice(users)
            pdn_ = f"cn={addr},{mdn}"
            self.emit(f"dn: {pdn_}\nobjectClass: mailgrantsMailbox\n"
                  f"cn: {addr}\nmailgrantsKind: private\n"
                  f"mail: {addr}\nmailgrantsOwner: {owner[0]}\n\n")
            privs.append((pdn_, owner[1], addr))
            self.sample("own", owner[1], addr)
        self.counts["private_mailboxes"] += len(privs)

        # Queries that must come out "no".
        if len(users) > 1:
            u, v = rng.sample(users, 2)
            self.sample("other_user", u[1], v[1])
            if privs:
                o = rng.choice(privs)
                if o[1] != u[1]:
                    self.sample("other_user", u[1], o[2])
        if users:
            u = rng.choice(users)
            self.sample("unknown", u[1], f"nobody{ci}@{dom}")
            self.sample("foreign", u[1], f"someone{ci}@example.net")
            other = rng.randrange(domains_total)
            if other != ci:
                self.sample("other_company", u[1],
                        f"team00@c{other:04d}.example")
        return users, teams, privs

    def shares(self, users, teams, privs, nshares):
        """shares - nshares shares of one company's mailboxes"""
        rng = self.rng
        weights = [w for w, _ in WINDOWS]
        windows = [win for _, win in WINDOWS]
        seq = {}
        for _ in range(nshares):
            if privs and rng.random() < 0.02:
                pdn, owner_login, addr = rng.choice(privs)
                owner_dn = None
            else:
                owner_dn, owner_login, addrs = rng.choice(users)
                pdn, addr = owner_dn, addrs[0]
            n = seq.get(pdn, 0) + 1
            seq[pdn] = n
            sdn = f"cn=share{n},{pdn}"
            lines = [f"dn: {sdn}\nobjectClass: mailgrantsShare\n"
                 f"cn: share{n}\n"]
            grantees = []
            if rng.random() < 0.1:
                t = rng.choice(teams)
                lines.append(f"mailgrantsGrantee: {t[0]}\n")
                grantees += [m[1] for m in t[1]]
            else:
                k = min(rng.choice((1, 1, 1, 2, 3)),
                    len(users) - 1)
                cand = [u for u in rng.sample(users, k + 1)
                    if u[0] != owner_dn][:k]
                for u in cand:
                    lines.append(f"mailgrantsGrantee: {u[0]}\n")
                    grantees.append(u[1])
            if not grantees and len(lines) == 3:
                # A one-user company: a share for its owner's
                # team is still a valid entry.
                lines.append(f"mailgrantsGrantee: {teams[0][0]}\n")
            nb, na = rng.choices(windows, weights)[0]
            if nb:
                lines.append(f"mailgrantsNotBefore: {nb}\n")
            if na:
                lines.append(f"mailgrantsNotAfter: {na}\n")
            if rng.random() < 0.2:
                lines.append("mailgrantsRights: lr\n")
            if rng.random() < 0.3:
                lines.append("description: vacation cover\n")
            lines.append("\n")
            self.emit("".join(lines))
            for g in grantees:
                if g != owner_login:
                    self.sample("shared", g, addr)
        self.counts["shares"] += nshares

    def run(self):
        """run - the whole directory"""
        a = self.a
        self.uid_next = 1
        self.top()
        per_users = split_even(a.users, a.companies)
        per_team = split_even(a.company_mailboxes, a.companies)
        per_shares = split_even(a.shares, a.companies)
        for ci in range(a.companies):
            users, teams, privs = self.company(
                ci + 1, per_users[ci], per_team[ci], a.companies)
            if per_shares[ci] and not users:
                sys.exit("gen-directory: shares need users in "
                     f"every company (company {ci + 1})")
            self.shares(users, teams, privs, per_shares[ci])
        self.flush()

    def queries(self, path, count):
        """queries - count query pairs, a fixed mix of the samples"""
        mix = [("own", 20), ("alias", 5), ("company", 20),
               ("shared", 20), ("other_user", 15),
               ("other_company", 10), ("unknown", 5), ("foreign", 5)]
        pools = [(self.q[k], w) for k, w in mix if self.q[k]]
        lists = [p for p, _ in pools]
        weights = [w for _, w in pools]
        rng = random.Random(self.a.seed + 1)
        with open(path, "w", encoding="utf-8") as f:
            out = []
            for _ in range(count):
                pool = rng.choices(lists, weights)[0]
                login, addr = rng.choice(pool)
                out.append(f"{login}\t{addr}\n")
            f.write("".join(out))


def main():
    """main - parse arguments, generate"""
    ap = argparse.ArgumentParser(description="mailgrants benchmark "
                     "directory (LDIF)")
    ap.add_argument("--scale", choices=sorted(SCALES), default="full")
    ap.add_argument("--users", type=int)
    ap.add_argument("--companies", type=int)
    ap.add_argument("--company-mailboxes", type=int)
    ap.add_argument("--shares", type=int)
    ap.add_argument("--private-per-company", type=int, default=3)
    ap.add_argument("--seed", type=int, default=4314)
    ap.add_argument("--queries", metavar="FILE")
    ap.add_argument("--query-count", type=int, default=100000)
    ap.add_argument("-o", "--output", default="-")
    a = ap.parse_args()
    for k, v in SCALES[a.scale].items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.companies < 1 or a.companies > 9999:
        ap.error("--companies must be 1..9999")
    if min(a.users, a.company_mailboxes, a.shares,
           a.private_per_company) < 0:
        ap.error("counts must not be negative")
    if a.users > 999999:
        ap.error("--users must be at most 999999")
    if a.company_mailboxes > 100 * a.companies:
        ap.error("at most 100 company mailboxes per company")

    if a.output == "-":
        out = sys.stdout
    else:
        out = open(a.output, "w", encoding="utf-8")
    g = Gen(a, out)
    g.run()
    if out is not sys.stdout:
        out.close()
    if a.queries:
        g.queries(a.queries, a.query_count)
    c = g.counts
    total = sum(c.values())
    print("gen-directory: " + " ".join(f"{k}={v}" for k, v in c.items())
          + f" entries={total}", file=sys.stderr)


if __name__ == "__main__":
    main()
