#!/usr/bin/env bash
# perf/compare.sh: side-by-side benchmark of Strait against nginx and haproxy.
#
# One upstream (build/bin/strait-test-upstream; nginx as a fallback when it is missing) and three
# proxies in front of it (strait, nginx, haproxy; with --strait-chain a fourth, strait-chain), each
# with one worker, all pinned to the same CPU; the upstream and wrk share the other CPU. All
# proxies keep connections to the upstream alive, have access logs off and equivalent timeouts.
# For each (connections, body size) cell the proxies are measured interleaved (A/B/C, B/C/A,
# C/A/B, ...) for several rounds and the median is kept.
# Memory: RSS at start, idle RSS, RSS with N idle keep-alive connections, KiB per idle connection.
#
# Usage: perf/compare.sh [options]
#   --rounds N            rounds per cell (default 3)
#   --duration T          wrk duration of one measured run, e.g. 5s, 1m (default 5s)
#   --warmup T            wrk warm-up before every measured run, same load, not recorded
#                         (default 1s; 0 = none)
#   --quick               smoke test: 1 round x 2s per cell (warm-up 1s)
#   --conns LIST          connection counts (default 10,50,200)
#   --bodies LIST         response body sizes: bytes or with k suffix (default 0,1k,64k)
#   --only SPEC           run only the cells matching SPEC = c=LIST,body=LIST where a LIST is
#                         '+'-separated; a key left out means all values. Repeatable (union).
#                         e.g. --only c=50,body=0   --only c=10+200   --only body=64k
#   --proxies LIST        subset/order of strait,nginx,haproxy (default all three); strait-chain
#                         may be listed too (the same as --strait-chain, in the given place)
#   --strait-chain        add a fourth proxy, strait-chain: a second strait (same binary, one
#                         worker, same CPU, upstream, timeouts and keep-alive as strait) whose
#                         listener/route/cluster carry the full filter chain of issue 5, nothing
#                         triggering (perf/lib/filter_chain.py, the chain of
#                         perf/filter_overhead.py). Measured in the same interleaved rounds, placed
#                         right after strait in the rotation; the report adds, per cell, the ratio
#                         strait-chain / strait of req/s (target >= 0.90), also in RESULTS.md.
#                         The memory, TLS and h2load sections leave strait-chain out.
#   --chain overload      strait-chain with issue 13's chain instead: adaptive_concurrency and
#                         load_shed on the listener, not triggering (target >= 0.95); implies
#                         --strait-chain
#   --proxy-cpu N         CPU for the proxies (default 1)
#   --load-cpu N          CPU for the upstream and wrk (default 0)
#   --wrk-threads N       wrk threads (default 1)
#   --idle-conns N        idle keep-alive connections for the memory test (default 1000)
#   --no-memory           skip the memory test
#   --no-bench            skip the throughput runs (memory test only)
#   --tls                 also run the TLS section: every proxy gets a second, TLS listener with
#                         the same certificate (EC P-256 from certs/make-dev-certs.sh, TLS 1.2/1.3,
#                         session cache on); for each connection count, keep-alive requests/s over
#                         TLS and the new-handshake rate (wrk -H 'Connection: close': one full
#                         handshake per request). Results: perf/out/tls.tsv and the log (not yet in
#                         RESULTS.md). With --no-bench --no-memory: the TLS section only.
#   --h2load              also compare HTTP/2: h2load (cleartext h2c, prior knowledge) against
#                         strait (the same listener: it detects the preface) and nginx (a second
#                         `listen ... http2` port), both with HTTP/1.1 to the upstream
#   --h2load-requests N   requests per h2load run (default 100000; 20000 with --quick)
#   --h2load-args ARGS    h2load load shape (default "-c 4 -m 10")
#   --write-results       update perf/RESULTS.md and perf/compare.png (default: only for a full run,
#   --no-write-results    i.e. without --quick and --only); output always goes to perf/out/
#   --build-dir DIR       where bin/strait and bin/strait-test-upstream are (default build)
#   --upstream nginx      use the nginx fallback upstream even if strait-test-upstream exists
#   -h, --help            this text
#
# Outputs: perf/out/compare.tsv (every run), perf/out/compare-summary.tsv (medians),
#          perf/out/memory.tsv, perf/out/raw/*.txt (wrk outputs), perf/out/work/ (configs, logs),
#          perf/out/compare.png and perf/out/RESULTS.section.md; for a full run (or with
#          --write-results) also perf/compare.png and the generated block in perf/RESULTS.md.
# Everything the script starts is stopped on exit, error or Ctrl-C.

set -euo pipefail

PERF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$PERF_DIR/.." && pwd)"
UTIL="$PERF_DIR/lib/compare_util.py"
CHAIN_PY="$PERF_DIR/lib/filter_chain.py"
OUT="$PERF_DIR/out"

CMDLINE="perf/compare.sh"
for a in "$@"; do CMDLINE+=" $(printf '%q' "$a")"; done

ROUNDS=3
DURATION=5s
WARMUP=1s
QUICK=0
CONNS_LIST=10,50,200
BODIES_LIST=0,1k,64k
ONLY=()
PROXIES_LIST=strait,nginx,haproxy
STRAIT_CHAIN=0
CHAIN_KIND=full
PROXY_CPU=1
LOAD_CPU=0
WRK_THREADS=1
WRK_TIMEOUT=10s
IDLE_CONNS=1000
DO_MEMORY=1
DO_BENCH=1
DO_TLS=0
DO_H2LOAD=0
H2LOAD_REQUESTS=""
H2LOAD_ARGS="-c 4 -m 10"
WRITE_RESULTS=auto
BUILD_DIR="$REPO/build"
FORCE_NGINX_UPSTREAM=0
ROUNDS_SET=0 DURATION_SET=0

