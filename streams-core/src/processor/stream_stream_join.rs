//! Windowed stream-stream joins, as Kafka Streams' `KStreamJoinWindow`,
//! `KStreamKStreamJoin{Left,Right}Side` and the shared outer-join store.
//!
//! Each side's records go through a `KSTREAM-WINDOWED` node, which keeps
//! them in that side's window store (duplicates retained), then reach that
//! side's join node, which probes the *other* side's window store:
//! `[max(0, t - before), max(0, t + after)]`, both ends inclusive, with
//! the bounds swapped for the right side. An inner result carries the
//! larger of the two timestamps and is always `joiner(left, right)`.
//!
//! Left and outer joins with the spurious-result fix (the
//! `JoinWindows::of_time_difference_*` constructors) hold a record that
//! found no partner in a store shared by both sides, keyed
//! `<ts><side><key>`, and emit it with its own timestamp once its window
//! has closed: `ts + lookback + grace < stream time`, lookback being the
//! windows' `after` for left records and `before` for right ones. Stream
//! time is the largest timestamp seen by *either* side of the join in the
//! task. The scan runs for a record whose timestamp equals stream time, at
//! most once per internal emit interval of wall-clock time (0 in the test
//! driver). A record already past its window when it arrives is emitted at
//! once; an inner match deletes the partner's pending entries.
//!
//! Each side's window store is a timestamped window store of `state::window`
//! that retains duplicates (it expires records by stream time and fetches
//! from `observed - retention + 1` on, as Kafka Streams' window stores). The
//! shared store sits on a byte key-value store (so it gets the usual
//! changelog and restore path) and keeps a list of values per
//! `<ts><side><key>`, in Kafka Streams' layouts: keys `[8-byte ts][1 = left,
//! 0 = right][key]`, values a `ListSerde` list of `[1 = left, 0 =
//! right][value]`.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;
use std::rc::Rc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use super::{Processor, ProcessorContext, Record, TaskId};
use crate::error::StreamsError;
use crate::serde::{SerdeRef, Serdes};
use crate::state::rocksdb::RocksDbConfig;
use crate::state::window::{TimestampedWindowStore, WindowBytesStoreSupplier, WindowStoreBuilder};
use crate::state::{
    KeyValueBytesStoreSupplier, KeyValueStore, KeyValueStoreBuilder, OpenedStore, StoreContext,
    StoreError, StoreFactory, StoreKind, StoreResult, Stores,
};
use rustc_hash::FxHashMap;

// ---------------------------------------------------------------------------
// Stores
// ---------------------------------------------------------------------------

/// Write buffer size of the shared outer-join store's RocksDB memtables
/// (see `bytes_builder`).
const OUTER_STORE_WRITE_BUFFER_BYTES: usize = 2 * 1024 * 1024;

fn bytes_builder(
    name: &str,
    kind: StoreKind,
    logging: bool,
    log_config: &BTreeMap<String, String>,
) -> KeyValueStoreBuilder<Vec<u8>, Vec<u8>> {
    // The shared store's live content is small: the records of the last
    // window (plus grace) that found no partner, each deleted again once
    // joined or emitted. A memtable mostly fills with those dead entries
    // and their tombstones, so RocksDB's 16 MiB write buffers (up to three
    // per store, one store per task) held tens of MiB of garbage until
    // they filled: about 45 MiB of a four-task join's peak memory.
    // Smaller buffers flush it to disk, where compaction drops it; reads
    // and writes see the same data either way.
    let config = RocksDbConfig {
        write_buffer_size: OUTER_STORE_WRITE_BUFFER_BYTES,
        ..RocksDbConfig::default()
    };
    let builder = KeyValueStoreBuilder::new(
        KeyValueBytesStoreSupplier::new(name, kind).with_rocksdb_config(config),
        Serdes::bytes(),
        Serdes::bytes(),
    );
    if logging {
        builder.with_logging_enabled(log_config.clone())
    } else {
        builder.with_logging_disabled()
    }
}

/// A byte key-value store with its serdes as identity.
type BytesStore = KeyValueStore<Vec<u8>, Vec<u8>>;

