//! [`StreamsBuilder`]: where a topology starts.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use super::global_table::GlobalKTable;
use super::kstream::KStream;
use super::ktable::KTable;
use super::options::{Consumed, Materialized};
use super::store;
use crate::processor::node::{
    Node, SinkNode, SinkTopic, SourceControl, SourceNode, StreamPartitioner,
};
use crate::processor::table::{Materialization, TableSource};
use crate::processor::timestamp_extractor::ExtractorRef;
use crate::serde::{Serde, SerdeError, SerdeRef};
use crate::state::StoreFactory;
use crate::topology::{
    BuiltNode, NodeDef, NodeFactory, NodeKind, StoreDef, Topology, TopologyError, processor_factory,
};

/// The shared, growing graph behind a builder and every stream and table
/// made from it.
pub(crate) struct BuilderInner {
    pub(crate) topology: Topology,
    index: u64,
    pub(crate) errors: Vec<TopologyError>,
}

pub(crate) type Shared = Rc<RefCell<BuilderInner>>;

impl BuilderInner {
    /// `prefix` + the next index as ten digits, as Kafka Streams names nodes.
    pub(crate) fn new_processor_name(&mut self, prefix: &str) -> String {
        let name = format!("{prefix}{:010}", self.index);
        self.index += 1;
        name
    }

    /// `prefix` + `STATE-STORE-` + the next index.
    pub(crate) fn new_store_name(&mut self, prefix: &str) -> String {
        let name = format!("{prefix}STATE-STORE-{:010}", self.index);
        self.index += 1;
        name
    }

    /// Uses `name` when given, else generates one with `prefix`. Like
    /// Kafka Streams, a given name still uses up an index, so naming one
    /// node does not rename the nodes after it.
    pub(crate) fn name_or(&mut self, name: Option<String>, prefix: &str) -> String {
        let generated = self.new_processor_name(prefix);
        name.unwrap_or(generated)
    }

    pub(crate) fn add_node(
        &mut self,
        name: String,
        kind: NodeKind,
        parents: &[usize],
        factory: NodeFactory,
    ) -> usize {
        if self.topology.nodes.iter().any(|n| *n.name == *name) {
            self.errors.push(TopologyError::DuplicateName(name.clone()));
        }
        let idx = self.topology.nodes.len();
        self.topology.nodes.push(NodeDef {
            name: name.into(),
            kind,
            parents: parents.to_vec(),
            children: Vec::new(),
            stores: Vec::new(),
            factory,
            global: false,
        });
        for &p in parents {
            self.topology.nodes[p].children.push(idx);
        }
        idx
    }

    pub(crate) fn add_processor(
        &mut self,
        name: String,
        parents: &[usize],
        factory: NodeFactory,
    ) -> usize {
        self.add_node(name, NodeKind::Processor, parents, factory)
    }

    pub(crate) fn add_store(&mut self, factory: Arc<dyn StoreFactory + Send + Sync>, global: bool) {
        let name = factory.name().to_string();
        if self.topology.stores.iter().any(|s| s.name == name) {
            self.errors.push(TopologyError::DuplicateName(name.clone()));
            return;
        }
        self.topology.stores.push(StoreDef {
            name,
            factory,
            global,
        });
    }

    pub(crate) fn connect_store(&mut self, node: usize, store: &str) {
        let stores = &mut self.topology.nodes[node].stores;
        if !stores.iter().any(|s| s == store) {
            stores.push(store.to_string());
        }
    }

    pub(crate) fn has_store(&self, store: &str) -> bool {
        self.topology.stores.iter().any(|s| s.name == store)
    }

