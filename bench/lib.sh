#!/usr/bin/env bash
# Shared by the benchmark scripts (sourced, not run).

# BENCH_AWAKE=1: keep the vCPUs from halting while idle, so that no path pays for waking a
# halted vCPU (on this VM that wake-up is most of a one-connection round trip, and it varies from
# run to run). It asks the kernel for a CPU latency of 0 (PM QoS, /dev/cpu_dma_latency, held
# open by a `sleep` for the run): the idle loop then polls instead of halting. An earlier version
# ran one SCHED_IDLE busy loop per vCPU instead; `perf sched` showed ksoftirqd waiting behind
# those loops for 2.5 s of a 3 s trace on this kernel, which put millisecond tails on the
# network path. Sets AWAKE_PID (the caller kills it on exit; closing the file ends the request).
AWAKE_PID=""
start_awake() {
    [[ "${BENCH_AWAKE:-0}" == 1 ]] || return 0
    [[ -w /dev/cpu_dma_latency ]] \
        || { printf '[bench] ERROR: BENCH_AWAKE=1 needs write access to /dev/cpu_dma_latency (root)\n' >&2; exit 1; }
    # The kernel reads the value as hex text; "0" is a latency of 0 µs.
    (exec 3>/dev/cpu_dma_latency && printf 0 >&3 && exec sleep infinity) &
    AWAKE_PID=$!
    printf '[bench] BENCH_AWAKE=1: CPU latency request 0 µs (the idle vCPUs poll instead of halting)\n' >&2
}
stop_awake() {
    if [[ -n "$AWAKE_PID" ]]; then kill "$AWAKE_PID" 2>/dev/null || true; fi
    AWAKE_PID=""
}
awake_note() {
    if [[ -n "$AWAKE_PID" ]]; then echo " · BENCH_AWAKE=1 (idle vCPUs poll: PM QoS CPU latency 0)"; fi
}

# The plain-HAProxy reference: `mode http`, no authentication, one server. Prints the config for
# a listener on 127.0.0.1:$1 in front of $2 (host:port).
plain_haproxy_cfg() {
    cat <<EOF
global
    maxconn 4096
defaults
    mode http
    timeout connect 30s
    timeout client 30s
    timeout server 1800s
    timeout tunnel 1800s
frontend exapps
    bind 127.0.0.1:$1
    default_backend exapp
backend exapp
    server exapp $2
EOF
}
