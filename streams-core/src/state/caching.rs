//! The caching layer: Kafka Streams' `CachingKeyValueStore` over its record
//! cache.
//!
//! Writes land in the cache as *dirty* entries stamped with the timestamp of
//! the write; repeated writes of a key between two flushes collapse into one.
//! Dirty entries reach the store below (usually the logging layer, so also
//! the changelog) in two ways, both as in Kafka Streams:
//!
//! * a [`flush_entries`](CachingKeyValueStore::flush_entries) (the task's
//!   commit) writes every dirty entry down, in the order of each key's latest
//!   write;
//! * when the cache outgrows its byte budget, least recently used entries are
//!   evicted; evicting a *dirty* entry flushes the whole cache, the evicted
//!   entry first (Kafka's `NamedCache.flush(evicted)`). Those writes are kept
//!   for [`take_evicted`](CachingKeyValueStore::take_evicted).
//!
//! Each written entry is reported as a [`FlushedEntry`] with the value the
//! store held before, which is what a KTable forwards downstream as its
//! `Change(new, old)`. A dirty delete of a key the store does not hold is
//! neither written nor reported (Kafka skips it as an optimisation, and it
//! keeps tombstones for never-seen keys out of the changelog and output).
//!
//! Reads go to the cache first; a miss reads the store and, when it finds a
//! value, caches it clean (which can itself evict). A cached delete hides the
//! store's value, in `get` and in every scan.
//!
//! The budget is per store here (Kafka Streams shares one budget among all
//! caches of a thread); the task decides how to split
//! `statestore.cache.max.bytes` among its stores. A budget of 0 writes every
//! put straight through (and reports it), which is how caching behaves in
//! Kafka Streams with a zero-sized cache.

use std::cell::{Cell, RefCell};
use std::ops::Bound;
use std::rc::Rc;
use std::sync::Arc;

use super::cache::{DirtyEntry, NamedCache, Write};
use super::{
    BytesIter, BytesKeyValue, KeyValueBytesStore, StateStore, StoreError, StoreResult,
    TimestampedBytesWrite, range_is_inverted,
};
use crate::processor::{Headers, RecordMetadata};

/// What a cache entry keeps of the record that last wrote it, as Kafka
/// Streams keeps a record context in each cache entry: where the record came
/// from and its headers. A write-down forwards the entry with these, not
/// with those of the record whose processing wrote it down.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryContext {
    /// Topic, partition and offset; `None` for a write outside a record (in
    /// a punctuation).
    pub metadata: Option<RecordMetadata>,
    /// The record's headers (`None`: it had none), shared by the entries one
    /// record writes.
    pub headers: Option<Rc<Headers>>,
}

impl EntryContext {
    /// Makes this the context of a record from `metadata` with `headers`.
    /// The common case allocates nothing and moves no reference count: a
    /// record of the same topic as the last (the task shares its name),
    /// with no headers or the same ones.
    pub fn set(&mut self, metadata: Option<&RecordMetadata>, headers: &Headers) {
        self.set_metadata(metadata);
        if headers.is_empty() {
            self.headers = None;
        } else if self.headers.as_deref() != Some(headers) {
            self.headers = Some(Rc::new(headers.clone()));
        }
    }

    /// Makes this a copy of `other`.
    pub(crate) fn copy_from(&mut self, other: &EntryContext) {
        self.set_metadata(other.metadata.as_ref());
        let same = match (&self.headers, &other.headers) {
            (Some(kept), Some(new)) => Rc::ptr_eq(kept, new),
            (kept, new) => kept.is_none() && new.is_none(),
        };
        if !same {
            self.headers = other.headers.clone();
        }
    }

    fn set_metadata(&mut self, metadata: Option<&RecordMetadata>) {
        match (self.metadata.as_mut(), metadata) {
            (Some(kept), Some(new)) if Arc::ptr_eq(&kept.topic, &new.topic) => {
                kept.partition = new.partition;
                kept.offset = new.offset;
            }
            (_, new) => self.metadata = new.cloned(),
        }
    }

    /// Splits the context into the metadata and the headers a write-down
    /// forwards its entry with.
    pub fn into_parts(self) -> (Option<RecordMetadata>, Headers) {
        let headers = self.headers.map(Rc::unwrap_or_clone).unwrap_or_default();
        (self.metadata, headers)
    }
}

/// What a cache keeps for the owner that forwards its write-downs (Kafka
/// Streams' flush listener): the entries written down outside a flush the
/// owner asked for (evictions, the task's store flush), whether to keep
/// them at all, and the record context stamped on the next writes. Shared
/// by the key-value, window and session caches.
#[derive(Debug)]
pub(crate) struct Reports<E> {
    retain: bool,
    pending: Vec<E>,
    /// `None` until the owner first sets it: entries then carry none.
    context: Option<EntryContext>,
}

