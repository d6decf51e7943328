//! Unit tests of the window byte stores and their layers, each run on the
//! in-memory and the RocksDB store.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::*;
use crate::state::rocksdb::RocksDbConfig;
use crate::state::{ChangelogWriter, EntryContext, RecordingChangelog};

/// The same store on every implementation: in memory, RocksDB (segmented,
/// key-first within a segment) and RocksDB time-ordered (what
/// emit-on-window-close aggregations use). Every test that takes its stores
/// from here runs on all three.
fn stores(retention: i64, size: i64, dups: bool) -> Vec<Box<dyn WindowBytesStore>> {
    stores_with_interval(retention, size, dups, default_segment_interval(retention))
}

fn stores_with_interval(
    retention: i64,
    size: i64,
    dups: bool,
    segment_interval: i64,
) -> Vec<Box<dyn WindowBytesStore>> {
    let rocks = |time_ordered| -> Box<dyn WindowBytesStore> {
        Box::new(
            RocksDbWindowStore::open(
                "w",
                retention,
                size,
                dups,
                segment_interval,
                time_ordered,
                &RocksDbConfig::default(),
                None,
            )
            .unwrap(),
        )
    };
    vec![
        Box::new(InMemoryWindowStore::new("w", retention, size, dups)),
        rocks(false),
        rocks(true),
    ]
}

/// Which store a test is looking at, for messages and per-store
/// expectations.
fn kind(s: &dyn WindowBytesStore) -> &'static str {
    match (s.persistent(), s.order()) {
        (false, _) => "memory",
        (true, WindowOrder::TimeFirst) => "rocksdb-time-ordered",
        (true, WindowOrder::Segmented { .. }) => "rocksdb",
    }
}

fn starts(entries: &[WindowEntry]) -> Vec<(Vec<u8>, i64, Vec<u8>)> {
    entries
        .iter()
        .map(|e| (e.key.clone(), e.start, e.value.clone()))
        .collect()
}

#[test]
fn fetch_bounds_are_inclusive_and_ordered_by_start() {
    for mut s in stores(1_000, 10, false) {
        s.put(b"k", Some(b"a"), 0).unwrap();
        s.put(b"k", Some(b"b"), 10).unwrap();
        s.put(b"k", Some(b"c"), 20).unwrap();
        s.put(b"j", Some(b"x"), 10).unwrap();
        let got = s.fetch_range(Some(b"k"), Some(b"k"), 10, 20, true).unwrap();
        assert_eq!(
            starts(&got),
            vec![
                (b"k".to_vec(), 10, b"b".to_vec()),
                (b"k".to_vec(), 20, b"c".to_vec())
            ]
        );
        let back = s.fetch_range(Some(b"k"), Some(b"k"), 0, 20, false).unwrap();
        assert_eq!(
            back.iter().map(|e| e.start).collect::<Vec<_>>(),
            vec![20, 10, 0]
        );
        assert_eq!(s.fetch(b"k", 10).unwrap(), Some(b"b".to_vec()));
        s.put(b"k", None, 10).unwrap();
        assert_eq!(s.fetch(b"k", 10).unwrap(), None);
        // An inverted key range is empty, not an error.
        assert!(
            s.fetch_range(Some(b"z"), Some(b"a"), 0, 100, true)
                .unwrap()
                .is_empty()
        );
    }
}

#[test]
fn multi_key_order_depends_on_the_store() {
    let mut memory = InMemoryWindowStore::new("w", 1_000, 10, false);
    let mut rocks = RocksDbWindowStore::open(
        "w",
        1_000,
        10,
        false,
        60_000,
        false,
        &RocksDbConfig::default(),
        None,
    )
    .unwrap();
    for s in [&mut memory as &mut dyn WindowBytesStore, &mut rocks] {
        s.put(b"b", Some(b"1"), 0).unwrap();
        s.put(b"a", Some(b"2"), 10).unwrap();
        s.put(b"b", Some(b"3"), 10).unwrap();
    }
    let order = |s: &dyn WindowBytesStore| -> Vec<(Vec<u8>, i64)> {
        s.fetch_all(0, 100, true)
            .unwrap()
            .into_iter()
            .map(|e| (e.key, e.start))
            .collect()
    };
    // In memory: start first.
    assert_eq!(
        order(&memory),
        vec![(b"b".to_vec(), 0), (b"a".to_vec(), 10), (b"b".to_vec(), 10)]
    );
    // RocksDB: one segment, store-key order (key first).
    assert_eq!(
        order(&rocks),
        vec![(b"a".to_vec(), 10), (b"b".to_vec(), 0), (b"b".to_vec(), 10)]
    );
}

#[test]
fn expired_windows_are_skipped_and_hidden() {
    for mut s in stores(100, 10, false) {
        s.put(b"k", Some(b"old"), 0).unwrap();
        s.put(b"k", Some(b"new"), 150).unwrap();
        // 0 <= 150 - 100: expired for reads in both stores.
        assert_eq!(s.fetch(b"k", 0).unwrap(), None);
        assert!(
            s.fetch_range(Some(b"k"), Some(b"k"), 0, 49, true)
                .unwrap()
                .is_empty()
        );
        // A put of an expired window is skipped.
        s.put(b"k", Some(b"late"), 20).unwrap();
        assert_eq!(s.fetch(b"k", 20).unwrap(), None);
        assert_eq!(
            starts(&s.all(true).unwrap()),
            vec![(b"k".to_vec(), 150, b"new".to_vec())]
        );
    }
}

/// The RocksDB window store "w" (retention 150 000, segments of 75 000), in
/// the state directory `dir` (a temporary one if `None`).
fn store_in(dir: Option<&std::path::Path>) -> RocksDbWindowStore {
    RocksDbWindowStore::open(
        "w",
        150_000,
        10,
        false,
        75_000,
        false,
        &RocksDbConfig::default(),
        dir.map(std::path::Path::to_path_buf),
    )
    .unwrap()
}

#[test]
fn rocksdb_segments_are_dropped_whole() {
    // retention 150 000 -> segment interval 75 000.
    let mut s = store_in(None);
    assert_eq!(s.segment_interval(), 75_000);
    s.put(b"k", Some(b"a"), 1_000).unwrap();
    s.put(b"k", Some(b"b"), 80_000).unwrap();
    assert_eq!(s.segment_ids(), vec![0, 1]);
    // Stream time 200 000: segment_id(200 000 - 150 000) = 0 is still live.
    s.put(b"k", Some(b"c"), 200_000).unwrap();
    assert_eq!(s.segment_ids(), vec![0, 1, 2]);
    // Stream time 230 000: segment 0 (0..75 000) has expired as a whole.
    s.put(b"k", Some(b"d"), 230_000).unwrap();
    assert_eq!(s.segment_ids(), vec![1, 2, 3]);
    // A put into a dropped segment is skipped.
    s.put(b"k", Some(b"e"), 10).unwrap();
    assert_eq!(s.segment_ids(), vec![1, 2, 3]);
}

#[test]
fn duplicates_are_retained_with_sequence_numbers() {
    for mut s in stores(1_000, 10, true) {
        s.put(b"k", Some(b"a"), 5).unwrap();
        s.put(b"k", Some(b"b"), 5).unwrap();
        s.put(b"k", Some(b"c"), 6).unwrap();
        // Deletes are ignored when duplicates are retained.
        s.put(b"k", None, 5).unwrap();
        let got = s.fetch_range(Some(b"k"), Some(b"k"), 0, 10, true).unwrap();
        assert_eq!(
            got.iter()
                .map(|e| (e.start, e.seqnum, e.value.clone()))
                .collect::<Vec<_>>(),
            vec![
                (5, 1, b"a".to_vec()),
                (5, 2, b"b".to_vec()),
                (6, 3, b"c".to_vec())
            ]
        );
    }
}

