//! What a topology needs from the cluster: its tasks, and the internal
//! topics (repartition and changelog) created before processing starts.
//!
//! As in Kafka Streams:
//! * a sub-topology has as many tasks as the largest partition count of its
//!   source topics;
//! * a repartition topic `<application.id>-<name>-repartition` gets the
//!   largest partition count of the source topics of the sub-topology that
//!   writes it (computed to a fixpoint, since that sub-topology may itself
//!   read repartition topics), unless it is in a co-partition group, where
//!   it takes the group's count;
//! * a changelog topic `<application.id>-<store>-changelog` gets one
//!   partition per task of the store's sub-topology, `cleanup.policy=compact`
//!   and the store's logging configs on top;
//! * topics that must be co-partitioned (join inputs) must have the same
//!   partition count, else the application fails at start;
//! * an internal topic that exists with another partition count is an
//!   error (Kafka Streams' "Existing internal topic ... has invalid
//!   partitions"), never silently used.
//!
//! One internal topic has no counterpart in Kafka Streams:
//! `<application.id>-shutdown-requests` (one partition), through which an
//! instance asks every other to shut down (see `shutdown.rs`: Kafka Streams
//! does this through the group assignment, which librdkafka does not let an
//! application extend).
//!
//! Missing changelog topics are created in the background while the stream
//! threads join the group and open their stores (creating topics takes a
//! broker about a seventh of a second, and nothing needs a changelog before
//! restoration starts); a [`TopicsGate`] holds the restorers back until
//! they exist. Repartition topics are created before the threads start:
//! the consumers subscribe to them.
//!
//! On a real broker topics are created with the admin API; on an
//! [`EmbeddedKafka`](super::EmbeddedKafka) of this process, whose admin API
//! does not answer, through the mock cluster's own API.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

use super::config::{ConsumerRole, RuntimeConfig};
use super::embedded;
use super::errors::{RuntimeError, RuntimeResult};
use crate::topology::{NodeKind, Topology};

/// Set on every internal topic, as Kafka Streams does: records keep the
/// timestamps the application gave them (stream time depends on them),
/// whatever the broker's default.
const TIMESTAMP_TYPE: (&str, &str) = ("message.timestamp.type", "CreateTime");

/// What kind of internal topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InternalKind {
    Repartition,
    Changelog,
    /// `<application.id>-shutdown-requests`.
    ShutdownRequests,
}

/// An internal topic the application needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InternalTopic {
    pub(crate) name: String,
    pub(crate) partitions: i32,
    pub(crate) configs: Vec<(String, String)>,
    pub(crate) kind: InternalKind,
}

/// A store of a sub-topology.
#[derive(Debug, Clone)]
pub(crate) struct StorePlan {
    pub(crate) name: String,
    pub(crate) changelog: Option<String>,
    pub(crate) persistent: bool,
}

/// One sub-topology as the runtime runs it.
#[derive(Debug, Clone)]
pub(crate) struct SubPlan {
    pub(crate) id: u32,
    pub(crate) nodes: BTreeSet<usize>,
    /// Source topics, resolved, with their partition counts.
    pub(crate) sources: BTreeMap<String, i32>,
    pub(crate) stores: Vec<StorePlan>,
}

/// The global part of a topology (global tables and stores).
#[derive(Debug, Clone)]
pub(crate) struct GlobalPlan {
    pub(crate) nodes: BTreeSet<usize>,
    pub(crate) sources: BTreeMap<String, i32>,
}

/// Everything the runtime needs to know about a topology on a cluster.
#[derive(Debug, Clone)]
pub(crate) struct TaskPlan {
    pub(crate) subtopologies: Vec<SubPlan>,
    pub(crate) internal_topics: Vec<InternalTopic>,
    pub(crate) global: Option<GlobalPlan>,
}

impl TaskPlan {
    /// Every topic the main consumers subscribe to.
    pub(crate) fn source_topics(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self
            .subtopologies
            .iter()
            .flat_map(|s| s.sources.keys())
            .collect();
        set.into_iter().cloned().collect()
    }

    /// The sub-topology reading `topic`.
    pub(crate) fn subtopology_of(&self, topic: &str) -> Option<&SubPlan> {
        self.subtopologies
            .iter()
            .find(|s| s.sources.contains_key(topic))
    }

    pub(crate) fn subtopology(&self, id: u32) -> Option<&SubPlan> {
        self.subtopologies.iter().find(|s| s.id == id)
    }
}

