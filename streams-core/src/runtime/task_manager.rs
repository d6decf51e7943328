//! The tasks of one stream thread: created from the partitions the group
//! assigns, restored, fed from per-partition queues, committed and closed.
//!
//! A task is `(sub-topology, partition)`: it reads partition `p` of every
//! source topic of its sub-topology. Its records wait in one queue per
//! input partition; the next record processed is the one with the lowest
//! timestamp at the head of a queue (Kafka Streams' `PartitionGroup`), so
//! stream time advances as evenly as the inputs allow.
//!
//! A task with several input partitions processes only while every one of
//! them has a record buffered, unless `max.task.idle.ms` says otherwise
//! (Kafka Streams' `PartitionGroup.readyToProcess`): with -1 it never
//! waits; otherwise, for each empty partition, it waits while the
//! partition's lag is unknown (nothing fetched yet) or positive (records
//! are on the broker but not here yet), and once the lag is known to be 0
//! it waits `max.task.idle.ms` more (0, the default: not at all) for new
//! records before it processes the others anyway. So a join does not run
//! ahead of an input that is merely slower to fetch.
//!
//! The lag is the partition's high watermark, as of the last fetch
//! response, less the consumer's position. Under `read_committed` the
//! Java client subtracts from the last stable offset instead, which
//! librdkafka does not expose: while another producer's transaction on an
//! input is open, the lag counts its records and the task waits for the
//! transaction to end.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use rdkafka::{Offset, TopicPartitionList};

use super::config::RuntimeConfig;
use super::errors::{RuntimeError, RuntimeResult};
use super::internal_topics::{SubPlan, TaskPlan};
use super::kafka_streams::SharedMetrics;
use super::record_collector::KafkaCollector;
use super::restore::Restorer;
use super::state_dir::{Checkpoint, StateDirectory, TaskDirLock};
use crate::error::StreamsError;
use crate::processor::node::RawView;
use crate::processor::{Headers, RecordCollector, TaskId};
use crate::task::{DeserializationHandler, StreamTask, TaskOptions};
use crate::topology::Topology;

/// Kafka Streams' header names for dead-letter records (KIP-1034).
pub(crate) const HEADER_ERRORS_EXCEPTION: &str = "__streams.errors.exception";
pub(crate) const HEADER_ERRORS_MESSAGE: &str = "__streams.errors.message";
pub(crate) const HEADER_ERRORS_STACKTRACE: &str = "__streams.errors.stacktrace";
pub(crate) const HEADER_ERRORS_TOPIC: &str = "__streams.errors.topic";
pub(crate) const HEADER_ERRORS_PARTITION: &str = "__streams.errors.partition";
pub(crate) const HEADER_ERRORS_OFFSET: &str = "__streams.errors.offset";

/// Topic partitions, as `(topic, partition)`.
pub(crate) type Partitions = Vec<(String, i32)>;

/// Most buffers of processed records kept for reuse.
const SPARE_BUFFERS: usize = 4096;
/// Largest buffer kept for reuse.
const SPARE_BUFFER_BYTES: usize = 16 << 10;

/// A record as fetched, waiting in its partition's queue.
#[derive(Debug, Clone)]
pub(crate) struct RawRecord {
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    /// The key's bytes followed by the value's: one allocation per record
    /// instead of two.
    data: Vec<u8>,
    /// The key's length; `None` for a null key.
    key_len: Option<usize>,
    /// Whether the value is present (not null).
    has_value: bool,
    pub(crate) headers: Headers,
}

impl RawRecord {
    /// Starts loading the record's first bytes (its key) into the CPU
    /// cache. A record becomes the head of its queue long after it was
    /// fetched (a join waits for its other input with thousands queued),
    /// and its key bytes have left the cache: the key deserializer's load
    /// missed on most records (6-7 % of a stream-table join's thread).
    /// Called when the record becomes its queue's head, the load overlaps
    /// with the processing of the records before it.
    #[inline]
    fn prefetch(&self) {
        crate::hint::prefetch(self.data.as_ptr());
    }

    pub(crate) fn new(
        offset: i64,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: Headers,
    ) -> Self {
        let len = key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
        Self::with_buffer(
            Vec::with_capacity(len),
            offset,
            timestamp,
            key,
            value,
            headers,
        )
    }

    /// [`new`](Self::new) over a spare buffer (emptied first), so that a
    /// thread reuses the buffers of the records it has processed.
    pub(crate) fn with_buffer(
        mut data: Vec<u8>,
        offset: i64,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: Headers,
    ) -> Self {
        data.clear();
        if let Some(k) = key {
            data.extend_from_slice(k);
        }
        if let Some(v) = value {
            data.extend_from_slice(v);
        }
        RawRecord {
            offset,
            timestamp,
            data,
            key_len: key.map(<[u8]>::len),
            has_value: value.is_some(),
            headers,
        }
    }

    pub(crate) fn key(&self) -> Option<&[u8]> {
        self.key_len.map(|n| &self.data[..n])
    }

