#!/usr/bin/env bash
# Runs every test. With HARP_REQUIRE_PEERS=1, tests that need a real peer (nc_py_api, nginx,
# frpc) fail instead of skipping when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .peers/venv/bin/python ] || bash scripts/install-peers.sh
cargo test --workspace --all-targets "$@"
