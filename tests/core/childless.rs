//! Aggregations with nothing downstream: their caches keep no reports of
//! what they write down (nobody would take them), yet the store and its
//! changelog must end up exactly as when a downstream takes every update.
//!
//! The cache budget (150 bytes, about two entries) makes the hopping count
//! evict while a record is processed (each record updates ten windows); the
//! driver's commit after every record writes the rest down.

use streams::config::{STATESTORE_CACHE_MAX_BYTES, StreamsConfig};
use streams::dsl::{KTable, Materialized, StreamsBuilder};
use streams::serde::Serdes;
use streams::testing::{TestRecord, TopologyTestDriver};
use streams::window::{SessionWindows, TimeWindows};

use super::windows::{STORE_TYPES, grouped_input, ms};

type Changelog = Vec<TestRecord<Vec<u8>, Vec<u8>>>;

/// Keys a, b, c in turn, 5 ms apart, then a late-ish a.
const INPUT: &[(&str, i64)] = &[
    ("a", 0),
    ("b", 5),
    ("c", 10),
    ("a", 15),
    ("b", 20),
    ("c", 25),
    ("a", 30),
    ("a", 31),
    ("b", 200),
    ("a", 12),
];

fn driver(b: &StreamsBuilder) -> TopologyTestDriver {
    let config = StreamsConfig::new()
        .set("application.id", "childless")
        .set(STATESTORE_CACHE_MAX_BYTES, "150");
    TopologyTestDriver::with_wall_clock(b.build().unwrap(), config, 0).unwrap()
}

/// Adds a downstream to `table` when `downstream`.
fn maybe_downstream<K: Clone + PartialEq + 'static>(table: KTable<K, i64>, downstream: bool) {
    if downstream {
        table.to_stream().foreach(|_, _| {});
    }
}

/// Runs `INPUT` through the aggregation `build` makes (with a downstream
/// when its flag is set) and returns the driver and the changelog of
/// `store`.
fn run(
    store: &str,
    downstream: bool,
    build: impl Fn(&StreamsBuilder, bool),
) -> (TopologyTestDriver, Changelog) {
    let b = StreamsBuilder::new();
    build(&b, downstream);
    let d = driver(&b);
    let mut input = d.create_input_topic("input", Serdes::string(), Serdes::string());
    for (key, ts) in INPUT {
        input
            .pipe_input_at(key.to_string(), "v".to_owned(), *ts)
            .unwrap();
    }
    let changelog = d
        .create_output_topic(
            &format!("childless-{store}-changelog"),
            Serdes::bytes(),
            Serdes::bytes(),
        )
        .read_records_to_list()
        .unwrap();
    (d, changelog)
}

/// The same changelog with and without a downstream, and not an empty one.
fn same_changelog(
    store: &str,
    records: usize,
    build: impl Fn(&StreamsBuilder, bool),
) -> TopologyTestDriver {
    let (_, with) = run(store, true, &build);
    let (d, without) = run(store, false, &build);
    assert_eq!(without, with);
    assert_eq!(without.len(), records);
    d
}

#[test]
fn a_count_with_nothing_downstream_writes_the_same_store_and_changelog() {
    for store_type in STORE_TYPES {
        let d = same_changelog("counts", 10, |b, downstream| {
            let counts =
                grouped_input(b).count(Materialized::as_("counts").with_store_type(store_type));
            maybe_downstream(counts, downstream);
        });
        let store = d
            .get_timestamped_key_value_store::<String, i64>("counts")
            .unwrap();
        let all: Vec<(String, i64, i64)> = store
            .all()
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.value, v.timestamp))
            .collect();
        assert_eq!(
            all,
            vec![
                ("a".to_owned(), 5, 31),
                ("b".to_owned(), 3, 200),
                ("c".to_owned(), 2, 25),
            ],
            "{store_type:?}"
        );
    }
}

#[test]
fn a_hopping_count_with_nothing_downstream_writes_the_same_store_and_changelog() {
    for store_type in STORE_TYPES {
        let windows = TimeWindows::of_size_and_grace(ms(100), ms(200))
            .unwrap()
            .advance_by(ms(10))
            .unwrap();
        // One changelog record per window a record updates (the driver
        // commits after each record): windows start at 0 or later, so the
        // records update 1, 1, 2, 2, 3, 3, 4, 4, 10 and 2 windows.
        let d = same_changelog("wcounts", 32, |b, downstream| {
            let counts = grouped_input(b)
                .windowed_by_time(windows)
                .count(Materialized::as_("wcounts").with_store_type(store_type));
            maybe_downstream(counts, downstream);
        });
        let store = d.get_window_store::<String, i64>("wcounts").unwrap();
        let a = store.fetch_range(&"a".to_owned(), -100, 300).unwrap();
        // a at 0, 15, 30, 31 and 12: window [0,100) has all five, [10,110)
        // the four from 12 on, [20,120) and [30,130) the two at 30 and 31.
        assert_eq!(a, vec![(0, 5), (10, 4), (20, 2), (30, 2)], "{store_type:?}");
    }
}

#[test]
fn a_session_count_with_nothing_downstream_writes_the_same_store_and_changelog() {
    for store_type in STORE_TYPES {
        // Seven new sessions, a@31 and a@12 merge (a delete and a put
        // each), b@200 a new one.
        let d = same_changelog("sessions", 12, |b, downstream| {
            let counts = grouped_input(b)
                .windowed_by_session(
                    SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(500)).unwrap(),
                )
                .count(Materialized::as_("sessions").with_store_type(store_type));
            maybe_downstream(counts, downstream);
        });
        let store = d.get_session_store::<String, i64>("sessions").unwrap();
        let a: Vec<(i64, i64, i64)> = store
            .find_sessions(&"a".to_owned(), i64::MIN, i64::MAX)
            .unwrap()
            .into_iter()
            .map(|(w, v)| (w.window.start(), w.window.end(), v))
            .collect();
        // a at 0, 15, 30, 31 then 12 (gap 10): 12 joins [15,15], not
        // [0,0]; 31 joins [30,30].
        assert_eq!(
            a,
            vec![(0, 0, 1), (12, 15, 2), (30, 31, 2)],
            "{store_type:?}"
        );
    }
}
