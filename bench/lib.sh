#!/usr/bin/env bash
# Shared by the benchmark scripts (sourced, not run).

# BENCH_AWAKE=1: one idle-priority (SCHED_IDLE) busy loop per vCPU, so that no vCPU halts
# between messages and no path pays for waking a halted vCPU (on this VM that wake-up is most of
# a one-connection round trip, and it varies from run to run). The spinners run only when
# nothing else wants the core. Sets SPINNERS (their PIDs; the caller kills them on exit).
SPINNERS=()
start_awake_spinners() {
    [[ "${BENCH_AWAKE:-0}" == 1 ]] || return 0
    local c
    for ((c = 0; c < $(nproc); c++)); do
        taskset -c "$c" chrt --idle 0 sh -c 'while :; do :; done' &
        SPINNERS+=($!)
    done
    printf '[bench] BENCH_AWAKE=1: %s idle-priority spinners keep the vCPUs awake\n' "${#SPINNERS[@]}" >&2
}
stop_awake_spinners() {
    if [[ ${#SPINNERS[@]} -gt 0 ]]; then kill "${SPINNERS[@]}" 2>/dev/null || true; fi
    SPINNERS=()
}
awake_note() {
    if [[ ${#SPINNERS[@]} -gt 0 ]]; then echo " · BENCH_AWAKE=1 (vCPUs kept awake by idle-priority spinners)"; fi
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
