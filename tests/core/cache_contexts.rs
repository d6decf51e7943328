//! The record context of what a window or session cache writes down: each
//! entry goes on with the context (topic, partition, offset) of the record
//! that last wrote it, not of the record whose processing evicted it, as
//! Kafka Streams' cache entries keep theirs.
//!
//! The test driver commits (and so flushes the caches) after every record,
//! so these run the task with `RawTaskRunner`, which commits only when
//! asked: a cache budget of two entries makes the third record evict.

use std::sync::{Arc, Mutex};

use streams::config::{STATESTORE_CACHE_MAX_BYTES, StreamsConfig};
use streams::dsl::{KTable, Materialized, StoreType, StreamsBuilder};
use streams::error::StreamsError;
use streams::processor::{Processor, ProcessorContext, Record};
use streams::testing::RawTaskRunner;
use streams::window::{SessionWindows, TimeWindows, Windowed};

use super::windows::{STORE_TYPES, grouped_input, ms};

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
fn run(runner: &mut RawTaskRunner, seen: &Mutex<Vec<Seen>>) -> (Vec<Seen>, Vec<Seen>) {
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

fn s(key: &str, start: i64, count: Option<i64>, offset: i64) -> Seen {
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
            s("a", 0, Some(1), 1),
            s("b", 0, Some(1), 2),
            s("c", 0, Some(1), 3),
        ],
        // a's second write re-opens its window (evicting the clean b);
        // the commit writes it down with offset 4.
        &[s("a", 0, Some(2), 4)],
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
            s("a", 1, Some(1), 1),
            s("b", 2, Some(1), 2),
            s("c", 3, Some(1), 3),
        ],
        // a@4 merges into a's session [1,1]: the old session is removed and
        // the merged [1,4] written, both by offset 4.
        &[s("a", 1, None, 4), s("a", 1, Some(2), 4)],
    );
}
