#!/usr/bin/env bash
# Installs what is missing, builds, and starts the Strait edge gateway on
# config/examples/edge.yaml in front of a small demo upstream. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")"

./scripts/install-deps.sh --build-only
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target strait strait-test-upstream

CONFIG=config/examples/edge.yaml
RUNDIR=$(mktemp -d)
UPSTREAM_PID=""
STRAIT_PID=""
cleanup() {
  trap - INT TERM EXIT
  [ -n "$STRAIT_PID" ] && kill -TERM "$STRAIT_PID" 2>/dev/null && wait "$STRAIT_PID" 2>/dev/null || true
  [ -n "$UPSTREAM_PID" ] && kill -TERM "$UPSTREAM_PID" 2>/dev/null && wait "$UPSTREAM_PID" 2>/dev/null || true
  rm -rf "$RUNDIR"
  echo "stopped."
}
trap cleanup INT TERM EXIT

# The demo upstream listens where the example config's cluster points (127.0.0.1:18080).
build/bin/strait-test-upstream --address 127.0.0.1 --port 18080 --name demo \
  --port-file "$RUNDIR/upstream.port" >"$RUNDIR/upstream.log" 2>&1 &
UPSTREAM_PID=$!

build/bin/strait --config "$CONFIG" --admin-address-path "$RUNDIR/admin.addr" &
STRAIT_PID=$!

for _ in $(seq 1 100); do
  [ -s "$RUNDIR/admin.addr" ] && [ -s "$RUNDIR/upstream.port" ] && break
  if ! kill -0 "$STRAIT_PID" 2>/dev/null; then echo "strait failed to start" >&2; exit 1; fi
  sleep 0.1
done
ADMIN=$(cat "$RUNDIR/admin.addr")
PORT=$(curl -s "http://$ADMIN/listeners" | python3 -c 'import json,sys; print(json.load(sys.stdin)["listeners"][0]["port"])')

cat <<MSG

Strait is running ($CONFIG), in front of a demo upstream on 127.0.0.1:18080.

  curl -i http://127.0.0.1:$PORT/            # proxied to the demo upstream
  curl -i http://127.0.0.1:$PORT/echo        # the request as the upstream saw it
  curl -i http://127.0.0.1:$PORT/healthz     # a direct response from the proxy
  curl -s http://$ADMIN/stats | head         # Prometheus metrics (admin port)
  curl -s http://$ADMIN/clusters             # endpoints, health, counters

Ctrl-C to stop.
MSG
wait "$STRAIT_PID"
