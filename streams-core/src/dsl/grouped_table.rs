//! [`KGroupedTable`]: a table re-grouped by a new key, aggregated with an
//! adder and a subtractor.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::builder::Shared;
use super::ktable::KTable;
use super::options::Materialized;
use super::store::{self, StoreSpec};
use crate::processor::node::SinkTopic;
use crate::processor::table::TableAggregate;
use crate::serde::{Change, SerdeRef, Serdes};
use crate::topology::processor_factory;

/// A re-grouped table (Kafka Streams' `KGroupedTable`). Each update of the
/// source table subtracts the row's old value from its old group and adds
/// its new value to its new group.
pub struct KGroupedTable<K, V> {
    pub(crate) builder: Shared,
    pub(crate) node: usize,
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) repartition_name: Option<String>,
}

impl<K: Clone + PartialEq + 'static, V: Clone + 'static> KGroupedTable<K, V> {
    fn aggregate_with<VA, A, R>(
        &self,
        materialized: Materialized<K, VA>,
        prefix: &str,
        default_value_serde: Option<SerdeRef<VA>>,
        adder: A,
        subtractor: R,
    ) -> KTable<K, VA>
    where
        VA: Clone + 'static,
        A: Fn(&K, &V, Option<&VA>) -> VA + Send + Sync + 'static,
        R: Fn(&K, &V, &VA) -> VA + Send + Sync + 'static,
    {
        let mut b = self.builder.borrow_mut();
        let store_name = match &materialized.store_name {
            Some(n) => n.clone(),
            None => b.new_store_name(prefix),
        };
        let sink_name = b.new_processor_name("KSTREAM-SINK-");
        let source_name = b.new_processor_name("KSTREAM-SOURCE-");
        let func_name = b.new_processor_name(prefix);
        let topic = format!(
            "{}-repartition",
            self.repartition_name
                .clone()
                .unwrap_or_else(|| store_name.clone())
        );
        let fix = "pass serdes with Grouped::with(key_serde, value_serde) on group_by and Materialized::with(...) on the aggregation";
        let gks = b.serde_or_error(
            self.key_serde
                .clone()
                .or_else(|| materialized.key_serde.clone()),
            &sink_name,
            "key serde",
            fix,
        );
        let gvs = b.serde_or_error(self.value_serde.clone(), &sink_name, "value serde", fix);
        let change_serde = Serdes::change(gvs);
        b.topology.repartition_topics.insert(topic.clone());
        b.add_sink(
            sink_name,
            SinkTopic::Fixed(topic.clone().into()),
            self.node,
            gks.clone(),
            change_serde.clone(),
            None,
        );
        let source =
            b.add_source::<K, Change<V>>(source_name, vec![topic], gks.clone(), change_serde);
        let ks = materialized.key_serde.clone().unwrap_or(gks);
        let vs = b.serde_or_error(
            materialized.value_serde.clone().or(default_value_serde),
            &func_name,
            "value serde",
            fix,
        );
        let spec = StoreSpec::from_materialized(&materialized, store_name.clone());
        b.add_store(
            store::timestamped_kv_factory(&spec, ks.clone(), vs.clone()),
            false,
        );
        let send_old = Arc::new(AtomicBool::new(false));
        let adder = Arc::new(adder);
        let subtractor = Arc::new(subtractor);
        let factory = {
            let send_old = send_old.clone();
            let store_name = store_name.clone();
            processor_factory(move || TableAggregate {
                store_name: store_name.clone(),
                adder: adder.clone(),
                subtractor: subtractor.clone(),
                send_old_values: send_old.clone(),
                forwarder: None,
                _v: PhantomData,
            })
        };
        let node = b.add_processor(func_name, &[source], factory);
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

    /// Counts the rows per group.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let table = builder.table("user-region", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let users_per_region = table
    ///     .group_by(|user, region| (region.clone(), user.clone()), Grouped::with(Serdes::string(), Serdes::string()))
    ///     .count(Materialized::as_("users-per-region"));
    /// ```
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        self.aggregate_with(
            materialized,
            "KTABLE-AGGREGATE-",
            Some(Serdes::i64()),
            |_k, _v, agg: Option<&i64>| agg.copied().unwrap_or(0) + 1,
            |_k, _v, agg: &i64| agg - 1,
        )
    }

    /// Combines values per group with `adder(aggregate, value)`, and takes
    /// a row's old value out with `subtractor(aggregate, value)`.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let table = builder.table("t", Consumed::with(Serdes::string(), Serdes::i64()), Materialized::none());
    /// let totals = table
    ///     .group_by(|_k, v| ("all".to_string(), *v), Grouped::with(Serdes::string(), Serdes::i64()))
    ///     .reduce(|agg, v| agg + v, |agg, v| agg - v, Materialized::as_("totals"));
    /// ```
    pub fn reduce<A, R>(
        &self,
        adder: A,
        subtractor: R,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V>
    where
        A: Fn(&V, &V) -> V + Send + Sync + 'static,
        R: Fn(&V, &V) -> V + Send + Sync + 'static,
    {
        let default = self.value_serde.clone();
        self.aggregate_with(
            materialized,
            "KTABLE-REDUCE-",
            default,
            move |_k, v, agg: Option<&V>| match agg {
                Some(a) => adder(a, v),
                None => v.clone(),
            },
            move |_k, v, agg: &V| subtractor(agg, v),
        )
    }

    /// Folds values per group, starting from `initializer()`, with an adder
    /// and a subtractor.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let table = builder.table("t", Consumed::with(Serdes::string(), Serdes::i64()), Materialized::none());
    /// let totals = table
    ///     .group_by(|_k, v| ("all".to_string(), *v), Grouped::with(Serdes::string(), Serdes::i64()))
    ///     .aggregate(|| 0i64, |_k, v, agg| agg + v, |_k, v, agg| agg - v,
    ///         Materialized::with(Serdes::string(), Serdes::i64()));
    /// ```
    pub fn aggregate<VA, I, A, R>(
        &self,
        initializer: I,
        adder: A,
        subtractor: R,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA>
    where
        VA: Clone + 'static,
        I: Fn() -> VA + Send + Sync + 'static,
        A: Fn(&K, &V, &VA) -> VA + Send + Sync + 'static,
        R: Fn(&K, &V, &VA) -> VA + Send + Sync + 'static,
    {
        self.aggregate_with(
            materialized,
            "KTABLE-AGGREGATE-",
            None,
            move |k, v, agg: Option<&VA>| match agg {
                Some(a) => adder(k, v, a),
                None => adder(k, v, &initializer()),
            },
            subtractor,
        )
    }
}
