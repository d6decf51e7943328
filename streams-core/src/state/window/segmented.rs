//! Time-segmented RocksDB stores (Kafka Streams'
//! `AbstractRocksDBSegmentedBytesStore` over `KeyValueSegments`).
//!
//! A segmented store keeps one RocksDB database per time segment of
//! `segment_interval` ms; an entry goes to the segment of its time (a
//! window's start, a session's end). Segment `id` holds times in
//! `[id * interval, (id + 1) * interval)` and is named
//! `<store>.<id * interval>`. When stream time moves on, every segment whose
//! id is below `segment_id(stream time - retention)` is closed and deleted
//! whole: expiring old data costs a directory removal, not a scan.
//!
//! Directory layout: with a task state directory `<state>`, segment `s` of
//! store `n` lives in `<state>/<n>/rocksdb/<s>` (Kafka uses `<state>/<n>/<s>`;
//! the extra `rocksdb` level comes from the key-value store this reuses).
//! Existing segments are reopened when the store opens.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver};

use super::recent::RecentIndex;
use super::{
    WINDOW_SEQNUM_SIZE, WINDOW_TIMESTAMP_SIZE, WindowBytesStore, WindowEntry, WindowOrder,
    WindowVisitor, WindowWrite, key_in_range, split_window_store_key, window_store_key,
    write_window_store_key,
};
use ::rocksdb::WriteBatch;

use crate::state::background::Pending;
use crate::state::rocksdb::{KeyLayout, ROCKSDB_DIR, RocksDbConfig, RocksDbKeyValueStore};
use crate::state::{
    KeyValueBytesStore, StateStore, StoreError, StoreResult, TimestampedBytesWrite,
};

/// An inclusive upper bound of the store keys `[key][start][seqnum]` of
/// every record key `<= key_to` (as bytes) with a start in `[0, time_to]`.
///
/// `key_to` followed by the largest suffix bounds `key_to` itself and every
/// key that differs from it at some byte (that byte is smaller), but not
/// the keys that are proper prefixes of `key_to`: their suffix is compared
/// with `key_to`'s remaining bytes. So the bound is the largest of
/// `prefix + [time_to][0xFF; 4]` over every prefix of `key_to` (itself
/// included). For fixed-size keys and ordinary timestamps that is `key_to`
/// itself; Kafka Streams' `OrderedBytes.upperRange` approximates the same
/// bound.
pub(crate) fn key_range_upper(key_to: &[u8], time_to: i64) -> Vec<u8> {
    let mut suffix = [0xFF; WINDOW_TIMESTAMP_SIZE + WINDOW_SEQNUM_SIZE];
    suffix[..WINDOW_TIMESTAMP_SIZE].copy_from_slice(&time_to.to_be_bytes());
    let mut best = key_to.len();
    for len in (0..key_to.len()).rev() {
        let candidate = key_to[..len].iter().chain(&suffix);
        if candidate.gt(key_to[..best].iter().chain(&suffix)) {
            best = len;
        }
    }
    let mut out = Vec::with_capacity(best + suffix.len());
    out.extend_from_slice(&key_to[..best]);
    out.extend_from_slice(&suffix);
    out
}

/// The time segments of one store.
pub(crate) struct Segments {
    name: String,
    retention_ms: i64,
    interval: i64,
    config: RocksDbConfig,
    /// Parent of the segments' databases; `None` gives each segment a
    /// temporary directory.
    state_dir: Option<PathBuf>,
    layout: KeyLayout,
    segments: BTreeMap<i64, RocksDbKeyValueStore>,
    /// Expired segments being closed and deleted, and the next segment
    /// being opened, on the background thread (see
    /// [`background`](crate::state::background)).
    background: Pending,
    /// The segment after the newest, opened ahead of the first write that
    /// needs it: its id and where its database arrives. It is not part of
    /// the store (not in `segments`, `ids` or any read) until then.
    ahead: Option<(i64, Receiver<StoreResult<RocksDbKeyValueStore>>)>,
}

