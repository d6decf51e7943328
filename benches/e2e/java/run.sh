#!/usr/bin/env bash
# The Java side of the end-to-end benchmarks (see benches/README.md, "End-to-end").
#
#   run.sh run --bootstrap B --prefix P --workload W [options]   one workload, one JSON line
#   run.sh --build                                               only build (scripts/bench.sh does this first)
#
# Builds the module once into ${XDG_CACHE_HOME:-$HOME/.cache}/kstreams/bench-java (rebuilt
# only when pom.xml or a source file is newer than the cached jar), then runs it with the
# JVM's defaults (server compiler, G1, default heap) plus $E2E_JAVA_OPTS.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/kstreams/bench-java"
jar="$cache/e2e-java.jar"
cpfile="$cache/classpath.txt"

die() { echo "bench-java: $*" >&2; exit 1; }

stale() {
    [[ -f "$jar" && -f "$cpfile" ]] || return 0
    [[ -z "$(find "$here/pom.xml" "$here/src" -newer "$jar" -print -quit)" ]] || return 0
    local entry entries
    IFS=: read -r -a entries <"$cpfile"
    for entry in "${entries[@]}"; do
        [[ -f "$entry" ]] || return 0
    done
    return 1
}

build() {
    command -v mvn >/dev/null || die "mvn not found (install Maven 3.8+ and a JDK 17)"
    local out="$cache/build" log="$cache/build.log"
    rm -rf "$out"
    local args=(-q -B -Dstyle.color=never -f "$here/pom.xml" package
                "-Dbench.build.dir=$out" "-Dbench.classpath.file=$out/classpath.txt")
    # Offline first (the jars are usually in ~/.m2 already); online only if that fails.
    if ! mvn -o "${args[@]}" >"$log" 2>&1; then
        rm -rf "$out"
        if ! mvn "${args[@]}" >"$log" 2>&1; then
            cat "$log" >&2
            die "maven build failed (log: $log)"
        fi
    fi
    [[ -f "$out/e2e-java.jar" && -f "$out/classpath.txt" ]] || die "build produced no jar (log: $log)"
    cp "$out/classpath.txt" "$cpfile.tmp.$$" && mv -f "$cpfile.tmp.$$" "$cpfile"
    cp "$out/e2e-java.jar" "$jar.tmp.$$" && mv -f "$jar.tmp.$$" "$jar"
}

if stale; then
    mkdir -p "$cache"
    exec 9>"$cache/.lock"
    flock 9
    if stale; then build; fi
    flock -u 9
    exec 9>&-
fi

[[ "${1:-}" == "--build" ]] && exit 0
command -v java >/dev/null || die "java not found (need a JDK/JRE 17+)"
# shellcheck disable=SC2086  # E2E_JAVA_OPTS is a word list
exec java ${E2E_JAVA_OPTS:-} -cp "$jar:$(cat "$cpfile")" E2eBench "$@"