fn recording() -> (
    Rc<RefCell<RecordingChangelog>>,
    Rc<RefCell<dyn ChangelogWriter>>,
) {
    RecordingChangelog::shared()
}

#[test]
fn logging_writes_store_keys_and_unwraps_timestamps() {
    for inner in stores(1_000, 10, false) {
        let name = kind(inner.as_ref());
        let (log, writer) = recording();
        let ts = Rc::new(Cell::new(42));
        let mut s =
            ChangeLoggingWindowBytesStore::new(inner, "app-w-changelog", 3, writer, ts, true);
        let mut value = 7i64.to_be_bytes().to_vec();
        value.extend_from_slice(b"v");
        s.put(b"k", Some(&value), 10).unwrap();
        assert_eq!(s.fetch(b"k", 10).unwrap(), Some(value.clone()), "{name}");
        s.put(b"k", None, 10).unwrap();
        assert_eq!(s.fetch(b"k", 10).unwrap(), None, "{name}");
        let records = log.borrow().records().to_vec();
        assert_eq!(records.len(), 2, "{name}");
        assert_eq!(records[0].key, window_store_key(b"k", 10, 0), "{name}");
        assert_eq!(records[0].value.as_deref(), Some(&b"v"[..]), "{name}");
        assert_eq!(records[0].timestamp, 7, "{name}");
        assert_eq!(records[0].partition, 3, "{name}");
        assert_eq!(records[1].value, None, "{name}");
        assert_eq!(records[1].timestamp, 42, "{name}");
    }
}

#[test]
fn logging_numbers_duplicates() {
    for inner in stores(1_000, 10, true) {
        let name = kind(inner.as_ref());
        let (log, writer) = recording();
        let mut s =
            ChangeLoggingWindowBytesStore::new(inner, "t", 0, writer, Rc::new(Cell::new(0)), false);
        s.put(b"k", Some(b"a"), 1).unwrap();
        s.put(b"k", Some(b"b"), 1).unwrap();
        let keys: Vec<Vec<u8>> = log
            .borrow()
            .records()
            .iter()
            .map(|r| r.key.clone())
            .collect();
        assert_eq!(
            keys,
            vec![window_store_key(b"k", 1, 1), window_store_key(b"k", 1, 2)],
            "{name}"
        );
        // The store below numbers its entries the same way, so a changelog
        // restores exactly what was stored.
        let got = s.fetch_range(Some(b"k"), Some(b"k"), 0, 10, true).unwrap();
        assert_eq!(
            got.iter().map(|e| e.seqnum).collect::<Vec<_>>(),
            vec![1, 2],
            "{name}"
        );
    }
}

#[test]
fn restore_puts_changelog_records_back() {
    for mut s in stores(1_000, 10, false) {
        s.restore_all(&[
            (window_store_key(b"k", 10, 0), Some(b"a".to_vec()), 10),
            (window_store_key(b"k", 20, 0), Some(b"b".to_vec()), 20),
            (window_store_key(b"k", 10, 0), None, 30),
        ])
        .unwrap();
        assert_eq!(
            starts(&s.all(true).unwrap()),
            vec![(b"k".to_vec(), 20, b"b".to_vec())]
        );
    }
}

#[test]
fn cache_dedups_until_flush_and_skips_deletes_of_absent_windows() {
    for store in stores(1_000, 10, false) {
        let ts = Rc::new(Cell::new(1));
        let mut cache = CachingWindowStore::new(store, 1 << 20, ts.clone());
        cache.put(b"k", Some(b"a"), 0).unwrap();
        ts.set(2);
        cache.put(b"k", Some(b"b"), 0).unwrap();
        cache.put(b"j", Some(b"x"), 10).unwrap();
        // Never written down: a delete of it is skipped.
        cache.put(b"gone", Some(b"x"), 10).unwrap();
        cache.put(b"gone", None, 10).unwrap();
        assert_eq!(cache.fetch(b"k", 0).unwrap(), Some(b"b".to_vec()));
        let flushed = cache.flush_entries().unwrap();
        assert_eq!(
            flushed
                .iter()
                .map(|e| (
                    e.key.clone(),
                    e.start,
                    e.new_value.clone(),
                    e.old_value.clone(),
                    e.timestamp
                ))
                .collect::<Vec<_>>(),
            vec![
                (b"k".to_vec(), 0, Some(b"b".to_vec()), None, 2),
                (b"j".to_vec(), 10, Some(b"x".to_vec()), None, 2)
            ]
        );
        ts.set(3);
        cache.put(b"k", None, 0).unwrap();
        // Reads merge the cache over the store: the cached delete hides k.
        let all: Vec<Vec<u8>> = cache
            .all(true)
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(all, vec![b"j".to_vec()]);
        let flushed = cache.flush_entries().unwrap();
        assert_eq!(flushed.len(), 1);
        assert_eq!(flushed[0].new_value, None);
        assert_eq!(flushed[0].old_value, Some(b"b".to_vec()));
        assert_eq!(flushed[0].timestamp, 3);
        assert!(cache.flush_entries().unwrap().is_empty());
    }
}

#[test]
fn cache_eviction_writes_everything_dirty_down() {
    for store in stores(1_000, 10, false) {
        let name = kind(store.as_ref());
        let ts = Rc::new(Cell::new(0));
        // Room for about one entry.
        let mut cache = CachingWindowStore::new(store, 80, ts);
        cache.put(b"a", Some(b"1"), 0).unwrap();
        cache.put(b"b", Some(b"2"), 0).unwrap();
        let evicted = cache.take_evicted();
        assert_eq!(
            evicted.iter().map(|e| e.key.clone()).collect::<Vec<_>>(),
            vec![b"a".to_vec(), b"b".to_vec()],
            "{name}"
        );
        assert!(cache.take_evicted().is_empty(), "{name}");
        // Both are in the store below now, and still readable.
        assert_eq!(cache.fetch(b"a", 0).unwrap(), Some(b"1".to_vec()), "{name}");
        assert!(cache.flush_entries().unwrap().is_empty(), "{name}");
    }
}

#[test]
fn windowed_changelog_config_adds_a_day_of_retention() {
    let config = windowed_changelog_config(&Default::default(), 150);
    assert_eq!(
        config.get("cleanup.policy").map(String::as_str),
        Some("compact,delete")
    );
    assert_eq!(
        config.get("retention.ms").map(String::as_str),
        Some("86400150")
    );
    let mut user = std::collections::BTreeMap::new();
    user.insert("retention.ms".to_owned(), "5".to_owned());
    assert_eq!(
        windowed_changelog_config(&user, 150)
            .get("retention.ms")
            .map(String::as_str),
        Some("5")
    );
}

#[test]
fn store_factory_exposes_the_changelog_topic_config() {
    use crate::serde::Serdes;
    use crate::state::{StoreContext, StoreFactory, Stores, ValueAndTimestamp};
    for supplier in [
        Stores::persistent_window_store("counts", 150, 100, false).unwrap(),
        Stores::in_memory_window_store("counts", 150, 100, false).unwrap(),
    ] {
        let builder =
            Stores::timestamped_window_store_builder(supplier, Serdes::string(), Serdes::i64())
                .with_caching_enabled();
        assert_eq!(
            builder.changelog_topic("app").as_deref(),
            Some("app-counts-changelog")
        );
        let config = builder.logging_config().unwrap();
        assert_eq!(
            config.get("retention.ms").map(String::as_str),
            Some("86400150")
        );
        let opened = builder.build(&StoreContext::new("app", "0_0", 0)).unwrap();
        let store = opened
            .handle
            .downcast_ref::<TimestampedWindowStore<String, i64>>()
            .unwrap()
            .clone();
        store.put_value(&"k".to_owned(), &5, 99, 0).unwrap();
        assert_eq!(
            store.fetch(&"k".to_owned(), 0).unwrap(),
            Some(ValueAndTimestamp::new(5, 99))
        );
        let flushed = store.flush_cache().unwrap();
        assert_eq!(flushed.len(), 1);
        assert_eq!(flushed[0].key.window.end(), 100);
        // The task restores changelog values (no timestamp prefix) with the
        // record timestamp put back.
        opened
            .managed
            .borrow_mut()
            .restore_batch(&[(
                window_store_key(b"j", 100, 0),
                Some(7i64.to_be_bytes().to_vec()),
                120,
            )])
            .unwrap();
        assert_eq!(
            store.fetch(&"j".to_owned(), 100).unwrap(),
            Some(ValueAndTimestamp::new(7, 120))
        );
    }
}

