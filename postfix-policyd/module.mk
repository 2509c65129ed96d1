# postfix-policyd/ - mailgrants-policyd, the Postfix policy server.
POLICYD_OBJS = $(B)/postfix-policyd/mailgrants-policyd.o \
	$(B)/postfix-policyd/server.o $(B)/postfix-policyd/msg.o \
	$(B)/postfix-policyd/listen.o $(B)/postfix-policyd/service.o
POLICYD_BIN = $(B)/mailgrants-policyd

$(POLICYD_BIN): $(POLICYD_OBJS) $(POSTFIX_A) $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(POLICYD_OBJS) $(POSTFIX_A) $(LIB_A) \
		$(PKG_LIBS)

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
		postfix-policyd/master.cf.snippet \
		postfix-policyd/delivery.main.cf.snippet \
		$(DESTDIR)$(DATADIR)/postfix/
	sed -e 's|/usr/sbin/mailgrants-policyd|$(SBINDIR)/mailgrants-policyd|' \
		-e 's|/etc/mailgrants/|$(SYSCONFDIR)/mailgrants/|' \
		postfix-policyd/mailgrants-policyd.service \
		>$(DESTDIR)$(SYSTEMDUNITDIR)/mailgrants-policyd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/mailgrants-policyd.service
INSTALL_TARGETS += install-policyd

# Its request parser's fuzz target, tests/fuzz/fuzz-policy-request.c, is
# built and run by fuzz.mk (make fuzz).
