//! The logging and caching layers of window stores (Kafka Streams'
//! `ChangeLoggingWindowBytesStore` / `ChangeLoggingTimestampedWindowBytesStore`
//! and `CachingWindowStore`).

use std::cell::{Cell, RefCell};
use std::ops::Bound;
use std::rc::Rc;

use super::{
    WindowBytesStore, WindowEntry, WindowOrder, WindowVisitor, WindowWrite, key_in_range,
    split_window_store_key, window_store_key, write_window_store_key,
};
use crate::processor::{Headers, RecordMetadata};
use crate::state::cache::{Evicted, NamedCache, Write};
use crate::state::caching::{EntryContext, Reports};
use crate::state::timestamped::split_timestamped;
use crate::state::{ChangelogWriter, StateStore, StoreError, StoreResult, TimestampedBytesWrite};

/// A window byte store that logs every put to a changelog topic partition.
///
/// The changelog key is the [`window_store_key`](super::window_store_key)
/// (with this layer's own seqnum when duplicates are retained, as Kafka's
/// `ChangeLoggingWindowBytesStore`); a timestamped store's changelog value is
/// the value without its timestamp prefix, and the record timestamp is the
/// embedded one.
pub struct ChangeLoggingWindowBytesStore {
    inner: Box<dyn WindowBytesStore>,
    topic: String,
    partition: i32,
    writer: Rc<RefCell<dyn ChangelogWriter>>,
    timestamp: Rc<Cell<i64>>,
    timestamped: bool,
    seqnum: u32,
    /// The last logged store key's buffer, reused by the next put.
    key_buf: Vec<u8>,
}

impl std::fmt::Debug for ChangeLoggingWindowBytesStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeLoggingWindowBytesStore")
            .field("store", &self.inner.name())
            .field("topic", &self.topic)
            .field("timestamped", &self.timestamped)
            .finish_non_exhaustive()
    }
}

impl ChangeLoggingWindowBytesStore {
    /// Logs the puts to `inner` to `partition` of `topic`, stamped with the
    /// value of `timestamp` at the time of each put (or the embedded
    /// timestamp when `timestamped`).
    pub fn new(
        inner: Box<dyn WindowBytesStore>,
        topic: impl Into<String>,
        partition: i32,
        writer: Rc<RefCell<dyn ChangelogWriter>>,
        timestamp: Rc<Cell<i64>>,
        timestamped: bool,
    ) -> Self {
        ChangeLoggingWindowBytesStore {
            inner,
            topic: topic.into(),
            partition,
            writer,
            timestamp,
            timestamped,
            seqnum: 0,
            key_buf: Vec::new(),
        }
    }

    /// The changelog topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Logs one write; `timestamp` stamps it unless the store is
    /// timestamped (then the value's own timestamp does).
    fn log(&self, key: &[u8], value: Option<&[u8]>, timestamp: i64) -> StoreResult<()> {
        let (value, timestamp) = match value {
            Some(v) if self.timestamped => {
                let (ts, raw) = split_timestamped(self.inner.name(), v)?;
                (Some(raw), ts)
            }
            other => (other, timestamp),
        };
        let mut writer = self
            .writer
            .try_borrow_mut()
            .map_err(|_| StoreError::InvalidArgument {
                store: self.inner.name().to_owned(),
                reason: "the changelog writer is already in use (re-entrant write)".to_owned(),
            })?;
        writer.send(&self.topic, self.partition, key, value, timestamp)
    }
}

impl StateStore for ChangeLoggingWindowBytesStore {
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

impl WindowBytesStore for ChangeLoggingWindowBytesStore {
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
        self.inner.put(key, value, window_start)?;
        if self.inner.retain_duplicates() {
            self.seqnum = (self.seqnum + 1) & 0x7FFF_FFFF;
        }
        let mut store_key = std::mem::take(&mut self.key_buf);
        store_key.clear();
        write_window_store_key(key, window_start, self.seqnum, &mut store_key);
        let logged = self.log(&store_key, value, self.timestamp.get());
        self.key_buf = store_key;
        logged
    }

    fn put_all_with_timestamps(&mut self, records: &[WindowWrite<'_>]) -> StoreResult<()> {
        if self.inner.retain_duplicates() {
            // Every put gets its own seqnum: one at a time.
            for &(store_key, value, timestamp) in records {
                let (key, start, _) = split_window_store_key(store_key).ok_or_else(|| {
                    super::bad_key(self.inner.name(), "window store key", store_key.len())
                })?;
                self.inner.put(key, value, start)?;
                self.seqnum = (self.seqnum + 1) & 0x7FFF_FFFF;
                let logged = window_store_key(key, start, self.seqnum);
                self.log(&logged, value, timestamp)?;
            }
            return Ok(());
        }
        self.inner.put_all_with_timestamps(records)?;
        for &(store_key, value, timestamp) in records {
            self.log(store_key, value, timestamp)?;
        }
        Ok(())
    }

    fn fetch(&self, key: &[u8], window_start: i64) -> StoreResult<Option<Vec<u8>>> {
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
        self.inner
            .fetch_range(key_from, key_to, time_from, time_to, forward)
    }

    fn fetch_all(
        &self,
        time_from: i64,
        time_to: i64,
        forward: bool,
    ) -> StoreResult<Vec<WindowEntry>> {
        self.inner.fetch_all(time_from, time_to, forward)
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
        self.inner
            .visit_range(key_from, key_to, time_from, time_to, forward, visit)
    }

    fn all(&self, forward: bool) -> StoreResult<Vec<WindowEntry>> {
        self.inner.all(forward)
    }

    fn restore_all(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        self.inner.restore_all(records)
    }
}

/// One window entry written down from the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowFlushedEntry {
    /// The record key's bytes.
    pub key: Vec<u8>,
    /// The window start.
    pub start: i64,
    /// The value written (`None`: a delete).
    pub new_value: Option<Vec<u8>>,
    /// The value the store below held just before.
    pub old_value: Option<Vec<u8>>,
    /// The timestamp of the record that last wrote the entry.
    pub timestamp: i64,
    /// That record's context, as set by
    /// [`CachingWindowStore::set_record_context`] before its write.
    pub context: EntryContext,
}

