#!/usr/bin/env bash
# End-to-end benchmarks on a real broker: Kafka Streams' SimpleBenchmark
# workloads run by this crate's runtime and by Java Kafka Streams 4.3.1,
# side by side, against the raw-client baselines (see benches/README.md,
# "End-to-end").
#
#   scripts/bench.sh [--records N] [--partitions P] [--bootstrap HOST:PORT]
#                    [--workloads a,b,...] [--impl rust,java] [--guarantees g,...]
#                    [--restore-keys K] [--timeout-s S] [--repeat R] [--out FILE]
#                    [--no-inprocess]
#
#   --records N       records per input topic (default 1000000)
#   --partitions P    partitions of every topic (default 4)
#   --bootstrap B     use this cluster; otherwise a single-node broker is
#                     started with scripts/kafka-broker.sh in its own run dir
#                     ($E2E_KAFKA_RUN_DIR, default ~/.cache/kstreams/kafka-bench-run)
#                     and stopped at the end
#   --workloads LIST  default: every workload (see below)
#   --impl LIST       rust, java or both (default rust,java)
#   --guarantees LIST at_least_once,exactly_once_v2 (default both; exactly-once
#                     runs only for streamprocesswithsink, streamcount, streamstreamjoin)
#   --restore-keys K  keys of the restore benchmark's store (default 1000000)
#   --timeout-s S     give up on one run after S seconds (default 900)
#   --repeat R        run each workload x guarantee R times, rust and java
#                     alternating which goes first, and report each
#                     implementation's median run (by records/s; peak RSS is
#                     the highest of the R): single runs on a shared 2-core
#                     machine spread by up to 25 % (default 1)
#   --out FILE        also write the JSON lines there (default
#                     ~/.cache/kstreams/bench-results/e2e-<time>.jsonl; a .md table beside it)
#   --no-inprocess    skip the in-process ceilings (below)
#
# Workloads: consume consumeproduce streamprocess streamprocesswithsink
#   streamprocesswithstatestore streamprocesswithwindowstore streamcount
#   streamcountwindowed streamtablejoin streamstreamjoin tabletablejoin yahoo restore
#
# Prints one JSON line per workload x impl x guarantee on stdout:
#   workload, impl, guarantee, records, seconds, records_per_s, mb_per_s,
#   peak_rss_bytes, ratio_to_consumeproduce, ratio_to_java, plus
#   rss_ratio_to_java, eos_cost (1 - exactly-once rate / at-least-once rate),
#   first_record_s, steady_records_per_s (records after the first over the
#   time after it: the rate without start-up), and start_to_running_s for restore;
#   with --repeat, also runs and records_per_s_runs (every run's rate).
# With rust among the impls, each streams workload also runs R times with
# `e2e inprocess` (its tasks on the same data, no broker: the ceiling of its
# end-to-end rate), and its rust at_least_once line gets
# inprocess_records_per_s (the median) and inprocess_ratio_to_consumeproduce.
# A Markdown table and progress go to stderr. Each run is its own process
# (its peak RSS is its VmHWM); rust and java alternate which goes first.
# Every finished run's line is appended at once to <logs>/raw.jsonl, so an
# invocation cut short (a killed shell, a reboot) keeps what it measured.
#
# Environment: CARGO_TARGET_DIR, ROCKSDB_LIB_DIR (scripts/env.sh's defaults),
#   E2E_BIN (a prebuilt e2e binary: skips the cargo build),
#   E2E_JAVA_OPTS (extra JVM options for the Java side),
#   E2E_RUST_ARGS (extra arguments of the Rust runs, for experiments only,
#   e.g. "--set consumer.fetch.queue.backoff.ms=1": the two sides then no
#   longer run with the same settings).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/kstreams
JAVA_RUN=$ROOT/benches/e2e/java/run.sh

ALL_WORKLOADS=consume,consumeproduce,streamprocess,streamprocesswithsink,streamprocesswithstatestore,streamprocesswithwindowstore,streamcount,streamcountwindowed,streamtablejoin,streamstreamjoin,tabletablejoin,yahoo,restore
EOS_WORKLOADS=" streamprocesswithsink streamcount streamstreamjoin "

