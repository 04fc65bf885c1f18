#!/usr/bin/env bash
# scripts/benchlib/gen-fixtures.sh OUTDIR — the benchmark's docroot and certificates.
#
#   OUTDIR/www/        index.html, 1k.bin, 1m.bin (random bytes)
#   OUTDIR/www/page/   index.html and the 30 assets it links (page-load mix of the HTTP/2 rows):
#                      10 stylesheets/scripts of 2-8 KiB, 20 images of 4-60 KiB, random bytes
#   OUTDIR/tls/        ec.crt ec.key    self-signed ECDSA P-256, CN=localhost,
#                                       SAN localhost/127.0.0.1/::1 (what every server serves)
#                      rsa.key          RSA-2048 (mbedtls-speed times an RSA signature with it)
#
# Idempotent: files that already exist with the right size are kept, so the page cache and the
# results stay comparable between runs. Everything is world-readable: dropcap and nginx's workers
# read it after dropping to nobody. These are throwaway benchmark keys.
set -euo pipefail
out=${1:?usage: gen-fixtures.sh OUTDIR}
mkdir -p "$out/www/page" "$out/tls"
chmod 755 "$out" "$out/www" "$out/www/page" "$out/tls"

mkfile() { # path-under-www bytes
	local f=$out/www/$1 n=$2
	if [[ -f $f && $(stat -c %s "$f") -eq $n ]]; then return; fi
	head -c "$n" /dev/urandom >"$f.tmp" && mv "$f.tmp" "$f"
	chmod 644 "$f"
}
mktext() { # path-under-www, content on stdin
	cat >"$out/www/$1.tmp" && mv "$out/www/$1.tmp" "$out/www/$1"
	chmod 644 "$out/www/$1"
}
mkfile 1k.bin 1024
mkfile 1m.bin $((1024 * 1024))
mktext index.html <<'HTML'
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bench</title></head>
<body><h1>dropcap bench docroot</h1>
<ul><li><a href="1k.bin">1k.bin</a></li><li><a href="1m.bin">1m.bin</a></li>
<li><a href="page/">a page with 30 assets</a></li></ul>
</body></html>
HTML

# The page-load mix: sizes spread like a small site's assets, fixed so every run is the same.
links=
for i in $(seq 1 5); do
	mkfile "page/style$i.css" $((1024 * (2 + i)))
	mkfile "page/app$i.js" $((1024 * (3 + i)))
	links="$links<link rel=\"stylesheet\" href=\"style$i.css\"><script src=\"app$i.js\"></script>"
done
for i in $(seq 1 20); do
	mkfile "page/img$i.png" $((1024 * (4 + (i * 7) % 57)))
	links="$links<img src=\"img$i.png\" alt=\"\">"
done
mktext page/index.html <<HTML
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>page-load mix</title></head>
<body>$links</body></html>
HTML

san="subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"
if [[ ! -s $out/tls/ec.crt || ! -s $out/tls/ec.key ]]; then
	openssl req -x509 -nodes -days 3650 -subj /CN=localhost -addext "$san" \
		-addext "keyUsage=digitalSignature" -addext "extendedKeyUsage=serverAuth" \
		-newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 \
		-keyout "$out/tls/ec.key" -out "$out/tls/ec.crt" 2>/dev/null
fi
if [[ ! -s $out/tls/rsa.key ]]; then
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$out/tls/rsa.key" 2>/dev/null
fi
chmod 644 "$out/tls/ec.crt" "$out/tls/ec.key" "$out/tls/rsa.key"
