#!/usr/bin/env bash
# Java reference runner for the differential tests (see README.md).
#
#   run.sh <topology> <input.jsonl> <output.jsonl> [<topology> <input.jsonl> <output.jsonl> ...]
#   run.sh --list
#
# Builds the runner once into ${XDG_CACHE_HOME:-$HOME/.cache}/kstreams/java-ref (rebuilt
# only when pom.xml or a source file is newer than the cached jar), then runs it.
# Prints nothing of its own on success. Safe to call concurrently and from any cwd.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/kstreams/java-ref"
jar="$cache/java-ref.jar"
cpfile="$cache/classpath.txt"
cds="$cache/app.jsa"
# Short-lived JVM: favour startup time over peak throughput.
jvm=(java -XX:+UseSerialGC -XX:TieredStopAtLevel=1)

die() { echo "java-ref: $*" >&2; exit 1; }

stale() {
    [[ -f "$jar" && -f "$cpfile" ]] || return 0
    [[ -z "$(find "$here/pom.xml" "$here/src" -newer "$jar" -print -quit)" ]] || return 0
    # The dependency jars live in the local Maven repository: re-resolve if any went missing.
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
                "-Dref.build.dir=$out" "-Dref.classpath.file=$out/classpath.txt")
    # Offline first (everything is usually in ~/.m2 already); online only if that fails.
    if ! mvn -o "${args[@]}" >"$log" 2>&1; then
        rm -rf "$out"
        if ! mvn "${args[@]}" >"$log" 2>&1; then
            cat "$log" >&2
            die "maven build failed (log: $log)"
        fi
    fi
    [[ -f "$out/java-ref.jar" && -f "$out/classpath.txt" ]] || die "build produced no jar (log: $log)"
    # Replace atomically: a runner started earlier keeps reading its open (old) files.
    cp "$out/classpath.txt" "$cpfile.tmp.$$" && mv -f "$cpfile.tmp.$$" "$cpfile"
    cp "$out/java-ref.jar" "$jar.tmp.$$" && mv -f "$jar.tmp.$$" "$jar"
    make_cds_archive
}

# Class-data-sharing archive of a training run over the samples: cuts JVM start-up by ~40%.
# Purely an optimisation: on any failure there is simply no archive.
make_cds_archive() {
    rm -f "$cds"
    local tmp s="$here/samples"
    tmp="$(mktemp -d)"
    if "${jvm[@]}" -XX:ArchiveClassesAtExit="$tmp/app.jsa" -Xlog:disable \
        -cp "$jar:$(cat "$cpfile")" RefRunner \
        word-count "$s/wordcount-demo.in.jsonl" "$tmp/1" \
        table-agg "$s/groups.in.jsonl" "$tmp/2" \
        hopping-count-suppressed "$s/windowed.in.jsonl" "$tmp/3" \
        sliding-count "$s/windowed.in.jsonl" "$tmp/4" \
        session-count "$s/session.in.jsonl" "$tmp/5" \
        stream-stream-outer "$s/stream-stream.in.jsonl" "$tmp/6" \
        stream-table-left "$s/stream-table.in.jsonl" "$tmp/7" \
        table-table-outer "$s/table-table.in.jsonl" "$tmp/8" \
        fk-left "$s/fk.in.jsonl" "$tmp/9" >"$tmp/log" 2>&1 && [[ -f "$tmp/app.jsa" ]]; then
        mv -f "$tmp/app.jsa" "$cds"
    fi
    rm -rf "$tmp"
}

if stale; then
    mkdir -p "$cache"
    command -v flock >/dev/null || die "flock not found (util-linux)"
    exec 9>"$cache/.lock"
    flock 9
    if stale; then build; fi  # someone else may have built it while we waited
    flock -u 9
    exec 9>&-
fi

command -v java >/dev/null || die "java not found (need a JDK/JRE 17+)"
if [[ -f "$cds" ]]; then
    # A stale archive (e.g. a dependency jar changed) is ignored by the JVM; keep that silent.
    jvm+=(-Xshare:auto -XX:SharedArchiveFile="$cds" -Xlog:cds=off -Xlog:cds+dynamic=off)
fi
exec "${jvm[@]}" -cp "$jar:$(cat "$cpfile")" RefRunner "$@"
