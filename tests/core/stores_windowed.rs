//! The window and session stores of windowed counts, read through the test
//! driver (`get_window_store`, `get_timestamped_window_store`,
//! `get_session_store`) on RocksDB and in memory, with and without caching,
//! pinned to what Kafka Streams 4.3.1 returns for the same reads
//! (`stores_windowed_java.rs`).
//!
//! Each case runs one input through
//! `stream("input").groupByKey().windowedBy(<windows>).count(Materialized.as("store")
//! .withStoreType(<store>)[.withCachingDisabled()]).toStream().to("output")`, with,
//! in units of `scale` ms: tumbling `TimeWindows.ofSizeAndGrace(100, 50)`,
//! hopping the same `.advanceBy(30)`, sliding
//! `SlidingWindows.ofTimeDifferenceAndGrace(50, 30)`, session
//! `SessionWindows.ofInactivityGapAndGrace(30, 20)`. Then it renders the
//! output topic, the dropped-records count and a fixed list of store reads
//! (forward and backward, single key, key range, time range, everything).
//!
//! What this pins, beyond the output:
//! * multi-key order: RocksDB lists by segment, then key bytes, then window
//!   start; in memory by window start first (sessions: by end);
//! * the `big` input spans 5 segments of 60 s and moves stream time far
//!   enough that RocksDB drops whole segments; reads never return windows
//!   past the retention period, from either store;
//! * with caching, reads still see windows (and sessions) the store below
//!   has expired, because the cache keeps them after a commit, as Kafka
//!   Streams' cache does; for sessions this even changes the output: in
//!   `big`, a@200000 merges with the cached, expired [185000,185000].

use streams::dsl::{Materialized, StoreType, StreamsBuilder};
use streams::serde::Serdes;
use streams::testing::TopologyTestDriver;
use streams::window::{SessionWindows, SlidingWindows, TimeWindows, Windowed};

use super::stores_windowed_java::JAVA;
use super::windows::{
    In, SESSION, STORE_TYPES, WINDOWED, grouped_input, ms, session_key_serde, time_key_serde,
};
use super::{config, rec, s};

/// The multi-segment input (`scale` 1000): keys `a`, `aa`, `b`, late and
/// too-late records, and a null key.
const BIG: &[In] = &[
    (Some("a"), Some("v"), 1000),
    (Some("b"), Some("v"), 5000),
    (Some("aa"), Some("v"), 12000),
    (Some("a"), Some("v"), 25000),
    (Some("b"), Some("v"), 59000),
    (Some("a"), Some("v"), 61000),
    (Some("aa"), Some("v"), 65000),
    (Some("b"), Some("v"), 70000),
    (Some("a"), Some("v"), 119000),
    (Some("b"), Some("v"), 121000),
    (Some("aa"), Some("v"), 125000),
    (Some("a"), Some("v"), 100000),
    (Some("b"), Some("v"), 30000),
    (Some("a"), Some("v"), 185000),
    (Some("aa"), Some("v"), 183000),
    (Some("b"), Some("v"), 240000),
    (Some("a"), Some("v"), 238000),
    (Some("aa"), Some("v"), 236000),
    (Some("a"), Some("v"), 200000),
    (None, Some("v"), 239000),
];

#[derive(Clone, Copy, PartialEq)]
enum Windowing {
    Tumbling,
    Hopping,
    Sliding,
    Session,
}

impl Windowing {
    const ALL: [Windowing; 4] = [
        Windowing::Tumbling,
        Windowing::Hopping,
        Windowing::Sliding,
        Windowing::Session,
    ];

    fn name(self) -> &'static str {
        match self {
            Windowing::Tumbling => "tumbling",
            Windowing::Hopping => "hopping",
            Windowing::Sliding => "sliding",
            Windowing::Session => "session",
        }
    }
}

struct Case {
    /// `small` (the java-ref samples, scale 1) or `big` (scale 1000).
    input: &'static str,
    windowing: Windowing,
    store: StoreType,
    caching: bool,
}

impl Case {
    fn title(&self) -> String {
        let store = match self.store {
            StoreType::RocksDb => "rocksdb",
            StoreType::InMemory => "inmemory",
        };
        format!(
            "=== {} {} {store} caching={}",
            self.input,
            self.windowing.name(),
            self.caching
        )
    }

