//! [`RawTaskRunner`]: the task path with nothing around it, for benchmarks.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use crate::config::StreamsConfig;
use crate::error::StreamsError;
use crate::processor::{Headers, RecordCollector, TaskId};
use crate::task::{StreamTask, TaskOptions};
use crate::topology::Topology;

/// Counts what sinks send and drops it.
#[derive(Default)]
struct CountingCollector {
    records: u64,
    bytes: u64,
}

impl RecordCollector for CountingCollector {
    fn send(
        &mut self,
        _topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        _headers: &Headers,
        _timestamp: i64,
        _partition: Option<i32>,
    ) -> Result<(), StreamsError> {
        self.records += 1;
        self.bytes += (key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len)) as u64;
        Ok(())
    }
}

/// Runs all non-global nodes of a topology as one task fed with raw bytes,
/// counting (and discarding) what it writes: the in-process cost of a task,
/// without a broker and without the test driver's bookkeeping.
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
    collector: Rc<RefCell<CountingCollector>>,
    offset: i64,
}

impl RawTaskRunner {
    /// Opens the task (stores in temporary directories).
    pub fn new(topology: &Topology, config: StreamsConfig) -> Result<Self, StreamsError> {
        let collector = Rc::new(RefCell::new(CountingCollector::default()));
        let app: Arc<str> = config
            .get(crate::config::APPLICATION_ID)
            .unwrap_or("bench")
            .into();
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
                deserialization_handler: config.deserialization_handler()?,
                emit_interval_ms: 1000,
                wall_clock_ms: 0,
                timestamp_extractor: config.default_timestamp_extractor()?,
                continue_on_processing_error: config.continue_on_processing_error()?,
            },
        )?;
        Ok(RawTaskRunner {
            task,
            collector,
            offset: 0,
        })
    }

    /// Processes one record of `topic`.
    pub fn process(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<(), StreamsError> {
        self.offset += 1;
        self.task
            .process(topic, 0, self.offset, key, value, timestamp, Headers::new())
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
