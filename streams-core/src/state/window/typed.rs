//! Typed window store handles: serdes over a window byte-store stack.
//!
//! Results of multi-key reads come back as [`Windowed`] keys whose window
//! end is `start + window size` (clamped to `i64::MAX`), as Kafka Streams'
//! window stores rebuild them.

use std::cell::{Ref, RefCell, RefMut};
use std::rc::Rc;

use super::layers::{CachingWindowStore, WindowFlushedEntry};
use super::{WindowBytesStore, WindowEntry};
use crate::processor::{Headers, RecordMetadata};
use crate::serde::{SerdeError, SerdeRef};
use crate::state::caching::EntryContext;
use crate::state::timestamped::{split_timestamped, write_timestamp_prefix};
use crate::state::{StoreError, StoreResult, ValueAndTimestamp};
use crate::window::{Window, Windowed};

/// The byte-store stack under a typed window handle, with direct access to
/// its cache when there is one.
pub struct WindowLayeredStore {
    top: Top,
}

enum Top {
    // Boxed: the cache is far larger than a pointer.
    Cached(Box<CachingWindowStore>),
    Plain(Box<dyn WindowBytesStore>),
}

impl std::fmt::Debug for WindowLayeredStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowLayeredStore")
            .field("name", &self.bytes().name())
            .field("cached", &self.is_cached())
            .finish()
    }
}

impl WindowLayeredStore {
    /// A stack without a cache.
    pub fn new(store: Box<dyn WindowBytesStore>) -> Self {
        WindowLayeredStore {
            top: Top::Plain(store),
        }
    }

    /// A stack topped by a cache.
    pub fn with_cache(store: CachingWindowStore) -> Self {
        WindowLayeredStore {
            top: Top::Cached(Box::new(store)),
        }
    }

    /// Whether the top layer is a cache.
    pub fn is_cached(&self) -> bool {
        matches!(self.top, Top::Cached(_))
    }

    /// The top layer.
    pub fn bytes(&self) -> &dyn WindowBytesStore {
        match &self.top {
            Top::Cached(s) => s.as_ref(),
            Top::Plain(s) => s.as_ref(),
        }
    }

    /// The top layer, mutably.
    pub fn bytes_mut(&mut self) -> &mut dyn WindowBytesStore {
        match &mut self.top {
            Top::Cached(s) => s.as_mut(),
            Top::Plain(s) => s.as_mut(),
        }
    }

    /// Writes the cache's dirty entries down and returns them; empty
    /// without a cache.
    pub fn flush_entries(&mut self) -> StoreResult<Vec<WindowFlushedEntry>> {
        match &mut self.top {
            Top::Cached(s) => s.flush_entries(),
            Top::Plain(_) => Ok(Vec::new()),
        }
    }

    /// What evictions wrote down since the last call; empty without a cache.
    pub fn take_evicted(&mut self) -> Vec<WindowFlushedEntry> {
        match &mut self.top {
            Top::Cached(s) => s.take_evicted(),
            Top::Plain(_) => Vec::new(),
        }
    }

    /// See [`CachingWindowStore::set_record_context`]; no-op without a
    /// cache.
    pub fn set_record_context(&mut self, metadata: Option<&RecordMetadata>, headers: &Headers) {
        if let Top::Cached(s) = &mut self.top {
            s.set_record_context(metadata, headers);
        }
    }

    /// See [`CachingWindowStore::set_read_old_values`]; no-op without a
    /// cache.
    pub fn set_read_old_values(&mut self, on: bool) {
        if let Top::Cached(s) = &mut self.top {
            s.set_read_old_values(on);
        }
    }

    /// See [`CachingWindowStore::set_retained_reports`]; no-op without a
    /// cache.
    pub fn set_retained_reports(&mut self, retain: bool) {
        if let Top::Cached(s) = &mut self.top {
            s.set_retained_reports(retain);
        }
    }
}

/// The most decoded windows a store's range-read buffer keeps between
/// reads (see `Codec::found`).
const FOUND_KEPT: usize = 256;