    fn records(&self) -> &'static [In] {
        match (self.input, self.windowing) {
            ("big", _) => BIG,
            (_, Windowing::Session) => SESSION,
            _ => WINDOWED,
        }
    }

    fn scale(&self) -> i64 {
        if self.input == "big" { 1000 } else { 1 }
    }

    fn keys(&self) -> Vec<String> {
        if self.input == "big" {
            vec![s("a"), s("aa"), s("b")]
        } else {
            vec![s("A"), s("B")]
        }
    }
}

/// Every case, in the order of `JAVA`.
fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for input in ["small", "big"] {
        for windowing in Windowing::ALL {
            for store in STORE_TYPES {
                for caching in [true, false] {
                    out.push(Case {
                        input,
                        windowing,
                        store,
                        caching,
                    });
                }
            }
        }
    }
    out
}

fn key(k: &Windowed<String>) -> String {
    format!("{}@{}/{}", k.key, k.window.start(), k.window.end())
}

fn join<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    items.iter().map(f).collect::<Vec<_>>().join(" ")
}

fn windows(items: &[(Windowed<String>, i64)]) -> String {
    join(items, |(k, v)| format!("{}={v}", key(k)))
}

/// Builds and runs `case` and renders what Java's program prints.
fn render(case: &Case) -> Vec<String> {
    let u = case.scale() as u64;
    let b = StreamsBuilder::new();
    let grouped = grouped_input(&b);
    let mut materialized = Materialized::as_("store").with_store_type(case.store);
    if !case.caching {
        materialized = materialized.with_caching_disabled();
    }
    let time = TimeWindows::of_size_and_grace(ms(100 * u), ms(50 * u)).unwrap();
    let (table, key_serde) = match case.windowing {
        Windowing::Tumbling => (
            grouped.windowed_by_time(time).count(materialized),
            time_key_serde(100 * case.scale()),
        ),
        Windowing::Hopping => (
            grouped
                .windowed_by_time(time.advance_by(ms(30 * u)).unwrap())
                .count(materialized),
            time_key_serde(100 * case.scale()),
        ),
        Windowing::Sliding => (
            grouped
                .windowed_by_sliding(
                    SlidingWindows::of_time_difference_and_grace(ms(50 * u), ms(30 * u)).unwrap(),
                )
                .count(materialized),
            time_key_serde(50 * case.scale()),
        ),
        Windowing::Session => (
            grouped
                .windowed_by_session(
                    SessionWindows::of_inactivity_gap_and_grace(ms(30 * u), ms(20 * u)).unwrap(),
                )
                .count(materialized),
            session_key_serde(),
        ),
    };
    table.to_stream().to(
        "output",
        streams::dsl::Produced::with(key_serde.clone(), Serdes::i64()),
    );
    let d = TopologyTestDriver::with_wall_clock(b.build().unwrap(), config(), 0).unwrap();
    let mut input = d.create_input_topic("input", Serdes::string(), Serdes::string());
    for (k, v, ts) in case.records() {
        input.pipe_record(rec(k.map(s), v.map(s), *ts)).unwrap();
    }
    let output = d
        .create_output_topic("output", key_serde, Serdes::i64())
        .read_records_to_list()
        .unwrap();
    let mut lines = vec![
        format!(
            "output: {}",
            join(&output, |r| format!(
                "{}={}@{}",
                key(r.key.as_ref().unwrap()),
                r.value.map_or(s("null"), |v| v.to_string()),
                r.timestamp
            ))
        ),
        format!("dropped-records-total: {}", d.metrics().dropped_records),
    ];
    let keys = case.keys();
    let (first, last) = (&keys[0], &keys[keys.len() - 1]);
    let scale = case.scale();
    if case.windowing == Windowing::Session {
        let st = d.get_session_store::<String, i64>("store").unwrap();
        for k in &keys {
            lines.push(format!("fetch({k}): {}", windows(&st.fetch(k).unwrap())));
            lines.push(format!(
                "backwardFetch({k}): {}",
                windows(&st.backward_fetch(k).unwrap())
            ));
            lines.push(format!(
                "findSessions({k},60,100): {}",
                windows(&st.find_sessions(k, 60 * scale, 100 * scale).unwrap())
            ));
            lines.push(format!(
                "backwardFindSessions({k},60,100): {}",
                windows(
                    &st.backward_find_sessions(k, 60 * scale, 100 * scale)
                        .unwrap()
                )
            ));
        }
        lines.push(format!(
            "fetch({first},{last}): {}",
            windows(&st.fetch_key_range(Some(first), Some(last)).unwrap())
        ));
        lines.push(format!(
            "backwardFetch({first},{last}): {}",
            windows(
                &st.backward_fetch_key_range(Some(first), Some(last))
                    .unwrap()
            )
        ));
        lines.push(format!(
            "findSessions(null,null,0,200): {}",
            windows(&st.find_sessions_range(None, None, 0, 200 * scale).unwrap())
        ));
    } else {
        let st = d.get_window_store::<String, i64>("store").unwrap();
        let ts = d
            .get_timestamped_window_store::<String, i64>("store")
            .unwrap();
        let max = i64::MAX;
        lines.push(format!("all: {}", windows(&st.all().unwrap())));
        lines.push(format!(
            "backwardAll: {}",
            windows(&st.backward_all().unwrap())
        ));
        lines.push(format!(
            "timestampedAll: {}",
            join(&ts.all().unwrap(), |(k, v)| format!(
                "{}={}@{}",
                key(k),
                v.value,
                v.timestamp
            ))
        ));
        lines.push(format!(
            "fetchAll(0,max): {}",
            windows(&st.fetch_all(0, max).unwrap())
        ));
        lines.push(format!(
            "backwardFetchAll(0,max): {}",
            windows(&st.backward_fetch_all(0, max).unwrap())
        ));
        lines.push(format!(
            "fetchAll(60,130): {}",
            windows(&st.fetch_all(60 * scale, 130 * scale).unwrap())
        ));
        for k in &keys {
            let starts = |v: Vec<(i64, i64)>| join(&v, |(start, v)| format!("{start}={v}"));
            lines.push(format!(
                "fetch({k},0,max): {}",
                starts(st.fetch_range(k, 0, max).unwrap())
            ));
            lines.push(format!(
                "backwardFetch({k},0,max): {}",
                starts(st.backward_fetch_range(k, 0, max).unwrap())
            ));
        }
        lines.push(format!(
            "fetch({first},{last},0,max): {}",
            windows(&st.fetch_key_range(Some(first), Some(last), 0, max).unwrap())
        ));
        lines.push(format!(
            "backwardFetch({first},{last},0,max): {}",
            windows(
                &st.backward_fetch_key_range(Some(first), Some(last), 0, max)
                    .unwrap()
            )
        ));
    }
    lines
}

