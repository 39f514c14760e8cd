#!/usr/bin/env bash
# Tunnel benchmark: throughput and request latency through harp's FRP tunnel server versus
# through real frps 0.65.0, on 127.0.0.1, in one run, interleaved.
#
#   client (wrk) ──> 127.0.0.1:A ──> frps ──TLS+yamux──> frpc ──> nginx   (path A, "frps")
#   client (wrk) ──> 127.0.0.1:B ──> harp ──TLS+yamux──> frpc ──> nginx   (path B, "harp")
#   client (wrk) ──> 127.0.0.1:C ──> harp ──TLS+yamux──> harp tunnel ──> nginx  (path C, "harpc")
#   client (wrk) ──────────────────────────────────────────────> nginx   ("direct")
#
# Both frpc processes are the same real frpc 0.65.0 with HaRP's ExApp frpc.toml shape (mutual
# TLS with harp's generated certificates, metadatas.token) and a localIP/localPort proxy. frps
# has HaRP's frps shape (frp-protocol.md §6) minus the Login httpPlugin (it only runs at login).
# Path C is the same harp server reached by harp's own client (`harp tunnel -c frpc.toml`, the
# same frpc.toml shape). After the wrk runs, one 1 GiB download per path (curl) gives the
# single-stream throughput.
#
# Usage: bash bench/tunnel.sh
# Environment:
#   BENCH_DURATION=5   seconds per wrk run        BENCH_REPEATS=3   repeats (medians are reported)
#   BENCH_KEEP=1       keep the temp dir (configs, logs, raw wrk output) and print its path
#   BENCH_NO_BUILD=1   skip `cargo build --release -p harp` (use the existing target/release/harp)
#   BENCH_SCENARIOS="small_c1 big_c4"  run only these scenarios (default: all four)
#   BENCH_HUGE_REPEATS=N  1 GiB downloads per path (default: BENCH_REPEATS; 0 skips them)
#   HARP_BIN=path      another harp binary (e.g. a profiling build; implies no build)
#   BENCH_AWAKE=1      idle vCPUs poll instead of halting (PM QoS CPU latency 0, bench/lib.sh;
#                      needs root): one-connection latency without the cost of waking halted vCPUs
#   FRPC_BIN / FRPS_BIN  frp binaries (default .peers/bin/{frpc,frps}, see scripts/install-peers.sh)
# Needs: wrk, nginx (Debian: apt-get install -y nginx-light wrk; no openssl: harp makes the
# certificates), curl, python3 (free ports only), cargo.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"
DURATION="${BENCH_DURATION:-5}"
REPEATS="${BENCH_REPEATS:-3}"
FRPC_BIN="${FRPC_BIN:-${ROOT}/.peers/bin/frpc}"
FRPS_BIN="${FRPS_BIN:-${ROOT}/.peers/bin/frps}"
if [[ -n "${HARP_BIN:-}" ]]; then BENCH_NO_BUILD=1; fi
HARP_BIN="${HARP_BIN:-${ROOT}/target/release/harp}"
KEY="benchkey"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

for tool in wrk nginx curl python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (Debian: apt-get install -y nginx-light wrk curl python3)"
done
[[ -x "$FRPC_BIN" && -x "$FRPS_BIN" ]] || die "frpc/frps missing: run scripts/install-peers.sh (or set FRPC_BIN/FRPS_BIN)"

# --- cleanup -----------------------------------------------------------------------------------
TMP="$(mktemp -d /tmp/harp-bench.XXXXXX)"
PIDS=()
cleanup() {
    local rc=$?
    set +e
    [[ -n "${WRK_PID:-}" ]] && kill "$WRK_PID" 2>/dev/null
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [[ "${BENCH_KEEP:-0}" == 1 || $rc -ne 0 ]]; then
        log "logs and raw output kept in ${TMP}"
    else
        rm -rf "$TMP"
    fi
    exit $rc
}
trap cleanup EXIT
# shellcheck source=bench/lib.sh
source "${SCRIPT_DIR}/lib.sh"
start_awake
if [[ -n "$AWAKE_PID" ]]; then PIDS+=("$AWAKE_PID"); fi
trap 'exit 130' INT TERM

