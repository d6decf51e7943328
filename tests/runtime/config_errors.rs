//! What fails at start, and how: each error names the fix.

use std::time::{Duration, Instant};

use streams::config::StreamsConfig;
use streams::dsl::{Consumed, Produced, StoreType, StreamsBuilder};
use streams::runtime::{KafkaStreams, State, StreamsUncaughtExceptionResponse};
use streams::serde::Serdes;

use super::*;

fn passthrough(input: &str, output: &str) -> streams::topology::Topology {
    let b = StreamsBuilder::new();
    b.stream(input, Consumed::with(Serdes::string(), Serdes::string()))
        .to(output, Produced::with(Serdes::string(), Serdes::string()));
    b.build().unwrap()
}

fn start_err(topology: streams::topology::Topology, config: StreamsConfig) -> String {
    let mut s = KafkaStreams::new(topology, config);
    let err = s.start().expect_err("start must fail").to_string();
    assert_eq!(s.state(), State::Created);
    assert!(s.close(Duration::from_secs(5)));
    err
}

#[test]
fn missing_application_id() {
    let err = start_err(
        passthrough("in", "out"),
        StreamsConfig::new().set("bootstrap.servers", "127.0.0.1:9"),
    );
    assert_eq!(
        err,
        "invalid configuration: 'application.id' is missing: set it to a name unique to this application (it is the consumer group and the prefix of internal topics)"
    );
}

#[test]
fn missing_bootstrap_servers() {
    let err = start_err(
        passthrough("in", "out"),
        StreamsConfig::new().set("application.id", "app"),
    );
    assert_eq!(
        err,
        "invalid configuration: 'bootstrap.servers' is missing: set it to the Kafka brokers to connect to, as host:port[,host:port...]"
    );
}

#[test]
fn bad_values_name_the_key() {
    let base = || {
        StreamsConfig::new()
            .set("application.id", "app")
            .set("bootstrap.servers", "127.0.0.1:9")
    };
    for (key, value) in [
        ("num.stream.threads", "0"),
        ("commit.interval.ms", "soon"),
        ("processing.guarantee", "exactly_once"),
        ("default.deserialization.exception.handler", "Ignore"),
        ("replication.factor", "0"),
    ] {
        let err = start_err(passthrough("in", "out"), base().set(key, value));
        assert!(err.contains(key), "{key}={value}: {err}");
    }
    // librdkafka settings pass through, by prefix, and a value the client
    // rejects fails at start naming it.
    for (key, named) in [
        ("consumer.no.such.setting", "no.such.setting"),
        ("producer.linger.ms", "linger.ms"),
        ("admin.no.such.setting", "no.such.setting"),
        ("no.such.setting", "no.such.setting"),
    ] {
        let err = start_err(passthrough("in", "out"), base().set(key, "soon"));
        assert!(
            err.contains(named) && err.contains("fix or remove it"),
            "{key}: {err}"
        );
    }
    let err = start_err(
        passthrough("in", "out"),
        base().set("application.id", "bad id"),
    );
    assert!(err.contains("application.id"), "{err}");
}

/// Kafka Streams settings of the Java client that would change results
/// are refused unless they hold Java's default, naming what to do instead.
#[test]
fn java_only_settings_that_change_results() {
    let base = || {
        StreamsConfig::new()
            .set("application.id", "app")
            .set("bootstrap.servers", "127.0.0.1:9")
    };
    for (key, value, named) in [
        (
            "default.dsl.store",
            "in_memory",
            "Materialized::with_store_type",
        ),
        (
            "default.production.exception.handler",
            "com.example.Mine",
            "custom production exception handlers are not supported",
        ),
        (
            "windowstore.changelog.additional.retention.ms",
            "1000",
            "retention plus one day",
        ),
        (
            "rocksdb.config.setter",
            "com.example.Setter",
            "RocksDB options",
        ),
    ] {
        let err = start_err(passthrough("in", "out"), base().set(key, value));
        assert!(
            err.contains(key) && err.contains(named),
            "{key}={value}: {err}"
        );
    }
}

