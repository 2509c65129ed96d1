# dovecot-plugin/ - lib20_mailgrants_plugin.so and
# lib21_imap_mailgrants_plugin.so for Dovecot 2.3 and 2.4
# (and libmailgrants_settings.so for 2.4).
#
# Flags come from Dovecot's dovecot-config (include dir, moduledir);
# our own warnings apply. It links the core, lib/, and nothing else:
# the plugin reads the replica, it never talks LDAP or Postfix. The
# core is compiled again with -fPIC into an archive of its own (the
# other is not PIC); check-layers proves the .so needs nothing more.
# No sanitizers here: a dlopen()ed module cannot bring its own ASan
# runtime into Dovecot's processes. The IMAP part is a plugin of its
# own (as imap_acl is to acl): one object, nothing of the core, and
# only the functions mailgrants.map exports from the first.

DOVECOT_CONFIG ?= /usr/lib/dovecot/dovecot-config
DOVECOT_INCLUDE := $(shell . $(DOVECOT_CONFIG) 2>/dev/null && \
	echo $$LIBDOVECOT_INCLUDE)
DOVECOT_MODULEDIR := $(shell . $(DOVECOT_CONFIG) 2>/dev/null && \
	echo $$dovecot_moduledir)

DP_SO = $(B)/dovecot-plugin/lib20_mailgrants_plugin.so
DP_SRCS = dovecot-plugin/mailgrants-plugin.c dovecot-plugin/mailgrants-list.c \
	dovecot-plugin/mailgrants-acl.c dovecot-plugin/mailgrants-mailbox.c \
	dovecot-plugin/mailgrants-subs.c dovecot-plugin/mailgrants-settings.c \
	dovecot-plugin/mailgrants-sent.c
DP_OBJS = $(patsubst dovecot-plugin/%.c,$(B)/dovecot-plugin/%.o,$(DP_SRCS))
DP_LIB_OBJS = $(patsubst lib/%.c,$(B)/dovecot-plugin/lib/%.o,$(LIB_SRCS))
DP_LIB_A = $(B)/dovecot-plugin/libmailgrants-pic.a
DP_CFLAGS = -std=gnu11 $(OPT) -fPIC -fno-strict-aliasing $(WARNINGS) \
	$(CFLAGS)
# Dovecot's headers as system headers: our warnings are for our code
# (clang 19 finds a duplicate const in 2.4's mailbox-list-private.h).
DP_CPPFLAGS = -D_GNU_SOURCE -DHAVE_CONFIG_H \
	$(patsubst -I%,-isystem %,$(DOVECOT_INCLUDE)) -Ilib -Idovecot-plugin
DP_LIBS = $(CORE_LIBS)

$(B)/dovecot-plugin/%.o: dovecot-plugin/%.c
	@mkdir -p $(dir $@)
	$(CC) $(DP_CPPFLAGS) $(DP_CFLAGS) -MMD -MP -c -o $@ $<

# Without $(SAN), as the plugin's own objects (see above).
$(B)/dovecot-plugin/lib/%.o: lib/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=gnu11 $(OPT) $(WARNINGS) $(PKG_CFLAGS) $(CFLAGS) \
		-fPIC -fvisibility=hidden -MMD -MP -c -o $@ $<