usage() { sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "compare.sh: error: $*" >&2; exit 1; }
log() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; ROUNDS_SET=1; shift 2 ;;
    --duration) DURATION="$2"; DURATION_SET=1; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --conns) CONNS_LIST="$2"; shift 2 ;;
    --bodies) BODIES_LIST="$2"; shift 2 ;;
    --only) ONLY+=("$2"); shift 2 ;;
    --proxies) PROXIES_LIST="$2"; shift 2 ;;
    --strait-chain) STRAIT_CHAIN=1; shift ;;
    --chain) CHAIN_KIND="$2"; STRAIT_CHAIN=1; shift 2 ;;
    --proxy-cpu) PROXY_CPU="$2"; shift 2 ;;
    --load-cpu) LOAD_CPU="$2"; shift 2 ;;
    --wrk-threads) WRK_THREADS="$2"; shift 2 ;;
    --idle-conns) IDLE_CONNS="$2"; shift 2 ;;
    --no-memory) DO_MEMORY=0; shift ;;
    --no-bench) DO_BENCH=0; shift ;;
    --tls) DO_TLS=1; shift ;;
    --h2load) DO_H2LOAD=1; shift ;;
    --h2load-requests) H2LOAD_REQUESTS="$2"; shift 2 ;;
    --h2load-args) H2LOAD_ARGS="$2"; shift 2 ;;
    --write-results) WRITE_RESULTS=1; shift ;;
    --no-write-results) WRITE_RESULTS=0; shift ;;
    --build-dir) BUILD_DIR="$(cd "$2" && pwd)"; shift 2 ;;
    --upstream) [[ "$2" == nginx ]] || die "--upstream takes only 'nginx'"; FORCE_NGINX_UPSTREAM=1; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

if [[ $QUICK == 1 ]]; then
  [[ $ROUNDS_SET == 1 ]] || ROUNDS=1
  [[ $DURATION_SET == 1 ]] || DURATION=2s
fi
if [[ $WRITE_RESULTS == auto ]]; then
  # Only a full throughput run replaces the RESULTS.md section (a --no-bench run has no cells).
  if [[ $QUICK == 0 && ${#ONLY[@]} -eq 0 && $DO_BENCH == 1 ]]; then WRITE_RESULTS=1; else WRITE_RESULTS=0; fi
fi
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer"
[[ "$IDLE_CONNS" =~ ^[1-9][0-9]*$ ]] || die "--idle-conns must be a positive integer"
[[ "$DURATION" =~ ^[0-9]+$ ]] && DURATION="${DURATION}s"
[[ "$WARMUP" =~ ^[0-9]+$ ]] && WARMUP="${WARMUP}s"
[[ "$DURATION" =~ ^[1-9][0-9]*[smh]$ ]] || die "--duration must look like 5s, 30s, 1m"
[[ "$WARMUP" =~ ^[0-9]+[smh]$ ]] || die "--warmup must look like 0, 1s, 2s"

to_seconds() {  # 5s / 2m / 1h -> seconds
  local n="${1%[smh]}" u="${1: -1}"
  case "$u" in s) echo "$n" ;; m) echo $((n * 60)) ;; h) echo $((n * 3600)) ;; esac
}
to_bytes() {  # 0, 1024, 1k, 64K, 64KiB, 1m -> bytes
  local v="${1,,}"
  v="${v%ib}"; v="${v%b}"
  case "$v" in
    *k) echo $(( ${v%k} * 1024 )) ;;
    *m) echo $(( ${v%m} * 1024 * 1024 )) ;;
    *) [[ "$v" =~ ^[0-9]+$ ]] || die "bad body size: $1"; echo "$v" ;;
  esac
}

# ---- the cells --------------------------------------------------------------------------------
IFS=, read -r -a ALL_CONNS <<<"$CONNS_LIST"
ALL_BODIES=()
for b in ${BODIES_LIST//,/ }; do ALL_BODIES+=("$(to_bytes "$b")"); done
for c in "${ALL_CONNS[@]}"; do [[ "$c" =~ ^[1-9][0-9]*$ ]] || die "bad connection count: $c"; done

declare -A WANT=()
if [[ ${#ONLY[@]} -eq 0 ]]; then
  for c in "${ALL_CONNS[@]}"; do for b in "${ALL_BODIES[@]}"; do WANT["$c:$b"]=1; done; done
else
  for spec in "${ONLY[@]}"; do
    sc="" sb=""
    IFS=, read -r -a parts <<<"$spec"
    for part in "${parts[@]}"; do
      case "$part" in
        c=*|conns=*) sc="${part#*=}" ;;
        body=*|b=*) sb="${part#*=}" ;;
        *) die "bad --only part '$part' (want c=LIST,body=LIST)" ;;
      esac
    done
    cs=("${ALL_CONNS[@]}"); bs=("${ALL_BODIES[@]}")
    if [[ -n "$sc" ]]; then IFS=+ read -r -a cs <<<"$sc"; fi
    if [[ -n "$sb" ]]; then bs=(); for b in ${sb//+/ }; do bs+=("$(to_bytes "$b")"); done; fi
    for c in "${cs[@]}"; do
      [[ "$c" =~ ^[1-9][0-9]*$ ]] || die "bad connection count in --only: $c"
      for b in "${bs[@]}"; do WANT["$c:$b"]=1; done
    done
  done
fi
CELLS=()  # "conns:body", in conns-then-body order
while read -r cell; do CELLS+=("$cell"); done < <(printf '%s\n' "${!WANT[@]}" | sort -t: -k1,1n -k2,2n)
BODY_SIZES=()
while read -r b; do BODY_SIZES+=("$b"); done < <(printf '%s\n' "${CELLS[@]}" | cut -d: -f2 | sort -nu)

# ---- tools and proxies ------------------------------------------------------------------------
NGINX_BIN="${NGINX_BIN:-/usr/sbin/nginx}"
HAPROXY_BIN="${HAPROXY_BIN:-/usr/sbin/haproxy}"
STRAIT_BIN="$BUILD_DIR/bin/strait"
UPSTREAM_BIN="$BUILD_DIR/bin/strait-test-upstream"
for t in wrk taskset python3 curl gnuplot; do
  command -v "$t" >/dev/null || die "$t is not installed (see scripts/install-deps.sh)"
done

NPROC="$(nproc)"
if [[ "$NPROC" -lt 2 ]]; then
  log "WARNING: only $NPROC CPU: proxies, upstream and wrk all share CPU 0; ratios only"
  PROXY_CPU=0 LOAD_CPU=0
fi
[[ "$PROXY_CPU" -lt "$NPROC" && "$LOAD_CPU" -lt "$NPROC" ]] || die "CPU index out of range (nproc=$NPROC)"

PROXIES=()
SKIPPED=()
IFS=, read -r -a wanted_proxies <<<"$PROXIES_LIST"
if [[ $STRAIT_CHAIN == 1 && " ${wanted_proxies[*]} " != *" strait-chain "* ]]; then
  # Right after strait: in each round the two run one right after the other (except where the
  # rotation wraps).
  with_chain=()
  for p in "${wanted_proxies[@]}"; do
    with_chain+=("$p")
    [[ "$p" != strait ]] || with_chain+=(strait-chain)
  done
  [[ " ${with_chain[*]} " == *" strait-chain "* ]] || with_chain+=(strait-chain)
  wanted_proxies=("${with_chain[@]}")
fi
for p in "${wanted_proxies[@]}"; do
  case "$p" in
    strait|strait-chain)
      if [[ -x "$STRAIT_BIN" ]]; then PROXIES+=("$p")
      else log "SKIPPING $p: $STRAIT_BIN does not exist (build it first: cmake --build build)"; SKIPPED+=("$p (no $STRAIT_BIN)"); fi ;;
    nginx)
      if [[ -x "$NGINX_BIN" ]]; then PROXIES+=(nginx)
      else log "SKIPPING nginx: $NGINX_BIN missing"; SKIPPED+=("nginx (not installed)"); fi ;;
    haproxy)
      if [[ -x "$HAPROXY_BIN" ]]; then PROXIES+=(haproxy)
      else log "SKIPPING haproxy: $HAPROXY_BIN missing"; SKIPPED+=("haproxy (not installed)"); fi ;;
    *) die "unknown proxy '$p' (strait, nginx, haproxy, strait-chain)" ;;
  esac
