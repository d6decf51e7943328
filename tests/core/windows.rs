//! Windowed aggregations (tumbling, hopping, sliding, session), their
//! window and session stores, and emit-on-window-close, each pinned to the
//! records Kafka Streams 4.3.1 produces for the same input (the canonical
//! topologies and samples of `tests/java-ref`, and extra cases run through
//! Java's TopologyTestDriver the same way). Every store-backed test runs on
//! both RocksDB and in-memory stores.

use std::sync::Arc;
use std::time::Duration;

use streams::dsl::{
    Consumed, EmitStrategy, Grouped, KGroupedStream, KTable, Materialized, Produced, StoreType,
    StreamsBuilder,
};
use streams::serde::{Serde, SerdeRef, Serdes, SessionWindowedSerde, TimeWindowedSerde};
use streams::testing::{TestRecord, TopologyTestDriver};
use streams::topology::TopologyError;
use streams::window::{SessionWindows, SlidingWindows, TimeWindows, Window, Windowed};

use super::{config, rec, s};

pub(crate) const STORE_TYPES: [StoreType; 2] = [StoreType::RocksDb, StoreType::InMemory];

/// One input record: key, value, timestamp (`None` is null).
pub(crate) type In = (Option<&'static str>, Option<&'static str>, i64);

/// `tests/java-ref/samples/windowed.in.jsonl`.
pub(crate) const WINDOWED: &[In] = &[
    (Some("A"), Some("a1"), 0),
    (Some("A"), Some("a2"), 20),
    (Some("A"), Some("a3"), 99),
    (Some("B"), Some("b1"), 100),
    (Some("A"), Some("a4"), 160),
    (Some("A"), Some("a5"), 10),
    (Some("A"), Some("a6"), 60),
    (None, Some("n1"), 161),
    (Some("B"), Some("b2"), 400),
];

/// `tests/java-ref/samples/session.in.jsonl`.
pub(crate) const SESSION: &[In] = &[
    (Some("A"), Some("a1"), 0),
    (Some("A"), Some("a2"), 20),
    (Some("A"), Some("a3"), 100),
    (Some("B"), Some("b1"), 105),
    (Some("A"), Some("a4"), 60),
    (Some("A"), Some("a5"), 10),
    (Some("A"), Some("a6"), 80),
    (Some("B"), Some("b2"), 300),
];

pub(crate) fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

pub(crate) fn tumbling() -> TimeWindows {
    TimeWindows::of_size_and_grace(ms(100), ms(50)).unwrap()
}

pub(crate) fn hopping() -> TimeWindows {
    tumbling().advance_by(ms(30)).unwrap()
}

pub(crate) fn sliding() -> SlidingWindows {
    SlidingWindows::of_time_difference_and_grace(ms(50), ms(30)).unwrap()
}

pub(crate) fn session() -> SessionWindows {
    SessionWindows::of_inactivity_gap_and_grace(ms(30), ms(20)).unwrap()
}

pub(crate) fn grouped_input(b: &StreamsBuilder) -> KGroupedStream<String, String> {
    b.stream("input", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::with(Serdes::string(), Serdes::string()))
}

pub(crate) fn time_key_serde(size: i64) -> SerdeRef<Windowed<String>> {
    Arc::new(TimeWindowedSerde::new(Serdes::string(), size))
}

pub(crate) fn session_key_serde() -> SerdeRef<Windowed<String>> {
    Arc::new(SessionWindowedSerde::new(Serdes::string()))
}

pub(crate) fn to_output<V: Clone + 'static>(
    t: KTable<Windowed<String>, V>,
    key_serde: SerdeRef<Windowed<String>>,
    vs: SerdeRef<V>,
) {
    t.to_stream().to("output", Produced::with(key_serde, vs));
}

pub(crate) fn driver(b: &StreamsBuilder) -> TopologyTestDriver {
    TopologyTestDriver::with_wall_clock(b.build().unwrap(), config(), 0).unwrap()
}

