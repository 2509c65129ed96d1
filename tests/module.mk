# tests/ - everything that checks the tree, included by the Makefile:
#
#   make check-unit        the unit tests, tests/unit/test-<module>.c, one
#                          binary each in $(B)/tests/unit/, and
#                          check-layers
#   make check-asan        the unit tests, the black-box tests of our
#                          programs and the fuzz corpora, all with
#                          ASan+UBSan (build-asan/, build-fuzz/replay/)
#   make check-valgrind    the daemons' black-box tests under memcheck
#   make check-integration the integration and security tests (pytest)
#   make check-thunderbird the story in Thunderbird under Xvfb
#   make check-roundcube   Roundcube's sharing dialog in headless Chromium
#   make deb, check-deb    the Debian packages; check-deb as root
#   make check-debian13    the packages and the integration tests on
#                          Debian 13, as root
#   make fuzz[-<target>]   libFuzzer, FUZZ_TIME seconds a target
#   make bench[-<part>]    benchmarks: figures, never pass/fail timings
#   make stress            load and fault runs (minutes)
#   make mutants           mutation testing (hours)
#
# Sections below in that order. None after check-integration is part
# of "make check".

PYTEST = $(PYTHON) -m pytest -q
# The figures of stress and bench: small (2,000 users) or full (100,000).
BENCH_SCALE ?= full
STRESS_SCALE ?= small

# --- unit tests -------------------------------------------------------

UNIT_SRCS = $(wildcard tests/unit/test-*.c)
UNIT_TESTS = $(patsubst %.c,$(B)/%,$(UNIT_SRCS))

