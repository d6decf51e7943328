//! [`KafkaStreams`]: runs a [`Topology`] on a Kafka cluster.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::config::RuntimeConfig;
use super::errors::{RuntimeError, StreamsUncaughtExceptionResponse};
use super::internal_topics::{self, TaskPlan, TopicsGate};
use super::restore::StateRestoreListener;
use super::shutdown::{self, ShutdownRequest, Watcher};
use super::stream_thread::StreamThread;
use crate::config::StreamsConfig;
use crate::error::StreamsError;
use crate::topology::Topology;

/// The state of a [`KafkaStreams`] instance (Kafka Streams' `State`, with
/// its transitions).
///
/// ```text
/// from               to
/// Created            Rebalancing, PendingShutdown
/// Rebalancing        Running, PendingShutdown, PendingError
/// Running            Rebalancing, PendingShutdown, PendingError
/// PendingShutdown    NotRunning
/// PendingError       Error
/// NotRunning, Error  (final)
/// ```
///
/// `Error` is final, as in Kafka Streams: the threads have stopped and
/// released everything, and `close` leaves the state as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Built, not started.
    Created,
    /// Started; some thread is joining the group, or creating and restoring
    /// its tasks.
    Rebalancing,
    /// Every thread processes its tasks.
    Running,
    /// `close` was called; threads are committing and closing.
    PendingShutdown,
    /// Closed.
    NotRunning,
    /// The uncaught-error handler chose to shut the client (or the
    /// application) down; the threads are stopping.
    PendingError,
    /// Stopped after an error; every thread has stopped.
    Error,
}

impl State {
    /// Whether the instance is started and not shutting down.
    pub fn is_running_or_rebalancing(self) -> bool {
        matches!(self, State::Running | State::Rebalancing)
    }

    /// Whether a state change from `self` to `to` is allowed (Kafka
    /// Streams' `State.isValidTransition`).
    ///
    /// ```
    /// use streams_core::runtime::State;
    /// assert!(State::Created.is_valid_transition(State::Rebalancing));
    /// assert!(State::Running.is_valid_transition(State::PendingError));
    /// assert!(!State::Error.is_valid_transition(State::PendingShutdown));
    /// ```
    pub fn is_valid_transition(self, to: State) -> bool {
        use State::*;
        matches!(
            (self, to),
            (Created, Rebalancing | PendingShutdown)
                | (Rebalancing, Running | PendingShutdown | PendingError)
                | (Running, Rebalancing | PendingShutdown | PendingError)
                | (PendingShutdown, NotRunning)
                | (PendingError, Error)
        )
    }
}

/// The state of one stream thread (for the client state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThreadState {
    Starting,
    PartitionsRevoked,
    PartitionsAssigned,
    Running,
    PendingShutdown,
    Dead,
}

/// Counters of an instance, summed over its threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamsMetrics {
    /// Records processed (taken from an input queue).
    pub processed_records: u64,
    /// Records skipped by the log-and-continue deserialization handler.
    pub skipped_deserialization: u64,
    /// Records written to the dead-letter topic.
    pub dead_letter_records: u64,
    /// Records dropped by processors (negative timestamps, null keys where
    /// a key is required, late records ...).
    pub dropped_records: u64,
    /// Changelog records restored into stores.
    pub restored_records: u64,
    /// Commits done.
    pub commits: u64,
    /// Stream threads replaced after an error.
    pub replaced_threads: u64,
    /// Times a thread recovered its tasks after a send or a transaction
    /// failed with an error retrying may fix (Kafka Streams'
    /// `TaskCorruptedException`): tasks closed, state wiped and restored,
    /// input read again from the last committed offsets.
    pub task_corruptions: u64,
    /// Records sent (to sinks and changelogs) while an exactly-once commit
    /// ran in the background; the collector held them back and sent them
    /// in the next transaction once the commit was over.
    pub records_held_during_commits: u64,
}

/// The counters threads update.
#[derive(Debug, Default)]
pub(crate) struct SharedMetrics {
    processed: AtomicU64,
    skipped: AtomicU64,
    dead_letter: AtomicU64,
    dropped: AtomicU64,
    restored: AtomicU64,
    commits: AtomicU64,
    replaced: AtomicU64,
    corruptions: AtomicU64,
    held: AtomicU64,
}

