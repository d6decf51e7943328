//! The record context of what a cache writes down: each entry goes on with
//! the context of the record that last wrote it (topic, partition, offset
//! and headers), not of the record whose processing evicted it, as Kafka
//! Streams' cache entries keep theirs.
//!
//! The test driver commits (and so flushes the caches) after every record,
//! so the eviction tests run the task with `RawTaskRunner`, which commits
//! only when asked: a cache budget of two entries makes the third record
//! evict.

use std::sync::{Arc, Mutex};

use streams::config::{STATESTORE_CACHE_MAX_BYTES, StreamsConfig};
use streams::dsl::{KTable, Materialized, Produced, StoreType, StreamsBuilder};
use streams::error::StreamsError;
use streams::processor::{Headers, Processor, ProcessorContext, Record};
use streams::serde::{SerdeRef, Serdes};
use streams::testing::{RawTaskRunner, TestRecord, TopologyTestDriver};
use streams::window::{SessionWindows, TimeWindows, Windowed};

use super::windows::{STORE_TYPES, grouped_input, ms, session_key_serde, time_key_serde};
use super::{config, s};

/// What the probe saw: key, window start, count (`None`: a tombstone), and
/// the source offset of the record context it was forwarded with.
type Seen = (String, i64, Option<i64>, Option<i64>);

/// Notes every record with its context; forwards nothing.
struct Probe(Arc<Mutex<Vec<Seen>>>);

impl Processor<Windowed<String>, i64, String, i64> for Probe {
    fn process(
        &mut self,
        record: Record<Windowed<String>, i64>,
        ctx: &mut ProcessorContext<'_, String, i64>,
    ) -> Result<(), StreamsError> {
        let key = record.key.expect("windowed keys are never null");
        let offset = ctx.record_metadata().map(|m| {
            assert_eq!((&*m.topic, m.partition), ("input", 0));
            m.offset
        });
        self.0
            .lock()
            .unwrap()
            .push((key.key, key.window.start(), record.value, offset));
        Ok(())
    }
}

fn probe(table: KTable<Windowed<String>, i64>) -> Arc<Mutex<Vec<Seen>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let shared = Arc::clone(&seen);
    table
        .to_stream()
        .process(move || Probe(Arc::clone(&shared)), &[]);
    seen
}

/// Two cached entries fit (each is charged its key, its value and 45 bytes
/// of bookkeeping, 70-74 bytes here); a third evicts.
fn runner(b: &StreamsBuilder) -> RawTaskRunner {
    let config = StreamsConfig::new()
        .set("application.id", "cache-contexts")
        .set(STATESTORE_CACHE_MAX_BYTES, "150");
    RawTaskRunner::new(&b.build().unwrap(), config).unwrap()
}

/// Feeds a@1, b@2, c@3 (offsets 1, 2, 3), takes what was forwarded, then
/// a@4 (offset 4) and a commit.
fn run<T>(runner: &mut RawTaskRunner, seen: &Mutex<Vec<T>>) -> (Vec<T>, Vec<T>) {
    for (key, ts) in [("a", 1), ("b", 2), ("c", 3)] {
        runner
            .process("input", Some(key.as_bytes()), Some(b"v"), ts)
            .unwrap();
    }
    let evicted = std::mem::take(&mut *seen.lock().unwrap());
    runner.process("input", Some(b"a"), Some(b"v"), 4).unwrap();
    runner.commit().unwrap();
    let committed = std::mem::take(&mut *seen.lock().unwrap());
    (evicted, committed)
}

fn seen(key: &str, start: i64, count: Option<i64>, offset: i64) -> Seen {
    (key.to_owned(), start, count, Some(offset))
}

/// Runs `count` (built over the grouped input with each store type) as
/// `run` does, and checks what went on during the third record and at the
/// commit.
fn check(
    count: impl Fn(&StreamsBuilder, StoreType) -> KTable<Windowed<String>, i64>,
    evicted: &[Seen],
    committed: &[Seen],
) {
    for store in STORE_TYPES {
        let b = StreamsBuilder::new();
        let seen = probe(count(&b, store));
        let (got_evicted, got_committed) = run(&mut runner(&b), &seen);
        assert_eq!(got_evicted, evicted, "{store:?}");
        assert_eq!(got_committed, committed, "{store:?}");
    }
}

#[test]
fn a_windowed_count_forwards_evicted_windows_with_the_context_of_their_last_writer() {
    check(
        |b, store| {
            grouped_input(b)
                .windowed_by_time(TimeWindows::of_size_with_no_grace(ms(10)).unwrap())
                .count(Materialized::as_("counts").with_store_type(store))
        },
        // The third record's put evicts a's window, and an eviction writes
        // every dirty entry down, the evicted one first: all three go on
        // while offset 3 is processed, each with its own writer's offset.
        &[
            seen("a", 0, Some(1), 1),
            seen("b", 0, Some(1), 2),
            seen("c", 0, Some(1), 3),
        ],
        // a's second write re-opens its window (evicting the clean b);
        // the commit writes it down with offset 4.
        &[seen("a", 0, Some(2), 4)],
    );
}

#[test]
fn a_session_count_forwards_evicted_sessions_with_the_context_of_their_last_writer() {
    check(
        |b, store| {
            grouped_input(b)
                .windowed_by_session(
                    SessionWindows::of_inactivity_gap_with_no_grace(ms(10)).unwrap(),
                )
                .count(Materialized::as_("sessions").with_store_type(store))
        },
        &[
            seen("a", 1, Some(1), 1),
            seen("b", 2, Some(1), 2),
            seen("c", 3, Some(1), 3),
        ],
        // a@4 merges into a's session [1,1]: the old session is removed and
        // the merged [1,4] written, both by offset 4.
        &[seen("a", 1, None, 4), seen("a", 1, Some(2), 4)],
    );
}

