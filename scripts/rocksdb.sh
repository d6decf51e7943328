#!/usr/bin/env bash
# Builds RocksDB once, at -O2, into a cache dir, and prints that dir.
#
#   export ROCKSDB_LIB_DIR=$(scripts/rocksdb.sh) ROCKSDB_STATIC=1
#
# Why: librocksdb-sys compiles RocksDB's ~400 C++ files inside its build
# script, and cargo keys that build on the whole feature/profile/target
# fingerprint of the unit. `cargo test`, `cargo check`, `cargo clippy`,
# `cargo bench` and trybuild's `--cfg trybuild` builds each get their own
# fingerprint, so a cold machine would compile RocksDB four or five times
# (20-30 min each on 2 cores). With ROCKSDB_LIB_DIR set, the build script
# only runs bindgen and links this one archive, whatever the fingerprint.
#
# The archive is built by librocksdb-sys's own build script (same sources,
# same defines, same codecs: none) in a throwaway crate pinned to the
# version in Cargo.lock, so the C API it exports is exactly the one the
# generated bindings expect. Idempotent: a second call only prints the dir.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/kstreams

version=$(awk '/^name = "librocksdb-sys"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock")
[[ -n $version ]] || { echo "rocksdb.sh: librocksdb-sys not found in Cargo.lock" >&2; exit 1; }
rocksdb_crate=$(awk '/^name = "rocksdb"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock")

lib_dir="$CACHE/rocksdb-$version"
if [[ -f $lib_dir/librocksdb.a ]]; then
    echo "$lib_dir"
    exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/rocksdb.lock"
flock 9
if [[ -f $lib_dir/librocksdb.a ]]; then # built by a concurrent caller
    echo "$lib_dir"
    exit 0
fi

work="$CACHE/rocksdb-build"
mkdir -p "$work/src"
cat >"$work/Cargo.toml" <<EOF
[package]
name = "kstreams-rocksdb-prebuild"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
# Same features as the workspace: no compression codecs.
rocksdb = { version = "=$rocksdb_crate", default-features = false, features = ["bindgen-runtime"] }
librocksdb-sys = { version = "=$version", default-features = false, features = ["bindgen-runtime"] }

[profile.release.package.librocksdb-sys]
opt-level = 2
debug = false

[workspace]
EOF
echo 'fn main() {}' >"$work/src/main.rs"
cp "$ROOT/Cargo.lock" "$work/Cargo.lock" 2>/dev/null || true

echo "rocksdb.sh: building RocksDB $version once at -O2 (20-40 min on 2 cores)..." >&2
start=$SECONDS
(cd "$work" && env -u ROCKSDB_LIB_DIR -u ROCKSDB_STATIC CARGO_TARGET_DIR="$work/target" \
    cargo build --release --quiet -p librocksdb-sys) >&2
archive=$(ls -t "$work"/target/release/build/librocksdb-sys-*/out/librocksdb.a | head -n 1)
mkdir -p "$lib_dir.tmp"
cp "$archive" "$lib_dir.tmp/librocksdb.a"
rm -rf "$lib_dir"
mv "$lib_dir.tmp" "$lib_dir"
rm -rf "$work/target"
echo "rocksdb.sh: RocksDB built in $((SECONDS - start)) s" >&2
echo "$lib_dir"
