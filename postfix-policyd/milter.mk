# postfix-policyd/milter.mk - mailgrants-milter, the header From:/Sender:
# check (its header parser is lib-postfix/header.c).
# Included by the top-level Makefile after postfix-policyd/module.mk;
# shares msg.o with the policy daemon and links Debian's libmilter.
MILTER_OBJS = $(B)/postfix-policyd/mailgrants-milter.o \
	$(B)/postfix-policyd/msg.o
MILTER_BIN = $(B)/mailgrants-milter
MILTER_LIBS = -lmilter -pthread

$(MILTER_BIN): $(MILTER_OBJS) $(POSTFIX_A) $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -pthread -o $@ $(MILTER_OBJS) $(POSTFIX_A) $(LIB_A) \
		$(PKG_LIBS) $(MILTER_LIBS)

ALL_TARGETS += $(MILTER_BIN)

install-milter: $(MILTER_BIN)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(DATADIR)/postfix $(DESTDIR)$(SYSTEMDUNITDIR)
	install -m 0755 $(MILTER_BIN) $(DESTDIR)$(SBINDIR)/mailgrants-milter
	install -m 0644 doc/mailgrants-milter.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 postfix-policyd/milter.main.cf.snippet \
		$(DESTDIR)$(DATADIR)/postfix/
	sed -e 's|/usr/sbin/mailgrants-milter|$(SBINDIR)/mailgrants-milter|' \
		-e 's|/etc/mailgrants/|$(SYSCONFDIR)/mailgrants/|' \
		postfix-policyd/mailgrants-milter.service \
		>$(DESTDIR)$(SYSTEMDUNITDIR)/mailgrants-milter.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/mailgrants-milter.service
INSTALL_TARGETS += install-milter

# The header parser's fuzz target, tests/fuzz/fuzz-header.c, is built
# and run by fuzz.mk (make fuzz).

# The end-to-end figures of issue 6: Postfix with the policy daemon and
# the milter against Postfix with the policy daemon alone (smtp-load is
# built by tests/bench/policy.mk). Prints figures; fails only on errors.
BENCH_MILTER_ARGS ?=
TRIVIAL_MILTER = $(B)/trivial-milter

# One step, no object file ($(B)/tests/% belongs to unit tests).
$(TRIVIAL_MILTER): tests/bench/trivial-milter.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS_ALL) $(LDFLAGS_ALL) -pthread -o $@ $< \
		$(MILTER_LIBS)

.PHONY: bench-milter
bench: bench-milter

bench-milter: all $(B)/smtp-load $(TRIVIAL_MILTER)
	MAILGRANTS_BUILD=$(CURDIR)/$(B) $(PYTHON) tests/bench/bench-milter.py \
		$(BENCH_MILTER_ARGS)