$(UNIT_TESTS): $(B)/tests/unit/%: $(B)/tests/unit/%.o $(ALL_LIBS_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(ALL_LIBS_A) $(PKG_LIBS)

.PHONY: check-unit check-integration
check-unit: check-layers $(UNIT_TESTS)
	@sh tests/run-unit.sh $(UNIT_TESTS)

# Two pytest-xdist workers, each taking whole files (a file sets up its
# servers once): 306-358 s instead of 585 s on two busy cores, green in
# each of three runs; most of a test's time is waiting for servers.
# The longest files go first (tests/conftest.py, LONG_FIRST), so that
# the workers end together: 357 s on 2026-12-05 at load 1-2.
PYTEST_WORKERS ?= 2
# What check-integration runs; check-debian13 leaves tests/mutation out.
INTEGRATION_TESTS = tests/integration tests/security tests/mutation

check-integration: all
	MAILGRANTS_BUILD=$(CURDIR)/$(B) $(WITH_DOVECOT_SETTINGS) \
		$(PYTEST) -n $(PYTEST_WORKERS) \
		--dist loadfile $(INTEGRATION_TESTS)

# --- sanitizers -------------------------------------------------------
#
# check-asan: the unit tests, and first the fuzz corpora's replay and
# check-asan-blackbox: mailgrants, mailgrants-policyd and
# mailgrants-milter built with ASan+UBSan into build-asan/ and the
# black-box tests of our programs run against them. check-valgrind: the
# policy daemon's and the milter's black-box tests with the daemons
# (build/) under valgrind memcheck; their waits are stretched by
# MAILGRANTS_SLOW (default 5 under valgrind; tests/lib/sanitizers.py).
#
# Any report fails the run, whichever process wrote it: the test after
# which it appeared fails, and the session at its end
# (tests/lib/sanitizers.py, called from tests/conftest.py).
# The Dovecot plugin is loaded into Dovecot's processes and is never
# built with the sanitizers; its tests and the live directory test
# (plugin and daemons together) stay on the normal build in
# check-integration. Postfix's end-to-end test runs here too: stock
# Dovecot for SASL, our policy daemon under real Postfix traffic.

ASAN_B = build-asan
ASAN_OPT = -O1 -g -fno-omit-frame-pointer
ASAN_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all
# clang for everything in build-asan/: gcc puts UBSan in a runtime of
# its own beside ASan's, and UBSan's reports then ignore log_path and go
# to standard error, where a test that captures it would never look.
# With clang one runtime writes both kinds into the report directory.
ASAN_CC ?= clang

ASAN_BLACKBOX = tests/integration/test_cli.py \
	tests/integration/test_sync.py tests/integration/test_share.py \
	tests/integration/test_share_service.py \
	tests/integration/test_follow.py tests/integration/test_policyd.py \
	tests/integration/test_milter.py tests/integration/test_postfix_e2e.py
VALGRIND_BLACKBOX = tests/integration/test_policyd.py \
	tests/integration/test_milter.py

.PHONY: check-asan check-asan-blackbox check-valgrind asan-programs

check-asan: export CC := $(ASAN_CC)
check-asan: check-fuzz-regressions check-asan-blackbox
	$(MAKE) B=$(ASAN_B) OPT="$(ASAN_OPT)" SAN="$(ASAN_SAN)" check-unit

# A build-asan/ left by another compiler is rebuilt whole: objects of
# two compilers' sanitizer runtimes must not meet in one program.
check-asan-blackbox: export CC := $(ASAN_CC)
check-asan-blackbox:
	@mkdir -p $(ASAN_B); id="$$($(CC) --version | head -n 1)"; \
	if [ "$$(cat $(ASAN_B)/.compiler 2>/dev/null)" != "$$id" ]; then \
		echo "$(ASAN_B): built by another compiler, rebuilding"; \
		find $(ASAN_B) -mindepth 1 -delete; \
		echo "$$id" >$(ASAN_B)/.compiler; \
	fi
	$(MAKE) B=$(ASAN_B) OPT="$(ASAN_OPT)" SAN="$(ASAN_SAN)" asan-programs
	MAILGRANTS_BUILD=$(CURDIR)/$(ASAN_B) MAILGRANTS_SANITIZERS=1 \
		$(PYTEST) -n $(PYTEST_WORKERS) --dist loadfile $(ASAN_BLACKBOX)

# Only our programs: not the plugin, not the benchmarks.
asan-programs: $(CLI_BIN) $(POLICYD_BIN) $(MILTER_BIN)

check-valgrind: $(CLI_BIN) $(POLICYD_BIN) $(MILTER_BIN)
	MAILGRANTS_BUILD=$(CURDIR)/$(B) MAILGRANTS_VALGRIND=1 \
		$(PYTEST) -n $(PYTEST_WORKERS) --dist loadfile $(VALGRIND_BLACKBOX)

# --- fuzz -------------------------------------------------------------
#
#   make fuzz              every target FUZZ_TIME seconds (default 20)
#   make fuzz-long         every target FUZZ_LONG_TIME seconds (600)
#   make fuzz-<target>     one target, e.g. make fuzz-addr FUZZ_TIME=60
#   make check-fuzz-regressions
#                          the seed corpora and the kept reproducers
#                          replayed without libFuzzer (gcc, ASan, UBSan,
#                          in build-fuzz/replay/); part of check-asan
#
# The targets, tests/fuzz/fuzz-<target>.c, are built with clang from the
# sources (the archive in $(B) is gcc's, without fuzzer instrumentation)
# into build-fuzz/. Seeds are tests/fuzz/corpus/<target>/; reproducers
# of fixed crashes are tests/fuzz/regressions/<target>/ and seed every
# run too. New inputs go to build-fuzz/corpus/<target>/, crashes to
# build-fuzz/<target>-crash-*, never into the tree: copy a crash into
# tests/fuzz/regressions/<target>/ with a name that says what it was,
# once it is fixed.

FUZZ_TARGETS = policy-request header addr config ldap-entry audit

FUZZ_CC ?= clang
FUZZ_B = build-fuzz
FUZZ_TIME ?= 20
FUZZ_LONG_TIME ?= 600
FUZZ_FLAGS = -std=gnu11 -g -O1 $(ASAN_SAN) $(CPPFLAGS) $(LAYER_INC) \
	$(PKG_CFLAGS)
FUZZ_ARGS = -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

# The longest input of each target (bytes).
FUZZ_MAX_LEN_policy-request = 8192
FUZZ_MAX_LEN_header = 20000
FUZZ_MAX_LEN_addr = 1200
FUZZ_MAX_LEN_config = 16384
FUZZ_MAX_LEN_ldap-entry = 16384
FUZZ_MAX_LEN_audit = 9000

FUZZ_LIB_OBJS = $(patsubst %.c,$(FUZZ_B)/%.o,$(LIB_SRCS) $(SYNC_SRCS) \
	$(POSTFIX_SRCS))
FUZZ_LIB_A = $(FUZZ_B)/libmailgrants-fuzz.a
FUZZ_BINS = $(addprefix $(FUZZ_B)/fuzz-,$(FUZZ_TARGETS))
FUZZ_RUNS = $(addprefix fuzz-,$(FUZZ_TARGETS))

FUZZ_LIB_HDRS = $(wildcard lib/*.h lib-sync/*.h lib-postfix/*.h)

$(FUZZ_LIB_OBJS): $(FUZZ_B)/%.o: %.c $(FUZZ_LIB_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_LIB_A): $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BINS): $(FUZZ_B)/fuzz-%: tests/fuzz/fuzz-%.c $(FUZZ_LIB_A)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_A) \
		$(PKG_LIBS) -pthread

.PHONY: fuzz fuzz-long check-fuzz-regressions fuzz-replay $(FUZZ_RUNS)
fuzz: $(FUZZ_RUNS)

$(FUZZ_RUNS): fuzz-%: $(FUZZ_B)/fuzz-%
	@mkdir -p $(FUZZ_B)/corpus/$*
	$< -max_total_time=$(FUZZ_TIME) -max_len=$(FUZZ_MAX_LEN_$*) \
		$(FUZZ_ARGS) -artifact_prefix=$(FUZZ_B)/$*- \
		$(FUZZ_B)/corpus/$* tests/fuzz/corpus/$* \
		$(wildcard tests/fuzz/regressions/$*)

fuzz-long:
	$(MAKE) fuzz FUZZ_TIME=$(FUZZ_LONG_TIME)

# The replay: each target's LLVMFuzzerTestOneInput() with
# tests/fuzz/replay.c's main(), built like the unit tests by a make of
# its own with B=build-fuzz/replay (the objects come from the generic
# rule). A directory and a compiler of its own: check-asan may build
# build-asan/ with another compiler, and two compilers' sanitizer
# runtimes must not meet in one program.
FUZZ_REPLAY_B = $(FUZZ_B)/replay
FUZZ_REPLAY_CC ?= gcc
FUZZ_REPLAYS = $(addprefix $(B)/fuzz-replay/,$(FUZZ_TARGETS))

$(FUZZ_REPLAYS): $(B)/fuzz-replay/%: $(B)/tests/fuzz/fuzz-%.o \
		$(B)/tests/fuzz/replay.o $(ALL_LIBS_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -pthread -o $@ $^ $(PKG_LIBS)

fuzz-replay: $(FUZZ_REPLAYS)
	@for t in $(FUZZ_TARGETS); do \
		r=tests/fuzz/regressions/$$t; test -d $$r || r=; \
		$(B)/fuzz-replay/$$t tests/fuzz/corpus/$$t $$r || exit 1; \
	done

check-fuzz-regressions:
	$(MAKE) B=$(FUZZ_REPLAY_B) CC=$(FUZZ_REPLAY_CC) OPT="$(ASAN_OPT)" \
		SAN="$(ASAN_SAN)" fuzz-replay

# --- the mail client and the Debian packages --------------------------
#
#   make check-thunderbird   installs the GUI test dependencies
#                            (tests/deps.sh --gui: Debian's thunderbird,
#                            Xvfb, matchbox-window-manager, xdotool,
#                            ImageMagick), builds, and runs tests/gui:
#                            Thunderbird under Xvfb with a fresh profile,
#                            logged in as Sandra on a private Dovecot with
#                            the plugin; screenshots and IMAP logs under
#                            $(B)/test-artifacts/thunderbird/. About 1.5
#                            minutes here (2 cores), most of it waiting
#                            for each first sync to settle.
#   make check-roundcube     installs Roundcube's test dependencies
#                            (tests/deps.sh --roundcube: Debian's
#                            roundcube with its plugins and SQLite,
#                            apache2-bin with mod_php, chromium,
#                            chromedriver, python3-selenium), builds, and
#                            runs tests/roundcube: Roundcube with the
#                            README's configuration served by Apache on
#                            loopback, in front of slapd, the follower,
#                            the share service and Dovecot; headless
#                            Chromium shares Peter's INBOX with Tom and
#                            takes it back; screenshots under
#                            $(B)/test-artifacts/roundcube/. About 15 s
#                            here.
#   make deb                 mailgrants, postfix-mailgrants and
#                            dovecot-mailgrants with dpkg-buildpackage in
#                            a copy of the tree, linted; the .debs go to
#                            build-deb/
#   make check-deb           the same, then apt-get install them, run the
#                            tests of installed files against them and
#                            purge them again (tests/check-deb.sh); as
#                            root
#
# Each installs what it needs on top of "make deps" (a GUI, a browser
# and a web server; debhelper, lintian, ...): "make check" needs none.

.PHONY: check-thunderbird check-roundcube deb check-deb

check-thunderbird: deps
	@sh tests/deps.sh --gui
	$(MAKE) all
	MAILGRANTS_BUILD=$(CURDIR)/$(B) $(WITH_DOVECOT_SETTINGS) \
		$(PYTEST) tests/gui

check-roundcube: deps
	@sh tests/deps.sh --roundcube
	$(MAKE) all
	MAILGRANTS_BUILD=$(CURDIR)/$(B) $(WITH_DOVECOT_SETTINGS) \
		$(PYTEST) tests/roundcube

deb:
	PYTHON=$(PYTHON) sh tests/check-deb.sh --build-only

check-deb:
	PYTHON=$(PYTHON) sh tests/check-deb.sh

# --- Debian 13 --------------------------------------------------------
#
# check-debian13 (as root): on Debian 13 - Dovecot 2.4, Postfix 3.10,
# slapd 2.6, valgrind 3.24 - in one chroot built from Debian's mirror
# (tests/debian13.sh): first the Debian packages as check-deb does on
# Debian 12 (built there against 2.4, linted, installed, the tests of
# installed files, purged; tests/check-deb.sh), then the unit tests
# (check-layers against 2.4 included), the daemons under valgrind and
# the integration and security tests again. About 10-11 minutes here
# on two busy cores from a new chroot: debootstrap half a minute, the
# packages' part 1.5 minutes and as much for installing the chroot's
# packages, the tests 7.5 minutes (15 before the chroot had the host's
# /etc/hosts, tests/debian13.sh). Not repeated there: the
# ASan/UBSan runs (compiler-checked code, the same on both; make check
# runs them on Debian 13 too) and Thunderbird.
#
# Left out on Debian 13, each because nothing in it depends on the
# release (no Dovecot, Postfix or slapd, no package, nothing built
# against their headers); make check runs them on Debian 12:
#   tests/mutation/   the mutation tool's self-test: mutate.py on a toy
#                     C tree of its own, built with cc and make
DEBIAN13_TESTS = tests/integration tests/security

# More options of tests/debian13.sh, e.g. DEBIAN13_FLAGS="-k -d /srv/mine".
DEBIAN13_FLAGS ?=

.PHONY: check-debian13
check-debian13:
	sh tests/debian13.sh $(DEBIAN13_FLAGS) -b 'sh tests/check-deb.sh' \
		-c 'make CI=1 check-unit check-valgrind check-integration \
			INTEGRATION_TESTS="$(DEBIAN13_TESTS)"'

# --- bench ------------------------------------------------------------
#
#   make bench                      every part below on the issue's
#                                   directory: 100,000 users, 1,000
#                                   companies, 10,000 company mailboxes,
#                                   200,000 shares
#   make bench BENCH_SCALE=small    a quick run (2,000 users, 20 companies)
#   make bench-sync BENCH_RUNS=1    fewer repetitions (default 3, median)
#   make bench-live                 ldapadd -> decision latency, persist
#                                   vs polling
#   make bench-policy               the policy daemon (issue 3);
#                                   BENCH_POLICY_ARGS="--replica R
#                                   --queries Q" reuses a replica and its
#                                   queries
#   make bench-dovecot              the plugin (issue 4): 200 IMAP sessions
#                                   (LOGIN, NAMESPACE, LIST, SELECT,
#                                   LOGOUT) on the example and on a
#                                   100,000-user replica, against stock
#                                   Dovecot shared namespaces with vfile
#                                   ACLs and acl_shared_dict, on the
#                                   Dovecot installed (2.3 or 2.4)
#   make bench-dovecot-debian13     the same on Debian 13 (Dovecot 2.4)
#                                   in tests/debian13.sh's chroot, as
#                                   root; DEBIAN13_FLAGS="-k -d DIR"
#                                   keeps and reuses one
#   make bench-sent                 Postfix end to end with and without
#                                   sent copies (tests/bench/bench-sent.py)
#   make bench-milter               Postfix with the policy daemon and the
#                                   milter against Postfix with the policy
#                                   daemon alone (issue 6) and with two
#                                   do-nothing milters (issue 18)
#   make bench-milter-proto         the same three milters without
#                                   Postfix: their CPU per message
#   make bench-onbehalf             Postfix with both: a share without and
#                                   with the right to send on behalf, and
#                                   mail sent on behalf (issue 16)
#
# The C tools, stress's too: bench-explain and stress-expect link the
# core; the load generator, the trivial DUNNO server (the protocol's
# ceiling), the SMTP load client (XCLIENT LOGIN or AUTH PLAIN) and the
# two do-nothing milters (libmilter's, and one speaking the protocol
# itself in one thread) stand alone. They are built with everything
# else, so that a change that breaks them shows in "make" and CI, not
# only in "make bench".

BENCH_RUNS ?= 3
BENCH_POLICY_ARGS ?=
BENCH_MILTER_ARGS ?=
BENCH_MILTER_PROTO_ARGS ?=
BENCH_ONBEHALF_ARGS ?=
DEBIAN13_FLAGS ?=
BENCH_EXPLAIN = $(B)/bench-explain
STRESS_EXPECT = $(B)/stress-expect
POLICY_LOAD = $(B)/policy-load
TRIVIAL_POLICYD = $(B)/trivial-policyd
SMTP_LOAD = $(B)/smtp-load
TRIVIAL_MILTER = $(B)/trivial-milter
TRIVIAL_MILTER_RAW = $(B)/trivial-milter-raw
BENCH_POLICY_TOOLS = $(POLICY_LOAD) $(TRIVIAL_POLICYD) $(SMTP_LOAD)

# Core headers only, as the core's own objects.
$(B)/tests/bench/%.o $(B)/tests/stress/%.o: LAYER_INC =

$(BENCH_EXPLAIN): $(B)/tests/bench/bench-explain.o $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIB_A) $(PKG_LIBS)

$(STRESS_EXPECT): $(B)/tests/stress/expect.o $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIB_A) $(PKG_LIBS)

# One step each, no object file.
BENCH_LIBS_trivial-milter = $(MILTER_LIBS)
$(BENCH_POLICY_TOOLS) $(TRIVIAL_MILTER) $(TRIVIAL_MILTER_RAW): $(B)/%: \
		tests/bench/%.c tests/bench/load.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS_ALL) $(LDFLAGS_ALL) -pthread -o $@ \
		$< $(BENCH_LIBS_$*)

ALL_TARGETS += $(BENCH_EXPLAIN) $(STRESS_EXPECT) $(BENCH_POLICY_TOOLS) \
	$(TRIVIAL_MILTER) $(TRIVIAL_MILTER_RAW)

.PHONY: bench bench-sync bench-live bench-policy bench-policy-tools \
	bench-dovecot bench-dovecot-debian13 bench-milter bench-onbehalf \
	bench-milter-proto
bench: all bench-sync bench-live bench-policy bench-dovecot bench-milter \
	bench-onbehalf

bench-sync: all $(BENCH_EXPLAIN)
	MAILGRANTS_BUILD=$(CURDIR)/$(B) $(PYTHON) tests/bench/bench-sync.py \
		--scale $(BENCH_SCALE) --runs $(BENCH_RUNS)

bench-live: all
	BENCH_SCALE=$(BENCH_SCALE) MAILGRANTS_BUILD=$(CURDIR)/$(B) \
		$(PYTHON) tests/bench/bench-live.py

bench-policy-tools: $(BENCH_POLICY_TOOLS)

bench-policy: all $(BENCH_POLICY_TOOLS)
	MAILGRANTS_BUILD=$(CURDIR)/$(B) $(PYTHON) tests/bench/bench-policy.py \
		--scale $(BENCH_SCALE) $(BENCH_POLICY_ARGS)

bench-dovecot: all
	BENCH_SCALE=$(BENCH_SCALE) MAILGRANTS_BUILD=$(CURDIR)/$(B) \
		$(WITH_DOVECOT_SETTINGS) $(PYTHON) tests/bench/bench-dovecot.py

bench-dovecot-debian13:
	sh tests/debian13.sh $(DEBIAN13_FLAGS) \
		-c 'make CI=1 bench-dovecot BENCH_SCALE=$(BENCH_SCALE)'

bench-sent: all $(SMTP_LOAD)
	MAILGRANTS_BUILD=$(CURDIR)/$(B) $(PYTHON) tests/bench/bench-sent.py \
		$(BENCH_SENT_ARGS)
.PHONY: bench-sent

bench-milter: all $(SMTP_LOAD) $(TRIVIAL_MILTER) $(TRIVIAL_MILTER_RAW)
	MAILGRANTS_BUILD=$(CURDIR)/$(B) $(PYTHON) tests/bench/bench-milter.py \
		$(BENCH_MILTER_ARGS)

bench-milter-proto: all $(TRIVIAL_MILTER) $(TRIVIAL_MILTER_RAW)
	MAILGRANTS_BUILD=$(CURDIR)/$(B) $(PYTHON) \
		tests/bench/bench-milter-proto.py $(BENCH_MILTER_PROTO_ARGS)

bench-onbehalf: all $(SMTP_LOAD)
	MAILGRANTS_BUILD=$(CURDIR)/$(B) $(PYTHON) \
		tests/bench/bench-onbehalf.py $(BENCH_ONBEHALF_ARGS)

# --- stress (issue 8) -------------------------------------------------
#
#   make stress            both runs below, one after the other
#   make stress-policyd    mailgrants-policyd: 200 connections, 1,000,000
#                          requests, each reply checked against the
#                          decision table, while the replica is replaced
#                          100 times; RSS sampled (tests/stress/
#                          stress-policyd.py)
#   make stress-dovecot    Dovecot with the plugin: 50 IMAP sessions in
#                          one company mailbox while LMTP delivers 1,000
#                          messages; nothing lost, force-resync finds
#                          nothing (tests/stress/stress-dovecot.py)
#
#   STRESS_SCALE=full      the 100,000-user directory for the policy run
#                          (default small: 2,000 users)
#   STRESS_POLICYD_ARGS=, STRESS_DOVECOT_ARGS=   more options
#
# Loopback only, bounded in time, every server private and removed
# afterwards.

STRESS_POLICYD_ARGS ?=
STRESS_DOVECOT_ARGS ?=

.PHONY: stress stress-tools stress-policyd stress-dovecot
stress-tools: $(STRESS_EXPECT) $(POLICY_LOAD)

stress: stress-policyd stress-dovecot

stress-policyd: all stress-tools
	MAILGRANTS_BUILD=$(CURDIR)/$(B) $(PYTHON) tests/stress/stress-policyd.py \
		--scale $(STRESS_SCALE) $(STRESS_POLICYD_ARGS)

stress-dovecot: all
	MAILGRANTS_BUILD=$(CURDIR)/$(B) $(WITH_DOVECOT_SETTINGS) \
		$(PYTHON) tests/stress/stress-dovecot.py \
		$(STRESS_DOVECOT_ARGS)

# --- mutants ----------------------------------------------------------
#
# Mutation testing of the decision code, on demand: tests/mutation/
# mutate.py makes small bug-like changes to lib/rights.c, lib/policy.c,
# ... one at a time in a copy of the tree under build-mutant/, and runs
# the tests against each.
#
#   make mutants                     all files, unit and integration tests
#   make mutants MUTATE_FLAGS=--fast unit tests only (about half an hour)
#   make mutants MUTATE_FLAGS="--files lib/policy.c --max 50"
#   make check-mutate-tool           the tool's own self-test (seconds)
#
# The score line and the survivors are printed; build-mutant/report.json
# keeps every mutant's outcome. See the header of mutate.py.

MUTATE_FLAGS ?=

.PHONY: mutants check-mutate-tool clean-mutants

mutants:
	PYTHON=$(PYTHON) $(PYTHON) tests/mutation/mutate.py $(MUTATE_FLAGS)

check-mutate-tool:
	$(PYTEST) tests/mutation/test_mutate.py

clean-mutants:
	rm -rf build-mutant
