#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, broker+controller in one JVM)
# on 127.0.0.1, for kstreams' integration tests and for debugging.
#
#   scripts/kafka-broker.sh start        fetch Kafka if needed, start, print 127.0.0.1:<port>
#   scripts/kafka-broker.sh stop         SIGTERM, then SIGKILL after $KAFKA_STOP_TIMEOUT s
#   scripts/kafka-broker.sh status       exit 0 if running (3 if not), with a one-line report
#   scripts/kafka-broker.sh bootstrap    print 127.0.0.1:<port> if running, else fail
#   scripts/kafka-broker.sh fetch        only download the jars (setup.sh does this)
#
#   scripts/kafka-broker.sh create-topic <name> <partitions> [config=value...]
#   scripts/kafka-broker.sh produce <topic> [ConsoleProducer options...]
#        stdin lines are "key<TAB>value"
#   scripts/kafka-broker.sh consume <topic> [--from-beginning] [--max N]
#        [--isolation read_committed] [--timeout-ms MS | --follow] [ConsoleConsumer options...]
#        prints "key<TAB>value" lines; stops after MS (default 10000) without a
#        record (Kafka's tool then logs an ERROR with a TimeoutException: expected)
#   scripts/kafka-broker.sh topics       list topics
#   scripts/kafka-broker.sh run-class <main class> [args...]
#        any Kafka main class on the broker's classpath, e.g.
#        org.apache.kafka.tools.ProducerPerformance; $KAFKA_BOOTSTRAP is set for it
#
# Kafka comes from Maven Central through scripts/kafka-broker/pom.xml (the
# pinned version is there) and is cached, once, in
#   ${XDG_CACHE_HOME:-$HOME/.cache}/kstreams/kafka-<version>/libs
# The broker runs from $KAFKA_RUN_DIR (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/kstreams/kafka-run), which `start` wipes:
# server.properties, broker.log, kafka.pid and the data live there.
#
# Environment:
#   KAFKA_PORT             client port (default 19092; if unset and 19092 is
#                          taken, the next free pair of ports is used)
#   KAFKA_CONTROLLER_PORT  controller port (default client port + 1)
#   KAFKA_RUN_DIR          run directory (see above)
#   KAFKA_HEAP_OPTS        broker heap (default -Xms128m -Xmx512m)
#   KAFKA_JVM_OPTS         other broker JVM options (default: serial GC, small
#                          direct memory, exit on OOM)
#   KAFKA_BROKER_CONFIG    extra server.properties lines (newline-separated),
#                          appended last so they override the template
#   KAFKA_START_TIMEOUT    seconds to wait for the broker (default 90)
#   KAFKA_STOP_TIMEOUT     seconds between SIGTERM and SIGKILL (default 30)
#
# `start` and `bootstrap` print one line on stdout, the bootstrap address;
# `stop` and `status` print a one-line report there. Progress and errors go
# to stderr.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONF_DIR=$SCRIPT_DIR/kafka-broker
POM=$CONF_DIR/pom.xml

CACHE_ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/kstreams
KAFKA_VERSION=$(sed -n 's:.*<kafka\.version>\([^<]*\)</kafka\.version>.*:\1:p' "$POM" | head -n 1)
KAFKA_HOME=$CACHE_ROOT/kafka-$KAFKA_VERSION
LIBS=$KAFKA_HOME/libs
STAMP=$KAFKA_HOME/.complete

RUN_DIR=${KAFKA_RUN_DIR:-$CACHE_ROOT/kafka-run}
PID_FILE=$RUN_DIR/kafka.pid
ADDR_FILE=$RUN_DIR/bootstrap
LOG_FILE=$RUN_DIR/broker.log
PROPS=$RUN_DIR/server.properties
DATA_DIR=$RUN_DIR/data
RUN_LOCK=$RUN_DIR.lock

DEFAULT_PORT=19092
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
STARTED_LINE='Kafka Server started'

BROKER_HEAP=${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}
BROKER_JVM=${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:MaxDirectMemorySize=256m -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true}
# Short-lived tools: start fast, stay small.
TOOL_JVM=(-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
          "-Dlog4j2.configurationFile=$CONF_DIR/log4j2-tools.properties")

say() { printf 'kafka-broker: %s\n' "$*" >&2; }
die() { printf 'kafka-broker: error: %s\n' "$*" >&2; exit 1; }

usage() { # exit code
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
    exit "${1:-2}"
}

now_ms() { date +%s%3N; }
elapsed() { # ms since $1, as seconds with one decimal
    local d=$(( $(now_ms) - $1 ))
    printf '%d.%d' $((d / 1000)) $((d % 1000 / 100))
}