/// Pipes `input` into topic `input` and returns what reached `output`.
pub(crate) fn run<V: 'static>(
    d: &TopologyTestDriver,
    input: &[In],
    key_serde: SerdeRef<Windowed<String>>,
    value_serde: SerdeRef<V>,
) -> Vec<TestRecord<Windowed<String>, V>> {
    let mut topic = d.create_input_topic("input", Serdes::string(), Serdes::string());
    for (k, v, ts) in input {
        topic.pipe_record(rec(k.map(s), v.map(s), *ts)).unwrap();
    }
    d.create_output_topic("output", key_serde, value_serde)
        .read_records_to_list()
        .unwrap()
}

/// An expected windowed record: key, window `[start, end]`, value, ts.
pub(crate) fn w<V>(
    key: &str,
    start: i64,
    end: i64,
    value: Option<V>,
    ts: i64,
) -> TestRecord<Windowed<String>, V> {
    rec(
        Some(Windowed::new(s(key), Window::new(start, end).unwrap())),
        value,
        ts,
    )
}

// ---------------------------------------------------------------------------
// The canonical topologies against Java's output for the samples.
// ---------------------------------------------------------------------------

/// `samples/expected/windowed/tumbling-count.out.jsonl`.
fn java_tumbling_count() -> Vec<TestRecord<Windowed<String>, i64>> {
    vec![
        w("A", 0, 100, Some(1), 0),
        w("A", 0, 100, Some(2), 20),
        w("A", 0, 100, Some(3), 99),
        w("B", 100, 200, Some(1), 100),
        w("A", 100, 200, Some(1), 160),
        w("B", 400, 500, Some(1), 400),
    ]
}

#[test]
fn tumbling_count_matches_java() {
    for store in STORE_TYPES {
        let b = StreamsBuilder::new();
        to_output(
            grouped_input(&b)
                .windowed_by_time(tumbling())
                .count(Materialized::none().with_store_type(store)),
            time_key_serde(100),
            Serdes::i64(),
        );
        let d = driver(&b);
        assert_eq!(
            run(&d, WINDOWED, time_key_serde(100), Serdes::i64()),
            java_tumbling_count(),
            "{store:?}"
        );
        // The null key, and A@10 and A@60 for [0,100): end 100 <= close 110.
        assert_eq!(d.metrics().dropped_records, 3, "{store:?}");
    }
}

/// `samples/expected/windowed/hopping-count.out.jsonl`.
fn java_hopping_count() -> Vec<TestRecord<Windowed<String>, i64>> {
    vec![
        w("A", 0, 100, Some(1), 0),
        w("A", 0, 100, Some(2), 20),
        w("A", 0, 100, Some(3), 99),
        w("A", 30, 130, Some(1), 99),
        w("A", 60, 160, Some(1), 99),
        w("A", 90, 190, Some(1), 99),
        w("B", 30, 130, Some(1), 100),
        w("B", 60, 160, Some(1), 100),
        w("B", 90, 190, Some(1), 100),
        w("A", 90, 190, Some(2), 160),
        w("A", 120, 220, Some(1), 160),
        w("A", 150, 250, Some(1), 160),
        w("A", 30, 130, Some(2), 99),
        w("A", 60, 160, Some(2), 99),
        w("B", 330, 430, Some(1), 400),
        w("B", 360, 460, Some(1), 400),
        w("B", 390, 490, Some(1), 400),
    ]
}

