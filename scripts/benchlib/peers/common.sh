# Sourced by the peer start scripts. Checks the environment scripts/bench passes to every server
# and prepares the server's private scratch directory.
#   PORT_HTTP PORT_HTTPS  ports to listen on (127.0.0.1)
#   DOCROOT CERT KEY      docroot and PEM certificate/key (build/bench/fixtures)
#   RUNDIR                scratch directory for the generated config, pid file and logs
#   WORKERS               nginx worker_processes (default: the CPUs this process may run on, what
#                         "auto" should mean: nginx 1.22's own "auto" counts every online CPU even
#                         when the server is pinned to one)
#   CHECK_ONLY=1          write the configuration and test it (nginx -t, lighttpd -tt), serve nothing
# shellcheck shell=bash
set -euo pipefail
for v in PORT_HTTP PORT_HTTPS DOCROOT CERT KEY RUNDIR; do
	if [[ -z ${!v:-} ]]; then
		echo "${0##*/}: $v is not set (scripts/bench sets PORT_HTTP PORT_HTTPS DOCROOT CERT KEY RUNDIR)" >&2
		exit 2
	fi
done
if [[ ${CHECK_ONLY:-} != 1 ]]; then
	for f in "$CERT" "$KEY"; do
		[[ -r $f ]] || { echo "${0##*/}: cannot read $f (scripts/bench makes it)" >&2; exit 2; }
	done
	[[ -d $DOCROOT ]] || { echo "${0##*/}: no docroot $DOCROOT (scripts/bench makes it)" >&2; exit 2; }
fi
mkdir -p "$RUNDIR"
chmod 755 "$RUNDIR"
WORKERS=${WORKERS:-$(nproc)}
# Open-file limit for the server: as high as the hard limit allows (<= 65536).
NOFILE=$(ulimit -Hn)
[[ $NOFILE == unlimited || $NOFILE -gt 65536 ]] && NOFILE=65536
ulimit -n "$NOFILE"
