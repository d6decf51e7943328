//! Joins: stream-table, table-table, stream-stream and foreign-key, each
//! pinned to the records Kafka Streams 4.3.1 produces for the same input
//! (the canonical topologies and samples of `tests/java-ref`, and extra
//! cases run through Java's TopologyTestDriver the same way).

use std::time::Duration;

use streams::dsl::{
    Consumed, Joined, KStream, KTable, Materialized, Named, Produced, StreamJoined, StreamsBuilder,
};
use streams::serde::Serdes;
use streams::testing::{TestRecord, TopologyTestDriver};
use streams::window::JoinWindows;

use super::{config, rec, s};

/// One input record: topic, key, value, timestamp (`None` is null).
type In = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    i64,
);

/// Pipes `input` in order and returns what reached `output`.
fn run(b: &StreamsBuilder, input: &[In]) -> Vec<TestRecord<String, String>> {
    let d = TopologyTestDriver::with_wall_clock(b.build().unwrap(), config(), 0).unwrap();
    let mut topics = std::collections::HashMap::new();
    for (topic, key, value, ts) in input {
        let t = topics
            .entry(*topic)
            .or_insert_with(|| d.create_input_topic(topic, Serdes::string(), Serdes::string()));
        t.pipe_record(rec(key.map(s), value.map(s), *ts)).unwrap();
    }
    d.create_output_topic("output", Serdes::string(), Serdes::string())
        .read_records_to_list()
        .unwrap()
}

/// Expected output records: key, value, timestamp.
fn out(records: &[(Option<&str>, Option<&str>, i64)]) -> Vec<TestRecord<String, String>> {
    records
        .iter()
        .map(|(k, v, ts)| rec(k.map(s), v.map(s), *ts))
        .collect()
}

/// Java's `l + "|" + r`, where a null prints as "null".
fn j(l: Option<&String>, r: Option<&String>) -> String {
    format!(
        "{}|{}",
        l.map_or("null", |l| l.as_str()),
        r.map_or("null", |r| r.as_str())
    )
}

fn string_stream(b: &StreamsBuilder, topic: &str) -> KStream<String, String> {
    b.stream(topic, Consumed::with(Serdes::string(), Serdes::string()))
}

fn string_table(b: &StreamsBuilder, topic: &str) -> KTable<String, String> {
    b.table(
        topic,
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::none(),
    )
}

fn to_output(stream: KStream<String, String>) {
    stream.to("output", Produced::with(Serdes::string(), Serdes::string()));
}

// ---------------------------------------------------------------------------
// Stream-table
// ---------------------------------------------------------------------------

/// `tests/java-ref/samples/stream-table.in.jsonl`.
const STREAM_TABLE: &[In] = &[
    ("right", Some("A"), Some("t1"), 0),
    ("left", Some("A"), Some("S1"), 5),
    ("left", Some("B"), Some("S2"), 6),
    ("right", Some("A"), Some("t2"), 7),
    ("left", Some("A"), Some("S3"), 8),
    ("right", Some("A"), None, 9),
    ("left", Some("A"), Some("S4"), 10),
    ("left", None, Some("S5"), 11),
    ("left", Some("A"), None, 12),
];

fn stream_table(left_join: bool) -> StreamsBuilder {
    let b = StreamsBuilder::new();
    let left = string_stream(&b, "left");
    let right = string_table(&b, "right");
    let joined = Joined::with(Serdes::string(), Serdes::string(), Serdes::string());
    let result = if left_join {
        left.left_join_table(&right, |l, r| j(Some(l), r), joined)
    } else {
        left.join_table(&right, |l, r| j(Some(l), Some(r)), joined)
    };
    to_output(result);
    b
}

#[test]
fn stream_table_inner_join_matches_java() {
    assert_eq!(
        run(&stream_table(false), STREAM_TABLE),
        out(&[(Some("A"), Some("S1|t1"), 5), (Some("A"), Some("S3|t2"), 8)])
    );
}

#[test]
fn stream_table_left_join_matches_java() {
    assert_eq!(
        run(&stream_table(true), STREAM_TABLE),
        out(&[
            (Some("A"), Some("S1|t1"), 5),
            (Some("B"), Some("S2|null"), 6),
            (Some("A"), Some("S3|t2"), 8),
            (Some("A"), Some("S4|null"), 10),
            (None, Some("S5|null"), 11),
        ])
    );
}

#[test]
fn stream_table_join_describe_matches_java() {
    let b = StreamsBuilder::new();
    let l = string_stream(&b, "left");
    let r = string_table(&b, "right");
    l.join_table(
        &r,
        |a, b| format!("{a}{b}"),
        Joined::with(Serdes::string(), Serdes::string(), Serdes::string()),
    )
    .to("out", Produced::with(Serdes::string(), Serdes::string()));
    l.left_join_table(&r, |a, b| format!("{a}{b:?}"), Joined::none())
        .to("out2", Produced::with(Serdes::string(), Serdes::string()));
    let t = b.build().unwrap();
    assert_eq!(
        t.describe().to_string(),
        "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [left])
      --> KSTREAM-JOIN-0000000004, KSTREAM-LEFTJOIN-0000000006
    Processor: KSTREAM-JOIN-0000000004 (stores: [right-STATE-STORE-0000000001])
      --> KSTREAM-SINK-0000000005
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-LEFTJOIN-0000000006 (stores: [right-STATE-STORE-0000000001])
      --> KSTREAM-SINK-0000000007
      <-- KSTREAM-SOURCE-0000000000
    Source: KSTREAM-SOURCE-0000000002 (topics: [right])
      --> KTABLE-SOURCE-0000000003
    Sink: KSTREAM-SINK-0000000005 (topic: out)
      <-- KSTREAM-JOIN-0000000004
    Sink: KSTREAM-SINK-0000000007 (topic: out2)
      <-- KSTREAM-LEFTJOIN-0000000006
    Processor: KTABLE-SOURCE-0000000003 (stores: [right-STATE-STORE-0000000001])
      --> none
      <-- KSTREAM-SOURCE-0000000002

"
    );
    assert_eq!(
        t.copartition_groups(),
        &[["left", "right"].iter().map(|t| t.to_string()).collect()]
    );
}

#[test]
fn stream_table_join_after_key_change_repartitions_like_java() {
    let b = StreamsBuilder::new();
    let l = string_stream(&b, "left");
    let r = string_table(&b, "right");
    let joined = || Joined::with(Serdes::string(), Serdes::string(), Serdes::string());
    to_output(l.select_key(|_k, v| v.cloned()).join_table(
        &r,
        |a, b| j(Some(a), Some(b)),
        joined(),
    ));
    l.select_key(|_k, v| v.cloned())
        .left_join_table(&r, |a, b| j(Some(a), b), joined().with_name("named"))
        .to("out2", Produced::with(Serdes::string(), Serdes::string()));
    let t = b.build().unwrap();
    assert_eq!(
        t.describe().to_string(),
        "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [left])
      --> KSTREAM-KEY-SELECT-0000000004, KSTREAM-KEY-SELECT-0000000010
    Processor: KSTREAM-KEY-SELECT-0000000004 (stores: [])
      --> KSTREAM-FILTER-0000000006
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-KEY-SELECT-0000000010 (stores: [])
      --> named-repartition-filter
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-FILTER-0000000006 (stores: [])
      --> KSTREAM-SINK-0000000005
      <-- KSTREAM-KEY-SELECT-0000000004
    Processor: named-repartition-filter (stores: [])
      --> named-repartition-sink
      <-- KSTREAM-KEY-SELECT-0000000010
    Sink: KSTREAM-SINK-0000000005 (topic: KSTREAM-KEY-SELECT-0000000004-repartition)
      <-- KSTREAM-FILTER-0000000006
    Sink: named-repartition-sink (topic: named-repartition)
      <-- named-repartition-filter

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000007 (topics: [KSTREAM-KEY-SELECT-0000000004-repartition])
      --> KSTREAM-JOIN-0000000008
    Source: named-repartition-source (topics: [named-repartition])
      --> named
    Processor: KSTREAM-JOIN-0000000008 (stores: [right-STATE-STORE-0000000001])
      --> KSTREAM-SINK-0000000009
      <-- KSTREAM-SOURCE-0000000007
    Source: KSTREAM-SOURCE-0000000002 (topics: [right])
      --> KTABLE-SOURCE-0000000003
    Processor: named (stores: [right-STATE-STORE-0000000001])
      --> KSTREAM-SINK-0000000015
      <-- named-repartition-source
    Sink: KSTREAM-SINK-0000000009 (topic: output)
      <-- KSTREAM-JOIN-0000000008
    Sink: KSTREAM-SINK-0000000015 (topic: out2)
      <-- named
    Processor: KTABLE-SOURCE-0000000003 (stores: [right-STATE-STORE-0000000001])
      --> none
      <-- KSTREAM-SOURCE-0000000002

"
    );
    // The re-keyed stream reaches the join through the repartition topic.
    let got = run(
        &b,
        &[
            ("right", Some("x"), Some("X"), 1),
            ("left", Some("k1"), Some("x"), 2),
            ("left", Some("k2"), Some("y"), 3),
        ],
    );
    assert_eq!(got, out(&[(Some("x"), Some("x|X"), 2)]));
}