struct Codec<K, V> {
    name: String,
    serde_topic: String,
    window_size_ms: i64,
    timestamped: bool,
    stack: Rc<RefCell<WindowLayeredStore>>,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    key_buf: RefCell<Vec<u8>>,
    value_buf: RefCell<Vec<u8>>,
    /// What a range read decodes, then moves into its result at the
    /// exact count: a result grown by pushes reallocated as it grew, which
    /// cost a read of a few windows more than the move (the window-store
    /// benchmark's profile). Let go past [`FOUND_KEPT`] entries.
    found: RefCell<Vec<(Windowed<K>, ValueAndTimestamp<V>)>>,
}

impl<K, V> Codec<K, V> {
    fn busy(&self) -> StoreError {
        StoreError::InvalidArgument {
            store: self.name.clone(),
            reason: "re-entrant call into the store (from a serde?)".to_owned(),
        }
    }

    fn serde_error(&self, source: SerdeError) -> StoreError {
        StoreError::Serde {
            store: self.name.clone(),
            source,
        }
    }

    fn stack(&self) -> StoreResult<Ref<'_, WindowLayeredStore>> {
        self.stack.try_borrow().map_err(|_| self.busy())
    }

    fn stack_mut(&self) -> StoreResult<RefMut<'_, WindowLayeredStore>> {
        self.stack.try_borrow_mut().map_err(|_| self.busy())
    }

    fn with_key<R>(&self, key: &K, f: impl FnOnce(&[u8]) -> StoreResult<R>) -> StoreResult<R> {
        let mut buf = self.key_buf.try_borrow_mut().map_err(|_| self.busy())?;
        buf.clear();
        self.key_serde
            .serialize_into(&self.serde_topic, key, &mut buf)
            .map_err(|e| self.serde_error(e))?;
        f(&buf)
    }

    fn decode_key(&self, bytes: &[u8]) -> StoreResult<K> {
        self.key_serde
            .deserialize(&self.serde_topic, bytes)
            .map_err(|e| self.serde_error(e))
    }

    /// Decodes a stored value into the value and its timestamp (`-1`, as
    /// Kafka's unknown timestamp, for a plain store).
    fn decode_value(&self, bytes: &[u8]) -> StoreResult<ValueAndTimestamp<V>> {
        let (timestamp, raw) = if self.timestamped {
            split_timestamped(&self.name, bytes)?
        } else {
            (-1, bytes)
        };
        let value = self
            .value_serde
            .deserialize(&self.serde_topic, raw)
            .map_err(|e| self.serde_error(e))?;
        Ok(ValueAndTimestamp::new(value, timestamp))
    }

    fn put(&self, key: &K, value: Option<(&V, i64)>, window_start: i64) -> StoreResult<()> {
        self.with_key(key, |k| match value {
            Some((value, timestamp)) => {
                let mut buf = self.value_buf.try_borrow_mut().map_err(|_| self.busy())?;
                buf.clear();
                if self.timestamped {
                    write_timestamp_prefix(timestamp, &mut buf);
                }
                self.value_serde
                    .serialize_into(&self.serde_topic, value, &mut buf)
                    .map_err(|e| self.serde_error(e))?;
                self.stack_mut()?
                    .bytes_mut()
                    .put(k, Some(&buf), window_start)
            }
            None => self.stack_mut()?.bytes_mut().put(k, None, window_start),
        })
    }

    fn fetch(&self, key: &K, window_start: i64) -> StoreResult<Option<ValueAndTimestamp<V>>> {
        let bytes = self.with_key(key, |k| self.stack()?.bytes().fetch(k, window_start))?;
        bytes.map(|b| self.decode_value(&b)).transpose()
    }

    fn window(&self, start: i64) -> Window {
        Window::from_valid_bounds(start, start.saturating_add(self.window_size_ms))
    }

    /// The windows of keys in `[key_from, key_to]` over `[time_from,
    /// time_to]`, decoded from the bytes the store lends (see
    /// [`WindowBytesStore::visit_range`]). Both bounds are encoded into
    /// one reused buffer.
    fn range(
        &self,
        key_from: Option<&K>,
        key_to: Option<&K>,
        time_from: i64,
        time_to: i64,
        forward: bool,
    ) -> StoreResult<Vec<(Windowed<K>, ValueAndTimestamp<V>)>> {
        let mut buf = self.key_buf.try_borrow_mut().map_err(|_| self.busy())?;
        buf.clear();
        let encode = |key: Option<&K>, buf: &mut Vec<u8>| {
            let at = buf.len();
            key.map(|k| {
                self.key_serde
                    .serialize_into(&self.serde_topic, k, buf)
                    .map_err(|e| self.serde_error(e))?;
                Ok((at, buf.len()))
            })
            .transpose()
        };
        let from = encode(key_from, &mut buf)?;
        let to = encode(key_to, &mut buf)?;
        let buf: &[u8] = &buf;
        let bound = |at: Option<(usize, usize)>| at.map(|(a, b)| &buf[a..b]);
        let mut found = self.found.try_borrow_mut().map_err(|_| self.busy())?;
        found.clear();
        self.stack()?.bytes().visit_range(
            bound(from),
            bound(to),
            time_from,
            time_to,
            forward,
            &mut |key, start, value| {
                found.push((
                    Windowed::new(self.decode_key(key)?, self.window(start)),
                    self.decode_value(value)?,
                ));
                Ok(())
            },
        )?;
        let out = found.drain(..).collect();
        if found.capacity() > FOUND_KEPT {
            *found = Vec::new();
        }
        Ok(out)
    }

    /// `key`'s windows in `[time_from, time_to]`, each decoded by `decode`
    /// straight from the bytes the store lends (see
    /// [`WindowBytesStore::visit_range`]).
    fn key_range<T>(
        &self,
        key: &K,
        time_from: i64,
        time_to: i64,
        forward: bool,
        decode: impl Fn(&[u8]) -> StoreResult<T>,
    ) -> StoreResult<Vec<(i64, T)>> {
        let mut out = Vec::new();
        self.with_key(key, |k| {
            self.stack()?.bytes().visit_range(
                Some(k),
                Some(k),
                time_from,
                time_to,
                forward,
                &mut |_, start, bytes| {
                    out.push((start, decode(bytes)?));
                    Ok(())
                },
            )
        })?;
        Ok(out)
    }

    fn decode_windowed(
        &self,
        entries: Vec<WindowEntry>,
    ) -> StoreResult<Vec<(Windowed<K>, ValueAndTimestamp<V>)>> {
        entries
            .into_iter()
            .map(|e| {
                Ok((
                    Windowed::new(self.decode_key(&e.key)?, self.window(e.start)),
                    self.decode_value(&e.value)?,
                ))
            })
            .collect()
    }

    fn decode_flushes(
        &self,
        entries: Vec<WindowFlushedEntry>,
    ) -> StoreResult<Vec<WindowTypedFlush<K, V>>> {
        let decode = |b: Option<Vec<u8>>| b.map(|b| self.decode_value(&b)).transpose();
        entries
            .into_iter()
            .map(|e| {
                Ok(WindowTypedFlush {
                    key: Windowed::new(self.decode_key(&e.key)?, self.window(e.start)),
                    new: decode(e.new_value)?,
                    old: decode(e.old_value)?,
                    timestamp: e.timestamp,
                    context: e.context,
                })
            })
            .collect()
    }
}

