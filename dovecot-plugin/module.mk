# dovecot-plugin/ - lib20_mailgrants_plugin.so for Dovecot 2.3.
#
# Flags come from Dovecot's dovecot-config (include dir, moduledir);
# our own warnings apply. The core objects it needs are compiled again
# with -fPIC into $(B)/dovecot-plugin/lib/ (the archive is not PIC),
# and only those: the plugin reads the replica, it never talks LDAP.
# No sanitizers here: a dlopen()ed module cannot bring its own ASan
# runtime into Dovecot's processes.

DOVECOT_CONFIG ?= /usr/lib/dovecot/dovecot-config
DOVECOT_INCLUDE := $(shell . $(DOVECOT_CONFIG) 2>/dev/null && \
	echo $$LIBDOVECOT_INCLUDE)
DOVECOT_MODULEDIR := $(shell . $(DOVECOT_CONFIG) 2>/dev/null && \
	echo $$dovecot_moduledir)

DP_SO = $(B)/dovecot-plugin/lib20_mailgrants_plugin.so
DP_SRCS = dovecot-plugin/mailgrants-plugin.c dovecot-plugin/mailgrants-list.c \
	dovecot-plugin/mailgrants-acl.c dovecot-plugin/mailgrants-mailbox.c \
	dovecot-plugin/mailgrants-imap.c dovecot-plugin/mailgrants-subs.c
DP_OBJS = $(patsubst dovecot-plugin/%.c,$(B)/dovecot-plugin/%.o,$(DP_SRCS))
DP_LIB_SRCS = lib/replica.c lib/replica-handle.c lib/rights.c lib/addr.c lib/xalloc.c
DP_LIB_OBJS = $(patsubst lib/%.c,$(B)/dovecot-plugin/lib/%.o,$(DP_LIB_SRCS))
DP_CFLAGS = -std=gnu11 $(OPT) -fPIC -fno-strict-aliasing $(WARNINGS) \
	$(CFLAGS)
DP_CPPFLAGS = -D_GNU_SOURCE -DHAVE_CONFIG_H $(DOVECOT_INCLUDE) -Ilib \
	-Idovecot-plugin
DP_LIBS = -lsqlite3 -lidn2 -lunistring

$(B)/dovecot-plugin/%.o: dovecot-plugin/%.c
	@mkdir -p $(dir $@)
	$(CC) $(DP_CPPFLAGS) $(DP_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/dovecot-plugin/lib/%.o: lib/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS_ALL) -fPIC -fvisibility=hidden -MMD -MP \
		-c -o $@ $<

$(DP_SO): $(DP_OBJS) $(DP_LIB_OBJS) dovecot-plugin/mailgrants.map
	$(CC) -shared $(LDFLAGS) -Wl,-z,relro -Wl,-z,now \
		-Wl,--version-script=dovecot-plugin/mailgrants.map \
		-o $@ $(DP_OBJS) $(DP_LIB_OBJS) $(DP_LIBS)

ALL_TARGETS += $(DP_SO)

# The module goes to Dovecot's module directory (from dovecot-config,
# whatever PREFIX is); the configuration only to DATADIR as an example:
# a file in conf.d would be live at Dovecot's next start, and it needs
# the site's mail location first (README, "Dovecot").
install-dovecot-plugin: $(DP_SO)
	install -d $(DESTDIR)$(DOVECOT_MODULEDIR) $(DESTDIR)$(DATADIR)/dovecot
	install -m 0644 $(DP_SO) $(DESTDIR)$(DOVECOT_MODULEDIR)/
	install -m 0644 dovecot-plugin/90-mailgrants.conf \
		dovecot-plugin/91-mailgrants-userdb.conf \
		dovecot-plugin/dovecot-mailgrants-sql.conf.ext \
		$(DESTDIR)$(DATADIR)/dovecot/
INSTALL_TARGETS += install-dovecot-plugin
.PHONY: install-dovecot-plugin