/// Bytes of the segment id in front of every window cache key.
const SEGMENT_PREFIX: usize = 8;

/// How a window cache lays its keys out (Kafka Streams'
/// `SegmentedCacheFunction`): an 8-byte segment id first, so that cache
/// keys sort in the order of the store below and one key's windows over a
/// time range are one contiguous run per segment. A range read then costs a
/// lookup per segment plus the entries of the run, whatever else the cache
/// holds.
///
/// - `Segmented` stores: segment = `start / interval`, then the store key
///   `[key][start][seqnum 0]`: the store's own order.
/// - `TimeFirst` stores: the "segment" is the window start itself (Kafka's
///   in-memory store reports a segment interval of 1 for this), then the
///   key and four zero bytes. Appending the same bytes to every key keeps
///   their order, and makes the key as long as a store key, so an entry is
///   charged what it was before.
///
/// The segment id is stored with its sign bit flipped, so that negative ids
/// sort first, and is not charged to the cache budget.
#[derive(Debug, Clone, Copy)]
struct CacheLayout {
    order: WindowOrder,
}

impl CacheLayout {
    fn segment(self, start: i64) -> i64 {
        match self.order {
            WindowOrder::TimeFirst => start,
            WindowOrder::Segmented { segment_interval } => start / segment_interval.max(1),
        }
    }

    /// The smallest and largest window start of segment `id` (the division
    /// truncates, so segment 0 also holds negative starts).
    fn segment_times(self, id: i64) -> (i64, i64) {
        match self.order {
            WindowOrder::TimeFirst => (id, id),
            WindowOrder::Segmented { segment_interval } => {
                let interval = segment_interval.max(1);
                let base = id.saturating_mul(interval);
                let span = interval - 1;
                match id.cmp(&0) {
                    std::cmp::Ordering::Greater => (base, base.saturating_add(span)),
                    std::cmp::Ordering::Equal => (-span, span),
                    std::cmp::Ordering::Less => (base.saturating_sub(span), base),
                }
            }
        }
    }

    /// The window starts of segment `id` within `[time_from, time_to]`, if
    /// the cache keys lay them out as one byte range after each key (a
    /// segmented layout, and starts of one sign: negative ones sort after
    /// the others).
    fn starts_in(self, id: i64, time_from: i64, time_to: i64) -> Option<(i64, i64)> {
        match self.order {
            WindowOrder::TimeFirst => None,
            WindowOrder::Segmented { .. } => {
                let (first, last) = self.segment_times(id);
                let (t_lo, t_hi) = (time_from.max(first), time_to.min(last));
                (t_lo <= t_hi && (t_lo >= 0 || t_hi < 0)).then_some((t_lo, t_hi))
            }
        }
    }

    fn write_prefix(id: i64, out: &mut Vec<u8>) {
        out.extend_from_slice(&(id ^ i64::MIN).to_be_bytes());
    }

    fn read_prefix(cache_key: &[u8]) -> Option<i64> {
        let prefix = cache_key.get(..SEGMENT_PREFIX)?;
        Some(i64::from_be_bytes(prefix.try_into().ok()?) ^ i64::MIN)
    }

    fn write_key(self, key: &[u8], start: i64, out: &mut Vec<u8>) {
        out.clear();
        Self::write_prefix(self.segment(start), out);
        match self.order {
            WindowOrder::Segmented { .. } => super::write_window_store_key(key, start, 0, out),
            WindowOrder::TimeFirst => {
                out.extend_from_slice(key);
                out.extend_from_slice(&[0; super::WINDOW_SEQNUM_SIZE]);
            }
        }
    }

