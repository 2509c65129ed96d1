#!/bin/sh
# check-deb.sh - build the Debian packages, lint them, install them and
# run the tests of installed files against them (step 6); purge them at
# the end, also when something failed.
#
#   sh tests/check-deb.sh [--build-only]
#
# Run from the top of the tree, as root (or with sudo), on Debian 12 or
# 13 (make check-debian13 runs it in its chroot). Files of the packages
# that are on this machine already (a "make install PREFIX=/usr") stop
# the run before the install: they would stand in for the packages' own.
# The packages are built with "dpkg-buildpackage -us -uc -b" in a copy
# of the tree (git's tracked and untracked files, ignored ones left
# out), so the tree stays clean; the .debs are copied to $DEB_OUT
# (default build-deb/). Lintian errors fail the run, warnings are shown.
# Services are never started: a temporary /usr/sbin/policy-rc.d says no
# while the packages are installed (unless one is there already), and
# the packages enable and start nothing anyway (debian/README.Debian).
# The tests run with MAILGRANTS_BUILD pointing at a directory of links
# to the installed binaries and plugin, and MAILGRANTS_INSTALLED=deb.
set -eu

PYTHON=${PYTHON:-/usr/bin/python3}
DEB_OUT=${DEB_OUT:-build-deb}
PKGS="mailgrants postfix-mailgrants dovecot-mailgrants"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
REPO=$(pwd)
[ -f "$REPO/debian/control" ] || { echo "run from the top of the tree" >&2; exit 1; }

TMP=$(mktemp -d /tmp/mailgrants-deb.XXXXXX)
installed=no
own_policy=no

