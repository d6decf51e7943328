//! `Topology::describe()` in Kafka Streams' exact text format.
//!
//! Kafka Streams orders the nodes of a sub-topology by the size of the
//! sub-graph they root (largest first), then by name. It computes those
//! sizes by walking its nodes in `HashMap` iteration order, which matters
//! only when a node is reachable along two paths; we reproduce that order
//! (Java's `String.hashCode`, bucket index and insertion order within a
//! bucket) so even those topologies print the same text.

use std::fmt;

use super::{NodeKind, Topology};

/// One described node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDescription {
    /// The node's name.
    pub name: String,
    /// Source, processor or sink, with its topics or stores.
    pub kind: NodeDescriptionKind,
    /// Names of the successors, in print order.
    pub successors: Vec<String>,
    /// Names of the predecessors, in print order.
    pub predecessors: Vec<String>,
}

/// What a described node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeDescriptionKind {
    /// A source and its topics.
    Source(Vec<String>),
    /// A processor and its stores.
    Processor(Vec<String>),
    /// A sink and its topic (`None` when a topic-name extractor chooses it).
    Sink(Option<String>),
}

/// A described sub-topology or global store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubtopologyDescription {
    /// Its number.
    pub id: u32,
    /// Whether it is a global store's update path.
    pub global: bool,
    /// Its nodes, in print order.
    pub nodes: Vec<NodeDescription>,
}

/// The whole description; `Display` prints Kafka Streams' text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyDescription {
    /// Sub-topologies and global stores, by number.
    pub subtopologies: Vec<SubtopologyDescription>,
}

fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// Iteration order of a Java `HashSet`/`HashMap` filled with `names` in the
/// given order.
fn java_hash_order(names: &[&str]) -> Vec<usize> {
    let mut capacity = 16usize;
    while names.len() > capacity * 3 / 4 {
        capacity *= 2;
    }
    let mut idx: Vec<usize> = (0..names.len()).collect();
    idx.sort_by_key(|&i| {
        let h = java_string_hash(names[i]);
        let spread = h ^ ((h as u32) >> 16) as i32;
        ((spread as u32 as usize) & (capacity - 1), i)
    });
    idx
}

pub(super) fn describe(topology: &Topology) -> TopologyDescription {
    let mut subtopologies = Vec::new();
    for group in topology.subtopologies() {
        // Insertion order of Kafka's node-group set: topological order.
        let members: Vec<usize> = group.nodes.iter().copied().collect();
        let names: Vec<&str> = members.iter().map(|&i| &*topology.nodes[i].name).collect();
        let order = java_hash_order(&names);

        // Sizes as Kafka computes them: connect each node to its
        // predecessors in hash order, adding the node's current size to the
        // predecessor and every predecessor already connected above it.
        // Kafka keeps successors and predecessors in sorted sets whose
        // order is decided when an element is inserted, with the sizes of
        // that moment; we insert the same way.
        let local = |global: usize| members.iter().position(|&m| m == global);
        let mut size = vec![1i64; members.len()];
        let mut preds: Vec<Vec<usize>> = vec![Vec::new(); members.len()];
        let mut succs: Vec<Vec<usize>> = vec![Vec::new(); members.len()];
        fn insert_sorted(set: &mut Vec<usize>, x: usize, size: &[i64], names: &[&str]) {
            if set.contains(&x) {
                return;
            }
            let key = |i: usize| (-size[i], names[i]);
            let pos = set.partition_point(|&e| key(e) < key(x));
            set.insert(pos, x);
        }
        for &li in &order {
            let node = &topology.nodes[members[li]];
            for &p in &node.parents {
                if let Some(lp) = local(p) {
                    insert_sorted(&mut preds[li], lp, &size, &names);
                    insert_sorted(&mut succs[lp], li, &size, &names);
                    let delta = size[li];
                    let mut stack = vec![lp];
                    while let Some(x) = stack.pop() {
                        size[x] += delta;
                        stack.extend(preds[x].iter().copied());
                    }
                }
            }
        }
        let mut print_order: Vec<usize> = (0..members.len()).collect();
        print_order.sort_by_key(|&li| (-size[li], names[li]));

        let nodes = print_order
            .iter()
            .map(|&li| {
                let node = &topology.nodes[members[li]];
                let kind = match &node.kind {
                    NodeKind::Source { topics } => NodeDescriptionKind::Source(topics.clone()),
                    NodeKind::Processor => NodeDescriptionKind::Processor(node.stores.clone()),
                    NodeKind::Sink { topic } => NodeDescriptionKind::Sink(topic.clone()),
                };
                NodeDescription {
                    name: node.name.to_string(),
                    kind,
                    successors: succs[li].iter().map(|&x| names[x].to_string()).collect(),
                    predecessors: preds[li].iter().map(|&x| names[x].to_string()).collect(),
                }
            })
            .collect();
        subtopologies.push(SubtopologyDescription {
            id: group.id,
            global: group.global,
            nodes,
        });
    }
    TopologyDescription { subtopologies }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

impl fmt::Display for NodeDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            NodeDescriptionKind::Source(topics) => write!(
                f,
                "Source: {} (topics: [{}])\n      --> {}",
                self.name,
                topics.join(", "),
                list(&self.successors)
            ),
            NodeDescriptionKind::Processor(stores) => write!(
                f,
                "Processor: {} (stores: [{}])\n      --> {}\n      <-- {}",
                self.name,
                stores.join(", "),
                list(&self.successors),
                list(&self.predecessors)
            ),
            NodeDescriptionKind::Sink(topic) => match topic {
                Some(t) => write!(
                    f,
                    "Sink: {} (topic: {})\n      <-- {}",
                    self.name,
                    t,
                    list(&self.predecessors)
                ),
                None => write!(
                    f,
                    "Sink: {} (extractor class: TopicNameExtractor)\n      <-- {}",
                    self.name,
                    list(&self.predecessors)
                ),
            },
        }
    }
}

impl fmt::Display for SubtopologyDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.global {
            writeln!(
                f,
                "Sub-topology: {} for global store (will not generate tasks)",
                self.id
            )?;
            for node in &self.nodes {
                writeln!(f, "    {node}")?;
            }
            Ok(())
        } else {
            writeln!(f, "Sub-topology: {}", self.id)?;
            for node in &self.nodes {
                writeln!(f, "    {node}")?;
            }
            writeln!(f)
        }
    }
}

impl fmt::Display for TopologyDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Topologies:\n ")?;
        for s in &self.subtopologies {
            write!(f, "  {s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_string_hash_matches_java() {
        // "hello".hashCode() == 99162322 and "".hashCode() == 0 in Java.
        assert_eq!(java_string_hash("hello"), 99162322);
        assert_eq!(java_string_hash(""), 0);
        // Overflowing: "KSTREAM-SOURCE-0000000000".hashCode() wraps.
        let h = java_string_hash("polygenelubricants");
        assert_eq!(h, i32::MIN);
    }
}
