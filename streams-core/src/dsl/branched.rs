//! [`BranchedKStream`]: the result of `KStream::split`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::kstream::KStream;
use super::options::Branched;
use crate::processor::stateless::{BranchPredicate, PassThrough};
use crate::topology::processor_factory;

/// Predicates and child names of a split, shared with the splitter's
/// factory (read once per task, when the task is built).
pub(crate) type SplitState<K, V> = Arc<Mutex<(Vec<BranchPredicate<K, V>>, Vec<String>)>>;

/// Branches of a split stream (Kafka Streams' `BranchedKStream`). Each
/// record goes to the first branch whose predicate holds.
pub struct BranchedKStream<K, V> {
    pub(crate) source: KStream<K, V>,
    pub(crate) splitter: usize,
    pub(crate) splitter_name: String,
    pub(crate) state: SplitState<K, V>,
    pub(crate) outputs: BTreeMap<String, KStream<K, V>>,
}

impl<K: Clone + 'static, V: Clone + 'static> BranchedKStream<K, V> {
    /// Adds a branch for the records `predicate` accepts.
    ///
    /// ```
    /// # use streams_core::dsl::{Branched, Consumed, Named, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()));
    /// let branches = stream.split(None)
    ///     .branch(|_k, v| v.is_some_and(|v| *v < 0), Branched::as_("negative"))
    ///     .no_default_branch();
    /// ```
    pub fn branch<F>(mut self, predicate: F, branched: Branched<K, V>) -> Self
    where
        F: Fn(Option<&K>, Option<&V>) -> bool + Send + Sync + 'static,
    {
        let index = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.0.push(Arc::new(predicate));
            state.0.len()
        };
        self.create_branch(branched, index);
        self
    }

    /// Adds the branch for the records no predicate accepted, and returns
    /// every branch by name.
    ///
    /// ```
    /// # use streams_core::dsl::{Branched, Consumed, Named, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()));
    /// let branches = stream.split(Named::as_("s-"))
    ///     .branch(|_k, v| v.is_some(), Branched::none())
    ///     .default_branch(Branched::none());
    /// assert_eq!(branches.keys().cloned().collect::<Vec<_>>(), vec!["s-0", "s-1"]);
    /// ```
    pub fn default_branch(mut self, branched: Branched<K, V>) -> BTreeMap<String, KStream<K, V>> {
        self.create_branch(branched, 0);
        self.outputs
    }

    /// Returns every branch by name, with no default branch (records no
    /// predicate accepts are dropped).
    ///
    /// ```
    /// # use streams_core::dsl::{Branched, Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()));
    /// let branches = stream.split(None).branch(|_k, v| v.is_some(), Branched::none()).no_default_branch();
    /// assert_eq!(branches.len(), 1);
    /// ```
    pub fn no_default_branch(self) -> BTreeMap<String, KStream<K, V>> {
        self.outputs
    }

    fn create_branch(&mut self, branched: Branched<K, V>, index: usize) {
        let child_name = match &branched.name {
            Some(n) => format!("{}{}", self.splitter_name, n),
            None => format!("{}{}", self.splitter_name, index),
        };
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .push(child_name.clone());
        let mut b = self.source.builder.borrow_mut();
        // Kafka Streams burns an index for each branch child.
        b.new_processor_name(&child_name);
        let node = b.add_processor(
            child_name.clone(),
            &[self.splitter],
            processor_factory::<_, K, V, K, V>(|| PassThrough),
        );
        drop(b);
        let branch = KStream {
            builder: self.source.builder.clone(),
            node,
            key_serde: self.source.key_serde.clone(),
            value_serde: self.source.value_serde.clone(),
            repartition_required: self.source.repartition_required,
        };
        match branched.chain {
            Some(f) => {
                if let Some(s) = f(branch) {
                    self.outputs.insert(child_name, s);
                }
            }
            None => {
                self.outputs.insert(child_name, branch);
            }
        }
    }
}
