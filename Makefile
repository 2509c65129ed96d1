# mailgrants - one non-recursive Makefile.
#
#   make            build everything into build/
#   make check      install test dependencies, build, run the unit tests
#                   (plain and ASan/UBSan), the black-box tests against
#                   ASan/UBSan builds and, for the daemons, under
#                   valgrind, then the integration and security tests
#   make demo       install dependencies, build, start the abc.com sandbox
#                   (slapd, sync, Dovecot, Postfix on loopback) and walk
#                   through the story; it keeps running until
#   make demo-stop  stops the sandbox and removes it
#   make bench      benchmarks (figures, never pass/fail timings)
#   make check-thunderbird  Thunderbird under Xvfb against the story
#                   (GUI packages of its own)
#   make check-roundcube  Roundcube's sharing dialog in headless Chromium
#                   (its own packages: roundcube, Apache, chromium)
#   make check-deb  the Debian packages, installed and tested (as root)
#   make install    PREFIX=/usr/local DESTDIR= honoured
#   make deps       Debian build and test dependencies (apt-get)
#
# Five files: this one (flags, the three libraries, install, demo) and
# one module.mk per directory, included below: cli/, postfix-policyd/
# (both daemons), dovecot-plugin/ and tests/ (every check, fuzz, stress,
# bench, mutants and the Debian packages).

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share/mailgrants
SYSCONFDIR ?= /etc
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
DESTDIR ?=

CC ?= cc
B ?= build
OPT ?= -O2 -g
SAN ?=
WERROR ?= $(if $(CI),-Werror,)
WARNINGS = -Wall -Wextra -Wshadow -Wpointer-arith -Wformat=2 \
	-Wmissing-prototypes -Wstrict-prototypes $(WERROR)
PKGS = ldap lber sqlite3 libidn2
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lunistring
# What the core and the Postfix side may link: no LDAP.
CORE_LIBS := $(shell pkg-config --libs sqlite3 libidn2 2>/dev/null) -lunistring
CPPFLAGS += -D_GNU_SOURCE -Ilib
# The headers of the two outer libraries; the core compiles without them.
LAYER_INC = -Ilib-sync -Ilib-postfix
CFLAGS_ALL = -std=gnu11 $(OPT) $(SAN) $(WARNINGS) $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS_ALL = $(SAN) $(LDFLAGS)

PYTHON ?= /usr/bin/python3

.PHONY: all check install clean deps demo demo-stop
.DEFAULT_GOAL := all