impl std::fmt::Debug for Segments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segments")
            .field("name", &self.name)
            .field("interval", &self.interval)
            .field("segments", &self.segments.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Segments {
    pub(crate) fn open(
        name: &str,
        retention_ms: i64,
        interval: i64,
        config: &RocksDbConfig,
        state_dir: Option<PathBuf>,
    ) -> StoreResult<Self> {
        Self::open_with_layout(
            name,
            retention_ms,
            interval,
            config,
            state_dir,
            KeyLayout::Plain,
        )
    }

    /// [`open`](Self::open) with segments whose memtables suit `layout`.
    pub(crate) fn open_with_layout(
        name: &str,
        retention_ms: i64,
        interval: i64,
        config: &RocksDbConfig,
        state_dir: Option<PathBuf>,
        layout: KeyLayout,
    ) -> StoreResult<Self> {
        let mut segments = Segments {
            name: name.to_owned(),
            retention_ms,
            interval: interval.max(1),
            config: config.clone(),
            state_dir: state_dir.map(|d| d.join(name)),
            layout,
            segments: BTreeMap::new(),
            background: Pending::default(),
            ahead: None,
        };
        segments.open_existing()?;
        Ok(segments)
    }

    /// Reopens the segments a previous run left in the state directory.
    fn open_existing(&mut self) -> StoreResult<()> {
        let Some(parent) = &self.state_dir else {
            return Ok(());
        };
        let dir = parent.join(ROCKSDB_DIR);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(StoreError::Io {
                    store: self.name.clone(),
                    source,
                });
            }
        };
        let prefix = format!("{}.", self.name);
        let mut ids: Vec<i64> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let file = e.file_name().to_string_lossy().into_owned();
                let start: i64 = file.strip_prefix(&prefix)?.parse().ok()?;
                Some(start / self.interval)
            })
            .collect();
        ids.sort_unstable();
        for id in ids {
            self.get_or_create(id)?;
        }
        Ok(())
    }

    pub(crate) fn interval(&self) -> i64 {
        self.interval
    }

    /// The ids of the open segments, oldest first.
    pub(crate) fn ids(&self) -> Vec<i64> {
        self.segments.keys().copied().collect()
    }

    pub(crate) fn segment_id(&self, timestamp: i64) -> i64 {
        timestamp / self.interval
    }

    fn segment_name(&self, id: i64) -> String {
        format!("{}.{}", self.name, id.saturating_mul(self.interval))
    }

    fn get_or_create(&mut self, id: i64) -> StoreResult<&mut RocksDbKeyValueStore> {
        if !self.segments.contains_key(&id) {
            let newest = self.segments.last_key_value().is_none_or(|(&n, _)| id > n);
            let store = match self.ahead.take() {
                Some((ahead, arriving)) if ahead == id => match arriving.recv() {
                    Ok(opened) => opened?,
                    // The job died before sending: open it here.
                    Err(_) => self.open_segment(id)?,
                },
                other => {
                    // Stream time jumped past the segment opened ahead.
                    self.drop_ahead(other);
                    self.open_segment(id)?
                }
            };
            self.segments.insert(id, store);
            if newest {
                self.open_ahead(id.saturating_add(1));
            }
        }
        self.segments
            .get_mut(&id)
            .ok_or_else(|| StoreError::Closed(self.name.clone()))
    }

    fn open_segment(&self, id: i64) -> StoreResult<RocksDbKeyValueStore> {
        RocksDbKeyValueStore::open_with_layout(
            self.segment_name(id),
            self.state_dir.as_deref(),
            &self.config,
            self.layout,
        )
    }

    /// Starts opening segment `id` on the background thread. Stream time
    /// moves forward, so the segment after the newest is the next one a
    /// write creates, and its open (milliseconds of file writes and syncs)
    /// then no longer holds up the stream thread.
    fn open_ahead(&mut self, id: i64) {
        let (name, state_dir) = (self.segment_name(id), self.state_dir.clone());
        let (config, layout) = (self.config.clone(), self.layout);
        let (tx, rx) = mpsc::channel();
        self.background.run(move || {
            let opened =
                RocksDbKeyValueStore::open_with_layout(name, state_dir.as_deref(), &config, layout);
            // The store may have closed meanwhile and dropped the receiver.
            if let Err(mpsc::SendError(Ok(store))) = tx.send(opened) {
                store.wipe_job()();
            }
        });
        self.ahead = Some((id, rx));
    }

    /// Deletes a segment opened ahead that the store will not use, so that
    /// the state directory holds the store's segments only. On the
    /// background thread, after the open (jobs run in order).
    fn drop_ahead(&mut self, ahead: Option<(i64, Receiver<StoreResult<RocksDbKeyValueStore>>)>) {
        if let Some((_, arriving)) = ahead {
            self.background.run(move || {
                if let Ok(Ok(store)) = arriving.recv() {
                    store.wipe_job()();
                }
            });
        }
    }

    /// The segment `id` if it is still live at `stream_time`, created if
    /// needed; expired segments are dropped on the way.
    pub(crate) fn get_or_create_if_live(
        &mut self,
        id: i64,
        stream_time: i64,
    ) -> StoreResult<Option<&mut RocksDbKeyValueStore>> {
        let min_live = self.segment_id(stream_time.saturating_sub(self.retention_ms));
        if id < min_live {
            return Ok(None);
        }
        self.get_or_create(id)?;
        self.cleanup_expired(stream_time)?;
        Ok(self.segments.get_mut(&id))
    }

    fn cleanup_expired(&mut self, stream_time: i64) -> StoreResult<()> {
        let min_live = self.segment_id(stream_time.saturating_sub(self.retention_ms));
        // Called on every put: only split the map when a segment expired
        // (splitting allocates a new tree each time).
        if self
            .segments
            .first_key_value()
            .is_none_or(|(&oldest, _)| oldest >= min_live)
        {
            return Ok(());
        }
        let live = self.segments.split_off(&min_live);
        let expired = std::mem::replace(&mut self.segments, live);
        for (_, segment) in expired {
            self.background.run(segment.wipe_job());
        }
        Ok(())
    }

    pub(crate) fn segment_for(&self, timestamp: i64) -> Option<&RocksDbKeyValueStore> {
        self.segments.get(&self.segment_id(timestamp))
    }

    pub(crate) fn segment_for_mut(&mut self, timestamp: i64) -> Option<&mut RocksDbKeyValueStore> {
        let id = self.segment_id(timestamp);
        self.segments.get_mut(&id)
    }

    /// The segments covering `[time_from, time_to]`, in time order or
    /// reverse.
    pub(crate) fn search(
        &self,
        time_from: i64,
        time_to: i64,
        forward: bool,
    ) -> Vec<&RocksDbKeyValueStore> {
        let (from, to) = (self.segment_id(time_from), self.segment_id(time_to));
        if from > to {
            return Vec::new();
        }
        let range = self.segments.range(from..=to).map(|(_, s)| s);
        if forward {
            range.collect()
        } else {
            range.rev().collect()
        }
    }

    pub(crate) fn flush(&mut self) -> StoreResult<()> {
        for segment in self.segments.values_mut() {
            segment.flush()?;
        }
        Ok(())
    }

    pub(crate) fn close(&mut self) -> StoreResult<()> {
        let mut first = Ok(());
        for segment in self.segments.values_mut() {
            let closed = segment.close();
            if first.is_ok() {
                first = closed;
            }
        }
        self.segments.clear();
        // Whoever opens these directories next must not meet a segment
        // still being opened or deleted.
        let ahead = self.ahead.take();
        self.drop_ahead(ahead);
        self.background.wait();
        first
    }
}

