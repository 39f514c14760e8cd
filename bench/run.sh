#!/usr/bin/env bash
# harp's benchmark suite for issue 6's targets (BENCHMARKS.md, "Suite"): builds release
# binaries, then on 127.0.0.1 measures
#   - small GETs (PUBLIC route; USER route with a cached session) at 1, 16 and 64 connections,
#     through harp, through plain HAProxy (no authentication: what any proxy hop costs here),
#     through the null relay (`harp-bench relay`: two threads that only read and write, the
#     floor for one hop on this machine) and against the sample ExApp directly, interleaved,
#     with p50/p99/p99.9 (wrk);
#   - 1 GiB downloads and uploads (curl), the same three ways, with harp's peak RSS;
#   - cold authentication, WebSocket echo, idle WebSockets, start-up and idle RSS (harp-bench).
# Every scenario ends by itself. Prints Markdown tables on stdout.
#
#   bash bench/run.sh                       # everything (about 10 minutes)
#   BENCH_DURATION=5 BENCH_REPEATS=3        # per wrk point (defaults; medians)
#   BENCH_STREAM_REPEATS=5                  # 1 GiB transfers each way per path (median)
#   BENCH_ONLY="get stream"                 # a subset: get stream cold ws idle startup
#   HARP_BIN=... BENCH_NO_BUILD=1           # measure a given binary
#   BENCH_AWAKE=1                           # idle vCPUs poll instead of halting (PM QoS CPU
#       latency 0, bench/lib.sh; needs root), so that no path pays for waking a halted vCPU.
#       For one-connection latency.
# Needs wrk and curl; haproxy for the reference column (Debian: apt-get install -y wrk curl
# haproxy); without haproxy that column is left empty.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${BENCH_DURATION:-5}"
REPEATS="${BENCH_REPEATS:-3}"
STREAM_REPEATS="${BENCH_STREAM_REPEATS:-5}"  # the direct upload varies most from run to run
ONLY="${BENCH_ONLY:-get stream cold ws idle startup}"
export HARP_BIN="${HARP_BIN:-target/release/harp}"
BENCH=target/release/harp-bench
GIB=$((1 << 30))
COOKIE="Cookie: oc_sessionPassphrase=sess-usr"
HZ=$(getconf CLK_TCK)
TMP=$(mktemp -d)
HAPROXY_PID=""
RELAY_PID=""
# shellcheck source=bench/lib.sh
source bench/lib.sh
log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
wants() { [[ " $ONLY " == *" $1 "* ]]; }
cleanup() {
    [[ -n "$HAPROXY_PID" ]] && kill "$HAPROXY_PID" 2>/dev/null
    [[ -n "$RELAY_PID" ]] && kill "$RELAY_PID" 2>/dev/null
    stop_awake
    rm -rf "$TMP"
}
trap cleanup EXIT
command -v wrk >/dev/null || die "wrk is missing (Debian: apt-get install -y wrk)"
command -v curl >/dev/null || die "curl is missing (Debian: apt-get install -y curl)"
if [[ -z "${BENCH_NO_BUILD:-}" ]]; then
    log "building release binaries"
    cargo build --release -q -p harp -p harp-bench
fi
[[ -x "$HARP_BIN" && -x "$BENCH" ]] || die "$HARP_BIN or $BENCH missing"

