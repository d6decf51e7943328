//! KTable operators. A KTable's records carry `Change { new, old }` values;
//! a `None` new value is a delete. Old values travel only where a downstream
//! operator asked for them (Kafka Streams' `enableSendingOldValues`), and
//! that choice changes what some operators emit, so it is kept exact.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::aggregate::{ChangeForwarder, not_initialized, with_old_value_if};
use super::{Processor, ProcessorContext, Record};
use crate::error::StreamsError;
use crate::serde::Change;
use crate::state::{TimestampedKeyValueStore, ValueAndTimestamp};

/// Whether a table node sends old values; set while the DSL is built, read
/// when a task instantiates the node.
pub(crate) type SendOldValues = Arc<AtomicBool>;

fn flag(f: &SendOldValues) -> bool {
    f.load(Ordering::Relaxed)
}

/// Optional materialization of a table node's output.
pub(crate) struct Materialization<K, V> {
    pub(crate) store_name: Option<String>,
    pub(crate) forwarder: Option<ChangeForwarder<K, V>>,
}

impl<K: Clone + 'static, V: Clone + 'static> Materialization<K, V> {
    pub(crate) fn new(store_name: Option<String>) -> Self {
        Materialization {
            store_name,
            forwarder: None,
        }
    }

    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        send_old: bool,
    ) -> Result<(), StreamsError> {
        if let Some(name) = &self.store_name {
            let store = ctx.get_state_store::<TimestampedKeyValueStore<K, V>>(name)?;
            self.forwarder = Some(ChangeForwarder::new(store, send_old, ctx.has_children())?);
        }
        Ok(())
    }

    /// Stores the new value (if materialized) and forwards the change.
    fn put_and_forward(
        &self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        record: Record<K, Change<V>>,
        send_old: bool,
    ) -> Result<(), StreamsError> {
        match &self.forwarder {
            Some(f) => {
                if let (Some(key), Some(change)) = (&record.key, &record.value) {
                    f.begin_record(ctx, &record.headers)?;
                    // By reference: the value goes on in the record.
                    match &change.new_value {
                        Some(v) => f.store.put_value(key, v, record.timestamp)?,
                        None => f.store.put(key, None)?,
                    }
                }
                f.maybe_forward(ctx, record)
            }
            None => ctx.forward(with_old_value_if(record, send_old)),
        }
    }

    fn flush(&self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<(), StreamsError> {
        match &self.forwarder {
            Some(f) => f.flush(ctx),
            None => Ok(()),
        }
    }
}

