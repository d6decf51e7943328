//! Session stores: the state of session-window aggregations.
//!
//! Layers as for the other stores: typed [`SessionStore<K, V>`] ->
//! [`CachingSessionStore`] (optional) -> [`ChangeLoggingSessionBytesStore`]
//! (optional) -> [`InMemorySessionStore`] | [`RocksDbSessionStore`].
//!
//! A session is a key with a window `[start, end]` (both inclusive; a
//! session of one record has `start == end`). Its binary key is Kafka
//! Streams' `SessionKeySchema`: `[key][8-byte big-endian end][8-byte
//! big-endian start]` ([`session_store_key`]); that is also the changelog
//! key, and the changelog value is the aggregate's bytes. Retention counts
//! from the largest session end stored; RocksDB segments sessions by their
//! end time.

use std::any::Any;
use std::cell::{Cell, Ref, RefCell, RefMut};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::PathBuf;
use std::rc::Rc;

use super::cache::{DirtyEntry, NamedCache, Write};
use super::caching::{EntryContext, FlushedEntry, Reports};
use super::rocksdb::RocksDbConfig;
use super::window::segmented::Segments;
use super::window::{default_segment_interval, key_in_range, windowed_changelog_config};
use super::{
    ChangelogWriter, KeyValueBytesStore, ManagedStore, OpenedStore, StateStore, StoreContext,
    StoreError, StoreFactory, StoreKind, StoreResult, Stores, TimestampedBytesWrite,
    changelog_topic_name,
};
use crate::processor::{Headers, RecordMetadata};
use crate::serde::{SerdeError, SerdeRef};
use crate::window::{Window, Windowed};

const TS: usize = 8;

/// The binary key of a stored session: `[key][8-byte big-endian
/// end][8-byte big-endian start]` (Kafka Streams' `SessionKeySchema.toBinary`).
///
/// ```rust
/// use streams_core::state::session::{session_store_key, split_session_store_key};
/// let k = session_store_key(b"k", 1, 2);
/// assert_eq!(k, [b'k', 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1]);
/// assert_eq!(split_session_store_key(&k), Some((&b"k"[..], 1, 2)));
/// ```
pub fn session_store_key(key: &[u8], start: i64, end: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 2 * TS);
    out.extend_from_slice(key);
    out.extend_from_slice(&end.to_be_bytes());
    out.extend_from_slice(&start.to_be_bytes());
    out
}

/// Splits a session store key into `(key, start, end)`.
pub fn split_session_store_key(bytes: &[u8]) -> Option<(&[u8], i64, i64)> {
    let key_len = bytes.len().checked_sub(2 * TS)?;
    let (key, rest) = bytes.split_at(key_len);
    let (end, start) = rest.split_at(TS);
    Some((
        key,
        i64::from_be_bytes(start.try_into().ok()?),
        i64::from_be_bytes(end.try_into().ok()?),
    ))
}

fn bad_key(store: &str, len: usize) -> StoreError {
    StoreError::InvalidArgument {
        store: store.to_owned(),
        reason: format!(
            "a session key needs at least 16 bytes of end and start, found {len} bytes"
        ),
    }
}

/// One stored session, as a byte store returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEntry {
    /// The record key's bytes.
    pub key: Vec<u8>,
    /// The session start (first record's timestamp).
    pub start: i64,
    /// The session end (last record's timestamp).
    pub end: i64,
    /// The aggregate's bytes.
    pub value: Vec<u8>,
}

/// The order of multi-key results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOrder {
    /// By end, then key bytes, then latest start first (the in-memory
    /// store).
    EndFirst,
    /// By segment of the end time, then store-key bytes (RocksDB).
    Segmented {
        /// The segment interval in ms.
        segment_interval: i64,
    },
}

impl SessionOrder {
    fn sort(&self, entries: &mut [SessionEntry], forward: bool) {
        match *self {
            SessionOrder::EndFirst => entries.sort_by(|a, b| {
                (a.end, &a.key, std::cmp::Reverse(a.start)).cmp(&(
                    b.end,
                    &b.key,
                    std::cmp::Reverse(b.start),
                ))
            }),
            SessionOrder::Segmented { segment_interval } => entries.sort_by_cached_key(|e| {
                (
                    e.end / segment_interval,
                    session_store_key(&e.key, e.start, e.end),
                )
            }),
        }
        if !forward {
            entries.reverse();
        }
    }
}

/// The object-safe byte store under every session store (Kafka Streams'
/// `SessionStore<Bytes, byte[]>`).
pub trait SessionBytesStore: StateStore {
    /// The retention period in ms.
    fn retention_ms(&self) -> i64;
    /// The order of multi-key results.
    fn order(&self) -> SessionOrder;
    /// Stores the session `[start, end]` of `key`; `None` removes it. An
    /// expired session is skipped.
    fn put(&mut self, key: &[u8], start: i64, end: i64, value: Option<&[u8]>) -> StoreResult<()>;
    /// The aggregate of one session.
    fn fetch_session(&self, key: &[u8], start: i64, end: i64) -> StoreResult<Option<Vec<u8>>>;
    /// Sessions of keys in `[key_from, key_to]` (open where `None`) with
    /// `end >= earliest_end` and `start <= latest_start`, in the store's
    /// order (`forward`) or its reverse.
    fn find_sessions(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
        forward: bool,
    ) -> StoreResult<Vec<SessionEntry>>;
    /// Sessions of every key whose end is in `[earliest_end, latest_end]`,
    /// by end time (what emit-on-window-close reads).
    fn find_sessions_by_end(
        &self,
        earliest_end: i64,
        latest_end: i64,
    ) -> StoreResult<Vec<SessionEntry>>;
    /// Writes changelog records (keys are [`session_store_key`]s) straight
    /// into the bottom store.
    fn restore_all(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()>;
}

type EndMap = BTreeMap<i64, BTreeMap<Vec<u8>, BTreeMap<i64, Vec<u8>>>>;

/// The in-memory session byte store (Kafka Streams' `InMemorySessionStore`):
/// sessions by end time, then key, then start.
#[derive(Debug)]
pub struct InMemorySessionStore {
    name: String,
    retention_ms: i64,
    sessions: EndMap,
    observed_stream_time: i64,
    open: bool,
}

impl InMemorySessionStore {
    /// An empty, open store.
    pub fn new(name: impl Into<String>, retention_ms: i64) -> Self {
        InMemorySessionStore {
            name: name.into(),
            retention_ms,
            sessions: BTreeMap::new(),
            observed_stream_time: -1,
            open: true,
        }
    }

    fn check_open(&self) -> StoreResult<()> {
        if self.open {
            Ok(())
        } else {
            Err(StoreError::Closed(self.name.clone()))
        }
    }

    fn min_live_time(&self) -> i64 {
        self.observed_stream_time
            .saturating_sub(self.retention_ms)
            .saturating_add(1)
            .max(0)
    }

    fn remove(&mut self, key: &[u8], start: i64, end: i64) {
        if let Some(keys) = self.sessions.get_mut(&end) {
            if let Some(starts) = keys.get_mut(key) {
                starts.remove(&start);
                if starts.is_empty() {
                    keys.remove(key);
                }
            }
            if keys.is_empty() {
                self.sessions.remove(&end);
            }
        }
    }

    fn collect<'a>(
        &self,
        ends: impl DoubleEndedIterator<Item = (i64, &'a BTreeMap<Vec<u8>, BTreeMap<i64, Vec<u8>>>)>,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        latest_start: i64,
        forward: bool,
    ) -> Vec<SessionEntry> {
        let mut out = Vec::new();
        let lower = key_from.map_or(Bound::Unbounded, Bound::Included);
        let upper = key_to.map_or(Bound::Unbounded, Bound::Included);
        let mut per_end = |end: i64, keys: &BTreeMap<Vec<u8>, BTreeMap<i64, Vec<u8>>>| {
            let keys = keys.range::<[u8], _>((lower, upper));
            let mut per_key = |key: &Vec<u8>, starts: &BTreeMap<i64, Vec<u8>>| {
                let starts = starts.range(..=latest_start);
                let mut push = |(start, value): (&i64, &Vec<u8>)| {
                    out.push(SessionEntry {
                        key: key.clone(),
                        start: *start,
                        end,
                        value: value.clone(),
                    })
                };
                // Kafka's in-memory store lists one key's sessions of one end
                // latest start first when going forward.
                if forward {
                    starts.rev().for_each(&mut push);
                } else {
                    starts.for_each(&mut push);
                }
            };
            if forward {
                keys.for_each(|(k, s)| per_key(k, s));
            } else {
                keys.rev().for_each(|(k, s)| per_key(k, s));
            }
        };
        if forward {
            ends.for_each(|(end, keys)| per_end(end, keys));
        } else {
            ends.rev().for_each(|(end, keys)| per_end(end, keys));
        }
        out
    }
}

impl StateStore for InMemorySessionStore {
    fn name(&self) -> &str {
        &self.name
    }
    fn persistent(&self) -> bool {
        false
    }
    fn flush(&mut self) -> StoreResult<()> {
        Ok(())
    }
    fn close(&mut self) -> StoreResult<()> {
        self.sessions.clear();
        self.open = false;
        Ok(())
    }
}

impl SessionBytesStore for InMemorySessionStore {
    fn retention_ms(&self) -> i64 {
        self.retention_ms
    }

    fn order(&self) -> SessionOrder {
        SessionOrder::EndFirst
    }

    fn put(&mut self, key: &[u8], start: i64, end: i64, value: Option<&[u8]>) -> StoreResult<()> {
        self.check_open()?;
        let min_live = self.min_live_time();
        self.sessions = self.sessions.split_off(&min_live);
        self.observed_stream_time = self.observed_stream_time.max(end);
        if end <= self.observed_stream_time.saturating_sub(self.retention_ms) {
            log::warn!(
                "Skipping record for expired segment. store=[{}] sessionEnd=[{end}]",
                self.name
            );
            return Ok(());
        }
        match value {
            Some(value) => {
                self.sessions
                    .entry(end)
                    .or_default()
                    .entry(key.to_vec())
                    .or_default()
                    .insert(start, value.to_vec());
            }
            None => self.remove(key, start, end),
        }
        Ok(())
    }

    fn fetch_session(&self, key: &[u8], start: i64, end: i64) -> StoreResult<Option<Vec<u8>>> {
        self.check_open()?;
        if end <= self.observed_stream_time.saturating_sub(self.retention_ms) {
            return Ok(None);
        }
        Ok(self
            .sessions
            .get(&end)
            .and_then(|keys| keys.get(key))
            .and_then(|starts| starts.get(&start))
            .cloned())
    }

