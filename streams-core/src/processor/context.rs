//! What a processor can reach while it runs: forwarding, record metadata,
//! time, state stores and punctuation.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::node::Child;
use super::record::{Headers, Record, RecordMetadata};
use crate::error::StreamsError;
use crate::state::ManagedStore;

/// Identifies a task: the sub-topology it runs and the partition it owns.
/// Printed as Kafka Streams prints it, `<subtopology>_<partition>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    /// The sub-topology's number.
    pub subtopology: u32,
    /// The input partition.
    pub partition: i32,
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.subtopology, self.partition)
    }
}

/// Which clock drives a punctuation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PunctuationType {
    /// Fires as stream time (the largest record timestamp seen by the task)
    /// passes each interval; no records, no punctuation.
    StreamTime,
    /// Fires as the wall clock passes each interval.
    WallClockTime,
}

/// Identifies one scheduled punctuation of a processor.
pub type ScheduleId = u64;

/// A handle to a scheduled punctuation, to cancel it.
#[derive(Debug, Clone)]
pub struct Cancellable {
    id: ScheduleId,
    cancelled: Rc<Cell<bool>>,
}

impl Cancellable {
    /// The id passed to [`Processor::punctuate`](super::Processor::punctuate)
    /// when this schedule fires.
    pub fn id(&self) -> ScheduleId {
        self.id
    }
    /// Stops further punctuations of this schedule.
    pub fn cancel(&self) {
        self.cancelled.set(true);
    }
}

/// A registered punctuation, kept by the task.
pub(crate) struct Schedule {
    pub(crate) node: usize,
    pub(crate) id: ScheduleId,
    pub(crate) kind: PunctuationType,
    pub(crate) interval: i64,
    pub(crate) next: i64,
    pub(crate) cancelled: Rc<Cell<bool>>,
}

impl Schedule {
    /// The next fire time after firing at `now`: one interval on, and if
    /// intervals were missed, the first one after `now` (no catch-up burst),
    /// as Kafka Streams' `PunctuationSchedule.next`.
    pub(crate) fn advance(&mut self, now: i64) {
        let mut next = self.next.saturating_add(self.interval);
        if now >= next {
            let missed = (now - self.next) / self.interval;
            next = self
                .next
                .saturating_add((missed + 1).saturating_mul(self.interval));
        }
        self.next = next;
    }
}

/// Where sinks and changelogs send their records: the producer in the
/// runtime, in-memory topics in the test driver.
pub trait RecordCollector {
    /// Sends one record. `partition` is `None` when the producer's
    /// partitioner should choose.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &Headers,
        timestamp: i64,
        partition: Option<i32>,
    ) -> Result<(), StreamsError>;

    /// The number of partitions of `topic`, when known (used by sinks with a
    /// partitioner).
    fn partitions_for(&self, topic: &str) -> Option<i32> {
        let _ = topic;
        None
    }
}

/// A store opened for a task: its typed handle for processors and its
/// type-erased side for the task (flush, close, restore).
pub(crate) struct TaskStore {
    pub(crate) handle: Rc<dyn Any>,
    pub(crate) managed: Rc<RefCell<dyn ManagedStore>>,
}

/// Counters a task keeps, as Kafka Streams' task metrics.
#[derive(Debug, Default, Clone)]
pub struct TaskMetrics {
    /// Records dropped (late, null keys where a key is needed, ...).
    pub dropped_records: u64,
    /// Records skipped by a log-and-continue deserialization handler.
    pub skipped_deserialization: u64,
    /// The largest record lateness seen by a windowed operator, in ms.
    pub record_lateness_max: Option<i64>,
    /// Sum and count of the lateness figures, for the average.
    pub record_lateness_sum: i64,
    /// Number of lateness observations.
    pub record_lateness_count: u64,
}

impl TaskMetrics {
    /// Records one lateness observation (stream time minus record time,
    /// floored at zero), as the windowed operators do.
    pub fn record_lateness(&mut self, lateness: i64) {
        let l = lateness.max(0);
        self.record_lateness_max = Some(self.record_lateness_max.map_or(l, |m| m.max(l)));
        self.record_lateness_sum += l;
        self.record_lateness_count += 1;
    }
    /// The average lateness, if any was recorded.
    pub fn record_lateness_avg(&self) -> Option<f64> {
        (self.record_lateness_count > 0)
            .then(|| self.record_lateness_sum as f64 / self.record_lateness_count as f64)
    }
}

