//! Restoring stores from their changelog topics.
//!
//! When a task is created its stores are restored before it processes
//! anything: each changelog partition is read by the thread's assign-mode
//! restore consumer from the offset after the one in the task's
//! `.checkpoint` (from the start when there is no checkpoint, or the store
//! is in memory) up to the partition's end as it was when restoration
//! began (the last stable offset under exactly-once, whose restore consumer
//! reads committed records only). Records are written in batches straight
//! to the bottom byte store ([`ManagedStore::restore_batch`](crate::state::ManagedStore::restore_batch)),
//! bypassing caches and change-logging. Progress goes to the log and to a
//! [`StateRestoreListener`].
//!
//! The thread keeps polling its main consumer meanwhile (the restoring
//! task's input partitions are paused), so restoring a large store never
//! makes the thread miss its poll deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::bindings as rdsys;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::batch_queue::{BATCH, BatchQueue};
use super::errors::{RuntimeError, RuntimeResult};
use super::internal_topics::TopicsGate;
use crate::processor::TaskId;
use crate::state::TimestampedBytesWrite;

/// Hears about store restoration (Kafka Streams' `StateRestoreListener`).
/// Every method has an empty default.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use streams_core::runtime::StateRestoreListener;
/// #[derive(Default)]
/// struct Count(AtomicU64);
/// impl StateRestoreListener for Count {
///     fn on_restore_end(&self, _topic: &str, _partition: i32, _store: &str, total: u64) {
///         self.0.fetch_add(total, Ordering::Relaxed);
///     }
/// }
/// let c = Count::default();
/// c.on_restore_end("app-s-changelog", 0, "s", 5);
/// assert_eq!(c.0.load(Ordering::Relaxed), 5);
/// ```
pub trait StateRestoreListener: Send + Sync {
    /// Restoration of `store` from `topic`-`partition` begins at
    /// `start_offset`; the partition ends at `end_offset` (exclusive).
    fn on_restore_start(
        &self,
        topic: &str,
        partition: i32,
        store: &str,
        start_offset: i64,
        end_offset: i64,
    ) {
        let _ = (topic, partition, store, start_offset, end_offset);
    }
    /// A batch up to `batch_end_offset` (the last offset written) was
    /// written, `num_restored` records.
    fn on_batch_restored(
        &self,
        topic: &str,
        partition: i32,
        store: &str,
        batch_end_offset: i64,
        num_restored: u64,
    ) {
        let _ = (topic, partition, store, batch_end_offset, num_restored);
    }
    /// Restoration of `store` from `topic`-`partition` is complete,
    /// `total_restored` records in all.
    fn on_restore_end(&self, topic: &str, partition: i32, store: &str, total_restored: u64) {
        let _ = (topic, partition, store, total_restored);
    }
}

/// One changelog partition being restored.
#[derive(Debug)]
struct Restoring {
    task: TaskId,
    store: String,
    /// Next offset to read; `None` until the first record (from the start).
    next: Option<i64>,
    start: i64,
    end: i64,
    restored: u64,
    last_log: Instant,
}

/// Records read for one store, to write as one batch.
#[derive(Debug)]
pub(crate) struct RestoredBatch {
    pub(crate) task: TaskId,
    pub(crate) store: String,
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) records: Vec<TimestampedBytesWrite>,
    /// Offset of the last record in `records`.
    pub(crate) last_offset: i64,
}

/// A finished changelog partition.
#[derive(Debug)]
pub(crate) struct RestoreDone {
    pub(crate) task: TaskId,
}

/// The restore side of a stream thread.
pub(crate) struct Restorer {
    /// Declared before `consumer`: dropped first.
    queue: BatchQueue,
    consumer: BaseConsumer,
    active: BTreeMap<(String, i32), Restoring>,
    /// What the restore consumer is assigned now.
    assigned: BTreeSet<(String, i32)>,
    /// Partitions added since the last [`sync_assignment`](Self::sync_assignment)
    /// (re-assigned at their start offset even if still assigned).
    added: BTreeSet<(String, i32)>,
    assignment_changed: bool,
    listener: Option<Arc<dyn StateRestoreListener>>,
    timeout: Duration,
    /// Open once the changelog topics exist (`start` may still be creating
    /// them when the first tasks are assigned).
    changelogs: Arc<TopicsGate>,
    /// Records restored by this thread (a metric).
    pub(crate) total_restored: u64,
}

impl Restorer {
    pub(crate) fn new(
        consumer: BaseConsumer,
        listener: Option<Arc<dyn StateRestoreListener>>,
        timeout: Duration,
        changelogs: Arc<TopicsGate>,
    ) -> RuntimeResult<Self> {
        Ok(Restorer {
            queue: BatchQueue::of_consumer(consumer.client())?,
            consumer,
            active: BTreeMap::new(),
            assigned: BTreeSet::new(),
            added: BTreeSet::new(),
            assignment_changed: false,
            listener,
            timeout,
            changelogs,
            total_restored: 0,
        })
    }

