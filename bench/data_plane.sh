#!/usr/bin/env bash
# Data-plane benchmark: requests through harp's `/exapps/<appid>/...` (authentication, routes,
# forwarding) versus plain HAProxy (no authentication: what a fast proxy costs here) versus the
# ExApp reached directly, on 127.0.0.1, in one run, interleaved.
#
#   client ──> harp   /exapps/demo-app/<path> ──(routes, auth: Nextcloud stand-in)──> ExApp /<path>
#   client ──> HAProxy 2.6 (mode http, one server) ─────────────────────────────────> ExApp /<path>
#   client ──────────────────────────────────────────────────────────────────────────> ExApp /<path>
#
# Backends: `harp demo` started in its own process provides the Nextcloud stand-in (users
# admin:admin, usr:password; the session cookie oc_sessionPassphrase=sess-usr is usr's) and the
# sample ExApp `demo-app` (routes ^/public PUBLIC, ^/user USER, ^/ws$ USER, ...). The harp under
# test is a separate `harp` process configured by HP_* variables like a real deployment and
# pointed at that stand-in, so its memory and CPU are its own (the demo's embedded harp stays
# idle). Note: the sample ExApp keeps an echo of every request it serves (a test aid), so the
# backend process grows by ~2 KiB per request (about 6 GiB over a default run; the script stops
# if less than 3 GiB of memory is left); harp does not.
#
# Usage: bash bench/data_plane.sh            (prints the Markdown table on stdout)
# Environment:
#   BENCH_DURATION=5   seconds per run           BENCH_REPEATS=3   repeats (medians are reported)
#   BENCH_KEEP=1       keep the temp dir (configs, logs, raw wrk output) and print its path
#   BENCH_NO_BUILD=1   skip `cargo build --release -p harp`
#   HARP_BIN           the harp binary (default target/release/harp, or $CARGO_TARGET_DIR/release)
#   BENCH_NO_WS=1      skip the WebSocket echo rows
# Needs: wrk, haproxy (Debian: apt-get install -y haproxy wrk), curl, python3; for the WebSocket
# rows the `websockets` package in .peers/venv (bash scripts/install-peers.sh) or WS_PYTHON.
# Exits non-zero, after printing the table, if any request got a socket error or a non-2xx answer.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"
# shellcheck source=bench/lib.sh
source "${SCRIPT_DIR}/lib.sh"
DURATION="${BENCH_DURATION:-5}"
REPEATS="${BENCH_REPEATS:-3}"
HARP_BIN_GIVEN="${HARP_BIN:+1}"
HARP_BIN="${HARP_BIN:-${CARGO_TARGET_DIR:-${ROOT}/target}/release/harp}"
WS_PYTHON="${WS_PYTHON:-${ROOT}/.peers/venv/bin/python}"
KEY="demo-shared-key" # the demo stand-in's shared key (harp/src/demo.rs)
APP="demo-app"
BIG_BYTES=$((10 * 1024 * 1024))
MIN_AVAILABLE_KIB=$((3 * 1024 * 1024)) # stop if the machine gets short of memory

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

for tool in wrk haproxy curl python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (Debian: apt-get install -y haproxy wrk curl python3)"
done
WS=1
if [[ "${BENCH_NO_WS:-0}" == 1 ]]; then
    WS=0
elif ! "$WS_PYTHON" -c 'import websockets' >/dev/null 2>&1; then
    log "no python with the websockets package at $WS_PYTHON: skipping the WebSocket rows"
    WS=0
fi

# --- cleanup -----------------------------------------------------------------------------------
TMP="$(mktemp -d /tmp/harp-bench-dp.XXXXXX)"
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
trap 'exit 130' INT TERM

