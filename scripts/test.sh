#!/usr/bin/env bash
# Runs every test. Installs the real peers first (nc_py_api, frp binaries), starts a real
# Docker-compatible engine (podman + a loopback registry, in .engine/) and builds the test ExApp
# image. With HARP_REQUIRE_PEERS=1, tests whose real peer is missing fail instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-peers.sh
bash scripts/engine.sh start
trap 'bash scripts/engine.sh stop' EXIT
cargo build -p harp
bash scripts/build-test-image.sh target/debug/harp >/dev/null
cargo test --workspace --all-targets "$@"
# A short soak (mixed traffic, RSS and task trends; the full run is 600 s, see TESTING.md).
HARP_SOAK_SECS="${HARP_SOAK_SECS:-60}" cargo test -p harp --test soak -- --ignored --nocapture
