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
#                   (thunderbird.mk; GUI packages of its own)
#   make install    PREFIX=/usr/local DESTDIR= honoured
#   make deps       Debian build and test dependencies (apt-get)
#
# Each component adds its targets in its own module.mk, included below.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share/mailgrants
SYSCONFDIR ?= /etc
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
CPPFLAGS += -D_GNU_SOURCE -Ilib
CFLAGS_ALL = -std=gnu11 $(OPT) $(SAN) $(WARNINGS) $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS_ALL = $(SAN) $(LDFLAGS)

PYTHON ?= /usr/bin/python3

.PHONY: all check check-unit check-asan check-integration bench install \
	clean deps demo demo-stop fuzz
.DEFAULT_GOAL := all

# Objects of lib/, the core every front end links.
LIB_SRCS = $(wildcard lib/*.c)
LIB_OBJS = $(patsubst %.c,$(B)/%.o,$(LIB_SRCS))
LIB_A = $(B)/libmailgrants.a

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(LIB_A): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

ALL_TARGETS = $(LIB_A)
UNIT_TESTS =
INSTALL_TARGETS =

include cli/module.mk
include tests/module.mk
-include postfix-policyd/module.mk
-include postfix-policyd/milter.mk
-include dovecot-plugin/module.mk
-include fuzz.mk
include tests/bench/module.mk
-include tests/bench/policy.mk
-include tests/bench/dovecot.mk
-include debian.mk
-include sanitize.mk
-include stress.mk
-include thunderbird.mk
-include tests/mutation/module.mk

all: $(ALL_TARGETS)

deps:
	@sh tests/deps.sh

check: deps
	$(MAKE) all
	$(MAKE) check-unit
	$(MAKE) check-asan
	$(MAKE) check-valgrind
	$(MAKE) check-integration

check-unit: $(UNIT_TESTS)
	@sh tests/run-unit.sh $(UNIT_TESTS)

# The same unit tests, built apart with AddressSanitizer and UBSan; any
# report fails the run.
check-asan:
	$(MAKE) B=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" \
		check-unit

check-integration: all
	MAILGRANTS_BUILD=$(CURDIR)/$(B) $(PYTHON) -m pytest -q tests/integration tests/security \
		tests/mutation

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
	MAILGRANTS_BUILD=$(abspath $(B)) $(PYTHON) demo/demo.py $(DEMO_FLAGS)

demo-stop:
	@MAILGRANTS_BUILD=$(abspath $(B)) $(PYTHON) demo/demo.py --stop

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(B) -name '*.d' 2>/dev/null)
