//! Typed store handles: the serdes layer on top of a byte-store stack.
//!
//! A handle is an `Rc` around the stack and the serdes, so processors clone
//! it freely; every method takes `&self`. Keys and values are serialized into
//! buffers the handle keeps, so a `get` or `put` allocates nothing beyond
//! what the byte store itself needs. Serialization uses the store's
//! changelog topic name as the serde's topic, as Kafka Streams' metered
//! stores do (it matters to serdes that look schemas up by topic).
//!
//! Range bounds are compared as serialized bytes, like Kafka Streams: a
//! serde whose bytes do not sort like its values (for example negative
//! big-endian integers) gives ranges in byte order.

use std::cell::{Ref, RefCell, RefMut};
use std::rc::Rc;

use super::caching::{CachingKeyValueStore, EntryContext, FlushedEntry};
use super::timestamped::{ValueAndTimestamp, split_timestamped, write_timestamp_prefix};
use super::{BytesKeyValue, KeyValueBytesStore, StoreError, StoreResult};
use crate::processor::{Headers, RecordMetadata};
use crate::serde::{SerdeError, SerdeRef};

/// The byte-store stack under a typed handle: its top layer, with direct
/// access to the caching layer when there is one (its flush reports are not
/// part of the byte-store trait).
pub struct LayeredStore {
    top: Top,
}

enum Top {
    // Boxed: the cache is far larger than a pointer.
    Cached(Box<CachingKeyValueStore>),
    Plain(Box<dyn KeyValueBytesStore>),
}

impl std::fmt::Debug for LayeredStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayeredStore")
            .field("name", &self.bytes().name())
            .field("cached", &self.is_cached())
            .finish()
    }
}

impl LayeredStore {
    /// A stack without a cache; `store` is its top layer.
    pub fn new(store: Box<dyn KeyValueBytesStore>) -> Self {
        LayeredStore {
            top: Top::Plain(store),
        }
    }

    /// A stack topped by a cache.
    pub fn with_cache(store: CachingKeyValueStore) -> Self {
        LayeredStore {
            top: Top::Cached(Box::new(store)),
        }
    }

    /// Whether the top layer is a cache.
    pub fn is_cached(&self) -> bool {
        matches!(self.top, Top::Cached(_))
    }

    /// The top layer.
    pub fn bytes(&self) -> &dyn KeyValueBytesStore {
        match &self.top {
            Top::Cached(store) => store.as_ref(),
            Top::Plain(store) => store.as_ref(),
        }
    }

    /// The top layer, mutably.
    pub fn bytes_mut(&mut self) -> &mut dyn KeyValueBytesStore {
        match &mut self.top {
            Top::Cached(store) => store.as_mut(),
            Top::Plain(store) => store.as_mut(),
        }
    }

    /// The caching layer, if any.
    pub fn cache_mut(&mut self) -> Option<&mut CachingKeyValueStore> {
        match &mut self.top {
            Top::Cached(store) => Some(store.as_mut()),
            Top::Plain(_) => None,
        }
    }

    /// Writes the cache's dirty entries down and returns them (see
    /// [`CachingKeyValueStore::flush_entries`]); empty without a cache.
    pub fn flush_entries(&mut self) -> StoreResult<Vec<FlushedEntry>> {
        match &mut self.top {
            Top::Cached(store) => store.flush_entries(),
            Top::Plain(_) => Ok(Vec::new()),
        }
    }

    /// The entries evictions wrote down since the last call (see
    /// [`CachingKeyValueStore::take_evicted`]); empty without a cache.
    pub fn take_evicted(&mut self) -> Vec<FlushedEntry> {
        match &mut self.top {
            Top::Cached(store) => store.take_evicted(),
            Top::Plain(_) => Vec::new(),
        }
    }

    /// See [`CachingKeyValueStore::set_read_old_values`]; no-op without a
    /// cache.
    pub fn set_read_old_values(&mut self, on: bool) {
        if let Top::Cached(store) = &mut self.top {
            store.set_read_old_values(on);
        }
    }

    /// See [`CachingKeyValueStore::set_retained_reports`]; no-op without a
    /// cache.
    pub fn set_retained_reports(&mut self, retain: bool) {
        if let Top::Cached(store) = &mut self.top {
            store.set_retained_reports(retain);
        }
    }