# --- helpers -----------------------------------------------------------------------------------
# N distinct free loopback ports (all bound at once, then released).
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# wait_until <seconds> <description> <command...>: polls every 0.1 s, bounded.
wait_until() {
    local limit="$1" what="$2"; shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "timed out after ${limit}s waiting for ${what}"
        sleep 0.1
    done
}

http_ok() { [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1")" == 200 ]]; }
alive() { kill -0 "$1" 2>/dev/null; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
peak_rss_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# --- build -------------------------------------------------------------------------------------
if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
    log "cargo build --release -p harp"
    (cd "$ROOT" && cargo build --release -p harp) >&2
fi
[[ -x "$HARP_BIN" ]] || die "$HARP_BIN missing"

read -r P_NGINX P_EXAPPS P_CONTROL P_HARP_FRP P_FRPS P_A P_B P_C <<<"$(free_ports 8)"

# --- backend: nginx with a small file and a 10 MiB file ----------------------------------------
chmod 755 "$TMP"
mkdir -p "$TMP/www" "$TMP/nginx"
printf 'hello from the benchmark backend, a small static body of about one hundred bytes.......\n' >"$TMP/www/small"
head -c $((10 * 1024 * 1024)) /dev/urandom >"$TMP/www/big"
BIG_BYTES=$((10 * 1024 * 1024))
# 1 GiB of zeros without using the disk (a sparse file; nginx sends it with sendfile).
truncate -s 1G "$TMP/www/huge"
chmod -R a+rX "$TMP/www"
cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$P_NGINX;
        root $TMP/www;
    }
}
EOF
nginx -e "$TMP/nginx/error.log" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx/stdout.log" 2>&1 &
PIDS+=($!)
NGINX_PID=$!
wait_until 10 "nginx on :$P_NGINX" http_ok "http://127.0.0.1:$P_NGINX/small"
log "backend nginx on 127.0.0.1:$P_NGINX"

# --- path B: harp (started first: it generates the FRP certificates frps and frpc use too) -----
mkdir -p "$TMP/certs"
env -i PATH="$PATH" \
    HP_SHARED_KEY="$KEY" NC_INSTANCE_URL=http://127.0.0.1:9 \
    HP_EXAPPS_ADDRESS="127.0.0.1:$P_EXAPPS" HP_CONTROL_ADDRESS="127.0.0.1:$P_CONTROL" \
    HP_FRP_ADDRESS="127.0.0.1:$P_HARP_FRP" HP_CERTS_DIR="$TMP/certs" \
    HP_FRP_ALLOW_PORTS="$P_B,$P_C" DOCKER_HOST=unix:///nonexistent HP_LOG_LEVEL=info \
    "$HARP_BIN" >"$TMP/harp.log" 2>&1 &
PIDS+=($!)
HARP_PID=$!
wait_until 30 "harp heartbeat on :$P_CONTROL" http_ok "http://127.0.0.1:$P_CONTROL/heartbeat"
CERTS="$TMP/certs/frp"
for f in ca.crt server.crt server.key client.crt client.key; do
    [[ -s "$CERTS/$f" ]] || die "harp did not generate $CERTS/$f"
done
log "harp up (frp :$P_HARP_FRP, pid $HARP_PID)"

# --- path A: frps with HaRP's shape, reusing harp's certificates -------------------------------
cat >"$TMP/frps.toml" <<EOF
bindAddr = "127.0.0.1"
bindPort = $P_FRPS
proxyBindAddr = "127.0.0.1"
transport.tls.force = true
transport.tls.certFile = "$CERTS/server.crt"
transport.tls.keyFile = "$CERTS/server.key"
transport.tls.trustedCaFile = "$CERTS/ca.crt"
log.to = "console"
log.level = "info"
log.disablePrintColor = true
maxPortsPerClient = 1
allowPorts = [ { single = $P_A } ]
EOF
"$FRPS_BIN" -c "$TMP/frps.toml" >"$TMP/frps.log" 2>&1 &
PIDS+=($!)
FRPS_PID=$!
wait_until 20 "frps start" grep -q "started successfully" "$TMP/frps.log"
log "frps up (:$P_FRPS, pid $FRPS_PID)"

