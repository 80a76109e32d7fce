#!/usr/bin/env bash
# The Safety benchmark: `talaka serve` (release) with the Safety module on, 100,000 people
# registered with armed check-in schedules, alerts triggered through the fake Bot API at
# 100 a second; then the cost of finding due deadlines at three sizes, side by side.
# usage: bash bench/safety/run.sh [PEOPLE [RATE [SECONDS]]]   defaults: 100000 100 60
set -euo pipefail
cd "$(dirname "$0")/../.."
people=${1:-100000}
rate=${2:-100}
seconds=${3:-60}
cargo build --release --quiet -p talaka -p talaka-bench-safety
target=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -m)"
echo "command: bash bench/safety/run.sh $people $rate $seconds"
"$target/talaka-bench-safety" setup "$work/talaka.db" "$work/safety.key" "$secret" "$people"
"$target/talaka-bench-safety" drive "$target/talaka" "$work" "$work/talaka.db" "$work/safety.key" "$secret" "$rate" "$seconds"
"$target/talaka-bench-safety" lookup
