#!/usr/bin/env bash
# The main job: the word-count example end to end on the embedded broker
# (librdkafka's mock cluster, in-process), printing its results.
#
#   scripts/run.sh                       # embedded broker
#   scripts/run.sh --bootstrap HOST:PORT # a real cluster (or BOOTSTRAP_SERVERS)
#
# Installs what is missing (scripts/setup.sh, scripts/rocksdb.sh) and runs
# `cargo run --example word_count` with the shared target dir.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
KSTREAMS_SKIP_KAFKA_FETCH=${KSTREAMS_SKIP_KAFKA_FETCH:-1} "$ROOT/scripts/setup.sh"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
exec cargo run --quiet --example word_count -- "$@"