start_awake

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sys_ticks() { awk '{print $15}' "/proc/$1/stat"; }
# Every process's CPU time on the whole machine (user, nice, system, irq, softirq, steal).
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# Median of column $2 over the rows of file $1 whose first columns are the remaining arguments.
med() {
    local file=$1 col=$2; shift 2
    local key; key=$(IFS=$'\t'; echo "$*")
    awk -F'\t' -v col="$col" -v n=$# -v key="$key" '
        { k = $1; for (i = 2; i <= n; i++) k = k "\t" $i; if (k == key) print $col }' "$file" |
        sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'
}
us() { [[ -z "$1" ]] && { echo "–"; return; }; awk -v v="$1" 'BEGIN { if (v >= 1000 || v <= -1000) printf "%.2f ms", v / 1000; else printf "%d µs", v }'; }
ratio() { [[ -z "$1" || -z "$2" ]] && { echo "–"; return; }; awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f×", a/b}'; }
diff_us() { [[ -z "$1" || -z "$2" ]] && { echo "–"; return; }; us $(( $1 - $2 )); }

# Starts `harp-bench serve` (stand-ins + harp); sets DIRECT, HARP, HARP_PID.
start_serve() {
    coproc SERVE { exec "$BENCH" serve; }
    local ready
    read -r -t 30 ready DIRECT HARP HARP_PID <&"${SERVE[0]}" || die "harp-bench serve did not start"
    [[ "$ready" == READY ]] || die "harp-bench serve: $ready"
    log "direct $DIRECT, harp $HARP (pid $HARP_PID)"
}
# Stops it; sets RSS_KIB and PEAK_KIB (harp's VmRSS / VmHWM just before it was stopped).
stop_serve() {
    # shellcheck disable=SC1083,SC2093  # closes the coproc's stdin; the script goes on
    exec {SERVE[1]}>&-
    read -r _ RSS_KIB PEAK_KIB <&"${SERVE[0]}" || true
    wait "$SERVE_PID" 2>/dev/null || true
}
# Plain HAProxy in front of the same ExApp, no authentication; sets HAPROXY ("" without it).
start_haproxy() {
    HAPROXY=""
    command -v haproxy >/dev/null || { log "haproxy not installed: no plain-HAProxy column"; return 0; }
    local port; port=$(free_port)
    plain_haproxy_cfg "$port" "${DIRECT#http://}" >"$TMP/haproxy.cfg"
    haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
    HAPROXY_PID=$!
    for _ in $(seq 100); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/public")" == 200 ]] && break
        sleep 0.05
    done
    HAPROXY="http://127.0.0.1:$port"
    log "plain HAProxy $HAPROXY (pid $HAPROXY_PID)"
}
stop_haproxy() { [[ -n "$HAPROXY_PID" ]] && kill "$HAPROXY_PID" 2>/dev/null; wait "$HAPROXY_PID" 2>/dev/null || true; HAPROXY_PID=""; }
# The null relay in front of the same ExApp; sets RELAY and RELAY_PID.
start_relay() {
    "$BENCH" relay --to "${DIRECT#http://}" >"$TMP/relay.out" 2>&1 &
    RELAY_PID=$!
    local ready=""
    for _ in $(seq 100); do
        read -r ready RELAY <"$TMP/relay.out" 2>/dev/null || true
        [[ "$ready" == READY ]] && break
        sleep 0.05
    done
    [[ "$ready" == READY ]] || die "harp-bench relay did not start: $(cat "$TMP/relay.out")"
    log "null relay $RELAY (pid $RELAY_PID)"
}
stop_relay() { [[ -n "$RELAY_PID" ]] && kill "$RELAY_PID" 2>/dev/null; wait "$RELAY_PID" 2>/dev/null || true; RELAY_PID=""; }
start_proxies() { start_relay; start_haproxy; }
stop_proxies() { stop_haproxy; stop_relay; }
targets() { echo direct relay ${HAPROXY:+haproxy} harp; }
url_of() { case $1 in direct) echo "$DIRECT" ;; relay) echo "$RELAY" ;; haproxy) echo "$HAPROXY" ;; harp) echo "$HARP" ;; esac; }
pid_of() { case $1 in relay) echo "$RELAY_PID" ;; haproxy) echo "$HAPROXY_PID" ;; harp) echo "$HARP_PID" ;; *) echo "" ;; esac; }

echo "harp benchmark suite · $(date -u '+%Y-%m-%d %H:%M UTC') · $(nproc) cores · harp $(git rev-parse --short HEAD)$(git diff --quiet || echo +dirty) · $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)$(command -v haproxy >/dev/null && haproxy -v | head -1 | awk '{print " · HAProxy", $3}')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)$(awake_note)"
echo

