//! Global tables and stores: every stream thread keeps a full copy.
//!
//! Before a thread joins the group it reads every partition of the global
//! topics from the start to their current end through the global
//! processors (bootstrap), so a join against a global table sees the whole
//! table from the first record on; afterwards it keeps polling them, so
//! the copy stays current. Each thread holding its own copy (rather than
//! one shared store, as in Kafka Streams) keeps stores single-threaded; it
//! costs one read of the global topics per thread at start. Global stores
//! are not checkpointed: they are rebuilt from their topics on every start.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers as _;
use rdkafka::{Message, Offset, TopicPartitionList};

use super::config::{ConsumerRole, RuntimeConfig};
use super::errors::{RuntimeError, RuntimeResult};
use super::internal_topics::GlobalPlan;
use super::task_manager::now_ms;
use crate::error::StreamsError;
use crate::processor::node::RawView;
use crate::processor::{Headers, RecordCollector, TaskId};
use crate::task::{DeserializationHandler, StreamTask, TaskOptions};
use crate::topology::Topology;

/// A thread's copy of the global stores.
pub(crate) struct GlobalState {
    consumer: BaseConsumer,
    task: StreamTask,
    /// End offsets at bootstrap, per partition.
    ends: BTreeMap<(String, i32), i64>,
    handler: DeserializationHandler,
    timeout: Duration,
    dirty: bool,
    /// Per topic and partition, the largest timestamp given so far (the
    /// timestamp extractors' `partition_time`).
    partition_times: BTreeMap<String, BTreeMap<i32, i64>>,
}

impl GlobalState {
    /// Opens the global stores (registering them for the joins of this
    /// thread) and assigns every partition of the global topics.
    pub(crate) fn new(
        cfg: &RuntimeConfig,
        topology: &Topology,
        plan: &GlobalPlan,
        collector: Rc<RefCell<dyn RecordCollector>>,
        thread: usize,
    ) -> RuntimeResult<Self> {
        let consumer: BaseConsumer = cfg
            .consumer_config(thread, ConsumerRole::Global)
            .create()
            .map_err(|e| {
                RuntimeError::Config(format!(
                    "cannot create the global consumer: {e}: check the consumer settings"
                ))
            })?;
        let nodes = plan.nodes.clone();
        let options = TaskOptions {
            state_dir: None,
            cache_max_bytes: 0,
            cache_pool: None,
            deserialization_handler: DeserializationHandler::LogAndFail,
            emit_interval_ms: 1000,
            wall_clock_ms: now_ms(),
            timestamp_extractor: cfg.timestamp_extractor,
            continue_on_processing_error: cfg.continue_on_processing_error,
        };
        let id = TaskId {
            subtopology: u32::MAX,
            partition: 0,
        };
        let task = StreamTask::open(
            topology,
            cfg.application_id.clone(),
            id,
            |i| nodes.contains(&i),
            collector,
            options,
        )
        .map_err(|source| RuntimeError::Task {
            task: "global".into(),
            source: Box::new(source),
        })?;
        let mut tpl = TopicPartitionList::new();
        let mut ends = BTreeMap::new();
        for (topic, &partitions) in &plan.sources {
            for p in 0..partitions {
                let (low, high) = consumer
                    .fetch_watermarks(topic, p, cfg.api_timeout)
                    .map_err(|e| {
                        RuntimeError::client(
                            format!("reading the offsets of global topic {topic}-{p}"),
                            e,
                        )
                    })?;
                tpl.add_partition_offset(topic, p, Offset::Offset(low))
                    .map_err(|e| RuntimeError::client("assigning global partitions", e))?;
                if high > low {
                    ends.insert((topic.clone(), p), high);
                }
            }
        }
        consumer
            .assign(&tpl)
            .map_err(|e| RuntimeError::client("assigning global partitions", e))?;
        Ok(GlobalState {
            consumer,
            task,
            ends,
            handler: cfg.deserialization_handler,
            timeout: cfg.api_timeout,
            dirty: false,
            partition_times: BTreeMap::new(),
        })
    }

