#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this).
#
#   scripts/test.sh
#
# Installs what is missing (scripts/setup.sh), then: formatting and every
# test of the workspace (unit, integration, differential against Java Kafka
# Streams, doc-tests). The Java reference runner of the differential tests
# is built once and cached. Clippy runs in scripts/lint.sh: `cargo check`
# compiles RocksDB under another fingerprint than `cargo test`, and a cold
# run of both would take most of CI's 90 minutes.
# Build output goes to one shared target dir outside the clone
# ($CARGO_TARGET_DIR, default ~/.cache/kstreams/target), so warm runs are fast.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

"$ROOT/scripts/setup.sh"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kstreams/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

echo "== cargo fmt --check"
cargo fmt --all -- --check

# One package selection for every cargo call: features are unified the same
# way each time, so RocksDB is compiled once, not once per selection.
echo "== cargo test --workspace"
cargo test --workspace --all-targets
cargo test --workspace --doc