    fn find_sessions(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
        forward: bool,
    ) -> StoreResult<Vec<SessionEntry>> {
        self.check_open()?;
        if let (Some(f), Some(t)) = (key_from, key_to)
            && f > t
        {
            return Ok(Vec::new());
        }
        let from = earliest_end.max(self.min_live_time());
        let ends = self.sessions.range(from..).map(|(e, m)| (*e, m));
        Ok(self.collect(ends, key_from, key_to, latest_start, forward))
    }

    fn find_sessions_by_end(
        &self,
        earliest_end: i64,
        latest_end: i64,
    ) -> StoreResult<Vec<SessionEntry>> {
        self.check_open()?;
        let from = earliest_end.max(self.min_live_time());
        if latest_end < from {
            return Ok(Vec::new());
        }
        let ends = self.sessions.range(from..=latest_end).map(|(e, m)| (*e, m));
        Ok(self.collect(ends, None, None, i64::MAX, true))
    }

    fn restore_all(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        for (store_key, value, _) in records {
            let (key, start, end) = split_session_store_key(store_key)
                .ok_or_else(|| bad_key(&self.name, store_key.len()))?;
            let key = key.to_vec();
            self.put(&key, start, end, value.as_deref())?;
        }
        Ok(())
    }
}

/// A session byte store in RocksDB databases segmented by session end
/// (Kafka Streams' `RocksDBSessionStore`).
#[derive(Debug)]
pub struct RocksDbSessionStore {
    name: String,
    retention_ms: i64,
    observed_stream_time: i64,
    segments: Segments,
    open: bool,
}

impl RocksDbSessionStore {
    /// Opens the store `name`; segments go under `state_dir` (see
    /// [`crate::state::window`]) or in temporary directories.
    pub fn open(
        name: impl Into<String>,
        retention_ms: i64,
        segment_interval_ms: i64,
        config: &RocksDbConfig,
        state_dir: Option<PathBuf>,
    ) -> StoreResult<Self> {
        let name = name.into();
        let segments = Segments::open(&name, retention_ms, segment_interval_ms, config, state_dir)?;
        Ok(RocksDbSessionStore {
            name,
            retention_ms,
            observed_stream_time: -1,
            segments,
            open: true,
        })
    }

    /// The segment interval in ms.
    pub fn segment_interval(&self) -> i64 {
        self.segments.interval()
    }

    /// The ids of the segments currently open, oldest first (segment `id`
    /// holds the sessions ending in `[id * interval, (id + 1) * interval)`).
    pub fn segment_ids(&self) -> Vec<i64> {
        self.segments.ids()
    }

    fn check_open(&self) -> StoreResult<()> {
        if self.open {
            Ok(())
        } else {
            Err(StoreError::Closed(self.name.clone()))
        }
    }

    fn actual_from(&self, from: i64) -> i64 {
        from.max(
            self.observed_stream_time
                .saturating_sub(self.retention_ms)
                .saturating_add(1),
        )
    }

    fn scan(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
        latest_end: i64,
        forward: bool,
    ) -> StoreResult<Vec<SessionEntry>> {
        let mut out = Vec::new();
        // One key's sessions all lie between its key with the smallest
        // suffix that can match and its key with the largest suffix, so a
        // single-key read (what every aggregated record does) touches only
        // them; other keys can still interleave there (keys of other
        // lengths), which the key filter below drops. A key range scans
        // from its lower key on, since a shorter key's entries can sort
        // after the upper key.
        let (lower, upper) = match (key_from, key_to) {
            (Some(f), Some(t)) if f == t => {
                let mut upper = f.to_vec();
                upper.extend_from_slice(&[0xFF; 2 * TS]);
                (
                    Some(session_store_key(f, 0, earliest_end.max(0))),
                    Some(upper),
                )
            }
            _ => (key_from.map(<[u8]>::to_vec), None),
        };
        for segment in self.segments.search(earliest_end, latest_end, forward) {
            let iter = if forward {
                segment.range(lower.as_deref(), upper.as_deref())?
            } else {
                segment.reverse_range(lower.as_deref(), upper.as_deref())?
            };
            for (store_key, value) in iter {
                let Some((key, start, end)) = split_session_store_key(&store_key) else {
                    continue;
                };
                if end < earliest_end || end > latest_end || start > latest_start {
                    continue;
                }
                if !key_in_range(key, key_from, key_to) {
                    continue;
                }
                out.push(SessionEntry {
                    key: key.to_vec(),
                    start,
                    end,
                    value,
                });
            }
        }
        Ok(out)
    }
}

impl StateStore for RocksDbSessionStore {
    fn name(&self) -> &str {
        &self.name
    }
    fn persistent(&self) -> bool {
        true
    }
    fn flush(&mut self) -> StoreResult<()> {
        self.segments.flush()
    }
    fn close(&mut self) -> StoreResult<()> {
        self.open = false;
        self.segments.close()
    }
}

impl SessionBytesStore for RocksDbSessionStore {
    fn retention_ms(&self) -> i64 {
        self.retention_ms
    }

    fn order(&self) -> SessionOrder {
        SessionOrder::Segmented {
            segment_interval: self.segments.interval(),
        }
    }

    fn put(&mut self, key: &[u8], start: i64, end: i64, value: Option<&[u8]>) -> StoreResult<()> {
        self.check_open()?;
        let store_key = session_store_key(key, start, end);
        self.observed_stream_time = self.observed_stream_time.max(end);
        if value.is_none() {
            // Kafka's `remove`: delete from the segment if it is still there.
            if let Some(segment) = self.segments.segment_for_mut(end) {
                segment.put(&store_key, None)?;
            }
            return Ok(());
        }
        let id = self.segments.segment_id(end);
        match self
            .segments
            .get_or_create_if_live(id, self.observed_stream_time)?
        {
            Some(segment) => segment.put(&store_key, value),
            None => {
                log::warn!(
                    "Skipping record for expired segment. store=[{}] sessionEnd=[{end}]",
                    self.name
                );
                Ok(())
            }
        }
    }

    fn fetch_session(&self, key: &[u8], start: i64, end: i64) -> StoreResult<Option<Vec<u8>>> {
        self.check_open()?;
        if end < self.actual_from(i64::MIN) {
            return Ok(None);
        }
        match self.segments.segment_for(end) {
            Some(segment) => segment.get(&session_store_key(key, start, end)),
            None => Ok(None),
        }
    }

    fn find_sessions(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
        forward: bool,
    ) -> StoreResult<Vec<SessionEntry>> {
        self.check_open()?;
        if let (Some(f), Some(t)) = (key_from, key_to)
            && f > t
        {
            return Ok(Vec::new());
        }
        let from = self.actual_from(earliest_end);
        self.scan(key_from, key_to, from, latest_start, i64::MAX, forward)
    }

    fn find_sessions_by_end(
        &self,
        earliest_end: i64,
        latest_end: i64,
    ) -> StoreResult<Vec<SessionEntry>> {
        self.check_open()?;
        // Emit-on-close reads Kafka Streams' time-ordered session store: end,
        // key, start order, bounded by the live segments only (not by the
        // retention period, which would hide sessions that just closed).
        let mut out = self.scan(None, None, earliest_end, i64::MAX, latest_end, true)?;
        out.sort_by(|a, b| (a.end, &a.key, a.start).cmp(&(b.end, &b.key, b.start)));
        Ok(out)
    }

    fn restore_all(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        let mut parsed = Vec::with_capacity(records.len());
        for (store_key, value, _) in records {
            let (_, _, end) = split_session_store_key(store_key)
                .ok_or_else(|| bad_key(&self.name, store_key.len()))?;
            self.observed_stream_time = self.observed_stream_time.max(end);
            parsed.push((store_key, value, end));
        }
        for (store_key, value, end) in parsed {
            let id = self.segments.segment_id(end);
            if let Some(segment) = self
                .segments
                .get_or_create_if_live(id, self.observed_stream_time)?
            {
                segment.put(store_key, value.as_deref())?;
            }
        }
        Ok(())
    }
}

/// A session byte store that logs every put and remove to a changelog
/// (Kafka Streams' `ChangeLoggingSessionBytesStore`): key = the session
/// store key, value = the aggregate bytes, timestamp = the record's.
pub struct ChangeLoggingSessionBytesStore {
    inner: Box<dyn SessionBytesStore>,
    topic: String,
    partition: i32,
    writer: Rc<RefCell<dyn ChangelogWriter>>,
    timestamp: Rc<Cell<i64>>,
}

impl std::fmt::Debug for ChangeLoggingSessionBytesStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeLoggingSessionBytesStore")
            .field("store", &self.inner.name())
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl ChangeLoggingSessionBytesStore {
    /// Logs the writes to `inner` to `partition` of `topic`.
    pub fn new(
        inner: Box<dyn SessionBytesStore>,
        topic: impl Into<String>,
        partition: i32,
        writer: Rc<RefCell<dyn ChangelogWriter>>,
        timestamp: Rc<Cell<i64>>,
    ) -> Self {
        ChangeLoggingSessionBytesStore {
            inner,
            topic: topic.into(),
            partition,
            writer,
            timestamp,
        }
    }
}

impl StateStore for ChangeLoggingSessionBytesStore {
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

impl SessionBytesStore for ChangeLoggingSessionBytesStore {
    fn retention_ms(&self) -> i64 {
        self.inner.retention_ms()
    }
    fn order(&self) -> SessionOrder {
        self.inner.order()
    }
    fn put(&mut self, key: &[u8], start: i64, end: i64, value: Option<&[u8]>) -> StoreResult<()> {
        self.inner.put(key, start, end, value)?;
        let store_key = session_store_key(key, start, end);
        let mut writer = self
            .writer
            .try_borrow_mut()
            .map_err(|_| StoreError::InvalidArgument {
                store: self.inner.name().to_owned(),
                reason: "the changelog writer is already in use (re-entrant write)".to_owned(),
            })?;
        writer.send(
            &self.topic,
            self.partition,
            &store_key,
            value,
            self.timestamp.get(),
        )
    }
    fn fetch_session(&self, key: &[u8], start: i64, end: i64) -> StoreResult<Option<Vec<u8>>> {
        self.inner.fetch_session(key, start, end)
    }
    fn find_sessions(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
        forward: bool,
    ) -> StoreResult<Vec<SessionEntry>> {
        self.inner
            .find_sessions(key_from, key_to, earliest_end, latest_start, forward)
    }
    fn find_sessions_by_end(
        &self,
        earliest_end: i64,
        latest_end: i64,
    ) -> StoreResult<Vec<SessionEntry>> {
        self.inner.find_sessions_by_end(earliest_end, latest_end)
    }
    fn restore_all(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        self.inner.restore_all(records)
    }
}

/// One session written down from the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFlushedEntry {
    /// The record key's bytes.
    pub key: Vec<u8>,
    /// The session start.
    pub start: i64,
    /// The session end.
    pub end: i64,
    /// The value written (`None`: the session was removed).
    pub new_value: Option<Vec<u8>>,
    /// The value the store below held before.
    pub old_value: Option<Vec<u8>>,
    /// The timestamp of the record that last wrote the entry.
    pub timestamp: i64,
    /// That record's context, as set by
    /// [`CachingSessionStore::set_record_context`] before its write.
    pub context: EntryContext,
}

struct CacheInner {
    cache: NamedCache<SEGMENT_PREFIX>,
    wrapped: Box<dyn SessionBytesStore>,
    /// Written-down entries kept for the owner, and the context of
    /// the next writes.
    reports: Reports<SessionFlushedEntry>,
}

/// Bytes of the segment id in front of every session cache key.
const SEGMENT_PREFIX: usize = 8;

/// The segments of a session cache over a store without segments (the
/// in-memory store): Kafka Streams' smallest segment interval.
const UNSEGMENTED_CACHE_INTERVAL: i64 = 60_000;

/// How a session cache lays its keys out: the id of the segment of the
/// session's end (with its sign bit flipped, so negative ids sort first),
/// then the [`session_store_key`] (Kafka Streams' `SegmentedCacheFunction`
/// over `SessionKeySchema`). A read visits only the segments its end times
/// cover, and within each one key's run (a single-key read) or the keys
/// from the lower one on; the prefix is not charged to the cache budget.
#[derive(Debug, Clone, Copy)]
struct SessionCacheLayout {
    interval: i64,
}

impl SessionCacheLayout {
    fn for_order(order: SessionOrder) -> Self {
        let interval = match order {
            SessionOrder::Segmented { segment_interval } => segment_interval,
            SessionOrder::EndFirst => UNSEGMENTED_CACHE_INTERVAL,
        };
        SessionCacheLayout {
            interval: interval.max(1),
        }
    }

