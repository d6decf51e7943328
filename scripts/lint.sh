#!/usr/bin/env bash
# Formatting and clippy only (scripts/test.sh runs them too, before the tests).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
KSTREAMS_SKIP_KAFKA_FETCH=${KSTREAMS_SKIP_KAFKA_FETCH:-1} "$ROOT/scripts/setup.sh"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