impl<E> Default for Reports<E> {
    fn default() -> Self {
        Reports {
            retain: true,
            pending: Vec::new(),
            context: None,
        }
    }
}

impl<E> Reports<E> {
    /// Keeps reports or not; turning them off drops those kept.
    pub(crate) fn set_retained(&mut self, retain: bool) {
        self.retain = retain;
        if !retain {
            self.pending.clear();
        }
    }

    /// Whether write-downs are kept for an owner that forwards them.
    pub(crate) fn retained(&self) -> bool {
        self.retain
    }

    /// See [`CachingKeyValueStore::set_record_context`].
    pub(crate) fn set_context(&mut self, metadata: Option<&RecordMetadata>, headers: &Headers) {
        self.context
            .get_or_insert_with(EntryContext::default)
            .set(metadata, headers);
    }

    /// The context to stamp on a write.
    pub(crate) fn context(&self) -> Option<&EntryContext> {
        self.context.as_ref()
    }

    /// Keeps what a write-down wrote, if reports are kept.
    pub(crate) fn keep(&mut self, written: Vec<E>) {
        if self.retain {
            self.pending.extend(written);
        }
    }

    /// The kept reports, taken.
    pub(crate) fn take(&mut self) -> Vec<E> {
        std::mem::take(&mut self.pending)
    }
}

/// One entry written down from the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlushedEntry {
    /// The key.
    pub key: Vec<u8>,
    /// The value written (`None`: a delete).
    pub new_value: Option<Vec<u8>>,
    /// The value the store below held just before this write.
    pub old_value: Option<Vec<u8>>,
    /// The timestamp of the record that last wrote the entry.
    pub timestamp: i64,
    /// The context of that record (empty unless the owner sets it, see
    /// [`CachingKeyValueStore::set_record_context`]).
    pub context: EntryContext,
}

struct Inner {
    cache: NamedCache,
    wrapped: Box<dyn KeyValueBytesStore>,
    /// Written-down entries kept for the owner, and the context of
    /// the next writes.
    reports: Reports<FlushedEntry>,
    /// See [`CachingKeyValueStore::set_read_old_values`].
    read_old_values: bool,
}

/// A store that caches reads and dedups writes by key in front of another
/// byte store (see the module docs).
///
/// The state sits in a `RefCell` because reads change it too: a read marks
/// the entry recently used and a read miss fills the cache, as in Kafka
/// Streams.
pub struct CachingKeyValueStore {
    name: String,
    max_bytes: usize,
    /// The timestamp of the record being processed, owned by the task.
    timestamp: Rc<Cell<i64>>,
    inner: RefCell<Inner>,
}