    /// See [`CachingKeyValueStore::set_record_context`]; no-op without a
    /// cache.
    pub fn set_record_context(&mut self, metadata: Option<&RecordMetadata>, headers: &Headers) {
        if let Top::Cached(store) = &mut self.top {
            store.set_record_context(metadata, headers);
        }
    }
}

/// What both typed handles share: the stack, the serdes and scratch buffers.
struct Codec<K, V> {
    name: String,
    serde_topic: String,
    stack: Rc<RefCell<LayeredStore>>,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    key_buf: RefCell<Vec<u8>>,
    value_buf: RefCell<Vec<u8>>,
}

impl<K, V> Codec<K, V> {
    fn new(
        stack: Rc<RefCell<LayeredStore>>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        serde_topic: String,
    ) -> Self {
        let name = stack.borrow().bytes().name().to_owned();
        Codec {
            name,
            serde_topic,
            stack,
            key_serde,
            value_serde,
            key_buf: RefCell::new(Vec::new()),
            value_buf: RefCell::new(Vec::new()),
        }
    }

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

    fn stack(&self) -> StoreResult<Ref<'_, LayeredStore>> {
        self.stack.try_borrow().map_err(|_| self.busy())
    }

    fn stack_mut(&self) -> StoreResult<RefMut<'_, LayeredStore>> {
        self.stack.try_borrow_mut().map_err(|_| self.busy())
    }

    fn encode_key(&self, key: &K) -> StoreResult<Vec<u8>> {
        self.key_serde
            .serialize(&self.serde_topic, key)
            .map_err(|e| self.serde_error(e))
    }

    /// Runs `f` with `key` serialized into the handle's key buffer.
    fn with_key<R>(&self, key: &K, f: impl FnOnce(&[u8]) -> StoreResult<R>) -> StoreResult<R> {
        let mut buf = self.key_buf.try_borrow_mut().map_err(|_| self.busy())?;
        buf.clear();
        self.key_serde
            .serialize_into(&self.serde_topic, key, &mut buf)
            .map_err(|e| self.serde_error(e))?;
        f(&buf)
    }

    /// Runs `f` with `value` serialized into the handle's value buffer,
    /// after a timestamp prefix when `timestamp` is given.
    fn with_value<R>(
        &self,
        value: &V,
        timestamp: Option<i64>,
        f: impl FnOnce(&[u8]) -> StoreResult<R>,
    ) -> StoreResult<R> {
        let mut buf = self.value_buf.try_borrow_mut().map_err(|_| self.busy())?;
        buf.clear();
        if let Some(timestamp) = timestamp {
            write_timestamp_prefix(timestamp, &mut buf);
        }
        self.value_serde
            .serialize_into(&self.serde_topic, value, &mut buf)
            .map_err(|e| self.serde_error(e))?;
        f(&buf)
    }

    fn encode_value(&self, value: &V, timestamp: Option<i64>) -> StoreResult<Vec<u8>> {
        let mut out = Vec::new();
        if let Some(timestamp) = timestamp {
            write_timestamp_prefix(timestamp, &mut out);
        }
        self.value_serde
            .serialize_into(&self.serde_topic, value, &mut out)
            .map_err(|e| self.serde_error(e))?;
        Ok(out)
    }

    fn decode_key(&self, bytes: &[u8]) -> StoreResult<K> {
        self.key_serde
            .deserialize(&self.serde_topic, bytes)
            .map_err(|e| self.serde_error(e))
    }

    fn decode_value(&self, bytes: &[u8]) -> StoreResult<V> {
        self.value_serde
            .deserialize(&self.serde_topic, bytes)
            .map_err(|e| self.serde_error(e))
    }

    fn decode_timestamped(&self, bytes: &[u8]) -> StoreResult<ValueAndTimestamp<V>> {
        let (timestamp, raw) = split_timestamped(&self.name, bytes)?;
        Ok(ValueAndTimestamp {
            value: self.decode_value(raw)?,
            timestamp,
        })
    }

    /// Decodes the value stored under `key` with `decode`, reading it in
    /// place (see [`KeyValueBytesStore::get_with`]).
    fn get_decoded<R>(
        &self,
        key: &K,
        decode: impl FnOnce(&[u8]) -> StoreResult<R>,
    ) -> StoreResult<Option<R>> {
        self.with_key(key, |k| {
            let mut decode = Some(decode);
            let mut out = Ok(None);
            self.stack()?.bytes().get_with(k, &mut |bytes| {
                if let (Some(bytes), Some(decode)) = (bytes, decode.take()) {
                    out = decode(bytes).map(Some);
                }
            })?;
            out
        })
    }

    fn delete_bytes(&self, key: &K) -> StoreResult<Option<Vec<u8>>> {
        self.with_key(key, |k| self.stack_mut()?.bytes_mut().delete(k))
    }

    fn put_bytes(&self, key: &K, value: Option<(&V, Option<i64>)>) -> StoreResult<()> {
        self.with_key(key, |k| match value {
            Some((value, timestamp)) => self.with_value(value, timestamp, |v| {
                self.stack_mut()?.bytes_mut().put(k, Some(v))
            }),
            None => self.stack_mut()?.bytes_mut().put(k, None),
        })
    }

    fn put_if_absent_bytes(
        &self,
        key: &K,
        value: &V,
        timestamp: Option<i64>,
    ) -> StoreResult<Option<Vec<u8>>> {
        self.with_key(key, |k| {
            self.with_value(value, timestamp, |v| {
                self.stack_mut()?.bytes_mut().put_if_absent(k, v)
            })
        })
    }

    fn scan(&self, scan: Scan<'_, K>) -> StoreResult<Vec<BytesKeyValue>> {
        let bound = |k: Option<&K>| k.map(|k| self.encode_key(k)).transpose();
        let stack = self.stack()?;
        let store = stack.bytes();
        let iter = match scan {
            Scan::Range { from, to, forward } => {
                let from = bound(from)?;
                let to = bound(to)?;
                if forward {
                    store.range(from.as_deref(), to.as_deref())?.collect()
                } else {
                    store
                        .reverse_range(from.as_deref(), to.as_deref())?
                        .collect()
                }
            }
            Scan::Prefix(prefix) => store.prefix_scan(prefix)?.collect(),
        };
        Ok(iter)
    }

    fn decode_entries<T>(
        &self,
        entries: Vec<BytesKeyValue>,
        value: impl Fn(&Self, &[u8]) -> StoreResult<T>,
    ) -> StoreResult<Vec<(K, T)>> {
        entries
            .iter()
            .map(|(k, v)| Ok((self.decode_key(k)?, value(self, v)?)))
            .collect()
    }

    fn flush(&self) -> StoreResult<()> {
        self.stack_mut()?.bytes_mut().flush()
    }

    fn approximate_num_entries(&self) -> StoreResult<u64> {
        self.stack()?.bytes().approximate_num_entries()
    }

    fn is_cached(&self) -> StoreResult<bool> {
        Ok(self.stack()?.is_cached())
    }
}