impl Drop for Segments {
    fn drop(&mut self) {
        let ahead = self.ahead.take();
        self.drop_ahead(ahead);
        self.background.wait();
    }
}

/// A window byte store in time-segmented RocksDB databases (Kafka Streams'
/// `RocksDBWindowStore` over `RocksDBSegmentedBytesStore`).
#[derive(Debug)]
pub struct RocksDbWindowStore {
    name: String,
    retention_ms: i64,
    window_size_ms: i64,
    retain_duplicates: bool,
    time_ordered: bool,
    seqnum: u32,
    observed_stream_time: i64,
    /// No entry of the databases has a start above this: the largest start
    /// any write was asked for, and at open the end of the newest segment a
    /// previous run left. A read of newer windows answers "nothing" without
    /// RocksDB. That is the common read of a cached store, whose cache
    /// holds the newest windows and writes down only evicted (old) ones and
    /// commits: a caching store's window reads each opened a RocksDB
    /// iterator or made a get (the range reads were 12 % of
    /// `streamprocesswithwindowstore`'s stream thread) to find nothing.
    stored_upper: i64,
    /// The newest entries by record key, for a store that retains
    /// duplicates (a join's, probed one record key at a time): see
    /// [`recent`](super::recent).
    recent: Option<RecentIndex>,
    /// Writes not yet handed to RocksDB, while `recent` answers the reads
    /// they matter to (see [`BatchedWrites`]).
    batched: RefCell<BatchedWrites>,
    /// The last put's store-key buffer, reused by the next put.
    key_buf: Vec<u8>,
    segments: Segments,
    open: bool,
}