    fn key(self, key: &[u8], start: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            SEGMENT_PREFIX + key.len() + super::WINDOW_TIMESTAMP_SIZE + super::WINDOW_SEQNUM_SIZE,
        );
        self.write_key(key, start, &mut out);
        out
    }

    /// `(record key, window start)` of a cache key.
    fn split(self, cache_key: &[u8]) -> Option<(&[u8], i64)> {
        let rest = cache_key.get(SEGMENT_PREFIX..)?;
        match self.order {
            WindowOrder::Segmented { .. } => {
                split_window_store_key(rest).map(|(key, start, _)| (key, start))
            }
            WindowOrder::TimeFirst => {
                let key_len = rest.len().checked_sub(super::WINDOW_SEQNUM_SIZE)?;
                Some((&rest[..key_len], Self::read_prefix(cache_key)?))
            }
        }
    }

    /// The cache keys of segment `id` that can hold a window of a key in
    /// `[key_from, key_to]` starting in `[time_from, time_to]`: a superset
    /// (keys of other lengths can interleave), which the caller filters.
    fn bounds(
        self,
        id: i64,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
    ) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        let prefixed = |rest: &[u8]| {
            let mut out = Vec::with_capacity(SEGMENT_PREFIX + rest.len());
            Self::write_prefix(id, &mut out);
            out.extend_from_slice(rest);
            out
        };
        let segment_end = || match id.checked_add(1) {
            Some(next) => Bound::Excluded(prefixed_id(next)),
            None => Bound::Unbounded,
        };
        match self.order {
            WindowOrder::TimeFirst => {
                // One window start per segment: the keys alone bound it.
                let lower = Bound::Included(prefixed(key_from.unwrap_or_default()));
                let upper = match key_to {
                    Some(to) => {
                        let mut upper = prefixed(to);
                        upper.extend_from_slice(&[0; super::WINDOW_SEQNUM_SIZE]);
                        Bound::Included(upper)
                    }
                    None => segment_end(),
                };
                (lower, upper)
            }
            WindowOrder::Segmented { .. } => {
                let (first, last) = self.segment_times(id);
                let (t_lo, t_hi) = (time_from.max(first), time_to.min(last));
                match (key_from, key_to) {
                    (Some(from), Some(to)) if from == to => {
                        if t_lo >= 0 {
                            (
                                Bound::Included(prefixed(&window_store_key(from, t_lo, 0))),
                                Bound::Included(prefixed(&window_store_key(to, t_hi, u32::MAX))),
                            )
                        } else {
                            // Negative starts sort after positive ones: take
                            // every window of the key.
                            let mut upper = prefixed(to);
                            upper.extend_from_slice(&[0xFF; 12]);
                            (Bound::Included(prefixed(from)), Bound::Included(upper))
                        }
                    }
                    _ => {
                        let lower = Bound::Included(prefixed(key_from.unwrap_or_default()));
                        let upper = match key_to {
                            Some(to) if t_lo >= 0 => Bound::Included(prefixed(
                                &super::segmented::key_range_upper(to, t_hi),
                            )),
                            _ => segment_end(),
                        };
                        (lower, upper)
                    }
                }
            }
        }
    }
}

fn prefixed_id(id: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(SEGMENT_PREFIX);
    CacheLayout::write_prefix(id, &mut out);
    out
}

/// What `Inner::cached_windows` hands each cached window to: its key, its
/// start and its value (`None`: a cached delete).
type CachedVisitor<'a> = dyn FnMut(&[u8], i64, Option<&[u8]>) + 'a;

/// A cached window a range read found (`None`: a cached delete).
struct CachedWindow {
    key: Vec<u8>,
    start: i64,
    value: Option<Vec<u8>>,
}

/// Compares two windows in the order of `order` (what
/// [`WindowOrder::sort`] sorts by), without building their store keys.
fn cmp_windows(
    order: WindowOrder,
    (a_key, a_start, a_seq): (&[u8], i64, u32),
    (b_key, b_start, b_seq): (&[u8], i64, u32),
) -> std::cmp::Ordering {
    match order {
        WindowOrder::TimeFirst => (a_start, a_key, a_seq).cmp(&(b_start, b_key, b_seq)),
        WindowOrder::Segmented { segment_interval } => {
            let interval = segment_interval.max(1);
            (a_start / interval)
                .cmp(&(b_start / interval))
                .then_with(|| {
                    let (a_ts, a_sq) = (a_start.to_be_bytes(), a_seq.to_be_bytes());
                    let (b_ts, b_sq) = (b_start.to_be_bytes(), b_seq.to_be_bytes());
                    a_key
                        .iter()
                        .chain(&a_ts)
                        .chain(&a_sq)
                        .cmp(b_key.iter().chain(&b_ts).chain(&b_sq))
                })
        }
    }
}

