#!/usr/bin/env bash
# The forensics benchmark: the import and the whole suite in Rust, and the integer test's
# Monte Carlo in Rust and in vectorised NumPy, side by side in one run.
# usage: bash bench/forensics/run.sh [YEAR LEADER]...   (default: 2018 Путин, 2011 "ЕДИНАЯ РОССИЯ")
set -euo pipefail
cd "$(dirname "$0")/../.."
data=../shared/data/russia
[ -d "$data" ] || { echo "no $data: the benchmark needs ../shared/data" >&2; exit 1; }
python3 -c 'import numpy' 2>/dev/null || pip install --quiet numpy
cargo build --release --quiet -p talaka-bench-forensics
bin=target/release/talaka-bench-forensics
[ $# -gt 0 ] || set -- 2018 Путин 2011 "ЕДИНАЯ РОССИЯ"
echo "date: $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m)"
while [ $# -ge 2 ]; do
  year=$1 leader=$2; shift 2
  echo
  echo "### $year ($leader)"
  "$bin" "$data/$year.csv.zip" "$leader" 1000
  python3 bench/forensics/integer_numpy.py "$data/$year.csv.zip" "$leader" 1000
  echo
  echo "memory by size (first N stations):"
  for n in 25000 50000 100000; do
    "$bin" "$data/$year.csv.zip" "$leader" 1000 "$n" 2>/dev/null | grep -E "^\| stations|analysis, above" | tr '\n' ' '
    echo
  done
done
