//! The logging and caching layers of window stores (Kafka Streams'
//! `ChangeLoggingWindowBytesStore` / `ChangeLoggingTimestampedWindowBytesStore`
//! and `CachingWindowStore`).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::rc::Rc;

use super::{
    WindowBytesStore, WindowEntry, WindowOrder, key_in_range, split_window_store_key,
    window_store_key,
};
use crate::state::cache::{DirtyEntry, NamedCache};
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
        }
    }

    /// The changelog topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    fn log(&self, key: &[u8], value: Option<&[u8]>) -> StoreResult<()> {
        let (value, timestamp) = match value {
            Some(v) if self.timestamped => {
                let (ts, raw) = split_timestamped(self.inner.name(), v)?;
                (Some(raw), ts)
            }
            other => (other, self.timestamp.get()),
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

    fn put(&mut self, key: &[u8], value: Option<&[u8]>, window_start: i64) -> StoreResult<()> {
        self.inner.put(key, value, window_start)?;
        if self.inner.retain_duplicates() {
            self.seqnum = (self.seqnum + 1) & 0x7FFF_FFFF;
        }
        let store_key = window_store_key(key, window_start, self.seqnum);
        self.log(&store_key, value)
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
}

struct Inner {
    cache: NamedCache,
    wrapped: Box<dyn WindowBytesStore>,
    pending: Vec<WindowFlushedEntry>,
    /// See [`CachingWindowStore::set_read_old_values`].
    read_old_values: bool,
}

/// A record cache in front of a window byte store (Kafka Streams'
/// `CachingWindowStore`): puts of one window between two commits collapse
/// into one write (and one downstream record), written down in the order of
/// each window's latest put on commit, or earlier when the cache outgrows
/// its budget and evicts a dirty entry (which writes every dirty entry,
/// the evicted one first).
///
/// A write-down skips a delete of a window the store below does not hold.
/// Each write-down runs with the task's current timestamp set to the
/// entry's own, so the changelog below stamps it as Kafka Streams does.
pub struct CachingWindowStore {
    name: String,
    max_bytes: usize,
    timestamp: Rc<Cell<i64>>,
    retain_reports: bool,
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
            retain_reports: true,
            inner: RefCell::new(Inner {
                cache: NamedCache::new(),
                wrapped,
                pending: Vec::new(),
                read_old_values: true,
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

    /// Whether write-downs outside [`flush_entries`](Self::flush_entries)
    /// are kept for [`take_evicted`](Self::take_evicted) (on by default;
    /// off for stores nobody forwards from).
    pub fn with_retained_reports(mut self, retain: bool) -> Self {
        self.retain_reports = retain;
        self
    }

    /// Writes every dirty entry down and returns them in write-down order.
    pub fn flush_entries(&mut self) -> StoreResult<Vec<WindowFlushedEntry>> {
        let timestamp = Rc::clone(&self.timestamp);
        self.inner.get_mut().write_down(None, &timestamp)
    }

    /// The entries evictions (and [`StateStore::flush`]) wrote down since the
    /// last call.
    pub fn take_evicted(&mut self) -> Vec<WindowFlushedEntry> {
        std::mem::take(&mut self.inner.get_mut().pending)
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
            // An empty time range (the single-key cache bounds below would
            // be inverted).
            return Ok(Vec::new());
        }
        let mut inner = self.borrow_mut()?;
        let (lower, upper) = match (key_from, key_to) {
            (Some(f), Some(t)) if f == t => (
                Some(window_store_key(f, time_from.max(0), 0)),
                Some(window_store_key(t, time_to, u32::MAX)),
            ),
            _ => (key_from.map(<[u8]>::to_vec), None),
        };
        let cached = inner.cache.range(
            lower.as_deref().map_or(Bound::Unbounded, Bound::Included),
            upper.as_deref().map_or(Bound::Unbounded, Bound::Included),
            true,
        );
        if cached.is_empty() {
            return Ok(stored);
        }
        let order = inner.wrapped.order();
        drop(inner);
        let mut by_window: BTreeMap<(Vec<u8>, i64), WindowEntry> = stored
            .into_iter()
            .map(|e| ((e.key.clone(), e.start), e))
            .collect();
        for (cache_key, value) in cached {
            let Some((key, start, _)) = split_window_store_key(&cache_key) else {
                continue;
            };
            if start < time_from || start > time_to || !key_in_range(key, key_from, key_to) {
                continue;
            }
            match value {
                Some(value) => {
                    by_window.insert(
                        (key.to_vec(), start),
                        WindowEntry {
                            key: key.to_vec(),
                            start,
                            seqnum: 0,
                            value,
                        },
                    );
                }
                None => {
                    by_window.remove(&(key.to_vec(), start));
                }
            }
        }
        let mut out: Vec<WindowEntry> = by_window.into_values().collect();
        order.sort(&mut out, forward);
        Ok(out)
    }

    fn maybe_evict(&self, inner: &mut Inner) -> StoreResult<()> {
        while inner.cache.size_bytes() > self.max_bytes {
            let Some(evicted) = inner.cache.evict() else {
                break;
            };
            if evicted.dirty {
                let written = inner.write_down(Some(evicted.entry), &self.timestamp)?;
                if self.retain_reports {
                    inner.pending.extend(written);
                }
            }
        }
        Ok(())
    }
}

impl Inner {
    fn write_down(
        &mut self,
        evicted: Option<DirtyEntry>,
        timestamp: &Cell<i64>,
    ) -> StoreResult<Vec<WindowFlushedEntry>> {
        if evicted.is_none() && !self.cache.has_dirty() {
            return Ok(Vec::new());
        }
        let mut dirty = Vec::new();
        dirty.extend(evicted);
        dirty.extend(self.cache.take_dirty());
        let previous = timestamp.get();
        let mut out = Vec::with_capacity(dirty.len());
        let result = (|| {
            for entry in dirty {
                let Some((key, start, _)) = split_window_store_key(&entry.key) else {
                    continue;
                };
                let old = if entry.value.is_none() || self.read_old_values {
                    self.wrapped.fetch(key, start)?
                } else {
                    None
                };
                if entry.value.is_none() && old.is_none() {
                    continue;
                }
                timestamp.set(entry.timestamp);
                self.wrapped.put(key, entry.value.as_deref(), start)?;
                out.push(WindowFlushedEntry {
                    key: key.to_vec(),
                    start,
                    new_value: entry.value,
                    old_value: old,
                    timestamp: entry.timestamp,
                });
            }
            Ok(())
        })();
        timestamp.set(previous);
        result.map(|()| out)
    }
}

impl StateStore for CachingWindowStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        self.inner.borrow().wrapped.persistent()
    }

    fn flush(&mut self) -> StoreResult<()> {
        let retain = self.retain_reports;
        let timestamp = Rc::clone(&self.timestamp);
        let inner = self.inner.get_mut();
        let written = inner.write_down(None, &timestamp)?;
        if retain {
            inner.pending.extend(written);
        }
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
        self.inner.borrow().wrapped.order()
    }

    fn put(&mut self, key: &[u8], value: Option<&[u8]>, window_start: i64) -> StoreResult<()> {
        let ts = self.timestamp.get();
        let cache_key = window_store_key(key, window_start, 0);
        let mut inner = self.borrow_mut()?;
        inner.cache.put(&cache_key, value, ts, true);
        self.maybe_evict(&mut inner)
    }

    fn fetch(&self, key: &[u8], window_start: i64) -> StoreResult<Option<Vec<u8>>> {
        let cache_key = window_store_key(key, window_start, 0);
        let mut inner = self.borrow_mut()?;
        if let Some(cached) = inner.cache.get(&cache_key) {
            return Ok(cached.value.map(<[u8]>::to_vec));
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
        let stored = self
            .inner
            .borrow()
            .wrapped
            .fetch_range(key_from, key_to, time_from, time_to, forward)?;
        self.merged(stored, key_from, key_to, time_from, time_to, forward)
    }

    fn fetch_all(
        &self,
        time_from: i64,
        time_to: i64,
        forward: bool,
    ) -> StoreResult<Vec<WindowEntry>> {
        let stored = self
            .inner
            .borrow()
            .wrapped
            .fetch_all(time_from, time_to, forward)?;
        self.merged(stored, None, None, time_from, time_to, forward)
    }

    fn all(&self, forward: bool) -> StoreResult<Vec<WindowEntry>> {
        let stored = self.inner.borrow().wrapped.all(forward)?;
        self.merged(stored, None, None, 0, i64::MAX, forward)
    }

    fn restore_all(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        let inner = self.inner.get_mut();
        for (key, _, _) in records {
            if let Some((k, start, _)) = split_window_store_key(key) {
                inner.cache.remove(&window_store_key(k, start, 0));
            }
        }
        inner.wrapped.restore_all(records)
    }
}