# --- helpers -----------------------------------------------------------------------------------
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}
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
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Dies if a server process has gone, saying how it ended (e.g. status 137 = SIGKILL).
check_servers() {
    local what pid st
    for what in "backends (harp demo):$DEMO_PID" "harp:$HARP_PID" "haproxy:$HAPROXY_PID"; do
        pid=${what##*:}
        alive "$pid" && continue
        st=0; wait "$pid" 2>/dev/null || st=$?
        die "${what%:*} (pid $pid) is gone, exit status $st$( ((st > 128)) && echo " (signal $((st - 128)))"); logs in $TMP"
    done
}
mem_available_kib() { awk '/^MemAvailable:/ {print $2}' /proc/meminfo; }

# --- build -------------------------------------------------------------------------------------
if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
    log "cargo build --release -p harp"
    (cd "$ROOT" && cargo build --release -p harp) >&2
fi
[[ -x "$HARP_BIN" ]] || die "$HARP_BIN missing"

read -r P_HARP P_CONTROL P_FRP P_HAPROXY <<<"$(free_ports 4)"

# --- backends: `harp demo` (Nextcloud stand-in + sample ExApp) ---------------------------------
"$HARP_BIN" demo --listen 127.0.0.1:0 >"$TMP/demo.out" 2>"$TMP/demo.log" &
PIDS+=($!)
DEMO_PID=$!
for _ in $(seq 200); do # 20 s
    grep -q "sample ExApp" "$TMP/demo.out" && break
    alive "$DEMO_PID" || die "harp demo exited: $(tail -q -n 1 "$TMP/demo.out" "$TMP/demo.log")"
    sleep 0.1
done
grep -q "sample ExApp" "$TMP/demo.out" || die "harp demo printed no addresses within 20 s"
NC_URL=$(grep -oP 'Nextcloud stand-in\s+\Khttp://[0-9.]+:[0-9]+' "$TMP/demo.out") || die "no stand-in address in $TMP/demo.out"
EXAPP=$(grep -oP "sample ExApp '$APP'\s+http://\K[0-9.]+:[0-9]+" "$TMP/demo.out") || die "no ExApp address in $TMP/demo.out"
wait_until 10 "the sample ExApp on $EXAPP" http_ok "http://$EXAPP/public"
log "harp demo (pid $DEMO_PID): Nextcloud stand-in $NC_URL, sample ExApp http://$EXAPP"

# --- harp under test ---------------------------------------------------------------------------
mkdir -p "$TMP/certs"
env -i PATH="$PATH" \
    HP_SHARED_KEY="$KEY" NC_INSTANCE_URL="$NC_URL" \
    HP_EXAPPS_ADDRESS="127.0.0.1:$P_HARP" HP_CONTROL_ADDRESS="127.0.0.1:$P_CONTROL" \
    HP_FRP_ADDRESS="127.0.0.1:$P_FRP" HP_CERTS_DIR="$TMP/certs" \
    DOCKER_HOST=unix:///nonexistent HP_LOG_LEVEL=warning \
    "$HARP_BIN" >"$TMP/harp.log" 2>&1 &
PIDS+=($!)
HARP_PID=$!
wait_until 30 "harp heartbeat on :$P_CONTROL" http_ok "http://127.0.0.1:$P_CONTROL/heartbeat"
log "harp under test on 127.0.0.1:$P_HARP (pid $HARP_PID)"

# AppAPI pushes an ExApp's record to HaRP when the app is enabled (exapp_storage); push the demo
# app's record with two more routes so that /download and /upload are reachable through harp
# (the demo's record has only ^/public, ^/sse, ^/user, ^/admin and ^/ws$). The app id stays
# demo-app: the stand-in's user-info only answers for apps it knows.
RECORD=$(cat <<EOF
{"exapp_token": "demo-app-secret", "exapp_version": "1.0.0", "host": "${EXAPP%:*}", "port": ${EXAPP##*:},
 "routes": [
  {"url": "^/public", "access_level": 0, "bruteforce_protection": []},
  {"url": "^/sse", "access_level": 0, "bruteforce_protection": []},
  {"url": "^/user", "access_level": 1, "bruteforce_protection": [418]},
  {"url": "^/admin", "access_level": 2, "bruteforce_protection": []},
  {"url": "^/ws$", "access_level": 1, "bruteforce_protection": []},
  {"url": "^/download", "access_level": 1, "bruteforce_protection": []},
  {"url": "^/upload", "access_level": 1, "bruteforce_protection": []}
 ]}
EOF
)
code=$(curl -s -o "$TMP/storage.out" -w '%{http_code}' --max-time 5 -X POST -H "harp-shared-key: $KEY" \
    -H 'Content-Type: application/json' --data-binary "$RECORD" "http://127.0.0.1:$P_HARP/exapps/app_api/exapp_storage/$APP")
[[ "$code" == 204 ]] || die "exapp_storage answered $code: $(cat "$TMP/storage.out")"

# --- plain HAProxy: no authentication, one server = the sample ExApp ---------------------------
plain_haproxy_cfg "$P_HAPROXY" "$EXAPP" >"$TMP/haproxy.cfg"
haproxy -c -q -f "$TMP/haproxy.cfg" >"$TMP/haproxy-check.log" 2>&1 || die "haproxy config: $(cat "$TMP/haproxy-check.log")"
haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
PIDS+=($!)
HAPROXY_PID=$!
wait_until 10 "haproxy on :$P_HAPROXY" http_ok "http://127.0.0.1:$P_HAPROXY/public"
log "plain HAProxy on 127.0.0.1:$P_HAPROXY (pid $HAPROXY_PID, $(haproxy -v | head -1 | awk '{print $3}'))"

# --- checks before measuring: every path answers what it should --------------------------------
BASIC="Authorization: Basic $(printf 'usr:password' | base64)"
COOKIE="Cookie: oc_sessionPassphrase=sess-usr"
HARP_BASE="http://127.0.0.1:$P_HARP/exapps/$APP"
status_of() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
# The user the ExApp was told about (AUTHORIZATION-APP-API = base64("<user>:<exapp secret>")).
seen_user() {
    curl -s --max-time 5 "$@" | python3 -c '
import base64, json, sys
h = json.load(sys.stdin)["headers"]
print(base64.b64decode(h.get("authorization-app-api", "")).decode().split(":")[0])'
}
for base in "http://$EXAPP" "http://127.0.0.1:$P_HAPROXY" "$HARP_BASE"; do
    [[ "$(status_of "$base/public")" == 200 ]] || die "$base/public is not 200"
    [[ "$(status_of -H "$COOKIE" "$base/user")" == 200 ]] || die "$base/user with the cookie is not 200"
    [[ "$(status_of -H "$BASIC" "$base/user")" == 200 ]] || die "$base/user with Basic auth is not 200"
    n=$(curl -s --max-time 20 -H "$COOKIE" "$base/download?bytes=$BIG_BYTES" | wc -c)
    [[ "$n" == "$BIG_BYTES" ]] || die "$base/download gave $n bytes, not $BIG_BYTES"
    got=$(head -c "$BIG_BYTES" /dev/zero | curl -s --max-time 20 -H "$COOKIE" --data-binary @- "$base/upload")
    [[ "$got" == "{\"bytes\":$BIG_BYTES}" ]] || die "$base/upload answered $got"
done
# harp really authenticates on the USER routes (two 403s: below the default ban threshold of 10).
[[ "$(status_of "$HARP_BASE/user")" == 403 ]] || die "harp lets an anonymous client through to /user"
[[ "$(status_of "$HARP_BASE/download?bytes=10")" == 403 ]] || die "harp lets an anonymous client through to /download"
[[ "$(seen_user -H "$COOKIE" "$HARP_BASE/user")" == usr ]] || die "harp did not pass the cookie's user on"
[[ "$(seen_user -H "$BASIC" "$HARP_BASE/user")" == usr ]] || die "harp did not pass the Basic user on"
[[ -z "$(seen_user "$HARP_BASE/public")" ]] || die "harp named a user on an anonymous public request"
log "all three paths answer /public, /user (cookie, Basic), 10 MiB download and upload; harp authenticates"

# --- RSS / CPU before the runs ------------------------------------------------------------------------
sleep 1
IDLE_HARP=$(rss_kib "$HARP_PID"); IDLE_HAPROXY=$(rss_kib "$HAPROXY_PID"); IDLE_DEMO=$(rss_kib "$DEMO_PID")
CPU0_HARP=$(cpu_ticks "$HARP_PID"); CPU0_HAPROXY=$(cpu_ticks "$HAPROXY_PID")

# --- measurements ------------------------------------------------------------------------------
# scenario: name|path|connections|threads|auth (none, cookie, basic)|kind (get, upload, ws)
SCENARIOS=(
    "public_c1|/public|1|1|none|get"
    "cookie_c1|/user|1|1|cookie|get"
    "public_c64|/public|64|2|none|get"
    "cookie_c64|/user|64|2|cookie|get"
    "basic_c64|/user|64|2|basic|get"
    "download_c4|/download?bytes=$BIG_BYTES|4|2|cookie|get"
    "upload_c4|/upload|4|2|cookie|upload"
)
[[ $WS == 1 ]] && SCENARIOS+=("ws_c8|/ws|8|1|basic|ws")
TARGETS=("direct|http://$EXAPP" "haproxy|http://127.0.0.1:$P_HAPROXY" "harp|$HARP_BASE")
# results.tsv: scenario target rep rate p50_us p99_us mib_s socket_errors non2xx proxy_cpu_ticks requests
RESULTS="$TMP/results.tsv"
: >"$RESULTS"

to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") m = 1; else if (u == "ms") m = 1000; else if (u == "s") m = 1000000; else if (u == "m") m = 60000000; else m = 1
        printf "%.1f", n * m }'
}
to_mib() {
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
        IFS='|' read -r name path conns threads auth kind <<<"$sc"
        extra=()
        case "$auth" in
            cookie) auth_header=$COOKIE; extra=(-H "$COOKIE") ;;
            basic) auth_header=$BASIC; extra=(-H "$BASIC") ;;
            *) auth_header="" ;;
        esac
        [[ "$kind" == upload ]] && extra+=(-s "$SCRIPT_DIR/upload.lua")
        for tg in "${TARGETS[@]}"; do
            IFS='|' read -r tname base <<<"$tg"
            RUN=$((RUN + 1))
            check_servers
            avail=$(mem_available_kib)
            ((avail > MIN_AVAILABLE_KIB)) || die "only $((avail / 1024)) MiB of memory available; stopping (backend RSS $(($(rss_kib "$DEMO_PID") / 1024)) MiB)"
            out="$TMP/run-$name-$tname-$rep.txt"
            case "$tname" in
                harp) srv=$HARP_PID ;;
                haproxy) srv=$HAPROXY_PID ;;
                *) srv="" ;;
            esac
            s0=0
            [[ -n "$srv" ]] && s0=$(cpu_ticks "$srv")
            # In the background and waited for, so that Ctrl-C / TERM stop the run at once.
            if [[ "$kind" == ws ]]; then
                "$WS_PYTHON" "$SCRIPT_DIR/ws_echo.py" "ws://${base#http://}$path" "$conns" "$DURATION" "$auth_header" >"$out" 2>&1 &
            else
                wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency "${extra[@]}" "$base$path" >"$out" 2>&1 &
            fi
            WRK_PID=$!
            wait "$WRK_PID" || true
            WRK_PID=""
            check_servers
            s1=0
            [[ -n "$srv" ]] && s1=$(cpu_ticks "$srv")
            if [[ "$kind" == ws ]]; then
                line=$(grep '^round_trips=' "$out") || die "ws_echo failed: $(cat "$out")"
                field() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" <<<"$line"; }
                nreq=$(field round_trips); rate=$(field rt_per_s); p50=$(field p50_us); p99=$(field p99_us)
                mib=0; errs=$(field errors); non2xx=0
            else
                nreq=$(awk '/requests in/ {print $1}' "$out")
                rate=$(awk '/^Requests\/sec:/ {print $2}' "$out")
                [[ -n "$rate" ]] || die "wrk failed: $(cat "$out")"
                p50=$(to_us "$(awk '$1 == "50%" {print $2}' "$out")")
                p99=$(to_us "$(awk '$1 == "99%" {print $2}' "$out")")
                if [[ "$kind" == upload ]]; then # wrk's Transfer/sec counts what it read, not what it sent
                    mib=$(awk -v r="$rate" -v b="$BIG_BYTES" 'BEGIN { printf "%.1f", r * b / 1048576 }')
                else
                    mib=$(to_mib "$(awk '/^Transfer\/sec:/ {print $2}' "$out")")
                fi
                errs=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$out")
                non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
            fi
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$tname" "$rep" "$rate" "$p50" "$p99" "$mib" \
                "${errs:-0}" "${non2xx:-0}" "$((s1 - s0))" "${nreq:-0}" >>"$RESULTS"
            flag=""
            [[ "${errs:-0}" != 0 || "${non2xx:-0}" != 0 ]] && flag="   <-- ERRORS, see $out"
            log "[$RUN/$TOTAL] rep $rep $name $tname: ${rate}/s, p50 ${p50} µs, p99 ${p99} µs, ${mib} MiB/s, socket errors ${errs:-0}, non-2xx ${non2xx:-0}$flag"
        done
    done
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
sleep 0.5
CPU1_HARP=$(cpu_ticks "$HARP_PID"); CPU1_HAPROXY=$(cpu_ticks "$HAPROXY_PID")
END_HARP=$(rss_kib "$HARP_PID"); END_HAPROXY=$(rss_kib "$HAPROXY_PID"); END_DEMO=$(rss_kib "$DEMO_PID")
HWM_HARP=$(hwm_kib "$HARP_PID"); HWM_HAPROXY=$(hwm_kib "$HAPROXY_PID")
HZ=$(getconf CLK_TCK)

