//! Kafka's WordCountDemo case, on RocksDB and in memory.

use std::collections::HashMap;

use streams::dsl::{Consumed, Grouped, Materialized, Produced, StoreType, StreamsBuilder};
use streams::serde::Serdes;
use streams::testing::TopologyTestDriver;
use streams::topology::Topology;

use super::{config, rec, s};

fn word_count(store_type: StoreType) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            "streams-plaintext-input",
            Consumed::with(Serdes::string(), Serdes::string()),
        )
        .flat_map_values(|line| {
            line.map(|l| {
                l.to_lowercase()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
        })
        .group_by(
            |_key, word| word.cloned(),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(Materialized::as_("counts-store").with_store_type(store_type))
        .to_stream()
        .to(
            "streams-wordcount-output",
            Produced::with(Serdes::string(), Serdes::i64()),
        );
    builder.build().unwrap()
}

const LINES: [&str; 3] = [
    "Apache Kafka Streams Example",
    "Using Kafka Streams Test Utils",
    "Reading and Writing Kafka Topic",
];

fn expected_map() -> HashMap<String, i64> {
    [
        ("apache", 1),
        ("kafka", 3),
        ("streams", 2),
        ("example", 1),
        ("using", 1),
        ("test", 1),
        ("utils", 1),
        ("reading", 1),
        ("and", 1),
        ("writing", 1),
        ("topic", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn run(store_type: StoreType) {
    let driver = TopologyTestDriver::with_wall_clock(word_count(store_type), config(), 0).unwrap();
    let mut input = driver.create_input_topic(
        "streams-plaintext-input",
        Serdes::string(),
        Serdes::string(),
    );
    let output =
        driver.create_output_topic("streams-wordcount-output", Serdes::string(), Serdes::i64());
    for (i, line) in LINES.iter().enumerate() {
        input
            .pipe_input_at(s("k"), s(line), 100 * (i as i64 + 1))
            .unwrap();
    }
    // Every word passes the repartition topic on its own and the driver
    // commits after each record, so each occurrence is one output record.
    let records = output.read_records_to_list().unwrap();
    let expected = vec![
        rec(Some(s("apache")), Some(1), 100),
        rec(Some(s("kafka")), Some(1), 100),
        rec(Some(s("streams")), Some(1), 100),
        rec(Some(s("example")), Some(1), 100),
        rec(Some(s("using")), Some(1), 200),
        rec(Some(s("kafka")), Some(2), 200),
        rec(Some(s("streams")), Some(2), 200),
        rec(Some(s("test")), Some(1), 200),
        rec(Some(s("utils")), Some(1), 200),
        rec(Some(s("reading")), Some(1), 300),
        rec(Some(s("and")), Some(1), 300),
        rec(Some(s("writing")), Some(1), 300),
        rec(Some(s("kafka")), Some(3), 300),
        rec(Some(s("topic")), Some(1), 300),
    ];
    assert_eq!(records, expected);

    let store = driver
        .get_key_value_store::<String, i64>("counts-store")
        .unwrap();
    let mut all: HashMap<String, i64> = store.all().unwrap().into_iter().collect();
    assert_eq!(all, expected_map());
    all.clear();

    // Reading as a map, as Kafka's own WordCountDemo test does.
    for (i, line) in LINES.iter().enumerate() {
        input
            .pipe_input_at(s("k"), s(line), 1000 + i as i64)
            .unwrap();
    }
    let doubled: HashMap<String, i64> = expected_map()
        .into_iter()
        .map(|(k, v)| (k, v * 2))
        .collect();
    assert_eq!(output.read_key_values_to_map().unwrap(), doubled);
    assert!(output.is_empty());
}

#[test]
fn word_count_on_rocksdb() {
    run(StoreType::RocksDb);
}

#[test]
fn word_count_in_memory() {
    run(StoreType::InMemory);
}

#[test]
fn word_count_writes_repartition_and_changelog_topics() {
    let driver =
        TopologyTestDriver::with_wall_clock(word_count(StoreType::InMemory), config(), 0).unwrap();
    let mut input = driver.create_input_topic(
        "streams-plaintext-input",
        Serdes::string(),
        Serdes::string(),
    );
    input.pipe_input_at(s("k"), s("a b a"), 5).unwrap();
    let repartition = driver.create_output_topic(
        "test-app-counts-store-repartition",
        Serdes::string(),
        Serdes::string(),
    );
    assert_eq!(
        repartition.read_records_to_list().unwrap(),
        vec![
            rec(Some(s("a")), Some(s("a")), 5),
            rec(Some(s("b")), Some(s("b")), 5),
            rec(Some(s("a")), Some(s("a")), 5),
        ]
    );
    // The changelog holds the timestamped store's plain values (Kafka's
    // changelog format), one per flush.
    let changelog = driver.create_output_topic(
        "test-app-counts-store-changelog",
        Serdes::string(),
        Serdes::i64(),
    );
    assert_eq!(
        changelog.read_records_to_list().unwrap(),
        vec![
            rec(Some(s("a")), Some(1), 5),
            rec(Some(s("b")), Some(1), 5),
            rec(Some(s("a")), Some(2), 5),
        ]
    );
    assert_eq!(
        driver.produced_topic_names(),
        vec![
            "streams-wordcount-output".to_string(),
            "test-app-counts-store-changelog".to_string(),
            "test-app-counts-store-repartition".to_string()
        ]
    );
}

#[test]
fn word_count_describe_matches_kafka_streams() {
    // The text Kafka Streams prints for the same DSL calls (see Kafka's
    // Streams tutorial).
    let expected = "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [streams-plaintext-input])
      --> KSTREAM-FLATMAPVALUES-0000000001
    Processor: KSTREAM-FLATMAPVALUES-0000000001 (stores: [])
      --> KSTREAM-KEY-SELECT-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-KEY-SELECT-0000000002 (stores: [])
      --> counts-store-repartition-filter
      <-- KSTREAM-FLATMAPVALUES-0000000001
    Processor: counts-store-repartition-filter (stores: [])
      --> counts-store-repartition-sink
      <-- KSTREAM-KEY-SELECT-0000000002
    Sink: counts-store-repartition-sink (topic: counts-store-repartition)
      <-- counts-store-repartition-filter

  Sub-topology: 1
    Source: counts-store-repartition-source (topics: [counts-store-repartition])
      --> KSTREAM-AGGREGATE-0000000003
    Processor: KSTREAM-AGGREGATE-0000000003 (stores: [counts-store])
      --> KTABLE-TOSTREAM-0000000007
      <-- counts-store-repartition-source
    Processor: KTABLE-TOSTREAM-0000000007 (stores: [])
      --> KSTREAM-SINK-0000000008
      <-- KSTREAM-AGGREGATE-0000000003
    Sink: KSTREAM-SINK-0000000008 (topic: streams-wordcount-output)
      <-- KTABLE-TOSTREAM-0000000007

";
    assert_eq!(
        word_count(StoreType::RocksDb).describe().to_string(),
        expected
    );
}
