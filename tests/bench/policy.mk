# tests/bench/policy.mk - the policy daemon's benchmarks (make bench, part 2).
#
#   make bench-policy                    100,000-user directory (issue 3)
#   make bench-policy BENCH_SCALE=small  a quick run
#   make bench-policy BENCH_POLICY_ARGS="--replica R --queries Q"
#                                        reuse a replica and its queries
#
# Three stand-alone C tools, no libmailgrants: the load generator, the
# trivial DUNNO server that is the protocol's ceiling, and the SMTP load
# client (XCLIENT LOGIN or AUTH PLAIN) for the Postfix end-to-end
# figures. Built in one step each (no object files: $(B)/tests/% belongs
# to unit tests).

BENCH_SCALE ?= full
BENCH_POLICY_ARGS ?=
POLICY_LOAD = $(B)/policy-load
TRIVIAL_POLICYD = $(B)/trivial-policyd
SMTP_LOAD = $(B)/smtp-load
BENCH_POLICY_TOOLS = $(POLICY_LOAD) $(TRIVIAL_POLICYD) $(SMTP_LOAD)

$(POLICY_LOAD): tests/bench/policy-load.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS_ALL) $(LDFLAGS_ALL) -pthread -o $@ $<

$(TRIVIAL_POLICYD): tests/bench/trivial-policyd.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $<

$(SMTP_LOAD): tests/bench/smtp-load.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS_ALL) $(LDFLAGS_ALL) -pthread -o $@ $<

# Built with everything else, so that a change that breaks them shows
# in "make" and CI, not only in "make bench".
ALL_TARGETS += $(BENCH_POLICY_TOOLS)

.PHONY: bench-policy bench-policy-tools
bench-policy-tools: $(BENCH_POLICY_TOOLS)

bench: bench-policy

bench-policy: all $(BENCH_POLICY_TOOLS)
	MAILGRANTS_BUILD=$(CURDIR)/$(B) $(PYTHON) tests/bench/bench-policy.py \
		--scale $(BENCH_SCALE) $(BENCH_POLICY_ARGS)