records=1000000 partitions=4 bootstrap='' workloads=$ALL_WORKLOADS impls=rust,java
guarantees=at_least_once,exactly_once_v2 restore_keys=1000000 timeout=900 out='' repeat=1
inprocess=1

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; exit "${1:-2}"; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --records) records=${2:?}; shift 2 ;;
        --partitions) partitions=${2:?}; shift 2 ;;
        --bootstrap) bootstrap=${2:?}; shift 2 ;;
        --workloads) workloads=${2:?}; shift 2 ;;
        --impl|--impls) impls=${2:?}; shift 2 ;;
        --guarantees) guarantees=${2:?}; shift 2 ;;
        --restore-keys) restore_keys=${2:?}; shift 2 ;;
        --timeout-s) timeout=${2:?}; shift 2 ;;
        --repeat) repeat=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        --no-inprocess) inprocess=0; shift ;;
        -h|--help) usage 0 ;;
        *) say "unknown option $1"; usage ;;
    esac
done
records=${records//_/}
restore_keys=${restore_keys//_/}
[[ $records =~ ^[1-9][0-9]*$ ]] || die "--records must be a positive number"
[[ $partitions =~ ^[1-9][0-9]*$ ]] || die "--partitions must be a positive number"
[[ $repeat =~ ^[1-9][0-9]*$ ]] || die "--repeat must be a positive number"
IFS=, read -r -a WORKLOADS <<<"$workloads"
IFS=, read -r -a IMPLS <<<"$impls"
IFS=, read -r -a GUARANTEES <<<"$guarantees"
for w in "${WORKLOADS[@]}"; do
    [[ ,$ALL_WORKLOADS, == *,$w,* ]] || die "unknown workload '$w' (known: $ALL_WORKLOADS)"
done
for i in "${IMPLS[@]}"; do [[ $i == rust || $i == java ]] || die "unknown impl '$i' (rust, java)"; done
for g in "${GUARANTEES[@]}"; do
    [[ $g == at_least_once || $g == exactly_once_v2 ]] || die "unknown guarantee '$g'"
done
command -v jq >/dev/null || die "jq not found (apt-get install jq)"

stamp=$(date +%Y%m%d-%H%M%S)
[[ -n $out ]] || out=$CACHE/bench-results/e2e-$stamp.jsonl
mkdir -p "$(dirname "$out")"
work=$(mktemp -d "${TMPDIR:-/tmp}/kstreams-e2e.XXXXXX")
logs=${out%.jsonl}.logs
mkdir -p "$logs"

started_broker=0
cleanup() {
    rm -rf "$work"
    # A broker that outlives this run (`--bootstrap`, or the bench broker
    # found running) would keep every topic it made: gigabytes a table,
    # and a broker full of them runs the stateful workloads slower.
    if ((!started_broker)) && [[ -n ${prefix:-} && -n ${bootstrap:-} && -x ${bin:-} ]]; then
        "$bin" drop --bootstrap "$bootstrap" --prefix "$prefix" >/dev/null 2>"$logs/drop.log" \
            || say "warning: could not delete this run's topics (prefix $prefix): see $logs/drop.log"
    fi
    if ((started_broker)); then
        KAFKA_RUN_DIR=$broker_dir "$ROOT/scripts/kafka-broker.sh" stop >&2 || true
    fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- builds

if [[ -n ${E2E_BIN:-} ]]; then
    bin=$E2E_BIN
    [[ -x $bin ]] || die "E2E_BIN=$bin is not executable"
else
    # Always built: it also loads the topics. With the shared target dir
    # and the prebuilt RocksDB (scripts/env.sh), as every script that runs
    # cargo; without them cargo compiles RocksDB again, into target/.
    # shellcheck source=scripts/env.sh
    source "$ROOT/scripts/env.sh"
    say "building the Rust side (cargo bench --no-run, release profile)..."
    bin=$(cd "$ROOT" && cargo bench --workspace --features runtime --bench e2e --no-run \
            --message-format=json-render-diagnostics \
        | jq -r 'select(.reason == "compiler-artifact" and .target.name == "e2e" and .executable != null) | .executable' \
        | tail -n 1)
    [[ -n $bin && -x $bin ]] || die "cargo built no e2e bench binary (is the [[bench]] e2e stanza in Cargo.toml?)"
fi
if [[ " ${IMPLS[*]} " == *" java "* ]]; then
    say "building the Java side (Maven, cached)..."
    "$JAVA_RUN" --build
fi

# ---------------------------------------------------------------- broker

if [[ -z $bootstrap ]]; then
    broker_dir=${E2E_KAFKA_RUN_DIR:-$CACHE/kafka-bench-run}
    if KAFKA_RUN_DIR=$broker_dir "$ROOT/scripts/kafka-broker.sh" status >/dev/null 2>&1; then
        bootstrap=$(KAFKA_RUN_DIR=$broker_dir "$ROOT/scripts/kafka-broker.sh" bootstrap)
        say "using the benchmark broker already running at $bootstrap ($broker_dir)"
    else
        bootstrap=$(KAFKA_RUN_DIR=$broker_dir "$ROOT/scripts/kafka-broker.sh" start)
        started_broker=1
    fi
fi

# ---------------------------------------------------------------- load

prefix=e2e-$stamp
[[ -z ${E2E_RUST_ARGS:-} ]] || say "warning: E2E_RUST_ARGS='$E2E_RUST_ARGS': the Rust runs do not use the Java side's settings"
say "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "loading $records records x 2 topics, $records yahoo events and $restore_keys restore keys, $partitions partitions, prefix $prefix, broker $bootstrap..."
manifest=$("$bin" load --bootstrap "$bootstrap" --prefix "$prefix" --records "$records" \
    --partitions "$partitions" --restore-keys "$restore_keys" 2>"$logs/load.log" | tail -n 1) \
    || { cat "$logs/load.log" >&2; die "loading failed"; }
say "loaded in $(jq -r '.load_seconds | . * 10 | round / 10' <<<"$manifest") s"

# ---------------------------------------------------------------- runs

# In the logs dir, not the work dir: it outlives an interrupted invocation.
raw=$logs/raw.jsonl
: >"$raw"
run_one() { # impl workload guarantee
    local impl=$1 w=$2 g=$3 log line
    log=$logs/$w.$g.$impl.log
    local args=(run --bootstrap "$bootstrap" --prefix "$prefix" --workload "$w" --guarantee "$g"
                --records "$records" --restore-keys "$restore_keys" --state-dir "$work/state"
                --timeout-s "$timeout")
    # The runtime's warnings (e.g. one per record dropped as late by a
    # windowed count) would cost the Rust side a write(2) each, while the
    # Java side logs nowhere (slf4j-nop): errors only, unless STREAMS_LOG says.
    local extra=()
    # shellcheck disable=SC2206  # a word list on purpose
    [[ -n ${E2E_RUST_ARGS:-} ]] && extra=(${E2E_RUST_ARGS})
    local cmd=(env "STREAMS_LOG=${STREAMS_LOG:-error}" "$bin" "${args[@]}" "${extra[@]}")
    [[ $impl == java ]] && cmd=("$JAVA_RUN" "${args[@]}")
    say "$w $g $impl..."
    if line=$("${cmd[@]}" 2>"$log" | tail -n 1) && jq -e . >/dev/null 2>&1 <<<"$line"; then
        echo "$line" >>"$raw"
        say "  $(jq -r '"\(.records_per_s | round) records/s, \(.seconds * 100 | round / 100) s, peak RSS \(.peak_rss_bytes / 1048576 | round) MiB"' <<<"$line")"
    else
        local err
        err=$(grep -v '^[0-9]*\.[0-9]* \(WARN\|INFO\)' "$log" | tail -n 1)
        say "  FAILED: ${err:-see $log}"
        jq -cn --arg w "$w" --arg i "$impl" --arg g "$g" --arg e "${err:-failed}" \
            '{workload: $w, impl: $i, guarantee: $g, error: $e}' >>"$raw"
    fi
}

n=0
for w in "${WORKLOADS[@]}"; do
    for g in "${GUARANTEES[@]}"; do
        if [[ $g == exactly_once_v2 && $EOS_WORKLOADS != *" $w "* ]]; then continue; fi
        for ((r = 0; r < repeat; r++)); do
            order=("${IMPLS[@]}")
            # Alternate which implementation goes first, so that a slow
            # drift of the machine (page cache, broker log size) favours
            # neither.
            if ((n % 2 == 1)) && ((${#order[@]} == 2)); then order=("${order[1]}" "${order[0]}"); fi
            n=$((n + 1))
            for impl in "${order[@]}"; do run_one "$impl" "$w" "$g"; done
        done
    done
done

# In-process ceilings: no broker involved, so they run after every
# end-to-end run, each in its own process.
if ((inprocess)) && [[ " ${IMPLS[*]} " == *" rust "* ]]; then
    for w in "${WORKLOADS[@]}"; do
        case $w in consume | consumeproduce | restore) continue ;; esac
        for ((r = 0; r < repeat; r++)); do
            say "$w in process..."
            log=$logs/$w.inprocess.log
            if line=$(env "STREAMS_LOG=${STREAMS_LOG:-error}" "$bin" inprocess --workload "$w" \
                    --records "$records" --partitions "$partitions" 2>"$log" | tail -n 1) &&
                jq -e . >/dev/null 2>&1 <<<"$line"; then
                echo "$line" >>"$raw"
                say "  $(jq -r '"\(.records_per_s | round) records/s"' <<<"$line")"
            else
                say "  FAILED: see $log"
            fi
        done
    done
fi

# ---------------------------------------------------------------- report

# With --repeat, each implementation's median run stands for it (the
# highest peak RSS of its runs), in the order the runs were made.
median=$work/median.jsonl
jq -sc '
  map(.guarantee //= "at_least_once")
  | (reduce .[] as $r ([]; ($r.workload + "|" + $r.guarantee + "|" + $r.impl) as $k
     | if index([$k]) then . else . + [$k] end)) as $keys
  | $keys[] as $k
  | map(select(.workload + "|" + .guarantee + "|" + .impl == $k))
  | (map(select(.error | not)) | sort_by(.records_per_s)) as $ok
  | if ($ok | length) == 0 then .[0]
    else $ok[(($ok | length) - 1) / 2 | floor]
         + {peak_rss_bytes: ($ok | map(.peak_rss_bytes) | max)}
         + (if ($ok | length) > 1
            then {runs: ($ok | length), records_per_s_runs: ($ok | map(.records_per_s | round))}
            else {} end)
    end' "$raw" >"$median"

jq -sc --argjson m "$manifest" '
  def r3: if type == "number" then (. * 1000 | round) / 1000 else . end;
  (map(select(.error | not))) as $ok
  | ([$ok[] | select(.workload == "consumeproduce" and .impl == "rust" and .guarantee == "at_least_once")][0].records_per_s) as $cp
  | ($ok | map(select(.impl == "java")) | map({key: (.workload + "|" + .guarantee), value: .}) | from_entries) as $java
  | ($ok | map(select(.guarantee == "at_least_once")) | map({key: (.workload + "|" + .impl), value: .records_per_s}) | from_entries) as $alos
  | .[]
  | select(.impl != "rust-inprocess")
  | if .error then . else
      (if .workload == "yahoo" then $m.yahoo_event_bytes
       elif .workload == "restore" then $m.restore_record_bytes
       else $m.record_bytes end) as $bytes
      | $java[.workload + "|" + .guarantee] as $j
      | {workload, impl, guarantee, records,
         seconds: (.seconds | r3),
         records_per_s: (.records_per_s | round),
         mb_per_s: (.records_per_s * $bytes / 1048576 | r3),
         peak_rss_bytes,
         ratio_to_consumeproduce: (if $cp and .workload != "restore" then .records_per_s / $cp | r3 else null end),
         ratio_to_java: (if $j then .records_per_s / $j.records_per_s | r3 else null end),
         rss_ratio_to_java: (if $j and $j.peak_rss_bytes > 0 then .peak_rss_bytes / $j.peak_rss_bytes | r3 else null end),
         eos_cost: (if .guarantee == "exactly_once_v2" then
                      ($alos[.workload + "|" + .impl]) as $a | (if $a then 1 - .records_per_s / $a | r3 else null end)
                    else null end),
         first_record_s: (.first_record_s | r3),
         steady_records_per_s: (if .workload != "restore" and .seconds > .first_record_s
                                then (.records - 1) / (.seconds - .first_record_s) | round else null end)}
        + (if .start_to_running_s then {start_to_running_s: (.start_to_running_s | r3)} else {} end)
        + (if .runs then {runs, records_per_s_runs} else {} end)
        + (if .impl == "rust" and .guarantee == "at_least_once"
              and $alos[.workload + "|rust-inprocess"] then
             ($alos[.workload + "|rust-inprocess"]) as $c
             | {inprocess_records_per_s: ($c | round),
                inprocess_ratio_to_consumeproduce: (if $cp then $c / $cp | r3 else null end)}
           else {} end)
    end' "$median" | tee "$out"

md=${out%.jsonl}.md
{
    echo "| workload | guarantee | impl | records/s | MB/s | s | first record s | peak RSS MiB | x consumeproduce | x Java | RSS x Java | in-process x consumeproduce |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    jq -r '
      def f: if . == null then "" else tostring end;
      if .error then "| \(.workload) | \(.guarantee) | \(.impl) | failed: \(.error) | | | | | | | | |"
      else "| \(.workload) | \(.guarantee) | \(.impl) | \(.records_per_s) | \(.mb_per_s * 10 | round / 10) | \(.seconds * 100 | round / 100) | \(.first_record_s * 100 | round / 100) | \(.peak_rss_bytes / 1048576 | round) | \(.ratio_to_consumeproduce | f) | \(.ratio_to_java | f) | \(.rss_ratio_to_java | f) | \(.inprocess_ratio_to_consumeproduce | f) |"
      end' "$out"
} >"$md"
cat "$md" >&2
say "results: $out (table: $md, logs: $logs)"