# --- the two frpc (HaRP ExApp shape, localIP/localPort proxy to nginx) -------------------------
frpc_toml() { # server_port remote_port name
    cat <<EOF
serverAddr = "127.0.0.1"
serverPort = $1
loginFailExit = false
log.to = "console"
log.disablePrintColor = true
transport.tls.enable = true
transport.tls.certFile = "$CERTS/client.crt"
transport.tls.keyFile = "$CERTS/client.key"
transport.tls.trustedCaFile = "$CERTS/ca.crt"
transport.tls.serverName = "harp.nc"
metadatas.token = "$KEY"

[[proxies]]
name = "$3"
type = "tcp"
localIP = "127.0.0.1"
localPort = $P_NGINX
remotePort = $2
EOF
}
frpc_toml "$P_FRPS" "$P_A" bench_frps >"$TMP/frpc-a.toml"
frpc_toml "$P_HARP_FRP" "$P_B" bench_harp >"$TMP/frpc-b.toml"
frpc_toml "$P_HARP_FRP" "$P_C" bench_harpc >"$TMP/frpc-c.toml"
"$FRPC_BIN" -c "$TMP/frpc-a.toml" >"$TMP/frpc-a.log" 2>&1 &
PIDS+=($!)
FRPC_A_PID=$!
"$FRPC_BIN" -c "$TMP/frpc-b.toml" >"$TMP/frpc-b.log" 2>&1 &
PIDS+=($!)
FRPC_B_PID=$!
"$HARP_BIN" tunnel -c "$TMP/frpc-c.toml" >"$TMP/harp-tunnel-c.log" 2>&1 &
PIDS+=($!)
FRPC_C_PID=$!
wait_until 30 "frpc (frps path) start proxy success" grep -q "start proxy success" "$TMP/frpc-a.log"
wait_until 30 "frpc (harp path) start proxy success" grep -q "start proxy success" "$TMP/frpc-b.log"
wait_until 30 "harp tunnel (path C) proxy published" grep -q "proxy published" "$TMP/harp-tunnel-c.log"
wait_until 10 "path A (frps) :$P_A" http_ok "http://127.0.0.1:$P_A/small"
wait_until 10 "path B (harp) :$P_B" http_ok "http://127.0.0.1:$P_B/small"
wait_until 10 "path C (harp + harp tunnel) :$P_C" http_ok "http://127.0.0.1:$P_C/small"
for port in "$P_NGINX" "$P_A" "$P_B" "$P_C"; do
    cmp -s <(curl -s --max-time 10 "http://127.0.0.1:$port/big") "$TMP/www/big" \
        || die "10 MiB body through :$port differs from the file"
done
log "clients on all paths up; bodies verified (direct :$P_NGINX, frps :$P_A, harp :$P_B, harp tunnel :$P_C)"

# --- RSS / CPU readings ------------------------------------------------------------------------
sleep 1
# Peak RSS is the kernel's own high-water mark (VmHWM), reset here, just before the idle reading
# ("5" to clear_refs). Nothing samples during the measurements: a sampler forking every quarter
# second took one core for milliseconds at a time and showed up in every path's p99.
for pid in "$FRPS_PID" "$HARP_PID" "$FRPC_A_PID" "$FRPC_B_PID" "$FRPC_C_PID"; do
    echo 5 2>/dev/null >"/proc/$pid/clear_refs" || log "cannot reset the peak RSS of pid $pid: its peak includes start-up"