/// A window cache entry written down, decoded: what a caching windowed
/// KTable forwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowTypedFlush<K, V> {
    /// The windowed key.
    pub key: Windowed<K>,
    /// The value written (`None`: a delete).
    pub new: Option<ValueAndTimestamp<V>>,
    /// The value the store held before.
    pub old: Option<ValueAndTimestamp<V>>,
    /// The timestamp of the record that last wrote the entry.
    pub timestamp: i64,
    /// That record's context (see
    /// [`CachingWindowStore::set_record_context`]).
    pub context: EntryContext,
}

macro_rules! window_handle_common {
    ($ty:ident) => {
        impl<K, V> Clone for $ty<K, V> {
            fn clone(&self) -> Self {
                $ty {
                    codec: Rc::clone(&self.codec),
                }
            }
        }

        impl<K, V> std::fmt::Debug for $ty<K, V> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("name", &self.codec.name)
                    .finish_non_exhaustive()
            }
        }

        impl<K, V> $ty<K, V> {
            fn from_parts(
                stack: Rc<RefCell<WindowLayeredStore>>,
                key_serde: SerdeRef<K>,
                value_serde: SerdeRef<V>,
                serde_topic: String,
                timestamped: bool,
            ) -> Self {
                let (name, window_size_ms) = {
                    let s = stack.borrow();
                    (s.bytes().name().to_owned(), s.bytes().window_size_ms())
                };
                $ty {
                    codec: Rc::new(Codec {
                        name,
                        serde_topic,
                        window_size_ms,
                        timestamped,
                        stack,
                        key_serde,
                        value_serde,
                        key_buf: RefCell::new(Vec::new()),
                        value_buf: RefCell::new(Vec::new()),
                        found: RefCell::new(Vec::new()),
                    }),
                }
            }

            /// The store's name.
            pub fn name(&self) -> &str {
                &self.codec.name
            }

            /// The window size used to rebuild window ends.
            pub fn window_size_ms(&self) -> i64 {
                self.codec.window_size_ms
            }

            /// The byte-store stack under this handle.
            pub fn layered(&self) -> &Rc<RefCell<WindowLayeredStore>> {
                &self.codec.stack
            }

            /// Whether the stack has a cache.
            pub fn is_cached(&self) -> bool {
                self.codec.stack().is_ok_and(|s| s.is_cached())
            }

            /// Flushes the stack (a cache writes its dirty entries down).
            pub fn flush(&self) -> StoreResult<()> {
                self.codec.stack_mut()?.bytes_mut().flush()
            }
        }
    };
}

