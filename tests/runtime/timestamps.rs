//! Timestamp extractors on Kafka: records are written out with their
//! extracted timestamps, and a task with two inputs reads them in the
//! order of their extracted timestamps, not of Kafka's. Also the other
//! per-record policy set by configuration, `processing.exception.handler`.

use streams::dsl::{Consumed, Produced, StreamsBuilder};
use streams::processor::ConsumerRecord;
use streams::runtime::{produce, read_topic};
use streams::serde::Serdes;

use super::*;

/// The value is the event time, as an offset from the tests' `t0`.
fn event_time(r: &ConsumerRecord<String, String>, _partition_time: i64) -> i64 {
    r.value
        .and_then(|v| v.parse::<i64>().ok())
        .map_or(-1, |ms| t0() + ms)
}

#[test]
fn embedded_two_inputs_are_read_in_extracted_timestamp_order() {
    let cluster = Cluster::embedded();
    let (a, b_topic, output) = (unique("ts-a"), unique("ts-b"), unique("ts-out"));
    let app = unique("ts-app");
    cluster.create(&[(&a, 1), (&b_topic, 1), (&output, 1)]);
    // By Kafka's timestamps b's records come first; by event time the
    // values interleave 1, 2, 3, 4.
    produce(
        &cluster.bootstrap,
        &a,
        &[kv("a", "1", 100), kv("a", "4", 101)],
    )
    .unwrap();
    produce(
        &cluster.bootstrap,
        &b_topic,
        &[kv("b", "2", 50), kv("b", "3", 51)],
    )
    .unwrap();

    let b = StreamsBuilder::new();
    let consumed =
        || Consumed::with(Serdes::string(), Serdes::string()).with_timestamp_extractor(event_time);
    b.stream(&a, consumed())
        .merge(&b.stream(&b_topic, consumed()))
        .to(&output, Produced::with(Serdes::string(), Serdes::string()));
    let dir = state_dir();
    let streams = start(b.build().unwrap(), config(&cluster, &app, dir.path()));
    wait_running(&streams);
    wait_processed(&cluster, &app, &[&a, &b_topic]);
    let got: Vec<(String, i64)> = read_topic(&cluster.bootstrap, &output, false)
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                String::from_utf8(r.value.unwrap()).unwrap(),
                r.timestamp - t0(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("1".to_string(), 1),
            ("2".to_string(), 2),
            ("3".to_string(), 3),
            ("4".to_string(), 4),
        ]
    );
    close(streams);
}

/// `default.timestamp.extractor` reaches the tasks (and not the Kafka
/// clients, which would refuse the key): with the wall-clock extractor the
/// output is stamped when it is processed, not with the input's timestamp
/// of an hour ago.
#[test]
fn embedded_default_timestamp_extractor_from_config() {
    let cluster = Cluster::embedded();
    let (input, output, app) = (unique("tsd-in"), unique("tsd-out"), unique("tsd-app"));
    cluster.create(&[(&input, 1), (&output, 1)]);
    produce(&cluster.bootstrap, &input, &[kv("k", "v", -3_600_000)]).unwrap();
    let b = StreamsBuilder::new();
    b.stream(&input, Consumed::with(Serdes::string(), Serdes::string()))
        .to(&output, Produced::with(Serdes::string(), Serdes::string()));
    let dir = state_dir();
    let cfg = config(&cluster, &app, dir.path()).set(
        "default.timestamp.extractor",
        "org.apache.kafka.streams.processor.WallclockTimestampExtractor",
    );
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let before = now();
    let streams = start(b.build().unwrap(), cfg);
    wait_running(&streams);
    wait_processed(&cluster, &app, &[&input]);
    let after = now();
    let got = read_topic(&cluster.bootstrap, &output, false).unwrap();
    assert_eq!(got.len(), 1);
    assert!(
        (before..=after).contains(&got[0].timestamp),
        "{} not in {before}..={after}",
        got[0].timestamp
    );
    close(streams);
}

/// `processing.exception.handler` reaches the tasks (and not the Kafka
/// clients): with log-and-continue, a processor's failure drops that record
/// and counts it, and the others go through.
#[test]
fn embedded_processing_errors_continue_when_configured() {
    let cluster = Cluster::embedded();
    let (input, output, app) = (unique("pe-in"), unique("pe-out"), unique("pe-app"));
    cluster.create(&[(&input, 1), (&output, 1)]);
    produce(
        &cluster.bootstrap,
        &input,
        &[kv("k", "a", 1), kv("k", "bad", 2), kv("k", "c", 3)],
    )
    .unwrap();
    let b = StreamsBuilder::new();
    b.stream(&input, Consumed::with(Serdes::string(), Serdes::string()))
        .process(|| FailOnBad, &[])
        .to(&output, Produced::with(Serdes::string(), Serdes::string()));
    let dir = state_dir();
    let cfg = config(&cluster, &app, dir.path()).set(
        "processing.exception.handler",
        "LogAndContinueProcessingExceptionHandler",
    );
    let streams = start(b.build().unwrap(), cfg);
    wait_running(&streams);
    wait_processed(&cluster, &app, &[&input]);
    let values: Vec<String> = read_topic(&cluster.bootstrap, &output, false)
        .unwrap()
        .into_iter()
        .map(|r| String::from_utf8(r.value.unwrap()).unwrap())
        .collect();
    assert_eq!(values, vec!["a", "c"]);
    assert_eq!(streams.metrics().dropped_records, 1);
    close(streams);
}

/// Fails on the value "bad".
struct FailOnBad;

impl streams::processor::Processor<String, String, String, String> for FailOnBad {
    fn process(
        &mut self,
        record: streams::processor::Record<String, String>,
        ctx: &mut streams::processor::ProcessorContext<'_, String, String>,
    ) -> Result<(), streams::error::StreamsError> {
        if record.value.as_deref() == Some("bad") {
            return Err(streams::error::StreamsError::Processing {
                node: "fail-on-bad".into(),
                reason: "cannot take 'bad'".into(),
            });
        }
        ctx.forward(record)
    }
}