fn open_bytes(
    name: &str,
    kind: StoreKind,
    logging: bool,
    log_config: &BTreeMap<String, String>,
    ctx: &StoreContext,
) -> StoreResult<(OpenedStore, BytesStore)> {
    let opened = bytes_builder(name, kind, logging, log_config).build(ctx)?;
    let bytes = opened
        .key_value_store::<Vec<u8>, Vec<u8>>()
        .ok_or_else(|| StoreError::InvalidArgument {
            store: name.to_string(),
            reason: "unexpected byte store handle".into(),
        })?;
    Ok((opened, bytes))
}

/// Declares one side's join window store on the shared window stores:
/// duplicates retained, retention `size + grace`, window size `size`, never
/// cached; its changelog is never compacted (`cleanup.policy=delete`, as
/// Kafka Streams forces for stores that retain duplicates).
pub(crate) fn join_window_store<K: 'static, V: 'static>(
    name: &str,
    kind: StoreKind,
    size_ms: i64,
    retention_ms: i64,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    logging: Option<BTreeMap<String, String>>,
) -> StoreResult<WindowStoreBuilder<K, V>> {
    let supplier = WindowBytesStoreSupplier::new(name, kind, retention_ms, size_ms, true)?;
    let builder = Stores::timestamped_window_store_builder(supplier, key_serde, value_serde)
        .with_caching_disabled();
    Ok(match logging {
        Some(mut config) => {
            config.insert("cleanup.policy".into(), "delete".into());
            builder.with_logging_enabled(config)
        }
        None => builder.with_logging_disabled(),
    })
}

/// One side's window store: every record, by key and timestamp.
pub(crate) type JoinWindowStore<K, V> = TimestampedWindowStore<K, V>;

// ---------------------------------------------------------------------------
// Shared outer-join store
// ---------------------------------------------------------------------------

/// A value waiting in the shared store: from the left or the right side.
pub(crate) enum LeftOrRight<VL, VR> {
    Left(VL),
    Right(VR),
}

/// Declares the store shared by both sides of a left or outer join.
pub(crate) struct OuterJoinStoreBuilder<K, VL, VR> {
    pub(crate) name: String,
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) left_serde: SerdeRef<VL>,
    pub(crate) right_serde: SerdeRef<VR>,
    pub(crate) kind: StoreKind,
    pub(crate) logging: bool,
    pub(crate) log_config: BTreeMap<String, String>,
}

impl<K: 'static, VL: 'static, VR: 'static> StoreFactory for OuterJoinStoreBuilder<K, VL, VR> {
    fn name(&self) -> &str {
        &self.name
    }
    fn is_persistent(&self) -> bool {
        self.kind == StoreKind::RocksDb
    }
    fn logging_enabled(&self) -> bool {
        self.logging
    }
    fn caching_enabled(&self) -> bool {
        false
    }
    fn logging_config(&self) -> Option<&BTreeMap<String, String>> {
        self.logging.then_some(&self.log_config)
    }
    fn build(&self, ctx: &StoreContext) -> StoreResult<OpenedStore> {
        let (opened, bytes) =
            open_bytes(&self.name, self.kind, self.logging, &self.log_config, ctx)?;
        let handle = OuterJoinStore {
            inner: Rc::new(OuterInner {
                name: self.name.clone(),
                topic: crate::state::changelog_topic_name(&ctx.application_id, &self.name),
                bytes,
                key_serde: self.key_serde.clone(),
                left_serde: self.left_serde.clone(),
                right_serde: self.right_serde.clone(),
                present: RefCell::new(None),
            }),
        };
        Ok(OpenedStore {
            managed: opened.managed,
            handle: Rc::new(handle),
        })
    }
}

struct OuterInner<K, VL, VR> {
    name: String,
    topic: String,
    bytes: KeyValueStore<Vec<u8>, Vec<u8>>,
    key_serde: SerdeRef<K>,
    left_serde: SerdeRef<VL>,
    right_serde: SerdeRef<VR>,
    /// How many keys of the store have each hash of [`key_hash`]: an exact
    /// "definitely absent" test in memory. A left join's right side looks
    /// up each of its matches here (Kafka Streams reads the store), and
    /// nearly all of them miss: the store only holds records that found
    /// no partner yet. A RocksDB get per match was 7 % of the
    /// stream-stream join's profile. Built from the store on first use,
    /// after restoration (a task's stores are opened, and this handle
    /// made, again whenever the task is); every write of the store goes
    /// through this handle.
    present: RefCell<Option<FxHashMap<u64, u32>>>,
}

