#!/usr/bin/env bash
# A real Docker-compatible engine for tests: podman's Docker Engine API service on a unix socket
# plus Debian's docker-registry on loopback, both private to this checkout
# (see shared/docs/podman-engine.md).
#
#   scripts/engine.sh start   install what is missing, start both (no-op when already up)
#   scripts/engine.sh env     print the exports tests read (HARP_TEST_DOCKER_HOST, HARP_TEST_REGISTRY)
#   scripts/engine.sh stop    remove every container, stop both, unmount podman's storage
#   scripts/engine.sh status  exit 0 when both answer
#
# Everything lives in one state dir, $HARP_ENGINE_DIR (default <repo>/.engine/): the socket,
# podman's graphroot/runroot/tmp/locks/volumes, the registry's storage, PIDs and logs. Nothing
# touches the machine's default podman storage, /etc/containers or a fixed port: the registry
# listens on 127.0.0.1:<port chosen by the kernel>, containers are meant to use host networking.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${HARP_ENGINE_DIR:-$REPO/.engine}"
SOCK="$STATE/engine.sock"
WAIT_SECS="${HARP_ENGINE_WAIT_SECS:-60}"

log() { echo "engine.sh: $*" >&2; }
die() { log "$*"; exit 1; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# The CONTAINERS_* variables that point podman (service or CLI) at the private configuration.
podman_env() {
  export CONTAINERS_CONF="$STATE/containers.conf"
  export CONTAINERS_REGISTRIES_CONF="$STATE/registries.conf"
  export CONTAINERS_STORAGE_CONF="$STATE/storage.conf"
}

install_missing() {
  local pkg missing=()
  # podman pulls in conmon; runc replaces crun (see write_configs); busybox-static and curl
  # are for scripts/build-test-image.sh and the readiness checks.
  for pkg in podman runc docker-registry busybox-static curl; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

write_configs() {
  mkdir -p "$STATE"/{storage/root,storage/run,tmp,volumes,networks,registry/data,logs}
  write_storage_conf "${HARP_ENGINE_STORAGE_DRIVER:-overlay}"
  cat >"$STATE/containers.conf" <<EOF
[containers]
# podman's default ulimits cannot be applied here (setrlimit RLIMIT_NOFILE: not permitted).
default_ulimits = []
[network]
network_config_dir = "$STATE/networks"
[engine]
# crun refuses this kernel's hybrid cgroup layout; runc works.
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$STATE/logs/events.log"
tmp_dir = "$STATE/tmp"
volume_path = "$STATE/volumes"
static_dir = "$STATE/storage/root/libpod"
image_copy_tmp_dir = "$STATE/tmp"
# Locks as files in tmp_dir rather than the machine-wide /dev/shm/libpod_lock.
lock_type = "file"
EOF
}

write_storage_conf() {
  cat >"$STATE/storage.conf" <<EOF
[storage]
driver = "$1"
graphroot = "$STATE/storage/root"
runroot = "$STATE/storage/run"
EOF
}

# overlay is fast but cannot sit on every filesystem (e.g. on another overlay); fall back to vfs.
check_storage() {
  local out
  if out="$(podman_env && podman info --format '{{.Store.GraphDriverName}}' 2>&1)"; then
    return 0
  fi
  if grep -q '"overlay"' "$STATE/storage.conf"; then
    log "overlay storage unusable here ($(echo "$out" | tail -1)); using vfs"
    rm -rf "$STATE/storage"
    mkdir -p "$STATE/storage/root" "$STATE/storage/run"
    write_storage_conf vfs
    out="$(podman_env && podman info --format '{{.Store.GraphDriverName}}' 2>&1)" && return 0
  fi
  die "podman cannot use its storage: $out"
}

write_registries_conf() {
  cat >"$STATE/registries.conf" <<EOF
unqualified-search-registries = []
[[registry]]
location = "$1"
insecure = true
EOF
}

start_registry() {
  cat >"$STATE/registry/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $STATE/registry/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
  secret: harp-test-registry
EOF
  : >"$STATE/logs/registry.log"
  setsid docker-registry serve "$STATE/registry/config.yml" \
    >"$STATE/logs/registry.log" 2>&1 </dev/null &
  echo $! >"$STATE/registry.pid"
  # The kernel picks the port; the registry logs "listening on 127.0.0.1:PORT".
  local i addr=""
  for ((i = 0; i < WAIT_SECS * 10; i++)); do
    addr="$(sed -n 's/.*msg="listening on \(127\.0\.0\.1:[0-9]*\)".*/\1/p' "$STATE/logs/registry.log" | head -1)"
    [ -n "$addr" ] && break
    alive "$STATE/registry.pid" || { cat "$STATE/logs/registry.log" >&2; die "docker-registry exited"; }
    sleep 0.1
  done
  [ -n "$addr" ] || die "docker-registry did not report its address within ${WAIT_SECS}s"
  for ((i = 0; i < WAIT_SECS * 10; i++)); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/v2/")" = 200 ]; then
      echo "$addr" >"$STATE/registry.addr"
      return 0
    fi
    sleep 0.1
  done
  die "docker-registry at $addr did not answer /v2/ within ${WAIT_SECS}s"
}

start_podman() {
  rm -f "$SOCK"
  (
    podman_env
    exec setsid podman system service --time=0 "unix://$SOCK"
  ) >"$STATE/logs/podman.log" 2>&1 </dev/null &
  echo $! >"$STATE/podman.pid"
  local i
  for ((i = 0; i < WAIT_SECS * 10; i++)); do
    if [ -S "$SOCK" ] && [ "$(curl -s --max-time 2 --unix-socket "$SOCK" http://d/_ping)" = OK ]; then
      return 0
    fi
    alive "$STATE/podman.pid" || { cat "$STATE/logs/podman.log" >&2; die "podman system service exited"; }
    sleep 0.1
  done
  die "podman did not answer /_ping on $SOCK within ${WAIT_SECS}s (log: $STATE/logs/podman.log)"
}

write_env() {
  local addr
  addr="$(cat "$STATE/registry.addr")"
  {
    echo "export HARP_TEST_DOCKER_HOST=unix://$SOCK"
    echo "export HARP_TEST_REGISTRY=$addr"
  } >"$STATE/env"
  # For running the podman CLI against the same private storage by hand or from scripts.
  {
    echo "export CONTAINERS_CONF=$STATE/containers.conf"
    echo "export CONTAINERS_REGISTRIES_CONF=$STATE/registries.conf"
    echo "export CONTAINERS_STORAGE_CONF=$STATE/storage.conf"
  } >"$STATE/podman-env"
}

is_up() {
  alive "$STATE/podman.pid" && alive "$STATE/registry.pid" && [ -f "$STATE/env" ] \
    && [ -f "$STATE/registry.addr" ] \
    && [ "$(curl -s --max-time 2 --unix-socket "$SOCK" http://d/_ping)" = OK ] \
    && [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://$(cat "$STATE/registry.addr")/v2/")" = 200 ]
}

stop_pid() {
  local f="$1" pid i
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

cmd_stop() {
  [ -d "$STATE" ] || return 0
  if [ -f "$STATE/containers.conf" ] && command -v podman >/dev/null; then
    # Every container and volume in this private storage was made by tests: remove them all
    # (this also stops their conmon processes and unmounts their layers).
    (
      podman_env
      podman rm --all --force --time 2 >/dev/null 2>&1 || true
      podman volume prune --force >/dev/null 2>&1 || true
    )
  fi
  stop_pid "$STATE/podman.pid"
  stop_pid "$STATE/registry.pid"
  rm -f "$SOCK" "$STATE/env" "$STATE/registry.addr"
  # podman leaves a conmon per finished exec session alive for 5 minutes (--exit-delay 300), and
  # conmons of containers whose service died; they are ours when their command line names our
  # storage. End them by PID.
  local p pids=()
  for p in /proc/[0-9]*; do
    if [ "$(cat "$p/comm" 2>/dev/null)" = conmon ] \
      && tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF "$STATE/storage/"; then
      pids+=("${p#/proc/}")
    fi
  done
  [ ${#pids[@]} -eq 0 ] || kill -KILL "${pids[@]}" 2>/dev/null || true
  # containers/storage leaves its overlay home (and per-container shm) mounted; unmount whatever
  # is still mounted under the state dir, deepest first, so `rm -rf .engine` works.
  local m
  { awk '{print $5}' /proc/self/mountinfo | grep -F "$STATE/" | sort -r || true; } | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}

cmd_start() {
  if is_up; then
    return 0
  fi
  install_missing
  # Half-up (a crash, a reboot, a killed process): start again from a clean slate.
  cmd_stop
  write_configs
  start_registry
  write_registries_conf "$(cat "$STATE/registry.addr")"
  check_storage
  start_podman
  write_env
  log "up: $(tr '\n' ' ' <"$STATE/env")"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  env)
    is_up || die "not running (run: scripts/engine.sh start)"
    cat "$STATE/env"
    ;;
  status) is_up ;;
  *)
    echo "usage: $0 start|stop|env|status   (state dir: $STATE)" >&2
    exit 64
    ;;
esac