/// A cache's write-downs wait for an owner to forward them only when the
/// owner asks (a windowed aggregation that forwards from its cache): a
/// Processor API store, plain or timestamped, keeps none, which would pile
/// up for as long as it lives.
#[test]
fn cached_window_stores_keep_write_downs_only_when_told() {
    use crate::serde::Serdes;
    use crate::state::{StoreContext, StoreFactory, Stores};
    // A budget of one byte: every put is evicted, and written down, at once.
    let mut ctx = StoreContext::new("app", "0_0", 0);
    ctx.cache_max_bytes = 1;
    let supplier = || Stores::in_memory_window_store("w", 150, 100, false).unwrap();
    let plain = Stores::window_store_builder(supplier(), Serdes::string(), Serdes::i64())
        .with_caching_enabled()
        .build(&ctx)
        .unwrap()
        .handle_as::<WindowStore<String, i64>>()
        .unwrap();
    for (value, start) in [(1, 0), (2, 100), (3, 0)] {
        plain.put(&"k".to_owned(), Some(&value), start).unwrap();
    }
    assert_eq!(plain.take_evicted_count().unwrap(), 0);
    assert_eq!(
        plain.fetch_range(&"k".to_owned(), 0, 100).unwrap(),
        vec![(0, 3), (100, 2)]
    );

    let timestamped = |reports: Option<bool>| {
        let mut builder =
            Stores::timestamped_window_store_builder(supplier(), Serdes::string(), Serdes::i64())
                .with_caching_enabled();
        if let Some(on) = reports {
            builder = builder.with_cache_reports(on);
        }
        let opened = builder.build(&ctx).unwrap();
        let store = opened
            .handle_as::<TimestampedWindowStore<String, i64>>()
            .unwrap();
        store.put_value(&"k".to_owned(), &1, 7, 0).unwrap();
        store.put_value(&"k".to_owned(), &2, 8, 100).unwrap();
        store
            .take_evicted()
            .unwrap()
            .into_iter()
            .map(|f| (f.key.window.start(), f.new.map(|n| (n.value, n.timestamp))))
            .collect::<Vec<_>>()
    };
    assert_eq!(timestamped(None), vec![]);
    assert_eq!(
        timestamped(Some(true)),
        vec![(0, Some((1, 7))), (100, Some((2, 8)))]
    );
}

/// Expired segments are deleted, and the next segment opened, on the
/// background thread; neither shows in the store, and once it is closed its
/// directory holds exactly its live segments, which a reopen finds.
#[test]
fn rocksdb_segment_directories_are_the_live_segments_once_closed() {
    let dir = tempfile::tempdir().unwrap();
    let open = || store_in(Some(dir.path()));
    let on_disk = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("w").join("rocksdb"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let mut s = open();
    for (value, time) in [
        (b"a", 1_000),
        (b"b", 80_000),
        (b"c", 200_000),
        (b"d", 230_000),
    ] {
        s.put(b"k", Some(value), time).unwrap();
    }
    // Segment 0 expired; segment 4 is being opened ahead, not part of it.
    assert_eq!(s.segment_ids(), vec![1, 2, 3]);
    assert_eq!(s.fetch(b"k", 1_000).unwrap(), None);
    // Stream time jumps past segment 4: segments 1-3 expire, 4 is dropped.
    s.put(b"k", Some(b"e"), 600_000).unwrap();
    assert_eq!(s.segment_ids(), vec![8]);
    assert_eq!(
        starts(&s.all(true).unwrap()),
        vec![(b"k".to_vec(), 600_000, b"e".to_vec())]
    );
    s.flush().unwrap();
    s.close().unwrap();
    assert_eq!(on_disk(), vec!["w.600000".to_owned()]);
    drop(s);
    let s = open();
    assert_eq!(s.segment_ids(), vec![8]);
    assert_eq!(s.fetch(b"k", 600_000).unwrap(), Some(b"e".to_vec()));
    drop(s);
    // Dropped without a close, the store still waits for its background
    // work and removes the segment it opened ahead (9).
    assert_eq!(on_disk(), vec!["w.600000".to_owned()]);
}

#[test]
fn rocksdb_window_store_reopens_its_segments() {
    let dir = tempfile::tempdir().unwrap();
    let open = || store_in(Some(dir.path()));
    let mut s = open();
    s.put(b"k", Some(b"a"), 1_000).unwrap();
    s.put(b"k", Some(b"b"), 80_000).unwrap();
    s.flush().unwrap();
    s.close().unwrap();
    drop(s);
    let s = open();
    assert_eq!(s.segment_ids(), vec![0, 1]);
    // Nothing was written since the reopen: the reads rely on what the
    // previous run left (its newest segment bounds the stored starts).
    assert_eq!(s.fetch(b"k", 80_000).unwrap(), Some(b"b".to_vec()));
    assert_eq!(
        starts(
            &s.fetch_range(Some(b"k"), Some(b"k"), 80_000, 90_000, true)
                .unwrap()
        ),
        vec![(b"k".to_vec(), 80_000, b"b".to_vec())]
    );
}

#[test]
fn reads_of_windows_newer_than_every_write_find_nothing_until_one_comes() {
    // Every write path moves the bound the RocksDB store skips its reads
    // above: put, a batched write-down and a restore batch.
    let key = |start: i64| window_store_key(b"k", start, 0);
    for mut s in stores(10_000, 10, false) {
        let what = kind(s.as_ref());
        assert_eq!(s.fetch(b"k", 100).unwrap(), None, "{what}");
        s.put(b"k", Some(b"a"), 100).unwrap();
        assert_eq!(s.fetch(b"k", 100).unwrap(), Some(b"a".to_vec()), "{what}");
        assert_eq!(s.fetch(b"k", 101).unwrap(), None, "{what}");
        assert!(
            s.fetch_range(None, None, 101, 1_000, true)
                .unwrap()
                .is_empty()
        );

        s.put_all_with_timestamps(&[(&key(200), Some(b"b"), 200)])
            .unwrap();
        assert_eq!(s.fetch(b"k", 200).unwrap(), Some(b"b".to_vec()), "{what}");
        assert_eq!(
            starts(
                &s.fetch_range(Some(b"k"), Some(b"k"), 150, 1_000, true)
                    .unwrap()
            ),
            vec![(b"k".to_vec(), 200, b"b".to_vec())],
            "{what}"
        );

        s.restore_all(&[(key(300), Some(b"c".to_vec()), 300)])
            .unwrap();
        assert_eq!(s.fetch(b"k", 300).unwrap(), Some(b"c".to_vec()), "{what}");
        assert_eq!(
            starts(&s.fetch_all(250, 1_000, true).unwrap()),
            vec![(b"k".to_vec(), 300, b"c".to_vec())],
            "{what}"
        );
    }
}

/// `(key, start)` of each entry.
fn ids(entries: &[WindowEntry]) -> Vec<(String, i64)> {
    entries
        .iter()
        .map(|e| (String::from_utf8(e.key.clone()).unwrap(), e.start))
        .collect()
}

fn sorted_ids(mut ids: Vec<(String, i64)>, order: WindowOrder) -> Vec<(String, i64)> {
    match order {
        WindowOrder::TimeFirst => ids.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0))),
        WindowOrder::Segmented { segment_interval } => ids.sort_by(|a, b| {
            (a.1 / segment_interval, &a.0, a.1).cmp(&(b.1 / segment_interval, &b.0, b.1))
        }),
    }
    ids
}

