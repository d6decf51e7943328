//! KTable-KTable joins on the primary key: `KTABLE-JOINTHIS` and
//! `KTABLE-JOINOTHER` each take one side's changes and look up the other
//! side's current value; `KTABLE-MERGE` forwards both (and materializes the
//! result when asked), as Kafka Streams' `KTableKTable{Inner,Left,Right,
//! Outer}Join` and `KTableKTableJoinMerger`.
//!
//! The result timestamp is the larger of the two sides' timestamps. An
//! update whose join result does not exist on either end (inner: the other
//! side is absent; left/outer: nothing before and nothing now) forwards
//! nothing; a delete that removes a result forwards a null (a tombstone).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::aggregate::{ChangeForwarder, with_old_value_if};
use super::value_getter::{ValueGetter, ValueGetterSupplier};
use super::{Processor, ProcessorContext, Record};
use crate::error::StreamsError;
use crate::serde::Change;
use crate::state::{TimestampedKeyValueStore, ValueAndTimestamp};

/// Which join a side's processor computes, from that side's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TableJoinKind {
    /// Both sides of an inner join.
    Inner,
    /// The left side of a left join: results exist while this side does.
    Left,
    /// The right side of a left join: results exist while the other
    /// (left) side does.
    Right,
    /// Both sides of an outer join.
    Outer,
}

/// `joiner(this, other)`; each side gets the joiner with its own value
/// first (the other side's processor gets the user's joiner reversed).
pub(crate) type TableJoiner<V1, V2, VR> =
    Arc<dyn Fn(Option<&V1>, Option<&V2>) -> Option<VR> + Send + Sync>;

/// One side of a table-table join.
pub(crate) struct TableTableJoin<K, V1, V2, VR> {
    pub(crate) kind: TableJoinKind,
    pub(crate) joiner: TableJoiner<V1, V2, VR>,
    pub(crate) other: ValueGetterSupplier<K, V2>,
    pub(crate) getter: Option<Box<dyn ValueGetter<K, V2>>>,
    pub(crate) send_old_values: Arc<AtomicBool>,
}

impl<K, V1, V2, VR> Processor<K, Change<V1>, K, Change<VR>> for TableTableJoin<K, V1, V2, VR>
where
    K: Clone + 'static,
    V1: 'static,
    V2: 'static,
    VR: Clone + 'static,
{
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VR>>) -> Result<(), StreamsError> {
        let mut getter = self.other.get();
        getter.init(ctx)?;
        self.getter = Some(getter);
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<K, Change<V1>>,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
    ) -> Result<(), StreamsError> {
        let Some(key) = record.key.as_ref() else {
            log::warn!(
                "Skipping record due to null key. node=[{}]",
                ctx.node_name()
            );
            ctx.metrics().dropped_records += 1;
            return Ok(());
        };
        let Some(change) = record.value.as_ref() else {
            return Ok(());
        };
        let getter = self
            .getter
            .as_ref()
            .ok_or_else(|| super::aggregate::not_initialized(ctx.node_name()))?;
        let other = getter.get(key)?;
        let send_old = self.send_old_values.load(Ordering::Relaxed);
        let j = &self.joiner;
        let other_value = other.as_ref().map(|o| &o.value);
        let (new_value, old_value, timestamp) = match self.kind {
            TableJoinKind::Inner => {
                let Some(o) = &other else { return Ok(()) };
                let new = change
                    .new_value
                    .as_ref()
                    .and_then(|n| j(Some(n), other_value));
                let old = if send_old {
                    change
                        .old_value
                        .as_ref()
                        .and_then(|n| j(Some(n), other_value))
                } else {
                    None
                };
                (new, old, record.timestamp.max(o.timestamp))
            }
            TableJoinKind::Left => {
                if other.is_none() && change.new_value.is_none() && change.old_value.is_none() {
                    return Ok(());
                }
                // Kafka Streams' UNKNOWN timestamp (-1) for a missing side.
                let ts = record
                    .timestamp
                    .max(other.as_ref().map_or(-1, |o| o.timestamp));
                let new = change
                    .new_value
                    .as_ref()
                    .and_then(|n| j(Some(n), other_value));
                let old = if send_old {
                    change
                        .old_value
                        .as_ref()
                        .and_then(|n| j(Some(n), other_value))
                } else {
                    None
                };
                (new, old, ts)
            }
            TableJoinKind::Right => {
                let Some(o) = &other else { return Ok(()) };
                let new = j(change.new_value.as_ref(), other_value);
                let old = if send_old {
                    j(change.old_value.as_ref(), other_value)
                } else {
                    None
                };
                (new, old, record.timestamp.max(o.timestamp))
            }
            TableJoinKind::Outer => {
                if other.is_none() && change.new_value.is_none() && change.old_value.is_none() {
                    return Ok(());
                }
                let ts = match &other {
                    Some(o) => record.timestamp.max(o.timestamp),
                    None => record.timestamp,
                };
                let new = if other.is_some() || change.new_value.is_some() {
                    j(change.new_value.as_ref(), other_value)
                } else {
                    None
                };
                let old = if send_old && (other.is_some() || change.old_value.is_some()) {
                    j(change.old_value.as_ref(), other_value)
                } else {
                    None
                };
                (new, old, ts)
            }
        };
        let out = Record {
            key: record.key,
            value: Some(Change::new(new_value, old_value)),
            timestamp,
            headers: record.headers,
        };
        ctx.forward(out)
    }
}

