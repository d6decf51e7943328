//! Stream-table joins (`KSTREAM-JOIN` / `KSTREAM-LEFTJOIN`): each stream
//! record looks up the table's current value for its key (or, for a
//! GlobalKTable, for a key derived from the record), as Kafka Streams'
//! `KStreamKTableJoinProcessor`.
//!
//! Null handling follows Kafka Streams 4.x (KIP-962): a record whose join
//! key or value is null is dropped, except that a left join passes a record
//! with a null join key and a non-null value through to the joiner with no
//! table value. The output keeps the stream record's key, timestamp and
//! headers.

use std::sync::Arc;

use super::value_getter::{ValueGetter, ValueGetterSupplier};
use super::{Processor, ProcessorContext, Record};
use crate::error::StreamsError;

/// Derives the table key from a stream record (GlobalKTable joins).
pub(crate) type JoinKeyMapper<K, V, KT> = Arc<dyn Fn(Option<&K>, &V) -> Option<KT> + Send + Sync>;

/// How a stream record finds its table key.
pub(crate) enum JoinKey<K, V, KT> {
    /// The record's own key (KTable joins): borrowed, never copied.
    Same(fn(&K) -> &KT),
    /// A key derived from the record (GlobalKTable joins).
    Mapped(JoinKeyMapper<K, V, KT>),
}

impl<K, V, KT> Clone for JoinKey<K, V, KT> {
    fn clone(&self) -> Self {
        match self {
            JoinKey::Same(f) => JoinKey::Same(*f),
            JoinKey::Mapped(m) => JoinKey::Mapped(m.clone()),
        }
    }
}

/// The identity key mapping of KTable joins.
pub(crate) fn same_key<K>(k: &K) -> &K {
    k
}

/// Combines a stream record with the table value found for it (`None`
/// only in left joins); `None` as result forwards a null value.
pub(crate) type StreamTableJoiner<K, V, VT, VR> =
    Arc<dyn Fn(Option<&K>, &V, Option<&VT>) -> Option<VR> + Send + Sync>;

/// The join processor of `KStream::join_table`/`left_join_table` and of
/// the GlobalKTable joins.
pub(crate) struct StreamTableJoin<K, V, KT, VT, VR> {
    pub(crate) key_mapper: JoinKey<K, V, KT>,
    pub(crate) joiner: StreamTableJoiner<K, V, VT, VR>,
    pub(crate) left_join: bool,
    pub(crate) getter_supplier: Option<ValueGetterSupplier<KT, VT>>,
    pub(crate) getter: Option<Box<dyn ValueGetter<KT, VT>>>,
}

impl<K, V, KT, VT, VR> Processor<K, V, K, VR> for StreamTableJoin<K, V, KT, VT, VR>
where
    K: Clone + 'static,
    V: Clone + 'static,
    KT: 'static,
    VT: Clone + 'static,
    VR: Clone + 'static,
{
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<(), StreamsError> {
        if let Some(supplier) = &self.getter_supplier {
            let mut getter = supplier.get();
            getter.init(ctx)?;
            self.getter = Some(getter);
        }
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, VR>,
    ) -> Result<(), StreamsError> {
        let Some(value) = record.value.as_ref() else {
            log::warn!(
                "Skipping record due to null join key or value. node=[{}]",
                ctx.node_name()
            );
            ctx.metrics().dropped_records += 1;
            return Ok(());
        };
        let mapped;
        let lookup_key = match &self.key_mapper {
            JoinKey::Same(f) => record.key.as_ref().map(f),
            JoinKey::Mapped(m) => {
                mapped = m(record.key.as_ref(), value);
                mapped.as_ref()
            }
        };
        let table_value = match lookup_key {
            Some(k) => self.lookup(k, ctx)?,
            None if self.left_join => None,
            None => {
                log::warn!(
                    "Skipping record due to null join key or value. node=[{}]",
                    ctx.node_name()
                );
                ctx.metrics().dropped_records += 1;
                return Ok(());
            }
        };
        if !self.left_join && table_value.is_none() {
            return Ok(());
        }
        let out = (self.joiner)(record.key.as_ref(), value, table_value.as_ref());
        ctx.forward(record.with_value(out))
    }
}

impl<K, V, KT, VT, VR> StreamTableJoin<K, V, KT, VT, VR>
where
    KT: 'static,
    VT: Clone + 'static,
{
    fn lookup<KO, VO>(
        &self,
        key: &KT,
        ctx: &ProcessorContext<'_, KO, VO>,
    ) -> Result<Option<VT>, StreamsError> {
        match &self.getter {
            Some(g) => Ok(g.get(key)?.map(|v| v.value)),
            None => Err(super::aggregate::not_initialized(ctx.node_name())),
        }
    }
}