#[test]
fn forward_and_backward_fetches_agree_on_every_range_and_store() {
    // Segments of 100 ms, so the entries spread over four of them. With
    // duplicates retained, the RocksDB key-first store indexes its
    // memtables by record key: every range must still come back whole.
    for mut s in [false, true]
        .into_iter()
        .flat_map(|dups| stores_with_interval(1_000, 10, dups, 100))
    {
        let name = kind(s.as_ref());
        let order = s.order();
        let puts = [
            ("b", 250),
            ("a", 10),
            ("aa", 10),
            ("b", 10),
            ("a", 120),
            ("aa", 130),
            ("a", 250),
            ("b", 399),
            ("aa", 300),
        ];
        for (k, start) in puts {
            s.put(k.as_bytes(), Some(format!("{k}{start}").as_bytes()), start)
                .unwrap();
        }
        let all_ids: Vec<(String, i64)> = puts.iter().map(|(k, t)| (k.to_string(), *t)).collect();
        let expect = |keep: &dyn Fn(&str, i64) -> bool| {
            sorted_ids(
                all_ids
                    .iter()
                    .filter(|(k, t)| keep(k, *t))
                    .cloned()
                    .collect(),
                order,
            )
        };
        type Range<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, i64, i64);
        let ranges: [Range<'_>; 7] = [
            (Some(b"a"), Some(b"a"), 0, 1_000),
            (Some(b"aa"), Some(b"aa"), 10, 130),
            (Some(b"a"), Some(b"aa"), 0, 1_000),
            (Some(b"aa"), None, 100, 399),
            (None, Some(b"aa"), 0, 250),
            (None, None, 10, 10),
            (None, None, 11, 398),
        ];
        for (from, to, t0, t1) in ranges {
            let keep = |k: &str, t: i64| {
                from.is_none_or(|f| k.as_bytes() >= f)
                    && to.is_none_or(|x| k.as_bytes() <= x)
                    && (t0..=t1).contains(&t)
            };
            let forward = s.fetch_range(from, to, t0, t1, true).unwrap();
            assert_eq!(
                ids(&forward),
                expect(&keep),
                "{name} {from:?}..{to:?} {t0}..{t1}"
            );
            // The values belong to their windows.
            for e in &forward {
                assert_eq!(
                    e.value,
                    format!("{}{}", String::from_utf8_lossy(&e.key), e.start).into_bytes()
                );
            }
            let mut backward = s.fetch_range(from, to, t0, t1, false).unwrap();
            backward.reverse();
            assert_eq!(
                backward, forward,
                "{name} backward {from:?}..{to:?} {t0}..{t1}"
            );
            if from.is_none() && to.is_none() {
                let all_forward = s.fetch_all(t0, t1, true).unwrap();
                assert_eq!(all_forward, forward, "{name} fetch_all {t0}..{t1}");
                let mut all_backward = s.fetch_all(t0, t1, false).unwrap();
                all_backward.reverse();
                assert_eq!(
                    all_backward, forward,
                    "{name} backward fetch_all {t0}..{t1}"
                );
            }
        }
        let all = s.all(true).unwrap();
        assert_eq!(ids(&all), expect(&|_, _| true), "{name} all");
        let mut back = s.all(false).unwrap();
        back.reverse();
        assert_eq!(back, all, "{name} backward all");
    }
}

#[test]
fn one_key_fetches_see_every_write_before_them() {
    // A RocksDB store keeps its one-key scan's iterator between fetches:
    // each fetch must still see the writes made since the previous one,
    // in an existing segment, a new one, and across a flush (which writes
    // SST files only for a store in a state directory).
    let dir = tempfile::tempdir().unwrap();
    let in_dir = Box::new(
        RocksDbWindowStore::open(
            "w",
            1_000,
            10,
            true,
            100,
            false,
            &RocksDbConfig::default(),
            Some(dir.path().to_path_buf()),
        )
        .unwrap(),
    ) as Box<dyn WindowBytesStore>;
    let mut all = stores_with_interval(1_000, 10, true, 100);
    all.push(in_dir);
    for mut s in all {
        let name = kind(s.as_ref());
        let fetch = |s: &dyn WindowBytesStore| -> Vec<(i64, Vec<u8>)> {
            s.fetch_range(Some(b"k"), Some(b"k"), 0, 1_000, true)
                .unwrap()
                .into_iter()
                .map(|e| (e.start, e.value))
                .collect()
        };
        s.put(b"k", Some(b"1"), 10).unwrap();
        assert_eq!(fetch(s.as_ref()), vec![(10, b"1".to_vec())], "{name}");
        s.put(b"k", Some(b"2"), 10).unwrap();
        s.put(b"kk", Some(b"x"), 20).unwrap();
        s.put(b"j", Some(b"y"), 20).unwrap();
        s.put(b"k", Some(b"3"), 150).unwrap();
        let want = vec![
            (10, b"1".to_vec()),
            (10, b"2".to_vec()),
            (150, b"3".to_vec()),
        ];
        assert_eq!(fetch(s.as_ref()), want, "{name}");
        s.flush().unwrap();
        assert_eq!(fetch(s.as_ref()), want, "{name} after a flush");
        s.put(b"k", Some(b"4"), 20).unwrap();
        let got = fetch(s.as_ref());
        assert_eq!(got.len(), 4, "{name}");
        assert_eq!(got[2], (20, b"4".to_vec()), "{name}");
    }
}

#[test]
fn expired_segments_are_dropped_whole_and_every_store_hides_expired_windows() {
    // retention 250, segments of 100: a segment goes once every window it
    // can hold has expired.
    for mut s in stores_with_interval(250, 10, false, 100) {
        let name = kind(s.as_ref());
        s.put(b"k", Some(b"a"), 10).unwrap();
        s.put(b"k", Some(b"b"), 120).unwrap();
        s.put(b"k", Some(b"c"), 150).unwrap();
        s.put(b"k", Some(b"d"), 230).unwrap();
        // Stream time 400: windows at or before 150 have expired.
        s.put(b"j", Some(b"e"), 400).unwrap();
        for (start, live) in [
            (10, false),
            (120, false),
            (150, false),
            (230, true),
            (400, true),
        ] {
            assert_eq!(
                s.fetch(b"k", start).unwrap().is_some() || s.fetch(b"j", start).unwrap().is_some(),
                live,
                "{name} fetch {start}"
            );
        }
        let starts: Vec<i64> = s
            .fetch_range(None, None, 0, i64::MAX, true)
            .unwrap()
            .iter()
            .map(|e| e.start)
            .collect();
        assert_eq!(starts, vec![230, 400], "{name} fetch_range");
        let all: Vec<i64> = s.all(true).unwrap().iter().map(|e| e.start).collect();
        assert_eq!(all, vec![230, 400], "{name} all");
        // Kafka's time-ordered store still lists the window at exactly
        // stream time - retention in fetch_all (what emit-on-close emits
        // next); the others do not.
        let fetch_all: Vec<i64> = s
            .fetch_all(0, i64::MAX, true)
            .unwrap()
            .iter()
            .map(|e| e.start)
            .collect();
        if kind(s.as_ref()) == "rocksdb-time-ordered" {
            assert_eq!(fetch_all, vec![150, 230, 400], "{name} fetch_all");
        } else {
            assert_eq!(fetch_all, vec![230, 400], "{name} fetch_all");
        }
        // A put of an expired window is skipped, even one that would land
        // in a segment still open.
        s.put(b"k", Some(b"late"), 150).unwrap();
        assert_eq!(s.fetch(b"k", 150).unwrap(), None, "{name}");
        assert_eq!(s.all(true).unwrap().len(), 2, "{name}");
        // The first live window.
        s.put(b"k", Some(b"live"), 151).unwrap();
        assert_eq!(
            s.fetch(b"k", 151).unwrap(),
            Some(b"live".to_vec()),
            "{name}"
        );
    }
    // On RocksDB the segments themselves: 0 (0..100) has gone whole, 1
    // (100..200) stays while 150 < its end, though all its windows have
    // expired for reads.
    let mut rocks = RocksDbWindowStore::open(
        "w",
        250,
        10,
        false,
        100,
        false,
        &RocksDbConfig::default(),
        None,
    )
    .unwrap();
    for start in [10, 120, 230] {
        rocks.put(b"k", Some(b"x"), start).unwrap();
    }
    assert_eq!(rocks.segment_ids(), vec![0, 1, 2]);
    rocks.put(b"k", Some(b"x"), 349).unwrap();
    // min live segment = segment_id(349 - 250 = 99) = 0.
    assert_eq!(rocks.segment_ids(), vec![0, 1, 2, 3]);
    rocks.put(b"k", Some(b"x"), 350).unwrap();
    // segment_id(100) = 1: segment 0 is dropped.
    assert_eq!(rocks.segment_ids(), vec![1, 2, 3]);
    rocks.put(b"k", Some(b"x"), 650).unwrap();
    // segment_id(400) = 4: 1, 2, 3 go at once.
    assert_eq!(rocks.segment_ids(), vec![6]);
}