if wants get; then
    start_serve
    start_proxies
    R="$TMP/get"
    # rows: route conns target rate p50 p99 p999 errors proxy_ticks requests machine_ticks duration_us proxy_sys_ticks
    for rep in $(seq "$REPEATS"); do
        for conns in 1 16 64; do
            for route in public user; do
                for target in $(targets); do
                    url="$(url_of $target)/$route"; pid=$(pid_of $target)
                    t0=$([[ -n "$pid" ]] && cpu_ticks "$pid" || echo 0); m0=$(busy_ticks); s0=$([[ -n "$pid" ]] && sys_ticks "$pid" || echo 0)
                    out=$(wrk -t"$(( conns < 2 ? 1 : 2 ))" -c"$conns" -d"${DURATION}s" -H "$COOKIE" \
                        -s bench/latency.lua "$url" | grep '^BENCH') || die "wrk failed on $url"
                    t1=$([[ -n "$pid" ]] && cpu_ticks "$pid" || echo 0); m1=$(busy_ticks); s1=$([[ -n "$pid" ]] && sys_ticks "$pid" || echo 0)
                    read -r _ req dur errs non2xx p50 p99 p999 <<<"$out"
                    echo -e "$route\t$conns\t$target\t$(( req * 1000000 / dur ))\t$p50\t$p99\t$p999\t$(( errs + non2xx ))\t$(( t1 - t0 ))\t$req\t$(( m1 - m0 ))\t$dur\t$(( s1 - s0 ))" >>"$R"
                done
            done
        done
        log "small GETs: repeat $rep of $REPEATS done"
    done
    stop_proxies
    stop_serve
    echo "| route | conns | metric | direct | null relay | plain HAProxy | harp | harp ÷ direct | relay − direct | HAProxy − direct | **harp − direct** |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    for route in public user; do
        name=$([[ $route == public ]] && echo "PUBLIC" || echo "USER, cached session")
        for conns in 1 16 64; do
            d=$(med "$R" 4 $route $conns direct); r=$(med "$R" 4 $route $conns relay); a=$(med "$R" 4 $route $conns haproxy); h=$(med "$R" 4 $route $conns harp)
            echo "| $name | $conns | requests/s | $d | $r | ${a:-–} | $h | $(ratio "$h" "$d") | | | |"
            for k in 5:p50 6:p99 7:p99.9; do
                d=$(med "$R" "${k%%:*}" $route $conns direct); r=$(med "$R" "${k%%:*}" $route $conns relay); a=$(med "$R" "${k%%:*}" $route $conns haproxy); h=$(med "$R" "${k%%:*}" $route $conns harp)
                echo "| $name | $conns | latency ${k#*:} | $(us "$d") | $(us "$r") | $(us "$a") | $(us "$h") | $(ratio "$h" "$d") | $(diff_us "$r" "$d") | $(diff_us "$a" "$d") | **$(diff_us "$h" "$d")** |"
            done
            cpu() { awk -F'\t' -v r=$route -v c=$conns -v t="$1" -v hz="$HZ" '$1==r && $2==c && $3==t {k+=$9; s+=$13; n+=$10} END {if (n) printf "%.0f µs (kernel %.0f µs)", k/hz*1e6/n, s/hz*1e6/n; else printf "–"}' "$R"; }
            echo "| $name | $conns | proxy CPU per request | | $(cpu relay) | $(cpu haproxy) | $(cpu harp) | | | | |"
            mcpu() { awk -F'\t' -v r=$route -v c=$conns -v t="$1" -v hz="$HZ" '$1==r && $2==c && $3==t {k+=$11; n+=$10} END {if (n) printf "%.0f µs", k/hz*1e6/n; else printf "–"}' "$R"; }
            busy() { awk -F'\t' -v r=$route -v c=$conns -v t="$1" -v hz="$HZ" '$1==r && $2==c && $3==t {k+=$11; d+=$12} END {if (d) printf "%.2f", k/hz*1e6/d; else printf "–"}' "$R"; }
            echo "| $name | $conns | machine CPU per request (every process) | $(mcpu direct) | $(mcpu relay) | $(mcpu haproxy) | $(mcpu harp) | | | | |"
            echo "| $name | $conns | machine busy (cores of $(nproc)) | $(busy direct) | $(busy relay) | $(busy haproxy) | $(busy harp) | | | | |"
        done
    done
    errors=$(awk -F'\t' '{e+=$8} END {print e+0}' "$R")
    echo
    echo "Errors (socket errors + non-2xx) over all small-GET runs: $errors. harp RSS at the end: $(( ${RSS_KIB:-0} / 1024 )) MiB, peak $(( ${PEAK_KIB:-0} / 1024 )) MiB."
    echo
    [[ "$errors" == 0 ]] || die "$errors errors in the small-GET runs"
fi

