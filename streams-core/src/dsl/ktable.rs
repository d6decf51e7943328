//! [`KTable`]: a changelog stream read as the latest value per key.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::builder::Shared;
use super::grouped_table::KGroupedTable;
use super::kstream::KStream;
use super::options::{Grouped, Materialized, Named};
use super::store::{self, PendingStore, StoreSpec};
use crate::processor::table::{
    Materialization, SendOldValues, TableFilter, TableMapValues, TableSelect, TableToStream,
};
use crate::serde::SerdeRef;
use crate::topology::processor_factory;

/// A table: for each key, its latest value (Kafka Streams' `KTable`).
/// Updates flow as changes; a null value (`None`) is a delete.
///
/// Functions given to its operators see non-null keys and values: Kafka
/// Streams never passes a deleted row to a table lambda, it forwards the
/// delete instead.
pub struct KTable<K, V> {
    pub(crate) builder: Shared,
    pub(crate) node: usize,
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) send_old_values: SendOldValues,
    /// The store of an aggregation or materialized operator.
    pub(crate) store_name: Option<String>,
    /// A source-like node's store, created on demand.
    pub(crate) source_materialize: Option<PendingStore<K, V>>,
    /// Asks the upstream table to send old values.
    pub(crate) parent: Option<Rc<dyn Fn()>>,
}

impl<K, V> Clone for KTable<K, V> {
    fn clone(&self) -> Self {
        KTable {
            builder: self.builder.clone(),
            node: self.node,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            send_old_values: self.send_old_values.clone(),
            store_name: self.store_name.clone(),
            source_materialize: self.source_materialize.clone(),
            parent: self.parent.clone(),
        }
    }
}

impl<K: Clone + PartialEq + 'static, V: Clone + 'static> KTable<K, V> {
    /// The name of the store that holds this table, if it is materialized.
    pub fn queryable_store_name(&self) -> Option<String> {
        self.store_name.clone().or_else(|| {
            self.source_materialize
                .as_ref()
                .and_then(|p| p.materialize.get().cloned())
        })
    }

    /// The name of this table's node.
    pub fn node_name(&self) -> String {
        self.builder.borrow().topology.nodes[self.node]
            .name
            .to_string()
    }

    /// Creates this table's store if it is a source-like node without one.
    pub(crate) fn force_materialize(&self) {
        if let Some(p) = &self.source_materialize
            && p.materialize.get().is_none()
        {
            let _ = p.materialize.set(p.spec.name.clone());
            let mut b = self.builder.borrow_mut();
            b.add_store(
                store::timestamped_kv_factory(&p.spec, p.key_serde.clone(), p.value_serde.clone()),
                false,
            );
            b.connect_store(self.node, &p.spec.name);
        }
    }

    /// Makes this table (and its upstream tables) forward old values with
    /// each change, as Kafka Streams' `enableSendingOldValues(true)`.
    pub(crate) fn enable_sending_old_values(&self) {
        if self.send_old_values.swap(true, Ordering::Relaxed) {
            return;
        }
        self.force_materialize();
        if let Some(parent) = &self.parent {
            parent();
        }
    }