    /// The first and end offsets of a changelog partition.
    pub(crate) fn watermarks(&self, topic: &str, partition: i32) -> RuntimeResult<(i64, i64)> {
        self.fetch_watermarks(topic, partition, "reading the offsets of changelog")
    }

    /// The watermarks of `topic`-`partition`, asked again while the broker
    /// answers with an error that passes: a changelog created a moment ago
    /// may have no leader yet (`NOT_LEADER_OR_FOLLOWER`,
    /// `LEADER_NOT_AVAILABLE`) or be unknown to the broker that answers.
    /// Kafka Streams retries these until `task.timeout.ms`; here until the
    /// API timeout (`default.api.timeout.ms`) has passed, then the last
    /// error stands.
    fn fetch_watermarks(
        &self,
        topic: &str,
        partition: i32,
        operation: &str,
    ) -> RuntimeResult<(i64, i64)> {
        // `start` resolves the gate within the API timeout; twice that is
        // only a guard against a gate nobody resolves.
        self.changelogs.wait(self.timeout * 2)?;
        let deadline = Instant::now() + self.timeout;
        let mut backoff = Duration::from_millis(20);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let error = match self.consumer.fetch_watermarks(topic, partition, remaining) {
                Ok(watermarks) => return Ok(watermarks),
                Err(e) => RuntimeError::client(format!("{operation} {topic}-{partition}"), e),
            };
            if (!error.is_retriable() && !error.is_metadata_settling()) || remaining < backoff {
                return Err(error);
            }
            log::debug!("{error}; asking again in {backoff:?}");
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }

    /// Whether any partition of `task` is still being restored.
    pub(crate) fn is_restoring(&self, task: TaskId) -> bool {
        self.active.values().any(|r| r.task == task)
    }

    /// Starts restoring `store` of `task` from `topic`-`partition`, after
    /// `checkpoint` (the offset of the last record the store holds) when
    /// given. Returns `false` when there is nothing to restore.
    pub(crate) fn add(
        &mut self,
        task: TaskId,
        store: &str,
        topic: &str,
        partition: i32,
        checkpoint: Option<i64>,
    ) -> RuntimeResult<bool> {
        let (low, high) =
            self.fetch_watermarks(topic, partition, "reading the end offset of changelog")?;
        let start = checkpoint.map_or(low, |c| (c + 1).max(low));
        if start >= high {
            log::debug!(
                "task {task}: store {store} is up to date with {topic}-{partition} (offset {start}, end {high})"
            );
            return Ok(false);
        }
        log::info!(
            "task {task}: restoring store {store} from {topic}-{partition}, offsets {start}..{high}"
        );
        if let Some(l) = &self.listener {
            l.on_restore_start(topic, partition, store, start, high);
        }
        self.added.insert((topic.to_string(), partition));
        self.active.insert(
            (topic.to_string(), partition),
            Restoring {
                task,
                store: store.to_string(),
                next: Some(start),
                start,
                end: high,
                restored: 0,
                last_log: Instant::now(),
            },
        );
        self.assignment_changed = true;
        Ok(true)
    }

    /// Stops restoring the partitions of `task` (it was closed).
    pub(crate) fn remove_task(&mut self, task: TaskId) {
        let before = self.active.len();
        self.active.retain(|_, r| r.task != task);
        if self.active.len() != before {
            self.assignment_changed = true;
        }
    }

    /// Brings the consumer's assignment in line with the partitions being
    /// restored, incrementally: partitions that stay keep what librdkafka
    /// has fetched for them. (A whole new `assign` drops every partition's
    /// prefetched records and restarts its fetch, which, once per finished
    /// partition, left the others waiting on the broker again.)
    fn sync_assignment(&mut self) -> RuntimeResult<()> {
        let gone: Vec<(String, i32)> = self
            .assigned
            .iter()
            .filter(|k| !self.active.contains_key(*k) || self.added.contains(*k))
            .cloned()
            .collect();
        if !gone.is_empty() {
            let mut tpl = TopicPartitionList::new();
            for (topic, partition) in &gone {
                tpl.add_partition(topic, *partition);
            }
            self.consumer
                .incremental_unassign(&tpl)
                .map_err(|e| RuntimeError::client("unassigning changelog partitions", e))?;
            for k in &gone {
                self.assigned.remove(k);
            }
        }
        let mut tpl = TopicPartitionList::new();
        let mut new = Vec::new();
        for (key, r) in &self.active {
            if !self.assigned.contains(key) {
                let offset = Offset::Offset(r.next.unwrap_or(r.start));
                tpl.add_partition_offset(&key.0, key.1, offset)
                    .map_err(|e| RuntimeError::client("assigning changelog partitions", e))?;
                new.push(key.clone());
            }
        }
        if !new.is_empty() {
            self.consumer
                .incremental_assign(&tpl)
                .map_err(|e| RuntimeError::client("assigning changelog partitions", e))?;
            self.assigned.extend(new);
        }
        self.added.clear();
        self.assignment_changed = false;
        Ok(())
    }