if wants stream; then
    start_serve
    start_proxies
    R="$TMP/stream"
    truncate -s "$GIB" "$TMP/upload.bin"  # sparse: reading it costs no disk
    # Warm-up, not measured: a fresh stand-in's first large upload is several times slower than
    # the next ones (its allocator grows), whichever path comes first.
    for target in $(targets); do
        curl -s -o /dev/null -H "$COOKIE" --max-time 60 "$(url_of $target)/download?bytes=$((GIB / 4))" || die "warm-up download via $target"
        head -c $((GIB / 4)) "$TMP/upload.bin" | curl -s -o /dev/null -T - -H "$COOKIE" --max-time 60 "$(url_of $target)/upload" || die "warm-up upload via $target"
    done
    # rows: direction target bytes_per_s proxy_ticks machine_ticks
    for rep in $(seq "$STREAM_REPEATS"); do
        for target in $(targets); do
            url=$(url_of $target); pid=$(pid_of $target)
            t0=$([[ -n "$pid" ]] && cpu_ticks "$pid" || echo 0); m0=$(busy_ticks)
            read -r speed size code < <(curl -s -o /dev/null -H "$COOKIE" --max-time 120 \
                -w '%{speed_download} %{size_download} %{http_code}\n' "$url/download?bytes=$GIB") || true
            [[ "$code" == 200 && "$size" == "$GIB" ]] || die "download via $target: status ${code:-none}, ${size:-0} bytes"
            t1=$([[ -n "$pid" ]] && cpu_ticks "$pid" || echo 0); m1=$(busy_ticks)
            echo -e "download\t$target\t${speed%.*}\t$(( t1 - t0 ))\t$(( m1 - m0 ))" >>"$R"
            out=$(curl -s -T "$TMP/upload.bin" -H "$COOKIE" --max-time 120 -w ' %{speed_upload} %{http_code}' "$url/upload") || true
            [[ "$out" == "{\"bytes\":$GIB} "*" 200" ]] || die "upload via $target: $out"
            speed=$(awk '{print $2}' <<<"$out")
            t2=$([[ -n "$pid" ]] && cpu_ticks "$pid" || echo 0); m2=$(busy_ticks)
            echo -e "upload\t$target\t${speed%.*}\t$(( t2 - t1 ))\t$(( m2 - m1 ))" >>"$R"
        done
        log "1 GiB transfers: repeat $rep of $STREAM_REPEATS done ($(awk -F'\t' -v n=$(( $(targets | wc -w) * 2 )) '{a[NR]=$1" "$2" "int($3/1048576)} END {for (i = NR - n + 1; i <= NR; i++) printf "%s MiB/s; ", a[i]}' "$R"))"
    done
    stop_proxies
    stop_serve
    mib() { [[ -z "$1" ]] && { echo "–"; return; }; awk -v v="$1" 'BEGIN{printf "%.0f", v/1048576}'; }
    echo "| 1 GiB, one connection (curl) | metric | direct | null relay | plain HAProxy | harp | **harp ÷ direct** | relay ÷ direct | HAProxy ÷ direct |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for dir in download upload; do
        d=$(med "$R" 3 $dir direct); r=$(med "$R" 3 $dir relay); a=$(med "$R" 3 $dir haproxy); h=$(med "$R" 3 $dir harp)
        echo "| $dir | MiB/s | $(mib "$d") | $(mib "$r") | $(mib "$a") | $(mib "$h") | **$(ratio "$h" "$d")** | $(ratio "$r" "$d") | $(ratio "$a" "$d") |"
        cpu() { awk -F'\t' -v d=$dir -v t="$1" -v hz="$HZ" '$1==d && $2==t {k+=$4; n++} END {if (n) printf "%.2f", k/hz/n; else printf "–"}' "$R"; }
        echo "| $dir | proxy CPU s per GiB | | $(cpu relay) | $(cpu haproxy) | $(cpu harp) | | | |"
        mcpu() { awk -F'\t' -v d=$dir -v t="$1" -v hz="$HZ" '$1==d && $2==t {k+=$5; n++} END {if (n) printf "%.2f", k/hz/n; else printf "–"}' "$R"; }
        echo "| $dir | machine CPU s per GiB (every process) | $(mcpu direct) | $(mcpu relay) | $(mcpu haproxy) | $(mcpu harp) | | | |"
    done
    echo
    echo "harp's peak RSS (VmHWM) over all the transfers above: **$(( ${PEAK_KIB:-0} / 1024 )) MiB** (RSS at the end: $(( ${RSS_KIB:-0} / 1024 )) MiB)."
    echo
fi

if wants cold || wants idle || wants startup; then
    echo "| scenario | metric | value |"
    echo "|---|---|---|"
fi
wants cold && "$BENCH" cold-auth --sessions 1000 --concurrency 16 --burst 100
wants idle && "$BENCH" ws-idle --count "${BENCH_IDLE_WS:-9900}"
wants startup && "$BENCH" startup --runs 10
if wants ws; then
    # The client is a process of its own (the ExApp and harp run under `serve`), so every
    # path crosses the same number of processes.
    start_serve
    start_proxies
    ws_url() { local u; u=$(url_of "$1"); echo "ws://${u#http://}/ws"; }
    args=()
    for target in $(targets); do args+=(--target "$target=$(ws_url $target)"); done
    echo
    if [[ -n "$HAPROXY" ]]; then
        echo "| scenario | metric | direct | null relay | plain HAProxy | harp | harp ÷ direct | relay ÷ direct | HAProxy ÷ direct |"
        echo "|---|---|---|---|---|---|---|---|---|"
    else
        echo "| scenario | metric | direct | null relay | harp | harp ÷ direct | relay ÷ direct |"
        echo "|---|---|---|---|---|---|---|"
    fi
    "$BENCH" ws-echo "${args[@]}" --conns 1,64 --secs "$DURATION" --repeats "$REPEATS"
    stop_proxies
    stop_serve
fi
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
