#!/usr/bin/env bash
# The ingest benchmark: participants' reports through the JSON API into SQLite (WAL,
# synchronous=FULL), the server and the load generator on this machine, then the recompute of
# every station verdict and the national summary at that volume.
# usage: bash bench/ingest/run.sh [REPORTS [STATIONS [CONNECTIONS [BATCH]]]]
#        defaults: 1260000 reports (Golos 2020), 5000 stations, 128 connections, 1 report per request
set -euo pipefail
cd "$(dirname "$0")/../.."
reports=${1:-1260000}
stations=${2:-5000}
connections=${3:-128}
batch=${4:-1}
cargo build --release --quiet -p talaka-bench-ingest
bin=${CARGO_TARGET_DIR:-target}/release/talaka-bench-ingest
work=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
db=$work/talaka.db
key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
port=$((20000 + RANDOM % 20000))
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -m)"
echo "command: bash bench/ingest/run.sh $reports $stations $connections $batch"
token=$("$bin" setup "$db" "$stations")
"$bin" serve "$db" "127.0.0.1:$port" "$key" 2>"$work/server.log" &
server=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.05
done
"$bin" load "http://127.0.0.1:$port" "$token" "$stations" "$reports" "$connections" "$batch"
kill "$server"; wait "$server" 2>/dev/null || true; server=""
ls -l "$db"* | awk '{print "file:", $NF, $5, "bytes"}'
"$bin" verdicts "$db"