#[test]
fn duplicates_read_backward_by_key_range_and_survive_a_restore() {
    for mut s in stores(1_000, 10, true) {
        let name = kind(s.as_ref());
        s.put(b"a", Some(b"1"), 5).unwrap();
        s.put(b"aa", Some(b"2"), 5).unwrap();
        s.put(b"a", Some(b"3"), 5).unwrap();
        s.put(b"a", Some(b"4"), 7).unwrap();
        let values = |entries: Vec<WindowEntry>| -> Vec<(String, i64, u32, String)> {
            entries
                .into_iter()
                .map(|e| {
                    (
                        String::from_utf8(e.key).unwrap(),
                        e.start,
                        e.seqnum,
                        String::from_utf8(e.value).unwrap(),
                    )
                })
                .collect()
        };
        let a = values(s.fetch_range(Some(b"a"), Some(b"a"), 0, 10, true).unwrap());
        // "aa" shares "a"'s prefix but is another key.
        assert_eq!(
            a,
            vec![
                (s_("a"), 5, 1, s_("1")),
                (s_("a"), 5, 3, s_("3")),
                (s_("a"), 7, 4, s_("4"))
            ],
            "{name}"
        );
        let mut back = values(s.fetch_range(Some(b"a"), Some(b"a"), 0, 10, false).unwrap());
        back.reverse();
        assert_eq!(back, a, "{name} backward");
        let both = values(s.fetch_range(Some(b"a"), Some(b"aa"), 5, 5, true).unwrap());
        assert_eq!(
            both.iter().map(|e| e.3.clone()).collect::<Vec<_>>(),
            vec![s_("1"), s_("3"), s_("2")],
            "{name} key range"
        );
        // A join store's changelog restores every duplicate.
        let log: Vec<TimestampedBytesWrite> = s
            .all(true)
            .unwrap()
            .into_iter()
            .map(|e| {
                (
                    window_store_key(&e.key, e.start, e.seqnum),
                    Some(e.value),
                    e.start,
                )
            })
            .collect();
        let mut fresh = stores(1_000, 10, true)
            .into_iter()
            .find(|f| kind(f.as_ref()) == name)
            .unwrap();
        fresh.restore_all(&log).unwrap();
        let restored: Vec<(String, i64, String)> = values(fresh.all(true).unwrap())
            .into_iter()
            .map(|(k, t, _, v)| (k, t, v))
            .collect();
        let original: Vec<(String, i64, String)> = values(s.all(true).unwrap())
            .into_iter()
            .map(|(k, t, _, v)| (k, t, v))
            .collect();
        assert_eq!(restored, original, "{name} restore");
    }
}

fn s_(x: &str) -> String {
    x.to_owned()
}

#[test]
fn a_closed_store_refuses_reads_and_writes() {
    for mut s in stores(1_000, 10, false) {
        let name = kind(s.as_ref());
        s.put(b"k", Some(b"v"), 0).unwrap();
        s.close().unwrap();
        assert!(
            matches!(s.put(b"k", Some(b"v"), 0), Err(StoreError::Closed(_))),
            "{name}"
        );
        assert!(
            matches!(s.fetch(b"k", 0), Err(StoreError::Closed(_))),
            "{name}"
        );
        assert!(matches!(s.all(true), Err(StoreError::Closed(_))), "{name}");
        assert!(
            matches!(
                s.fetch_range(None, None, 0, 10, true),
                Err(StoreError::Closed(_))
            ),
            "{name}"
        );
    }
}

#[test]
fn an_inverted_range_is_empty_with_or_without_a_cache() {
    for store in stores(1_000, 10, false) {
        let name = kind(store.as_ref());
        let mut cache = CachingWindowStore::new(store, 1 << 20, Rc::new(Cell::new(0)));
        cache.put(b"k", Some(b"v"), 5).unwrap();
        for (from, to) in [
            (Some(&b"k"[..]), Some(&b"k"[..])),
            (None, None),
            (Some(b"z"), Some(b"a")),
        ] {
            for forward in [true, false] {
                assert!(
                    cache
                        .fetch_range(from, to, 10, 5, forward)
                        .unwrap()
                        .is_empty(),
                    "{name} {from:?}..{to:?}"
                );
            }
        }
        assert!(cache.fetch_all(10, 5, true).unwrap().is_empty(), "{name}");
        cache.flush_entries().unwrap();
        assert!(
            cache
                .fetch_range(Some(b"k"), Some(b"k"), 10, 5, true)
                .unwrap()
                .is_empty(),
            "{name}"
        );
        assert_eq!(
            cache
                .fetch_range(Some(b"k"), Some(b"k"), 5, 5, true)
                .unwrap()
                .len(),
            1,
            "{name}"
        );
    }
}

/// A tiny deterministic generator for the randomized tests below.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[test]
fn key_range_upper_bounds_every_key_up_to_the_upper_key() {
    let alphabet = [0u8, 1, 0x7F, 0x80, 0xFF];
    let mut keys: Vec<Vec<u8>> = vec![Vec::new()];
    for len in 1..=3 {
        let mut next = Vec::new();
        for k in keys.iter().filter(|k| k.len() == len - 1) {
            for &b in &alphabet {
                let mut k = k.clone();
                k.push(b);
                next.push(k);
            }
        }
        keys.extend(next);
    }
    for time_to in [0i64, 1, 0x7F, 0x100, 1 << 40, i64::MAX] {
        for key_to in &keys {
            let bound = segmented::key_range_upper(key_to, time_to);
            // The largest `prefix + [time_to][0xFF; 4]` over the prefixes
            // of `key_to`, itself included: the tightest such bound.
            let tightest = (0..=key_to.len())
                .map(|len| {
                    let mut candidate = key_to[..len].to_vec();
                    candidate.extend_from_slice(&time_to.to_be_bytes());
                    candidate.extend_from_slice(&[0xFF; 4]);
                    candidate
                })
                .max();
            assert_eq!(Some(&bound), tightest.as_ref(), "{key_to:?}@{time_to}");
            for k in keys.iter().filter(|k| *k <= key_to) {
                for t in [0, time_to / 2, time_to] {
                    for seq in [0, u32::MAX] {
                        let store_key = window_store_key(k, t, seq);
                        assert!(
                            store_key <= bound,
                            "{k:?}@{t} above the bound of {key_to:?}@{time_to}"
                        );
                    }
                }
            }
        }
    }
    // Fixed-size keys and ordinary times: the upper key itself.
    assert_eq!(
        segmented::key_range_upper(&[0, 0, 0x12, 0x34], 1_700_000_000_000),
        window_store_key(&[0, 0, 0x12, 0x34], 1_700_000_000_000, u32::MAX)
    );
}

