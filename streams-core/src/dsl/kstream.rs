//! [`KStream`]: an unbounded stream of independent records.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::branched::BranchedKStream;
use super::builder::{Shared, repartition};
use super::grouped_stream::KGroupedStream;
use super::ktable::KTable;
use super::options::{Grouped, Materialized, Named, Produced, Repartitioned};
use super::store;
use crate::processor::node::SinkTopic;
use crate::processor::stateless::{
    Filter, FlatMap, FlatMapValues, Map, MapValues, PassThrough, Peek,
};
use crate::processor::table::{Materialization, TableSource};
use crate::processor::{Processor, Record, RecordContext};
use crate::serde::SerdeRef;
use crate::topology::processor_factory;

/// A stream of records, each independent of the others (Kafka Streams'
/// `KStream`).
///
/// Functions given to its operators see keys and values as `Option`s:
/// `None` is Kafka's null, passed on exactly where Kafka Streams passes a
/// null to a lambda. Values produced by `map_values`, `map` and `select_key`
/// are `Option`s too, so a function can produce a null (a tombstone).
pub struct KStream<K, V> {
    pub(crate) builder: Shared,
    pub(crate) node: usize,
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) repartition_required: bool,
}

impl<K, V> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        KStream {
            builder: self.builder.clone(),
            node: self.node,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            repartition_required: self.repartition_required,
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    fn derive<K2, V2>(
        &self,
        node: usize,
        key_serde: Option<SerdeRef<K2>>,
        value_serde: Option<SerdeRef<V2>>,
        repartition_required: bool,
    ) -> KStream<K2, V2> {
        KStream {
            builder: self.builder.clone(),
            node,
            key_serde,
            value_serde,
            repartition_required,
        }
    }

    /// Adds a processor node after this stream's node.
    fn add<P, K2, V2>(
        &self,
        name: Option<Named>,
        prefix: &str,
        supplier: impl Fn() -> P + Send + Sync + 'static,
    ) -> usize
    where
        P: Processor<K, V, K2, V2>,
        K2: 'static,
        V2: 'static,
    {
        let mut b = self.builder.borrow_mut();
        let name = b.name_or(name.map(|n| n.0), prefix);
        b.add_processor(name, &[self.node], processor_factory(supplier))
    }

    /// The name of this stream's node.
    pub fn node_name(&self) -> String {
        self.builder.borrow().topology.nodes[self.node]
            .name
            .to_string()
    }

    /// Keeps the records for which `predicate` holds.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()));
    /// let big = stream.filter(|_key, amount| amount.is_some_and(|a| *a > 100));
    /// ```
    pub fn filter<F>(&self, predicate: F) -> KStream<K, V>
    where
        F: Fn(Option<&K>, Option<&V>) -> bool + Send + Sync + 'static,
    {
        self.filter_named(predicate, None)
    }

    /// [`filter`](Self::filter) with a node name.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Named, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()));
    /// let big = stream.filter_named(|_k, v| v.is_some(), Named::as_("non-null"));
    /// ```
    pub fn filter_named<F>(&self, predicate: F, named: impl Into<Option<Named>>) -> KStream<K, V>
    where
        F: Fn(Option<&K>, Option<&V>) -> bool + Send + Sync + 'static,
    {
        let predicate = Arc::new(predicate);
        let node = self.add(named.into(), "KSTREAM-FILTER-", move || Filter {
            predicate: predicate.clone(),
            keep_when: true,
        });
        self.derive(
            node,
            self.key_serde.clone(),
            self.value_serde.clone(),
            self.repartition_required,
        )
    }

    /// Drops the records for which `predicate` holds.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let keyed = stream.filter_not(|key, _v| key.is_none());
    /// ```
    pub fn filter_not<F>(&self, predicate: F) -> KStream<K, V>
    where
        F: Fn(Option<&K>, Option<&V>) -> bool + Send + Sync + 'static,
    {
        let predicate = Arc::new(predicate);
        let node = self.add(None, "KSTREAM-FILTER-", move || Filter {
            predicate: predicate.clone(),
            keep_when: false,
        });
        self.derive(
            node,
            self.key_serde.clone(),
            self.value_serde.clone(),
            self.repartition_required,
        )
    }

