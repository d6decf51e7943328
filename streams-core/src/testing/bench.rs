//! [`RawTaskRunner`]: the task path with nothing around it, for benchmarks.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use crate::config::StreamsConfig;
use crate::error::StreamsError;
use crate::processor::{Headers, RecordCollector, TaskId};
use crate::task::{StreamTask, TaskOptions};
use crate::topology::Topology;
use crate::topology::resolve_topic;

/// A record a sink sent to one of the task's own repartition topics, to
/// be read back.
struct Looped {
    topic: usize,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp: i64,
}

/// Counts what sinks send and drops it, except what goes to a repartition
/// topic: that is kept to be read back, as the broker would hand it to the
/// sub-topology that reads it.
#[derive(Default)]
struct CountingCollector {
    records: u64,
    bytes: u64,
    /// The repartition topics' full names (few: a linear search is enough).
    loop_topics: Vec<String>,
    looped: VecDeque<Looped>,
}

impl RecordCollector for CountingCollector {
    fn send(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        _headers: &Headers,
        timestamp: i64,
        _partition: Option<i32>,
    ) -> Result<(), StreamsError> {
        self.records += 1;
        self.bytes += (key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len)) as u64;
        if let Some(topic) = self.loop_topics.iter().position(|t| t == topic) {
            self.looped.push_back(Looped {
                topic,
                key: key.map(<[u8]>::to_vec),
                value: value.map(<[u8]>::to_vec),
                timestamp,
            });
        }
        Ok(())
    }
}

/// Runs all non-global nodes of a topology as one task fed with raw bytes,
/// counting (and discarding) what it writes: the in-process cost of a task,
/// without a broker and without the test driver's bookkeeping. What a sink
/// writes to a repartition topic is counted too, then read back by the same
/// task right after the record that caused it, so a topology with several
/// sub-topologies runs whole.
///
/// ```
/// use streams_core::config::StreamsConfig;
/// use streams_core::dsl::{Consumed, Produced, StreamsBuilder};
/// use streams_core::serde::Serdes;
/// use streams_core::testing::RawTaskRunner;
///
/// let b = StreamsBuilder::new();
/// b.stream("in", Consumed::with(Serdes::string(), Serdes::string())).to("out", Produced::none());
/// let mut runner = RawTaskRunner::new(&b.build().unwrap(), StreamsConfig::new()).unwrap();
/// runner.process("in", Some(b"k"), Some(b"v"), 1).unwrap();
/// assert_eq!(runner.records_out(), 1);
/// ```
pub struct RawTaskRunner {
    task: StreamTask,
    /// The collector's repartition topic names, kept here too so that
    /// reading a record back borrows its topic instead of copying it.
    loop_topics: Vec<String>,
    collector: Rc<RefCell<CountingCollector>>,
    offset: i64,
}

impl RawTaskRunner {
    /// Opens the task (stores in temporary directories).
    pub fn new(topology: &Topology, config: StreamsConfig) -> Result<Self, StreamsError> {
        let app: Arc<str> = config
            .get(crate::config::APPLICATION_ID)
            .unwrap_or("bench")
            .into();
        let loop_topics: Vec<String> = topology
            .repartition_topics()
            .map(|t| resolve_topic(topology, &app, t))
            .collect();
        let collector = Rc::new(RefCell::new(CountingCollector {
            loop_topics: loop_topics.clone(),
            ..CountingCollector::default()
        }));
        let task = StreamTask::open(
            topology,
            app,
            TaskId {
                subtopology: 0,
                partition: 0,
            },
            |i| !topology.nodes[i].global,
            collector.clone(),
            TaskOptions {
                state_dir: None,
                cache_max_bytes: config.cache_max_bytes()?,
                cache_pool: Some(crate::state::CachePool::new()),
                deserialization_handler: config.deserialization_handler()?,
                emit_interval_ms: 1000,
                wall_clock_ms: 0,
                timestamp_extractor: config.default_timestamp_extractor()?,
                continue_on_processing_error: config.continue_on_processing_error()?,
            },
        )?;
        Ok(RawTaskRunner {
            task,
            loop_topics,
            collector,
            offset: 0,
        })
    }

    /// Processes one record of `topic`, then whatever it sent to the
    /// task's repartition topics.
    ///
    /// ```
    /// use streams_core::config::StreamsConfig;
    /// use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// use streams_core::testing::RawTaskRunner;
    ///
    /// let b = StreamsBuilder::new();
    /// b.stream("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by(|_k, v: Option<&String>| v.cloned(), Grouped::with(Serdes::string(), Serdes::string()))
    ///     .count(Materialized::as_("counts"));
    /// let mut runner = RawTaskRunner::new(&b.build().unwrap(), StreamsConfig::new()).unwrap();
    /// runner.process("in", Some(b"k1"), Some(b"a"), 1).unwrap();
    /// runner.process("in", Some(b"k2"), Some(b"a"), 2).unwrap();
    /// // Two records to the repartition topic; the count's cache holds one key.
    /// assert_eq!(runner.records_out(), 2);
    /// runner.commit().unwrap();
    /// // The count read both back: its flush writes key "a" to the changelog.
    /// assert_eq!(runner.records_out(), 3);
    /// ```
    pub fn process(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<(), StreamsError> {
        self.offset += 1;
        self.task
            .process(topic, 0, self.offset, key, value, timestamp, Headers::new())?;
        // Read back what went to repartition topics, oldest first; what
        // those records send in turn joins the end of the queue.
        loop {
            let next = self.collector.borrow_mut().looped.pop_front();
            let Some(r) = next else {
                return Ok(());
            };
            self.offset += 1;
            self.task.process(
                &self.loop_topics[r.topic],
                0,
                self.offset,
                r.key.as_deref(),
                r.value.as_deref(),
                r.timestamp,
                Headers::new(),
            )?;
        }
    }

    /// Commits: caches flush (and forward), stores flush.
    pub fn commit(&mut self) -> Result<(), StreamsError> {
        self.task.commit()
    }

    /// Records sent by sinks and changelogs so far.
    pub fn records_out(&self) -> u64 {
        self.collector.borrow().records
    }

    /// Key and value bytes sent so far.
    pub fn bytes_out(&self) -> u64 {
        self.collector.borrow().bytes
    }
}