/// A configuration written for Java runs unchanged: its metrics and
/// assignor settings, and the result-changing ones at their defaults, are
/// accepted and kept from the Kafka clients (which would refuse them).
#[test]
fn embedded_java_settings_at_their_defaults_are_accepted() {
    let cluster = Cluster::embedded();
    let (input, output, app) = (unique("js-in"), unique("js-out"), unique("js-app"));
    cluster.create(&[(&input, 1), (&output, 1)]);
    let dir = state_dir();
    let cfg = config(&cluster, &app, dir.path())
        .set("metrics.recording.level", "DEBUG")
        .set("acceptable.recovery.lag", "10000")
        .set("upgrade.from", "3.9")
        .set("default.dsl.store", "rocksDB")
        .set(
            "default.production.exception.handler",
            "org.apache.kafka.streams.errors.DefaultProductionExceptionHandler",
        )
        .set("windowstore.changelog.additional.retention.ms", "86400000");
    let streams = start(passthrough(&input, &output), cfg);
    wait_running(&streams);
    produce(&cluster.bootstrap, &input, &[kv("k", "v", 1)]).unwrap();
    wait_processed(&cluster, &app, &[&input]);
    let got = read_topic(&cluster.bootstrap, &output, false).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].value.as_deref(), Some(&b"v"[..]));
    close(streams);
}

#[test]
fn unreachable_broker_fails_within_the_api_timeout() {
    let t0 = Instant::now();
    let err = start_err(
        passthrough("in", "out"),
        StreamsConfig::new()
            .set("application.id", "app")
            .set("bootstrap.servers", "127.0.0.1:1")
            .set("default.api.timeout.ms", "2000"),
    );
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t0.elapsed()
    );
    assert!(
        err.starts_with("kafka: cannot reach Kafka at '127.0.0.1:1' within 2000 ms ("),
        "{err}"
    );
    assert!(
        err.ends_with("): check bootstrap.servers and that the brokers are running"),
        "{err}"
    );
}

#[test]
fn embedded_missing_source_topic() {
    let cluster = Cluster::embedded();
    let dir = state_dir();
    let err = start_err(
        passthrough("no-such-topic", "out"),
        config(&cluster, "app", dir.path()),
    );
    assert!(
        err.contains("source topic 'no-such-topic' does not exist"),
        "{err}"
    );
}

#[test]
fn embedded_internal_topic_with_wrong_partition_count() {
    let cluster = Cluster::embedded();
    let input = unique("wp-in");
    let output = unique("wp-out");
    let app = unique("wp-app");
    cluster.create(&[
        (&input, 2),
        (&output, 2),
        (&format!("{app}-counts-store-repartition"), 5),
    ]);
    let dir = state_dir();
    let err = start_err(
        word_count_topology(&input, &output, StoreType::InMemory),
        config(&cluster, &app, dir.path()),
    );
    assert!(
        err.contains(&format!("existing internal topic '{app}-counts-store-repartition' has 5 partitions, but the topology needs 2")),
        "{err}"
    );
}

#[test]
fn embedded_join_inputs_must_be_copartitioned() {
    let cluster = Cluster::embedded();
    let left = unique("cp-left");
    let right = unique("cp-right");
    let output = unique("cp-out");
    cluster.create(&[(&left, 2), (&right, 3), (&output, 2)]);
    let b = StreamsBuilder::new();
    let l = b.table(
        &left,
        Consumed::with(Serdes::string(), Serdes::string()),
        streams::dsl::Materialized::none(),
    );
    let r = b.table(
        &right,
        Consumed::with(Serdes::string(), Serdes::string()),
        streams::dsl::Materialized::none(),
    );
    l.join(&r, |a: &String, b: &String| format!("{a}{b}"))
        .to_stream()
        .to(&output, Produced::with(Serdes::string(), Serdes::string()));
    let dir = state_dir();
    let err = start_err(
        b.build().unwrap(),
        config(&cluster, &unique("cp-app"), dir.path()),
    );
    assert!(err.contains("same number of partitions"), "{err}");
    assert!(
        err.contains(&format!("{left} (2 partitions)"))
            && err.contains(&format!("{right} (3 partitions)")),
        "{err}"
    );
}

/// A record the source cannot deserialize: log-and-fail (the default)
/// fails the thread and, with no handler set, shuts the client down.
#[test]
fn embedded_log_and_fail_shuts_the_client_down() {
    let cluster = Cluster::embedded();
    let input = unique("lf-in");
    let output = unique("lf-out");
    let app = unique("lf-app");
    cluster.create(&[(&input, 1), (&output, 1)]);
    let b = StreamsBuilder::new();
    b.stream(&input, Consumed::with(Serdes::string(), Serdes::i64()))
        .to(&output, Produced::with(Serdes::string(), Serdes::i64()));
    let dir = state_dir();
    let s = start(b.build().unwrap(), config(&cluster, &app, dir.path()));
    streams::runtime::produce(
        &cluster.bootstrap,
        &input,
        &[KafkaRecord::new(
            Some(b"k".to_vec()),
            Some(b"abc".to_vec()),
            1,
        )],
    )
    .unwrap();
    assert!(
        s.wait_for_state(State::Error, Duration::from_secs(60)),
        "state {:?}",
        s.state()
    );
    let mut s = s;
    assert!(s.close(Duration::from_secs(30)));
    // ERROR is final.
    assert_eq!(s.state(), State::Error);
}

