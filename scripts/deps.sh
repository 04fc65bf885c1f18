#!/bin/sh
# Installs the Debian 12 packages dropcap needs, only those missing.
#   scripts/deps.sh build   compiler and libraries (libssl-dev: make TLS=openssl)
#   scripts/deps.sh test    build + what the test suites use
set -eu

build="gcc make libc6-dev libev-dev libmbedtls-dev libssl-dev libnghttp2-dev libcap-dev libseccomp-dev libinih-dev libcap2-bin openssl"
test="$build libcmocka-dev python3 python3-pytest python3-seccomp curl util-linux iproute2 systemd
      passwd shellcheck clang-format cppcheck dpkg-dev rpm ansible ruby man-db
      debootstrap systemd-container slowhttptest testssl.sh goaccess"
test="$test faketime" # tests/blackbox/test_ticket_keys.py: a server 13 hours ahead

case "${1:-build}" in
build) want=$build ;;
test) want=$test ;;
*) echo "usage: $0 build|test" >&2; exit 2 ;;
esac

missing=
for p in $want; do
	dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	sudo=
elif command -v sudo >/dev/null 2>&1; then
	sudo=sudo
else
	echo "deps: missing packages:$missing; install them as root: apt-get install$missing" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1 || {
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}
