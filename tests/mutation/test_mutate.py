"""
test_mutate.py - the mutation tool's self-check, on a toy tree.

The mutants it must make (and what it must leave alone: comments,
strings that are not SQL), and a run of the tool on a toy git tree
with a Makefile of the project's shape: a caught mutant, a survivor, an
equivalent one and one that does not compile are told apart, the score
and report.json say so, and the working tree is untouched afterwards.
A few seconds; part of make check-integration.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mutate  # noqa: E402

TOY_C = r'''/* toy.c - a "<" or an "&&" in this comment is not mutated */
#include <string.h>

int toy_lt(int a, int b);
int toy_big(int a);
int toy_kind(int a);
int toy_same(const char *a);
const char *toy_sql(void);
int toy_find(const char *s, char c, const char **error_r);

int toy_lt(int a, int b)
{
	return a < b;
}

int toy_big(int a)
{
	return a > 5;	/* no test looks at it: its mutants survive */
}

int toy_kind(int a)
{
	switch (a) {
	case 1:
		return 2;
	default:
		break;
	}
	return 0;
}

int toy_same(const char *a)
{
	return strcmp(a, "x == y && z") == 0;
}

const char *toy_sql(void)
{
	return "SELECT id FROM t"
		" WHERE a = ?1 AND b IS NULL";
}

int toy_find(const char *s, char c, const char **error_r)
{
	for (; *s != '\0'; s++) {
		if (*s != c)
			continue;
		return 1;
	}
	*error_r = "not found";
	return -1;
}
'''

TEST_C = r'''#include <stdio.h>
int toy_lt(int a, int b);
int toy_kind(int a);
int toy_same(const char *a);
int main(void)
{
	int fail = 0;

	fail |= toy_lt(1, 2) != 1;
	fail |= toy_lt(2, 2) != 0;
	fail |= toy_lt(3, 2) != 0;
	fail |= toy_kind(1) != 2 || toy_kind(7) != 0;
	fail |= toy_same("x == y && z") != 1 || toy_same("X == Y && Z") != 0;
	printf("test-toy: %s\n", fail ? "FAILED" : "ok");
	return fail;
}
'''

MAKEFILE = '''B ?= build
CC ?= cc
$(B)/%.o: %.c
\t@mkdir -p $(dir $@)
\t$(CC) -O2 -g -Werror=implicit-function-declaration -c -o $@ $<
$(B)/test-toy: $(B)/tests/test-toy.o $(B)/lib/toy.o
\t$(CC) -o $@ $^
all: $(B)/test-toy
check-unit: $(B)/test-toy
\t$(B)/test-toy
'''


def by_desc(muts):
    return {(m.line, m.desc): m for m in muts}


def test_mutants_of_a_toy_file():
    muts = mutate.generate('lib/toy.c', TOY_C)
    got = by_desc(muts)
    assert (13, '< -> <=') in got
    assert (13, 'time: < -> >') not in got	# a, b are no times
    assert (18, '> -> >=') in got
    assert (18, '5 -> 6') in got and (18, '5 -> 4') in got
    assert (27, '"break" removed') in got
    assert (34, 'strcmp -> strcasecmp') in got
    assert (34, '0 -> 1') in got
    assert (40, 'SQL = -> !=') in got
    assert (40, 'SQL AND -> OR') in got
    assert (40, 'SQL IS -> IS NOT') in got
    assert (40, 'SQL ?1 -> ?2') in got
    assert (47, '"continue" removed') in got
    assert (50, 'assignment deleted') in got
    assert (51, 'return -1 -> return 0') in got
    assert got[(50, 'assignment deleted')].after == ';'
    # nothing in the comment (line 1), the #include, or the string
    # that is not SQL ("x == y && z" on line 34)
    assert not [m for m in muts if m.line in (1, 2)]
    for m in muts:
        if m.line == 34:
            assert '"x == y && z"' in m.after, m.desc
    # ids are unique and name file and line
    assert len(set(m.id for m in muts)) == len(muts)
    assert all(m.id.startswith('lib/toy.c:%d:' % m.line) for m in muts)
    # a function filter keeps to the named functions
    only = mutate.generate('lib/toy.c', TOY_C, funcs=['toy_lt'])
    assert only and all(m.line == 13 for m in only)


def git(repo, *args):
    return subprocess.run(['git', '-C', str(repo)] + list(args), check=True,
                          stdout=subprocess.PIPE).stdout.decode()


def test_run_on_a_toy_tree(tmp_path, capsys):
    repo = tmp_path / 'toy'
    (repo / 'lib').mkdir(parents=True)
    (repo / 'tests').mkdir()
    (repo / 'lib' / 'toy.c').write_text(TOY_C)
    (repo / 'tests' / 'test-toy.c').write_text(TEST_C)
    (repo / 'Makefile').write_text(MAKEFILE)
    (repo / '.gitignore').write_text('/build-mutant/\n')
    git(repo, 'init', '-q')
    git(repo, 'add', '.')
    git(repo, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm',
        'toy')
    before = (repo / 'lib' / 'toy.c').read_bytes()

    only = ','.join(['lib/toy.c:13:1',	# < -> <=: killed
                     'lib/toy.c:18:1',	# > -> >=: survives
                     'lib/toy.c:27:1',	# break removed: equivalent
                     'lib/toy.c:34'])	# strcmp line, strcasecmp killed
    rc = mutate.main(['--root', str(repo), '--files', 'lib/toy.c',
                      '--fast', '--only', only])
    out = capsys.readouterr().out
    assert rc == 0, out
    rep = json.loads((repo / 'build-mutant' / 'report.json').read_text())
    status = {m['id']: m['status'] for m in rep['mutants']}
    assert status['lib/toy.c:13:1'] == 'killed'
    assert status['lib/toy.c:18:1'] == 'survived'
    assert status['lib/toy.c:27:1'] == 'equivalent'
    strc = [m for m in rep['mutants'] if m['mutation'] ==
            'strcmp -> strcasecmp']
    assert strc and strc[0]['status'] == 'killed'
    assert rep['killed'] + rep['survived'] == rep['behaviour_changing']
    assert rep['equivalent'] == 1
    assert 'mutation score: %d killed / %d behaviour-changing' % (
        rep['killed'], rep['behaviour_changing']) in out
    assert 'lib/toy.c:18:1' in out.split('Surviving mutants')[1]
    # the working tree is as it was
    assert (repo / 'lib' / 'toy.c').read_bytes() == before
    assert git(repo, 'status', '--porcelain') == ''


def test_compile_failure_counted_apart(tmp_path, capsys):
    """A mutant that does not compile is neither killed nor survived."""
    src = 'int toy(int a);\nint toy(int a)\n{\n\treturn a == 1;\n}\n'
    muts = mutate.generate('lib/t.c', src)
    assert [m.desc for m in muts] == ['== -> !=', '1 -> 0']
    # make one that cannot compile by hand, as an operator could
    bad = mutate.Mutant('lib/t.c', 'ror', [(src.index('=='),
                                            src.index('==') + 2, '=== ')],
                        'broken')
    repo = tmp_path / 'toy'
    (repo / 'lib').mkdir(parents=True)
    (repo / 'lib' / 't.c').write_text(src)
    (repo / 'Makefile').write_text(
        'B ?= build\n$(B)/%.o: %.c\n\t@mkdir -p $(dir $@)\n'
        '\tcc -c -o $@ $<\ncheck-unit: $(B)/lib/t.o\n')
    git(repo, 'init', '-q')
    git(repo, 'add', '.')
    args = mutate.argparse.Namespace(
        root=str(repo), out=None, fast=True, timeout=None, files=None,
        jobs=1, report=None)
    r = mutate.Runner(args)
    r.files = mutate.tree_files(str(repo))
    r.sources = {'lib/t.c': src}
    r.paths = ['lib/t.c']
    r.baseline_targets = ['check-unit']
    w = mutate.Worker(r, 0)
    w.setup()
    w.test_mutant(bad)
    assert bad.status == 'compile_failed'
    assert (repo / 'lib' / 't.c').read_text() == src