    fn prefix(id: i64) -> Vec<u8> {
        (id ^ i64::MIN).to_be_bytes().to_vec()
    }

    fn read_prefix(cache_key: &[u8]) -> Option<i64> {
        let prefix = cache_key.get(..SEGMENT_PREFIX)?;
        Some(i64::from_be_bytes(prefix.try_into().ok()?) ^ i64::MIN)
    }

    fn key(self, key: &[u8], start: i64, end: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(SEGMENT_PREFIX + key.len() + 2 * TS);
        out.extend_from_slice(&((end / self.interval) ^ i64::MIN).to_be_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(&end.to_be_bytes());
        out.extend_from_slice(&start.to_be_bytes());
        out
    }

    fn split(cache_key: &[u8]) -> Option<(&[u8], i64, i64)> {
        split_session_store_key(cache_key.get(SEGMENT_PREFIX..)?)
    }

    /// The smallest end of segment `id` (the division truncates, so
    /// segment 0 also holds negative ends).
    fn first_end(self, id: i64) -> i64 {
        let base = id.saturating_mul(self.interval);
        if id > 0 {
            base
        } else {
            base.saturating_sub(self.interval - 1)
        }
    }
}

/// A record cache in front of a session byte store (Kafka Streams'
/// `CachingSessionStore`); see [`crate::state::window::CachingWindowStore`]
/// for the rules, which are the same with sessions for windows.
pub struct CachingSessionStore {
    name: String,
    max_bytes: usize,
    timestamp: Rc<Cell<i64>>,
    layout: SessionCacheLayout,
    inner: RefCell<CacheInner>,
}

impl std::fmt::Debug for CachingSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingSessionStore")
            .field("name", &self.name)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl CachingSessionStore {
    /// Caches `wrapped` with a budget of `max_bytes`.
    pub fn new(
        wrapped: Box<dyn SessionBytesStore>,
        max_bytes: usize,
        timestamp: Rc<Cell<i64>>,
    ) -> Self {
        CachingSessionStore {
            name: wrapped.name().to_owned(),
            max_bytes,
            timestamp,
            layout: SessionCacheLayout::for_order(wrapped.order()),
            inner: RefCell::new(CacheInner {
                cache: NamedCache::new(),
                wrapped,
                reports: Reports::default(),
            }),
        }
    }

    /// The record context that the next writes stamp on their entries
    /// (see [`CachingWindowStore::set_record_context`](crate::state::window::CachingWindowStore::set_record_context)).
    pub fn set_record_context(&mut self, metadata: Option<&RecordMetadata>, headers: &Headers) {
        self.inner.get_mut().reports.set_context(metadata, headers);
    }

    /// Whether write-downs outside a commit are kept for
    /// [`take_evicted`](Self::take_evicted).
    pub fn with_retained_reports(mut self, retain: bool) -> Self {
        self.inner.get_mut().reports.set_retained(retain);
        self
    }

    /// Counts the cache's bytes in `pool` with the other caches of its
    /// stream thread, against one budget (see [`CachePool`](crate::state::CachePool)); `None`
    /// leaves it a budget of its own.
    pub fn with_cache_pool(mut self, pool: Option<crate::state::CachePool>) -> Self {
        if let Some(pool) = pool {
            self.inner.get_mut().cache.join_pool(pool);
        }
        self
    }

    /// Turns the kept reports (see `with_retained_reports`) on or off once
    /// the store is built: an owner with nothing downstream forwards
    /// nothing, so it turns them off, as a Kafka Streams cache without a
    /// flush listener reports nothing.
    pub fn set_retained_reports(&mut self, retain: bool) {
        self.inner.get_mut().reports.set_retained(retain);
    }

    /// Writes every dirty entry down and returns them.
    pub fn flush_entries(&mut self) -> StoreResult<Vec<SessionFlushedEntry>> {
        let ts = Rc::clone(&self.timestamp);
        self.inner.get_mut().write_down(None, &ts)
    }

    /// What evictions wrote down since the last call.
    pub fn take_evicted(&mut self) -> Vec<SessionFlushedEntry> {
        self.inner.get_mut().reports.take()
    }

    fn borrow_mut(&self) -> StoreResult<RefMut<'_, CacheInner>> {
        self.inner
            .try_borrow_mut()
            .map_err(|_| StoreError::InvalidArgument {
                store: self.name.clone(),
                reason: "re-entrant call into the store's cache".to_owned(),
            })
    }

    fn maybe_evict(&self, inner: &mut CacheInner) -> StoreResult<()> {
        while inner.cache.budgeted_bytes() > self.max_bytes {
            let Some(evicted) = inner.cache.evict() else {
                break;
            };
            if evicted.dirty {
                let written = inner.write_down(Some(evicted.into_entry()), &self.timestamp)?;
                inner.reports.keep(written);
            }
        }
        Ok(())
    }

    /// Merges the cached sessions of keys in `[key_from, key_to]` (open
    /// where `None`) ending in `[earliest_end, latest_end]` that pass `keep`
    /// over the stored ones, in the store's order.
    #[allow(clippy::too_many_arguments)]
    fn merged(
        &self,
        stored: Vec<SessionEntry>,
        keep: impl Fn(&[u8], i64, i64) -> bool,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_end: i64,
        forward: bool,
    ) -> StoreResult<Vec<SessionEntry>> {
        let mut inner = self.borrow_mut()?;
        let cached = inner.cached_sessions(self.layout, key_from, key_to, earliest_end, latest_end);
        if cached.is_empty() {
            return Ok(stored);
        }
        let order = inner.wrapped.order();
        drop(inner);
        let mut by_session: BTreeMap<(Vec<u8>, i64, i64), SessionEntry> = stored
            .into_iter()
            .map(|e| ((e.key.clone(), e.start, e.end), e))
            .collect();
        for (cache_key, value) in cached {
            let Some((key, start, end)) = SessionCacheLayout::split(&cache_key) else {
                continue;
            };
            if !keep(key, start, end) {
                continue;
            }
            let id = (key.to_vec(), start, end);
            match value {
                Some(value) => {
                    by_session.insert(
                        id,
                        SessionEntry {
                            key: key.to_vec(),
                            start,
                            end,
                            value,
                        },
                    );
                }
                None => {
                    by_session.remove(&id);
                }
            }
        }
        let mut out: Vec<SessionEntry> = by_session.into_values().collect();
        order.sort(&mut out, forward);
        Ok(out)
    }
}

impl CacheInner {
    /// The cache entries (touched, in cache-key order) that can hold a
    /// session of a key in `[key_from, key_to]` ending in `[earliest_end,
    /// latest_end]`: a superset the caller filters, read segment by segment
    /// (skipping segments the cache holds nothing of).
    fn cached_sessions(
        &mut self,
        layout: SessionCacheLayout,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_end: i64,
    ) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        if latest_end < earliest_end {
            return out;
        }
        let (first, last) = (earliest_end / layout.interval, latest_end / layout.interval);
        let mut next = first;
        while let Some(id) = self
            .cache
            .seek(Bound::Included(&SessionCacheLayout::prefix(next)), true)
            .and_then(SessionCacheLayout::read_prefix)
        {
            if id > last {
                break;
            }
            let with_prefix = |rest: &[u8]| {
                let mut key = SessionCacheLayout::prefix(id);
                key.extend_from_slice(rest);
                key
            };
            let (lower, upper) = match (key_from, key_to) {
                (Some(f), Some(t)) if f == t => {
                    let mut upper = with_prefix(t);
                    upper.extend_from_slice(&[0xFF; 2 * TS]);
                    let end_from = earliest_end.max(layout.first_end(id)).max(0);
                    (
                        Bound::Included(with_prefix(&session_store_key(f, 0, end_from))),
                        Bound::Included(upper),
                    )
                }
                _ => (
                    Bound::Included(with_prefix(key_from.unwrap_or_default())),
                    match id.checked_add(1) {
                        Some(after) => Bound::Excluded(SessionCacheLayout::prefix(after)),
                        None => Bound::Unbounded,
                    },
                ),
            };
            self.cache.visit_range(
                lower.as_ref().map(Vec::as_slice),
                upper.as_ref().map(Vec::as_slice),
                true,
                |key, value| out.push((key.to_vec(), value.map(<[u8]>::to_vec))),
            );
            match id.checked_add(1) {
                Some(after) if id < last => next = after,
                _ => break,
            }
        }
        out
    }