/// The topic name as tasks use it (one rule for the runtime, the
/// topology's instantiation and the test drivers).
pub(crate) use crate::topology::resolve_topic;

/// Computes the plan from the partition counts of the existing topics.
pub(crate) fn plan(
    topology: &Topology,
    application_id: &str,
    existing: &HashMap<String, i32>,
) -> RuntimeResult<TaskPlan> {
    let resolve = |t: &str| resolve_topic(topology, application_id, t);
    let repartition: BTreeSet<String> = topology
        .repartition_topics
        .iter()
        .map(|t| resolve(t))
        .collect();
    let subs: Vec<_> = topology.subtopologies();

    // Which sub-topologies write each repartition topic.
    let mut writers: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for sub in subs.iter().filter(|s| !s.global) {
        for &i in &sub.nodes {
            if let NodeKind::Sink { topic: Some(t) } = &topology.nodes[i].kind {
                let t = resolve(t);
                if repartition.contains(&t) {
                    writers.entry(t).or_default().insert(sub.id);
                }
            }
        }
    }

    // Partition counts: external topics from the cluster, repartition
    // topics by fixpoint over their writers' inputs.
    let mut counts: BTreeMap<String, i32> = BTreeMap::new();
    for sub in &subs {
        for t in &sub.source_topics {
            let t = resolve(t);
            if repartition.contains(&t) {
                continue;
            }
            match existing.get(&t) {
                Some(&n) => {
                    counts.insert(t, n);
                }
                None => return Err(RuntimeError::MissingSourceTopic(t)),
            }
        }
    }
    let groups: Vec<BTreeSet<String>> = topology
        .copartition_groups
        .iter()
        .map(|g| g.iter().map(|t| resolve(t)).collect())
        .collect();
    loop {
        let mut changed = false;
        for (topic, subs_writing) in &writers {
            if counts.contains_key(topic) {
                continue;
            }
            let mut max = None;
            let mut complete = true;
            for id in subs_writing {
                let Some(sub) = subs.iter().find(|s| s.id == *id) else {
                    continue;
                };
                for src in &sub.source_topics {
                    match counts.get(&resolve(src)) {
                        Some(&n) => max = Some(max.map_or(n, |m: i32| m.max(n))),
                        None => complete = false,
                    }
                }
            }
            if complete && let Some(n) = max {
                counts.insert(topic.clone(), n);
                changed = true;
            }
        }
        // Repartition topics of a co-partition group take the group's
        // count: the external topics' count when there are any, else the
        // largest of the repartition topics.
        for group in &groups {
            let externals: BTreeSet<i32> = group
                .iter()
                .filter(|t| !repartition.contains(*t))
                .filter_map(|t| counts.get(t).copied())
                .collect();
            let target = if let Some(&n) = externals.iter().next_back() {
                Some(n)
            } else {
                group.iter().filter_map(|t| counts.get(t).copied()).max()
            };
            if let Some(n) = target {
                for t in group.iter().filter(|t| repartition.contains(*t)) {
                    if counts.get(t) != Some(&n) {
                        counts.insert(t.clone(), n);
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    for t in &repartition {
        if !counts.contains_key(t) {
            return Err(RuntimeError::TopicMismatch(format!(
                "cannot compute the partition count of repartition topic '{t}': no sub-topology with known inputs writes it"
            )));
        }
    }
    for group in &groups {
        let by_count: BTreeMap<i32, Vec<&String>> = group
            .iter()
            .filter_map(|t| counts.get(t).map(|&n| (n, t)))
            .fold(BTreeMap::new(), |mut m, (n, t)| {
                m.entry(n).or_insert_with(Vec::new).push(t);
                m
            });
        if by_count.len() > 1 {
            let detail: Vec<String> = by_count
                .iter()
                .map(|(n, ts)| {
                    format!(
                        "{} ({n} partitions)",
                        ts.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
                    )
                })
                .collect();
            return Err(RuntimeError::TopicMismatch(format!(
                "topics joined together must have the same number of partitions (co-partitioning), but: {}: repartition one side (KStream::repartition with Repartitioned::with_number_of_partitions) or recreate the topics",
                detail.join("; ")
            )));
        }
    }

    let mut internal = Vec::new();
    // Kafka Streams gives repartition topics `retention.ms=-1` because it
    // deletes consumed records itself (DeleteRecords after each commit);
    // this runtime does not purge them, so the broker's retention applies.
    for t in &repartition {
        internal.push(InternalTopic {
            name: t.clone(),
            partitions: counts[t],
            configs: vec![
                ("cleanup.policy".into(), "delete".into()),
                (TIMESTAMP_TYPE.0.into(), TIMESTAMP_TYPE.1.into()),
                ("segment.bytes".into(), "52428800".into()),
            ],
            kind: InternalKind::Repartition,
        });
    }

    let mut subtopologies = Vec::new();
    let mut global = None;
    for sub in &subs {
        let sources: BTreeMap<String, i32> = sub
            .source_topics
            .iter()
            .map(|t| {
                let r = resolve(t);
                let n = counts
                    .get(&r)
                    .copied()
                    .or_else(|| existing.get(&r).copied())
                    .unwrap_or(0);
                (r, n)
            })
            .collect();
        if sub.global {
            for (t, &n) in &sources {
                if n == 0 {
                    return Err(RuntimeError::MissingSourceTopic(t.clone()));
                }
            }
            let g = global.get_or_insert_with(|| GlobalPlan {
                nodes: BTreeSet::new(),
                sources: BTreeMap::new(),
            });
            g.nodes.extend(sub.nodes.iter().copied());
            g.sources.extend(sources);
            continue;
        }
        let tasks = sources.values().copied().max().unwrap_or(0);
        let mut stores = Vec::new();
        let mut seen = BTreeSet::new();
        for &i in &sub.nodes {
            for s in &topology.nodes[i].stores {
                if !seen.insert(s.clone()) {
                    continue;
                }
                let Some(def) = topology.stores.iter().find(|d| &d.name == s) else {
                    continue;
                };
                if def.global {
                    continue;
                }
                let changelog = def.factory.changelog_topic(application_id);
                if let Some(c) = &changelog {
                    // Compacted; a window or session store's factory adds
                    // `cleanup.policy=compact,delete` and its retention.
                    let mut configs: BTreeMap<String, String> = BTreeMap::new();
                    configs.insert("cleanup.policy".into(), "compact".into());
                    configs.insert(TIMESTAMP_TYPE.0.into(), TIMESTAMP_TYPE.1.into());
                    if let Some(extra) = def.factory.logging_config() {
                        for (k, v) in extra {
                            configs.insert(k.clone(), v.clone());
                        }
                    }
                    internal.push(InternalTopic {
                        name: c.clone(),
                        partitions: tasks,
                        configs: configs.into_iter().collect(),
                        kind: InternalKind::Changelog,
                    });
                }
                stores.push(StorePlan {
                    name: s.clone(),
                    changelog,
                    persistent: def.factory.is_persistent(),
                });
            }
        }
        subtopologies.push(SubPlan {
            id: sub.id,
            nodes: sub.nodes.clone(),
            sources,
            stores,
        });
    }
    internal.push(shutdown_requests_topic(application_id));
    Ok(TaskPlan {
        subtopologies,
        internal_topics: internal,
        global,
    })
}

/// The topic of the application's shutdown requests: one partition, so
/// that every instance reads every request in order; requests matter for
/// seconds, so a day of retention is plenty.
pub(crate) fn shutdown_requests_topic(application_id: &str) -> InternalTopic {
    InternalTopic {
        name: super::shutdown::topic(application_id),
        partitions: 1,
        configs: vec![
            ("cleanup.policy".into(), "delete".into()),
            (TIMESTAMP_TYPE.0.into(), TIMESTAMP_TYPE.1.into()),
            ("retention.ms".into(), "86400000".into()),
        ],
        kind: InternalKind::ShutdownRequests,
    }
}

/// Where the creation of the changelog topics stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GateState {
    Pending,
    Open,
    Failed,
}

/// Holds the threads' restorers back until the changelog topics that
/// `start` creates in the background exist. `start` resolves it: open when
/// the topics show up in the metadata, failed (after asking the threads to
/// stop, so that no thread reports the failure as its own) when creating
/// them failed; `start` itself returns that error.
pub(crate) struct TopicsGate {
    /// The fast path: set once the gate is open, read before every
    /// watermark query.
    open: AtomicBool,
    state: Mutex<GateState>,
    resolved: Condvar,
}

impl TopicsGate {
    /// A gate with nothing to wait for.
    pub(crate) fn open() -> Self {
        TopicsGate {
            open: AtomicBool::new(true),
            state: Mutex::new(GateState::Open),
            resolved: Condvar::new(),
        }
    }

    /// A gate that waits for [`resolve`](Self::resolve).
    pub(crate) fn pending() -> Self {
        TopicsGate {
            open: AtomicBool::new(false),
            state: Mutex::new(GateState::Pending),
            resolved: Condvar::new(),
        }
    }

    /// Opens the gate (`created`) or fails it, and wakes the waiters.
    pub(crate) fn resolve(&self, created: bool) {
        let to = if created {
            GateState::Open
        } else {
            GateState::Failed
        };
        if let Ok(mut state) = self.state.lock() {
            *state = to;
        }
        self.open.store(created, Ordering::Release);
        self.resolved.notify_all();
    }

    /// Waits until the gate is resolved, at most `timeout`.
    pub(crate) fn wait(&self, timeout: Duration) -> RuntimeResult<()> {
        if self.open.load(Ordering::Acquire) {
            return Ok(());
        }
        let failed = || {
            RuntimeError::IllegalState(
                "the changelog topics could not be created (start() returned why)".into(),
            )
        };
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().map_err(|_| failed())?;
        loop {
            match *state {
                GateState::Open => return Ok(()),
                GateState::Failed => return Err(failed()),
                GateState::Pending => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(RuntimeError::IllegalState(format!(
                    "the changelog topics were not created within {timeout:?}"
                )));
            }
            state = self
                .resolved
                .wait_timeout(state, deadline - now)
                .map_err(|_| failed())?
                .0;
        }
    }
}

/// A client for the cluster's metadata, created once for all the
/// questions `start` asks (creating a client costs a connection and a
/// handshake; `start` asks several times, and more while topics appear).
pub(crate) struct MetadataClient {
    consumer: BaseConsumer,
}

impl MetadataClient {
    pub(crate) fn new(cfg: &RuntimeConfig) -> RuntimeResult<Self> {
        let consumer: BaseConsumer = cfg
            .consumer_config(0, ConsumerRole::Restore)
            .create()
            .map_err(|e| {
                RuntimeError::Config(format!(
                    "cannot create a Kafka client: {e}: check the client settings"
                ))
            })?;
        Ok(MetadataClient { consumer })
    }

    /// The partition count of every topic of the cluster.
    pub(crate) fn partition_counts(
        &self,
        cfg: &RuntimeConfig,
    ) -> RuntimeResult<HashMap<String, i32>> {
        let metadata = self
            .consumer
            .fetch_metadata(None, cfg.api_timeout)
            .map_err(|e| RuntimeError::Unreachable {
                bootstrap: cfg.bootstrap.clone(),
                timeout_ms: cfg.api_timeout.as_millis() as u64,
                reason: e.to_string(),
            })?;
        let mut out = HashMap::new();
        for t in metadata.topics() {
            if t.error().is_none() && !t.partitions().is_empty() {
                out.insert(t.name().to_string(), t.partitions().len() as i32);
            }
        }
        Ok(out)
    }
}

/// Creates `topics` where missing (through the mock API on an embedded
/// broker), checks the partition counts of those that exist, and waits
/// until the cluster's metadata shows them all.
pub(crate) fn ensure_topics(
    cfg: &RuntimeConfig,
    client: &MetadataClient,
    topics: &[InternalTopic],
) -> RuntimeResult<()> {
    if topics.is_empty() {
        return Ok(());
    }
    let existing = client.partition_counts(cfg)?;
    ensure_topics_among(cfg, client, topics, &existing)
}

/// [`ensure_topics`] with the cluster's partition counts already fetched
/// (`existing`): a metadata request for every topic of the cluster is the
/// slowest step of a start on a cluster with many topics.
pub(crate) fn ensure_topics_among(
    cfg: &RuntimeConfig,
    client: &MetadataClient,
    topics: &[InternalTopic],
    existing: &HashMap<String, i32>,
) -> RuntimeResult<()> {
    let mut missing = Vec::new();
    for t in topics {
        match existing.get(&t.name) {
            Some(&n) if n != t.partitions => {
                return Err(RuntimeError::TopicMismatch(format!(
                    "existing internal topic '{}' has {n} partitions, but the topology needs {}: delete it (and reset the application, e.g. with kafka-streams-application-reset) or restore the expected partition count",
                    t.name, t.partitions
                )));
            }
            Some(_) => {}
            None => missing.push(t),
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let deadline = Instant::now() + cfg.api_timeout;
    if embedded::is_embedded(&cfg.bootstrap) {
        for t in &missing {
            log::info!(
                "creating topic {} ({} partitions) on the embedded broker",
                t.name,
                t.partitions
            );
            if let Some(r) =
                embedded::create_topic_if_embedded(&cfg.bootstrap, &t.name, t.partitions)
            {
                r?;
            }
        }
    } else {
        create_with_admin(cfg, &missing, cfg.replication_factor)?;
    }
    log::debug!(
        "{} topics created in {:?}",
        missing.len(),
        (Instant::now() + cfg.api_timeout).saturating_duration_since(deadline)
    );
    // Topic creation is asynchronous on the brokers: wait until every topic
    // shows up with its partitions.
    loop {
        let now = client.partition_counts(cfg)?;
        let pending: Vec<&str> = missing
            .iter()
            .filter(|t| now.get(&t.name) != Some(&t.partitions))
            .map(|t| t.name.as_str())
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(RuntimeError::TopicMismatch(format!(
                "topics {pending:?} were created but did not appear in the cluster metadata within {} ms",
                cfg.api_timeout.as_millis()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn create_with_admin(
    cfg: &RuntimeConfig,
    topics: &[&InternalTopic],
    replication: i32,
) -> RuntimeResult<()> {
    let admin: AdminClient<DefaultClientContext> = cfg.admin_config().create().map_err(|e| {
        RuntimeError::Config(format!(
            "cannot create the admin client: {e}: check the admin.* settings"
        ))
    })?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| {
            let mut n = NewTopic::new(&t.name, t.partitions, TopicReplication::Fixed(replication));
            for (k, v) in &t.configs {
                n = n.set(k, v);
            }
            n
        })
        .collect();
    for t in topics {
        log::info!(
            "creating topic {} ({} partitions, {:?})",
            t.name,
            t.partitions,
            t.configs
        );
    }
    let options = AdminOptions::new()
        .operation_timeout(Some(cfg.api_timeout))
        .request_timeout(Some(cfg.api_timeout));
    let asked = Instant::now();
    let results = futures::executor::block_on(admin.create_topics(new_topics.iter(), &options));
    close_in_background(admin);
    let results = results.map_err(|e| RuntimeError::client("creating internal topics", e))?;
    log::debug!("the broker answered CreateTopics in {:?}", asked.elapsed());
    for r in results {
        match r {
            Ok(_) => {}
            // Another instance created it first: its partition count is
            // checked when the metadata shows it.
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(RuntimeError::TopicMismatch(format!(
                    "cannot create topic '{name}': {code}: check the broker's authorizations and settings (replication.factor={replication})"
                )));
            }
        }
    }
    Ok(())
}

/// Destroys a librdkafka client on a thread of its own. Destroying one
/// joins its threads, about 100 ms, and nothing waits for it: creating a
/// topic took 140 ms of which the broker's answer was 40.
pub(crate) fn close_in_background<T: Send + 'static>(client: T) {
    // Should the thread not start, the closure, and the client with it, is
    // dropped here.
    let _ = std::thread::Builder::new()
        .name("kstreams-client-close".into())
        .spawn(move || drop(client));
}

/// A topic to create with [`create_topics`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// The topic name.
    pub name: String,
    /// Its partition count.
    pub partitions: i32,
    /// Topic configs (`cleanup.policy` ...); ignored by the embedded broker.
    pub configs: Vec<(String, String)>,
}

impl TopicSpec {
    /// A topic with `partitions` partitions and the broker's default
    /// configs.
    ///
    /// ```
    /// use streams_core::runtime::TopicSpec;
    /// let t = TopicSpec::new("input", 3).with_config("cleanup.policy", "compact");
    /// assert_eq!(t.partitions, 3);
    /// ```
    pub fn new(name: impl Into<String>, partitions: i32) -> Self {
        TopicSpec {
            name: name.into(),
            partitions,
            configs: Vec::new(),
        }
    }

    /// Adds a topic config.
    ///
    /// ```
    /// use streams_core::runtime::TopicSpec;
    /// let t = TopicSpec::new("table", 1).with_config("cleanup.policy", "compact");
    /// assert_eq!(t.configs, vec![("cleanup.policy".to_string(), "compact".to_string())]);
    /// ```
    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }
}

/// Creates the topics an application reads and writes (its inputs and
/// outputs; internal topics are created by [`KafkaStreams`](super::KafkaStreams)
/// itself) on the cluster at `bootstrap_servers`, a real one or an
/// [`EmbeddedKafka`](super::EmbeddedKafka) of this process. Topics that
/// exist with the same partition count are left alone; another count is an
/// error.
///
/// ```
/// use streams_core::runtime::{create_topics, EmbeddedKafka, TopicSpec};
/// let kafka = EmbeddedKafka::start().unwrap();
/// create_topics(kafka.bootstrap_servers(), &[TopicSpec::new("in", 2), TopicSpec::new("out", 2)]).unwrap();
/// ```
pub fn create_topics(
    bootstrap_servers: &str,
    topics: &[TopicSpec],
) -> Result<(), crate::error::StreamsError> {
    let config = crate::config::StreamsConfig::new()
        .set(crate::config::APPLICATION_ID, "topic-admin")
        .set(crate::config::BOOTSTRAP_SERVERS, bootstrap_servers)
        .set(crate::config::DEFAULT_API_TIMEOUT_MS, "30000");
    let cfg = RuntimeConfig::new(&config)?;
    let internal: Vec<InternalTopic> = topics
        .iter()
        .map(|t| InternalTopic {
            name: t.name.clone(),
            partitions: t.partitions,
            configs: t.configs.clone(),
            kind: InternalKind::Repartition,
        })
        .collect();
    let client = MetadataClient::new(&cfg)?;
    Ok(ensure_topics(&cfg, &client, &internal)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
    use crate::serde::Serdes;

    /// Every application has one, whatever its topology.
    fn shutdown_requests() -> InternalTopic {
        InternalTopic {
            name: "app-shutdown-requests".into(),
            partitions: 1,
            configs: vec![
                ("cleanup.policy".into(), "delete".into()),
                ("message.timestamp.type".into(), "CreateTime".into()),
                ("retention.ms".into(), "86400000".into()),
            ],
            kind: InternalKind::ShutdownRequests,
        }
    }

    fn counts(pairs: &[(&str, i32)]) -> HashMap<String, i32> {
        pairs.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn word_count() -> Topology {
        let b = StreamsBuilder::new();
        b.stream("in", Consumed::with(Serdes::string(), Serdes::string()))
            .group_by(
                |_k, v| v.cloned(),
                Grouped::with(Serdes::string(), Serdes::string()),
            )
            .count(Materialized::as_("counts"))
            .to_stream()
            .to("out", Produced::with(Serdes::string(), Serdes::i64()));
        b.build().unwrap()
    }

    #[test]
    fn repartition_and_changelog_take_the_input_partition_count() {
        let plan = plan(&word_count(), "app", &counts(&[("in", 3), ("out", 1)])).unwrap();
        assert_eq!(
            plan.internal_topics,
            vec![
                InternalTopic {
                    name: "app-counts-repartition".into(),
                    partitions: 3,
                    configs: vec![
                        ("cleanup.policy".into(), "delete".into()),
                        ("message.timestamp.type".into(), "CreateTime".into()),
                        ("segment.bytes".into(), "52428800".into()),
                    ],
                    kind: InternalKind::Repartition,
                },
                InternalTopic {
                    name: "app-counts-changelog".into(),
                    partitions: 3,
                    configs: vec![
                        ("cleanup.policy".into(), "compact".into()),
                        ("message.timestamp.type".into(), "CreateTime".into()),
                    ],
                    kind: InternalKind::Changelog,
                },
                shutdown_requests(),
            ]
        );
        assert_eq!(plan.subtopologies.len(), 2);
        assert_eq!(
            plan.subtopologies[0].sources,
            BTreeMap::from([("in".to_string(), 3)])
        );
        assert_eq!(
            plan.subtopologies[1].sources,
            BTreeMap::from([("app-counts-repartition".to_string(), 3)])
        );
        assert_eq!(
            plan.source_topics(),
            vec!["app-counts-repartition".to_string(), "in".to_string()]
        );
    }

    #[test]
    fn repartition_count_is_the_largest_input_of_the_writer_through_a_chain() {
        let b = StreamsBuilder::new();
        let a = b.stream("a", Consumed::with(Serdes::string(), Serdes::string()));
        let c = b.stream("c", Consumed::with(Serdes::string(), Serdes::string()));
        a.merge(&c)
            .group_by(
                |_k, v| v.cloned(),
                Grouped::with(Serdes::string(), Serdes::string()).with_name("first"),
            )
            .count(Materialized::as_("first-counts"))
            .to_stream()
            .group_by(
                |k, _v| k.cloned(),
                Grouped::with(Serdes::string(), Serdes::i64()).with_name("second"),
            )
            .count(Materialized::as_("second-counts"))
            .to_stream()
            .to("out", Produced::with(Serdes::string(), Serdes::i64()));
        let plan = plan(&b.build().unwrap(), "app", &counts(&[("a", 2), ("c", 5)])).unwrap();
        let parts: BTreeMap<&str, i32> = plan
            .internal_topics
            .iter()
            .map(|t| (t.name.as_str(), t.partitions))
            .collect();
        assert_eq!(
            parts,
            BTreeMap::from([
                ("app-first-counts-changelog", 5),
                ("app-first-repartition", 5),
                ("app-second-counts-changelog", 5),
                ("app-second-repartition", 5),
                ("app-shutdown-requests", 1),
            ])
        );
    }

    #[test]
    fn a_window_store_changelog_is_compacted_and_deleted_after_its_retention() {
        let b = StreamsBuilder::new();
        let windows = crate::window::TimeWindows::of_size_and_grace(
            std::time::Duration::from_secs(60),
            std::time::Duration::from_secs(300),
        )
        .unwrap();
        b.stream("views", Consumed::with(Serdes::string(), Serdes::string()))
            .group_by_key(Grouped::with(Serdes::string(), Serdes::string()))
            .windowed_by_time(windows)
            .count(Materialized::as_("per-minute"))
            .to_stream()
            .to(
                "out",
                Produced::with(
                    Serdes::time_windowed(Serdes::string(), 60_000),
                    Serdes::i64(),
                ),
            );
        let plan = plan(&b.build().unwrap(), "app", &counts(&[("views", 2)])).unwrap();
        assert_eq!(
            plan.internal_topics,
            vec![
                InternalTopic {
                    name: "app-per-minute-changelog".into(),
                    partitions: 2,
                    // The store keeps size + grace (360 s); the changelog one
                    // day more (windowstore.changelog.additional.retention.ms).
                    configs: vec![
                        ("cleanup.policy".into(), "compact,delete".into()),
                        ("message.timestamp.type".into(), "CreateTime".into()),
                        ("retention.ms".into(), "86760000".into()),
                    ],
                    kind: InternalKind::Changelog,
                },
                shutdown_requests(),
            ]
        );
    }

    #[test]
    fn the_topics_gate_lets_waiters_through_once_resolved() {
        use std::sync::Arc;
        assert!(TopicsGate::open().wait(Duration::ZERO).is_ok());
        for created in [true, false] {
            let gate = Arc::new(TopicsGate::pending());
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let g = gate.clone();
                    std::thread::spawn(move || g.wait(Duration::from_secs(30)))
                })
                .collect();
            std::thread::sleep(Duration::from_millis(20));
            gate.resolve(created);
            for w in waiters {
                let r = w.join().unwrap();
                assert_eq!(r.is_ok(), created, "{r:?}");
            }
            // Later waiters get the same answer at once.
            assert_eq!(gate.wait(Duration::ZERO).is_ok(), created);
        }
        let unresolved = TopicsGate::pending();
        let err = unresolved.wait(Duration::from_millis(10)).unwrap_err();
        assert!(
            err.to_string().contains("were not created within 10ms"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_source_topic_is_an_error() {
        let err = plan(&word_count(), "app", &counts(&[("out", 1)])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "source topic 'in' does not exist: create it before starting the application"
        );
    }

    #[test]
    fn join_inputs_must_have_the_same_partition_count() {
        let b = StreamsBuilder::new();
        let l = b.table(
            "l",
            Consumed::with(Serdes::string(), Serdes::string()),
            Materialized::none(),
        );
        let r = b.table(
            "r",
            Consumed::with(Serdes::string(), Serdes::string()),
            Materialized::none(),
        );
        l.join(&r, |a: &String, b: &String| format!("{a}{b}"))
            .to_stream()
            .to("out", Produced::with(Serdes::string(), Serdes::string()));
        let topology = b.build().unwrap();
        let err = plan(&topology, "app", &counts(&[("l", 2), ("r", 3)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("l (2 partitions); r (3 partitions)"), "{err}");
        assert!(plan(&topology, "app", &counts(&[("l", 3), ("r", 3)])).is_ok());
    }
}