// ---------------------------------------------------------------------------
// Table-table
// ---------------------------------------------------------------------------

/// `tests/java-ref/samples/table-table.in.jsonl`.
const TABLE_TABLE: &[In] = &[
    ("left", Some("A"), Some("l1"), 0),
    ("right", Some("A"), Some("r1"), 1),
    ("right", Some("B"), Some("r2"), 2),
    ("left", Some("A"), Some("l2"), 3),
    ("left", Some("A"), None, 4),
    ("right", Some("B"), None, 5),
    ("left", Some("C"), Some("l3"), 6),
    ("right", Some("A"), None, 7),
];

#[derive(Clone, Copy)]
enum Kind {
    Inner,
    Left,
    Outer,
}

fn table_table(kind: Kind) -> StreamsBuilder {
    let b = StreamsBuilder::new();
    let left = string_table(&b, "left");
    let right = string_table(&b, "right");
    let result = match kind {
        Kind::Inner => left.join(&right, |l, r| j(Some(l), Some(r))),
        Kind::Left => left.left_join(&right, |l, r| j(Some(l), r)),
        Kind::Outer => left.outer_join(&right, j),
    };
    to_output(result.to_stream());
    b
}

#[test]
fn table_table_inner_join_matches_java() {
    assert_eq!(
        run(&table_table(Kind::Inner), TABLE_TABLE),
        out(&[
            (Some("A"), Some("l1|r1"), 1),
            (Some("A"), Some("l2|r1"), 3),
            (Some("A"), None, 4)
        ])
    );
}

#[test]
fn table_table_left_join_matches_java() {
    assert_eq!(
        run(&table_table(Kind::Left), TABLE_TABLE),
        out(&[
            (Some("A"), Some("l1|null"), 0),
            (Some("A"), Some("l1|r1"), 1),
            (Some("A"), Some("l2|r1"), 3),
            (Some("A"), None, 4),
            (Some("C"), Some("l3|null"), 6),
        ])
    );
}

#[test]
fn table_table_outer_join_matches_java() {
    assert_eq!(
        run(&table_table(Kind::Outer), TABLE_TABLE),
        out(&[
            (Some("A"), Some("l1|null"), 0),
            (Some("A"), Some("l1|r1"), 1),
            (Some("B"), Some("null|r2"), 2),
            (Some("A"), Some("l2|r1"), 3),
            (Some("A"), Some("null|r1"), 4),
            (Some("B"), None, 5),
            (Some("C"), Some("l3|null"), 6),
            (Some("A"), None, 7),
        ])
    );
}

#[test]
fn table_table_join_describe_matches_java() {
    let b = StreamsBuilder::new();
    let l = string_table(&b, "left");
    let r = string_table(&b, "right");
    let p = || Produced::with(Serdes::string(), Serdes::string());
    l.join(&r, |a, b| j(Some(a), Some(b)))
        .to_stream()
        .to("out", p());
    l.left_join(&r, |a, b| j(Some(a), b))
        .to_stream()
        .to("out2", p());
    l.outer_join_with(
        &r,
        j,
        None,
        Materialized::as_("oj-store").with_value_serde(Serdes::string()),
    )
    .to_stream()
    .to("out3", p());
    l.join_with(&r, |a, b| j(Some(a), Some(b)), Named::as_("nj"), None)
        .to_stream()
        .to("out4", p());
    assert_eq!(
        b.build().unwrap().describe().to_string(),
        "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000001 (topics: [left])
      --> KTABLE-SOURCE-0000000002
    Source: KSTREAM-SOURCE-0000000004 (topics: [right])
      --> KTABLE-SOURCE-0000000005
    Processor: KTABLE-SOURCE-0000000002 (stores: [left-STATE-STORE-0000000000])
      --> KTABLE-JOINTHIS-0000000012, KTABLE-JOINTHIS-0000000007, KTABLE-JOINTHIS-0000000017, nj-join-this
      <-- KSTREAM-SOURCE-0000000001
    Processor: KTABLE-SOURCE-0000000005 (stores: [right-STATE-STORE-0000000003])
      --> KTABLE-JOINOTHER-0000000013, KTABLE-JOINOTHER-0000000008, KTABLE-JOINOTHER-0000000018, nj-join-other
      <-- KSTREAM-SOURCE-0000000004
    Processor: KTABLE-JOINOTHER-0000000008 (stores: [left-STATE-STORE-0000000000])
      --> KTABLE-MERGE-0000000006
      <-- KTABLE-SOURCE-0000000005
    Processor: KTABLE-JOINOTHER-0000000013 (stores: [left-STATE-STORE-0000000000])
      --> KTABLE-MERGE-0000000011
      <-- KTABLE-SOURCE-0000000005
    Processor: KTABLE-JOINOTHER-0000000018 (stores: [left-STATE-STORE-0000000000])
      --> KTABLE-MERGE-0000000016
      <-- KTABLE-SOURCE-0000000005
    Processor: KTABLE-JOINTHIS-0000000007 (stores: [right-STATE-STORE-0000000003])
      --> KTABLE-MERGE-0000000006
      <-- KTABLE-SOURCE-0000000002
    Processor: KTABLE-JOINTHIS-0000000012 (stores: [right-STATE-STORE-0000000003])
      --> KTABLE-MERGE-0000000011
      <-- KTABLE-SOURCE-0000000002
    Processor: KTABLE-JOINTHIS-0000000017 (stores: [right-STATE-STORE-0000000003])
      --> KTABLE-MERGE-0000000016
      <-- KTABLE-SOURCE-0000000002
    Processor: nj-join-other (stores: [left-STATE-STORE-0000000000])
      --> nj
      <-- KTABLE-SOURCE-0000000005
    Processor: nj-join-this (stores: [right-STATE-STORE-0000000003])
      --> nj
      <-- KTABLE-SOURCE-0000000002
    Processor: KTABLE-MERGE-0000000006 (stores: [])
      --> KTABLE-TOSTREAM-0000000009
      <-- KTABLE-JOINTHIS-0000000007, KTABLE-JOINOTHER-0000000008
    Processor: KTABLE-MERGE-0000000011 (stores: [])
      --> KTABLE-TOSTREAM-0000000014
      <-- KTABLE-JOINTHIS-0000000012, KTABLE-JOINOTHER-0000000013
    Processor: KTABLE-MERGE-0000000016 (stores: [oj-store])
      --> KTABLE-TOSTREAM-0000000019
      <-- KTABLE-JOINTHIS-0000000017, KTABLE-JOINOTHER-0000000018
    Processor: nj (stores: [])
      --> KTABLE-TOSTREAM-0000000024
      <-- nj-join-this, nj-join-other
    Processor: KTABLE-TOSTREAM-0000000009 (stores: [])
      --> KSTREAM-SINK-0000000010
      <-- KTABLE-MERGE-0000000006
    Processor: KTABLE-TOSTREAM-0000000014 (stores: [])
      --> KSTREAM-SINK-0000000015
      <-- KTABLE-MERGE-0000000011
    Processor: KTABLE-TOSTREAM-0000000019 (stores: [])
      --> KSTREAM-SINK-0000000020
      <-- KTABLE-MERGE-0000000016
    Processor: KTABLE-TOSTREAM-0000000024 (stores: [])
      --> KSTREAM-SINK-0000000025
      <-- nj
    Sink: KSTREAM-SINK-0000000010 (topic: out)
      <-- KTABLE-TOSTREAM-0000000009
    Sink: KSTREAM-SINK-0000000015 (topic: out2)
      <-- KTABLE-TOSTREAM-0000000014
    Sink: KSTREAM-SINK-0000000020 (topic: out3)
      <-- KTABLE-TOSTREAM-0000000019
    Sink: KSTREAM-SINK-0000000025 (topic: out4)
      <-- KTABLE-TOSTREAM-0000000024

"
    );
}