    fn write_down(
        &mut self,
        evicted: Option<DirtyEntry>,
        timestamp: &Cell<i64>,
    ) -> StoreResult<Vec<SessionFlushedEntry>> {
        if evicted.is_none() && !self.cache.has_dirty() {
            return Ok(Vec::new());
        }
        let dirty = self.cache.take_dirty_after(evicted);
        let previous = timestamp.get();
        let mut out = Vec::with_capacity(dirty.len());
        let result = (|| {
            for entry in dirty {
                let Some((key, start, end)) = SessionCacheLayout::split(&entry.key) else {
                    continue;
                };
                let old = self.wrapped.fetch_session(key, start, end)?;
                if entry.value.is_none() && old.is_none() {
                    continue;
                }
                timestamp.set(entry.timestamp);
                self.wrapped.put(key, start, end, entry.value.as_deref())?;
                out.push(SessionFlushedEntry {
                    key: key.to_vec(),
                    start,
                    end,
                    new_value: entry.value,
                    old_value: old,
                    timestamp: entry.timestamp,
                    context: entry.context,
                });
            }
            Ok(())
        })();
        timestamp.set(previous);
        result.map(|()| out)
    }
}

impl StateStore for CachingSessionStore {
    fn name(&self) -> &str {
        &self.name
    }
    fn persistent(&self) -> bool {
        self.inner.borrow().wrapped.persistent()
    }
    fn flush(&mut self) -> StoreResult<()> {
        let ts = Rc::clone(&self.timestamp);
        let inner = self.inner.get_mut();
        let written = inner.write_down(None, &ts)?;
        inner.reports.keep(written);
        inner.wrapped.flush()
    }
    fn close(&mut self) -> StoreResult<()> {
        let flushed = self.flush();
        let inner = self.inner.get_mut();
        inner.cache.clear();
        let closed = inner.wrapped.close();
        flushed.and(closed)
    }
}

impl SessionBytesStore for CachingSessionStore {
    fn retention_ms(&self) -> i64 {
        self.inner.borrow().wrapped.retention_ms()
    }
    fn order(&self) -> SessionOrder {
        self.inner.borrow().wrapped.order()
    }
    fn put(&mut self, key: &[u8], start: i64, end: i64, value: Option<&[u8]>) -> StoreResult<()> {
        let ts = self.timestamp.get();
        let cache_key = self.layout.key(key, start, end);
        let mut inner = self.borrow_mut()?;
        let inner = &mut *inner;
        let write = Write {
            timestamp: ts,
            context: inner.reports.context(),
            dirty: true,
        };
        inner.cache.put(&cache_key, value, write);
        self.maybe_evict(inner)
    }
    fn fetch_session(&self, key: &[u8], start: i64, end: i64) -> StoreResult<Option<Vec<u8>>> {
        let cache_key = self.layout.key(key, start, end);
        let mut inner = self.borrow_mut()?;
        if let Some(cached) = inner.cache.get(&cache_key) {
            return Ok(cached.value.map(<[u8]>::to_vec));
        }
        inner.wrapped.fetch_session(key, start, end)
    }
    fn find_sessions(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
        forward: bool,
    ) -> StoreResult<Vec<SessionEntry>> {
        if let (Some(f), Some(t)) = (key_from, key_to)
            && f > t
        {
            return Ok(Vec::new());
        }
        let stored = self.inner.borrow().wrapped.find_sessions(
            key_from,
            key_to,
            earliest_end,
            latest_start,
            forward,
        )?;
        self.merged(
            stored,
            |k, start, end| {
                key_in_range(k, key_from, key_to) && end >= earliest_end && start <= latest_start
            },
            key_from,
            key_to,
            earliest_end,
            i64::MAX,
            forward,
        )
    }
    fn find_sessions_by_end(
        &self,
        earliest_end: i64,
        latest_end: i64,
    ) -> StoreResult<Vec<SessionEntry>> {
        let stored = self
            .inner
            .borrow()
            .wrapped
            .find_sessions_by_end(earliest_end, latest_end)?;
        let mut out = self.merged(
            stored,
            |_, _, end| end >= earliest_end && end <= latest_end,
            None,
            None,
            earliest_end,
            latest_end,
            true,
        )?;
        SessionOrder::EndFirst.sort(&mut out, true);
        Ok(out)
    }
    fn restore_all(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        let layout = self.layout;
        let inner = self.inner.get_mut();
        for (key, _, _) in records {
            if let Some((k, start, end)) = split_session_store_key(key) {
                inner.cache.remove(&layout.key(k, start, end));
            }
        }
        inner.wrapped.restore_all(records)
    }
}

/// The byte-store stack under a typed session handle.
pub struct SessionLayeredStore {
    top: SessionTop,
}

enum SessionTop {
    // Boxed: the cache is far larger than a pointer.
    Cached(Box<CachingSessionStore>),
    Plain(Box<dyn SessionBytesStore>),
}

impl std::fmt::Debug for SessionLayeredStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLayeredStore")
            .field("name", &self.bytes().name())
            .field("cached", &self.is_cached())
            .finish()
    }
}

impl SessionLayeredStore {
    /// A stack without a cache.
    pub fn new(store: Box<dyn SessionBytesStore>) -> Self {
        SessionLayeredStore {
            top: SessionTop::Plain(store),
        }
    }
    /// A stack topped by a cache.
    pub fn with_cache(store: CachingSessionStore) -> Self {
        SessionLayeredStore {
            top: SessionTop::Cached(Box::new(store)),
        }
    }
    /// Whether the top layer is a cache.
    pub fn is_cached(&self) -> bool {
        matches!(self.top, SessionTop::Cached(_))
    }
    /// The top layer.
    pub fn bytes(&self) -> &dyn SessionBytesStore {
        match &self.top {
            SessionTop::Cached(s) => s.as_ref(),
            SessionTop::Plain(s) => s.as_ref(),
        }
    }
    /// The top layer, mutably.
    pub fn bytes_mut(&mut self) -> &mut dyn SessionBytesStore {
        match &mut self.top {
            SessionTop::Cached(s) => s.as_mut(),
            SessionTop::Plain(s) => s.as_mut(),
        }
    }
    fn flush_entries(&mut self) -> StoreResult<Vec<SessionFlushedEntry>> {
        match &mut self.top {
            SessionTop::Cached(s) => s.flush_entries(),
            SessionTop::Plain(_) => Ok(Vec::new()),
        }
    }
    fn take_evicted(&mut self) -> Vec<SessionFlushedEntry> {
        match &mut self.top {
            SessionTop::Cached(s) => s.take_evicted(),
            SessionTop::Plain(_) => Vec::new(),
        }
    }
    fn set_retained_reports(&mut self, retain: bool) {
        if let SessionTop::Cached(s) = &mut self.top {
            s.set_retained_reports(retain);
        }
    }
    fn set_record_context(&mut self, metadata: Option<&RecordMetadata>, headers: &Headers) {
        if let SessionTop::Cached(s) = &mut self.top {
            s.set_record_context(metadata, headers);
        }
    }
}

/// A session cache entry written down, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTypedFlush<K, V> {
    /// The session.
    pub key: Windowed<K>,
    /// The aggregate written (`None`: the session was removed).
    pub new: Option<V>,
    /// The aggregate the store held before.
    pub old: Option<V>,
    /// The timestamp of the record that last wrote the entry.
    pub timestamp: i64,
    /// That record's context (see
    /// [`CachingSessionStore::set_record_context`]).
    pub context: EntryContext,
}

struct SessionCodec<K, V> {
    name: String,
    serde_topic: String,
    stack: Rc<RefCell<SessionLayeredStore>>,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
}

/// A typed handle over a session store (Kafka Streams' `SessionStore`).
/// Sessions are [`Windowed`] keys whose window is `[start, end]`, both
/// inclusive.
pub struct SessionStore<K, V> {
    codec: Rc<SessionCodec<K, V>>,
}

impl<K, V> Clone for SessionStore<K, V> {
    fn clone(&self) -> Self {
        SessionStore {
            codec: Rc::clone(&self.codec),
        }
    }
}

impl<K, V> std::fmt::Debug for SessionStore<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("name", &self.codec.name)
            .finish_non_exhaustive()
    }
}

impl<K, V> SessionStore<K, V> {
    /// A handle over `stack`; `serde_topic` is passed to the serdes.
    pub fn new(
        stack: Rc<RefCell<SessionLayeredStore>>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        serde_topic: impl Into<String>,
    ) -> Self {
        let name = stack.borrow().bytes().name().to_owned();
        SessionStore {
            codec: Rc::new(SessionCodec {
                name,
                serde_topic: serde_topic.into(),
                stack,
                key_serde,
                value_serde,
            }),
        }
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.codec.name
    }

    /// The byte-store stack under this handle.
    pub fn layered(&self) -> &Rc<RefCell<SessionLayeredStore>> {
        &self.codec.stack
    }

    fn busy(&self) -> StoreError {
        StoreError::InvalidArgument {
            store: self.codec.name.clone(),
            reason: "re-entrant call into the store (from a serde?)".to_owned(),
        }
    }

    fn serde_error(&self, source: SerdeError) -> StoreError {
        StoreError::Serde {
            store: self.codec.name.clone(),
            source,
        }
    }