enum Scan<'a, K> {
    Range {
        from: Option<&'a K>,
        to: Option<&'a K>,
        forward: bool,
    },
    Prefix(&'a [u8]),
}

/// A typed key-value store handle over a byte-store stack.
pub struct KeyValueStore<K, V> {
    codec: Rc<Codec<K, V>>,
}

impl<K, V> Clone for KeyValueStore<K, V> {
    fn clone(&self) -> Self {
        KeyValueStore {
            codec: Rc::clone(&self.codec),
        }
    }
}

impl<K, V> std::fmt::Debug for KeyValueStore<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyValueStore")
            .field("name", &self.codec.name)
            .finish_non_exhaustive()
    }
}

impl<K, V> KeyValueStore<K, V> {
    /// A handle over `stack`; `serde_topic` is the topic name passed to the
    /// serdes (the store's changelog topic name).
    pub fn new(
        stack: Rc<RefCell<LayeredStore>>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        serde_topic: impl Into<String>,
    ) -> Self {
        KeyValueStore {
            codec: Rc::new(Codec::new(
                stack,
                key_serde,
                value_serde,
                serde_topic.into(),
            )),
        }
    }

    /// A handle directly over one byte store (no cache), with the store's
    /// name as serde topic: handy in tests.
    pub fn from_store(
        store: Box<dyn KeyValueBytesStore>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Self {
        let topic = store.name().to_owned();
        Self::new(
            Rc::new(RefCell::new(LayeredStore::new(store))),
            key_serde,
            value_serde,
            topic,
        )
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.codec.name
    }

    /// The byte-store stack under this handle.
    pub fn layered(&self) -> &Rc<RefCell<LayeredStore>> {
        &self.codec.stack
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> StoreResult<Option<V>> {
        let codec = &*self.codec;
        codec.get_decoded(key, |bytes| codec.decode_value(bytes))
    }

    /// Stores `value` under `key`; `None` deletes it.
    pub fn put(&self, key: &K, value: Option<&V>) -> StoreResult<()> {
        self.codec.put_bytes(key, value.map(|v| (v, None)))
    }

    /// Stores `value` only if `key` has no value; returns the existing value.
    pub fn put_if_absent(&self, key: &K, value: &V) -> StoreResult<Option<V>> {
        let codec = &*self.codec;
        match codec.put_if_absent_bytes(key, value, None)? {
            Some(bytes) => codec.decode_value(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Stores every entry (`None` deletes) as one batch.
    pub fn put_all(&self, entries: &[(K, Option<V>)]) -> StoreResult<()> {
        let codec = &*self.codec;
        let encoded = entries
            .iter()
            .map(|(k, v)| {
                let value = v
                    .as_ref()
                    .map(|v| codec.encode_value(v, None))
                    .transpose()?;
                Ok((codec.encode_key(k)?, value))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        codec.stack_mut()?.bytes_mut().put_all(&encoded)
    }

    /// Deletes `key`, returning its old value.
    pub fn delete(&self, key: &K) -> StoreResult<Option<V>> {
        let codec = &*self.codec;
        match codec.delete_bytes(key)? {
            Some(bytes) => codec.decode_value(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn scan(&self, scan: Scan<'_, K>) -> StoreResult<Vec<(K, V)>> {
        let entries = self.codec.scan(scan)?;
        self.codec.decode_entries(entries, Codec::decode_value)
    }

    /// Entries whose serialized key is within `[from, to]` (both inclusive; a
    /// `None` bound is open), in key order. Empty when `from > to`.
    pub fn range(&self, from: Option<&K>, to: Option<&K>) -> StoreResult<Vec<(K, V)>> {
        self.scan(Scan::Range {
            from,
            to,
            forward: true,
        })
    }

    /// The entries of [`range`](Self::range) in descending key order.
    pub fn reverse_range(&self, from: Option<&K>, to: Option<&K>) -> StoreResult<Vec<(K, V)>> {
        self.scan(Scan::Range {
            from,
            to,
            forward: false,
        })
    }

    /// Every entry, in key order.
    pub fn all(&self) -> StoreResult<Vec<(K, V)>> {
        self.range(None, None)
    }

    /// Every entry, in descending key order.
    pub fn reverse_all(&self) -> StoreResult<Vec<(K, V)>> {
        self.reverse_range(None, None)
    }

    /// Entries whose serialized key starts with `prefix`, in key order.
    pub fn prefix_scan(&self, prefix: &[u8]) -> StoreResult<Vec<(K, V)>> {
        self.scan(Scan::Prefix(prefix))
    }

    /// An estimate of the number of entries.
    pub fn approximate_num_entries(&self) -> StoreResult<u64> {
        self.codec.approximate_num_entries()
    }

    /// Flushes the stack (a cache writes its dirty entries down).
    pub fn flush(&self) -> StoreResult<()> {
        self.codec.flush()
    }

    /// Whether the stack has a cache.
    pub fn is_cached(&self) -> bool {
        self.codec.is_cached().unwrap_or(false)
    }
}

/// A cache entry written down, decoded: what a caching KTable forwards as
/// `Change(new, old)` with the entry's timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedFlush<K, V> {
    /// The key.
    pub key: K,
    /// The value written (`None`: a delete).
    pub new: Option<ValueAndTimestamp<V>>,
    /// The value the store held before.
    pub old: Option<ValueAndTimestamp<V>>,
    /// The timestamp of the record that last wrote the entry.
    pub timestamp: i64,
    /// That record's context (see
    /// [`CachingKeyValueStore::set_record_context`]).
    pub context: EntryContext,
}

/// A typed handle over a store of [`ValueAndTimestamp`] values, kept in
/// Kafka Streams' timestamped format (`[8-byte big-endian
/// timestamp][value]`).
pub struct TimestampedKeyValueStore<K, V> {
    codec: Rc<Codec<K, V>>,
}

impl<K, V> Clone for TimestampedKeyValueStore<K, V> {
    fn clone(&self) -> Self {
        TimestampedKeyValueStore {
            codec: Rc::clone(&self.codec),
        }
    }
}

impl<K, V> std::fmt::Debug for TimestampedKeyValueStore<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimestampedKeyValueStore")
            .field("name", &self.codec.name)
            .finish_non_exhaustive()
    }
}

impl<K, V> TimestampedKeyValueStore<K, V> {
    /// A handle over `stack`; `serde_topic` is the topic name passed to the
    /// serdes (the store's changelog topic name).
    pub fn new(
        stack: Rc<RefCell<LayeredStore>>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        serde_topic: impl Into<String>,
    ) -> Self {
        TimestampedKeyValueStore {
            codec: Rc::new(Codec::new(
                stack,
                key_serde,
                value_serde,
                serde_topic.into(),
            )),
        }
    }

    /// A handle directly over one byte store (no cache), with the store's
    /// name as serde topic: handy in tests.
    pub fn from_store(
        store: Box<dyn KeyValueBytesStore>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Self {
        let topic = store.name().to_owned();
        Self::new(
            Rc::new(RefCell::new(LayeredStore::new(store))),
            key_serde,
            value_serde,
            topic,
        )
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.codec.name
    }

    /// The byte-store stack under this handle.
    pub fn layered(&self) -> &Rc<RefCell<LayeredStore>> {
        &self.codec.stack
    }

    /// The value and timestamp of `key`.
    pub fn get(&self, key: &K) -> StoreResult<Option<ValueAndTimestamp<V>>> {
        let codec = &*self.codec;
        codec.get_decoded(key, |bytes| codec.decode_timestamped(bytes))
    }

    /// The timestamp stored with `key`'s value, without decoding the value
    /// (a table source that forwards through its cache needs only this, to
    /// warn of out-of-order updates).
    pub(crate) fn get_timestamp(&self, key: &K) -> StoreResult<Option<i64>> {
        let codec = &*self.codec;
        codec.get_decoded(key, |bytes| {
            split_timestamped(&codec.name, bytes).map(|(timestamp, _)| timestamp)
        })
    }

    /// Stores `value` under `key`; `None` deletes it.
    pub fn put(&self, key: &K, value: Option<ValueAndTimestamp<V>>) -> StoreResult<()> {
        match &value {
            Some(v) => self.put_value(key, &v.value, v.timestamp),
            None => self.codec.put_bytes(key, None),
        }
    }

    /// Stores `value` with `timestamp` under `key`, borrowing the value (no
    /// `ValueAndTimestamp` to build when the caller still needs the value,
    /// for example to forward it).
    pub fn put_value(&self, key: &K, value: &V, timestamp: i64) -> StoreResult<()> {
        self.codec.put_bytes(key, Some((value, Some(timestamp))))
    }

    /// Stores `value` only if `key` has no value; returns the existing one.
    pub fn put_if_absent(
        &self,
        key: &K,
        value: &ValueAndTimestamp<V>,
    ) -> StoreResult<Option<ValueAndTimestamp<V>>> {
        let codec = &*self.codec;
        match codec.put_if_absent_bytes(key, &value.value, Some(value.timestamp))? {
            Some(bytes) => codec.decode_timestamped(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Stores every entry (`None` deletes) as one batch.
    pub fn put_all(&self, entries: &[(K, Option<ValueAndTimestamp<V>>)]) -> StoreResult<()> {
        let codec = &*self.codec;
        let encoded = entries
            .iter()
            .map(|(k, v)| {
                let value = v
                    .as_ref()
                    .map(|v| codec.encode_value(&v.value, Some(v.timestamp)))
                    .transpose()?;
                Ok((codec.encode_key(k)?, value))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        codec.stack_mut()?.bytes_mut().put_all(&encoded)
    }

    /// Deletes `key`, returning its old value and timestamp.
    pub fn delete(&self, key: &K) -> StoreResult<Option<ValueAndTimestamp<V>>> {
        let codec = &*self.codec;
        match codec.delete_bytes(key)? {
            Some(bytes) => codec.decode_timestamped(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn scan(&self, scan: Scan<'_, K>) -> StoreResult<Vec<(K, ValueAndTimestamp<V>)>> {
        let entries = self.codec.scan(scan)?;
        self.codec
            .decode_entries(entries, Codec::decode_timestamped)
    }

    /// Entries whose serialized key is within `[from, to]` (both inclusive; a
    /// `None` bound is open), in key order. Empty when `from > to`.
    pub fn range(
        &self,
        from: Option<&K>,
        to: Option<&K>,
    ) -> StoreResult<Vec<(K, ValueAndTimestamp<V>)>> {
        self.scan(Scan::Range {
            from,
            to,
            forward: true,
        })
    }

    /// The entries of [`range`](Self::range) in descending key order.
    pub fn reverse_range(
        &self,
        from: Option<&K>,
        to: Option<&K>,
    ) -> StoreResult<Vec<(K, ValueAndTimestamp<V>)>> {
        self.scan(Scan::Range {
            from,
            to,
            forward: false,
        })
    }

    /// Every entry, in key order.
    pub fn all(&self) -> StoreResult<Vec<(K, ValueAndTimestamp<V>)>> {
        self.range(None, None)
    }

    /// Every entry, in descending key order.
    pub fn reverse_all(&self) -> StoreResult<Vec<(K, ValueAndTimestamp<V>)>> {
        self.reverse_range(None, None)
    }

    /// Entries whose serialized key starts with `prefix`, in key order.
    pub fn prefix_scan(&self, prefix: &[u8]) -> StoreResult<Vec<(K, ValueAndTimestamp<V>)>> {
        self.scan(Scan::Prefix(prefix))
    }

    /// An estimate of the number of entries.
    pub fn approximate_num_entries(&self) -> StoreResult<u64> {
        self.codec.approximate_num_entries()
    }

    /// Flushes the stack (a cache writes its dirty entries down; their
    /// reports wait in [`take_evicted`](Self::take_evicted)).
    pub fn flush(&self) -> StoreResult<()> {
        self.codec.flush()
    }

    /// Whether the stack has a cache.
    pub fn is_cached(&self) -> bool {
        self.codec.is_cached().unwrap_or(false)
    }

    /// Writes the cache's dirty entries down and returns them decoded, in
    /// Kafka Streams' flush order; empty without a cache.
    pub fn flush_cache(&self) -> StoreResult<Vec<TypedFlush<K, V>>> {
        let entries = self.codec.stack_mut()?.flush_entries()?;
        self.decode_flushes(entries)
    }

    /// The entries evictions wrote down since the last call, decoded; empty
    /// without a cache.
    pub fn take_evicted(&self) -> StoreResult<Vec<TypedFlush<K, V>>> {
        let entries = self.codec.stack_mut()?.take_evicted();
        self.decode_flushes(entries)
    }

    /// Whether the cache's reports carry old values (see
    /// [`CachingKeyValueStore::set_read_old_values`]); no-op without a
    /// cache.
    pub fn set_read_old_values(&self, on: bool) -> StoreResult<()> {
        self.codec.stack_mut()?.set_read_old_values(on);
        Ok(())
    }

    /// Whether the cache keeps what evictions write down for
    /// [`take_evicted`](Self::take_evicted) (see
    /// [`CachingKeyValueStore::set_retained_reports`]); no-op without a
    /// cache.
    pub fn set_retained_reports(&self, retain: bool) -> StoreResult<()> {
        self.codec.stack_mut()?.set_retained_reports(retain);
        Ok(())
    }

    /// The record context that the next writes stamp on their entries
    /// (see [`CachingKeyValueStore::set_record_context`]); no-op without a
    /// cache.
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

    fn decode_flushes(&self, entries: Vec<FlushedEntry>) -> StoreResult<Vec<TypedFlush<K, V>>> {
        let codec = &*self.codec;
        let decode =
            |bytes: Option<Vec<u8>>| bytes.map(|b| codec.decode_timestamped(&b)).transpose();
        entries
            .into_iter()
            .map(|e| {
                Ok(TypedFlush {
                    key: codec.decode_key(&e.key)?,
                    new: decode(e.new_value)?,
                    old: decode(e.old_value)?,
                    timestamp: e.timestamp,
                    context: e.context,
                })
            })
            .collect()
    }
}
