#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this).
#
#   scripts/test.sh
#
# 1. Installs what is missing (scripts/setup.sh: Debian packages, the Kafka
#    broker's jars) and builds RocksDB once into the cache (scripts/rocksdb.sh).
# 2. cargo fmt --check, cargo clippy -D warnings.
# 3. Starts a real single-node Apache Kafka broker on loopback
#    (scripts/kafka-broker.sh) for the tests that need one, and stops it on exit.
# 4. Every test of the workspace: unit, integration (core DSL, runtime on the
#    embedded and the real broker, derive macro with its trybuild UI cases),
#    differential against Java Kafka Streams (its runner is built once and
#    cached), doc-tests.
#
# Build output goes to one shared target dir outside the clone
# ($CARGO_TARGET_DIR, default ~/.cache/kstreams/target), so warm runs are fast.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
start=$SECONDS
stage() { printf '== [%4ds] %s\n' "$((SECONDS - start))" "$*"; }

"$ROOT/scripts/setup.sh"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"

stage "cargo fmt --check"
cargo fmt --all -- --check

stage "cargo clippy --workspace --all-targets -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

stage "cargo test --workspace --all-targets --no-run"
cargo test --workspace --all-targets --no-run

stage "starting the Kafka broker for the real-broker tests"
BOOTSTRAP_SERVERS=$("$ROOT/scripts/kafka-broker.sh" start)
export BOOTSTRAP_SERVERS
trap '"$ROOT/scripts/kafka-broker.sh" stop >/dev/null 2>&1 || true' EXIT
echo "broker at $BOOTSTRAP_SERVERS"

stage "cargo test --workspace --all-targets"
cargo test --workspace --all-targets

stage "cargo test --workspace --doc"
cargo test --workspace --doc

stage "all tests passed"