// ---------------------------------------------------------------------------
// Stream-stream
// ---------------------------------------------------------------------------

/// `tests/java-ref/samples/stream-stream.in.jsonl`.
const STREAM_STREAM: &[In] = &[
    ("left", Some("A"), Some("L1"), 0),
    ("right", Some("A"), Some("R1"), 10),
    ("right", Some("A"), Some("R2"), 60),
    ("left", Some("A"), Some("L2"), 100),
    ("left", Some("B"), Some("L3"), 105),
    ("left", None, Some("L4"), 106),
    ("right", Some("A"), None, 107),
    ("right", Some("C"), Some("R3"), 200),
    ("right", Some("D"), Some("R4"), 210),
    ("left", Some("E"), Some("L5"), 300),
];

fn stream_stream(kind: Kind, windows: JoinWindows) -> StreamsBuilder {
    let b = StreamsBuilder::new();
    let left = string_stream(&b, "left");
    let right = string_stream(&b, "right");
    let joined = StreamJoined::with(Serdes::string(), Serdes::string(), Serdes::string());
    let result = match kind {
        Kind::Inner => left.join(&right, |l, r| j(Some(l), Some(r)), windows, joined),
        Kind::Left => left.left_join(&right, |l, r| j(Some(l), r), windows, joined),
        Kind::Outer => left.outer_join(&right, j, windows, joined),
    };
    to_output(result);
    b
}

/// The canonical windows: before 50, after 20, grace 10.
fn canonical_windows() -> JoinWindows {
    JoinWindows::of_time_difference_and_grace(Duration::from_millis(50), Duration::from_millis(10))
        .unwrap()
        .after(Duration::from_millis(20))
        .unwrap()
}

/// `before`/`after`/`grace` in ms, with the spurious-result fix.
fn windows(before: u64, after: u64, grace: u64) -> JoinWindows {
    JoinWindows::of_time_difference_and_grace(
        Duration::from_millis(before),
        Duration::from_millis(grace),
    )
    .unwrap()
    .before(Duration::from_millis(before))
    .unwrap()
    .after(Duration::from_millis(after))
    .unwrap()
}

#[test]
fn stream_stream_inner_join_matches_java() {
    assert_eq!(
        run(
            &stream_stream(Kind::Inner, canonical_windows()),
            STREAM_STREAM
        ),
        out(&[
            (Some("A"), Some("L1|R1"), 10),
            (Some("A"), Some("L2|R2"), 100)
        ])
    );
}

#[test]
fn stream_stream_left_join_matches_java() {
    assert_eq!(
        run(
            &stream_stream(Kind::Left, canonical_windows()),
            STREAM_STREAM
        ),
        out(&[
            (Some("A"), Some("L1|R1"), 10),
            (Some("A"), Some("L2|R2"), 100),
            (None, Some("L4|null"), 106),
            (Some("B"), Some("L3|null"), 105),
        ])
    );
}

#[test]
fn stream_stream_outer_join_matches_java() {
    assert_eq!(
        run(
            &stream_stream(Kind::Outer, canonical_windows()),
            STREAM_STREAM
        ),
        out(&[
            (Some("A"), Some("L1|R1"), 10),
            (Some("A"), Some("L2|R2"), 100),
            (None, Some("L4|null"), 106),
            (Some("B"), Some("L3|null"), 105),
            (Some("C"), Some("null|R3"), 200),
            (Some("D"), Some("null|R4"), 210),
        ])
    );
}

/// Out-of-order and late records, duplicates of one key and time, a
/// null-key record on the right and a null value on the left.
const STREAM_STREAM_ASYMMETRIC: &[In] = &[
    ("left", Some("A"), Some("a1"), 100),
    ("right", Some("A"), Some("b1"), 95),
    ("right", Some("A"), Some("b2"), 111),
    ("left", Some("A"), Some("a2"), 115),
    ("left", Some("A"), Some("a3"), 90),
    ("right", Some("A"), Some("b3"), 100),
    ("left", Some("B"), Some("c1"), 120),
    ("left", Some("B"), Some("c1dup"), 120),
    ("right", Some("A"), Some("b4"), 130),
    ("left", Some("A"), Some("a4"), 140),
    ("right", Some("C"), Some("d1"), 200),
    ("right", Some("C"), Some("d1dup"), 200),
    ("left", Some("A"), Some("a5"), 120),
    ("right", None, Some("n1"), 201),
    ("left", Some("A"), None, 202),
    ("left", Some("Z"), Some("z"), 300),
];

#[test]
fn stream_stream_joins_with_a_before_only_window_match_java() {
    // A left record at t meets right records in [t-10, t]; a right record
    // at t meets left records in [t, t+10]. Retention is 10 + 5, so a1@100
    // has expired from the left store when b3@100 arrives (stream time of
    // that store is 115).
    let w = || windows(10, 0, 5);
    assert_eq!(
        run(&stream_stream(Kind::Inner, w()), STREAM_STREAM_ASYMMETRIC),
        out(&[
            (Some("A"), Some("a1|b1"), 100),
            (Some("A"), Some("a2|b2"), 115),
            (Some("A"), Some("a4|b4"), 140)
        ])
    );
    assert_eq!(
        run(&stream_stream(Kind::Left, w()), STREAM_STREAM_ASYMMETRIC),
        out(&[
            (Some("A"), Some("a1|b1"), 100),
            (Some("A"), Some("a2|b2"), 115),
            (Some("A"), Some("a3|null"), 90),
            (Some("B"), Some("c1|null"), 120),
            (Some("B"), Some("c1dup|null"), 120),
            (Some("A"), Some("a4|b4"), 140),
            (Some("A"), Some("a5|null"), 120),
        ])
    );
    assert_eq!(
        run(&stream_stream(Kind::Outer, w()), STREAM_STREAM_ASYMMETRIC),
        out(&[
            (Some("A"), Some("a1|b1"), 100),
            (Some("A"), Some("a2|b2"), 115),
            (Some("A"), Some("a3|null"), 90),
            (Some("A"), Some("null|b3"), 100),
            (Some("B"), Some("c1|null"), 120),
            (Some("B"), Some("c1dup|null"), 120),
            (Some("A"), Some("a4|b4"), 140),
            (Some("A"), Some("a5|null"), 120),
            (None, Some("null|n1"), 201),
            (Some("C"), Some("null|d1"), 200),
            (Some("C"), Some("null|d1dup"), 200),
        ])
    );
}

