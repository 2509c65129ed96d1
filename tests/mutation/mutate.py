#!/usr/bin/env python3
"""
NAME
	mutate.py - mutation testing of mailgrants' decision code

SYNOPSIS
	make mutants [MUTATE_FLAGS="--fast --files lib/rights.c ..."]
	python3 tests/mutation/mutate.py [--files F,...] [--fast] [--max N]
	    [--seed S] [--jobs N] [--list] [--only ID,...] [--timeout SECS]
	    [--root DIR]

DESCRIPTION
	Makes small changes to the decision code, one at a time, the way
	real bugs look (a "<" that should be "<=", a lost "!", a deleted
	"*error_r = ..." or "continue", strcmp for strcasecmp, DUNNO for
	REJECT, "s.not_before <= ?2" turned round in an SQL string, ...),
	builds each such mutant and runs the project's own tests against
	it. A mutant is "killed" when a test fails (or hangs), and
	"survives" when every test still passes.

	    mutation score: K killed / N behaviour-changing (P%)

	N leaves out mutants that do not compile (counted apart) and
	mutants whose object code is byte for byte the one of the
	unmutated file after stripping debug information, "equivalent
	(same code)": no test could tell them apart. Every survivor is
	either a missing test or an equivalent mutant the compiler could
	not show as such (a buffer one byte larger, a timeout one second
	longer); check survivors by hand, and write the test or note why
	it is equivalent.

	The working tree is never modified: the tree (tracked and
	untracked, not ignored files, as git ls-files lists them) is
	copied once to build-mutant/w<N>/, mutants are written there
	and built with B=build-mutant/w<N>/build; an interrupted run
	(Ctrl-C, a crash) leaves at most that copy behind.

	For each mutant, in this order, stopping at the first failure:
	  1. compile the mutated object (failure: "compile failed");
	  2. compare it with the unmutated object ("equivalent");
	  3. the unit tests (make check-unit), for files of the libraries
	     (lib/, lib-sync/, lib-postfix/);
	  4. unless --fast, the integration tests of the front ends that
	     use the file (see TARGETS below), pytest -x.
	Each stage has a timeout (--timeout, default 3x the time the
	unmutated tree took, at least 60 s); a mutant that runs into it
	is counted as killed ("timeout"), as a hang is caught too.

	Survivors are printed as a table (file:line, operator, the line
	before and after) with the score line; build-mutant/report.json
	holds every mutant with its outcome. --list shows the mutants
	without building anything.

	How long: about 3200 mutants in all, 2900 of them in lib/. On a
	2-core machine the unit stage takes about 1 s per mutant (a
	mutant that loops costs its timeout, 20 s); "--fast" over all
	files takes about an hour. With the integration tests, each
	mutant that survives the unit tests (a third of them) costs the
	time of its test files (policy daemon about 8 s, Dovecot plugin
	12 s, milter 30 s): lib/rights.c and lib/policy.c in full take
	about 3 hours. Use --max N (a sample of N mutants, spread evenly
	over the files, fixed by --seed; a larger N with the same seed
	takes a superset, so --resume extends a sample) for a figure in
	minutes, and --jobs 1 with nice on a shared machine.

OPTIONS
	--files F,...	only these files (default: all of TARGETS); a
			file outside TARGETS is mutated whole and tested
			with the unit tests only.
	--fast		unit tests only; files no unit test links
			(cli/, dovecot-plugin/) are then left out.
	--max N		at most N mutants, drawn by --seed.
	--seed S	the sample's seed (default 1).
	--jobs N	N scratch trees building and testing in parallel.
	--list		print the mutants, run nothing.
	--only ID,...	only these mutants; an ID is file:line:n as
			--list prints it, or file:line for all on a line.
	--ops OP,...	only these operators (see --list-ops).
	--timeout S	per-stage timeout in seconds.
	--root DIR	the source tree (default: this file's tree).
	--out DIR	the scratch trees (default build-mutant/ under
			--root; two runs at once need two).
	--report FILE	default report.json in --out.
	--resume	keep the results of an unfinished run with the same
			--out (its progress.jsonl), run the rest.

EXIT STATUS
	0 when the run finished (survivors are a result, not an error);
	1 when the unmutated tree does not build or its tests fail; 2 for
	bad usage.

SEE ALSO
	README.md, "Tests and benchmarks"; tests/module.mk ("mutants").
"""

import argparse
import bisect
import concurrent.futures
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

# The library folders: what the unit tests (make check-unit) link.
LIB_DIRS = ('lib/', 'lib-sync/', 'lib-postfix/')