impl std::fmt::Debug for CachingKeyValueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingKeyValueStore")
            .field("name", &self.name)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl CachingKeyValueStore {
    /// Caches `wrapped` with a budget of `max_bytes` bytes. Each write is
    /// stamped with the value of `timestamp` at the time of the write: the
    /// timestamp of the record being processed, which the task keeps there.
    pub fn new(
        wrapped: Box<dyn KeyValueBytesStore>,
        max_bytes: usize,
        timestamp: Rc<Cell<i64>>,
    ) -> Self {
        CachingKeyValueStore {
            name: wrapped.name().to_owned(),
            max_bytes,
            timestamp,
            inner: RefCell::new(Inner {
                cache: NamedCache::new(),
                wrapped,
                reports: Reports::default(),
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

    /// Counts the cache's bytes in `pool` with the other caches of its
    /// stream thread, against one budget (see [`CachePool`](crate::state::CachePool)); `None`
    /// leaves it a budget of its own.
    pub fn with_cache_pool(mut self, pool: Option<crate::state::CachePool>) -> Self {
        if let Some(pool) = pool {
            self.inner.get_mut().cache.join_pool(pool);
        }
        self
    }

    /// Whether entries written down by evictions (and by
    /// [`StateStore::flush`]) are kept for
    /// [`take_evicted`](Self::take_evicted). On by default; a store whose
    /// owner never takes them (a plain key-value store without a downstream
    /// to forward to) turns it off so they do not pile up, which matches
    /// Kafka Streams' cache without a flush listener.
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
    /// Until it is first set, entries carry an empty context.
    pub fn set_record_context(&mut self, metadata: Option<&RecordMetadata>, headers: &Headers) {
        self.inner.get_mut().reports.set_context(metadata, headers);
    }

    /// The byte budget.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Entries currently cached.
    pub fn cached_entries(&self) -> usize {
        self.inner.borrow().cache.len()
    }

    /// Estimated bytes currently cached.
    pub fn cached_bytes(&self) -> usize {
        self.inner.borrow().cache.size_bytes()
    }

    /// Writes every dirty entry down and returns them, in the order of each
    /// key's latest write (Kafka Streams' flush order).
    pub fn flush_entries(&mut self) -> StoreResult<Vec<FlushedEntry>> {
        let inner = self.inner.get_mut();
        inner.write_down(None)
    }

    /// The entries written down by evictions (and by [`StateStore::flush`])
    /// since the last call.
    pub fn take_evicted(&mut self) -> Vec<FlushedEntry> {
        self.inner.get_mut().reports.take()
    }

    /// The store under the cache.
    pub fn wrapped(&self) -> std::cell::Ref<'_, dyn KeyValueBytesStore> {
        std::cell::Ref::map(self.inner.borrow(), |inner| &*inner.wrapped)
    }

    fn borrow_mut(&self) -> StoreResult<std::cell::RefMut<'_, Inner>> {
        self.inner
            .try_borrow_mut()
            .map_err(|_| StoreError::InvalidArgument {
                store: self.name.clone(),
                reason: "re-entrant call into the store's cache".to_owned(),
            })
    }

    /// Caches a write (or a read-through fill when `dirty` is false), then
    /// evicts until the cache fits its budget.
    fn cache_put(
        &self,
        inner: &mut Inner,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
        dirty: bool,
    ) -> StoreResult<()> {
        // A read fill has no record behind it.
        let write = Write {
            timestamp,
            context: if dirty { inner.reports.context() } else { None },
            dirty,
        };
        inner.cache.put(key, value, write);
        self.maybe_evict(inner)
    }

    fn maybe_evict(&self, inner: &mut Inner) -> StoreResult<()> {
        while inner.cache.budgeted_bytes() > self.max_bytes {
            let Some(evicted) = inner.cache.evict() else {
                break;
            };
            if evicted.dirty {
                let written = inner.write_down(Some(evicted.into_entry()))?;
                inner.reports.keep(written);
            }
        }
        Ok(())
    }

    /// The value of `key`, from the cache or the store below (caching what
    /// the store returns).
    fn get_internal(&self, inner: &mut Inner, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        if let Some(cached) = inner.cache.get(key) {
            return Ok(cached.value.map(<[u8]>::to_vec));
        }
        let value = inner.wrapped.get(key)?;
        if let Some(value) = &value {
            // A read fill has no record behind it; its timestamp is never
            // reported because clean entries are never written down.
            self.cache_put(inner, key, Some(value), -1, false)?;
        }
        Ok(value)
    }

    fn scan(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        forward: bool,
        store_iter: impl FnOnce(&dyn KeyValueBytesStore) -> StoreResult<Vec<BytesKeyValue>>,
    ) -> StoreResult<BytesIter<'_>> {
        let mut inner = self.borrow_mut()?;
        let cached = inner.cache.range(lower, upper, forward);
        let stored = store_iter(&*inner.wrapped)?;
        Ok(Box::new(merge(cached, stored, forward).into_iter()))
    }
}

impl Inner {
    /// Writes the dirty entries down, `evicted` (already out of the cache)
    /// first, and reports what was written.
    fn write_down(&mut self, evicted: Option<DirtyEntry>) -> StoreResult<Vec<FlushedEntry>> {
        if evicted.is_none() && !self.cache.has_dirty() {
            return Ok(Vec::new());
        }
        let dirty = self.cache.take_dirty_after(evicted);

        // Old values are read before the batch is written; the keys are
        // distinct (an evicted key has left the cache), so this equals
        // reading each one just before its own write.
        let mut batch: Vec<TimestampedBytesWrite> = Vec::with_capacity(dirty.len());
        let mut olds = Vec::with_capacity(dirty.len());
        let mut contexts = Vec::with_capacity(dirty.len());
        for entry in dirty {
            let old = if entry.value.is_none() || self.read_old_values {
                self.wrapped.get(&entry.key)?
            } else {
                None
            };
            if entry.value.is_none() && old.is_none() {
                continue;
            }
            batch.push((entry.key, entry.value, entry.timestamp));
            olds.push(old);
            contexts.push(entry.context);
        }
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.wrapped.put_all_with_timestamps(&batch)?;
        Ok(batch
            .into_iter()
            .zip(olds)
            .zip(contexts)
            .map(
                |(((key, new_value, timestamp), old_value), context)| FlushedEntry {
                    key,
                    new_value,
                    old_value,
                    timestamp,
                    context,
                },
            )
            .collect())
    }
}

/// Merges cached entries over stored ones, both sorted in the scan's
/// direction: a cached entry replaces the stored entry of its key, and a
/// cached delete hides it.
fn merge(
    cached: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    stored: Vec<BytesKeyValue>,
    forward: bool,
) -> Vec<BytesKeyValue> {
    let mut out = Vec::with_capacity(cached.len() + stored.len());
    let mut cached = cached.into_iter().peekable();
    let mut stored = stored.into_iter().peekable();
    loop {
        let take_cached = match (cached.peek(), stored.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((ck, _)), Some((sk, _))) => {
                if ck == sk {
                    // The cache holds the newer value: drop the stored one.
                    stored.next();
                    true
                } else {
                    (ck < sk) == forward
                }
            }
        };
        if take_cached {
            if let Some((key, Some(value))) = cached.next() {
                out.push((key, value));
            }
        } else if let Some(entry) = stored.next() {
            out.push(entry);
        }
    }
    out
}

