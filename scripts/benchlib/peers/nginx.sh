#!/usr/bin/env bash
# nginx (OpenSSL) for scripts/bench: HTTPS (HTTP/2 offered by ALPN) on $PORT_HTTPS, plain HTTP on
# $PORT_HTTP, sendfile, tcp_nopush, access_log off, keep-alive without a small request limit,
# worker_processes $WORKERS. Runs in the foreground, in the caller's process group.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"
conf=$RUNDIR/nginx.conf
mkdir -p "$RUNDIR/tmp"
cat >"$conf" <<NGX
worker_processes $WORKERS;
daemon off;
pid $RUNDIR/nginx.pid;
error_log stderr warn;
worker_rlimit_nofile $NOFILE;
events { worker_connections 8192; }
http {
    types { application/octet-stream bin; text/html html; text/css css; application/javascript js; image/png png; }
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 120s;
    keepalive_requests 10000000;
    client_body_temp_path $RUNDIR/tmp/body;
    proxy_temp_path $RUNDIR/tmp/proxy;
    fastcgi_temp_path $RUNDIR/tmp/fastcgi;
    uwsgi_temp_path $RUNDIR/tmp/uwsgi;
    scgi_temp_path $RUNDIR/tmp/scgi;
    server {
        listen 127.0.0.1:$PORT_HTTP;
        listen 127.0.0.1:$PORT_HTTPS ssl http2;
        server_name localhost;
        ssl_certificate $CERT;
        ssl_certificate_key $KEY;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $DOCROOT;
    }
}
NGX
if [[ ${CHECK_ONLY:-} == 1 ]]; then
	exec nginx -t -q -e stderr -p "$RUNDIR" -c "$conf"
fi
exec nginx -e stderr -p "$RUNDIR" -c "$conf"