# The decision code, the functions (or initialised tables) of each file
# to mutate (None: all), and the integration tests of the front ends
# using it, fastest first.
TARGETS = {
    'lib/rights.c': {
        'funcs': None,
        'tests': ['test_cli.py', 'test_policyd.py', 'test_on_behalf.py',
                  'test_dovecot_plugin.py'],
    },
    'lib/policy.c': {
        'funcs': None,
        'tests': ['test_policyd.py', 'test_on_behalf.py', 'test_milter.py'],
    },
    'postfix-policyd/mailgrants-milter.c': {
        'funcs': ['milter_check_field', 'milter_on_behalf'],
        'tests': ['test_on_behalf.py', 'test_milter.py'],
    },
    'lib/addr.c': {
        'funcs': None,
        'tests': ['test_cli.py', 'test_policyd.py'],
    },
    'lib-postfix/header.c': {
        'funcs': None,
        'tests': ['test_milter.py'],
    },
    'lib/replica.c': {
        'funcs': ['replica_stmt_sql', 'replica_attach', 'replica_refresh',
                  'replica_stmt', 'replica_read_begin', 'replica_read_end',
                  'replica_info', 'dn_parent', 'replica_set_index',
                  'replica_index_in_use', 'replica_index_active',
                  'replica_watch_arm', 'replica_watch_silent',
                  'replica_index_trusted'],
        'tests': ['test_cli.py', 'test_policyd.py',
                  'test_dovecot_plugin.py'],
    },
    # The policy daemon's copy of what rights_decide() reads: how it
    # is shaped and searched (its SQLite error paths are not decisions).
    'lib/replica-index.c': {
        'funcs': ['ix_hash_init', 'ix_hash_add', 'ix_hash_find',
                  'ix_meta', 'ix_users', 'ix_mailbox_by_id', 'ix_mailboxes',
                  'ix_domains', 'ix_members', 'ix_share_dn', 'ix_grant_cmp',
                  'ix_pair_cmp', 'ix_id32', 'ix_shares',
                  'replica_index_user', 'replica_index_mailbox',
                  'replica_index_domain', 'replica_index_in_group',
                  'replica_index_sent_copies_default',
                  'replica_index_cross_company', 'replica_index_shares',
                  'replica_index_share_at', 'replica_index_share_dn',
                  'replica_index_share_rights'],
        'tests': ['test_replica_index.py', 'test_policyd.py'],
    },
    'lib-sync/replica-write.c': {
        'funcs': ['writer_sql', 'writer_rights_ok', 'company_cmp',
                  'writer_company_of', 'writer_address',
                  'writer_stage_company', 'writer_stage_group',
                  'writer_addresses', 'writer_primary', 'writer_stage_user',
                  'writer_stage_mailbox', 'writer_stage_share',
                  'writer_resolve', 'writer_warn_rows'],
        'tests': ['test_sync.py', 'test_cli.py'],
    },
    'lib-sync/ldapshare-find.c': {
        'funcs': ['ldapshare_input_check', 'ldapshare_find_one',
                  'ldapshare_find_mailbox',
                  'ldapshare_find_user', 'ldapshare_find_grantee',
                  'ldapshare_shares'],
        'tests': ['test_share.py'],
    },
    'lib-sync/ldapshare.c': {
        'funcs': ['ldapshare_remove_one',
                  'ldapshare_entry_time', 'ldapshare_overlaps',
                  'ldapshare_remove_all', 'ldapshare_settings_check',
                  'ldapshare_replaced', 'ldapshare_check_conflict',
                  'ldapshare_add_named', 'ldapshare_add', 'ldapshare_remove',
                  'ldapshare_name_check'],
        'tests': ['test_share.py'],
    },
    'lib-sync/gentime.c': {
        'funcs': ['gentime_pattern', 'gentime_parse_date'],
        'tests': ['test_share.py'],
    },
    'cli/share.c': {
        'funcs': ['share_run', 'share_rights_check', 'share_time',
                  'cmd_share', 'cmd_unshare'],
        'tests': ['test_share.py'],
    },
    'dovecot-plugin/mailgrants-acl.c': {
        'funcs': None,
        'tests': ['test_dovecot_plugin.py'],
    },
    'dovecot-plugin/mailgrants-plugin.c': {
        'funcs': ['mailgrants_address_is_usable', 'mailgrants_letters',
                  'mailgrants_user_category', 'mailgrants_user_refresh'],
        'tests': ['test_dovecot_plugin.py'],
    },
}

OPERATORS = {
    'ror': 'relational operator: < <=, > >=, == !=',
    'time': 'time comparison turned round: now < nb -> now > nb',
    'lor': '&& <-> ||',
    'neg': 'condition of if/while negated',
    'not': 'a "!" removed',
    'const': 'constant off by one: 0 <-> 1, n -> n+1, n-1',
    'ret': 'return -1/0/1 -> another of them',
    'bool': 'true <-> false',
    'del': 'statement that sets a value, flag or error deleted',
    'brk': 'continue/break removed',
    'action': 'DUNNO <-> REJECT (and DEFER_IF_PERMIT -> DUNNO)',
    'str': 'strcmp <-> strcasecmp, strchr <-> strrchr',
    'sql': 'SQL: = !=, < <=, AND OR, IS [NOT] NULL, [NOT] EXISTS, ?1 ?2',
}

# ---------------------------------------------------------------- lexing

TOKEN_RE = re.compile(r'''
    (?P<comment>/\*.*?\*/|//[^\n]*)
  | (?P<pp>^[ \t]*\#(?:[^\n]*\\\n)*[^\n]*)
  | (?P<string>"(?:\\.|[^"\\\n])*")
  | (?P<char>'(?:\\.|[^'\\\n])*')
  | (?P<number>0[xX][0-9a-fA-F]+[uUlL]*|\d+(?:\.\d+)?[uUlLfF]*)
  | (?P<ident>[A-Za-z_]\w*)
  | (?P<punct><<=|>>=|\.\.\.|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||
               \+=|-=|\*=|/=|%=|&=|\|=|\^=|[^\s\w])
  | (?P<ws>\s+)
''', re.S | re.M | re.X)

C_KEYWORDS = {
    'if', 'else', 'for', 'while', 'do', 'switch', 'case', 'default',
    'return', 'break', 'continue', 'goto', 'sizeof', 'struct', 'union',
    'enum', 'static', 'const', 'unsigned', 'signed', 'int', 'char',
    'long', 'short', 'void', 'bool', 'size_t', 'double', 'float',
    'volatile', 'inline', 'extern', 'typedef', 'register', 'time_t',
}

SQL_RE = re.compile(r'\b(SELECT|INSERT|UPDATE|DELETE|WHERE|JOIN)\b')
TIME_RE = re.compile(r'^(now|when|t|time|ioloop_time|nb|na|age|'
                     r'.*_at|not_before|not_after|.*time.*|.*_age|'
                     r'expires?|date)$')
SETTER_RE = re.compile(r'(_fail|_error|_set|_unavailable|_warn|_union|'
                       r'_copy|_note|_add|_push_back)$|^(snprintf|memcpy|'
                       r'rights_copy|policy_set|i_zero|str_append_c|'
                       r'array_push_back)$')
RELOPS = {'<': '<=', '<=': '<', '>': '>=', '>=': '>', '==': '!=',
          '!=': '=='}
TIME_FLIP = {'<': '>', '>': '<', '<=': '>=', '>=': '<='}
SWAP_NAMES = {
    'strcmp': ['strcasecmp'], 'strcasecmp': ['strcmp'],
    'strncmp': ['strncasecmp'], 'strncasecmp': ['strncmp'],
    'strchr': ['strrchr'], 'strrchr': ['strchr'],
    'POLICY_ACTION_DUNNO': ['POLICY_ACTION_REJECT'],
    'POLICY_ACTION_REJECT': ['POLICY_ACTION_DUNNO'],
    'POLICY_ACTION_DEFER_IF_PERMIT': ['POLICY_ACTION_DUNNO'],
    'CONFIG_POLICY_DUNNO': ['CONFIG_POLICY_REJECT'],
    'CONFIG_POLICY_REJECT': ['CONFIG_POLICY_DUNNO'],
    'true': ['false'], 'false': ['true'], 'TRUE': ['FALSE'],
    'FALSE': ['TRUE'],
}