/// The hash [`OuterInner::present`] counts keys by.
fn key_hash(raw_key: &[u8]) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(raw_key);
    hasher.finish()
}

/// The store of records that found no partner yet, shared by both sides
/// of a left or outer join.
pub(crate) struct OuterJoinStore<K, VL, VR> {
    inner: Rc<OuterInner<K, VL, VR>>,
}

impl<K, VL, VR> Clone for OuterJoinStore<K, VL, VR> {
    fn clone(&self) -> Self {
        OuterJoinStore {
            inner: self.inner.clone(),
        }
    }
}

/// One pending value, as the scan reads it.
/// What an emit pass closes, and the timestamp of the last entry it visited.
type ClosedPending<K, VL, VR> = (Vec<Pending<K, VL, VR>>, Option<i64>);

struct Pending<K, VL, VR> {
    raw_key: Vec<u8>,
    ts: i64,
    key: K,
    value: LeftOrRight<VL, VR>,
}

/// `ListSerde`'s flag for variable-size entries.
const LIST_VARIABLE_SIZE: u8 = 1;

impl<K, VL, VR> OuterJoinStore<K, VL, VR> {
    fn serde_err(&self, source: crate::serde::SerdeError) -> StoreError {
        StoreError::Serde {
            store: self.inner.name.clone(),
            source,
        }
    }

    fn corrupt(&self) -> StoreError {
        StoreError::InvalidArgument {
            store: self.inner.name.clone(),
            reason: "malformed outer-join store entry".into(),
        }
    }

    fn store_key(&self, key: &K, ts: i64, is_left: bool) -> StoreResult<Vec<u8>> {
        let mut k = Vec::with_capacity(9 + 16);
        k.extend_from_slice(&ts.to_be_bytes());
        k.push(u8::from(is_left));
        self.inner
            .key_serde
            .serialize_into(&self.inner.topic, key, &mut k)
            .map_err(|e| self.serde_err(e))?;
        Ok(k)
    }

    /// Appends `value` to the list under `<ts><side><key>`.
    pub(crate) fn append(&self, key: &K, ts: i64, value: &LeftOrRight<VL, VR>) -> StoreResult<()> {
        let inner = &self.inner;
        let k = self.store_key(key, ts, matches!(value, LeftOrRight::Left(_)))?;
        let mut element = Vec::with_capacity(16);
        match value {
            LeftOrRight::Left(v) => {
                element.push(1);
                inner
                    .left_serde
                    .serialize_into(&inner.topic, v, &mut element)
                    .map_err(|e| self.serde_err(e))?;
            }
            LeftOrRight::Right(v) => {
                element.push(0);
                inner
                    .right_serde
                    .serialize_into(&inner.topic, v, &mut element)
                    .map_err(|e| self.serde_err(e))?;
            }
        }
        // Most appends are of a key the store does not hold (a record that
        // found no partner, at its own timestamp): the in-memory counts say
        // so without a RocksDB get.
        let old = if self.maybe_present(&k)? {
            inner.bytes.get(&k)?
        } else {
            None
        };
        if old.is_none() {
            self.count_present(&k, true)?;
        }
        let list = match old {
            Some(old) if old.len() >= 5 => {
                let count = u32::from_be_bytes(old[1..5].try_into().map_err(|_| self.corrupt())?);
                let mut list = Vec::with_capacity(old.len() + 4 + element.len());
                list.push(LIST_VARIABLE_SIZE);
                list.extend_from_slice(&(count + 1).to_be_bytes());
                list.extend_from_slice(&old[5..]);
                list.extend_from_slice(&(element.len() as u32).to_be_bytes());
                list.extend_from_slice(&element);
                list
            }
            _ => {
                let mut list = Vec::with_capacity(9 + element.len());
                list.push(LIST_VARIABLE_SIZE);
                list.extend_from_slice(&1u32.to_be_bytes());
                list.extend_from_slice(&(element.len() as u32).to_be_bytes());
                list.extend_from_slice(&element);
                list
            }
        };
        inner.bytes.put(&k, Some(&list))
    }