    /// Reads the global topics up to the ends they had at start. Returns
    /// the number of records read.
    pub(crate) fn bootstrap(&mut self, stopping: impl Fn() -> bool) -> RuntimeResult<u64> {
        let started = Instant::now();
        let mut total = 0u64;
        log::info!(
            "bootstrapping the global stores from {} partitions",
            self.ends.len()
        );
        while !self.ends.is_empty() {
            if stopping() {
                return Ok(total);
            }
            total += self.poll(5_000, Duration::from_millis(50))? as u64;
            let positions = self
                .consumer
                .position()
                .map_err(|e| RuntimeError::client("reading global positions", e))?;
            for e in positions.elements() {
                if let Offset::Offset(p) = e.offset() {
                    let key = (e.topic().to_string(), e.partition());
                    if self.ends.get(&key).is_some_and(|&end| p >= end) {
                        self.ends.remove(&key);
                    }
                }
            }
            if started.elapsed() > self.timeout.max(Duration::from_secs(300)) && total == 0 {
                return Err(RuntimeError::IllegalState(
                    "the global topics could not be read".into(),
                ));
            }
        }
        self.flush()?;
        log::info!(
            "global stores bootstrapped: {total} records in {:?}",
            started.elapsed()
        );
        Ok(total)
    }

    /// Applies up to `max` new records of the global topics.
    pub(crate) fn poll(&mut self, max: usize, wait: Duration) -> RuntimeResult<usize> {
        let mut n = 0;
        let mut timeout = wait;
        while n < max {
            let Some(item) = self.consumer.poll(timeout) else {
                break;
            };
            timeout = Duration::ZERO;
            let m = match item {
                Ok(m) => m,
                Err(e) => {
                    log::warn!("global consumer: {e}");
                    break;
                }
            };
            let mut headers = Headers::new();
            if let Some(h) = m.headers() {
                for h in h.iter() {
                    headers.add(h.key, h.value.map(<[u8]>::to_vec));
                }
            }
            // Looked up by `&str`: no key allocated per record.
            if !self.partition_times.contains_key(m.topic()) {
                self.partition_times
                    .insert(m.topic().to_string(), BTreeMap::new());
            }
            let Some(partitions) = self.partition_times.get_mut(m.topic()) else {
                unreachable!("inserted above");
            };
            let partition_time = partitions.entry(m.partition()).or_insert(-1);
            let timestamp = self
                .task
                .stamp(
                    RawView {
                        topic: m.topic(),
                        partition: m.partition(),
                        offset: m.offset(),
                        timestamp: m.timestamp().to_millis().unwrap_or(-1),
                        key: m.key(),
                        value: m.payload(),
                        headers: &headers,
                    },
                    partition_time,
                )
                .map_err(|source| RuntimeError::Task {
                    task: "global".into(),
                    source: Box::new(source),
                })?;
            let result = self.task.process(
                m.topic(),
                m.partition(),
                m.offset(),
                m.key(),
                m.payload(),
                timestamp,
                headers,
            );
            match result {
                Ok(()) => {}
                Err(e @ StreamsError::Deserialization { .. })
                    if self.handler == DeserializationHandler::LogAndContinue =>
                {
                    log::warn!("global store update skipped: {e}");
                }
                Err(source) => {
                    return Err(RuntimeError::Task {
                        task: "global".into(),
                        source: Box::new(source),
                    });
                }
            }
            self.dirty = true;
            n += 1;
        }
        Ok(n)
    }

    /// Flushes the global stores' caches. Their memtables stay: global
    /// stores are never checkpointed (they are rebuilt on every start), so
    /// nothing needs them on disk.
    pub(crate) fn flush(&mut self) -> RuntimeResult<()> {
        if self.dirty {
            self.task
                .commit_without_checkpoint()
                .map_err(|source| RuntimeError::Task {
                    task: "global".into(),
                    source: Box::new(source),
                })?;
            self.dirty = false;
        }
        Ok(())
    }

    pub(crate) fn close(&mut self) {
        if let Err(e) = self.task.close() {
            log::warn!("closing the global stores failed: {e}");
        }
    }
}