    /// Resolves a serde or records an error naming the fix; the placeholder
    /// returned in that case is never run, because `build` fails.
    pub(crate) fn serde_or_error<T: 'static>(
        &mut self,
        serde: Option<SerdeRef<T>>,
        node: &str,
        what: &str,
        fix: &str,
    ) -> SerdeRef<T> {
        match serde {
            Some(s) => s,
            None => {
                self.errors.push(TopologyError::MissingSerde {
                    node: node.to_string(),
                    what: what.to_string(),
                    fix: fix.to_string(),
                });
                Arc::new(MissingSerde)
            }
        }
    }

    /// Adds a source node reading `topics`.
    pub(crate) fn add_source<K: Clone + 'static, V: Clone + 'static>(
        &mut self,
        name: String,
        topics: Vec<String>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> usize {
        self.add_source_with(name, topics, key_serde, value_serde, None)
    }

    /// Adds the source node `name` reading `topics` as `consumed` says: its
    /// serdes (a missing one is a build error naming the fix), its
    /// timestamp extractor and, with `reset`, its offset reset policy (a
    /// global table's source has none). Returns the node and the serdes.
    pub(crate) fn add_consumed_source<K: Clone + 'static, V: Clone + 'static>(
        &mut self,
        name: String,
        topics: &[&str],
        consumed: &Consumed<K, V>,
        reset: bool,
    ) -> (usize, SerdeRef<K>, SerdeRef<V>) {
        let fix = "pass serdes with Consumed::with(key_serde, value_serde)";
        let ks = self.serde_or_error(consumed.key_serde.clone(), &name, "key serde", fix);
        let vs = self.serde_or_error(consumed.value_serde.clone(), &name, "value serde", fix);
        if let (true, Some(policy)) = (reset, consumed.offset_reset) {
            for t in topics {
                self.topology.offset_resets.insert(t.to_string(), policy);
            }
        }
        let node = self.add_source_with(
            name,
            topics.iter().map(|t| t.to_string()).collect(),
            ks.clone(),
            vs.clone(),
            consumed.timestamp_extractor.clone(),
        );
        (node, ks, vs)
    }

    /// Adds a source node reading `topics`, its records' timestamps from
    /// `extractor` when given.
    pub(crate) fn add_source_with<K: Clone + 'static, V: Clone + 'static>(
        &mut self,
        name: String,
        topics: Vec<String>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        extractor: Option<ExtractorRef<K, V>>,
    ) -> usize {
        for t in &topics {
            let taken = self.topology.nodes.iter().find(|n| match &n.kind {
                NodeKind::Source { topics: read } => read.contains(t),
                _ => false,
            });
            if let Some(other) = taken {
                self.errors.push(TopologyError::InvalidArgument(format!(
                    "topic '{t}' is already read by source node '{}': a topic can have one source only, so reuse that stream (or table) instead of reading the topic again",
                    other.name
                )));
            }
        }
        let factory: NodeFactory = Arc::new(move |inst, idx| {
            let children = inst.children::<K, V>(idx)?;
            let node = Rc::new(SourceNode {
                key_serde: key_serde.clone(),
                value_serde: value_serde.clone(),
                extractor: extractor.clone(),
                children,
            });
            let typed: Rc<dyn Node<K, V>> = node.clone();
            Ok(BuiltNode {
                typed: Box::new(typed),
                control: Rc::new(SourceControl),
                raw_source: Some(node),
            })
        });
        self.add_node(name, NodeKind::Source { topics }, &[], factory)
    }

    /// Adds a sink node.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_sink<K: 'static, V: 'static>(
        &mut self,
        name: String,
        topic: SinkTopic<K, V>,
        parent: usize,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        partitioner: Option<Arc<dyn StreamPartitioner<K, V>>>,
    ) -> usize {
        let described = match &topic {
            SinkTopic::Fixed(t) => Some(t.to_string()),
            SinkTopic::Extractor(_) => None,
        };
        let node_name: Arc<str> = name.clone().into();
        let factory: NodeFactory = Arc::new(move |inst, _idx| {
            let topic = match &topic {
                SinkTopic::Fixed(t) => SinkTopic::Fixed(inst.resolve_topic(t).into()),
                SinkTopic::Extractor(e) => SinkTopic::Extractor(e.clone()),
            };
            let node = Rc::new(SinkNode {
                name: node_name.clone(),
                topic,
                key_serde: key_serde.clone(),
                value_serde: value_serde.clone(),
                partitioner: partitioner.clone(),
            });
            let typed: Rc<dyn Node<K, V>> = node.clone();
            Ok(BuiltNode {
                typed: Box::new(typed),
                control: node,
                raw_source: None,
            })
        });
        self.add_node(
            name,
            NodeKind::Sink { topic: described },
            &[parent],
            factory,
        )
    }
}

