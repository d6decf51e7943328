//! Behaviour tests of the store layers. Every byte-store behaviour test runs
//! against each implementation and each layer combination, so memory,
//! RocksDB, logging and caching cannot drift apart.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use super::*;
use crate::serde::{Serde, SerdeError, SerdeRef};

// ---------------------------------------------------------------- helpers

/// A fixed-seed xorshift generator for the randomized tests of the stores
/// and their indexes: the same sequence on every run, so that a failure
/// reproduces.
pub(crate) fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

struct Utf8;

impl Serde<String> for Utf8 {
    fn serialize_into(
        &self,
        _topic: &str,
        value: &String,
        out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        out.extend_from_slice(value.as_bytes());
        Ok(())
    }

    fn deserialize(&self, topic: &str, bytes: &[u8]) -> Result<String, SerdeError> {
        String::from_utf8(bytes.to_vec()).map_err(|e| SerdeError::Deserialize {
            type_name: "String",
            topic: topic.to_owned(),
            reason: e.to_string(),
        })
    }
}

struct Be64;

impl Serde<i64> for Be64 {
    fn serialize_into(
        &self,
        _topic: &str,
        value: &i64,
        out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        out.extend_from_slice(&value.to_be_bytes());
        Ok(())
    }

    fn deserialize(&self, topic: &str, bytes: &[u8]) -> Result<i64, SerdeError> {
        let array: [u8; 8] = bytes.try_into().map_err(|_| SerdeError::Deserialize {
            type_name: "i64",
            topic: topic.to_owned(),
            reason: format!("expected 8 bytes, got {}", bytes.len()),
        })?;
        Ok(i64::from_be_bytes(array))
    }
}

/// Refuses to serialize "bad".
struct Picky;

impl Serde<String> for Picky {
    fn serialize_into(
        &self,
        topic: &str,
        value: &String,
        out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        if value == "bad" {
            return Err(SerdeError::Serialize {
                type_name: "String",
                topic: topic.to_owned(),
                reason: "bad value".to_owned(),
            });
        }
        Utf8.serialize_into(topic, value, out)
    }

    fn deserialize(&self, topic: &str, bytes: &[u8]) -> Result<String, SerdeError> {
        Utf8.deserialize(topic, bytes)
    }
}

fn utf8() -> SerdeRef<String> {
    Arc::new(Utf8)
}

fn be64() -> SerdeRef<i64> {
    Arc::new(Be64)
}

fn s(v: &str) -> String {
    v.to_owned()
}

fn b(v: &str) -> Vec<u8> {
    v.as_bytes().to_vec()
}

fn kv(k: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
    (b(k), b(v))
}

fn collect(iter: StoreResult<BytesIter<'_>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    match iter {
        Ok(iter) => iter.collect(),
        Err(e) => panic!("scan failed: {e}"),
    }
}

fn ok<T>(result: StoreResult<T>) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("store operation failed: {e}"),
    }
}

/// A byte store under test; `_dir` keeps a RocksDB directory alive.
struct Subject {
    label: &'static str,
    store: Box<dyn KeyValueBytesStore>,
    _dir: Option<tempfile::TempDir>,
}

fn rocks(name: &str) -> (Box<dyn KeyValueBytesStore>, tempfile::TempDir) {
    let dir = ok(tempfile::tempdir().map_err(|source| StoreError::Io {
        store: name.to_owned(),
        source,
    }));
    let store = ok(RocksDbKeyValueStore::open(
        name,
        dir.path(),
        &RocksDbConfig::default(),
    ));
    (Box::new(store), dir)
}

fn memory(name: &str) -> Box<dyn KeyValueBytesStore> {
    Box::new(InMemoryKeyValueStore::new(name))
}

/// Every implementation and layer combination that must behave as a plain
/// byte store.
fn subjects() -> Vec<Subject> {
    let ts = Rc::new(Cell::new(0));
    let (_, writer) = RecordingChangelog::shared();
    let logged = |inner: Box<dyn KeyValueBytesStore>| {
        Box::new(ChangeLoggingKeyValueBytesStore::new(
            inner,
            "t",
            0,
            writer.clone(),
            ts.clone(),
        )) as Box<dyn KeyValueBytesStore>
    };
    let cached = |inner: Box<dyn KeyValueBytesStore>, budget: usize| {
        Box::new(CachingKeyValueStore::new(inner, budget, ts.clone()))
            as Box<dyn KeyValueBytesStore>
    };
    let (r1, d1) = rocks("s");
    let (r2, d2) = rocks("s");
    let (r3, d3) = rocks("s");
    vec![
        Subject {
            label: "memory",
            store: memory("s"),
            _dir: None,
        },
        Subject {
            label: "rocksdb",
            store: r1,
            _dir: Some(d1),
        },
        Subject {
            label: "logging(memory)",
            store: logged(memory("s")),
            _dir: None,
        },
        Subject {
            label: "logging(rocksdb)",
            store: logged(r2),
            _dir: Some(d2),
        },
        Subject {
            label: "caching(memory)",
            store: cached(memory("s"), 1 << 20),
            _dir: None,
        },
        // A budget of about two entries: constant eviction and write-down.
        Subject {
            label: "caching(memory, tiny)",
            store: cached(memory("s"), 100),
            _dir: None,
        },
        Subject {
            label: "caching(logging(rocksdb))",
            store: cached(logged(r3), 1 << 20),
            _dir: Some(d3),
        },
    ]
}

