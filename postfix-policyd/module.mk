# postfix-policyd/ - mailgrants-policyd, the Postfix policy server, and
# the libFuzzer harness of its request parser.
POLICYD_OBJS = $(B)/postfix-policyd/mailgrants-policyd.o \
	$(B)/postfix-policyd/server.o $(B)/postfix-policyd/msg.o
POLICYD_BIN = $(B)/mailgrants-policyd

$(POLICYD_BIN): $(POLICYD_OBJS) $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(POLICYD_OBJS) $(LIB_A) $(PKG_LIBS)

ALL_TARGETS += $(POLICYD_BIN)

# The unit names the installed paths; the snippets go to DATADIR for the
# admin to merge into main.cf and master.cf.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system

install-policyd: $(POLICYD_BIN)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(DATADIR)/postfix $(DESTDIR)$(SYSTEMDUNITDIR)
	install -m 0755 $(POLICYD_BIN) $(DESTDIR)$(SBINDIR)/mailgrants-policyd
	install -m 0644 doc/mailgrants-policyd.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 postfix-policyd/main.cf.snippet \
		postfix-policyd/master.cf.snippet $(DESTDIR)$(DATADIR)/postfix/
	sed -e 's|/usr/sbin/mailgrants-policyd|$(SBINDIR)/mailgrants-policyd|' \
		-e 's|/etc/mailgrants/|$(SYSCONFDIR)/mailgrants/|' \
		postfix-policyd/mailgrants-policyd.service \
		>$(DESTDIR)$(SYSTEMDUNITDIR)/mailgrants-policyd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/mailgrants-policyd.service
INSTALL_TARGETS += install-policyd

# The fuzz target is built with clang from the sources (the archive in
# $(B) is gcc's and has no fuzzer instrumentation), apart in build-fuzz/.
FUZZ_CC ?= clang
FUZZ_B = build-fuzz
FUZZ_TIME ?= 30
FUZZ_FLAGS = -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all $(CPPFLAGS) $(PKG_CFLAGS)
FUZZ_POLICY = $(FUZZ_B)/fuzz-policy-request

$(FUZZ_POLICY): tests/fuzz/fuzz-policy-request.c $(LIB_SRCS) $(wildcard lib/*.h)
	@mkdir -p $(FUZZ_B)/corpus/policy-request
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz-policy-request.c \
		$(LIB_SRCS) $(PKG_LIBS)

# New inputs the fuzzer finds go to build-fuzz/, never into the tree.
# "make fuzz" runs every harness a module adds as a prerequisite.
.PHONY: fuzz-policy-request
fuzz: fuzz-policy-request
fuzz-policy-request: $(FUZZ_POLICY)
	$(FUZZ_POLICY) -max_total_time=$(FUZZ_TIME) -max_len=8192 \
		-timeout=10 $(FUZZ_B)/corpus/policy-request \
		tests/fuzz/corpus/policy-request