need_java() {
    command -v java >/dev/null 2>&1 || die "java not found on PATH (Kafka $KAFKA_VERSION needs Java 17+; run scripts/setup.sh)"
}

# ---------------------------------------------------------------- fetching

pom_digest() { sha256sum "$POM" | cut -d' ' -f1; }

fetched() { [[ -f $STAMP && $(head -n 1 "$STAMP") == "$(pom_digest)" ]]; }

fetch() {
    [[ -n $KAFKA_VERSION ]] || die "no <kafka.version> in $POM"
    fetched && return 0
    command -v mvn >/dev/null 2>&1 || die "mvn not found on PATH; it is needed once to fetch Kafka $KAFKA_VERSION (run scripts/setup.sh)"
    need_java
    mkdir -p "$KAFKA_HOME"
    exec 8>"$KAFKA_HOME/.lock"
    flock -w 600 8 || die "timed out waiting for another fetch of Kafka $KAFKA_VERSION"
    if fetched; then exec 8>&-; return 0; fi

    say "fetching Apache Kafka $KAFKA_VERSION and its runtime dependencies from Maven Central..."
    local t0 tmp mvn_log
    t0=$(now_ms)
    tmp=$KAFKA_HOME/libs.tmp.$$
    mvn_log=$KAFKA_HOME/fetch.log
    rm -rf "$tmp"
    if ! (cd "$CONF_DIR" && mvn -B -q -Dstyle.color=never -f "$POM" \
            "-Dkafka.libs.dir=$tmp" dependency:copy-dependencies) >"$mvn_log" 2>&1; then
        tail -n 40 "$mvn_log" >&2 || true
        rm -rf "$tmp"
        die "Maven could not fetch Kafka $KAFKA_VERSION (full output: $mvn_log)"
    fi
    local jar
    for jar in "kafka_2.13-$KAFKA_VERSION.jar" "kafka-server-$KAFKA_VERSION.jar" \
               "kafka-metadata-$KAFKA_VERSION.jar" "kafka-raft-$KAFKA_VERSION.jar" \
               "kafka-storage-$KAFKA_VERSION.jar" "kafka-tools-$KAFKA_VERSION.jar" \
               "kafka-clients-$KAFKA_VERSION.jar"; do
        [[ -f $tmp/$jar ]] || { rm -rf "$tmp"; die "fetched jars lack $jar"; }
    done
    compgen -G "$tmp/log4j-core-*.jar" >/dev/null || { rm -rf "$tmp"; die "fetched jars lack log4j-core"; }
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    { pom_digest; (cd "$LIBS" && ls); } >"$STAMP"
    say "fetched $(find "$LIBS" -name '*.jar' | wc -l) jars ($(du -sh "$LIBS" | cut -f1)) into $LIBS in $(elapsed "$t0") s"
    exec 8>&-
}

# ---------------------------------------------------------------- process state

port_open() { # something accepts TCP connections on 127.0.0.1:$1
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints the broker's pid if the one started from this run dir is alive.
running_pid() {
    [[ -f $PID_FILE ]] || return 1
    local pid
    pid=$(cat "$PID_FILE" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # Guard against a recycled pid: it must be our kafka.Kafka on our props.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $PROPS" || return 1
    echo "$pid"
}

bootstrap_addr() { [[ -f $ADDR_FILE ]] && cat "$ADDR_FILE"; }

last_log() {
    local n=${1:-40}
    if [[ -s $LOG_FILE ]]; then
        say "last $n lines of $LOG_FILE:"
        tail -n "$n" "$LOG_FILE" | sed 's/^/    /' >&2
    fi
}

lock_run_dir() {
    mkdir -p "$(dirname "$RUN_LOCK")"
    exec 9>"$RUN_LOCK"
    flock -w $((START_TIMEOUT + STOP_TIMEOUT + 60)) 9 || die "timed out waiting for another start/stop on $RUN_DIR"
}

gen_cluster_id() { # 16 random bytes, URL-safe base64 without padding, as Kafka's Uuid
    local id
    while :; do
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
        [[ $id != -* ]] && break
    done
    echo "$id"
}

pick_ports() { # sets PORT and CONTROLLER_PORT
    if [[ -n ${KAFKA_PORT:-} ]]; then
        [[ $KAFKA_PORT =~ ^[0-9]+$ ]] || die "KAFKA_PORT must be a port number, not '$KAFKA_PORT'"
        PORT=$KAFKA_PORT
        CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}
        port_open "$PORT" && die "KAFKA_PORT $PORT is already in use on 127.0.0.1"
        port_open "$CONTROLLER_PORT" && die "controller port $CONTROLLER_PORT is already in use on 127.0.0.1"
        return 0
    fi
    PORT=$DEFAULT_PORT
    for _ in $(seq 1 50); do
        CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}
        if ! port_open "$PORT" && ! port_open "$CONTROLLER_PORT"; then
            [[ $PORT == "$DEFAULT_PORT" ]] || say "port $DEFAULT_PORT is taken; using $PORT"
            return 0
        fi
        PORT=$((PORT + 2))
    done
    die "no free port pair found from $DEFAULT_PORT upward; set KAFKA_PORT"
}