    /// Deletes the whole list under `<ts><side><key>` if there is one.
    pub(crate) fn delete_if_present(&self, key: &K, ts: i64, is_left: bool) -> StoreResult<()> {
        let k = self.store_key(key, ts, is_left)?;
        if !self.maybe_present(&k)? {
            return Ok(());
        }
        if self.inner.bytes.get(&k)?.is_some() {
            self.inner.bytes.put(&k, None)?;
            self.count_present(&k, false)?;
        }
        Ok(())
    }

    /// Deletes `raw_key`, a key the emit pass read from the store.
    fn delete_raw(&self, raw_key: &[u8]) -> StoreResult<()> {
        // Counted before the write on a first use, not after it.
        self.maybe_present(raw_key)?;
        self.inner.bytes.put(&raw_key.to_vec(), None)?;
        self.count_present(raw_key, false)
    }

    /// Runs `f` on the key-hash counts, reading the store to build them
    /// first if this is their first use.
    fn with_present<R>(&self, f: impl FnOnce(&mut FxHashMap<u64, u32>) -> R) -> StoreResult<R> {
        let mut present = self.inner.present.borrow_mut();
        let counts = match &mut *present {
            Some(counts) => counts,
            slot @ None => {
                let mut counts = FxHashMap::default();
                for (k, _) in self.inner.bytes.all()? {
                    *counts.entry(key_hash(&k)).or_insert(0) += 1;
                }
                slot.insert(counts)
            }
        };
        Ok(f(counts))
    }

    /// Whether the store may hold `raw_key` (false: it does not).
    fn maybe_present(&self, raw_key: &[u8]) -> StoreResult<bool> {
        let hash = key_hash(raw_key);
        self.with_present(|counts| counts.contains_key(&hash))
    }

    /// Counts a key that entered (`added`) or left the store.
    fn count_present(&self, raw_key: &[u8], added: bool) -> StoreResult<()> {
        let hash = key_hash(raw_key);
        self.with_present(|counts| {
            if added {
                *counts.entry(hash).or_insert(0) += 1;
            } else if let Some(n) = counts.get_mut(&hash) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(&hash);
                }
            }
        })
    }

    /// The pending values an emit pass closes, in `<ts><side><key>` order
    /// (list order within a key), and the timestamp of the last entry it
    /// visited (Kafka Streams' `minTime` bookkeeping).
    ///
    /// Entries for which `open(ts, is_left)` holds are still inside their
    /// window plus grace: they are skipped, and once both sides have had
    /// one, the pass stops, as Kafka Streams' does. Only the closed entries
    /// are decoded, and nothing past the stop is read: the store holds every
    /// unjoined record of the last window, and reading it whole at every
    /// emit interval cost the stream-stream join most of its time.
    fn closed_pending(
        &self,
        open: impl Fn(i64, bool) -> bool,
    ) -> StoreResult<ClosedPending<K, VL, VR>> {
        let inner = &self.inner;
        let mut out = Vec::new();
        let (mut left_open, mut right_open) = (false, false);
        let mut last_ts = None;
        for (k, v) in inner.bytes.all()? {
            if k.len() < 9 || v.len() < 5 {
                return Err(self.corrupt());
            }
            let ts = i64::from_be_bytes(k[..8].try_into().map_err(|_| self.corrupt())?);
            let is_left = k[8] == 1;
            let count = u32::from_be_bytes(v[1..5].try_into().map_err(|_| self.corrupt())?);
            last_ts = Some(ts);
            if left_open && right_open {
                break;
            }
            if open(ts, is_left) {
                if is_left {
                    left_open = true;
                } else {
                    right_open = true;
                }
                // Kafka Streams checks for the stop before each value: with
                // more values under this key it stops right here.
                if left_open && right_open && count > 1 {
                    break;
                }
                continue;
            }
            let mut pos = 5;
            for _ in 0..count {
                let len = v.get(pos..pos + 4).ok_or_else(|| self.corrupt())?;
                let len = u32::from_be_bytes(len.try_into().map_err(|_| self.corrupt())?) as usize;
                pos += 4;
                let element = v.get(pos..pos + len).ok_or_else(|| self.corrupt())?;
                pos += len;
                let (&side, raw) = element.split_first().ok_or_else(|| self.corrupt())?;
                let value = if side == 1 {
                    LeftOrRight::Left(
                        inner
                            .left_serde
                            .deserialize(&inner.topic, raw)
                            .map_err(|e| self.serde_err(e))?,
                    )
                } else {
                    LeftOrRight::Right(
                        inner
                            .right_serde
                            .deserialize(&inner.topic, raw)
                            .map_err(|e| self.serde_err(e))?,
                    )
                };
                let key = inner
                    .key_serde
                    .deserialize(&inner.topic, &k[9..])
                    .map_err(|e| self.serde_err(e))?;
                out.push(Pending {
                    raw_key: k.clone(),
                    ts,
                    key,
                    value,
                });
            }
        }
        Ok((out, last_ts))
    }
}