/// `KTABLE-MERGE`: forwards the changes of both join sides, materializing
/// them when the join was given a store.
pub(crate) struct TableJoinMerge<K, V> {
    pub(crate) store_name: Option<String>,
    pub(crate) send_old_values: Arc<AtomicBool>,
    pub(crate) forwarder: Option<ChangeForwarder<K, V>>,
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, Change<V>, K, Change<V>>
    for TableJoinMerge<K, V>
{
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<(), StreamsError> {
        if let Some(name) = &self.store_name {
            let store = ctx.get_state_store::<TimestampedKeyValueStore<K, V>>(name)?;
            self.forwarder = Some(ChangeForwarder::new(
                store,
                self.send_old_values.load(Ordering::Relaxed),
                ctx.has_children(),
            )?);
        }
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<(), StreamsError> {
        match &self.forwarder {
            Some(f) => {
                if let (Some(key), Some(change)) = (&record.key, &record.value) {
                    let stored = change
                        .new_value
                        .as_ref()
                        .map(|v| ValueAndTimestamp::new(v.clone(), record.timestamp));
                    f.begin_record(ctx, &record.headers)?;
                    f.store.put(key, stored)?;
                }
                f.maybe_forward(ctx, record)
            }
            None => ctx.forward(with_old_value_if(
                record,
                self.send_old_values.load(Ordering::Relaxed),
            )),
        }
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<(), StreamsError> {
        match &self.forwarder {
            Some(f) => f.flush(ctx),
            None => Ok(()),
        }
    }
}

/// The value getter of a join result without a store: the join computed
/// from both sides' getters (Kafka Streams' `KTableKTable*JoinValueGetter`,
/// always from the left table's point of view).
pub(crate) fn join_value_getter<K, V1, V2, VR>(
    kind: TableJoinKind,
    left: ValueGetterSupplier<K, V1>,
    right: ValueGetterSupplier<K, V2>,
    joiner: TableJoiner<V1, V2, VR>,
) -> ValueGetterSupplier<K, VR>
where
    K: 'static,
    V1: 'static,
    V2: 'static,
    VR: 'static,
{
    match kind {
        TableJoinKind::Inner => super::value_getter::combined(left, right, move |_k, l, get_r| {
            let Some(l) = l else { return Ok(None) };
            let Some(r) = get_r()? else { return Ok(None) };
            Ok(joiner(Some(&l.value), Some(&r.value))
                .map(|v| ValueAndTimestamp::new(v, l.timestamp.max(r.timestamp))))
        }),
        TableJoinKind::Left => super::value_getter::combined(left, right, move |_k, l, get_r| {
            let Some(l) = l else { return Ok(None) };
            let r = get_r()?;
            let ts = r
                .as_ref()
                .map_or(l.timestamp, |r| l.timestamp.max(r.timestamp));
            Ok(joiner(Some(&l.value), r.as_ref().map(|r| &r.value))
                .map(|v| ValueAndTimestamp::new(v, ts)))
        }),
        // Kafka Streams reads a right join from the right side first.
        TableJoinKind::Right => super::value_getter::combined(right, left, move |_k, r, get_l| {
            let Some(r) = r else { return Ok(None) };
            let l = get_l()?;
            let ts = l
                .as_ref()
                .map_or(r.timestamp, |l| l.timestamp.max(r.timestamp));
            Ok(joiner(l.as_ref().map(|l| &l.value), Some(&r.value))
                .map(|v| ValueAndTimestamp::new(v, ts)))
        }),
        TableJoinKind::Outer => super::value_getter::combined(left, right, move |_k, l, get_r| {
            let r = get_r()?;
            if l.is_none() && r.is_none() {
                return Ok(None);
            }
            let ts = l
                .as_ref()
                .map_or(-1, |l| l.timestamp)
                .max(r.as_ref().map_or(-1, |r| r.timestamp));
            Ok(
                joiner(l.as_ref().map(|l| &l.value), r.as_ref().map(|r| &r.value))
                    .map(|v| ValueAndTimestamp::new(v, ts)),
            )
        }),
    }
}
