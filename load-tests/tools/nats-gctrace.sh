#!/usr/bin/env bash
# Diagnostic stand-in for nats-server: runs the real one with Go's GC trace on and appends each
# stderr line, prefixed with the wall-clock time ($EPOCHREALTIME), to $NATS_GCTRACE_LOG.
# stall-seconds.mjs reads the "gc N @…" lines. Use it through the harness's binary override:
#
#   NATS_GCTRACE_LOG=/tmp/probe/nats-gc.log ORDERWIRE_NATS_SERVER=$PWD/load-tests/tools/nats-gctrace.sh npm run bench:node24 -- …
set -euo pipefail
real="${NATS_SERVER_REAL:-$(cd "$(dirname "$0")/../.." && pwd)/.tools/bin/nats-server}"
log="${NATS_GCTRACE_LOG:?set NATS_GCTRACE_LOG to the trace file}"
export GODEBUG="${GODEBUG:+$GODEBUG,}gctrace=1"
exec "$real" "$@" 2> >(while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done | tee -a "$log" >&2)
