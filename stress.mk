# stress.mk - load and fault runs (issue 8): "make stress".
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
# afterwards. Not part of "make check": it takes minutes.

STRESS_SCALE ?= small
STRESS_POLICYD_ARGS ?=
STRESS_DOVECOT_ARGS ?=
STRESS_EXPECT = $(B)/stress-expect

# An explicit rule, so that $(B)/tests/% (unit test binaries) is never
# tried for this object.
$(B)/tests/stress/expect.o: tests/stress/expect.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(STRESS_EXPECT): $(B)/tests/stress/expect.o $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(LIB_A) $(PKG_LIBS)

# Built with everything else, so that a change in lib/ that breaks it
# shows in "make" and CI, not only in "make stress".
ALL_TARGETS += $(STRESS_EXPECT)

.PHONY: stress stress-tools stress-policyd stress-dovecot
stress-tools: $(STRESS_EXPECT) $(POLICY_LOAD)

stress: stress-policyd stress-dovecot

stress-policyd: all stress-tools
	MAILGRANTS_BUILD=$(CURDIR)/$(B) $(PYTHON) tests/stress/stress-policyd.py \
		--scale $(STRESS_SCALE) $(STRESS_POLICYD_ARGS)

stress-dovecot: all
	MAILGRANTS_BUILD=$(CURDIR)/$(B) $(PYTHON) tests/stress/stress-dovecot.py \
		$(STRESS_DOVECOT_ARGS)