/// Merges cached windows over stored ones, both in `order` (`forward`) or
/// its reverse: the cache's entry for a window replaces the store's, a
/// cached delete hides it.
fn merge_windows(
    order: WindowOrder,
    mut stored: Vec<WindowEntry>,
    cached: Vec<CachedWindow>,
    forward: bool,
) -> Vec<WindowEntry> {
    let cmp = |a: (&[u8], i64, u32), b: (&[u8], i64, u32)| {
        let ord = cmp_windows(order, a, b);
        if forward { ord } else { ord.reverse() }
    };
    // Stores list in their order except the time-ordered RocksDB store's
    // key reads, which come segment by segment.
    let sorted = stored.windows(2).all(|w| {
        cmp(
            (&w[0].key, w[0].start, w[0].seqnum),
            (&w[1].key, w[1].start, w[1].seqnum),
        )
        .is_le()
    });
    if !sorted {
        order.sort(&mut stored, forward);
    }
    let mut out = Vec::with_capacity(stored.len() + cached.len());
    let mut stored = stored.into_iter().peekable();
    for window in cached {
        while let Some(next) = stored.peek() {
            match cmp(
                (&next.key, next.start, next.seqnum),
                (&window.key, window.start, 0),
            ) {
                std::cmp::Ordering::Less => out.extend(stored.next()),
                std::cmp::Ordering::Equal => {
                    stored.next();
                    break;
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        if let Some(value) = window.value {
            out.push(WindowEntry {
                key: window.key,
                start: window.start,
                seqnum: 0,
                value,
            });
        }
    }
    out.extend(stored);
    out
}

struct Inner {
    cache: NamedCache<SEGMENT_PREFIX>,
    wrapped: Box<dyn WindowBytesStore>,
    /// Written-down entries kept for the owner, and the context of
    /// the next writes.
    reports: Reports<WindowFlushedEntry>,
    /// See [`CachingWindowStore::set_read_old_values`].
    read_old_values: bool,
    /// Reused for the cache key of point reads and writes.
    key_buf: Vec<u8>,
    /// Reused by write-downs (see [`DirtyBatch`]).
    batch: DirtyBatch,
    /// No window the store below holds outside the cache starts after
    /// this. Every window enters the store below through the cache and
    /// stays cached after its write-down until it is evicted, so only
    /// three kinds of window are there and not here: those the store held
    /// when the cache was built (its [`stored_upper`](WindowBytesStore::stored_upper)),
    /// evicted ones and restored ones, and each raises the bound. A read of
    /// windows that all start after it is the cache's alone: a windowed
    /// aggregate's read of a new window, or a Processor API store's read
    /// of the last few seconds, which made a RocksDB get or scan that
    /// found nothing the cache did not hold (5 % of
    /// `streamprocesswithwindowstore`'s stream thread).
    uncached_upper: i64,
}

/// A record cache in front of a window byte store (Kafka Streams'
/// `CachingWindowStore`): puts of one window between two commits collapse
/// into one write (and one downstream record), written down in the order of
/// each window's latest put on commit, or earlier when the cache outgrows
/// its budget and evicts a dirty entry (which writes every dirty entry,
/// the evicted one first).
///
/// A write-down skips a delete of a window the store below does not hold,
/// and reaches the store below as one batch
/// ([`WindowBytesStore::put_all_with_timestamps`]), each entry stamped with
/// the timestamp of the record that last wrote it, so the changelog below
/// stamps it as Kafka Streams does.
///
/// Cache keys lead with a segment id (see `CacheLayout`), so range reads
/// walk only the cached entries of the segments they cover.
pub struct CachingWindowStore {
    name: String,
    max_bytes: usize,
    timestamp: Rc<Cell<i64>>,
    layout: CacheLayout,
    inner: RefCell<Inner>,
}

impl std::fmt::Debug for CachingWindowStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingWindowStore")
            .field("name", &self.name)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl CachingWindowStore {
    /// Caches `wrapped` with a budget of `max_bytes` bytes; writes are
    /// stamped with the value of `timestamp` at the time of the write.
    pub fn new(
        wrapped: Box<dyn WindowBytesStore>,
        max_bytes: usize,
        timestamp: Rc<Cell<i64>>,
    ) -> Self {
        CachingWindowStore {
            name: wrapped.name().to_owned(),
            max_bytes,
            timestamp,
            layout: CacheLayout {
                order: wrapped.order(),
            },
            inner: RefCell::new(Inner {
                cache: match wrapped.order() {
                    // Keys end with a window start and a seqnum: the cache
                    // sorts them as each key's windows (see
                    // `Inner::cached_windows`).
                    WindowOrder::Segmented { .. } => NamedCache::grouped(
                        super::WINDOW_TIMESTAMP_SIZE + super::WINDOW_SEQNUM_SIZE,
                    ),
                    WindowOrder::TimeFirst => NamedCache::new(),
                },
                uncached_upper: wrapped.stored_upper(),
                wrapped,
                reports: Reports::default(),
                read_old_values: true,
                key_buf: Vec::new(),
                batch: DirtyBatch::default(),
            }),
        }
    }

    /// Whether a write-down reads the value it replaces from the store
    /// below, to report it as the entry's old value (on by default). Kafka
    /// Streams reads it only when the owner sends old values downstream, or
    /// for a delete (a delete of a key the store below never held is
    /// skipped); owners that send no old values turn it off, which saves a
    /// store read per write-down.
    pub fn set_read_old_values(&mut self, on: bool) {
        self.inner.get_mut().read_old_values = on;
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

    /// Whether write-downs outside [`flush_entries`](Self::flush_entries)
    /// are kept for [`take_evicted`](Self::take_evicted) (on by default;
    /// off for stores nobody forwards from).
    pub fn with_retained_reports(mut self, retain: bool) -> Self {
        self.inner.get_mut().reports.set_retained(retain);
        self
    }

    /// Turns the kept reports (see `with_retained_reports`) on or off once
    /// the store is built: an owner with nothing downstream forwards
    /// nothing, so it turns them off, as a Kafka Streams cache without a
    /// flush listener reports nothing.
    pub fn set_retained_reports(&mut self, retain: bool) {
        self.inner.get_mut().reports.set_retained(retain);
    }

    /// The record context that the next writes stamp on their entries,
    /// which write-downs report with the entries (Kafka Streams' cache
    /// takes it from the processor context at each put; here the owner
    /// that forwards what the cache writes down sets it once per record).
    pub fn set_record_context(&mut self, metadata: Option<&RecordMetadata>, headers: &Headers) {
        self.inner.get_mut().reports.set_context(metadata, headers);
    }

    /// Writes every dirty entry down and returns them in write-down order.
    pub fn flush_entries(&mut self) -> StoreResult<Vec<WindowFlushedEntry>> {
        let layout = self.layout;
        self.inner.get_mut().write_down(layout, None, true)
    }

    /// The entries evictions (and [`StateStore::flush`]) wrote down since the
    /// last call.
    pub fn take_evicted(&mut self) -> Vec<WindowFlushedEntry> {
        self.inner.get_mut().reports.take()
    }

    /// Entries currently cached.
    pub fn cached_entries(&self) -> usize {
        self.inner.borrow().cache.len()
    }

    fn borrow_mut(&self) -> StoreResult<std::cell::RefMut<'_, Inner>> {
        self.inner
            .try_borrow_mut()
            .map_err(|_| StoreError::InvalidArgument {
                store: self.name.clone(),
                reason: "re-entrant call into the store's cache".to_owned(),
            })
    }

    /// Merges cached entries over stored ones: the cache's entry for a
    /// window replaces the store's, a cached delete hides it; the result is
    /// in the store's order.
    fn merged(
        &self,
        stored: Vec<WindowEntry>,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
        forward: bool,
    ) -> StoreResult<Vec<WindowEntry>> {
        if time_to < time_from {
            return Ok(Vec::new());
        }
        let mut inner = self.borrow_mut()?;
        let mut cached = Vec::new();
        let visited = inner.cached_windows(
            self.layout,
            key_from,
            key_to,
            time_from,
            time_to,
            forward,
            &mut |key, start, value| {
                cached.push(CachedWindow {
                    key: key.to_vec(),
                    start,
                    value: value.map(<[u8]>::to_vec),
                });
            },
        );
        drop(inner);
        if visited == 0 {
            return Ok(stored);
        }
        Ok(merge_windows(self.layout.order, stored, cached, forward))
    }

    /// What `read` finds in the store below, unless every window from
    /// `time_from` on is cached (see `Inner::uncached_upper`).
    fn stored(
        &self,
        time_from: i64,
        read: impl FnOnce(&dyn WindowBytesStore) -> StoreResult<Vec<WindowEntry>>,
    ) -> StoreResult<Vec<WindowEntry>> {
        let inner = self.inner.borrow();
        if time_from > inner.uncached_upper {
            return Ok(Vec::new());
        }
        read(&*inner.wrapped)
    }

    fn maybe_evict(&self, inner: &mut Inner) -> StoreResult<()> {
        while inner.cache.budgeted_bytes() > self.max_bytes {
            let Some(evicted) = inner.cache.evict() else {
                break;
            };
            if let Some((_, start)) = self.layout.split(&evicted.key) {
                inner.uncached_upper = inner.uncached_upper.max(start);
            }
            if evicted.dirty {
                let report = inner.reports.retained();
                let written = inner.write_down(self.layout, Some(evicted), report)?;
                inner.reports.keep(written);
            } else {
                inner.cache.recycle(evicted.key, evicted.value);
            }
        }
        Ok(())
    }
}

impl Inner {
    /// Hands the cached windows of keys in `[key_from, key_to]` starting
    /// in `[time_from, time_to]` to `emit` as (key, window start, value;
    /// `None` for a cached delete), in the store's order (`forward`) or
    /// its reverse, segment by segment (skipping segments the cache holds
    /// nothing of); returns how many cache entries it read (each read
    /// touches the entry, as Kafka's cache iterators do).
    #[allow(clippy::too_many_arguments)]
    fn cached_windows(
        &mut self,
        layout: CacheLayout,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
        forward: bool,
        emit: &mut CachedVisitor<'_>,
    ) -> usize {
        let (first, last) = (layout.segment(time_from), layout.segment(time_to));
        let mut visited = 0;
        let mut next = if forward { first } else { last };
        loop {
            // The nearest segment, from `next` on, that the cache holds
            // anything of (a range within one segment reads it directly:
            // finding nothing there costs what the seek would).
            let found = if first == last {
                Some(first)
            } else if forward {
                self.cache
                    .seek(Bound::Included(&prefixed_id(next)), true)
                    .and_then(CacheLayout::read_prefix)
            } else {
                match next.checked_add(1) {
                    Some(after) => self
                        .cache
                        .seek(Bound::Excluded(&prefixed_id(after)), false)
                        .and_then(CacheLayout::read_prefix),
                    None => self
                        .cache
                        .seek(Bound::Unbounded, false)
                        .and_then(CacheLayout::read_prefix),
                }
            };
            let Some(id) = found else {
                break;
            };
            if (forward && id > last) || (!forward && id < first) {
                break;
            }
            let wanted = |cache_key: &[u8]| {
                layout.split(cache_key).is_some_and(|(key, start)| {
                    (time_from..=time_to).contains(&start) && key_in_range(key, key_from, key_to)
                })
            };
            let mut read = |cache_key: &[u8], value: Option<&[u8]>| {
                if let Some((key, start)) = layout.split(cache_key)
                    && wanted(cache_key)
                {
                    emit(key, start, value);
                }
            };
            // Entries outside the windows asked for are touched as Kafka's
            // cache iterator touches them only where the LRU order shows:
            // in a cache whose write-downs are forwarded. Elsewhere a
            // grouped cache reads each key's windows in the time range
            // alone (a binary search per key, where a walk of the byte
            // range stepped over every earlier window of every key
            // between the bounds).
            let retained = self.reports.retained();
            let boxed = match layout.starts_in(id, time_from, time_to) {
                Some((t_lo, t_hi)) if !retained => {
                    let bufs = &mut self.key_buf;
                    bufs.clear();
                    CacheLayout::write_prefix(id, bufs);
                    bufs.extend_from_slice(key_from.unwrap_or_default());
                    let split = bufs.len();
                    let upper_end = match key_to {
                        Some(to) => {
                            CacheLayout::write_prefix(id, bufs);
                            bufs.extend_from_slice(to);
                            true
                        }
                        None => match id.checked_add(1) {
                            Some(next) => {
                                CacheLayout::write_prefix(next, bufs);
                                false
                            }
                            None => false,
                        },
                    };
                    let (prefix_lower, rest) = bufs.split_at(split);
                    let prefix_upper = match (upper_end, rest.is_empty()) {
                        (true, _) => Bound::Included(rest),
                        (false, false) => Bound::Excluded(rest),
                        (false, true) => Bound::Unbounded,
                    };
                    let mut from = [0u8; super::WINDOW_TIMESTAMP_SIZE + super::WINDOW_SEQNUM_SIZE];
                    let mut to = [0xFFu8; super::WINDOW_TIMESTAMP_SIZE + super::WINDOW_SEQNUM_SIZE];
                    from[..super::WINDOW_TIMESTAMP_SIZE].copy_from_slice(&t_lo.to_be_bytes());
                    to[..super::WINDOW_TIMESTAMP_SIZE].copy_from_slice(&t_hi.to_be_bytes());
                    self.cache.visit_box(
                        Bound::Included(prefix_lower),
                        prefix_upper,
                        &from,
                        &to,
                        forward,
                        wanted,
                        &mut read,
                    )
                }
                _ => None,
            };
            visited += match boxed {
                Some(n) => n,
                None => {
                    let (lower, upper) = layout.bounds(id, key_from, key_to, time_from, time_to);
                    let (lower, upper) = (
                        lower.as_ref().map(Vec::as_slice),
                        upper.as_ref().map(Vec::as_slice),
                    );
                    if retained {
                        self.cache.visit_range(lower, upper, forward, &mut read)
                    } else {
                        self.cache
                            .visit_range_where(lower, upper, forward, wanted, &mut read)
                    }
                }
            };
            next = match (forward, id.checked_add(1), id.checked_sub(1)) {
                (true, Some(after), _) if id < last => after,
                (false, _, Some(before)) if id > first => before,
                _ => break,
            };
        }
        visited
    }

    /// Writes every dirty entry down (`evicted` first) and, if `report`,
    /// returns what it wrote.
    fn write_down(
        &mut self,
        layout: CacheLayout,
        evicted: Option<Evicted>,
        report: bool,
    ) -> StoreResult<Vec<WindowFlushedEntry>> {
        if evicted.is_none() && !self.cache.has_dirty() {
            return Ok(Vec::new());
        }
        // Out of `self` while the writes borrow from it; back, emptied, at
        // the end.
        let mut batch = std::mem::take(&mut self.batch);
        // Sized once for what is dirty, the entries' bytes estimated from
        // the cache's average entry: grown by doubling instead, a
        // write-down of a whole cache (an eviction's, past the buffer kept
        // between write-downs) copied its bytes about once more.
        let entries = self.cache.dirty_len() + usize::from(evicted.is_some());
        let average = (self.cache.size_bytes() / self.cache.len().max(1))
            .saturating_sub(crate::state::cache::ENTRY_OVERHEAD);
        batch.reserve(entries, entries.saturating_mul(average));
        if let Some(evicted) = evicted {
            let value = evicted.value.as_deref();
            batch.push(
                layout,
                &evicted.key,
                value,
                evicted.timestamp,
                evicted.context,
            );
            // Copied into the batch: the buffers can hold the next entry.
            self.cache.recycle(evicted.key, evicted.value);
        }
        self.cache.drain_dirty(|entry| {
            batch.push(
                layout,
                entry.key,
                entry.value,
                entry.timestamp,
                entry.context,
            );
        });
        let mut contexts = std::mem::take(&mut batch.contexts);
        let written = self.write_batch(&batch, &mut contexts, report);
        batch.contexts = contexts;
        batch.clear();
        self.batch = batch;
        written
    }

    /// Writes `batch` down, in as few store batches as the old-value reads
    /// allow, and, if `report`, returns what it wrote (taking the entries'
    /// `contexts`).
    fn write_batch(
        &mut self,
        batch: &DirtyBatch,
        contexts: &mut [EntryContext],
        report: bool,
    ) -> StoreResult<Vec<WindowFlushedEntry>> {
        let retention = self.wrapped.retention_ms();
        let count = batch.entries.len();
        let mut pending = PendingWrites {
            writes: Vec::with_capacity(count),
            reported: Vec::with_capacity(if report { count } else { 0 }),
            written: Vec::with_capacity(if report { count } else { 0 }),
        };
        // The latest window start of the batch so far.
        let mut batch_latest: Option<i64> = None;
        for (i, entry) in batch.entries.iter().enumerate() {
            let (store_key, value) = batch.get(entry);
            let start = entry.start;
            let read_old = value.is_none() || self.read_old_values;
            // The batch reaches the store after these reads, but Kafka
            // writes each entry before reading the next one's old value.
            // Other entries' writes can change a read only by expiring its
            // window (entries are distinct windows), which a write of a
            // start at least `retention` later does: write the batch first
            // then.
            if read_old && batch_latest.is_some_and(|l| start <= l.saturating_sub(retention)) {
                self.write_pending(&mut pending, contexts)?;
                batch_latest = None;
            }
            let old = if read_old {
                self.wrapped.fetch(record_key(store_key), start)?
            } else {
                None
            };
            if value.is_none() && old.is_none() {
                continue;
            }
            pending.writes.push((store_key, value, entry.timestamp));
            if report {
                pending.reported.push((i, old));
            }
            batch_latest = Some(batch_latest.map_or(start, |l| l.max(start)));
        }
        self.write_pending(&mut pending, contexts)?;
        Ok(pending.written)
    }

    /// Hands the pending writes to the store below and, for those that are
    /// reported, adds them with their old values to the written ones.
    fn write_pending(
        &mut self,
        pending: &mut PendingWrites<'_>,
        contexts: &mut [EntryContext],
    ) -> StoreResult<()> {
        if pending.writes.is_empty() {
            return Ok(());
        }
        self.wrapped.put_all_with_timestamps(&pending.writes)?;
        for (&(store_key, new_value, timestamp), (i, old_value)) in
            pending.writes.iter().zip(pending.reported.drain(..))
        {
            let Some((key, start, _)) = split_window_store_key(store_key) else {
                continue;
            };
            pending.written.push(WindowFlushedEntry {
                key: key.to_vec(),
                start,
                new_value: new_value.map(<[u8]>::to_vec),
                old_value,
                timestamp,
                context: std::mem::take(&mut contexts[i]),
            });
        }
        pending.writes.clear();
        Ok(())
    }
}

/// The record key of a window store key.
fn record_key(store_key: &[u8]) -> &[u8] {
    &store_key[..store_key.len() - super::WINDOW_TIMESTAMP_SIZE - super::WINDOW_SEQNUM_SIZE]
}

/// The dirty entries of a write-down, copied out of the cache into one
/// buffer that the next write-down reuses: thousands of entries (a full
/// cache's worth when an eviction writes everything dirty down) cost no
/// allocation each, where a key and a value apiece, allocated here and
/// freed after the store took them, were a tenth of the stream thread in
/// `streamprocesswithwindowstore`.
#[derive(Debug, Default)]
struct DirtyBatch {
    /// Each entry's store key (`[key][start][seqnum 0]`), then its value.
    bytes: Vec<u8>,
    entries: Vec<BatchedEntry>,
    /// The record context of each entry, apart so that reports can take
    /// them while `entries` are borrowed.
    contexts: Vec<EntryContext>,
}

/// Where a [`DirtyBatch`] entry's bytes lie, and what else it carries.
#[derive(Debug)]
struct BatchedEntry {
    at: usize,
    key_len: usize,
    /// `None`: a delete.
    value_len: Option<usize>,
    start: i64,
    timestamp: i64,
}

impl DirtyBatch {
    /// A buffer larger than this is let go after its write-down rather
    /// than kept: the cache's budget bounds a write-down, but every store
    /// keeping its largest would hold memory the budget does not count.
    const KEPT_BYTES: usize = 1 << 20;

    fn push(
        &mut self,
        layout: CacheLayout,
        cache_key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
        context: EntryContext,
    ) {
        let Some((key, start)) = layout.split(cache_key) else {
            return;
        };
        let at = self.bytes.len();
        super::write_window_store_key(key, start, 0, &mut self.bytes);
        let key_len = self.bytes.len() - at;
        if let Some(value) = value {
            self.bytes.extend_from_slice(value);
        }
        self.entries.push(BatchedEntry {
            at,
            key_len,
            value_len: value.map(<[u8]>::len),
            start,
            timestamp,
        });
        self.contexts.push(context);
    }

    /// Room for `entries` more entries of `bytes` bytes in all.
    fn reserve(&mut self, entries: usize, bytes: usize) {
        self.bytes.reserve(bytes);
        self.entries.reserve(entries);
        self.contexts.reserve(entries);
    }

    /// The store key and value of `entry`.
    fn get(&self, entry: &BatchedEntry) -> (&[u8], Option<&[u8]>) {
        let (key, rest) = self.bytes[entry.at..].split_at(entry.key_len);
        (key, entry.value_len.map(|len| &rest[..len]))
    }

    fn clear(&mut self) {
        if self.bytes.capacity() > Self::KEPT_BYTES {
            *self = DirtyBatch::default();
        } else {
            self.bytes.clear();
            self.entries.clear();
            self.contexts.clear();
        }
    }
}

/// A write-down's writes waiting for the store below, with the old value
/// of each one that is reported (by its index in the batch), and what was
/// written so far.
struct PendingWrites<'a> {
    writes: Vec<WindowWrite<'a>>,
    reported: Vec<(usize, Option<Vec<u8>>)>,
    written: Vec<WindowFlushedEntry>,
}

impl StateStore for CachingWindowStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        self.inner.borrow().wrapped.persistent()
    }

    fn flush(&mut self) -> StoreResult<()> {
        let layout = self.layout;
        let inner = self.inner.get_mut();
        let report = inner.reports.retained();
        let written = inner.write_down(layout, None, report)?;
        inner.reports.keep(written);
        inner.wrapped.flush()
    }

    fn close(&mut self) -> StoreResult<()> {
        let flushed = self.flush();
        let inner = self.inner.get_mut();
        inner.cache.clear();
        // Nothing is cached now: reads go below (and find it closed).
        inner.uncached_upper = i64::MAX;
        let closed = inner.wrapped.close();
        flushed.and(closed)
    }
}