fn included(bound: Option<&[u8]>) -> Bound<&[u8]> {
    bound.map_or(Bound::Unbounded, Bound::Included)
}

impl StateStore for CachingKeyValueStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        self.inner.borrow().wrapped.persistent()
    }

    /// Writes the dirty entries down (kept for
    /// [`take_evicted`](CachingKeyValueStore::take_evicted) when reports are
    /// retained), then flushes the store below.
    fn flush(&mut self) -> StoreResult<()> {
        let inner = self.inner.get_mut();
        let written = inner.write_down(None)?;
        inner.reports.keep(written);
        inner.wrapped.flush()
    }

    fn close(&mut self) -> StoreResult<()> {
        // As Kafka Streams: write what is dirty, drop the cache, close below.
        let flushed = self.flush();
        let inner = self.inner.get_mut();
        inner.cache.clear();
        let closed = inner.wrapped.close();
        flushed.and(closed)
    }
}

impl KeyValueBytesStore for CachingKeyValueStore {
    fn get(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let mut inner = self.borrow_mut()?;
        self.get_internal(&mut inner, key)
    }

    fn get_with(&self, key: &[u8], visit: &mut dyn FnMut(Option<&[u8]>)) -> StoreResult<()> {
        let mut inner = self.borrow_mut()?;
        if let Some(cached) = inner.cache.get(key) {
            visit(cached.value);
            return Ok(());
        }
        let value = self.get_internal(&mut inner, key)?;
        visit(value.as_deref());
        Ok(())
    }

    fn put(&mut self, key: &[u8], value: Option<&[u8]>) -> StoreResult<()> {
        let timestamp = self.timestamp.get();
        let mut inner = self.borrow_mut()?;
        self.cache_put(&mut inner, key, value, timestamp, true)
    }

    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let timestamp = self.timestamp.get();
        let mut inner = self.borrow_mut()?;
        let existing = self.get_internal(&mut inner, key)?;
        if existing.is_none() {
            self.cache_put(&mut inner, key, Some(value), timestamp, true)?;
        }
        Ok(existing)
    }

    fn put_all(&mut self, entries: &[(Vec<u8>, Option<Vec<u8>>)]) -> StoreResult<()> {
        let timestamp = self.timestamp.get();
        let mut inner = self.borrow_mut()?;
        for (key, value) in entries {
            self.cache_put(&mut inner, key, value.as_deref(), timestamp, true)?;
        }
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let timestamp = self.timestamp.get();
        let mut inner = self.borrow_mut()?;
        let existing = self.get_internal(&mut inner, key)?;
        self.cache_put(&mut inner, key, None, timestamp, true)?;
        Ok(existing)
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> StoreResult<BytesIter<'_>> {
        if range_is_inverted(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        self.scan(included(from), included(to), true, |store| {
            Ok(store.range(from, to)?.collect())
        })
    }

    fn reverse_range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> StoreResult<BytesIter<'_>> {
        if range_is_inverted(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        self.scan(included(from), included(to), false, |store| {
            Ok(store.reverse_range(from, to)?.collect())
        })
    }

    fn prefix_scan(&self, prefix: &[u8]) -> StoreResult<BytesIter<'_>> {
        let upper = super::prefix_upper_bound(prefix);
        let upper_bound = upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        self.scan(Bound::Included(prefix), upper_bound, true, |store| {
            Ok(store.prefix_scan(prefix)?.collect())
        })
    }

    fn approximate_num_entries(&self) -> StoreResult<u64> {
        // Kafka Streams answers with the store below alone.
        self.inner.borrow().wrapped.approximate_num_entries()
    }

    fn put_all_with_timestamps(&mut self, entries: &[TimestampedBytesWrite]) -> StoreResult<()> {
        let mut inner = self.borrow_mut()?;
        for (key, value, timestamp) in entries {
            self.cache_put(&mut inner, key, value.as_deref(), *timestamp, true)?;
        }
        Ok(())
    }

    fn restore_all(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        let inner = self.inner.get_mut();
        // Restored values supersede what the cache may hold for those keys.
        for (key, _, _) in records {
            inner.cache.remove(key);
        }
        inner.wrapped.restore_all(records)
    }

    fn restore_all_timestamped(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        let inner = self.inner.get_mut();
        for (key, _, _) in records {
            inner.cache.remove(key);
        }
        inner.wrapped.restore_all_timestamped(records)
    }
}
