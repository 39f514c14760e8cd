#!/usr/bin/env bash
# harp's benchmark suite for issue 6's targets (BENCHMARKS.md, "Suite"): builds release
# binaries, then on 127.0.0.1 measures
#   - small GETs (PUBLIC route; USER route with a cached session) at 1, 16 and 64 connections,
#     through harp and against the sample ExApp directly, interleaved, with p50/p99/p99.9 (wrk);
#   - cold authentication, WebSocket echo, idle WebSockets, start-up and idle RSS (harp-bench).
# Every scenario ends by itself. Prints Markdown tables on stdout.
#
#   bash bench/run.sh                       # everything (about 6 minutes)
#   BENCH_DURATION=5 BENCH_REPEATS=3        # per wrk point (defaults)
#   BENCH_ONLY="get ws"                     # a subset: get cold ws idle startup
#   HARP_BIN=... BENCH_NO_BUILD=1           # measure a given binary
# Needs wrk (Debian: apt-get install -y wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${BENCH_DURATION:-5}"
REPEATS="${BENCH_REPEATS:-3}"
ONLY="${BENCH_ONLY:-get cold ws idle startup}"
export HARP_BIN="${HARP_BIN:-target/release/harp}"
BENCH=target/release/harp-bench
log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
wants() { [[ " $ONLY " == *" $1 "* ]]; }
command -v wrk >/dev/null || die "wrk is missing (Debian: apt-get install -y wrk)"
if [[ -z "${BENCH_NO_BUILD:-}" ]]; then
    log "building release binaries"
    cargo build --release -q -p harp -p harp-bench
fi
[[ -x "$HARP_BIN" && -x "$BENCH" ]] || die "$HARP_BIN or $BENCH missing"

echo "harp benchmark suite · $(date -u '+%Y-%m-%d %H:%M UTC') · $(nproc) cores · harp $(git rev-parse --short HEAD)$(git diff --quiet || echo +dirty) · $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

if wants get; then
    TMP=$(mktemp -d)
    coproc SERVE { exec "$BENCH" serve; }
    read -r -t 30 ready direct harp pid <&"${SERVE[0]}" || die "harp-bench serve did not start"
    [[ "$ready" == READY ]] || die "harp-bench serve: $ready"
    log "direct $direct, harp $harp (pid $pid)"
    cookie="Cookie: oc_sessionPassphrase=sess-usr"
    cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
    # results: scenario conns target rate p50 p99 p999 errors harp_ticks requests
    for rep in $(seq "$REPEATS"); do
        for conns in 1 16 64; do
            for route in public user; do
                for target in direct harp; do
                    url="${!target}/$route"
                    t0=$(cpu_ticks "$pid")
                    out=$(wrk -t"$(( conns < 2 ? 1 : 2 ))" -c"$conns" -d"${DURATION}s" -H "$cookie" \
                        -s bench/latency.lua "$url" | grep '^BENCH') || die "wrk failed on $url"
                    t1=$(cpu_ticks "$pid")
                    read -r _ req dur errs non2xx p50 p99 p999 <<<"$out"
                    echo -e "$route\t$conns\t$target\t$(( req * 1000000 / dur ))\t$p50\t$p99\t$p999\t$(( errs + non2xx ))\t$(( t1 - t0 ))\t$req" >>"$TMP/results"
                done
            done
        done
        log "small GETs: repeat $rep of $REPEATS done"
    done
    exec {SERVE[1]}>&-
    read -r _ rss peak <&"${SERVE[0]}" || true
    HZ=$(getconf CLK_TCK)
    med() { awk -F'\t' -v r="$1" -v c="$2" -v t="$3" -v k="$4" '$1==r && $2==c && $3==t {print $k}' "$TMP/results" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    us() { awk -v v="$1" 'BEGIN { if (v >= 1000) printf "%.2f ms", v / 1000; else printf "%d µs", v }'; }
    echo "| route | conns | metric | direct | harp | harp ÷ direct | harp − direct |"
    echo "|---|---|---|---|---|---|---|"
    for route in public user; do
        name=$([[ $route == public ]] && echo "PUBLIC" || echo "USER, cached session")
        for conns in 1 16 64; do
            d=$(med $route $conns direct 4); h=$(med $route $conns harp 4)
            echo "| $name | $conns | requests/s | $d | $h | $(awk -v a="$h" -v b="$d" 'BEGIN{printf "%.2f×", a/b}') | |"
            for k in 5:p50 6:p99 7:p99.9; do
                d=$(med $route $conns direct "${k%%:*}"); h=$(med $route $conns harp "${k%%:*}")
                echo "| $name | $conns | latency ${k#*:} | $(us "$d") | $(us "$h") | $(awk -v a="$h" -v b="$d" 'BEGIN{printf "%.2f×", a/b}') | $(us $(( h - d ))) |"
            done
            ticks=$(awk -F'\t' -v r=$route -v c=$conns '$1==r && $2==c && $3=="harp" {t+=$9; n+=$10} END {print t" "n}' "$TMP/results")
            echo "| $name | $conns | harp CPU per request | | $(awk -v t="${ticks% *}" -v n="${ticks#* }" -v hz="$HZ" 'BEGIN{printf "%.0f µs", t/hz*1e6/n}') | | |"
        done
    done
    errors=$(awk -F'\t' '{e+=$8} END {print e+0}' "$TMP/results")
    echo
    echo "Errors (socket errors + non-2xx) over all small-GET runs: $errors. harp RSS at the end: $(( ${rss:-0} / 1024 )) MiB, peak $(( ${peak:-0} / 1024 )) MiB."
    echo
    rm -rf "$TMP"
    [[ "$errors" == 0 ]] || die "$errors errors in the small-GET runs"
fi

echo "| scenario | metric | value |"
echo "|---|---|---|"
wants cold && "$BENCH" cold-auth --sessions 1000 --concurrency 16 --burst 100
wants idle && "$BENCH" ws-idle --count "${BENCH_IDLE_WS:-9900}"
wants startup && "$BENCH" startup --runs 10
if wants ws; then
    echo
    echo "| scenario | metric | direct | harp | harp ÷ direct |"
    echo "|---|---|---|---|---|"
    "$BENCH" ws-echo --conns 1,64 --secs "$DURATION" --repeats "$REPEATS"
fi
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
