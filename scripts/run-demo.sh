#!/bin/sh
# make run: a demo site with a self-signed certificate, served on https://localhost/ and
# http://localhost/ the way dropcap is meant to run: an unprivileged user, ports 443 and 80
# through the file capability, every privilege dropped once listening.
#   As root: the binary is installed into a root-owned demo directory with install/dropcap-setcap
#   (which applies cap_net_bind_service,cap_setpcap=p), and run as user "dropcap" if it exists,
#   else "nobody".
#   As another user: the same through sudo, and run as you; without sudo, ports 8443 and 8080.
# Environment: DEMO_HTTPS, DEMO_HTTP (listeners), DEMO_USER (run as), DEMO_DIR (instead of a
# new /tmp/dropcap-demo.XXXXXX), DEMO_BIN (the binary to install: make run TLS=openssl gives
# build/openssl/dropcap; default build/dropcap).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${DEMO_BIN:-$top/build/dropcap}

if [ "$(id -u)" -eq 0 ]; then
	sudo=
	user=${DEMO_USER:-$(id -u dropcap >/dev/null 2>&1 && echo dropcap || echo nobody)}
elif command -v sudo >/dev/null 2>&1; then
	sudo=sudo
	user=$(id -un)
else
	sudo=none
	user=$(id -un)
fi
https=${DEMO_HTTPS:-:443}
http=${DEMO_HTTP:-:80}
if [ "$sudo" = none ]; then
	https=${DEMO_HTTPS:-:8443}
	http=${DEMO_HTTP:-:8080}
	echo "run-demo: not root and no sudo: serving on $https and $http instead of 443 and 80" >&2
fi

run() { if [ -n "$sudo" ] && [ "$sudo" != none ]; then "$sudo" "$@"; else "$@"; fi; }
# A fresh root-owned directory every user can enter: the unprivileged server reads from it.
if [ -n "${DEMO_DIR:-}" ]; then
	demo=$DEMO_DIR
	run mkdir -p "$demo"
else
	demo=$(run mktemp -d /tmp/dropcap-demo.XXXXXX)
fi
run chmod 755 "$demo"
run mkdir -p "$demo/site/docs" "$demo/site/.well-known" "$demo/tls"
run sh -c "cat > '$demo/site/index.html'" <<'HTML'
<!DOCTYPE html>
<html lang="en">
<meta charset="utf-8">
<title>dropcap demo</title>
<link rel="stylesheet" href="/style.css">
<h1>It works.</h1>
<p>This page came from <b>dropcap</b>: listening on 443 and 80 as an ordinary user, with every
privilege dropped. Its stderr shows the proof line.</p>
<p><a href="/docs/">docs/</a> · <a href="/.well-known/security.txt">security.txt</a></p>
HTML
run sh -c "printf 'body { font: 16px/1.5 system-ui, sans-serif; max-width: 40em; margin: 3em auto; }\n' > '$demo/site/style.css'"
run sh -c "printf '<!DOCTYPE html><title>docs</title><h1>docs/index.html</h1>\n' > '$demo/site/docs/index.html'"
run sh -c "printf 'Contact: mailto:security@example.invalid\n' > '$demo/site/.well-known/security.txt'"
run sh -c "gzip -9 -k '$demo/site/index.html'"
run openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj /CN=localhost -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1' \
	-keyout "$demo/tls/key.pem" -out "$demo/tls/cert.pem" 2>/dev/null
run chmod -R a+rX "$demo/site" "$demo/tls/cert.pem"
group=$(id -gn "$user")
run chgrp "$group" "$demo/tls/key.pem"
run chmod 640 "$demo/tls/key.pem"

# Deploy the built binary the way install/dropcap-setcap does after every copy: a copy has
# lost its capability, so it is applied to a temporary file, checked, then renamed into place.
if [ "$sudo" != none ]; then
	run "$top/install/dropcap-setcap" --install "$bin" "$demo/dropcap" >/dev/null
	echo "run-demo: $(getcap "$demo/dropcap")" >&2
else
	cp "$bin" "$demo/dropcap"
fi

echo "run-demo: serving $demo/site as $user on https://localhost/ and http://localhost/ (Ctrl-C stops)" >&2
set -- "$demo/dropcap" --root "$demo/site" --https "$https" --http "$http" \
	--cert "$demo/tls/cert.pem" --key "$demo/tls/key.pem"
if [ "$(id -u)" -eq 0 ]; then
	exec setpriv --reuid "$user" --regid "$group" --clear-groups -- "$@"
fi
exec "$@"