done
IDLE_FRPS=$(rss_kib "$FRPS_PID"); IDLE_HARP=$(rss_kib "$HARP_PID")
IDLE_FRPC_A=$(rss_kib "$FRPC_A_PID"); IDLE_FRPC_B=$(rss_kib "$FRPC_B_PID"); IDLE_FRPC_C=$(rss_kib "$FRPC_C_PID")
CPU0_FRPS=$(cpu_ticks "$FRPS_PID"); CPU0_HARP=$(cpu_ticks "$HARP_PID")
CPU0_FRPC_A=$(cpu_ticks "$FRPC_A_PID"); CPU0_FRPC_B=$(cpu_ticks "$FRPC_B_PID"); CPU0_FRPC_C=$(cpu_ticks "$FRPC_C_PID")

# --- measurements ------------------------------------------------------------------------------
# scenario: name|path|connections|threads|close (1: "Connection: close", a new tunnel connection
# per request, which exercises frp's work-connection hand-off rather than the byte relay)
ALL_SCENARIOS=("small_c1|/small|1|1|0" "small_c64|/small|64|2|0" "close_c8|/small|8|2|1" "big_c4|/big|4|2|0")
SCENARIOS=()
for sc in "${ALL_SCENARIOS[@]}"; do
    if [[ -z "${BENCH_SCENARIOS:-}" || " ${BENCH_SCENARIOS} " == *" ${sc%%|*} "* ]]; then SCENARIOS+=("$sc"); fi
done
[[ ${#SCENARIOS[@]} -gt 0 ]] || die "BENCH_SCENARIOS=\"${BENCH_SCENARIOS:-}\" names none of: small_c1 small_c64 close_c8 big_c4"
TARGETS=("direct|$P_NGINX" "frps|$P_A" "harp|$P_B" "harpc|$P_C")
# results.tsv: scenario target rep req_s p50_us p99_us mib_s socket_errors non2xx
#              server_cpu_ticks frpc_cpu_ticks requests (CPU: the path's frps or harp, and its frpc)
RESULTS="$TMP/results.tsv"
: >"$RESULTS"

to_us() { # "123.45us" / "1.23ms" / "1.02s" -> microseconds
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") m = 1; else if (u == "ms") m = 1000; else if (u == "s") m = 1000000; else if (u == "m") m = 60000000; else m = 1
        printf "%.1f", n * m }'
}
to_mib() { # wrk Transfer/sec "1.23GB" (binary units) -> MiB
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "B") m = 1/1048576; else if (u == "KB") m = 1/1024; else if (u == "MB") m = 1; else if (u == "GB") m = 1024; else if (u == "TB") m = 1048576; else m = 0
        printf "%.1f", n * m }'
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
TOTAL=$((REPEATS * ${#SCENARIOS[@]} * ${#TARGETS[@]}))
RUN=0
for rep in $(seq "$REPEATS"); do
    for sc in "${SCENARIOS[@]}"; do
        IFS='|' read -r name path conns threads close <<<"$sc"
        extra=()
        [[ "$close" == 1 ]] && extra=(-H "Connection: close")
        for tg in "${TARGETS[@]}"; do
            IFS='|' read -r tname port <<<"$tg"
            RUN=$((RUN + 1))
            for pid in "$NGINX_PID" "$HARP_PID" "$FRPS_PID" "$FRPC_A_PID" "$FRPC_B_PID" "$FRPC_C_PID"; do
                alive "$pid" || die "a server process (pid $pid) died; see logs in $TMP"
            done
            out="$TMP/wrk-$name-$tname-$rep.txt"
            case "$tname" in
                frps) srv=$FRPS_PID; cli=$FRPC_A_PID ;;
                harp) srv=$HARP_PID; cli=$FRPC_B_PID ;;
                harpc) srv=$HARP_PID; cli=$FRPC_C_PID ;;
                *) srv=""; cli="" ;;
            esac
            s0=0; c0=0
            [[ -n "$srv" ]] && { s0=$(cpu_ticks "$srv"); c0=$(cpu_ticks "$cli"); }
            # In the background and waited for, so that Ctrl-C / TERM stop the run at once.
            wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency "${extra[@]}" "http://127.0.0.1:$port$path" >"$out" 2>&1 &
            WRK_PID=$!
            wait "$WRK_PID" || true
            WRK_PID=""
            s1=0; c1=0
            [[ -n "$srv" ]] && { s1=$(cpu_ticks "$srv"); c1=$(cpu_ticks "$cli"); }
            nreq=$(awk '/requests in/ {print $1}' "$out")
            req_s=$(awk '/^Requests\/sec:/ {print $2}' "$out")
            [[ -n "$req_s" ]] || die "wrk failed: $(cat "$out")"
            p50=$(to_us "$(awk '$1 == "50%" {print $2}' "$out")")
            p99=$(to_us "$(awk '$1 == "99%" {print $2}' "$out")")
            mib=$(to_mib "$(awk '/^Transfer\/sec:/ {print $2}' "$out")")
            errs=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$out")
            non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$tname" "$rep" "$req_s" "$p50" "$p99" "$mib" \
                "${errs:-0}" "${non2xx:-0}" "$((s1 - s0))" "$((c1 - c0))" "${nreq:-0}" >>"$RESULTS"
            log "[$RUN/$TOTAL] rep $rep $name $tname: ${req_s} req/s, p50 ${p50} µs, p99 ${p99} µs, ${mib} MiB/s, socket errors ${errs:-0}, non-2xx ${non2xx:-0}"
        done
    done
