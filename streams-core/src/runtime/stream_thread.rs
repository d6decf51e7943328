//! A stream thread: one group member (consumer), one producer, one restore
//! consumer, and the tasks the group assigns to it.
//!
//! Each loop: poll records (and rebalance events), restore what is being
//! restored, process up to a budget of records, fire wall-clock
//! punctuations, and commit every `commit.interval.ms`.
//!
//! Rebalances are eager (`range` assignment): librdkafka hands the revoked
//! and assigned partition sets to [`ThreadContext`], which queues them; the
//! thread handles them right after the poll returns, before it tells
//! librdkafka it is done (by calling `unassign`/`assign`), so that a revoke
//! commits and closes its tasks while the member still owns them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Headers as _;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

use super::config::ConsumerRole;
use super::errors::{RuntimeError, RuntimeResult};
use super::global::GlobalState;
use super::internal_topics::resolve_topic;
use super::kafka_streams::{Shared, ThreadState};
use super::record_collector::{CollectorContext, KafkaCollector};
use super::restore::Restorer;
use super::task_manager::TaskManager;
use crate::dsl::AutoOffsetReset;
use crate::processor::Headers;

/// Records processed per loop before the thread polls again.
const PROCESS_BUDGET: usize = 1000;
/// Records taken from the consumer per loop at most.
const MAX_POLL_RECORDS: usize = 2000;

#[derive(Debug)]
enum RebalanceEvent {
    Assign(Vec<(String, i32)>),
    Revoke(Vec<(String, i32)>),
}

/// The main consumer's context: queues rebalance events for the thread.
#[derive(Default)]
pub(crate) struct ThreadContext {
    events: Mutex<Vec<RebalanceEvent>>,
    /// Set while the consumer closes: rebalances are then applied at once,
    /// as there are no tasks left to commit.
    closing: AtomicBool,
}

impl ClientContext for ThreadContext {
    fn error(&self, error: KafkaError, reason: &str) {
        log::warn!("consumer: {error}: {reason}");
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect()
}

impl ConsumerContext for ThreadContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let closing = self.closing.load(Ordering::SeqCst);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS if !closing => {
                if let Ok(mut e) = self.events.lock() {
                    e.push(RebalanceEvent::Assign(partitions(tpl)));
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS if !closing => {
                if let Ok(mut e) = self.events.lock() {
                    e.push(RebalanceEvent::Revoke(partitions(tpl)));
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let _ = consumer.assign(tpl);
            }
            other => {
                if !matches!(other, RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
                    log::warn!("rebalance error: {other:?}");
                }
                let _ = consumer.unassign();
            }
        }
    }
}

/// Where an assignment starts: the partitions with their start offsets,
/// and the committed offsets found, as (topic, partition, offset).
type StartOffsets = (TopicPartitionList, Vec<(String, i32, i64)>);

/// One stream thread's clients and tasks.
pub(crate) struct StreamThread {
    index: usize,
    shared: Arc<Shared>,
    consumer: BaseConsumer<ThreadContext>,
    collector: Rc<RefCell<KafkaCollector>>,
    restorer: Restorer,
    tasks: TaskManager,
    global: Option<GlobalState>,
    assigned_once: bool,
    /// Reset policies by topic name as assigned: the sources' own
    /// (`Consumed::with_offset_reset_policy`), and earliest for every
    /// repartition topic (records written into one before this instance
    /// first took its partitions must not be skipped).
    offset_resets: HashMap<String, AutoOffsetReset>,
}

impl StreamThread {
    /// Creates the thread's clients (thread `index`, from 1).
    pub(crate) fn new(shared: Arc<Shared>, index: usize) -> RuntimeResult<Self> {
        let cfg = shared.cfg.clone();
        let consumer: BaseConsumer<ThreadContext> = cfg
            .consumer_config(index, ConsumerRole::Main)
            .create_with_context(ThreadContext::default())
            .map_err(|e| {
                RuntimeError::Config(format!(
                    "cannot create the consumer: {e}: check the consumer settings"
                ))
            })?;
        let restore_consumer: BaseConsumer = cfg
            .consumer_config(index, ConsumerRole::Restore)
            .create()
            .map_err(|e| {
                RuntimeError::Config(format!(
                    "cannot create the restore consumer: {e}: check the consumer settings"
                ))
            })?;
        let producer = cfg
            .producer_config(index)
            .create_with_context(CollectorContext::default())
            .map_err(|e| {
                RuntimeError::Config(format!(
                    "cannot create the producer: {e}: check the producer settings"
                ))
            })?;
        let collector = Rc::new(RefCell::new(KafkaCollector::new(
            producer,
            cfg.application_id.clone(),
            cfg.exactly_once(),
            cfg.api_timeout,
            shared.metrics.clone(),
        )?));
        let restorer = Restorer::new(
            restore_consumer,
            shared.restore_listener.clone(),
            cfg.api_timeout,
            shared.changelogs.clone(),
        )?;
        let global = match &shared.plan.global {
            Some(plan) => {
                let c: Rc<RefCell<dyn crate::processor::RecordCollector>> = collector.clone();
                Some(GlobalState::new(&cfg, &shared.topology, plan, c, index)?)
            }
            None => None,
        };
        let tasks = TaskManager::new(
            cfg.clone(),
            shared.topology.clone(),
            shared.plan.clone(),
            collector.clone(),
            shared.metrics.clone(),
        )?;
        let mut offset_resets: HashMap<String, AutoOffsetReset> = shared
            .topology
            .offset_resets
            .iter()
            .map(|(topic, policy)| {
                let name = resolve_topic(&shared.topology, &cfg.application_id, topic);
                (name, *policy)
            })
            .collect();
        for topic in &shared.topology.repartition_topics {
            let name = resolve_topic(&shared.topology, &cfg.application_id, topic);
            offset_resets.insert(name, AutoOffsetReset::Earliest);
        }
        Ok(StreamThread {
            index,
            shared,
            consumer,
            collector,
            restorer,
            tasks,
            global,
            assigned_once: false,
            offset_resets,
        })
    }

