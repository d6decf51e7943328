//! Unit tests of the window byte stores and their layers, each run on the
//! in-memory and the RocksDB store.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::*;
use crate::state::rocksdb::RocksDbConfig;
use crate::state::{ChangelogWriter, RecordingChangelog};

fn stores(retention: i64, size: i64, dups: bool) -> Vec<Box<dyn WindowBytesStore>> {
    vec![
        Box::new(InMemoryWindowStore::new("w", retention, size, dups)),
        Box::new(
            RocksDbWindowStore::open(
                "w",
                retention,
                size,
                dups,
                default_segment_interval(retention),
                false,
                &RocksDbConfig::default(),
                None,
            )
            .unwrap(),
        ),
    ]
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

#[test]
fn rocksdb_segments_are_dropped_whole() {
    // retention 150 000 -> segment interval 75 000.
    let mut s = RocksDbWindowStore::open(
        "w",
        150_000,
        10,
        false,
        75_000,
        false,
        &RocksDbConfig::default(),
        None,
    )
    .unwrap();
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
    let (log, writer) = recording();
    let ts = Rc::new(Cell::new(42));
    let inner: Box<dyn WindowBytesStore> =
        Box::new(InMemoryWindowStore::new("w", 1_000, 10, false));
    let mut s = ChangeLoggingWindowBytesStore::new(inner, "app-w-changelog", 3, writer, ts, true);
    let mut value = 7i64.to_be_bytes().to_vec();
    value.extend_from_slice(b"v");
    s.put(b"k", Some(&value), 10).unwrap();
    s.put(b"k", None, 10).unwrap();
    let records = log.borrow().records().to_vec();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].key, window_store_key(b"k", 10, 0));
    assert_eq!(records[0].value.as_deref(), Some(&b"v"[..]));
    assert_eq!(records[0].timestamp, 7);
    assert_eq!(records[0].partition, 3);
    assert_eq!(records[1].value, None);
    assert_eq!(records[1].timestamp, 42);
}

#[test]
fn logging_numbers_duplicates() {
    let (log, writer) = recording();
    let inner: Box<dyn WindowBytesStore> = Box::new(InMemoryWindowStore::new("w", 1_000, 10, true));
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
        vec![window_store_key(b"k", 1, 1), window_store_key(b"k", 1, 2)]
    );
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
    let ts = Rc::new(Cell::new(0));
    let store: Box<dyn WindowBytesStore> =
        Box::new(InMemoryWindowStore::new("w", 1_000, 10, false));
    // Room for about one entry.
    let mut cache = CachingWindowStore::new(store, 80, ts);
    cache.put(b"a", Some(b"1"), 0).unwrap();
    cache.put(b"b", Some(b"2"), 0).unwrap();
    let evicted = cache.take_evicted();
    assert_eq!(
        evicted.iter().map(|e| e.key.clone()).collect::<Vec<_>>(),
        vec![b"a".to_vec(), b"b".to_vec()]
    );
    assert!(cache.take_evicted().is_empty());
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
    let builder = Stores::timestamped_window_store_builder(
        Stores::persistent_window_store("counts", 150, 100, false).unwrap(),
        Serdes::string(),
        Serdes::i64(),
    )
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

#[test]
fn rocksdb_window_store_reopens_its_segments() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        RocksDbWindowStore::open(
            "w",
            150_000,
            10,
            false,
            75_000,
            false,
            &RocksDbConfig::default(),
            Some(dir.path().to_path_buf()),
        )
        .unwrap()
    };
    let mut s = open();
    s.put(b"k", Some(b"a"), 1_000).unwrap();
    s.put(b"k", Some(b"b"), 80_000).unwrap();
    s.flush().unwrap();
    s.close().unwrap();
    drop(s);
    let s = open();
    assert_eq!(s.segment_ids(), vec![0, 1]);
    assert_eq!(s.fetch(b"k", 80_000).unwrap(), Some(b"b".to_vec()));
}
