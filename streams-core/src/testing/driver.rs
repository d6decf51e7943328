//! The driver itself.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::topics::{TestInputTopic, TestOutputTopic};
use crate::config::StreamsConfig;
use crate::error::StreamsError;
use crate::processor::node::RawView;
use crate::processor::{Headers, RecordCollector, TaskId, TaskMetrics};
use crate::serde::SerdeRef;
use crate::state::{
    KeyValueStore, SessionStore, StoreResult, TimestampedKeyValueStore, TimestampedWindowStore,
    WindowStore,
};
use crate::task::{StreamTask, TaskOptions};
use crate::topology::Topology;
use crate::topology::resolve_topic;

/// A record as the topology wrote it.
#[derive(Debug, Clone)]
pub(crate) struct Produced {
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) timestamp: i64,
    pub(crate) headers: Headers,
}

/// Collects everything sinks and changelogs send.
#[derive(Default)]
struct DriverCollector {
    sent: Vec<(String, Produced)>,
}

impl RecordCollector for DriverCollector {
    fn send(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &Headers,
        timestamp: i64,
        _partition: Option<i32>,
    ) -> Result<(), StreamsError> {
        self.sent.push((
            topic.to_string(),
            Produced {
                key: key.map(<[u8]>::to_vec),
                value: value.map(<[u8]>::to_vec),
                timestamp,
                headers: headers.clone(),
            },
        ));
        Ok(())
    }
}

pub(crate) struct DriverState {
    task: Option<StreamTask>,
    global_task: Option<StreamTask>,
    collector: Rc<RefCell<DriverCollector>>,
    outputs: HashMap<String, VecDeque<Produced>>,
    /// Records waiting to be processed, per topic, with the order in which
    /// topics first received records (to break timestamp ties).
    queues: Vec<(String, VecDeque<Produced>)>,
    internal_topics: HashSet<String>,
    offsets: HashMap<String, i64>,
    /// Per input topic (one partition each), the largest timestamp its
    /// source's extractor gave so far: the extractor's `partition_time`.
    partition_times: HashMap<String, i64>,
    pub(crate) wall_clock_ms: i64,
}