/// A typed handle over a window store of timestamped values (Kafka Streams'
/// `TimestampedWindowStore`): what windowed aggregations keep.
pub struct TimestampedWindowStore<K, V> {
    codec: Rc<Codec<K, V>>,
}

window_handle_common!(TimestampedWindowStore);

impl<K, V> TimestampedWindowStore<K, V> {
    /// A handle over `stack`; `serde_topic` is the topic name passed to the
    /// serdes (the changelog topic name).
    pub fn new(
        stack: Rc<RefCell<WindowLayeredStore>>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        serde_topic: impl Into<String>,
    ) -> Self {
        Self::from_parts(stack, key_serde, value_serde, serde_topic.into(), true)
    }

    /// Stores `value` for the window of `key` starting at `window_start`;
    /// `None` deletes the window.
    pub fn put(
        &self,
        key: &K,
        value: Option<&ValueAndTimestamp<V>>,
        window_start: i64,
    ) -> StoreResult<()> {
        self.codec
            .put(key, value.map(|v| (&v.value, v.timestamp)), window_start)
    }

    /// Stores `value` with `timestamp` without building a
    /// `ValueAndTimestamp`.
    pub fn put_value(
        &self,
        key: &K,
        value: &V,
        timestamp: i64,
        window_start: i64,
    ) -> StoreResult<()> {
        self.codec.put(key, Some((value, timestamp)), window_start)
    }

    /// The value of one window.
    pub fn fetch(&self, key: &K, window_start: i64) -> StoreResult<Option<ValueAndTimestamp<V>>> {
        self.codec.fetch(key, window_start)
    }

    /// The windows of `key` whose start is in `[time_from, time_to]`, by
    /// start time: `(start, value)`.
    pub fn fetch_range(
        &self,
        key: &K,
        time_from: i64,
        time_to: i64,
    ) -> StoreResult<Vec<(i64, ValueAndTimestamp<V>)>> {
        self.values(key, time_from, time_to, true)
    }