#[test]
fn hopping_count_matches_java_dropping_late_records_per_window() {
    for store in STORE_TYPES {
        let b = StreamsBuilder::new();
        to_output(
            grouped_input(&b)
                .windowed_by_time(hopping())
                .count(Materialized::as_("hop").with_store_type(store)),
            time_key_serde(100),
            Serdes::i64(),
        );
        let d = driver(&b);
        assert_eq!(
            run(&d, WINDOWED, time_key_serde(100), Serdes::i64()),
            java_hopping_count(),
            "{store:?}"
        );
        // A@10 is late for its only window [0,100); A@60 for [0,100) but not
        // for [30,130) and [60,160); and the null key.
        assert_eq!(d.metrics().dropped_records, 3, "{store:?}");
        // Reads go through the store's cache, which still holds windows the
        // store itself has expired (Kafka Streams does the same).
        let store_view = d.get_window_store::<String, i64>("hop").unwrap();
        assert_eq!(store_view.fetch(&s("B"), 390).unwrap(), Some(1));
        assert_eq!(store_view.fetch(&s("A"), 90).unwrap(), Some(2));
        let all: Vec<String> = store_view
            .all()
            .unwrap()
            .into_iter()
            .map(|(k, v)| format!("{}{}={v}", k.key, k.window.start()))
            .collect();
        let java_all = match store {
            // Segment (60 s) first, then the store key: key first.
            StoreType::RocksDb => {
                "A0=3 A30=2 A60=2 A90=2 A120=1 A150=1 B30=1 B60=1 B90=1 B330=1 B360=1 B390=1"
            }
            // Window start first.
            StoreType::InMemory => {
                "A0=3 A30=2 B30=1 A60=2 B60=1 A90=2 B90=1 A120=1 A150=1 B330=1 B360=1 B390=1"
            }
        };
        assert_eq!(all.join(" "), java_all, "{store:?}");
        assert_eq!(
            store_view.fetch_range(&s("A"), 0, 400).unwrap(),
            vec![(0, 3), (30, 2), (60, 2), (90, 2), (120, 1), (150, 1)]
        );
        let timestamped = d
            .get_timestamped_window_store::<String, i64>("hop")
            .unwrap();
        assert_eq!(
            timestamped.fetch_range(&s("B"), 300, 400).unwrap(),
            vec![
                (330, streams::state::ValueAndTimestamp::new(1, 400)),
                (360, streams::state::ValueAndTimestamp::new(1, 400)),
                (390, streams::state::ValueAndTimestamp::new(1, 400)),
            ]
        );
    }
}

/// `samples/expected/windowed/sliding-count.out.jsonl`.
fn java_sliding_count() -> Vec<TestRecord<Windowed<String>, i64>> {
    vec![
        w("A", 0, 50, Some(1), 0),
        w("A", 1, 51, Some(1), 20),
        w("A", 0, 50, Some(2), 20),
        w("A", 49, 99, Some(1), 99),
        w("B", 50, 100, Some(1), 100),
        w("A", 110, 160, Some(1), 160),
        w("B", 350, 400, Some(1), 400),
    ]
}

#[test]
fn sliding_count_matches_java() {
    for store in STORE_TYPES {
        let b = StreamsBuilder::new();
        to_output(
            grouped_input(&b)
                .windowed_by_sliding(sliding())
                .count(Materialized::none().with_store_type(store)),
            time_key_serde(50),
            Serdes::i64(),
        );
        let d = driver(&b);
        assert_eq!(
            run(&d, WINDOWED, time_key_serde(50), Serdes::i64()),
            java_sliding_count(),
            "{store:?}"
        );
        // A@10 and A@60 are dropped whole (t + 50 < close 130), plus the
        // null key.
        assert_eq!(d.metrics().dropped_records, 3, "{store:?}");
    }
}

/// `samples/expected/session/session-count.out.jsonl`.
fn java_session_count() -> Vec<TestRecord<Windowed<String>, i64>> {
    vec![
        w("A", 0, 0, Some(1), 0),
        w("A", 0, 0, None, 0),
        w("A", 0, 20, Some(2), 20),
        w("A", 100, 100, Some(1), 100),
        w("B", 105, 105, Some(1), 105),
        w("A", 60, 60, Some(1), 60),
        w("A", 60, 60, None, 60),
        w("A", 100, 100, None, 100),
        w("A", 60, 100, Some(3), 100),
        w("B", 300, 300, Some(1), 300),
    ]
}