/// Every read of a cached store equals the read of the same store written
/// directly, whatever the cache holds, flushes or evicts: keys of several
/// lengths (some prefixes of others, some with zero bytes), several
/// segments, both directions; in caches that keep their write-downs for an
/// owner (whose range reads touch every entry of the byte range, as
/// Kafka's do) and in caches that do not (whose range reads skip the
/// entries outside the windows asked for).
#[test]
fn cached_reads_equal_uncached_reads() {
    let keys: [&[u8]; 9] = [
        b"",
        b"a",
        b"a\0",
        b"a\0\0",
        b"ab",
        b"b",
        &[0, 0, 0, 5],
        &[0, 0, 0, 6],
        &[0, 0, 1],
    ];
    check_cached_reads(&keys, None);
}

/// [`cached_reads_equal_uncached_reads`] with keys of one length, which a
/// segmented store's cache keeps grouped by key (reading a key range's
/// windows in a time range by a binary search per key); then with a key
/// of another length put midway, after which the cache sorts every key in
/// one B-tree.
#[test]
fn cached_reads_of_keys_of_one_length_equal_uncached_reads() {
    let keys: [&[u8]; 6] = [
        &[0, 0, 0, 0],
        &[0, 0, 0, 5],
        &[0, 0, 0, 6],
        &[0, 0, 1, 0],
        &[0x7F, 0xFF, 0xFF, 0xFF],
        &[0xFF, 0, 0, 1],
    ];
    check_cached_reads(&keys, None);
    check_cached_reads(&keys, Some(b"abc"));
}

/// Puts random windows of `keys` (and, from step 300, `late` instead of
/// every tenth key) through a cache and straight into the same store, and
/// checks every kind of read after each put.
fn check_cached_reads(keys: &[&[u8]], late: Option<&[u8]>) {
    for (budget, retained) in [(1 << 20, true), (400, true), (1 << 20, false), (400, false)] {
        let plain = stores_with_interval(1 << 40, 10, false, 7);
        let cached = stores_with_interval(1 << 40, 10, false, 7);
        for (mut plain, store) in plain.into_iter().zip(cached) {
            let name = kind(&*plain);
            let mut rng = Lcg(budget as u64);
            let ts = Rc::new(Cell::new(0));
            let mut cache =
                CachingWindowStore::new(store, budget, ts.clone()).with_retained_reports(retained);
            for step in 0..600 {
                let key = match late {
                    Some(late) if step >= 300 && step % 10 == 0 => late,
                    _ => keys[rng.next(keys.len() as u64) as usize],
                };
                let start = rng.next(60) as i64;
                let value = (rng.next(5) != 0).then(|| vec![b'v'; 1 + rng.next(4) as usize]);
                ts.set(step);
                plain.put(key, value.as_deref(), start).unwrap();
                cache.put(key, value.as_deref(), start).unwrap();
                if rng.next(50) == 0 {
                    cache.flush_entries().unwrap();
                }
                let from = rng.next(70) as i64 - 5;
                let to = from + rng.next(40) as i64;
                let forward = rng.next(2) == 0;
                let (kf, kt) = match rng.next(4) {
                    0 => (Some(key), Some(key)),
                    1 => (None, Some(keys[rng.next(keys.len() as u64) as usize])),
                    2 => (Some(keys[rng.next(keys.len() as u64) as usize]), None),
                    _ => {
                        let a = keys[rng.next(keys.len() as u64) as usize];
                        let b = keys[rng.next(keys.len() as u64) as usize];
                        (Some(a.min(b)), Some(a.max(b)))
                    }
                };
                let want = plain.fetch_range(kf, kt, from, to, forward).unwrap();
                let got = cache.fetch_range(kf, kt, from, to, forward).unwrap();
                // The lending read lists what the fetch lists, in its order
                // (lent straight from the cache while the store below
                // holds nothing of the range), and stops at an error.
                let mut visited = Vec::new();
                cache
                    .visit_range(kf, kt, from, to, forward, &mut |k, start, v| {
                        visited.push((k.to_vec(), start, v.to_vec()));
                        Ok(())
                    })
                    .unwrap();
                assert_eq!(visited, starts(&got), "{name} step {step}: visit");
                let mut calls = 0;
                let stopped = cache.visit_range(kf, kt, from, to, forward, &mut |_, _, _| {
                    calls += 1;
                    Err(StoreError::Closed("stop".to_owned()))
                });
                assert_eq!(
                    (calls, stopped.is_err()),
                    (got.len().min(1), !got.is_empty()),
                    "{name} step {step}: a visit's error ends it"
                );
                if name == "rocksdb-time-ordered" {
                    // Its key reads list segment by segment, which a cached
                    // read re-sorts into the store's order when the cache
                    // has anything in range.
                    let (mut want, mut got) = (want, got);
                    plain.order().sort(&mut want, forward);
                    plain.order().sort(&mut got, forward);
                    assert_eq!(
                        got, want,
                        "{name} step {step}: fetch {kf:?}..{kt:?} {from}..{to}"
                    );
                } else {
                    assert_eq!(
                        got, want,
                        "{name} step {step}: fetch {kf:?}..{kt:?} {from}..{to}"
                    );
                }
                assert_eq!(
                    cache.fetch_all(from, to, forward).unwrap(),
                    plain.fetch_all(from, to, forward).unwrap(),
                    "{name} step {step}: fetch_all {from}..{to}"
                );
                assert_eq!(
                    cache.fetch(key, start).unwrap(),
                    plain.fetch(key, start).unwrap(),
                    "{name} step {step}: fetch"
                );
                if step % 100 == 0 {
                    assert_eq!(cache.all(forward).unwrap(), plain.all(forward).unwrap());
                }
            }
        }
    }
}

/// A write-down reaches the store as one batch, yet reads each entry's old
/// value as if the entries before it had been written one by one: here the
/// first entry expires the window the second one deletes, so that delete
/// finds nothing and is skipped.
#[test]
fn batched_write_down_reads_old_values_after_earlier_expiring_writes() {
    for store in stores_with_interval(100, 10, false, 50) {
        let name = kind(&*store);
        let ts = Rc::new(Cell::new(1));
        let mut cache = CachingWindowStore::new(store, 1 << 20, ts.clone());
        cache.put(b"a", Some(b"1"), 0).unwrap();
        cache.flush_entries().unwrap();
        ts.set(2);
        cache.put(b"b", Some(b"2"), 500).unwrap();
        cache.put(b"a", None, 0).unwrap();
        let flushed = cache.flush_entries().unwrap();
        assert_eq!(
            flushed,
            vec![WindowFlushedEntry {
                key: b"b".to_vec(),
                start: 500,
                new_value: Some(b"2".to_vec()),
                old_value: None,
                timestamp: 2,
                context: EntryContext::default(),
            }],
            "{name}"
        );
    }
}

