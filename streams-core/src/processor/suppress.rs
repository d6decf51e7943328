//! `KTable::suppress`: Kafka Streams' `KTableSuppressProcessor` and its
//! in-memory, time-ordered buffer (`InMemoryTimeOrderedKeyValueChangeBuffer`).
//!
//! Each update is buffered under its key with a *buffer time*: the window
//! end for `until_window_closes`, the record timestamp for
//! `until_time_limit`. A key keeps the buffer time of its first update while
//! it stays buffered; later updates replace its value. After each record the
//! processor (whose stream time is the largest timestamp it has seen) evicts,
//! in `(buffer time, serialized key)` order, every entry whose buffer time is
//! `<= stream time - wait`, forwarding the last buffered change with the
//! timestamp and headers of the record that buffered it; final-results
//! suppression drops evicted tombstones. When the buffer then holds more
//! than its record or byte budget it either evicts early (oldest first) or
//! fails, per the buffer config.
//!
//! The buffer is a state store: its changelog (on by default) gets, at each
//! commit, each key changed since the last commit: the buffered entry in
//! Kafka's v3 format, or a tombstone if the key was evicted. (Kafka also
//! sets a `v` header on those records; the changelog writer here cannot
//! carry headers.)

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;

use super::aggregate::not_initialized;
use super::{Headers, Processor, ProcessorContext, Record};
use crate::error::StreamsError;
use crate::serde::{Change, SerdeRef};
use crate::state::{
    ChangelogWriter, ManagedStore, OpenedStore, StoreContext, StoreError, StoreFactory,
    StoreResult, TimestampedBytesWrite, changelog_topic_name,
};

const NULL_VALUE_SENTINEL: i32 = -1;
const OLD_PREV_DUPLICATE_VALUE_SENTINEL: i32 = -2;

/// The record context kept with a buffered update (Kafka's
/// `ProcessorRecordContext`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BufferContext {
    pub(crate) timestamp: i64,
    pub(crate) offset: i64,
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) headers: Headers,
}

impl BufferContext {
    fn size_estimate(&self) -> u64 {
        let headers: usize = self
            .headers
            .iter()
            .map(|h| h.key.encode_utf16().count() + h.value.as_ref().map_or(0, Vec::len))
            .sum();
        (8 + 8 + self.topic.encode_utf16().count() + 4 + headers) as u64
    }