    /// [`fetch_range`](Self::fetch_range) latest window first.
    pub fn backward_fetch_range(
        &self,
        key: &K,
        time_from: i64,
        time_to: i64,
    ) -> StoreResult<Vec<(i64, ValueAndTimestamp<V>)>> {
        self.values(key, time_from, time_to, false)
    }

    fn values(
        &self,
        key: &K,
        from: i64,
        to: i64,
        forward: bool,
    ) -> StoreResult<Vec<(i64, ValueAndTimestamp<V>)>> {
        self.codec
            .key_range(key, from, to, forward, |v| self.codec.decode_value(v))
    }

    /// Windows of keys in `[key_from, key_to]` (open where `None`) whose
    /// start is in `[time_from, time_to]`, in the store's order.
    pub fn fetch_key_range(
        &self,
        key_from: Option<&K>,
        key_to: Option<&K>,
        time_from: i64,
        time_to: i64,
    ) -> StoreResult<Vec<(Windowed<K>, ValueAndTimestamp<V>)>> {
        self.codec.range(key_from, key_to, time_from, time_to, true)
    }

    /// [`fetch_key_range`](Self::fetch_key_range) in reverse order.
    pub fn backward_fetch_key_range(
        &self,
        key_from: Option<&K>,
        key_to: Option<&K>,
        time_from: i64,
        time_to: i64,
    ) -> StoreResult<Vec<(Windowed<K>, ValueAndTimestamp<V>)>> {
        self.codec
            .range(key_from, key_to, time_from, time_to, false)
    }

    /// Every window whose start is in `[time_from, time_to]`.
    pub fn fetch_all(
        &self,
        time_from: i64,
        time_to: i64,
    ) -> StoreResult<Vec<(Windowed<K>, ValueAndTimestamp<V>)>> {
        let entries = self
            .codec
            .stack()?
            .bytes()
            .fetch_all(time_from, time_to, true)?;
        self.codec.decode_windowed(entries)
    }

    /// [`fetch_all`](Self::fetch_all) in reverse order.
    pub fn backward_fetch_all(
        &self,
        time_from: i64,
        time_to: i64,
    ) -> StoreResult<Vec<(Windowed<K>, ValueAndTimestamp<V>)>> {
        let entries = self
            .codec
            .stack()?
            .bytes()
            .fetch_all(time_from, time_to, false)?;
        self.codec.decode_windowed(entries)
    }

    /// Every live window.
    pub fn all(&self) -> StoreResult<Vec<(Windowed<K>, ValueAndTimestamp<V>)>> {
        let entries = self.codec.stack()?.bytes().all(true)?;
        self.codec.decode_windowed(entries)
    }

    /// [`all`](Self::all) in reverse order.
    pub fn backward_all(&self) -> StoreResult<Vec<(Windowed<K>, ValueAndTimestamp<V>)>> {
        let entries = self.codec.stack()?.bytes().all(false)?;
        self.codec.decode_windowed(entries)
    }

    /// A read view with plain values over the same store (the timestamps
    /// are dropped on read; puts through the view store timestamp -1).
    pub fn as_plain(&self) -> WindowStore<K, V> {
        WindowStore {
            codec: Rc::clone(&self.codec),
        }
    }

    /// Writes the cache's dirty entries down and returns them decoded, in
    /// write-down order; empty without a cache.
    pub fn flush_cache(&self) -> StoreResult<Vec<WindowTypedFlush<K, V>>> {
        let entries = self.codec.stack_mut()?.flush_entries()?;
        self.codec.decode_flushes(entries)
    }

    /// What evictions wrote down since the last call, decoded.
    pub fn take_evicted(&self) -> StoreResult<Vec<WindowTypedFlush<K, V>>> {
        let entries = self.codec.stack_mut()?.take_evicted();
        self.codec.decode_flushes(entries)
    }