#[test]
fn stream_stream_joins_with_an_after_only_window_match_java() {
    // A left record at t meets right records in [t, t+10]: nothing in this
    // input pairs up, so every record comes out unmatched once its window
    // closes, in <ts><side><key> order of the shared store per scan.
    let w = || windows(0, 10, 0);
    assert_eq!(
        run(&stream_stream(Kind::Inner, w()), STREAM_STREAM_ASYMMETRIC),
        out(&[])
    );
    assert_eq!(
        run(&stream_stream(Kind::Left, w()), STREAM_STREAM_ASYMMETRIC),
        out(&[
            (Some("A"), Some("a1|null"), 100),
            (Some("A"), Some("a3|null"), 90),
            (Some("A"), Some("a2|null"), 115),
            (Some("B"), Some("c1|null"), 120),
            (Some("B"), Some("c1dup|null"), 120),
            (Some("A"), Some("a4|null"), 140),
            (Some("A"), Some("a5|null"), 120),
        ])
    );
    assert_eq!(
        run(&stream_stream(Kind::Outer, w()), STREAM_STREAM_ASYMMETRIC),
        out(&[
            (Some("A"), Some("null|b1"), 95),
            (Some("A"), Some("a1|null"), 100),
            (Some("A"), Some("null|b2"), 111),
            (Some("A"), Some("a3|null"), 90),
            (Some("A"), Some("null|b3"), 100),
            (Some("A"), Some("a2|null"), 115),
            (Some("B"), Some("c1|null"), 120),
            (Some("B"), Some("c1dup|null"), 120),
            (Some("A"), Some("null|b4"), 130),
            (Some("A"), Some("a4|null"), 140),
            (Some("A"), Some("a5|null"), 120),
            (None, Some("null|n1"), 201),
            (Some("C"), Some("null|d1"), 200),
            (Some("C"), Some("null|d1dup"), 200),
        ])
    );
}

#[test]
fn legacy_windows_emit_unmatched_records_at_once_like_java() {
    // `JoinWindows.of()` has no spurious-result fix: an unmatched record is
    // joined with null as soon as it arrives, and no shared store exists.
    let w = || {
        JoinWindows::of_legacy(Duration::from_millis(10))
            .unwrap()
            .after(Duration::ZERO)
            .unwrap()
    };
    assert_eq!(
        run(&stream_stream(Kind::Left, w()), STREAM_STREAM_ASYMMETRIC),
        out(&[
            (Some("A"), Some("a1|null"), 100),
            (Some("A"), Some("a1|b1"), 100),
            (Some("A"), Some("a2|b2"), 115),
            (Some("A"), Some("a3|null"), 90),
            (Some("A"), Some("a1|b3"), 100),
            (Some("B"), Some("c1|null"), 120),
            (Some("B"), Some("c1dup|null"), 120),
            (Some("A"), Some("a4|b4"), 140),
            (Some("A"), Some("a5|b2"), 120),
            (Some("Z"), Some("z|null"), 300),
        ])
    );
    let b = stream_stream(Kind::Outer, w());
    assert!(
        !b.build()
            .unwrap()
            .describe()
            .to_string()
            .contains("OUTERSHARED")
    );
    assert_eq!(
        run(&b, STREAM_STREAM_ASYMMETRIC),
        out(&[
            (Some("A"), Some("a1|null"), 100),
            (Some("A"), Some("a1|b1"), 100),
            (Some("A"), Some("null|b2"), 111),
            (Some("A"), Some("a2|b2"), 115),
            (Some("A"), Some("a3|null"), 90),
            (Some("A"), Some("a1|b3"), 100),
            (Some("B"), Some("c1|null"), 120),
            (Some("B"), Some("c1dup|null"), 120),
            (Some("A"), Some("null|b4"), 130),
            (Some("A"), Some("a4|b4"), 140),
            (Some("C"), Some("null|d1"), 200),
            (Some("C"), Some("null|d1dup"), 200),
            (Some("A"), Some("a5|b2"), 120),
            (None, Some("null|n1"), 201),
            (Some("Z"), Some("z|null"), 300),
        ])
    );
}

#[test]
fn stream_stream_join_describe_matches_java() {
    let w = || {
        JoinWindows::of_time_difference_and_grace(
            Duration::from_millis(50),
            Duration::from_millis(10),
        )
        .unwrap()
    };
    let sj = || StreamJoined::with(Serdes::string(), Serdes::string(), Serdes::string());

    let b = stream_stream(Kind::Inner, canonical_windows());
    assert_eq!(
        b.build().unwrap().describe().to_string(),
        "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [left])
      --> KSTREAM-WINDOWED-0000000002
    Source: KSTREAM-SOURCE-0000000001 (topics: [right])
      --> KSTREAM-WINDOWED-0000000003
    Processor: KSTREAM-WINDOWED-0000000002 (stores: [KSTREAM-JOINTHIS-0000000004-store])
      --> KSTREAM-JOINTHIS-0000000004
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-WINDOWED-0000000003 (stores: [KSTREAM-JOINOTHER-0000000005-store])
      --> KSTREAM-JOINOTHER-0000000005
      <-- KSTREAM-SOURCE-0000000001
    Processor: KSTREAM-JOINOTHER-0000000005 (stores: [KSTREAM-JOINTHIS-0000000004-store])
      --> KSTREAM-MERGE-0000000006
      <-- KSTREAM-WINDOWED-0000000003
    Processor: KSTREAM-JOINTHIS-0000000004 (stores: [KSTREAM-JOINOTHER-0000000005-store])
      --> KSTREAM-MERGE-0000000006
      <-- KSTREAM-WINDOWED-0000000002
    Processor: KSTREAM-MERGE-0000000006 (stores: [])
      --> KSTREAM-SINK-0000000007
      <-- KSTREAM-JOINTHIS-0000000004, KSTREAM-JOINOTHER-0000000005
    Sink: KSTREAM-SINK-0000000007 (topic: output)
      <-- KSTREAM-MERGE-0000000006

"
    );
    let t = b.build().unwrap();
    assert_eq!(
        t.copartition_groups(),
        &[["left", "right"].iter().map(|t| t.to_string()).collect()]
    );
    let mut changelogs = t.changelog_topics("app");
    changelogs.sort();
    assert_eq!(
        changelogs,
        vec![
            "app-KSTREAM-JOINOTHER-0000000005-store-changelog",
            "app-KSTREAM-JOINTHIS-0000000004-store-changelog"
        ]
    );

    let b = stream_stream(Kind::Left, w());
    assert_eq!(
        b.build().unwrap().describe().to_string(),
        "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [left])
      --> KSTREAM-WINDOWED-0000000002
    Source: KSTREAM-SOURCE-0000000001 (topics: [right])
      --> KSTREAM-WINDOWED-0000000003
    Processor: KSTREAM-WINDOWED-0000000002 (stores: [KSTREAM-JOINTHIS-0000000004-store])
      --> KSTREAM-JOINTHIS-0000000004
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-WINDOWED-0000000003 (stores: [KSTREAM-OUTEROTHER-0000000005-store])
      --> KSTREAM-OUTEROTHER-0000000005
      <-- KSTREAM-SOURCE-0000000001
    Processor: KSTREAM-JOINTHIS-0000000004 (stores: [KSTREAM-OUTEROTHER-0000000005-store, KSTREAM-OUTERSHARED-0000000004-store])
      --> KSTREAM-MERGE-0000000006
      <-- KSTREAM-WINDOWED-0000000002
    Processor: KSTREAM-OUTEROTHER-0000000005 (stores: [KSTREAM-JOINTHIS-0000000004-store, KSTREAM-OUTERSHARED-0000000004-store])
      --> KSTREAM-MERGE-0000000006
      <-- KSTREAM-WINDOWED-0000000003
    Processor: KSTREAM-MERGE-0000000006 (stores: [])
      --> KSTREAM-SINK-0000000007
      <-- KSTREAM-JOINTHIS-0000000004, KSTREAM-OUTEROTHER-0000000005
    Sink: KSTREAM-SINK-0000000007 (topic: output)
      <-- KSTREAM-MERGE-0000000006

"
    );

    // Named processors and stores (outer join).
    let b = StreamsBuilder::new();
    let l = string_stream(&b, "left");
    let r = string_stream(&b, "right");
    l.outer_join(&r, j, w(), sj().with_name("nm").with_store_name("st"))
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    assert_eq!(
        b.build().unwrap().describe().to_string(),
        "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [left])
      --> nm-this-windowed
    Source: KSTREAM-SOURCE-0000000001 (topics: [right])
      --> nm-other-windowed
    Processor: nm-other-windowed (stores: [st-outer-other-join-store])
      --> nm-outer-other-join
      <-- KSTREAM-SOURCE-0000000001
    Processor: nm-this-windowed (stores: [st-outer-this-join-store])
      --> nm-outer-this-join
      <-- KSTREAM-SOURCE-0000000000
    Processor: nm-outer-other-join (stores: [st-outer-shared-join-store, st-outer-this-join-store])
      --> nm-merge
      <-- nm-other-windowed
    Processor: nm-outer-this-join (stores: [st-outer-shared-join-store, st-outer-other-join-store])
      --> nm-merge
      <-- nm-this-windowed
    Processor: nm-merge (stores: [])
      --> KSTREAM-SINK-0000000007
      <-- nm-outer-this-join, nm-outer-other-join
    Sink: KSTREAM-SINK-0000000007 (topic: out)
      <-- nm-merge

"
    );

    // Both sides re-keyed: two repartition topics before the join.
    let b = StreamsBuilder::new();
    let l = string_stream(&b, "left");
    let r = string_stream(&b, "right");
    l.select_key(|_k, v| v.cloned())
        .join(
            &r.select_key(|_k, v| v.cloned()),
            |a, b| j(Some(a), Some(b)),
            w(),
            sj(),
        )
        .to("output", Produced::with(Serdes::string(), Serdes::string()));
    let t = b.build().unwrap();
    assert_eq!(
        t.describe().to_string(),
        "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [left])
      --> KSTREAM-KEY-SELECT-0000000002
    Processor: KSTREAM-KEY-SELECT-0000000002 (stores: [])
      --> KSTREAM-FILTER-0000000005
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-FILTER-0000000005 (stores: [])
      --> KSTREAM-SINK-0000000004
      <-- KSTREAM-KEY-SELECT-0000000002
    Sink: KSTREAM-SINK-0000000004 (topic: KSTREAM-KEY-SELECT-0000000002-repartition)
      <-- KSTREAM-FILTER-0000000005

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000001 (topics: [right])
      --> KSTREAM-KEY-SELECT-0000000003
    Processor: KSTREAM-KEY-SELECT-0000000003 (stores: [])
      --> KSTREAM-FILTER-0000000008
      <-- KSTREAM-SOURCE-0000000001
    Processor: KSTREAM-FILTER-0000000008 (stores: [])
      --> KSTREAM-SINK-0000000007
      <-- KSTREAM-KEY-SELECT-0000000003
    Sink: KSTREAM-SINK-0000000007 (topic: KSTREAM-KEY-SELECT-0000000003-repartition)
      <-- KSTREAM-FILTER-0000000008

  Sub-topology: 2
    Source: KSTREAM-SOURCE-0000000006 (topics: [KSTREAM-KEY-SELECT-0000000002-repartition])
      --> KSTREAM-WINDOWED-0000000010
    Source: KSTREAM-SOURCE-0000000009 (topics: [KSTREAM-KEY-SELECT-0000000003-repartition])
      --> KSTREAM-WINDOWED-0000000011
    Processor: KSTREAM-WINDOWED-0000000010 (stores: [KSTREAM-JOINTHIS-0000000012-store])
      --> KSTREAM-JOINTHIS-0000000012
      <-- KSTREAM-SOURCE-0000000006
    Processor: KSTREAM-WINDOWED-0000000011 (stores: [KSTREAM-JOINOTHER-0000000013-store])
      --> KSTREAM-JOINOTHER-0000000013
      <-- KSTREAM-SOURCE-0000000009
    Processor: KSTREAM-JOINOTHER-0000000013 (stores: [KSTREAM-JOINTHIS-0000000012-store])
      --> KSTREAM-MERGE-0000000014
      <-- KSTREAM-WINDOWED-0000000011
    Processor: KSTREAM-JOINTHIS-0000000012 (stores: [KSTREAM-JOINOTHER-0000000013-store])
      --> KSTREAM-MERGE-0000000014
      <-- KSTREAM-WINDOWED-0000000010
    Processor: KSTREAM-MERGE-0000000014 (stores: [])
      --> KSTREAM-SINK-0000000015
      <-- KSTREAM-JOINTHIS-0000000012, KSTREAM-JOINOTHER-0000000013
    Sink: KSTREAM-SINK-0000000015 (topic: output)
      <-- KSTREAM-MERGE-0000000014

"
    );
    assert_eq!(
        t.copartition_groups(),
        &[[
            "KSTREAM-KEY-SELECT-0000000002-repartition",
            "KSTREAM-KEY-SELECT-0000000003-repartition"
        ]
        .iter()
        .map(|t| t.to_string())
        .collect()]
    );
    // Records meet after both repartition topics.
    let got = run(
        &b,
        &[
            ("left", Some("k1"), Some("x"), 1),
            ("right", Some("k2"), Some("x"), 2),
        ],
    );
    assert_eq!(got, out(&[(Some("x"), Some("x|x"), 2)]));
}