    /// Replaces each value. The key is kept, so no repartition follows.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let lengths = stream.map_values(|v| v.map(|s| s.len() as i64));
    /// ```
    pub fn map_values<VR, F>(&self, mapper: F) -> KStream<K, VR>
    where
        VR: Clone + 'static,
        F: Fn(Option<&V>) -> Option<VR> + Send + Sync + 'static,
    {
        self.map_values_with_key(move |_k, v| mapper(v))
    }

    /// Replaces each value using its key too.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let tagged = stream.map_values_with_key(|k, v| Some(format!("{k:?}={v:?}")));
    /// ```
    pub fn map_values_with_key<VR, F>(&self, mapper: F) -> KStream<K, VR>
    where
        VR: Clone + 'static,
        F: Fn(Option<&K>, Option<&V>) -> Option<VR> + Send + Sync + 'static,
    {
        self.map_values_named(mapper, None)
    }

    /// [`map_values_with_key`](Self::map_values_with_key) with a node name.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Named, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let upper = stream.map_values_named(|_k, v| v.map(|s| s.to_uppercase()), Named::as_("upper"));
    /// ```
    pub fn map_values_named<VR, F>(
        &self,
        mapper: F,
        named: impl Into<Option<Named>>,
    ) -> KStream<K, VR>
    where
        VR: Clone + 'static,
        F: Fn(Option<&K>, Option<&V>) -> Option<VR> + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        let node = self.add(named.into(), "KSTREAM-MAPVALUES-", move || MapValues {
            mapper: mapper.clone(),
        });
        self.derive(
            node,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }

    /// Replaces key and value; a later grouping or join repartitions.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let swapped = stream.map(|k, v| (v.cloned(), k.cloned()));
    /// ```
    pub fn map<KR, VR, F>(&self, mapper: F) -> KStream<KR, VR>
    where
        KR: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(Option<&K>, Option<&V>) -> (Option<KR>, Option<VR>) + Send + Sync + 'static,
    {
        self.map_named(mapper, None)
    }