/// `KTABLE-SOURCE`: turns a topic's records into table updates.
pub(crate) struct TableSource<K, V> {
    pub(crate) send_old_values: SendOldValues,
    pub(crate) materialized: Materialization<K, V>,
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V, K, Change<V>> for TableSource<K, V> {
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<(), StreamsError> {
        let send_old = flag(&self.send_old_values);
        self.materialized.init(ctx, send_old)
    }

    fn process(
        &mut self,
        record: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<(), StreamsError> {
        let Some(key) = record.key.as_ref() else {
            ctx.metrics().dropped_records += 1;
            return Ok(());
        };
        let send_old = flag(&self.send_old_values);
        let old = match &self.materialized.forwarder {
            Some(f) => {
                // The old value travels only from an uncached store that
                // sends old values: a cached one forwards what its flush
                // writes down (with the old values read then), and without
                // old values the forwarder drops it. Otherwise only its
                // timestamp is read, for the warning below.
                let (old, old_timestamp) = if send_old && !f.store.is_cached() {
                    let old = f.store.get(key)?;
                    let timestamp = old.as_ref().map(|o| o.timestamp);
                    (old.map(|o| o.value), timestamp)
                } else {
                    (None, f.store.get_timestamp(key)?)
                };
                if let Some(previous) = old_timestamp
                    && record.timestamp < previous
                {
                    log::warn!(
                        "Detected out-of-order KTable update for {} at timestamp {} (previous {})",
                        ctx.node_name(),
                        record.timestamp,
                        previous
                    );
                }
                old
            }
            None => None,
        };
        let out = Record {
            key: record.key,
            value: Some(Change::new(record.value, old)),
            timestamp: record.timestamp,
            headers: record.headers,
        };
        self.materialized.put_and_forward(ctx, out, send_old)
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<(), StreamsError> {
        self.materialized.flush(ctx)
    }
}

/// `KTABLE-FILTER`: rows that fail the predicate become deletes.
pub(crate) struct TableFilter<K, V, F> {
    pub(crate) predicate: Arc<F>,
    pub(crate) keep_when: bool,
    pub(crate) send_old_values: SendOldValues,
    pub(crate) materialized: Materialization<K, V>,
}

impl<K, V, F> TableFilter<K, V, F>
where
    F: Fn(&K, &V) -> bool,
{
    fn compute(&self, key: &K, value: Option<V>) -> Option<V> {
        value.filter(|v| (self.predicate)(key, v) == self.keep_when)
    }
}

impl<K, V, F> Processor<K, Change<V>, K, Change<V>> for TableFilter<K, V, F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    F: Fn(&K, &V) -> bool + 'static,
{
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<(), StreamsError> {
        let send_old = flag(&self.send_old_values);
        self.materialized.init(ctx, send_old)
    }

    fn process(
        &mut self,
        record: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<(), StreamsError> {
        let (Some(key), Some(change)) = (record.key.as_ref(), record.value.as_ref()) else {
            return Ok(());
        };
        let send_old = flag(&self.send_old_values);
        let new_value = self.compute(key, change.new_value.clone());
        let old_value = if send_old {
            self.compute(key, change.old_value.clone())
        } else {
            None
        };
        if send_old && new_value.is_none() && old_value.is_none() {
            return Ok(());
        }
        let out = record.with_value(Some(Change::new(new_value, old_value)));
        self.materialized.put_and_forward(ctx, out, send_old)
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<(), StreamsError> {
        self.materialized.flush(ctx)
    }
}

/// `KTABLE-MAPVALUES`: maps non-null values; deletes stay deletes.
pub(crate) struct TableMapValues<K, V, VR, F> {
    pub(crate) mapper: Arc<F>,
    pub(crate) send_old_values: SendOldValues,
    pub(crate) materialized: Materialization<K, VR>,
    pub(crate) _v: PhantomData<fn(V)>,
}

impl<K, V, VR, F> Processor<K, Change<V>, K, Change<VR>> for TableMapValues<K, V, VR, F>
where
    K: Clone + 'static,
    V: 'static,
    VR: Clone + 'static,
    F: Fn(&K, &V) -> VR + 'static,
{
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VR>>) -> Result<(), StreamsError> {
        let send_old = flag(&self.send_old_values);
        self.materialized.init(ctx, send_old)
    }

    fn process(
        &mut self,
        record: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
    ) -> Result<(), StreamsError> {
        let (Some(key), Some(change)) = (record.key.as_ref(), record.value.as_ref()) else {
            return Ok(());
        };
        let send_old = flag(&self.send_old_values);
        let new_value = change.new_value.as_ref().map(|v| (self.mapper)(key, v));
        let old_value = if send_old {
            change.old_value.as_ref().map(|v| (self.mapper)(key, v))
        } else {
            None
        };
        let out = record.with_value(Some(Change::new(new_value, old_value)));
        self.materialized.put_and_forward(ctx, out, send_old)
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VR>>) -> Result<(), StreamsError> {
        self.materialized.flush(ctx)
    }
}

/// `KTABLE-TOSTREAM`: the stream of a table's new values.
pub(crate) struct TableToStream;

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, Change<V>, K, V> for TableToStream {
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    #[inline]
    fn process(
        &mut self,
        record: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, V>,
    ) -> Result<(), StreamsError> {
        let value = record.value.as_ref().and_then(|c| c.new_value.clone());
        ctx.forward(record.with_value(value))
    }
}

/// `KTABLE-SELECT` (`KTable::group_by`): re-keys each change. The old pair
/// goes first (to be subtracted), then the new pair (to be added); when both
/// map to the same key they travel as one change (KIP-904).
pub(crate) struct TableSelect<F> {
    pub(crate) selector: Arc<F>,
}

impl<K, V, KR, VR, F> Processor<K, Change<V>, KR, Change<VR>> for TableSelect<F>
where
    K: 'static,
    V: 'static,
    KR: Clone + PartialEq + 'static,
    VR: Clone + 'static,
    F: Fn(&K, &V) -> (Option<KR>, Option<VR>) + 'static,
{
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    fn process(
        &mut self,
        record: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, KR, Change<VR>>,
    ) -> Result<(), StreamsError> {
        let (Some(key), Some(change)) = (record.key.as_ref(), record.value.as_ref()) else {
            ctx.metrics().dropped_records += 1;
            return Ok(());
        };
        let complete = |p: (Option<KR>, Option<VR>)| match p {
            (Some(k), Some(v)) => Some((k, v)),
            _ => None,
        };
        let new_pair = change
            .new_value
            .as_ref()
            .and_then(|v| complete((self.selector)(key, v)));
        let old_pair = change
            .old_value
            .as_ref()
            .and_then(|v| complete((self.selector)(key, v)));
        let ts = record.timestamp;
        match (old_pair, new_pair) {
            (Some((ok, ov)), Some((nk, nv))) if ok == nk => ctx.forward(
                Record::new(Some(nk), Some(Change::new(Some(nv), Some(ov))), ts)
                    .with_headers(record.headers),
            ),
            (old, new) => {
                if let Some((ok, ov)) = old {
                    ctx.forward(
                        Record::new(Some(ok), Some(Change::new(None, Some(ov))), ts)
                            .with_headers(record.headers.clone()),
                    )?;
                }
                if let Some((nk, nv)) = new {
                    ctx.forward(
                        Record::new(Some(nk), Some(Change::new(Some(nv), None)), ts)
                            .with_headers(record.headers),
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// `KTABLE-AGGREGATE` / `KTABLE-REDUCE`: subtract the old value, then add
/// the new one. `A` adds (given `None` when there is no aggregate yet, in
/// which case aggregate uses its initializer and reduce takes the value),
/// `R` subtracts.
pub(crate) struct TableAggregate<K, V, VA, A, R> {
    pub(crate) store_name: String,
    pub(crate) adder: Arc<A>,
    pub(crate) subtractor: Arc<R>,
    pub(crate) send_old_values: SendOldValues,
    pub(crate) forwarder: Option<ChangeForwarder<K, VA>>,
    pub(crate) _v: PhantomData<fn(V)>,
}

impl<K, V, VA, A, R> Processor<K, Change<V>, K, Change<VA>> for TableAggregate<K, V, VA, A, R>
where
    K: Clone + 'static,
    V: 'static,
    VA: Clone + 'static,
    A: Fn(&K, &V, Option<&VA>) -> VA + 'static,
    R: Fn(&K, &V, &VA) -> VA + 'static,
{
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VA>>) -> Result<(), StreamsError> {
        let store = ctx.get_state_store::<TimestampedKeyValueStore<K, VA>>(&self.store_name)?;
        self.forwarder = Some(ChangeForwarder::new(
            store,
            flag(&self.send_old_values),
            ctx.has_children(),
        )?);
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<VA>>,
    ) -> Result<(), StreamsError> {
        let (Some(key), Some(change)) = (record.key.as_ref(), record.value.as_ref()) else {
            return Err(StreamsError::Processing {
                node: ctx.node_name().to_string(),
                reason: format!(
                    "record key for KTable aggregate operator with state {} should not be null",
                    self.store_name
                ),
            });
        };
        let forwarder = self
            .forwarder
            .as_ref()
            .ok_or_else(|| not_initialized(ctx.node_name()))?;
        let old = forwarder.store.get(key)?;
        let old_agg = old.as_ref().map(|o| o.value.clone());
        let mut timestamp = record.timestamp;
        let intermediate = match (&change.old_value, &old) {
            (Some(ov), Some(o)) => {
                timestamp = timestamp.max(o.timestamp);
                Some((self.subtractor)(key, ov, &o.value))
            }
            _ => old_agg.clone(),
        };
        let new_agg = match &change.new_value {
            Some(nv) => {
                if let Some(o) = &old {
                    timestamp = record.timestamp.max(o.timestamp);
                }
                Some((self.adder)(key, nv, intermediate.as_ref()))
            }
            None => intermediate,
        };
        let stored = new_agg
            .as_ref()
            .map(|v| ValueAndTimestamp::new(v.clone(), timestamp));
        forwarder.begin_record(ctx, &record.headers)?;
        forwarder.store.put(key, stored)?;
        let out = Record {
            key: record.key,
            value: Some(Change::new(new_agg, old_agg)),
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