class Tok:
    __slots__ = ('kind', 'text', 'start', 'end', 'owner', 'depth', 'init')

    def __init__(self, kind, text, start, end):
        self.kind, self.text, self.start, self.end = kind, text, start, end
        self.owner = None	# function or initialised variable
        self.depth = 0		# brace depth, 0 outside functions
        self.init = False	# in a static initialiser

    def __repr__(self):
        return '%s:%r' % (self.kind, self.text)


def lex(src):
    """Tokens of C source; comments and preprocessor lines are kept as
    tokens of their own kind, so that nothing inside them is mutated."""
    toks = []
    pos = 0
    while pos < len(src):
        m = TOKEN_RE.match(src, pos)
        if m is None:		# a stray byte: take it as punctuation
            toks.append(Tok('punct', src[pos], pos, pos + 1))
            pos += 1
            continue
        kind = m.lastgroup
        if kind == 'pp' and pos > 0 and src[pos - 1] != '\n':
            # "#" not at the start of a line (the ^ of MULTILINE also
            # matches after leading blanks only from a line start)
            kind = 'punct'
            m = re.compile(r'#').match(src, pos)
        if kind != 'ws':
            toks.append(Tok(kind, m.group(0), m.start(), m.end()))
        pos = m.end()
    return toks


def annotate(toks):
    """Set owner (the enclosing function, or the variable a top-level
    initialiser belongs to), brace depth and init (inside an
    initialiser, not code) of every significant token; returns the
    significant tokens."""
    sig = [t for t in toks if t.kind not in ('comment', 'pp')]
    depth = 0
    owner = None
    init = False
    decl = []			# tokens of the current top-level declaration
    for t in sig:
        if depth == 0:
            if t.text == '{' and owner is None:
                owner = _decl_name(decl)
                init = _in_initializer(decl)
            elif t.text == '=' and owner is None:
                owner = _var_name(decl)
                init = True
        if t.text == '{':
            depth += 1
        t.depth = depth
        t.owner = owner
        t.init = init
        if t.text == '}':
            depth = max(0, depth - 1)
            if depth == 0 and not init:
                owner = None	# end of a function body
                decl = []
            continue
        if depth == 0:
            if t.text == ';':
                owner = None
                init = False
                decl = []
            else:
                decl.append(t)
    return sig


def _in_initializer(decl):
    return any(t.text == '=' for t in decl)


def _var_name(decl):
    level = 0
    name = None
    for t in decl:
        if t.text in '([':
            level += 1
        elif t.text in ')]':
            level -= 1
        elif t.kind == 'ident' and level == 0:
            name = t.text
    return name


def _decl_name(decl):
    """The function name of a definition "... name(args) {", or the
    variable name of "... name[] = {"."""
    if _in_initializer(decl):
        return _var_name(decl[:[t.text for t in decl].index('=')])
    # the first identifier followed by "(" at paren level 0, skipping
    # __attribute__((...))
    level = 0
    for k, t in enumerate(decl[:-1]):
        if t.text == '(':
            level += 1
        elif t.text == ')':
            level -= 1
        elif (level == 0 and t.kind == 'ident' and
              t.text != '__attribute__' and decl[k + 1].text == '('):
            return t.text
    return None


# ------------------------------------------------------------- mutating

class Mutant:
    def __init__(self, path, op, edits, desc):
        self.path = path
        self.op = op
        self.edits = sorted(edits)	# [(start, end, replacement)]
        self.desc = desc
        self.id = None
        self.line = None
        self.before = self.after = ''
        self.status = None
        self.stage = None
        self.detail = ''
        self.secs = 0.0

    def apply(self, src):
        out = []
        pos = 0
        for start, end, rep in self.edits:
            out.append(src[pos:start])
            out.append(rep)
            pos = end
        out.append(src[pos:])
        return ''.join(out)

    def to_json(self):
        return {
            'id': self.id, 'file': self.path, 'line': self.line,
            'operator': self.op, 'mutation': self.desc,
            'before': self.before, 'after': self.after,
            'status': self.status, 'stage': self.stage,
            'detail': self.detail, 'seconds': round(self.secs, 2),
        }


def _match_paren(sig, i):
    """Index of the token closing the bracket at sig[i]."""
    pairs = {'(': ')', '[': ']', '{': '}'}
    open_ = sig[i].text
    close = pairs[open_]
    level = 0
    for k in range(i, len(sig)):
        if sig[k].text == open_:
            level += 1
        elif sig[k].text == close:
            level -= 1
            if level == 0:
                return k
    return None


def _call_name(sig, i):
    """The function whose argument list contains sig[i], or None."""
    level = 0
    for k in range(i - 1, -1, -1):
        t = sig[k].text
        if t in (')', ']'):
            level += 1
        elif t in ('(', '['):
            if level == 0:
                if t == '(' and k > 0 and sig[k - 1].kind == 'ident':
                    return sig[k - 1].text
                return None
            level -= 1
        elif t in (';', '{', '}'):
            return None
    return None


def _is_time_operand(sig, i, direction):
    """Does an operand next to the operator at sig[i] look like a time?"""
    ks = range(i - 1, max(-1, i - 4), -1) if direction < 0 else \
        range(i + 1, min(len(sig), i + 4))
    for k in ks:
        t = sig[k]
        if t.kind == 'ident':
            return bool(TIME_RE.match(t.text))
        if t.text not in ('->', '.', '(', ')', '*', '&', '-'):
            return False
    return False


def _stmt_starts(sig):
    """Indexes of tokens that start a statement inside a function."""
    starts = []
    for i, t in enumerate(sig):
        if t.depth == 0 or i == 0:
            continue
        p = sig[i - 1].text
        if p in (';', '{', '}', 'else', ':'):
            if p == ':' and not _after_label(sig, i - 1):
                continue
            starts.append(i)
        elif p == ')':
            # the statement after if (...) / while (...) / for (...)
            k = _open_of(sig, i - 1)
            if k is not None and k > 0 and \
                    sig[k - 1].text in ('if', 'while', 'for'):
                starts.append(i)
    return starts