    fn derive<V2: Clone + 'static>(
        &self,
        node: usize,
        value_serde: Option<SerdeRef<V2>>,
        send_old: SendOldValues,
        store_name: Option<String>,
    ) -> KTable<K, V2> {
        let me = self.clone();
        KTable {
            builder: self.builder.clone(),
            node,
            key_serde: self.key_serde.clone(),
            value_serde,
            send_old_values: send_old,
            store_name,
            source_materialize: None,
            parent: Some(Rc::new(move || me.enable_sending_old_values())),
        }
    }

    fn materialize_for<V2: 'static>(
        &self,
        materialized: Option<Materialized<K, V2>>,
        prefix: &str,
        default_value_serde: Option<SerdeRef<V2>>,
    ) -> (Option<String>, Option<SerdeRef<V2>>) {
        let Some(m) = materialized else {
            return (None, default_value_serde);
        };
        let mut b = self.builder.borrow_mut();
        let name = m
            .store_name
            .clone()
            .unwrap_or_else(|| b.new_store_name(prefix));
        let fix = "pass serdes with Materialized::with(key_serde, value_serde)";
        let ks = b.serde_or_error(
            m.key_serde.clone().or_else(|| self.key_serde.clone()),
            &name,
            "key serde",
            fix,
        );
        let vs = b.serde_or_error(
            m.value_serde.clone().or(default_value_serde),
            &name,
            "value serde",
            fix,
        );
        let spec = StoreSpec::from_materialized(&m, name.clone());
        b.add_store(store::timestamped_kv_factory(&spec, ks, vs.clone()), false);
        (Some(name), Some(vs))
    }

    fn filter_impl<F>(
        &self,
        predicate: F,
        keep_when: bool,
        materialized: Option<Materialized<K, V>>,
        named: Option<Named>,
    ) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let (store_name, value_serde) =
            self.materialize_for(materialized, "KTABLE-FILTER-", self.value_serde.clone());
        let send_old = Arc::new(AtomicBool::new(false));
        let predicate = Arc::new(predicate);
        let getter_predicate = predicate.clone();
        let factory = {
            let send_old = send_old.clone();
            let store_name = store_name.clone();
            processor_factory(move || TableFilter {
                predicate: predicate.clone(),
                keep_when,
                send_old_values: send_old.clone(),
                materialized: Materialization::new(store_name.clone()),
            })
        };
        let mut b = self.builder.borrow_mut();
        let name = b.name_or(named.map(|n| n.0), "KTABLE-FILTER-");
        let node = b.add_processor(name, &[self.node], factory);
        if let Some(s) = &store_name {
            b.connect_store(node, s);
        }
        drop(b);
        let derived = self.derive(node, value_serde, send_old, store_name.clone());
        // Without a store, joins read this table through its parent.
        if store_name.is_none() {
            self.register_filter_getter(&derived, getter_predicate, keep_when);
        }
        derived
    }

    /// Keeps the rows for which `predicate` holds; a row that stops
    /// matching is deleted downstream.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let table = builder.table("t", Consumed::with(Serdes::string(), Serdes::i64()), Materialized::none());
    /// let positive = table.filter(|_k, v| *v > 0);
    /// ```
    pub fn filter<F>(&self, predicate: F) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        self.filter_impl(predicate, true, None, None)
    }

    /// [`filter`](Self::filter) with its own store.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let table = builder.table("t", Consumed::with(Serdes::string(), Serdes::i64()), Materialized::none());
    /// let positive = table.filter_materialized(|_k, v| *v > 0, Materialized::as_("positive"));
    /// ```
    pub fn filter_materialized<F>(
        &self,
        predicate: F,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        self.filter_impl(predicate, true, Some(materialized), None)
    }

    /// Deletes the rows for which `predicate` holds.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let table = builder.table("t", Consumed::with(Serdes::string(), Serdes::i64()), Materialized::none());
    /// let non_zero = table.filter_not(|_k, v| *v == 0);
    /// ```
    pub fn filter_not<F>(&self, predicate: F) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        self.filter_impl(predicate, false, None, None)
    }

    fn map_values_impl<VR, F>(
        &self,
        mapper: F,
        materialized: Option<Materialized<K, VR>>,
        named: Option<Named>,
    ) -> KTable<K, VR>
    where
        VR: Clone + 'static,
        F: Fn(&K, &V) -> VR + Send + Sync + 'static,
    {
        let (store_name, value_serde) =
            self.materialize_for(materialized, "KTABLE-MAPVALUES-", None);
        let send_old = Arc::new(AtomicBool::new(false));
        let mapper = Arc::new(mapper);
        let getter_mapper = mapper.clone();
        let factory = {
            let send_old = send_old.clone();
            let store_name = store_name.clone();
            processor_factory(move || TableMapValues {
                mapper: mapper.clone(),
                send_old_values: send_old.clone(),
                materialized: Materialization::new(store_name.clone()),
                _v: std::marker::PhantomData,
            })
        };
        let mut b = self.builder.borrow_mut();
        let name = b.name_or(named.map(|n| n.0), "KTABLE-MAPVALUES-");
        let node = b.add_processor(name, &[self.node], factory);
        if let Some(s) = &store_name {
            b.connect_store(node, s);
        }
        drop(b);
        let derived = self.derive(node, value_serde, send_old, store_name.clone());
        // Without a store, joins read this table through its parent.
        if store_name.is_none() {
            self.register_map_values_getter(&derived, getter_mapper);
        }
        derived
    }

    /// Maps each row's value; deletes stay deletes.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let table = builder.table("t", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let lengths = table.map_values(|_k, v| v.len() as i64);
    /// ```
    pub fn map_values<VR, F>(&self, mapper: F) -> KTable<K, VR>
    where
        VR: Clone + 'static,
        F: Fn(&K, &V) -> VR + Send + Sync + 'static,
    {
        self.map_values_impl(mapper, None, None)
    }

    /// [`map_values`](Self::map_values) with its own store.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let table = builder.table("t", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let lengths = table.map_values_materialized(|_k, v| v.len() as i64,
    ///     Materialized::as_("lengths").with_value_serde(Serdes::i64()));
    /// ```
    pub fn map_values_materialized<VR, F>(
        &self,
        mapper: F,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        VR: Clone + 'static,
        F: Fn(&K, &V) -> VR + Send + Sync + 'static,
    {
        self.map_values_impl(mapper, Some(materialized), None)
    }

    /// The stream of this table's updates (a delete is a null value).
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let table = builder.table("t", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let updates = table.to_stream();
    /// ```
    pub fn to_stream(&self) -> KStream<K, V> {
        let mut b = self.builder.borrow_mut();
        let name = b.new_processor_name("KTABLE-TOSTREAM-");
        let node = b.add_processor(
            name,
            &[self.node],
            processor_factory::<_, K, crate::serde::Change<V>, K, V>(|| TableToStream),
        );
        drop(b);
        KStream {
            builder: self.builder.clone(),
            node,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            repartition_required: false,
        }
    }

    /// Re-groups the rows by a new key for an aggregation with an adder and
    /// a subtractor. Always repartitions.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let table = builder.table("user-region", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let by_region = table.group_by(|user, region| (region.clone(), user.clone()),
    ///     Grouped::with(Serdes::string(), Serdes::string()));
    /// ```
    pub fn group_by<KR, VR, F>(
        &self,
        selector: F,
        grouped: Grouped<KR, VR>,
    ) -> KGroupedTable<KR, VR>
    where
        KR: Clone + PartialEq + 'static,
        VR: Clone + 'static,
        F: Fn(&K, &V) -> (KR, VR) + Send + Sync + 'static,
    {
        self.enable_sending_old_values();
        let selector = Arc::new(move |k: &K, v: &V| {
            let (kr, vr) = selector(k, v);
            (Some(kr), Some(vr))
        });
        let mut b = self.builder.borrow_mut();
        let name = b.name_or(grouped.name.clone(), "KTABLE-SELECT-");
        let node = b.add_processor(
            name,
            &[self.node],
            processor_factory(move || TableSelect {
                selector: selector.clone(),
            }),
        );
        drop(b);
        KGroupedTable {
            builder: self.builder.clone(),
            node,
            key_serde: grouped.key_serde,
            value_serde: grouped.value_serde,
            repartition_name: grouped.name,
        }
    }
}
