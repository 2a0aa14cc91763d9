#!/usr/bin/env bash
# Installs what is missing, builds, and starts the Strait edge gateway on
# config/examples/edge.yaml in front of a small demo upstream, and the mesh: strait-cp on
# config/examples/mesh and two proxies it configures. Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")"

./scripts/install-deps.sh --build-only
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target strait strait-cp strait-test-upstream

CONFIG=config/examples/edge.yaml
RUNDIR=$(mktemp -d)
UPSTREAM_PID=""
STRAIT_PID=""
MESH_PIDS=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${MESH_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
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

# The mesh: strait-cp serves config/examples/mesh; two proxies of group "mesh" take their
# listeners and clusters from it.
build/bin/strait-cp --source config/examples/mesh --listen 127.0.0.1:0 --admin 127.0.0.1:0 \
  --ports-file "$RUNDIR/cp.ports" >"$RUNDIR/strait-cp.log" 2>&1 &
MESH_PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$RUNDIR/cp.ports" ] && break; sleep 0.1; done
CP_DISCOVERY=$(awk '/discovery/ {print $2}' "$RUNDIR/cp.ports")
CP_ADMIN=127.0.0.1:$(awk '/admin/ {print $2}' "$RUNDIR/cp.ports")
MESH_ADMINS=()
MESH_PORTS=()
for n in 1 2; do
  mkdir -p "$RUNDIR/mesh-$n"
  cat >"$RUNDIR/mesh-$n/strait.yaml" <<YAML
node: {id: mesh-$n, cluster: mesh}
admin: {address: 127.0.0.1, port: 0}
workers: 1
control_plane: {address: 127.0.0.1:$CP_DISCOVERY}
YAML
  build/bin/strait --config "$RUNDIR/mesh-$n/strait.yaml" \
    --admin-address-path "$RUNDIR/mesh-$n/admin.addr" >"$RUNDIR/mesh-$n/strait.log" 2>&1 &
  MESH_PIDS+=($!)
done
for n in 1 2; do
  for _ in $(seq 1 100); do
    [ -s "$RUNDIR/mesh-$n/admin.addr" ] &&
      curl -sf "http://$(cat "$RUNDIR/mesh-$n/admin.addr")/ready" >/dev/null && break
    sleep 0.1
  done
  A=$(cat "$RUNDIR/mesh-$n/admin.addr")
  MESH_ADMINS+=("$A")
  MESH_PORTS+=("$(curl -s "http://$A/listeners" | python3 -c 'import json,sys; l=json.load(sys.stdin)["listeners"]; print(l[0]["port"] if l else "?")')")
done

cat <<MSG

Strait is running ($CONFIG), in front of a demo upstream on 127.0.0.1:18080.

  curl -i http://127.0.0.1:$PORT/            # proxied to the demo upstream
  curl -i http://127.0.0.1:$PORT/echo        # the request as the upstream saw it
  curl -i http://127.0.0.1:$PORT/healthz     # a direct response from the proxy
  curl -s http://$ADMIN/stats | head         # Prometheus metrics (admin port)
  curl -s http://$ADMIN/clusters             # endpoints, health, counters

The mesh: strait-cp (source config/examples/mesh, discovery on 127.0.0.1:$CP_DISCOVERY) and two
proxies of group "mesh" configured by it.

  curl -s http://$CP_ADMIN/status            # each proxy: its sync state, what it was sent, ACKed, NACKed
  (or open http://$CP_ADMIN/status in a browser: the status page, refreshing by itself)
  build/bin/straitctl status --cp http://$CP_ADMIN   # a table; exit 0 when every proxy is SYNCED
  build/bin/straitctl diff mesh-1 --cp http://$CP_ADMIN --proxy http://${MESH_ADMINS[0]}
                                             # strait-cp's intended config vs mesh-1's, per resource
  curl -s http://$CP_ADMIN/metrics           # strait_cp_* (control-plane telemetry)
  curl -i http://127.0.0.1:${MESH_PORTS[0]}/echo        # through proxy mesh-1
  curl -i http://127.0.0.1:${MESH_PORTS[1]}/healthz     # through proxy mesh-2
  curl -s http://${MESH_ADMINS[0]}/config_dump | head -30   # mesh-1: applied by control_plane

Edit config/examples/mesh/mesh/*.yaml while this runs: strait-cp pushes the change. Logs are in
$RUNDIR. Ctrl-C to stop.
MSG
wait "$STRAIT_PID"