def _after_label(sig, colon):
    """Is the ':' at sig[colon] the end of a case/default label?"""
    for k in range(colon - 1, max(-1, colon - 8), -1):
        if sig[k].text in ('case', 'default'):
            return True
        if sig[k].text in (';', '{', '}', '?'):
            return False
    return False


def _open_of(sig, close):
    level = 0
    for k in range(close, -1, -1):
        if sig[k].text == ')':
            level += 1
        elif sig[k].text == '(':
            level -= 1
            if level == 0:
                return k
    return None


def _stmt_end(sig, i):
    """Index of the ';' that ends the simple statement at sig[i]."""
    level = 0
    for k in range(i, len(sig)):
        t = sig[k].text
        if t in ('(', '[', '{'):
            level += 1
        elif t in (')', ']', '}'):
            level -= 1
            if level < 0:
                return None
        elif t == ';' and level == 0:
            return k
    return None


def _is_declaration(toks):
    head = []
    for t in toks:
        if t.text in ('=', '(', ';', '['):
            break
        head.append(t)
    if len(head) >= 2 and head[0].kind == 'ident' and \
            head[1].kind == 'ident':
        return True
    if len(head) >= 3 and head[0].kind == 'ident' and head[1].text == '*' \
            and head[2].kind == 'ident' and len(head) == 3:
        return True
    return bool(head) and head[0].text in C_KEYWORDS


def _sql_mutations(lit):
    """(offset, end, replacement, description) in a SQL string literal
    (offsets within the literal's text, quotes included)."""
    out = []
    body = lit

    def add(m, rep, what=None):
        out.append((m.start(), m.end(), rep,
                    what or '%s -> %s' % (m.group(0).strip(),
                                          rep.strip())))

    for m in re.finditer(r'(?<![<>!=])=(?!=)', body):
        add(m, '!=', '= -> !=')
    for m in re.finditer(r'!=|<=|>=|<(?!=)|>(?!=)', body):
        op = m.group(0)
        if op in RELOPS:
            add(m, RELOPS[op])
        if op in TIME_FLIP and re.search(
                r'(not_before|not_after|_at|time)\s*$', body[:m.start()]):
            add(m, TIME_FLIP[op], 'time: %s -> %s' % (op, TIME_FLIP[op]))
    for m in re.finditer(r'\bAND\b', body):
        add(m, 'OR')
    for m in re.finditer(r'\bOR\b(?! (IGNORE|REPLACE))', body):
        add(m, 'AND')
    for m in re.finditer(r'\bIS NOT\b', body):
        add(m, 'IS')
    for m in re.finditer(r'\bIS(?! NOT)\b', body):
        add(m, 'IS NOT')
    for m in re.finditer(r'\bNOT EXISTS\b', body):
        add(m, 'EXISTS')
    for m in re.finditer(r'(?<!NOT )\bEXISTS\b', body):
        add(m, 'NOT EXISTS')
    for m in re.finditer(r'(?<!NOT )\bIN \(', body):
        add(m, 'NOT IN (')
    for m in re.finditer(r'\bLEFT JOIN\b', body):
        add(m, 'JOIN')
    for m in re.finditer(r'\bDISTINCT ', body):
        add(m, '', 'DISTINCT removed')
    for m in re.finditer(r'\bUNION ALL\b', body):
        add(m, 'UNION')
    for m in re.finditer(r'\?([12])\b', body):
        add(m, '?2' if m.group(1) == '1' else '?1')
    for m in re.finditer(r'(?<![\w?.])(\d+)(?![\w.])', body):
        n = int(m.group(1))
        for v in ([1] if n == 0 else [n + 1, n - 1]):
            add(m, str(v))
    return out


def generate(path, src, funcs=None, ops=None):
    """Every mutant of src (the text of path), in source order."""
    toks = lex(src)
    sig = annotate(toks)
    muts = []

    def want(op):
        return ops is None or op in ops

    def emit(op, edits, desc):
        muts.append(Mutant(path, op, edits, desc))

    # SQL string literals: a group of adjacent literals with SQL in it
    groups = []
    cur = []
    for t in sig:
        if t.kind == 'string':
            cur.append(t)
        else:
            if cur:
                groups.append(cur)
            cur = []
    if cur:
        groups.append(cur)
    sql_lits = set()
    for g in groups:
        if SQL_RE.search(''.join(t.text for t in g)):
            sql_lits.update(id(t) for t in g)

    stmt_starts = set(_stmt_starts(sig))

    for i, t in enumerate(sig):
        if t.owner is None or (funcs is not None and t.owner not in funcs):
            continue
        prev = sig[i - 1] if i > 0 else None
        nxt = sig[i + 1] if i + 1 < len(sig) else None
        if t.kind == 'string':
            if id(t) in sql_lits and want('sql'):
                for s, e, rep, desc in _sql_mutations(t.text):
                    emit('sql', [(t.start + s, t.start + e, rep)],
                         'SQL ' + desc)
            elif want('action') and t.depth > 0:
                m = re.match(r'"(DUNNO|REJECT|DEFER_IF_PERMIT)\b', t.text)
                if m:
                    word = m.group(1)
                    rep = 'REJECT' if word == 'DUNNO' else 'DUNNO'
                    emit('action', [(t.start + 1, t.start + 1 + len(word),
                                     rep)],
                         'reply "%s" -> "%s"' % (word, rep))
            continue
        if t.depth == 0 or t.init:
            continue		# outside function bodies: tables, types
        if t.kind == 'punct':
            if t.text in RELOPS and want('ror'):
                emit('ror', [(t.start, t.end, RELOPS[t.text])],
                     '%s -> %s' % (t.text, RELOPS[t.text]))
            if t.text in TIME_FLIP and want('time') and (
                    _is_time_operand(sig, i, -1) or
                    _is_time_operand(sig, i, 1)):
                emit('time', [(t.start, t.end, TIME_FLIP[t.text])],
                     'time: %s -> %s' % (t.text, TIME_FLIP[t.text]))
            if t.text in ('&&', '||') and want('lor'):
                rep = '||' if t.text == '&&' else '&&'
                emit('lor', [(t.start, t.end, rep)],
                     '%s -> %s' % (t.text, rep))
            if t.text == '!' and want('not'):
                emit('not', [(t.start, t.end, '')], '"!" removed')
            if t.text == '(' and prev is not None and \
                    prev.text in ('if', 'while') and want('neg'):
                k = _match_paren(sig, i)
                if k is not None and not _ror_negates(sig, i, k):
                    emit('neg', [(t.end, t.end, '!('),
                                 (sig[k].start, sig[k].start, ')')],
                         '%s condition negated' % prev.text)
        elif t.kind == 'number' and want('const'):
            _const_mutants(sig, i, t, emit)
        elif t.kind == 'ident':
            if t.text == 'return' and want('ret'):
                _ret_mutants(sig, i, emit)
            if t.text in ('strchr', 'strrchr') and _null_test(sig, i):
                pass		# only "is it in there": same answer
            elif t.text in SWAP_NAMES:
                op = 'bool' if t.text.lower() in ('true', 'false') else \
                    'str' if t.text.startswith('str') else 'action'
                if want(op):
                    for rep in SWAP_NAMES[t.text]:
                        emit(op, [(t.start, t.end, rep)],
                             '%s -> %s' % (t.text, rep))
            if t.text in ('continue', 'break') and nxt is not None and \
                    nxt.text == ';' and want('brk'):
                emit('brk', [(t.start, t.end, '')],
                     '"%s" removed' % t.text)
        if i in stmt_starts and want('del'):
            _del_mutant(sig, i, emit)

    muts.sort(key=lambda m: (m.edits[0][0], m.op))
    _number(muts, src)
    return muts