/// `JAVA` split into its sections: title -> lines.
///
/// One read fails in Java: `backwardFindSessions` on a cached RocksDB
/// session store whose range spans several segments throws
/// `IllegalStateException: Error iterating over segments: segment interval
/// has changed` (a Kafka Streams bug in `CachingSessionStore`'s backward
/// cache iterator; the uncached and in-memory stores answer). We answer it;
/// the expected answer is the forward read (the line before) reversed.
fn java_sections() -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in JAVA.lines().filter(|l| !l.is_empty()) {
        if line.starts_with("=== ") {
            out.push((line.to_string(), Vec::new()));
        } else if let Some((_, lines)) = out.last_mut() {
            let line = match line.split_once(": ERROR IllegalStateException") {
                Some((label, _)) if label.starts_with("backwardFindSessions(") => {
                    let forward = lines
                        .last()
                        .expect("a forward read before the backward one");
                    let (_, entries) = forward.split_once(": ").unwrap_or_default();
                    let reversed: Vec<&str> = entries.split(' ').rev().collect();
                    format!("{label}: {}", reversed.join(" "))
                }
                _ => line.to_string(),
            };
            lines.push(line);
        }
    }
    out
}

#[test]
fn windowed_store_reads_match_java_on_rocksdb_and_in_memory() {
    let java = java_sections();
    let cases = cases();
    assert_eq!(
        java.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(),
        cases.iter().map(Case::title).collect::<Vec<_>>(),
        "the cases and Java's sections must line up"
    );
    let mut failures = Vec::new();
    for (case, (title, expected)) in cases.iter().zip(&java) {
        let actual = render(case);
        if &actual != expected {
            let at = actual
                .iter()
                .zip(expected)
                .position(|(a, e)| a != e)
                .unwrap_or(actual.len().min(expected.len()));
            failures.push(format!(
                "{title}\n  java: {}\n  rust: {}",
                expected.get(at).map_or("<nothing>", String::as_str),
                actual.get(at).map_or("<nothing>", String::as_str)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Java:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
