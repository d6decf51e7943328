#!/usr/bin/env bash
# One-time, idempotent machine set-up for building and testing kstreams on
# Debian 12 (run it as often as you like; it only acts on what is missing).
#
#  1. Debian packages a cold `cargo build` needs beyond gcc/g++/make:
#       libclang-dev  bindgen in librocksdb-sys loads libclang at build time
#                     (and needs clang's own headers, which it pulls in).
#     Nothing else is needed with the features this workspace enables:
#     rdkafka-sys builds the bundled librdkafka with ./configure + make and
#     SSL, SASL, zstd and curl off; libz-sys links the system zlib when
#     zlib1g-dev is there and otherwise compiles its bundled copy; rocksdb is
#     built by the cc crate with every compression codec off. So no
#     pkg-config, zlib1g-dev, libssl-dev or cmake is required.
#     `apt-get update` runs only when something has to be installed.
#  2. Checks that cargo (at the workspace's rust-version), java (17+, for the
#     test broker) and mvn are on PATH, and names whatever is missing.
#  3. Fetches the Kafka broker jars for the integration tests once
#     (scripts/kafka-broker.sh fetch; skip with KSTREAMS_SKIP_KAFKA_FETCH=1).
#
# Prints one line when everything is already in place.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------ Debian packages

deb_installed() {
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true) == installed ]]
}

# libclang found outside Debian's packages (LIBCLANG_PATH, as clang-sys reads it)?
libclang_elsewhere() {
    [[ -n ${LIBCLANG_PATH:-} ]] && compgen -G "$LIBCLANG_PATH/libclang*.so*" >/dev/null
}

missing_debs=()
command -v cc >/dev/null 2>&1 || missing_debs+=(gcc)
command -v c++ >/dev/null 2>&1 || missing_debs+=(g++)
command -v make >/dev/null 2>&1 || missing_debs+=(make)
if ! libclang_elsewhere && ! deb_installed libclang-dev; then
    missing_debs+=(libclang-dev)
fi

if ((${#missing_debs[@]})); then
    command -v apt-get >/dev/null 2>&1 ||
        die "missing ${missing_debs[*]}, and this is not a Debian-like system (no apt-get): install them by hand"
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 ||
            die "missing ${missing_debs[*]}; run as root: apt-get update && apt-get install -y ${missing_debs[*]}"
        sudo=(sudo)
    fi
    say "installing ${missing_debs[*]} (apt-get)..."
    apt_log=$(mktemp)
    trap 'rm -f "$apt_log"' EXIT
    if ! { "${sudo[@]}" apt-get update -q &&
           "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
               apt-get install -y -q --no-install-recommends "${missing_debs[@]}"; } >"$apt_log" 2>&1; then
        tail -n 30 "$apt_log" >&2
        die "apt-get could not install ${missing_debs[*]}"
    fi
    say "installed ${missing_debs[*]}"
fi

# ------------------------------------------------------------ toolchains

version_ge() { # version_ge A B: is A >= B (dotted numbers)
    [[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1) == "$2" ]]
}

problems=()
found=()

want_rust=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$ROOT/Cargo.toml" 2>/dev/null | head -n 1)
if command -v cargo >/dev/null 2>&1; then
    cargo_v=$(cargo --version 2>/dev/null | awk '{print $2}')
    if [[ -n $want_rust && -n $cargo_v ]] && ! version_ge "${cargo_v%%-*}" "$want_rust"; then
        problems+=("cargo $cargo_v is older than the workspace's rust-version $want_rust (rustup update stable)")
    else
        found+=("cargo ${cargo_v:-?}")
    fi
else
    problems+=("cargo not found on PATH (install Rust with rustup, https://rustup.rs; Debian's rustc is too old)")
fi

if command -v java >/dev/null 2>&1; then
    java_v=$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)
    java_major=${java_v%%.*}
    [[ $java_major == 1 ]] && java_major=$(cut -d. -f2 <<<"$java_v") # 1.8 style
    if [[ $java_major =~ ^[0-9]+$ ]] && ((java_major >= 17)); then
        found+=("java $java_major")
    else
        problems+=("java ${java_v:-?} is too old: the Kafka test broker needs Java 17+ (apt-get install openjdk-17-jdk-headless)")
    fi
else
    problems+=("java not found on PATH: the Kafka test broker needs Java 17+ (apt-get install openjdk-17-jdk-headless)")
fi

if command -v mvn >/dev/null 2>&1; then
    mvn_v=$(mvn -v 2>/dev/null | sed -e 's/\x1b\[[0-9;]*m//g' -n -e 's/.*Apache Maven \([0-9][^ ]*\).*/\1/p' | head -n 1)
    found+=("mvn ${mvn_v:-?}")
else
    problems+=("mvn not found on PATH: it fetches the Kafka test broker from Maven Central (apt-get install maven)")
fi

if ((${#problems[@]})); then
    for p in "${problems[@]}"; do say "missing: $p"; done
    die "${#problems[@]} prerequisite(s) missing (see above)"
fi

# ------------------------------------------------------------ Kafka jars

kafka_note=
if [[ ${KSTREAMS_SKIP_KAFKA_FETCH:-0} != 1 ]]; then
    "$ROOT/scripts/kafka-broker.sh" fetch
    kafka_v=$(sed -n 's:.*<kafka\.version>\([^<]*\)</kafka\.version>.*:\1:p' \
        "$ROOT/scripts/kafka-broker/pom.xml" | head -n 1)
    kafka_note="; Kafka $kafka_v jars cached"
fi

summary=$(printf '%s, ' "${found[@]}")
printf 'setup: ok (%s; libclang%s)\n' "${summary%, }" "$kafka_note"
