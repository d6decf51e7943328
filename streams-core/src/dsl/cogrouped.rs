//! [`CogroupedKStream`]: several grouped streams aggregated into one table
//! (KIP-150), each with its own aggregator and one shared store.
//!
//! As in Kafka Streams, every input gets its own aggregate node
//! (`COGROUPKSTREAM-AGGREGATE-<n>`, all connected to the one store) and a
//! pass-through node (`COGROUPKSTREAM-MERGE-<n>`) joins their updates into
//! one table. Inputs whose key changed are repartitioned first, through
//! `<Grouped name or store name>-repartition`; all inputs are
//! co-partitioned.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::builder::{BuilderInner, Shared, repartition};
use super::grouped_stream::KGroupedStream;
use super::ktable::KTable;
use super::options::{Materialized, Named};
use super::store::{self, StoreSpec};
use crate::processor::aggregate::{Step, StreamAggregate};
use crate::serde::SerdeRef;
use crate::topology::processor_factory;

/// One input of a cogroup: how to repartition it and how to add its
/// aggregate node (its value type is erased here).
struct CogroupInput<K, VOut> {
    node: usize,
    repartition_required: bool,
    repartition_name: Option<String>,
    key_serde: Option<SerdeRef<K>>,
    /// Adds the repartition nodes under `base`; returns the new parent.
    repartition: Rc<RepartitionFn<K>>,
    /// Adds the aggregate node `name` under `parent` on store `store`.
    add_aggregate: Rc<AddAggregateFn<VOut>>,
}

type Initializer<VOut> = Arc<dyn Fn() -> VOut + Send + Sync>;
type RepartitionFn<K> = dyn Fn(&mut BuilderInner, &str, SerdeRef<K>) -> usize;
type AddAggregateFn<VOut> =
    dyn Fn(&mut BuilderInner, String, usize, &str, Initializer<VOut>, Arc<AtomicBool>) -> usize;

/// Grouped streams cogrouped for one aggregation (Kafka Streams'
/// `CogroupedKStream`): made by [`KGroupedStream::cogroup`], extended with
/// [`cogroup`](Self::cogroup), finished with
/// [`aggregate`](Self::aggregate).
pub struct CogroupedKStream<K, VOut> {
    builder: Shared,
    inputs: Vec<CogroupInput<K, VOut>>,
}

impl<K: Clone + PartialEq + 'static, V: Clone + 'static> KGroupedStream<K, V> {
    /// Starts a cogroup with this stream, folded into the aggregate with
    /// `aggregator`.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let clicks = builder.stream("clicks", Consumed::with(Serdes::string(), Serdes::string())).group_by_key(Grouped::none());
    /// let views = builder.stream("views", Consumed::with(Serdes::string(), Serdes::i64())).group_by_key(Grouped::none());
    /// let totals = clicks
    ///     .cogroup(|_k, _click, agg: &i64| agg + 1)
    ///     .cogroup(&views, |_k, n, agg| agg + n)
    ///     .aggregate(|| 0, Materialized::with(Serdes::string(), Serdes::i64()));
    /// ```
    pub fn cogroup<VOut, A>(&self, aggregator: A) -> CogroupedKStream<K, VOut>
    where
        VOut: Clone + 'static,
        A: Fn(&K, &V, &VOut) -> VOut + Send + Sync + 'static,
    {
        CogroupedKStream {
            builder: self.builder.clone(),
            inputs: Vec::new(),
        }
        .cogroup(self, aggregator)
    }
}

impl<K: Clone + PartialEq + 'static, VOut: Clone + 'static> CogroupedKStream<K, VOut> {
    /// Adds another grouped stream (with any value type) and its
    /// aggregator.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let a = builder.stream("a", Consumed::with(Serdes::string(), Serdes::string())).group_by_key(Grouped::none());
    /// let b = builder.stream("b", Consumed::with(Serdes::string(), Serdes::string())).group_by_key(Grouped::none());
    /// let both = a.cogroup(|_k, v, agg: &String| format!("{agg}{v}")).cogroup(&b, |_k, v, agg| format!("{agg}{v}"));
    /// ```
    pub fn cogroup<V, A>(mut self, grouped: &KGroupedStream<K, V>, aggregator: A) -> Self
    where
        V: Clone + 'static,
        A: Fn(&K, &V, &VOut) -> VOut + Send + Sync + 'static,
    {
        let aggregator = Arc::new(aggregator);
        let value_serde = grouped.value_serde.clone();
        let node = grouped.node;
        let repartition_fn = Rc::new(
            move |b: &mut BuilderInner, base: &str, key_serde: SerdeRef<K>| {
                let fix = "pass serdes with Grouped::with(key_serde, value_serde)";
                let vs =
                    b.serde_or_error(value_serde.clone(), base, "repartition value serde", fix);
                repartition(b, node, base, key_serde, vs, None)
            },
        );
        let add_aggregate = Rc::new(
            move |b: &mut BuilderInner,
                  name: String,
                  parent: usize,
                  store: &str,
                  initializer: Initializer<VOut>,
                  send_old: Arc<AtomicBool>| {
                let aggregator = aggregator.clone();
                let step = Arc::new(move |k: &K, v: &V, agg: Option<VOut>| {
                    let old = agg.unwrap_or_else(|| initializer());
                    Step {
                        new: aggregator(k, v, &old),
                        old: Some(old),
                    }
                });
                let store_name = store.to_string();
                let node = b.add_processor(
                    name,
                    &[parent],
                    processor_factory(move || StreamAggregate {
                        store_name: store_name.clone(),
                        step: step.clone(),
                        send_old_values: send_old.load(Ordering::Relaxed),
                        forwarder: None,
                        _types: std::marker::PhantomData,
                    }),
                );
                b.connect_store(node, store);
                node
            },
        );
        self.inputs.push(CogroupInput {
            node,
            repartition_required: grouped.repartition_required,
            repartition_name: grouped.repartition_name.clone(),
            key_serde: grouped.key_serde.clone(),
            repartition: repartition_fn,
            add_aggregate,
        });
        self
    }

