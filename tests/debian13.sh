#!/bin/sh
# NAME
#	debian13.sh - build and test mailgrants on Debian 13 (Dovecot 2.4,
#	Postfix 3.10, slapd 2.6) in a chroot on a Debian 12 host
# SYNOPSIS
#	tests/debian13.sh [-k] [-d dir] [-m mirror] [-b command]
#	    [pytest arguments...]
#	tests/debian13.sh [-k] [-d dir] [-m mirror] [-b command] -c command
# DESCRIPTION
#	As root: debootstrap trixie into dir (default /srv/trixie-ci) from
#	mirror (default http://deb.debian.org/debian), or reuse a chroot
#	already there; install the packages of tests/deps.sh inside, with
#	a policy-rc.d that keeps their daemons from starting, and the
#	host's /etc/hosts and /etc/resolv.conf; bind-mount dir onto
#	itself, private (its / a mount point, so that a test can make a
#	private mount namespace with unshare(1)), then /proc, /dev
#	and /dev/pts; copy this tree (git ls-files, uncommitted
#	changes included) to /build/mailgrants; make CI=1 and run pytest
#	with the arguments given (default:
#	tests/integration/test_dovecot_plugin.py), or with -c the command
#	given instead (sh -c, in /build/mailgrants, with MAILGRANTS_BUILD
#	set; e.g. -c 'make CI=1 bench-dovecot'); either where Dovecot
#	finds the build's settings module as make check's tests do
#	(tests/with-settings-module.sh: nothing is installed).
#
#	On any exit, failure and signals included: processes still running
#	in the chroot are killed, the mounts are undone, and a chroot this
#	run created is removed (-k keeps it for the next run). Nothing is
#	removed while anything is mounted below dir. The tests talk to
#	loopback only; the chroot shares the host's network namespace.
#
#	-b command runs command first (sh -ec, as root, in the copy, after
#	the packages), before the tree is built and before Dovecot is shown
#	the build's settings module: e.g. -b 'sh tests/check-deb.sh'
#	builds, lints, installs, tests and purges the Debian packages on
#	Debian 13, which must find only the packages' files. The rest
#	follows also when command failed; the exit status is command's
#	when the rest passed.
# EXIT STATUS
#	pytest's (-c: the command's), or that of the step that failed; 2
#	on usage errors.
# SEE ALSO
#	DOVECOT24-NOTES.md §8, tests/deps.sh
set -eu

ROOT=/srv/trixie-ci
MIRROR=http://deb.debian.org/debian
KEEP=0
BEFORE=""
CMD=""
while getopts kd:m:b:c: opt; do
	case $opt in
	b) BEFORE=$OPTARG ;;
	c) CMD=$OPTARG ;;
	k) KEEP=1 ;;
	d) ROOT=$OPTARG ;;
	m) MIRROR=$OPTARG ;;
	*) echo "usage: $0 [-k] [-d dir] [-m mirror] [-b command]" \
		"[pytest args | -c cmd]" >&2
	   exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ -n "$CMD" ] && [ $# -gt 0 ]; then
	echo "debian13.sh: -c and pytest arguments exclude each other" >&2
	exit 2
fi
[ $# -gt 0 ] || set -- tests/integration/test_dovecot_plugin.py
if [ "$(id -u)" != 0 ]; then
	echo "debian13.sh: must run as root (debootstrap, chroot)" >&2
	exit 2
fi
case $ROOT in
/*/*) ;;
*) echo "debian13.sh: $ROOT: give an absolute path below a directory" >&2
   exit 2 ;;
esac
SRC=$(cd "$(dirname "$0")/.." && pwd)
CREATED=0
MOUNTED=""

log() { echo "debian13.sh: $(date -u +%T) $*" >&2; }

# cleanup - kill what runs inside, unmount, remove what we created
cleanup() {
	rc=$?
	trap - EXIT INT TERM HUP
	for p in /proc/[0-9]*; do
		if [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ]; then
			kill -9 "${p#/proc/}" 2>/dev/null || :
		fi
	done
	for m in $MOUNTED; do	# most recent first
		umount "$ROOT/$m" 2>/dev/null || umount -l "$ROOT/$m" || :
	done
	if [ "$CREATED" = 1 ] && [ "$KEEP" = 0 ]; then
		if grep -q " $ROOT[/ ]" /proc/mounts; then
			log "still mounted below $ROOT: not removed"
		else
			rm -rf --one-file-system "$ROOT"
		fi
	fi
	log "exit $rc"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

if [ ! -e "$ROOT/etc/debian_version" ]; then
	if [ -e "$ROOT" ] && [ -n "$(ls -A "$ROOT")" ]; then
		echo "debian13.sh: $ROOT exists and is no chroot" >&2
		exit 2
	fi
	command -v debootstrap >/dev/null ||
		apt-get install -y -qq debootstrap
	log "debootstrap trixie $ROOT"
	CREATED=1
	debootstrap --variant=minbase trixie "$ROOT" "$MIRROR" >/dev/null
fi
# The chroot's / a mount point of its own, so that a mount namespace made
# inside (unshare -m: a test hides a module directory) can make it
# private; private itself: on a host whose / is shared (systemd) the
# mounts below would otherwise propagate to / as well.
mount --bind "$ROOT" "$ROOT"
MOUNTED=.
mount --make-private "$ROOT"
for m in proc dev dev/pts; do
	mount --bind "/$m" "$ROOT/$m"
	MOUNTED="$m $MOUNTED"
done
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# The host's names too: the chroot shares the host's hostname and
# network, and debootstrap's /etc/hosts does not name the host. Without
# it every LDAP client (libldap 2.6 asks for the local host's name at
# its start: ldapsearch, our sync and CLI), and Postfix and Dovecot at
# theirs, sent a DNS query for it to the host's resolver, off loopback,
# and waited for the answer: 0.5 s, or 5 s when a reply was lost, on a
# quarter of the calls here, some 130 ms per ldapsearch on average
# against 5 ms with the name in /etc/hosts.
cp /etc/hosts "$ROOT/etc/hosts"
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"

log "copying $SRC"
rm -rf "$ROOT/build/mailgrants"
mkdir -p "$ROOT/build/mailgrants"
git -C "$SRC" ls-files -co --exclude-standard -z |
	(cd "$SRC" && tar --null -T - -c) | tar -x -C "$ROOT/build/mailgrants"
brc=0
if [ -n "$BEFORE" ]; then
	log "packages, before: $BEFORE"
	chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		sh -ec 'cd /build/mailgrants
			sh tests/deps.sh >/dev/null
			eval "$1"' sh "$BEFORE" || brc=$?
	log "before: exit $brc"
fi

log "packages, build, tests: ${CMD:-$*}"
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	CMD="$CMD" sh -ec 'cd /build/mailgrants
		sh tests/deps.sh >/dev/null
		dovecot --version
		make CI=1 >/dev/null
		export MAILGRANTS_BUILD=$PWD/build
		if [ -n "$CMD" ]; then set -- sh -c "$CMD"
		else set -- python3 -m pytest -q "$@"; fi
		exec sh tests/with-settings-module.sh \
			build/dovecot-plugin/libmailgrants_settings.so \
			/usr/lib/dovecot/modules/settings "$@"' \
	sh "$@"
exit "$brc"
