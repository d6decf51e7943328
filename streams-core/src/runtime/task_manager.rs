//! The tasks of one stream thread: created from the partitions the group
//! assigns, restored, fed from per-partition queues, committed and closed.
//!
//! A task is `(sub-topology, partition)`: it reads partition `p` of every
//! source topic of its sub-topology. Its records wait in one queue per
//! input partition; the next record processed is the one with the lowest
//! timestamp at the head of a queue (Kafka Streams' `PartitionGroup`), so
//! stream time advances as evenly as the inputs allow. A queue that runs
//! empty holds the task back for up to `max.task.idle.ms` (0, the default,
//! does not wait; -1 never waits either) so that a join does not run ahead
//! of a slower input.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use rdkafka::{Offset, TopicPartitionList};

use super::config::RuntimeConfig;
use super::errors::{RuntimeError, RuntimeResult};
use super::internal_topics::TaskPlan;
use super::kafka_streams::SharedMetrics;
use super::record_collector::KafkaCollector;
use super::restore::Restorer;
use super::state_dir::{Checkpoint, StateDirectory, TaskDirLock};
use crate::error::StreamsError;
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

/// A record as fetched, waiting in its partition's queue.
#[derive(Debug, Clone)]
pub(crate) struct RawRecord {
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) headers: Headers,
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
    empty_since: Option<Instant>,
    paused: bool,
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
}

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
    /// topic -> partition -> task. Nested so that the per-record lookup
    /// borrows the topic name instead of allocating a key.
    partition_task: HashMap<String, HashMap<i32, TaskId>>,
    metrics: Arc<SharedMetrics>,
    next_task: usize,
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
            partition_task: HashMap::new(),
            metrics,
            next_task: 0,
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
    pub(crate) fn buffers_full(&self) -> bool {
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
        for id in ids {
            let Some(lock) = self.state_dir.lock(id)? else {
                continue;
            };
            let partitions = self.pending.remove(&id).unwrap_or_default();
            self.create(id, lock, partitions, restorer)?;
        }
        Ok(())
    }

    fn create(
        &mut self,
        id: TaskId,
        lock: TaskDirLock,
        partitions: Vec<(String, i32)>,
        restorer: &mut Restorer,
    ) -> RuntimeResult<()> {
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
            // The runtime applies the handler itself (dead-letter records
            // need the failing record), so tasks always report.
            deserialization_handler: DeserializationHandler::LogAndFail,
            emit_interval_ms: 1000,
            wall_clock_ms: now_ms(),
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
                empty_since: None,
                paused: true,
            });
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

    /// Buffers a fetched record in its partition's queue.
    pub(crate) fn enqueue(&mut self, topic: &str, partition: i32, record: RawRecord) {
        let Some(id) = self
            .partition_task
            .get(topic)
            .and_then(|parts| parts.get(&partition))
        else {
            // Not (or no longer) ours: the next owner fetches it again.
            return;
        };
        match self.tasks.get_mut(id) {
            Some(t) => {
                if let Some(q) = t
                    .queues
                    .iter_mut()
                    .find(|q| q.partition == partition && q.topic == topic)
                {
                    q.records.push_back(record);
                }
            }
            None => self
                .early
                .entry((topic.to_string(), partition))
                .or_default()
                .push_back(record),
        }
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
        let now = Instant::now();
        let wall = now_ms();
        let start = self.next_task % ids.len();
        self.next_task = self.next_task.wrapping_add(1);
        for k in 0..ids.len() {
            let id = ids[(start + k) % ids.len()];
            for _ in 0..per_task {
                if !self.process_one(id, now, wall)? {
                    break;
                }
                processed += 1;
            }
        }
        self.metrics.add_processed(processed as u64);
        Ok(processed)
    }

    /// Processes the next record of task `id`; `false` when it has none it
    /// may process now.
    fn process_one(&mut self, id: TaskId, now: Instant, wall: i64) -> RuntimeResult<bool> {
        let idle_ms = self.cfg.max_task_idle_ms;
        let dlq = self.cfg.dead_letter_topic.clone();
        let handler = self.cfg.deserialization_handler;
        let Some(t) = self.tasks.get_mut(&id) else {
            return Ok(false);
        };
        // Queues that ran empty hold the task back for max.task.idle.ms.
        let mut best: Option<(i64, usize)> = None;
        let several = t.queues.len() > 1;
        for (i, q) in t.queues.iter_mut().enumerate() {
            match q.records.front() {
                Some(r) => {
                    q.empty_since = None;
                    if best.is_none_or(|(ts, _)| r.timestamp < ts) {
                        best = Some((r.timestamp, i));
                    }
                }
                None => {
                    let since = *q.empty_since.get_or_insert(now);
                    if idle_ms > 0
                        && several
                        && now.duration_since(since).as_millis() < idle_ms as u128
                    {
                        return Ok(false);
                    }
                }
            }
        }
        let Some((_, i)) = best else { return Ok(false) };
        let q = &mut t.queues[i];
        let Some(record) = q.records.pop_front() else {
            return Ok(false);
        };
        let topic = q.topic.clone();
        let partition = q.partition;
        q.processed = Some(record.offset);
        let dlq_headers = dlq.as_ref().map(|_| record.headers.clone());
        t.task.set_wall_clock(wall);
        let dropped_before = t.task.ctx.metrics.dropped_records;
        let result = t.task.process(
            &topic,
            partition,
            record.offset,
            record.key.as_deref(),
            record.value.as_deref(),
            record.timestamp,
            record.headers,
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
                        record.key.as_deref(),
                        record.value.as_deref(),
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
            Err(source) => {
                return Err(RuntimeError::Task {
                    task: id.to_string(),
                    source: Box::new(source),
                });
            }
        }
        t.task
            .maybe_punctuate_stream_time()
            .map_err(|source| RuntimeError::Task {
                task: id.to_string(),
                source: Box::new(source),
            })?;
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
                .map_err(|source| RuntimeError::Task {
                    task: id.to_string(),
                    source: Box::new(source),
                })?;
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
            t.task.commit().map_err(|source| RuntimeError::Task {
                task: id.to_string(),
                source: Box::new(source),
            })?;
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

    /// Writes the `.checkpoint` of every running task with persistent
    /// logged stores (at-least-once, after the producer was flushed).
    pub(crate) fn write_checkpoints(&mut self) -> RuntimeResult<()> {
        let collector = self.collector.borrow();
        for (id, t) in &mut self.tasks {
            if t.status != TaskStatus::Running {
                continue;
            }
            Self::update_changelog_offsets(&collector, *id, t);
            if t.changelogs.iter().any(|c| c.persistent) {
                t.lock
                    .write_checkpoint(&Self::checkpoint_of(t, id.partition))?;
            }
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

    /// Deletes the state of tasks nobody owns (after `state.cleanup.delay.ms`).
    pub(crate) fn clean_unowned(&self) {
        self.state_dir.clean_unowned(self.cfg.cleanup_delay);
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
