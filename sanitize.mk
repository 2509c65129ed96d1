# sanitize.mk - the black-box tests under the sanitizers and valgrind.
# Included by the top-level Makefile.
#
#   make check-asan      (the Makefile's rule) the unit tests, and first
#                        check-asan-blackbox: mailgrants, mailgrants-policyd
#                        and mailgrants-milter built with ASan+UBSan into
#                        build-asan/ and the black-box tests of our programs
#                        run against them
#   make check-valgrind  the policy daemon's and the milter's black-box
#                        tests with the daemons (build/) under valgrind
#                        memcheck
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
	tests/integration/test_follow.py tests/integration/test_policyd.py \
	tests/integration/test_milter.py tests/integration/test_postfix_e2e.py
VALGRIND_BLACKBOX = tests/integration/test_policyd.py \
	tests/integration/test_milter.py

.PHONY: check-asan-blackbox check-valgrind asan-programs

check-asan: export CC := $(ASAN_CC)
check-asan: check-asan-blackbox

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
		$(PYTHON) -m pytest -q $(ASAN_BLACKBOX)

# Only our programs: not the plugin, not the benchmarks.
asan-programs: $(CLI_BIN) $(POLICYD_BIN) $(MILTER_BIN)

# The daemons' waits are stretched by MAILGRANTS_SLOW (default 5 under
# valgrind; tests/lib/sanitizers.py).
check-valgrind: $(CLI_BIN) $(POLICYD_BIN) $(MILTER_BIN)
	MAILGRANTS_BUILD=$(CURDIR)/$(B) MAILGRANTS_VALGRIND=1 \
		$(PYTHON) -m pytest -q $(VALGRIND_BLACKBOX)
