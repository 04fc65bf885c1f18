#!/bin/sh
# make lint: formatting, static analysis, shell scripts, and the include fences that keep
# each library in its one module (mbedTLS in tls.c, OpenSSL in tls_openssl*.c, libcap in priv.c,
# libev in the loop, libseccomp and Landlock in sandbox.c).
set -u
cd "$(dirname "$0")/.." || exit 2
status=0
fail() { echo "lint: $*" >&2; status=1; }

fence() { # HEADER-PATTERN ALLOWED-FILES...
	pattern=$1
	shift
	# shellcheck disable=SC2013
	for f in $(grep -l -E "#include <$pattern" server/*.c server/*.h); do
		ok=0
		for a in "$@"; do [ "$f" = "server/$a" ] && ok=1; done
		[ $ok -eq 1 ] || fail "$f includes <$pattern...>: only $* may"
	done
}
fence 'mbedtls/' tls.c
fence 'nghttp2/' h2.c
fence 'openssl/' tls_openssl.c tls_openssl_tickets.c tls_openssl_tickets.h
fence 'sys/capability\.h' priv.c
fence 'ev\.h' server.h
fence 'seccomp\.h' sandbox.c
fence 'linux/landlock\.h' sandbox.c

command -v clang-format >/dev/null && for f in server/*.c server/*.h tests/unit/*.c scripts/benchlib/*.c; do
	clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || fail "$f: not clang-formatted (clang-format -i $f)"
done
command -v cppcheck >/dev/null &&
	{ cppcheck -q --error-exitcode=1 --enable=warning,performance,portability --std=c11 \
		-D_GNU_SOURCE --inline-suppr server/ || fail "cppcheck found problems"; }
command -v shellcheck >/dev/null &&
	{ shellcheck scripts/*.sh scripts/bench scripts/benchlib/*.sh scripts/benchlib/peers/*.sh \
		scripts/glibc-needs .ci/run install/dropcap-setcap install/debian/postinst \
		install/debian/prerm install/debian/postrm install/debian/build-deb install/rpm/build-rpm \
		tests/fuzz/run.sh ||
		fail "shellcheck found problems"; }
exit $status