# --- report ------------------------------------------------------------------------------------
if [[ -n "$HARP_BIN_GIVEN" || "${BENCH_NO_BUILD:-0}" == 1 ]]; then
    # Not built from this tree by this script: say which binary, not which commit.
    HARP_LABEL="$("$HARP_BIN" --version 2>/dev/null | head -1) (binary $HARP_BIN, built $(date -u -r "$HARP_BIN" '+%Y-%m-%d %H:%M UTC'))"
else
    HARP_LABEL="harp $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
fi
median() { # scenario target column
    awk -F'\t' -v s="$1" -v t="$2" -v c="$3" '$1 == s && $2 == t { v[n++] = $c }
        END { if (!n) { print 0; exit }
              for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
              if (n % 2) print v[int(n / 2)]; else print (v[n / 2 - 1] + v[n / 2]) / 2 }' "$RESULTS"
}
median_cpu() { # scenario target unit(req|gib): proxy CPU µs per request or CPU s per GiB
    awk -F'\t' -v s="$1" -v t="$2" -v u="$3" -v hz="$HZ" -v big="$BIG_BYTES" '$1 == s && $2 == t && $11 > 0 {
            if (u == "req") v[n++] = $10 / hz * 1e6 / $11; else v[n++] = $10 / hz / ($11 * big / 1073741824) }
        END { if (!n) { print 0; exit }
              for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
              if (n % 2) print v[int(n / 2)]; else print (v[n / 2 - 1] + v[n / 2]) / 2 }' "$RESULTS"
}
total() { awk -F'\t' -v s="$1" -v t="$2" -v c="$3" '$1 == s && $2 == t { x += $c } END { print x + 0 }' "$RESULTS"; }
fmt_num() {
    awk -v v="$1" -v d="$2" 'BEGIN {
        s = sprintf("%." d "f", v); split(s, p, "."); i = p[1]; o = ""
        while (length(i) > 3) { o = "," substr(i, length(i) - 2) o; i = substr(i, 1, length(i) - 3) }
        o = i o; if (d > 0) o = o "." p[2]; print o }'
}
fmt_lat() {
    awk -v v="$1" 'BEGIN { if (v < 1000) printf "%d µs", v + 0.5; else if (v < 100000) printf "%.1f ms", v / 1000; else printf "%d ms", v / 1000 + 0.5 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "–" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
cpu_s() { awk -v a="$1" -v b="$2" -v hz="$HZ" 'BEGIN { printf "%.1f s", (b - a) / hz }'; }

declare -A LABEL=(
    [public_c1]="small GET, PUBLIC route, 1 conn"
    [cookie_c1]="small GET, USER route, session cookie (cached), 1 conn"
    [public_c64]="small GET, PUBLIC route, 64 conns"
    [cookie_c64]="small GET, USER route, session cookie (cached), 64 conns"
    [basic_c64]="small GET, USER route, Basic auth (stand-in asked every request), 64 conns"
    [download_c4]="10 MiB download, USER route, session cookie, 4 conns"
    [upload_c4]="10 MiB upload (POST), USER route, session cookie, 4 conns"
    [ws_c8]="WebSocket echo, USER route (Basic), 8 conns"
)
# Real HaRP 0.4.4 from /work/shared/docs/baseline.md (measured elsewhere, not in this run), on
# the throughput row: "plain HAProxy ÷ direct|HaRP ÷ direct, run A (HAProxy 2.6) / run B
# (HAProxy 3.2)|HaRP ÷ plain HAProxy, run A (both columns of run A: 1,664 ÷ 4,269 and so on)".
declare -A BASELINE=(
    [public_c1]="–|–|–"
    [cookie_c1]="0.60×|0.23× / 0.27×|0.39×"
    [public_c64]="0.87×|0.28× / 0.29×|0.32×"
    [cookie_c64]="0.71×|0.25× / 0.23×|0.36×"
    [basic_c64]="0.70×|0.12× / 0.11×|0.18×"
    [download_c4]="0.65×|0.56× / 0.40×|0.86×"
    [upload_c4]="0.54×|0.57× / 0.72×|1.06×"
    [ws_c8]="0.55×|0.56× / 0.50×|1.02×"
)

echo
echo "### Data plane: harp vs plain HAProxy vs the ExApp directly (same run, interleaved; medians of $REPEATS × ${DURATION} s)"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC') · $(nproc) cores · $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo) · $HARP_LABEL · $(haproxy -v | head -1 | awk '{print "HAProxy", $3}') · $(wrk --version 2>&1 | head -1 | awk '{print $1, $2}')$([[ $WS == 1 ]] && echo " · websockets $("$WS_PYTHON" -c 'import websockets; print(websockets.__version__)')")"
echo
echo "| scenario | metric | direct (sample ExApp) | plain HAProxy | harp | HAProxy ÷ direct | **harp ÷ direct** | **harp ÷ HAProxy** | baseline.md: plain HAProxy ÷ direct | baseline.md: real HaRP ÷ direct (A / B) | baseline.md: real HaRP ÷ plain HAProxy (A) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for sc in "${SCENARIOS[@]}"; do
    IFS='|' read -r name _ _ _ _ kind <<<"$sc"
    if [[ "$name" == download_c4 || "$name" == upload_c4 ]]; then
        col=7; unit="MiB/s"
    elif [[ "$kind" == ws ]]; then
        col=4; unit="round trips/s"
    else
        col=4; unit="req/s"
    fi
    d=$(median "$name" direct $col); a=$(median "$name" haproxy $col); b=$(median "$name" harp $col)
    IFS='|' read -r base_plain base_harp base_vs_plain <<<"${BASELINE[$name]}"
    echo "| ${LABEL[$name]} | $unit | $(fmt_num "$d" 0) | $(fmt_num "$a" 0) | $(fmt_num "$b" 0) | $(ratio "$a" "$d") | **$(ratio "$b" "$d")** | **$(ratio "$b" "$a")** | $base_plain | $base_harp | $base_vs_plain |"
    for col in 5 6; do
        [[ $col == 5 ]] && m="latency p50" || m="latency p99"
        d=$(median "$name" direct $col); a=$(median "$name" haproxy $col); b=$(median "$name" harp $col)
        echo "| ${LABEL[$name]} | $m | $(fmt_lat "$d") | $(fmt_lat "$a") | $(fmt_lat "$b") | $(ratio "$a" "$d") | $(ratio "$b" "$d") | $(ratio "$b" "$a") | | | |"
    done
    if [[ "$name" == download_c4 || "$name" == upload_c4 ]]; then
        a=$(median_cpu "$name" haproxy gib); b=$(median_cpu "$name" harp gib)
        echo "| ${LABEL[$name]} | proxy CPU s per GiB | – | $(fmt_num "$a" 2) | $(fmt_num "$b" 2) | – | – | $(ratio "$b" "$a") | | | |"
    else
        a=$(median_cpu "$name" haproxy req); b=$(median_cpu "$name" harp req)
        [[ "$kind" == ws ]] && m="proxy CPU µs per round trip" || m="proxy CPU µs per request"
        echo "| ${LABEL[$name]} | $m | – | $(fmt_num "$a" 0) | $(fmt_num "$b" 0) | – | – | $(ratio "$b" "$a") | | | |"
    fi
done
echo
echo "| process | RSS idle (after the checks) | RSS peak (VmHWM) | RSS at the end | CPU time over all runs |"
echo "|---|---|---|---|---|"
echo "| harp (whole process) | $(mib "$IDLE_HARP") | $(mib "$HWM_HARP") | $(mib "$END_HARP") | $(cpu_s "$CPU0_HARP" "$CPU1_HARP") |"
echo "| plain HAProxy | $(mib "$IDLE_HAPROXY") | $(mib "$HWM_HAPROXY") | $(mib "$END_HAPROXY") | $(cpu_s "$CPU0_HAPROXY" "$CPU1_HAPROXY") |"
echo "| backends (\`harp demo\`: stand-in + sample ExApp, which records every request) | $(mib "$IDLE_DEMO") | – | $(mib "$END_DEMO") | – |"
echo
FAILED=0
errs_line=""
for tg in direct haproxy harp; do
    e=0; n=0
    for sc in "${SCENARIOS[@]}"; do
        IFS='|' read -r name _ <<<"$sc"
        e=$((e + $(total "$name" "$tg" 8))); n=$((n + $(total "$name" "$tg" 9)))
    done
    ((e + n > 0)) && FAILED=1
    errs_line+="${tg}: ${e} socket errors, ${n} non-2xx; "
done
echo "Errors over all runs: ${errs_line%; }."
echo
echo "Ratios: throughput and latency ÷ the column named; for latency a ratio above 1 is slower."
echo "baseline.md columns: real HaRP 0.4.4 measured elsewhere against a one-process Python backend"
echo "(not in this run); with a faster backend every proxy's ratio to direct is lower, so the"
echo "÷ plain HAProxy columns are the ones to compare across the two runs."
echo "All processes (wrk, the backends, HAProxy, harp$([[ $WS == 1 ]] && echo ", the Python WebSocket client")) share the machine's cores;"
echo "load average (1/5/15 min) before the runs: ${LOAD_START}, after: ${LOAD_END}."
echo "Command: \`bash bench/data_plane.sh\` (BENCH_DURATION=$DURATION BENCH_REPEATS=$REPEATS)."

if ((FAILED)); then
    log "ERROR: some requests failed (socket errors or non-2xx answers); raw output in $TMP:"
    awk -F'\t' '$8 + $9 > 0 { printf "[bench]   %s %s rep %s: %s socket errors, %s non-2xx\n", $1, $2, $3, $8, $9 }' "$RESULTS" >&2
    exit 1
fi
