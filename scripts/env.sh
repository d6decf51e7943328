# shellcheck shell=bash
# Sourced by the scripts that run cargo: the shared target dir and the
# prebuilt RocksDB (see scripts/rocksdb.sh for why cargo does not compile it).
#
#   source scripts/env.sh    # then any cargo command of the workspace
_kstreams_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kstreams/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
if [[ -z ${ROCKSDB_LIB_DIR:-} ]]; then
    ROCKSDB_LIB_DIR=$("$_kstreams_root/scripts/rocksdb.sh")
    export ROCKSDB_LIB_DIR
fi
export ROCKSDB_STATIC=1
unset _kstreams_root
