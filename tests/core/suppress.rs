//! `KTable::suppress`: final results of time, sliding and session windows
//! and time-limited suppression, pinned to what Kafka Streams 4.3.1 produces
//! (the canonical `-suppressed` topologies of `tests/java-ref`, and the
//! scenarios of Kafka's own `SuppressScenarioTest`).

use std::time::Duration;

use streams::dsl::{
    BufferConfig, Consumed, Grouped, KStream, KTable, Materialized, Produced, StreamsBuilder,
    Suppressed,
};
use streams::error::StreamsError;
use streams::serde::Serdes;
use streams::testing::{TestRecord, TopologyTestDriver};
use streams::topology::TopologyError;
use streams::window::{SessionWindows, SlidingWindows, TimeWindows, Windowed};

use super::windows::{
    In, SESSION, STORE_TYPES, WINDOWED, driver, grouped_input, hopping, ms, run, session,
    session_key_serde, sliding, time_key_serde, to_output, tumbling, w,
};
use super::{config, rec, s};

fn finals<V: Clone + 'static>(t: KTable<Windowed<String>, V>) -> KTable<Windowed<String>, V> {
    t.suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
}

#[test]
fn tumbling_count_suppressed_matches_java() {
    for store in STORE_TYPES {
        let b = StreamsBuilder::new();
        to_output(
            finals(
                grouped_input(&b)
                    .windowed_by_time(tumbling())
                    .count(Materialized::none().with_store_type(store)),
            ),
            time_key_serde(100),
            Serdes::i64(),
        );
        let d = driver(&b);
        // `samples/expected/windowed/tumbling-count-suppressed.out.jsonl`
        assert_eq!(
            run(&d, WINDOWED, time_key_serde(100), Serdes::i64()),
            vec![
                w("A", 0, 100, Some(3), 99),
                w("A", 100, 200, Some(1), 160),
                w("B", 100, 200, Some(1), 100),
            ],
            "{store:?}"
        );
    }
}

#[test]
fn hopping_count_suppressed_matches_java() {
    for store in STORE_TYPES {
        let b = StreamsBuilder::new();
        to_output(
            finals(
                grouped_input(&b)
                    .windowed_by_time(hopping())
                    .count(Materialized::none().with_store_type(store)),
            ),
            time_key_serde(100),
            Serdes::i64(),
        );
        let d = driver(&b);
        // `samples/expected/windowed/hopping-count-suppressed.out.jsonl`
        assert_eq!(
            run(&d, WINDOWED, time_key_serde(100), Serdes::i64()),
            vec![
                w("A", 0, 100, Some(3), 99),
                w("A", 30, 130, Some(2), 99),
                w("B", 30, 130, Some(1), 100),
                w("A", 60, 160, Some(2), 99),
                w("B", 60, 160, Some(1), 100),
                w("A", 90, 190, Some(2), 160),
                w("B", 90, 190, Some(1), 100),
                w("A", 120, 220, Some(1), 160),
                w("A", 150, 250, Some(1), 160),
            ],
            "{store:?}"
        );
    }
}

#[test]
fn sliding_count_suppressed_matches_java() {
    for store in STORE_TYPES {
        let b = StreamsBuilder::new();
        to_output(
            finals(
                grouped_input(&b)
                    .windowed_by_sliding(sliding())
                    .count(Materialized::none().with_store_type(store)),
            ),
            time_key_serde(50),
            Serdes::i64(),
        );
        let d = driver(&b);
        // `samples/expected/windowed/sliding-count-suppressed.out.jsonl`
        assert_eq!(
            run(&d, WINDOWED, time_key_serde(50), Serdes::i64()),
            vec![
                w("A", 0, 50, Some(2), 20),
                w("A", 1, 51, Some(1), 20),
                w("A", 49, 99, Some(1), 99),
                w("B", 50, 100, Some(1), 100),
                w("A", 110, 160, Some(1), 160),
            ],
            "{store:?}"
        );
    }
}