fn for_each_subject(test: impl Fn(&'static str, &mut dyn KeyValueBytesStore)) {
    for mut subject in subjects() {
        test(subject.label, subject.store.as_mut());
    }
}

fn fill(store: &mut dyn KeyValueBytesStore, keys: &[&str]) {
    for k in keys {
        ok(store.put(k.as_bytes(), Some(format!("v{k}").as_bytes())));
    }
}

// ------------------------------------------------- byte-store behaviour

#[test]
fn put_get_overwrite_and_delete() {
    for_each_subject(|label, store| {
        assert_eq!(ok(store.get(b"a")), None, "{label}");
        ok(store.put(b"a", Some(b"1")));
        assert_eq!(ok(store.get(b"a")), Some(b("1")), "{label}");
        ok(store.put(b"a", Some(b"22")));
        assert_eq!(ok(store.get(b"a")), Some(b("22")), "{label}");
        assert_eq!(ok(store.delete(b"a")), Some(b("22")), "{label}");
        assert_eq!(ok(store.get(b"a")), None, "{label}");
        assert_eq!(ok(store.delete(b"a")), None, "{label}");
        ok(store.put(b"b", Some(b"2")));
        ok(store.put(b"b", None));
        assert_eq!(ok(store.get(b"b")), None, "{label}: a None put deletes");
        ok(store.put(b"e", Some(b"")));
        assert_eq!(
            ok(store.get(b"e")),
            Some(Vec::new()),
            "{label}: empty values are values"
        );
    });
}

/// `get_with` lends what `get` returns, in every layer combination: values,
/// empty values, absent and deleted keys, and (through a cache) keys read
/// from the store below and then from the cache.
#[test]
fn get_with_lends_what_get_returns() {
    fn lent(store: &dyn KeyValueBytesStore, key: &[u8]) -> Vec<Option<Vec<u8>>> {
        let mut seen = Vec::new();
        ok(store.get_with(key, &mut |v| seen.push(v.map(<[u8]>::to_vec))));
        seen
    }
    for_each_subject(|label, store| {
        ok(store.put(b"a", Some(b"1")));
        ok(store.put(b"e", Some(b"")));
        ok(store.put(b"d", Some(b"x")));
        ok(store.put(b"d", None));
        ok(store.flush());
        for key in [&b"a"[..], b"e", b"d", b"missing"] {
            let expected = ok(store.get(key));
            // Twice: a cache fills on the first read and lends the second.
            assert_eq!(lent(store, key), vec![expected.clone()], "{label}");
            assert_eq!(lent(store, key), vec![expected], "{label}");
        }
        assert_eq!(lent(store, b"a"), vec![Some(b("1"))], "{label}");
        assert_eq!(lent(store, b"e"), vec![Some(Vec::new())], "{label}");
        assert_eq!(lent(store, b"d"), vec![None], "{label}");
    });
}

#[test]
fn put_if_absent_keeps_the_existing_value() {
    for_each_subject(|label, store| {
        assert_eq!(ok(store.put_if_absent(b"k", b"first")), None, "{label}");
        assert_eq!(
            ok(store.put_if_absent(b"k", b"second")),
            Some(b("first")),
            "{label}"
        );
        assert_eq!(ok(store.get(b"k")), Some(b("first")), "{label}");
        ok(store.delete(b"k"));
        assert_eq!(ok(store.put_if_absent(b"k", b"third")), None, "{label}");
        assert_eq!(ok(store.get(b"k")), Some(b("third")), "{label}");
    });
}

#[test]
fn put_all_writes_and_deletes() {
    for_each_subject(|label, store| {
        ok(store.put(b"gone", Some(b"x")));
        ok(store.put_all(&[
            (b("a"), Some(b("1"))),
            (b("b"), Some(b("2"))),
            (b("gone"), None),
            (b("a"), Some(b("3"))),
        ]));
        assert_eq!(
            collect(store.all()),
            vec![kv("a", "3"), kv("b", "2")],
            "{label}"
        );
    });
}

#[test]
fn ranges_are_inclusive_at_both_ends() {
    for_each_subject(|label, store| {
        fill(store, &["a", "b", "c", "d", "e"]);
        let keys = |entries: Vec<(Vec<u8>, Vec<u8>)>| {
            entries
                .into_iter()
                .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(collect(store.range(Some(b"b"), Some(b"d")))),
            ["b", "c", "d"],
            "{label}"
        );
        assert_eq!(
            keys(collect(store.reverse_range(Some(b"b"), Some(b"d")))),
            ["d", "c", "b"],
            "{label}"
        );
        assert_eq!(
            keys(collect(store.range(Some(b"bb"), Some(b"dd")))),
            ["c", "d"],
            "{label}"
        );
        assert_eq!(
            keys(collect(store.range(None, Some(b"b")))),
            ["a", "b"],
            "{label}"
        );
        assert_eq!(
            keys(collect(store.range(Some(b"d"), None))),
            ["d", "e"],
            "{label}"
        );
        assert_eq!(
            keys(collect(store.reverse_range(None, Some(b"b")))),
            ["b", "a"],
            "{label}"
        );
        assert_eq!(
            keys(collect(store.reverse_range(Some(b"d"), None))),
            ["e", "d"],
            "{label}"
        );
        assert_eq!(
            keys(collect(store.range(Some(b"c"), Some(b"c")))),
            ["c"],
            "{label}"
        );
        assert_eq!(
            keys(collect(store.range(Some(b"d"), Some(b"b")))),
            Vec::<String>::new(),
            "{label}: from > to"
        );
        assert_eq!(
            keys(collect(store.reverse_range(Some(b"d"), Some(b"b")))),
            Vec::<String>::new(),
            "{label}: from > to"
        );
        assert_eq!(
            keys(collect(store.all())),
            ["a", "b", "c", "d", "e"],
            "{label}"
        );
        assert_eq!(
            keys(collect(store.reverse_all())),
            ["e", "d", "c", "b", "a"],
            "{label}"
        );
        let values: Vec<_> = collect(store.range(Some(b"a"), Some(b"a")));
        assert_eq!(values, vec![kv("a", "va")], "{label}");
    });
}

#[test]
fn keys_order_as_unsigned_bytes() {
    for_each_subject(|label, store| {
        ok(store.put(&[0x80], Some(b"high")));
        ok(store.put(&[0x7F], Some(b"low")));
        ok(store.put(&[0x7F, 0x00], Some(b"low0")));
        let keys: Vec<_> = collect(store.all()).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            vec![vec![0x7F], vec![0x7F, 0x00], vec![0x80]],
            "{label}"
        );
        // `to` = [0x7F] includes [0x7F] but not [0x7F, 0x00].
        let keys: Vec<_> = collect(store.range(None, Some(&[0x7F])))
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, vec![vec![0x7F]], "{label}");
    });
}