cleanup() {
	status=$?
	if [ "$installed" = yes ]; then
		echo "check-deb: purging $PKGS"
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get purge -y -qq \
			$PKGS >"$TMP/purge.log" 2>&1 ||
			{ cat "$TMP/purge.log" >&2; status=1; }
	fi
	[ "$own_policy" = yes ] && $SUDO rm -f /usr/sbin/policy-rc.d
	rm -rf "$TMP"
	exit $status
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

step() { echo "check-deb: $*"; }
elapsed() { echo "($(($(date +%s) - start)) s)"; }
start=$(date +%s)

# 1. What the build and the tests need (a quick no-op when it is all
# there).
[ "${1:-}" = --build-only ] || sh tests/deps.sh
sh tests/deps.sh --deb

# 2. A copy of the tree: tracked and untracked files, not ignored ones.
step "copying the tree to $TMP/src"
mkdir "$TMP/src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"
			done' sh |
		tar --null -T - -cf - | tar -C "$TMP/src" -xf -
else
	# Not a git checkout (an unpacked tarball): all but build output.
	tar --exclude=./.git --exclude='./build*' --exclude=./.pytest_cache \
		--exclude=__pycache__ -cf - . | tar -C "$TMP/src" -xf -
fi

# 3. Build. The log is shown only when the build fails.
step "dpkg-buildpackage -us -uc -b"
if ! (cd "$TMP/src" && dpkg-buildpackage -us -uc -b) >"$TMP/build.log" 2>&1
then
	tail -60 "$TMP/build.log" >&2
	echo "check-deb: build failed (log above)" >&2
	exit 1
fi
grep -i "warning:" "$TMP/build.log" | grep -v -e "^cc " \
	-e "running with root" || true
step "built $(elapsed)"
mkdir -p "$DEB_OUT"
rm -f "$DEB_OUT"/*.deb "$DEB_OUT"/*.changes "$DEB_OUT"/*.buildinfo
cp "$TMP"/*.deb "$TMP"/*.changes "$TMP"/*.buildinfo "$DEB_OUT"/
ls -l "$DEB_OUT"/*.deb

# 4. Lintian: errors fail, warnings and the rest are shown.
step "lintian"
lint=0
lintian --fail-on error --pedantic "$TMP"/*.changes >"$TMP/lintian.log" 2>&1 ||
	lint=$?
grep -v "running with root privileges" "$TMP/lintian.log" || true
if [ "$lint" != 0 ]; then
	echo "check-deb: lintian reports errors" >&2
	exit 1
fi
[ "${1:-}" = --build-only ] && exit 0

# 5. Install, as a user would: apt-get install ./*.deb.
for p in $PKGS; do
	if dpkg-query -W -f '${Status}' "$p" 2>/dev/null |
	    grep -q "ok installed"; then
		echo "check-deb: $p is installed already; not touching it" >&2
		exit 1
	fi
done
stale=$(for deb in "$TMP"/*.deb; do
	dpkg-deb --fsys-tarfile "$deb" | tar -tf - | sed -n 's|^\./|/|p'
done | while read -r f; do
	[ -d "$f" ] || { [ ! -e "$f" ] && [ ! -L "$f" ]; } || echo "$f"
done)
if [ -n "$stale" ]; then
	echo "check-deb: files of the packages are here already (make" \
		"install?); remove them first:" $stale >&2
	exit 1
fi
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d \
		>/dev/null
	$SUDO chmod 755 /usr/sbin/policy-rc.d
	own_policy=yes
fi
step "apt-get install"
installed=yes
v=$(dpkg-parsechangelog -l debian/changelog -S Version)
a=$(dpkg --print-architecture)
(cd "$TMP" && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
	--no-install-recommends "./mailgrants_${v}_$a.deb" \
	"./postfix-mailgrants_${v}_$a.deb" "./dovecot-mailgrants_${v}_$a.deb") \
	>"$TMP/install.log" 2>&1 || { cat "$TMP/install.log" >&2; exit 1; }
step "installed $(elapsed)"

# 6. The integration tests against the installed files.
bin="$TMP/installed"
mkdir -p "$bin/dovecot-plugin"
moddir=$(. /usr/lib/dovecot/dovecot-config && echo "$dovecot_moduledir")
ln -s /usr/bin/mailgrants "$bin/mailgrants"
ln -s /usr/sbin/mailgrants-policyd "$bin/mailgrants-policyd"
ln -s /usr/sbin/mailgrants-milter "$bin/mailgrants-milter"
for so in lib20_mailgrants_plugin.so lib21_imap_mailgrants_plugin.so \
	lib95_lmtp_mailgrants_plugin.so; do
	ln -s "$moddir/$so" "$bin/dovecot-plugin/$so"
done
chmod 755 "$TMP"
# Not the whole suite again: make check ran it on the same sources (under
# ASan/UBSan and valgrind too). What differs here is what the packages
# add: the installed paths, the maintainer scripts, the users and the
# units, and binaries built with Debian's flags (hardening=+all) and
# loaded from where Debian puts them. So: the packages themselves
# (test_install: files, users, permissions, units, the identities at
# work; test_docs: the installed pages render), and each installed
# program once end to end against real servers: the CLI and both
# daemons with Postfix and Dovecot (test_doctor), the policy daemon
# under Postfix (test_postfix_e2e), the socketmap and the plugin on
# delivery (test_delivery), the milter's verdicts and its temporary
# failures under Postfix, and the plugin's core in Dovecot (namespaces,
# LIST, rights, ACL commands, LMTP, enforcement, revocation in a
# session, subscriptions, a broken replica), and sharing from a client
# (the plugin's SETACL and DELETEACL through the share service, and
# slapd down; the service's unit in test_install). test_demo.py cannot
# run here: it tests "make demo", which builds the tree into
# MAILGRANTS_BUILD (replacing these links). test_install.py checks at
# the end that the links still lead to the installed files.
T=tests/integration
DEB_TESTS="$T/test_install.py $T/test_docs.py $T/test_doctor.py
$T/test_postfix_e2e.py $T/test_delivery.py"
for t in sandra_from_peter_rejected sandra_from_company_mailbox_accepted \
    sender_header_of_peter_rejected milter_down_tempfails \
    replica_missing_tempfails; do
	DEB_TESTS="$DEB_TESTS $T/test_milter.py::test_$t"
done
for t in namespace_announces_the_roots list_shows_exactly_the_grants \
    myrights_and_getacl_report_the_core_rights \
    setacl_and_deleteacl_refused lmtp_lands_in_company_and_shared \
    company_mailbox_rights_enforced new_and_revoked_share_in_open_sessions \
    granted_mailboxes_are_subscribed broken_replica_keeps_own_mailbox; do
	DEB_TESTS="$DEB_TESTS $T/test_dovecot_plugin.py::test_$t"
done
for t in owner_shares_and_unshares_her_inbox \
    slapd_down_is_temporary_and_writes_nothing; do
	DEB_TESTS="$DEB_TESTS $T/test_imap_share.py::test_$t"
done
# Two workers, each taking whole files, as check-integration does (the
# files share no state; only test_install.py uses /var/lib/mailgrants):
# 39 s instead of 65 s in the Debian 13 chroot (66 s at load 3).
step "tests of the installed packages"
MAILGRANTS_BUILD="$bin" MAILGRANTS_INSTALLED=deb \
	"$PYTHON" -m pytest -q -p no:cacheprovider -n 2 --dist loadfile \
	$DEB_TESTS
step "passed $(elapsed)"