    fn stack(&self) -> StoreResult<Ref<'_, SessionLayeredStore>> {
        self.codec.stack.try_borrow().map_err(|_| self.busy())
    }

    fn stack_mut(&self) -> StoreResult<RefMut<'_, SessionLayeredStore>> {
        self.codec.stack.try_borrow_mut().map_err(|_| self.busy())
    }

    fn encode_key(&self, key: &K) -> StoreResult<Vec<u8>> {
        self.codec
            .key_serde
            .serialize(&self.codec.serde_topic, key)
            .map_err(|e| self.serde_error(e))
    }

    fn decode_key(&self, bytes: &[u8]) -> StoreResult<K> {
        self.codec
            .key_serde
            .deserialize(&self.codec.serde_topic, bytes)
            .map_err(|e| self.serde_error(e))
    }

    fn decode_value(&self, bytes: &[u8]) -> StoreResult<V> {
        self.codec
            .value_serde
            .deserialize(&self.codec.serde_topic, bytes)
            .map_err(|e| self.serde_error(e))
    }

    fn decode(&self, entries: Vec<SessionEntry>) -> StoreResult<Vec<(Windowed<K>, V)>> {
        entries
            .into_iter()
            .map(|e| {
                Ok((
                    Windowed::new(
                        self.decode_key(&e.key)?,
                        Window::from_valid_bounds(e.start, e.end),
                    ),
                    self.decode_value(&e.value)?,
                ))
            })
            .collect()
    }

    /// Stores the aggregate of a session; `None` removes the session.
    pub fn put(&self, session: &Windowed<K>, aggregate: Option<&V>) -> StoreResult<()> {
        let key = self.encode_key(&session.key)?;
        let value = aggregate
            .map(|v| {
                self.codec
                    .value_serde
                    .serialize(&self.codec.serde_topic, v)
                    .map_err(|e| self.serde_error(e))
            })
            .transpose()?;
        let (start, end) = (session.window.start(), session.window.end());
        self.stack_mut()?
            .bytes_mut()
            .put(&key, start, end, value.as_deref())
    }

    /// Removes a session.
    pub fn remove(&self, session: &Windowed<K>) -> StoreResult<()> {
        self.put(session, None)
    }

    /// The aggregate of the session `[start, end]` of `key`.
    pub fn fetch_session(&self, key: &K, start: i64, end: i64) -> StoreResult<Option<V>> {
        let key = self.encode_key(key)?;
        let bytes = self.stack()?.bytes().fetch_session(&key, start, end)?;
        bytes.map(|b| self.decode_value(&b)).transpose()
    }

    /// The sessions of `key` that end at or after `earliest_end` and start
    /// at or before `latest_start`: those a record at `t` merges with when
    /// called with `t - gap, t + gap`.
    pub fn find_sessions(
        &self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
    ) -> StoreResult<Vec<(Windowed<K>, V)>> {
        self.find_sessions_range(Some(key), Some(key), earliest_end, latest_start)
    }

    /// [`find_sessions`](Self::find_sessions) in reverse order.
    pub fn backward_find_sessions(
        &self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
    ) -> StoreResult<Vec<(Windowed<K>, V)>> {
        let k = self.encode_key(key)?;
        let entries = self.stack()?.bytes().find_sessions(
            Some(&k),
            Some(&k),
            earliest_end,
            latest_start,
            false,
        )?;
        self.decode(entries)
    }

    /// Sessions of keys in `[key_from, key_to]` (open where `None`).
    pub fn find_sessions_range(
        &self,
        key_from: Option<&K>,
        key_to: Option<&K>,
        earliest_end: i64,
        latest_start: i64,
    ) -> StoreResult<Vec<(Windowed<K>, V)>> {
        let from = key_from.map(|k| self.encode_key(k)).transpose()?;
        let to = key_to.map(|k| self.encode_key(k)).transpose()?;
        let entries = self.stack()?.bytes().find_sessions(
            from.as_deref(),
            to.as_deref(),
            earliest_end,
            latest_start,
            true,
        )?;
        self.decode(entries)
    }

    /// Every session whose end is in `[earliest_end, latest_end]`.
    pub fn find_sessions_by_end(
        &self,
        earliest_end: i64,
        latest_end: i64,
    ) -> StoreResult<Vec<(Windowed<K>, V)>> {
        let entries = self
            .stack()?
            .bytes()
            .find_sessions_by_end(earliest_end, latest_end)?;
        self.decode(entries)
    }

    /// [`find_sessions_range`](Self::find_sessions_range) in reverse order.
    pub fn backward_find_sessions_range(
        &self,
        key_from: Option<&K>,
        key_to: Option<&K>,
        earliest_end: i64,
        latest_start: i64,
    ) -> StoreResult<Vec<(Windowed<K>, V)>> {
        let from = key_from.map(|k| self.encode_key(k)).transpose()?;
        let to = key_to.map(|k| self.encode_key(k)).transpose()?;
        let entries = self.stack()?.bytes().find_sessions(
            from.as_deref(),
            to.as_deref(),
            earliest_end,
            latest_start,
            false,
        )?;
        self.decode(entries)
    }

    /// Every live session of `key`.
    pub fn fetch(&self, key: &K) -> StoreResult<Vec<(Windowed<K>, V)>> {
        self.find_sessions(key, 0, i64::MAX)
    }

    /// [`fetch`](Self::fetch) in reverse order.
    pub fn backward_fetch(&self, key: &K) -> StoreResult<Vec<(Windowed<K>, V)>> {
        self.backward_find_sessions(key, 0, i64::MAX)
    }

    /// Every live session of the keys in `[key_from, key_to]` (open where
    /// `None`).
    pub fn fetch_key_range(
        &self,
        key_from: Option<&K>,
        key_to: Option<&K>,
    ) -> StoreResult<Vec<(Windowed<K>, V)>> {
        self.find_sessions_range(key_from, key_to, 0, i64::MAX)
    }

    /// [`fetch_key_range`](Self::fetch_key_range) in reverse order.
    pub fn backward_fetch_key_range(
        &self,
        key_from: Option<&K>,
        key_to: Option<&K>,
    ) -> StoreResult<Vec<(Windowed<K>, V)>> {
        self.backward_find_sessions_range(key_from, key_to, 0, i64::MAX)
    }

    /// Whether the stack has a cache.
    pub fn is_cached(&self) -> bool {
        self.stack().is_ok_and(|s| s.is_cached())
    }

    /// Flushes the stack.
    pub fn flush(&self) -> StoreResult<()> {
        self.stack_mut()?.bytes_mut().flush()
    }

    fn decode_flushes(
        &self,
        entries: Vec<SessionFlushedEntry>,
    ) -> StoreResult<Vec<SessionTypedFlush<K, V>>> {
        let decode = |b: Option<Vec<u8>>| b.map(|b| self.decode_value(&b)).transpose();
        entries
            .into_iter()
            .map(|e| {
                Ok(SessionTypedFlush {
                    key: Windowed::new(
                        self.decode_key(&e.key)?,
                        Window::from_valid_bounds(e.start, e.end),
                    ),
                    new: decode(e.new_value)?,
                    old: decode(e.old_value)?,
                    timestamp: e.timestamp,
                    context: e.context,
                })
            })
            .collect()
    }

    /// Writes the cache's dirty entries down and returns them decoded.
    pub fn flush_cache(&self) -> StoreResult<Vec<SessionTypedFlush<K, V>>> {
        let entries = self.stack_mut()?.flush_entries()?;
        self.decode_flushes(entries)
    }

    /// What evictions wrote down since the last call, decoded.
    pub fn take_evicted(&self) -> StoreResult<Vec<SessionTypedFlush<K, V>>> {
        let entries = self.stack_mut()?.take_evicted();
        self.decode_flushes(entries)
    }

    /// The record context the cache stamps on the entries of the next
    /// writes (see [`CachingSessionStore::set_record_context`]); no-op
    /// without a cache.
    pub fn set_record_context(
        &self,
        metadata: Option<&RecordMetadata>,
        headers: &Headers,
    ) -> StoreResult<()> {
        self.stack_mut()?.set_record_context(metadata, headers);
        Ok(())
    }

    /// Whether the cache keeps what evictions write down for
    /// [`take_evicted`](Self::take_evicted) (see
    /// [`CachingSessionStore::set_retained_reports`]); no-op without a
    /// cache.
    pub fn set_retained_reports(&self, retain: bool) -> StoreResult<()> {
        self.stack_mut()?.set_retained_reports(retain);
        Ok(())
    }
}

/// Makes the byte store at the bottom of a session store (Kafka Streams'
/// `SessionBytesStoreSupplier`).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionBytesStoreSupplier {
    name: String,
    kind: StoreKind,
    retention_ms: i64,
    segment_interval_ms: i64,
    rocksdb: RocksDbConfig,
}

impl SessionBytesStoreSupplier {
    /// A supplier of `kind` session stores keeping sessions for
    /// `retention_ms` after their end (segment interval: Kafka's default).
    ///
    /// ```rust
    /// use streams_core::state::session::SessionBytesStoreSupplier;
    /// use streams_core::state::StoreKind;
    /// let s = SessionBytesStoreSupplier::new("s", StoreKind::RocksDb, 50).unwrap();
    /// assert_eq!(s.retention_ms(), 50);
    /// assert!(SessionBytesStoreSupplier::new("s", StoreKind::RocksDb, -1).is_err());
    /// ```
    pub fn new(name: impl Into<String>, kind: StoreKind, retention_ms: i64) -> StoreResult<Self> {
        let name = name.into();
        if retention_ms < 0 {
            return Err(StoreError::InvalidArgument {
                store: name,
                reason: "retention period cannot be negative".to_owned(),
            });
        }
        Ok(SessionBytesStoreSupplier {
            name,
            kind,
            retention_ms,
            segment_interval_ms: default_segment_interval(retention_ms),
            rocksdb: RocksDbConfig::default(),
        })
    }

    /// The store name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The retention period in ms.
    pub fn retention_ms(&self) -> i64 {
        self.retention_ms
    }
    /// Memory or RocksDB.
    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    /// Opens the byte store.
    pub fn get(&self, ctx: &StoreContext) -> StoreResult<Box<dyn SessionBytesStore>> {
        Ok(match self.kind {
            StoreKind::InMemory => Box::new(InMemorySessionStore::new(
                self.name.clone(),
                self.retention_ms,
            )),
            StoreKind::RocksDb => Box::new(RocksDbSessionStore::open(
                self.name.clone(),
                self.retention_ms,
                self.segment_interval_ms,
                &self.rocksdb,
                ctx.state_dir.clone(),
            )?),
        })
    }
}

/// Declares a session store (Kafka Streams' `SessionStoreBuilder`):
/// logging on, caching off by default.
pub struct SessionStoreBuilder<K, V> {
    supplier: SessionBytesStoreSupplier,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    caching: bool,
    cache_reports: bool,
    logging: bool,
    topic_config: BTreeMap<String, String>,
}

impl<K, V> std::fmt::Debug for SessionStoreBuilder<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStoreBuilder")
            .field("supplier", &self.supplier)
            .field("caching", &self.caching)
            .field("logging", &self.logging)
            .finish_non_exhaustive()
    }
}