    /// Reads up to `max_records` changelog records (waiting at most
    /// `wait`), returning them in per-store batches, and the partitions that
    /// reached their end.
    pub(crate) fn poll(
        &mut self,
        max_records: usize,
        wait: Duration,
    ) -> RuntimeResult<(Vec<RestoredBatch>, Vec<RestoreDone>)> {
        if self.assignment_changed {
            self.sync_assignment()?;
        }
        if self.active.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut batches: Vec<RestoredBatch> = Vec::new();
        // The next offset expected per batch (`Restoring::next`), written
        // back after the poll.
        let mut next: Vec<Option<i64>> = Vec::new();
        let mut count = 0;
        let mut timeout = wait;
        // The batch of the previous record, by librdkafka's topic handle and
        // partition: records come in runs of one partition.
        let mut last: Option<(*const rdsys::rd_kafka_topic_t, i32, usize)> = None;
        while count < max_records {
            let messages = self
                .queue
                .consume(timeout, (max_records - count).min(BATCH));
            if messages.is_empty() {
                break;
            }
            timeout = Duration::ZERO;
            for m in messages.iter() {
                if let Some(code) = m.error() {
                    log::warn!("restore consumer: {code}");
                    continue;
                }
                let i = match last {
                    Some((rkt, partition, i))
                        if rkt == m.rkt.cast_const() && partition == m.partition =>
                    {
                        i
                    }
                    _ => {
                        let topic = m.topic_bytes();
                        let i = match batches.iter().rposition(|b| {
                            b.partition == m.partition && b.topic.as_bytes() == topic
                        }) {
                            Some(i) => i,
                            None => {
                                let Ok(topic) = std::str::from_utf8(topic) else {
                                    continue;
                                };
                                let key = (topic.to_string(), m.partition);
                                let Some(r) = self.active.get(&key) else {
                                    continue;
                                };
                                next.push(r.next);
                                batches.push(RestoredBatch {
                                    task: r.task,
                                    store: r.store.clone(),
                                    topic: key.0,
                                    partition: m.partition,
                                    records: Vec::new(),
                                    last_offset: -1,
                                });
                                batches.len() - 1
                            }
                        };
                        last = Some((m.rkt.cast_const(), m.partition, i));
                        i
                    }
                };
                if next[i].is_some_and(|n| m.offset < n) {
                    continue;
                }
                next[i] = Some(m.offset + 1);
                let batch = &mut batches[i];
                batch.last_offset = m.offset;
                if let Some(k) = m.key() {
                    batch.records.push((
                        k.to_vec(),
                        m.payload().map(<[u8]>::to_vec),
                        m.timestamp_or(0),
                    ));
                }
                count += 1;
            }
        }
        // A batch whose records were all skipped (already restored) was
        // created all the same; it carries no offset.
        let mut kept = Vec::with_capacity(batches.len());
        for (b, n) in batches.into_iter().zip(next) {
            if let Some(r) = self.active.get_mut(&(b.topic.clone(), b.partition)) {
                r.next = n;
            }
            if b.last_offset >= 0 {
                kept.push(b);
            }
        }
        let batches = kept;
        for b in &batches {
            if let Some(r) = self.active.get_mut(&(b.topic.clone(), b.partition)) {
                r.restored += b.records.len() as u64;
                self.total_restored += b.records.len() as u64;
                if let Some(l) = &self.listener {
                    l.on_batch_restored(
                        &b.topic,
                        b.partition,
                        &b.store,
                        b.last_offset,
                        b.records.len() as u64,
                    );
                }
                if r.last_log.elapsed() >= Duration::from_secs(5) {
                    r.last_log = Instant::now();
                    log::info!(
                        "task {}: restoring store {} from {}-{}: {} records so far, at offset {} of {}",
                        r.task,
                        r.store,
                        b.topic,
                        b.partition,
                        r.restored,
                        b.last_offset,
                        r.end
                    );
                }
            }
        }
        // The position moves past transaction markers too, so it, not the
        // last record's offset, tells when a partition is done.
        let mut done = Vec::new();
        let positions = self
            .consumer
            .position()
            .map_err(|e| RuntimeError::client("reading restore positions", e))?;
        for elem in positions.elements() {
            let key = (elem.topic().to_string(), elem.partition());
            let Some(r) = self.active.get_mut(&key) else {
                continue;
            };
            if let Offset::Offset(p) = elem.offset()
                && r.next.is_none_or(|n| p > n)
            {
                r.next = Some(p);
            }
            if r.next.is_some_and(|n| n >= r.end) {
                done.push(key);
            }
        }
        let mut finished = Vec::new();
        for key in done {
            if let Some(r) = self.active.remove(&key) {
                log::info!(
                    "task {}: restored store {} from {}-{}: {} records",
                    r.task,
                    r.store,
                    key.0,
                    key.1,
                    r.restored
                );
                if let Some(l) = &self.listener {
                    l.on_restore_end(&key.0, key.1, &r.store, r.restored);
                }
                self.assignment_changed = true;
                finished.push(RestoreDone { task: r.task });
            }
        }
        Ok((batches, finished))
    }
}