    /// Aggregates every input into one table, starting each key from
    /// `initializer`. Each input record updates the aggregate with its
    /// input's aggregator; the result's timestamp is the largest of the
    /// records folded in. Records with a null key or value are dropped.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let a = builder.stream("a", Consumed::with(Serdes::string(), Serdes::string())).group_by_key(Grouped::none());
    /// let b = builder.stream("b", Consumed::with(Serdes::string(), Serdes::string())).group_by_key(Grouped::none());
    /// a.cogroup(|_k, v, agg: &String| format!("{agg}a{v}"))
    ///     .cogroup(&b, |_k, v, agg| format!("{agg}b{v}"))
    ///     .aggregate(String::new, Materialized::as_("ab").with_value_serde(Serdes::string()))
    ///     .to_stream()
    ///     .to("out", Produced::with(Serdes::string(), Serdes::string()));
    /// ```
    pub fn aggregate<I>(
        &self,
        initializer: I,
        materialized: Materialized<K, VOut>,
    ) -> KTable<K, VOut>
    where
        I: Fn() -> VOut + Send + Sync + 'static,
    {
        self.aggregate_named(initializer, None, materialized)
    }

    /// [`aggregate`](Self::aggregate) with a name for its processors
    /// (`<name>-cogroup-agg-<i>`, `<name>-cogroup-merge`).
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Grouped, Materialized, Named, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let a = builder.stream("a", Consumed::with(Serdes::string(), Serdes::string())).group_by_key(Grouped::none());
    /// let t = a.cogroup(|_k, v, agg: &String| format!("{agg}{v}"))
    ///     .aggregate_named(String::new, Named::as_("cg"), Materialized::with(Serdes::string(), Serdes::string()));
    /// ```
    pub fn aggregate_named<I>(
        &self,
        initializer: I,
        named: impl Into<Option<Named>>,
        materialized: Materialized<K, VOut>,
    ) -> KTable<K, VOut>
    where
        I: Fn() -> VOut + Send + Sync + 'static,
    {
        let named = named.into().map(|n| n.0);
        let initializer: Initializer<VOut> = Arc::new(initializer);
        let mut b = self.builder.borrow_mut();
        let store_name = match &materialized.store_name {
            Some(n) => n.clone(),
            None => b.new_store_name("COGROUPKSTREAM-AGGREGATE-"),
        };
        let fix = "pass serdes with Materialized::with(key_serde, value_serde)";
        let first_key_serde = self.inputs.iter().find_map(|i| i.key_serde.clone());
        let ks = b.serde_or_error(
            materialized.key_serde.clone().or(first_key_serde),
            &store_name,
            "key serde",
            fix,
        );
        let vs = b.serde_or_error(
            materialized.value_serde.clone(),
            &store_name,
            "value serde",
            fix,
        );

        // Repartition topics first (all of them), then the aggregate nodes,
        // then the merge: Kafka Streams' naming order.
        let mut parents = Vec::with_capacity(self.inputs.len());
        for input in &self.inputs {
            if input.repartition_required {
                let base = input
                    .repartition_name
                    .clone()
                    .unwrap_or_else(|| store_name.clone());
                parents.push((input.repartition)(&mut b, &base, ks.clone()));
            } else {
                parents.push(input.node);
            }
        }
        super::joins::copartition(&mut b, &parents);
        let spec = StoreSpec::from_materialized(&materialized, store_name.clone());
        b.add_store(
            store::timestamped_kv_factory(&spec, ks.clone(), vs.clone()),
            false,
        );
        let send_old = Arc::new(AtomicBool::new(false));
        let mut aggregates = Vec::with_capacity(self.inputs.len());
        for (i, (input, parent)) in self.inputs.iter().zip(&parents).enumerate() {
            let generated = b.new_processor_name("COGROUPKSTREAM-AGGREGATE-");
            let name = named
                .as_ref()
                .map_or(generated, |n| format!("{n}-cogroup-agg-{i}"));
            aggregates.push((input.add_aggregate)(
                &mut b,
                name,
                *parent,
                &store_name,
                initializer.clone(),
                send_old.clone(),
            ));
        }
        let generated = b.new_processor_name("COGROUPKSTREAM-MERGE-");
        let merge_name = named
            .as_ref()
            .map_or(generated, |n| format!("{n}-cogroup-merge"));
        let merge = b.add_processor(
            merge_name,
            &aggregates,
            processor_factory::<_, K, crate::serde::Change<VOut>, K, crate::serde::Change<VOut>>(
                || crate::processor::stateless::PassThrough,
            ),
        );
        drop(b);
        KTable {
            builder: self.builder.clone(),
            node: merge,
            key_serde: Some(ks),
            value_serde: Some(vs),
            send_old_values: send_old,
            store_name: Some(store_name),
            source_materialize: None,
            parent: None,
        }
    }
}