    fn serialize_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&(self.topic.len() as i32).to_be_bytes());
        out.extend_from_slice(self.topic.as_bytes());
        out.extend_from_slice(&self.partition.to_be_bytes());
        out.extend_from_slice(&(self.headers.len() as i32).to_be_bytes());
        for h in self.headers.iter() {
            out.extend_from_slice(&(h.key.len() as i32).to_be_bytes());
            out.extend_from_slice(h.key.as_bytes());
            match &h.value {
                Some(v) => {
                    out.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    out.extend_from_slice(v);
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
    }
}

/// A buffered update, as bytes.
#[derive(Debug, Clone)]
struct BufferValue {
    /// The value the key had before it was first buffered.
    prior: Option<Vec<u8>>,
    old: Option<Vec<u8>>,
    new: Option<Vec<u8>>,
    /// Whether `prior` is the very same value as `old` (Kafka compares the
    /// arrays by reference for sizes).
    prior_is_old: bool,
    context: BufferContext,
}

impl BufferValue {
    fn size_estimate(&self) -> u64 {
        let len = |v: &Option<Vec<u8>>| v.as_ref().map_or(0, Vec::len) as u64;
        len(&self.prior)
            + if self.prior_is_old { 0 } else { len(&self.old) }
            + len(&self.new)
            + self.context.size_estimate()
    }

    /// Kafka's `BufferValue.serialize(8)` followed by the buffer time,
    /// including its zero padding when an old value equal to the prior one
    /// was sized but written as a sentinel.
    fn serialize(&self, time: i64) -> Vec<u8> {
        let mut out = Vec::new();
        self.context.serialize_into(&mut out);
        let start = out.len();
        let len = |v: &Option<Vec<u8>>| v.as_ref().map_or(0, Vec::len);
        let allocated = start
            + 4
            + len(&self.prior)
            + 4
            + if self.prior_is_old { 0 } else { len(&self.old) }
            + 4
            + len(&self.new);
        put_value(&mut out, &self.prior);
        match (&self.old, &self.prior) {
            (None, _) => out.extend_from_slice(&NULL_VALUE_SENTINEL.to_be_bytes()),
            (Some(old), Some(prior)) if old == prior => {
                out.extend_from_slice(&OLD_PREV_DUPLICATE_VALUE_SENTINEL.to_be_bytes())
            }
            (old, _) => put_value(&mut out, old),
        }
        put_value(&mut out, &self.new);
        out.extend_from_slice(&time.to_be_bytes());
        let total = allocated + 8;
        if out.len() < total {
            out.resize(total, 0);
        }
        out
    }

    fn deserialize(bytes: &[u8]) -> Option<(BufferValue, i64)> {
        let mut r = Reader { bytes, at: 0 };
        let timestamp = r.i64()?;
        let offset = r.i64()?;
        let topic_len = usize::try_from(r.i32()?).ok()?;
        let topic = String::from_utf8(r.take(topic_len)?.to_vec()).ok()?;
        let partition = r.i32()?;
        let count = r.i32()?;
        let mut headers = Headers::new();
        for _ in 0..count.max(0) {
            let key_len = usize::try_from(r.i32()?).ok()?;
            let key = String::from_utf8(r.take(key_len)?.to_vec()).ok()?;
            let value = r.nullable()?;
            headers.add(key, value);
        }
        let prior = r.nullable()?;
        let old_len = r.i32()?;
        let (old, prior_is_old) = match old_len {
            NULL_VALUE_SENTINEL => (None, false),
            OLD_PREV_DUPLICATE_VALUE_SENTINEL => (prior.clone(), true),
            n => (Some(r.take(usize::try_from(n).ok()?)?.to_vec()), false),
        };
        let new = r.nullable()?;
        let time = r.i64()?;
        Some((
            BufferValue {
                prior,
                old,
                new,
                prior_is_old,
                context: BufferContext {
                    timestamp,
                    offset,
                    topic,
                    partition,
                    headers,
                },
            },
            time,
        ))
    }
}

fn put_value(out: &mut Vec<u8>, v: &Option<Vec<u8>>) {
    match v {
        Some(v) => {
            out.extend_from_slice(&(v.len() as i32).to_be_bytes());
            out.extend_from_slice(v);
        }
        None => out.extend_from_slice(&NULL_VALUE_SENTINEL.to_be_bytes()),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(out)
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn nullable(&mut self) -> Option<Option<Vec<u8>>> {
        let n = self.i32()?;
        if n < 0 {
            return Some(None);
        }
        Some(Some(self.take(usize::try_from(n).ok()?)?.to_vec()))
    }
}

#[derive(Default)]
struct BufferState {
    sorted: BTreeMap<(i64, Vec<u8>), BufferValue>,
    index: rustc_hash::FxHashMap<Vec<u8>, i64>,
    mem_size: u64,
    dirty: BTreeSet<Vec<u8>>,
}

fn record_size(key: &[u8], value: &BufferValue) -> u64 {
    8 + key.len() as u64 + value.size_estimate()
}

impl BufferState {
    fn clean_put(&mut self, time: i64, key: Vec<u8>, value: BufferValue) {
        match self.index.get(&key) {
            None => {
                self.mem_size += record_size(&key, &value);
                self.index.insert(key.clone(), time);
                self.sorted.insert((time, key), value);
            }
            Some(&previous_time) => {
                let added = record_size(&key, &value);
                let removed = self
                    .sorted
                    .insert((previous_time, key.clone()), value)
                    .map_or(0, |old| record_size(&key, &old));
                self.mem_size = self.mem_size + added - removed;
            }
        }
    }

    fn remove(&mut self, key: &[u8]) {
        if let Some(time) = self.index.remove(key)
            && let Some(old) = self.sorted.remove(&(time, key.to_vec()))
        {
            self.mem_size -= record_size(key, &old);
        }
    }
}

/// The typed handle of a suppression buffer.
pub(crate) struct SuppressBuffer<K, V> {
    state: Rc<RefCell<BufferState>>,
    logging: bool,
    name: String,
    serde_topic: String,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
}

impl<K, V> Clone for SuppressBuffer<K, V> {
    fn clone(&self) -> Self {
        SuppressBuffer {
            state: Rc::clone(&self.state),
            logging: self.logging,
            name: self.name.clone(),
            serde_topic: self.serde_topic.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
        }
    }
}

impl<K, V> SuppressBuffer<K, V> {
    fn serde_error(&self, source: crate::serde::SerdeError) -> StoreError {
        StoreError::Serde {
            store: self.name.clone(),
            source,
        }
    }

    fn encode(&self, v: &Option<V>) -> StoreResult<Option<Vec<u8>>> {
        v.as_ref()
            .map(|v| {
                self.value_serde
                    .serialize(&self.serde_topic, v)
                    .map_err(|e| self.serde_error(e))
            })
            .transpose()
    }

    fn decode(&self, v: &Option<Vec<u8>>) -> StoreResult<Option<V>> {
        v.as_ref()
            .map(|b| {
                self.value_serde
                    .deserialize(&self.serde_topic, b)
                    .map_err(|e| self.serde_error(e))
            })
            .transpose()
    }

    /// Buffers `change` for `key`; a key already buffered keeps its buffer
    /// time and the value it had before it was first buffered.
    pub(crate) fn put(
        &self,
        time: i64,
        key: &K,
        change: &Change<V>,
        context: BufferContext,
    ) -> StoreResult<()> {
        let key = self
            .key_serde
            .serialize(&self.serde_topic, key)
            .map_err(|e| self.serde_error(e))?;
        let old = self.encode(&change.old_value)?;
        let new = self.encode(&change.new_value)?;
        let mut state = self.state.borrow_mut();
        let previous = state
            .index
            .get(&key)
            .and_then(|t| state.sorted.get(&(*t, key.clone())))
            .map(|v| v.prior.clone());
        let (prior, prior_is_old) = match previous {
            None => (old.clone(), true),
            Some(prior) => (prior, false),
        };
        let value = BufferValue {
            prior,
            old,
            new,
            prior_is_old,
            context,
        };
        if self.logging {
            state.dirty.insert(key.clone());
        }
        state.clean_put(time, key, value);
        Ok(())
    }

    /// The smallest buffer time, `i64::MAX` when empty.
    pub(crate) fn min_timestamp(&self) -> i64 {
        self.state
            .borrow()
            .sorted
            .keys()
            .next()
            .map_or(i64::MAX, |(t, _)| *t)
    }

    /// Buffered keys.
    pub(crate) fn num_records(&self) -> u64 {
        self.state.borrow().index.len() as u64
    }

    /// Estimated bytes buffered (Kafka's estimate).
    pub(crate) fn buffer_size(&self) -> u64 {
        self.state.borrow().mem_size
    }

    /// Removes the entry with the smallest buffer time and returns its key,
    /// its last change and the context that buffered it.
    pub(crate) fn pop_min(&self) -> StoreResult<Option<(K, Change<V>, BufferContext)>> {
        let mut state = self.state.borrow_mut();
        let Some(((time, key), value)) = state.sorted.pop_first() else {
            return Ok(None);
        };
        let _ = time;
        state.index.remove(&key);
        state.mem_size -= record_size(&key, &value);
        if self.logging {
            state.dirty.insert(key.clone());
        }
        drop(state);
        let k = self
            .key_serde
            .deserialize(&self.serde_topic, &key)
            .map_err(|e| self.serde_error(e))?;
        let change = Change::new(self.decode(&value.new)?, self.decode(&value.old)?);
        Ok(Some((k, change, value.context)))
    }
}

/// Declares a suppression buffer (in memory, logged by default).
pub(crate) struct SuppressBufferBuilder<K, V> {
    pub(crate) name: String,
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<V>,
    pub(crate) logging: bool,
    pub(crate) log_config: BTreeMap<String, String>,
}

impl<K: 'static, V: 'static> StoreFactory for SuppressBufferBuilder<K, V> {
    fn name(&self) -> &str {
        &self.name
    }
    fn is_persistent(&self) -> bool {
        false
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
        let topic = changelog_topic_name(&ctx.application_id, &self.name);
        let state = Rc::new(RefCell::new(BufferState::default()));
        let writer = if self.logging {
            ctx.changelog.clone()
        } else {
            None
        };
        let handle: Rc<dyn Any> = Rc::new(SuppressBuffer {
            state: Rc::clone(&state),
            logging: writer.is_some(),
            name: self.name.clone(),
            serde_topic: topic.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
        });
        let managed = SuppressBufferManaged {
            name: self.name.clone(),
            changelog_topic: writer.as_ref().map(|_| topic),
            partition: ctx.partition,
            writer,
            timestamp: Rc::clone(&ctx.timestamp),
            state,
        };
        Ok(OpenedStore {
            managed: Rc::new(RefCell::new(managed)),
            handle,
        })
    }
}

/// The task's side of a suppression buffer: logs dirty keys on flush,
/// restores from the changelog.
struct SuppressBufferManaged {
    name: String,
    changelog_topic: Option<String>,
    partition: i32,
    writer: Option<Rc<RefCell<dyn ChangelogWriter>>>,
    timestamp: Rc<Cell<i64>>,
    state: Rc<RefCell<BufferState>>,
}

impl ManagedStore for SuppressBufferManaged {
    fn name(&self) -> &str {
        &self.name
    }
    fn changelog_topic(&self) -> Option<&str> {
        self.changelog_topic.as_deref()
    }
    fn persistent(&self) -> bool {
        false
    }
    fn flush(&mut self) -> StoreResult<()> {
        let (Some(writer), Some(topic)) = (&self.writer, &self.changelog_topic) else {
            return Ok(());
        };
        let mut state = self.state.borrow_mut();
        let dirty = std::mem::take(&mut state.dirty);
        let mut writer = writer.borrow_mut();
        for key in dirty {
            match state.index.get(&key) {
                Some(&time) => {
                    let bytes = state
                        .sorted
                        .get(&(time, key.clone()))
                        .map(|v| v.serialize(time));
                    writer.send(
                        topic,
                        self.partition,
                        &key,
                        bytes.as_deref(),
                        self.timestamp.get(),
                    )?;
                }
                None => writer.send(topic, self.partition, &key, None, self.timestamp.get())?,
            }
        }
        Ok(())
    }
    fn close(&mut self) -> StoreResult<()> {
        let mut state = self.state.borrow_mut();
        *state = BufferState::default();
        Ok(())
    }
    fn restore_batch(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        let mut state = self.state.borrow_mut();
        for (key, value, _) in records {
            match value {
                None => state.remove(key),
                Some(bytes) => {
                    let (value, time) = BufferValue::deserialize(bytes).ok_or_else(|| {
                        StoreError::InvalidArgument {
                            store: self.name.clone(),
                            reason: "malformed suppression buffer changelog record".to_owned(),
                        }
                    })?;
                    state.remove(key);
                    state.clean_put(time, key.clone(), value);
                }
            }
        }
        Ok(())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// What to do when the buffer outgrows its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BufferFull {
    EmitEarly,
    ShutDown,
}

/// The buffer time of an update: `(key, record timestamp) -> time`.
pub(crate) type BufferTime<K> = Arc<dyn Fn(&K, i64) -> i64 + Send + Sync>;

/// `KTableSuppressProcessor`.
pub(crate) struct SuppressProcessor<K, V> {
    pub(crate) store_name: String,
    pub(crate) max_records: u64,
    pub(crate) max_bytes: u64,
    pub(crate) wait_ms: i64,
    pub(crate) buffer_time: BufferTime<K>,
    pub(crate) when_full: BufferFull,
    pub(crate) safe_to_drop_tombstones: bool,
    pub(crate) buffer: Option<SuppressBuffer<K, V>>,
    pub(crate) observed_stream_time: i64,
}

impl<K: Clone + 'static, V: Clone + 'static> SuppressProcessor<K, V> {
    fn over_capacity(&self, buffer: &SuppressBuffer<K, V>) -> bool {
        buffer.num_records() > self.max_records || buffer.buffer_size() > self.max_bytes
    }

    fn emit(
        &self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        evicted: (K, Change<V>, BufferContext),
    ) -> Result<(), StreamsError> {
        let (key, change, context) = evicted;
        if change.new_value.is_some() || !self.safe_to_drop_tombstones {
            ctx.forward(Record {
                key: Some(key),
                value: Some(change),
                timestamp: context.timestamp,
                headers: context.headers,
            })?;
        }
        Ok(())
    }
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, Change<V>, K, Change<V>>
    for SuppressProcessor<K, V>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<(), StreamsError> {
        self.buffer = Some(ctx.get_state_store::<SuppressBuffer<K, V>>(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<(), StreamsError> {
        let buffer = self
            .buffer
            .clone()
            .ok_or_else(|| not_initialized(ctx.node_name()))?;
        self.observed_stream_time = self.observed_stream_time.max(record.timestamp);
        let (Some(key), Some(change)) = (record.key, record.value) else {
            // A table update always has a key and a change.
            ctx.metrics().dropped_records += 1;
            return Ok(());
        };
        let (topic, partition, offset) = match ctx.record_metadata() {
            Some(m) => (m.topic.to_string(), m.partition, m.offset),
            None => (String::new(), -1, -1),
        };
        let context = BufferContext {
            timestamp: record.timestamp,
            offset,
            topic,
            partition,
            headers: record.headers,
        };
        let time = (self.buffer_time)(&key, record.timestamp);
        buffer.put(time, &key, &change, context)?;

        let expiry = self.observed_stream_time.saturating_sub(self.wait_ms);
        while buffer.min_timestamp() <= expiry {
            match buffer.pop_min()? {
                Some(evicted) => self.emit(ctx, evicted)?,
                None => break,
            }
        }
        if self.over_capacity(&buffer) {
            match self.when_full {
                BufferFull::EmitEarly => {
                    while self.over_capacity(&buffer) {
                        match buffer.pop_min()? {
                            Some(evicted) => self.emit(ctx, evicted)?,
                            None => break,
                        }
                    }
                }
                BufferFull::ShutDown => {
                    return Err(StreamsError::Processing {
                        node: ctx.node_name().to_string(),
                        reason: format!(
                            "{} buffer exceeded its max capacity. Currently [{}/{}] records and [{}/{}] bytes. \
                             (Raise BufferConfig::with_max_records / with_max_bytes, or use emit_early_when_full().)",
                            ctx.node_name(),
                            buffer.num_records(),
                            self.max_records,
                            buffer.buffer_size(),
                            self.max_bytes
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(ts: i64) -> BufferContext {
        BufferContext {
            timestamp: ts,
            offset: 3,
            topic: "in".into(),
            partition: 0,
            headers: Headers::new(),
        }
    }

    #[test]
    fn changelog_value_round_trips() {
        let v = BufferValue {
            prior: Some(b"p".to_vec()),
            old: Some(b"p".to_vec()),
            new: Some(b"n".to_vec()),
            prior_is_old: true,
            context: ctx(7),
        };
        let bytes = v.serialize(42);
        // context: 8 + 8 + 4 + 2 + 4 + 4 = 30; prior 4 + 1; old sentinel 4;
        // new 4 + 1; time 8.
        assert_eq!(bytes.len(), 30 + 5 + 4 + 5 + 8);
        let (back, time) = BufferValue::deserialize(&bytes).unwrap();
        assert_eq!(time, 42);
        assert_eq!(back.new, Some(b"n".to_vec()));
        assert_eq!(back.old, Some(b"p".to_vec()));
        assert_eq!(back.context, ctx(7));
    }

    #[test]
    fn equal_but_distinct_old_value_is_padded_like_kafka() {
        let v = BufferValue {
            prior: Some(b"p".to_vec()),
            old: Some(b"p".to_vec()),
            new: None,
            prior_is_old: false,
            context: ctx(7),
        };
        let bytes = v.serialize(1);
        assert_eq!(bytes.len(), 30 + 5 + 4 + 1 + 4 + 8);
        assert_eq!(BufferValue::deserialize(&bytes).unwrap().1, 1);
    }
}