# ---------------------------------------------------------------- commands

cmd_start() {
    lock_run_dir
    local pid
    if pid=$(running_pid); then
        local addr
        addr=$(bootstrap_addr) || die "a broker (pid $pid) runs from $RUN_DIR but has no bootstrap file; run: $0 stop"
        if [[ -n ${KAFKA_PORT:-} && $addr != "127.0.0.1:$KAFKA_PORT" ]]; then
            die "already running at $addr (pid $pid), not on KAFKA_PORT $KAFKA_PORT; run: $0 stop"
        fi
        say "already running (pid $pid, log $LOG_FILE)"
        echo "$addr"
        return 0
    fi
    fetch
    need_java
    pick_ports

    local t0
    t0=$(now_ms)
    rm -rf "$RUN_DIR"
    mkdir -p "$DATA_DIR"
    sed -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
        -e "s|@DATA_DIR@|$DATA_DIR|g" "$CONF_DIR/server.properties.in" >"$PROPS"
    if [[ -n ${KAFKA_BROKER_CONFIG:-} ]]; then
        printf '\n# From KAFKA_BROKER_CONFIG\n%s\n' "$KAFKA_BROKER_CONFIG" >>"$PROPS"
    fi

    local cluster_id
    cluster_id=$(gen_cluster_id)
    if ! java "${TOOL_JVM[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
            --standalone --cluster-id "$cluster_id" --config "$PROPS" \
            >"$RUN_DIR/format.log" 2>&1 9>&-; then
        sed 's/^/    /' "$RUN_DIR/format.log" >&2
        die "formatting the KRaft storage in $DATA_DIR failed"
    fi

    # setsid: the broker outlives this script and its terminal's signals.
    # Its stdin/stdout/stderr are detached so $(kafka-broker.sh start)
    # returns as soon as this script exits. fd 9 (the run-dir lock) is closed.
    # SC2086: the *_OPTS variables are word lists. SC2016: $$ and $0 are
    # meant for the inner shell, which writes its own pid and execs java.
    # shellcheck disable=SC2086,SC2016
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" \
        java $BROKER_HEAP $BROKER_JVM \
        "-Dlog4j2.configurationFile=$CONF_DIR/log4j2-broker.properties" \
        "-Dkafka.logs.dir=$RUN_DIR" \
        -cp "$LIBS/*" kafka.Kafka "$PROPS" \
        </dev/null >"$LOG_FILE" 2>&1 9>&- &
    local launcher=$!
    disown "$launcher" 2>/dev/null || true

    local deadline=$(( $(now_ms) + START_TIMEOUT * 1000 ))
    pid=
    while :; do
        [[ -z $pid && -s $PID_FILE ]] && pid=$(cat "$PID_FILE")
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            last_log 40
            die "the broker exited during start-up (see $LOG_FILE)"
        fi
        if [[ -z $pid ]] && ! kill -0 "$launcher" 2>/dev/null; then
            last_log 40
            die "the broker could not be launched"
        fi
        if [[ -n $pid ]] && grep -qF "$STARTED_LINE" "$LOG_FILE" 2>/dev/null && port_open "$PORT"; then
            break
        fi
        if (( $(now_ms) > deadline )); then
            last_log 40
            if [[ -n $pid ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
            rm -f "$PID_FILE"
            die "the broker did not answer on 127.0.0.1:$PORT within ${START_TIMEOUT}s (killed it; see $LOG_FILE)"
        fi
        sleep 0.2
    done

    echo "127.0.0.1:$PORT" >"$ADDR_FILE"
    say "Kafka $KAFKA_VERSION started in $(elapsed "$t0") s (pid $pid, log $LOG_FILE)"
    echo "127.0.0.1:$PORT"
}

cmd_stop() {
    lock_run_dir
    local pid
    if ! pid=$(running_pid); then
        rm -f "$PID_FILE" "$ADDR_FILE"
        echo "kafka-broker: not running"
        return 0
    fi
    local t0 how=SIGTERM
    t0=$(now_ms)
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$(( $(now_ms) + STOP_TIMEOUT * 1000 ))
    while kill -0 "$pid" 2>/dev/null; do
        if (( $(now_ms) > deadline )); then
            how="SIGKILL after ${STOP_TIMEOUT}s"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.2
    done
    rm -f "$PID_FILE" "$ADDR_FILE"
    echo "kafka-broker: stopped pid $pid ($how, $(elapsed "$t0") s)"
}

cmd_status() {
    local pid
    if pid=$(running_pid); then
        local rss
        rss=$(awk '/^VmRSS:/ {printf "%d MiB", $2 / 1024}' "/proc/$pid/status" 2>/dev/null || echo '?')
        echo "kafka-broker: running: pid $pid, bootstrap $(bootstrap_addr || echo '(starting)'), rss $rss, run dir $RUN_DIR"
        return 0
    fi
    if [[ -f $PID_FILE ]]; then
        echo "kafka-broker: not running (stale pid file; log $LOG_FILE)"
    else
        echo "kafka-broker: not running"
    fi
    return 3
}

# The address of the running broker, or fail: for the helper commands.
require_bootstrap() {
    local addr
    running_pid >/dev/null || die "no broker is running from $RUN_DIR (run: $0 start)"
    addr=$(bootstrap_addr) || die "the broker is still starting"
    echo "$addr"
}

cmd_bootstrap() { require_bootstrap; }

run_tool() { # main-class args...
    need_java
    fetched || fetch
    java "${TOOL_JVM[@]}" -cp "$LIBS/*" "$@"
}

cmd_create_topic() {
    [[ $# -ge 2 ]] || die "usage: create-topic <name> <partitions> [config=value...]"
    local name=$1 partitions=$2 bs
    shift 2
    [[ $partitions =~ ^[0-9]+$ ]] || die "partitions must be a number, not '$partitions'"
    bs=$(require_bootstrap)
    local args=(--bootstrap-server "$bs" --create --topic "$name"
                --partitions "$partitions" --replication-factor 1)
    local kv
    for kv in "$@"; do
        [[ $kv == *=* ]] || die "topic config must be key=value, not '$kv'"
        args+=(--config "$kv")
    done
    run_tool org.apache.kafka.tools.TopicCommand "${args[@]}"
}

cmd_topics() {
    local bs
    bs=$(require_bootstrap)
    run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" --list "$@"
}

cmd_produce() {
    [[ $# -ge 1 ]] || die "usage: produce <topic> [ConsoleProducer options...]  (stdin: key<TAB>value lines)"
    local topic=$1 bs
    shift
    bs=$(require_bootstrap)
    run_tool org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$bs" --topic "$topic" \
        --reader-property parse.key=true --reader-property "key.separator=$(printf '\t')" \
        --command-property acks=all "$@"
}

cmd_consume() {
    [[ $# -ge 1 ]] || die "usage: consume <topic> [--from-beginning] [--max N] [--isolation read_committed] [--timeout-ms MS|--follow]"
    local topic=$1 bs timeout=10000
    shift
    local args=()
    while [[ $# -gt 0 ]]; do
        case $1 in
            --max) [[ $# -ge 2 ]] || die "--max needs a number"; args+=(--max-messages "$2"); shift 2 ;;
            --isolation) [[ $# -ge 2 ]] || die "--isolation needs read_committed or read_uncommitted"
                         args+=(--isolation-level "$2"); shift 2 ;;
            --timeout-ms) [[ $# -ge 2 ]] || die "--timeout-ms needs a number"; timeout=$2; shift 2 ;;
            --follow) timeout=; shift ;;
            *) args+=("$1"); shift ;;
        esac
    done
    [[ -n $timeout ]] && args+=(--timeout-ms "$timeout")
    bs=$(require_bootstrap)
    run_tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$bs" --topic "$topic" \
        --formatter-property print.key=true --formatter-property "key.separator=$(printf '\t')" \
        "${args[@]}"
}

cmd_run_class() {
    [[ $# -ge 1 ]] || die "usage: run-class <main class> [args...]"
    KAFKA_BOOTSTRAP=$(bootstrap_addr 2>/dev/null || true)
    export KAFKA_BOOTSTRAP
    run_tool "$@"
}

main() {
    [[ $# -ge 1 ]] || usage
    local cmd=$1
    shift
    case $cmd in
        start) cmd_start ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        bootstrap) cmd_bootstrap ;;
        fetch) fetch ;;
        create-topic) cmd_create_topic "$@" ;;
        topics) cmd_topics "$@" ;;
        produce) cmd_produce "$@" ;;
        consume) cmd_consume "$@" ;;
        run-class) cmd_run_class "$@" ;;
        -h|--help|help) usage 0 ;;
        *) say "unknown command: $cmd"; usage ;;
    esac
}

main "$@"
