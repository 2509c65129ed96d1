# fuzz.mk - the libFuzzer targets, tests/fuzz/fuzz-<target>.c, and their
# replay in "make check". Included by the top-level Makefile.
#
#   make fuzz              every target FUZZ_TIME seconds (default 20)
#   make fuzz-long         every target FUZZ_LONG_TIME seconds (600)
#   make fuzz-<target>     one target, e.g. make fuzz-addr FUZZ_TIME=60
#   make check-fuzz-regressions
#                          the seed corpora and the kept reproducers
#                          replayed without libFuzzer (gcc, ASan, UBSan,
#                          in build-fuzz/replay/); part of check-asan,
#                          so of "make check"
#
# The targets are built with clang from the sources (the archive in $(B)
# is gcc's, without fuzzer instrumentation) into build-fuzz/. Seeds are
# tests/fuzz/corpus/<target>/; reproducers of fixed crashes are
# tests/fuzz/regressions/<target>/ and seed every run too. New inputs go
# to build-fuzz/corpus/<target>/, crashes to build-fuzz/<target>-crash-*,
# never into the tree: copy a crash into tests/fuzz/regressions/<target>/
# with a name that says what it was, once it is fixed.

FUZZ_TARGETS = policy-request header addr config ldap-entry

FUZZ_CC ?= clang
FUZZ_B = build-fuzz
FUZZ_TIME ?= 20
FUZZ_LONG_TIME ?= 600
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_FLAGS = -std=gnu11 -g -O1 $(FUZZ_SAN) $(CPPFLAGS) $(LAYER_INC) \
	$(PKG_CFLAGS)
FUZZ_ARGS = -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

# The longest input of each target (bytes).
FUZZ_MAX_LEN_policy-request = 8192
FUZZ_MAX_LEN_header = 20000
FUZZ_MAX_LEN_addr = 1200
FUZZ_MAX_LEN_config = 16384
FUZZ_MAX_LEN_ldap-entry = 16384

FUZZ_LIB_OBJS = $(patsubst %.c,$(FUZZ_B)/%.o,$(LIB_SRCS) $(SYNC_SRCS) \
	$(POSTFIX_SRCS))
FUZZ_LIB_A = $(FUZZ_B)/libmailgrants-fuzz.a
FUZZ_BINS = $(addprefix $(FUZZ_B)/fuzz-,$(FUZZ_TARGETS))
FUZZ_RUNS = $(addprefix fuzz-,$(FUZZ_TARGETS))

FUZZ_LIB_HDRS = $(wildcard lib/*.h lib-sync/*.h lib-postfix/*.h)

$(FUZZ_B)/lib/%.o: lib/%.c $(FUZZ_LIB_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_B)/lib-sync/%.o: lib-sync/%.c $(FUZZ_LIB_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_B)/lib-postfix/%.o: lib-postfix/%.c $(FUZZ_LIB_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_LIB_A): $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BINS): $(FUZZ_B)/fuzz-%: tests/fuzz/fuzz-%.c $(FUZZ_LIB_A)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_A) \
		$(PKG_LIBS) -pthread

.PHONY: fuzz-long check-fuzz-regressions fuzz-replay $(FUZZ_RUNS)
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
	$(MAKE) B=$(FUZZ_REPLAY_B) CC=$(FUZZ_REPLAY_CC) \
		OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" \
		fuzz-replay

# "make check" runs check-asan; the replay goes with it.
check-asan: check-fuzz-regressions
