#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/*.rs) for a bounded time, on stable Rust.
#
#   bash scripts/fuzz.sh [seconds-per-target] [target ...]     # default: 60 s, every target
#
# cargo-fuzz needs nightly only for -Zsanitizer; libfuzzer-sys itself builds on stable when the
# coverage instrumentation flags are passed by hand, which is what this script does (no
# AddressSanitizer: the code under test is `#![forbid(unsafe_code)]`). `--target <host>` keeps the
# flags off build scripts and proc-macros, as cargo-fuzz does.
#
# Each target starts from the committed seeds in fuzz/corpus/<target>/ and writes what it learns
# to fuzz/target/corpus/<target>/ (never committed). A crash leaves its input in
# fuzz/target/artifacts/<target>/: fix the bug, then copy the file to fuzz/regressions/<target>/,
# where `cargo test` (tests/fuzz_replay.rs in harp and frp-wire) replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

host="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
(cd fuzz && cargo build --locked --release --bins --target "$host" --target-dir target)
bin="fuzz/target/$host/release"

failed=()
printf '%-14s %12s %8s %8s\n' target executions seconds corpus
for t in "${targets[@]}"; do
  work="fuzz/target/corpus/$t" artifacts="fuzz/target/artifacts/$t" log="fuzz/target/$t.log"
  mkdir -p "$work" "$artifacts"
  case "$t" in frp_*) max_len=12288 ;; *) max_len=4096 ;; esac
  started=$SECONDS
  if "$bin/$t" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "fuzz/corpus/$t" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
  fi
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  printf '%-14s %12s %8s %8s %s\n' "$t" "${runs:-?}" "$((SECONDS - started))" \
    "$(find "$work" -type f | wc -l)" "$status"
done

if [ "${#failed[@]}" -gt 0 ]; then
  for t in "${failed[@]}"; do
    echo "--- $t (fuzz/target/$t.log, inputs in fuzz/target/artifacts/$t/):"
    grep -v '^#' "fuzz/target/$t.log" | tail -40
  done
  exit 1
fi