/// A serde standing in for a missing one; `build` fails before it can run.
struct MissingSerde;

impl<T> Serde<T> for MissingSerde {
    fn serialize_into(
        &self,
        topic: &str,
        _value: &T,
        _out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        Err(SerdeError::Serialize {
            type_name: std::any::type_name::<T>(),
            topic: topic.to_string(),
            reason: "no serde configured".into(),
        })
    }
    fn deserialize(&self, topic: &str, _bytes: &[u8]) -> Result<T, SerdeError> {
        Err(SerdeError::Deserialize {
            type_name: std::any::type_name::<T>(),
            topic: topic.to_string(),
            reason: "no serde configured".into(),
        })
    }
}

/// Builds a topology with the DSL.
///
/// ```
/// use streams_core::dsl::{Consumed, Produced, StreamsBuilder};
/// use streams_core::serde::Serdes;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream("input", Consumed::with(Serdes::string(), Serdes::string()))
///     .filter(|_k, v| v.is_some_and(|v| !v.is_empty()))
///     .to("output", Produced::none());
/// let topology = builder.build().unwrap();
/// assert!(topology.describe().to_string().contains("KSTREAM-FILTER-0000000001"));
/// ```
pub struct StreamsBuilder {
    pub(crate) inner: Shared,
}

impl Default for StreamsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamsBuilder {
    /// An empty builder.
    ///
    /// ```
    /// let builder = streams_core::dsl::StreamsBuilder::new();
    /// ```
    pub fn new() -> Self {
        StreamsBuilder {
            inner: Rc::new(RefCell::new(BuilderInner {
                topology: Topology::default(),
                index: 0,
                errors: Vec::new(),
            })),
        }
    }