    /// Runs until the instance stops (`Ok`) or something fails (`Err`; the
    /// caller then closes the thread dirty).
    pub(crate) fn run(&mut self) -> RuntimeResult<()> {
        if let Some(global) = &mut self.global {
            let shared = self.shared.clone();
            global.bootstrap(|| shared.stopping())?;
        }
        let topics = self.shared.plan.source_topics();
        let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        if !refs.is_empty() {
            self.consumer
                .subscribe(&refs)
                .map_err(|e| RuntimeError::client("subscribing to the source topics", e))?;
        }
        // After subscribing: the group join goes on in librdkafka's threads
        // meanwhile (it is what the thread waits for next anyway).
        self.collector.borrow_mut().init_transactions()?;
        loop {
            match self.run_loop() {
                Err(RuntimeError::TaskCorrupted(reason)) => self.recover_corrupted(&reason)?,
                other => return other,
            }
        }
    }

    /// The processing loop of [`run`](Self::run).
    fn run_loop(&mut self) -> RuntimeResult<()> {
        let cfg = self.shared.cfg.clone();
        let mut last_commit = Instant::now();
        let mut last_cleanup = Instant::now();
        let mut commit_failing_since = None;
        // Whether the last loop processed nothing.
        let mut idle = false;
        while !self.shared.stopping() {
            let buffered = self.tasks.has_buffered();
            let restoring = !self.tasks.all_running();
            // While restoring, the restore consumer's poll below does the
            // waiting: the main consumer's partitions are paused then. When
            // records are buffered but no task could take one (they wait
            // for another input), a short wait keeps the loop from spinning.
            let timeout = if restoring || (buffered && !idle) {
                Duration::ZERO
            } else if buffered {
                Duration::from_millis(1)
            } else {
                cfg.poll
            };
            if !self.tasks.buffers_full() {
                self.poll(timeout)?;
            }
            if restoring {
                self.tasks.create_pending(&mut self.restorer)?;
                self.tasks.restore(
                    &mut self.restorer,
                    10_000,
                    Duration::from_millis(if buffered { 0 } else { 20 }),
                )?;
            }
            self.apply_pauses()?;
            if let Some(global) = &mut self.global {
                global.poll(PROCESS_BUDGET, Duration::ZERO)?;
            }
            self.refresh_lags();
            idle = self.tasks.process(PROCESS_BUDGET)? == 0;
            self.tasks.punctuate_wall_clock()?;
            self.collector.borrow().poll();
            if cfg.exactly_once() {
                self.collector.borrow_mut().poll_commit()?;
            }
            if !cfg.exactly_once()
                && let Some(e) = self.collector.borrow().take_error()
            {
                return Err(e);
            }
            // Under exactly-once, a commit still running in the background
            // postpones the next one until it is over (`poll_commit` above
            // ends it): starting the next would wait for it, and the thread
            // would stop processing for as long as the broker is slow to
            // acknowledge (100-140 ms stalls in the benchmarks). Meanwhile
            // the thread goes on, holding what it sends (bounded, see
            // `KafkaCollector`); the commit interval is a least interval.
            if last_commit.elapsed() >= cfg.commit_interval
                && !(cfg.exactly_once() && self.collector.borrow().commit_in_progress())
            {
                self.periodic_commit(&mut commit_failing_since)?;
                last_commit = Instant::now();
            }
            if self.index == 1
                && last_cleanup.elapsed() >= cfg.cleanup_delay.max(Duration::from_millis(100))
            {
                last_cleanup = Instant::now();
                self.tasks.clean_unowned();
            }
            let state = if self.assigned_once && self.tasks.all_running() {
                ThreadState::Running
            } else if self.assigned_once {
                ThreadState::PartitionsAssigned
            } else {
                ThreadState::Starting
            };
            self.shared.set_thread_state(self.index, state);
        }
        Ok(())
    }

