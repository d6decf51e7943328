//! Turning the logical graph into live, typed nodes for one task.
//!
//! Each node definition carries a factory. A factory builds its node after
//! asking the [`Instantiator`] for its children, typed by its own output
//! types; the instantiator builds each node once (a node with two parents,
//! such as a merge, is shared) and checks the types once, at build time.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use super::{NodeKind, Topology, TopologyError};
use crate::error::StreamsError;
use crate::processor::node::{Child, Node, NodeControl, ProcessorNode, RawSource};
use crate::processor::{NodeInfo, Processor};

/// A node built for a task.
pub(crate) struct BuiltNode {
    /// `Rc<dyn Node<K, V>>` for the node's input types.
    pub(crate) typed: Box<dyn Any>,
    pub(crate) control: Rc<dyn NodeControl>,
    pub(crate) raw_source: Option<Rc<dyn RawSource>>,
}

/// Builds one node of a task.
pub(crate) type NodeFactory =
    Arc<dyn Fn(&mut Instantiator<'_>, usize) -> Result<BuiltNode, StreamsError> + Send + Sync>;

/// The live nodes of one task.
pub(crate) struct BuiltTask {
    /// Source nodes by the (resolved) topic they read, with the topic's
    /// name shared by every record's metadata (no copy per record).
    pub(crate) sources: rustc_hash::FxHashMap<String, (std::sync::Arc<str>, Rc<dyn RawSource>)>,
    /// Every node's control side, in topological (creation) order.
    pub(crate) controls: Vec<(usize, Rc<dyn NodeControl>)>,
    /// The stores this task's nodes use.
    pub(crate) stores: Vec<String>,
}

/// Builds the nodes of one task.
pub(crate) struct Instantiator<'t> {
    topology: &'t Topology,
    application_id: &'t str,
    built: Vec<Option<BuiltNode>>,
    include: Vec<bool>,
}

impl<'t> Instantiator<'t> {
    pub(crate) fn info(&self, idx: usize) -> NodeInfo {
        let def = &self.topology.nodes[idx];
        NodeInfo {
            name: def.name.clone(),
            index: idx,
            stores: def.stores.clone(),
        }
    }

    /// The topic name as the task uses it: repartition topics get the
    /// `<application.id>-` prefix, as in Kafka Streams.
    pub(crate) fn resolve_topic(&self, topic: &str) -> String {
        resolve_topic(self.topology, self.application_id, topic)
    }

    fn ensure(&mut self, idx: usize) -> Result<(), StreamsError> {
        if self.built[idx].is_none() {
            if !self.include[idx] {
                return Err(TopologyError::InvalidArgument(format!(
                    "node '{}' is not part of this task",
                    self.topology.nodes[idx].name
                ))
                .into());
            }
            let factory = self.topology.nodes[idx].factory.clone();
            let node = factory(self, idx)?;
            self.built[idx] = Some(node);
        }
        Ok(())
    }

    /// The node `idx`, typed by its input types.
    pub(crate) fn node<K: 'static, V: 'static>(
        &mut self,
        idx: usize,
    ) -> Result<Rc<dyn Node<K, V>>, StreamsError> {
        self.ensure(idx)?;
        self.built[idx]
            .as_ref()
            .and_then(|b| b.typed.downcast_ref::<Rc<dyn Node<K, V>>>())
            .cloned()
            .ok_or_else(|| {
                TopologyError::TypeMismatch(self.topology.nodes[idx].name.to_string()).into()
            })
    }

    /// The children of `idx`, typed by `idx`'s output types.
    pub(crate) fn children<K: 'static, V: 'static>(
        &mut self,
        idx: usize,
    ) -> Result<Vec<Child<K, V>>, StreamsError> {
        let child_ids: Vec<usize> = self.topology.nodes[idx]
            .children
            .iter()
            .copied()
            .filter(|&c| self.include[c])
            .collect();
        child_ids
            .into_iter()
            .map(|c| {
                Ok(Child {
                    name: self.topology.nodes[c].name.clone(),
                    node: self.node::<K, V>(c)?,
                })
            })
            .collect()
    }
}

/// The topic name as tasks use it: repartition topics get the
/// `<application.id>-` prefix.
pub(crate) fn resolve_topic(topology: &Topology, application_id: &str, topic: &str) -> String {
    if topology.repartition_topics.contains(topic) {
        format!("{application_id}-{topic}")
    } else {
        topic.to_string()
    }
}

impl Topology {
    /// Builds the live nodes of the nodes selected by `include`.
    pub(crate) fn instantiate(
        &self,
        application_id: &str,
        include: impl Fn(usize) -> bool,
    ) -> Result<BuiltTask, StreamsError> {
        let n = self.nodes.len();
        let include: Vec<bool> = (0..n).map(&include).collect();
        let mut inst = Instantiator {
            topology: self,
            application_id,
            built: (0..n).map(|_| None).collect(),
            include,
        };
        for i in 0..n {
            if inst.include[i] {
                inst.ensure(i)?;
            }
        }
        let mut sources = rustc_hash::FxHashMap::default();
        let mut controls = Vec::new();
        let mut stores = Vec::new();
        for (i, built) in inst.built.into_iter().enumerate() {
            let Some(built) = built else { continue };
            if let (Some(raw), NodeKind::Source { topics }) =
                (&built.raw_source, &self.nodes[i].kind)
            {
                for t in topics {
                    let name = resolve_topic(self, application_id, t);
                    sources.insert(name.clone(), (name.into(), raw.clone()));
                }
            }
            for s in &self.nodes[i].stores {
                if !stores.contains(s) {
                    stores.push(s.clone());
                }
            }
            controls.push((i, built.control));
        }
        Ok(BuiltTask {
            sources,
            controls,
            stores,
        })
    }
}

/// The factory of a processor node whose processors come from `supplier`.
pub(crate) fn processor_factory<P, KIn, VIn, KOut, VOut>(
    supplier: impl Fn() -> P + Send + Sync + 'static,
) -> NodeFactory
where
    P: Processor<KIn, VIn, KOut, VOut>,
    KIn: 'static,
    VIn: 'static,
    KOut: 'static,
    VOut: 'static,
{
    Arc::new(move |inst: &mut Instantiator<'_>, idx: usize| {
        let children = inst.children::<KOut, VOut>(idx)?;
        let node = Rc::new(ProcessorNode {
            info: inst.info(idx),
            processor: RefCell::new(supplier()),
            children,
            _in: PhantomData,
        });
        let typed: Rc<dyn Node<KIn, VIn>> = node.clone();
        Ok(BuiltNode {
            typed: Box::new(typed),
            control: node,
            raw_source: None,
        })
    })
}
