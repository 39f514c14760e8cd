#!/usr/bin/env bash
# A/B of harp binaries on the hot path: each binary runs under its own `harp-bench serve`
# (stand-ins + harp, all idle while the others are measured), and wrk sends small GETs on the
# USER route with a cached session to each in turn, interleaved, REPEATS × DURATION s at each
# connection count. Prints requests/s, p50/p99 and harp's CPU per request (medians).
#
#   bash bench/ab.sh target/release/harp /tmp/harp-candidate
#   bash bench/ab.sh target/release/harp "TOKIO_WORKER_THREADS=1 target/release/harp"
# An argument with spaces is run through `env` (variables first, then the binary).
# Knobs: BENCH_DURATION (5), BENCH_REPEATS (3), BENCH_CONNS ("16 64").
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${BENCH_DURATION:-5}"
REPEATS="${BENCH_REPEATS:-3}"
CONNS="${BENCH_CONNS:-16 64}"
BENCH=target/release/harp-bench
COOKIE="Cookie: oc_sessionPassphrase=sess-usr"
HZ=$(getconf CLK_TCK)
TMP=$(mktemp -d)
log() { printf '[ab] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
(($# >= 2)) || die "usage: bench/ab.sh BIN_A BIN_B [BIN_C ...]"
[[ -x "$BENCH" ]] || die "$BENCH missing: cargo build --release -p harp-bench"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

URLS=(); HARPS=()
for i in $(seq 0 $(($# - 1))); do
    spec="${*:$((i + 1)):1}"
    if [[ "$spec" == *" "* ]]; then
        printf '#!/bin/sh\nexec env %s "$@"\n' "$spec" >"$TMP/bin$i"
        chmod +x "$TMP/bin$i"
        bin="$TMP/bin$i"
    else
        bin="$spec"
    fi
    mkfifo "$TMP/in$i"
    HARP_BIN="$bin" "$BENCH" serve <"$TMP/in$i" >"$TMP/out$i" &
    PIDS+=($!)
    # shellcheck disable=SC2034  # the descriptor is held, never used: it keeps serve's stdin open
    exec {fd}>"$TMP/in$i"
    for _ in $(seq 300); do [[ -s "$TMP/out$i" ]] && break; sleep 0.1; done
    read -r ready _ harp pid <"$TMP/out$i" || die "serve $i did not start"
    [[ "$ready" == READY ]] || die "serve $i: $ready"
    URLS+=("$harp/user"); HARPS+=("$pid")
    log "$i: $spec → $harp (pid $pid)"
done

for rep in $(seq "$REPEATS"); do
    for conns in $CONNS; do
        for i in "${!URLS[@]}"; do
            t0=$(awk '{print $14 + $15}' "/proc/${HARPS[$i]}/stat")
            out=$(wrk -t"$(( conns < 2 ? 1 : 2 ))" -c"$conns" -d"${DURATION}s" -H "$COOKIE" -s bench/latency.lua "${URLS[$i]}" | grep '^BENCH') || die "wrk failed"
            t1=$(awk '{print $14 + $15}' "/proc/${HARPS[$i]}/stat")
            read -r _ req dur errs non2xx p50 p99 _ <<<"$out"
            ((errs + non2xx == 0)) || die "$((errs + non2xx)) errors on binary $i"
            echo -e "$i\t$conns\t$(( req * 1000000 / dur ))\t$p50\t$p99\t$(awk -v t=$((t1 - t0)) -v n="$req" -v hz="$HZ" 'BEGIN{printf "%.1f", t/hz*1e6/n}')" >>"$TMP/results"
        done
    done
    log "repeat $rep of $REPEATS done"
done

med() { awk -F'\t' -v i="$1" -v c="$2" -v k="$3" '$1==i && $2==c {print $k}' "$TMP/results" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "| binary | conns | requests/s | p50 | p99 | harp CPU per request |"
echo "|---|---|---|---|---|---|"
for conns in $CONNS; do
    for i in "${!URLS[@]}"; do
        echo "| \`${*:$((i + 1)):1}\` | $conns | $(med "$i" "$conns" 3) | $(med "$i" "$conns" 4) µs | $(med "$i" "$conns" 5) µs | $(med "$i" "$conns" 6) µs |"
    done
done
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC') · $(nproc) cores · USER route, cached session · medians of $REPEATS × ${DURATION} s · load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