// ---------------------------------------------------------------------------
// Foreign-key table-table
// ---------------------------------------------------------------------------

/// `tests/java-ref/samples/fk.in.jsonl`.
const FK: &[In] = &[
    ("right", Some("F1"), Some("x"), 0),
    ("left", Some("K1"), Some("F1:p"), 1),
    ("left", Some("K2"), Some("F2:q"), 2),
    ("right", Some("F2"), Some("y"), 3),
    ("right", Some("F1"), Some("z"), 4),
    ("left", Some("K1"), Some("F2:r"), 5),
    ("left", Some("K2"), None, 6),
    ("right", Some("F2"), None, 7),
];

/// Foreign-key changes back and forth, deletes on both sides, a late
/// right update (its timestamp goes back to 3) and a delete of a key that
/// never existed.
const FK_CHANGES: &[In] = &[
    ("left", Some("K1"), Some("F1:a"), 1),
    ("left", Some("K2"), Some("F1:b"), 2),
    ("right", Some("F1"), Some("x"), 3),
    ("right", Some("F2"), Some("y"), 4),
    ("left", Some("K1"), Some("F2:a"), 5),
    ("left", Some("K1"), Some("F2:c"), 6),
    ("right", Some("F1"), None, 7),
    ("left", Some("K2"), Some("F3:b"), 8),
    ("right", Some("F3"), Some("z"), 9),
    ("right", Some("F3"), Some("z2"), 3),
    ("left", Some("K3"), Some("F3:q"), 10),
    ("left", Some("K1"), None, 11),
    ("right", Some("F2"), Some("y2"), 12),
    ("left", Some("K2"), None, 13),
    ("left", Some("K9"), None, 14),
    ("right", Some("F3"), None, 15),
];

fn fk(left_join: bool) -> StreamsBuilder {
    let b = StreamsBuilder::new();
    let left = string_table(&b, "left");
    let right = string_table(&b, "right");
    let fk = |v: &String| v.split(':').next().map(str::to_owned);
    let result = if left_join {
        left.left_join_on_foreign_key(&right, fk, |l, r| j(Some(l), r))
    } else {
        left.join_on_foreign_key(&right, fk, |l, r| j(Some(l), Some(r)))
    };
    to_output(result.to_stream());
    b
}

#[test]
fn fk_inner_join_matches_java() {
    assert_eq!(
        run(&fk(false), FK),
        out(&[
            (Some("K1"), Some("F1:p|x"), 1),
            (Some("K2"), Some("F2:q|y"), 3),
            (Some("K1"), Some("F1:p|z"), 4),
            (Some("K1"), Some("F2:r|y"), 5),
            (Some("K2"), None, 6),
            (Some("K1"), None, 7),
        ])
    );
    assert_eq!(
        run(&fk(false), FK_CHANGES),
        out(&[
            (Some("K1"), Some("F1:a|x"), 3),
            (Some("K2"), Some("F1:b|x"), 3),
            (Some("K1"), Some("F2:a|y"), 5),
            (Some("K1"), Some("F2:c|y"), 6),
            (Some("K2"), None, 7),
            (Some("K2"), None, 8),
            (Some("K2"), Some("F3:b|z"), 9),
            (Some("K2"), Some("F3:b|z2"), 3),
            (Some("K3"), Some("F3:q|z2"), 10),
            (Some("K1"), None, 11),
            (Some("K2"), None, 13),
            (Some("K3"), None, 15),
        ])
    );
}

