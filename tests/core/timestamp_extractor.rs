//! Timestamp extractors: a source's records take their timestamps from its
//! extractor (event time from the payload), and Kafka Streams' built-in
//! extractors treat negative timestamps their own ways.

use std::time::Duration;

use streams::dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use streams::processor::{
    ConsumerRecord, FailOnInvalidTimestamp, LogAndSkipOnInvalidTimestamp,
    UsePartitionTimeOnInvalidTimestamp, WallclockTimestampExtractor,
};
use streams::serde::Serdes;
use streams::testing::{TestRecord, TopologyTestDriver};
use streams::window::TimeWindows;

use super::windows::{time_key_serde, to_output, w};
use super::{config, rec, s};

/// Values are `"<event time>,<payload>"`; -1 when there is no number.
fn event_time(r: &ConsumerRecord<String, String>, _partition_time: i64) -> i64 {
    r.value
        .and_then(|v| v.split(',').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or(-1)
}

fn driver(b: &StreamsBuilder) -> TopologyTestDriver {
    TopologyTestDriver::with_wall_clock(b.build().unwrap(), config(), 0).unwrap()
}

fn copy_with(
    extractor: impl streams::processor::TimestampExtractor<String, String>,
) -> StreamsBuilder {
    let b = StreamsBuilder::new();
    b.stream(
        "in",
        Consumed::with(Serdes::string(), Serdes::string()).with_timestamp_extractor(extractor),
    )
    .to("out", Produced::with(Serdes::string(), Serdes::string()));
    b
}

fn out(d: &TopologyTestDriver) -> Vec<TestRecord<String, String>> {
    d.create_output_topic("out", Serdes::string(), Serdes::string())
        .read_records_to_list()
        .unwrap()
}

/// The extracted timestamp is the record's timestamp downstream: written
/// out with it, and windowed by it. A negative one drops the record and
/// counts it.
#[test]
fn event_time_from_the_value_drives_windows_and_output_timestamps() {
    let b = StreamsBuilder::new();
    let events = b.stream(
        "in",
        Consumed::with(Serdes::string(), Serdes::string()).with_timestamp_extractor(event_time),
    );
    events.to("out", Produced::with(Serdes::string(), Serdes::string()));
    let counts = events
        .group_by_key(Grouped::with(Serdes::string(), Serdes::string()))
        .windowed_by_time(TimeWindows::of_size_with_no_grace(Duration::from_millis(10)).unwrap())
        .count(Materialized::none());
    to_output(counts, time_key_serde(10), Serdes::i64());
    let d = driver(&b);
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    // Kafka's timestamps (1000, 1001, ...) are ignored.
    for (i, v) in ["5,a", "15,b", "12,c", "no-time,d"].iter().enumerate() {
        input.pipe_input_at(s("k"), s(v), 1000 + i as i64).unwrap();
    }
    assert_eq!(
        out(&d),
        vec![
            rec(Some(s("k")), Some(s("5,a")), 5),
            rec(Some(s("k")), Some(s("15,b")), 15),
            rec(Some(s("k")), Some(s("12,c")), 12),
        ]
    );
    let windows = d
        .create_output_topic("output", time_key_serde(10), Serdes::i64())
        .read_records_to_list()
        .unwrap();
    assert_eq!(
        windows,
        vec![
            w("k", 0, 10, Some(1), 5),
            w("k", 10, 20, Some(1), 15),
            w("k", 10, 20, Some(2), 15),
        ]
    );
    assert_eq!(d.metrics().dropped_records, 1);
}

/// A table's source takes the extractor's timestamps too.
#[test]
fn table_source_takes_extracted_timestamps() {
    let b = StreamsBuilder::new();
    b.table(
        "in",
        Consumed::with(Serdes::string(), Serdes::string()).with_timestamp_extractor(event_time),
        Materialized::as_("t"),
    )
    .to_stream()
    .to("out", Produced::with(Serdes::string(), Serdes::string()));
    let d = driver(&b);
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("a"), s("40,x"), 1).unwrap();
    input.pipe_input_at(s("b"), s("30,y"), 2).unwrap();
    assert_eq!(
        out(&d),
        vec![
            rec(Some(s("a")), Some(s("40,x")), 40),
            rec(Some(s("b")), Some(s("30,y")), 30),
        ]
    );
}

