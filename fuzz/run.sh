#!/bin/sh
# Fuzz every importer of crates/import with libFuzzer: `fuzz/run.sh [SECONDS]` runs each target
# (generic, cec, voice2020, exitpoll) for SECONDS (default 60) and stops at the first crash,
# leaving the input in fuzz/artifacts/TARGET/. Installs cargo-fuzz if it is missing.
#
# cargo-fuzz needs nightly compiler flags: it uses a nightly toolchain when rustup has one, and
# otherwise the stable compiler with RUSTC_BOOTSTRAP=1.
#
# Seeds: the first lines of the real files in ../shared/data (when present) are copied into
# fuzz/corpus/TARGET/ (ignored by git) so that the fuzzer starts from valid files.
set -eu

seconds="${1:-60}"
case "$seconds" in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

here="$(cd "$(dirname "$0")" && pwd)"
data="$here/../../shared/data"
cd "$here"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz from crates.io" >&2
    cargo install cargo-fuzz --locked
fi

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz() { cargo +nightly fuzz "$@"; }
else
    fuzz() { RUSTC_BOOTSTRAP=1 cargo fuzz "$@"; }
fi

# seed TARGET FILE LINES: the header and the first LINES rows of FILE as one corpus entry.
seed() {
    mkdir -p "corpus/$1"
    if [ -f "$2" ]; then
        head -n "$3" "$2" > "corpus/$1/seed-$(basename "$2")"
    fi
}
seed voice2020 "$data/belarus-2020/voice.csv" 40
seed exitpoll "$data/russia/2024-exit-poll-abroad.csv" 70
if [ -f "$data/russia/2024.csv.zip" ] && command -v unzip >/dev/null 2>&1; then
    mkdir -p corpus/cec
    unzip -p "$data/russia/2024.csv.zip" | head -n 30 > corpus/cec/seed-2024.csv || true
fi
mkdir -p corpus/generic
printf 'station,region,registered,ballots_issued,ballots_cast,option:Alice,option:Bob\n12,North,1000,612,610,400,198\n13,North,1200,700,700,350,340\n' \
    > corpus/generic/seed.csv

fuzz build
start=$(date +%s)
for target in generic cec voice2020 exitpoll; do
    echo "== $target: $seconds s" >&2
    fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=65536
done
echo "all targets ran $seconds s each without a crash ($(( $(date +%s) - start )) s of fuzzing after the build)" >&2