impl WindowBytesStore for CachingWindowStore {
    fn retention_ms(&self) -> i64 {
        self.inner.borrow().wrapped.retention_ms()
    }
    fn window_size_ms(&self) -> i64 {
        self.inner.borrow().wrapped.window_size_ms()
    }
    fn retain_duplicates(&self) -> bool {
        self.inner.borrow().wrapped.retain_duplicates()
    }
    fn order(&self) -> WindowOrder {
        self.layout.order
    }

    fn put(&mut self, key: &[u8], value: Option<&[u8]>, window_start: i64) -> StoreResult<()> {
        let ts = self.timestamp.get();
        let mut inner = self.borrow_mut()?;
        let inner = &mut *inner;
        self.layout.write_key(key, window_start, &mut inner.key_buf);
        let write = Write {
            timestamp: ts,
            context: inner.reports.context(),
            dirty: true,
        };
        inner.cache.put(&inner.key_buf, value, write);
        self.maybe_evict(inner)
    }

    fn fetch(&self, key: &[u8], window_start: i64) -> StoreResult<Option<Vec<u8>>> {
        let mut inner = self.borrow_mut()?;
        let inner = &mut *inner;
        self.layout.write_key(key, window_start, &mut inner.key_buf);
        if let Some(cached) = inner.cache.get(&inner.key_buf) {
            return Ok(cached.value.map(<[u8]>::to_vec));
        }
        if window_start > inner.uncached_upper {
            return Ok(None);
        }
        inner.wrapped.fetch(key, window_start)
    }