#[test]
fn fk_left_join_matches_java() {
    assert_eq!(
        run(&fk(true), FK),
        out(&[
            (Some("K1"), Some("F1:p|x"), 1),
            (Some("K2"), Some("F2:q|null"), 2),
            (Some("K2"), Some("F2:q|y"), 3),
            (Some("K1"), Some("F1:p|z"), 4),
            (Some("K1"), Some("F2:r|y"), 5),
            (Some("K2"), None, 6),
            (Some("K1"), Some("F2:r|null"), 7),
        ])
    );
    assert_eq!(
        run(&fk(true), FK_CHANGES),
        out(&[
            (Some("K1"), Some("F1:a|null"), 1),
            (Some("K2"), Some("F1:b|null"), 2),
            (Some("K1"), Some("F1:a|x"), 3),
            (Some("K2"), Some("F1:b|x"), 3),
            (Some("K1"), Some("F2:a|y"), 5),
            (Some("K1"), Some("F2:c|y"), 6),
            (Some("K2"), Some("F1:b|null"), 7),
            (Some("K2"), Some("F3:b|null"), 8),
            (Some("K2"), Some("F3:b|z"), 9),
            (Some("K2"), Some("F3:b|z2"), 3),
            (Some("K3"), Some("F3:q|z2"), 10),
            (Some("K1"), None, 11),
            (Some("K2"), None, 13),
            (Some("K3"), Some("F3:q|null"), 15),
        ])
    );
}

#[test]
fn fk_join_describe_matches_java() {
    let b = StreamsBuilder::new();
    let l = string_table(&b, "left");
    let r = string_table(&b, "right");
    l.join_on_foreign_key(
        &r,
        |v: &String| v.split(':').next().map(str::to_owned),
        |a, b| j(Some(a), Some(b)),
    )
    .to_stream()
    .to("out", Produced::with(Serdes::string(), Serdes::string()));
    let t = b.build().unwrap();
    assert_eq!(
        t.describe().to_string(),
        "Topologies:
   Sub-topology: 0
    Source: KTABLE-SOURCE-0000000016 (topics: [KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000014-topic])
      --> KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR-0000000017
    Source: KSTREAM-SOURCE-0000000001 (topics: [left])
      --> KTABLE-SOURCE-0000000002
    Processor: KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR-0000000017 (stores: [left-STATE-STORE-0000000000])
      --> KTABLE-FK-JOIN-OUTPUT-0000000018
      <-- KTABLE-SOURCE-0000000016
    Processor: KTABLE-FK-JOIN-OUTPUT-0000000018 (stores: [])
      --> KTABLE-TOSTREAM-0000000020
      <-- KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR-0000000017
    Processor: KTABLE-SOURCE-0000000002 (stores: [left-STATE-STORE-0000000000])
      --> KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000007
      <-- KSTREAM-SOURCE-0000000001
    Processor: KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000007 (stores: [])
      --> KTABLE-SINK-0000000008
      <-- KTABLE-SOURCE-0000000002
    Processor: KTABLE-TOSTREAM-0000000020 (stores: [])
      --> KSTREAM-SINK-0000000021
      <-- KTABLE-FK-JOIN-OUTPUT-0000000018
    Sink: KSTREAM-SINK-0000000021 (topic: out)
      <-- KTABLE-TOSTREAM-0000000020
    Sink: KTABLE-SINK-0000000008 (topic: KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000006-topic)
      <-- KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000007

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000004 (topics: [right])
      --> KTABLE-SOURCE-0000000005
    Source: KTABLE-SOURCE-0000000009 (topics: [KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000006-topic])
      --> KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000011
    Processor: KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000011 (stores: [KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-0000000010])
      --> KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000012
      <-- KTABLE-SOURCE-0000000009
    Processor: KTABLE-SOURCE-0000000005 (stores: [right-STATE-STORE-0000000003])
      --> KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000013
      <-- KSTREAM-SOURCE-0000000004
    Processor: KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000012 (stores: [right-STATE-STORE-0000000003])
      --> KTABLE-SINK-0000000015
      <-- KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000011
    Processor: KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000013 (stores: [KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-0000000010])
      --> KTABLE-SINK-0000000015
      <-- KTABLE-SOURCE-0000000005
    Sink: KTABLE-SINK-0000000015 (topic: KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000014-topic)
      <-- KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000012, KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000013

"
    );
    let groups: Vec<Vec<&str>> = t
        .copartition_groups()
        .iter()
        .map(|g| g.iter().map(String::as_str).collect())
        .collect();
    assert_eq!(
        groups,
        vec![
            vec![
                "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000006-topic",
                "right"
            ],
            vec![
                "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000014-topic",
                "left"
            ],
        ]
    );
    let mut changelogs = t.changelog_topics("app");
    changelogs.sort();
    assert_eq!(
        changelogs,
        vec![
            "app-KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-0000000010-changelog",
            "app-left-STATE-STORE-0000000000-changelog",
            "app-right-STATE-STORE-0000000003-changelog",
        ]
    );
}

// ---------------------------------------------------------------------------
// Joins reading derived tables (value getters), old values through joins
// ---------------------------------------------------------------------------

/// Updates and deletes on both sides, and values the right-side filter
/// drops ("x...").
const DERIVED: &[In] = &[
    ("left", Some("A"), Some("l1"), 0),
    ("right", Some("A"), Some("r1"), 1),
    ("right", Some("B"), Some("xr2"), 2),
    ("left", Some("B"), Some("l2"), 3),
    ("right", Some("B"), Some("r2b"), 4),
    ("right", Some("A"), Some("xr"), 5),
    ("left", Some("A"), Some("l3"), 7),
    ("right", Some("A"), Some("r3"), 9),
    ("left", Some("C"), Some("l4"), 10),
    ("right", Some("C"), Some("r4"), 11),
    ("left", Some("A"), None, 12),
    ("right", Some("B"), None, 14),
    ("left", Some("B"), Some("l5"), 15),
];

#[test]
fn join_reads_a_filtered_and_mapped_table_through_its_parent_like_java() {
    let b = StreamsBuilder::new();
    let left = string_table(&b, "left");
    let right = string_table(&b, "right")
        .filter(|_k, v| !v.starts_with('x'))
        .map_values(|_k, v| v.to_uppercase());
    to_output(left.left_join(&right, |l, r| j(Some(l), r)).to_stream());
    let t = b.build().unwrap();
    // No store for the filter or the map: the join reads the source's store.
    assert!(t.describe().to_string().contains(
        "Processor: KTABLE-JOINTHIS-0000000009 (stores: [right-STATE-STORE-0000000003])"
    ));
    assert!(
        t.describe()
            .to_string()
            .contains("Processor: KTABLE-FILTER-0000000006 (stores: [])")
    );
    assert_eq!(
        run(&b, DERIVED),
        out(&[
            (Some("A"), Some("l1|null"), 0),
            (Some("A"), Some("l1|R1"), 1),
            (Some("B"), Some("l2|null"), 3),
            (Some("B"), Some("l2|R2B"), 4),
            (Some("A"), Some("l1|null"), 5),
            (Some("A"), Some("l3|null"), 7),
            (Some("A"), Some("l3|R3"), 9),
            (Some("C"), Some("l4|null"), 10),
            (Some("C"), Some("l4|R4"), 11),
            (Some("A"), None, 12),
            (Some("B"), Some("l2|null"), 14),
            (Some("B"), Some("l5|null"), 15),
        ])
    );
}

