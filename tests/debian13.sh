#!/bin/sh
# NAME
#	debian13.sh - build and test mailgrants on Debian 13 (Dovecot 2.4,
#	Postfix 3.10, slapd 2.6) in a chroot on a Debian 12 host
# SYNOPSIS
#	tests/debian13.sh [-k] [-d dir] [-m mirror] [pytest arguments...]
# DESCRIPTION
#	As root: debootstrap trixie into dir (default /srv/trixie-ci) from
#	mirror (default http://deb.debian.org/debian), or reuse a chroot
#	already there; install the packages of tests/deps.sh inside, with
#	a policy-rc.d that keeps their daemons from starting; bind-mount
#	dir onto itself (its / a mount point, so that a test can make a
#	private mount namespace with unshare(1)), then /proc, /dev and
#	/dev/pts; copy this tree (git ls-files, uncommitted
#	changes included) to /build/mailgrants; make CI=1, install the
#	Dovecot plugin inside (2.4's settings module must sit in the
#	module directory), and run pytest with the arguments given
#	(default: tests/integration/test_dovecot_plugin.py).
#
#	On any exit, failure and signals included: processes still running
#	in the chroot are killed, the mounts are undone, and a chroot this
#	run created is removed (-k keeps it for the next run). Nothing is
#	removed while anything is mounted below dir. The tests talk to
#	loopback only; the chroot shares the host's network namespace.
# EXIT STATUS
#	pytest's, or that of the step that failed; 2 on usage errors.
# SEE ALSO
#	DOVECOT24-NOTES.md §8, tests/deps.sh
set -eu

ROOT=/srv/trixie-ci
MIRROR=http://deb.debian.org/debian
KEEP=0
while getopts kd:m: opt; do
	case $opt in
	k) KEEP=1 ;;
	d) ROOT=$OPTARG ;;
	m) MIRROR=$OPTARG ;;
	*) echo "usage: $0 [-k] [-d dir] [-m mirror] [pytest args]" >&2
	   exit 2 ;;
	esac
done
shift $((OPTIND - 1))
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
# Private: on a host whose / is shared (systemd) the mounts below would
# otherwise propagate to / as well.
mount --bind "$ROOT" "$ROOT"
MOUNTED=.
mount --make-private "$ROOT"
for m in proc dev dev/pts; do
	mount --bind "/$m" "$ROOT/$m"
	MOUNTED="$m $MOUNTED"
done
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"

log "copying $SRC"
rm -rf "$ROOT/build/mailgrants"
mkdir -p "$ROOT/build/mailgrants"
git -C "$SRC" ls-files -co --exclude-standard -z |
	(cd "$SRC" && tar --null -T - -c) | tar -x -C "$ROOT/build/mailgrants"

log "packages, build, tests: $*"
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	sh -ec 'cd /build/mailgrants
		sh tests/deps.sh >/dev/null
		dovecot --version
		make CI=1 >/dev/null
		make CI=1 install-dovecot-plugin PREFIX=/usr >/dev/null
		MAILGRANTS_BUILD=$PWD/build python3 -m pytest -q "$@"' \
	sh "$@"