impl SharedMetrics {
    pub(crate) fn add_processed(&self, n: u64) {
        self.processed.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn add_skipped(&self, n: u64) {
        self.skipped.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn add_dead_letter(&self, n: u64) {
        self.dead_letter.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn add_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn add_restored(&self, n: u64) {
        self.restored.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn add_commit(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn add_corruption(&self) {
        self.corruptions.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn add_held(&self, n: u64) {
        self.held.fetch_add(n, Ordering::Relaxed);
    }
    fn snapshot(&self) -> StreamsMetrics {
        StreamsMetrics {
            processed_records: self.processed.load(Ordering::Relaxed),
            skipped_deserialization: self.skipped.load(Ordering::Relaxed),
            dead_letter_records: self.dead_letter.load(Ordering::Relaxed),
            dropped_records: self.dropped.load(Ordering::Relaxed),
            restored_records: self.restored.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            replaced_threads: self.replaced.load(Ordering::Relaxed),
            task_corruptions: self.corruptions.load(Ordering::Relaxed),
            records_held_during_commits: self.held.load(Ordering::Relaxed),
        }
    }
}

type StateListener = Arc<dyn Fn(State, State) + Send + Sync>;
type ErrorHandler = Arc<dyn Fn(&StreamsError) -> StreamsUncaughtExceptionResponse + Send + Sync>;

struct StateInner {
    state: State,
    threads: Vec<ThreadState>,
    live_threads: usize,
    /// Task ids per thread (index - 1), refreshed by the threads.
    tasks: Vec<Vec<crate::processor::TaskId>>,
}

impl StateInner {
    /// A client that has not started its `threads` threads yet.
    fn created(threads: usize) -> Self {
        StateInner {
            state: State::Created,
            threads: vec![ThreadState::Starting; threads],
            live_threads: threads,
            tasks: vec![Vec::new(); threads],
        }
    }
}

/// The answer of the thread that creates the missing changelog topics
/// (see `KafkaStreams::start`).
type ChangelogCreation = mpsc::Receiver<Result<(), RuntimeError>>;

/// What the threads of an instance share.
pub(crate) struct Shared {
    pub(crate) cfg: Arc<RuntimeConfig>,
    pub(crate) topology: Arc<Topology>,
    pub(crate) plan: Arc<TaskPlan>,
    pub(crate) restore_listener: Option<Arc<dyn StateRestoreListener>>,
    pub(crate) metrics: Arc<SharedMetrics>,
    /// Open once the changelog topics exist (see `start`).
    pub(crate) changelogs: Arc<TopicsGate>,
    inner: Mutex<StateInner>,
    changed: Condvar,
    listener: Option<StateListener>,
    handler: ErrorHandler,
    stop: AtomicBool,
}

impl Shared {
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Moves the client to `to` if allowed; calls the listener outside the
    /// lock.
    fn transition(&self, to: State) -> bool {
        let from = {
            let Ok(mut inner) = self.inner.lock() else {
                return false;
            };
            match Self::apply(&mut inner, to) {
                Some(from) => from,
                None => return false,
            }
        };
        self.announce(from, to);
        true
    }

    /// The state change itself, under the lock: the state it left, or
    /// `None` when `to` is not a valid move from the current state.
    fn apply(inner: &mut StateInner, to: State) -> Option<State> {
        let from = inner.state;
        if from == to || !from.is_valid_transition(to) {
            return None;
        }
        inner.state = to;
        Some(from)
    }

    /// Wakes the waiters and tells the listener of a change made by
    /// [`apply`](Self::apply) (outside the lock).
    fn announce(&self, from: State, to: State) {
        self.changed.notify_all();
        log::info!("state transition from {from:?} to {to:?}");
        if let Some(l) = &self.listener {
            l(to, from);
        }
    }

    /// Records the state of thread `index` and moves the client to what
    /// the threads' states together make it: RUNNING once every live
    /// thread runs, REBALANCING while any does not.
    ///
    /// The client's state is decided under the same lock as the thread's:
    /// decided apart, two threads reaching RUNNING together could apply
    /// their decisions in the wrong order (the first one's REBALANCING
    /// after the second one's RUNNING), and the client stayed REBALANCING
    /// with every thread running, as nothing changed afterwards.
    pub(crate) fn set_thread_state(&self, index: usize, state: ThreadState) {
        let (from, target) = {
            let Ok(mut inner) = self.inner.lock() else {
                return;
            };
            if let Some(slot) = inner.threads.get_mut(index - 1) {
                if *slot == state {
                    return;
                }
                *slot = state;
            }
            if !inner.state.is_running_or_rebalancing() {
                return;
            }
            let mut live = inner
                .threads
                .iter()
                .filter(|t| !matches!(t, ThreadState::Dead | ThreadState::PendingShutdown))
                .peekable();
            // No live thread (one failed and waits for the handler's
            // decision): the state stays as it is.
            if live.peek().is_none() {
                return;
            }
            let target = if live.all(|t| *t == ThreadState::Running) {
                State::Running
            } else {
                State::Rebalancing
            };
            match Self::apply(&mut inner, target) {
                Some(from) => (from, target),
                None => return,
            }
        };
        self.announce(from, target);
    }

    pub(crate) fn set_thread_tasks(&self, index: usize, tasks: Vec<crate::processor::TaskId>) {
        if let Ok(mut inner) = self.inner.lock()
            && let Some(slot) = inner.tasks.get_mut(index - 1)
        {
            *slot = tasks;
        }
    }

    fn thread_exited(&self, index: usize) {
        let last = match self.inner.lock() {
            Ok(mut inner) => {
                if let Some(slot) = inner.threads.get_mut(index - 1) {
                    *slot = ThreadState::Dead;
                }
                if let Some(slot) = inner.tasks.get_mut(index - 1) {
                    slot.clear();
                }
                inner.live_threads = inner.live_threads.saturating_sub(1);
                inner.live_threads == 0
            }
            Err(_) => false,
        };
        // After an error the client is in ERROR once every thread is done
        // (a no-op in any other state).
        if last {
            self.transition(State::Error);
        }
        self.changed.notify_all();
    }

    /// Stops every thread after an error: `PENDING_ERROR` now, `ERROR` once
    /// the last thread has stopped.
    fn shutdown_on_error(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let stopped = self.transition(State::PendingError)
            && self
                .inner
                .lock()
                .map(|i| i.live_threads == 0)
                .unwrap_or(false);
        if stopped {
            self.transition(State::Error);
        }
    }

    /// Stops every thread because the application shuts down (this
    /// instance's thread `failing` asked for it, or another instance did):
    /// `PENDING_ERROR` now, `ERROR` once the last thread has stopped.
    ///
    /// In Kafka Streams the request reaches each instance in a rebalance
    /// whose assignment takes every partition away, so an instance with a
    /// thread that owns partitions (the failing thread aside: its
    /// replacement owns none) first goes to `REBALANCING`, as its threads
    /// have their partitions revoked; the client states are the same here.
    /// The steps are taken under one lock, so that no thread's state change
    /// comes between them.
    fn shutdown_application(&self, failing: Option<usize>) {
        self.stop.store(true, Ordering::SeqCst);
        let steps = {
            let Ok(mut inner) = self.inner.lock() else {
                return;
            };
            let mut steps = Vec::new();
            let owns_partitions = inner.tasks.iter().enumerate().any(|(i, tasks)| {
                Some(i + 1) != failing
                    && !tasks.is_empty()
                    && inner.threads.get(i) != Some(&ThreadState::Dead)
            });
            let mut path = Vec::new();
            if owns_partitions && inner.state == State::Running {
                path.push(State::Rebalancing);
            }
            path.push(State::PendingError);
            if inner.live_threads == 0 {
                path.push(State::Error);
            }
            for to in path {
                let from = inner.state;
                if !from.is_valid_transition(to) {
                    break;
                }
                inner.state = to;
                steps.push((to, from));
            }
            steps
        };
        self.changed.notify_all();
        for (to, from) in steps {
            log::info!("state transition from {from:?} to {to:?}");
            if let Some(l) = &self.listener {
                l(to, from);
            }
        }
    }
}

/// The instances of this process, by application id, for
/// [`StreamsUncaughtExceptionResponse::ShutdownApplication`].
fn instances() -> &'static Mutex<HashMap<String, Vec<Weak<Shared>>>> {
    static INSTANCES: OnceLock<Mutex<HashMap<String, Vec<Weak<Shared>>>>> = OnceLock::new();
    INSTANCES.get_or_init(|| Mutex::new(HashMap::new()))
}

fn run_thread(shared: Arc<Shared>, index: usize) {
    loop {
        if shared.stopping() {
            break;
        }
        let mut thread = match StreamThread::new(shared.clone(), index) {
            Ok(t) => t,
            Err(e) => {
                if handle_error(&shared, index, e.into()) {
                    std::thread::sleep(Duration::from_millis(500));
                    continue;
                }
                break;
            }
        };
        let result = loop {
            let r = thread.run();
            match r {
                // The group moved the tasks while this thread committed:
                // close them dirty and go on (Kafka Streams'
                // TaskMigratedException, never shown to the handler).
                Err(RuntimeError::TaskMigrated(reason)) => {
                    log::warn!("thread {index}: {reason}; closing its tasks and rejoining");
                    thread.handle_migration();
                    shared.set_thread_tasks(index, thread.task_ids());
                    continue;
                }
                other => break other,
            }
        };
        match result {
            Ok(()) => {
                thread.shutdown(true);
                break;
            }
            // A fenced producer cannot be used again: replace the thread's
            // clients without bothering the handler.
            Err(RuntimeError::Fenced(reason)) => {
                log::warn!(
                    "thread {index}: producer fenced ({reason}); closing its tasks dirty and starting over"
                );
                thread.shutdown(false);
                continue;
            }
            Err(e) => {
                log::error!("thread {index} failed: {e}");
                // The handler decides before this thread's consumer leaves
                // the group, so that under ShutdownApplication the other
                // instances stop rather than first take over its tasks.
                let replace = handle_error(&shared, index, e.into());
                thread.shutdown(false);
                if replace {
                    continue;
                }
                break;
            }
        }
    }
    shared.thread_exited(index);
}

/// Applies the uncaught-error handler; `true` when the thread is to be
/// replaced.
fn handle_error(shared: &Arc<Shared>, index: usize, error: StreamsError) -> bool {
    if shared.stopping() {
        return false;
    }
    let response = (shared.handler)(&error);
    match response {
        StreamsUncaughtExceptionResponse::ReplaceThread => {
            log::warn!("replacing stream thread {index} after: {error}");
            shared.metrics.replaced.fetch_add(1, Ordering::Relaxed);
            true
        }
        StreamsUncaughtExceptionResponse::ShutdownClient => {
            log::error!("shutting down the client after: {error}");
            shared.shutdown_on_error();
            false
        }
        StreamsUncaughtExceptionResponse::ShutdownApplication => {
            log::error!("shutting down the application after: {error}");
            shared.shutdown_application(Some(index));
            // The instances of this process stop at once...
            let peers: Vec<Arc<Shared>> = instances()
                .lock()
                .ok()
                .and_then(|m| m.get(&*shared.cfg.application_id).cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(Weak::upgrade)
                .filter(|p| !Arc::ptr_eq(p, shared))
                .collect();
            for p in peers {
                p.shutdown_application(None);
            }
            // ...and every instance, in any process, once it reads the
            // request (sent before this thread's consumer leaves the group).
            let cfg = &shared.cfg;
            let request = ShutdownRequest {
                process_id: cfg.process_id.clone(),
                client_id: cfg.client_id.clone(),
                thread: format!("{}-StreamThread-{index}", cfg.client_id),
                reason: error.to_string(),
            };
            match shutdown::send(cfg, &request) {
                Ok(()) => log::error!(
                    "sent a shutdown request to every instance of application {}",
                    cfg.application_id
                ),
                Err(e) => log::error!(
                    "could not send the shutdown request to the other instances of application {} ({e}): only the instances of this process stop",
                    cfg.application_id
                ),
            }
            false
        }
    }
}

/// Reads the application's shutdown requests until the instance stops, and
/// stops it when another instance asks (see [`shutdown`]).
fn watch_shutdown_requests(shared: Arc<Shared>, mut watcher: Watcher) {
    while !shared.stopping() {
        let Some(request) = watcher.poll() else {
            continue;
        };
        // Its own request: the instance is stopping already.
        if request.process_id == shared.cfg.process_id {
            continue;
        }
        log::error!(
            "a Kafka Streams client of application {} is requesting to shut down the application (client {}, process {}, thread {}): {}",
            shared.cfg.application_id,
            request.client_id,
            request.process_id,
            request.thread,
            request.reason
        );
        shared.shutdown_application(None);
    }
}

/// Runs a [`Topology`] on Kafka (Kafka Streams' `KafkaStreams`).
///
/// `start` checks the configuration, connects, creates the internal topics
/// and starts `num.stream.threads` threads, which join the consumer group
/// `application.id`, restore their tasks' stores and process. `close`
/// commits, closes every task (writing `.checkpoint` files) and leaves the
/// group. More instances with the same `application.id` share the work;
/// when one leaves, its tasks move to the others and are restored there
/// from their changelogs.
///
/// ```
/// use std::time::Duration;
/// use streams_core::config::StreamsConfig;
/// use streams_core::dsl::{Consumed, Produced, StreamsBuilder};
/// use streams_core::runtime::{KafkaStreams, State};
/// use streams_core::serde::Serdes;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream("in", Consumed::with(Serdes::string(), Serdes::string()))
///     .to("out", Produced::with(Serdes::string(), Serdes::string()));
/// // No application.id: start fails and says what to set.
/// let mut streams = KafkaStreams::new(builder.build().unwrap(), StreamsConfig::new());
/// let err = streams.start().unwrap_err();
/// assert!(err.to_string().contains("application.id"));
/// assert_eq!(streams.state(), State::Created);
/// assert!(streams.close(Duration::from_secs(1)));
/// assert_eq!(streams.state(), State::NotRunning);
/// ```
pub struct KafkaStreams {
    topology: Option<Topology>,
    config: StreamsConfig,
    listener: Option<StateListener>,
    handler: Option<ErrorHandler>,
    restore_listener: Option<Arc<dyn StateRestoreListener>>,
    shared: Option<Arc<Shared>>,
    threads: Vec<JoinHandle<()>>,
    /// The thread reading the application's shutdown requests.
    watcher: Option<JoinHandle<()>>,
    closed: bool,
}

impl std::fmt::Debug for KafkaStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaStreams")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl KafkaStreams {
    /// An instance of `topology` configured by `config`; nothing happens
    /// until [`start`](Self::start).
    pub fn new(topology: Topology, config: StreamsConfig) -> Self {
        KafkaStreams {
            topology: Some(topology),
            config,
            listener: None,
            handler: None,
            restore_listener: None,
            shared: None,
            threads: Vec::new(),
            watcher: None,
            closed: false,
        }
    }

    /// Calls `listener(new_state, old_state)` on every state change. Set it
    /// before `start`.
    ///
    /// ```
    /// use streams_core::config::StreamsConfig;
    /// use streams_core::runtime::{KafkaStreams, State};
    /// use streams_core::topology::Topology;
    /// let mut streams = KafkaStreams::new(Topology::default(), StreamsConfig::new());
    /// streams.set_state_listener(|new, old| println!("{old:?} -> {new:?}"));
    /// ```
    pub fn set_state_listener(&mut self, listener: impl Fn(State, State) + Send + Sync + 'static) {
        self.listener = Some(Arc::new(listener));
    }

    /// Decides what happens when a stream thread fails (Kafka Streams'
    /// `setUncaughtExceptionHandler`). Without a handler the client shuts
    /// down (`ShutdownClient`), as in Kafka Streams. Set it before `start`.
    ///
    /// ```
    /// use streams_core::config::StreamsConfig;
    /// use streams_core::runtime::{KafkaStreams, StreamsUncaughtExceptionResponse};
    /// use streams_core::topology::Topology;
    /// let mut streams = KafkaStreams::new(Topology::default(), StreamsConfig::new());
    /// streams.set_uncaught_exception_handler(|_error| StreamsUncaughtExceptionResponse::ReplaceThread);
    /// ```
    pub fn set_uncaught_exception_handler(
        &mut self,
        handler: impl Fn(&StreamsError) -> StreamsUncaughtExceptionResponse + Send + Sync + 'static,
    ) {
        self.handler = Some(Arc::new(handler));
    }

    /// Hears about every store restoration of this instance. Set it before
    /// `start`.
    ///
    /// ```
    /// use streams_core::config::StreamsConfig;
    /// use streams_core::runtime::{KafkaStreams, StateRestoreListener};
    /// use streams_core::topology::Topology;
    /// struct Log;
    /// impl StateRestoreListener for Log {}
    /// let mut streams = KafkaStreams::new(Topology::default(), StreamsConfig::new());
    /// streams.set_global_state_restore_listener(Log);
    /// ```
    pub fn set_global_state_restore_listener(
        &mut self,
        listener: impl StateRestoreListener + 'static,
    ) {
        self.restore_listener = Some(Arc::new(listener));
    }

    /// The current state.
    pub fn state(&self) -> State {
        match &self.shared {
            None if self.closed => State::NotRunning,
            None => State::Created,
            Some(s) => s.inner.lock().map(|i| i.state).unwrap_or(State::Error),
        }
    }

    /// Counters summed over the threads.
    pub fn metrics(&self) -> StreamsMetrics {
        self.shared
            .as_ref()
            .map(|s| s.metrics.snapshot())
            .unwrap_or_default()
    }

    /// The tasks this instance runs now, sorted (as `<subtopology>_<partition>`).
    pub fn active_tasks(&self) -> Vec<crate::processor::TaskId> {
        let mut all: Vec<_> = self
            .shared
            .as_ref()
            .and_then(|s| {
                s.inner
                    .lock()
                    .ok()
                    .map(|i| i.tasks.iter().flatten().copied().collect::<Vec<_>>())
            })
            .unwrap_or_default();
        all.sort();
        all.dedup();
        all
    }

    /// Waits until the state is `state` (true) or `timeout` passes (false).
    pub fn wait_for_state(&self, state: State, timeout: Duration) -> bool {
        let Some(shared) = &self.shared else {
            return self.state() == state;
        };
        let deadline = Instant::now() + timeout;
        let Ok(mut inner) = shared.inner.lock() else {
            return false;
        };
        loop {
            if inner.state == state {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            match shared.changed.wait_timeout(inner, deadline - now) {
                Ok((guard, _)) => inner = guard,
                Err(_) => return false,
            }
        }
    }

    /// Starts processing. Fails, with a message naming the fix, when the
    /// configuration is incomplete or wrong, when the cluster cannot be
    /// reached within `default.api.timeout.ms`, when a source topic is
    /// missing, or when internal or co-partitioned topics do not have the
    /// partition counts the topology needs. The state stays `CREATED` then.
    ///
    /// Missing changelog topics are created while the stream threads
    /// already join the group and open their stores (nothing reads or
    /// writes a changelog before restoration, which waits for them); `start`
    /// returns once they exist. When creating them fails (authorization,
    /// a `replication.factor` larger than the cluster ...), `start` stops
    /// the threads it started and returns the error: the state is then
    /// `NOT_RUNNING`, and the uncaught-error handler is not called.
    pub fn start(&mut self) -> Result<(), StreamsError> {
        if self.shared.is_some() || self.closed {
            return Err(RuntimeError::IllegalState(format!(
                "start() can only be called once, in state CREATED (the state is {:?})",
                self.state()
            ))
            .into());
        }
        let mut cfg = RuntimeConfig::new(&self.config)?;
        let topology = self
            .topology
            .take()
            .ok_or_else(|| RuntimeError::IllegalState("the topology is gone".into()))?;
        // With persistent stores the process id is kept in the state
        // directory (see `persistent_process_id`), unless an instance of
        // this process already runs with it (two instances sharing a state
        // directory must not fence each other).
        if topology.stores.iter().any(|s| s.factory.is_persistent()) {
            let id = super::state_dir::persistent_process_id(&cfg.app_state_dir, &cfg.process_id);
            let taken = instances()
                .lock()
                .ok()
                .and_then(|m| m.get(&*cfg.application_id).cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(Weak::upgrade)
                .any(|p| p.cfg.process_id == id && !p.stopping());
            if !taken {
                cfg.set_process_id(id);
            }
        }
        let cfg = Arc::new(cfg);
        // The watcher starts reading shutdown requests here: those written
        // before this instance started never stop it. When the topic does
        // not exist yet, the watcher's thread creates it (in the background:
        // creating a topic takes a quarter of a second, which every first
        // start would wait for) and reads it from its start, as any request
        // in it is newer than this instance.
        let result = self
            .prepare(&cfg, &topology)
            .and_then(|(plan, exists, creating)| {
                let watcher = if exists {
                    Some(Watcher::new(&cfg)?)
                } else {
                    None
                };
                Ok((plan, watcher, creating))
            });
        let (plan, watcher, creating) = match result {
            Ok(prepared) => prepared,
            Err(e) => {
                self.topology = Some(topology);
                return Err(e.into());
            }
        };
        let n = cfg.num_threads;
        let shared = Arc::new(Shared {
            cfg: cfg.clone(),
            topology: Arc::new(topology),
            plan: Arc::new(plan),
            restore_listener: self.restore_listener.clone(),
            metrics: Arc::new(SharedMetrics::default()),
            changelogs: Arc::new(if creating.is_some() {
                TopicsGate::pending()
            } else {
                TopicsGate::open()
            }),
            inner: Mutex::new(StateInner::created(n)),
            changed: Condvar::new(),
            listener: self.listener.clone(),
            handler: self.handler.clone().unwrap_or_else(|| {
                Arc::new(|_: &StreamsError| StreamsUncaughtExceptionResponse::ShutdownClient)
            }),
            stop: AtomicBool::new(false),
        });
        if let Ok(mut m) = instances().lock() {
            let list = m.entry(cfg.application_id.to_string()).or_default();
            list.retain(|w| w.strong_count() > 0);
            list.push(Arc::downgrade(&shared));
        }
        shared.transition(State::Rebalancing);
        for index in 1..=n {
            let s = shared.clone();
            let name = format!("{}-StreamThread-{index}", cfg.client_id);
            let handle = std::thread::Builder::new()
                .name(name)
                .spawn(move || run_thread(s, index))
                .map_err(|e| {
                    RuntimeError::IllegalState(format!("cannot start a stream thread: {e}"))
                })?;
            self.threads.push(handle);
        }
        let s = shared.clone();
        match std::thread::Builder::new()
            .name(format!("{}-ShutdownRequestWatcher", cfg.client_id))
            .spawn(move || {
                let watcher = match watcher {
                    Some(w) => w,
                    None => match shutdown::create_and_watch(&s.cfg) {
                        Ok(w) => w,
                        Err(e) => {
                            log::error!(
                                "cannot watch for shutdown requests ({e}): this instance will not stop when another instance of the application asks"
                            );
                            return;
                        }
                    },
                };
                watch_shutdown_requests(s, watcher)
            })
        {
            Ok(handle) => self.watcher = Some(handle),
            Err(e) => log::error!(
                "cannot start the thread that reads shutdown requests ({e}): this instance will not stop when another instance of the application asks"
            ),
        }
        self.shared = Some(shared.clone());
        let Some(creating) = creating else {
            return Ok(());
        };
        // The threads are joining the group meanwhile. The creating thread
        // gives up within the API timeout; the extra second only guards
        // against it vanishing without an answer.
        let created = creating
            .recv_timeout(cfg.api_timeout + Duration::from_secs(1))
            .unwrap_or_else(|_| {
                Err(RuntimeError::IllegalState(
                    "creating the changelog topics ended without an answer".into(),
                ))
            });
        match created {
            Ok(()) => {
                shared.changelogs.resolve(true);
                Ok(())
            }
            Err(e) => {
                // Stop first, then fail the gate: a thread that sees the
                // failure sees the stop too, and leaves without calling the
                // uncaught-error handler (this error is start()'s to report).
                log::error!("{e}; stopping the stream threads");
                shared.stop.store(true, Ordering::SeqCst);
                shared.changelogs.resolve(false);
                self.close(cfg.api_timeout);
                Err(e.into())
            }
        }
    }

    /// Plans the tasks and creates the internal topics; also says whether
    /// the shutdown-request topic exists (it is not waited for). Missing
    /// changelog topics are created on a thread of their own, whose answer
    /// comes through the returned channel: the stream threads can join the
    /// group and open their stores meanwhile (see `TopicsGate`).
    fn prepare(
        &self,
        cfg: &Arc<RuntimeConfig>,
        topology: &Topology,
    ) -> Result<(TaskPlan, bool, Option<ChangelogCreation>), RuntimeError> {
        if topology.nodes.is_empty() {
            return Err(RuntimeError::Config(
                "the topology is empty: add a source (StreamsBuilder::stream/table) before starting".into(),
            ));
        }
        let started = Instant::now();
        let client = Arc::new(internal_topics::MetadataClient::new(cfg)?);
        let existing = client.partition_counts(cfg)?;
        log::debug!(
            "cluster metadata read in {:?} ({} topics)",
            started.elapsed(),
            existing.len()
        );
        let plan = internal_topics::plan(topology, &cfg.application_id, &existing)?;
        let (shutdown_topic, needed): (Vec<_>, Vec<_>) = plan
            .internal_topics
            .iter()
            .cloned()
            .partition(|t| t.kind == internal_topics::InternalKind::ShutdownRequests);
        // Existing changelogs are checked here with the rest; only the
        // missing ones can wait.
        let (later, now): (Vec<_>, Vec<_>) = needed.into_iter().partition(|t| {
            t.kind == internal_topics::InternalKind::Changelog && !existing.contains_key(&t.name)
        });
        let creating = if later.is_empty() {
            None
        } else {
            let (answer, creating) = mpsc::channel();
            let (cfg, client) = (cfg.clone(), client.clone());
            let existing = existing.clone();
            std::thread::Builder::new()
                .name(format!("{}-ChangelogCreator", cfg.client_id))
                .spawn(move || {
                    #[cfg(feature = "fault-injection")]
                    if let Some(reason) =
                        super::faults::take_changelog_creation_failure(&cfg.application_id)
                    {
                        let _ = answer.send(Err(RuntimeError::TopicMismatch(format!(
                            "cannot create topic '{}': {reason} (injected fault)",
                            later[0].name
                        ))));
                        return;
                    }
                    let r = internal_topics::ensure_topics_among(&cfg, &client, &later, &existing);
                    if r.is_ok() {
                        log::debug!(
                            "changelog topics ready {:?} after the start",
                            started.elapsed()
                        );
                    }
                    let _ = answer.send(r);
                })
                .map_err(|e| {
                    RuntimeError::IllegalState(format!(
                        "cannot start the thread that creates the changelog topics: {e}"
                    ))
                })?;
            Some(creating)
        };
        internal_topics::ensure_topics_among(cfg, &client, &now, &existing)?;
        let exists = shutdown_topic
            .iter()
            .all(|t| existing.contains_key(&t.name));
        if exists {
            // Checked like the others (partition count), not created.
            internal_topics::ensure_topics_among(cfg, &client, &shutdown_topic, &existing)?;
        }
        log::debug!(
            "internal topics ready {:?} after the start{}",
            started.elapsed(),
            if creating.is_some() {
                " (changelogs still being created)"
            } else {
                ""
            }
        );
        // Not on the way to the first record (the changelog creator may
        // hold the last reference; it is not waited for either).
        internal_topics::close_in_background(client);
        Ok((plan, exists, creating))
    }

    /// Stops: every thread commits, closes its tasks (writing their
    /// checkpoints) and leaves the group. Waits up to `timeout`; returns
    /// whether every thread stopped in time. The state ends `NOT_RUNNING`,
    /// or stays `ERROR` when the instance stopped after an error.
    pub fn close(&mut self, timeout: Duration) -> bool {
        let Some(shared) = self.shared.clone() else {
            if !self.closed {
                self.closed = true;
                self.topology = None;
                // Never started: CREATED -> PENDING_SHUTDOWN -> NOT_RUNNING.
                if let Some(l) = &self.listener {
                    l(State::PendingShutdown, State::Created);
                    l(State::NotRunning, State::PendingShutdown);
                }
            }
            return true;
        };
        shared.stop.store(true, Ordering::SeqCst);
        shared.transition(State::PendingShutdown);
        let deadline = Instant::now() + timeout;
        let done = {
            let Ok(mut inner) = shared.inner.lock() else {
                return false;
            };
            loop {
                if inner.live_threads == 0 {
                    break true;
                }
                let now = Instant::now();
                if now >= deadline {
                    break false;
                }
                match shared.changed.wait_timeout(inner, deadline - now) {
                    Ok((guard, _)) => inner = guard,
                    Err(_) => return false,
                }
            }
        };
        if done {
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
            // It sees the stop flag within its poll interval.
            if let Some(w) = self.watcher.take() {
                let _ = w.join();
            }
            shared.transition(State::NotRunning);
        } else {
            log::warn!("close: stream threads did not stop within {timeout:?}");
        }
        done
    }
}

impl Drop for KafkaStreams {
    fn drop(&mut self) {
        if self.shared.is_some() && !matches!(self.state(), State::NotRunning) {
            self.close(Duration::from_secs(60));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::{Consumed, Produced, StreamsBuilder};
    use crate::serde::Serdes;

    fn shared(threads: usize) -> Arc<Shared> {
        let config = StreamsConfig::new()
            .set("application.id", "app")
            .set("bootstrap.servers", "127.0.0.1:1");
        let builder = StreamsBuilder::new();
        builder
            .stream("in", Consumed::with(Serdes::string(), Serdes::string()))
            .to("out", Produced::with(Serdes::string(), Serdes::string()));
        Arc::new(Shared {
            cfg: Arc::new(RuntimeConfig::new(&config).unwrap()),
            topology: Arc::new(builder.build().unwrap()),
            plan: Arc::new(TaskPlan {
                subtopologies: Vec::new(),
                internal_topics: Vec::new(),
                global: None,
            }),
            restore_listener: None,
            metrics: Arc::default(),
            changelogs: Arc::new(TopicsGate::open()),
            inner: Mutex::new(StateInner::created(threads)),
            changed: Condvar::new(),
            listener: None,
            handler: Arc::new(|_: &StreamsError| StreamsUncaughtExceptionResponse::ShutdownClient),
            stop: AtomicBool::new(false),
        })
    }

    /// Two threads reaching RUNNING at the same moment leave the client
    /// RUNNING, whatever the interleaving (the client's state used to be
    /// decided under the lock and applied after it, and a stale
    /// REBALANCING could land last).
    #[test]
    fn threads_running_together_make_the_client_running() {
        for round in 0..5_000 {
            let s = shared(2);
            s.transition(State::Rebalancing);
            s.set_thread_state(1, ThreadState::PartitionsAssigned);
            s.set_thread_state(2, ThreadState::PartitionsAssigned);
            let barrier = Arc::new(std::sync::Barrier::new(2));
            let handles: Vec<_> = (1..=2)
                .map(|index| {
                    let (s, barrier) = (s.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        s.set_thread_state(index, ThreadState::Running);
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(
                s.inner.lock().unwrap().state,
                State::Running,
                "round {round}"
            );
        }
    }

    /// The client follows its threads: REBALANCING while one of them is
    /// not running, RUNNING again once all are.
    #[test]
    fn client_state_follows_the_threads() {
        let s = shared(2);
        s.transition(State::Rebalancing);
        s.set_thread_state(1, ThreadState::Running);
        assert_eq!(s.inner.lock().unwrap().state, State::Rebalancing);
        s.set_thread_state(2, ThreadState::Running);
        assert_eq!(s.inner.lock().unwrap().state, State::Running);
        s.set_thread_state(2, ThreadState::PartitionsRevoked);
        assert_eq!(s.inner.lock().unwrap().state, State::Rebalancing);
        s.set_thread_state(2, ThreadState::Running);
        assert_eq!(s.inner.lock().unwrap().state, State::Running);
    }
}