def _ror_negates(sig, i, k):
    """Is the condition sig[i+1:k] one == or != comparison, or "!x"
    (whose negation the ror or not operator already makes)?"""
    level = 0
    eq = 0
    for t in sig[i + 1:k]:
        if t.text in ('(', '['):
            level += 1
        elif t.text in (')', ']'):
            level -= 1
        elif level == 0 and t.text in ('&&', '||', '?'):
            return False
        elif level == 0 and t.text in ('==', '!='):
            eq += 1
    if eq == 1:
        return True
    return sig[i + 1].text == '!' and eq == 0 and (
        _match_paren(sig, i + 2) == k - 1 if sig[i + 2].text == '(' else
        all(t.text not in ('<', '>', '<=', '>=') for t in sig[i + 1:k]))


def _null_test(sig, i):
    """Is the call at sig[i] only compared with NULL?"""
    if i + 1 >= len(sig) or sig[i + 1].text != '(':
        return False
    k = _match_paren(sig, i + 1)
    return k is not None and k + 2 < len(sig) and \
        sig[k + 1].text in ('==', '!=') and sig[k + 2].text == 'NULL'


def _const_mutants(sig, i, t, emit):
    text = t.text.rstrip('uUlL')
    if '.' in text:
        return
    n = int(text, 0)
    prev = sig[i - 1].text
    nxt = sig[i + 1].text if i + 1 < len(sig) else ''
    if prev == '-' and i >= 2 and sig[i - 2].text == 'return':
        return			# return -1: the "ret" operator's
    if prev == 'return':
        return
    if prev == '[' and nxt == ']' and n >= 2:
        return			# an array size
    if prev == '-' and i >= 2 and sig[i - 2].kind == 'punct' and \
            sig[i - 2].text not in (')', ']'):
        unary_minus = True
    else:
        unary_minus = False
    near_cmp = prev in RELOPS or nxt in RELOPS or prev in ('+', '-') and \
        not unary_minus or nxt in ('+', '-', '*')
    call = _call_name(sig, i)
    col_idx = call is not None and (call.startswith('sqlite3_column') or
                                    call.startswith('sqlite3_bind'))
    if n in (0, 1):
        if unary_minus and not near_cmp:
            return
        values = [1 - n]
    elif near_cmp or col_idx:
        values = [n + 1, n - 1]
    else:
        return
    hexa = text.lower().startswith('0x')
    for v in values:
        rep = ('0x%x' % v) if hexa else str(v)
        emit('const', [(t.start, t.start + len(text), rep)],
             '%s -> %s' % (text, rep))


def _ret_mutants(sig, i, emit):
    k = i + 1
    neg = False
    if k < len(sig) and sig[k].text == '-':
        neg = True
        k += 1
    if k + 1 >= len(sig) or sig[k].kind != 'number' or \
            sig[k + 1].text != ';':
        return
    try:
        v = int(sig[k].text) * (-1 if neg else 1)
    except ValueError:
        return
    if v not in (-1, 0, 1):
        return
    start = sig[i + 1].start
    for other in (-1, 0, 1):
        if other != v:
            emit('ret', [(start, sig[k].end, str(other))],
                 'return %d -> return %d' % (v, other))


def _del_mutant(sig, i, emit):
    end = _stmt_end(sig, i)
    if end is None or end == i:
        return
    toks = sig[i:end]
    if len(toks) > 3 and [t.text for t in toks[:3]] == ['(', 'void', ')']:
        toks = toks[3:]		# (void)snprintf(...)
    first = toks[0]
    if first.kind == 'ident' and first.text in C_KEYWORDS | {
            'case', 'default'}:
        return
    if first.text in ('{', '}'):
        return
    if _is_declaration(toks):
        return
    texts = [t.text for t in toks]
    assigns = {'=', '|=', '&=', '+=', '-=', '++', '--'}
    level = 0
    top_assign = False
    for t in texts:
        if t in ('(', '['):
            level += 1
        elif t in (')', ']'):
            level -= 1
        elif level == 0 and t in assigns:
            top_assign = True
            break
    call = first.kind == 'ident' and len(toks) > 1 and \
        toks[1].text == '(' and SETTER_RE.search(first.text)
    if top_assign:
        what = 'assignment deleted'
    elif call:
        what = '%s() call deleted' % first.text
    else:
        return
    emit('del', [(sig[i].start, sig[end].start, '')], what)