/// With the replace-thread response the failing thread is replaced (and,
/// the bad record being still uncommitted, fails again).
#[test]
fn embedded_replace_thread_handler() {
    let cluster = Cluster::embedded();
    let input = unique("rt-in");
    let output = unique("rt-out");
    let app = unique("rt-app");
    cluster.create(&[(&input, 1), (&output, 1)]);
    let b = StreamsBuilder::new();
    b.stream(&input, Consumed::with(Serdes::string(), Serdes::i64()))
        .to(&output, Produced::with(Serdes::string(), Serdes::i64()));
    let dir = state_dir();
    let mut s = KafkaStreams::new(b.build().unwrap(), config(&cluster, &app, dir.path()));
    s.set_uncaught_exception_handler(|e| {
        assert!(e.to_string().contains("deserialization failed"), "{e}");
        StreamsUncaughtExceptionResponse::ReplaceThread
    });
    s.start().unwrap();
    streams::runtime::produce(
        &cluster.bootstrap,
        &input,
        &[KafkaRecord::new(
            Some(b"k".to_vec()),
            Some(b"abc".to_vec()),
            1,
        )],
    )
    .unwrap();
    eventually("a replaced thread", Duration::from_secs(60), || {
        s.metrics().replaced_threads >= 1
    });
    assert_ne!(s.state(), State::Error);
    close(s);
}

/// Starts `topology`, whose changelog topics cannot be created, and checks
/// what `start` does: the stream threads it started (they join the group
/// while the changelogs are created) are stopped, nothing is processed, the
/// uncaught-error handler is not called (the error is start()'s), and the
/// state ends `NOT_RUNNING`. Returns start()'s error.
pub fn changelog_creation_failure_fails_start(
    cluster: &Cluster,
    topology: streams::topology::Topology,
    config: StreamsConfig,
    input: &str,
    output: &str,
) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};
    produce(&cluster.bootstrap, input, &lines(&["a b", "b"], t0())).unwrap();
    let mut s = KafkaStreams::new(topology, config);
    let handled = Arc::new(AtomicU32::new(0));
    let h = handled.clone();
    s.set_uncaught_exception_handler(move |e| {
        eprintln!("handler called: {e}");
        h.fetch_add(1, Ordering::SeqCst);
        StreamsUncaughtExceptionResponse::ShutdownClient
    });
    let states = Arc::new(Mutex::new(Vec::new()));
    let st = states.clone();
    s.set_state_listener(move |new, old| st.lock().unwrap().push((old, new)));
    let err = s.start().expect_err("start must fail").to_string();
    assert_eq!(s.state(), State::NotRunning);
    assert_eq!(
        *states.lock().unwrap(),
        vec![
            (State::Created, State::Rebalancing),
            (State::Rebalancing, State::PendingShutdown),
            (State::PendingShutdown, State::NotRunning),
        ]
    );
    assert_eq!(handled.load(Ordering::SeqCst), 0);
    assert!(s.close(Duration::from_secs(5)));
    assert_eq!(
        read_topic(&cluster.bootstrap, output, false).unwrap(),
        vec![]
    );
    err
}

/// Creating the changelog topics in the background failed: start() says
/// why, after stopping the threads it started.
#[test]
fn embedded_changelog_creation_failure_fails_start() {
    let cluster = Cluster::embedded();
    let (input, output, app) = (unique("ccf-in"), unique("ccf-out"), unique("ccf-app"));
    cluster.create(&[(&input, 2), (&output, 2)]);
    streams::runtime::faults::fail_next_changelog_creation(&app, "TOPIC_AUTHORIZATION_FAILED");
    let dir = state_dir();
    let err = changelog_creation_failure_fails_start(
        &cluster,
        word_count_topology(&input, &output, StoreType::RocksDb),
        config(&cluster, &app, dir.path()),
        &input,
        &output,
    );
    assert_eq!(
        err,
        format!(
            "kafka: cannot create topic '{app}-counts-store-changelog': TOPIC_AUTHORIZATION_FAILED (injected fault)"
        )
    );
    // The next instance of the application, with nothing armed, runs.
    let mut s = start(
        word_count_topology(&input, &output, StoreType::RocksDb),
        config(&cluster, &app, dir.path()),
    );
    wait_processed(&cluster, &app, &[&input]);
    assert_eq!(
        final_counts(&cluster, &output),
        BTreeMap::from([("a".to_string(), 1), ("b".to_string(), 2)])
    );
    assert!(s.close(Duration::from_secs(60)));
}