/// What the key-value probe saw: key, count, and the source offset of the
/// record context it was forwarded with.
type KvSeen = (String, Option<i64>, Option<i64>);

struct KvProbe(Arc<Mutex<Vec<KvSeen>>>);

impl Processor<String, i64, String, i64> for KvProbe {
    fn process(
        &mut self,
        record: Record<String, i64>,
        ctx: &mut ProcessorContext<'_, String, i64>,
    ) -> Result<(), StreamsError> {
        let offset = ctx.record_metadata().map(|m| m.offset);
        self.0
            .lock()
            .unwrap()
            .push((record.key.unwrap(), record.value, offset));
        Ok(())
    }
}

#[test]
fn a_count_forwards_evicted_keys_with_the_context_of_their_last_writer() {
    let kv = |key: &str, count: i64, offset: i64| (key.to_owned(), Some(count), Some(offset));
    for store in STORE_TYPES {
        let b = StreamsBuilder::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&seen);
        grouped_input(&b)
            .count(Materialized::as_("counts").with_store_type(store))
            .to_stream()
            .process(move || KvProbe(Arc::clone(&shared)), &[]);
        let (evicted, committed) = run(&mut runner(&b), &seen);
        // As for windows: c's put evicts a, which writes all three down.
        assert_eq!(
            evicted,
            vec![kv("a", 1, 1), kv("b", 1, 2), kv("c", 1, 3)],
            "{store:?}"
        );
        // The commit has no record of its own: a goes on with offset 4.
        assert_eq!(committed, vec![kv("a", 2, 4)], "{store:?}");
    }
}

/// A header naming the input record.
fn header(n: usize) -> Headers {
    let mut h = Headers::new();
    h.add("n", Some(n.to_string().into_bytes()));
    h
}

/// Pipes a@1, b@2, a@3 with headers n=0, n=1, n=2 and returns the keys
/// (`key_name` of each output key), values and headers of `output`.
fn headers_through<K: 'static>(
    b: &StreamsBuilder,
    key_serde: SerdeRef<K>,
    key_name: impl Fn(&K) -> String,
) -> Vec<(String, Option<i64>, Headers)> {
    let d = TopologyTestDriver::with_wall_clock(b.build().unwrap(), config(), 0).unwrap();
    let mut input = d.create_input_topic("input", Serdes::string(), Serdes::string());
    for (n, (key, ts)) in [("a", 1), ("b", 2), ("a", 3)].into_iter().enumerate() {
        let mut record = TestRecord::new(Some(s(key)), Some(s("v")), ts);
        record.headers = header(n);
        input.pipe_record(record).unwrap();
    }
    d.create_output_topic("output", key_serde, Serdes::i64())
        .read_records_to_list()
        .unwrap()
        .into_iter()
        .map(|r| (key_name(&r.key.unwrap()), r.value, r.headers))
        .collect()
}

/// A store named `name` of type `store`, cached or not.
fn materialized<K, V>(name: &str, store: StoreType, cached: bool) -> Materialized<K, V> {
    let m = Materialized::as_(name).with_store_type(store);
    if cached { m } else { m.with_caching_disabled() }
}

#[test]
fn aggregations_forward_the_headers_of_the_record_behind_each_update() {
    let out = |key: &str, count: Option<i64>, n: usize| (s(key), count, header(n));
    let variants = STORE_TYPES
        .into_iter()
        .flat_map(|store| [(store, true), (store, false)]);
    for (store, cached) in variants {
        let m = format!("{store:?}, cached: {cached}");
        let b = StreamsBuilder::new();
        grouped_input(&b)
            .count(materialized("counts", store, cached))
            .to_stream()
            .to("output", Produced::with(Serdes::string(), Serdes::i64()));
        assert_eq!(
            headers_through(&b, Serdes::string(), String::clone),
            vec![
                out("a", Some(1), 0),
                out("b", Some(1), 1),
                out("a", Some(2), 2)
            ],
            "count, {m}"
        );

        let b = StreamsBuilder::new();
        grouped_input(&b)
            .windowed_by_time(TimeWindows::of_size_with_no_grace(ms(10)).unwrap())
            .count(materialized("windows", store, cached))
            .to_stream()
            .to("output", Produced::with(time_key_serde(10), Serdes::i64()));
        let window = |k: &Windowed<String>| format!("{}@{}", k.key, k.window.start());
        assert_eq!(
            headers_through(&b, time_key_serde(10), window),
            vec![
                out("a@0", Some(1), 0),
                out("b@0", Some(1), 1),
                out("a@0", Some(2), 2)
            ],
            "windowed count, {m}"
        );

        let b = StreamsBuilder::new();
        grouped_input(&b)
            .windowed_by_session(SessionWindows::of_inactivity_gap_with_no_grace(ms(10)).unwrap())
            .count(materialized("sessions", store, cached))
            .to_stream()
            .to("output", Produced::with(session_key_serde(), Serdes::i64()));
        // a@3 merges a's session [1,1]: its removal and the merged session
        // both go on with a@3's headers.
        let session =
            |k: &Windowed<String>| format!("{}@{}-{}", k.key, k.window.start(), k.window.end());
        assert_eq!(
            headers_through(&b, session_key_serde(), session),
            vec![
                out("a@1-1", Some(1), 0),
                out("b@2-2", Some(1), 1),
                out("a@1-1", None, 2),
                out("a@1-3", Some(2), 2)
            ],
            "session count, {m}"
        );
    }
}
