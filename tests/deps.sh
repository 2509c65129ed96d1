#!/bin/sh
# deps.sh - install the Debian packages mailgrants builds and tests with.
# A quick no-op when they are all there; uses sudo when not root.
set -e
PKGS="build-essential pkg-config libldap2-dev libsqlite3-dev libidn2-dev
libunistring-dev libmilter-dev sqlite3 slapd ldap-utils dovecot-core
dovecot-dev dovecot-imapd dovecot-lmtpd dovecot-ldap dovecot-sqlite postfix postfix-sqlite
postfix-ldap swaks isync
python3 python3-pytest clang valgrind time man-db"
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
$SUDO apt-get update -qq
# Services must not start on install: the tests run their own instances.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod 755 /usr/sbin/policy-rc.d
	trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