#[test]
fn session_count_matches_java_with_tombstones_for_merged_sessions() {
    for store in STORE_TYPES {
        let b = StreamsBuilder::new();
        to_output(
            grouped_input(&b)
                .windowed_by_session(session())
                .count(Materialized::as_("sessions").with_store_type(store)),
            session_key_serde(),
            Serdes::i64(),
        );
        let d = driver(&b);
        assert_eq!(
            run(&d, SESSION, session_key_serde(), Serdes::i64()),
            java_session_count(),
            "{store:?}"
        );
        // A@10 merges into [0,20], which ends before close time 55.
        assert_eq!(d.metrics().dropped_records, 1, "{store:?}");
        let sessions = d.get_session_store::<String, i64>("sessions").unwrap();
        assert_eq!(sessions.fetch_session(&s("A"), 60, 100).unwrap(), Some(3));
        assert_eq!(sessions.fetch_session(&s("A"), 100, 100).unwrap(), None);
        assert_eq!(sessions.fetch_session(&s("A"), 0, 20).unwrap(), Some(2));
        // Reads go through the cache, which still holds sessions the store
        // has expired, as in Kafka Streams.
        let found = sessions.find_sessions(&s("B"), 0, i64::MAX).unwrap();
        assert_eq!(
            found,
            vec![
                (Windowed::new(s("B"), Window::new(105, 105).unwrap()), 1),
                (Windowed::new(s("B"), Window::new(300, 300).unwrap()), 1),
            ],
            "{store:?}"
        );
        let found = sessions.find_sessions(&s("A"), 0, i64::MAX).unwrap();
        assert_eq!(
            found,
            vec![
                (Windowed::new(s("A"), Window::new(0, 20).unwrap()), 2),
                (Windowed::new(s("A"), Window::new(60, 100).unwrap()), 3),
            ],
            "{store:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Semantics in detail.
// ---------------------------------------------------------------------------

#[test]
fn tumbling_window_whose_end_equals_close_time_is_closed() {
    for store in STORE_TYPES {
        let b = StreamsBuilder::new();
        let windows = TimeWindows::of_size_and_grace(ms(10), ms(5)).unwrap();
        to_output(
            grouped_input(&b)
                .windowed_by_time(windows)
                .count(Materialized::none().with_store_type(store)),
            time_key_serde(10),
            Serdes::i64(),
        );
        let d = driver(&b);
        let input: &[In] = &[
            (Some("k"), Some("a"), 5),
            (Some("k"), Some("b"), 14),
            // close = 14 - 5 = 9 < 10: [0,10) still open.
            (Some("k"), Some("c"), 9),
            (Some("k"), Some("d"), 15),
            // close = 10 = end of [0,10): closed.
            (Some("k"), Some("e"), 9),
            // A null value is counted.
            (Some("k"), None, 15),
        ];
        assert_eq!(
            run(&d, input, time_key_serde(10), Serdes::i64()),
            vec![
                w("k", 0, 10, Some(1), 5),
                w("k", 10, 20, Some(1), 14),
                w("k", 0, 10, Some(2), 9),
                w("k", 10, 20, Some(2), 15),
                w("k", 10, 20, Some(3), 15),
            ],
            "{store:?}"
        );
        assert_eq!(d.metrics().dropped_records, 1);
    }
}

#[test]
fn windowed_reduce_and_aggregate_keep_timestamps_and_serdes() {
    for store in STORE_TYPES {
        let b = StreamsBuilder::new();
        let grouped = grouped_input(&b);
        let windows = TimeWindows::of_size_with_no_grace(ms(10)).unwrap();
        grouped
            .windowed_by_time(windows)
            .reduce(
                |a, v| format!("{a}+{v}"),
                Materialized::none().with_store_type(store),
            )
            .to_stream()
            .to(
                "output",
                Produced::with(time_key_serde(10), Serdes::string()),
            );
        grouped
            .windowed_by_time(windows)
            .aggregate(
                || 0i64,
                |_k, v: Option<&String>, agg| agg + v.map_or(100, |v| v.len() as i64),
                Materialized::with(Serdes::string(), Serdes::i64()).with_store_type(store),
            )
            .to_stream()
            .to("lengths", Produced::with(time_key_serde(10), Serdes::i64()));
        let d = driver(&b);
        let input: &[In] = &[
            (Some("k"), Some("x"), 3),
            (Some("k"), Some("yy"), 1),
            (Some("k"), None, 2),
        ];
        assert_eq!(
            run(&d, input, time_key_serde(10), Serdes::string()),
            vec![
                w("k", 0, 10, Some(s("x")), 3),
                w("k", 0, 10, Some(s("x+yy")), 3),
                // The null value leaves the reduction as it is.
                w("k", 0, 10, Some(s("x+yy")), 3),
            ],
            "{store:?}"
        );
        let lengths = d
            .create_output_topic("lengths", time_key_serde(10), Serdes::i64())
            .read_records_to_list()
            .unwrap();
        assert_eq!(
            lengths,
            vec![
                w("k", 0, 10, Some(1), 3),
                w("k", 0, 10, Some(3), 3),
                w("k", 0, 10, Some(103), 3)
            ],
            "{store:?}"
        );
    }
}

#[test]
fn retention_smaller_than_size_plus_grace_is_rejected() {
    let b = StreamsBuilder::new();
    grouped_input(&b)
        .windowed_by_time(tumbling())
        .count(Materialized::as_("s").with_retention(ms(149)));
    match b.build() {
        Err(TopologyError::InvalidArgument(msg)) => assert!(
            msg.starts_with(
                "The retention period of the window store s must be no smaller than its window size plus the \
                 grace period. Got size=[100], grace=[50], retention=[149]"
            ),
            "{msg}"
        ),
        other => panic!("expected a retention error, got {other:?}"),
    }

    let b = StreamsBuilder::new();
    grouped_input(&b)
        .windowed_by_sliding(sliding())
        .count(Materialized::as_("s").with_retention(ms(129)));
    assert!(
        matches!(b.build(), Err(TopologyError::InvalidArgument(m)) if m.contains("2 * time difference"))
    );

    let b = StreamsBuilder::new();
    grouped_input(&b)
        .windowed_by_session(session())
        .count(Materialized::as_("s").with_retention(ms(49)));
    assert!(
        matches!(b.build(), Err(TopologyError::InvalidArgument(m)) if m.contains("inactivity gap"))
    );

    // Exactly size + grace is fine.
    let b = StreamsBuilder::new();
    grouped_input(&b)
        .windowed_by_time(tumbling())
        .count(Materialized::as_("s").with_retention(ms(150)));
    assert!(b.build().is_ok());
}

#[test]
fn window_changelog_keys_use_the_window_store_key_schema() {
    let b = StreamsBuilder::new();
    to_output(
        grouped_input(&b)
            .windowed_by_time(tumbling())
            .count(Materialized::as_("counts").with_caching_disabled()),
        time_key_serde(100),
        Serdes::i64(),
    );
    let d = driver(&b);
    run(
        &d,
        &[(Some("A"), Some("x"), 120)],
        time_key_serde(100),
        Serdes::i64(),
    );
    let changelog =
        d.create_output_topic("test-app-counts-changelog", Serdes::bytes(), Serdes::i64());
    let records = changelog.read_records_to_list().unwrap();
    let mut key = b"A".to_vec();
    key.extend_from_slice(&100i64.to_be_bytes());
    key.extend_from_slice(&0u32.to_be_bytes());
    assert_eq!(records, vec![rec(Some(key), Some(1), 120)]);
}

#[test]
fn session_changelog_keys_use_the_session_key_schema() {
    let b = StreamsBuilder::new();
    to_output(
        grouped_input(&b)
            .windowed_by_session(session())
            .count(Materialized::as_("sessions").with_caching_disabled()),
        session_key_serde(),
        Serdes::i64(),
    );
    let d = driver(&b);
    run(
        &d,
        &[(Some("A"), Some("x"), 10), (Some("A"), Some("y"), 20)],
        session_key_serde(),
        Serdes::i64(),
    );
    let changelog = d.create_output_topic(
        "test-app-sessions-changelog",
        Serdes::bytes(),
        Serdes::i64(),
    );
    let key = |start: i64, end: i64| {
        let mut k = b"A".to_vec();
        k.extend_from_slice(&end.to_be_bytes());
        k.extend_from_slice(&start.to_be_bytes());
        k
    };
    assert_eq!(
        changelog.read_records_to_list().unwrap(),
        vec![
            rec(Some(key(10, 10)), Some(1), 10),
            rec(Some(key(10, 10)), None, 20),
            rec(Some(key(10, 20)), Some(2), 20),
        ]
    );
}

#[test]
fn windowed_keys_serialize_as_kafka_does() {
    let key = Windowed::new(s("A"), Window::new(100, 200).unwrap());
    let bytes = TimeWindowedSerde::new(Serdes::string(), 100)
        .serialize("t", &key)
        .unwrap();
    assert_eq!(bytes, [b'A', 0, 0, 0, 0, 0, 0, 0, 100]);
}

// ---------------------------------------------------------------------------
// describe() against Java's text.
// ---------------------------------------------------------------------------

const JAVA_WINDOWED_COUNT_DESCRIBE: &str = "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input])
      --> KSTREAM-AGGREGATE-0000000002
    Processor: KSTREAM-AGGREGATE-0000000002 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000001])
      --> KTABLE-TOSTREAM-0000000003
      <-- KSTREAM-SOURCE-0000000000
    Processor: KTABLE-TOSTREAM-0000000003 (stores: [])
      --> KSTREAM-SINK-0000000004
      <-- KSTREAM-AGGREGATE-0000000002
    Sink: KSTREAM-SINK-0000000004 (topic: output)
      <-- KTABLE-TOSTREAM-0000000003

";

#[test]
fn windowed_count_describe_matches_java() {
    let b = StreamsBuilder::new();
    to_output(
        grouped_input(&b)
            .windowed_by_time(tumbling())
            .count(Materialized::none()),
        time_key_serde(100),
        Serdes::i64(),
    );
    assert_eq!(
        b.build().unwrap().describe().to_string(),
        JAVA_WINDOWED_COUNT_DESCRIBE
    );
    let b = StreamsBuilder::new();
    to_output(
        grouped_input(&b)
            .windowed_by_sliding(sliding())
            .count(Materialized::none()),
        time_key_serde(50),
        Serdes::i64(),
    );
    assert_eq!(
        b.build().unwrap().describe().to_string(),
        JAVA_WINDOWED_COUNT_DESCRIBE
    );
    let b = StreamsBuilder::new();
    to_output(
        grouped_input(&b)
            .windowed_by_session(session())
            .count(Materialized::none()),
        session_key_serde(),
        Serdes::i64(),
    );
    assert_eq!(
        b.build().unwrap().describe().to_string(),
        JAVA_WINDOWED_COUNT_DESCRIBE
    );
}

#[test]
fn windowed_aggregation_after_group_by_repartitions_like_java() {
    let b = StreamsBuilder::new();
    b.stream("input", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by(
            |_k, v| v.cloned(),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .windowed_by_session(session())
        .aggregate(
            || 0i64,
            |_k, _v, agg| agg + 1,
            |_k, a, b| a + b,
            Materialized::with(Serdes::string(), Serdes::i64()),
        )
        .to_stream()
        .to("output", Produced::with(session_key_serde(), Serdes::i64()));
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
    Sink: KSTREAM-SINK-0000000004 (topic: KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition)
      <-- KSTREAM-FILTER-0000000005

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000006 (topics: [KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition])
      --> KSTREAM-AGGREGATE-0000000003
    Processor: KSTREAM-AGGREGATE-0000000003 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000002])
      --> KTABLE-TOSTREAM-0000000007
      <-- KSTREAM-SOURCE-0000000006
    Processor: KTABLE-TOSTREAM-0000000007 (stores: [])
      --> KSTREAM-SINK-0000000008
      <-- KSTREAM-AGGREGATE-0000000003
    Sink: KSTREAM-SINK-0000000008 (topic: output)
      <-- KTABLE-TOSTREAM-0000000007

";
    assert_eq!(b.build().unwrap().describe().to_string(), expected);
    // And it runs: the session aggregate sees the repartitioned records.
    let d = driver(&b);
    let out = run(
        &d,
        &[(Some("x"), Some("v"), 5), (Some("y"), Some("v"), 7)],
        session_key_serde(),
        Serdes::i64(),
    );
    assert_eq!(
        out,
        vec![
            w("v", 5, 5, Some(1), 5),
            w("v", 5, 5, None, 5),
            w("v", 5, 7, Some(2), 7)
        ]
    );
}

// ---------------------------------------------------------------------------
// Emit on window close.
// ---------------------------------------------------------------------------

#[test]
fn emit_on_window_close_emits_each_final_window_once() {
    for store in STORE_TYPES {
        let b = StreamsBuilder::new();
        to_output(
            grouped_input(&b)
                .windowed_by_time(tumbling())
                .emit_strategy(EmitStrategy::on_window_close())
                .count(Materialized::none().with_store_type(store)),
            time_key_serde(100),
            Serdes::i64(),
        );
        let d = driver(&b);
        assert_eq!(
            run(&d, WINDOWED, time_key_serde(100), Serdes::i64()),
            vec![
                w("A", 0, 100, Some(3), 99),
                w("A", 100, 200, Some(1), 160),
                w("B", 100, 200, Some(1), 100),
            ],
            "{store:?}"
        );

        let b = StreamsBuilder::new();
        to_output(
            grouped_input(&b)
                .windowed_by_time(hopping())
                .emit_strategy(EmitStrategy::on_window_close())
                .count(Materialized::none().with_store_type(store)),
            time_key_serde(100),
            Serdes::i64(),
        );
        let d = driver(&b);
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

        let b = StreamsBuilder::new();
        to_output(
            grouped_input(&b)
                .windowed_by_sliding(sliding())
                .emit_strategy(EmitStrategy::on_window_close())
                .count(Materialized::none().with_store_type(store)),
            time_key_serde(50),
            Serdes::i64(),
        );
        let d = driver(&b);
        assert_eq!(
            run(&d, WINDOWED, time_key_serde(50), Serdes::i64()),
            vec![
                w("A", 0, 50, Some(2), 20),
                w("A", 1, 51, Some(1), 20),
                w("A", 49, 99, Some(1), 99),
                w("B", 50, 100, Some(1), 100),
            ],
            "{store:?}"
        );
    }
}

#[test]
fn emit_on_window_close_for_sessions_matches_java_per_store_type() {
    for store in STORE_TYPES {
        let b = StreamsBuilder::new();
        to_output(
            grouped_input(&b)
                .windowed_by_session(session())
                .emit_strategy(EmitStrategy::on_window_close())
                .count(Materialized::none().with_store_type(store)),
            session_key_serde(),
            Serdes::i64(),
        );
        let d = driver(&b);
        let expected = match store {
            StoreType::RocksDb => vec![
                w("A", 0, 20, Some(2), 20),
                w("A", 60, 100, Some(3), 100),
                w("B", 105, 105, Some(1), 105),
            ],
            // Kafka's in-memory session store expires a session (retention =
            // gap + grace) by the time it closes, so nothing is ever emitted.
            StoreType::InMemory => vec![],
        };
        assert_eq!(
            run(&d, SESSION, session_key_serde(), Serdes::i64()),
            expected,
            "{store:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Emission order on disordered input, against Java (identical for RocksDB and
// in-memory stores, with and without caching).
// ---------------------------------------------------------------------------

fn materialized_variants<V>() -> Vec<(String, Materialized<String, V>)> {
    let mut out = Vec::new();
    for store in STORE_TYPES {
        out.push((
            format!("{store:?} cached"),
            Materialized::none().with_store_type(store),
        ));
        out.push((
            format!("{store:?} uncached"),
            Materialized::none()
                .with_store_type(store)
                .with_caching_disabled(),
        ));
    }
    out
}

fn pipe_strs(d: &TopologyTestDriver, input: &[(&str, Option<&str>, i64)]) {
    let mut topic = d.create_input_topic("input", Serdes::string(), Serdes::string());
    for (k, v, ts) in input {
        topic.pipe_record(rec(Some(s(k)), v.map(s), *ts)).unwrap();
    }
}

#[test]
fn sliding_count_matches_java_on_disordered_input() {
    for (name, m) in materialized_variants::<i64>() {
        let b = StreamsBuilder::new();
        let windows = SlidingWindows::of_time_difference_and_grace(ms(5), ms(15)).unwrap();
        to_output(
            grouped_input(&b).windowed_by_sliding(windows).count(m),
            time_key_serde(5),
            Serdes::i64(),
        );
        let d = driver(&b);
        let ts = [10, 11, 10, 13, 10, 24, 5, 7, 90];
        pipe_strs(&d, &ts.map(|t| ("k1", Some("v"), t)));
        let out = d
            .create_output_topic("output", time_key_serde(5), Serdes::i64())
            .read_records_to_list()
            .unwrap();
        let java = vec![
            w("k1", 5, 10, Some(1), 10),
            w("k1", 11, 16, Some(1), 11),
            w("k1", 6, 11, Some(2), 11),
            w("k1", 6, 11, Some(3), 11),
            w("k1", 5, 10, Some(2), 10),
            w("k1", 11, 16, Some(2), 13),
            w("k1", 12, 17, Some(1), 13),
            w("k1", 8, 13, Some(4), 13),
            w("k1", 8, 13, Some(5), 13),
            w("k1", 6, 11, Some(4), 11),
            w("k1", 5, 10, Some(3), 10),
            w("k1", 19, 24, Some(1), 24),
            w("k1", 5, 10, Some(4), 10),
            w("k1", 6, 11, Some(5), 11),
            w("k1", 5, 10, Some(5), 10),
            w("k1", 85, 90, Some(1), 90),
        ];
        assert_eq!(out, java, "{name}");
    }
}

#[test]
fn sliding_reduce_matches_java_with_early_records() {
    for (name, m) in materialized_variants::<String>() {
        let b = StreamsBuilder::new();
        let windows = SlidingWindows::of_time_difference_and_grace(ms(10), ms(100)).unwrap();
        to_output(
            grouped_input(&b)
                .windowed_by_sliding(windows)
                .reduce(|a, v| format!("{a}{v}"), m),
            time_key_serde(10),
            Serdes::string(),
        );
        let d = driver(&b);
        pipe_strs(
            &d,
            &[
                ("k", Some("a"), 3),
                ("k", Some("b"), 1),
                ("k", Some("c"), 8),
                ("k", Some("d"), 15),
                ("k", Some("e"), 12),
                ("k", Some("f"), 2),
                ("k", Some("g"), 30),
            ],
        );
        let out = d
            .create_output_topic("output", time_key_serde(10), Serdes::string())
            .read_records_to_list()
            .unwrap();
        let java = vec![
            w("k", 0, 10, Some(s("a")), 3),
            w("k", 2, 12, Some(s("a")), 3),
            w("k", 0, 10, Some(s("ab")), 3),
            w("k", 2, 12, Some(s("ac")), 8),
            w("k", 4, 14, Some(s("c")), 8),
            w("k", 0, 10, Some(s("abc")), 8),
            w("k", 9, 19, Some(s("d")), 15),
            w("k", 5, 15, Some(s("cd")), 15),
            w("k", 9, 19, Some(s("de")), 15),
            w("k", 5, 15, Some(s("cde")), 15),
            w("k", 4, 14, Some(s("ce")), 12),
            w("k", 2, 12, Some(s("ace")), 12),
            w("k", 13, 23, Some(s("d")), 15),
            w("k", 2, 12, Some(s("acef")), 12),
            w("k", 3, 13, Some(s("ace")), 12),
            w("k", 0, 10, Some(s("abcf")), 8),
            w("k", 20, 30, Some(s("g")), 30),
        ];
        assert_eq!(out, java, "{name}");
    }
}

#[test]
fn session_merges_apply_the_merger_in_store_order_like_java() {
    for (name, m) in materialized_variants::<String>() {
        let b = StreamsBuilder::new();
        let windows = SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(100)).unwrap();
        to_output(
            grouped_input(&b).windowed_by_session(windows).aggregate(
                String::new,
                // Java's `agg + v` prints a null value as "null".
                |_k, v, agg| format!("{agg}{}", v.map_or("null", String::as_str)),
                |_k, a, b| format!("{a}|{b}"),
                m.with_value_serde(Serdes::string()),
            ),
            session_key_serde(),
            Serdes::string(),
        );
        let d = driver(&b);
        pipe_strs(
            &d,
            &[
                ("a", Some("a"), 0),
                ("a", Some("b"), 30),
                ("a", Some("c"), 15),
                ("a", Some("d"), 5),
                ("a", None, 30),
                ("b", Some("x"), 31),
            ],
        );
        let out = d
            .create_output_topic("output", session_key_serde(), Serdes::string())
            .read_records_to_list()
            .unwrap();
        let java = vec![
            w("a", 0, 0, Some(s("a")), 0),
            w("a", 30, 30, Some(s("b")), 30),
            w("a", 15, 15, Some(s("c")), 15),
            w("a", 0, 0, None, 0),
            w("a", 15, 15, None, 15),
            w("a", 0, 15, Some(s("|a|cd")), 15),
            w("a", 30, 30, Some(s("|bnull")), 30),
            w("b", 31, 31, Some(s("x")), 31),
        ];
        assert_eq!(out, java, "{name}");
    }
}