    /// The record context the cache stamps on the entries of the next
    /// writes (see [`CachingWindowStore::set_record_context`]); no-op
    /// without a cache.
    pub fn set_record_context(
        &self,
        metadata: Option<&RecordMetadata>,
        headers: &Headers,
    ) -> StoreResult<()> {
        self.codec
            .stack_mut()?
            .set_record_context(metadata, headers);
        Ok(())
    }

    /// Whether the cache's reports carry old values (see
    /// [`CachingWindowStore::set_read_old_values`]); no-op without a cache.
    pub fn set_read_old_values(&self, on: bool) -> StoreResult<()> {
        self.codec.stack_mut()?.set_read_old_values(on);
        Ok(())
    }

    /// Whether the cache keeps what evictions write down for
    /// [`take_evicted`](Self::take_evicted) (see
    /// [`CachingWindowStore::set_retained_reports`]); no-op without a cache.
    pub fn set_retained_reports(&self, retain: bool) -> StoreResult<()> {
        self.codec.stack_mut()?.set_retained_reports(retain);
        Ok(())
    }
}

/// A typed handle over a window store of plain values (Kafka Streams'
/// `WindowStore`), as stream-stream joins keep.
pub struct WindowStore<K, V> {
    codec: Rc<Codec<K, V>>,
}

window_handle_common!(WindowStore);

impl<K, V> WindowStore<K, V> {
    /// A handle over `stack`; `serde_topic` is the topic name passed to the
    /// serdes (the changelog topic name).
    pub fn new(
        stack: Rc<RefCell<WindowLayeredStore>>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        serde_topic: impl Into<String>,
    ) -> Self {
        Self::from_parts(stack, key_serde, value_serde, serde_topic.into(), false)
    }

    /// Stores `value` for the window of `key` starting at `window_start`;
    /// `None` deletes it (a store retaining duplicates ignores deletes and
    /// keeps every put).
    pub fn put(&self, key: &K, value: Option<&V>, window_start: i64) -> StoreResult<()> {
        self.codec.put(key, value.map(|v| (v, -1)), window_start)
    }

    /// How many write-downs the cache kept for an owner since the last
    /// call (and drops them): what a plain store must never pile up.
    #[cfg(test)]
    pub(crate) fn take_evicted_count(&self) -> StoreResult<usize> {
        Ok(self.codec.stack_mut()?.take_evicted().len())
    }

    /// The value of one window.
    pub fn fetch(&self, key: &K, window_start: i64) -> StoreResult<Option<V>> {
        Ok(self.codec.fetch(key, window_start)?.map(|v| v.value))
    }

    /// The values of `key` in windows starting in `[time_from, time_to]`
    /// (both inclusive), by start time: `(start, value)`; with duplicates
    /// retained, every put in put order within a start time.
    pub fn fetch_range(&self, key: &K, time_from: i64, time_to: i64) -> StoreResult<Vec<(i64, V)>> {
        self.values(key, time_from, time_to, true)
    }

    /// [`fetch_range`](Self::fetch_range) latest first.
    pub fn backward_fetch_range(
        &self,
        key: &K,
        time_from: i64,
        time_to: i64,
    ) -> StoreResult<Vec<(i64, V)>> {
        self.values(key, time_from, time_to, false)
    }

    fn values(&self, key: &K, from: i64, to: i64, forward: bool) -> StoreResult<Vec<(i64, V)>> {
        self.codec.key_range(key, from, to, forward, |v| {
            Ok(self.codec.decode_value(v)?.value)
        })
    }

    /// Windows of keys in `[key_from, key_to]` (open where `None`) whose
    /// start is in `[time_from, time_to]`, in the store's order.
    pub fn fetch_key_range(
        &self,
        key_from: Option<&K>,
        key_to: Option<&K>,
        time_from: i64,
        time_to: i64,
    ) -> StoreResult<Vec<(Windowed<K>, V)>> {
        let decoded = self
            .codec
            .range(key_from, key_to, time_from, time_to, true)?;
        Ok(values_only(decoded))
    }

