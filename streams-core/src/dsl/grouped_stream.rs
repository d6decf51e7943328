//! [`KGroupedStream`]: a stream grouped by key, ready to aggregate.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::builder::{Shared, repartition};
use super::ktable::KTable;
use super::options::Materialized;
use super::store::{self, StoreSpec};
use crate::processor::aggregate::{Step, StreamAggregate};
use crate::serde::{SerdeRef, Serdes};
use crate::topology::processor_factory;

/// A grouped stream (Kafka Streams' `KGroupedStream`). Aggregations drop
/// records with a null key or a null value, as Kafka Streams does.
pub struct KGroupedStream<K, V> {
    pub(crate) builder: Shared,
    pub(crate) node: usize,
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) repartition_name: Option<String>,
    pub(crate) repartition_required: bool,
}

impl<K: Clone + PartialEq + 'static, V: Clone + 'static> KGroupedStream<K, V> {
    fn aggregate_with<VA, S>(
        &self,
        materialized: Materialized<K, VA>,
        prefix: &str,
        default_value_serde: Option<SerdeRef<VA>>,
        step: S,
    ) -> KTable<K, VA>
    where
        VA: Clone + 'static,
        S: Fn(&K, &V, Option<VA>) -> Step<VA> + Send + Sync + 'static,
    {
        let mut b = self.builder.borrow_mut();
        // Kafka Streams names the store, then the processor, then the
        // repartition nodes: the same order keeps generated names equal.
        let store_name = match &materialized.store_name {
            Some(n) => n.clone(),
            None => b.new_store_name(prefix),
        };
        let func_name = b.new_processor_name(prefix);
        let fix = "pass serdes with Materialized::with(key_serde, value_serde) or Grouped::with(key_serde, value_serde)";
        let ks = b.serde_or_error(
            materialized
                .key_serde
                .clone()
                .or_else(|| self.key_serde.clone()),
            &func_name,
            "key serde",
            fix,
        );
        let vs = b.serde_or_error(
            materialized.value_serde.clone().or(default_value_serde),
            &func_name,
            "value serde",
            fix,
        );
        let mut parent = self.node;
        if self.repartition_required {
            let base = self
                .repartition_name
                .clone()
                .unwrap_or_else(|| store_name.clone());
            let rvs = b.serde_or_error(
                self.value_serde.clone(),
                &func_name,
                "repartition value serde",
                fix,
            );
            parent = repartition(&mut b, self.node, &base, ks.clone(), rvs, None);
        }
        let spec = StoreSpec::from_materialized(&materialized, store_name.clone());
        b.add_store(
            store::timestamped_kv_factory(&spec, ks.clone(), vs.clone()),
            false,
        );
        let send_old = Arc::new(AtomicBool::new(false));
        let step = Arc::new(step);
        let factory = {
            let send_old = send_old.clone();
            let store_name = store_name.clone();
            processor_factory(move || StreamAggregate::<K, V, VA, S> {
                store_name: store_name.clone(),
                step: step.clone(),
                send_old_values: send_old.load(Ordering::Relaxed),
                forwarder: None,
                _types: PhantomData,
            })
        };
        let node = b.add_processor(func_name, &[parent], factory);
        b.connect_store(node, &store_name);
        drop(b);
        KTable {
            builder: self.builder.clone(),
            node,
            key_serde: Some(ks),
            value_serde: Some(vs),
            send_old_values: send_old,
            store_name: Some(store_name),
            source_materialize: None,
            parent: None,
        }
    }

    /// Counts the records per key.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let counts = stream.group_by_key(Grouped::none()).count(Materialized::as_("counts"));
    /// ```
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        self.aggregate_with(
            materialized,
            "KSTREAM-AGGREGATE-",
            Some(Serdes::i64()),
            |_k, _v, agg: Option<i64>| {
                let old = agg.unwrap_or(0);
                Step {
                    new: old + 1,
                    old: Some(old),
                }
            },
        )
    }

    /// Combines the values per key with `reducer(aggregate, value)`; the
    /// first value of a key is its aggregate.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()));
    /// let sums = stream.group_by_key(Grouped::none()).reduce(|agg, v| agg + v, Materialized::as_("sums"));
    /// ```
    pub fn reduce<F>(&self, reducer: F, materialized: Materialized<K, V>) -> KTable<K, V>
    where
        F: Fn(&V, &V) -> V + Send + Sync + 'static,
    {
        let default = self.value_serde.clone();
        self.aggregate_with(
            materialized,
            "KSTREAM-REDUCE-",
            default,
            move |_k, v, agg: Option<V>| match agg {
                Some(a) => Step {
                    new: reducer(&a, v),
                    old: Some(a),
                },
                None => Step {
                    new: v.clone(),
                    old: None,
                },
            },
        )
    }

    /// Folds the values per key into an aggregate that starts from
    /// `initializer()`.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let total_len = stream.group_by_key(Grouped::none()).aggregate(
    ///     || 0i64,
    ///     |_k, v, agg| agg + v.len() as i64,
    ///     Materialized::with(Serdes::string(), Serdes::i64()),
    /// );
    /// ```
    pub fn aggregate<VA, I, A>(
        &self,
        initializer: I,
        aggregator: A,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA>
    where
        VA: Clone + 'static,
        I: Fn() -> VA + Send + Sync + 'static,
        A: Fn(&K, &V, &VA) -> VA + Send + Sync + 'static,
    {
        self.aggregate_with(
            materialized,
            "KSTREAM-AGGREGATE-",
            None,
            move |k, v, agg: Option<VA>| {
                let old = agg.unwrap_or_else(&initializer);
                Step {
                    new: aggregator(k, v, &old),
                    old: Some(old),
                }
            },
        )
    }
}