done

# One 1 GiB download per path, one stream each (curl), interleaved, REPEATS times.
HUGE="$TMP/huge.tsv"
: >"$HUGE"
for rep in $(seq "${BENCH_HUGE_REPEATS:-$REPEATS}"); do
    for tg in "${TARGETS[@]}"; do
        IFS='|' read -r tname port <<<"$tg"
        bps=$(curl -s -o /dev/null --max-time 300 -w '%{speed_download} %{size_download}' "http://127.0.0.1:$port/huge") || die "1 GiB download via $tname failed"
        read -r speed size <<<"$bps"
        [[ "$size" == 1073741824 ]] || die "1 GiB download via $tname got $size bytes"
        printf '%s\t%s\n' "$tname" "$(awk -v b="$speed" 'BEGIN { printf "%.1f", b / 1048576 }')" >>"$HUGE"
        log "1 GiB via $tname: $(tail -1 "$HUGE" | cut -f2) MiB/s"
    done
done
huge_median() { awk -F'\t' -v t="$1" '$1 == t { print $2 }' "$HUGE" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] + 0 }'; }

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
sleep 0.5
CPU1_FRPS=$(cpu_ticks "$FRPS_PID"); CPU1_HARP=$(cpu_ticks "$HARP_PID")
CPU1_FRPC_A=$(cpu_ticks "$FRPC_A_PID"); CPU1_FRPC_B=$(cpu_ticks "$FRPC_B_PID"); CPU1_FRPC_C=$(cpu_ticks "$FRPC_C_PID")
END_FRPS=$(rss_kib "$FRPS_PID"); END_HARP=$(rss_kib "$HARP_PID")
PEAK_FRPS=$(peak_rss_kib "$FRPS_PID"); PEAK_HARP=$(peak_rss_kib "$HARP_PID")
PEAK_FRPC_A=$(peak_rss_kib "$FRPC_A_PID"); PEAK_FRPC_B=$(peak_rss_kib "$FRPC_B_PID"); PEAK_FRPC_C=$(peak_rss_kib "$FRPC_C_PID")
HZ=$(getconf CLK_TCK)

