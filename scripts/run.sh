#!/usr/bin/env bash
# The main job: the word-count example end to end, printing its results.
#
#   scripts/run.sh
#
# Installs what is missing (scripts/setup.sh) and runs
# `cargo run --example word_count` with the shared target dir.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
KSTREAMS_SKIP_KAFKA_FETCH=${KSTREAMS_SKIP_KAFKA_FETCH:-1} "$ROOT/scripts/setup.sh"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kstreams/target}
exec cargo run --quiet --features runtime --example word_count -- "$@"
