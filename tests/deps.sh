#!/bin/sh
# deps.sh - install the Debian packages mailgrants builds and tests with.
#
#   sh tests/deps.sh         building and testing (make deps, make check)
#   sh tests/deps.sh --gui   the Thunderbird tests on top (tests/gui, make
#                            check-thunderbird): Debian's thunderbird, an
#                            X server without a screen, the lightest
#                            window manager Debian 12 has (matchbox: four
#                            packages where openbox pulls in twenty),
#                            xdotool to list windows and ImageMagick's
#                            `import` for screenshots; apart, so that
#                            make check never needs a GUI
#   sh tests/deps.sh --roundcube   the Roundcube test (tests/roundcube,
#                            make check-roundcube): Debian's roundcube
#                            with its plugins and SQLite, served by
#                            Apache's binary with mod_php (apache2-bin, no
#                            system site: the test runs its own with a
#                            config of its own), headless chromium,
#                            chromedriver and python3-selenium
#   sh tests/deps.sh --deb   building the Debian packages (make deb,
#                            check-deb): debian/control's Build-Depends,
#                            the tools, and systemd-analyze (the installed
#                            units are checked with it); systemd.pc (the
#                            units' directory) is systemd's on Debian 12,
#                            systemd-dev's from 13 on
#
# A quick no-op when they are all there; uses sudo when not root.
set -e
case "${1:-}" in
"")
	PKGS="build-essential pkg-config libldap2-dev libsqlite3-dev libidn2-dev
libunistring-dev libmilter-dev sqlite3 slapd ldap-utils dovecot-core
dovecot-dev dovecot-imapd dovecot-lmtpd dovecot-ldap dovecot-sqlite postfix postfix-sqlite
postfix-ldap swaks isync
python3 python3-pytest python3-pytest-xdist clang valgrind time man-db git"
	;;
--gui)
	PKGS="thunderbird xvfb xauth matchbox-window-manager xdotool imagemagick
x11-utils fonts-dejavu-core"
	;;
--roundcube)
	PKGS="roundcube-core roundcube-plugins roundcube-sqlite3 apache2-bin
libapache2-mod-php chromium chromium-driver python3-selenium"
	;;
--deb)
	PKGS="build-essential dpkg-dev debhelper fakeroot lintian systemd
pkg-config libldap2-dev libsqlite3-dev libidn2-dev libunistring-dev
libmilter-dev dovecot-dev"
	. /etc/os-release
	[ "${VERSION_ID:-}" = 12 ] || PKGS="$PKGS systemd-dev"
	;;
*)
	echo "usage: sh tests/deps.sh [--gui | --roundcube | --deb]" >&2
	exit 2
	;;
esac
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null |
	    grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
# Postfix asks debconf unless told; the tests configure their own instance.
echo "postfix postfix/main_mailer_type select No configuration" |
	$SUDO debconf-set-selections
# Roundcube's dbconfig-common would set up a database of its own; the
# test initialises its own SQLite database from Roundcube's SQL.
echo "roundcube-core roundcube/dbconfig-install boolean false" |
	$SUDO debconf-set-selections
$SUDO apt-get update -qq
# Services must not start on install: the tests run their own instances.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod 755 /usr/sbin/policy-rc.d
	trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
# Recommends would bring a desktop's worth of packages with the GUI; the
# tests need none.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
	$([ "${1:-}" = "" ] || echo --no-install-recommends) $missing