    pub(crate) fn value(&self) -> Option<&[u8]> {
        self.has_value
            .then(|| &self.data[self.key_len.unwrap_or(0)..])
    }
}

#[derive(Debug)]
struct PartitionQueue {
    topic: String,
    partition: i32,
    records: VecDeque<RawRecord>,
    /// Offset of the last record processed.
    processed: Option<i64>,
    /// Offset of the last record whose offset was committed.
    committed: Option<i64>,
    /// Records on the broker not fetched yet (`None`: unknown), refreshed
    /// by the thread while the queue is empty.
    lag: Option<i64>,
    /// Where fetching started after the assignment (the committed offset),
    /// the consumer's position until it hands over a record.
    start_position: Option<i64>,
    /// Wall-clock time (ms) until which an empty queue with no lag holds
    /// its task back (`max.task.idle.ms` after its lag was first seen 0).
    idle_deadline: Option<i64>,
    paused: bool,
    /// The largest timestamp the partition's timestamp extractor gave so
    /// far (-1: none), which the extractor is given with the next record.
    partition_time: i64,
}

impl PartitionQueue {
    /// Whether the queue is empty and its task waits for polling to fill
    /// it: while the broker may hold records for it (its lag is unknown or
    /// positive), or, caught up, until `max.task.idle.ms` has passed since
    /// (`idle_deadline`, set by `process_one`; `wall` is now, in ms).
    fn awaits_fetch(&self, wall: i64) -> bool {
        self.records.is_empty()
            && match self.lag {
                None | Some(1..) => true,
                Some(_) => self.idle_deadline.is_none_or(|deadline| wall < deadline),
            }
    }