impl DriverState {
    pub(crate) fn pipe(
        &mut self,
        topic: &str,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<(), StreamsError> {
        let timestamp = self.extract_timestamp(topic, &key, &value, timestamp, &headers)?;
        let record = Produced {
            key,
            value,
            timestamp,
            headers,
        };
        if let Some(global) = self.global_task.as_mut().filter(|g| g.reads(topic)) {
            let offset = next_offset(&mut self.offsets, topic);
            global.process(
                topic,
                0,
                offset,
                record.key.as_deref(),
                record.value.as_deref(),
                record.timestamp,
                record.headers,
            )?;
            global.commit()?;
            self.capture();
            return self.complete_all_work();
        }
        match &self.task {
            Some(t) if t.reads(topic) => {}
            _ => return Err(StreamsError::TestDriver(format!("unknown topic: {topic}"))),
        }
        self.enqueue(topic, record);
        self.complete_all_work()
    }

    /// The timestamp the source of `topic` gives a piped record: its
    /// extractor's, or the record's own (see
    /// [`TimestampExtractor`](crate::processor::TimestampExtractor)).
    fn extract_timestamp(
        &mut self,
        topic: &str,
        key: &Option<Vec<u8>>,
        value: &Option<Vec<u8>>,
        timestamp: i64,
        headers: &Headers,
    ) -> Result<i64, StreamsError> {
        let task = match (&self.global_task, &self.task) {
            (Some(g), _) if g.reads(topic) => g,
            (_, Some(t)) if t.reads(topic) => t,
            _ => return Ok(timestamp),
        };
        // The offset the record will get: after those of the topic still
        // queued.
        let queued = self
            .queues
            .iter()
            .find(|(t, _)| t == topic)
            .map_or(0, |(_, q)| q.len() as i64);
        let offset = self.offsets.get(topic).copied().unwrap_or(0) + queued;
        let partition_time = self.partition_times.entry(topic.to_string()).or_insert(-1);
        task.stamp(
            RawView {
                topic,
                partition: 0,
                offset,
                timestamp,
                key: key.as_deref(),
                value: value.as_deref(),
                headers,
            },
            partition_time,
        )
    }

    fn enqueue(&mut self, topic: &str, record: Produced) {
        match self.queues.iter_mut().find(|(t, _)| t == topic) {
            Some((_, q)) => q.push_back(record),
            None => self
                .queues
                .push((topic.to_string(), VecDeque::from([record]))),
        }
    }

    /// Moves what the topology sent to the output topics, and re-queues
    /// records of internal topics as inputs.
    fn capture(&mut self) {
        let sent = std::mem::take(&mut self.collector.borrow_mut().sent);
        for (topic, record) in sent {
            if self.internal_topics.contains(&topic) {
                self.enqueue(&topic, record.clone());
            }
            self.outputs.entry(topic).or_default().push_back(record);
        }
    }

    fn next_queued(&mut self) -> Option<(String, Produced)> {
        let (i, _) = self
            .queues
            .iter()
            .enumerate()
            .filter_map(|(i, (_, q))| q.front().map(|r| (i, r.timestamp)))
            .min_by_key(|&(i, ts)| (ts, i))?;
        let (topic, q) = &mut self.queues[i];
        let record = q.pop_front()?;
        Some((topic.clone(), record))
    }

    fn complete_all_work(&mut self) -> Result<(), StreamsError> {
        self.capture();
        while let Some((topic, record)) = self.next_queued() {
            let offset = next_offset(&mut self.offsets, &topic);
            let Some(task) = self.task.as_mut() else {
                break;
            };
            task.set_wall_clock(self.wall_clock_ms);
            task.process(
                &topic,
                0,
                offset,
                record.key.as_deref(),
                record.value.as_deref(),
                record.timestamp,
                record.headers,
            )?;
            task.maybe_punctuate_stream_time()?;
            task.commit()?;
            self.capture();
        }
        Ok(())
    }

    pub(crate) fn take_output(&mut self, topic: &str) -> Option<Produced> {
        self.outputs.get_mut(topic)?.pop_front()
    }

    pub(crate) fn output_len(&self, topic: &str) -> usize {
        self.outputs.get(topic).map_or(0, VecDeque::len)
    }
}

fn next_offset(offsets: &mut HashMap<String, i64>, topic: &str) -> i64 {
    let o = offsets.entry(topic.to_string()).or_insert(0);
    let current = *o;
    *o += 1;
    current
}

/// A key-value store as the driver shows it: plain values, whether the
/// store keeps timestamps or not (as Kafka's `getKeyValueStore`).
pub enum KeyValueStoreView<K, V> {
    /// A plain key-value store.
    Plain(KeyValueStore<K, V>),
    /// A timestamped key-value store (what DSL aggregations and tables use).
    Timestamped(TimestampedKeyValueStore<K, V>),
}

impl<K, V> KeyValueStoreView<K, V> {
    /// The value of `key`.
    pub fn get(&self, key: &K) -> StoreResult<Option<V>> {
        match self {
            KeyValueStoreView::Plain(s) => s.get(key),
            KeyValueStoreView::Timestamped(s) => Ok(s.get(key)?.map(|v| v.value)),
        }
    }

    /// Every entry, in key order (of the serialized keys).
    pub fn all(&self) -> StoreResult<Vec<(K, V)>> {
        match self {
            KeyValueStoreView::Plain(s) => s.all(),
            KeyValueStoreView::Timestamped(s) => {
                Ok(s.all()?.into_iter().map(|(k, v)| (k, v.value)).collect())
            }
        }
    }

