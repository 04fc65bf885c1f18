#!/usr/bin/env bash
# lighttpd 1.4 for scripts/bench, with TLS from mod_mbedtls (mbedTLS 2.28, dropcap's library: the
# fairest peer) or mod_openssl (OpenSSL 3). HTTPS (HTTP/2 offered by ALPN) on $PORT_HTTPS, plain
# HTTP on $PORT_HTTP; one process (lighttpd's default); sendfile; no access log. Foreground.
# Usage: peers/lighttpd.sh mbedtls|openssl
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"
tls=${1:-}
case $tls in
mbedtls | openssl) ;;
*) echo "lighttpd.sh: the TLS module must be mbedtls or openssl, not '$tls'" >&2; exit 2 ;;
esac
[[ -e /usr/lib/lighttpd/mod_$tls.so ]] ||
	{ echo "lighttpd.sh: mod_$tls missing: apt-get install lighttpd-mod-$tls" >&2; exit 2; }
conf=$RUNDIR/lighttpd.conf
mkdir -p "$RUNDIR/upload"
cat >"$conf" <<LTC
server.modules = ( "mod_$tls" )
server.document-root = "$DOCROOT"
server.bind = "127.0.0.1"
server.port = $PORT_HTTP
server.errorlog = "$RUNDIR/error.log"
server.upload-dirs = ( "$RUNDIR/upload" )
server.max-fds = $NOFILE
server.max-connections = 8192
server.max-keep-alive-requests = 10000000
server.max-keep-alive-idle = 120
server.network-backend = "sendfile"
server.feature-flags = ( "server.h2proto" => "enable" )
index-file.names = ( "index.html" )
mimetype.assign = ( ".bin" => "application/octet-stream", ".html" => "text/html",
                    ".css" => "text/css", ".js" => "application/javascript", ".png" => "image/png" )
\$SERVER["socket"] == "127.0.0.1:$PORT_HTTPS" {
    ssl.engine = "enable"
    ssl.pemfile = "$CERT"
    ssl.privkey = "$KEY"
}
LTC
if [[ ${CHECK_ONLY:-} == 1 ]]; then
	exec lighttpd -tt -f "$conf"
fi
exec lighttpd -D -f "$conf"
