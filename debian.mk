# debian.mk - the Debian packages (debian/), included by the Makefile.
#
#   make deb        build mailgrants, postfix-mailgrants and
#                   dovecot-mailgrants with dpkg-buildpackage in a copy
#                   of the tree, lint them; the .debs go to build-deb/
#   make check-deb  the same, then apt-get install them, run the
#                   integration tests against the installed files and
#                   purge them again (tests/check-deb.sh); as root
#
# Both install their own build dependencies (debhelper, lintian, ...);
# "make check" does not need them.

.PHONY: deb check-deb

deb:
	PYTHON=$(PYTHON) sh tests/check-deb.sh --build-only

check-deb:
	PYTHON=$(PYTHON) sh tests/check-deb.sh