#[test]
fn join_of_a_join_result_reads_both_parents_like_java() {
    let b = StreamsBuilder::new();
    let left = string_table(&b, "left");
    let right = string_table(&b, "right");
    let mid = string_table(&b, "mid");
    let lr = left.join(&right, |l, r| j(Some(l), Some(r)));
    to_output(lr.outer_join(&mid, j).to_stream());
    let t = b.build().unwrap();
    assert!(t.describe().to_string().contains(
        "Processor: KTABLE-JOINOTHER-0000000014 (stores: [left-STATE-STORE-0000000000, right-STATE-STORE-0000000003])"
    ));
    // DERIVED with updates of "mid" interleaved.
    let input: Vec<In> = vec![
        ("left", Some("A"), Some("l1"), 0),
        ("right", Some("A"), Some("r1"), 1),
        ("right", Some("B"), Some("xr2"), 2),
        ("left", Some("B"), Some("l2"), 3),
        ("right", Some("B"), Some("r2b"), 4),
        ("right", Some("A"), Some("xr"), 5),
        ("mid", Some("A"), Some("m1"), 6),
        ("left", Some("A"), Some("l3"), 7),
        ("mid", Some("C"), Some("m2"), 8),
        ("right", Some("A"), Some("r3"), 9),
        ("left", Some("C"), Some("l4"), 10),
        ("right", Some("C"), Some("r4"), 11),
        ("left", Some("A"), None, 12),
        ("mid", Some("A"), None, 13),
        ("right", Some("B"), None, 14),
        ("left", Some("B"), Some("l5"), 15),
    ];
    assert_eq!(
        run(&b, &input),
        out(&[
            (Some("A"), Some("l1|r1|null"), 1),
            (Some("B"), Some("l2|xr2|null"), 3),
            (Some("B"), Some("l2|r2b|null"), 4),
            (Some("A"), Some("l1|xr|null"), 5),
            (Some("A"), Some("l1|xr|m1"), 6),
            (Some("A"), Some("l3|xr|m1"), 7),
            (Some("C"), Some("null|m2"), 8),
            (Some("A"), Some("l3|r3|m1"), 9),
            (Some("C"), Some("l4|r4|m2"), 11),
            (Some("A"), Some("null|m1"), 12),
            (Some("A"), None, 13),
            (Some("B"), None, 14),
        ])
    );
}