/// Puts of a store with an index of its newest entries, gathered into one
/// RocksDB write per [`MAX_BATCHED_WRITES`] (or per segment change).
///
/// Each single put paid RocksDB's whole write path (a write batch of one,
/// the write thread's group commit, the sequence number's publication)
/// around its memtable insert: once the index took the join's reads, the
/// puts were more than half of a stream-stream join task's time, and that
/// path a third of them. Nothing reads these writes from RocksDB before
/// they land: the index answers the join's probes, and every read that goes
/// to RocksDB (an older or a key-range fetch, a point read, a scan, a
/// restore) and every flush, close and drop writes them first. The
/// write-ahead log is off, so a crash loses what RocksDB's memtables hold
/// either way; the changelog has every write.
#[derive(Default)]
struct BatchedWrites {
    segment: i64,
    batch: WriteBatch,
    len: usize,
}

impl std::fmt::Debug for BatchedWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchedWrites")
            .field("segment", &self.segment)
            .field("len", &self.len)
            .finish()
    }
}

/// Puts per RocksDB write of a store whose reads the index answers.
const MAX_BATCHED_WRITES: usize = 128;

impl RocksDbWindowStore {
    /// Opens the store `name`; segments go under `state_dir` (see the module
    /// docs) or in temporary directories when it is `None`.
    ///
    /// `time_ordered` lists multi-key results by window start first, as the
    /// time-ordered store Kafka Streams uses for emit-on-window-close
    /// aggregations does.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        name: impl Into<String>,
        retention_ms: i64,
        window_size_ms: i64,
        retain_duplicates: bool,
        segment_interval_ms: i64,
        time_ordered: bool,
        config: &RocksDbConfig,
        state_dir: Option<PathBuf>,
    ) -> StoreResult<Self> {
        let name = name.into();
        // The stores that retain duplicates (a stream-stream join's) are
        // read one record key's run at a time (see
        // `KeyLayout::WindowKeyFirst`). Not the others: a key-range fetch
        // (as interactive queries and processors make on window stores)
        // needs a total order, which a hashed memtable can only give by
        // sorting a copy of itself.
        let layout = if retain_duplicates && !time_ordered {
            KeyLayout::WindowKeyFirst
        } else if !retain_duplicates && !time_ordered {
            KeyLayout::WindowPoint
        } else {
            KeyLayout::Plain
        };
        let segments = Segments::open_with_layout(
            &name,
            retention_ms,
            segment_interval_ms,
            config,
            state_dir,
            layout,
        )?;
        let stored_upper = match segments.segments.last_key_value() {
            Some((&id, _)) => id
                .saturating_add(1)
                .saturating_mul(segments.interval())
                .saturating_sub(1),
            None => i64::MIN,
        };
        // A quarter of a write buffer: the index holds the live windows
        // (retention) of one store, a join side's records of the last
        // `before + after + grace` ms.
        let recent = (layout == KeyLayout::WindowKeyFirst)
            .then(|| RecentIndex::new(stored_upper, config.write_buffer_size / 4));
        Ok(RocksDbWindowStore {
            name,
            retention_ms,
            window_size_ms,
            retain_duplicates,
            time_ordered,
            seqnum: 0,
            observed_stream_time: -1,
            stored_upper,
            recent,
            batched: RefCell::default(),
            key_buf: Vec::new(),
            segments,
            open: true,
        })
    }

    /// The segment interval in ms.
    pub fn segment_interval(&self) -> i64 {
        self.segments.interval()
    }

    /// The oldest window start the in-memory index of newest entries
    /// answers one-key fetches from, or `None` when it answers none.
    #[cfg(test)]
    pub(crate) fn indexed_from(&self) -> Option<i64> {
        self.recent
            .as_ref()
            .map(|r| r.floor().saturating_add(1))
            .filter(|&from| from != i64::MAX)
    }

    /// The ids of the segments currently open, oldest first.
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

    /// What answers a read of keys in `[key_from, key_to]` over
    /// `[time_from, time_to]`: nothing (inverted bounds, or a one-key read
    /// the index covers whose live range is empty), the index of newest
    /// entries (one key, a time range it covers), or a scan of the
    /// segments from the first live start on. `fetch_range` and
    /// `visit_range` share it, so they always read the same source.
    fn read_source<'a>(
        &'a self,
        key_from: Option<&'a [u8]>,
        key_to: Option<&'a [u8]>,
        time_from: i64,
        time_to: i64,
    ) -> StoreResult<ReadSource<'a>> {
        self.check_open()?;
        if let (Some(f), Some(t)) = (key_from, key_to)
            && f > t
        {
            return Ok(ReadSource::Nothing);
        }
        let from = self.actual_from(time_from);
        if let (Some(key), Some(t), Some(index)) = (key_from, key_to, &self.recent)
            && key == t
            && index.covers(from)
        {
            return Ok(if from > time_to {
                ReadSource::Nothing
            } else {
                ReadSource::Index(index, key, from)
            });
        }
        Ok(ReadSource::Scan(from))
    }

    fn actual_from(&self, from: i64) -> i64 {
        from.max(
            self.observed_stream_time
                .saturating_sub(self.retention_ms)
                .saturating_add(1),
        )
    }

    fn put_store_key(
        &mut self,
        store_key: &[u8],
        value: Option<&[u8]>,
        start: i64,
    ) -> StoreResult<bool> {
        self.observed_stream_time = self.observed_stream_time.max(start);
        self.stored_upper = self.stored_upper.max(start);
        let id = self.segments.segment_id(start);
        if self
            .segments
            .get_or_create_if_live(id, self.observed_stream_time)?
            .is_none()
        {
            return Ok(false);
        }
        let indexed = self.recent.as_ref().is_some_and(RecentIndex::is_on);
        match value {
            Some(value) if indexed => {
                if self.batched.borrow().segment != id {
                    // Another segment's batch (if any) goes first.
                    self.write_batched()?;
                }
                let full = {
                    let mut batched = self.batched.borrow_mut();
                    batched.segment = id;
                    batched.batch.put(store_key, value);
                    batched.len += 1;
                    batched.len >= MAX_BATCHED_WRITES
                };
                if full {
                    self.write_batched()?;
                }
            }
            _ => {
                self.write_batched()?;
                if let Some(segment) = self.segments.segments.get_mut(&id) {
                    segment.put(store_key, value)?;
                }
            }
        }
        Ok(true)
    }

    /// Hands the batched puts to RocksDB (see [`BatchedWrites`]). A batch
    /// whose segment has expired since is dropped with it.
    fn write_batched(&self) -> StoreResult<()> {
        let mut batched = self.batched.borrow_mut();
        if batched.len == 0 {
            return Ok(());
        }
        // The next batch starts at this one's size: grown from empty, each
        // batch's buffer was reallocated and copied a handful of times.
        let size = batched.batch.size_in_bytes();
        let batch = std::mem::replace(&mut batched.batch, WriteBatch::with_capacity_bytes(size));
        batched.len = 0;
        match self.segments.segments.get(&batched.segment) {
            Some(segment) => segment.write(batch),
            None => Ok(()),
        }
    }

    /// Entries of the searched segments, in segment order and store-key
    /// order within a segment, that pass the key and time filters.
    fn scan(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
        forward: bool,
    ) -> StoreResult<Vec<WindowEntry>> {
        let mut out = Vec::new();
        if time_to < time_from || time_from > self.stored_upper {
            return Ok(out);
        }
        self.write_batched()?;
        // Any stored key of a record key >= key_from sorts at or after
        // key_from itself; keys of other lengths interleave within the
        // bounds, so entries are still filtered one by one.
        let single = match (key_from, key_to) {
            (Some(f), Some(t)) if f == t => Some(f),
            _ => None,
        };
        let (lower, upper) = match single {
            Some(k) => (
                Some(window_store_key(k, time_from.max(0), 0)),
                Some(window_store_key(k, time_to, u32::MAX)),
            ),
            None => (
                key_from.map(<[u8]>::to_vec),
                // With no negative start in range, the upper key bounds the
                // scan too (see `key_range_upper`).
                key_to
                    .filter(|_| time_from >= 0)
                    .map(|to| key_range_upper(to, time_to)),
            ),
        };
        for segment in self.segments.search(time_from, time_to, forward) {
            if let (true, Some(_), Some(lower), Some(upper), KeyLayout::WindowKeyFirst) = (
                forward,
                single,
                lower.as_deref(),
                upper.as_deref(),
                segment.layout(),
            ) {
                // One record key's run, `[key][time_from][0]` to
                // `[key][time_to][max]`, read in place. Other record keys
                // that sort inside those bounds (longer keys that `key`
                // prefixes) may or may not come back and are filtered out.
                segment.window_key_run(lower, upper, |store_key, value| {
                    if let Some((key, start, seqnum)) = split_window_store_key(store_key)
                        && start >= time_from
                        && start <= time_to
                        && key_in_range(key, key_from, key_to)
                    {
                        out.push(WindowEntry {
                            key: key.to_vec(),
                            start,
                            seqnum,
                            value: value.to_vec(),
                        });
                    }
                })?;
                continue;
            }
            let iter = if forward {
                segment.range(lower.as_deref(), upper.as_deref())?
            } else {
                segment.reverse_range(lower.as_deref(), upper.as_deref())?
            };
            for (store_key, value) in iter {
                let Some((key, start, seqnum)) = split_window_store_key(&store_key) else {
                    continue;
                };
                if start < time_from || start > time_to || !key_in_range(key, key_from, key_to) {
                    continue;
                }
                out.push(WindowEntry {
                    key: key.to_vec(),
                    start,
                    seqnum,
                    value,
                });
            }
        }
        Ok(out)
    }
}

