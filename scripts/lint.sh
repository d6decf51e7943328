#!/usr/bin/env bash
# Formatting and clippy with warnings as errors, on every target.
#   scripts/lint.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
KSTREAMS_SKIP_KAFKA_FETCH=${KSTREAMS_SKIP_KAFKA_FETCH:-1} "$ROOT/scripts/setup.sh"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kstreams/target}
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