    /// Gives `record` its timestamp ([`StreamTask::stamp`]).
    fn stamp(&mut self, task: &StreamTask, record: &mut RawRecord) -> RuntimeResult<()> {
        record.timestamp = task
            .stamp(
                RawView {
                    topic: &self.topic,
                    partition: self.partition,
                    offset: record.offset,
                    timestamp: record.timestamp,
                    key: record.key(),
                    value: record.value(),
                    headers: &record.headers,
                },
                &mut self.partition_time,
            )
            .map_err(|source| RuntimeError::Task {
                task: task.ctx.task_id.to_string(),
                source: Box::new(source),
            })?;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskStatus {
    Restoring,
    Running,
}

#[derive(Debug, Clone)]
struct ChangelogStore {
    topic: String,
    persistent: bool,
}

struct ActiveTask {
    task: StreamTask,
    lock: TaskDirLock,
    status: TaskStatus,
    queues: Vec<PartitionQueue>,
    changelogs: Vec<ChangelogStore>,
    /// Offset of the last changelog record the stores hold, per changelog
    /// partition (from the checkpoint, restoration and what was written).
    changelog_offsets: Checkpoint,
    /// `changelog_offsets` as of the last checkpoint (or as loaded), to
    /// decide when the next one is due.
    checkpointed: Checkpoint,
}

/// A task whose stores are open, not yet registered with the restorer.
struct OpenedTask {
    id: TaskId,
    lock: TaskDirLock,
    task: StreamTask,
    sub: SubPlan,
    checkpoint: Checkpoint,
    partitions: Vec<(String, i32)>,
}

/// Changelog records written since the last checkpoint after which an
/// at-least-once commit also checkpoints (Kafka Streams'
/// `OFFSET_DELTA_THRESHOLD_FOR_CHECKPOINT`). A checkpoint flushes RocksDB's
/// memtables to disk, which costs far more than the commit itself, so it is
/// taken only when a restart would otherwise replay this much.
const CHECKPOINT_OFFSET_DELTA: i64 = 10_000;

/// The tasks of one stream thread.
pub(crate) struct TaskManager {
    cfg: Arc<RuntimeConfig>,
    topology: Arc<Topology>,
    plan: Arc<TaskPlan>,
    collector: Rc<RefCell<KafkaCollector>>,
    state_dir: StateDirectory,
    tasks: BTreeMap<TaskId, ActiveTask>,
    /// Assigned tasks whose state directory is still locked by its previous
    /// owner; retried on every loop.
    pending: BTreeMap<TaskId, Vec<(String, i32)>>,
    /// Records fetched for partitions whose task is not created yet.
    early: HashMap<(String, i32), VecDeque<RawRecord>>,
    /// Buffers of processed records, for the next fetched ones: a record's
    /// allocation and free were a tenth of a stateless thread's time.
    spare: Vec<Vec<u8>>,
    /// topic -> partition -> task. Nested so that the per-record lookup
    /// borrows the topic name instead of allocating a key.
    partition_task: rustc_hash::FxHashMap<String, rustc_hash::FxHashMap<i32, TaskId>>,
    metrics: Arc<SharedMetrics>,
    next_task: usize,
    /// The bytes of this thread's record caches, which share the thread's
    /// budget (see [`CachePool`](crate::state::CachePool)).
    cache_pool: crate::state::CachePool,
}

impl TaskManager {
    pub(crate) fn new(
        cfg: Arc<RuntimeConfig>,
        topology: Arc<Topology>,
        plan: Arc<TaskPlan>,
        collector: Rc<RefCell<KafkaCollector>>,
        metrics: Arc<SharedMetrics>,
    ) -> RuntimeResult<Self> {
        Ok(TaskManager {
            state_dir: StateDirectory::new(cfg.app_state_dir.clone())?,
            cfg,
            topology,
            plan,
            collector,
            tasks: BTreeMap::new(),
            pending: BTreeMap::new(),
            early: HashMap::new(),
            spare: Vec::new(),
            partition_task: rustc_hash::FxHashMap::default(),
            metrics,
            next_task: 0,
            cache_pool: crate::state::CachePool::new(),
        })
    }

    /// Whether every assigned task exists and is restored.
    pub(crate) fn all_running(&self) -> bool {
        self.pending.is_empty() && self.tasks.values().all(|t| t.status == TaskStatus::Running)
    }

    /// Whether the running tasks' queues hold as many records as the thread
    /// may buffer: `buffered.records.per.partition` times the number of
    /// their partitions. The thread then stops polling until processing
    /// drains them, and librdkafka stops fetching once its own queue
    /// (`queued.max.messages.kbytes`) is full.
    ///
    /// Never while a task waits for records of one of its inputs
    /// (`max.task.idle.ms`): the records it waits for come only by polling,
    /// and with the buffers full of its other inputs' records, it would
    /// wait forever. (Kafka Streams pauses only the partitions whose own
    /// buffer is full; pausing a partition in librdkafka drops what it has
    /// fetched for it.) An empty input known to be caught up (lag 0, such
    /// as a table's topic read to its end) waits for nothing that polling
    /// would bring: counting it made a stream-table join buffer its whole
    /// stream input (the Yahoo benchmark's thread grew to 350 MiB).
    pub(crate) fn buffers_full(&self) -> bool {
        let wall = now_ms();
        if self.cfg.max_task_idle_ms >= 0
            && self.tasks.values().any(|t| {
                t.status == TaskStatus::Running
                    && t.queues.len() > 1
                    && t.queues.iter().any(|q| q.awaits_fetch(wall))
            })
        {
            return false;
        }
        let limit = self.cfg.buffered_records;
        let (mut buffered, mut partitions) = (0usize, 0usize);
        for t in self.tasks.values() {
            if t.status == TaskStatus::Running {
                for q in &t.queues {
                    buffered += q.records.len();
                    partitions += 1;
                }
            }
        }
        partitions > 0 && buffered >= limit.saturating_mul(partitions)
    }

    pub(crate) fn has_buffered(&self) -> bool {
        self.tasks.values().any(|t| {
            t.status == TaskStatus::Running && t.queues.iter().any(|q| !q.records.is_empty())
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tasks.is_empty() && self.pending.is_empty()
    }

    /// The ids of the tasks this thread runs (restoring ones included).
    pub(crate) fn task_ids(&self) -> Vec<TaskId> {
        self.tasks
            .keys()
            .copied()
            .chain(self.pending.keys().copied())
            .collect()
    }

    /// Takes the newly assigned `partitions`: creates their tasks (or queues
    /// them until their directories are free) and starts restoring them.
    pub(crate) fn assign(
        &mut self,
        partitions: &[(String, i32)],
        restorer: &mut Restorer,
    ) -> RuntimeResult<()> {
        for (topic, partition) in partitions {
            let Some(sub) = self.plan.subtopology_of(topic) else {
                log::warn!("assigned {topic}-{partition}, which no sub-topology reads");
                continue;
            };
            let id = TaskId {
                subtopology: sub.id,
                partition: *partition,
            };
            self.partition_task
                .entry(topic.clone())
                .or_default()
                .insert(*partition, id);
            if !self.tasks.contains_key(&id) {
                self.pending
                    .entry(id)
                    .or_default()
                    .push((topic.clone(), *partition));
            }
        }
        self.create_pending(restorer)
    }

    /// Creates the pending tasks whose directories can be locked now.
    pub(crate) fn create_pending(&mut self, restorer: &mut Restorer) -> RuntimeResult<()> {
        let ids: Vec<TaskId> = self.pending.keys().copied().collect();
        // Every task's stores are opened before any is registered with the
        // restorer: registering waits for the changelog topics, which
        // `start` may still be creating, and opening does not need them.
        let mut opened = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(lock) = self.state_dir.lock(id)? else {
                continue;
            };
            let partitions = self.pending.remove(&id).unwrap_or_default();
            let started = Instant::now();
            opened.push(self.open(id, lock, partitions, restorer)?);
            log::debug!("task {id} opened in {:?}", started.elapsed());
        }
        for task in opened {
            self.register(task, restorer)?;
        }
        Ok(())
    }

    /// Opens task `id`'s processors and stores (wiping state that its
    /// checkpoint shows to be from another changelog).
    fn open(
        &mut self,
        id: TaskId,
        lock: TaskDirLock,
        partitions: Vec<(String, i32)>,
        restorer: &mut Restorer,
    ) -> RuntimeResult<OpenedTask> {
        let sub = self
            .plan
            .subtopology(id.subtopology)
            .ok_or_else(|| RuntimeError::IllegalState(format!("task {id} has no sub-topology")))?
            .clone();
        let mut checkpoint = lock.read_checkpoint();
        let mut had_checkpoint = lock.dir().join(super::state_dir::CHECKPOINT_FILE).exists();
        // A checkpoint past the changelog's end, or before its start, is
        // from another changelog (the topic was recreated, or the state
        // directory belongs to another cluster): the stores are wiped and
        // rebuilt from the changelog, as Kafka Streams does.
        for store in sub.stores.iter().filter(|s| s.persistent) {
            let Some(topic) = &store.changelog else {
                continue;
            };
            let Some(&offset) = checkpoint.get(&(topic.clone(), id.partition)) else {
                continue;
            };
            let (low, high) = restorer.watermarks(topic, id.partition)?;
            if offset >= high || offset + 1 < low {
                log::warn!(
                    "task {id}: the checkpointed offset {offset} of {topic}-{} is outside the changelog ({low}..{high}); wiping the task's state and restoring it from the changelog",
                    id.partition
                );
                lock.wipe();
                checkpoint.clear();
                had_checkpoint = false;
                break;
            }
        }

        if self.cfg.exactly_once() {
            // Under exactly-once the stores may hold uncommitted writes
            // unless the task was closed cleanly, which the checkpoint
            // proves; the checkpoint is removed while the task runs so that
            // a crash leaves none.
            if !had_checkpoint {
                lock.wipe();
            }
            lock.delete_checkpoint();
        }
        let options = TaskOptions {
            state_dir: Some(lock.dir().to_path_buf()),
            cache_max_bytes: self.cfg.cache_max_bytes / self.cfg.num_threads.max(1),
            cache_pool: Some(self.cache_pool.clone()),
            // The runtime applies the handler itself (dead-letter records
            // need the failing record), so tasks always report.
            deserialization_handler: DeserializationHandler::LogAndFail,
            emit_interval_ms: 1000,
            wall_clock_ms: now_ms(),
            timestamp_extractor: self.cfg.timestamp_extractor,
            continue_on_processing_error: self.cfg.continue_on_processing_error,
        };
        let collector: Rc<RefCell<dyn RecordCollector>> = self.collector.clone();
        let nodes = sub.nodes.clone();
        let task = StreamTask::open(
            &self.topology,
            self.cfg.application_id.clone(),
            id,
            |i| nodes.contains(&i),
            collector,
            options,
        )
        .map_err(|source| RuntimeError::Task {
            task: id.to_string(),
            source: Box::new(source),
        })?;
        Ok(OpenedTask {
            id,
            lock,
            task,
            sub,
            checkpoint,
            partitions,
        })
    }

    /// Starts restoring an opened task's stores (or marks it running when
    /// they are up to date) and adds it to the active tasks.
    fn register(&mut self, opened: OpenedTask, restorer: &mut Restorer) -> RuntimeResult<()> {
        let OpenedTask {
            id,
            lock,
            task,
            sub,
            checkpoint,
            partitions,
        } = opened;
        let mut changelogs = Vec::new();
        let mut changelog_offsets = Checkpoint::new();
        let mut restoring = false;
        for store in &sub.stores {
            let Some(topic) = &store.changelog else {
                continue;
            };
            changelogs.push(ChangelogStore {
                topic: topic.clone(),
                persistent: store.persistent,
            });
            // Its offsets go into the checkpoints.
            self.collector.borrow().track_offsets(topic)?;
            // An in-memory store starts empty: it is always restored from
            // the start of its changelog.
            let offset = if store.persistent {
                checkpoint.get(&(topic.clone(), id.partition)).copied()
            } else {
                None
            };
            if let Some(o) = offset {
                changelog_offsets.insert((topic.clone(), id.partition), o);
            }
            if restorer.add(id, &store.name, topic, id.partition, offset)? {
                restoring = true;
            }
        }
        let mut queues = Vec::new();
        for (topic, partition) in partitions {
            let records = self
                .early
                .remove(&(topic.clone(), partition))
                .unwrap_or_default();
            queues.push(PartitionQueue {
                topic,
                partition,
                records,
                processed: None,
                committed: None,
                lag: None,
                start_position: None,
                idle_deadline: None,
                // Not paused yet: the thread pauses the partitions of
                // tasks that restore (`pause_changes`) before it polls.
                paused: false,
                partition_time: -1,
            });
        }
        for q in &mut queues {
            let mut records = std::mem::take(&mut q.records);
            for record in &mut records {
                q.stamp(&task, record)?;
            }
            q.records = records;
        }
        queues.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        log::info!(
            "task {id} created ({}), {}",
            queues
                .iter()
                .map(|q| format!("{}-{}", q.topic, q.partition))
                .collect::<Vec<_>>()
                .join(", "),
            if restoring {
                "restoring its stores"
            } else {
                "running"
            }
        );
        self.tasks.insert(
            id,
            ActiveTask {
                task,
                lock,
                status: if restoring {
                    TaskStatus::Restoring
                } else {
                    TaskStatus::Running
                },
                queues,
                changelogs,
                checkpointed: changelog_offsets.clone(),
                changelog_offsets,
            },
        );
        Ok(())
    }

    /// Reads changelog records into the restoring tasks' stores; tasks
    /// whose partitions are all restored start running.
    pub(crate) fn restore(
        &mut self,
        restorer: &mut Restorer,
        max_records: usize,
        wait: std::time::Duration,
    ) -> RuntimeResult<()> {
        if self.tasks.values().all(|t| t.status == TaskStatus::Running) {
            return Ok(());
        }
        let (batches, done) = restorer.poll(max_records, wait)?;
        for batch in batches {
            let Some(t) = self.tasks.get_mut(&batch.task) else {
                continue;
            };
            let Some(store) = t.task.ctx.stores.get(&batch.store) else {
                continue;
            };
            store
                .managed
                .borrow_mut()
                .restore_batch(&batch.records)
                .map_err(|e| RuntimeError::Task {
                    task: batch.task.to_string(),
                    source: Box::new(e.into()),
                })?;
            self.metrics.add_restored(batch.records.len() as u64);
            t.changelog_offsets
                .insert((batch.topic, batch.partition), batch.last_offset);
        }
        let mut touched: Vec<TaskId> = done.iter().map(|d| d.task).collect();
        touched.dedup();
        for id in touched {
            if restorer.is_restoring(id) {
                continue;
            }
            if let Some(t) = self.tasks.get_mut(&id)
                && t.status == TaskStatus::Restoring
            {
                t.status = TaskStatus::Running;
                log::info!("task {id} restored, running");
            }
        }
        Ok(())
    }

    /// Buffers a fetched record in its partition's queue, in a spare buffer
    /// if there is one. `headers` reads the record's headers: called only
    /// when its task may use them ([`StreamTask::uses_headers`]) or a
    /// dead-letter topic may get the record, since librdkafka parses the
    /// header block, with an allocation, on every read.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn enqueue(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: impl FnOnce() -> Headers,
    ) -> RuntimeResult<()> {
        let Some(id) = self
            .partition_task
            .get(topic)
            .and_then(|parts| parts.get(&partition))
        else {
            // Not (or no longer) ours: the next owner fetches it again.
            return Ok(());
        };
        let dead_letters = self.cfg.dead_letter_topic.is_some();
        let spare = self.spare.pop();
        let raw = |headers: Headers| match spare {
            Some(buf) => RawRecord::with_buffer(buf, offset, timestamp, key, value, headers),
            None => RawRecord::new(offset, timestamp, key, value, headers),
        };
        match self.tasks.get_mut(id) {
            Some(t) => {
                if let Some(q) = t
                    .queues
                    .iter_mut()
                    .find(|q| q.partition == partition && q.topic == topic)
                {
                    let headers = if dead_letters || t.task.uses_headers() {
                        headers()
                    } else {
                        Headers::new()
                    };
                    let mut record = raw(headers);
                    q.stamp(&t.task, &mut record)?;
                    // The lag known while the queue was empty is stale now.
                    q.lag = None;
                    q.records.push_back(record);
                }
            }
            // Its task is not created yet: the timestamp is extracted when
            // it is (see `create`), and the headers are kept.
            None => self
                .early
                .entry((topic.to_string(), partition))
                .or_default()
                .push_back(raw(headers())),
        }
        Ok(())
    }

    /// Which partitions to pause and to resume: those of tasks that are not
    /// running stay paused.
    pub(crate) fn pause_changes(&mut self) -> (Partitions, Partitions) {
        let mut pause = Vec::new();
        let mut resume = Vec::new();
        for t in self.tasks.values_mut() {
            let running = t.status == TaskStatus::Running;
            for q in &mut t.queues {
                // Only a task that cannot take records yet (restoring) is
                // paused. Full buffers are not: librdkafka's pause throws
                // away what it has already fetched for the partition and
                // refetches it on resume, which cost a fetch round trip per
                // `buffered.records.per.partition` records. The thread stops
                // polling instead (`buffers_full`).
                let want_paused = !running;
                if want_paused != q.paused {
                    q.paused = want_paused;
                    if want_paused {
                        pause.push((q.topic.clone(), q.partition));
                    } else {
                        resume.push((q.topic.clone(), q.partition));
                    }
                }
            }
        }
        (pause, resume)
    }

    /// Every partition of every task, to pause right after an assignment.
    pub(crate) fn mark_all_paused(&mut self) {
        for t in self.tasks.values_mut() {
            for q in &mut t.queues {
                q.paused = true;
            }
        }
    }

    /// Processes up to `budget` records, a task at a time round robin.
    /// Returns the number processed.
    pub(crate) fn process(&mut self, budget: usize) -> RuntimeResult<usize> {
        let ids: Vec<TaskId> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.status == TaskStatus::Running)
            .map(|(id, _)| *id)
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let per_task = (budget / ids.len()).max(1);
        let mut processed = 0;
        let wall = now_ms();
        let start = self.next_task % ids.len();
        self.next_task = self.next_task.wrapping_add(1);
        for k in 0..ids.len() {
            let id = ids[(start + k) % ids.len()];
            for _ in 0..per_task {
                if !self.process_one(id, wall)? {
                    break;
                }
                processed += 1;
            }
        }
        self.metrics.add_processed(processed as u64);
        Ok(processed)
    }

    /// The empty input partitions of running tasks with several inputs,
    /// whose lag decides whether the task may process
    /// ([`set_lags`](Self::set_lags)), with the position fetching started
    /// from when known; none when `max.task.idle.ms` is -1.
    pub(crate) fn partitions_needing_lag(&self) -> Vec<(String, i32, Option<i64>)> {
        if self.cfg.max_task_idle_ms < 0 {
            return Vec::new();
        }
        let mut out = Vec::new();
        for t in self.tasks.values() {
            if t.status != TaskStatus::Running || t.queues.len() < 2 {
                continue;
            }
            for q in &t.queues {
                if q.records.is_empty() {
                    out.push((q.topic.clone(), q.partition, q.start_position));
                }
            }
        }
        out
    }

    /// Records where fetching of `topic`-`partition` started.
    pub(crate) fn set_start_position(&mut self, topic: &str, partition: i32, offset: i64) {
        for t in self.tasks.values_mut() {
            for q in &mut t.queues {
                if q.partition == partition && q.topic == topic {
                    q.start_position = Some(offset);
                }
            }
        }
    }

    /// Records the lags of empty input partitions (see
    /// [`partitions_needing_lag`](Self::partitions_needing_lag)).
    pub(crate) fn set_lags(&mut self, lag_of: impl Fn(&str, i32) -> Option<i64>) {
        for t in self.tasks.values_mut() {
            if t.status != TaskStatus::Running || t.queues.len() < 2 {
                continue;
            }
            for q in &mut t.queues {
                if q.records.is_empty() {
                    q.lag = lag_of(&q.topic, q.partition);
                }
            }
        }
    }

    /// Processes the next record of task `id`; `false` when it has none it
    /// may process now.
    fn process_one(&mut self, id: TaskId, wall: i64) -> RuntimeResult<bool> {
        let idle_ms = self.cfg.max_task_idle_ms;
        let dlq = self.cfg.dead_letter_topic.as_deref();
        let handler = self.cfg.deserialization_handler;
        let Some(t) = self.tasks.get_mut(&id) else {
            return Ok(false);
        };
        let mut best: Option<(i64, usize)> = None;
        let mut enforced = false;
        for (i, q) in t.queues.iter_mut().enumerate() {
            match q.records.front() {
                Some(r) => {
                    q.idle_deadline = None;
                    if best.is_none_or(|(ts, _)| r.timestamp < ts) {
                        best = Some((r.timestamp, i));
                    }
                }
                // Kafka Streams' PartitionGroup.readyToProcess, for each
                // empty partition (see the module documentation).
                None if idle_ms >= 0 => match q.lag {
                    None | Some(1..) => {
                        q.idle_deadline = None;
                        return Ok(false);
                    }
                    Some(_) => {
                        let deadline = *q.idle_deadline.get_or_insert(wall.saturating_add(idle_ms));
                        if wall < deadline {
                            return Ok(false);
                        }
                        enforced = true;
                    }
                },
                None => {}
            }
        }
        if enforced && best.is_some() {
            log::debug!(
                "task {id}: processing although some input partitions have no records buffered (max.task.idle.ms={idle_ms} passed); records may be processed out of timestamp order"
            );
        }
        let Some((_, i)) = best else { return Ok(false) };
        let multi_input = t.queues.len() > 1;
        let q = &mut t.queues[i];
        let Some(mut record) = q.records.pop_front() else {
            return Ok(false);
        };
        // Only where records wait in the queues: a task with one input
        // processes them moments after polling them, still in the cache,
        // and the sink measured 5 % slower with the prefetch (4 pairs).
        if multi_input && let Some(next) = q.records.front() {
            next.prefetch();
        }
        q.processed = Some(record.offset);
        let topic: &str = &q.topic;
        let partition = q.partition;
        let dlq_headers = dlq.as_ref().map(|_| record.headers.clone());
        let headers = std::mem::take(&mut record.headers);
        t.task.set_wall_clock(wall);
        let dropped_before = t.task.ctx.metrics.dropped_records;
        let result = t.task.process(
            topic,
            partition,
            record.offset,
            record.key(),
            record.value(),
            record.timestamp,
            headers,
        );
        let dropped = t.task.ctx.metrics.dropped_records - dropped_before;
        if dropped > 0 {
            self.metrics.add_dropped(dropped);
        }
        match result {
            Ok(()) => {}
            Err(e @ StreamsError::Deserialization { .. }) => {
                log::error!("task {id}: {e}");
                if let Some(dlq_topic) = &dlq {
                    let mut headers = dlq_headers.unwrap_or_default();
                    let (exception, message) = match &e {
                        StreamsError::Deserialization { source, .. } => {
                            ("SerializationException", source.to_string())
                        }
                        _ => ("StreamsException", e.to_string()),
                    };
                    headers.add(HEADER_ERRORS_EXCEPTION, Some(exception.as_bytes().to_vec()));
                    headers.add(HEADER_ERRORS_MESSAGE, Some(message.as_bytes().to_vec()));
                    headers.add(HEADER_ERRORS_STACKTRACE, Some(e.to_string().into_bytes()));
                    headers.add(HEADER_ERRORS_TOPIC, Some(topic.as_bytes().to_vec()));
                    headers.add(
                        HEADER_ERRORS_PARTITION,
                        Some(partition.to_string().into_bytes()),
                    );
                    headers.add(
                        HEADER_ERRORS_OFFSET,
                        Some(record.offset.to_string().into_bytes()),
                    );
                    self.collector.borrow_mut().send_raw(
                        dlq_topic,
                        record.key(),
                        record.value(),
                        &headers,
                        record.timestamp.max(0),
                        None,
                    )?;
                    self.metrics.add_dead_letter(1);
                }
                match handler {
                    DeserializationHandler::LogAndContinue => {
                        log::warn!("task {id}: skipping the record (log-and-continue)");
                        t.task.ctx.metrics.skipped_deserialization += 1;
                        self.metrics.add_skipped(1);
                    }
                    DeserializationHandler::LogAndFail => {
                        return Err(RuntimeError::Task {
                            task: id.to_string(),
                            source: Box::new(e),
                        });
                    }
                }
            }
            Err(source) => return Err(task_failure(&self.collector, id, source)),
        }
        // Small buffers only, and as many as a few polls fetch.
        if self.spare.len() < SPARE_BUFFERS && record.data.capacity() <= SPARE_BUFFER_BYTES {
            self.spare.push(record.data);
        }
        t.task
            .maybe_punctuate_stream_time()
            .map_err(|source| task_failure(&self.collector, id, source))?;
        Ok(true)
    }

    /// Fires the wall-clock punctuations that are due.
    pub(crate) fn punctuate_wall_clock(&mut self) -> RuntimeResult<()> {
        let now = now_ms();
        for (id, t) in &mut self.tasks {
            if t.status != TaskStatus::Running {
                continue;
            }
            t.task
                .maybe_punctuate_wall_clock(now)
                .map_err(|source| task_failure(&self.collector, *id, source))?;
        }
        Ok(())
    }

    /// First step of a commit: every running task forwards what its caches
    /// hold and flushes its stores.
    pub(crate) fn commit_tasks(&mut self) -> RuntimeResult<()> {
        for (id, t) in &mut self.tasks {
            if t.status != TaskStatus::Running {
                continue;
            }
            t.task
                .commit_without_checkpoint()
                .map_err(|source| task_failure(&self.collector, *id, source))?;
        }
        Ok(())
    }

    /// The input offsets to commit (next offset to read per partition), for
    /// partitions that processed records since the last commit.
    pub(crate) fn offsets_to_commit(&self) -> RuntimeResult<TopicPartitionList> {
        let mut tpl = TopicPartitionList::new();
        for t in self.tasks.values() {
            for q in &t.queues {
                if let Some(p) = q.processed
                    && q.committed != Some(p)
                {
                    tpl.add_partition_offset(&q.topic, q.partition, Offset::Offset(p + 1))
                        .map_err(|e| RuntimeError::client("building the offsets to commit", e))?;
                }
            }
        }
        Ok(tpl)
    }

    /// Records that the offsets returned by [`offsets_to_commit`] are
    /// committed.
    pub(crate) fn mark_committed(&mut self) {
        for t in self.tasks.values_mut() {
            for q in &mut t.queues {
                q.committed = q.processed;
            }
        }
    }

    fn update_changelog_offsets(collector: &KafkaCollector, id: TaskId, t: &mut ActiveTask) {
        for c in &t.changelogs {
            if let Some(o) = collector.written_offset(&c.topic, id.partition) {
                let e = t
                    .changelog_offsets
                    .entry((c.topic.clone(), id.partition))
                    .or_insert(o);
                *e = (*e).max(o);
            }
        }
    }

    fn checkpoint_of(t: &ActiveTask, partition: i32) -> Checkpoint {
        t.changelogs
            .iter()
            .filter(|c| c.persistent)
            .filter_map(|c| {
                let key = (c.topic.clone(), partition);
                t.changelog_offsets.get(&key).map(|&o| (key, o))
            })
            .collect()
    }

    /// Writes the `.checkpoint` of the running tasks with persistent logged
    /// stores whose changelogs moved more than [`CHECKPOINT_OFFSET_DELTA`]
    /// records since their last one, flushing their stores to disk first
    /// (at-least-once, after the producer was flushed and the offsets
    /// committed). Exactly-once never checkpoints a running task: its
    /// stores may hold writes of a transaction that is later aborted.
    pub(crate) fn maybe_checkpoint(&mut self) -> RuntimeResult<()> {
        let collector = self.collector.borrow();
        for (id, t) in &mut self.tasks {
            if t.status != TaskStatus::Running || !t.changelogs.iter().any(|c| c.persistent) {
                continue;
            }
            Self::update_changelog_offsets(&collector, *id, t);
            let checkpoint = Self::checkpoint_of(t, id.partition);
            let delta: i64 = checkpoint
                .iter()
                .map(|(tp, &o)| o - t.checkpointed.get(tp).copied().unwrap_or(0))
                .sum();
            if delta <= CHECKPOINT_OFFSET_DELTA {
                continue;
            }
            t.task.flush_stores().map_err(|source| RuntimeError::Task {
                task: id.to_string(),
                source: Box::new(source),
            })?;
            t.lock.write_checkpoint(&checkpoint)?;
            t.checkpointed = checkpoint;
        }
        Ok(())
    }

    /// Closes every task. A clean close (after a successful commit) writes
    /// the checkpoints; a dirty one does not, and under exactly-once wipes
    /// the stores, which may hold uncommitted writes.
    pub(crate) fn close_all(&mut self, clean: bool, restorer: &mut Restorer) {
        let tasks = std::mem::take(&mut self.tasks);
        for (id, mut t) in tasks {
            restorer.remove_task(id);
            if let Err(e) = t.task.close() {
                log::warn!("task {id}: closing failed: {e}");
            }
            if clean {
                // The stores hold what the changelog holds up to these
                // offsets (a task closed while restoring included).
                Self::update_changelog_offsets(&self.collector.borrow(), id, &mut t);
                if t.changelogs.iter().any(|c| c.persistent)
                    && let Err(e) = t
                        .lock
                        .write_checkpoint(&Self::checkpoint_of(&t, id.partition))
                {
                    log::warn!("task {id}: {e}");
                }
            } else if self.cfg.exactly_once() {
                log::info!("task {id}: closed dirty under exactly-once, wiping its state");
                t.lock.wipe();
            }
            log::info!("task {id} closed{}", if clean { "" } else { " (dirty)" });
        }
        self.pending.clear();
        self.early.clear();
        self.partition_task.clear();
    }

    /// Closes every task dirty and wipes its state, whatever the
    /// guarantee: after a corruption the stores may hold writes the
    /// changelog lacks.
    pub(crate) fn close_all_corrupted(&mut self, restorer: &mut Restorer) {
        let tasks = std::mem::take(&mut self.tasks);
        for (id, mut t) in tasks {
            restorer.remove_task(id);
            if let Err(e) = t.task.close() {
                log::warn!("task {id}: closing failed: {e}");
            }
            t.lock.wipe();
            log::info!("task {id} closed (corrupted), its state wiped");
        }
        self.pending.clear();
        self.early.clear();
        self.partition_task.clear();
    }

    /// Deletes the state of tasks nobody owns (after `state.cleanup.delay.ms`).
    pub(crate) fn clean_unowned(&self) {
        self.state_dir.clean_unowned(self.cfg.cleanup_delay);
    }
}

/// The error of a task that failed: a send that failed for a reason the
/// thread itself handles (a fenced producer, corrupted tasks) reaches the
/// processor as an opaque error; it is given back its kind here.
fn task_failure(
    collector: &Rc<RefCell<KafkaCollector>>,
    id: TaskId,
    source: StreamsError,
) -> RuntimeError {
    match collector.borrow_mut().take_send_failure() {
        Some(failure) => failure,
        None => RuntimeError::Task {
            task: id.to_string(),
            source: Box::new(source),
        },
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(records: usize, lag: Option<i64>, idle_deadline: Option<i64>) -> PartitionQueue {
        PartitionQueue {
            topic: "t".into(),
            partition: 0,
            records: (0..records)
                .map(|i| RawRecord::new(i as i64, 0, None, Some(b"v"), Headers::default()))
                .collect(),
            processed: None,
            committed: None,
            lag,
            start_position: None,
            idle_deadline,
            paused: false,
            partition_time: -1,
        }
    }

    /// An empty input holds the thread's polling open (`buffers_full`)
    /// only while polling may bring it records: a table topic read to its
    /// end does not, and counting it let a stream-table join buffer its
    /// whole stream input.
    #[test]
    fn only_an_empty_queue_with_lag_awaits_a_fetch() {
        let now = 1_000;
        assert!(queue(0, None, None).awaits_fetch(now), "unknown lag");
        assert!(
            queue(0, Some(3), Some(0)).awaits_fetch(now),
            "records on the broker"
        );
        // Caught up: waits only until max.task.idle.ms has passed.
        assert!(
            queue(0, Some(0), None).awaits_fetch(now),
            "idle time not started"
        );
        assert!(queue(0, Some(0), Some(now + 1)).awaits_fetch(now), "idling");
        assert!(
            !queue(0, Some(0), Some(now)).awaits_fetch(now),
            "idle time over"
        );
        assert!(
            !queue(0, Some(-1), Some(now - 5)).awaits_fetch(now),
            "idle time over"
        );
        assert!(!queue(2, None, None).awaits_fetch(now), "records buffered");
        assert!(
            !queue(2, Some(5), None).awaits_fetch(now),
            "records buffered"
        );
    }
}