impl Drop for RocksDbWindowStore {
    fn drop(&mut self) {
        // As RocksDB itself writes its memtables out when a database is
        // dropped unclosed, the batched puts land before the segments close.
        if self.open
            && let Err(e) = self.write_batched()
        {
            log::warn!(
                "window store {}: batched writes lost on drop: {e}",
                self.name
            );
        }
    }
}

impl StateStore for RocksDbWindowStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        true
    }

    fn flush(&mut self) -> StoreResult<()> {
        self.write_batched()?;
        self.segments.flush()
    }

    fn close(&mut self) -> StoreResult<()> {
        let batched = self.write_batched();
        self.open = false;
        self.recent = None;
        let closed = self.segments.close();
        batched.and(closed)
    }
}

/// See [`RocksDbWindowStore::read_source`].
enum ReadSource<'a> {
    Nothing,
    /// The index, the one key, and the first live start.
    Index(&'a RecentIndex, &'a [u8], i64),
    /// A scan from the first live start.
    Scan(i64),
}

impl WindowBytesStore for RocksDbWindowStore {
    fn retention_ms(&self) -> i64 {
        self.retention_ms
    }

    fn window_size_ms(&self) -> i64 {
        self.window_size_ms
    }

    fn retain_duplicates(&self) -> bool {
        self.retain_duplicates
    }