    /// [`fetch_key_range`](Self::fetch_key_range) in reverse order.
    pub fn backward_fetch_key_range(
        &self,
        key_from: Option<&K>,
        key_to: Option<&K>,
        time_from: i64,
        time_to: i64,
    ) -> StoreResult<Vec<(Windowed<K>, V)>> {
        let decoded = self
            .codec
            .range(key_from, key_to, time_from, time_to, false)?;
        Ok(values_only(decoded))
    }

    /// Every window whose start is in `[time_from, time_to]`.
    pub fn fetch_all(&self, time_from: i64, time_to: i64) -> StoreResult<Vec<(Windowed<K>, V)>> {
        let entries = self
            .codec
            .stack()?
            .bytes()
            .fetch_all(time_from, time_to, true)?;
        self.plain(entries)
    }

    /// [`fetch_all`](Self::fetch_all) in reverse order.
    pub fn backward_fetch_all(
        &self,
        time_from: i64,
        time_to: i64,
    ) -> StoreResult<Vec<(Windowed<K>, V)>> {
        let entries = self
            .codec
            .stack()?
            .bytes()
            .fetch_all(time_from, time_to, false)?;
        self.plain(entries)
    }

    /// Every live window.
    pub fn all(&self) -> StoreResult<Vec<(Windowed<K>, V)>> {
        let entries = self.codec.stack()?.bytes().all(true)?;
        self.plain(entries)
    }

    /// [`all`](Self::all) in reverse order.
    pub fn backward_all(&self) -> StoreResult<Vec<(Windowed<K>, V)>> {
        let entries = self.codec.stack()?.bytes().all(false)?;
        self.plain(entries)
    }

    fn plain(&self, entries: Vec<WindowEntry>) -> StoreResult<Vec<(Windowed<K>, V)>> {
        Ok(values_only(self.codec.decode_windowed(entries)?))
    }
}

/// Decoded windows without their timestamps (a plain store's reads).
fn values_only<K, V>(decoded: Vec<(Windowed<K>, ValueAndTimestamp<V>)>) -> Vec<(Windowed<K>, V)> {
    decoded.into_iter().map(|(k, v)| (k, v.value)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde::Serdes;
    use crate::state::window::InMemoryWindowStore;

    /// A range read's buffer is kept for the next read while small, let
    /// go after a large one, and left empty either way.
    #[test]
    fn range_reads_keep_their_buffer_only_while_small() {
        let store = InMemoryWindowStore::new("w", 1 << 40, 10, false);
        let stack = Rc::new(RefCell::new(WindowLayeredStore::new(Box::new(store))));
        let windows: WindowStore<i32, i64> =
            WindowStore::from_parts(stack, Serdes::i32(), Serdes::i64(), "t".to_owned(), false);
        for start in 0..1_000 {
            windows
                .put(&(start as i32 % 4), Some(&start), start)
                .unwrap();
        }
        let kept = |w: &WindowStore<i32, i64>| {
            let found = w.codec.found.borrow();
            (found.len(), found.capacity())
        };
        let few = windows.fetch_key_range(Some(&1), Some(&2), 0, 9).unwrap();
        let few: Vec<_> = few
            .iter()
            .map(|(w, v)| (w.key, w.window.start(), *v))
            .collect();
        // The in-memory store lists by window start, then key, as Kafka's.
        assert_eq!(few, [(1, 1, 1), (2, 2, 2), (1, 5, 5), (2, 6, 6), (1, 9, 9)]);
        let (len, capacity) = kept(&windows);
        assert_eq!(len, 0);
        assert!(capacity >= 5, "a small read's buffer is kept");
        let all = windows.fetch_key_range(None, None, 0, 999).unwrap();
        assert_eq!(all.len(), 1_000);
        assert_eq!(kept(&windows), (0, 0), "a large read's buffer is let go");
    }
}