/// The state of one task that every processor of it shares: the current
/// record's context, the clocks, the stores and the collector.
pub(crate) struct TaskContext {
    pub(crate) application_id: Arc<str>,
    pub(crate) task_id: TaskId,
    pub(crate) metadata: Option<RecordMetadata>,
    /// The timestamp of the record being processed. Shared with the stores'
    /// change-logging layers, which stamp changelog records with it.
    pub(crate) timestamp: Rc<Cell<i64>>,
    pub(crate) stream_time: i64,
    pub(crate) wall_clock_ms: i64,
    pub(crate) stores: HashMap<String, TaskStore>,
    pub(crate) collector: Rc<RefCell<dyn RecordCollector>>,
    pub(crate) schedules: Vec<Schedule>,
    pub(crate) next_schedule_id: ScheduleId,
    pub(crate) metrics: TaskMetrics,
    /// Scratch buffers for sinks, so serializing allocates nothing per record.
    pub(crate) key_buf: Vec<u8>,
    pub(crate) value_buf: Vec<u8>,
    /// Internal emit interval of outer joins and emit-on-close windows
    /// (Kafka's internal config; 0 in the test driver).
    pub(crate) emit_interval_ms: i64,
    /// `processing.exception.handler` is `LogAndContinue`.
    pub(crate) continue_on_processing_error: bool,
    /// Whether the error on its way up has been judged already (by the
    /// handler at the node that raised it, or as a failed send): the
    /// processors above pass it on. Cleared for each record and
    /// punctuation.
    pub(crate) error_judged: bool,
}

impl TaskContext {
    pub(crate) fn new(
        application_id: Arc<str>,
        task_id: TaskId,
        collector: Rc<RefCell<dyn RecordCollector>>,
    ) -> Self {
        TaskContext {
            application_id,
            task_id,
            metadata: None,
            timestamp: Rc::new(Cell::new(0)),
            stream_time: -1,
            wall_clock_ms: 0,
            stores: HashMap::new(),
            collector,
            schedules: Vec::new(),
            next_schedule_id: 0,
            metrics: TaskMetrics::default(),
            key_buf: Vec::new(),
            value_buf: Vec::new(),
            emit_interval_ms: 1000,
            continue_on_processing_error: false,
            error_judged: false,
        }
    }
}

/// The static facts of a node its processor may ask about.
pub(crate) struct NodeInfo {
    pub(crate) name: Arc<str>,
    pub(crate) index: usize,
    pub(crate) stores: Vec<String>,
}

/// The context handed to a [`Processor`](super::Processor) on every call.
///
/// It is built on the stack for each call, so it costs nothing per record;
/// a processor keeps store handles and schedule ids itself, not the context.
pub struct ProcessorContext<'a, K, V> {
    pub(crate) task: &'a mut TaskContext,
    pub(crate) children: &'a [Child<K, V>],
    pub(crate) node: &'a NodeInfo,
}

impl<K: Clone + 'static, V: Clone + 'static> ProcessorContext<'_, K, V> {
    /// Whether anything downstream receives what this processor forwards
    /// (a table nobody reads as a stream or joins forwards to no one).
    pub(crate) fn has_children(&self) -> bool {
        !self.children.is_empty()
    }

    /// Sends `record` to every child of this processor.
    ///
    /// While the children run, the record's timestamp is the current
    /// timestamp (what stores stamp changelog records with), as in Kafka
    /// Streams.
    pub fn forward(&mut self, record: Record<K, V>) -> Result<(), StreamsError> {
        let previous = self.task.timestamp.replace(record.timestamp);
        let result = forward_to_all(self.children, record, self.task);
        self.task.timestamp.set(previous);
        result
    }

    /// Sends `record` to the child named `child` only.
    pub fn forward_to(&mut self, child: &str, record: Record<K, V>) -> Result<(), StreamsError> {
        let target = self
            .children
            .iter()
            .find(|c| &*c.name == child)
            .ok_or_else(|| StreamsError::Processing {
                node: self.node.name.to_string(),
                reason: format!("unknown child node '{child}'"),
            })?;
        let previous = self.task.timestamp.replace(record.timestamp);
        let result = target.node.process(record, self.task);
        self.task.timestamp.set(previous);
        result
    }
}

