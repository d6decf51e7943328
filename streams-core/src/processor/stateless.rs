//! The stateless KStream operators. Each holds the user's function behind an
//! `Arc<F>` with `F` a type parameter, so a task calls it with static
//! dispatch, and tasks share one copy of it.

use std::sync::Arc;

use super::{Processor, ProcessorContext, Record};
use crate::error::StreamsError;

/// `filter` / `filter_not`.
pub(crate) struct Filter<F> {
    pub(crate) predicate: Arc<F>,
    pub(crate) keep_when: bool,
}

impl<K, V, F> Processor<K, V, K, V> for Filter<F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    F: Fn(Option<&K>, Option<&V>) -> bool + 'static,
{
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    #[inline]
    fn process(
        &mut self,
        record: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V>,
    ) -> Result<(), StreamsError> {
        if (self.predicate)(record.key.as_ref(), record.value.as_ref()) == self.keep_when {
            ctx.forward(record)
        } else {
            Ok(())
        }
    }
}

/// `map_values` (key-aware or not: the DSL wraps value-only functions).
pub(crate) struct MapValues<F> {
    pub(crate) mapper: Arc<F>,
}

impl<K, V, VR, F> Processor<K, V, K, VR> for MapValues<F>
where
    K: Clone + 'static,
    V: 'static,
    VR: Clone + 'static,
    F: Fn(Option<&K>, Option<&V>) -> Option<VR> + 'static,
{
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    #[inline]
    fn process(
        &mut self,
        record: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, VR>,
    ) -> Result<(), StreamsError> {
        let value = (self.mapper)(record.key.as_ref(), record.value.as_ref());
        ctx.forward(record.with_value(value))
    }
}

/// `map` and `select_key`: both key and value may change.
pub(crate) struct Map<F> {
    pub(crate) mapper: Arc<F>,
}

impl<K, V, KR, VR, F> Processor<K, V, KR, VR> for Map<F>
where
    K: 'static,
    V: 'static,
    KR: Clone + 'static,
    VR: Clone + 'static,
    F: Fn(Record<K, V>) -> Record<KR, VR> + 'static,
{
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    #[inline]
    fn process(
        &mut self,
        record: Record<K, V>,
        ctx: &mut ProcessorContext<'_, KR, VR>,
    ) -> Result<(), StreamsError> {
        let out = (self.mapper)(record);
        ctx.forward(out)
    }
}

/// `flat_map` and `flat_map_values`: zero or more records per input, all
/// with the input's timestamp and headers.
pub(crate) struct FlatMap<F> {
    pub(crate) mapper: Arc<F>,
}

impl<K, V, KR, VR, F, I> Processor<K, V, KR, VR> for FlatMap<F>
where
    K: 'static,
    V: 'static,
    KR: Clone + 'static,
    VR: Clone + 'static,
    F: Fn(Option<&K>, Option<&V>) -> I + 'static,
    I: IntoIterator<Item = (Option<KR>, Option<VR>)>,
{
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    #[inline]
    fn process(
        &mut self,
        record: Record<K, V>,
        ctx: &mut ProcessorContext<'_, KR, VR>,
    ) -> Result<(), StreamsError> {
        for (k, v) in (self.mapper)(record.key.as_ref(), record.value.as_ref()) {
            let out = Record {
                key: k,
                value: v,
                timestamp: record.timestamp,
                headers: record.headers.clone(),
            };
            ctx.forward(out)?;
        }
        Ok(())
    }
}

/// `peek` (forwards) and `foreach` (terminal).
pub(crate) struct Peek<F> {
    pub(crate) action: Arc<F>,
    pub(crate) forward: bool,
}

impl<K, V, F> Processor<K, V, K, V> for Peek<F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    F: Fn(Option<&K>, Option<&V>) + 'static,
{
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    #[inline]
    fn process(
        &mut self,
        record: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V>,
    ) -> Result<(), StreamsError> {
        (self.action)(record.key.as_ref(), record.value.as_ref());
        if self.forward {
            ctx.forward(record)
        } else {
            Ok(())
        }
    }
}

/// Forwards everything: `merge`, branch children, repartition sources.
pub(crate) struct PassThrough;

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V, K, V> for PassThrough {
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    #[inline]
    fn process(
        &mut self,
        record: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V>,
    ) -> Result<(), StreamsError> {
        ctx.forward(record)
    }
}

/// A branch predicate shared by the tasks.
pub(crate) type BranchPredicate<K, V> = Arc<dyn Fn(Option<&K>, Option<&V>) -> bool + Send + Sync>;

/// `split()`: sends each record to the first branch whose predicate holds,
/// else to the default branch if there is one, else drops it.
pub(crate) struct Branch<K, V> {
    pub(crate) predicates: Arc<Vec<BranchPredicate<K, V>>>,
    pub(crate) children: Arc<Vec<String>>,
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V, K, V> for Branch<K, V> {
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    fn process(
        &mut self,
        record: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V>,
    ) -> Result<(), StreamsError> {
        for (i, p) in self.predicates.iter().enumerate() {
            if p(record.key.as_ref(), record.value.as_ref()) {
                return ctx.forward_to(&self.children[i], record);
            }
        }
        if self.children.len() > self.predicates.len() {
            let default = &self.children[self.children.len() - 1];
            return ctx.forward_to(default, record);
        }
        Ok(())
    }
}

/// The null-key filter Kafka Streams puts in front of a repartition topic.
pub(crate) struct DropNullKeys;

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V, K, V> for DropNullKeys {
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    #[inline]
    fn process(
        &mut self,
        record: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V>,
    ) -> Result<(), StreamsError> {
        if record.key.is_some() {
            ctx.forward(record)
        } else {
            Ok(())
        }
    }
}

/// `flat_map_values`: zero or more values per record, each with the
/// record's key, timestamp and headers.
pub(crate) struct FlatMapValues<F> {
    pub(crate) mapper: Arc<F>,
}

impl<K, V, VR, F, I> Processor<K, V, K, VR> for FlatMapValues<F>
where
    K: Clone + 'static,
    V: 'static,
    VR: Clone + 'static,
    F: Fn(Option<&K>, Option<&V>) -> I + 'static,
    I: IntoIterator<Item = VR>,
{
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    #[inline]
    fn process(
        &mut self,
        record: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, VR>,
    ) -> Result<(), StreamsError> {
        for v in (self.mapper)(record.key.as_ref(), record.value.as_ref()) {
            let out = Record {
                key: record.key.clone(),
                value: Some(v),
                timestamp: record.timestamp,
                headers: record.headers.clone(),
            };
            ctx.forward(out)?;
        }
        Ok(())
    }
}