    /// An estimate of the number of entries.
    pub fn approximate_num_entries(&self) -> StoreResult<u64> {
        match self {
            KeyValueStoreView::Plain(s) => s.approximate_num_entries(),
            KeyValueStoreView::Timestamped(s) => s.approximate_num_entries(),
        }
    }
}

/// Runs a [`Topology`] in memory (Kafka Streams' `TopologyTestDriver`).
///
/// ```
/// use streams_core::config::StreamsConfig;
/// use streams_core::dsl::{Consumed, Produced, StreamsBuilder};
/// use streams_core::serde::Serdes;
/// use streams_core::testing::{TestRecord, TopologyTestDriver};
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream("in", Consumed::with(Serdes::string(), Serdes::string()))
///     .map_values(|v| v.map(|s| s.to_uppercase()))
///     .to("out", Produced::with(Serdes::string(), Serdes::string()));
/// let driver = TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new()).unwrap();
/// let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
/// let output = driver.create_output_topic("out", Serdes::string(), Serdes::string());
/// input.pipe_input_at("k".into(), "hello".into(), 7).unwrap();
/// assert_eq!(output.read_record().unwrap(), TestRecord::new(Some("k".into()), Some("HELLO".into()), 7));
/// ```
pub struct TopologyTestDriver {
    state: Rc<RefCell<DriverState>>,
    application_id: Arc<str>,
}

impl TopologyTestDriver {
    /// A driver whose mocked wall clock starts at the current time.
    pub fn new(topology: Topology, config: StreamsConfig) -> Result<Self, StreamsError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Self::with_wall_clock(topology, config, now)
    }

    /// A driver whose mocked wall clock starts at `initial_wall_clock_ms`.
    pub fn with_wall_clock(
        topology: Topology,
        config: StreamsConfig,
        initial_wall_clock_ms: i64,
    ) -> Result<Self, StreamsError> {
        let application_id: Arc<str> = config
            .get(crate::config::APPLICATION_ID)
            .unwrap_or("dummy-topology-test-driver-app-id")
            .into();
        let collector = Rc::new(RefCell::new(DriverCollector::default()));
        // One pool for all of the driver's stores, as Kafka's driver gives
        // its task one `ThreadCache`.
        let cache_pool = crate::state::CachePool::new();
        let options = || -> Result<TaskOptions, StreamsError> {
            Ok(TaskOptions {
                state_dir: None,
                cache_max_bytes: config.cache_max_bytes()?,
                cache_pool: Some(cache_pool.clone()),
                deserialization_handler: config.deserialization_handler()?,
                // Kafka's driver sets the internal emit intervals to 0.
                emit_interval_ms: 0,
                wall_clock_ms: initial_wall_clock_ms,
                timestamp_extractor: config.default_timestamp_extractor()?,
                continue_on_processing_error: config.continue_on_processing_error()?,
            })
        };
        let has_local = topology.nodes.iter().any(|n| !n.global);
        let has_global = topology.nodes.iter().any(|n| n.global);
        let task = if has_local {
            Some(StreamTask::open(
                &topology,
                application_id.clone(),
                TaskId {
                    subtopology: 0,
                    partition: 0,
                },
                |i| !topology.nodes[i].global,
                collector.clone(),
                options()?,
            )?)
        } else {
            None
        };
        let global_task = if has_global {
            Some(StreamTask::open(
                &topology,
                application_id.clone(),
                TaskId {
                    subtopology: 0,
                    partition: 0,
                },
                |i| topology.nodes[i].global,
                collector.clone(),
                options()?,
            )?)
        } else {
            None
        };
        let internal_topics = topology
            .repartition_topics
            .iter()
            .map(|t| resolve_topic(&topology, &application_id, t))
            .collect();
        Ok(TopologyTestDriver {
            state: Rc::new(RefCell::new(DriverState {
                task,
                global_task,
                collector,
                outputs: HashMap::new(),
                queues: Vec::new(),
                internal_topics,
                offsets: HashMap::new(),
                partition_times: HashMap::new(),
                wall_clock_ms: initial_wall_clock_ms,
            })),
            application_id,
        })
    }