#[test]
fn grouping_a_join_result_sends_old_values_through_the_join_like_java() {
    let b = StreamsBuilder::new();
    let left = string_table(&b, "left");
    let right = string_table(&b, "right");
    left.left_join(&right, |l, r| j(Some(l), r))
        .group_by(
            |_k, v| (v[..1].to_string(), v.clone()),
            streams::dsl::Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(Materialized::none())
        .to_stream()
        .map_values(|v| v.map(|c| c.to_string()))
        .to("output", Produced::with(Serdes::string(), Serdes::string()));
    assert_eq!(
        run(&b, DERIVED),
        out(&[
            (Some("l"), Some("1"), 0),
            (Some("l"), Some("1"), 1),
            (Some("l"), Some("2"), 3),
            (Some("l"), Some("2"), 4),
            (Some("l"), Some("2"), 5),
            (Some("l"), Some("2"), 7),
            (Some("l"), Some("2"), 9),
            (Some("l"), Some("3"), 10),
            (Some("l"), Some("3"), 11),
            (Some("l"), Some("2"), 12),
            (Some("l"), Some("2"), 14),
            (Some("l"), Some("2"), 15),
        ])
    );
}

#[test]
fn stream_joins_a_filtered_table_through_its_parent_like_java() {
    let b = StreamsBuilder::new();
    let left = string_stream(&b, "left");
    let right = string_table(&b, "right").filter(|_k, v| !v.starts_with('x'));
    to_output(left.join_table(&right, |l, r| j(Some(l), Some(r)), Joined::none()));
    assert!(
        b.build().unwrap().describe().to_string().contains(
            "Processor: KSTREAM-JOIN-0000000005 (stores: [right-STATE-STORE-0000000001])"
        )
    );
    assert_eq!(
        run(
            &b,
            &[
                ("right", Some("A"), Some("t1"), 0),
                ("left", Some("A"), Some("s1"), 1),
                ("right", Some("A"), Some("xt"), 2),
                ("left", Some("A"), Some("s2"), 3),
                ("right", Some("A"), Some("t3"), 4),
                ("left", Some("A"), Some("s3"), 5),
                ("left", Some("B"), Some("s4"), 6),
            ]
        ),
        out(&[(Some("A"), Some("s1|t1"), 1), (Some("A"), Some("s3|t3"), 5)])
    );
}

// ---------------------------------------------------------------------------
// Stream-GlobalKTable
// ---------------------------------------------------------------------------

/// The key selector takes the part before ':' (none for values starting
/// with '~'); a null-key record still joins, by its derived key.
const GLOBAL: &[In] = &[
    ("glob", Some("G1"), Some("g1"), 0),
    ("left", Some("k1"), Some("G1:a"), 1),
    ("left", Some("k2"), Some("G2:b"), 2),
    ("glob", Some("G2"), Some("g2"), 3),
    ("left", Some("k3"), Some("G2:c"), 4),
    ("left", None, Some("G1:d"), 5),
    ("left", Some("k4"), Some("~x"), 6),
    ("left", Some("k5"), None, 7),
    ("glob", Some("G1"), None, 8),
    ("left", Some("k6"), Some("G1:e"), 9),
];

fn global(left_join: bool) -> StreamsBuilder {
    let b = StreamsBuilder::new();
    let left = string_stream(&b, "left");
    let g = b.global_table(
        "glob",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::none(),
    );
    let selector = |_k: Option<&String>, v: &String| {
        (!v.starts_with('~')).then(|| v.split(':').next().unwrap_or("").to_string())
    };
    let result = if left_join {
        left.left_join_global(&g, selector, |l, r| j(Some(l), r), None)
    } else {
        left.join_global(&g, selector, |l, r| j(Some(l), Some(r)), None)
    };
    to_output(result);
    b
}

#[test]
fn stream_global_table_joins_match_java() {
    assert_eq!(
        run(&global(false), GLOBAL),
        out(&[
            (Some("k1"), Some("G1:a|g1"), 1),
            (Some("k3"), Some("G2:c|g2"), 4),
            (None, Some("G1:d|g1"), 5)
        ])
    );
    assert_eq!(
        run(&global(true), GLOBAL),
        out(&[
            (Some("k1"), Some("G1:a|g1"), 1),
            (Some("k2"), Some("G2:b|null"), 2),
            (Some("k3"), Some("G2:c|g2"), 4),
            (None, Some("G1:d|g1"), 5),
            (Some("k4"), Some("~x|null"), 6),
            (Some("k6"), Some("G1:e|null"), 9),
        ])
    );
}

#[test]
fn stream_global_table_join_describe_matches_java() {
    let b = StreamsBuilder::new();
    let l = string_stream(&b, "left");
    let g = b.global_table(
        "glob",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::none(),
    );
    let p = || Produced::with(Serdes::string(), Serdes::string());
    l.join_global(
        &g,
        |_k, v: &String| Some(v.clone()),
        |a, b| j(Some(a), Some(b)),
        None,
    )
    .to("out", p());
    l.left_join_global(
        &g,
        |_k, v: &String| Some(v.clone()),
        |a, b| j(Some(a), b),
        Named::as_("gl"),
    )
    .to("out2", p());
    let t = b.build().unwrap();
    assert_eq!(
        t.describe().to_string(),
        "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [left])
      --> gl, KSTREAM-LEFTJOIN-0000000004
    Processor: KSTREAM-LEFTJOIN-0000000004 (stores: [])
      --> KSTREAM-SINK-0000000005
      <-- KSTREAM-SOURCE-0000000000
    Processor: gl (stores: [])
      --> KSTREAM-SINK-0000000007
      <-- KSTREAM-SOURCE-0000000000
    Sink: KSTREAM-SINK-0000000005 (topic: out)
      <-- KSTREAM-LEFTJOIN-0000000004
    Sink: KSTREAM-SINK-0000000007 (topic: out2)
      <-- gl

  Sub-topology: 1 for global store (will not generate tasks)
    Source: KSTREAM-SOURCE-0000000002 (topics: [glob])
      --> KTABLE-SOURCE-0000000003
    Processor: KTABLE-SOURCE-0000000003 (stores: [glob-STATE-STORE-0000000001])
      --> none
      <-- KSTREAM-SOURCE-0000000002
"
    );
    assert!(t.copartition_groups().is_empty());
}

// ---------------------------------------------------------------------------
// Cogroup
// ---------------------------------------------------------------------------

#[test]
fn cogroup_aggregates_several_grouped_streams_like_java() {
    let b = StreamsBuilder::new();
    let g1 = string_stream(&b, "a").group_by_key(streams::dsl::Grouped::with(
        Serdes::string(),
        Serdes::string(),
    ));
    let g2 = string_stream(&b, "b").group_by(
        |_k, v| v.map(|v| v[..1].to_string()),
        streams::dsl::Grouped::with(Serdes::string(), Serdes::string()),
    );
    g1.cogroup(|_k, v, agg: &String| format!("{agg}+a{v}"))
        .cogroup(&g2, |_k, v, agg| format!("{agg}+b{v}"))
        .aggregate(
            String::new,
            Materialized::with(Serdes::string(), Serdes::string()),
        )
        .to_stream()
        .to("output", Produced::with(Serdes::string(), Serdes::string()));
    let t = b.build().unwrap();
    assert_eq!(
        t.describe().to_string(),
        "Topologies:
   Sub-topology: 0
    Source: COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition-source (topics: [COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition])
      --> COGROUPKSTREAM-AGGREGATE-0000000008
    Source: KSTREAM-SOURCE-0000000000 (topics: [a])
      --> COGROUPKSTREAM-AGGREGATE-0000000007
    Processor: COGROUPKSTREAM-AGGREGATE-0000000007 (stores: [COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003])
      --> COGROUPKSTREAM-MERGE-0000000009
      <-- KSTREAM-SOURCE-0000000000
    Processor: COGROUPKSTREAM-AGGREGATE-0000000008 (stores: [COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003])
      --> COGROUPKSTREAM-MERGE-0000000009
      <-- COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition-source
    Processor: COGROUPKSTREAM-MERGE-0000000009 (stores: [])
      --> KTABLE-TOSTREAM-0000000010
      <-- COGROUPKSTREAM-AGGREGATE-0000000007, COGROUPKSTREAM-AGGREGATE-0000000008
    Processor: KTABLE-TOSTREAM-0000000010 (stores: [])
      --> KSTREAM-SINK-0000000011
      <-- COGROUPKSTREAM-MERGE-0000000009
    Sink: KSTREAM-SINK-0000000011 (topic: output)
      <-- KTABLE-TOSTREAM-0000000010

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000001 (topics: [b])
      --> KSTREAM-KEY-SELECT-0000000002
    Processor: KSTREAM-KEY-SELECT-0000000002 (stores: [])
      --> COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition-filter
      <-- KSTREAM-SOURCE-0000000001
    Processor: COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition-filter (stores: [])
      --> COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition-sink
      <-- KSTREAM-KEY-SELECT-0000000002
    Sink: COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition-sink (topic: COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition)
      <-- COGROUPKSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition-filter

"
    );
    assert_eq!(
        run(
            &b,
            &[
                ("a", Some("k"), Some("1"), 5),
                ("b", Some("x"), Some("k2"), 3),
                ("a", None, Some("n"), 6),
                ("a", Some("k"), None, 7),
                ("b", Some("y"), Some("m9"), 8),
                ("a", Some("m"), Some("4"), 2),
                ("b", Some("z"), None, 9),
                ("a", Some("k"), Some("5"), 10),
            ]
        ),
        out(&[
            (Some("k"), Some("+a1"), 5),
            (Some("k"), Some("+a1+bk2"), 5),
            (Some("m"), Some("+bm9"), 8),
            (Some("m"), Some("+bm9+a4"), 8),
            (Some("k"), Some("+a1+bk2+a5"), 10),
        ])
    );
}

#[test]
fn self_join_matches_java() {
    let b = StreamsBuilder::new();
    let l = string_stream(&b, "left");
    let w = JoinWindows::of_time_difference_with_no_grace(Duration::from_millis(10)).unwrap();
    l.left_join(
        &l,
        |a, b| j(Some(a), b),
        w,
        StreamJoined::with(Serdes::string(), Serdes::string(), Serdes::string()),
    )
    .to("output", Produced::with(Serdes::string(), Serdes::string()));
    assert!(b.build().unwrap().describe().to_string().contains(
        "    Source: KSTREAM-SOURCE-0000000000 (topics: [left])
      --> KSTREAM-WINDOWED-0000000001, KSTREAM-WINDOWED-0000000002
"
    ));
    // Each record meets itself (its other-side copy is stored before the
    // right side probes) and the earlier records in the window.
    assert_eq!(
        run(
            &b,
            &[
                ("left", Some("A"), Some("a1"), 1),
                ("left", Some("A"), Some("a2"), 5),
                ("left", Some("B"), Some("b1"), 6),
                ("left", Some("A"), Some("a3"), 30),
            ]
        ),
        out(&[
            (Some("A"), Some("a1|a1"), 1),
            (Some("A"), Some("a2|a1"), 5),
            (Some("A"), Some("a1|a2"), 5),
            (Some("A"), Some("a2|a2"), 5),
            (Some("B"), Some("b1|b1"), 6),
            (Some("A"), Some("a3|a3"), 30),
        ])
    );
}

#[test]
fn fk_join_named_describe_matches_java() {
    let b = StreamsBuilder::new();
    let l = string_table(&b, "left");
    let r = string_table(&b, "right");
    l.join_on_foreign_key_with(
        &r,
        |v: &String| v.split(':').next().map(str::to_owned),
        |a, b| j(Some(a), Some(b)),
        streams::dsl::TableJoined::as_("fkj"),
        Materialized::as_("fkstore").with_value_serde(Serdes::string()),
    )
    .to_stream()
    .to("out", Produced::with(Serdes::string(), Serdes::string()));
    assert_eq!(b.build().unwrap().describe().to_string(), FK_NAMED_DESCRIBE);
}

/// Java's `describe()` of the named FK join above.
const FK_NAMED_DESCRIBE: &str = "Topologies:
   Sub-topology: 0
    Source: fkj-subscription-response-source (topics: [fkj-subscription-response-topic])
      --> fkj-subscription-response-resolver
    Source: KSTREAM-SOURCE-0000000001 (topics: [left])
      --> KTABLE-SOURCE-0000000002
    Processor: fkj-subscription-response-resolver (stores: [left-STATE-STORE-0000000000])
      --> fkj-result
      <-- fkj-subscription-response-source
    Processor: KTABLE-SOURCE-0000000002 (stores: [left-STATE-STORE-0000000000])
      --> fkj-subscription-registration-processor
      <-- KSTREAM-SOURCE-0000000001
    Processor: fkj-result (stores: [fkstore])
      --> KTABLE-TOSTREAM-0000000019
      <-- fkj-subscription-response-resolver
    Processor: KTABLE-TOSTREAM-0000000019 (stores: [])
      --> KSTREAM-SINK-0000000020
      <-- fkj-result
    Processor: fkj-subscription-registration-processor (stores: [])
      --> fkj-subscription-registration-sink
      <-- KTABLE-SOURCE-0000000002
    Sink: KSTREAM-SINK-0000000020 (topic: out)
      <-- KTABLE-TOSTREAM-0000000019
    Sink: fkj-subscription-registration-sink (topic: fkj-subscription-registration-topic)
      <-- fkj-subscription-registration-processor

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000004 (topics: [right])
      --> KTABLE-SOURCE-0000000005
    Source: fkj-subscription-registration-source (topics: [fkj-subscription-registration-topic])
      --> fkj-subscription-receive
    Processor: KTABLE-SOURCE-0000000005 (stores: [right-STATE-STORE-0000000003])
      --> fkj-foreign-join-subscription
      <-- KSTREAM-SOURCE-0000000004
    Processor: fkj-subscription-receive (stores: [fkj-subscription-store])
      --> fkj-subscription-join-foreign
      <-- fkj-subscription-registration-source
    Processor: fkj-foreign-join-subscription (stores: [fkj-subscription-store])
      --> fkj-subscription-response-sink
      <-- KTABLE-SOURCE-0000000005
    Processor: fkj-subscription-join-foreign (stores: [right-STATE-STORE-0000000003])
      --> fkj-subscription-response-sink
      <-- fkj-subscription-receive
    Sink: fkj-subscription-response-sink (topic: fkj-subscription-response-topic)
      <-- fkj-subscription-join-foreign, fkj-foreign-join-subscription

";