/// The extractor is given its partition's time: the largest timestamp it
/// gave so far (-1 before the first).
#[test]
fn partition_time_is_the_largest_extracted_so_far() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let d = driver(&copy_with(
        move |r: &ConsumerRecord<String, String>, pt: i64| {
            log.lock().unwrap().push(pt);
            event_time(r, pt)
        },
    ));
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    for v in ["20,a", "10,b", "30,c", "x,d", "25,e"] {
        input.pipe_input_at(s("k"), s(v), 0).unwrap();
    }
    assert_eq!(*seen.lock().unwrap(), vec![-1, 20, 20, 30, 30]);
}

/// Kafka Streams' default extractor fails on a negative timestamp.
#[test]
fn fail_on_invalid_timestamp_fails() {
    let d = driver(&copy_with(FailOnInvalidTimestamp));
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("k"), s("a"), 3).unwrap();
    let err = input
        .pipe_input_at(s("k"), s("b"), -1)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("in-0@1 has invalid (negative) timestamp -1"),
        "{err}"
    );
    assert_eq!(out(&d), vec![rec(Some(s("k")), Some(s("a")), 3)]);
}

/// Log-and-skip drops a record with a negative timestamp and counts it.
#[test]
fn log_and_skip_on_invalid_timestamp_drops() {
    let d = driver(&copy_with(LogAndSkipOnInvalidTimestamp));
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("k"), s("a"), -1).unwrap();
    input.pipe_input_at(s("k"), s("b"), 4).unwrap();
    assert_eq!(out(&d), vec![rec(Some(s("k")), Some(s("b")), 4)]);
    assert_eq!(d.metrics().dropped_records, 1);
}

/// A negative timestamp becomes the partition's time; with none yet, it
/// is an error.
#[test]
fn use_partition_time_on_invalid_timestamp() {
    let d = driver(&copy_with(UsePartitionTimeOnInvalidTimestamp));
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    let err = input
        .pipe_input_at(s("k"), s("a"), -1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("partition's time is not known yet"), "{err}");
    input.pipe_input_at(s("k"), s("b"), 9).unwrap();
    input.pipe_input_at(s("k"), s("c"), 4).unwrap();
    input.pipe_input_at(s("k"), s("d"), -1).unwrap();
    assert_eq!(
        out(&d),
        vec![
            rec(Some(s("k")), Some(s("b")), 9),
            rec(Some(s("k")), Some(s("c")), 4),
            rec(Some(s("k")), Some(s("d")), 9),
        ]
    );
}

/// The wall-clock extractor stamps records with the time they arrive.
#[test]
fn wallclock_extractor_stamps_arrival_time() {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let d = driver(&copy_with(WallclockTimestampExtractor));
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    let before = now();
    input.pipe_input_at(s("k"), s("a"), 1).unwrap();
    let after = now();
    let got = out(&d);
    assert_eq!(got.len(), 1);
    assert!(
        (before..=after).contains(&got[0].timestamp),
        "{} not in {before}..={after}",
        got[0].timestamp
    );
}

/// A record that does not deserialize keeps Kafka's timestamp and meets
/// the deserialization handler when processed (the default fails, naming
/// the record).
#[test]
fn undeserializable_record_meets_the_deserialization_handler() {
    let b = StreamsBuilder::new();
    b.stream(
        "in",
        Consumed::with(Serdes::string(), Serdes::i64()).with_timestamp_extractor(
            |r: &ConsumerRecord<String, i64>, _| r.value.copied().unwrap_or(-1),
        ),
    )
    .to("out", Produced::with(Serdes::string(), Serdes::i64()));
    let d = driver(&b);
    let mut good = d.create_input_topic("in", Serdes::string(), Serdes::i64());
    good.pipe_input_at(s("k"), 77, 1).unwrap();
    let mut bad = d.create_input_topic("in", Serdes::string(), Serdes::string());
    let err = bad
        .pipe_input_at(s("k"), s("abc"), 2)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("deserialization failed for record at in-0@1"),
        "{err}"
    );
    let got = d
        .create_output_topic("out", Serdes::string(), Serdes::i64())
        .read_records_to_list()
        .unwrap();
    assert_eq!(got, vec![rec(Some(s("k")), Some(77), 77)]);
}