    /// Gives the task manager the lags of the empty input partitions that
    /// `max.task.idle.ms` decides on: the high watermark of the partition's
    /// last fetch response less the consumer's position, both as librdkafka
    /// knows them (no request is sent, except once per partition for the
    /// committed offset, which is the position until the consumer has
    /// handed over a record: librdkafka reports none before). Unknown until
    /// the partition has been fetched from.
    fn refresh_lags(&mut self) {
        let parts = self.tasks.partitions_needing_lag();
        if parts.is_empty() {
            return;
        }
        let native = self.consumer.client().native_ptr();
        // The positions of just these partitions: `Consumer::position`
        // lists and looks up the whole assignment, every loop.
        let mut wanted = TopicPartitionList::with_capacity(parts.len());
        for (topic, partition, _) in &parts {
            wanted.add_partition(topic, *partition);
        }
        // SAFETY: `native` is the live handle of `self.consumer` and
        // `wanted` a valid list that the call fills in place.
        let err = unsafe { rdkafka::bindings::rd_kafka_position(native, wanted.ptr()) };
        let positions = (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR)
            .then_some(wanted);
        let watermarks = |topic: &str, partition: i32| -> Option<(i64, i64)> {
            let name = std::ffi::CString::new(topic).ok()?;
            let (mut low, mut high) = (-1i64, -1i64);
            // SAFETY: `native` is the live handle of `self.consumer`, `name`
            // a NUL-terminated string that outlives the call, and
            // `low`/`high` valid out-pointers; the call only reads
            // librdkafka's cached partition state under its own lock.
            let err = unsafe {
                rdkafka::bindings::rd_kafka_get_watermark_offsets(
                    native,
                    name.as_ptr(),
                    partition,
                    &mut low,
                    &mut high,
                )
            };
            (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
                && low >= 0
                && high >= 0)
                .then_some((low, high))
        };
        let mut missing_start = TopicPartitionList::new();
        let lags: Vec<Option<i64>> = parts
            .iter()
            .map(|(topic, partition, start)| {
                let (_, high) = watermarks(topic, *partition)?;
                let consumed = positions
                    .as_ref()
                    .and_then(|p| p.find_partition(topic, *partition))
                    .and_then(|e| match e.offset() {
                        rdkafka::Offset::Offset(o) if o >= 0 => Some(o),
                        _ => None,
                    });
                let position = consumed.or(*start);
                if position.is_none() {
                    missing_start.add_partition(topic, *partition);
                }
                Some((high - position?).max(0))
            })
            .collect();
        self.tasks.set_lags(|topic, partition| {
            parts
                .iter()
                .position(|(t, p, _)| t == topic && *p == partition)
                .and_then(|i| lags[i])
        });
        if missing_start.count() == 0 {
            return;
        }
        // Fetched once per partition and assignment: the committed offset,
        // or, with none, where `auto.offset.reset` starts (Kafka Streams'
        // default: the log start).
        let latest = self.reset_offset() == Some(Offset::End);
        match self
            .consumer
            .committed_offsets(missing_start, self.shared.cfg.api_timeout)
        {
            Ok(committed) => {
                for e in committed.elements() {
                    let start = match e.offset() {
                        rdkafka::Offset::Offset(o) if o >= 0 => Some(o),
                        _ => watermarks(e.topic(), e.partition())
                            .map(|(low, high)| if latest { high } else { low }),
                    };
                    if let Some(o) = start {
                        self.tasks.set_start_position(e.topic(), e.partition(), o);
                    }
                }
            }
            Err(e) => log::warn!("thread {}: reading committed offsets: {e}", self.index),
        }
    }