    /// An input topic whose records without timestamps get the driver's
    /// initial wall-clock time.
    pub fn create_input_topic<K, V>(
        &self,
        topic: &str,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> TestInputTopic<K, V> {
        let now = self.state.borrow().wall_clock_ms;
        self.create_input_topic_with_time(topic, key_serde, value_serde, now, Duration::ZERO)
    }

    /// An input topic whose records without timestamps start at `start_ms`
    /// and advance by `auto_advance` each.
    pub fn create_input_topic_with_time<K, V>(
        &self,
        topic: &str,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        start_ms: i64,
        auto_advance: Duration,
    ) -> TestInputTopic<K, V> {
        TestInputTopic {
            state: self.state.clone(),
            topic: topic.to_string(),
            key_serde,
            value_serde,
            current_time: start_ms,
            advance_ms: i64::try_from(auto_advance.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// An output topic to read what the topology wrote to `topic`.
    /// Repartition and changelog topics are readable too, under their full
    /// names (`<application.id>-...`).
    pub fn create_output_topic<K, V>(
        &self,
        topic: &str,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> TestOutputTopic<K, V> {
        TestOutputTopic {
            state: self.state.clone(),
            topic: topic.to_string(),
            key_serde,
            value_serde,
        }
    }

    /// Moves the mocked wall clock forward, firing wall-clock punctuations.
    pub fn advance_wall_clock_time(&self, by: Duration) -> Result<(), StreamsError> {
        let mut state = self.state.borrow_mut();
        state.wall_clock_ms = state
            .wall_clock_ms
            .saturating_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
        let now = state.wall_clock_ms;
        if let Some(task) = state.task.as_mut() {
            task.maybe_punctuate_wall_clock(now)?;
            task.commit()?;
        }
        state.complete_all_work()
    }

    /// The application id the driver runs with.
    pub fn application_id(&self) -> &str {
        &self.application_id
    }

    /// Names of the topics the topology has written to so far.
    pub fn produced_topic_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.state.borrow().outputs.keys().cloned().collect();
        names.sort();
        names
    }

    fn handle(&self, name: &str) -> Option<Rc<dyn std::any::Any>> {
        let state = self.state.borrow();
        state
            .task
            .as_ref()
            .and_then(|t| t.store_handle(name))
            .or_else(|| {
                state
                    .global_task
                    .as_ref()
                    .and_then(|t| t.store_handle(name))
            })
    }

    /// A key-value store by name, plain or timestamped (values shown
    /// without their timestamps); `None` if there is no such store with
    /// these types.
    pub fn get_key_value_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Option<KeyValueStoreView<K, V>> {
        let h = self.handle(name)?;
        if let Some(s) = h.downcast_ref::<KeyValueStore<K, V>>() {
            return Some(KeyValueStoreView::Plain(s.clone()));
        }
        h.downcast_ref::<TimestampedKeyValueStore<K, V>>()
            .map(|s| KeyValueStoreView::Timestamped(s.clone()))
    }

    /// A timestamped key-value store by name.
    pub fn get_timestamped_key_value_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Option<TimestampedKeyValueStore<K, V>> {
        self.handle(name)?
            .downcast_ref::<TimestampedKeyValueStore<K, V>>()
            .cloned()
    }

    /// The window store `name` with plain values (Kafka's `getWindowStore`):
    /// a timestamped window store (what windowed aggregations keep) is read
    /// through a view that drops the timestamps. `None` if there is no such
    /// store with these types.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use streams_core::config::StreamsConfig;
    /// # use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # use streams_core::testing::TopologyTestDriver;
    /// # use streams_core::window::TimeWindows;
    /// let builder = StreamsBuilder::new();
    /// let windows = TimeWindows::of_size_with_no_grace(Duration::from_millis(100)).unwrap();
    /// builder
    ///     .stream("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by_key(Grouped::none())
    ///     .windowed_by_time(windows)
    ///     .count(Materialized::as_("counts"));
    /// let driver = TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new()).unwrap();
    /// let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    /// input.pipe_input_at("k".to_string(), "v".to_string(), 150).unwrap();
    /// let store = driver.get_window_store::<String, i64>("counts").unwrap();
    /// assert_eq!(store.fetch(&"k".to_string(), 100).unwrap(), Some(1));
    /// ```
    pub fn get_window_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Option<WindowStore<K, V>> {
        let h = self.handle(name)?;
        if let Some(s) = h.downcast_ref::<WindowStore<K, V>>() {
            return Some(s.clone());
        }
        h.downcast_ref::<TimestampedWindowStore<K, V>>()
            .map(TimestampedWindowStore::as_plain)
    }

    /// The timestamped window store `name` (Kafka's
    /// `getTimestampedWindowStore`).
    ///
    /// ```
    /// # use streams_core::config::StreamsConfig;
    /// # use streams_core::dsl::StreamsBuilder;
    /// # use streams_core::testing::TopologyTestDriver;
    /// # let builder = StreamsBuilder::new();
    /// # builder.stream("in", streams_core::dsl::Consumed::with(streams_core::serde::Serdes::string(), streams_core::serde::Serdes::string()));
    /// let driver = TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new()).unwrap();
    /// assert!(driver.get_timestamped_window_store::<String, i64>("none").is_none());
    /// ```
    pub fn get_timestamped_window_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Option<TimestampedWindowStore<K, V>> {
        self.handle(name)?
            .downcast_ref::<TimestampedWindowStore<K, V>>()
            .cloned()
    }

    /// The session store `name` (Kafka's `getSessionStore`).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use streams_core::config::StreamsConfig;
    /// # use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # use streams_core::testing::TopologyTestDriver;
    /// # use streams_core::window::SessionWindows;
    /// let builder = StreamsBuilder::new();
    /// let windows = SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_millis(30)).unwrap();
    /// builder
    ///     .stream("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by_key(Grouped::none())
    ///     .windowed_by_session(windows)
    ///     .count(Materialized::as_("sessions"));
    /// let driver = TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new()).unwrap();
    /// let mut input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    /// input.pipe_input_at("k".to_string(), "v".to_string(), 10).unwrap();
    /// let store = driver.get_session_store::<String, i64>("sessions").unwrap();
    /// assert_eq!(store.fetch_session(&"k".to_string(), 10, 10).unwrap(), Some(1));
    /// ```
    pub fn get_session_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Option<SessionStore<K, V>> {
        self.handle(name)?
            .downcast_ref::<SessionStore<K, V>>()
            .cloned()
    }

    /// Any store's handle by name and handle type (window and session
    /// stores included).
    pub fn get_state_store<H: Clone + 'static>(&self, name: &str) -> Option<H> {
        self.handle(name)?.downcast_ref::<H>().cloned()
    }

    /// Names of every store.
    pub fn get_all_state_stores(&self) -> Vec<String> {
        let state = self.state.borrow();
        let mut names: Vec<String> = state
            .task
            .iter()
            .chain(state.global_task.iter())
            .flat_map(|t| t.store_names())
            .collect();
        names.sort();
        names
    }

    /// The task's counters (dropped records, lateness ...).
    pub fn metrics(&self) -> TaskMetrics {
        self.state
            .borrow()
            .task
            .as_ref()
            .map(|t| t.ctx.metrics.clone())
            .unwrap_or_default()
    }

    /// Closes the processors and stores.
    pub fn close(self) -> Result<(), StreamsError> {
        let mut state = self.state.borrow_mut();
        if let Some(t) = state.task.as_mut() {
            t.close()?;
        }
        if let Some(t) = state.global_task.as_mut() {
            t.close()?;
        }
        Ok(())
    }
}