/// A join's RocksDB store answers one-key fetches of its newest windows
/// from memory (see `recent`): over random writes (out of order, some
/// already expired, duplicates), each one-key fetch, forward and backward,
/// returns what the in-memory store returns, with the index on, with it
/// turned off by its budget, and across a restore that raises its floor.
#[test]
fn one_key_fetches_from_the_index_of_newest_entries_match_the_in_memory_store() {
    let (retention, interval) = (1_000, 500);
    let tiny = RocksDbConfig {
        // A 256-byte index budget: off after a few writes.
        write_buffer_size: 1024,
        ..RocksDbConfig::default()
    };
    let open = |config: &RocksDbConfig| {
        RocksDbWindowStore::open("w", retention, 10, true, interval, false, config, None).unwrap()
    };
    let mut memory = InMemoryWindowStore::new("w", retention, 10, true);
    let mut indexed = open(&RocksDbConfig::default());
    let mut unindexed = open(&tiny);
    assert_eq!(indexed.indexed_from(), Some(i64::MIN + 1));
    let mut restored: Option<RocksDbWindowStore> = None;
    let mut log: Vec<TimestampedBytesWrite> = Vec::new();
    let mut rng = crate::state::tests::xorshift(0x2545_f491_4f6c_dd1d);
    let mut next = |n: u64| rng() % n;
    let mut time = 0i64;
    let (mut from_index, mut from_rocksdb) = (0, 0);
    for step in 0..3_000 {
        // Mostly forward in time, now and then far back (past retention).
        time += next(7) as i64;
        let start = match next(20) {
            0 => time - 1_500 + next(400) as i64,
            1..=4 => time - next(300) as i64,
            _ => time,
        }
        .max(0);
        // Short keys and keys too long for the index to hold inline.
        let key_of = |n: u8| -> Vec<u8> {
            if n.is_multiple_of(2) {
                vec![b'k', n]
            } else {
                let mut long = vec![b'k'; 39];
                long.push(n);
                long
            }
        };
        let key = key_of(next(5) as u8);
        let value = format!("v{step}").into_bytes();
        memory.put(&key, Some(&value), start).unwrap();
        indexed.put(&key, Some(&value), start).unwrap();
        unindexed.put(&key, Some(&value), start).unwrap();
        log.push((window_store_key(&key, start, 0), Some(value.clone()), start));
        if step == 1_500 {
            // A store restored from the first half's records, then written
            // on: its index covers only what is newer than the restore.
            let mut fresh = open(&RocksDbConfig::default());
            let records: Vec<TimestampedBytesWrite> = log
                .iter()
                .enumerate()
                .map(|(seq, (k, v, t))| {
                    let (key, start, _) = split_window_store_key(k).unwrap();
                    (window_store_key(key, start, seq as u32 + 1), v.clone(), *t)
                })
                .collect();
            fresh.restore_all(&records).unwrap();
            let floor = fresh.indexed_from().unwrap();
            assert!(floor > time, "index floor {floor} at time {time}");
            restored = Some(fresh);
        } else if let Some(r) = &mut restored {
            r.put(&key, Some(&value), start).unwrap();
        }
        let probe = key_of(next(5) as u8);
        let probe = probe.as_slice();
        let lo = time - next(1_200) as i64;
        let hi = lo + next(800) as i64;
        for forward in [true, false] {
            let want = memory
                .fetch_range(Some(probe), Some(probe), lo, hi, forward)
                .unwrap();
            let want: Vec<(Vec<u8>, i64, Vec<u8>)> = starts(&want);
            let got = |s: &RocksDbWindowStore| {
                let fetched = starts(
                    &s.fetch_range(Some(probe), Some(probe), lo, hi, forward)
                        .unwrap(),
                );
                // The lending read lists the same entries in the same order.
                let mut visited = Vec::new();
                s.visit_range(
                    Some(probe),
                    Some(probe),
                    lo,
                    hi,
                    forward,
                    &mut |k, start, v| {
                        visited.push((k.to_vec(), start, v.to_vec()));
                        Ok(())
                    },
                )
                .unwrap();
                assert_eq!(visited, fetched, "visited, step {step} {forward}");
                fetched
            };
            assert_eq!(
                got(&indexed),
                want,
                "indexed, step {step} [{lo}, {hi}] {forward}"
            );
            assert_eq!(got(&unindexed), want, "unindexed, step {step}");
            if let Some(r) = &restored {
                // Its own puts number duplicates from 1 again, so within one
                // start they may sort before the restored ones.
                let sorted = |mut v: Vec<(Vec<u8>, i64, Vec<u8>)>| {
                    v.sort();
                    v
                };
                assert_eq!(
                    sorted(got(r)),
                    sorted(want.clone()),
                    "restored, step {step} [{lo}, {hi}] {forward}"
                );
            }
        }
        if step % 97 == 0 {
            // Reads that go to RocksDB see the puts it has not been handed
            // yet (they are batched while the index answers the probes).
            let sorted = |mut v: Vec<(Vec<u8>, i64, Vec<u8>)>| {
                v.sort();
                v
            };
            let want = sorted(starts(&memory.all(true).unwrap()));
            assert_eq!(
                sorted(starts(&indexed.all(true).unwrap())),
                want,
                "all, step {step}"
            );
            let want = sorted(starts(
                &memory
                    .fetch_range(Some(b"k\x01"), Some(b"k\x03"), lo, hi, true)
                    .unwrap(),
            ));
            let got = indexed.fetch_range(Some(b"k\x01"), Some(b"k\x03"), lo, hi, true);
            assert_eq!(
                sorted(starts(&got.unwrap())),
                want,
                "key range, step {step}"
            );
        }
        let from = lo.max(time - retention + 1);
        if indexed.indexed_from().is_some_and(|f| from >= f) {
            from_index += 1;
        } else {
            from_rocksdb += 1;
        }
    }
    assert_eq!(
        unindexed.indexed_from(),
        None,
        "the budget turns the index off"
    );
    assert_eq!(
        indexed.indexed_from(),
        Some(i64::MIN + 1),
        "the default budget holds"
    );
    assert_eq!((from_index, from_rocksdb), (3_000, 0));
}

/// A join side's store (duplicates, retention 1 000, segments of 500) in
/// the state directory `dir`.
fn join_store_in(dir: &std::path::Path) -> RocksDbWindowStore {
    RocksDbWindowStore::open(
        "w",
        1_000,
        10,
        true,
        500,
        false,
        &RocksDbConfig::default(),
        Some(dir.to_path_buf()),
    )
    .unwrap()
}

/// Key `k`'s windows from `from` to 2 000, as (start, value).
fn k_values(s: &RocksDbWindowStore, from: i64, forward: bool) -> Vec<(i64, Vec<u8>)> {
    s.fetch_range(Some(b"k"), Some(b"k"), from, 2_000, forward)
        .unwrap()
        .into_iter()
        .map(|e| (e.start, e.value))
        .collect()
}

/// A store reopened on a state directory may hold windows up to the end of
/// its newest segment: those are read from RocksDB, newer ones from memory.
#[test]
fn a_reopened_store_reads_what_it_held_from_rocksdb() {
    let dir = tempfile::tempdir().unwrap();
    let open = || join_store_in(dir.path());
    let mut s = open();
    s.put(b"k", Some(b"a"), 600).unwrap();
    s.put(b"k", Some(b"b"), 700).unwrap();
    s.close().unwrap();
    let mut s = open();
    // Segment 1 holds [500, 1000): its end bounds what the databases hold.
    assert_eq!(s.indexed_from(), Some(1_000));
    s.put(b"k", Some(b"c"), 1_200).unwrap();
    assert_eq!(
        k_values(&s, 0, true),
        vec![
            (600, b"a".to_vec()),
            (700, b"b".to_vec()),
            (1_200, b"c".to_vec())
        ]
    );
    assert_eq!(
        k_values(&s, 0, false),
        vec![
            (1_200, b"c".to_vec()),
            (700, b"b".to_vec()),
            (600, b"a".to_vec())
        ]
    );
    assert_eq!(k_values(&s, 1_000, true), vec![(1_200, b"c".to_vec())]);
    s.close().unwrap();
}

/// A store whose puts are batched while its index answers one-key fetches
/// hands them to RocksDB before anything else can read them there: a point
/// read, a flush, a close, and a drop without a close.
#[test]
fn batched_puts_reach_rocksdb_before_any_other_read_and_on_close_or_drop() {
    let dir = tempfile::tempdir().unwrap();
    let open = || join_store_in(dir.path());
    let mut s = open();
    s.put(b"k", Some(b"a"), 100).unwrap();
    s.put(b"k", Some(b"b"), 600).unwrap();
    // A point read looks up the latest seqnum's key, the put just made; it
    // reads RocksDB, so it writes the batch first, as the scan below does.
    assert_eq!(s.fetch(b"k", 600).unwrap(), Some(b"b".to_vec()));
    assert_eq!(s.all(true).unwrap().len(), 2);
    s.put(b"k", Some(b"c"), 700).unwrap();
    drop(s);
    // Reopened: the floor is the newest segment's end, so this fetch reads
    // RocksDB, which got the put the drop handed over.
    let mut s = open();
    assert_eq!(s.indexed_from(), Some(1_000));
    assert_eq!(
        k_values(&s, 0, true),
        vec![
            (100, b"a".to_vec()),
            (600, b"b".to_vec()),
            (700, b"c".to_vec())
        ]
    );
    s.put(b"k", Some(b"d"), 800).unwrap();
    s.close().unwrap();
    let s = open();
    assert_eq!(k_values(&s, 750, true), vec![(800, b"d".to_vec())]);
}