    fn poll(&mut self, timeout: Duration) -> RuntimeResult<()> {
        let mut wait = timeout;
        for _ in 0..MAX_POLL_RECORDS {
            let item = self.consumer.poll(wait);
            wait = Duration::ZERO;
            match item {
                None => {
                    self.handle_rebalance_events()?;
                    break;
                }
                Some(Ok(m)) => {
                    self.tasks.enqueue(
                        m.topic(),
                        m.partition(),
                        m.offset(),
                        m.timestamp().to_millis().unwrap_or(-1),
                        m.key(),
                        m.payload(),
                        || match m.headers() {
                            Some(h) => {
                                let mut out = Headers::new();
                                for h in h.iter() {
                                    out.add(h.key, h.value.map(<[u8]>::to_vec));
                                }
                                out
                            }
                            None => Headers::new(),
                        },
                    )?;
                }
                Some(Err(e)) => {
                    match e.rdkafka_error_code() {
                        Some(RDKafkaErrorCode::UnknownTopicOrPartition)
                        | Some(RDKafkaErrorCode::UnknownTopic) => {
                            log::warn!("consumer: {e}: a source topic is missing; create it")
                        }
                        _ => log::warn!("consumer: {e}"),
                    }
                    self.handle_rebalance_events()?;
                    break;
                }
            }
        }
        Ok(())
    }

    fn take_events(&self) -> Vec<RebalanceEvent> {
        self.consumer
            .context()
            .events
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default()
    }

    fn handle_rebalance_events(&mut self) -> RuntimeResult<()> {
        for event in self.take_events() {
            match event {
                RebalanceEvent::Revoke(parts) => {
                    self.shared
                        .set_thread_state(self.index, ThreadState::PartitionsRevoked);
                    log::info!(
                        "thread {}: partitions revoked: {}",
                        self.index,
                        fmt_parts(&parts)
                    );
                    if self.consumer.assignment_lost() {
                        log::warn!(
                            "thread {}: assignment lost; closing tasks dirty",
                            self.index
                        );
                        self.close_tasks_dirty();
                    } else {
                        match self.commit() {
                            Ok(()) => self.tasks.close_all(true, &mut self.restorer),
                            Err(e) => {
                                log::warn!(
                                    "thread {}: commit on revoke failed: {e}; closing tasks dirty",
                                    self.index
                                );
                                self.close_tasks_dirty();
                            }
                        }
                    }
                    self.consumer
                        .unassign()
                        .map_err(|e| RuntimeError::client("releasing revoked partitions", e))?;
                }
                RebalanceEvent::Assign(parts) => {
                    self.shared
                        .set_thread_state(self.index, ThreadState::PartitionsAssigned);
                    log::info!(
                        "thread {}: partitions assigned: {}",
                        self.index,
                        fmt_parts(&parts)
                    );
                    let (tpl, committed) = self.start_offsets(&parts)?;
                    self.assigned_once = true;
                    self.tasks.assign(&parts, &mut self.restorer)?;
                    self.consumer
                        .assign(&tpl)
                        .map_err(|e| RuntimeError::client("taking assigned partitions", e))?;
                    // Nothing is fetched for a task until it is restored:
                    // its partitions are paused before the first poll. Only
                    // those: pausing a partition while librdkafka looks up
                    // its start offset voids the lookup, and the next one
                    // waits 500 ms.
                    self.apply_pauses()?;
                    for (t, p, o) in committed {
                        self.tasks.set_start_position(&t, p, o);
                    }
                }
            }
            self.shared
                .set_thread_tasks(self.index, self.tasks.task_ids());
        }
        Ok(())
    }

    /// Where `auto.offset.reset` starts a partition with no committed
    /// offset: the log start (Kafka Streams' default) or end; `None` when
    /// it is `none` (an error, raised by librdkafka).
    fn reset_offset(&self) -> Option<Offset> {
        match self
            .shared
            .cfg
            .consumer_config(self.index, ConsumerRole::Main)
            .get("auto.offset.reset")
        {
            Some("latest" | "largest" | "end") => Some(Offset::End),
            None | Some("earliest" | "smallest" | "beginning") => Some(Offset::Beginning),
            Some(_) => None,
        }
    }

