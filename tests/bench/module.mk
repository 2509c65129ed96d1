# tests/bench/ - benchmarks: they print figures and fail only on errors,
# never on timings.
#
#   make bench                      the issue's directory: 100,000 users,
#                                   1,000 companies, 10,000 company
#                                   mailboxes, 200,000 shares
#   make bench BENCH_SCALE=small    a quick run (2,000 users, 20 companies)
#   make bench BENCH_RUNS=1         fewer repetitions (default 3, median)

BENCH_SCALE ?= full
BENCH_RUNS ?= 3
BENCH_EXPLAIN = $(B)/bench-explain

# An explicit rule, so that $(B)/tests/% (unit test binaries) is never
# tried for this object.
$(B)/tests/bench/bench-explain.o: tests/bench/bench-explain.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(BENCH_EXPLAIN): $(B)/tests/bench/bench-explain.o $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIB_A) $(PKG_LIBS)

.PHONY: bench-sync
bench: all bench-sync

bench-sync: all $(BENCH_EXPLAIN)
	MAILGRANTS_BUILD=$(CURDIR)/$(B) $(PYTHON) tests/bench/bench-sync.py \
		--scale $(BENCH_SCALE) --runs $(BENCH_RUNS)

# Live directory: ldapadd -> decision latency, persist vs polling.
.PHONY: bench-live
bench: bench-live
bench-live: all
	BENCH_SCALE=$(BENCH_SCALE) MAILGRANTS_BUILD=$(CURDIR)/$(B) \
		$(PYTHON) tests/bench/bench-live.py
