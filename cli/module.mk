# cli/ - the mailgrants admin tool.
CLI_OBJS = $(B)/cli/mailgrants.o $(B)/cli/sync.o $(B)/cli/follow.o \
	$(B)/cli/share.o $(B)/cli/share-service.o $(B)/cli/check-ids.o $(B)/cli/check-fe.o \
	$(B)/cli/cli.o $(B)/cli/trail.o $(B)/cli/setup-dir.o $(B)/cli/setup-dir-read.o \
	$(B)/cli/setup-dir-plan.o $(B)/cli/setup-dir-out.o
CLI_BIN = $(B)/mailgrants

$(CLI_BIN): $(CLI_OBJS) $(SYNC_A) $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(CLI_OBJS) $(SYNC_A) $(LIB_A) $(PKG_LIBS)

ALL_TARGETS += $(CLI_BIN)

# setup-directory reads the schema and access.ldif where make install
# puts them.
$(B)/cli/setup-dir.o: CPPFLAGS += -DMAILGRANTS_DATADIR='"$(DATADIR)"'

# The commands' part of check-layers: everything but mailgrants.c links
# without it, so nothing calls back into the main file (the cycle that
# sync.c ended: follow.c calls sync.c, never mailgrants.c).
CLI_PARTS = $(filter-out $(B)/cli/mailgrants.o,$(CLI_OBJS))

$(B)/layers/cli: $(B)/layers/main.c $(CLI_PARTS) $(SYNC_A) $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter-out $(SYNC_A) $(LIB_A),$^) \
		$(SYNC_A) $(LIB_A) $(PKG_LIBS)

check-layers: $(B)/layers/cli

# The example configuration goes to DATADIR: make install never writes
# into SYSCONFDIR, and creates no user (README, "Install").
install-cli: $(CLI_BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DATADIR)
	install -m 0755 $(CLI_BIN) $(DESTDIR)$(BINDIR)/mailgrants
	install -m 0644 doc/mailgrants.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 doc/mailgrants.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 cli/mailgrants.conf.example $(DESTDIR)$(DATADIR)/
	$(call install-unit,cli/mailgrants-sync.service)
	$(call install-unit,cli/mailgrants-share.service)
INSTALL_TARGETS += install-cli
.PHONY: install-cli
