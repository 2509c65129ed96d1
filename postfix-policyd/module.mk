# postfix-policyd/ - the two Postfix daemons: mailgrants-policyd, the
# policy server, and mailgrants-milter, the header From:/Sender: check
# (Debian's libmilter). Both link lib-postfix/ and the core; msg.o is
# shared. Their fuzz targets (the request parser, the header parser)
# and the milter's benchmark are tests/module.mk's.

# The sources of each daemon, one list each.
POLICYD_SRCS = postfix-policyd/mailgrants-policyd.c \
	postfix-policyd/server.c postfix-policyd/listen.c \
	postfix-policyd/service.c postfix-policyd/msg.c
MILTER_SRCS = postfix-policyd/mailgrants-milter.c postfix-policyd/msg.c

POLICYD_OBJS = $(patsubst %.c,$(B)/%.o,$(POLICYD_SRCS))
POLICYD_BIN = $(B)/mailgrants-policyd
MILTER_OBJS = $(patsubst %.c,$(B)/%.o,$(MILTER_SRCS))
MILTER_BIN = $(B)/mailgrants-milter
MILTER_LIBS = -lmilter -pthread

$(POLICYD_BIN): $(POLICYD_OBJS) $(POSTFIX_A) $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -pthread -o $@ $(POLICYD_OBJS) $(POSTFIX_A) $(LIB_A) \
		$(PKG_LIBS)

$(MILTER_BIN): $(MILTER_OBJS) $(POSTFIX_A) $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -pthread -o $@ $(MILTER_OBJS) $(POSTFIX_A) $(LIB_A) \
		$(PKG_LIBS) $(MILTER_LIBS)

ALL_TARGETS += $(POLICYD_BIN) $(MILTER_BIN)

# The snippets go to DATADIR for the admin to merge into main.cf and
# master.cf.
install-policyd: $(POLICYD_BIN)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(DATADIR)/postfix
	install -m 0755 $(POLICYD_BIN) $(DESTDIR)$(SBINDIR)/mailgrants-policyd
	install -m 0644 doc/mailgrants-policyd.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 postfix-policyd/main.cf.snippet \
		postfix-policyd/master.cf.snippet \
		postfix-policyd/delivery.main.cf.snippet \
		$(DESTDIR)$(DATADIR)/postfix/
	$(call install-unit,postfix-policyd/mailgrants-policyd.service)

install-milter: $(MILTER_BIN)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(DATADIR)/postfix
	install -m 0755 $(MILTER_BIN) $(DESTDIR)$(SBINDIR)/mailgrants-milter
	install -m 0644 doc/mailgrants-milter.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 postfix-policyd/milter.main.cf.snippet \
		$(DESTDIR)$(DATADIR)/postfix/
	$(call install-unit,postfix-policyd/mailgrants-milter.service)

INSTALL_TARGETS += install-policyd install-milter
.PHONY: install-policyd install-milter