// ---------------------------------------------------------------------------
// Shared stream time
// ---------------------------------------------------------------------------

/// The stream time both sides of one join share in a task, and the state
/// of the emit throttle (Kafka Streams' `TimeTracker`).
pub(crate) struct TimeTracker {
    stream_time: AtomicI64,
    min_time: AtomicI64,
    next_time_to_emit: AtomicI64,
}

impl TimeTracker {
    fn new() -> Self {
        TimeTracker {
            stream_time: AtomicI64::new(-1),
            min_time: AtomicI64::new(i64::MAX),
            next_time_to_emit: AtomicI64::new(0),
        }
    }
}

/// Hands both join processors of a task the same [`TimeTracker`].
#[derive(Default)]
pub(crate) struct TimeTrackers {
    trackers: Mutex<HashMap<TaskId, Arc<TimeTracker>>>,
}

impl TimeTrackers {
    fn get(&self, task: TaskId) -> Arc<TimeTracker> {
        let mut map = self.trackers.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(task)
            .or_insert_with(|| Arc::new(TimeTracker::new()))
            .clone()
    }

    fn remove(&self, task: TaskId) {
        let mut map = self.trackers.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&task);
    }
}

// ---------------------------------------------------------------------------
// Processors
// ---------------------------------------------------------------------------