impl<K, V> SessionStoreBuilder<K, V> {
    /// A builder over `supplier`'s bytes.
    pub fn new(
        supplier: SessionBytesStoreSupplier,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Self {
        let topic_config = windowed_changelog_config(&BTreeMap::new(), supplier.retention_ms);
        SessionStoreBuilder {
            supplier,
            key_serde,
            value_serde,
            caching: false,
            cache_reports: false,
            logging: true,
            topic_config,
        }
    }
    /// Puts a record cache in front of the store.
    pub fn with_caching_enabled(mut self) -> Self {
        self.caching = true;
        self
    }
    /// Removes the record cache.
    pub fn with_caching_disabled(mut self) -> Self {
        self.caching = false;
        self
    }
    /// Whether the cache keeps what evictions (and commit flushes) write
    /// down for the owner to forward. Off by default: the session
    /// aggregation turns it on when it forwards from its cache, and nobody
    /// takes a plain store's entries (a Kafka Streams cache without a flush
    /// listener), which would otherwise pile up for as long as it lives.
    ///
    /// ```rust
    /// use streams_core::serde::Serdes;
    /// use streams_core::state::{SessionStore, StoreContext, StoreFactory, Stores};
    /// use streams_core::window::{Window, Windowed};
    /// let mut ctx = StoreContext::new("app", "0_0", 0);
    /// ctx.cache_max_bytes = 1; // every put is evicted, and written down, at once
    /// let opened = Stores::session_store_builder(
    ///     Stores::in_memory_session_store("sessions", 50).unwrap(),
    ///     Serdes::string(),
    ///     Serdes::i64(),
    /// )
    /// .with_caching_enabled()
    /// .with_cache_reports(true)
    /// .build(&ctx)
    /// .unwrap();
    /// let store = opened.handle.downcast_ref::<SessionStore<String, i64>>().unwrap().clone();
    /// store.put(&Windowed::new("k".to_string(), Window::new(0, 20).unwrap()), Some(&2)).unwrap();
    /// assert_eq!(store.take_evicted().unwrap().len(), 1);
    /// ```
    pub fn with_cache_reports(mut self, retain: bool) -> Self {
        self.cache_reports = retain;
        self
    }
    /// Logs to the changelog, created with `config` over the windowed
    /// defaults.
    pub fn with_logging_enabled(mut self, config: BTreeMap<String, String>) -> Self {
        self.logging = true;
        self.topic_config = windowed_changelog_config(&config, self.supplier.retention_ms);
        self
    }
    /// Stops logging.
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }
    /// The byte-store supplier.
    pub fn supplier(&self) -> &SessionBytesStoreSupplier {
        &self.supplier
    }
}

impl<K: 'static, V: 'static> StoreFactory for SessionStoreBuilder<K, V> {
    fn name(&self) -> &str {
        &self.supplier.name
    }
    fn is_persistent(&self) -> bool {
        self.supplier.kind == StoreKind::RocksDb
    }
    fn logging_enabled(&self) -> bool {
        self.logging
    }
    fn caching_enabled(&self) -> bool {
        self.caching
    }
    fn logging_config(&self) -> Option<&BTreeMap<String, String>> {
        self.logging.then_some(&self.topic_config)
    }
    fn build(&self, ctx: &StoreContext) -> StoreResult<OpenedStore> {
        let name = self.supplier.name.clone();
        let topic = changelog_topic_name(&ctx.application_id, &name);
        let mut store = self.supplier.get(ctx)?;
        let mut changelog_topic = None;
        if let (true, Some(writer)) = (self.logging, &ctx.changelog) {
            store = Box::new(ChangeLoggingSessionBytesStore::new(
                store,
                topic.clone(),
                ctx.partition,
                Rc::clone(writer),
                Rc::clone(&ctx.timestamp),
            ));
            changelog_topic = Some(topic.clone());
        }
        let stack = if self.caching {
            SessionLayeredStore::with_cache(
                CachingSessionStore::new(store, ctx.cache_max_bytes, Rc::clone(&ctx.timestamp))
                    .with_retained_reports(self.cache_reports)
                    .with_cache_pool(ctx.cache_pool.clone()),
            )
        } else {
            SessionLayeredStore::new(store)
        };
        let stack = Rc::new(RefCell::new(stack));
        let handle: Rc<dyn Any> = Rc::new(SessionStore::new(
            Rc::clone(&stack),
            self.key_serde.clone(),
            self.value_serde.clone(),
            topic,
        ));
        Ok(OpenedStore {
            managed: Rc::new(RefCell::new(SessionManagedStore {
                name,
                changelog_topic,
                persistent: self.is_persistent(),
                stack,
            })),
            handle,
        })
    }
}

/// The [`ManagedStore`] of a session store.
pub struct SessionManagedStore {
    name: String,
    changelog_topic: Option<String>,
    persistent: bool,
    stack: Rc<RefCell<SessionLayeredStore>>,
}

impl std::fmt::Debug for SessionManagedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionManagedStore")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SessionManagedStore {
    fn stack_mut(&self) -> StoreResult<RefMut<'_, SessionLayeredStore>> {
        self.stack
            .try_borrow_mut()
            .map_err(|_| StoreError::InvalidArgument {
                store: self.name.clone(),
                reason: "the store is in use (re-entrant call)".to_owned(),
            })
    }
}

impl ManagedStore for SessionManagedStore {
    fn name(&self) -> &str {
        &self.name
    }
    fn changelog_topic(&self) -> Option<&str> {
        self.changelog_topic.as_deref()
    }
    fn persistent(&self) -> bool {
        self.persistent
    }
    fn flush(&mut self) -> StoreResult<()> {
        self.stack_mut()?.bytes_mut().flush()
    }
    fn close(&mut self) -> StoreResult<()> {
        self.stack_mut()?.bytes_mut().close()
    }
    fn restore_batch(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        self.stack_mut()?.bytes_mut().restore_all(records)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn is_cached(&self) -> bool {
        self.stack.try_borrow().is_ok_and(|s| s.is_cached())
    }
    fn flush_cache(&mut self) -> StoreResult<Vec<FlushedEntry>> {
        Ok(self
            .stack_mut()?
            .flush_entries()?
            .into_iter()
            .map(|e| FlushedEntry {
                key: session_store_key(&e.key, e.start, e.end),
                new_value: e.new_value,
                old_value: e.old_value,
                timestamp: e.timestamp,
                context: e.context,
            })
            .collect())
    }
}

impl Stores {
    /// A supplier of in-memory session stores (Kafka Streams'
    /// `Stores.inMemorySessionStore`).
    ///
    /// ```rust
    /// use streams_core::state::Stores;
    /// assert_eq!(Stores::in_memory_session_store("s", 50).unwrap().retention_ms(), 50);
    /// ```
    pub fn in_memory_session_store(
        name: impl Into<String>,
        retention_ms: i64,
    ) -> StoreResult<SessionBytesStoreSupplier> {
        SessionBytesStoreSupplier::new(name, StoreKind::InMemory, retention_ms)
    }

    /// A supplier of RocksDB session stores (Kafka Streams'
    /// `Stores.persistentSessionStore`).
    ///
    /// ```rust
    /// use streams_core::state::Stores;
    /// assert_eq!(Stores::persistent_session_store("s", 50).unwrap().name(), "s");
    /// ```
    pub fn persistent_session_store(
        name: impl Into<String>,
        retention_ms: i64,
    ) -> StoreResult<SessionBytesStoreSupplier> {
        SessionBytesStoreSupplier::new(name, StoreKind::RocksDb, retention_ms)
    }

