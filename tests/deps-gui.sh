#!/bin/sh
# deps-gui.sh - install the Debian packages the Thunderbird tests need
# (tests/gui, `make check-thunderbird`) on top of tests/deps.sh: Debian's
# thunderbird, an X server without a screen, the lightest window manager
# Debian 12 has (matchbox: four packages where openbox pulls in twenty),
# xdotool to list windows and ImageMagick's `import` for screenshots.
# Kept apart from deps.sh so that `make check` never needs a GUI.
# A quick no-op when they are all there; uses sudo when not root.
set -e
PKGS="thunderbird xvfb xauth matchbox-window-manager xdotool imagemagick
x11-utils fonts-dejavu-core"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null |
	    grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
echo "deps-gui: installing$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
# Recommends would bring a desktop's worth of packages; the tests need none.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
	--no-install-recommends $missing