    /// A stream of the records of `topic`.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let s = builder.stream("words", Consumed::with(Serdes::string(), Serdes::string()));
    /// ```
    pub fn stream<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topic: &str,
        consumed: Consumed<K, V>,
    ) -> KStream<K, V> {
        self.stream_from_topics(&[topic], consumed)
    }

    /// One stream of the records of several topics.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let s = builder.stream_from_topics(&["a", "b"], Consumed::with(Serdes::string(), Serdes::string()));
    /// ```
    pub fn stream_from_topics<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topics: &[&str],
        consumed: Consumed<K, V>,
    ) -> KStream<K, V> {
        let mut b = self.inner.borrow_mut();
        let name = b.name_or(consumed.name.clone(), "KSTREAM-SOURCE-");
        let (node, _, _) = b.add_consumed_source(name, topics, &consumed, true);
        drop(b);
        KStream {
            builder: self.inner.clone(),
            node,
            key_serde: consumed.key_serde,
            value_serde: consumed.value_serde,
            repartition_required: false,
        }
    }

    /// A table of the latest value per key of `topic`; a null value deletes.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let t = builder.table("users", Consumed::with(Serdes::string(), Serdes::string()), Materialized::as_("users-store"));
    /// ```
    pub fn table<K: Clone + PartialEq + 'static, V: Clone + 'static>(
        &self,
        topic: &str,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let mut b = self.inner.borrow_mut();
        // Kafka Streams names the store first, even when it is not
        // materialized, so the indices of later nodes match.
        let queryable = materialized.store_name.clone();
        let store_name = match &materialized.store_name {
            Some(n) => n.clone(),
            None => b.new_store_name(&format!("{topic}-")),
        };
        let source_name = b.name_or(consumed.name.clone(), "KSTREAM-SOURCE-");
        let table_name = b.name_or(
            consumed.name.as_ref().map(|n| format!("{n}-table-source")),
            "KTABLE-SOURCE-",
        );
        let (source, ks, vs) = b.add_consumed_source(source_name, &[topic], &consumed, true);
        let send_old = Arc::new(AtomicBool::new(false));
        let materialize: Arc<OnceLock<String>> = Arc::new(OnceLock::new());
        let spec = store::StoreSpec::from_materialized(&materialized, store_name.clone());
        let key_serde = materialized.key_serde.clone().unwrap_or(ks);
        let value_serde = materialized.value_serde.clone().unwrap_or(vs);
        let factory = {
            let send_old = send_old.clone();
            let materialize = materialize.clone();
            processor_factory(move || TableSource::<K, V> {
                send_old_values: send_old.clone(),
                materialized: Materialization::new(materialize.get().cloned()),
            })
        };
        let node = b.add_processor(table_name, &[source], factory);
        drop(b);
        let table = KTable {
            builder: self.inner.clone(),
            node,
            key_serde: Some(key_serde.clone()),
            value_serde: Some(value_serde.clone()),
            send_old_values: send_old,
            store_name: None,
            source_materialize: Some(store::PendingStore {
                materialize,
                spec,
                key_serde,
                value_serde,
            }),
            parent: None,
        };
        if queryable.is_some() {
            table.force_materialize();
        }
        table
    }

    /// A table replicated in full on every instance, updated from `topic`
    /// outside of any task; joins look it up by a key derived from each
    /// stream record.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let g = builder.global_table("countries", Consumed::with(Serdes::string(), Serdes::string()), Materialized::as_("countries-store"));
    /// ```
    pub fn global_table<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topic: &str,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> GlobalKTable<K, V> {
        let mut b = self.inner.borrow_mut();
        let store_name = match &materialized.store_name {
            Some(n) => n.clone(),
            None => b.new_store_name(&format!("{topic}-")),
        };
        let source_name = b.name_or(consumed.name.clone(), "KSTREAM-SOURCE-");
        let table_name = b.new_processor_name("KTABLE-SOURCE-");
        // Global tables read their topic from the start, always.
        let (source, ks, vs) = b.add_consumed_source(source_name, &[topic], &consumed, false);
        // Global stores are restored from their source topic, never from a
        // changelog.
        let mut spec = store::StoreSpec::from_materialized(&materialized, store_name.clone());
        spec.logging = false;
        spec.caching = false;
        let key_serde = materialized.key_serde.clone().unwrap_or(ks);
        let value_serde = materialized.value_serde.clone().unwrap_or(vs);
        b.add_store(
            store::timestamped_kv_factory(&spec, key_serde.clone(), value_serde.clone()),
            true,
        );
        let name_for_factory = store_name.clone();
        let factory = processor_factory(move || TableSource::<K, V> {
            send_old_values: Arc::new(AtomicBool::new(false)),
            materialized: Materialization::new(Some(name_for_factory.clone())),
        });
        let node = b.add_processor(table_name, &[source], factory);
        b.connect_store(node, &store_name);
        b.topology.nodes[source].global = true;
        b.topology.nodes[node].global = true;
        drop(b);
        GlobalKTable {
            store_name,
            key_serde,
            value_serde,
        }
    }

    /// Adds a store that `process()` processors can connect to by name.
    ///
    /// ```
    /// use streams_core::dsl::StreamsBuilder;
    /// use streams_core::serde::Serdes;
    /// use streams_core::state::Stores;
    /// let builder = StreamsBuilder::new();
    /// builder.add_state_store(Stores::key_value_store_builder(
    ///     Stores::in_memory_key_value_store("seen"), Serdes::string(), Serdes::i64()));
    /// ```
    pub fn add_state_store(&self, store: impl StoreFactory + 'static) -> &Self {
        self.inner.borrow_mut().add_store(Arc::new(store), false);
        self
    }

    /// Finishes the topology. Fails with every misconfiguration found
    /// (missing serdes, duplicate names ...), each naming its fix.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, StreamsBuilder};
    /// let builder = StreamsBuilder::new();
    /// // No serdes given and none to infer: the build says how to fix it.
    /// builder.stream::<String, String>("in", Consumed::none());
    /// let err = builder.build().unwrap_err();
    /// assert!(err.to_string().contains("Consumed::with"));
    /// ```
    pub fn build(&self) -> Result<Topology, TopologyError> {
        let b = self.inner.borrow();
        if let Some(e) = b.errors.first() {
            return Err(e.clone());
        }
        // The builder can keep growing; hand out a snapshot.
        let topology = &b.topology;
        let copy = Topology {
            nodes: topology
                .nodes
                .iter()
                .map(|n| NodeDef {
                    name: n.name.clone(),
                    kind: n.kind.clone(),
                    parents: n.parents.clone(),
                    children: n.children.clone(),
                    stores: n.stores.clone(),
                    factory: n.factory.clone(),
                    global: n.global,
                })
                .collect(),
            stores: topology
                .stores
                .iter()
                .map(|s| StoreDef {
                    name: s.name.clone(),
                    factory: s.factory.clone(),
                    global: s.global,
                })
                .collect(),
            repartition_topics: topology.repartition_topics.clone(),
            copartition_groups: topology.copartition_groups.clone(),
            offset_resets: topology.offset_resets.clone(),
        };
        for node in &copy.nodes {
            for s in &node.stores {
                if !copy.stores.iter().any(|d| &d.name == s) {
                    return Err(TopologyError::UnknownStore(s.clone()));
                }
            }
        }
        Ok(copy)
    }
}