# --- report ------------------------------------------------------------------------------------
median() { # scenario target column
    awk -F'\t' -v s="$1" -v t="$2" -v c="$3" '$1 == s && $2 == t { v[n++] = $c }
        END { if (!n) { print 0; exit }
              for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
              if (n % 2) print v[int(n / 2)]; else print (v[n / 2 - 1] + v[n / 2]) / 2 }' "$RESULTS"
}
median_cpu() { # scenario target column(10|11) unit(req|gib): CPU µs per request or CPU s per GiB
    awk -F'\t' -v s="$1" -v t="$2" -v c="$3" -v u="$4" -v hz="$HZ" -v big="$BIG_BYTES" '$1 == s && $2 == t && $12 > 0 {
            if (u == "req") v[n++] = $c / hz * 1e6 / $12; else v[n++] = $c / hz / ($12 * big / 1073741824) }
        END { if (!n) { print 0; exit }
              for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
              if (n % 2) print v[int(n / 2)]; else print (v[n / 2 - 1] + v[n / 2]) / 2 }' "$RESULTS"
}
total() { awk -F'\t' -v s="$1" -v t="$2" -v c="$3" '$1 == s && $2 == t { x += $c } END { print x + 0 }' "$RESULTS"; }
fmt_num() { # thousands separators, given decimals
    awk -v v="$1" -v d="$2" 'BEGIN {
        s = sprintf("%." d "f", v); split(s, p, "."); i = p[1]; o = ""
        while (length(i) > 3) { o = "," substr(i, length(i) - 2) o; i = substr(i, 1, length(i) - 3) }
        o = i o; if (d > 0) o = o "." p[2]; print o }'
}
fmt_lat() { # microseconds -> "135 µs" or "3.1 ms"
    awk -v v="$1" 'BEGIN { if (v < 1000) printf "%d µs", v + 0.5; else if (v < 100000) printf "%.1f ms", v / 1000; else printf "%d ms", v / 1000 + 0.5 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "–" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
cpu_s() { awk -v a="$1" -v b="$2" -v hz="$HZ" 'BEGIN { printf "%.1f s", (b - a) / hz }'; }

echo
echo "### Tunnel: harp vs frps 0.65.0 (same run, interleaved; medians of $REPEATS × ${DURATION} s)"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC') · $(nproc) cores · $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo) · harp $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)') · frp $("$FRPS_BIN" --version) · $(wrk --version 2>&1 | head -1 | awk '{print $1, $2}') · $(nginx -v 2>&1 | sed 's/^nginx version: //')$(awake_note)"
echo
echo "| scenario | metric | direct (nginx) | via frps + frpc | via harp + frpc | via harp + harp tunnel | frps ÷ direct | harp ÷ direct | **harp ÷ frps** | **harp + harp tunnel ÷ frps** |"
echo "|---|---|---|---|---|---|---|---|---|---|"
declare -A LABEL=([small_c1]="small GET (~90 B), 1 conn" [small_c64]="small GET (~90 B), 64 conns" [close_c8]="small GET, new connection per request, 8 conns" [big_c4]="10 MiB GET, 4 conns")
for sc in "${SCENARIOS[@]}"; do
    IFS='|' read -r name _ <<<"$sc"
    row() { # metric d a b c
        echo "| ${LABEL[$name]} | $1 | $2 | $3 | $4 | $5 | $(ratio "$6" "$8") | $(ratio "$7" "$8") | **$(ratio "$7" "$6")** | **$(ratio "$9" "$6")** |"
    }
    col=4; unit="req/s"
    [[ "$name" == big_c4 ]] && { col=7; unit="MiB/s"; }
    d=$(median "$name" direct $col); a=$(median "$name" frps $col); b=$(median "$name" harp $col); c=$(median "$name" harpc $col)
    row "$unit" "$(fmt_num "$d" 0)" "$(fmt_num "$a" 0)" "$(fmt_num "$b" 0)" "$(fmt_num "$c" 0)" "$a" "$b" "$d" "$c"
    for col in 5 6; do
        [[ $col == 5 ]] && m="latency p50" || m="latency p99"
        d=$(median "$name" direct $col); a=$(median "$name" frps $col); b=$(median "$name" harp $col); c=$(median "$name" harpc $col)
        row "$m" "$(fmt_lat "$d")" "$(fmt_lat "$a")" "$(fmt_lat "$b")" "$(fmt_lat "$c")" "$a" "$b" "$d" "$c"
    done
    if [[ "$name" == big_c4 ]]; then unit=gib; dec=2; m="CPU s per GiB"; else unit=req; dec=0; m="CPU µs per request"; fi
    for col in 10 11; do
        [[ $col == 10 ]] && who="server (frps / harp)" || who="client (frpc / frpc / harp tunnel)"
        a=$(median_cpu "$name" frps $col $unit); b=$(median_cpu "$name" harp $col $unit); c=$(median_cpu "$name" harpc $col $unit)
        echo "| ${LABEL[$name]} | $who $m | – | $(fmt_num "$a" $dec) | $(fmt_num "$b" $dec) | $(fmt_num "$c" $dec) | – | – | **$(ratio "$b" "$a")** | **$(ratio "$c" "$a")** |"
    done