#[test]
fn prefix_scans() {
    for_each_subject(|label, store| {
        fill(store, &["a", "ab", "abc", "abd", "ac", "b"]);
        ok(store.put(&[0xFF], Some(b"ff")));
        ok(store.put(&[0xFF, 0x01], Some(b"ff01")));
        ok(store.put(&[0xFE, 0xFF], Some(b"feff")));
        let keys = |prefix: &[u8]| -> Vec<Vec<u8>> {
            collect(store.prefix_scan(prefix))
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        assert_eq!(keys(b"ab"), vec![b("ab"), b("abc"), b("abd")], "{label}");
        assert_eq!(keys(b"abc"), vec![b("abc")], "{label}");
        assert_eq!(keys(b"z"), Vec::<Vec<u8>>::new(), "{label}");
        assert_eq!(keys(&[0xFF]), vec![vec![0xFF], vec![0xFF, 0x01]], "{label}");
        assert_eq!(keys(&[0xFE]), vec![vec![0xFE, 0xFF]], "{label}");
        assert_eq!(
            keys(b"").len(),
            9,
            "{label}: an empty prefix matches everything"
        );
    });
}

#[test]
fn deleted_keys_disappear_from_scans() {
    for_each_subject(|label, store| {
        fill(store, &["a", "b", "c"]);
        ok(store.delete(b"b"));
        assert_eq!(
            collect(store.all()),
            vec![kv("a", "va"), kv("c", "vc")],
            "{label}"
        );
        assert_eq!(
            collect(store.reverse_all()),
            vec![kv("c", "vc"), kv("a", "va")],
            "{label}"
        );
        assert_eq!(collect(store.prefix_scan(b"b")), vec![], "{label}");
    });
}

#[test]
fn flush_keeps_the_data() {
    for_each_subject(|label, store| {
        fill(store, &["a", "b"]);
        ok(store.flush());
        assert_eq!(
            collect(store.all()),
            vec![kv("a", "va"), kv("b", "vb")],
            "{label}"
        );
    });
}

#[test]
fn restore_all_writes_to_the_bottom_store() {
    for_each_subject(|label, store| {
        ok(store.restore_all(&[
            (b("a"), Some(b("1")), 5),
            (b("b"), Some(b("2")), 6),
            (b("a"), None, 7),
        ]));
        assert_eq!(collect(store.all()), vec![kv("b", "2")], "{label}");
    });
}

#[test]
fn approximate_num_entries() {
    let mut memory = InMemoryKeyValueStore::new("s");
    fill(&mut memory, &["a", "b", "c"]);
    assert_eq!(ok(memory.approximate_num_entries()), 3);
    let (mut rocks, _dir) = rocks("s");
    fill(rocks.as_mut(), &["a", "b", "c"]);
    ok(rocks.flush());
    assert_eq!(ok(rocks.approximate_num_entries()), 3);
}

#[test]
fn closed_stores_refuse_operations() {
    let mut memory: Box<dyn KeyValueBytesStore> = memory("m");
    let (mut rocks, _dir) = rocks("r");
    for store in [&mut memory, &mut rocks] {
        ok(store.put(b"a", Some(b"1")));
        ok(store.close());
        assert!(matches!(store.get(b"a"), Err(StoreError::Closed(_))));
        assert!(matches!(
            store.put(b"a", Some(b"1")),
            Err(StoreError::Closed(_))
        ));
        assert!(matches!(
            store.range(None, None),
            Err(StoreError::Closed(_))
        ));
    }
}

// ---------------------------------------------------------------- rocksdb

#[test]
fn rocksdb_layout_and_persistence() {
    let dir = ok(tempfile::tempdir().map_err(|source| StoreError::Io {
        store: s("p"),
        source,
    }));
    {
        let mut store = ok(RocksDbKeyValueStore::open(
            "p",
            dir.path(),
            &RocksDbConfig::default(),
        ));
        assert_eq!(store.dir(), dir.path().join("rocksdb").join("p"));
        assert!(store.persistent());
        ok(store.put_all(&[(b("a"), Some(b("1"))), (b("b"), Some(b("2")))]));
        ok(store.flush());
        ok(store.close());
    }
    let path = super::rocksdb::store_dir(dir.path(), "p");
    assert!(path.join("CURRENT").exists());
    {
        let store = ok(RocksDbKeyValueStore::open(
            "p",
            dir.path(),
            &RocksDbConfig::default(),
        ));
        assert_eq!(collect(store.all()), vec![kv("a", "1"), kv("b", "2")]);
        ok(store.wipe());
    }
    assert!(!path.exists());
    // Destroying a missing directory is fine.
    ok(RocksDbKeyValueStore::destroy(&path));
}

#[test]
fn rocksdb_temporary_store_cleans_up() {
    let store = ok(RocksDbKeyValueStore::open_temporary(
        "tmp",
        &RocksDbConfig::default(),
    ));
    let dir = store.dir().to_path_buf();
    assert!(dir.exists());
    drop(store);
    assert!(!dir.exists());
}

// ---------------------------------------------------------------- logging

fn logged_memory(
    timestamped: bool,
) -> (
    ChangeLoggingKeyValueBytesStore,
    Rc<RefCell<RecordingChangelog>>,
    Rc<Cell<i64>>,
) {
    let (recording, writer) = RecordingChangelog::shared();
    let ts = Rc::new(Cell::new(0));
    let store =
        ChangeLoggingKeyValueBytesStore::new(memory("s"), "app-s-changelog", 3, writer, ts.clone());
    let store = if timestamped {
        store.timestamped()
    } else {
        store
    };
    (store, recording, ts)
}

fn rec(key: &str, value: Option<&[u8]>, timestamp: i64) -> ChangelogRecord {
    ChangelogRecord {
        topic: s("app-s-changelog"),
        partition: 3,
        key: b(key),
        value: value.map(<[u8]>::to_vec),
        timestamp,
    }
}

#[test]
fn logging_sends_each_change() {
    let (mut store, recording, ts) = logged_memory(false);
    ts.set(5);
    ok(store.put(b"a", Some(b"1")));
    ts.set(6);
    ok(store.put(b"a", None));
    ts.set(7);
    assert_eq!(ok(store.put_if_absent(b"b", b"2")), None);
    assert_eq!(ok(store.put_if_absent(b"b", b"3")), Some(b("2")));
    ts.set(8);
    assert_eq!(ok(store.delete(b"b")), Some(b("2")));
    assert_eq!(ok(store.delete(b"never")), None);
    ts.set(9);
    ok(store.put_all(&[(b("c"), Some(b("4"))), (b("d"), None)]));
    ok(store.put_all_with_timestamps(&[(b("e"), Some(b("5")), 100), (b("c"), None, 101)]));
    assert_eq!(
        recording.borrow().records(),
        &[
            rec("a", Some(b"1"), 5),
            rec("a", None, 6),
            rec("b", Some(b"2"), 7),
            rec("b", None, 8),
            rec("never", None, 8),
            rec("c", Some(b"4"), 9),
            rec("d", None, 9),
            rec("e", Some(b"5"), 100),
            rec("c", None, 101),
        ]
    );
    // Restores are never logged.
    ok(store.restore_all(&[(b("z"), Some(b("9")), 1)]));
    assert_eq!(recording.borrow().len(), 9);
    assert_eq!(ok(store.get(b"z")), Some(b("9")));
}

#[test]
fn timestamped_logging_strips_the_timestamp() {
    let (mut store, recording, ts) = logged_memory(true);
    ts.set(50);
    ok(store.put(b"a", Some(&timestamped::timestamped_bytes(42, b"v"))));
    ok(store.put(b"a", None));
    // The store keeps the timestamped bytes; the changelog gets the value
    // with the embedded timestamp as record timestamp.
    assert_eq!(
        recording.borrow().records(),
        &[rec("a", Some(b"v"), 42), rec("a", None, 50)]
    );
    ok(store.put(b"b", Some(&timestamped::timestamped_bytes(7, b"w"))));
    assert_eq!(
        ok(store.get(b"b")),
        Some(vec![0, 0, 0, 0, 0, 0, 0, 7, b'w'])
    );
    assert!(matches!(
        store.put(b"c", Some(b"short")),
        Err(StoreError::InvalidArgument { .. })
    ));
}

// ---------------------------------------------------------------- caching

/// Caching over logging over memory, as the builder stacks them.
fn cached_logged(
    budget: usize,
) -> (
    CachingKeyValueStore,
    Rc<RefCell<RecordingChangelog>>,
    Rc<Cell<i64>>,
) {
    let (recording, writer) = RecordingChangelog::shared();
    let ts = Rc::new(Cell::new(0));
    let logged =
        ChangeLoggingKeyValueBytesStore::new(memory("s"), "app-s-changelog", 3, writer, ts.clone());
    let store = CachingKeyValueStore::new(Box::new(logged), budget, ts.clone());
    (store, recording, ts)
}

fn flushed(key: &str, new: Option<&str>, old: Option<&str>, timestamp: i64) -> FlushedEntry {
    FlushedEntry {
        key: b(key),
        new_value: new.map(b),
        old_value: old.map(b),
        timestamp,
        context: EntryContext::default(),
    }
}

/// What one entry of `key` and `value` costs in the cache.
fn entry_size(key: &str, value: &str) -> usize {
    key.len() + value.len() + cache::ENTRY_OVERHEAD
}

#[test]
fn caching_dedups_writes_until_flush() {
    let (mut store, recording, ts) = cached_logged(1 << 20);
    ts.set(1);
    ok(store.put(b"k", Some(b"first")));
    ts.set(2);
    ok(store.put(b"k", Some(b"second")));
    assert!(
        recording.borrow().is_empty(),
        "nothing reaches the changelog before a flush"
    );
    assert_eq!(ok(store.get(b"k")), Some(b("second")));
    assert_eq!(
        ok(store.flush_entries()),
        vec![flushed("k", Some("second"), None, 2)]
    );
    assert_eq!(
        recording.borrow().records(),
        &[rec("k", Some(b"second"), 2)]
    );
    assert_eq!(
        ok(store.flush_entries()),
        vec![],
        "clean entries are not flushed again"
    );

    ts.set(3);
    ok(store.put(b"k", Some(b"third")));
    ts.set(4);
    ok(store.put(b"k", Some(b"fourth")));
    assert_eq!(
        ok(store.flush_entries()),
        vec![flushed("k", Some("fourth"), Some("second"), 4)],
        "the old value is what the store held before the write, not the intermediate one"
    );
}

#[test]
fn caching_flushes_in_latest_write_order() {
    let (mut store, recording, ts) = cached_logged(1 << 20);
    for (t, key) in [(1, "a"), (2, "b"), (3, "c"), (4, "a")] {
        ts.set(t);
        ok(store.put(key.as_bytes(), Some(format!("{key}{t}").as_bytes())));
    }
    assert_eq!(
        ok(store.flush_entries()),
        vec![
            flushed("b", Some("b2"), None, 2),
            flushed("c", Some("c3"), None, 3),
            flushed("a", Some("a4"), None, 4),
        ]
    );
    let keys: Vec<_> = recording
        .borrow()
        .records()
        .iter()
        .map(|r| r.key.clone())
        .collect();
    assert_eq!(keys, vec![b("b"), b("c"), b("a")]);
}

#[test]
fn caching_deletes() {
    let (mut store, recording, ts) = cached_logged(1 << 20);
    ts.set(1);
    ok(store.put(b"a", Some(b"1")));
    ok(store.flush_entries());
    recording.borrow_mut().clear();

    ts.set(2);
    assert_eq!(ok(store.delete(b"a")), Some(b("1")));
    assert_eq!(
        ok(store.get(b"a")),
        None,
        "a cached delete hides the stored value"
    );
    assert_eq!(ok(store.delete(b"never")), None);
    ts.set(3);
    ok(store.put(b"fresh", Some(b"x")));
    ok(store.put(b"fresh", None));
    // Deletes of keys the store never held are neither written nor reported.
    assert_eq!(
        ok(store.flush_entries()),
        vec![flushed("a", None, Some("1"), 2)]
    );
    assert_eq!(recording.borrow().records(), &[rec("a", None, 2)]);
    assert_eq!(ok(store.get(b"a")), None);
    assert_eq!(store.cached_entries(), 0, "flushed deletes leave the cache");
}

#[test]
fn caching_evicts_least_recently_used_and_flushes_everything_dirty() {
    // Room for exactly two one-byte entries.
    let budget = 2 * entry_size("a", "1");
    let (mut store, recording, ts) = cached_logged(budget);
    ts.set(1);
    ok(store.put(b"a", Some(b"1")));
    ts.set(2);
    ok(store.put(b"b", Some(b"2")));
    assert!(store.take_evicted().is_empty());
    assert_eq!(store.cached_bytes(), budget);

    ts.set(3);
    ok(store.put(b"c", Some(b"3")));
    // `a` was the least recently used: evicting it (dirty) writes down the
    // evicted entry first, then every other dirty entry.
    assert_eq!(
        store.take_evicted(),
        vec![
            flushed("a", Some("1"), None, 1),
            flushed("b", Some("2"), None, 2),
            flushed("c", Some("3"), None, 3)
        ]
    );
    assert_eq!(
        recording.borrow().records(),
        &[
            rec("a", Some(b"1"), 1),
            rec("b", Some(b"2"), 2),
            rec("c", Some(b"3"), 3)
        ]
    );
    assert_eq!(store.cached_entries(), 2);
    assert!(store.take_evicted().is_empty());
    assert_eq!(
        ok(store.flush_entries()),
        vec![],
        "everything was written by the eviction"
    );

    // Reads still see evicted entries, through the store below; reading `a`
    // caches it again (clean), which evicts the clean `b` without writing.
    assert_eq!(ok(store.get(b"a")), Some(b("1")));
    assert!(store.take_evicted().is_empty());
    assert_eq!(recording.borrow().len(), 3);
}

#[test]
fn caching_reads_refresh_recency() {
    let budget = 2 * entry_size("a", "1");
    let (mut store, _recording, ts) = cached_logged(budget);
    ts.set(1);
    ok(store.put(b"a", Some(b"1")));
    ts.set(2);
    ok(store.put(b"b", Some(b"2")));
    ok(store.flush_entries());
    ts.set(3);
    ok(store.put(b"a", Some(b"10")));
    // `a` is larger now: the cache is over budget and evicts `b` (clean,
    // least recently used): nothing is written.
    assert!(store.take_evicted().is_empty());
    assert_eq!(store.cached_entries(), 1);
    assert_eq!(
        ok(store.flush_entries()),
        vec![flushed("a", Some("10"), Some("1"), 3)]
    );
}

#[test]
fn caching_with_zero_budget_writes_through() {
    let (mut store, recording, ts) = cached_logged(0);
    ts.set(9);
    ok(store.put(b"a", Some(b"1")));
    assert_eq!(store.take_evicted(), vec![flushed("a", Some("1"), None, 9)]);
    ok(store.put(b"a", Some(b"2")));
    assert_eq!(
        store.take_evicted(),
        vec![flushed("a", Some("2"), Some("1"), 9)]
    );
    assert_eq!(recording.borrow().len(), 2);
    assert_eq!(store.cached_entries(), 0);
}

#[test]
fn caching_range_merges_cache_and_store() {
    let ts = Rc::new(Cell::new(0));
    let mut below = InMemoryKeyValueStore::new("s");
    fill(&mut below, &["a", "b", "c", "d"]);
    let mut store = CachingKeyValueStore::new(Box::new(below), 1 << 20, ts);
    ok(store.put(b"b", Some(b"B")));
    ok(store.delete(b"c"));
    ok(store.put(b"e", Some(b"E")));
    ok(store.put(b"0", Some(b"zero")));
    let expected = vec![
        kv("0", "zero"),
        kv("a", "va"),
        kv("b", "B"),
        kv("d", "vd"),
        kv("e", "E"),
    ];
    assert_eq!(collect(store.all()), expected);
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(collect(store.reverse_all()), reversed);
    assert_eq!(
        collect(store.range(Some(b"b"), Some(b"d"))),
        vec![kv("b", "B"), kv("d", "vd")]
    );
    assert_eq!(
        collect(store.reverse_range(Some(b"b"), Some(b"e"))),
        vec![kv("e", "E"), kv("d", "vd"), kv("b", "B")]
    );
    assert_eq!(
        collect(store.range(Some(b"c"), Some(b"c"))),
        vec![],
        "the cached delete hides c"
    );
    assert_eq!(collect(store.prefix_scan(b"b")), vec![kv("b", "B")]);
    // After the flush the store below holds the same view.
    ok(store.flush_entries());
    assert_eq!(collect(store.wrapped().all()), expected);
}

#[test]
fn caching_put_if_absent_sees_the_store_below() {
    let ts = Rc::new(Cell::new(0));
    let mut below = InMemoryKeyValueStore::new("s");
    ok(below.put(b"a", Some(b"stored")));
    let mut store = CachingKeyValueStore::new(Box::new(below), 1 << 20, ts);
    assert_eq!(ok(store.put_if_absent(b"a", b"new")), Some(b("stored")));
    assert_eq!(ok(store.put_if_absent(b"b", b"new")), None);
    assert_eq!(
        ok(store.flush_entries()),
        vec![flushed("b", Some("new"), None, 0)]
    );
}

#[test]
fn caching_without_retained_reports_drops_eviction_reports() {
    let ts = Rc::new(Cell::new(0));
    let mut store = CachingKeyValueStore::new(memory("s"), 0, ts).with_retained_reports(false);
    ok(store.put(b"a", Some(b"1")));
    assert!(store.take_evicted().is_empty());
    assert_eq!(ok(store.get(b"a")), Some(b("1")));
}

/// Built stores keep their cache's write-downs only when their owner asks
/// (the KTable processors that forward them): a Processor API store, plain
/// or timestamped, keeps none, which would pile up for as long as it lives.
#[test]
fn built_key_value_stores_keep_write_downs_only_when_told() {
    use crate::serde::Serdes;
    // A budget of zero: every put is evicted, and written down, at once.
    let mut ctx = StoreContext::new("app", "0_0", 0);
    ctx.cache_max_bytes = 0;
    let kept = |reports: Option<bool>| {
        let mut builder = Stores::timestamped_key_value_store_builder(
            Stores::in_memory_key_value_store("kv"),
            Serdes::string(),
            Serdes::i64(),
        )
        .with_caching_enabled();
        if let Some(on) = reports {
            builder = builder.with_cache_reports(on);
        }
        let opened = builder.build(&ctx).unwrap();
        let store = opened.timestamped_key_value_store::<String, i64>().unwrap();
        store.put_value(&"a".to_owned(), &1, 5).unwrap();
        assert_eq!(
            store.get(&"a".to_owned()).unwrap(),
            Some(ValueAndTimestamp::new(1, 5))
        );
        store
            .take_evicted()
            .unwrap()
            .into_iter()
            .map(|f| (f.key, f.new))
            .collect::<Vec<_>>()
    };
    assert_eq!(kept(None), vec![]);
    assert_eq!(
        kept(Some(true)),
        vec![("a".to_owned(), Some(ValueAndTimestamp::new(1, 5)))]
    );
}

/// Caches in one pool share its budget (Kafka Streams' `ThreadCache`): a
/// write that takes the pool over the budget evicts from the cache it wrote
/// to, even when another cache holds more, and a cache that goes gives its
/// bytes back.
#[test]
fn caches_in_one_pool_share_its_budget() {
    let pool = CachePool::new();
    let ts = Rc::new(Cell::new(0));
    // A one-byte key and value each.
    let entry = 1 + 1 + crate::state::cache::ENTRY_OVERHEAD;
    let cached = |name: &str| {
        CachingKeyValueStore::new(memory(name), 3 * entry, ts.clone())
            .with_retained_reports(false)
            .with_cache_pool(Some(pool.clone()))
    };
    let (mut first, mut second) = (cached("first"), cached("second"));
    for key in [b"x", b"y", b"z"] {
        ok(first.put(key, Some(b"1")));
    }
    assert_eq!((first.cached_entries(), pool.used_bytes()), (3, 3 * entry));
    ok(second.put(b"w", Some(b"2")));
    // Over the budget: the second cache evicts (and writes down) its own
    // entry; the first keeps its three.
    assert_eq!((first.cached_entries(), second.cached_entries()), (3, 0));
    assert_eq!(ok(second.wrapped().get(b"w")), Some(b("2")));
    assert_eq!(ok(first.wrapped().get(b"x")), None);
    assert_eq!(pool.used_bytes(), 3 * entry);
    drop(first);
    assert_eq!(pool.used_bytes(), 0);
    // Alone in the pool, the second cache has the whole budget.
    for key in [b"p", b"q", b"r"] {
        ok(second.put(key, Some(b"3")));
    }
    assert_eq!((second.cached_entries(), pool.used_bytes()), (3, 3 * entry));
}

#[test]
fn turning_reports_off_drops_the_kept_ones_and_still_writes_down() {
    let ts = Rc::new(Cell::new(0));
    let mut store = CachingKeyValueStore::new(memory("s"), 0, ts);
    ok(store.put(b"a", Some(b"1")));
    store.set_retained_reports(false);
    ok(store.put(b"b", Some(b"2")));
    assert!(store.take_evicted().is_empty());
    // Both went down to the store below (the cache holds nothing).
    assert_eq!(store.cached_entries(), 0);
    assert_eq!(ok(store.wrapped().get(b"a")), Some(b("1")));
    assert_eq!(ok(store.wrapped().get(b"b")), Some(b("2")));
    store.set_retained_reports(true);
    ok(store.put(b"c", Some(b"3")));
    assert_eq!(store.take_evicted(), vec![flushed("c", Some("3"), None, 0)]);
}

#[test]
fn caching_state_store_flush_keeps_reports() {
    let (mut store, recording, ts) = cached_logged(1 << 20);
    ts.set(4);
    ok(store.put(b"a", Some(b"1")));
    ok(StateStore::flush(&mut store));
    assert_eq!(recording.borrow().len(), 1);
    assert_eq!(store.take_evicted(), vec![flushed("a", Some("1"), None, 4)]);
}

// ---------------------------------------------------------------- typed

#[test]
fn typed_store_round_trips() {
    let store = KeyValueStore::from_store(memory("s"), utf8(), be64());
    ok(store.put(&s("a"), Some(&1)));
    ok(store.put(&s("b"), Some(&2)));
    ok(store.put(&s("c"), Some(&3)));
    assert_eq!(ok(store.get(&s("a"))), Some(1));
    assert_eq!(ok(store.put_if_absent(&s("a"), &9)), Some(1));
    assert_eq!(ok(store.put_if_absent(&s("d"), &4)), None);
    assert_eq!(
        ok(store.range(Some(&s("b")), Some(&s("c")))),
        vec![(s("b"), 2), (s("c"), 3)]
    );
    assert_eq!(
        ok(store.reverse_range(Some(&s("b")), None)),
        vec![(s("d"), 4), (s("c"), 3), (s("b"), 2)]
    );
    assert_eq!(ok(store.delete(&s("d"))), Some(4));
    ok(store.put(&s("c"), None));
    ok(store.put_all(&[(s("x"), Some(10)), (s("a"), None)]));
    assert_eq!(ok(store.all()), vec![(s("b"), 2), (s("x"), 10)]);
    assert_eq!(ok(store.reverse_all()), vec![(s("x"), 10), (s("b"), 2)]);
    assert_eq!(ok(store.prefix_scan(b"x")), vec![(s("x"), 10)]);
    assert_eq!(ok(store.approximate_num_entries()), 2);
    assert_eq!(store.name(), "s");
    assert!(!store.is_cached());
    let clone = store.clone();
    ok(clone.put(&s("y"), Some(&11)));
    assert_eq!(ok(store.get(&s("y"))), Some(11), "clones share the store");
}

#[test]
fn typed_serde_failures_are_store_errors() {
    let picky: SerdeRef<String> = Arc::new(Picky);
    let store = KeyValueStore::from_store(memory("s"), picky.clone(), picky);
    assert!(matches!(
        store.put(&s("bad"), Some(&s("v"))),
        Err(StoreError::Serde { .. })
    ));
    assert!(matches!(
        store.put(&s("k"), Some(&s("bad"))),
        Err(StoreError::Serde { .. })
    ));
    assert!(matches!(
        store.get(&s("bad")),
        Err(StoreError::Serde { .. })
    ));
    // Bytes that the value serde cannot read.
    let numbers = KeyValueStore::from_store(memory("n"), utf8(), be64());
    ok(numbers
        .layered()
        .borrow_mut()
        .bytes_mut()
        .put(b"k", Some(b"abc")));
    match numbers.get(&s("k")) {
        Err(StoreError::Serde { store, .. }) => assert_eq!(store, "n"),
        other => panic!("expected a serde error, got {other:?}"),
    }
}

#[test]
fn timestamped_store_uses_kafka_byte_format() {
    let store = TimestampedKeyValueStore::from_store(memory("s"), utf8(), utf8());
    ok(store.put(&s("k"), Some(ValueAndTimestamp::new(s("v"), 0x0102))));
    let raw = ok(store.layered().borrow().bytes().get(b"k"));
    assert_eq!(raw, Some(vec![0, 0, 0, 0, 0, 0, 0x01, 0x02, b'v']));
    assert_eq!(
        ok(store.get(&s("k"))),
        Some(ValueAndTimestamp::new(s("v"), 0x0102))
    );
    ok(store.put_value(&s("n"), &s("neg"), -5));
    let raw = ok(store.layered().borrow().bytes().get(b"n"));
    assert_eq!(
        raw,
        Some(vec![
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFB, b'n', b'e', b'g'
        ])
    );
    assert_eq!(
        ok(store.all()),
        vec![
            (s("k"), ValueAndTimestamp::new(s("v"), 0x0102)),
            (s("n"), ValueAndTimestamp::new(s("neg"), -5))
        ]
    );
    assert_eq!(
        ok(store.delete(&s("n"))),
        Some(ValueAndTimestamp::new(s("neg"), -5))
    );
    assert_eq!(
        ok(store.put_if_absent(&s("k"), &ValueAndTimestamp::new(s("w"), 1))),
        Some(ValueAndTimestamp::new(s("v"), 0x0102))
    );
    ok(store.put(&s("k"), None));
    assert_eq!(ok(store.get(&s("k"))), None);
    assert!(
        store.flush_cache().map(|f| f.is_empty()).unwrap_or(false),
        "no cache, nothing to flush"
    );
    assert!(store.take_evicted().map(|f| f.is_empty()).unwrap_or(false));
}

// ---------------------------------------------------------------- builder

fn context(recording: Option<Rc<RefCell<dyn ChangelogWriter>>>) -> StoreContext {
    let mut ctx = StoreContext::new("app", "0_3", 3);
    ctx.changelog = recording;
    ctx
}

#[test]
fn builder_defaults_and_topics() {
    let builder =
        Stores::key_value_store_builder(Stores::in_memory_key_value_store("s"), utf8(), utf8());
    assert!(builder.logging_enabled());
    assert!(!builder.caching_enabled());
    assert_eq!(
        builder.changelog_topic("app").as_deref(),
        Some("app-s-changelog")
    );
    assert_eq!(builder.logging_config(), Some(&BTreeMap::new()));
    let mut config = BTreeMap::new();
    config.insert(s("retention.ms"), s("100"));
    let builder = builder.with_logging_enabled(config.clone());
    assert_eq!(builder.logging_config(), Some(&config));
    let builder = builder.with_logging_disabled();
    assert_eq!(builder.changelog_topic("app"), None);
    assert_eq!(builder.logging_config(), None);
    assert!(!builder.is_persistent());
    let factory: Box<dyn StoreFactory> = Box::new(builder.persistent());
    assert!(factory.is_persistent());
    assert_eq!(factory.name(), "s");
}

#[test]
fn built_store_logs_with_the_task_partition_and_timestamp() {
    let (recording, writer) = RecordingChangelog::shared();
    let ctx = context(Some(writer));
    let builder =
        Stores::key_value_store_builder(Stores::in_memory_key_value_store("s"), utf8(), utf8());
    let opened = ok(builder.build(&ctx));
    assert_eq!(
        opened.managed.borrow().changelog_topic(),
        Some("app-s-changelog")
    );
    assert!(
        opened
            .timestamped_key_value_store::<String, String>()
            .is_none()
    );
    assert!(opened.key_value_store::<String, i64>().is_none());
    let store = opened
        .key_value_store::<String, String>()
        .unwrap_or_else(|| panic!("wrong handle type"));
    ctx.timestamp.set(77);
    ok(store.put(&s("a"), Some(&s("1"))));
    ok(store.delete(&s("a")));
    assert_eq!(
        recording.borrow().records(),
        &[rec("a", Some(b"1"), 77), rec("a", None, 77)]
    );
}

#[test]
fn built_cached_timestamped_store_reports_typed_flushes() {
    let (recording, writer) = RecordingChangelog::shared();
    let ctx = context(Some(writer));
    let builder = Stores::timestamped_key_value_store_builder(
        Stores::in_memory_key_value_store("s"),
        utf8(),
        be64(),
    )
    .with_caching_enabled()
    // As the KTable processors that forward from the cache ask.
    .with_cache_reports(true);
    let opened = ok(builder.build(&ctx));
    let store = opened
        .timestamped_key_value_store::<String, i64>()
        .unwrap_or_else(|| panic!("wrong handle type"));
    assert!(store.is_cached());
    assert!(opened.managed.borrow().is_cached());

    ctx.timestamp.set(10);
    ok(store.put(&s("k"), Some(ValueAndTimestamp::new(1, 10))));
    ctx.timestamp.set(11);
    ok(store.put(&s("k"), Some(ValueAndTimestamp::new(2, 11))));
    assert!(recording.borrow().is_empty());
    assert_eq!(
        ok(store.flush_cache()),
        vec![TypedFlush {
            key: s("k"),
            new: Some(ValueAndTimestamp::new(2, 11)),
            old: None,
            timestamp: 11,
            context: EntryContext::default(),
        }]
    );
    // The changelog carries the plain value with its timestamp.
    assert_eq!(
        recording.borrow().records(),
        &[rec("k", Some(&2i64.to_be_bytes()), 11)]
    );

    ctx.timestamp.set(12);
    ok(store.put(&s("k"), Some(ValueAndTimestamp::new(3, 12))));
    ok(opened.managed.borrow_mut().flush());
    assert_eq!(
        ok(store.take_evicted()),
        vec![TypedFlush {
            key: s("k"),
            new: Some(ValueAndTimestamp::new(3, 12)),
            old: Some(ValueAndTimestamp::new(2, 11)),
            timestamp: 12,
            context: EntryContext::default(),
        }],
        "a commit flush that precedes flush_cache keeps its reports"
    );
}

#[test]
fn restore_batch_into_empty_rocksdb_then_read_back() {
    let dir = ok(tempfile::tempdir().map_err(|source| StoreError::Io {
        store: s("r"),
        source,
    }));
    let (recording, writer) = RecordingChangelog::shared();
    let mut ctx = context(Some(writer));
    ctx.state_dir = Some(dir.path().to_path_buf());

    let plain = Stores::key_value_store_builder(
        Stores::persistent_key_value_store("plain"),
        utf8(),
        utf8(),
    )
    .with_caching_enabled();
    let opened = ok(plain.build(&ctx));
    assert!(opened.managed.borrow().persistent());
    ok(opened.managed.borrow_mut().restore_batch(&[
        (b("a"), Some(b("1")), 1),
        (b("b"), Some(b("2")), 2),
        (b("a"), None, 3),
        (b("c"), Some(b("3")), 4),
    ]));
    let store = opened
        .key_value_store::<String, String>()
        .unwrap_or_else(|| panic!("wrong handle type"));
    assert_eq!(ok(store.all()), vec![(s("b"), s("2")), (s("c"), s("3"))]);

    let timestamped = Stores::timestamped_key_value_store_builder(
        Stores::persistent_timestamped_key_value_store("ts"),
        utf8(),
        be64(),
    );
    let opened = ok(timestamped.build(&ctx));
    ok(opened.managed.borrow_mut().restore_batch(&[(
        b("k"),
        Some(7i64.to_be_bytes().to_vec()),
        1234,
    )]));
    let store = opened
        .timestamped_key_value_store::<String, i64>()
        .unwrap_or_else(|| panic!("wrong handle type"));
    assert_eq!(
        ok(store.get(&s("k"))),
        Some(ValueAndTimestamp::new(7, 1234))
    );
    let raw = ok(store.layered().borrow().bytes().get(b"k"));
    let mut expected = 1234i64.to_be_bytes().to_vec();
    expected.extend_from_slice(&7i64.to_be_bytes());
    assert_eq!(raw, Some(expected));
    assert!(recording.borrow().is_empty(), "restoring never logs");

    // Close, reopen from the same directory: the data is on disk.
    ok(opened.managed.borrow_mut().close());
    let reopened = ok(timestamped.build(&ctx));
    let store = reopened
        .timestamped_key_value_store::<String, i64>()
        .unwrap_or_else(|| panic!("wrong handle type"));
    assert_eq!(
        ok(store.get(&s("k"))),
        Some(ValueAndTimestamp::new(7, 1234))
    );
    assert!(dir.path().join("rocksdb").join("ts").exists());
}

#[test]
fn built_store_without_changelog_writer_skips_logging() {
    let builder =
        Stores::key_value_store_builder(Stores::persistent_key_value_store("s"), utf8(), utf8());
    let opened = ok(builder.build(&context(None)));
    assert_eq!(opened.managed.borrow().changelog_topic(), None);
    let store = opened
        .key_value_store::<String, String>()
        .unwrap_or_else(|| panic!("wrong handle type"));
    ok(store.put(&s("a"), Some(&s("1"))));
    assert_eq!(ok(store.get(&s("a"))), Some(s("1")));
}
