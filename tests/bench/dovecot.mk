# tests/bench/dovecot.mk - the Dovecot plugin's benchmark (issue 4, make
# bench): 200 IMAP sessions (LOGIN, NAMESPACE, LIST, SELECT, LOGOUT)
# with the plugin on the example and on a 100,000-user replica, against
# stock Dovecot shared namespaces with vfile ACLs and acl_shared_dict.
#
#   make bench-dovecot                     the full run (a few minutes)
#   make bench-dovecot BENCH_SCALE=small   5,000 users, 20 sessions
#
# Figures only: it fails on errors, never on timings.

BENCH_SCALE ?= full

.PHONY: bench-dovecot
bench: bench-dovecot

bench-dovecot: all
	BENCH_SCALE=$(BENCH_SCALE) MAILGRANTS_BUILD=$(CURDIR)/$(B) \
		$(PYTHON) tests/bench/bench-dovecot.py