#[test]
fn session_count_suppressed_matches_java_and_drops_tombstones() {
    for store in STORE_TYPES {
        let b = StreamsBuilder::new();
        to_output(
            finals(
                grouped_input(&b)
                    .windowed_by_session(session())
                    .count(Materialized::none().with_store_type(store)),
            ),
            session_key_serde(),
            Serdes::i64(),
        );
        let d = driver(&b);
        // `samples/expected/session/session-count-suppressed.out.jsonl`
        assert_eq!(
            run(&d, SESSION, session_key_serde(), Serdes::i64()),
            vec![
                w("A", 0, 20, Some(2), 20),
                w("A", 60, 100, Some(3), 100),
                w("B", 105, 105, Some(1), 105),
            ],
            "{store:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Kafka's SuppressScenarioTest, ported: groupBy (so a repartition), caching
// off, both the raw and the suppressed output, keys printed as Java's
// `Windowed.toString()`.
// ---------------------------------------------------------------------------

/// Writes `table`'s updates to `output-raw` and its final results to
/// `output-suppressed`, with keys as `[key@start/end]` strings.
fn raw_and_final(table: KTable<Windowed<String>, i64>) {
    fn printed(stream: KStream<Windowed<String>, i64>, topic: &str) {
        stream
            .map(|k, v| (k.map(|k| k.to_string()), v.cloned()))
            .to(topic, Produced::with(Serdes::string(), Serdes::i64()));
    }
    printed(finals(table.clone()).to_stream(), "output-suppressed");
    printed(table.to_stream(), "output-raw");
}

fn scenario_input(b: &StreamsBuilder) -> streams::dsl::KGroupedStream<String, String> {
    b.stream("input", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by(
            |k, _v| k.cloned(),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
}

fn pipe_all(d: &TopologyTestDriver, input: &[(&str, &str, i64)]) {
    let mut topic = d.create_input_topic("input", Serdes::string(), Serdes::string());
    for (k, v, ts) in input {
        topic.pipe_input_at(s(k), s(v), *ts).unwrap();
    }
}

fn drain(d: &TopologyTestDriver, topic: &str) -> Vec<TestRecord<String, i64>> {
    d.create_output_topic(topic, Serdes::string(), Serdes::i64())
        .read_records_to_list()
        .unwrap()
}

fn kv(k: &str, v: Option<i64>, ts: i64) -> TestRecord<String, i64> {
    rec(Some(s(k)), v, ts)
}

fn counts_store<K, V>(store: streams::dsl::StoreType) -> Materialized<K, V> {
    Materialized::as_("counts")
        .with_caching_disabled()
        .with_store_type(store)
}

#[test]
fn final_results_for_time_windows() {
    for store in STORE_TYPES {
        let b = StreamsBuilder::new();
        raw_and_final(
            scenario_input(&b)
                .windowed_by_time(TimeWindows::of_size_and_grace(ms(2), ms(1)).unwrap())
                .count(counts_store(store)),
        );
        let d = driver(&b);
        pipe_all(
            &d,
            &[
                ("k1", "v1", 0),
                ("k1", "v1", 1),
                ("k1", "v1", 2),
                ("k1", "v1", 1),
                ("k1", "v1", 0),
                ("k1", "v1", 5),
                // dropped: out of the grace period
                ("k1", "v1", 0),
            ],
        );
        assert_eq!(
            drain(&d, "output-raw"),
            vec![
                kv("[k1@0/2]", Some(1), 0),
                kv("[k1@0/2]", Some(2), 1),
                kv("[k1@2/4]", Some(1), 2),
                kv("[k1@0/2]", Some(3), 1),
                kv("[k1@0/2]", Some(4), 1),
                kv("[k1@4/6]", Some(1), 5),
            ],
            "{store:?}"
        );
        assert_eq!(
            drain(&d, "output-suppressed"),
            vec![kv("[k1@0/2]", Some(4), 1), kv("[k1@2/4]", Some(1), 2)],
            "{store:?}"
        );
    }
}

#[test]
fn final_results_for_time_windows_with_a_large_stream_time_jump() {
    for store in STORE_TYPES {
        let b = StreamsBuilder::new();
        raw_and_final(
            scenario_input(&b)
                .windowed_by_time(TimeWindows::of_size_and_grace(ms(2), ms(2)).unwrap())
                .count(counts_store(store)),
        );
        let d = driver(&b);
        pipe_all(
            &d,
            &[
                ("k1", "v1", 0),
                ("k1", "v1", 1),
                ("k1", "v1", 2),
                ("k1", "v1", 0),
                ("k1", "v1", 3),
                ("k1", "v1", 0),
                ("k1", "v1", 4),
                // dropped: the previous record closed [0,2)
                ("k1", "v1", 0),
                ("k1", "v1", 30),
            ],
        );
        assert_eq!(
            drain(&d, "output-raw"),
            vec![
                kv("[k1@0/2]", Some(1), 0),
                kv("[k1@0/2]", Some(2), 1),
                kv("[k1@2/4]", Some(1), 2),
                kv("[k1@0/2]", Some(3), 1),
                kv("[k1@2/4]", Some(2), 3),
                kv("[k1@0/2]", Some(4), 1),
                kv("[k1@4/6]", Some(1), 4),
                kv("[k1@30/32]", Some(1), 30),
            ],
            "{store:?}"
        );
        assert_eq!(
            drain(&d, "output-suppressed"),
            vec![
                kv("[k1@0/2]", Some(4), 1),
                kv("[k1@2/4]", Some(2), 3),
                kv("[k1@4/6]", Some(1), 4)
            ],
            "{store:?}"
        );
    }
}

#[test]
fn final_results_for_sliding_windows() {
    for store in STORE_TYPES {
        let b = StreamsBuilder::new();
        raw_and_final(
            scenario_input(&b)
                .windowed_by_sliding(
                    SlidingWindows::of_time_difference_and_grace(ms(5), ms(15)).unwrap(),
                )
                .count(counts_store(store)),
        );
        let d = driver(&b);
        pipe_all(
            &d,
            &[
                ("k1", "v1", 10),
                ("k1", "v1", 11),
                ("k1", "v1", 10),
                ("k1", "v1", 13),
                ("k1", "v1", 10),
                ("k1", "v1", 24),
                // dropped: the previous record closed its windows
                ("k1", "v1", 5),
                ("k1", "v1", 7),
                // moves stream time on, flushing the windows
                ("k1", "v1", 90),
            ],
        );
        // Kafka's test sorts the raw output by key, then timestamp.
        let mut raw = drain(&d, "output-raw");
        raw.sort_by_key(|r| (r.key.clone(), r.timestamp));
        assert_eq!(
            raw,
            vec![
                kv("[k1@11/16]", Some(1), 11),
                kv("[k1@11/16]", Some(2), 13),
                kv("[k1@12/17]", Some(1), 13),
                kv("[k1@19/24]", Some(1), 24),
                kv("[k1@5/10]", Some(1), 10),
                kv("[k1@5/10]", Some(2), 10),
                kv("[k1@5/10]", Some(3), 10),
                kv("[k1@5/10]", Some(4), 10),
                kv("[k1@5/10]", Some(5), 10),
                kv("[k1@6/11]", Some(2), 11),
                kv("[k1@6/11]", Some(3), 11),
                kv("[k1@6/11]", Some(4), 11),
                kv("[k1@6/11]", Some(5), 11),
                kv("[k1@8/13]", Some(4), 13),
                kv("[k1@8/13]", Some(5), 13),
                kv("[k1@85/90]", Some(1), 90),
            ],
            "{store:?}"
        );
        assert_eq!(
            drain(&d, "output-suppressed"),
            vec![
                kv("[k1@5/10]", Some(5), 10),
                kv("[k1@6/11]", Some(5), 11),
                kv("[k1@8/13]", Some(5), 13),
                kv("[k1@11/16]", Some(2), 13),
                kv("[k1@12/17]", Some(1), 13),
                kv("[k1@19/24]", Some(1), 24),
            ],
            "{store:?}"
        );
    }
}

#[test]
fn final_results_for_session_windows() {
    for store in STORE_TYPES {
        let b = StreamsBuilder::new();
        raw_and_final(
            scenario_input(&b)
                .windowed_by_session(
                    SessionWindows::of_inactivity_gap_with_no_grace(ms(5)).unwrap(),
                )
                .count(counts_store(store)),
        );
        let d = driver(&b);
        pipe_all(
            &d,
            &[
                ("k1", "v1", 0),
                ("k1", "v1", 5),
                // disordered but admitted: the session has not closed
                ("k1", "v1", 1),
                // another key moves stream time on
                ("k2", "v1", 11),
                // late for the closed first session: dropped everywhere
                ("k1", "v1", 5),
                ("k1", "v1", 30),
            ],
        );
        assert_eq!(
            drain(&d, "output-raw"),
            vec![
                kv("[k1@0/0]", Some(1), 0),
                kv("[k1@0/0]", None, 0),
                kv("[k1@0/5]", Some(2), 5),
                kv("[k1@0/5]", None, 5),
                kv("[k1@0/5]", Some(3), 5),
                kv("[k2@11/11]", Some(1), 11),
                kv("[k1@30/30]", Some(1), 30),
            ],
            "{store:?}"
        );
        assert_eq!(
            drain(&d, "output-suppressed"),
            vec![kv("[k1@0/5]", Some(3), 5), kv("[k2@11/11]", Some(1), 11)],
            "{store:?}"
        );
    }
}

/// A table of counts per value, as Kafka's suppression scenarios build it.
fn value_counts(b: &StreamsBuilder) -> KTable<String, i64> {
    b.table(
        "input",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::with(Serdes::string(), Serdes::string())
            .with_caching_disabled()
            .with_logging_disabled(),
    )
    .group_by(
        |k, v| (v.clone(), k.clone()),
        Grouped::with(Serdes::string(), Serdes::string()),
    )
    .count(Materialized::with(Serdes::string(), Serdes::i64()))
}

fn raw_and_suppressed(table: KTable<String, i64>, suppressed: Suppressed<String>) {
    table.suppress(suppressed).to_stream().to(
        "output-suppressed",
        Produced::with(Serdes::string(), Serdes::i64()),
    );
    table.to_stream().to(
        "output-raw",
        Produced::with(Serdes::string(), Serdes::i64()),
    );
}

#[test]
fn time_limit_keeps_a_keys_first_buffer_time() {
    let b = StreamsBuilder::new();
    raw_and_suppressed(
        value_counts(&b),
        Suppressed::until_time_limit(ms(2), BufferConfig::unbounded()),
    );
    let d = TopologyTestDriver::with_wall_clock(b.build().unwrap(), config(), 0).unwrap();
    pipe_all(&d, &[("k1", "v1", 0), ("k1", "v2", 1), ("k2", "v1", 2)]);
    assert_eq!(
        drain(&d, "output-raw"),
        vec![
            kv("v1", Some(1), 0),
            kv("v1", Some(0), 1),
            kv("v2", Some(1), 1),
            kv("v1", Some(1), 2)
        ]
    );
    assert_eq!(drain(&d, "output-suppressed"), vec![kv("v1", Some(1), 2)]);
    // A "tick" only moves stream time on: now 3, so v2 (buffered at 1) goes.
    pipe_all(&d, &[("tick", "tick", 3)]);
    assert_eq!(drain(&d, "output-raw"), vec![kv("tick", Some(1), 3)]);
    assert_eq!(drain(&d, "output-suppressed"), vec![kv("v2", Some(1), 1)]);
    pipe_all(&d, &[("tick", "tock", 4)]);
    assert_eq!(
        drain(&d, "output-raw"),
        vec![kv("tick", Some(0), 4), kv("tock", Some(1), 4)]
    );
    // "tick" was first buffered at 3 and it is only 4: still buffered.
    assert_eq!(drain(&d, "output-suppressed"), vec![]);
}

#[test]
fn record_limit_emits_early_when_full() {
    let b = StreamsBuilder::new();
    raw_and_suppressed(
        value_counts(&b),
        Suppressed::until_time_limit(
            Duration::from_millis(i64::MAX as u64),
            BufferConfig::max_records(1).emit_early_when_full(),
        ),
    );
    let d = TopologyTestDriver::with_wall_clock(b.build().unwrap(), config(), 0).unwrap();
    pipe_all(&d, &[("k1", "v1", 0), ("k1", "v2", 1), ("k2", "v1", 2)]);
    assert_eq!(
        drain(&d, "output-raw"),
        vec![
            kv("v1", Some(1), 0),
            kv("v1", Some(0), 1),
            kv("v2", Some(1), 1),
            kv("v1", Some(1), 2)
        ]
    );
    // Consecutive updates of v1 collapse into the latter.
    assert_eq!(
        drain(&d, "output-suppressed"),
        vec![kv("v1", Some(0), 1), kv("v2", Some(1), 1)]
    );
    pipe_all(&d, &[("x", "x", 3)]);
    assert_eq!(drain(&d, "output-raw"), vec![kv("x", Some(1), 3)]);
    assert_eq!(drain(&d, "output-suppressed"), vec![kv("v1", Some(1), 2)]);
}

#[test]
fn strict_buffer_fails_when_full() {
    let b = StreamsBuilder::new();
    grouped_input(&b)
        .windowed_by_time(tumbling())
        .count(Materialized::none())
        .suppress(Suppressed::until_window_closes(
            BufferConfig::max_records(1).shut_down_when_full(),
        ))
        .to_stream()
        .to("output", Produced::with(time_key_serde(100), Serdes::i64()));
    let d = driver(&b);
    let mut input = d.create_input_topic("input", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("A"), s("x"), 10).unwrap();
    match input.pipe_input_at(s("B"), s("x"), 20) {
        Err(StreamsError::Processing { node, reason }) => {
            assert_eq!(node, "KTABLE-SUPPRESS-0000000003");
            assert!(
                reason.starts_with(
                    "KTABLE-SUPPRESS-0000000003 buffer exceeded its max capacity. Currently [2/1] records and \
                     [100/9223372036854775807] bytes."
                ),
                "{reason}"
            );
        }
        other => panic!("expected the buffer to fail, got {other:?}"),
    }
}

#[test]
fn until_window_closes_needs_a_windowed_aggregation_upstream() {
    let b = StreamsBuilder::new();
    b.table(
        "windowed",
        Consumed::with(time_key_serde(100), Serdes::i64()),
        Materialized::none(),
    )
    .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()));
    match b.build() {
        Err(TopologyError::InvalidArgument(msg)) => assert!(
            msg.starts_with(
                "Window close time is only defined for windowed computations. Got \
                 [KSTREAM-SOURCE-0000000001->KTABLE-SOURCE-0000000002->KTABLE-SUPPRESS-0000000003]."
            ) || msg.starts_with("Window close time is only defined for windowed computations."),
            "{msg}"
        ),
        other => panic!("expected an error, got {other:?}"),
    }

    // An eager buffer cannot give final results.
    let b = StreamsBuilder::new();
    grouped_input(&b)
        .windowed_by_time(tumbling())
        .count(Materialized::none())
        .suppress(Suppressed::until_window_closes(BufferConfig::max_records(
            10,
        )));
    assert!(
        matches!(b.build(), Err(TopologyError::InvalidArgument(m)) if m.contains("strict buffer"))
    );
}

#[test]
fn suppression_buffer_logs_entries_and_tombstones_at_commit() {
    let b = StreamsBuilder::new();
    to_output(
        finals(
            grouped_input(&b)
                .windowed_by_time(tumbling())
                .count(Materialized::none()),
        ),
        time_key_serde(100),
        Serdes::i64(),
    );
    let d = driver(&b);
    let input: &[In] = &[
        (Some("A"), Some("x"), 10),
        (Some("A"), Some("y"), 20),
        (Some("B"), Some("z"), 160),
    ];
    run(&d, input, time_key_serde(100), Serdes::i64());
    let changelog = d.create_output_topic(
        "test-app-KTABLE-SUPPRESS-STATE-STORE-0000000004-changelog",
        Serdes::bytes(),
        Serdes::bytes(),
    );
    let records: Vec<(String, Option<String>)> = changelog
        .read_records_to_list()
        .unwrap()
        .into_iter()
        .map(|r| (hex(&r.key.unwrap()), r.value.map(|v| hex(&v))))
        .collect();
    // Java's bytes for the same input (Kafka 4.3.1): the v3 buffer format.
    let expected: Vec<(&str, Option<&str>)> = vec![
        (
            "410000000000000000",
            Some(
                "000000000000000a000000000000000000000005696e7075740000000000000000ffffffffffffffff0000000800000000000000010000000000000064",
            ),
        ),
        (
            "410000000000000000",
            Some(
                "0000000000000014000000000000000100000005696e7075740000000000000000ffffffff0000000800000000000000010000000800000000000000020000000000000064",
            ),
        ),
        ("410000000000000000", None),
        (
            "420000000000000064",
            Some(
                "00000000000000a0000000000000000200000005696e7075740000000000000000ffffffffffffffff00000008000000000000000100000000000000c8",
            ),
        ),
    ];
    let expected: Vec<(String, Option<String>)> = expected
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.map(str::to_owned)))
        .collect();
    assert_eq!(records, expected);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn suppressed_describe_matches_java() {
    let b = StreamsBuilder::new();
    to_output(
        finals(
            grouped_input(&b)
                .windowed_by_time(tumbling())
                .count(Materialized::none()),
        ),
        time_key_serde(100),
        Serdes::i64(),
    );
    let expected = "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input])
      --> KSTREAM-AGGREGATE-0000000002
    Processor: KSTREAM-AGGREGATE-0000000002 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000001])
      --> KTABLE-SUPPRESS-0000000003
      <-- KSTREAM-SOURCE-0000000000
    Processor: KTABLE-SUPPRESS-0000000003 (stores: [KTABLE-SUPPRESS-STATE-STORE-0000000004])
      --> KTABLE-TOSTREAM-0000000005
      <-- KSTREAM-AGGREGATE-0000000002
    Processor: KTABLE-TOSTREAM-0000000005 (stores: [])
      --> KSTREAM-SINK-0000000006
      <-- KTABLE-SUPPRESS-0000000003
    Sink: KSTREAM-SINK-0000000006 (topic: output)
      <-- KTABLE-TOSTREAM-0000000005

";
    assert_eq!(b.build().unwrap().describe().to_string(), expected);

    let b = StreamsBuilder::new();
    b.stream("input", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by(
            |_k, v| v.cloned(),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .windowed_by_time(tumbling())
        .reduce(|a, v| format!("{a}{v}"), Materialized::none())
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()).with_name("final"))
        .to_stream()
        .to(
            "output",
            Produced::with(time_key_serde(100), Serdes::string()),
        );
    let expected = "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input])
      --> KSTREAM-KEY-SELECT-0000000001
    Processor: KSTREAM-KEY-SELECT-0000000001 (stores: [])
      --> KSTREAM-FILTER-0000000005
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-FILTER-0000000005 (stores: [])
      --> KSTREAM-SINK-0000000004
      <-- KSTREAM-KEY-SELECT-0000000001
    Sink: KSTREAM-SINK-0000000004 (topic: KSTREAM-REDUCE-STATE-STORE-0000000002-repartition)
      <-- KSTREAM-FILTER-0000000005

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000006 (topics: [KSTREAM-REDUCE-STATE-STORE-0000000002-repartition])
      --> KSTREAM-REDUCE-0000000003
    Processor: KSTREAM-REDUCE-0000000003 (stores: [KSTREAM-REDUCE-STATE-STORE-0000000002])
      --> final
      <-- KSTREAM-SOURCE-0000000006
    Processor: final (stores: [final-store])
      --> KTABLE-TOSTREAM-0000000007
      <-- KSTREAM-REDUCE-0000000003
    Processor: KTABLE-TOSTREAM-0000000007 (stores: [])
      --> KSTREAM-SINK-0000000008
      <-- final
    Sink: KSTREAM-SINK-0000000008 (topic: output)
      <-- KTABLE-TOSTREAM-0000000007

";
    assert_eq!(b.build().unwrap().describe().to_string(), expected);
}