# Three libraries, one archive each; an arrow is "may call":
#
#   lib/          the core every front end links, the Dovecot plugin
#                 included: configuration, addresses, reading the
#                 replica, the rights function, policy decisions
#   lib-sync/     the directory side, linked by the CLI only: LDAP
#                 reading, share writing, the RFC 4533 watcher, the
#                 replica writer                          -> lib/
#   lib-postfix/  the Postfix side, linked by the daemons only: the
#                 policy protocol, header parsing, daemon helpers
#                                                         -> lib/
#
# The linker checks it (check-layers, below), not a convention.
LIB_SRCS = $(wildcard lib/*.c)
LIB_OBJS = $(patsubst %.c,$(B)/%.o,$(LIB_SRCS))
LIB_A = $(B)/libmailgrants.a
SYNC_SRCS = $(wildcard lib-sync/*.c)
SYNC_OBJS = $(patsubst %.c,$(B)/%.o,$(SYNC_SRCS))
SYNC_A = $(B)/libmailgrants-sync.a
POSTFIX_SRCS = $(wildcard lib-postfix/*.c)
POSTFIX_OBJS = $(patsubst %.c,$(B)/%.o,$(POSTFIX_SRCS))
POSTFIX_A = $(B)/libmailgrants-postfix.a
# All three, in link order, for the tests and tools that use any part.
ALL_LIBS_A = $(SYNC_A) $(POSTFIX_A) $(LIB_A)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(LAYER_INC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(B)/lib/%.o: LAYER_INC =

$(LIB_A): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(SYNC_A): $(SYNC_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(POSTFIX_A): $(POSTFIX_OBJS)
	@rm -f $@
	ar rcs $@ $^

ALL_TARGETS = $(LIB_A) $(SYNC_A) $(POSTFIX_A)
INSTALL_TARGETS =

# install-unit - install the systemd unit $(1), its paths rewritten to
# the installed ones: the binaries in BINDIR or SBINDIR, the
# configuration in SYSCONFDIR. Each module.mk calls it for its unit.
define install-unit
install -d $(DESTDIR)$(SYSTEMDUNITDIR)
sed -e 's|/usr/bin/mailgrants|$(BINDIR)/mailgrants|' \
	-e 's|/usr/sbin/mailgrants-|$(SBINDIR)/mailgrants-|' \
	-e 's|/etc/mailgrants/|$(SYSCONFDIR)/mailgrants/|' \
	$(1) >$(DESTDIR)$(SYSTEMDUNITDIR)/$(notdir $(1))
chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$(notdir $(1))
endef

include cli/module.mk
include postfix-policyd/module.mk
include dovecot-plugin/module.mk
include tests/module.mk

all: $(ALL_TARGETS)

deps:
	@sh tests/deps.sh

# The unit, sanitizer and integration targets are tests/module.mk's.
check: deps
	$(MAKE) all
	$(MAKE) check-unit
	$(MAKE) check-asan
	$(MAKE) check-valgrind
	$(MAKE) check-integration

# check-layers - the layering above, proved by the linker: each library
# linked whole (every object, used or not) into a program with only the
# libraries it may call must leave no symbol undefined. A call from the
# core into lib-sync/ or lib-postfix/, or between those two, fails here.
# The front ends link only what they may call, so they fail at their
# own link; cli/ and dovecot-plugin/ add their own checks.
LAYERS_B = $(B)/layers
LAYERS_LINK = $(CC) $(LDFLAGS_ALL) -o $@ $(LAYERS_B)/main.c -Wl,--whole-archive

.PHONY: check-layers
check-layers: $(LAYERS_B)/core $(LAYERS_B)/sync $(LAYERS_B)/postfix

$(LAYERS_B)/main.c:
	@mkdir -p $(dir $@)
	echo 'int main(void) { return 0; }' >$@

$(LAYERS_B)/core: $(LAYERS_B)/main.c $(LIB_A)
	$(LAYERS_LINK) $(LIB_A) -Wl,--no-whole-archive $(CORE_LIBS)

$(LAYERS_B)/sync: $(LAYERS_B)/main.c $(SYNC_A) $(LIB_A)
	$(LAYERS_LINK) $(SYNC_A) -Wl,--no-whole-archive $(LIB_A) $(PKG_LIBS)

$(LAYERS_B)/postfix: $(LAYERS_B)/main.c $(POSTFIX_A) $(LIB_A)
	$(LAYERS_LINK) $(POSTFIX_A) -Wl,--no-whole-archive $(LIB_A) \
		$(CORE_LIBS)

install: all $(INSTALL_TARGETS)
	install -d $(DESTDIR)$(DATADIR)/schema $(DESTDIR)$(DATADIR)/examples
	install -m 0644 ldap-schema/*.schema ldap-schema/*.ldif \
		$(DESTDIR)$(DATADIR)/schema/
	install -m 0644 ldap-schema/examples/*.ldif \
		$(DESTDIR)$(DATADIR)/examples/

# The abc.com story on sandbox servers on loopback (demo/demo.py); they
# keep running (in $MAILGRANTS_DEMO_DIR, default /tmp/mailgrants-demo)
# until make demo-stop. DEMO_FLAGS=--ci leaves out the mail client part.
demo: deps
	$(MAKE) all
	MAILGRANTS_BUILD=$(abspath $(B)) $(WITH_DOVECOT_SETTINGS) \
		$(PYTHON) demo/demo.py $(DEMO_FLAGS)

demo-stop:
	@MAILGRANTS_BUILD=$(abspath $(B)) $(PYTHON) demo/demo.py --stop

clean:
	rm -rf build build-asan build-fuzz

# The compiler's header dependencies (-MMD): none before the first build.
-include $(shell find $(B) -name '*.d' 2>/dev/null)
