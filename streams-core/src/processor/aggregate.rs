//! Stream aggregation (`KGroupedStream::count / reduce / aggregate`) and the
//! forwarding rule shared by every operator that keeps a timestamped
//! key-value store: forward at once when the store has no cache, else
//! forward what the cache writes down (on flush or eviction), which is how
//! Kafka Streams deduplicates updates between commits.

use std::marker::PhantomData;
use std::sync::Arc;

use super::{Headers, Processor, ProcessorContext, Record};
use crate::error::StreamsError;
use crate::serde::Change;
use crate::state::{EntryContext, TimestampedKeyValueStore, TypedFlush, ValueAndTimestamp};

/// Forwards `record`, written down from a cache entry, with the record
/// context the entry kept (that of the record that last wrote it: its
/// metadata, and its headers on the record), as Kafka Streams' cache flush
/// listeners do.
pub(crate) fn forward_with_context<K: Clone + 'static, V: Clone + 'static>(
    ctx: &mut ProcessorContext<'_, K, V>,
    context: EntryContext,
    record: Record<K, V>,
) -> Result<(), StreamsError> {
    let (metadata, headers) = context.into_parts();
    let previous = std::mem::replace(&mut ctx.task.metadata, metadata);
    let result = ctx.forward(record.with_headers(headers));
    ctx.task.metadata = previous;
    result
}

/// Forwards the updates of a timestamped store as `Change`s, honouring the
/// store's cache (Kafka Streams' `TimestampedTupleForwarder` and
/// `TimestampedCacheFlushListener`).
pub(crate) struct ChangeForwarder<K, V> {
    pub(crate) store: TimestampedKeyValueStore<K, V>,
    pub(crate) send_old_values: bool,
    /// Whether what the cache writes down is forwarded: false without a
    /// cache, or with nothing downstream (then the task's store flush
    /// writes the cache down and nobody decodes what it wrote).
    reports: bool,
}

impl<K: Clone + 'static, V: Clone + 'static> ChangeForwarder<K, V> {
    /// A forwarder of `store`'s updates to the children of the processor
    /// (`has_children`: whether it has any). The store's cache reads the
    /// values its write-downs replace only when they are sent downstream (or
    /// for a delete), as Kafka Streams' flush listener does, and keeps no
    /// reports when nothing is downstream.
    pub(crate) fn new(
        store: TimestampedKeyValueStore<K, V>,
        send_old_values: bool,
        has_children: bool,
    ) -> Result<Self, StreamsError> {
        store.set_read_old_values(send_old_values && has_children)?;
        store.set_retained_reports(has_children)?;
        Ok(ChangeForwarder {
            reports: store.is_cached() && has_children,
            store,
            send_old_values,
        })
    }

    /// Before a record's writes: the cache stamps the entries they write
    /// with the record's context (`headers` are the record's), which their
    /// write-down forwards.
    pub(crate) fn begin_record(
        &self,
        ctx: &ProcessorContext<'_, K, Change<V>>,
        headers: &Headers,
    ) -> Result<(), StreamsError> {
        if self.reports {
            self.store
                .set_record_context(ctx.record_metadata(), headers)?;
        }
        Ok(())
    }

    /// Forwards an update now when the store is not cached; otherwise only
    /// forwards what the put evicted from the cache.
    pub(crate) fn maybe_forward(
        &self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        record: Record<K, Change<V>>,
    ) -> Result<(), StreamsError> {
        if self.store.is_cached() {
            if !self.reports {
                return Ok(());
            }
            let evicted = self.store.take_evicted()?;
            self.forward_flushed(ctx, evicted)
        } else {
            ctx.forward(with_old_value_if(record, self.send_old_values))
        }
    }