    /// The assignment to hand librdkafka: each partition at its committed
    /// offset or, with none, where its reset policy says (the source's own,
    /// earliest for a repartition topic, else `auto.offset.reset`); also
    /// the committed offsets found, as (topic, partition, offset).
    ///
    /// Left to itself, librdkafka reads the committed offsets too, but it
    /// waits a fixed 100 ms before it looks up where a partition with no
    /// committed offset starts, which every first start of an application
    /// paid once. A logical start offset given in the assignment is looked
    /// up at once. When the committed offsets cannot be read here, or with
    /// `auto.offset.reset=none`, the partitions are assigned without an
    /// offset and librdkafka does all of it, as before; unless a partition
    /// has a policy of its own, which only this thread knows.
    fn start_offsets(&self, parts: &[(String, i32)]) -> RuntimeResult<StartOffsets> {
        let mut tpl = TopicPartitionList::new();
        for (t, p) in parts {
            tpl.add_partition(t, *p);
        }
        let own_policy = parts
            .iter()
            .any(|(t, _)| self.offset_resets.contains_key(t));
        let global = self.reset_offset();
        if parts.is_empty() || (global.is_none() && !own_policy) {
            return Ok((tpl, Vec::new()));
        }
        let committed = match self
            .consumer
            .committed_offsets(tpl.clone(), self.shared.cfg.api_timeout)
        {
            Ok(c) => c,
            Err(e) => {
                // A slow coordinator should not fail the thread: librdkafka
                // reads the offsets itself then, and resets by
                // `auto.offset.reset` alone.
                if own_policy {
                    log::warn!(
                        "thread {}: reading committed offsets before the assignment: {e}; partitions without one start where auto.offset.reset says, not by their sources' policies",
                        self.index
                    );
                } else {
                    log::debug!(
                        "thread {}: reading committed offsets before the assignment: {e}",
                        self.index
                    );
                }
                return Ok((tpl, Vec::new()));
            }
        };
        let mut out = TopicPartitionList::new();
        let mut found = Vec::new();
        // Partitions to start at a point in time: (topic, partition, ms).
        let mut by_time = Vec::new();
        for e in committed.elements() {
            let offset = match (e.error(), e.offset()) {
                (Ok(()), Offset::Offset(o)) if o >= 0 => {
                    found.push((e.topic().to_string(), e.partition(), o));
                    Offset::Offset(o)
                }
                (Ok(()), _) => match self.offset_resets.get(e.topic()) {
                    Some(AutoOffsetReset::Earliest) => Offset::Beginning,
                    Some(AutoOffsetReset::Latest) => Offset::End,
                    Some(AutoOffsetReset::ByDuration(d)) => {
                        let since = chrono::Utc::now().timestamp_millis()
                            - i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
                        by_time.push((e.topic().to_string(), e.partition(), since.max(0)));
                        Offset::End
                    }
                    Some(AutoOffsetReset::None) => {
                        return Err(RuntimeError::Config(format!(
                            "no committed offset for input partition {}-{} and its source's reset policy is AutoOffsetReset::None: commit an offset for it, or pick another policy with Consumed::with_offset_reset_policy",
                            e.topic(),
                            e.partition()
                        )));
                    }
                    None => match global {
                        Some(reset) => reset,
                        // `auto.offset.reset=none`: librdkafka raises it.
                        None => Offset::Invalid,
                    },
                },
                (Err(_), _) => Offset::Invalid,
            };
            out.add_partition_offset(e.topic(), e.partition(), offset)
                .map_err(|e| RuntimeError::client("building the assignment", e))?;
        }
        if !by_time.is_empty() {
            let mut query = TopicPartitionList::new();
            for (t, p, ms) in &by_time {
                query
                    .add_partition_offset(t, *p, Offset::Offset(*ms))
                    .map_err(|e| RuntimeError::client("building the offsets-by-time query", e))?;
            }
            let answer = self
                .consumer
                .offsets_for_times(query, self.shared.cfg.api_timeout)
                .map_err(|e| RuntimeError::client("looking up offsets by time", e))?;
            for e in answer.elements() {
                // No record at or after the time: the end, as Kafka's
                // consumer resets then.
                if let (Ok(()), Offset::Offset(o)) = (e.error(), e.offset())
                    && o >= 0
                {
                    out.set_partition_offset(e.topic(), e.partition(), Offset::Offset(o))
                        .map_err(|e| RuntimeError::client("building the assignment", e))?;
                }
            }
        }
        Ok((out, found))
    }