    fn order(&self) -> WindowOrder {
        if self.time_ordered {
            WindowOrder::TimeFirst
        } else {
            WindowOrder::Segmented {
                segment_interval: self.segments.interval(),
            }
        }
    }

    fn stored_upper(&self) -> i64 {
        self.stored_upper
    }

    fn put(&mut self, key: &[u8], value: Option<&[u8]>, window_start: i64) -> StoreResult<()> {
        self.check_open()?;
        if value.is_none() && self.retain_duplicates {
            return Ok(());
        }
        if self.retain_duplicates {
            self.seqnum = (self.seqnum + 1) & 0x7FFF_FFFF;
        }
        let mut store_key = std::mem::take(&mut self.key_buf);
        store_key.clear();
        write_window_store_key(key, window_start, self.seqnum, &mut store_key);
        let put = self.put_store_key(&store_key, value, window_start);
        self.key_buf = store_key;
        if !put? {
            log::warn!(
                "Skipping record for expired segment. store=[{}] windowStart=[{window_start}]",
                self.name
            );
        } else if let Some(value) = value {
            // The oldest start a fetch can still return.
            let live_from = self.actual_from(i64::MIN);
            if let Some(index) = &mut self.recent {
                index.insert(key, window_start, self.seqnum, value, live_from);
            }
        }
        Ok(())
    }

