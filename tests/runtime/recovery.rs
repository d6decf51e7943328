//! Recovery from corrupted tasks (Kafka Streams' `TaskCorruptedException`):
//! a send or a transaction fails with an error retrying may fix, and the
//! thread, without leaving the group or calling the uncaught-error
//! handler, aborts the transaction (exactly-once), wipes and restores its
//! tasks' state and reads its input again from the last committed offsets.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use streams::dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use streams::runtime::{KafkaRecord, StreamsUncaughtExceptionResponse, produce, read_topic};
use streams::serde::Serdes;

use super::*;

/// Counts calls of the uncaught-error handler, which must stay at zero.
fn counting_handler(streams: &mut KafkaStreams) -> Arc<AtomicU32> {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    streams.set_uncaught_exception_handler(move |e| {
        eprintln!("uncaught: {e}");
        c.fetch_add(1, Ordering::SeqCst);
        StreamsUncaughtExceptionResponse::ShutdownClient
    });
    calls
}

/// At-least-once on the embedded broker: the output topic is unavailable,
/// so the application's sends time out (a retriable error, which Kafka
/// Streams' default production-exception handler answers with RETRY: the
/// task is marked corrupted). The thread recovers its task and processes
/// again from the committed offset until the topic is back; then every
/// record reaches the output once, in order. The uncaught-error handler is
/// never called and the instance stays RUNNING.
#[test]
fn embedded_send_timeouts_recover_the_tasks() {
    let cluster = Cluster::embedded();
    let kafka = cluster.embedded_broker().unwrap();
    let (input, output, app) = (unique("rec-in"), unique("rec-out"), unique("rec-app"));
    cluster.create(&[(&input, 1), (&output, 1)]);
    kafka.set_topic_available(&output, false).unwrap();
    let b = StreamsBuilder::new();
    b.stream(&input, Consumed::with(Serdes::string(), Serdes::string()))
        .map_values(|v| v.map(|s| s.to_uppercase()))
        .to(&output, Produced::with(Serdes::string(), Serdes::string()));
    let dir = state_dir();
    let cfg = config(&cluster, &app, dir.path()).set("producer.delivery.timeout.ms", "1000");
    let mut streams = KafkaStreams::new(b.build().unwrap(), cfg);
    let calls = counting_handler(&mut streams);
    streams.start().unwrap();
    wait_running(&streams);

    let records: Vec<KafkaRecord> = (0..20)
        .map(|i| {
            KafkaRecord::new(
                Some(format!("k{i}").into_bytes()),
                Some(format!("v{i}").into_bytes()),
                t0() + i as i64,
            )
        })
        .collect();
    produce(&cluster.bootstrap, &input, &records).unwrap();
    eventually("two task corruptions", Duration::from_secs(60), || {
        streams.metrics().task_corruptions >= 2
    });
    kafka.set_topic_available(&output, true).unwrap();

    let want: Vec<(String, String, i64)> = (0..20)
        .map(|i| (format!("k{i}"), format!("V{i}"), t0() + i as i64))
        .collect();
    let got = || -> Vec<(String, String, i64)> {
        read_topic(&cluster.bootstrap, &output, false)
            .unwrap()
            .into_iter()
            .map(|r| {
                (
                    r.key_str().unwrap().to_string(),
                    String::from_utf8(r.value.unwrap()).unwrap(),
                    r.timestamp,
                )
            })
            .collect()
    };
    eventually("the 20 records", Duration::from_secs(60), || {
        got().len() >= 20
    });
    // The records that timed out were never written: no duplicates here.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(got(), want);
    assert_eq!(streams.state(), State::Running);
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the handler was called");
    assert_eq!(streams.metrics().replaced_threads, 0);
    close(streams);
}

/// exactly_once_v2 on the real broker: three transaction commits fail with
/// an abortable error (injected: a healthy single broker never gives one).
/// Each time the thread aborts the transaction, wipes the counts store,
/// restores it from the read_committed changelog and counts again from the
/// committed offsets: the committed output is exactly the counts 1..n of
/// every key, each once and in order.
#[test]
fn real_exactly_once_recovers_from_abortable_commit_errors() {
    let Some(cluster) = Cluster::real("real_exactly_once_recovers_from_abortable_commit_errors")
    else {
        return;
    };
    let (input, output, app) = (
        unique("eosrec-in"),
        unique("eosrec-out"),
        unique("eosrec-app"),
    );
    cluster.create(&[(&input, 2), (&output, 2)]);
    let b = StreamsBuilder::new();
    b.stream(&input, Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::with(Serdes::string(), Serdes::string()))
        .count(Materialized::as_("eosrec-counts"))
        .to_stream()
        .to(&output, Produced::with(Serdes::string(), Serdes::i64()));
    let dir = state_dir();
    // A long linger keeps the records of each transaction queued in the
    // producer until its commit: each injected failure then aborts a
    // transaction with records not yet sent, which must not leave a gap in
    // the idempotent producer's sequence (a gap fails the next transaction
    // with OUT_OF_ORDER_SEQUENCE_NUMBER: a fourth corruption).
    let cfg = config(&cluster, &app, dir.path())
        .set("processing.guarantee", "exactly_once_v2")
        .set("statestore.cache.max.bytes", "0")
        .set("producer.linger.ms", "1000");
    let mut streams = KafkaStreams::new(b.build().unwrap(), cfg);
    let calls = counting_handler(&mut streams);
    streams.start().unwrap();
    wait_running(&streams);

    let mut input_records = KeyedInput::new(6);
    // Some committed state first, so that recovery has a changelog to
    // restore from.
    produce(&cluster.bootstrap, &input, &input_records.next_slice(60)).unwrap();
    wait_processed(&cluster, &app, &[&input]);
    streams::runtime::faults::fail_next_commits(&app, 3);
    for _ in 0..3 {
        produce(&cluster.bootstrap, &input, &input_records.next_slice(40)).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    wait_processed(&cluster, &app, &[&input]);

    assert_eq!(
        counts_per_key(&cluster, &output, true),
        input_records.every_count()
    );
    let m = streams.metrics();
    assert_eq!(m.task_corruptions, 3);
    assert!(m.restored_records > 0, "the wiped store was not restored");
    assert_eq!(streams.state(), State::Running);
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the handler was called");
    close(streams);
}