    fn apply_pauses(&mut self) -> RuntimeResult<()> {
        let (pause, resume) = self.tasks.pause_changes();
        let to_tpl = |parts: &[(String, i32)]| {
            let mut tpl = TopicPartitionList::new();
            for (t, p) in parts {
                tpl.add_partition(t, *p);
            }
            tpl
        };
        if !pause.is_empty() {
            self.consumer
                .pause(&to_tpl(&pause))
                .map_err(|e| RuntimeError::client("pausing partitions", e))?;
        }
        if !resume.is_empty() {
            self.consumer
                .resume(&to_tpl(&resume))
                .map_err(|e| RuntimeError::client("resuming partitions", e))?;
        }
        Ok(())
    }

    /// The commit of every `commit.interval.ms`. Under at-least-once a
    /// commit that fails with a retriable error (the group coordinator
    /// moving, a broker briefly unreachable) is logged and made again at the
    /// next interval, as Kafka Streams does, until `task.timeout.ms` passes
    /// without one succeeding: nothing is lost meanwhile, as the offsets are
    /// committed (and the checkpoints written) only once it succeeds.
    fn periodic_commit(&mut self, failing_since: &mut Option<Instant>) -> RuntimeResult<()> {
        match self.commit_with(true) {
            Ok(()) => {
                *failing_since = None;
                Ok(())
            }
            Err(e) if !self.shared.cfg.exactly_once() && e.is_retriable() => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= self.shared.cfg.task_timeout {
                    log::error!(
                        "thread {}: commits have failed for {:?} (task.timeout.ms): {e}",
                        self.index,
                        since.elapsed()
                    );
                    return Err(e);
                }
                log::warn!(
                    "thread {}: commit failed, retrying at the next commit interval: {e}",
                    self.index
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Commits: tasks flush their caches, then under at-least-once the
    /// producer is flushed, the offsets committed and, every 10,000
    /// changelog records, the checkpoints written; under exactly-once the
    /// offsets go into the transaction, which commits.
    pub(crate) fn commit(&mut self) -> RuntimeResult<()> {
        self.commit_with(false)
    }

    /// [`commit`](Self::commit); with `background`, an exactly-once
    /// transaction commits on another thread while this one goes on
    /// processing (the periodic commit: nothing waits for it to be over;
    /// a failure surfaces at the next send or loop, as the same error).
    fn commit_with(&mut self, background: bool) -> RuntimeResult<()> {
        let started = Instant::now();
        if let Some(global) = &mut self.global {
            global.flush()?;
        }
        self.tasks.commit_tasks()?;
        let caches_flushed = started.elapsed();
        let offsets = self.tasks.offsets_to_commit()?;
        if self.shared.cfg.exactly_once() {
            if self.collector.borrow().in_transaction() || offsets.count() > 0 {
                let group = self.consumer.group_metadata().ok_or_else(|| {
                    RuntimeError::IllegalState("the consumer has no group metadata".into())
                })?;
                if background {
                    self.collector
                        .borrow_mut()
                        .commit_transaction_in_background(offsets, group)?;
                } else {
                    self.collector
                        .borrow_mut()
                        .commit_transaction(&offsets, &group)?;
                }
            }
        } else {
            self.collector.borrow().flush()?;
            if offsets.count() > 0 {
                self.consumer
                    .commit(&offsets, CommitMode::Sync)
                    .map_err(|e| match e.rdkafka_error_code() {
                        // A rebalance in progress is not a lost
                        // membership: the tasks stay, and the commit is made
                        // again on revocation or at the next interval (a
                        // retriable error). Closing them dirty would process
                        // their uncommitted records twice.
                        Some(
                            RDKafkaErrorCode::IllegalGeneration
                            | RDKafkaErrorCode::UnknownMemberId
                            | RDKafkaErrorCode::FencedInstanceId,
                        ) => RuntimeError::TaskMigrated(format!("committing offsets: {e}")),
                        _ => RuntimeError::client("committing offsets", e),
                    })?;
            }
            self.tasks.maybe_checkpoint()?;
        }
        self.tasks.mark_committed();
        self.shared.metrics.add_commit();
        log::debug!(
            "thread {}: committed in {:?} (caches {:?})",
            self.index,
            started.elapsed(),
            caches_flushed
        );
        Ok(())
    }

    /// Recovers from [`RuntimeError::TaskCorrupted`] as Kafka Streams
    /// does: the open transaction is aborted (exactly-once), every task is
    /// closed dirty and its state wiped (its stores may hold writes whose
    /// changelog records were lost or aborted), and the tasks are created
    /// again for the same partitions: they restore from their changelogs
    /// and read their inputs again from the last committed offsets. The
    /// thread stays in the group.
    fn recover_corrupted(&mut self, reason: &str) -> RuntimeResult<()> {
        log::warn!(
            "thread {}: {reason}; closing the tasks dirty, wiping their state and restoring it, then reprocessing from the last committed offsets",
            self.index
        );
        self.shared.metrics.add_corruption();
        if self.shared.cfg.exactly_once() {
            self.collector.borrow_mut().abort_transaction();
        }
        // Errors of sends made before the abort belong to the recovered
        // tasks: drop them.
        let _ = self.collector.borrow().take_error();
        self.tasks.close_all_corrupted(&mut self.restorer);
        let assignment = self
            .consumer
            .assignment()
            .map_err(|e| RuntimeError::client("reading the assignment", e))?;
        let parts = partitions(&assignment);
        if parts.is_empty() {
            return Ok(());
        }
        // Assigning the same partitions at their committed offsets drops
        // what was fetched beyond them and fetches it again. Partitions
        // with a reset policy of their own need it applied here: librdkafka
        // knows only `auto.offset.reset`.
        let tpl = if parts
            .iter()
            .any(|(t, _)| self.offset_resets.contains_key(t))
        {
            self.start_offsets(&parts)?.0
        } else {
            let mut tpl = TopicPartitionList::new();
            for (t, p) in &parts {
                tpl.add_partition_offset(t, *p, rdkafka::Offset::Stored)
                    .map_err(|e| RuntimeError::client("rewinding to the committed offsets", e))?;
            }
            tpl
        };
        self.consumer
            .assign(&tpl)
            .map_err(|e| RuntimeError::client("rewinding to the committed offsets", e))?;
        self.consumer
            .pause(&tpl)
            .map_err(|e| RuntimeError::client("pausing partitions", e))?;
        self.tasks.assign(&parts, &mut self.restorer)?;
        self.tasks.mark_all_paused();
        self.shared
            .set_thread_tasks(self.index, self.tasks.task_ids());
        Ok(())
    }

    fn close_tasks_dirty(&mut self) {
        if self.shared.cfg.exactly_once() {
            self.collector.borrow_mut().abort_transaction();
        }
        self.tasks.close_all(false, &mut self.restorer);
    }

    /// Closes the tasks after a migration (the group moved them): dirty,
    /// and the thread goes on with the next assignment.
    pub(crate) fn handle_migration(&mut self) {
        self.close_tasks_dirty();
    }

    /// Closes the thread: tasks (clean after a final commit when `clean`),
    /// then the clients; the consumer leaves the group.
    pub(crate) fn shutdown(mut self, clean: bool) {
        self.shared
            .set_thread_state(self.index, ThreadState::PendingShutdown);
        if clean && !self.tasks.is_empty() {
            match self.commit() {
                Ok(()) => self.tasks.close_all(true, &mut self.restorer),
                Err(e) => {
                    log::warn!(
                        "thread {}: final commit failed: {e}; closing tasks dirty",
                        self.index
                    );
                    self.close_tasks_dirty();
                }
            }
        } else {
            self.close_tasks_dirty();
        }
        if let Some(global) = &mut self.global {
            global.close();
        }
        self.consumer
            .context()
            .closing
            .store(true, Ordering::SeqCst);
        self.consumer.unsubscribe();
        if !self.shared.cfg.exactly_once() {
            let _ = self.collector.borrow().flush();
        }
        log::info!(
            "thread {}: shut down{}",
            self.index,
            if clean { "" } else { " (dirty)" }
        );
    }

    pub(crate) fn task_ids(&self) -> Vec<crate::processor::TaskId> {
        self.tasks.task_ids()
    }
}

fn fmt_parts(parts: &[(String, i32)]) -> String {
    if parts.is_empty() {
        return "none".into();
    }
    parts
        .iter()
        .map(|(t, p)| format!("{t}-{p}"))
        .collect::<Vec<_>>()
        .join(", ")
}