done
d=$(huge_median direct); a=$(huge_median frps); b=$(huge_median harp); c=$(huge_median harpc)
[[ "${BENCH_HUGE_REPEATS:-$REPEATS}" == 0 ]] || echo "| 1 GiB GET, one stream (curl) | MiB/s | $(fmt_num "$d" 0) | $(fmt_num "$a" 0) | $(fmt_num "$b" 0) | $(fmt_num "$c" 0) | $(ratio "$a" "$d") | $(ratio "$b" "$d") | **$(ratio "$b" "$a")** | **$(ratio "$c" "$a")** |"
echo
echo "| process | RSS idle (after login) | RSS peak during the run | RSS at the end | CPU time over all runs |"
echo "|---|---|---|---|---|"
echo "| frps (path A server) | $(mib "$IDLE_FRPS") | $(mib "$PEAK_FRPS") | $(mib "$END_FRPS") | $(cpu_s "$CPU0_FRPS" "$CPU1_FRPS") |"
echo "| harp (path B server, whole process) | $(mib "$IDLE_HARP") | $(mib "$PEAK_HARP") | $(mib "$END_HARP") | $(cpu_s "$CPU0_HARP" "$CPU1_HARP") |"
echo "| frpc of path A | $(mib "$IDLE_FRPC_A") | $(mib "$PEAK_FRPC_A") | – | $(cpu_s "$CPU0_FRPC_A" "$CPU1_FRPC_A") |"
echo "| frpc of path B | $(mib "$IDLE_FRPC_B") | $(mib "$PEAK_FRPC_B") | – | $(cpu_s "$CPU0_FRPC_B" "$CPU1_FRPC_B") |"
echo "| harp tunnel (client of path C) | $(mib "$IDLE_FRPC_C") | $(mib "$PEAK_FRPC_C") | – | $(cpu_s "$CPU0_FRPC_C" "$CPU1_FRPC_C") |"
echo
errs_line=""
for tg in direct frps harp harpc; do
    e=0; n=0
    for sc in "${SCENARIOS[@]}"; do
        IFS='|' read -r name _ <<<"$sc"
        e=$((e + $(total "$name" "$tg" 8))); n=$((n + $(total "$name" "$tg" 9)))
    done
    errs_line+="${tg}: ${e} socket errors, ${n} non-2xx; "
done
echo "Errors over all runs: ${errs_line%; }."
echo
echo "Ratios: throughput and latency ÷ the column named; for latency a ratio above 1 is slower."
echo "All processes (wrk, nginx with 1 worker, frps, harp, both frpc, harp tunnel) share the machine's cores;"
echo "load average (1/5/15 min) before the runs: ${LOAD_START}, after: ${LOAD_END}."
echo "Command: \`bash bench/tunnel.sh\` (${BENCH_AWAKE:+BENCH_AWAKE=$BENCH_AWAKE }BENCH_DURATION=$DURATION BENCH_REPEATS=$REPEATS${BENCH_SCENARIOS:+ BENCH_SCENARIOS=\"$BENCH_SCENARIOS\"}${BENCH_HUGE_REPEATS:+ BENCH_HUGE_REPEATS=$BENCH_HUGE_REPEATS})."