    /// [`map`](Self::map) with a node name.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Named, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let swapped = stream.map_named(|k, v| (v.cloned(), k.cloned()), Named::as_("swap"));
    /// ```
    pub fn map_named<KR, VR, F>(
        &self,
        mapper: F,
        named: impl Into<Option<Named>>,
    ) -> KStream<KR, VR>
    where
        KR: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(Option<&K>, Option<&V>) -> (Option<KR>, Option<VR>) + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        let node = self.add(named.into(), "KSTREAM-MAP-", move || {
            let mapper = mapper.clone();
            Map {
                mapper: Arc::new(move |r: Record<K, V>| {
                    let (k, v) = mapper(r.key.as_ref(), r.value.as_ref());
                    r.with_key_value(k, v)
                }),
            }
        });
        self.derive(node, None, None, true)
    }

    /// Replaces the key; a later grouping or join repartitions.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let by_value = stream.select_key(|_k, v| v.cloned());
    /// ```
    pub fn select_key<KR, F>(&self, mapper: F) -> KStream<KR, V>
    where
        KR: Clone + 'static,
        F: Fn(Option<&K>, Option<&V>) -> Option<KR> + Send + Sync + 'static,
    {
        self.select_key_named(mapper, None)
    }

    /// [`select_key`](Self::select_key) with a node name.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Named, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let by_value = stream.select_key_named(|_k, v| v.cloned(), Named::as_("rekey"));
    /// ```
    pub fn select_key_named<KR, F>(
        &self,
        mapper: F,
        named: impl Into<Option<Named>>,
    ) -> KStream<KR, V>
    where
        KR: Clone + 'static,
        F: Fn(Option<&K>, Option<&V>) -> Option<KR> + Send + Sync + 'static,
    {
        let node = self.select_key_node(mapper, named.into());
        self.derive(node, None, self.value_serde.clone(), true)
    }

    fn select_key_node<KR, F>(&self, mapper: F, named: Option<Named>) -> usize
    where
        KR: Clone + 'static,
        F: Fn(Option<&K>, Option<&V>) -> Option<KR> + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        self.add(named, "KSTREAM-KEY-SELECT-", move || {
            let mapper = mapper.clone();
            Map {
                mapper: Arc::new(move |r: Record<K, V>| {
                    let k = mapper(r.key.as_ref(), r.value.as_ref());
                    r.with_key(k)
                }),
            }
        })
    }

    /// Zero or more records per record, with new keys and values.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let chars = stream.flat_map(|_k, v| {
    ///     v.map(|s| s.chars().map(|c| (Some(c.to_string()), Some(1i64))).collect::<Vec<_>>())
    ///         .unwrap_or_default()
    /// });
    /// ```
    pub fn flat_map<KR, VR, I, F>(&self, mapper: F) -> KStream<KR, VR>
    where
        KR: Clone + 'static,
        VR: Clone + 'static,
        I: IntoIterator<Item = (Option<KR>, Option<VR>)> + 'static,
        F: Fn(Option<&K>, Option<&V>) -> I + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        let node = self.add(None, "KSTREAM-FLATMAP-", move || FlatMap {
            mapper: mapper.clone(),
        });
        self.derive(node, None, None, true)
    }

    /// Zero or more values per record, each with the record's key.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let words = stream.flat_map_values(|line| {
    ///     line.map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>()).unwrap_or_default()
    /// });
    /// ```
    pub fn flat_map_values<VR, I, F>(&self, mapper: F) -> KStream<K, VR>
    where
        VR: Clone + 'static,
        I: IntoIterator<Item = VR> + 'static,
        F: Fn(Option<&V>) -> I + Send + Sync + 'static,
    {
        self.flat_map_values_with_key(move |_k, v| mapper(v))
    }

    /// Zero or more values per record, computed from key and value.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let twice = stream.flat_map_values_with_key(|_k, v| vec![v.cloned(), v.cloned()].into_iter().flatten());
    /// ```
    pub fn flat_map_values_with_key<VR, I, F>(&self, mapper: F) -> KStream<K, VR>
    where
        VR: Clone + 'static,
        I: IntoIterator<Item = VR> + 'static,
        F: Fn(Option<&K>, Option<&V>) -> I + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        let node = self.add(None, "KSTREAM-FLATMAPVALUES-", move || FlatMapValues {
            mapper: mapper.clone(),
        });
        self.derive(
            node,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }

    /// Calls `action` on each record and passes it on unchanged.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let same = stream.peek(|k, v| println!("{k:?} -> {v:?}"));
    /// ```
    pub fn peek<F>(&self, action: F) -> KStream<K, V>
    where
        F: Fn(Option<&K>, Option<&V>) + Send + Sync + 'static,
    {
        let action = Arc::new(action);
        let node = self.add(None, "KSTREAM-PEEK-", move || Peek {
            action: action.clone(),
            forward: true,
        });
        self.derive(
            node,
            self.key_serde.clone(),
            self.value_serde.clone(),
            self.repartition_required,
        )
    }

    /// Calls `action` on each record; the stream ends here.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// stream.foreach(|k, v| println!("{k:?} -> {v:?}"));
    /// ```
    pub fn foreach<F>(&self, action: F)
    where
        F: Fn(Option<&K>, Option<&V>) + Send + Sync + 'static,
    {
        let action = Arc::new(action);
        self.add::<_, K, V>(None, "KSTREAM-FOREACH-", move || Peek {
            action: action.clone(),
            forward: false,
        });
    }

    /// Splits the stream by predicates into named branches.
    ///
    /// ```
    /// # use streams_core::dsl::{Branched, Consumed, Named, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()));
    /// let branches = stream
    ///     .split(Named::as_("amount-"))
    ///     .branch(|_k, v| v.is_some_and(|v| *v > 100), Branched::as_("big"))
    ///     .default_branch(Branched::as_("small"));
    /// assert!(branches.contains_key("amount-big"));
    /// ```
    pub fn split(&self, named: impl Into<Option<Named>>) -> BranchedKStream<K, V> {
        let predicates = Arc::new(Mutex::new((Vec::new(), Vec::new())));
        let shared = predicates.clone();
        let mut b = self.builder.borrow_mut();
        let name = b.name_or(named.into().map(|n| n.0), "KSTREAM-BRANCH-");
        let node = b.add_processor(
            name.clone(),
            &[self.node],
            processor_factory(move || {
                let guard = shared.lock().unwrap_or_else(|e| e.into_inner());
                crate::processor::stateless::Branch {
                    predicates: Arc::new(guard.0.clone()),
                    children: Arc::new(guard.1.clone()),
                }
            }),
        );
        drop(b);
        BranchedKStream {
            source: self.clone(),
            splitter: node,
            splitter_name: name,
            state: predicates,
            outputs: BTreeMap::new(),
        }
    }

    /// One stream of the records of both streams.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// let a = builder.stream("a", Consumed::with(Serdes::string(), Serdes::string()));
    /// let b = builder.stream("b", Consumed::with(Serdes::string(), Serdes::string()));
    /// let both = a.merge(&b);
    /// ```
    pub fn merge(&self, other: &KStream<K, V>) -> KStream<K, V> {
        let mut b = self.builder.borrow_mut();
        let name = b.new_processor_name("KSTREAM-MERGE-");
        let node = b.add_processor(
            name,
            &[self.node, other.node],
            processor_factory::<_, K, V, K, V>(|| PassThrough),
        );
        drop(b);
        self.derive(
            node,
            self.key_serde.clone().or_else(|| other.key_serde.clone()),
            self.value_serde
                .clone()
                .or_else(|| other.value_serde.clone()),
            self.repartition_required || other.repartition_required,
        )
    }

    /// Writes the stream to `topic`.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Produced, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// stream.to("out", Produced::none());
    /// ```
    pub fn to(&self, topic: &str, produced: Produced<K, V>) {
        self.sink(SinkTopic::Fixed(topic.into()), produced);
    }

    /// Writes each record to the topic `extractor` names for it.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Produced, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// stream.to_extractor(|k, _v, _ctx| format!("out-{}", k.map_or("none", |k| k.as_str())), Produced::none());
    /// ```
    pub fn to_extractor<F>(&self, extractor: F, produced: Produced<K, V>)
    where
        F: Fn(Option<&K>, Option<&V>, &RecordContext<'_>) -> String + Send + Sync + 'static,
    {
        self.sink(SinkTopic::Extractor(Arc::new(extractor)), produced);
    }

    fn sink(&self, topic: SinkTopic<K, V>, produced: Produced<K, V>) {
        let mut b = self.builder.borrow_mut();
        let name = b.name_or(produced.name, "KSTREAM-SINK-");
        let fix = "pass serdes with Produced::with(key_serde, value_serde) (this stream's types changed since its source, so its serdes are unknown)";
        let ks = b.serde_or_error(
            produced.key_serde.or_else(|| self.key_serde.clone()),
            &name,
            "key serde",
            fix,
        );
        let vs = b.serde_or_error(
            produced.value_serde.or_else(|| self.value_serde.clone()),
            &name,
            "value serde",
            fix,
        );
        b.add_sink(name, topic, self.node, ks, vs, produced.partitioner);
    }

    /// Writes the stream through a repartition topic
    /// (`<application.id>-<name>-repartition`) and reads it back, so records
    /// are partitioned by their current key.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Repartitioned, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let by_key = stream.repartition(Repartitioned::as_("by-key"));
    /// ```
    pub fn repartition(&self, repartitioned: Repartitioned<K, V>) -> KStream<K, V> {
        let mut b = self.builder.borrow_mut();
        let base = b.name_or(repartitioned.name, "KSTREAM-REPARTITION-");
        let fix = "pass serdes with Repartitioned::with(key_serde, value_serde)";
        let ks = b.serde_or_error(
            repartitioned.key_serde.or_else(|| self.key_serde.clone()),
            &base,
            "key serde",
            fix,
        );
        let vs = b.serde_or_error(
            repartitioned
                .value_serde
                .or_else(|| self.value_serde.clone()),
            &base,
            "value serde",
            fix,
        );
        let node = repartition(
            &mut b,
            self.node,
            &base,
            ks.clone(),
            vs.clone(),
            repartitioned.partitioner,
        );
        drop(b);
        self.derive(node, Some(ks), Some(vs), false)
    }

    /// The latest value per key as a table (a null value deletes).
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let latest = stream.to_table(Materialized::as_("latest"));
    /// ```
    pub fn to_table(&self, materialized: Materialized<K, V>) -> KTable<K, V>
    where
        K: PartialEq,
    {
        let mut b = self.builder.borrow_mut();
        let name = b.new_processor_name("KSTREAM-TOTABLE-");
        let store_name = match &materialized.store_name {
            Some(n) => n.clone(),
            None => b.new_store_name("KSTREAM-TOTABLE-"),
        };
        let fix = "pass serdes with Materialized::with(key_serde, value_serde)";
        let ks = b.serde_or_error(
            materialized
                .key_serde
                .clone()
                .or_else(|| self.key_serde.clone()),
            &name,
            "key serde",
            fix,
        );
        let vs = b.serde_or_error(
            materialized
                .value_serde
                .clone()
                .or_else(|| self.value_serde.clone()),
            &name,
            "value serde",
            fix,
        );
        let mut parent = self.node;
        if self.repartition_required {
            parent = repartition(
                &mut b,
                self.node,
                &format!("{name}-repartition"),
                ks.clone(),
                vs.clone(),
                None,
            );
        }
        let spec = store::StoreSpec::from_materialized(&materialized, store_name.clone());
        let materialize = Arc::new(std::sync::OnceLock::new());
        let send_old = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let factory = {
            let materialize = materialize.clone();
            let send_old = send_old.clone();
            processor_factory(move || TableSource::<K, V> {
                send_old_values: send_old.clone(),
                materialized: Materialization::new(materialize.get().cloned()),
            })
        };
        let node = b.add_processor(name, &[parent], factory);
        drop(b);
        let table = KTable {
            builder: self.builder.clone(),
            node,
            key_serde: Some(ks.clone()),
            value_serde: Some(vs.clone()),
            send_old_values: send_old,
            store_name: None,
            source_materialize: Some(store::PendingStore {
                materialize,
                spec,
                key_serde: ks,
                value_serde: vs,
            }),
            parent: None,
        };
        if materialized.store_name.is_some() {
            table.force_materialize();
        }
        table
    }

    /// Groups by the current key (repartitioning first if the key changed).
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Grouped, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let grouped = stream.group_by_key(Grouped::none());
    /// ```
    pub fn group_by_key(&self, grouped: Grouped<K, V>) -> KGroupedStream<K, V> {
        KGroupedStream {
            builder: self.builder.clone(),
            node: self.node,
            key_serde: grouped.key_serde.or_else(|| self.key_serde.clone()),
            value_serde: grouped.value_serde.or_else(|| self.value_serde.clone()),
            repartition_name: grouped.name,
            repartition_required: self.repartition_required,
        }
    }

    /// Groups by a new key computed from each record; always repartitions.
    /// Records whose new key is `None` are dropped before the repartition
    /// topic, as in Kafka Streams.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Grouped, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let by_word = stream.group_by(|_k, word| word.cloned(), Grouped::with(Serdes::string(), Serdes::string()));
    /// ```
    pub fn group_by<KR, F>(&self, selector: F, grouped: Grouped<KR, V>) -> KGroupedStream<KR, V>
    where
        KR: Clone + 'static,
        F: Fn(Option<&K>, Option<&V>) -> Option<KR> + Send + Sync + 'static,
    {
        let node = self.select_key_node(selector, None);
        KGroupedStream {
            builder: self.builder.clone(),
            node,
            key_serde: grouped.key_serde,
            value_serde: grouped.value_serde.or_else(|| self.value_serde.clone()),
            repartition_name: grouped.name,
            repartition_required: true,
        }
    }

    /// Runs a custom [`Processor`] on each record (the Processor API).
    /// `stores` are the names of the state stores it may use (added with
    /// `StreamsBuilder::add_state_store`). A later grouping or join
    /// repartitions, since the processor may change keys.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, StreamsBuilder};
    /// use streams_core::error::StreamsError;
    /// use streams_core::processor::{Processor, ProcessorContext, Record};
    /// use streams_core::serde::Serdes;
    ///
    /// struct Upper;
    /// impl Processor<String, String, String, String> for Upper {
    ///     fn process(&mut self, r: Record<String, String>, ctx: &mut ProcessorContext<'_, String, String>) -> Result<(), StreamsError> {
    ///         let v = r.value.as_ref().map(|v| v.to_uppercase());
    ///         ctx.forward(r.with_value(v))
    ///     }
    /// }
    /// let builder = StreamsBuilder::new();
    /// let s = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let upper = s.process(|| Upper, &[]);
    /// ```
    pub fn process<KR, VR, P>(
        &self,
        supplier: impl Fn() -> P + Send + Sync + 'static,
        stores: &[&str],
    ) -> KStream<KR, VR>
    where
        KR: Clone + 'static,
        VR: Clone + 'static,
        P: Processor<K, V, KR, VR>,
    {
        let node = self.add(None, "KSTREAM-PROCESSOR-", supplier);
        self.connect(node, stores);
        self.derive(node, None, None, true)
    }

    /// Like [`process`](Self::process) for a processor that keeps keys as
    /// they are: a [`FixedKeyProcessor`](crate::processor::FixedKeyProcessor),
    /// which can only forward [`FixedKeyRecord`](crate::processor::FixedKeyRecord)s
    /// derived from the record it received, so the key cannot change and no
    /// repartition topic follows (Kafka Streams' `processValues`).
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, StreamsBuilder};
    /// use streams_core::error::StreamsError;
    /// use streams_core::processor::{FixedKeyProcessor, FixedKeyProcessorContext, FixedKeyRecord};
    /// use streams_core::serde::Serdes;
    ///
    /// struct Len;
    /// impl FixedKeyProcessor<String, String, i64> for Len {
    ///     fn process(
    ///         &mut self,
    ///         r: FixedKeyRecord<String, String>,
    ///         ctx: &mut FixedKeyProcessorContext<'_, '_, String, i64>,
    ///     ) -> Result<(), StreamsError> {
    ///         let v = r.value().map(|v| v.len() as i64);
    ///         ctx.forward(r.with_value(v))
    ///     }
    /// }
    /// let builder = StreamsBuilder::new();
    /// let s = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let lens = s.process_values(|| Len, &[]);
    /// ```
    pub fn process_values<VR, P>(
        &self,
        supplier: impl Fn() -> P + Send + Sync + 'static,
        stores: &[&str],
    ) -> KStream<K, VR>
    where
        VR: Clone + 'static,
        P: crate::processor::FixedKeyProcessor<K, V, VR>,
    {
        let node = self.add(None, "KSTREAM-PROCESSVALUES-", move || {
            crate::processor::FixedKeyAdapter(supplier())
        });
        self.connect(node, stores);
        self.derive(
            node,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }

    fn connect(&self, node: usize, stores: &[&str]) {
        let mut b = self.builder.borrow_mut();
        for s in stores {
            if !b.has_store(s) {
                b.errors
                    .push(crate::topology::TopologyError::UnknownStore(s.to_string()));
            }
            b.connect_store(node, s);
        }
    }
}