/// Registers a repartition topic and returns the node the stream continues
/// from: `parent -> filter(non-null key) -> sink(topic)`, and a new source
/// of that topic. Node names follow Kafka Streams' `createRepartitionedSource`.
pub(crate) fn repartition<K: Clone + 'static, V: Clone + 'static>(
    b: &mut BuilderInner,
    parent: usize,
    base_name: &str,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    partitioner: Option<Arc<dyn StreamPartitioner<K, V>>>,
) -> usize {
    let topic = if base_name.ends_with("-repartition") {
        base_name.to_string()
    } else {
        format!("{base_name}-repartition")
    };
    let gen_sink = b.new_processor_name("KSTREAM-SINK-");
    let gen_filter = b.new_processor_name("KSTREAM-FILTER-");
    let gen_source = b.new_processor_name("KSTREAM-SOURCE-");
    let generated = is_generated_name(base_name);
    let (sink, filter, source) = if generated {
        (gen_sink, gen_filter, gen_source)
    } else {
        (
            format!("{topic}-sink"),
            format!("{topic}-filter"),
            format!("{topic}-source"),
        )
    };
    b.topology.repartition_topics.insert(topic.clone());
    let filter_node = b.add_processor(
        filter,
        &[parent],
        processor_factory::<_, K, V, K, V>(|| crate::processor::stateless::DropNullKeys),
    );
    b.add_sink(
        sink,
        SinkTopic::Fixed(topic.clone().into()),
        filter_node,
        key_serde.clone(),
        value_serde.clone(),
        partitioner,
    );
    b.add_source(source, vec![topic], key_serde, value_serde)
}

/// Whether `name` looks like `KSTREAM...-<ten digits>` (Kafka Streams then
/// keeps the generated repartition node names).
fn is_generated_name(name: &str) -> bool {
    if !name.starts_with("KSTREAM") || name.len() < 11 {
        return false;
    }
    let (head, digits) = name.split_at(name.len() - 10);
    head.ends_with('-') && digits.bytes().all(|c| c.is_ascii_digit())
}