$(DP_LIB_A): $(DP_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(DP_SO): $(DP_OBJS) $(DP_LIB_A) dovecot-plugin/mailgrants.map
	$(CC) -shared $(LDFLAGS) -Wl,-z,relro -Wl,-z,now \
		-Wl,--version-script=dovecot-plugin/mailgrants.map \
		-o $@ $(DP_OBJS) $(DP_LIB_A) $(DP_LIBS)

DPI_SO = $(B)/dovecot-plugin/lib21_imap_mailgrants_plugin.so
DPI_OBJS = $(B)/dovecot-plugin/mailgrants-imap.o

$(DPI_SO): $(DPI_OBJS) dovecot-plugin/imap-mailgrants.map
	$(CC) -shared $(LDFLAGS) -Wl,-z,relro -Wl,-z,now \
		-Wl,--version-script=dovecot-plugin/imap-mailgrants.map \
		-o $@ $(DPI_OBJS)

# Sent copies (README "Sent copies"): Dovecot's deliver_mail hook, in
# lib-lda, which only the lmtp and lda processes have; 95 loads it after
# Pigeonhole's lib90_sieve. Nothing of the core.
DPL_SO = $(B)/dovecot-plugin/lib95_lmtp_mailgrants_plugin.so
DPL_OBJS = $(B)/dovecot-plugin/mailgrants-lmtp.o

$(DPL_SO): $(DPL_OBJS) dovecot-plugin/lmtp-mailgrants.map
	$(CC) -shared $(LDFLAGS) -Wl,-z,relro -Wl,-z,now \
		-Wl,--version-script=dovecot-plugin/lmtp-mailgrants.map \
		-o $@ $(DPL_OBJS)

ALL_TARGETS += $(DP_SO) $(DPI_SO) $(DPL_SO)

# Dovecot 2.4's config process learns our keys from this module in
# $(DOVECOT_MODULEDIR)/settings/ (DOVECOT24-NOTES.md §3): the settings
# alone, nothing it could not resolve when it dlopen()s it. 2.3 has
# plugin { } and needs none.
DOVECOT_ABI24 := $(shell grep -qs 'DOVECOT_ABI_VERSION "2\.[4-9]' \
	$(patsubst -I%,%,$(firstword $(DOVECOT_INCLUDE)))/config.h && echo 1)
DPS_SO = $(B)/dovecot-plugin/libmailgrants_settings.so
ifeq ($(DOVECOT_ABI24),1)
$(DPS_SO): $(B)/dovecot-plugin/mailgrants-settings.o
	$(CC) -shared $(LDFLAGS) -Wl,-z,relro -Wl,-z,now -o $@ $^
ALL_TARGETS += $(DPS_SO)
DPS_INSTALL = $(DPS_SO)
endif

# What starts a Dovecot with the plugin from the build tree (the tests,
# make demo, the Dovecot benchmarks) runs behind this prefix: on 2.4, in
# a mount namespace where the config process finds our settings module
# without it being installed (tests/with-settings-module.sh); on 2.3,
# as it is.
WITH_DOVECOT_SETTINGS = $(if $(DPS_INSTALL),sh tests/with-settings-module.sh \
	$(DPS_SO) $(DOVECOT_MODULEDIR)/settings)

# The plugin's part of check-layers: the same objects linked again with
# --no-undefined against the core and what Dovecot provides at load time
# (its libraries and the acl plugin) and nothing else. A call from the
# plugin into lib-sync/ or lib-postfix/ is an undefined symbol here;
# the .so itself would only fail when Dovecot loads it.
DOVECOT_LIBS := $(shell . $(DOVECOT_CONFIG) 2>/dev/null && \
	echo $$LIBDOVECOT_STORAGE $$LIBDOVECOT)
DP_ACL_SO = $(DOVECOT_MODULEDIR)/lib01_acl_plugin.so

$(B)/layers/plugin.so: $(DP_OBJS) $(DP_LIB_A) dovecot-plugin/mailgrants.map
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -Wl,--no-undefined \
		-Wl,--version-script=dovecot-plugin/mailgrants.map \
		-o $@ $(DP_OBJS) $(DP_LIB_A) $(DP_LIBS) $(DOVECOT_LIBS) \
		$(DP_ACL_SO)

# imap_mailgrants: the same against Dovecot, acl and the mailgrants
# plugin (of which only mailgrants.map's functions are visible). ld
# takes no executable as input: what the imap binary exports is given
# as absolute symbols. A call into the core is undefined here.
DOVECOT_IMAP := $(shell . $(DOVECOT_CONFIG) 2>/dev/null && \
	echo $$dovecot_pkglibexecdir)/imap

$(B)/layers/imap-plugin.so: $(DPI_OBJS) $(DP_SO) \
		dovecot-plugin/imap-mailgrants.map
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -Wl,--no-undefined \
		-Wl,--version-script=dovecot-plugin/imap-mailgrants.map \
		$$(nm -D --defined-only $(DOVECOT_IMAP) | awk '$$2 ~ \
		/^[TDBR]$$/ && $$3 !~ /@/ { printf " -Wl,--defsym=%s=0", $$3 }') \
		-o $@ $(DPI_OBJS) $(DOVECOT_LIBS) $(DP_ACL_SO) $(DP_SO)

check-layers: $(B)/layers/plugin.so $(B)/layers/imap-plugin.so

# The module goes to Dovecot's module directory (from dovecot-config,
# whatever PREFIX is); the configuration only to DATADIR as an example:
# a file in conf.d would be live at Dovecot's next start, and it needs
# the site's mail location first (README, "Dovecot").
install-dovecot-plugin: $(DP_SO) $(DPI_SO) $(DPL_SO) $(DPS_INSTALL)
	install -d $(DESTDIR)$(DOVECOT_MODULEDIR) $(DESTDIR)$(DATADIR)/dovecot
	install -m 0644 $(DP_SO) $(DPI_SO) $(DPL_SO) \
		$(DESTDIR)$(DOVECOT_MODULEDIR)/
	$(if $(DPS_INSTALL),install -d $(DESTDIR)$(DOVECOT_MODULEDIR)/settings)
	$(if $(DPS_INSTALL),install -m 0644 $(DPS_INSTALL) \
		$(DESTDIR)$(DOVECOT_MODULEDIR)/settings/)
	install -m 0644 dovecot-plugin/90-mailgrants.conf \
		dovecot-plugin/91-mailgrants-userdb.conf \
		dovecot-plugin/90-mailgrants-2.4.conf \
		dovecot-plugin/91-mailgrants-userdb-2.4.conf \
		dovecot-plugin/dovecot-mailgrants-sql.conf.ext \
		$(DESTDIR)$(DATADIR)/dovecot/
INSTALL_TARGETS += install-dovecot-plugin
.PHONY: install-dovecot-plugin