    /// Writes the cache down and forwards what it held.
    pub(crate) fn flush(
        &self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<(), StreamsError> {
        if self.reports {
            let flushed = self.store.flush_cache()?;
            self.forward_flushed(ctx, flushed)?;
        }
        Ok(())
    }

    fn forward_flushed(
        &self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        entries: Vec<TypedFlush<K, V>>,
    ) -> Result<(), StreamsError> {
        for entry in entries {
            // Nothing before and nothing now: Kafka's cache skips it.
            if entry.new.is_none() && entry.old.is_none() {
                continue;
            }
            let timestamp = entry.new.as_ref().map_or(entry.timestamp, |n| n.timestamp);
            let new_value = entry.new.map(|n| n.value);
            let old_value = if self.send_old_values {
                entry.old.map(|o| o.value)
            } else {
                None
            };
            let record = Record::new(
                Some(entry.key),
                Some(Change::new(new_value, old_value)),
                timestamp,
            );
            forward_with_context(ctx, entry.context, record)?;
        }
        Ok(())
    }
}

/// The result of one aggregation step: the new aggregate and the old one as
/// Kafka Streams reports it (for `aggregate`, the initializer's value when
/// the key had none; for `reduce`, nothing).
pub(crate) struct Step<VA> {
    pub(crate) new: VA,
    pub(crate) old: Option<VA>,
}

/// `KGroupedStream` aggregation. `S` folds one value into the current
/// aggregate (count, reduce and aggregate differ only in `S`).
pub(crate) struct StreamAggregate<K, V, VA, S> {
    pub(crate) store_name: String,
    pub(crate) step: Arc<S>,
    pub(crate) send_old_values: bool,
    pub(crate) forwarder: Option<ChangeForwarder<K, VA>>,
    pub(crate) _types: PhantomData<fn(K, V)>,
}

impl<K, V, VA, S> Processor<K, V, K, Change<VA>> for StreamAggregate<K, V, VA, S>
where
    K: Clone + 'static,
    V: 'static,
    VA: Clone + 'static,
    S: Fn(&K, &V, Option<VA>) -> Step<VA> + 'static,
{
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VA>>) -> Result<(), StreamsError> {
        let store = ctx.get_state_store::<TimestampedKeyValueStore<K, VA>>(&self.store_name)?;
        self.forwarder = Some(ChangeForwarder::new(
            store,
            self.send_old_values,
            ctx.has_children(),
        )?);
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, Change<VA>>,
    ) -> Result<(), StreamsError> {
        let (Some(key), Some(value)) = (record.key.as_ref(), record.value.as_ref()) else {
            // Kafka Streams skips records with a null key or value here.
            ctx.metrics().dropped_records += 1;
            return Ok(());
        };
        let forwarder = self
            .forwarder
            .as_ref()
            .ok_or_else(|| not_initialized(ctx.node_name()))?;
        let old = forwarder.store.get(key)?;
        let (old_value, timestamp) = match old {
            Some(ValueAndTimestamp { value, timestamp }) => {
                (Some(value), record.timestamp.max(timestamp))
            }
            None => (None, record.timestamp),
        };
        let step = (self.step)(key, value, old_value);
        forwarder.begin_record(ctx, &record.headers)?;
        forwarder.store.put(
            key,
            Some(ValueAndTimestamp::new(step.new.clone(), timestamp)),
        )?;
        let out = Record {
            key: record.key,
            value: Some(Change::new(Some(step.new), step.old)),
            timestamp,
            headers: record.headers,
        };
        forwarder.maybe_forward(ctx, out)
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VA>>) -> Result<(), StreamsError> {
        match &self.forwarder {
            Some(f) => f.flush(ctx),
            None => Ok(()),
        }
    }
}

/// `record` as a table forwards it downstream: with the old value only
/// when the table sends old values (Kafka Streams forwards `Change`s with
/// a null old value otherwise).
pub(crate) fn with_old_value_if<K, V>(
    record: Record<K, Change<V>>,
    send_old_values: bool,
) -> Record<K, Change<V>> {
    if send_old_values {
        record
    } else {
        let value = record.value.map(|c| Change::new(c.new_value, None));
        Record { value, ..record }
    }
}

pub(crate) fn not_initialized(node: &str) -> StreamsError {
    StreamsError::Processing {
        node: node.to_string(),
        reason: "processor used before init".into(),
    }
}
