#!/bin/sh
# NAME
#	with-settings-module.sh - run a command where Dovecot 2.4 finds the
#	build's settings module, without installing it
# SYNOPSIS
#	tests/with-settings-module.sh module settings-dir command [arg...]
# DESCRIPTION
#	Dovecot 2.4's config process learns a plugin's settings only from
#	the modules in one directory compiled into it (settings-dir,
#	$moduledir/settings); it stops with "Unknown setting" at our
#	snippet otherwise. The tests, the demo and the benchmarks start
#	Dovecots with the plugin from the build tree, which must not
#	mean installing a file into the system's Dovecot.
#
#	When settings-dir already holds a copy of module (installed by
#	make install-dovecot-plugin or the package), command runs as it
#	is. Otherwise command runs in a mount namespace of its own where
#	settings-dir is a tmpfs holding what the system's holds (other
#	packages' modules, e.g. Pigeonhole's) plus module. Nothing outside
#	the namespace sees it; it lives as long as a process runs in the
#	namespace (a demo's Dovecot after make demo returns) and goes with
#	the last one. The copies are staged in a temporary directory that
#	is removed when command ends. Needs root (unshare, mount): the
#	tests run as root anyway.
# EXIT STATUS
#	command's; 2 on usage errors or when the namespace cannot be made.
# SEE ALSO
#	DOVECOT24-NOTES.md §3, dovecot-plugin/module.mk, unshare(1)
set -eu

if [ $# -lt 3 ]; then
	echo "usage: $0 module settings-dir command [arg...]" >&2
	exit 2
fi
MODULE=$1
DIR=$2
shift 2
NAME=$(basename "$MODULE")
if [ ! -f "$MODULE" ]; then
	echo "with-settings-module.sh: $MODULE: not built" >&2
	exit 2
fi
if cmp -s "$MODULE" "$DIR/$NAME"; then
	exec "$@"
fi
if [ ! -d "$DIR" ]; then
	echo "with-settings-module.sh: $DIR: no such directory (is" \
	     "dovecot-core 2.4 installed?)" >&2
	exit 2
fi
if [ "$(id -u)" != 0 ]; then
	echo "with-settings-module.sh: Dovecot 2.4 reads settings modules" \
	     "from $DIR only: run as root (a mount namespace puts" \
	     "$NAME there for this command alone), or install it" \
	     "(make install-dovecot-plugin)" >&2
	exit 2
fi

STAGE=$(mktemp -d /tmp/mailgrants-settings.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
trap 'exit 130' INT TERM HUP
for f in "$DIR"/*.so; do
	[ -e "$f" ] && cp -p "$f" "$STAGE/"
done
cp "$MODULE" "$STAGE/$NAME"
chmod 0644 "$STAGE"/*.so

# unshare makes / private in the namespace first, so the tmpfs never
# propagates back to the system's mount table.
rc=0
unshare --mount --propagation private sh -ec '
	stage=$1 dir=$2
	shift 2
	mount -t tmpfs -o mode=0755,size=16m mailgrants-settings "$dir"
	cp -p "$stage"/*.so "$dir/"
	exec "$@"' sh "$STAGE" "$DIR" "$@" || rc=$?
exit "$rc"