/// A window store that counts the reads that reach it.
struct CountingReads {
    inner: Box<dyn WindowBytesStore>,
    reads: Rc<Cell<usize>>,
}

impl StateStore for CountingReads {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn persistent(&self) -> bool {
        self.inner.persistent()
    }
    fn flush(&mut self) -> StoreResult<()> {
        self.inner.flush()
    }
    fn close(&mut self) -> StoreResult<()> {
        self.inner.close()
    }
}

impl WindowBytesStore for CountingReads {
    fn retention_ms(&self) -> i64 {
        self.inner.retention_ms()
    }
    fn window_size_ms(&self) -> i64 {
        self.inner.window_size_ms()
    }
    fn retain_duplicates(&self) -> bool {
        self.inner.retain_duplicates()
    }
    fn order(&self) -> WindowOrder {
        self.inner.order()
    }
    fn stored_upper(&self) -> i64 {
        self.inner.stored_upper()
    }
    fn put(&mut self, key: &[u8], value: Option<&[u8]>, window_start: i64) -> StoreResult<()> {
        self.inner.put(key, value, window_start)
    }
    fn fetch(&self, key: &[u8], window_start: i64) -> StoreResult<Option<Vec<u8>>> {
        self.reads.set(self.reads.get() + 1);
        self.inner.fetch(key, window_start)
    }
    fn fetch_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
        forward: bool,
    ) -> StoreResult<Vec<WindowEntry>> {
        self.reads.set(self.reads.get() + 1);
        self.inner
            .fetch_range(key_from, key_to, time_from, time_to, forward)
    }
    fn fetch_all(
        &self,
        time_from: i64,
        time_to: i64,
        forward: bool,
    ) -> StoreResult<Vec<WindowEntry>> {
        self.reads.set(self.reads.get() + 1);
        self.inner.fetch_all(time_from, time_to, forward)
    }
    fn all(&self, forward: bool) -> StoreResult<Vec<WindowEntry>> {
        self.reads.set(self.reads.get() + 1);
        self.inner.all(forward)
    }
    fn put_all_with_timestamps(&mut self, records: &[WindowWrite<'_>]) -> StoreResult<()> {
        self.inner.put_all_with_timestamps(records)
    }
    fn restore_all(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        self.inner.restore_all(records)
    }
}

/// A cache answers alone the reads of windows that all start after every
/// window the store below may hold outside it: those the store held when
/// the cache was built, evicted ones and restored ones. Reads reaching
/// down from there on find each of the three.
#[test]
fn reads_of_windows_only_the_cache_can_hold_stay_in_the_cache() {
    // Past the segment (of 75 000) whose end bounds the reopened store.
    const B: i64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    // A RocksDB store reopened with what a previous run left in it.
    let mut before = store_in(Some(dir.path()));
    before.put(b"old", Some(b"o"), 5).unwrap();
    before.close().unwrap();
    let mut all = stores(1_000_000, 10, false);
    all.push(Box::new(store_in(Some(dir.path()))));
    for (i, mut store) in all.into_iter().enumerate() {
        let name = format!("{} #{i}", kind(store.as_ref()));
        // Held before the cache was built.
        store.put(b"k", Some(b"a"), B + 50).unwrap();
        let reads = Rc::new(Cell::new(0));
        let counting = CountingReads {
            inner: store,
            reads: Rc::clone(&reads),
        };
        let ts = Rc::new(Cell::new(0));
        // Room for two of these entries, not three.
        let mut cache = CachingWindowStore::new(Box::new(counting), 2 * 70, ts);
        let reads_of = |what: &dyn Fn() -> Vec<(Vec<u8>, i64, Vec<u8>)>| {
            let at = reads.get();
            let found = what();
            (found, reads.get() - at)
        };
        let entries = |r: StoreResult<Vec<WindowEntry>>| starts(&r.unwrap());
        let one = |key: &[u8], start: i64, value: &[u8]| (key.to_vec(), start, value.to_vec());
        let point = |cache: &CachingWindowStore, key: &[u8], start: i64| {
            let found = cache.fetch(key, start).unwrap();
            found.into_iter().map(|v| one(key, start, &v)).collect()
        };

        let held = if i == 3 {
            // The previous run's window, a segment earlier.
            vec![one(b"old", 5, b"o"), one(b"k", B + 50, b"a")]
        } else {
            vec![one(b"k", B + 50, b"a")]
        };
        assert_eq!(
            reads_of(&|| entries(cache.fetch_range(None, None, 0, B + 1_000, true))),
            (held, 1),
            "{name}: the window the store held"
        );
        cache.put(b"k", Some(b"b"), B + 100).unwrap();
        // Written down, and still cached.
        cache.flush_entries().unwrap();
        assert_eq!(
            reads_of(&|| entries(cache.fetch_range(
                Some(b"k"),
                Some(b"k"),
                B + 51,
                B + 1_000,
                true
            ))),
            (vec![one(b"k", B + 100, b"b")], 0),
            "{name}: after every window below"
        );
        assert_eq!(
            reads_of(&|| entries(cache.fetch_all(B + 51, B + 1_000, false))),
            (vec![one(b"k", B + 100, b"b")], 0),
            "{name}"
        );
        assert_eq!(
            reads_of(&|| point(&cache, b"k", B + 60)),
            (vec![], 0),
            "{name}"
        );
        assert_eq!(
            reads_of(&|| point(&cache, b"k", B + 50)),
            (vec![one(b"k", B + 50, b"a")], 1),
            "{name}: at the bound"
        );

        // The third entry evicts the first (the oldest put: k@100).
        cache.put(b"x", Some(b"c"), B + 200).unwrap();
        cache.put(b"y", Some(b"d"), B + 300).unwrap();
        assert!(cache.cached_entries() < 3, "{name}: nothing was evicted");
        assert_eq!(
            reads_of(&|| point(&cache, b"k", B + 100)),
            (vec![one(b"k", B + 100, b"b")], 1),
            "{name}: an evicted window"
        );
        assert_eq!(
            reads_of(&|| entries(cache.fetch_range(None, None, B + 60, B + 1_000, true))),
            (
                vec![
                    one(b"k", B + 100, b"b"),
                    one(b"x", B + 200, b"c"),
                    one(b"y", B + 300, b"d")
                ],
                1
            ),
            "{name}: an evicted window in a range"
        );

        cache
            .restore_all(&[(
                window_store_key(b"r", B + 5_000, 0),
                Some(b"e".to_vec()),
                B + 5_000,
            )])
            .unwrap();
        assert_eq!(
            reads_of(&|| entries(cache.fetch_range(
                Some(b"r"),
                Some(b"r"),
                B + 4_000,
                B + 6_000,
                true
            ))),
            (vec![one(b"r", B + 5_000, b"e")], 1),
            "{name}: a restored window"
        );
        assert_eq!(
            reads_of(&|| entries(cache.fetch_range(None, None, B + 5_001, B + 6_000, true))),
            (vec![], 0),
            "{name}: after the restored window"
        );

        cache.close().unwrap();
        assert!(
            matches!(cache.fetch(b"k", B + 10_000), Err(StoreError::Closed(_))),
            "{name}"
        );
    }
}