    fn fetch_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
        forward: bool,
    ) -> StoreResult<Vec<WindowEntry>> {
        if let (Some(f), Some(t)) = (key_from, key_to)
            && f > t
        {
            return Ok(Vec::new());
        }
        let stored = self.stored(time_from, |wrapped| {
            wrapped.fetch_range(key_from, key_to, time_from, time_to, forward)
        })?;
        self.merged(stored, key_from, key_to, time_from, time_to, forward)
    }

    /// Where the store below can hold nothing of the range (every window
    /// from `time_from` on is cached, see `Inner::uncached_upper`), the
    /// cache's entries are the whole answer and are lent as they are
    /// visited, with no merge and no copy of each key and value.
    fn visit_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
        forward: bool,
        visit: &mut WindowVisitor<'_>,
    ) -> StoreResult<()> {
        let bounds_hold_nothing =
            matches!((key_from, key_to), (Some(f), Some(t)) if f > t) || time_to < time_from;
        if bounds_hold_nothing {
            return Ok(());
        }
        let mut inner = self.borrow_mut()?;
        if time_from <= inner.uncached_upper {
            drop(inner);
            for e in self.fetch_range(key_from, key_to, time_from, time_to, forward)? {
                visit(&e.key, e.start, &e.value)?;
            }
            return Ok(());
        }
        // The cache's walk cannot stop early: after an error it visits on
        // without calling `visit`, and the first error is returned.
        let mut result = Ok(());
        inner.cached_windows(
            self.layout,
            key_from,
            key_to,
            time_from,
            time_to,
            forward,
            &mut |key, start, value| {
                if let (Ok(()), Some(value)) = (&result, value) {
                    result = visit(key, start, value);
                }
            },
        );
        result
    }

    fn fetch_all(
        &self,
        time_from: i64,
        time_to: i64,
        forward: bool,
    ) -> StoreResult<Vec<WindowEntry>> {
        let stored = self.stored(time_from, |wrapped| {
            wrapped.fetch_all(time_from, time_to, forward)
        })?;
        self.merged(stored, None, None, time_from, time_to, forward)
    }

    fn all(&self, forward: bool) -> StoreResult<Vec<WindowEntry>> {
        let stored = self.inner.borrow().wrapped.all(forward)?;
        self.merged(stored, None, None, 0, i64::MAX, forward)
    }

    fn restore_all(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        let layout = self.layout;
        let inner = self.inner.get_mut();
        for (key, _, _) in records {
            if let Some((k, start, _)) = split_window_store_key(key) {
                inner.cache.remove(&layout.key(k, start));
                inner.uncached_upper = inner.uncached_upper.max(start);
            }
        }
        inner.wrapped.restore_all(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::window::InMemoryWindowStore;

    /// A write-down's buffer is kept for the next one unless it grew past
    /// `DirtyBatch::KEPT_BYTES`, and either way every entry reaches the
    /// store below.
    #[test]
    fn write_down_buffers_are_kept_only_while_small() {
        let store = InMemoryWindowStore::new("w", 1 << 40, 10, false);
        let mut cache = CachingWindowStore::new(Box::new(store), 64 << 20, Rc::new(Cell::new(0)));
        let value = vec![7u8; 1_000];
        let kept = |cache: &mut CachingWindowStore| cache.inner.get_mut().batch.bytes.capacity();
        for start in 0..10 {
            cache.put(b"k", Some(&value), start).unwrap();
        }
        assert_eq!(cache.flush_entries().unwrap().len(), 10);
        assert!(
            kept(&mut cache) >= 10 * 1_000,
            "a small batch's buffer is kept"
        );
        for start in 0..2_000 {
            cache.put(b"k", Some(&value), start).unwrap();
        }
        let written = cache.flush_entries().unwrap();
        assert_eq!(written.len(), 2_000);
        assert_eq!(
            (
                written[1_999].key.as_slice(),
                written[1_999].start,
                written[1_999].new_value.as_deref()
            ),
            (&b"k"[..], 1_999, Some(&value[..]))
        );
        assert_eq!(kept(&mut cache), 0, "a large batch's buffer is let go");
        let inner = cache.inner.get_mut();
        assert_eq!(inner.wrapped.fetch(b"k", 1_999).unwrap(), Some(value));
    }
}