    /// A builder of [`SessionStore`]s (logging on, caching off).
    ///
    /// ```rust
    /// use streams_core::serde::Serdes;
    /// use streams_core::state::{SessionStore, StoreContext, StoreFactory, Stores};
    /// use streams_core::window::{Window, Windowed};
    /// let builder = Stores::session_store_builder(
    ///     Stores::in_memory_session_store("sessions", 50).unwrap(),
    ///     Serdes::string(),
    ///     Serdes::i64(),
    /// );
    /// let opened = builder.build(&StoreContext::new("app", "0_0", 0)).unwrap();
    /// let store = opened.handle.downcast_ref::<SessionStore<String, i64>>().unwrap().clone();
    /// let session = Windowed::new("k".to_string(), Window::new(0, 20).unwrap());
    /// store.put(&session, Some(&2)).unwrap();
    /// assert_eq!(store.find_sessions(&"k".to_string(), 10, 30).unwrap(), vec![(session, 2)]);
    /// ```
    pub fn session_store_builder<K, V>(
        supplier: SessionBytesStoreSupplier,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> SessionStoreBuilder<K, V> {
        SessionStoreBuilder::new(supplier, key_serde, value_serde)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain cached session store (the Processor API's) keeps no
    /// write-downs for an owner, which would pile up for as long as it
    /// lives; it keeps them when told to (as the session aggregation does
    /// when it forwards from its cache).
    #[test]
    fn cached_session_stores_keep_write_downs_only_when_told() {
        use crate::serde::Serdes;
        use crate::state::{StoreContext, StoreFactory};
        // A budget of one byte: every put is evicted, and written down.
        let mut ctx = StoreContext::new("app", "0_0", 0);
        ctx.cache_max_bytes = 1;
        let written = |reports: Option<bool>| {
            let supplier = Stores::in_memory_session_store("s", 1_000).unwrap();
            let mut builder =
                Stores::session_store_builder(supplier, Serdes::string(), Serdes::i64())
                    .with_caching_enabled();
            if let Some(on) = reports {
                builder = builder.with_cache_reports(on);
            }
            let opened = builder.build(&ctx).unwrap();
            let store = opened.handle_as::<SessionStore<String, i64>>().unwrap();
            for (value, start, end) in [(1, 0, 10), (2, 20, 30)] {
                let session = Windowed::new("k".to_owned(), Window::new(start, end).unwrap());
                store.put(&session, Some(&value)).unwrap();
            }
            let kept = store
                .take_evicted()
                .unwrap()
                .into_iter()
                .map(|f| (f.key.window.start(), f.key.window.end(), f.new))
                .collect::<Vec<_>>();
            let found = store.find_sessions(&"k".to_owned(), 0, 30).unwrap();
            (
                kept,
                found
                    .into_iter()
                    .map(|(w, v)| (w.window.start(), v))
                    .collect::<Vec<_>>(),
            )
        };
        let all = vec![(0, 1), (20, 2)];
        assert_eq!(written(None), (vec![], all.clone()));
        assert_eq!(
            written(Some(true)),
            (vec![(0, 10, Some(1)), (20, 30, Some(2))], all)
        );
    }

    /// The same store on both implementations; every test that takes its
    /// stores from here runs on both.
    fn stores() -> Vec<Box<dyn SessionBytesStore>> {
        stores_with(100, 60_000)
    }

    fn stores_with(retention: i64, segment_interval: i64) -> Vec<Box<dyn SessionBytesStore>> {
        vec![
            Box::new(InMemorySessionStore::new("s", retention)),
            Box::new(
                RocksDbSessionStore::open(
                    "s",
                    retention,
                    segment_interval,
                    &RocksDbConfig::default(),
                    None,
                )
                .unwrap(),
            ),
        ]
    }

    fn kind(s: &dyn SessionBytesStore) -> &'static str {
        if s.persistent() { "rocksdb" } else { "memory" }
    }

    /// Every read of a cached store equals the read of the same store
    /// written directly, whatever the cache holds, flushes or evicts: keys
    /// of several lengths, sessions over several segments.
    #[test]
    fn cached_reads_equal_uncached_reads() {
        let keys: [&[u8]; 7] = [b"", b"a", b"a\0", b"ab", b"b", &[0, 0, 0, 5], &[0, 0, 1]];
        let mut seed = 7u64;
        let mut rng = move |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        for budget in [1 << 20, 500] {
            let plain = stores_with(1 << 40, 50_000);
            let cached = stores_with(1 << 40, 50_000);
            for (mut plain, store) in plain.into_iter().zip(cached) {
                let name = kind(&*plain);
                let ts = Rc::new(Cell::new(0));
                let mut cache = CachingSessionStore::new(store, budget, ts.clone());
                for step in 0..500 {
                    let key = keys[rng(keys.len() as u64) as usize];
                    let end = rng(300_000) as i64;
                    let start = end - rng(20_000) as i64;
                    let value = (rng(5) != 0).then(|| vec![b'v'; 1 + rng(4) as usize]);
                    ts.set(step);
                    plain.put(key, start, end, value.as_deref()).unwrap();
                    cache.put(key, start, end, value.as_deref()).unwrap();
                    if rng(50) == 0 {
                        cache.flush_entries().unwrap();
                    }
                    let earliest_end = rng(320_000) as i64 - 10_000;
                    let latest_start = earliest_end + rng(100_000) as i64;
                    let forward = rng(2) == 0;
                    let (kf, kt) = match rng(4) {
                        0 => (Some(key), Some(key)),
                        1 => (None, Some(keys[rng(keys.len() as u64) as usize])),
                        2 => (Some(keys[rng(keys.len() as u64) as usize]), None),
                        _ => {
                            let a = keys[rng(keys.len() as u64) as usize];
                            let b = keys[rng(keys.len() as u64) as usize];
                            (Some(a.min(b)), Some(a.max(b)))
                        }
                    };
                    assert_eq!(
                        cache
                            .find_sessions(kf, kt, earliest_end, latest_start, forward)
                            .unwrap(),
                        plain
                            .find_sessions(kf, kt, earliest_end, latest_start, forward)
                            .unwrap(),
                        "{name} step {step}: {kf:?}..{kt:?} {earliest_end}..{latest_start}"
                    );
                    assert_eq!(
                        cache
                            .find_sessions_by_end(earliest_end, latest_start)
                            .unwrap(),
                        plain
                            .find_sessions_by_end(earliest_end, latest_start)
                            .unwrap(),
                        "{name} step {step}: by end {earliest_end}..{latest_start}"
                    );
                    assert_eq!(
                        cache.fetch_session(key, start, end).unwrap(),
                        plain.fetch_session(key, start, end).unwrap(),
                        "{name} step {step}: fetch"
                    );
                }
            }
        }
    }

    /// `key@start/end=value` of each entry.
    fn render(entries: &[SessionEntry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| {
                format!(
                    "{}@{}/{}={}",
                    String::from_utf8_lossy(&e.key),
                    e.start,
                    e.end,
                    String::from_utf8_lossy(&e.value)
                )
            })
            .collect()
    }

    #[test]
    fn find_sessions_uses_inclusive_bounds() {
        for mut s in stores() {
            s.put(b"a", 0, 0, Some(b"1")).unwrap();
            s.put(b"a", 10, 20, Some(b"2")).unwrap();
            s.put(b"b", 5, 5, Some(b"3")).unwrap();
            let found = s
                .find_sessions(Some(b"a"), Some(b"a"), 0, 10, true)
                .unwrap();
            let bounds: Vec<(i64, i64)> = found.iter().map(|e| (e.start, e.end)).collect();
            assert_eq!(bounds, vec![(0, 0), (10, 20)]);
            let found = s.find_sessions(Some(b"a"), Some(b"a"), 1, 9, true).unwrap();
            assert!(found.is_empty());
            s.put(b"a", 0, 0, None).unwrap();
            assert_eq!(s.fetch_session(b"a", 0, 0).unwrap(), None);
            assert_eq!(s.fetch_session(b"a", 10, 20).unwrap(), Some(b"2".to_vec()));
        }
    }

    #[test]
    fn expired_sessions_are_skipped_and_hidden() {
        for mut s in stores() {
            s.put(b"a", 0, 0, Some(b"1")).unwrap();
            s.put(b"a", 150, 150, Some(b"2")).unwrap();
            // 0 <= 150 - 100: expired for reads.
            assert_eq!(s.fetch_session(b"a", 0, 0).unwrap(), None);
            s.put(b"a", 40, 40, Some(b"3")).unwrap();
            assert_eq!(s.fetch_session(b"a", 40, 40).unwrap(), None);
            let all = s.find_sessions(None, None, 0, i64::MAX, true).unwrap();
            assert_eq!(all.len(), 1);
        }
    }

    #[test]
    fn session_key_layout() {
        let k = session_store_key(b"ab", 1, 2);
        assert_eq!(split_session_store_key(&k), Some((&b"ab"[..], 1, 2)));
        assert_eq!(split_session_store_key(b"short"), None);
    }

    #[test]
    fn find_sessions_forward_and_backward_over_keys_and_segments() {
        // Segments of 100 ms over the session end.
        for mut s in stores_with(1_000, 100) {
            let name = kind(s.as_ref());
            for (k, start, end) in [
                ("b", 150, 210),
                ("a", 0, 10),
                ("aa", 5, 10),
                ("a", 20, 30),
                ("b", 0, 10),
                ("a", 120, 150),
                ("aa", 250, 260),
                ("a", 300, 300),
            ] {
                s.put(
                    k.as_bytes(),
                    start,
                    end,
                    Some(format!("{start}-{end}").as_bytes()),
                )
                .unwrap();
            }
            let forward = |s: &dyn SessionBytesStore, from: Option<&[u8]>, to, e, l| {
                render(&s.find_sessions(from, to, e, l, true).unwrap())
            };
            // One key: by end (in memory, a key's sessions with one end come
            // latest start first; RocksDB by segment, then end, then start).
            assert_eq!(
                forward(s.as_ref(), Some(b"a"), Some(b"a"), 0, i64::MAX),
                vec![
                    "a@0/10=0-10",
                    "a@20/30=20-30",
                    "a@120/150=120-150",
                    "a@300/300=300-300"
                ],
                "{name}"
            );
            // end >= 30 and start <= 120, both inclusive.
            assert_eq!(
                forward(s.as_ref(), Some(b"a"), Some(b"a"), 30, 120),
                vec!["a@20/30=20-30", "a@120/150=120-150"],
                "{name}"
            );
            let expected_range = match name {
                // By end, then key.
                "memory" => vec![
                    "a@0/10=0-10",
                    "aa@5/10=5-10",
                    "b@0/10=0-10",
                    "a@20/30=20-30",
                    "a@120/150=120-150",
                    "b@150/210=150-210",
                    "aa@250/260=250-260",
                ],
                // By segment of the end, then key bytes.
                _ => vec![
                    "a@0/10=0-10",
                    "a@20/30=20-30",
                    "aa@5/10=5-10",
                    "b@0/10=0-10",
                    "a@120/150=120-150",
                    "aa@250/260=250-260",
                    "b@150/210=150-210",
                ],
            };
            assert_eq!(
                forward(s.as_ref(), Some(b"a"), Some(b"b"), 0, 299),
                expected_range,
                "{name}"
            );
            for (from, to, e, l) in [
                (Some(&b"a"[..]), Some(&b"a"[..]), 0, i64::MAX),
                (Some(b"a"), Some(b"b"), 0, 299),
                (Some(b"aa"), None, 10, 250),
                (None, Some(b"aa"), 11, 400),
                (None, None, 0, i64::MAX),
            ] {
                let f = s.find_sessions(from, to, e, l, true).unwrap();
                let mut b = s.find_sessions(from, to, e, l, false).unwrap();
                b.reverse();
                assert_eq!(b, f, "{name} backward {from:?}..{to:?} {e}..{l}");
                for entry in &f {
                    assert!(from.is_none_or(|x| entry.key.as_slice() >= x), "{name}");
                    assert!(to.is_none_or(|x| entry.key.as_slice() <= x), "{name}");
                    assert!(entry.end >= e && entry.start <= l, "{name}");
                }
            }
            assert!(
                s.find_sessions(Some(b"b"), Some(b"a"), 0, i64::MAX, true)
                    .unwrap()
                    .is_empty(),
                "{name}: an inverted key range is empty"
            );
        }
    }

    #[test]
    fn remove_deletes_one_session_only() {
        for mut s in stores() {
            let name = kind(s.as_ref());
            s.put(b"a", 0, 10, Some(b"x")).unwrap();
            s.put(b"a", 5, 10, Some(b"y")).unwrap();
            s.put(b"a", 12, 20, Some(b"z")).unwrap();
            s.put(b"a", 5, 10, None).unwrap();
            // Removing a session that is not there is a no-op.
            s.put(b"a", 1, 2, None).unwrap();
            s.put(b"b", 0, 10, None).unwrap();
            assert_eq!(s.fetch_session(b"a", 5, 10).unwrap(), None, "{name}");
            assert_eq!(
                s.fetch_session(b"a", 0, 10).unwrap(),
                Some(b"x".to_vec()),
                "{name}"
            );
            assert_eq!(
                render(
                    &s.find_sessions(Some(b"a"), Some(b"a"), 0, 100, true)
                        .unwrap()
                ),
                vec!["a@0/10=x", "a@12/20=z"],
                "{name}"
            );
        }
    }

    #[test]
    fn find_sessions_by_end_is_bounded_by_end_on_both_sides() {
        for mut s in stores_with(1_000, 100) {
            let name = kind(s.as_ref());
            for (k, start, end) in [
                ("b", 0, 10),
                ("a", 0, 10),
                ("a", 5, 99),
                ("a", 90, 100),
                ("c", 50, 250),
            ] {
                s.put(k.as_bytes(), start, end, Some(b"v")).unwrap();
            }
            let ends =
                |from, to| -> Vec<String> { render(&s.find_sessions_by_end(from, to).unwrap()) };
            assert_eq!(
                ends(10, 100),
                vec!["a@0/10=v", "b@0/10=v", "a@5/99=v", "a@90/100=v"],
                "{name}"
            );
            assert_eq!(ends(11, 99), vec!["a@5/99=v"], "{name}");
            assert_eq!(ends(101, 249), Vec::<String>::new(), "{name}");
            assert_eq!(ends(0, i64::MAX).len(), 5, "{name}");
        }
    }

    #[test]
    fn expired_session_segments_are_dropped_whole() {
        // retention 250, segments of 100 over the session end.
        for mut s in stores_with(250, 100) {
            let name = kind(s.as_ref());
            s.put(b"k", 0, 10, Some(b"a")).unwrap();
            s.put(b"k", 100, 120, Some(b"b")).unwrap();
            s.put(b"k", 130, 150, Some(b"c")).unwrap();
            s.put(b"k", 200, 230, Some(b"d")).unwrap();
            // Stream time 400: sessions ending at or before 150 have expired.
            s.put(b"j", 400, 400, Some(b"e")).unwrap();
            for (start, end, live) in [
                (0, 10, false),
                (100, 120, false),
                (130, 150, false),
                (200, 230, true),
            ] {
                assert_eq!(
                    s.fetch_session(b"k", start, end).unwrap().is_some(),
                    live,
                    "{name} {start}/{end}"
                );
            }
            assert_eq!(
                render(&s.find_sessions(None, None, 0, i64::MAX, true).unwrap()),
                vec!["k@200/230=d", "j@400/400=e"],
                "{name}"
            );
            // An expired session is not stored.
            s.put(b"k", 140, 150, Some(b"late")).unwrap();
            assert_eq!(s.fetch_session(b"k", 140, 150).unwrap(), None, "{name}");
        }
        let mut rocks =
            RocksDbSessionStore::open("s", 250, 100, &RocksDbConfig::default(), None).unwrap();
        for end in [10, 120, 230] {
            rocks.put(b"k", end, end, Some(b"x")).unwrap();
        }
        assert_eq!(rocks.segment_ids(), vec![0, 1, 2]);
        rocks.put(b"k", 350, 350, Some(b"x")).unwrap();
        // segment_id(350 - 250 = 100) = 1: segment 0 goes whole.
        assert_eq!(rocks.segment_ids(), vec![1, 2, 3]);
        rocks.put(b"k", 650, 650, Some(b"x")).unwrap();
        assert_eq!(rocks.segment_ids(), vec![6]);
    }

    #[test]
    fn logging_writes_session_keys_with_the_record_timestamp() {
        for inner in stores() {
            let name = kind(inner.as_ref());
            let (log, writer) = crate::state::RecordingChangelog::shared();
            let ts = Rc::new(Cell::new(7));
            let mut s = ChangeLoggingSessionBytesStore::new(
                inner,
                "app-s-changelog",
                2,
                writer,
                ts.clone(),
            );
            s.put(b"k", 1, 5, Some(b"agg")).unwrap();
            ts.set(9);
            s.put(b"k", 1, 5, None).unwrap();
            assert_eq!(s.fetch_session(b"k", 1, 5).unwrap(), None, "{name}");
            let records = log.borrow().records().to_vec();
            assert_eq!(records.len(), 2, "{name}");
            assert_eq!(records[0].key, session_store_key(b"k", 1, 5), "{name}");
            assert_eq!(records[0].value.as_deref(), Some(&b"agg"[..]), "{name}");
            assert_eq!(
                (records[0].timestamp, records[0].partition),
                (7, 2),
                "{name}"
            );
            assert_eq!(
                (records[1].value.clone(), records[1].timestamp),
                (None, 9),
                "{name}"
            );
        }
    }

    #[test]
    fn restore_puts_changelog_records_back() {
        for mut s in stores() {
            let name = kind(s.as_ref());
            s.restore_all(&[
                (session_store_key(b"k", 0, 10), Some(b"a".to_vec()), 10),
                (session_store_key(b"k", 20, 30), Some(b"b".to_vec()), 30),
                (session_store_key(b"k", 0, 10), None, 30),
            ])
            .unwrap();
            assert_eq!(
                render(&s.find_sessions(None, None, 0, i64::MAX, true).unwrap()),
                vec!["k@20/30=b"],
                "{name}"
            );
            assert!(
                s.restore_all(&[(b"short".to_vec(), None, 0)]).is_err(),
                "{name}"
            );
        }
    }

    #[test]
    fn cache_dedups_until_flush_and_merges_over_the_store() {
        for store in stores() {
            let name = kind(store.as_ref());
            let ts = Rc::new(Cell::new(1));
            let mut cache = CachingSessionStore::new(store, 1 << 20, ts.clone());
            cache.put(b"k", 0, 0, Some(b"1")).unwrap();
            ts.set(2);
            // The merge of a session: the old one removed, the new one put.
            cache.put(b"k", 0, 0, None).unwrap();
            cache.put(b"k", 0, 5, Some(b"2")).unwrap();
            // Never written down: its delete is skipped.
            cache.put(b"gone", 1, 1, Some(b"x")).unwrap();
            cache.put(b"gone", 1, 1, None).unwrap();
            assert_eq!(
                render(
                    &cache
                        .find_sessions(Some(b"k"), Some(b"k"), 0, 10, true)
                        .unwrap()
                ),
                vec!["k@0/5=2"],
                "{name}"
            );
            let flushed = cache.flush_entries().unwrap();
            assert_eq!(
                flushed
                    .iter()
                    .map(|e| (
                        e.key.clone(),
                        e.start,
                        e.end,
                        e.new_value.clone(),
                        e.old_value.clone(),
                        e.timestamp
                    ))
                    .collect::<Vec<_>>(),
                vec![(b"k".to_vec(), 0, 5, Some(b"2".to_vec()), None, 2)],
                "{name}"
            );
            assert_eq!(
                cache.fetch_session(b"k", 0, 5).unwrap(),
                Some(b"2".to_vec()),
                "{name}"
            );
            ts.set(3);
            cache.put(b"k", 0, 5, None).unwrap();
            cache.put(b"k", 0, 8, Some(b"3")).unwrap();
            // The cached delete hides the stored session.
            assert_eq!(
                render(&cache.find_sessions(None, None, 0, i64::MAX, false).unwrap()),
                vec!["k@0/8=3"],
                "{name}"
            );
            let flushed = cache.flush_entries().unwrap();
            assert_eq!(
                flushed
                    .iter()
                    .map(|e| (e.end, e.new_value.clone(), e.old_value.clone()))
                    .collect::<Vec<_>>(),
                vec![
                    (5, None, Some(b"2".to_vec())),
                    (8, Some(b"3".to_vec()), None)
                ],
                "{name}"
            );
            assert!(cache.flush_entries().unwrap().is_empty(), "{name}");
            // Evictions write everything dirty down.
            let store = stores()
                .into_iter()
                .find(|s| kind(s.as_ref()) == name)
                .unwrap();
            let mut small = CachingSessionStore::new(store, 80, ts.clone());
            small.put(b"a", 0, 0, Some(b"1")).unwrap();
            small.put(b"b", 0, 0, Some(b"2")).unwrap();
            assert_eq!(
                small
                    .take_evicted()
                    .iter()
                    .map(|e| e.key.clone())
                    .collect::<Vec<_>>(),
                vec![b"a".to_vec(), b"b".to_vec()],
                "{name}"
            );
        }
    }

    #[test]
    fn a_closed_session_store_refuses_reads_and_writes() {
        for mut s in stores() {
            let name = kind(s.as_ref());
            s.close().unwrap();
            assert!(
                matches!(s.put(b"k", 0, 0, Some(b"v")), Err(StoreError::Closed(_))),
                "{name}"
            );
            assert!(
                matches!(s.fetch_session(b"k", 0, 0), Err(StoreError::Closed(_))),
                "{name}"
            );
            assert!(
                matches!(
                    s.find_sessions(None, None, 0, 1, true),
                    Err(StoreError::Closed(_))
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn typed_session_store_reads_both_ways_on_both_kinds() {
        use crate::serde::Serdes;
        for kind in [StoreKind::InMemory, StoreKind::RocksDb] {
            let supplier = SessionBytesStoreSupplier::new("s", kind, 1_000).unwrap();
            let builder = SessionStoreBuilder::new(supplier, Serdes::string(), Serdes::i64())
                .with_caching_enabled();
            let opened = builder.build(&StoreContext::new("app", "0_0", 0)).unwrap();
            let store = opened
                .handle
                .downcast_ref::<SessionStore<String, i64>>()
                .unwrap()
                .clone();
            let w =
                |k: &str, start, end| Windowed::new(k.to_owned(), Window::new(start, end).unwrap());
            store.put(&w("a", 0, 10), Some(&1)).unwrap();
            store.put(&w("a", 20, 30), Some(&2)).unwrap();
            store.put(&w("b", 5, 5), Some(&3)).unwrap();
            store.flush().unwrap();
            store.put(&w("a", 40, 40), Some(&4)).unwrap();
            store.remove(&w("a", 20, 30)).unwrap();
            let a = "a".to_owned();
            let b = "b".to_owned();
            assert_eq!(
                store.fetch(&a).unwrap(),
                vec![(w("a", 0, 10), 1), (w("a", 40, 40), 4)],
                "{kind:?}"
            );
            assert_eq!(
                store.backward_fetch(&a).unwrap(),
                vec![(w("a", 40, 40), 4), (w("a", 0, 10), 1)],
                "{kind:?}"
            );
            assert_eq!(
                store.find_sessions(&a, 10, 39).unwrap(),
                vec![(w("a", 0, 10), 1)],
                "{kind:?}"
            );
            assert_eq!(store.fetch_session(&a, 20, 30).unwrap(), None, "{kind:?}");
            let range = store.fetch_key_range(Some(&a), Some(&b)).unwrap();
            let mut back = store.backward_fetch_key_range(Some(&a), Some(&b)).unwrap();
            back.reverse();
            assert_eq!(back, range, "{kind:?}");
            assert_eq!(range.len(), 3, "{kind:?}");
        }
    }
}