pub(crate) fn forward_to_all<K: Clone, V: Clone>(
    children: &[Child<K, V>],
    record: Record<K, V>,
    task: &mut TaskContext,
) -> Result<(), StreamsError> {
    match children {
        [] => Ok(()),
        [only] => only.node.process(record, task),
        [rest @ .., last] => {
            for child in rest {
                child.node.process(record.clone(), task)?;
            }
            last.node.process(record, task)
        }
    }
}

impl<K, V> ProcessorContext<'_, K, V> {
    /// The application id (`application.id`).
    pub fn application_id(&self) -> &str {
        &self.task.application_id
    }

    /// The task this processor runs in.
    pub fn task_id(&self) -> TaskId {
        self.task.task_id
    }

    /// The name of this processor's node.
    pub fn node_name(&self) -> &str {
        &self.node.name
    }

    /// Topic, partition and offset of the input record being processed;
    /// `None` inside a punctuation.
    pub fn record_metadata(&self) -> Option<&RecordMetadata> {
        self.task.metadata.as_ref()
    }

    /// The timestamp of the record being processed (the punctuation time
    /// inside a punctuation).
    pub fn timestamp(&self) -> i64 {
        self.task.timestamp.get()
    }

    /// The task's stream time: the largest timestamp it has processed, or
    /// -1 before the first record.
    pub fn current_stream_time_ms(&self) -> i64 {
        self.task.stream_time
    }

    /// The wall-clock time in ms as the task sees it (mocked in the test
    /// driver).
    pub fn current_system_time_ms(&self) -> i64 {
        self.task.wall_clock_ms
    }

    /// Counters of the task (dropped records, lateness).
    pub fn metrics(&mut self) -> &mut TaskMetrics {
        &mut self.task.metrics
    }

    /// Internal emit interval of outer joins and emit-on-close windows, in
    /// ms (0 in the test driver).
    pub(crate) fn emit_interval_ms(&self) -> i64 {
        self.task.emit_interval_ms
    }

    /// The handle of a state store connected to this processor.
    ///
    /// `H` is the store's handle type, e.g.
    /// [`KeyValueStore<K, V>`](crate::state::KeyValueStore) or
    /// [`TimestampedKeyValueStore<K, V>`](crate::state::TimestampedKeyValueStore).
    /// Fails, naming the fix, when the store is not connected to this
    /// processor or has another type.
    pub fn get_state_store<H: Clone + 'static>(&self, name: &str) -> Result<H, StreamsError> {
        if !self.node.stores.iter().any(|s| s == name) {
            return Err(StreamsError::Processing {
                node: self.node.name.to_string(),
                reason: format!(
                    "processor has no access to state store '{name}': connect it with the \
                     store names argument of process()/process_values(), or \
                     Topology::connect_processor_and_state_stores"
                ),
            });
        }
        let store = self
            .task
            .stores
            .get(name)
            .ok_or_else(|| StreamsError::Processing {
                node: self.node.name.to_string(),
                reason: format!("state store '{name}' is not registered in this task"),
            })?;
        store
            .handle
            .downcast_ref::<H>()
            .cloned()
            .ok_or_else(|| StreamsError::Processing {
                node: self.node.name.to_string(),
                reason: format!(
                    "state store '{name}' is not a {}",
                    std::any::type_name::<H>()
                ),
            })
    }

    /// Schedules periodic calls of this processor's
    /// [`punctuate`](super::Processor::punctuate) every `interval` of stream
    /// time or wall-clock time.
    ///
    /// Stream-time schedules fire first as soon as stream time is known
    /// (Kafka Streams starts them at time 0), wall-clock ones one interval
    /// from now. Missed intervals give one call, not a burst.
    pub fn schedule(
        &mut self,
        interval: Duration,
        kind: PunctuationType,
    ) -> Result<Cancellable, StreamsError> {
        let interval = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
        if interval < 1 {
            return Err(StreamsError::Processing {
                node: self.node.name.to_string(),
                reason: "punctuation interval must be at least 1 ms".into(),
            });
        }
        let id = self.task.next_schedule_id;
        self.task.next_schedule_id += 1;
        let cancelled = Rc::new(Cell::new(false));
        let next = match kind {
            PunctuationType::StreamTime => 0,
            PunctuationType::WallClockTime => self.task.wall_clock_ms.saturating_add(interval),
        };
        self.task.schedules.push(Schedule {
            node: self.node.index,
            id,
            kind,
            interval,
            next,
            cancelled: cancelled.clone(),
        });
        Ok(Cancellable { id, cancelled })
    }
}