/// Without an extractor of its own, a source uses
/// `default.timestamp.extractor`: Kafka Streams' default,
/// `FailOnInvalidTimestamp`, fails on a negative timestamp.
#[test]
fn default_extractor_fails_on_negative_timestamps() {
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serdes::string(), Serdes::string()))
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    let d = driver(&b);
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("k"), s("a"), 0).unwrap();
    let err = input
        .pipe_input_at(s("k"), s("b"), -3)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("in-0@1 has invalid (negative) timestamp -3"),
        "{err}"
    );
    assert_eq!(out(&d), vec![rec(Some(s("k")), Some(s("a")), 0)]);
}

/// `default.timestamp.extractor` names a built-in by its simple or full
/// Java class name; a source's own extractor overrides it; an unknown name
/// is a configuration error that names the choices.
#[test]
fn default_extractor_from_config() {
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serdes::string(), Serdes::string()))
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    b.stream(
        "own",
        Consumed::with(Serdes::string(), Serdes::string()).with_timestamp_extractor(event_time),
    )
    .to("out", Produced::with(Serdes::string(), Serdes::string()));
    let cfg = config().set(
        "default.timestamp.extractor",
        "UsePartitionTimeOnInvalidTimestamp",
    );
    let d = TopologyTestDriver::with_wall_clock(b.build().unwrap(), cfg, 0).unwrap();
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    let mut own = d.create_input_topic("own", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("k"), s("a"), 8).unwrap();
    input.pipe_input_at(s("k"), s("b"), -1).unwrap();
    own.pipe_input_at(s("o"), s("30,c"), -1).unwrap();
    assert_eq!(
        out(&d),
        vec![
            rec(Some(s("k")), Some(s("a")), 8),
            rec(Some(s("k")), Some(s("b")), 8),
            rec(Some(s("o")), Some(s("30,c")), 30),
        ]
    );

    let wall = config().set(
        "default.timestamp.extractor",
        "org.apache.kafka.streams.processor.WallclockTimestampExtractor",
    );
    let d = TopologyTestDriver::with_wall_clock(copy_with(event_time).build().unwrap(), wall, 0)
        .unwrap();
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("k"), s("5,a"), 1).unwrap();
    // The source's own extractor wins over the wall clock.
    assert_eq!(out(&d), vec![rec(Some(s("k")), Some(s("5,a")), 5)]);

    let bad = config().set("default.timestamp.extractor", "com.example.MyExtractor");
    let err = TopologyTestDriver::with_wall_clock(copy_with(event_time).build().unwrap(), bad, 0)
        .err()
        .expect("an unknown extractor is refused")
        .to_string();
    assert!(
        err.contains("com.example.MyExtractor")
            && err.contains("Consumed::with_timestamp_extractor"),
        "{err}"
    );
}

/// A global table's source takes its extractor's timestamps too: they are
/// what its store keeps.
#[test]
fn global_table_source_takes_extracted_timestamps() {
    let b = StreamsBuilder::new();
    b.global_table(
        "g",
        Consumed::with(Serdes::string(), Serdes::string()).with_timestamp_extractor(event_time),
        Materialized::as_("g-store"),
    );
    let d = driver(&b);
    let mut input = d.create_input_topic("g", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("a"), s("70,x"), 1).unwrap();
    let store = d
        .get_timestamped_key_value_store::<String, String>("g-store")
        .unwrap();
    let got = store.get(&s("a")).unwrap().unwrap();
    assert_eq!((got.value.as_str(), got.timestamp), ("70,x", 70));
}