done
# The memory and TLS sections compare the proxies themselves: strait-chain (the strait binary
# again) is left out of them, and not started at all without the throughput runs.
BASE_PROXIES=()
for p in "${PROXIES[@]}"; do [[ "$p" == strait-chain ]] || BASE_PROXIES+=("$p"); done
if [[ $DO_BENCH == 0 && ${#BASE_PROXIES[@]} -ne ${#PROXIES[@]} ]]; then
  log "strait-chain is only in the throughput runs: not started with --no-bench"
  PROXIES=("${BASE_PROXIES[@]}")
fi
[[ ${#PROXIES[@]} -gt 0 ]] || die "no proxy to run"

USE_NGINX_UPSTREAM=0
if [[ $FORCE_NGINX_UPSTREAM == 1 ]]; then
  USE_NGINX_UPSTREAM=1
  log "upstream: nginx fallback (forced by --upstream nginx)"
elif [[ ! -x "$UPSTREAM_BIN" ]]; then
  USE_NGINX_UPSTREAM=1
  log "upstream: $UPSTREAM_BIN does not exist: USING NGINX AS THE UPSTREAM (fallback, static files)"
fi
[[ $USE_NGINX_UPSTREAM == 0 || -x "$NGINX_BIN" ]] || die "no upstream: neither strait-test-upstream nor nginx"

# File descriptors: the idle-connection test and nginx/haproxy inherit this.
HARD_NOFILE="$(ulimit -Hn)"
if [[ "$HARD_NOFILE" == unlimited || "$HARD_NOFILE" -gt 65536 ]]; then NOFILE=65536; else NOFILE="$HARD_NOFILE"; fi
ulimit -n "$NOFILE" || die "cannot raise ulimit -n to $NOFILE"
NEED_FDS=$(( IDLE_CONNS + 1024 ))
[[ "$NOFILE" -ge "$NEED_FDS" ]] || die "ulimit -n hard limit $HARD_NOFILE is too low for --idle-conns $IDLE_CONNS"
WORKER_CONNS=$(( IDLE_CONNS * 2 + 2048 ))

# ---- process bookkeeping and cleanup ----------------------------------------------------------
PIDS=()
declare -A PID_NAME=()

alive() { [[ -r "/proc/$1/status" ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

stop_pid() {  # TERM, wait up to 5 s, then KILL; children (nginx workers) too
  local pid="$1" kids i
  kids="$(python3 "$UTIL" rss "$pid" 2>/dev/null | awk '{print $4}' | tr , ' ')"
  [[ "$kids" == "-" ]] && kids=""
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
      log "${PID_NAME[$pid]:-$pid} did not stop on SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  for k in $kids; do
    if alive "$k"; then kill -KILL "$k" 2>/dev/null || true; fi
  done
}

forget_pid() {
  local pid="$1" keep=() p
  for p in "${PIDS[@]}"; do [[ "$p" == "$pid" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

CLEANED=0
cleanup() {
  [[ $CLEANED == 1 ]] && return
  CLEANED=1
  trap '' INT TERM  # a second Ctrl-C must not cut the cleanup short
  local i
  if [[ ${#PIDS[@]} -gt 0 ]]; then
    log "stopping ${#PIDS[@]} process(es) started by this script"
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[$i]}"; done
  fi
  PIDS=()
}
trap cleanup EXIT
trap 'echo; log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

SPAWNED=""
spawn() {  # spawn NAME CPU CMD... (stdout/stderr to $WORK/NAME.log); sets SPAWNED to the pid
  local name="$1" cpu="$2"; shift 2
  taskset -c "$cpu" "$@" >"$WORK/$name.log" 2>&1 </dev/null &
  SPAWNED=$!
  PIDS+=("$SPAWNED")
  PID_NAME[$SPAWNED]="$name"
}

# Run a command to completion, but as a background job plus `wait`: a trapped SIGINT interrupts
# `wait` at once (wrk catches SIGINT itself and exits 0, which would otherwise hide the Ctrl-C
# from bash), and the cleanup stops the command too. Usage: fg_run OUTFILE CMD...
fg_run() {
  local out="$1" pid rc=0; shift
  "$@" >"$out" 2>&1 </dev/null &
  pid=$!
  PIDS+=("$pid"); PID_NAME[$pid]="$1"
  wait "$pid" || rc=$?
  forget_pid "$pid"
  return "$rc"
}

show_log() { log "--- last lines of $WORK/$1.log ---"; tail -n 20 "$WORK/$1.log" >&2 || true; }

# ---- workspace --------------------------------------------------------------------------------
WORK="$OUT/work"
RAW="$OUT/raw"
mkdir -p "$OUT"
rm -rf "$WORK" "$RAW"
mkdir -p "$WORK" "$RAW"

read -r PORT_UP PORT_STRAIT PORT_NGINX PORT_HAPROXY PORT_NGINX_H2 PORT_STRAIT_CHAIN <<<"$(python3 "$UTIL" freeports 6)"
declare -A PORT=([strait]=$PORT_STRAIT [nginx]=$PORT_NGINX [haproxy]=$PORT_HAPROXY [strait-chain]=$PORT_STRAIT_CHAIN)
read -r PORT_STRAIT_TLS PORT_NGINX_TLS PORT_HAPROXY_TLS <<<"$(python3 "$UTIL" freeports 3)"
declare -A TLS_PORT=([strait]=$PORT_STRAIT_TLS [nginx]=$PORT_NGINX_TLS [haproxy]=$PORT_HAPROXY_TLS)
CERTS="$WORK/certs"
if [[ $DO_TLS == 1 ]]; then
  command -v openssl >/dev/null || die "openssl is not installed (see scripts/install-deps.sh)"
  /bin/sh "$REPO/certs/make-dev-certs.sh" "$CERTS" >/dev/null || die "certs/make-dev-certs.sh failed"
  cat "$CERTS/server.pem" "$CERTS/server.key" >"$CERTS/server-haproxy.pem"
fi
declare -A PID_OF=()
declare -A DEAD=()
RUN_USER_LINE=""
[[ $EUID -eq 0 ]] && RUN_USER_LINE="user root root;"

nginx_common() {  # the parts every nginx config shares; $1 = name
  cat <<EOF
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile $NOFILE;
$RUN_USER_LINE
pid $WORK/$1.pid;
error_log $WORK/$1.error.log warn;
events { worker_connections $WORKER_CONNS; }
EOF
}
nginx_http_common() {
  cat <<EOF
  access_log off;
  client_body_temp_path $WORK/$1-tmp/client;
  proxy_temp_path $WORK/$1-tmp/proxy;
  fastcgi_temp_path $WORK/$1-tmp/fastcgi;
  uwsgi_temp_path $WORK/$1-tmp/uwsgi;
  scgi_temp_path $WORK/$1-tmp/scgi;
  keepalive_timeout 60s;
  keepalive_requests 1000000;
  client_header_timeout 10s;
EOF
}

start_upstream() {
  if [[ $USE_NGINX_UPSTREAM == 1 ]]; then
    mkdir -p "$WORK/www" "$WORK/upstream-nginx-tmp"
    for b in "${BODY_SIZES[@]}" 0; do head -c "$b" /dev/zero | tr '\0' x >"$WORK/www/body_$b"; done
    {
      nginx_common upstream-nginx
      echo "http {"
      nginx_http_common upstream-nginx
      cat <<EOF
  default_type application/octet-stream;
  open_file_cache max=64 inactive=600s;
  server {
    listen 127.0.0.1:$PORT_UP;
    root $WORK/www;
    location / { try_files /body_\$arg_body_size /body_0; }
  }
}
EOF
    } >"$WORK/upstream-nginx.conf"
    spawn upstream "$LOAD_CPU" "$NGINX_BIN" -p "$WORK" -e "$WORK/upstream-nginx.error.log" -c "$WORK/upstream-nginx.conf"
    UPSTREAM_DESC="nginx $("$NGINX_BIN" -v 2>&1 | sed 's/.*nginx\///') serving static files (FALLBACK: $UPSTREAM_BIN missing or --upstream nginx)"
  else
    spawn upstream "$LOAD_CPU" "$UPSTREAM_BIN" --address 127.0.0.1 --port 0 --port-file "$WORK/upstream.port" --body-size 0
    local i
    for ((i = 0; i < 200; i++)); do
      if [[ -s "$WORK/upstream.port" ]] && [[ "$(tr -d ' \n' <"$WORK/upstream.port")" =~ ^[0-9]+$ ]]; then break; fi
      alive "$SPAWNED" || { show_log upstream; die "strait-test-upstream exited"; }
      sleep 0.1
    done
    [[ -s "$WORK/upstream.port" ]] || { show_log upstream; die "strait-test-upstream wrote no port file in 20 s"; }
    PORT_UP="$(tr -d ' \n' <"$WORK/upstream.port")"
    UPSTREAM_DESC="strait-test-upstream ($UPSTREAM_BIN)"
  fi
  PID_OF[upstream]=$SPAWNED
  python3 "$UTIL" wait-http "http://127.0.0.1:$PORT_UP/?body_size=0" 20 || { show_log upstream; die "upstream not ready"; }
  log "upstream ready on 127.0.0.1:$PORT_UP, CPU $LOAD_CPU: $UPSTREAM_DESC"
}

strait_yaml() {  # the plain strait config, listening on port $1
  # Equivalent settings: connect timeout 1s, upstream response timeout 30s, client keep-alive
  # idle timeout 60s, request header timeout 10s, no access log, keep-alive to the upstream.
  cat <<EOF
node: {id: bench, cluster: bench}
admin: {address: 127.0.0.1, port: 0}
workers: 1
drain: {timeout: 2s}
listeners:
  - name: bench
    address: 127.0.0.1
    port: $1
    http: {request_headers_timeout: 10s, idle_timeout: 60s}
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - match: {prefix: /}
            route: {cluster: upstream, timeout: 30s}
clusters:
  - name: upstream
    endpoints: [{address: 127.0.0.1, port: $PORT_UP}]
    connect_timeout: 1s
EOF
}

CHAIN_DESC=""
write_configs() {
  strait_yaml "$PORT_STRAIT" >"$WORK/strait.yaml"
  if [[ " ${PROXIES[*]} " == *" strait-chain "* ]]; then
    # The same config on its own port, with the chain added (no TLS listener).
    CHAIN_DESC="$(strait_yaml "$PORT_STRAIT_CHAIN" |
      python3 "$CHAIN_PY" --strait "$STRAIT_BIN" --workdir "$WORK" --chain "$CHAIN_KIND" \
        --out "$WORK/strait-chain.yaml")" ||
      die "perf/lib/filter_chain.py could not write $WORK/strait-chain.yaml"
  fi
  if [[ $DO_TLS == 1 ]]; then
    # The same routes on a TLS listener: a copy of the bench listener with a tls block.
    python3 - "$WORK/strait.yaml" "$PORT_STRAIT_TLS" "$CERTS" <<'PY'
import sys
path, port, certs = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
head, rest = text.split("listeners:\n", 1)
listener, clusters = rest.split("clusters:\n", 1)
lines = []
for line in listener.split("\n"):
    if line.startswith("    port: "):
        lines.append("    port: " + port)
        lines.append("    tls: {certificates: [{cert: %s/server.pem, key: %s/server.key}], "
                     "alpn: [http/1.1]}" % (certs, certs))
    else:
        lines.append(line.replace("name: bench", "name: bench_tls", 1))
open(path, "w").write(head + "listeners:\n" + listener + "\n".join(lines) + "clusters:\n" + clusters)
PY
  fi

  mkdir -p "$WORK/nginx-tmp"
  {
    nginx_common nginx
    echo "http {"
    nginx_http_common nginx
    cat <<EOF
  upstream upstream {
    server 127.0.0.1:$PORT_UP;
    keepalive 512;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:$PORT_NGINX;
$(if [[ $DO_TLS == 1 ]]; then
  echo "    listen 127.0.0.1:$PORT_NGINX_TLS ssl;"
  echo "    ssl_certificate $CERTS/server.pem;"
  echo "    ssl_certificate_key $CERTS/server.key;"
  echo "    ssl_protocols TLSv1.2 TLSv1.3;"
  echo "    ssl_session_cache shared:SSL:10m;"
fi)
    listen 127.0.0.1:$PORT_NGINX_H2 http2;  # h2c, prior knowledge (the --h2load section)
    http2_max_concurrent_streams 100;
    location / {
      proxy_pass http://upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_connect_timeout 1s;
      proxy_send_timeout 30s;
      proxy_read_timeout 30s;
      proxy_buffer_size 16k;
      proxy_buffers 8 16k;
      proxy_max_temp_file_size 0;
    }
  }
}
EOF
  } >"$WORK/nginx.conf"

  cat >"$WORK/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn $WORKER_CONNS
  pidfile $WORK/haproxy.pid

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 1s
  timeout server 30s
  timeout client 60s
  timeout http-keep-alive 60s
  timeout http-request 10s

frontend bench
  bind 127.0.0.1:$PORT_HAPROXY
$(if [[ $DO_TLS == 1 ]]; then echo "  bind 127.0.0.1:$PORT_HAPROXY_TLS ssl crt $CERTS/server-haproxy.pem ssl-min-ver TLSv1.2"; fi)
  default_backend upstream

backend upstream
  server u1 127.0.0.1:$PORT_UP
EOF
}

start_proxy() {
  local p="$1" i port url admin
  case "$p" in
    strait|strait-chain)
      rm -f "$WORK/$p.admin"
      spawn "$p" "$PROXY_CPU" "$STRAIT_BIN" --config "$WORK/$p.yaml" --admin-address-path "$WORK/$p.admin"
      PID_OF[$p]=$SPAWNED
      for ((i = 0; i < 200; i++)); do
        [[ -s "$WORK/$p.admin" ]] && break
        alive "$SPAWNED" || { show_log "$p"; die "$p exited during start-up"; }
        sleep 0.1
      done
      if [[ -s "$WORK/$p.admin" ]]; then
        admin="$(tr -d ' \n' <"$WORK/$p.admin")"
        [[ "$p" != strait ]] || STRAIT_ADMIN="$admin"
        port="$(curl -fsS --max-time 2 "http://$admin/listeners" 2>/dev/null |
          python3 -c 'import json,sys; print(next(l["port"] for l in json.load(sys.stdin)["listeners"] if l["name"]=="bench"))' 2>/dev/null || true)"
        if [[ "$port" =~ ^[0-9]+$ && "$port" != 0 ]]; then PORT[$p]=$port; fi
      else
        log "$p wrote no admin address file in 20 s; trying the configured port ${PORT[$p]}"
      fi ;;
    nginx)
      spawn nginx "$PROXY_CPU" "$NGINX_BIN" -p "$WORK" -e "$WORK/nginx.error.log" -c "$WORK/nginx.conf"
      PID_OF[nginx]=$SPAWNED ;;
    haproxy)
      spawn haproxy "$PROXY_CPU" "$HAPROXY_BIN" -db -f "$WORK/haproxy.cfg"
      PID_OF[haproxy]=$SPAWNED ;;
  esac
  url="http://127.0.0.1:${PORT[$p]}/?body_size=0"
  python3 "$UTIL" wait-http "$url" 20 || { show_log "$p"; die "$p not ready on $url"; }
  log "$p ready on 127.0.0.1:${PORT[$p]} (pid ${PID_OF[$p]}, CPU $PROXY_CPU)"
}

# RSS of what we count for a proxy: strait and haproxy are one process; nginx: the worker(s).
# Prints "counted_kib other_description counted_description"
proxy_rss() {
  local p="$1" self kids nkids
  read -r self kids nkids _ <<<"$(python3 "$UTIL" rss "${PID_OF[$p]}")"
  case "$p" in
    nginx) echo "$kids master_${self}_KiB worker_process(es):_${nkids}" ;;
    *) echo "$self - single_process" ;;
  esac
}

# ---- versions and metadata --------------------------------------------------------------------
CPU_MODEL="$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
NGINX_VERSION="$("$NGINX_BIN" -v 2>&1 | head -n1 || true)"
HAPROXY_VERSION="$("$HAPROXY_BIN" -v 2>/dev/null | head -n1 || true)"
WRK_VERSION="$(wrk -v 2>&1 | head -n1 | sed 's/ Copyright.*//' || true)"
STRAIT_COMMIT="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null | head -n1)" ]]; then
  STRAIT_COMMIT+=" (+ uncommitted changes)"
fi
if [[ " ${PROXIES[*]} " == *" strait "* ]]; then
  STRAIT_DESC="$STRAIT_BIN built $(date -r "$STRAIT_BIN" '+%Y-%m-%d %H:%M'), commit $STRAIT_COMMIT"
else
  STRAIT_DESC="NOT RUN: ${SKIPPED[*]:-not in --proxies}"
fi

DUR_S="$(to_seconds "$DURATION")"
WARM_S="$(to_seconds "$WARMUP")"
N_RUNS=$(( ${#CELLS[@]} * ROUNDS * ${#PROXIES[@]} ))
if [[ $DO_BENCH == 1 ]]; then
  log "${#CELLS[@]} cell(s) x $ROUNDS round(s) x ${#PROXIES[@]} prox(ies) = $N_RUNS runs of $DURATION (+ $WARMUP warm-up): about $(( (N_RUNS * (DUR_S + WARM_S + 1) + 59) / 60 )) min"
fi

# ---- start everything -------------------------------------------------------------------------
start_upstream
write_configs
for p in "${PROXIES[@]}"; do start_proxy "$p"; done
sleep 1

# ---- memory -----------------------------------------------------------------------------------
MEM_TSV="$OUT/memory.tsv"
rm -f "$MEM_TSV"
if [[ $DO_MEMORY == 1 ]]; then
  printf 'proxy\tcounted\trss_start\trss_idle\trss_conns\tconns_open\tidle_target\trss_after\tother\tconns_note\n' >"$MEM_TSV"
  for p in "${BASE_PROXIES[@]}"; do
    read -r rss_start other counted <<<"$(proxy_rss "$p")"
    # Warm-up: a few requests on one connection (allocates pools, the upstream connection).
    url="http://127.0.0.1:${PORT[$p]}/?body_size=0"
    curl -fsS -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null "$url" "$url" "$url" "$url" "$url" || true
    sleep 0.5
    read -r rss_idle _ _ <<<"$(proxy_rss "$p")"
    ready="$WORK/idle-$p.ready"
    rm -f "$ready"
    python3 "$UTIL" idle-conns 127.0.0.1 "${PORT[$p]}" "$IDLE_CONNS" "/?body_size=0" "$ready" --hold 600 \
      >"$WORK/idle-$p.log" 2>&1 &
    holder=$!
    PIDS+=("$holder"); PID_NAME[$holder]="idle-conns-$p"
    for ((i = 0; i < 1200; i++)); do [[ -s "$ready" ]] && break; alive "$holder" || break; sleep 0.1; done
    [[ -s "$ready" ]] || { cat "$WORK/idle-$p.log" >&2; die "idle-connection holder for $p did not get ready"; }
    sleep 0.5
    read -r rss_conns _ _ <<<"$(proxy_rss "$p")"
    note="$(cat "$ready")"
    conns_open="$(sed -n 's/^open=\([0-9]*\).*/\1/p' "$ready")"
    stop_pid "$holder"; forget_pid "$holder"
    sleep 1
    read -r rss_after _ _ <<<"$(proxy_rss "$p")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "${counted//_/ }" "$rss_start" "$rss_idle" "$rss_conns" \
      "$conns_open" "$IDLE_CONNS" "$rss_after" "${other//_/ }" "$note" >>"$MEM_TSV"
    per="$(awk -v a="$rss_conns" -v b="$rss_idle" -v n="$IDLE_CONNS" 'BEGIN{printf "%.2f", (a-b)/n}')"
    log "memory $p: start ${rss_start} KiB, idle ${rss_idle} KiB, with $IDLE_CONNS conns ${rss_conns} KiB ($note) = $per KiB/conn, after close ${rss_after} KiB"
  done
fi

# ---- throughput -------------------------------------------------------------------------------
TSV="$OUT/compare.tsv"
printf 'conns\tbody\tproxy\tround\tposition\trps\tp50_ms\tp99_ms\trequests\tnon2xx\tconnect\tread\twrite\ttimeout\tsecs\tcpu_s\traw\n' >"$TSV"
DIED_NOTES=()
if [[ $DO_BENCH == 1 ]]; then
  run_no=0
  for cell in "${CELLS[@]}"; do
    c="${cell%%:*}" b="${cell##*:}"
    for ((r = 1; r <= ROUNDS; r++)); do
      n=${#PROXIES[@]}
      for ((k = 0; k < n; k++)); do
        p="${PROXIES[$(( (k + r - 1) % n ))]}"
        run_no=$((run_no + 1))
        if [[ -n "${DEAD[$p]:-}" ]]; then log "skip $p (died earlier)"; continue; fi
        url="http://127.0.0.1:${PORT[$p]}/?body_size=$b"
        raw="$RAW/c${c}-b${b}-r${r}-$p.txt"
        if [[ "$WARM_S" -gt 0 ]]; then
          fg_run "$RAW/c${c}-b${b}-r${r}-$p.warmup.txt" \
            taskset -c "$LOAD_CPU" wrk -t"$WRK_THREADS" -c"$c" -d"$WARMUP" --timeout "$WRK_TIMEOUT" "$url" || true
        fi
        cpu0="$(python3 "$UTIL" cputime "${PID_OF[$p]}")"
        fg_run "$raw" taskset -c "$LOAD_CPU" wrk -t"$WRK_THREADS" -c"$c" -d"$DURATION" --timeout "$WRK_TIMEOUT" \
          --latency "$url" || log "wrk exited non-zero for $p (see $raw)"
        cpu1="$(python3 "$UTIL" cputime "${PID_OF[$p]}")"
        cpu_s="$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{printf "%.3f", b - a}')"
        fields="$(python3 "$UTIL" parse-wrk "$raw")"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$b" "$p" "$r" "$((k + 1))" "$fields" "$cpu_s" "${raw#"$REPO"/}" >>"$TSV"
        read -r rps p50 p99 req non2xx ce re we te secs <<<"$fields"
        cpu_info="$(awk -v c="$cpu_s" -v s="$secs" -v n="$req" 'BEGIN{ if (s > 0 && n > 0) printf "proxy CPU %.0f%%, %.1f us/req", 100*c/s, 1e6*c/n; else printf "no requests" }')"
        errs=""
        if [[ "$non2xx" != 0 || "$ce$re$we$te" != 0000 ]]; then
          errs="  ERRORS: non-2xx $non2xx, socket connect/read/write/timeout $ce/$re/$we/$te"
        fi
        log "[$run_no/$N_RUNS] c=$c body=$b round $r $p: $rps req/s, p50 $p50 ms, p99 $p99 ms, $cpu_info$errs"
        if ! alive "${PID_OF[$p]}"; then
          DEAD[$p]=1
          DIED_NOTES+=("$p DIED during c=$c body=$b round $r")
          log "ERROR: $p is no longer running (during c=$c body=$b round $r)"; show_log "$p"
        fi
      done
    done
  done
fi

# ---- TLS ----------------------------------------------------------------------------------------
TLS_TSV="$OUT/tls.tsv"
if [[ $DO_TLS == 1 ]]; then
  if [[ " ${PROXIES[*]} " == *" strait "* && -n "${STRAIT_ADMIN:-}" ]]; then
    port="$(curl -fsS --max-time 2 "http://$STRAIT_ADMIN/listeners" |
      python3 -c 'import json,sys; print(next(l["port"] for l in json.load(sys.stdin)["listeners"] if l["name"]=="bench_tls"))')"
    TLS_PORT[strait]=$port
  fi
  printf 'mode\tconns\tproxy\tround\trps\tp50_ms\tp99_ms\trequests\tnon2xx\tconnect\tread\twrite\ttimeout\tsecs\tcpu_s\traw\n' >"$TLS_TSV"
  for c in "${ALL_CONNS[@]}"; do
    for mode in keepalive handshake; do
      hdr=()
      [[ $mode == handshake ]] && hdr=(-H "Connection: close")
      for ((r = 1; r <= ROUNDS; r++)); do
        n=${#BASE_PROXIES[@]}
        for ((k = 0; k < n; k++)); do
          p="${BASE_PROXIES[$(( (k + r - 1) % n ))]}"
          [[ -n "${DEAD[$p]:-}" ]] && continue
          url="https://127.0.0.1:${TLS_PORT[$p]}/?body_size=0"
          raw="$RAW/tls-$mode-c${c}-r${r}-$p.txt"
          if [[ "$WARM_S" -gt 0 ]]; then
            fg_run "$raw.warmup" taskset -c "$LOAD_CPU" wrk -t"$WRK_THREADS" -c"$c" -d"$WARMUP" "${hdr[@]}" "$url" || true
          fi
          cpu0="$(python3 "$UTIL" cputime "${PID_OF[$p]}")"
          fg_run "$raw" taskset -c "$LOAD_CPU" wrk -t"$WRK_THREADS" -c"$c" -d"$DURATION" --timeout "$WRK_TIMEOUT" \
            --latency "${hdr[@]}" "$url" || log "wrk exited non-zero for $p (see $raw)"
          cpu1="$(python3 "$UTIL" cputime "${PID_OF[$p]}")"
          cpu_s="$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{printf "%.3f", b - a}')"
          fields="$(python3 "$UTIL" parse-wrk "$raw")"
          printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$c" "$p" "$r" "$fields" "$cpu_s" "${raw#"$REPO"/}" >>"$TLS_TSV"
          read -r rps p50 p99 req non2xx ce re we te secs <<<"$fields"
          log "TLS $mode c=$c round $r $p: $rps req/s, p50 $p50 ms, p99 $p99 ms, proxy CPU ${cpu_s}s, errors non-2xx $non2xx connect/read/write/timeout $ce/$re/$we/$te"
        done
      done
    done
  done
  log "TLS results: $TLS_TSV"
fi

# ---- HTTP/2 (h2load, h2c prior knowledge) ---------------------------------------------------------
H2_TSV="$OUT/h2load.tsv"
if [[ $DO_H2LOAD == 1 ]]; then
  command -v h2load >/dev/null || die "h2load not found (Debian package nghttp2-client)"
  [[ -n "$H2LOAD_REQUESTS" ]] || { if [[ $QUICK == 1 ]]; then H2LOAD_REQUESTS=20000; else H2LOAD_REQUESTS=100000; fi; }
  printf 'proxy\trequests\targs\treq_per_s\tsucceeded\tfailed\terrored\tfinished_in\tcpu_s\traw\n' >"$H2_TSV"
  for p in "${PROXIES[@]}"; do
    case "$p" in
      strait) h2port="${PORT[strait]}" ;;
      nginx) h2port="$PORT_NGINX_H2" ;;
      *) continue ;;  # haproxy would need its own h2 bind line; not compared yet
    esac
    [[ -z "${DEAD[$p]:-}" ]] || continue
    url="http://127.0.0.1:$h2port/?body_size=0"
    raw="$RAW/h2load-$p.txt"
    # shellcheck disable=SC2086 # H2LOAD_ARGS is a list of options
    fg_run "$RAW/h2load-$p.warmup.txt" taskset -c "$LOAD_CPU" h2load -n 2000 $H2LOAD_ARGS "$url" || true
    cpu0="$(python3 "$UTIL" cputime "${PID_OF[$p]}")"
    # shellcheck disable=SC2086
    fg_run "$raw" taskset -c "$LOAD_CPU" h2load -n "$H2LOAD_REQUESTS" $H2LOAD_ARGS "$url" || log "h2load exited non-zero for $p (see $raw)"
    cpu1="$(python3 "$UTIL" cputime "${PID_OF[$p]}")"
    cpu_s="$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{printf "%.3f", b - a}')"
    rps="$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$raw")"
    fin="$(sed -n 's/^finished in \([0-9.]*[a-z]*\),.*/\1/p' "$raw")"
    read -r ok failed errored <<<"$(sed -n 's/^requests: .* \([0-9]*\) succeeded, \([0-9]*\) failed, \([0-9]*\) errored.*/\1 \2 \3/p' "$raw")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$H2LOAD_REQUESTS" "$H2LOAD_ARGS" "${rps:-?}" \
      "${ok:-?}" "${failed:-?}" "${errored:-?}" "${fin:-?}" "$cpu_s" "${raw#"$REPO"/}" >>"$H2_TSV"
    log "h2load $p (h2c, $H2LOAD_REQUESTS requests, $H2LOAD_ARGS): ${rps:-?} req/s, succeeded ${ok:-?}, failed ${failed:-?}, errored ${errored:-?}, proxy CPU ${cpu_s}s"
  done
fi

# ---- report -----------------------------------------------------------------------------------
cleanup  # stop everything before the (CPU-light) report

if [[ $QUICK == 1 ]]; then MODE="quick (smoke test: $ROUNDS round x $DURATION)"; else MODE="full"; fi
META="$WORK/meta.tsv"
{
  printf 'date\t%s\n' "$(date '+%Y-%m-%d %H:%M:%S %Z')"
  printf 'command\t%s\n' "$CMDLINE"
  printf 'mode\t%s\n' "$MODE"
  printf 'machine\t%s CPU(s), %s, kernel %s\n' "$NPROC" "$CPU_MODEL" "$(uname -r)"
  printf 'pinning\tproxies on CPU %s; upstream and wrk on CPU %s\n' "$PROXY_CPU" "$LOAD_CPU"
  printf 'runs\t%s round(s) per cell, proxies interleaved (order rotated each round), %s per run after a %s warm-up; wrk -t%s --latency, median over rounds\n' "$ROUNDS" "$DURATION" "$WARMUP" "$WRK_THREADS"
  printf 'upstream\t%s\n' "$UPSTREAM_DESC"
  printf 'strait\t%s\n' "$STRAIT_DESC"
  if [[ -n "$CHAIN_DESC" ]]; then
    printf 'strait-chain\tthe strait binary and config on a second port, plus the %s filter chain (perf/lib/filter_chain.py --chain %s): %s; not in the memory, TLS and h2load sections\n' "$CHAIN_KIND" "$CHAIN_KIND" "$CHAIN_DESC"
  fi
  printf 'nginx\t%s; 1 worker, upstream keepalive 512, HTTP/1.1 to upstream, access_log off\n' "$NGINX_VERSION"
  printf 'haproxy\t%s; nbthread 1, mode http, http-reuse always, no log\n' "$HAPROXY_VERSION"
  printf 'wrk\t%s\n' "$WRK_VERSION"
  if [[ $DO_MEMORY == 1 ]]; then
    printf 'memory\tVmRSS from /proc/PID/status; strait and haproxy: the one process; nginx: the worker (master shown apart); %s idle connections, one request each\n' "$IDLE_CONNS"
  fi
  [[ ${#SKIPPED[@]} -gt 0 ]] && printf 'skipped\t%s\n' "${SKIPPED[*]}"
  [[ ${#DIED_NOTES[@]} -gt 0 ]] && printf 'FAILURES\t%s\n' "${DIED_NOTES[*]}"
  true
} >"$META"

RESULTS_ARG=()
if [[ $WRITE_RESULTS == 1 ]]; then RESULTS_ARG=(--results-md "$PERF_DIR/RESULTS.md"); fi
echo
python3 "$UTIL" report --tsv "$TSV" --mem "$MEM_TSV" --meta "$META" \
  --summary-tsv "$OUT/compare-summary.tsv" --png "$OUT/compare.png" --workdir "$WORK" \
  --section-out "$OUT/RESULTS.section.md" "${RESULTS_ARG[@]}"
echo
if [[ $WRITE_RESULTS == 1 ]]; then
  cp "$OUT/compare.png" "$PERF_DIR/compare.png"
  log "wrote perf/RESULTS.md (generated block), perf/compare.png, perf/out/compare.tsv"
else
  log "quick/partial run: perf/RESULTS.md and perf/compare.png left alone (use --write-results);"
  log "see perf/out/RESULTS.section.md, perf/out/compare.png, perf/out/compare.tsv"
fi
[[ " ${PROXIES[*]} " == *" strait "* ]] || log "NOTE: strait was not run (${SKIPPED[*]:-not in --proxies}): no ratios"
[[ $USE_NGINX_UPSTREAM == 0 ]] || log "NOTE: the upstream was the nginx fallback, not strait-test-upstream"
[[ $DO_H2LOAD == 0 ]] || { log "h2load (HTTP/2, h2c) results: $H2_TSV"; column -t -s $'\t' "$H2_TSV" >&2 || true; }
[[ ${#DIED_NOTES[@]} -eq 0 ]] || { log "FAILURES: ${DIED_NOTES[*]}"; exit 2; }
exit 0
