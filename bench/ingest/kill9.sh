#!/usr/bin/env bash
# kill -9 during ingest: the server is killed at random moments CYCLES times while a client
# sends reports and writes down every receipt it was given; after each kill the server is
# restarted (and the restart timed). At the end every acknowledged report must be in the
# database exactly once, each acknowledged participant counted once, and PRAGMA
# integrity_check must say ok.
# usage: bash bench/ingest/kill9.sh [CYCLES [REPORTS [STATIONS]]]   (defaults: 10, 300000, 2000)
set -euo pipefail
cd "$(dirname "$0")/../.."
cycles=${1:-10}
reports=${2:-300000}
stations=${3:-2000}
cargo build --release --quiet -p talaka-bench-ingest
bin=${CARGO_TARGET_DIR:-target}/release/talaka-bench-ingest
work=$(mktemp -d)
server=""
loader=""
cleanup() {
  [ -n "$server" ] && kill -9 "$server" 2>/dev/null
  [ -n "$loader" ] && kill "$loader" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
db=$work/talaka.db
key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
port=$((20000 + RANDOM % 20000))
url="http://127.0.0.1:$port"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores; $cycles kills, $reports reports, $stations stations"
token=$("$bin" setup "$db" "$stations")

# Starts the server in this shell (so that $server is its pid) and sets $restart_ms to the time
# until it answers /healthz.
start_server() {
  local t0 t1
  t0=$(date +%s%N)
  "$bin" serve "$db" "127.0.0.1:$port" "$key" >/dev/null 2>>"$work/server.log" &
  server=$!
  for _ in $(seq 1 400); do
    curl -fs "$url/healthz" >/dev/null && break
    sleep 0.025
  done
  curl -fs "$url/healthz" >/dev/null || { echo "server did not come back" >&2; exit 1; }
  t1=$(date +%s%N)
  restart_ms=$(( (t1 - t0) / 1000000 ))
}

start_server
"$bin" load "$url" "$token" "$stations" "$reports" 32 1 "$work/receipts.txt" >"$work/load.txt" 2>&1 &
loader=$!
max_restart=0
for i in $(seq 1 "$cycles"); do
  # A random moment: 0.3 to 2.3 s into this cycle.
  sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.3 + (r % 2000) / 1000 }')"
  if ! kill -0 "$loader" 2>/dev/null; then
    echo "the load finished before kill $i; use more reports" >&2
    break
  fi
  kill -9 "$server"; wait "$server" 2>/dev/null || true
  start_server
  [ "$restart_ms" -gt "$max_restart" ] && max_restart=$restart_ms
  echo "kill $i: restarted and answering in $restart_ms ms"
done
wait "$loader"; loader=""
cat "$work/load.txt" | grep -E "^(accepted|total)"
kill "$server"; wait "$server" 2>/dev/null || true; server=""
echo "slowest restart: $max_restart ms (limit 5000)"
"$bin" check "$db" "$work/receipts.txt"
[ "$max_restart" -lt 5000 ] || { echo "restart too slow"; exit 1; }
