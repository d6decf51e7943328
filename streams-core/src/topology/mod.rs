//! The logical graph a [`StreamsBuilder`](crate::dsl::StreamsBuilder)
//! produces: named source, processor and sink nodes, the state stores they
//! use, the sub-topologies they fall into, and the internal topics between
//! them.
//!
//! A [`Topology`] is immutable and shareable across threads. Each task
//! instantiates its part of it with fresh processors and stores
//! (`Topology::instantiate`), which is how the test driver and the Kafka
//! runtime run exactly the same code.

mod describe;
mod instantiate;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub use describe::TopologyDescription;
pub(crate) use instantiate::{BuiltNode, BuiltTask, NodeFactory, processor_factory, resolve_topic};

use crate::state::StoreFactory;

/// Errors in how a topology is put together. They are raised by
/// `StreamsBuilder::build` or when a task instantiates the topology, with a
/// message that names the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// Two nodes or stores share a name.
    #[error(
        "name '{0}' is already used in this topology: give each node and store a unique name (Named::as_, Materialized::as_)"
    )]
    DuplicateName(String),
    /// A serde is needed but none was given and the type has no default.
    #[error("{what} of node '{node}' has no serde: {fix}")]
    MissingSerde {
        /// The node that needs it.
        node: String,
        /// Which serde (key, value ...).
        what: String,
        /// How to provide it.
        fix: String,
    },
    /// An argument was rejected.
    #[error("{0}")]
    InvalidArgument(String),
    /// A node's children have another record type than it produces. This is
    /// a bug in the library, never a user error.
    #[error("internal type mismatch wiring node '{0}'")]
    TypeMismatch(String),
    /// A store is unknown.
    #[error(
        "state store '{0}' is not part of this topology: add it with StreamsBuilder::add_state_store"
    )]
    UnknownStore(String),
}

/// What kind of node a [`NodeDef`] is.
#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    Source { topics: Vec<String> },
    Processor,
    Sink { topic: Option<String> },
}

/// One node of the logical graph.
pub(crate) struct NodeDef {
    pub(crate) name: Arc<str>,
    pub(crate) kind: NodeKind,
    pub(crate) parents: Vec<usize>,
    pub(crate) children: Vec<usize>,
    pub(crate) stores: Vec<String>,
    pub(crate) factory: NodeFactory,
    /// Part of a global store's (or global table's) update path.
    pub(crate) global: bool,
}

/// A store declared in the topology.
pub(crate) struct StoreDef {
    pub(crate) name: String,
    pub(crate) factory: Arc<dyn StoreFactory + Send + Sync>,
    pub(crate) global: bool,
}

/// A compiled topology: what `StreamsBuilder::build` returns.
#[derive(Default)]
pub struct Topology {
    pub(crate) nodes: Vec<NodeDef>,
    pub(crate) stores: Vec<StoreDef>,
    /// Repartition topics, without the `<application.id>-` prefix.
    pub(crate) repartition_topics: BTreeSet<String>,
    /// Topics that must have the same number of partitions (join inputs).
    pub(crate) copartition_groups: Vec<BTreeSet<String>>,
    /// Source topics with their own reset policy
    /// (`Consumed::with_offset_reset_policy`).
    pub(crate) offset_resets: BTreeMap<String, crate::dsl::AutoOffsetReset>,
}

/// One sub-topology: the nodes that run together in one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subtopology {
    /// Its number, as Kafka Streams numbers them.
    pub id: u32,
    /// Indices of its nodes.
    pub(crate) nodes: BTreeSet<usize>,
    /// The topics its sources read (internal ones without prefix).
    pub source_topics: BTreeSet<String>,
    /// Whether it is a global store's update path (runs no task).
    pub global: bool,
}

impl Topology {
    /// The Kafka Streams-style description; its `Display` is Kafka Streams'
    /// exact text.
    pub fn describe(&self) -> TopologyDescription {
        describe::describe(self)
    }

    /// The node groups, numbered as Kafka Streams numbers them: nodes linked
    /// by edges or by a shared store are one group; groups are numbered in
    /// topological order, the order in which Kafka Streams writes the DSL's
    /// nodes into its topology (which is the order our DSL creates them).
    pub fn subtopologies(&self) -> Vec<Subtopology> {
        let n = self.nodes.len();
        let mut uf = UnionFind::new(n);
        for (i, node) in self.nodes.iter().enumerate() {
            for &p in &node.parents {
                uf.union(i, p);
            }
        }
        let mut by_store: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            for s in &node.stores {
                if let Some(&first) = by_store.get(s.as_str()) {
                    uf.union(i, first);
                } else {
                    by_store.insert(s, i);
                }
            }
        }
        let order: Vec<usize> = (0..n).collect();
        let mut group_of_root: BTreeMap<usize, usize> = BTreeMap::new();
        let mut groups: Vec<Subtopology> = Vec::new();
        for i in order {
            let root = uf.find(i);
            let g = *group_of_root.entry(root).or_insert_with(|| {
                groups.push(Subtopology {
                    id: groups.len() as u32,
                    nodes: BTreeSet::new(),
                    source_topics: BTreeSet::new(),
                    global: false,
                });
                groups.len() - 1
            });
            groups[g].nodes.insert(i);
            if let NodeKind::Source { topics } = &self.nodes[i].kind {
                groups[g].source_topics.extend(topics.iter().cloned());
            }
            if self.nodes[i].global {
                groups[g].global = true;
            }
        }
        groups
    }

    /// The repartition topics (without the application id prefix).
    pub fn repartition_topics(&self) -> impl Iterator<Item = &str> {
        self.repartition_topics.iter().map(String::as_str)
    }

    /// Changelog topics of the stores with logging on, as
    /// `<application.id>-<store>-changelog`.
    pub fn changelog_topics(&self, application_id: &str) -> Vec<String> {
        self.stores
            .iter()
            .filter(|s| !s.global)
            .filter_map(|s| s.factory.changelog_topic(application_id))
            .collect()
    }

    /// Groups of topics that must be co-partitioned (join inputs).
    pub fn copartition_groups(&self) -> &[BTreeSet<String>] {
        &self.copartition_groups
    }
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.describe())
    }
}

struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n).collect(),
        }
    }
    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra] = rb;
        }
    }
}