def _number(muts, src):
    line_starts = [0] + [m.end() for m in re.finditer('\n', src)]
    lines = src.split('\n')
    per_line = {}
    for m in muts:
        first = m.edits[0][0]
        last = m.edits[-1][1]
        ln = bisect.bisect_right(line_starts, first)
        ln_last = bisect.bisect_right(line_starts, last)
        m.line = ln
        per_line[ln] = per_line.get(ln, 0) + 1
        m.id = '%s:%d:%d' % (m.path, ln, per_line[ln])
        m.before = ' '.join(' '.join(lines[ln - 1:ln_last]).split())
        mutated = m.apply(src)
        end = last + sum(len(r) - (e - s) for s, e, r in m.edits)
        eol = mutated.find('\n', end)
        m.after = ' '.join(mutated[line_starts[ln - 1]:
                                   eol if eol >= 0 else None].split())


# -------------------------------------------------------------- running

class Aborted(Exception):
    pass


class Interrupted(Exception):
    """The run is being stopped: the current mutant has no result."""


_procs = set()
_procs_lock = threading.Lock()
_stopping = threading.Event()


def run(cmd, cwd, timeout, env=None):
    """(returncode or 'timeout', output) of cmd in its own process group;
    on timeout SIGINT first, so that pytest's fixtures stop the servers
    they started, then SIGKILL."""
    with _procs_lock:
        if _stopping.is_set():
            raise Interrupted()
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT,
                             start_new_session=True)
        _procs.add(p)
    try:
        try:
            out, _ = p.communicate(timeout=timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            _stop(p)
            out, _ = p.communicate()
            rc = 'timeout'
        except BaseException:	# Ctrl-C, kill(1) while in the main thread
            _stop(p)
            raise
        if _stopping.is_set():
            raise Interrupted()
        return rc, out.decode('utf-8', 'replace')
    finally:
        with _procs_lock:
            _procs.discard(p)


def _stop(p):
    for sig, wait in ((signal.SIGINT, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            return
        try:
            p.wait(wait)
            return
        except subprocess.TimeoutExpired:
            pass


def stop_all():
    with _procs_lock:
        _stopping.set()
        procs = list(_procs)
    for p in procs:
        _stop(p)


def tree_files(root):
    out = subprocess.run(
        ['git', 'ls-files', '-z', '--cached', '--others',
         '--exclude-standard'], cwd=root, check=True,
        stdout=subprocess.PIPE).stdout.decode()
    return [f for f in out.split('\0') if f and
            not f.startswith('build-mutant') and
            os.path.isfile(os.path.join(root, f))]


def sync_tree(root, dst, files):
    """Copy files of root to dst, only those that differ (so that make
    in dst stays incremental from one run to the next)."""
    for f in files:
        s = os.path.join(root, f)
        d = os.path.join(dst, f)
        try:
            if os.path.getsize(s) == os.path.getsize(d):
                with open(s, 'rb') as a, open(d, 'rb') as b:
                    if a.read() == b.read():
                        continue
        except OSError:
            pass
        os.makedirs(os.path.dirname(d), exist_ok=True)
        # a new modification time: the copy may replace a mutant an
        # interrupted run left behind, whose object make must rebuild
        shutil.copy(s, d)


def obj_of(path):
    return os.path.splitext(path)[0] + '.o'


def stripped(objfile):
    """The object's bytes without debug information."""
    tmp = objfile + '.nodebug'
    r = subprocess.run(['objcopy', '--strip-debug', objfile, tmp],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        return None
    with open(tmp, 'rb') as f:
        data = f.read()
    os.unlink(tmp)
    return data


class Worker:
    def __init__(self, runner, n):
        self.r = runner
        self.dir = os.path.join(runner.out, 'w%d' % n)
        self.build = os.path.join(self.dir, 'build')
        self.base_obj = {}

    def make(self, *targets, timeout=None):
        cmd = ['make', '-s', 'B=' + self.build] + list(targets)
        return run(cmd, self.dir, timeout or self.r.build_timeout)

    def setup(self):
        os.makedirs(self.dir, exist_ok=True)
        sync_tree(self.r.root, self.dir, self.r.files)
        # objects of the files to mutate are built again: a run killed
        # hard may have left a mutant's behind, newer than its source
        names = set(os.path.basename(obj_of(p)) for p in self.r.paths)
        for d, _, fs in os.walk(self.build):
            for f in fs:
                if f in names:
                    os.unlink(os.path.join(d, f))
        rc, out = self.make(*self.r.baseline_targets, timeout=900)
        if rc != 0:
            raise Aborted('the unmutated tree does not build:\n' + out)
        for path in self.r.paths:
            o = os.path.join(self.build, obj_of(path))
            rc, out = self.make(o)
            if rc != 0:
                raise Aborted('cannot build %s:\n%s' % (o, out))
            self.base_obj[path] = stripped(o)

    def test_mutant(self, m):
        src_path = os.path.join(self.dir, m.path)
        orig = self.r.sources[m.path]
        t0 = time.monotonic()
        try:
            with open(src_path, 'w') as f:
                f.write(m.apply(orig))
            self._stages(m)
        except Interrupted:
            m.status = m.stage = None
        finally:
            with open(src_path, 'w') as f:
                f.write(orig)
            m.secs = time.monotonic() - t0

    def _stages(self, m):
        o = os.path.join(self.build, obj_of(m.path))
        rc, out = self.make(o)
        if rc != 0:
            m.status, m.stage = 'compile_failed', 'compile'
            m.detail = _first_error(out)
            return
        base = self.base_obj.get(m.path)
        if base is not None and stripped(o) == base:
            m.status, m.stage = 'equivalent', 'object code'
            return
        if m.path.startswith(LIB_DIRS):
            rc, out = self.make('check-unit', timeout=self.r.unit_timeout)
            if rc != 0:
                m.status, m.stage = 'killed', 'unit'
                m.detail = 'timeout' if rc == 'timeout' else \
                    _failed_tests(out)
                return
        if self.r.fast:
            m.status, m.stage = 'survived', 'unit'
            return
        rc, out = self.make('all')
        if rc != 0:
            m.status, m.stage = 'compile_failed', 'link'
            m.detail = _first_error(out)
            return
        for test in self.r.tests_of(m.path):
            rc, out = run(self.r.pytest_cmd(self.build, test), self.dir,
                          self.r.int_timeout[test],
                          env=self.r.pytest_env(self.build))
            if rc != 0:
                m.status, m.stage = 'killed', test
                m.detail = 'timeout' if rc == 'timeout' else \
                    _failed_pytest(out)
                return
        m.status, m.stage = 'survived', 'integration'


def _first_error(out):
    for line in out.splitlines():
        if 'error' in line:
            return line.strip()[:300]
    return out.strip().splitlines()[-1][:300] if out.strip() else ''


def _failed_tests(out):
    fails = [l.strip() for l in out.splitlines()
             if 'FAIL' in l or 'failed' in l and ' 0 failed' not in l]
    return '; '.join(fails)[:300]


def _failed_pytest(out):
    fails = [l.strip() for l in out.splitlines() if l.startswith('FAILED')
             or l.startswith('ERROR')]
    return '; '.join(fails)[:300] or out.strip().splitlines()[-1][:300]


class Runner:
    def __init__(self, args):
        self.args = args
        self.root = os.path.abspath(args.root)
        self.out = os.path.abspath(args.out) if args.out else \
            os.path.join(self.root, 'build-mutant')
        self.fast = args.fast
        self.python = os.environ.get('PYTHON', '/usr/bin/python3')
        self.build_timeout = 600
        self.unit_timeout = args.timeout or 60
        self.int_timeout = {}
        self.sources = {}
        self.paths = []
        self.resumed = []

    def tests_of(self, path):
        t = TARGETS.get(path)
        return t['tests'] if t else []

    def pytest_env(self, build):
        env = dict(os.environ)
        env['MAILGRANTS_BUILD'] = build
        return env

    def pytest_cmd(self, build, test):
        return [self.python, '-m', 'pytest', '-q', '-x', '-p',
                'no:cacheprovider', os.path.join('tests/integration', test)]

    def select(self):
        a = self.args
        if a.files:
            paths = [p for f in a.files for p in f.split(',') if p]
        else:
            paths = list(TARGETS)
        ops = set(a.ops.split(',')) if a.ops else None
        if ops and not ops <= set(OPERATORS):
            raise SystemExit('mutate: unknown operator(s): %s' %
                             ', '.join(sorted(ops - set(OPERATORS))))
        self.skipped_files = []
        muts = {}
        for p in paths:
            full = os.path.join(self.root, p)
            if not os.path.isfile(full):
                raise SystemExit('mutate: no such file: %s' % p)
            if a.fast and not p.startswith(LIB_DIRS):
                self.skipped_files.append(p)
                continue
            with open(full) as f:
                src = f.read()
            self.sources[p] = src
            funcs = TARGETS[p]['funcs'] if p in TARGETS else None
            muts[p] = generate(p, src, funcs, ops)
        if a.only:
            want = [w for w in a.only.split(',') if w]
            for p in muts:
                muts[p] = [m for m in muts[p] if any(
                    m.id == w or m.id.startswith(w + ':') for w in want)]
        if a.resume:
            self.resume(muts)
        if a.max is not None:
            rng = random.Random(a.seed)
            pools = {p: rng.sample(ms, len(ms)) for p, ms in muts.items()}
            chosen = []
            while len(chosen) < a.max and any(pools.values()):
                for p in list(pools):
                    if pools[p] and len(chosen) < a.max:
                        chosen.append(pools[p].pop())
            keep = set(id(m) for m in chosen)
            for p in muts:
                muts[p] = [m for m in muts[p] if id(m) in keep]
        self.paths = [p for p in muts if muts[p]]
        return [m for p in muts for m in muts[p]]

    def resume(self, muts):
        """Take the results of an earlier, unfinished run with the same
        --out from its progress.jsonl; only mutants that are still the
        same (id, line before and after) count."""
        path = os.path.join(self.out, 'progress.jsonl')
        old = {}
        try:
            with open(path) as f:
                for line in f:
                    try:
                        j = json.loads(line)
                    except ValueError:
                        continue	# a line cut by a crash
                    old[(j['id'], j['before'], j['after'])] = j
        except FileNotFoundError:
            return
        self.resumed = []
        for p in muts:
            for m in muts[p]:
                j = old.get((m.id, m.before, m.after))
                if j is not None:
                    m.status, m.stage = j['status'], j['stage']
                    m.detail, m.secs = j['detail'], j['seconds']
                    self.resumed.append(m)
        print('mutate: %d results taken from %s' % (
            len(self.resumed), os.path.relpath(path, os.getcwd())))

    def baseline(self, w):
        """Build the unmutated copy; measure and check its tests."""
        t0 = time.monotonic()
        rc, out = w.make('check-unit', timeout=600)
        if rc != 0:
            raise Aborted('the unit tests fail on the unmutated tree:\n' +
                          out[-3000:])
        if not self.args.timeout:
            self.unit_timeout = max(20, 5 * (time.monotonic() - t0))
        if self.fast:
            return
        tests = []
        for p in self.paths:
            for t in self.tests_of(p):
                if t not in tests:
                    tests.append(t)
        for t in tests:
            t0 = time.monotonic()
            rc, out = run(self.pytest_cmd(w.build, t), w.dir, 1800,
                          env=self.pytest_env(w.build))
            if rc != 0:
                raise Aborted('%s fails on the unmutated tree:\n%s' %
                              (t, out[-3000:]))
            secs = time.monotonic() - t0
            self.int_timeout[t] = self.args.timeout or max(60, 3 * secs)
            print('baseline: %s passes (%.0f s)' % (t, secs), flush=True)

    def main(self, muts):
        os.makedirs(self.out, exist_ok=True)
        self.files = tree_files(self.root)
        self.baseline_targets = ['check-unit'] if self.fast else \
            ['all', 'check-unit']
        jobs = max(1, self.args.jobs)
        workers = [Worker(self, n) for n in range(jobs)]
        t0 = time.monotonic()
        print('mutate: %d mutants of %s; preparing %d scratch tree(s) in %s'
              % (len(muts), ', '.join(self.paths), jobs,
                 os.path.relpath(self.out, os.getcwd())), flush=True)
        for w in workers:
            w.setup()
        self.baseline(workers[0])
        free = list(workers)
        lock = threading.Lock()
        done = [0]

        def one(m):
            with lock:
                w = free.pop()
            try:
                w.test_mutant(m)
            finally:
                with lock:
                    free.append(w)
                    done[0] += 1
                    if m.status is not None:
                        log.write(json.dumps(m.to_json()) + '\n')
                        log.flush()
                    print('[%d/%d] %-40s %-14s %s%s' % (
                        done[0], len(muts), m.id, m.status,
                        m.stage or '', ' (%s)' % m.desc), flush=True)

        # every result as it comes, for a run that does not finish
        log = open(os.path.join(self.out, 'progress.jsonl'), 'w')
        interrupted = False
        for m in self.resumed:
            log.write(json.dumps(m.to_json()) + '\n')
        log.flush()
        todo = [m for m in muts if m.status is None]
        done[0] = len(muts) - len(todo)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
        futs = [pool.submit(one, m) for m in todo]
        try:
            # a short timeout, so that Ctrl-C is seen at once (a signal
            # that a worker thread receives does not wake a blocked wait)
            pending = set(futs)
            while pending:
                done_, pending = concurrent.futures.wait(
                    pending, timeout=0.5,
                    return_when=concurrent.futures.FIRST_COMPLETED)
                for f in done_:
                    f.result()
        except KeyboardInterrupt:
            interrupted = True
            for f in futs:
                f.cancel()
            stop_all()
            pool.shutdown(wait=True)
            print('mutate: interrupted; the report covers the mutants '
                  'run so far', flush=True)
        pool.shutdown(wait=True)
        log.close()
        return self.report(muts, time.monotonic() - t0, interrupted)

    def report(self, muts, secs, interrupted):
        ran = [m for m in muts if m.status is not None]
        count = {}
        for m in ran:
            count[m.status] = count.get(m.status, 0) + 1
        killed = count.get('killed', 0)
        survived = [m for m in ran if m.status == 'survived']
        changing = killed + len(survived)
        pct = 100.0 * killed / changing if changing else 0.0
        by_file = {}
        for m in ran:
            f = by_file.setdefault(m.path, {'killed': 0, 'survived': 0,
                                            'equivalent': 0,
                                            'compile_failed': 0})
            f[m.status] += 1
        if survived:
            print('\nSurviving mutants (missing tests, or equivalent '
                  'mutants to check by hand):')
            for m in survived:
                print('  %s  [%s] %s\n      - %s\n      + %s' % (
                    m.id, m.op, m.desc, m.before, m.after))
        print('\nper file:')
        for p, f in by_file.items():
            n = f['killed'] + f['survived']
            print('  %-36s %4d killed / %4d (%5.1f%%), %d equivalent, '
                  '%d compile failed' % (
                      p, f['killed'], n, 100.0 * f['killed'] / n if n
                      else 0, f['equivalent'], f['compile_failed']))
        for p in self.skipped_files:
            print('  %-36s not run: no unit test links it (run without '
                  '--fast)' % p)
        score = 'mutation score: %d killed / %d behaviour-changing (%.1f%%)' \
            % (killed, changing, pct)
        print('\n' + score)
        print('  %d equivalent (same code), %d compile failed, %d not run; '
              '%s, %.0f s' % (count.get('equivalent', 0),
                              count.get('compile_failed', 0),
                              len(muts) - len(ran),
                              'unit tests only (--fast)' if self.fast else
                              'unit and integration tests', secs))
        rep = {
            'score': score, 'killed': killed, 'survived': len(survived),
            'behaviour_changing': changing, 'percent': round(pct, 1),
            'equivalent': count.get('equivalent', 0),
            'compile_failed': count.get('compile_failed', 0),
            'not_run': len(muts) - len(ran), 'interrupted': interrupted,
            'fast': self.fast, 'seconds': round(secs),
            'commit': _git_head(self.root), 'argv': sys.argv[1:],
            'files': by_file, 'skipped_files': self.skipped_files,
            'mutants': [m.to_json() for m in muts],
        }
        path = self.args.report or os.path.join(self.out, 'report.json')
        with open(path, 'w') as f:
            json.dump(rep, f, indent=1)
            f.write('\n')
        print('report: %s' % os.path.relpath(path, os.getcwd()))
        return 130 if interrupted else 0


def _git_head(root):
    r = subprocess.run(['git', 'describe', '--always', '--dirty'], cwd=root,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return r.stdout.decode().strip()


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(
        description='Mutation testing of the decision code (see the '
        'header of this file).')
    ap.add_argument('--files', action='append')
    ap.add_argument('--fast', action='store_true')
    ap.add_argument('--max', type=int)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--jobs', type=int, default=1)
    ap.add_argument('--list', action='store_true')
    ap.add_argument('--list-ops', action='store_true')
    ap.add_argument('--only')
    ap.add_argument('--ops')
    ap.add_argument('--timeout', type=float)
    ap.add_argument('--root', default=os.path.dirname(os.path.dirname(here)))
    ap.add_argument('--report')
    ap.add_argument('--out')
    ap.add_argument('--resume', action='store_true')
    args = ap.parse_args(argv)
    if args.list_ops:
        for k, v in OPERATORS.items():
            print('%-7s %s' % (k, v))
        return 0
    r = Runner(args)
    muts = r.select()
    if args.list:
        for m in muts:
            print('%s  [%s] %s\n    - %s\n    + %s' % (
                m.id, m.op, m.desc, m.before, m.after))
        by = {}
        for m in muts:
            by[m.path] = by.get(m.path, 0) + 1
        for p, n in by.items():
            print('%-36s %d mutants' % (p, n))
        print('%d mutants' % len(muts))
        return 0
    if not muts:
        print('mutate: no mutants selected')
        return 2
    def terminate(signum, frame):
        raise KeyboardInterrupt()

    # kill(1) as Ctrl-C: the servers the tests started are stopped, the
    # report is written (a background job may have SIGINT ignored)
    signal.signal(signal.SIGTERM, terminate)
    # and SIGINT even when started with it ignored (a background job):
    # pytest inherits an ignored SIGINT, and needs it to stop its servers
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return r.main(muts)
    except Aborted as e:
        stop_all()
        print('mutate: %s' % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        stop_all()
        print('mutate: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