/// `KSTREAM-WINDOWED`: forwards each record to its side's join node, then
/// keeps it in that side's window store (records with a null key or value
/// can never join and are not kept).
pub(crate) struct JoinWindowProcessor<K, V> {
    pub(crate) store_name: String,
    pub(crate) store: Option<JoinWindowStore<K, V>>,
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V, K, V> for JoinWindowProcessor<K, V> {
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, V>) -> Result<(), StreamsError> {
        self.store = Some(ctx.get_state_store::<JoinWindowStore<K, V>>(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V>,
    ) -> Result<(), StreamsError> {
        // Kafka Streams forwards first and stores after; storing first is
        // the same (the join node this forwards to probes the *other*
        // side's store) and saves copying the record.
        if let (Some(k), Some(v), Some(store)) = (&record.key, &record.value, &self.store) {
            store.put_value(k, v, record.timestamp, record.timestamp)?;
        }
        ctx.forward(record)?;
        Ok(())
    }
}

/// Combines this side's value with the other side's (`None` for a missing
/// side in left and outer joins), always called with this side first; the
/// right side's processor gets the user's joiner reversed.
pub(crate) type StreamJoiner<K, VT, VO, VR> =
    Arc<dyn Fn(Option<&K>, Option<&VT>, Option<&VO>) -> Option<VR> + Send + Sync>;

/// Static settings of one side's join processor.
pub(crate) struct JoinSideSpec {
    /// How far before a record of this side the other side is probed.
    pub(crate) before_ms: i64,
    /// How far after.
    pub(crate) after_ms: i64,
    /// The windows' own before/after (the lookback of pending left/right
    /// records) and grace.
    pub(crate) windows_before_ms: i64,
    pub(crate) windows_after_ms: i64,
    pub(crate) grace_ms: i64,
    /// Whether this side's unmatched records produce results.
    pub(crate) outer: bool,
    /// Whether the other side's do (only then can the shared store hold
    /// the other side's records).
    pub(crate) other_outer: bool,
    /// Whether this is the left side.
    pub(crate) is_left: bool,
}

/// Splits a pending value into this side's and the other side's.
pub(crate) type SplitFn<VT, VO, VL, VR> = fn(LeftOrRight<VL, VR>) -> (Option<VT>, Option<VO>);

/// `KSTREAM-JOINTHIS` / `-JOINOTHER` / `-OUTERTHIS` / `-OUTEROTHER`: one
/// side of a stream-stream join. `VT`/`VO` are this and the other side's
/// value types, `VL`/`VR` the join's left and right ones.
pub(crate) struct StreamStreamJoin<K, VT, VO, VL, VR, VOut> {
    pub(crate) spec: Arc<JoinSideSpec>,
    pub(crate) joiner: StreamJoiner<K, VT, VO, VOut>,
    pub(crate) other_store_name: String,
    pub(crate) outer_store_name: Option<String>,
    pub(crate) trackers: Arc<TimeTrackers>,
    pub(crate) wrap_this: fn(VT) -> LeftOrRight<VL, VR>,
    pub(crate) split: SplitFn<VT, VO, VL, VR>,
    pub(crate) other_store: Option<JoinWindowStore<K, VO>>,
    pub(crate) outer_store: Option<OuterJoinStore<K, VL, VR>>,
    pub(crate) tracker: Option<Arc<TimeTracker>>,
    pub(crate) task: Option<TaskId>,
}

/// The left side's conversions between its values and the shared store's.
pub(crate) fn left_wrap<VL, VR>(v: VL) -> LeftOrRight<VL, VR> {
    LeftOrRight::Left(v)
}
/// See [`left_wrap`].
pub(crate) fn left_split<VL, VR>(v: LeftOrRight<VL, VR>) -> (Option<VL>, Option<VR>) {
    match v {
        LeftOrRight::Left(l) => (Some(l), None),
        LeftOrRight::Right(r) => (None, Some(r)),
    }
}
/// The right side's conversions.
pub(crate) fn right_wrap<VL, VR>(v: VR) -> LeftOrRight<VL, VR> {
    LeftOrRight::Right(v)
}
/// See [`right_wrap`].
pub(crate) fn right_split<VL, VR>(v: LeftOrRight<VL, VR>) -> (Option<VR>, Option<VL>) {
    match v {
        LeftOrRight::Left(l) => (None, Some(l)),
        LeftOrRight::Right(r) => (Some(r), None),
    }
}

impl<K, VT, VO, VL, VR, VOut> Processor<K, VT, K, VOut>
    for StreamStreamJoin<K, VT, VO, VL, VR, VOut>
where
    K: Clone + 'static,
    VT: Clone + 'static,
    VO: Clone + 'static,
    VL: 'static,
    VR: 'static,
    VOut: Clone + 'static,
{
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VOut>) -> Result<(), StreamsError> {
        self.other_store =
            Some(ctx.get_state_store::<JoinWindowStore<K, VO>>(&self.other_store_name)?);
        if let Some(name) = &self.outer_store_name {
            self.outer_store = Some(ctx.get_state_store::<OuterJoinStore<K, VL, VR>>(name)?);
        }
        self.tracker = Some(self.trackers.get(ctx.task_id()));
        self.task = Some(ctx.task_id());
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<K, VT>,
        ctx: &mut ProcessorContext<'_, K, VOut>,
    ) -> Result<(), StreamsError> {
        let tracker = self
            .tracker
            .clone()
            .ok_or_else(|| super::aggregate::not_initialized(ctx.node_name()))?;
        let ts = record.timestamp;
        tracker.stream_time.fetch_max(ts, Ordering::Relaxed);

        if self.spec.outer && record.key.is_none() && record.value.is_some() {
            let out = (self.joiner)(None, record.value.as_ref(), None);
            return ctx.forward(record.with_value(out));
        }
        let (Some(key), Some(value)) = (record.key.as_ref(), record.value.as_ref()) else {
            log::warn!(
                "Skipping record due to null key or value. node=[{}]",
                ctx.node_name()
            );
            ctx.metrics().dropped_records += 1;
            return Ok(());
        };

        if ts == tracker.stream_time.load(Ordering::Relaxed)
            && let Some(store) = self.outer_store.clone()
        {
            self.emit_non_joined(&store, &tracker, &record, ctx)?;
        }

        let time_from = ts.saturating_sub(self.spec.before_ms).max(0);
        let time_to = ts.saturating_add(self.spec.after_ms).max(0);
        let other = self
            .other_store
            .as_ref()
            .ok_or_else(|| super::aggregate::not_initialized(ctx.node_name()))?;
        let matches = other.fetch_range(key, time_from, time_to)?;
        let need_outer = self.spec.outer && matches.is_empty();
        for (other_ts, other_value) in matches {
            // Only an outer side keeps records in the shared store: in a
            // left join the left side's matches have nothing to delete,
            // and the read (one RocksDB get per match) is skipped.
            if let Some(store) = &self.outer_store
                && self.spec.other_outer
            {
                store.delete_if_present(key, other_ts, !self.spec.is_left)?;
            }
            let out = (self.joiner)(Some(key), Some(value), Some(&other_value.value));
            ctx.forward(Record {
                key: Some(key.clone()),
                value: out,
                timestamp: ts.max(other_ts),
                headers: record.headers.clone(),
            })?;
        }
        if need_outer {
            match &self.outer_store {
                Some(store) if time_to >= tracker.stream_time.load(Ordering::Relaxed) => {
                    tracker.min_time.fetch_min(ts, Ordering::Relaxed);
                    store.append(key, ts, &(self.wrap_this)(value.clone()))?;
                }
                _ => {
                    let out = (self.joiner)(Some(key), Some(value), None);
                    ctx.forward(record.with_value(out))?;
                }
            }
        }
        Ok(())
    }

    fn close(&mut self) {
        if let Some(task) = self.task {
            self.trackers.remove(task);
        }
    }
}

impl<K, VT, VO, VL, VR, VOut> StreamStreamJoin<K, VT, VO, VL, VR, VOut>
where
    K: Clone + 'static,
    VT: Clone + 'static,
    VO: Clone + 'static,
    VOut: Clone + 'static,
{
    /// Emits the pending records whose windows have closed.
    fn emit_non_joined(
        &self,
        store: &OuterJoinStore<K, VL, VR>,
        tracker: &TimeTracker,
        record: &Record<K, VT>,
        ctx: &mut ProcessorContext<'_, K, VOut>,
    ) -> Result<(), StreamsError> {
        let stream_time = tracker.stream_time.load(Ordering::Relaxed);
        let grace = self.spec.grace_ms;
        // Only scan if there might be something to emit.
        if tracker
            .min_time
            .load(Ordering::Relaxed)
            .saturating_add(self.spec.after_ms)
            .saturating_add(grace)
            >= stream_time
        {
            return Ok(());
        }
        // Throttle the scan to the internal emit interval of wall-clock
        // time (a cost control only; 0 in the test driver).
        let now = ctx.current_system_time_ms();
        if now < tracker.next_time_to_emit.load(Ordering::Relaxed) {
            return Ok(());
        }
        tracker.next_time_to_emit.store(
            now.saturating_add(ctx.emit_interval_ms()),
            Ordering::Relaxed,
        );
        tracker.min_time.store(i64::MAX, Ordering::Relaxed);

        let (before, after) = (self.spec.windows_before_ms, self.spec.windows_after_ms);
        let (closed, last_ts) = store.closed_pending(|ts, is_left| {
            let lookback = if is_left { after } else { before };
            ts.saturating_add(lookback).saturating_add(grace) >= stream_time
        })?;
        if let Some(ts) = last_ts {
            tracker.min_time.store(ts, Ordering::Relaxed);
        }
        let mut prev_key: Option<Vec<u8>> = None;
        for pending in closed {
            let (this, other) = (self.split)(pending.value);
            let out = (self.joiner)(Some(&pending.key), this.as_ref(), other.as_ref());
            let emitted = Record {
                key: Some(pending.key),
                value: out,
                timestamp: pending.ts,
                headers: record.headers.clone(),
            };
            ctx.forward(emitted)?;
            if let Some(prev) = &prev_key
                && *prev != pending.raw_key
            {
                store.delete_raw(prev)?;
            }
            prev_key = Some(pending.raw_key);
        }
        if let Some(prev) = prev_key {
            store.delete_raw(&prev)?;
        }
        Ok(())
    }
}