    fn fetch(&self, key: &[u8], window_start: i64) -> StoreResult<Option<Vec<u8>>> {
        self.check_open()?;
        if window_start < self.actual_from(i64::MIN) || window_start > self.stored_upper {
            return Ok(None);
        }
        let store_key = window_store_key(key, window_start, self.seqnum);
        self.write_batched()?;
        match self.segments.segment_for(window_start) {
            Some(segment) => segment.get(&store_key),
            None => Ok(None),
        }
    }

    fn fetch_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
        forward: bool,
    ) -> StoreResult<Vec<WindowEntry>> {
        match self.read_source(key_from, key_to, time_from, time_to)? {
            ReadSource::Nothing => Ok(Vec::new()),
            ReadSource::Index(index, key, from) => Ok(index.fetch(key, from, time_to, forward)),
            ReadSource::Scan(from) => self.scan(key_from, key_to, from, time_to, forward),
        }
    }

    fn visit_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
        forward: bool,
        visit: &mut WindowVisitor<'_>,
    ) -> StoreResult<()> {
        match self.read_source(key_from, key_to, time_from, time_to)? {
            ReadSource::Nothing => Ok(()),
            ReadSource::Index(index, key, from) => {
                index.visit(key, from, time_to, forward, &mut |start, v| {
                    visit(key, start, v)
                })
            }
            ReadSource::Scan(from) => {
                for e in self.scan(key_from, key_to, from, time_to, forward)? {
                    visit(&e.key, e.start, &e.value)?;
                }
                Ok(())
            }
        }
    }

    fn fetch_all(
        &self,
        time_from: i64,
        time_to: i64,
        forward: bool,
    ) -> StoreResult<Vec<WindowEntry>> {
        self.check_open()?;
        // Kafka's time-ordered store keeps the window at exactly
        // `stream time - retention` readable here: with the default retention
        // that is the window emit-on-close is about to emit.
        let from = if self.time_ordered {
            time_from.max(self.observed_stream_time.saturating_sub(self.retention_ms))
        } else {
            self.actual_from(time_from)
        };
        let mut entries = self.scan(None, None, from, time_to, forward)?;
        if self.time_ordered {
            WindowOrder::TimeFirst.sort(&mut entries, forward);
        }
        Ok(entries)
    }

    fn all(&self, forward: bool) -> StoreResult<Vec<WindowEntry>> {
        self.check_open()?;
        let from = self.actual_from(0);
        let mut entries = self.scan(None, None, from, i64::MAX, forward)?;
        if self.time_ordered {
            WindowOrder::TimeFirst.sort(&mut entries, forward);
        }
        Ok(entries)
    }

    fn put_all_with_timestamps(&mut self, records: &[WindowWrite<'_>]) -> StoreResult<()> {
        self.check_open()?;
        if self.retain_duplicates {
            // Each put takes the next seqnum: one at a time.
            for &(store_key, value, _) in records {
                let (key, start, _) = split_window_store_key(store_key).ok_or_else(|| {
                    super::bad_key(&self.name, "window store key", store_key.len())
                })?;
                self.put(key, value, start)?;
            }
            return Ok(());
        }
        // As `put` record by record (stream time advances with each one, and
        // a window expired by then is skipped), but each segment's writes
        // go in one batch. A segment dropped on the way drops its writes,
        // which it would have deleted anyway.
        let mut batches: Vec<(i64, Vec<usize>)> = Vec::new();
        for (i, &(store_key, _, _)) in records.iter().enumerate() {
            let (_, start, _) = split_window_store_key(store_key)
                .ok_or_else(|| super::bad_key(&self.name, "window store key", store_key.len()))?;
            self.observed_stream_time = self.observed_stream_time.max(start);
            self.stored_upper = self.stored_upper.max(start);
            let id = self.segments.segment_id(start);
            if self
                .segments
                .get_or_create_if_live(id, self.observed_stream_time)?
                .is_none()
            {
                log::warn!(
                    "Skipping record for expired segment. store=[{}] windowStart=[{start}]",
                    self.name
                );
                continue;
            }
            match batches.iter_mut().find(|(b, _)| *b == id) {
                Some((_, indices)) => indices.push(i),
                None => batches.push((id, vec![i])),
            }
        }
        for (id, indices) in batches {
            if let Some(segment) = self.segments.segments.get_mut(&id) {
                segment.write_all(indices.into_iter().map(|i| (records[i].0, records[i].1)))?;
            }
        }
        Ok(())
    }

    fn restore_all(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        self.write_batched()?;
        // As Kafka Streams: stream time first moves to the newest record of
        // the batch, so segments that expire within the batch are skipped.
        let mut parsed = Vec::with_capacity(records.len());
        for (store_key, value, _) in records {
            let (_, start, _) = split_window_store_key(store_key).ok_or_else(|| {
                super::bad_key(&self.name, "window changelog key", store_key.len())
            })?;
            self.observed_stream_time = self.observed_stream_time.max(start);
            self.stored_upper = self.stored_upper.max(start);
            parsed.push((store_key, value, start));
        }
        for (store_key, value, start) in parsed {
            let id = self.segments.segment_id(start);
            if let Some(segment) = self
                .segments
                .get_or_create_if_live(id, self.observed_stream_time)?
            {
                segment.put(store_key, value.as_deref())?;
            }
        }
        // Restored entries bypass the index: it answers newer ranges only.
        if let Some(index) = &mut self.recent {
            index.raise_floor(self.stored_upper);
        }
        Ok(())
    }
}
